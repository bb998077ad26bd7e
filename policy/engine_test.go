package policy

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDefault(t *testing.T) {
	cases := []struct {
		name      string
		spec      networkingv1.NetworkPolicySpec
		wantTypes []networkingv1.PolicyType
	}{
		{"no rules: Ingress", networkingv1.NetworkPolicySpec{}, typeIngress},
		{"ingress rules only: Ingress", networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}, typeIngress},
		{"egress rules: Ingress and Egress", networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{{}}}, typeBoth},
		{"empty egress list: Ingress", networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{}}, typeIngress},
		{"explicit Egress kept", networkingv1.NetworkPolicySpec{PolicyTypes: typeEgress}, typeEgress},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			np := netpol("ns", "p", tc.spec)
			Default(np)
			if !reflect.DeepEqual(np.Spec.PolicyTypes, tc.wantTypes) {
				t.Errorf("policyTypes %v, want %v", np.Spec.PolicyTypes, tc.wantTypes)
			}
		})
	}
	t.Run("protocol TCP on every port without one, others kept", func(t *testing.T) {
		bare := networkingv1.NetworkPolicyPort{Port: portNum("", 80).Port}
		np := netpol("ns", "p", networkingv1.NetworkPolicySpec{
			Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: ports(bare, portNum(udp, 53))}},
			Egress:  []networkingv1.NetworkPolicyEgressRule{{Ports: ports(bare)}},
		})
		np.Spec.Ingress[0].Ports[0].Protocol = nil
		np.Spec.Egress[0].Ports[0].Protocol = nil
		Default(np)
		got := []corev1.Protocol{*np.Spec.Ingress[0].Ports[0].Protocol, *np.Spec.Ingress[0].Ports[1].Protocol, *np.Spec.Egress[0].Ports[0].Protocol}
		if !reflect.DeepEqual(got, []corev1.Protocol{tcp, udp, tcp}) {
			t.Errorf("protocols %v", got)
		}
	})
	t.Run("nil is a no-op", func(t *testing.T) { Default(nil) })
}

func TestNewDoesNotModifyPolicies(t *testing.T) {
	np := netpol("prod", "p", networkingv1.NetworkPolicySpec{PodSelector: *sel("app", "web"),
		Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: portNum("", 80).Port}}}}})
	before := np.DeepCopy()
	mustEngine(t, pols(np), nil)
	if !reflect.DeepEqual(np, before) {
		t.Errorf("New modified its input:\n%#v\n%#v", np.Spec, before.Spec)
	}
}

func TestAllowedNeedsBothSides(t *testing.T) {
	cases := []struct {
		egress, ingress Decision
		want            bool
	}{
		{Allow, Allow, true}, {Allow, Deny, false}, {Deny, Allow, false}, {Deny, Deny, false},
		{None, Allow, true}, {Allow, None, true}, {None, None, true}, {None, Deny, false}, {Deny, None, false},
	}
	for _, tc := range cases {
		v := Verdict{Egress: Side{Decision: tc.egress}, Ingress: Side{Decision: tc.ingress}}
		if v.Allowed() != tc.want {
			t.Errorf("egress %s ingress %s: Allowed %v", tc.egress, tc.ingress, v.Allowed())
		}
	}
	for d, s := range map[Decision]string{None: "none", Allow: "allow", Deny: "deny"} {
		if b, _ := d.MarshalText(); d.String() != s || string(b) != s {
			t.Errorf("Decision %d prints %q / %q, want %q", d, d.String(), b, s)
		}
	}
}

// TestManyIsolatingPolicies covers the selector index and a pod isolated by
// more policies than a Side keeps by name: the count stays exact, names come
// in order, and the allowing rule reported is the first in name order.
func TestManyIsolatingPolicies(t *testing.T) {
	var ps []*networkingv1.NetworkPolicy
	for i := 19; i >= 0; i-- {
		sel := sel("app", "web")
		switch i % 4 {
		case 1:
			sel = any0
		case 2:
			sel = exprSel("tier", metav1.LabelSelectorOpExists)
		case 3:
			sel = exprSel("app", metav1.LabelSelectorOpIn, "web", "db")
		}
		rule := fromOn(ports(portNum(tcp, 1000+int32(i))))
		if i >= 7 {
			rule = fromOn(ports(portNum(tcp, 80)))
		}
		ps = append(ps, ingressTo(fmt.Sprintf("p%02d", i), sel, rule))
	}
	// Policies that must not be candidates for web.
	ps = append(ps, ingressTo("other-app", sel("app", "db")), ingressTo("other-tier", exprSel("tier", metav1.LabelSelectorOpDoesNotExist)))
	for _, indexMin := range []int{0, defaultIndexMin, 1 << 30} {
		e, err := newEngine(ps, worldNamespaces, indexMin)
		if err != nil {
			t.Fatal(err)
		}
		f := tcpFlow(pCli, pWeb, 80)
		v := e.Evaluate(&f)
		if v.Ingress.NumIsolating != 20 || v.Ingress.Decision != Allow || v.Ingress.By.Policy != "prod/p07" {
			t.Errorf("indexMin %d: %d isolating, %s by %s", indexMin, v.Ingress.NumIsolating, v.Ingress.Decision, v.Ingress.By.Policy)
		}
		f = tcpFlow(pCli, pWeb, 81)
		v = e.Evaluate(&f)
		names := v.Ingress.Isolating()
		if len(names) != MaxIsolating || names[0] != "prod/p00" || names[MaxIsolating-1] != "prod/p15" {
			t.Errorf("indexMin %d: isolating %v", indexMin, names)
		}
		if want := "and 4 more, no rule allows"; !strings.HasSuffix(v.Explain(), want) || v.Ingress.Decision != Deny {
			t.Errorf("indexMin %d: %s", indexMin, v.Explain())
		}
		// A pod selected by fewer policies goes through the index path.
		f = tcpFlow(pCli, pDB, 1003)
		v = e.Evaluate(&f)
		if v.Ingress.NumIsolating != 16 || v.Ingress.By.Policy != "prod/p03" {
			t.Errorf("indexMin %d: db: %d isolating, %s", indexMin, v.Ingress.NumIsolating, v.Explain())
		}
	}
}

// TestEvaluateDoesNotAllocate is a correctness property of the hot path.
func TestEvaluateDoesNotAllocate(t *testing.T) {
	ps := pols(
		ingressTo("deny", any0),
		ingressTo("web", sel("app", "web"), fromOn(ports(portName(tcp, "http"), portRangeOf(tcp, 8000, 8100)),
			peerNSPods(sel("team", "red"), exprSel("app", metav1.LabelSelectorOpIn, "web", "api")), peerCIDR("10.0.0.0/8", "10.9.0.0/16"))),
		egressFrom("out", any0, toOn(ports(portNum(udp, 53))), to(peerCIDR("0.0.0.0/0", "10.0.0.0/8"))),
	)
	for i := range 12 { // enough for the selector index
		ps = append(ps, ingressTo(fmt.Sprintf("x%d", i), sel("app", fmt.Sprint("a", i)), from(peerNS(sel("team", "red")))))
	}
	flows := []Flow{tcpFlow(pCli, pWeb, 80), tcpFlow(pWeb, pDB, 5432), tcpFlow(xPublic, pWeb, 443),
		tcpFlow(pWeb, xPublic, 443), flow(pGhost, pWeb, udp, 53), tcpFlow(nNode1, pWeb, 80), tcpFlow(pWeb, pWeb, 80),
		{Dst: pWeb, Protocol: tcp, Port: 80}, flow(pCli, pWeb, ProtocolICMP, 0)}
	for _, indexMin := range []int{0, defaultIndexMin} {
		e, err := newEngine(ps, worldNamespaces, indexMin)
		if err != nil {
			t.Fatal(err)
		}
		var sink int
		allocs := testing.AllocsPerRun(200, func() {
			for i := range flows {
				if e.Evaluate(&flows[i]).Allowed() {
					sink++
				}
			}
		})
		if allocs != 0 {
			t.Errorf("indexMin %d: Evaluate allocates %.1f times per %d flows", indexMin, allocs, len(flows))
		}
		if sink == 0 {
			t.Error("no flow allowed: the workload is not representative")
		}
	}
}

func TestSelfTraffic(t *testing.T) {
	e := mustEngine(t, pols(netpol("prod", "deny", networkingv1.NetworkPolicySpec{PodSelector: selectAll, PolicyTypes: typeBoth})), worldNamespaces)
	anon := func() *Peer { return &Peer{Kind: Pod, Namespace: "prod", IP: pWeb.IP.Next(), Labels: pWeb.Labels} }
	a, b := anon(), anon()
	b.IP = b.IP.Next()
	cases := []struct {
		name     string
		src, dst *Peer
		reason   Reason
	}{
		{"same pod object", pWeb, pWeb, ReasonSelf},
		{"same namespace and name, other object", pWeb, podPeer("prod", "web", "10.0.1.1", "n1", pWeb.Labels), ReasonSelf},
		{"pods known by address only, same address", a, anon(), ReasonSelf},
		{"pods known by address only, other address", a, b, ReasonNoRule},
		{"same name in another namespace", pWeb, podPeer("dev", "web", "10.0.1.1", "n1", pWeb.Labels), ReasonNotIsolated},
		{"a node with the pod's address is not the pod", &Peer{Kind: Node, IP: pWeb.IP, NodeName: "n9"}, pWeb, ReasonNoRule},
	}
	for _, tc := range cases {
		f := tcpFlow(tc.src, tc.dst, 80)
		if v := e.Evaluate(&f); v.Ingress.Reason != tc.reason {
			t.Errorf("%s: ingress reason %s, want %s (%s)", tc.name, v.Ingress.Reason, tc.reason, v.Explain())
		}
	}
}

func TestReasonStrings(t *testing.T) {
	want := map[Reason]string{ReasonNotPod: "not-pod", ReasonNotIsolated: "not-isolated", ReasonRule: "rule",
		ReasonNoRule: "no-rule", ReasonSelf: "self", ReasonLocalNode: "local-node"}
	for r, s := range want {
		if b, _ := r.MarshalText(); r.String() != s || string(b) != s {
			t.Errorf("Reason %d prints %q / %q, want %q", r, r.String(), b, s)
		}
	}
}
