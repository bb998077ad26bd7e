package policy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type semCase struct {
	name            string
	pols            []*networkingv1.NetworkPolicy
	nss             []*corev1.Namespace // worldNamespaces when nil
	flow            Flow
	egress, ingress Decision
	explain         string // checked exactly when set
}

const (
	eNotIso = "egress allowed: no policy isolates the source"
	iNotIso = "ingress allowed: no policy isolates the destination"
)

// TestConformance runs every semantic point of networking.k8s.io/v1 and of
// design.md's implementation-defined choices, each as a named case. Every
// case runs on the scanning engine, on the indexed engine, and on defaulted
// copies of its policies: the three must agree with the expectation.
func TestConformance(t *testing.T) {
	cases := append(append(append(isolationCases(), selectorCases()...), portCases()...), addressCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nss := tc.nss
			if nss == nil {
				nss = worldNamespaces
			}
			defaulted := make([]*networkingv1.NetworkPolicy, len(tc.pols))
			for i, p := range tc.pols {
				defaulted[i] = p.DeepCopy()
				Default(defaulted[i])
			}
			for _, variant := range []struct {
				name     string
				pols     []*networkingv1.NetworkPolicy
				indexMin int
			}{{"scan", tc.pols, 1 << 30}, {"indexed", tc.pols, 0}, {"defaulted", defaulted, defaultIndexMin}} {
				e, err := newEngine(variant.pols, nss, variant.indexMin)
				if err != nil {
					t.Fatalf("%s: New: %v", variant.name, err)
				}
				f := tc.flow
				v := e.Evaluate(&f)
				if v.Egress.Decision != tc.egress || v.Ingress.Decision != tc.ingress {
					t.Errorf("%s: egress %s ingress %s, want egress %s ingress %s (%s)",
						variant.name, v.Egress.Decision, v.Ingress.Decision, tc.egress, tc.ingress, v.Explain())
				}
				if tc.explain != "" && v.Explain() != tc.explain {
					t.Errorf("%s: explanation\n got: %s\nwant: %s", variant.name, v.Explain(), tc.explain)
				}
			}
		})
	}
}

func isolationCases() []semCase {
	denyIngress := ingressTo("deny-ingress", any0)
	denyEgress := egressFrom("deny-egress", any0)
	return []semCase{
		{name: "no policy: both sides allowed, not isolated", flow: tcpFlow(pWeb, pDB, 5432), egress: Allow, ingress: Allow,
			explain: eNotIso + "; " + iNotIso},
		{name: "ingress deny-all isolates ingress only", pols: pols(denyIngress), flow: tcpFlow(pWeb, pDB, 5432), egress: Allow, ingress: Deny,
			explain: eNotIso + "; ingress denied: isolated by prod/deny-ingress, no rule allows"},
		{name: "ingress deny-all leaves egress of the selected pods open", pols: pols(denyIngress), flow: tcpFlow(pDB, pCli, 80), egress: Allow, ingress: Allow},
		{name: "egress deny-all isolates egress only", pols: pols(denyEgress), flow: tcpFlow(pWeb, pCli, 80), egress: Deny, ingress: Allow,
			explain: "egress denied: isolated by prod/deny-egress, no rule allows; " + iNotIso},
		{name: "policies are additive: an allow in one policy wins over another's isolation",
			pols: pols(denyIngress, ingressTo("allow-80", sel("app", "web"), fromOn(ports(portNum(corev1.ProtocolTCP, 80))))),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow,
			explain: eNotIso + "; ingress allowed by prod/allow-80 rule 0 any peer port 0"},
		{name: "policies are additive: rules of all isolating policies are tried",
			pols: pols(ingressTo("a-from-db", sel("app", "web"), from(peerPods(sel("app", "db")))),
				ingressTo("b-from-red", sel("app", "web"), from(peerNS(sel("team", "red"))))),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow,
			explain: eNotIso + "; ingress allowed by prod/b-from-red rule 0 peer 0 any port"},
		{name: "denied when no isolating policy allows, all isolating policies listed",
			pols: pols(ingressTo("a-from-db", sel("app", "web"), from(peerPods(sel("app", "db")))), denyIngress),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Deny,
			explain: eNotIso + "; ingress denied: isolated by prod/a-from-db, prod/deny-ingress, no rule allows"},
		{name: "egress of the source and ingress of the destination are both required",
			pols: pols(egressFrom("web-out", sel("app", "web"), toOn(ports(portNum(corev1.ProtocolTCP, 5432)))), denyIngress),
			flow: tcpFlow(pWeb, pDB, 5432), egress: Allow, ingress: Deny},
		{name: "absent ingress list with policyType Ingress denies all ingress",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeIngress})),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "empty ingress list denies like an absent one",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeIngress, Ingress: []networkingv1.NetworkPolicyIngressRule{}})),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "one empty ingress rule allows all ingress, external included",
			pols: pols(ingressTo("p", any0, networkingv1.NetworkPolicyIngressRule{})),
			flow: tcpFlow(xPublic, pWeb, 80), egress: None, ingress: Allow,
			explain: "egress none: source is external; ingress allowed by prod/p rule 0 any peer any port"},
		{name: "empty from list matches every source",
			pols: pols(ingressTo("p", any0, networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{}, Ports: ports(portNum(corev1.ProtocolTCP, 80))})),
			flow: tcpFlow(xPublic, pWeb, 80), egress: None, ingress: Allow},
		{name: "empty ports list matches every port and protocol",
			pols: pols(ingressTo("p", any0, networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{}, From: []networkingv1.NetworkPolicyPeer{peerPods(sel("app", "db"))}})),
			flow: flow(pDB, pWeb, corev1.ProtocolUDP, 53), egress: Allow, ingress: Allow,
			explain: eNotIso + "; ingress allowed by prod/p rule 0 peer 0 any port"},
		{name: "empty egress list with policyType Egress denies all egress",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeEgress, Egress: []networkingv1.NetworkPolicyEgressRule{}})),
			flow: tcpFlow(pWeb, xPublic, 443), egress: Deny, ingress: None},
		{name: "one empty egress rule allows all egress",
			pols: pols(egressFrom("p", any0, networkingv1.NetworkPolicyEgressRule{})),
			flow: tcpFlow(pWeb, xPublic, 443), egress: Allow, ingress: None,
			explain: "egress allowed by prod/p rule 0 any peer any port; ingress none: destination is external"},
		{name: "policyTypes Ingress only: egress rules do not isolate egress",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeIngress,
				Egress: []networkingv1.NetworkPolicyEgressRule{to(peerCIDR("10.0.0.0/8"))}})),
			flow: tcpFlow(pWeb, xPublic, 443), egress: Allow, ingress: None},
		{name: "policyTypes both with no rules isolates both directions",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeBoth})),
			flow: tcpFlow(pWeb, pDB, 5432), egress: Deny, ingress: Deny},
		{name: "defaulting: no policyTypes and egress rules isolates egress too",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: *sel("app", "web"),
				Egress: []networkingv1.NetworkPolicyEgressRule{to(peerCIDR("10.0.0.0/8"))}})),
			flow: tcpFlow(pWeb, xPublic, 443), egress: Deny, ingress: None},
		{name: "defaulting: no policyTypes isolates ingress",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: *sel("app", "web"),
				Egress: []networkingv1.NetworkPolicyEgressRule{to(peerCIDR("10.0.0.0/8"))}})),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "defaulting: no policyTypes and no egress rules leaves egress open",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: *sel("app", "web")})),
			flow: tcpFlow(pWeb, xPublic, 443), egress: Allow, ingress: None},
		{name: "defaulting: no policyTypes and an empty egress list leaves egress open",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: *sel("app", "web"), Egress: []networkingv1.NetworkPolicyEgressRule{}})),
			flow: tcpFlow(pWeb, xPublic, 443), egress: Allow, ingress: None},
		{name: "defaulting: a port without protocol is TCP (TCP allowed)",
			pols: pols(egressFrom("p", any0, toOn([]networkingv1.NetworkPolicyPort{{Port: portNum("", 53).Port}}))),
			flow: tcpFlow(pWeb, xPublic, 53), egress: Allow, ingress: None},
		{name: "defaulting: a port without protocol is TCP (UDP denied)",
			pols: pols(egressFrom("p", any0, toOn([]networkingv1.NetworkPolicyPort{{Port: portNum("", 53).Port}}))),
			flow: flow(pWeb, xPublic, corev1.ProtocolUDP, 53), egress: Deny, ingress: None},
		{name: "a pod talking to itself is allowed under deny-all",
			pols: pols(netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeBoth})),
			flow: tcpFlow(pWeb, pWeb, 80), egress: Allow, ingress: Allow,
			explain: "egress allowed: a pod may always talk to itself; ingress allowed: a pod may always talk to itself"},
		{name: "a node reaching a pod on the same node is allowed under deny-all",
			pols: pols(denyIngress), flow: tcpFlow(nNode1, pWeb, 80), egress: None, ingress: Allow,
			explain: "egress none: source is a node; ingress allowed: traffic from the pod's own node"},
		{name: "a node reaching a pod on another node is judged by policy",
			pols: pols(denyIngress), flow: tcpFlow(nNode2, pWeb, 80), egress: None, ingress: Deny},
		{name: "a hostNetwork pod has no egress policy of its own",
			pols: pols(denyEgress), flow: tcpFlow(nHostNet, xPublic, 443), egress: None, ingress: None,
			explain: "egress none: source is a node; ingress none: destination is external"},
		{name: "a nil peer is external", pols: pols(denyIngress), flow: Flow{Dst: pWeb, Protocol: corev1.ProtocolTCP, Port: 80},
			egress: None, ingress: Deny},
	}
}

func selectorCases() []semCase {
	fromSel := func(s *metav1.LabelSelector) []*networkingv1.NetworkPolicy {
		return pols(ingressTo("p", sel("app", "web"), from(peerPods(s))))
	}
	return []semCase{
		{name: "empty podSelector selects every pod of its namespace", pols: pols(ingressTo("p", any0)),
			flow: tcpFlow(pCli, pV6, 80), egress: Allow, ingress: Deny},
		{name: "a podSelector that does not match leaves the pod unisolated", pols: pols(ingressTo("p", sel("app", "db"))),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow, explain: eNotIso + "; " + iNotIso},
		{name: "a policy does not isolate pods of another namespace",
			pols: pols(netpol("dev", "p", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeBoth})),
			flow: tcpFlow(pWeb, pDB, 5432), egress: Allow, ingress: Allow},
		{name: "peer podSelector alone selects in the policy's namespace", pols: fromSel(sel("tier", "back")),
			flow: tcpFlow(pDB, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "peer podSelector alone does not select other namespaces", pols: fromSel(sel("app", "web")),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "peer empty podSelector alone selects every pod of the policy's namespace", pols: fromSel(any0),
			flow: tcpFlow(pV6, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "peer empty podSelector alone does not select other namespaces", pols: fromSel(any0),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "peer namespaceSelector alone selects every pod of matching namespaces",
			pols: pols(ingressTo("p", any0, from(peerNS(sel("team", "red"))))), flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "peer namespaceSelector alone rejects other namespaces",
			pols: pols(ingressTo("p", any0, from(peerNS(sel("team", "red"))))), flow: tcpFlow(pDB, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "peer empty namespaceSelector selects pods of every namespace, unknown ones too",
			pols: pols(ingressTo("p", any0, from(peerNS(any0)))), flow: tcpFlow(pGhost, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "peer empty namespaceSelector does not select external addresses",
			pols: pols(ingressTo("p", any0, from(peerNS(any0)))), flow: tcpFlow(xPublic, pWeb, 80), egress: None, ingress: Deny},
		{name: "namespaceSelector and podSelector in one peer: both match",
			pols: pols(ingressTo("p", any0, from(peerNSPods(sel("team", "red"), sel("app", "web"))))), flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "namespaceSelector and podSelector in one peer: namespace matches, pod does not",
			pols: pols(ingressTo("p", any0, from(peerNSPods(sel("team", "red"), sel("app", "db"))))), flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "namespaceSelector and podSelector in one peer: pod matches, namespace does not",
			pols: pols(ingressTo("p", any0, from(peerNSPods(sel("team", "red"), sel("app", "db"))))), flow: tcpFlow(pDB, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "empty namespaceSelector with a podSelector: matching pods of every namespace",
			pols: pols(ingressTo("p", any0, from(peerNSPods(any0, sel("app", "web"))))), flow: tcpFlow(pGhost, pDB, 80), egress: Allow, ingress: Allow},
		{name: "separate peers are ORed: first peer", pols: pols(ingressTo("p", any0, from(peerNS(sel("team", "red")), peerPods(sel("app", "db"))))),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow, explain: eNotIso + "; ingress allowed by prod/p rule 0 peer 0 any port"},
		{name: "separate peers are ORed: second peer", pols: pols(ingressTo("p", any0, from(peerNS(sel("team", "red")), peerPods(sel("app", "db"))))),
			flow: tcpFlow(pDB, pWeb, 80), egress: Allow, ingress: Allow, explain: eNotIso + "; ingress allowed by prod/p rule 0 peer 1 any port"},
		{name: "separate peers are ORed: neither", pols: pols(ingressTo("p", any0, from(peerNS(sel("team", "red")), peerPods(sel("app", "db"))))),
			flow: tcpFlow(pGhost, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "matchExpressions In: value listed", pols: fromSel(exprSel("tier", metav1.LabelSelectorOpIn, "back", "mid")),
			flow: tcpFlow(pDB, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "matchExpressions In: key absent", pols: fromSel(exprSel("tier", metav1.LabelSelectorOpIn, "back", "mid")),
			flow: tcpFlow(pV6, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "matchExpressions NotIn: value listed", pols: fromSel(exprSel("tier", metav1.LabelSelectorOpNotIn, "back")),
			flow: tcpFlow(pDB, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "matchExpressions NotIn: key absent matches", pols: fromSel(exprSel("tier", metav1.LabelSelectorOpNotIn, "back")),
			flow: tcpFlow(pV6, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "matchExpressions Exists: key present", pols: fromSel(exprSel("tier", metav1.LabelSelectorOpExists)),
			flow: tcpFlow(pDB, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "matchExpressions Exists: key absent", pols: fromSel(exprSel("tier", metav1.LabelSelectorOpExists)),
			flow: tcpFlow(pV6, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "matchExpressions DoesNotExist: key absent", pols: fromSel(exprSel("tier", metav1.LabelSelectorOpDoesNotExist)),
			flow: tcpFlow(pV6, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "matchExpressions DoesNotExist: key present", pols: fromSel(exprSel("tier", metav1.LabelSelectorOpDoesNotExist)),
			flow: tcpFlow(pDB, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "matchLabels and matchExpressions are ANDed", pols: fromSel(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"back"}}}}),
			flow: tcpFlow(pDB, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "policy podSelector with NotIn isolates pods without the value", pols: pols(ingressTo("p", exprSel("app", metav1.LabelSelectorOpNotIn, "db"))),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "policy podSelector with NotIn leaves pods with the value open", pols: pols(ingressTo("p", exprSel("app", metav1.LabelSelectorOpNotIn, "db"))),
			flow: tcpFlow(pCli, pDB, 80), egress: Allow, ingress: Allow},
		{name: "namespaceSelector on kubernetes.io/metadata.name",
			pols: pols(ingressTo("p", any0, from(peerNS(sel(namespaceNameLabel, "dev"))))), flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "a namespace missing from the list still has its name label",
			pols: pols(ingressTo("p", any0, from(peerNS(exprSel(namespaceNameLabel, metav1.LabelSelectorOpIn, "ghost"))))),
			flow: tcpFlow(pGhost, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "a namespace missing from the list has no other label (Exists)",
			pols: pols(ingressTo("p", any0, from(peerNS(exprSel("team", metav1.LabelSelectorOpExists))))),
			flow: tcpFlow(pGhost, pWeb, 80), egress: Allow, ingress: Deny},
		{name: "a namespace missing from the list has no other label (NotIn)",
			pols: pols(ingressTo("p", any0, from(peerNS(exprSel("team", metav1.LabelSelectorOpNotIn, "blue"))))),
			flow: tcpFlow(pGhost, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "a listed namespace without the name label is still matched by name",
			nss:  []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "dev", Labels: map[string]string{"team": "red"}}}},
			pols: pols(ingressTo("p", any0, from(peerNS(sel(namespaceNameLabel, "dev"))))), flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "a hostNetwork pod is not selected by a podSelector",
			pols: pols(ingressTo("p", any0, from(peerPods(any0)))), flow: tcpFlow(nHostNet, pWeb, 80), egress: None, ingress: Deny},
		{name: "a hostNetwork pod is not selected by a namespaceSelector",
			pols: pols(ingressTo("p", any0, from(peerNS(any0)))), flow: tcpFlow(nHostNet, pWeb, 80), egress: None, ingress: Deny},
		{name: "a hostNetwork pod is matched by an ipBlock of its node address",
			pols: pols(ingressTo("p", any0, from(peerCIDR("192.168.0.2/32")))), flow: tcpFlow(nHostNet, pWeb, 80), egress: None, ingress: Allow},
	}
}
