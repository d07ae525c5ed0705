/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet core cost per packet on one core, for the three paths a worker
 * takes: a packet for a VIP (parse, VIP checks, flow hash, ring lookup,
 * IPIP encapsulation), a packet not for us (parse only), and a malformed one
 * (parse to a drop). Beside them, in the same run, a trivial forwarder that
 * only swaps MAC addresses: the ceiling, and the baseline of the ratios.
 *
 * Every path starts by copying the frame from a template, standing in for
 * the NIC's DMA, so that encapsulation always sees a fresh frame; the
 * baseline copies too. The paths take turns run by run, and each path's
 * ratio is taken against the baseline's run of the same round.
 *
 *   make build/bench/bench_pkt && build/bench/bench_pkt [--runs N] [--json FILE]
 */
#include <arpa/inet.h>
#include <string.h>

#include "controlplane/maglev.h"
#include "dataplane/pkt.h"
#include "tests/bench/bench.h"

#define FLOWS     1024
#define FRAME_LEN 54 /* Ethernet + IPv4 + TCP, no payload */
#define HEADROOM  128
#define PACKETS   (1u << 21)
#define RING_SIZE 65537u

enum bench_path { PATH_FORWARD, PATH_VIP, PATH_NOT_OURS, PATH_MALFORMED, PATH_COUNT };
static const char *const path_names[PATH_COUNT] = {
	"trivial forwarder (baseline)", "VIP: parse+hash+ring+encap", "not for us: parse",
	"malformed: parse to drop",
};

static unsigned char templates[PATH_COUNT][FLOWS][FRAME_LEN];
static __u32 ring[RING_SIZE];

static void build_templates(void)
{
	for (int f = 0; f < FLOWS; f++) {
		unsigned char *t = templates[PATH_VIP][f];
		memset(t, 0, FRAME_LEN);
		t[12] = 0x08;
		t[14] = 0x45;
		t[17] = 40;
		t[20] = 0x40; /* DF */
		t[22] = 64;
		t[23] = PKT_PROTO_TCP;
		__u32 client = htonl(0xc6336400u + (__u32)f % 251), vip = htonl(0xc000020au);
		memcpy(t + 26, &client, 4);
		memcpy(t + 30, &vip, 4);
		t[34] = (unsigned char)(f >> 8);
		t[35] = (unsigned char)f;
		t[37] = 80;
		t[46] = 0x50;
		t[47] = PKT_TCP_ACK;
		/* IPv4 header checksum, so the encapsulated packet is valid. */
		__u16 c = (__u16)~pkt_csum_fold(pkt_csum_add(0, t + 14, 20));
		memcpy(t + 24, &c, 2);

		memcpy(templates[PATH_FORWARD][f], t, FRAME_LEN);
		/* Not ours: the same frame as an ARP EtherType. */
		memcpy(templates[PATH_NOT_OURS][f], t, FRAME_LEN);
		templates[PATH_NOT_OURS][f][12] = 0x08;
		templates[PATH_NOT_OURS][f][13] = 0x06;
		/* Malformed: IHL 4. */
		memcpy(templates[PATH_MALFORMED][f], t, FRAME_LEN);
		templates[PATH_MALFORMED][f][14] = 0x44;
	}
}

/* Runs one path over PACKETS frames; returns ns per packet. */
static double run_path(enum bench_path path, const struct pkt_encap_params *params,
		       __u64 *sink)
{
	/* An mbuf-sized buffer, as the frame would sit in for real. */
	static unsigned char buf[HEADROOM + 2048];
	unsigned char *frame = buf + HEADROOM;
	__u64 acc = 0;
	uint64_t t0 = bench_now_ns();

	for (__u32 i = 0; i < PACKETS; i++) {
		struct pkt_info info;
		memcpy(frame, templates[path][i % FLOWS], FRAME_LEN);
		if (path == PATH_FORWARD) {
			unsigned char mac[6];
			memcpy(mac, frame, 6);
			memcpy(frame, frame + 6, 6);
			memcpy(frame + 6, mac, 6);
			acc += frame[0];
			continue;
		}
		enum pkt_verdict v = pkt_parse(frame, frame + FRAME_LEN, &info);
		if (v != PKT_VERDICT_CANDIDATE || pkt_vip_check(&info) != PKT_DROP_NONE) {
			acc += info.drop_reason + v;
			continue;
		}
		__u32 hash = pkt_flow_hash(&info);
		__u32 backend = flow_hash_ring_lookup(ring, RING_SIZE, hash);
		if (pkt_encap_check(&info, params) == PKT_ENCAP_OK) {
			unsigned char *out = frame - pkt_encap_headroom(&info, params);
			pkt_encap_write(out, &info, params, hash);
			acc += out[30] + backend;
		}
	}
	*sink += acc;
	return (double)(bench_now_ns() - t0) / PACKETS;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_pkt [--runs N] [--json FILE]\n" BENCH_OPTIONS_RUNS_USAGE
			BENCH_OPTIONS_USAGE);
}

int main(int argc, char **argv)
{
	struct pkt_encap_params params;
	struct maglev_backend backends[100];
	double samples[PATH_COUNT][BENCH_RUNS_MAX];
	struct bench_options o;
	struct bench_json json;
	__u64 sink = 0;
	int err;

	if (bench_options_take(&argc, argv, BENCH_RUNS, &o) < 0 || argc != 1) {
		usage();
		return 2;
	}
	if ((err = bench_json_open(&json, o.json_path, "bench_pkt", o.runs)) < 0) {
		fprintf(stderr, "bench_pkt: %s: %s\n", o.json_path, strerror(-err));
		return 1;
	}
	memset(&params, 0, sizeof(params));
	params.type = PKT_ENCAP_IPIP;
	params.outer_family = FLOW_FAMILY_IPV4;
	params.mtu = 1500;
	params.outer_src[0] = htonl(0x0a000002u);
	params.outer_dst[0] = htonl(0x0a01000bu);
	memset(backends, 0, sizeof(backends));
	for (int b = 0; b < 100; b++) {
		backends[b].family = FLOW_FAMILY_IPV4;
		backends[b].addr[0] = htonl(0x0a010000u + (__u32)b);
		backends[b].port = htons(80);
		backends[b].weight = 1;
	}
	if (maglev_build(backends, 100, ring, RING_SIZE, NULL) != 0)
		return 1;
	build_templates();

	bench_print_machine();
	printf("packet core, one core, %u packets x %d runs, %d flows, 54-byte TCP frames\n",
	       PACKETS, o.runs, FLOWS);
	bench_json_context(&json, "frames", "54-byte TCP/IPv4, %d flows, %u packets per run",
			   FLOWS, PACKETS);
	/* Interleave the paths run by run so drift of a shared machine hits all. */
	for (int r = 0; r < o.runs; r++) {
		for (int p = 0; p < PATH_COUNT; p++)
			samples[p][r] = run_path((enum bench_path)p, &params, &sink);
	}
	struct bench_figure figs[PATH_COUNT];
	for (int p = PATH_COUNT - 1; p >= 0; p--) {
		/* The baseline last: its samples are sorted by summarizing. */
		figs[p] = (struct bench_figure){ .name = path_names[p], .unit = "ns/packet",
						 .better = BENCH_LOWER_BETTER, .runs = o.runs };
		if (p != PATH_FORWARD) {
			figs[p].baseline = path_names[PATH_FORWARD];
			figs[p].ratio_method = BENCH_RATIO_PAIRED;
			figs[p].ratio = bench_ratio_paired(samples[p], samples[PATH_FORWARD], o.runs);
		} else {
			figs[p].ratio = (struct bench_stat){ 1, 1, 1 };
		}
		figs[p].value = bench_summarize(samples[p], o.runs);
	}
	printf("%-30s %9s %18s %9s %10s %s\n", "path", "ns/pkt", "(min..max)", "Mpps", "x baseline",
	       "(min..max)");
	for (int p = 0; p < PATH_COUNT; p++) {
		const struct bench_stat *st = &figs[p].value, *ratio = &figs[p].ratio;
		printf("%-30s %9.2f %8.2f..%-8.2f %9.1f %10.2f %.2f..%.2f\n", path_names[p],
		       st->median, st->min, st->max, 1000.0 / st->median, ratio->median, ratio->min,
		       ratio->max);
		bench_json_figure(&json, &figs[p]);
	}
	if (bench_json_close(&json) < 0)
		return 1;
	return sink == 42; /* keeps the work observable; never true in practice */
}
