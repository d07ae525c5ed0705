/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What varies from packet to packet besides the flow: TCP flags and frame
 * sizes. Both are pure functions of the packet's sequence number (and, for
 * connection sequences, of its round over the flow set), so a run is
 * reproducible and proportions hold over any stretch of packets.
 */
#ifndef FULCRUM_LBGEN_MIX_H
#define FULCRUM_LBGEN_MIX_H

#include <stddef.h>
#include <linux/types.h>

/* The TCP packet kinds a mix is made of, and the flags each carries. */
enum mix_tcp_kind {
	MIX_TCP_SYN, /* SYN: a new connection; the balancer takes the ring's choice */
	MIX_TCP_ACK, /* PSH+ACK with data: an established connection */
	MIX_TCP_FIN, /* FIN+ACK */
	MIX_TCP_RST, /* RST+ACK */
	MIX_TCP_KINDS
};

struct mix_tcp {
	/* Connection sequences: each flow sends SYN, data_packets PSH+ACK,
	 * FIN+ACK, over successive rounds, then starts again. */
	int connections;
	__u32 data_packets;
	/* Otherwise a weighted mix: kind k when the packet's point in [0, 2^32)
	 * falls below bound[k] and above the previous bound. */
	__u32 weights[MIX_TCP_KINDS];
	__u64 bound[MIX_TCP_KINDS];
};

#define MIX_SIZES_MAX  16
#define MIX_PERIOD_MAX 4096

struct mix_size {
	__u32 sizes[MIX_SIZES_MAX]; /* frame sizes with FCS */
	__u32 weights[MIX_SIZES_MAX];
	__u32 count;
	__u32 period;		       /* sum of the weights */
	__u16 pattern[MIX_PERIOD_MAX]; /* index into sizes for each seq % period */
};

/* The IMIX "imix" stands for: the common simple IMIX, 7:4:1 of 64, 570
 * and 1518-byte frames (FCS included). */
#define MIX_IMIX "64:7,570:4,1518:1"

/*
 * Parses a TCP mix: KIND or KIND:WEIGHT,... with KIND one of syn, ack, fin,
 * rst (e.g. "syn:10,ack:85,fin:5"). Returns 0 or -EINVAL with a message in
 * err.
 */
int mix_parse_tcp(struct mix_tcp *m, const char *text, char *err, size_t err_size);

/* Connection sequences of data_packets data packets each. */
void mix_tcp_connections(struct mix_tcp *m, __u32 data_packets);

/* The TCP flags of packet seq, sent in round (seq / flows) of the flow set. */
__u8 mix_tcp_flags(const struct mix_tcp *m, __u64 seq, __u64 round);

/*
 * Parses frame sizes: SIZE, "imix", or SIZE:WEIGHT,... (64 to 9018 bytes
 * with FCS; weights summing to at most MIX_PERIOD_MAX). The pattern spreads
 * each size evenly over the period (smooth weighted round robin). Returns 0
 * or -EINVAL with a message in err.
 */
int mix_parse_size(struct mix_size *m, const char *text, char *err, size_t err_size);

/* The frame size of packet seq. */
static inline __u32 mix_size_at(const struct mix_size *m, __u64 seq)
{
	return m->sizes[m->pattern[seq % m->period]];
}

/* The mean frame size after raising each size to at least min_size. */
double mix_size_mean(const struct mix_size *m, __u32 min_size);

#endif /* FULCRUM_LBGEN_MIX_H */
