/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's side of its dataplane: publish generations of VIP tables and read
 * counters, either over the control channel to lb-dpdk (dataplane/chan.h)
 * or straight into the XDP balancer's maps (controlplane/xdp.h). Which one
 * follows dataplane.mode; "auto" takes lb-dpdk when it answers with its
 * ports up within PUBLISH_AUTO_WAIT_MS of lbd's start, else XDP, and keeps
 * that choice for the life of the process.
 *
 * Channel requests are synchronous with a timeout; lbd's event loop only
 * watches the socket between them to notice lb-dpdk going away.
 */
#ifndef FULCRUM_PUBLISH_H
#define FULCRUM_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include "controlplane/conf.h"
#include "controlplane/tables.h"
#include "dataplane/chan.h"

#define PUBLISH_REPLY_TIMEOUT_MS 10000
#define PUBLISH_AUTO_WAIT_MS     10000

struct xdp_dataplane;

enum publish_kind {
	PUBLISH_UNDECIDED, /* "auto", still waiting for lb-dpdk */
	PUBLISH_DPDK,
	PUBLISH_XDP,
};

struct publisher {
	char path[CONF_PATH_MAX];
	enum publish_kind kind;
	char reason[256];     /* why this kind: for the log and `lbctl info` */
	__u64 auto_deadline_ms;
	struct conf_xdp xdp_conf; /* XDP: interfaces, mode, pins, sizes */
	__u32 flow_table_size;
	__u32 new_flow_table_size; /* conf_new_flow_table_size() */
	bool has_gateway_mac;
	__u8 gateway_mac[6];
	struct xdp_dataplane *xdp; /* XDP: loaded and attached; NULL otherwise */
	int fd;              /* DPDK: -1 while not connected */
	__u16 dpdk_ports;    /* DPDK: ports lb-dpdk reported in HELLO_REPLY */
	__u32 seq;
	__u64 generation;    /* the last one lb-dpdk put in service */
	bool need_full;      /* just (re)connected: no KEEP until a full publish */
	struct chan_reader reader;
};

void publish_init(struct publisher *p, const char *path);
void publish_fini(struct publisher *p);

/* Takes dataplane's mode and XDP settings (copied); now_ms starts the wait
 * of "auto". Before the first publish_connect(). */
void publish_configure(struct publisher *p, const struct conf_dataplane *dp, __u64 now_ms);

/* Whether a dataplane is there to publish to. */
bool publish_connected(const struct publisher *p);

/* "dpdk", "xdp", or "undecided". */
const char *publish_kind_name(const struct publisher *p);

/*
 * DPDK: connects and exchanges HELLO. Returns 0 or -errno (-ENOENT /
 * -ECONNREFUSED while lb-dpdk is not up; -EBUSY when another lbd holds the
 * channel). XDP: loads the balancer (adopting pinned maps), turns on IP
 * forwarding on its interfaces (bpf_fib_lookup answers only for
 * forwarding interfaces) and attaches it. "auto" decides first. On
 * success err holds a line for the log (several, newline-separated).
 */
int publish_connect(struct publisher *p, __u64 now_ms, char *err, size_t err_size);

void publish_disconnect(struct publisher *p);

/*
 * Publishes one generation: the tables (rings built) with dataplane
 * parameters; keep[i] sends table i as CHAN_VIP_KEEP, for a VIP unchanged
 * since the generation in service. Returns 0 once lb-dpdk has it in service,
 * or -errno with lb-dpdk's or the channel's reason in err (the channel is
 * closed on transport errors, kept on a refused generation).
 */
int publish_generation(struct publisher *p, struct vip_table *const *tables, const bool *keep,
		       __u32 count, const struct conf_dataplane *dp, char *err, size_t err_size);

/* Reads lb-dpdk's counters: stats and counters[COUNTER_COUNT]. */
int publish_stats(struct publisher *p, struct chan_stats *stats, __u64 *counters, char *err,
		  size_t err_size);

/* lb-dpdk's per-VIP and per-member statistics (CHAN_MSG_MEMBERS). */
struct publish_members {
	struct chan_members head;          /* generation, record counts, when read */
	struct chan_vip_stats *vips;       /* head.vip_count, in the generation's order */
	struct chan_member_stats *members; /* head.member_count, grouped by VIP */
};

/*
 * Reads traffic, new and active flows per VIP and per (VIP, backend) of the
 * generation in service into *out (one allocation; release it with
 * publish_members_fini(), also after a failure). Returns 0, -ENOTCONN,
 * -EPROTO for a malformed answer, or as publish_stats(), with err.
 */
int publish_members(struct publisher *p, struct publish_members *out, char *err, size_t err_size);
void publish_members_fini(struct publish_members *m);

/*
 * Asks lb-dpdk about one flow (t as a worker builds it from the client's
 * packet: src = client, dst = VIP, network order): whether a worker's flow
 * table holds it live and for which backend, and which backend the ring
 * gives it now. Returns 0 with *out (see struct chan_flow), -EINVAL for a
 * tuple lb-dpdk would refuse (family, addresses, protocol, padding), or as
 * publish_stats(), with err.
 */
int publish_flow_find(struct publisher *p, const struct flow_tuple *t, struct chan_flow *out,
		      char *err, size_t err_size);

#endif /* FULCRUM_PUBLISH_H */
