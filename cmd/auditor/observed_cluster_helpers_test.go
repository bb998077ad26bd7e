package main

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/kubetest"
)

// exampleCluster starts a real API server holding the example snapshot's
// objects, and returns them.
func exampleCluster(t *testing.T) (*kubetest.Cluster, correlate.Objects) {
	t.Helper()
	cluster := kubetest.Start(t)
	snap, err := correlate.LoadSnapshot(exampleSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	objs := snap.Objects()
	recreate(t, context.Background(), cluster.Client(t), objs)
	return cluster, objs
}

// exampleAgents are the baseline stores of the agents on the example
// cluster's two nodes; each profiles the pods of its node.
type exampleAgents struct {
	ix           *correlate.Index
	at           time.Time
	node1, node2 *baseline.Store
}

func newExampleAgents(objs correlate.Objects) *exampleAgents {
	return &exampleAgents{
		ix:    correlate.BuildIndex(objs, correlate.IndexOptions{}),
		at:    time.Now().Add(-time.Minute).Truncate(time.Second),
		node1: baseline.NewStore(baseline.Options{Node: "node-1"}),
		node2: baseline.NewStore(baseline.Options{Node: "node-2"}),
	}
}

// record is the i-th flow from src to dst, a minute ago.
func (a *exampleAgents) record(src, dst flow.Endpoint, i int) flow.Record {
	src.Port = uint16(40000 + i)
	return flow.Record{TimeFirst: a.at, TimeLast: a.at.Add(time.Second), Protocol: flow.TCP, Observed: flow.Forwarded, Src: src, Dst: dst}
}

// observe reports n resolved flows to the agents of the nodes they crossed.
func (a *exampleAgents) observe(src, dst string, port uint16, fqdn string, n int, stores ...*baseline.Store) {
	for i := range n {
		rec := a.record(flow.Endpoint{IP: netip.MustParseAddr(src)}, flow.Endpoint{IP: netip.MustParseAddr(dst), Port: port, FQDN: fqdn}, i)
		var res correlate.Resolution
		a.ix.ResolveRecord(&rec, &res)
		for _, s := range stores {
			s.Observe(&rec, false)
		}
	}
}

// write writes both agents' ObservedTraffic objects to the cluster.
func (a *exampleAgents) write(t *testing.T, cluster *kubetest.Cluster) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cluster.Config())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*baseline.Store{a.node1, a.node2} {
		w := &baseline.Writer{Store: s, Client: dyn, Log: zaptest.NewLogger(t)}
		if err := w.Flush(context.Background()); err != nil {
			t.Fatalf("write ObservedTraffic: %v", err)
		}
	}
}
