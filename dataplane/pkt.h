/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * The packet core: what a Fulcrum dataplane does to one frame, over plain
 * bytes, with no DPDK or kernel types.
 *
 * Parsing (pkt_parse) is static inline and written to the BPF verifier's
 * rules — every read is preceded by a bounds check against data_end, loops
 * have constant bounds — so lb-dpdk and the XDP program share it. It decides
 * one of three things: a candidate for a VIP (with the flow's 5-tuple), not
 * ours (hand it to the kernel), or drop, with a named reason.
 *
 * Encapsulation and ICMP replies (pkt.c) are ordinary C for lb-dpdk and the
 * tests; the XDP program writes the same headers with BPF helpers.
 */
#ifndef FULCRUM_PKT_H
#define FULCRUM_PKT_H

#include <linux/types.h>

#include "dataplane/flow_hash.h"

/*
 * Every reason a dataplane drops a packet, each with its own counter in both
 * dataplanes and in the metrics. X(enum member, counter name, meaning).
 */
#define PKT_DROP_REASONS(X)                                                                        \
	X(PKT_DROP_TRUNCATED, "truncated", "a header runs past the end of the frame or datagram") \
	X(PKT_DROP_BAD_IP_VERSION, "bad_ip_version", "IP version field disagrees with EtherType")  \
	X(PKT_DROP_BAD_IHL, "bad_ihl", "IPv4 header length below 20 bytes")                       \
	X(PKT_DROP_BAD_IP_LENGTH, "bad_ip_length", "IP length below its header, or zero IPv6 payload") \
	X(PKT_DROP_BAD_L4_LENGTH, "bad_l4_length", "UDP length or TCP data offset out of bounds")  \
	X(PKT_DROP_BAD_FRAGMENT, "bad_fragment", "tiny or overflowing fragment (RFC 1858)")         \
	X(PKT_DROP_IPV6_EXT_CHAIN, "ipv6_ext_chain", "longer IPv6 extension header chain than parsed") \
	X(PKT_DROP_ICMP_BAD_QUOTE, "icmp_bad_quote", "ICMP error quoting no parseable TCP/UDP packet") \
	X(PKT_DROP_BAD_TCP_FLAGS, "bad_tcp_flags", "TCP flags no stack sends (none, SYN+FIN, SYN+RST)") \
	X(PKT_DROP_TTL_EXPIRED, "ttl_expired", "TTL or hop limit would reach zero here")            \
	X(PKT_DROP_NO_BACKEND, "no_backend", "VIP has no eligible backend")                        \
	X(PKT_DROP_TOO_BIG, "too_big", "encapsulated packet exceeds the egress MTU")               \
	X(PKT_DROP_NO_ROOM, "no_room", "no buffer room to encapsulate or reply")                  \
	X(PKT_DROP_NO_ROUTE, "no_route", "no next-hop MAC or tunnel source for the backend yet") \
	X(PKT_DROP_TX_FULL, "tx_full", "the egress port's TX queue was full")                      \
	X(PKT_DROP_KERNEL_FULL, "kernel_full", "the exception path to the kernel was full")

#define PKT_DROP_ENUM_MEMBER(name, counter, meaning) name,
enum pkt_drop_reason {
	PKT_DROP_NONE = 0,
	PKT_DROP_REASONS(PKT_DROP_ENUM_MEMBER) PKT_DROP_REASON_COUNT
};
#undef PKT_DROP_ENUM_MEMBER

enum pkt_verdict {
	PKT_VERDICT_CANDIDATE, /* TCP/UDP (or an ICMP error quoting one): look up the VIP */
	PKT_VERDICT_NOT_OURS,  /* hand to the kernel (DPDK exception path, XDP_PASS) */
	PKT_VERDICT_DROP,      /* count under info->drop_reason */
};

/* pkt_info.flags */
#define PKT_F_VLAN       0x01 /* one 802.1Q tag, vlan_tci valid */
#define PKT_F_FRAGMENT   0x02 /* tuple ports are zero: hash on addresses only */
#define PKT_F_ICMP_ERROR 0x04 /* tuple is the quoted flow, turned to client -> VIP */
#define PKT_F_DF         0x08 /* IPv4 don't-fragment (IPv6 is always treated so) */

/* TCP flag bits as in the header's 14th byte. */
#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_ACK 0x10

#define PKT_ETH_HLEN        14
#define PKT_VLAN_HLEN       4
#define PKT_ETH_P_IPV4      0x0800
#define PKT_ETH_P_IPV6      0x86dd
#define PKT_ETH_P_8021Q     0x8100
#define PKT_IPV4_HLEN       20
#define PKT_IPV6_HLEN       40
#define PKT_UDP_HLEN        8
#define PKT_TCP_HLEN        20
#define PKT_GUE_HLEN        4
#define PKT_ICMP_HLEN       8
#define PKT_IPV6_EXT_MAX    4 /* extension headers followed before giving up */
#define PKT_PROTO_ICMP      1
#define PKT_PROTO_IPIP      4
#define PKT_PROTO_TCP       6
#define PKT_PROTO_UDP       17
#define PKT_PROTO_IPV6      41
#define PKT_PROTO_ICMPV6    58
#define PKT_OUTER_TTL       64
/* The UDP port GUE is sent to unless dataplane.gue_port says otherwise; lbgen
 * recognises GUE by the same default. */
#define PKT_GUE_PORT_DEFAULT 6080

/* What the parser learned about one frame. Offsets count from the frame start. */
struct pkt_info {
	struct flow_tuple tuple; /* client -> VIP; ports zero for fragments */
	__u16 l3_offset;         /* the (outer) IP header */
	__u16 l3_length;         /* IP datagram length from its header, <= frame */
	__u16 vlan_tci;          /* host order, with PKT_F_VLAN */
	__u8 flags;              /* PKT_F_* */
	__u8 tcp_flags;          /* PKT_TCP_* of a TCP packet, else 0 */
	__u8 hop_limit;          /* IPv4 TTL or IPv6 hop limit of the outer header */
	__u8 tos;                /* DSCP and ECN: IPv4 TOS or IPv6 traffic class */
	__u8 drop_reason;        /* enum pkt_drop_reason, with PKT_VERDICT_DROP */
	__u8 pad;
};

static __always_inline __u16 pkt_get_be16(const __u8 *p)
{
	return (__u16)(((__u16)p[0] << 8) | p[1]);
}

/*
 * True when the n bytes at p lie inside the datagram (limit) and the frame
 * (data_end). In C the second test is redundant once the IP length was
 * checked; the BPF verifier, though, learns bounds only from data_end.
 */
static __always_inline int pkt_fits(const __u8 *p, __u32 n, const void *limit, const void *data_end)
{
	return p + n <= (const __u8 *)limit && p + n <= (const __u8 *)data_end;
}

static __always_inline enum pkt_verdict pkt_drop(struct pkt_info *info, enum pkt_drop_reason why)
{
	info->drop_reason = (__u8)why;
	return PKT_VERDICT_DROP;
}

/*
 * Copies an address (words = 1 for IPv4, 4 for IPv6) from packet bytes into a
 * tuple field, zeroing the unused words. Byte copies: packet fields are not
 * 4-byte aligned behind a 14-byte Ethernet header.
 */
static __always_inline void pkt_copy_addr(__be32 *dst, const __u8 *src, int words)
{
	if (words == 1) {
		__builtin_memcpy(dst, src, 4);
		dst[1] = 0;
		dst[2] = 0;
		dst[3] = 0;
	} else {
		__builtin_memcpy(dst, src, 16);
	}
}

static __always_inline void pkt_copy_port(__be16 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 2);
}

/*
 * Follows IPv6 extension headers from *next / *pos. Contract: returns 0 with
 * *next the upper-layer protocol and *pos its first byte, or a drop reason.
 * *frag_offset and *more_fragments are set from a fragment header if one is
 * met. Reads stay below limit (the datagram's end) and data_end.
 */
static __always_inline int pkt_ipv6_skip_ext(const __u8 **pos, const void *limit,
					     const void *data_end, __u8 *next, __u16 *frag_offset,
					     int *more_fragments)
{
	int i;

	for (i = 0; i < PKT_IPV6_EXT_MAX; i++) {
		const __u8 *p = *pos;
		__u32 len;

		switch (*next) {
		case 0:  /* hop-by-hop options */
		case 43: /* routing */
		case 60: /* destination options */
			if (!pkt_fits(p, 2, limit, data_end))
				return PKT_DROP_TRUNCATED;
			len = ((__u32)p[1] + 1) * 8;
			break;
		case 44: /* fragment */
			if (!pkt_fits(p, 8, limit, data_end))
				return PKT_DROP_TRUNCATED;
			len = 8;
			*frag_offset = (__u16)(pkt_get_be16(p + 2) >> 3);
			*more_fragments = p[3] & 1;
			break;
		case 51: /* authentication header */
			if (!pkt_fits(p, 2, limit, data_end))
				return PKT_DROP_TRUNCATED;
			len = ((__u32)p[1] + 2) * 4;
			break;
		default:
			return 0;
		}
		if (!pkt_fits(p, len, limit, data_end))
			return PKT_DROP_TRUNCATED;
		*next = p[0];
		*pos = p + len;
	}
	switch (*next) {
	case 0:
	case 43:
	case 44:
	case 51:
	case 60:
		return PKT_DROP_IPV6_EXT_CHAIN;
	}
	return 0;
}

/*
 * Parses the packet an ICMP error quotes: the datagram a backend sent from the
 * VIP to the client. Contract: returns PKT_VERDICT_CANDIDATE with info->tuple
 * set to the original flow (client -> VIP), NOT_OURS when the quoted packet is
 * not TCP/UDP, or DROP. q points at the quoted IP header; end (the error's
 * own datagram end) and data_end bound it.
 */
static __always_inline enum pkt_verdict pkt_parse_quoted(const __u8 *q, const void *end,
							  const void *data_end, __u8 family,
							  struct pkt_info *info)
{
	struct flow_tuple *t = &info->tuple;
	const __u8 *l4;
	__u8 proto;
	int fragment;

	if (family == FLOW_FAMILY_IPV4) {
		if (!pkt_fits(q, PKT_IPV4_HLEN, end, data_end) || (q[0] >> 4) != 4 || (q[0] & 0xf) < 5)
			return pkt_drop(info, PKT_DROP_ICMP_BAD_QUOTE);
		l4 = q + (q[0] & 0xf) * 4;
		proto = q[9];
		fragment = (pkt_get_be16(q + 6) & 0x1fff) != 0;
		pkt_copy_addr(t->src_addr, q + 16, 1); /* the client */
		pkt_copy_addr(t->dst_addr, q + 12, 1); /* the VIP */
	} else {
		__u16 frag_offset = 0;
		int more = 0, err;

		if (!pkt_fits(q, PKT_IPV6_HLEN, end, data_end) || (q[0] >> 4) != 6)
			return pkt_drop(info, PKT_DROP_ICMP_BAD_QUOTE);
		proto = q[6];
		pkt_copy_addr(t->src_addr, q + 24, 4);
		pkt_copy_addr(t->dst_addr, q + 8, 4);
		l4 = q + PKT_IPV6_HLEN;
		err = pkt_ipv6_skip_ext(&l4, end, data_end, &proto, &frag_offset, &more);
		if (err)
			return pkt_drop(info, PKT_DROP_ICMP_BAD_QUOTE);
		fragment = frag_offset != 0;
	}
	if (proto != PKT_PROTO_TCP && proto != PKT_PROTO_UDP)
		return PKT_VERDICT_NOT_OURS;
	t->proto = proto;
	info->flags |= PKT_F_ICMP_ERROR;
	if (fragment) {
		/* A later fragment quotes no ports: the flow is known by its
		 * addresses only, as its fragments were hashed. */
		info->flags |= PKT_F_FRAGMENT;
		return PKT_VERDICT_CANDIDATE;
	}
	if (!pkt_fits(l4, 4, end, data_end))
		return pkt_drop(info, PKT_DROP_ICMP_BAD_QUOTE);
	pkt_copy_port(&t->src_port, l4 + 2);
	pkt_copy_port(&t->dst_port, l4);
	return PKT_VERDICT_CANDIDATE;
}

/*
 * Reads TCP or UDP ports and checks the transport header. Contract: returns
 * CANDIDATE, or DROP. l4 .. l3_end is the transport segment.
 */
static __always_inline enum pkt_verdict pkt_parse_l4(const __u8 *l4, const __u8 *l3_end,
						      const void *data_end, __u8 proto,
						      struct pkt_info *info)
{
	struct flow_tuple *t = &info->tuple;

	if (proto == PKT_PROTO_TCP) {
		if (!pkt_fits(l4, PKT_TCP_HLEN, l3_end, data_end))
			return pkt_drop(info, PKT_DROP_TRUNCATED);
		if ((l4[12] >> 4) < 5 || l4 + (l4[12] >> 4) * 4 > l3_end)
			return pkt_drop(info, PKT_DROP_BAD_L4_LENGTH);
		info->tcp_flags = l4[13];
	} else {
		if (!pkt_fits(l4, PKT_UDP_HLEN, l3_end, data_end))
			return pkt_drop(info, PKT_DROP_TRUNCATED);
		__u16 udp_len = pkt_get_be16(l4 + 4);
		if (udp_len < PKT_UDP_HLEN || l4 + udp_len > l3_end)
			return pkt_drop(info, PKT_DROP_BAD_L4_LENGTH);
	}
	pkt_copy_port(&t->src_port, l4);
	pkt_copy_port(&t->dst_port, l4 + 2);
	return PKT_VERDICT_CANDIDATE;
}

/*
 * The upper layer of an unfragmented datagram: TCP and UDP give a flow, ICMP
 * errors (IPv4: destination unreachable incl. fragmentation needed, time
 * exceeded, parameter problem; IPv6: destination unreachable, packet too big,
 * time exceeded, parameter problem) give the flow they quote, anything else
 * is not ours. Contract as pkt_parse_l4().
 */
static __always_inline enum pkt_verdict pkt_parse_upper(const __u8 *l4, const __u8 *l3_end,
							 const void *data_end, __u8 proto,
							 __u8 family, struct pkt_info *info)
{
	if (proto == PKT_PROTO_TCP || proto == PKT_PROTO_UDP)
		return pkt_parse_l4(l4, l3_end, data_end, proto, info);
	if (proto != (family == FLOW_FAMILY_IPV4 ? PKT_PROTO_ICMP : PKT_PROTO_ICMPV6))
		return PKT_VERDICT_NOT_OURS;
	if (!pkt_fits(l4, PKT_ICMP_HLEN, l3_end, data_end))
		return pkt_drop(info, PKT_DROP_TRUNCATED);
	__u8 type = l4[0];
	int quotes = family == FLOW_FAMILY_IPV4 ? (type == 3 || type == 11 || type == 12)
						: (type >= 1 && type <= 4);
	if (!quotes)
		return PKT_VERDICT_NOT_OURS;
	return pkt_parse_quoted(l4 + PKT_ICMP_HLEN, l3_end, data_end, family, info);
}

static __always_inline enum pkt_verdict pkt_parse_ipv4(const __u8 *ip, const void *data_end,
							struct pkt_info *info)
{
	struct flow_tuple *t = &info->tuple;
	const __u8 *end = (const __u8 *)data_end;
	__u32 ihl, total;
	__u16 frag;

	if (ip + PKT_IPV4_HLEN > end)
		return pkt_drop(info, PKT_DROP_TRUNCATED);
	if ((ip[0] >> 4) != 4)
		return pkt_drop(info, PKT_DROP_BAD_IP_VERSION);
	ihl = (__u32)(ip[0] & 0xf) * 4;
	if (ihl < PKT_IPV4_HLEN)
		return pkt_drop(info, PKT_DROP_BAD_IHL);
	total = pkt_get_be16(ip + 2);
	if (total < ihl)
		return pkt_drop(info, PKT_DROP_BAD_IP_LENGTH);
	if (ip + total > end)
		return pkt_drop(info, PKT_DROP_TRUNCATED);

	const __u8 *l3_end = ip + total;
	const __u8 *l4 = ip + ihl;
	__u8 proto = ip[9];

	t->family = FLOW_FAMILY_IPV4;
	t->proto = proto;
	pkt_copy_addr(t->src_addr, ip + 12, 1);
	pkt_copy_addr(t->dst_addr, ip + 16, 1);
	info->l3_length = (__u16)total;
	info->tos = ip[1];
	info->hop_limit = ip[8];
	frag = pkt_get_be16(ip + 6);
	if (frag & 0x4000)
		info->flags |= PKT_F_DF;

	if (frag & 0x3fff) { /* MF set or a non-zero offset */
		if (proto != PKT_PROTO_TCP && proto != PKT_PROTO_UDP)
			return PKT_VERDICT_NOT_OURS;
		/* RFC 1858: an offset of 8 bytes into TCP can rewrite its flags;
		 * a fragment may not reach past 65535 bytes. */
		__u32 offset_bytes = (__u32)(frag & 0x1fff) * 8;
		if ((proto == PKT_PROTO_TCP && offset_bytes == 8) ||
		    offset_bytes + (total - ihl) > 65535)
			return pkt_drop(info, PKT_DROP_BAD_FRAGMENT);
		info->flags |= PKT_F_FRAGMENT;
		return PKT_VERDICT_CANDIDATE;
	}
	return pkt_parse_upper(l4, l3_end, data_end, proto, FLOW_FAMILY_IPV4, info);
}

static __always_inline enum pkt_verdict pkt_parse_ipv6(const __u8 *ip, const void *data_end,
							struct pkt_info *info)
{
	struct flow_tuple *t = &info->tuple;
	const __u8 *end = (const __u8 *)data_end;
	__u16 frag_offset = 0;
	int more_fragments = 0, err;

	if (ip + PKT_IPV6_HLEN > end)
		return pkt_drop(info, PKT_DROP_TRUNCATED);
	if ((ip[0] >> 4) != 6)
		return pkt_drop(info, PKT_DROP_BAD_IP_VERSION);
	__u32 payload = pkt_get_be16(ip + 4);
	if (payload == 0) /* jumbograms are not carried */
		return pkt_drop(info, PKT_DROP_BAD_IP_LENGTH);
	if (ip + PKT_IPV6_HLEN + payload > end)
		return pkt_drop(info, PKT_DROP_TRUNCATED);

	const __u8 *l3_end = ip + PKT_IPV6_HLEN + payload;
	const __u8 *l4 = ip + PKT_IPV6_HLEN;
	__u8 proto = ip[6];

	t->family = FLOW_FAMILY_IPV6;
	pkt_copy_addr(t->src_addr, ip + 8, 4);
	pkt_copy_addr(t->dst_addr, ip + 24, 4);
	info->l3_length = (__u16)(PKT_IPV6_HLEN + payload);
	info->tos = (__u8)(pkt_get_be16(ip) >> 4);
	info->hop_limit = ip[7];
	info->flags |= PKT_F_DF;

	err = pkt_ipv6_skip_ext(&l4, l3_end, data_end, &proto, &frag_offset, &more_fragments);
	if (err)
		return pkt_drop(info, (enum pkt_drop_reason)err);
	t->proto = proto;
	if (frag_offset || more_fragments) {
		if (proto != PKT_PROTO_TCP && proto != PKT_PROTO_UDP)
			return PKT_VERDICT_NOT_OURS;
		if (proto == PKT_PROTO_TCP && frag_offset == 1)
			return pkt_drop(info, PKT_DROP_BAD_FRAGMENT);
		info->flags |= PKT_F_FRAGMENT;
		return PKT_VERDICT_CANDIDATE;
	}
	return pkt_parse_upper(l4, l3_end, data_end, proto, FLOW_FAMILY_IPV6, info);
}

/*
 * Parses one Ethernet frame. Accepts: Ethernet II with at most one 802.1Q tag,
 * IPv4 with any valid IHL, IPv6 with up to PKT_IPV6_EXT_MAX extension headers,
 * TCP, UDP, and ICMP/ICMPv6 errors quoting TCP or UDP. Trailing bytes after
 * the IP datagram (Ethernet padding) are allowed.
 *
 * Returns the verdict; info is filled as far as the parse got (tuple, offsets,
 * flags) and, for DROP, names the reason. Reads nothing outside
 * [data, data_end). Any thread; no state.
 */
static __always_inline enum pkt_verdict pkt_parse(const void *data, const void *data_end,
						   struct pkt_info *info)
{
	const __u8 *eth = (const __u8 *)data;
	const __u8 *end = (const __u8 *)data_end;
	__u16 ethertype;
	__u16 l3_offset = PKT_ETH_HLEN;

	__builtin_memset(info, 0, sizeof(*info));
	if (eth + PKT_ETH_HLEN > end)
		return pkt_drop(info, PKT_DROP_TRUNCATED);
	ethertype = pkt_get_be16(eth + 12);
	if (ethertype == PKT_ETH_P_8021Q) {
		if (eth + PKT_ETH_HLEN + PKT_VLAN_HLEN > end)
			return pkt_drop(info, PKT_DROP_TRUNCATED);
		info->flags |= PKT_F_VLAN;
		info->vlan_tci = pkt_get_be16(eth + 14);
		ethertype = pkt_get_be16(eth + 16);
		l3_offset += PKT_VLAN_HLEN;
	}
	info->l3_offset = l3_offset;
	if (ethertype == PKT_ETH_P_IPV4)
		return pkt_parse_ipv4(eth + l3_offset, data_end, info);
	if (ethertype == PKT_ETH_P_IPV6)
		return pkt_parse_ipv6(eth + l3_offset, data_end, info);
	return PKT_VERDICT_NOT_OURS;
}

/* The flow hash a parsed candidate is balanced by (address-only for fragments,
 * whose ports the parser left zero). */
static __always_inline __u32 pkt_flow_hash(const struct pkt_info *info)
{
	return flow_hash(&info->tuple);
}

/*
 * Checks that apply once a packet is known to be for a VIP (the kernel judges
 * everything else). Returns PKT_DROP_NONE or the reason to drop it.
 */
static __always_inline enum pkt_drop_reason pkt_vip_check(const struct pkt_info *info)
{
	__u8 f = info->tcp_flags;

	if (info->hop_limit <= 1)
		return PKT_DROP_TTL_EXPIRED;
	if (info->tuple.proto == PKT_PROTO_TCP && !(info->flags & (PKT_F_FRAGMENT | PKT_F_ICMP_ERROR))) {
		if ((f & (PKT_TCP_FIN | PKT_TCP_SYN | PKT_TCP_RST | PKT_TCP_ACK)) == 0 ||
		    (f & (PKT_TCP_SYN | PKT_TCP_FIN)) == (PKT_TCP_SYN | PKT_TCP_FIN) ||
		    (f & (PKT_TCP_SYN | PKT_TCP_RST)) == (PKT_TCP_SYN | PKT_TCP_RST))
			return PKT_DROP_BAD_TCP_FLAGS;
	}
	return PKT_DROP_NONE;
}

/* ---- Encapsulation: the sizes and the choice both dataplanes make ---- */

enum pkt_encap_type {
	PKT_ENCAP_IPIP = 1, /* IP in IP: IPIP, IP6IP6, and 4in6 / 6in4 */
	PKT_ENCAP_GUE = 2,  /* Generic UDP Encapsulation, variant 0 */
};

/* How one packet leaves toward its backend. Addresses in network order. */
struct pkt_encap_params {
	__u8 type;         /* enum pkt_encap_type */
	__u8 outer_family; /* the backend's family */
	__u8 has_vlan;     /* tag the frame with vlan_tci */
	__u8 pad;
	__u16 vlan_tci;    /* host order */
	__u16 mtu;         /* egress IP MTU in bytes */
	__be16 gue_port;   /* GUE destination port */
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__be32 outer_src[4];
	__be32 outer_dst[4];
};

enum pkt_encap_status {
	PKT_ENCAP_OK = 0,
	PKT_ENCAP_TOO_BIG_REPLY,    /* DF or IPv6: answer the client with pkt_icmp_too_big() */
	PKT_ENCAP_TOO_BIG_FRAGMENT, /* IPv4 without DF: the outer packet may be fragmented */
	PKT_ENCAP_TOO_BIG_DROP,     /* an ICMP error: never answered with another error */
};

/* The sizes below are inline: the worker asks for them per packet. */
static __always_inline __u16 pkt_l2_length(__u8 has_vlan)
{
	return PKT_ETH_HLEN + (has_vlan ? PKT_VLAN_HLEN : 0);
}

/* Bytes of outer L3/L4 headers (not Ethernet) the encapsulation adds. */
static __always_inline __u16 pkt_encap_overhead(const struct pkt_encap_params *p)
{
	__u16 ip = p->outer_family == FLOW_FAMILY_IPV4 ? PKT_IPV4_HLEN : PKT_IPV6_HLEN;

	return p->type == PKT_ENCAP_GUE ? ip + PKT_UDP_HLEN + PKT_GUE_HLEN : ip;
}

/* Bytes the frame's start moves back by: new L2 + outer headers - old L2. */
static __always_inline __u16 pkt_encap_headroom(const struct pkt_info *info, const struct pkt_encap_params *p)
{
	return (__u16)(pkt_l2_length(p->has_vlan) + pkt_encap_overhead(p) - info->l3_offset);
}

/* Length of the encapsulated frame. */
static __always_inline __u32 pkt_encap_frame_length(const struct pkt_info *info,
					   const struct pkt_encap_params *p)
{
	return pkt_l2_length(p->has_vlan) + pkt_encap_overhead(p) + info->l3_length;
}

/* The MTU to announce to the client: egress MTU less the overhead. */
static __always_inline __u16 pkt_encap_inner_mtu(const struct pkt_encap_params *p)
{
	__u16 overhead = pkt_encap_overhead(p);

	return p->mtu > overhead ? (__u16)(p->mtu - overhead) : 0;
}

/* Whether the encapsulated packet fits the egress MTU, and if not what to do. */
static __always_inline enum pkt_encap_status pkt_encap_check(const struct pkt_info *info,
						    const struct pkt_encap_params *p)
{
	if ((__u32)pkt_encap_overhead(p) + info->l3_length <= p->mtu)
		return PKT_ENCAP_OK;
	if (info->flags & PKT_F_ICMP_ERROR)
		return PKT_ENCAP_TOO_BIG_DROP;
	if (info->tuple.family == FLOW_FAMILY_IPV4 && !(info->flags & PKT_F_DF))
		return PKT_ENCAP_TOO_BIG_FRAGMENT;
	return PKT_ENCAP_TOO_BIG_REPLY;
}

/* Big-endian stores, for the encapsulation here and in the XDP program. */
static __always_inline void pkt_put_be16(__u8 *p, __u16 v)
{
	p[0] = (__u8)(v >> 8);
	p[1] = (__u8)v;
}

static __always_inline void pkt_put_be32(__u8 *p, __u32 v)
{
	p[0] = (__u8)(v >> 24);
	p[1] = (__u8)(v >> 16);
	p[2] = (__u8)(v >> 8);
	p[3] = (__u8)v;
}

#ifndef __bpf__
/* ---- Encapsulation and replies: ordinary C (pkt.c); the XDP program
 * writes the same bytes with BPF helpers (bpf/balancer.bpf.c) ---- */

/*
 * The outer headers toward one backend as far as they are the same for
 * every packet: built once per backend when a table generation is built
 * (pkt_encap_template_init()), then copied in front of each packet by
 * pkt_encap_write_template(), which fills in the packet's own fields.
 * Building them per packet from a struct pkt_encap_params cost lb-dpdk's
 * worker about a fifth of its instructions (callgrind). One cache line.
 */
#define PKT_ENCAP_TEMPLATE_MAX (PKT_IPV6_HLEN + PKT_UDP_HLEN + PKT_GUE_HLEN)
struct pkt_encap_template {
	__u8 hdr[PKT_ENCAP_TEMPLATE_MAX]; /* outer IP (+ UDP + GUE); per-packet fields zero */
	__u8 length;       /* bytes of hdr in use (pkt_encap_overhead()); 0: no tunnel */
	__u8 type;         /* enum pkt_encap_type */
	__u8 outer_family; /* the backend's family */
	__u8 pad;
	__u32 addr_sum;    /* IPv4 outer: source + destination words, for the checksum */
	__u8 pad2[4];
} __attribute__((aligned(64)));

/*
 * Fills t for tunnels of p's type and outer family, from p's outer
 * addresses and GUE port (p's link-layer fields and MTU are not used).
 */
void pkt_encap_template_init(struct pkt_encap_template *t, const struct pkt_encap_params *p);

/* GUE over IPv6: the UDP checksum of the finished datagram at udp (pkt.c). */
void pkt_encap_gue6_checksum(__u8 *outer, __u8 *udp, __u16 udp_len);

/*
 * Decrements the inner TTL / hop limit: the balancer is a hop (RFC 2003
 * section 3.1). The IPv4 checksum is updated incrementally (RFC 1624, eqn. 3)
 * rather than recomputed over options.
 */
static __always_inline void pkt_inner_decrement_ttl(__u8 *inner, __u8 family)
{
	if (family == FLOW_FAMILY_IPV6) {
		inner[7]--;
		return;
	}
	/* Computed from the values read, never re-read after a write: a load
	 * of bytes just stored stalls on store forwarding. */
	__u16 old_word = pkt_get_be16(inner + 8); /* TTL and protocol */
	__u16 new_word = (__u16)(old_word - 0x0100);
	__u32 sum = (__u16)~pkt_get_be16(inner + 10);
	sum += (__u16)~old_word;
	sum += new_word;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	inner[8] = (__u8)(new_word >> 8);
	pkt_put_be16(inner + 10, (__u16)~sum);
}

/*
 * Writes the Ethernet header (dst_mac, src_mac, a VLAN tag when has_vlan)
 * and t's outer headers with this packet's fields at out, under the same
 * contract as pkt_encap_write() (which is this with a template built on
 * the spot), t->length standing for pkt_encap_overhead(). Never called
 * with t->length 0.
 */
static __always_inline void pkt_encap_write_template(__u8 *out, const struct pkt_info *info,
						     const struct pkt_encap_template *t,
						     const __u8 *dst_mac, const __u8 *src_mac,
						     __u8 has_vlan, __u16 vlan_tci, __u32 flow_hash)
{
	const __u16 l2_len = pkt_l2_length(has_vlan);
	const __u8 inner_family = info->tuple.family;
	const __u8 inner_proto = inner_family == FLOW_FAMILY_IPV4 ? PKT_PROTO_IPIP : PKT_PROTO_IPV6;
	const int gue = t->type == PKT_ENCAP_GUE;
	const __u8 outer_proto = gue ? PKT_PROTO_UDP : inner_proto;
	__u8 *outer = out + l2_len;
	__u8 *inner = outer + t->length;
	__u16 ip_len;

	pkt_inner_decrement_ttl(inner, inner_family);
	__builtin_memcpy(out, dst_mac, 6);
	__builtin_memcpy(out + 6, src_mac, 6);
	if (has_vlan) {
		pkt_put_be16(out + 12, PKT_ETH_P_8021Q);
		pkt_put_be16(out + 14, vlan_tci);
	}
	if (t->outer_family == FLOW_FAMILY_IPV4) {
		__u32 words[3];
		__u16 id = 0;
		__u64 sum = t->addr_sum;

		pkt_put_be16(out + l2_len - 2, PKT_ETH_P_IPV4);
		ip_len = PKT_IPV4_HLEN;
		/* DSCP and ECN carried over (RFC 6040 normal mode). An IPv4
		 * inner packet lends its ID, so fragments of the outer packet
		 * stay distinguishable; IPv6 inside is never fragmented. The
		 * first 12 bytes are assembled and summed in registers and
		 * stored once (summing them back from memory would stall on
		 * store forwarding); the addresses come from the template. */
		if (inner_family == FLOW_FAMILY_IPV4)
			id = pkt_get_be16(inner + 4);
		words[0] = flow_hash_be32_to_host(0x45000000u | (__u32)info->tos << 16 |
						  (__u16)(t->length + info->l3_length));
		words[1] = flow_hash_be32_to_host((__u32)id << 16 |
						  ((info->flags & PKT_F_DF) ? 0x4000u : 0));
		words[2] = flow_hash_be32_to_host((__u32)PKT_OUTER_TTL << 24 |
						  (__u32)outer_proto << 16);
		sum += (__u64)words[0] + words[1] + words[2];
		sum = (sum & 0xffffffffu) + (sum >> 32);
		sum = (sum & 0xffffffffu) + (sum >> 32);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		/* The checksum goes to bytes 10 - 11 in the byte order it was
		 * summed in, which are bits 16 - 31 of the third word. */
		words[2] |= (__u32)(__u16)~sum << 16;
		__builtin_memcpy(outer, words, sizeof(words));
		__builtin_memcpy(outer + 12, t->hdr + 12, 8);
	} else {
		pkt_put_be16(out + l2_len - 2, PKT_ETH_P_IPV6);
		ip_len = PKT_IPV6_HLEN;
		__builtin_memcpy(outer, t->hdr, PKT_IPV6_HLEN);
		pkt_put_be32(outer, (6u << 28) | ((__u32)info->tos << 20) |
					    flow_hash_ipv6_flow_label(flow_hash));
		pkt_put_be16(outer + 4, (__u16)(t->length - PKT_IPV6_HLEN + info->l3_length));
		outer[6] = outer_proto;
	}
	if (gue) {
		__u8 *udp = outer + ip_len;
		__u16 udp_len = PKT_UDP_HLEN + PKT_GUE_HLEN + info->l3_length;

		__builtin_memcpy(udp, t->hdr + ip_len, PKT_UDP_HLEN + PKT_GUE_HLEN);
		pkt_put_be16(udp, flow_hash_gue_source_port(flow_hash));
		pkt_put_be16(udp + 4, udp_len);
		/* GUE variant 0, no options: version 0, C 0, hlen 0, proto. */
		udp[PKT_UDP_HLEN + 1] = inner_proto;
		/* A zero UDP checksum is valid over IPv4; over IPv6 it is only
		 * for receivers configured for it (RFC 6935), so compute it. */
		if (t->outer_family == FLOW_FAMILY_IPV6)
			pkt_encap_gue6_checksum(outer, udp, udp_len);
	}
}

/*
 * Writes the new Ethernet and outer headers at out, which must precede the
 * inner IP datagram by exactly pkt_encap_headroom(info, p) + info->l3_offset
 * bytes (the caller has moved the frame start back), and decrements the inner
 * TTL / hop limit (fixing the IPv4 checksum). The new frame is out ..
 * out + pkt_encap_frame_length(). Call only after pkt_vip_check() passed.
 */
void pkt_encap_write(__u8 *out, const struct pkt_info *info, const struct pkt_encap_params *p,
		     __u32 flow_hash);

/*
 * Encapsulates a parsed frame in a byte buffer: frame .. frame + frame_len,
 * with headroom writable bytes before frame. On PKT_ENCAP_OK *out and
 * *out_len describe the new frame. Returns -ENOSPC when headroom is short,
 * else the pkt_encap_status.
 */
int pkt_encap(__u8 *frame, __u32 frame_len, __u32 headroom, const struct pkt_info *info,
	      const struct pkt_encap_params *p, __u32 flow_hash, __u8 **out, __u32 *out_len);

/*
 * Builds the ICMP fragmentation-needed (IPv4) or packet-too-big (IPv6) reply
 * to a client whose packet (frame, parsed as info) does not fit after
 * encapsulation: from the VIP to the client, quoting as much of the packet as
 * RFC 1812 / RFC 4443 allow, announcing mtu. Ethernet addresses are the
 * received ones swapped. Writes at most out_size bytes; returns the reply's
 * length, or 0 when out_size is too small.
 */
__u32 pkt_icmp_too_big(const __u8 *frame, const struct pkt_info *info, __u16 mtu, __u8 *out,
		       __u32 out_size);

/*
 * The Internet checksum (RFC 1071): pkt_csum_add() adds len bytes to a
 * running 32-bit sum of 16-bit words in the CPU's byte order; pkt_csum_fold()
 * folds it to 16 bits (not complemented). Store ~fold with memcpy, not as a
 * big-endian number.
 */
__u32 pkt_csum_add(__u32 sum, const void *data, __u32 len);
__u16 pkt_csum_fold(__u32 sum);

/* Counter name and meaning of a drop reason, for metrics and lbctl. */
const char *pkt_drop_reason_name(enum pkt_drop_reason reason);
const char *pkt_drop_reason_meaning(enum pkt_drop_reason reason);
#endif /* !__bpf__ */

#endif /* FULCRUM_PKT_H */
