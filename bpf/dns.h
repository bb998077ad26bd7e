/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* DNS answers: the payload of every UDP or TCP packet from port 53 that
 * leaves the host towards a client is copied to a ring buffer. Userspace
 * parses it and names the addresses the client was given. */
#pragma once

#define DNS_PORT 53
/* The largest payload copied: a full-size UDP answer on a 1500 MTU link. */
#define DNS_MAX 1472

struct dns_event {
	__u64 ts;          /* jiffies, as flow times */
	__u8 client[16];   /* the answer's destination */
	__u8 server[16];   /* the answer's source */
	__u32 ifindex;
	__u16 len;         /* payload bytes copied */
	__u16 orig_len;    /* payload bytes in the packet */
	__u8 proto;        /* IPPROTO_UDP or IPPROTO_TCP (length-prefixed) */
	__u8 family;
	__u8 pad[6];
	__u8 payload[DNS_MAX];
};

/* Makes the event's BTF reach bpf2go, which declares its Go twin. */
const struct dns_event *unused_dns_event __attribute__((unused));

/* max_entries (bytes) is set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} dns_events SEC(".maps");

static __always_inline void dns_capture(struct __sk_buff *skb, const struct packet *p, __u64 now)
{
	if (p->key.sport != DNS_PORT)
		return;
	if (p->key.proto != IPPROTO_UDP && p->key.proto != IPPROTO_TCP)
		return;
	if (p->l3_len <= p->hdr_len)
		return; /* no payload: a bare TCP ACK */
	__u32 len = p->l3_len - p->hdr_len;
	__u32 n = len < DNS_MAX ? len : DNS_MAX;
	/* Keep the compiler from folding away the bounds the verifier needs. */
	barrier_var(n);
	if (n == 0 || n > DNS_MAX)
		return;

	struct dns_event *ev = bpf_ringbuf_reserve(&dns_events, sizeof(*ev), 0);
	if (!ev) {
		count(COUNTER_RINGBUF_FULL);
		return;
	}
	if (bpf_skb_load_bytes(skb, p->l3_off + p->hdr_len, ev->payload, n) != 0) {
		bpf_ringbuf_discard(ev, 0);
		count(COUNTER_PARSE_FAILURE);
		return;
	}
	ev->ts = now;
	copy_ip6(ev->client, p->key.daddr);
	copy_ip6(ev->server, p->key.saddr);
	ev->ifindex = p->key.ifindex;
	ev->len = n;
	ev->orig_len = len > 0xffff ? 0xffff : len;
	ev->proto = p->key.proto;
	ev->family = p->key.family;
	bpf_ringbuf_submit(ev, 0);
}
