package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/flow-auditor/flow-auditor/baseline/baselinetest"
	"github.com/flow-auditor/flow-auditor/graph"
)

// TestGraphFromTheClustersObservedTraffic draws a namespace from a real API
// server: the inventory and policies of the example cluster, and the
// ObservedTraffic the agents of its two nodes wrote after a few flows.
func TestGraphFromTheClustersObservedTraffic(t *testing.T) {
	cluster, objs := exampleCluster(t)
	baselinetest.InstallCRD(t, cluster.Config())

	// What the agents of both nodes learned, written out.
	agents := newExampleAgents(objs)
	agents.observe("10.244.1.10", "203.0.113.10", 443, "api.llm-provider.example", 3, agents.node1) // triage -> LLM API
	agents.observe("10.244.1.11", "10.244.2.11", 8000, "", 1, agents.node1, agents.node2)           // specialist -> specialist
	agents.observe("10.244.2.20", "10.244.1.10", 8000, "", 2, agents.node2, agents.node1)           // gateway -> triage
	agents.write(t, cluster)

	res := runCLI(t, "", "graph", "-n", "ai-agents", "--kubeconfig", cluster.Kubeconfig(), "-o", "svg")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	d, err := graph.ReadDrawn(strings.NewReader(res.stdout))
	if err != nil {
		t.Fatal(err)
	}
	const ai = "ai-agents/Deployment/"
	want := []string{
		ai + "specialist-agent -> " + ai + "specialist-agent would-deny 1 TCP/8000",
		ai + "triage-agent -> external/api.llm-provider.example allowed 3 TCP/443",
		"api-gateway/Deployment/gateway -> " + ai + "triage-agent allowed 2 TCP/8000",
	}
	if !slices.Equal(d.Edges, want) {
		t.Errorf("edges:\n%s\nwant:\n%s", strings.Join(d.Edges, "\n"), strings.Join(want, "\n"))
	}
	// Another namespace's view of the same objects: the gateway's one edge.
	res = runCLI(t, "", "graph", "-n", "api-gateway", "--kubeconfig", cluster.Kubeconfig(), "-o", "dot")
	if res.code != 0 || strings.Count(res.stdout, " -> ") != 1 {
		t.Errorf("api-gateway: exit %d, stdout %s", res.code, res.stdout)
	}
}
