/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's process state, shared by its main-lcore modules: setup and the
 * main loop (lb_dpdk.c), ports and exception interfaces (port.c), the
 * control channel server (control.c) and telemetry (telemetry.c).
 */
#ifndef FULCRUM_LB_DPDK_H
#define FULCRUM_LB_DPDK_H

#include <pthread.h>
#include <stdint.h>

#include <rte_log.h>

#include "controlplane/conf.h"
#include "dataplane/chan.h"
#include "dataplane/flow_state.h"
#include "dataplane/gen.h"
#include "dataplane/nexthop.h"
#include "dataplane/worker.h"

#define LB_WORKERS_MAX CONF_LCORES_MAX

#define LB_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, RTE_LOGTYPE_USER1, "lb-dpdk: " fmt "\n", ##__VA_ARGS__)

/* A port and its exception interface. */
struct lb_port {
	const struct conf_dpdk_port *conf;
	uint16_t port_id;     /* the wire */
	uint16_t tap_port_id; /* the kernel's side */
	int tap_ifindex;
	uint16_t rx_queues;
};

/* Traffic counts: a member's summed over workers, or a VIP's base below. */
struct lb_traffic {
	uint64_t packets;
	uint64_t bytes;
	uint64_t flows_new;
};

/* The flow state file at this start (handover.c): what became of it. */
struct lb_handover {
	struct flow_state *pending; /* loaded, waiting for the first generation */
	const char *outcome;        /* "off", "pending", "restored", or a flow_state_status name */
	__u64 file_flows;           /* flows the file held, when its header was sound */
	__u64 unplaced;             /* of a file of another geometry: not restored */
	long long load_age_s;       /* the file's age when loaded */
	struct flow_state_restore_stats restored;
};

struct lb_dpdk {
	struct conf *conf;
	struct worker_shared shared;
	struct worker *workers; /* worker_count, cache aligned */
	uint16_t worker_count;
	struct lb_port ports[WORKER_PORTS_MAX];
	uint16_t port_count;
	uint64_t main_counters[COUNTER_COUNT]; /* the main lcore's own (kernel -> wire) */

	struct gen_registry *registry;
	/* By VIP id (GEN_VIPS_MAX), what a VIP's counters hold beyond the sums
	 * over its members in service: the traffic of members since gone
	 * (added as they leave), less the counts members bring back (taken
	 * off as they rejoin). Unsigned: it may wrap below zero, the total
	 * never does. Changed by the main lcore under lock. */
	struct lb_traffic *vip_base;
	struct gen_builder *staging;  /* generation being received, or NULL */
	int staging_failed;           /* an error was answered: ignore until COMMIT */
	struct nexthop_table *nexthops;
	int nexthops_changed; /* a generation brought new next hops: refresh now */

	int epoll_fd;
	int listen_fd;
	int client_fd; /* the lbd connected, or -1 */
	struct chan_reader reader;

	/* Held by the main lcore while it changes what telemetry reads (the
	 * generation, next hops) and by every telemetry callback, which runs
	 * on DPDK's telemetry thread. Never taken by workers. */
	pthread_mutex_t lock;
	uint64_t started_tsc;
	struct lb_handover handover;
};

/* port.c: opens every configured port and its exception interface. Returns
 * 0, or -errno after logging what failed. */
int port_setup_all(struct lb_dpdk *lb, struct rte_mempool *pool);
void port_close_all(struct lb_dpdk *lb);

/* port.c: moves frames between the workers' kernel rings, the exception
 * interfaces and the ports. Returns the frames moved. */
uint32_t port_exception_poll(struct lb_dpdk *lb);

/* control.c: the channel server. */
int control_listen(struct lb_dpdk *lb);
void control_accept(struct lb_dpdk *lb);
void control_readable(struct lb_dpdk *lb);
void control_close(struct lb_dpdk *lb);

/* control.c: counters summed over the workers and the main lcore. */
void lb_counters_sum(const struct lb_dpdk *lb, uint64_t *sum);

/*
 * control.c: the MEMBERS payload (dataplane/chan.h) for the generation in
 * service, in a malloc'ed buffer of *length bytes: counters summed over
 * workers, active flows counted by scanning every worker's flow table
 * (about 2 ms per million entries, on this thread). Main lcore, or a thread
 * holding lb->lock. NULL with errno ENOMEM.
 */
void *lb_members_collect(const struct lb_dpdk *lb, __u32 *length);

/*
 * handover.c: the flow tables across a restart (dataplane/flow_state.h).
 * handover_load() reads the flow state file at start, before lbd connects;
 * handover_restore() puts its flows into the workers' tables when the first
 * generation g has been built, before g is published (control.c, under
 * lb->lock): until a generation is in service no worker touches its flow
 * table, and publishing g makes the entries visible with it;
 * handover_save() writes the tables at a graceful stop, workers stopped.
 * Each logs what it did; none fails lb-dpdk.
 */
void handover_load(struct lb_dpdk *lb);
void handover_restore(struct lb_dpdk *lb, const struct gen *g);
void handover_save(struct lb_dpdk *lb);
void handover_fini(struct lb_dpdk *lb);

/*
 * unmap_guard.c: from unmap_guard_init() to unmap_guard_fini(), memory that
 * DPDK's interrupt thread unmaps (a memif peer's regions when it leaves) is
 * unmapped only after a grace period of rcu, the pollers' QSBR variable.
 * Main lcore.
 */
void unmap_guard_init(struct rte_rcu_qsbr *rcu);
void unmap_guard_fini(void);

/* telemetry.c: registers the /fulcrum/... commands. */
void telemetry_register(struct lb_dpdk *lb);

#endif /* FULCRUM_LB_DPDK_H */
