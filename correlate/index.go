package correlate

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// DefaultGrace is how long an address freed by a deleted pod (or node, or
// Service) keeps resolving to it, so that flows reported late are not
// misattributed.
const DefaultGrace = 2 * time.Minute

// IndexOptions configure an Index.
type IndexOptions struct {
	// Grace is how long a freed address keeps resolving to its last owner.
	// Zero means DefaultGrace; a negative value turns the window off.
	Grace time.Duration
}

// Index resolves addresses seen on the wire to cluster objects: pod IPs
// (both families), node addresses (and hostNetwork pods as their node),
// Service ClusterIPs with their backends, and pods by namespace/name.
//
// It is built from Objects (BuildIndex) or kept up to date by informer
// events (the Upsert and Delete methods, which take the event's time). Every
// address keeps a short history of who held it, so a lookup takes the
// flow's start time: an address freed by a deleted pod resolves to that pod
// for the grace window, and an address reused by a new pod resolves to the
// new pod for flows that start after it appeared.
//
// It is safe for concurrent use. Writers serialise; readers take no lock
// and never allocate: they read immutable shards that writers replace.
type Index struct {
	grace int64 // nanoseconds, >= 0

	// The read side: lock-free.
	ips     table[netip.Addr]
	names   table[objKey]
	latest  atomic.Int64 // newest event time written, noTime before any
	version atomic.Uint64

	// The write side, under mu.
	mu      sync.RWMutex
	ipTxn   txn[netip.Addr]
	nameTxn txn[objKey]
	// ended* are the keys holding claims that prune will drop once their
	// grace window has passed.
	endedIPs   map[netip.Addr]struct{}
	endedNames map[objKey]struct{}
	lastPrune  int64
	bulk       bool // BuildIndex: services are computed once, at the end

	pods        map[objKey]*podState
	podsByNS    map[string]map[string]*podState
	nodes       map[string]*nodeState
	services    map[objKey]*serviceState
	slices      map[objKey]*discoveryv1.EndpointSlice
	slicesBySvc map[objKey]map[string]*discoveryv1.EndpointSlice
	// selectorSvcs are, per namespace, the Services whose backends come
	// from their selector (no EndpointSlice yet): pod changes rebuild them.
	selectorSvcs map[string]map[objKey]struct{}
	namespaces   map[string]map[string]string
	owners       Owners
	// podsByCtrl are the pods by the controller their ownerReferences
	// name; ownerChildren the controllers by the one that owns them.
	podsByCtrl    map[ownerKey]map[objKey]*podState
	ownerChildren map[ownerKey]map[ownerKey]struct{}
}

type objKey struct{ namespace, name string }

// noTime stands for "no timeline": claims made from a snapshot hold from
// the beginning of time, and a write without a time is at that beginning.
const (
	noTime  = math.MinInt64
	forever = math.MaxInt64
)

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

// NewIndex returns an empty index for incremental updates.
func NewIndex(opts IndexOptions) *Index {
	grace := opts.Grace
	switch {
	case grace == 0:
		grace = DefaultGrace
	case grace < 0:
		grace = 0
	}
	ix := &Index{
		grace:         int64(grace),
		endedIPs:      make(map[netip.Addr]struct{}),
		endedNames:    make(map[objKey]struct{}),
		lastPrune:     noTime,
		pods:          make(map[objKey]*podState),
		podsByNS:      make(map[string]map[string]*podState),
		nodes:         make(map[string]*nodeState),
		services:      make(map[objKey]*serviceState),
		slices:        make(map[objKey]*discoveryv1.EndpointSlice),
		slicesBySvc:   make(map[objKey]map[string]*discoveryv1.EndpointSlice),
		selectorSvcs:  make(map[string]map[objKey]struct{}),
		namespaces:    make(map[string]map[string]string),
		podsByCtrl:    make(map[ownerKey]map[objKey]*podState),
		ownerChildren: make(map[ownerKey]map[ownerKey]struct{}),
	}
	ix.ipTxn.t, ix.nameTxn.t = &ix.ips, &ix.names
	ix.latest.Store(noTime)
	return ix
}

// BuildIndex indexes a consistent set of objects, such as a snapshot, with
// no timeline: each pod holds its addresses from its creationTimestamp (and
// before, when nobody else held them), nodes and Services for all time. A
// pod that has Succeeded or Failed keeps its addresses only where no running
// pod holds them.
func BuildIndex(objs Objects, opts IndexOptions) *Index {
	ix := NewIndex(opts)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.bulk = true
	for _, ns := range objs.Namespaces {
		ix.upsertNamespaceLocked(ns)
	}
	for i := range objs.Owners {
		ix.addOwnerLocked(objs.Owners[i])
	}
	for _, n := range objs.Nodes {
		ix.upsertNodeLocked(n, noTime)
	}
	for _, p := range objs.Pods {
		ix.upsertPodLocked(p, noTime, true)
	}
	for _, s := range objs.EndpointSlices {
		ix.upsertSliceLocked(s, noTime)
	}
	for _, s := range objs.Services {
		ix.upsertServiceLocked(s, noTime)
	}
	ix.bulk = false
	for key := range ix.services {
		ix.rebuildServiceLocked(key, noTime)
	}
	ix.commitLocked()
	return ix
}

// begin starts a write at event time at: it records the time, prunes now
// and then (so that a busy index stays small without a timer), and returns
// the time in the index's clock. commitLocked publishes the write.
func (ix *Index) begin(at time.Time) int64 {
	ix.mu.Lock()
	n := nanos(at)
	if n > ix.latest.Load() {
		ix.latest.Store(n)
	}
	if n != noTime && (ix.lastPrune == noTime || n-ix.lastPrune >= ix.grace/2+int64(time.Second)) {
		ix.pruneLocked(n)
	}
	return n
}

// end publishes a write and releases the lock.
func (ix *Index) end() {
	ix.commitLocked()
	ix.mu.Unlock()
}

func (ix *Index) commitLocked() {
	ix.ipTxn.commit()
	ix.nameTxn.commit()
	ix.version.Add(1)
}

// Version increases with every change; a caller holding flows that resolved
// to nothing can retry them when it moves.
func (ix *Index) Version() uint64 { return ix.version.Load() }

// readTime turns a lookup's time into the index's clock: a zero time means
// "now", the newest event written (or the end of time for a snapshot).
func (ix *Index) readTime(at time.Time) int64 {
	if !at.IsZero() {
		return at.UnixNano()
	}
	if l := ix.latest.Load(); l != noTime {
		return l
	}
	return forever - 1
}

// Resolve returns what ip was at time at (a flow's start time; zero means
// now), or nil when it is no cluster address: external. IPv4-mapped IPv6
// addresses resolve as IPv4. It takes no lock and does not allocate.
func (ix *Index) Resolve(ip netip.Addr, at time.Time) *Target {
	ip = ip.Unmap()
	sp := always()
	return ix.ips.resolve(ip, addrShard(ip), ix.readTime(at), &sp)
}

func (ix *Index) resolveAt(ip netip.Addr, t int64, sp *Span) *Target {
	return ix.ips.resolve(ip, addrShard(ip), t, sp)
}

// ResolveName returns the pod namespace/name at time at, for flows that name
// a pod but carry no address, or nil. Its target holds the pod's primary
// address (none while the pod has none); a hostNetwork pod is Kind node.
func (ix *Index) ResolveName(namespace, name string, at time.Time) *Target {
	sp := always()
	return ix.resolveNameAt(namespace, name, ix.readTime(at), &sp)
}

func (ix *Index) resolveNameAt(namespace, name string, t int64, sp *Span) *Target {
	k := objKey{namespace, name}
	return ix.names.resolve(k, nameShard(k), t, sp)
}

// NamespaceLabels returns a namespace's labels (shared: do not modify).
func (ix *Index) NamespaceLabels(name string) map[string]string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.namespaces[name]
}

// IndexStats counts what an index holds.
type IndexStats struct {
	Pods, Nodes, Services, EndpointSlices, Namespaces, Owners int
	// Addresses and Names count the keys with at least one claim, including
	// those held for the grace window.
	Addresses, Names int
}

// Stats counts what the index holds.
func (ix *Index) Stats() IndexStats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return IndexStats{
		Pods: len(ix.pods), Nodes: len(ix.nodes), Services: len(ix.services),
		EndpointSlices: len(ix.slices), Namespaces: len(ix.namespaces), Owners: len(ix.owners.m),
		Addresses: ix.ips.len(), Names: ix.names.len(),
	}
}

// Prune forgets claims whose grace window ended before now. Writes prune as
// they go; an idle index needs a call now and then to free memory.
func (ix *Index) Prune(now time.Time) {
	ix.begin(now)
	defer ix.end()
	ix.pruneLocked(nanos(now))
}

func (ix *Index) pruneLocked(now int64) {
	prune(&ix.ipTxn, ix.endedIPs, addrShard, now)
	prune(&ix.nameTxn, ix.endedNames, nameShard, now)
	ix.lastPrune = now
}

// podState is what the index remembers of a pod.
type podState struct {
	pod      *corev1.Pod
	owner    *claimOwner
	ctrl     ownerKey     // the controller its ownerReferences name, if any
	ips      []netip.Addr // addresses it holds claims on
	snapshot bool         // indexed by BuildIndex: no timeline
}

type nodeState struct {
	node  *corev1.Node
	owner *claimOwner
	ips   []netip.Addr
}

type serviceState struct {
	svc   *corev1.Service
	owner *claimOwner
	ips   []netip.Addr
}
