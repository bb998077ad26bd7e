package ebpf

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/netnstest"
)

// Privileged tests: real programs in the running kernel, real traffic
// between pod namespaces of a topology the test builds.

func TestUDPFiguresAreExact(t *testing.T) {
	for _, mode := range []AttachMode{AttachTCX, AttachTC} {
		t.Run(string(mode), func(t *testing.T) {
			tp := topology(t, netnstest.Options{})
			a, b := tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{})
			sink4, sink6 := listenUDP(t, b, 9000), listenUDP(t, b, 9001)
			h := start(t, tp, Config{Interval: hour, Attach: mode})
			if got := h.src.Mode(); got != mode {
				t.Fatalf("mode %s, want %s", got, mode)
			}

			const n4, s4, n6, s6 = 20, 100, 15, 200
			p4 := sendUDP(t, a, ap(b.IPv4, 9000), n4, s4)
			p6 := sendUDP(t, a, ap(b.IPv6, 9001), n6, s6)
			sink4.wait(t, n4)
			sink6.wait(t, n6)
			recs := h.stop()

			check := func(src, dst netip.AddrPort, packets, bytes uint64) {
				t.Helper()
				got := find(recs, flow.UDP, src, dst)
				for _, iface := range []string{a.HostIf, b.HostIf} {
					on := onInterface(got, iface, flow.Forwarded)
					if len(on) != 1 {
						t.Errorf("%s -> %s on %s: %d records, want 1: %+v", src, dst, iface, len(on), got)
						continue
					}
					r := on[0]
					if r.Packets != packets || r.Bytes != bytes {
						t.Errorf("%s -> %s on %s: packets=%d bytes=%d, want %d and %d", src, dst, iface, r.Packets, r.Bytes, packets, bytes)
					}
					// Leaving pod a through its veth, entering pod b through its.
					wantDir := map[string]string{a.HostIf: "egress", b.HostIf: "ingress"}[iface]
					if r.Node != "test-node" || r.Direction != wantDir || r.TimeFirst.IsZero() || r.TimeLast.Before(r.TimeFirst) {
						t.Errorf("record fields: %+v", r)
					}
				}
			}
			check(ap(a.IPv4, p4), ap(b.IPv4, 9000), n4, n4*(s4+28))
			check(ap(a.IPv6, p6), ap(b.IPv6, 9001), n6, n6*(s6+48))
		})
	}
}

func TestTCPConnectionsCarryInitiatorAndAnswer(t *testing.T) {
	tp := topology(t, netnstest.Options{})
	a, b, c := tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{})
	srv := serveTCP(t, b, 8000)
	// Pod c silently drops SYNs to 8002: a connection attempt nobody answers.
	if _, err := netnstest.Exec(c.Name, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8002", "-j", "DROP"); err != nil {
		testUnavailableIptables(t, err)
	}
	h := start(t, tp, Config{Interval: hour})

	sizes := []int{10000, 250000, 3 << 20}
	var ports []uint16
	for _, size := range sizes {
		port, err := dialTCP(t, a, ap(b.IPv4, 8000), size, 5*time.Second)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		ports = append(ports, port)
	}
	refused, err := dialTCP(t, a, ap(b.IPv6, 8001), 0, 5*time.Second)
	if err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
	silent, err := dialTCP(t, a, ap(c.IPv4, 8002), 0, 300*time.Millisecond)
	if err == nil {
		t.Fatal("connect to a dropping port succeeded")
	}
	for i, port := range ports {
		waitFor(t, "the server to read a connection", func() bool {
			n, ok := srv.received(port)
			return ok && n == int64(sizes[i])
		})
	}
	recs := h.stop()

	type want struct {
		src, dst  netip.AddrPort
		initiator string
		answered  bool
		minBytes  uint64
	}
	var wants []want
	for i, port := range ports {
		client, server := ap(a.IPv4, port), ap(b.IPv4, 8000)
		wants = append(wants,
			want{client, server, "src", true, uint64(sizes[i])},
			want{server, client, "dst", true, 0})
	}
	wants = append(wants,
		want{ap(a.IPv6, refused), ap(b.IPv6, 8001), "src", false, 0},
		want{ap(b.IPv6, 8001), ap(a.IPv6, refused), "dst", false, 0},
		want{ap(a.IPv4, silent), ap(c.IPv4, 8002), "src", false, 0})
	for _, w := range wants {
		// Seen from the client's interface: one record per direction.
		got := onInterface(find(recs, flow.TCP, w.src, w.dst), a.HostIf, flow.Forwarded)
		if len(got) != 1 {
			t.Errorf("%s -> %s: %d records on %s, want 1", w.src, w.dst, len(got), a.HostIf)
			continue
		}
		r := got[0]
		if r.Initiator != w.initiator || r.Answered == nil || *r.Answered != w.answered {
			t.Errorf("%s -> %s: initiator %q answered %v, want %q and %v (flags %s)", w.src, w.dst, r.Initiator, deref(r.Answered), w.initiator, w.answered, r.TCPFlags)
		}
		if r.Bytes < w.minBytes {
			t.Errorf("%s -> %s: %d bytes, want at least the %d sent", w.src, w.dst, r.Bytes, w.minBytes)
		}
	}
	if got := find(recs, flow.TCP, ap(c.IPv4, 8002), ap(a.IPv4, silent)); len(got) != 0 {
		t.Errorf("the silent port answered: %+v", got)
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func testUnavailableIptables(t *testing.T, err error) {
	t.Helper()
	t.Fatalf("iptables in a test namespace: %v", err)
}

func TestICMPEcho(t *testing.T) {
	tp := topology(t, netnstest.Options{})
	a, b := tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{})
	h := start(t, tp, Config{Interval: hour})
	const n, size = 5, 56
	ping(t, a, b.IPv4, n, size)
	ping(t, a, b.IPv6, n, size)
	recs := onInterface(h.stop(), a.HostIf, flow.Forwarded)

	for _, c := range []struct {
		proto            flow.Protocol
		src, dst         netip.Addr
		typ              uint8
		ipHeader, replyT uint8
	}{
		{flow.ICMPv4, a.IPv4, b.IPv4, 8, 20, 0},
		{flow.ICMPv6, a.IPv6, b.IPv6, 128, 40, 129},
	} {
		for _, dir := range []struct {
			src, dst netip.Addr
			typ      uint8
		}{{c.src, c.dst, c.typ}, {c.dst, c.src, c.replyT}} {
			var got []flow.Record
			for _, r := range find(recs, c.proto, ap(dir.src, 0), ap(dir.dst, 0)) {
				if r.ICMPType != nil && *r.ICMPType == dir.typ {
					got = append(got, r)
				}
			}
			want := uint64(n * (size + 8 + int(c.ipHeader)))
			if len(got) != 1 || got[0].Packets != n || got[0].Bytes != want || *got[0].ICMPCode != 0 {
				t.Errorf("%s %s -> %s type %d: %+v, want one record of %d packets, %d bytes", c.proto, dir.src, dir.dst, dir.typ, got, n, want)
			}
		}
	}
}

func TestNetfilterDropsAreRecorded(t *testing.T) {
	tp := topology(t, netnstest.Options{})
	a, b := tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{})
	for _, rule := range [][]string{
		{"iptables", "-A", "FORWARD", "-p", "udp", "-d", b.IPv4.String(), "--dport", "9100", "-j", "DROP"},
		{"iptables", "-A", "FORWARD", "-p", "tcp", "-d", b.IPv4.String(), "--dport", "9102", "-j", "DROP"},
	} {
		if _, err := netnstest.Exec(tp.NodeName, rule...); err != nil {
			testUnavailableIptables(t, err)
		}
	}
	allowed := listenUDP(t, b, 9101)
	h := start(t, tp, Config{Interval: hour})

	const n, size = 7, 300
	blockedPort := sendUDP(t, a, ap(b.IPv4, 9100), n, size)
	tcpPort, err := dialTCP(t, a, ap(b.IPv4, 9102), 0, 300*time.Millisecond)
	if err == nil {
		t.Fatal("connect through a DROP rule succeeded")
	}
	// A datagram that passes, sent after the blocked ones, fences them.
	sendUDP(t, a, ap(b.IPv4, 9101), 4, size)
	allowed.wait(t, 4)
	recs := h.stop()

	var dropped []flow.Record
	for _, r := range recs {
		if r.Observed == flow.Dropped && (r.Src.IP == a.IPv4 || r.Dst.IP == b.IPv4) {
			dropped = append(dropped, r)
		}
	}
	udp := find(dropped, flow.UDP, ap(a.IPv4, blockedPort), ap(b.IPv4, 9100))
	if len(udp) != 1 || udp[0].Packets != n || udp[0].Bytes != n*(size+28) || udp[0].DropReason != "NETFILTER_DROP" || udp[0].Interface != a.HostIf {
		t.Errorf("dropped UDP: %+v, want one record of %d packets, %d bytes, NETFILTER_DROP on %s", udp, n, n*(size+28), a.HostIf)
	}
	tcp := find(dropped, flow.TCP, ap(a.IPv4, tcpPort), ap(b.IPv4, 9102))
	if len(tcp) != 1 || tcp[0].Packets < 1 || tcp[0].DropReason != "NETFILTER_DROP" || tcp[0].TCPFlags != "SYN" ||
		tcp[0].Initiator != "src" || tcp[0].Answered == nil || *tcp[0].Answered {
		t.Errorf("dropped TCP SYN: %+v, want one NETFILTER_DROP record, flags SYN, initiator src, not answered", tcp)
	}
	if len(dropped) != len(udp)+len(tcp) {
		t.Errorf("dropped records beyond the blocked flows: %+v", dropped)
	}
}

func TestDNSAnswersNameLaterConnections(t *testing.T) {
	tp := topology(t, netnstest.Options{})
	client, other := tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{})
	dns := tp.AddPod(netnstest.PodOptions{})
	// An "external" LLM API, at documentation addresses inside the test's
	// namespaces.
	llm := tp.AddPod(netnstest.PodOptions{
		IPv4: netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + time.Now().UnixNano()%200)}),
		IPv6: netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", 10+time.Now().UnixNano()%200)),
	})
	serveDNS(t, dns, map[string][]netip.Addr{
		"api.llm.example.": {llm.IPv4},
		"tcp.llm.example.": {llm.IPv6},
	}, 300)
	serveTCP(t, llm, 443)
	h := start(t, tp, Config{Interval: hour})

	if got := resolve(t, client, dns.IPv4, "api.llm.example.", false, false); !slices.Equal(got, []netip.Addr{llm.IPv4}) {
		t.Fatalf("UDP answer %v", got)
	}
	if got := resolve(t, client, dns.IPv6, "TCP.llm.example.", true, true); !slices.Equal(got, []netip.Addr{llm.IPv6}) {
		t.Fatalf("TCP answer %v", got)
	}
	p4, err := dialTCP(t, client, ap(llm.IPv4, 443), 100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p6, err := dialTCP(t, client, ap(llm.IPv6, 443), 100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Another pod that never asked: its connection carries no name.
	po, err := dialTCP(t, other, ap(llm.IPv4, 443), 100, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the DNS answers to be read", func() bool {
		st, _ := h.src.Stats()
		return st.DNSAnswers >= 2
	})
	recs := h.stop()

	for _, c := range []struct {
		client, server netip.AddrPort
		name           string
		iface          string
	}{
		{ap(client.IPv4, p4), ap(llm.IPv4, 443), "api.llm.example", client.HostIf},
		{ap(client.IPv6, p6), ap(llm.IPv6, 443), "tcp.llm.example", client.HostIf},
		{ap(other.IPv4, po), ap(llm.IPv4, 443), "", other.HostIf},
	} {
		out := onInterface(find(recs, flow.TCP, c.client, c.server), c.iface, flow.Forwarded)
		back := onInterface(find(recs, flow.TCP, c.server, c.client), c.iface, flow.Forwarded)
		if len(out) != 1 || len(back) != 1 {
			t.Errorf("%s -> %s: %d and %d records, want 1 each way", c.client, c.server, len(out), len(back))
			continue
		}
		if out[0].Dst.FQDN != c.name || back[0].Src.FQDN != c.name || out[0].Src.FQDN != "" {
			t.Errorf("%s -> %s: fqdn %q (reply %q), want %q", c.client, c.server, out[0].Dst.FQDN, back[0].Src.FQDN, c.name)
		}
	}
	st, err := h.src.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.DNSAnswers != 2 || st.DNSFailures != 0 {
		t.Errorf("DNS answers %d, failures %d: want 2 and 0", st.DNSAnswers, st.DNSFailures)
	}
}

func TestInterfacesAreFollowed(t *testing.T) {
	tp := topology(t, netnstest.Options{})
	a := tp.AddPod(netnstest.PodOptions{})
	// A bridge in the node: not a veth, so not watched.
	if _, err := netnstest.Exec(tp.NodeName, "ip", "link", "add", tp.Prefix()+"br", "type", "bridge"); err != nil {
		t.Fatal(err)
	}
	h := start(t, tp, Config{Interval: 100 * time.Millisecond, Interfaces: everyVeth})
	names := func() []string {
		var n []string
		for _, i := range h.src.Interfaces() {
			n = append(n, i.Name)
		}
		return n
	}
	if got := names(); !slices.Equal(got, []string{a.HostIf}) {
		t.Fatalf("attached to %v, want [%s]", got, a.HostIf)
	}

	b := tp.AddPod(netnstest.PodOptions{})
	waitFor(t, "the new interface to be attached", func() bool { return slices.Contains(names(), b.HostIf) })
	sink := listenUDP(t, b, 9000)
	port := sendUDP(t, a, ap(b.IPv4, 9000), 3, 10)
	sink.wait(t, 3)
	waitFor(t, "a drain with the new interface's flow", func() bool {
		return len(onInterface(find(h.records(), flow.UDP, ap(a.IPv4, port), ap(b.IPv4, 9000)), b.HostIf, flow.Forwarded)) > 0
	})

	var bLinks []link.ID
	for _, i := range h.src.Interfaces() {
		if i.Name == b.HostIf {
			bLinks = i.LinkIDs
		}
	}
	if len(bLinks) != 2 {
		t.Fatalf("links on %s: %v, want ingress and egress", b.HostIf, bLinks)
	}
	b.Remove()
	waitFor(t, "the deleted interface to be released", func() bool { return !slices.Contains(names(), b.HostIf) })
	links := kernelLinks(t)
	for _, id := range bLinks {
		if _, ok := links[id]; ok {
			t.Errorf("link %d of the deleted interface is still in the kernel", id)
		}
	}
	if got := names(); !slices.Equal(got, []string{a.HostIf}) {
		t.Errorf("attached to %v after the deletion, want [%s]", got, a.HostIf)
	}
}

func TestShutdownLeavesNothingAttached(t *testing.T) {
	for _, mode := range []AttachMode{AttachTCX, AttachTC} {
		t.Run(string(mode), func(t *testing.T) {
			tp := topology(t, netnstest.Options{})
			a, b := tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{})
			h := start(t, tp, Config{Interval: hour, Attach: mode})
			progs, err := h.src.ProgramIDs()
			if err != nil {
				t.Fatal(err)
			}
			before := kernelLinks(t)
			var ours []uint32
			for id, prog := range before {
				if slices.Contains(progs, prog) {
					ours = append(ours, uint32(id))
				}
			}
			// TCX: ingress and egress on two interfaces, plus kfree_skb.
			wantLinks := 5
			if mode == AttachTC {
				wantLinks = 1
				for _, p := range []*netnstest.Pod{a, b} {
					out, err := netnstest.Exec(tp.NodeName, "tc", "filter", "show", "dev", p.HostIf, "ingress")
					if err != nil || !strings.Contains(out, "auditor_ingress") {
						t.Errorf("no cls_bpf filter on %s: %s %v", p.HostIf, out, err)
					}
				}
			}
			if len(ours) != wantLinks {
				t.Errorf("%d links of our programs while running, want %d", len(ours), wantLinks)
			}

			h.stop() // what SIGTERM does
			if err := h.src.Close(); err != nil {
				t.Fatal(err)
			}
			for id, prog := range kernelLinks(t) {
				if slices.Contains(progs, prog) {
					t.Errorf("link %d of our program %d remains", id, prog)
				}
			}
			// The kernel frees programs after an RCU grace period.
			for _, id := range progs {
				waitFor(t, fmt.Sprintf("program %d to be unloaded", id), func() bool { return !programExists(id) })
			}
			if mode == AttachTC {
				for _, p := range []*netnstest.Pod{a, b} {
					out, _ := netnstest.Exec(tp.NodeName, "tc", "qdisc", "show", "dev", p.HostIf)
					if strings.Contains(out, "clsact") {
						t.Errorf("clsact qdisc left on %s: %s", p.HostIf, out)
					}
				}
			}
		})
	}
}

func TestOverloadIsCounted(t *testing.T) {
	// No IPv6: nothing but the test's datagrams enters the watched hook.
	tp := topology(t, netnstest.Options{NoIPv6: true})
	a, b := tp.AddPod(netnstest.PodOptions{}), tp.AddPod(netnstest.PodOptions{})
	sink := listenUDP(t, b, 9000)
	const mapSize, flows = 16, 40
	h := start(t, tp, Config{Interval: hour, FlowEntries: mapSize, Interfaces: regexp.MustCompile("^" + a.HostIf + "$")})

	for range flows {
		sendUDP(t, a, ap(b.IPv4, 9000), 1, 10) // a new socket, a new source port: a new flow
	}
	sink.wait(t, flows)
	recs := find(h.stop(), flow.UDP, ap(a.IPv4, 0), ap(b.IPv4, 9000))
	st, err := h.src.Stats()
	if err != nil {
		t.Fatal(err)
	}
	lost := st.Kernel.FlowMapFull
	t.Logf("flows sent %d, records %d, lost (map full) %d", flows, len(recs), lost)
	if lost == 0 || uint64(len(recs))+lost != flows {
		t.Errorf("records %d + lost %d != flows sent %d (and loss must be counted)", len(recs), lost, flows)
	}
}
