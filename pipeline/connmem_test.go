package pipeline

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

// IPv4 connections live under short keys, others under full ones; an
// IPv4-mapped IPv6 address is the same connection as its IPv4 form, as
// before, and both kinds are swept.
func TestConnsKeysByFamily(t *testing.T) {
	c := newConns(time.Minute, 100, nil)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := func(src, dst string, sport, dport uint16, at time.Duration) *flow.Record {
		return &flow.Record{
			TimeFirst: t0.Add(at), Protocol: flow.TCP, Initiator: "src",
			Src: flow.Endpoint{IP: netip.MustParseAddr(src), Port: sport},
			Dst: flow.Endpoint{IP: netip.MustParseAddr(dst), Port: dport},
		}
	}
	steps := []struct {
		name   string
		r      *flow.Record
		repeat bool
	}{
		{"IPv4", rec("10.0.0.1", "10.0.0.2", 40000, 80, 0), false},
		{"the same, IPv4-mapped", rec("::ffff:10.0.0.1", "::ffff:10.0.0.2", 40000, 80, time.Second), true},
		{"IPv6", rec("fd00::1", "fd00::2", 40000, 80, time.Second), false},
		{"IPv6 again", rec("fd00::1", "fd00::2", 40000, 80, 2*time.Second), true},
		{"one side IPv4-mapped only", rec("::ffff:10.0.0.1", "fd00::2", 40000, 80, 2*time.Second), false},
	}
	for _, s := range steps {
		if _, repeat, _ := c.track(s.r); repeat != s.repeat {
			t.Errorf("%s: repeat %v, want %v", s.name, repeat, s.repeat)
		}
	}
	if c.state.v4.count() != 1 || len(c.state.v6) != 2 {
		t.Errorf("table: %d IPv4 and %d other connections, want 1 and 2", c.state.v4.count(), len(c.state.v6))
	}
	c.track(rec("10.0.0.9", "10.0.0.2", 40000, 80, 3*time.Minute))
	if n := c.size(); n != 1 {
		t.Errorf("after the idle time: %d connections, want 1", n)
	}
	if n := unsafe.Sizeof(connState{}); n != 32 {
		t.Errorf("a connState is %d bytes, want 32 (one per live connection)", n)
	}
}

// Connections judged alike share one judgement; a policy change or a full
// table starts the table over.
func TestJudgementsInterned(t *testing.T) {
	var js judgements
	pol, other := &Policies{}, &Policies{}
	target := &correlate.Target{}
	judged := func(p *Policies, port uint16, conn *connState) *connEval {
		e := &Event{conn: conn, judged: &js}
		e.Record = flow.Record{
			Src:     flow.Endpoint{Kind: flow.KindPod, IP: netip.MustParseAddr("10.0.0.1"), Port: 40000 + port},
			Dst:     flow.Endpoint{Kind: flow.KindPod, IP: netip.MustParseAddr("10.0.0.2"), Port: 8000},
			Verdict: "allow", Egress: "allow", Ingress: "allow", Explanation: "allowed by ns/p",
		}
		e.Res.Src.Target = target
		e.remember(p, 1, 0)
		return conn.eval.Load()
	}
	a, b := judged(pol, 1, &connState{}), judged(pol, 2, &connState{})
	if a == nil || b == nil || a.judgement != b.judgement {
		t.Fatalf("two connections judged alike: %p and %p, want one shared judgement", a, b)
	}
	if c := judged(other, 3, &connState{}); c.judgement == a.judgement || len(js.m) != 1 {
		t.Errorf("after a policy change: shared %v, table of %d; want a new judgement and the table started over", c.judgement == a.judgement, len(js.m))
	}
	for i := range maxJudgements + 10 {
		j := judgement{policies: other, dstPort: uint16(i), inventory: uint64(i)}
		js.intern(&j)
		if len(js.m) > maxJudgements {
			t.Fatalf("table holds %d judgements, bound %d", len(js.m), maxJudgements)
		}
	}
}
