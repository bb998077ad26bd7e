/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flows aggregated in the kernel: one hash map entry per flow key, updated
 * in place for every packet. Userspace drains the map with batch
 * lookup-and-delete; a packet that finds the map full is counted. */
#pragma once

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	__u64 first; /* jiffies: the loader pairs them with CLOCK_MONOTONIC */
	__u64 last;
	__u32 flags; /* TCP flags and CONN_* bits */
	__u32 pad;
};

/* max_entries is set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

static __always_inline void stats_add(struct flow_stats *v, __u64 packets, __u64 bytes,
				      __u32 flags, __u64 now)
{
	__sync_fetch_and_add(&v->packets, packets);
	__sync_fetch_and_add(&v->bytes, bytes);
	/* Racing writers store nearly equal times: last write wins. */
	v->last = now;
	/* Most packets add no new flag: skip the locked instruction then. */
	if ((v->flags | flags) != v->flags)
		__sync_fetch_and_or(&v->flags, flags);
}

/* account adds one packet (segs on the wire) to key's entry in map,
 * creating it if needed; a full map is counted under full_counter. now is
 * bpf_jiffies64(). */
static __always_inline void account(void *map, struct flow_key *key, __u64 segs, __u64 bytes,
				    __u32 flags, __u32 full_counter, __u64 now)
{
	struct flow_stats *v = bpf_map_lookup_elem(map, key);
	if (v) {
		stats_add(v, segs, bytes, flags, now);
		return;
	}
	struct flow_stats nv = {
		.packets = segs,
		.bytes = bytes,
		.first = now,
		.last = now,
		.flags = flags,
	};
	long err = bpf_map_update_elem(map, key, &nv, BPF_NOEXIST);
	if (err == 0)
		return;
	if (err == -EEXIST) {
		/* Another CPU created it in the meantime. */
		v = bpf_map_lookup_elem(map, key);
		if (v)
			stats_add(v, segs, bytes, flags, now);
		return;
	}
	count(full_counter);
}

/* mark_answered flags the flow that a SYN-ACK answers: the reverse tuple on
 * the same interface, seen in the other direction. */
static __always_inline void mark_answered(const struct flow_key *key)
{
	struct flow_key rev = *key;
	copy_ip6(rev.saddr, key->daddr);
	copy_ip6(rev.daddr, key->saddr);
	rev.sport = key->dport;
	rev.dport = key->sport;
	rev.dir = key->dir ^ 1;
	struct flow_stats *v = bpf_map_lookup_elem(&flows, &rev);
	if (v && !(v->flags & CONN_ANSWERED))
		__sync_fetch_and_or(&v->flags, CONN_ANSWERED);
}
