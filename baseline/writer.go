package baseline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
)

// DefaultInterval is how often changed profiles are written.
const DefaultInterval = time.Minute

// Writer keeps a Store's profiles in the cluster: it reads every agent's
// objects back into the store (Sync) and writes the changed profiles with
// server-side apply at most once per Interval (Flush), each object owned by
// its Node so that the garbage collector removes a deleted node's objects.
type Writer struct {
	Store  *Store
	Client dynamic.Interface
	// Interval between writes (default DefaultInterval). Other agents'
	// objects are read back every SyncEvery writes (default 5).
	Interval  time.Duration
	SyncEvery int
	Log       *zap.Logger
	// OnWrite, if set, is told the result of every object write.
	OnWrite func(error)

	synced   bool // Sync succeeded once
	nodeUIDs map[string]types.UID
	// applied remembers the spec labels last applied per object, so that the
	// metadata and spec are applied again only when they change.
	applied map[string]map[string]string
}

// Run syncs once, then flushes every Interval until ctx ends. It does not
// flush at the end: the agent calls Flush after draining the pipeline.
func (w *Writer) Run(ctx context.Context) error {
	w.init()
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	every := w.SyncEvery
	if every <= 0 {
		every = 5
	}
	synced := w.synced || w.sync(ctx)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := w.Flush(ctx); err != nil && ctx.Err() == nil {
			w.Log.Warn("baseline write failed", zap.Error(err))
		}
		if !synced || n%every == 0 {
			synced = w.sync(ctx)
		}
	}
}

func (w *Writer) init() {
	if w.Log == nil {
		w.Log = zap.NewNop()
	}
	if w.nodeUIDs == nil {
		w.nodeUIDs = make(map[string]types.UID)
	}
	if w.applied == nil {
		w.applied = make(map[string]map[string]string)
	}
}

// sync reads every agent's objects into the store; false when it failed.
func (w *Writer) sync(ctx context.Context) bool {
	if err := w.Sync(ctx); err != nil {
		if ctx.Err() == nil {
			w.Log.Warn("baseline read failed; retrying next interval", zap.Error(err))
		}
		return false
	}
	return true
}

// Sync reads every ObservedTraffic object into the store (Store.Merge).
func (w *Writer) Sync(ctx context.Context) error {
	objs, err := List(ctx, w.Client, "")
	if err != nil {
		return err
	}
	w.Store.Merge(objs)
	w.synced = true
	// A node deleted and created again has a new UID: look it up afresh.
	clear(w.nodeUIDs)
	return nil
}

// Flush writes every changed profile now. A profile whose write fails stays
// changed and is retried by the next Flush.
func (w *Writer) Flush(ctx context.Context) error {
	w.init()
	var errs []error
	for _, o := range w.Store.Changed() {
		err := w.write(ctx, o)
		if w.OnWrite != nil {
			w.OnWrite(err)
		}
		if err != nil {
			w.Store.MarkChanged(o)
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

func (w *Writer) write(ctx context.Context, o *v1alpha1.ObservedTraffic) error {
	uid, ok := w.nodeUIDs[o.Spec.Node]
	if !ok {
		s, err := nodeUID(ctx, w.Client, o.Spec.Node)
		if err != nil {
			return fmt.Errorf("owner of %s/%s: %w", o.Namespace, o.Name, err)
		}
		uid = types.UID(s)
		w.nodeUIDs[o.Spec.Node] = uid
	}
	o.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Node", Name: o.Spec.Node, UID: uid,
	}}
	key := o.Namespace + "/" + o.Name
	prev, seen := w.applied[key]
	withMeta := !seen || !maps.Equal(prev, o.Spec.Labels)
	err := applyObject(ctx, w.Client, o, withMeta)
	if !withMeta && apierrors.IsNotFound(err) {
		// Deleted behind our back (by a user, or collected with a node of
		// the same name): create it again, with a fresh owner.
		delete(w.nodeUIDs, o.Spec.Node)
		delete(w.applied, key)
		return w.write(ctx, o)
	}
	if err != nil {
		return err
	}
	w.applied[key] = o.Spec.Labels
	return nil
}
