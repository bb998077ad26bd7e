package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/flow-auditor/flow-auditor/baseline/baselinetest"
	"github.com/flow-auditor/flow-auditor/flow"
)

// TestAuditFromTheClustersObservedTraffic audits, without --flows, what the
// example cluster's two agents wrote as ObservedTraffic on a real API
// server: each edge judged against the cluster's policies, with its flow
// count; and the exit status and message while nothing can be read.
func TestAuditFromTheClustersObservedTraffic(t *testing.T) {
	cluster, objs := exampleCluster(t)
	kc := cluster.Kubeconfig()

	// No ObservedTraffic resource: the agents were never installed.
	res := runCLI(t, "", "audit", "-n", "ai-agents", "--kubeconfig", kc)
	if res.code != 2 || res.stdout != "" || !strings.Contains(res.stderr, "is the ObservedTraffic CRD installed? install the agents, or pass --flows") {
		t.Fatalf("without the CRD: exit %d, stdout %q, stderr %s", res.code, res.stdout, res.stderr)
	}
	baselinetest.InstallCRD(t, cluster.Config())
	// Before any agent wrote: bad input, nothing printed.
	for _, args := range [][]string{{"-n", "ai-agents"}, nil} {
		res = runCLI(t, "", append([]string{"audit", "--kubeconfig", kc, "-o", "table"}, args...)...)
		want := "no observed traffic in the cluster's ObservedTraffic objects; run the agents or pass --flows"
		if args != nil {
			want = "no observed traffic for namespace ai-agents in the cluster's ObservedTraffic objects; run the agents or pass --flows"
		}
		if res.code != 2 || res.stdout != "" || !strings.Contains(res.stderr, want) {
			t.Fatalf("audit %v without ObservedTraffic: exit %d, stdout %q, stderr %s", args, res.code, res.stdout, res.stderr)
		}
	}

	agents := newExampleAgents(objs)
	node1, node2 := agents.node1, agents.node2
	agents.observe("10.244.1.10", "203.0.113.10", 443, "api.llm-provider.example", 3, node1) // triage -> LLM API
	agents.observe("10.244.2.20", "10.244.1.10", 8000, "", 2, node2, node1)                  // gateway -> triage
	agents.observe("10.244.1.11", "10.244.2.11", 8000, "", 1, node1, node2)                  // specialist -> specialist,
	agents.observe("10.244.2.11", "10.244.1.11", 8000, "", 2, node2, node1)                  // from both nodes
	agents.observe("10.244.1.10", "10.244.2.11", 8000, "", 4, node1, node2)                  // triage -> specialist
	// A workload whose pods are all gone by the time of the audit.
	gone := flow.Endpoint{Kind: flow.KindPod, Namespace: "ai-agents", Workload: "Deployment/retired-agent", Node: "node-1",
		Labels: map[string]string{"app": "ai-agent", "role": "retired-agent"}}
	rec := agents.record(gone, flow.Endpoint{Kind: flow.KindExternal, IP: netip.MustParseAddr("10.20.30.40"), Port: 8080}, 0)
	node1.Observe(&rec, false)
	agents.write(t, cluster)

	res = runCLI(t, "", "audit", "-n", "ai-agents", "--kubeconfig", kc, "-o", "jsonl")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	lines := parseObserved(t, res.stdout)
	if len(lines) != 5 {
		t.Fatalf("%d edges, want 5:\n%s", len(lines), res.stdout)
	}
	if l := lines["ai-agents/Deployment/triage-agent -> 203.0.113.10"]; l.Verdict != "allow" || l.ObservedFlows != 3 ||
		l.Src.Pod != "triage-agent-7d9f8b6c5d-x2k4p" || l.Dst.FQDN != "api.llm-provider.example" {
		t.Errorf("triage -> LLM API: %+v", l)
	}
	if l := lines["api-gateway/Deployment/gateway -> ai-agents/Deployment/triage-agent"]; l.Verdict != "allow" || l.ObservedFlows != 2 {
		t.Errorf("gateway -> triage: %+v", l)
	}
	if l := lines["ai-agents/Deployment/specialist-agent -> ai-agents/Deployment/specialist-agent"]; l.Verdict != "deny" || l.Violation != "would-deny" ||
		l.ObservedFlows != 3 || !slices.Equal(l.Nodes, []string{"node-1", "node-2"}) || l.Src.Pod == l.Dst.Pod {
		t.Errorf("specialist -> specialist: %+v", l)
	}
	const why = "egress denied: isolated by ai-agents/allow-agent-egress, ai-agents/default-deny-all, no rule allows"
	if l := lines["ai-agents/Deployment/triage-agent -> ai-agents/Deployment/specialist-agent"]; l.Verdict != "deny" || l.Egress != "deny" ||
		l.Ingress != "allow" || l.ObservedFlows != 4 || !strings.HasPrefix(l.Explanation, why) {
		t.Errorf("triage -> specialist: %+v", l)
	}
	if l := lines["ai-agents/Deployment/retired-agent -> 10.20.30.40"]; l.Verdict != "deny" || !slices.Equal(l.Unresolved, []string{"src"}) ||
		!strings.HasPrefix(l.Explanation, "ai-agents/Deployment/retired-agent has no pod in the inventory, judged by the labels its agent recorded: "+why) {
		t.Errorf("retired -> 10.20.30.40: %+v", l)
	}
	// The pod-to-pod flows' ingress entries are their egress entries' twins:
	// 6 entries, not 10.
	const summary = "audited 13 flows: 5 allowed, 8 denied (violations: 8 would-deny, 0 denied, 0 anomalous-egress); 0 flows not touching namespace ai-agents left out" +
		"; from the cluster's ObservedTraffic: 6 entries merged into 5 edges, 1 unresolved"
	if !strings.Contains(res.stderr, summary) {
		t.Errorf("stderr:\n%s\nwant\n%s", res.stderr, summary)
	}

	res = runCLI(t, "", "audit", "--kubeconfig", kc, "-o", "table", "--top", "2")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, row := range []string{
		"ai-agents    13     5        8",
		"  4      Deployment/triage-agent      Deployment/specialist-agent  TCP/8000  egress          would-deny",
		"  3      Deployment/specialist-agent  Deployment/specialist-agent  TCP/8000  egress+ingress  would-deny",
		"  ... 1 more denied edge (see -o jsonl)",
	} {
		if !strings.Contains(res.stdout, row) {
			t.Errorf("table lacks %q:\n%s", row, res.stdout)
		}
	}
}
