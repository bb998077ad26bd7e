package policy

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ttIngress(ns, name string, podSel *metav1.LabelSelector, rules ...networkingv1.NetworkPolicyIngressRule) *networkingv1.NetworkPolicy {
	return netpol(ns, name, networkingv1.NetworkPolicySpec{PodSelector: *podSel, PolicyTypes: typeIngress, Ingress: rules})
}

func ttEgress(ns, name string, podSel *metav1.LabelSelector, rules ...networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
	return netpol(ns, name, networkingv1.NetworkPolicySpec{PodSelector: *podSel, PolicyTypes: typeEgress, Egress: rules})
}

func tcp80(want string) ttProbe { return ttProbe{tcp, 80, want} }

func ttIsolationCases() []ttCase {
	return []ttCase{
		{name: "no policies", probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "deny-all ingress in x", pols: pols(ttIngress("x", "deny-ingress", any0)), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`)}},
		{name: "deny-all egress in x", pols: pols(ttEgress("x", "deny-egress", any0)), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  .   X   .   .   .   .   .   .   .
x/c  .   .   X   .   .   .   .   .   .
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "deny-all both directions in x",
			pols: pols(netpol("x", "deny-all", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeBoth})),
			probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  .   X   .   .   .   .   .   .   .
x/c  .   .   X   .   .   .   .   .   .
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`)}},
		{name: "deny-all ingress in x plus allow-all ingress in x",
			pols: pols(ttIngress("x", "deny-ingress", any0), ttIngress("x", "allow-all", any0, networkingv1.NetworkPolicyIngressRule{})),
			probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "deny-all egress in x plus allow-all egress for x/a",
			pols: pols(ttEgress("x", "deny-egress", any0), ttEgress("x", "a-out", sel("pod", "a"), networkingv1.NetworkPolicyEgressRule{})),
			probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   X   .   .   .   .   .   .   .
x/c  .   .   X   .   .   .   .   .   .
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "egress from x only to namespace y",
			pols: pols(ttEgress("x", "to-y", any0, to(peerNS(sel("ns", "y"))))),
			probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   .   .   .
x/b  .   X   .   X   X   X   .   .   .
x/c  .   .   X   X   X   X   .   .   .
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "deny-all egress in x and y accepts only x: x's egress blocks it",
			pols: pols(ttEgress("x", "deny-egress", any0), ttIngress("y", "from-x", any0, from(peerNS(sel("ns", "x"))))),
			probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  .   X   .   .   .   .   .   .   .
x/c  .   .   X   .   .   .   .   .   .
y/a  X   X   X   X   .   .   X   X   X
y/b  X   X   X   .   X   .   X   X   X
y/c  X   X   X   .   .   X   X   X   X
z/a  X   X   X   .   .   .   X   X   X
z/b  X   X   X   .   .   .   X   X   X
z/c  X   X   X   .   .   .   X   X   X`)}},
		{name: "x may send only to y and y accepts only x: both sides agree",
			pols: pols(ttEgress("x", "to-y", any0, to(peerNS(sel("ns", "y")))), ttIngress("y", "from-x", any0, from(peerNS(sel("ns", "x"))))),
			probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   .   .   .
x/b  .   X   .   X   X   X   .   .   .
x/c  .   .   X   X   X   X   .   .   .
y/a  X   X   X   X   .   .   X   X   X
y/b  X   X   X   .   X   .   X   X   X
y/c  X   X   X   .   .   X   X   X   X
z/a  X   X   X   .   .   .   X   X   X
z/b  X   X   X   .   .   .   X   X   X
z/c  X   X   X   .   .   .   X   X   X`)}},
		{name: "x and y accept only their own namespace",
			pols: pols(ttIngress("x", "same-ns", any0, from(peerPods(any0))), ttIngress("y", "same-ns", any0, from(peerPods(any0)))),
			probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   .   .   .   X   X   X
x/b  X   X   X   .   .   .   X   X   X
x/c  X   X   X   .   .   .   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   .   .   .   X   X   X
z/b  .   .   .   .   .   .   X   X   X
z/c  .   .   .   .   .   .   X   X   X`)}},
	}
}
