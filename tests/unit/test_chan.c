/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The lbd <-> lb-dpdk channel: messages arrive whole however the stream is
 * cut, and every malformed or oversized message is refused with a reason
 * instead of being believed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/unit/vip_payload.h"

static void socket_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

static void test_message_round_trips_in_parts(void **state)
{
	(void)state;
	struct chan_reader r;
	struct chan_gen_commit commit = { .generation = 42 };
	char tail[] = "tail";
	struct iovec parts[2] = { { &commit, sizeof(commit) }, { tail, 4 } };
	int sv[2];

	socket_pair(sv);
	chan_reader_init(&r);
	assert_int_equal(chan_reader_fill(&r, sv[1]), 0); /* nothing yet */
	assert_int_equal(chan_send(sv[0], CHAN_MSG_GEN_COMMIT, 9, parts, 2), 0);
	assert_int_equal(chan_reader_fill(&r, sv[1]), 1);
	assert_int_equal(r.hdr.type, CHAN_MSG_GEN_COMMIT);
	assert_int_equal(r.hdr.seq, 9);
	assert_int_equal(r.hdr.length, sizeof(commit) + 4);
	assert_memory_equal(r.payload, &commit, sizeof(commit));
	assert_memory_equal(r.payload + sizeof(commit), "tail", 4);
	/* A second, empty message after the first. */
	assert_int_equal(chan_send(sv[0], CHAN_MSG_STATS_GET, 10, NULL, 0), 0);
	assert_int_equal(chan_reader_fill(&r, sv[1]), 1);
	assert_int_equal(r.hdr.type, CHAN_MSG_STATS_GET);
	assert_int_equal(r.hdr.length, 0);
	chan_reader_fini(&r);
	close(sv[0]);
	close(sv[1]);
	printf("header + two payload parts arrive as one message; an empty one follows\n");
}

static void test_message_cut_into_single_bytes_is_assembled(void **state)
{
	(void)state;
	struct chan_key_msg {
		struct chan_hdr hdr;
		struct chan_gen_commit body;
	} m = { { CHAN_MAGIC, CHAN_VERSION, CHAN_MSG_GEN_COMMIT, sizeof(struct chan_gen_commit), 3 },
		{ 77 } };
	struct chan_reader r;
	int sv[2], rc = 0;

	socket_pair(sv);
	chan_reader_init(&r);
	for (size_t i = 0; i < sizeof(m); i++) {
		assert_int_equal(rc, 0);
		assert_int_equal(write(sv[0], (char *)&m + i, 1), 1);
		rc = chan_reader_fill(&r, sv[1]);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(((struct chan_gen_commit *)r.payload)->generation, 77);
	chan_reader_fini(&r);
	close(sv[0]);
	close(sv[1]);
	printf("a %zu-byte message written one byte at a time completes exactly at its end\n",
	       sizeof(m));
}

static int reader_result_for(const struct chan_hdr *h)
{
	struct chan_reader r;
	int sv[2], rc;

	socket_pair(sv);
	chan_reader_init(&r);
	assert_int_equal(write(sv[0], h, sizeof(*h)), sizeof(*h));
	rc = chan_reader_fill(&r, sv[1]);
	chan_reader_fini(&r);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void test_bad_headers_are_refused(void **state)
{
	(void)state;
	struct chan_hdr good = { CHAN_MAGIC, CHAN_VERSION, CHAN_MSG_HELLO, 0, 1 };
	struct chan_hdr h;

	h = good;
	h.magic = 0x12345678;
	assert_int_equal(reader_result_for(&h), -EPROTO);
	h = good;
	h.version = CHAN_VERSION + 1;
	assert_int_equal(reader_result_for(&h), -EPROTONOSUPPORT);
	h = good;
	h.length = CHAN_PAYLOAD_MAX + 1;
	assert_int_equal(reader_result_for(&h), -EMSGSIZE);
	h = good;
	h.type = CHAN_MSG_TYPE_COUNT;
	assert_int_equal(reader_result_for(&h), -EBADMSG);
	h = good;
	h.type = 0;
	assert_int_equal(reader_result_for(&h), -EBADMSG);
	printf("bad magic, other version, oversized length, unknown type: each refused\n");
}

static void test_peer_closing_mid_message_is_reported(void **state)
{
	(void)state;
	struct chan_hdr h = { CHAN_MAGIC, CHAN_VERSION, CHAN_MSG_GEN_VIP, 1000, 1 };
	struct chan_reader r;
	int sv[2];

	socket_pair(sv);
	chan_reader_init(&r);
	assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(write(sv[0], "abc", 3), 3);
	assert_int_equal(chan_reader_fill(&r, sv[1]), 0);
	close(sv[0]);
	assert_int_equal(chan_reader_fill(&r, sv[1]), -ECONNRESET);
	chan_reader_fini(&r);
	close(sv[1]);
	printf("peer gone after 3 of 1000 payload bytes: -ECONNRESET\n");
}

static void test_send_refuses_oversized_payload(void **state)
{
	(void)state;
	struct iovec big = { (void *)1, (size_t)CHAN_PAYLOAD_MAX + 1 };
	int sv[2];

	socket_pair(sv);
	assert_int_equal(chan_send(sv[0], CHAN_MSG_GEN_VIP, 1, &big, 1), -EMSGSIZE);
	close(sv[1]);
	assert_int_equal(chan_send(sv[0], CHAN_MSG_STATS_GET, 1, NULL, 0), -EPIPE);
	close(sv[0]);
	printf("payload over the limit refused before sending; closed peer gives -EPIPE\n");
}

static void test_error_message_carries_code_and_text(void **state)
{
	(void)state;
	struct chan_reader r;
	int sv[2];

	socket_pair(sv);
	chan_reader_init(&r);
	assert_int_equal(chan_send_error(sv[0], 5, EINVAL, "bad %s %d", "thing", 7), 0);
	assert_int_equal(chan_reader_fill(&r, sv[1]), 1);
	assert_int_equal(r.hdr.type, CHAN_MSG_ERROR);
	assert_int_equal(r.hdr.seq, 5);
	assert_int_equal(((struct chan_error *)r.payload)->code, EINVAL);
	assert_int_equal(r.hdr.length, sizeof(struct chan_error) + strlen("bad thing 7"));
	assert_memory_equal(r.payload + sizeof(struct chan_error), "bad thing 7", 11);
	chan_reader_fini(&r);
	close(sv[0]);
	close(sv[1]);
}

static struct vip_payload sample_vip(void)
{
	struct chan_vip_key key = vip_key_v4(1, 80, PKT_PROTO_TCP);
	struct chan_backend b[3] = { backend_v4(3, CHAN_BACKEND_READY),
				     backend_v4(1, CHAN_BACKEND_READY),
				     backend_v4(2, CHAN_BACKEND_DRAIN) };

	return vip_payload_build(&key, "web", b, 3, 97);
}

/* Decodes p and expects -EINVAL with a message containing needle. */
static void expect_vip_refused(struct vip_payload *p, const char *needle)
{
	struct chan_vip_view view;
	char err[256] = "";

	assert_int_equal(chan_vip_decode(p->data, p->length, &view, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	printf("refused: %s\n", err);
}

static void test_valid_vip_decodes(void **state)
{
	(void)state;
	struct vip_payload p = sample_vip();
	struct chan_vip_view view;
	char err[256] = "";

	assert_int_equal(chan_vip_decode(p.data, p.length, &view, err, sizeof(err)), 0);
	assert_int_equal(view.vip->backend_count, 3);
	assert_int_equal(view.vip->table_size, 97);
	assert_int_equal(ntohl(view.backends[0].addr[0]), 0x0a000001u); /* canonical order */
	for (__u32 s = 0; s < 97; s++)
		assert_int_not_equal(view.backends[view.ring[s]].state, CHAN_BACKEND_DRAIN);
	free(p.data);
}

static void test_malformed_vips_are_refused_by_name(void **state)
{
	(void)state;
	struct vip_payload p;

	p = sample_vip();
	p.length = sizeof(struct chan_vip) - 1;
	expect_vip_refused(&p, "shorter than");
	free(p.data);

	p = sample_vip();
	p.length -= 4;
	expect_vip_refused(&p, "counts need");
	free(p.data);

	p = sample_vip();
	((struct chan_vip *)p.data)->key.family = 5;
	expect_vip_refused(&p, "family");
	free(p.data);

	p = sample_vip();
	((struct chan_vip *)p.data)->key.addr[2] = 1; /* IPv4 with junk in word 2 */
	expect_vip_refused(&p, "family");
	free(p.data);

	p = sample_vip();
	((struct chan_vip *)p.data)->key.proto = 1;
	expect_vip_refused(&p, "protocol 1");
	free(p.data);

	p = sample_vip();
	memset(((struct chan_vip *)p.data)->name, 'x', CHAN_NAME_MAX);
	expect_vip_refused(&p, "name");
	free(p.data);

	p = sample_vip();
	((struct chan_vip *)p.data)->flags = 0x80;
	expect_vip_refused(&p, "flags");
	free(p.data);

	p = sample_vip();
	((struct chan_vip *)p.data)->backend_count = 0xffffffffu;
	expect_vip_refused(&p, "backends");
	free(p.data);

	p = sample_vip();
	((struct chan_vip *)p.data)->table_size = 0;
	expect_vip_refused(&p, "table size 0");
	free(p.data);

	p = sample_vip();
	struct chan_backend *b = (void *)((struct chan_vip *)p.data + 1);
	b[1].state = 9;
	expect_vip_refused(&p, "backend 1: bad state 9");
	free(p.data);

	p = sample_vip();
	b = (void *)((struct chan_vip *)p.data + 1);
	b[2] = b[1];
	expect_vip_refused(&p, "backend 2: not after backend 1");
	free(p.data);

	p = sample_vip();
	__u32 *ring = (void *)((struct chan_backend *)((struct chan_vip *)p.data + 1) + 3);
	ring[5] = 3;
	expect_vip_refused(&p, "ring slot 5 names backend 3 of 3");
	free(p.data);

	p = sample_vip();
	ring = (void *)((struct chan_backend *)((struct chan_vip *)p.data + 1) + 3);
	ring[6] = 1; /* rank 1 is 10.0.0.2, the draining one */
	expect_vip_refused(&p, "draining");
	free(p.data);

	p = sample_vip();
	((struct chan_vip *)p.data)->flags = CHAN_VIP_KEEP;
	expect_vip_refused(&p, "KEEP carries no tables");
	free(p.data);
}

static void test_gen_begin_checks(void **state)
{
	(void)state;
	struct chan_gen_begin good = { .generation = 1, .vip_count = 2, .encap = PKT_ENCAP_GUE,
				       .gue_port = htons(6080), .tcp_idle_timeout_s = 300,
				       .udp_idle_timeout_s = 30 };
	struct chan_gen_begin in, out;
	char err[256];

	assert_int_equal(chan_gen_begin_decode(&good, sizeof(good), &out, err, sizeof(err)), 0);
	assert_int_equal(chan_gen_begin_decode(&good, sizeof(good) - 1, &out, err, sizeof(err)),
			 -EINVAL);
	in = good;
	in.generation = 0;
	assert_int_equal(chan_gen_begin_decode(&in, sizeof(in), &out, err, sizeof(err)), -EINVAL);
	in = good;
	in.encap = 7;
	assert_int_equal(chan_gen_begin_decode(&in, sizeof(in), &out, err, sizeof(err)), -EINVAL);
	in = good;
	in.gue_port = 0;
	assert_int_equal(chan_gen_begin_decode(&in, sizeof(in), &out, err, sizeof(err)), -EINVAL);
	in = good;
	in.udp_idle_timeout_s = 0;
	assert_int_equal(chan_gen_begin_decode(&in, sizeof(in), &out, err, sizeof(err)), -EINVAL);
	in = good;
	in.vip_count = CHAN_VIPS_MAX + 1;
	assert_int_equal(chan_gen_begin_decode(&in, sizeof(in), &out, err, sizeof(err)), -EINVAL);
	printf("GEN_BEGIN: short, generation 0, unknown encap, GUE without port, zero timeout, "
	       "too many VIPs: each refused\n");
}

/* A MEMBERS payload of vips VIP records and members member records, as
 * lb-dpdk sends it; free() it. 8-byte aligned like the reader's buffer. */
static void *members_payload(__u32 vips, __u32 members, __u32 *length)
{
	struct chan_members *head;
	size_t size = sizeof(*head) + vips * sizeof(struct chan_vip_stats) +
		      members * sizeof(struct chan_member_stats);

	head = calloc(1, size + 64); /* room to test oversized lengths */
	head->generation = 7;
	head->vip_count = vips;
	head->member_count = members;
	head->now_ns = 123456789;
	struct chan_vip_stats *v = (void *)(head + 1);
	struct chan_member_stats *m = (void *)(v + vips);
	for (__u32 i = 0; i < vips; i++) {
		v[i].key = vip_key_v4((__u8)(i + 1), 80, PKT_PROTO_TCP);
		v[i].packets = 100 + i;
		v[i].drops_no_backend = i;
	}
	for (__u32 i = 0; i < members; i++) {
		struct chan_backend b = backend_v4((__u8)(i + 1), CHAN_BACKEND_READY);
		m[i].vip = v[i % (vips ? vips : 1)].key;
		memcpy(m[i].addr, b.addr, sizeof(m[i].addr));
		m[i].port = b.port;
		m[i].family = b.family;
		m[i].state = i % 2 ? CHAN_BACKEND_DRAIN : CHAN_BACKEND_READY;
		m[i].flows_active = i;
	}
	*length = (__u32)size;
	return head;
}

static void expect_members_refused(const void *payload, __u32 length, const char *needle)
{
	struct chan_members_view view;
	char err[256] = "";

	assert_int_equal(chan_members_decode(payload, length, &view, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	printf("refused: %s\n", err);
}

static void test_members_message_decodes_with_its_records(void **state)
{
	(void)state;
	struct chan_members_view view;
	char err[256] = "";
	__u32 length;
	void *p = members_payload(2, 5, &length);

	assert_int_equal(chan_members_decode(p, length, &view, err, sizeof(err)), 0);
	assert_int_equal(view.head->generation, 7);
	assert_int_equal(view.head->vip_count, 2);
	assert_int_equal(view.head->member_count, 5);
	assert_int_equal(view.vips[1].packets, 101);
	assert_int_equal(ntohs(view.vips[1].key.port), 80);
	assert_int_equal(view.members[4].flows_active, 4);
	assert_int_equal(view.members[3].state, CHAN_BACKEND_DRAIN);
	assert_memory_equal(&view.members[3].vip, &view.vips[1].key, sizeof(view.vips[1].key));
	free(p);

	/* No generation in service yet: a bare head. */
	p = members_payload(0, 0, &length);
	assert_int_equal(length, sizeof(struct chan_members));
	assert_int_equal(chan_members_decode(p, length, &view, err, sizeof(err)), 0);
	assert_int_equal(view.head->vip_count + view.head->member_count, 0);
	free(p);
	printf("MEMBERS: head, 2 VIP and 5 member records decode in place; a bare head too\n");
}

static void test_malformed_members_messages_are_refused(void **state)
{
	(void)state;
	__u32 length;
	struct chan_members *h;
	void *p = members_payload(2, 5, &length);

	expect_members_refused(p, sizeof(struct chan_members) - 1, "shorter than");
	expect_members_refused(p, 0, "shorter than");
	expect_members_refused(p, length - 1, "counts need");                       /* truncated */
	expect_members_refused(p, length - (__u32)sizeof(struct chan_member_stats), "counts need");
	expect_members_refused(p, length + 8, "counts need");                       /* oversized */
	h = p;
	h->member_count = CHAN_MEMBERS_MAX + 1;
	expect_members_refused(p, length, "more than");
	h->member_count = 0xffffffffu; /* would wrap a 32-bit size computation */
	expect_members_refused(p, length, "more than");
	h->member_count = 5;
	h->vip_count = CHAN_VIPS_MAX + 1;
	expect_members_refused(p, length, "more than");
	h->vip_count = 2;

	struct chan_vip_stats *v = (void *)(h + 1);
	struct chan_member_stats *m = (void *)(v + 2);
	v[1].key.family = 5;
	expect_members_refused(p, length, "VIP 1: bad key");
	v[1].key.family = FLOW_FAMILY_IPV4;
	v[0].key.proto = 1;
	expect_members_refused(p, length, "VIP 0: bad key");
	v[0].key.proto = PKT_PROTO_UDP;
	m[2].addr[3] = 1; /* IPv4 with junk in word 3 */
	expect_members_refused(p, length, "member 2: bad address");
	m[2].addr[3] = 0;
	m[4].state = 0;
	expect_members_refused(p, length, "member 4: bad state 0");
	m[4].state = CHAN_BACKEND_READY;
	m[1].vip.family = 0;
	expect_members_refused(p, length, "member 1: bad VIP key");
	m[1].vip.family = FLOW_FAMILY_IPV4;
	struct chan_members_view view;
	char err[256];
	assert_int_equal(chan_members_decode(p, length, &view, err, sizeof(err)), 0);
	free(p);
}

static struct flow_tuple tuple_v4(void)
{
	struct flow_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = FLOW_FAMILY_IPV4;
	t.proto = PKT_PROTO_TCP;
	t.src_addr[0] = htonl(0xcb007101u);
	t.src_port = htons(40000);
	t.dst_addr[0] = htonl(0xc0000201u);
	t.dst_port = htons(80);
	return t;
}

static void expect_tuple_refused(const struct flow_tuple *t, __u32 length, const char *needle)
{
	struct flow_tuple out;
	char err[256] = "";

	assert_int_equal(chan_flow_find_decode(t, length, &out, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	printf("refused: %s\n", err);
}

static void test_flow_find_checks_the_tuple(void **state)
{
	(void)state;
	struct flow_tuple t = tuple_v4(), out;
	char err[256];

	assert_int_equal(chan_flow_find_decode(&t, sizeof(t), &out, err, sizeof(err)), 0);
	assert_memory_equal(&out, &t, sizeof(t));
	t.family = FLOW_FAMILY_IPV6;
	t.src_addr[3] = htonl(1);
	assert_int_equal(chan_flow_find_decode(&t, sizeof(t), &out, err, sizeof(err)), 0);

	t = tuple_v4();
	expect_tuple_refused(&t, sizeof(t) - 1, "expected 40");
	expect_tuple_refused(&t, sizeof(t) + 1, "expected 40");
	t.family = 0;
	expect_tuple_refused(&t, sizeof(t), "family 0");
	t = tuple_v4();
	t.dst_addr[1] = 1;
	expect_tuple_refused(&t, sizeof(t), "family 4");
	t = tuple_v4();
	t.proto = 1;
	expect_tuple_refused(&t, sizeof(t), "protocol 1");
	t = tuple_v4();
	t.pad[1] = 1;
	expect_tuple_refused(&t, sizeof(t), "padding");
}

static void test_flow_answer_is_checked(void **state)
{
	(void)state;
	struct chan_flow f, out;
	struct chan_backend b = backend_v4(3, CHAN_BACKEND_DRAIN);
	char err[256] = "";

	memset(&f, 0, sizeof(f));
	assert_int_equal(chan_flow_decode(&f, sizeof(f), &out, err, sizeof(err)), 0); /* not found */
	f.flags = CHAN_FLOW_FOUND | CHAN_FLOW_VIP | CHAN_FLOW_RING;
	f.worker = 1;
	f.expires_in_s = 299;
	f.vip = vip_key_v4(1, 80, PKT_PROTO_TCP);
	f.backend = b;
	f.ring_backend = backend_v4(4, CHAN_BACKEND_READY);
	assert_int_equal(chan_flow_decode(&f, sizeof(f), &out, err, sizeof(err)), 0);
	assert_int_equal(out.expires_in_s, 299);
	assert_int_equal(out.backend.state, CHAN_BACKEND_DRAIN);
	f.backend.state = 0; /* removed since: allowed */
	assert_int_equal(chan_flow_decode(&f, sizeof(f), &out, err, sizeof(err)), 0);

	assert_int_equal(chan_flow_decode(&f, sizeof(f) - 4, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(chan_flow_decode(&f, sizeof(f) + 4, &out, err, sizeof(err)), -EINVAL);
	f.flags |= 0x100;
	assert_int_equal(chan_flow_decode(&f, sizeof(f), &out, err, sizeof(err)), -EINVAL);
	f.flags = CHAN_FLOW_RING;
	f.ring_backend.state = CHAN_BACKEND_DRAIN; /* the ring never names a draining backend */
	assert_int_equal(chan_flow_decode(&f, sizeof(f), &out, err, sizeof(err)), -EINVAL);
	f.flags = CHAN_FLOW_FOUND;
	f.backend.family = 9;
	assert_int_equal(chan_flow_decode(&f, sizeof(f), &out, err, sizeof(err)), -EINVAL);
	printf("FLOW: found / not found decode; short, long, unknown flags, a draining ring "
	       "backend, a bad family: refused\n");
}

static void test_counter_names_cover_every_counter(void **state)
{
	(void)state;
	for (__u32 i = 0; i < COUNTER_COUNT; i++) {
		assert_non_null(counter_name(i));
		assert_string_not_equal(counter_name(i), "unknown");
	}
	assert_string_equal(counter_name(COUNTER_RX_PACKETS), "rx_packets");
	assert_string_equal(counter_name(counter_drop(PKT_DROP_TRUNCATED)), "drop_truncated");
	assert_string_equal(counter_name(COUNTER_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_round_trips_in_parts),
		cmocka_unit_test(test_message_cut_into_single_bytes_is_assembled),
		cmocka_unit_test(test_bad_headers_are_refused),
		cmocka_unit_test(test_peer_closing_mid_message_is_reported),
		cmocka_unit_test(test_send_refuses_oversized_payload),
		cmocka_unit_test(test_error_message_carries_code_and_text),
		cmocka_unit_test(test_valid_vip_decodes),
		cmocka_unit_test(test_malformed_vips_are_refused_by_name),
		cmocka_unit_test(test_gen_begin_checks),
		cmocka_unit_test(test_members_message_decodes_with_its_records),
		cmocka_unit_test(test_malformed_members_messages_are_refused),
		cmocka_unit_test(test_flow_find_checks_the_tuple),
		cmocka_unit_test(test_flow_answer_is_checked),
		cmocka_unit_test(test_counter_names_cover_every_counter),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("chan", tests, NULL, NULL);
}
