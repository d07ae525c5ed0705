/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen's results, as JSON (the contract `make bench` reads) and as text for
 * people, both from one struct report; and the once-a-second progress line.
 *
 * The JSON object: tx_packets, rx_packets, lost, loss_ratio, duration_s,
 * tx_pps, rx_pps, latency_ns {p50, p90, p99, p999, max, min, mean, samples},
 * flows, flows_received, flows_moved, unknown_backend, bad_checksum,
 * not_ours, flow_mismatch, duplicates, reordered, stale, tx_unstamped,
 * tx_bytes, rx_bytes, rate_pps (offered, 0 when unlimited),
 * encap {none, ipip, ip6ip6, 4in6, 6in4, gue}, backends {ADDRESS: packets};
 * with the NDR search, ndr {pps, loss_threshold, resolution_pps, trials
 * [{rate_pps, tx_pps, tx_packets, rx_packets, loss_ratio, passed,
 * latency_ns}]}.
 */
#ifndef FULCRUM_LBGEN_REPORT_H
#define FULCRUM_LBGEN_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "tools/lbgen/latency.h"
#include "tools/lbgen/track.h"

/* Latency percentiles, read once from a histogram. */
struct report_latency {
	__u64 p50, p90, p99, p999, max, min, samples;
	double mean;
};

struct report_trial {
	double rate_pps; /* offered */
	double tx_pps;	 /* achieved */
	__u64 tx_packets;
	__u64 rx_packets;
	double loss_ratio;
	int passed;
	struct report_latency latency;
};

struct report {
	__u64 tx_packets;   /* every frame sent */
	__u64 tx_bytes;	    /* without FCS */
	__u64 tx_unstamped; /* replayed frames without room for a probe */
	double duration_s;  /* from the first frame sent to the last */
	double rate_pps;    /* offered; 0 when unlimited */
	__u64 flows;	    /* distinct flows sent */
	struct track_counters rx;
	struct report_latency latency;
	const struct track_backend *backends;
	__u32 backend_count;

	int ndr;
	double ndr_pps;
	double ndr_loss_threshold;
	double ndr_resolution_pps;
	const struct report_trial *trials;
	__u32 trial_count;
};

/* Reads the percentiles of h. */
void report_latency_read(const struct latency *h, struct report_latency *out);

/* Packets sent with a probe that did not come back (0 when all did). */
__u64 report_lost(const struct report *r);

/* The JSON object above; NULL when out of memory. */
json_t *report_json(const struct report *r);

/* The summary for people. */
void report_human(FILE *out, const struct report *r);

/* One progress line: the last second's rates, the totals so far, the
 * packets sent and not back (yet), and the run's latency so far. */
void report_progress(FILE *out, double elapsed_s, double tx_pps, double rx_pps, __u64 tx_packets,
		     __u64 rx_packets, __u64 missing, const struct report_latency *lat);

#endif /* FULCRUM_LBGEN_REPORT_H */
