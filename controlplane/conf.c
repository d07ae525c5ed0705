/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Loads config/fulcrum.conf-style files with libconfig and validates them
 * against Fulcrum's schema. The shape of the code follows the file: one
 * function per group, each listing the keys it accepts, so an unknown key is
 * found by the same list that documents the known ones.
 *
 * Errors never stop the walk: each is recorded with the line libconfig
 * remembers for the setting (or for its parent, when a required key is
 * missing), and the whole file is judged at the end.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/conf.h"
#include "controlplane/maglev.h"

struct conf_ctx {
	const char *file; /* for settings libconfig has no file name for */
	struct conf_errors *errors;
};

static void conf_error(struct conf_ctx *ctx, const config_setting_t *where, const char *path,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void conf_error(struct conf_ctx *ctx, const config_setting_t *where, const char *path,
			 const char *fmt, ...)
{
	struct conf_errors *e = ctx->errors;
	const char *file = where ? config_setting_source_file(where) : NULL;
	int line = where ? config_setting_source_line(where) : 0;
	char msg[CONF_ERROR_LEN];
	va_list ap;

	if (e->count >= CONF_ERRORS_MAX) {
		e->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(e->messages[e->count++], CONF_ERROR_LEN, "%s:%d: %s%s%s", file ? file : ctx->file,
		 line, path, *path ? ": " : "", msg);
}

static const char *conf_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a number with a fraction";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ]";
	case CONFIG_TYPE_LIST:
		return "a list ( )";
	}
	return "unknown";
}

/* path + "." + key, for messages. */
static void conf_path_join(char *out, size_t size, const char *path, const char *key)
{
	snprintf(out, size, "%s%s%s", path, *path ? "." : "", key);
}

/* Reports every member of group whose name is not in allowed (NULL-ended). */
static void conf_check_keys(struct conf_ctx *ctx, const config_setting_t *group,
			      const char *path, const char *const allowed[])
{
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		bool known = false;
		char full[CONF_PATH_MAX];

		for (int k = 0; allowed[k] && !known; k++)
			known = strcmp(allowed[k], name) == 0;
		if (!known) {
			conf_path_join(full, sizeof(full), path, name);
			conf_error(ctx, s, full, "unknown key");
		}
	}
}

/*
 * Looks up key in group and checks its type. Returns the setting, or NULL
 * when absent (reported if required) or of the wrong type (reported).
 */
static config_setting_t *conf_member(struct conf_ctx *ctx, const config_setting_t *group,
				       const char *path, const char *key, int type, bool required)
{
	config_setting_t *s = config_setting_get_member(group, key);
	char full[CONF_PATH_MAX];

	conf_path_join(full, sizeof(full), path, key);
	if (!s) {
		if (required)
			conf_error(ctx, group, full, "missing (required)");
		return NULL;
	}
	int actual = config_setting_type(s);
	bool integer = type == CONFIG_TYPE_INT &&
		       (actual == CONFIG_TYPE_INT || actual == CONFIG_TYPE_INT64);
	bool sequence = type == CONFIG_TYPE_ARRAY &&
			(actual == CONFIG_TYPE_ARRAY || actual == CONFIG_TYPE_LIST);
	if (actual != type && !integer && !sequence) {
		conf_error(ctx, s, full, "must be %s, not %s", conf_type_name(type),
			     conf_type_name(actual));
		return NULL;
	}
	return s;
}

/* An integer in [min, max]; *out keeps its default when the key is absent. */
static void conf_get_int(struct conf_ctx *ctx, const config_setting_t *group, const char *path,
			   const char *key, long long min, long long max, bool required, __u32 *out)
{
	config_setting_t *s = conf_member(ctx, group, path, key, CONFIG_TYPE_INT, required);
	char full[CONF_PATH_MAX];

	if (!s)
		return;
	long long v = config_setting_get_int64(s);
	conf_path_join(full, sizeof(full), path, key);
	if (v < min)
		conf_error(ctx, s, full, "%lld is below %lld", v, min);
	else if (v > max)
		conf_error(ctx, s, full, "%lld is above %lld", v, max);
	else
		*out = (__u32)v;
}

static void conf_get_u16(struct conf_ctx *ctx, const config_setting_t *group, const char *path,
			   const char *key, long long min, long long max, bool required, __u16 *out)
{
	__u32 v = *out;

	conf_get_int(ctx, group, path, key, min, max, required, &v);
	*out = (__u16)v;
}

/* A string that fits size (with its NUL); returns the setting when set. */
static config_setting_t *conf_get_string(struct conf_ctx *ctx, const config_setting_t *group,
					   const char *path, const char *key, bool required,
					   char *out, size_t size)
{
	config_setting_t *s = conf_member(ctx, group, path, key, CONFIG_TYPE_STRING, required);
	char full[CONF_PATH_MAX];

	if (!s)
		return NULL;
	const char *v = config_setting_get_string(s);
	if (strlen(v) >= size) {
		conf_path_join(full, sizeof(full), path, key);
		conf_error(ctx, s, full, "\"%.40s...\" is longer than %zu characters", v, size - 1);
		return NULL;
	}
	memcpy(out, v, strlen(v) + 1);
	return s;
}

/* One of names[] (NULL-ended); *out is its index. False when set but invalid. */
static bool conf_get_enum(struct conf_ctx *ctx, const config_setting_t *group,
			    const char *path, const char *key, const char *const names[],
			    bool required, int *out)
{
	config_setting_t *s = conf_member(ctx, group, path, key, CONFIG_TYPE_STRING, required);
	char full[CONF_PATH_MAX], choices[CONF_PATH_MAX] = "";

	if (!s)
		return !config_setting_get_member(group, key);
	const char *v = config_setting_get_string(s);
	for (int i = 0; names[i]; i++) {
		if (strcmp(names[i], v) == 0) {
			*out = i;
			return true;
		}
		snprintf(choices + strlen(choices), sizeof(choices) - strlen(choices), "%s\"%s\"",
			 i ? ", " : "", names[i]);
	}
	conf_path_join(full, sizeof(full), path, key);
	conf_error(ctx, s, full, "\"%s\" is not one of %s", v, choices);
	return false;
}

int conf_parse_addr(const char *text, struct conf_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, out->addr) == 1) {
		out->family = FLOW_FAMILY_IPV4;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->addr) == 1) {
		out->family = FLOW_FAMILY_IPV6;
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

const char *conf_fmt_addr(const struct conf_addr *a, char *buf, __u32 size)
{
	if (!a->family || !inet_ntop(a->family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6, a->addr,
				     buf, size))
		snprintf(buf, size, "(none)");
	return buf;
}

static config_setting_t *conf_get_addr(struct conf_ctx *ctx, const config_setting_t *group,
					 const char *path, const char *key, bool required,
					 struct conf_addr *out)
{
	char text[CONF_PATH_MAX], full[CONF_PATH_MAX];
	config_setting_t *s = conf_get_string(ctx, group, path, key, required, text, sizeof(text));

	if (!s)
		return NULL;
	if (conf_parse_addr(text, out) != 0) {
		conf_path_join(full, sizeof(full), path, key);
		conf_error(ctx, s, full, "\"%s\" is not an IPv4 or IPv6 address", text);
		return NULL;
	}
	return s;
}

static bool conf_addr_equal(const struct conf_addr *a, const struct conf_addr *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* "name" of a VIP or backend: letters, digits, '-', '_', '.'. */
static void conf_get_name(struct conf_ctx *ctx, const config_setting_t *group,
			    const char *path, char *out)
{
	char full[CONF_PATH_MAX];
	config_setting_t *s = conf_get_string(ctx, group, path, "name", true, out, CONF_NAME_MAX);

	if (!s)
		return;
	conf_path_join(full, sizeof(full), path, "name");
	if (!*out)
		conf_error(ctx, s, full, "must not be empty");
	for (const char *c = out; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.')) {
			conf_error(ctx, s, full,
				     "\"%s\" may hold only letters, digits, '-', '_' and '.'", out);
			break;
		}
	}
}

static const char *const conf_health_keys[] = {
	"type", "interval_ms", "fast_interval_ms", "down_interval_ms", "timeout_ms",
	"rise", "fall", "jitter_pct", "port", "http_path", "http_host", "http_expect",
	"agent_port", "agent_interval_ms", "agent_weight_step_pct", "agent_weight_interval_ms",
	NULL,
};

const char *const conf_health_type_names[CONF_HEALTH_TYPES + 1] = {
	[CONF_HEALTH_NONE] = "none",
	[CONF_HEALTH_TCP] = "tcp",
	[CONF_HEALTH_HTTP] = "http",
	[CONF_HEALTH_TCP_HALF_OPEN] = "tcp-half-open",
	[CONF_HEALTH_TYPES] = NULL,
};

static void conf_health_set_defaults(struct conf_health *h)
{
	memset(h, 0, sizeof(*h));
	h->type = CONF_HEALTH_TCP;
	h->interval_ms = 2000;
	h->fast_interval_ms = 500;
	h->down_interval_ms = 5000;
	h->timeout_ms = 1000;
	h->rise = 2;
	h->fall = 3;
	h->jitter_pct = 10;
	snprintf(h->http_path, sizeof(h->http_path), "/");
	h->http_expect[0] = 200;
	h->http_expect_count = 1;
	h->agent_interval_ms = 2000;
	h->agent_weight_step_pct = 5;
	h->agent_weight_interval_ms = 5000;
}

/* Reads a health group over h, which holds the inherited values. */
static void conf_load_health(struct conf_ctx *ctx, const config_setting_t *g, const char *path,
			       struct conf_health *h)
{
	char full[CONF_PATH_MAX];
	int type = (int)h->type;

	conf_check_keys(ctx, g, path, conf_health_keys);
	conf_get_enum(ctx, g, path, "type", conf_health_type_names, false, &type);
	h->type = (enum conf_health_type)type;
	conf_get_int(ctx, g, path, "interval_ms", 100, 3600000, false, &h->interval_ms);
	conf_get_int(ctx, g, path, "fast_interval_ms", 100, 3600000, false, &h->fast_interval_ms);
	conf_get_int(ctx, g, path, "down_interval_ms", 100, 3600000, false, &h->down_interval_ms);
	conf_get_int(ctx, g, path, "timeout_ms", 10, 600000, false, &h->timeout_ms);
	conf_get_int(ctx, g, path, "rise", 1, 100, false, &h->rise);
	conf_get_int(ctx, g, path, "fall", 1, 100, false, &h->fall);
	conf_get_int(ctx, g, path, "jitter_pct", 0, 50, false, &h->jitter_pct);
	conf_get_u16(ctx, g, path, "port", 0, 65535, false, &h->port);
	config_setting_t *p = conf_get_string(ctx, g, path, "http_path", false, h->http_path,
						sizeof(h->http_path));
	if (p && h->http_path[0] != '/') {
		conf_path_join(full, sizeof(full), path, "http_path");
		conf_error(ctx, p, full, "\"%s\" must start with '/'", h->http_path);
	}
	conf_get_string(ctx, g, path, "http_host", false, h->http_host, sizeof(h->http_host));
	config_setting_t *expect = conf_member(ctx, g, path, "http_expect", CONFIG_TYPE_ARRAY, false);
	if (expect) {
		conf_path_join(full, sizeof(full), path, "http_expect");
		int n = config_setting_length(expect);
		if (n < 1 || n > CONF_HTTP_EXPECT_MAX)
			conf_error(ctx, expect, full, "needs 1 to %d status codes, has %d",
				     CONF_HTTP_EXPECT_MAX, n);
		h->http_expect_count = 0;
		for (int i = 0; i < n && i < CONF_HTTP_EXPECT_MAX; i++) {
			config_setting_t *e = config_setting_get_elem(expect, (unsigned)i);
			int t = config_setting_type(e);
			long long code = config_setting_get_int64(e);
			if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
				conf_error(ctx, e, full, "status codes must be integers");
			else if (code < 100 || code > 599)
				conf_error(ctx, e, full, "%lld is not an HTTP status (100..599)", code);
			else
				h->http_expect[h->http_expect_count++] = (__u16)code;
		}
	}
	conf_get_u16(ctx, g, path, "agent_port", 0, 65535, false, &h->agent_port);
	conf_get_int(ctx, g, path, "agent_interval_ms", 100, 3600000, false, &h->agent_interval_ms);
	conf_get_int(ctx, g, path, "agent_weight_step_pct", 1, 100, false,
		       &h->agent_weight_step_pct);
	conf_get_int(ctx, g, path, "agent_weight_interval_ms", 0, 3600000, false,
		       &h->agent_weight_interval_ms);
	if (h->timeout_ms > h->interval_ms)
		conf_error(ctx, g, path, "timeout_ms %u is longer than interval_ms %u",
			     h->timeout_ms, h->interval_ms);
}

/* ADDRESS:PORT, with an IPv6 address in brackets. Returns 0 or -EINVAL. */
static int conf_parse_listen(const char *text, struct conf_addr *addr, __u16 *port)
{
	char host[CONF_PATH_MAX];
	const char *colon = strrchr(text, ':');
	size_t host_len;
	char *end;

	if (!colon || colon == text || !colon[1])
		return -EINVAL;
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || errno || p == 0 || p > 65535 || !isdigit((unsigned char)colon[1]))
		return -EINVAL;
	host_len = (size_t)(colon - text);
	memcpy(host, text, host_len);
	host[host_len] = '\0';
	if (host[0] == '[') {
		if (host_len < 3 || host[host_len - 1] != ']')
			return -EINVAL;
		memmove(host, host + 1, host_len - 2);
		host[host_len - 2] = '\0';
	} else if (strchr(host, ':')) {
		return -EINVAL; /* an IPv6 address needs its brackets */
	}
	if (conf_parse_addr(host, addr) < 0)
		return -EINVAL;
	*port = (__u16)p;
	return 0;
}

/* A group name that must exist on this machine: its id goes in out. */
static void conf_get_group(struct conf_ctx *ctx, const config_setting_t *group, const char *path,
			   const char *key, struct conf_group *out)
{
	char full[CONF_PATH_MAX];
	config_setting_t *s =
		conf_get_string(ctx, group, path, key, false, out->name, sizeof(out->name));

	if (!s || !out->name[0])
		return;
	errno = 0;
	const struct group *gr = getgrnam(out->name);
	if (!gr) {
		conf_path_join(full, sizeof(full), path, key);
		conf_error(ctx, s, full, "group \"%s\" does not exist%s%s", out->name,
			   errno ? ": " : "", errno ? strerror(errno) : "");
		out->name[0] = '\0';
		return;
	}
	out->gid = (__u32)gr->gr_gid;
}

static void conf_load_global(struct conf_ctx *ctx, const config_setting_t *root,
			       struct conf_global *g)
{
	static const char *const keys[] = { "control_socket", "control_socket_group",
					    "readonly_socket", "readonly_socket_group",
					    "state_file", "metrics_listen", "log_level", NULL };
	static const char *const levels[] = { "error", "warning", "info", "debug", NULL };
	int level = CONF_LOG_INFO;

	snprintf(g->control_socket, sizeof(g->control_socket), "/run/fulcrum/lbd.sock");
	snprintf(g->state_file, sizeof(g->state_file), "/var/lib/fulcrum/lbd.state");
	snprintf(g->metrics_listen, sizeof(g->metrics_listen), "127.0.0.1:9469");
	conf_parse_listen(g->metrics_listen, &g->metrics_addr, &g->metrics_port);
	g->log_level = CONF_LOG_INFO;

	config_setting_t *s = conf_member(ctx, root, "", "global", CONFIG_TYPE_GROUP, false);
	if (!s) {
		conf_readonly_socket_default(g->control_socket, g->readonly_socket,
					     sizeof(g->readonly_socket));
		return;
	}
	conf_check_keys(ctx, s, "global", keys);
	/* sun_path holds 108 bytes. */
	conf_get_string(ctx, s, "global", "control_socket", false, g->control_socket, 108);
	conf_get_group(ctx, s, "global", "control_socket_group", &g->control_socket_group);
	if (!conf_get_string(ctx, s, "global", "readonly_socket", false, g->readonly_socket, 108))
		conf_readonly_socket_default(g->control_socket, g->readonly_socket,
					     sizeof(g->readonly_socket));
	conf_get_group(ctx, s, "global", "readonly_socket_group", &g->readonly_socket_group);
	if (g->readonly_socket[0] && strcmp(g->readonly_socket, g->control_socket) == 0)
		conf_error(ctx, config_setting_get_member(s, "readonly_socket"),
			     "global.readonly_socket", "\"%s\" is also the control_socket",
			     g->readonly_socket);
	conf_get_string(ctx, s, "global", "state_file", false, g->state_file,
			  sizeof(g->state_file));
	config_setting_t *m = conf_get_string(ctx, s, "global", "metrics_listen", false,
						g->metrics_listen, sizeof(g->metrics_listen));
	if (m) {
		g->metrics_port = 0; /* "" turns the endpoint off */
		if (g->metrics_listen[0] &&
		    conf_parse_listen(g->metrics_listen, &g->metrics_addr, &g->metrics_port) < 0)
			conf_error(ctx, m, "global.metrics_listen",
				     "\"%s\" is not ADDRESS:PORT (e.g. 127.0.0.1:9469, [::1]:9469), "
				     "nor \"\" (no endpoint)",
				     g->metrics_listen);
	}
	conf_get_enum(ctx, s, "global", "log_level", levels, false, &level);
	g->log_level = (enum conf_log_level)level;
}

static void conf_load_announce(struct conf_ctx *ctx, const config_setting_t *root,
				 struct conf_announce *a)
{
	static const char *const keys[] = { "enabled", "device", "table", "route_protocol", NULL };
	const char *path = "announce";

	snprintf(a->device, sizeof(a->device), "fulcrum0");
	a->table = 4242;
	a->route_protocol = 4; /* RTPROT_STATIC: what routing daemons learn by default */
	config_setting_t *s = conf_member(ctx, root, "", "announce", CONFIG_TYPE_GROUP, false);
	if (!s)
		return;
	a->line = config_setting_source_line(s);
	/* A group written out means announcing, unless it says otherwise. */
	a->enabled = true;
	conf_check_keys(ctx, s, path, keys);
	config_setting_t *e = conf_member(ctx, s, path, "enabled", CONFIG_TYPE_BOOL, false);
	if (e)
		a->enabled = config_setting_get_bool(e);
	config_setting_t *dev = conf_get_string(ctx, s, path, "device", false, a->device,
						  sizeof(a->device));
	if (dev && (!a->device[0] || strpbrk(a->device, "/ \t:")))
		conf_error(ctx, dev, "announce.device",
			     "\"%s\" is not an interface name (1 to 15 characters without '/', "
			     "':' or spaces)",
			     a->device);
	config_setting_t *t = conf_member(ctx, s, path, "table", CONFIG_TYPE_INT, false);
	conf_get_int(ctx, s, path, "table", 1, 2147483647, false, &a->table);
	/* 253..255 are the kernel's default, main and local tables: routes
	 * there would steer the balancer's own traffic into the device. */
	if (t && a->table >= 253 && a->table <= 255)
		conf_error(ctx, t, "announce.table",
			     "%u is one of the kernel's own tables (253 default, 254 main, "
			     "255 local); use a table of its own",
			     a->table);
	/* 0-2 are "unspec", "redirect" and "kernel", which routing daemons
	 * do not learn (BIRD ignores kernel-made routes). */
	conf_get_int(ctx, s, path, "route_protocol", 3, 255, false, &a->route_protocol);
}

static void conf_load_prefix(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
			       struct conf_prefix *out)
{
	char text[CONF_PATH_MAX];
	const char *v = config_setting_get_string(s);
	char *slash;
	long len = -1;

	if (!v || strlen(v) >= sizeof(text)) {
		conf_error(ctx, s, path, "addresses must be strings \"ADDRESS/LENGTH\"");
		return;
	}
	snprintf(text, sizeof(text), "%s", v);
	slash = strchr(text, '/');
	if (slash) {
		*slash = '\0';
		char *end;
		len = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1)
			len = -1;
	}
	if (!slash || conf_parse_addr(text, &out->addr) != 0 || len < 0 ||
	    len > (out->addr.family == FLOW_FAMILY_IPV4 ? 32 : 128)) {
		conf_error(ctx, s, path, "\"%s\" is not ADDRESS/LENGTH (e.g. 10.0.0.2/24)", v);
		return;
	}
	out->length = (__u8)len;
}

static void conf_load_dpdk_port(struct conf_ctx *ctx, const config_setting_t *s,
				  const char *path, struct conf_dpdk_port *p)
{
	static const char *const keys[] = { "name", "device", "rx_queues", "rx_desc", "tx_desc",
					    "mtu", "addresses", NULL };
	char full[CONF_PATH_MAX];

	p->rx_queues = 1;
	p->rx_desc = 1024;
	p->tx_desc = 1024;
	p->mtu = 1500;
	conf_check_keys(ctx, s, path, keys);
	conf_get_name(ctx, s, path, p->name);
	/* The name is also the kernel interface of the port's exception path. */
	if (strlen(p->name) > CONF_PORT_NAME_MAX)
		conf_error(ctx, config_setting_get_member(s, "name"), path,
			   "name \"%s\" is longer than an interface name (%d characters)", p->name,
			   CONF_PORT_NAME_MAX);
	conf_get_string(ctx, s, path, "device", true, p->device, sizeof(p->device));
	conf_get_u16(ctx, s, path, "rx_queues", 1, 64, false, &p->rx_queues);
	conf_get_u16(ctx, s, path, "rx_desc", 64, 16384, false, &p->rx_desc);
	conf_get_u16(ctx, s, path, "tx_desc", 64, 16384, false, &p->tx_desc);
	conf_get_u16(ctx, s, path, "mtu", 576, 9600, false, &p->mtu);
	config_setting_t *a = conf_member(ctx, s, path, "addresses", CONFIG_TYPE_ARRAY, false);
	if (a) {
		conf_path_join(full, sizeof(full), path, "addresses");
		int n = config_setting_length(a);
		if (n > CONF_PORT_ADDRS_MAX)
			conf_error(ctx, a, full, "at most %d addresses, has %d",
				     CONF_PORT_ADDRS_MAX, n);
		for (int i = 0; i < n && i < CONF_PORT_ADDRS_MAX; i++)
			conf_load_prefix(ctx, config_setting_get_elem(a, (unsigned)i), full,
					   &p->addresses[p->address_count++]);
	}
}

/*
 * dataplane.dpdk.flow_state_file: "" (off) or an absolute path to a file,
 * with room for the ".refused" lb-dpdk appends to a file it will not use,
 * and not the control socket's.
 */
static void conf_load_flow_state_file(struct conf_ctx *ctx, const config_setting_t *s,
				      const char *path, struct conf_dpdk *d)
{
	const size_t suffix = sizeof(".refused") - 1;
	config_setting_t *f = conf_get_string(ctx, s, path, "flow_state_file", false,
					      d->flow_state_file, sizeof(d->flow_state_file) - suffix);
	const char *v = d->flow_state_file;
	size_t len = strlen(v);

	if (!f || len == 0)
		return;
	if (v[0] != '/')
		conf_error(ctx, f, "dataplane.dpdk.flow_state_file",
			   "\"%s\" is not an absolute path (or \"\" to turn it off)", v);
	else if (v[len - 1] == '/')
		conf_error(ctx, f, "dataplane.dpdk.flow_state_file",
			   "\"%s\" names a directory, not a file", v);
	else if (strcmp(v, d->control_socket) == 0)
		conf_error(ctx, f, "dataplane.dpdk.flow_state_file",
			   "\"%s\" is also the control_socket", v);
}

static void conf_load_dpdk(struct conf_ctx *ctx, const config_setting_t *dp,
			     struct conf_dpdk *d)
{
	static const char *const keys[] = { "eal_args", "worker_lcores", "mbufs", "mbuf_cache",
					    "control_socket", "idle_sleep_us", "ports",
					    "flow_state_file", NULL };
	const char *path = "dataplane.dpdk";

	d->worker_lcores[0] = 1;
	d->worker_lcore_count = 1;
	d->mbufs = 16383;
	d->mbuf_cache = 256;
	snprintf(d->control_socket, sizeof(d->control_socket), "/run/fulcrum/lb-dpdk.sock");
	/* /run: kept across a service restart (the units preserve the
	 * directory), gone after a reboot, when no flow survives anyway. */
	snprintf(d->flow_state_file, sizeof(d->flow_state_file), "/run/fulcrum/lb-dpdk.flows");

	config_setting_t *s = conf_member(ctx, dp, "dataplane", "dpdk", CONFIG_TYPE_GROUP, false);
	if (!s)
		return;
	d->present = true;
	conf_check_keys(ctx, s, path, keys);

	config_setting_t *eal = conf_member(ctx, s, path, "eal_args", CONFIG_TYPE_ARRAY, false);
	for (int i = 0; eal && i < config_setting_length(eal); i++) {
		config_setting_t *e = config_setting_get_elem(eal, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			conf_error(ctx, e, "dataplane.dpdk.eal_args", "arguments must be strings");
		} else if (d->eal_arg_count >= CONF_EAL_ARGS_MAX) {
			conf_error(ctx, e, "dataplane.dpdk.eal_args", "more than %d arguments",
				     CONF_EAL_ARGS_MAX);
			break;
		} else {
			d->eal_args[d->eal_arg_count] = strdup(config_setting_get_string(e));
			if (d->eal_args[d->eal_arg_count])
				d->eal_arg_count++;
		}
	}
	config_setting_t *lc = conf_member(ctx, s, path, "worker_lcores", CONFIG_TYPE_ARRAY, false);
	if (lc) {
		int n = config_setting_length(lc);
		if (n < 1 || n > CONF_LCORES_MAX)
			conf_error(ctx, lc, "dataplane.dpdk.worker_lcores",
				     "needs 1 to %d lcores, has %d", CONF_LCORES_MAX, n);
		d->worker_lcore_count = 0;
		for (int i = 0; i < n && i < CONF_LCORES_MAX; i++) {
			config_setting_t *e = config_setting_get_elem(lc, (unsigned)i);
			long long id = config_setting_get_int64(e);
			int t = config_setting_type(e);
			if ((t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) || id < 0 || id > 1023)
				conf_error(ctx, e, "dataplane.dpdk.worker_lcores",
					     "lcore ids are integers 0..1023");
			else
				d->worker_lcores[d->worker_lcore_count++] = (__u16)id;
		}
	}
	conf_get_int(ctx, s, path, "mbufs", 1023, 16777215, false, &d->mbufs);
	conf_get_int(ctx, s, path, "mbuf_cache", 0, 512, false, &d->mbuf_cache);
	conf_get_string(ctx, s, path, "control_socket", false, d->control_socket, 108);
	conf_get_int(ctx, s, path, "idle_sleep_us", 0, 10000, false, &d->idle_sleep_us);
	conf_load_flow_state_file(ctx, s, path, d);

	config_setting_t *ports = conf_member(ctx, s, path, "ports", CONFIG_TYPE_LIST, true);
	if (!ports)
		return;
	int n = config_setting_length(ports);
	if (n < 1 || n > CONF_DPDK_PORTS_MAX)
		conf_error(ctx, ports, "dataplane.dpdk.ports", "needs 1 to %d ports, has %d",
			     CONF_DPDK_PORTS_MAX, n);
	for (int i = 0; i < n && i < CONF_DPDK_PORTS_MAX; i++) {
		config_setting_t *p = config_setting_get_elem(ports, (unsigned)i);
		char ppath[CONF_PATH_MAX];
		snprintf(ppath, sizeof(ppath), "dataplane.dpdk.ports[%d]", i);
		if (config_setting_type(p) != CONFIG_TYPE_GROUP) {
			conf_error(ctx, p, ppath, "must be a group { }");
			continue;
		}
		conf_load_dpdk_port(ctx, p, ppath, &d->ports[d->port_count]);
		for (__u32 j = 0; j < d->port_count; j++) {
			if (strcmp(d->ports[j].name, d->ports[d->port_count].name) == 0)
				conf_error(ctx, p, ppath, "port name \"%s\" is used twice",
					     d->ports[j].name);
		}
		d->port_count++;
	}
}

static void conf_load_xdp(struct conf_ctx *ctx, const config_setting_t *dp,
			    struct conf_xdp *x)
{
	static const char *const keys[] = { "interfaces", "attach_mode", "pin_path", "members_max",
					    NULL };
	static const char *const modes[] = { "native", "generic", NULL };
	const char *path = "dataplane.xdp";
	int mode = 0;

	snprintf(x->pin_path, sizeof(x->pin_path), "/sys/fs/bpf/fulcrum");
	x->members_max = 65536;
	config_setting_t *s = conf_member(ctx, dp, "dataplane", "xdp", CONFIG_TYPE_GROUP, false);
	if (!s)
		return;
	x->present = true;
	conf_check_keys(ctx, s, path, keys);
	config_setting_t *ifs = conf_member(ctx, s, path, "interfaces", CONFIG_TYPE_ARRAY, true);
	if (ifs) {
		int n = config_setting_length(ifs);
		if (n < 1 || n > CONF_XDP_IFACES_MAX)
			conf_error(ctx, ifs, "dataplane.xdp.interfaces",
				     "needs 1 to %d interfaces, has %d", CONF_XDP_IFACES_MAX, n);
		for (int i = 0; i < n && i < CONF_XDP_IFACES_MAX; i++) {
			config_setting_t *e = config_setting_get_elem(ifs, (unsigned)i);
			const char *name = config_setting_get_string(e);
			if (!name || !*name || strlen(name) >= sizeof(x->interfaces[0]) ||
			    strpbrk(name, "/ \t"))
				conf_error(ctx, e, "dataplane.xdp.interfaces",
					     "interface names are strings of 1 to 15 characters "
					     "without '/' or spaces");
			else
				snprintf(x->interfaces[x->interface_count++],
					 sizeof(x->interfaces[0]), "%s", name);
		}
	}
	conf_get_enum(ctx, s, path, "attach_mode", modes, false, &mode);
	x->generic = mode == 1;
	conf_get_string(ctx, s, path, "pin_path", false, x->pin_path, sizeof(x->pin_path));
	conf_get_int(ctx, s, path, "members_max", 64, 262144, false, &x->members_max);
}

static void conf_load_dataplane(struct conf_ctx *ctx, const config_setting_t *root,
				  struct conf_dataplane *d)
{
	static const char *const keys[] = { "mode", "encap", "gue_port", "encap_source_v4",
					    "encap_source_v6", "flow_table_size", "new_flow_table_size",
					    "tcp_idle_timeout_s",
					    "udp_idle_timeout_s", "gateway_mac", "dpdk", "xdp", NULL };
	static const char *const modes[] = { "auto", "dpdk", "xdp", NULL };
	static const char *const encaps[] = { "", "ipip", "gue", NULL };
	const char *path = "dataplane";
	int mode = CONF_MODE_AUTO, encap = PKT_ENCAP_IPIP;

	d->mode = CONF_MODE_AUTO;
	d->encap = PKT_ENCAP_IPIP;
	d->gue_port = PKT_GUE_PORT_DEFAULT;
	d->flow_table_size = 1048576;
	d->tcp_idle_timeout_s = 300;
	d->udp_idle_timeout_s = 30;

	config_setting_t *s = conf_member(ctx, root, "", "dataplane", CONFIG_TYPE_GROUP, true);
	if (!s)
		return;
	conf_check_keys(ctx, s, path, keys);
	bool mode_valid = conf_get_enum(ctx, s, path, "mode", modes, false, &mode);
	d->mode = (enum conf_mode)mode;
	conf_get_enum(ctx, s, path, "encap", encaps, false, &encap);
	d->encap = encap ? (enum pkt_encap_type)encap : PKT_ENCAP_IPIP;
	conf_get_u16(ctx, s, path, "gue_port", 1, 65535, false, &d->gue_port);
	config_setting_t *v4 = conf_get_addr(ctx, s, path, "encap_source_v4", false,
					       &d->encap_source_v4);
	if (v4 && d->encap_source_v4.family != FLOW_FAMILY_IPV4) {
		conf_error(ctx, v4, "dataplane.encap_source_v4", "must be an IPv4 address");
		memset(&d->encap_source_v4, 0, sizeof(d->encap_source_v4));
	}
	config_setting_t *v6 = conf_get_addr(ctx, s, path, "encap_source_v6", false,
					       &d->encap_source_v6);
	if (v6 && d->encap_source_v6.family != FLOW_FAMILY_IPV6) {
		conf_error(ctx, v6, "dataplane.encap_source_v6", "must be an IPv6 address");
		memset(&d->encap_source_v6, 0, sizeof(d->encap_source_v6));
	}
	conf_get_int(ctx, s, path, "flow_table_size", 1024, 1u << 28, false, &d->flow_table_size);
	conf_get_int(ctx, s, path, "new_flow_table_size", 1024, 1u << 28, false,
		     &d->new_flow_table_size);
	conf_get_int(ctx, s, path, "tcp_idle_timeout_s", 1, 86400, false, &d->tcp_idle_timeout_s);
	conf_get_int(ctx, s, path, "udp_idle_timeout_s", 1, 86400, false, &d->udp_idle_timeout_s);
	char mac[CONF_NAME_MAX];
	config_setting_t *m = conf_get_string(ctx, s, path, "gateway_mac", false, mac, sizeof(mac));
	if (m) {
		unsigned int b[6];
		char tail;
		if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
			   &b[5], &tail) != 6 || strlen(mac) != 17) {
			conf_error(ctx, m, "dataplane.gateway_mac",
				     "\"%s\" is not a MAC address like 02:00:5e:10:00:01", mac);
		} else {
			d->has_gateway_mac = true;
			for (int i = 0; i < 6; i++)
				d->gateway_mac[i] = (__u8)b[i];
		}
	}
	conf_load_dpdk(ctx, s, &d->dpdk);
	conf_load_xdp(ctx, s, &d->xdp);
	if (mode_valid && d->mode != CONF_MODE_XDP && !d->dpdk.present)
		conf_error(ctx, s, path, "mode \"%s\" needs a dpdk { } group", modes[d->mode]);
	if (mode_valid && d->mode != CONF_MODE_DPDK && !d->xdp.present)
		conf_error(ctx, s, path, "mode \"%s\" needs an xdp { } group", modes[d->mode]);
}

static void conf_load_backend(struct conf_ctx *ctx, const config_setting_t *s,
				const char *path, const struct conf_vip *vip,
				struct conf_backend *b)
{
	static const char *const keys[] = { "name", "address", "port", "weight", "state", NULL };
	static const char *const states[] = { "ready", "drain", "maint", NULL };
	int state = CONF_ADMIN_READY;

	b->line = config_setting_source_line(s);
	b->port = vip->port;
	b->weight = 1;
	conf_check_keys(ctx, s, path, keys);
	conf_get_name(ctx, s, path, b->name);
	conf_get_addr(ctx, s, path, "address", true, &b->addr);
	conf_get_u16(ctx, s, path, "port", 1, 65535, false, &b->port);
	conf_get_int(ctx, s, path, "weight", 0, CONF_WEIGHT_MAX, false, &b->weight);
	conf_get_enum(ctx, s, path, "state", states, false, &state);
	b->state = (enum conf_admin_state)state;
}

static void conf_load_vip(struct conf_ctx *ctx, const config_setting_t *s, const char *path,
			    const struct conf_health *defaults, struct conf_vip *v)
{
	static const char *const keys[] = { "name", "protocol", "address", "port", "table_size",
					    "min_up", "health", "backends", NULL };
	static const char *const protocols[] = { "tcp", "udp", NULL };
	int proto = -1;
	char full[CONF_PATH_MAX];

	v->line = config_setting_source_line(s);
	v->table_size = MAGLEV_TABLE_SIZE_DEFAULT;
	v->min_up = 1;
	v->health = *defaults;
	conf_check_keys(ctx, s, path, keys);
	conf_get_name(ctx, s, path, v->name);
	conf_get_enum(ctx, s, path, "protocol", protocols, true, &proto);
	v->proto = proto == 1 ? PKT_PROTO_UDP : PKT_PROTO_TCP;
	conf_get_addr(ctx, s, path, "address", true, &v->addr);
	conf_get_u16(ctx, s, path, "port", 1, 65535, true, &v->port);
	config_setting_t *ts = conf_member(ctx, s, path, "table_size", CONFIG_TYPE_INT, false);
	conf_get_int(ctx, s, path, "table_size", MAGLEV_TABLE_SIZE_MIN, MAGLEV_TABLE_SIZE_MAX,
		       false, &v->table_size);
	if (ts && !maglev_table_size_valid(v->table_size)) {
		conf_path_join(full, sizeof(full), path, "table_size");
		conf_error(ctx, ts, full, "%u is not a prime (try 65537 or 655373)", v->table_size);
	}
	conf_get_int(ctx, s, path, "min_up", 0, MAGLEV_BACKENDS_MAX, false, &v->min_up);
	config_setting_t *h = conf_member(ctx, s, path, "health", CONFIG_TYPE_GROUP, false);
	if (h) {
		conf_path_join(full, sizeof(full), path, "health");
		conf_load_health(ctx, h, full, &v->health);
	}

	config_setting_t *list = conf_member(ctx, s, path, "backends", CONFIG_TYPE_LIST, false);
	if (!list)
		return;
	int n = config_setting_length(list);
	if ((unsigned)n > MAGLEV_BACKENDS_MAX) {
		conf_path_join(full, sizeof(full), path, "backends");
		conf_error(ctx, list, full, "%d backends, at most %u", n, MAGLEV_BACKENDS_MAX);
		return;
	}
	v->backends = calloc((size_t)n + 1, sizeof(*v->backends));
	if (!v->backends) {
		conf_error(ctx, list, path, "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		config_setting_t *b = config_setting_get_elem(list, (unsigned)i);
		struct conf_backend *be = &v->backends[v->backend_count];
		char bpath[CONF_PATH_MAX];

		snprintf(bpath, sizeof(bpath), "%s.backends[%d]", path, i);
		if (config_setting_type(b) != CONFIG_TYPE_GROUP) {
			conf_error(ctx, b, bpath, "must be a group { }");
			continue;
		}
		conf_load_backend(ctx, b, bpath, v, be);
		for (__u32 j = 0; j < v->backend_count; j++) {
			const struct conf_backend *o = &v->backends[j];
			char addr[64];
			if (*be->name && strcmp(o->name, be->name) == 0)
				conf_error(ctx, b, bpath, "name \"%s\" already used at line %d",
					     be->name, o->line);
			if (be->addr.family && conf_addr_equal(&o->addr, &be->addr) &&
			    o->port == be->port)
				conf_error(ctx, b, bpath, "%s port %u is already backend \"%s\" (line %d)",
					     conf_fmt_addr(&be->addr, addr, sizeof(addr)), be->port,
					     o->name, o->line);
		}
		v->backend_count++;
	}
	if (v->backend_count >= v->table_size && maglev_table_size_valid(v->table_size)) {
		conf_path_join(full, sizeof(full), path, "table_size");
		conf_error(ctx, s, full, "%u slots cannot hold %u backends; use at least 100 slots "
			     "per backend", v->table_size, v->backend_count);
	}
}

/* A backend of a family with no outer source address cannot be reached. */
static void conf_check_encap_sources(struct conf_ctx *ctx, const config_setting_t *list,
				       struct conf *cfg)
{
	for (__u32 i = 0; i < cfg->vip_count; i++) {
		const struct conf_vip *v = &cfg->vips[i];
		const config_setting_t *vs = config_setting_get_elem(list, i);
		const config_setting_t *bl = config_setting_get_member(vs, "backends");

		for (__u32 j = 0; j < v->backend_count; j++) {
			const struct conf_backend *b = &v->backends[j];
			const struct conf_addr *src = b->addr.family == FLOW_FAMILY_IPV4
								? &cfg->dataplane.encap_source_v4
								: &cfg->dataplane.encap_source_v6;
			char path[CONF_PATH_MAX], addr[64];

			if (!b->addr.family || src->family)
				continue;
			snprintf(path, sizeof(path), "vips[%u].backends[%u].address", i, j);
			conf_error(ctx, bl ? config_setting_get_elem(bl, j) : vs, path,
				     "%s is IPv%d but dataplane.encap_source_v%d is not set: the "
				     "tunnel to it has no source address",
				     conf_fmt_addr(&b->addr, addr, sizeof(addr)), b->addr.family,
				     b->addr.family);
		}
	}
}

static void conf_load_vips(struct conf_ctx *ctx, const config_setting_t *root,
			     struct conf *cfg)
{
	config_setting_t *list = conf_member(ctx, root, "", "vips", CONFIG_TYPE_LIST, false);

	if (!list)
		return;
	int n = config_setting_length(list);
	cfg->vips = calloc((size_t)n + 1, sizeof(*cfg->vips));
	if (!cfg->vips) {
		conf_error(ctx, list, "vips", "out of memory");
		return;
	}
	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		struct conf_vip *v = &cfg->vips[cfg->vip_count];
		char path[CONF_PATH_MAX], addr[64];

		snprintf(path, sizeof(path), "vips[%d]", i);
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			conf_error(ctx, s, path, "must be a group { }");
			continue;
		}
		conf_load_vip(ctx, s, path, &cfg->health_defaults, v);
		cfg->vip_count++;
		for (__u32 j = 0; j + 1 < cfg->vip_count; j++) {
			const struct conf_vip *o = &cfg->vips[j];
			if (*v->name && strcmp(o->name, v->name) == 0)
				conf_error(ctx, s, path, "name \"%s\" already used at line %d",
					     v->name, o->line);
			if (v->addr.family && conf_addr_equal(&o->addr, &v->addr) &&
			    o->port == v->port && o->proto == v->proto)
				conf_error(ctx, s, path, "%s %s port %u is already VIP \"%s\" (line %d)",
					     v->proto == PKT_PROTO_TCP ? "tcp" : "udp",
					     conf_fmt_addr(&v->addr, addr, sizeof(addr)), v->port,
					     o->name, o->line);
		}
	}
	if (cfg->vip_count == (__u32)n)
		conf_check_encap_sources(ctx, list, cfg);
}

__u32 conf_backend_count(const struct conf *cfg)
{
	__u32 n = 0;

	for (__u32 i = 0; i < cfg->vip_count; i++)
		n += cfg->vips[i].backend_count;
	return n;
}

void conf_destroy(struct conf *cfg)
{
	if (!cfg)
		return;
	for (__u32 i = 0; i < cfg->vip_count; i++)
		free(cfg->vips[i].backends);
	free(cfg->vips);
	for (__u32 i = 0; i < cfg->dataplane.dpdk.eal_arg_count; i++)
		free(cfg->dataplane.dpdk.eal_args[i]);
	free(cfg);
}

/* conf_load() of the file at path, or with text of conf_load_string(). */
static struct conf *conf_load_from(const char *path, const char *text,
				   struct conf_errors *errors)
{
	static const char *const top_keys[] = { "global", "dataplane", "announce",
						"health_defaults", "vips", NULL };
	struct conf_ctx ctx = { path, errors };
	struct conf *cfg;
	config_t lc;

	memset(errors, 0, sizeof(*errors));
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(cfg->source, sizeof(cfg->source), "%s", path);
	config_init(&lc);
	if (!(text ? config_read_string(&lc, text) : config_read_file(&lc, path))) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			snprintf(errors->messages[errors->count++], CONF_ERROR_LEN,
				 "%s: cannot read: %s", path, strerror(errno ? errno : ENOENT));
		else
			snprintf(errors->messages[errors->count++], CONF_ERROR_LEN,
				 "%s:%d: syntax: %s",
				 config_error_file(&lc) ? config_error_file(&lc) : path,
				 config_error_line(&lc), config_error_text(&lc));
		goto fail;
	}

	config_setting_t *root = config_root_setting(&lc);
	conf_check_keys(&ctx, root, "", top_keys);
	conf_load_global(&ctx, root, &cfg->global);
	conf_load_dataplane(&ctx, root, &cfg->dataplane);
	conf_load_announce(&ctx, root, &cfg->announce);
	conf_health_set_defaults(&cfg->health_defaults);
	config_setting_t *hd = conf_member(&ctx, root, "", "health_defaults", CONFIG_TYPE_GROUP,
					     false);
	if (hd)
		conf_load_health(&ctx, hd, "health_defaults", &cfg->health_defaults);
	conf_load_vips(&ctx, root, cfg);
	if (errors->count)
		goto fail;
	config_destroy(&lc);
	return cfg;

fail:
	config_destroy(&lc);
	conf_destroy(cfg);
	errno = EINVAL;
	return NULL;
}

struct conf *conf_load(const char *path, struct conf_errors *errors)
{
	return conf_load_from(path, NULL, errors);
}

struct conf *conf_load_string(const char *text, const char *name, struct conf_errors *errors)
{
	return conf_load_from(name, text, errors);
}

bool conf_dataplane_restart_equal(const struct conf_dataplane *a, const struct conf_dataplane *b)
{
	const struct conf_dpdk *x = &a->dpdk, *y = &b->dpdk;

	if (a->mode != b->mode || a->flow_table_size != b->flow_table_size ||
	    conf_new_flow_table_size(a) != conf_new_flow_table_size(b) ||
	    a->has_gateway_mac != b->has_gateway_mac ||
	    memcmp(a->gateway_mac, b->gateway_mac, sizeof(a->gateway_mac)) != 0)
		return false;
	/* Field by field: eal_args are pointers to strings. */
	if (x->present != y->present || x->eal_arg_count != y->eal_arg_count ||
	    x->worker_lcore_count != y->worker_lcore_count || x->mbufs != y->mbufs ||
	    x->mbuf_cache != y->mbuf_cache || x->idle_sleep_us != y->idle_sleep_us ||
	    strcmp(x->control_socket, y->control_socket) != 0 || x->port_count != y->port_count ||
	    strcmp(x->flow_state_file, y->flow_state_file) != 0 ||
	    memcmp(x->worker_lcores, y->worker_lcores,
		   x->worker_lcore_count * sizeof(x->worker_lcores[0])) != 0 ||
	    memcmp(x->ports, y->ports, x->port_count * sizeof(x->ports[0])) != 0)
		return false;
	for (__u32 i = 0; i < x->eal_arg_count; i++)
		if (strcmp(x->eal_args[i], y->eal_args[i]) != 0)
			return false;
	const struct conf_xdp *p = &a->xdp, *q = &b->xdp;
	if (p->present != q->present || p->interface_count != q->interface_count ||
	    p->generic != q->generic || p->members_max != q->members_max ||
	    strcmp(p->pin_path, q->pin_path) != 0)
		return false;
	for (__u32 i = 0; i < p->interface_count; i++)
		if (strcmp(p->interfaces[i], q->interfaces[i]) != 0)
			return false;
	return true;
}
