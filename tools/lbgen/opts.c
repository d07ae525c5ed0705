/* SPDX-License-Identifier: BSD-3-Clause */
/* lbgen's command line (tools/lbgen/opts.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/pkt.h"
#include "tools/lbgen/opts.h"

enum opts_id {
	OPT_HELP = 'h',
	OPT_QUIET = 'q',
	OPT_TX_PORT = 256,
	OPT_RX_PORT,
	OPT_RX_QUEUES,
	OPT_SRC_MAC,
	OPT_DST_MAC,
	OPT_SRC,
	OPT_SRC_PORT,
	OPT_VIP,
	OPT_VIP_PORT,
	OPT_PROTO,
	OPT_ORDER,
	OPT_SEED,
	OPT_TCP_FLAGS,
	OPT_TCP_CONN,
	OPT_SIZE,
	OPT_RATE,
	OPT_DURATION,
	OPT_COUNT,
	OPT_RX_WAIT,
	OPT_BACKENDS,
	OPT_GUE_PORT,
	OPT_REPLAY,
	OPT_PCAP_TX,
	OPT_PCAP_RX,
	OPT_NDR,
	OPT_NDR_LOSS,
	OPT_NDR_RESOLUTION,
	OPT_JSON,
};

/* One option: its long name, its argument's name (NULL: none), and the
 * line --help prints. An entry without a name is a heading. */
struct opts_def {
	const char *name;
	const char *arg;
	int id;
	const char *help;
};

static const struct opts_def opts_table[] = {
	{NULL, NULL, 0, "Ports:"},
	{"tx-port", "PORT", OPT_TX_PORT, "DPDK port id to send on (default 0)"},
	{"rx-port", "PORT", OPT_RX_PORT, "DPDK port id to receive on (default: the TX port)"},
	{"rx-queues", "N", OPT_RX_QUEUES,
	 "receive on N queues of the RX port: a memif client, one per lb-dpdk TX queue (default "
	 "1)"},
	{"src-mac", "MAC", OPT_SRC_MAC, "source MAC address (default: the TX port's)"},
	{"dst-mac", "MAC", OPT_DST_MAC,
	 "destination MAC: the balancer port's (default ff:ff:ff:ff:ff:ff)"},
	{NULL, NULL, 0, "Flows (client addresses x client ports x VIP ports x VIPs):"},
	{"src", "RANGE", OPT_SRC,
	 "client addresses: ADDR, FIRST-LAST or ADDR/LEN; once per family"},
	{"src-port", "RANGE", OPT_SRC_PORT, "client ports: PORT or FIRST-LAST (default 1024-2047)"},
	{"vip", "RANGE", OPT_VIP, "VIP addresses, IPv4 or IPv6; repeat for more"},
	{"vip-port", "RANGE", OPT_VIP_PORT, "VIP ports (default 80)"},
	{"proto", "tcp|udp", OPT_PROTO, "transport protocol (default tcp)"},
	{"order", "seq|random", OPT_ORDER,
	 "visit the flows in number order or in a random permutation (default seq)"},
	{"seed", "N", OPT_SEED, "seed of the random order (default 1)"},
	{"tcp-flags", "MIX", OPT_TCP_FLAGS,
	 "TCP packet kinds, KIND[:WEIGHT],... of syn, ack, fin, rst (default ack)"},
	{"tcp-conn", "N", OPT_TCP_CONN,
	 "connection sequences instead: per flow SYN, N data packets, FIN, again"},
	{"size", "SIZES", OPT_SIZE,
	 "frame size with FCS, imix (64:7,570:4,1518:1) or SIZE:WEIGHT,... (default 64)"},
	{"replay", "FILE", OPT_REPLAY,
	 "send the frames of a pcap file instead, each flow numbered and probed"},
	{NULL, NULL, 0, "Rate and length:"},
	{"rate", "RATE", OPT_RATE,
	 "packets/s (2000000, 2M, 1.5k) or percent of link speed (40%); default: unlimited"},
	{"duration", "SECONDS", OPT_DURATION, "stop sending after this long"},
	{"count", "N", OPT_COUNT, "stop sending after N packets"},
	{"rx-wait", "MS", OPT_RX_WAIT,
	 "after sending, wait this long for packets still on their way (default 500)"},
	{NULL, NULL, 0, "Receive side:"},
	{"backends", "LIST", OPT_BACKENDS,
	 "comma-separated backend addresses: any other tunnel destination is unknown"},
	{"gue-port", "PORT", OPT_GUE_PORT, "UDP port that marks GUE (default 6080)"},
	{"pcap-tx", "FILE", OPT_PCAP_TX, "write every frame sent to a pcap file"},
	{"pcap-rx", "FILE", OPT_PCAP_RX, "write every frame received to a pcap file"},
	{NULL, NULL, 0, "No-drop rate search (RFC 2544):"},
	{"ndr", NULL, OPT_NDR,
	 "binary search from --rate down, trials of --duration (default 10 s) each"},
	{"ndr-loss", "RATIO", OPT_NDR_LOSS,
	 "loss a trial may have and pass: 0.001 or 0.1% (default 0)"},
	{"ndr-resolution", "RATE", OPT_NDR_RESOLUTION,
	 "stop when pass and fail are this close (default 1% of --rate)"},
	{NULL, NULL, 0, "Output:"},
	{"json", "FILE", OPT_JSON, "write the summary as JSON to FILE (- for standard output)"},
	{"quiet", NULL, OPT_QUIET, "no progress lines, only the summary"},
	{"help", NULL, OPT_HELP, "this help"},
};

#define OPTS_COUNT (sizeof(opts_table) / sizeof(opts_table[0]))

void opts_usage(FILE *out)
{
	fprintf(out,
		"usage: lbgen [EAL options] -- [options]\n"
		"DPDK's EAL options come first (cores, devices, --file-prefix, --no-huge);\n"
		"lbgen's follow the \"--\". It sends on --tx-port and receives on --rx-port.\n");
	for (size_t i = 0; i < OPTS_COUNT; i++) {
		const struct opts_def *d = &opts_table[i];
		char left[64];

		if (!d->name) {
			fprintf(out, "%s\n", d->help);
			continue;
		}
		if (d->id < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", d->id, d->name,
				 d->arg ? " " : "", d->arg ? d->arg : "");
		else
			snprintf(left, sizeof(left), "--%s%s%s", d->name, d->arg ? " " : "",
				 d->arg ? d->arg : "");
		fprintf(out, "  %-26s  %s\n", left, d->help);
	}
	fprintf(out, "Exit status: 0 done, 1 cannot start or run, 2 usage.\n");
}

/* Parses a number with an optional k, M or G suffix; returns 0 or -EINVAL. */
static int opts_parse_scaled(const char *text, double *value)
{
	char *end;
	double v;

	if (!*text || text[0] == '-' || text[0] == '+')
		return -EINVAL;
	v = strtod(text, &end);
	if (end == text)
		return -EINVAL;
	if (*end == 'k')
		v *= 1e3, end++;
	else if (*end == 'M')
		v *= 1e6, end++;
	else if (*end == 'G')
		v *= 1e9, end++;
	if (*end || !isfinite(v))
		return -EINVAL;
	*value = v;
	return 0;
}

int opts_parse_rate(const char *text, struct opts_rate *rate, char *err, size_t err_size)
{
	size_t n = strlen(text);
	double v;

	if (n > 1 && text[n - 1] == '%') {
		char buf[32];
		char *end;
		if (n >= sizeof(buf))
			goto bad;
		memcpy(buf, text, n - 1);
		buf[n - 1] = '\0';
		v = strtod(buf, &end);
		if (*end || end == buf || buf[0] == '-' || buf[0] == '+' || !(v > 0 && v <= 100))
			goto bad;
		rate->unit = OPTS_RATE_LINK_PERCENT;
		rate->value = v;
		return 0;
	}
	if (opts_parse_scaled(text, &v) || !(v >= 1))
		goto bad;
	rate->unit = OPTS_RATE_PPS;
	rate->value = v;
	return 0;
bad:
	snprintf(err, err_size,
		 "%s: not a rate (packets/s such as 2000000, 2M or 1.5k, at least 1; or a "
		 "percentage of link speed above 0 and at most 100, such as 40%%)",
		 text);
	return -EINVAL;
}

static int opts_parse_mac(const char *text, __u8 *mac)
{
	unsigned b[6];
	char tail;

	if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (__u8)b[i];
	return 0;
}

static int opts_parse_u64(const char *text, __u64 min, __u64 max, __u64 *out)
{
	double v;

	/* Whole numbers, with k, M or G allowed ("--count 10M"). */
	if (opts_parse_scaled(text, &v) || v != floor(v) || v < (double)min || v > (double)max)
		return -EINVAL;
	*out = (__u64)v;
	return 0;
}

static int opts_parse_backends(struct opts *o, const char *text, char *err, size_t err_size)
{
	const char *item = text;

	while (*item) {
		size_t n = strcspn(item, ",");
		char buf[INET6_ADDRSTRLEN];
		struct opts_backend *b = &o->backends[o->backend_count];

		if (n == 0 || n >= sizeof(buf))
			goto bad;
		memcpy(buf, item, n);
		buf[n] = '\0';
		if (o->backend_count == TRACK_BACKENDS_MAX) {
			snprintf(err, err_size, "more than %d addresses", TRACK_BACKENDS_MAX);
			return -EINVAL;
		}
		memset(b, 0, sizeof(*b));
		if (inet_pton(AF_INET, buf, b->addr) == 1)
			b->family = FLOW_FAMILY_IPV4;
		else if (inet_pton(AF_INET6, buf, b->addr) == 1)
			b->family = FLOW_FAMILY_IPV6;
		else
			goto bad;
		o->backend_count++;
		item += n;
		if (*item == ',' && *++item == '\0')
			goto bad;
	}
	if (!o->backend_count)
		goto bad;
	return 0;
bad:
	snprintf(err, err_size, "%s: not a comma-separated list of IPv4 or IPv6 addresses", text);
	return -EINVAL;
}

static void opts_defaults(struct opts *o)
{
	char err[8];

	memset(o, 0, sizeof(*o));
	memset(o->dst_mac, 0xff, sizeof(o->dst_mac));
	o->rx_queues = 1;
	o->flows.proto = PKT_PROTO_TCP;
	o->flows.client_ports = (struct flowset_port_range){1024, 1024};
	o->flows.vip_ports = (struct flowset_port_range){80, 1};
	o->seed = 1;
	mix_parse_tcp(&o->tcp, "ack", err, sizeof(err));
	mix_parse_size(&o->sizes, "64", err, sizeof(err));
	o->rx_wait_ms = 500;
	o->gue_port = PKT_GUE_PORT_DEFAULT;
}

/* Which options were given, for the checks between them. */
struct opts_given {
	const char *flow_option; /* one that shapes generated flows (not with --replay) */
	int tcp_flags;
	int tcp_conn;
	int rx_port;
	int ndr_loss;
	int ndr_resolution;
};

/* The long name of an option id. */
static const char *opts_name(int id)
{
	for (size_t i = 0; i < OPTS_COUNT; i++)
		if (opts_table[i].name && opts_table[i].id == id)
			return opts_table[i].name;
	return "?";
}

/*
 * Applies one option. Returns 0, or -EINVAL with err holding the reason if
 * the parser of the value wrote one, or empty.
 */
static int opts_apply(struct opts *o, struct opts_given *g, int id, const char *arg, char *err,
		      size_t err_size)
{
	__u64 n;
	double v;

	switch (id) {
	case OPT_TX_PORT:
	case OPT_RX_PORT:
		if (opts_parse_u64(arg, 0, 65535, &n))
			return -EINVAL;
		*(id == OPT_TX_PORT ? &o->tx_port : &o->rx_port) = (__u16)n;
		g->rx_port |= id == OPT_RX_PORT;
		return 0;
	case OPT_RX_QUEUES:
		if (opts_parse_u64(arg, 1, OPTS_QUEUES_MAX, &n))
			return -EINVAL;
		o->rx_queues = (__u16)n;
		return 0;
	case OPT_SRC_MAC:
		o->has_src_mac = 1;
		return opts_parse_mac(arg, o->src_mac);
	case OPT_DST_MAC:
		return opts_parse_mac(arg, o->dst_mac);
	case OPT_SRC:
		return flowset_add_clients(&o->flows, arg, err, err_size);
	case OPT_SRC_PORT:
		return flowset_parse_port_range(arg, &o->flows.client_ports, err, err_size);
	case OPT_VIP:
		return flowset_add_vips(&o->flows, arg, err, err_size);
	case OPT_VIP_PORT:
		return flowset_parse_port_range(arg, &o->flows.vip_ports, err, err_size);
	case OPT_PROTO:
		if (strcmp(arg, "tcp") && strcmp(arg, "udp"))
			return -EINVAL;
		o->flows.proto = arg[0] == 't' ? PKT_PROTO_TCP : PKT_PROTO_UDP;
		return 0;
	case OPT_ORDER:
		if (strcmp(arg, "seq") && strcmp(arg, "random"))
			return -EINVAL;
		o->random_order = arg[0] == 'r';
		return 0;
	case OPT_SEED:
		return opts_parse_u64(arg, 0, 1ull << 53, &o->seed);
	case OPT_TCP_FLAGS:
		g->tcp_flags = 1;
		return mix_parse_tcp(&o->tcp, arg, err, err_size);
	case OPT_TCP_CONN:
		g->tcp_conn = 1;
		if (opts_parse_u64(arg, 0, 1000000, &n))
			return -EINVAL;
		mix_tcp_connections(&o->tcp, (__u32)n);
		return 0;
	case OPT_SIZE:
		return mix_parse_size(&o->sizes, arg, err, err_size);
	case OPT_REPLAY:
		o->replay_path = arg;
		return 0;
	case OPT_RATE:
		return opts_parse_rate(arg, &o->rate, err, err_size);
	case OPT_DURATION:
		if (opts_parse_scaled(arg, &v) || !(v > 0) || v > 1e9)
			return -EINVAL;
		o->duration_s = v;
		return 0;
	case OPT_COUNT:
		return opts_parse_u64(arg, 1, 1ull << 62, &o->count);
	case OPT_RX_WAIT:
		if (opts_parse_u64(arg, 0, 3600000, &n))
			return -EINVAL;
		o->rx_wait_ms = (__u32)n;
		return 0;
	case OPT_BACKENDS:
		return opts_parse_backends(o, arg, err, err_size);
	case OPT_GUE_PORT:
		if (opts_parse_u64(arg, 1, 65535, &n))
			return -EINVAL;
		o->gue_port = (__u16)n;
		return 0;
	case OPT_PCAP_TX:
		o->pcap_tx_path = arg;
		return 0;
	case OPT_PCAP_RX:
		o->pcap_rx_path = arg;
		return 0;
	case OPT_NDR:
		o->ndr = 1;
		return 0;
	case OPT_NDR_LOSS: {
		g->ndr_loss = 1;
		size_t len = strlen(arg);
		int percent = len > 1 && arg[len - 1] == '%';
		char buf[32];
		char *end;
		if (len >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, arg, len + 1);
		if (percent)
			buf[len - 1] = '\0';
		v = strtod(buf, &end);
		if (*end || end == buf || buf[0] == '-' || buf[0] == '+' || !(v >= 0))
			return -EINVAL;
		if (percent)
			v /= 100;
		if (v >= 1)
			return -EINVAL;
		o->ndr_loss = v;
		return 0;
	}
	case OPT_NDR_RESOLUTION:
		g->ndr_resolution = 1;
		return opts_parse_rate(arg, &o->ndr_resolution, err, err_size);
	case OPT_JSON:
		o->json_path = arg;
		return 0;
	case OPT_QUIET:
		o->quiet = 1;
		return 0;
	case OPT_HELP:
		o->help = 1;
		return 0;
	}
	return -EINVAL;
}

/* The options that shape generated flows, which a replay takes from its file. */
static int opts_shapes_flows(int id)
{
	switch (id) {
	case OPT_SRC:
	case OPT_SRC_PORT:
	case OPT_VIP:
	case OPT_VIP_PORT:
	case OPT_PROTO:
	case OPT_ORDER:
	case OPT_SEED:
	case OPT_TCP_FLAGS:
	case OPT_TCP_CONN:
	case OPT_SIZE:
		return 1;
	}
	return 0;
}

/* The checks between options, once all are known. */
static int opts_check(struct opts *o, const struct opts_given *g, char *err, size_t err_size)
{
	if (o->replay_path && g->flow_option) {
		snprintf(err, err_size,
			 "--%s: a replay takes its flows, sizes and flags from its file",
			 g->flow_option);
		return -EINVAL;
	}
	if (g->tcp_flags && g->tcp_conn) {
		snprintf(err, err_size, "--tcp-flags and --tcp-conn: give one");
		return -EINVAL;
	}
	if ((g->tcp_flags || g->tcp_conn) && o->flows.proto != PKT_PROTO_TCP) {
		snprintf(err, err_size, "--%s: only with --proto tcp",
			 g->tcp_flags ? "tcp-flags" : "tcp-conn");
		return -EINVAL;
	}
	if (!o->replay_path && flowset_finish(&o->flows, err, err_size))
		return -EINVAL;
	if (!g->rx_port)
		o->rx_port = o->tx_port;
	if (o->ndr) {
		if (o->rate.unit == OPTS_RATE_UNLIMITED) {
			snprintf(err, err_size, "--ndr: give the highest rate to try with --rate");
			return -EINVAL;
		}
		if (o->count) {
			snprintf(err, err_size, "--ndr: trials last --duration, not --count");
			return -EINVAL;
		}
		if (!o->duration_s)
			o->duration_s = 10;
	} else if (g->ndr_resolution || g->ndr_loss) {
		snprintf(err, err_size, "--ndr-loss and --ndr-resolution: only with --ndr");
		return -EINVAL;
	}
	return 0;
}

int opts_parse(struct opts *o, int argc, char **argv, char *err, size_t err_size)
{
	struct option longopts[OPTS_COUNT + 1];
	struct opts_given given = {0};
	size_t n = 0;
	int id;

	opts_defaults(o);
	for (size_t i = 0; i < OPTS_COUNT; i++) {
		const struct opts_def *d = &opts_table[i];
		if (d->name)
			longopts[n++] = (struct option){
				d->name, d->arg ? required_argument : no_argument, NULL, d->id};
	}
	longopts[n] = (struct option){0};
	/* 0, not 1: glibc then starts afresh, as each test's parse needs. */
	optind = 0;
	opterr = 0;
	while ((id = getopt_long(argc, argv, "+hq", longopts, NULL)) != -1) {
		if (id == '?') {
			if (optopt && optopt < 256)
				snprintf(err, err_size, "-%c: unknown option", optopt);
			else if (optopt)
				snprintf(err, err_size, "--%s: needs a value", opts_name(optopt));
			else
				snprintf(err, err_size, "%s: unknown option", argv[optind - 1]);
			return -EINVAL;
		}
		err[0] = '\0';
		if (opts_apply(o, &given, id, optarg, err, err_size)) {
			char why[512];
			snprintf(why, sizeof(why), "%s", err);
			if (why[0])
				snprintf(err, err_size, "--%s %s", opts_name(id), why);
			else
				snprintf(err, err_size, "--%s %s: not a valid value", opts_name(id),
					 optarg ? optarg : "");
			return -EINVAL;
		}
		if (opts_shapes_flows(id) && !given.flow_option)
			given.flow_option = opts_name(id);
	}
	if (optind < argc) {
		snprintf(err, err_size, "%s: unexpected argument", argv[optind]);
		return -EINVAL;
	}
	if (o->help)
		return 0;
	return opts_check(o, &given, err, err_size);
}
