package ebpf

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Interface is an interface the programs are attached to.
type Interface struct {
	Index int
	Name  string
	Mode  AttachMode
	// LinkIDs are the kernel IDs of its TCX links (none in TC mode).
	LinkIDs []link.ID
}

// interfaces is the stage that follows the namespace's links through
// netlink events: it attaches the programs to matching interfaces as they
// appear and releases them as they go.
type interfaces struct {
	log    *zap.Logger
	ns     netns.NsHandle
	att    *attacher
	filter *regexp.Regexp

	mu       sync.Mutex
	attached map[int]*attachment
	released map[int]string // released since the last drain: names for its flows
	ready    atomic.Bool
}

func newInterfaces(log *zap.Logger, ns netns.NsHandle, att *attacher, filter *regexp.Regexp) *interfaces {
	return &interfaces{
		log:      log,
		ns:       ns,
		att:      att,
		filter:   filter,
		attached: map[int]*attachment{},
		released: map[int]string{},
	}
}

func (w *interfaces) match(l netlink.Link) bool {
	if w.filter != nil {
		return w.filter.MatchString(l.Attrs().Name)
	}
	return l.Type() == "veth"
}

// Run attaches to the interfaces present, then follows link events until
// ctx ends; it releases every interface before it returns.
func (w *interfaces) Run(ctx context.Context) error {
	defer w.releaseAll()
	for {
		started, err := w.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !started {
			return err
		}
		// The event socket failed (e.g. ENOBUFS: events were lost).
		// Subscribe again and reconcile with a fresh list.
		w.log.Warn("link events interrupted, resynchronising", zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// follow subscribes, reconciles and follows events; started says whether it
// got as far as following.
func (w *interfaces) follow(ctx context.Context) (started bool, _ error) {
	updates := make(chan netlink.LinkUpdate, 128)
	done := make(chan struct{})
	var subErr atomic.Value
	opts := netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) { subErr.CompareAndSwap(nil, err) },
	}
	if ns := w.ns; !isOwnNetns(ns) { // entering a namespace needs CAP_SYS_ADMIN
		opts.Namespace = &ns
	}
	err := netlink.LinkSubscribeWithOptions(updates, done, opts)
	if err != nil {
		return false, fmt.Errorf("subscribe to link events: %w", err)
	}
	defer func() {
		close(done)
		for range updates { // the subscription closes it once its socket is shut
		}
	}()
	// Listing after subscribing misses nothing: a link that appears
	// in between is both listed and announced, and attach is idempotent.
	if err := w.reconcile(); err != nil {
		return false, err
	}
	w.ready.Store(true)
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case u, ok := <-updates:
			if !ok {
				if err, _ := subErr.Load().(error); err != nil {
					return true, err
				}
				return true, errors.New("link event subscription ended")
			}
			if err := w.update(u); err != nil {
				return false, err
			}
		}
	}
}

// reconcile attaches to every matching link and releases what is gone.
func (w *interfaces) reconcile() error {
	links, err := w.att.nl.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	present := map[int]bool{}
	for _, l := range links {
		present[l.Attrs().Index] = true
		if err := w.consider(l); err != nil {
			return err
		}
	}
	w.mu.Lock()
	var gone []*attachment
	for idx, at := range w.attached {
		if !present[idx] {
			gone = append(gone, at)
		}
	}
	w.mu.Unlock()
	for _, at := range gone {
		w.drop(at, true)
	}
	return nil
}

func (w *interfaces) update(u netlink.LinkUpdate) error {
	switch u.Header.Type {
	case unix.RTM_NEWLINK:
		return w.consider(u.Link)
	case unix.RTM_DELLINK:
		w.mu.Lock()
		at := w.attached[u.Attrs().Index]
		w.mu.Unlock()
		if at != nil {
			w.drop(at, true)
		}
	}
	return nil
}

// consider attaches to l if it matches and is new, follows a rename, and
// releases an interface renamed out of the selection. It returns an error
// only when no interface can be attached: the kernel lacks the attach mode.
func (w *interfaces) consider(l netlink.Link) error {
	idx, name := l.Attrs().Index, l.Attrs().Name
	w.mu.Lock()
	at := w.attached[idx]
	w.mu.Unlock()
	if at != nil {
		if at.name == name {
			return nil
		}
		if w.match(l) {
			w.mu.Lock()
			at.name = name
			w.mu.Unlock()
			return nil
		}
		w.drop(at, false)
		return nil
	}
	if !w.match(l) {
		return nil
	}
	at, err := w.att.attach(idx, name)
	switch {
	case err == nil:
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENOENT):
		return nil // gone before we got to it
	case errors.Is(err, cebpf.ErrNotSupported):
		return &UnsupportedError{What: fmt.Sprintf("kernel cannot attach in %s mode", w.att.mode), Err: err}
	default:
		w.log.Error("attach failed", zap.String("interface", name), zap.Int("ifindex", idx), zap.Error(err))
		return nil
	}
	w.mu.Lock()
	w.attached[idx] = at
	w.mu.Unlock()
	w.log.Info("attached", zap.String("interface", name), zap.Int("ifindex", idx), zap.String("mode", string(at.mode)))
	return nil
}

func (w *interfaces) drop(at *attachment, gone bool) {
	w.mu.Lock()
	delete(w.attached, at.index)
	w.released[at.index] = at.name
	w.mu.Unlock()
	if err := w.att.release(at, gone); err != nil {
		w.log.Error("release failed", zap.String("interface", at.name), zap.Error(err))
		return
	}
	w.log.Info("released", zap.String("interface", at.name), zap.Int("ifindex", at.index), zap.Bool("deleted", gone))
}

func (w *interfaces) releaseAll() {
	w.mu.Lock()
	all := make([]*attachment, 0, len(w.attached))
	for _, at := range w.attached {
		all = append(all, at)
	}
	w.mu.Unlock()
	for _, at := range all {
		w.drop(at, false)
	}
	w.ready.Store(false)
}

// names maps the indexes of attached interfaces, and of those released
// since the previous call, to their names. The drainer calls it once per
// drain: a released interface's last flows still get its name.
func (w *interfaces) names() map[int]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := make(map[int]string, len(w.attached)+len(w.released))
	for idx, name := range w.released {
		m[idx] = name
	}
	for idx, at := range w.attached {
		m[idx] = at.name
	}
	clear(w.released)
	return m
}

func (w *interfaces) list() []Interface {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Interface, 0, len(w.attached))
	for _, at := range w.attached {
		out = append(out, Interface{Index: at.index, Name: at.name, Mode: at.mode, LinkIDs: at.linkIDs()})
	}
	slices.SortFunc(out, func(a, b Interface) int { return a.Index - b.Index })
	return out
}
