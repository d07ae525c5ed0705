/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Table generations on the dataplane side: VIP lookup, rings of member ids,
 * member ids that stay put across table changes and resyncs, and builds that
 * fail without touching what is in service.
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
#include "dataplane/gen.h"
#include "tests/unit/vip_payload.h"

#define TABLE 97u

static struct chan_gen_begin begin_n(__u64 generation, __u32 vips)
{
	struct chan_gen_begin b = { .generation = generation, .vip_count = vips,
				    .encap = PKT_ENCAP_IPIP, .tcp_idle_timeout_s = 300,
				    .udp_idle_timeout_s = 30 };
	return b;
}

/* Adds one VIP payload to a builder; returns the builder's result. */
static int add_payload(struct gen_builder *gb, struct vip_payload p)
{
	struct chan_vip_view view;
	char err[256];
	int rc;

	assert_int_equal(chan_vip_decode(p.data, p.length, &view, err, sizeof(err)), 0);
	rc = gen_builder_add_vip(gb, &view, err, sizeof(err));
	if (rc)
		printf("add refused: %s\n", err);
	free(p.data);
	return rc;
}

static int add_vip(struct gen_builder *gb, __u8 host, __u16 port, const struct chan_backend *b,
		   __u32 n)
{
	struct chan_vip_key key = vip_key_v4(host, port, PKT_PROTO_TCP);
	return add_payload(gb, vip_payload_build(&key, "v", b, n, TABLE));
}

static __u16 nexthop_by_last_octet(void *ctx, __u8 family, const __be32 *addr)
{
	(*(int *)ctx)++;
	return family == FLOW_FAMILY_IPV4 ? (__u16)(ntohl(addr[0]) & 0xff) : 0;
}

static struct gen *finish(struct gen_builder *gb, __u64 now_s)
{
	char err[256] = "";
	int calls = 0;
	struct gen *g = gen_builder_finish(gb, nexthop_by_last_octet, &calls, now_s, err,
					   sizeof(err));
	if (!g)
		printf("finish refused: %s\n", err);
	return g;
}

static struct flow_tuple packet_to(__u8 host, __u16 port, __u16 client_port)
{
	struct flow_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = FLOW_FAMILY_IPV4;
	t.proto = PKT_PROTO_TCP;
	t.src_addr[0] = htonl(0xcb007101u);
	t.src_port = htons(client_port);
	t.dst_addr[0] = htonl(0xc0000200u | host);
	t.dst_port = htons(port);
	return t;
}

static void test_packets_find_their_vip_and_ready_backends(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_gen_begin begin = begin_n(1, 2);
	struct chan_backend web[3] = { backend_v4(1, CHAN_BACKEND_READY),
				       backend_v4(2, CHAN_BACKEND_READY),
				       backend_v4(3, CHAN_BACKEND_DRAIN) };
	struct chan_backend dns[1] = { backend_v4(9, CHAN_BACKEND_READY) };
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);

	assert_int_equal(add_vip(gb, 1, 80, web, 3), 0);
	assert_int_equal(add_vip(gb, 1, 53, dns, 1), 0);
	struct gen *g = finish(gb, 100);
	assert_non_null(g);
	assert_int_equal(g->backend_count, 4);

	struct flow_tuple t = packet_to(1, 80, 1000);
	const struct gen_vip *v = gen_vip_find(g, &t, 0);
	assert_non_null(v);
	assert_int_equal(ntohs(v->key.port), 80);
	__u32 seen[3] = { 0 };
	for (__u32 s = 0; s < v->table_size; s++) {
		const struct gen_member *m = gen_member_get(g, v->ring[s]);
		assert_non_null(m);
		assert_int_equal(m->state, GEN_MEMBER_READY);
		assert_int_equal(m->nexthop, ntohl(m->addr[0]) & 0xff);
		seen[(ntohl(m->addr[0]) & 0xff) - 1]++;
	}
	assert_true(seen[0] > 0 && seen[1] > 0);
	assert_int_equal(seen[2], 0);
	t = packet_to(1, 81, 1000);
	assert_null(gen_vip_find(g, &t, 0));
	t = packet_to(2, 80, 1000);
	assert_null(gen_vip_find(g, &t, 0));
	printf("VIP :80 found, :81 and another address not; ring holds only READY members "
	       "(%u/%u slots)\n",
	       seen[0], seen[1]);
	gen_destroy(g);
	gen_registry_destroy(reg);
}

static void test_member_ids_survive_changes_and_resync(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_backend b3[3] = { backend_v4(1, CHAN_BACKEND_READY),
				      backend_v4(2, CHAN_BACKEND_READY),
				      backend_v4(3, CHAN_BACKEND_READY) };
	struct chan_gen_begin begin = begin_n(1, 1);
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);

	assert_int_equal(add_vip(gb, 1, 80, b3, 3), 0);
	struct gen *g1 = finish(gb, 100);
	const struct gen_vip *v1 = g1->vips[0];
	__u32 id_of_2 = v1->member_ids[1];

	/* Generation 2: backend 1 removed, backend 4 added, 2 draining. */
	struct chan_backend changed[3] = { backend_v4(2, CHAN_BACKEND_DRAIN),
					   backend_v4(3, CHAN_BACKEND_READY),
					   backend_v4(4, CHAN_BACKEND_READY) };
	begin = begin_n(2, 1);
	gb = gen_builder_create(reg, &begin, g1);
	assert_int_equal(add_vip(gb, 1, 80, changed, 3), 0);
	struct gen *g2 = finish(gb, 101);
	const struct gen_vip *v2 = g2->vips[0];
	assert_int_equal(v2->member_ids[0], id_of_2);
	assert_int_equal(gen_member_get(g2, id_of_2)->state, GEN_MEMBER_DRAIN);
	assert_int_equal(gen_member_get(g2, v1->member_ids[0])->state, GEN_MEMBER_ABSENT);
	assert_int_not_equal(v2->member_ids[2], v1->member_ids[0]); /* not reused yet */

	/* Generation 3, a full resync (as after lbd restarts): same ids. */
	begin = begin_n(3, 1);
	gb = gen_builder_create(reg, &begin, g2);
	assert_int_equal(add_vip(gb, 1, 80, changed, 3), 0);
	struct gen *g3 = finish(gb, 102);
	assert_memory_equal(g3->vips[0]->member_ids, v2->member_ids, 3 * sizeof(__u32));
	assert_memory_equal(g3->vips[0]->ring, v2->ring, TABLE * sizeof(__u32));
	printf("member ids kept across remove/add/drain and a full resync; removed member "
	       "is ABSENT\n");
	gen_destroy(g1);
	gen_destroy(g2);
	gen_destroy(g3);
	gen_registry_destroy(reg);
}

static void test_removed_member_id_is_reused_only_after_timeouts(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_backend one = backend_v4(1, CHAN_BACKEND_READY);
	struct chan_backend two = backend_v4(2, CHAN_BACKEND_READY);
	struct chan_gen_begin begin = begin_n(1, 1);
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);
	struct gen *g;

	add_vip(gb, 1, 80, &one, 1);
	g = finish(gb, 1000);
	__u32 old_id = g->vips[0]->member_ids[0];
	gen_destroy(g);

	/* Removed at t=1001 (VIP left with backend two). */
	begin = begin_n(2, 1);
	gb = gen_builder_create(reg, &begin, NULL);
	add_vip(gb, 1, 80, &two, 1);
	g = finish(gb, 1001);
	gen_destroy(g);
	assert_int_equal(gen_registry_size(reg), 2);

	/* 200 s later: still within the 300 s TCP timeout, id kept. */
	begin = begin_n(3, 1);
	gb = gen_builder_create(reg, &begin, NULL);
	add_vip(gb, 1, 80, &two, 1);
	g = finish(gb, 1201);
	gen_destroy(g);
	assert_int_equal(gen_registry_size(reg), 2);

	/* 302 s later: released; a new member may take the id. */
	begin = begin_n(4, 1);
	gb = gen_builder_create(reg, &begin, NULL);
	add_vip(gb, 1, 80, &two, 1);
	g = finish(gb, 1303);
	gen_destroy(g);
	assert_int_equal(gen_registry_size(reg), 1);

	struct chan_backend both[2] = { two, backend_v4(5, CHAN_BACKEND_READY) };
	begin = begin_n(5, 1);
	gb = gen_builder_create(reg, &begin, NULL);
	add_vip(gb, 1, 80, both, 2);
	g = finish(gb, 1304);
	assert_int_equal(g->vips[0]->member_ids[1], old_id);
	/* Listed fresh, so lb-dpdk zeroes the counters its last owner left. */
	assert_int_equal(g->fresh_member_count, 1);
	assert_int_equal(g->fresh_member_ids[0], old_id);
	printf("a removed member's id is held for the 300 s idle timeout, then reused "
	       "and listed fresh\n");
	gen_destroy(g);
	gen_registry_destroy(reg);
}

static int id_listed(const __u32 *ids, __u32 n, __u32 id)
{
	for (__u32 i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

static void test_vip_ids_stay_with_their_vip(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_backend b[2] = { backend_v4(1, CHAN_BACKEND_READY),
				     backend_v4(2, CHAN_BACKEND_READY) };
	struct chan_vip_key k80 = vip_key_v4(1, 80, PKT_PROTO_TCP);
	struct chan_gen_begin begin = begin_n(1, 2);
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);

	add_vip(gb, 1, 80, b, 2);
	add_vip(gb, 1, 443, b, 2);
	struct gen *g1 = finish(gb, 10);
	__u32 id80 = g1->vips[0]->id, id443 = g1->vips[1]->id;
	assert_int_not_equal(id80, id443);
	/* Everything is new in the first generation. */
	assert_int_equal(g1->fresh_vip_count, 2);
	assert_int_equal(g1->fresh_member_count, 4);

	/* :80 kept, :443 rebuilt with a backend fewer: same VIP ids, none fresh. */
	begin = begin_n(2, 2);
	gb = gen_builder_create(reg, &begin, g1);
	assert_int_equal(add_payload(gb, vip_payload_keep(&k80)), 0);
	add_vip(gb, 1, 443, b, 1);
	struct gen *g2 = finish(gb, 11);
	assert_int_equal(g2->vips[0]->id, id80);
	assert_int_equal(g2->vips[1]->id, id443);
	assert_int_equal(g2->fresh_vip_count, 0);
	assert_int_equal(g2->fresh_member_count, 0);
	gen_destroy(g1);

	/* :443 removed, :8080 added: :443's id is free at once and may go to
	 * :8080, which is listed fresh with its members. */
	begin = begin_n(3, 2);
	gb = gen_builder_create(reg, &begin, g2);
	assert_int_equal(add_payload(gb, vip_payload_keep(&k80)), 0);
	add_vip(gb, 1, 8080, b, 2);
	struct gen *g3 = finish(gb, 12);
	assert_int_equal(gen_registry_vip_count(reg), 2);
	assert_int_equal(g3->vips[0]->id, id80);
	assert_int_equal(g3->fresh_vip_count, 1);
	assert_int_equal(g3->fresh_vip_ids[0], g3->vips[1]->id);
	assert_int_equal(g3->fresh_member_count, 2);
	assert_true(id_listed(g3->fresh_member_ids, 2, g3->vips[1]->member_ids[0]));
	assert_true(id_listed(g3->fresh_member_ids, 2, g3->vips[1]->member_ids[1]));
	printf("VIP ids kept across KEEP and rebuilds; a removed VIP's id is released at once "
	       "and its next owner is listed fresh\n");
	gen_destroy(g2);
	gen_destroy(g3);
	gen_registry_destroy(reg);
}

static void test_refused_generation_gives_its_new_ids_back(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_backend one = backend_v4(1, CHAN_BACKEND_READY);
	struct chan_backend more[3] = { one, backend_v4(2, CHAN_BACKEND_READY),
					backend_v4(3, CHAN_BACKEND_READY) };
	struct chan_gen_begin begin = begin_n(1, 1);
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);
	char err[256];

	add_vip(gb, 1, 80, &one, 1);
	struct gen *g1 = finish(gb, 10);

	/* Two new backends and a new VIP, then the generation is refused
	 * (the new VIP is listed twice). */
	begin = begin_n(2, 3);
	gb = gen_builder_create(reg, &begin, g1);
	add_vip(gb, 1, 80, more, 3);
	add_vip(gb, 1, 81, more, 3);
	add_vip(gb, 1, 81, more, 3);
	assert_int_equal(gen_registry_size(reg), 6);
	assert_null(gen_builder_finish(gb, NULL, NULL, 11, err, sizeof(err)));
	assert_int_equal(gen_registry_size(reg), 1);
	assert_int_equal(gen_registry_vip_count(reg), 1);

	/* Aborted half way: the same. */
	begin = begin_n(2, 2);
	gb = gen_builder_create(reg, &begin, g1);
	add_vip(gb, 1, 80, more, 3);
	gen_builder_abort(gb);
	assert_int_equal(gen_registry_size(reg), 1);

	/* The next generation that has them lists them fresh. */
	begin = begin_n(2, 1);
	gb = gen_builder_create(reg, &begin, g1);
	add_vip(gb, 1, 80, more, 3);
	struct gen *g2 = finish(gb, 12);
	assert_int_equal(g2->vips[0]->member_ids[0], g1->vips[0]->member_ids[0]);
	assert_int_equal(g2->fresh_member_count, 2);
	assert_false(id_listed(g2->fresh_member_ids, 2, g1->vips[0]->member_ids[0]));
	printf("refused and aborted generations give back the ids they gave out (registry "
	       "6 -> 1); the next generation lists them fresh\n");
	gen_destroy(g1);
	gen_destroy(g2);
	gen_registry_destroy(reg);
}

/* A VIP payload with n IPv4 backends 10.<i>, all READY, and a one-slot ring
 * with no backend (no Maglev build: this is about ids). */
static struct vip_payload many_backends(__u8 host, __u32 n)
{
	struct vip_payload p;

	p.length = (__u32)(sizeof(struct chan_vip) + n * sizeof(struct chan_backend) + 4);
	p.data = calloc(1, p.length);
	struct chan_vip *v = p.data;
	struct chan_backend *b = (void *)(v + 1);
	v->key = vip_key_v4(host, 80, PKT_PROTO_TCP);
	v->table_size = 1;
	v->backend_count = n;
	for (__u32 i = 0; i < n; i++) {
		b[i].family = FLOW_FAMILY_IPV4;
		b[i].addr[0] = htonl(0x0a000000u + i); /* ascending: canonical order */
		b[i].state = CHAN_BACKEND_READY;
		b[i].weight = 1;
	}
	*(__u32 *)(b + n) = FLOW_NO_BACKEND;
	return p;
}

static void test_member_id_space_is_bounded(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_gen_begin begin = begin_n(1, 5);
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);
	struct vip_payload p;
	struct chan_vip_view view;
	char err[256];

	for (__u8 v = 1; v <= GEN_MEMBERS_MAX / CHAN_BACKENDS_MAX; v++)
		assert_int_equal(add_payload(gb, many_backends(v, CHAN_BACKENDS_MAX)), 0);
	assert_int_equal(gen_registry_size(reg), GEN_MEMBERS_MAX);
	p = many_backends(9, 1);
	assert_int_equal(chan_vip_decode(p.data, p.length, &view, err, sizeof(err)), 0);
	assert_int_equal(gen_builder_add_vip(gb, &view, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "more than 262144"));
	printf("refused: %s\n", err);
	free(p.data);
	gen_builder_abort(gb);
	assert_int_equal(gen_registry_size(reg), 0);
	printf("%u members fill the id space; one more is refused; the abort frees them all\n",
	       GEN_MEMBERS_MAX);
	gen_registry_destroy(reg);
}

static void test_active_flows_are_counted_per_member(void **state)
{
	(void)state;
	struct flow_table ft;
	void *mem = aligned_alloc(FLOW_TABLE_BUCKET, flow_table_mem_size(FLOW_TABLE_MIN));
	__u64 counts[4] = { 0 };
	struct flow_slot slot;

	assert_int_equal(flow_table_init(&ft, mem, FLOW_TABLE_MIN), 0);
	for (__u32 f = 0; f < 300; f++) {
		struct flow_tuple t = packet_to(1, 80, (__u16)(1000 + f));
		/* Members 0..2 by flow; every third flow of member 2 has expired. */
		__u32 member = f % 3, expires = member == 2 && f % 9 == 2 ? 50 : 400;
		flow_table_insert(&ft, flow_hash(&t), flow_table_fingerprint(&t), member, 10,
				  expires);
	}
	struct flow_tuple big = packet_to(1, 80, 9999);
	flow_table_insert(&ft, flow_hash(&big), flow_table_fingerprint(&big), 77, 10, 400);
	flow_table_count_by_member(&ft, 100, counts, 4);
	assert_int_equal(counts[0], 100);
	assert_int_equal(counts[1], 100);
	assert_int_equal(counts[2], 100 - 34);
	assert_int_equal(counts[3], 0); /* member 77 lies outside the array: skipped */

	struct flow_tuple t = packet_to(1, 80, 1004);
	assert_int_equal(flow_table_peek(&ft, flow_hash(&t), flow_table_fingerprint(&t), 100, &slot),
			 1);
	assert_int_equal(slot.member, 1);
	assert_int_equal(slot.expires_s, 400);
	t = packet_to(1, 80, 1002); /* expired at 50 */
	assert_int_equal(flow_table_peek(&ft, flow_hash(&t), flow_table_fingerprint(&t), 100, &slot),
			 0);
	t = packet_to(1, 80, 5000); /* never seen */
	assert_int_equal(flow_table_peek(&ft, flow_hash(&t), flow_table_fingerprint(&t), 100, &slot),
			 0);
	t = packet_to(1, 80, 1004);
	assert_int_equal(flow_table_peek(&ft, flow_hash(&t), flow_table_fingerprint(&t), 100, &slot),
			 1);
	assert_int_equal(slot.expires_s, 400); /* a peek does not extend the entry */
	printf("live entries per member: 100/100/66 (34 expired not counted); peek finds a live "
	       "flow, not an expired or unknown one\n");
	free(mem);
}

struct added_log {
	__u32 member[8];
	__u32 vip[8];
	__u32 count;
};

static void log_added(void *ctx, __u32 member_id, __u32 vip_id)
{
	struct added_log *log = ctx;

	assert_true(log->count < 8);
	log->member[log->count] = member_id;
	log->vip[log->count++] = vip_id;
}

static void test_members_coming_and_going_are_listed_with_their_vip(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_backend b12[2] = { backend_v4(1, CHAN_BACKEND_READY),
				       backend_v4(2, CHAN_BACKEND_READY) };
	struct chan_backend b23[2] = { backend_v4(2, CHAN_BACKEND_DRAIN),
				       backend_v4(3, CHAN_BACKEND_READY) };
	struct chan_gen_begin begin = begin_n(1, 1);
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);
	struct added_log log = { .count = 0 };

	add_vip(gb, 1, 80, b12, 2);
	struct gen *g1 = finish(gb, 10);
	gen_members_added(NULL, g1, log_added, &log);
	assert_int_equal(log.count, 2); /* from nothing: all of them */

	/* 1 leaves, 2 stays (now draining), 3 joins. */
	begin = begin_n(2, 1);
	gb = gen_builder_create(reg, &begin, g1);
	add_vip(gb, 1, 80, b23, 2);
	struct gen *g2 = finish(gb, 11);
	__u32 vip = g2->vips[0]->id;
	log.count = 0;
	gen_members_added(g1, g2, log_added, &log);
	assert_int_equal(log.count, 1);
	assert_int_equal(log.member[0], g2->vips[0]->member_ids[1]);
	assert_int_equal(log.vip[0], vip);
	log.count = 0;
	gen_members_added(g2, g1, log_added, &log);
	assert_int_equal(log.count, 1);
	assert_int_equal(log.member[0], g1->vips[0]->member_ids[0]);
	assert_int_equal(log.vip[0], vip);
	log.count = 0;
	gen_members_added(g2, g2, log_added, &log);
	assert_int_equal(log.count, 0);
	printf("members joining (3) and leaving (1) are listed with their VIP's id; a member "
	       "that only changes state (2) is not\n");
	gen_destroy(g1);
	gen_destroy(g2);
	gen_registry_destroy(reg);
}

static void test_keep_shares_the_vip_in_service(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_backend b = backend_v4(1, CHAN_BACKEND_READY);
	struct chan_gen_begin begin = begin_n(1, 2);
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);

	add_vip(gb, 1, 80, &b, 1);
	add_vip(gb, 1, 443, &b, 1);
	struct gen *g1 = finish(gb, 10);

	struct chan_backend b2[2] = { b, backend_v4(2, CHAN_BACKEND_READY) };
	struct chan_vip_key k80 = vip_key_v4(1, 80, PKT_PROTO_TCP);
	begin = begin_n(2, 2);
	gb = gen_builder_create(reg, &begin, g1);
	assert_int_equal(add_payload(gb, vip_payload_keep(&k80)), 0);
	assert_int_equal(add_vip(gb, 1, 443, b2, 2), 0);
	struct gen *g2 = finish(gb, 11);
	assert_ptr_equal(g2->vips[0], g1->vips[0]);
	assert_ptr_not_equal(g2->vips[1], g1->vips[1]);
	assert_int_equal(g2->vips[0]->refs, 2);
	/* The kept VIP's members are present in the new generation. */
	assert_int_equal(gen_member_get(g2, g1->vips[0]->member_ids[0])->state, GEN_MEMBER_READY);
	gen_destroy(g1); /* the old generation retires; the shared VIP stays */
	struct flow_tuple t = packet_to(1, 80, 5);
	assert_ptr_equal(gen_vip_find(g2, &t, 0), g2->vips[0]);
	assert_int_equal(g2->vips[0]->refs, 1);
	printf("KEEP reuses the VIP object in service; it outlives the old generation\n");
	gen_destroy(g2);
	gen_registry_destroy(reg);
}

static void test_fragments_go_to_the_lowest_port_vip(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_backend b = backend_v4(1, CHAN_BACKEND_READY);
	struct chan_gen_begin begin = begin_n(1, 3);
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);

	add_vip(gb, 1, 443, &b, 1);
	add_vip(gb, 1, 80, &b, 1);
	add_vip(gb, 1, 8080, &b, 1);
	struct gen *g = finish(gb, 10);
	struct flow_tuple frag = packet_to(1, 0, 0);

	assert_int_equal(ntohs(gen_vip_find(g, &frag, 1)->key.port), 80);
	assert_null(gen_vip_find(g, &frag, 0)); /* a port-0 packet that is no fragment */
	gen_destroy(g);

	/* A real port-0 VIP takes its own fragments and port-0 packets. */
	begin = begin_n(2, 2);
	gb = gen_builder_create(reg, &begin, NULL);
	add_vip(gb, 1, 80, &b, 1);
	add_vip(gb, 1, 0, &b, 1);
	g = finish(gb, 11);
	assert_int_equal(ntohs(gen_vip_find(g, &frag, 1)->key.port), 0);
	assert_int_equal(ntohs(gen_vip_find(g, &frag, 0)->key.port), 0);
	printf("fragments reach the lowest-port VIP (:80 of :80/:443/:8080); a port-0 VIP wins\n");
	gen_destroy(g);
	gen_registry_destroy(reg);
}

static void test_bad_generations_are_refused_whole(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_backend b = backend_v4(1, CHAN_BACKEND_READY);
	struct chan_vip_key k = vip_key_v4(1, 80, PKT_PROTO_TCP);
	struct chan_gen_begin begin = begin_n(1, 2);
	struct gen_builder *gb;
	char err[256];

	/* KEEP with nothing in service. */
	gb = gen_builder_create(reg, &begin, NULL);
	assert_int_equal(add_payload(gb, vip_payload_keep(&k)), -ENOENT);
	gen_builder_abort(gb);

	/* The same VIP twice. */
	gb = gen_builder_create(reg, &begin, NULL);
	add_vip(gb, 1, 80, &b, 1);
	add_vip(gb, 1, 80, &b, 1);
	assert_null(gen_builder_finish(gb, NULL, NULL, 1, err, sizeof(err)));
	assert_int_equal(errno, EEXIST);
	printf("refused: %s\n", err);

	/* Fewer VIPs than announced, then more. */
	gb = gen_builder_create(reg, &begin, NULL);
	add_vip(gb, 1, 80, &b, 1);
	assert_null(gen_builder_finish(gb, NULL, NULL, 1, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	printf("refused: %s\n", err);
	begin = begin_n(1, 1);
	gb = gen_builder_create(reg, &begin, NULL);
	add_vip(gb, 1, 80, &b, 1);
	assert_int_equal(add_vip(gb, 1, 81, &b, 1), -E2BIG);
	gen_builder_abort(gb);
	printf("KEEP of unknown VIP, duplicate VIP, missing and extra VIPs: refused, "
	       "nothing leaked\n");
	gen_registry_destroy(reg);
}

static void test_ipv6_vip_and_backends(void **state)
{
	(void)state;
	struct gen_registry *reg = gen_registry_create();
	struct chan_vip_key k;
	struct chan_backend b;
	struct chan_gen_begin begin = begin_n(1, 1);

	memset(&k, 0, sizeof(k));
	k.family = FLOW_FAMILY_IPV6;
	inet_pton(AF_INET6, "2001:db8::80", k.addr);
	k.port = htons(443);
	k.proto = PKT_PROTO_UDP;
	memset(&b, 0, sizeof(b));
	b.family = FLOW_FAMILY_IPV6;
	inet_pton(AF_INET6, "fd00:3::11", b.addr);
	b.state = CHAN_BACKEND_READY;
	b.weight = 1;
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);
	assert_int_equal(add_payload(gb, vip_payload_build(&k, "v6", &b, 1, TABLE)), 0);
	struct gen *g = finish(gb, 1);
	struct flow_tuple t;
	memset(&t, 0, sizeof(t));
	t.family = FLOW_FAMILY_IPV6;
	t.proto = PKT_PROTO_UDP;
	memcpy(t.dst_addr, k.addr, 16);
	t.dst_port = htons(443);
	const struct gen_vip *v = gen_vip_find(g, &t, 0);
	assert_non_null(v);
	assert_int_equal(gen_member_get(g, v->ring[0])->family, FLOW_FAMILY_IPV6);
	t.proto = PKT_PROTO_TCP;
	assert_null(gen_vip_find(g, &t, 0));
	gen_destroy(g);
	gen_registry_destroy(reg);
}

/*
 * A generation's per-member tunnel templates give, for every encapsulation
 * and family, the same frame as pkt_encap_write() from the equivalent
 * parameters (the bytes test_pkt checks against scapy), and no tunnel for a
 * backend whose family has no source address.
 */
static void test_member_templates_write_the_encapsulation(void **state)
{
	(void)state;
	static const __u8 inner4[40] = { 0x45, 0x10, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0,
					 10, 0, 0, 1, 192, 0, 2, 1 };
	const __u8 dst_mac[6] = { 2, 0, 0, 0, 0, 0xfe }, src_mac[6] = { 2, 0, 0, 0, 0, 1 };
	int checked = 0;

	for (int type = PKT_ENCAP_IPIP; type <= PKT_ENCAP_GUE; type++) {
		for (int with_v6_source = 0; with_v6_source < 2; with_v6_source++) {
			struct gen_registry *reg = gen_registry_create();
			struct chan_gen_begin begin = begin_n(1, 1);
			struct chan_backend b[2] = { backend_v4(7, CHAN_BACKEND_READY),
						     backend_v4(8, CHAN_BACKEND_READY) };

			begin.encap = (__u8)type;
			begin.gue_port = htons(6080);
			begin.encap_source_v4 = htonl(0x0a00ff01u);
			if (with_v6_source)
				inet_pton(AF_INET6, "fd00::1", begin.encap_source_v6);
			b[1].family = FLOW_FAMILY_IPV6;
			memset(b[1].addr, 0, sizeof(b[1].addr));
			inet_pton(AF_INET6, "fd00:3::11", b[1].addr);
			struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);
			assert_int_equal(add_vip(gb, 1, 80, b, 2), 0);
			struct gen *g = finish(gb, 1);
			assert_non_null(g);

			const struct gen_vip *v = g->vips[0];
			for (__u32 i = 0; i < v->backend_count; i++) {
				const struct chan_backend *be = &v->backends[i];
				const struct pkt_encap_template *t = &g->encap[v->member_ids[i]];
				if (be->family == FLOW_FAMILY_IPV6 && !with_v6_source) {
					assert_int_equal(t->length, 0);
					continue;
				}
				struct pkt_encap_params p = { .type = (__u8)type,
							      .outer_family = be->family,
							      .mtu = 1500,
							      .gue_port = begin.gue_port };
				memcpy(p.src_mac, src_mac, 6);
				memcpy(p.dst_mac, dst_mac, 6);
				memcpy(p.outer_dst, be->addr, 16);
				if (be->family == FLOW_FAMILY_IPV4)
					p.outer_src[0] = begin.encap_source_v4;
				else
					memcpy(p.outer_src, begin.encap_source_v6, 16);
				struct pkt_info info;
				__u8 frame[128];
				const __u8 *data_end = frame + 14 + sizeof(inner4);
				memset(frame, 0, sizeof(frame));
				frame[12] = 0x08;
				memcpy(frame + 14, inner4, sizeof(inner4));
				frame[14 + 32] = 0x50; /* TCP data offset */
				frame[14 + 33] = PKT_TCP_ACK;
				assert_int_equal(pkt_parse(frame, data_end, &info), PKT_VERDICT_CANDIDATE);

				__u8 want[256], got[256];
				const __u16 grow = pkt_encap_headroom(&info, &p);
				const __u32 len = pkt_encap_frame_length(&info, &p);
				assert_int_equal(t->length, pkt_encap_overhead(&p));
				memset(want, 0, sizeof(want));
				memcpy(want + 64, frame, sizeof(frame) - 64);
				memcpy(got, want, sizeof(got));
				pkt_encap_write(want + 64 - grow, &info, &p, 0x9e3779b9u);
				pkt_encap_write_template(got + 64 - grow, &info, t, dst_mac, src_mac, 0, 0,
							 0x9e3779b9u);
				assert_memory_equal(got + 64 - grow, want + 64 - grow, len);
				checked++;
			}
			gen_destroy(g);
			gen_registry_destroy(reg);
		}
	}
	assert_int_equal(checked, 6);
	printf("member templates (IPIP, GUE; IPv4 and IPv6 backends) write the frames "
	       "pkt_encap_write() does (%d compared); no IPv6 source, no IPv6 tunnel\n",
	       checked);
}

static void test_ring_slot_equals_the_remainder(void **state)
{
	(void)state;
	const __u32 sizes[] = { 1, 7, 97, 65537, 655373, 16777213, 4294967291u };
	struct gen_vip v;
	__u32 x = 12345;

	memset(&v, 0, sizeof(v));
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		v.table_size = sizes[s];
		v.table_size_inverse = UINT64_MAX / sizes[s] + 1;
		for (int i = 0; i < 200000; i++) {
			x = x * 1664525u + 1013904223u;
			__u32 h = i < 4 ? (__u32[]){ 0, 1, 0xfffffffeu, 0xffffffffu }[i] : x;
			if (gen_vip_ring_slot(&v, h) != flow_hash_ring_slot(h, sizes[s]))
				fail_msg("size %u hash %u: %u != %u", sizes[s], h,
					 gen_vip_ring_slot(&v, h), flow_hash_ring_slot(h, sizes[s]));
		}
	}
	printf("division-free ring slot equals hash %% size for 1.4M hashes over 7 sizes\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packets_find_their_vip_and_ready_backends),
		cmocka_unit_test(test_member_ids_survive_changes_and_resync),
		cmocka_unit_test(test_removed_member_id_is_reused_only_after_timeouts),
		cmocka_unit_test(test_keep_shares_the_vip_in_service),
		cmocka_unit_test(test_vip_ids_stay_with_their_vip),
		cmocka_unit_test(test_members_coming_and_going_are_listed_with_their_vip),
		cmocka_unit_test(test_refused_generation_gives_its_new_ids_back),
		cmocka_unit_test(test_member_id_space_is_bounded),
		cmocka_unit_test(test_active_flows_are_counted_per_member),
		cmocka_unit_test(test_fragments_go_to_the_lowest_port_vip),
		cmocka_unit_test(test_bad_generations_are_refused_whole),
		cmocka_unit_test(test_ipv6_vip_and_backends),
		cmocka_unit_test(test_ring_slot_equals_the_remainder),
		cmocka_unit_test(test_member_templates_write_the_encapsulation),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("gen", tests, NULL, NULL);
}
