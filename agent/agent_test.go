package agent

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	observer "github.com/cilium/cilium/api/v1/observer"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/metrics"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func ep(ip string, port uint16) flow.Endpoint {
	return flow.Endpoint{IP: netip.MustParseAddr(ip), Port: port}
}

// scenarioFlows are the flows of the file-source test: three learned during
// the learning period, then one known flow and the attacks.
func scenarioFlows() []flow.Record { return scenarioFlowsAt(t0) }

// scenarioFlowsAt is scenarioFlows starting at t0.
func scenarioFlowsAt(t0 time.Time) []flow.Record {
	const (
		triage, spec1, spec2 = "10.244.1.10", "10.244.1.11", "10.244.1.12"
		pg, dns              = "10.244.1.20", "10.244.1.2"
	)
	later := t0.Add(2 * time.Hour)
	r := func(at time.Time, src, dst flow.Endpoint, proto flow.Protocol, obs flow.Observed) flow.Record {
		return flow.Record{TimeFirst: at, TimeLast: at.Add(time.Second), Src: src, Dst: dst,
			Protocol: proto, Packets: 4, Bytes: 400, Observed: obs}
	}
	llm := ep("203.0.113.10", 443)
	llm.FQDN = "api.llm.example"
	newLLM := ep("198.51.100.20", 443)
	newLLM.FQDN = "new-llm.example"
	dropped := r(later, ep(triage, 40008), ep("10.10.0.5", 443), flow.TCP, flow.Dropped)
	dropped.DropReason = "NETFILTER_DROP"
	return []flow.Record{
		r(t0, ep(triage, 40001), llm, flow.TCP, flow.Forwarded),
		r(t0, ep(spec1, 40002), ep(pg, 5432), flow.TCP, flow.Forwarded),
		r(t0, ep(triage, 40003), ep(dns, 53), flow.UDP, flow.Forwarded),
		r(later, ep(triage, 40004), llm, flow.TCP, flow.Forwarded),
		r(later, ep(triage, 40005), newLLM, flow.TCP, flow.Forwarded),
		r(later, ep(spec1, 40006), ep(spec2, 8000), flow.TCP, flow.Forwarded),
		r(later, ep(spec1, 40007), ep("169.254.169.254", 80), flow.TCP, flow.Forwarded),
		dropped,
	}
}

func writeFlows(t *testing.T, recs []flow.Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flows.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// testConfig is an agent on loopback with a snapshot and a memory baseline.
func testConfig() Config {
	c := Defaults()
	c.Snapshots = []string{"testdata/cluster.yaml"}
	c.NodeName = "node-1"
	c.MetricsAddr = "127.0.0.1:0"
	c.HubbleAddr = "127.0.0.1:0"
	c.LearningPeriod = time.Hour
	c.ShutdownTimeout = 10 * time.Second
	return c
}

// startAgent runs a in the background; the returned function stops it
// (SIGTERM's path) and returns Run's error.
func startAgent(t *testing.T, a *Agent) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	var err error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls until cond holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for limit := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(limit) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFileSourceMetricsAndHubble(t *testing.T) {
	cfg := testConfig()
	cfg.Source = SourceFile
	cfg.FlowsFiles = []string{writeFlows(t, scenarioFlows())}
	a, err := New(cfg, zaptest.NewLogger(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, a)
	addr := a.MetricsAddr()
	sunk := series(metrics.RecordsTotal, "stage", "metrics")
	waitFor(t, "8 records at the metrics sink", func() bool { return scrape(t, addr)[sunk] == 8 })
	got := scrape(t, addr)

	const ai, triage, spec = "ai-agents", "Deployment/triage-agent", "Deployment/specialist-agent"
	want := map[string]float64{
		series(metrics.FlowsTotal, "namespace", ai, "workload", triage, "direction", "egress", "verdict", "allow"):                             4,
		series(metrics.FlowsTotal, "namespace", ai, "workload", triage, "direction", "egress", "verdict", "deny"):                              1,
		series(metrics.FlowsTotal, "namespace", ai, "workload", spec, "direction", "egress", "verdict", "allow"):                               1,
		series(metrics.FlowsTotal, "namespace", ai, "workload", spec, "direction", "egress", "verdict", "deny"):                                2,
		series(metrics.FlowsTotal, "namespace", ai, "workload", spec, "direction", "ingress", "verdict", "deny"):                               1,
		series(metrics.FlowsTotal, "namespace", "databases", "workload", "StatefulSet/postgresql", "direction", "ingress", "verdict", "allow"): 1,
		series(metrics.FlowsTotal, "namespace", "kube-system", "workload", "Deployment/coredns", "direction", "ingress", "verdict", "allow"):   1,
		series(metrics.ViolationsTotal, "namespace", ai, "workload", triage, "kind", "anomalous-egress"):                                       1,
		series(metrics.ViolationsTotal, "namespace", ai, "workload", triage, "kind", "denied"):                                                 1,
		series(metrics.ViolationsTotal, "namespace", ai, "workload", spec, "kind", "would-deny"):                                               2,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", triage, "class", "new-destination"):                                  2,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", triage, "class", "new-fqdn"):                                         1,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", triage, "class", "private-range"):                                    1,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", spec, "class", "new-destination"):                                    2,
		series(metrics.EgressAnomaliesTotal, "namespace", ai, "workload", spec, "class", "metadata"):                                           1,
		series(metrics.DropsTotal, "namespace", ai, "reason", "NETFILTER_DROP"):                                                                1,
		series(metrics.UnresolvedFlowsTotal): 0,
	}
	for _, name := range []string{metrics.FlowsTotal, metrics.ViolationsTotal, metrics.EgressAnomaliesTotal, metrics.DropsTotal} {
		n := 0
		for k := range want {
			if len(k) > len(name) && k[:len(name)+1] == name+"{" {
				n++
			}
		}
		if have := countSeries(got, name); have != n {
			t.Errorf("%s has %d series, want %d:\n%s", name, have, n, family(got, name))
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if got[series(metrics.Ready)] != 1 {
		t.Errorf("%s = %v, want 1", metrics.Ready, got[series(metrics.Ready)])
	}

	// The same flows through the Hubble Observer API.
	flows := getFlows(t, a.HubbleAddr(), &observer.GetFlowsRequest{Number: 100})
	if len(flows) != 8 {
		t.Fatalf("GetFlows returned %d flows, want 8", len(flows))
	}
	dropped := 0
	for _, f := range flows {
		if f.GetVerdict() == flowpb.Verdict_DROPPED {
			dropped++
		}
	}
	if dropped != 1 {
		t.Errorf("GetFlows: %d dropped flows, want 1", dropped)
	}
	// What the baseline learned, per workload.
	// One profile per workload and node: triage-agent, specialist-agent
	// (its egress and ingress), postgresql and coredns (ingress only).
	if n := a.Baseline().Len(); n != 4 {
		t.Errorf("baseline profiles = %d, want 4", n)
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func countSeries(got map[string]float64, name string) int {
	n := 0
	for k := range got {
		if len(k) > len(name) && k[:len(name)+1] == name+"{" {
			n++
		}
	}
	return n
}

// getFlows reads the ring through the Observer API with cilium's client.
func getFlows(t *testing.T, addr string, req *observer.GetFlowsRequest) []*flowpb.Flow {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := observer.NewObserverClient(conn).GetFlows(ctx, req)
	if err != nil {
		t.Fatalf("GetFlows: %v", err)
	}
	var out []*flowpb.Flow
	for {
		resp, err := stream.Recv()
		if err != nil {
			break
		}
		if f := resp.GetFlow(); f != nil {
			out = append(out, f)
		}
	}
	return out
}
