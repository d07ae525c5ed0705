/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * What the XDP balancer (bpf/balancer.bpf.c) and lbd, which loads it and
 * writes its tables (controlplane/xdp.c), share: the maps' keys and values.
 * Byte order is noted on every field: "net" is network order as in packets,
 * everything else is the CPU's.
 *
 * The tables mirror a lb-dpdk table generation (dataplane/gen.h), and lbd
 * builds them with the same code: member ids are stable per (VIP, backend)
 * pair, the flow table stores member ids, and the members map tells the
 * program whether a remembered backend may still carry its flow.
 *
 *   vips      hash   balancer_vip_key -> balancer_vip; one entry per VIP
 *                    plus a port-0 entry per (address, protocol) that
 *                    routes fragments (BALANCER_VIP_FRAGMENT_ONLY)
 *   rings     array of maps, indexed by balancer_vip.ring: one array of
 *                    __u32 member ids (or FLOW_NO_BACKEND) per VIP, sized
 *                    to its table; a new size gets a new slot so that a
 *                    VIP's size and ring always change together
 *   members   array  member id -> balancer_member
 *   params    array  [0] -> balancer_params, the generation's parameters
 *   flows     LRU hash (per-CPU LRU lists) flow_tuple -> balancer_flow:
 *             flows that have sent at least two packets
 *   new_flows the same, smaller: a flow's first packet leaves it here, its
 *             second moves it into flows (dataplane/flow_table.h says why)
 *   counters, member_stats, vip_drops: per-CPU counters that lbd sums
 *   nexthops  per-CPU array member id -> balancer_nexthop, a cache of
 *             bpf_fib_lookup() refreshed every tick
 */
#ifndef FULCRUM_BALANCER_H
#define FULCRUM_BALANCER_H

#include <linux/types.h>

#include "dataplane/counters.h"
#include "dataplane/flow_hash.h"

/* Map sizes. VIPs and rings as lb-dpdk allows (CHAN_VIPS_MAX, GEN_VIPS_MAX);
 * members and flows are set from the config before load. */
#define BALANCER_VIPS_MAX        4096
#define BALANCER_VIP_ENTRIES_MAX (2 * BALANCER_VIPS_MAX) /* with fragment entries */
#define BALANCER_RINGS_MAX       (2 * BALANCER_VIPS_MAX)
#define BALANCER_MEMBERS_DEFAULT 65536
#define BALANCER_FLOWS_DEFAULT   1048576
#define BALANCER_NEW_FLOWS_DEFAULT (BALANCER_FLOWS_DEFAULT / 8) /* flow_new_table_size_default() */

/*
 * The program's clock: CLOCK_MONOTONIC in ticks of 2^30 ns (1.074 s), which
 * flow expiry times and idle timeouts are counted in. A shift, where seconds
 * would cost a 64-bit division per packet (about 15 ns on this machine's
 * CPUs, a quarter of the established-flow budget). lbd converts at the edge.
 */
#define BALANCER_TICK_SHIFT 30
#define BALANCER_TICK_NS    (1ull << BALANCER_TICK_SHIFT)

/* FLOW_NEW_TIMEOUT_S in ticks, rounded up. */
#define BALANCER_NEW_FLOW_TICKS                                                                    \
	((__u32)((FLOW_NEW_TIMEOUT_S * 1000000000ull + BALANCER_TICK_NS - 1) >> BALANCER_TICK_SHIFT))

/* The names lbd pins the maps under (the map names in balancer.bpf.c). */
#define BALANCER_MAPS(X)                                                                           \
	X(vips) X(rings) X(members) X(params) X(flows) X(new_flows) X(counters) X(member_stats)   \
		X(vip_drops) X(nexthops)

/* A VIP as packets name it: the layout of struct chan_vip_key. */
struct balancer_vip_key {
	__be32 addr[4]; /* net; IPv4 in word 0, words 1..3 zero */
	__be16 port;    /* net; 0 in a fragment entry */
	__u8 proto;     /* PKT_PROTO_TCP / PKT_PROTO_UDP */
	__u8 family;    /* FLOW_FAMILY_IPV4 / FLOW_FAMILY_IPV6 */
};

#define BALANCER_VIP_FRAGMENT_ONLY 0x1u /* matches fragments only (port 0 entry) */

struct balancer_vip {
	__u32 id;        /* stable VIP id: index of vip_drops */
	__u32 ring;      /* index into rings */
	__u32 ring_size; /* entries of that ring (a prime) */
	__u32 flags;     /* BALANCER_VIP_* */
};

/* enum gen_member_state: ABSENT 0, READY 1, DRAIN 2 */
struct balancer_member {
	__be32 addr[4]; /* net; the tunnel's outer destination */
	__u8 family;    /* FLOW_FAMILY_*; 0 for an id not in use */
	__u8 state;     /* enum gen_member_state */
	__be16 port;    /* net; the backend's port, part of the member's key */
	__u32 vip;      /* the member's VIP id */
};

struct balancer_params {
	__u8 encap;               /* enum pkt_encap_type; 0 until lbd publishes */
	__u8 pad;
	__be16 gue_port;          /* net */
	__be32 encap_source_v4;   /* net; 0 = no IPv4 tunnels */
	__be32 encap_source_v6[4]; /* net; :: = no IPv6 tunnels */
	__u32 tcp_idle_ticks;     /* the idle timeouts, rounded up to ticks */
	__u32 udp_idle_ticks;
	__u64 generation;         /* the generation these tables are */
};

struct balancer_flow {
	__u32 member;    /* member id */
	__u32 expires;   /* CLOCK_MONOTONIC ticks; stale from then on */
};

/* One CPU's counters, indexed as dataplane/counters.h lists them. */
struct balancer_counters {
	__u64 value[COUNTER_COUNT];
};

struct balancer_member_stats {
	__u64 packets;   /* tunnelled to the member */
	__u64 bytes;     /* the client's IP bytes of those */
	__u64 flows_new; /* flows the ring gave it */
};

/* One CPU's idea of where a backend's packets go next. */
struct balancer_nexthop {
	__u8 dst_mac[6];
	__u8 src_mac[6];
	__u32 ifindex;    /* egress interface */
	__u16 mtu;        /* its IP MTU toward the backend */
	__u8 valid;       /* 0: no route or no neighbour at the last lookup */
	__u8 pad;
	__u32 checked;    /* when the FIB was last asked (CLOCK_MONOTONIC ticks) */
	__be32 addr[4];   /* net; the backend asked about: a reused id asks again */
};

#endif /* FULCRUM_BALANCER_H */
