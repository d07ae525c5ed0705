/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen's receive accounting: what the parsed frames (tools/lbgen/rxparse.h)
 * say about the device under test. Per flow it remembers the backend the
 * flow's first packet came back tunnelled to, and counts a flow as moved
 * when a later packet went to another; it checks each tunnel's destination
 * against the backends given (or learns them), the probe's flow number
 * against the inner headers, catches duplicates over a window of sequence
 * numbers and packets overtaken by later ones of their flow, and records
 * latency.
 *
 * One writer, the receiving lcore. Counters are written and read with
 * relaxed atomics, so the main lcore may read them for progress lines.
 */
#ifndef FULCRUM_LBGEN_TRACK_H
#define FULCRUM_LBGEN_TRACK_H

#include <stddef.h>

#include "tools/lbgen/flowset.h"
#include "tools/lbgen/latency.h"
#include "tools/lbgen/rxparse.h"

#define TRACK_BACKENDS_MAX 4096
/* Duplicates are caught among the last 2^24 sequence numbers (2 MiB of
 * bits): 1.7 s at 10 Mpps. An older packet is counted as received. */
#define TRACK_WINDOW_BITS (1u << 24)

struct track_counters {
	__u64 rx_packets;      /* lbgen's packets of this run, each counted once */
	__u64 rx_bytes;	       /* their frame bytes as received, without FCS */
	__u64 not_ours;	       /* frames without a probe (ARP, ND, anything else) */
	__u64 stale;	       /* lbgen's, sent before the current trial began */
	__u64 duplicates;      /* a sequence number seen before */
	__u64 reordered;       /* arrived after a later packet of its own flow */
	__u64 bad_checksum;    /* some checksum of the frame was wrong */
	__u64 flow_mismatch;   /* the probe's flow does not match the inner 5-tuple */
	__u64 unknown_backend; /* tunnelled to an address not among the backends */
	__u64 flows_seen;      /* flows with at least one packet back */
	__u64 flows_moved;     /* flows that came back toward a second backend */
	__u64 encap[RXPARSE_ENCAP_COUNT];
};

struct track_backend {
	__u8 family;
	__be32 addr[4];
	__u64 packets;
};

/* Per flow: 8 bytes. */
struct track_flow {
	__u16 backend;	/* index + 1 of the first backend seen; 0 before any */
	__u16 flags;	/* TRACK_FLOW_* */
	__u32 last_seq; /* low 32 bits of the highest sequence number seen */
};

#define TRACK_FLOW_SEEN	 0x1
#define TRACK_FLOW_MOVED 0x2 /* counted in flows_moved */

#define TRACK_SLOTS (2 * TRACK_BACKENDS_MAX)

struct track {
	const struct flowset *flows;
	int backends_fixed; /* given by the user: others are unknown */
	struct track_backend backends[TRACK_BACKENDS_MAX];
	__u32 backend_count;
	__u16 slots[TRACK_SLOTS]; /* open addressing: backend index + 1 */
	struct track_flow *per_flow;
	__u64 *window; /* TRACK_WINDOW_BITS bits, by sequence number modulo */
	__u64 seq_end; /* one past the highest sequence number seen */
	__u64 trial_first_seq;
	struct track_counters c;
	struct track_counters trial_base; /* c when the trial began */
	struct latency latency;		  /* the whole run */
	struct latency trial_latency;	  /* since the trial began */
};

/* Allocates per-flow state for fs's flows. Returns 0 or -ENOMEM. */
int track_init(struct track *t, const struct flowset *fs);
void track_fini(struct track *t);

/*
 * Adds an expected backend (family FLOW_FAMILY_*, address in network order,
 * unused words zero): from then on, tunnels to any other address count as
 * unknown_backend, and so do packets that come back without a tunnel.
 * Returns 0, -EEXIST when given already, -ENOSPC past TRACK_BACKENDS_MAX.
 */
int track_add_backend(struct track *t, __u8 family, const __be32 *addr);

/*
 * Accounts one frame of ours: frame_len bytes received, latency_ns from its
 * probe's timestamp to its arrival.
 */
void track_packet(struct track *t, const struct rxparse_result *r, __u32 frame_len,
		  __u64 latency_ns);

/* Accounts one frame that is not ours. */
void track_not_ours(struct track *t);

/*
 * Starts a trial (the NDR search's): packets numbered below first_seq are
 * stale from now on, trial_latency starts empty, trial_base takes the
 * counters. The receiving lcore calls it.
 */
void track_trial_begin(struct track *t, __u64 first_seq);

/* A consistent-enough copy of the counters, from any lcore. */
void track_read(const struct track *t, struct track_counters *out);

/* The counters since the trial began (from any lcore). */
void track_read_trial(const struct track *t, struct track_counters *out);

#endif /* FULCRUM_LBGEN_TRACK_H */
