package correlate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ChangeHandler receives every change the live inventory observes, with the
// time it observed it. The IP index implements it through IndexHandler.
// Calls for one kind arrive in order; different kinds may arrive concurrently.
type ChangeHandler interface {
	Upsert(obj runtime.Object, at time.Time)
	Delete(obj runtime.Object, at time.Time)
}

// PodScope says which pods the live inventory watches.
type PodScope int

const (
	// PodsCluster watches every pod (trimmed to what resolution reads): a
	// flow's remote peer on another node still resolves to its pod, labels
	// and workload, which egress rules with pod selectors need.
	PodsCluster PodScope = iota
	// PodsNode watches only the pods on LiveConfig.NodeName (a field
	// selector on spec.nodeName), for clusters where every agent holding
	// every pod costs too much. Peers on other nodes then resolve only
	// through Services, EndpointSlices and node addresses: a remote pod
	// behind no Service stays unresolved.
	PodsNode
)

// LiveConfig configures a live inventory.
type LiveConfig struct {
	Client kubernetes.Interface
	// Handler, if set, is fed every change (the IP index).
	Handler ChangeHandler
	// OnResolvable, if set, is called after Handler with the addresses a
	// change made resolvable (a pod's IPs, a node's addresses, a service's
	// cluster IPs), so that flows parked unresolved can be resolved again.
	OnResolvable func(ips []netip.Addr, at time.Time)
	PodScope     PodScope
	NodeName     string
	// SkipWorkloads leaves out the controller informers (ReplicaSets,
	// Deployments, StatefulSets, DaemonSets, Jobs, CronJobs,
	// ReplicationControllers); workload
	// identity then comes from pods' owner references alone.
	SkipWorkloads bool
	Logger        *zap.Logger
	// Registerer, if set, receives the inventory's metrics.
	Registerer prometheus.Registerer
	// Now is the clock events are stamped with (time.Now if nil).
	Now func() time.Time
}

// Live is the inventory backed by client-go informers. It implements
// Inventory; until HasSynced reports true its objects are incomplete.
type Live struct {
	cfg       LiveConfig
	log       *zap.Logger
	metrics   *liveMetrics
	resources []*liveResource

	runOnce sync.Once
}

// NewLive builds the informers; Run starts them.
func NewLive(cfg LiveConfig) (*Live, error) {
	if cfg.Client == nil {
		return nil, errors.New("live inventory: no Kubernetes client")
	}
	if cfg.PodScope == PodsNode && cfg.NodeName == "" {
		return nil, errors.New("live inventory: pods scoped to the node but no node name")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newLiveMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("live inventory metrics: %w", err)
	}
	l := &Live{cfg: cfg, log: cfg.Logger, metrics: m}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(l.Collector()); err != nil {
			return nil, fmt.Errorf("live inventory metrics: %w", err)
		}
	}
	l.resources = l.buildResources()
	for _, r := range l.resources {
		if err := l.wire(r); err != nil {
			return nil, fmt.Errorf("live inventory %s informer: %w", r.name, err)
		}
	}
	return l, nil
}

// wire installs the transform, the error handler and the event handler.
func (l *Live) wire(r *liveResource) error {
	if err := r.informer.SetTransform(trimObject); err != nil {
		return err
	}
	if err := r.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		l.watchFailed(r, err)
	}); err != nil {
		return err
	}
	reg, err := r.informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			ro, ok := obj.(runtime.Object)
			if !ok {
				return
			}
			at := l.cfg.Now()
			if initial {
				// Listed at start: it has existed at least since its creation.
				at = creationTime(ro, at)
			}
			l.upsert(ro, at)
		},
		UpdateFunc: func(_, obj any) {
			if ro, ok := obj.(runtime.Object); ok {
				l.upsert(ro, l.cfg.Now())
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if ro, ok := obj.(runtime.Object); ok && l.cfg.Handler != nil {
				l.cfg.Handler.Delete(ro, l.cfg.Now())
			}
		},
	})
	if err != nil {
		return err
	}
	r.registration = reg
	return nil
}

func (l *Live) upsert(obj runtime.Object, at time.Time) {
	if l.cfg.Handler != nil {
		l.cfg.Handler.Upsert(obj, at)
	}
	if l.cfg.OnResolvable != nil {
		if ips := resolvableAddrs(obj); len(ips) > 0 {
			l.cfg.OnResolvable(ips, at)
		}
	}
}

// Run runs the informers until ctx ends. An API server that cannot be
// reached, or that forbids a resource, does not end it: the informers retry
// with backoff (up to 30 s apart), HasSynced stays false until they have
// listed, and Degraded says what is missing meanwhile.
func (l *Live) Run(ctx context.Context) error {
	started := false
	l.runOnce.Do(func() { started = true })
	if !started {
		return errors.New("live inventory: Run called twice")
	}
	var wg sync.WaitGroup
	for _, r := range l.resources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.informer.RunWithContext(ctx)
		}()
	}
	go l.reportSync(ctx)
	wg.Wait()
	return nil
}

// HasSynced reports whether every resource the inventory may read has been
// listed and its objects handed to the Handler. A resource that RBAC forbids
// does not hold readiness back: it is reported by Degraded instead.
func (l *Live) HasSynced() bool {
	for _, r := range l.resources {
		if !r.registration.HasSynced() && !r.forbidden() {
			return false
		}
	}
	return true
}

// WaitForSync blocks until HasSynced or ctx ends.
func (l *Live) WaitForSync(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !l.HasSynced() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the inventory to sync: %w (%s)", ctx.Err(), l.pendingSummary())
		case <-tick.C:
		}
	}
	return nil
}

// Degraded names the resources the inventory cannot currently read, with the
// last error for each.
func (l *Live) Degraded() map[string]error {
	out := map[string]error{}
	for _, r := range l.resources {
		if err := r.lastError(); err != nil {
			out[r.name] = err
		}
	}
	return out
}

func (l *Live) pendingSummary() string {
	var s string
	for _, r := range l.resources {
		if r.registration.HasSynced() {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += r.name
		if err := r.lastError(); err != nil {
			s += ": " + err.Error()
		}
	}
	return "not synced: " + s
}
