package agent

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
)

// Scale of the benchmarks: 10,000 pods in 500 namespaces (four workloads
// of five pods each), four policies per namespace (2,000), two Services
// per namespace.
const (
	benchNamespaces = 500
	benchPodsPerNS  = 20
	benchWorkloads  = 4
)

// benchCluster builds the benchmark's cluster.
func benchCluster() correlate.Objects {
	var o correlate.Objects
	for n := range 20 {
		o.Nodes = append(o.Nodes, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-" + strconv.Itoa(n)},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("172.18.0.%d", n+1)}}},
		})
	}
	tcp := corev1.ProtocolTCP
	port := func(p int) *intstr.IntOrString { v := intstr.FromInt32(int32(p)); return &v }
	for ns := range benchNamespaces {
		name := "ns-" + strconv.Itoa(ns)
		o.Namespaces = append(o.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: name, Labels: map[string]string{"kubernetes.io/metadata.name": name, "team": "t" + strconv.Itoa(ns%10)},
		}})
		for i := range benchPodsPerNS {
			idx := ns*benchPodsPerNS + i
			app := "app-" + strconv.Itoa(i%benchWorkloads)
			o.Pods = append(o.Pods, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: name, Name: fmt.Sprintf("%s-5c6b8d9f7b-%d", app, i),
					Labels:          map[string]string{"app": app, "pod-template-hash": "5c6b8d9f7b"},
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app + "-5c6b8d9f7b", Controller: ptr(true)}},
				},
				Spec: corev1.PodSpec{NodeName: "node-" + strconv.Itoa(idx%20), Containers: []corev1.Container{{
					Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000, Protocol: tcp}},
				}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: benchPodIP(idx).String(), PodIPs: []corev1.PodIP{{IP: benchPodIP(idx).String()}}},
			})
		}
		for s := range 2 {
			svc := fmt.Sprintf("svc-%d", s)
			cip := benchServiceIP(ns, s).String()
			o.Services = append(o.Services, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: svc},
				Spec: corev1.ServiceSpec{ClusterIP: cip, ClusterIPs: []string{cip}, Selector: map[string]string{"app": "app-" + strconv.Itoa(s)},
					Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: tcp, TargetPort: intstr.FromString("http")}}},
			})
			var eps []discoveryv1.Endpoint
			for i := s; i < benchPodsPerNS; i += benchWorkloads {
				eps = append(eps, discoveryv1.Endpoint{Addresses: []string{benchPodIP(ns*benchPodsPerNS + i).String()},
					Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
			}
			o.EndpointSlices = append(o.EndpointSlices, &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: name, Name: svc + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
				AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps,
				Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8000)), Protocol: &tcp}},
			})
		}
		peerNS := "ns-" + strconv.Itoa((ns+1)%benchNamespaces)
		o.NetworkPolicies = append(o.NetworkPolicies,
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "deny-all"},
				Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "same-namespace"},
				Spec: networkingv1.NetworkPolicySpec{
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}},
						Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: port(8000)}},
					}}}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "egress"},
				Spec: networkingv1.NetworkPolicySpec{
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
					Egress: []networkingv1.NetworkPolicyEgressRule{
						{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}},
						{
							To: []networkingv1.NetworkPolicyPeer{{
								NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": peerNS}},
								PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app-0"}},
							}},
							Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: port(8000)}},
						},
						{
							To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0",
								Except: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}}}},
							Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: port(443)}},
						},
					}}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "from-team"},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "app-0"}},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
					Ingress: []networkingv1.NetworkPolicyIngressRule{{
						From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
							MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpExists}}}}},
						Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: port(8000)}},
					}}}},
		)
	}
	return o
}

func ptr[T any](v T) *T { return &v }

func benchPodIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 244, byte(i / 250), byte(i%250 + 1)})
}

func benchServiceIP(ns, s int) netip.Addr {
	i := ns*2 + s
	return netip.AddrFrom4([4]byte{10, 96, byte(i / 250), byte(i%250 + 1)})
}

// nodeFlows returns n distinct connections (n at most 15,000,000) of the
// 500 pods of node-0 (every twentieth pod), to the mix of benchFlow.
func nodeFlows(n int, at time.Time) []flow.Record {
	out := make([]flow.Record, n)
	for c := range out {
		out[c] = benchFlow(c, (c%500)*20, uint16(32768+c/500), at)
	}
	return out
}

// peerFlows returns n connections (n at most 100,000) of the 500 pods of
// node-0, no two of one pod to the same server and port: 200 peers a pod,
// the mix of benchFlow spread over the cluster's pods, its Services and
// 200 public addresses, and the metadata service on 10 ports.
func peerFlows(n int, at time.Time) []flow.Record {
	out := make([]flow.Record, n)
	for c := range out {
		src, j := (c%500)*20, c/500
		r := benchFlow(c, src, uint16(32768+j), at)
		switch k := j % 20; {
		case k < 13:
			r.Dst = flow.Endpoint{IP: benchPodIP((j*37 + src + 1) % (benchNamespaces * benchPodsPerNS)), Port: 8000}
		case k < 15:
			r.Dst = flow.Endpoint{IP: benchServiceIP(j%benchNamespaces, k%2), Port: 80}
		case k < 19:
			r.Dst = flow.Endpoint{IP: netip.AddrFrom4([4]byte{198, 18, byte(j >> 8), byte(j)}), Port: 443}
		default:
			r.Dst = flow.Endpoint{IP: netip.MustParseAddr("169.254.169.254"), Port: uint16(80 + j/20)}
		}
		out[c] = r
	}
	return out
}

// benchFlow is connection c from pod src and port.
func benchFlow(c, src int, port uint16, at time.Time) flow.Record {
	ns := src / benchPodsPerNS
	r := flow.Record{
		TimeFirst: at, TimeLast: at.Add(time.Second), Node: "node-0", Protocol: flow.TCP,
		Src: flow.Endpoint{IP: benchPodIP(src), Port: port}, Packets: 10, Bytes: 4000,
		Observed: flow.Forwarded, Initiator: "src",
	}
	switch k := c % 20; {
	case k < 10:
		r.Dst = flow.Endpoint{IP: benchPodIP(ns*benchPodsPerNS + (src+1+k)%benchPodsPerNS), Port: 8000}
	case k < 13:
		r.Dst = flow.Endpoint{IP: benchPodIP(((ns+1)%benchNamespaces)*benchPodsPerNS + k%benchPodsPerNS), Port: 8000}
	case k < 15:
		r.Dst = flow.Endpoint{IP: benchServiceIP(ns, k%2), Port: 80}
	case k < 19:
		r.Dst = flow.Endpoint{IP: netip.AddrFrom4([4]byte{203, 0, 113, byte(c % 250)}), Port: 443}
	default:
		r.Dst = flow.Endpoint{IP: netip.MustParseAddr("169.254.169.254"), Port: 80}
	}
	return r
}
