/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packets of lbd's half-open TCP check (health type "tcp-half-open"):
 * a SYN sent from a raw socket, and the backend's answer read from one.
 *
 * A SYN-ACK says the port listens (up), a reset says it is closed (down);
 * the kernel answers the SYN-ACK with a reset, because no socket of this
 * host is connected or listening on the source port (it is reserved with a
 * socket bound to it that never listens), so the backend keeps no state.
 * No socket per check: sends go out in batches, replies come in batches
 * from one raw socket per family whose classic BPF filter lets through only
 * answers to the reserved port.
 *
 * The SYN's sequence number is a keyed cookie of (backend, port, send
 * time); a reply counts only if it comes from the probed address and port
 * and acknowledges that number + 1, so neither a stale reply nor a spoofed
 * one can vouch for a backend.
 *
 * Everything here is pure: no sockets, no clock. health.c owns the sockets.
 */
#ifndef FULCRUM_HEALTH_SYN_H
#define FULCRUM_HEALTH_SYN_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/types.h>

#include "controlplane/conf.h"

/* The SYN: a 20-byte TCP header and an MSS option, as any client sends. */
#define HEALTH_SYN_LEN 24
/* The longest classic BPF filter health_syn_filter() writes. */
#define HEALTH_SYN_FILTER_MAX 10
#define HEALTH_SYN_KEY_LEN 16
/* Where the TCP checksum is in the header: IPV6_CHECKSUM's offset. */
#define HEALTH_SYN_CHECKSUM_OFFSET 16

enum health_syn_answer {
	HEALTH_SYN_ACCEPTED, /* SYN-ACK: the port listens */
	HEALTH_SYN_REFUSED,  /* RST: nothing listens there */
};

/* A reply as read from a raw socket. Addresses in network byte order,
 * ports and numbers in host order. */
struct health_syn_reply {
	struct conf_addr from;
	__u16 from_port, to_port;
	__u32 ack;
	enum health_syn_answer answer;
};

/* SipHash-2-4 of len bytes at data under key (Aumasson and Bernstein's
 * reference: little-endian words, the length in the last byte). */
__u64 health_syn_siphash(const __u8 key[HEALTH_SYN_KEY_LEN], const void *data, size_t len);

/* The ISN of a check of addr:port sent at time_us, keyed by key (random,
 * drawn once by the engine). SipHash-2-4, the kernel's choice for its own
 * SYN cookies and sequence numbers. */
__u32 health_syn_cookie(const __u8 key[HEALTH_SYN_KEY_LEN], const struct conf_addr *addr,
			__u16 port, __u64 time_us);

/*
 * Writes the SYN from src_port to dst_port with sequence number isn into
 * buf (HEALTH_SYN_LEN bytes) and returns its length. For IPv4, src and dst
 * are the addresses the packet will carry (the checksum covers them); for
 * IPv6 they are not used and the checksum is left 0 for the kernel to fill
 * (IPV6_CHECKSUM).
 */
size_t health_syn_build(__u8 *buf, __u16 src_port, __u16 dst_port, __u32 isn,
			const struct conf_addr *src, const struct conf_addr *dst);

/*
 * Reads a packet from a raw socket: for IPv4 (family FLOW_FAMILY_IPV4) it
 * starts with the IP header; for IPv6 with the TCP header, and from is the
 * sender (the socket's msg_name; NULL for IPv4). Fills out and returns 0
 * for a SYN-ACK or a reset that acknowledges something; -EINVAL for
 * anything else (truncated, a fragment, not TCP, other flags), with out
 * zeroed.
 */
int health_syn_parse(const __u8 *pkt, size_t len, __u8 family, const struct conf_addr *from,
		     struct health_syn_reply *out);

/* Whether reply answers the SYN sent to addr:port with isn from our port. */
bool health_syn_matches(const struct health_syn_reply *reply, const struct conf_addr *addr,
			__u16 port, __u16 our_port, __u32 isn);

/*
 * The classic BPF filter (SO_ATTACH_FILTER) of a raw TCP socket of family
 * that copies to the socket only what health_syn_parse() takes: packets to
 * our_port with ACK and SYN or RST set, no fragments. An IPv4 raw socket's
 * filter sees the IP header first, an IPv6 one's the TCP header. Writes at
 * most HEALTH_SYN_FILTER_MAX instructions to prog and returns how many.
 */
unsigned short health_syn_filter(__u8 family, __u16 our_port, struct sock_filter *prog);

#endif /* FULCRUM_HEALTH_SYN_H */
