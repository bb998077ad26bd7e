package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// The truth-table suite follows the Kubernetes e2e network policy tests:
// namespaces x, y, z each hold pods a, b and c, every pod serves ports 80
// and 81 over TCP, UDP and SCTP, and each case writes out the expected
// reachability matrix: rows are sources, columns destinations, X reachable,
// . not. A pod always reaches itself (design.md), so the diagonal is X.
//
// Labels: pods a {pod: a, role: client}, b {pod: b, role: server}, c {pod: c};
// namespaces x {ns: x, env: prod}, y {ns: y, env: dev}, z {ns: z}.
// Pod IPs: x/a 10.0.1.1 ... x/c 10.0.1.3, y/* 10.0.2.*, z/* 10.0.3.*.

type ttProbe struct {
	proto corev1.Protocol
	port  int32
	want  string
}

type ttCase struct {
	name   string
	pols   []*networkingv1.NetworkPolicy
	probes []ttProbe
}

var ttNames = []string{"x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c"}

func ttWorld() ([]*Peer, []*corev1.Namespace) {
	nss := []*corev1.Namespace{namespace("x", "ns", "x", "env", "prod"), namespace("y", "ns", "y", "env", "dev"), namespace("z", "ns", "z")}
	podLabels := map[string]map[string]string{
		"a": {"pod": "a", "role": "client"},
		"b": {"pod": "b", "role": "server"},
		"c": {"pod": "c"},
	}
	var ports []corev1.ContainerPort
	for _, p := range []corev1.Protocol{tcp, udp, sctp} {
		for _, n := range []int32{80, 81} {
			ports = append(ports, cport(fmt.Sprintf("serve-%d-%s", n, strings.ToLower(string(p))), n, p))
		}
	}
	var pods []*Peer
	for i, name := range ttNames {
		ns, pod := name[:1], name[2:]
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i/3 + 1), byte(i%3 + 1)})
		pods = append(pods, &Peer{Kind: Pod, IP: ip, Namespace: ns, Name: pod, Labels: podLabels[pod], Ports: ports, NodeName: "node-" + pod})
	}
	return pods, nss
}

func parseMatrix(t *testing.T, s string) [9][9]bool {
	t.Helper()
	var m [9][9]bool
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 10 {
		t.Fatalf("matrix has %d lines, want a header and 9 rows", len(lines))
	}
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "- "+strings.Join(ttNames, " ") {
		t.Fatalf("matrix header %q", got)
	}
	for i, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 10 || f[0] != ttNames[i] {
			t.Fatalf("matrix row %d: %q", i, line)
		}
		for j, c := range f[1:] {
			switch c {
			case "X":
				m[i][j] = true
			case ".":
			default:
				t.Fatalf("matrix row %s: cell %q", f[0], c)
			}
		}
	}
	return m
}

func printMatrix(got, want [9][9]bool) string {
	var b strings.Builder
	b.WriteString("-    " + strings.Join(ttNames, " ") + "   (! marks a wrong cell)\n")
	for i := range 9 {
		b.WriteString(ttNames[i] + " ")
		for j := range 9 {
			c := "."
			if got[i][j] {
				c = "X"
			}
			if got[i][j] != want[i][j] {
				c += "!"
			}
			fmt.Fprintf(&b, " %-3s", c)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestTruthTable(t *testing.T) {
	pods, nss := ttWorld()
	cases := append(append(append(ttIsolationCases(), ttSelectorCases()...), ttPortAndAddressCases()...), ttEgressAndBlockCases()...)
	npols := 0
	for _, tc := range cases {
		npols += len(tc.pols)
		t.Run(tc.name, func(t *testing.T) {
			for _, indexMin := range []int{defaultIndexMin, 0} {
				e, err := newEngine(tc.pols, nss, indexMin)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				for _, pr := range tc.probes {
					want := parseMatrix(t, pr.want)
					var got [9][9]bool
					for i, src := range pods {
						for j, dst := range pods {
							f := Flow{Src: src, Dst: dst, Protocol: pr.proto, Port: pr.port}
							got[i][j] = e.Evaluate(&f).Allowed()
						}
					}
					if got != want {
						t.Errorf("%s/%d (indexMin %d):\n%s", pr.proto, pr.port, indexMin, printMatrix(got, want))
					}
				}
			}
		})
	}
	t.Logf("%d cases, %d policies", len(cases), npols)
}
