/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen's packets: the frames it builds have the headers asked for and right
 * checksums (checked by an independent, byte-by-byte RFC 1071 sum) and are
 * what Fulcrum's own parser takes for the flow; its receive parser finds the
 * probe, unchanged, in those frames as sent and after Fulcrum's encapsulation
 * code (pkt_encap, the bytes lb-dpdk writes) tunnelled them in IPIP, IP6IP6,
 * 4in6, 6in4 and GUE over either family, with or without a VLAN tag; names
 * the backend; notices a corrupted byte; and never reads past a truncated
 * frame (each parse runs on a heap copy of exactly the frame's length).
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
#include "tools/lbgen/frame.h"
#include "tools/lbgen/probe.h"
#include "tools/lbgen/rxparse.h"

static const struct frame_l2 l2 = {
	.dst_mac = {0x02, 0, 0, 0, 0, 0x01},
	.src_mac = {0x02, 0, 0, 0, 0, 0x02},
};

/* RFC 1071, the slow way: big-endian 16-bit words, carries folded at the end. */
static __u32 ref_sum(__u32 sum, const __u8 *p, size_t n)
{
	for (size_t i = 0; i < n; i += 2)
		sum += (__u32)(p[i] << 8 | (i + 1 < n ? p[i + 1] : 0));
	return sum;
}

static __u16 ref_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

static __u16 get16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static __u32 get32(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

/* The sum of the pseudo-header and segment of a TCP or UDP packet at ip. */
static __u16 ref_l4_check(const __u8 *ip)
{
	const int v4 = (ip[0] >> 4) == 4;
	const __u32 hlen = v4 ? (ip[0] & 0xf) * 4u : 40;
	const __u32 l4_len = v4 ? get16(ip + 2) - hlen : get16(ip + 4);
	const __u8 proto = v4 ? ip[9] : ip[6];
	__u32 sum = ref_sum(0, ip + (v4 ? 12 : 8), v4 ? 8 : 32);

	sum += proto + l4_len;
	return ref_fold(ref_sum(sum, ip + hlen, l4_len));
}

static struct flow_tuple tuple_of(const char *src, __u16 sport, const char *dst, __u16 dport,
				  __u8 proto)
{
	struct flow_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = strchr(src, ':') ? FLOW_FAMILY_IPV6 : FLOW_FAMILY_IPV4;
	int af = t.family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6;
	assert_int_equal(inet_pton(af, src, t.src_addr), 1);
	assert_int_equal(inet_pton(af, dst, t.dst_addr), 1);
	t.src_port = htons(sport);
	t.dst_port = htons(dport);
	t.proto = proto;
	return t;
}

static __u32 build(__u8 *buf, __u32 room, const struct flow_tuple *t, __u32 size, __u8 flags,
		   __u32 flow, __u64 seq, __u64 tsc)
{
	struct frame_packet p = {.tuple = t,
				 .tcp_flags = flags,
				 .size = size,
				 .flow = flow,
				 .seq = seq,
				 .tx_tsc = tsc};
	return frame_build(buf, room, &l2, &p);
}

/* rxparse_frame on a heap copy of exactly len bytes. */
static enum rxparse_verdict parse_exact(const __u8 *frame, __u32 len, struct rxparse_result *r)
{
	__u8 *copy = malloc(len ? len : 1);
	enum rxparse_verdict v;

	assert_non_null(copy);
	memcpy(copy, frame, len);
	v = rxparse_frame(copy, len, PKT_GUE_PORT_DEFAULT, r);
	free(copy);
	return v;
}

static void test_minimum_sizes_hold_headers_and_probe(void **state)
{
	(void)state;
	/* 14 + 20 + 20 + 24 + 4 = 82; UDP 70; IPv6 102 and 90. */
	assert_int_equal(frame_size_min(FLOW_FAMILY_IPV4, PKT_PROTO_TCP), 82);
	assert_int_equal(frame_size_min(FLOW_FAMILY_IPV4, PKT_PROTO_UDP), 70);
	assert_int_equal(frame_size_min(FLOW_FAMILY_IPV6, PKT_PROTO_TCP), 102);
	assert_int_equal(frame_size_min(FLOW_FAMILY_IPV6, PKT_PROTO_UDP), 90);

	struct flow_tuple t = tuple_of("10.0.0.1", 1000, "10.99.0.1", 80, PKT_PROTO_TCP);
	__u8 buf[2048];
	assert_int_equal(build(buf, sizeof(buf), &t, 81, PKT_TCP_SYN, 0, 0, 0), 0);
	assert_int_equal(build(buf, sizeof(buf), &t, 82, PKT_TCP_SYN, 0, 0, 0), 78);
	assert_int_equal(build(buf, 100, &t, 1518, PKT_TCP_SYN, 0, 0, 0), 0);
}

/* Checks one built frame field by field. */
static void check_built(const struct flow_tuple *t, __u32 size, __u8 flags)
{
	__u8 buf[FRAME_SIZE_MAX];
	const __u64 seq = 0x0123456789abcdefull, tsc = 0xfedcba9876543210ull;
	const __u32 len = build(buf, sizeof(buf), t, size, flags, 4242, seq, tsc);
	const int v4 = t->family == FLOW_FAMILY_IPV4;
	const __u8 *ip = buf + 14;
	const __u8 *l4 = ip + (v4 ? 20 : 40);
	const __u8 *probe = l4 + (t->proto == PKT_PROTO_TCP ? 20 : 8);

	assert_int_equal(len, size - 4);
	assert_memory_equal(buf, l2.dst_mac, 6);
	assert_memory_equal(buf + 6, l2.src_mac, 6);
	assert_int_equal(get16(buf + 12), v4 ? 0x0800 : 0x86dd);
	if (v4) {
		assert_int_equal(ip[0], 0x45);
		assert_int_equal(get16(ip + 2), len - 14);
		assert_int_equal(get16(ip + 6), 0x4000); /* DF */
		assert_int_equal(ip[8], 64);
		assert_int_equal(ip[9], t->proto);
		assert_int_equal(ref_fold(ref_sum(0, ip, 20)), 0xffff);
		assert_memory_equal(ip + 12, t->src_addr, 4);
		assert_memory_equal(ip + 16, t->dst_addr, 4);
	} else {
		assert_int_equal(ip[0] >> 4, 6);
		assert_int_equal(get16(ip + 4), len - 54);
		assert_int_equal(ip[6], t->proto);
		assert_int_equal(ip[7], 64);
		assert_memory_equal(ip + 8, t->src_addr, 16);
		assert_memory_equal(ip + 24, t->dst_addr, 16);
	}
	assert_memory_equal(l4, &t->src_port, 2);
	assert_memory_equal(l4 + 2, &t->dst_port, 2);
	if (t->proto == PKT_PROTO_TCP) {
		assert_int_equal(l4[12], 0x50);
		assert_int_equal(l4[13], flags);
	} else {
		assert_int_equal(get16(l4 + 4), len - (__u32)(l4 - buf));
		assert_int_not_equal(get16(l4 + 6), 0);
	}
	assert_int_equal(ref_l4_check(ip), 0xffff);
	assert_int_equal(get32(probe), PROBE_MAGIC);
	assert_int_equal(get32(probe + 4), 4242);
	assert_int_equal(get32(probe + 8), 0x01234567);
	assert_int_equal(get32(probe + 12), 0x89abcdef);
	assert_int_equal(get32(probe + 16), 0xfedcba98);
	for (const __u8 *p = probe + PROBE_LEN; p < buf + len; p++)
		assert_int_equal(*p, 0);

	/* Fulcrum's parser sees the flow lbgen meant, and lets it through. */
	struct pkt_info info;
	assert_int_equal(pkt_parse(buf, buf + len, &info), PKT_VERDICT_CANDIDATE);
	assert_memory_equal(&info.tuple, t, sizeof(*t));
	assert_int_equal(pkt_vip_check(&info), PKT_DROP_NONE);
}

static void test_built_frames_have_the_headers_and_checksums_asked(void **state)
{
	static const __u32 sizes[] = {64, 102, 103, 570, 1518, 9018};
	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct flow_tuple t4t =
			tuple_of("10.1.2.3", 40000, "10.99.100.1", 80, PKT_PROTO_TCP);
		struct flow_tuple t4u =
			tuple_of("10.1.2.3", 65535, "10.99.100.1", 53, PKT_PROTO_UDP);
		struct flow_tuple t6t = tuple_of("fd01::3", 1, "fd99:100::1", 443, PKT_PROTO_TCP);
		struct flow_tuple t6u = tuple_of("fd01::3", 5353, "fd99:100::1", 53, PKT_PROTO_UDP);
		__u32 s = sizes[i];
		check_built(&t4t, s < 82 ? 82 : s, PKT_TCP_SYN);
		check_built(&t4t, s < 82 ? 82 : s, PKT_TCP_ACK | 0x08);
		check_built(&t4u, s < 70 ? 70 : s, 0);
		check_built(&t6t, s < 102 ? 102 : s, PKT_TCP_FIN | PKT_TCP_ACK);
		check_built(&t6u, s < 90 ? 90 : s, 0);
	}
}

static void test_frames_as_sent_parse_with_their_probe(void **state)
{
	struct flow_tuple t = tuple_of("10.1.2.3", 40000, "10.99.100.1", 80, PKT_PROTO_TCP);
	struct rxparse_result r;
	__u8 buf[2048];

	(void)state;
	__u32 len = build(buf, sizeof(buf), &t, 128, PKT_TCP_SYN, 7, 99, 123456789);
	assert_int_equal(parse_exact(buf, len, &r), RXPARSE_OURS);
	assert_int_equal(r.encap, RXPARSE_ENCAP_NONE);
	assert_int_equal(r.checksums_ok, 1);
	assert_int_equal(r.flow, 7);
	assert_int_equal(r.seq, 99);
	assert_int_equal(r.tx_tsc, 123456789);
	assert_int_equal(r.tcp_flags, PKT_TCP_SYN);
	assert_memory_equal(&r.tuple, &t, sizeof(t));
	/* Without a tunnel the "backend" is the packet's own destination. */
	assert_int_equal(r.backend_family, FLOW_FAMILY_IPV4);
	assert_memory_equal(r.backend, t.dst_addr, 16);

	/* lbgen's own UDP to the GUE port: the probe's first byte reads as GUE
	 * variant 1, yet the packet is recognised as sent. */
	t = tuple_of("fd01::1", 1000, "fd99::1", PKT_GUE_PORT_DEFAULT, PKT_PROTO_UDP);
	len = build(buf, sizeof(buf), &t, 200, 0, 8, 100, 5);
	assert_int_equal(parse_exact(buf, len, &r), RXPARSE_OURS);
	assert_int_equal(r.encap, RXPARSE_ENCAP_NONE);
	assert_int_equal(r.flow, 8);
	assert_int_equal(r.checksums_ok, 1);

	/* Ethernet padding after the datagram is allowed. */
	t = tuple_of("10.0.0.1", 1, "10.0.0.2", 2, PKT_PROTO_UDP);
	len = build(buf, sizeof(buf), &t, 70, 0, 1, 2, 3);
	memset(buf + len, 0, 10);
	assert_int_equal(parse_exact(buf, len + 10, &r), RXPARSE_OURS);
}

struct encap_case {
	const char *name;
	const char *client, *vip, *backend;
	__u8 type; /* PKT_ENCAP_* */
	__u8 has_vlan;
	__u8 proto;
	enum rxparse_encap expected;
};

static const struct encap_case encap_cases[] = {
	{"ipip", "10.1.0.1", "10.99.100.1", "10.99.3.11", PKT_ENCAP_IPIP, 0, PKT_PROTO_TCP,
	 RXPARSE_ENCAP_IPIP},
	{"ip6ip6", "fd01::1", "fd99:100::1", "fd99:3::11", PKT_ENCAP_IPIP, 0, PKT_PROTO_TCP,
	 RXPARSE_ENCAP_IP6IP6},
	{"4in6", "10.1.0.1", "10.99.100.2", "fd99:3::12", PKT_ENCAP_IPIP, 0, PKT_PROTO_UDP,
	 RXPARSE_ENCAP_4IN6},
	{"6in4", "fd01::1", "fd99:100::1", "10.99.3.13", PKT_ENCAP_IPIP, 0, PKT_PROTO_UDP,
	 RXPARSE_ENCAP_6IN4},
	{"gue over ipv4", "10.1.0.1", "10.99.100.1", "10.99.3.11", PKT_ENCAP_GUE, 0, PKT_PROTO_TCP,
	 RXPARSE_ENCAP_GUE},
	{"gue over ipv6", "fd01::1", "fd99:100::1", "fd99:3::11", PKT_ENCAP_GUE, 0, PKT_PROTO_UDP,
	 RXPARSE_ENCAP_GUE},
	{"gue 4 in 6", "10.1.0.1", "10.99.100.2", "fd99:3::12", PKT_ENCAP_GUE, 0, PKT_PROTO_TCP,
	 RXPARSE_ENCAP_GUE},
	{"ipip with vlan", "10.1.0.1", "10.99.100.1", "10.99.3.11", PKT_ENCAP_IPIP, 1,
	 PKT_PROTO_TCP, RXPARSE_ENCAP_IPIP},
	{"gue over ipv6 with vlan", "fd01::1", "fd99:100::1", "fd99:3::11", PKT_ENCAP_GUE, 1,
	 PKT_PROTO_TCP, RXPARSE_ENCAP_GUE},
};

#define HEADROOM 128

/*
 * Builds lbgen's frame for c and tunnels it with Fulcrum's encapsulation
 * code; returns the tunnelled frame's length, written at *out inside buf.
 */
static __u32 encapsulate(const struct encap_case *c, __u8 *buf, size_t buf_size, __u8 **out,
			 struct flow_tuple *t)
{
	struct pkt_encap_params p;
	struct pkt_info info;
	__u8 *frame = buf + HEADROOM;
	__u32 out_len;

	*t = tuple_of(c->client, 33333, c->vip, 80, c->proto);
	__u32 len = build(frame, (__u32)(buf_size - HEADROOM), t, 300, PKT_TCP_ACK, 31337,
			  1ull << 40, 0x1122334455667788ull);
	assert_int_not_equal(len, 0);
	assert_int_equal(pkt_parse(frame, frame + len, &info), PKT_VERDICT_CANDIDATE);

	memset(&p, 0, sizeof(p));
	p.type = c->type;
	p.outer_family = strchr(c->backend, ':') ? FLOW_FAMILY_IPV6 : FLOW_FAMILY_IPV4;
	p.has_vlan = c->has_vlan;
	p.vlan_tci = 42;
	p.mtu = 9000;
	p.gue_port = htons(PKT_GUE_PORT_DEFAULT);
	memcpy(p.src_mac, l2.dst_mac, 6);
	memcpy(p.dst_mac, l2.src_mac, 6);
	int af = p.outer_family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6;
	assert_int_equal(inet_pton(af,
				   p.outer_family == FLOW_FAMILY_IPV4 ? "10.99.2.2" : "fd99:2::2",
				   p.outer_src),
			 1);
	assert_int_equal(inet_pton(af, c->backend, p.outer_dst), 1);
	assert_int_equal(
		pkt_encap(frame, len, HEADROOM, &info, &p, pkt_flow_hash(&info), out, &out_len),
		PKT_ENCAP_OK);
	return out_len;
}

static void test_probe_and_timestamp_survive_every_encapsulation(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(encap_cases) / sizeof(encap_cases[0]); i++) {
		const struct encap_case *c = &encap_cases[i];
		__u8 buf[2048], *frame;
		struct flow_tuple t;
		struct rxparse_result r;
		__be32 backend[4] = {0};

		__u32 len = encapsulate(c, buf, sizeof(buf), &frame, &t);
		print_message("  %s: %u bytes\n", c->name, len);
		assert_int_equal(parse_exact(frame, len, &r), RXPARSE_OURS);
		assert_int_equal(r.encap, c->expected);
		assert_int_equal(r.checksums_ok, 1);
		assert_int_equal(r.flow, 31337);
		assert_int_equal(r.seq, 1ull << 40);
		assert_int_equal(r.tx_tsc, 0x1122334455667788ull);
		assert_memory_equal(&r.tuple, &t, sizeof(t));
		assert_int_equal(r.backend_family,
				 strchr(c->backend, ':') ? FLOW_FAMILY_IPV6 : FLOW_FAMILY_IPV4);
		assert_int_equal(
			inet_pton(r.backend_family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6,
				  c->backend, backend),
			1);
		assert_memory_equal(r.backend, backend, 16);
	}
}

static void test_truncated_frames_are_never_ours_and_never_overread(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(encap_cases) / sizeof(encap_cases[0]); i++) {
		__u8 buf[2048], *frame;
		struct flow_tuple t;
		struct rxparse_result r;
		__u32 len = encapsulate(&encap_cases[i], buf, sizeof(buf), &frame, &t);

		for (__u32 cut = 0; cut < len; cut++)
			assert_int_equal(parse_exact(frame, cut, &r), RXPARSE_NOT_OURS);
	}
}

static void test_a_corrupted_byte_fails_a_checksum(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(encap_cases) / sizeof(encap_cases[0]); i++) {
		const struct encap_case *c = &encap_cases[i];
		__u8 buf[2048], *frame;
		struct flow_tuple t;
		struct rxparse_result r;
		__u32 len = encapsulate(c, buf, sizeof(buf), &frame, &t);
		const __u32 l2_len = c->has_vlan ? 18 : 14;
		const int outer_v4 = !strchr(c->backend, ':');

		/* A byte of the zeros after the probe, at the frame's end. */
		frame[len - 1] ^= 0x40;
		assert_int_equal(parse_exact(frame, len, &r), RXPARSE_OURS);
		assert_int_equal(r.checksums_ok, 0);
		frame[len - 1] ^= 0x40;

		if (outer_v4) { /* the outer header's identification field */
			frame[l2_len + 5] ^= 0x01;
			assert_int_equal(parse_exact(frame, len, &r), RXPARSE_OURS);
			assert_int_equal(r.checksums_ok, 0);
			frame[l2_len + 5] ^= 0x01;
		}
		if (c->type == PKT_ENCAP_GUE) { /* GUE's UDP source port */
			__u32 udp = l2_len + (outer_v4 ? 20 : 40);
			int checked = get16(frame + udp + 6) != 0;
			frame[udp] ^= 0x01;
			assert_int_equal(parse_exact(frame, len, &r), RXPARSE_OURS);
			/* Over IPv4 Fulcrum sends GUE without a UDP checksum. */
			assert_int_equal(r.checksums_ok, !checked);
			assert_int_equal(checked, !outer_v4);
			frame[udp] ^= 0x01;
		}
		assert_int_equal(parse_exact(frame, len, &r), RXPARSE_OURS);
		assert_int_equal(r.checksums_ok, 1);
	}
}

static void test_gue_variant_1_and_gue_options_are_understood(void **state)
{
	struct flow_tuple t = tuple_of("10.1.0.1", 2000, "10.99.100.1", 80, PKT_PROTO_UDP);
	struct rxparse_result r;
	__u8 inner[256], frame[512];

	(void)state;
	__u32 inner_len = build(inner, sizeof(inner), &t, 100, 0, 5, 6, 7) - 14;
	for (int variant = 0; variant <= 1; variant++) {
		/* Outer IPv4 / UDP to the GUE port / [GUE with one option word] / inner. */
		__u32 gue_len = variant ? 0 : 8;
		__u32 udp_len = 8 + gue_len + inner_len;
		memcpy(frame, inner, 14); /* the same Ethernet header, IPv4 */
		__u8 *ip = frame + 14;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		ip[2] = (__u8)((20 + udp_len) >> 8);
		ip[3] = (__u8)(20 + udp_len);
		ip[8] = 64;
		ip[9] = PKT_PROTO_UDP;
		memcpy(ip + 12, (const __u8[]){10, 99, 2, 2}, 4);
		memcpy(ip + 16, (const __u8[]){10, 99, 3, 14}, 4);
		__u32 sum = ~(__u32)ref_fold(ref_sum(0, ip, 20)) & 0xffff;
		ip[10] = (__u8)(sum >> 8);
		ip[11] = (__u8)sum;
		__u8 *udp = ip + 20;
		memset(udp, 0, 8);
		udp[0] = 0xc0;
		udp[2] = PKT_GUE_PORT_DEFAULT >> 8;
		udp[3] = PKT_GUE_PORT_DEFAULT & 0xff;
		udp[4] = (__u8)(udp_len >> 8);
		udp[5] = (__u8)udp_len;
		if (!variant) {
			udp[8] = 0x01; /* version 0, one 4-byte option word */
			udp[9] = PKT_PROTO_IPIP;
			memset(udp + 10, 0, 6);
		}
		memcpy(udp + 8 + gue_len, inner + 14, inner_len);
		assert_int_equal(parse_exact(frame, 14 + 20 + udp_len, &r), RXPARSE_OURS);
		assert_int_equal(r.encap, RXPARSE_ENCAP_GUE);
		assert_int_equal(r.flow, 5);
		assert_int_equal(r.checksums_ok, 1);
		assert_int_equal(ntohl(r.backend[0]), 0x0a63030e);
	}
}

static void test_other_frames_are_not_ours(void **state)
{
	struct flow_tuple t = tuple_of("10.1.0.1", 2000, "10.99.100.1", 80, PKT_PROTO_TCP);
	struct rxparse_result r;
	__u8 buf[256];

	(void)state;
	/* ARP. */
	memset(buf, 0, sizeof(buf));
	buf[12] = 0x08;
	buf[13] = 0x06;
	assert_int_equal(parse_exact(buf, 60, &r), RXPARSE_NOT_OURS);
	/* A TCP packet whose payload is not a probe. */
	__u32 len = build(buf, sizeof(buf), &t, 128, PKT_TCP_ACK, 1, 2, 3);
	buf[14 + 20 + 20] ^= 0xff;
	assert_int_equal(parse_exact(buf, len, &r), RXPARSE_NOT_OURS);
	buf[14 + 20 + 20] ^= 0xff;
	/* A fragment. */
	buf[14 + 6] |= 0x20;
	assert_int_equal(parse_exact(buf, len, &r), RXPARSE_NOT_OURS);
	buf[14 + 6] &= (__u8)~0x20;
	/* An IPv4 header claiming more bytes than the frame has. */
	buf[14 + 3] += 1;
	assert_int_equal(parse_exact(buf, len, &r), RXPARSE_NOT_OURS);
	buf[14 + 3] -= 1;
	assert_int_equal(parse_exact(buf, len, &r), RXPARSE_OURS);
}

static void test_stamping_a_captured_frame_makes_it_ours(void **state)
{
	struct flow_tuple t = tuple_of("fd01::1", 2000, "fd99::1", 80, PKT_PROTO_TCP);
	struct rxparse_result r;
	__u8 buf[256];

	(void)state;
	/* A frame with a payload that is not a probe, as a capture holds. */
	__u32 len = build(buf, sizeof(buf), &t, 200, PKT_TCP_ACK, 0, 0, 0);
	memset(buf + 14 + 40 + 20, 0xab, len - 14 - 40 - 20);
	assert_int_equal(parse_exact(buf, len, &r), RXPARSE_NOT_OURS);
	assert_int_equal(frame_stamp(buf, len, 77, 88, 99), 0);
	assert_int_equal(parse_exact(buf, len, &r), RXPARSE_OURS);
	assert_int_equal(r.checksums_ok, 1);
	assert_int_equal(r.flow, 77);
	assert_int_equal(r.seq, 88);
	assert_int_equal(r.tx_tsc, 99);
	assert_int_equal(ref_l4_check(buf + 14), 0xffff);
	/* The rest of the payload is left as captured. */
	assert_int_equal(buf[len - 1], 0xab);

	/* Cut short of its IP length; one payload byte short of a probe; ARP. */
	assert_int_equal(frame_stamp(buf, 14 + 40 + 20 + 10, 1, 2, 3), -EPROTO);
	t = tuple_of("10.0.0.1", 1, "10.0.0.2", 2, PKT_PROTO_UDP);
	len = build(buf, sizeof(buf), &t, 70, 0, 0, 0, 0);
	buf[14 + 3] -= 1;
	buf[14 + 20 + 5] -= 1;
	assert_int_equal(frame_stamp(buf, len, 1, 2, 3), -ENOSPC);
	memset(buf, 0, 64);
	buf[12] = 0x08;
	buf[13] = 0x06;
	assert_int_equal(frame_stamp(buf, 64, 1, 2, 3), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimum_sizes_hold_headers_and_probe),
		cmocka_unit_test(test_built_frames_have_the_headers_and_checksums_asked),
		cmocka_unit_test(test_frames_as_sent_parse_with_their_probe),
		cmocka_unit_test(test_probe_and_timestamp_survive_every_encapsulation),
		cmocka_unit_test(test_truncated_frames_are_never_ours_and_never_overread),
		cmocka_unit_test(test_a_corrupted_byte_fails_a_checksum),
		cmocka_unit_test(test_gue_variant_1_and_gue_options_are_understood),
		cmocka_unit_test(test_other_frames_are_not_ours),
		cmocka_unit_test(test_stamping_a_captured_frame_makes_it_ours),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
