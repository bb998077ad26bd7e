package policy

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The small world of the conformance table: namespaces prod (team=blue) and
// dev (team=red) are known; ghost is not in the namespace list.
var (
	worldNamespaces = []*corev1.Namespace{
		namespace("prod", "team", "blue", "env", "prod"),
		namespace("dev", "team", "red", "env", "dev"),
	}

	pWeb = podPeer("prod", "web", "10.0.1.1", "n1", map[string]string{"app": "web", "tier": "front"},
		cport("http", 80, corev1.ProtocolTCP), cport("dns", 53, corev1.ProtocolUDP),
		cport("sig", 9000, corev1.ProtocolSCTP), cport("alt", 8080, ""))
	pDB = podPeer("prod", "db", "10.0.1.2", "n2", map[string]string{"app": "db", "tier": "back"},
		cport("pg", 5432, corev1.ProtocolTCP))
	pV6    = podPeer("prod", "v6", "fd00::5", "n2", map[string]string{"app": "v6"})
	pCli   = podPeer("dev", "cli", "10.0.2.1", "n1", map[string]string{"app": "web"}, cport("http", 8080, corev1.ProtocolTCP))
	pGhost = podPeer("ghost", "gw", "10.0.3.1", "n2", map[string]string{"app": "web"})
	nNode1 = nodePeer("192.168.0.1", "n1")
	nNode2 = nodePeer("192.168.0.2", "n2")
	// A hostNetwork pod is its node; the resolver may still pass its labels.
	nHostNet = &Peer{Kind: Node, IP: nNode2.IP, NodeName: "n2", Namespace: "prod", Name: "hostnet",
		Labels: map[string]string{"app": "web"}, Ports: []corev1.ContainerPort{cport("http", 80, corev1.ProtocolTCP)}}
	xPublic  = extPeer("203.0.113.7")
	xPrivate = extPeer("10.200.0.1")
	xPublic6 = extPeer("2001:db8::7")
)

func flow(src, dst *Peer, p corev1.Protocol, port int32) Flow {
	return Flow{Src: src, Dst: dst, Protocol: p, Port: port}
}

func tcpFlow(src, dst *Peer, port int32) Flow { return flow(src, dst, corev1.ProtocolTCP, port) }

var (
	typeIngress = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	typeEgress  = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	typeBoth    = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	selectAll   = metav1.LabelSelector{}
)

// ingressTo is a prod policy selecting pods by sel with the given ingress rules.
func ingressTo(name string, sel *metav1.LabelSelector, rules ...networkingv1.NetworkPolicyIngressRule) *networkingv1.NetworkPolicy {
	return netpol("prod", name, networkingv1.NetworkPolicySpec{PodSelector: *sel, PolicyTypes: typeIngress, Ingress: rules})
}

// egressFrom is a prod policy selecting pods by sel with the given egress rules.
func egressFrom(name string, sel *metav1.LabelSelector, rules ...networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
	return netpol("prod", name, networkingv1.NetworkPolicySpec{PodSelector: *sel, PolicyTypes: typeEgress, Egress: rules})
}

func from(peers ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: peers}
}

func fromOn(ports []networkingv1.NetworkPolicyPort, peers ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{Ports: ports, From: peers}
}

func to(peers ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: peers}
}

func toOn(ports []networkingv1.NetworkPolicyPort, peers ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{Ports: ports, To: peers}
}

func ports(p ...networkingv1.NetworkPolicyPort) []networkingv1.NetworkPolicyPort { return p }

func pols(p ...*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy { return p }

func sel(kv ...string) *metav1.LabelSelector { return labelsSel(kv...) }

var any0 = &metav1.LabelSelector{}
