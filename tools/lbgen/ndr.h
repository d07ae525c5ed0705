/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The no-drop-rate search (RFC 2544 section 26.1, binary search): the
 * highest offered rate whose trial loses at most loss_threshold of the
 * packets sent. The first trial runs at the maximum rate; each later one at
 * the middle of the interval between the highest rate that passed (or 0)
 * and the lowest that failed, until that interval is no wider than the
 * resolution.
 *
 * A trial passes when at most loss_threshold of what it sent was lost and it
 * sent at the offered rate (within NDR_RATE_TOLERANCE): a path that pushes
 * back (a full TX ring, a memif whose peer falls behind) makes the
 * generator send less, which fails the trial as surely as loss does.
 *
 * A pure state machine: lbgen runs the trials and reports each one's counts;
 * the unit tests drive it with a simulated device.
 */
#ifndef FULCRUM_LBGEN_NDR_H
#define FULCRUM_LBGEN_NDR_H

#include <linux/types.h>

#define NDR_TRIALS_MAX	   64
#define NDR_RATE_TOLERANCE 0.01

struct ndr_trial {
	double rate_pps; /* offered */
	double sent_pps; /* achieved */
	__u64 tx_packets;
	__u64 rx_packets;
	double loss_ratio; /* (tx - rx) / tx, 0 when rx >= tx, 1 when nothing was sent */
	int passed;
};

struct ndr {
	double max_pps;
	double resolution_pps;
	double loss_threshold; /* a ratio: 0.001 is 0.1% */
	double pass_pps;       /* highest offered rate that passed; 0: none yet */
	double fail_pps;       /* lowest offered rate that failed; 0: none yet */
	double next_pps;       /* the next trial's rate; 0 when the search is over */
	struct ndr_trial trials[NDR_TRIALS_MAX];
	__u32 trial_count;
};

/* Starts a search below max_pps (> 0); resolution_pps > 0. */
void ndr_init(struct ndr *n, double max_pps, double resolution_pps, double loss_threshold);

/* The rate of the next trial, or 0 when the search is over. */
double ndr_next_rate(const struct ndr *n);

/* Records the trial run at ndr_next_rate(): packets sent and received, and
 * the rate it sent at. Moves on to the next rate. */
void ndr_record(struct ndr *n, __u64 tx_packets, __u64 rx_packets, double sent_pps);

/* The no-drop rate found (0 when even the lowest trial lost too much). */
double ndr_result(const struct ndr *n);

/* The loss ratio of a trial's counts, as ndr_record() judges it. */
double ndr_loss_ratio(__u64 tx_packets, __u64 rx_packets);

#endif /* FULCRUM_LBGEN_NDR_H */
