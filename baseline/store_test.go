package baseline

import (
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
	"github.com/flow-auditor/flow-auditor/flow"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func pod(ns, workload, ip string) flow.Endpoint {
	return flow.Endpoint{Kind: flow.KindPod, Namespace: ns, Workload: workload, Pod: "p", IP: netip.MustParseAddr(ip), Node: "node-1"}
}

func external(ip, fqdn string, port uint16) flow.Endpoint {
	return flow.Endpoint{Kind: flow.KindExternal, IP: netip.MustParseAddr(ip), FQDN: fqdn, Port: port}
}

func rec(at time.Time, src, dst flow.Endpoint) *flow.Record {
	return &flow.Record{TimeFirst: at, TimeLast: at.Add(time.Second), Src: src, Dst: dst, Protocol: flow.TCP, Packets: 3, Bytes: 300}
}

func TestNoveltyAfterLearning(t *testing.T) {
	s := NewStore(Options{LearningPeriod: time.Hour, MaxPeers: 16, Node: "node-1"})
	agentPod := pod("ai", "Deployment/triage", "10.0.0.1")
	llm := external("203.0.113.10", "api.llm.example", 443)

	// During learning nothing is new, whatever it is.
	if n := s.Observe(rec(t0, agentPod, llm), false); n != 0 {
		t.Fatalf("learning: novelty %b, want none", n)
	}
	after := t0.Add(2 * time.Hour)
	cases := []struct {
		name string
		dst  flow.Endpoint
		want Novelty
	}{
		{"learned peer", llm, 0},
		{"known destination, new port", external("203.0.113.10", "api.llm.example", 8443), NewPort},
		{"new destination, known name", external("203.0.113.11", "api.llm.example", 443), NewDestination},
		{"new destination, new name", external("198.51.100.7", "evil.example", 443), NewDestination | NewFQDN},
		{"known destination, new name", external("203.0.113.10", "other.example", 443), NewFQDN},
		{"new pod workload", pod("db", "StatefulSet/postgresql", "10.0.1.5"), NewDestination},
	}
	for _, c := range cases {
		if c.dst.Port == 0 {
			c.dst.Port = 5432
		}
		if got := s.Observe(rec(after, agentPod, c.dst), false); got != c.want {
			t.Errorf("%s: novelty %b, want %b", c.name, got, c.want)
		}
	}
	// Seen after learning is still not learned: it stays novel until approved.
	if got := s.Observe(rec(after.Add(time.Minute), agentPod, external("198.51.100.7", "evil.example", 443)), false); got != NewDestination|NewFQDN {
		t.Errorf("repeat of an unapproved peer: novelty %b, want %b", got, NewDestination|NewFQDN)
	}
}

func TestApprovalAcceptsWhatWasSeen(t *testing.T) {
	s := NewStore(Options{LearningPeriod: time.Minute, MaxPeers: 16, Node: "node-1"})
	src := pod("ai", "Deployment/triage", "10.0.0.1")
	s.Observe(rec(t0, src, external("203.0.113.10", "", 443)), false)
	late := t0.Add(time.Hour)
	evil := external("198.51.100.7", "", 443)
	if got := s.Observe(rec(late, src, evil), false); got != NewDestination {
		t.Fatalf("before approval: novelty %b, want new destination", got)
	}
	// The approve command writes spec.approvedAt; the writer's sync merges it.
	obj := s.Objects()[0]
	obj.Spec.ApprovedAt = &metav1.Time{Time: late.Add(time.Second)}
	s.Merge([]v1alpha1.ObservedTraffic{*obj})
	if got := s.Observe(rec(late.Add(time.Minute), src, evil), false); got != 0 {
		t.Errorf("after approval: novelty %b, want none", got)
	}
	if got := s.Observe(rec(late.Add(time.Minute), src, external("192.0.2.99", "", 443)), false); got != NewDestination {
		t.Errorf("a peer first seen after the approval: novelty %b, want new destination", got)
	}
}

func TestBoundedPerDirection(t *testing.T) {
	s := NewStore(Options{LearningPeriod: time.Hour, MaxPeers: 4, Node: "node-1"})
	src := pod("ai", "Deployment/triage", "10.0.0.1")
	for i := range 10 {
		ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)})
		s.Observe(rec(t0, src, flow.Endpoint{Kind: flow.KindExternal, IP: ip, Port: 443}), false)
	}
	objs := s.Objects()
	if len(objs) != 1 {
		t.Fatalf("objects: %d, want 1", len(objs))
	}
	o := objs[0]
	if len(o.Status.Peers) != 4 || o.Status.PeerCount != 4 {
		t.Errorf("peers: %d (count %d), want 4", len(o.Status.Peers), o.Status.PeerCount)
	}
	if o.Status.Overflow == nil || o.Status.Overflow.Flows != 6 || o.Status.Overflow.Packets != 18 {
		t.Errorf("overflow: %+v, want 6 flows, 18 packets", o.Status.Overflow)
	}
}

func TestIngressProfileOfDestination(t *testing.T) {
	s := NewStore(Options{LearningPeriod: time.Hour, MaxPeers: 8, Node: "node-1"})
	gw := pod("gw", "Deployment/gateway", "10.0.0.9")
	agentPod := pod("ai", "Deployment/triage", "10.0.0.1")
	agentPod.Port = 8000
	r := rec(t0, gw, agentPod)
	r.Verdict = "deny"
	s.Observe(r, false)
	s.Observe(r, false)
	objs := s.Objects()
	if len(objs) != 2 {
		t.Fatalf("objects: %d, want 2 (gateway egress, triage ingress)", len(objs))
	}
	var ing *v1alpha1.ObservedPeer
	for _, o := range objs {
		if o.Spec.Workload == "Deployment/triage" {
			ing = &o.Status.Peers[0]
		}
	}
	if ing == nil {
		t.Fatal("no object for the destination workload")
	}
	want := v1alpha1.ObservedPeer{Direction: "ingress", Kind: "pod", Namespace: "gw", Workload: "Deployment/gateway",
		Protocol: "TCP", Port: 8000, Flows: 2, Packets: 6, Bytes: 600, Denied: 2}
	ing.FirstSeen, ing.LastSeen = metav1.Time{}, metav1.Time{}
	if ing.Direction != want.Direction || ing.Kind != want.Kind || ing.Workload != want.Workload || ing.Port != want.Port ||
		ing.Flows != want.Flows || ing.Packets != want.Packets || ing.Denied != want.Denied {
		t.Errorf("ingress peer = %+v, want %+v", *ing, want)
	}
}

func TestMergeAdoptsAndShares(t *testing.T) {
	// Another node's agent learned the peer; this node's pod of the same
	// workload starts after learning and must not flag it.
	other := NewStore(Options{LearningPeriod: time.Hour, Node: "node-2"})
	src := pod("ai", "Deployment/triage", "10.0.0.1")
	src.Node = "node-2"
	other.Observe(rec(t0, src, external("203.0.113.10", "api.llm.example", 443)), false)

	s := NewStore(Options{LearningPeriod: time.Hour, Node: "node-1"})
	objs := other.Objects()
	s.Merge([]v1alpha1.ObservedTraffic{*objs[0]})
	here := pod("ai", "Deployment/triage", "10.0.0.2")
	if got := s.Observe(rec(t0.Add(3*time.Hour), here, external("203.0.113.10", "api.llm.example", 443)), false); got != 0 {
		t.Errorf("peer learned on another node: novelty %b, want none", got)
	}
	if got := s.Observe(rec(t0.Add(3*time.Hour), here, external("203.0.113.99", "", 443)), false); got != NewDestination {
		t.Errorf("learning start inherited: novelty %b, want new destination", got)
	}

	// A restarted agent adopts its own node's object and keeps counting.
	s2 := NewStore(Options{LearningPeriod: time.Hour, Node: "node-2"})
	s2.Merge([]v1alpha1.ObservedTraffic{*objs[0]})
	s2.Observe(rec(t0.Add(time.Minute), src, external("203.0.113.10", "api.llm.example", 443)), false)
	got := s2.Objects()[0].Status.Peers[0].Flows
	if got != 2 {
		t.Errorf("adopted peer flows = %d, want 2", got)
	}
}

func TestObjectName(t *testing.T) {
	if got := ObjectName(Key{"ai", "Deployment/triage-agent", "node-1"}); got != "deployment.triage-agent.node-1" {
		t.Errorf("name = %q", got)
	}
	long := ObjectName(Key{"ai", "Deployment/" + string(make([]byte, 0)) + longName(240), "node-1"})
	if len(long) > 253 {
		t.Errorf("long name has %d characters", len(long))
	}
	a := ObjectName(Key{"ai", "Deployment/" + longName(250) + "a", "n"})
	b := ObjectName(Key{"ai", "Deployment/" + longName(250) + "b", "n"})
	if a == b {
		t.Errorf("two long names collide: %q", a)
	}
}

func longName(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}

func TestRepeatsAddTrafficNotFlows(t *testing.T) {
	s := NewStore(Options{LearningPeriod: time.Hour, Node: "node-1"})
	src := pod("ai", "Deployment/triage", "10.0.0.1")
	var h Handle
	for i := range 3 {
		s.ObserveConn(rec(t0.Add(time.Duration(i)*time.Second), src, external("203.0.113.10", "", 443)), &h, i > 0)
	}
	p := s.Objects()[0].Status.Peers[0]
	if p.Flows != 1 || p.Packets != 9 || p.Bytes != 900 {
		t.Errorf("one connection in three records: flows %d packets %d bytes %d, want 1, 9, 900", p.Flows, p.Packets, p.Bytes)
	}
	if !p.LastSeen.Time.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("last seen %v", p.LastSeen)
	}
	// The handle and a fresh lookup agree on novelty after learning.
	late := rec(t0.Add(2*time.Hour), src, external("203.0.113.10", "", 8443))
	var fresh Handle
	if a, b := s.ObserveConn(late, &fresh, false), s.ObserveConn(late, &fresh, true); a != NewPort || b != NewPort {
		t.Errorf("new port: %b then %b through the handle, want both %b", a, b, NewPort)
	}
}
