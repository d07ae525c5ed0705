/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's health checks and agent checks: non-blocking TCP connects, HTTP GETs
 * and agent reads for every backend, in lbd's one event loop.
 *
 * The engine keeps one probe per backend of the model (it follows the
 * model's hooks), a min-heap of due times and deadlines, and an epoll set
 * of its sockets; lbd watches health_fd() in its own epoll and calls
 * health_run() when it is readable or health_next_ms() has come. Results go
 * into the model (model_backend_check_result(), model_backend_agent_result());
 * the changed callback hears of every change of verdict, so lbd can log,
 * publish and tell monitors.
 *
 * Scheduling, per backend, from its VIP's health settings: a steady up
 * backend is checked every interval_ms, one whose state is being confirmed
 * (a failure while up, a success while down, fewer than `fall` results
 * since it appeared) every fast_interval_ms, a confirmed-down one every
 * down_interval_ms; each interval is spread by ±jitter_pct, and a new
 * backend's first check waits a random part of fast_interval_ms, so that a
 * fleet's checks do not fall on the same millisecond.
 *
 * A check closes its socket with a reset (SO_LINGER 0), as HAProxy does:
 * ten thousand checks a second must not leave ten thousand TIME_WAIT
 * sockets a second behind.
 *
 * In DPDK mode the checks use the kernel's routes like any socket, and
 * leave through lb-dpdk's exception interface; nothing here knows.
 */
#ifndef FULCRUM_HEALTH_H
#define FULCRUM_HEALTH_H

#include <stdbool.h>
#include <linux/types.h>

#include "controlplane/model.h"

enum health_event {
	HEALTH_CHECK_CHANGED, /* the check verdict flipped */
	HEALTH_AGENT_CHANGED, /* the agent's report changed table state or weight */
	HEALTH_AGENT_FAILED,  /* the agent stopped answering (first failure) */
};

struct health_engine;

typedef void (*health_changed_fn)(void *ctx, struct model_backend *b, enum health_event event);

/* A new engine. Register model hooks with health_hooks(). NULL with errno. */
struct health_engine *health_create(health_changed_fn changed, void *ctx);
void health_destroy(struct health_engine *e);

/* Hooks that keep the engine's probes in step with the model's backends. */
struct model_hooks health_hooks(struct health_engine *e);

/* Starts probing every live backend of m (at startup). */
void health_start(struct health_engine *e, struct model *m);

/* The epoll fd to watch for readability. */
int health_fd(const struct health_engine *e);

/* Monotonic milliseconds of the next timer, or UINT64_MAX. */
__u64 health_next_ms(const struct health_engine *e);

/* Handles ready sockets and due timers. now_ms: CLOCK_MONOTONIC. */
void health_run(struct health_engine *e, __u64 now_ms);

/* Checks b (and reads its agent) now rather than when due. */
void health_poll(struct health_engine *e, struct model_backend *b, __u64 now_ms);

/* Checks and agent reads started and in flight, for metrics and lbctl. */
struct health_totals {
	__u64 checks, check_failures, agent_reads, agent_failures;
	__u64 local_errors; /* checks not started for want of lbd's own resources */
	__u32 in_flight;
	__u32 probes;
};
void health_totals(const struct health_engine *e, struct health_totals *out);

/* Milliseconds on CLOCK_MONOTONIC. */
__u64 health_now_ms(void);

#endif /* FULCRUM_HEALTH_H */
