/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A worker's flow table: which backend each flow was given, so that table
 * changes never move an established connection whose backend is still there.
 *
 * One table per worker lcore, touched only by that lcore (the main lcore may
 * read it for statistics), so there are no locks and no atomic
 * read-modify-writes. It is bounded and never allocates: an 8-way
 * set-associative cache of 16-byte slots, a bucket being two adjacent cache
 * lines. A slot keeps a 64-bit fingerprint of the flow's 5-tuple, the
 * flow's member id and its expiry, so a lookup reads one 128-byte bucket and
 * nothing else, and a million flows fit in 32 MiB, within a server's L3.
 *
 * The fingerprint is a second hash, independent of the flow hash that picks
 * the bucket. Two live flows of one bucket are confused only if their 64-bit
 * fingerprints are equal: with 8 ways, about once in 2^61 lookups. Then the
 * flow would follow the other one's backend, as after a table change, and a
 * TCP SYN never asks the table anyway.
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
#define FLOW_TABLE_BUCKET    128 /* two lines, fetched together */
#define FLOW_TABLE_MIN       1024u
#define FLOW_TABLE_MAX       268435456u

struct flow_slot {
	__u64 fingerprint; /* flow_table_fingerprint() of the 5-tuple */
	__u32 member;      /* the backend: a member id of the table generation */
	__u32 expires_s;   /* live while now < expires_s; 0 = empty */
};

struct flow_bucket {
	struct flow_slot way[FLOW_TABLE_WAYS];
} __attribute__((aligned(FLOW_TABLE_BUCKET)));

struct flow_table {
	struct flow_bucket *buckets;
	__u32 bucket_mask;
	__u32 capacity; /* slots: buckets * FLOW_TABLE_WAYS */
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
 * 128-byte aligned; huge pages help). Returns 0 or -EINVAL.
 */
int flow_table_init(struct flow_table *ft, void *mem, __u32 capacity);

/* Forgets every flow. */
void flow_table_clear(struct flow_table *ft);

/* Entries that are live at now_s. Scans the whole table: statistics only;
 * any thread may call it while the owner works (counts are approximate). */
__u32 flow_table_count_live(const struct flow_table *ft, __u32 now_s);

/*
 * Adds to counts[m] the entries live at now_s that name member m, for every
 * m < count_size (entries naming larger ids are not counted). Scans the whole
 * table, like flow_table_count_live(), and may run on another thread while
 * the owner works: a slot the owner rewrites during the scan is counted in
 * its old state or its new one (or, torn between member and expiry, under
 * its new member with its old expiry). Statistics need no better.
 */
void flow_table_count_by_member(const struct flow_table *ft, __u32 now_s, __u64 *counts,
				__u32 count_size);

/*
 * Copies into *out the slot holding a live entry for the flow (hash =
 * flow_hash(key), fingerprint = flow_table_fingerprint(key)) without
 * extending its life. Returns 1 when found, else 0. Any thread, with the
 * same benign race as flow_table_count_by_member().
 */
int flow_table_peek(const struct flow_table *ft, __u32 hash, __u64 fingerprint, __u32 now_s,
		    struct flow_slot *out);

/*
 * The 64-bit fingerprint of a 5-tuple: the tuple's five 64-bit words, each
 * offset by a constant, multiplied in pairs to 128 bits and folded (the
 * "mum" step of wyhash), then MurmurHash3's 64-bit finaliser. The three
 * products are independent, so a core computes them side by side; the
 * constants are SplitMix64's and Murmur's. Unrelated to flow_hash().
 */
static inline __u64 flow_table_mum(__u64 a, __u64 b)
{
	unsigned __int128 p = (unsigned __int128)a * b;

	return (__u64)p ^ (__u64)(p >> 64);
}

static inline __u64 flow_table_fingerprint(const struct flow_tuple *t)
{
	__u64 w[5], h;

	_Static_assert(sizeof(struct flow_tuple) == sizeof(w), "flow_tuple is five words");
	memcpy(w, t, sizeof(w));
	h = flow_table_mum(w[0] ^ 0x9e3779b97f4a7c15ull, w[1] ^ 0xbf58476d1ce4e5b9ull) ^
	    flow_table_mum(w[2] ^ 0x94d049bb133111ebull, w[3] ^ 0xff51afd7ed558ccdull) ^
	    flow_table_mum(w[4] ^ 0xc4ceb9fe1a85ec53ull, 0x2545f4914f6cdd1dull);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static inline struct flow_bucket *flow_table_bucket(const struct flow_table *ft, __u32 hash)
{
	return &ft->buckets[hash & ft->bucket_mask];
}

/* Starts fetching the bucket a flow lives in (both of its lines). */
static inline void flow_table_prefetch(const struct flow_table *ft, __u32 hash)
{
	const char *b = (const char *)flow_table_bucket(ft, hash);

	__builtin_prefetch(b, 1, 3);
	__builtin_prefetch(b + FLOW_TABLE_CACHELINE, 1, 3);
}

/* The way whose slot expires first (free ways count as expiring at 0). */
static inline int flow_table_oldest_way(const struct flow_bucket *bucket)
{
	int oldest = 0;

	for (int way = 1; way < FLOW_TABLE_WAYS; way++)
		if (bucket->way[way].expires_s < bucket->way[oldest].expires_s)
			oldest = way;
	return oldest;
}

/*
 * Finds the live slot of a flow (hash = flow_hash(key), fingerprint =
 * flow_table_fingerprint(key)) and extends its life to expires_s. Returns
 * the slot, or NULL when the flow is unknown or expired. The caller may
 * change slot->member.
 */
static inline struct flow_slot *flow_table_find(struct flow_table *ft, __u32 hash,
						__u64 fingerprint, __u32 now_s, __u32 expires_s)
{
	struct flow_bucket *bucket = flow_table_bucket(ft, hash);

	for (int way = 0; way < FLOW_TABLE_WAYS; way++) {
		struct flow_slot *slot = &bucket->way[way];
		if (slot->fingerprint != fingerprint || slot->expires_s <= now_s)
			continue;
		__atomic_store_n(&slot->expires_s, expires_s, __ATOMIC_RELAXED);
		return slot;
	}
	return NULL;
}

/*
 * Remembers that a flow goes to member until expires_s: in the flow's own
 * way if it is there (even expired), else in a free or expired way, else in
 * place of the live flow that would expire first. Never fails.
 */
enum flow_table_insert_result flow_table_insert(struct flow_table *ft, __u32 hash,
						__u64 fingerprint, __u32 member, __u32 now_s,
						__u32 expires_s);

/* flow_table_insert() that also returns the slot it wrote. */
struct flow_slot *flow_table_insert_slot(struct flow_table *ft, __u32 hash, __u64 fingerprint,
					 __u32 member, __u32 now_s, __u32 expires_s,
					 enum flow_table_insert_result *result);

/*
 * New flows wait apart. A worker keeps two tables: `flows`, the flows that
 * have sent at least two packets, and a smaller `new_flows`, where a flow's
 * first packet leaves it (for a TCP SYN, or any first packet of a flow
 * unknown to both). Its second packet moves it into `flows`. A flood of
 * packets from random sources — SYNs, or anything else that never comes
 * twice — so only ever displaces other new flows, and never an
 * established one, however many packets it sends. A genuine connection
 * displaced from new_flows before its second packet loses nothing while the
 * ring is unchanged: its next packet takes the same ring slot.
 */
enum flow_found {
	FLOW_FOUND_NONE,      /* in neither table */
	FLOW_FOUND,           /* in flows */
	FLOW_FOUND_PROMOTED,  /* in new_flows: now moved into flows */
	FLOW_FOUND_PROMOTED_EVICTING, /* the same, and a live flow of flows gave way */
};

/*
 * Finds a flow in flows, else in new_flows, from which it is then promoted
 * into flows (keeping its member). Extends its life to expires_s (the
 * established timeout). Returns its slot in flows, or NULL; *found says
 * which case it was.
 */
static inline struct flow_slot *flow_tables_find(struct flow_table *flows,
						 struct flow_table *new_flows, __u32 hash,
						 __u64 fingerprint, __u32 now_s, __u32 expires_s,
						 enum flow_found *found)
{
	struct flow_slot *slot = flow_table_find(flows, hash, fingerprint, now_s, expires_s);
	enum flow_table_insert_result result;

	if (slot) {
		*found = FLOW_FOUND;
		return slot;
	}
	slot = flow_table_find(new_flows, hash, fingerprint, now_s, expires_s);
	if (!slot) {
		*found = FLOW_FOUND_NONE;
		return NULL;
	}
	__u32 member = slot->member;
	__atomic_store_n(&slot->expires_s, 0, __ATOMIC_RELAXED); /* the way is free again */
	slot = flow_table_insert_slot(flows, hash, fingerprint, member, now_s, expires_s, &result);
	*found = result == FLOW_TABLE_EVICTED ? FLOW_FOUND_PROMOTED_EVICTING : FLOW_FOUND_PROMOTED;
	return slot;
}

#endif /* FULCRUM_FLOW_TABLE_H */
