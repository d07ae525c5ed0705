/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A worker's flow table: which backend each flow was given, so that table
 * changes never move an established connection whose backend is still there.
 *
 * One table per worker lcore, touched only by that lcore (the main lcore may
 * read it for statistics), so there are no locks and no atomic
 * read-modify-writes. It is bounded and never allocates: an 8-way
 * set-associative cache whose buckets keep each way's 32-bit flow hash and
 * expiry time in one cache line, and whose entries (full 5-tuple and
 * backend) fill one cache line each. A lookup touches the bucket line and,
 * when a hash matches, one entry line; flow_table_prefetch() lets a burst
 * start both misses early.
 *
 * Why not rte_hash: a flow cache must forget — idle flows expire and, when a
 * bucket is full, the flow closest to expiry gives way — and rte_hash can
 * neither expire nor choose a victim without a separate scan. The table
 * here is the usual load-balancer flow cache (as in Katran's per-CPU LRU
 * map), sized once from the config.
 *
 * Times are whole seconds of the caller's clock; 0 is never a valid "now".
 */
#ifndef FULCRUM_FLOW_TABLE_H
#define FULCRUM_FLOW_TABLE_H

#include <stddef.h>
#include <string.h>
#include <linux/types.h>

#include "dataplane/flow_hash.h"

#define FLOW_TABLE_WAYS      8
#define FLOW_TABLE_CACHELINE 64
#define FLOW_TABLE_MIN       1024u
#define FLOW_TABLE_MAX       268435456u

struct flow_bucket {
	__u32 hash[FLOW_TABLE_WAYS];      /* flow hash of the way's entry; 0 = empty */
	__u32 expires_s[FLOW_TABLE_WAYS]; /* the entry is live while now < expires_s */
} __attribute__((aligned(FLOW_TABLE_CACHELINE)));

struct flow_entry {
	struct flow_tuple key;
	__u32 member; /* the backend: a member id of the table generation */
} __attribute__((aligned(FLOW_TABLE_CACHELINE)));

struct flow_table {
	struct flow_bucket *buckets;
	struct flow_entry *entries; /* FLOW_TABLE_WAYS per bucket */
	__u32 bucket_mask;
	__u32 capacity; /* entries: buckets * FLOW_TABLE_WAYS */
};

/* What flow_table_insert() had to do to make room. */
enum flow_table_insert_result {
	FLOW_TABLE_INSERTED,  /* into a free or expired way */
	FLOW_TABLE_REPLACED,  /* the same flow was there: updated in place */
	FLOW_TABLE_EVICTED,   /* a live flow was forgotten (the bucket was full) */
};

/*
 * Bytes of memory for a table of at least `capacity` entries (rounded up to
 * a power of two), to be passed to flow_table_init(). 0 when capacity is
 * outside FLOW_TABLE_MIN..FLOW_TABLE_MAX.
 */
size_t flow_table_mem_size(__u32 capacity);

/*
 * Lays out an empty table in mem (flow_table_mem_size(capacity) bytes,
 * 64-byte aligned; huge pages help). Returns 0 or -EINVAL.
 */
int flow_table_init(struct flow_table *ft, void *mem, __u32 capacity);

/* Forgets every flow. */
void flow_table_clear(struct flow_table *ft);

/* Entries that are live at now_s. Scans the whole table: statistics only;
 * any thread may call it while the owner works (counts are approximate). */
__u32 flow_table_count_live(const struct flow_table *ft, __u32 now_s);

/* A zero hash marks an empty way, so hash 0 is stored as 1. */
static inline __u32 flow_table_tag(__u32 hash)
{
	return hash ? hash : 1;
}

static inline struct flow_bucket *flow_table_bucket(const struct flow_table *ft, __u32 hash)
{
	return &ft->buckets[hash & ft->bucket_mask];
}

/* Starts fetching the bucket a flow lives in. */
static inline void flow_table_prefetch(const struct flow_table *ft, __u32 hash)
{
	__builtin_prefetch(flow_table_bucket(ft, hash), 1, 3);
}

/* The way whose entry expires first (free ways count as expiring at 0). */
static inline int flow_table_oldest_way(const struct flow_bucket *bucket)
{
	int oldest = 0;

	for (int way = 1; way < FLOW_TABLE_WAYS; way++)
		if (bucket->expires_s[way] < bucket->expires_s[oldest])
			oldest = way;
	return oldest;
}

/*
 * Second stage of prefetching, once the bucket has arrived: starts fetching
 * the entry that flow_table_find() or flow_table_insert() of this flow will
 * touch. Only a hint; the later call decides afresh.
 */
static inline void flow_table_prefetch_entry(const struct flow_table *ft, __u32 hash, __u32 now_s)
{
	__u32 b = hash & ft->bucket_mask, tag = flow_table_tag(hash);
	const struct flow_bucket *bucket = &ft->buckets[b];
	int way;

	for (way = 0; way < FLOW_TABLE_WAYS; way++)
		if (bucket->hash[way] == tag && bucket->expires_s[way] > now_s)
			break;
	if (way == FLOW_TABLE_WAYS)
		way = flow_table_oldest_way(bucket);
	__builtin_prefetch(&ft->entries[(size_t)b * FLOW_TABLE_WAYS + way], 1, 3);
}

static inline int flow_table_key_equal(const struct flow_tuple *a, const struct flow_tuple *b)
{
	__u64 x[5], y[5];

	_Static_assert(sizeof(struct flow_tuple) == sizeof(x), "flow_tuple is five words");
	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

/*
 * Finds the live entry of a flow (hash = flow_hash(key)) and extends its life
 * to expires_s. Returns the entry, or NULL when the flow is unknown or
 * expired. The caller may change entry->member.
 */
static inline struct flow_entry *flow_table_find(struct flow_table *ft,
						 const struct flow_tuple *key, __u32 hash,
						 __u32 now_s, __u32 expires_s)
{
	__u32 b = hash & ft->bucket_mask, tag = flow_table_tag(hash);
	struct flow_bucket *bucket = &ft->buckets[b];

	for (int way = 0; way < FLOW_TABLE_WAYS; way++) {
		if (bucket->hash[way] != tag || bucket->expires_s[way] <= now_s)
			continue;
		struct flow_entry *e = &ft->entries[(size_t)b * FLOW_TABLE_WAYS + way];
		if (!flow_table_key_equal(&e->key, key))
			continue;
		__atomic_store_n(&bucket->expires_s[way], expires_s, __ATOMIC_RELAXED);
		return e;
	}
	return NULL;
}

/*
 * Remembers that a flow goes to member until expires_s: in the flow's own
 * way if it is there (even expired), else in a free or expired way, else in
 * place of the live flow that would expire first. Never fails.
 */
enum flow_table_insert_result flow_table_insert(struct flow_table *ft, const struct flow_tuple *key,
						__u32 hash, __u32 member, __u32 now_s,
						__u32 expires_s);

#endif /* FULCRUM_FLOW_TABLE_H */
