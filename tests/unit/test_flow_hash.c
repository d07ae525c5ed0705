/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared flow hash: that it is MurmurHash3 as published, that its values
 * are pinned (every instance and both dataplanes must agree forever), and the
 * properties the dataplanes rely on.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dataplane/flow_hash.h"

static struct flow_tuple tuple_of(const char *src, const char *dst, __u16 sport, __u16 dport,
				  __u8 proto)
{
	struct flow_tuple t;

	memset(&t, 0, sizeof(t));
	if (strchr(src, ':')) {
		t.family = FLOW_FAMILY_IPV6;
		assert_int_equal(inet_pton(AF_INET6, src, t.src_addr), 1);
		assert_int_equal(inet_pton(AF_INET6, dst, t.dst_addr), 1);
	} else {
		t.family = FLOW_FAMILY_IPV4;
		assert_int_equal(inet_pton(AF_INET, src, t.src_addr), 1);
		assert_int_equal(inet_pton(AF_INET, dst, t.dst_addr), 1);
	}
	t.src_port = htons(sport);
	t.dst_port = htons(dport);
	t.proto = proto;
	return t;
}

/* MurmurHash3_x86_32's published vectors for whole 4-byte blocks. */
static void test_core_is_murmur3_x86_32(void **state)
{
	(void)state;
	__u32 w;

	assert_int_equal(flow_hash_words(NULL, 0, 0), 0);
	assert_int_equal(flow_hash_words(NULL, 0, 1), 0x514e28b7u);
	assert_int_equal(flow_hash_words(NULL, 0, 0xffffffffu), 0x81f16f39u);
	w = 0;
	assert_int_equal(flow_hash_words(&w, 1, 0), 0x2362f9deu);
	w = 0x87654321u;
	assert_int_equal(flow_hash_words(&w, 1, 0), 0xf55b516bu);
	assert_int_equal(flow_hash_words(&w, 1, 0x5082edeeu), 0x2362f9deu);
	w = 0x61616161u; /* "aaaa" */
	assert_int_equal(flow_hash_words(&w, 1, 0x9747b28cu), 0x5a97808au);
	w = 0x64636261u; /* "abcd" read little-endian */
	assert_int_equal(flow_hash_words(&w, 1, 0x9747b28cu), 0xf0478627u);
	print_message("flow hash core matches MurmurHash3_x86_32 on 8 published vectors\n");
}

/* Produced by tests/fixtures/flow_hash_vectors.py, an independent reading. */
static const struct {
	const char *src, *dst;
	__u16 sport, dport;
	__u8 proto;
	__u32 hash;
} pinned[] = {
	{ "198.51.100.7", "192.0.2.10", 40000, 80, 6, 0xac29a4c9u },
	{ "198.51.100.7", "192.0.2.10", 40001, 80, 6, 0x75ce33a6u },
	{ "203.0.113.99", "192.0.2.10", 5353, 53, 17, 0xc5a713f1u },
	{ "198.51.100.7", "192.0.2.10", 0, 0, 17, 0xc3f982efu },
	{ "2001:db8:1::7", "2001:db8::10", 40000, 443, 6, 0xcbd020b6u },
	{ "2001:db8:1::7", "2001:db8::10", 0, 0, 17, 0x515e0e1cu },
};

static void test_flow_hash_matches_pinned_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		struct flow_tuple t = tuple_of(pinned[i].src, pinned[i].dst, pinned[i].sport,
					       pinned[i].dport, pinned[i].proto);
		assert_int_equal(flow_hash(&t), pinned[i].hash);
	}
	print_message("flow_hash agrees with %zu pinned IPv4/IPv6 TCP/UDP vectors\n",
		      sizeof(pinned) / sizeof(pinned[0]));
}

static void test_address_only_hash_ignores_ports(void **state)
{
	(void)state;
	struct flow_tuple a = tuple_of("198.51.100.7", "192.0.2.10", 40000, 80, IPPROTO_UDP);
	struct flow_tuple b = tuple_of("198.51.100.7", "192.0.2.10", 1234, 5678, IPPROTO_UDP);
	struct flow_tuple zero = tuple_of("198.51.100.7", "192.0.2.10", 0, 0, IPPROTO_UDP);

	assert_int_equal(flow_hash_addrs(&a), flow_hash_addrs(&b));
	assert_int_equal(flow_hash_addrs(&a), flow_hash(&zero));
	assert_int_not_equal(flow_hash(&a), flow_hash(&b));
	/* The pinned UDP fragment vector is the address-only hash. */
	assert_int_equal(flow_hash_addrs(&a), 0xc3f982efu);
}

static void test_hash_separates_protocol_and_family(void **state)
{
	(void)state;
	struct flow_tuple tcp = tuple_of("198.51.100.7", "192.0.2.10", 40000, 80, IPPROTO_TCP);
	struct flow_tuple udp = tuple_of("198.51.100.7", "192.0.2.10", 40000, 80, IPPROTO_UDP);
	struct flow_tuple v6 = tuple_of("::c633:6407", "::c000:20a", 40000, 80, IPPROTO_TCP);

	assert_int_not_equal(flow_hash(&tcp), flow_hash(&udp));
	assert_int_not_equal(flow_hash(&tcp), flow_hash(&v6));
}

static void test_ring_lookup_uses_hash_mod_size(void **state)
{
	(void)state;
	__u32 ring[13];

	for (__u32 i = 0; i < 13; i++)
		ring[i] = 100 + i;
	assert_int_equal(flow_hash_ring_lookup(ring, 13, 0), 100);
	assert_int_equal(flow_hash_ring_lookup(ring, 13, 27), 101);
	assert_int_equal(flow_hash_ring_lookup(ring, 13, 0xffffffffu), 100 + 0xffffffffu % 13);
	/* A VIP without a table has no backend rather than slot 0. */
	assert_int_equal(flow_hash_ring_lookup(NULL, 0, 1234), FLOW_NO_BACKEND);
}

/*
 * Consecutive client ports (what a busy NAT produces) spread evenly: a
 * chi-square test over 64 slot groups, 63 degrees of freedom, whose 99.9%
 * critical value is 103.4.
 */
static void test_sequential_ports_spread_evenly_over_slots(void **state)
{
	(void)state;
	enum { BUCKETS = 64, FLOWS = 1 << 20 };
	static __u32 counts[BUCKETS];
	double expected = (double)FLOWS / BUCKETS, chi_square = 0;

	for (__u32 i = 0; i < FLOWS; i++) {
		struct flow_tuple t = tuple_of("10.0.0.1", "192.0.2.10", 0, 443, IPPROTO_TCP);
		t.src_addr[0] = htonl(0x0a000000u + (i >> 16));
		t.src_port = htons((__u16)i);
		counts[flow_hash_ring_slot(flow_hash(&t), 65537) % BUCKETS]++;
	}
	for (int b = 0; b < BUCKETS; b++)
		chi_square += (counts[b] - expected) * (counts[b] - expected) / expected;
	print_message("1M sequential flows over 64 slot groups: chi-square %.1f (limit 103.4)\n",
		      chi_square);
	assert_true(chi_square < 103.4);
}

static void test_gue_port_and_flow_label_ranges(void **state)
{
	(void)state;
	for (__u32 h = 0; h < 2000000; h += 997) {
		__u32 hash = h * 2654435761u;
		assert_true(flow_hash_gue_source_port(hash) >= 49152);
		__u32 label = flow_hash_ipv6_flow_label(hash);
		assert_true(label > 0 && label <= 0xfffff);
	}
	assert_int_equal(flow_hash_ipv6_flow_label(0), 1);
}

int main(void)
{
	/* cmocka writes results to stdout and stderr: keep them in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core_is_murmur3_x86_32),
		cmocka_unit_test(test_flow_hash_matches_pinned_vectors),
		cmocka_unit_test(test_address_only_hash_ignores_ports),
		cmocka_unit_test(test_hash_separates_protocol_and_family),
		cmocka_unit_test(test_ring_lookup_uses_hash_mod_size),
		cmocka_unit_test(test_sequential_ports_spread_evenly_over_slots),
		cmocka_unit_test(test_gue_port_and_flow_label_ranges),
	};
	return cmocka_run_group_tests_name("flow_hash", tests, NULL, NULL);
}
