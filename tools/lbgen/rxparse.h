/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen's receive parser: finds the probe (tools/lbgen/probe.h) in a frame
 * that comes back, either as lbgen sent it or tunnelled by a balancer toward
 * a backend: IPIP, IP6IP6, 4in6, 6in4, or GUE (variant 0 with a GUE header,
 * variant 1 with the inner IP header straight after UDP) to a given UDP
 * port, over IPv4 or IPv6. It reports the tunnel, its destination (the
 * backend), the inner 5-tuple and the probe, and checks every checksum on
 * the way: outer IPv4 header, GUE's UDP checksum when one was sent, inner
 * IPv4 header, inner TCP or UDP.
 *
 * Reads nothing outside frame .. frame + len; any thread; no state.
 */
#ifndef FULCRUM_LBGEN_RXPARSE_H
#define FULCRUM_LBGEN_RXPARSE_H

#include "dataplane/flow_hash.h"

enum rxparse_encap {
	RXPARSE_ENCAP_NONE,   /* the frame as sent (a forwarder, a loopback) */
	RXPARSE_ENCAP_IPIP,   /* IPv4 in IPv4 */
	RXPARSE_ENCAP_IP6IP6, /* IPv6 in IPv6 */
	RXPARSE_ENCAP_4IN6,   /* IPv4 in IPv6 */
	RXPARSE_ENCAP_6IN4,   /* IPv6 in IPv4 */
	RXPARSE_ENCAP_GUE,    /* either family in GUE over either family */
	RXPARSE_ENCAP_COUNT
};

enum rxparse_verdict {
	RXPARSE_OURS,	  /* a probe was found: result filled in */
	RXPARSE_NOT_OURS, /* anything else (ARP, ND, a fragment, a truncated frame) */
};

struct rxparse_result {
	__u8 encap;		 /* enum rxparse_encap */
	__u8 backend_family;	 /* FLOW_FAMILY_* of backend */
	__u8 checksums_ok;	 /* 1 when every checksum checked was right */
	__u8 tcp_flags;		 /* inner TCP flags, 0 for UDP */
	__be32 backend[4];	 /* the tunnel's destination; with no tunnel, the
				  * packet's own destination (the VIP) */
	struct flow_tuple tuple; /* the inner packet's, client -> VIP */
	__u32 flow;		 /* the probe's fields, host order */
	__u64 seq;
	__u64 tx_tsc;
};

/* One IP datagram carrying TCP or UDP, as rxparse_ip() finds it. */
struct rxparse_l3 {
	struct flow_tuple tuple;
	__u32 l4_offset; /* from the IP header */
	__u32 l4_len;	 /* the TCP or UDP segment, header included */
	__u32 l4_hlen;
	__u8 tcp_flags;
	__u8 ip_csum_ok; /* IPv4 header checksum right (IPv6: always 1) */
};

/*
 * Parses the frame; on RXPARSE_OURS fills r. gue_port is the UDP
 * destination port (host order) that marks GUE; 0 recognises no GUE.
 */
enum rxparse_verdict rxparse_frame(const __u8 *frame, __u32 len, __u16 gue_port,
				   struct rxparse_result *r);

/* Ethernet with at most one 802.1Q tag: returns the IP family the
 * EtherType names and sets *l3_offset, or returns 0. */
__u8 rxparse_ethernet(const __u8 *frame, __u32 len, __u32 *l3_offset);

/*
 * An IP datagram (avail bytes at ip) carrying TCP or UDP: not a fragment,
 * IPv6 without extension headers, lengths consistent. Returns 0 with l3
 * filled, or -EPROTO.
 */
int rxparse_ip(const __u8 *ip, __u32 avail, struct rxparse_l3 *l3);

/* "none", "ipip", "ip6ip6", "4in6", "6in4", "gue": the JSON keys. */
const char *rxparse_encap_name(enum rxparse_encap encap);

#endif /* FULCRUM_LBGEN_RXPARSE_H */
