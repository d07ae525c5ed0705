/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packet core (dataplane/pkt.h, pkt.c) on any frame: the input is one
 * Ethernet frame, exactly as a port would hand it to a worker, so captured
 * or scapy-built frames are seeds as they are.
 *
 * Beyond "no sanitizer report", every frame must satisfy:
 *  - the verdict is one of the three, a drop names one of the parser's own
 *    reasons and anything else names none;
 *  - a candidate's info agrees with the bytes (offsets inside the frame, IP
 *    version, TTL, TOS, family-shaped addresses, zero ports for fragments,
 *    zero padding) and its tuple is one lb-dpdk's FLOW_FIND would accept;
 *  - only the datagram counts: the frame cut to the datagram's end parses
 *    the same, and any shorter cut is a truncation, never a new flow;
 *  - each way of tunnelling a candidate (IPIP / GUE, outer IPv4 / IPv6,
 *    with and without a VLAN tag) stays inside the buffer, writes valid
 *    outer headers and checksums, and decapsulates to the same flow with the
 *    TTL one lower; too little headroom is refused before a byte is written;
 *  - a packet too big for the tunnel gets an ICMP reply within RFC 1812 /
 *    RFC 4443's size, with valid checksums, that parses as an error about
 *    the same flow seen from the VIP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "dataplane/chan.h"
#include "dataplane/pkt.h"
#include "tests/fuzz/fuzz.h"

#define HEADROOM 128 /* more than any encapsulation grows a frame by */

static const char *verdict_name(enum pkt_verdict v)
{
	return v == PKT_VERDICT_CANDIDATE ? "candidate"
	       : v == PKT_VERDICT_NOT_OURS ? "not-ours"
	       : v == PKT_VERDICT_DROP	   ? "drop"
					   : "invalid";
}

/* The reasons pkt_parse() itself may give; the rest belong to later stages. */
static int parser_reason(unsigned reason)
{
	switch (reason) {
	case PKT_DROP_TRUNCATED:
	case PKT_DROP_BAD_IP_VERSION:
	case PKT_DROP_BAD_IHL:
	case PKT_DROP_BAD_IP_LENGTH:
	case PKT_DROP_BAD_L4_LENGTH:
	case PKT_DROP_BAD_FRAGMENT:
	case PKT_DROP_IPV6_EXT_CHAIN:
	case PKT_DROP_ICMP_BAD_QUOTE:
		return 1;
	}
	return 0;
}

/* Parses frame[0..len) from a heap block of exactly len bytes. */
static enum pkt_verdict parse_exact(const __u8 *frame, size_t len, struct pkt_info *info)
{
	__u8 *copy = fuzz_dup_exact(frame, len);
	enum pkt_verdict v = pkt_parse(copy, copy + len, info);

	free(copy);
	return v;
}

/* The Internet checksum over bytes is right when they sum to all ones. */
static int csum_ok(__u32 sum)
{
	return pkt_csum_fold(sum) == 0xffff;
}

static int ipv4_header_csum_ok(const __u8 *ip)
{
	return csum_ok(pkt_csum_add(0, ip, (ip[0] & 0xfu) * 4u));
}

/* Sum of the IPv6 pseudo-header for an upper layer of len bytes. */
static __u32 ipv6_pseudo_sum(const __u8 *ip6, __u32 len, __u8 next)
{
	__u8 tail[8] = { (__u8)(len >> 24), (__u8)(len >> 16), (__u8)(len >> 8), (__u8)len,
			 0, 0, 0, next };
	__u32 sum = pkt_csum_add(0, ip6 + 8, 32);

	return pkt_csum_add(sum, tail, sizeof(tail));
}

static void check_info(const __u8 *frame, size_t len, enum pkt_verdict v,
		       const struct pkt_info *info)
{
	const struct flow_tuple *t = &info->tuple;

	FUZZ_CHECK(v == PKT_VERDICT_CANDIDATE || v == PKT_VERDICT_NOT_OURS || v == PKT_VERDICT_DROP,
		   "verdict %d", v);
	if (v == PKT_VERDICT_DROP)
		FUZZ_CHECK(parser_reason(info->drop_reason), "drop with reason %u (%s)",
			   info->drop_reason, pkt_drop_reason_name(info->drop_reason));
	else
		FUZZ_CHECK(info->drop_reason == PKT_DROP_NONE, "%s with drop reason %u",
			   verdict_name(v), info->drop_reason);
	FUZZ_CHECK((info->flags & ~(PKT_F_VLAN | PKT_F_FRAGMENT | PKT_F_ICMP_ERROR | PKT_F_DF)) == 0,
		   "flags 0x%x", info->flags);
	FUZZ_CHECK(t->pad[0] == 0 && t->pad[1] == 0 && info->pad == 0, "padding not zero");
	if (v != PKT_VERDICT_CANDIDATE)
		return;

	const __u8 *ip = frame + info->l3_offset;
	const int v4 = t->family == FLOW_FAMILY_IPV4;

	FUZZ_CHECK(t->family == FLOW_FAMILY_IPV4 || t->family == FLOW_FAMILY_IPV6, "family %u",
		   t->family);
	FUZZ_CHECK(info->l3_offset == ((info->flags & PKT_F_VLAN) ? 18 : 14), "l3 offset %u",
		   info->l3_offset);
	FUZZ_CHECK((size_t)info->l3_offset + info->l3_length <= len,
		   "datagram %u+%u past the %zu-byte frame", info->l3_offset, info->l3_length, len);
	FUZZ_CHECK(info->l3_length >= (v4 ? PKT_IPV4_HLEN : PKT_IPV6_HLEN + 1), "l3 length %u",
		   info->l3_length);
	FUZZ_CHECK((ip[0] >> 4) == t->family, "IP version %u for family %u", ip[0] >> 4,
		   t->family);
	FUZZ_CHECK(t->proto == PKT_PROTO_TCP || t->proto == PKT_PROTO_UDP, "protocol %u",
		   t->proto);
	FUZZ_CHECK(info->hop_limit == ip[v4 ? 8 : 7], "hop limit %u, header says %u",
		   info->hop_limit, ip[v4 ? 8 : 7]);
	if (v4) {
		FUZZ_CHECK(info->tos == ip[1], "tos 0x%x, header 0x%x", info->tos, ip[1]);
		FUZZ_CHECK(!t->src_addr[1] && !t->src_addr[2] && !t->src_addr[3] &&
				   !t->dst_addr[1] && !t->dst_addr[2] && !t->dst_addr[3],
			   "IPv4 tuple with IPv6-sized addresses");
		FUZZ_CHECK(!!(info->flags & PKT_F_DF) == !!(ip[6] & 0x40), "DF flag");
	} else {
		FUZZ_CHECK(info->flags & PKT_F_DF, "IPv6 is never fragmented on the way");
	}
	if (info->flags & PKT_F_FRAGMENT)
		FUZZ_CHECK(t->src_port == 0 && t->dst_port == 0, "fragment with ports");
	if (info->tcp_flags)
		FUZZ_CHECK(t->proto == PKT_PROTO_TCP &&
				   !(info->flags & (PKT_F_FRAGMENT | PKT_F_ICMP_ERROR)),
			   "TCP flags 0x%x on a packet without a TCP header", info->tcp_flags);

	/* What lbd asks lb-dpdk about (lbctl lookup) is a tuple as the parser
	 * builds it: the channel must take every one. */
	char err[256];
	struct flow_tuple checked;
	FUZZ_CHECK(chan_flow_find_decode(t, sizeof(*t), &checked, err, sizeof(err)) == 0,
		   "FLOW_FIND would refuse a parsed tuple: %s", err);
	if (info->flags & PKT_F_FRAGMENT)
		FUZZ_CHECK(pkt_flow_hash(info) == flow_hash_addrs(t), "fragment hash");
}

/* Whatever follows the datagram is padding; whatever is cut from it is
 * truncation. cut = len is the frame itself. */
static void check_cut(const __u8 *frame, size_t cut, enum pkt_verdict whole,
		      const struct pkt_info *full)
{
	struct pkt_info info;
	enum pkt_verdict v = parse_exact(frame, cut, &info);
	size_t datagram_end = (size_t)full->l3_offset + full->l3_length;

	check_info(frame, cut, v, &info);
	if (whole == PKT_VERDICT_CANDIDATE && cut < datagram_end) {
		FUZZ_CHECK(v == PKT_VERDICT_DROP && info.drop_reason == PKT_DROP_TRUNCATED,
			   "cut at %zu of a %zu-byte datagram end: %s/%s", cut, datagram_end,
			   verdict_name(v), pkt_drop_reason_name(info.drop_reason));
	} else if (whole == PKT_VERDICT_CANDIDATE) {
		FUZZ_CHECK(v == PKT_VERDICT_CANDIDATE && memcmp(&info, full, sizeof(info)) == 0,
			   "cutting padding at %zu changed the parse", cut);
	} else {
		FUZZ_CHECK(v != PKT_VERDICT_CANDIDATE, "a %s frame cut at %zu became a candidate",
			   verdict_name(whole), cut);
	}
}

static void check_outer(const __u8 *out, const struct pkt_info *info,
			const struct pkt_encap_params *p, __u32 hash)
{
	const __u16 l2 = pkt_l2_length(p->has_vlan);
	const __u16 overhead = pkt_encap_overhead(p);
	const __u8 *outer = out + l2;
	const __u8 *inner = outer + overhead;
	const int inner_v4 = info->tuple.family == FLOW_FAMILY_IPV4;
	const __u8 inner_proto = inner_v4 ? PKT_PROTO_IPIP : PKT_PROTO_IPV6;
	const __u8 outer_proto = p->type == PKT_ENCAP_GUE ? PKT_PROTO_UDP : inner_proto;
	__u16 ip_len;

	FUZZ_CHECK(memcmp(out, p->dst_mac, 6) == 0 && memcmp(out + 6, p->src_mac, 6) == 0,
		   "Ethernet addresses");
	if (p->has_vlan)
		FUZZ_CHECK(pkt_get_be16(out + 12) == PKT_ETH_P_8021Q &&
				   pkt_get_be16(out + 14) == p->vlan_tci,
			   "VLAN tag");
	FUZZ_CHECK(pkt_get_be16(out + l2 - 2) ==
			   (p->outer_family == FLOW_FAMILY_IPV4 ? PKT_ETH_P_IPV4 : PKT_ETH_P_IPV6),
		   "outer EtherType");
	if (p->outer_family == FLOW_FAMILY_IPV4) {
		ip_len = PKT_IPV4_HLEN;
		FUZZ_CHECK(outer[0] == 0x45 && outer[1] == info->tos, "outer IPv4 version/tos");
		FUZZ_CHECK(pkt_get_be16(outer + 2) == overhead + info->l3_length,
			   "outer total length %u", pkt_get_be16(outer + 2));
		FUZZ_CHECK(pkt_get_be16(outer + 6) == ((info->flags & PKT_F_DF) ? 0x4000 : 0),
			   "outer DF/fragment word 0x%x", pkt_get_be16(outer + 6));
		FUZZ_CHECK(memcmp(outer + 4, inner_v4 ? inner + 4 : (const __u8 *)"\0\0", 2) == 0,
			   "outer IPv4 ID");
		FUZZ_CHECK(outer[8] == PKT_OUTER_TTL && outer[9] == outer_proto, "outer TTL/proto");
		FUZZ_CHECK(ipv4_header_csum_ok(outer), "outer IPv4 checksum");
		FUZZ_CHECK(memcmp(outer + 12, p->outer_src, 4) == 0 &&
				   memcmp(outer + 16, p->outer_dst, 4) == 0,
			   "outer IPv4 addresses");
	} else {
		ip_len = PKT_IPV6_HLEN;
		__u32 word0 = (__u32)pkt_get_be16(outer) << 16 | pkt_get_be16(outer + 2);
		FUZZ_CHECK(word0 == ((6u << 28) | ((__u32)info->tos << 20) |
				     flow_hash_ipv6_flow_label(hash)),
			   "outer IPv6 first word 0x%08x", word0);
		FUZZ_CHECK(pkt_get_be16(outer + 4) == overhead - PKT_IPV6_HLEN + info->l3_length,
			   "outer payload length");
		FUZZ_CHECK(outer[6] == outer_proto && outer[7] == PKT_OUTER_TTL,
			   "outer next header/hop limit");
		FUZZ_CHECK(memcmp(outer + 8, p->outer_src, 16) == 0 &&
				   memcmp(outer + 24, p->outer_dst, 16) == 0,
			   "outer IPv6 addresses");
	}
	if (p->type == PKT_ENCAP_GUE) {
		const __u8 *udp = outer + ip_len;
		const __u16 udp_len = PKT_UDP_HLEN + PKT_GUE_HLEN + info->l3_length;

		FUZZ_CHECK(pkt_get_be16(udp) == flow_hash_gue_source_port(hash), "GUE source port");
		FUZZ_CHECK(memcmp(udp + 2, &p->gue_port, 2) == 0, "GUE port");
		FUZZ_CHECK(pkt_get_be16(udp + 4) == udp_len, "GUE UDP length");
		FUZZ_CHECK(udp[8] == 0 && udp[9] == inner_proto && udp[10] == 0 && udp[11] == 0,
			   "GUE header");
		if (p->outer_family == FLOW_FAMILY_IPV4) {
			FUZZ_CHECK(pkt_get_be16(udp + 6) == 0, "GUE over IPv4 without checksum");
		} else {
			__u32 sum = ipv6_pseudo_sum(outer, udp_len, PKT_PROTO_UDP);
			FUZZ_CHECK(pkt_get_be16(udp + 6) != 0 &&
					   csum_ok(pkt_csum_add(sum, udp, udp_len)),
				   "GUE over IPv6 checksum");
		}
	}
}

/* The inner datagram, received by a backend that strips the outer headers,
 * must be the client's packet one hop on: same flow, TTL one lower. */
static void check_inner(const __u8 *frame, const __u8 *inner, const struct pkt_info *info)
{
	const int v4 = info->tuple.family == FLOW_FAMILY_IPV4;
	size_t len = PKT_ETH_HLEN + info->l3_length;
	__u8 *rx = malloc(len);
	struct pkt_info got;

	FUZZ_CHECK(rx != NULL, "out of memory");
	memset(rx, 0, 12);
	rx[12] = v4 ? 0x08 : 0x86;
	rx[13] = v4 ? 0x00 : 0xdd;
	memcpy(rx + PKT_ETH_HLEN, inner, info->l3_length);
	enum pkt_verdict v = pkt_parse(rx, rx + len, &got);
	FUZZ_CHECK(v == PKT_VERDICT_CANDIDATE, "the tunnelled packet parses as %s/%s",
		   verdict_name(v), pkt_drop_reason_name(got.drop_reason));
	FUZZ_CHECK(memcmp(&got.tuple, &info->tuple, sizeof(got.tuple)) == 0,
		   "the tunnelled packet is another flow");
	FUZZ_CHECK(pkt_flow_hash(&got) == pkt_flow_hash(info), "flow hash changed");
	FUZZ_CHECK(got.hop_limit == info->hop_limit - 1, "hop limit %u after %u", got.hop_limit,
		   info->hop_limit);
	FUZZ_CHECK(got.l3_length == info->l3_length && got.tos == info->tos &&
			   got.tcp_flags == info->tcp_flags &&
			   (got.flags & ~PKT_F_VLAN) == (info->flags & ~PKT_F_VLAN),
		   "the tunnelled packet's length, TOS, TCP flags or fragment/ICMP flags changed");
	if (v4 && ipv4_header_csum_ok(frame + info->l3_offset))
		FUZZ_CHECK(ipv4_header_csum_ok(rx + PKT_ETH_HLEN),
			   "a valid IPv4 checksum became invalid when the TTL went down");
	free(rx);
}

static void check_too_big_reply(const __u8 *frame, const struct pkt_info *info, __u16 mtu)
{
	const int v4 = info->tuple.family == FLOW_FAMILY_IPV4;
	const __u32 limit = v4 ? 576 : 1280, ip_hlen = v4 ? PKT_IPV4_HLEN : PKT_IPV6_HLEN;
	__u32 quote = info->l3_length < limit - ip_hlen - PKT_ICMP_HLEN
			      ? info->l3_length
			      : limit - ip_hlen - PKT_ICMP_HLEN;
	__u32 want = info->l3_offset + ip_hlen + PKT_ICMP_HLEN + quote;
	/* Exactly one byte short first: nothing may be written past it. */
	__u8 *out = malloc(want);

	FUZZ_CHECK(out != NULL, "out of memory");
	FUZZ_CHECK(pkt_icmp_too_big(frame, info, mtu, out, want - 1) == 0,
		   "a reply was written into a buffer too small for it");
	__u32 n = pkt_icmp_too_big(frame, info, mtu, out, want);
	FUZZ_CHECK(n == want, "reply of %u bytes, expected %u", n, want);
	FUZZ_CHECK(n - info->l3_offset <= limit, "reply of %u IP bytes, above %u", n - info->l3_offset,
		   limit);

	const __u8 *rip = out + info->l3_offset;
	const __u8 *icmp = rip + ip_hlen;
	const __u32 icmp_len = PKT_ICMP_HLEN + quote;
	if (v4) {
		FUZZ_CHECK(ipv4_header_csum_ok(rip), "reply IPv4 checksum");
		FUZZ_CHECK(icmp[0] == 3 && icmp[1] == 4 && pkt_get_be16(icmp + 6) == mtu,
			   "fragmentation needed with the MTU");
		FUZZ_CHECK(csum_ok(pkt_csum_add(0, icmp, icmp_len)), "ICMP checksum");
	} else {
		FUZZ_CHECK(icmp[0] == 2 && icmp[1] == 0 && pkt_get_be16(icmp + 6) == mtu,
			   "packet too big with the MTU");
		FUZZ_CHECK(csum_ok(pkt_csum_add(ipv6_pseudo_sum(rip, icmp_len, PKT_PROTO_ICMPV6),
						icmp, icmp_len)),
			   "ICMPv6 checksum");
	}

	/* The reply is an ICMP error quoting the client's packet: parsed, it is
	 * that flow from the VIP's side (or, when the quote is cut before the
	 * ports, a quote too short to name it). */
	struct pkt_info got;
	enum pkt_verdict v = parse_exact(out, n, &got);
	if (v == PKT_VERDICT_DROP) {
		FUZZ_CHECK(got.drop_reason == PKT_DROP_ICMP_BAD_QUOTE,
			   "the reply is dropped as %s", pkt_drop_reason_name(got.drop_reason));
	} else {
		const struct flow_tuple *a = &got.tuple, *b = &info->tuple;
		FUZZ_CHECK(v == PKT_VERDICT_CANDIDATE, "the reply parses as %s", verdict_name(v));
		FUZZ_CHECK(got.flags & PKT_F_ICMP_ERROR, "the reply is not an ICMP error");
		FUZZ_CHECK(a->family == b->family && a->proto == b->proto &&
				   memcmp(a->src_addr, b->dst_addr, 16) == 0 &&
				   memcmp(a->dst_addr, b->src_addr, 16) == 0,
			   "the reply quotes another flow");
		/* A quoted first fragment still shows its ports, and an error
		 * about it belongs to the connection they name (pkt_parse_quoted):
		 * only then may the ports differ from the fragment's zero ones. */
		if (got.flags & PKT_F_FRAGMENT)
			FUZZ_CHECK(info->flags & PKT_F_FRAGMENT, "a whole packet quoted as a fragment");
		else if (!(info->flags & PKT_F_FRAGMENT))
			FUZZ_CHECK(a->src_port == b->dst_port && a->dst_port == b->src_port,
				   "the reply quotes other ports");
	}
	free(out);
}

static void check_encap(const __u8 *frame, size_t len, const struct pkt_info *info,
			const struct pkt_encap_params *p)
{
	const __u32 hash = pkt_flow_hash(info);
	enum pkt_encap_status status = pkt_encap_check(info, p);
	__u8 *buf = malloc(HEADROOM + len), *out = NULL;
	__u32 out_len = 0;

	FUZZ_CHECK(buf != NULL, "out of memory");
	__u8 *start = buf + HEADROOM;
	memcpy(start, frame, len);
	int rc = pkt_encap(start, (__u32)len, HEADROOM, info, p, hash, &out, &out_len);
	if (status != PKT_ENCAP_OK) {
		FUZZ_CHECK(rc == (int)status, "pkt_encap %d, pkt_encap_check %d", rc, status);
		FUZZ_CHECK(memcmp(start, frame, len) == 0, "a refused encapsulation wrote");
		if (status == PKT_ENCAP_TOO_BIG_DROP)
			FUZZ_CHECK(info->flags & PKT_F_ICMP_ERROR, "too big drop of a non-error");
		else if (status == PKT_ENCAP_TOO_BIG_FRAGMENT)
			FUZZ_CHECK(info->tuple.family == FLOW_FAMILY_IPV4 &&
					   !(info->flags & PKT_F_DF),
				   "fragmenting a packet that may not be");
		else
			check_too_big_reply(frame, info, pkt_encap_inner_mtu(p));
		free(buf);
		return;
	}
	__u16 grow = pkt_encap_headroom(info, p);
	FUZZ_CHECK(rc == PKT_ENCAP_OK, "pkt_encap %d for a packet that fits", rc);
	FUZZ_CHECK(out == start - grow && out >= buf, "frame moved by %td, headroom %u", start - out,
		   grow);
	FUZZ_CHECK(out_len == pkt_encap_frame_length(info, p), "length %u", out_len);
	FUZZ_CHECK(out + out_len == start + info->l3_offset + info->l3_length,
		   "the new frame does not end where the datagram did");
	FUZZ_CHECK(out_len <= (__u32)pkt_l2_length(p->has_vlan) + p->mtu, "frame above the MTU");
	check_outer(out, info, p, hash);
	check_inner(frame, out + pkt_l2_length(p->has_vlan) + pkt_encap_overhead(p), info);

	/* With a byte of headroom too few, nothing is written. */
	memcpy(start, frame, len);
	rc = pkt_encap(start, (__u32)len, grow - 1u, info, p, hash, &out, &out_len);
	FUZZ_CHECK(rc == -ENOSPC && memcmp(start, frame, len) == 0, "short headroom: %d", rc);
	free(buf);
}

static void encap_every_way(const __u8 *frame, size_t len, const struct pkt_info *info)
{
	static const __u8 lb_mac[6] = { 2, 0, 0, 0, 0, 3 }, backend_mac[6] = { 2, 0, 0, 0, 0, 4 };
	struct pkt_encap_params p;

	for (int type = PKT_ENCAP_IPIP; type <= PKT_ENCAP_GUE; type++) {
		for (int family = FLOW_FAMILY_IPV4; family <= FLOW_FAMILY_IPV6; family += 2) {
			for (int vlan = 0; vlan < 2; vlan++) {
				memset(&p, 0, sizeof(p));
				p.type = (__u8)type;
				p.outer_family = (__u8)family;
				p.has_vlan = (__u8)vlan;
				p.vlan_tci = 42;
				p.gue_port = htons(6080);
				memcpy(p.src_mac, lb_mac, 6);
				memcpy(p.dst_mac, backend_mac, 6);
				if (family == FLOW_FAMILY_IPV4) {
					inet_pton(AF_INET, "10.0.0.2", p.outer_src);
					inet_pton(AF_INET, "10.1.0.11", p.outer_dst);
				} else {
					inet_pton(AF_INET6, "fd00::2", p.outer_src);
					inet_pton(AF_INET6, "fd00:1::11", p.outer_dst);
				}
				/* A roomy MTU, and one a byte short of fitting. */
				__u32 need = (__u32)pkt_encap_overhead(&p) + info->l3_length;
				p.mtu = 9000;
				check_encap(frame, len, info, &p);
				p.mtu = (__u16)(need - 1 > 0xffff ? 0xffff : need - 1);
				check_encap(frame, len, info, &p);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_info info;
	enum pkt_verdict v = pkt_parse(data, data + size, &info);

	check_info(data, size, v, &info);
	/* Every cut through the headers, and the two around the datagram's end. */
	for (size_t cut = 0; cut < size && cut < 160; cut++)
		check_cut(data, cut, v, &info);
	if (v == PKT_VERDICT_CANDIDATE) {
		size_t end = (size_t)info.l3_offset + info.l3_length;
		check_cut(data, end - 1, v, &info);
		check_cut(data, end, v, &info);
		enum pkt_drop_reason why = pkt_vip_check(&info);
		if (why == PKT_DROP_NONE)
			encap_every_way(data, size, &info);
		else
			FUZZ_CHECK(why == PKT_DROP_TTL_EXPIRED ? info.hop_limit <= 1
							       : why == PKT_DROP_BAD_TCP_FLAGS &&
									 info.tuple.proto == PKT_PROTO_TCP,
				   "the VIP check drops a packet as %s", pkt_drop_reason_name(why));
	}
	return 0;
}
