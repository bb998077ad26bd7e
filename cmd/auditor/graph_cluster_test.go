package main

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/baseline/baselinetest"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/graph"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

// TestGraphFromTheClustersObservedTraffic draws a namespace from a real API
// server: the inventory and policies of the example cluster, and the
// ObservedTraffic the agents of its two nodes wrote after a few flows.
func TestGraphFromTheClustersObservedTraffic(t *testing.T) {
	cluster := kubetest.Start(t)
	baselinetest.InstallCRD(t, cluster.Config())
	ctx := context.Background()
	snap, err := correlate.LoadSnapshot(exampleSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	objs := snap.Objects()
	recreate(t, ctx, cluster.Client(t), objs)

	// What the agents of both nodes learned: resolved flows in their
	// stores (each profiles the pods of its node), written out.
	ix := correlate.BuildIndex(objs, correlate.IndexOptions{})
	node1, node2 := baseline.NewStore(baseline.Options{Node: "node-1"}), baseline.NewStore(baseline.Options{Node: "node-2"})
	at := time.Now().Add(-time.Minute)
	// observe reports n flows to the agents of the nodes they crossed.
	observe := func(src, dst string, port uint16, fqdn string, n int, stores ...*baseline.Store) {
		for i := range n {
			rec := flow.Record{
				TimeFirst: at, TimeLast: at.Add(time.Second), Protocol: flow.TCP, Observed: flow.Forwarded,
				Src: flow.Endpoint{IP: netip.MustParseAddr(src), Port: uint16(40000 + i)},
				Dst: flow.Endpoint{IP: netip.MustParseAddr(dst), Port: port, FQDN: fqdn},
			}
			var res correlate.Resolution
			ix.ResolveRecord(&rec, &res)
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
