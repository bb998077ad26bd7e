package hubble

import (
	"slices"
	"strings"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"

	"github.com/flow-auditor/flow-auditor/flow"
)

// history is what the Hubble server in the test holds: DROPPED by policy,
// AUDIT and FORWARDED flows, a lost-events notice, a VRRP flow, and two
// flows at the same instant (t0+4s) that a restart falls between.
func history() []*observer.GetFlowsResponse {
	allowed := hubbleFlow(1000, 0, flowpb.Verdict_FORWARDED, false)
	allowed.TrafficDirection = flowpb.TrafficDirection_INGRESS
	allowed.IngressAllowedBy = []*flowpb.Policy{{Name: "allow-gateway", Namespace: "ai-agents", Kind: "NetworkPolicy"}}

	denied := hubbleFlow(1001, 1, flowpb.Verdict_DROPPED, false)
	denied.DropReasonDesc = flowpb.DropReason_POLICY_DENIED
	denied.TrafficDirection = flowpb.TrafficDirection_EGRESS
	denied.EgressDeniedBy = []*flowpb.Policy{{Name: "deny-specialists", Namespace: "ai-agents", Kind: "CiliumNetworkPolicy"}}

	lost := &observer.GetFlowsResponse{ResponseTypes: &observer.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{
		Source: flowpb.LostEventSource_PERF_EVENT_RING_BUFFER, NumEventsLost: 7,
	}}}

	audit := hubbleFlow(1003, 2, flowpb.Verdict_AUDIT, false)
	audit.TrafficDirection = flowpb.TrafficDirection_INGRESS

	vrrp := hubbleFlow(1004, 3, flowpb.Verdict_FORWARDED, false)
	vrrp.L4 = &flowpb.Layer4{Protocol: &flowpb.Layer4_VRRP{VRRP: &flowpb.VRRP{Type: 1}}}

	boundaryA := hubbleFlow(1005, 4, flowpb.Verdict_FORWARDED, true)
	boundaryB := hubbleFlow(1006, 4, flowpb.Verdict_FORWARDED, false)

	kernelDrop := hubbleFlow(1007, 5, flowpb.Verdict_DROPPED, false)
	kernelDrop.DropReasonDesc = flowpb.DropReason_CT_MAP_INSERTION_FAILED

	return []*observer.GetFlowsResponse{
		resp(allowed), resp(denied), lost, resp(audit), resp(vrrp), resp(boundaryA),
		// A restart happens here.
		resp(boundaryB), resp(kernelDrop), resp(hubbleFlow(1008, 6, flowpb.Verdict_FORWARDED, false)),
	}
}

func ports(recs []flow.Record) []int {
	out := make([]int, 0, len(recs))
	for _, r := range recs {
		out = append(out, int(r.Src.Port))
	}
	return out
}

// TestSourceFollowsAndResumesAcrossARestart streams the history from a
// Hubble server that dies after the first flow at t0+4s, then comes back
// on the same address with the whole history. The source must reconnect,
// ask from t0+4s, drop the one flow it already had, and deliver the rest:
// every flow exactly once, in order.
func TestSourceFollowsAndResumesAcrossARestart(t *testing.T) {
	hist := history()
	first := newFake(hist[:6])
	addr, stop := startFake(t, first, "127.0.0.1:0", nil)

	src, err := New(Config{Server: addr, BackoffInitial: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	run(t, src)

	before := receive(t, src, 4)
	if got, want := ports(before), []int{1000, 1001, 1003, 1005}; !slices.Equal(got, want) {
		t.Fatalf("before the restart: got flows %v, want %v", got, want)
	}
	if req := <-first.reqs; !req.GetFollow() || req.GetSince() != nil {
		t.Errorf("first request: follow %v since %v, want follow from now", req.GetFollow(), req.GetSince())
	}

	stop()
	// While the server is down the source keeps trying, backing off.
	waitFor(t, "reconnect attempts while down", func() bool { return src.Stats().Reconnects >= 2 })
	second := newFake(hist)
	startFake(t, second, addr, nil)

	after := receive(t, src, 3)
	if got, want := ports(after), []int{1006, 1007, 1008}; !slices.Equal(got, want) {
		t.Fatalf("after the restart: got flows %v, want %v (no repeats, no gaps)", got, want)
	}
	req := <-second.reqs
	if !req.GetFollow() || req.GetSince() == nil || !req.GetSince().AsTime().Equal(t0.Add(4*time.Second)) {
		t.Errorf("resume request: follow %v since %v, want follow since %v", req.GetFollow(), req.GetSince(), t0.Add(4*time.Second))
	}

	waitFor(t, "all flows received", func() bool { return src.Stats().Received == 9 })
	st := src.Stats()
	if st.Emitted != 7 || st.Duplicates != 1 || st.Unsupported != 1 || st.UpstreamLost != 7 || st.QueueFull != 0 || st.Invalid != 0 {
		t.Errorf("stats = %+v, want 9 received: 7 emitted, 1 duplicate, 1 unsupported; 7 lost upstream", st)
	}
	select {
	case r := <-src.Records():
		t.Errorf("an extra record: %+v", r)
	default:
	}

	byPort := map[int]flow.Record{}
	for _, r := range append(before, after...) {
		byPort[int(r.Src.Port)] = r
	}
	allowed, denied, audit, kernelDrop := byPort[1000], byPort[1001], byPort[1003], byPort[1007]
	if allowed.Observed != flow.Forwarded || allowed.Violation != "" || allowed.Ingress != "allow" ||
		!strings.Contains(allowed.Explanation, "ingress allowed by NetworkPolicy ai-agents/allow-gateway") {
		t.Errorf("FORWARDED with ingress_allowed_by: %+v", allowed)
	}
	if denied.Observed != flow.Dropped || denied.DropReason != "POLICY_DENIED" || denied.Violation != "denied" ||
		denied.Verdict != "deny" || denied.Egress != "deny" ||
		!strings.Contains(denied.Explanation, "egress denied by CiliumNetworkPolicy ai-agents/deny-specialists") {
		t.Errorf("DROPPED by policy: %+v", denied)
	}
	if audit.Observed != flow.Forwarded || audit.Violation != "would-deny" || audit.Verdict != "deny" || audit.Ingress != "deny" {
		t.Errorf("AUDIT: %+v", audit)
	}
	if kernelDrop.Observed != flow.Dropped || kernelDrop.DropReason != "CT_MAP_INSERTION_FAILED" || kernelDrop.Violation != "" {
		t.Errorf("DROPPED not by policy: %+v", kernelDrop)
	}
	if r := byPort[1005]; r.Protocol != flow.UDP || r.Src.Namespace != "ai-agents" || r.Dst.Pod != "specialist-agent-a" ||
		r.Src.Labels["role"] != "triage-agent" || !r.TimeFirst.Equal(t0.Add(4*time.Second)) || r.Node != "node-a" {
		t.Errorf("converted record: %+v", r)
	}
}

// TestSourceDropsAndCountsWhenTheConsumerIsSlow: nobody reads; the source
// keeps receiving, keeps what fits the buffer and counts the rest.
func TestSourceDropsAndCountsWhenTheConsumerIsSlow(t *testing.T) {
	var hist []*observer.GetFlowsResponse
	for i := range 10 {
		hist = append(hist, resp(hubbleFlow(uint32(2000+i), float64(i), flowpb.Verdict_FORWARDED, false)))
	}
	addr, _ := startFake(t, newFake(hist), "127.0.0.1:0", nil)
	src, err := New(Config{Server: addr, BufferSize: 2})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	run(t, src)
	waitFor(t, "10 flows received", func() bool { return src.Stats().Received == 10 })
	if st := src.Stats(); st.Emitted != 2 || st.QueueFull != 8 {
		t.Errorf("stats = %+v, want 2 emitted and 8 dropped for a full queue", st)
	}
	if got := ports(receive(t, src, 2)); !slices.Equal(got, []int{2000, 2001}) {
		t.Errorf("buffered records = %v, want the first two", got)
	}
}

func TestSourceStartsFromConfiguredSince(t *testing.T) {
	fake := newFake(history())
	addr, _ := startFake(t, fake, "127.0.0.1:0", nil)
	src, err := New(Config{Server: addr, Since: t0.Add(5 * time.Second)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	run(t, src)
	if got := ports(receive(t, src, 2)); !slices.Equal(got, []int{1007, 1008}) {
		t.Errorf("flows since t0+5s = %v, want [1007 1008]", got)
	}
	if req := <-fake.reqs; !req.GetSince().AsTime().Equal(t0.Add(5 * time.Second)) {
		t.Errorf("request since = %v", req.GetSince())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no server":        {},
		"cert without key": {Server: "127.0.0.1:4245", TLS: TLSConfig{CertFile: "/nonexistent/tls.crt"}},
		"missing CA file":  {Server: "127.0.0.1:4245", TLS: TLSConfig{CAFile: "/nonexistent/ca.crt"}},
		"missing key pair": {Server: "127.0.0.1:4245", TLS: TLSConfig{CertFile: "/nonexistent/tls.crt", KeyFile: "/nonexistent/tls.key"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestBackoffDoublesWithJitterUpToTheCap(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	for round := range 2 {
		for _, d := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
			d *= time.Millisecond
			if got := b.next(); got < d/2 || got > d {
				t.Errorf("round %d: delay %v, want within [%v, %v]", round, got, d/2, d)
			}
		}
		b.reset()
	}
}
