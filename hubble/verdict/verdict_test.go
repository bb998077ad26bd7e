package verdict

import (
	"testing"

	flowpb "github.com/cilium/cilium/api/v1/flow"

	"github.com/flow-auditor/flow-auditor/flow"
)

func TestIsPolicyDrop(t *testing.T) {
	for r, want := range map[flowpb.DropReason]bool{
		flowpb.DropReason_POLICY_DENIED:                                         true,
		flowpb.DropReason_POLICY_DENY:                                           true,
		flowpb.DropReason_AUTH_REQUIRED:                                         true,
		flowpb.DropReason_NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION: false,
		flowpb.DropReason_CT_MAP_INSERTION_FAILED:                               false,
		flowpb.DropReason_DENIED_BY_LB_SRC_RANGE_CHECK:                          false,
		flowpb.DropReason_DROP_REASON_UNKNOWN:                                   false,
	} {
		if got := IsPolicyDrop(r); got != want {
			t.Errorf("IsPolicyDrop(%v) = %v, want %v", r, got, want)
		}
	}
}

func TestClassifyCiliumVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *flowpb.Flow
		want flow.Record
	}{
		{
			name: "policy deny rule on ingress, numeric drop reason of an old agent",
			f:    &flowpb.Flow{Verdict: flowpb.Verdict_DROPPED, DropReason: uint32(flowpb.DropReason_POLICY_DENY), TrafficDirection: flowpb.TrafficDirection_INGRESS},
			want: flow.Record{Violation: Denied, Verdict: "deny", Ingress: "deny", Explanation: "cilium dropped it by policy (POLICY_DENY on ingress)"},
		},
		{
			name: "audit on egress, denied by a named policy",
			f: &flowpb.Flow{Verdict: flowpb.Verdict_AUDIT, TrafficDirection: flowpb.TrafficDirection_EGRESS,
				EgressDeniedBy: []*flowpb.Policy{{Name: "no-metadata", Kind: "CiliumClusterwideNetworkPolicy"}}},
			want: flow.Record{Violation: WouldDeny, Verdict: "deny", Egress: "deny",
				Explanation: "cilium policy audit mode: policy would drop it on egress but the flow was forwarded; egress denied by CiliumClusterwideNetworkPolicy no-metadata"},
		},
		{
			name: "forwarded with both sides allowed",
			f: &flowpb.Flow{Verdict: flowpb.Verdict_FORWARDED,
				EgressAllowedBy:  []*flowpb.Policy{{Name: "egress-db", Namespace: "ai-agents", Kind: "NetworkPolicy"}},
				IngressAllowedBy: []*flowpb.Policy{{Name: "from-agents", Namespace: "databases", Kind: "NetworkPolicy"}, {Name: "any"}}},
			want: flow.Record{Egress: "allow", Ingress: "allow",
				Explanation: "cilium forwarded it; egress allowed by NetworkPolicy ai-agents/egress-db; ingress allowed by NetworkPolicy databases/from-agents, any"},
		},
		{
			name: "dropped for another reason",
			f:    &flowpb.Flow{Verdict: flowpb.Verdict_DROPPED, DropReasonDesc: flowpb.DropReason_STALE_OR_UNROUTABLE_IP},
			want: flow.Record{},
		},
		{
			name: "forwarded, nothing said about policy",
			f:    &flowpb.Flow{Verdict: flowpb.Verdict_FORWARDED},
			want: flow.Record{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got flow.Record
			Classify(tc.f, &got)
			if got.Violation != tc.want.Violation || got.Verdict != tc.want.Verdict || got.Egress != tc.want.Egress ||
				got.Ingress != tc.want.Ingress || got.Explanation != tc.want.Explanation {
				t.Errorf("Classify:\n got  %+v\n want %+v", got, tc.want)
			}
		})
	}
}

func TestAnnotateThenClassifyRoundTrips(t *testing.T) {
	for _, rec := range []flow.Record{
		{Observed: flow.Forwarded, Verdict: "deny", Egress: "deny", Ingress: "none", Violation: WouldDeny, Explanation: "no rule allows it"},
		{Observed: flow.Dropped, DropReason: "NETFILTER_DROP", Verdict: "deny", Ingress: "deny", Egress: "allow", Violation: Denied, Explanation: "only the triage agent"},
		{Observed: flow.Forwarded, Verdict: "allow", Egress: "allow", Ingress: "allow", Violation: "anomalous-egress", Explanation: "new FQDN"},
	} {
		f := &flowpb.Flow{Verdict: flowpb.Verdict_FORWARDED}
		if rec.Observed == flow.Dropped {
			f.Verdict = flowpb.Verdict_DROPPED
		}
		Annotate(rec, f)
		switch rec.Violation {
		case WouldDeny:
			if f.GetVerdict() != flowpb.Verdict_AUDIT {
				t.Errorf("would-deny served as %v, want AUDIT", f.GetVerdict())
			}
		case Denied:
			if f.GetVerdict() != flowpb.Verdict_DROPPED || f.GetDropReasonDesc() != flowpb.DropReason_POLICY_DENIED {
				t.Errorf("denied served as %v %v, want DROPPED POLICY_DENIED", f.GetVerdict(), f.GetDropReasonDesc())
			}
		}
		var got flow.Record
		Classify(f, &got)
		if got.Verdict != rec.Verdict || got.Egress != rec.Egress || got.Ingress != rec.Ingress ||
			got.Violation != rec.Violation || got.Explanation != rec.Explanation {
			t.Errorf("round trip of %+v gave %+v", rec, got)
		}
	}
}
