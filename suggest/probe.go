package suggest

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/flow-auditor/flow-auditor/policy"
)

// probeEdges tries the edges no flow showed: each workload of the namespace
// to every known workload and observed address, and every known workload
// and observed address to each workload of the namespace, on each port the
// destination declares or was reached on. An edge counts when the
// namespace's side allows it by a rule.
func (o *Observer) probeEdges(eng *policy.Engine, r *Report) {
	r.Edges.Observed = len(o.edges)
	var subjects, all []*entity
	for _, e := range o.entities {
		if o.probePeer(e) == nil {
			continue
		}
		all = append(all, e)
		if o.isSubject(e) {
			subjects = append(subjects, e)
		}
	}
	slices.SortFunc(subjects, compareEntities)
	slices.SortFunc(all, compareEntities)
	var found []Finding
	for _, a := range subjects {
		for _, d := range all {
			found = o.probe(eng, r, a, d, found)
		}
	}
	for _, s := range all {
		if o.isSubject(s) {
			continue // done above
		}
		for _, d := range subjects {
			found = o.probe(eng, r, s, d, found)
		}
	}
	if found == nil {
		found = []Finding{}
	}
	r.Unobserved = found
}

// probePeer is the peer the engine judges for an entity: a pod of the
// workload, or the address.
func (o *Observer) probePeer(e *entity) *policy.Peer {
	switch e.key.kind {
	case entWorkload:
		return e.rep
	case entNode:
		if e.rep == nil {
			e.rep = &policy.Peer{Kind: policy.Node, IP: e.key.ip, NodeName: e.nodeName}
		}
	default:
		if e.rep == nil {
			e.rep = &policy.Peer{Kind: policy.External, IP: e.key.ip}
		}
	}
	return e.rep
}

func (o *Observer) probe(eng *policy.Engine, r *Report, src, dst *entity, found []Finding) []Finding {
	sp, dp := o.probePeer(src), o.probePeer(dst)
	if src == dst {
		if src.key.kind != entWorkload {
			return found
		}
		// Another pod of the same workload: a pod to itself is always allowed.
		other := *dp
		other.Name += "~other"
		dp = &other
	}
	ports := make([]ProtoPort, 0, len(dst.ports))
	for pp := range dst.ports {
		ports = append(ports, pp)
	}
	slices.SortFunc(ports, compareProtoPort)
	for _, pp := range ports {
		if _, seen := o.edges[edgeKey{src: src, dst: dst, port: pp}]; seen {
			continue
		}
		r.Edges.Probed++
		f := policy.Flow{Src: sp, Dst: dp, Protocol: pp.Protocol, Port: pp.Port}
		v := eng.Evaluate(&f)
		if !o.allowedByRule(&f, &v) {
			continue
		}
		if o.dnsTwin(src, dst, pp) {
			r.Edges.DNSFallback++
			continue
		}
		if src.key.kind == entWorkload && dst.key.kind == entWorkload {
			r.Edges.AllowedUnobserved++
		} else {
			r.Edges.AllowedUnobservedAddress++
		}
		if len(found) < MaxFindings {
			found = append(found, Finding{
				Src: src.name(), Dst: dst.name(),
				Protocol: string(pp.Protocol), Port: pp.Port,
				Explanation: v.Explain(),
			})
		}
	}
	return found
}

// allowedByRule reports whether each side of the flow that belongs to the
// namespace allows it through a rule (not because the pod talks to itself
// or to its own node).
func (o *Observer) allowedByRule(f *policy.Flow, v *policy.Verdict) bool {
	sides := 0
	if f.Src.Kind == policy.Pod && f.Src.Namespace == o.in.Namespace {
		if v.Egress.Reason != policy.ReasonRule {
			return false
		}
		sides++
	}
	if f.Dst.Kind == policy.Pod && f.Dst.Namespace == o.in.Namespace {
		if v.Ingress.Reason != policy.ReasonRule {
			return false
		}
		sides++
	}
	return sides > 0
}

// dnsTwin reports the other protocol of observed DNS traffic: the DNS rule
// allows UDP and TCP 53 whichever was seen.
func (o *Observer) dnsTwin(src, dst *entity, pp ProtoPort) bool {
	if pp.Port != dnsPort || !o.isDNS(dst, pp) {
		return false
	}
	twin := ProtoPort{Protocol: corev1.ProtocolUDP, Port: dnsPort}
	if pp.Protocol == corev1.ProtocolUDP {
		twin.Protocol = corev1.ProtocolTCP
	}
	_, seen := o.edges[edgeKey{src: src, dst: dst, port: twin}]
	return seen
}
