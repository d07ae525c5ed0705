/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * The dataplane's counters: one list for lb-dpdk's workers, the XDP program,
 * the control channel's stats message, lbd's metrics and lbctl. Each
 * dataplane keeps them per lcore / per CPU and readers sum them; nothing on
 * the fast path is shared.
 *
 * Indices are part of the control channel's stats format, which carries
 * its counter count: a reader takes the counters it knows and an older
 * writer's missing tail reads as 0. So the list only grows at its end:
 * the first plain counters, then the drop reasons (dataplane/pkt.h), one
 * each, named "drop_<reason>", then the counters added since, in
 * COUNTERS_ADDED.
 */
#ifndef FULCRUM_COUNTERS_H
#define FULCRUM_COUNTERS_H

#include "dataplane/pkt.h"

/* X(enum member, name, meaning) */
#define COUNTERS(X)                                                                                \
	X(COUNTER_RX_PACKETS, "rx_packets", "frames received from the ports")                       \
	X(COUNTER_RX_BYTES, "rx_bytes", "bytes received from the ports")                            \
	X(COUNTER_TX_PACKETS, "tx_packets", "frames sent: tunnelled packets and ICMP replies")      \
	X(COUNTER_TX_BYTES, "tx_bytes", "bytes sent: tunnelled packets and ICMP replies")           \
	X(COUNTER_KERNEL_PACKETS, "kernel_packets", "frames not for a VIP, handed to the kernel")   \
	X(COUNTER_FLOW_NEW, "flow_new", "flows given a backend from the ring and remembered")       \
	X(COUNTER_FLOW_HIT, "flow_hit", "packets sent to the backend their flow remembered")        \
	X(COUNTER_FLOW_MOVED, "flow_moved", "remembered flows whose backend was removed or down")   \
	X(COUNTER_FLOW_EVICTED, "flow_evicted", "live flows forgotten to make room (table full)")   \
	X(COUNTER_ICMP_FORWARDED, "icmp_forwarded", "ICMP errors sent to the backend of their flow") \
	X(COUNTER_TOO_BIG_SENT, "too_big_sent", "fragmentation-needed / packet-too-big replies")     \
	X(COUNTER_FRAGMENTED, "fragmented", "packets fragmented before tunnelling: too big, DF clear") \
	X(COUNTER_FROM_KERNEL_PACKETS, "from_kernel_packets", "frames the kernel sent out a port")

/* Counters added after the drop reasons; new ones go at the end. */
#define COUNTERS_ADDED(X)                                                                          \
	X(COUNTER_FLOW_PROMOTED, "flow_promoted",                                                   \
	  "new flows that sent a second packet and entered the flow table")                        \
	X(COUNTER_FLOW_NEW_EVICTED, "flow_new_evicted",                                             \
	  "new flows forgotten before a second packet to make room (a flood of new flows)")

#define COUNTER_ENUM_MEMBER(name, text, meaning) name,
enum counter {
	COUNTERS(COUNTER_ENUM_MEMBER) COUNTER_DROP_BASE,
	/* COUNTER_DROP_BASE + reason counts drops for that pkt_drop_reason
	 * (reason 0, "none", is never counted). */
	COUNTER_DROP_LAST = COUNTER_DROP_BASE + PKT_DROP_REASON_COUNT - 1,
	COUNTERS_ADDED(COUNTER_ENUM_MEMBER) COUNTER_COUNT
};
#undef COUNTER_ENUM_MEMBER

static __always_inline __u32 counter_drop(enum pkt_drop_reason reason)
{
	return COUNTER_DROP_BASE + (__u32)reason;
}

/* Whether a counter counts drops (one reason each). */
static __always_inline int counter_is_drop(__u32 counter)
{
	return counter > COUNTER_DROP_BASE && counter <= COUNTER_DROP_LAST;
}

#ifndef __bpf__
/* "rx_packets", "drop_truncated", ...; "unknown" past the end. */
const char *counter_name(__u32 counter);
const char *counter_meaning(__u32 counter);
#endif

#endif /* FULCRUM_COUNTERS_H */
