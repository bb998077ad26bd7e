package ebpf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/flow-auditor/flow-auditor/bpf"
)

// dnsStage reads DNS answers from the kernel's ring buffer into the cache.
type dnsStage struct {
	log   *zap.Logger
	rd    *bpf.DNSReader
	cache *dnsCache

	answers  atomic.Uint64 // answers parsed
	failures atomic.Uint64 // payloads that were not a complete DNS answer
}

// Run reads until the reader is flushed (Source does it once the programs
// are detached, so that every answer they copied is read) or closed. It
// does not stop on ctx: the answers still in the ring name the final
// drain's flows.
func (d *dnsStage) Run(_ context.Context) error {
	for {
		a, err := d.rd.Read()
		switch {
		case errors.Is(err, ringbuf.ErrFlushed), errors.Is(err, os.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("read DNS answers: %w", err)
		}
		d.handle(a)
	}
}

func (d *dnsStage) handle(a bpf.DNSAnswer) {
	msgs, err := splitDNS(a.Payload, a.TCP)
	if err != nil || (a.Truncated && !a.TCP) {
		d.failures.Add(1)
		d.log.Debug("DNS answer not parsed", zap.Stringer("client", a.Client), zap.Bool("truncated", a.Truncated), zap.Error(err))
		return
	}
	for _, m := range msgs {
		ans, err := parseDNSAnswer(m)
		if err != nil {
			d.failures.Add(1)
			d.log.Debug("DNS answer not parsed", zap.Stringer("client", a.Client), zap.Error(err))
			continue
		}
		d.answers.Add(1)
		for _, r := range ans.addrs {
			d.cache.add(a.Client, r.ip, ans.name, a.Time, r.ttl)
		}
	}
}

// splitDNS returns the DNS messages of a payload: the payload itself over
// UDP, the length-prefixed messages of a TCP segment.
func splitDNS(p []byte, tcp bool) ([][]byte, error) {
	if !tcp {
		return [][]byte{p}, nil
	}
	var msgs [][]byte
	for len(p) > 0 {
		if len(p) < 2 {
			return msgs, errors.New("TCP DNS segment: partial length prefix")
		}
		n := int(binary.BigEndian.Uint16(p))
		if len(p) < 2+n {
			return msgs, fmt.Errorf("TCP DNS segment: message of %d bytes, %d present (split across segments)", n, len(p)-2)
		}
		msgs = append(msgs, p[2:2+n])
		p = p[2+n:]
	}
	return msgs, nil
}

type dnsAnswer struct {
	name  string // the question's name, lower case, no final dot
	addrs []dnsAddr
}

type dnsAddr struct {
	ip  netip.Addr
	ttl time.Duration
}

// parseDNSAnswer reads the A and AAAA records of a successful answer; they
// are named after the question, CNAME chains included.
func parseDNSAnswer(msg []byte) (dnsAnswer, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return dnsAnswer{}, err
	}
	if !h.Response {
		return dnsAnswer{}, errors.New("a query, not an answer")
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return dnsAnswer{}, fmt.Errorf("answer with rcode %v", h.RCode)
	}
	q, err := p.Question()
	if err != nil {
		return dnsAnswer{}, fmt.Errorf("question: %w", err)
	}
	if err := p.SkipAllQuestions(); err != nil {
		return dnsAnswer{}, err
	}
	ans := dnsAnswer{name: strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))}
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return ans, err
		}
		ttl := time.Duration(rh.TTL) * time.Second
		switch rh.Type {
		case dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				return ans, err
			}
			ans.addrs = append(ans.addrs, dnsAddr{ip: netip.AddrFrom4(r.A), ttl: ttl})
		case dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				return ans, err
			}
			ans.addrs = append(ans.addrs, dnsAddr{ip: netip.AddrFrom16(r.AAAA), ttl: ttl})
		default:
			if err := p.SkipAnswer(); err != nil {
				return ans, err
			}
		}
	}
	return ans, nil
}
