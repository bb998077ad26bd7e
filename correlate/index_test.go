package correlate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// resolutionCluster holds one object for every resolution rule.
func resolutionCluster() Objects {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	v4, v6 := discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6
	n1 := mkNode("node-1", internalIP("172.18.0.2"), internalIP("fc00::2"),
		corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.10"},
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "node-1"})
	n1.Spec.PodCIDRs = []string{"10.244.1.0/24", "fd00:10:244::/64"}
	return Objects{
		Nodes: []*corev1.Node{n1, mkNode("node-2", internalIP("172.18.0.3"))},
		Pods: []*corev1.Pod{
			mkPod("ai", "solo", []string{"10.244.1.5"}, withLabels("app", "solo")),
			mkPod("ai", "dual", []string{"10.244.1.6", "fd00:10:244::6"}, withLabels("app", "dual", "pod-template-hash", "abc12"),
				ownedBy("ReplicaSet", "dual-abc12", "")),
			mkPod("ai", "web-a", []string{"10.244.1.20", "fd00:10:244::20"}, withLabels("app", "web"),
				withPorts(cport("http", 8080, tcp))),
			mkPod("ai", "web-b", []string{"10.244.2.21"}, onNode("node-2"), withLabels("app", "web"),
				withPorts(cport("http", 9090, tcp))),
			mkPod("kube-system", "proxy-1", []string{"172.18.0.2"}, hostNetwork()),
			mkPod("kube-system", "proxy-9", []string{"172.18.0.9"}, hostNetwork(), onNode("node-9")),
			mkPod("db", "pg-0", []string{"10.244.2.30"}, onNode("node-2"), withLabels("app", "pg"),
				withPorts(cport("pg", 5432, tcp))),
			mkPod("db", "pg-1", []string{"10.244.2.31"}, onNode("node-2"), withLabels("app", "pg"),
				withPorts(cport("pg", 5432, tcp))),
			mkPod("dns", "dns-a", []string{"10.244.1.53"}, withLabels("app", "dns"),
				withPorts(cport("dns", 53, udp), cport("dns-tcp", 53, tcp))),
		},
		Services: []*corev1.Service{
			// Named targetPort: each backend pod has its own number for it.
			mkService("ai", "web", []string{"10.96.0.20", "fd00:10:96::20"}, nil,
				sport("http", 80, tcp, intstr.FromString("http"))),
			// Numeric targetPort, one ready and one not.
			mkService("db", "pg", []string{"10.96.0.30"}, nil, sport("", 5432, tcp, intstr.FromInt32(5432))),
			// No EndpointSlice: backends from the selector.
			mkService("ai", "web-sel", []string{"10.96.0.21"}, map[string]string{"app": "web"},
				sport("http", 80, tcp, intstr.FromString("http"))),
			// A slice that does not say the port number.
			mkService("ai", "web-noport", []string{"10.96.0.22"}, nil,
				sport("http", 80, tcp, intstr.FromString("http"))),
			// Every endpoint terminating but still serving.
			mkService("db", "pg-draining", []string{"10.96.0.31"}, nil, sport("", 5432, tcp, intstr.FromInt32(5432))),
			mkService("db", "pg-hl", []string{"None"}, map[string]string{"app": "pg"}, sport("", 5432, tcp, intstr.FromInt32(5432))),
			mkService("dns", "dns", []string{"10.96.0.10"}, nil,
				sport("dns", 53, udp, intstr.FromString("dns")), sport("dns-tcp", 53, tcp, intstr.FromString("dns-tcp"))),
		},
		EndpointSlices: []*discoveryv1.EndpointSlice{
			mkSlice("ai", "web-1", "web", v4, []discoveryv1.EndpointPort{slicePortOf("http", 8080, tcp)}, sliceEP("10.244.1.20", "web-a")),
			mkSlice("ai", "web-2", "web", v4, []discoveryv1.EndpointPort{slicePortOf("http", 9090, tcp)}, sliceEP("10.244.2.21", "web-b")),
			mkSlice("ai", "web-3", "web", v6, []discoveryv1.EndpointPort{slicePortOf("http", 8080, tcp)}, sliceEP("fd00:10:244::20", "web-a")),
			mkSlice("ai", "web-noport-1", "web-noport", v4, []discoveryv1.EndpointPort{slicePortOf("http", 0, tcp)},
				sliceEP("10.244.1.20", "web-a"), sliceEP("10.244.2.21", "web-b")),
			mkSlice("db", "pg-1", "pg", v4, []discoveryv1.EndpointPort{slicePortOf("", 5432, tcp)},
				sliceEP("10.244.2.30", "pg-0"), sliceEP("10.244.2.31", "pg-1", notReady())),
			mkSlice("db", "pg-draining-1", "pg-draining", v4, []discoveryv1.EndpointPort{slicePortOf("", 5432, tcp)},
				sliceEP("10.244.2.30", "pg-0", terminatingServing()), sliceEP("10.244.2.31", "pg-1", notReady())),
			mkSlice("dns", "dns-1", "dns", v4, []discoveryv1.EndpointPort{slicePortOf("dns", 53, udp), slicePortOf("dns-tcp", 53, tcp)},
				sliceEP("10.244.1.53", "dns-a")),
		},
	}
}

func TestResolveAddresses(t *testing.T) {
	ix := BuildIndex(resolutionCluster(), IndexOptions{})
	cases := []struct {
		name, addr string
		kind       flow.Kind
		// want is "namespace/pod" for pods, the node name for nodes, the
		// Service key for Service addresses.
		want     string
		workload string
		peer     policy.PeerKind
	}{
		{"pod IPv4", "10.244.1.5", flow.KindPod, "ai/solo", "Pod/solo", policy.Pod},
		{"dual-stack pod by its IPv4", "10.244.1.6", flow.KindPod, "ai/dual", "Deployment/dual", policy.Pod},
		{"dual-stack pod by its IPv6", "fd00:10:244::6", flow.KindPod, "ai/dual", "Deployment/dual", policy.Pod},
		{"IPv4-mapped IPv6 is the IPv4 pod", "::ffff:10.244.1.5", flow.KindPod, "ai/solo", "Pod/solo", policy.Pod},
		{"node InternalIP", "172.18.0.3", flow.KindNode, "node-2", "", policy.Node},
		{"node InternalIP IPv6", "fc00::2", flow.KindNode, "node-1", "", policy.Node},
		{"node ExternalIP", "203.0.113.10", flow.KindNode, "node-1", "", policy.Node},
		{"hostNetwork pod is its node", "172.18.0.2", flow.KindNode, "node-1", "", policy.Node},
		{"hostNetwork pod on a node not in the inventory", "172.18.0.9", flow.KindNode, "node-9", "", policy.Node},
		{"pod network gateway is the node", "10.244.1.1", flow.KindNode, "node-1", "", policy.Node},
		{"pod network gateway IPv6 is the node", "fd00:10:244::1", flow.KindNode, "node-1", "", policy.Node},
		{"Service ClusterIP", "10.96.0.20", flow.KindExternal, "ai/web", "", policy.External},
		{"Service IPv6 ClusterIP", "fd00:10:96::20", flow.KindExternal, "ai/web", "", policy.External},
		{"unknown address", "198.51.100.7", flow.KindExternal, "", "", policy.External},
		{"unused address in a pod CIDR", "10.244.1.99", flow.KindExternal, "", "", policy.External},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := ix.Resolve(ip(c.addr), time.Time{})
			if tg.Kind() != c.kind {
				t.Fatalf("kind = %q, want %q", tg.Kind(), c.kind)
			}
			var got string
			switch {
			case tg == nil:
			case tg.Service != nil:
				got = tg.Service.Key
			case tg.Kind() == flow.KindPod:
				got = tg.Endpoint.Namespace + "/" + tg.Endpoint.Pod
			case tg.Kind() == flow.KindNode:
				got = tg.Endpoint.Node
			}
			if got != c.want {
				t.Errorf("resolved to %q, want %q", got, c.want)
			}
			if tg == nil {
				return
			}
			if tg.Endpoint.Workload != c.workload {
				t.Errorf("workload = %q, want %q", tg.Endpoint.Workload, c.workload)
			}
			if tg.Peer.Kind != c.peer {
				t.Errorf("peer kind = %v, want %v", tg.Peer.Kind, c.peer)
			}
			if want := ip(c.addr).Unmap(); tg.Peer.IP != want || tg.Endpoint.IP != want {
				t.Errorf("peer IP %v, endpoint IP %v, want %v", tg.Peer.IP, tg.Endpoint.IP, want)
			}
		})
	}
}

func TestResolvePodPeerCarriesWhatTheEngineNeeds(t *testing.T) {
	ix := BuildIndex(resolutionCluster(), IndexOptions{})
	tg := ix.Resolve(ip("10.244.2.21"), time.Time{})
	if tg == nil {
		t.Fatal("web-b did not resolve")
	}
	p := tg.Peer
	if p.Namespace != "ai" || p.Name != "web-b" || p.NodeName != "node-2" || p.Labels["app"] != "web" {
		t.Errorf("peer = %+v", p)
	}
	if len(p.Ports) != 1 || p.Ports[0].Name != "http" || p.Ports[0].ContainerPort != 9090 {
		t.Errorf("peer ports = %+v, want the pod's http/9090", p.Ports)
	}
	e := tg.Endpoint
	if e.Node != "node-2" || e.Labels["app"] != "web" || e.Workload != "Pod/web-b" {
		t.Errorf("endpoint = %+v", e)
	}
}

type wantCand struct {
	addr string
	port uint16
	pod  string // "" for an external candidate
}

func TestResolveRecordTranslatesServices(t *testing.T) {
	ix := BuildIndex(resolutionCluster(), IndexOptions{})
	cases := []struct {
		name       string
		dst        string
		port       uint16
		proto      flow.Protocol
		service    string // Service key, "" when the destination is none
		translated bool
		want       []wantCand
	}{
		{"numeric targetPort, ready backends only", "10.96.0.30", 5432, flow.TCP, "db/pg", true,
			[]wantCand{{"10.244.2.30", 5432, "pg-0"}}},
		{"named targetPort resolved per backend", "10.96.0.20", 80, flow.TCP, "ai/web", true,
			[]wantCand{{"10.244.1.20", 8080, "web-a"}, {"10.244.2.21", 9090, "web-b"}}},
		{"IPv6 ClusterIP goes to IPv6 backends", "fd00:10:96::20", 80, flow.TCP, "ai/web", true,
			[]wantCand{{"fd00:10:244::20", 8080, "web-a"}}},
		{"selector without EndpointSlices", "10.96.0.21", 80, flow.TCP, "ai/web-sel", true,
			[]wantCand{{"10.244.1.20", 8080, "web-a"}, {"10.244.2.21", 9090, "web-b"}}},
		{"slice without port number: named port from each pod", "10.96.0.22", 80, flow.TCP, "ai/web-noport", true,
			[]wantCand{{"10.244.1.20", 8080, "web-a"}, {"10.244.2.21", 9090, "web-b"}}},
		{"no ready backend: the serving ones", "10.96.0.31", 5432, flow.TCP, "db/pg-draining", true,
			[]wantCand{{"10.244.2.30", 5432, "pg-0"}}},
		{"UDP and TCP on one port number", "10.96.0.10", 53, flow.UDP, "dns/dns", true,
			[]wantCand{{"10.244.1.53", 53, "dns-a"}}},
		{"TCP twin of the UDP port", "10.96.0.10", 53, flow.TCP, "dns/dns", true,
			[]wantCand{{"10.244.1.53", 53, "dns-a"}}},
		{"port the Service does not have", "10.96.0.20", 8080, flow.TCP, "ai/web", false,
			[]wantCand{{"10.96.0.20", 8080, ""}}},
		{"protocol the port does not have", "10.96.0.30", 5432, flow.UDP, "db/pg", false,
			[]wantCand{{"10.96.0.30", 5432, ""}}},
		{"headless Service: straight to the pod", "10.244.2.31", 5432, flow.TCP, "", false,
			[]wantCand{{"10.244.2.31", 5432, "pg-1"}}},
		{"pod address is not translated", "10.244.1.20", 8080, flow.TCP, "", false,
			[]wantCand{{"10.244.1.20", 8080, "web-a"}}},
		{"external address", "198.51.100.7", 443, flow.TCP, "", false,
			[]wantCand{{"198.51.100.7", 443, ""}}},
	}
	var res Resolution
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := flow.Record{
				Src:      flow.Endpoint{IP: ip("10.244.1.5"), Port: 40000},
				Dst:      flow.Endpoint{IP: ip(c.dst), Port: c.port},
				Protocol: c.proto,
			}
			ix.ResolveRecord(&r, &res)
			var got []wantCand
			for _, d := range res.Dst {
				w := wantCand{addr: d.IP.String(), port: d.Port}
				if d.Target != nil && d.Target.Kind() == flow.KindPod {
					w.pod = d.Target.Endpoint.Pod
				}
				got = append(got, w)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("candidates = %v, want %v", got, c.want)
			}
			svc := ""
			if res.Service != nil {
				svc = res.Service.Key
			}
			if svc != c.service || r.Dst.Service != c.service {
				t.Errorf("service = %q (record %q), want %q", svc, r.Dst.Service, c.service)
			}
			// The record names the first candidate; ServicePort keeps the
			// wire port once translated.
			first := c.want[0]
			if r.Dst.IP.String() != first.addr || r.Dst.Port != first.port || r.Dst.Pod != first.pod {
				t.Errorf("record dst = %s:%d pod %q, want %s:%d pod %q", r.Dst.IP, r.Dst.Port, r.Dst.Pod, first.addr, first.port, first.pod)
			}
			wantSP := uint16(0)
			if c.translated {
				wantSP = c.port
			}
			if r.Dst.ServicePort != wantSP {
				t.Errorf("service port = %d, want %d", r.Dst.ServicePort, wantSP)
			}
			if r.Src.Kind != flow.KindPod || r.Src.Pod != "solo" || r.Src.Port != 40000 {
				t.Errorf("src = %+v", r.Src)
			}
			// Every candidate has a peer the engine can judge.
			for i := range res.Dst {
				p := res.Dst[i].Peer()
				if p.IP != res.Dst[i].IP {
					t.Errorf("candidate %d peer IP %v, want %v", i, p.IP, res.Dst[i].IP)
				}
				if (res.Dst[i].Target.Kind() == flow.KindPod) != (p.Kind == policy.Pod) {
					t.Errorf("candidate %d peer kind %v for endpoint kind %q", i, p.Kind, res.Dst[i].Target.Kind())
				}
			}
		})
	}
}

func TestResolveRecordByName(t *testing.T) {
	ix := BuildIndex(resolutionCluster(), IndexOptions{})
	var res Resolution
	r := flow.Record{
		Src:      flow.Endpoint{Namespace: "ai", Pod: "dual"},
		Dst:      flow.Endpoint{Namespace: "ai", Pod: "gone", Kind: flow.KindPod, Workload: "Deployment/gone"},
		Protocol: flow.TCP,
	}
	ix.ResolveRecord(&r, &res)
	if r.Src.Kind != flow.KindPod || r.Src.IP != ip("10.244.1.6") || r.Src.Workload != "Deployment/dual" {
		t.Errorf("src by name = %+v, want pod dual at its primary address", r.Src)
	}
	if res.Src.Peer().Kind != policy.Pod || res.Src.Peer().Name != "dual" {
		t.Errorf("src peer = %+v", res.Src.Peer())
	}
	// A pod the inventory does not know is judged as external, but what
	// the flow source said about it stays in the record.
	if res.Dst[0].Target != nil || res.Dst[0].Peer().Kind != policy.External {
		t.Errorf("unknown pod resolved to %+v", res.Dst[0].Target)
	}
	if r.Dst.Pod != "gone" || r.Dst.Workload != "Deployment/gone" {
		t.Errorf("dst lost what the source said: %+v", r.Dst)
	}

	if tg := ix.ResolveName("kube-system", "proxy-1", time.Time{}); tg.Kind() != flow.KindNode || tg.Peer.Kind != policy.Node || tg.Endpoint.Node != "node-1" {
		t.Errorf("hostNetwork pod by name = %+v, want its node", tg)
	}
	if tg := ix.ResolveName("ai", "nope", time.Time{}); tg != nil {
		t.Errorf("unknown name resolved to %+v", tg)
	}
}

func TestResolveRecordKeepsWireAndDNSFacts(t *testing.T) {
	ix := BuildIndex(resolutionCluster(), IndexOptions{})
	var res Resolution
	r := flow.Record{
		Src:      flow.Endpoint{IP: ip("10.244.1.5"), Port: 40000},
		Dst:      flow.Endpoint{IP: ip("198.51.100.7"), Port: 443, FQDN: "api.llm.example"},
		Protocol: flow.TCP,
	}
	ix.ResolveRecord(&r, &res)
	if r.Dst.Kind != flow.KindExternal || r.Dst.FQDN != "api.llm.example" || r.Dst.IP != ip("198.51.100.7") || r.Dst.Port != 443 {
		t.Errorf("dst = %+v", r.Dst)
	}
}

func TestServiceBackendsAreListed(t *testing.T) {
	ix := BuildIndex(resolutionCluster(), IndexOptions{})
	svc := ix.Resolve(ip("10.96.0.30"), time.Time{}).Service
	sp := svc.Port(5432, flow.TCP)
	if sp == nil {
		t.Fatal("no 5432/TCP port")
	}
	var got []string
	for _, b := range sp.Backends {
		got = append(got, fmt.Sprintf("%s:%d %s ready=%v", b.IP, b.Port, b.Pod, b.Ready))
	}
	want := []string{"10.244.2.30:5432 db/pg-0 ready=true", "10.244.2.31:5432 db/pg-1 ready=false"}
	if !slices.Equal(got, want) {
		t.Errorf("backends = %v, want %v", got, want)
	}
}

func TestTranslateAppendsWithoutAllocating(t *testing.T) {
	ix := BuildIndex(resolutionCluster(), IndexOptions{})
	at := tBase
	tg := ix.Resolve(ip("10.96.0.20"), at)
	buf := make([]Candidate, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		buf = ix.Translate(tg, ip("10.96.0.20"), 80, flow.TCP, at, buf[:0])
	})
	if allocs != 0 {
		t.Errorf("Translate allocates %.1f times per call", allocs)
	}
	if len(buf) != 2 {
		t.Errorf("candidates = %d, want 2", len(buf))
	}
}

func TestIndexStats(t *testing.T) {
	objs := resolutionCluster()
	ix := BuildIndex(objs, IndexOptions{})
	st := ix.Stats()
	if st.Pods != len(objs.Pods) || st.Nodes != 2 || st.Services != len(objs.Services) || st.EndpointSlices != len(objs.EndpointSlices) {
		t.Errorf("stats = %+v", st)
	}
	// Every pod address, node address, gateway and ClusterIP, once.
	var all []string
	for _, p := range objs.Pods {
		for _, a := range p.Status.PodIPs {
			all = append(all, a.IP)
		}
	}
	all = append(all, "fc00::2", "203.0.113.10", "172.18.0.3", "10.244.1.1", "fd00:10:244::1",
		"10.96.0.20", "fd00:10:96::20", "10.96.0.30", "10.96.0.21", "10.96.0.22", "10.96.0.31", "10.96.0.10")
	slices.Sort(all)
	all = slices.Compact(all)
	if st.Addresses != len(all) {
		t.Errorf("addresses = %d, want %d (%s)", st.Addresses, len(all), strings.Join(all, " "))
	}
}

func mustResolvePod(t *testing.T, ix *Index, addr string, at time.Time) string {
	t.Helper()
	tg := ix.Resolve(netip.MustParseAddr(addr), at)
	switch {
	case tg == nil:
		return ""
	case tg.Service != nil:
		return "service " + tg.Service.Key
	case tg.Kind() == flow.KindNode:
		return "node " + tg.Endpoint.Node
	}
	return tg.Endpoint.Namespace + "/" + tg.Endpoint.Pod
}
