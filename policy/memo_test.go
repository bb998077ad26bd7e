package policy

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMemoMatchesEngine judges random flows on random clusters through a
// Memo and directly, and wants the same verdict to the last field (rule,
// isolating policies, kinds). The clusters get twins: pods copied under
// another name, address and node, which share an identity with their
// original unless their address falls in other ipBlocks. Every flow is
// judged three times: the second and third must come from the memo.
func TestMemoMatchesEngine(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	g := gen{r: rand.New(rand.NewPCG(seed, 0x3e30))}
	shared, firsts := 0, 0
	for ci := range 300 {
		c := g.cluster()
		twins := addTwins(g, c)
		e, err := New(c.policies, c.namespaces)
		if err != nil {
			t.Fatalf("cluster %d: %v", ci, err)
		}
		for _, size := range []int{4, 0} {
			m := NewMemo(e, size)
			var flows []Flow
			for range 40 {
				f := g.flow(c)
				flows = append(flows, f)
				// The same flow between twins: mostly the same verdict.
				if ts, td := twins[f.Src], twins[f.Dst]; ts != nil || td != nil {
					f.Src, f.Dst = cmp.Or(ts, f.Src), cmp.Or(td, f.Dst)
					flows = append(flows, f)
				}
			}
			for round := range 3 {
				for i := range flows {
					f := &flows[i]
					before := len(m.verdicts)
					got := m.Judge(f)
					if want := e.Evaluate(f); !reflect.DeepEqual(got.Verdict, want) {
						t.Fatalf("seed %d cluster %d memo size %d: memo says\n  %s\nengine says\n  %s\n%s", seed, ci, size, got.Explain(), want.Explain(), c.dump(f))
					}
					if got.Explain() != got.Verdict.Explain() {
						t.Fatalf("explanation %q of verdict %q", got.Explain(), got.Verdict.Explain())
					}
					if size != 0 || samePod(f.Src, f.Dst) {
						continue
					}
					hit := len(m.verdicts) == before
					switch {
					case round > 0 && !hit:
						t.Fatalf("seed %d cluster %d: flow %d judged again in round %d", seed, ci, i, round)
					case round == 0:
						firsts++
						if hit {
							shared++
						}
					}
				}
			}
		}
	}
	// Twins and pods alike share verdicts the first time they are seen.
	if shared == 0 {
		t.Fatalf("no verdict of %d first judgements was shared", firsts)
	}
	t.Logf("%d first judgements, %d of them shared with an earlier flow", firsts, shared)
}

// addTwins copies some pods under another name, address and node, and
// returns each original's twin.
func addTwins(g gen, c *genCluster) map[*Peer]*Peer {
	twins := map[*Peer]*Peer{}
	n := len(c.peers)
	for i := range n {
		p := c.peers[i]
		if p.Kind != Pod || !g.chance(0.5) {
			continue
		}
		twin := *p
		twin.Name += "-twin"
		twin.NodeName = g.pick("n1", "n2")
		a := p.IP.As16()
		a[13] ^= 0x40
		twin.IP = netip.AddrFrom16(a)
		if p.IP.Is4() {
			twin.IP = twin.IP.Unmap()
		}
		c.peers = append(c.peers, &twin)
		twins[p] = &twin
	}
	return twins
}

// TestMemoPodsTellApart checks the cases where pods that look alike must
// not share a verdict: other labels, another namespace, another container
// port name, an address in another ipBlock; and the per-flow rules: a pod
// to itself, a node to a pod on it.
func TestMemoPodsTellApart(t *testing.T) {
	tcp := corev1.ProtocolTCP
	ns := []*corev1.Namespace{namespace("a"), namespace("b")}
	pols := []*networkingv1.NetworkPolicy{
		netpol("a", "deny", networkingv1.NetworkPolicySpec{PolicyTypes: typeBoth}),
		netpol("a", "web-in", networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			PolicyTypes: typeIngress,
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{portName(tcp, "http")},
				From:  []networkingv1.NetworkPolicyPeer{peerCIDR("10.0.0.0/24", "10.0.0.128/25")},
			}},
		}),
	}
	e := mustEngine(t, pols, ns)
	web := podPeer("a", "web-1", "10.0.1.1", "n1", map[string]string{"app": "web"}, cport("http", 8080, tcp))
	same := podPeer("a", "web-2", "10.0.1.2", "n2", map[string]string{"app": "web"}, cport("http", 8080, tcp))
	otherPort := podPeer("a", "web-3", "10.0.1.3", "n1", map[string]string{"app": "web"}, cport("web", 8080, tcp))
	otherNS := podPeer("b", "web-1", "10.0.2.1", "n1", map[string]string{"app": "web"}, cport("http", 8080, tcp))
	otherLabels := podPeer("a", "db-1", "10.0.1.4", "n1", map[string]string{"app": "db"}, cport("http", 8080, tcp))
	client := podPeer("b", "c-1", "10.0.0.5", "n1", nil)
	clientOut := podPeer("b", "c-2", "10.0.0.200", "n1", nil) // in the except
	node := nodePeer("192.168.0.1", "n1")

	m := NewMemo(e, 0)
	flows := []Flow{
		{Src: client, Dst: web, Protocol: tcp, Port: 8080},
		{Src: client, Dst: same, Protocol: tcp, Port: 8080},
		{Src: client, Dst: otherPort, Protocol: tcp, Port: 8080},
		{Src: client, Dst: otherNS, Protocol: tcp, Port: 8080},
		{Src: client, Dst: otherLabels, Protocol: tcp, Port: 8080},
		{Src: clientOut, Dst: web, Protocol: tcp, Port: 8080},
		{Src: web, Dst: web, Protocol: tcp, Port: 8080},
		{Src: web, Dst: same, Protocol: tcp, Port: 8080},
		{Src: node, Dst: web, Protocol: tcp, Port: 8080},
		{Src: node, Dst: same, Protocol: tcp, Port: 8080},
		{Src: client, Dst: web, Protocol: ProtocolICMP},
	}
	want := []string{"allow", "allow", "deny", "allow", "deny", "deny", "allow", "deny", "allow", "deny", "deny"}
	for round := range 2 {
		for i := range flows {
			got := m.Evaluate(&flows[i])
			if direct := e.Evaluate(&flows[i]); !reflect.DeepEqual(got, direct) {
				t.Fatalf("round %d flow %d: memo %q, engine %q", round, i, got.Explain(), direct.Explain())
			}
			if s := map[bool]string{true: "allow", false: "deny"}[got.Allowed()]; s != want[i] {
				t.Errorf("round %d flow %d (%s/%s -> %s/%s): %s, want %s: %s", round, i,
					flows[i].Src.Namespace, flows[i].Src.Name, flows[i].Dst.Namespace, flows[i].Dst.Name, s, want[i], got.Explain())
			}
		}
	}
	// web and same share an identity; the others do not.
	if m.ids[web] != m.ids[same] {
		t.Errorf("pods alike but for name, address and node got identities %d and %d", m.ids[web], m.ids[same])
	}
	for _, p := range []*Peer{otherPort, otherNS, otherLabels} {
		if m.ids[p] == m.ids[web] {
			t.Errorf("pod %s/%s shares web-1's identity", p.Namespace, p.Name)
		}
	}
}

// TestMemoManyIPBlocks: past maxMemoBlocks distinct ipBlocks the memo keys
// addresses themselves, and still agrees with the engine.
func TestMemoManyIPBlocks(t *testing.T) {
	var peers []networkingv1.NetworkPolicyPeer
	for i := range maxMemoBlocks + 6 {
		peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: fmt.Sprintf("198.51.%d.0/24", i)}})
	}
	pols := []*networkingv1.NetworkPolicy{netpol("a", "egress", networkingv1.NetworkPolicySpec{
		PolicyTypes: typeEgress,
		Egress:      []networkingv1.NetworkPolicyEgressRule{{To: peers}},
	})}
	e := mustEngine(t, pols, []*corev1.Namespace{namespace("a")})
	if len(e.ipBlocks) <= maxMemoBlocks {
		t.Fatalf("engine kept %d ipBlocks", len(e.ipBlocks))
	}
	src := podPeer("a", "p", "10.0.0.1", "n1", nil)
	m := NewMemo(e, 0)
	for round := range 2 {
		for i := range maxMemoBlocks + 10 {
			dst := extPeer(fmt.Sprintf("198.51.%d.9", i))
			f := Flow{Src: src, Dst: dst, Protocol: corev1.ProtocolTCP, Port: 443}
			got, want := m.Evaluate(&f), e.Evaluate(&f)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d to %s: memo %q, engine %q", round, dst.IP, got.Explain(), want.Explain())
			}
			if got.Allowed() != (i < maxMemoBlocks+6) {
				t.Fatalf("to %s: %s", dst.IP, got.Explain())
			}
		}
	}
}
