package correlate

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestPendingEvictsOldestWhenFull(t *testing.T) {
	var released []int
	p := NewPending[int](3, time.Minute, func(items []int) { released = append(released, items...) })
	t0 := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	p.Park(a, 1, t0)
	p.Park(b, 2, t0)
	p.Park(a, 3, t0)
	if ev := p.Park(b, 4, t0); !slices.Equal(ev, []int{1}) {
		t.Fatalf("full queue evicted %v, want the oldest item [1]", ev)
	}
	if p.Len() != 3 {
		t.Fatalf("Len = %d, want the bound 3", p.Len())
	}
	p.Resolvable([]netip.Addr{a}, t0)
	if !slices.Equal(released, []int{3}) {
		t.Fatalf("released %v for 10.0.0.1, want [3] (1 was evicted)", released)
	}
	// b's items are now the oldest; a fresh park evicts 2, not a stale ref.
	p.Park(a, 5, t0)
	if ev := p.Park(a, 6, t0); !slices.Equal(ev, []int{2}) {
		t.Fatalf("evicted %v, want [2]", ev)
	}
	st := p.Stats()
	if st.Parked != 6 || st.Evicted != 2 || st.Released != 1 {
		t.Errorf("stats = %+v, want 6 parked, 2 evicted, 1 released", st)
	}
}

func TestPendingExpiresAfterTTL(t *testing.T) {
	p := NewPending[string](10, time.Minute, nil)
	t0 := time.Unix(1000, 0)
	p.Park(netip.MustParseAddr("10.0.0.1"), "old", t0)
	p.Park(netip.MustParseAddr("10.0.0.2"), "new", t0.Add(50*time.Second))
	if got := p.Expire(t0.Add(59 * time.Second)); len(got) != 0 {
		t.Fatalf("expired %v before the ttl", got)
	}
	if got := p.Expire(t0.Add(61 * time.Second)); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("expired %v, want [old]", got)
	}
	if p.Len() != 1 {
		t.Errorf("Len = %d after expiry, want 1", p.Len())
	}
}

func TestPendingMapsIPv4InIPv6ToIPv4(t *testing.T) {
	var released []string
	p := NewPending[string](4, time.Minute, func(items []string) { released = append(released, items...) })
	p.Park(netip.MustParseAddr("::ffff:10.0.0.7"), "mapped", time.Unix(0, 0))
	p.Resolvable([]netip.Addr{netip.MustParseAddr("10.0.0.7")}, time.Unix(0, 0))
	if !slices.Equal(released, []string{"mapped"}) {
		t.Fatalf("released %v, want the flow parked under the v4-mapped address", released)
	}
}

func TestPendingStaysBoundedUnderReleases(t *testing.T) {
	p := NewPending[int](8, time.Hour, func([]int) {})
	t0 := time.Unix(0, 0)
	keep := netip.MustParseAddr("10.1.0.1")
	p.Park(keep, -1, t0) // one long-lived item pins the queue's head
	for i := range 10000 {
		ip := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		p.Park(ip, i, t0)
		p.Resolvable([]netip.Addr{ip}, t0)
	}
	if p.Len() != 1 {
		t.Fatalf("Len = %d, want 1", p.Len())
	}
	if n := len(p.fifo) - p.head; n > 4*8+1 {
		t.Fatalf("queue holds %d references for 1 item: released items leak", n)
	}
}
