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

// Judge evaluates resolved records. It keeps a cache of explanations, so
// it is for one goroutine; give each goroutine its own.
type Judge struct {
	// Engine judges the flows; nil judges nothing (every side "none").
	Engine Engine
	// Explain sets Record.Explanation for allowed flows too; violations are
	// always explained.
	Explain bool
	// CacheSize bounds each verdict and explanation cache (entries); 0 means
	// DefaultCacheSize. A batch audit of a large cluster meets tens of
	// thousands of distinct verdicts and wants more; the agent wants less.
	CacheSize int

	// memo remembers the verdicts of memoOf, when the engine is the policy
	// engine: flows between pods alike are judged once.
	memo   *policy.Memo
	memoOf *policy.Engine
	flow   policy.Flow
	direct policy.Verdict // an engine's verdict without a memo

	explained map[policy.Verdict]string
	// allowed caches the explanations of verdicts that name no isolating
	// policy list, under a key far cheaper to hash than a whole Verdict.
	allowed map[allowKey]string
}

// allowKey is what the explanation of a verdict depends on when neither
// side was denied (a denied side lists the policies isolating it).
type allowKey struct {
	egress, ingress sideKey
}

type sideKey struct {
	decision policy.Decision
	reason   policy.Reason
	kind     policy.PeerKind
	by       policy.RuleRef
}

// DefaultCacheSize bounds the explanation caches; each starts over when
// full.
const DefaultCacheSize = 4096

func (j *Judge) cacheSize() int {
	if j.CacheSize > 0 {
		return j.CacheSize
	}
	return DefaultCacheSize
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
			rec.Explanation = judged.Explain()
		} else {
			rec.Explanation = j.explain(v)
		}
	}
	return pick
}

// evaluate judges f, through a memo when the engine is the policy engine
// (whose verdicts depend on nothing a memo cannot key); the judgement is
// nil otherwise.
// The verdict returned is only valid until the next call.
func (j *Judge) evaluate(f *policy.Flow) (*policy.Verdict, *policy.Judgement) {
	e, ok := j.Engine.(*policy.Engine)
	if !ok {
		j.direct = j.Engine.Evaluate(f)
		return &j.direct, nil
	}
	if j.memoOf != e {
		j.memo, j.memoOf = policy.NewMemo(e, j.cacheSize()), e
	}
	jd := j.memo.Judge(f)
	return &jd.Verdict, jd
}

// explain returns v.Explain(), cached: most flows share a handful of
// verdicts, and building the string costs more than the evaluation.
func (j *Judge) explain(v *policy.Verdict) string {
	if v.Egress.Reason != policy.ReasonNoRule && v.Ingress.Reason != policy.ReasonNoRule {
		k := allowKey{
			sideKey{v.Egress.Decision, v.Egress.Reason, v.Egress.Kind, v.Egress.By},
			sideKey{v.Ingress.Decision, v.Ingress.Reason, v.Ingress.Kind, v.Ingress.By},
		}
		if s, ok := j.allowed[k]; ok {
			return s
		}
		if j.allowed == nil || len(j.allowed) >= j.cacheSize() {
			j.allowed = make(map[allowKey]string)
		}
		s := v.Explain()
		j.allowed[k] = s
		return s
	}
	if s, ok := j.explained[*v]; ok {
		return s
	}
	if j.explained == nil || len(j.explained) >= j.cacheSize() {
		j.explained = make(map[policy.Verdict]string)
	}
	s := v.Explain()
	j.explained[*v] = s
	return s
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
