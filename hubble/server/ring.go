package server

import (
	"sync"
	"sync/atomic"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/flow/hubbleconv"
	"github.com/flow-auditor/flow-auditor/hubble/verdict"
)

// slot is one place in the ring. Records are stored by value so that an
// Add allocates nothing; the Hubble form is built on first read and cached
// in the slot until it is overwritten.
type slot struct {
	seq   uint64 // sequence number of the flow held
	added int64  // wall clock of insertion, unix ns: for the flow rate
	rec   flow.Record
	pb    atomic.Pointer[flowpb.Flow]
}

// batch is flows copied out of the ring: their sequence numbers and
// Hubble forms where cached, and the records of the others, to build them.
type batch struct {
	items []item
	recs  []flow.Record
}

type item struct {
	seq uint64
	pb  *flowpb.Flow
	rec int // index in batch.recs while pb is nil
}

func newBatch() *batch {
	return &batch{items: make([]item, 0, scanBatch), recs: make([]flow.Record, 0, scanBatch)}
}

func (b *batch) reset() {
	clear(b.items) // drop references to flows that may be overwritten
	clear(b.recs)
	b.items, b.recs = b.items[:0], b.recs[:0]
}

// ring holds the most recent flows. Writers hold the lock only to copy a
// record into a slot; readers copy flows out under the read lock and do the
// work (conversion, filtering, sending) outside it, so that a slow reader
// never holds up a writer. A follower that falls behind by more than the
// capacity loses the overwritten flows and is told how many.
type ring struct {
	mu    sync.RWMutex
	slots []slot
	next  uint64 // sequence number of the next write; also the count written
	// wake is closed at the next write, waking every waiting follower at
	// once; nil while nobody waits, so a write allocates nothing.
	wake chan struct{}
}

func newRing(capacity int) *ring {
	return &ring{slots: make([]slot, capacity)}
}

// add copies rec into the next slot (named after node when it names
// none) and wakes the followers.
func (r *ring) add(rec *flow.Record, node string, now time.Time) {
	added := now.UnixNano()
	r.mu.Lock()
	r.put(rec, node, added)
	r.woken()
	r.mu.Unlock()
}

// addEach is add for n records, rec(i) for each i below n, under one lock.
func (r *ring) addEach(n int, rec func(int) *flow.Record, node string, now time.Time) {
	added := now.UnixNano()
	r.mu.Lock()
	for i := range n {
		r.put(rec(i), node, added)
	}
	r.woken()
	r.mu.Unlock()
}

// put writes rec into the next slot; callers hold mu.
func (r *ring) put(rec *flow.Record, node string, added int64) {
	s := &r.slots[r.next%uint64(len(r.slots))]
	s.seq, s.added, s.rec = r.next, added, *rec
	if s.rec.Node == "" {
		s.rec.Node = node
	}
	s.pb.Store(nil)
	r.next++
}

// woken wakes every waiting follower; callers hold mu.
func (r *ring) woken() {
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
}

// oldest is the sequence number of the oldest flow held; callers hold mu.
func (r *ring) oldest() uint64 {
	if n := uint64(len(r.slots)); r.next > n {
		return r.next - n
	}
	return 0
}

// bounds returns the sequence numbers of the oldest flow held and of the
// next write.
func (r *ring) bounds() (oldest, next uint64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.oldest(), r.next
}

// copyRange copies into b (up to its capacity) the flows with sequence
// numbers in [lo, hi) that are still held, and returns the first sequence
// number not copied. Flows overwritten already are skipped.
func (r *ring) copyRange(lo, hi uint64, b *batch) uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.copyLocked(max(lo, r.oldest()), hi, b)
}

func (r *ring) copyLocked(lo, hi uint64, b *batch) uint64 {
	for hi = min(hi, r.next); lo < hi && len(b.items) < cap(b.items); lo++ {
		s := &r.slots[lo%uint64(len(r.slots))]
		it := item{seq: lo, pb: s.pb.Load()}
		if it.pb == nil {
			it.rec = len(b.recs)
			b.recs = append(b.recs, s.rec)
		}
		b.items = append(b.items, it)
	}
	return lo
}

// resolve builds the Hubble form of the flows in b that have none, outside
// the lock, then caches it in the slots that still hold those flows.
func (r *ring) resolve(b *batch) {
	if len(b.recs) == 0 {
		return
	}
	for i := range b.items {
		if it := &b.items[i]; it.pb == nil {
			it.pb = toHubble(&b.recs[it.rec])
		}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, it := range b.items {
		if s := &r.slots[it.seq%uint64(len(r.slots))]; s.seq == it.seq {
			s.pb.CompareAndSwap(nil, it.pb)
		}
	}
}

// readFrom copies into b up to its capacity flows from sequence number
// from on. It returns the next sequence number, how many flows were
// overwritten before they could be read, and, when there was nothing to
// read, a channel that is closed at the next write.
func (r *ring) readFrom(from uint64, b *batch) (next, lost uint64, wake <-chan struct{}) {
	r.mu.RLock()
	if old := r.oldest(); from < old {
		lost, from = old-from, old
	}
	next = r.copyLocked(from, r.next, b)
	r.mu.RUnlock()
	if len(b.items) > 0 || lost > 0 {
		return next, lost, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if next != r.next { // written since the copy: read again
		return next, 0, nil
	}
	if r.wake == nil {
		r.wake = make(chan struct{})
	}
	return next, 0, r.wake
}

// rate is flows per second over the last minute, as Hubble reports it.
func (r *ring) rate(now time.Time) float64 {
	since := now.Add(-time.Minute).UnixNano()
	r.mu.RLock()
	defer r.mu.RUnlock()
	var n int
	for seq := r.next; seq > r.oldest(); seq-- {
		if r.slots[(seq-1)%uint64(len(r.slots))].added < since {
			break
		}
		n++
	}
	return float64(n) / time.Minute.Seconds()
}

// toHubble is the Hubble form of an evaluated record, as served.
func toHubble(rec *flow.Record) *flowpb.Flow {
	f := hubbleconv.ToHubble(*rec)
	verdict.Annotate(*rec, f)
	present(*rec, f)
	return f
}

// scanBatch is how many flows a reader copies out of the ring per lock.
const scanBatch = 256

// scan calls fn with the Hubble form of each flow held with a sequence
// number in [lo, hi), oldest first or, with backward, newest first, until
// fn returns false. Flows overwritten during the scan are skipped.
func (r *ring) scan(lo, hi uint64, backward bool, fn func(*flowpb.Flow) bool) {
	b := newBatch()
	if !backward {
		for lo < hi {
			b.reset()
			next := r.copyRange(lo, hi, b)
			if len(b.items) == 0 {
				return
			}
			r.resolve(b)
			for _, it := range b.items {
				if !fn(it.pb) {
					return
				}
			}
			lo = next
		}
		return
	}
	for hi > lo {
		start := lo
		if hi-lo > scanBatch {
			start = hi - scanBatch
		}
		b.reset()
		r.copyRange(start, hi, b)
		r.resolve(b)
		for i := len(b.items) - 1; i >= 0; i-- {
			if !fn(b.items[i].pb) {
				return
			}
		}
		hi = start
	}
}
