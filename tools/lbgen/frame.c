/* SPDX-License-Identifier: BSD-3-Clause */
/* The frames lbgen sends (tools/lbgen/frame.h). */
#include <errno.h>
#include <string.h>

#include "dataplane/pkt.h"
#include "tools/lbgen/frame.h"
#include "tools/lbgen/probe.h"
#include "tools/lbgen/rxparse.h"

static void frame_put16(__u8 *p, __u16 v)
{
	p[0] = (__u8)(v >> 8);
	p[1] = (__u8)v;
}

static void frame_put32(__u8 *p, __u32 v)
{
	p[0] = (__u8)(v >> 24);
	p[1] = (__u8)(v >> 16);
	p[2] = (__u8)(v >> 8);
	p[3] = (__u8)v;
}

static void frame_put64(__u8 *p, __u64 v)
{
	frame_put32(p, (__u32)(v >> 32));
	frame_put32(p + 4, (__u32)v);
}

/* Stores the checksum of a pkt_csum_add() sum (in the sum's byte order). */
static void frame_csum_store(__u8 *p, __u32 sum, int udp)
{
	__u16 csum = (__u16)~pkt_csum_fold(sum);

	/* In UDP zero means "no checksum": send the other zero. */
	if (udp && csum == 0)
		csum = 0xffff;
	memcpy(p, &csum, 2);
}

static __u32 frame_l3_len(__u8 family)
{
	return family == FLOW_FAMILY_IPV4 ? PKT_IPV4_HLEN : PKT_IPV6_HLEN;
}

static __u32 frame_l4_len(__u8 proto)
{
	return proto == PKT_PROTO_TCP ? PKT_TCP_HLEN : PKT_UDP_HLEN;
}

__u32 frame_size_min(__u8 family, __u8 proto)
{
	__u32 n = PKT_ETH_HLEN + frame_l3_len(family) + frame_l4_len(proto) + PROBE_LEN +
		  FRAME_FCS_LEN;

	return n < FRAME_SIZE_MIN ? FRAME_SIZE_MIN : n;
}

__u32 frame_pseudo_sum(__u8 family, const void *src, const void *dst, __u8 proto, __u32 l4_len)
{
	__u8 tail[8] = {0};
	__u32 sum;

	if (family == FLOW_FAMILY_IPV4) {
		tail[1] = proto;
		frame_put16(tail + 2, (__u16)l4_len);
		sum = pkt_csum_add(0, src, 4);
		sum = pkt_csum_add(sum, dst, 4);
		return pkt_csum_add(sum, tail, 4);
	}
	frame_put32(tail, l4_len);
	tail[7] = proto;
	sum = pkt_csum_add(0, src, 16);
	sum = pkt_csum_add(sum, dst, 16);
	return pkt_csum_add(sum, tail, 8);
}

static void frame_write_probe(__u8 *p, __u32 flow, __u64 seq, __u64 tx_tsc)
{
	frame_put32(p, PROBE_MAGIC);
	frame_put32(p + 4, flow);
	frame_put64(p + 8, seq);
	frame_put64(p + 16, tx_tsc);
}

__u32 frame_build(__u8 *buf, __u32 room, const struct frame_l2 *l2, const struct frame_packet *p)
{
	const struct flow_tuple *t = p->tuple;
	const __u32 len = p->size - FRAME_FCS_LEN;
	const __u32 l3_hlen = frame_l3_len(t->family);
	const __u32 l4_hlen = frame_l4_len(t->proto);
	const __u32 ip_len = len - PKT_ETH_HLEN;
	const __u32 l4_len = ip_len - l3_hlen;
	const int v4 = t->family == FLOW_FAMILY_IPV4;

	if (p->size < frame_size_min(t->family, t->proto) || len > room || p->size > FRAME_SIZE_MAX)
		return 0;

	memcpy(buf, l2->dst_mac, 6);
	memcpy(buf + 6, l2->src_mac, 6);
	frame_put16(buf + 12, v4 ? PKT_ETH_P_IPV4 : PKT_ETH_P_IPV6);

	__u8 *ip = buf + PKT_ETH_HLEN;
	if (v4) {
		ip[0] = 0x45;
		ip[1] = 0;
		frame_put16(ip + 2, (__u16)ip_len);
		frame_put16(ip + 4, (__u16)p->seq);
		frame_put16(ip + 6, 0x4000); /* DF: the balancer answers too big, never fragments */
		ip[8] = FRAME_TTL;
		ip[9] = t->proto;
		frame_put16(ip + 10, 0);
		memcpy(ip + 12, t->src_addr, 4);
		memcpy(ip + 16, t->dst_addr, 4);
		frame_csum_store(ip + 10, pkt_csum_add(0, ip, PKT_IPV4_HLEN), 0);
	} else {
		frame_put32(ip, 6u << 28);
		frame_put16(ip + 4, (__u16)l4_len);
		ip[6] = t->proto;
		ip[7] = FRAME_TTL;
		memcpy(ip + 8, t->src_addr, 16);
		memcpy(ip + 24, t->dst_addr, 16);
	}

	__u8 *l4 = ip + l3_hlen;
	memcpy(l4, &t->src_port, 2);
	memcpy(l4 + 2, &t->dst_port, 2);
	if (t->proto == PKT_PROTO_TCP) {
		frame_put32(l4 + 4, (__u32)p->seq);
		frame_put32(l4 + 8, (p->tcp_flags & PKT_TCP_ACK) ? 1 : 0);
		l4[12] = (PKT_TCP_HLEN / 4) << 4;
		l4[13] = p->tcp_flags;
		frame_put16(l4 + 14, 0xffff);
		frame_put16(l4 + 16, 0);
		frame_put16(l4 + 18, 0);
	} else {
		frame_put16(l4 + 4, (__u16)l4_len);
		frame_put16(l4 + 6, 0);
	}
	__u8 *payload = l4 + l4_hlen;
	frame_write_probe(payload, p->flow, p->seq, p->tx_tsc);
	memset(payload + PROBE_LEN, 0, l4_len - l4_hlen - PROBE_LEN);

	/* The zeros after the probe add nothing to the sum: only the headers
	 * and the probe are summed, whatever the frame's size. */
	__u32 sum = frame_pseudo_sum(t->family, t->src_addr, t->dst_addr, t->proto, l4_len);
	sum = pkt_csum_add(sum, l4, l4_hlen + PROBE_LEN);
	frame_csum_store(l4 + (t->proto == PKT_PROTO_TCP ? 16 : 6), sum, t->proto == PKT_PROTO_UDP);
	return len;
}

int frame_stamp(__u8 *frame, __u32 len, __u32 flow, __u64 seq, __u64 tx_tsc)
{
	struct rxparse_l3 l3;
	__u32 l3_offset;

	if (!rxparse_ethernet(frame, len, &l3_offset) ||
	    rxparse_ip(frame + l3_offset, len - l3_offset, &l3))
		return -EPROTO;
	if (l3.l4_len < l3.l4_hlen + PROBE_LEN)
		return -ENOSPC;

	__u8 *l4 = frame + l3_offset + l3.l4_offset;
	const int udp = l3.tuple.proto == PKT_PROTO_UDP;
	__u8 *csum = l4 + (udp ? 6 : 16);

	frame_write_probe(l4 + l3.l4_hlen, flow, seq, tx_tsc);
	memset(csum, 0, 2);
	__u32 sum = frame_pseudo_sum(l3.tuple.family, l3.tuple.src_addr, l3.tuple.dst_addr,
				     l3.tuple.proto, l3.l4_len);
	frame_csum_store(csum, pkt_csum_add(sum, l4, l3.l4_len), udp);
	return 0;
}
