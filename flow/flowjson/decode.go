package flowjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Bounds of a Decoder's caches: enough for the workloads of a large
// cluster, small enough that a pathological input cannot grow them forever
// (a full cache is simply cleared).
const (
	maxInterned     = 1 << 16
	maxInternLen    = 512
	maxLabelSets    = 1 << 14
	maxLabelSetSize = 4096
)

// Decoder is the fast path for flow record lines. It interns strings and
// label maps, so records it decodes share them: treat Endpoint.Labels as
// read-only. A Decoder is not safe for concurrent use; use one per
// goroutine.
type Decoder struct {
	strs   map[string]string
	labels map[string]map[string]string
}

// NewDecoder returns a Decoder with empty caches.
func NewDecoder() *Decoder {
	return &Decoder{strs: make(map[string]string), labels: make(map[string]map[string]string)}
}

// Line is one flow record line: the record, and the flat fields that audit
// output adds (so that audit output can be read back, and hand-written
// lines may give src_ip and dst_ip instead of src and dst objects).
type Line struct {
	flow.Record
	Flat
}

// Unmarshal decodes a flow record line with encoding/json, rejecting
// unknown fields and trailing data: the reference that Decoder follows, and
// the source of error messages.
func Unmarshal(b []byte, l *Line) error {
	*l = Line{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(l); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// Decode decodes one JSON object holding a flow record line into l (reset
// first). It reports false, leaving l unspecified, for anything outside the
// fast path (escaped strings, null, unknown or repeated keys, malformed
// JSON); the caller then calls Unmarshal, which is the reference for both
// the value and the error.
func (d *Decoder) Decode(b []byte, l *Line) bool {
	*l = Line{}
	r, flat := &l.Record, &l.Flat
	s := scanner{b: b}
	if !s.consume('{') {
		return false
	}
	var seen uint32
	if !s.consume('}') {
		for {
			key, ok := s.str()
			if !ok || !s.consume(':') {
				return false
			}
			bit, ok := d.field(&s, key, r, flat)
			if !ok || seen&bit != 0 {
				return false
			}
			seen |= bit
			if s.consume('}') {
				break
			}
			if !s.consume(',') {
				return false
			}
		}
	}
	s.ws()
	return s.i == len(s.b)
}

// field decodes the value of one record key and returns the key's bit for
// duplicate detection.
func (d *Decoder) field(s *scanner, key []byte, r *flow.Record, flat *Flat) (uint32, bool) {
	var ok bool
	switch string(key) {
	case "time_first":
		return 1 << 0, d.time(s, &r.TimeFirst)
	case "time_last":
		return 1 << 1, d.time(s, &r.TimeLast)
	case "node":
		r.Node, ok = d.string(s)
		return 1 << 2, ok
	case "interface":
		r.Interface, ok = d.string(s)
		return 1 << 3, ok
	case "src":
		return 1 << 4, d.endpoint(s, &r.Src)
	case "dst":
		return 1 << 5, d.endpoint(s, &r.Dst)
	case "protocol":
		var v string
		v, ok = d.string(s)
		r.Protocol = flow.Protocol(v)
		return 1 << 6, ok
	case "icmp_type":
		r.ICMPType, ok = uint8Ptr(s)
		return 1 << 7, ok
	case "icmp_code":
		r.ICMPCode, ok = uint8Ptr(s)
		return 1 << 8, ok
	case "packets":
		r.Packets, ok = s.uint(^uint64(0))
		return 1 << 9, ok
	case "bytes":
		r.Bytes, ok = s.uint(^uint64(0))
		return 1 << 10, ok
	case "tcp_flags":
		r.TCPFlags, ok = d.string(s)
		return 1 << 11, ok
	case "initiator":
		r.Initiator, ok = d.string(s)
		return 1 << 12, ok
	case "answered":
		var v bool
		v, ok = s.boolean()
		r.Answered = &v
		return 1 << 13, ok
	case "direction":
		r.Direction, ok = d.string(s)
		return 1 << 14, ok
	case "observed":
		var v string
		v, ok = d.string(s)
		r.Observed = flow.Observed(v)
		return 1 << 15, ok
	case "drop_reason":
		r.DropReason, ok = d.string(s)
		return 1 << 16, ok
	case "egress":
		r.Egress, ok = d.string(s)
		return 1 << 17, ok
	case "ingress":
		r.Ingress, ok = d.string(s)
		return 1 << 18, ok
	case "verdict":
		r.Verdict, ok = d.string(s)
		return 1 << 19, ok
	case "violation":
		r.Violation, ok = d.string(s)
		return 1 << 20, ok
	case "explanation":
		r.Explanation, ok = d.string(s)
		return 1 << 21, ok
	case "src_ip":
		flat.SrcIP, ok = d.addr(s)
		return 1 << 22, ok
	case "dst_ip":
		flat.DstIP, ok = d.addr(s)
		return 1 << 23, ok
	case "src_port":
		var v uint64
		v, ok = s.uint(65535)
		flat.SrcPort = uint16(v)
		return 1 << 24, ok
	case "dst_port":
		var v uint64
		v, ok = s.uint(65535)
		flat.DstPort = uint16(v)
		return 1 << 25, ok
	}
	return 0, false
}

func (d *Decoder) endpoint(s *scanner, e *flow.Endpoint) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	var seen uint16
	for {
		key, ok := s.str()
		if !ok || !s.consume(':') {
			return false
		}
		var bit uint16
		switch string(key) {
		case "ip":
			bit = 1 << 0
			e.IP, ok = d.addr(s)
		case "port":
			bit = 1 << 1
			var v uint64
			v, ok = s.uint(65535)
			e.Port = uint16(v)
		case "kind":
			bit = 1 << 2
			var v string
			v, ok = d.string(s)
			e.Kind = flow.Kind(v)
		case "namespace":
			bit = 1 << 3
			e.Namespace, ok = d.string(s)
		case "pod":
			bit = 1 << 4
			e.Pod, ok = d.string(s)
		case "node":
			bit = 1 << 5
			e.Node, ok = d.string(s)
		case "workload":
			bit = 1 << 6
			e.Workload, ok = d.string(s)
		case "labels":
			bit = 1 << 7
			e.Labels, ok = d.labelSet(s)
		case "service":
			bit = 1 << 8
			e.Service, ok = d.string(s)
		case "service_port":
			bit = 1 << 9
			var v uint64
			v, ok = s.uint(65535)
			e.ServicePort = uint16(v)
		case "fqdn":
			bit = 1 << 10
			e.FQDN, ok = d.string(s)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// labelSet decodes a labels object, sharing one map between every record
// that carries the same bytes.
func (d *Decoder) labelSet(s *scanner) (map[string]string, bool) {
	if s.peek() != '{' {
		return nil, false
	}
	start := s.i
	if !s.skipValue(0) {
		return nil, false
	}
	raw := s.b[start:s.i]
	if m, ok := d.labels[string(raw)]; ok {
		return m, true
	}
	sub := scanner{b: raw}
	sub.i = 1
	m := make(map[string]string)
	if !sub.consume('}') {
		for {
			k, ok := sub.str()
			if !ok || !sub.consume(':') {
				return nil, false
			}
			v, ok := sub.str()
			if !ok {
				return nil, false
			}
			m[d.intern(k)] = d.intern(v)
			if sub.consume('}') {
				break
			}
			if !sub.consume(',') {
				return nil, false
			}
		}
	}
	if len(raw) <= maxLabelSetSize {
		if len(d.labels) >= maxLabelSets {
			clear(d.labels)
		}
		d.labels[string(raw)] = m
	}
	return m, true
}

func (d *Decoder) string(s *scanner) (string, bool) {
	b, ok := s.str()
	if !ok {
		return "", false
	}
	return d.intern(b), true
}

func (d *Decoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if v, ok := d.strs[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(b) <= maxInternLen {
		if len(d.strs) >= maxInterned {
			clear(d.strs)
		}
		d.strs[v] = v
	}
	return v
}

func (d *Decoder) addr(s *scanner) (netip.Addr, bool) {
	b, ok := s.str()
	if !ok {
		return netip.Addr{}, false
	}
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	var a netip.Addr
	// The same call encoding/json makes; an invalid address is left to it
	// so that its error is the one reported.
	if err := a.UnmarshalText(b); err != nil {
		return a, false
	}
	return a, true
}

// parseIPv4 parses a dotted-quad IPv4 address as netip.ParseAddr does
// (four decimal fields of at most 255, no leading zeros) without the
// allocation of converting b to a string. It reports false for anything
// else, valid or not.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var out [4]byte
	field, digits, val := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return netip.Addr{}, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && field < 3:
			out[field] = byte(val)
			field, digits, val = field+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	out[3] = byte(val)
	return netip.AddrFrom4(out), true
}

func (d *Decoder) time(s *scanner, t *time.Time) bool {
	b, ok := s.str()
	if !ok {
		return false
	}
	return t.UnmarshalText(b) == nil
}

func uint8Ptr(s *scanner) (*uint8, bool) {
	v, ok := s.uint(255)
	if !ok {
		return nil, false
	}
	u := uint8(v)
	return &u, true
}
