package ebpf

import (
	"errors"
	"fmt"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TC mode: where the cls_bpf filters go. Priority 1 runs them before
// filters that might redirect the packet away.
const (
	tcPriority = 1
	tcHandle   = 0xfa1
)

// attachment is what holds the programs on one interface.
type attachment struct {
	index int
	name  string
	mode  AttachMode
	links []link.Link          // TCX
	filts []*netlink.BpfFilter // TC
	qdisc netlink.Qdisc        // TC: the clsact qdisc, if this attachment created it
}

// attacher attaches the interface programs in one network namespace.
type attacher struct {
	ns      netns.NsHandle
	nl      *netlink.Handle
	mode    AttachMode // AttachTCX or AttachTC
	ingress *cebpf.Program
	egress  *cebpf.Program
}

func (a *attacher) attach(index int, name string) (*attachment, error) {
	at := &attachment{index: index, name: name, mode: a.mode}
	var err error
	if a.mode == AttachTCX {
		err = a.attachTCX(at)
	} else {
		err = a.attachTC(at)
	}
	if err != nil {
		// Undo what half-succeeded; the interface may be gone already.
		_ = a.release(at, false)
		return nil, err
	}
	return at, nil
}

func (a *attacher) attachTCX(at *attachment) error {
	// The kernel resolves the ifindex in the calling thread's namespace.
	return inNetns(a.ns, func() error {
		for _, h := range []struct {
			prog *cebpf.Program
			typ  cebpf.AttachType
		}{{a.ingress, cebpf.AttachTCXIngress}, {a.egress, cebpf.AttachTCXEgress}} {
			// First in the chain: see every packet before another program
			// redirects it away (what drops it, kfree_skb reports).
			l, err := link.AttachTCX(link.TCXOptions{Interface: at.index, Program: h.prog, Attach: h.typ, Anchor: link.Head()})
			if err != nil {
				return fmt.Errorf("attach TCX %s to %s: %w", h.typ, at.name, err)
			}
			at.links = append(at.links, l)
		}
		return nil
	})
}

func (a *attacher) attachTC(at *attachment) error {
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: at.index,
			Handle:    netlink.MakeHandle(0xffff, 0),
			Parent:    netlink.HANDLE_CLSACT,
		},
		QdiscType: "clsact",
	}
	switch err := a.nl.QdiscAdd(qdisc); {
	case err == nil:
		at.qdisc = qdisc
	case errors.Is(err, unix.EEXIST):
		// Someone else's clsact: share it, leave it in place at release.
	default:
		return fmt.Errorf("add clsact qdisc to %s: %w", at.name, err)
	}
	for _, h := range []struct {
		prog   *cebpf.Program
		parent uint32
		name   string
	}{{a.ingress, netlink.HANDLE_MIN_INGRESS, "auditor_ingress"}, {a.egress, netlink.HANDLE_MIN_EGRESS, "auditor_egress"}} {
		f := &netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{
				LinkIndex: at.index,
				Parent:    h.parent,
				Handle:    tcHandle,
				Protocol:  unix.ETH_P_ALL,
				Priority:  tcPriority,
			},
			Fd:           h.prog.FD(),
			Name:         h.name,
			DirectAction: true,
		}
		if err := a.nl.FilterAdd(f); err != nil {
			return fmt.Errorf("add cls_bpf filter %s to %s: %w", h.name, at.name, err)
		}
		at.filts = append(at.filts, f)
	}
	return nil
}

// release detaches the programs from the interface. gone says the interface
// no longer exists: the kernel removed its filters, only links remain to
// close.
func (a *attacher) release(at *attachment, gone bool) error {
	var errs []error
	for _, l := range at.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close TCX link on %s: %w", at.name, err))
		}
	}
	at.links = nil
	if !gone {
		for _, f := range at.filts {
			if err := a.nl.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("delete cls_bpf filter on %s: %w", at.name, err))
			}
		}
		if at.qdisc != nil {
			if err := a.nl.QdiscDel(at.qdisc); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("delete clsact qdisc on %s: %w", at.name, err))
			}
		}
	}
	at.filts, at.qdisc = nil, nil
	return errors.Join(errs...)
}

// linkIDs are the kernel IDs of the attachment's TCX links.
func (at *attachment) linkIDs() []link.ID {
	var ids []link.ID
	for _, l := range at.links {
		if info, err := l.Info(); err == nil {
			ids = append(ids, info.ID)
		}
	}
	return ids
}
