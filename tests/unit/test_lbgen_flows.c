/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen's flow sets and mixes: ranges parsed as an operator writes them (and
 * refused with the bad value named), every flow of the product numbered once,
 * the random order a true permutation reproducible from its seed, TCP kinds
 * and frame sizes in the proportions asked over any stretch of packets, and
 * connection sequences in order per flow.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dataplane/pkt.h"
#include "tools/lbgen/flowset.h"
#include "tools/lbgen/mix.h"

static void assert_range(const char *text, __u8 family, const char *first, __u64 count)
{
	struct flowset_addr_range r;
	char err[256];
	__u8 addr[16] = {0};

	assert_int_equal(flowset_parse_addr_range(text, &r, err, sizeof(err)), 0);
	assert_int_equal(r.family, family);
	assert_int_equal(inet_pton(family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6, first, addr),
			 1);
	assert_memory_equal(r.first, addr, 16);
	assert_int_equal(r.count, count);
}

static void assert_range_refused(const char *text, const char *message_part)
{
	struct flowset_addr_range r;
	char err[256] = "";

	assert_int_equal(flowset_parse_addr_range(text, &r, err, sizeof(err)), -EINVAL);
	/* The message names the bad value and says what is wrong. */
	assert_non_null(strstr(err, text));
	assert_non_null(strstr(err, message_part));
}

static void test_address_ranges_parse_as_written(void **state)
{
	(void)state;
	assert_range("10.0.0.1", FLOW_FAMILY_IPV4, "10.0.0.1", 1);
	assert_range("10.0.0.1-10.0.0.100", FLOW_FAMILY_IPV4, "10.0.0.1", 100);
	assert_range("10.0.0.77/24", FLOW_FAMILY_IPV4, "10.0.0.0", 256);
	assert_range("10.0.0.255-10.0.1.2", FLOW_FAMILY_IPV4, "10.0.0.255", 4);
	assert_range("0.0.0.0/0", FLOW_FAMILY_IPV4, "0.0.0.0", 1ull << 32);
	assert_range("fd00::1", FLOW_FAMILY_IPV6, "fd00::1", 1);
	assert_range("fd00::ff-fd00::1:1", FLOW_FAMILY_IPV6, "fd00::ff", 0x10000 - 0xff + 2);
	assert_range("fd00::1234/120", FLOW_FAMILY_IPV6, "fd00::1200", 256);
	assert_range("fd00::/96", FLOW_FAMILY_IPV6, "fd00::", 1ull << 32);

	assert_range_refused("10.0.0.9-10.0.0.1", "below the first");
	assert_range_refused("10.0.0.1-fd00::1", "not an address");
	assert_range_refused("fd00::/95", "more than");
	assert_range_refused("fd00::1-fd01::1", "more than");
	assert_range_refused("10.0.0.1/33", "not an address");
	assert_range_refused("10.0.0", "not an address");
	assert_range_refused("", "not an address");
	assert_range_refused("-10.0.0.1", "not an address");
}

static void test_port_ranges_parse_and_refuse(void **state)
{
	struct flowset_port_range r;
	char err[256];

	(void)state;
	assert_int_equal(flowset_parse_port_range("80", &r, err, sizeof(err)), 0);
	assert_int_equal(r.first, 80);
	assert_int_equal(r.count, 1);
	assert_int_equal(flowset_parse_port_range("1024-65535", &r, err, sizeof(err)), 0);
	assert_int_equal(r.first, 1024);
	assert_int_equal(r.count, 64512);
	assert_int_equal(flowset_parse_port_range("0-65535", &r, err, sizeof(err)), 0);
	assert_int_equal(r.count, 65536);
	assert_int_equal(flowset_parse_port_range("2000-1000", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "2000-1000"));
	assert_int_equal(flowset_parse_port_range("65536", &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(flowset_parse_port_range("80-", &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(flowset_parse_port_range("http", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "http"));
}

/* A flow set of the given ranges, finished. */
static void make_flowset(struct flowset *fs, __u8 proto, const char *src4, const char *src6,
			 const char *sports, const char *vip_a, const char *vip_b,
			 const char *vports)
{
	char err[256];

	memset(fs, 0, sizeof(*fs));
	fs->proto = proto;
	if (src4)
		assert_int_equal(flowset_add_clients(fs, src4, err, sizeof(err)), 0);
	if (src6)
		assert_int_equal(flowset_add_clients(fs, src6, err, sizeof(err)), 0);
	assert_int_equal(flowset_parse_port_range(sports, &fs->client_ports, err, sizeof(err)), 0);
	assert_int_equal(flowset_parse_port_range(vports, &fs->vip_ports, err, sizeof(err)), 0);
	assert_int_equal(flowset_add_vips(fs, vip_a, err, sizeof(err)), 0);
	if (vip_b)
		assert_int_equal(flowset_add_vips(fs, vip_b, err, sizeof(err)), 0);
	assert_int_equal(flowset_finish(fs, err, sizeof(err)), 0);
}

static int tuple_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct flow_tuple));
}

static void test_every_flow_of_the_product_is_numbered_once(void **state)
{
	struct flowset fs;

	(void)state;
	/* 3 IPv4 and 3 IPv6 clients x 4 ports x 2 VIP ports x (2 + 1) VIPs. */
	make_flowset(&fs, PKT_PROTO_UDP, "10.1.0.1-10.1.0.3", "fd01::1-fd01::3", "5000-5003",
		     "10.99.0.1-10.99.0.2", "fd99::1", "53-54");
	assert_int_equal(fs.flow_count, 3 * 4 * 2 * 3);
	struct flow_tuple *all = calloc(fs.flow_count, sizeof(*all));
	assert_non_null(all);
	for (__u64 f = 0; f < fs.flow_count; f++) {
		flowset_tuple(&fs, f, &all[f]);
		const struct flow_tuple *t = &all[f];
		assert_int_equal(t->proto, PKT_PROTO_UDP);
		__u32 sport = ntohs(t->src_port), dport = ntohs(t->dst_port);
		assert_true(sport >= 5000 && sport <= 5003);
		assert_true(dport == 53 || dport == 54);
		if (t->family == FLOW_FAMILY_IPV4) {
			__u32 src = ntohl(t->src_addr[0]), dst = ntohl(t->dst_addr[0]);
			assert_true(src >= 0x0a010001 && src <= 0x0a010003);
			assert_true(dst == 0x0a630001 || dst == 0x0a630002);
			assert_int_equal(t->src_addr[1] | t->dst_addr[1] | t->src_addr[3], 0);
		} else {
			assert_int_equal(t->family, FLOW_FAMILY_IPV6);
			assert_int_equal(ntohl(t->dst_addr[3]), 1);
			assert_true(ntohl(t->src_addr[3]) >= 1 && ntohl(t->src_addr[3]) <= 3);
		}
	}
	/* The VIP varies fastest: consecutive flows go to different VIPs. */
	assert_memory_not_equal(all[0].dst_addr, all[1].dst_addr, 16);
	assert_int_equal(all[0].src_port, all[1].src_port);
	qsort(all, fs.flow_count, sizeof(*all), tuple_cmp);
	for (__u64 f = 1; f < fs.flow_count; f++)
		assert_memory_not_equal(&all[f - 1], &all[f], sizeof(all[f]));
	free(all);
}

static void test_flow_sets_are_checked_as_a_whole(void **state)
{
	struct flowset fs;
	char err[256];

	(void)state;
	memset(&fs, 0, sizeof(fs));
	fs.proto = PKT_PROTO_TCP;
	fs.client_ports = (struct flowset_port_range){1000, 10};
	fs.vip_ports = (struct flowset_port_range){80, 1};
	assert_int_equal(flowset_finish(&fs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--vip"));

	assert_int_equal(flowset_add_vips(&fs, "fd99::1", err, sizeof(err)), 0);
	assert_int_equal(flowset_add_clients(&fs, "10.0.0.1", err, sizeof(err)), 0);
	assert_int_equal(flowset_finish(&fs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "IPv6 VIP needs an IPv6 client range"));

	assert_int_equal(flowset_add_clients(&fs, "fd00::1-fd00::2", err, sizeof(err)), 0);
	assert_int_equal(flowset_add_vips(&fs, "10.99.0.1", err, sizeof(err)), 0);
	assert_int_equal(flowset_finish(&fs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "same size"));

	assert_int_equal(flowset_add_clients(&fs, "fd00::9", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "second IPv6 client range"));

	memset(&fs, 0, sizeof(fs));
	fs.proto = PKT_PROTO_TCP;
	fs.client_ports = (struct flowset_port_range){0, 65536};
	fs.vip_ports = (struct flowset_port_range){80, 1};
	assert_int_equal(flowset_add_clients(&fs, "10.0.0.0/16", err, sizeof(err)), 0);
	assert_int_equal(flowset_add_vips(&fs, "10.99.0.0/8", err, sizeof(err)), 0);
	assert_int_equal(flowset_finish(&fs, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 16777216 flows"));

	/* Exactly the limit is allowed. */
	fs.vips[0].count = 1;
	fs.clients[0].count = 256;
	assert_int_equal(flowset_finish(&fs, err, sizeof(err)), 0);
	assert_int_equal(fs.flow_count, FLOWSET_FLOWS_MAX);
}

/* Visits every position once and checks each flow came up exactly once. */
static void assert_permutation(struct flowset *fs, __u64 seed)
{
	__u8 *seen = calloc(fs->flow_count, 1);
	int moved = 0;

	assert_non_null(seen);
	flowset_order(fs, 1, seed);
	for (__u64 p = 0; p < fs->flow_count; p++) {
		__u64 f = flowset_flow_at(fs, p);
		assert_true(f < fs->flow_count);
		assert_int_equal(seen[f], 0);
		seen[f] = 1;
		moved |= f != p;
	}
	if (fs->flow_count > 2)
		assert_true(moved);
	free(seen);
}

static void test_random_order_is_a_permutation_reproducible_from_its_seed(void **state)
{
	static const __u64 counts[] = {1, 2, 3, 7, 100, 1000, 4096, 4097, 65537, 1u << 20};
	struct flowset fs;

	(void)state;
	memset(&fs, 0, sizeof(fs));
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		fs.flow_count = counts[i];
		assert_permutation(&fs, 1);
		assert_permutation(&fs, 0xdeadbeef);
	}
	/* Same seed, same order; another seed, another order. */
	fs.flow_count = 10000;
	flowset_order(&fs, 1, 42);
	__u64 a[64], differ = 0;
	for (int p = 0; p < 64; p++)
		a[p] = flowset_flow_at(&fs, (__u64)p);
	flowset_order(&fs, 1, 42);
	for (int p = 0; p < 64; p++)
		assert_int_equal(flowset_flow_at(&fs, (__u64)p), a[p]);
	flowset_order(&fs, 1, 43);
	for (int p = 0; p < 64; p++)
		differ += flowset_flow_at(&fs, (__u64)p) != a[p];
	assert_true(differ > 32);
	/* Number order is the identity. */
	flowset_order(&fs, 0, 42);
	for (int p = 0; p < 64; p++)
		assert_int_equal(flowset_flow_at(&fs, (__u64)p), p);
}

static void test_tcp_mix_keeps_its_proportions_for_the_run_and_each_flow(void **state)
{
	struct mix_tcp m;
	char err[256];
	__u64 run[256] = {0}, flow[256] = {0};
	const __u64 flows = 1000, packets = 200000;

	(void)state;
	assert_int_equal(mix_parse_tcp(&m, "syn:10,ack:85,fin:5", err, sizeof(err)), 0);
	for (__u64 seq = 0; seq < packets; seq++) {
		__u8 flags = mix_tcp_flags(&m, seq, seq / flows);
		run[flags]++;
		if (seq % flows == 7) /* one flow's packets */
			flow[flags]++;
	}
	/* SYN, PSH+ACK, FIN+ACK; within 0.5% of the packets over the run. */
	assert_true(llabs((long long)run[0x02] - 20000) < 1000);
	assert_true(llabs((long long)run[0x18] - 170000) < 1000);
	assert_true(llabs((long long)run[0x11] - 10000) < 1000);
	assert_int_equal(run[0x02] + run[0x18] + run[0x11], packets);
	/* The flow's 200 packets have every kind, near 20 / 170 / 10. */
	assert_true(flow[0x02] >= 12 && flow[0x02] <= 28);
	assert_true(flow[0x11] >= 4 && flow[0x11] <= 16);

	assert_int_equal(mix_parse_tcp(&m, "rst", err, sizeof(err)), 0);
	assert_int_equal(mix_tcp_flags(&m, 12345, 0), PKT_TCP_RST | PKT_TCP_ACK);
	assert_int_equal(mix_parse_tcp(&m, "syn:1,syn:2", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "syn:1,syn:2"));
	assert_int_equal(mix_parse_tcp(&m, "urg", err, sizeof(err)), -EINVAL);
	assert_int_equal(mix_parse_tcp(&m, "ack:0", err, sizeof(err)), -EINVAL);
	assert_int_equal(mix_parse_tcp(&m, "ack,", err, sizeof(err)), -EINVAL);
}

static void test_connection_sequences_go_syn_data_fin_per_flow(void **state)
{
	struct mix_tcp m;
	const __u64 flows = 50;

	(void)state;
	mix_tcp_connections(&m, 3);
	for (__u64 f = 0; f < flows; f++) {
		/* Two whole connections: SYN, 3 x PSH+ACK, FIN+ACK, then again. */
		static const __u8 expected[] = {0x02, 0x18, 0x18, 0x18, 0x11,
						0x02, 0x18, 0x18, 0x18, 0x11};
		for (__u64 round = 0; round < sizeof(expected); round++)
			assert_int_equal(mix_tcp_flags(&m, round * flows + f, round),
					 expected[round]);
	}
	mix_tcp_connections(&m, 0);
	assert_int_equal(mix_tcp_flags(&m, 0, 0), PKT_TCP_SYN);
	assert_int_equal(mix_tcp_flags(&m, 1, 1), PKT_TCP_FIN | PKT_TCP_ACK);
}

static void test_imix_is_7_4_1_of_64_570_1518_spread_evenly(void **state)
{
	struct mix_size m;
	char err[256];
	__u64 counts[3] = {0};

	(void)state;
	assert_int_equal(mix_parse_size(&m, "imix", err, sizeof(err)), 0);
	assert_int_equal(m.period, 12);
	for (__u64 seq = 0; seq < 1200; seq++) {
		__u32 s = mix_size_at(&m, seq);
		counts[s == 64 ? 0 : s == 570 ? 1 : 2]++;
		assert_true(s == 64 || s == 570 || s == 1518);
		/* Never two large frames within one period. */
		if (s == 1518)
			assert_int_not_equal(mix_size_at(&m, seq + 1), 1518);
	}
	assert_int_equal(counts[0], 700);
	assert_int_equal(counts[1], 400);
	assert_int_equal(counts[2], 100);
	/* Mean 353.8 bytes; with 64 raised to 82, (7 * 82 + 4 * 570 + 1518) / 12. */
	assert_true(mix_size_mean(&m, 64) > 353.8 && mix_size_mean(&m, 64) < 353.9);
	assert_true(mix_size_mean(&m, 82) > 364.3 && mix_size_mean(&m, 82) < 364.4);

	assert_int_equal(mix_parse_size(&m, "1518", err, sizeof(err)), 0);
	assert_int_equal(mix_size_at(&m, 99), 1518);
	assert_int_equal(mix_parse_size(&m, "60", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "60"));
	assert_int_equal(mix_parse_size(&m, "9019", err, sizeof(err)), -EINVAL);
	assert_int_equal(mix_parse_size(&m, "64:4000,128:100", err, sizeof(err)), -EINVAL);
	assert_int_equal(mix_parse_size(&m, "64:x", err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_ranges_parse_as_written),
		cmocka_unit_test(test_port_ranges_parse_and_refuse),
		cmocka_unit_test(test_every_flow_of_the_product_is_numbered_once),
		cmocka_unit_test(test_flow_sets_are_checked_as_a_whole),
		cmocka_unit_test(test_random_order_is_a_permutation_reproducible_from_its_seed),
		cmocka_unit_test(test_tcp_mix_keeps_its_proportions_for_the_run_and_each_flow),
		cmocka_unit_test(test_connection_sequences_go_syn_data_fin_per_flow),
		cmocka_unit_test(test_imix_is_7_4_1_of_64_570_1518_spread_evenly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
