package pipeline

import (
	"encoding/binary"
	"net/netip"
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

// connKey4 is a connKey of two IPv4 addresses: 13 bytes instead of 38,
// which halves a table's slots (24 bytes with the pointer, not 48). It is
// a plain array, without padding, so that it hashes and compares as one
// piece of memory: protocol, client port, server port, client address,
// server address.
type connKey4 [13]byte

// key4 is the short key of a connection between two IPv4 (or
// IPv4-mapped) addresses, which a connKey of them would also stand for.
func key4(proto uint8, src, dst *flow.Endpoint) (connKey4, bool) {
	if !is4(src.IP) || !is4(dst.IP) {
		return connKey4{}, false
	}
	var k connKey4
	k[0] = proto
	binary.BigEndian.PutUint16(k[1:], src.Port)
	binary.BigEndian.PutUint16(k[3:], dst.Port)
	a, b := src.IP.As4(), dst.IP.As4()
	copy(k[5:9], a[:])
	copy(k[9:], b[:])
	return k, true
}

func is4(a netip.Addr) bool { return a.Is4() || a.Is4In6() }

func (k connKey4) reverse() connKey4 {
	r := k
	copy(r[1:3], k[3:5])
	copy(r[3:5], k[1:3])
	copy(r[5:9], k[9:13])
	copy(r[9:13], k[5:9])
	return r
}

// connTable holds the connections by key, IPv4 ones (most) under their
// short key in a table of their own.
type connTable struct {
	v4 *table4
	v6 mapTable[connKey]
}

func (t *connTable) len() int { return t.v4.count() + t.v6.count() }

// mapTable is a connection table in a Go map.
type mapTable[K comparable] map[K]*connState

func (m mapTable[K]) get(k K) *connState     { return m[k] }
func (m mapTable[K]) set(k K, st *connState) { m[k] = st }
func (m mapTable[K]) count() int             { return len(m) }
func (m mapTable[K]) clear()                 { clear(m) }

// forgetIdle deletes the connections last seen before horizon. When most
// are idle it clears the table and puts the rest back instead: a map
// emptied by deletes keeps its deleted slots, which every later lookup
// probes through.
func (m mapTable[K]) forgetIdle(horizon int64) {
	type kept struct {
		k  K
		st *connState
	}
	var live []kept
	for k, st := range m {
		if st.last >= horizon {
			live = append(live, kept{k, st})
			if len(live)*2 >= len(m) {
				break // most are live: delete the idle ones in place
			}
		}
	}
	if len(live)*2 < len(m) {
		clear(m)
		for _, e := range live {
			m[e.k] = e.st
		}
		return
	}
	for k, st := range m {
		if st.last < horizon {
			delete(m, k)
		}
	}
}

// forgetSome deletes n connections, at random (map order).
func (m mapTable[K]) forgetSome(n int) {
	for k := range m {
		if n <= 0 {
			return
		}
		delete(m, k)
		n--
	}
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
// random (map and slot order), which only means some repeats count again.
type conns struct {
	idle, max int64
	state     connTable
	newest    int64
	nextSweep int64
	now       func() time.Time
	// judged is the connections' judgements, interned; the evaluate stage
	// alone uses it (Event.judged).
	judged judgements
	// warm's scratch, and what it read (kept, so that the reads stay).
	warmKeys  []connKey4
	warmHomes []int
	warmed    uintptr
}

// warm readies the IPv4 table for recs, a batch about to be tracked (see
// table4.warm): the slots and states they need are fetched together.
func (c *conns) warm(recs []flow.Record) {
	keys := c.warmKeys[:0]
	for i := range recs {
		rec := &recs[i]
		k, ok := key4(protoNum(rec.Protocol), &rec.Src, &rec.Dst)
		if !ok {
			continue
		}
		if rec.Initiator == "dst" {
			k = k.reverse()
		}
		keys = append(keys, k)
	}
	if cap(c.warmHomes) < len(keys) {
		c.warmHomes = make([]int, len(keys))
	}
	c.warmKeys = keys
	c.warmed += c.state.v4.warm(keys, c.warmHomes[:len(keys)])
}

// connState is one connection: when it was last seen (the Ingest stage's),
// how it was judged and where it goes in the baseline (the evaluate
// stage's; see connEval). It is 32 bytes: a node holds 100,000s of them.
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
	return &conns{idle: int64(idle), max: int64(max), now: now, state: connTable{
		v4: newTable4(), v6: make(mapTable[connKey]),
	}}
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
	if c.newest < first-c.idle && c.state.len() > 0 {
		// Every connection remembered went idle before this record (a lull,
		// or a replayed timeline's jump): start over without looking at each.
		c.state.v4.clear()
		c.state.v6.clear() // which leaves no deleted slots, unlike deletes
	}
	proto := protoNum(rec.Protocol)
	if k, ok := key4(proto, &rec.Src, &rec.Dst); ok {
		return track(c, c.state.v4, k, rec, first, last)
	}
	return track(c, c.state.v6, keyOf(proto, &rec.Src, &rec.Dst), rec, first, last)
}

// tableKey is a connection table's key.
type tableKey[K any] interface {
	comparable
	reverse() K
}

// keyedTable is a connection table with keys K.
type keyedTable[K any] interface {
	get(k K) *connState
	set(k K, st *connState)
}

// track is conns.track in the table m, for the record's key fwd.
func track[K tableKey[K], T keyedTable[K]](c *conns, m T, fwd K, rec *flow.Record, first, last int64) (st *connState, repeat, reply bool) {
	key := fwd
	switch rec.Initiator {
	case "dst":
		key, reply = fwd.reverse(), true
	case "":
		// Without a handshake, a record is the reply of the connection
		// its reverse names, if that one is known, or if it looks like one
		// and its own direction is not known.
		rev := fwd.reverse()
		if st := m.get(rev); st != nil && first <= st.last+c.idle {
			key, reply = rev, true
		} else if m.get(fwd) == nil && LooksLikeReply(rec) {
			key, reply = rev, true
		}
	}
	st = m.get(key)
	switch {
	case st == nil:
		if int64(c.state.len()) >= c.max {
			c.sweep(true)
		}
		st = &connState{last: last}
		m.set(key, st)
	case first <= st.last+c.idle:
		repeat = true
		st.last = max(st.last, last)
	default:
		// The same 5-tuple after a long silence: a new connection.
		st = &connState{last: last}
		m.set(key, st)
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
	c.state.v4.forgetIdle(horizon)
	c.state.v6.forgetIdle(horizon)
	if !full || int64(c.state.len()) < c.max {
		return
	}
	n := max(c.state.len()/10, 1)
	n4 := n * c.state.v4.count() / c.state.len()
	c.state.v4.forgetSome(n4)
	c.state.v6.forgetSome(n - n4)
}

// size is the number of connections remembered.
func (c *conns) size() int { return c.state.len() }

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
