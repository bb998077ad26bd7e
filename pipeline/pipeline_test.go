package pipeline

import (
	"context"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/anomaly"
	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// countMeter counts what the stages report.
type countMeter struct {
	mu      sync.Mutex
	entered map[string]uint64
	lost    map[string]uint64 // by stage, all causes
}

func newCountMeter() *countMeter {
	return &countMeter{entered: map[string]uint64{}, lost: map[string]uint64{}}
}

func (m *countMeter) Entered(stage string, n uint64) {
	m.mu.Lock()
	m.entered[stage] += n
	m.mu.Unlock()
}

func (m *countMeter) Lost(stage, _ string, n uint64) {
	m.mu.Lock()
	m.lost[stage] += n
	m.mu.Unlock()
}

func (m *countMeter) get(stage string) (entered, lost uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.entered[stage], m.lost[stage]
}

// podResolver resolves 10.0.0.0/8 to pods of workload "Deployment/w",
// anything else as external.
type podResolver struct{}

func (podResolver) ResolveRecord(r *flow.Record, res *correlate.Resolution) {
	res.Src = correlate.Candidate{IP: r.Src.IP, Port: r.Src.Port}
	res.Dst = append(res.Dst[:0], correlate.Candidate{IP: r.Dst.IP, Port: r.Dst.Port})
	for _, e := range []*flow.Endpoint{&r.Src, &r.Dst} {
		if netip.MustParsePrefix("10.0.0.0/8").Contains(e.IP) {
			e.Kind, e.Namespace, e.Workload = flow.KindPod, "ns", "Deployment/w"
		} else {
			e.Kind = flow.KindExternal
		}
	}
}

// portEngine denies port 22 on egress and allows everything else.
type portEngine struct{}

func (portEngine) Evaluate(f *policy.Flow) policy.Verdict {
	var v policy.Verdict
	v.Egress.Decision = policy.Allow
	if f.Port == 22 {
		v.Egress.Decision = policy.Deny
	}
	return v
}

// novelInspector calls 203.0.113.99 new.
type novelInspector struct{}

func (novelInspector) NovelConn(r *flow.Record, _ *baseline.Handle, _ bool) anomaly.Class {
	if r.Dst.IP == netip.MustParseAddr("203.0.113.99") {
		return anomaly.NewDestination
	}
	return 0
}

// collectSink keeps copies of what it consumes.
type collectSink struct {
	mu   sync.Mutex
	recs []flow.Record
	anom []anomaly.Class
}

func (*collectSink) Name() string { return "collect" }
func (s *collectSink) Consume(events []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range events {
		s.recs = append(s.recs, events[i].Record)
		s.anom = append(s.anom, events[i].Anomaly)
	}
}

func policies() *atomic.Pointer[Policies] {
	p := &atomic.Pointer[Policies]{}
	p.Store(&Policies{Engine: portEngine{}})
	return p
}

func record(src, dst string, port uint16, observed flow.Observed) flow.Record {
	return flow.Record{
		Src:      flow.Endpoint{IP: netip.MustParseAddr(src), Port: 40000},
		Dst:      flow.Endpoint{IP: netip.MustParseAddr(dst), Port: port},
		Protocol: flow.TCP, Observed: observed, Packets: 1, Bytes: 60,
	}
}

func TestStagesEnrichInOrder(t *testing.T) {
	in := make(chan flow.Record, 16)
	sink := &collectSink{}
	m := newCountMeter()
	p, err := New(Config{In: in, Resolver: podResolver{}, Policies: policies(), Inspector: novelInspector{},
		Sinks: []Sink{sink}, Meter: m, Wait: true, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	in <- record("10.0.0.1", "10.0.0.2", 8000, flow.Forwarded)
	in <- record("10.0.0.1", "10.0.0.2", 22, flow.Forwarded)
	in <- record("10.0.0.1", "10.0.0.2", 22, flow.Dropped)
	in <- record("10.0.0.1", "169.254.169.254", 80, flow.Forwarded)
	in <- record("198.51.100.1", "203.0.113.1", 80, flow.Forwarded)
	in <- record("10.0.0.1", "203.0.113.99", 443, flow.Forwarded)
	close(in)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	type want struct {
		verdict, violation string
		anomaly            anomaly.Class
		dstKind            flow.Kind
	}
	wants := []want{
		{"allow", "", 0, flow.KindPod},
		{"deny", "would-deny", 0, flow.KindPod},
		{"deny", "denied", 0, flow.KindPod},
		{"allow", "anomalous-egress", anomaly.Metadata, flow.KindExternal},
		{"allow", "", 0, flow.KindExternal},
		{"allow", "anomalous-egress", anomaly.NewDestination, flow.KindExternal},
	}
	if len(sink.recs) != len(wants) {
		t.Fatalf("sink got %d records, want %d", len(sink.recs), len(wants))
	}
	for i, w := range wants {
		r := sink.recs[i]
		got := want{r.Verdict, r.Violation, sink.anom[i], r.Dst.Kind}
		if got != w {
			t.Errorf("record %d: %+v, want %+v", i, got, w)
		}
	}
	if e, l := m.get("collect"); e != 6 || l != 0 {
		t.Errorf("sink entered %d lost %d, want 6 and 0", e, l)
	}
}

// stuckSink never returns from Consume until released: a sink that never
// reads its queue.
type stuckSink struct {
	release chan struct{}
	got     atomic.Uint64
}

func (*stuckSink) Name() string { return "stuck" }
func (s *stuckSink) Consume(events []Event) {
	s.got.Add(uint64(len(events)))
	<-s.release
}

// countSink counts and keeps nothing.
type countSink struct{ n atomic.Uint64 }

func (*countSink) Name() string             { return "count" }
func (s *countSink) Consume(events []Event) { s.n.Add(uint64(len(events))) }

func TestOverloadedSinkLosesAndCounts(t *testing.T) {
	const sent = 300_000
	in := make(chan flow.Record, 1024)
	stuck := &stuckSink{release: make(chan struct{})}
	fast := &countSink{}
	m := newCountMeter()
	p, err := New(Config{In: in, Resolver: podResolver{}, Policies: policies(),
		Sinks: []Sink{stuck, fast}, Meter: m, QueueSize: 8, BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := record("10.0.0.1", "203.0.113.1", 443, flow.Forwarded)
	for i := range sent {
		r.Src.Port = uint16(i)
		in <- r // the producer is never blocked by the stuck sink
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	close(in)

	// The fast sink drains; the stuck one is released and the rest of its
	// queue is counted at shutdown.
	for limit := time.Now().Add(time.Minute); ; {
		upstream := uint64(0)
		for _, s := range []string{StageCorrelate, StageEvaluate, StageSinks} {
			_, l := m.get(s)
			upstream += l
		}
		e, l := m.get("count")
		if e+l+upstream == sent {
			break
		}
		if time.Now().After(limit) {
			t.Fatalf("the fast sink's path accounts for %d of %d records", e+l+upstream, sent)
		}
		time.Sleep(time.Millisecond)
	}
	// Still stuck: it took one batch, and the rest of what it was sent is
	// already counted as lost (its queue holds at most 8 batches).
	if e, _ := m.get("stuck"); e != stuck.got.Load() || e > 64 {
		t.Errorf("stuck sink: entered %d, consumed %d; it took one batch at most (64)", e, stuck.got.Load())
	}
	close(stuck.release)
	cancel()
	<-done

	upstream := uint64(0)
	for _, s := range []string{StageCorrelate, StageEvaluate, StageSinks} {
		_, l := m.get(s)
		upstream += l
	}
	for _, name := range []string{"stuck", "count"} {
		e, l := m.get(name)
		if e+l+upstream != sent {
			t.Errorf("%s: delivered %d + lost %d + lost upstream %d = %d, want %d", name, e, l, upstream, e+l+upstream, sent)
		}
	}
	if _, l := m.get("stuck"); l == 0 {
		t.Error("stuck sink lost nothing")
	}
	if fast.n.Load() == 0 {
		t.Error("the fast sink got nothing: the stuck one held it back")
	}
	// Memory stays bounded by the queues: 300,000 records would take
	// over 100 MiB if anything kept them.
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 32<<20 {
		t.Errorf("heap grew by %d MiB while the sink was stuck", grown>>20)
	}
	t.Logf("sent %d: count sink %d, stuck sink consumed %d; lost upstream %d", sent, fast.n.Load(), stuck.got.Load(), upstream)
}
