/* SPDX-License-Identifier: BSD-3-Clause */
/* lbd's runtime model (controlplane/model.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/maglev.h"
#include "controlplane/model.h"

static const char *const model_source_names[] = { "config", "operator", "scaler", "agent" };
static const char *const model_admin_names[] = { "ready", "drain", "maint" };
static const char *const model_table_state_names[] = { "absent", "drain", "ready" };

const char *model_source_name(enum model_source s)
{
	return (unsigned)s < MODEL_SOURCE_COUNT ? model_source_names[s] : "unknown";
}

int model_parse_source(const char *text, enum model_source *out)
{
	for (int s = 0; s < MODEL_SOURCE_COUNT; s++) {
		if (strcmp(text, model_source_names[s]) == 0) {
			*out = (enum model_source)s;
			return 0;
		}
	}
	return -EINVAL;
}

const char *model_admin_name(enum conf_admin_state s)
{
	return (unsigned)s <= CONF_ADMIN_MAINT ? model_admin_names[s] : "unknown";
}

int model_parse_admin(const char *text, enum conf_admin_state *out)
{
	for (int s = 0; s <= CONF_ADMIN_MAINT; s++) {
		if (strcmp(text, model_admin_names[s]) == 0) {
			*out = (enum conf_admin_state)s;
			return 0;
		}
	}
	return -EINVAL;
}

const char *model_table_state_name(enum model_table_state s)
{
	return (unsigned)s <= MODEL_TABLE_READY ? model_table_state_names[s] : "unknown";
}

static void model_err(char *err, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void model_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!err || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static bool model_addr_equal(const struct conf_addr *a, const struct conf_addr *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Names follow the config file's rule: letters, digits, '-', '_', '.'. */
static int model_check_name(const char *what, const char *name, char *err, size_t err_size)
{
	if (!*name || strlen(name) >= CONF_NAME_MAX) {
		model_err(err, err_size, "%s name must have 1 to %d characters", what,
			  CONF_NAME_MAX - 1);
		return -EINVAL;
	}
	for (const char *c = name; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.')) {
			model_err(err, err_size,
				  "%s name \"%s\" may hold only letters, digits, '-', '_' and '.'",
				  what, name);
			return -EINVAL;
		}
	}
	return 0;
}

static const struct conf_addr *model_encap_source(const struct model *m, __u8 family)
{
	return family == FLOW_FAMILY_IPV4 ? &m->encap_source_v4 : &m->encap_source_v6;
}

static void model_hook_added(struct model *m, struct model_backend *b)
{
	if (m->hooks.backend_added)
		m->hooks.backend_added(m->hooks.ctx, b);
}

static void model_hook_removed(struct model *m, struct model_backend *b)
{
	if (m->hooks.backend_removed)
		m->hooks.backend_removed(m->hooks.ctx, b);
}

/* ---- derived state ---- */

enum conf_admin_state model_backend_admin(const struct model_backend *b, enum model_source *by)
{
	/* Ranked from the strongest voice down, for naming who set it. */
	static const enum model_source rank[] = { MODEL_BY_OPERATOR, MODEL_BY_SCALER,
						  MODEL_BY_AGENT, MODEL_BY_CONFIG };
	enum conf_admin_state worst = CONF_ADMIN_READY;
	enum model_source who = MODEL_BY_CONFIG;

	for (unsigned i = 0; i < MODEL_SOURCE_COUNT; i++) {
		if (b->admin[rank[i]] > worst) {
			worst = b->admin[rank[i]];
			who = rank[i];
		}
	}
	if (by)
		*by = who;
	return worst;
}

bool model_backend_up(const struct model_backend *b)
{
	bool checked_up = b->vip->health.type == CONF_HEALTH_NONE || b->check_up;

	return checked_up && !(b->agent_valid && b->agent.health == AGENT_HEALTH_DOWN);
}

__u32 model_backend_weight_centi(const struct model_backend *b)
{
	__u32 base = b->weight, pct = 100;

	if (b->deleted || model_backend_admin(b, NULL) != CONF_ADMIN_READY ||
	    !model_backend_up(b))
		return 0;
	if (b->agent_valid && b->agent.has_weight)
		base = b->agent.weight > CONF_WEIGHT_MAX ? CONF_WEIGHT_MAX : b->agent.weight;
	if (b->agent_valid && b->agent.has_weight_pct) {
		__u32 step = b->vip->health.agent_weight_step_pct ? b->vip->health.agent_weight_step_pct
								   : 1;
		pct = (b->agent.weight_pct + step / 2) / step * step;
		if (pct == 0 && b->agent.weight_pct > 0)
			pct = step; /* a little load is not "no new flows" */
	}
	return base * pct;
}

enum model_table_state model_backend_table_state(const struct model_backend *b)
{
	enum conf_admin_state admin = model_backend_admin(b, NULL);

	if (b->deleted || admin == CONF_ADMIN_MAINT || !model_backend_up(b))
		return MODEL_TABLE_ABSENT;
	if (admin == CONF_ADMIN_DRAIN || model_backend_weight_centi(b) == 0)
		return MODEL_TABLE_DRAIN;
	return MODEL_TABLE_READY;
}

__u32 model_vip_up_count(const struct model_vip *v)
{
	__u32 n = 0;

	for (__u32 i = 0; i < v->backend_count; i++)
		n += model_backend_table_state(v->backends[i]) == MODEL_TABLE_READY;
	return n;
}

/* Compares a backend with what was published, to mark its VIP: a change of
 * table state or an operator's weight publishes now, an agent's weight
 * change waits for the VIP's rate limit. */
static void model_backend_note(struct model_backend *b, bool weight_now)
{
	struct model_vip *v = b->vip;

	if (model_backend_table_state(b) != b->published_state)
		v->dirty = true;
	else if (model_backend_weight_centi(b) != b->published_weight) {
		if (weight_now)
			v->dirty = true;
		else
			v->weight_dirty = true;
	}
}

bool model_vip_publish_due(const struct model_vip *v, __u64 now_ms)
{
	if (v->deleted)
		return false;
	return v->dirty ||
	       (v->weight_dirty &&
		now_ms >= v->last_weight_publish_ms + v->health.agent_weight_interval_ms);
}

void model_vip_published(struct model_vip *v, __u64 now_ms)
{
	bool weights_moved = false;

	for (__u32 i = 0; i < v->backend_count; i++) {
		struct model_backend *b = v->backends[i];
		__u32 w = model_backend_weight_centi(b);

		weights_moved |= w != b->published_weight;
		b->published_state = model_backend_table_state(b);
		b->published_weight = w;
	}
	if (weights_moved)
		v->last_weight_publish_ms = now_ms;
	v->dirty = false;
	v->weight_dirty = false;
}

/* ---- construction ---- */

static void model_backend_reset_health(struct model_backend *b)
{
	b->check_up = false;
	b->checked = false;
	b->successes = b->failures = 0;
	snprintf(b->check_reason, sizeof(b->check_reason), "not checked yet");
	b->agent_valid = false;
	b->agent_reachable = false;
	memset(&b->agent, 0, sizeof(b->agent));
	b->admin[MODEL_BY_AGENT] = CONF_ADMIN_READY;
	b->agent_error[0] = '\0';
}

static struct model_backend *model_backend_create(struct model_vip *v, const struct conf_backend *cb)
{
	struct model_backend *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	snprintf(b->name, sizeof(b->name), "%s", cb->name);
	b->addr = cb->addr;
	b->port = cb->port;
	b->weight = cb->weight;
	b->admin[MODEL_BY_CONFIG] = cb->state;
	b->vip = v;
	model_backend_reset_health(b);
	return b;
}

static int model_vip_append(struct model_vip *v, struct model_backend *b)
{
	if (v->backend_count == v->backend_capacity) {
		__u32 cap = v->backend_capacity ? v->backend_capacity * 2 : 8;
		struct model_backend **grown = realloc(v->backends, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		v->backends = grown;
		v->backend_capacity = cap;
	}
	v->backends[v->backend_count++] = b;
	return 0;
}

static void model_vip_remove_at(struct model_vip *v, __u32 i)
{
	free(v->backends[i]);
	memmove(&v->backends[i], &v->backends[i + 1],
		(v->backend_count - i - 1) * sizeof(*v->backends));
	v->backend_count--;
}

static void model_vip_set_fields(struct model_vip *v, const struct conf_vip *cv)
{
	snprintf(v->name, sizeof(v->name), "%s", cv->name);
	v->proto = cv->proto;
	v->addr = cv->addr;
	v->port = cv->port;
	v->table_size = cv->table_size;
	v->min_up = cv->min_up;
	v->health = cv->health;
}

static void model_vip_destroy(struct model_vip *v)
{
	if (!v)
		return;
	for (__u32 i = 0; i < v->backend_count; i++)
		free(v->backends[i]);
	free(v->backends);
	free(v);
}

/* A VIP and its backends from a file entry (in_config) or a request. */
static struct model_vip *model_vip_create(const struct conf_vip *cv, bool in_config)
{
	struct model_vip *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	model_vip_set_fields(v, cv);
	v->in_config = in_config;
	v->added = !in_config;
	if (in_config) {
		v->cfg = *cv;
		v->cfg.backends = NULL;
		v->cfg.backend_count = 0;
	}
	v->dirty = true;
	for (__u32 i = 0; i < cv->backend_count; i++) {
		struct model_backend *b = model_backend_create(v, &cv->backends[i]);
		if (!b || model_vip_append(v, b)) {
			free(b);
			model_vip_destroy(v);
			errno = ENOMEM;
			return NULL;
		}
		b->in_config = in_config;
		b->added = !in_config;
		if (in_config)
			b->cfg = cv->backends[i];
	}
	return v;
}

static int model_append_vip(struct model *m, struct model_vip *v)
{
	if (m->vip_count == m->vip_capacity) {
		__u32 cap = m->vip_capacity ? m->vip_capacity * 2 : 8;
		struct model_vip **grown = realloc(m->vips, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		m->vips = grown;
		m->vip_capacity = cap;
	}
	m->vips[m->vip_count++] = v;
	m->vips_changed = true;
	return 0;
}

struct model *model_create(const struct conf *cfg)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->health_defaults = cfg->health_defaults;
	m->encap_source_v4 = cfg->dataplane.encap_source_v4;
	m->encap_source_v6 = cfg->dataplane.encap_source_v6;
	for (__u32 i = 0; i < cfg->vip_count; i++) {
		struct model_vip *v = model_vip_create(&cfg->vips[i], true);
		if (!v || model_append_vip(m, v)) {
			model_vip_destroy(v);
			model_destroy(m);
			errno = ENOMEM;
			return NULL;
		}
	}
	return m;
}

void model_destroy(struct model *m)
{
	if (!m)
		return;
	for (__u32 i = 0; i < m->vip_count; i++)
		model_vip_destroy(m->vips[i]);
	free(m->vips);
	free(m);
}

/* ---- lookups ---- */

static struct model_vip *model_vip_find_any(const struct model *m, const char *name)
{
	for (__u32 i = 0; i < m->vip_count; i++)
		if (strcmp(m->vips[i]->name, name) == 0)
			return m->vips[i];
	return NULL;
}

struct model_vip *model_vip_find(const struct model *m, const char *name)
{
	struct model_vip *v = model_vip_find_any(m, name);

	return v && !v->deleted ? v : NULL;
}

static struct model_backend *model_backend_find_any(const struct model_vip *v, const char *name)
{
	for (__u32 i = 0; i < v->backend_count; i++)
		if (strcmp(v->backends[i]->name, name) == 0)
			return v->backends[i];
	return NULL;
}

struct model_backend *model_backend_find(const struct model_vip *v, const char *name)
{
	struct model_backend *b = model_backend_find_any(v, name);

	return b && !b->deleted ? b : NULL;
}

struct model_backend *model_backend_find_addr(const struct model_vip *v,
					      const struct conf_addr *addr, __u16 port)
{
	for (__u32 i = 0; i < v->backend_count; i++) {
		struct model_backend *b = v->backends[i];
		if (!b->deleted && b->port == port && model_addr_equal(&b->addr, addr))
			return b;
	}
	return NULL;
}

static struct model_vip *model_vip_find_key(const struct model *m, __u8 proto,
					    const struct conf_addr *addr, __u16 port)
{
	for (__u32 i = 0; i < m->vip_count; i++) {
		struct model_vip *v = m->vips[i];
		if (!v->deleted && v->proto == proto && v->port == port &&
		    model_addr_equal(&v->addr, addr))
			return v;
	}
	return NULL;
}

/* ---- run-time changes ---- */

static int model_check_backend(const struct model *m, const struct model_vip *v,
			       const struct conf_backend *cb, char *err, size_t err_size)
{
	char addr[64];
	int rc = model_check_name("backend", cb->name, err, err_size);

	if (rc)
		return rc;
	if (cb->addr.family != FLOW_FAMILY_IPV4 && cb->addr.family != FLOW_FAMILY_IPV6) {
		model_err(err, err_size, "backend %s: no address", cb->name);
		return -EINVAL;
	}
	if (cb->port == 0) {
		model_err(err, err_size, "backend %s: port 0", cb->name);
		return -EINVAL;
	}
	if (cb->weight > CONF_WEIGHT_MAX) {
		model_err(err, err_size, "weight %u is above %u", cb->weight, CONF_WEIGHT_MAX);
		return -EINVAL;
	}
	if (!model_encap_source(m, cb->addr.family)->family) {
		model_err(err, err_size,
			  "backend %s is IPv%d but dataplane.encap_source_v%d is not set: the "
			  "tunnel to it would have no source address",
			  conf_fmt_addr(&cb->addr, addr, sizeof(addr)), cb->addr.family,
			  cb->addr.family);
		return -EINVAL;
	}
	if (model_backend_find(v, cb->name)) {
		model_err(err, err_size, "vip %s already has a backend named %s", v->name, cb->name);
		return -EEXIST;
	}
	const struct model_backend *same = model_backend_find_addr(v, &cb->addr, cb->port);
	if (same) {
		model_err(err, err_size, "%s port %u is already backend %s of vip %s",
			  conf_fmt_addr(&cb->addr, addr, sizeof(addr)), cb->port, same->name,
			  v->name);
		return -EEXIST;
	}
	if (v->backend_count + 1 >= v->table_size || v->backend_count + 1 > MAGLEV_BACKENDS_MAX) {
		model_err(err, err_size, "vip %s: %u slots cannot hold %u backends", v->name,
			  v->table_size, v->backend_count + 1);
		return -E2BIG;
	}
	return 0;
}

int model_vip_add(struct model *m, const struct conf_vip *spec, char *err, size_t err_size)
{
	char addr[64];
	int rc = model_check_name("vip", spec->name, err, err_size);

	if (rc)
		return rc;
	if (model_vip_find(m, spec->name)) {
		model_err(err, err_size, "vip %s already exists", spec->name);
		return -EEXIST;
	}
	if (spec->addr.family != FLOW_FAMILY_IPV4 && spec->addr.family != FLOW_FAMILY_IPV6) {
		model_err(err, err_size, "vip %s: no address", spec->name);
		return -EINVAL;
	}
	if (spec->proto != PKT_PROTO_TCP && spec->proto != PKT_PROTO_UDP) {
		model_err(err, err_size, "vip %s: protocol must be tcp or udp", spec->name);
		return -EINVAL;
	}
	if (spec->port == 0) {
		model_err(err, err_size, "vip %s: port must be 1..65535", spec->name);
		return -EINVAL;
	}
	if (!maglev_table_size_valid(spec->table_size)) {
		model_err(err, err_size, "table_size %u is not a prime in %u..%u (try 65537)",
			  spec->table_size, MAGLEV_TABLE_SIZE_MIN, MAGLEV_TABLE_SIZE_MAX);
		return -EINVAL;
	}
	const struct model_vip *same = model_vip_find_key(m, spec->proto, &spec->addr, spec->port);
	if (same) {
		model_err(err, err_size, "%s %s port %u is already vip %s",
			  spec->proto == PKT_PROTO_TCP ? "tcp" : "udp",
			  conf_fmt_addr(&spec->addr, addr, sizeof(addr)), spec->port, same->name);
		return -EEXIST;
	}
	struct conf_vip bare = *spec;
	bare.backends = NULL;
	bare.backend_count = 0;
	struct model_vip *v = model_vip_create(&bare, false);
	if (!v)
		return -ENOMEM;
	for (__u32 i = 0; i < spec->backend_count; i++) {
		rc = model_check_backend(m, v, &spec->backends[i], err, err_size);
		struct model_backend *b = rc ? NULL : model_backend_create(v, &spec->backends[i]);
		if (!rc && (!b || model_vip_append(v, b))) {
			free(b);
			rc = -ENOMEM;
		}
		if (rc) {
			model_vip_destroy(v);
			return rc;
		}
		b->added = true;
	}
	/* A deleted file VIP of the same name gives way: the operator has
	 * defined the name anew. */
	struct model_vip *old = model_vip_find_any(m, spec->name);
	if (old) {
		for (__u32 i = 0; i < m->vip_count; i++) {
			if (m->vips[i] == old) {
				m->vips[i] = v;
				break;
			}
		}
		model_vip_destroy(old);
		m->vips_changed = true;
	} else if (model_append_vip(m, v)) {
		model_vip_destroy(v);
		return -ENOMEM;
	}
	for (__u32 i = 0; i < v->backend_count; i++)
		model_hook_added(m, v->backends[i]);
	return 0;
}

int model_vip_del(struct model *m, const char *name, char *err, size_t err_size)
{
	struct model_vip *v = model_vip_find(m, name);

	if (!v) {
		model_err(err, err_size, "no vip %s", name);
		return -ENOENT;
	}
	for (__u32 i = 0; i < v->backend_count; i++)
		if (!v->backends[i]->deleted)
			model_hook_removed(m, v->backends[i]);
	m->vips_changed = true;
	if (v->in_config) {
		/* Kept as a tombstone so that a reload of an unchanged file
		 * does not bring it back. */
		v->deleted = true;
		return 0;
	}
	for (__u32 i = 0; i < m->vip_count; i++) {
		if (m->vips[i] == v) {
			memmove(&m->vips[i], &m->vips[i + 1], (m->vip_count - i - 1) * sizeof(*m->vips));
			m->vip_count--;
			break;
		}
	}
	model_vip_destroy(v);
	return 0;
}

int model_vip_set_min_up(struct model_vip *v, __u32 min_up, char *err, size_t err_size)
{
	if (min_up > MAGLEV_BACKENDS_MAX) {
		model_err(err, err_size, "min_up %u is above %u", min_up, MAGLEV_BACKENDS_MAX);
		return -EINVAL;
	}
	v->min_up = min_up;
	v->min_up_set = true;
	return 0;
}

int model_vip_set_table_size(struct model_vip *v, __u32 table_size, char *err, size_t err_size)
{
	if (!maglev_table_size_valid(table_size)) {
		model_err(err, err_size, "table_size %u is not a prime in %u..%u (try 65537)",
			  table_size, MAGLEV_TABLE_SIZE_MIN, MAGLEV_TABLE_SIZE_MAX);
		return -EINVAL;
	}
	if (v->backend_count >= table_size) {
		model_err(err, err_size, "%u slots cannot hold %u backends", table_size,
			  v->backend_count);
		return -EINVAL;
	}
	v->table_size = table_size;
	v->table_size_set = true;
	v->dirty = true;
	return 0;
}

int model_backend_add(struct model *m, struct model_vip *v, const struct conf_backend *spec,
		      enum model_source by, char *err, size_t err_size)
{
	int rc = model_check_backend(m, v, spec, err, err_size);

	if (rc)
		return rc;
	struct model_backend *b = model_backend_create(v, spec);
	if (!b)
		return -ENOMEM;
	/* The state asked for is the adding source's opinion; the file has
	 * none for a backend it does not list. */
	b->admin[MODEL_BY_CONFIG] = CONF_ADMIN_READY;
	b->admin[by] = spec->state;
	b->added = true;
	b->weight_set = true;
	struct model_backend *old = model_backend_find_any(v, spec->name);
	if (old) {
		/* A deleted file backend of that name gives way. */
		for (__u32 i = 0; i < v->backend_count; i++) {
			if (v->backends[i] == old) {
				free(old);
				v->backends[i] = b;
				break;
			}
		}
	} else if (model_vip_append(v, b)) {
		free(b);
		return -ENOMEM;
	}
	model_hook_added(m, b);
	model_backend_note(b, true);
	return 0;
}

int model_backend_del(struct model_vip *v, const char *name, char *err, size_t err_size)
{
	struct model_backend *b = model_backend_find(v, name);

	if (!b) {
		model_err(err, err_size, "vip %s has no backend %s", v->name, name);
		return -ENOENT;
	}
	v->dirty = true;
	if (b->in_config) {
		b->deleted = true;
		return 0;
	}
	for (__u32 i = 0; i < v->backend_count; i++) {
		if (v->backends[i] == b) {
			model_vip_remove_at(v, i);
			break;
		}
	}
	return 0;
}

void model_backend_set_admin(struct model_backend *b, enum model_source by,
			     enum conf_admin_state state)
{
	b->admin[by] = state;
	model_backend_note(b, true);
}

int model_backend_set_weight(struct model_backend *b, __u32 weight, char *err, size_t err_size)
{
	if (weight > CONF_WEIGHT_MAX) {
		model_err(err, err_size, "weight %u is above %u", weight, CONF_WEIGHT_MAX);
		return -EINVAL;
	}
	b->weight = weight;
	b->weight_set = true;
	model_backend_note(b, true);
	return 0;
}

/* ---- health and agent results ---- */

bool model_backend_check_result(struct model_backend *b, bool ok, const char *reason,
				__u32 duration_us, __u64 now_ms)
{
	const struct conf_health *h = &b->vip->health;
	bool was_up = b->check_up;

	snprintf(b->check_reason, sizeof(b->check_reason), "%s", reason ? reason : "");
	b->check_duration_us = duration_us;
	b->checked = true;
	if (ok) {
		b->failures = 0;
		if (b->successes < h->rise)
			b->successes++;
		if (!b->check_up && b->successes >= h->rise)
			b->check_up = true;
	} else {
		b->successes = 0;
		if (b->failures < h->fall)
			b->failures++;
		if (b->check_up && b->failures >= h->fall)
			b->check_up = false;
	}
	if (b->check_up == was_up)
		return false;
	b->check_changed_ms = now_ms;
	model_backend_note(b, true);
	return true;
}

bool model_backend_agent_result(struct model_backend *b, const struct agent_report *report,
				const char *error)
{
	enum model_table_state state_before = model_backend_table_state(b);
	__u32 weight_before = model_backend_weight_centi(b);

	if (!report) {
		/* Unreachable or nonsense: never a health failure; the last
		 * good report stays in force. */
		b->agent_reachable = false;
		snprintf(b->agent_error, sizeof(b->agent_error), "%s", error ? error : "no reply");
		return false;
	}
	b->agent_reachable = true;
	b->agent_error[0] = '\0';
	/* Words a reply leaves out keep their last value, as in HAProxy. */
	if (!b->agent_valid)
		memset(&b->agent, 0, sizeof(b->agent));
	b->agent_valid = true;
	if (report->has_weight_pct) {
		b->agent.has_weight_pct = true;
		b->agent.weight_pct = report->weight_pct;
	}
	if (report->has_weight) {
		b->agent.has_weight = true;
		b->agent.weight = report->weight;
	}
	if (report->health != AGENT_HEALTH_NONE)
		b->agent.health = report->health;
	if (report->admin != AGENT_ADMIN_NONE) {
		b->agent.admin = report->admin;
		b->admin[MODEL_BY_AGENT] = report->admin == AGENT_ADMIN_MAINT   ? CONF_ADMIN_MAINT
					   : report->admin == AGENT_ADMIN_DRAIN ? CONF_ADMIN_DRAIN
										: CONF_ADMIN_READY;
	}
	snprintf(b->agent.reason, sizeof(b->agent.reason), "%s", report->reason);
	model_backend_note(b, false);
	return model_backend_table_state(b) != state_before ||
	       model_backend_weight_centi(b) != weight_before;
}

/* ---- reload ---- */

static const struct conf_vip *model_conf_vip_find(const struct conf *c, const char *name)
{
	for (__u32 i = 0; i < c->vip_count; i++)
		if (strcmp(c->vips[i].name, name) == 0)
			return &c->vips[i];
	return NULL;
}

static const struct conf_backend *model_conf_backend_find(const struct conf_vip *cv,
							  const char *name)
{
	for (__u32 i = 0; i < cv->backend_count; i++)
		if (strcmp(cv->backends[i].name, name) == 0)
			return &cv->backends[i];
	return NULL;
}

static int model_check_tunnel_source(const struct conf *next, const struct model_vip *v,
				     const struct model_backend *b, char *err, size_t err_size)
{
	const struct conf_addr *src = b->addr.family == FLOW_FAMILY_IPV4
					      ? &next->dataplane.encap_source_v4
					      : &next->dataplane.encap_source_v6;
	char addr[64];

	if (src->family)
		return 0;
	model_err(err, err_size,
		  "%s: dataplane.encap_source_v%d is not set, but backend %s (%s) of vip %s, "
		  "added at run time, needs it",
		  next->source, b->addr.family, b->name,
		  conf_fmt_addr(&b->addr, addr, sizeof(addr)), v->name);
	return -EINVAL;
}

/* What a reload would collide with, checked before anything changes. */
static int model_check_config(const struct model *m, const struct conf *next, char *err,
			      size_t err_size)
{
	int rc;

	for (__u32 i = 0; i < m->vip_count; i++) {
		const struct model_vip *v = m->vips[i];
		const struct conf_vip *cv = model_conf_vip_find(next, v->name);

		if (v->deleted || (!cv && v->in_config))
			continue; /* the file drops it, or it stays deleted */
		if (!cv) {
			/* A run-time VIP the file does not name. */
			for (__u32 j = 0; j < next->vip_count; j++) {
				const struct conf_vip *o = &next->vips[j];
				if (o->proto == v->proto && o->port == v->port &&
				    model_addr_equal(&o->addr, &v->addr)) {
					model_err(err, err_size,
						  "%s:%d: vip %s has the address of vip %s, added at "
						  "run time; delete that one first",
						  next->source, o->line, o->name, v->name);
					return -EEXIST;
				}
			}
		}
		for (__u32 k = 0; k < v->backend_count; k++) {
			const struct model_backend *b = v->backends[k];
			if (b->deleted || b->in_config || (cv && model_conf_backend_find(cv, b->name)))
				continue; /* the file owns it, or adopts it by name */
			for (__u32 j = 0; cv && j < cv->backend_count; j++) {
				const struct conf_backend *o = &cv->backends[j];
				if (o->port == b->port && model_addr_equal(&o->addr, &b->addr)) {
					model_err(err, err_size,
						  "%s:%d: backend %s of vip %s has the address of "
						  "backend %s, added at run time; delete that one "
						  "first",
						  next->source, o->line, o->name, v->name, b->name);
					return -EEXIST;
				}
			}
			rc = model_check_tunnel_source(next, v, b, err, err_size);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static bool model_conf_vip_fields_equal(const struct conf_vip *a, const struct conf_vip *b)
{
	return a->proto == b->proto && a->port == b->port && model_addr_equal(&a->addr, &b->addr) &&
	       a->table_size == b->table_size && a->min_up == b->min_up &&
	       memcmp(&a->health, &b->health, sizeof(a->health)) == 0;
}

static bool model_conf_backend_equal(const struct conf_backend *a, const struct conf_backend *b)
{
	return a->port == b->port && model_addr_equal(&a->addr, &b->addr) &&
	       a->weight == b->weight && a->state == b->state;
}

/* One backend of a VIP the file lists: merge the file's entry. */
static int model_merge_backend(struct model *m, struct model_vip *v, const struct conf_backend *cb)
{
	struct model_backend *b = model_backend_find_any(v, cb->name);

	if (!b) {
		b = model_backend_create(v, cb);
		if (!b || model_vip_append(v, b)) {
			free(b);
			return -ENOMEM;
		}
		b->in_config = true;
		b->cfg = *cb;
		model_hook_added(m, b);
		return 0;
	}
	const struct conf_backend *old = b->in_config ? &b->cfg : NULL;
	if (old && model_conf_backend_equal(old, cb))
		return 0; /* the file did not touch it: run-time values stay */
	bool readdressed = b->port != cb->port || !model_addr_equal(&b->addr, &cb->addr);
	bool was_live = !b->deleted;
	if (was_live && readdressed)
		model_hook_removed(m, b);
	if (!old || old->weight != cb->weight) {
		b->weight = cb->weight;
		b->weight_set = false;
	}
	if (!old || old->state != cb->state)
		b->admin[MODEL_BY_CONFIG] = cb->state;
	if (readdressed) {
		/* Another machine: its health starts over. */
		b->addr = cb->addr;
		b->port = cb->port;
		model_backend_reset_health(b);
	}
	b->deleted = false;
	b->in_config = true;
	b->added = false;
	b->cfg = *cb;
	if (!was_live || readdressed)
		model_hook_added(m, b);
	return 0;
}

static int model_merge_vip(struct model *m, struct model_vip *v, const struct conf_vip *cv)
{
	const struct conf_vip *old = v->in_config ? &v->cfg : NULL;
	bool changed = !old || !model_conf_vip_fields_equal(old, cv);
	bool was_live = !v->deleted;
	int rc;

	if (changed) {
		if (!old || old->proto != cv->proto || old->port != cv->port ||
		    !model_addr_equal(&old->addr, &cv->addr)) {
			v->proto = cv->proto;
			v->addr = cv->addr;
			v->port = cv->port;
		}
		if (!old || old->table_size != cv->table_size) {
			v->table_size = cv->table_size;
			v->table_size_set = false;
		}
		if (!old || old->min_up != cv->min_up) {
			v->min_up = cv->min_up;
			v->min_up_set = false;
		}
		v->health = cv->health;
		v->deleted = false;
	}
	v->in_config = true;
	v->added = false;
	v->cfg = *cv;
	v->cfg.backends = NULL;
	v->cfg.backend_count = 0;
	if (!was_live && v->deleted)
		return 0; /* still deleted: the file did not change its entry */

	/* Backends the file dropped go; run-time additions stay. */
	for (__u32 i = 0; i < v->backend_count;) {
		struct model_backend *b = v->backends[i];
		if (b->in_config && !model_conf_backend_find(cv, b->name)) {
			if (!b->deleted && was_live)
				model_hook_removed(m, b);
			model_vip_remove_at(v, i);
			continue;
		}
		i++;
	}
	for (__u32 i = 0; i < cv->backend_count; i++) {
		rc = model_merge_backend(m, v, &cv->backends[i]);
		if (rc)
			return rc;
	}
	if (!was_live) {
		/* Revived: its surviving backends are checked again. */
		for (__u32 i = 0; i < v->backend_count; i++) {
			struct model_backend *b = v->backends[i];
			if (!b->deleted && !model_conf_backend_find(cv, b->name))
				model_hook_added(m, b);
		}
	}
	v->dirty = true;
	return 0;
}

int model_apply_config(struct model *m, const struct conf *next, char *err, size_t err_size)
{
	int rc = model_check_config(m, next, err, err_size);

	if (rc)
		return rc;
	m->health_defaults = next->health_defaults;
	m->encap_source_v4 = next->dataplane.encap_source_v4;
	m->encap_source_v6 = next->dataplane.encap_source_v6;

	/* VIPs the file dropped go, with everything in them. */
	for (__u32 i = 0; i < m->vip_count;) {
		struct model_vip *v = m->vips[i];
		if (v->in_config && !model_conf_vip_find(next, v->name)) {
			if (!v->deleted)
				for (__u32 k = 0; k < v->backend_count; k++)
					if (!v->backends[k]->deleted)
						model_hook_removed(m, v->backends[k]);
			memmove(&m->vips[i], &m->vips[i + 1], (m->vip_count - i - 1) * sizeof(*m->vips));
			m->vip_count--;
			model_vip_destroy(v);
			m->vips_changed = true;
			continue;
		}
		i++;
	}
	for (__u32 i = 0; i < next->vip_count; i++) {
		const struct conf_vip *cv = &next->vips[i];
		struct model_vip *v = model_vip_find_any(m, cv->name);

		if (!v) {
			v = model_vip_create(cv, true);
			if (!v || model_append_vip(m, v)) {
				model_vip_destroy(v);
				snprintf(err, err_size, "out of memory");
				return -ENOMEM;
			}
			for (__u32 k = 0; k < v->backend_count; k++)
				model_hook_added(m, v->backends[k]);
			continue;
		}
		bool was_deleted = v->deleted;
		rc = model_merge_vip(m, v, cv);
		if (rc) {
			snprintf(err, err_size, "out of memory");
			return rc;
		}
		if (was_deleted != v->deleted)
			m->vips_changed = true;
	}
	return 0;
}
