/* SPDX-License-Identifier: BSD-3-Clause */
/* lbd's state file (controlplane/state.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controlplane/state.h"


static void state_set_admin(json_t *o, const struct model_backend *b, enum model_source s)
{
	if (b->admin[s] != CONF_ADMIN_READY || (b->added && s == MODEL_BY_OPERATOR))
		json_object_set_new(o, model_source_name(s), json_string(model_admin_name(b->admin[s])));
}

static json_t *state_dump_backend(const struct model_backend *b)
{
	char addr[64];

	if (!b->added && !b->deleted && !b->weight_set && b->admin[MODEL_BY_OPERATOR] == CONF_ADMIN_READY &&
	    b->admin[MODEL_BY_SCALER] == CONF_ADMIN_READY)
		return NULL;
	json_t *o = json_pack("{s:s}", "name", b->name);
	if (b->deleted) {
		json_object_set_new(o, "deleted", json_true());
		return o;
	}
	if (b->added) {
		json_object_set_new(o, "added", json_true());
		json_object_set_new(o, "address",
				    json_string(conf_fmt_addr(&b->addr, addr, sizeof(addr))));
		json_object_set_new(o, "port", json_integer(b->port));
	}
	if (b->weight_set || b->added)
		json_object_set_new(o, "weight", json_integer(b->weight));
	state_set_admin(o, b, MODEL_BY_OPERATOR);
	state_set_admin(o, b, MODEL_BY_SCALER);
	return o;
}

json_t *state_dump(const struct model *m)
{
	json_t *vips = json_array();
	char addr[64];

	for (__u32 i = 0; i < m->vip_count; i++) {
		const struct model_vip *v = m->vips[i];
		json_t *o = json_pack("{s:s}", "name", v->name);
		json_t *backends = json_array();

		if (v->deleted) {
			json_object_set_new(o, "deleted", json_true());
			json_array_append_new(vips, o);
			json_decref(backends);
			continue;
		}
		if (v->added) {
			json_object_set_new(o, "added", json_true());
			json_object_set_new(o, "protocol",
					    json_string(v->proto == PKT_PROTO_TCP ? "tcp" : "udp"));
			json_object_set_new(o, "address",
					    json_string(conf_fmt_addr(&v->addr, addr, sizeof(addr))));
			json_object_set_new(o, "port", json_integer(v->port));
			json_object_set_new(o, "health",
					    json_string(conf_health_type_names[v->health.type]));
		}
		if (v->added || v->table_size_set)
			json_object_set_new(o, "table_size", json_integer(v->table_size));
		if (v->added || v->min_up_set)
			json_object_set_new(o, "min_up", json_integer(v->min_up));
		for (__u32 k = 0; k < v->backend_count; k++) {
			json_t *b = state_dump_backend(v->backends[k]);
			if (b)
				json_array_append_new(backends, b);
		}
		if (json_array_size(backends))
			json_object_set(o, "backends", backends);
		json_decref(backends);
		if (json_object_size(o) > 1)
			json_array_append_new(vips, o);
		else
			json_decref(o);
	}
	return json_pack("{s:i,s:o}", "version", STATE_VERSION, "vips", vips);
}

int state_save(const struct model *m, const char *path, char *err, size_t err_size)
{
	char tmp[CONF_PATH_MAX + 16], dir[CONF_PATH_MAX];
	json_t *doc = state_dump(m);
	int fd = -1, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(dir, sizeof(dir), "%s", path);
	char *parent = dirname(dir);
	if (mkdir(parent, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, err_size, "%s: cannot create its directory: %s", path, strerror(errno));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_size, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (json_dumpfd(doc, fd, JSON_INDENT(1) | JSON_SORT_KEYS) < 0 || write(fd, "\n", 1) != 1 ||
	    fsync(fd) < 0) {
		rc = -(errno ? errno : EIO);
		snprintf(err, err_size, "%s: write: %s", tmp, strerror(-rc));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		snprintf(err, err_size, "rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	/* The rename is durable once the directory is. */
	int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	json_decref(doc);
	return rc;
}

/* Collects per-override failures without stopping. */
struct state_report {
	char *err;
	size_t size;
	__u32 failures;
};

static void state_fail(struct state_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void state_fail(struct state_report *r, const char *fmt, ...)
{
	size_t used = strnlen(r->err, r->size);
	va_list ap;

	r->failures++;
	if (r->failures > 4 || used + 4 >= r->size)
		return;
	if (used)
		used += (size_t)snprintf(r->err + used, r->size - used, "; ");
	va_start(ap, fmt);
	vsnprintf(r->err + used, r->size - used, fmt, ap);
	va_end(ap);
}

static int state_admin_of(json_t *o, const char *key, enum conf_admin_state *out)
{
	const char *text = json_string_value(json_object_get(o, key));

	if (!text)
		return -ENOENT;
	return model_parse_admin(text, out);
}

static void state_load_backend(struct model *m, struct model_vip *v, json_t *o,
			       struct state_report *r)
{
	const char *name = json_string_value(json_object_get(o, "name"));
	char why[256];
	enum conf_admin_state admin;

	if (!name) {
		state_fail(r, "vip %s: a backend without a name", v->name);
		return;
	}
	struct model_backend *b = model_backend_find(v, name);
	if (json_is_true(json_object_get(o, "deleted"))) {
		if (b)
			model_backend_del(v, name, NULL, 0);
		return;
	}
	if (json_is_true(json_object_get(o, "added"))) {
		struct conf_backend spec = { 0 };
		snprintf(spec.name, sizeof(spec.name), "%s", name);
		const char *addr = json_string_value(json_object_get(o, "address"));
		spec.port = (__u16)json_integer_value(json_object_get(o, "port"));
		spec.weight = (__u32)json_integer_value(json_object_get(o, "weight"));
		spec.state = CONF_ADMIN_READY;
		if (b) {
			state_fail(r, "vip %s: backend %s, added at run time, is now in the "
				      "configuration file, which wins", v->name, name);
			return;
		}
		if (!addr || conf_parse_addr(addr, &spec.addr) ||
		    model_backend_add(m, v, &spec, MODEL_BY_OPERATOR, why, sizeof(why))) {
			state_fail(r, "vip %s: backend %s: %s", v->name, name,
				   addr ? why : "no address");
			return;
		}
		b = model_backend_find(v, name);
	}
	if (!b) {
		state_fail(r, "vip %s: no backend %s any more", v->name, name);
		return;
	}
	json_t *w = json_object_get(o, "weight");
	if (json_is_integer(w) && !b->added &&
	    model_backend_set_weight(b, (__u32)json_integer_value(w), why, sizeof(why)))
		state_fail(r, "vip %s: backend %s: %s", v->name, name, why);
	if (state_admin_of(o, "operator", &admin) == 0)
		model_backend_set_admin(b, MODEL_BY_OPERATOR, admin);
	if (state_admin_of(o, "scaler", &admin) == 0)
		model_backend_set_admin(b, MODEL_BY_SCALER, admin);
}

static void state_load_vip(struct model *m, json_t *o, struct state_report *r)
{
	const char *name = json_string_value(json_object_get(o, "name"));
	char why[256];

	if (!name) {
		state_fail(r, "a vip without a name");
		return;
	}
	struct model_vip *v = model_vip_find(m, name);
	if (json_is_true(json_object_get(o, "deleted"))) {
		if (v)
			model_vip_del(m, name, NULL, 0);
		return;
	}
	if (json_is_true(json_object_get(o, "added"))) {
		struct conf_vip spec = { 0 };
		const char *proto = json_string_value(json_object_get(o, "protocol"));
		const char *addr = json_string_value(json_object_get(o, "address"));
		const char *health = json_string_value(json_object_get(o, "health"));

		if (v) {
			state_fail(r, "vip %s, added at run time, is now in the configuration "
				      "file, which wins", name);
			return;
		}
		snprintf(spec.name, sizeof(spec.name), "%s", name);
		spec.proto = proto && strcmp(proto, "udp") == 0 ? PKT_PROTO_UDP : PKT_PROTO_TCP;
		spec.port = (__u16)json_integer_value(json_object_get(o, "port"));
		spec.table_size = (__u32)json_integer_value(json_object_get(o, "table_size"));
		spec.min_up = (__u32)json_integer_value(json_object_get(o, "min_up"));
		spec.health = m->health_defaults;
		for (int t = 0; health && t < CONF_HEALTH_TYPES; t++)
			if (strcmp(health, conf_health_type_names[t]) == 0)
				spec.health.type = (enum conf_health_type)t;
		if (!addr || conf_parse_addr(addr, &spec.addr) ||
		    model_vip_add(m, &spec, why, sizeof(why))) {
			state_fail(r, "vip %s: %s", name, addr ? why : "no address");
			return;
		}
		v = model_vip_find(m, name);
	} else if (!v) {
		state_fail(r, "no vip %s in the configuration any more", name);
		return;
	}
	json_t *x = json_object_get(o, "min_up");
	if (json_is_integer(x) && !v->added)
		model_vip_set_min_up(v, (__u32)json_integer_value(x), NULL, 0);
	x = json_object_get(o, "table_size");
	if (json_is_integer(x) && !v->added &&
	    model_vip_set_table_size(v, (__u32)json_integer_value(x), why, sizeof(why)))
		state_fail(r, "vip %s: %s", name, why);
	json_t *backends = json_object_get(o, "backends");
	size_t i;
	json_t *b;
	json_array_foreach(backends, i, b)
		state_load_backend(m, v, b, r);
}

int state_load(struct model *m, const char *path, char *err, size_t err_size)
{
	json_error_t jerr;
	struct state_report r = { err, err_size, 0 };
	json_t *doc;

	*err = '\0';
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		snprintf(err, err_size, "%s: no such file", path);
		return -ENOENT;
	}
	doc = json_load_file(path, 0, &jerr);
	if (!doc) {
		snprintf(err, err_size, "%s:%d: %s", path, jerr.line, jerr.text);
		return -EINVAL;
	}
	if (json_integer_value(json_object_get(doc, "version")) != STATE_VERSION ||
	    !json_is_array(json_object_get(doc, "vips"))) {
		snprintf(err, err_size, "%s: not a version %d state file", path, STATE_VERSION);
		json_decref(doc);
		return -EINVAL;
	}
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(doc, "vips"), i, v) {
		if (json_is_object(v))
			state_load_vip(m, v, &r);
		else
			state_fail(&r, "vips[%zu] is not an object", i);
	}
	json_decref(doc);
	if (r.failures > 4) {
		size_t used = strnlen(err, err_size);
		snprintf(err + used, err_size - used, "; and %u more", r.failures - 4);
	}
	return r.failures ? -EINVAL : 0;
}
