/* SPDX-License-Identifier: BSD-3-Clause */
/* The worker flow table (dataplane/flow_table.h): set-up, insertion, statistics. */
#include <errno.h>
#include <stdint.h>

#include "dataplane/flow_table.h"

static __u32 flow_table_round_capacity(__u32 capacity)
{
	__u32 c = FLOW_TABLE_MIN;

	while (c < capacity)
		c <<= 1;
	return c;
}

size_t flow_table_mem_size(__u32 capacity)
{
	if (capacity < FLOW_TABLE_MIN || capacity > FLOW_TABLE_MAX)
		return 0;
	return (size_t)(flow_table_round_capacity(capacity) / FLOW_TABLE_WAYS) *
	       sizeof(struct flow_bucket);
}

int flow_table_init(struct flow_table *ft, void *mem, __u32 capacity)
{
	if (!flow_table_mem_size(capacity) || ((uintptr_t)mem % FLOW_TABLE_BUCKET) != 0)
		return -EINVAL;
	__u32 c = flow_table_round_capacity(capacity);

	ft->buckets = mem;
	ft->bucket_mask = c / FLOW_TABLE_WAYS - 1;
	ft->capacity = c;
	flow_table_clear(ft);
	return 0;
}

void flow_table_clear(struct flow_table *ft)
{
	memset(ft->buckets, 0, (size_t)(ft->bucket_mask + 1) * sizeof(struct flow_bucket));
}

__u32 flow_table_count_live(const struct flow_table *ft, __u32 now_s)
{
	__u32 live = 0;

	for (__u32 b = 0; b <= ft->bucket_mask; b++)
		for (int way = 0; way < FLOW_TABLE_WAYS; way++)
			live += __atomic_load_n(&ft->buckets[b].way[way].expires_s,
						__ATOMIC_RELAXED) > now_s;
	return live;
}

void flow_table_count_by_member(const struct flow_table *ft, __u32 now_s, __u64 *counts,
				__u32 count_size)
{
	for (__u32 b = 0; b <= ft->bucket_mask; b++) {
		const struct flow_bucket *bucket = &ft->buckets[b];
		for (int way = 0; way < FLOW_TABLE_WAYS; way++) {
			/* Relaxed loads: each field read once, whole, as the
			 * owner may be writing the slot. */
			__u32 expires = __atomic_load_n(&bucket->way[way].expires_s, __ATOMIC_RELAXED);
			__u32 member = __atomic_load_n(&bucket->way[way].member, __ATOMIC_RELAXED);
			if (expires > now_s && member < count_size)
				counts[member]++;
		}
	}
}

int flow_table_peek(const struct flow_table *ft, __u32 hash, __u64 fingerprint, __u32 now_s,
		    struct flow_slot *out)
{
	const struct flow_bucket *bucket = flow_table_bucket(ft, hash);

	for (int way = 0; way < FLOW_TABLE_WAYS; way++) {
		const struct flow_slot *slot = &bucket->way[way];
		out->fingerprint = __atomic_load_n(&slot->fingerprint, __ATOMIC_RELAXED);
		out->member = __atomic_load_n(&slot->member, __ATOMIC_RELAXED);
		out->expires_s = __atomic_load_n(&slot->expires_s, __ATOMIC_RELAXED);
		if (out->fingerprint == fingerprint && out->expires_s > now_s)
			return 1;
	}
	return 0;
}

enum flow_table_insert_result flow_table_insert(struct flow_table *ft, __u32 hash,
						__u64 fingerprint, __u32 member, __u32 now_s,
						__u32 expires_s)
{
	enum flow_table_insert_result result;

	flow_table_insert_slot(ft, hash, fingerprint, member, now_s, expires_s, &result);
	return result;
}

struct flow_slot *flow_table_insert_slot(struct flow_table *ft, __u32 hash, __u64 fingerprint,
					 __u32 member, __u32 now_s, __u32 expires_s,
					 enum flow_table_insert_result *result_out)
{
	struct flow_bucket *bucket = flow_table_bucket(ft, hash);
	enum flow_table_insert_result result;
	int victim = -1;

	for (int way = 0; way < FLOW_TABLE_WAYS; way++) {
		if (bucket->way[way].fingerprint == fingerprint && bucket->way[way].expires_s) {
			victim = way;
			break;
		}
	}
	if (victim >= 0) {
		result = FLOW_TABLE_REPLACED;
	} else {
		/* The way that expires first: a free one (0), else an expired
		 * one, else the live flow least recently seen. */
		victim = flow_table_oldest_way(bucket);
		result = bucket->way[victim].expires_s > now_s ? FLOW_TABLE_EVICTED
							       : FLOW_TABLE_INSERTED;
	}
	struct flow_slot *slot = &bucket->way[victim];
	slot->fingerprint = fingerprint;
	slot->member = member;
	__atomic_store_n(&slot->expires_s, expires_s, __ATOMIC_RELAXED);
	*result_out = result;
	return slot;
}
