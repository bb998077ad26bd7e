package pipeline

import (
	"math/rand/v2"
	"testing"
)

// TestTable4MatchesAMap runs random operations on the IPv4 connection
// table and on a Go map side by side, through growth, rebuilds and clears,
// over keys drawn from a small space so that probes collide and wrap.
func TestTable4MatchesAMap(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 4))
		tab, want := newTable4(), map[connKey4]*connState{}
		key := func() connKey4 {
			var k connKey4
			k[0] = byte(rng.IntN(2))
			k[2] = byte(rng.IntN(64))
			k[8] = byte(rng.IntN(40))
			return k
		}
		check := func(op string) {
			t.Helper()
			if tab.count() != len(want) {
				t.Fatalf("seed %d, after %s: table counts %d, map holds %d", seed, op, tab.count(), len(want))
			}
			for k, st := range want {
				if got := tab.get(k); got != st {
					t.Fatalf("seed %d, after %s: %v -> %p, want %p", seed, op, k, got, st)
				}
			}
			n := 0
			for _, s := range tab.slots {
				if s.st != nil {
					n++
					if want[s.k] != s.st {
						t.Fatalf("seed %d, after %s: the table holds %v, which the map does not", seed, op, s.k)
					}
				}
			}
			if n != len(want) {
				t.Fatalf("seed %d, after %s: %d slots in use, want %d", seed, op, n, len(want))
			}
		}
		for step := range 6000 {
			switch r := rng.IntN(1000); {
			case r < 700:
				k, st := key(), &connState{last: int64(step)}
				tab.set(k, st)
				want[k] = st
			case r < 980:
				k := key()
				if got := tab.get(k); got != want[k] {
					t.Fatalf("seed %d: get %v -> %p, want %p", seed, k, got, want[k])
				}
			case r < 990:
				horizon := int64(step - rng.IntN(2000))
				tab.forgetIdle(horizon)
				for k, st := range want {
					if st.last < horizon {
						delete(want, k)
					}
				}
				check("forgetIdle")
			case r < 997:
				before := tab.count()
				n := rng.IntN(before + 1)
				tab.forgetSome(n)
				if tab.count() != before-n {
					t.Fatalf("seed %d: forgetSome(%d) of %d left %d", seed, n, before, tab.count())
				}
				for k := range want {
					if tab.get(k) == nil {
						delete(want, k)
					}
				}
				check("forgetSome")
			default:
				tab.clear()
				clear(want)
				check("clear")
			}
			if tab.count()*4 > len(tab.slots)*3 {
				t.Fatalf("seed %d: %d connections in %d slots, past three quarters", seed, tab.count(), len(tab.slots))
			}
		}
		check("the run")
	}
}

// TestTable4Warm: warming reads what a lookup would and changes nothing.
func TestTable4Warm(t *testing.T) {
	tab := newTable4()
	var keys []connKey4
	for i := range 3000 {
		k := connKey4{0: 1, 5: byte(i), 6: byte(i >> 8)}
		tab.set(k, &connState{last: int64(i)})
		keys = append(keys, k)
	}
	keys = append(keys, connKey4{0: 2})
	tab.warm(keys, make([]int, len(keys)))
	if tab.count() != 3000 {
		t.Errorf("warming changed the count to %d", tab.count())
	}
	for i, k := range keys[:3000] {
		if st := tab.get(k); st == nil || st.last != int64(i) {
			t.Fatalf("after warming, %v -> %v", k, st)
		}
	}
}
