package enrich

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

func podTarget(name, ip string, labels map[string]string) *correlate.Target {
	a := netip.MustParseAddr(ip)
	return &correlate.Target{
		Endpoint: flow.Endpoint{IP: a, Kind: flow.KindPod, Namespace: "ns", Pod: name, Labels: labels},
		Peer:     policy.Peer{Kind: policy.Pod, IP: a, Namespace: "ns", Name: name, Labels: labels},
	}
}

func engine(t *testing.T) *policy.Engine {
	t.Helper()
	tcp := corev1.ProtocolTCP
	p8000 := intstr.FromInt32(8000)
	// Backends labelled open accept the client on 8000; others accept nothing.
	pols := []*networkingv1.NetworkPolicy{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "open"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "open"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p8000}},
			}},
		},
	}, {
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "closed"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "closed"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}}
	ns := []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"kubernetes.io/metadata.name": "ns"}}}}
	e, err := policy.New(pols, ns)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestJudgeServiceBackends(t *testing.T) {
	j := &Judge{Engine: engine(t)}
	client := podTarget("client", "10.0.0.1", map[string]string{"role": "client"})
	open := podTarget("open", "10.0.0.2", map[string]string{"role": "open"})
	closed := podTarget("closed", "10.0.0.3", map[string]string{"role": "closed"})
	res := correlate.Resolution{
		Src: correlate.Candidate{Target: client, IP: client.Endpoint.IP},
		Dst: []correlate.Candidate{
			{Target: open, IP: open.Endpoint.IP, Port: 8000},
			{Target: closed, IP: closed.Endpoint.IP, Port: 8000},
		},
		WirePort: 80,
	}
	rec := &flow.Record{Protocol: flow.TCP, Observed: flow.Forwarded,
		Src: flow.Endpoint{IP: client.Endpoint.IP}, Dst: flow.Endpoint{IP: netip.MustParseAddr("10.96.0.1"), Port: 80}}
	var v policy.Verdict
	picked := j.Evaluate(rec, &res, &v)
	// One backend refuses: the flow is denied, and names that backend.
	if picked != 1 || rec.Verdict != "deny" || rec.Violation != WouldDeny || rec.Dst.Pod != "closed" || rec.Ingress != "deny" {
		t.Errorf("picked %d verdict %q violation %q dst %q ingress %q", picked, rec.Verdict, rec.Violation, rec.Dst.Pod, rec.Ingress)
	}
	if rec.Explanation == "" {
		t.Error("a violation without explanation")
	}

	// Dropped by the network: denied.
	rec.Verdict, rec.Violation, rec.Observed = "", "", flow.Dropped
	j.Evaluate(rec, &res, &v)
	if rec.Violation != Denied {
		t.Errorf("dropped and denied: violation %q", rec.Violation)
	}

	// Only the open backend: allowed, explained only when asked.
	res.Dst = res.Dst[:1]
	rec = &flow.Record{Protocol: flow.TCP, Observed: flow.Forwarded, Src: rec.Src}
	j.Evaluate(rec, &res, &v)
	if rec.Verdict != "allow" || rec.Violation != "" || rec.Explanation != "" {
		t.Errorf("allowed: verdict %q violation %q explanation %q", rec.Verdict, rec.Violation, rec.Explanation)
	}
	j.Explain = true
	for range 2 { // the second comes from the cache
		rec.Verdict, rec.Explanation = "", ""
		j.Evaluate(rec, &res, &v)
		if rec.Explanation != v.Explain() {
			t.Errorf("explanation %q, want %q", rec.Explanation, v.Explain())
		}
	}
}

func TestJudgeKeepsSourceVerdict(t *testing.T) {
	j := &Judge{Engine: engine(t), Explain: true}
	client := podTarget("client", "10.0.0.1", nil)
	closed := podTarget("closed", "10.0.0.3", map[string]string{"role": "closed"})
	res := correlate.Resolution{
		Src: correlate.Candidate{Target: client, IP: client.Endpoint.IP},
		Dst: []correlate.Candidate{{Target: closed, IP: closed.Endpoint.IP, Port: 8000}},
	}
	// Cilium said it allowed the flow; our engine would deny it.
	rec := &flow.Record{Protocol: flow.TCP, Observed: flow.Forwarded, Verdict: "allow", Ingress: "allow", Explanation: "ingress allowed by cilium"}
	var v policy.Verdict
	j.Evaluate(rec, &res, &v)
	if rec.Verdict != "allow" || rec.Violation != "" || rec.Explanation != "ingress allowed by cilium" {
		t.Errorf("source verdict replaced: %q %q %q", rec.Verdict, rec.Violation, rec.Explanation)
	}
	if v.Allowed() {
		t.Error("the engine's own verdict is not reported for anomaly detection")
	}
}

func TestProtocol(t *testing.T) {
	if Protocol(flow.ICMPv6) != policy.ProtocolICMP || Protocol(flow.UDP) != corev1.ProtocolUDP {
		t.Error("protocol mapping")
	}
}
