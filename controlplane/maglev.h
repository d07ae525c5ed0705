/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Weighted Maglev consistent hashing (Eisenbud et al., NSDI 2016), built in
 * the control plane and published to the dataplanes as a ring of backend
 * indices that flow_hash_ring_lookup() reads.
 */
#ifndef FULCRUM_MAGLEV_H
#define FULCRUM_MAGLEV_H

#include <stdbool.h>
#include <linux/types.h>

#define MAGLEV_TABLE_SIZE_DEFAULT 65537u
#define MAGLEV_TABLE_SIZE_MIN     7u
#define MAGLEV_TABLE_SIZE_MAX     16777213u /* largest prime below 2^24 */
#define MAGLEV_BACKENDS_MAX       65535u

/*
 * One backend as the builder sees it. Its place in the table depends only on
 * (family, addr, port) — its stable key — and weight; names and the order of
 * the input array do not matter.
 */
struct maglev_backend {
	__be32 addr[4]; /* network order; IPv4 in addr[0], the rest zero */
	__be16 port;    /* network order */
	__u8 family;    /* FLOW_FAMILY_IPV4 or FLOW_FAMILY_IPV6 */
	__u32 weight;   /* 0 = no slots */
};

/*
 * The canonical order of backends by stable key: family, then address bytes,
 * then port bytes. Ring ranks count in this order, and the control channel
 * lists a VIP's backends in it. Returns <0, 0 or >0 as memcmp.
 */
int maglev_key_order(__u8 family_a, const __be32 *addr_a, __be16 port_a, __u8 family_b,
		     const __be32 *addr_b, __be16 port_b);

/* True when size is a prime Maglev accepts as a table size. */
bool maglev_table_size_valid(__u32 size);

/*
 * Fills ring[0..ring_size) so that each backend owns a share of slots
 * proportional to its weight. Ring entries are ranks: positions of backends in
 * canonical order (sorted by stable key), so the same set of backends, given in
 * any order, gives a byte-identical ring on any host. canonical_order, when
 * not NULL, receives backend_count entries: canonical_order[rank] is the index
 * into backends[] of the backend with that rank. With no backend of non-zero
 * weight every slot is FLOW_NO_BACKEND.
 *
 * Returns 0, -EINVAL (ring_size not a valid prime, too many backends, or a
 * bad family), -EEXIST (two backends share a key) or -ENOMEM.
 * Thread-safe: it touches only its arguments and its own scratch memory.
 */
int maglev_build(const struct maglev_backend *backends, __u32 backend_count, __u32 *ring,
		 __u32 ring_size, __u32 *canonical_order);

#endif /* FULCRUM_MAGLEV_H */
