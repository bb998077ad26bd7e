package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Direction says where the kernel saw a flow's packets.
type Direction uint8

// Directions, as enum direction in parse.h.
const (
	Ingress Direction = 0 // into the host through the interface
	Egress  Direction = 1 // out of the host through the interface
	Drop    Direction = 2 // freed by the kernel for a recorded drop reason
)

func (d Direction) String() string {
	switch d {
	case Ingress:
		return "ingress"
	case Egress:
		return "egress"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// Bits of flow_stats.flags (parse.h).
const (
	tcpFlagsMask = 0x1ff
	connSYN      = 1 << 16
	connSYNACK   = 1 << 17
	connAnswered = 1 << 18
)

// Flow is one drained map entry: the record (no interface name, node or
// endpoint resolution yet) and what the kernel key says beyond it.
type Flow struct {
	flow.Record
	Ifindex   int
	Direction Direction
	// SentSYN: these packets include a SYN without ACK, so Src opened the
	// connection. SentSYNACK: they include a SYN-ACK, so Dst opened it.
	SentSYN, SentSYNACK bool
	// SYNAnswered: the kernel saw a SYN-ACK answer this direction's SYN.
	SYNAnswered bool
}

// batchSize is how many entries one batch syscall moves. A hash bucket
// never holds more, so the kernel never refuses a batch for its size.
const batchSize = 4096

type drainBuffers struct {
	keys []auditorFlowKey
	vals []auditorFlowStats
}

// DrainStats describe one drain.
type DrainStats struct {
	// Flows and Drops are the entries taken from each map: how full the
	// maps were since the previous drain.
	Flows, Drops int
	// OtherProtocol counts entries of protocols outside the record's scope
	// (TCP, UDP, SCTP, ICMPv4, ICMPv6), left out of the result.
	OtherProtocol int
}

// Drain removes every flow and drop aggregated since the last drain and
// appends them to dst.
func (o *Objects) Drain(dst []Flow) ([]Flow, DrainStats, error) {
	var st DrainStats
	if o.drain.keys == nil {
		o.drain.keys = make([]auditorFlowKey, batchSize)
		o.drain.vals = make([]auditorFlowStats, batchSize)
	}
	c := o.nowClock()
	var err error
	for _, m := range []struct {
		m *ebpf.Map
		n *int
	}{{o.objs.Flows, &st.Flows}, {o.objs.Drops, &st.Drops}} {
		err = o.drainMap(m.m, func(k *auditorFlowKey, v *auditorFlowStats) {
			*m.n++
			f, ok := o.decode(k, v, c)
			if !ok {
				st.OtherProtocol++
				return
			}
			dst = append(dst, f)
		})
		if err != nil {
			return dst, st, err
		}
	}
	return dst, st, nil
}

// drainMap moves every entry of m out with batch lookup-and-delete, or one
// by one where the kernel has no batch operations for hash maps.
func (o *Objects) drainMap(m *ebpf.Map, each func(*auditorFlowKey, *auditorFlowStats)) error {
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookupAndDelete(&cursor, o.drain.keys, o.drain.vals, nil)
		for i := range n {
			each(&o.drain.keys[i], &o.drain.vals[i])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			return drainOneByOne(m, each)
		}
		if err != nil {
			return fmt.Errorf("drain %s: %w", m, err)
		}
	}
}

func drainOneByOne(m *ebpf.Map, each func(*auditorFlowKey, *auditorFlowStats)) error {
	var (
		k    auditorFlowKey
		v    auditorFlowStats
		keys []auditorFlowKey
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("iterate %s: %w", m, err)
	}
	for i := range keys {
		// Look up after the iteration so that what was added meanwhile counts.
		if err := m.LookupAndDelete(&keys[i], &v); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			if !errors.Is(err, ebpf.ErrNotSupported) {
				return fmt.Errorf("drain %s: %w", m, err)
			}
			if err := m.Lookup(&keys[i], &v); err != nil {
				continue
			}
			_ = m.Delete(&keys[i])
		}
		each(&keys[i], &v)
	}
	return nil
}

func protocol(n uint8, family uint8) (flow.Protocol, bool) {
	switch n {
	case unix.IPPROTO_TCP:
		return flow.TCP, true
	case unix.IPPROTO_UDP:
		return flow.UDP, true
	case unix.IPPROTO_SCTP:
		return flow.SCTP, true
	case unix.IPPROTO_ICMP:
		return flow.ICMPv4, family == 4
	case unix.IPPROTO_ICMPV6:
		return flow.ICMPv6, family == 6
	}
	return "", false
}

func (o *Objects) decode(k *auditorFlowKey, v *auditorFlowStats, c clock) (Flow, bool) {
	proto, ok := protocol(k.Proto, k.Family)
	if !ok {
		return Flow{}, false
	}
	f := Flow{
		Record: flow.Record{
			TimeFirst: c.time(v.First),
			TimeLast:  c.time(v.Last),
			Src:       flow.Endpoint{IP: netip.AddrFrom16(k.Saddr).Unmap()},
			Dst:       flow.Endpoint{IP: netip.AddrFrom16(k.Daddr).Unmap()},
			Protocol:  proto,
			Packets:   v.Packets,
			Bytes:     v.Bytes,
			Observed:  flow.Forwarded,
		},
		Ifindex:     int(k.Ifindex),
		Direction:   Direction(k.Dir),
		SentSYN:     v.Flags&connSYN != 0,
		SentSYNACK:  v.Flags&connSYNACK != 0,
		SYNAnswered: v.Flags&connAnswered != 0,
	}
	// Racing CPUs may store last slightly out of order.
	if f.TimeLast.Before(f.TimeFirst) {
		f.TimeLast = f.TimeFirst
	}
	switch proto {
	case flow.ICMPv4, flow.ICMPv6:
		typ, code := uint8(k.Sport), uint8(k.Dport)
		f.ICMPType, f.ICMPCode = &typ, &code
	default:
		f.Src.Port, f.Dst.Port = k.Sport, k.Dport
	}
	if proto == flow.TCP {
		f.TCPFlags = TCPFlags(uint16(v.Flags & tcpFlagsMask))
	}
	if f.Direction == Drop {
		f.Observed = flow.Dropped
		f.DropReason = o.reasons.Name(k.DropReason)
	}
	return f, true
}

// tcpFlagNames in bit order, as the record spells them.
var tcpFlagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"}

// TCPFlags spells a union of TCP flags: "SYN,ACK,FIN" style, in bit order
// (FIN first).
func TCPFlags(bits uint16) string {
	var b strings.Builder
	for i, name := range tcpFlagNames {
		if bits&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
	}
	return b.String()
}
