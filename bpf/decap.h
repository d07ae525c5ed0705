/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * What the backend-side decapsulation program (bpf/decap.bpf.c) and its
 * loader (tools/fulcrum-decap.c) share: the map of addresses tunnels must be
 * sent to, and the counters.
 */
#ifndef FULCRUM_DECAP_H
#define FULCRUM_DECAP_H

#include <linux/types.h>

#define DECAP_ADDRS_MAX 64

/* An outer destination address this node accepts tunnels on. Network order. */
struct decap_addr {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__be32 addr[4];
};

/* X(enum member, name, meaning) */
#define DECAP_COUNTERS(X)                                                                          \
	X(DECAP_CTR_DECAPSULATED, "decapsulated", "tunnelled packets handed to the stack")          \
	X(DECAP_CTR_NOT_TUNNEL, "not_tunnel", "packets that are no tunnel for this node: passed")   \
	X(DECAP_CTR_FRAGMENTED, "fragmented", "fragmented outer packets: passed, not reassembled")  \
	X(DECAP_CTR_MALFORMED, "malformed", "tunnel packets to this node too short or bad: dropped") \
	X(DECAP_CTR_NO_ROOM, "no_room", "packets whose headers could not be moved: dropped")

#define DECAP_ENUM_MEMBER(name, text, meaning) name,
enum decap_counter { DECAP_COUNTERS(DECAP_ENUM_MEMBER) DECAP_CTR_COUNT };
#undef DECAP_ENUM_MEMBER

#endif /* FULCRUM_DECAP_H */
