package agent

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/pipeline"
	"github.com/flow-auditor/flow-auditor/policy"
)

// compilePolicies builds the engine and the ipBlock index from objs.
func compilePolicies(objs correlate.Objects) (*pipeline.Policies, error) {
	e, err := policy.New(objs.NetworkPolicies, objs.Namespaces)
	if err != nil {
		return nil, err
	}
	return &pipeline.Policies{Engine: e, Blocks: anomaly.NewBlocks(objs.NetworkPolicies)}, nil
}

// inventory is where resolution and policies come from.
type inventory struct {
	index    *correlate.Index
	policies atomic.Pointer[pipeline.Policies]
	// synced reports whether the caches hold the cluster (always, for a
	// snapshot).
	synced func() bool
	// run keeps a live inventory up to date until ctx ends (nil for a
	// snapshot).
	run func(ctx context.Context) error
}

// snapshotInventory loads snapshot files once.
func snapshotInventory(paths []string) (*inventory, error) {
	snap, err := correlate.LoadSnapshot(paths...)
	if err != nil {
		return nil, err
	}
	objs := snap.Objects()
	sharePodParts(objs.Pods) // the index keeps every pod
	// Decoding left garbage several times the objects' size: collect it
	// before the index is built next to them, and again after.
	releaseLoadGarbage()
	inv := &inventory{index: correlate.BuildIndex(objs, correlate.IndexOptions{}), synced: func() bool { return true }}
	p, err := compilePolicies(objs)
	if err != nil {
		return nil, fmt.Errorf("snapshot policies: %w", err)
	}
	inv.policies.Store(p)
	releaseLoadGarbage()
	return inv, nil
}

// releaseLoadGarbage collects what loading the inventory left and returns
// it to the system, at start only: decoding a cluster's objects allocates
// several times what the index keeps, and without this the runtime would
// size the heap, and keep it resident, for that peak rather than for what
// the flows need.
func releaseLoadGarbage() { debug.FreeOSMemory() }

// liveInventory follows the cluster through informers. Policies are
// compiled again, at most once per recompileEvery, after a NetworkPolicy or
// Namespace changes; a set that fails to compile keeps the previous one.
func liveInventory(client kubernetes.Interface, c *Config, reg prometheus.Registerer, log *zap.Logger) (*inventory, error) {
	ix := correlate.NewIndex(correlate.IndexOptions{})
	inv := &inventory{index: ix}
	changed := make(chan struct{}, 1)
	scope := correlate.PodsCluster
	if c.PodScope == "node" {
		scope = correlate.PodsNode
	}
	live, err := correlate.NewLive(correlate.LiveConfig{
		Client:     client,
		Handler:    policyWatch{next: correlate.IndexHandler(ix), changed: changed},
		PodScope:   scope,
		NodeName:   c.NodeName,
		Logger:     log,
		Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	// Nothing is denied before the policies are known: an empty engine.
	empty, err := compilePolicies(correlate.Objects{})
	if err != nil {
		return nil, err
	}
	inv.policies.Store(empty)
	// Synced means the caches are, and the policies compiled from them.
	var compiled atomic.Bool
	inv.synced = func() bool { return compiled.Load() && live.HasSynced() }
	inv.run = func(ctx context.Context) error {
		done := make(chan error, 1)
		go func() { done <- live.Run(ctx) }()
		recompile := func() {
			objs := live.Objects()
			p, err := compilePolicies(objs)
			if err != nil {
				log.Error("cannot compile the cluster's NetworkPolicies; keeping the previous set", zap.Error(err))
				return
			}
			inv.policies.Store(p)
			log.Debug("policies compiled", zap.Int("policies", len(objs.NetworkPolicies)))
		}
		if err := live.WaitForSync(ctx); err == nil {
			recompile()
			compiled.Store(true)
			releaseLoadGarbage()
		}
		tick := time.NewTicker(recompileEvery)
		defer tick.Stop()
		pending := false
		for {
			select {
			case <-ctx.Done():
				return errors.Join(<-done)
			case <-changed:
				pending = true
			case <-tick.C:
				if pending && live.HasSynced() {
					pending = false
					recompile()
				}
			}
		}
	}
	return inv, nil
}

// recompileEvery bounds how often a churning cluster recompiles policies.
const recompileEvery = time.Second

// policyWatch passes every change to the index and signals when policies
// or namespace labels (which namespaceSelectors read) change.
type policyWatch struct {
	next    correlate.ChangeHandler
	changed chan struct{}
}

func (w policyWatch) Upsert(obj runtime.Object, at time.Time) {
	w.next.Upsert(obj, at)
	w.signal(obj)
}

func (w policyWatch) Delete(obj runtime.Object, at time.Time) {
	w.next.Delete(obj, at)
	w.signal(obj)
}

func (w policyWatch) signal(obj runtime.Object) {
	switch obj.(type) {
	case *networkingv1.NetworkPolicy, *corev1.Namespace:
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
}
