/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The known limit of ECMP scale-out (README "Scale-out"), measured: when a
 * VIP's backend set changes, which share of flows does the new table send
 * to another backend than the old one did?
 *
 * Each instance keeps its established flows on their backend through a
 * change (its flow table), but a flow that a router moves to another
 * instance after the change finds no entry there and takes the new table's
 * choice. It breaks when that differs from the old table's. So the share at
 * risk per change is the share of flows whose ring choice changed, less those
 * whose backend was removed (they end whatever the routers do).
 *
 * For pools of N equal backends and the default table size M = 65537 (and
 * 655373 for the largest pools), three changes: one backend added, one
 * removed, one's weight doubled. Figures are counted over every ring slot
 * (exact: flows hash uniformly over slots), and checked against 1 000 000
 * random TCP flows hashed as the dataplanes hash them. Deterministic: no
 * timing, the same figures on every run.
 *
 *   make build/bench/bench_churn && build/bench/bench_churn
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/maglev.h"
#include "dataplane/flow_hash.h"

#define FLOWS 1000000u

struct table {
	__u32 *owner; /* per slot: the pool index of its backend, or UINT32_MAX */
	__u32 size;
};

/* Builds the ring of pool[0..n) and translates its ranks to pool indices
 * (through index[], when not NULL), so tables of different sets compare
 * backend by backend. */
static void table_build(struct table *t, const struct maglev_backend *pool, __u32 n, __u32 size,
			const __u32 *index)
{
	__u32 *ring = malloc(size * sizeof(*ring)), *order = malloc((n + 1) * sizeof(*order));

	t->owner = malloc(size * sizeof(*t->owner));
	t->size = size;
	if (!ring || !order || !t->owner || maglev_build(pool, n, ring, size, order) != 0) {
		fprintf(stderr, "bench_churn: table build failed (N=%u, M=%u)\n", n, size);
		exit(1);
	}
	for (__u32 s = 0; s < size; s++)
		t->owner[s] = ring[s] == FLOW_NO_BACKEND ? UINT32_MAX
			      : index			  ? index[order[ring[s]]]
							  : order[ring[s]];
	free(ring);
	free(order);
}

static struct maglev_backend *pool_create(__u32 n)
{
	struct maglev_backend *pool = calloc(n, sizeof(*pool));

	if (!pool)
		exit(1);
	for (__u32 i = 0; i < n; i++) {
		pool[i].family = FLOW_FAMILY_IPV4;
		pool[i].addr[0] = htonl(0x0a010000u + i + 1);
		pool[i].port = htons(80);
		pool[i].weight = 100;
	}
	return pool;
}

/* Share of slots that changed backend, and of those whose old backend is
 * gone (removed: index == gone). */
static void compare_slots(const struct table *a, const struct table *b, __u32 gone, double *moved,
			  double *lost)
{
	__u32 m = 0, l = 0;

	for (__u32 s = 0; s < a->size; s++) {
		if (a->owner[s] == b->owner[s])
			continue;
		m++;
		l += a->owner[s] == gone;
	}
	*moved = (double)m / a->size;
	*lost = (double)l / a->size;
}

/* The same over random flows through the dataplanes' hash. */
static double flows_at_risk(const struct table *a, const struct table *b, __u32 gone)
{
	__u64 x = 0x9e3779b97f4a7c15ull;
	__u32 risk = 0;
	struct flow_tuple t = { .proto = IPPROTO_TCP, .family = FLOW_FAMILY_IPV4,
				.dst_addr = { htonl(0x0a630001) }, .dst_port = htons(80) };

	for (__u32 i = 0; i < FLOWS; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
		t.src_addr[0] = (__be32)x;
		t.src_port = (__be16)(x >> 32);
		__u32 slot = flow_hash_ring_slot(flow_hash(&t), a->size);
		risk += a->owner[slot] != b->owner[slot] && a->owner[slot] != gone;
	}
	return (double)risk / FLOWS;
}

static void row(__u32 n, __u32 size, const char *change, const struct table *before,
		const struct table *after, __u32 gone, double ideal_moved)
{
	double moved, lost;

	compare_slots(before, after, gone, &moved, &lost);
	printf("%6u %8u  %-22s %7.2f%%  %7.2f%%  %7.2f%%  %7.2f%%   %7.2f%%\n", n, size, change,
	       100 * moved, 100 * lost, 100 * (moved - lost),
	       100 * flows_at_risk(before, after, gone), 100 * ideal_moved);
}

int main(void)
{
	static const struct {
		__u32 n, size;
	} grid[] = { { 2, 65537 },  { 3, 65537 },   { 4, 65537 },    { 8, 65537 },
		     { 16, 65537 }, { 32, 65537 },  { 100, 65537 },  { 1000, 65537 },
		     { 1000, 655373 } };

	printf("Flows whose backend changes when a VIP's backend set changes (Maglev, equal "
	       "weights)\n");
	printf("moved: all flows sent elsewhere by the new table; lost: those on a removed "
	       "backend;\nat risk: moved less lost, the flows that break if a router moves them "
	       "to another\ninstance after the change (over all slots, and over %u random flows); "
	       "ideal:\nthe least any consistent hash must move.\n\n",
	       FLOWS);
	printf("%6s %8s  %-22s %8s  %8s  %8s  %8s   %8s\n", "N", "M", "change", "moved", "lost",
	       "at risk", "(flows)", "ideal");
	for (__u32 g = 0; g < sizeof(grid) / sizeof(grid[0]); g++) {
		__u32 n = grid[g].n, size = grid[g].size;
		struct maglev_backend *pool = pool_create(n + 1);
		struct table base, added, removed, heavier;

		table_build(&base, pool, n, size, NULL);
		table_build(&added, pool, n + 1, size, NULL);
		/* Remove one from the middle (the last of the canonical order
		 * would be a kinder case): the set without it, as lbd builds it. */
		__u32 gone = n / 2, *index = malloc(n * sizeof(*index));
		struct maglev_backend *rest = malloc(n * sizeof(*rest));
		if (!index || !rest)
			exit(1);
		for (__u32 i = 0, k = 0; i < n; i++)
			if (i != gone) {
				rest[k] = pool[i];
				index[k++] = i;
			}
		table_build(&removed, rest, n - 1, size, index);
		free(rest);
		free(index);
		pool[gone].weight *= 2;
		table_build(&heavier, pool, n, size, NULL);

		row(n, size, "one added", &base, &added, UINT32_MAX, 1.0 / (n + 1));
		row(n, size, "one removed", &base, &removed, gone, 1.0 / n);
		row(n, size, "one's weight doubled", &base, &heavier, UINT32_MAX,
		    2.0 / (n + 1) - 1.0 / n);
		free(base.owner);
		free(added.owner);
		free(removed.owner);
		free(heavier.owner);
		free(pool);
	}
	return 0;
}
