package demo

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/enrich"
	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/internal/podnet"
	"github.com/flow-auditor/flow-auditor/policy"
)

// chain is the iptables chain the demo's enforcement lives in.
const chain = "FLOW-AUDITOR-DEMO"

// allowRule is one allowed (source, destination, protocol, port) of the
// cluster, and the rule of policy that allows it.
type allowRule struct {
	Src, Dst    netip.Addr
	Protocol    flow.Protocol
	Port        uint16
	Explanation string
}

// allowList judges every (source, destination, port) pair of the scenario
// against the policies through the engine, as the agent judges flows:
// each pod and outside host as a source, against every other one on each
// port it serves. What the engine allows is the allow list; everything
// else is to be dropped.
func allowList(s *Scenario, ix *correlate.Index, engine *policy.Engine, at time.Time) []allowRule {
	type endpoint struct {
		ip    netip.Addr
		ports []Port
	}
	var eps []endpoint
	for _, p := range s.Pods {
		eps = append(eps, endpoint{p.IP, p.Ports})
	}
	for _, h := range s.Hosts {
		eps = append(eps, endpoint{h.IP, []Port{h.Port}})
	}
	judge := enrich.Judge{Engine: engine, Explain: true}
	var res correlate.Resolution
	var v policy.Verdict
	var out []allowRule
	for _, src := range eps {
		for _, dst := range eps {
			if src.ip == dst.ip {
				continue
			}
			for _, port := range dst.ports {
				rec := flow.Record{
					TimeFirst: at, TimeLast: at,
					Src:      flow.Endpoint{IP: src.ip, Port: 40000},
					Dst:      flow.Endpoint{IP: dst.ip, Port: port.Port},
					Protocol: flow.Protocol(port.Protocol),
				}
				ix.ResolveRecord(&rec, &res)
				judge.Evaluate(&rec, &res, &v)
				if rec.Verdict == "allow" {
					out = append(out, allowRule{src.ip, dst.ip, rec.Protocol, port.Port, rec.Explanation})
				}
			}
		}
	}
	return out
}

// iptablesRules renders the allow list as an iptables-restore input for the
// node namespace's filter table: replies of allowed connections pass
// (conntrack), each allowed pair passes, everything else forwarded between
// the pods and hosts is dropped (kernel drop reason NETFILTER_DROP).
func iptablesRules(rules []allowRule, names func(netip.Addr) string) string {
	var b strings.Builder
	b.WriteString("# flow-auditor demo: the ai-agents NetworkPolicies as iptables rules, generated\n")
	b.WriteString("# by judging every (source, destination, port) of the cluster with the policy engine.\n")
	b.WriteString("*filter\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n", chain)
	fmt.Fprintf(&b, "-A FORWARD -j %s\n", chain)
	fmt.Fprintf(&b, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n", chain)
	for _, r := range rules {
		comment := fmt.Sprintf("%s -> %s %s/%d", names(r.Src), names(r.Dst), r.Protocol, r.Port)
		fmt.Fprintf(&b, "# %s: %s\n", comment, r.Explanation)
		fmt.Fprintf(&b, "-A %s -s %s/32 -d %s/32 -p %s --dport %d -m comment --comment %q -j ACCEPT\n",
			chain, r.Src, r.Dst, strings.ToLower(string(r.Protocol)), r.Port, comment)
	}
	fmt.Fprintf(&b, "-A %s -m comment --comment \"denied by the NetworkPolicies\" -j DROP\n", chain)
	b.WriteString("COMMIT\n")
	return b.String()
}

// enforce loads the rules into the node namespace's iptables.
func enforce(nodeNS, rules string) error {
	if out, err := podnet.ExecInput(nodeNS, rules, "iptables-restore", "--noflush"); err != nil {
		return fmt.Errorf("load the enforcement rules: %w (%s)", err, strings.TrimSpace(out))
	}
	return nil
}
