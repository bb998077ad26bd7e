package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc"

	"github.com/flow-auditor/flow-auditor/flow"
)

// countingStream is a GetFlows stream that only counts what it is sent.
type countingStream struct {
	grpc.ServerStream
	ctx   context.Context
	flows int
}

func (s *countingStream) Send(*observer.GetFlowsResponse) error { s.flows++; return nil }
func (s *countingStream) Context() context.Context              { return s.ctx }

func benchRecords() []flow.Record {
	recs := scenario()
	out := make([]flow.Record, 0, 4096)
	for i := range cap(out) {
		r := recs[i%len(recs)]
		r.TimeFirst = t0.Add(time.Duration(i) * time.Millisecond)
		out = append(out, r)
	}
	return out
}

// BenchmarkRingAdd is the cost a pipeline pays per flow to keep it for
// Hubble clients.
func BenchmarkRingAdd(b *testing.B) {
	recs := benchRecords()
	srv := New(Config{Capacity: DefaultCapacity})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		srv.Add(recs[i%len(recs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// BenchmarkRingAddWithFollowers adds while four followers read every new
// flow (converting and filtering it): writers must not slow down much.
func BenchmarkRingAddWithFollowers(b *testing.B) {
	recs := benchRecords()
	srv := New(Config{Capacity: DefaultCapacity})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			q := &query{follow: true}
			q.white, _ = compile([]*flowpb.FlowFilter{{SourcePod: []string{"ai-agents/"}}})
			_ = srv.followFrom(ctx, q, 0, &countingStream{ctx: ctx})
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		srv.Add(recs[i%len(recs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
	b.StopTimer()
	cancel()
	wg.Wait()
	b.ReportMetric(float64(srv.Stats().FollowerLost)/float64(4*b.N), "lost/flow")
}

// BenchmarkGetFlowsFilter scans a full ring of 4096 flows (converted
// already) with each filter kind; flows/s counts flows scanned.
func BenchmarkGetFlowsFilter(b *testing.B) {
	srv := New(Config{Capacity: 4096})
	for _, r := range benchRecords() {
		srv.Add(r)
	}
	for _, tc := range []struct {
		name string
		ff   []*flowpb.FlowFilter
	}{
		{"none", nil},
		{"namespace", []*flowpb.FlowFilter{{SourcePod: []string{"databases/"}}, {DestinationPod: []string{"databases/"}}}},
		{"label", []*flowpb.FlowFilter{{SourceLabel: []string{"k8s:role=specialist-agent"}}}},
		{"verdict", []*flowpb.FlowFilter{{Verdict: []flowpb.Verdict{flowpb.Verdict_DROPPED}}}},
		{"port+protocol", []*flowpb.FlowFilter{{DestinationPort: []string{"5432"}, Protocol: []string{"tcp"}}}},
		{"cidr", []*flowpb.FlowFilter{{DestinationIp: []string{"169.254.0.0/16"}}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			stream := &countingStream{ctx: context.Background()}
			req := &observer.GetFlowsRequest{Whitelist: tc.ff}
			b.ReportAllocs()
			for b.Loop() {
				if err := srv.GetFlows(req, stream); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(4096*b.N)/b.Elapsed().Seconds(), "flows/s")
			b.ReportMetric(float64(stream.flows)/float64(b.N), "sent/op")
		})
	}
}

// BenchmarkGetFlowsFirstRead is the first read of fresh flows, which
// converts each to Hubble's form (later reads reuse it).
func BenchmarkGetFlowsFirstRead(b *testing.B) {
	for _, n := range []int{4096} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			recs := benchRecords()
			stream := &countingStream{ctx: context.Background()}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				srv := New(Config{Capacity: n})
				for _, r := range recs[:n] {
					srv.Add(r)
				}
				b.StartTimer()
				if err := srv.GetFlows(&observer.GetFlowsRequest{}, stream); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "flows/s")
		})
	}
}
