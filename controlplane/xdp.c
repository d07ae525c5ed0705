/* SPDX-License-Identifier: BSD-3-Clause */
/* lbd's XDP dataplane (controlplane/xdp.h). */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "controlplane/xdp.h"
#include "bpf/balancer.skel.h"

/* The kernel keeps 15 characters of a program's name. */
#define XDP_PROG_NAME "fulcrum_balance"

/* Where a VIP's ring lives: a slot of the rings map and its size. */
struct xdp_ring {
	__u32 slot;
	__u32 size; /* 0: the VIP has no ring */
};

struct xdp_dataplane {
	struct balancer_bpf *skel;
	struct gen_registry *reg;
	struct gen *gen; /* the generation in the maps; NULL before the first publication */
	__u64 generation;
	__u32 members_max;
	__u32 flow_capacity;
	__u32 new_flow_capacity;
	int cpus;
	char open_note[512]; /* what xdp_open() replaced; "" if nothing */
	struct xdp_ring ring_of_vip[GEN_VIPS_MAX];
	int ring_fd[BALANCER_RINGS_MAX]; /* -1: slot free */
	/* A VIP's counts include its backends since removed: their last
	 * counts, kept here by VIP id while the VIP stays. */
	struct balancer_member_stats vip_base[GEN_VIPS_MAX];
};

__attribute__((format(printf, 3, 4))) static int xdp_error(char *err, size_t err_size,
							   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return 0;
}

static __u32 xdp_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u32)ts.tv_sec;
}

/* The program's clock (balancer.h: CLOCK_MONOTONIC in 2^30 ns ticks). */
static __u32 xdp_now_ticks(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u32)(((__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec) >>
		       BALANCER_TICK_SHIFT);
}

/* An idle timeout in ticks, rounded up: a flow never expires early. */
static __u32 xdp_ticks_of_s(__u32 s)
{
	return (__u32)(((__u64)s * 1000000000ull + BALANCER_TICK_NS - 1) >> BALANCER_TICK_SHIFT);
}

/* Ticks in whole seconds, rounded up (a flow's remaining life). */
static __u32 xdp_s_of_ticks(__u32 ticks)
{
	return (__u32)((((__u64)ticks << BALANCER_TICK_SHIFT) + 999999999ull) / 1000000000ull);
}

int xdp_program_fd(const struct xdp_dataplane *x)
{
	return bpf_program__fd(x->skel->progs.fulcrum_balancer);
}

const struct gen *xdp_generation(const struct xdp_dataplane *x)
{
	return x->gen;
}

__u64 xdp_generation_id(const struct xdp_dataplane *x)
{
	return x->generation;
}

/* The maps lbd pins, in BALANCER_MAPS order. */
static struct bpf_map *xdp_map_by_index(struct balancer_bpf *skel, int i)
{
	struct bpf_map *all[] = {
#define XDP_MAP_ENTRY(name) skel->maps.name,
		BALANCER_MAPS(XDP_MAP_ENTRY)
#undef XDP_MAP_ENTRY
	};

	return i < (int)(sizeof(all) / sizeof(all[0])) ? all[i] : NULL;
}

static const char *const xdp_map_names[] = {
#define XDP_MAP_NAME(name) #name,
	BALANCER_MAPS(XDP_MAP_NAME)
#undef XDP_MAP_NAME
};
#define XDP_MAP_COUNT (sizeof(xdp_map_names) / sizeof(xdp_map_names[0]))

/*
 * Reads back what the maps of a running balancer hold: the generation
 * number, the VIP ids and ring slots, and the member ids, into the
 * registry, so that the first publication keeps every id a flow may name.
 */
static int xdp_adopt(struct xdp_dataplane *x, char *err, size_t err_size)
{
	int vips_fd = bpf_map__fd(x->skel->maps.vips);
	int rings_fd = bpf_map__fd(x->skel->maps.rings);
	int members_fd = bpf_map__fd(x->skel->maps.members);
	struct balancer_vip_key key, next, *prev = NULL;
	struct chan_vip_key *vip_keys = calloc(GEN_VIPS_MAX, sizeof(*vip_keys));
	struct balancer_params prm;
	__u32 zero = 0;
	int rc = 0;

	if (!vip_keys)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(x->skel->maps.params), &zero, &prm) == 0)
		x->generation = prm.generation;
	while (bpf_map_get_next_key(vips_fd, prev, &next) == 0) {
		struct balancer_vip v;
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(vips_fd, &key, &v) || (v.flags & BALANCER_VIP_FRAGMENT_ONLY))
			continue;
		if (v.id >= GEN_VIPS_MAX || v.ring >= BALANCER_RINGS_MAX)
			continue;
		memcpy(&vip_keys[v.id], &key, sizeof(key));
		rc = gen_registry_adopt_vip(x->reg, &vip_keys[v.id], v.id);
		if (rc)
			goto out;
		__u32 inner_id;
		if (x->ring_fd[v.ring] < 0 && bpf_map_lookup_elem(rings_fd, &v.ring, &inner_id) == 0)
			x->ring_fd[v.ring] = bpf_map_get_fd_by_id(inner_id);
		if (x->ring_fd[v.ring] >= 0)
			x->ring_of_vip[v.id] = (struct xdp_ring){ .slot = v.ring, .size = v.ring_size };
	}
	for (__u32 id = 0; id < x->members_max; id++) {
		struct balancer_member m;
		struct chan_backend b;
		if (bpf_map_lookup_elem(members_fd, &id, &m) || m.family == 0 || m.vip >= GEN_VIPS_MAX ||
		    vip_keys[m.vip].family == 0)
			continue; /* a VIP gone: the program's VIP check keeps its flows safe */
		memset(&b, 0, sizeof(b));
		memcpy(b.addr, m.addr, sizeof(b.addr));
		b.port = m.port;
		b.family = m.family;
		rc = gen_registry_adopt_member(x->reg, &vip_keys[m.vip], &b, id,
					       xdp_s_of_ticks(prm.tcp_idle_ticks > prm.udp_idle_ticks
								      ? prm.tcp_idle_ticks
								      : prm.udp_idle_ticks));
		if (rc)
			goto out;
	}
out:
	if (rc)
		xdp_error(err, err_size, "adopting the pinned maps: %s", strerror(-rc));
	free(vip_keys);
	return rc;
}

/*
 * Maps whose contents can be lost without losing a flow: counters, which
 * restart from zero, and the next-hop cache, which refills in a tick.
 */
static bool xdp_map_replaceable(const char *name)
{
	return strcmp(name, "counters") == 0 || strcmp(name, "member_stats") == 0 ||
	       strcmp(name, "vip_drops") == 0 || strcmp(name, "nexthops") == 0;
}

/*
 * Whether the map pinned at path can be reused for map (libbpf's own test:
 * type, key and value sizes, entries, flags). 1 if it can or nothing is
 * pinned there (libbpf pins a new one), 0 if not, with its shape in why.
 */
static int xdp_pin_compatible(const struct bpf_map *map, const char *path, char *why,
			      size_t why_size)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return 1;
	memset(&info, 0, sizeof(info));
	int rc = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (rc)
		return 1; /* let libbpf's load say what is wrong with it */
	if (info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
	    info.value_size == bpf_map__value_size(map) &&
	    info.max_entries == bpf_map__max_entries(map) && info.map_flags == bpf_map__map_flags(map))
		return 1;
	snprintf(why, why_size,
		 "%u entries of %u-byte keys and %u-byte values (flags %#x), where this lbd needs "
		 "%u of %u and %u (flags %#x)",
		 info.max_entries, info.key_size, info.value_size, info.map_flags,
		 bpf_map__max_entries(map), bpf_map__key_size(map), bpf_map__value_size(map),
		 bpf_map__map_flags(map));
	return 0;
}

/*
 * Checks the maps pinned under pin_path before libbpf reuses them. A table
 * pinned with another shape (another flow_table_size, members_max, or a
 * version with another layout) is an error naming it: keeping it is the
 * only way to keep the flows, and only `lbd -x` may drop them. A counter or
 * cache map of another shape, as a version that counts one more thing
 * leaves, is unpinned instead, so an upgrade keeps the flows: the new
 * program gets a new map, and the old program keeps its own until lbd
 * replaces it on the interfaces.
 */
static int xdp_check_pins(struct xdp_dataplane *x, const char *pin_path, char *err,
			  size_t err_size)
{
	char path[PATH_MAX], why[256];
	bool replace[XDP_MAP_COUNT] = { false };

	for (__u32 i = 0; i < XDP_MAP_COUNT; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_path, xdp_map_names[i]);
		if (xdp_pin_compatible(xdp_map_by_index(x->skel, (int)i), path, why, sizeof(why)))
			continue;
		if (!xdp_map_replaceable(xdp_map_names[i])) {
			xdp_error(err, err_size,
				  "the map pinned at %s holds %s: the configuration's sizes differ "
				  "from the running balancer's, or it was pinned by another version "
				  "(`lbd -x` removes the pinned maps, and the flows with them)",
				  path, why);
			return -EINVAL;
		}
		replace[i] = true;
	}
	for (__u32 i = 0; i < XDP_MAP_COUNT; i++) {
		if (!replace[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_path, xdp_map_names[i]);
		if (unlink(path) && errno != ENOENT) {
			int rc = -errno;
			xdp_error(err, err_size, "replacing %s: %s", path, strerror(errno));
			return rc;
		}
		size_t used = strlen(x->open_note);
		snprintf(x->open_note + used, sizeof(x->open_note) - used, "%s%s",
			 used ? ", " : "the pinned maps of another layout were replaced (their counts "
				       "restart from zero): ",
			 xdp_map_names[i]);
	}
	return 0;
}

const char *xdp_open_note(const struct xdp_dataplane *x)
{
	return x->open_note;
}

struct xdp_dataplane *xdp_open(const struct xdp_options *o, bool *adopted, char *err,
			       size_t err_size)
{
	struct xdp_dataplane *x = calloc(1, sizeof(*x));
	char path[PATH_MAX];
	int rc = -ENOMEM;

	*adopted = false;
	if (!x)
		goto fail;
	for (int i = 0; i < BALANCER_RINGS_MAX; i++)
		x->ring_fd[i] = -1;
	x->members_max = o->members_max ? o->members_max : BALANCER_MEMBERS_DEFAULT;
	x->flow_capacity = o->flow_capacity ? o->flow_capacity : BALANCER_FLOWS_DEFAULT;
	x->new_flow_capacity = o->new_flow_capacity ? o->new_flow_capacity
						     : flow_new_table_size_default(x->flow_capacity);
	x->cpus = libbpf_num_possible_cpus();
	x->reg = gen_registry_create();
	if (!x->reg || x->cpus <= 0)
		goto fail;
	gen_registry_limit_members(x->reg, x->members_max);
	x->skel = balancer_bpf__open();
	if (!x->skel) {
		rc = -errno;
		xdp_error(err, err_size, "opening the XDP balancer: %s", strerror(errno));
		goto fail;
	}
	x->skel->rodata->use_gateway_mac = o->has_gateway_mac;
	memcpy((void *)x->skel->rodata->gateway_mac, o->gateway_mac, 6);
	bpf_map__set_max_entries(x->skel->maps.flows, x->flow_capacity);
	bpf_map__set_max_entries(x->skel->maps.new_flows, x->new_flow_capacity);
	bpf_map__set_max_entries(x->skel->maps.members, x->members_max);
	bpf_map__set_max_entries(x->skel->maps.member_stats, x->members_max);
	bpf_map__set_max_entries(x->skel->maps.nexthops, x->members_max);
	if (o->pin_path && o->pin_path[0]) {
		if (mkdir(o->pin_path, 0700) && errno != EEXIST) {
			rc = -errno;
			xdp_error(err, err_size, "%s: %s", o->pin_path, strerror(errno));
			goto fail;
		}
		snprintf(path, sizeof(path), "%s/params", o->pin_path);
		*adopted = access(path, F_OK) == 0;
		rc = xdp_check_pins(x, o->pin_path, err, err_size);
		if (rc)
			goto fail;
		/* libbpf reuses a map pinned at its path (after checking type,
		 * sizes and flags) and pins the others there at load. */
		for (__u32 i = 0; i < XDP_MAP_COUNT; i++) {
			snprintf(path, sizeof(path), "%s/%s", o->pin_path, xdp_map_names[i]);
			bpf_map__set_pin_path(xdp_map_by_index(x->skel, (int)i), path);
		}
	}
	rc = balancer_bpf__load(x->skel);
	if (rc) {
		xdp_error(err, err_size,
			  "loading the XDP balancer: %s%s", strerror(-rc),
			  *adopted ? " (maps pinned by an earlier version or with other sizes? "
				     "`lbd -x` removes them, and the flows with them)"
				   : "");
		goto fail;
	}
	if (*adopted) {
		rc = xdp_adopt(x, err, err_size);
		if (rc)
			goto fail;
	}
	return x;
fail:
	xdp_close(x);
	errno = -rc;
	return NULL;
}

void xdp_close(struct xdp_dataplane *x)
{
	if (!x)
		return;
	for (int i = 0; i < BALANCER_RINGS_MAX; i++)
		if (x->ring_fd[i] >= 0)
			close(x->ring_fd[i]);
	gen_destroy(x->gen);
	gen_registry_destroy(x->reg);
	balancer_bpf__destroy(x->skel);
	free(x);
}

/* Whether the program with this id is a Fulcrum balancer. */
static bool xdp_prog_is_ours(__u32 id)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);
	bool ours;

	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	ours = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
	       strncmp(info.name, XDP_PROG_NAME, sizeof(info.name)) == 0;
	close(fd);
	return ours;
}

int xdp_attach(struct xdp_dataplane *x, const char *ifname, bool generic, char *note,
	       size_t note_size, char *err, size_t err_size)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int ifindex = (int)if_nametoindex(ifname);
	int prog_fd = xdp_program_fd(x);
	__u32 mode = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	int rc;

	note[0] = '\0';
	if (!ifindex) {
		xdp_error(err, err_size, "interface %s: %s", ifname, strerror(errno));
		return -ENODEV;
	}
	rc = bpf_xdp_query(ifindex, 0, &q);
	if (rc == 0 && q.prog_id) {
		if (!xdp_prog_is_ours(q.prog_id)) {
			xdp_error(err, err_size,
				  "%s already runs XDP program id %u, which is not Fulcrum's: "
				  "not replacing it", ifname, q.prog_id);
			return -EBUSY;
		}
		/* Ours, from an earlier lbd: replaced in one step in the mode it
		 * is in, so no packet misses the balancer. */
		__u32 old_mode = q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE
								   : XDP_FLAGS_DRV_MODE;
		int old_fd = bpf_prog_get_fd_by_id(q.prog_id);
		LIBBPF_OPTS(bpf_xdp_attach_opts, a, .old_prog_fd = old_fd);
		if (old_mode == mode && old_fd >= 0) {
			rc = bpf_xdp_attach(ifindex, prog_fd, mode | XDP_FLAGS_REPLACE, &a);
			close(old_fd);
			if (rc == 0)
				return 0;
		} else {
			if (old_fd >= 0)
				close(old_fd);
			bpf_xdp_detach(ifindex, old_mode, NULL);
		}
	}
	rc = bpf_xdp_attach(ifindex, prog_fd, mode | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (rc && !generic && (rc == -EOPNOTSUPP || rc == -EINVAL)) {
		rc = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
				    NULL);
		if (rc == 0)
			snprintf(note, note_size,
				 "%s: the driver refused native XDP; attached in generic mode, "
				 "which is much slower", ifname);
	}
	if (rc)
		xdp_error(err, err_size, "attaching XDP to %s: %s", ifname, strerror(-rc));
	return rc;
}

int xdp_detach(const char *pin_path, const char *const *ifnames, __u32 ifname_count, char *err,
	       size_t err_size)
{
	char path[PATH_MAX];
	int result = 0;

	for (__u32 i = 0; i < ifname_count; i++) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);
		int ifindex = (int)if_nametoindex(ifnames[i]);
		if (!ifindex || bpf_xdp_query(ifindex, 0, &q) || !q.prog_id)
			continue;
		if (!xdp_prog_is_ours(q.prog_id)) {
			xdp_error(err, err_size, "%s runs XDP program id %u, not Fulcrum's: left alone",
				  ifnames[i], q.prog_id);
			result = -EBUSY;
			continue;
		}
		__u32 mode = q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE
							       : XDP_FLAGS_DRV_MODE;
		int rc = bpf_xdp_detach(ifindex, mode, NULL);
		if (rc) {
			xdp_error(err, err_size, "detaching XDP from %s: %s", ifnames[i],
				  strerror(-rc));
			result = rc;
		}
	}
	if (pin_path && pin_path[0]) {
		for (__u32 i = 0; i < XDP_MAP_COUNT; i++) {
			snprintf(path, sizeof(path), "%s/%s", pin_path, xdp_map_names[i]);
			if (unlink(path) && errno != ENOENT && !result) {
				xdp_error(err, err_size, "%s: %s", path, strerror(errno));
				result = -errno;
			}
		}
		rmdir(pin_path);
	}
	return result;
}

/* Writes the same value to every CPU's copy of a per-CPU map entry. */
static int xdp_percpu_set(struct xdp_dataplane *x, int fd, __u32 key, const void *value,
			  size_t value_size)
{
	size_t stride = (value_size + 7) & ~(size_t)7;
	char *all = calloc((size_t)x->cpus, stride);
	int rc;

	if (!all)
		return -ENOMEM;
	for (int c = 0; c < x->cpus; c++)
		memcpy(all + (size_t)c * stride, value, value_size);
	rc = bpf_map_update_elem(fd, &key, all, BPF_ANY);
	free(all);
	return rc;
}

/* Sums a per-CPU map entry of __u64 fields into out (n fields). */
static int xdp_percpu_sum(struct xdp_dataplane *x, int fd, __u32 key, __u64 *out, __u32 n)
{
	__u64 *all = calloc((size_t)x->cpus * n, sizeof(*all));
	int rc;

	if (!all)
		return -ENOMEM;
	memset(out, 0, n * sizeof(*out));
	rc = bpf_map_lookup_elem(fd, &key, all);
	if (rc == 0)
		for (int c = 0; c < x->cpus; c++)
			for (__u32 i = 0; i < n; i++)
				out[i] += all[(size_t)c * n + i];
	free(all);
	return rc;
}

static struct balancer_member xdp_member_value(const struct gen *g, __u32 id)
{
	const struct gen_member *gm = &g->members[id];
	struct balancer_member m;

	memset(&m, 0, sizeof(m));
	memcpy(m.addr, gm->addr, sizeof(m.addr));
	m.family = gm->family;
	m.state = gm->state;
	m.vip = g->vips[gm->vip]->id;
	/* The port is the member key's: its VIP's backend record has it. */
	const struct gen_vip *v = g->vips[gm->vip];
	for (__u32 i = 0; i < v->backend_count; i++)
		if (v->member_ids[i] == id)
			m.port = v->backends[i].port;
	return m;
}

/* The generation's VIP with stable id vip_id, or NULL. */
static const struct gen_vip *xdp_gen_vip_by_id(const struct gen *g, __u32 vip_id)
{
	for (__u32 i = 0; g && i < g->vip_count; i++)
		if (g->vips[i]->id == vip_id)
			return g->vips[i];
	return NULL;
}

/*
 * Writes the slots of ring fd (size entries) where want differs from have
 * (NULL: unknown, so read back from the map first). Returns the slots
 * written, or -errno.
 */
static long xdp_ring_write(int fd, const __u32 *want, const __u32 *have, __u32 size)
{
	__u32 *keys = malloc((size_t)size * sizeof(*keys));
	__u32 *values = malloc((size_t)size * sizeof(*values));
	__u32 *current = have ? NULL : malloc((size_t)size * sizeof(*current));
	__u32 n = 0;
	long rc = -ENOMEM;

	if (!keys || !values || (!have && !current))
		goto out;
	if (!have) {
		for (__u32 s = 0; s < size; s++)
			if (bpf_map_lookup_elem(fd, &s, &current[s]))
				current[s] = ~want[s]; /* unreadable: write it */
		have = current;
	}
	for (__u32 s = 0; s < size; s++) {
		if (want[s] == have[s])
			continue;
		keys[n] = s;
		values[n++] = want[s];
	}
	rc = 0;
	if (n) {
		__u32 count = n;
		rc = bpf_map_update_batch(fd, keys, values, &count, NULL);
	}
	if (rc == 0)
		rc = n;
out:
	free(keys);
	free(values);
	free(current);
	return rc;
}

/* A free slot of the rings map, or -ENOSPC. */
static int xdp_ring_slot_take(const struct xdp_dataplane *x)
{
	for (int s = 0; s < BALANCER_RINGS_MAX; s++)
		if (x->ring_fd[s] < 0)
			return s;
	return -ENOSPC;
}

/* Frees a ring slot no VIP entry names any more. */
static void xdp_ring_slot_put(struct xdp_dataplane *x, __u32 slot)
{
	if (x->ring_fd[slot] < 0)
		return;
	bpf_map_delete_elem(bpf_map__fd(x->skel->maps.rings), &slot);
	close(x->ring_fd[slot]);
	x->ring_fd[slot] = -1;
}

/*
 * Puts VIP v's ring in the maps: the slots that changed since prev_v (the
 * same VIP in the generation before, or NULL) in its ring, or a new ring in
 * a new slot when the size changed. *old_slot gets a slot to free once no
 * VIP entry names it (or -1). Returns 0 or -errno.
 */
static int xdp_ring_update(struct xdp_dataplane *x, const struct gen_vip *v,
			   const struct gen_vip *prev_v, int *old_slot, char *err, size_t err_size)
{
	struct xdp_ring *r = &x->ring_of_vip[v->id];
	long rc;

	*old_slot = -1;
	if (r->size == v->table_size && x->ring_fd[r->slot] >= 0) {
		const __u32 *have = prev_v && prev_v->table_size == v->table_size ? prev_v->ring : NULL;
		rc = xdp_ring_write(x->ring_fd[r->slot], v->ring, have, v->table_size);
		if (rc < 0)
			xdp_error(err, err_size, "VIP %s: writing its ring: %s", v->name,
				  strerror((int)-rc));
		return rc < 0 ? (int)rc : 0;
	}
	int slot = xdp_ring_slot_take(x);
	if (slot < 0) {
		xdp_error(err, err_size, "VIP %s: all %d ring slots in use", v->name,
			  BALANCER_RINGS_MAX);
		return slot;
	}
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "fulcrum_ring", sizeof(__u32), sizeof(__u32),
				v->table_size, &opts);
	if (fd < 0) {
		xdp_error(err, err_size, "VIP %s: creating a ring of %u: %s", v->name, v->table_size,
			  strerror(errno));
		return -errno;
	}
	/* A new array reads as zeros: write every slot that is not member 0. */
	__u32 *zeros = calloc(v->table_size, sizeof(*zeros));
	rc = zeros ? xdp_ring_write(fd, v->ring, zeros, v->table_size) : -ENOMEM;
	free(zeros);
	__u32 key = (__u32)slot;
	if (rc >= 0 && bpf_map_update_elem(bpf_map__fd(x->skel->maps.rings), &key, &fd, BPF_ANY))
		rc = -errno;
	if (rc < 0) {
		close(fd);
		xdp_error(err, err_size, "VIP %s: filling its ring: %s", v->name, strerror((int)-rc));
		return (int)rc;
	}
	x->ring_fd[slot] = fd;
	if (r->size)
		*old_slot = (int)r->slot;
	r->slot = (__u32)slot;
	r->size = v->table_size;
	return 0;
}

static struct balancer_vip_key xdp_vip_key(const struct gen_vip_slot *s)
{
	struct balancer_vip_key k;

	memset(&k, 0, sizeof(k));
	memcpy(k.addr, s->addr, sizeof(k.addr));
	k.port = s->port;
	k.proto = s->proto;
	k.family = s->family;
	return k;
}

/* Whether generation g's VIP index has an entry for key. */
static bool xdp_index_has(const struct gen *g, const struct balancer_vip_key *key)
{
	for (__u32 i = 0; g && i <= g->index_mask; i++) {
		const struct gen_vip_slot *s = &g->index[i];
		if (s->family) {
			struct balancer_vip_key k = xdp_vip_key(s);
			if (memcmp(&k, key, sizeof(k)) == 0)
				return true;
		}
	}
	return false;
}

/* Adds a removed member's counts to its VIP's, so the VIP's stay whole. */
static void xdp_member_removed(void *ctx, __u32 member_id, __u32 vip_id)
{
	struct xdp_dataplane *x = ctx;
	__u64 sums[3];

	if (xdp_percpu_sum(x, bpf_map__fd(x->skel->maps.member_stats), member_id, sums, 3) == 0) {
		x->vip_base[vip_id].packets += sums[0];
		x->vip_base[vip_id].bytes += sums[1];
		x->vip_base[vip_id].flows_new += sums[2];
	}
}

/* Writes generation g into the maps over x->gen (see xdp_publish()). */
static int xdp_tables_write(struct xdp_dataplane *x, const struct gen *g, char *err,
			    size_t err_size)
{
	const struct gen *prev = x->gen;
	int members_fd = bpf_map__fd(x->skel->maps.members);
	int vips_fd = bpf_map__fd(x->skel->maps.vips);
	int old_slots[GEN_VIPS_MAX];
	__u32 old_slot_count = 0;
	__u32 zero = 0;
	int rc;

	/* Counters of ids given out for the first time start from zero. */
	struct balancer_member_stats no_stats = { 0 };
	__u64 no_drops = 0;
	for (__u32 i = 0; i < g->fresh_member_count; i++) {
		rc = xdp_percpu_set(x, bpf_map__fd(x->skel->maps.member_stats),
				    g->fresh_member_ids[i], &no_stats, sizeof(no_stats));
		if (rc)
			goto map_error;
	}
	for (__u32 i = 0; i < g->fresh_vip_count; i++) {
		rc = xdp_percpu_set(x, bpf_map__fd(x->skel->maps.vip_drops), g->fresh_vip_ids[i],
				    &no_drops, sizeof(no_drops));
		memset(&x->vip_base[g->fresh_vip_ids[i]], 0, sizeof(x->vip_base[0]));
		if (rc)
			goto map_error;
	}

	/* Members first, so a ring never names one the program does not know. */
	for (__u32 id = 0; id < g->member_count; id++) {
		if (g->members[id].state == GEN_MEMBER_ABSENT)
			continue;
		struct balancer_member m = xdp_member_value(g, id);
		if (prev && id < prev->member_count &&
		    prev->members[id].state == g->members[id].state &&
		    prev->members[id].family == g->members[id].family &&
		    memcmp(prev->members[id].addr, g->members[id].addr, 16) == 0 &&
		    prev->vips[prev->members[id].vip]->id == m.vip)
			continue;
		if (bpf_map_update_elem(members_fd, &id, &m, BPF_ANY)) {
			rc = -errno;
			goto map_error;
		}
	}

	for (__u32 i = 0; i < g->vip_count; i++) {
		const struct gen_vip *v = g->vips[i];
		const struct gen_vip *prev_v = xdp_gen_vip_by_id(prev, v->id);
		int old_slot;
		if (prev_v == v) /* shared with the generation before: unchanged */
			continue;
		rc = xdp_ring_update(x, v, prev_v, &old_slot, err, err_size);
		if (rc)
			return rc;
		if (old_slot >= 0)
			old_slots[old_slot_count++] = old_slot;
	}

	/* VIP entries: a VIP's size and ring slot change in one update. */
	for (__u32 i = 0; i <= g->index_mask; i++) {
		const struct gen_vip_slot *s = &g->index[i];
		if (!s->family)
			continue;
		const struct gen_vip *v = g->vips[s->vip];
		struct balancer_vip_key key = xdp_vip_key(s);
		struct balancer_vip value = {
			.id = v->id,
			.ring = x->ring_of_vip[v->id].slot,
			.ring_size = x->ring_of_vip[v->id].size,
			.flags = s->fragment_only ? BALANCER_VIP_FRAGMENT_ONLY : 0,
		};
		if (bpf_map_update_elem(vips_fd, &key, &value, BPF_ANY)) {
			rc = -errno;
			goto map_error;
		}
	}
	/* VIP entries gone: every key in the map that g's index lacks (after
	 * an adoption the map is all there is to go by). */
	struct balancer_vip_key cursor, next;
	bool started = false;
	while (bpf_map_get_next_key(vips_fd, started ? &cursor : NULL, &next) == 0) {
		if (xdp_index_has(g, &next)) {
			cursor = next;
			started = true;
			continue;
		}
		struct balancer_vip old;
		if (bpf_map_lookup_elem(vips_fd, &next, &old) == 0 &&
		    !(old.flags & BALANCER_VIP_FRAGMENT_ONLY) && old.id < GEN_VIPS_MAX &&
		    !xdp_gen_vip_by_id(g, old.id) && x->ring_of_vip[old.id].size) {
			old_slots[old_slot_count++] = (int)x->ring_of_vip[old.id].slot;
			x->ring_of_vip[old.id].size = 0;
		}
		/* The cursor stays on the key before, which is still there. */
		bpf_map_delete_elem(vips_fd, &next);
	}
	for (__u32 i = 0; i < old_slot_count; i++)
		xdp_ring_slot_put(x, (__u32)old_slots[i]);

	/* Members that left: absent, so their flows move at the next packet. */
	if (prev)
		gen_members_added(g, prev, xdp_member_removed, x);
	for (__u32 id = 0; id < x->members_max; id++) {
		bool present_now = id < g->member_count && g->members[id].state != GEN_MEMBER_ABSENT;
		bool present_before = prev ? id < prev->member_count &&
						     prev->members[id].state != GEN_MEMBER_ABSENT
					   : true;
		if (present_now || !present_before)
			continue;
		struct balancer_member m;
		if (bpf_map_lookup_elem(members_fd, &id, &m) || m.state == GEN_MEMBER_ABSENT)
			continue;
		m.state = GEN_MEMBER_ABSENT;
		bpf_map_update_elem(members_fd, &id, &m, BPF_ANY);
	}

	struct balancer_params prm;
	memset(&prm, 0, sizeof(prm));
	prm.encap = g->params.encap;
	prm.gue_port = g->params.gue_port;
	prm.encap_source_v4 = g->params.encap_source_v4;
	memcpy(prm.encap_source_v6, g->params.encap_source_v6, sizeof(prm.encap_source_v6));
	prm.tcp_idle_ticks = xdp_ticks_of_s(g->params.tcp_idle_timeout_s);
	prm.udp_idle_ticks = xdp_ticks_of_s(g->params.udp_idle_timeout_s);
	prm.generation = g->id;
	if (bpf_map_update_elem(bpf_map__fd(x->skel->maps.params), &zero, &prm, BPF_ANY)) {
		rc = -errno;
		goto map_error;
	}
	return 0;
map_error:
	xdp_error(err, err_size, "writing the XDP maps: %s", strerror(-rc));
	return rc;
}

int xdp_publish(struct xdp_dataplane *x, const struct chan_gen_begin *begin,
		const struct chan_vip_view *views, __u32 count, char *err, size_t err_size)
{
	struct chan_gen_begin b = *begin;
	struct gen_builder *gb;
	struct gen *g;
	int rc;

	b.generation = x->generation + 1;
	b.vip_count = count;
	gb = gen_builder_create(x->reg, &b, x->gen);
	if (!gb) {
		xdp_error(err, err_size, "out of memory");
		return -ENOMEM;
	}
	for (__u32 i = 0; i < count; i++) {
		rc = gen_builder_add_vip(gb, &views[i], err, err_size);
		if (rc) {
			gen_builder_abort(gb);
			return rc;
		}
	}
	g = gen_builder_finish(gb, NULL, NULL, xdp_now_s(), err, err_size);
	if (!g)
		return -errno;
	rc = xdp_tables_write(x, g, err, err_size);
	/* Even after a failed write the maps hold parts of g: it is what the
	 * next publication compares with (rings are read back where unsure). */
	gen_destroy(x->gen);
	x->gen = g;
	if (rc == 0)
		x->generation = g->id;
	return rc;
}

/* Live entries of a flow map (fd): in all (if not NULL) and added per
 * member id (if not NULL). */
static int xdp_flows_scan(struct xdp_dataplane *x, int fd, __u64 *all, __u64 *per_member)
{
	enum { BATCH = 4096 };
	struct flow_tuple *keys = calloc(BATCH, sizeof(*keys));
	struct balancer_flow *values = calloc(BATCH, sizeof(*values));
	__u32 now = xdp_now_ticks(), batch_out = 0;
	void *in = NULL;
	int rc = 0;

	if (all)
		*all = 0;
	if (!keys || !values) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		__u32 n = BATCH;
		rc = bpf_map_lookup_batch(fd, in, &batch_out, keys, values, &n, NULL);
		if (rc && rc != -ENOENT)
			break;
		for (__u32 i = 0; i < n; i++) {
			if (values[i].expires <= now)
				continue;
			if (all)
				(*all)++;
			if (per_member && values[i].member < x->members_max)
				per_member[values[i].member]++;
		}
		if (rc == -ENOENT) {
			rc = 0;
			break;
		}
		in = &batch_out;
	}
out:
	free(keys);
	free(values);
	return rc;
}

int xdp_stats(struct xdp_dataplane *x, struct chan_stats *stats, __u64 *counters, char *err,
	      size_t err_size)
{
	int fd = bpf_map__fd(x->skel->maps.counters);
	int rc;

	memset(stats, 0, sizeof(*stats));
	stats->generation = x->generation;
	stats->flow_capacity = x->flow_capacity;
	stats->worker_count = (__u32)x->cpus;
	stats->counter_count = COUNTER_COUNT;
	rc = xdp_percpu_sum(x, fd, 0, counters, COUNTER_COUNT);
	if (rc == 0) /* established flows, as lb-dpdk counts them */
		rc = xdp_flows_scan(x, bpf_map__fd(x->skel->maps.flows), &stats->flows, NULL);
	if (rc == 0)
		return 0;
	xdp_error(err, err_size, "reading the XDP counters: %s", strerror(-rc));
	return rc;
}

int xdp_new_flows(struct xdp_dataplane *x, __u64 *live, __u32 *capacity, char *err,
		  size_t err_size)
{
	int rc = xdp_flows_scan(x, bpf_map__fd(x->skel->maps.new_flows), live, NULL);

	*capacity = x->new_flow_capacity;
	if (rc)
		xdp_error(err, err_size, "reading the XDP new-flow map: %s", strerror(-rc));
	return rc;
}

int xdp_members(struct xdp_dataplane *x, struct chan_members *head,
		struct chan_vip_stats **vips_out, struct chan_member_stats **members_out, char *err,
		size_t err_size)
{
	const struct gen *g = x->gen;
	__u32 vip_count = g ? g->vip_count : 0, member_count = g ? g->backend_count : 0;
	struct chan_vip_stats *vips = calloc((size_t)vip_count * sizeof(*vips) +
						     (size_t)member_count * sizeof(struct chan_member_stats) + 1,
					     1);
	struct chan_member_stats *members = (void *)(vips + vip_count);
	__u64 *active = calloc(x->members_max, sizeof(*active));
	int stats_fd = bpf_map__fd(x->skel->maps.member_stats);
	int drops_fd = bpf_map__fd(x->skel->maps.vip_drops);
	struct timespec ts;
	int rc = -ENOMEM;
	__u32 m = 0;

	if (!vips || !active)
		goto fail;
	/* A backend's active flows, as lb-dpdk counts them: new ones too, so
	 * that a drained backend is empty only when no flow can come back. */
	rc = xdp_flows_scan(x, bpf_map__fd(x->skel->maps.flows), NULL, active);
	if (rc == 0)
		rc = xdp_flows_scan(x, bpf_map__fd(x->skel->maps.new_flows), NULL, active);
	if (rc)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	memset(head, 0, sizeof(*head));
	head->generation = g ? g->id : 0;
	head->vip_count = vip_count;
	head->member_count = member_count;
	head->now_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
	for (__u32 i = 0; i < vip_count; i++) {
		const struct gen_vip *v = g->vips[i];
		struct chan_vip_stats *vs = &vips[i];
		vs->key = v->key;
		vs->packets = x->vip_base[v->id].packets;
		vs->bytes = x->vip_base[v->id].bytes;
		vs->flows_new = x->vip_base[v->id].flows_new;
		rc = xdp_percpu_sum(x, drops_fd, v->id, &vs->drops_no_backend, 1);
		if (rc)
			goto fail;
		for (__u32 b = 0; b < v->backend_count; b++) {
			struct chan_member_stats *ms = &members[m++];
			__u32 id = v->member_ids[b];
			__u64 sums[3];
			rc = xdp_percpu_sum(x, stats_fd, id, sums, 3);
			if (rc)
				goto fail;
			ms->vip = v->key;
			memcpy(ms->addr, v->backends[b].addr, sizeof(ms->addr));
			ms->port = v->backends[b].port;
			ms->family = v->backends[b].family;
			ms->state = v->backends[b].state;
			ms->packets = sums[0];
			ms->bytes = sums[1];
			ms->flows_new = sums[2];
			ms->flows_active = active[id];
			vs->packets += sums[0];
			vs->bytes += sums[1];
			vs->flows_new += sums[2];
		}
	}
	free(active);
	*vips_out = vips;
	*members_out = members;
	return 0;
fail:
	xdp_error(err, err_size, "reading the XDP statistics: %s", strerror(-rc));
	free(vips);
	free(active);
	return rc;
}

static void xdp_backend_of(const struct gen *g, __u32 id, struct chan_backend *b)
{
	memset(b, 0, sizeof(*b));
	if (!g || id >= g->member_count || g->members[id].state == GEN_MEMBER_ABSENT)
		return;
	const struct gen_member *gm = &g->members[id];
	const struct gen_vip *v = g->vips[gm->vip];
	for (__u32 i = 0; i < v->backend_count; i++)
		if (v->member_ids[i] == id)
			*b = v->backends[i];
}

int xdp_flow_find(struct xdp_dataplane *x, const struct flow_tuple *t, struct chan_flow *out,
		  char *err, size_t err_size)
{
	const struct gen *g = x->gen;
	struct flow_tuple checked;
	struct balancer_flow f;
	__u32 now = xdp_now_ticks();
	int rc;

	rc = chan_flow_find_decode(t, sizeof(*t), &checked, err, err_size);
	if (rc)
		return rc;
	memset(out, 0, sizeof(*out));
	/* bpf_map_lookup_elem on an LRU map from user space does not
	 * refresh the entry: asking does not keep a flow alive. A flow is
	 * looked for as the program does: established, else new. */
	bool found = bpf_map_lookup_elem(bpf_map__fd(x->skel->maps.flows), &checked, &f) == 0 &&
		     f.expires > now;
	if (!found)
		found = bpf_map_lookup_elem(bpf_map__fd(x->skel->maps.new_flows), &checked, &f) ==
				0 &&
			f.expires > now;
	if (found) {
		out->flags |= CHAN_FLOW_FOUND;
		out->expires_in_s = xdp_s_of_ticks(f.expires - now);
		if (g && f.member < g->member_count &&
		    g->members[f.member].state != GEN_MEMBER_ABSENT) {
			out->vip = g->vips[g->members[f.member].vip]->key;
			xdp_backend_of(g, f.member, &out->backend);
		} else {
			struct chan_backend b;
			if (gen_registry_member_key(x->reg, f.member, &out->vip, &b) == 0) {
				memcpy(out->backend.addr, b.addr, sizeof(b.addr));
				out->backend.port = b.port;
				out->backend.family = b.family;
			}
		}
	}
	const struct gen_vip *v = g ? gen_vip_find(g, &checked, checked.src_port == 0 &&
								checked.dst_port == 0)
				    : NULL;
	if (v) {
		if (!(out->flags & CHAN_FLOW_FOUND))
			out->vip = v->key;
		out->flags |= CHAN_FLOW_VIP;
		__u32 id = v->ring[flow_hash_ring_slot(flow_hash(&checked), v->table_size)];
		if (id != FLOW_NO_BACKEND) {
			out->flags |= CHAN_FLOW_RING;
			xdp_backend_of(g, id, &out->ring_backend);
		}
	}
	return 0;
}
