package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/baseline/baselinetest"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
	"github.com/flow-auditor/flow-auditor/suggest"
)

// TestSuggestFromTheClustersObservedTraffic learns a namespace's policies
// from a real API server: the example cluster's inventory, and the
// ObservedTraffic its two nodes' agents wrote after a few flows. The
// replay must allow every observed flow and no workload edge beyond them.
func TestSuggestFromTheClustersObservedTraffic(t *testing.T) {
	cluster := kubetest.Start(t)
	baselinetest.InstallCRD(t, cluster.Config())
	ctx := context.Background()
	snap, err := correlate.LoadSnapshot(exampleSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	objs := snap.Objects()
	recreate(t, ctx, cluster.Client(t), objs)

	// Before any agent wrote: bad input, nothing printed.
	res := runCLI(t, "", "suggest", "-n", "ai-agents", "--kubeconfig", cluster.Kubeconfig())
	const none = "no observed traffic for namespace ai-agents in the cluster's ObservedTraffic objects; run the agents or pass --flows"
	if res.code != 2 || res.stdout != "" || !strings.Contains(res.stderr, none) {
		t.Fatalf("without ObservedTraffic: exit %d, stdout %q, stderr %s", res.code, res.stdout, res.stderr)
	}

	ix := correlate.BuildIndex(objs, correlate.IndexOptions{})
	node1, node2 := baseline.NewStore(baseline.Options{Node: "node-1"}), baseline.NewStore(baseline.Options{Node: "node-2"})
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	observe := func(src, dst string, port uint16, fqdn string, n int, stores ...*baseline.Store) {
		for i := range n {
			rec := flow.Record{
				TimeFirst: at, TimeLast: at.Add(time.Second), Protocol: flow.TCP, Observed: flow.Forwarded,
				Src: flow.Endpoint{IP: netip.MustParseAddr(src), Port: uint16(40000 + i)},
				Dst: flow.Endpoint{IP: netip.MustParseAddr(dst), Port: port, FQDN: fqdn},
			}
			var r correlate.Resolution
			ix.ResolveRecord(&rec, &r)
			for _, s := range stores {
				s.Observe(&rec, false)
			}
		}
	}
	observe("10.244.1.10", "203.0.113.10", 443, "api.llm-provider.example", 3, node1) // triage -> LLM API
	observe("10.244.1.11", "10.244.2.11", 8000, "", 1, node1, node2)                  // specialist -> specialist
	observe("10.244.2.20", "10.244.1.10", 8000, "", 2, node2, node1)                  // gateway -> triage
	dyn, err := dynamic.NewForConfig(cluster.Config())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*baseline.Store{node1, node2} {
		w := &baseline.Writer{Store: s, Client: dyn, Log: zaptest.NewLogger(t)}
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("write ObservedTraffic: %v", err)
		}
	}

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
