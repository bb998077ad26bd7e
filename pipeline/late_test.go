package pipeline

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

// lateResolver knows 10.0.0.0/8 as pods and, once arrived is set, also the
// pod at 192.0.2.7: a pod the inventory learns of after its first flow.
type lateResolver struct {
	arrived atomic.Bool
	version atomic.Uint64
}

func (r *lateResolver) Version() uint64 { return r.version.Load() }

func (r *lateResolver) ResolveRecord(rec *flow.Record, res *correlate.Resolution) {
	podResolver{}.ResolveRecord(rec, res)
	if r.arrived.Load() && rec.Dst.IP == netip.MustParseAddr("192.0.2.7") {
		rec.Dst.Kind, rec.Dst.Namespace, rec.Dst.Workload = flow.KindPod, "late", "Deployment/late"
	}
}

// TestFlowBeforeItsPodIsResolvedOnceThePodArrives feeds two drains of one
// connection, the pod of its destination arriving in between: the second
// drain's record must name the pod, although the connection's judgement is
// otherwise reused. Without an inventory change nothing is resolved again.
func TestFlowBeforeItsPodIsResolvedOnceThePodArrives(t *testing.T) {
	for _, tc := range []struct {
		name        string
		bumpVersion bool
		want        flow.Kind
	}{
		{"inventory changed", true, flow.KindPod},
		{"inventory unchanged", false, flow.KindExternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := &lateResolver{}
			in := make(chan flow.Record)
			sink := &collectSink{}
			p, err := New(Config{In: in, Resolver: res, Policies: policies(), Sinks: []Sink{sink}, Wait: true, BatchSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- p.Run(context.Background()) }()

			first := record("10.0.0.1", "192.0.2.7", 8000, flow.Forwarded)
			first.TimeFirst = time.Unix(1000, 0)
			in <- first
			waitFor(t, func() bool { sink.mu.Lock(); defer sink.mu.Unlock(); return len(sink.recs) == 1 })

			res.arrived.Store(true)
			if tc.bumpVersion {
				res.version.Add(1)
			}
			second := first
			second.TimeFirst = time.Unix(1005, 0)
			in <- second
			close(in)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if len(sink.recs) != 2 {
				t.Fatalf("sink got %d records, want 2", len(sink.recs))
			}
			if got := sink.recs[0].Dst.Kind; got != flow.KindExternal {
				t.Errorf("first record's destination is %q, want external", got)
			}
			if got := sink.recs[1].Dst.Kind; got != tc.want {
				t.Errorf("second record's destination is %q, want %q", got, tc.want)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
