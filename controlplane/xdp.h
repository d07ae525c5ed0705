/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's XDP dataplane: loads the XDP balancer (bpf/balancer.bpf.c) through
 * its skeleton, pins its maps, attaches it to interfaces, and writes table
 * generations into its maps — the job lb-dpdk's main lcore does for the
 * DPDK dataplane, with the same generation code (dataplane/gen.h), so member
 * ids, fragments' VIPs and table semantics are the same in both modes.
 *
 * The program and its maps outlive lbd: it keeps forwarding with the last
 * tables when lbd exits, and an lbd that starts again adopts the pinned maps
 * (flow table untouched) and rebuilds its member ids from them.
 *
 * One thread (lbd's event loop) calls everything here.
 */
#ifndef FULCRUM_XDP_H
#define FULCRUM_XDP_H

#include <stdbool.h>
#include <stddef.h>

#include "bpf/balancer.h"
#include "dataplane/chan.h"
#include "dataplane/gen.h"

struct xdp_options {
	const char *pin_path;  /* bpffs directory for the maps; NULL or "" = no pinning */
	__u32 flow_capacity;   /* flow table entries (0: BALANCER_FLOWS_DEFAULT) */
	__u32 new_flow_capacity; /* new-flow table entries (0: flow_new_table_size_default()) */
	__u32 members_max;     /* (VIP, backend) ids, removed ones within the idle timeout included */
	bool has_gateway_mac;  /* send every tunnelled packet to gateway_mac */
	__u8 gateway_mac[6];
};

struct xdp_dataplane;

/*
 * Opens and loads the balancer. With a pin path, maps already pinned there
 * are adopted (their contents kept) and the others pinned; *adopted says
 * whether tables were found. NULL with errno and a message in err.
 */
struct xdp_dataplane *xdp_open(const struct xdp_options *o, bool *adopted, char *err,
			       size_t err_size);

/* What xdp_open() changed that the operator should hear of ("" if
 * nothing): pinned counter maps of another layout it replaced. */
const char *xdp_open_note(const struct xdp_dataplane *x);

/* Frees lbd's side: the program stays attached and the pinned maps stay. */
void xdp_close(struct xdp_dataplane *x);

/* The loaded program, for attaching and for BPF_PROG_TEST_RUN. */
int xdp_program_fd(const struct xdp_dataplane *x);

/*
 * Attaches the program to ifname, replacing any Fulcrum balancer already
 * there. Native mode unless generic; when the driver refuses native mode
 * and generic was not asked for, falls back to generic and says so in note
 * (empty otherwise). Returns 0 or -errno with err.
 */
int xdp_attach(struct xdp_dataplane *x, const char *ifname, bool generic, char *note,
	       size_t note_size, char *err, size_t err_size);

/*
 * Removes what xdp_open() and xdp_attach() left behind: the XDP program of
 * each interface (only if it is Fulcrum's balancer) and the maps pinned
 * under pin_path. Needs no loaded program. Returns 0 or -errno with err.
 */
int xdp_detach(const char *pin_path, const char *const *ifnames, __u32 ifname_count, char *err,
	       size_t err_size);

/*
 * Puts a generation in service: begin's parameters (its generation number
 * is ignored: the maps count on) and one checked VIP view per VIP, KEEP
 * meaning "as in the generation in service". Writes only what changed: new
 * and changed members, the ring slots that differ, VIP entries, then marks
 * members that left as absent so their flows move. Returns 0, or -errno
 * with err and the generation in service unchanged (a refused one: ENOSPC
 * for more members than members_max, EINVAL; a map write that failed half
 * way leaves a mix the next publication completes).
 */
int xdp_publish(struct xdp_dataplane *x, const struct chan_gen_begin *begin,
		const struct chan_vip_view *views, __u32 count, char *err, size_t err_size);

/* The generation in service; NULL before the first publication. */
const struct gen *xdp_generation(const struct xdp_dataplane *x);
/* Its number (also after adopting maps that hold one); 0 = none. */
__u64 xdp_generation_id(const struct xdp_dataplane *x);

/*
 * Counters summed over CPUs, as lb-dpdk's STATS reply: stats->flows and
 * flow_capacity from the flow table (flows counts live entries), counters
 * indexed by enum counter. Returns 0 or -errno with err.
 */
int xdp_stats(struct xdp_dataplane *x, struct chan_stats *stats, __u64 *counters, char *err,
	      size_t err_size);

/* Live entries of the new-flow map (*live) and its size (*capacity).
 * Returns 0 or -errno with err. */
int xdp_new_flows(struct xdp_dataplane *x, __u64 *live, __u32 *capacity, char *err,
		  size_t err_size);

/*
 * Per VIP and per member statistics of the generation in service, as
 * lb-dpdk's MEMBERS reply: vips[vip_count] then members[member_count], both
 * in malloc'd arrays the caller frees (members follows vips in one block:
 * free vips only). Returns 0 or -errno with err.
 */
int xdp_members(struct xdp_dataplane *x, struct chan_members *head,
		struct chan_vip_stats **vips, struct chan_member_stats **members, char *err,
		size_t err_size);

/* FLOW_FIND's answer for t (see struct chan_flow). Returns 0 or -errno. */
int xdp_flow_find(struct xdp_dataplane *x, const struct flow_tuple *t, struct chan_flow *out,
		  char *err, size_t err_size);

#endif /* FULCRUM_XDP_H */
