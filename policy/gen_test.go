package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A random cluster for the differential test: small label and port
// vocabularies so that selectors, named ports and ipBlocks often hit.
type genCluster struct {
	namespaces []*corev1.Namespace // the listed ones; some pods live in unlisted namespaces
	nsLabels   map[string]map[string]string
	peers      []*Peer // pods, nodes, external addresses
	policies   []*networkingv1.NetworkPolicy
}

type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g gen) chance(p float64) bool    { return g.r.Float64() < p }

var (
	genPortNames = []string{"http", "dns", "metrics"}
	genPortNums  = []int32{53, 80, 81, 443, 8080}
	genProtos    = []corev1.Protocol{tcp, udp, sctp}
	// Blocks and the strict subsets that may be excepted from them.
	genBlocks = map[string][]string{
		"0.0.0.0/0":      {"10.0.0.0/8", "192.168.0.0/16", "203.0.113.0/25"},
		"10.0.0.0/8":     {"10.1.0.0/16", "10.0.0.0/16", "10.2.0.4/30"},
		"10.1.0.0/16":    {"10.1.0.0/24", "10.1.1.0/24"},
		"192.168.0.0/16": {"192.168.0.0/24"},
		"203.0.113.0/24": {"203.0.113.128/25"},
		"::/0":           {"fd00::/8", "2001:db8::/48"},
		"fd00::/8":       {"fd00::/64", "fd00:0:0:1::/64"},
		"2001:db8::/32":  {"2001:db8::/48"},
	}
	genBlockKeys = []string{"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16", "203.0.113.0/24", "::/0", "fd00::/8", "2001:db8::/32"}
)

func (g gen) labels(p float64, vocab map[string][]string) map[string]string {
	l := map[string]string{}
	for _, k := range []string{"app", "role", "team", "env"} {
		if vals, ok := vocab[k]; ok && g.chance(p) {
			l[k] = g.pick(vals...)
		}
	}
	return l
}

var (
	genPodVocab = map[string][]string{"app": {"web", "db", "api"}, "role": {"x", "y"}, "team": {"a"}}
	genNSVocab  = map[string][]string{"team": {"a", "b"}, "env": {"prod", "dev"}}
)

func (g gen) cluster() *genCluster {
	c := &genCluster{nsLabels: map[string]map[string]string{}}
	nns := 2 + g.r.IntN(3)
	ip := 0
	for i := range nns {
		name := fmt.Sprintf("ns%d", i)
		l := g.labels(0.6, genNSVocab)
		l[namespaceNameLabel] = name
		c.nsLabels[name] = l
		if i == 0 || g.chance(0.8) { // the others are unknown to the engine
			c.namespaces = append(c.namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}})
		} else {
			c.nsLabels[name] = map[string]string{namespaceNameLabel: name}
		}
		for j := range 1 + g.r.IntN(4) {
			ip++
			addr := netip.AddrFrom4([4]byte{10, byte(g.r.IntN(3)), byte(ip / 250), byte(ip%250 + 1)})
			if g.chance(0.2) {
				addr = netip.AddrFrom16([16]byte{0: 0xfd, 14: byte(ip / 250), 15: byte(ip%250 + 1)})
			}
			p := &Peer{Kind: Pod, IP: addr, Namespace: name, Name: fmt.Sprintf("p%d", j),
				Labels: g.labels(0.6, genPodVocab), NodeName: g.pick("n1", "n2")}
			for range g.r.IntN(4) {
				// Container ports always carry a protocol, as the API server defaults it.
				p.Ports = append(p.Ports, cport(g.pick(genPortNames...), genPortNums[g.r.IntN(len(genPortNums))], genProtos[g.r.IntN(3)]))
			}
			c.peers = append(c.peers, p)
		}
	}
	c.peers = append(c.peers, nodePeer("192.168.0.1", "n1"), nodePeer("192.168.0.2", "n2"),
		extPeer("203.0.113.7"), extPeer("203.0.113.200"), extPeer("10.1.0.9"), extPeer("2001:db8::9"), extPeer("2001:db8:1::9"))
	for i := range g.r.IntN(9) {
		c.policies = append(c.policies, g.policy(fmt.Sprintf("ns%d", g.r.IntN(nns)), fmt.Sprintf("np%d", i)))
	}
	return c
}

func (g gen) selector(allowNil bool) *metav1.LabelSelector {
	switch n := g.r.IntN(10); {
	case n < 2 && allowNil:
		return nil
	case n < 4:
		return &metav1.LabelSelector{}
	case n < 7:
		return &metav1.LabelSelector{MatchLabels: g.labels(0.5, genPodVocab)}
	default:
		key := g.pick("app", "role", "team", "env")
		vocab := append(append([]string{}, genPodVocab[key]...), genNSVocab[key]...)
		if len(vocab) == 0 {
			vocab = []string{"web"}
		}
		op := []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn,
			metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist}[g.r.IntN(4)]
		req := metav1.LabelSelectorRequirement{Key: key, Operator: op}
		if op == metav1.LabelSelectorOpIn || op == metav1.LabelSelectorOpNotIn {
			req.Values = []string{g.pick(vocab...)}
			if g.chance(0.4) {
				req.Values = append(req.Values, g.pick(vocab...))
			}
		}
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req}}
	}
}

func (g gen) nsSelector() *metav1.LabelSelector {
	if g.chance(0.2) {
		return &metav1.LabelSelector{MatchLabels: map[string]string{namespaceNameLabel: fmt.Sprintf("ns%d", g.r.IntN(4))}}
	}
	s := g.selector(true)
	if s != nil && len(s.MatchLabels) > 0 {
		s.MatchLabels = g.labels(0.5, genNSVocab)
	}
	return s
}

func (g gen) ports() []networkingv1.NetworkPolicyPort {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []networkingv1.NetworkPolicyPort{}
	}
	var out []networkingv1.NetworkPolicyPort
	for range 1 + g.r.IntN(2) {
		var p networkingv1.NetworkPolicyPort
		if !g.chance(0.3) { // else left for defaulting
			p.Protocol = protoPtr(genProtos[g.r.IntN(3)])
		}
		switch g.r.IntN(4) {
		case 0:
		case 1:
			v := intstr.FromString(g.pick(genPortNames...))
			p.Port = &v
		default:
			v := intstr.FromInt32(genPortNums[g.r.IntN(len(genPortNums))])
			p.Port = &v
			if g.chance(0.3) {
				end := v.IntVal + int32(g.r.IntN(400))
				p.EndPort = &end
			}
		}
		out = append(out, p)
	}
	return out
}

func (g gen) peers() []networkingv1.NetworkPolicyPeer {
	switch g.r.IntN(5) {
	case 0:
		return nil
	case 1:
		return []networkingv1.NetworkPolicyPeer{}
	}
	var out []networkingv1.NetworkPolicyPeer
	for range 1 + g.r.IntN(2) {
		var p networkingv1.NetworkPolicyPeer
		if g.chance(0.3) {
			cidr := genBlockKeys[g.r.IntN(len(genBlockKeys))]
			p.IPBlock = &networkingv1.IPBlock{CIDR: cidr}
			for _, ex := range genBlocks[cidr] {
				if g.chance(0.4) {
					p.IPBlock.Except = append(p.IPBlock.Except, ex)
				}
			}
		} else {
			p.PodSelector, p.NamespaceSelector = g.selector(true), g.nsSelector()
			if p.PodSelector == nil && p.NamespaceSelector == nil {
				p.PodSelector = &metav1.LabelSelector{}
			}
		}
		out = append(out, p)
	}
	return out
}

func (g gen) policy(ns, name string) *networkingv1.NetworkPolicy {
	np := netpol(ns, name, networkingv1.NetworkPolicySpec{PodSelector: *g.selector(false)})
	switch g.r.IntN(4) {
	case 0:
		np.Spec.PolicyTypes = typeIngress
	case 1:
		np.Spec.PolicyTypes = typeEgress
	case 2:
		np.Spec.PolicyTypes = typeBoth
	} // else left for defaulting
	switch g.r.IntN(4) {
	case 0:
	case 1:
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{}
	default:
		for range 1 + g.r.IntN(3) {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{Ports: g.ports(), From: g.peers()})
		}
	}
	switch g.r.IntN(4) {
	case 0:
	case 1:
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{}
	default:
		for range 1 + g.r.IntN(3) {
			np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{Ports: g.ports(), To: g.peers()})
		}
	}
	return np
}

func (g gen) flow(c *genCluster) Flow {
	f := Flow{Src: c.peers[g.r.IntN(len(c.peers))], Dst: c.peers[g.r.IntN(len(c.peers))]}
	if g.chance(0.1) {
		f.Protocol = ProtocolICMP
		return f
	}
	f.Protocol = genProtos[g.r.IntN(3)]
	f.Port = genPortNums[g.r.IntN(len(genPortNums))]
	if g.chance(0.15) {
		f.Port += int32(g.r.IntN(400)) // inside or beyond endPort ranges
	}
	return f
}
