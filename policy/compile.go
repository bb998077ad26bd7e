package policy

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// proto is a protocol as a small integer; protoOther (ICMP or anything a
// NetworkPolicy port cannot name) matches no port entry.
type proto uint8

const (
	protoOther proto = iota
	protoTCP
	protoUDP
	protoSCTP
)

func protoOf(p corev1.Protocol) proto {
	switch p {
	case corev1.ProtocolTCP:
		return protoTCP
	case corev1.ProtocolUDP:
		return protoUDP
	case corev1.ProtocolSCTP:
		return protoSCTP
	default:
		return protoOther
	}
}

// containerProto is a container port's protocol; the API server defaults an
// empty one to TCP.
func containerProto(p corev1.Protocol) proto {
	if p == "" {
		return protoTCP
	}
	return protoOf(p)
}

type portKind uint8

const (
	portAny   portKind = iota // protocol only
	portRange                 // port, or port..endPort
	portNamed                 // resolved on the destination pod
)

type portMatcher struct {
	proto  proto
	kind   portKind
	lo, hi int32
	name   string
}

type peerMatcher struct {
	ipBlock bool
	cidr    netip.Prefix
	except  []netip.Prefix
	// podSel and nsSel are nil when absent, which differs from empty.
	podSel *selector
	nsSel  *selector
}

type ruleMatcher struct {
	ports []portMatcher // empty: every port and protocol
	peers []peerMatcher // empty: every peer
}

type compiledPolicy struct {
	key       string // namespace/name
	namespace string
	order     int // position in the engine's sorted list
	podSel    selector
	ingress   []ruleMatcher
	egress    []ruleMatcher
	isIngress bool
	isEgress  bool
}

// compilePolicy turns a validated policy into matchers, applying the API
// server's defaults to missing fields without touching the object.
func compilePolicy(np *networkingv1.NetworkPolicy) (*compiledPolicy, error) {
	cp := &compiledPolicy{key: np.Namespace + "/" + np.Name, namespace: np.Namespace}
	var err error
	if cp.podSel, err = compileSelector(&np.Spec.PodSelector); err != nil {
		return nil, fmt.Errorf("spec.podSelector: %w", err)
	}
	for _, t := range effectivePolicyTypes(&np.Spec) {
		switch t {
		case networkingv1.PolicyTypeIngress:
			cp.isIngress = true
		case networkingv1.PolicyTypeEgress:
			cp.isEgress = true
		}
	}
	for i, r := range np.Spec.Ingress {
		rm, err := compileRule(r.Ports, r.From)
		if err != nil {
			return nil, fmt.Errorf("spec.ingress[%d]: %w", i, err)
		}
		cp.ingress = append(cp.ingress, rm)
	}
	for i, r := range np.Spec.Egress {
		rm, err := compileRule(r.Ports, r.To)
		if err != nil {
			return nil, fmt.Errorf("spec.egress[%d]: %w", i, err)
		}
		cp.egress = append(cp.egress, rm)
	}
	return cp, nil
}

func compileRule(ports []networkingv1.NetworkPolicyPort, peers []networkingv1.NetworkPolicyPeer) (ruleMatcher, error) {
	var rm ruleMatcher
	for _, p := range ports {
		pm := portMatcher{proto: protoTCP}
		if p.Protocol != nil {
			pm.proto = protoOf(*p.Protocol)
		}
		switch {
		case p.Port == nil:
			pm.kind = portAny
		case p.Port.Type == intstr.String:
			pm.kind, pm.name = portNamed, p.Port.StrVal
		default:
			pm.kind, pm.lo, pm.hi = portRange, p.Port.IntVal, p.Port.IntVal
			if p.EndPort != nil {
				pm.hi = *p.EndPort
			}
		}
		rm.ports = append(rm.ports, pm)
	}
	for j, p := range peers {
		var pm peerMatcher
		if p.IPBlock != nil {
			var err error
			pm.ipBlock = true
			if pm.cidr, err = netip.ParsePrefix(p.IPBlock.CIDR); err != nil {
				return rm, fmt.Errorf("peer %d: %w", j, err)
			}
			for _, ex := range p.IPBlock.Except {
				e, err := netip.ParsePrefix(ex)
				if err != nil {
					return rm, fmt.Errorf("peer %d: %w", j, err)
				}
				pm.except = append(pm.except, e)
			}
		}
		if p.PodSelector != nil {
			s, err := compileSelector(p.PodSelector)
			if err != nil {
				return rm, fmt.Errorf("peer %d podSelector: %w", j, err)
			}
			pm.podSel = &s
		}
		if p.NamespaceSelector != nil {
			s, err := compileSelector(p.NamespaceSelector)
			if err != nil {
				return rm, fmt.Errorf("peer %d namespaceSelector: %w", j, err)
			}
			pm.nsSel = &s
		}
		rm.peers = append(rm.peers, pm)
	}
	return rm, nil
}
