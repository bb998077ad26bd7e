package baseline

import (
	"net/netip"
	"time"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
	"github.com/flow-auditor/flow-auditor/flow"
)

// wlKey is a workload regardless of node.
type wlKey struct{ Namespace, Workload string }

// shared is what the agents of every node learned about one workload, read
// back from the ObservedTraffic objects: a pod of the workload that starts on
// this node inherits the workload's learning start, approval and peers.
type shared struct {
	learningStarted time.Time
	approvedAt      time.Time
	peers           map[PeerKey]time.Time
	dests           map[Dest]time.Time
	fqdns           map[string]time.Time
}

var emptyShared = &shared{}

func (sh *shared) fqdn(name string) (time.Time, bool) {
	t, ok := sh.fqdns[name]
	return t, ok
}

// sharedLocked returns the workload's shared knowledge (never nil).
func (s *Store) sharedLocked(k Key) *shared {
	if sh := s.shared[wlKey{k.Namespace, k.Workload}]; sh != nil {
		return sh
	}
	return emptyShared
}

// Merge replaces the store's knowledge from other agents with what objs
// hold (every ObservedTraffic object, of every node) and adopts the objects
// of the store's own profiles where the store has none yet (after a
// restart). Learning starts take the earliest, approvals the latest.
func (s *Store) Merge(objs []v1alpha1.ObservedTraffic) {
	next := make(map[wlKey]*shared)
	maxPer := 4 * s.opts.MaxPeers // several nodes' objects merge into one workload
	for i := range objs {
		o := &objs[i]
		wk := wlKey{o.Namespace, o.Spec.Workload}
		sh := next[wk]
		if sh == nil {
			sh = &shared{
				peers: make(map[PeerKey]time.Time),
				dests: make(map[Dest]time.Time),
				fqdns: make(map[string]time.Time),
			}
			next[wk] = sh
		}
		if t := o.Status.LearningStarted.Time; !t.IsZero() && (sh.learningStarted.IsZero() || t.Before(sh.learningStarted)) {
			sh.learningStarted = t
		}
		if a := o.Spec.ApprovedAt; a != nil && a.After(sh.approvedAt) {
			sh.approvedAt = a.Time
		}
		for j := range o.Status.Peers {
			pk, ok := PeerKeyOf(&o.Status.Peers[j])
			if !ok {
				continue
			}
			fs := o.Status.Peers[j].FirstSeen.Time
			if len(sh.peers) < maxPer {
				minTime(sh.peers, pk, fs)
			}
			if pk.Dir == Egress {
				if len(sh.dests) < maxPer {
					minTime(sh.dests, pk.Dest, fs)
				}
				for _, n := range o.Status.Peers[j].FQDNs {
					if len(sh.fqdns) < maxPer {
						minTime(sh.fqdns, n, fs)
					}
				}
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.shared = next
	for i := range objs {
		o := &objs[i]
		k := Key{Namespace: o.Namespace, Workload: o.Spec.Workload, Node: o.Spec.Node}
		if k.Node != s.opts.Node {
			continue
		}
		if p := s.profiles[k]; p == nil {
			s.profiles[k] = s.adopt(o)
		}
	}
	for k, p := range s.profiles {
		sh := s.sharedLocked(k)
		for pk, st := range p.peers {
			if pk.Dir == Egress {
				p.since(sh, pk, st)
			}
		}
		if !sh.learningStarted.IsZero() && sh.learningStarted.Before(p.learningStarted) {
			p.learningStarted = sh.learningStarted
			p.learningEnds = sh.learningStarted.Add(s.opts.LearningPeriod)
			p.dirty = true
		}
		if sh.approvedAt.After(p.approvedAt) {
			p.approvedAt = sh.approvedAt
		}
	}
}

func minTime[K comparable](m map[K]time.Time, k K, t time.Time) {
	if old, ok := m[k]; !ok || t.Before(old) {
		m[k] = t
	}
}

// adopt rebuilds a profile from this node's object, so that a restarted
// agent keeps counting where it stopped.
func (s *Store) adopt(o *v1alpha1.ObservedTraffic) *profile {
	p := &profile{
		key:             Key{Namespace: o.Namespace, Workload: o.Spec.Workload, Node: o.Spec.Node},
		labels:          o.Spec.Labels,
		learningStarted: o.Status.LearningStarted.Time,
		peers:           make(map[PeerKey]*PeerStats),
		dests:           make(map[Dest]time.Time),
		fqdns:           make(map[string]time.Time),
	}
	p.spill.prof = p
	if p.learningStarted.IsZero() {
		p.learningStarted = s.opts.Now()
	}
	p.learningEnds = p.learningStarted.Add(s.opts.LearningPeriod)
	if a := o.Spec.ApprovedAt; a != nil {
		p.approvedAt = a.Time
	}
	for i := range o.Status.Peers {
		op := &o.Status.Peers[i]
		pk, ok := PeerKeyOf(op)
		if !ok || p.perDir[pk.Dir] >= s.opts.MaxPeers {
			continue
		}
		p.peers[pk] = &PeerStats{
			Labels: op.Labels, FQDNs: op.FQDNs,
			Flows: uint64(op.Flows), Packets: uint64(op.Packets), Bytes: uint64(op.Bytes), Denied: uint64(op.Denied),
			FirstSeen: op.FirstSeen.Time, LastSeen: op.LastSeen.Time, prof: p,
		}
		p.perDir[pk.Dir]++
		if pk.Dir == Egress {
			minTime(p.dests, pk.Dest, op.FirstSeen.Time)
			for _, n := range op.FQDNs {
				if len(p.fqdns) < s.opts.MaxPeers {
					minTime(p.fqdns, n, op.FirstSeen.Time)
				}
			}
		}
	}
	if ov := o.Status.Overflow; ov != nil {
		p.overflow = Overflow{
			Flows: uint64(ov.Flows), Packets: uint64(ov.Packets), Bytes: uint64(ov.Bytes),
			FirstSeen: ov.FirstSeen.Time, LastSeen: ov.LastSeen.Time,
		}
	}
	return p
}

// PeerKeyOf returns the key of an object's peer entry; false for an entry
// this version cannot read.
func PeerKeyOf(op *v1alpha1.ObservedPeer) (PeerKey, bool) {
	var k PeerKey
	switch op.Direction {
	case "egress":
		k.Dir = Egress
	case "ingress":
		k.Dir = Ingress
	default:
		return k, false
	}
	switch flow.Kind(op.Kind) {
	case flow.KindPod:
		k.Dest = Dest{Kind: flow.KindPod, Namespace: op.Namespace, Workload: op.Workload}
	case flow.KindNode, flow.KindExternal:
		ip, err := parseAddr(op.IP)
		if err != nil {
			return k, false
		}
		k.Dest = Dest{Kind: flow.Kind(op.Kind), IP: ip}
	default:
		return k, false
	}
	if op.Port < 0 || op.Port > 65535 {
		return k, false
	}
	k.Protocol = flow.Protocol(op.Protocol)
	k.Port = uint16(op.Port)
	return k, true
}

func parseAddr(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
