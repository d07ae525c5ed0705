/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * The flow hash and the ring lookup: the one definition of "which backend does
 * this flow get". lb-dpdk, the XDP programs in bpf/, lbd (lbctl lookup) and the
 * tests all include this header, so the same 5-tuple picks the same ring slot
 * in either dataplane and on every Fulcrum instance.
 *
 * It compiles both as BPF (clang -target bpf) and as ordinary C: no libc, no
 * global state, fixed-count loops only, every function static inline.
 *
 * Determinism is the point. There is no per-process seed: changing
 * FLOW_HASH_SEED, the word layout below or the mixing constants moves every
 * flow of every fleet, so treat them as a wire format.
 *
 * The hash is MurmurHash3's 32-bit block and finalisation steps (Austin
 * Appleby's public-domain algorithm) applied to host-order 32-bit words, so the
 * value does not depend on the byte order of the machine computing it.
 */
#ifndef FULCRUM_FLOW_HASH_H
#define FULCRUM_FLOW_HASH_H

#include <linux/types.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define FLOW_HASH_SEED 0x46756c63u /* "Fulc" */

/* Ring entries hold a backend index; this one means "no backend". */
#define FLOW_NO_BACKEND 0xffffffffu

/* Address families as stored in flow_tuple.family (IP version numbers). */
#define FLOW_FAMILY_IPV4 4
#define FLOW_FAMILY_IPV6 6

/*
 * How long a new flow waits among the new flows (lb-dpdk's new_flows table,
 * the XDP balancer's new_flows map) for its second packet, or its
 * protocol's idle timeout if shorter: long enough for a TCP handshake's
 * ACK, or a UDP request's next datagram, across a slow path; short, so that
 * a flood's entries make room for each other quickly.
 */
#define FLOW_NEW_TIMEOUT_S 10u

/* The new-flow table's size unless configured: an eighth of the flow
 * table's, at least 1024 (dataplane.new_flow_table_size in README). */
static __always_inline __u32 flow_new_table_size_default(__u32 flow_table_size)
{
	return flow_table_size / 8 > 1024 ? flow_table_size / 8 : 1024;
}

/*
 * A flow as the client sent it: src = client, dst = VIP. Addresses and ports
 * are in network byte order exactly as on the wire; an IPv4 address sits in
 * word 0 of its array and words 1..3 are zero. For fragments the ports are
 * zero (see flow_tuple_drop_ports()).
 */
struct flow_tuple {
	__be32 src_addr[4];
	__be32 dst_addr[4];
	__be16 src_port;
	__be16 dst_port;
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* FLOW_FAMILY_IPV4 or FLOW_FAMILY_IPV6 */
	__u8 pad[2]; /* always zero: the struct is used as a hash-table key */
};

static __always_inline __u32 flow_hash_be32_to_host(__be32 v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32((__u32)v);
#else
	return (__u32)v;
#endif
}

static __always_inline __u16 flow_hash_be16_to_host(__be16 v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap16((__u16)v);
#else
	return (__u16)v;
#endif
}

static __always_inline __u32 flow_hash_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* Folds one 32-bit word into the running state. */
static __always_inline __u32 flow_hash_mix(__u32 state, __u32 word)
{
	word *= 0xcc9e2d51u;
	word = flow_hash_rotl32(word, 15);
	word *= 0x1b873593u;
	state ^= word;
	state = flow_hash_rotl32(state, 13);
	return state * 5 + 0xe6546b64u;
}

/* Avalanches the state; nwords is the number of words mixed in. */
static __always_inline __u32 flow_hash_finish(__u32 state, __u32 nwords)
{
	state ^= nwords * 4;
	state ^= state >> 16;
	state *= 0x85ebca6bu;
	state ^= state >> 13;
	state *= 0xc2b2ae35u;
	state ^= state >> 16;
	return state;
}

/*
 * Hash of nwords host-order words with the given seed. For the control plane
 * (Maglev permutations) and tests; the packet path uses flow_hash() below,
 * whose word count is fixed per family.
 */
static __always_inline __u32 flow_hash_words(const __u32 *words, __u32 nwords, __u32 seed)
{
	__u32 state = seed;
	__u32 i;

	for (i = 0; i < nwords && i < 16; i++)
		state = flow_hash_mix(state, words[i]);
	return flow_hash_finish(state, nwords);
}

/* The word that carries protocol and family, last word of every flow hash. */
static __always_inline __u32 flow_hash_proto_word(const struct flow_tuple *t)
{
	return ((__u32)t->family << 8) | t->proto;
}

static __always_inline __u32 flow_hash_ports_word(const struct flow_tuple *t)
{
	return ((__u32)flow_hash_be16_to_host(t->src_port) << 16) |
	       flow_hash_be16_to_host(t->dst_port);
}

/*
 * The flow hash of a 5-tuple. IPv4 mixes 4 words (src, dst, ports, proto and
 * family); IPv6 mixes 10 (4 src, 4 dst, ports, proto and family).
 */
static __always_inline __u32 flow_hash(const struct flow_tuple *t)
{
	__u32 state = FLOW_HASH_SEED;

	if (t->family == FLOW_FAMILY_IPV4) {
		state = flow_hash_mix(state, flow_hash_be32_to_host(t->src_addr[0]));
		state = flow_hash_mix(state, flow_hash_be32_to_host(t->dst_addr[0]));
		state = flow_hash_mix(state, flow_hash_ports_word(t));
		state = flow_hash_mix(state, flow_hash_proto_word(t));
		return flow_hash_finish(state, 4);
	}
	state = flow_hash_mix(state, flow_hash_be32_to_host(t->src_addr[0]));
	state = flow_hash_mix(state, flow_hash_be32_to_host(t->src_addr[1]));
	state = flow_hash_mix(state, flow_hash_be32_to_host(t->src_addr[2]));
	state = flow_hash_mix(state, flow_hash_be32_to_host(t->src_addr[3]));
	state = flow_hash_mix(state, flow_hash_be32_to_host(t->dst_addr[0]));
	state = flow_hash_mix(state, flow_hash_be32_to_host(t->dst_addr[1]));
	state = flow_hash_mix(state, flow_hash_be32_to_host(t->dst_addr[2]));
	state = flow_hash_mix(state, flow_hash_be32_to_host(t->dst_addr[3]));
	state = flow_hash_mix(state, flow_hash_ports_word(t));
	state = flow_hash_mix(state, flow_hash_proto_word(t));
	return flow_hash_finish(state, 10);
}

/*
 * The address-only variant: fragments of one datagram (only the first carries
 * ports) must all reach one backend, so every fragment is hashed on addresses,
 * protocol and family alone. Equal to flow_hash() of the tuple with both ports
 * zero, which is how the parser stores fragments.
 */
static __always_inline void flow_tuple_drop_ports(struct flow_tuple *t)
{
	t->src_port = 0;
	t->dst_port = 0;
}

static __always_inline __u32 flow_hash_addrs(const struct flow_tuple *t)
{
	struct flow_tuple addrs_only = *t;

	flow_tuple_drop_ports(&addrs_only);
	return flow_hash(&addrs_only);
}

/* The ring slot of a hash in a table of ring_size entries (a prime, > 0). */
static __always_inline __u32 flow_hash_ring_slot(__u32 hash, __u32 ring_size)
{
	return hash % ring_size;
}

/*
 * The backend index a ring gives a hash, or FLOW_NO_BACKEND for an empty ring
 * (a VIP with no eligible backend, which the dataplanes drop and count).
 */
static __always_inline __u32 flow_hash_ring_lookup(const __u32 *ring, __u32 ring_size, __u32 hash)
{
	if (ring_size == 0)
		return FLOW_NO_BACKEND;
	return ring[flow_hash_ring_slot(hash, ring_size)];
}

/*
 * GUE's outer UDP source port: in the dynamic range 49152..65535 and taken
 * from the hash bits the ring slot uses least, so backends' RSS spreads flows.
 * Returned in host order.
 */
static __always_inline __u16 flow_hash_gue_source_port(__u32 hash)
{
	return (__u16)(0xc000u | ((hash >> 18) & 0x3fffu));
}

/* The outer IPv6 flow label (RFC 6438): 20 bits of the flow hash, never 0. */
static __always_inline __u32 flow_hash_ipv6_flow_label(__u32 hash)
{
	__u32 label = (hash ^ (hash >> 20)) & 0xfffffu;

	return label ? label : 1;
}

#endif /* FULCRUM_FLOW_HASH_H */
