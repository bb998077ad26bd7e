package pipeline

import (
	"sync/atomic"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

// A node's new connections are mostly siblings of recent ones: the same
// client pod to the same server and port from another ephemeral port (a
// DNS query, an HTTP client's next connection, an agent's next call to its
// LLM API). Siblings resolve alike, are judged alike and go to the same
// baseline entries, so a new connection with a sibling judged under the
// same inventory, the same policies and inside the span of start times its
// resolution holds for skips resolution and judging.

// sibling is what the connections of one client address to one server
// address, port and protocol share. The correlate stage makes it and reads
// version and valid; the evaluate stage sets eval and owns base.
type sibling struct {
	version uint64         // the inventory version it was resolved with
	valid   correlate.Span // the start times that resolve alike
	eval    atomic.Pointer[connEval]
	base    baseline.Handle
}

// siblings is the correlate stage's table of siblings, IPv4 ones under
// their short key, bounded: when full it starts over.
type siblings struct {
	v4 map[connKey4]*sibling
	v6 map[connKey]*sibling
}

// maxSiblings bounds the table: a node's distinct (client, server, port)
// triples number in the thousands.
const maxSiblings = 1 << 14

// sibKey is a record's sibling key: its connection's key (its way round,
// which the correlate stage has set) with the client port left out.
type sibKey struct {
	k4  connKey4
	k   connKey
	is4 bool
}

// siblingKey is rec's sibling key, if rec can have siblings: both
// addresses known, a start time, and no verdict of its source's own.
func siblingKey(rec *flow.Record) (sibKey, bool) {
	if !rec.Src.IP.IsValid() || !rec.Dst.IP.IsValid() || rec.TimeFirst.IsZero() || rec.Verdict != "" {
		return sibKey{}, false
	}
	proto := protoNum(rec.Protocol)
	if k4, ok := key4(proto, &rec.Src, &rec.Dst); ok {
		k4[1], k4[2] = 0, 0 // the client port
		return sibKey{k4: k4, is4: true}, true
	}
	k := keyOf(proto, &rec.Src, &rec.Dst)
	k.cport = 0
	return sibKey{k: k}, true
}

// find returns the sibling of k that a record starting at t, resolved with
// inventory version, may share, or nil.
func (t *siblings) find(k *sibKey, version uint64, at int64) *sibling {
	var s *sibling
	if k.is4 {
		s = t.v4[k.k4]
	} else {
		s = t.v6[k.k]
	}
	if s == nil || s.version != version || !s.valid.Contains(at) {
		return nil
	}
	return s
}

// add makes the sibling of k for a record just resolved as res.
func (t *siblings) add(k *sibKey, version uint64, res *correlate.Resolution) *sibling {
	if t.v4 == nil || len(t.v4)+len(t.v6) >= maxSiblings {
		t.v4, t.v6 = make(map[connKey4]*sibling), make(map[connKey]*sibling)
	}
	s := &sibling{version: version, valid: res.Valid}
	if k.is4 {
		t.v4[k.k4] = s
	} else {
		t.v6[k.k] = s
	}
	return s
}

// judgement returns the sibling's judgement for a record starting at
// (found for it), if it was made with the current policies.
func (s *sibling) judgement(current *Policies, at int64) *connEval {
	c := s.eval.Load()
	if c == nil || c.policies != current {
		return nil
	}
	if at-c.at > int64(connRefresh)/2 {
		// Confirmed at this time: a connection taking it keeps it for
		// connRefresh from now, not from when the first sibling was judged.
		c = &connEval{judgement: c.judgement, at: at}
		s.eval.Store(c)
	}
	return c
}
