package suggest

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

// TestAddWorkload: baseline entries name workloads. A workload talking to
// itself is between two of its pods and needs a rule; a workload gone from
// the inventory is selected by the labels the agent recorded; an entry's
// flow count is what the rule's comment and the replay count.
func TestAddWorkload(t *testing.T) {
	c := loadCluster(t, "testdata/scenario/snapshot.yaml")
	o := NewObserver(c.input("ai-agents", ExternalExact))
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	wl := func(ns, workload string, labels map[string]string) flow.Endpoint {
		return flow.Endpoint{Kind: flow.KindPod, Namespace: ns, Workload: workload, Labels: labels}
	}
	self := wl("ai-agents", "Deployment/specialist-agent", nil)
	dst := self
	dst.Port = 8000
	o.AddWorkload(&flow.Record{TimeFirst: at, TimeLast: at.Add(time.Hour), Protocol: flow.TCP, Observed: flow.Forwarded, Src: self, Dst: dst}, 4)
	ext := flow.Endpoint{Kind: flow.KindExternal, IP: netip.MustParseAddr("203.0.113.10"), Port: 443, FQDN: "api.llm-provider.example"}
	o.AddWorkload(&flow.Record{TimeFirst: at, TimeLast: at.Add(time.Minute), Protocol: flow.TCP, Observed: flow.Forwarded,
		Src: wl("ai-agents", "Deployment/old-agent", map[string]string{"app": "old-agent"}), Dst: ext}, 2)

	sg, err := o.Suggest()
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.Replay(sg, c.objs.NetworkPolicies, c.objs.Namespaces)
	if err != nil {
		t.Fatal(err)
	}
	if r.Flows.Observed != 6 || r.Flows.Allowed != 6 || r.Edges.Observed != 2 {
		t.Errorf("flows %+v, edges %+v: want 6 flows allowed on 2 edges", r.Flows, r.Edges)
	}
	var comments []string
	for _, p := range sg.Policies {
		for _, rl := range append(p.Ingress, p.Egress...) {
			comments = append(comments, p.Workload+": "+strings.Join(rl.Comment, " | "))
		}
	}
	all := strings.Join(comments, "\n")
	for _, want := range []string{
		"Deployment/specialist-agent: from Deployment/specialist-agent on TCP/8000: 4 flows",
		"e.g. ai-agents/Deployment/specialist-agent -> ai-agents/Deployment/specialist-agent",
		"Deployment/old-agent: to 203.0.113.10 (api.llm-provider.example) on TCP/443: 2 flows",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("comments lack %q:\n%s", want, all)
		}
	}
}
