package anomaly

import (
	"net/netip"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/flow-auditor/flow-auditor/policy"
)

// block is one egress ipBlock of a policy.
type block struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

// Blocks indexes the egress ipBlocks of NetworkPolicies by policy
// ("namespace/name"). It is immutable once built; rebuild it with the
// policies.
type Blocks struct {
	byPolicy map[string][]block
}

// NewBlocks indexes the egress ipBlocks of policies. Invalid CIDRs are
// skipped: the engine reports them.
func NewBlocks(policies []*networkingv1.NetworkPolicy) *Blocks {
	b := &Blocks{byPolicy: make(map[string][]block)}
	for _, np := range policies {
		if np == nil {
			continue
		}
		var bs []block
		for _, rule := range np.Spec.Egress {
			for _, peer := range rule.To {
				if peer.IPBlock == nil {
					continue
				}
				cidr, err := netip.ParsePrefix(peer.IPBlock.CIDR)
				if err != nil {
					continue
				}
				bl := block{cidr: cidr.Masked()}
				for _, e := range peer.IPBlock.Except {
					if p, err := netip.ParsePrefix(e); err == nil {
						bl.except = append(bl.except, p.Masked())
					}
				}
				bs = append(bs, bl)
			}
		}
		if len(bs) > 0 {
			b.byPolicy[np.Namespace+"/"+np.Name] = bs
		}
	}
	return b
}

// names reports whether a rule of a policy isolating the source's egress
// names the private range r for dst: an ipBlock that holds dst (outside its
// excepts) and lies inside r. A broad block such as 0.0.0.0/0 holds dst but
// does not name r; a workload that no policy isolates names nothing.
func (b *Blocks) names(v *policy.Verdict, r netip.Prefix, dst netip.Addr) bool {
	if b == nil || v == nil || v.Egress.NumIsolating == 0 {
		return false
	}
	dst = dst.Unmap()
	for _, name := range v.Egress.Isolating() {
		for _, bl := range b.byPolicy[name] {
			if bl.cidr.Bits() < r.Bits() || !r.Contains(bl.cidr.Addr()) || !bl.cidr.Contains(dst) {
				continue
			}
			excluded := false
			for _, e := range bl.except {
				if e.Contains(dst) {
					excluded = true
					break
				}
			}
			if !excluded {
				return true
			}
		}
	}
	return false
}
