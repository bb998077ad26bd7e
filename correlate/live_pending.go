package correlate

import (
	"net/netip"
	"sync"
	"time"
)

// Pending parks items (flows) whose address did not resolve, keyed by that
// address, until the inventory learns the address or they expire. It is
// bounded: when full, the oldest item is given up. Safe for concurrent use.
//
// Wire it as LiveConfig.OnResolvable = pending.Resolvable: when a pod (node,
// service) arrives, the items waiting on its addresses are handed to the
// release function, which resolves them again.
type Pending[T any] struct {
	max     int
	ttl     time.Duration
	release func([]T)

	mu    sync.Mutex
	byIP  map[netip.Addr][]pendingItem[T]
	fifo  []pendingRef // every parked item in arrival order; stale refs skipped
	head  int
	n     int
	seq   uint64
	stats PendingStats
}

type pendingItem[T any] struct {
	seq  uint64
	at   time.Time
	item T
}

type pendingRef struct {
	ip  netip.Addr
	seq uint64
}

// PendingStats counts what became of parked items.
type PendingStats struct {
	Parked, Released, Evicted, Expired uint64
}

// NewPending holds up to max items for up to ttl each; release receives the
// items whose address became resolvable (on the informer's goroutine: it
// should hand them over, not work long).
func NewPending[T any](max int, ttl time.Duration, release func([]T)) *Pending[T] {
	if max < 1 {
		max = 1
	}
	return &Pending[T]{max: max, ttl: ttl, release: release, byIP: map[netip.Addr][]pendingItem[T]{}}
}

// Park holds item until ip resolves. When full it gives up the oldest item,
// which it returns so that the caller can emit it unresolved.
func (p *Pending[T]) Park(ip netip.Addr, item T, at time.Time) (evicted []T) {
	ip = ip.Unmap()
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n >= p.max {
		it, ok := p.popOldest()
		if !ok {
			break
		}
		p.stats.Evicted++
		evicted = append(evicted, it.item)
	}
	p.seq++
	p.byIP[ip] = append(p.byIP[ip], pendingItem[T]{seq: p.seq, at: at, item: item})
	p.fifo = append(p.fifo, pendingRef{ip: ip, seq: p.seq})
	p.n++
	p.stats.Parked++
	return evicted
}

// Resolvable hands the items waiting on any of ips to the release function.
func (p *Pending[T]) Resolvable(ips []netip.Addr, _ time.Time) {
	var out []T
	p.mu.Lock()
	for _, ip := range ips {
		ip = ip.Unmap()
		for _, it := range p.byIP[ip] {
			out = append(out, it.item)
		}
		if items, ok := p.byIP[ip]; ok {
			p.n -= len(items)
			delete(p.byIP, ip)
		}
	}
	p.stats.Released += uint64(len(out))
	p.compact()
	p.mu.Unlock()
	if len(out) > 0 && p.release != nil {
		p.release(out)
	}
}

// Expire removes and returns the items parked for longer than the ttl at
// now: their address never resolved, they are external after all.
func (p *Pending[T]) Expire(now time.Time) []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []T
	for p.n > 0 {
		ref, items, ok := p.oldest()
		if !ok || now.Sub(items[0].at) < p.ttl {
			break
		}
		p.dropFront(ref.ip, items)
		out = append(out, items[0].item)
	}
	p.stats.Expired += uint64(len(out))
	return out
}

// Len is the number of parked items.
func (p *Pending[T]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// Stats returns the counters since creation.
func (p *Pending[T]) Stats() PendingStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// oldest finds the oldest live item, dropping stale references on the way:
// items per address are kept in arrival order, so an address's first item
// is the only one the queue's head can refer to.
func (p *Pending[T]) oldest() (pendingRef, []pendingItem[T], bool) {
	for p.head < len(p.fifo) {
		ref := p.fifo[p.head]
		items := p.byIP[ref.ip]
		if len(items) > 0 && items[0].seq == ref.seq {
			return ref, items, true
		}
		p.head++
	}
	return pendingRef{}, nil, false
}

func (p *Pending[T]) popOldest() (pendingItem[T], bool) {
	ref, items, ok := p.oldest()
	if !ok {
		return pendingItem[T]{}, false
	}
	it := items[0]
	p.dropFront(ref.ip, items)
	return it, true
}

func (p *Pending[T]) dropFront(ip netip.Addr, items []pendingItem[T]) {
	p.head++
	p.n--
	if len(items) == 1 {
		delete(p.byIP, ip)
	} else {
		p.byIP[ip] = items[1:]
	}
	p.compact()
}

// compact reclaims the consumed front of the queue once it is most of it.
func (p *Pending[T]) compact() {
	if p.head > 64 && p.head*2 > len(p.fifo) {
		p.fifo = append(p.fifo[:0], p.fifo[p.head:]...)
		p.head = 0
	}
	if p.n == 0 {
		p.fifo, p.head = p.fifo[:0], 0
		return
	}
	if len(p.fifo)-p.head > 4*p.max {
		// Released items left references behind: keep only live ones.
		live := make(map[uint64]bool, p.n)
		for _, items := range p.byIP {
			for _, it := range items {
				live[it.seq] = true
			}
		}
		kept := p.fifo[:0]
		for _, ref := range p.fifo[p.head:] {
			if live[ref.seq] {
				kept = append(kept, ref)
			}
		}
		p.fifo, p.head = kept, 0
	}
}
