package policy

import "net/netip"

// packPolicies copies compiled policies, in their sorted order, into a few
// contiguous arrays (policies, selector requirements, label values, rules,
// ports, peers, except blocks). An evaluation reads the policies of one
// namespace, which then share cache lines instead of being scattered over
// the heap: on a large cluster the evaluation is bound by memory, not code.
func packPolicies(in []*compiledPolicy) []*compiledPolicy {
	var a arena
	for _, cp := range in {
		a.countSelector(&cp.podSel)
		a.countRules(cp.ingress)
		a.countRules(cp.egress)
	}
	a.alloc()
	pols := make([]compiledPolicy, len(in))
	out := make([]*compiledPolicy, len(in))
	for i, cp := range in {
		p := &pols[i]
		*p = *cp
		p.podSel = a.selector(cp.podSel)
		p.ingress = a.rules(cp.ingress)
		p.egress = a.rules(cp.egress)
		out[i] = p
	}
	return out
}

type arena struct {
	nReq, nVal, nRule, nPort, nPeer, nSel, nExcept int

	reqs    []requirement
	vals    []string
	ruleArr []ruleMatcher
	ports   []portMatcher
	peers   []peerMatcher
	sels    []selector
	excepts []netip.Prefix
}

func (a *arena) countSelector(s *selector) {
	a.nReq += len(s.reqs)
	for i := range s.reqs {
		a.nVal += len(s.reqs[i].values)
	}
}

func (a *arena) countRules(rules []ruleMatcher) {
	a.nRule += len(rules)
	for i := range rules {
		a.nPort += len(rules[i].ports)
		a.nPeer += len(rules[i].peers)
		for j := range rules[i].peers {
			p := &rules[i].peers[j]
			a.nExcept += len(p.except)
			for _, s := range []*selector{p.podSel, p.nsSel} {
				if s != nil {
					a.nSel++
					a.countSelector(s)
				}
			}
		}
	}
}

// alloc sizes every array exactly: appends below never reallocate, so the
// subslices handed out stay valid.
func (a *arena) alloc() {
	a.reqs = make([]requirement, 0, a.nReq)
	a.vals = make([]string, 0, a.nVal)
	a.ruleArr = make([]ruleMatcher, 0, a.nRule)
	a.ports = make([]portMatcher, 0, a.nPort)
	a.peers = make([]peerMatcher, 0, a.nPeer)
	a.sels = make([]selector, 0, a.nSel)
	a.excepts = make([]netip.Prefix, 0, a.nExcept)
}

// take appends src to *dst and returns the appended part (nil when empty,
// which keeps the "no entries" checks on len working).
func take[T any](dst *[]T, src []T) []T {
	if len(src) == 0 {
		return nil
	}
	start := len(*dst)
	*dst = append(*dst, src...)
	return (*dst)[start:len(*dst):len(*dst)]
}

func (a *arena) selector(s selector) selector {
	reqs := take(&a.reqs, s.reqs)
	for i := range reqs {
		reqs[i].values = take(&a.vals, reqs[i].values)
	}
	return selector{reqs: reqs}
}

func (a *arena) selectorPtr(s *selector) *selector {
	if s == nil {
		return nil
	}
	a.sels = append(a.sels, a.selector(*s))
	return &a.sels[len(a.sels)-1]
}

func (a *arena) rules(rs []ruleMatcher) []ruleMatcher {
	out := take(&a.ruleArr, rs)
	for i := range out {
		out[i].ports = take(&a.ports, out[i].ports)
		peers := take(&a.peers, out[i].peers)
		for j := range peers {
			peers[j].except = take(&a.excepts, peers[j].except)
			peers[j].podSel = a.selectorPtr(peers[j].podSel)
			peers[j].nsSel = a.selectorPtr(peers[j].nsSel)
		}
		out[i].peers = peers
	}
	return out
}
