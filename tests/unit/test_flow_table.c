/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker flow table: flows keep their backend until they go idle, a full
 * bucket gives up the flow closest to expiry, and the table never grows.
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

#include "dataplane/flow_table.h"

struct table_fixture {
	struct flow_table ft;
	void *mem;
};

static struct table_fixture *fixture_create(__u32 capacity)
{
	struct table_fixture *f = calloc(1, sizeof(*f));
	size_t size = flow_table_mem_size(capacity);

	assert_non_null(f);
	assert_true(size > 0);
	f->mem = aligned_alloc(FLOW_TABLE_BUCKET, size);
	assert_non_null(f->mem);
	assert_int_equal(flow_table_init(&f->ft, f->mem, capacity), 0);
	return f;
}

static void fixture_destroy(struct table_fixture *f)
{
	free(f->mem);
	free(f);
}

#define FP(t) flow_table_fingerprint(&(t))

/* Client 10.1.x.y:port -> VIP 192.0.2.1:80/tcp. */
static struct flow_tuple tuple_n(__u32 n)
{
	struct flow_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = FLOW_FAMILY_IPV4;
	t.proto = 6;
	t.src_addr[0] = htonl(0x0a010000u | (n >> 16));
	t.src_port = htons((__u16)(1024 + (n & 0xffff) % 60000));
	t.dst_addr[0] = htonl(0xc0000201u);
	t.dst_port = htons(80);
	return t;
}

static void test_remembered_flow_keeps_its_backend_until_idle(void **state)
{
	(void)state;
	struct table_fixture *f = fixture_create(1024);
	struct flow_tuple t = tuple_n(1);
	__u32 h = flow_hash(&t);

	assert_null(flow_table_find(&f->ft, h, FP(t), 10, 40));
	assert_int_equal(flow_table_insert(&f->ft, h, FP(t), 7, 10, 40), FLOW_TABLE_INSERTED);
	struct flow_slot *e = flow_table_find(&f->ft, h, FP(t), 39, 69);
	assert_non_null(e);
	assert_int_equal(e->member, 7);
	/* The hit at 39 extended its life to 69. */
	assert_non_null(flow_table_find(&f->ft, h, FP(t), 68, 98));
	assert_null(flow_table_find(&f->ft, h, FP(t), 98, 128));
	printf("flow found while active, forgotten once idle past its timeout\n");
	fixture_destroy(f);
}

static void test_full_bucket_evicts_the_flow_closest_to_expiry(void **state)
{
	(void)state;
	struct table_fixture *f = fixture_create(1024);
	struct flow_tuple t[FLOW_TABLE_WAYS + 1];
	const __u32 same_bucket = 0x12345600u; /* every flow forced into one bucket */

	for (int i = 0; i < FLOW_TABLE_WAYS; i++) {
		t[i] = tuple_n((__u32)i);
		/* Expiries 100, 101, ... except flow 3, which expires first. */
		__u32 expires = i == 3 ? 50 : 100u + (__u32)i;
		assert_int_equal(flow_table_insert(&f->ft, same_bucket + ((__u32)i << 20), FP(t[i]),
						   (__u32)i, 1, expires),
				 FLOW_TABLE_INSERTED);
	}
	t[FLOW_TABLE_WAYS] = tuple_n(99);
	assert_int_equal(flow_table_insert(&f->ft, same_bucket + (99u << 20), FP(t[FLOW_TABLE_WAYS]),
					   99, 2, 200),
			 FLOW_TABLE_EVICTED);
	for (int i = 0; i < FLOW_TABLE_WAYS; i++) {
		struct flow_slot *e =
			flow_table_find(&f->ft, same_bucket + ((__u32)i << 20), FP(t[i]), 2, 300);
		if (i == 3)
			assert_null(e);
		else
			assert_non_null(e);
	}
	assert_non_null(
		flow_table_find(&f->ft, same_bucket + (99u << 20), FP(t[FLOW_TABLE_WAYS]), 2, 300));
	printf("9th flow in an 8-way bucket evicted only the flow closest to expiry\n");
	fixture_destroy(f);
}

static void test_expired_way_is_reused_without_eviction(void **state)
{
	(void)state;
	struct table_fixture *f = fixture_create(1024);
	const __u32 same_bucket = 0x00000500u;

	for (__u32 i = 0; i < FLOW_TABLE_WAYS; i++) {
		struct flow_tuple t = tuple_n(i);
		flow_table_insert(&f->ft, same_bucket + (i << 20), FP(t), i, 1, 10);
	}
	struct flow_tuple late = tuple_n(500);
	assert_int_equal(flow_table_insert(&f->ft, same_bucket + (77u << 20), FP(late), 77, 10, 40),
			 FLOW_TABLE_INSERTED);
	printf("a way whose flow expired is reused, counted as an insert, not an eviction\n");
	fixture_destroy(f);
}

static void test_same_flow_is_updated_in_place(void **state)
{
	(void)state;
	struct table_fixture *f = fixture_create(1024);
	struct flow_tuple t = tuple_n(5);
	__u32 h = flow_hash(&t);

	flow_table_insert(&f->ft, h, FP(t), 1, 1, 100);
	assert_int_equal(flow_table_insert(&f->ft, h, FP(t), 2, 2, 100), FLOW_TABLE_REPLACED);
	assert_int_equal(flow_table_find(&f->ft, h, FP(t), 3, 100)->member, 2);
	assert_int_equal(flow_table_count_live(&f->ft, 3), 1);
	printf("re-inserting a flow updates its one entry (1 live entry, new backend)\n");
	fixture_destroy(f);
}

static void test_hash_collision_keeps_flows_apart(void **state)
{
	(void)state;
	struct table_fixture *f = fixture_create(1024);
	struct flow_tuple a = tuple_n(1), b = tuple_n(2);

	/* Same flow hash (same bucket), different flows: the fingerprint decides. */
	assert_true(FP(a) != FP(b));
	flow_table_insert(&f->ft, 0xabcdef01u, FP(a), 1, 1, 100);
	flow_table_insert(&f->ft, 0xabcdef01u, FP(b), 2, 1, 100);
	assert_int_equal(flow_table_find(&f->ft, 0xabcdef01u, FP(a), 2, 100)->member, 1);
	assert_int_equal(flow_table_find(&f->ft, 0xabcdef01u, FP(b), 2, 100)->member, 2);
	printf("two flows with one hash stay distinct by their fingerprints\n");
	fixture_destroy(f);
}

static void test_fingerprints_differ_across_a_million_flows(void **state)
{
	(void)state;
	const __u32 n = 1u << 20;
	__u64 *fps = malloc(n * sizeof(*fps));
	__u32 same = 0;

	assert_non_null(fps);
	for (__u32 i = 0; i < n; i++) {
		/* Distinct flows: 32 client addresses x 32768 ports. */
		struct flow_tuple t = tuple_n(0);
		t.src_addr[0] = htonl(0x0a010000u | (i >> 15));
		t.src_port = htons((__u16)(1024 + (i & 0x7fff)));
		fps[i] = FP(t);
	}
	/* Sort and count equal neighbours: no two of 2^20 flows may share one. */
	int cmp(const void *x, const void *y)
	{
		__u64 p = *(const __u64 *)x, q = *(const __u64 *)y;
		return (p > q) - (p < q);
	}
	qsort(fps, n, sizeof(*fps), cmp);
	for (__u32 i = 1; i < n; i++)
		same += fps[i] == fps[i - 1];
	free(fps);
	printf("%u flows, %u shared fingerprints\n", n, same);
	assert_int_equal(same, 0);
}

static void test_half_full_table_keeps_nearly_every_flow(void **state)
{
	(void)state;
	const __u32 capacity = 65536, flows = capacity / 2;
	struct table_fixture *f = fixture_create(capacity);
	__u32 evicted = 0, found = 0;

	for (__u32 i = 0; i < flows; i++) {
		struct flow_tuple t = tuple_n(i);
		evicted += flow_table_insert(&f->ft, flow_hash(&t), FP(t), i, 1, 100) ==
			   FLOW_TABLE_EVICTED;
	}
	for (__u32 i = 0; i < flows; i++) {
		struct flow_tuple t = tuple_n(i);
		struct flow_slot *e = flow_table_find(&f->ft, flow_hash(&t), FP(t), 2, 100);
		found += e && e->member == i;
	}
	printf("%u flows in a %u-entry table: %u kept (%.3f%%), %u evicted\n", flows, capacity,
	       found, 100.0 * found / flows, evicted);
	assert_int_equal(found + evicted, flows);
	assert_true(found >= flows * 99 / 100);
	assert_int_equal(flow_table_count_live(&f->ft, 2), found);
	assert_int_equal(flow_table_count_live(&f->ft, 100), 0);
	fixture_destroy(f);
}

static void test_second_packet_promotes_a_new_flow(void **state)
{
	(void)state;
	struct table_fixture *flows = fixture_create(1024), *fresh = fixture_create(1024);
	struct flow_tuple t = tuple_n(5);
	const __u32 h = flow_hash(&t);
	enum flow_found found;
	struct flow_slot peeked;

	assert_null(flow_tables_find(&flows->ft, &fresh->ft, h, FP(t), 1, 301, &found));
	assert_int_equal(found, FLOW_FOUND_NONE);
	/* The first packet: remembered as new, for 10 s. */
	assert_int_equal(flow_table_insert(&fresh->ft, h, FP(t), 42, 1, 11), FLOW_TABLE_INSERTED);
	struct flow_slot *e = flow_tables_find(&flows->ft, &fresh->ft, h, FP(t), 2, 302, &found);
	assert_non_null(e);
	assert_int_equal(found, FLOW_FOUND_PROMOTED);
	assert_int_equal(e->member, 42);
	assert_int_equal(e->expires_s, 302);
	assert_int_equal(flow_table_peek(&fresh->ft, h, FP(t), 2, &peeked), 0);
	assert_int_equal(flow_table_count_live(&fresh->ft, 2), 0);
	assert_int_equal(flow_table_peek(&flows->ft, h, FP(t), 2, &peeked), 1);
	/* The third packet finds it established. */
	e = flow_tables_find(&flows->ft, &fresh->ft, h, FP(t), 3, 303, &found);
	assert_non_null(e);
	assert_int_equal(found, FLOW_FOUND);
	assert_int_equal(e->member, 42);
	/* A new flow whose second packet comes after its 10 s is unknown again. */
	struct flow_tuple late = tuple_n(6);
	flow_table_insert(&fresh->ft, flow_hash(&late), FP(late), 7, 3, 13);
	assert_null(flow_tables_find(&flows->ft, &fresh->ft, flow_hash(&late), FP(late), 13, 313,
				     &found));
	assert_int_equal(found, FLOW_FOUND_NONE);
	printf("a first packet waits in new flows; the second moves the flow, with its member and "
	       "the established timeout, into flows; a late second packet finds nothing\n");
	fixture_destroy(flows);
	fixture_destroy(fresh);
}

/*
 * The SYN flood: a flows table loaded to every way of every bucket with
 * established flows, then 64 times its size of one-packet flows from random
 * sources. Every established flow must still be there, with its member. The
 * same flood sent into a single table (what a worker without new flows
 * did) is the control: it must lose most established flows, or this test
 * proves nothing.
 */
static void test_flood_of_new_flows_never_displaces_established_ones(void **state)
{
	(void)state;
	const __u32 capacity = 4096, flood = 64 * capacity;
	struct table_fixture *flows = fixture_create(capacity), *fresh = fixture_create(1024);
	struct table_fixture *single = fixture_create(capacity);
	enum flow_found found;
	__u32 established = 0, kept = 0, kept_single = 0, displaced_new = 0;
	__u64 seed = 0x5eed;

	/* Established: inserted until every way of every bucket is taken. */
	for (__u32 i = 0; flow_table_count_live(&flows->ft, 1) < capacity; i++) {
		struct flow_tuple t = tuple_n(i);
		if (flow_table_insert(&flows->ft, flow_hash(&t), FP(t), i, 1, 300) ==
		    FLOW_TABLE_INSERTED) {
			flow_table_insert(&single->ft, flow_hash(&t), FP(t), i, 1, 300);
			established = i + 1;
		}
		assert_true(i < 16 * capacity);
	}
	/* The flood: random sources and ports, one packet each, 1 s later. */
	for (__u32 i = 0; i < flood; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		struct flow_tuple t = tuple_n(0);
		t.src_addr[0] = (__u32)(seed >> 32);
		t.src_port = (__u16)(seed >> 16);
		const __u32 h = flow_hash(&t);
		assert_null(flow_tables_find(&flows->ft, &fresh->ft, h, FP(t), 2, 302, &found));
		displaced_new += flow_table_insert(&fresh->ft, h, FP(t), 1, 2, 12) ==
				 FLOW_TABLE_EVICTED;
		flow_table_insert(&single->ft, h, FP(t), 1, 2, 302);
	}
	for (__u32 i = 0; i < established; i++) {
		struct flow_tuple t = tuple_n(i);
		struct flow_slot peeked;
		if (flow_table_peek(&flows->ft, flow_hash(&t), FP(t), 3, &peeked))
			kept += peeked.member == i;
		if (flow_table_peek(&single->ft, flow_hash(&t), FP(t), 3, &peeked))
			kept_single += peeked.member == i;
	}
	printf("%u established flows fill a %u-entry table; after %u one-packet flows: %u kept "
	       "(%u in a single table); %u new flows displaced each other in a %u-entry table of "
	       "new flows\n",
	       capacity, capacity, flood, kept, kept_single, displaced_new, fresh->ft.capacity);
	assert_int_equal(kept, capacity);
	assert_true(kept_single < capacity / 10);
	assert_true(displaced_new >= flood - fresh->ft.capacity);
	fixture_destroy(flows);
	fixture_destroy(fresh);
	fixture_destroy(single);
}

static void test_sizes_are_bounded_and_rounded(void **state)
{
	(void)state;
	struct flow_table ft;
	void *mem;

	assert_int_equal(flow_table_mem_size(FLOW_TABLE_MIN - 1), 0);
	assert_int_equal(flow_table_mem_size(FLOW_TABLE_MAX + 1), 0);
	/* 1500 rounds up to 2048 entries: 256 buckets of 128 bytes. */
	assert_int_equal(flow_table_mem_size(1500), 256 * 128);
	mem = aligned_alloc(128, flow_table_mem_size(1500) + 128);
	assert_non_null(mem);
	assert_int_equal(flow_table_init(&ft, (char *)mem + 64, 1500), -EINVAL);
	assert_int_equal(flow_table_init(&ft, mem, 1500), 0);
	assert_int_equal(ft.capacity, 2048);
	free(mem);
	printf("capacity outside 1024..2^28 refused; 1500 rounds to 2048; misaligned memory refused\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remembered_flow_keeps_its_backend_until_idle),
		cmocka_unit_test(test_full_bucket_evicts_the_flow_closest_to_expiry),
		cmocka_unit_test(test_expired_way_is_reused_without_eviction),
		cmocka_unit_test(test_same_flow_is_updated_in_place),
		cmocka_unit_test(test_hash_collision_keeps_flows_apart),
		cmocka_unit_test(test_fingerprints_differ_across_a_million_flows),
		cmocka_unit_test(test_half_full_table_keeps_nearly_every_flow),
		cmocka_unit_test(test_sizes_are_bounded_and_rounded),
		cmocka_unit_test(test_second_packet_promotes_a_new_flow),
		cmocka_unit_test(test_flood_of_new_flows_never_displaces_established_ones),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("flow_table", tests, NULL, NULL);
}
