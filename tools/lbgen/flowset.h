/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen's flow set: the flows a run sends, from ranges of client addresses,
 * client ports, VIP addresses and VIP ports (or, for a replayed capture, the
 * distinct 5-tuples found in it), numbered 0 .. flow_count - 1.
 *
 * A flow's number decomposes with the VIP varying fastest, then the VIP
 * port, the client port and the client address:
 *
 *   flow = ((client * client_ports + client_port) * vip_ports + vip_port)
 *          * vips + vip
 *
 * An IPv4 VIP's flows take their client from the IPv4 client range, an IPv6
 * VIP's from the IPv6 range; when both families are used the two ranges have
 * the same size, so the numbering stays one product.
 *
 * The order a run visits the flows in: each round of flow_count packets
 * sends every flow once, either in number order or in a pseudo-random order
 * that is a permutation of the numbers (a 4-round Feistel network over the
 * next even power of two, cycle-walked back into range), reproducible from
 * its seed. No DPDK here: the unit tests use it as lbgen does.
 */
#ifndef FULCRUM_LBGEN_FLOWSET_H
#define FULCRUM_LBGEN_FLOWSET_H

#include <stddef.h>

#include "dataplane/flow_hash.h"

#define FLOWSET_VIP_RANGES_MAX 16
/* lbgen's receive side keeps 8 bytes of state per flow (its backend, its
 * last sequence number): 128 MiB at this limit. */
#define FLOWSET_FLOWS_MAX (1u << 24)
/* One range holds at most this many addresses (an IPv4 /0, an IPv6 /96). */
#define FLOWSET_RANGE_MAX (1ull << 32)

struct flowset_addr_range {
	__u8 family;	/* FLOW_FAMILY_IPV4 or _IPV6; 0 when not given */
	__u8 first[16]; /* network order; an IPv4 address in the first 4 bytes */
	__u64 count;	/* addresses from first on, at least 1 */
};

struct flowset_port_range {
	__u16 first; /* host order */
	__u32 count; /* at least 1; first + count - 1 <= 65535 */
};

struct flowset {
	__u8 proto;			      /* PKT_PROTO_TCP or PKT_PROTO_UDP */
	struct flowset_addr_range clients[2]; /* [0] IPv4, [1] IPv6 */
	struct flowset_port_range client_ports;
	struct flowset_addr_range vips[FLOWSET_VIP_RANGES_MAX];
	__u32 vip_range_count;
	struct flowset_port_range vip_ports;

	/* Set by flowset_finish() or flowset_use_list(). */
	__u64 client_count;
	__u64 vip_count;
	__u64 flow_count;
	const struct flow_tuple *list; /* replay: flow n is list[n] */

	/* Set by flowset_order(). */
	int random;
	__u32 half_bits; /* the Feistel network permutes 2 * half_bits bits */
	__u64 keys[4];
};

/*
 * Parsers of command-line text. Each returns 0, or -EINVAL with a message
 * naming the bad value in err (err_size bytes).
 *
 * An address range is ADDR, FIRST-LAST or ADDR/LENGTH (every address of the
 * prefix), IPv4 or IPv6, of at most FLOWSET_RANGE_MAX addresses. A port range
 * is PORT or FIRST-LAST.
 */
int flowset_parse_addr_range(const char *text, struct flowset_addr_range *r, char *err,
			     size_t err_size);
int flowset_parse_port_range(const char *text, struct flowset_port_range *r, char *err,
			     size_t err_size);

/* Sets the client range of text's family (given twice: an error). */
int flowset_add_clients(struct flowset *fs, const char *text, char *err, size_t err_size);
/* Adds a range of VIP addresses. */
int flowset_add_vips(struct flowset *fs, const char *text, char *err, size_t err_size);

/*
 * Checks the ranges against each other and counts the flows: a protocol, at
 * least one VIP, a client range for each family the VIPs use (of equal sizes
 * when both are), at most FLOWSET_FLOWS_MAX flows. Returns 0 or -EINVAL with
 * the reason in err.
 */
int flowset_finish(struct flowset *fs, char *err, size_t err_size);

/* A replayed capture's flows: flow n is tuples[n], which the caller keeps. */
void flowset_use_list(struct flowset *fs, const struct flow_tuple *tuples, __u64 count);

/* Number order (random = 0), or the pseudo-random permutation of seed. */
void flowset_order(struct flowset *fs, int random, __u64 seed);

/* The flow sent at position (0 .. flow_count - 1) of every round. */
__u64 flowset_flow_at(const struct flowset *fs, __u64 position);

/* The 5-tuple of flow (0 .. flow_count - 1), client -> VIP, network order. */
void flowset_tuple(const struct flowset *fs, __u64 flow, struct flow_tuple *t);

/* Writes an address range as text ("10.0.0.1-10.0.0.9"); returns buf. */
const char *flowset_fmt_range(const struct flowset_addr_range *r, char *buf, size_t size);

#endif /* FULCRUM_LBGEN_FLOWSET_H */
