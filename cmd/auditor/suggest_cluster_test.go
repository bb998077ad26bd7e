package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flow-auditor/flow-auditor/baseline/baselinetest"
	"github.com/flow-auditor/flow-auditor/suggest"
)

// TestSuggestFromTheClustersObservedTraffic learns a namespace's policies
// from a real API server: the example cluster's inventory, and the
// ObservedTraffic its two nodes' agents wrote after a few flows. The
// replay must allow every observed flow and no workload edge beyond them.
func TestSuggestFromTheClustersObservedTraffic(t *testing.T) {
	cluster, objs := exampleCluster(t)
	baselinetest.InstallCRD(t, cluster.Config())

	// Before any agent wrote: bad input, nothing printed.
	res := runCLI(t, "", "suggest", "-n", "ai-agents", "--kubeconfig", cluster.Kubeconfig())
	const none = "no observed traffic for namespace ai-agents in the cluster's ObservedTraffic objects; run the agents or pass --flows"
	if res.code != 2 || res.stdout != "" || !strings.Contains(res.stderr, none) {
		t.Fatalf("without ObservedTraffic: exit %d, stdout %q, stderr %s", res.code, res.stdout, res.stderr)
	}

	agents := newExampleAgents(objs)
	agents.observe("10.244.1.10", "203.0.113.10", 443, "api.llm-provider.example", 3, agents.node1) // triage -> LLM API
	agents.observe("10.244.1.11", "10.244.2.11", 8000, "", 1, agents.node1, agents.node2)           // specialist -> specialist
	agents.observe("10.244.2.20", "10.244.1.10", 8000, "", 2, agents.node2, agents.node1)           // gateway -> triage
	agents.write(t, cluster)

	report := filepath.Join(t.TempDir(), "replay.json")
	res = runCLI(t, "", "suggest", "-n", "ai-agents", "--kubeconfig", cluster.Kubeconfig(), "--report", report)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r suggest.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	// 6 flows: the ingress entries of flows between two of its pods are
	// the egress entries' twins and count once.
	if r.Flows.Observed != 6 || r.Flows.Allowed != 6 || r.Flows.NotAllowed != 0 {
		t.Errorf("flows %+v, want 6 observed, 6 allowed", r.Flows)
	}
	if r.Edges.Observed != 3 || r.Edges.AllowedUnobserved != 0 || r.Edges.AllowedUnobservedAddress != 0 {
		t.Errorf("edges %+v, want 3 observed and nothing unobserved allowed", r.Edges)
	}
	// The rules carry the agents' counts and name workloads.
	for _, s := range []string{
		"on TCP/443: 3 flows, first ",
		"e.g. ai-agents/Deployment/triage-agent -> 203.0.113.10",
		"in api-gateway on TCP/8000: 2 flows, first ",
		"e.g. api-gateway/Deployment/gateway -> ai-agents/Deployment/triage-agent",
		"on TCP/8000: 1 flow, first ",
		"e.g. ai-agents/Deployment/specialist-agent -> ai-agents/Deployment/specialist-agent",
		"name: flow-auditor-default-deny",
	} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("policies lack %q:\n%s", s, res.stdout)
		}
	}
	if !strings.Contains(res.stderr, "replay: 6 of 6 observed flows allowed") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
}
