/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Maglev table build time over a grid of pool sizes N and table sizes M.
 * Each figure is the median of the runs (7 unless --runs) with min and max.
 * Beside each build, right after it, the time to merely write the M ring
 * entries: the floor any builder pays, and the baseline the ratio is taken
 * against, run by run. --json FILE writes the figures for the suite too
 * (tests/bench/bench.h); each M's baseline there is all its ring writes.
 *
 *   make build/bench/bench_maglev && build/bench/bench_maglev [--runs N] [--json FILE]
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

/* Writing M entries once: what publishing a ring costs at the least. In ms. */
static double ring_fill_ms(__u32 *ring, __u32 m, int run)
{
	uint64_t t0 = bench_now_ns();

	for (__u32 s = 0; s < m; s++)
		ring[s] = s ^ (__u32)run;
	__asm__ volatile("" : : "r"(ring) : "memory");
	return (double)(bench_now_ns() - t0) / 1e6;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_maglev [--runs N] [--json FILE]\n" BENCH_OPTIONS_RUNS_USAGE
			BENCH_OPTIONS_USAGE);
}

int main(int argc, char **argv)
{
	static const __u32 pool_sizes[] = { 10, 100, 1000, 4096 };
	static const __u32 table_sizes[] = { 65537, 655373 };
	enum { NS = sizeof(pool_sizes) / sizeof(pool_sizes[0]) };
	struct bench_options o;
	struct bench_json json;
	int err;

	if (bench_options_take(&argc, argv, BENCH_RUNS, &o) < 0 || argc != 1) {
		usage();
		return 2;
	}
	if ((err = bench_json_open(&json, o.json_path, "bench_maglev", o.runs)) < 0) {
		fprintf(stderr, "bench_maglev: %s: %s\n", o.json_path, strerror(-err));
		return 1;
	}
	bench_json_context(&json, "baseline", "writing the M ring entries once, after each build");
	bench_print_machine();
	printf("Maglev build, median of %d runs (min..max); ratio = build / ring write, run by "
	       "run\n",
	       o.runs);
	printf("%6s %8s %10s %18s %10s %8s %s\n", "N", "M", "build ms", "(min..max)", "write ms",
	       "ratio", "(min..max)");
	for (size_t mi = 0; mi < sizeof(table_sizes) / sizeof(table_sizes[0]); mi++) {
		__u32 m = table_sizes[mi];
		__u32 *ring = calloc(m, sizeof(*ring));
		struct bench_figure builds[NS];
		/* Every ring write of this table size: its baseline. */
		double fills[NS * BENCH_RUNS_MAX];
		char names[NS][48], base_name[48];

		if (!ring)
			return 1;
		snprintf(base_name, sizeof(base_name), "ring write, M=%u", m);
		for (int ni = 0; ni < NS; ni++) {
			__u32 n = pool_sizes[ni];
			struct maglev_backend *pool = pool_create(n);
			double build[BENCH_RUNS_MAX], *fill = fills + ni * o.runs;

			/* The floor right after each build, so that both see the
			 * same moment of a shared machine. */
			for (int r = 0; r < o.runs; r++) {
				uint64_t t0 = bench_now_ns();
				if (maglev_build(pool, n, ring, m, NULL) != 0)
					return 1;
				build[r] = (double)(bench_now_ns() - t0) / 1e6;
				fill[r] = ring_fill_ms(ring, m, r);
			}
			snprintf(names[ni], sizeof(names[ni]), "N=%u, M=%u", n, m);
			builds[ni] = (struct bench_figure){
				.name = names[ni], .unit = "ms", .better = BENCH_LOWER_BETTER,
				.runs = o.runs, .baseline = base_name,
				.ratio_method = BENCH_RATIO_PAIRED,
				.ratio = bench_ratio_paired(build, fill, o.runs),
			};
			builds[ni].value = bench_summarize(build, o.runs);
			const struct bench_stat *st = &builds[ni].value, *ratio = &builds[ni].ratio;
			double floor_ms = bench_summarize(fill, o.runs).median;
			printf("%6u %8u %10.3f %8.3f..%-8.3f %10.3f %8.1f %8.1f..%.1f\n", n, m,
			       st->median, st->min, st->max, floor_ms, ratio->median, ratio->min,
			       ratio->max);
			free(pool);
		}
		free(ring);
		bench_json_baseline(&json, base_name, "ms", BENCH_LOWER_BETTER, NS * o.runs,
				    bench_summarize(fills, NS * o.runs));
		for (int ni = 0; ni < NS; ni++)
			bench_json_figure(&json, &builds[ni]);
	}
	return bench_json_close(&json) < 0;
}
