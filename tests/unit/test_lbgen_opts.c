/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen's command line and its JSON summary: options parsed as documented,
 * with their defaults; rates in packets/s and % of link; combinations that
 * cannot mean anything refused with the option named; --help listing every
 * option; and the JSON object carrying every key of the contract `make
 * bench` reads, with the NDR block only in NDR mode.
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
#include "tools/lbgen/opts.h"
#include "tools/lbgen/report.h"

/* Parses a NULL-terminated argument list (after "lbgen"). */
static int parse(struct opts *o, char *err, size_t err_size, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"lbgen";
	va_start(ap, err_size);
	for (char *a; (a = va_arg(ap, char *)) != NULL;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return opts_parse(o, argc, argv, err, err_size);
}

static struct opts o; /* large: static, not on the stack */

static void test_a_full_command_line_parses(void **state)
{
	char err[512] = "";

	(void)state;
	assert_int_equal(
		parse(&o, err, sizeof(err), "--tx-port", "1", "--rx-port", "2", "--rx-queues", "3",
		      "--src-mac", "02:00:00:00:00:0a", "--dst-mac", "02:00:00:00:00:0b", "--src",
		      "10.1.0.1-10.1.0.10", "--src", "fd01::1-fd01::a", "--src-port", "2000-2099",
		      "--vip", "10.99.100.1", "--vip", "fd99:100::1", "--vip-port", "80-81",
		      "--proto", "tcp", "--order", "random", "--seed", "7", "--tcp-conn", "4",
		      "--size", "imix", "--rate", "2M", "--duration", "5", "--rx-wait", "100",
		      "--backends", "10.99.3.11,fd99:3::11", "--gue-port", "7000", "--pcap-tx",
		      "tx.pcap", "--pcap-rx", "rx.pcap", "--json", "-", "-q", NULL),
		0);
	assert_string_equal(err, "");
	assert_int_equal(o.tx_port, 1);
	assert_int_equal(o.rx_port, 2);
	assert_int_equal(o.rx_queues, 3);
	assert_true(o.has_src_mac);
	assert_int_equal(o.src_mac[5], 0x0a);
	assert_int_equal(o.dst_mac[5], 0x0b);
	assert_int_equal(o.flows.flow_count, 10 * 100 * 2 * 2);
	assert_true(o.random_order);
	assert_int_equal(o.seed, 7);
	assert_true(o.tcp.connections);
	assert_int_equal(o.tcp.data_packets, 4);
	assert_int_equal(o.sizes.period, 12);
	assert_int_equal(o.rate.unit, OPTS_RATE_PPS);
	assert_true(o.rate.value == 2e6);
	assert_true(o.duration_s == 5);
	assert_int_equal(o.rx_wait_ms, 100);
	assert_int_equal(o.backend_count, 2);
	assert_int_equal(o.backends[1].family, FLOW_FAMILY_IPV6);
	assert_int_equal(o.gue_port, 7000);
	assert_string_equal(o.pcap_tx_path, "tx.pcap");
	assert_string_equal(o.pcap_rx_path, "rx.pcap");
	assert_string_equal(o.json_path, "-");
	assert_true(o.quiet);
}

static void test_defaults_are_those_documented(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), "--src", "10.0.0.1", "--vip", "10.99.0.1",
			       "--tx-port", "3", NULL),
			 0);
	assert_int_equal(o.rx_port, 3); /* the TX port */
	assert_int_equal(o.rx_queues, 1);
	assert_false(o.has_src_mac);
	for (int i = 0; i < 6; i++)
		assert_int_equal(o.dst_mac[i], 0xff);
	assert_int_equal(o.flows.proto, PKT_PROTO_TCP);
	assert_int_equal(o.flows.client_ports.first, 1024);
	assert_int_equal(o.flows.client_ports.count, 1024);
	assert_int_equal(o.flows.vip_ports.first, 80);
	assert_int_equal(o.flows.flow_count, 1024);
	assert_false(o.tcp.connections);
	assert_int_equal(mix_tcp_flags(&o.tcp, 5, 0), PKT_TCP_ACK | 0x08);
	assert_int_equal(mix_size_at(&o.sizes, 0), 64);
	assert_int_equal(o.rate.unit, OPTS_RATE_UNLIMITED);
	assert_true(o.duration_s == 0);
	assert_int_equal(o.count, 0);
	assert_int_equal(o.rx_wait_ms, 500);
	assert_int_equal(o.gue_port, PKT_GUE_PORT_DEFAULT);
	assert_int_equal(o.seed, 1);
	assert_false(o.random_order);
	assert_false(o.ndr);
}

static void test_rates_in_pps_and_percent_of_link(void **state)
{
	struct opts_rate r;
	char err[512];

	(void)state;
	assert_int_equal(opts_parse_rate("2000000", &r, err, sizeof(err)), 0);
	assert_true(r.unit == OPTS_RATE_PPS && r.value == 2e6);
	assert_int_equal(opts_parse_rate("2M", &r, err, sizeof(err)), 0);
	assert_true(r.value == 2e6);
	assert_int_equal(opts_parse_rate("1.5k", &r, err, sizeof(err)), 0);
	assert_true(r.value == 1500);
	assert_int_equal(opts_parse_rate("1G", &r, err, sizeof(err)), 0);
	assert_true(r.value == 1e9);
	assert_int_equal(opts_parse_rate("40%", &r, err, sizeof(err)), 0);
	assert_true(r.unit == OPTS_RATE_LINK_PERCENT && r.value == 40);
	assert_int_equal(opts_parse_rate("100%", &r, err, sizeof(err)), 0);
	static const char *const bad[] = {"0", "0.5", "-5", "2X",    "101%", "0%",
					  "%", "",    "M",  "1e400", "nan"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(opts_parse_rate(bad[i], &r, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "not a rate"));
	}
}

/* Expects the command line to be refused with a message containing part. */
#define assert_refused(part, ...)                                                                  \
	do {                                                                                       \
		char err_[512] = "";                                                               \
		assert_int_equal(parse(&o, err_, sizeof(err_), __VA_ARGS__, NULL), -EINVAL);       \
		print_message("  refused: %s\n", err_);                                            \
		assert_non_null(strstr(err_, part));                                               \
	} while (0)

static void test_meaningless_combinations_are_refused(void **state)
{
	(void)state;
	assert_refused("--vip", "--src", "10.0.0.1");
	assert_refused("--rate 3Q", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--rate", "3Q");
	assert_refused("--src 10.0.0.300", "--src", "10.0.0.300", "--vip", "1.2.3.4");
	assert_refused("--tcp-flags", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--proto", "udp",
		       "--tcp-flags", "syn");
	assert_refused("give one", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--tcp-flags", "syn",
		       "--tcp-conn", "2");
	assert_refused("--src", "--replay", "x.pcap", "--src", "10.0.0.1");
	assert_refused("--size", "--replay", "x.pcap", "--size", "128");
	assert_refused("--rate", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--ndr");
	assert_refused("--duration", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--ndr", "--rate",
		       "1M", "--count", "100");
	assert_refused("only with --ndr", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--ndr-loss",
		       "0");
	assert_refused("--ndr-loss", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--ndr", "--rate",
		       "1M", "--ndr-loss", "1.5");
	assert_refused("--backends", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--backends",
		       "10.0.0.1,,10.0.0.2");
	assert_refused("--dst-mac", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--dst-mac", "02:00");
	assert_refused("--count", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--count", "1.5");
	assert_refused("--rx-queues 17", "--src", "10.0.0.1", "--vip", "1.2.3.4", "--rx-queues",
		       "17");
	assert_refused("--bogus: unknown option", "--bogus");
	assert_refused("--rate: needs a value", "--rate");
	assert_refused("extra: unexpected argument", "--src", "10.0.0.1", "--vip", "1.2.3.4",
		       "extra");
}

static void test_ndr_options(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), "--src", "10.0.0.1", "--vip", "1.2.3.4",
			       "--ndr", "--rate", "50%", "--ndr-loss", "0.1%", "--ndr-resolution",
			       "10k", NULL),
			 0);
	assert_true(o.ndr);
	assert_true(o.duration_s == 10); /* each trial's, by default */
	assert_true(o.ndr_loss > 0.000999 && o.ndr_loss < 0.001001);
	assert_int_equal(o.ndr_resolution.unit, OPTS_RATE_PPS);
	assert_int_equal(parse(&o, err, sizeof(err), "--src", "10.0.0.1", "--vip", "1.2.3.4",
			       "--ndr", "--rate", "1M", "--ndr-loss", "0.001", "--duration", "2",
			       NULL),
			 0);
	assert_true(o.ndr_loss == 0.001);
	assert_true(o.duration_s == 2);
	assert_int_equal(o.ndr_resolution.unit, OPTS_RATE_UNLIMITED); /* 1% of --rate */
}

static void test_help_lists_every_option(void **state)
{
	static const char *const names[] = {
		"--tx-port",	    "--rx-port",   "--src-mac",	  "--dst-mac",	"--src ",
		"--src-port",	    "--vip ",	   "--vip-port",  "--proto",	"--order",
		"--seed",	    "--tcp-flags", "--tcp-conn",  "--size",	"--replay",
		"--rate",	    "--duration",  "--count",	  "--rx-wait",	"--backends",
		"--gue-port",	    "--pcap-tx",   "--pcap-rx",	  "--ndr ",	"--ndr-loss",
		"--ndr-resolution", "--json",	   "-q, --quiet", "-h, --help",
	};
	char buf[8192];
	char err[512];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	(void)state;
	assert_non_null(f);
	opts_usage(f);
	fclose(f);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strstr(buf, names[i]))
			fail_msg("--help does not list %s", names[i]);
	}
	assert_int_equal(parse(&o, err, sizeof(err), "--help", NULL), 0);
	assert_true(o.help);
	assert_int_equal(parse(&o, err, sizeof(err), "-h", NULL), 0);
	assert_true(o.help);
}

static void test_json_summary_has_every_key_of_the_contract(void **state)
{
	static const char *const keys[] = {
		"tx_packets",	   "rx_packets",   "lost",	 "loss_ratio", "duration_s",
		"tx_pps",	   "rx_pps",	   "latency_ns", "flows",      "flows_moved",
		"unknown_backend", "bad_checksum", "not_ours",	 "encap",      "backends",
	};
	static const char *const encaps[] = {"none", "ipip", "ip6ip6", "4in6", "6in4", "gue"};
	static const char *const latency_keys[] = {"p50", "p90", "p99", "p999", "max", "samples"};
	struct track_backend backends[2];
	struct report r;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(backends, 0, sizeof(backends));
	backends[0].family = FLOW_FAMILY_IPV4;
	inet_pton(AF_INET, "10.99.3.11", backends[0].addr);
	backends[0].packets = 600;
	backends[1].family = FLOW_FAMILY_IPV6;
	inet_pton(AF_INET6, "fd99:3::11", backends[1].addr);
	backends[1].packets = 390;
	r.tx_packets = 1000;
	r.duration_s = 2;
	r.flows = 50;
	r.rx.rx_packets = 990;
	r.rx.encap[RXPARSE_ENCAP_4IN6] = 990;
	r.rx.flows_moved = 3;
	r.latency = (struct report_latency){
		.p50 = 100, .p90 = 200, .p99 = 300, .p999 = 400, .max = 500, .samples = 990};
	r.backends = backends;
	r.backend_count = 2;

	json_t *j = report_json(&r);
	assert_non_null(j);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!json_object_get(j, keys[i]))
			fail_msg("no %s", keys[i]);
	json_t *encap = json_object_get(j, "encap"), *lat = json_object_get(j, "latency_ns");
	for (size_t i = 0; i < 6; i++)
		assert_non_null(json_object_get(encap, encaps[i]));
	for (size_t i = 0; i < 6; i++)
		assert_non_null(json_object_get(lat, latency_keys[i]));
	assert_int_equal(json_integer_value(json_object_get(encap, "4in6")), 990);
	assert_int_equal(json_integer_value(json_object_get(j, "lost")), 10);
	assert_true(json_real_value(json_object_get(j, "loss_ratio")) == 0.01);
	assert_true(json_real_value(json_object_get(j, "tx_pps")) == 500);
	assert_true(json_real_value(json_object_get(j, "rx_pps")) == 495);
	assert_int_equal(json_integer_value(json_object_get(lat, "p999")), 400);
	assert_int_equal(json_integer_value(json_object_get(j, "flows_moved")), 3);
	json_t *b = json_object_get(j, "backends");
	assert_int_equal(json_integer_value(json_object_get(b, "10.99.3.11")), 600);
	assert_int_equal(json_integer_value(json_object_get(b, "fd99:3::11")), 390);
	assert_null(json_object_get(j, "ndr"));
	json_decref(j);

	struct report_trial trials[2] = {
		{.rate_pps = 2e6,
		 .tx_pps = 1.9e6,
		 .tx_packets = 100,
		 .rx_packets = 90,
		 .loss_ratio = 0.1},
		{.rate_pps = 1e6, .tx_pps = 1e6, .tx_packets = 100, .rx_packets = 100, .passed = 1},
	};
	r.ndr = 1;
	r.ndr_pps = 1e6;
	r.ndr_loss_threshold = 0.001;
	r.trials = trials;
	r.trial_count = 2;
	j = report_json(&r);
	json_t *ndr = json_object_get(j, "ndr");
	assert_non_null(ndr);
	assert_true(json_real_value(json_object_get(ndr, "pps")) == 1e6);
	assert_true(json_real_value(json_object_get(ndr, "loss_threshold")) == 0.001);
	json_t *ts = json_object_get(ndr, "trials");
	assert_int_equal(json_array_size(ts), 2);
	static const char *const trial_keys[] = {"rate_pps", "tx_packets", "rx_packets",
						 "loss_ratio"};
	for (size_t i = 0; i < 4; i++)
		assert_non_null(json_object_get(json_array_get(ts, 0), trial_keys[i]));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(ts, 0), "rx_packets")),
			 90);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_full_command_line_parses),
		cmocka_unit_test(test_defaults_are_those_documented),
		cmocka_unit_test(test_rates_in_pps_and_percent_of_link),
		cmocka_unit_test(test_meaningless_combinations_are_refused),
		cmocka_unit_test(test_ndr_options),
		cmocka_unit_test(test_help_lists_every_option),
		cmocka_unit_test(test_json_summary_has_every_key_of_the_contract),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
