/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * Backend-side decapsulation for GPU nodes behind Fulcrum whose kernels have
 * no ipip / fou driver: an XDP program on the node's interface that takes
 * IPIP, IP6IP6, 4in6, 6in4 and GUE packets addressed to one of the node's
 * tunnel addresses, moves the Ethernet header past the outer headers
 * (bpf_xdp_adjust_head) and passes the inner packet to the stack. The VIP
 * sits on the node's loopback, so the stack accepts it and answers the
 * client directly (direct server return).
 *
 * Anything else passes untouched. Outer fragments pass too: XDP cannot
 * reassemble, and lb-dpdk fragments inner packets instead, so they do not
 * happen with Fulcrum in front.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bpf/decap.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define PROTO_IPIP 4
#define PROTO_UDP 17
#define PROTO_IPV6 41

/* GUE's UDP destination port, host order; 0 = GUE off. Set before load. */
const volatile __u16 gue_port = 6080;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct decap_addr);
	__type(value, __u8);
	__uint(max_entries, DECAP_ADDRS_MAX);
} decap_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, DECAP_CTR_COUNT);
} decap_stats SEC(".maps");

static __always_inline int decap_count(__u32 counter, int verdict)
{
	__u64 *v = bpf_map_lookup_elem(&decap_stats, &counter);

	if (v)
		*v += 1;
	return verdict;
}

static __always_inline int decap_is_local(__u8 family, const void *addr)
{
	struct decap_addr key = { .family = family };

	__builtin_memcpy(key.addr, addr, family == 4 ? 4 : 16);
	return bpf_map_lookup_elem(&decap_addrs, &key) != 0;
}

/*
 * Bytes of GUE header at gue (variant 0: version 0, not control, hlen words
 * of options) and the inner protocol, or -1 when it is no data packet.
 */
static __always_inline int decap_gue(const __u8 *gue, const void *data_end, __u8 *inner_proto)
{
	if ((const void *)(gue + 4) > data_end)
		return -1;
	if ((gue[0] & 0xe0) != 0) /* version 0, C bit clear */
		return -1;
	*inner_proto = gue[1];
	return 4 + (gue[0] & 0x1f) * 4;
}

SEC("xdp")
int fulcrum_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *eth = data, *l3 = eth + ETH_HLEN;
	__u8 inner_proto, outer_proto;
	__u32 strip;

	if ((void *)l3 > data_end)
		return decap_count(DECAP_CTR_NOT_TUNNEL, XDP_PASS);
	__u16 ethertype = (__u16)(eth[12] << 8 | eth[13]);

	if (ethertype == ETH_P_IP) {
		if ((void *)(l3 + 20) > data_end)
			return decap_count(DECAP_CTR_NOT_TUNNEL, XDP_PASS);
		__u32 ihl = (l3[0] & 0x0f) * 4;
		outer_proto = l3[9];
		if (ihl < 20 || !decap_is_local(4, l3 + 16))
			return decap_count(DECAP_CTR_NOT_TUNNEL, XDP_PASS);
		if ((l3[6] & 0x3f) || l3[7]) /* MF or a fragment offset */
			return decap_count(DECAP_CTR_FRAGMENTED, XDP_PASS);
		strip = ihl;
	} else if (ethertype == ETH_P_IPV6) {
		if ((void *)(l3 + 40) > data_end)
			return decap_count(DECAP_CTR_NOT_TUNNEL, XDP_PASS);
		outer_proto = l3[6];
		if (!decap_is_local(6, l3 + 24))
			return decap_count(DECAP_CTR_NOT_TUNNEL, XDP_PASS);
		strip = 40;
	} else {
		return decap_count(DECAP_CTR_NOT_TUNNEL, XDP_PASS);
	}

	if (outer_proto == PROTO_IPIP || outer_proto == PROTO_IPV6) {
		inner_proto = outer_proto;
	} else if (outer_proto == PROTO_UDP && gue_port) {
		__u8 *udp = l3 + (strip & 0x7f);
		if ((void *)(udp + 8) > data_end)
			return decap_count(DECAP_CTR_MALFORMED, XDP_DROP);
		if ((__u16)(udp[2] << 8 | udp[3]) != gue_port)
			return decap_count(DECAP_CTR_NOT_TUNNEL, XDP_PASS);
		int gue_len = decap_gue(udp + 8, data_end, &inner_proto);
		if (gue_len < 0)
			return decap_count(DECAP_CTR_NOT_TUNNEL, XDP_PASS);
		strip = (strip & 0x7f) + 8 + (__u32)gue_len;
	} else {
		return decap_count(DECAP_CTR_NOT_TUNNEL, XDP_PASS);
	}
	if (inner_proto != PROTO_IPIP && inner_proto != PROTO_IPV6)
		return decap_count(DECAP_CTR_MALFORMED, XDP_DROP);
	strip &= 0x1ff;
	if ((void *)(l3 + strip + 1) > data_end)
		return decap_count(DECAP_CTR_MALFORMED, XDP_DROP);

	/* Move the Ethernet header to just before the inner IP header. */
	__u8 mac[12];
	__builtin_memcpy(mac, eth, 12);
	if (bpf_xdp_adjust_head(ctx, (int)strip))
		return decap_count(DECAP_CTR_NO_ROOM, XDP_DROP);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + ETH_HLEN) > data_end)
		return decap_count(DECAP_CTR_NO_ROOM, XDP_DROP);
	__builtin_memcpy(eth, mac, 12);
	eth[12] = inner_proto == PROTO_IPIP ? 0x08 : 0x86;
	eth[13] = inner_proto == PROTO_IPIP ? 0x00 : 0xdd;
	return decap_count(DECAP_CTR_DECAPSULATED, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
