package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// traffic makes the scenario's calls from inside the pods' namespaces.
type traffic struct {
	s *Scenario
	n *network
}

// outcome is what one call did.
type outcome struct {
	// Dialed is the address connected to (resolved through DNS when the
	// call asked for it).
	Dialed netip.AddrPort
	// Local is the client's address; invalid when the connection failed.
	Local netip.AddrPort
	// Err is why the call failed (a dropped SYN times out).
	Err error
	// Response is the first line the server answered.
	Response string
}

// call makes one call: resolve if asked, connect within dialTimeout, send a
// request, read the answer.
func (t *traffic) call(ctx context.Context, c Call, dialTimeout time.Duration) outcome {
	dst := t.s.Addr(c.To)
	if c.Resolve {
		h := t.s.Host(c.To)
		ip, err := t.resolve(c.From, h.FQDN)
		if err != nil {
			return outcome{Err: fmt.Errorf("resolve %s: %w", h.FQDN, err)}
		}
		dst = ip
	}
	o := outcome{Dialed: netip.AddrPortFrom(dst, c.Port.Port)}
	var conn net.Conn
	d := net.Dialer{Timeout: dialTimeout}
	err := t.n.ns[c.From].Do(func() (err error) {
		conn, err = d.DialContext(ctx, "tcp", o.Dialed.String())
		return err
	})
	if err != nil {
		o.Err = err
		return o
	}
	defer conn.Close()
	if la, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		o.Local = la.AddrPort()
	}
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	path := c.Path
	if path == "" {
		path = "/"
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, o.Dialed); err != nil {
		o.Err = err
		return o
	}
	buf := make([]byte, 512)
	k, err := io.ReadAtLeast(conn, buf, 1)
	if err != nil {
		o.Err = err
		return o
	}
	o.Response, _, _ = cutLine(string(buf[:k]))
	return o
}

func cutLine(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return s[:i], s[i:], true
		}
	}
	return s, "", false
}

// resolve asks the kube-dns pod for name's A record, over UDP from the
// pod of key, as a pod's resolver would (at the pod address: see AIAgents).
func (t *traffic) resolve(from, name string) (netip.Addr, error) {
	qname, err := dnsmessage.NewName(name + ".")
	if err != nil {
		return netip.Addr{}, err
	}
	id := uint16(rand.Uint32())
	q := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: qname, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
	}
	msg, err := q.Pack()
	if err != nil {
		return netip.Addr{}, err
	}
	server := netip.AddrPortFrom(t.s.Pod(KeyDNS).IP, 53)
	var conn net.Conn
	if err := t.n.ns[from].Do(func() (err error) { conn, err = net.Dial("udp", server.String()); return err }); err != nil {
		return netip.Addr{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := conn.Write(msg); err != nil {
		return netip.Addr{}, err
	}
	buf := make([]byte, 1500)
	k, err := conn.Read(buf)
	if err != nil {
		return netip.Addr{}, err
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:k])
	if err != nil {
		return netip.Addr{}, err
	}
	if h.ID != id || h.RCode != dnsmessage.RCodeSuccess {
		return netip.Addr{}, fmt.Errorf("answer %v", h.RCode)
	}
	if err := p.SkipAllQuestions(); err != nil {
		return netip.Addr{}, err
	}
	for {
		rh, err := p.AnswerHeader()
		if err != nil {
			return netip.Addr{}, errors.New("no A record in the answer")
		}
		if rh.Type != dnsmessage.TypeA {
			if err := p.SkipAnswer(); err != nil {
				return netip.Addr{}, err
			}
			continue
		}
		a, err := p.AResource()
		if err != nil {
			return netip.Addr{}, err
		}
		return netip.AddrFrom4(a.A), nil
	}
}

// normalDialTimeout bounds a normal call: everything normal is allowed, so
// only a broken network makes it wait.
const normalDialTimeout = 2 * time.Second

// playNormal makes every normal call once per round until ctx ends; it
// counts the calls made and reports failures to fail.
func (t *traffic) playNormal(ctx context.Context, round time.Duration, calls *atomic.Int64, fail func(Call, error)) {
	tick := time.NewTicker(round)
	defer tick.Stop()
	for {
		for _, c := range t.s.Normal {
			if ctx.Err() != nil {
				return
			}
			o := t.call(ctx, c, normalDialTimeout)
			if o.Err != nil && ctx.Err() == nil {
				fail(c, o.Err)
			}
			calls.Add(1)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
