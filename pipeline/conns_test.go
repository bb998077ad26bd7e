package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

func TestConnsCountEachConnectionOnce(t *testing.T) {
	c := newConns(time.Minute, 100, nil)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := func(src, dst string, sport, dport uint16, at time.Duration, initiator string) *flow.Record {
		return &flow.Record{
			TimeFirst: t0.Add(at), TimeLast: t0.Add(at + time.Second), Protocol: flow.TCP, Initiator: initiator,
			Src: flow.Endpoint{IP: netip.MustParseAddr(src), Port: sport},
			Dst: flow.Endpoint{IP: netip.MustParseAddr(dst), Port: dport},
		}
	}
	type want struct{ repeat, reply bool }
	steps := []struct {
		name string
		r    *flow.Record
		want want
	}{
		{"first record", rec("10.0.0.1", "10.0.0.2", 40000, 80, 0, "src"), want{false, false}},
		{"next drain", rec("10.0.0.1", "10.0.0.2", 40000, 80, 5*time.Second, "src"), want{true, false}},
		{"its reply, handshake known", rec("10.0.0.2", "10.0.0.1", 80, 40000, 5*time.Second, "dst"), want{true, true}},
		{"its reply, no handshake", rec("10.0.0.2", "10.0.0.1", 80, 40000, 6*time.Second, ""), want{true, true}},
		{"another client port", rec("10.0.0.1", "10.0.0.2", 40001, 80, 6*time.Second, "src"), want{false, false}},
		{"a lone reply first", rec("10.0.0.3", "10.0.0.1", 443, 50000, 7*time.Second, "dst"), want{false, true}},
		{"after the idle time", rec("10.0.0.1", "10.0.0.2", 40000, 80, 3*time.Minute, "src"), want{false, false}},
	}
	for _, s := range steps {
		_, repeat, reply := c.track(s.r)
		if got := (want{repeat, reply}); got != s.want {
			t.Errorf("%s: %+v, want %+v", s.name, got, s.want)
		}
	}
	// The sweep forgot the connections idle for over a minute.
	if n := c.size(); n != 1 {
		t.Errorf("remembered %d connections, want 1", n)
	}
}

func TestConnsBounded(t *testing.T) {
	c := newConns(time.Hour, 1000, nil)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 10000 {
		c.track(&flow.Record{
			TimeFirst: t0, Protocol: flow.UDP,
			Src: flow.Endpoint{IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 53000},
			Dst: flow.Endpoint{IP: netip.MustParseAddr("10.96.0.10"), Port: 53},
		})
		if c.size() > 1000 {
			t.Fatalf("table holds %d connections, bound 1000", c.size())
		}
	}
}

// TestConnsForgetEverythingAfterALull: once every connection went idle
// before a record starts, the table starts over, and that record is a new
// connection even if it reuses an old 5-tuple; a record that starts within
// the idle time of its connection's last one stays a repeat however late
// it ends.
func TestConnsForgetEverythingAfterALull(t *testing.T) {
	c := newConns(time.Minute, 100, nil)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := func(port uint16, first, last time.Duration) *flow.Record {
		return &flow.Record{
			TimeFirst: t0.Add(first), TimeLast: t0.Add(last), Protocol: flow.TCP, Initiator: "src",
			Src: flow.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: port},
			Dst: flow.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 80},
		}
	}
	for p := range uint16(3) {
		c.track(rec(40000+p, 0, time.Second))
	}
	if _, repeat, _ := c.track(rec(40000, 50*time.Second, 5*time.Minute)); !repeat {
		t.Error("a record starting within a minute of its connection's last one, ending long after, is not a repeat")
	}
	if _, repeat, _ := c.track(rec(40001, 6*time.Minute+2*time.Second, 6*time.Minute+3*time.Second)); repeat {
		t.Error("after a lull longer than the idle time, an old 5-tuple is still a repeat")
	}
	if n := c.size(); n != 1 {
		t.Errorf("after the lull the table holds %d connections, want 1", n)
	}
}
