package policy

import "net/netip"

// matchPorts returns the index of the first port entry that matches the
// flow, or -1. A flow whose protocol no port can name (ICMP) never matches.
func matchPorts(ports []portMatcher, q *query) int {
	if q.proto == protoOther {
		return -1
	}
	for i := range ports {
		p := &ports[i]
		if p.proto != q.proto {
			continue
		}
		switch p.kind {
		case portAny:
			return i
		case portRange:
			if q.port >= p.lo && q.port <= p.hi {
				return i
			}
		case portNamed:
			if namedPortMatches(q.dst, p.name, q.proto, q.port) {
				return i
			}
		}
	}
	return -1
}

// namedPortMatches resolves a named port on the destination pod: it must
// declare a container port of that name, number and protocol. Only pods
// have container ports as far as policy is concerned.
func namedPortMatches(dst *Peer, name string, pr proto, port int32) bool {
	if dst.Kind != Pod {
		return false
	}
	for i := range dst.Ports {
		cp := &dst.Ports[i]
		if cp.Name == name && cp.ContainerPort == port && containerProto(cp.Protocol) == pr {
			return true
		}
	}
	return false
}

// matchPeers returns the index of the first peer that matches the target,
// or -1. policyNS is the namespace a podSelector-only peer is confined to.
func matchPeers(peers []peerMatcher, policyNS string, t *target) int {
	for i := range peers {
		if peers[i].matches(policyNS, t) {
			return i
		}
	}
	return -1
}

func (p *peerMatcher) matches(policyNS string, t *target) bool {
	if p.ipBlock {
		// Any address in the block, pod IPs included.
		return inBlock(p.cidr, p.except, t.peer.IP.Unmap())
	}
	// Selectors only ever select pods; nodes (hostNetwork pods included)
	// and external addresses are matched by ipBlock alone.
	if t.peer.Kind != Pod {
		return false
	}
	if p.nsSel == nil {
		if t.peer.Namespace != policyNS {
			return false
		}
	} else if !p.nsSel.empty() && !p.nsSel.matchesNamespace(t.namespaceLabels(), t.peer.Namespace) {
		return false
	}
	return p.podSel == nil || p.podSel.matchesPod(t.peer.Labels)
}

// inBlock reports whether ip is in the ipBlock cidr but in none of except.
func inBlock(cidr netip.Prefix, except []netip.Prefix, ip netip.Addr) bool {
	if !ip.IsValid() || !cidr.Contains(ip) {
		return false
	}
	for _, ex := range except {
		if ex.Contains(ip) {
			return false
		}
	}
	return true
}
