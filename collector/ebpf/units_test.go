package ebpf

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/flow-auditor/flow-auditor/bpf"
	"github.com/flow-auditor/flow-auditor/flow"
)

// Unprivileged tests of the userspace logic.

func buildAnswer(t *testing.T, name string, rcode dnsmessage.RCode, records ...dnsmessage.Resource) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1, Response: true, RCode: rcode})
	n := dnsmessage.MustNewName(name)
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: n, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	_ = b.StartAnswers()
	for _, r := range records {
		var err error
		switch body := r.Body.(type) {
		case *dnsmessage.AResource:
			err = b.AResource(r.Header, *body)
		case *dnsmessage.AAAAResource:
			err = b.AAAAResource(r.Header, *body)
		case *dnsmessage.CNAMEResource:
			err = b.CNAMEResource(r.Header, *body)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func rr(name string, ttl uint32, body dnsmessage.ResourceBody) dnsmessage.Resource {
	return dnsmessage.Resource{Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Class: dnsmessage.ClassINET, TTL: ttl}, Body: body}
}

func TestParseDNSAnswerNamesAddressesAfterTheQuestion(t *testing.T) {
	msg := buildAnswer(t, "API.Example.com.", dnsmessage.RCodeSuccess,
		rr("API.Example.com.", 60, &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("lb.example.net.")}),
		rr("lb.example.net.", 30, &dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}}),
		rr("lb.example.net.", 40, &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("2001:db8::1").As16()}))
	ans, err := parseDNSAnswer(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := []dnsAddr{{netip.MustParseAddr("192.0.2.1"), 30 * time.Second}, {netip.MustParseAddr("2001:db8::1"), 40 * time.Second}}
	if ans.name != "api.example.com" || len(ans.addrs) != 2 || ans.addrs[0] != want[0] || ans.addrs[1] != want[1] {
		t.Errorf("got %+v", ans)
	}

	if _, err := parseDNSAnswer(buildAnswer(t, "x.example.", dnsmessage.RCodeNameError)); err == nil {
		t.Error("NXDOMAIN parsed as an answer")
	}
	if _, err := parseDNSAnswer(msg[:len(msg)-3]); err == nil {
		t.Error("truncated answer parsed")
	}
}

func TestSplitDNSOverTCP(t *testing.T) {
	m1, m2 := []byte("first"), []byte("second!")
	seg := append(append([]byte{0, 5}, m1...), append([]byte{0, 7}, m2...)...)
	got, err := splitDNS(seg, true)
	if err != nil || len(got) != 2 || string(got[0]) != "first" || string(got[1]) != "second!" {
		t.Errorf("split %q: %q %v", seg, got, err)
	}
	if _, err := splitDNS(seg[:len(seg)-1], true); err == nil {
		t.Error("a message split across segments was not reported")
	}
	if got, _ := splitDNS(m1, false); len(got) != 1 || string(got[0]) != "first" {
		t.Errorf("UDP payload: %q", got)
	}
}

func TestDNSCacheHonoursTTLAndBounds(t *testing.T) {
	c := newDNSCache(2, 2)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	client := netip.MustParseAddr("10.0.0.1")
	ip := netip.MustParseAddr("203.0.113.5")
	c.add(client, ip, "api.example", t0, 30*time.Second)

	cases := []struct {
		name        string
		client      netip.Addr
		first, last time.Time
		want        string
	}{
		{"during the TTL", client, t0.Add(time.Second), t0.Add(2 * time.Second), "api.example"},
		{"started before the answer, still running after", client, t0.Add(-time.Minute), t0.Add(time.Second), "api.example"},
		{"ended before the answer", client, t0.Add(-time.Minute), t0.Add(-time.Second), ""},
		{"started after the TTL ran out", client, t0.Add(31 * time.Second), t0.Add(32 * time.Second), ""},
		{"another client", netip.MustParseAddr("10.0.0.2"), t0.Add(time.Second), t0.Add(time.Second), ""},
	}
	for _, tc := range cases {
		if got := c.lookup(tc.client, ip, tc.first, tc.last); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}

	// A repeated answer extends the TTL; a new name replaces the old.
	c.add(client, ip, "api.example", t0.Add(20*time.Second), 30*time.Second)
	if got := c.lookup(client, ip, t0.Add(45*time.Second), t0.Add(45*time.Second)); got != "api.example" {
		t.Errorf("extended TTL: %q", got)
	}
	c.add(client, ip, "other.example", t0.Add(46*time.Second), 30*time.Second)
	if got := c.lookup(client, ip, t0.Add(47*time.Second), t0.Add(47*time.Second)); got != "other.example" {
		t.Errorf("replaced name: %q", got)
	}

	// Bounds: two names per client (the soonest to expire goes), two
	// clients (the least recently answered goes).
	c.add(client, netip.MustParseAddr("203.0.113.6"), "b", t0.Add(50*time.Second), 10*time.Second)
	c.add(client, netip.MustParseAddr("203.0.113.7"), "c", t0.Add(50*time.Second), 100*time.Second)
	if clients, names := c.size(); clients != 1 || names != 2 {
		t.Errorf("size %d clients %d names, want 1 and 2", clients, names)
	}
	if got := c.lookup(client, netip.MustParseAddr("203.0.113.6"), t0.Add(51*time.Second), t0.Add(51*time.Second)); got != "" {
		t.Errorf("the soonest-expiring name survived: %q", got)
	}
	c.add(netip.MustParseAddr("10.0.0.2"), ip, "x", t0.Add(60*time.Second), time.Minute)
	c.add(netip.MustParseAddr("10.0.0.3"), ip, "y", t0.Add(61*time.Second), time.Minute)
	if clients, _ := c.size(); clients != 2 {
		t.Errorf("%d clients, want 2", clients)
	}
	if got := c.lookup(client, netip.MustParseAddr("203.0.113.7"), t0.Add(62*time.Second), t0.Add(62*time.Second)); got != "" {
		t.Errorf("the least recently answered client survived: %q", got)
	}

	c.expire(t0.Add(time.Hour))
	if clients, names := c.size(); clients != 0 || names != 0 {
		t.Errorf("after expiry: %d clients, %d names", clients, names)
	}
}

func tcpFlow(src, dst string, syn, synack, answered bool) bpf.Flow {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	return bpf.Flow{
		Record:      flow.Record{Protocol: flow.TCP, Src: flow.Endpoint{IP: s.Addr(), Port: s.Port()}, Dst: flow.Endpoint{IP: d.Addr(), Port: d.Port()}},
		SentSYN:     syn,
		SentSYNACK:  synack,
		SYNAnswered: answered,
	}
}

func TestConnTableCarriesTheHandshakeAcrossDrains(t *testing.T) {
	ct := newConnTable(100, time.Minute)
	now := time.Now()
	// Drain 1: the SYN only; drain 2: the SYN-ACK (the kernel could not
	// mark the first direction, already drained); drain 3: data both ways.
	d1 := []bpf.Flow{tcpFlow("10.0.0.1:40000", "10.0.0.2:80", true, false, false)}
	ct.apply(d1, now)
	d2 := []bpf.Flow{tcpFlow("10.0.0.2:80", "10.0.0.1:40000", false, true, false)}
	ct.apply(d2, now)
	d3 := []bpf.Flow{tcpFlow("10.0.0.1:40000", "10.0.0.2:80", false, false, false), tcpFlow("10.0.0.2:80", "10.0.0.1:40000", false, false, false)}
	ct.apply(d3, now)
	check := func(f bpf.Flow, initiator string, answered bool) {
		t.Helper()
		if f.Initiator != initiator || f.Record.Answered == nil || *f.Record.Answered != answered {
			t.Errorf("%v -> %v: initiator %q answered %v, want %q %v", f.Src, f.Dst, f.Initiator, deref(f.Record.Answered), initiator, answered)
		}
	}
	check(d1[0], "src", false) // as known at its drain
	check(d2[0], "dst", true)
	check(d3[0], "src", true)
	check(d3[1], "dst", true)

	// A mid-connection flow never seen opening carries nothing.
	d4 := []bpf.Flow{tcpFlow("10.0.0.5:1", "10.0.0.6:2", false, false, false)}
	ct.apply(d4, now)
	if d4[0].Initiator != "" || d4[0].Record.Answered != nil {
		t.Errorf("unknown connection got initiator %q answered %v", d4[0].Initiator, deref(d4[0].Record.Answered))
	}
	// Idle connections are forgotten.
	ct.apply(nil, now.Add(2*time.Minute))
	if ct.size() != 0 {
		t.Errorf("%d connections after the idle time", ct.size())
	}
}

func TestConnTableIsBounded(t *testing.T) {
	ct := newConnTable(10, time.Hour)
	now := time.Now()
	for i := range 50 {
		f := []bpf.Flow{tcpFlow(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i)).String(), "10.0.0.2:80", true, false, false)}
		ct.apply(f, now.Add(time.Duration(i)*time.Second))
	}
	if ct.size() > 10 {
		t.Errorf("%d connections, bound 10", ct.size())
	}
}
