package baseline

import (
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Novelty says what about an egress flow is outside its workload's baseline.
type Novelty uint8

// Novelties. A flow to a destination never seen is NewDestination (not also
// NewPort); a known destination on a port never seen is NewPort.
const (
	NewDestination Novelty = 1 << iota
	NewPort
	NewFQDN
)

// maxFQDNsPerPeer bounds the names kept on one peer entry.
const maxFQDNsPerPeer = 8

// DestOf returns the destination identity of an endpoint: a pod by its
// workload, anything else by its address.
func DestOf(e *flow.Endpoint) Dest {
	if e.Kind == flow.KindPod && e.Workload != "" {
		return Dest{Kind: flow.KindPod, Namespace: e.Namespace, Workload: e.Workload}
	}
	k := e.Kind
	if k != flow.KindNode {
		k = flow.KindExternal
	}
	return Dest{Kind: k, IP: e.IP}
}

// Observe adds a resolved, evaluated flow record to the profiles of its pod
// sides on this node (the source's egress, the destination's ingress) and
// returns what
// was new about its egress, judged against the source's baseline as it was
// before this record: nothing while the workload is still learning, or for
// what was learned or approved. rec must read as its connection (Src opened
// it). A repeat (a later record of a connection already observed) adds its
// packets and bytes but not a flow.
func (s *Store) Observe(rec *flow.Record, repeat bool) Novelty {
	var h Handle
	return s.ObserveConn(rec, &h, repeat)
}

// Handle remembers where one connection's records go in the store (its
// peer entries), so that its later records skip the lookups. The zero
// Handle is empty; ObserveConn fills it. Keep one per connection: it is two
// pointers, the entries knowing their profile (an entry that overflowed is
// remembered as its profile's spill entry).
type Handle struct {
	egress, ingress *PeerStats
}

// entry returns the profile and peer entry a handle remembers: nil, nil
// for none, and a nil entry for one that overflowed.
func entry(st *PeerStats) (*profile, *PeerStats) {
	if st == nil {
		return nil, nil
	}
	p := st.prof
	if st == &p.spill {
		return p, nil
	}
	return p, st
}

// remember is what a handle keeps of an entry of p (nil: overflowed).
func (p *profile) remember(st *PeerStats) *PeerStats {
	if st == nil {
		return &p.spill
	}
	return st
}

// ObserveConn is Observe for a record of the connection h remembers.
func (s *Store) ObserveConn(rec *flow.Record, h *Handle, repeat bool) Novelty {
	t := rec.TimeFirst
	if t.IsZero() {
		t = s.opts.Now()
	}
	last := rec.TimeLast
	if last.Before(t) {
		last = t
	}
	var nov Novelty
	s.mu.Lock()
	if s.local(&rec.Src) {
		p, st := entry(h.egress)
		if p == nil {
			p = s.profileLocked(s.keyOf(&rec.Src), t)
		}
		nov, st = p.observeEgress(s, rec, st, repeat, t, last)
		h.egress = p.remember(st)
	}
	if s.local(&rec.Dst) {
		p, st := entry(h.ingress)
		if st != nil {
			p.add(st, &rec.Src, rec, repeat, t, last, Ingress)
		} else {
			if p == nil {
				p = s.profileLocked(s.keyOf(&rec.Dst), t)
			}
			st = p.observe(s, PeerKey{Dir: Ingress, Dest: DestOf(&rec.Src), Protocol: rec.Protocol, Port: rec.Dst.Port}, &rec.Src, rec, repeat, t, last)
			h.ingress = p.remember(st)
		}
		p.labels = rec.Dst.Labels
	}
	s.mu.Unlock()
	return nov
}

func isWorkload(e *flow.Endpoint) bool { return e.Kind == flow.KindPod && e.Workload != "" }

// local reports whether e is a pod of a workload that runs on the store's
// node (or on no node it knows of): each agent keeps the profiles of its own
// node's pods, so that two agents seeing one flow (each on its own pod's
// interface) never write the same object.
func (s *Store) local(e *flow.Endpoint) bool {
	return isWorkload(e) && (e.Node == "" || s.opts.Node == "" || e.Node == s.opts.Node)
}

func (s *Store) keyOf(e *flow.Endpoint) Key {
	node := e.Node
	if node == "" {
		node = s.opts.Node
	}
	return Key{Namespace: e.Namespace, Workload: e.Workload, Node: node}
}

// observeEgress adds rec to the profile's egress entry st (nil: look it
// up) and returns the novelty and the entry (nil when it overflowed).
func (p *profile) observeEgress(s *Store, rec *flow.Record, st *PeerStats, repeat bool, t, last time.Time) (Novelty, *PeerStats) {
	p.labels = rec.Src.Labels
	var key PeerKey
	var dest Dest
	if st == nil {
		dest = DestOf(&rec.Dst)
		key = PeerKey{Dir: Egress, Dest: dest, Protocol: rec.Protocol, Port: rec.Dst.Port}
		// The common case, a peer entry already kept, costs one lookup:
		// the entry remembers when its destination and itself were first
		// seen anywhere.
		st = p.peers[key]
	}
	var nov Novelty
	var sh *shared
	if st != nil {
		if !p.known(st.destSince) {
			nov |= NewDestination
		} else if !p.known(st.peerSince) {
			nov |= NewPort
		}
	} else {
		sh = s.sharedLocked(p.key)
		if dt, ok := p.firstSeenDest(sh, dest); !ok {
			if !p.known(t) {
				nov |= NewDestination
			}
		} else if !p.known(dt) {
			nov |= NewDestination
		} else if pt, ok := p.firstSeenPeer(sh, key); !ok && !p.known(t) || ok && !p.known(pt) {
			nov |= NewPort
		}
	}
	if name := rec.Dst.FQDN; name != "" {
		if sh == nil {
			sh = s.sharedLocked(p.key)
		}
		ft, ok := p.fqdns[name]
		if sft, sok := sh.fqdn(name); sok && (!ok || sft.Before(ft)) {
			ft, ok = sft, true
		}
		if !ok {
			ft = t
			if len(p.fqdns) < s.opts.MaxPeers {
				p.fqdns[name] = t
			}
		}
		if !p.known(ft) {
			nov |= NewFQDN
		}
	}
	if st != nil {
		p.add(st, &rec.Dst, rec, repeat, t, last, Egress)
		return nov, st
	}
	if st = p.observe(s, key, &rec.Dst, rec, repeat, t, last); st != nil {
		if _, ok := p.dests[dest]; !ok {
			p.dests[dest] = t
		}
		p.since(sh, key, st)
	}
	return nov, st
}

// since sets a new entry's first-seen times of its destination and of
// itself, local or learned by any agent.
func (p *profile) since(sh *shared, key PeerKey, st *PeerStats) {
	st.peerSince, st.destSince = st.FirstSeen, st.FirstSeen
	if t, ok := p.firstSeenPeer(sh, key); ok && t.Before(st.peerSince) {
		st.peerSince = t
	}
	if t, ok := p.firstSeenDest(sh, key.Dest); ok && t.Before(st.destSince) {
		st.destSince = t
	}
}

// observe adds rec to the peer entry key, or to the overflow when the
// direction is full; it returns the entry, nil when it is not kept.
func (p *profile) observe(s *Store, key PeerKey, peer *flow.Endpoint, rec *flow.Record, repeat bool, t, last time.Time) *PeerStats {
	p.dirty = true
	st := p.peers[key]
	if st == nil {
		if p.perDir[key.Dir] >= s.opts.MaxPeers {
			o := &p.overflow
			if !repeat {
				o.Flows++
			}
			o.Packets += rec.Packets
			o.Bytes += rec.Bytes
			if o.FirstSeen.IsZero() || t.Before(o.FirstSeen) {
				o.FirstSeen = t
			}
			if last.After(o.LastSeen) {
				o.LastSeen = last
			}
			return nil
		}
		st = &PeerStats{FirstSeen: t, prof: p}
		p.peers[key] = st
		p.perDir[key.Dir]++
	}
	p.add(st, peer, rec, repeat, t, last, key.Dir)
	return st
}

// add counts rec in the entry st.
func (p *profile) add(st *PeerStats, peer *flow.Endpoint, rec *flow.Record, repeat bool, t, last time.Time, dir Direction) {
	p.dirty = true
	if !repeat {
		st.Flows++
		if rec.Verdict == "deny" {
			st.Denied++
		}
	}
	st.Packets += rec.Packets
	st.Bytes += rec.Bytes
	if t.Before(st.FirstSeen) {
		st.FirstSeen = t
	}
	if last.After(st.LastSeen) {
		st.LastSeen = last
	}
	if peer.Kind == flow.KindPod {
		st.Labels = peer.Labels
	}
	if name := peer.FQDN; name != "" && dir == Egress {
		st.addFQDN(name)
	}
}

func (st *PeerStats) addFQDN(name string) {
	for _, n := range st.FQDNs {
		if n == name {
			return
		}
	}
	if len(st.FQDNs) < maxFQDNsPerPeer {
		st.FQDNs = append(st.FQDNs, name)
	}
}

// firstSeenDest returns when dest was first seen, locally or by any agent.
func (p *profile) firstSeenDest(sh *shared, dest Dest) (time.Time, bool) {
	t, ok := p.dests[dest]
	if st, sok := sh.dests[dest]; sok && (!ok || st.Before(t)) {
		t, ok = st, true
	}
	return t, ok
}

// firstSeenPeer returns when the peer entry was first seen, locally or by
// any agent.
func (p *profile) firstSeenPeer(sh *shared, key PeerKey) (time.Time, bool) {
	var t time.Time
	st, ok := p.peers[key]
	if ok {
		t = st.FirstSeen
	}
	if rt, rok := sh.peers[key]; rok && (!ok || rt.Before(t)) {
		t, ok = rt, true
	}
	return t, ok
}
