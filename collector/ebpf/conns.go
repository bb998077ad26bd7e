package ebpf

import (
	"net/netip"
	"slices"
	"time"

	"github.com/flow-auditor/flow-auditor/bpf"
	"github.com/flow-auditor/flow-auditor/flow"
)

// connTable carries what a TCP handshake said about a connection (who
// opened it, whether it was answered) to the records of later drains,
// which see only its middle. Bounded: beyond max entries the least
// recently seen go, and an entry unseen for idle is forgotten.
type connTable struct {
	max   int
	idle  time.Duration
	conns map[connKey]*connState
}

// connKey is the connection as its initiator sees it.
type connKey struct {
	client, server netip.AddrPort
}

type connState struct {
	answered bool
	seen     time.Time
}

func newConnTable(max int, idle time.Duration) *connTable {
	return &connTable{max: max, idle: idle, conns: map[connKey]*connState{}}
}

func keyOf(r *flow.Record) connKey {
	return connKey{netip.AddrPortFrom(r.Src.IP, r.Src.Port), netip.AddrPortFrom(r.Dst.IP, r.Dst.Port)}
}

func (k connKey) reverse() connKey { return connKey{k.server, k.client} }

// apply learns the handshakes of one drain, then sets Initiator and
// Answered on every TCP record whose connection is known.
func (t *connTable) apply(flows []bpf.Flow, now time.Time) {
	for i := range flows {
		f := &flows[i]
		if f.Protocol != flow.TCP {
			continue
		}
		k := keyOf(&f.Record)
		switch {
		case f.SentSYN:
			st := t.conns[k]
			if st == nil {
				st = &connState{}
				t.conns[k] = st
			}
			st.answered = st.answered || f.SYNAnswered
		case f.SentSYNACK:
			st := t.conns[k.reverse()]
			if st == nil {
				st = &connState{}
				t.conns[k.reverse()] = st
			}
			st.answered = true
		}
	}
	for i := range flows {
		r := &flows[i].Record
		if r.Protocol != flow.TCP {
			continue
		}
		k := keyOf(r)
		var st *connState
		if st = t.conns[k]; st != nil {
			r.Initiator = "src"
		} else if st = t.conns[k.reverse()]; st != nil {
			r.Initiator = "dst"
		} else {
			continue
		}
		st.seen = now
		answered := st.answered
		r.Answered = &answered
	}
	t.expire(now)
}

func (t *connTable) expire(now time.Time) {
	for k, st := range t.conns {
		if now.Sub(st.seen) > t.idle {
			delete(t.conns, k)
		}
	}
	if len(t.conns) <= t.max {
		return
	}
	// Over the bound: keep the most recently seen nine tenths.
	type aged struct {
		k    connKey
		seen time.Time
	}
	all := make([]aged, 0, len(t.conns))
	for k, st := range t.conns {
		all = append(all, aged{k, st.seen})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.seen.Compare(b.seen) })
	for _, a := range all[:len(all)-t.max*9/10] {
		delete(t.conns, a.k)
	}
}

func (t *connTable) size() int { return len(t.conns) }
