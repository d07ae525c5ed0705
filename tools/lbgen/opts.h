/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen's command line (what follows the EAL arguments and "--"): one table
 * of options, from which both the parser and --help are made, so the two
 * cannot drift; tests/install/test_man.sh holds lbgen(1) to the same list.
 * No DPDK here: the unit tests parse command lines as lbgen does.
 */
#ifndef FULCRUM_LBGEN_OPTS_H
#define FULCRUM_LBGEN_OPTS_H

#include <stdio.h>

#include "tools/lbgen/flowset.h"
#include "tools/lbgen/mix.h"
#include "tools/lbgen/track.h"

#define OPTS_PATH_MAX	4096
#define OPTS_QUEUES_MAX 16

enum opts_rate_unit {
	OPTS_RATE_UNLIMITED, /* as fast as the port takes them */
	OPTS_RATE_PPS,
	OPTS_RATE_LINK_PERCENT, /* of the link speed, counting preamble and gap */
};

struct opts_rate {
	enum opts_rate_unit unit;
	double value;
};

struct opts_backend {
	__u8 family;
	__be32 addr[4];
};

struct opts {
	__u16 tx_port;
	__u16 rx_port;
	__u16 rx_queues;
	int has_src_mac; /* else the port's own */
	__u8 src_mac[6];
	__u8 dst_mac[6];

	struct flowset flows;
	int random_order;
	__u64 seed;
	struct mix_tcp tcp;
	struct mix_size sizes;

	struct opts_rate rate;
	double duration_s; /* 0: no limit */
	__u64 count;	   /* 0: no limit */
	__u32 rx_wait_ms;

	struct opts_backend backends[TRACK_BACKENDS_MAX];
	__u32 backend_count;
	__u16 gue_port;

	const char *replay_path;
	const char *pcap_tx_path;
	const char *pcap_rx_path;
	const char *json_path; /* "-": standard output */

	int ndr;
	double ndr_loss; /* a ratio */
	struct opts_rate ndr_resolution;

	int quiet;
	int help;
};

/*
 * Parses lbgen's arguments (argv[0] is the program's name, as for getopt)
 * into o, with the defaults for whatever is not given. Returns 0, or -EINVAL
 * with a message naming the bad option or value in err.
 */
int opts_parse(struct opts *o, int argc, char **argv, char *err, size_t err_size);

/* Parses a rate: packets per second with an optional k, M or G
 * ("2000000", "2M", "1.5k"), or a percentage of the link speed ("40%"). */
int opts_parse_rate(const char *text, struct opts_rate *rate, char *err, size_t err_size);

/* Writes the usage: every option of the table, one per line. */
void opts_usage(FILE *out);

#endif /* FULCRUM_LBGEN_OPTS_H */
