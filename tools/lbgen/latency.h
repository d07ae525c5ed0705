/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A latency histogram with log-linear buckets: values below 2^LATENCY_SUB_BITS
 * nanoseconds have a bucket each, and every power of two above is cut into
 * 2^LATENCY_SUB_BITS equal buckets, so any value is known to within 1/32
 * (3%) from 1 ns to about 18 minutes in 40 KiB. Minimum, maximum and sum are
 * kept exactly.
 *
 * One writer (lbgen's receiving lcore); readers on other lcores see counts
 * that may lag, never torn ones: every field is written and read with
 * relaxed atomics, which on x86-64 are plain moves.
 */
#ifndef FULCRUM_LBGEN_LATENCY_H
#define FULCRUM_LBGEN_LATENCY_H

#include <linux/types.h>

#define LATENCY_SUB_BITS 5
#define LATENCY_MAX_BITS 40 /* values from 2^40 ns on share one more, last bucket */
#define LATENCY_BUCKETS	 (((LATENCY_MAX_BITS - LATENCY_SUB_BITS + 1) << LATENCY_SUB_BITS) + 1)

struct latency {
	__u64 count;
	__u64 min_ns;
	__u64 max_ns;
	__u64 sum_ns;
	__u64 buckets[LATENCY_BUCKETS];
};

void latency_init(struct latency *h);

/* Records one sample. */
void latency_add(struct latency *h, __u64 ns);

/* Adds src's samples to dst. */
void latency_merge(struct latency *dst, const struct latency *src);

/*
 * The value at or below which a fraction q (0 < q <= 1) of the samples lie:
 * the upper bound of the bucket holding that sample, capped at the maximum,
 * so it never understates. 0 when there are no samples.
 */
__u64 latency_percentile(const struct latency *h, double q);

/* The bucket a value falls in, and the largest value of a bucket. */
__u32 latency_bucket(__u64 ns);
__u64 latency_bucket_max(__u32 bucket);

#endif /* FULCRUM_LBGEN_LATENCY_H */
