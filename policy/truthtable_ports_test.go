package policy

import (
	corev1 "k8s.io/api/core/v1"
)

func ttPortAndAddressCases() []ttCase {
	podA := sel("pod", "a")
	probe := func(p corev1.Protocol, port int32, want string) ttProbe { return ttProbe{p, port, want} }
	return []ttCase{
		{name: "x/a accepts every namespace on TCP 80 only",
			pols: pols(ttIngress("x", "p", podA, fromOn(ports(portNum(tcp, 80)), peerNS(any0)))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), probe(tcp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  .   X   X   X   X   X   X   X   X
y/b  .   X   X   X   X   X   X   X   X
y/c  .   X   X   X   X   X   X   X   X
z/a  .   X   X   X   X   X   X   X   X
z/b  .   X   X   X   X   X   X   X   X
z/c  .   X   X   X   X   X   X   X   X`)}},
		{name: "x accepts named port serve-80-tcp",
			pols: pols(ttIngress("x", "p", any0, fromOn(ports(portName(tcp, "serve-80-tcp"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), probe(tcp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`), probe(udp, 80, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`)}},
		{name: "x accepts named port serve-81-udp",
			pols: pols(ttIngress("x", "p", any0, fromOn(ports(portName(udp, "serve-81-udp"))))), probes: []ttProbe{probe(udp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), probe(tcp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`)}},
		{name: "x accepts TCP 81 from every namespace",
			pols: pols(ttIngress("x", "p", any0, fromOn(ports(portNum(tcp, 81)), peerNS(any0)))), probes: []ttProbe{probe(tcp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`)}},
		{name: "x/a accepts namespace z on TCP 80-81 (endPort)",
			pols: pols(ttIngress("x", "p", podA, fromOn(ports(portRangeOf(tcp, 80, 81)), peerNS(sel("ns", "z"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  .   X   X   X   X   X   X   X   X
y/b  .   X   X   X   X   X   X   X   X
y/c  .   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), probe(tcp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  .   X   X   X   X   X   X   X   X
y/b  .   X   X   X   X   X   X   X   X
y/c  .   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), probe(udp, 80, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  .   X   X   X   X   X   X   X   X
x/c  .   X   X   X   X   X   X   X   X
y/a  .   X   X   X   X   X   X   X   X
y/b  .   X   X   X   X   X   X   X   X
y/c  .   X   X   X   X   X   X   X   X
z/a  .   X   X   X   X   X   X   X   X
z/b  .   X   X   X   X   X   X   X   X
z/c  .   X   X   X   X   X   X   X   X`)}},
		{name: "x accepts SCTP 80 only",
			pols: pols(ttIngress("x", "p", any0, fromOn(ports(portNum(sctp, 80))))), probes: []ttProbe{probe(sctp, 80, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`), probe(sctp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`)}},
		{name: "x accepts every UDP port (protocol without port)",
			pols: pols(ttIngress("x", "p", any0, fromOn(ports(portProto(udp))))), probes: []ttProbe{probe(udp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), probe(tcp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`)}},
		{name: "x/c accepts clients anywhere on TCP 81 and namespace y on any port",
			pols: pols(ttIngress("x", "p", sel("pod", "c"), fromOn(ports(portNum(tcp, 81)), peerNSPods(any0, sel("role", "client"))),
				from(peerNS(sel("ns", "y"))))), probes: []ttProbe{probe(tcp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   .   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   .   X   X   X   X   X   X
z/c  X   X   .   X   X   X   X   X   X`), tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   .   X   X   X   X   X   X
x/b  X   X   .   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   .   X   X   X   X   X   X
z/b  X   X   .   X   X   X   X   X   X
z/c  X   X   .   X   X   X   X   X   X`)}},
		{name: "x accepts ICMP only from rules without ports",
			pols: pols(ttIngress("x", "p", any0, fromOn(ports(portNum(tcp, 80))), from(peerNS(sel("ns", "y"))))), probes: []ttProbe{probe(ProtocolICMP, 0, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   X   X   X
x/b  .   X   .   X   X   X   X   X   X
x/c  .   .   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`), tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
	}
}
