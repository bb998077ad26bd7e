package bpf

import (
	"encoding/binary"
	"net/netip"
)

// Frames for BPF_PROG_RUN, built by hand: the programs never check
// checksums, so none are computed.

type l4 struct {
	proto   uint8
	header  []byte
	payload []byte
}

func udp(sport, dport uint16, payload []byte) l4 {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return l4{proto: 17, header: h, payload: payload}
}

func tcp(sport, dport uint16, flags uint8, payload []byte) l4 {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	h[12] = 5 << 4
	h[13] = flags
	return l4{proto: 6, header: h, payload: payload}
}

func sctp(sport, dport uint16) l4 {
	h := make([]byte, 12)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	return l4{proto: 132, header: h}
}

func icmp(proto, typ, code uint8, payload []byte) l4 {
	return l4{proto: proto, header: []byte{typ, code, 0, 0, 0, 1, 0, 1}, payload: payload}
}

type frame struct {
	vlan     bool
	ipOpts   int // IPv4 option words
	fragOff  uint16
	v6Ext    []uint8 // IPv6 extension headers before the transport, in order
	v6FragNo uint16  // fragment offset (8-byte units) in an IPv6 fragment header
}

func (f frame) build(src, dst netip.Addr, t l4) []byte {
	eth := make([]byte, 12, 64)
	if f.vlan {
		eth = binary.BigEndian.AppendUint16(eth, 0x8100)
		eth = binary.BigEndian.AppendUint16(eth, 42)
	}
	if src.Is4() {
		eth = binary.BigEndian.AppendUint16(eth, 0x0800)
		ihl := 5 + f.ipOpts
		ip := make([]byte, ihl*4)
		ip[0] = 4<<4 | byte(ihl)
		total := len(ip) + len(t.header) + len(t.payload)
		binary.BigEndian.PutUint16(ip[2:], uint16(total))
		binary.BigEndian.PutUint16(ip[6:], f.fragOff)
		ip[8] = 64
		ip[9] = t.proto
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		out := append(eth, ip...)
		if f.fragOff&0x1fff == 0 {
			out = append(out, t.header...)
		}
		return append(out, t.payload...)
	}
	eth = binary.BigEndian.AppendUint16(eth, 0x86dd)
	var ext []byte
	next := t.proto
	for i := len(f.v6Ext) - 1; i >= 0; i-- {
		h := make([]byte, 8)
		h[0] = next
		if f.v6Ext[i] == 44 {
			binary.BigEndian.PutUint16(h[2:], f.v6FragNo<<3)
		}
		ext = append(h, ext...)
		next = f.v6Ext[i]
	}
	ip := make([]byte, 40)
	ip[0] = 6 << 4
	body := append(ext, t.header...)
	if f.v6FragNo != 0 {
		body = ext
	}
	body = append(body, t.payload...)
	binary.BigEndian.PutUint16(ip[4:], uint16(len(body)))
	ip[6] = next
	ip[7] = 64
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	return append(append(eth, ip...), body...)
}
