package correlate

import (
	"net/netip"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Translate turns a flow's destination into the candidates it may have
// reached, appended to dst: for a Service address, each backend that a
// connection from that family can reach for port/proto, with the port
// translated to the backend's target port; otherwise (or when no backend
// serves the port) the destination itself. Backends are resolved at time
// at. It does not allocate when dst has room.
func (ix *Index) Translate(t *Target, ip netip.Addr, port uint16, proto flow.Protocol, at time.Time, dst []Candidate) []Candidate {
	valid := always()
	dst, _ = ix.translate(t, ip.Unmap(), port, proto, ix.readTime(at), &valid, dst)
	return dst
}

func (ix *Index) translate(t *Target, ip netip.Addr, port uint16, proto flow.Protocol, at int64, valid *Span, dst []Candidate) ([]Candidate, *ServicePort) {
	if t == nil || t.Service == nil {
		return append(dst, Candidate{Target: t, IP: ip, Port: port}), nil
	}
	sp := t.Service.Port(port, proto)
	if sp == nil {
		return append(dst, Candidate{Target: t, IP: ip, Port: port}), nil
	}
	n := len(dst)
	for _, b := range sp.Candidates(ip) {
		bt := ix.resolveAt(b.IP, at, valid)
		bport := b.Port
		if bport == 0 && bt != nil {
			bport = namedPort(bt.Peer.Ports, b.PortName, sp.Protocol)
		}
		if bport == 0 {
			continue // a named port this backend does not have
		}
		dst = append(dst, Candidate{Target: bt, IP: b.IP, Port: bport})
	}
	if len(dst) == n {
		dst = append(dst, Candidate{Target: t, IP: ip, Port: port})
	}
	return dst, sp
}

// ResolveRecord resolves both sides of r at r.TimeFirst (zero: now) into
// res, and fills r.Src and r.Dst from it. An endpoint without an address
// but with namespace and pod (some Hubble flows) is resolved by name and
// gets the pod's address. A destination that is a Service address is
// translated: res.Dst holds every backend candidate (the caller judges the
// flow against each), r.Dst is filled from the first, and its Service and
// ServicePort are set. It does not allocate once res.Dst has grown to the
// largest backend count. res.Valid is the span of start times at which
// the same record would resolve alike, while the index does not change.
func (ix *Index) ResolveRecord(r *flow.Record, res *Resolution) {
	res.reset()
	t := ix.readTime(r.TimeFirst)
	res.Src = ix.candidate(&r.Src, t, &res.Valid)
	dst := ix.candidate(&r.Dst, t, &res.Valid)
	res.WirePort = r.Dst.Port
	if dst.Target != nil && dst.Target.Service != nil {
		res.Service = dst.Target.Service
	}
	res.Dst, res.ServicePort = ix.translate(dst.Target, dst.IP, dst.Port, r.Protocol, t, &res.Valid, res.Dst)
	res.Src.Fill(&r.Src)
	res.FillDst(&r.Dst, 0)
}

func (ix *Index) candidate(e *flow.Endpoint, t int64, sp *Span) Candidate {
	if !e.IP.IsValid() {
		if e.Namespace != "" && e.Pod != "" {
			if tg := ix.resolveNameAt(e.Namespace, e.Pod, t, sp); tg != nil {
				return Candidate{Target: tg, IP: tg.Endpoint.IP, Port: e.Port}
			}
		}
		return Candidate{IP: e.IP, Port: e.Port}
	}
	ip := e.IP.Unmap()
	return Candidate{Target: ix.resolveAt(ip, t, sp), IP: ip, Port: e.Port}
}
