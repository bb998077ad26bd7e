/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Loss counters: every packet or event the programs could not record is
 * counted here, per cause, so that userspace can report it. Per-CPU, so that
 * counting needs no atomic operation. */
#pragma once

enum counter {
	COUNTER_RINGBUF_FULL = 0, /* a DNS answer found the ring buffer full */
	COUNTER_FLOWS_FULL = 1,   /* a packet of a new flow found the flow map full */
	COUNTER_DROPS_FULL = 2,   /* a dropped packet found the drop map full */
	COUNTER_PARSE_FAILURE = 3, /* an IP packet whose headers could not be read */
	COUNTER_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, enum counter); /* keyed by the enum so that its BTF reaches Go */
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(enum counter which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);
	if (v)
		*v += 1;
}
