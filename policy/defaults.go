package policy

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Default applies the API server's defaulting for networking.k8s.io/v1 in
// place: a policy without policyTypes gets Ingress, plus Egress when it has
// egress rules; a port without a protocol gets TCP.
func Default(np *networkingv1.NetworkPolicy) {
	if np == nil {
		return
	}
	spec := &np.Spec
	if len(spec.PolicyTypes) == 0 {
		spec.PolicyTypes = effectivePolicyTypes(spec)
	}
	for i := range spec.Ingress {
		defaultPorts(spec.Ingress[i].Ports)
	}
	for i := range spec.Egress {
		defaultPorts(spec.Egress[i].Ports)
	}
}

func defaultPorts(ports []networkingv1.NetworkPolicyPort) {
	for i := range ports {
		if ports[i].Protocol == nil {
			p := corev1.ProtocolTCP
			ports[i].Protocol = &p
		}
	}
}

// effectivePolicyTypes is spec.policyTypes after defaulting, computed without
// touching the object (New must not mutate its input).
func effectivePolicyTypes(spec *networkingv1.NetworkPolicySpec) []networkingv1.PolicyType {
	if len(spec.PolicyTypes) != 0 {
		return spec.PolicyTypes
	}
	types := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	// len, not nil: `egress: []` does not make a policy an egress policy.
	if len(spec.Egress) != 0 {
		types = append(types, networkingv1.PolicyTypeEgress)
	}
	return types
}
