package pipeline

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// table4 holds the IPv4 connections (most of a node's): open addressing
// with linear probing over slots that hold the key and the state pointer,
// so that finding a connection reads one slot, usually one cache line.
// Unlike a Go map it can be warmed: warm touches the slots a batch of
// records will need, all at once, so that the processor fetches them
// together instead of one after another amid each record's work (a table
// of 100,000s of connections does not fit in cache, and a lookup is
// mostly a wait on memory). Nothing is deleted one by one: forgetting
// rebuilds the table, so there are no deleted slots to probe through.
type table4 struct {
	slots []slot4
	n     int
	// seed keys the hash: the keys come off the network, and a fixed hash
	// would let a sender pile connections into one run of slots.
	seed [2]uint64
}

type slot4 struct {
	k  connKey4
	st *connState // nil: an empty slot
}

const minTable4 = 1024

func newTable4() *table4 {
	return &table4{slots: make([]slot4, minTable4), seed: [2]uint64{rand.Uint64(), rand.Uint64()}}
}

// home is the slot where k's probe starts.
func (t *table4) home(k *connKey4) int {
	a := binary.LittleEndian.Uint64(k[0:8])
	b := binary.LittleEndian.Uint64(k[5:13])
	hi, lo := bits.Mul64(a^t.seed[0], b^t.seed[1])
	return int((hi ^ lo) & uint64(len(t.slots)-1))
}

func (t *table4) get(k connKey4) *connState {
	for i := t.home(&k); ; i = (i + 1) & (len(t.slots) - 1) {
		s := &t.slots[i]
		if s.st == nil || s.k == k {
			return s.st
		}
	}
}

func (t *table4) set(k connKey4, st *connState) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(len(t.slots) * 2)
	}
	t.put(k, st)
}

// put stores st under k, in a table with room.
func (t *table4) put(k connKey4, st *connState) {
	for i := t.home(&k); ; i = (i + 1) & (len(t.slots) - 1) {
		s := &t.slots[i]
		if s.st == nil {
			s.k, s.st = k, st
			t.n++
			return
		}
		if s.k == k {
			s.st = st
			return
		}
	}
}

func (t *table4) count() int { return t.n }

// resize rehashes every connection into size slots (a power of two).
func (t *table4) resize(size int) {
	old := t.slots
	t.slots, t.n = make([]slot4, size), 0
	for i := range old {
		if s := &old[i]; s.st != nil {
			t.put(s.k, s.st)
		}
	}
}

// keep rebuilds the table with the connections keep says to keep.
func (t *table4) keep(keep func(*connState) bool) {
	var live []slot4
	for _, s := range t.slots {
		if s.st != nil && keep(s.st) {
			live = append(live, s)
		}
	}
	t.clear()
	for _, s := range live {
		t.put(s.k, s.st)
	}
}

func (t *table4) forgetIdle(horizon int64) {
	t.keep(func(st *connState) bool { return st.last >= horizon })
}

// forgetSome forgets n connections, those that come first in slot order
// (which the seeded hash makes random).
func (t *table4) forgetSome(n int) {
	t.keep(func(*connState) bool { n--; return n < 0 })
}

// clear forgets every connection, keeping the table's size.
func (t *table4) clear() {
	clear(t.slots)
	t.n = 0
}

// warm touches the slots where the keys' probes start, and then the
// states found there, and returns something of what it read, so that the
// reads are not optimized away. Each loop's reads are independent of each
// other, so the processor overlaps their misses.
func (t *table4) warm(keys []connKey4, homes []int) (sum uintptr) {
	for i := range keys {
		homes[i] = t.home(&keys[i])
		sum += uintptr(t.slots[homes[i]].k[0])
	}
	for i, h := range homes {
		if s := &t.slots[h]; s.st != nil && s.k == keys[i] {
			sum += uintptr(s.st.last)
		}
	}
	return sum
}
