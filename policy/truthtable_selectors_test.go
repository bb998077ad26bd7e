package policy

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ttSelectorCases() []ttCase {
	podA := sel("pod", "a")
	return []ttCase{
		{name: "x/a accepts every pod of its namespace (empty podSelector peer)",
			pols: pols(ttIngress("x", "p", podA, from(peerPods(any0)))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  .   X   X   X   X   X   X   X   X
y/b  .   X   X   X   X   X   X   X   X
y/c  .   X   X   X   X   X   X   X   X
z/a  .   X   X   X   X   X   X   X   X
z/b  .   X   X   X   X   X   X   X   X
z/c  .   X   X   X   X   X   X   X   X`)}},
		{name: "x/a accepts pod b of its namespace only (podSelector peer)",
			pols: pols(ttIngress("x", "p", podA, from(peerPods(sel("pod", "b"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  .   X   X   X   X   X   X   X   X
y/b  .   X   X   X   X   X   X   X   X
y/c  .   X   X   X   X   X   X   X   X
z/a  .   X   X   X   X   X   X   X   X
z/b  .   X   X   X   X   X   X   X   X
z/c  .   X   X   X   X   X   X   X   X`)}},
		{name: "x/a accepts namespace y (namespaceSelector peer)",
			pols: pols(ttIngress("x", "p", podA, from(peerNS(sel("ns", "y"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  .   X   X   X   X   X   X   X   X
z/b  .   X   X   X   X   X   X   X   X
z/c  .   X   X   X   X   X   X   X   X`)}},
		{name: "x accepts namespaces other than x (NotIn)",
			pols: pols(ttIngress("x", "p", any0, from(peerNS(exprSel("ns", metav1.LabelSelectorOpNotIn, "x"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "x/a accepts pod b of namespace y (AND in one peer)",
			pols: pols(ttIngress("x", "p", podA, from(peerNSPods(sel("ns", "y"), sel("pod", "b"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  .   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  .   X   X   X   X   X   X   X   X
z/a  .   X   X   X   X   X   X   X   X
z/b  .   X   X   X   X   X   X   X   X
z/c  .   X   X   X   X   X   X   X   X`)}},
		{name: "x/a accepts namespace y or pod b of x (OR of two peers)",
			pols: pols(ttIngress("x", "p", podA, from(peerNS(sel("ns", "y")), peerPods(sel("pod", "b"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  .   X   X   X   X   X   X   X   X
z/b  .   X   X   X   X   X   X   X   X
z/c  .   X   X   X   X   X   X   X   X`)}},
		{name: "x/a accepts pod b of every namespace (empty namespaceSelector AND podSelector)",
			pols: pols(ttIngress("x", "p", podA, from(peerNSPods(any0, sel("pod", "b"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  .   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  .   X   X   X   X   X   X   X   X
z/a  .   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  .   X   X   X   X   X   X   X   X`)}},
		{name: "x accepts namespaces that have an env label (Exists)",
			pols: pols(ttIngress("x", "p", any0, from(peerNS(exprSel("env", metav1.LabelSelectorOpExists))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`)}},
		{name: "x accepts namespaces without an env label (DoesNotExist)",
			pols: pols(ttIngress("x", "p", any0, from(peerNS(exprSel("env", metav1.LabelSelectorOpDoesNotExist))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "x/a and x/b (In) accept servers of env prod or dev (In)",
			pols: pols(ttIngress("x", "p", exprSel("pod", metav1.LabelSelectorOpIn, "a", "b"),
				from(peerNSPods(exprSel("env", metav1.LabelSelectorOpIn, "prod", "dev"), sel("role", "server"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  .   .   X   X   X   X   X   X   X
z/a  .   .   X   X   X   X   X   X   X
z/b  .   .   X   X   X   X   X   X   X
z/c  .   .   X   X   X   X   X   X   X`)}},
		{name: "x pods other than c (NotIn) accept pods of x with a role (Exists)",
			pols: pols(ttIngress("x", "p", exprSel("pod", metav1.LabelSelectorOpNotIn, "c"), from(peerPods(exprSel("role", metav1.LabelSelectorOpExists))))),
			probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   X   X   X   X   X   X   X
y/b  .   .   X   X   X   X   X   X   X
y/c  .   .   X   X   X   X   X   X   X
z/a  .   .   X   X   X   X   X   X   X
z/b  .   .   X   X   X   X   X   X   X
z/c  .   .   X   X   X   X   X   X   X`)}},
		{name: "y pods without a role (DoesNotExist) accept role-less pods of every namespace",
			pols: pols(ttIngress("y", "p", exprSel("role", metav1.LabelSelectorOpDoesNotExist),
				from(peerNSPods(any0, exprSel("role", metav1.LabelSelectorOpDoesNotExist))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   .   X   X   X
x/b  X   X   X   X   X   .   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   .   X   X   X
y/b  X   X   X   X   X   .   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   .   X   X   X
z/b  X   X   X   X   X   .   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "two policies on x/a add up: namespace y, and pod c of z",
			pols: pols(ttIngress("x", "from-y", podA, from(peerNS(sel("ns", "y")))),
				ttIngress("x", "from-zc", podA, from(peerNSPods(sel("ns", "z"), sel("pod", "c"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  .   X   X   X   X   X   X   X   X
z/b  .   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "x accepts pods a and c (In) of namespaces y and z (In)",
			pols: pols(ttIngress("x", "p", any0, from(peerNSPods(exprSel("ns", metav1.LabelSelectorOpIn, "y", "z"),
				exprSel("pod", metav1.LabelSelectorOpIn, "a", "c"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "x/b accepts namespace y by its kubernetes.io/metadata.name label",
			pols: pols(ttIngress("x", "p", sel("pod", "b"), from(peerNS(sel(namespaceNameLabel, "y"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   .   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   .   X   X   X   X   X   X   X
z/b  X   .   X   X   X   X   X   X   X
z/c  X   .   X   X   X   X   X   X   X`)}},
		{name: "policy with both directions: z/a talks only to clients and accepts only clients",
			pols: pols(netpol("z", "clients", networkingv1.NetworkPolicySpec{PodSelector: *podA, PolicyTypes: typeBoth,
				Ingress: []networkingv1.NetworkPolicyIngressRule{from(peerNSPods(any0, sel("role", "client")))},
				Egress:  []networkingv1.NetworkPolicyEgressRule{to(peerNSPods(any0, sel("role", "client")))}})), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   .   X   X
x/c  X   X   X   X   X   X   .   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   .   X   X
y/c  X   X   X   X   X   X   .   X   X
z/a  X   .   .   X   .   .   X   .   .
z/b  X   X   X   X   X   X   .   X   X
z/c  X   X   X   X   X   X   .   X   X`)}},
	}
}
