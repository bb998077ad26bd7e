/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Drops: the skb:kfree_skb tracepoint, BTF-typed. The reason is checked
 * first against a bitmap in .rodata, so that a packet freed for any other
 * reason costs a load and a branch. Dropped packets are aggregated like
 * flows, in their own map, keyed with the reason. */
#pragma once

/* Kernel-internal structs: only the fields read, relocated by CO-RE. */
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct skb_shared_info {
	__u16 gso_segs;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
	unsigned int len;
	__be16 protocol;
	__u16 network_header;
	unsigned int end; /* sk_buff_data_t: an offset on 64-bit kernels */
	unsigned char *head;
	unsigned char *data;
} __attribute__((preserve_access_index));

/* Reasons to record: bit r of the mask is enum skb_drop_reason r. The loader
 * resolves reason names through the kernel's BTF and sets the bits. */
#define DROP_REASON_WORDS 8
volatile const __u64 drop_reason_mask[DROP_REASON_WORDS] = {};

/* The inode of the network namespace whose interfaces are watched: a drop
 * on a device of that namespace carries the device's ifindex, others 0. */
volatile const __u32 netns_ino = 0;

/* max_entries is set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} drops SEC(".maps");

/* drop_l4 copies the transport header at l4 out of kernel memory. */
static __always_inline int drop_l4(struct packet *p, const unsigned char *l4, int first)
{
	if (!first || l4_len(p->key.proto) == 0)
		return PARSE_OK;
	union l4_hdr h;
	if (bpf_probe_read_kernel(&h, sizeof(h), l4))
		return PARSE_SHORT;
	return fill_l4(p, p->key.proto, &h);
}

static __always_inline int drop_parse(struct packet *p, const unsigned char *l3, __be16 proto)
{
	if (proto == bpf_htons(ETH_P_IP)) {
		struct ip4_hdr ip;
		__u32 ihl;
		int first;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), l3))
			return PARSE_SHORT;
		int r = fill_ip4(p, &ip, &ihl, &first);
		if (r != PARSE_OK)
			return r;
		return drop_l4(p, l3 + ihl, first);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ip6_hdr ip;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), l3))
			return PARSE_SHORT;
		int r = fill_ip6(p, &ip);
		if (r != PARSE_OK)
			return r;
		__u8 nh = ip.nexthdr;
		__u32 off = sizeof(ip);
		int first = 1;
#pragma unroll
		for (int i = 0; i < IP6_EXT_MAX; i++) {
			if (!is_ip6_ext(nh))
				break;
			struct ip6_frag_hdr e;
			if (bpf_probe_read_kernel(&e, sizeof(e), l3 + off))
				return PARSE_SHORT;
			if (nh == IPPROTO_FRAGMENT)
				first = !(bpf_ntohs(e.frag_off) & 0xFFF8);
			__u32 len = ip6_ext_len(nh, (struct ip6_ext_hdr *)&e);
			nh = e.nexthdr;
			off += len;
		}
		p->key.proto = nh;
		p->hdr_len = off;
		return drop_l4(p, l3 + off, first);
	}
	return PARSE_NOT_IP;
}

/* tp_btf context: skb, location, reason (and rx_sk on newer kernels). */
SEC("tp_btf/kfree_skb")
int auditor_drops(__u64 *ctx)
{
	/* 64-bit all along: a 32-bit compare would leave the index unbounded
	 * for the verifier. The tracepoint zero-extends the enum. */
	__u64 reason = ctx[2];
	if (reason >= DROP_REASON_WORDS * 64)
		return 0;
	if (!(drop_reason_mask[reason / 64] & (1ULL << (reason % 64))))
		return 0;

	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	unsigned char *head = skb->head;
	const unsigned char *l3 = head + skb->network_header;
	struct packet p = {};
	int r = drop_parse(&p, l3, skb->protocol);
	if (r == PARSE_NOT_IP)
		return 0;
	if (r != PARSE_OK) {
		count(COUNTER_PARSE_FAILURE);
		return 0;
	}

	struct net_device *dev = skb->dev;
	if (dev && dev->nd_net.net->ns.inum == netns_ino)
		p.key.ifindex = dev->ifindex;
	p.key.dir = DIR_DROP;
	p.key.drop_reason = reason;

	struct skb_shared_info *shinfo = (struct skb_shared_info *)(head + skb->end);
	__u16 segs = 0;
	bpf_core_read(&segs, sizeof(segs), &shinfo->gso_segs);
	__u32 before = l3 - skb->data; /* bytes of skb->data ahead of the IP header */
	__u32 avail = skb->len > before ? skb->len - before : 0;
	if (l3 < skb->data)
		avail = skb->len; /* headers already pulled: data is past l3 */
	account(&drops, &p.key, segs > 1 ? segs : 1, ip_bytes(&p, avail, segs), p.flags,
		COUNTER_DROPS_FULL, bpf_jiffies64());
	return 0;
}
