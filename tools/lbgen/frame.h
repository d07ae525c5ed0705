/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The frames lbgen sends: Ethernet, IPv4 or IPv6, TCP or UDP, the probe
 * (tools/lbgen/probe.h) at the start of the payload and zeros after it, every
 * checksum right. Plain bytes, no DPDK.
 *
 * Frame sizes count the 4-byte Ethernet FCS, as RFC 2544 and Pktgen-DPDK
 * count them: a 64-byte frame is 60 bytes handed to the NIC, which appends
 * the FCS.
 */
#ifndef FULCRUM_LBGEN_FRAME_H
#define FULCRUM_LBGEN_FRAME_H

#include <stddef.h>

#include "dataplane/flow_hash.h"

#define FRAME_FCS_LEN  4
#define FRAME_SIZE_MIN 64
#define FRAME_SIZE_MAX 9018 /* a 9000-byte MTU */
#define FRAME_TTL      64

/* What changes from one packet to the next. */
struct frame_packet {
	const struct flow_tuple *tuple; /* client -> VIP */
	__u8 tcp_flags;			/* PKT_TCP_*; ignored for UDP */
	__u32 size;			/* frame size with FCS */
	__u32 flow;			/* the probe's fields */
	__u64 seq;
	__u64 tx_tsc;
};

/* The Ethernet addresses every frame carries. */
struct frame_l2 {
	__u8 dst_mac[6];
	__u8 src_mac[6];
};

/* The smallest frame, FCS included, that holds the headers of a family and
 * protocol and the probe (never below 64 bytes). */
__u32 frame_size_min(__u8 family, __u8 proto);

/*
 * Writes one frame at buf (room bytes): the tuple's headers, IPv4 with DF,
 * TTL 64 and the sequence number's low bits as its ID, or IPv6 with hop
 * limit 64; TCP with the flags, the sequence number's low 32 bits as its
 * sequence number and a 64 KiB window, or UDP; then the probe and zeros.
 * Returns the bytes written (size - FCS), or 0 when the size is below
 * frame_size_min() or above room + FCS.
 */
__u32 frame_build(__u8 *buf, __u32 room, const struct frame_l2 *l2, const struct frame_packet *p);

/*
 * The ones'-complement sum (dataplane/pkt.h's pkt_csum_add() convention) of
 * a TCP or UDP pseudo-header: addresses (4 or 16 bytes each, network
 * order), protocol, and the segment's length.
 */
__u32 frame_pseudo_sum(__u8 family, const void *src, const void *dst, __u8 proto, __u32 l4_len);

/*
 * Writes a probe into a captured frame (a replayed one) and recomputes its
 * TCP or UDP checksum. The frame must be Ethernet (one VLAN tag allowed),
 * unfragmented IPv4 or IPv6 without extension headers, TCP or UDP, with at
 * least PROBE_LEN bytes of payload. Returns 0, -EPROTO for another kind of
 * frame, -ENOSPC when the payload is too short.
 */
int frame_stamp(__u8 *frame, __u32 len, __u32 flow, __u64 seq, __u64 tx_tsc);

#endif /* FULCRUM_LBGEN_FRAME_H */
