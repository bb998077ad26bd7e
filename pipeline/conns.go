package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/flow"
)

// Defaults of the connection table.
const (
	DefaultConnIdle  = 2 * time.Minute
	DefaultConnTable = 131072
)

// connKey is a connection as its client sees it, in a compact form that
// is cheap to hash and compare (addresses as 16 bytes, IPv4 mapped).
type connKey struct {
	proto          uint8
	cport, sport   uint16
	client, server [16]byte
}

func keyOf(proto uint8, src, dst *flow.Endpoint) connKey {
	return connKey{proto: proto, cport: src.Port, sport: dst.Port, client: src.IP.As16(), server: dst.IP.As16()}
}

func (k connKey) reverse() connKey {
	return connKey{proto: k.proto, cport: k.sport, sport: k.cport, client: k.server, server: k.client}
}

// protoNum numbers a protocol for connKey: cheaper to hash than its name.
func protoNum(p flow.Protocol) uint8 {
	switch p {
	case flow.TCP:
		return 1
	case flow.UDP:
		return 2
	case flow.SCTP:
		return 3
	case flow.ICMPv4:
		return 4
	case flow.ICMPv6:
		return 5
	}
	return 0
}

// conns remembers the connections recently seen, so that a connection is
// counted once however many records report it: one per drain interval,
// one per interface, its replies, Hubble's several events. Time is the
// records' own (a replayed file keeps its timeline): a connection idle for
// longer than idle is forgotten, and a record after that starts a new one.
// At most max connections are kept; past that, a tenth is forgotten at
// random (map order), which only means some repeats count again.
type conns struct {
	idle, max int64
	state     map[connKey]*connState
	newest    int64
	nextSweep int64
	now       func() time.Time
}

// connState is one connection: when it was last seen (the Ingest stage's),
// how it was judged and where it goes in the baseline (the evaluate
// stage's; see connEval).
type connState struct {
	last int64 // unix nanoseconds
	eval atomic.Pointer[connEval]
	base baseline.Handle
}

func newConns(idle time.Duration, max int, now func() time.Time) *conns {
	if idle <= 0 {
		idle = DefaultConnIdle
	}
	if max <= 0 {
		max = DefaultConnTable
	}
	if now == nil {
		now = time.Now
	}
	return &conns{idle: int64(idle), max: int64(max), state: make(map[connKey]*connState), now: now}
}

// track returns rec's connection and reports whether it was already seen
// (rec is a repeat), and whether rec is its reply direction.
func (c *conns) track(rec *flow.Record) (st *connState, repeat, reply bool) {
	first, last := rec.TimeFirst.UnixNano(), rec.TimeLast.UnixNano()
	if rec.TimeFirst.IsZero() {
		first = c.now().UnixNano()
	}
	if rec.TimeLast.IsZero() || last < first {
		last = first
	}
	fwd := keyOf(protoNum(rec.Protocol), &rec.Src, &rec.Dst)
	rev := fwd.reverse()
	key := fwd
	switch rec.Initiator {
	case "dst":
		key, reply = rev, true
	case "":
		// Without a handshake, a record is the reply of the connection
		// its reverse names, if that one is known, or if it looks like one
		// and its own direction is not known.
		if st, ok := c.state[rev]; ok && first <= st.last+c.idle {
			key, reply = rev, true
		} else if _, ok := c.state[fwd]; !ok && LooksLikeReply(rec) {
			key, reply = rev, true
		}
	}
	st = c.state[key]
	switch {
	case st == nil:
		if int64(len(c.state)) >= c.max {
			c.sweep(true)
		}
		st = &connState{last: last}
		c.state[key] = st
	case first <= st.last+c.idle:
		repeat = true
		st.last = max(st.last, last)
	default:
		// The same 5-tuple after a long silence: a new connection.
		st = &connState{last: last}
		c.state[key] = st
	}
	if last > c.newest {
		c.newest = last
	}
	if c.newest >= c.nextSweep {
		c.sweep(false)
		c.nextSweep = c.newest + c.idle
	}
	return st, repeat, reply
}

// sweep forgets idle connections, and when full a tenth of the rest.
func (c *conns) sweep(full bool) {
	horizon := c.newest - c.idle
	for k, st := range c.state {
		if st.last < horizon {
			delete(c.state, k)
		}
	}
	if !full || int64(len(c.state)) < c.max {
		return
	}
	n := len(c.state) / 10
	for k := range c.state {
		if n == 0 {
			break
		}
		delete(c.state, k)
		n--
	}
}

// size is the number of connections remembered.
func (c *conns) size() int { return len(c.state) }

// ephemeralMin is where the ports that clients draw from start (Linux's
// default range is 32768-60999, IANA's 49152-65535).
const ephemeralMin = 32768

// LooksLikeReply guesses, for a record without a handshake (UDP, SCTP,
// ICMP, or TCP seen mid-connection), whether it is the reply direction of
// its connection: an ICMP echo reply, or a service port answering an
// ephemeral one (53 -> 41234, or a well-known port to anything above it).
// Timestamps cannot decide: a coarse kernel clock gives a request and its
// answer the same time.
func LooksLikeReply(r *flow.Record) bool {
	switch r.Protocol {
	case flow.ICMPv4:
		return r.ICMPType != nil && *r.ICMPType == 0 // echo reply
	case flow.ICMPv6:
		return r.ICMPType != nil && *r.ICMPType == 129
	}
	sp, dp := r.Src.Port, r.Dst.Port
	if sp == 0 || dp == 0 || sp == dp {
		return false
	}
	if sp < 1024 && dp >= 1024 {
		return true
	}
	return sp < ephemeralMin && dp >= ephemeralMin
}
