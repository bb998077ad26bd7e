package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

type direction uint8

const (
	dirIngress direction = iota
	dirEgress
)

// defaultIndexMin is the number of policies per namespace and direction
// above which the selector index is used; below it a scan is cheaper than
// the index's map lookups.
const defaultIndexMin = 8

// Engine judges flows against a fixed set of NetworkPolicies. It is
// immutable after New and safe for concurrent use.
type Engine struct {
	policies []*compiledPolicy // sorted by namespace/name
	byNS     map[string]*nsIndex
	nsLabels map[string]map[string]string
	indexMin int
	// ipBlocks are the distinct ipBlocks of the policies (see Memo).
	ipBlocks []ipBlock
}

type nsIndex struct {
	dirs [2]dirIndex
}

// dirIndex holds the policies of one namespace that isolate one direction.
type dirIndex struct {
	all []*compiledPolicy // in namespace/name order
	// The selector index: each policy sits in exactly one bucket, under the
	// first label its podSelector requires to equal (or be in) some values,
	// or in everything/rest, so a pod's candidates never repeat.
	everything []*compiledPolicy
	anchors    []anchor
	rest       []*compiledPolicy
}

type anchor struct {
	key     string
	byValue map[string][]*compiledPolicy
}

// New validates and compiles the policies. Input should already be defaulted
// (see Default); missing policyTypes and protocols are interpreted as the API
// server would default them, without modifying the objects. Namespaces supply
// the labels that namespaceSelectors match. An invalid policy yields an
// *InvalidPolicyError naming it (several are joined).
func New(policies []*networkingv1.NetworkPolicy, namespaces []*corev1.Namespace) (*Engine, error) {
	return newEngine(policies, namespaces, defaultIndexMin)
}

func newEngine(policies []*networkingv1.NetworkPolicy, namespaces []*corev1.Namespace, indexMin int) (*Engine, error) {
	e := &Engine{
		byNS:     make(map[string]*nsIndex),
		nsLabels: make(map[string]map[string]string, len(namespaces)),
		indexMin: indexMin,
	}
	for _, ns := range namespaces {
		if ns != nil {
			e.nsLabels[ns.Name] = ns.Labels
		}
	}
	var errs []error
	seen := make(map[string]bool, len(policies))
	for i, np := range policies {
		if np == nil {
			errs = append(errs, fmt.Errorf("NetworkPolicy #%d is nil", i))
			continue
		}
		if fe := validatePolicy(np); len(fe) != 0 {
			errs = append(errs, &InvalidPolicyError{Namespace: np.Namespace, Name: np.Name, Errs: fe})
			continue
		}
		cp, err := compilePolicy(np)
		if err != nil {
			errs = append(errs, fmt.Errorf("NetworkPolicy %s/%s: %w", np.Namespace, np.Name, err))
			continue
		}
		if seen[cp.key] {
			errs = append(errs, fmt.Errorf("NetworkPolicy %s: given twice", cp.key))
			continue
		}
		seen[cp.key] = true
		e.policies = append(e.policies, cp)
	}
	if len(errs) != 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(e.policies, func(a, b *compiledPolicy) int { return cmp.Compare(a.key, b.key) })
	e.policies = packPolicies(e.policies)
	e.ipBlocks = collectIPBlocks(e.policies)
	for i, cp := range e.policies {
		cp.order = i
		idx := e.byNS[cp.namespace]
		if idx == nil {
			idx = &nsIndex{}
			e.byNS[cp.namespace] = idx
		}
		if cp.isIngress {
			idx.dirs[dirIngress].add(cp)
		}
		if cp.isEgress {
			idx.dirs[dirEgress].add(cp)
		}
	}
	return e, nil
}

func (d *dirIndex) add(cp *compiledPolicy) {
	d.all = append(d.all, cp)
	var req *requirement
	for i := range cp.podSel.reqs {
		if cp.podSel.reqs[i].op == opIn {
			req = &cp.podSel.reqs[i]
			break
		}
	}
	switch {
	case cp.podSel.empty():
		d.everything = append(d.everything, cp)
	case req == nil:
		d.rest = append(d.rest, cp)
	default:
		i := slices.IndexFunc(d.anchors, func(a anchor) bool { return a.key == req.key })
		if i < 0 {
			d.anchors = append(d.anchors, anchor{key: req.key, byValue: map[string][]*compiledPolicy{}})
			i = len(d.anchors) - 1
		}
		for _, v := range req.values {
			d.anchors[i].byValue[v] = append(d.anchors[i].byValue[v], cp)
		}
	}
}

// Evaluate judges one flow. It does not allocate, and only looks at the
// policies of the source's and the destination's namespaces.
func (e *Engine) Evaluate(f *Flow) Verdict {
	var v Verdict
	var none Peer
	src, dst := f.Src, f.Dst
	if src == nil {
		src = &none
	}
	if dst == nil {
		dst = &none
	}
	v.Egress.Kind, v.Ingress.Kind = src.Kind, dst.Kind
	if samePod(src, dst) {
		v.Egress.Decision, v.Egress.Reason = Allow, ReasonSelf
		v.Ingress.Decision, v.Ingress.Reason = Allow, ReasonSelf
		return v
	}
	q := query{proto: protoOf(f.Protocol), port: f.Port, dst: dst}
	if src.Kind == Pod {
		e.judge(&v.Egress, dirEgress, src, dst, &q)
	}
	if dst.Kind == Pod {
		if src.Kind == Node && src.NodeName != "" && src.NodeName == dst.NodeName {
			v.Ingress.Decision, v.Ingress.Reason = Allow, ReasonLocalNode
		} else {
			e.judge(&v.Ingress, dirIngress, dst, src, &q)
		}
	}
	return v
}

// samePod reports whether a flow stays inside one pod: same namespace and
// name, or, for pods known only by address, the same address.
func samePod(a, b *Peer) bool {
	if a.Kind != Pod || b.Kind != Pod || a.Namespace != b.Namespace {
		return false
	}
	if a.Name != "" || b.Name != "" {
		return a.Name == b.Name
	}
	return a.IP.IsValid() && a.IP == b.IP
}

// query is what the rules of either direction are asked about.
type query struct {
	proto proto
	port  int32
	dst   *Peer // named ports resolve on the destination, in both directions
}

// target is the other side of the flow, as seen by the rules of the pod
// whose policies apply; its namespace labels are looked up on first use.
type target struct {
	peer     *Peer
	nsLabels map[string]map[string]string
	labels   map[string]string
	loaded   bool
}

func (t *target) namespaceLabels() map[string]string {
	if !t.loaded {
		t.labels, t.loaded = t.nsLabels[t.peer.Namespace], true
	}
	return t.labels
}

// judge fills s for the pod subject, whose policies in direction dir apply
// to traffic with other.
func (e *Engine) judge(s *Side, dir direction, subject, other *Peer, q *query) {
	s.Decision, s.Reason = Allow, ReasonNotIsolated
	idx := e.byNS[subject.Namespace]
	if idx == nil || len(idx.dirs[dir].all) == 0 {
		return
	}
	d := &idx.dirs[dir]
	t := target{peer: other, nsLabels: e.nsLabels}
	if len(d.all) > e.indexMin && e.judgeIndexed(s, d, dir, subject, &t, q) {
		return
	}
	for _, cp := range d.all {
		if !cp.podSel.matchesPod(subject.Labels) {
			continue
		}
		if s.NumIsolating < MaxIsolating {
			s.isolating[s.NumIsolating] = cp
		}
		s.NumIsolating++
		if s.Reason != ReasonRule {
			s.tryRules(cp, dir, &t, q)
		}
	}
	if s.NumIsolating > 0 && s.Reason != ReasonRule {
		s.Decision, s.Reason = Deny, ReasonNoRule
	}
}

// judgeIndexed finds the isolating policies through the selector index. It
// returns false, leaving s untouched, when they do not fit in a Side.
func (e *Engine) judgeIndexed(s *Side, d *dirIndex, dir direction, subject *Peer, t *target, q *query) bool {
	var c collector
	c.addAll(d.everything, subject.Labels)
	for i := range d.anchors {
		if v, ok := subject.Labels[d.anchors[i].key]; ok {
			c.addAll(d.anchors[i].byValue[v], subject.Labels)
		}
	}
	c.addAll(d.rest, subject.Labels)
	if c.overflow {
		return false
	}
	if c.n == 0 {
		return true
	}
	// Insertion sort: rules are tried, and reported, in namespace/name order.
	for i := 1; i < c.n; i++ {
		for j := i; j > 0 && c.pols[j].order < c.pols[j-1].order; j-- {
			c.pols[j], c.pols[j-1] = c.pols[j-1], c.pols[j]
		}
	}
	s.isolating, s.NumIsolating = c.pols, c.n
	for i := 0; i < c.n && s.Reason != ReasonRule; i++ {
		s.tryRules(c.pols[i], dir, t, q)
	}
	if s.Reason != ReasonRule {
		s.Decision, s.Reason = Deny, ReasonNoRule
	}
	return true
}

type collector struct {
	pols     [MaxIsolating]*compiledPolicy
	n        int
	overflow bool
}

func (c *collector) addAll(cands []*compiledPolicy, labels map[string]string) {
	for _, cp := range cands {
		if c.overflow || !cp.podSel.matchesPod(labels) {
			continue
		}
		if c.n == MaxIsolating {
			c.overflow = true
			return
		}
		c.pols[c.n] = cp
		c.n++
	}
}

// tryRules records the first rule of cp that allows the flow, if any.
func (s *Side) tryRules(cp *compiledPolicy, dir direction, t *target, q *query) {
	rules := cp.ingress
	if dir == dirEgress {
		rules = cp.egress
	}
	for i := range rules {
		r := &rules[i]
		port := -1
		if len(r.ports) != 0 {
			if port = matchPorts(r.ports, q); port < 0 {
				continue
			}
		}
		peer := -1
		if len(r.peers) != 0 {
			if peer = matchPeers(r.peers, cp.namespace, t); peer < 0 {
				continue
			}
		}
		s.Decision, s.Reason = Allow, ReasonRule
		s.By = RuleRef{Policy: cp.key, Rule: i, Peer: peer, Port: port}
		return
	}
}
