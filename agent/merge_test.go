package agent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

func TestMergeConnections(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	yes := true
	r := func(src, dst string, sport, dport uint16, ifname, initiator string, pkts uint64, off time.Duration) flow.Record {
		return flow.Record{
			TimeFirst: at.Add(off), TimeLast: at.Add(off + time.Millisecond), Interface: ifname,
			Src: flow.Endpoint{IP: netip.MustParseAddr(src), Port: sport}, Dst: flow.Endpoint{IP: netip.MustParseAddr(dst), Port: dport},
			Protocol: flow.TCP, Initiator: initiator, Packets: pkts, Bytes: pkts * 100, Observed: flow.Forwarded,
		}
	}
	// One connection between two pods of the node, seen on both
	// interfaces both ways; a second connection dropped by the node; a
	// UDP exchange without handshake; a lone reply.
	drop := r("10.0.0.1", "10.0.0.3", 40001, 5432, "eth0", "src", 3, 2*time.Millisecond)
	drop.Observed, drop.DropReason = flow.Dropped, "NETFILTER_DROP"
	withName := r("10.0.0.1", "10.0.0.2", 40000, 8000, "veth-b", "src", 5, time.Millisecond)
	withName.Dst.FQDN = "b.example"
	answered := r("10.0.0.2", "10.0.0.1", 8000, 40000, "veth-b", "dst", 4, time.Millisecond)
	answered.Answered = &yes
	udpReq := r("10.0.0.1", "10.0.0.9", 53000, 53, "veth-a", "", 1, 3*time.Millisecond)
	udpReq.Protocol = flow.UDP
	udpResp := r("10.0.0.9", "10.0.0.1", 53, 53000, "veth-a", "", 1, 4*time.Millisecond)
	udpResp.Protocol = flow.UDP
	// The kernel clock may be coarse: the answer can sort first.
	udpResp.TimeFirst = udpReq.TimeFirst
	recs := []flow.Record{
		r("10.0.0.1", "10.0.0.2", 40000, 8000, "veth-a", "src", 6, 0),
		r("10.0.0.2", "10.0.0.1", 8000, 40000, "veth-a", "dst", 4, 0),
		withName,
		answered,
		r("10.0.0.1", "10.0.0.3", 40001, 5432, "veth-a", "src", 3, time.Millisecond),
		drop,
		udpResp,
		udpReq,
		r("10.0.0.7", "10.0.0.1", 443, 41000, "veth-a", "dst", 2, 5*time.Millisecond),
	}
	got := mergeConnections(recs)
	if len(got) != 4 {
		for _, g := range got {
			t.Logf("%+v", g)
		}
		t.Fatalf("merged into %d records, want 4", len(got))
	}
	c := got[0]
	if c.Src.IP.String() != "10.0.0.1" || c.Dst.Port != 8000 || c.Packets != 6 || c.Dst.FQDN != "b.example" ||
		c.Answered == nil || !*c.Answered || c.Initiator != "src" || c.TimeLast != at.Add(2*time.Millisecond) {
		t.Errorf("pod to pod: %+v", c)
	}
	if d := got[1]; d.Observed != flow.Dropped || d.DropReason != "NETFILTER_DROP" || d.Packets != 3 {
		t.Errorf("dropped: observed %s reason %q packets %d", d.Observed, d.DropReason, d.Packets)
	}
	if u := got[2]; u.Src.Port != 53000 || u.Dst.Port != 53 || u.Packets != 1 {
		t.Errorf("udp: %+v", u)
	}
	if l := got[3]; l.Initiator != "dst" || l.Src.Port != 443 {
		t.Errorf("lone reply: %+v", l)
	}
}
