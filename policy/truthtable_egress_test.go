package policy

import (
	corev1 "k8s.io/api/core/v1"
)

func ttEgressAndBlockCases() []ttCase {
	probe := func(p corev1.Protocol, port int32, want string) ttProbe { return ttProbe{p, port, want} }
	return []ttCase{
		{name: "x/a may send to pod b of x on TCP 80 only",
			pols: pols(ttEgress("x", "p", sel("pod", "a"), toOn(ports(portNum(tcp, 80)), peerPods(sel("pod", "b"))))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   .   .   .   .   .   .   .
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), probe(tcp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "x may send to named port serve-81-tcp of the destination",
			pols: pols(ttEgress("x", "p", any0, toOn(ports(portName(tcp, "serve-81-tcp"))))), probes: []ttProbe{probe(tcp, 81, `
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
x/a  X   .   .   .   .   .   .   .   .
x/b  .   X   .   .   .   .   .   .   .
x/c  .   .   X   .   .   .   .   .   .
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), probe(udp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   .   .   .   .   .   .
x/b  .   X   .   .   .   .   .   .   .
x/c  .   .   X   .   .   .   .   .   .
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "x may send to y's pod addresses (ipBlock)",
			pols: pols(ttEgress("x", "p", any0, to(peerCIDR("10.0.2.0/24")))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   .   .   X   X   X   .   .   .
x/b  .   X   .   X   X   X   .   .   .
x/c  .   .   X   X   X   X   .   .   .
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "x/a accepts 10.0.0.0/16 except y and z/c (ipBlock except)",
			pols: pols(ttIngress("x", "p", sel("pod", "a"), from(peerCIDR("10.0.0.0/16", "10.0.2.0/24", "10.0.3.3/32")))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  .   X   X   X   X   X   X   X   X
y/b  .   X   X   X   X   X   X   X   X
y/c  .   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  .   X   X   X   X   X   X   X   X`)}},
		{name: "x accepts its own pod addresses (ipBlock)",
			pols: pols(ttIngress("x", "p", any0, from(peerCIDR("10.0.1.0/24")))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  .   .   .   X   X   X   X   X   X
y/b  .   .   .   X   X   X   X   X   X
y/c  .   .   .   X   X   X   X   X   X
z/a  .   .   .   X   X   X   X   X   X
z/b  .   .   .   X   X   X   X   X   X
z/c  .   .   .   X   X   X   X   X   X`)}},
		{name: "y may send SCTP 80-81 anywhere (endPort, SCTP)",
			pols: pols(ttEgress("y", "p", any0, toOn(ports(portRangeOf(sctp, 80, 81)), peerNS(any0)))), probes: []ttProbe{probe(sctp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`), probe(udp, 81, `
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  .   .   .   X   .   .   .   .   .
y/b  .   .   .   .   X   .   .   .   .
y/c  .   .   .   .   .   X   .   .   .
z/a  X   X   X   X   X   X   X   X   X
z/b  X   X   X   X   X   X   X   X   X
z/c  X   X   X   X   X   X   X   X   X`)}},
		{name: "z may send to 10.0.0.0/8 except x/b (ipBlock except, egress)",
			pols: pols(ttEgress("z", "p", any0, to(peerCIDR("10.0.0.0/8", "10.0.1.2/32")))), probes: []ttProbe{tcp80(`
-   x/a x/b x/c y/a y/b y/c z/a z/b z/c
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   X   X   X   X   X   X
y/b  X   X   X   X   X   X   X   X   X
y/c  X   X   X   X   X   X   X   X   X
z/a  X   .   X   X   X   X   X   X   X
z/b  X   .   X   X   X   X   X   X   X
z/c  X   .   X   X   X   X   X   X   X`)}},
	}
}
