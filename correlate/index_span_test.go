package correlate

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flow-auditor/flow-auditor/flow"
)

// resolvedAs describes what r resolves to at time when: its source and
// every destination candidate.
func resolvedAs(ix *Index, r flow.Record, when int64) ([]string, Span) {
	r.TimeFirst = time.Unix(0, when)
	var res Resolution
	ix.ResolveRecord(&r, &res)
	out := []string{candString(res.Src)}
	for _, c := range res.Dst {
		out = append(out, candString(c))
	}
	return out, res.Valid
}

// TestResolutionSpanHoldsTheSameAnswer churns a few addresses between pods
// (deleted, reused inside and after the grace window, recreated) behind a
// Service, then checks, for records at random times, that the resolution's
// Valid span holds the record's time and that the record resolves alike
// everywhere in it.
func TestResolutionSpanHoldsTheSameAnswer(t *testing.T) {
	tcp := corev1.ProtocolTCP
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		ix := NewIndex(IndexOptions{})
		addrs := []string{"10.244.1.5", "10.244.1.6", "10.244.1.7"}
		ix.UpsertService(mkService("ai", "s", []string{"10.96.0.40"}, map[string]string{"app": "s"},
			sport("http", 80, tcp, intstr.FromInt32(8080))), at(0))
		ix.UpsertEndpointSlice(mkSlice("ai", "s-1", "s", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{slicePortOf("http", 8080, tcp)}, sliceEP(addrs[1], ""), sliceEP(addrs[2], "")), at(0))
		live := map[string]string{} // address -> pod holding it
		clock := time.Duration(0)
		for i := range 12 {
			clock += time.Duration(rng.IntN(240)) * time.Second
			a := addrs[rng.IntN(len(addrs))]
			if p, ok := live[a]; ok && rng.IntN(2) == 0 {
				ix.DeletePod("ai", p, at(clock))
				delete(live, a)
				continue
			}
			name := "p" + strconv.Itoa(i)
			ix.UpsertPod(mkPod("ai", name, []string{a}, withLabels("app", "s")), at(clock))
			live[a] = name
		}
		end := int64(clock + 10*time.Minute)
		for range 200 {
			r := flow.Record{Protocol: flow.TCP, Src: flow.Endpoint{IP: ip(addrs[rng.IntN(len(addrs))]), Port: 40000},
				Dst: flow.Endpoint{IP: ip(addrs[rng.IntN(len(addrs))]), Port: 8080}}
			if rng.IntN(2) == 0 {
				r.Dst = flow.Endpoint{IP: ip("10.96.0.40"), Port: 80}
			}
			when := tBase.UnixNano() - int64(time.Minute) + rng.Int64N(end+int64(time.Minute))
			want, valid := resolvedAs(ix, r, when)
			if !valid.Contains(when) {
				t.Fatalf("seed %d: span [%d, %d) misses the record's time %d", seed, valid.From, valid.Until, when)
			}
			lo, hi := max(valid.From, tBase.UnixNano()-int64(time.Hour)), min(valid.Until, tBase.UnixNano()+end+int64(time.Hour))
			for _, t2 := range []int64{lo, hi - 1, lo + rng.Int64N(hi-lo)} {
				if got, _ := resolvedAs(ix, r, t2); !equalStrings(got, want) {
					t.Fatalf("seed %d: %v at %d but %v at %d, inside the span [%d, %d)", seed, want, when, got, t2, valid.From, valid.Until)
				}
			}
		}
	}
}

func TestResolutionSpanOfAnOpenClaimIsUnbounded(t *testing.T) {
	ix := NewIndex(IndexOptions{})
	ix.UpsertPod(mkPod("ai", "a", []string{"10.244.1.5"}), at(time.Minute))
	r := flow.Record{Protocol: flow.TCP, Src: flow.Endpoint{IP: ip("10.244.1.5"), Port: 40000},
		Dst: flow.Endpoint{IP: ip("203.0.113.9"), Port: 443}}
	_, valid := resolvedAs(ix, r, at(time.Hour).UnixNano())
	if want := (Span{From: at(time.Minute).UnixNano(), Until: forever}); valid != want {
		t.Errorf("span %+v, want %+v: from the pod's start, for ever", valid, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
