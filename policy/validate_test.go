package policy

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestValidation checks that New rejects what the API server rejects, with
// an error naming the object and the field.
func TestValidation(t *testing.T) {
	egressPeer := func(p networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
		return netpol("ai", "bad", networkingv1.NetworkPolicySpec{PolicyTypes: typeEgress,
			Egress: []networkingv1.NetworkPolicyEgressRule{to(peerCIDR("192.0.2.0/24")), to(p)}})
	}
	ingressPort := func(p networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
		return netpol("ai", "bad", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: ports(p)}}})
	}
	podSel := func(s *metav1.LabelSelector) *networkingv1.NetworkPolicy {
		return netpol("ai", "bad", networkingv1.NetworkPolicySpec{PodSelector: *s})
	}
	end := func(n int32) *int32 { return &n }
	cases := []struct {
		name string
		np   *networkingv1.NetworkPolicy
		want string
	}{
		{"invalid CIDR", egressPeer(peerCIDR("10.0.0.300/8")),
			`NetworkPolicy ai/bad: spec.egress[1].to[0].ipBlock.cidr: Invalid value: "10.0.0.300/8": must be a valid CIDR value`},
		{"CIDR without prefix length", egressPeer(peerCIDR("10.0.0.1")), `spec.egress[1].to[0].ipBlock.cidr: Invalid value: "10.0.0.1"`},
		{"CIDR with bits set beyond the prefix", egressPeer(peerCIDR("10.0.0.1/8")), `must not have bits set beyond the prefix length`},
		{"CIDR with leading zeros", egressPeer(peerCIDR("010.0.0.0/8")), `must not have leading 0s`},
		{"IPv4-mapped IPv6 CIDR", egressPeer(peerCIDR("::ffff:10.0.0.0/104")), `must not have an IPv4-mapped IPv6 address`},
		{"empty CIDR", egressPeer(peerCIDR("")), `spec.egress[1].to[0].ipBlock.cidr: Required value`},
		{"invalid except", egressPeer(peerCIDR("10.0.0.0/8", "10.1.0.0/16", "nope")), `spec.egress[1].to[0].ipBlock.except[1]: Invalid value: "nope"`},
		{"except outside the CIDR", egressPeer(peerCIDR("10.0.0.0/8", "192.168.0.0/16")),
			"spec.egress[1].to[0].ipBlock.except[0]: Invalid value: \"192.168.0.0/16\": must be a strict subset of `cidr`"},
		{"except equal to the CIDR", egressPeer(peerCIDR("10.0.0.0/8", "10.0.0.0/8")), "must be a strict subset of `cidr`"},
		{"except wider than the CIDR", egressPeer(peerCIDR("10.1.0.0/16", "10.0.0.0/8")), "must be a strict subset of `cidr`"},
		{"except of another family", egressPeer(peerCIDR("10.0.0.0/8", "fd00::/64")), "must be a strict subset of `cidr`"},
		{"empty peer", egressPeer(networkingv1.NetworkPolicyPeer{}), `spec.egress[1].to[0]: Required value: must specify a peer`},
		{"ipBlock with a selector", egressPeer(networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}, PodSelector: any0}),
			`spec.egress[1].to[0]: Forbidden: may not specify both ipBlock and another peer`},
		{"invalid selector operator", egressPeer(peerPods(exprSel("app", "Like", "x"))),
			`spec.egress[1].to[0].podSelector.matchExpressions[0].operator: Invalid value: "Like": not a valid selector operator`},
		{"In without values", podSel(exprSel("app", metav1.LabelSelectorOpIn)),
			`spec.podSelector.matchExpressions[0].values: Required value`},
		{"Exists with values", egressPeer(peerNS(exprSel("app", metav1.LabelSelectorOpExists, "x"))),
			`spec.egress[1].to[0].namespaceSelector.matchExpressions[0].values: Forbidden`},
		{"invalid label key", podSel(sel("bad key", "x")), `spec.podSelector.matchLabels: Invalid value: "bad key"`},
		{"invalid label value", podSel(sel("app", "not ok")), `spec.podSelector.matchLabels: Invalid value: "not ok"`},
		{"invalid expression value", podSel(exprSel("app", metav1.LabelSelectorOpIn, "-x-")), `spec.podSelector.matchExpressions[0].values[0]: Invalid value: "-x-"`},
		{"port 0", ingressPort(portNum(tcp, 0)), `spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`},
		{"port above 65535", ingressPort(portNum(tcp, 65536)), `spec.ingress[0].ports[0].port: Invalid value: 65536`},
		{"endPort without port", ingressPort(networkingv1.NetworkPolicyPort{Protocol: protoPtr(tcp), EndPort: end(90)}),
			"spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is not specified"},
		{"endPort with a named port", ingressPort(networkingv1.NetworkPolicyPort{Port: ptrIntStr(intstr.FromString("http")), EndPort: end(90)}),
			"spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric"},
		{"endPort below port", ingressPort(portRangeOf(tcp, 90, 80)), "spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`"},
		{"endPort above 65535", ingressPort(portRangeOf(tcp, 90, 70000)), `spec.ingress[0].ports[0].endPort: Invalid value: 70000`},
		{"invalid port name", ingressPort(portName(tcp, "HTTP_PORT")), `spec.ingress[0].ports[0].port: Invalid value: "HTTP_PORT"`},
		{"port name too long", ingressPort(portName(tcp, "a-very-long-port-name")), `spec.ingress[0].ports[0].port: Invalid value: "a-very-long-port-name"`},
		{"unsupported protocol", ingressPort(portNum("ICMP", 80)), `spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP"`},
		{"unsupported policyType", netpol("ai", "bad", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Both"}}),
			`spec.policyTypes[0]: Unsupported value: "Both"`},
		{"more than two policyTypes", netpol("ai", "bad", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress", "Ingress"}}),
			`spec.policyTypes: Invalid value`},
		{"missing namespace", netpol("", "bad", networkingv1.NetworkPolicySpec{}), `NetworkPolicy /bad: metadata.namespace: Required value`},
		{"invalid name", netpol("ai", "Bad_Name", networkingv1.NetworkPolicySpec{}), `NetworkPolicy ai/Bad_Name: metadata.name: Invalid value: "Bad_Name"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok := netpol("ai", "fine", networkingv1.NetworkPolicySpec{})
			e, err := New(pols(ok, tc.np), nil)
			if err == nil {
				t.Fatalf("New accepted an invalid policy (engine %v)", e != nil)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "NetworkPolicy ai/bad: ") && tc.np.Namespace == "ai" && tc.np.Name == "bad" {
				t.Fatalf("error %q does not start with the object", err)
			}
			var ipe *InvalidPolicyError
			if !errors.As(err, &ipe) || ipe.Name != tc.np.Name {
				t.Fatalf("error %v is not an *InvalidPolicyError for %s", err, tc.np.Name)
			}
		})
	}
}

func ptrIntStr(v intstr.IntOrString) *intstr.IntOrString { return &v }

func TestValidationReportsEveryInvalidPolicy(t *testing.T) {
	a := netpol("ai", "a", networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{to(peerCIDR("x"))}})
	b := netpol("ai", "b", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: ports(portNum(tcp, 0))}}})
	_, err := New(pols(a, netpol("ai", "ok", networkingv1.NetworkPolicySpec{}), b), nil)
	if err == nil {
		t.Fatal("New accepted invalid policies")
	}
	for _, want := range []string{`NetworkPolicy ai/a: spec.egress[0].to[0].ipBlock.cidr: Invalid value: "x"`, `NetworkPolicy ai/b: spec.ingress[0].ports[0].port`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "ai/ok") {
		t.Errorf("error %q names the valid policy", err)
	}
}

func TestNewRejectsDuplicatesAndNil(t *testing.T) {
	p := netpol("ai", "same", networkingv1.NetworkPolicySpec{})
	if _, err := New(pols(p, p.DeepCopy()), nil); err == nil || !strings.Contains(err.Error(), "NetworkPolicy ai/same: given twice") {
		t.Errorf("duplicate: got %v", err)
	}
	if _, err := New(pols(p, nil), nil); err == nil || !strings.Contains(err.Error(), "NetworkPolicy #1 is nil") {
		t.Errorf("nil: got %v", err)
	}
}

func TestValidationAcceptsValidEdgeCases(t *testing.T) {
	valid := []*networkingv1.NetworkPolicy{
		netpol("ai", "ports", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: ports(
			portNum(tcp, 1), portNum(udp, 65535), portRangeOf(sctp, 1, 65535), portRangeOf(tcp, 80, 80), portName(tcp, "http-2"), portProto(udp),
			networkingv1.NetworkPolicyPort{Port: ptrIntStr(intstr.FromInt32(80))})}}}),
		netpol("ai", "cidrs", networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{to(
			peerCIDR("0.0.0.0/0", "10.0.0.0/8"), peerCIDR("::/0", "fd00::/8"), peerCIDR("192.0.2.7/32"), peerCIDR("2001:db8::1/128"))}}),
		netpol("ai", "selectors", networkingv1.NetworkPolicySpec{PodSelector: *exprSel("app", metav1.LabelSelectorOpDoesNotExist),
			Ingress: []networkingv1.NetworkPolicyIngressRule{from(peerNSPods(any0, any0), peerNS(exprSel(namespaceNameLabel, metav1.LabelSelectorOpNotIn, "a", "b")))}}),
		netpol("ai", "types", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Egress", "Ingress"}}),
	}
	if _, err := New(valid, []*corev1.Namespace{namespace("ai")}); err != nil {
		t.Fatalf("New rejected valid policies: %v", err)
	}
}
