package main

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/enrich"
	"github.com/flow-auditor/flow-auditor/flow"
)

// counter counts the flows one worker judged. A million flows can hold
// hundreds of thousands of distinct denied edges, so edges are keyed by
// small integers: the maps stay free of pointers (the collector skips
// them) and cheap to hash. Names are rendered once, in into.
type counter struct {
	auditStats // the plain counts; byNS stays unused here
	// perNamespace: count per namespace and denied edge too (the table and
	// -o json show them; jsonl needs only the totals).
	perNamespace bool
	byNS         map[string]*nsCounts
	// pending are denied edges not yet in their namespace's map: appending
	// and sorting a run of them costs far less than a map insert each.
	pending []pendingEdge
	nsList  []*nsCounts

	ends     []edgeEnd
	byTarget map[*correlate.Target]uint32
	byEnd    map[edgeEnd]uint32
	services []string
	bySvc    map[string]uint32
}

type nsCounts struct {
	id                     uint32
	flows, allowed, denied int
	edges                  map[edgeKey]int
}

// pendingEdge is one denied flow's edge in one namespace (an index into
// the counter's nsList).
type pendingEdge struct {
	ns uint32
	edgeKey
}

// maxPending bounds the edges held before they are folded into the maps.
const maxPending = 1 << 18

// edgeKey is one denied edge: ends and service are indexes into the
// counter's tables.
type edgeKey struct {
	src, dst, service uint32
	port              uint16
	proto             uint8
	violation         uint8
	deniedBy          uint8
}

// edgeEnd identifies an endpoint by workload: the pods of one workload are
// one end; a bare pod, a node or an address is its own.
type edgeEnd struct {
	kind                           flow.Kind
	namespace, workload, pod, node string
	ip                             netip.Addr
	fqdn                           string
}

func newCounter(perNamespace bool) *counter {
	return &counter{
		perNamespace: perNamespace,
		byNS:         make(map[string]*nsCounts),
		byTarget:     make(map[*correlate.Target]uint32),
		byEnd:        make(map[edgeEnd]uint32),
		services:     []string{""},
		bySvc:        map[string]uint32{"": 0},
	}
}

var protocols = [...]flow.Protocol{"", flow.TCP, flow.UDP, flow.SCTP, flow.ICMPv4, flow.ICMPv6}

func protoIndex(p flow.Protocol) uint8 {
	for i, s := range protocols {
		if s == p {
			return uint8(i)
		}
	}
	return 0
}

var violations = [...]string{"", enrich.WouldDeny, enrich.Denied, anomaly.ViolationKind}

func violationIndex(v string) uint8 {
	for i, s := range violations {
		if s == v {
			return uint8(i)
		}
	}
	return 0
}

var deniedBys = [...]string{"", "egress", "ingress", "egress+ingress"}

func deniedByIndex(rec *flow.Record) uint8 {
	var i uint8
	if rec.Egress == "deny" {
		i |= 1
	}
	if rec.Ingress == "deny" {
		i |= 2
	}
	return i
}

// add counts rec, judged, oriented as its connection (for a reply, src is
// the record's destination). srcT and dstT are the targets the ends
// resolved to, nil when external.
func (c *counter) add(rec *flow.Record, j judged) { c.addN(rec, j, 1) }

// addN is add for a record that stands for n flows (a baseline entry).
func (c *counter) addN(rec *flow.Record, j judged, n int) {
	src, dst := &rec.Src, &rec.Dst
	if j.reply {
		src, dst = dst, src
	}
	c.Flows += n
	deny := rec.Verdict == "deny"
	if deny {
		c.Denied += n
	} else {
		c.Allowed += n
	}
	switch rec.Violation {
	case enrich.WouldDeny:
		c.WouldDeny += n
	case enrich.Denied:
		c.DeniedViolation += n
	case anomaly.ViolationKind:
		c.Anomalous += n
	}
	if !c.perNamespace {
		return
	}
	var key edgeKey
	if deny {
		key = edgeKey{src: c.end(src, j.srcT), dst: c.end(dst, j.dstT), service: c.service(dst.Service), port: dst.Port,
			proto: protoIndex(rec.Protocol), violation: violationIndex(rec.Violation), deniedBy: deniedByIndex(rec)}
	}
	// A flow counts in the namespace of each end; one between non-pods in
	// the no-namespace section.
	switch {
	case src.Namespace == "" && dst.Namespace == "":
		c.addNS(noNamespace, deny, &key, n)
	case src.Namespace == dst.Namespace || dst.Namespace == "":
		c.addNS(src.Namespace, deny, &key, n)
	case src.Namespace == "":
		c.addNS(dst.Namespace, deny, &key, n)
	default:
		c.addNS(src.Namespace, deny, &key, n)
		c.addNS(dst.Namespace, deny, &key, n)
	}
}

func (c *counter) addNS(ns string, deny bool, key *edgeKey, flows int) {
	n := c.byNS[ns]
	if n == nil {
		n = &nsCounts{id: uint32(len(c.nsList)), edges: make(map[edgeKey]int)}
		c.byNS[ns] = n
		c.nsList = append(c.nsList, n)
	}
	n.flows += flows
	if !deny {
		n.allowed += flows
		return
	}
	n.denied += flows
	if flows != 1 {
		n.edges[*key] += flows // rare (baseline entries): straight to the map
		return
	}
	c.pending = append(c.pending, pendingEdge{n.id, *key})
	if len(c.pending) >= maxPending {
		c.fold()
	}
}

// fold adds the pending edges to their namespaces' maps: sorted, each run
// of equal edges is one map update.
func (c *counter) fold() {
	p := c.pending
	slices.SortFunc(p, func(a, b pendingEdge) int {
		return cmp.Or(cmp.Compare(a.ns, b.ns),
			cmp.Compare(a.src, b.src), cmp.Compare(a.dst, b.dst), cmp.Compare(a.port, b.port),
			cmp.Compare(a.service, b.service), cmp.Compare(a.proto, b.proto),
			cmp.Compare(a.violation, b.violation), cmp.Compare(a.deniedBy, b.deniedBy))
	})
	for i := 0; i < len(p); {
		j := i + 1
		for j < len(p) && p[j] == p[i] {
			j++
		}
		c.nsList[p[i].ns].edges[p[i].edgeKey] += j - i
		i = j
	}
	c.pending = p[:0]
}

// end returns the index of e's edge end. A resolved pod or node is looked
// up by its target (a pointer: cheap), anything else by value.
func (c *counter) end(e *flow.Endpoint, t *correlate.Target) uint32 {
	if t != nil && (e.Kind == flow.KindPod || e.Kind == flow.KindNode) {
		if id, ok := c.byTarget[t]; ok {
			return id
		}
		id := c.endByValue(endOf(e))
		c.byTarget[t] = id
		return id
	}
	return c.endByValue(endOf(e))
}

func (c *counter) endByValue(v edgeEnd) uint32 {
	if id, ok := c.byEnd[v]; ok {
		return id
	}
	id := uint32(len(c.ends))
	c.ends = append(c.ends, v)
	c.byEnd[v] = id
	return id
}

func (c *counter) service(s string) uint32 {
	if id, ok := c.bySvc[s]; ok {
		return id
	}
	id := uint32(len(c.services))
	c.services = append(c.services, s)
	c.bySvc[s] = id
	return id
}

func endOf(e *flow.Endpoint) edgeEnd {
	switch {
	case e.Kind == flow.KindPod && e.Workload != "":
		return edgeEnd{kind: e.Kind, namespace: e.Namespace, workload: e.Workload}
	case e.Kind == flow.KindPod && e.Pod != "":
		return edgeEnd{kind: e.Kind, namespace: e.Namespace, pod: e.Pod}
	case e.Kind == flow.KindNode && e.Node != "":
		return edgeEnd{kind: e.Kind, node: e.Node}
	}
	return edgeEnd{kind: e.Kind, ip: e.IP, fqdn: e.FQDN}
}

// name renders an edge end: "namespace/Kind/name" for a pod of a
// workload, "namespace/pod/name" for a bare one, "node/name" for a node, the
// address (and DNS name) for anything else.
func (e *edgeEnd) name() string {
	switch {
	case e.workload != "":
		return e.namespace + "/" + e.workload
	case e.pod != "":
		return e.namespace + "/pod/" + e.pod
	case e.node != "":
		return "node/" + e.node
	}
	name := "external " + e.ip.String()
	if e.kind == flow.KindNode {
		name = "node " + e.ip.String()
	}
	if e.fqdn != "" {
		name += " (" + e.fqdn + ")"
	}
	return name
}

func portName(proto flow.Protocol, port uint16) string {
	switch proto {
	case flow.ICMPv4, flow.ICMPv6:
		return string(proto)
	}
	return string(proto) + "/" + strconv.Itoa(int(port))
}

// into adds the counter's counts to total, naming its edges.
func (c *counter) into(total *auditStats) {
	c.fold()
	total.Flows += c.Flows
	total.Allowed += c.Allowed
	total.Denied += c.Denied
	total.WouldDeny += c.WouldDeny
	total.DeniedViolation += c.DeniedViolation
	total.Anomalous += c.Anomalous
	total.Outside += c.Outside
	names := make([]string, len(c.ends))
	for i := range c.ends {
		names[i] = c.ends[i].name()
	}
	for ns, n := range c.byNS {
		t := total.ns(ns)
		t.Flows += n.flows
		t.Allowed += n.allowed
		t.Denied += n.denied
		for k, count := range n.edges {
			t.edges[edgeNames{Src: names[k.src], Dst: names[k.dst], Port: portName(protocols[k.proto], k.port), Service: c.services[k.service],
				Violation: violations[k.violation], DeniedBy: deniedBys[k.deniedBy]}] += count
		}
	}
}
