package correlate

import (
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// The example snapshot is what the demo and other packages' tests build on:
// these tests pin the scenario of design.md in it.

func loadExample(t testing.TB) (*Snapshot, *Index) {
	t.Helper()
	s, err := LoadSnapshot("../examples/snapshot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s, BuildIndex(s.Objects(), IndexOptions{})
}

func TestExampleSnapshotScenario(t *testing.T) {
	s, ix := loadExample(t)
	o := s.Objects()
	if len(s.Ignored()) != 0 {
		t.Errorf("ignored: %v", s.Ignored())
	}
	wantNS := map[string]map[string]string{
		"ai-agents":   {"name": "ai-agents", NamespaceNameLabel: "ai-agents"},
		"api-gateway": {"name": "api-gateway", NamespaceNameLabel: "api-gateway"},
		"databases":   {"name": "databases", NamespaceNameLabel: "databases"},
		"kube-system": {NamespaceNameLabel: "kube-system"},
	}
	if len(o.Namespaces) != len(wantNS) {
		t.Errorf("namespaces = %d", len(o.Namespaces))
	}
	for _, ns := range o.Namespaces {
		if !maps.Equal(ns.Labels, wantNS[ns.Name]) {
			t.Errorf("namespace %s labels = %v", ns.Name, ns.Labels)
		}
	}

	agent := map[string]string{"tier": "ai-agent", "network-policy": "restricted"}
	withAgent := func(m map[string]string) map[string]string {
		out := maps.Clone(agent)
		maps.Copy(out, m)
		return out
	}
	cases := []struct {
		addr, pod, workload string
		stable              map[string]string
	}{
		{"10.244.1.10", "ai-agents/triage-agent-7d9f8b6c5d-x2k4p", "Deployment/triage-agent",
			withAgent(map[string]string{"app": "ai-agent", "role": "triage-agent"})},
		{"fd00:10:244::a", "ai-agents/triage-agent-7d9f8b6c5d-x2k4p", "Deployment/triage-agent", nil},
		{"10.244.1.11", "ai-agents/specialist-agent-5c6b8d9f7b-m8q2r", "Deployment/specialist-agent",
			withAgent(map[string]string{"app": "ai-agent", "role": "specialist-agent"})},
		{"10.244.2.11", "ai-agents/specialist-agent-5c6b8d9f7b-t4w9z", "Deployment/specialist-agent", nil},
		{"10.244.1.12", "ai-agents/tool-service-6f7d8c9b5d-h7j3k", "Deployment/tool-service",
			withAgent(map[string]string{"app": "tool-service"})},
		{"10.244.2.20", "api-gateway/gateway-84b6d7c9f5-p5n8v", "Deployment/gateway", map[string]string{"app": "gateway"}},
		{"10.244.2.30", "databases/postgresql-0", "StatefulSet/postgresql", map[string]string{"app": "postgresql"}},
		{"10.244.1.2", "kube-system/coredns-5d78c9869d-7xk2p", "Deployment/coredns", map[string]string{"k8s-app": "kube-dns"}},
	}
	for _, c := range cases {
		tg := ix.Resolve(ip(c.addr), time.Time{})
		if tg == nil || tg.Endpoint.Namespace+"/"+tg.Endpoint.Pod != c.pod || tg.Endpoint.Workload != c.workload {
			t.Errorf("%s resolved to %+v, want %s of %s", c.addr, tg, c.pod, c.workload)
			continue
		}
		if c.stable != nil && !maps.Equal(tg.Workload.StableLabels, c.stable) {
			t.Errorf("%s stable labels = %v, want %v", c.addr, tg.Workload.StableLabels, c.stable)
		}
	}
	for addr, node := range map[string]string{"172.18.0.2": "node-1", "fc00:f853:ccd:e793::2": "node-1", "172.18.0.3": "node-2"} {
		if got := mustResolvePod(t, ix, addr, time.Time{}); got != "node "+node {
			t.Errorf("%s = %q, want node %s", addr, got, node)
		}
	}

	// kube-dns: ClusterIP 10.96.0.10, named targetPorts, both protocols.
	var res Resolution
	for _, proto := range []flow.Protocol{flow.UDP, flow.TCP} {
		r := flow.Record{Src: flow.Endpoint{IP: ip("10.244.1.10"), Port: 41000},
			Dst: flow.Endpoint{IP: ip("10.96.0.10"), Port: 53}, Protocol: proto}
		ix.ResolveRecord(&r, &res)
		var got []string
		for _, c := range res.Dst {
			got = append(got, candString(c))
		}
		assertStrings(t, "kube-dns "+string(proto), got,
			"kube-system/coredns-5d78c9869d-7xk2p:53", "kube-system/coredns-5d78c9869d-q9v4m:53")
	}
	// tool-service: port 80 to the named port http (8080).
	r := flow.Record{Src: flow.Endpoint{IP: ip("10.244.1.10")}, Dst: flow.Endpoint{IP: ip("10.96.100.12"), Port: 80}, Protocol: flow.TCP}
	ix.ResolveRecord(&r, &res)
	if r.Dst.Port != 8080 || r.Dst.ServicePort != 80 || r.Dst.Service != "ai-agents/tool-service" {
		t.Errorf("tool-service = %+v", r.Dst)
	}
}

// TestExamplePoliciesAreTheArticles checks, through the policy engine, that
// the example's policies say what design.md says they say.
func TestExamplePoliciesAreTheArticles(t *testing.T) {
	s, ix := loadExample(t)
	o := s.Objects()
	eng, err := policy.New(o.NetworkPolicies, o.Namespaces)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, src, dst string
		port           uint16
		proto          flow.Protocol
		allowed        bool
	}{
		{"gateway calls the triage agent", "10.244.2.20", "10.244.1.10", 8000, flow.TCP, true},
		{"gateway calls a specialist (both ingress policies add up)", "10.244.2.20", "10.244.2.11", 8000, flow.TCP, true},
		{"gateway on another port", "10.244.2.20", "10.244.1.10", 8080, flow.TCP, false},
		{"triage agent reaches DNS over the Service", "10.244.1.10", "10.96.0.10", 53, flow.UDP, true},
		{"specialist reaches postgresql", "10.244.1.11", "10.96.60.30", 5432, flow.TCP, true},
		{"triage agent calls an LLM API", "10.244.1.10", "203.0.113.10", 443, flow.TCP, true},
		{"agent calls a private address on 443", "10.244.1.10", "10.1.2.3", 443, flow.TCP, false},
		{"agent reads cloud metadata", "10.244.1.10", "169.254.169.254", 80, flow.TCP, false},
		{"specialist calls another specialist", "10.244.1.11", "10.244.2.11", 8000, flow.TCP, false},
		{"triage to specialist: the egress policy does not allow it", "10.244.1.10", "10.244.2.11", 8000, flow.TCP, false},
		{"tool-service is not an agent: no egress rule for it", "10.244.1.12", "10.96.60.30", 5432, flow.TCP, false},
	}
	var res Resolution
	for _, c := range cases {
		r := flow.Record{Src: flow.Endpoint{IP: ip(c.src), Port: 40000}, Dst: flow.Endpoint{IP: ip(c.dst), Port: c.port}, Protocol: c.proto}
		ix.ResolveRecord(&r, &res)
		for i := range res.Dst {
			d := &res.Dst[i]
			v := eng.Evaluate(&policy.Flow{Src: res.Src.Peer(), Dst: d.Peer(), Protocol: protocolOf(c.proto), Port: int32(d.Port)})
			if v.Allowed() != c.allowed {
				t.Errorf("%s (to %s:%d): allowed = %v, want %v: %s", c.name, d.IP, d.Port, v.Allowed(), c.allowed, v.Explain())
			}
		}
	}
}

func protocolOf(p flow.Protocol) corev1.Protocol {
	switch p {
	case flow.TCP, flow.UDP, flow.SCTP:
		return corev1.Protocol(p)
	}
	return policy.ProtocolICMP
}
