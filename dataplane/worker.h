/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's worker lcores: the fast path from an RX burst to tunnelled
 * packets toward backends, frames for the kernel, and drops with reasons.
 *
 * A worker owns its flow table, its counters and its queues; it shares
 * nothing writable with other lcores. It reads the table generation through
 * an RCU-protected pointer (reporting a quiescent state after every burst)
 * and next-hop MACs from a table the main lcore updates word by word.
 */
#ifndef FULCRUM_WORKER_H
#define FULCRUM_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "dataplane/counters.h"
#include "dataplane/flow_table.h"
#include "dataplane/gen.h"

#define WORKER_BURST      32
#define WORKER_PORTS_MAX  16
#define WORKER_RXQ_MAX    64
#define WORKER_TX_MAX     (2 * WORKER_BURST) /* room for fragments of a burst */
#define WORKER_FRAGS_MAX  8
#define NEXTHOPS_MAX      1024

/* A port as the fast path needs it. */
struct worker_port {
	uint16_t port_id; /* DPDK port id */
	uint16_t mtu;     /* IP MTU of the link */
	struct rte_ether_addr mac;
};

/*
 * Where a backend's packets go next: an egress port and the MAC of the
 * neighbour on it (the backend itself or a router). Written by the main
 * lcore as one 64-bit word, so a worker sees an old or a new MAC, never half.
 */
struct nexthop {
	uint64_t mac_word; /* MAC in bytes 0..5, byte 6 = egress port slot, byte 7 = 1 when valid */
};

static inline uint64_t nexthop_pack(const struct rte_ether_addr *mac, uint8_t port_slot)
{
	uint64_t w = 0;

	memcpy(&w, mac->addr_bytes, RTE_ETHER_ADDR_LEN);
	((uint8_t *)&w)[6] = port_slot;
	((uint8_t *)&w)[7] = 1;
	return w;
}

/* State the main lcore owns and every worker reads. */
struct worker_shared {
	struct gen *gen; /* generation in service; RCU-protected, may be NULL */
	/* Workers are its threads 0 .. n-1, the main lcore n while it polls
	 * ports; it also holds off unmaps of port memory (unmap_guard.c). */
	struct rte_rcu_qsbr *rcu;
	struct worker_port ports[WORKER_PORTS_MAX];
	uint16_t port_count;
	uint8_t slot_of_port[RTE_MAX_ETHPORTS]; /* DPDK port id -> index into ports */
	struct nexthop nexthops[NEXTHOPS_MAX];
	struct rte_mempool *pool;          /* replies and fragment headers */
	struct rte_mempool *indirect_pool; /* fragment payloads */
	uint32_t idle_sleep_us;            /* pause after idle polls; 0 = pure busy poll */
	volatile bool stop;
};

/* What one burst produced, before transmission. */
struct worker_out {
	struct rte_mbuf *tx[WORKER_PORTS_MAX][WORKER_TX_MAX];
	uint16_t tx_count[WORKER_PORTS_MAX];
	struct rte_mbuf *kernel[WORKER_BURST];
	uint16_t kernel_count;
	struct rte_mbuf *drop[WORKER_BURST];
	uint16_t drop_count;
};

/*
 * A worker's traffic to one member (VIP, backend), indexed by member id.
 * Only the worker writes it, with plain increments; the main lcore sums the
 * workers' entries (an aligned 64-bit load does not tear on x86-64). A
 * VIP's traffic is the sum over its members, kept by the main lcore
 * (lb_dpdk.h), so that a packet costs the fast path one counter entry.
 * packets and bytes are not adjacent on purpose: GCC pairs adjacent
 * increments into SSE loads and stores, which cost more instructions than
 * two read-modify-write adds and more registers in the worker's loop.
 */
struct worker_member_stats {
	uint64_t packets;   /* tunnelled to the backend: queued for a port */
	uint64_t flows_new; /* flows the ring gave the backend (new, or moved to it) */
	uint64_t bytes;     /* IP bytes of those packets, before encapsulation */
};

struct worker_rxq {
	uint16_t port_id;
	uint16_t queue;
};

struct worker {
	uint64_t counters[COUNTER_COUNT]; /* this lcore's only; readers sum */
	struct flow_table flows;     /* flows seen twice or more */
	struct flow_table new_flows; /* first packets (flow_tables_find) */
	struct worker_shared *shared;
	struct rte_ring *to_kernel; /* single producer (this worker), single consumer (main) */
	uint64_t tsc_hz;
	uint64_t start_tsc;
	uint32_t now_s;          /* seconds since start, from 1; per burst */
	uint16_t index;          /* 0.. workers-1; also its RCU thread id */
	uint16_t tx_queue;       /* this worker's TX queue on every port */
	uint16_t rxq_count;
	struct worker_rxq rxq[WORKER_RXQ_MAX];
	unsigned int lcore_id;
	void *flow_mem, *new_flow_mem;
	/* Per-member counters (GEN_MEMBERS_MAX) and per-VIP drops for want of
	 * a backend (GEN_VIPS_MAX, by VIP id), in one allocation, stats_mem:
	 * this lcore's only; readers sum. */
	struct worker_member_stats *member_stats;
	uint64_t *vip_drops_no_backend;
	void *stats_mem;
} __rte_cache_aligned;

/*
 * Sets up a worker: flow tables of flow_capacity and new_flow_capacity
 * entries (flows, new_flows) and the per-member
 * and per-VIP counters (6 MiB) in memory from rte_zmalloc_socket
 * (huge pages when the EAL has them), a ring toward the kernel path. Main
 * lcore, before workers start. Returns 0 or -errno.
 */
int worker_init(struct worker *w, uint16_t index, struct worker_shared *shared,
		uint32_t flow_capacity, uint32_t new_flow_capacity, int socket_id);
void worker_fini(struct worker *w);

/* Bytes of a worker's per-member and per-VIP counters. */
size_t worker_stats_mem_size(void);

/*
 * Zeroes the counters of the ids generation g gives out for the first time
 * (g->fresh_*), so that a recycled id does not inherit its last owner's
 * counts. Main lcore, before g is published: no generation a worker can
 * see names those ids (gen.h), so the worker never writes them meanwhile
 * and plain stores cannot race its increments.
 */
void worker_stats_forget(struct worker *w, const struct gen *g);

/* Updates w->now_s from the TSC; call once per burst. */
static inline void worker_clock(struct worker *w, uint64_t tsc)
{
	w->now_s = (uint32_t)((tsc - w->start_tsc) / w->tsc_hz) + 1;
}

/*
 * w's clock at tsc, as worker_clock() computes it, for the main lcore, which
 * reads a worker's clock without writing w->now_s (flow-table restore at
 * start, save at stop: dataplane/handover.c).
 */
static inline uint32_t worker_clock_at(const struct worker *w, uint64_t tsc)
{
	return (uint32_t)((tsc - w->start_tsc) / w->tsc_hz) + 1;
}

/*
 * The fast path: classifies and rewrites n received frames against
 * generation g (NULL: nothing is a VIP yet), filling out. Frames for VIPs are
 * encapsulated toward their backend (or answered with ICMP too-big, or
 * fragmented); others go to out->kernel; drops to out->drop with their
 * counters bumped. Worker lcore only (and benchmarks on one core).
 */
void worker_process(struct worker *w, const struct gen *g, struct rte_mbuf **pkts, uint16_t n,
		    struct worker_out *out);

/* Sends what worker_process() produced: TX bursts per port, the kernel ring,
 * frees drops. Counts what did not fit as tx_full / kernel_full. */
void worker_transmit(struct worker *w, struct worker_out *out);

/* The lcore main loop (rte_eal_remote_launch): polls until shared->stop. */
int worker_main(void *arg);

#endif /* FULCRUM_WORKER_H */
