package suggest

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// Observer aggregates resolved flows into edges between workloads and
// addresses, and keeps every distinct flow for the replay. Feed it with Add,
// then call Suggest and Replay. Not safe for concurrent use.
type Observer struct {
	in       Input
	pods     map[podKey]*entity
	entities map[entityKey]*entity
	// byNS lists the workload entities of each namespace, for selectors.
	byNS    map[string][]*entity
	edges   map[edgeKey]*stats // forwarded flows: what the suggestion learns
	dropped map[edgeKey]*stats // dropped flows: never learned
	replay  map[replayKey]*replayItem
	dnsAddr map[netip.Addr]bool
	notes   map[noteKey]Note
	counts  Counts
	window  Window
}

// Counts says what happened to the flow records given to Add.
type Counts struct {
	// Records is every record given to Add.
	Records int `json:"records"`
	// BeforeWindow ended before --since's window.
	BeforeWindow int `json:"before_window"`
	// Elsewhere touched no pod of the namespace.
	Elsewhere int `json:"elsewhere"`
	// Touching touched the namespace inside the window; the rest are split
	// out of it.
	Touching int `json:"touching"`
	// Forwarded and Dropped split Touching by what the network did; only
	// forwarded flows are learned.
	Forwarded int `json:"forwarded"`
	Dropped   int `json:"dropped"`
	// Excluded are forwarded flows to the cloud metadata service, which are
	// not learned unless Input.AllowMetadata (they are not in Forwarded).
	Excluded int `json:"excluded"`
	// Replies were counted at the answering side and turned around.
	Replies int `json:"replies"`
	// Implicit flows need no rule: a pod to itself, a node to its own pods.
	Implicit int `json:"implicit"`
}

type podKey struct{ namespace, name string }

type peerKey struct {
	kind      policy.PeerKind
	namespace string
	name      string
	ip        netip.Addr
}

type replayKey struct {
	src, dst peerKey
	port     ProtoPort
	class    flowClass
}

// flowClass says what the suggestion must do with a flow.
type flowClass uint8

const (
	classLearned  flowClass = iota // forwarded: must be allowed
	classDropped                   // dropped by the network: never learned
	classExcluded                  // forwarded to the metadata service: not learned
)

// replayItem is one distinct flow (source, destination, protocol, port)
// with how many records observed it.
type replayItem struct {
	flow    policy.Flow
	key     replayKey
	edge    edgeKey
	records int
	class   flowClass
}

// NewObserver indexes the inventory. Workloads are keyed by namespace and
// "Kind/name"; their stable labels are the labels all their pods share.
func NewObserver(in Input) *Observer {
	o := &Observer{
		in:       in,
		pods:     make(map[podKey]*entity, len(in.Pods)),
		entities: make(map[entityKey]*entity),
		byNS:     make(map[string][]*entity),
		edges:    make(map[edgeKey]*stats),
		dropped:  make(map[edgeKey]*stats),
		replay:   make(map[replayKey]*replayItem),
		dnsAddr:  make(map[netip.Addr]bool, len(in.DNSAddresses)),
		notes:    make(map[noteKey]Note),
	}
	if o.in.External == "" {
		o.in.External = ExternalExact
	}
	for _, a := range in.DNSAddresses {
		o.dnsAddr[a.Unmap()] = true
	}
	// Sorted so that each workload's representative pod is its first by name.
	pods := slices.Clone(in.Pods)
	slices.SortFunc(pods, func(a, b PodIdentity) int {
		if c := cmp.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for i := range pods {
		p := &pods[i]
		if p.Peer == nil || p.HostNetwork {
			continue
		}
		key := entityKey{kind: entWorkload, namespace: p.Namespace, workload: p.Workload}
		e := o.entities[key]
		if e == nil {
			e = o.newEntity(key)
			e.stable = cloneLabels(p.StableLabels)
			e.rep = p.Peer
			e.bare = len(p.Workload) > 4 && p.Workload[:4] == "Pod/"
		} else {
			e.stable = intersectLabels(e.stable, p.StableLabels)
		}
		for k := range p.StableLabels {
			if e.anyKeys == nil {
				e.anyKeys = make(map[string]struct{})
			}
			e.anyKeys[k] = struct{}{}
		}
		e.pods++
		for _, pp := range p.ContainerPorts {
			e.ports[pp] = struct{}{}
		}
		o.pods[podKey{p.Namespace, p.Name}] = e
	}
	return o
}

func (o *Observer) newEntity(key entityKey) *entity {
	e := &entity{key: key, ports: make(map[ProtoPort]struct{})}
	o.entities[key] = e
	if key.kind == entWorkload {
		o.byNS[key.namespace] = append(o.byNS[key.namespace], e)
	}
	return e
}

// Add takes one resolved flow in its connection's direction (from the side
// that opened it): the record as correlation filled it in, and the flow the
// engine judges (after service translation). Flows outside the window or
// not touching the namespace are counted and dropped. first is false for
// the further destination candidates of one record (a Service with several
// backends), so that records are counted once.
func (o *Observer) Add(rec *flow.Record, f *policy.Flow, first bool) {
	o.add(rec, f, first, 1, nil)
}

// add is Add for a record that stands for n flows; ex, when set, names the
// example sides instead of the peers (workload observations name no pod).
func (o *Observer) add(rec *flow.Record, f *policy.Flow, first bool, n int, ex *example) {
	// c is what the record adds to the counts: its flows, once.
	c := 0
	if first {
		c = n
	}
	o.counts.Records += c
	if !o.in.From.IsZero() && rec.TimeLast.Before(o.in.From) {
		o.counts.BeforeWindow += c
		return
	}
	if f.Src == nil || f.Dst == nil {
		o.counts.Elsewhere += c
		return
	}
	srcEP, dstEP := &rec.Src, &rec.Dst
	fl := *f
	if fl.Protocol == policy.ProtocolICMP {
		fl.Port = 0
	}
	if !o.touches(srcEP, fl.Src) && !o.touches(dstEP, fl.Dst) {
		o.counts.Elsewhere += c
		return
	}
	o.counts.Touching += c
	if o.window.Start.IsZero() || rec.TimeFirst.Before(o.window.Start) {
		o.window.Start = rec.TimeFirst
	}
	if rec.TimeLast.After(o.window.End) {
		o.window.End = rec.TimeLast
	}
	src, dst := o.entityOf(srcEP, fl.Src), o.entityOf(dstEP, fl.Dst)
	pp := ProtoPort{Protocol: fl.Protocol, Port: fl.Port}
	ek := edgeKey{src: src, dst: dst, port: pp}
	class := classLearned
	switch {
	case rec.Observed == flow.Dropped:
		class = classDropped
	case !o.in.AllowMetadata && fl.Dst.Kind != policy.Pod && isMetadata(fl.Dst.IP):
		class = classExcluded
		o.note(NoteMetadata, src.name(), "flows to the cloud metadata service "+fl.Dst.IP.String()+" were not learned: allow them with --allow-metadata if they are meant")
	}
	dropped := class != classLearned

	rk := replayKey{src: keyOf(fl.Src), dst: keyOf(fl.Dst), port: pp, class: class}
	item := o.replay[rk]
	if item == nil {
		// The peers are copied: a resolver may hand out peers it reuses.
		sp, dp := *fl.Src, *fl.Dst
		item = &replayItem{flow: fl, key: rk, edge: ek, class: class}
		item.flow.Src, item.flow.Dst = &sp, &dp
		o.replay[rk] = item
	}
	item.records += n

	edges := o.edges
	if dropped {
		if class == classDropped {
			o.counts.Dropped += c
		} else {
			o.counts.Excluded += c
		}
		edges = o.dropped
	} else {
		o.counts.Forwarded += c
		if implicitlyAllowed(&fl) {
			o.counts.Implicit += c
			return
		}
	}
	st := edges[ek]
	if st == nil {
		st = &stats{}
		edges[ek] = st
	}
	st.add(rec.TimeFirst, rec.TimeLast, n)
	if ex == nil {
		ex = &example{src: sideOf(srcEP, fl.Src), dst: sideOf(dstEP, fl.Dst)}
	}
	st.offerExample(*ex)
	if rec.ICMPType != nil && fl.Protocol == policy.ProtocolICMP {
		fam := "IPv4"
		if rec.Protocol == flow.ICMPv6 {
			fam = "IPv6"
		}
		st.addICMP(ICMP{Family: fam, Type: *rec.ICMPType})
	}
	if dropped {
		return
	}
	if namable(pp) {
		dst.ports[pp] = struct{}{}
	}
	if dstEP.FQDN != "" && dst.key.kind != entWorkload {
		if dst.fqdns == nil {
			dst.fqdns = make(map[string]struct{})
		}
		dst.fqdns[dstEP.FQDN] = struct{}{}
	}
}

func keyOf(p *policy.Peer) peerKey {
	return peerKey{kind: p.Kind, namespace: p.Namespace, name: p.Name, ip: p.IP}
}

// implicitlyAllowed mirrors the engine's fixed allowances: no rule is
// written for them.
func implicitlyAllowed(f *policy.Flow) bool {
	s, d := f.Src, f.Dst
	if s.Kind == policy.Pod && d.Kind == policy.Pod && s.Namespace == d.Namespace && s.Name == d.Name {
		return true
	}
	return s.Kind == policy.Node && d.Kind == policy.Pod && s.NodeName != "" && s.NodeName == d.NodeName
}

// touches reports whether an endpoint is a pod of the namespace (a pod
// gone from the inventory or on the host network included).
func (o *Observer) touches(ep *flow.Endpoint, p *policy.Peer) bool {
	if p.Kind == policy.Pod {
		return p.Namespace == o.in.Namespace
	}
	return ep.Pod != "" && ep.Namespace == o.in.Namespace
}

// entityOf maps one side of a flow to the entity its rules name.
func (o *Observer) entityOf(ep *flow.Endpoint, p *policy.Peer) *entity {
	switch p.Kind {
	case policy.Pod:
		if e := o.pods[podKey{p.Namespace, p.Name}]; e != nil {
			return e
		}
		return o.gonePod(ep, p)
	case policy.Node:
		e := o.address(entNode, p.IP)
		if e.nodeName == "" {
			e.nodeName = p.NodeName
		}
		if ep.Pod != "" {
			if e.hostPods == nil {
				e.hostPods = make(map[string]struct{})
			}
			e.hostPods[ep.Namespace+"/"+ep.Pod] = struct{}{}
		}
		return e
	default:
		e := o.address(entExternal, p.IP)
		if ep.Pod != "" {
			if e.namedPods == nil {
				e.namedPods = make(map[string]struct{})
			}
			e.namedPods[ep.Namespace+"/"+ep.Pod] = struct{}{}
		}
		return e
	}
}

func (o *Observer) address(kind entityKind, ip netip.Addr) *entity {
	key := entityKey{kind: kind, ip: ip.Unmap()}
	if e := o.entities[key]; e != nil {
		return e
	}
	e := o.newEntity(key)
	return e
}

// gonePod handles a pod the engine knows (correlation kept it for a grace
// window) but the inventory no longer lists: its workload is taken from the
// flow, its selector from the labels the flow recorded.
func (o *Observer) gonePod(ep *flow.Endpoint, p *policy.Peer) *entity {
	wl := ep.Workload
	if wl == "" {
		wl = "Pod/" + p.Name
	}
	key := entityKey{kind: entWorkload, namespace: p.Namespace, workload: wl}
	e := o.entities[key]
	if e == nil {
		e = o.newEntity(key)
		rep := *p // the caller may reuse p
		e.rep = &rep
		e.bare = ep.Workload == ""
		if o.in.StableLabels != nil {
			e.stable = o.in.StableLabels(p.Labels)
		} else {
			e.stable = cloneLabels(p.Labels)
		}
	}
	o.pods[podKey{p.Namespace, p.Name}] = e
	return e
}

func cloneLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// intersectLabels keeps the labels both sets carry with the same value.
func intersectLabels(have, next map[string]string) map[string]string {
	for k, v := range have {
		if w, ok := next[k]; !ok || w != v {
			delete(have, k)
		}
	}
	return have
}

// Window returns the time range of the flows that touched the namespace.
func (o *Observer) Window() Window { return o.window }

// Counts returns what happened to the records given so far.
func (o *Observer) Counts() Counts { return o.counts }
