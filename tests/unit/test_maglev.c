/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The weighted Maglev builder: the properties operators rely on — even
 * balance, weights honoured, little disruption when membership changes, the
 * same table on every host whatever the input order.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/maglev.h"
#include "dataplane/flow_hash.h"

#define M_DEFAULT 65537u

/* Backend i of a test pool: 10.(i/250).(i%250).1 port 8000, or an IPv6 peer. */
static struct maglev_backend backend_n(__u32 i, __u32 weight)
{
	struct maglev_backend b;

	memset(&b, 0, sizeof(b));
	b.family = FLOW_FAMILY_IPV4;
	b.addr[0] = htonl(0x0a000001u | ((i / 250) << 16) | ((i % 250) << 8));
	b.port = htons(8000);
	b.weight = weight;
	return b;
}

static struct maglev_backend *pool_create(__u32 n, __u32 weight)
{
	struct maglev_backend *pool = calloc(n + 1, sizeof(*pool));

	assert_non_null(pool);
	for (__u32 i = 0; i < n; i++)
		pool[i] = backend_n(i, weight);
	return pool;
}

static __u32 *ring_create(__u32 size)
{
	__u32 *ring = calloc(size, sizeof(*ring));

	assert_non_null(ring);
	return ring;
}

/* Slots owned per input index, through the canonical order. */
static void count_slots(const __u32 *ring, __u32 size, const __u32 *order, __u32 *counts,
			__u32 n)
{
	memset(counts, 0, n * sizeof(*counts));
	for (__u32 s = 0; s < size; s++) {
		assert_true(ring[s] < n);
		counts[order[ring[s]]]++;
	}
}

static void test_table_sizes_must_be_prime(void **state)
{
	(void)state;
	assert_true(maglev_table_size_valid(65537));
	assert_true(maglev_table_size_valid(655373));
	assert_true(maglev_table_size_valid(MAGLEV_TABLE_SIZE_MAX));
	assert_false(maglev_table_size_valid(65536));
	assert_false(maglev_table_size_valid(65541)); /* 3 * 21847 */
	assert_false(maglev_table_size_valid(65537u * 3));
	assert_false(maglev_table_size_valid(1));
	assert_false(maglev_table_size_valid(2));
	assert_false(maglev_table_size_valid(16777259)); /* prime, above the maximum */

	__u32 ring[8];
	struct maglev_backend b = backend_n(0, 1);
	assert_int_equal(maglev_build(&b, 1, ring, 8, NULL), -EINVAL);
}

static void test_equal_backends_get_floor_or_ceil_slots(void **state)
{
	(void)state;
	const __u32 n = 1000;
	struct maglev_backend *pool = pool_create(n, 100);
	__u32 *ring = ring_create(M_DEFAULT), order[1000], counts[1000];
	__u32 lo = M_DEFAULT / n, hi = lo + 1, min = ~0u, max = 0;

	assert_int_equal(maglev_build(pool, n, ring, M_DEFAULT, order), 0);
	count_slots(ring, M_DEFAULT, order, counts, n);
	for (__u32 i = 0; i < n; i++) {
		assert_in_range(counts[i], lo, hi);
		min = counts[i] < min ? counts[i] : min;
		max = counts[i] > max ? counts[i] : max;
	}
	print_message("1000 equal backends, M=65537: every backend owns %u..%u slots "
		      "(floor %u, ceil %u)\n", min, max, lo, hi);
	free(ring);
	free(pool);
}

static void test_double_weight_gets_double_slots(void **state)
{
	(void)state;
	const __u32 n = 10;
	struct maglev_backend *pool = pool_create(n, 0);
	__u32 *ring = ring_create(M_DEFAULT), order[10], counts[10];
	double worst = 0;

	/* Pairs (w, 2w) with w = 1, 7, 50, 128, 256. */
	const __u32 w[5] = { 1, 7, 50, 128, 256 };
	for (__u32 i = 0; i < 5; i++) {
		pool[2 * i].weight = w[i];
		pool[2 * i + 1].weight = 2 * w[i];
	}
	assert_int_equal(maglev_build(pool, n, ring, M_DEFAULT, order), 0);
	count_slots(ring, M_DEFAULT, order, counts, n);

	__u64 total_weight = 0;
	for (__u32 i = 0; i < n; i++)
		total_weight += pool[i].weight;
	for (__u32 i = 0; i < n; i++) {
		/* Each backend within 1% of its weighted share... */
		double share = (double)M_DEFAULT * pool[i].weight / total_weight;
		double err = (counts[i] - share) / share;
		err = err < 0 ? -err : err;
		worst = err > worst ? err : worst;
		assert_true(err < 0.01);
	}
	for (__u32 i = 0; i < 5; i++) {
		/* ...so each 2w backend owns twice its w partner's slots within 1%. */
		double ratio = (double)counts[2 * i + 1] / counts[2 * i];
		assert_true(ratio > 2 * 0.99 && ratio < 2 * 1.01);
	}
	print_message("weights 1..512: worst deviation from the weighted share %.4f%%\n",
		      100 * worst);
	free(ring);
	free(pool);
}

/* Slots whose backend (by stable key) differs between two builds. */
static __u32 slots_moved(const __u32 *ring_a, const __u32 *order_a,
			 const struct maglev_backend *pool_a, const __u32 *ring_b,
			 const __u32 *order_b, const struct maglev_backend *pool_b, __u32 size)
{
	__u32 moved = 0;

	for (__u32 s = 0; s < size; s++) {
		const struct maglev_backend *a = &pool_a[order_a[ring_a[s]]];
		const struct maglev_backend *b = &pool_b[order_b[ring_b[s]]];
		if (memcmp(a->addr, b->addr, sizeof(a->addr)) != 0 || a->port != b->port)
			moved++;
	}
	return moved;
}

/*
 * Removing one backend of N moves that backend's own slots (unavoidable) and
 * a few others; adding one takes its share and disturbs a few more. Both must
 * stay within twice the backend's share.
 */
static void check_disruption(__u32 n, bool assert_bound)
{
	struct maglev_backend *pool = pool_create(n + 1, 1);
	__u32 *before = ring_create(M_DEFAULT), *after = ring_create(M_DEFAULT);
	__u32 *order_before = calloc(n + 1, sizeof(__u32)), *order_after = calloc(n + 1, sizeof(__u32));
	double share = (double)M_DEFAULT / n;

	assert_non_null(order_before);
	assert_non_null(order_after);
	assert_int_equal(maglev_build(pool, n, before, M_DEFAULT, order_before), 0);
	/* Remove backend n/2: the last one takes its place in the array. */
	struct maglev_backend *smaller = pool_create(n, 1);
	smaller[n / 2] = smaller[n - 1];
	assert_int_equal(maglev_build(smaller, n - 1, after, M_DEFAULT, order_after), 0);
	__u32 removed = slots_moved(before, order_before, pool, after, order_after, smaller,
				    M_DEFAULT);
	/* Add backend n. */
	assert_int_equal(maglev_build(pool, n + 1, after, M_DEFAULT, order_after), 0);
	__u32 added = slots_moved(before, order_before, pool, after, order_after, pool, M_DEFAULT);

	print_message("N=%4u M=65537: remove one moves %5u slots = %.2f x its share, "
		      "add one moves %5u = %.2f x its share\n",
		      n, removed, removed / share, added, added / (M_DEFAULT / (n + 1.0)));
	if (assert_bound) {
		assert_true(removed <= 2 * share);
		assert_true(added <= 2 * (M_DEFAULT / (n + 1.0)));
	}
	free(smaller);
	free(order_before);
	free(order_after);
	free(before);
	free(after);
	free(pool);
}

static void test_one_backend_change_moves_at_most_twice_its_share(void **state)
{
	(void)state;
	check_disruption(10, false);
	check_disruption(100, true);
	check_disruption(1000, false);
}

static void test_empty_and_all_zero_pools_give_no_backend(void **state)
{
	(void)state;
	__u32 *ring = ring_create(M_DEFAULT);
	struct maglev_backend *pool = pool_create(8, 0);

	assert_int_equal(maglev_build(NULL, 0, ring, M_DEFAULT, NULL), 0);
	for (__u32 s = 0; s < M_DEFAULT; s++)
		assert_int_equal(ring[s], FLOW_NO_BACKEND);
	assert_int_equal(maglev_build(pool, 8, ring, M_DEFAULT, NULL), 0);
	for (__u32 s = 0; s < M_DEFAULT; s++)
		assert_int_equal(ring[s], FLOW_NO_BACKEND);
	/* And the lookup every dataplane uses reports "no backend". */
	assert_int_equal(flow_hash_ring_lookup(ring, M_DEFAULT, 12345), FLOW_NO_BACKEND);
	free(pool);
	free(ring);
}

static void test_zero_weight_backend_owns_no_slot(void **state)
{
	(void)state;
	struct maglev_backend *pool = pool_create(5, 3);
	__u32 ring[13], order[5], counts[5];

	pool[2].weight = 0;
	assert_int_equal(maglev_build(pool, 5, ring, 13, order), 0);
	count_slots(ring, 13, order, counts, 5);
	assert_int_equal(counts[2], 0);
	assert_int_equal(counts[0] + counts[1] + counts[3] + counts[4], 13);
	free(pool);
}

/* Canonical order: family, then address bytes, then port bytes. */
static bool key_before(const struct maglev_backend *a, const struct maglev_backend *b)
{
	if (a->family != b->family)
		return a->family < b->family;
	int c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c != 0)
		return c < 0;
	return memcmp(&a->port, &b->port, sizeof(a->port)) < 0;
}

static void test_input_order_does_not_matter(void **state)
{
	(void)state;
	const __u32 n = 300;
	struct maglev_backend *pool = pool_create(n, 0), *shuffled = pool_create(n, 0);
	__u32 *ring_a = ring_create(M_DEFAULT), *ring_b = ring_create(M_DEFAULT);
	__u32 order[300];

	for (__u32 i = 0; i < n; i++) {
		pool[i].weight = 1 + i % 17;
		if (i % 3 == 0) { /* a mixed-family pool */
			pool[i].family = FLOW_FAMILY_IPV6;
			pool[i].addr[0] = htonl(0x20010db8u);
			pool[i].addr[3] = htonl(i);
		}
	}
	srand(42);
	memcpy(shuffled, pool, n * sizeof(*pool));
	for (__u32 i = n - 1; i > 0; i--) {
		__u32 j = (__u32)rand() % (i + 1);
		struct maglev_backend tmp = shuffled[i];
		shuffled[i] = shuffled[j];
		shuffled[j] = tmp;
	}
	assert_int_equal(maglev_build(pool, n, ring_a, M_DEFAULT, NULL), 0);
	assert_int_equal(maglev_build(shuffled, n, ring_b, M_DEFAULT, order), 0);
	assert_memory_equal(ring_a, ring_b, M_DEFAULT * sizeof(__u32));
	/* The canonical order maps ranks back to the caller's array. */
	for (__u32 r = 1; r < n; r++)
		assert_true(key_before(&shuffled[order[r - 1]], &shuffled[order[r]]));

	/*
	 * Pinned digest: the table is a format shared by every instance of a
	 * fleet, so a change to the builder that moves slots must be deliberate.
	 */
	__u32 digest = flow_hash_words(ring_a, 16, 0) ^ flow_hash_words(ring_a + 30000, 16, 1);
	print_message("300 mixed-family backends, shuffled: byte-identical table, digest 0x%08x\n",
		      digest);
	assert_int_equal(digest, 0x882ef476u);
	free(ring_a);
	free(ring_b);
	free(pool);
	free(shuffled);
}

static void test_duplicate_keys_are_rejected(void **state)
{
	(void)state;
	struct maglev_backend pool[3] = { backend_n(1, 1), backend_n(2, 1), backend_n(1, 5) };
	__u32 ring[13];

	assert_int_equal(maglev_build(pool, 3, ring, 13, NULL), -EEXIST);
	pool[2].family = 5;
	assert_int_equal(maglev_build(pool, 3, ring, 13, NULL), -EINVAL);
}

static void test_largest_pool_and_table_build(void **state)
{
	(void)state;
	const __u32 n = 4096, m = 655373;
	struct maglev_backend *pool = pool_create(n, 1);
	__u32 *ring = ring_create(m), *order = calloc(n, sizeof(__u32)),
	      *counts = calloc(n, sizeof(__u32));

	assert_non_null(order);
	assert_non_null(counts);
	assert_int_equal(maglev_build(pool, n, ring, m, order), 0);
	count_slots(ring, m, order, counts, n);
	for (__u32 i = 0; i < n; i++)
		assert_in_range(counts[i], m / n, m / n + 1);
	print_message("4096 backends, M=655373: every backend owns %u or %u slots\n", m / n,
		      m / n + 1);
	free(counts);
	free(order);
	free(ring);
	free(pool);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_sizes_must_be_prime),
		cmocka_unit_test(test_equal_backends_get_floor_or_ceil_slots),
		cmocka_unit_test(test_double_weight_gets_double_slots),
		cmocka_unit_test(test_one_backend_change_moves_at_most_twice_its_share),
		cmocka_unit_test(test_empty_and_all_zero_pools_give_no_backend),
		cmocka_unit_test(test_zero_weight_backend_owns_no_slot),
		cmocka_unit_test(test_input_order_does_not_matter),
		cmocka_unit_test(test_duplicate_keys_are_rejected),
		cmocka_unit_test(test_largest_pool_and_table_build),
	};
	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL);
}
