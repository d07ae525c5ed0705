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
	__u32 c = flow_table_round_capacity(capacity);
	return (size_t)(c / FLOW_TABLE_WAYS) * sizeof(struct flow_bucket) +
	       (size_t)c * sizeof(struct flow_entry);
}

int flow_table_init(struct flow_table *ft, void *mem, __u32 capacity)
{
	if (!flow_table_mem_size(capacity) || ((uintptr_t)mem % FLOW_TABLE_CACHELINE) != 0)
		return -EINVAL;
	__u32 c = flow_table_round_capacity(capacity);
	__u32 buckets = c / FLOW_TABLE_WAYS;

	ft->buckets = mem;
	ft->entries = (struct flow_entry *)(ft->buckets + buckets);
	ft->bucket_mask = buckets - 1;
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

	for (__u32 b = 0; b <= ft->bucket_mask; b++) {
		const struct flow_bucket *bucket = &ft->buckets[b];
		for (int way = 0; way < FLOW_TABLE_WAYS; way++) {
			__u32 hash = __atomic_load_n(&bucket->hash[way], __ATOMIC_RELAXED);
			__u32 expires = __atomic_load_n(&bucket->expires_s[way], __ATOMIC_RELAXED);
			live += hash != 0 && expires > now_s;
		}
	}
	return live;
}

enum flow_table_insert_result flow_table_insert(struct flow_table *ft, const struct flow_tuple *key,
						__u32 hash, __u32 member, __u32 now_s,
						__u32 expires_s)
{
	__u32 b = hash & ft->bucket_mask, tag = flow_table_tag(hash);
	struct flow_bucket *bucket = &ft->buckets[b];
	enum flow_table_insert_result result;
	int victim = -1;

	for (int way = 0; way < FLOW_TABLE_WAYS; way++) {
		if (bucket->hash[way] == tag &&
		    flow_table_key_equal(&ft->entries[(size_t)b * FLOW_TABLE_WAYS + way].key, key)) {
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
		result = bucket->hash[victim] != 0 && bucket->expires_s[victim] > now_s
				 ? FLOW_TABLE_EVICTED
				 : FLOW_TABLE_INSERTED;
	}
	struct flow_entry *e = &ft->entries[(size_t)b * FLOW_TABLE_WAYS + victim];
	e->key = *key;
	e->member = member;
	__atomic_store_n(&bucket->expires_s[victim], expires_s, __ATOMIC_RELAXED);
	__atomic_store_n(&bucket->hash[victim], tag, __ATOMIC_RELAXED);
	return result;
}
