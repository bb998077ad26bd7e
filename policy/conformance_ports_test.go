package policy

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

const (
	tcp  = corev1.ProtocolTCP
	udp  = corev1.ProtocolUDP
	sctp = corev1.ProtocolSCTP
)

func portCases() []semCase {
	in := func(p ...networkingv1.NetworkPolicyPort) []*networkingv1.NetworkPolicy {
		return pols(ingressTo("p", sel("app", "web"), fromOn(p)))
	}
	out := func(p ...networkingv1.NetworkPolicyPort) []*networkingv1.NetworkPolicy {
		return pols(egressFrom("p", sel("app", "web"), toOn(p)))
	}
	return []semCase{
		{name: "named port resolves on the destination pod's container port", pols: in(portName(tcp, "http")),
			flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow, explain: eNotIso + "; ingress allowed by prod/p rule 0 any peer port 0"},
		{name: "named port: the source's port of that name does not count", pols: in(portName(tcp, "http")),
			flow: tcpFlow(pCli, pWeb, 8080), egress: Allow, ingress: Deny},
		{name: "named port: the container port's protocol must match", pols: in(portName(udp, "http")),
			flow: flow(pCli, pWeb, udp, 80), egress: Allow, ingress: Deny},
		{name: "named port: UDP container port", pols: in(portName(udp, "dns")),
			flow: flow(pCli, pWeb, udp, 53), egress: Allow, ingress: Allow},
		{name: "named port: a container port without protocol is TCP", pols: in(portName(tcp, "alt")),
			flow: tcpFlow(pCli, pWeb, 8080), egress: Allow, ingress: Allow},
		{name: "named port: SCTP container port", pols: in(portName(sctp, "sig")),
			flow: flow(pCli, pWeb, sctp, 9000), egress: Allow, ingress: Allow},
		{name: "named port in an egress rule resolves on the destination pod", pols: out(portName(tcp, "http")),
			flow: tcpFlow(pWeb, pCli, 8080), egress: Allow, ingress: Allow},
		{name: "named port in an egress rule: the source's own port does not count", pols: out(portName(tcp, "http")),
			flow: tcpFlow(pWeb, pCli, 80), egress: Deny, ingress: Allow},
		{name: "named port never matches an external destination", pols: out(portName(tcp, "http")),
			flow: tcpFlow(pWeb, xPublic, 80), egress: Deny, ingress: None},
		{name: "named port never matches a node destination, even a hostNetwork pod with that port", pols: out(portName(tcp, "http")),
			flow: tcpFlow(pWeb, nHostNet, 80), egress: Deny, ingress: None},
		{name: "numeric port matches that port", pols: out(portNum(tcp, 443)), flow: tcpFlow(pWeb, xPublic, 443), egress: Allow, ingress: None},
		{name: "numeric port does not match the next one", pols: out(portNum(tcp, 443)), flow: tcpFlow(pWeb, xPublic, 444), egress: Deny, ingress: None},
		{name: "endPort: first port of the range", pols: out(portRangeOf(tcp, 8000, 8100)), flow: tcpFlow(pWeb, xPublic, 8000), egress: Allow, ingress: None},
		{name: "endPort: last port of the range", pols: out(portRangeOf(tcp, 8000, 8100)), flow: tcpFlow(pWeb, xPublic, 8100), egress: Allow, ingress: None},
		{name: "endPort: below the range", pols: out(portRangeOf(tcp, 8000, 8100)), flow: tcpFlow(pWeb, xPublic, 7999), egress: Deny, ingress: None},
		{name: "endPort: above the range", pols: out(portRangeOf(tcp, 8000, 8100)), flow: tcpFlow(pWeb, xPublic, 8101), egress: Deny, ingress: None},
		{name: "endPort equal to port is a single port", pols: out(portRangeOf(udp, 53, 53)), flow: flow(pWeb, xPublic, udp, 53), egress: Allow, ingress: None},
		{name: "SCTP port allows SCTP", pols: out(portNum(sctp, 9000)), flow: flow(pWeb, xPublic, sctp, 9000), egress: Allow, ingress: None},
		{name: "SCTP port does not allow TCP", pols: out(portNum(sctp, 9000)), flow: tcpFlow(pWeb, xPublic, 9000), egress: Deny, ingress: None},
		{name: "UDP port does not allow TCP", pols: out(portNum(udp, 53)), flow: tcpFlow(pWeb, xPublic, 53), egress: Deny, ingress: None},
		{name: "UDP port allows UDP", pols: out(portNum(udp, 53)), flow: flow(pWeb, xPublic, udp, 53), egress: Allow, ingress: None},
		{name: "protocol without port allows every port of that protocol", pols: out(portProto(udp)),
			flow: flow(pWeb, xPublic, udp, 12345), egress: Allow, ingress: None},
		{name: "protocol without port does not allow another protocol", pols: out(portProto(udp)),
			flow: tcpFlow(pWeb, xPublic, 12345), egress: Deny, ingress: None},
		{name: "the first matching port entry is reported", pols: out(portNum(tcp, 80), portNum(tcp, 443), portProto(tcp)),
			flow: tcpFlow(pWeb, xPublic, 443), egress: Allow, ingress: None,
			explain: "egress allowed by prod/p rule 0 any peer port 1; ingress none: destination is external"},
		{name: "ICMP is allowed by a rule without ports",
			pols: pols(egressFrom("p", any0, to(peerCIDR("0.0.0.0/0")))), flow: flow(pWeb, xPublic, ProtocolICMP, 0), egress: Allow, ingress: None},
		{name: "ICMP is not allowed by a rule with a protocol-only port",
			pols: pols(egressFrom("p", any0, toOn(ports(portProto(tcp), portProto(udp), portProto(sctp)), peerCIDR("0.0.0.0/0")))),
			flow: flow(pWeb, xPublic, ProtocolICMP, 0), egress: Deny, ingress: None},
		{name: "ICMP between pods follows rules without ports",
			pols: pols(ingressTo("p", any0, from(peerNS(sel("team", "red")))), ingressTo("q", any0, fromOn(ports(portNum(tcp, 80))))),
			flow: flow(pCli, pWeb, ProtocolICMP, 0), egress: Allow, ingress: Allow,
			explain: eNotIso + "; ingress allowed by prod/p rule 0 peer 0 any port"},
		{name: "the first allowing rule is reported",
			pols: pols(egressFrom("p", any0, toOn(ports(portNum(udp, 53))), to(peerCIDR("10.0.0.0/8")), to(peerCIDR("0.0.0.0/0")))),
			flow: tcpFlow(pWeb, pCli, 80), egress: Allow, ingress: Allow,
			explain: "egress allowed by prod/p rule 1 peer 0 any port; " + iNotIso},
	}
}

func addressCases() []semCase {
	llmEgress := pols(egressFrom("p", any0, to(peerCIDR("0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))))
	at := func(ip string) *Peer { return &Peer{Kind: External, IP: netip.MustParseAddr(ip)} }
	return []semCase{
		{name: "ipBlock allows a public address", pols: llmEgress, flow: tcpFlow(pWeb, xPublic, 443), egress: Allow, ingress: None,
			explain: "egress allowed by prod/p rule 0 peer 0 any port; ingress none: destination is external"},
		{name: "ipBlock except denies a private address", pols: llmEgress, flow: tcpFlow(pWeb, xPrivate, 443), egress: Deny, ingress: None},
		{name: "ipBlock except: last address of an excepted block", pols: llmEgress, flow: tcpFlow(pWeb, at("172.31.255.255"), 443), egress: Deny, ingress: None},
		{name: "ipBlock except: first address after an excepted block", pols: llmEgress, flow: tcpFlow(pWeb, at("172.32.0.0"), 443), egress: Allow, ingress: None},
		{name: "ipBlock does not match an address outside it",
			pols: pols(egressFrom("p", any0, to(peerCIDR("198.51.100.0/24")))), flow: tcpFlow(pWeb, xPublic, 443), egress: Deny, ingress: None},
		{name: "ipBlock excepts apply to pod addresses too", pols: llmEgress, flow: tcpFlow(pWeb, pCli, 443), egress: Deny, ingress: Allow},
		{name: "ipBlock matches pod addresses (egress)",
			pols: pols(egressFrom("p", any0, to(peerCIDR("10.0.2.0/24")))), flow: tcpFlow(pWeb, pCli, 80), egress: Allow, ingress: Allow},
		{name: "ipBlock matches pod addresses (ingress)",
			pols: pols(ingressTo("p", any0, from(peerCIDR("10.0.2.0/24")))), flow: tcpFlow(pCli, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "ipBlock matches a node address",
			pols: pols(ingressTo("p", any0, from(peerCIDR("192.168.0.0/24")))), flow: tcpFlow(nNode2, pWeb, 80), egress: None, ingress: Allow},
		{name: "IPv6 ipBlock matches an IPv6 address",
			pols: pols(egressFrom("p", any0, to(peerCIDR("2001:db8::/32", "2001:db8:dead::/48")))), flow: tcpFlow(pWeb, xPublic6, 443), egress: Allow, ingress: None},
		{name: "IPv6 ipBlock except",
			pols: pols(egressFrom("p", any0, to(peerCIDR("2001:db8::/32", "2001:db8:dead::/48")))), flow: tcpFlow(pWeb, at("2001:db8:dead::1"), 443), egress: Deny, ingress: None},
		{name: "an IPv4 address is not in an IPv6 block",
			pols: pols(egressFrom("p", any0, to(peerCIDR("::/0")))), flow: tcpFlow(pWeb, xPublic, 443), egress: Deny, ingress: None},
		{name: "an IPv6 address is not in an IPv4 block",
			pols: pols(egressFrom("p", any0, to(peerCIDR("0.0.0.0/0")))), flow: tcpFlow(pWeb, xPublic6, 443), egress: Deny, ingress: None},
		{name: "an IPv4-mapped IPv6 address is matched as IPv4",
			pols: pols(egressFrom("p", any0, to(peerCIDR("203.0.113.0/24")))), flow: tcpFlow(pWeb, at("::ffff:203.0.113.7"), 443), egress: Allow, ingress: None},
		{name: "IPv6 pod source matched by an IPv6 ipBlock",
			pols: pols(ingressTo("p", sel("app", "web"), from(peerCIDR("fd00::/8")))), flow: tcpFlow(pV6, pWeb, 80), egress: Allow, ingress: Allow},
		{name: "a peer without an address is not in any ipBlock",
			pols: pols(egressFrom("p", any0, to(peerCIDR("0.0.0.0/0")))), flow: tcpFlow(pWeb, &Peer{Kind: External}, 443), egress: Deny, ingress: None},
	}
}
