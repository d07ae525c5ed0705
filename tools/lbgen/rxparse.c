/* SPDX-License-Identifier: BSD-3-Clause */
/* lbgen's receive parser (tools/lbgen/rxparse.h). */
#include <errno.h>
#include <string.h>

#include "dataplane/pkt.h"
#include "tools/lbgen/frame.h"
#include "tools/lbgen/probe.h"
#include "tools/lbgen/rxparse.h"

/* GUE's first byte: two version bits, the control bit, five bits of
 * option length in 32-bit words (RFC draft-ietf-intarea-gue). */
#define RXPARSE_GUE_VERSION(b) ((b) >> 6)
#define RXPARSE_GUE_CONTROL    0x20
#define RXPARSE_GUE_HLEN(b)    ((__u32)((b)&0x1f) * 4)

static const char *const rxparse_encap_names[RXPARSE_ENCAP_COUNT] = {
	[RXPARSE_ENCAP_NONE] = "none",	   [RXPARSE_ENCAP_IPIP] = "ipip",
	[RXPARSE_ENCAP_IP6IP6] = "ip6ip6", [RXPARSE_ENCAP_4IN6] = "4in6",
	[RXPARSE_ENCAP_6IN4] = "6in4",	   [RXPARSE_ENCAP_GUE] = "gue",
};

const char *rxparse_encap_name(enum rxparse_encap encap)
{
	return (unsigned)encap < RXPARSE_ENCAP_COUNT ? rxparse_encap_names[encap] : "unknown";
}

static __u16 rxparse_get16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static __u32 rxparse_get32(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

static __u64 rxparse_get64(const __u8 *p)
{
	return (__u64)rxparse_get32(p) << 32 | rxparse_get32(p + 4);
}

/* An IP header, outer or inner. */
struct rxparse_iphdr {
	__u8 family;
	__u8 proto;    /* IPv4 protocol, or IPv6 next header */
	__u8 fragment; /* IPv4 MF or offset, or an IPv6 fragment header */
	__u8 csum_ok;
	__u32 hlen;  /* to the payload */
	__u32 total; /* the datagram, header included */
	const __u8 *src;
	const __u8 *dst;
};

/* Parses the IP header at ip (avail bytes); returns 0 or -EPROTO. */
static int rxparse_ip_header(const __u8 *ip, __u32 avail, struct rxparse_iphdr *h)
{
	if (avail < PKT_IPV4_HLEN)
		return -EPROTO;
	if ((ip[0] >> 4) == 4) {
		h->hlen = (__u32)(ip[0] & 0xf) * 4;
		h->total = rxparse_get16(ip + 2);
		if (h->hlen < PKT_IPV4_HLEN || h->total < h->hlen || h->total > avail)
			return -EPROTO;
		h->family = FLOW_FAMILY_IPV4;
		h->proto = ip[9];
		h->fragment = (rxparse_get16(ip + 6) & 0x3fff) != 0;
		h->csum_ok = pkt_csum_fold(pkt_csum_add(0, ip, h->hlen)) == 0xffff;
		h->src = ip + 12;
		h->dst = ip + 16;
		return 0;
	}
	if ((ip[0] >> 4) != 6 || avail < PKT_IPV6_HLEN)
		return -EPROTO;
	h->hlen = PKT_IPV6_HLEN;
	h->total = PKT_IPV6_HLEN + rxparse_get16(ip + 4);
	if (h->total == PKT_IPV6_HLEN || h->total > avail)
		return -EPROTO;
	h->family = FLOW_FAMILY_IPV6;
	h->proto = ip[6];
	h->fragment = h->proto == 44;
	h->csum_ok = 1;
	h->src = ip + 8;
	h->dst = ip + 24;
	return 0;
}

static void rxparse_copy_addr(__be32 *dst, const __u8 *src, __u8 family)
{
	memset(dst, 0, 16);
	memcpy(dst, src, family == FLOW_FAMILY_IPV4 ? 4 : 16);
}

int rxparse_ip(const __u8 *ip, __u32 avail, struct rxparse_l3 *l3)
{
	struct rxparse_iphdr h;

	if (rxparse_ip_header(ip, avail, &h) || h.fragment ||
	    (h.proto != PKT_PROTO_TCP && h.proto != PKT_PROTO_UDP))
		return -EPROTO;
	const __u8 *l4 = ip + h.hlen;
	__u32 l4_len = h.total - h.hlen;
	if (h.proto == PKT_PROTO_TCP) {
		if (l4_len < PKT_TCP_HLEN)
			return -EPROTO;
		l3->l4_hlen = (__u32)(l4[12] >> 4) * 4;
		if (l3->l4_hlen < PKT_TCP_HLEN || l3->l4_hlen > l4_len)
			return -EPROTO;
		l3->tcp_flags = l4[13];
	} else {
		if (l4_len < PKT_UDP_HLEN)
			return -EPROTO;
		__u32 udp_len = rxparse_get16(l4 + 4);
		if (udp_len < PKT_UDP_HLEN || udp_len > l4_len)
			return -EPROTO;
		l4_len = udp_len;
		l3->l4_hlen = PKT_UDP_HLEN;
		l3->tcp_flags = 0;
	}
	memset(&l3->tuple, 0, sizeof(l3->tuple));
	l3->tuple.family = h.family;
	l3->tuple.proto = h.proto;
	rxparse_copy_addr(l3->tuple.src_addr, h.src, h.family);
	rxparse_copy_addr(l3->tuple.dst_addr, h.dst, h.family);
	memcpy(&l3->tuple.src_port, l4, 2);
	memcpy(&l3->tuple.dst_port, l4 + 2, 2);
	l3->l4_offset = h.hlen;
	l3->l4_len = l4_len;
	l3->ip_csum_ok = h.csum_ok;
	return 0;
}

__u8 rxparse_ethernet(const __u8 *frame, __u32 len, __u32 *l3_offset)
{
	__u32 offset = PKT_ETH_HLEN;

	if (len < PKT_ETH_HLEN)
		return 0;
	__u16 ethertype = rxparse_get16(frame + 12);
	if (ethertype == PKT_ETH_P_8021Q) {
		if (len < PKT_ETH_HLEN + PKT_VLAN_HLEN)
			return 0;
		ethertype = rxparse_get16(frame + 16);
		offset += PKT_VLAN_HLEN;
	}
	*l3_offset = offset;
	if (ethertype == PKT_ETH_P_IPV4)
		return FLOW_FAMILY_IPV4;
	if (ethertype == PKT_ETH_P_IPV6)
		return FLOW_FAMILY_IPV6;
	return 0;
}

/* The encapsulation an IP-in-IP tunnel's outer and inner families make. */
static enum rxparse_encap rxparse_ipip_kind(__u8 outer, __u8 inner)
{
	if (outer == FLOW_FAMILY_IPV4)
		return inner == FLOW_FAMILY_IPV4 ? RXPARSE_ENCAP_IPIP : RXPARSE_ENCAP_6IN4;
	return inner == FLOW_FAMILY_IPV4 ? RXPARSE_ENCAP_4IN6 : RXPARSE_ENCAP_IP6IP6;
}

/* Where a tunnel's inner packet is, and what it should be. */
struct rxparse_inner {
	const __u8 *ip;
	__u32 len;
	__u8 family;  /* the family the tunnel announces */
	__u8 csum_ok; /* GUE's UDP checksum, when one was sent */
};

/*
 * Whether an outer datagram is a tunnel lbgen's packets come back in: returns
 * the encapsulation with *in set, or RXPARSE_ENCAP_NONE.
 */
static enum rxparse_encap rxparse_tunnel(const __u8 *ip, const struct rxparse_iphdr *h,
					 __u16 gue_port, struct rxparse_inner *in)
{
	const __u8 *payload = ip + h->hlen;
	const __u32 payload_len = h->total - h->hlen;

	in->csum_ok = 1;
	if (h->fragment)
		return RXPARSE_ENCAP_NONE;
	if (h->proto == PKT_PROTO_IPIP || h->proto == PKT_PROTO_IPV6) {
		in->ip = payload;
		in->len = payload_len;
		in->family = h->proto == PKT_PROTO_IPIP ? FLOW_FAMILY_IPV4 : FLOW_FAMILY_IPV6;
		return rxparse_ipip_kind(h->family, in->family);
	}
	if (h->proto != PKT_PROTO_UDP || !gue_port || payload_len < PKT_UDP_HLEN + 1 ||
	    rxparse_get16(payload + 2) != gue_port)
		return RXPARSE_ENCAP_NONE;
	__u32 udp_len = rxparse_get16(payload + 4);
	if (udp_len < PKT_UDP_HLEN + 1 || udp_len > payload_len)
		return RXPARSE_ENCAP_NONE;
	const __u8 *gue = payload + PKT_UDP_HLEN;
	const __u32 gue_len = udp_len - PKT_UDP_HLEN;
	switch (RXPARSE_GUE_VERSION(gue[0])) {
	case 0: /* a GUE header, then the packet its protocol field names */
		if (gue_len < PKT_GUE_HLEN || (gue[0] & RXPARSE_GUE_CONTROL) ||
		    (gue[1] != PKT_PROTO_IPIP && gue[1] != PKT_PROTO_IPV6) ||
		    PKT_GUE_HLEN + RXPARSE_GUE_HLEN(gue[0]) > gue_len)
			return RXPARSE_ENCAP_NONE;
		in->ip = gue + PKT_GUE_HLEN + RXPARSE_GUE_HLEN(gue[0]);
		in->len = gue_len - PKT_GUE_HLEN - RXPARSE_GUE_HLEN(gue[0]);
		in->family = gue[1] == PKT_PROTO_IPIP ? FLOW_FAMILY_IPV4 : FLOW_FAMILY_IPV6;
		break;
	case 1: /* direct IP: the inner header's version field is GUE's */
		in->ip = gue;
		in->len = gue_len;
		in->family = gue[0] >> 4;
		break;
	default:
		return RXPARSE_ENCAP_NONE;
	}
	if (rxparse_get16(payload + 6)) { /* zero: sent without a checksum */
		__u32 sum = frame_pseudo_sum(h->family, h->src, h->dst, PKT_PROTO_UDP, udp_len);
		in->csum_ok = pkt_csum_fold(pkt_csum_add(sum, payload, udp_len)) == 0xffff;
	}
	return RXPARSE_ENCAP_GUE;
}

/* Parses the packet lbgen sent (ip .. ip + len) of the given family, up to
 * its probe; returns the probe, or NULL when there is none. */
static const __u8 *rxparse_packet(const __u8 *ip, __u32 len, __u8 family, struct rxparse_l3 *l3)
{
	if (!len || (ip[0] >> 4) != family || rxparse_ip(ip, len, l3))
		return NULL;
	const __u8 *probe = ip + l3->l4_offset + l3->l4_hlen;
	if (l3->l4_len < l3->l4_hlen + PROBE_LEN || rxparse_get32(probe) != PROBE_MAGIC)
		return NULL;
	return probe;
}

enum rxparse_verdict rxparse_frame(const __u8 *frame, __u32 len, __u16 gue_port,
				   struct rxparse_result *r)
{
	struct rxparse_iphdr outer;
	struct rxparse_inner in;
	struct rxparse_l3 l3;
	const __u8 *packet, *probe = NULL;
	__u32 l3_offset;

	if (!rxparse_ethernet(frame, len, &l3_offset))
		return RXPARSE_NOT_OURS;
	const __u8 *ip = frame + l3_offset;
	if (rxparse_ip_header(ip, len - l3_offset, &outer))
		return RXPARSE_NOT_OURS;
	enum rxparse_encap encap = rxparse_tunnel(ip, &outer, gue_port, &in);
	if (encap != RXPARSE_ENCAP_NONE) {
		packet = in.ip;
		probe = rxparse_packet(in.ip, in.len, in.family, &l3);
	}
	if (!probe) {
		/* Not tunnelled, or UDP to the GUE port that is lbgen's own
		 * packet (its probe's first byte reads as GUE variant 1). */
		encap = RXPARSE_ENCAP_NONE;
		in.csum_ok = 1;
		packet = ip;
		probe = rxparse_packet(ip, outer.total, outer.family, &l3);
		if (!probe)
			return RXPARSE_NOT_OURS;
	}

	const __u8 *l4 = packet + l3.l4_offset;
	__u32 sum = frame_pseudo_sum(l3.tuple.family, l3.tuple.src_addr, l3.tuple.dst_addr,
				     l3.tuple.proto, l3.l4_len);
	r->checksums_ok = in.csum_ok && l3.ip_csum_ok &&
			  pkt_csum_fold(pkt_csum_add(sum, l4, l3.l4_len)) == 0xffff &&
			  (encap == RXPARSE_ENCAP_NONE || outer.csum_ok);
	r->encap = (__u8)encap;
	r->tcp_flags = l3.tcp_flags;
	r->tuple = l3.tuple;
	if (encap == RXPARSE_ENCAP_NONE) {
		r->backend_family = l3.tuple.family;
		memcpy(r->backend, l3.tuple.dst_addr, sizeof(r->backend));
	} else {
		r->backend_family = outer.family;
		rxparse_copy_addr(r->backend, outer.dst, outer.family);
	}
	r->flow = rxparse_get32(probe + 4);
	r->seq = rxparse_get64(probe + 8);
	r->tx_tsc = rxparse_get64(probe + 16);
	return RXPARSE_OURS;
}
