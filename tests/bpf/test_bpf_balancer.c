/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The XDP balancer (bpf/balancer.bpf.c) with its tables written by lbd's
 * XDP dataplane (controlplane/xdp.c), run with BPF_PROG_TEST_RUN: frames in,
 * verdict and frame out, compared with the packet core's fixtures (the bytes
 * lb-dpdk sends, checked against scapy) and with lb-dpdk's choice of backend
 * for 100 000 random flows. Runs in a network namespace of its own with a
 * veth pair whose neighbours are static, so bpf_fib_lookup() answers
 * deterministically. Needs root; skipped otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "controlplane/xdp.h"
#include "dataplane/counters.h"
#include "dataplane/pkt.h"
#include "bpf/pkt_flow.skel.h"

#include "tests/fixtures/pkt_fixtures.h"
#include "tests/unit/vip_payload.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RING_SMALL    13
#define FRAME_MAX     2048

static struct xdp_dataplane *xdp;
static int ifindex_lb; /* xb0: where frames arrive and tunnels leave */
static char skip_reason[128];

static const struct chan_gen_begin begin_ipip = {
	.encap = PKT_ENCAP_IPIP,
	.tcp_idle_timeout_s = 300,
	.udp_idle_timeout_s = 30,
};

static int sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fprintf(stderr, "failed (%d): %s\n", rc, cmd);
	return rc;
}

/*
 * The namespace: xb0 (the balancer's side, 02:00:00:00:00:03, as LB_MAC in
 * the fixtures) and xb1 (02:00:00:00:00:04, BACKEND_MAC), backends
 * 10.1.0.1..30 and fd00:1::1..30 reachable through xb0 with static
 * neighbours; 10.1.0.99 has a route but no neighbour.
 */
static int setup(void **state)
{
	(void)state;
	libbpf_set_print(NULL);
	if (geteuid() != 0) {
		snprintf(skip_reason, sizeof(skip_reason), "needs root (CAP_BPF, CAP_NET_ADMIN)");
		return 0;
	}
	if (unshare(CLONE_NEWNET) != 0) {
		snprintf(skip_reason, sizeof(skip_reason), "unshare: %s", strerror(errno));
		return 0;
	}
	if (sh("ip link set lo up && "
	       "ip link add xb0 address 02:00:00:00:00:03 type veth peer name xb1 "
	       "address 02:00:00:00:00:04 && ip link set xb0 up && ip link set xb1 up && "
	       "ip addr add 10.0.0.2/24 dev xb0 && ip route add 10.1.0.0/16 dev xb0 && "
	       "ip -6 addr add fd00::2/64 dev xb0 nodad && ip -6 route add fd00:1::/64 dev xb0 && "
	       "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 && "
	       "for i in $(seq 1 30); do "
	       "ip neigh add 10.1.0.$i lladdr 02:00:00:00:00:04 dev xb0 nud permanent && "
	       "ip -6 neigh add fd00:1::$(printf %x $i) lladdr 02:00:00:00:00:04 dev xb0 "
	       "nud permanent || exit 1; done")) {
		snprintf(skip_reason, sizeof(skip_reason), "could not build the test namespace");
		return -1;
	}
	ifindex_lb = (int)if_nametoindex("xb0");
	struct xdp_options o = { .flow_capacity = 4096, .members_max = 1024 };
	bool adopted;
	char err[256];
	xdp = xdp_open(&o, &adopted, err, sizeof(err));
	if (!xdp) {
		fprintf(stderr, "xdp_open: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	xdp_close(xdp);
	return 0;
}

#define NEED_BPF()                                                                                 \
	do {                                                                                       \
		if (!xdp) {                                                                        \
			print_message("%s: skipped\n", skip_reason);                               \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Runs one frame through the balancer arriving on xb0. Returns the verdict. */
static int run_in(const struct xdp_dataplane *x, const void *frame, size_t len, unsigned char *out,
		  __u32 *out_len)
{
	struct xdp_md ctx = { .data_end = (__u32)len, .ingress_ifindex = (__u32)ifindex_lb };
	static unsigned char sink[FRAME_MAX + 256];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out ? out : sink, .data_size_out = out ? FRAME_MAX : sizeof(sink),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(xdp_program_fd(x), &opts), 0);
	if (out_len)
		*out_len = opts.data_size_out;
	return (int)opts.retval;
}

static int run(const void *frame, size_t len, unsigned char *out, __u32 *out_len)
{
	return run_in(xdp, frame, len, out, out_len);
}

static __u64 counter(__u32 c)
{
	struct chan_stats stats;
	static __u64 all[COUNTER_COUNT];
	char err[128];

	assert_int_equal(xdp_stats(xdp, &stats, all, err, sizeof(err)), 0);
	return all[c];
}

/* Publishes VIPs (payloads from vip_payload.h) with begin's parameters. */
static void publish_in(struct xdp_dataplane *x, const struct chan_gen_begin *begin,
		       struct vip_payload *payloads, __u32 n)
{
	struct chan_vip_view views[8];
	char err[256];

	assert_true(n <= ARRAY_SIZE(views));
	for (__u32 i = 0; i < n; i++)
		assert_int_equal(chan_vip_decode(payloads[i].data, payloads[i].length, &views[i], err,
						 sizeof(err)),
				 0);
	if (xdp_publish(x, begin, views, n, err, sizeof(err)) != 0)
		fail_msg("xdp_publish: %s", err);
	for (__u32 i = 0; i < n; i++)
		free(payloads[i].data);
}

static void publish(const struct chan_gen_begin *begin, struct vip_payload *payloads, __u32 n)
{
	publish_in(xdp, begin, payloads, n);
}

static struct chan_gen_begin begin_with(__u8 encap)
{
	struct chan_gen_begin b = begin_ipip;

	b.encap = encap;
	b.gue_port = htons(6080);
	inet_pton(AF_INET, "10.0.0.2", &b.encap_source_v4);
	inet_pton(AF_INET6, "fd00::2", b.encap_source_v6);
	return b;
}

/* The VIP key a parsed frame is addressed to. */
static struct chan_vip_key key_of(const struct pkt_info *info, int fragment_port0)
{
	struct chan_vip_key k;

	memset(&k, 0, sizeof(k));
	memcpy(k.addr, info->tuple.dst_addr, sizeof(k.addr));
	k.port = fragment_port0 ? htons(80) : info->tuple.dst_port;
	k.proto = info->tuple.proto;
	k.family = info->tuple.family;
	return k;
}

/* Backend host (1..30) of a family, READY or DRAIN, port 80. */
static struct chan_backend backend(int family, int host, __u8 state)
{
	struct chan_backend b;
	char text[64];

	memset(&b, 0, sizeof(b));
	b.family = (__u8)family;
	b.port = htons(80);
	b.state = state;
	b.weight = 1;
	if (family == FLOW_FAMILY_IPV4) {
		snprintf(text, sizeof(text), "10.1.0.%d", host);
		inet_pton(AF_INET, text, b.addr);
	} else {
		snprintf(text, sizeof(text), "fd00:1::%x", host);
		inet_pton(AF_INET6, text, b.addr);
	}
	return b;
}

/* Outer destination of a tunnelled frame without VLAN: the backend's host byte. */
static int tunnel_host(const unsigned char *out)
{
	if (out[12] == 0x08)
		return out[14 + 19];
	return out[14 + 39];
}

/* Fails naming the first byte where a frame differs from the one wanted. */
static void assert_frame(const char *name, const unsigned char *got, __u32 got_len,
			 const unsigned char *want, size_t want_len)
{
	if (got_len == want_len && memcmp(got, want, got_len) == 0)
		return;
	for (__u32 k = 0; k < got_len && k < want_len; k++)
		if (got[k] != want[k])
			fail_msg("%s: byte %u is 0x%02x, want 0x%02x (len %u/%zu)", name, k, got[k],
				 want[k], got_len, want_len);
	fail_msg("%s: length %u, want %zu", name, got_len, want_len);
}

static void test_program_loads_with_its_maps(void **state)
{
	(void)state;
	NEED_BPF();
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(xdp_program_fd(xdp), &info, &len), 0);
	print_message("XDP balancer verified and loaded: %u instructions (xlated %u bytes)\n",
		      info.xlated_prog_len / 8, info.xlated_prog_len);
}

static void test_encapsulation_identical_to_the_packet_core(void **state)
{
	(void)state;
	NEED_BPF();
	unsigned char out[FRAME_MAX];
	__u32 out_len;

	for (size_t i = 0; i < ARRAY_SIZE(encap_fixtures); i++) {
		const struct encap_fixture *f = &encap_fixtures[i];
		struct pkt_info info;
		assert_int_equal(pkt_parse(f->in, f->in + f->in_len, &info), PKT_VERDICT_CANDIDATE);
		struct chan_vip_key key = key_of(&info, 0);
		/* The fixtures' backend: 10.1.0.11 or fd00:1::11. */
		struct chan_backend b = backend(f->outer_family, 0x11, CHAN_BACKEND_READY);
		if (f->outer_family == FLOW_FAMILY_IPV4)
			b = backend(f->outer_family, 11, CHAN_BACKEND_READY);
		struct vip_payload p = vip_payload_build(&key, "fx", &b, 1, RING_SMALL);
		struct chan_gen_begin begin = begin_with((__u8)f->type);
		publish(&begin, &p, 1);

		int verdict = run(f->in, f->in_len, out, &out_len);
		if (verdict != XDP_TX)
			fail_msg("%s: verdict %d, want XDP_TX", f->name, verdict);
		assert_frame(f->name, out, out_len, f->out, f->out_len);
	}
	print_message("%zu encapsulations (IPIP, IP6IP6, 4in6, 6in4, GUE over IPv4 and IPv6 with "
		      "its checksum, VLAN) byte-identical to lb-dpdk's and scapy's; MACs from the "
		      "FIB\n",
		      ARRAY_SIZE(encap_fixtures));
}

static void test_too_big_answered_like_lb_dpdk(void **state)
{
	(void)state;
	NEED_BPF();
	unsigned char out[FRAME_MAX];
	__u32 out_len;
	__u64 sent = counter(COUNTER_TOO_BIG_SENT);

	for (size_t i = 0; i < ARRAY_SIZE(too_big_fixtures); i++) {
		const struct too_big_fixture *f = &too_big_fixtures[i];
		struct pkt_info info;
		assert_int_equal(pkt_parse(f->in, f->in + f->in_len, &info), PKT_VERDICT_CANDIDATE);
		struct chan_vip_key key = key_of(&info, 0);
		/* IPIP over IPv4 leaves 1480, IP6IP6 1460 of the veth's 1500. */
		int family = info.tuple.family;
		struct chan_backend b = backend(family, 11, CHAN_BACKEND_READY);
		struct vip_payload p = vip_payload_build(&key, "big", &b, 1, RING_SMALL);
		struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
		publish(&begin, &p, 1);
		int verdict = run(f->in, f->in_len, out, &out_len);
		if (verdict != XDP_TX)
			fail_msg("%s: verdict %d, want XDP_TX", f->name, verdict);
		assert_frame(f->name, out, out_len, f->out, f->out_len);
	}
	assert_int_equal(counter(COUNTER_TOO_BIG_SENT) - sent, ARRAY_SIZE(too_big_fixtures));
	print_message("fragmentation-needed (MTU 1480) and packet-too-big (MTU 1460) replies "
		      "byte-identical to lb-dpdk's, counted as too_big_sent\n");
}

static void test_parse_verdicts_and_drop_counters(void **state)
{
	(void)state;
	NEED_BPF();
	size_t drops = 0, passes = 0;

	/* No VIP at all: candidates are the kernel's too. */
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	publish(&begin, NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(parse_fixtures); i++) {
		const struct parse_fixture *f = &parse_fixtures[i];
		if (f->verdict == PKT_VERDICT_DROP) {
			__u64 before = counter(counter_drop(f->reason));
			if (run(f->frame, f->len, NULL, NULL) != XDP_DROP)
				fail_msg("%s: not dropped", f->name);
			if (counter(counter_drop(f->reason)) != before + 1)
				fail_msg("%s: %s not counted", f->name,
					 pkt_drop_reason_name(f->reason));
			drops++;
		} else {
			__u64 before = counter(COUNTER_KERNEL_PACKETS);
			if (run(f->frame, f->len, NULL, NULL) != XDP_PASS)
				fail_msg("%s: not passed to the kernel", f->name);
			assert_int_equal(counter(COUNTER_KERNEL_PACKETS), before + 1);
			passes++;
		}
	}
	/* Addressed to a VIP but judged by the VIP checks. */
	for (size_t i = 0; i < ARRAY_SIZE(vip_check_fixtures); i++) {
		const struct parse_fixture *f = &vip_check_fixtures[i];
		struct pkt_info info;
		pkt_parse(f->frame, f->frame + f->len, &info);
		struct chan_vip_key key = key_of(&info, 0);
		struct chan_backend b = backend(FLOW_FAMILY_IPV4, 11, CHAN_BACKEND_READY);
		struct vip_payload p = vip_payload_build(&key, "chk", &b, 1, RING_SMALL);
		publish(&begin, &p, 1);
		if (f->reason == PKT_DROP_NONE) { /* a lone RST is fine */
			assert_int_equal(run(f->frame, f->len, NULL, NULL), XDP_TX);
			continue;
		}
		__u64 before = counter(counter_drop(f->reason));
		assert_int_equal(run(f->frame, f->len, NULL, NULL), XDP_DROP);
		assert_int_equal(counter(counter_drop(f->reason)), before + 1);
		drops++;
	}
	print_message("%zu malformed or VIP-checked frames dropped under their named counters, "
		      "%zu not-for-a-VIP frames passed to the kernel\n", drops, passes);
}

/* Ethernet + IPv4 + TCP from 198.51.100.<client>:<sport> to 192.0.2.10:80. */
static size_t tcp_frame(unsigned char *f, int client, int sport, __u8 flags)
{
	memset(f, 0, 54);
	memcpy(f, "\x02\x00\x00\x00\x00\x03\x02\x00\x00\x00\x00\x02\x08\x00", 14);
	f[14] = 0x45;
	f[17] = 40;
	f[22] = 64;
	f[23] = PKT_PROTO_TCP;
	f[26] = 198, f[27] = 51, f[28] = 100, f[29] = (unsigned char)client;
	f[30] = 192, f[31] = 0, f[32] = 2, f[33] = 10;
	f[34] = (unsigned char)(sport >> 8), f[35] = (unsigned char)sport;
	f[37] = 80;
	f[46] = 0x50;
	f[47] = flags;
	return 54;
}

static struct chan_vip_key vip80(void)
{
	struct chan_vip_key k;

	memset(&k, 0, sizeof(k));
	inet_pton(AF_INET, "192.0.2.10", k.addr);
	k.port = htons(80);
	k.proto = PKT_PROTO_TCP;
	k.family = FLOW_FAMILY_IPV4;
	return k;
}

/* A VIP whose ring gives every slot to the READY backend `owner`. */
static struct vip_payload vip_owned_by(const struct chan_backend *bs, __u32 n, int owner)
{
	struct chan_backend copy[8];
	struct chan_vip_key k = vip80();

	for (__u32 i = 0; i < n; i++) {
		copy[i] = bs[i];
		if (copy[i].state == CHAN_BACKEND_READY && (int)i != owner)
			copy[i].weight = 0; /* owns no slot, still a member */
	}
	struct vip_payload p = vip_payload_build(&k, "web", copy, n, RING_SMALL);
	return p;
}

static int send_tcp(int client, int sport, __u8 flags)
{
	unsigned char f[64], out[FRAME_MAX];
	__u32 out_len;
	int verdict = run(f, tcp_frame(f, client, sport, flags), out, &out_len);

	return verdict == XDP_TX ? tunnel_host(out) : -verdict;
}

static void test_flows_keep_their_backend_as_lb_dpdk_does(void **state)
{
	(void)state;
	NEED_BPF();
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	struct chan_backend bs[2] = { backend(4, 1, CHAN_BACKEND_READY),
				      backend(4, 2, CHAN_BACKEND_READY) };
	struct vip_payload p = vip_owned_by(bs, 2, 0);
	publish(&begin, &p, 1);

	__u64 hits = counter(COUNTER_FLOW_HIT), moved = counter(COUNTER_FLOW_MOVED);
	assert_int_equal(send_tcp(7, 1000, PKT_TCP_SYN), 1);
	/* The ring now gives everything to backend 2. */
	p = vip_owned_by(bs, 2, 1);
	publish(&begin, &p, 1);
	assert_int_equal(send_tcp(7, 1000, PKT_TCP_ACK), 1); /* established: stays */
	assert_int_equal(send_tcp(7, 1001, PKT_TCP_ACK), 2); /* unknown: the ring, remembered */
	assert_int_equal(send_tcp(7, 1000, PKT_TCP_SYN), 2); /* a new connection: the ring */
	assert_int_equal(send_tcp(7, 1002, PKT_TCP_SYN), 2);
	/* Backend 2 drains: its flows stay, new ones go to 1. */
	bs[1].state = CHAN_BACKEND_DRAIN;
	p = vip_owned_by(bs, 2, 0);
	publish(&begin, &p, 1);
	assert_int_equal(send_tcp(7, 1002, PKT_TCP_ACK), 2);
	assert_int_equal(send_tcp(7, 1003, PKT_TCP_SYN), 1);
	/* Backend 2 removed (down): its flows move to the ring's choice. */
	p = vip_owned_by(bs, 1, 0);
	publish(&begin, &p, 1);
	assert_int_equal(send_tcp(7, 1002, PKT_TCP_ACK), 1);
	assert_int_equal(send_tcp(7, 1002, PKT_TCP_ACK), 1);
	assert_int_equal(counter(COUNTER_FLOW_MOVED) - moved, 1);
	assert_true(counter(COUNTER_FLOW_HIT) - hits >= 3);

	/* lbd's view of the flow table agrees. */
	struct chan_flow flow;
	struct flow_tuple t;
	char err[128];
	memset(&t, 0, sizeof(t));
	inet_pton(AF_INET, "198.51.100.7", t.src_addr);
	inet_pton(AF_INET, "192.0.2.10", t.dst_addr);
	t.src_port = htons(1002);
	t.dst_port = htons(80);
	t.proto = PKT_PROTO_TCP;
	t.family = FLOW_FAMILY_IPV4;
	assert_int_equal(xdp_flow_find(xdp, &t, &flow, err, sizeof(err)), 0);
	assert_true(flow.flags & CHAN_FLOW_FOUND);
	assert_true(flow.flags & CHAN_FLOW_RING);
	assert_int_equal(((unsigned char *)flow.backend.addr)[3], 1);
	/* 300 s is 280 ticks of 1.074 s (balancer.h): 300.6 s, and the
	 * tick a packet counts from has begun up to one tick before it. */
	assert_true(flow.expires_in_s > 290 && flow.expires_in_s <= 301);
	print_message("established flows keep a READY or DRAIN backend across table changes, "
		      "SYNs and unknown flows take the ring, a removed backend's flows move "
		      "(flow_moved); lbd's flow lookup agrees\n");
}

/* lbd's view of one flow from 198.51.100.client:sport to the VIP. */
static struct chan_flow flow_of(int client, int sport)
{
	struct chan_flow flow;
	struct flow_tuple t;
	char err[128];

	memset(&t, 0, sizeof(t));
	t.src_addr[0] = htonl(0xc6336400u | (__u32)client); /* 198.51.100.client */
	inet_pton(AF_INET, "192.0.2.10", t.dst_addr);
	t.src_port = htons((__u16)sport);
	t.dst_port = htons(80);
	t.proto = PKT_PROTO_TCP;
	t.family = FLOW_FAMILY_IPV4;
	assert_int_equal(xdp_flow_find(xdp, &t, &flow, err, sizeof(err)), 0);
	return flow;
}

static __u64 established_flows(void)
{
	struct chan_stats stats;
	__u64 all[COUNTER_COUNT];
	char err[128];

	assert_int_equal(xdp_stats(xdp, &stats, all, err, sizeof(err)), 0);
	return stats.flows;
}

static void test_new_flows_wait_apart_and_a_flood_spares_established_ones(void **state)
{
	(void)state;
	NEED_BPF();
	enum { ESTABLISHED = 100, FLOOD = 20000 };
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	struct chan_backend bs[2] = { backend(4, 1, CHAN_BACKEND_READY),
				      backend(4, 2, CHAN_BACKEND_READY) };
	struct vip_payload p = vip_owned_by(bs, 2, 0);
	publish(&begin, &p, 1);

	/* A SYN leaves its flow among the new flows, for FLOW_NEW_TIMEOUT_S. */
	__u64 promoted = counter(COUNTER_FLOW_PROMOTED), before = established_flows();
	assert_int_equal(send_tcp(9, 2000, PKT_TCP_SYN), 1);
	struct chan_flow f = flow_of(9, 2000);
	assert_true(f.flags & CHAN_FLOW_FOUND);
	assert_true(f.expires_in_s >= FLOW_NEW_TIMEOUT_S - 1 && f.expires_in_s <= FLOW_NEW_TIMEOUT_S + 1);
	assert_int_equal(established_flows(), before);
	/* Its second packet promotes it, with the established idle timeout. */
	assert_int_equal(send_tcp(9, 2000, PKT_TCP_ACK), 1);
	assert_int_equal(counter(COUNTER_FLOW_PROMOTED) - promoted, 1);
	assert_int_equal(established_flows(), before + 1);
	f = flow_of(9, 2000);
	assert_true(f.expires_in_s > 290);

	/* A port reused at once: the SYN re-points the established entry, so
	 * the next ACK follows the new connection, not the old one. */
	p = vip_owned_by(bs, 2, 1);
	publish(&begin, &p, 1);
	assert_int_equal(send_tcp(9, 2000, PKT_TCP_ACK), 1);
	assert_int_equal(send_tcp(9, 2000, PKT_TCP_SYN), 2);
	assert_int_equal(send_tcp(9, 2000, PKT_TCP_ACK), 2);

	/* ESTABLISHED flows on backend 1, then a flood of SYNs from random
	 * sources, 20 times the new-flow map (1024 entries here). */
	p = vip_owned_by(bs, 2, 0);
	publish(&begin, &p, 1);
	for (int i = 0; i < ESTABLISHED; i++) {
		assert_int_equal(send_tcp(10, 3000 + i, PKT_TCP_SYN), 1);
		assert_int_equal(send_tcp(10, 3000 + i, PKT_TCP_ACK), 1);
	}
	__u64 with_established = established_flows(), new_before = counter(COUNTER_FLOW_NEW);
	unsigned char frame[64];
	__u32 rnd = 12345;
	for (int i = 0; i < FLOOD; i++) {
		size_t len = tcp_frame(frame, 0, 0, PKT_TCP_SYN);
		rnd = rnd * 1103515245u + 12345u;
		frame[26] = 198, frame[27] = 18 + (rnd >> 31); /* 198.18.0.0/15 */
		frame[28] = (unsigned char)(rnd >> 8), frame[29] = (unsigned char)(rnd >> 16);
		frame[34] = (unsigned char)(rnd >> 24) | 0x80, frame[35] = (unsigned char)i;
		assert_int_equal(run(frame, len, NULL, NULL), XDP_TX);
	}
	assert_int_equal(counter(COUNTER_FLOW_NEW) - new_before, FLOOD);
	assert_int_equal(established_flows(), with_established);
	/* The ring now gives everything to backend 2: every established flow
	 * still goes to backend 1, from its entry. */
	p = vip_owned_by(bs, 2, 1);
	publish(&begin, &p, 1);
	for (int i = 0; i < ESTABLISHED; i++) {
		struct chan_flow e = flow_of(10, 3000 + i);
		assert_true(e.flags & CHAN_FLOW_FOUND);
		assert_int_equal(((unsigned char *)e.backend.addr)[3], 1);
		assert_int_equal(send_tcp(10, 3000 + i, PKT_TCP_ACK), 1);
	}
	print_message("a SYN's flow waits among the new flows (%u s), its second packet promotes "
		      "it (flow_promoted); a reused port's SYN re-points it; %d random-source SYNs "
		      "(counted as flow_new) left all %d established flows in place, on their "
		      "backend after a ring change\n",
		      FLOW_NEW_TIMEOUT_S, FLOOD, ESTABLISHED);
}

static void test_members_and_stats_as_lb_dpdk_reports_them(void **state)
{
	(void)state;
	NEED_BPF();
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	struct chan_backend bs[2] = { backend(4, 3, CHAN_BACKEND_READY),
				      backend(4, 4, CHAN_BACKEND_READY) };
	struct vip_payload p = vip_owned_by(bs, 2, 1);
	publish(&begin, &p, 1);
	struct chan_members head;
	struct chan_vip_stats *vips;
	struct chan_member_stats *members;
	char err[128];
	/* The VIP was in the test before: its counts go on, its earlier
	 * backends' included. */
	assert_int_equal(xdp_members(xdp, &head, &vips, &members, err, sizeof(err)), 0);
	__u64 vip_packets = vips[0].packets;
	free(vips);
	for (int i = 0; i < 5; i++)
		assert_int_equal(send_tcp(20 + i, 2000, PKT_TCP_SYN), 4);

	assert_int_equal(xdp_members(xdp, &head, &vips, &members, err, sizeof(err)), 0);
	assert_int_equal(head.vip_count, 1);
	assert_int_equal(head.member_count, 2);
	assert_int_equal(head.generation, xdp_generation_id(xdp));
	const struct chan_member_stats *b4 = NULL;
	for (__u32 i = 0; i < head.member_count; i++)
		if (((unsigned char *)members[i].addr)[3] == 4)
			b4 = &members[i];
	assert_non_null(b4);
	assert_int_equal(b4->packets, 5);
	assert_int_equal(b4->bytes, 5 * 40);
	assert_int_equal(b4->flows_new, 5);
	assert_int_equal(b4->flows_active, 5);
	assert_int_equal(vips[0].packets, vip_packets + 5);
	free(vips);

	/* An empty ring: dropped and counted for the VIP. */
	struct chan_backend none = backend(4, 3, CHAN_BACKEND_DRAIN);
	p = vip_owned_by(&none, 1, -1);
	publish(&begin, &p, 1);
	__u64 before = counter(counter_drop(PKT_DROP_NO_BACKEND));
	assert_int_equal(send_tcp(30, 2000, PKT_TCP_SYN), -XDP_DROP);
	assert_int_equal(counter(counter_drop(PKT_DROP_NO_BACKEND)), before + 1);
	assert_int_equal(xdp_members(xdp, &head, &vips, &members, err, sizeof(err)), 0);
	assert_int_equal(vips[0].drops_no_backend, 1);
	/* Backend 4 left: its counts stay in the VIP's. */
	assert_int_equal(vips[0].packets, vip_packets + 5);
	free(vips);
	print_message("per-member packets, bytes, new and active flows, and per-VIP sums and "
		      "no-backend drops read as lb-dpdk's MEMBERS reply\n");
}

static void test_icmp_errors_and_fragments_follow_the_flow(void **state)
{
	(void)state;
	NEED_BPF();
	unsigned char out[FRAME_MAX];
	__u32 out_len;
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	struct chan_backend bs[8];
	for (int i = 0; i < 8; i++)
		bs[i] = backend(4, 11 + i, CHAN_BACKEND_READY);
	struct chan_vip_key k = vip80();
	struct vip_payload p = vip_payload_build(&k, "web", bs, 8, 251);
	publish(&begin, &p, 1);

	/* The flow the error quotes: 198.51.100.7:40000 -> 192.0.2.10:80, ACKed
	 * (not a SYN), so the ring picks and remembers; then its backend is
	 * the only one left and the error must still reach it. */
	int owner = send_tcp(7, 40000, PKT_TCP_ACK);
	assert_true(owner >= 11 && owner < 19);
	__u64 forwarded = counter(COUNTER_ICMP_FORWARDED);
	const struct parse_fixture *icmp = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(parse_fixtures); i++)
		if (strcmp(parse_fixtures[i].name, "v4_icmp_frag_needed") == 0)
			icmp = &parse_fixtures[i];
	assert_non_null(icmp);
	assert_int_equal(run(icmp->frame, icmp->len, out, &out_len), XDP_TX);
	assert_int_equal(tunnel_host(out), owner);
	assert_int_equal(counter(COUNTER_ICMP_FORWARDED), forwarded + 1);

	/* Fragments of one datagram: the first (with ports) and a later one
	 * (without) reach one backend, through the port-0 entry. */
	const struct parse_fixture *first = NULL, *later = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(parse_fixtures); i++) {
		if (strcmp(parse_fixtures[i].name, "v4_first_fragment") == 0)
			first = &parse_fixtures[i];
		if (strcmp(parse_fixtures[i].name, "v4_later_fragment") == 0)
			later = &parse_fixtures[i];
	}
	struct chan_vip_key udp = vip80();
	udp.proto = PKT_PROTO_UDP;
	udp.port = htons(53);
	p = vip_payload_build(&udp, "dns", bs, 8, 251);
	publish(&begin, &p, 1);
	assert_int_equal(run(first->frame, first->len, out, &out_len), XDP_TX);
	int first_host = tunnel_host(out);
	assert_int_equal(run(later->frame, later->len, out, &out_len), XDP_TX);
	assert_int_equal(tunnel_host(out), first_host);
	print_message("an ICMP error reaches the backend of the flow it quotes (icmp_forwarded); "
		      "first and later fragments reach one backend\n");
}

static void test_no_route_no_neighbour_and_gateway_mac(void **state)
{
	(void)state;
	NEED_BPF();
	unsigned char f[64], out[FRAME_MAX];
	__u32 out_len;
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	struct chan_backend b = backend(4, 99, CHAN_BACKEND_READY); /* no neighbour */
	struct vip_payload p = vip_owned_by(&b, 1, 0);
	publish(&begin, &p, 1);
	__u64 before = counter(counter_drop(PKT_DROP_NO_ROUTE));
	assert_int_equal(run(f, tcp_frame(f, 9, 3000, PKT_TCP_SYN), NULL, NULL), XDP_DROP);
	assert_int_equal(counter(counter_drop(PKT_DROP_NO_ROUTE)), before + 1);

	/* With a gateway MAC no neighbour entry is needed, and the gateway
	 * is where every tunnel goes. */
	struct xdp_options o = { .flow_capacity = 1024, .members_max = 64,
				 .has_gateway_mac = true,
				 .gateway_mac = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee } };
	bool adopted;
	char err[256];
	struct xdp_dataplane *gw = xdp_open(&o, &adopted, err, sizeof(err));
	assert_non_null(gw);
	p = vip_owned_by(&b, 1, 0);
	publish_in(gw, &begin, &p, 1);
	assert_int_equal(run_in(gw, f, tcp_frame(f, 9, 3000, PKT_TCP_SYN), out, &out_len), XDP_TX);
	assert_memory_equal(out, o.gateway_mac, 6);
	assert_memory_equal(out + 6, "\x02\x00\x00\x00\x00\x03", 6);
	b = backend(4, 5, CHAN_BACKEND_READY); /* has a neighbour: still the gateway */
	p = vip_owned_by(&b, 1, 0);
	publish_in(gw, &begin, &p, 1);
	assert_int_equal(run_in(gw, f, tcp_frame(f, 9, 3001, PKT_TCP_SYN), out, &out_len), XDP_TX);
	assert_memory_equal(out, o.gateway_mac, 6);
	xdp_close(gw);

	/* IPv4 without DF that would not fit: XDP cannot fragment. */
	const struct encap_fixture *nodf = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(encap_fixtures); i++)
		if (strcmp(encap_fixtures[i].name, "ipip_v4_nodf") == 0)
			nodf = &encap_fixtures[i];
	unsigned char big[1514];
	memcpy(big, nodf->in, nodf->in_len);
	memset(big + nodf->in_len, 0x66, sizeof(big) - nodf->in_len);
	big[16] = 0x05, big[17] = 0xdc; /* total length 1500 */
	big[24] = big[25] = 0;          /* (checksum not checked by a balancer) */
	struct pkt_info info;
	assert_int_equal(pkt_parse(big, big + sizeof(big), &info), PKT_VERDICT_CANDIDATE);
	struct chan_vip_key key = key_of(&info, 0);
	b = backend(4, 11, CHAN_BACKEND_READY);
	p = vip_payload_build(&key, "nodf", &b, 1, RING_SMALL);
	publish(&begin, &p, 1);
	before = counter(counter_drop(PKT_DROP_TOO_BIG));
	assert_int_equal(run(big, sizeof(big), NULL, NULL), XDP_DROP);
	assert_int_equal(counter(counter_drop(PKT_DROP_TOO_BIG)), before + 1);
	print_message("a backend without a neighbour is drop_no_route; a gateway MAC overrides "
		      "the FIB's neighbour; a too-big IPv4 packet without DF is drop_too_big\n");
}

/* An Ethernet + IP + TCP SYN for a random flow to the VIP of family v6. */
static size_t random_syn(unsigned char *f, int v6, const struct chan_vip_key *vip)
{
	size_t l3 = 14, l4;

	memset(f, 0, 128);
	memcpy(f, "\x02\x00\x00\x00\x00\x03\x02\x00\x00\x00\x00\x02", 12);
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		f[l3] = 0x60;
		f[l3 + 5] = 20;
		f[l3 + 6] = PKT_PROTO_TCP;
		f[l3 + 7] = 64;
		for (int i = 0; i < 16; i++)
			f[l3 + 8 + i] = (unsigned char)random();
		memcpy(f + l3 + 24, vip->addr, 16);
		l4 = l3 + 40;
	} else {
		f[l3] = 0x45;
		f[l3 + 3] = 40;
		f[l3 + 8] = 64;
		f[l3 + 9] = PKT_PROTO_TCP;
		for (int i = 0; i < 4; i++)
			f[l3 + 12 + i] = (unsigned char)random();
		memcpy(f + l3 + 16, vip->addr, 4);
		l4 = l3 + 20;
	}
	f[l4] = (unsigned char)random();
	f[l4 + 1] = (unsigned char)random();
	memcpy(f + l4 + 2, &vip->port, 2);
	f[l4 + 12] = 0x50;
	f[l4 + 13] = PKT_TCP_SYN;
	return l4 + 20;
}

static void test_same_backend_as_lb_dpdk_for_100000_flows(void **state)
{
	(void)state;
	NEED_BPF();
	enum { FLOWS = 100000, BACKENDS = 10 };
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	struct chan_backend b4[BACKENDS], b6[BACKENDS];
	struct chan_vip_key k4 = vip80(), k6 = vip80();
	inet_pton(AF_INET6, "2001:db8::10", k6.addr);
	k6.family = FLOW_FAMILY_IPV6;
	k6.port = htons(443);
	for (int i = 0; i < BACKENDS; i++) {
		b4[i] = backend(4, 1 + i, CHAN_BACKEND_READY);
		b4[i].weight = (__u32)(1 + i % 3);
		b6[i] = backend(6, 1 + i, CHAN_BACKEND_READY);
	}
	struct vip_payload p[2] = {
		vip_payload_build(&k4, "web4", b4, BACKENDS, MAGLEV_TABLE_SIZE_DEFAULT),
		vip_payload_build(&k6, "web6", b6, BACKENDS, MAGLEV_TABLE_SIZE_DEFAULT),
	};
	publish(&begin, p, 2);
	const struct gen *g = xdp_generation(xdp);

	unsigned char f[128], out[FRAME_MAX];
	__u32 out_len;
	int per_backend[BACKENDS + 1] = { 0 };
	srandom(42);
	for (int i = 0; i < FLOWS; i++) {
		int v6 = i & 1;
		size_t len = random_syn(f, v6, v6 ? &k6 : &k4);
		/* lb-dpdk's choice: its parser, VIP index and ring slot. */
		struct pkt_info info;
		assert_int_equal(pkt_parse(f, f + len, &info), PKT_VERDICT_CANDIDATE);
		const struct gen_vip *v = gen_vip_find(g, &info.tuple, 0);
		assert_non_null(v);
		__u32 id = v->ring[gen_vip_ring_slot(v, pkt_flow_hash(&info))];
		const struct gen_member *m = gen_member_get(g, id);
		int want = ((const unsigned char *)m->addr)[v6 ? 15 : 3];

		assert_int_equal(run(f, len, out, &out_len), XDP_TX);
		int got = tunnel_host(out);
		if (got != want)
			fail_msg("flow %d (%s): XDP chose backend %d, lb-dpdk %d", i,
				 v6 ? "IPv6" : "IPv4", got, want);
		per_backend[got]++;
	}
	int used = 0;
	for (int i = 1; i <= BACKENDS; i++)
		used += per_backend[i] > 0;
	assert_int_equal(used, BACKENDS);
	print_message("%d random IPv4 and IPv6 flows over weighted Maglev rings of %u: XDP and "
		      "lb-dpdk's packet core choose the same backend for every one\n",
		      FLOWS, MAGLEV_TABLE_SIZE_DEFAULT);
}

static void test_restarted_lbd_adopts_pinned_maps(void **state)
{
	(void)state;
	NEED_BPF();
	char pin[64], err[256];
	bool adopted;
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/fulcrum-test-%d", (int)getpid());
	struct xdp_options o = { .pin_path = pin, .flow_capacity = 1024, .members_max = 64 };
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	struct chan_backend bs[3] = { backend(4, 21, CHAN_BACKEND_READY),
				      backend(4, 22, CHAN_BACKEND_READY),
				      backend(4, 23, CHAN_BACKEND_READY) };
	unsigned char f[64], out[FRAME_MAX];
	__u32 out_len;

	struct xdp_dataplane *a = xdp_open(&o, &adopted, err, sizeof(err));
	if (!a)
		fail_msg("xdp_open: %s", err);
	assert_false(adopted);
	struct vip_payload p = vip_owned_by(bs, 3, 1);
	publish_in(a, &begin, &p, 1);
	assert_int_equal(run_in(a, f, tcp_frame(f, 50, 4000, PKT_TCP_SYN), out, &out_len), XDP_TX);
	assert_int_equal(tunnel_host(out), 22);
	__u64 generation = xdp_generation_id(a);
	xdp_close(a); /* lbd exits */

	/* A configuration with another flow table size cannot adopt the
	 * flows: refused, naming the map, and nothing unpinned. */
	struct xdp_options bigger = o;
	bigger.flow_capacity = 2048;
	assert_null(xdp_open(&bigger, &adopted, err, sizeof(err)));
	assert_non_null(strstr(err, "/flows holds 1024 entries"));
	print_message("refused: %s\n", err);

	/* The counters as an older version left them (fewer of them): an
	 * upgrade replaces that map and keeps the flows. */
	char counters_pin[96];
	snprintf(counters_pin, sizeof(counters_pin), "%s/counters", pin);
	assert_int_equal(unlink(counters_pin), 0);
	int old_counters = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "counters", 4,
					  8 * (COUNTER_COUNT - 2), 1, NULL);
	assert_true(old_counters >= 0);
	assert_int_equal(bpf_obj_pin(old_counters, counters_pin), 0);
	close(old_counters);

	struct xdp_dataplane *b = xdp_open(&o, &adopted, err, sizeof(err));
	if (!b)
		fail_msg("xdp_open again: %s", err);
	assert_true(adopted);
	assert_non_null(strstr(xdp_open_note(b), "counters"));
	print_message("upgrade: %s\n", xdp_open_note(b));
	assert_int_equal(xdp_generation_id(b), generation);
	/* The tables survived lbd: forwarding goes on before any publication. */
	assert_int_equal(run_in(b, f, tcp_frame(f, 50, 4000, PKT_TCP_ACK), out, &out_len), XDP_TX);
	assert_int_equal(tunnel_host(out), 22);
	/* The restarted lbd publishes a different ring: the flow keeps its
	 * backend, because the member kept its id. */
	p = vip_owned_by(bs, 3, 2);
	publish_in(b, &begin, &p, 1);
	assert_int_equal(xdp_generation_id(b), generation + 1);
	assert_int_equal(run_in(b, f, tcp_frame(f, 50, 4000, PKT_TCP_ACK), out, &out_len), XDP_TX);
	assert_int_equal(tunnel_host(out), 22);
	assert_int_equal(run_in(b, f, tcp_frame(f, 50, 4001, PKT_TCP_SYN), out, &out_len), XDP_TX);
	assert_int_equal(tunnel_host(out), 23);
	xdp_close(b);
	assert_int_equal(xdp_detach(pin, NULL, 0, err, sizeof(err)), 0);
	struct stat st;
	assert_int_not_equal(stat(pin, &st), 0);
	print_message("a restarted lbd adopts the pinned maps: same generation, same member ids, "
		      "established flows keep their backend, also when the counters' layout "
		      "changed; another flow table size is refused; detach removes the pins\n");
}

static void test_attach_replace_detach(void **state)
{
	(void)state;
	NEED_BPF();
	char note[256], err[256];
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int xb1 = (int)if_nametoindex("xb1");

	assert_int_equal(xdp_attach(xdp, "xb0", false, note, sizeof(note), err, sizeof(err)), 0);
	assert_int_equal(bpf_xdp_query(ifindex_lb, 0, &q), 0);
	assert_int_equal(q.attach_mode, XDP_ATTACHED_DRV);
	__u32 first = q.prog_id;
	/* Attaching again (an lbd restart) replaces it in place. */
	assert_int_equal(xdp_attach(xdp, "xb0", false, note, sizeof(note), err, sizeof(err)), 0);
	/* Someone else's program is not replaced. */
	struct pkt_flow_bpf *other = pkt_flow_bpf__open_and_load();
	assert_non_null(other);
	assert_int_equal(bpf_xdp_attach(xb1, bpf_program__fd(other->progs.pkt_flow),
					XDP_FLAGS_DRV_MODE, NULL),
			 0);
	assert_int_equal(xdp_attach(xdp, "xb1", false, note, sizeof(note), err, sizeof(err)),
			 -EBUSY);
	print_message("refused: %s\n", err);
	const char *const ifs[] = { "xb0", "xb1" };
	assert_int_equal(xdp_detach(NULL, ifs, 2, err, sizeof(err)), -EBUSY);
	LIBBPF_OPTS(bpf_xdp_query_opts, q0);
	assert_int_equal(bpf_xdp_query(ifindex_lb, 0, &q0), 0);
	assert_int_equal(q0.prog_id, 0);
	LIBBPF_OPTS(bpf_xdp_query_opts, q1);
	assert_int_equal(bpf_xdp_query(xb1, 0, &q1), 0);
	assert_int_not_equal(q1.prog_id, 0);
	bpf_xdp_detach(xb1, XDP_FLAGS_DRV_MODE, NULL);
	pkt_flow_bpf__destroy(other);
	print_message("attached in native mode (program id %u), replaced in place, detached; "
		      "another program's interface left alone\n", first);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_program_loads_with_its_maps),
		cmocka_unit_test(test_encapsulation_identical_to_the_packet_core),
		cmocka_unit_test(test_too_big_answered_like_lb_dpdk),
		cmocka_unit_test(test_parse_verdicts_and_drop_counters),
		cmocka_unit_test(test_flows_keep_their_backend_as_lb_dpdk_does),
		cmocka_unit_test(test_new_flows_wait_apart_and_a_flood_spares_established_ones),
		cmocka_unit_test(test_members_and_stats_as_lb_dpdk_reports_them),
		cmocka_unit_test(test_icmp_errors_and_fragments_follow_the_flow),
		cmocka_unit_test(test_no_route_no_neighbour_and_gateway_mac),
		cmocka_unit_test(test_same_backend_as_lb_dpdk_for_100000_flows),
		cmocka_unit_test(test_restarted_lbd_adopts_pinned_maps),
		cmocka_unit_test(test_attach_replace_detach),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
