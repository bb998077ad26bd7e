package suggest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

// benchWorld is 5,000 pods in 500 workloads (10 replicas each) over 20
// namespaces; the biggest namespace, ns0, holds 50 workloads. Each workload
// calls five peer workloads (half of them in its own namespace) on one of
// their ports, plus DNS and an external API, so that the traffic has the
// shape of a real cluster rather than every pod talking to every other.
func benchWorld() (*world, map[string][]string) {
	w := &world{rng: rand.New(rand.NewPCG(42, 43)), byNS: map[string][]*genPod{}, base: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	for i := range 20 {
		n := genNode{name: fmt.Sprintf("node-%d", i), ip: netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})}
		w.nodes = append(w.nodes, n)
		w.objs.Nodes = append(w.objs.Nodes, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.name},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip.String()}}},
		})
	}
	w.addDNS()
	workloads := map[string][]string{}
	perNS := []int{50}
	for len(perNS) < 20 {
		perNS = append(perNS, 450/19+boolInt(len(perNS) <= 450%19))
	}
	wl := 0
	for ni, count := range perNS {
		ns := fmt.Sprintf("ns%d", ni)
		w.objs.Namespaces = append(w.objs.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		for wi := range count {
			name := fmt.Sprintf("%s-w%d", ns, wi)
			hash := fmt.Sprintf("h%d", wl)
			ports := []ProtoPort{portPool[wl%len(portPool)]}
			labels := map[string]string{"app": name, "tier": vocabTier[wi%2]}
			for r := range 10 {
				l := cloneLabels(labels)
				l["pod-template-hash"] = hash
				ip := netip.AddrFrom4([4]byte{10, byte(1 + wl/250), byte(wl % 250), byte(10 + r)})
				w.addPod(ns, fmt.Sprintf("%s-%s-%d", name, hash, r), l,
					&metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name + "-" + hash, UID: types.UID("rs-" + name), Controller: ptr.To(true)},
					ip, ports, false)
			}
			workloads[ns] = append(workloads[ns], name)
			wl++
		}
	}
	w.externals = []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("198.51.100.7")}
	return w, workloads
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// benchFlows draws n records along each workload's five peers.
func benchFlows(w *world, n int) []flow.Record {
	byWorkload := map[string][]*genPod{}
	var names []string
	for _, p := range w.pods {
		wl := p.pod.OwnerReferences[0].Name
		if _, ok := byWorkload[wl]; !ok {
			names = append(names, wl)
		}
		byWorkload[wl] = append(byWorkload[wl], p)
	}
	peers := map[string][]string{}
	for i, name := range names {
		for k := 1; k <= 5; k++ {
			j := (i + k*k*7) % len(names)
			if k%2 == 0 { // a neighbour, usually in the same namespace
				j = (i + k) % len(names)
			}
			peers[name] = append(peers[name], names[j])
		}
	}
	out := make([]flow.Record, 0, n)
	for len(out) < n {
		name := names[w.rng.IntN(len(names))]
		pods := byWorkload[name]
		src := pods[w.rng.IntN(len(pods))]
		rec := flow.Record{Packets: 4, Bytes: 400, Observed: flow.Forwarded, Initiator: "src", Protocol: flow.TCP}
		t := w.base.Add(time.Duration(w.rng.Int64N(int64(7 * 24 * time.Hour))))
		rec.TimeFirst, rec.TimeLast = t, t.Add(2*time.Second)
		rec.Src = flow.Endpoint{IP: src.ip, Port: uint16(32768 + w.rng.IntN(28000))}
		switch k := w.rng.IntN(10); {
		case k == 0:
			rec.Dst, rec.Protocol, rec.Initiator = flow.Endpoint{IP: w.dnsIP, Port: 53}, flow.UDP, ""
		case k == 1:
			rec.Dst = flow.Endpoint{IP: w.externals[w.rng.IntN(2)], Port: 443, FQDN: "api.llm.example"}
		default:
			peer := byWorkload[peers[name][w.rng.IntN(5)]]
			dst := peer[w.rng.IntN(len(peer))]
			rec.Dst, rec.Protocol = flow.Endpoint{IP: dst.ip, Port: uint16(dst.ports[0].Port)}, flow.Protocol(dst.ports[0].Protocol)
			if rec.Protocol != flow.TCP {
				rec.Initiator = ""
			}
		}
		out = append(out, rec)
	}
	return out
}

// peakHeap samples the bytes of live and not yet swept heap objects until
// stopped.
type peakHeap struct {
	peak atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func watchHeap() *peakHeap {
	p := &peakHeap{stop: make(chan struct{})}
	p.wg.Go(func() {
		// runtime/metrics reads without stopping the world, unlike
		// ReadMemStats, so sampling does not slow what it measures.
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > p.peak.Load() {
				p.peak.Store(v)
			}
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	})
	return p
}

func (p *peakHeap) done() uint64 {
	close(p.stop)
	p.wg.Wait()
	return p.peak.Load()
}

// BenchmarkSuggest: 1,000,000 flows over 5,000 pods in 500 workloads,
// resolved, aggregated, suggested, rendered and replayed for the biggest
// namespace. Goals: under 3 s and under 1 GiB.
func BenchmarkSuggest(b *testing.B) {
	w, workloads := benchWorld()
	c := newCluster(w.objs)
	recs := benchFlows(w, 1_000_000)
	in := c.input("ns0", ExternalExact)
	runtime.GC()
	baseSample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(baseSample)
	baseHeap := baseSample[0].Value.Uint64()
	b.ResetTimer()
	for b.Loop() {
		heap := watchHeap()
		start := time.Now()
		o := NewObserver(in)
		var res correlate.Resolution
		for i := range recs {
			o.AddRecord(c.ix, &res, &recs[i])
		}
		observed := time.Since(start)
		s, err := o.Suggest()
		if err != nil {
			b.Fatal(err)
		}
		yamlOut := s.RenderYAML()
		r, err := o.Replay(s, c.objs.NetworkPolicies, c.objs.Namespaces)
		if err != nil {
			b.Fatal(err)
		}
		total := time.Since(start)
		peak := heap.done()
		if !r.Ok() || r.Edges.AllowedUnobserved != 0 {
			b.Fatalf("replay: %+v %+v", r.Flows, r.Edges)
		}
		b.ReportMetric(total.Seconds(), "s/run")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(peak-min(peak, baseHeap))/(1<<20), "suggest-heap-MiB")
		b.Logf("%d flows (%d touching ns0, %d distinct), %d pods, %d workloads (%d in ns0): observe %v, suggest+render+replay %v, total %v; %d policies, %d bytes of YAML; %d edges probed; peak heap %.0f MiB (%.0f MiB above the 1M input records)",
			len(recs), r.Records.Touching, r.Flows.Distinct, len(w.objs.Pods), countWorkloads(workloads), len(workloads["ns0"]),
			observed.Round(time.Millisecond), (total - observed).Round(time.Millisecond), total.Round(time.Millisecond),
			len(s.Policies), len(yamlOut), r.Edges.Probed, float64(peak)/(1<<20), float64(peak-min(peak, baseHeap))/(1<<20))
	}
}

func countWorkloads(m map[string][]string) int {
	n := 0
	for _, ws := range m {
		n += len(ws)
	}
	return n
}
