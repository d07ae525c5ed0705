/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Building table generations (dataplane/gen.h) on lb-dpdk's main lcore:
 * the member-id registry, VIP tables from GEN_VIP messages, the VIP index
 * and member table the workers read.
 */
#define _GNU_SOURCE /* tdestroy */
#include <errno.h>
#include <search.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/gen.h"

/* One (VIP, backend) pair the registry has given an id. */
struct gen_reg_entry {
	struct chan_vip_key vip;
	__be32 addr[4];
	__be16 port;
	__u8 family;
	__u32 id;
	__u64 mark;           /* serial of the last build that referenced it */
	__u64 absent_since_s; /* 0 while in the last generation finished */
};

struct gen_registry {
	void *root;                   /* tsearch() tree of gen_reg_entry */
	struct gen_reg_entry **by_id; /* NULL for a free id */
	__u32 id_limit;               /* ids handed out so far: 0 .. id_limit-1 */
	__u32 by_id_capacity;
	__u32 *free_ids;
	__u32 free_count;
	__u32 allocated;
	__u64 serial;                 /* builds started */
	__u32 longest_timeout_s;      /* of any generation built: when ids may be reused */
};

struct gen_builder {
	struct gen_registry *reg;
	struct chan_gen_begin begin;
	const struct gen *in_service;
	struct gen_vip **vips;
	__u32 vip_count;
	__u64 serial;
};

__attribute__((format(printf, 3, 4))) static void gen_errorf(char *err, size_t err_size,
							      const char *fmt, ...)
{
	va_list ap;

	if (!err || !err_size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

static int gen_reg_entry_cmp(const void *pa, const void *pb)
{
	const struct gen_reg_entry *a = pa, *b = pb;
	int c = memcmp(&a->vip, &b->vip, sizeof(a->vip));

	if (c)
		return c;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	return memcmp(&a->port, &b->port, sizeof(a->port));
}

struct gen_registry *gen_registry_create(void)
{
	return calloc(1, sizeof(struct gen_registry));
}

static void gen_reg_entry_free(void *p)
{
	free(p);
}

void gen_registry_destroy(struct gen_registry *reg)
{
	if (!reg)
		return;
	tdestroy(reg->root, gen_reg_entry_free);
	free(reg->by_id);
	free(reg->free_ids);
	free(reg);
}

__u32 gen_registry_size(const struct gen_registry *reg)
{
	return reg->allocated;
}

/* The id of (vip, backend), allocating one for a new pair. NULL: ENOMEM. */
static struct gen_reg_entry *gen_registry_get(struct gen_registry *reg,
					      const struct chan_vip_key *vip,
					      const struct chan_backend *b)
{
	struct gen_reg_entry probe = { .vip = *vip, .port = b->port, .family = b->family };
	struct gen_reg_entry **found;

	memcpy(probe.addr, b->addr, sizeof(probe.addr));
	found = tfind(&probe, &reg->root, gen_reg_entry_cmp);
	if (found)
		return *found;

	struct gen_reg_entry *e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	*e = probe;
	if (reg->free_count) {
		e->id = reg->free_ids[--reg->free_count];
	} else {
		if (reg->id_limit == reg->by_id_capacity) {
			__u32 cap = reg->by_id_capacity ? reg->by_id_capacity * 2 : 256;
			struct gen_reg_entry **p = realloc(reg->by_id, cap * sizeof(*p));
			__u32 *f = realloc(reg->free_ids, cap * sizeof(*f));
			if (p)
				reg->by_id = p;
			if (f)
				reg->free_ids = f;
			if (!p || !f) {
				free(e);
				return NULL;
			}
			reg->by_id_capacity = cap;
		}
		e->id = reg->id_limit++;
	}
	if (!tsearch(e, &reg->root, gen_reg_entry_cmp)) {
		reg->free_ids[reg->free_count++] = e->id;
		free(e);
		return NULL;
	}
	reg->by_id[e->id] = e;
	reg->allocated++;
	return e;
}

static void gen_registry_release(struct gen_registry *reg, struct gen_reg_entry *e)
{
	tdelete(e, &reg->root, gen_reg_entry_cmp);
	reg->by_id[e->id] = NULL;
	reg->free_ids[reg->free_count++] = e->id;
	reg->allocated--;
	free(e);
}

/*
 * After a build: members the build referenced are present; others start (or
 * go on) being absent, and are forgotten once absent for longer than any
 * flow could stay idle — then no flow table entry can name their id live.
 */
static void gen_registry_sweep(struct gen_registry *reg, __u64 serial, __u64 now_s)
{
	for (__u32 id = 0; id < reg->id_limit; id++) {
		struct gen_reg_entry *e = reg->by_id[id];
		if (!e)
			continue;
		if (e->mark == serial)
			e->absent_since_s = 0;
		else if (e->absent_since_s == 0)
			e->absent_since_s = now_s ? now_s : 1;
		else if (now_s > e->absent_since_s + reg->longest_timeout_s + 1)
			gen_registry_release(reg, e);
	}
}

static void gen_vip_free(struct gen_vip *v)
{
	if (!v)
		return;
	free(v->ring);
	free(v->backends);
	free(v->member_ids);
	free(v);
}

struct gen_builder *gen_builder_create(struct gen_registry *reg, const struct chan_gen_begin *begin,
				       const struct gen *in_service)
{
	struct gen_builder *gb = calloc(1, sizeof(*gb));

	if (!gb)
		return NULL;
	gb->vips = calloc(begin->vip_count ? begin->vip_count : 1, sizeof(*gb->vips));
	if (!gb->vips) {
		free(gb);
		return NULL;
	}
	gb->reg = reg;
	gb->begin = *begin;
	gb->in_service = in_service;
	gb->serial = ++reg->serial;
	return gb;
}

void gen_builder_abort(struct gen_builder *gb)
{
	if (!gb)
		return;
	for (__u32 i = 0; i < gb->vip_count; i++)
		if (gb->vips[i]->refs == 0) /* built here; shared ones belong to in_service */
			gen_vip_free(gb->vips[i]);
	free(gb->vips);
	free(gb);
}

static struct gen_vip *gen_find_exact(const struct gen *g, const struct chan_vip_key *key)
{
	if (!g)
		return NULL;
	for (__u32 i = 0; i < g->vip_count; i++)
		if (chan_vip_key_equal(&g->vips[i]->key, key))
			return g->vips[i];
	return NULL;
}

static struct gen_vip *gen_vip_from_view(struct gen_registry *reg, const struct chan_vip_view *view,
					 __u64 serial)
{
	const struct chan_vip *cv = view->vip;
	struct gen_vip *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->key = cv->key;
	memcpy(v->name, cv->name, sizeof(v->name));
	v->table_size = cv->table_size;
	v->table_size_inverse = UINT64_MAX / cv->table_size + 1;
	v->backend_count = cv->backend_count;
	v->ring = malloc((size_t)cv->table_size * sizeof(*v->ring));
	v->backends = malloc((size_t)(cv->backend_count + 1) * sizeof(*v->backends));
	v->member_ids = malloc((size_t)(cv->backend_count + 1) * sizeof(*v->member_ids));
	if (!v->ring || !v->backends || !v->member_ids)
		goto fail;
	memcpy(v->backends, view->backends, (size_t)cv->backend_count * sizeof(*v->backends));
	for (__u32 i = 0; i < cv->backend_count; i++) {
		struct gen_reg_entry *e = gen_registry_get(reg, &cv->key, &view->backends[i]);
		if (!e)
			goto fail;
		e->mark = serial;
		v->member_ids[i] = e->id;
	}
	for (__u32 s = 0; s < cv->table_size; s++)
		v->ring[s] = view->ring[s] == FLOW_NO_BACKEND ? FLOW_NO_BACKEND
							      : v->member_ids[view->ring[s]];
	return v;
fail:
	gen_vip_free(v);
	return NULL;
}

int gen_builder_add_vip(struct gen_builder *gb, const struct chan_vip_view *view, char *err,
			size_t err_size)
{
	char key[CHAN_VIP_KEY_TEXT];
	struct gen_vip *v;

	chan_fmt_vip_key(&view->vip->key, key, sizeof(key));
	if (gb->vip_count == gb->begin.vip_count) {
		gen_errorf(err, err_size, "GEN_VIP %s: more VIPs than the %u GEN_BEGIN announced",
			   key, gb->begin.vip_count);
		return -E2BIG;
	}
	if (view->vip->flags & CHAN_VIP_KEEP) {
		v = gen_find_exact(gb->in_service, &view->vip->key);
		if (!v) {
			gen_errorf(err, err_size, "GEN_VIP %s: KEEP, but the VIP is not in service",
				   key);
			return -ENOENT;
		}
		for (__u32 i = 0; i < v->backend_count; i++)
			gb->reg->by_id[v->member_ids[i]]->mark = gb->serial;
	} else {
		v = gen_vip_from_view(gb->reg, view, gb->serial);
		if (!v) {
			gen_errorf(err, err_size, "GEN_VIP %s: out of memory", key);
			return -ENOMEM;
		}
	}
	gb->vips[gb->vip_count++] = v;
	return 0;
}

/* Inserts a VIP index slot; returns the existing slot of the same key, or NULL. */
static struct gen_vip_slot *gen_index_insert(struct gen *g, const struct chan_vip_key *key,
					     __be16 port, __u32 vip, __u32 fragment_only)
{
	__u32 i = gen_vip_index_hash(key->addr, port, key->proto) & g->index_mask;

	for (;; i = (i + 1) & g->index_mask) {
		struct gen_vip_slot *s = &g->index[i];
		if (s->family == 0) {
			memcpy(s->addr, key->addr, sizeof(s->addr));
			s->port = port;
			s->proto = key->proto;
			s->family = key->family;
			s->vip = vip;
			s->fragment_only = fragment_only;
			return NULL;
		}
		if (s->family == key->family && s->port == port && s->proto == key->proto &&
		    memcmp(s->addr, key->addr, sizeof(s->addr)) == 0)
			return s;
	}
}

static int gen_index_build(struct gen *g, char *err, size_t err_size)
{
	__u32 slots = 8;

	/* At most two slots per VIP (its own and a fragment slot), at most
	 * half full so that probes stay short. */
	while (slots < 4 * g->vip_count)
		slots <<= 1;
	g->index = calloc(slots, sizeof(*g->index));
	if (!g->index)
		return -ENOMEM;
	g->index_mask = slots - 1;
	for (__u32 i = 0; i < g->vip_count; i++) {
		const struct chan_vip_key *k = &g->vips[i]->key;
		if (gen_index_insert(g, k, k->port, i, 0)) {
			char text[CHAN_VIP_KEY_TEXT];
			gen_errorf(err, err_size, "GEN_VIP %s: listed twice",
				   chan_fmt_vip_key(k, text, sizeof(text)));
			return -EEXIST;
		}
	}
	/* Fragments carry no ports past the first: they go to the lowest-port
	 * VIP of their address and protocol (a real port-0 VIP wins). */
	for (__u32 i = 0; i < g->vip_count; i++) {
		const struct chan_vip_key *k = &g->vips[i]->key;
		struct gen_vip_slot *s = gen_index_insert(g, k, 0, i, 1);
		if (s && s->fragment_only &&
		    __builtin_bswap16(k->port) < __builtin_bswap16(g->vips[s->vip]->key.port))
			s->vip = i;
	}
	return 0;
}

static int gen_members_build(struct gen *g, const struct gen_registry *reg, gen_nexthop_fn nexthop,
			     void *ctx)
{
	g->member_count = reg->id_limit;
	g->members = calloc(g->member_count ? g->member_count : 1, sizeof(*g->members));
	if (!g->members)
		return -ENOMEM;
	for (__u32 vi = 0; vi < g->vip_count; vi++) {
		const struct gen_vip *v = g->vips[vi];
		for (__u32 i = 0; i < v->backend_count; i++) {
			const struct chan_backend *b = &v->backends[i];
			struct gen_member *m = &g->members[v->member_ids[i]];
			memcpy(m->addr, b->addr, sizeof(m->addr));
			m->family = b->family;
			m->state = b->state;
			m->nexthop = nexthop ? nexthop(ctx, b->family, b->addr) : 0;
			m->vip = vi;
			g->backend_count++;
		}
	}
	return 0;
}

struct gen *gen_builder_finish(struct gen_builder *gb, gen_nexthop_fn nexthop, void *ctx,
			       __u64 now_s, char *err, size_t err_size)
{
	struct gen *g = NULL;
	int rc = -ENOMEM;

	if (gb->vip_count != gb->begin.vip_count) {
		gen_errorf(err, err_size, "GEN_COMMIT: %u of the %u VIPs announced arrived",
			   gb->vip_count, gb->begin.vip_count);
		rc = -EINVAL;
		goto fail;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		goto fail;
	g->id = gb->begin.generation;
	g->params = gb->begin;
	g->vip_count = gb->vip_count;
	g->vips = gb->vips;
	rc = gen_index_build(g, err, err_size);
	if (rc == 0)
		rc = gen_members_build(g, gb->reg, nexthop, ctx);
	if (rc)
		goto fail;
	for (__u32 i = 0; i < g->vip_count; i++)
		g->vips[i]->refs++;
	if (gb->begin.tcp_idle_timeout_s > gb->reg->longest_timeout_s)
		gb->reg->longest_timeout_s = gb->begin.tcp_idle_timeout_s;
	if (gb->begin.udp_idle_timeout_s > gb->reg->longest_timeout_s)
		gb->reg->longest_timeout_s = gb->begin.udp_idle_timeout_s;
	gen_registry_sweep(gb->reg, gb->serial, now_s);
	free(gb);
	return g;
fail:
	if (rc == -ENOMEM)
		gen_errorf(err, err_size, "GEN_COMMIT: out of memory");
	if (g) {
		free(g->index);
		free(g->members);
		free(g);
	}
	gen_builder_abort(gb);
	errno = -rc;
	return NULL;
}

void gen_destroy(struct gen *g)
{
	if (!g)
		return;
	for (__u32 i = 0; i < g->vip_count; i++)
		if (--g->vips[i]->refs == 0)
			gen_vip_free(g->vips[i]);
	free(g->vips);
	free(g->index);
	free(g->members);
	free(g);
}
