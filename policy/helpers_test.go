package policy

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Builders shared by the tests. Policies built here carry no defaults:
// tests that need defaulted objects call Default.

func netpol(ns, name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       spec,
	}
}

func labelsSel(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func exprSel(key string, op metav1.LabelSelectorOperator, values ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func protoPtr(p corev1.Protocol) *corev1.Protocol { return &p }

func portNum(p corev1.Protocol, n int32) networkingv1.NetworkPolicyPort {
	port := intstr.FromInt32(n)
	return networkingv1.NetworkPolicyPort{Protocol: protoPtr(p), Port: &port}
}

func portRangeOf(p corev1.Protocol, n, end int32) networkingv1.NetworkPolicyPort {
	pp := portNum(p, n)
	pp.EndPort = &end
	return pp
}

func portName(p corev1.Protocol, name string) networkingv1.NetworkPolicyPort {
	port := intstr.FromString(name)
	return networkingv1.NetworkPolicyPort{Protocol: protoPtr(p), Port: &port}
}

func portProto(p corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: protoPtr(p)}
}

func peerPods(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: s}
}

func peerNS(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: s}
}

func peerNSPods(ns, pods *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: ns, PodSelector: pods}
}

func peerCIDR(cidr string, except ...string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}
}

func namespace(name string, kv ...string) *corev1.Namespace {
	l := map[string]string{namespaceNameLabel: name}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func cport(name string, n int32, p corev1.Protocol) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: p}
}

func podPeer(ns, name, ip, node string, labels map[string]string, ports ...corev1.ContainerPort) *Peer {
	return &Peer{Kind: Pod, IP: netip.MustParseAddr(ip), Namespace: ns, Name: name, Labels: labels, Ports: ports, NodeName: node}
}

func nodePeer(ip, node string) *Peer {
	return &Peer{Kind: Node, IP: netip.MustParseAddr(ip), NodeName: node}
}

func extPeer(ip string) *Peer {
	return &Peer{Kind: External, IP: netip.MustParseAddr(ip)}
}

func mustEngine(t testing.TB, pols []*networkingv1.NetworkPolicy, nss []*corev1.Namespace) *Engine {
	t.Helper()
	e, err := New(pols, nss)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}
