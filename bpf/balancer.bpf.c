/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * The XDP balancer: lb-dpdk's worker (dataplane/worker.c) in the kernel
 * driver, for NICs DPDK cannot or should not drive. Same parser, same flow
 * hash, same tables, same choice of backend, byte-identical tunnel headers:
 * a flow gets the same backend in either mode.
 *
 * Per packet: parse (dataplane/pkt.h); not for a VIP -> XDP_PASS to the
 * kernel; flow table hit on a backend still READY or DRAIN, else the VIP's
 * Maglev ring; encapsulate (IPIP, IP6IP6, 4in6, 6in4, GUE) toward the
 * backend; next hop from bpf_fib_lookup(), cached per CPU and backend for a
 * tick (about a second, balancer.h); XDP_TX back out the receiving
 * interface or XDP_REDIRECT to the egress one. Every outcome has a per-CPU counter (dataplane/counters.h);
 * nothing is printed.
 *
 * Where lb-dpdk and this program differ, because XDP cannot make two packets
 * out of one: an IPv4 packet without DF that does not fit once tunnelled is
 * fragmented by lb-dpdk but dropped here (drop_too_big); LRU evictions of the
 * flow tables happen inside the kernel and are not counted (flow_evicted,
 * flow_new_evicted).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf/balancer.h"
#include "dataplane/counters.h"
#include "dataplane/pkt.h"

#define BALANCER_AF_INET      2
#define BALANCER_AF_INET6     10
#define BALANCER_CSUM_CHUNK   512 /* bpf_csum_diff()'s largest input */
#define BALANCER_CSUM_CHUNKS  20  /* 10 KiB: beyond any jumbo frame */
#define BALANCER_MEMBER_ABSENT 0 /* enum gen_member_state */
#define BALANCER_MAX_MTU      0xffff

/*
 * Options fixed for the program's life, written by lbd before load (a change
 * reloads the program and keeps the maps). use_gateway_mac: send every
 * tunnelled packet to gateway_mac instead of the neighbour the FIB names.
 */
const volatile __u8 use_gateway_mac = 0;
const volatile __u8 gateway_mac[6] = { 0 };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct balancer_vip_key);
	__type(value, struct balancer_vip);
	__uint(max_entries, BALANCER_VIP_ENTRIES_MAX);
} vips SEC(".maps");

/* The template of every VIP's ring; BPF_F_INNER_MAP lets sizes differ. */
struct balancer_ring {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, BALANCER_RINGS_MAX);
	__array(values, struct balancer_ring);
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct balancer_member);
	__uint(max_entries, BALANCER_MEMBERS_DEFAULT);
} members SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct balancer_params);
	__uint(max_entries, 1);
} params SEC(".maps");

/* Shared by all CPUs, so a flow RSS moves to another queue keeps its
 * backend; BPF_F_NO_COMMON_LRU gives each CPU its own LRU list, so
 * inserting never contends on one list lock. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct flow_tuple);
	__type(value, struct balancer_flow);
	__uint(max_entries, BALANCER_FLOWS_DEFAULT);
} flows SEC(".maps");

/* Flows seen once (a SYN, or the first packet of a flow unknown to both
 * maps): a flood from random sources churns this map's LRU lists and never
 * reaches the flows above. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct flow_tuple);
	__type(value, struct balancer_flow);
	__uint(max_entries, BALANCER_NEW_FLOWS_DEFAULT);
} new_flows SEC(".maps");

/* One entry: a packet looks its CPU's counters up once, not once each. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct balancer_counters);
	__uint(max_entries, 1);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct balancer_member_stats);
	__uint(max_entries, BALANCER_MEMBERS_DEFAULT);
} member_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, BALANCER_RINGS_MAX);
} vip_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct balancer_nexthop);
	__uint(max_entries, BALANCER_MEMBERS_DEFAULT);
} nexthops SEC(".maps");

/* Room to checksum packet bytes in (bpf_csum_diff wants a buffer). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u8[BALANCER_CSUM_CHUNK]);
	__uint(max_entries, 1);
} scratch SEC(".maps");

static __always_inline int balancer_drop(struct balancer_counters *cnt,
					 enum pkt_drop_reason reason)
{
	__u32 counter = counter_drop(reason);

	if (counter < COUNTER_COUNT)
		cnt->value[counter]++;
	return XDP_DROP;
}

static __always_inline __u16 balancer_csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Sum of n bytes of a stack or map buffer in pkt_csum_add()'s form
 * (16-bit words as the CPU loads them); n a multiple of 4. */
static __always_inline __u64 balancer_csum_words(const void *p, __u32 n)
{
	const __u32 *w = p;
	__u64 sum = 0;

	for (__u32 i = 0; i < n / 4; i++)
		sum += w[i];
	return sum;
}

/*
 * The size argument of bpf_xdp_load_bytes() for a length n the caller has
 * checked to be in [1, max] (max a power of two). The helper takes no empty
 * copy, and Linux 6.1's verifier does not learn n >= 1 from a branch on
 * n != 0 (later ones do): it rejects the call as a possibly zero-sized
 * access. ((n - 1) & (max - 1)) + 1 is n itself in that range and visibly
 * in [1, max] to any verifier; barrier_var() (an empty asm) keeps the
 * compiler from folding it back into n (clang 14 does not, a later one
 * might).
 */
static __always_inline __u32 balancer_load_size(__u32 n, __u32 max)
{
	barrier_var(n);
	return ((n - 1) & (max - 1)) + 1;
}

/*
 * Adds len bytes of the frame from offset off to a running checksum sum.
 * The bytes are copied out with bpf_xdp_load_bytes() and summed by
 * bpf_csum_diff(), 512 at a time: the verifier would have to walk a loop
 * over packet pointers once per possible length. Returns the new sum, or 0
 * with *failed set if the frame is shorter than off + len.
 */
static __always_inline __u64 balancer_csum_frame(struct xdp_md *ctx, __u32 off, __u32 len,
						 __u64 sum, int *failed)
{
	__u32 zero = 0;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &zero);

	if (!buf)
		goto fail;
	for (int i = 0; i < BALANCER_CSUM_CHUNKS; i++) {
		if (len < BALANCER_CSUM_CHUNK)
			break;
		if (bpf_xdp_load_bytes(ctx, off, buf, BALANCER_CSUM_CHUNK))
			goto fail;
		sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)buf, BALANCER_CSUM_CHUNK, 0);
		off += BALANCER_CSUM_CHUNK;
		len -= BALANCER_CSUM_CHUNK;
	}
	if (len >= BALANCER_CSUM_CHUNK)
		goto fail;
	__u32 words = len & (BALANCER_CSUM_CHUNK - 4);
	if (words) {
		if (bpf_xdp_load_bytes(ctx, off, buf,
				       balancer_load_size(words, BALANCER_CSUM_CHUNK)))
			goto fail;
		sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)buf, words, 0);
	}
	__u32 rest = len & 3;
	if (rest) {
		/* A trailing odd byte is padded with zero (RFC 1071). */
		__u32 tail = 0;
		if (bpf_xdp_load_bytes(ctx, off + words, &tail, balancer_load_size(rest, 4)))
			goto fail;
		sum += tail;
	}
	return sum;
fail:
	*failed = 1;
	return 0;
}

/* Checksum of the IPv6 pseudo-header (RFC 8200 section 8.1). */
static __always_inline __u64 balancer_csum_ipv6_pseudo(const __be32 *src, const __be32 *dst,
							__u32 len, __u8 next)
{
	__u8 tail[8] = { 0 };

	pkt_put_be32(tail, len);
	tail[7] = next;
	return balancer_csum_words(src, 16) + balancer_csum_words(dst, 16) +
	       balancer_csum_words(tail, 8);
}

/*
 * Writes a 20-byte IPv4 header without options at ip, assembled and
 * summed in registers (as pkt.c does), with id taken from id_bytes.
 */
static __always_inline void balancer_write_ipv4(__u8 *ip, __u8 tos, __u16 total_length,
						__u16 id, __u16 frag, __u8 ttl, __u8 proto,
						__be32 src, __be32 dst)
{
	__be32 words[5];
	__u64 sum = 0;

	words[0] = __builtin_bswap32(0x45000000u | (__u32)tos << 16 | total_length);
	words[1] = __builtin_bswap32((__u32)id << 16 | frag);
	words[2] = __builtin_bswap32((__u32)ttl << 24 | (__u32)proto << 16);
	words[3] = src;
	words[4] = dst;
	for (int i = 0; i < 5; i++)
		sum += words[i];
	__u16 csum = (__u16)~balancer_csum_fold(sum);
	__builtin_memcpy(ip, words, sizeof(words));
	__builtin_memcpy(ip + 10, &csum, 2);
}

/* CLOCK_MONOTONIC in ticks (balancer.h), as lbd reads flow expiry times. */
static __always_inline __u32 balancer_now(void)
{
	return (__u32)(bpf_ktime_get_coarse_ns() >> BALANCER_TICK_SHIFT);
}

static __always_inline const struct balancer_member *balancer_member_get(__u32 id)
{
	const struct balancer_member *m = bpf_map_lookup_elem(&members, &id);

	return m && m->state != BALANCER_MEMBER_ABSENT ? m : 0;
}

/* The ring's choice for the flow: a READY member, or NULL (no backend). */
static __always_inline const struct balancer_member *balancer_ring_pick(
	const struct balancer_vip *vip, const struct pkt_info *info, __u32 *id)
{
	__u32 ring_index = vip->ring;
	void *ring = bpf_map_lookup_elem(&rings, &ring_index);

	if (!ring || vip->ring_size == 0)
		return 0;
	__u32 slot = flow_hash_ring_slot(pkt_flow_hash(info), vip->ring_size);
	__u32 *entry = bpf_map_lookup_elem(ring, &slot);
	if (!entry || *entry == FLOW_NO_BACKEND)
		return 0;
	*id = *entry;
	return balancer_member_get(*id);
}

/* A TCP segment with SYN and not ACK: it always takes the ring's choice. */
static __always_inline int balancer_opens_flow(const struct pkt_info *info)
{
	return info->tuple.proto == PKT_PROTO_TCP &&
	       (info->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
	       !(info->flags & PKT_F_ICMP_ERROR);
}

/* A live entry of a flow map for the tuple, or NULL (none, or stale). */
static __always_inline struct balancer_flow *balancer_flow_live(void *map,
								 const struct flow_tuple *tuple,
								 __u32 now)
{
	struct balancer_flow *flow = bpf_map_lookup_elem(map, tuple);

	return flow && flow->expires > now ? flow : 0;
}

/*
 * The packet's live entry in flows, or NULL, as lb-dpdk's worker_choose()
 * looks it up. A SYN looks only at flows: a flow established there (a port
 * reused at once) is re-pointed by balancer_choose(), where an entry left
 * behind would outlive the new connection's own. Other packets also look
 * in new_flows, whose entry a second packet promotes into flows.
 */
static __always_inline struct balancer_flow *balancer_flow_find(struct balancer_counters *cnt,
								 const struct pkt_info *info,
								 __u32 now)
{
	struct balancer_flow *flow = balancer_flow_live(&flows, &info->tuple, now);

	if (flow || balancer_opens_flow(info))
		return flow;
	flow = balancer_flow_live(&new_flows, &info->tuple, now);
	if (!flow)
		return 0;
	/* Promoted: balancer_choose() sets the established expiry. */
	struct balancer_flow promoted = { .member = flow->member, .expires = flow->expires };
	if (bpf_map_update_elem(&flows, &info->tuple, &promoted, BPF_ANY))
		return 0; /* cannot happen to an LRU map: the ring decides, as for a miss */
	bpf_map_delete_elem(&new_flows, &info->tuple);
	cnt->value[COUNTER_FLOW_PROMOTED]++;
	return bpf_map_lookup_elem(&flows, &info->tuple);
}

static __always_inline __u32 balancer_flow_expires(const struct pkt_info *info,
						   const struct balancer_params *prm, __u32 now)
{
	return now + (info->tuple.proto == PKT_PROTO_TCP ? prm->tcp_idle_ticks
							 : prm->udp_idle_ticks);
}

/*
 * Which backend a VIP packet goes to, as worker_choose() decides: known
 * flows (flow, from balancer_flow_find()) keep their backend while it is
 * READY or DRAIN; a TCP SYN always takes the ring's choice (re-pointing an
 * established entry it finds); ICMP errors follow the flow they quote but
 * never create one. A flow new to both maps goes into new_flows.
 */
static __always_inline const struct balancer_member *balancer_choose(
	struct balancer_counters *cnt, const struct pkt_info *info, const struct balancer_vip *vip,
	const struct balancer_params *prm, struct balancer_flow *flow, __u32 now,
	__u32 *id)
{
	const int icmp_error = (info->flags & PKT_F_ICMP_ERROR) != 0;
	const int syn = balancer_opens_flow(info);
	const __u32 expires = balancer_flow_expires(info, prm, now);
	const struct balancer_member *m;

	if (flow && !syn) {
		flow->expires = expires;
		*id = flow->member;
		m = balancer_member_get(*id);
		/* The VIP check guards against an id that lbd, restarted,
		 * could not adopt and gave to another VIP's backend. */
		if (m && m->vip == vip->id) {
			cnt->value[COUNTER_FLOW_HIT]++;
			return m;
		}
	}
	m = balancer_ring_pick(vip, info, id);
	if (!m || icmp_error)
		return m;
	struct balancer_member_stats *ms = bpf_map_lookup_elem(&member_stats, id);
	if (ms)
		ms->flows_new++;
	if (flow) {
		flow->member = *id;
		flow->expires = expires;
		cnt->value[syn ? COUNTER_FLOW_NEW : COUNTER_FLOW_MOVED]++;
		return m;
	}
	const __u32 idle = expires - now;
	struct balancer_flow fresh = {
		.member = *id,
		.expires = now + (idle < BALANCER_NEW_FLOW_TICKS ? idle : BALANCER_NEW_FLOW_TICKS),
	};
	bpf_map_update_elem(&new_flows, &info->tuple, &fresh, BPF_ANY);
	cnt->value[COUNTER_FLOW_NEW]++;
	return m;
}

/*
 * Where member id's packets go next, from this CPU's cache or, once a
 * tick, from the FIB: the egress interface, MACs and path MTU toward the
 * backend. Returns NULL while there is no route or no neighbour (the
 * kernel resolves neighbours as lbd's health checks reach the backend).
 */
static __always_inline const struct balancer_nexthop *balancer_nexthop(
	struct xdp_md *ctx, __u32 id, const struct balancer_member *m, const __u8 *frame_dst_mac,
	__u32 now)
{
	struct balancer_nexthop *nh = bpf_map_lookup_elem(&nexthops, &id);

	if (!nh)
		return 0;
	if (nh->checked == now && nh->addr[0] == m->addr[0] && nh->addr[1] == m->addr[1] &&
	    nh->addr[2] == m->addr[2] && nh->addr[3] == m->addr[3])
		return nh->valid ? nh : 0;

	struct bpf_fib_lookup fib;
	long rc;
	__u16 mtu = BALANCER_MAX_MTU;

	nh->checked = now;
	__builtin_memcpy(nh->addr, m->addr, sizeof(nh->addr));
	nh->valid = 0;
	/* First the path MTU: asked with the largest length, the FIB answers
	 * FRAG_NEEDED and the MTU (unless the path takes 64 KiB). */
	for (int pass = 0; pass < 2; pass++) {
		__builtin_memset(&fib, 0, sizeof(fib));
		fib.ifindex = ctx->ingress_ifindex;
		if (m->family == FLOW_FAMILY_IPV4) {
			fib.family = BALANCER_AF_INET;
			fib.ipv4_dst = m->addr[0];
		} else {
			fib.family = BALANCER_AF_INET6;
			__builtin_memcpy(fib.ipv6_dst, m->addr, 16);
		}
		fib.tot_len = pass == 0 ? BALANCER_MAX_MTU : 0;
		rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
		if (pass == 0 && rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
			mtu = fib.mtu_result;
		else if (pass == 0 && rc != BPF_FIB_LKUP_RET_SUCCESS &&
			 rc != BPF_FIB_LKUP_RET_NO_NEIGH)
			return 0; /* no route */
	}
	nh->ifindex = fib.ifindex;
	nh->mtu = mtu;
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		__builtin_memcpy(nh->src_mac, fib.smac, 6);
		__builtin_memcpy(nh->dst_mac, fib.dmac, 6);
	} else if (rc == BPF_FIB_LKUP_RET_NO_NEIGH && use_gateway_mac &&
		   fib.ifindex == ctx->ingress_ifindex) {
		/* No neighbour entry is needed to send to the gateway; our own
		 * MAC is the one the packet came to. */
		__builtin_memcpy(nh->src_mac, frame_dst_mac, 6);
	} else {
		return 0;
	}
	if (use_gateway_mac)
		for (int i = 0; i < 6; i++)
			nh->dst_mac[i] = gateway_mac[i];
	nh->valid = 1;
	return nh;
}

/*
 * Makes the frame end where its IP datagram ends (Ethernet padding after
 * a short datagram goes), so that what follows is the frame's length.
 * Returns 0 or -1.
 */
static __always_inline int balancer_trim(struct xdp_md *ctx, __u32 frame_length)
{
	__u32 have = (__u32)(ctx->data_end - ctx->data);

	if (have <= frame_length)
		return 0;
	return bpf_xdp_adjust_tail(ctx, -(int)(have - frame_length)) ? -1 : 0;
}

/*
 * Tunnels the frame toward the backend: the bytes pkt_encap_write() writes
 * (the fixture tests compare them). Returns 0, or a drop reason.
 */
static __always_inline int balancer_encap(struct xdp_md *ctx, const struct pkt_info *info,
					  const struct pkt_encap_params *p)
{
	const __u16 l2_len = pkt_l2_length(p->has_vlan);
	const __u16 overhead = pkt_encap_overhead(p);
	const __u8 inner_family = info->tuple.family;
	const __u8 inner_proto = inner_family == FLOW_FAMILY_IPV4 ? PKT_PROTO_IPIP : PKT_PROTO_IPV6;
	const __u8 outer_proto = p->type == PKT_ENCAP_GUE ? PKT_PROTO_UDP : inner_proto;
	const __u16 ip_len = p->outer_family == FLOW_FAMILY_IPV4 ? PKT_IPV4_HLEN : PKT_IPV6_HLEN;
	/* Only an IPv6 flow label and a GUE source port carry the flow hash:
	 * an established IPv4 flow over IPIP never computes it. */
	const __u32 hash = p->outer_family == FLOW_FAMILY_IPV6 || p->type == PKT_ENCAP_GUE
				   ? pkt_flow_hash(info)
				   : 0;
	__u16 inner_id = 0;

	if (balancer_trim(ctx, (__u32)info->l3_offset + info->l3_length))
		return PKT_DROP_NO_ROOM;
	if (bpf_xdp_adjust_head(ctx, -(int)pkt_encap_headroom(info, p)))
		return PKT_DROP_NO_ROOM;

	__u8 *out = (__u8 *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (out + PKT_ETH_HLEN + PKT_VLAN_HLEN > (__u8 *)end)
		return PKT_DROP_NO_ROOM;
	__u8 *outer = out + (l2_len & 0x1f);
	__u8 *inner = outer + (overhead & 0x7f);
	if (inner + PKT_IPV4_HLEN > (__u8 *)end || outer + PKT_IPV6_HLEN > (__u8 *)end)
		return PKT_DROP_NO_ROOM;

	/* The balancer is a hop: inner TTL / hop limit minus one, the IPv4
	 * checksum updated incrementally (RFC 1624, eqn. 3). */
	if (inner_family == FLOW_FAMILY_IPV6) {
		inner[7]--;
	} else {
		__u16 old_word = pkt_get_be16(inner + 8);
		__u16 new_word = (__u16)(old_word - 0x0100);
		__u32 sum = (__u16)~pkt_get_be16(inner + 10);
		sum += (__u16)~old_word;
		sum += new_word;
		inner[8] = (__u8)(new_word >> 8);
		pkt_put_be16(inner + 10, (__u16)~balancer_csum_fold(sum));
		inner_id = pkt_get_be16(inner + 4);
	}

	__builtin_memcpy(out, p->dst_mac, 6);
	__builtin_memcpy(out + 6, p->src_mac, 6);
	if (p->has_vlan) {
		pkt_put_be16(out + 12, PKT_ETH_P_8021Q);
		pkt_put_be16(out + 14, p->vlan_tci);
	}
	pkt_put_be16(out + (p->has_vlan ? 16 : 12),
			  p->outer_family == FLOW_FAMILY_IPV4 ? PKT_ETH_P_IPV4 : PKT_ETH_P_IPV6);

	if (p->outer_family == FLOW_FAMILY_IPV4) {
		/* DSCP and ECN carried over (RFC 6040 normal mode); an IPv4
		 * inner packet lends its ID (see pkt_encap_write()). */
		balancer_write_ipv4(outer, info->tos, (__u16)(overhead + info->l3_length), inner_id,
				    (info->flags & PKT_F_DF) ? 0x4000 : 0, PKT_OUTER_TTL,
				    outer_proto, p->outer_src[0], p->outer_dst[0]);
	} else {
		pkt_put_be32(outer, (6u << 28) | ((__u32)info->tos << 20) |
						 flow_hash_ipv6_flow_label(hash));
		pkt_put_be16(outer + 4, (__u16)(overhead - PKT_IPV6_HLEN + info->l3_length));
		outer[6] = outer_proto;
		outer[7] = PKT_OUTER_TTL;
		__builtin_memcpy(outer + 8, p->outer_src, 16);
		__builtin_memcpy(outer + 24, p->outer_dst, 16);
	}
	if (p->type != PKT_ENCAP_GUE)
		return 0;

	__u8 *udp = outer + (ip_len & 0x3f);
	if (udp + PKT_UDP_HLEN + PKT_GUE_HLEN > (__u8 *)end)
		return PKT_DROP_NO_ROOM;
	__u16 udp_len = PKT_UDP_HLEN + PKT_GUE_HLEN + info->l3_length;
	pkt_put_be16(udp, flow_hash_gue_source_port(hash));
	__builtin_memcpy(udp + 2, &p->gue_port, 2);
	pkt_put_be16(udp + 4, udp_len);
	pkt_put_be16(udp + 6, 0);
	udp[8] = 0; /* GUE variant 0, no options */
	udp[9] = inner_proto;
	udp[10] = 0;
	udp[11] = 0;
	if (p->outer_family == FLOW_FAMILY_IPV4)
		return 0; /* a zero UDP checksum is valid over IPv4 */

	/* Over IPv6 a zero UDP checksum is only for receivers configured for
	 * it (RFC 6935): compute it over the whole datagram. */
	int failed = 0;
	__u64 sum = balancer_csum_ipv6_pseudo(p->outer_src, p->outer_dst, udp_len, PKT_PROTO_UDP);
	sum = balancer_csum_frame(ctx, (__u32)(l2_len + PKT_IPV6_HLEN), udp_len, sum, &failed);
	if (failed)
		return PKT_DROP_NO_ROOM;
	__u16 csum = (__u16)~balancer_csum_fold(sum);
	if (csum == 0)
		csum = 0xffff; /* zero means "no checksum" in UDP */
	/* Pointers from before the helper calls are void now. */
	out = (__u8 *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	udp = out + (l2_len & 0x1f) + PKT_IPV6_HLEN;
	if (udp + PKT_UDP_HLEN > (__u8 *)end)
		return PKT_DROP_NO_ROOM;
	__builtin_memcpy(udp + 6, &csum, 2);
	return 0;
}

/*
 * Turns the frame into the ICMP fragmentation-needed (IPv4) or
 * packet-too-big (IPv6) reply to its client, the bytes pkt_icmp_too_big()
 * writes: from the VIP, quoting as much of the packet as RFC 1812 / RFC 4443
 * allow, Ethernet addresses swapped. Returns 0, or a drop reason.
 */
static __always_inline int balancer_too_big(struct xdp_md *ctx, const struct pkt_info *info,
					    __u16 mtu)
{
	const int v4 = info->tuple.family == FLOW_FAMILY_IPV4;
	const __u32 limit = v4 ? 576 : 1280;
	const __u32 ip_hlen = v4 ? PKT_IPV4_HLEN : PKT_IPV6_HLEN;
	const __u32 l2_len = info->l3_offset;
	__u32 quote = info->l3_length;
	__u8 l2[PKT_ETH_HLEN + PKT_VLAN_HLEN];

	if (quote > limit - ip_hlen - PKT_ICMP_HLEN)
		quote = limit - ip_hlen - PKT_ICMP_HLEN;
	__u8 *frame = (__u8 *)(long)ctx->data;
	if (frame + sizeof(l2) > (__u8 *)(long)ctx->data_end)
		return PKT_DROP_NO_ROOM;
	__builtin_memcpy(l2, frame, sizeof(l2));
	if (balancer_trim(ctx, l2_len + quote) ||
	    bpf_xdp_adjust_head(ctx, -(int)(ip_hlen + PKT_ICMP_HLEN)))
		return PKT_DROP_NO_ROOM;

	__u8 *out = (__u8 *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (out + sizeof(l2) > (__u8 *)end)
		return PKT_DROP_NO_ROOM;
	__u8 *rip = out + (l2_len & 0x1f);
	if (rip + PKT_IPV6_HLEN + PKT_ICMP_HLEN > (__u8 *)end)
		return PKT_DROP_NO_ROOM;
	/* Back the way the packet came, VLAN tag and EtherType kept (without
	 * a tag, the last 4 bytes copied are overwritten by the IP header). */
	__builtin_memcpy(out, l2 + 6, 6);
	__builtin_memcpy(out + 6, l2, 6);
	__builtin_memcpy(out + 12, l2 + 12, 6);

	__u32 icmp_len = PKT_ICMP_HLEN + quote;
	__u32 icmp_off = l2_len + ip_hlen;
	__u8 *icmp;
	__u64 sum = 0;
	if (v4) {
		/* Internetwork control precedence, as routers send errors. */
		balancer_write_ipv4(rip, 0xc0, (__u16)(ip_hlen + icmp_len), 0, 0, PKT_OUTER_TTL,
				    PKT_PROTO_ICMP, info->tuple.dst_addr[0], info->tuple.src_addr[0]);
		icmp = rip + PKT_IPV4_HLEN;
		icmp[0] = 3; /* destination unreachable */
		icmp[1] = 4; /* fragmentation needed and DF set (RFC 1191) */
		pkt_put_be32(icmp + 2, 0);
		pkt_put_be16(icmp + 6, mtu);
	} else {
		pkt_put_be32(rip, 6u << 28);
		pkt_put_be16(rip + 4, (__u16)icmp_len);
		rip[6] = PKT_PROTO_ICMPV6;
		rip[7] = PKT_OUTER_TTL;
		__builtin_memcpy(rip + 8, info->tuple.dst_addr, 16);
		__builtin_memcpy(rip + 24, info->tuple.src_addr, 16);
		icmp = rip + PKT_IPV6_HLEN;
		icmp[0] = 2; /* packet too big */
		icmp[1] = 0;
		pkt_put_be16(icmp + 2, 0);
		pkt_put_be32(icmp + 4, mtu);
		sum = balancer_csum_ipv6_pseudo(info->tuple.dst_addr, info->tuple.src_addr, icmp_len,
						PKT_PROTO_ICMPV6);
	}
	int failed = 0;
	sum = balancer_csum_frame(ctx, icmp_off, icmp_len, sum, &failed);
	if (failed)
		return PKT_DROP_NO_ROOM;
	__u16 csum = (__u16)~balancer_csum_fold(sum);
	out = (__u8 *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	icmp = out + (icmp_off & 0x3f);
	if (icmp + PKT_ICMP_HLEN > (__u8 *)end)
		return PKT_DROP_NO_ROOM;
	__builtin_memcpy(icmp + 2, &csum, 2);
	return 0;
}

/* Tunnels one VIP packet toward member id (m), or answers or drops it. */
static __always_inline int balancer_send(struct xdp_md *ctx, struct balancer_counters *cnt,
					 const struct pkt_info *info,
					 const struct balancer_params *prm,
					 const struct balancer_member *m, __u32 id, __u32 now)
{
	const struct balancer_nexthop *nh;
	struct pkt_encap_params p;
	__u8 frame_dst_mac[6];
	const __u8 *frame = (const __u8 *)(long)ctx->data;

	if (frame + 6 > (const __u8 *)(long)ctx->data_end)
		return balancer_drop(cnt, PKT_DROP_TRUNCATED);
	__builtin_memcpy(frame_dst_mac, frame, 6);
	nh = balancer_nexthop(ctx, id, m, frame_dst_mac, now);
	if (!nh)
		return balancer_drop(cnt, PKT_DROP_NO_ROUTE);

	p.type = prm->encap;
	p.outer_family = m->family;
	p.has_vlan = (info->flags & PKT_F_VLAN) != 0;
	p.pad = 0;
	p.vlan_tci = info->vlan_tci;
	p.mtu = nh->mtu;
	p.gue_port = prm->gue_port;
	__builtin_memcpy(p.src_mac, nh->src_mac, 6);
	__builtin_memcpy(p.dst_mac, nh->dst_mac, 6);
	__builtin_memcpy(p.outer_dst, m->addr, sizeof(p.outer_dst));
	if (m->family == FLOW_FAMILY_IPV4) {
		p.outer_src[0] = prm->encap_source_v4;
		p.outer_src[1] = p.outer_src[2] = p.outer_src[3] = 0;
		if (!p.outer_src[0])
			return balancer_drop(cnt, PKT_DROP_NO_ROUTE);
	} else {
		__builtin_memcpy(p.outer_src, prm->encap_source_v6, sizeof(p.outer_src));
		if (!(p.outer_src[0] | p.outer_src[1] | p.outer_src[2] | p.outer_src[3]))
			return balancer_drop(cnt, PKT_DROP_NO_ROUTE);
	}
	__u32 egress = nh->ifindex;
	if (info->flags & PKT_F_ICMP_ERROR)
		cnt->value[COUNTER_ICMP_FORWARDED]++;

	switch (pkt_encap_check(info, &p)) {
	case PKT_ENCAP_OK:
		break;
	case PKT_ENCAP_TOO_BIG_REPLY: {
		int why = balancer_too_big(ctx, info, pkt_encap_inner_mtu(&p));
		if (why)
			return balancer_drop(cnt, (enum pkt_drop_reason)why);
		cnt->value[COUNTER_TOO_BIG_SENT]++;
		cnt->value[COUNTER_TX_PACKETS]++;
		cnt->value[COUNTER_TX_BYTES] += (__u64)(ctx->data_end - ctx->data);
		return XDP_TX;
	}
	default: /* TOO_BIG_FRAGMENT too: XDP makes no second packet */
		return balancer_drop(cnt, PKT_DROP_TOO_BIG);
	}

	int why = balancer_encap(ctx, info, &p);
	if (why)
		return balancer_drop(cnt, (enum pkt_drop_reason)why);
	struct balancer_member_stats *ms = bpf_map_lookup_elem(&member_stats, &id);
	if (ms) {
		ms->packets++;
		ms->bytes += info->l3_length;
	}
	cnt->value[COUNTER_TX_PACKETS]++;
	cnt->value[COUNTER_TX_BYTES] += (__u64)(ctx->data_end - ctx->data);
	if (egress == ctx->ingress_ifindex)
		return XDP_TX;
	return (int)bpf_redirect(egress, 0);
}

/*
 * Looks up the VIP of a parsed candidate: the exact (address, port,
 * protocol), or for a fragment the port-0 entry of its address and
 * protocol (gen_vip_find()'s rule).
 */
static __always_inline const struct balancer_vip *balancer_vip_find(const struct pkt_info *info)
{
	struct balancer_vip_key key;
	const struct balancer_vip *vip;

	__builtin_memcpy(key.addr, info->tuple.dst_addr, sizeof(key.addr));
	key.port = info->tuple.dst_port;
	key.proto = info->tuple.proto;
	key.family = info->tuple.family;
	vip = bpf_map_lookup_elem(&vips, &key);
	if (vip && (vip->flags & BALANCER_VIP_FRAGMENT_ONLY) && !(info->flags & PKT_F_FRAGMENT))
		return 0;
	return vip;
}

/*
 * Tunnels one packet for a VIP toward its backend, or answers or drops it.
 * flow: the packet's live flow-table entry (balancer_flow_find()) or NULL.
 */
static __always_inline int balancer_forward(struct xdp_md *ctx, struct balancer_counters *cnt,
					    const struct pkt_info *info,
					    const struct balancer_vip *vip,
					    const struct balancer_params *prm,
					    struct balancer_flow *flow, __u32 now)
{
	const struct balancer_member *m;
	__u32 id = 0;

	if (!prm->encap)
		return balancer_drop(cnt, PKT_DROP_NO_BACKEND); /* no tables published yet */
	m = balancer_choose(cnt, info, vip, prm, flow, now, &id);
	if (!m) {
		__u32 vip_id = vip->id;
		__u64 *drops = bpf_map_lookup_elem(&vip_drops, &vip_id);
		if (drops)
			*drops += 1;
		return balancer_drop(cnt, PKT_DROP_NO_BACKEND);
	}
	return balancer_send(ctx, cnt, info, prm, m, id, now);
}

SEC("xdp")
int fulcrum_balancer(struct xdp_md *ctx)
{
	const void *data = (void *)(long)ctx->data;
	const void *data_end = (void *)(long)ctx->data_end;
	const struct balancer_vip *vip;
	struct pkt_info info;
	enum pkt_verdict verdict;
	enum pkt_drop_reason why;
	__u32 zero = 0;
	struct balancer_counters *cnt = bpf_map_lookup_elem(&counters, &zero);
	const struct balancer_params *prm = bpf_map_lookup_elem(&params, &zero);

	if (!cnt || !prm)
		return XDP_PASS; /* cannot happen: entry 0 of an array */
	cnt->value[COUNTER_RX_PACKETS]++;
	cnt->value[COUNTER_RX_BYTES] += (__u64)(data_end - data);
	verdict = pkt_parse(data, data_end, &info);
	if (verdict == PKT_VERDICT_DROP)
		return balancer_drop(cnt, (enum pkt_drop_reason)info.drop_reason);
	if (verdict != PKT_VERDICT_CANDIDATE)
		goto kernel;

	vip = balancer_vip_find(&info);
	if (!vip)
		goto kernel;
	why = pkt_vip_check(&info);
	if (why != PKT_DROP_NONE)
		return balancer_drop(cnt, why);
	/* One clock read per packet: the flow table and the next-hop cache
	 * share it. */
	const __u32 now = balancer_now();
	return balancer_forward(ctx, cnt, &info, vip, prm, balancer_flow_find(cnt, &info, now),
				now);
kernel:
	cnt->value[COUNTER_KERNEL_PACKETS]++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
