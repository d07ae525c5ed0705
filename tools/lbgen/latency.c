/* SPDX-License-Identifier: BSD-3-Clause */
/* Latency histogram (tools/lbgen/latency.h). */
#include <string.h>

#include "tools/lbgen/latency.h"

#define LATENCY_SUB_COUNT (1u << LATENCY_SUB_BITS)

#define LATENCY_LOAD(p)	    __atomic_load_n((p), __ATOMIC_RELAXED)
#define LATENCY_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

void latency_init(struct latency *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = ~0ull;
}

__u32 latency_bucket(__u64 ns)
{
	if (ns < LATENCY_SUB_COUNT)
		return (__u32)ns;
	unsigned top = 63u - (unsigned)__builtin_clzll(ns); /* ns in [2^top, 2^(top + 1)) */
	if (top >= LATENCY_MAX_BITS)
		return LATENCY_BUCKETS - 1;
	unsigned shift = top - LATENCY_SUB_BITS;
	/* Octave (top - SUB_BITS + 1), and the SUB_BITS bits below the top. */
	return ((shift + 1) << LATENCY_SUB_BITS) + (__u32)((ns >> shift) - LATENCY_SUB_COUNT);
}

__u64 latency_bucket_max(__u32 bucket)
{
	if (bucket < LATENCY_SUB_COUNT)
		return bucket;
	if (bucket >= LATENCY_BUCKETS - 1)
		return ~0ull;
	unsigned shift = (bucket >> LATENCY_SUB_BITS) - 1;
	__u64 low = (__u64)(LATENCY_SUB_COUNT + (bucket & (LATENCY_SUB_COUNT - 1))) << shift;
	return low + (1ull << shift) - 1;
}

void latency_add(struct latency *h, __u64 ns)
{
	__u32 b = latency_bucket(ns);

	LATENCY_STORE(&h->buckets[b], h->buckets[b] + 1);
	LATENCY_STORE(&h->count, h->count + 1);
	LATENCY_STORE(&h->sum_ns, h->sum_ns + ns);
	if (ns < h->min_ns)
		LATENCY_STORE(&h->min_ns, ns);
	if (ns > h->max_ns)
		LATENCY_STORE(&h->max_ns, ns);
}

void latency_merge(struct latency *dst, const struct latency *src)
{
	for (__u32 b = 0; b < LATENCY_BUCKETS; b++)
		dst->buckets[b] += LATENCY_LOAD(&src->buckets[b]);
	dst->count += LATENCY_LOAD(&src->count);
	dst->sum_ns += LATENCY_LOAD(&src->sum_ns);
	__u64 min = LATENCY_LOAD(&src->min_ns), max = LATENCY_LOAD(&src->max_ns);
	if (min < dst->min_ns)
		dst->min_ns = min;
	if (max > dst->max_ns)
		dst->max_ns = max;
}

__u64 latency_percentile(const struct latency *h, double q)
{
	__u64 count = LATENCY_LOAD(&h->count), max = LATENCY_LOAD(&h->max_ns);

	if (!count)
		return 0;
	/* The rank of the sample wanted, 1-based, rounded up: p50 of 2
	 * samples is the first, p99.9 of 1000 is the 999th. */
	double want = q * (double)count;
	__u64 rank = (__u64)want;
	if ((double)rank < want)
		rank++;
	if (rank < 1)
		rank = 1;
	__u64 seen = 0;
	for (__u32 b = 0; b < LATENCY_BUCKETS; b++) {
		seen += LATENCY_LOAD(&h->buckets[b]);
		if (seen >= rank) {
			__u64 v = latency_bucket_max(b);
			return v < max ? v : max;
		}
	}
	return max; /* counts read while the writer moved on */
}
