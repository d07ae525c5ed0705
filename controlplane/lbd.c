/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's daemon core (controlplane/lbd.h): the model, health engine, control
 * socket and channel to lb-dpdk tied together in one epoll loop.
 *
 * Events: signals (signalfd), a one-second timer (reconnecting to lb-dpdk,
 * sampling its counters, idle control clients), the health engine's epoll
 * fd and its next deadline (the epoll_wait timeout), the control socket's
 * epoll fd, and the channel. After every batch of events lbd publishes the
 * VIPs whose tables are due, so a health transition reaches lb-dpdk within
 * the same loop turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "controlplane/ctl.h"
#include "controlplane/lbd.h"
#include "controlplane/log.h"
#include "controlplane/maglev.h"
#include "controlplane/metrics.h"
#include "controlplane/state.h"

const char *lbd_mode_name(const struct lbd *d)
{
	static const char *const names[] = { "auto", "dpdk", "xdp" };

	return names[d->cfg->dataplane.mode];
}

static __u64 lbd_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

void lbd_event(struct lbd *d, const char *type, json_t *fields)
{
	json_t *ev = fields ? fields : json_object();

	json_object_set_new(ev, "event", json_string(type));
	json_object_set_new(ev, "time_ms", json_integer((json_int_t)lbd_wall_ms()));
	if (d->ctl)
		ctl_broadcast(d->ctl, ev);
	json_decref(ev);
}

/* ---- the dataplane's statistics ---- */

static int lbd_vip_key_matches(const struct chan_vip_key *k, const struct model_vip *v)
{
	return k->family == v->addr.family && k->proto == v->proto && k->port == htons(v->port) &&
	       memcmp(k->addr, v->addr.addr, sizeof(k->addr)) == 0;
}

const struct chan_vip_stats *lbd_vip_stats(const struct lbd *d, const struct model_vip *v)
{
	const struct publish_members *pm = &d->members;

	for (__u32 i = 0; d->members_valid && i < pm->head.vip_count; i++)
		if (lbd_vip_key_matches(&pm->vips[i].key, v))
			return &pm->vips[i];
	return NULL;
}

/* The sampled members of VIP v: [*first, *first + return value). Members
 * come grouped by VIP. */
static __u32 lbd_vip_members(const struct lbd *d, const struct model_vip *v, __u32 *first)
{
	const struct publish_members *pm = &d->members;
	__u32 start = 0, end;

	if (!d->members_valid)
		return 0;
	while (start < pm->head.member_count && !lbd_vip_key_matches(&pm->members[start].vip, v))
		start++;
	end = start;
	while (end < pm->head.member_count && lbd_vip_key_matches(&pm->members[end].vip, v))
		end++;
	*first = start;
	return end - start;
}

/* Within a VIP members are in canonical key order: a binary search. */
const struct chan_member_stats *lbd_member_stats(const struct lbd *d,
						 const struct model_backend *b)
{
	const struct publish_members *pm = &d->members;
	__u32 lo = 0, hi = lbd_vip_members(d, b->vip, &lo);

	hi += lo;
	while (lo < hi) {
		__u32 mid = lo + (hi - lo) / 2;
		const struct chan_member_stats *m = &pm->members[mid];
		int c = maglev_key_order(m->family, m->addr, m->port, b->addr.family, b->addr.addr,
					 htons(b->port));
		if (c == 0)
			return m;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int lbd_vip_flows_active(const struct lbd *d, const struct model_vip *v, __u64 *flows)
{
	__u32 first = 0, count = lbd_vip_members(d, v, &first);

	*flows = 0;
	if (!lbd_vip_stats(d, v))
		return -ENOENT;
	for (__u32 i = first; i < first + count; i++)
		*flows += d->members.members[i].flows_active;
	return 0;
}

/* ---- tables and publication ---- */

const struct vip_table *lbd_table_of(const struct lbd *d, const struct model_vip *v)
{
	for (__u32 i = 0; i < d->table_count; i++)
		if (strcmp(d->tables[i]->name, v->name) == 0)
			return d->tables[i];
	return NULL;
}

static void lbd_tables_free(struct vip_table **tables, __u32 count, struct vip_table **except,
			    __u32 except_count)
{
	for (__u32 i = 0; i < count; i++) {
		bool shared = false;
		for (__u32 j = 0; j < except_count && !shared; j++)
			shared = tables[i] == except[j];
		if (!shared)
			tables_destroy(tables[i]);
	}
	free(tables);
}

static __u32 lbd_live_vips(const struct model *m)
{
	__u32 n = 0;

	for (__u32 i = 0; i < m->vip_count; i++)
		n += !m->vips[i]->deleted;
	return n;
}

/*
 * A backend without a verdict yet holds the first publication. The verdict
 * is the steady state's: up after `rise` successes, down after `fall`
 * failures. One failed check is not enough: after a restart of lbd the
 * dataplane still carries the backend's connections, and one check lost to
 * a busy moment must not move them all.
 */
static bool lbd_settled(const struct model *m)
{
	for (__u32 i = 0; i < m->vip_count; i++) {
		const struct model_vip *v = m->vips[i];
		if (v->deleted || v->health.type == CONF_HEALTH_NONE)
			continue;
		for (__u32 k = 0; k < v->backend_count; k++) {
			const struct model_backend *b = v->backends[k];
			if (!b->deleted && !b->check_up && b->failures < v->health.fall)
				return false;
		}
	}
	return true;
}

static void lbd_log_withdrawals(struct lbd *d)
{
	for (__u32 i = 0; i < d->model->vip_count; i++) {
		struct model_vip *v = d->model->vips[i];
		if (v->deleted)
			continue;
		__u32 up = model_vip_up_count(v);
		bool withdrawn = up < v->min_up;
		if (withdrawn == v->withdrawn)
			continue;
		v->withdrawn = withdrawn;
		if (withdrawn)
			log_warning("vip %s withdrawn: %u of %u backends take new flows, min_up is %u",
				    v->name, up, v->backend_count, v->min_up);
		else
			log_info("vip %s announced again: %u backends take new flows (min_up %u)",
				 v->name, up, v->min_up);
		d->announce_dirty = true;
		json_t *ev = json_pack("{s:s,s:b,s:i,s:i}", "vip", v->name, "withdrawn", withdrawn,
				       "up", (json_int_t)up, "min_up", (json_int_t)v->min_up);
		lbd_event(d, "vip_announcement", ev);
	}
}

void lbd_publish_due(struct lbd *d, __u64 now_ms)
{
	struct model *m = d->model;
	bool any = m->vips_changed;
	char err[512];

	if (d->holding) {
		if (!lbd_settled(m) && now_ms < d->hold_until_ms)
			return;
		d->holding = false;
		log_info("health checks have a verdict for every backend%s",
			 lbd_settled(m) ? "" : " or took too long");
		m->vips_changed = any = true;
	}
	lbd_log_withdrawals(d);
	if (!publish_connected(&d->pub))
		return;
	/* A (re)connected lb-dpdk gets everything, changed or not. */
	any |= d->pub.need_full;
	for (__u32 i = 0; i < m->vip_count && !any; i++)
		any = model_vip_publish_due(m->vips[i], now_ms) || !lbd_table_of(d, m->vips[i]);
	if (!any)
		return;

	__u32 count = lbd_live_vips(m), n = 0;
	struct vip_table **tables = calloc(count + 1, sizeof(*tables));
	bool *keep = calloc(count + 1, sizeof(*keep));
	bool *due = calloc(m->vip_count + 1, sizeof(*due));
	__u32 rebuilt = 0;
	int rc = 0;
	if (!tables || !keep || !due) {
		rc = -ENOMEM;
		goto out;
	}
	for (__u32 i = 0; i < m->vip_count; i++) {
		struct model_vip *v = m->vips[i];
		if (v->deleted)
			continue;
		struct vip_table *old = (struct vip_table *)lbd_table_of(d, v);
		due[i] = model_vip_publish_due(v, now_ms) || !old || d->pub.need_full;
		struct vip_table *t = old;
		if (due[i]) {
			t = tables_from_model(v);
			if (!t) {
				rc = -errno;
				log_error("vip %s: cannot build its table: %s", v->name, strerror(errno));
				goto out;
			}
			if (old && tables_same_input(old, t)) {
				tables_destroy(t);
				t = old;
			} else {
				rc = tables_build_ring(t);
				if (rc) {
					log_error("vip %s: table build failed: %s", v->name, strerror(-rc));
					tables_destroy(t);
					goto out;
				}
				rebuilt++;
			}
		}
		keep[n] = t == old && !d->pub.need_full;
		tables[n++] = t;
	}
	__u64 started_us = health_now_ms() * 1000;
	rc = publish_generation(&d->pub, tables, keep, n, &d->cfg->dataplane, err, sizeof(err));
	if (rc) {
		d->publish_failures++;
		log_error("publishing to %s failed: %s",
			  d->pub.kind == PUBLISH_XDP ? "the XDP maps" : "lb-dpdk", err);
		lbd_tables_free(tables, n, d->tables, d->table_count);
		tables = NULL;
		goto out;
	}
	lbd_tables_free(d->tables, d->table_count, tables, n);
	d->tables = tables;
	d->table_count = n;
	tables = NULL;
	m->vips_changed = false;
	for (__u32 i = 0; i < m->vip_count; i++)
		if (due[i])
			model_vip_published(m->vips[i], now_ms);
	d->generations_published++;
	d->announce_dirty = true; /* tables in service for VIPs added, gone for VIPs deleted */
	__u64 done_us = health_now_ms() * 1000;
	d->publish_latency_us = d->first_change_ms ? done_us - d->first_change_ms * 1000
						    : done_us - started_us;
	d->first_change_ms = 0;
	log_info("generation %llu in service: %u VIPs, %u rebuilt",
		 (unsigned long long)d->pub.generation, n, rebuilt);
	lbd_event(d, "generation",
		  json_pack("{s:I,s:i,s:i,s:I}", "generation", (json_int_t)d->pub.generation, "vips",
			    (json_int_t)n, "rebuilt", (json_int_t)rebuilt, "latency_us",
			    (json_int_t)d->publish_latency_us));
out:
	if (tables)
		lbd_tables_free(tables, n, d->tables, d->table_count);
	free(keep);
	free(due);
}

/* ---- announcements ---- */

static bool lbd_addr_equal(const struct conf_addr *a, const struct conf_addr *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Why v alone keeps its address from being announced, or NULL. A VIP is
 * announced only where a dataplane forwards it with its table in service:
 * a router must never send a flow to an instance that would drop it. */
static const char *lbd_vip_blocks(const struct lbd *d, const struct model_vip *v)
{
	if (!publish_connected(&d->pub) || d->pub.need_full)
		return d->pub.kind == PUBLISH_XDP ? "the XDP balancer is not attached"
						  : "lb-dpdk is not connected";
	if (!lbd_table_of(d, v))
		return "its table is not in service yet";
	if (d->announce_settle_ms)
		return "health checks through the dataplane are settling";
	if (v->withdrawn)
		return "fewer than min_up backends take new flows";
	return NULL;
}

/*
 * Whether addr is to be announced: it has live VIPs and none of them is
 * blocked. One route carries every VIP (port, protocol) on the address, so
 * one VIP below min_up takes the whole address off this instance; the other
 * instances, which build the same tables, take its flows (README).
 * Returns NULL to announce, or why not, with the VIP in *vip (NULL when
 * the address has no live VIP).
 */
static const char *lbd_addr_blocked(const struct lbd *d, const struct conf_addr *addr,
				    const struct model_vip **vip)
{
	const struct model *m = d->model;

	*vip = NULL;
	for (__u32 i = 0; i < m->vip_count; i++) {
		const struct model_vip *v = m->vips[i];
		if (v->deleted || !lbd_addr_equal(&v->addr, addr))
			continue;
		*vip = v;
		const char *why = lbd_vip_blocks(d, v);
		if (why)
			return why;
	}
	return *vip ? NULL : "no VIP has that address any more";
}

bool lbd_vip_announced(const struct lbd *d, const struct model_vip *v, const char **why)
{
	const struct model_vip *blocker;

	*why = "";
	if (!announce_enabled(&d->announce)) {
		*why = "announcements are off";
		return false;
	}
	if (announce_has(&d->announce, &v->addr))
		return true;
	*why = lbd_vip_blocks(d, v);
	if (*why)
		return false;
	*why = lbd_addr_blocked(d, &v->addr, &blocker);
	if (*why)
		*why = "another VIP on the same address is withdrawn";
	else
		*why = d->announce.error[0] ? "the kernel refused the route (lbctl info)"
					    : "not yet: at the next loop turn";
	return false;
}

static void lbd_announce_log(struct lbd *d, const struct conf_addr *addr, bool on,
			     const struct model_vip *v, const char *why)
{
	char text[64];

	conf_fmt_addr(addr, text, sizeof(text));
	if (on)
		log_info("address %s announced: route in table %u on %s", text,
			 d->announce.conf.table, d->announce.conf.device);
	else
		log_warning("address %s withdrawn: %s%s%s%s", text, v ? "vip " : "",
			    v ? v->name : "", v ? ": " : "", why);
	lbd_event(d, "route",
		  json_pack("{s:s,s:b,s:s,s:s}", "address", text, "announced", on, "vip",
			    v ? v->name : "", "reason", on ? "" : why));
}

void lbd_announce_update(struct lbd *d)
{
	struct announce *a = &d->announce;
	const struct model *m = d->model;
	const struct model_vip *v;
	const char *why;
	bool was_failing = a->error[0] != '\0';
	int rc = 0;

	if (!announce_enabled(a) || !d->announce_dirty)
		return;
	d->announce_dirty = false;
	/* Withdrawals first: from the end, as announce_set() fills a hole
	 * with the last route, which is then already looked at. */
	for (__u32 i = a->route_count; i-- > 0;) {
		struct conf_addr addr = a->routes[i];
		why = lbd_addr_blocked(d, &addr, &v);
		if (!why)
			continue;
		rc = announce_set(a, &addr, false);
		if (rc < 0)
			break;
		lbd_announce_log(d, &addr, false, v, why);
	}
	for (__u32 i = 0; i < m->vip_count && rc >= 0; i++) {
		const struct model_vip *u = m->vips[i];
		if (u->deleted || announce_has(a, &u->addr) || lbd_addr_blocked(d, &u->addr, &v))
			continue;
		rc = announce_set(a, &u->addr, true);
		if (rc > 0)
			lbd_announce_log(d, &u->addr, true, u, "");
	}
	/* Tried again every second (lbd_tick) until the kernel takes it. */
	if (rc < 0 && !was_failing)
		log_error("announce: %s; retrying every second", a->error);
}

void lbd_changed(struct lbd *d, const char *what, json_t *event)
{
	char err[256];

	if (!d->first_change_ms)
		d->first_change_ms = health_now_ms();
	if (what)
		lbd_event(d, what, event);
	else if (event)
		json_decref(event);
	/* Written before the reply: a change acknowledged is a change kept. */
	d->state_dirty = true;
	lbd_save_state(d, err, sizeof(err));
}

/* ---- health results ---- */

static void lbd_health_changed(void *ctx, struct model_backend *b, enum health_event event)
{
	struct lbd *d = ctx;
	struct model_vip *v = b->vip;
	char addr[64], agent_line[AGENT_LINE_MAX + 1] = "";
	__u32 up = model_vip_up_count(v);
	bool backend_up = model_backend_up(b);

	conf_fmt_addr(&b->addr, addr, sizeof(addr));
	if (!d->first_change_ms)
		d->first_change_ms = health_now_ms();
	switch (event) {
	case HEALTH_CHECK_CHANGED:
		if (b->check_up)
			log_info("vip %s: backend %s [%s]:%u is UP: %s (%u successes); %u of %u "
				 "backends take new flows",
				 v->name, b->name, addr, b->port, b->check_reason,
				 b->vip->health.rise, up, v->backend_count);
		else
			log_warning("vip %s: backend %s [%s]:%u is DOWN: %s (%u failures); %u of %u "
				    "backends take new flows",
				    v->name, b->name, addr, b->port, b->check_reason,
				    b->vip->health.fall, up, v->backend_count);
		lbd_event(d, "health",
			  json_pack("{s:s,s:s,s:s,s:s,s:i,s:i}", "vip", v->name, "backend", b->name,
				    "health", b->check_up ? "up" : "down", "reason", b->check_reason,
				    "up", (json_int_t)up, "backends", (json_int_t)v->backend_count));
		break;
	case HEALTH_AGENT_CHANGED:
		agent_fmt_report(&b->agent, agent_line, sizeof(agent_line));
		log_info("vip %s: backend %s agent says \"%s\": %s, weight %.2f; %u of %u backends "
			 "take new flows",
			 v->name, b->name, agent_line,
			 model_table_state_name(model_backend_table_state(b)),
			 model_backend_weight_centi(b) / 100.0, up, v->backend_count);
		lbd_event(d, "agent",
			  json_pack("{s:s,s:s,s:s,s:s,s:b,s:f}", "vip", v->name, "backend", b->name,
				    "report", agent_line, "table_state",
				    model_table_state_name(model_backend_table_state(b)), "up",
				    backend_up, "weight", model_backend_weight_centi(b) / 100.0));
		break;
	case HEALTH_AGENT_FAILED:
		log_warning("vip %s: backend %s agent: %s; keeping its last report (an agent "
			    "failure is not a health failure)",
			    v->name, b->name, b->agent_error);
		lbd_event(d, "agent_unreachable",
			  json_pack("{s:s,s:s,s:s}", "vip", v->name, "backend", b->name, "error",
				    b->agent_error));
		break;
	}
}

/* ---- configuration ---- */

static void lbd_log_conf_errors(const struct conf_errors *errors, const char *prefix)
{
	for (__u32 i = 0; i < errors->count; i++)
		log_error("%s%s", prefix, errors->messages[i]);
	if (errors->dropped)
		log_error("%s... and %u more errors", prefix, errors->dropped);
}

static void lbd_errors_text(const struct conf_errors *errors, char *err, size_t err_size)
{
	size_t used = 0;

	*err = '\0';
	for (__u32 i = 0; i < errors->count && used + 1 < err_size; i++) {
		int n = snprintf(err + used, err_size - used, "%s%s", i ? "\n" : "",
				 errors->messages[i]);
		used += n > 0 ? (size_t)n : 0;
	}
}

int lbd_reload(struct lbd *d, bool apply, json_t **result, char *err, size_t err_size)
{
	struct conf_errors errors;
	struct conf *cfg = conf_load(d->config_path, &errors);
	int rc;

	if (!cfg) {
		rc = errno == ENOMEM ? -ENOMEM : -EINVAL;
		lbd_errors_text(&errors, err, err_size);
		if (apply) {
			lbd_log_conf_errors(&errors, "reload: ");
			log_error("reload refused: %s is not valid; the running configuration stays",
				  d->config_path);
		}
		return rc;
	}
	/* Every VIP's table must build, as lbd -t proves. */
	struct model *trial = model_create(cfg);
	if (!trial) {
		conf_destroy(cfg);
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	for (__u32 i = 0; i < trial->vip_count; i++) {
		/* As if every backend were up: the largest table it can have. */
		for (__u32 k = 0; k < trial->vips[i]->backend_count; k++)
			trial->vips[i]->backends[k]->check_up = true;
		struct vip_table *t = tables_from_model(trial->vips[i]);
		rc = t ? tables_build_ring(t) : -errno;
		tables_destroy(t);
		if (rc) {
			snprintf(err, err_size, "%s:%d: vip %s: table build failed: %s", cfg->source,
				 cfg->vips[i].line, cfg->vips[i].name, strerror(-rc));
			model_destroy(trial);
			conf_destroy(cfg);
			return rc;
		}
	}
	model_destroy(trial);
	/* What the new checks need, before anything changes. */
	for (__u32 i = 0; i < cfg->vip_count; i++) {
		char why[256];
		rc = health_prepare(d->health, cfg->vips[i].health.type, why, sizeof(why));
		if (rc) {
			snprintf(err, err_size, "%s:%d: vip %s: %s", cfg->source, cfg->vips[i].line,
				 cfg->vips[i].name, why);
			if (apply)
				log_error("reload refused: %s; the running configuration stays", err);
			conf_destroy(cfg);
			return rc;
		}
	}
	if (!apply) {
		if (result)
			*result = json_pack("{s:s,s:b,s:i,s:i}", "file", d->config_path, "valid", 1,
					    "vips", (json_int_t)cfg->vip_count, "backends",
					    (json_int_t)conf_backend_count(cfg));
		conf_destroy(cfg);
		return 0;
	}
	rc = model_apply_config(d->model, cfg, err, err_size);
	if (rc) {
		log_error("reload refused: %s; the running configuration stays", err);
		conf_destroy(cfg);
		return rc;
	}
	health_refresh(d->health, d->model); /* agent ports the reload gave */
	if (!conf_dataplane_restart_equal(&cfg->dataplane, &d->cfg->dataplane))
		log_warning("reload: dataplane mode, flow_table_size, gateway_mac and the dpdk and "
			    "xdp groups take effect when the dataplane starts again (lb-dpdk "
			    "restarts; for XDP, lbd restarts)");
	const struct conf_global *ng = &cfg->global, *og = &d->cfg->global;
	if (strcmp(ng->control_socket, og->control_socket) ||
	    strcmp(ng->control_socket_group.name, og->control_socket_group.name) ||
	    strcmp(ng->readonly_socket, og->readonly_socket) ||
	    strcmp(ng->readonly_socket_group.name, og->readonly_socket_group.name) ||
	    strcmp(ng->state_file, og->state_file) || strcmp(ng->metrics_listen, og->metrics_listen))
		log_warning("reload: global control_socket, readonly_socket, their groups, "
			    "state_file and metrics_listen take effect when lbd restarts");
	/* Parameters every generation carries (encapsulation, timeouts). */
	bool params_changed =
		cfg->dataplane.encap != d->cfg->dataplane.encap ||
		cfg->dataplane.gue_port != d->cfg->dataplane.gue_port ||
		memcmp(&cfg->dataplane.encap_source_v4, &d->cfg->dataplane.encap_source_v4,
		       sizeof(cfg->dataplane.encap_source_v4)) ||
		memcmp(&cfg->dataplane.encap_source_v6, &d->cfg->dataplane.encap_source_v6,
		       sizeof(cfg->dataplane.encap_source_v6)) ||
		cfg->dataplane.tcp_idle_timeout_s != d->cfg->dataplane.tcp_idle_timeout_s ||
		cfg->dataplane.udp_idle_timeout_s != d->cfg->dataplane.udp_idle_timeout_s;
	const struct conf_announce *na = &cfg->announce, *oa = &d->cfg->announce;
	if (na->enabled != oa->enabled || strcmp(na->device, oa->device) ||
	    na->table != oa->table || na->route_protocol != oa->route_protocol)
		log_warning("reload: the announce group takes effect when lbd restarts");
	/* Keep the socket paths this process opened, and its device. */
	cfg->global = d->cfg->global;
	cfg->announce = d->cfg->announce;
	cfg->dataplane.dpdk.present = d->cfg->dataplane.dpdk.present;
	snprintf(cfg->dataplane.dpdk.control_socket, sizeof(cfg->dataplane.dpdk.control_socket),
		 "%s", d->cfg->dataplane.dpdk.control_socket);
	struct conf *old = d->cfg;
	d->cfg = cfg;
	conf_destroy(old);
	log_set_level(cfg->global.log_level);
	if (params_changed)
		d->model->vips_changed = true;
	log_info("reloaded %s: %u VIPs in the file; run-time changes kept where the file did "
		 "not change them",
		 d->config_path, cfg->vip_count);
	lbd_changed(d, "reload", json_pack("{s:s}", "file", d->config_path));
	if (result)
		*result = json_pack("{s:s,s:b,s:i}", "file", d->config_path, "applied", 1, "vips",
				    (json_int_t)lbd_live_vips(d->model));
	lbd_publish_due(d, health_now_ms());
	return 0;
}

int lbd_save_state(struct lbd *d, char *err, size_t err_size)
{
	int rc;

	if (!d->cfg->global.state_file[0]) {
		d->state_dirty = false;
		return 0;
	}
	rc = state_save(d->model, d->cfg->global.state_file, err, err_size);
	if (rc) {
		if (strcmp(d->state_error, err) != 0)
			log_error("state file: %s", err);
		snprintf(d->state_error, sizeof(d->state_error), "%s", err);
		return rc;
	}
	d->state_error[0] = '\0';
	d->state_dirty = false;
	return 0;
}

/* ---- lifecycle ---- */

int lbd_init(struct lbd *d, const char *path)
{
	struct conf_errors errors;
	char err[512];

	memset(d, 0, sizeof(*d));
	d->epoll_fd = d->signal_fd = d->timer_fd = -1;
	announce_init(&d->announce);
	snprintf(d->config_path, sizeof(d->config_path), "%s", path);
	publish_init(&d->pub, "");
	d->cfg = conf_load(path, &errors);
	if (!d->cfg) {
		lbd_log_conf_errors(&errors, "");
		log_error("%s: configuration is not valid", path);
		return -EINVAL;
	}
	log_set_level(d->cfg->global.log_level);
	publish_init(&d->pub, d->cfg->dataplane.dpdk.control_socket);
	publish_configure(&d->pub, &d->cfg->dataplane, health_now_ms());
	d->health = health_create(lbd_health_changed, d);
	d->model = model_create(d->cfg);
	if (!d->health || !d->model) {
		log_error("out of memory");
		return -ENOMEM;
	}
	d->model->hooks = health_hooks(d->health);
	if (d->cfg->global.state_file[0]) {
		int rc = state_load(d->model, d->cfg->global.state_file, err, sizeof(err));
		if (rc == -ENOENT)
			log_info("state file %s: none yet; starting from the configuration",
				 d->cfg->global.state_file);
		else if (rc)
			log_error("state file %s: %s; starting from the configuration (the file is "
				  "left as it is)",
				  d->cfg->global.state_file, err);
		else
			log_info("state file %s: run-time changes restored", d->cfg->global.state_file);
	}
	/* What the VIPs' checks need (the state file's VIPs too): a missing
	 * capability stops lbd here, rather than every check failing. */
	for (__u32 i = 0; i < d->model->vip_count; i++) {
		const struct model_vip *v = d->model->vips[i];
		int rc = v->deleted ? 0 : health_prepare(d->health, v->health.type, err, sizeof(err));
		if (rc) {
			log_error("vip %s: %s", v->name, err);
			return rc;
		}
	}
	d->started_ms = health_now_ms();
	health_start(d->health, d->model);
	/* Long enough for rise (or fall) checks at the fast interval, plus a
	 * timeout, plus slack for a host busy with whatever restarted lbd:
	 * lb-dpdk forwards with its tables meanwhile, so waiting costs
	 * nothing but a late reaction to changes made during the wait. */
	__u64 hold = 0;
	for (__u32 i = 0; i < d->model->vip_count; i++) {
		const struct conf_health *h = &d->model->vips[i]->health;
		__u32 checks = (h->rise > h->fall ? h->rise : h->fall) + 1;
		__u64 need = (__u64)h->fast_interval_ms * checks + h->timeout_ms + LBD_HOLD_SLACK_MS;
		hold = need > hold ? need : hold;
	}
	d->holding = true;
	d->hold_until_ms = d->started_ms + hold;
	d->settle_ms = hold;
	return 0;
}

void lbd_fini(struct lbd *d)
{
	announce_close(&d->announce);
	if (d->ctl)
		ctl_destroy(d->ctl);
	d->ctl = NULL;
	metrics_destroy(d->metrics);
	d->metrics = NULL;
	publish_fini(&d->pub);
	publish_members_fini(&d->members);
	publish_members_fini(&d->prev_members);
	if (d->tables)
		lbd_tables_free(d->tables, d->table_count, NULL, 0);
	d->tables = NULL;
	/* The engine first: the model's hooks point at it. */
	if (d->model)
		d->model->hooks = (struct model_hooks){ 0 };
	health_destroy(d->health);
	d->health = NULL;
	model_destroy(d->model);
	d->model = NULL;
	conf_destroy(d->cfg);
	d->cfg = NULL;
	if (d->epoll_fd >= 0)
		close(d->epoll_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	d->epoll_fd = d->signal_fd = d->timer_fd = -1;
}

/* ---- the channel to lb-dpdk ---- */

static void lbd_watch(struct lbd *d, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

static void lbd_try_connect(struct lbd *d)
{
	char msg[512];
	enum publish_kind was = d->pub.kind;
	int rc = publish_connect(&d->pub, health_now_ms(), msg, sizeof(msg));

	if (d->pub.kind != was)
		log_info("dataplane: %s (%s)", publish_kind_name(&d->pub), d->pub.reason);
	if (rc) {
		if (d->waiting_logged)
			return;
		if (d->pub.kind == PUBLISH_XDP)
			log_error("XDP dataplane: %s; retrying every second", msg);
		else if (rc == -EBUSY)
			log_error("%s; retrying every second", msg);
		else
			log_info("waiting for lb-dpdk (%s)", msg);
		d->waiting_logged = true;
		return;
	}
	d->waiting_logged = false;
	for (char *line = strtok(msg, "\n"); line; line = strtok(NULL, "\n"))
		log_info("%s: %s", d->pub.kind == PUBLISH_XDP ? "XDP" : "connected", line);
	if (d->pub.fd >= 0)
		lbd_watch(d, d->pub.fd);
	/* lbd's health checks leave through the dataplane's interface (lb-dpdk's
	 * exception path): check every backend again now, and announce only
	 * once they have had time to rise. */
	if (announce_enabled(&d->announce)) {
		__u64 now = health_now_ms();
		for (__u32 i = 0; i < d->model->vip_count; i++) {
			struct model_vip *v = d->model->vips[i];
			for (__u32 k = 0; !v->deleted && k < v->backend_count; k++)
				if (!v->backends[k]->deleted && v->health.type != CONF_HEALTH_NONE)
					health_poll(d->health, v->backends[k], now);
		}
		d->announce_settle_ms = now + d->settle_ms;
		d->announce_dirty = true;
	}
	lbd_event(d, "dataplane", json_pack("{s:s,s:s,s:I}", "state", "connected", "kind",
					    publish_kind_name(&d->pub), "generation",
					    (json_int_t)d->pub.generation));
	lbd_publish_due(d, health_now_ms()); /* a full resync (need_full) */
}

static void lbd_channel_lost(struct lbd *d, const char *why)
{
	log_warning("lb-dpdk closed the channel (%s); it keeps forwarding with its last tables. "
		    "Reconnecting",
		    why);
	epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, d->pub.fd, NULL);
	publish_disconnect(&d->pub);
	d->sample.valid = d->prev_sample.valid = false;
	d->members_valid = false;
	d->announce_dirty = true; /* nothing forwards a VIP now: withdraw them */
	lbd_event(d, "dataplane", json_pack("{s:s,s:s}", "state", "disconnected", "reason", why));
}

static void lbd_channel_event(struct lbd *d)
{
	/* lb-dpdk speaks only when asked; anything now is it going away. */
	int rc = chan_reader_fill(&d->pub.reader, d->pub.fd);

	if (rc == 0)
		return;
	lbd_channel_lost(d, rc < 0 ? strerror(-rc) : "unexpected message");
}

int lbd_sample_members(struct lbd *d, char *err, size_t err_size)
{
	struct publish_members pm = { 0 };
	int rc;

	if (!publish_connected(&d->pub)) {
		snprintf(err, err_size, "lb-dpdk is not connected");
		return -ENOTCONN;
	}
	rc = publish_members(&d->pub, &pm, err, err_size);
	if (rc) {
		publish_members_fini(&pm);
		return rc;
	}
	publish_members_fini(&d->prev_members);
	d->prev_members = d->members;
	d->members = pm;
	d->members_valid = true;
	return 0;
}

int lbd_take_sample(struct lbd *d, __u64 now_ms)
{
	struct lbd_sample s = { .valid = true, .at_ms = now_ms };
	char err[256];
	int rc;

	if (!publish_connected(&d->pub))
		return -ENOTCONN;
	rc = publish_stats(&d->pub, &s.stats, s.counters, err, sizeof(err));
	if (rc == 0)
		rc = lbd_sample_members(d, err, sizeof(err));
	if (rc) {
		if (!publish_connected(&d->pub))
			lbd_channel_lost(d, err);
		return rc;
	}
	d->prev_sample = d->sample;
	d->sample = s;
	return 0;
}

static void lbd_tick(struct lbd *d, __u64 now_ms)
{
	char err[256];

	if (!publish_connected(&d->pub))
		lbd_try_connect(d);
	else
		lbd_take_sample(d, now_ms);
	if (d->ctl)
		ctl_tick(d->ctl, now_ms);
	if (d->state_dirty)
		lbd_save_state(d, err, sizeof(err));
	if (d->announce.error[0])
		d->announce_dirty = true;
	if (d->announce_settle_ms && now_ms >= d->announce_settle_ms) {
		d->announce_settle_ms = 0; /* settled: announce what is in service */
		d->announce_dirty = true;
	}
}

int lbd_run(struct lbd *d)
{
	char err[512];
	sigset_t signals;

	sigemptyset(&signals);
	sigaddset(&signals, SIGHUP);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigprocmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	struct itimerspec every_second = { { 1, 0 }, { 1, 0 } };
	if (d->signal_fd < 0 || d->timer_fd < 0 || d->epoll_fd < 0 ||
	    timerfd_settime(d->timer_fd, 0, &every_second, NULL) < 0) {
		log_error("event loop: %s", strerror(errno));
		return -errno;
	}
	d->ctl = ctl_create(d, &d->cfg->global, err, sizeof(err));
	if (!d->ctl) {
		log_error("control socket %s", err);
		return -EINVAL;
	}
	if (d->cfg->global.metrics_port) {
		d->metrics = metrics_create(d, &d->cfg->global.metrics_addr,
					    d->cfg->global.metrics_port, err, sizeof(err));
		if (!d->metrics) {
			log_error("metrics endpoint %s: %s", d->cfg->global.metrics_listen, err);
			return -EADDRINUSE;
		}
		lbd_watch(d, metrics_fd(d->metrics));
	}
	if (d->cfg->announce.enabled) {
		int rc = announce_open(&d->announce, &d->cfg->announce, err, sizeof(err));
		if (rc) {
			log_error("announce: %s", err);
			return rc;
		}
		d->announce_dirty = true;
		log_info("announce: VIP address routes go to table %u on device %s (protocol %u) "
			 "while their VIPs are in service",
			 d->cfg->announce.table, d->cfg->announce.device,
			 d->cfg->announce.route_protocol);
	}
	lbd_watch(d, d->signal_fd);
	lbd_watch(d, d->timer_fd);
	lbd_watch(d, health_fd(d->health));
	lbd_watch(d, ctl_fd(d->ctl));

	log_info("started: %s, %u VIPs, %u backends; control socket %s%s%s; metrics %s; "
		 "lb-dpdk at %s",
		 d->config_path, lbd_live_vips(d->model), conf_backend_count(d->cfg),
		 d->cfg->global.control_socket,
		 d->cfg->global.readonly_socket[0] ? ", read-only " : "",
		 d->cfg->global.readonly_socket,
		 d->metrics ? d->cfg->global.metrics_listen : "off", d->pub.path);
	lbd_try_connect(d);
	while (!d->stop) {
		struct epoll_event events[16];
		__u64 now = health_now_ms(), next = health_next_ms(d->health);
		if (d->metrics) {
			__u64 http = metrics_timeout_ms(d->metrics);
			if (http != UINT64_MAX && now + http < next)
				next = now + http;
		}
		int timeout = next == UINT64_MAX ? 1000 : next <= now ? 0 : (int)(next - now);
		if (d->holding && timeout > 50)
			timeout = 50;
		int n = epoll_wait(d->epoll_fd, events, 16, timeout > 1000 ? 1000 : timeout);
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			if (fd == d->signal_fd) {
				struct signalfd_siginfo si;
				if (read(d->signal_fd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP)
					lbd_reload(d, true, NULL, err, sizeof(err));
				else
					d->stop = true;
			} else if (fd == d->timer_fd) {
				__u64 ticks;
				if (read(d->timer_fd, &ticks, sizeof(ticks)) >= 0)
					lbd_tick(d, health_now_ms());
			} else if (fd == health_fd(d->health)) {
				/* handled below, with the timers */
			} else if (fd == ctl_fd(d->ctl)) {
				ctl_run(d->ctl);
			} else if (d->pub.fd >= 0 && fd == d->pub.fd) {
				lbd_channel_event(d);
			} else if (d->metrics && fd == metrics_fd(d->metrics)) {
				metrics_run(d->metrics);
			}
		}
		now = health_now_ms();
		health_run(d->health, now);
		lbd_publish_due(d, now);
		lbd_announce_update(d);
		/* Also for its connection timeouts, which no fd signals. */
		if (d->metrics && metrics_timeout_ms(d->metrics) == 0)
			metrics_run(d->metrics);
	}
	if (d->state_dirty)
		lbd_save_state(d, err, sizeof(err));
	/* Withdrawn before lbd goes: the dataplane keeps forwarding while the
	 * routers move the flows to the other instances. */
	if (announce_enabled(&d->announce))
		log_info("withdrew %u VIP address routes from table %u",
			 announce_close(&d->announce), d->cfg->announce.table);
	log_info("stopping; %s keeps forwarding with generation %llu",
		 d->pub.kind == PUBLISH_XDP ? "the XDP balancer" : "lb-dpdk",
		 (unsigned long long)d->pub.generation);
	return 0;
}
