/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packet core against frames built by scapy (tests/fixtures): every
 * verdict and drop reason, the flow each candidate belongs to, every
 * truncation point of every frame (under ASan, each frame sits in a buffer of
 * exactly its length), and encapsulation and ICMP replies byte for byte.
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

#include "dataplane/pkt.h"

#include "tests/fixtures/pkt_fixtures.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *verdict_name(enum pkt_verdict v)
{
	return v == PKT_VERDICT_CANDIDATE ? "candidate" : v == PKT_VERDICT_NOT_OURS ? "not-ours" : "drop";
}

/* Parses a copy of frame[0..len) in a heap buffer of exactly len bytes. */
static enum pkt_verdict parse_exact(const unsigned char *frame, size_t len, struct pkt_info *info)
{
	unsigned char *copy = malloc(len ? len : 1);
	enum pkt_verdict v;

	assert_non_null(copy);
	memcpy(copy, frame, len);
	v = pkt_parse(copy, copy + len, info);
	free(copy);
	return v;
}

static const struct parse_fixture *find_fixture(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(parse_fixtures); i++) {
		if (strcmp(parse_fixtures[i].name, name) == 0)
			return &parse_fixtures[i];
	}
	fail_msg("no fixture %s", name);
	return NULL;
}

static struct pkt_info parse_named(const char *name)
{
	const struct parse_fixture *f = find_fixture(name);
	struct pkt_info info;

	assert_int_equal(parse_exact(f->frame, f->len, &info), PKT_VERDICT_CANDIDATE);
	return info;
}

static void assert_tuple(const struct pkt_info *info, const char *src, const char *dst,
			 __u16 sport, __u16 dport, __u8 proto)
{
	int af = info->tuple.family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6;
	__be32 addr[4] = { 0 };

	assert_int_equal(inet_pton(af, src, addr), 1);
	assert_memory_equal(info->tuple.src_addr, addr, sizeof(addr));
	memset(addr, 0, sizeof(addr));
	assert_int_equal(inet_pton(af, dst, addr), 1);
	assert_memory_equal(info->tuple.dst_addr, addr, sizeof(addr));
	assert_int_equal(ntohs(info->tuple.src_port), sport);
	assert_int_equal(ntohs(info->tuple.dst_port), dport);
	assert_int_equal(info->tuple.proto, proto);
}

static void test_every_fixture_gets_its_verdict_and_reason(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parse_fixtures); i++) {
		const struct parse_fixture *f = &parse_fixtures[i];
		struct pkt_info info;
		enum pkt_verdict v = parse_exact(f->frame, f->len, &info);

		if (v != f->verdict || (v == PKT_VERDICT_DROP && info.drop_reason != f->reason))
			fail_msg("%s: got %s/%s, want %s/%s", f->name, verdict_name(v),
				 pkt_drop_reason_name(info.drop_reason), verdict_name(f->verdict),
				 pkt_drop_reason_name(f->reason));
	}
	print_message("%zu frames classified as candidate, not-ours or drop with the right reason\n",
		      ARRAY_SIZE(parse_fixtures));
}

static void test_candidates_carry_their_flow(void **state)
{
	(void)state;
	struct pkt_info info = parse_named("v4_tcp_syn");

	assert_tuple(&info, "198.51.100.7", "192.0.2.10", 40000, 80, PKT_PROTO_TCP);
	assert_int_equal(info.l3_offset, 14);
	assert_int_equal(info.l3_length, 40);
	assert_int_equal(info.tcp_flags, PKT_TCP_SYN);
	assert_int_equal(info.hop_limit, 63);
	assert_int_equal(info.tos, 0x2a);
	assert_int_equal(info.flags, PKT_F_DF);

	info = parse_named("v4_tcp_options_ihl7");
	assert_tuple(&info, "198.51.100.7", "192.0.2.10", 40000, 80, PKT_PROTO_TCP);

	info = parse_named("v4_vlan_tcp");
	assert_int_equal(info.l3_offset, 18);
	assert_true(info.flags & PKT_F_VLAN);
	assert_int_equal(info.vlan_tci, (3 << 13) | 42);

	info = parse_named("v4_padded_tcp");
	assert_int_equal(info.l3_length, 40); /* Ethernet padding is not the datagram */

	info = parse_named("v6_ext_tcp");
	assert_tuple(&info, "2001:db8:1::7", "2001:db8::10", 40000, 443, PKT_PROTO_TCP);
	assert_int_equal(info.tos, 0x2a);

	info = parse_named("v6_udp");
	assert_tuple(&info, "2001:db8:1::7", "2001:db8::10", 5353, 53, PKT_PROTO_UDP);
}

static void test_fragments_hash_on_addresses_only(void **state)
{
	(void)state;
	struct pkt_info whole = parse_named("v4_udp");
	struct pkt_info first = parse_named("v4_first_fragment");
	struct pkt_info later = parse_named("v4_later_fragment");

	assert_true(first.flags & PKT_F_FRAGMENT);
	assert_true(later.flags & PKT_F_FRAGMENT);
	assert_tuple(&first, "198.51.100.7", "192.0.2.10", 0, 0, PKT_PROTO_UDP);
	assert_int_equal(pkt_flow_hash(&first), pkt_flow_hash(&later));
	assert_int_equal(pkt_flow_hash(&first), flow_hash_addrs(&whole.tuple));

	struct pkt_info v6 = parse_named("v6_fragment");
	assert_true(v6.flags & PKT_F_FRAGMENT);
	assert_tuple(&v6, "2001:db8:1::7", "2001:db8::10", 0, 0, PKT_PROTO_UDP);
	print_message("first and later fragments of one datagram share one hash\n");
}

static void test_icmp_errors_map_to_the_quoted_flow(void **state)
{
	(void)state;
	struct pkt_info err4 = parse_named("v4_icmp_frag_needed");
	struct pkt_info err6 = parse_named("v6_icmp_too_big");

	/* The error quotes VIP:80 -> client:40000; the flow is the client's. */
	assert_true(err4.flags & PKT_F_ICMP_ERROR);
	assert_tuple(&err4, "198.51.100.7", "192.0.2.10", 40000, 80, PKT_PROTO_TCP);
	assert_true(err6.flags & PKT_F_ICMP_ERROR);
	assert_tuple(&err6, "2001:db8:1::7", "2001:db8::10", 40000, 443, PKT_PROTO_TCP);

	/* So it hashes exactly as the client's own packets do. */
	struct pkt_info syn4 = parse_named("v4_tcp_syn");
	assert_int_equal(pkt_flow_hash(&err4), pkt_flow_hash(&syn4));
	struct pkt_info syn6 = parse_named("v6_tcp_syn");
	assert_int_equal(pkt_flow_hash(&err6), pkt_flow_hash(&syn6));
	/* Its own (outer) header is what gets encapsulated. */
	assert_int_equal(err4.l3_length, 20 + 8 + 28);
	print_message("ICMP errors hash like the flow they quote (IPv4 and IPv6)\n");
}

/* Truncating a frame anywhere must never read past it nor invent a flow. */
static void check_truncations(const char *name, const unsigned char *frame, size_t len,
			      size_t *cuts)
{
	struct pkt_info full;
	enum pkt_verdict whole = parse_exact(frame, len, &full);
	size_t datagram_end = (size_t)full.l3_offset + full.l3_length;

	for (size_t cut = 0; cut < len; cut++) {
		struct pkt_info info;
		enum pkt_verdict v = parse_exact(frame, cut, &info);

		(*cuts)++;
		if (whole == PKT_VERDICT_CANDIDATE && cut < datagram_end) {
			if (v != PKT_VERDICT_DROP || info.drop_reason != PKT_DROP_TRUNCATED)
				fail_msg("%s cut at %zu: got %s/%s, want drop/truncated", name, cut,
					 verdict_name(v), pkt_drop_reason_name(info.drop_reason));
		} else if (whole == PKT_VERDICT_CANDIDATE) {
			assert_int_equal(v, PKT_VERDICT_CANDIDATE); /* only padding was cut */
		} else if (v == PKT_VERDICT_CANDIDATE) {
			fail_msg("%s cut at %zu became a candidate", name, cut);
		}
	}
}

static void test_every_truncation_point_is_dropped_safely(void **state)
{
	(void)state;
	size_t cuts = 0;

	for (size_t i = 0; i < ARRAY_SIZE(parse_fixtures); i++)
		check_truncations(parse_fixtures[i].name, parse_fixtures[i].frame,
				  parse_fixtures[i].len, &cuts);
	for (size_t i = 0; i < ARRAY_SIZE(encap_fixtures); i++)
		check_truncations(encap_fixtures[i].name, encap_fixtures[i].in,
				  encap_fixtures[i].in_len, &cuts);
	print_message("%zu truncated frames: each dropped as truncated, none read out of bounds\n",
		      cuts);
}

static void test_vip_checks_drop_expired_ttl_and_odd_tcp_flags(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vip_check_fixtures); i++) {
		const struct parse_fixture *f = &vip_check_fixtures[i];
		struct pkt_info info;

		assert_int_equal(parse_exact(f->frame, f->len, &info), PKT_VERDICT_CANDIDATE);
		if (pkt_vip_check(&info) != f->reason)
			fail_msg("%s: vip check gave %s, want %s", f->name,
				 pkt_drop_reason_name(pkt_vip_check(&info)),
				 pkt_drop_reason_name(f->reason));
	}
	/* Fragments and ICMP errors carry no TCP flags to judge. */
	struct pkt_info err = parse_named("v4_icmp_frag_needed");
	assert_int_equal(pkt_vip_check(&err), PKT_DROP_NONE);
	struct pkt_info syn = parse_named("v4_tcp_syn");
	assert_int_equal(pkt_vip_check(&syn), PKT_DROP_NONE);
}

static struct pkt_encap_params params_for(enum pkt_encap_type type, int outer_family, int vlan)
{
	struct pkt_encap_params p;
	static const __u8 lb_mac[6] = { 2, 0, 0, 0, 0, 3 }, backend_mac[6] = { 2, 0, 0, 0, 0, 4 };

	memset(&p, 0, sizeof(p));
	p.type = (__u8)type;
	p.outer_family = (__u8)outer_family;
	p.mtu = 1500;
	p.gue_port = htons(6080);
	memcpy(p.src_mac, lb_mac, 6);
	memcpy(p.dst_mac, backend_mac, 6);
	if (vlan >= 0) {
		p.has_vlan = 1;
		p.vlan_tci = (__u16)vlan;
	}
	if (outer_family == FLOW_FAMILY_IPV4) {
		inet_pton(AF_INET, "10.0.0.2", p.outer_src);
		inet_pton(AF_INET, "10.1.0.11", p.outer_dst);
	} else {
		inet_pton(AF_INET6, "fd00::2", p.outer_src);
		inet_pton(AF_INET6, "fd00:1::11", p.outer_dst);
	}
	return p;
}

static void test_encapsulation_matches_scapy_byte_for_byte(void **state)
{
	(void)state;
	enum { HEADROOM = 128 };

	for (size_t i = 0; i < ARRAY_SIZE(encap_fixtures); i++) {
		const struct encap_fixture *f = &encap_fixtures[i];
		struct pkt_encap_params p = params_for(f->type, f->outer_family, f->vlan);
		unsigned char *buf = malloc(HEADROOM + f->in_len);
		struct pkt_info info;
		__u8 *out;
		__u32 out_len;

		assert_non_null(buf);
		memcpy(buf + HEADROOM, f->in, f->in_len);
		assert_int_equal(pkt_parse(buf + HEADROOM, buf + HEADROOM + f->in_len, &info),
				 PKT_VERDICT_CANDIDATE);
		assert_int_equal(pkt_encap(buf + HEADROOM, (__u32)f->in_len, HEADROOM, &info, &p,
					   pkt_flow_hash(&info), &out, &out_len),
				 PKT_ENCAP_OK);
		if (out_len != f->out_len || memcmp(out, f->out, out_len) != 0) {
			for (__u32 b = 0; b < out_len && b < f->out_len; b++) {
				if (out[b] != f->out[b])
					fail_msg("%s: byte %u is 0x%02x, want 0x%02x (len %u/%zu)",
						 f->name, b, out[b], f->out[b], out_len, f->out_len);
			}
			fail_msg("%s: length %u, want %zu", f->name, out_len, f->out_len);
		}
		free(buf);
	}
	print_message("%zu encapsulations (IPIP, IP6IP6, 4in6, 6in4, GUE/IPv4, GUE/IPv6, VLAN) "
		      "identical to scapy's\n", ARRAY_SIZE(encap_fixtures));
}

static void test_encap_reports_what_exceeds_the_mtu(void **state)
{
	(void)state;
	const struct too_big_fixture *big4 = &too_big_fixtures[0];
	struct pkt_encap_params ipip = params_for(PKT_ENCAP_IPIP, FLOW_FAMILY_IPV4, -1);
	struct pkt_encap_params gue6 = params_for(PKT_ENCAP_GUE, FLOW_FAMILY_IPV6, -1);
	struct pkt_info info;

	assert_int_equal(parse_exact(big4->in, big4->in_len, &info), PKT_VERDICT_CANDIDATE);
	assert_int_equal(info.l3_length, 1500);
	assert_int_equal(pkt_encap_check(&info, &ipip), PKT_ENCAP_TOO_BIG_REPLY);
	assert_int_equal(pkt_encap_inner_mtu(&ipip), 1480);
	assert_int_equal(pkt_encap_inner_mtu(&gue6), 1500 - 52);
	/* Without DF the outer packet may be fragmented instead. */
	info.flags &= (__u8)~PKT_F_DF;
	assert_int_equal(pkt_encap_check(&info, &ipip), PKT_ENCAP_TOO_BIG_FRAGMENT);
	/* An error is never answered with an error. */
	info.flags |= PKT_F_ICMP_ERROR;
	assert_int_equal(pkt_encap_check(&info, &ipip), PKT_ENCAP_TOO_BIG_DROP);
	/* A larger MTU fits. */
	ipip.mtu = 1520;
	info.flags = PKT_F_DF;
	assert_int_equal(pkt_encap_check(&info, &ipip), PKT_ENCAP_OK);

	/* Too little headroom is refused before anything is written. */
	const struct encap_fixture *f = &encap_fixtures[0];
	unsigned char *buf = malloc(f->in_len);
	__u8 *out = NULL;
	__u32 out_len = 0;
	assert_non_null(buf);
	memcpy(buf, f->in, f->in_len);
	struct pkt_encap_params p = params_for(f->type, f->outer_family, f->vlan);
	assert_int_equal(pkt_parse(buf, buf + f->in_len, &info), PKT_VERDICT_CANDIDATE);
	assert_int_equal(pkt_encap(buf, (__u32)f->in_len, 0, &info, &p, 0, &out, &out_len),
			 -ENOSPC);
	assert_memory_equal(buf, f->in, f->in_len);
	free(buf);
}

static void test_too_big_replies_match_scapy(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(too_big_fixtures); i++) {
		const struct too_big_fixture *f = &too_big_fixtures[i];
		struct pkt_info info;
		__u8 reply[1600];

		assert_int_equal(parse_exact(f->in, f->in_len, &info), PKT_VERDICT_CANDIDATE);
		__u32 n = pkt_icmp_too_big(f->in, &info, (__u16)f->mtu, reply, sizeof(reply));
		assert_int_equal(n, f->out_len);
		assert_memory_equal(reply, f->out, n);
		/* A reply that does not fit the buffer is not written. */
		assert_int_equal(pkt_icmp_too_big(f->in, &info, (__u16)f->mtu, reply, n - 1), 0);
	}
	print_message("fragmentation-needed (576-byte cap) and packet-too-big (1280-byte cap) "
		      "replies identical to scapy's\n");
}

static void test_drop_reasons_have_distinct_names(void **state)
{
	(void)state;
	for (int a = 1; a < PKT_DROP_REASON_COUNT; a++) {
		assert_true(strlen(pkt_drop_reason_name(a)) > 0);
		assert_true(strlen(pkt_drop_reason_meaning(a)) > 0);
		for (int b = a + 1; b < PKT_DROP_REASON_COUNT; b++)
			assert_string_not_equal(pkt_drop_reason_name(a), pkt_drop_reason_name(b));
	}
	assert_string_equal(pkt_drop_reason_name(PKT_DROP_REASON_COUNT), "unknown");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_fixture_gets_its_verdict_and_reason),
		cmocka_unit_test(test_candidates_carry_their_flow),
		cmocka_unit_test(test_fragments_hash_on_addresses_only),
		cmocka_unit_test(test_icmp_errors_map_to_the_quoted_flow),
		cmocka_unit_test(test_every_truncation_point_is_dropped_safely),
		cmocka_unit_test(test_vip_checks_drop_expired_ttl_and_odd_tcp_flags),
		cmocka_unit_test(test_encapsulation_matches_scapy_byte_for_byte),
		cmocka_unit_test(test_encap_reports_what_exceeds_the_mtu),
		cmocka_unit_test(test_too_big_replies_match_scapy),
		cmocka_unit_test(test_drop_reasons_have_distinct_names),
	};
	return cmocka_run_group_tests_name("pkt", tests, NULL, NULL);
}
