package ebpf

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/flow-auditor/flow-auditor/internal/netnstest"
)

// Traffic for the privileged tests: every socket is opened inside a pod
// namespace of the test's topology, so every packet stays in it.

// waitFor polls cond until it holds; it fails the test after a generous
// deadline (a hang, not a timing assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// udpSink counts the datagrams a pod receives on a port.
type udpSink struct {
	conn *net.UDPConn
	n    atomic.Int64
}

func listenUDP(t *testing.T, p *netnstest.Pod, port int) *udpSink {
	t.Helper()
	s := &udpSink{}
	err := p.Do(func() (err error) {
		s.conn, err = net.ListenUDP("udp", &net.UDPAddr{Port: port})
		return err
	})
	if err != nil {
		t.Fatalf("listen UDP %d in %s: %v", port, p.Name, err)
	}
	t.Cleanup(func() { s.conn.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := s.conn.ReadFromUDP(buf); err != nil {
				return
			}
			s.n.Add(1)
		}
	}()
	return s
}

func (s *udpSink) wait(t *testing.T, n int) {
	t.Helper()
	waitFor(t, "datagrams to arrive", func() bool { return s.n.Load() >= int64(n) })
}

// sendUDP sends n datagrams of size bytes from one socket; it returns the
// source port.
func sendUDP(t *testing.T, p *netnstest.Pod, dst netip.AddrPort, n, size int) uint16 {
	t.Helper()
	var c *net.UDPConn
	err := p.Do(func() (err error) {
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		t.Fatalf("dial UDP %s from %s: %v", dst, p.Name, err)
	}
	defer c.Close()
	buf := make([]byte, size)
	for range n {
		if _, err := c.Write(buf); err != nil {
			t.Fatalf("send UDP to %s: %v", dst, err)
		}
	}
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// tcpServer accepts connections on a port and reads each to its end.
type tcpServer struct {
	ln    net.Listener
	mu    sync.Mutex
	bytes map[uint16]int64 // by client port, once the connection ended
}

func serveTCP(t *testing.T, p *netnstest.Pod, port int) *tcpServer {
	t.Helper()
	s := &tcpServer{bytes: map[uint16]int64{}}
	err := p.Do(func() (err error) {
		s.ln, err = net.Listen("tcp", net.JoinHostPort("::", strconv.Itoa(port)))
		return err
	})
	if err != nil {
		t.Fatalf("listen TCP %d in %s: %v", port, p.Name, err)
	}
	t.Cleanup(func() { s.ln.Close() })
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				s.mu.Lock()
				s.bytes[uint16(c.RemoteAddr().(*net.TCPAddr).Port)] = n
				s.mu.Unlock()
			}()
		}
	}()
	return s
}

func (s *tcpServer) received(port uint16) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.bytes[port]
	return n, ok
}

// dialTCP connects from a pod, sends size bytes and closes; it returns the
// client port and the error of the connect.
func dialTCP(t *testing.T, p *netnstest.Pod, dst netip.AddrPort, size int, timeout time.Duration) (uint16, error) {
	t.Helper()
	var c net.Conn
	var port uint16
	d := net.Dialer{Timeout: timeout}
	// Fix the client port beforehand, so that a failed connect has one too.
	err := p.Do(func() (err error) {
		l, err := net.ListenTCP("tcp", &net.TCPAddr{})
		if err != nil {
			return err
		}
		port = uint16(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		d.LocalAddr = &net.TCPAddr{Port: int(port)}
		c, err = d.Dial("tcp", dst.String())
		return err
	})
	if err != nil {
		return port, err
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatalf("write to %s: %v", dst, err)
	}
	return port, nil
}

// ping sends n echo requests with size bytes of data and waits for the
// replies.
func ping(t *testing.T, p *netnstest.Pod, dst netip.Addr, n, size int) {
	t.Helper()
	network, listen, proto := "ip4:icmp", "0.0.0.0", 1
	var reqType, repType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() {
		network, listen, proto = "ip6:ipv6-icmp", "::", 58
		reqType, repType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var c *icmp.PacketConn
	if err := p.Do(func() (err error) { c, err = icmp.ListenPacket(network, listen); return err }); err != nil {
		t.Fatalf("ICMP socket in %s: %v", p.Name, err)
	}
	defer c.Close()
	id := int(time.Now().UnixNano() & 0xffff)
	for seq := range n {
		m := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: make([]byte, size)}}
		b, err := m.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			t.Fatalf("ping %s: %v", dst, err)
		}
	}
	got := 0
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for got < n {
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("ping %s: %d of %d replies: %v", dst, got, n, err)
		}
		m, err := icmp.ParseMessage(proto, buf[:k])
		if err != nil || m.Type != repType {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
			got++
		}
	}
}

// dnsServer answers A and AAAA questions from a table, over UDP and TCP.
type dnsServer struct {
	names map[string][]netip.Addr // lower-case names with the final dot
	ttl   uint32
}

func serveDNS(t *testing.T, p *netnstest.Pod, names map[string][]netip.Addr, ttl uint32) {
	t.Helper()
	s := &dnsServer{names: names, ttl: ttl}
	var uc net.PacketConn
	var ln net.Listener
	err := p.Do(func() (err error) {
		if uc, err = net.ListenPacket("udp", ":53"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", ":53")
		return err
	})
	if err != nil {
		t.Fatalf("DNS server in %s: %v", p.Name, err)
	}
	t.Cleanup(func() { uc.Close(); ln.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			if ans, err := s.answer(buf[:n]); err == nil {
				_, _ = uc.WriteTo(ans, from)
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				ans, err := s.answer(q)
				if err != nil {
					return
				}
				_, _ = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(ans))), ans...))
			}()
		}
	}()
}

func (s *dnsServer) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	for _, a := range s.names[strings.ToLower(q.Name.String())] {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: s.ttl}
		switch {
		case a.Is4() && q.Type == dnsmessage.TypeA:
			_ = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case a.Is6() && q.Type == dnsmessage.TypeAAAA:
			_ = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	return b.Finish()
}

// resolve asks server for name (type A or AAAA by want's family), over UDP
// or TCP, from a pod.
func resolve(t *testing.T, p *netnstest.Pod, server netip.Addr, name string, v6, overTCP bool) []netip.Addr {
	t.Helper()
	typ := dnsmessage.TypeA
	if v6 {
		typ = dnsmessage.TypeAAAA
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	q, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	network := "udp"
	if overTCP {
		network = "tcp"
		q = append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)
	}
	var c net.Conn
	if err := p.Do(func() (err error) {
		c, err = net.DialTimeout(network, netip.AddrPortFrom(server, 53).String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("DNS %s: %v", network, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	var msg []byte
	if overTCP {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatal(err)
		}
		msg = make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			t.Fatal(err)
		}
	} else {
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		msg = buf[:n]
	}
	ans, err := parseDNSAnswer(msg)
	if err != nil {
		t.Fatalf("answer for %s: %v", name, err)
	}
	var out []netip.Addr
	for _, a := range ans.addrs {
		out = append(out, a.ip)
	}
	return out
}
