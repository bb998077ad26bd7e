package policy

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// InvalidPolicyError is a NetworkPolicy that the API server would reject.
type InvalidPolicyError struct {
	Namespace, Name string
	Errs            field.ErrorList
}

// Error reads like the API server's answer, prefixed by the object:
// `NetworkPolicy ns/name: spec.egress[0].to[1].ipBlock.cidr: Invalid value: "x": ...`.
func (e *InvalidPolicyError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return "NetworkPolicy " + e.Namespace + "/" + e.Name + ": " + strings.Join(msgs, "; ")
}

// validatePolicy checks a NetworkPolicy as the API server of the
// k8s.io/api version in go.mod would on create (strict CIDR validation, which
// is on by default there). A missing protocol or policyTypes is not an error:
// the API server defaults those before validating.
func validatePolicy(np *networkingv1.NetworkPolicy) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&np.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec := &np.Spec
	path := field.NewPath("spec")
	selOpts := metav1validation.LabelSelectorValidationOptions{}
	errs = append(errs, metav1validation.ValidateLabelSelector(&spec.PodSelector, selOpts, path.Child("podSelector"))...)
	for i := range spec.Ingress {
		rp := path.Child("ingress").Index(i)
		for j := range spec.Ingress[i].Ports {
			errs = append(errs, validatePort(&spec.Ingress[i].Ports[j], rp.Child("ports").Index(j))...)
		}
		for j := range spec.Ingress[i].From {
			errs = append(errs, validatePeer(&spec.Ingress[i].From[j], rp.Child("from").Index(j))...)
		}
	}
	for i := range spec.Egress {
		rp := path.Child("egress").Index(i)
		for j := range spec.Egress[i].Ports {
			errs = append(errs, validatePort(&spec.Egress[i].Ports[j], rp.Child("ports").Index(j))...)
		}
		for j := range spec.Egress[i].To {
			errs = append(errs, validatePeer(&spec.Egress[i].To[j], rp.Child("to").Index(j))...)
		}
	}
	supported := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	if len(spec.PolicyTypes) > 2 {
		return append(errs, field.Invalid(path.Child("policyTypes"), spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(path.Child("policyTypes").Index(i), t, supported))
		}
	}
	return errs
}

func validatePort(p *networkingv1.NetworkPolicyPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p.Protocol != nil {
		switch *p.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			errs = append(errs, field.NotSupported(path.Child("protocol"), *p.Protocol,
				[]corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}))
		}
	}
	switch {
	case p.Port == nil:
		if p.EndPort != nil {
			errs = append(errs, field.Invalid(path.Child("endPort"), *p.EndPort, "may not be specified when `port` is not specified"))
		}
	case p.Port.Type == intstr.Int:
		for _, msg := range validation.IsValidPortNum(int(p.Port.IntVal)) {
			errs = append(errs, field.Invalid(path.Child("port"), p.Port.IntVal, msg))
		}
		if p.EndPort != nil {
			if *p.EndPort < p.Port.IntVal {
				errs = append(errs, field.Invalid(path.Child("endPort"), *p.EndPort, "must be greater than or equal to `port`"))
			}
			for _, msg := range validation.IsValidPortNum(int(*p.EndPort)) {
				errs = append(errs, field.Invalid(path.Child("endPort"), *p.EndPort, msg))
			}
		}
	default:
		if p.EndPort != nil {
			errs = append(errs, field.Invalid(path.Child("endPort"), *p.EndPort, "may not be specified when `port` is non-numeric"))
		}
		for _, msg := range validation.IsValidPortName(p.Port.StrVal) {
			errs = append(errs, field.Invalid(path.Child("port"), p.Port.StrVal, msg))
		}
	}
	return errs
}

func validatePeer(p *networkingv1.NetworkPolicyPeer, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	selOpts := metav1validation.LabelSelectorValidationOptions{}
	n := 0
	if p.PodSelector != nil {
		n++
		errs = append(errs, metav1validation.ValidateLabelSelector(p.PodSelector, selOpts, path.Child("podSelector"))...)
	}
	if p.NamespaceSelector != nil {
		n++
		errs = append(errs, metav1validation.ValidateLabelSelector(p.NamespaceSelector, selOpts, path.Child("namespaceSelector"))...)
	}
	if p.IPBlock != nil {
		n++
		errs = append(errs, validateIPBlock(p.IPBlock, path.Child("ipBlock"))...)
	}
	if n == 0 {
		errs = append(errs, field.Required(path, "must specify a peer"))
	} else if n > 1 && p.IPBlock != nil {
		errs = append(errs, field.Forbidden(path, "may not specify both ipBlock and another peer"))
	}
	return errs
}

func validateIPBlock(b *networkingv1.IPBlock, path *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(path.Child("cidr"), "")}
	}
	errs := validation.IsValidCIDRForLegacyField(path.Child("cidr"), b.CIDR, true, nil)
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil || len(errs) != 0 {
		return errs
	}
	for i, ex := range b.Except {
		ep := path.Child("except").Index(i)
		exErrs := validation.IsValidCIDRForLegacyField(ep, ex, true, nil)
		errs = append(errs, exErrs...)
		exPrefix, err := netip.ParsePrefix(ex)
		if err != nil || len(exErrs) != 0 {
			continue
		}
		if !cidr.Contains(exPrefix.Addr()) || exPrefix.Bits() <= cidr.Bits() {
			errs = append(errs, field.Invalid(ep, ex, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}
