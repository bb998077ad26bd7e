// Package verdict maps policy results between Hubble flows and flow
// records, both ways: Classify reads what Cilium decided (verdict, drop
// reason, *_allowed_by / *_denied_by) into a record's violation and
// explanation; Annotate writes an evaluated record's results into the
// Hubble flow the auditor serves, so that Hubble clients see them.
package verdict

import (
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Violation kinds, as the flow record spells them.
const (
	Denied    = "denied"
	WouldDeny = "would-deny"
)

// Policy results of one side of a flow, as the record spells them.
const (
	allow = "allow"
	deny  = "deny"
)

// IsPolicyDrop reports whether a Hubble drop reason means that network
// policy dropped the packet. NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION
// is left out: it is an endpoint whose policy is not computed yet, not a
// decision; DENIED_BY_LB_SRC_RANGE_CHECK is a Service's source ranges, not
// a network policy.
func IsPolicyDrop(r flowpb.DropReason) bool {
	switch r {
	case flowpb.DropReason_POLICY_DENIED, // no rule allows it (default deny)
		flowpb.DropReason_POLICY_DENY,   // a deny rule matched
		flowpb.DropReason_AUTH_REQUIRED: // a rule allows it only with mutual auth
		return true
	}
	return false
}

// dropReason reads the drop reason, preferring the enum over the deprecated
// numeric field that old agents set alone.
func dropReason(f *flowpb.Flow) flowpb.DropReason {
	if d := f.GetDropReasonDesc(); d != flowpb.DropReason_DROP_REASON_UNKNOWN {
		return d
	}
	return flowpb.DropReason(f.GetDropReason())
}

// Classify fills rec's policy results from what Cilium reported in f:
//   - DROPPED with a policy drop reason: violation "denied", verdict "deny",
//     and "deny" on the side the traffic direction names;
//   - AUDIT (policy audit mode: would have been dropped): violation
//     "would-deny", verdict "deny", same side;
//   - egress/ingress_denied_by and _allowed_by set that side's result and
//     are named in the explanation.
//
// A flow that an auditor served carries the auditor's own results in its
// extensions; those take precedence. rec's observed and drop reason are
// left as the conversion set them.
func Classify(f *flowpb.Flow, rec *flow.Record) {
	if fromExtension(f, rec) {
		return
	}
	var why []string
	dir := f.GetTrafficDirection()
	side := func(d flowpb.TrafficDirection, result string) {
		switch d {
		case flowpb.TrafficDirection_EGRESS:
			rec.Egress = result
		case flowpb.TrafficDirection_INGRESS:
			rec.Ingress = result
		}
	}
	// Allowed first, so that a denial on the same side wins.
	if p := f.GetEgressAllowedBy(); len(p) > 0 {
		rec.Egress = allow
		why = append(why, "egress allowed by "+policies(p))
	}
	if p := f.GetIngressAllowedBy(); len(p) > 0 {
		rec.Ingress = allow
		why = append(why, "ingress allowed by "+policies(p))
	}
	if p := f.GetEgressDeniedBy(); len(p) > 0 {
		rec.Egress = deny
		why = append(why, "egress denied by "+policies(p))
	}
	if p := f.GetIngressDeniedBy(); len(p) > 0 {
		rec.Ingress = deny
		why = append(why, "ingress denied by "+policies(p))
	}

	var head string
	switch v := f.GetVerdict(); {
	case v == flowpb.Verdict_DROPPED && IsPolicyDrop(dropReason(f)):
		rec.Violation, rec.Verdict = Denied, deny
		side(dir, deny)
		head = "cilium dropped it by policy (" + dropReason(f).String() + directionSuffix(dir) + ")"
	case v == flowpb.Verdict_AUDIT:
		rec.Violation, rec.Verdict = WouldDeny, deny
		side(dir, deny)
		head = "cilium policy audit mode: policy would drop it" + directionSuffix(dir) + " but the flow was forwarded"
	case v == flowpb.Verdict_FORWARDED && len(why) > 0:
		head = "cilium forwarded it"
	}
	if head != "" {
		why = append([]string{head}, why...)
	}
	if len(why) > 0 {
		rec.Explanation = strings.Join(why, "; ")
	}
}

func directionSuffix(d flowpb.TrafficDirection) string {
	switch d {
	case flowpb.TrafficDirection_EGRESS:
		return " on egress"
	case flowpb.TrafficDirection_INGRESS:
		return " on ingress"
	}
	return ""
}

// policies names policies as "Kind namespace/name", comma-separated.
func policies(ps []*flowpb.Policy) string {
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		name := p.GetName()
		if ns := p.GetNamespace(); ns != "" {
			name = ns + "/" + name
		}
		if k := p.GetKind(); k != "" {
			name = k + " " + name
		}
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}
