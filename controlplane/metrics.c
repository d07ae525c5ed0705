/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd's Prometheus endpoint (controlplane/metrics.h).
 *
 * Naming follows Prometheus' conventions: a fulcrum_ prefix, base units
 * (seconds, bytes), _total on counters, and a state set (one series per
 * state, 1 for the current one) for the admin state. Per-VIP series carry a
 * vip label; per-backend series carry vip and backend. The traffic series
 * (packets, bytes, flows) come from lb-dpdk's counters, sampled every second,
 * and are left out while lb-dpdk is not connected rather than shown as 0.
 * They count since lb-dpdk started, so they restart from 0 when it restarts,
 * which Prometheus' rate() understands as a counter reset.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "controlplane/ctl.h"
#include "controlplane/lbd.h"
#include "controlplane/log.h"
#include "controlplane/metrics.h"

struct metrics_server {
	struct lbd *d;
	struct MHD_Daemon *daemon;
	int epoll_fd;
	__u16 port;
};

/* ---- the exposition ---- */

static void metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format requires. */
static void metrics_label(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s=\"", key);
	for (const char *c = value; *c; c++) {
		if (*c == '\\' || *c == '"')
			fprintf(f, "\\%c", *c);
		else if (*c == '\n')
			fputs("\\n", f);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static void metrics_vip_labels(FILE *f, const char *name, const struct model_vip *v)
{
	fprintf(f, "%s{", name);
	metrics_label(f, "vip", v->name);
}

static void metrics_backend_labels(FILE *f, const char *name, const struct model_backend *b)
{
	metrics_vip_labels(f, name, b->vip);
	fputc(',', f);
	metrics_label(f, "backend", b->name);
}

/* What a per-VIP or per-backend series shows for one object: nothing
 * (present false), a count, or a real number. */
struct metrics_value {
	bool present;
	bool real;
	__u64 count;
	double value;
};

static struct metrics_value metrics_count(__u64 count)
{
	return (struct metrics_value){ .present = true, .count = count };
}

static struct metrics_value metrics_real(double value)
{
	return (struct metrics_value){ .present = true, .real = true, .value = value };
}

/* Ends a sample's labels and prints its value: counts exactly, reals to ten
 * significant digits (weights, seconds). */
static void metrics_value_print(FILE *f, struct metrics_value v)
{
	if (v.real)
		fprintf(f, "} %.10g\n", v.value);
	else
		fprintf(f, "} %llu\n", (unsigned long long)v.count);
}

/* ---- per VIP ---- */

struct metrics_vip_family {
	const char *name, *type, *help;
	struct metrics_value (*value)(const struct lbd *d, const struct model_vip *v);
};

static struct metrics_value metrics_vip_packets(const struct lbd *d, const struct model_vip *v)
{
	const struct chan_vip_stats *s = lbd_vip_stats(d, v);

	return s ? metrics_count(s->packets) : (struct metrics_value){ 0 };
}

static struct metrics_value metrics_vip_bytes(const struct lbd *d, const struct model_vip *v)
{
	const struct chan_vip_stats *s = lbd_vip_stats(d, v);

	return s ? metrics_count(s->bytes) : (struct metrics_value){ 0 };
}

static struct metrics_value metrics_vip_flows_new(const struct lbd *d, const struct model_vip *v)
{
	const struct chan_vip_stats *s = lbd_vip_stats(d, v);

	return s ? metrics_count(s->flows_new) : (struct metrics_value){ 0 };
}

static struct metrics_value metrics_vip_flows_active(const struct lbd *d,
						     const struct model_vip *v)
{
	__u64 flows;

	return lbd_vip_flows_active(d, v, &flows) == 0 ? metrics_count(flows)
						       : (struct metrics_value){ 0 };
}

static struct metrics_value metrics_vip_backends(const struct lbd *d, const struct model_vip *v)
{
	__u32 live = 0;

	(void)d;
	for (__u32 i = 0; i < v->backend_count; i++)
		live += !v->backends[i]->deleted;
	return metrics_count(live);
}

static struct metrics_value metrics_vip_backends_up(const struct lbd *d,
						    const struct model_vip *v)
{
	(void)d;
	return metrics_count(model_vip_up_count(v));
}

static struct metrics_value metrics_vip_min_up(const struct lbd *d, const struct model_vip *v)
{
	(void)d;
	return metrics_count(v->min_up);
}

static struct metrics_value metrics_vip_announced(const struct lbd *d, const struct model_vip *v)
{
	const char *why;

	/* Without an announce group, what lbd would announce. */
	if (!announce_enabled(&d->announce))
		return metrics_count(!v->withdrawn);
	return metrics_count(lbd_vip_announced(d, v, &why));
}

static struct metrics_value metrics_vip_table_size(const struct lbd *d, const struct model_vip *v)
{
	(void)d;
	return metrics_count(v->table_size);
}

static const struct metrics_vip_family metrics_vip_families[] = {
	{ "fulcrum_vip_packets_total", "counter",
	  "Packets of the VIP tunnelled to its backends (lb-dpdk).", metrics_vip_packets },
	{ "fulcrum_vip_bytes_total", "counter",
	  "IP bytes of the VIP's packets tunnelled to its backends, before encapsulation.",
	  metrics_vip_bytes },
	{ "fulcrum_vip_flows_new_total", "counter",
	  "Flows the VIP's ring gave a backend: new flows, and flows moved off a backend gone.",
	  metrics_vip_flows_new },
	{ "fulcrum_vip_flows_active", "gauge", "Flow-table entries of the VIP, over all workers.",
	  metrics_vip_flows_active },
	{ "fulcrum_vip_backends", "gauge", "Backends of the VIP.", metrics_vip_backends },
	{ "fulcrum_vip_backends_up", "gauge",
	  "Backends of the VIP that take new flows (ready, healthy, weight above 0).",
	  metrics_vip_backends_up },
	{ "fulcrum_vip_min_up", "gauge",
	  "Backends the VIP needs taking new flows to stay announced.", metrics_vip_min_up },
	{ "fulcrum_vip_announced", "gauge",
	  "1 while the VIP's address route is in lbd's announce table (without an announce "
	  "group: while it has at least min_up backends taking new flows), else 0.",
	  metrics_vip_announced },
	{ "fulcrum_vip_table_size", "gauge", "Slots in the VIP's Maglev table.",
	  metrics_vip_table_size },
};

static void metrics_dump_vips(const struct lbd *d, FILE *f)
{
	const struct model *m = d->model;

	metrics_family(f, "fulcrum_vip_info", "gauge",
		       "The VIP's protocol, address and port (value always 1).");
	for (__u32 i = 0; i < m->vip_count; i++) {
		const struct model_vip *v = m->vips[i];
		char addr[64], port[8];
		if (v->deleted)
			continue;
		conf_fmt_addr(&v->addr, addr, sizeof(addr));
		snprintf(port, sizeof(port), "%u", v->port);
		metrics_vip_labels(f, "fulcrum_vip_info", v);
		fputc(',', f);
		metrics_label(f, "protocol", v->proto == PKT_PROTO_TCP ? "tcp" : "udp");
		fputc(',', f);
		metrics_label(f, "address", addr);
		fputc(',', f);
		metrics_label(f, "port", port);
		fputs("} 1\n", f);
	}
	for (size_t k = 0; k < sizeof(metrics_vip_families) / sizeof(metrics_vip_families[0]); k++) {
		const struct metrics_vip_family *fam = &metrics_vip_families[k];
		metrics_family(f, fam->name, fam->type, fam->help);
		for (__u32 i = 0; i < m->vip_count; i++) {
			struct metrics_value val;
			if (m->vips[i]->deleted || !(val = fam->value(d, m->vips[i])).present)
				continue;
			metrics_vip_labels(f, fam->name, m->vips[i]);
			metrics_value_print(f, val);
		}
	}
	metrics_family(f, "fulcrum_vip_drops_total", "counter",
		       "Packets of the VIP dropped, by reason (no_backend: its ring had no "
		       "backend).");
	for (__u32 i = 0; i < m->vip_count; i++) {
		const struct chan_vip_stats *s = lbd_vip_stats(d, m->vips[i]);
		if (m->vips[i]->deleted || !s)
			continue;
		metrics_vip_labels(f, "fulcrum_vip_drops_total", m->vips[i]);
		fputc(',', f);
		metrics_label(f, "reason", "no_backend");
		metrics_value_print(f, metrics_count(s->drops_no_backend));
	}
}

/* ---- per backend ---- */

struct metrics_backend_family {
	const char *name, *type, *help;
	struct metrics_value (*value)(const struct lbd *d, const struct model_backend *b);
};

static struct metrics_value metrics_backend_packets(const struct lbd *d,
						    const struct model_backend *b)
{
	const struct chan_member_stats *s = lbd_member_stats(d, b);

	return s ? metrics_count(s->packets) : (struct metrics_value){ 0 };
}

static struct metrics_value metrics_backend_bytes(const struct lbd *d,
						  const struct model_backend *b)
{
	const struct chan_member_stats *s = lbd_member_stats(d, b);

	return s ? metrics_count(s->bytes) : (struct metrics_value){ 0 };
}

static struct metrics_value metrics_backend_flows_new(const struct lbd *d,
						      const struct model_backend *b)
{
	const struct chan_member_stats *s = lbd_member_stats(d, b);

	return s ? metrics_count(s->flows_new) : (struct metrics_value){ 0 };
}

static struct metrics_value metrics_backend_flows_active(const struct lbd *d,
							 const struct model_backend *b)
{
	const struct chan_member_stats *s = lbd_member_stats(d, b);

	return s ? metrics_count(s->flows_active) : (struct metrics_value){ 0 };
}

static struct metrics_value metrics_backend_up(const struct lbd *d, const struct model_backend *b)
{
	(void)d;
	return metrics_count(model_backend_up(b));
}

static struct metrics_value metrics_backend_weight(const struct lbd *d,
						   const struct model_backend *b)
{
	(void)d;
	return metrics_count(b->weight);
}

static struct metrics_value metrics_backend_effective_weight(const struct lbd *d,
							     const struct model_backend *b)
{
	(void)d;
	return metrics_real(model_backend_weight_centi(b) / 100.0);
}

static struct metrics_value metrics_backend_check_duration(const struct lbd *d,
							   const struct model_backend *b)
{
	(void)d;
	if (!b->checked || b->vip->health.type == CONF_HEALTH_NONE)
		return (struct metrics_value){ 0 };
	return metrics_real(b->check_duration_us / 1e6);
}

static struct metrics_value metrics_backend_agent_reachable(const struct lbd *d,
							    const struct model_backend *b)
{
	(void)d;
	if (!b->vip->health.agent_port)
		return (struct metrics_value){ 0 };
	return metrics_count(b->agent_reachable);
}

static const struct metrics_backend_family metrics_backend_families[] = {
	{ "fulcrum_backend_packets_total", "counter",
	  "Packets tunnelled to the backend for the VIP (lb-dpdk).", metrics_backend_packets },
	{ "fulcrum_backend_bytes_total", "counter",
	  "IP bytes tunnelled to the backend for the VIP, before encapsulation.",
	  metrics_backend_bytes },
	{ "fulcrum_backend_flows_new_total", "counter",
	  "Flows the VIP's ring gave the backend: new, or moved from a backend gone.",
	  metrics_backend_flows_new },
	{ "fulcrum_backend_flows_active", "gauge",
	  "Flow-table entries naming the backend, over all workers (a drained backend is "
	  "empty at 0).",
	  metrics_backend_flows_active },
	{ "fulcrum_backend_health_up", "gauge",
	  "1 while the backend passes its health check (and its agent does not say down).",
	  metrics_backend_up },
	{ "fulcrum_backend_weight", "gauge", "The backend's configured weight.",
	  metrics_backend_weight },
	{ "fulcrum_backend_effective_weight", "gauge",
	  "The weight the table is built with: weight x agent percentage; 0 unless ready and "
	  "up.",
	  metrics_backend_effective_weight },
	{ "fulcrum_backend_check_duration_seconds", "gauge",
	  "How long the backend's last health check took.", metrics_backend_check_duration },
	{ "fulcrum_backend_agent_reachable", "gauge",
	  "1 while the backend's load agent answers (VIPs with an agent port only).",
	  metrics_backend_agent_reachable },
};

static void metrics_dump_backends(const struct lbd *d, FILE *f)
{
	static const enum conf_admin_state states[] = { CONF_ADMIN_READY, CONF_ADMIN_DRAIN,
							CONF_ADMIN_MAINT };
	const struct model *m = d->model;

	metrics_family(f, "fulcrum_backend_info", "gauge",
		       "The backend's address and port, and whether it came from the "
		       "configuration or at run time (value always 1).");
	for (__u32 i = 0; i < m->vip_count; i++) {
		for (__u32 k = 0; !m->vips[i]->deleted && k < m->vips[i]->backend_count; k++) {
			const struct model_backend *b = m->vips[i]->backends[k];
			char addr[64], port[8];
			if (b->deleted)
				continue;
			conf_fmt_addr(&b->addr, addr, sizeof(addr));
			snprintf(port, sizeof(port), "%u", b->port);
			metrics_backend_labels(f, "fulcrum_backend_info", b);
			fputc(',', f);
			metrics_label(f, "address", addr);
			fputc(',', f);
			metrics_label(f, "port", port);
			fputc(',', f);
			metrics_label(f, "origin", b->added ? "runtime" : "config");
			fputs("} 1\n", f);
		}
	}
	for (size_t n = 0; n < sizeof(metrics_backend_families) / sizeof(metrics_backend_families[0]);
	     n++) {
		const struct metrics_backend_family *fam = &metrics_backend_families[n];
		metrics_family(f, fam->name, fam->type, fam->help);
		for (__u32 i = 0; i < m->vip_count; i++) {
			for (__u32 k = 0; !m->vips[i]->deleted && k < m->vips[i]->backend_count; k++) {
				const struct model_backend *b = m->vips[i]->backends[k];
				struct metrics_value val;
				if (b->deleted || !(val = fam->value(d, b)).present)
					continue;
				metrics_backend_labels(f, fam->name, b);
				metrics_value_print(f, val);
			}
		}
	}
	metrics_family(f, "fulcrum_backend_admin_state", "gauge",
		       "The backend's admin state, the most restrictive of its sources' (1 for "
		       "the current state).");
	for (__u32 i = 0; i < m->vip_count; i++) {
		for (__u32 k = 0; !m->vips[i]->deleted && k < m->vips[i]->backend_count; k++) {
			const struct model_backend *b = m->vips[i]->backends[k];
			enum conf_admin_state now = model_backend_admin(b, NULL);
			for (size_t s = 0; !b->deleted && s < sizeof(states) / sizeof(states[0]); s++) {
				metrics_backend_labels(f, "fulcrum_backend_admin_state", b);
				fputc(',', f);
				metrics_label(f, "state", model_admin_name(states[s]));
				fprintf(f, "} %d\n", states[s] == now);
			}
		}
	}
}

/* ---- lbd and lb-dpdk as a whole ---- */

static void metrics_gauge(FILE *f, const char *name, const char *help, struct metrics_value v)
{
	metrics_family(f, name, "gauge", help);
	fputs(name, f);
	if (v.real)
		fprintf(f, " %.10g\n", v.value);
	else
		fprintf(f, " %llu\n", (unsigned long long)v.count);
}

static void metrics_counter(FILE *f, const char *name, const char *help, __u64 value)
{
	metrics_family(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)value);
}

static void metrics_dump_dataplane(const struct lbd *d, FILE *f)
{
	const struct lbd_sample *s = &d->sample;
	char name[96];

	metrics_gauge(f, "fulcrum_dataplane_connected",
		      "1 while lbd holds its channel to lb-dpdk.", metrics_count(publish_connected(&d->pub)));
	if (!publish_connected(&d->pub) || !s->valid)
		return;
	metrics_gauge(f, "fulcrum_dataplane_generation",
		      "The table generation lb-dpdk has in service.",
		      metrics_count(s->stats.generation));
	metrics_gauge(f, "fulcrum_dataplane_flows", "Flow-table entries in use, over all workers.",
		      metrics_count(s->stats.flows));
	metrics_gauge(f, "fulcrum_dataplane_flow_capacity",
		      "Flow-table entries, over all workers.",
		      metrics_count(s->stats.flow_capacity));
	metrics_gauge(f, "fulcrum_dataplane_workers", "lb-dpdk's worker lcores.",
		      metrics_count(s->stats.worker_count));
	for (__u32 c = 0; c < COUNTER_COUNT; c++) {
		if (c == COUNTER_DROP_BASE || counter_is_drop(c))
			continue;
		snprintf(name, sizeof(name), "fulcrum_dataplane_%s_total", counter_name(c));
		metrics_counter(f, name, counter_meaning(c), s->counters[c]);
	}
	metrics_family(f, "fulcrum_dataplane_drops_total", "counter",
		       "Frames lb-dpdk dropped, by reason (README, \"Metrics\", lists them).");
	for (__u32 c = COUNTER_DROP_BASE + 1; c <= COUNTER_DROP_LAST; c++) {
		const char *reason = counter_name(c);
		if (strncmp(reason, "drop_", 5) == 0)
			reason += 5;
		fputs("fulcrum_dataplane_drops_total{", f);
		metrics_label(f, "reason", reason);
		fprintf(f, "} %llu\n", (unsigned long long)s->counters[c]);
	}
}

void metrics_dump(const struct lbd *d, FILE *f)
{
	struct health_totals ht;

	health_totals(d->health, &ht);
	metrics_gauge(f, "fulcrum_generation",
		      "The last table generation lbd put in service (0 before the first).",
		      metrics_count(d->pub.generation));
	metrics_counter(f, "fulcrum_generations_published_total",
			"Table generations lbd put in service.", d->generations_published);
	metrics_counter(f, "fulcrum_publish_failures_total",
			"Publications lb-dpdk refused or that broke off.", d->publish_failures);
	metrics_gauge(f, "fulcrum_publish_latency_seconds",
		      "From the oldest change a publication carried (health, agent, lbctl, "
		      "reload) to its generation in service.",
		      metrics_real(d->publish_latency_us / 1e6));
	metrics_counter(f, "fulcrum_health_checks_total", "Health checks completed.", ht.checks);
	metrics_counter(f, "fulcrum_health_check_failures_total", "Health checks that failed.",
			ht.check_failures);
	metrics_counter(f, "fulcrum_agent_reads_total", "Agent reports read.", ht.agent_reads);
	metrics_counter(f, "fulcrum_agent_failures_total",
			"Agent reads that failed (never a health failure).", ht.agent_failures);
	metrics_gauge(f, "fulcrum_health_checks_in_flight",
		      "Health checks and agent reads under way.", metrics_count(ht.in_flight));
	struct ctl_totals ct;
	ctl_totals(d->ctl, &ct);
	metrics_gauge(f, "fulcrum_control_clients", "Clients connected to the control sockets.",
		      metrics_count(ct.clients));
	metrics_gauge(f, "fulcrum_control_unread_bytes",
		      "Control replies waiting for their clients to read them.",
		      metrics_count(ct.pending));
	metrics_family(f, "fulcrum_control_refused_total", "counter",
		       "Control clients turned away: busy (every place taken) or forbidden "
		       "(peer credentials).");
	fprintf(f, "fulcrum_control_refused_total{reason=\"busy\"} %llu\n",
		(unsigned long long)ct.refused_busy);
	fprintf(f, "fulcrum_control_refused_total{reason=\"forbidden\"} %llu\n",
		(unsigned long long)ct.refused_forbidden);
	metrics_counter(f, "fulcrum_control_timeouts_total",
			"Control clients closed: silent for 30 s, or a request unfinished after 10 s.",
			ct.timed_out);
	metrics_counter(f, "fulcrum_health_local_errors_total",
			"Checks lbd could not start for want of its own resources (descriptors, "
			"memory): retried, never counted against the backend.",
			ht.local_errors);
	metrics_counter(f, "fulcrum_health_half_open_ignored_total",
			"Packets to the half-open checks' source port that answered no check in "
			"flight: late (after the timeout), malformed, or forged.",
			ht.half_open_ignored);
	if (announce_enabled(&d->announce)) {
		metrics_gauge(f, "fulcrum_announce_routes",
			      "VIP address routes in lbd's announce table (what BGP announces).",
			      metrics_count(d->announce.route_count));
		metrics_counter(f, "fulcrum_announce_changes_total",
				"VIP address routes put in or taken out of the announce table.",
				d->announce.announcements + d->announce.withdrawals);
		metrics_counter(f, "fulcrum_announce_failures_total",
				"Route changes the kernel refused (retried every second).",
				d->announce.failures);
	}
	metrics_dump_dataplane(d, f);
	metrics_dump_vips(d, f);
	metrics_dump_backends(d, f);
}

/* ---- HTTP ---- */

static enum MHD_Result metrics_reply(struct MHD_Connection *c, unsigned int status,
				     const char *type, char *body, size_t length)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(length, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result metrics_text(struct MHD_Connection *c, unsigned int status,
				    const char *text)
{
	char *body = strdup(text);

	return body ? metrics_reply(c, status, "text/plain; charset=utf-8", body, strlen(body))
		    : MHD_NO;
}

static enum MHD_Result metrics_request(void *cls, struct MHD_Connection *c, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_data_size,
				       void **request_state)
{
	struct metrics_server *s = cls;
	char *body = NULL;
	size_t length = 0;
	FILE *f;

	(void)version, (void)upload_data, (void)request_state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return metrics_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (*upload_data_size)
		return metrics_text(c, MHD_HTTP_BAD_REQUEST, "a GET has no body\n");
	if (strcmp(url, "/") == 0)
		return metrics_text(c, MHD_HTTP_OK, "Fulcrum lbd: metrics at /metrics\n");
	if (strcmp(url, "/metrics") != 0)
		return metrics_text(c, MHD_HTTP_NOT_FOUND, "not found; metrics are at /metrics\n");
	f = open_memstream(&body, &length);
	if (!f)
		return metrics_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	metrics_dump(s->d, f);
	if (fclose(f) != 0) {
		free(body);
		return metrics_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	return metrics_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body,
			     length);
}

static void metrics_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warning("metrics endpoint: %s", line);
}

struct metrics_server *metrics_create(struct lbd *d, const struct conf_addr *addr, __u16 port,
				      char *err, size_t err_size)
{
	struct metrics_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss = { 0 };
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	if (!s) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	s->d = d;
	if (addr->family == FLOW_FAMILY_IPV6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr->addr, 16);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr->addr, 4);
	}
	/* Few, short connections: Prometheus scrapes and an operator's curl.
	 * The limits keep a flood of idle connections from holding memory. */
	errno = 0;
	s->daemon = MHD_start_daemon(flags, port, NULL, NULL, metrics_request, s,
				     MHD_OPTION_EXTERNAL_LOGGER, metrics_log, NULL,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_CONNECTION_LIMIT, 64u,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16u,
				     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, err_size, "cannot listen: %s",
			 errno ? strerror(errno) : "libmicrohttpd refused to start");
		free(s);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	s->epoll_fd = info ? info->epoll_fd : -1;
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : port;
	if (s->epoll_fd < 0) {
		snprintf(err, err_size, "libmicrohttpd has no epoll fd");
		metrics_destroy(s);
		return NULL;
	}
	return s;
}

void metrics_destroy(struct metrics_server *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	free(s);
}

int metrics_fd(const struct metrics_server *s)
{
	return s->epoll_fd;
}

__u16 metrics_port(const struct metrics_server *s)
{
	return s->port;
}

__u64 metrics_timeout_ms(const struct metrics_server *s)
{
	MHD_UNSIGNED_LONG_LONG timeout;

	if (MHD_get_timeout(s->daemon, &timeout) != MHD_YES)
		return UINT64_MAX;
	return timeout;
}

void metrics_run(struct metrics_server *s)
{
	MHD_run(s->daemon);
}
