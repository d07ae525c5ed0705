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
 * A half-open check (type "tcp-half-open") has no socket of its own: its
 * SYN is built by health_syn.c, sent in a batch (sendmmsg) from the
 * engine's raw socket of its family, and its answer read from that socket
 * in a batch (recvmmsg) and matched to the check by address, port and
 * cookie. Checks due within HEALTH_SYN_GATHER_MS of each other start
 * together, so that a fleet's SYNs leave in batches rather than one by one.
 * The raw sockets need CAP_NET_RAW: health_prepare() opens them, and lbd
 * calls it wherever a VIP may get that type, so a missing capability is an
 * error at start, reload or `vip add`, never a silent change of check.
 *
 * In DPDK mode the checks use the kernel's routes like any socket, and
 * leave through lb-dpdk's exception interface; nothing here knows.
 */
#ifndef FULCRUM_HEALTH_H
#define FULCRUM_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "controlplane/model.h"

/* Half-open checks start in slots of this many milliseconds of
 * CLOCK_MONOTONIC: when the first of a slot is due, every check due before
 * the slot ends starts with it. The SYNs of a fleet then leave in batches,
 * and so do the kernel's resets of the SYN-ACKs, which is what brings
 * 10 000 checks a second from about 16% to about 8% of a core here
 * (bench_health's bare loop, README "Performance"). Slots, rather than
 * "due within the next 10 ms": lbd wakes for every burst of replies, and
 * each wake would otherwise start the few checks due 10 ms after it. A
 * check starts at most this much early, against intervals of seconds. */
#define HEALTH_SYN_GATHER_MS 10

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

/*
 * Makes ready what checks of type need: for "tcp-half-open", the raw
 * sockets (IPv4 required; IPv6 when the kernel has it) and their reserved
 * source ports, once. Returns 0, or -errno with a message in err that
 * names the missing capability. Other types need nothing.
 */
int health_prepare(struct health_engine *e, enum conf_health_type type, char *err, size_t err_size);

/* The source port of the half-open checks of family (FLOW_FAMILY_IPV4 or
 * _IPV6), or 0 when none is open: for lbctl and the tests. */
__u16 health_half_open_port(const struct health_engine *e, __u8 family);

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

/* Resumes the agent reads parked while their VIP had no agent_port, for
 * VIPs that have one now (after a reload). */
void health_refresh(struct health_engine *e, struct model *m);

/* Checks b (and reads its agent) now rather than when due. */
void health_poll(struct health_engine *e, struct model_backend *b, __u64 now_ms);

/* Checks and agent reads started and in flight, for metrics and lbctl. */
struct health_totals {
	__u64 checks, check_failures, agent_reads, agent_failures;
	__u64 local_errors; /* checks not started for want of lbd's own resources */
	__u64 half_open_ignored; /* replies to our port that answered no check in flight */
	__u32 in_flight;
	__u32 probes;
};
void health_totals(const struct health_engine *e, struct health_totals *out);

/* Milliseconds on CLOCK_MONOTONIC. */
__u64 health_now_ms(void);

#endif /* FULCRUM_HEALTH_H */
