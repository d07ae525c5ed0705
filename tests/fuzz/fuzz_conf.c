/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The configuration loader (controlplane/conf.c) on any text: the input is a
 * whole config file, loaded with conf_load_string(), which runs the same
 * libconfig parse and the same validation as conf_load() of a file.
 *
 * Every input must give exactly one of:
 *  - errors: between 1 and CONF_ERRORS_MAX messages, each "fuzz.conf:LINE: "
 *    with LINE a line of the input (0 only for what is missing from the file
 *    as a whole, e.g. "dataplane: missing (required)"), nothing else set;
 *  - a configuration that keeps every promise of conf.h: values in their
 *    ranges, names well-formed and unique, VIPs and backends unique by
 *    address, a tunnel source for every backend's family, the groups the
 *    mode needs. And the design's promise for `lbctl config show`: the
 *    configuration written back (config_dump) loads again, and is written
 *    back the same.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <string.h>

#include "controlplane/config_dump.h"
#include "controlplane/conf.h"
#include "controlplane/maglev.h"
#include "controlplane/model.h"
#include "tests/fuzz/fuzz.h"

#define NAME "fuzz.conf"

static int name_ok(const char *name, size_t max)
{
	size_t n = strlen(name);

	if (n == 0 || n > max)
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static int family_ok(const struct conf_addr *a)
{
	if (a->family == FLOW_FAMILY_IPV4)
		return !a->addr[1] && !a->addr[2] && !a->addr[3];
	return a->family == FLOW_FAMILY_IPV6;
}

static void check_errors(const struct conf_errors *errors, const char *text)
{
	__u32 lines = 1;

	for (const char *c = text; *c; c++)
		lines += *c == '\n';
	FUZZ_CHECK(errors->count >= 1 && errors->count <= CONF_ERRORS_MAX, "%u errors",
		   errors->count);
	for (__u32 i = 0; i < errors->count; i++) {
		const char *m = errors->messages[i];
		char *end;

		FUZZ_CHECK(memchr(m, '\0', CONF_ERROR_LEN) != NULL, "message %u not terminated", i);
		FUZZ_CHECK(strncmp(m, NAME ":", strlen(NAME ":")) == 0, "message \"%s\"", m);
		long line = strtol(m + strlen(NAME ":"), &end, 10);
		FUZZ_CHECK(end > m + strlen(NAME ":") && end[0] == ':' && end[1] == ' ',
			   "no FILE:LINE: in \"%s\"", m);
		FUZZ_CHECK(line >= 0 && line <= (long)lines, "line %ld of %u in \"%s\"", line, lines,
			   m);
		if (line == 0) {
			/* The file as a whole: only a top-level key can be meant. */
			const char *key = end + 2, *colon = strchr(key, ':');
			FUZZ_CHECK(colon && strcspn(key, ".[") >= (size_t)(colon - key),
				   "line 0 for something inside the file: \"%s\"", m);
		}
	}
}

static void check_health(const struct conf_health *h)
{
	FUZZ_CHECK(h->type <= CONF_HEALTH_HTTP, "health type %d", h->type);
	FUZZ_CHECK(h->timeout_ms <= h->interval_ms, "timeout %u above interval %u", h->timeout_ms,
		   h->interval_ms);
	FUZZ_CHECK(h->rise >= 1 && h->rise <= 100 && h->fall >= 1 && h->fall <= 100, "rise/fall");
	FUZZ_CHECK(h->jitter_pct <= 50, "jitter %u", h->jitter_pct);
	FUZZ_CHECK(h->http_path[0] == '/', "http_path \"%s\"", h->http_path);
	FUZZ_CHECK(h->http_expect_count >= 1 && h->http_expect_count <= CONF_HTTP_EXPECT_MAX,
		   "%u expected statuses", h->http_expect_count);
	for (__u32 i = 0; i < h->http_expect_count; i++)
		FUZZ_CHECK(h->http_expect[i] >= 100 && h->http_expect[i] <= 599, "status %u",
			   h->http_expect[i]);
	FUZZ_CHECK(h->agent_weight_step_pct >= 1 && h->agent_weight_step_pct <= 100,
		   "agent step %u", h->agent_weight_step_pct);
}

static void check_dataplane(const struct conf_dataplane *d)
{
	FUZZ_CHECK(d->mode <= CONF_MODE_XDP, "mode %d", d->mode);
	FUZZ_CHECK(d->encap == PKT_ENCAP_IPIP || d->encap == PKT_ENCAP_GUE, "encap %d", d->encap);
	FUZZ_CHECK(d->gue_port >= 1, "GUE port 0");
	FUZZ_CHECK(d->flow_table_size >= 1024 && d->flow_table_size <= (1u << 28), "flow table %u",
		   d->flow_table_size);
	FUZZ_CHECK(d->tcp_idle_timeout_s >= 1 && d->udp_idle_timeout_s >= 1, "idle timeouts");
	FUZZ_CHECK(!d->encap_source_v4.family || d->encap_source_v4.family == FLOW_FAMILY_IPV4,
		   "encap_source_v4 of family %u", d->encap_source_v4.family);
	FUZZ_CHECK(!d->encap_source_v6.family || d->encap_source_v6.family == FLOW_FAMILY_IPV6,
		   "encap_source_v6 of family %u", d->encap_source_v6.family);
	FUZZ_CHECK(d->mode == CONF_MODE_XDP || d->dpdk.present, "mode %d without dpdk { }", d->mode);
	FUZZ_CHECK(d->mode == CONF_MODE_DPDK || d->xdp.present, "mode %d without xdp { }", d->mode);
	if (d->dpdk.present) {
		const struct conf_dpdk *p = &d->dpdk;
		FUZZ_CHECK(p->port_count >= 1 && p->port_count <= CONF_DPDK_PORTS_MAX, "%u ports",
			   p->port_count);
		FUZZ_CHECK(p->worker_lcore_count >= 1 && p->worker_lcore_count <= CONF_LCORES_MAX,
			   "%u lcores", p->worker_lcore_count);
		FUZZ_CHECK(p->eal_arg_count <= CONF_EAL_ARGS_MAX, "%u EAL arguments",
			   p->eal_arg_count);
		FUZZ_CHECK(strlen(p->control_socket) < 108, "control socket too long for sun_path");
		for (__u32 i = 0; i < p->port_count; i++) {
			FUZZ_CHECK(name_ok(p->ports[i].name, CONF_PORT_NAME_MAX), "port name \"%s\"",
				   p->ports[i].name);
			FUZZ_CHECK(p->ports[i].address_count <= CONF_PORT_ADDRS_MAX, "port addresses");
			for (__u32 k = 0; k < p->ports[i].address_count; k++) {
				const struct conf_prefix *a = &p->ports[i].addresses[k];
				FUZZ_CHECK(family_ok(&a->addr) &&
						   a->length <= (a->addr.family == FLOW_FAMILY_IPV4 ? 32
												     : 128),
					   "port address of family %u /%u", a->addr.family, a->length);
			}
			for (__u32 j = 0; j < i; j++)
				FUZZ_CHECK(strcmp(p->ports[i].name, p->ports[j].name) != 0,
					   "port name \"%s\" twice", p->ports[i].name);
		}
	}
	if (d->xdp.present)
		FUZZ_CHECK(d->xdp.interface_count >= 1 && d->xdp.interface_count <= CONF_XDP_IFACES_MAX,
			   "%u XDP interfaces", d->xdp.interface_count);
}

static void check_vip(const struct conf *cfg, const struct conf_vip *v)
{
	FUZZ_CHECK(name_ok(v->name, CONF_NAME_MAX - 1), "VIP name \"%s\"", v->name);
	FUZZ_CHECK(v->proto == PKT_PROTO_TCP || v->proto == PKT_PROTO_UDP, "VIP protocol %u",
		   v->proto);
	FUZZ_CHECK(family_ok(&v->addr) && v->port >= 1, "VIP address or port");
	FUZZ_CHECK(maglev_table_size_valid(v->table_size), "table size %u", v->table_size);
	FUZZ_CHECK(v->backend_count < v->table_size && v->backend_count <= MAGLEV_BACKENDS_MAX,
		   "%u backends in %u slots", v->backend_count, v->table_size);
	check_health(&v->health);
	for (__u32 i = 0; i < v->backend_count; i++) {
		const struct conf_backend *b = &v->backends[i];
		const struct conf_addr *src = b->addr.family == FLOW_FAMILY_IPV4
						      ? &cfg->dataplane.encap_source_v4
						      : &cfg->dataplane.encap_source_v6;
		FUZZ_CHECK(name_ok(b->name, CONF_NAME_MAX - 1), "backend name \"%s\"", b->name);
		FUZZ_CHECK(family_ok(&b->addr) && b->port >= 1, "backend address or port");
		FUZZ_CHECK(b->weight <= CONF_WEIGHT_MAX, "weight %u", b->weight);
		FUZZ_CHECK(b->state <= CONF_ADMIN_MAINT, "state %d", b->state);
		FUZZ_CHECK(src->family == b->addr.family, "backend %s has no tunnel source", b->name);
		for (__u32 j = 0; j < i; j++) {
			const struct conf_backend *o = &v->backends[j];
			FUZZ_CHECK(strcmp(o->name, b->name) != 0, "backend name %s twice", b->name);
			FUZZ_CHECK(o->port != b->port || o->addr.family != b->addr.family ||
					   memcmp(o->addr.addr, b->addr.addr, 16) != 0,
				   "backends %s and %s are one address", o->name, b->name);
		}
	}
}

/* The configuration written back, as `lbctl config show` does. */
static char *dump(const struct conf *cfg)
{
	struct model *m = model_create(cfg);
	char err[256], *text = NULL;

	FUZZ_CHECK(m != NULL, "model_create failed");
	FUZZ_CHECK(config_dump(cfg, m, &text, err, sizeof(err)) == 0, "config_dump: %s", err);
	model_destroy(m);
	return text;
}

static void check_config(const struct conf *cfg)
{
	FUZZ_CHECK(strcmp(cfg->source, NAME) == 0, "source \"%s\"", cfg->source);
	check_dataplane(&cfg->dataplane);
	check_health(&cfg->health_defaults);
	FUZZ_CHECK(cfg->global.log_level <= CONF_LOG_DEBUG, "log level");
	for (__u32 i = 0; i < cfg->vip_count; i++) {
		const struct conf_vip *v = &cfg->vips[i];
		check_vip(cfg, v);
		for (__u32 j = 0; j < i; j++) {
			const struct conf_vip *o = &cfg->vips[j];
			FUZZ_CHECK(strcmp(o->name, v->name) != 0, "VIP name %s twice", v->name);
			FUZZ_CHECK(o->port != v->port || o->proto != v->proto ||
					   o->addr.family != v->addr.family ||
					   memcmp(o->addr.addr, v->addr.addr, 16) != 0,
				   "VIPs %s and %s are one address", o->name, v->name);
		}
	}

	char *shown = dump(cfg);
	struct conf_errors errors;
	struct conf *back = conf_load_string(shown, "shown.conf", &errors);
	if (!back) {
		for (__u32 i = 0; i < errors.count; i++)
			fprintf(stderr, "%s\n", errors.messages[i]);
		fprintf(stderr, "---- shown.conf\n%s----\n", shown);
		FUZZ_CHECK(back != NULL, "config show does not read back as configuration");
	}
	char *again = dump(back);
	if (strcmp(shown, again) != 0) {
		fprintf(stderr, "---- shown\n%s---- shown again\n%s----\n", shown, again);
		FUZZ_CHECK(strcmp(shown, again) == 0, "config show read back shows differently");
	}
	free(again);
	free(shown);
	conf_destroy(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errors;
	char *text;

	/* An @include would read whatever file the fuzzer names (libconfig
	 * follows it): not this harness's subject, and not reproducible. */
	if (memmem(data, size, "@include", 8))
		return -1;
	text = malloc(size + 1);
	FUZZ_CHECK(text != NULL, "out of memory");
	memcpy(text, data, size);
	text[size] = '\0'; /* the loader reads a C string: a NUL ends the text */

	errno = 0;
	struct conf *cfg = conf_load_string(text, NAME, &errors);
	if (cfg) {
		FUZZ_CHECK(errors.count == 0, "a configuration with %u errors", errors.count);
		check_config(cfg);
		conf_destroy(cfg);
	} else {
		FUZZ_CHECK(errno == EINVAL, "refused with errno %d", errno);
		check_errors(&errors, text);
	}
	free(text);
	return 0;
}
