/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's runtime model: the VIPs and their backends as they are now — the
 * configuration, plus what operators, autoscalers and the backends' own
 * agents changed at run time, plus health. Everything lbd publishes is
 * derived from here, by the rules below; nothing here touches a socket, so
 * the rules are tested with cmocka.
 *
 * Admin state. Every source (config, operator, scaler, agent) holds its own
 * opinion of a backend: ready (no objection), drain or maint. The backend's
 * admin state is the most restrictive opinion, so an agent saying `ready`
 * never undoes an operator's `maint`: it only withdraws the agent's own
 * objection. The source reported is the highest-ranking one holding that
 * opinion (operator, scaler, agent, config).
 *
 * Health = the health check's verdict (new backends start down and come up
 * after `rise` successes) and the agent's `up`/`down` word. An agent that
 * cannot be reached is never a health failure: its last report stays.
 *
 * Effective weight = configured weight (or the agent's absolute `weight:N`)
 * × the agent's percentage, rounded to the VIP's agent_weight_step_pct (so
 * small load wiggles do not rebuild tables), and 0 unless the backend is
 * ready and up. The table is built from it in hundredths (weight × percent),
 * so a weight of 1 at 50% still counts for half; Maglev depends only on the
 * ratios, so without agents the ring is the one of the plain weights.
 *
 * In the published table a backend is READY (new and existing flows) when
 * ready, up and of effective weight > 0; DRAIN (existing flows only) when
 * draining or of effective weight 0 while up; absent (its flows move) when in
 * maintenance or down.
 *
 * Run-time changes and reloads. Objects and fields changed at run time are
 * marked as overrides. A reload applies only what the file changed between
 * the old and the new file: a field the file did not change keeps its run-time
 * value; a field the file changed takes the file's new value (the operator
 * edited it on purpose). Backends and VIPs added at run time stay; ones
 * deleted at run time stay deleted until the file changes their entry.
 */
#ifndef FULCRUM_MODEL_H
#define FULCRUM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "controlplane/agent.h"
#include "controlplane/conf.h"

enum model_source {
	MODEL_BY_CONFIG,
	MODEL_BY_OPERATOR,
	MODEL_BY_SCALER,
	MODEL_BY_AGENT,
	MODEL_SOURCE_COUNT
};

/* A backend's place in the published table. */
enum model_table_state {
	MODEL_TABLE_ABSENT, /* not in the table: its flows move */
	MODEL_TABLE_DRAIN,  /* existing flows only */
	MODEL_TABLE_READY,  /* new and existing flows */
};

#define MODEL_REASON_MAX 160

struct model_vip;

struct model_backend {
	char name[CONF_NAME_MAX];
	struct conf_addr addr;
	__u16 port; /* host order */
	__u32 weight; /* configured: the file's, or the run-time override */
	enum conf_admin_state admin[MODEL_SOURCE_COUNT]; /* READY = no objection */

	/* Where it came from, for reloads and the state file. */
	bool in_config;          /* the file lists it */
	struct conf_backend cfg; /* the file's entry, when in_config */
	bool weight_set;         /* weight overridden at run time */
	bool added;              /* added at run time (not in the file when added) */
	bool deleted;            /* deleted at run time; kept to survive reloads */

	/* Health check verdict: starts down; rise successes bring it up. */
	bool check_up;
	__u32 successes, failures;     /* consecutive */
	bool checked;                  /* at least one result since it (re)entered */
	char check_reason[MODEL_REASON_MAX]; /* of the last result */
	__u64 check_changed_ms;        /* monotonic time of the last transition */
	__u32 check_duration_us;       /* of the last check */

	/* The agent's last good report, and whether the last read worked. */
	bool agent_valid;
	bool agent_reachable;
	struct agent_report agent;
	char agent_error[MODEL_REASON_MAX];

	/* What the last published table holds for it. */
	enum model_table_state published_state;
	__u32 published_weight;

	struct model_vip *vip;
	void *probe; /* the health engine's per-backend state */
};

struct model_vip {
	char name[CONF_NAME_MAX];
	__u8 proto; /* PKT_PROTO_TCP / PKT_PROTO_UDP */
	struct conf_addr addr;
	__u16 port; /* host order */
	__u32 table_size;
	__u32 min_up;
	struct conf_health health;

	bool in_config;
	struct conf_vip cfg; /* the file's entry without backends, when in_config */
	bool min_up_set, table_size_set;
	bool added, deleted;

	struct model_backend **backends;
	__u32 backend_count, backend_capacity;

	/* Publication bookkeeping (lbd): the table needs rebuilding; a weight
	 * change waits until weight_due_ms (rate limit per VIP). */
	bool dirty;
	bool weight_dirty;
	__u64 weight_due_ms;
	__u64 last_weight_publish_ms;
	bool withdrawn; /* fewer than min_up backends up (last evaluation) */
};

/* Told when a backend starts or stops existing for traffic (added,
 * deleted, revived, readdressed), so the health engine follows. */
struct model_hooks {
	void *ctx;
	void (*backend_added)(void *ctx, struct model_backend *b);
	void (*backend_removed)(void *ctx, struct model_backend *b);
};

struct model {
	struct model_vip **vips; /* in file order, then run-time additions */
	__u32 vip_count, vip_capacity;
	struct conf_health health_defaults;
	/* Tunnels need an outer source of the backend's family. */
	struct conf_addr encap_source_v4, encap_source_v6;
	bool vips_changed; /* a VIP was added or removed: publish */
	struct model_hooks hooks;
};

/* Names of the enums, as lbctl and the state file spell them. */
const char *model_source_name(enum model_source s);
int model_parse_source(const char *text, enum model_source *out);
const char *model_admin_name(enum conf_admin_state s);
int model_parse_admin(const char *text, enum conf_admin_state *out);
const char *model_table_state_name(enum model_table_state s);

/* A model of cfg's VIPs and backends: admin opinions from the file, every
 * backend down and unchecked. NULL with errno. */
struct model *model_create(const struct conf *cfg);
void model_destroy(struct model *m);

/* Lookups by name; deleted objects are not found. */
struct model_vip *model_vip_find(const struct model *m, const char *name);
struct model_backend *model_backend_find(const struct model_vip *v, const char *name);
/* A live backend of v with this address and port, or NULL. */
struct model_backend *model_backend_find_addr(const struct model_vip *v,
					      const struct conf_addr *addr, __u16 port);

/* The derived state (see the header comment). */
enum conf_admin_state model_backend_admin(const struct model_backend *b, enum model_source *by);
bool model_backend_up(const struct model_backend *b);
/* Effective weight in hundredths: 100 × weight at 100%. */
__u32 model_backend_weight_centi(const struct model_backend *b);
enum model_table_state model_backend_table_state(const struct model_backend *b);
/* Backends that take new flows (table state READY): what min_up counts. */
__u32 model_vip_up_count(const struct model_vip *v);

/*
 * Run-time changes. Each returns 0 or -errno with a message in err (EEXIST,
 * ENOENT, EINVAL, EBUSY, ENOMEM), and marks the VIP for publication when the
 * table changes. Validation is that of the config file.
 */
int model_vip_add(struct model *m, const struct conf_vip *spec, char *err, size_t err_size);
int model_vip_del(struct model *m, const char *name, char *err, size_t err_size);
int model_vip_set_min_up(struct model_vip *v, __u32 min_up, char *err, size_t err_size);
int model_vip_set_table_size(struct model_vip *v, __u32 table_size, char *err, size_t err_size);
int model_backend_add(struct model *m, struct model_vip *v, const struct conf_backend *spec,
		      enum model_source by, char *err, size_t err_size);
int model_backend_del(struct model_vip *v, const char *name, char *err, size_t err_size);
void model_backend_set_admin(struct model_backend *b, enum model_source by,
			     enum conf_admin_state state);
int model_backend_set_weight(struct model_backend *b, __u32 weight, char *err, size_t err_size);

/*
 * Health results. Returns true when the verdict changed (the caller logs
 * and publishes). A backend of a VIP without health checking is always up.
 */
bool model_backend_check_result(struct model_backend *b, bool ok, const char *reason,
				__u32 duration_us, __u64 now_ms);
/* The agent's report, or a failed read (report NULL, why in error). Returns
 * true when the backend's table state or effective weight may have changed. */
bool model_backend_agent_result(struct model_backend *b, const struct agent_report *report,
				const char *error);

/*
 * Applies a reload: what changed between the model's file (its cfg copies)
 * and next, as described in the header comment. All or nothing: returns 0,
 * -EEXIST when next collides with a run-time addition (a VIP or backend of
 * the same address), or -EINVAL when a run-time backend would lose its
 * tunnel source, with the reason in err. Backends new to the model start
 * down. VIPs whose inputs may have changed are marked for publication.
 */
int model_apply_config(struct model *m, const struct conf *next, char *err, size_t err_size);

/* Whether a VIP has anything to publish at now_ms: a change of table
 * state right away, a change of weight only from the agent once the VIP's
 * agent_weight_interval_ms has passed since its last weight publication. */
bool model_vip_publish_due(const struct model_vip *v, __u64 now_ms);

/* Records what was published for v: backends' published state and weight. */
void model_vip_published(struct model_vip *v, __u64 now_ms);

#endif /* FULCRUM_MODEL_H */
