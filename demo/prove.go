package demo

import (
	"fmt"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/enrich"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/policy"
	"github.com/flow-auditor/flow-auditor/suggest"
)

// proof is the suggestion for ai-agents learned from the normal phase, and
// its proof: the replay of every normal flow, and each attack judged
// against it.
type proof struct {
	Suggestion *suggest.Suggestion
	Report     *suggest.Report
	YAML       []byte
	// Attacks holds the suggestion's verdict on each attack ("allow" or
	// "deny") and its explanation.
	Attacks []judgement
}

type judgement struct {
	Verdict     string `json:"verdict"`
	Explanation string `json:"explanation"`
}

// prove suggests policies for ai-agents from the normal records (as
// `auditor suggest` would from them), replays them, and judges one record
// of each attack (its connection's direction) against the suggestion plus
// the other namespaces' current policies.
func prove(objs correlate.Objects, ix *correlate.Index, normal []flow.Record, attacks []*flow.Record) (*proof, error) {
	obs := suggest.NewObserver(suggest.Input{
		Namespace:    NSAgents,
		External:     suggest.ExternalExact,
		Pods:         suggest.PodsFrom(objs, ix),
		DNSAddresses: suggest.DNSAddressesFrom(objs),
		StableLabels: correlate.StableLabels,
	})
	var res correlate.Resolution
	for i := range normal {
		obs.AddRecord(ix, &res, &normal[i])
	}
	sg, err := obs.Suggest()
	if err != nil {
		return nil, fmt.Errorf("suggest: %w", err)
	}
	report, err := obs.Replay(sg, objs.NetworkPolicies, objs.Namespaces)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	p := &proof{Suggestion: sg, Report: report, YAML: sg.RenderYAML()}
	engine, err := SuggestedEngine(objs, sg.NetworkPolicies())
	if err != nil {
		return nil, err
	}
	for _, a := range attacks {
		if a == nil {
			p.Attacks = append(p.Attacks, judgement{Verdict: "unobserved"})
			continue
		}
		p.Attacks = append(p.Attacks, Judge(ix, engine, a))
	}
	return p, nil
}

// SuggestedEngine is the policy engine of the cluster with ai-agents'
// policies replaced by suggested ones.
func SuggestedEngine(objs correlate.Objects, suggested []*networkingv1.NetworkPolicy) (*policy.Engine, error) {
	var pols []*networkingv1.NetworkPolicy
	for _, np := range objs.NetworkPolicies {
		if np.Namespace != NSAgents {
			pols = append(pols, np)
		}
	}
	pols = append(pols, suggested...)
	engine, err := policy.New(pols, objs.Namespaces)
	if err != nil {
		return nil, fmt.Errorf("compile the suggested policies: %w", err)
	}
	return engine, nil
}

// Judge judges the connection of rec (Src its client) as it was on the
// wire: addresses and ports resolved again against ix.
func Judge(ix *correlate.Index, engine *policy.Engine, rec *flow.Record) judgement {
	r := flow.Record{
		TimeFirst: rec.TimeFirst, TimeLast: rec.TimeLast, Protocol: rec.Protocol,
		Src: flow.Endpoint{IP: rec.Src.IP, Port: rec.Src.Port},
		Dst: flow.Endpoint{IP: rec.Dst.IP, Port: rec.Dst.Port},
	}
	if r.TimeFirst.IsZero() {
		r.TimeFirst = time.Now()
	}
	var res correlate.Resolution
	var v policy.Verdict
	j := enrich.Judge{Engine: engine, Explain: true}
	ix.ResolveRecord(&r, &res)
	j.Evaluate(&r, &res, &v)
	return judgement{Verdict: r.Verdict, Explanation: r.Explanation}
}
