/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd, the control-plane daemon: its state and the operations its control
 * socket, signals and timers share. One process, one epoll loop, no threads
 * (controlplane/lbd.c); main() is in lbd_main.c so the unit tests can drive
 * a daemon without one.
 */
#ifndef FULCRUM_LBD_H
#define FULCRUM_LBD_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "controlplane/announce.h"
#include "controlplane/conf.h"
#include "controlplane/health.h"
#include "controlplane/model.h"
#include "controlplane/publish.h"
#include "controlplane/tables.h"

/* Added to the first publication's wait for every backend's verdict. */
#define LBD_HOLD_SLACK_MS 5000

struct ctl_server;
struct metrics_server;

/* One sample of the dataplane's counters, taken every second. */
struct lbd_sample {
	bool valid;
	__u64 at_ms;
	struct chan_stats stats;
	__u64 counters[COUNTER_COUNT];
};

struct lbd {
	char config_path[CONF_PATH_MAX];
	struct conf *cfg;
	struct model *model;
	struct health_engine *health;
	struct publisher pub;
	struct ctl_server *ctl;
	struct metrics_server *metrics; /* NULL: no endpoint (metrics_listen "") */

	/* The tables of the generation in service (or to be sent), one per
	 * live VIP, in model order. */
	struct vip_table **tables;
	__u32 table_count;

	int epoll_fd, signal_fd, timer_fd;
	bool waiting_logged;
	bool stop;

	/* At startup the first publication waits until every backend has a
	 * verdict (or hold_until_ms), so that a restarted lbd does not push
	 * an all-down table to a dataplane that is forwarding well. */
	bool holding;
	__u64 hold_until_ms;

	__u64 first_change_ms;     /* oldest change not yet published; 0 = none */
	__u64 publish_latency_us;  /* of the last publication: change to in service */
	__u64 generations_published;
	__u64 publish_failures;
	__u64 started_ms;

	struct lbd_sample sample, prev_sample;
	/* lb-dpdk's per-VIP and per-backend counters, read every second (and
	 * afresh when a decision depends on them, like deleting a backend). */
	struct publish_members members, prev_members;
	bool members_valid;

	/* The VIP routes handed to the routing daemon; announce_dirty: what
	 * they should be may have changed (publication, min_up, channel). */
	struct announce announce;
	bool announce_dirty;
	/* Nothing is announced before this: health checks made while the
	 * dataplane was away (through its missing interface) must be redone
	 * through it, or this instance would serve a smaller backend set
	 * than its peers and send moved flows elsewhere. */
	__u64 announce_settle_ms; /* 0: settled */
	__u64 settle_ms; /* how long that takes: rise checks, plus a timeout */

	bool state_dirty; /* run-time changes not yet in the state file */
	char state_error[256];
};

/*
 * Loads the configuration at path, builds the model, applies the state file
 * and creates the health engine (but opens no socket). Returns 0 or -errno
 * after logging why.
 */
int lbd_init(struct lbd *d, const char *path);
void lbd_fini(struct lbd *d);

/* Opens the control socket, signals and timers and runs until SIGTERM. */
int lbd_run(struct lbd *d);

/*
 * Re-reads the configuration file. With apply false only checks it (what a
 * reload would do, as a JSON summary in *result). All or nothing: on any
 * error the running configuration stays. Returns 0 or -errno with the
 * reasons, one per line, in err.
 */
int lbd_reload(struct lbd *d, bool apply, json_t **result, char *err, size_t err_size);

/* A run-time change happened (control socket, agent, reload): publish what
 * is due, persist overrides, tell monitors. */
void lbd_changed(struct lbd *d, const char *what, json_t *event);

/* Publishes every VIP whose table is due. */
void lbd_publish_due(struct lbd *d, __u64 now_ms);

/* Writes the state file now. Returns 0 or -errno with err. */
int lbd_save_state(struct lbd *d, char *err, size_t err_size);

/* The published table of a live VIP, or NULL. */
const struct vip_table *lbd_table_of(const struct lbd *d, const struct model_vip *v);

/* Sends an event to every `lbctl monitor` (takes the reference). */
void lbd_event(struct lbd *d, const char *type, json_t *fields);

/* Reads the dataplane's counters / per-member statistics into d->sample /
 * d->members. Returns 0 or -errno with err. */
int lbd_take_sample(struct lbd *d, __u64 now_ms);
int lbd_sample_members(struct lbd *d, char *err, size_t err_size);

/* The sampled dataplane record of a VIP / backend (from the last
 * lbd_sample_members), or NULL. */
const struct chan_vip_stats *lbd_vip_stats(const struct lbd *d, const struct model_vip *v);
const struct chan_member_stats *lbd_member_stats(const struct lbd *d,
						 const struct model_backend *b);
/* Flows in lb-dpdk's tables for VIP v, over the backends of its generation
 * in service. Returns 0, or -ENOENT when the sample has no such VIP. */
int lbd_vip_flows_active(const struct lbd *d, const struct model_vip *v, __u64 *flows);

/*
 * Whether VIP v's address is announced now, and if not, why not ("" when
 * it is): announcements off, the dataplane not in service, v below min_up.
 */
bool lbd_vip_announced(const struct lbd *d, const struct model_vip *v, const char **why);

/* Brings the announced routes in line with the model and the dataplane. */
void lbd_announce_update(struct lbd *d);

/* The model's mode name ("dpdk", "xdp", "auto"). */
const char *lbd_mode_name(const struct lbd *d);

#endif /* FULCRUM_LBD_H */
