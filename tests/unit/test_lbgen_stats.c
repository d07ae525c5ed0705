/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen's measurements: latency percentiles within the histogram's stated
 * precision and never understated; the no-drop-rate search converging on a
 * simulated device's capacity within the resolution, whether the device
 * drops the excess or pushes back on the sender; and the receive
 * accounting's verdicts a user relies on: a flow that comes back toward a
 * second backend is moved (once), tunnels to an address not given are
 * unknown, duplicates, overtaken packets and packets of an earlier trial are
 * told apart, and a probe that disagrees with its headers is caught.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dataplane/pkt.h"
#include "tools/lbgen/latency.h"
#include "tools/lbgen/ndr.h"
#include "tools/lbgen/track.h"

static void test_latency_buckets_hold_values_within_one_32nd(void **state)
{
	__u32 last = 0;

	(void)state;
	for (__u64 v = 0; v < (1ull << 41); v = v < 4096 ? v + 1 : v + v / 97) {
		__u32 b = latency_bucket(v);
		assert_true(b < LATENCY_BUCKETS);
		assert_true(b >= last); /* monotone */
		last = b;
		__u64 max = latency_bucket_max(b);
		assert_true(max >= v);
		if (v < (1ull << LATENCY_MAX_BITS))
			assert_true(max - v <= v / 32);
	}
	assert_int_equal(latency_bucket(~0ull), LATENCY_BUCKETS - 1);
}

static void test_latency_percentiles_never_understate(void **state)
{
	struct latency h;

	(void)state;
	latency_init(&h);
	assert_int_equal(latency_percentile(&h, 0.5), 0);
	/* 1 .. 100000 ns, once each. */
	for (__u64 v = 1; v <= 100000; v++)
		latency_add(&h, v);
	static const double qs[] = {0.5, 0.9, 0.99, 0.999};
	for (size_t i = 0; i < 4; i++) {
		__u64 exact = (__u64)ceil(qs[i] * 100000);
		__u64 p = latency_percentile(&h, qs[i]);
		assert_true(p >= exact);
		assert_true(p <= exact + exact / 32);
	}
	assert_int_equal(latency_percentile(&h, 1.0), 100000);
	assert_int_equal(h.min_ns, 1);
	assert_int_equal(h.max_ns, 100000);
	assert_int_equal(h.count, 100000);

	/* A single slow sample sets max and p99.9 of few samples. */
	struct latency g;
	latency_init(&g);
	for (int i = 0; i < 999; i++)
		latency_add(&g, 1000);
	latency_add(&g, 5000000);
	assert_true(latency_percentile(&g, 0.5) >= 1000 && latency_percentile(&g, 0.5) <= 1031);
	assert_true(latency_percentile(&g, 0.999) <= 1031);
	assert_int_equal(latency_percentile(&g, 1.0), 5000000);
	latency_merge(&g, &h);
	assert_int_equal(g.count, 101000);
	assert_int_equal(g.min_ns, 1);
	assert_int_equal(g.max_ns, 5000000);
}

/* A device that forwards up to capacity_pps and drops the excess. */
static void simulate(struct ndr *n, double capacity_pps, double seconds)
{
	double rate;

	while ((rate = ndr_next_rate(n)) > 0) {
		__u64 tx = (__u64)(rate * seconds);
		__u64 rx = rate <= capacity_pps ? tx : (__u64)(capacity_pps * seconds);
		ndr_record(n, tx, rx, rate);
	}
}

/* A device that pushes back above capacity_pps: nothing lost, less sent. */
static void simulate_backpressure(struct ndr *n, double capacity_pps, double seconds)
{
	double rate;

	while ((rate = ndr_next_rate(n)) > 0) {
		double sent = rate < capacity_pps ? rate : capacity_pps;
		ndr_record(n, (__u64)(sent * seconds), (__u64)(sent * seconds), sent);
	}
}

static void test_ndr_search_finds_capacity_within_resolution(void **state)
{
	struct ndr n;

	(void)state;
	ndr_init(&n, 10e6, 10e3, 0);
	simulate(&n, 3.7e6, 1);
	assert_true(ndr_result(&n) <= 3.7e6);
	assert_true(ndr_result(&n) > 3.7e6 - 10e3);
	/* log2(10e6 / 10e3) = 10 halvings after the first trial. */
	assert_true(n.trial_count >= 10 && n.trial_count <= 11);
	assert_true(n.trials[0].rate_pps == 10e6 && !n.trials[0].passed);
	for (__u32 i = 0; i < n.trial_count; i++)
		assert_int_equal(n.trials[i].passed, n.trials[i].rate_pps <= 3.7e6);

	/* Passing at the maximum ends the search at once. */
	ndr_init(&n, 1e6, 1e3, 0);
	simulate(&n, 2e6, 1);
	assert_int_equal(n.trial_count, 1);
	assert_true(ndr_result(&n) == 1e6);

	/* A device that loses everything: no rate passes. */
	ndr_init(&n, 1e6, 1e4, 0);
	simulate(&n, 0, 1);
	assert_true(ndr_result(&n) == 0);
	assert_true(n.trial_count <= NDR_TRIALS_MAX);

	/* A path that pushes back fails trials above its capacity too. */
	ndr_init(&n, 10e6, 10e3, 0);
	simulate_backpressure(&n, 2.5e6, 1);
	assert_true(ndr_result(&n) <= 2.5e6 / (1 - NDR_RATE_TOLERANCE));
	assert_true(ndr_result(&n) > 2.5e6 - 10e3);
	assert_false(n.trials[0].passed);
	assert_true(n.trials[0].loss_ratio == 0);

	/* A loss threshold lets a trial with a little loss pass. */
	ndr_init(&n, 1e6, 1e3, 0.01);
	ndr_record(&n, 1000000, 995000, 1e6); /* 0.5% */
	assert_true(n.trials[0].passed);
	assert_true(ndr_next_rate(&n) == 0);
	ndr_init(&n, 1e6, 1e3, 0.001);
	ndr_record(&n, 1000000, 995000, 1e6);
	assert_false(n.trials[0].passed);
	assert_true(ndr_next_rate(&n) == 0.5e6);

	/* Nothing sent is a failure; more back than sent is no loss. */
	assert_true(ndr_loss_ratio(0, 0) == 1.0);
	assert_true(ndr_loss_ratio(100, 101) == 0.0);
	assert_true(fabs(ndr_loss_ratio(1000, 999) - 0.001) < 1e-12);
}

/* A small flow set: 4 clients x 1 port x 1 VIP, UDP. */
static void make_flows(struct flowset *fs)
{
	char err[256];

	memset(fs, 0, sizeof(*fs));
	fs->proto = PKT_PROTO_UDP;
	fs->client_ports = (struct flowset_port_range){5000, 1};
	fs->vip_ports = (struct flowset_port_range){53, 1};
	assert_int_equal(flowset_add_clients(fs, "10.1.0.1-10.1.0.4", err, sizeof(err)), 0);
	assert_int_equal(flowset_add_vips(fs, "10.99.100.1", err, sizeof(err)), 0);
	assert_int_equal(flowset_finish(fs, err, sizeof(err)), 0);
}

/* What rxparse would report for flow f's packet seq tunnelled to backend. */
static struct rxparse_result packet(const struct flowset *fs, __u64 f, __u64 seq,
				    const char *backend, enum rxparse_encap encap)
{
	struct rxparse_result r;

	memset(&r, 0, sizeof(r));
	flowset_tuple(fs, f, &r.tuple);
	r.flow = (__u32)f;
	r.seq = seq;
	r.encap = (__u8)encap;
	r.checksums_ok = 1;
	r.backend_family = strchr(backend, ':') ? FLOW_FAMILY_IPV6 : FLOW_FAMILY_IPV4;
	assert_int_equal(inet_pton(r.backend_family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6,
				   backend, r.backend),
			 1);
	return r;
}

static void feed(struct track *t, const struct rxparse_result *r)
{
	track_packet(t, r, 100, 1000);
}

static void test_track_counts_moved_flows_once_each(void **state)
{
	struct flowset fs;
	struct track t;
	struct rxparse_result r;

	(void)state;
	make_flows(&fs);
	assert_int_equal(track_init(&t, &fs), 0);
	/* Without --backends, backends are learned as they come. */
	for (__u64 seq = 0; seq < 8; seq++) {
		r = packet(&fs, seq % 4, seq, seq % 2 ? "10.99.3.12" : "10.99.3.11",
			   RXPARSE_ENCAP_IPIP);
		feed(&t, &r);
	}
	assert_int_equal(t.c.rx_packets, 8);
	assert_int_equal(t.c.flows_seen, 4);
	assert_int_equal(t.c.flows_moved, 0);
	assert_int_equal(t.c.unknown_backend, 0);
	assert_int_equal(t.backend_count, 2);
	assert_int_equal(t.backends[0].packets, 4);
	assert_int_equal(t.c.encap[RXPARSE_ENCAP_IPIP], 8);
	/* Flow 1 goes to .11 now, twice, and back: one moved flow. */
	r = packet(&fs, 1, 9, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	r = packet(&fs, 1, 13, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	r = packet(&fs, 1, 17, "10.99.3.12", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	assert_int_equal(t.c.flows_moved, 1);
	/* Flow 2 to a third backend. */
	r = packet(&fs, 2, 18, "fd99:3::13", RXPARSE_ENCAP_4IN6);
	feed(&t, &r);
	assert_int_equal(t.c.flows_moved, 2);
	assert_int_equal(t.backend_count, 3);
	track_fini(&t);
}

static void test_track_checks_tunnels_against_the_backends_given(void **state)
{
	struct flowset fs;
	struct track t;
	struct rxparse_result r;
	__be32 addr[4] = {0};

	(void)state;
	make_flows(&fs);
	assert_int_equal(track_init(&t, &fs), 0);
	assert_int_equal(inet_pton(AF_INET, "10.99.3.11", addr), 1);
	assert_int_equal(track_add_backend(&t, FLOW_FAMILY_IPV4, addr), 0);
	assert_int_equal(track_add_backend(&t, FLOW_FAMILY_IPV4, addr), -EEXIST);
	memset(addr, 0, sizeof(addr));
	assert_int_equal(inet_pton(AF_INET6, "fd99:3::11", addr), 1);
	assert_int_equal(track_add_backend(&t, FLOW_FAMILY_IPV6, addr), 0);

	r = packet(&fs, 0, 0, "10.99.3.11", RXPARSE_ENCAP_GUE);
	feed(&t, &r);
	r = packet(&fs, 1, 1, "fd99:3::11", RXPARSE_ENCAP_4IN6);
	feed(&t, &r);
	assert_int_equal(t.c.unknown_backend, 0);
	r = packet(&fs, 2, 2, "10.99.3.99", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	assert_int_equal(t.c.unknown_backend, 1);
	/* Unencapsulated packets did not reach a backend at all. */
	r = packet(&fs, 3, 3, "10.99.100.1", RXPARSE_ENCAP_NONE);
	feed(&t, &r);
	assert_int_equal(t.c.unknown_backend, 2);
	assert_int_equal(t.c.rx_packets, 4);
	assert_int_equal(t.backend_count, 2); /* nothing learned */
	assert_int_equal(t.backends[0].packets, 1);
	assert_int_equal(t.backends[1].packets, 1);
	track_fini(&t);
}

static void test_track_tells_duplicates_reordering_stale_and_mismatches(void **state)
{
	struct flowset fs;
	struct track t;
	struct rxparse_result r;

	(void)state;
	make_flows(&fs);
	assert_int_equal(track_init(&t, &fs), 0);
	r = packet(&fs, 0, 100, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	feed(&t, &r);
	assert_int_equal(t.c.duplicates, 1);
	assert_int_equal(t.c.rx_packets, 1);
	/* Flow 0's packet 96 after its packet 100: overtaken, not a duplicate. */
	r = packet(&fs, 0, 96, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	assert_int_equal(t.c.reordered, 1);
	assert_int_equal(t.c.duplicates, 1);
	/* Far ahead: the window moves on, and still knows what it saw. */
	r = packet(&fs, 1, 100 + 3 * (__u64)TRACK_WINDOW_BITS, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	feed(&t, &r);
	assert_int_equal(t.c.duplicates, 2);
	r = packet(&fs, 1, 101 + 2 * (__u64)TRACK_WINDOW_BITS, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	assert_int_equal(t.c.duplicates, 2);
	/* A probe of flow 2 in flow 3's headers; a flow number out of range. */
	r = packet(&fs, 3, 500, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	r.flow = 2;
	feed(&t, &r);
	r.flow = 4;
	r.seq = 501;
	feed(&t, &r);
	assert_int_equal(t.c.flow_mismatch, 2);
	/* A bad checksum is still a packet received. */
	r = packet(&fs, 2, 502, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	r.checksums_ok = 0;
	feed(&t, &r);
	assert_int_equal(t.c.bad_checksum, 1);

	struct track_counters before, trial;
	track_read(&t, &before);
	assert_int_equal(before.rx_packets, 7);
	track_trial_begin(&t, 1000);
	r = packet(&fs, 2, 999, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	r = packet(&fs, 2, 1000, "10.99.3.11", RXPARSE_ENCAP_IPIP);
	feed(&t, &r);
	track_read_trial(&t, &trial);
	assert_int_equal(trial.stale, 1);
	assert_int_equal(trial.rx_packets, 1);
	assert_int_equal(trial.duplicates, 0);
	assert_int_equal(t.trial_latency.count, 1);
	assert_int_equal(t.latency.count, 8);
	track_not_ours(&t);
	track_read_trial(&t, &trial);
	assert_int_equal(trial.not_ours, 1);
	track_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_latency_buckets_hold_values_within_one_32nd),
		cmocka_unit_test(test_latency_percentiles_never_understate),
		cmocka_unit_test(test_ndr_search_finds_capacity_within_resolution),
		cmocka_unit_test(test_track_counts_moved_flows_once_each),
		cmocka_unit_test(test_track_checks_tunnels_against_the_backends_given),
		cmocka_unit_test(test_track_tells_duplicates_reordering_stale_and_mismatches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
