/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Maglev table build time over a grid of pool sizes N and table sizes M.
 * Each figure is the median of BENCH_RUNS builds with min and max. Beside it,
 * the time to merely write M ring entries, measured in the same run: the
 * floor any builder pays, and the baseline the ratio is taken against.
 *
 *   make build/bench/bench_maglev && build/bench/bench_maglev
 */
#include <arpa/inet.h>
#include <string.h>

#include "controlplane/maglev.h"
#include "dataplane/flow_hash.h"
#include "tests/bench/bench.h"

static struct maglev_backend *pool_create(__u32 n)
{
	struct maglev_backend *pool = calloc(n, sizeof(*pool));

	if (!pool)
		exit(1);
	for (__u32 i = 0; i < n; i++) {
		pool[i].family = FLOW_FAMILY_IPV4;
		pool[i].addr[0] = htonl(0x0a000000u + i + 1);
		pool[i].port = htons(80);
		pool[i].weight = 100;
	}
	return pool;
}

/* Writing M entries once: what publishing a ring costs at the least. */
static double ring_fill_ms(__u32 *ring, __u32 m)
{
	double samples[BENCH_RUNS];

	for (int r = 0; r < BENCH_RUNS; r++) {
		uint64_t t0 = bench_now_ns();
		for (__u32 s = 0; s < m; s++)
			ring[s] = s ^ (__u32)r;
		__asm__ volatile("" : : "r"(ring) : "memory");
		samples[r] = (bench_now_ns() - t0) / 1e6;
	}
	return bench_summarize(samples, BENCH_RUNS).median;
}

int main(void)
{
	const __u32 pool_sizes[] = { 10, 100, 1000, 4096 };
	const __u32 table_sizes[] = { 65537, 655373 };

	bench_print_machine();
	printf("Maglev build, median of %d runs (min..max); ratio = build / ring write\n",
	       BENCH_RUNS);
	printf("%6s %8s %10s %18s %10s %8s\n", "N", "M", "build ms", "(min..max)",
	       "write ms", "ratio");
	for (size_t mi = 0; mi < sizeof(table_sizes) / sizeof(table_sizes[0]); mi++) {
		__u32 m = table_sizes[mi];
		__u32 *ring = calloc(m, sizeof(*ring));
		if (!ring)
			return 1;
		for (size_t ni = 0; ni < sizeof(pool_sizes) / sizeof(pool_sizes[0]); ni++) {
			__u32 n = pool_sizes[ni];
			struct maglev_backend *pool = pool_create(n);
			double samples[BENCH_RUNS];

			for (int r = 0; r < BENCH_RUNS; r++) {
				uint64_t t0 = bench_now_ns();
				if (maglev_build(pool, n, ring, m, NULL) != 0)
					return 1;
				samples[r] = (bench_now_ns() - t0) / 1e6;
			}
			struct bench_stat st = bench_summarize(samples, BENCH_RUNS);
			double floor_ms = ring_fill_ms(ring, m);
			printf("%6u %8u %10.3f %8.3f..%-8.3f %10.3f %8.1f\n", n, m, st.median,
			       st.min, st.max, floor_ms, st.median / floor_ms);
			free(pool);
		}
		free(ring);
	}
	return 0;
}
