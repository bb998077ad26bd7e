package demo

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AnnotationDemo marks the policies the demo adds to the article's.
const AnnotationDemo = "flow-auditor.io/demo"

// ArticlePolicies are the article's policies, as design.md lists them.
var ArticlePolicies = []string{"default-deny-all", "allow-gateway-to-agents", "allow-triage-to-specialists", "allow-agent-egress"}

// Policies returns the NetworkPolicies of the demo cluster: the article's
// four, exactly, and three that complete design.md's who-may-reach-whom
// (triage -> specialists and tool-service; specialists -> tool-service;
// tool-service -> postgresql). The article's egress policy lets agents
// reach only DNS, postgresql and TCP 443: without the three, every call
// between the agents would be denied too.
func Policies() []*networkingv1.NetworkPolicy {
	sel := func(kv ...string) metav1.LabelSelector {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return metav1.LabelSelector{MatchLabels: m}
	}
	pods := func(kv ...string) *metav1.LabelSelector { s := sel(kv...); return &s }
	dns := networkingv1.NetworkPolicyEgressRule{
		Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolUDP, 53), port(corev1.ProtocolTCP, 53)},
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: pods(corev1.LabelMetadataName, NSSystem),
			PodSelector:       pods("k8s-app", "kube-dns"),
		}},
	}
	postgres := networkingv1.NetworkPolicyEgressRule{
		Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 5432)},
		To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: pods("name", NSDatabase), PodSelector: pods("app", "postgresql")}},
	}
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	egress := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	const completes = "completes the article's policies with design.md's who-may-reach-whom"
	return []*networkingv1.NetworkPolicy{
		np("default-deny-all", nil, networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		}),
		np("allow-gateway-to-agents", nil, networkingv1.NetworkPolicySpec{
			PodSelector: sel("app", "ai-agent"),
			PolicyTypes: ingress,
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: pods("name", NSGateway), PodSelector: pods("app", "gateway")}},
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 8000)},
			}},
		}),
		np("allow-triage-to-specialists", nil, networkingv1.NetworkPolicySpec{
			PodSelector: sel("role", "specialist-agent"),
			PolicyTypes: ingress,
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: pods("role", "triage-agent")}},
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 8000)},
			}},
		}),
		np("allow-agent-egress", nil, networkingv1.NetworkPolicySpec{
			PodSelector: sel("app", "ai-agent"),
			PolicyTypes: egress,
			Egress: []networkingv1.NetworkPolicyEgressRule{dns, postgres, {
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 443)},
				To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{
					CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"},
				}}},
			}},
		}),
		np("allow-triage-to-workers", map[string]string{AnnotationDemo: completes}, networkingv1.NetworkPolicySpec{
			PodSelector: sel("role", "triage-agent"),
			PolicyTypes: egress,
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: pods("role", "specialist-agent")}},
					Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 8000)}},
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: pods("app", "tool-service")}},
					Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 8080)}},
			},
		}),
		np("allow-specialists-to-tools", map[string]string{AnnotationDemo: completes}, networkingv1.NetworkPolicySpec{
			PodSelector: sel("role", "specialist-agent"),
			PolicyTypes: egress,
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: pods("app", "tool-service")}},
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 8080)},
			}},
		}),
		np("allow-tool-service", map[string]string{AnnotationDemo: completes}, networkingv1.NetworkPolicySpec{
			PodSelector: sel("app", "tool-service"),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: pods("app", "ai-agent")}},
				Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, 8080)},
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{dns, postgres},
		}),
	}
}

func np(name string, annotations map[string]string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: NSAgents, Annotations: annotations, UID: uid("NetworkPolicy", name)},
		Spec:       spec,
	}
}

func port(proto corev1.Protocol, p int32) networkingv1.NetworkPolicyPort {
	v := intstr.FromInt32(p)
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &v}
}
