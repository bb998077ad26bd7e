package pipeline

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// countingResolver resolves 10.0.0.1 and 10.0.0.2 to pods of workload
// "Deployment/w" (anything else is external), with an inventory version, a
// span of validity for its answers, and a count of the records it resolved.
type countingResolver struct {
	version  atomic.Uint64
	until    atomic.Int64 // answers hold for start times before it
	resolved atomic.Int64
}

func (r *countingResolver) Version() uint64 { return r.version.Load() }

func (r *countingResolver) ResolveRecord(rec *flow.Record, res *correlate.Resolution) {
	r.resolved.Add(1)
	target := func(ip netip.Addr) *correlate.Target {
		if ip != netip.MustParseAddr("10.0.0.1") && ip != netip.MustParseAddr("10.0.0.2") {
			return nil
		}
		e := flow.Endpoint{Kind: flow.KindPod, IP: ip, Namespace: "ns", Pod: "w-" + ip.String(), Workload: "Deployment/w"}
		return &correlate.Target{Endpoint: e, Peer: policy.Peer{Kind: policy.Pod, IP: ip, Namespace: "ns"}}
	}
	res.Src = correlate.Candidate{Target: target(rec.Src.IP), IP: rec.Src.IP, Port: rec.Src.Port}
	res.Dst = append(res.Dst[:0], correlate.Candidate{Target: target(rec.Dst.IP), IP: rec.Dst.IP, Port: rec.Dst.Port})
	res.Src.Fill(&rec.Src)
	res.FillDst(&rec.Dst, 0)
	res.Valid = correlate.Span{From: 0, Until: r.until.Load()}
}

// denyAllEngine denies everything on egress.
type denyAllEngine struct{}

func (denyAllEngine) Evaluate(*policy.Flow) policy.Verdict {
	var v policy.Verdict
	v.Egress.Decision = policy.Deny
	return v
}

// TestSiblingConnectionsShareResolution sends connections of one client pod
// to one server and port, each from its own client port and in its own
// batch: a sibling of a connection judged under the same inventory and
// policies, inside its resolution's span, is neither resolved nor judged
// again, yet is judged alike and counted as a connection of its own in the
// baseline. A change of inventory, of policies, a time outside the span,
// or another server port, each make a record resolved and judged afresh.
func TestSiblingConnectionsShareResolution(t *testing.T) {
	res := &countingResolver{}
	res.until.Store(time.Unix(2000, 0).UnixNano())
	pols := policies()
	store := baseline.NewStore(baseline.Options{Node: "n"})
	in := make(chan flow.Record)
	sink := &collectSink{}
	p, err := New(Config{In: in, Resolver: res, Policies: pols, Inspector: &anomaly.Detector{Baseline: store},
		Sinks: []Sink{sink}, Wait: true, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()

	sent := 0
	send := func(clientPort, serverPort uint16, at int64) {
		t.Helper()
		r := record("10.0.0.1", "10.0.0.2", serverPort, flow.Forwarded)
		r.Src.Port, r.TimeFirst, r.Initiator = clientPort, time.Unix(at, 0), "src"
		in <- r
		sent++
		waitFor(t, func() bool { sink.mu.Lock(); defer sink.mu.Unlock(); return len(sink.recs) == sent })
	}
	steps := []struct {
		name                   string
		before                 func()
		clientPort, serverPort uint16
		at                     int64
		resolved               int64
		verdict                string
	}{
		{"first connection", nil, 40000, 8000, 1000, 1, "allow"},
		{"sibling", nil, 40001, 8000, 1001, 1, "allow"},
		{"another sibling", nil, 40002, 8000, 1002, 1, "allow"},
		{"another server port", nil, 40003, 8001, 1003, 2, "allow"},
		{"after an inventory change", func() { res.version.Add(1) }, 40004, 8000, 1004, 3, "allow"},
		{"sibling again", nil, 40005, 8000, 1005, 3, "allow"},
		{"after a policy change", func() { pols.Store(&Policies{Engine: denyAllEngine{}}) }, 40006, 8000, 1006, 4, "deny"},
		{"sibling under the new policies", nil, 40007, 8000, 1007, 4, "deny"},
		{"past the span", nil, 40008, 8000, 2001, 5, "deny"},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		send(s.clientPort, s.serverPort, s.at)
		if got := res.resolved.Load(); got != s.resolved {
			t.Errorf("%s: %d records resolved so far, want %d", s.name, got, s.resolved)
		}
		sink.mu.Lock()
		r := sink.recs[len(sink.recs)-1]
		sink.mu.Unlock()
		if r.Verdict != s.verdict || r.Src.Kind != flow.KindPod || r.Dst.Kind != flow.KindPod || r.Src.Port != s.clientPort {
			t.Errorf("%s: verdict %q, %s:%d -> %s, want %q, pod:%d -> pod", s.name, r.Verdict, r.Src.Kind, r.Src.Port, r.Dst.Kind, s.verdict, s.clientPort)
		}
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	flows := map[int32]int64{}
	for _, o := range store.Objects() {
		for _, peer := range o.Status.Peers {
			if peer.Direction == "egress" {
				flows[peer.Port] += peer.Flows
			}
		}
	}
	if flows[8000] != 8 || flows[8001] != 1 {
		t.Errorf("baseline egress flows by port %v, want 8 to 8000 and 1 to 8001: each sibling a connection", flows)
	}
}
