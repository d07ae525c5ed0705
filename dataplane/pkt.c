/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packet core's writing half: encapsulation toward a backend (IPIP,
 * IP6IP6, 4in6, 6in4, GUE) and the ICMP "too big" replies, over plain bytes.
 * Called per packet by lb-dpdk's workers: no allocation, no locks, no logging.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "dataplane/pkt.h"

#define PKT_DROP_NAME(name, counter, meaning) [name] = counter,
#define PKT_DROP_MEANING(name, counter, meaning) [name] = meaning,
static const char *const pkt_drop_names[PKT_DROP_REASON_COUNT] = {
	[PKT_DROP_NONE] = "none",
	PKT_DROP_REASONS(PKT_DROP_NAME)
};
static const char *const pkt_drop_meanings[PKT_DROP_REASON_COUNT] = {
	[PKT_DROP_NONE] = "not dropped",
	PKT_DROP_REASONS(PKT_DROP_MEANING)
};
#undef PKT_DROP_NAME
#undef PKT_DROP_MEANING

const char *pkt_drop_reason_name(enum pkt_drop_reason reason)
{
	return (unsigned)reason < PKT_DROP_REASON_COUNT ? pkt_drop_names[reason] : "unknown";
}

const char *pkt_drop_reason_meaning(enum pkt_drop_reason reason)
{
	return (unsigned)reason < PKT_DROP_REASON_COUNT ? pkt_drop_meanings[reason] : "unknown";
}

/*
 * Ones'-complement sums are the same whatever the byte order they are taken
 * in (RFC 1071 section 2(B)), so words are summed as the CPU loads them and
 * the result is stored back the same way: no swapping, 4 bytes per add.
 */
__u32 pkt_csum_add(__u32 sum, const void *data, __u32 len)
{
	const __u8 *p = data;
	__u64 acc = sum;
	__u32 i = 0;

	for (; i + 4 <= len; i += 4) {
		__u32 w;
		memcpy(&w, p + i, 4);
		acc += w;
	}
	if (i + 2 <= len) {
		__u16 w;
		memcpy(&w, p + i, 2);
		acc += w;
		i += 2;
	}
	if (i < len) {
		__u8 tail[2] = { p[i], 0 }; /* pad with a zero byte (RFC 1071) */
		__u16 w;
		memcpy(&w, tail, 2);
		acc += w;
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (__u32)acc;
}

__u16 pkt_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Stores the checksum of a pkt_csum_add() sum at p, in the sum's byte order. */
static void pkt_csum_store(__u8 *p, __u32 sum)
{
	__u16 csum = (__u16)~pkt_csum_fold(sum);

	memcpy(p, &csum, 2);
}

/* Checksum of the IPv6 pseudo-header (RFC 8200 section 8.1). */
static __u32 pkt_csum_ipv6_pseudo(const __u8 *src, const __u8 *dst, __u32 len, __u8 next)
{
	__u8 tail[8] = { 0 };

	pkt_put_be32(tail, len);
	tail[7] = next;
	__u32 sum = pkt_csum_add(0, src, 16);
	sum = pkt_csum_add(sum, dst, 16);
	return pkt_csum_add(sum, tail, sizeof(tail));
}

void pkt_encap_template_init(struct pkt_encap_template *t, const struct pkt_encap_params *p)
{
	const __u16 ip_len = p->outer_family == FLOW_FAMILY_IPV4 ? PKT_IPV4_HLEN : PKT_IPV6_HLEN;

	memset(t, 0, sizeof(*t));
	t->type = p->type;
	t->outer_family = p->outer_family;
	t->length = (__u8)pkt_encap_overhead(p);
	if (p->outer_family == FLOW_FAMILY_IPV4) {
		/* Bytes 0 - 11 are the packet's (pkt_encap_write_template());
		 * the checksum starts from the addresses' sum, folded to 32
		 * bits with the carry added back. */
		__u64 sum = (__u64)p->outer_src[0] + p->outer_dst[0];
		memcpy(t->hdr + 12, &p->outer_src[0], 4);
		memcpy(t->hdr + 16, &p->outer_dst[0], 4);
		t->addr_sum = (__u32)((sum & 0xffffffffu) + (sum >> 32));
	} else {
		t->hdr[7] = PKT_OUTER_TTL;
		memcpy(t->hdr + 8, p->outer_src, 16);
		memcpy(t->hdr + 24, p->outer_dst, 16);
	}
	if (p->type == PKT_ENCAP_GUE)
		memcpy(t->hdr + ip_len + 2, &p->gue_port, 2); /* destination port */
}

void pkt_encap_gue6_checksum(__u8 *outer, __u8 *udp, __u16 udp_len)
{
	__u32 sum = pkt_csum_ipv6_pseudo(outer + 8, outer + 24, udp_len, PKT_PROTO_UDP);
	__u16 csum = (__u16)~pkt_csum_fold(pkt_csum_add(sum, udp, udp_len));

	/* Zero means "no checksum" in UDP: send its other form. */
	if (csum == 0)
		csum = 0xffff;
	memcpy(udp + 6, &csum, 2);
}

/* One encoder for both: lb-dpdk's worker keeps a template per backend. */
void pkt_encap_write(__u8 *out, const struct pkt_info *info, const struct pkt_encap_params *p,
		     __u32 flow_hash)
{
	struct pkt_encap_template t;

	pkt_encap_template_init(&t, p);
	pkt_encap_write_template(out, info, &t, p->dst_mac, p->src_mac, p->has_vlan, p->vlan_tci,
				 flow_hash);
}

int pkt_encap(__u8 *frame, __u32 frame_len, __u32 headroom, const struct pkt_info *info,
	      const struct pkt_encap_params *p, __u32 flow_hash, __u8 **out, __u32 *out_len)
{
	__u16 grow = pkt_encap_headroom(info, p);
	enum pkt_encap_status status;

	if ((__u32)info->l3_offset + info->l3_length > frame_len)
		return -EINVAL;
	status = pkt_encap_check(info, p);
	if (status != PKT_ENCAP_OK)
		return (int)status;
	if (grow > headroom)
		return -ENOSPC;
	*out = frame - grow;
	*out_len = pkt_encap_frame_length(info, p);
	pkt_encap_write(*out, info, p, flow_hash);
	return PKT_ENCAP_OK;
}

__u32 pkt_icmp_too_big(const __u8 *frame, const struct pkt_info *info, __u16 mtu, __u8 *out,
		       __u32 out_size)
{
	const __u8 *ip = frame + info->l3_offset;
	const __u16 l2_len = info->l3_offset;
	const int v4 = info->tuple.family == FLOW_FAMILY_IPV4;
	/* RFC 1812 4.3.2.3: at most 576 bytes in all; RFC 4443 2.4(c): at most
	 * the IPv6 minimum MTU, 1280. */
	const __u32 limit = v4 ? 576 : 1280;
	const __u32 ip_hlen = v4 ? PKT_IPV4_HLEN : PKT_IPV6_HLEN;
	__u32 quote = info->l3_length;

	if (quote > limit - ip_hlen - PKT_ICMP_HLEN)
		quote = limit - ip_hlen - PKT_ICMP_HLEN;
	__u32 total = l2_len + ip_hlen + PKT_ICMP_HLEN + quote;
	if (total > out_size)
		return 0;

	/* Back the way the packet came: swap the Ethernet addresses, keep the
	 * VLAN tag and EtherType. */
	memcpy(out, frame + 6, 6);
	memcpy(out + 6, frame, 6);
	memcpy(out + 12, frame + 12, l2_len - 12);

	__u8 *rip = out + l2_len;
	__u8 *icmp = rip + ip_hlen;
	__u32 icmp_len = PKT_ICMP_HLEN + quote;

	memcpy(icmp + PKT_ICMP_HLEN, ip, quote);
	if (v4) {
		rip[0] = 0x45;
		rip[1] = 0xc0; /* internetwork control, as routers send errors */
		pkt_put_be16(rip + 2, (__u16)(ip_hlen + icmp_len));
		pkt_put_be32(rip + 4, 0);
		rip[8] = PKT_OUTER_TTL;
		rip[9] = PKT_PROTO_ICMP;
		pkt_put_be16(rip + 10, 0);
		memcpy(rip + 12, ip + 16, 4); /* from the VIP */
		memcpy(rip + 16, ip + 12, 4); /* to the client */
		pkt_csum_store(rip + 10, pkt_csum_add(0, rip, PKT_IPV4_HLEN));
		icmp[0] = 3; /* destination unreachable */
		icmp[1] = 4; /* fragmentation needed and DF set (RFC 1191) */
		pkt_put_be16(icmp + 2, 0);
		pkt_put_be16(icmp + 4, 0);
		pkt_put_be16(icmp + 6, mtu);
		pkt_csum_store(icmp + 2, pkt_csum_add(0, icmp, icmp_len));
	} else {
		pkt_put_be32(rip, 6u << 28);
		pkt_put_be16(rip + 4, (__u16)icmp_len);
		rip[6] = PKT_PROTO_ICMPV6;
		rip[7] = PKT_OUTER_TTL;
		memcpy(rip + 8, ip + 24, 16);
		memcpy(rip + 24, ip + 8, 16);
		icmp[0] = 2; /* packet too big */
		icmp[1] = 0;
		pkt_put_be16(icmp + 2, 0);
		pkt_put_be32(icmp + 4, mtu);
		__u32 sum = pkt_csum_ipv6_pseudo(rip + 8, rip + 24, icmp_len, PKT_PROTO_ICMPV6);
		pkt_csum_store(icmp + 2, pkt_csum_add(sum, icmp, icmp_len));
	}
	return total;
}
