package server

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flow-auditor/flow-auditor/flow"
)

// newFlow is scenario flow base with source port 40000+i, i seconds after t0.
func newFlow(base flow.Record, i int) flow.Record {
	base.Src.Port = uint16(40000 + i)
	base.TimeFirst = t0.Add(time.Duration(i) * time.Second)
	base.TimeLast = base.TimeFirst
	return base
}

func TestGetFlowsFollow(t *testing.T) {
	srv, c, _ := newScenarioServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// --last 2 --follow, only UDP and ICMP (not TCP).
	stream, err := c.GetFlows(ctx, &observer.GetFlowsRequest{
		Number: 2, Follow: true,
		Blacklist: []*flowpb.FlowFilter{{Protocol: []string{"tcp"}}},
	})
	if err != nil {
		t.Fatalf("GetFlows: %v", err)
	}
	next := func() int {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		return scenarioIndex(resp.GetFlow())
	}
	if got := []int{next(), next()}; !slices.Equal(got, []int{5, 7}) {
		t.Fatalf("history: got %v, want [5 7]", got)
	}
	// New flows: TCP ones are filtered out, the UDP ones arrive in order.
	recs := scenario()
	dns, tcp := recs[5], recs[1]
	for i := 8; i < 14; i++ {
		if i%2 == 0 {
			srv.Add(newFlow(dns, i))
		} else {
			srv.Add(newFlow(tcp, i))
		}
	}
	if got := []int{next(), next(), next()}; !slices.Equal(got, []int{8, 10, 12}) {
		t.Errorf("followed: got %v, want [8 10 12]", got)
	}
	if n := srv.Stats().Followers; n != 1 {
		t.Errorf("Followers = %d, want 1", n)
	}
}

func TestGetFlowsFollowUntilEnds(t *testing.T) {
	srv, c, _ := newScenarioServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := c.GetFlows(ctx, &observer.GetFlowsRequest{
		Follow: true, Until: timestamppb.New(t0.Add(9 * time.Second)),
	})
	if err != nil {
		t.Fatalf("GetFlows: %v", err)
	}
	waitFor(t, func() bool { return srv.Stats().Followers == 1 })
	base := scenario()[5]
	for i := 8; i < 12; i++ {
		srv.Add(newFlow(base, i))
	}
	var got []int
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		got = append(got, scenarioIndex(resp.GetFlow()))
	}
	if !slices.Equal(got, []int{8, 9}) {
		t.Errorf("follow until t0+9s: got %v, want [8 9] and the end of the stream", got)
	}
}

// TestSlowFollowerLosesCountedFlowsWithoutBlockingWriters has a follower
// that does not read while many more flows than the ring holds arrive.
// Adding must not wait for it; afterwards every flow added is either
// received or reported lost in a LostEvent, and the server counts the same.
func TestSlowFollowerLosesCountedFlowsWithoutBlockingWriters(t *testing.T) {
	srv := New(Config{Capacity: 16, NodeName: "node-a"})
	c, _ := serve(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := c.GetFlows(ctx, &observer.GetFlowsRequest{Follow: true})
	if err != nil {
		t.Fatalf("GetFlows: %v", err)
	}
	waitFor(t, func() bool { return srv.Stats().Followers == 1 })

	const total = 20000
	base := scenario()[2]
	for i := range total {
		srv.Add(newFlow(base, i))
	}

	var received, lost uint64
	last := -1
	for received+lost < total {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv after %d received, %d lost: %v", received, lost, err)
		}
		if le := resp.GetLostEvents(); le != nil {
			if le.GetSource() != flowpb.LostEventSource_HUBBLE_RING_BUFFER {
				t.Errorf("lost event source = %v", le.GetSource())
			}
			lost += le.GetNumEventsLost()
			continue
		}
		if seq := int(resp.GetFlow().GetTime().AsTime().Sub(t0) / time.Second); seq <= last {
			t.Fatalf("flow %d after flow %d: out of order or repeated", seq, last)
		} else {
			last = seq
		}
		received++
	}
	if received+lost != total {
		t.Errorf("received %d + lost %d = %d, want %d", received, lost, received+lost, total)
	}
	if lost == 0 {
		t.Errorf("a follower that did not read lost nothing of %d flows through a ring of 16", total)
	}
	if got := srv.Stats().FollowerLost; got != lost {
		t.Errorf("server counts %d lost, the follower was told %d", got, lost)
	}
	t.Logf("follower received %d, lost %d of %d", received, lost, total)
}

func TestServeEndsFollowersOnShutdown(t *testing.T) {
	srv := New(Config{NodeName: "node-a"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer conn.Close()
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := observer.NewObserverClient(conn).GetFlows(rctx, &observer.GetFlowsRequest{Follow: true})
	if err != nil {
		t.Fatalf("GetFlows: %v", err)
	}
	waitFor(t, func() bool { return srv.Stats().Followers == 1 })
	stop()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("follow stream at shutdown: %v, want a clean end (EOF)", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
