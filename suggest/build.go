package suggest

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Documents returns the suggestion as NetworkPolicies with their comments,
// in print order: the default deny, then one policy per workload by name.
func (s *Suggestion) Documents() []Document {
	docs := make([]Document, 0, len(s.Policies))
	for i := range s.Policies {
		docs = append(docs, s.Policies[i].document())
	}
	return docs
}

// NetworkPolicies returns the typed objects the YAML decodes to: what the
// replay judges.
func (s *Suggestion) NetworkPolicies() []*networkingv1.NetworkPolicy {
	out := make([]*networkingv1.NetworkPolicy, 0, len(s.Policies))
	for _, d := range s.Documents() {
		out = append(out, d.Policy)
	}
	return out
}

// RenderYAML prints the suggestion as NetworkPolicy YAML.
func (s *Suggestion) RenderYAML() []byte { return RenderNetworkPolicies(s.Documents()) }

func (p *Policy) document() Document {
	np := &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        p.Name,
			Namespace:   p.Namespace,
			Labels:      cloneLabels(p.Labels),
			Annotations: cloneLabels(p.Annotations),
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *p.Selector.DeepCopy(),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	d := Document{Policy: np, Header: p.Header}
	for _, r := range p.Ingress {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
			From:  npPeers(r.Peers),
			Ports: npPorts(r),
		})
		d.Ingress = append(d.Ingress, r.Comment)
	}
	for _, r := range p.Egress {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{
			To:    npPeers(r.Peers),
			Ports: npPorts(r),
		})
		d.Egress = append(d.Egress, r.Comment)
	}
	return d
}

func npPeers(peers []Peer) []networkingv1.NetworkPolicyPeer {
	out := make([]networkingv1.NetworkPolicyPeer, 0, len(peers))
	for _, p := range peers {
		var np networkingv1.NetworkPolicyPeer
		switch {
		case p.IPBlock != nil:
			np.IPBlock = p.IPBlock.DeepCopy()
		default:
			np.PodSelector = p.Pods.DeepCopy()
			if p.Namespace != "" {
				np.NamespaceSelector = namespaceSelector(p.Namespace)
			}
		}
		out = append(out, np)
	}
	return out
}

func npPorts(r Rule) []networkingv1.NetworkPolicyPort {
	if r.AllPorts || len(r.Ports) == 0 {
		return nil
	}
	out := make([]networkingv1.NetworkPolicyPort, 0, len(r.Ports))
	for _, pr := range r.Ports {
		proto := pr.Protocol
		port := intstr.FromInt32(pr.Port)
		np := networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port}
		if pr.EndPort != 0 {
			end := pr.EndPort
			np.EndPort = &end
		}
		out = append(out, np)
	}
	return out
}
