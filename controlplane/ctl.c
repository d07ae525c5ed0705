/* SPDX-License-Identifier: BSD-3-Clause */
/* lbd's control socket and its commands (controlplane/ctl.h). */
#define _GNU_SOURCE /* accept4, struct ucred */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "controlplane/config_dump.h"
#include "controlplane/ctl.h"
#include "controlplane/ctl_grammar.h"
#include "controlplane/lbd.h"
#include "controlplane/log.h"
#include "controlplane/maglev.h"
#include "controlplane/state.h"
#include "dataplane/flow_hash.h"

typedef int (*ctl_handler)(struct lbd *d, const struct ctl_request *r, json_t **result, char *err,
			   size_t err_size);

const char *ctl_error_code(int err)
{
	switch (err) {
	case -ENOENT:
		return "not_found";
	case -EEXIST:
		return "exists";
	case -EINVAL:
		return "invalid";
	case -EBUSY:
		return "busy";
	case -ENOTCONN:
		return "dataplane_unavailable";
	case -ENOMEM:
		return "no_memory";
	case -E2BIG:
		return "too_big";
	case -EPERM:
		return "denied";
	case -EACCES:
		return "forbidden";
	case -EMSGSIZE:
		return "request_too_long";
	default:
		return "error";
	}
}

/* ---- shared pieces of results ---- */

static json_t *ctl_addr(const struct conf_addr *a)
{
	char buf[64];

	return json_string(conf_fmt_addr(a, buf, sizeof(buf)));
}

static struct model_vip *ctl_vip(struct lbd *d, const char *name, char *err, size_t err_size)
{
	struct model_vip *v = model_vip_find(d->model, name);

	if (!v)
		snprintf(err, err_size, "no vip %s", name);
	return v;
}

static struct model_backend *ctl_backend(struct model_vip *v, const char *name, char *err,
					 size_t err_size)
{
	struct model_backend *b = model_backend_find(v, name);

	if (!b)
		snprintf(err, err_size, "vip %s has no backend %s", v->name, name);
	return b;
}

static json_t *ctl_backend_json(const struct lbd *d, const struct model_backend *b, bool detail)
{
	enum model_source by;
	enum conf_admin_state admin = model_backend_admin(b, &by);
	const struct chan_member_stats *ms = lbd_member_stats(d, b);
	char line[AGENT_LINE_MAX + 1] = "";
	json_t *o = json_pack("{s:s,s:s,s:o,s:i,s:s,s:s,s:s,s:i,s:f,s:s}", "vip", b->vip->name,
			      "name", b->name, "address", ctl_addr(&b->addr), "port",
			      (json_int_t)b->port, "state", model_admin_name(admin), "state_by",
			      model_source_name(by), "health",
			      model_backend_up(b) ? "up" : "down", "weight", (json_int_t)b->weight,
			      "effective_weight", model_backend_weight_centi(b) / 100.0, "table",
			      model_table_state_name(model_backend_table_state(b)));

	json_object_set_new(o, "flows_active", ms ? json_integer((json_int_t)ms->flows_active)
						  : json_null());
	json_object_set_new(o, "packets", ms ? json_integer((json_int_t)ms->packets) : json_null());
	json_object_set_new(o, "bytes", ms ? json_integer((json_int_t)ms->bytes) : json_null());
	json_object_set_new(o, "flows_new", ms ? json_integer((json_int_t)ms->flows_new)
					       : json_null());
	json_object_set_new(o, "origin", json_string(b->added ? "runtime" : "config"));
	if (!detail)
		return o;
	json_t *admin_by = json_object();
	for (int s = 0; s < MODEL_SOURCE_COUNT; s++)
		json_object_set_new(admin_by, model_source_name((enum model_source)s),
				    json_string(model_admin_name(b->admin[s])));
	json_object_set_new(o, "admin", admin_by);
	json_object_set_new(
		o, "check",
		json_pack("{s:s,s:b,s:s,s:i,s:i,s:i,s:b}", "type",
			  conf_health_type_names[b->vip->health.type],
			  "up", b->check_up, "reason", b->check_reason, "successes",
			  (json_int_t)b->successes, "failures", (json_int_t)b->failures,
			  "duration_us", (json_int_t)b->check_duration_us, "checked", b->checked));
	if (b->vip->health.agent_port) {
		if (b->agent_valid)
			agent_fmt_report(&b->agent, line, sizeof(line));
		json_object_set_new(o, "agent",
				    json_pack("{s:i,s:b,s:s,s:s}", "port",
					      (json_int_t)b->vip->health.agent_port, "reachable",
					      b->agent_reachable, "report", line, "error",
					      b->agent_error));
	}
	json_object_set_new(o, "published",
			    json_pack("{s:s,s:f}", "table", model_table_state_name(b->published_state),
				      "weight", b->published_weight / 100.0));
	return o;
}

static json_t *ctl_vip_json(const struct lbd *d, const struct model_vip *v, bool detail)
{
	const struct chan_vip_stats *vs = lbd_vip_stats(d, v);
	__u32 live = 0;

	for (__u32 i = 0; i < v->backend_count; i++)
		live += !v->backends[i]->deleted;
	/* Without an announce group, "announced" says what lbd would do. */
	const char *route_why = "";
	bool announced = announce_enabled(&d->announce) ? lbd_vip_announced(d, v, &route_why)
							: !v->withdrawn;
	json_t *o = json_pack("{s:s,s:s,s:o,s:i,s:i,s:i,s:i,s:i,s:b,s:s,s:s,s:s}", "name", v->name,
			      "protocol", v->proto == PKT_PROTO_TCP ? "tcp" : "udp", "address",
			      ctl_addr(&v->addr), "port", (json_int_t)v->port, "table_size",
			      (json_int_t)v->table_size, "min_up", (json_int_t)v->min_up, "backends",
			      (json_int_t)live, "up", (json_int_t)model_vip_up_count(v), "announced",
			      announced, "route",
			      !announce_enabled(&d->announce) ? "off"
			      : announced			   ? "announced"
								   : route_why,
			      "health", conf_health_type_names[v->health.type], "origin",
			      v->added ? "runtime" : "config");
	json_object_set_new(o, "packets", vs ? json_integer((json_int_t)vs->packets) : json_null());
	json_object_set_new(o, "bytes", vs ? json_integer((json_int_t)vs->bytes) : json_null());
	json_object_set_new(o, "flows_new", vs ? json_integer((json_int_t)vs->flows_new)
					       : json_null());
	json_object_set_new(o, "drops_no_backend",
			    vs ? json_integer((json_int_t)vs->drops_no_backend) : json_null());
	__u64 flows_active;
	json_object_set_new(o, "flows_active", lbd_vip_flows_active(d, v, &flows_active) == 0
						       ? json_integer((json_int_t)flows_active)
						       : json_null());
	if (detail) {
		json_t *list = json_array();
		for (__u32 i = 0; i < v->backend_count; i++)
			if (!v->backends[i]->deleted)
				json_array_append_new(list, ctl_backend_json(d, v->backends[i], false));
		json_object_set_new(o, "backend_list", list);
	}
	return o;
}

/* ---- commands ---- */

static int ctl_cmd_info(struct lbd *d, const struct ctl_request *r, json_t **result, char *err,
			size_t err_size)
{
	struct health_totals ht;
	__u32 vips = 0, backends = 0;

	(void)r, (void)err, (void)err_size;
	health_totals(d->health, &ht);
	for (__u32 i = 0; i < d->model->vip_count; i++) {
		const struct model_vip *v = d->model->vips[i];
		if (v->deleted)
			continue;
		vips++;
		for (__u32 k = 0; k < v->backend_count; k++)
			backends += !v->backends[k]->deleted;
	}
	*result = json_pack(
		"{s:i,s:s,s:s,s:i,s:i,s:I,s:{s:s,s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:b},"
		"s:{s:I,s:I,s:I,s:I,s:i,s:i},s:s,s:s}",
		"pid", (json_int_t)getpid(), "config", d->config_path, "mode", lbd_mode_name(d), "vips",
		(json_int_t)vips, "backends", (json_int_t)backends, "uptime_s",
		(json_int_t)((health_now_ms() - d->started_ms) / 1000), "dataplane", "kind",
		publish_kind_name(&d->pub), "reason", d->pub.reason, "connected",
		publish_connected(&d->pub), "socket",
		d->pub.kind == PUBLISH_XDP ? d->pub.xdp_conf.pin_path : d->pub.path, "generation",
		(json_int_t)d->pub.generation, "generations_published",
		(json_int_t)d->generations_published, "publish_failures",
		(json_int_t)d->publish_failures, "publish_latency_us",
		(json_int_t)d->publish_latency_us, "holding", d->holding, "health", "checks",
		(json_int_t)ht.checks, "check_failures", (json_int_t)ht.check_failures,
		"agent_reads", (json_int_t)ht.agent_reads, "agent_failures",
		(json_int_t)ht.agent_failures, "in_flight", (json_int_t)ht.in_flight, "probes",
		(json_int_t)ht.probes, "state_file", d->cfg->global.state_file, "state_error",
		d->state_error);
	const struct announce *a = &d->announce;
	json_object_set_new(
		*result, "announce",
		announce_enabled(a)
			? json_pack("{s:b,s:s,s:I,s:i,s:i,s:I,s:I,s:I,s:s}", "enabled", 1, "device",
				    a->conf.device, "table", (json_int_t)a->conf.table,
				    "route_protocol", (json_int_t)a->conf.route_protocol, "routes",
				    (json_int_t)a->route_count, "announcements",
				    (json_int_t)a->announcements, "withdrawals",
				    (json_int_t)a->withdrawals, "failures", (json_int_t)a->failures,
				    "error", a->error)
			: json_pack("{s:b}", "enabled", 0));
	return 0;
}

static int ctl_cmd_vip_list(struct lbd *d, const struct ctl_request *r, json_t **result,
			    char *err, size_t err_size)
{
	json_t *list = json_array();

	(void)r, (void)err, (void)err_size;
	for (__u32 i = 0; i < d->model->vip_count; i++)
		if (!d->model->vips[i]->deleted)
			json_array_append_new(list, ctl_vip_json(d, d->model->vips[i], false));
	*result = list;
	return 0;
}

static int ctl_cmd_vip_show(struct lbd *d, const struct ctl_request *r, json_t **result,
			    char *err, size_t err_size)
{
	struct model_vip *v = ctl_vip(d, r->args[0], err, err_size);

	if (!v)
		return -ENOENT;
	*result = ctl_vip_json(d, v, true);
	return 0;
}

static int ctl_cmd_vip_add(struct lbd *d, const struct ctl_request *r, json_t **result,
			   char *err, size_t err_size)
{
	struct conf_vip spec = { 0 };
	int rc;

	snprintf(spec.name, sizeof(spec.name), "%s", r->args[0]);
	spec.proto = strcmp(r->args[1], "udp") == 0 ? PKT_PROTO_UDP : PKT_PROTO_TCP;
	conf_parse_addr(r->args[2], &spec.addr);
	spec.port = (__u16)ctl_grammar_uint(r->args[3]);
	spec.table_size = r->opts[0] ? ctl_grammar_uint(r->opts[0]) : MAGLEV_TABLE_SIZE_DEFAULT;
	spec.min_up = r->opts[1] ? ctl_grammar_uint(r->opts[1]) : 1;
	spec.health = d->model->health_defaults;
	for (int t = 0; r->opts[2] && t < CONF_HEALTH_TYPES; t++)
		if (strcmp(r->opts[2], conf_health_type_names[t]) == 0)
			spec.health.type = (enum conf_health_type)t;
	/* Refused now, rather than a VIP whose every check would fail. */
	rc = health_prepare(d->health, spec.health.type, err, err_size);
	if (rc)
		return rc;
	rc = model_vip_add(d->model, &spec, err, err_size);
	if (rc)
		return rc;
	log_info("vip %s added at run time", spec.name);
	*result = ctl_vip_json(d, model_vip_find(d->model, spec.name), false);
	lbd_changed(d, "vip_added", json_pack("{s:s}", "vip", spec.name));
	return 0;
}

/* Live flows of a backend according to a fresh reading of the dataplane:
 * -ENOTCONN when it cannot be read. */
static int ctl_flows_of(struct lbd *d, const struct model_backend *b, __u64 *flows)
{
	char err[256];

	*flows = 0;
	if (!publish_connected(&d->pub))
		return -ENOTCONN;
	if (lbd_sample_members(d, err, sizeof(err)))
		return -ENOTCONN;
	const struct chan_member_stats *ms = lbd_member_stats(d, b);
	*flows = ms ? ms->flows_active : 0;
	return 0;
}

static int ctl_check_flows(struct lbd *d, const struct model_vip *v, const struct model_backend *only,
			   bool force, char *err, size_t err_size)
{
	__u64 total = 0, flows;

	if (force)
		return 0;
	for (__u32 i = 0; i < v->backend_count; i++) {
		const struct model_backend *b = v->backends[i];
		if (b->deleted || (only && b != only))
			continue;
		if (ctl_flows_of(d, b, &flows) == -ENOTCONN) {
			snprintf(err, err_size,
				 "cannot read the dataplane's flow counts (lb-dpdk not connected); "
				 "use --force");
			return -EBUSY;
		}
		total += flows;
	}
	if (total) {
		snprintf(err, err_size, "%llu live flows still use %s %s; drain it first or use --force",
			 (unsigned long long)total, only ? "backend" : "vip",
			 only ? only->name : v->name);
		return -EBUSY;
	}
	return 0;
}

static int ctl_cmd_vip_del(struct lbd *d, const struct ctl_request *r, json_t **result,
			   char *err, size_t err_size)
{
	struct model_vip *v = ctl_vip(d, r->args[0], err, err_size);
	int rc;

	if (!v)
		return -ENOENT;
	rc = ctl_check_flows(d, v, NULL, r->opts[0] != NULL, err, err_size);
	if (rc)
		return rc;
	rc = model_vip_del(d->model, r->args[0], err, err_size);
	if (rc)
		return rc;
	log_info("vip %s deleted at run time%s", r->args[0], r->opts[0] ? " (forced)" : "");
	*result = json_pack("{s:s,s:b}", "deleted", r->args[0], "forced", r->opts[0] != NULL);
	lbd_changed(d, "vip_deleted", json_pack("{s:s}", "vip", r->args[0]));
	return 0;
}

static int ctl_cmd_vip_set(struct lbd *d, const struct ctl_request *r, json_t **result,
			   char *err, size_t err_size)
{
	struct model_vip *v = ctl_vip(d, r->args[0], err, err_size);
	int rc = 0;

	if (!v)
		return -ENOENT;
	if (r->opts[1])
		rc = model_vip_set_table_size(v, ctl_grammar_uint(r->opts[1]), err, err_size);
	if (!rc && r->opts[0])
		rc = model_vip_set_min_up(v, ctl_grammar_uint(r->opts[0]), err, err_size);
	if (rc)
		return rc;
	log_info("vip %s: min_up %u, table_size %u (set at run time)", v->name, v->min_up,
		 v->table_size);
	*result = ctl_vip_json(d, v, false);
	lbd_changed(d, "vip_changed", json_pack("{s:s}", "vip", v->name));
	return 0;
}

/* Every live backend, or those of the VIP named (-ENOENT when none is). */
static int ctl_backends_json(struct lbd *d, const char *vip, bool detail, json_t **result,
			     char *err, size_t err_size)
{
	if (vip && !ctl_vip(d, vip, err, err_size))
		return -ENOENT;
	json_t *list = json_array();
	for (__u32 i = 0; i < d->model->vip_count; i++) {
		struct model_vip *v = d->model->vips[i];
		if (v->deleted || (vip && strcmp(v->name, vip) != 0))
			continue;
		for (__u32 k = 0; k < v->backend_count; k++)
			if (!v->backends[k]->deleted)
				json_array_append_new(list, ctl_backend_json(d, v->backends[k], detail));
	}
	*result = list;
	return 0;
}

static int ctl_cmd_backend_list(struct lbd *d, const struct ctl_request *r, json_t **result,
				char *err, size_t err_size)
{
	return ctl_backends_json(d, r->args[0], false, result, err, err_size);
}

static int ctl_cmd_backend_show(struct lbd *d, const struct ctl_request *r, json_t **result,
				char *err, size_t err_size)
{
	struct model_vip *v = ctl_vip(d, r->args[0], err, err_size);
	struct model_backend *b = v ? ctl_backend(v, r->args[1], err, err_size) : NULL;

	if (!b)
		return -ENOENT;
	*result = ctl_backend_json(d, b, true);
	return 0;
}

static enum model_source ctl_by(const struct ctl_request *r, __u8 opt)
{
	enum model_source by = MODEL_BY_OPERATOR;

	if (r->opts[opt])
		model_parse_source(r->opts[opt], &by);
	return by;
}

static int ctl_cmd_backend_add(struct lbd *d, const struct ctl_request *r, json_t **result,
			       char *err, size_t err_size)
{
	struct model_vip *v = ctl_vip(d, r->args[0], err, err_size);
	struct conf_backend spec = { 0 };
	enum model_source by = ctl_by(r, 3);
	int rc;

	if (!v)
		return -ENOENT;
	snprintf(spec.name, sizeof(spec.name), "%s", r->args[1]);
	conf_parse_addr(r->args[2], &spec.addr);
	spec.port = r->opts[0] ? (__u16)ctl_grammar_uint(r->opts[0]) : v->port;
	spec.weight = r->opts[1] ? ctl_grammar_uint(r->opts[1]) : 1;
	spec.state = CONF_ADMIN_READY;
	if (r->opts[2])
		model_parse_admin(r->opts[2], &spec.state);
	rc = model_backend_add(d->model, v, &spec, by, err, err_size);
	if (rc)
		return rc;
	struct model_backend *b = model_backend_find(v, spec.name);
	log_info("vip %s: backend %s %s port %u added by %s (weight %u, %s); it enters after %u "
		 "successful checks",
		 v->name, spec.name, r->args[2], spec.port, model_source_name(by), spec.weight,
		 model_admin_name(spec.state), v->health.rise);
	*result = ctl_backend_json(d, b, false);
	lbd_changed(d, "backend_added",
		    json_pack("{s:s,s:s,s:s}", "vip", v->name, "backend", spec.name, "by",
			      model_source_name(by)));
	return 0;
}

static int ctl_cmd_backend_del(struct lbd *d, const struct ctl_request *r, json_t **result,
			       char *err, size_t err_size)
{
	struct model_vip *v = ctl_vip(d, r->args[0], err, err_size);
	struct model_backend *b = v ? ctl_backend(v, r->args[1], err, err_size) : NULL;
	int rc;

	if (!b)
		return -ENOENT;
	rc = ctl_check_flows(d, v, b, r->opts[0] != NULL, err, err_size);
	if (rc)
		return rc;
	/* The health engine lets go of it before the model frees it. */
	if (d->model->hooks.backend_removed)
		d->model->hooks.backend_removed(d->model->hooks.ctx, b);
	rc = model_backend_del(v, r->args[1], err, err_size);
	if (rc)
		return rc;
	log_info("vip %s: backend %s deleted%s", v->name, r->args[1],
		 r->opts[0] ? " (forced: its flows move)" : "");
	*result = json_pack("{s:s,s:s,s:b}", "vip", v->name, "deleted", r->args[1], "forced",
			    r->opts[0] != NULL);
	lbd_changed(d, "backend_deleted",
		    json_pack("{s:s,s:s}", "vip", v->name, "backend", r->args[1]));
	return 0;
}

static int ctl_cmd_backend_set(struct lbd *d, const struct ctl_request *r, json_t **result,
			       char *err, size_t err_size)
{
	struct model_vip *v = ctl_vip(d, r->args[0], err, err_size);
	struct model_backend *b = v ? ctl_backend(v, r->args[1], err, err_size) : NULL;
	enum model_source by = ctl_by(r, 2), now_by;
	int rc;

	if (!b)
		return -ENOENT;
	if (r->opts[1]) {
		rc = model_backend_set_weight(b, ctl_grammar_uint(r->opts[1]), err, err_size);
		if (rc)
			return rc;
	}
	if (r->opts[0]) {
		enum conf_admin_state asked;
		model_parse_admin(r->opts[0], &asked);
		model_backend_set_admin(b, by, asked);
	}
	enum conf_admin_state admin = model_backend_admin(b, &now_by);
	log_info("vip %s: backend %s set by %s:%s%s%s%s; now %s (by %s), weight %u", v->name,
		 b->name, model_source_name(by), r->opts[0] ? " state " : "",
		 r->opts[0] ? r->opts[0] : "", r->opts[1] ? " weight " : "",
		 r->opts[1] ? r->opts[1] : "", model_admin_name(admin), model_source_name(now_by),
		 b->weight);
	*result = ctl_backend_json(d, b, false);
	if (r->opts[0] && admin != CONF_ADMIN_READY && strcmp(r->opts[0], "ready") == 0)
		json_object_set_new(*result, "note",
				    json_sprintf("still %s: set by %s, which outranks this request",
						 model_admin_name(admin), model_source_name(now_by)));
	lbd_changed(d, "backend_changed",
		    json_pack("{s:s,s:s,s:s,s:s,s:i}", "vip", v->name, "backend", b->name, "state",
			      model_admin_name(admin), "by", model_source_name(now_by), "weight",
			      (json_int_t)b->weight));
	return 0;
}

static int ctl_cmd_health_show(struct lbd *d, const struct ctl_request *r, json_t **result,
			       char *err, size_t err_size)
{
	return ctl_backends_json(d, r->args[0], true, result, err, err_size);
}

static int ctl_cmd_health_poll(struct lbd *d, const struct ctl_request *r, json_t **result,
			       char *err, size_t err_size)
{
	struct model_vip *v = ctl_vip(d, r->args[0], err, err_size);
	__u32 n = 0;

	if (!v)
		return -ENOENT;
	if (r->args[1] && !ctl_backend(v, r->args[1], err, err_size))
		return -ENOENT;
	for (__u32 k = 0; k < v->backend_count; k++) {
		struct model_backend *b = v->backends[k];
		if (b->deleted || (r->args[1] && strcmp(b->name, r->args[1]) != 0))
			continue;
		health_poll(d->health, b, health_now_ms());
		n++;
	}
	*result = json_pack("{s:s,s:i}", "vip", v->name, "polled", (json_int_t)n);
	return 0;
}

static json_t *ctl_counters_json(const __u64 *now, const __u64 *before, double seconds)
{
	json_t *o = json_object();

	for (__u32 c = 0; c < COUNTER_COUNT; c++) {
		if (before)
			json_object_set_new(o, counter_name(c),
					    json_real(seconds > 0 ? (double)(now[c] - before[c]) / seconds
								  : 0.0));
		else
			json_object_set_new(o, counter_name(c), json_integer((json_int_t)now[c]));
	}
	return o;
}

static int ctl_cmd_stats(struct lbd *d, const struct ctl_request *r, json_t **result, char *err,
			 size_t err_size)
{
	bool rate = r->opts[0] != NULL;
	char why[256];

	if (!publish_connected(&d->pub) || !d->sample.valid) {
		snprintf(err, err_size, "no counters: no dataplane connected yet");
		return -ENOTCONN;
	}
	if (rate && !d->prev_sample.valid) {
		snprintf(err, err_size, "no rate yet: lbd needs two samples a second apart");
		return -EBUSY;
	}
	if (!rate && lbd_sample_members(d, why, sizeof(why)) == 0)
		lbd_take_sample(d, health_now_ms());
	const struct lbd_sample *s = &d->sample, *p = &d->prev_sample;
	double seconds = (double)(s->at_ms - p->at_ms) / 1000.0;
	json_t *o = json_pack("{s:I,s:I,s:I,s:i,s:o}", "generation", (json_int_t)s->stats.generation,
			      "flows", (json_int_t)s->stats.flows, "flow_capacity",
			      (json_int_t)s->stats.flow_capacity, "workers",
			      (json_int_t)s->stats.worker_count, "counters",
			      ctl_counters_json(s->counters, rate ? p->counters : NULL, seconds));
	if (rate)
		json_object_set_new(o, "interval_s", json_real(seconds));
	json_t *vips = json_array();
	for (__u32 i = 0; i < d->model->vip_count; i++)
		if (!d->model->vips[i]->deleted)
			json_array_append_new(vips, ctl_vip_json(d, d->model->vips[i], false));
	json_object_set_new(o, "vips", vips);
	*result = o;
	return 0;
}

static int ctl_cmd_lookup(struct lbd *d, const struct ctl_request *r, json_t **result,
			  char *err, size_t err_size)
{
	struct model_vip *v = ctl_vip(d, r->args[0], err, err_size);
	struct flow_tuple t = { 0 };
	__u16 port;
	char addr[64];

	if (!v)
		return -ENOENT;
	ctl_grammar_client(r->args[1], &t.family, t.src_addr, &port);
	if (t.family != v->addr.family) {
		snprintf(err, err_size, "client %s is IPv%u, vip %s is IPv%u", r->args[1], t.family,
			 v->name, v->addr.family);
		return -EINVAL;
	}
	memcpy(t.dst_addr, v->addr.addr, sizeof(t.dst_addr));
	t.proto = v->proto;
	t.src_port = htons(port);
	t.dst_port = port ? htons(v->port) : 0;
	__u32 hash = port ? flow_hash(&t) : flow_hash_addrs(&t);
	const struct vip_table *table = lbd_table_of(d, v);
	json_t *o = json_pack("{s:s,s:s,s:I}", "vip", v->name, "client", r->args[1], "hash",
			      (json_int_t)hash);
	if (!port)
		json_object_set_new(o, "note", json_string("no port: hashed on addresses, as fragments"));
	if (table && table->ring) {
		__u32 slot = flow_hash_ring_slot(hash, table->table_size);
		__u32 rank = table->ring[slot];
		json_object_set_new(o, "slot", json_integer(slot));
		if (rank != FLOW_NO_BACKEND) {
			const struct chan_backend *cb = &table->backends[rank];
			struct conf_addr a = { .family = cb->family };
			memcpy(a.addr, cb->addr, sizeof(a.addr));
			const struct model_backend *b = model_backend_find_addr(v, &a, ntohs(cb->port));
			json_object_set_new(o, "backend", json_string(b ? b->name : "?"));
			json_object_set_new(o, "backend_address",
					    json_string(conf_fmt_addr(&a, addr, sizeof(addr))));
			json_object_set_new(o, "backend_port", json_integer(ntohs(cb->port)));
		} else {
			json_object_set_new(o, "backend", json_null());
		}
	} else {
		json_object_set_new(o, "backend", json_null());
		json_object_set_new(o, "note", json_string("the VIP's table is not published yet"));
	}
	struct chan_flow flow;
	if (!port || !publish_connected(&d->pub) || publish_flow_find(&d->pub, &t, &flow, err, err_size)) {
		json_object_set_new(o, "in_flow_table", json_null());
	} else {
		json_object_set_new(o, "in_flow_table", json_boolean(flow.flags & CHAN_FLOW_FOUND));
		if (flow.flags & CHAN_FLOW_FOUND) {
			struct conf_addr a = { .family = flow.backend.family };
			memcpy(a.addr, flow.backend.addr, sizeof(a.addr));
			const struct model_backend *b =
				model_backend_find_addr(v, &a, ntohs(flow.backend.port));
			json_object_set_new(o, "flow_backend", json_string(b ? b->name : "?"));
			json_object_set_new(o, "flow_worker", json_integer(flow.worker));
			json_object_set_new(o, "flow_expires_in_s", json_integer(flow.expires_in_s));
		}
	}
	*result = o;
	return 0;
}

static int ctl_cmd_config_check(struct lbd *d, const struct ctl_request *r, json_t **result,
				char *err, size_t err_size)
{
	(void)r;
	return lbd_reload(d, false, result, err, err_size);
}

static int ctl_cmd_config_reload(struct lbd *d, const struct ctl_request *r, json_t **result,
				 char *err, size_t err_size)
{
	(void)r;
	return lbd_reload(d, true, result, err, err_size);
}

static int ctl_cmd_config_show(struct lbd *d, const struct ctl_request *r, json_t **result,
			       char *err, size_t err_size)
{
	char *text = NULL;
	int rc;

	(void)r;
	rc = config_dump(d->cfg, d->model, &text, err, err_size);
	if (rc)
		return rc;
	*result = json_pack("{s:s}", "config", text);
	free(text);
	return 0;
}

static int ctl_cmd_state_show(struct lbd *d, const struct ctl_request *r, json_t **result,
			      char *err, size_t err_size)
{
	(void)r, (void)err, (void)err_size;
	*result = state_dump(d->model);
	json_object_set_new(*result, "file", json_string(d->cfg->global.state_file));
	return 0;
}

static int ctl_cmd_state_save(struct lbd *d, const struct ctl_request *r, json_t **result,
			      char *err, size_t err_size)
{
	int rc;

	(void)r;
	if (!d->cfg->global.state_file[0]) {
		snprintf(err, err_size, "global.state_file is empty: nothing is persisted");
		return -EINVAL;
	}
	rc = lbd_save_state(d, err, err_size);
	if (rc)
		return rc;
	*result = json_pack("{s:s}", "saved", d->cfg->global.state_file);
	return 0;
}

static int ctl_cmd_monitor(struct lbd *d, const struct ctl_request *r, json_t **result,
			   char *err, size_t err_size)
{
	(void)d, (void)r, (void)err, (void)err_size;
	*result = json_pack("{s:b}", "monitor", 1);
	return 0;
}

static int ctl_cmd_help(struct lbd *d, const struct ctl_request *r, json_t **result, char *err,
			size_t err_size)
{
	char text[16384];

	(void)d;
	if (ctl_grammar_help(r->args[0], text, sizeof(text))) {
		snprintf(err, err_size, "no command starts with \"%s\"", r->args[0]);
		return -ENOENT;
	}
	*result = json_pack("{s:s}", "help", text);
	return 0;
}

/* Indexed by enum ctl_cmd: the grammar table says what each takes. */
static const ctl_handler ctl_handlers[CTL_CMD_COUNT] = {
	[CTL_CMD_INFO] = ctl_cmd_info,
	[CTL_CMD_VIP_LIST] = ctl_cmd_vip_list,
	[CTL_CMD_VIP_SHOW] = ctl_cmd_vip_show,
	[CTL_CMD_VIP_ADD] = ctl_cmd_vip_add,
	[CTL_CMD_VIP_DEL] = ctl_cmd_vip_del,
	[CTL_CMD_VIP_SET] = ctl_cmd_vip_set,
	[CTL_CMD_BACKEND_LIST] = ctl_cmd_backend_list,
	[CTL_CMD_BACKEND_SHOW] = ctl_cmd_backend_show,
	[CTL_CMD_BACKEND_ADD] = ctl_cmd_backend_add,
	[CTL_CMD_BACKEND_DEL] = ctl_cmd_backend_del,
	[CTL_CMD_BACKEND_SET] = ctl_cmd_backend_set,
	[CTL_CMD_HEALTH_SHOW] = ctl_cmd_health_show,
	[CTL_CMD_HEALTH_POLL] = ctl_cmd_health_poll,
	[CTL_CMD_STATS] = ctl_cmd_stats,
	[CTL_CMD_LOOKUP] = ctl_cmd_lookup,
	[CTL_CMD_CONFIG_CHECK] = ctl_cmd_config_check,
	[CTL_CMD_CONFIG_RELOAD] = ctl_cmd_config_reload,
	[CTL_CMD_CONFIG_SHOW] = ctl_cmd_config_show,
	[CTL_CMD_STATE_SHOW] = ctl_cmd_state_show,
	[CTL_CMD_STATE_SAVE] = ctl_cmd_state_save,
	[CTL_CMD_MONITOR] = ctl_cmd_monitor,
	[CTL_CMD_HELP] = ctl_cmd_help,
};

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, surrogates or code points above U+10FFFF), or 0. */
static size_t ctl_utf8_sequence(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, lo = p[0] == 0xe0 ? 0xa0 : 0x80, hi = p[0] == 0xed ? 0x9f : 0xbf;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, lo = p[0] == 0xf0 ? 0x90 : 0x80, hi = p[0] == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * text as valid UTF-8 in buf, which JSON strings must be (jansson packs
 * nothing else): a byte outside a well-formed sequence is written \xNN.
 * Error messages quote words of the request, which may be any bytes and are
 * cut to a length that may split a character.
 */
static const char *ctl_utf8_clean(const char *text, char *buf, size_t size)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t used = 0;

	while (*p && used + 5 <= size) {
		size_t n = ctl_utf8_sequence(p);
		if (n == 0) {
			used += (size_t)snprintf(buf + used, size - used, "\\x%02x", *p++);
			continue;
		}
		memcpy(buf + used, p, n);
		used += n;
		p += n;
	}
	buf[used] = '\0';
	return buf;
}

static json_t *ctl_error_reply(int rc, const char *message)
{
	char clean[4 * 2048 + 8];

	return json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", ctl_error_code(rc),
			 "message", ctl_utf8_clean(message, clean, sizeof(clean)));
}

json_t *ctl_execute(struct lbd *d, char *line, bool *monitor)
{
	return ctl_execute_as(d, line, false, monitor);
}

json_t *ctl_execute_as(struct lbd *d, char *line, bool read_only, bool *monitor)
{
	char *words[CTL_WORDS_MAX];
	char err[2048] = "";
	struct ctl_request req;
	json_t *result = NULL;
	int n = ctl_grammar_split(line, words, CTL_WORDS_MAX, err, sizeof(err));

	*monitor = false;
	if (n < 0)
		return ctl_error_reply(-EINVAL, err);
	if (ctl_grammar_parse(n, words, &req, err, sizeof(err)))
		return ctl_error_reply(-EINVAL, err);
	if (read_only && !req.cmd->read_only) {
		snprintf(err, sizeof(err),
			 "`%s%s%s` changes lbd: not on the read-only socket (use the control socket)",
			 req.cmd->object, req.cmd->verb ? " " : "", req.cmd->verb ? req.cmd->verb : "");
		return ctl_error_reply(-EACCES, err);
	}
	int rc = ctl_handlers[req.cmd->id](d, &req, &result, err, sizeof(err));
	if (rc) {
		json_decref(result);
		return ctl_error_reply(rc, *err ? err : strerror(-rc));
	}
	if (req.cmd->id == CTL_CMD_MONITOR)
		*monitor = true;
	lbd_publish_due(d, health_now_ms());
	return json_pack("{s:b,s:o}", "ok", 1, "result", result ? result : json_null());
}

/* ---- the socket server ---- */

/* A listening socket: the control socket, or the read-only one. */
struct ctl_listener {
	int fd;
	bool read_only;
	struct conf_group group; /* may connect besides root and lbd's user */
	struct conf_group also;  /* read-only socket: control_socket_group too */
	char path[108];
};

struct ctl_client {
	int fd;
	bool read_only; /* came through the read-only socket */
	bool monitor;
	bool closing; /* close once the output is flushed */
	__u64 last_ms;     /* the last byte read or written */
	__u64 in_since_ms; /* when the oldest request bytes not yet served came */
	char in[CTL_LINE_MAX];
	__u32 in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	struct ctl_client *next, *prev;
};

struct ctl_server {
	struct lbd *d;
	struct ctl_listener listeners[2]; /* control socket, read-only socket */
	__u32 listener_count;
	int epoll_fd;
	struct ctl_client *clients;
	__u32 client_count;
	size_t pending; /* reply bytes queued for all clients, unread */
	__u64 refused;
	__u64 timed_out; /* clients closed by ctl_tick() */
	__u64 forbidden, forbidden_logged; /* clients refused on credentials */
	__u64 forbidden_log_ms;
	/* The client whose request is running: the request's events reach it
	 * too when it is a monitor, and it must outlive them (ctl_broadcast). */
	struct ctl_client *serving;
};

static void ctl_client_close(struct ctl_server *s, struct ctl_client *c)
{
	/* Deregistered before the close: a copy of the descriptor elsewhere
	 * (a forked child's) would keep it in the epoll set, and its events
	 * would name freed memory. */
	epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->pending -= c->out_len - c->out_off;
	free(c->out);
	free(c);
	s->client_count--;
}

/* Queues bytes for a client; false when its buffer limit, or all clients'
 * (CTL_PENDING_TOTAL_MAX, unless not budgeted), is reached. */
static bool ctl_client_queue_as(struct ctl_server *s, struct ctl_client *c, const char *data,
				size_t len, size_t limit, bool budgeted)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len - c->out_off + len > limit ||
	    (budgeted && s->pending + len > CTL_PENDING_TOTAL_MAX))
		return false;
	if (c->out_len + len > c->out_cap) {
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len)
			cap *= 2;
		char *grown = realloc(c->out, cap);
		if (!grown)
			return false;
		c->out = grown;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	s->pending += len;
	return true;
}

static bool ctl_client_queue(struct ctl_server *s, struct ctl_client *c, const char *data,
			     size_t len, size_t limit)
{
	return ctl_client_queue_as(s, c, data, len, limit, true);
}

/* Whether the client has read enough of its replies to be served more. */
static bool ctl_client_keeping_up(const struct ctl_client *c)
{
	return c->out_len - c->out_off <= CTL_UNREAD_MAX;
}

/* Input is read only while there is room for it and the client reads its
 * replies: one that does not is left to fill its own socket buffer. */
static void ctl_client_want(struct ctl_server *s, struct ctl_client *c)
{
	struct epoll_event ev = { .events = EPOLLRDHUP, .data.ptr = c };

	if (!c->closing && c->in_len < sizeof(c->in) && ctl_client_keeping_up(c))
		ev.events |= EPOLLIN;
	if (c->out_len > c->out_off)
		ev.events |= EPOLLOUT;
	epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void ctl_client_reply(struct ctl_server *s, struct ctl_client *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);

	json_decref(reply);
	if (text && !ctl_client_queue(s, c, text, strlen(text), CTL_OUTPUT_MAX) &&
	    s->pending + strlen(text) > CTL_PENDING_TOTAL_MAX) {
		/* Other clients leave too many replies unread: this one gets a
		 * short refusal instead of memory lbd does not have to give. */
		free(text);
		json_t *busy = ctl_error_reply(-EBUSY, "too many replies are waiting for slow "
						       "control clients; try again");
		text = json_dumps(busy, JSON_COMPACT);
		json_decref(busy);
		/* Outside the budget: one short line, and the client is served
		 * no more until it reads (CTL_UNREAD_MAX). */
		if (text && ctl_client_queue_as(s, c, text, strlen(text), CTL_OUTPUT_MAX + 1, false) &&
		    ctl_client_queue_as(s, c, "\n", 1, CTL_OUTPUT_MAX + 2, false)) {
			free(text);
			return;
		}
		c->closing = true;
	} else if (!text || !ctl_client_queue(s, c, "\n", 1, CTL_OUTPUT_MAX + 1)) {
		c->closing = true;
	}
	free(text);
}

/*
 * Serves the complete request lines the client has sent, in order, while
 * it reads its replies: past CTL_UNREAD_MAX bytes unread the rest waits, so
 * a client that writes without reading costs one reply, not a queue. Once
 * the client has closed its end, a last line without a newline is a request
 * too.
 */
static void ctl_client_serve(struct ctl_server *s, struct ctl_client *c)
{
	char *nl;

	while (ctl_client_keeping_up(c) && (nl = memchr(c->in, '\n', c->in_len)) != NULL) {
		size_t len = (size_t)(nl - c->in);
		bool monitor = false;
		*nl = '\0';
		s->serving = c;
		json_t *reply = ctl_execute_as(s->d, c->in, c->read_only, &monitor);
		s->serving = NULL;
		ctl_client_reply(s, c, reply);
		c->monitor |= monitor;
		memmove(c->in, nl + 1, c->in_len - len - 1);
		c->in_len -= (__u32)(len + 1);
		c->in_since_ms = health_now_ms();
	}
	if (c->closing && c->in_len && ctl_client_keeping_up(c) && !memchr(c->in, '\n', c->in_len)) {
		bool monitor;
		c->in[c->in_len] = '\0';
		s->serving = c;
		json_t *reply = ctl_execute_as(s->d, c->in, c->read_only, &monitor);
		s->serving = NULL;
		ctl_client_reply(s, c, reply);
		c->in_len = 0;
	}
}

/*
 * Writes what the socket takes, serving the requests that waited for it.
 * Returns false when the client is gone (closed here).
 */
static bool ctl_client_flush(struct ctl_server *s, struct ctl_client *c)
{
	for (;;) {
		while (c->out_off < c->out_len) {
			ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				ctl_client_close(s, c);
				return false;
			}
			c->out_off += (size_t)n;
			s->pending -= (size_t)n;
			c->last_ms = health_now_ms();
		}
		__u32 waiting = c->in_len;
		if (!ctl_client_keeping_up(c) || !waiting)
			break;
		ctl_client_serve(s, c);
		if (c->in_len == waiting)
			break; /* nothing more to serve now (a line still incomplete) */
	}
	if (c->closing && c->out_off == c->out_len && !c->in_len) {
		ctl_client_close(s, c);
		return false;
	}
	ctl_client_want(s, c);
	return true;
}

/* One read per wakeup, so that every client (and lbd's other work) gets
 * its turn; the epoll set is level-triggered and comes back for the rest. */
static void ctl_client_input(struct ctl_server *s, struct ctl_client *c)
{
	if (!c->closing && c->in_len < sizeof(c->in)) {
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			/* A half-closed client still gets its replies. */
			c->closing = true;
		} else if (n > 0) {
			c->last_ms = health_now_ms();
			if (!c->in_len)
				c->in_since_ms = c->last_ms;
			c->in_len += (__u32)n;
		}
	}
	ctl_client_serve(s, c);
	if (c->in_len == sizeof(c->in) && !memchr(c->in, '\n', c->in_len)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "request longer than %d bytes", CTL_LINE_MAX - 1);
		ctl_client_reply(s, c, ctl_error_reply(-EMSGSIZE, msg));
		c->closing = true;
		c->in_len = 0;
	}
	ctl_client_flush(s, c);
}

/* Whether gid is in the peer's groups (SO_PEERGROUPS: supplementary). */
static bool ctl_peer_in_group(int fd, const struct ucred *cred, __u32 gid)
{
	gid_t stack[64], *groups = stack;
	socklen_t len = sizeof(stack);
	bool found = false;

	if (cred->gid == gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		if (errno != ERANGE || !(groups = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		found |= groups[i] == gid;
	if (groups != stack)
		free(groups);
	return found;
}

/*
 * Whether the peer on fd may use listener l: root, lbd's own user, or a
 * member of the socket's group. The file's mode says the same; this holds
 * when the mode has been loosened, or a connected socket handed on.
 */
static bool ctl_peer_allowed(const struct ctl_listener *l, int fd, char *why, size_t why_size)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		snprintf(why, why_size, "no peer credentials: %s", strerror(errno));
		return false;
	}
	if (cred.uid == 0 || cred.uid == geteuid())
		return true;
	if (l->group.name[0] && ctl_peer_in_group(fd, &cred, l->group.gid))
		return true;
	if (l->also.name[0] && ctl_peer_in_group(fd, &cred, l->also.gid))
		return true;
	char groups[160] = "";
	if (l->group.name[0] && l->also.name[0])
		snprintf(groups, sizeof(groups), ", nor in group %s or %s", l->group.name,
			 l->also.name);
	else if (l->group.name[0] || l->also.name[0])
		snprintf(groups, sizeof(groups), ", nor in group %s",
			 l->group.name[0] ? l->group.name : l->also.name);
	snprintf(why, why_size, "uid %u (pid %d) is neither root nor lbd's user%s", cred.uid,
		 cred.pid, groups);
	return false;
}

/* Turns a client away with a one-line error reply (best effort). */
static void ctl_turn_away(int fd, const char *code, const char *message)
{
	json_t *reply = json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", code, "message",
				  message);
	char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;

	if (text) {
		size_t len = strlen(text);
		text[len] = '\n'; /* json_dumps leaves room: it wrote the NUL there */
		if (send(fd, text, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* The client is gone or its buffer full: nothing to tell. */
		}
	}
	free(text);
	json_decref(reply);
	close(fd);
}

static void ctl_accept(struct ctl_server *s, const struct ctl_listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		/* Root keeps a few places of its own, so an operator can still
		 * get in while other users hold every ordinary one. */
		struct ucred cred = { .uid = (uid_t)-1 };
		socklen_t cred_len = sizeof(cred);
		getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len);
		if (s->client_count >= CTL_CLIENTS_MAX + (cred.uid == 0 ? CTL_CLIENTS_ROOT : 0)) {
			ctl_turn_away(fd, "busy", "too many control clients");
			s->refused++;
			continue;
		}
		char why[256];
		if (!ctl_peer_allowed(l, fd, why, sizeof(why))) {
			ctl_turn_away(fd, "forbidden", why);
			s->forbidden++;
			/* A flood of refused clients must not flood the log. */
			__u64 now = health_now_ms();
			if (now - s->forbidden_log_ms >= 10000 || s->forbidden_logged == 0) {
				log_warning("control socket %s: refused: %s (%llu refused so far)",
					    l->path, why, (unsigned long long)s->forbidden);
				s->forbidden_log_ms = now;
				s->forbidden_logged = s->forbidden;
			}
			continue;
		}
		struct ctl_client *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->read_only = l->read_only;
		c->last_ms = health_now_ms();
		c->next = s->clients;
		if (s->clients)
			s->clients->prev = c;
		s->clients = c;
		s->client_count++;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
		epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
	}
}

/*
 * Listens on l->path: mode 0660, owned by lbd's user and l->group (when
 * set), replacing a stale socket file but never a live lbd's.
 */
static int ctl_listen(struct ctl_server *s, struct ctl_listener *l, char *err, size_t err_size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(l->path) >= sizeof(sun.sun_path)) {
		snprintf(err, err_size, "%s: path longer than %zu bytes", l->path,
			 sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", l->path);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto fail;
	/* A socket file left by a dead lbd is replaced; a live lbd answers
	 * a connect, and then this one must not steal its socket. */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(probe);
		snprintf(err, err_size, "%s: another lbd is listening there", l->path);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	unlink(l->path);
	char dir[sizeof(sun.sun_path)];
	snprintf(dir, sizeof(dir), "%s", l->path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		/* Searchable by all: each socket's own mode and lbd's check of
		 * its peers decide who may use it. */
		mkdir(dir, 0755);
	}
	mode_t old_mask = umask(0117); /* 0660: owner and group */
	int rc = bind(l->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_mask);
	if (rc < 0 || listen(l->fd, 128) < 0)
		goto fail;
	if (chmod(l->path, 0660) < 0 ||
	    (l->group.name[0] && chown(l->path, (uid_t)-1, (gid_t)l->group.gid) < 0))
		goto fail;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, l->fd, &ev) < 0)
		goto fail;
	return 0;
fail:
	rc = -errno;
	snprintf(err, err_size, "%s: %s", l->path, strerror(errno));
	return rc;
}

struct ctl_server *ctl_create(struct lbd *d, const struct conf_global *g, char *err,
			      size_t err_size)
{
	struct ctl_server *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	s->d = d;
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epoll_fd < 0) {
		snprintf(err, err_size, "%s", strerror(errno));
		goto fail;
	}
	struct ctl_listener *rw = &s->listeners[s->listener_count++];
	rw->fd = -1;
	rw->group = g->control_socket_group;
	snprintf(rw->path, sizeof(rw->path), "%s", g->control_socket);
	if (ctl_listen(s, rw, err, err_size))
		goto fail;
	if (g->readonly_socket[0]) {
		struct ctl_listener *ro = &s->listeners[s->listener_count++];
		ro->fd = -1;
		ro->read_only = true;
		ro->group = g->readonly_socket_group;
		ro->also = g->control_socket_group;
		snprintf(ro->path, sizeof(ro->path), "%s", g->readonly_socket);
		if (ctl_listen(s, ro, err, err_size))
			goto fail;
	}
	return s;
fail:
	ctl_destroy(s);
	return NULL;
}

void ctl_destroy(struct ctl_server *s)
{
	if (!s)
		return;
	while (s->clients)
		ctl_client_close(s, s->clients);
	for (__u32 i = 0; i < s->listener_count; i++) {
		if (s->listeners[i].fd < 0)
			continue; /* never bound: the file, if any, is not ours */
		close(s->listeners[i].fd);
		unlink(s->listeners[i].path);
	}
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	free(s);
}

int ctl_fd(const struct ctl_server *s)
{
	return s->epoll_fd;
}

void ctl_run(struct ctl_server *s)
{
	struct epoll_event events[64];
	int n = epoll_wait(s->epoll_fd, events, 64, 0);

	for (int i = 0; i < n; i++) {
		void *ptr = events[i].data.ptr;
		if (ptr == &s->listeners[0] || ptr == &s->listeners[1]) {
			ctl_accept(s, ptr);
			continue;
		}
		struct ctl_client *c = ptr;
		if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			ctl_client_input(s, c);
		else if (events[i].events & EPOLLOUT)
			ctl_client_flush(s, c);
	}
}

void ctl_totals(const struct ctl_server *s, struct ctl_totals *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return;
	out->clients = s->client_count;
	out->pending = s->pending;
	out->refused_busy = s->refused;
	out->refused_forbidden = s->forbidden;
	out->timed_out = s->timed_out;
}

void ctl_tick(struct ctl_server *s, __u64 now_ms)
{
	for (struct ctl_client *c = s->clients, *next; c; c = next) {
		next = c->next;
		/* Silent both ways for too long, or a request left unfinished
		 * (a byte at a time, or never read back) past its time. */
		if ((!c->monitor && now_ms - c->last_ms > CTL_IDLE_TIMEOUT_MS) ||
		    (c->in_len && now_ms - c->in_since_ms > CTL_REQUEST_TIMEOUT_MS)) {
			s->timed_out++;
			ctl_client_close(s, c);
		}
	}
}

void ctl_broadcast(struct ctl_server *s, json_t *event)
{
	char *text = json_dumps(event, JSON_COMPACT);

	if (!text)
		return;
	size_t len = strlen(text);
	text[len] = '\n';
	for (struct ctl_client *c = s->clients, *next; c; c = next) {
		next = c->next;
		if (!c->monitor)
			continue;
		/* A monitor that does not read is cut, not waited for. The one
		 * whose request caused the event is only queued to: closing it
		 * now would free it under ctl_client_input(), which flushes (and
		 * closes) it once the request is answered. */
		if (!ctl_client_queue(s, c, text, len + 1, CTL_MONITOR_BACKLOG)) {
			if (c == s->serving)
				c->closing = true;
			else
				ctl_client_close(s, c);
			continue;
		}
		if (c != s->serving)
			ctl_client_flush(s, c);
	}
	free(text);
}
