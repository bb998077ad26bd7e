package graph

import (
	"net/netip"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func pod(ns, workload, name, ip string) flow.Endpoint {
	return flow.Endpoint{Kind: flow.KindPod, Namespace: ns, Workload: workload, Pod: name, IP: netip.MustParseAddr(ip)}
}

func ext(ip, fqdn string) flow.Endpoint {
	return flow.Endpoint{Kind: flow.KindExternal, IP: netip.MustParseAddr(ip), FQDN: fqdn}
}

// rec returns the record of one connection's client direction: src:sport
// to dst:dport, judged violation ("" for allowed).
func rec(src flow.Endpoint, sport uint16, dst flow.Endpoint, dport uint16, proto flow.Protocol, violation string, at time.Duration) flow.Record {
	src.Port, dst.Port = sport, dport
	r := flow.Record{
		TimeFirst: t0.Add(at), TimeLast: t0.Add(at + time.Second), Src: src, Dst: dst, Protocol: proto,
		Observed: flow.Forwarded, Verdict: "allow", Violation: violation, Explanation: "because " + violation,
	}
	if proto == flow.TCP {
		r.Initiator = "src"
	}
	switch violation {
	case "denied":
		r.Observed, r.DropReason, r.Verdict = flow.Dropped, "NETFILTER_DROP", "deny"
	case "would-deny":
		r.Verdict = "deny"
	}
	return r
}

// reply returns the other direction of r, as the kernel reports it.
func reply(r flow.Record) flow.Record {
	r.Src, r.Dst = r.Dst, r.Src
	if r.Initiator == "src" {
		r.Initiator = "dst"
	}
	return r
}

// scenario is the AI-agents picture: every class, a self-loop, an outside
// peer reached at two addresses under one name, edges that skip columns.
func scenario() []flow.Record {
	gw := pod("api-gateway", "Deployment/gateway", "gateway-1", "10.244.1.20")
	triage := pod("ai-agents", "Deployment/triage-agent", "triage-1", "10.244.1.10")
	spec1 := pod("ai-agents", "Deployment/specialist-agent", "spec-1", "10.244.1.11")
	spec2 := pod("ai-agents", "Deployment/specialist-agent", "spec-2", "10.244.1.12")
	tools := pod("ai-agents", "Deployment/tool-service", "tools-1", "10.244.1.13")
	pg := pod("databases", "StatefulSet/postgresql", "postgresql-0", "10.244.1.30")
	dns := pod("kube-system", "Deployment/coredns", "coredns-1", "10.244.1.2")
	var recs []flow.Record
	add := func(r flow.Record, withReply bool) {
		recs = append(recs, r)
		if withReply {
			recs = append(recs, reply(r))
		}
	}
	for i := range 3 {
		at := time.Duration(i) * 10 * time.Second
		p := uint16(40000 + 10*i)
		add(rec(gw, p, triage, 8000, flow.TCP, "", at), true)
		add(rec(triage, p+1, spec1, 8000, flow.TCP, "", at), true)
		add(rec(triage, p+2, spec2, 8000, flow.TCP, "", at), i == 0)
		add(rec(triage, p+3, tools, 8080, flow.TCP, "", at), true)
		add(rec(spec1, p+4, pg, 5432, flow.TCP, "", at), true)
		add(rec(tools, p+5, pg, 5432, flow.TCP, "", at), false)
		add(rec(triage, p+6, dns, 53, flow.UDP, "", at), true)
		add(rec(triage, p+7, ext("203.0.113.10", "api.llm.example"), 443, flow.TCP, "", at), true)
	}
	// The same name at a second address; a record of it without the name.
	add(rec(spec2, 41000, ext("203.0.113.11", "api.llm.example"), 443, flow.TCP, "", 5*time.Second), false)
	noName := rec(spec2, 41001, ext("203.0.113.11", ""), 443, flow.TCP, "", 6*time.Second)
	add(noName, false)
	// The attacks.
	add(rec(spec1, 42000, spec2, 8000, flow.TCP, "would-deny", 40*time.Second), false)
	add(rec(spec1, 42001, spec2, 8000, flow.TCP, "denied", 41*time.Second), false)
	add(rec(triage, 42002, ext("10.20.30.40", ""), 443, flow.TCP, "would-deny", 42*time.Second), false)
	add(rec(spec1, 42003, ext("169.254.169.254", ""), 80, flow.TCP, "denied", 43*time.Second), false)
	add(rec(triage, 42004, ext("192.0.2.66", "api.unvetted.example"), 443, flow.TCP, "anomalous-egress", 44*time.Second), true)
	// Elsewhere: not drawn for ai-agents.
	add(rec(gw, 43000, dns, 53, flow.UDP, "", 0), true)
	return recs
}
