package correlate

import (
	"encoding/binary"
	"maps"
	"net/netip"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/types"
)

// An address (or a pod name) is held by claims: who holds it, with what
// target, over which span of time. Most addresses have one claim; a few
// have two while a freed address is in its grace window or reused.
//
// Claims live in tables of 256 shards. Each shard is an immutable map
// behind an atomic pointer: readers load it and look up without any lock
// or shared write, and a writer clones the few small shards it touches
// and publishes them when its operation ends.

type claimKind uint8

const (
	claimPod claimKind = iota + 1
	claimNode
	claimService
)

// claimOwner identifies the object holding a claim: a re-created pod of the
// same name is a different owner (its UID differs).
type claimOwner struct {
	kind claimKind
	key  objKey
	uid  types.UID
}

type claim struct {
	target *Target
	owner  *claimOwner
	// from is when the owner got the address; expiry is when its grace
	// window ends after it lost it (forever while it holds it).
	from, expiry int64
	// weak claims yield to any other valid claim: a hostNetwork pod's
	// address (its node's, which the Node object claims too), a node's
	// guessed gateway address, a finished pod seen in a snapshot.
	weak bool
}

func (c *claim) open() bool { return c.expiry == forever }

// slot holds a key's claims by value, the first one inline, so that a
// lookup reads the map's own memory and then the target.
type slot struct {
	head claim
	tail []claim // shared between versions: never modified in place
}

// resolve picks the claim that held the key at t: among the claims valid
// at t, a strong one before a weak one, then the one that started last
// (the newest holder), an open one before an ended one, and the latest
// written. Without one, t is before every claim started: the inventory
// lagged behind the network, so the earliest claim to come takes it.
//
// It also narrows sp to the times around t at which none of the key's
// claims starts or ends: the answer is the same at every time in sp.
func (s *slot) resolve(t int64, sp *Span) *Target {
	// Claims are compared by value: a pointer into s would make the
	// caller's copy of the slot escape to the heap.
	var best, early claim
	for i := -1; i < len(s.tail); i++ {
		c := s.head
		if i >= 0 {
			c = s.tail[i]
		}
		sp.narrow(c.from, t)
		sp.narrow(c.expiry, t)
		if c.from <= t {
			if t < c.expiry && (best.target == nil || c.beats(&best)) {
				best = c
			}
		} else if early.target == nil || c.earlier(&early) {
			early = c
		}
	}
	if best.target != nil {
		return best.target
	}
	return early.target
}

func (c *claim) beats(o *claim) bool {
	if c.weak != o.weak {
		return !c.weak
	}
	if c.from != o.from {
		return c.from > o.from
	}
	if c.open() != o.open() {
		return c.open()
	}
	return true // written later
}

func (c *claim) earlier(o *claim) bool {
	if c.weak != o.weak {
		return !c.weak
	}
	if c.from != o.from {
		return c.from < o.from
	}
	if c.open() != o.open() {
		return c.open()
	}
	return true
}

// list copies the slot's claims out, for a writer to edit.
func (s *slot) list() []claim {
	out := make([]claim, 0, 1+len(s.tail))
	out = append(out, s.head)
	return append(out, s.tail...)
}

func slotOf(cs []claim) slot {
	s := slot{head: cs[0]}
	if len(cs) > 1 {
		s.tail = append([]claim(nil), cs[1:]...)
	}
	return s
}

const nShards = 256

// table maps keys to slots in copy-on-write shards.
type table[K comparable] struct {
	shards [nShards]atomic.Pointer[map[K]slot]
}

// resolve returns what k was at time at, narrowing sp to the times with
// the same answer (a key without claims is nothing at any time).
func (t *table[K]) resolve(k K, shard uint8, at int64, sp *Span) *Target {
	m := t.shards[shard].Load()
	if m == nil {
		return nil
	}
	s, ok := (*m)[k]
	if !ok {
		return nil
	}
	return s.resolve(at, sp)
}

// Span is a span of time [From, Until) in unix nanoseconds.
type Span struct{ From, Until int64 }

// always is the span of all times.
func always() Span { return Span{From: noTime, Until: forever} }

// Contains reports whether t is in the span.
func (sp Span) Contains(t int64) bool { return sp.From <= t && t < sp.Until }

// narrow shrinks sp, which holds t, to the side of boundary b that t is on.
func (sp *Span) narrow(b, t int64) {
	if b <= t {
		sp.From = max(sp.From, b)
	} else {
		sp.Until = min(sp.Until, b)
	}
}

func (t *table[K]) len() int {
	n := 0
	for i := range t.shards {
		if m := t.shards[i].Load(); m != nil {
			n += len(*m)
		}
	}
	return n
}

// txn is a writer's view of a table: shards it changed are private clones
// until commit publishes them.
type txn[K comparable] struct {
	t       *table[K]
	dirty   [nShards]map[K]slot
	touched []uint8
}

func (x *txn[K]) get(k K, shard uint8) (slot, bool) {
	m := x.dirty[shard]
	if m == nil {
		p := x.t.shards[shard].Load()
		if p == nil {
			return slot{}, false
		}
		m = *p
	}
	s, ok := m[k]
	return s, ok
}

func (x *txn[K]) writable(shard uint8) map[K]slot {
	if m := x.dirty[shard]; m != nil {
		return m
	}
	var m map[K]slot
	if p := x.t.shards[shard].Load(); p != nil {
		m = maps.Clone(*p)
	} else {
		m = make(map[K]slot)
	}
	x.dirty[shard] = m
	x.touched = append(x.touched, shard)
	return m
}

func (x *txn[K]) put(k K, shard uint8, cs []claim) {
	if len(cs) == 0 {
		if _, ok := x.get(k, shard); ok {
			delete(x.writable(shard), k)
		}
		return
	}
	x.writable(shard)[k] = slotOf(cs)
}

func (x *txn[K]) commit() {
	for _, sh := range x.touched {
		m := x.dirty[sh]
		x.t.shards[sh].Store(&m)
		x.dirty[sh] = nil
	}
	x.touched = x.touched[:0]
}

// addrShard spreads addresses over shards; pod addresses are dense, so
// every byte counts.
func addrShard(a netip.Addr) uint8 {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	return uint8(((hi ^ lo) * 0x9e3779b97f4a7c15) >> 56)
}

// nameShard is FNV-1a over namespace and name.
func nameShard(k objKey) uint8 {
	h := uint32(2166136261)
	for i := 0; i < len(k.namespace); i++ {
		h = (h ^ uint32(k.namespace[i])) * 16777619
	}
	h = (h ^ '/') * 16777619
	for i := 0; i < len(k.name); i++ {
		h = (h ^ uint32(k.name[i])) * 16777619
	}
	return uint8(h ^ h>>8 ^ h>>16 ^ h>>24)
}

// hold makes owner hold k with target from time from: an open claim of the
// same owner is refreshed in place (keeping when it started), otherwise a
// new claim starts.
func hold[K comparable](x *txn[K], k K, shard uint8, owner *claimOwner, target *Target, from int64, weak bool) {
	var cs []claim
	if s, ok := x.get(k, shard); ok {
		cs = s.list()
	}
	for i := range cs {
		if c := &cs[i]; *c.owner == *owner && c.open() {
			c.target, c.weak = target, weak
			x.put(k, shard, cs)
			return
		}
	}
	cs = append(cs, claim{target: target, owner: owner, from: from, expiry: forever, weak: weak})
	x.put(k, shard, cs)
}

// release ends owner's open claim on k at time at; it keeps resolving for
// grace. Without a time (noTime) the claim goes at once. It reports
// whether the key now has an ended claim for Prune to look at.
func release[K comparable](x *txn[K], k K, shard uint8, owner *claimOwner, at, grace int64) bool {
	s, ok := x.get(k, shard)
	if !ok {
		return false
	}
	cs := s.list()
	for i := range cs {
		c := &cs[i]
		if *c.owner != *owner || !c.open() {
			continue
		}
		if at == noTime {
			cs = append(cs[:i], cs[i+1:]...)
			x.put(k, shard, cs)
			return false
		}
		c.expiry = at + grace
		x.put(k, shard, cs)
		return true
	}
	return false
}

// prune drops the claims of the keys in ended whose grace window ended by
// now, and forgets the keys that hold no ended claim any more.
func prune[K comparable](x *txn[K], ended map[K]struct{}, shardOf func(K) uint8, now int64) {
	for k := range ended {
		sh := shardOf(k)
		s, ok := x.get(k, sh)
		if !ok {
			delete(ended, k)
			continue
		}
		cs := s.list()
		kept, stillEnded := cs[:0], false
		for _, c := range cs {
			if c.expiry <= now {
				continue
			}
			kept = append(kept, c)
			stillEnded = stillEnded || !c.open()
		}
		if len(kept) != len(cs) {
			x.put(k, sh, kept)
		}
		if !stillEnded {
			delete(ended, k)
		}
	}
}

// ipClaim is one address an object wants to hold.
type ipClaim struct {
	ip     netip.Addr
	target *Target
	weak   bool
}

// setClaims makes owner hold exactly next: it holds each address in next
// (from time from, for new ones) and releases at time at those in prev that
// next lacks. It returns the addresses now held.
func (ix *Index) setClaims(owner *claimOwner, prev []netip.Addr, next []ipClaim, from, at int64) []netip.Addr {
	held := make([]netip.Addr, 0, len(next))
	for _, c := range next {
		if containsAddr(held, c.ip) {
			continue // the first (strongest) claim on an address wins
		}
		hold(&ix.ipTxn, c.ip, addrShard(c.ip), owner, c.target, from, c.weak)
		held = append(held, c.ip)
	}
	for _, a := range prev {
		if !containsAddr(held, a) {
			ix.releaseIP(a, owner, at)
		}
	}
	if len(held) == 0 {
		return nil
	}
	return held
}

func (ix *Index) releaseIP(a netip.Addr, owner *claimOwner, at int64) {
	if release(&ix.ipTxn, a, addrShard(a), owner, at, ix.grace) {
		ix.endedIPs[a] = struct{}{}
	}
}

func (ix *Index) holdName(k objKey, owner *claimOwner, target *Target, from int64) {
	hold(&ix.nameTxn, k, nameShard(k), owner, target, from, false)
}

func (ix *Index) releaseName(k objKey, owner *claimOwner, at int64) {
	if release(&ix.nameTxn, k, nameShard(k), owner, at, ix.grace) {
		ix.endedNames[k] = struct{}{}
	}
}

func containsAddr(s []netip.Addr, a netip.Addr) bool {
	for _, b := range s {
		if a == b {
			return true
		}
	}
	return false
}
