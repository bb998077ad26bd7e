package graph

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/flow-auditor/flow-auditor/flow"
)

func build(recs []flow.Record) *Graph {
	b := NewBuilder("ai-agents")
	for i := range recs {
		b.Add(&recs[i])
	}
	return b.Graph()
}

// edgeLine describes an edge the way the tests compare them.
func edgeLine(e Edge) string {
	return fmt.Sprintf("%s -> %s %s %s", e.From, e.To, strings.Join(e.Label(), ","), e.Class)
}

func TestScenarioGraph(t *testing.T) {
	g := build(scenario())
	var nodes []string
	for _, n := range g.Nodes {
		nodes = append(nodes, n.ID+" ("+string(n.Kind)+": "+n.Detail+")")
	}
	wantNodes := []string{
		"ai-agents/Deployment/specialist-agent (workload: Deployment · ai-agents)",
		"ai-agents/Deployment/tool-service (workload: Deployment · ai-agents)",
		"ai-agents/Deployment/triage-agent (workload: Deployment · ai-agents)",
		"api-gateway/Deployment/gateway (peer: Deployment · api-gateway)",
		"databases/StatefulSet/postgresql (peer: StatefulSet · databases)",
		"external/10.20.30.40 (external: outside the cluster)",
		"external/169.254.169.254 (external: outside the cluster)",
		"external/api.llm.example (external: 203.0.113.10, 203.0.113.11)",
		"external/api.unvetted.example (external: 192.0.2.66)",
		"kube-system/Deployment/coredns (peer: Deployment · kube-system)",
	}
	if !slices.Equal(nodes, wantNodes) {
		t.Errorf("nodes:\n%s\nwant:\n%s", strings.Join(nodes, "\n"), strings.Join(wantNodes, "\n"))
	}
	var edges []string
	for _, e := range g.Edges {
		edges = append(edges, edgeLine(e))
	}
	// Each connection counts once, its reply and later records folded in;
	// the worst verdict colours the edge.
	wantEdges := []string{
		"ai-agents/Deployment/specialist-agent -> ai-agents/Deployment/specialist-agent TCP/8000 ×2 denied",
		"ai-agents/Deployment/specialist-agent -> databases/StatefulSet/postgresql TCP/5432 ×3 allowed",
		"ai-agents/Deployment/specialist-agent -> external/169.254.169.254 TCP/80 ×1 denied",
		"ai-agents/Deployment/specialist-agent -> external/api.llm.example TCP/443 ×2 allowed",
		"ai-agents/Deployment/tool-service -> databases/StatefulSet/postgresql TCP/5432 ×3 allowed",
		"ai-agents/Deployment/triage-agent -> ai-agents/Deployment/specialist-agent TCP/8000 ×6 allowed",
		"ai-agents/Deployment/triage-agent -> ai-agents/Deployment/tool-service TCP/8080 ×3 allowed",
		"ai-agents/Deployment/triage-agent -> external/10.20.30.40 TCP/443 ×1 would-deny",
		"ai-agents/Deployment/triage-agent -> external/api.llm.example TCP/443 ×3 allowed",
		"ai-agents/Deployment/triage-agent -> external/api.unvetted.example TCP/443 ×1 anomalous",
		"ai-agents/Deployment/triage-agent -> kube-system/Deployment/coredns UDP/53 ×3 allowed",
		"api-gateway/Deployment/gateway -> ai-agents/Deployment/triage-agent TCP/8000 ×3 allowed",
	}
	if !slices.Equal(edges, wantEdges) {
		t.Errorf("edges:\n%s\nwant:\n%s", strings.Join(edges, "\n"), strings.Join(wantEdges, "\n"))
	}
	if got, want := g.Count(), [4]int{26, 1, 2, 2}; got != want {
		t.Errorf("connections by class %v, want %v (allowed, anomalous, would-deny, denied)", got, want)
	}
	for _, e := range g.Edges {
		if e.From == "ai-agents/Deployment/specialist-agent" && e.To == e.From {
			if e.Ports[0].Conns != [4]int{0, 0, 1, 1} || e.Explanation != "because denied" {
				t.Errorf("specialist self-edge: %v %q, want one would-deny, one denied, the denied one's explanation", e.Ports[0].Conns, e.Explanation)
			}
		}
	}
	if !g.Start.Equal(t0) || !g.End.Equal(t0.Add(45*1e9)) {
		t.Errorf("window %s to %s", g.Start, g.End)
	}
}

func TestEveryRecordOfAConnectionCountsOnce(t *testing.T) {
	a := pod("ai-agents", "Deployment/a", "a-1", "10.0.0.1")
	b := ext("198.51.100.1", "api.example")
	first := rec(a, 50000, b, 443, flow.TCP, "", 0)
	later := first // the next drain reports the same connection again
	later.TimeFirst, later.TimeLast = t0.Add(5e9), t0.Add(6e9)
	dropped := first
	dropped.Observed, dropped.Violation, dropped.Verdict = flow.Dropped, "denied", "deny"
	g := build([]flow.Record{first, reply(first), later, reply(later), dropped})
	if len(g.Edges) != 1 || g.Edges[0].Conns != 1 || g.Edges[0].Class != Denied {
		t.Fatalf("edges %+v, want one connection, denied (its worst record)", g.Edges)
	}
	// Another client port is another connection.
	other := rec(a, 50001, b, 443, flow.TCP, "", 0)
	g = build([]flow.Record{first, other})
	if g.Edges[0].Conns != 2 {
		t.Errorf("two client ports: %d connections, want 2", g.Edges[0].Conns)
	}
}

func TestIsReply(t *testing.T) {
	icmp := func(typ uint8) *uint8 { return &typ }
	for _, c := range []struct {
		name string
		rec  flow.Record
		want bool
	}{
		{"initiator dst", flow.Record{Initiator: "dst", Src: ep(40000), Dst: ep(8000)}, true},
		{"initiator src", flow.Record{Initiator: "src", Src: ep(53), Dst: ep(40000)}, false},
		{"DNS answer", flow.Record{Protocol: flow.UDP, Src: ep(53), Dst: ep(40000)}, true},
		{"DNS query", flow.Record{Protocol: flow.UDP, Src: ep(40000), Dst: ep(53)}, false},
		{"service port to ephemeral", flow.Record{Protocol: flow.TCP, Src: ep(8000), Dst: ep(45000)}, true},
		{"two high ports", flow.Record{Protocol: flow.UDP, Src: ep(40000), Dst: ep(45000)}, false},
		{"echo reply", flow.Record{Protocol: flow.ICMPv4, ICMPType: icmp(0)}, true},
		{"echo request", flow.Record{Protocol: flow.ICMPv4, ICMPType: icmp(8)}, false},
		{"ICMPv6 echo reply", flow.Record{Protocol: flow.ICMPv6, ICMPType: icmp(129)}, true},
	} {
		if got := IsReply(&c.rec); got != c.want {
			t.Errorf("%s: IsReply = %v, want %v", c.name, got, c.want)
		}
	}
}

func ep(port uint16) flow.Endpoint {
	return flow.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: port}
}

func TestAggregatesCountTheirFlows(t *testing.T) {
	b := NewBuilder("ai-agents")
	r := rec(pod("ai-agents", "Deployment/a", "", "10.0.0.1"), 0, pod("databases", "StatefulSet/db", "", "10.0.0.2"), 5432, flow.TCP, "would-deny", 0)
	b.AddCount(&r, 7)
	b.AddCount(&r, 0) // nothing observed: nothing drawn
	g := b.Graph()
	if len(g.Edges) != 1 || g.Edges[0].Conns != 7 || g.Edges[0].Class != WouldDeny {
		t.Fatalf("edges %+v, want one edge of 7 would-deny flows", g.Edges)
	}
}
