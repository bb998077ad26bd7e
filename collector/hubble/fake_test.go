package hubble

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flow-auditor/flow-auditor/flow"
)

// fakeObserver is a Hubble server in the test: GetFlows replays its
// history (from the request's since on), then holds the stream open as a
// follow stream does, until the client or the server goes away.
type fakeObserver struct {
	observer.UnimplementedObserverServer
	history []*observer.GetFlowsResponse
	reqs    chan *observer.GetFlowsRequest
}

func newFake(history []*observer.GetFlowsResponse) *fakeObserver {
	return &fakeObserver{history: history, reqs: make(chan *observer.GetFlowsRequest, 100)}
}

func (f *fakeObserver) GetFlows(req *observer.GetFlowsRequest, stream observer.Observer_GetFlowsServer) error {
	f.reqs <- req
	for _, r := range f.history {
		if since := req.GetSince(); since != nil {
			// As Hubble: flows at or after since; lost events are not replayed.
			if r.GetFlow() == nil || r.GetFlow().GetTime().AsTime().Before(since.AsTime()) {
				continue
			}
		}
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	<-stream.Context().Done()
	return nil
}

// startFake serves fake on addr ("127.0.0.1:0" for any port), with TLS
// when tc is set, and returns the address and a stop function.
func startFake(t *testing.T, fake *fakeObserver, addr string, tc *tls.Config) (string, func()) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	var opts []grpc.ServerOption
	if tc != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	g := grpc.NewServer(opts...)
	observer.RegisterObserverServer(g, fake)
	go func() { _ = g.Serve(lis) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			g.Stop()
		}
	}
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

// t0 is the time of the first test flow.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// hubbleFlow is a TCP (or, with udp, UDP) flow from the triage agent to
// the specialist agent, at t0+sec, with source port port to tell it apart.
func hubbleFlow(port uint32, sec float64, v flowpb.Verdict, udp bool) *flowpb.Flow {
	f := &flowpb.Flow{
		Time:     timestamppb.New(t0.Add(time.Duration(sec * float64(time.Second)))),
		Verdict:  v,
		NodeName: "node-a",
		IP:       &flowpb.IP{Source: "10.0.1.10", Destination: "10.0.1.11", IpVersion: flowpb.IPVersion_IPv4},
		L4:       &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{SourcePort: port, DestinationPort: 8000, Flags: &flowpb.TCPFlags{SYN: true}}}},
		Source: &flowpb.Endpoint{Namespace: "ai-agents", PodName: "triage-agent-7d9f",
			Labels: []string{"k8s:app=ai-agent", "k8s:role=triage-agent", "k8s:io.kubernetes.pod.namespace=ai-agents"}},
		Destination: &flowpb.Endpoint{Namespace: "ai-agents", PodName: "specialist-agent-a",
			Labels: []string{"k8s:app=ai-agent", "k8s:role=specialist-agent", "k8s:io.kubernetes.pod.namespace=ai-agents"}},
		Type: flowpb.FlowType_L3_L4,
	}
	if udp {
		f.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{SourcePort: port, DestinationPort: 53}}}
	}
	return f
}

func resp(f *flowpb.Flow) *observer.GetFlowsResponse {
	return &observer.GetFlowsResponse{
		ResponseTypes: &observer.GetFlowsResponse_Flow{Flow: f},
		NodeName:      f.GetNodeName(),
		Time:          f.GetTime(),
	}
}

// receive reads n records from the source, failing after 30s.
func receive(t *testing.T, s *Source, n int) []flow.Record {
	t.Helper()
	out := make([]flow.Record, 0, n)
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case r, ok := <-s.Records():
			if !ok {
				t.Fatalf("records closed after %d of %d", len(out), n)
			}
			out = append(out, r)
		case <-timeout:
			t.Fatalf("received %d of %d records within 30s; stats %+v", len(out), n, s.Stats())
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run starts s and stops it at the end of the test, checking that Run
// returns nil and closes Records.
func run(t *testing.T, s *Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return within 30s of cancel")
		}
		for range s.Records() { // drains, and ends only if closed
		}
	})
}
