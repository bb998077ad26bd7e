// Package baseline keeps what each workload was observed to talk to: an
// in-memory profile per workload and node that the agent's evaluate stage
// updates for every flow and asks about novelty (anomalous egress), and the
// ObservedTraffic objects (flowauditor.io/v1alpha1) it is written to and
// read back from with server-side apply.
package baseline

import (
	"net/netip"
	"sync"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Defaults for Options.
const (
	DefaultLearningPeriod = 24 * time.Hour
	DefaultMaxPeers       = 256
)

// Options bound and time the store.
type Options struct {
	// LearningPeriod is how long after a workload is first seen new peers
	// are learned rather than reported (default 24h).
	LearningPeriod time.Duration
	// MaxPeers bounds the peers kept per profile and direction, and the FQDNs
	// kept per profile (default 256); the rest folds into the overflow.
	MaxPeers int
	// Node is the agent's node, used when a record does not say where the
	// workload's pod runs.
	Node string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.LearningPeriod < 0 {
		o.LearningPeriod = 0
	} else if o.LearningPeriod == 0 {
		o.LearningPeriod = DefaultLearningPeriod
	}
	if o.MaxPeers <= 0 {
		o.MaxPeers = DefaultMaxPeers
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Direction of a peer relative to the profile's workload.
type Direction uint8

// Directions.
const (
	Egress Direction = iota
	Ingress
)

func (d Direction) String() string {
	if d == Ingress {
		return "ingress"
	}
	return "egress"
}

// Key identifies a profile: a workload ("Kind/name") in a namespace, on a
// node.
type Key struct {
	Namespace, Workload, Node string
}

// Dest identifies a peer regardless of port: a pod peer by its workload, any
// other by its address.
type Dest struct {
	Kind      flow.Kind
	Namespace string
	Workload  string
	IP        netip.Addr
}

// PeerKey identifies one peer entry of a profile.
type PeerKey struct {
	Dir      Direction
	Dest     Dest
	Protocol flow.Protocol
	Port     uint16
}

// PeerStats is what was observed of one peer entry.
type PeerStats struct {
	Labels              map[string]string
	FQDNs               []string
	Flows, Packets      uint64
	Bytes, Denied       uint64
	FirstSeen, LastSeen time.Time
	// peerSince and destSince are when this entry and its destination
	// were first seen here or by any agent: what novelty is judged on.
	peerSince, destSince time.Time
	// prof is the entry's profile, so that a Handle needs only the entry.
	prof *profile
}

// Overflow adds up the traffic of peers beyond the bound.
type Overflow struct {
	Flows, Packets, Bytes uint64
	FirstSeen, LastSeen   time.Time
}

// profile is one workload on one node.
type profile struct {
	key    Key
	labels map[string]string

	learningStarted time.Time
	learningEnds    time.Time
	approvedAt      time.Time

	peers    map[PeerKey]*PeerStats
	perDir   [2]int
	overflow Overflow
	// spill stands, in a Handle, for an entry that overflowed: its prof
	// is the profile, and it counts nothing.
	spill PeerStats
	// dests and fqdns hold the earliest first-seen time of each egress
	// destination and name observed here; they tell a new destination from a
	// new port of a known one. Other nodes' knowledge is in Store.shared.
	dests map[Dest]time.Time
	fqdns map[string]time.Time
	dirty bool
}

// Store holds the profiles of the workloads the agent observed. Safe for
// concurrent use: the pipeline observes, the writer snapshots.
type Store struct {
	opts Options

	mu       sync.Mutex
	profiles map[Key]*profile
	shared   map[wlKey]*shared
}

// NewStore returns an empty store.
func NewStore(opts Options) *Store {
	return &Store{opts: opts.withDefaults(), profiles: make(map[Key]*profile)}
}

// LearningPeriod returns the configured learning period.
func (s *Store) LearningPeriod() time.Duration { return s.opts.LearningPeriod }

// profileLocked returns the profile for k, creating it (learning from now).
func (s *Store) profileLocked(k Key, now time.Time) *profile {
	p := s.profiles[k]
	if p == nil {
		start := now
		sh := s.sharedLocked(k)
		if !sh.learningStarted.IsZero() && sh.learningStarted.Before(start) {
			start = sh.learningStarted // another node's agent started learning earlier
		}
		p = &profile{
			key:             k,
			learningStarted: start,
			learningEnds:    start.Add(s.opts.LearningPeriod),
			approvedAt:      sh.approvedAt,
			peers:           make(map[PeerKey]*PeerStats),
			dests:           make(map[Dest]time.Time),
			fqdns:           make(map[string]time.Time),
			dirty:           true,
		}
		p.spill.prof = p
		s.profiles[k] = p
	}
	return p
}

// known reports whether something first seen at t is part of the baseline:
// learned during the learning period, or approved.
func (p *profile) known(t time.Time) bool {
	return t.Before(p.learningEnds) || (!p.approvedAt.IsZero() && !t.After(p.approvedAt))
}

// learning reports whether the profile still learns at now.
func (p *profile) learning(now time.Time) bool { return now.Before(p.learningEnds) }
