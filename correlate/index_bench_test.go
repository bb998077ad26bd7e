package correlate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flow-auditor/flow-auditor/flow"
)

// scaleCluster builds pods spread over namespaces (every fifth one
// dual-stack, owned by a Deployment's ReplicaSet), nodes, and services of
// five backends each through EndpointSlices with a named target port.
func scaleCluster(pods, namespaces, services, nodes int) (Objects, []netip.Addr, []netip.Addr) {
	var o Objects
	for n := range nodes {
		o.Nodes = append(o.Nodes, mkNode("node-"+strconv.Itoa(n), internalIP(fmt.Sprintf("172.18.%d.%d", n/250, n%250+1))))
	}
	podAddrs := make([]netip.Addr, 0, pods)
	perNS := pods / namespaces
	for i := range pods {
		ns := "ns-" + strconv.Itoa(i/perNS)
		ips := []string{fmt.Sprintf("10.244.%d.%d", i/250, i%250+1)}
		if i%5 == 0 {
			ips = append(ips, fmt.Sprintf("fd00:10:244::%x", i+1))
		}
		hash := "5c6b8d9f7b"
		deploy := "app-" + strconv.Itoa(i%perNS/5)
		p := mkPod(ns, deploy+"-"+hash+"-"+strconv.Itoa(i), ips, onNode("node-"+strconv.Itoa(i%nodes)),
			withLabels("app", deploy, "pod-template-hash", hash, "tier", "ai-agent"),
			ownedBy("ReplicaSet", deploy+"-"+hash, ""), withPorts(cport("http", 8000, corev1.ProtocolTCP)))
		o.Pods = append(o.Pods, p)
		podAddrs = append(podAddrs, ip(ips[0]))
	}
	var svcAddrs []netip.Addr
	for s := range services {
		ns := "ns-" + strconv.Itoa(s%namespaces)
		name := "svc-" + strconv.Itoa(s)
		cip := fmt.Sprintf("10.96.%d.%d", s/250, s%250+1)
		o.Services = append(o.Services, mkService(ns, name, []string{cip}, nil, sport("http", 80, corev1.ProtocolTCP, intstr.FromString("http"))))
		var eps []discoveryv1.Endpoint
		base := (s % namespaces) * perNS
		for k := range 5 {
			p := o.Pods[base+(s/namespaces*5+k)%perNS]
			eps = append(eps, sliceEP(p.Status.PodIP, p.Name))
		}
		o.EndpointSlices = append(o.EndpointSlices, mkSlice(ns, name+"-x", name, discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{slicePortOf("http", 8000, corev1.ProtocolTCP)}, eps...))
		svcAddrs = append(svcAddrs, ip(cip))
	}
	return o, podAddrs, svcAddrs
}

// benchLookups mixes what a node sees: mostly pods, some Services, nodes
// and external addresses.
func benchLookups(podAddrs, svcAddrs []netip.Addr, n int) []netip.Addr {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]netip.Addr, n)
	for i := range out {
		switch r := rng.IntN(100); {
		case r < 75:
			out[i] = podAddrs[rng.IntN(len(podAddrs))]
		case r < 85:
			out[i] = svcAddrs[rng.IntN(len(svcAddrs))]
		case r < 90:
			out[i] = ip(fmt.Sprintf("172.18.0.%d", rng.IntN(100)+1))
		default:
			out[i] = netip.AddrFrom4([4]byte{203, 0, 113, byte(rng.IntN(256))})
		}
	}
	return out
}

// timedLoop runs op b.N times in batches and reports the median of the
// batches' per-operation times next to the mean that ns/op shows.
func timedLoop(b *testing.B, op func(i int)) {
	const batch = 512
	samples := make([]float64, 0, b.N/batch+1)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; {
		m := min(batch, b.N-n)
		start := time.Now()
		for j := range m {
			op(n + j)
		}
		samples = append(samples, float64(time.Since(start).Nanoseconds())/float64(m))
		n += m
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(samples[len(samples)/2], "median-ns/op")
}

var benchSink *Target

// BenchmarkResolve: one address against an index of 10,000 pods (in 500
// namespaces, a fifth dual-stack) and 2,000 services. Goal: median under
// 200 ns, no allocation.
func BenchmarkResolve(b *testing.B) {
	objs, pods, svcs := scaleCluster(10000, 500, 2000, 100)
	ix := BuildIndex(objs, IndexOptions{})
	lookups := benchLookups(pods, svcs, 1<<14)
	at := tBase
	timedLoop(b, func(i int) {
		benchSink = ix.Resolve(lookups[i&(len(lookups)-1)], at)
	})
}

// BenchmarkResolveRecord: both sides of a flow, a quarter of them to a
// Service ClusterIP translated to its five backends.
func BenchmarkResolveRecord(b *testing.B) {
	objs, pods, svcs := scaleCluster(10000, 500, 2000, 100)
	ix := BuildIndex(objs, IndexOptions{})
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([]flow.Record, 1<<12)
	for i := range recs {
		dst := pods[rng.IntN(len(pods))]
		port := uint16(8000)
		switch r := rng.IntN(4); r {
		case 0:
			dst, port = svcs[rng.IntN(len(svcs))], 80
		case 1:
			dst, port = netip.AddrFrom4([4]byte{198, 51, 100, byte(rng.IntN(256))}), 443
		}
		recs[i] = flow.Record{TimeFirst: tBase, Src: flow.Endpoint{IP: pods[rng.IntN(len(pods))], Port: 40000},
			Dst: flow.Endpoint{IP: dst, Port: port}, Protocol: flow.TCP}
	}
	work := make([]flow.Record, len(recs))
	var res Resolution
	res.Dst = make([]Candidate, 0, 8)
	timedLoop(b, func(i int) {
		k := i & (len(recs) - 1)
		work[k] = recs[k]
		ix.ResolveRecord(&work[k], &res)
	})
}

// BenchmarkResolveParallel: readers on every core at once.
func BenchmarkResolveParallel(b *testing.B) {
	objs, pods, svcs := scaleCluster(10000, 500, 2000, 100)
	ix := BuildIndex(objs, IndexOptions{})
	lookups := benchLookups(pods, svcs, 1<<14)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var sink *Target
		for i := 0; pb.Next(); i++ {
			sink = ix.Resolve(lookups[i&(len(lookups)-1)], tBase)
		}
		_ = sink
	})
}

// BenchmarkBuildIndex: indexing a 10,000-pod snapshot.
func BenchmarkBuildIndex(b *testing.B) {
	objs, _, _ := scaleCluster(10000, 500, 2000, 100)
	b.ReportAllocs()
	for b.Loop() {
		BuildIndex(objs, IndexOptions{})
	}
}

// BenchmarkUpsertPod: one informer update of a pod in a 10,000-pod index.
func BenchmarkUpsertPod(b *testing.B) {
	objs, _, _ := scaleCluster(10000, 500, 2000, 100)
	ix := BuildIndex(objs, IndexOptions{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ix.UpsertPod(objs.Pods[i%len(objs.Pods)], tBase.Add(time.Duration(i)*time.Millisecond))
		i++
	}
}

// TestResolveDoesNotAllocate: the hot path allocates nothing, whatever the
// address turns out to be.
func TestResolveDoesNotAllocate(t *testing.T) {
	objs, pods, svcs := scaleCluster(1000, 50, 200, 10)
	ix := BuildIndex(objs, IndexOptions{})
	lookups := benchLookups(pods, svcs, 256)
	at := tBase
	i := 0
	if a := testing.AllocsPerRun(1000, func() {
		benchSink = ix.Resolve(lookups[i%len(lookups)], at)
		i++
	}); a != 0 {
		t.Errorf("Resolve: %.2f allocations per call", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		benchSink = ix.ResolveName("ns-3", objs.Pods[60+i%20].Name, at)
		i++
	}); a != 0 {
		t.Errorf("ResolveName: %.2f allocations per call", a)
	}
	var res Resolution
	res.Dst = make([]Candidate, 0, 8)
	rec := flow.Record{TimeFirst: at, Src: flow.Endpoint{IP: pods[0], Port: 40000}, Protocol: flow.TCP}
	for _, dst := range []struct {
		addr netip.Addr
		port uint16
	}{{pods[7], 8000}, {svcs[3], 80}, {ip("203.0.113.9"), 443}, {svcs[3], 81}} {
		if a := testing.AllocsPerRun(1000, func() {
			r := rec
			r.Dst = flow.Endpoint{IP: dst.addr, Port: dst.port}
			ix.ResolveRecord(&r, &res)
			for k := range res.Dst {
				_ = res.Dst[k].Peer()
				res.FillDst(&r.Dst, k)
			}
		}); a != 0 {
			t.Errorf("ResolveRecord to %v:%d: %.2f allocations per call", dst.addr, dst.port, a)
		}
	}
}
