/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared headers give the same answers in BPF and in C: every packet-core
 * fixture, every truncation of it, and random IPv4/IPv6 TCP/UDP flows are run
 * through the parser and flow hash compiled by clang for BPF (executed by the
 * kernel with BPF_PROG_TEST_RUN) and by gcc, and the results compared.
 * Needs root (CAP_BPF); skipped otherwise.
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
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dataplane/pkt.h"
#include "bpf/pkt_flow.skel.h"

#include "tests/fixtures/pkt_fixtures.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct pkt_flow_bpf *skel;

static int setup(void **state)
{
	(void)state;
	libbpf_set_print(NULL);
	skel = pkt_flow_bpf__open_and_load();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pkt_flow_bpf__destroy(skel);
	return 0;
}

/* Runs frame through the BPF program and the C parser; fails on any difference. */
static void compare_one(const char *what, const unsigned char *frame, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .repeat = 1);
	struct pkt_info info;
	enum pkt_verdict verdict = pkt_parse(frame, frame + len, &info);
	__u32 hash = verdict == PKT_VERDICT_CANDIDATE ? pkt_flow_hash(&info) : 0;

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.pkt_flow), &opts), 0);
	assert_int_equal(opts.retval, XDP_PASS);
	if (skel->bss->result_verdict != verdict || skel->bss->result_hash != hash ||
	    skel->bss->result_flags != info.flags ||
	    skel->bss->result_drop_reason != info.drop_reason ||
	    (verdict == PKT_VERDICT_CANDIDATE &&
	     memcmp(&skel->bss->result_tuple, &info.tuple, sizeof(info.tuple)) != 0))
		fail_msg("%s (%zu bytes): BPF verdict %u reason %u hash %08x, C %u %u %08x", what,
			 len, skel->bss->result_verdict, skel->bss->result_drop_reason,
			 skel->bss->result_hash, verdict, info.drop_reason, hash);
}

static void test_bpf_program_passes_the_verifier(void **state)
{
	(void)state;
	if (!skel) {
		print_message("cannot load BPF (need root / CAP_BPF): skipped\n");
		skip();
	}
	print_message("shared parser and flow hash loaded as an XDP program\n");
}

static void test_fixtures_and_truncations_agree(void **state)
{
	(void)state;
	size_t runs = 0;

	if (!skel)
		skip();
	/* BPF_PROG_TEST_RUN wants at least an Ethernet header. */
	for (size_t i = 0; i < ARRAY_SIZE(parse_fixtures); i++) {
		for (size_t len = 14; len <= parse_fixtures[i].len; len++, runs++)
			compare_one(parse_fixtures[i].name, parse_fixtures[i].frame, len);
	}
	for (size_t i = 0; i < ARRAY_SIZE(vip_check_fixtures); i++, runs++)
		compare_one(vip_check_fixtures[i].name, vip_check_fixtures[i].frame,
			    vip_check_fixtures[i].len);
	print_message("%zu fixture frames and truncations: BPF and C agree on verdict, reason, "
		      "tuple and hash\n", runs);
}

/* An Ethernet + IP + TCP/UDP frame for a random flow. */
static size_t random_frame(unsigned char *f, int v6, int udp)
{
	size_t l3 = 14, l4;

	memset(f, 0, 128);
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		f[l3] = 0x60;
		f[l3 + 5] = 20;
		f[l3 + 6] = udp ? 17 : 6;
		f[l3 + 7] = 64;
		for (int i = 0; i < 32; i++)
			f[l3 + 8 + i] = (unsigned char)random();
		l4 = l3 + 40;
	} else {
		f[l3] = 0x45;
		f[l3 + 3] = 40;
		f[l3 + 8] = 64;
		f[l3 + 9] = udp ? 17 : 6;
		for (int i = 0; i < 8; i++)
			f[l3 + 12 + i] = (unsigned char)random();
		l4 = l3 + 20;
	}
	for (int i = 0; i < 4; i++)
		f[l4 + i] = (unsigned char)random();
	if (udp) {
		f[l4 + 5] = 20;
	} else {
		f[l4 + 12] = 0x50;
		f[l4 + 13] = PKT_TCP_SYN;
	}
	return l4 + 20;
}

static void test_random_flows_hash_the_same(void **state)
{
	(void)state;
	unsigned char frame[128];
	const int flows = 50000;

	if (!skel)
		skip();
	srandom(2026);
	for (int i = 0; i < flows; i++) {
		size_t len = random_frame(frame, i & 1, (i >> 1) & 1);
		compare_one("random flow", frame, len);
		assert_int_equal(skel->bss->result_verdict, PKT_VERDICT_CANDIDATE);
	}
	print_message("%d random IPv4/IPv6 TCP/UDP flows: identical hash in BPF and C\n", flows);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_program_passes_the_verifier),
		cmocka_unit_test(test_fixtures_and_truncations_agree),
		cmocka_unit_test(test_random_flows_hash_the_same),
	};
	return cmocka_run_group_tests_name("bpf_agreement", tests, setup, teardown);
}
