// Package graph draws a namespace's communication graph from judged flow
// records: one node per workload (pods of other namespaces by their
// workload too, nodes by name, outside peers grouped by DNS name), one edge
// per client and server with the ports and connection counts, coloured by
// the worst verdict it carried (allowed, anomalous, would-deny, denied).
// It renders DOT, Mermaid, and self-contained SVG and HTML laid out in Go.
package graph

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Class is an edge's verdict, in increasing severity.
type Class uint8

// Classes.
const (
	Allowed Class = iota
	Anomalous
	WouldDeny
	Denied
)

var classNames = [...]string{"allowed", "anomalous", "would-deny", "denied"}

func (c Class) String() string { return classNames[c] }

// Classes lists every class, mildest first.
func Classes() []Class { return []Class{Allowed, Anomalous, WouldDeny, Denied} }

// ClassOf returns the class of one judged record: its violation, or its
// verdict when a source decided without one.
func ClassOf(rec *flow.Record) Class {
	switch rec.Violation {
	case "denied":
		return Denied
	case "would-deny":
		return WouldDeny
	case "anomalous-egress":
		return Anomalous
	}
	if rec.Verdict == "deny" {
		if rec.Observed == flow.Dropped {
			return Denied
		}
		return WouldDeny
	}
	return Allowed
}

// NodeKind says what a node stands for.
type NodeKind string

// Node kinds.
const (
	// KindWorkload is a workload of the graph's namespace.
	KindWorkload NodeKind = "workload"
	// KindPeer is a workload of another namespace.
	KindPeer NodeKind = "peer"
	// KindNode is a cluster node (or a hostNetwork pod).
	KindNode NodeKind = "node"
	// KindExternal is an address outside the cluster, by DNS name when
	// one is known.
	KindExternal NodeKind = "external"
)

// Node is one box of the graph.
type Node struct {
	// ID is "namespace/Kind/name" for a workload, "node/NAME" for a node,
	// "external/NAME" for an outside peer (NAME: its DNS name, else its
	// address).
	ID   string
	Kind NodeKind
	// Label is the name shown; Detail the line under it (workload kind
	// and namespace, or the addresses).
	Label, Detail string
	Namespace     string
}

// PortStat is one protocol and port of an edge.
type PortStat struct {
	Protocol flow.Protocol
	Port     uint16
	// Conns counts the connections by class.
	Conns [4]int
}

// Name is "TCP/8000", or the protocol alone for ICMP.
func (p PortStat) Name() string {
	if p.Port == 0 {
		return string(p.Protocol)
	}
	return string(p.Protocol) + "/" + strconv.Itoa(int(p.Port))
}

// Total counts the port's connections.
func (p PortStat) Total() int { return p.Conns[0] + p.Conns[1] + p.Conns[2] + p.Conns[3] }

// Edge is the traffic from one client node to one server node.
type Edge struct {
	From, To string
	Ports    []PortStat
	// Class is the worst class of its connections.
	Class Class
	// Conns counts the connections; Explanation is the explanation of one
	// of the worst (what the engine or the baseline said).
	Conns       int
	Explanation string
}

// Label is the edge's text: "TCP/8000 ×12", one line per port.
func (e *Edge) Label() []string {
	out := make([]string, 0, len(e.Ports))
	for _, p := range e.Ports {
		out = append(out, p.Name()+" ×"+strconv.Itoa(p.Total()))
	}
	return out
}

// Graph is a namespace's communication graph.
type Graph struct {
	Namespace string
	// Window is the time range of the connections drawn.
	Start, End time.Time
	Nodes      []Node
	Edges      []Edge
}

// Node returns the node of id, or nil.
func (g *Graph) Node(id string) *Node {
	for i := range g.Nodes {
		if g.Nodes[i].ID == id {
			return &g.Nodes[i]
		}
	}
	return nil
}

// Count returns the number of connections of each class.
func (g *Graph) Count() [4]int {
	var n [4]int
	for _, e := range g.Edges {
		for _, p := range e.Ports {
			for c := range n {
				n[c] += p.Conns[c]
			}
		}
	}
	return n
}

// IsReply reports whether rec is the reply direction of its connection:
// the handshake showed its destination opened it, or, without one, it
// goes from a well-known or service port to a higher or ephemeral one (as
// the agent's pipeline decides; ICMP echo replies and errors too).
// Connections are drawn from their client.
func IsReply(rec *flow.Record) bool {
	switch rec.Initiator {
	case "dst":
		return true
	case "src":
		return false
	}
	switch rec.Protocol {
	case flow.ICMPv4, flow.ICMPv6:
		if rec.ICMPType == nil {
			return false
		}
		t := *rec.ICMPType
		if rec.Protocol == flow.ICMPv4 {
			return t == 0 || t == 3 || t == 11 || t == 12
		}
		return t == 129 || (t >= 1 && t <= 4)
	}
	sp, dp := rec.Src.Port, rec.Dst.Port
	if sp == 0 || dp == 0 || sp == dp {
		return false
	}
	const ephemeral = 32768
	return (sp < 1024 && dp >= 1024) || (sp < ephemeral && dp >= ephemeral)
}

// Connection returns rec's client and server.
func Connection(rec *flow.Record) (client, server *flow.Endpoint) {
	if IsReply(rec) {
		return &rec.Dst, &rec.Src
	}
	return &rec.Src, &rec.Dst
}

// connKey identifies one connection.
type connKey struct {
	proto          flow.Protocol
	client, server netip.AddrPort
}

type conn struct {
	client, server flow.Endpoint
	proto          flow.Protocol
	class          Class
	weight         int
	explanation    string
	first, last    time.Time
}

// Builder gathers records into a Graph.
type Builder struct {
	namespace string
	conns     map[connKey]*conn
	agg       []*conn
}

// NewBuilder returns a builder for the graph of namespace.
func NewBuilder(namespace string) *Builder {
	return &Builder{namespace: namespace, conns: map[connKey]*conn{}}
}

// Add adds one judged record. The records of one connection (both
// directions, several drains) count once, with the worst class among them.
func (b *Builder) Add(rec *flow.Record) {
	client, server := Connection(rec)
	k := connKey{rec.Protocol, netip.AddrPortFrom(client.IP, client.Port), netip.AddrPortFrom(server.IP, server.Port)}
	if rec.Protocol == flow.ICMPv4 || rec.Protocol == flow.ICMPv6 {
		k.client, k.server = netip.AddrPortFrom(client.IP, 0), netip.AddrPortFrom(server.IP, 0)
	}
	c := b.conns[k]
	if c == nil {
		c = &conn{client: *client, server: *server, proto: rec.Protocol, weight: 1, first: rec.TimeFirst, last: rec.TimeLast}
		b.conns[k] = c
	}
	b.merge(c, rec, client, server)
}

// AddCount adds an aggregate of n connections from rec.Src (the client)
// to rec.Dst, such as an ObservedTraffic peer entry.
func (b *Builder) AddCount(rec *flow.Record, n int) {
	if n <= 0 {
		return
	}
	c := &conn{client: rec.Src, server: rec.Dst, proto: rec.Protocol, weight: n, first: rec.TimeFirst, last: rec.TimeLast}
	b.merge(c, rec, &rec.Src, &rec.Dst)
	b.agg = append(b.agg, c)
}

func (b *Builder) merge(c *conn, rec *flow.Record, client, server *flow.Endpoint) {
	// Later records may know more (a resolved pod, a DNS name).
	fill(&c.client, client)
	fill(&c.server, server)
	if cl := ClassOf(rec); cl > c.class || (cl == c.class && c.explanation == "") {
		c.class, c.explanation = cl, rec.Explanation
	}
	if !rec.TimeFirst.IsZero() && (c.first.IsZero() || rec.TimeFirst.Before(c.first)) {
		c.first = rec.TimeFirst
	}
	if rec.TimeLast.After(c.last) {
		c.last = rec.TimeLast
	}
}

func fill(have, e *flow.Endpoint) {
	if have.Kind == flow.KindUnknown || (have.Kind == flow.KindExternal && e.Kind != flow.KindUnknown) {
		if e.Kind != flow.KindUnknown {
			port := have.Port
			*have = *e
			have.Port = port
		}
	}
	if have.FQDN == "" {
		have.FQDN = e.FQDN
	}
	if have.Workload == "" && e.Workload != "" {
		have.Workload, have.Namespace, have.Pod = e.Workload, e.Namespace, e.Pod
	}
}

// Graph returns the graph of the connections that touch the namespace (a
// pod of it on either side), nodes and edges sorted by ID.
func (b *Builder) Graph() *Graph {
	all := make([]*conn, 0, len(b.conns)+len(b.agg))
	for _, c := range b.conns {
		all = append(all, c)
	}
	all = append(all, b.agg...)
	// Fixed order: the explanation an edge shows is its first connection's.
	slices.SortStableFunc(all, func(a, b *conn) int {
		return cmp.Or(a.first.Compare(b.first), a.client.IP.Compare(b.client.IP), cmp.Compare(a.client.Port, b.client.Port),
			a.server.IP.Compare(b.server.IP), cmp.Compare(a.server.Port, b.server.Port), cmp.Compare(a.proto, b.proto))
	})
	// An outside address is named by any DNS name a record gave it.
	names := map[netip.Addr]string{}
	for _, c := range all {
		for _, e := range []*flow.Endpoint{&c.client, &c.server} {
			if e.FQDN != "" && e.Kind != flow.KindPod {
				if n, ok := names[e.IP]; !ok || e.FQDN < n {
					names[e.IP] = e.FQDN
				}
			}
		}
	}
	g := &Graph{Namespace: b.namespace}
	nodes := map[string]*Node{}
	addrs := map[string][]string{}
	type edgeKey struct{ from, to string }
	edges := map[edgeKey]*Edge{}
	for _, c := range all {
		if !b.touches(&c.client) && !b.touches(&c.server) {
			continue
		}
		from := b.node(&c.client, names, nodes, addrs)
		to := b.node(&c.server, names, nodes, addrs)
		e := edges[edgeKey{from, to}]
		if e == nil {
			e = &Edge{From: from, To: to}
			edges[edgeKey{from, to}] = e
		}
		port := c.server.Port
		if c.proto == flow.ICMPv4 || c.proto == flow.ICMPv6 {
			port = 0
		}
		i := slices.IndexFunc(e.Ports, func(p PortStat) bool { return p.Protocol == c.proto && p.Port == port })
		if i < 0 {
			e.Ports = append(e.Ports, PortStat{Protocol: c.proto, Port: port})
			i = len(e.Ports) - 1
		}
		e.Ports[i].Conns[c.class] += c.weight
		e.Conns += c.weight
		if c.class > e.Class || (c.class == e.Class && e.Explanation == "") {
			e.Class, e.Explanation = c.class, c.explanation
		}
		if !c.first.IsZero() && (g.Start.IsZero() || c.first.Before(g.Start)) {
			g.Start = c.first
		}
		if c.last.After(g.End) {
			g.End = c.last
		}
	}
	for id, n := range nodes {
		if n.Kind == KindExternal {
			slices.Sort(addrs[id])
			n.Detail = strings.Join(slices.Compact(addrs[id]), ", ")
			if n.Detail == n.Label {
				n.Detail = "outside the cluster"
			}
		}
		g.Nodes = append(g.Nodes, *n)
	}
	slices.SortFunc(g.Nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	for _, e := range edges {
		slices.SortFunc(e.Ports, func(a, b PortStat) int {
			return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
		})
		g.Edges = append(g.Edges, *e)
	}
	slices.SortFunc(g.Edges, func(a, b Edge) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To)) })
	return g
}

func (b *Builder) touches(e *flow.Endpoint) bool {
	return e.Kind == flow.KindPod && e.Namespace == b.namespace
}

// node returns the ID of e's node, adding it.
func (b *Builder) node(e *flow.Endpoint, names map[netip.Addr]string, nodes map[string]*Node, addrs map[string][]string) string {
	var n Node
	switch {
	case e.Kind == flow.KindPod:
		kind, name, ok := strings.Cut(e.Workload, "/")
		if !ok || e.Workload == "" {
			kind, name = "Pod", e.Pod
		}
		n = Node{ID: e.Namespace + "/" + kind + "/" + name, Kind: KindPeer, Label: name, Detail: kind + " · " + e.Namespace, Namespace: e.Namespace}
		if e.Namespace == b.namespace {
			n.Kind = KindWorkload
		}
	case e.Kind == flow.KindNode:
		name := e.Node
		if name == "" {
			name = e.IP.String()
		}
		n = Node{ID: "node/" + name, Kind: KindNode, Label: name, Detail: "node"}
	default:
		name := e.FQDN
		if name == "" {
			name = names[e.IP]
		}
		if name == "" {
			name = e.IP.String()
		}
		n = Node{ID: "external/" + name, Kind: KindExternal, Label: name}
		addrs[n.ID] = append(addrs[n.ID], e.IP.String())
	}
	if _, ok := nodes[n.ID]; !ok {
		nodes[n.ID] = &n
	}
	return n.ID
}
