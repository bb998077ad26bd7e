package bpf

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/testutil"
)

// These tests run the real programs in the running kernel through
// BPF_PROG_RUN, on frames built by hand, and read the maps back.

func load(t *testing.T, opts Options) *Objects {
	t.Helper()
	testutil.RequirePrivileged(t, "loads eBPF programs")
	o, err := Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func run(t *testing.T, p *ebpf.Program, frame []byte) {
	t.Helper()
	ret, err := p.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("run %s: %v", p, err)
	}
	if int32(ret) != -1 {
		t.Fatalf("%s returned %d, want -1 (TC_ACT_UNSPEC / TCX_NEXT: never change a packet's fate)", p, int32(ret))
	}
}

func drain(t *testing.T, o *Objects) []Flow {
	t.Helper()
	flows, _, err := o.Drain(nil)
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	return flows
}

var (
	a4 = netip.MustParseAddr("10.1.2.3")
	b4 = netip.MustParseAddr("10.4.5.6")
	a6 = netip.MustParseAddr("fd00::a")
	b6 = netip.MustParseAddr("fd00::b")
)

func u8(v uint8) *uint8 { return &v }

func TestProgramsAggregatePackets(t *testing.T) {
	o := load(t, Options{})
	payload := make([]byte, 100)
	cases := []struct {
		name    string
		frame   []byte
		repeat  int
		want    flow.Record
		wantDir Direction
	}{
		{
			name: "IPv4 UDP", frame: frame{}.build(a4, b4, udp(40000, 9000, payload)), repeat: 3,
			want: flow.Record{Protocol: flow.UDP, Src: ep(a4, 40000), Dst: ep(b4, 9000), Packets: 3, Bytes: 3 * (100 + 28)},
		},
		{
			name: "IPv6 UDP", frame: frame{}.build(a6, b6, udp(40000, 9000, payload)), repeat: 2,
			want: flow.Record{Protocol: flow.UDP, Src: ep(a6, 40000), Dst: ep(b6, 9000), Packets: 2, Bytes: 2 * (100 + 48)},
		},
		{
			name: "IPv4 TCP", frame: frame{}.build(a4, b4, tcp(40001, 443, 0x18, payload)), repeat: 1,
			want: flow.Record{Protocol: flow.TCP, Src: ep(a4, 40001), Dst: ep(b4, 443), Packets: 1, Bytes: 140, TCPFlags: "PSH,ACK"},
		},
		{
			name: "SCTP", frame: frame{}.build(a4, b4, sctp(5000, 6000)), repeat: 1,
			want: flow.Record{Protocol: flow.SCTP, Src: ep(a4, 5000), Dst: ep(b4, 6000), Packets: 1, Bytes: 32},
		},
		{
			name: "ICMPv4 echo", frame: frame{}.build(a4, b4, icmp(1, 8, 0, payload)), repeat: 4,
			want: flow.Record{Protocol: flow.ICMPv4, Src: ep(a4, 0), Dst: ep(b4, 0), ICMPType: u8(8), ICMPCode: u8(0), Packets: 4, Bytes: 4 * 128},
		},
		{
			name: "ICMPv6 echo", frame: frame{}.build(a6, b6, icmp(58, 128, 0, payload)), repeat: 1,
			want: flow.Record{Protocol: flow.ICMPv6, Src: ep(a6, 0), Dst: ep(b6, 0), ICMPType: u8(128), ICMPCode: u8(0), Packets: 1, Bytes: 148},
		},
		{
			name: "VLAN tag", frame: frame{vlan: true}.build(a4, b4, udp(1, 2, payload)), repeat: 1,
			want: flow.Record{Protocol: flow.UDP, Src: ep(a4, 1), Dst: ep(b4, 2), Packets: 1, Bytes: 128},
		},
		{
			name: "IPv4 options", frame: frame{ipOpts: 2}.build(a4, b4, udp(3, 4, payload)), repeat: 1,
			want: flow.Record{Protocol: flow.UDP, Src: ep(a4, 3), Dst: ep(b4, 4), Packets: 1, Bytes: 136},
		},
		{
			name: "IPv4 later fragment", frame: frame{fragOff: 100}.build(a4, b4, udp(5, 6, payload)), repeat: 1,
			want: flow.Record{Protocol: flow.UDP, Src: ep(a4, 0), Dst: ep(b4, 0), Packets: 1, Bytes: 120},
		},
		{
			name: "IPv6 hop-by-hop and first fragment", frame: frame{v6Ext: []uint8{0, 44}}.build(a6, b6, udp(7, 8, payload)), repeat: 1,
			want: flow.Record{Protocol: flow.UDP, Src: ep(a6, 7), Dst: ep(b6, 8), Packets: 1, Bytes: 40 + 16 + 108},
		},
		{
			name: "IPv6 later fragment", frame: frame{v6Ext: []uint8{44}, v6FragNo: 10}.build(a6, b6, udp(9, 10, payload)), repeat: 1,
			want: flow.Record{Protocol: flow.UDP, Src: ep(a6, 0), Dst: ep(b6, 0), Packets: 1, Bytes: 40 + 8 + 100},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			for range tc.repeat {
				run(t, o.Ingress(), tc.frame)
			}
			after := time.Now()
			got := drain(t, o)
			if len(got) != 1 {
				t.Fatalf("drained %d flows, want 1: %+v", len(got), got)
			}
			f := got[0]
			if f.Direction != Ingress || f.Ifindex != 1 {
				t.Errorf("direction %s ifindex %d, want ingress on 1 (BPF_PROG_RUN uses loopback)", f.Direction, f.Ifindex)
			}
			// The programs read the coarse clock: up to a tick behind.
			if f.TimeFirst.Before(before.Add(-20*time.Millisecond)) || f.TimeLast.After(after.Add(time.Millisecond)) {
				t.Errorf("times %v..%v outside the run %v..%v", f.TimeFirst, f.TimeLast, before, after)
			}
			tc.want.Observed = flow.Forwarded
			g := f.Record
			g.TimeFirst, g.TimeLast = time.Time{}, time.Time{}
			if !equalRecords(g, tc.want) {
				t.Errorf("got  %+v\nwant %+v", g, tc.want)
			}
		})
	}
}

func ep(ip netip.Addr, port uint16) flow.Endpoint { return flow.Endpoint{IP: ip, Port: port} }

func equalRecords(a, b flow.Record) bool {
	eq := func(x, y *uint8) bool { return (x == nil && y == nil) || (x != nil && y != nil && *x == *y) }
	if !eq(a.ICMPType, b.ICMPType) || !eq(a.ICMPCode, b.ICMPCode) {
		return false
	}
	a.ICMPType, a.ICMPCode, b.ICMPType, b.ICMPCode = nil, nil, nil, nil
	return a.Src.IP == b.Src.IP && a.Src.Port == b.Src.Port && a.Dst.IP == b.Dst.IP && a.Dst.Port == b.Dst.Port &&
		a.Protocol == b.Protocol && a.Packets == b.Packets && a.Bytes == b.Bytes && a.TCPFlags == b.TCPFlags &&
		a.Observed == b.Observed && a.DropReason == b.DropReason
}

func TestProgramsIgnoreNonIPAndCountBrokenHeaders(t *testing.T) {
	o := load(t, Options{})
	arp := append(make([]byte, 12), 0x08, 0x06)
	arp = append(arp, make([]byte, 28)...)
	run(t, o.Ingress(), arp)
	full := frame{}.build(a4, b4, tcp(1, 2, 0x02, nil))
	run(t, o.Egress(), full[:14+20+10]) // TCP header cut short
	long := frame{ipOpts: 10}.build(a4, b4, tcp(1, 2, 0x02, nil))
	run(t, o.Egress(), long[:14+40]) // options run past the end
	if got := drain(t, o); len(got) != 0 {
		t.Fatalf("drained %+v, want nothing", got)
	}
	l, err := o.Losses()
	if err != nil {
		t.Fatal(err)
	}
	if l.ParseFailures != 2 {
		t.Errorf("parse failures %d, want 2 (the two cut frames; ARP is not a failure)", l.ParseFailures)
	}
}

func TestProgramsTrackHandshake(t *testing.T) {
	o := load(t, Options{})
	// Seen from the client's interface: its SYN comes in, the answer goes out.
	run(t, o.Ingress(), frame{}.build(a4, b4, tcp(40000, 80, 0x02, nil)))
	run(t, o.Egress(), frame{}.build(b4, a4, tcp(80, 40000, 0x12, nil)))
	run(t, o.Ingress(), frame{}.build(a4, b4, tcp(40000, 80, 0x10, nil)))
	// A SYN refused with RST, and one never answered.
	run(t, o.Ingress(), frame{}.build(a4, b4, tcp(40001, 81, 0x02, nil)))
	run(t, o.Egress(), frame{}.build(b4, a4, tcp(81, 40001, 0x14, nil)))
	run(t, o.Ingress(), frame{}.build(a4, b4, tcp(40002, 82, 0x02, nil)))

	got := drain(t, o)
	type conn struct {
		sport, dport    uint16
		syn, synack, an bool
		flags           string
	}
	var seen []conn
	for _, f := range got {
		seen = append(seen, conn{f.Src.Port, f.Dst.Port, f.SentSYN, f.SentSYNACK, f.SYNAnswered, f.TCPFlags})
	}
	want := []conn{
		{40000, 80, true, false, true, "SYN,ACK"},
		{80, 40000, false, true, false, "SYN,ACK"},
		{40001, 81, true, false, false, "SYN"},
		{81, 40001, false, false, false, "RST,ACK"},
		{40002, 82, true, false, false, "SYN"},
	}
	sortConns := func(c []conn) {
		slices.SortFunc(c, func(x, y conn) int { return int(x.sport)*100000 + int(x.dport) - int(y.sport)*100000 - int(y.dport) })
	}
	sortConns(seen)
	sortConns(want)
	if !slices.Equal(seen, want) {
		t.Errorf("got  %+v\nwant %+v", seen, want)
	}
}

func TestProgramsCountFullMap(t *testing.T) {
	o := load(t, Options{FlowEntries: 4})
	for port := range uint16(10) {
		run(t, o.Ingress(), frame{}.build(a4, b4, udp(1000+port, 53, nil)))
	}
	got := drain(t, o)
	l, err := o.Losses()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || l.FlowMapFull != 6 {
		t.Errorf("drained %d flows with %d lost, want 4 and 6", len(got), l.FlowMapFull)
	}
	// The drain emptied the map: new flows fit again.
	run(t, o.Ingress(), frame{}.build(a4, b4, udp(2000, 53, nil)))
	if got := drain(t, o); len(got) != 1 {
		t.Errorf("after a drain: %d flows, want 1", len(got))
	}
}

func TestProgramsCopyDNSAnswers(t *testing.T) {
	o := load(t, Options{})
	rd, err := o.NewDNSReader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	answer := []byte("\x12\x34\x81\x80 pretend this is a DNS answer")
	tcpAnswer := append([]byte{0, byte(len(answer))}, answer...)
	run(t, o.Egress(), frame{}.build(b4, a4, udp(53, 33333, answer)))
	run(t, o.Egress(), frame{}.build(b6, a6, tcp(53, 33334, 0x18, tcpAnswer)))
	run(t, o.Egress(), frame{}.build(b4, a4, tcp(53, 33335, 0x10, nil))) // bare ACK: nothing to copy
	run(t, o.Ingress(), frame{}.build(b4, a4, udp(53, 33336, answer)))   // towards the server side: not an answer to a local client
	run(t, o.Egress(), frame{}.build(a4, b4, udp(33337, 53, answer)))    // a query

	rd.SetDeadline(time.Now()) // read what the ring holds, then stop
	var got []DNSAnswer
	for {
		a, err := rd.Read()
		if err != nil {
			break
		}
		got = append(got, a)
	}
	if len(got) != 2 {
		t.Fatalf("read %d answers, want 2: %+v", len(got), got)
	}
	if got[0].Client != a4 || got[0].Server != b4 || got[0].TCP || string(got[0].Payload) != string(answer) || got[0].Truncated {
		t.Errorf("UDP answer: %+v", got[0])
	}
	if got[1].Client != a6 || got[1].Server != b6 || !got[1].TCP || string(got[1].Payload) != string(tcpAnswer) {
		t.Errorf("TCP answer: %+v", got[1])
	}
}

func TestDropReasonsFromKernelBTF(t *testing.T) {
	testutil.RequirePrivileged(t, "reads the kernel's BTF")
	r, err := KernelDropReasons()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range DefaultDropReasons() {
		v, ok := r.Value(name)
		if !ok {
			t.Errorf("default reason %s unknown to this kernel", name)
			continue
		}
		if r.Name(v) != name {
			t.Errorf("Name(Value(%s)) = %s", name, r.Name(v))
		}
		if w, _ := r.Value("SKB_DROP_REASON_" + name); w != v {
			t.Errorf("prefixed %s resolves to %d, short to %d", name, w, v)
		}
	}
	_, err = Load(Options{DropReasons: []string{"NETFILTER_DROP", "NO_SUCH_REASON"}})
	var unknown *UnknownDropReasonError
	if !errors.As(err, &unknown) || unknown.Name != "NO_SUCH_REASON" {
		t.Errorf("Load with an unknown reason: %v, want UnknownDropReasonError", err)
	}
}
