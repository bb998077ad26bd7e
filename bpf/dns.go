package bpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf/ringbuf"
)

// DNSAnswer is the payload of one packet sent from port 53 towards a
// client, as the kernel copied it.
type DNSAnswer struct {
	Time           time.Time
	Client, Server netip.Addr
	Ifindex        int
	// TCP: the payload is a TCP segment, messages prefixed by their length.
	TCP bool
	// Payload is what was copied; Truncated says the packet held more.
	Payload   []byte
	Truncated bool
}

// DNSReader reads DNS answers from the programs' ring buffer.
type DNSReader struct {
	rd  *ringbuf.Reader
	rec ringbuf.Record
	ev  auditorDnsEvent
	jc  jiffyClock
}

// NewDNSReader opens the ring buffer. Close it before the Objects.
func (o *Objects) NewDNSReader() (*DNSReader, error) {
	rd, err := ringbuf.NewReader(o.objs.DnsEvents)
	if err != nil {
		return nil, fmt.Errorf("open DNS ring buffer: %w", err)
	}
	return &DNSReader{rd: rd, jc: o.jiffies}, nil
}

// Read blocks for the next answer. It returns os.ErrDeadlineExceeded after
// a deadline, ringbuf.ErrFlushed after Flush has emptied the ring, and
// os.ErrClosed after Close.
func (r *DNSReader) Read() (DNSAnswer, error) {
	if err := r.rd.ReadInto(&r.rec); err != nil {
		return DNSAnswer{}, err
	}
	if _, err := binary.Decode(r.rec.RawSample, binary.NativeEndian, &r.ev); err != nil {
		return DNSAnswer{}, fmt.Errorf("decode DNS event: %w", err)
	}
	ev := &r.ev
	n := min(int(ev.Len), len(ev.Payload))
	return DNSAnswer{
		Time:      r.jc.now().time(ev.Ts),
		Client:    netip.AddrFrom16(ev.Client).Unmap(),
		Server:    netip.AddrFrom16(ev.Server).Unmap(),
		Ifindex:   int(ev.Ifindex),
		TCP:       ev.Proto == 6,
		Payload:   bytes.Clone(ev.Payload[:n]),
		Truncated: ev.OrigLen > ev.Len,
	}, nil
}

// SetDeadline bounds how long Read blocks; the zero time removes it.
func (r *DNSReader) SetDeadline(t time.Time) { r.rd.SetDeadline(t) }

// Flush makes Read return what the ring holds now, then ringbuf.ErrFlushed.
func (r *DNSReader) Flush() error { return r.rd.Flush() }

// Close releases the ring buffer reader and interrupts Read.
func (r *DNSReader) Close() error { return r.rd.Close() }
