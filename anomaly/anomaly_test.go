package anomaly

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

func egressPolicy(name string, podLabels map[string]string, blocks ...networkingv1.IPBlock) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: name},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: podLabels},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
		},
	}
	if len(blocks) > 0 {
		var peers []networkingv1.NetworkPolicyPeer
		for i := range blocks {
			peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &blocks[i]})
		}
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: peers}}
	}
	return np
}

type noBaseline struct{}

func (noBaseline) ObserveConn(*flow.Record, *baseline.Handle, bool) baseline.Novelty { return 0 }

func TestAlwaysAnomalousDestinations(t *testing.T) {
	agentLabels := map[string]string{"app": "agent"}
	other := map[string]string{"app": "other"}
	pols := []*networkingv1.NetworkPolicy{
		// The article's LLM rule: anywhere but the private ranges.
		egressPolicy("llm", agentLabels, networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}}),
		// A rule that names one internal range, for one workload only.
		egressPolicy("internal", other, networkingv1.IPBlock{CIDR: "10.20.0.0/16", Except: []string{"10.20.9.0/24"}}),
		egressPolicy("broad", other, networkingv1.IPBlock{CIDR: "0.0.0.0/0"}),
	}
	ns := []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "ai", Labels: map[string]string{"kubernetes.io/metadata.name": "ai"}}}}
	eng, err := policy.New(pols, ns)
	if err != nil {
		t.Fatal(err)
	}
	blocks := NewBlocks(pols)
	d := &Detector{Baseline: noBaseline{}}

	cases := []struct {
		name   string
		labels map[string]string
		dst    string
		kind   flow.Kind
		want   []string
	}{
		{"public LLM", agentLabels, "203.0.113.10", flow.KindExternal, nil},
		{"metadata v4", agentLabels, "169.254.169.254", flow.KindExternal, []string{"metadata"}},
		{"metadata v6", agentLabels, "fd00:ec2::254", flow.KindExternal, []string{"metadata"}},
		{"private, excepted by the rule", agentLabels, "10.1.2.3", flow.KindExternal, []string{"private-range"}},
		{"private, named by a rule", other, "10.20.1.1", flow.KindExternal, nil},
		{"private, in the named rule's except", other, "10.20.9.1", flow.KindExternal, []string{"private-range"}},
		{"private, allowed only by a broad rule", other, "192.168.1.1", flow.KindExternal, []string{"private-range"}},
		{"private, no policy at all", map[string]string{"app": "free"}, "172.16.5.5", flow.KindExternal, []string{"private-range"}},
		{"private but a pod", agentLabels, "10.1.2.3", flow.KindPod, nil},
	}
	for _, c := range cases {
		src := policy.Peer{Kind: policy.Pod, Namespace: "ai", Name: "p", Labels: c.labels, IP: netip.MustParseAddr("10.244.0.5")}
		dst := policy.Peer{Kind: policy.External, IP: netip.MustParseAddr(c.dst)}
		v := eng.Evaluate(&policy.Flow{Src: &src, Dst: &dst, Protocol: corev1.ProtocolTCP, Port: 443})
		r := &flow.Record{
			Src:      flow.Endpoint{Kind: flow.KindPod, Namespace: "ai", Workload: "Deployment/x", IP: src.IP},
			Dst:      flow.Endpoint{Kind: c.kind, IP: dst.IP, Port: 443},
			Protocol: flow.TCP,
		}
		got := d.Inspect(r, &v, blocks).Names()
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: classes %v, want %v", c.name, got, c.want)
		}
	}
}

func TestMarkPrecedence(t *testing.T) {
	r := &flow.Record{Violation: "would-deny"}
	Mark(r, Metadata)
	if r.Violation != "would-deny" {
		t.Errorf("would-deny overwritten by %q", r.Violation)
	}
	r = &flow.Record{}
	Mark(r, 0)
	if r.Violation != "" {
		t.Errorf("no anomaly marked %q", r.Violation)
	}
	Mark(r, NewFQDN)
	if r.Violation != ViolationKind {
		t.Errorf("anomaly marked %q", r.Violation)
	}
}
