// Package enrich judges resolved flow records against NetworkPolicies: the
// step between correlation (correlate.Index.ResolveRecord) and the sinks,
// shared by the agent's evaluate stage and `auditor audit`.
package enrich

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
)

// Violation kinds set by policy evaluation.
const (
	Denied    = "denied"
	WouldDeny = "would-deny"
)

// Engine is the policy engine as the judge uses it; *policy.Engine is one.
type Engine interface {
	Evaluate(f *policy.Flow) policy.Verdict
}

// Judge evaluates resolved records. It keeps a memo of verdicts and their
// explanations, so it is for one goroutine; give each goroutine its own.
type Judge struct {
	// Engine judges the flows; nil judges nothing (every side "none").
	Engine Engine
	// Explain sets Record.Explanation for allowed flows too; violations are
	// always explained.
	Explain bool
	// CacheSize bounds each generation of the verdict memo (entries); 0
	// means policy.DefaultMemoSize. A batch audit of a large cluster meets
	// tens of thousands of distinct verdicts and wants more; the agent less.
	CacheSize int

	// memo remembers the verdicts of memoOf, when the engine is the policy
	// engine: flows between pods alike are judged once.
	memo   *policy.Memo
	memoOf *policy.Engine
	flow   policy.Flow
	direct policy.Verdict // an engine's verdict without a memo
}

// Evaluate judges rec, resolved into res by ResolveRecord, and fills its
// Egress, Ingress, Verdict, Violation (denied when the network dropped a
// flow policy denies, would-deny when it forwarded it) and Explanation. v
// receives the verdict.
//
// A flow to a Service with several backends is judged against each: the
// record takes the first backend that policy denies (and rec.Dst is filled
// from it, naming the backend that would refuse), else the first backend.
//
// A record that already carries a verdict (a Hubble flow on which Cilium
// decided) keeps its results; v still receives the engine's verdict, for
// anomaly detection.
//
// It returns the index in res.Dst of the destination rec.Dst names.
func (j *Judge) Evaluate(rec *flow.Record, res *correlate.Resolution, v *policy.Verdict) (picked int) {
	*v = policy.Verdict{}
	if j.Engine == nil || len(res.Dst) == 0 {
		return 0
	}
	// The flow lives in the judge: handed to an interface, it would escape.
	f := &j.flow
	*f = policy.Flow{Src: res.Src.Peer(), Protocol: Protocol(rec.Protocol)}
	pick := 0
	var judged *policy.Judgement // the picked verdict's, when memoized
	for i := range res.Dst {
		c := &res.Dst[i]
		f.Dst, f.Port = c.Peer(), int32(c.Port)
		got, jd := j.evaluate(f)
		if i == 0 || !got.Allowed() && v.Allowed() {
			*v, pick, judged = *got, i, jd
		}
		if !v.Allowed() {
			break
		}
	}
	if pick != 0 {
		res.FillDst(&rec.Dst, pick)
	}
	if rec.Verdict != "" {
		return pick // the source's own verdict (Cilium's) stands
	}
	rec.Egress, rec.Ingress = v.Egress.Decision.String(), v.Ingress.Decision.String()
	if v.Allowed() {
		rec.Verdict = "allow"
	} else {
		rec.Verdict = "deny"
		if rec.Observed == flow.Dropped {
			rec.Violation = Denied
		} else {
			rec.Violation = WouldDeny
		}
	}
	if j.Explain || rec.Violation != "" {
		if judged != nil {
			rec.Explanation = judged.Explain() // built once per verdict
		} else {
			rec.Explanation = v.Explain()
		}
	}
	return pick
}

// evaluate judges f, through a memo when the engine is the policy engine
// (whose verdicts depend on nothing a memo cannot key); the judgement is
// nil otherwise. The verdict returned is only valid until the next call.
func (j *Judge) evaluate(f *policy.Flow) (*policy.Verdict, *policy.Judgement) {
	e, ok := j.Engine.(*policy.Engine)
	if !ok {
		j.direct = j.Engine.Evaluate(f)
		return &j.direct, nil
	}
	if j.memoOf != e {
		j.memo, j.memoOf = policy.NewMemo(e, j.CacheSize), e
	}
	jd := j.memo.Judge(f)
	return &jd.Verdict, jd
}

// Protocol maps a record's protocol to the engine's: ICMP families become
// policy.ProtocolICMP, which only port-less rules allow.
func Protocol(p flow.Protocol) corev1.Protocol {
	switch p {
	case flow.ICMPv4, flow.ICMPv6:
		return policy.ProtocolICMP
	}
	return corev1.Protocol(p)
}
