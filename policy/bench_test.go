package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// benchCluster is the benchmark's cluster: 10,000 pods in 500 namespaces
// (kube-system first, holding kube-dns) and 2,000 policies. Every tenth
// namespace has 12 policies (past the selector index threshold), one in ten
// has 4, the others 3: a default deny, ingress from the namespace's own
// frontends on a named port, ingress from another team's namespace (AND),
// DNS and HTTPS-to-the-internet egress, and per-app extras.
type benchCluster struct {
	namespaces []*corev1.Namespace
	policies   []*networkingv1.NetworkPolicy
	pods       [][]*Peer // per namespace
}

const benchNamespaces, benchPodsPerNS = 500, 20

func newBenchCluster() *benchCluster {
	c := &benchCluster{}
	for i := range benchNamespaces {
		name := fmt.Sprintf("tenant-%03d", i)
		if i == 0 {
			name = "kube-system"
		}
		env := "prod"
		if i%3 == 0 {
			env = "dev"
		}
		c.namespaces = append(c.namespaces, namespace(name, "team", fmt.Sprintf("team-%d", i%20), "env", env))
		var pods []*Peer
		for j := range benchPodsPerNS {
			labels := map[string]string{"app": fmt.Sprintf("app-%d", j%5), "role": []string{"frontend", "backend", "worker"}[j%3],
				"pod-template-hash": fmt.Sprintf("h%d", j)}
			if i == 0 && j < 2 {
				labels = map[string]string{"k8s-app": "kube-dns"}
			}
			ip := netip.AddrFrom4([4]byte{10, byte(i / 250), byte(i % 250), byte(j + 1)})
			pods = append(pods, &Peer{Kind: Pod, IP: ip, Namespace: name, Name: fmt.Sprintf("pod-%d", j), Labels: labels,
				NodeName: fmt.Sprintf("node-%d", (i*benchPodsPerNS+j)%100),
				Ports:    []corev1.ContainerPort{cport("http", 8080, tcp), cport("metrics", 9090, tcp), cport("dns", 53, udp)}})
		}
		c.pods = append(c.pods, pods)
		n := 3
		switch i % 10 {
		case 0:
			n = 12
		case 1:
			n = 4
		}
		for k := range n {
			c.policies = append(c.policies, benchPolicy(name, k, i))
		}
	}
	return c
}

func benchPolicy(ns string, k, i int) *networkingv1.NetworkPolicy {
	name := fmt.Sprintf("np-%d", k)
	switch k {
	case 0:
		return netpol(ns, "default-deny", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeBoth})
	case 1:
		return netpol(ns, "egress-dns-https", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeEgress,
			Egress: []networkingv1.NetworkPolicyEgressRule{
				toOn(ports(portNum(udp, 53), portNum(tcp, 53)), peerNSPods(sel(namespaceNameLabel, "kube-system"), sel("k8s-app", "kube-dns"))),
				toOn(ports(portNum(tcp, 443)), peerCIDR("0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
				toOn(ports(portName(tcp, "http")), peerPods(any0)),
			}})
	case 2:
		return netpol(ns, "frontend-to-apps", networkingv1.NetworkPolicySpec{PodSelector: *exprSel("role", metav1.LabelSelectorOpIn, "backend", "worker"),
			Ingress: []networkingv1.NetworkPolicyIngressRule{fromOn(ports(portName(tcp, "http")), peerPods(sel("role", "frontend")))}})
	case 3:
		return netpol(ns, "from-partner-team", networkingv1.NetworkPolicySpec{PodSelector: *sel("role", "frontend"),
			Ingress: []networkingv1.NetworkPolicyIngressRule{fromOn(ports(portRangeOf(tcp, 8000, 8100)),
				peerNSPods(sel("team", fmt.Sprintf("team-%d", (i+1)%20)), exprSel("role", metav1.LabelSelectorOpExists)))}})
	default:
		app := fmt.Sprintf("app-%d", k%5)
		return netpol(ns, name, networkingv1.NetworkPolicySpec{PodSelector: *sel("app", app),
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				fromOn(ports(portNum(tcp, 9090)), peerNSPods(sel("env", "prod"), sel("app", "prometheus"))),
				fromOn(ports(portNum(tcp, 8080)), peerPods(sel("app", app)), peerCIDR("192.168.0.0/16")),
			}})
	}
}

// flows returns a realistic mix: pod to pod in and across namespaces, pod
// to DNS, to the internet and to private addresses, and external to pod.
func (c *benchCluster) flows(n int, onlyIndexed bool) []Flow {
	r := rand.New(rand.NewPCG(1, 2))
	pod := func() *Peer {
		ns := r.IntN(benchNamespaces)
		if onlyIndexed {
			ns = r.IntN(benchNamespaces/10) * 10
		}
		return c.pods[ns][r.IntN(benchPodsPerNS)]
	}
	out := make([]Flow, n)
	for i := range out {
		src := pod()
		switch k := r.IntN(10); {
		case k < 3: // same namespace
			dst := c.pods[slices.IndexFunc(c.namespaces, func(n *corev1.Namespace) bool { return n.Name == src.Namespace })][r.IntN(benchPodsPerNS)]
			out[i] = tcpFlow(src, dst, []int32{8080, 9090, 8000 + int32(r.IntN(200))}[r.IntN(3)])
		case k < 6:
			out[i] = tcpFlow(src, pod(), []int32{8080, 8050, 5432}[r.IntN(3)])
		case k < 7:
			out[i] = flow(src, c.pods[0][r.IntN(2)], udp, 53)
		case k < 8:
			out[i] = tcpFlow(src, extPeer(fmt.Sprintf("203.0.113.%d", r.IntN(250))), 443)
		case k < 9:
			out[i] = tcpFlow(src, extPeer(fmt.Sprintf("10.200.%d.1", r.IntN(250))), 443)
		default:
			out[i] = tcpFlow(extPeer(fmt.Sprintf("192.168.%d.1", r.IntN(250))), src, 8080)
		}
	}
	return out
}

// BenchmarkEvaluate judges 16,384 flows between pods drawn uniformly from
// the 10,000: peers and policies are mostly out of the CPU cache, as on a
// busy node, so this measures memory as much as code.
func BenchmarkEvaluate(b *testing.B) {
	benchEvaluate(b, 1<<14, false)
}

// BenchmarkEvaluateIndexed judges only pods of namespaces with 12 policies,
// which go through the selector index.
func BenchmarkEvaluateIndexed(b *testing.B) {
	benchEvaluate(b, 1<<14, true)
}

// BenchmarkEvaluateHot repeats 64 flows, which stay in the CPU cache: the
// cost of the code alone.
func BenchmarkEvaluateHot(b *testing.B) {
	benchEvaluate(b, 64, false)
}

func benchEvaluate(b *testing.B, nflows int, onlyIndexed bool) {
	c := newBenchCluster()
	e := mustEngine(b, c.policies, c.namespaces)
	flows := c.flows(nflows, onlyIndexed)
	allowed := 0
	for i := range flows {
		if e.Evaluate(&flows[i]).Allowed() {
			allowed++
		}
	}
	b.Logf("%d pods, %d namespaces, %d policies; %d of %d sample flows allowed",
		benchNamespaces*benchPodsPerNS, len(c.namespaces), len(c.policies), allowed, len(flows))
	// Time batches of evaluations and report the median per evaluation,
	// which one slow batch (GC, another process) does not move.
	const batch = 64
	samples := make([]float64, 0, b.N/batch+1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(batch, b.N-i)
		start := time.Now()
		for j := range n {
			f := &flows[(i+j)&(len(flows)-1)]
			if e.Evaluate(f).Allowed() {
				allowed++
			}
		}
		samples = append(samples, float64(time.Since(start).Nanoseconds())/float64(n))
		i += n
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(samples[len(samples)/2], "median-ns/eval")
	b.ReportMetric(samples[len(samples)*99/100], "p99-batch-ns/eval")
}

func BenchmarkNew(b *testing.B) {
	c := newBenchCluster()
	b.ReportAllocs()
	for b.Loop() {
		mustEngine(b, c.policies, c.namespaces)
	}
}
