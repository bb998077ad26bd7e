package suggest

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/flow-auditor/flow-auditor/policy"
)

// PrivilegeReport audits a namespace's current policies against what was
// observed: what they allow that nothing used, what they leave open, and
// what they deny that was seen.
type PrivilegeReport struct {
	Namespace string       `json:"namespace"`
	Window    ReportWindow `json:"window"`
	Records   Counts       `json:"records"`
	// Policies counts the namespace's current policies.
	Policies int `json:"policies"`
	// Unused are rules, or peers or ports of used rules, that no forwarded
	// flow matched: over-privilege.
	Unused []RuleFinding `json:"unused"`
	// Unisolated are the namespace's workloads that no policy isolates in
	// a direction: everything is allowed there.
	Unisolated []IsolationFinding `json:"unisolated"`
	// OpenEgress are egress rules open to every address.
	OpenEgress []RuleFinding `json:"open_egress"`
	// Denied are observed flows of the namespace that current policy denies.
	Denied []Finding `json:"denied"`
}

// RuleFinding names one rule, or one peer or port of it.
type RuleFinding struct {
	Policy    string `json:"policy"` // namespace/name
	Direction string `json:"direction"`
	Rule      int    `json:"rule"`
	// Peer and Port index the rule's peer and port lists; -1 stands for the
	// whole rule.
	Peer int `json:"peer"`
	Port int `json:"port"`
	// Flows counts the forwarded flow records the rule allowed.
	Flows  int    `json:"flows"`
	Detail string `json:"detail"`
}

// IsolationFinding is a workload some direction of which no policy isolates.
type IsolationFinding struct {
	Workload string `json:"workload"`
	Pods     int    `json:"pods"`
	Ingress  bool   `json:"ingress_isolated"`
	Egress   bool   `json:"egress_isolated"`
}

type ruleUse struct {
	flows int
	peers map[int]bool
	ports map[int]bool
	dsts  map[*entity]bool
}

type ruleID struct {
	policy string
	egress bool
	rule   int
}

// Audit judges the observed flows against the cluster's current policies
// and reports on the namespace's own.
func (o *Observer) Audit(current []*networkingv1.NetworkPolicy, namespaces []*corev1.Namespace) (*PrivilegeReport, error) {
	eng, err := policy.New(current, namespaces)
	if err != nil {
		return nil, fmt.Errorf("audit: compile policies: %w", err)
	}
	ns := o.in.Namespace
	var own []*networkingv1.NetworkPolicy
	for _, np := range current {
		if np.Namespace == ns {
			own = append(own, np)
		}
	}
	slices.SortFunc(own, func(a, b *networkingv1.NetworkPolicy) int { return cmp.Compare(a.Name, b.Name) })
	r := &PrivilegeReport{
		Namespace: ns, Window: ReportWindow{Start: o.window.Start, End: o.window.End}, Records: o.counts, Policies: len(own),
		Unused: []RuleFinding{}, Unisolated: []IsolationFinding{}, OpenEgress: []RuleFinding{}, Denied: []Finding{},
	}
	uses := map[ruleID]*ruleUse{}
	use := func(s *policy.Side, egress bool, dst *entity, records int) {
		if s.Reason != policy.ReasonRule || !strings.HasPrefix(s.By.Policy, ns+"/") {
			return
		}
		id := ruleID{policy: s.By.Policy, egress: egress, rule: s.By.Rule}
		u := uses[id]
		if u == nil {
			u = &ruleUse{peers: map[int]bool{}, ports: map[int]bool{}, dsts: map[*entity]bool{}}
			uses[id] = u
		}
		u.flows += records
		u.peers[s.By.Peer], u.ports[s.By.Port] = true, true
		if egress {
			u.dsts[dst] = true
		}
	}
	var denied findingAgg
	for _, it := range o.replay {
		if it.class == classDropped {
			continue
		}
		v := eng.Evaluate(&it.flow)
		use(&v.Egress, true, it.edge.dst, it.records)
		use(&v.Ingress, false, it.edge.dst, it.records)
		if !v.Allowed() {
			denied.add(it, &v)
		}
	}
	r.Denied = denied.list()
	for _, np := range own {
		key := np.Namespace + "/" + np.Name
		for i, rule := range np.Spec.Ingress {
			r.Unused = appendUnused(r.Unused, key, "ingress", i, len(rule.From), len(rule.Ports), uses[ruleID{key, false, i}])
		}
		for i, rule := range np.Spec.Egress {
			u := uses[ruleID{key, true, i}]
			r.Unused = appendUnused(r.Unused, key, "egress", i, len(rule.To), len(rule.Ports), u)
			if open := openTo(rule.To); open != "" {
				r.OpenEgress = append(r.OpenEgress, openFinding(key, i, open, rule.Ports, u))
			}
		}
	}
	r.Unisolated = o.unisolated(eng)
	return r, nil
}

func appendUnused(out []RuleFinding, key, dir string, rule, peers, ports int, u *ruleUse) []RuleFinding {
	if u == nil {
		return append(out, RuleFinding{Policy: key, Direction: dir, Rule: rule, Peer: -1, Port: -1, Detail: "no observed flow matched this rule"})
	}
	for p := range peers {
		if !u.peers[p] {
			out = append(out, RuleFinding{Policy: key, Direction: dir, Rule: rule, Peer: p, Port: -1, Flows: u.flows,
				Detail: "no observed flow matched this peer (the rule's other peers were used)"})
		}
	}
	for p := range ports {
		if !u.ports[p] {
			out = append(out, RuleFinding{Policy: key, Direction: dir, Rule: rule, Peer: -1, Port: p, Flows: u.flows,
				Detail: "no observed flow used this port (the rule's other ports were used)"})
		}
	}
	return out
}

// openTo describes an egress peer list that admits every address: no
// peers at all, or an ipBlock of a whole address family.
func openTo(peers []networkingv1.NetworkPolicyPeer) string {
	if len(peers) == 0 {
		return "every destination (no `to`)"
	}
	var open []string
	for _, p := range peers {
		if p.IPBlock == nil {
			continue
		}
		pfx, err := netip.ParsePrefix(p.IPBlock.CIDR)
		if err != nil || pfx.Bits() != 0 {
			continue
		}
		s := p.IPBlock.CIDR
		if len(p.IPBlock.Except) > 0 {
			s += " except " + strings.Join(p.IPBlock.Except, ", ")
		}
		open = append(open, s)
	}
	return strings.Join(open, "; ")
}

func openFinding(key string, rule int, open string, ports []networkingv1.NetworkPolicyPort, u *ruleUse) RuleFinding {
	f := RuleFinding{Policy: key, Direction: "egress", Rule: rule, Peer: -1, Port: -1}
	on := "every port"
	if len(ports) > 0 {
		var ps []string
		for _, p := range ports {
			proto := "TCP"
			if p.Protocol != nil {
				proto = string(*p.Protocol)
			}
			s := proto
			if p.Port != nil {
				s += "/" + p.Port.String()
				if p.EndPort != nil {
					s += "-" + strconv.Itoa(int(*p.EndPort))
				}
			}
			ps = append(ps, s)
		}
		on = strings.Join(ps, ", ")
	}
	f.Detail = "open to " + open + " on " + on
	if u != nil {
		f.Flows = u.flows
		dsts := make([]*entity, 0, len(u.dsts))
		for d := range u.dsts {
			dsts = append(dsts, d)
		}
		slices.SortFunc(dsts, compareEntities)
		var seen []string
		for i, d := range dsts {
			if i == maxListedAddrs {
				seen = append(seen, fmt.Sprintf("and %d more", len(dsts)-maxListedAddrs))
				break
			}
			if d.key.kind == entWorkload {
				seen = append(seen, d.name())
			} else {
				seen = append(seen, describeAddress(d))
			}
		}
		f.Detail += "; observed destinations: " + strings.Join(seen, ", ")
	} else {
		f.Detail += "; no observed flow used it"
	}
	return f
}

// unisolated asks the engine, for one pod of each workload of the
// namespace, whether any policy isolates it in each direction.
func (o *Observer) unisolated(eng *policy.Engine) []IsolationFinding {
	out := []IsolationFinding{}
	outside := &policy.Peer{Kind: policy.External, IP: netip.MustParseAddr("192.0.2.1")}
	ws := slices.Clone(o.byNS[o.in.Namespace])
	slices.SortFunc(ws, compareEntities)
	for _, w := range ws {
		if w.rep == nil || w.pods == 0 {
			continue
		}
		eg := eng.Evaluate(&policy.Flow{Src: w.rep, Dst: outside, Protocol: corev1.ProtocolTCP, Port: 1})
		in := eng.Evaluate(&policy.Flow{Src: outside, Dst: w.rep, Protocol: corev1.ProtocolTCP, Port: 1})
		f := IsolationFinding{Workload: w.key.workload, Pods: w.pods, Egress: eg.Egress.NumIsolating > 0, Ingress: in.Ingress.NumIsolating > 0}
		if !f.Egress || !f.Ingress {
			out = append(out, f)
		}
	}
	return out
}
