/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing: from an Ethernet frame (TC programs, direct packet access)
 * or from headers copied out of kernel memory (drops.h) to a flow key. */
#pragma once

/* flow_key is one aggregation bucket. Every byte is written (the key is
 * hashed), IPv4 addresses are mapped into IPv6 (::ffff:a.b.c.d), and for
 * ICMP the ports carry the type (sport) and the code (dport). */
struct flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 ifindex;
	__u32 drop_reason; /* enum skb_drop_reason; 0 for packets not dropped */
	__u8 proto;
	__u8 dir; /* enum direction */
	__u8 family; /* 4 or 6 */
	__u8 pad;
};

enum direction {
	DIR_INGRESS = 0, /* into the host through the interface */
	DIR_EGRESS = 1,  /* out of the host through the interface */
	DIR_DROP = 2,    /* freed by the kernel with a drop reason */
};

/* Bits of flow_stats.flags: the TCP flags seen (low 9 bits) and what the
 * handshake said about the connection. */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define CONN_SYN (1U << 16)      /* sent a SYN without ACK: the source connected */
#define CONN_SYNACK (1U << 17)   /* sent a SYN-ACK: the destination connected */
#define CONN_ANSWERED (1U << 18) /* this direction's SYN got a SYN-ACK back */

struct packet {
	struct flow_key key;
	__u32 l3_off;  /* offset of the IP header from the start of the frame */
	__u32 l3_len;  /* IP length from the header (0: unknown) */
	__u32 hdr_len; /* IP and transport header bytes */
	__u32 flags;
};

enum parse_result {
	PARSE_OK = 0,
	PARSE_NOT_IP = 1, /* ARP and the like: not ours to count */
	PARSE_SHORT = 2,  /* headers beyond the readable data */
	PARSE_BAD = 3,    /* malformed headers */
};

#define IP6_EXT_MAX 4

union l4_hdr {
	struct ports_hdr ports;
	struct tcp_hdr tcp;
	struct icmp_hdr icmp;
};

static __always_inline void map_ip4(__u8 *dst, __be32 addr)
{
	__u32 *w = (__u32 *)dst;
	w[0] = 0;
	w[1] = 0;
	w[2] = bpf_htonl(0x0000ffff);
	w[3] = addr;
}

static __always_inline void copy_ip6(__u8 *dst, const __u8 *src)
{
	__u32 *d = (__u32 *)dst;
	const __u32 *s = (const __u32 *)src;
	d[0] = s[0];
	d[1] = s[1];
	d[2] = s[2];
	d[3] = s[3];
}

/* l4_len is how many bytes of the transport header fill_l4 reads. */
static __always_inline __u32 l4_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcp_hdr);
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		return sizeof(struct ports_hdr);
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return sizeof(struct icmp_hdr);
	}
	return 0;
}

/* fill_l4 reads ports (or ICMP type and code) and TCP flags; l4 holds at
 * least l4_len(proto) readable bytes. */
static __always_inline int fill_l4(struct packet *p, __u8 proto, const union l4_hdr *l4)
{
	switch (proto) {
	case IPPROTO_TCP: {
		__u32 doff = (l4->tcp.doff_ns >> 4) * 4;
		if (doff < sizeof(struct tcp_hdr))
			return PARSE_BAD;
		__u32 f = l4->tcp.flags | ((__u32)(l4->tcp.doff_ns & 1) << 8);
		if (f & TCP_SYN)
			f |= (f & TCP_ACK) ? CONN_SYNACK : CONN_SYN;
		p->flags = f;
		p->key.sport = bpf_ntohs(l4->tcp.sport);
		p->key.dport = bpf_ntohs(l4->tcp.dport);
		p->hdr_len += doff;
		return PARSE_OK;
	}
	case IPPROTO_UDP:
		p->key.sport = bpf_ntohs(l4->ports.sport);
		p->key.dport = bpf_ntohs(l4->ports.dport);
		p->hdr_len += 8;
		return PARSE_OK;
	case IPPROTO_SCTP:
		p->key.sport = bpf_ntohs(l4->ports.sport);
		p->key.dport = bpf_ntohs(l4->ports.dport);
		p->hdr_len += 12;
		return PARSE_OK;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		p->key.sport = l4->icmp.type;
		p->key.dport = l4->icmp.code;
		p->hdr_len += 8;
		return PARSE_OK;
	}
	return PARSE_OK; /* another protocol: addresses only */
}

static __always_inline int fill_ip4(struct packet *p, const struct ip4_hdr *ip, __u32 *ihl, int *first)
{
	*ihl = (ip->ver_ihl & 0x0f) * 4;
	if ((ip->ver_ihl >> 4) != 4 || *ihl < sizeof(*ip))
		return PARSE_BAD;
	p->key.family = 4;
	p->key.proto = ip->protocol;
	map_ip4(p->key.saddr, ip->saddr);
	map_ip4(p->key.daddr, ip->daddr);
	p->l3_len = bpf_ntohs(ip->tot_len);
	p->hdr_len = *ihl;
	*first = !(bpf_ntohs(ip->frag_off) & IP_OFFSET);
	return PARSE_OK;
}

static __always_inline int fill_ip6(struct packet *p, const struct ip6_hdr *ip)
{
	if ((*(const __u8 *)ip >> 4) != 6)
		return PARSE_BAD;
	p->key.family = 6;
	copy_ip6(p->key.saddr, ip->saddr);
	copy_ip6(p->key.daddr, ip->daddr);
	p->l3_len = bpf_ntohs(ip->payload_len) + sizeof(*ip);
	return PARSE_OK;
}

static __always_inline int is_ip6_ext(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_DSTOPTS || nexthdr == IPPROTO_AH ||
	       nexthdr == IPPROTO_FRAGMENT;
}

/* ip6_ext_len is the length of the extension header e of type nexthdr. */
static __always_inline __u32 ip6_ext_len(__u8 nexthdr, const struct ip6_ext_hdr *e)
{
	if (nexthdr == IPPROTO_FRAGMENT)
		return sizeof(struct ip6_frag_hdr);
	if (nexthdr == IPPROTO_AH)
		return ((__u32)e->hdrlen + 2) * 4;
	return ((__u32)e->hdrlen + 1) * 8;
}

/* pkt_l4 parses the transport header at l4 in packet memory. */
static __always_inline int pkt_l4(struct packet *p, void *l4, void *end, int first)
{
	if (!first)
		return PARSE_OK; /* a later fragment carries no transport header */
	__u32 need = l4_len(p->key.proto);
	if (need == 0)
		return PARSE_OK;
	if (l4 + need > end)
		return PARSE_SHORT;
	return fill_l4(p, p->key.proto, l4);
}

static __always_inline int pkt_ip4(struct packet *p, void *l3, void *end)
{
	struct ip4_hdr *ip = l3;
	__u32 ihl;
	int first;
	if ((void *)(ip + 1) > end)
		return PARSE_SHORT;
	int r = fill_ip4(p, ip, &ihl, &first);
	if (r != PARSE_OK)
		return r;
	return pkt_l4(p, l3 + ihl, end, first);
}

static __always_inline int pkt_ip6(struct packet *p, void *l3, void *end)
{
	struct ip6_hdr *ip = l3;
	if ((void *)(ip + 1) > end)
		return PARSE_SHORT;
	int r = fill_ip6(p, ip);
	if (r != PARSE_OK)
		return r;
	__u8 nh = ip->nexthdr;
	__u32 off = sizeof(*ip);
	int first = 1;
#pragma unroll
	for (int i = 0; i < IP6_EXT_MAX; i++) {
		if (!is_ip6_ext(nh))
			break;
		/* The fragment header is the largest one read: 8 bytes. */
		struct ip6_frag_hdr *e = l3 + off;
		if ((void *)(e + 1) > end)
			return PARSE_SHORT;
		if (nh == IPPROTO_FRAGMENT)
			first = !(bpf_ntohs(e->frag_off) & 0xFFF8);
		__u32 len = ip6_ext_len(nh, (struct ip6_ext_hdr *)e);
		nh = e->nexthdr;
		off += len;
	}
	p->key.proto = nh;
	p->hdr_len = off;
	return pkt_l4(p, l3 + off, end, first);
}

/* parse_frame parses an Ethernet frame, with up to two VLAN tags, into p. */
static __always_inline int parse_frame(struct packet *p, void *data, void *end)
{
	struct eth_hdr *eth = data;
	if ((void *)(eth + 1) > end)
		return PARSE_SHORT;
	__be16 proto = eth->proto;
	void *l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *v = l3;
		if ((void *)(v + 1) > end)
			return PARSE_SHORT;
		proto = v->proto;
		l3 = v + 1;
	}
	p->l3_off = l3 - data;
	if (proto == bpf_htons(ETH_P_IP))
		return pkt_ip4(p, l3, end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return pkt_ip6(p, l3, end);
	return PARSE_NOT_IP;
}

/* ip_bytes is the IP length of what the skb carries: the header's length for
 * one packet, or, for a GSO packet that stands for segs packets on the wire,
 * its payload plus one set of headers per segment. avail is the skb's
 * length from the IP header on. */
static __always_inline __u64 ip_bytes(const struct packet *p, __u32 avail, __u32 segs)
{
	if (segs > 1)
		return (__u64)avail + (__u64)(segs - 1) * p->hdr_len;
	if (p->l3_len > 0 && p->l3_len <= avail)
		return p->l3_len;
	return avail;
}
