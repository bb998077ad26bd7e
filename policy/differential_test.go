package policy

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/kube-network-policies/pkg/api"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
	"sigs.k8s.io/yaml"
)

var diffSeed = flag.Uint64("policy.seed", 0, "seed of TestDifferential (0: from the clock)")

// TestDifferential compares the engine with sigs.k8s.io/kube-network-policies
// v1.1.1 (networkpolicy.EvaluatePolicyDirection) on random clusters,
// policies and flows.
//
// The reference is fed what the API server would store, and the cases where
// it or design.md decide differently are left out:
//   - Policies are defaulted with Default (it crashes on a nil protocol and
//     ignores a policy without policyTypes). The engine gets them raw.
//   - `ingress: []` and `egress: []` are turned into nil for the reference,
//     which reads an empty list as allow-all; both mean "no rules", and the
//     API server itself stores them as absent.
//   - Container ports always carry a protocol: the reference compares an
//     empty one literally, the API server defaults it to TCP.
//   - Flows to a port are never to port 0: the reference turns a named port
//     into number 0 (IntValue) before resolving it.
//   - A pod talking to itself, and a node reaching a pod on the same node,
//     are allowed by design.md whatever the policies; the reference judges
//     them by policy. Those sides are not compared.
//   - Nodes and external addresses have no PodInfo, which is design.md's
//     choice for hostNetwork pods too: selectors never match them.
//
// The engine runs three times per cluster, scanning, through the selector
// index, and through a Memo, and each must agree with the reference.
func TestDifferential(t *testing.T) {
	seed := *diffSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -policy.seed=%d)", seed, seed)
	g := gen{r: rand.New(rand.NewPCG(seed, 0x5eed))}
	const clusters, flowsPerCluster = 600, 30
	compared, skipped, denied := 0, 0, 0
	ctx := context.Background()
	for ci := range clusters {
		c := g.cluster()
		var engines []func(*Flow) Verdict
		for _, indexMin := range []int{0, 1 << 30} {
			e, err := newEngine(c.policies, c.namespaces, indexMin)
			if err != nil {
				t.Fatalf("cluster %d: generated policies rejected: %v", ci, err)
			}
			engines = append(engines, e.Evaluate)
			if indexMin == 0 {
				// The memo over it, small enough to start over now and then.
				engines = append(engines, NewMemo(e, 8).Evaluate)
			}
		}
		ref := referencePolicies(c.policies)
		for range flowsPerCluster {
			f := g.flow(c)
			self := f.Src == f.Dst
			localNode := f.Src.Kind == Node && f.Src.NodeName == f.Dst.NodeName
			want := [2]Decision{None, None}
			if f.Src.Kind == Pod {
				want[0] = c.reference(ctx, ref, networkingv1.PolicyTypeEgress, f.Src, f.Dst, &f)
			}
			if f.Dst.Kind == Pod {
				want[1] = c.reference(ctx, ref, networkingv1.PolicyTypeIngress, f.Dst, f.Src, &f)
			}
			for ei, e := range engines {
				v := e(&f)
				got := [2]Decision{v.Egress.Decision, v.Ingress.Decision}
				for side := range 2 {
					if self || (side == 1 && localNode) {
						if ei == 0 {
							skipped++
						}
						continue
					}
					if ei == 0 && want[side] != None {
						compared++
						if want[side] == Deny {
							denied++
						}
					}
					if got[side] != want[side] {
						t.Fatalf("seed %d cluster %d engine %d: %s %s, reference %s\n%s\n%s", seed, ci, ei,
							[]string{"egress", "ingress"}[side], got[side], want[side], v.Explain(), c.dump(&f))
					}
				}
			}
		}
	}
	if clusters*flowsPerCluster < 10000 || compared < 10000 {
		t.Fatalf("only %d pod sides compared", compared)
	}
	t.Logf("%d clusters, %d flows: %d pod sides compared with the reference (%d denied), %d sides skipped (self, same-node)",
		clusters, clusters*flowsPerCluster, compared, denied, skipped)
}

// referencePolicies returns defaulted copies without empty rule lists.
func referencePolicies(ps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
	out := make([]*networkingv1.NetworkPolicy, len(ps))
	for i, p := range ps {
		p = p.DeepCopy()
		Default(p)
		if len(p.Spec.Ingress) == 0 {
			p.Spec.Ingress = nil
		}
		if len(p.Spec.Egress) == 0 {
			p.Spec.Egress = nil
		}
		out[i] = p
	}
	return out
}

// reference asks kube-network-policies for one side: subject is the pod whose
// policies apply, other the far end of the flow.
func (c *genCluster) reference(ctx context.Context, ps []*networkingv1.NetworkPolicy, dir networkingv1.PolicyType, subject, other *Peer, f *Flow) Decision {
	var selected []*networkingv1.NetworkPolicy
	for _, p := range ps {
		if p.Namespace == subject.Namespace && networkpolicy.MatchesSelector(&p.Spec.PodSelector, subject.Labels) {
			selected = append(selected, p)
		}
	}
	otherInfo := c.podInfo(other)
	otherIP := net.IP(other.IP.AsSlice())
	ok := networkpolicy.EvaluatePolicyDirection(ctx, selected, dir, c.podInfo(subject), int(f.Port), otherInfo, otherIP, int(f.Port), f.Protocol)
	if ok {
		return Allow
	}
	return Deny
}

func (c *genCluster) podInfo(p *Peer) *api.PodInfo {
	if p.Kind != Pod {
		return nil
	}
	info := &api.PodInfo{Name: p.Name, Labels: p.Labels,
		Namespace: &api.Namespace{Name: p.Namespace, Labels: c.nsLabels[p.Namespace]},
		Node:      &api.Node{Name: p.NodeName}}
	for _, cp := range p.Ports {
		info.ContainerPorts = append(info.ContainerPorts, &api.ContainerPort{Name: cp.Name, Port: cp.ContainerPort, Protocol: string(cp.Protocol)})
	}
	return info
}

// dump prints a failing case in full: namespaces, policies as given to the
// engine, and the flow.
func (c *genCluster) dump(f *Flow) string {
	var b strings.Builder
	peer := func(p *Peer) string {
		kind := []string{"external", "node", "pod"}[p.Kind]
		return fmt.Sprintf("%s %s ns=%q name=%q node=%q labels=%v ports=%v", kind, p.IP, p.Namespace, p.Name, p.NodeName, p.Labels, fmtPorts(p.Ports))
	}
	fmt.Fprintf(&b, "flow: %s %d\n  src: %s\n  dst: %s\n", f.Protocol, f.Port, peer(f.Src), peer(f.Dst))
	b.WriteString("namespace labels (as the engine sees them; unlisted ones have only their name):\n")
	for _, ns := range c.namespaces {
		fmt.Fprintf(&b, "  %s: %v\n", ns.Name, ns.Labels)
	}
	for _, p := range c.policies {
		y, _ := yaml.Marshal(p)
		b.WriteString("---\n" + string(y))
	}
	return b.String()
}

func fmtPorts(ps []corev1.ContainerPort) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s:%d/%s", p.Name, p.ContainerPort, p.Protocol))
	}
	return "[" + strings.Join(s, " ") + "]"
}
