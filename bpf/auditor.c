// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* flow-auditor's kernel side: TCX (or cls_bpf) programs on the host side of
 * pod interfaces aggregate every flow, the kfree_skb tracepoint records the
 * drops, and DNS answers are copied to a ring buffer. None of the programs
 * changes a packet's fate. */

#include "types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "counters.h"
#include "parse.h"
#include "flows.h"
#include "dns.h"
#include "drops.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Headers pulled into the linear area when they are not there already. */
#define PULL_LEN 256

static __always_inline int observe(struct __sk_buff *skb, __u8 dir)
{
	struct packet p = {};
	int r = parse_frame(&p, (void *)(long)skb->data, (void *)(long)skb->data_end);
	if (r == PARSE_SHORT && skb->len > skb->data_end - skb->data) {
		/* Non-linear skb: pull the headers in and parse again. */
		if (bpf_skb_pull_data(skb, skb->len < PULL_LEN ? skb->len : PULL_LEN) == 0) {
			__builtin_memset(&p, 0, sizeof(p));
			r = parse_frame(&p, (void *)(long)skb->data, (void *)(long)skb->data_end);
		}
	}
	if (r == PARSE_NOT_IP)
		return TC_ACT_UNSPEC;
	if (r != PARSE_OK) {
		count(COUNTER_PARSE_FAILURE);
		return TC_ACT_UNSPEC;
	}

	/* Times are jiffies: the verifier turns bpf_jiffies64() into one load,
	 * where even the coarse clock is a helper call (~13 ns a packet, a
	 * third of the known-flow cost). The resolution is the same: the coarse
	 * clock also moves once a tick. The loader pairs jiffies with
	 * CLOCK_MONOTONIC (auditor_clock below). DNS answers and drops use the
	 * same clock, so that an answer never looks later than the connection
	 * that followed. */
	__u64 now = bpf_jiffies64();
	p.key.ifindex = skb->ifindex;
	p.key.dir = dir;
	__u32 segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	__u32 avail = skb->len > p.l3_off ? skb->len - p.l3_off : 0;
	account(&flows, &p.key, segs, ip_bytes(&p, avail, segs), p.flags, COUNTER_FLOWS_FULL,
		now);
	if (p.flags & CONN_SYNACK)
		mark_answered(&p.key);
	if (dir == DIR_EGRESS)
		dns_capture(skb, &p, now);
	return TC_ACT_UNSPEC;
}

SEC("tcx/ingress")
int auditor_ingress(struct __sk_buff *skb)
{
	return observe(skb, DIR_INGRESS);
}

SEC("tcx/egress")
int auditor_egress(struct __sk_buff *skb)
{
	return observe(skb, DIR_EGRESS);
}

/* auditor_clock is never attached: the loader runs it (BPF_PROG_RUN) on a
 * frame of at least 16 bytes, which it overwrites with jiffies and the
 * coarse CLOCK_MONOTONIC read at the same moment. One jiffy lasts the
 * coarse clock's resolution (clock_getres), so the pair converts every
 * jiffies value the programs store. */
SEC("tc")
int auditor_clock(struct __sk_buff *skb)
{
	__u64 *out = (void *)(long)skb->data;
	if ((void *)(out + 2) > (void *)(long)skb->data_end)
		return TC_ACT_UNSPEC;
	out[0] = bpf_jiffies64();
	out[1] = bpf_ktime_get_coarse_ns();
	return TC_ACT_UNSPEC;
}
