/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Building table generations (dataplane/gen.h) on lb-dpdk's main lcore:
 * the member-id registry, VIP tables from GEN_VIP messages, the VIP index
 * and member table the workers read.
 */
#define _GNU_SOURCE /* tdestroy */
#include <errno.h>
#include <stddef.h>
#include <search.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/gen.h"

/*
 * Ids 0 .. limit-1 handed out so far, each naming an entry or free; freed
 * ids are handed out again (the most recently freed first) before new ones.
 */
struct gen_id_pool {
	void **by_id;    /* entry per id; NULL for a free id */
	__u32 *free_ids;
	__u32 free_count;
	__u32 limit;     /* ids handed out so far */
	__u32 capacity;  /* of by_id and free_ids */
	__u32 max;       /* limit never passes this */
	__u32 allocated;
};

/* One (VIP, backend) pair the registry has given an id. */
struct gen_reg_entry {
	struct chan_vip_key vip;
	__be32 addr[4];
	__be16 port;
	__u8 family;
	__u8 published;       /* in a finished generation already */
	__u32 id;
	__u64 mark;           /* serial of the last build that referenced it */
	__u64 absent_since_s; /* 0 while in the last generation finished */
};

/* A VIP the registry has given an id. */
struct gen_reg_vip {
	struct chan_vip_key key;
	__u32 id;
	__u8 published;
	__u64 mark;
};

struct gen_registry {
	void *root;                   /* tsearch() tree of gen_reg_entry */
	struct gen_id_pool members;   /* of gen_reg_entry */
	void *vip_root;               /* tsearch() tree of gen_reg_vip */
	struct gen_id_pool vips;      /* of gen_reg_vip */
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

/* Makes room for id `id` (below max), doubling from 256. Returns 0 or -ENOMEM. */
static int gen_id_pool_grow(struct gen_id_pool *p, __u32 id)
{
	__u32 cap = p->capacity ? p->capacity : 256;

	while (cap <= id)
		cap *= 2;
	if (cap > p->max)
		cap = p->max;
	void **b = realloc(p->by_id, cap * sizeof(*b));
	if (b)
		p->by_id = b;
	__u32 *f = realloc(p->free_ids, cap * sizeof(*f));
	if (f)
		p->free_ids = f;
	if (!b || !f)
		return -ENOMEM;
	p->capacity = cap;
	return 0;
}

/* Gives entry an id in *id. Returns 0, -ENOSPC (max ids in use) or -ENOMEM. */
static int gen_id_pool_take(struct gen_id_pool *p, void *entry, __u32 *id)
{
	if (p->free_count) {
		*id = p->free_ids[--p->free_count];
	} else {
		if (p->limit == p->max)
			return -ENOSPC;
		if (p->limit == p->capacity && gen_id_pool_grow(p, p->limit))
			return -ENOMEM;
		*id = p->limit++;
	}
	p->by_id[*id] = entry;
	p->allocated++;
	return 0;
}

static void gen_id_pool_put(struct gen_id_pool *p, __u32 id)
{
	p->by_id[id] = NULL;
	p->free_ids[p->free_count++] = id;
	p->allocated--;
}

static void gen_id_pool_fini(struct gen_id_pool *p)
{
	free(p->by_id);
	free(p->free_ids);
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

static int gen_reg_vip_cmp(const void *pa, const void *pb)
{
	const struct gen_reg_vip *a = pa, *b = pb;

	return memcmp(&a->key, &b->key, sizeof(a->key));
}

struct gen_registry *gen_registry_create(void)
{
	struct gen_registry *reg = calloc(1, sizeof(struct gen_registry));

	if (!reg)
		return NULL;
	reg->members.max = GEN_MEMBERS_MAX;
	reg->vips.max = GEN_VIPS_MAX;
	return reg;
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
	tdestroy(reg->vip_root, gen_reg_entry_free);
	gen_id_pool_fini(&reg->members);
	gen_id_pool_fini(&reg->vips);
	free(reg);
}

void gen_registry_limit_members(struct gen_registry *reg, __u32 max)
{
	reg->members.max = max < GEN_MEMBERS_MAX ? max : GEN_MEMBERS_MAX;
}

__u32 gen_registry_size(const struct gen_registry *reg)
{
	return reg->members.allocated;
}

__u32 gen_registry_vip_count(const struct gen_registry *reg)
{
	return reg->vips.allocated;
}

int gen_registry_member_key(const struct gen_registry *reg, __u32 id, struct chan_vip_key *vip,
			    struct chan_backend *b)
{
	const struct gen_reg_entry *e = id < reg->members.limit ? reg->members.by_id[id] : NULL;

	if (!e)
		return -ENOENT;
	*vip = e->vip;
	memset(b, 0, sizeof(*b));
	memcpy(b->addr, e->addr, sizeof(b->addr));
	b->port = e->port;
	b->family = e->family;
	return 0;
}

/*
 * The entry equal to probe in a registry tree, or a copy of probe added to
 * it with a fresh id from pool (stored at id_offset). NULL with errno
 * ENOMEM or ENOSPC. Members and VIPs are kept alike.
 */
static void *gen_registry_intern(struct gen_id_pool *pool, void **root,
				 int (*cmp)(const void *, const void *), const void *probe,
				 size_t size, size_t id_offset)
{
	void **found = tfind(probe, root, cmp);
	int rc;

	if (found)
		return *found;
	void *e = malloc(size);
	if (!e) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(e, probe, size);
	__u32 *id = (__u32 *)((char *)e + id_offset);
	rc = gen_id_pool_take(pool, e, id);
	if (rc == 0 && !tsearch(e, root, cmp)) {
		gen_id_pool_put(pool, *id);
		rc = -ENOMEM;
	}
	if (rc) {
		free(e);
		errno = -rc;
		return NULL;
	}
	return e;
}

/*
 * Gives entry the id `id`, which must be free: one below the limit on the
 * free list, or one above it (the ids between join the free list). For
 * registries rebuilt from ids that outlived their process. Returns 0,
 * -EEXIST (id in use), -ENOSPC (beyond max) or -ENOMEM.
 */
static int gen_id_pool_take_id(struct gen_id_pool *p, void *entry, __u32 id)
{
	if (id >= p->max)
		return -ENOSPC;
	if (id < p->limit) {
		__u32 i;
		if (p->by_id[id])
			return -EEXIST;
		for (i = 0; i < p->free_count && p->free_ids[i] != id; i++)
			;
		p->free_ids[i] = p->free_ids[--p->free_count];
	} else {
		if (id >= p->capacity && gen_id_pool_grow(p, id))
			return -ENOMEM;
		/* Highest first, so that the lowest free id is handed out next. */
		for (__u32 gap = id; gap-- > p->limit;) {
			p->by_id[gap] = NULL;
			p->free_ids[p->free_count++] = gap;
		}
		p->limit = id + 1;
	}
	p->by_id[id] = entry;
	p->allocated++;
	return 0;
}

/* Adds a copy of probe under a given id. Returns as gen_id_pool_take_id(). */
static int gen_registry_intern_id(struct gen_id_pool *pool, void **root,
				  int (*cmp)(const void *, const void *), const void *probe,
				  size_t size, size_t id_offset, __u32 id)
{
	if (tfind(probe, root, cmp))
		return -EEXIST;
	void *e = malloc(size);
	if (!e)
		return -ENOMEM;
	memcpy(e, probe, size);
	*(__u32 *)((char *)e + id_offset) = id;
	int rc = gen_id_pool_take_id(pool, e, id);
	if (rc == 0 && !tsearch(e, root, cmp)) {
		gen_id_pool_put(pool, id);
		rc = -ENOMEM;
	}
	if (rc)
		free(e);
	return rc;
}

int gen_registry_adopt_vip(struct gen_registry *reg, const struct chan_vip_key *key, __u32 id)
{
	struct gen_reg_vip probe = { .key = *key, .published = 1 };

	return gen_registry_intern_id(&reg->vips, &reg->vip_root, gen_reg_vip_cmp, &probe,
				      sizeof(probe), offsetof(struct gen_reg_vip, id), id);
}

int gen_registry_adopt_member(struct gen_registry *reg, const struct chan_vip_key *vip,
			      const struct chan_backend *b, __u32 id, __u32 timeout_s)
{
	struct gen_reg_entry probe = { .vip = *vip, .port = b->port, .family = b->family,
				       .published = 1 };

	memcpy(probe.addr, b->addr, sizeof(probe.addr));
	if (timeout_s > reg->longest_timeout_s)
		reg->longest_timeout_s = timeout_s;
	return gen_registry_intern_id(&reg->members, &reg->root, gen_reg_entry_cmp, &probe,
				      sizeof(probe), offsetof(struct gen_reg_entry, id), id);
}

/* The id of (vip, backend), allocating one for a new pair. NULL with errno
 * ENOMEM or ENOSPC. */
static struct gen_reg_entry *gen_registry_get(struct gen_registry *reg,
					      const struct chan_vip_key *vip,
					      const struct chan_backend *b)
{
	struct gen_reg_entry probe = { .vip = *vip, .port = b->port, .family = b->family };

	memcpy(probe.addr, b->addr, sizeof(probe.addr));
	return gen_registry_intern(&reg->members, &reg->root, gen_reg_entry_cmp, &probe, sizeof(probe),
				   offsetof(struct gen_reg_entry, id));
}

static void gen_registry_release(struct gen_registry *reg, struct gen_reg_entry *e)
{
	tdelete(e, &reg->root, gen_reg_entry_cmp);
	gen_id_pool_put(&reg->members, e->id);
	free(e);
}

/* The id of a VIP, allocating one for a new VIP. NULL with errno. */
static struct gen_reg_vip *gen_registry_vip_get(struct gen_registry *reg,
						const struct chan_vip_key *key)
{
	struct gen_reg_vip probe = { .key = *key };

	return gen_registry_intern(&reg->vips, &reg->vip_root, gen_reg_vip_cmp, &probe, sizeof(probe),
				   offsetof(struct gen_reg_vip, id));
}

static void gen_registry_vip_release(struct gen_registry *reg, struct gen_reg_vip *e)
{
	tdelete(e, &reg->vip_root, gen_reg_vip_cmp);
	gen_id_pool_put(&reg->vips, e->id);
	free(e);
}

/*
 * After a build: members the build referenced are present; others start (or
 * go on) being absent, and are forgotten once absent for longer than any
 * flow could stay idle — then no flow table entry can name their id live.
 * VIPs the build left out are forgotten at once: only generations name
 * VIP ids, and the generation just built replaces every earlier one.
 */
static void gen_registry_sweep(struct gen_registry *reg, __u64 serial, __u64 now_s)
{
	for (__u32 id = 0; id < reg->members.limit; id++) {
		struct gen_reg_entry *e = reg->members.by_id[id];
		if (!e)
			continue;
		if (e->mark == serial) {
			e->absent_since_s = 0;
			e->published = 1;
		} else if (e->absent_since_s == 0) {
			e->absent_since_s = now_s ? now_s : 1;
		} else if (now_s > e->absent_since_s + reg->longest_timeout_s + 1) {
			gen_registry_release(reg, e);
		}
	}
	for (__u32 id = 0; id < reg->vips.limit; id++) {
		struct gen_reg_vip *v = reg->vips.by_id[id];
		if (!v)
			continue;
		if (v->mark == serial)
			v->published = 1;
		else
			gen_registry_vip_release(reg, v);
	}
}

/*
 * After a build that failed: ids it gave out for the first time go back, so
 * refused generations cannot use up the id space, and every id a finished
 * generation brings in for the first time is in its fresh lists.
 */
static void gen_registry_unwind(struct gen_registry *reg, __u64 serial)
{
	for (__u32 id = 0; id < reg->members.limit; id++) {
		struct gen_reg_entry *e = reg->members.by_id[id];
		if (e && e->mark == serial && !e->published)
			gen_registry_release(reg, e);
	}
	for (__u32 id = 0; id < reg->vips.limit; id++) {
		struct gen_reg_vip *v = reg->vips.by_id[id];
		if (v && v->mark == serial && !v->published)
			gen_registry_vip_release(reg, v);
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

__u64 gen_builder_generation(const struct gen_builder *gb)
{
	return gb->begin.generation;
}

void gen_builder_abort(struct gen_builder *gb)
{
	if (!gb)
		return;
	for (__u32 i = 0; i < gb->vip_count; i++)
		if (gb->vips[i]->refs == 0) /* built here; shared ones belong to in_service */
			gen_vip_free(gb->vips[i]);
	gen_registry_unwind(gb->reg, gb->serial);
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

/* A VIP's tables from a GEN_VIP message, ids from the registry. Returns 0,
 * -ENOMEM or -ENOSPC. */
static int gen_vip_from_view(struct gen_registry *reg, const struct chan_vip_view *view,
			     __u64 serial, struct gen_vip **out)
{
	const struct chan_vip *cv = view->vip;
	struct gen_vip *v = calloc(1, sizeof(*v));
	struct gen_reg_vip *rv;
	int rc = -ENOMEM;

	if (!v)
		return rc;
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
	rv = gen_registry_vip_get(reg, &cv->key);
	if (!rv) {
		rc = -errno;
		goto fail;
	}
	rv->mark = serial;
	v->id = rv->id;
	memcpy(v->backends, view->backends, (size_t)cv->backend_count * sizeof(*v->backends));
	for (__u32 i = 0; i < cv->backend_count; i++) {
		struct gen_reg_entry *e = gen_registry_get(reg, &cv->key, &view->backends[i]);
		if (!e) {
			rc = -errno;
			goto fail;
		}
		e->mark = serial;
		v->member_ids[i] = e->id;
	}
	for (__u32 s = 0; s < cv->table_size; s++)
		v->ring[s] = view->ring[s] == FLOW_NO_BACKEND ? FLOW_NO_BACKEND
							      : v->member_ids[view->ring[s]];
	*out = v;
	return 0;
fail:
	gen_vip_free(v);
	return rc;
}

int gen_builder_add_vip(struct gen_builder *gb, const struct chan_vip_view *view, char *err,
			size_t err_size)
{
	char key[CHAN_VIP_KEY_TEXT];
	struct gen_vip *v = NULL;

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
		struct gen_reg_vip *rv = gb->reg->vips.by_id[v->id];
		rv->mark = gb->serial;
		for (__u32 i = 0; i < v->backend_count; i++) {
			struct gen_reg_entry *e = gb->reg->members.by_id[v->member_ids[i]];
			e->mark = gb->serial;
		}
	} else {
		int rc = gen_vip_from_view(gb->reg, view, gb->serial, &v);
		if (rc == -ENOSPC) {
			gen_errorf(err, err_size,
				   "GEN_VIP %s: more than %u (VIP, backend) pairs in use, counting "
				   "those removed within the idle timeout",
				   key, gb->reg->members.max);
			return rc;
		}
		if (rc) {
			gen_errorf(err, err_size, "GEN_VIP %s: out of memory", key);
			return rc;
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

/*
 * The outer headers toward backend b under the generation's parameters;
 * left empty (length 0: the worker drops as no_route) when the generation
 * has no tunnel source address of b's family.
 */
static void gen_member_encap_init(struct pkt_encap_template *t, const struct chan_gen_begin *params,
				  const struct chan_backend *b)
{
	struct pkt_encap_params p = { .type = params->encap, .outer_family = b->family,
				      .gue_port = params->gue_port };

	memset(t, 0, sizeof(*t));
	if (b->family == FLOW_FAMILY_IPV4) {
		if (!params->encap_source_v4)
			return;
		p.outer_src[0] = params->encap_source_v4;
	} else {
		memcpy(p.outer_src, params->encap_source_v6, sizeof(p.outer_src));
		if (!(p.outer_src[0] | p.outer_src[1] | p.outer_src[2] | p.outer_src[3]))
			return;
	}
	memcpy(p.outer_dst, b->addr, sizeof(p.outer_dst));
	pkt_encap_template_init(t, &p);
}

/* The member table, and the ids no finished generation had before. */
static int gen_members_build(struct gen *g, const struct gen_registry *reg, gen_nexthop_fn nexthop,
			     void *ctx)
{
	__u32 backends = 0;

	for (__u32 vi = 0; vi < g->vip_count; vi++)
		backends += g->vips[vi]->backend_count;
	g->member_count = reg->members.limit;
	g->members = calloc(g->member_count ? g->member_count : 1, sizeof(*g->members));
	g->encap = aligned_alloc(sizeof(*g->encap),
				 (g->member_count ? g->member_count : 1) * sizeof(*g->encap));
	if (g->encap)
		memset(g->encap, 0, (g->member_count ? g->member_count : 1) * sizeof(*g->encap));
	g->fresh_member_ids = malloc((backends ? backends : 1) * sizeof(*g->fresh_member_ids));
	g->fresh_vip_ids = malloc((g->vip_count ? g->vip_count : 1) * sizeof(*g->fresh_vip_ids));
	if (!g->members || !g->encap || !g->fresh_member_ids || !g->fresh_vip_ids)
		return -ENOMEM;
	for (__u32 vi = 0; vi < g->vip_count; vi++) {
		const struct gen_vip *v = g->vips[vi];
		const struct gen_reg_vip *rv = reg->vips.by_id[v->id];
		if (!rv->published)
			g->fresh_vip_ids[g->fresh_vip_count++] = v->id;
		for (__u32 i = 0; i < v->backend_count; i++) {
			const struct chan_backend *b = &v->backends[i];
			const struct gen_reg_entry *e = reg->members.by_id[v->member_ids[i]];
			struct gen_member *m = &g->members[v->member_ids[i]];
			memcpy(m->addr, b->addr, sizeof(m->addr));
			m->family = b->family;
			m->state = b->state;
			m->nexthop = nexthop ? nexthop(ctx, b->family, b->addr) : 0;
			m->vip = vi;
			gen_member_encap_init(&g->encap[v->member_ids[i]], &g->params, b);
			g->backend_count++;
			if (!e->published)
				g->fresh_member_ids[g->fresh_member_count++] = e->id;
		}
	}
	return 0;
}

static void gen_free_tables(struct gen *g)
{
	free(g->index);
	free(g->members);
	free(g->encap);
	free(g->fresh_member_ids);
	free(g->fresh_vip_ids);
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
		gen_free_tables(g);
		free(g);
	}
	gen_builder_abort(gb);
	errno = -rc;
	return NULL;
}

static int gen_member_present(const struct gen *g, __u32 id)
{
	return g && id < g->member_count && g->members[id].state != GEN_MEMBER_ABSENT;
}

void gen_members_added(const struct gen *from, const struct gen *to,
		       void (*fn)(void *ctx, __u32 member_id, __u32 vip_id), void *ctx)
{
	for (__u32 id = 0; to && id < to->member_count; id++)
		if (gen_member_present(to, id) && !gen_member_present(from, id))
			fn(ctx, id, to->vips[to->members[id].vip]->id);
}

void gen_destroy(struct gen *g)
{
	if (!g)
		return;
	for (__u32 i = 0; i < g->vip_count; i++)
		if (--g->vips[i]->refs == 0)
			gen_vip_free(g->vips[i]);
	free(g->vips);
	gen_free_tables(g);
	free(g);
}
