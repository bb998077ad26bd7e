package suggest

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateNetworkPolicy checks a NetworkPolicy the way the API server's
// networking validation does (k8s.io/kubernetes is not a dependency): object
// metadata, selectors, ports and endPort, peers and CIDRs, policyTypes.
func validateNetworkPolicy(np *networkingv1.NetworkPolicy) field.ErrorList {
	var errs field.ErrorList
	md := field.NewPath("metadata")
	for _, msg := range validation.IsDNS1123Subdomain(np.Name) {
		errs = append(errs, field.Invalid(md.Child("name"), np.Name, msg))
	}
	for _, msg := range validation.IsDNS1123Label(np.Namespace) {
		errs = append(errs, field.Invalid(md.Child("namespace"), np.Namespace, msg))
	}
	errs = append(errs, metav1validation.ValidateLabels(np.Labels, md.Child("labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(np.Annotations, md.Child("annotations"))...)

	spec := field.NewPath("spec")
	errs = append(errs, validateSelector(&np.Spec.PodSelector, spec.Child("podSelector"))...)
	for i, r := range np.Spec.Ingress {
		p := spec.Child("ingress").Index(i)
		errs = append(errs, validatePorts(r.Ports, p.Child("ports"))...)
		errs = append(errs, validatePeers(r.From, p.Child("from"))...)
	}
	for i, r := range np.Spec.Egress {
		p := spec.Child("egress").Index(i)
		errs = append(errs, validatePorts(r.Ports, p.Child("ports"))...)
		errs = append(errs, validatePeers(r.To, p.Child("to"))...)
	}
	seen := map[networkingv1.PolicyType]bool{}
	for i, t := range np.Spec.PolicyTypes {
		p := spec.Child("policyTypes").Index(i)
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(p, t, []string{"Ingress", "Egress"}))
		}
		if seen[t] {
			errs = append(errs, field.Duplicate(p, t))
		}
		seen[t] = true
	}
	return errs
}

func validateSelector(s *metav1.LabelSelector, p *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, p)
	if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
		errs = append(errs, field.Invalid(p, s, err.Error()))
	}
	return errs
}

func validatePorts(ports []networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		pp := p.Index(i)
		if port.Protocol != nil {
			switch *port.Protocol {
			case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
			default:
				errs = append(errs, field.NotSupported(pp.Child("protocol"), *port.Protocol, []string{"TCP", "UDP", "SCTP"}))
			}
		}
		if port.Port != nil {
			if port.Port.Type == intstr.Int {
				for _, msg := range validation.IsValidPortNum(int(port.Port.IntVal)) {
					errs = append(errs, field.Invalid(pp.Child("port"), port.Port.IntVal, msg))
				}
			} else {
				for _, msg := range validation.IsValidPortName(port.Port.StrVal) {
					errs = append(errs, field.Invalid(pp.Child("port"), port.Port.StrVal, msg))
				}
			}
		}
		if port.EndPort != nil {
			switch {
			case port.Port == nil:
				errs = append(errs, field.Required(pp.Child("port"), "when endPort is specified"))
			case port.Port.Type == intstr.String:
				errs = append(errs, field.Invalid(pp.Child("endPort"), *port.EndPort, "may not be specified when port is non-numeric"))
			case *port.EndPort < port.Port.IntVal:
				errs = append(errs, field.Invalid(pp.Child("endPort"), *port.EndPort, "must be greater than or equal to port"))
			}
			for _, msg := range validation.IsValidPortNum(int(*port.EndPort)) {
				errs = append(errs, field.Invalid(pp.Child("endPort"), *port.EndPort, msg))
			}
		}
	}
	return errs
}

func validatePeers(peers []networkingv1.NetworkPolicyPeer, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, peer := range peers {
		pp := p.Index(i)
		n := 0
		if peer.PodSelector != nil {
			n++
			errs = append(errs, validateSelector(peer.PodSelector, pp.Child("podSelector"))...)
		}
		if peer.NamespaceSelector != nil {
			n++
			errs = append(errs, validateSelector(peer.NamespaceSelector, pp.Child("namespaceSelector"))...)
		}
		if peer.IPBlock != nil {
			if n > 0 {
				errs = append(errs, field.Forbidden(pp, "may not specify both ipBlock and another peer"))
			}
			n++
			errs = append(errs, validateIPBlock(peer.IPBlock, pp.Child("ipBlock"))...)
		}
		if n == 0 {
			errs = append(errs, field.Required(pp, "must specify a peer"))
		}
	}
	return errs
}

func validateIPBlock(b *networkingv1.IPBlock, p *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(p.Child("cidr"), "")}
	}
	errs := validation.IsValidCIDR(p.Child("cidr"), b.CIDR)
	if len(errs) > 0 {
		return errs
	}
	cidr := netip.MustParsePrefix(b.CIDR)
	for i, ex := range b.Except {
		ep := p.Child("except").Index(i)
		if e := validation.IsValidCIDR(ep, ex); len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		exp := netip.MustParsePrefix(ex)
		if exp.Addr().Is4() != cidr.Addr().Is4() || !cidr.Contains(exp.Addr()) || exp.Bits() <= cidr.Bits() {
			errs = append(errs, field.Invalid(ep, ex, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}

// TestValidatorCatchesBadPolicies keeps the validator honest: each of these
// is refused by the API server.
func TestValidatorCatchesBadPolicies(t *testing.T) {
	tcp := corev1.ProtocolTCP
	icmp := corev1.Protocol("ICMP")
	p80, p0, named := intstr.FromInt32(80), intstr.FromInt32(0), intstr.FromString("http")
	end79, end70000 := int32(79), int32(70000)
	good := func() *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress"}},
		}
	}
	if errs := validateNetworkPolicy(good()); len(errs) > 0 {
		t.Fatalf("valid policy refused: %v", errs)
	}
	cases := map[string]func(*networkingv1.NetworkPolicy){
		"name":        func(np *networkingv1.NetworkPolicy) { np.Name = "Bad_Name" },
		"label value": func(np *networkingv1.NetworkPolicy) { np.Labels = map[string]string{"a": "b c"} },
		"selector key": func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector.MatchLabels = map[string]string{"bad key": "x"}
		},
		"selector op": func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}
		},
		"exists values": func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Exists", Values: []string{"x"}}}
		},
		"port 0": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p0}}}}
		},
		"protocol": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &icmp}}}}
		},
		"endPort < port": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p80, EndPort: &end79}}}}
		},
		"endPort range": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p80, EndPort: &end70000}}}}
		},
		"endPort named": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &named, EndPort: &end79}}}}
		},
		"cidr": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.1/33"}}}}}
		},
		"except outside": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}}}}}}
		},
		"ipBlock and selector": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}, IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}}}}}
		},
		"empty peer": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{}}}}
		},
		"policy type": func(np *networkingv1.NetworkPolicy) { np.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"} },
	}
	for name, mutate := range cases {
		np := good()
		mutate(np)
		if errs := validateNetworkPolicy(np); len(errs) == 0 {
			t.Errorf("%s: accepted, want refused", name)
		}
	}
}
