/* SPDX-License-Identifier: BSD-3-Clause */
/* lb-dpdk's flow state file (dataplane/flow_state.h): writing, checking, restoring. */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "dataplane/flow_state.h"

_Static_assert(sizeof(struct flow_state_header) == 128, "header layout is the file format");
_Static_assert(sizeof(struct flow_state_member) == 48, "member layout is the file format");
_Static_assert(sizeof(struct flow_state_entry) == 24, "entry layout is the file format");

#define FLOW_STATE_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

static const char *const flow_state_status_names[FLOW_STATE_STATUS_COUNT] = {
	[FLOW_STATE_LOADED] = "loaded",
	[FLOW_STATE_MISSING] = "missing",
	[FLOW_STATE_UNREADABLE] = "unreadable",
	[FLOW_STATE_NOT_OURS] = "not_flow_state",
	[FLOW_STATE_OTHER_VERSION] = "other_version",
	[FLOW_STATE_TRUNCATED] = "truncated",
	[FLOW_STATE_CORRUPT] = "corrupt",
	[FLOW_STATE_OTHER_HASH] = "other_hash",
	[FLOW_STATE_GEOMETRY] = "geometry",
	[FLOW_STATE_STALE] = "stale",
	[FLOW_STATE_CLOCK] = "clock",
};

const char *flow_state_status_name(enum flow_state_status status)
{
	return (unsigned)status < FLOW_STATE_STATUS_COUNT ? flow_state_status_names[status]
							  : "unknown";
}

__attribute__((format(printf, 3, 4))) static void flow_state_errorf(char *err, size_t err_size,
								     const char *fmt, ...)
{
	va_list ap;

	if (!err || !err_size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

static __u64 flow_state_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

void flow_state_clock_now(struct flow_state_clock *c)
{
	FILE *f = fopen(FLOW_STATE_BOOT_ID_PATH, "re");

	memset(c, 0, sizeof(*c));
	c->realtime_ns = flow_state_clock_ns(CLOCK_REALTIME);
	c->boottime_ns = flow_state_clock_ns(CLOCK_BOOTTIME);
	if (f) {
		if (!fgets(c->boot_id, sizeof(c->boot_id), f))
			c->boot_id[0] = '\0';
		c->boot_id[strcspn(c->boot_id, "\n")] = '\0';
		fclose(f);
	}
}

long long flow_state_age_s(const struct flow_state_clock *then, const struct flow_state_clock *now)
{
	__u64 a, b;

	if (then->boot_id[0] && strncmp(then->boot_id, now->boot_id, sizeof(then->boot_id)) == 0) {
		a = then->boottime_ns;
		b = now->boottime_ns;
	} else {
		a = then->realtime_ns;
		b = now->realtime_ns;
	}
	if (a > b)
		return -1;
	return (long long)((b - a) / 1000000000ull);
}

long long flow_state_file_age_s(const struct flow_state_header *h,
				const struct flow_state_clock *now)
{
	struct flow_state_clock then = { .realtime_ns = h->saved_realtime_ns,
					 .boottime_ns = h->saved_boottime_ns };

	memcpy(then.boot_id, h->boot_id, sizeof(then.boot_id));
	then.boot_id[sizeof(then.boot_id) - 1] = '\0';
	return flow_state_age_s(&then, now);
}

/* The probes: a hash of a fixed tuple, so that a file is refused by a build
 * whose flow hash or fingerprint (and so its buckets) differ. */
static void flow_state_probe(__u32 *hash, __u64 *fingerprint)
{
	struct flow_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = FLOW_FAMILY_IPV4;
	t.proto = 6;
	t.src_addr[0] = 0x010200c0; /* 192.0.2.1, 198.51.100.7, in network order */
	t.dst_addr[0] = 0x076433c6;
	t.src_port = 0x3930;
	t.dst_port = 0x5000;
	*hash = flow_hash(&t);
	*fingerprint = flow_table_fingerprint(&t);
}

static __u32 flow_state_crc(__u32 crc, const void *data, size_t size)
{
	const unsigned char *p = data;

	/* zlib's crc32() takes a uInt length: feed it in pieces. */
	while (size) {
		uInt n = size > (1u << 30) ? (1u << 30) : (uInt)size;
		crc = (__u32)crc32(crc, p, n);
		p += n;
		size -= n;
	}
	return crc;
}

static __u32 flow_state_header_crc(const struct flow_state_header *h)
{
	return flow_state_crc((__u32)crc32(0, Z_NULL, 0), h,
			      offsetof(struct flow_state_header, header_crc));
}

int flow_state_describe_gen(void *ctx, __u32 id, struct flow_state_member *out)
{
	const struct flow_state_gen_ctx *c = ctx;
	const struct gen_member *m = c->gen ? gen_member_get(c->gen, id) : NULL;
	struct chan_backend b;

	memset(out, 0, sizeof(*out));
	if (m && m->state != GEN_MEMBER_ABSENT) {
		const struct gen_vip *v = c->gen->vips[m->vip];
		for (__u32 i = 0; i < v->backend_count; i++) {
			if (v->member_ids[i] != id)
				continue;
			out->vip = v->key;
			memcpy(out->addr, v->backends[i].addr, sizeof(out->addr));
			out->port = v->backends[i].port;
			out->family = v->backends[i].family;
			return 0;
		}
	}
	/* Removed from the generation but still within the idle timeout: the
	 * registry keeps its key (and the old process would give the flow
	 * back to it, were it to return). */
	if (!c->registry || gen_registry_member_key(c->registry, id, &out->vip, &b))
		return -ENOENT;
	memcpy(out->addr, b.addr, sizeof(out->addr));
	out->port = b.port;
	out->family = b.family;
	return 0;
}

/* fwrite of n bytes, adding them to *crc. 0 or -errno. */
static int flow_state_put(FILE *f, const void *data, size_t n, __u32 *crc)
{
	if (fwrite(data, 1, n, f) != n)
		return errno ? -errno : -EIO;
	*crc = flow_state_crc(*crc, data, n);
	return 0;
}

int flow_state_save(const char *path, const struct flow_state_tables *t, __u64 generation,
		    __u32 longest_timeout_s, const struct flow_state_clock *now,
		    flow_state_describe_fn describe, void *ctx, struct flow_state_save_stats *st,
		    char *err, size_t err_size)
{
	struct flow_state_header h;
	struct flow_state_member *members = NULL;
	__u32 *index = NULL; /* member id -> record + 1; 0 = not seen, UINT32_MAX = unnamed */
	char tmp[4096];
	FILE *f = NULL;
	int fd = -1, rc;
	__u32 crc = (__u32)crc32(0, Z_NULL, 0);

	memset(st, 0, sizeof(*st));
	if (!t->workers || !longest_timeout_s) {
		flow_state_errorf(err, err_size, "%s: no flow tables or no idle timeout", path);
		return -EINVAL;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		flow_state_errorf(err, err_size, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	const struct flow_table *first = t->tables[0];
	for (__u32 w = 1; w < t->workers; w++) {
		if (t->tables[w]->bucket_mask != first->bucket_mask) {
			flow_state_errorf(err, err_size, "%s: worker %u's table differs in size", path, w);
			return -EINVAL;
		}
	}

	/* Pass 1: the members named by live entries, each recorded once. */
	index = calloc(GEN_MEMBERS_MAX, sizeof(*index));
	members = malloc(sizeof(*members) * 1024);
	__u32 members_cap = 1024;
	rc = -ENOMEM;
	if (!index || !members)
		goto fail;
	for (__u32 w = 0; w < t->workers; w++) {
		const struct flow_table *ft = t->tables[w];
		for (__u32 b = 0; b <= ft->bucket_mask; b++) {
			for (int way = 0; way < FLOW_TABLE_WAYS; way++) {
				const struct flow_slot *s = &ft->buckets[b].way[way];
				if (s->expires_s <= t->now_s[w])
					continue;
				if (s->member >= GEN_MEMBERS_MAX || index[s->member] == UINT32_MAX) {
					st->unnamed++;
					continue;
				}
				if (index[s->member]) {
					st->saved++;
					continue;
				}
				if (st->members == members_cap) {
					struct flow_state_member *bigger =
						realloc(members, sizeof(*members) * members_cap * 2);
					if (!bigger)
						goto fail;
					members = bigger;
					members_cap *= 2;
				}
				if (describe(ctx, s->member, &members[st->members])) {
					index[s->member] = UINT32_MAX;
					st->unnamed++;
					continue;
				}
				index[s->member] = ++st->members;
				st->saved++;
			}
		}
	}

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, FLOW_STATE_MAGIC, sizeof(h.magic));
	h.version = FLOW_STATE_VERSION;
	h.header_size = sizeof(h);
	h.workers = t->workers;
	h.buckets = first->bucket_mask + 1;
	h.ways = FLOW_TABLE_WAYS;
	h.member_count = st->members;
	h.entry_count = st->saved;
	h.generation = generation;
	h.saved_realtime_ns = now->realtime_ns;
	h.saved_boottime_ns = now->boottime_ns;
	memcpy(h.boot_id, now->boot_id, sizeof(h.boot_id));
	h.boot_id[sizeof(h.boot_id) - 1] = '\0';
	h.longest_timeout_s = longest_timeout_s;
	flow_state_probe(&h.hash_probe, &h.fingerprint_probe);

	/* Pass 2: write. The header goes last, once the body's CRC is known;
	 * a file cut short anywhere fails its checks. */
	unlink(tmp); /* left by a write that died half way */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		goto fail;
	}
	fd = -1;
	if (fseek(f, sizeof(h), SEEK_SET)) {
		rc = -errno;
		goto fail;
	}
	rc = flow_state_put(f, members, sizeof(*members) * st->members, &crc);
	__u64 written = 0;
	for (__u32 w = 0; rc == 0 && w < t->workers; w++) {
		const struct flow_table *ft = t->tables[w];
		for (__u32 b = 0; rc == 0 && b <= ft->bucket_mask; b++) {
			for (int way = 0; rc == 0 && way < FLOW_TABLE_WAYS; way++) {
				const struct flow_slot *s = &ft->buckets[b].way[way];
				if (s->expires_s <= t->now_s[w] || s->member >= GEN_MEMBERS_MAX ||
				    index[s->member] == UINT32_MAX || !index[s->member])
					continue;
				struct flow_state_entry e = {
					.fingerprint = s->fingerprint,
					.bucket = b,
					.member = index[s->member] - 1,
					.remaining_s = s->expires_s - t->now_s[w],
					.worker = (__u16)w,
				};
				/* A flow never has more life left than the longest
				 * idle timeout; the reader holds us to that. */
				if (e.remaining_s > longest_timeout_s)
					e.remaining_s = longest_timeout_s;
				rc = flow_state_put(f, &e, sizeof(e), &crc);
				written++;
			}
		}
	}
	if (rc)
		goto fail;
	h.body_crc = crc;
	h.header_crc = flow_state_header_crc(&h);
	if (fseek(f, 0, SEEK_SET) || fwrite(&h, 1, sizeof(h), f) != sizeof(h) || fflush(f) ||
	    fsync(fileno(f))) {
		rc = errno ? -errno : -EIO;
		goto fail;
	}
	rc = fclose(f) ? -errno : 0;
	f = NULL;
	if (rc)
		goto fail;
	if (written != st->saved) { /* the tables changed under us */
		rc = -EAGAIN;
		goto fail;
	}
	if (rename(tmp, path)) {
		rc = -errno;
		goto fail;
	}
	free(index);
	free(members);
	return 0;
fail:
	flow_state_errorf(err, err_size, "%s: %s", tmp,
			  rc == -EAGAIN ? "the flow tables changed while being saved"
					: strerror(-rc));
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(index);
	free(members);
	return rc;
}

void flow_state_destroy(struct flow_state *fs)
{
	if (!fs)
		return;
	free(fs->worker_start);
	free(fs->data);
	free(fs);
}

/* Reads exactly size bytes; 0, or -errno (-ENODATA at an early end). */
static int flow_state_read_all(int fd, void *buf, size_t size)
{
	char *p = buf;

	while (size) {
		ssize_t n = read(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

/* Checks every entry's fields and finds where each worker's run starts. */
static int flow_state_index(struct flow_state *fs, char *err, size_t err_size, const char *path)
{
	static const __u8 zero_pad[sizeof(((struct flow_state_member *)0)->pad)];
	const struct flow_state_header *h = &fs->head;
	__u32 worker = 0;

	fs->worker_start = calloc((size_t)h->workers + 1, sizeof(*fs->worker_start));
	if (!fs->worker_start) {
		flow_state_errorf(err, err_size, "%s: out of memory", path);
		return -ENOMEM;
	}
	for (__u64 i = 0; i < h->entry_count; i++) {
		const struct flow_state_entry *e = &fs->entries[i];
		if (e->worker >= h->workers || e->worker < worker || e->bucket >= h->buckets ||
		    e->member >= h->member_count || e->remaining_s == 0 ||
		    e->remaining_s > h->longest_timeout_s || e->pad) {
			flow_state_errorf(err, err_size,
					  "%s: flow %llu is malformed (worker %u, bucket %u, member "
					  "%u, %u s left)",
					  path, (unsigned long long)i, e->worker, e->bucket, e->member,
					  e->remaining_s);
			return -EINVAL;
		}
		while (worker < e->worker)
			fs->worker_start[++worker] = i;
	}
	while (worker < h->workers)
		fs->worker_start[++worker] = h->entry_count;
	for (__u32 m = 0; m < h->member_count; m++) {
		const struct flow_state_member *r = &fs->members[m];
		if ((r->family != FLOW_FAMILY_IPV4 && r->family != FLOW_FAMILY_IPV6) ||
		    (r->vip.family != FLOW_FAMILY_IPV4 && r->vip.family != FLOW_FAMILY_IPV6) ||
		    memcmp(r->pad, zero_pad, sizeof(r->pad)) != 0) {
			flow_state_errorf(err, err_size, "%s: member record %u is malformed", path, m);
			return -EINVAL;
		}
	}
	return 0;
}

struct flow_state *flow_state_load(const char *path, const struct flow_state_geometry *geo,
				   const struct flow_state_clock *now,
				   struct flow_state_load_info *info, char *err, size_t err_size)
{
	struct flow_state *fs = NULL;
	struct flow_state_header h;
	struct stat sb;
	__u32 hash_probe;
	__u64 fingerprint_probe;
	int fd, rc;

	memset(info, 0, sizeof(*info));
	info->age_s = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		info->status = errno == ENOENT ? FLOW_STATE_MISSING : FLOW_STATE_UNREADABLE;
		flow_state_errorf(err, err_size, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb)) {
		info->status = FLOW_STATE_UNREADABLE;
		flow_state_errorf(err, err_size, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		info->status = FLOW_STATE_UNREADABLE;
		flow_state_errorf(err, err_size, "%s: not a regular file", path);
		goto fail;
	}
	memset(&h, 0, sizeof(h));
	rc = flow_state_read_all(fd, &h, sizeof(h) < (size_t)sb.st_size ? sizeof(h)
									  : (size_t)sb.st_size);
	if (rc) {
		info->status = FLOW_STATE_UNREADABLE;
		flow_state_errorf(err, err_size, "%s: %s", path, strerror(-rc));
		goto fail;
	}
	if ((size_t)sb.st_size < sizeof(h.magic) ||
	    memcmp(h.magic, FLOW_STATE_MAGIC, sizeof(h.magic)) != 0) {
		info->status = FLOW_STATE_NOT_OURS;
		flow_state_errorf(err, err_size, "%s: not a flow state file (no " FLOW_STATE_MAGIC
				  " magic)", path);
		goto fail;
	}
	if ((size_t)sb.st_size < offsetof(struct flow_state_header, header_size)) {
		info->status = FLOW_STATE_TRUNCATED;
		flow_state_errorf(err, err_size, "%s: truncated: %lld bytes, a header has %zu", path,
				  (long long)sb.st_size, sizeof(h));
		goto fail;
	}
	if (h.version != FLOW_STATE_VERSION) {
		info->status = FLOW_STATE_OTHER_VERSION;
		flow_state_errorf(err, err_size, "%s: format version %u; this lb-dpdk reads %u",
				  path, h.version, FLOW_STATE_VERSION);
		goto fail;
	}
	if ((size_t)sb.st_size < sizeof(h)) {
		info->status = FLOW_STATE_TRUNCATED;
		flow_state_errorf(err, err_size, "%s: truncated: %lld bytes, a header has %zu", path,
				  (long long)sb.st_size, sizeof(h));
		goto fail;
	}
	if (h.header_size != sizeof(h) || h.header_crc != flow_state_header_crc(&h)) {
		info->status = FLOW_STATE_CORRUPT;
		flow_state_errorf(err, err_size, "%s: corrupt: header checksum is wrong", path);
		goto fail;
	}
	/* The header is now trusted: its counts size the body. */
	info->entries = h.entry_count;
	const unsigned __int128 want = (unsigned __int128)h.member_count *
					       sizeof(struct flow_state_member) +
				       (unsigned __int128)h.entry_count * sizeof(struct flow_state_entry);
	const __u64 body = (__u64)sb.st_size - sizeof(h);
	if (want > body) {
		info->status = FLOW_STATE_TRUNCATED;
		flow_state_errorf(err, err_size,
				  "%s: truncated: %llu bytes after the header, %llu flows and %u "
				  "members need %llu",
				  path, (unsigned long long)body, (unsigned long long)h.entry_count,
				  h.member_count, (unsigned long long)want);
		goto fail;
	}
	if (want < body) {
		info->status = FLOW_STATE_CORRUPT;
		flow_state_errorf(err, err_size, "%s: corrupt: %llu bytes after the last flow", path,
				  (unsigned long long)(body - want));
		goto fail;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs || !(fs->data = malloc(body ? body : 1))) {
		info->status = FLOW_STATE_UNREADABLE;
		flow_state_errorf(err, err_size, "%s: out of memory for %llu bytes", path,
				  (unsigned long long)body);
		goto fail;
	}
	rc = flow_state_read_all(fd, fs->data, body);
	if (rc) {
		/* The file shrank since fstat(): a writer is at work, or it was cut. */
		info->status = rc == -ENODATA ? FLOW_STATE_TRUNCATED : FLOW_STATE_UNREADABLE;
		flow_state_errorf(err, err_size, "%s: %s", path,
				  rc == -ENODATA ? "truncated while read" : strerror(-rc));
		goto fail;
	}
	if (flow_state_crc((__u32)crc32(0, Z_NULL, 0), fs->data, body) != h.body_crc) {
		info->status = FLOW_STATE_CORRUPT;
		flow_state_errorf(err, err_size, "%s: corrupt: checksum of the %llu flows is wrong",
				  path, (unsigned long long)h.entry_count);
		goto fail;
	}
	flow_state_probe(&hash_probe, &fingerprint_probe);
	if (h.hash_probe != hash_probe || h.fingerprint_probe != fingerprint_probe) {
		info->status = FLOW_STATE_OTHER_HASH;
		flow_state_errorf(err, err_size,
				  "%s: written by an lb-dpdk whose flow hash differs: its %llu flows "
				  "would land in the wrong buckets",
				  path, (unsigned long long)h.entry_count);
		goto fail;
	}
	if (h.workers != geo->workers || h.buckets != geo->buckets || h.ways != FLOW_TABLE_WAYS) {
		info->status = FLOW_STATE_GEOMETRY;
		flow_state_errorf(err, err_size,
				  "%s: %llu flows saved from %u workers x %u buckets x %u ways; this "
				  "lb-dpdk has %u x %u x %u: RSS and the buckets would not find them",
				  path, (unsigned long long)h.entry_count, h.workers, h.buckets, h.ways,
				  geo->workers, geo->buckets, FLOW_TABLE_WAYS);
		goto fail;
	}
	info->age_s = flow_state_file_age_s(&h, now);
	if (info->age_s < 0) {
		info->status = FLOW_STATE_CLOCK;
		flow_state_errorf(err, err_size,
				  "%s: written after now by the clock: the clock moved back, the "
				  "flows' age is unknown",
				  path);
		goto fail;
	}
	if (info->age_s > (long long)h.longest_timeout_s) {
		info->status = FLOW_STATE_STALE;
		flow_state_errorf(err, err_size,
				  "%s: stale: written %lld s ago, longer than the longest idle "
				  "timeout (%u s): every flow in it has expired",
				  path, info->age_s, h.longest_timeout_s);
		goto fail;
	}
	fs->head = h;
	fs->members = fs->data;
	fs->entries = (const void *)((const char *)fs->data +
				     (size_t)h.member_count * sizeof(struct flow_state_member));
	if (flow_state_index(fs, err, err_size, path)) {
		info->status = FLOW_STATE_CORRUPT;
		goto fail;
	}
	close(fd);
	info->status = FLOW_STATE_LOADED;
	return fs;
fail:
	flow_state_destroy(fs);
	close(fd);
	return NULL;
}

/* Order of member records by key, for the resolver's binary search. */
static int flow_state_member_cmp(const struct flow_state_member *a,
				 const struct flow_state_member *b)
{
	int c = memcmp(a->vip.addr, b->vip.addr, sizeof(a->vip.addr));

	if (c)
		return c;
	if (a->vip.port != b->vip.port)
		return a->vip.port < b->vip.port ? -1 : 1;
	if (a->vip.proto != b->vip.proto)
		return a->vip.proto < b->vip.proto ? -1 : 1;
	if (a->vip.family != b->vip.family)
		return a->vip.family < b->vip.family ? -1 : 1;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	return a->port == b->port ? 0 : a->port < b->port ? -1 : 1;
}

/* qsort_r() order of indices into the member records (ctx). */
static int flow_state_index_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct flow_state_member *members = ctx;

	return flow_state_member_cmp(&members[*(const __u32 *)pa], &members[*(const __u32 *)pb]);
}

__u32 *flow_state_resolve(const struct flow_state *fs, const struct gen *g)
{
	const __u32 n = fs->head.member_count;
	__u32 *map = malloc((n ? n : 1) * sizeof(*map));
	__u32 *order = malloc((n ? n : 1) * sizeof(*order));

	if (!map || !order) {
		free(map);
		free(order);
		errno = ENOMEM;
		return NULL;
	}
	for (__u32 i = 0; i < n; i++) {
		map[i] = FLOW_STATE_BACKEND_GONE;
		order[i] = i;
	}
	qsort_r(order, n, sizeof(*order), flow_state_index_cmp, (void *)fs->members);

	/* Every member of g looked up among the saved ones: O(B log M). */
	for (__u32 vi = 0; g && n && vi < g->vip_count; vi++) {
		const struct gen_vip *v = g->vips[vi];
		for (__u32 b = 0; b < v->backend_count; b++) {
			struct flow_state_member probe;
			memset(&probe, 0, sizeof(probe));
			probe.vip = v->key;
			memcpy(probe.addr, v->backends[b].addr, sizeof(probe.addr));
			probe.port = v->backends[b].port;
			probe.family = v->backends[b].family;
			__u32 lo = 0, hi = n;
			while (lo < hi) {
				__u32 mid = lo + (hi - lo) / 2;
				if (flow_state_member_cmp(&fs->members[order[mid]], &probe) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < n && flow_state_member_cmp(&fs->members[order[lo]], &probe) == 0 &&
			    gen_member_get(g, v->member_ids[b]) &&
			    gen_member_get(g, v->member_ids[b])->state != GEN_MEMBER_ABSENT)
				map[order[lo]] = v->member_ids[b];
		}
	}
	/* What is left: is the VIP gone, or only the backend? */
	for (__u32 i = 0; i < n; i++) {
		if (map[i] != FLOW_STATE_BACKEND_GONE)
			continue;
		const struct chan_vip_key *k = &fs->members[i].vip;
		struct flow_tuple t;
		memset(&t, 0, sizeof(t));
		memcpy(t.dst_addr, k->addr, sizeof(t.dst_addr));
		t.dst_port = k->port;
		t.proto = k->proto;
		t.family = k->family;
		if (!g || !gen_vip_find(g, &t, 0))
			map[i] = FLOW_STATE_VIP_GONE;
	}
	free(order);
	return map;
}

void flow_state_restore_table(const struct flow_state *fs, const __u32 *map, __u32 worker,
			      struct flow_table *ft, __u32 now_s, __u64 elapsed_s,
			      struct flow_state_restore_stats *st)
{
	if (worker >= fs->head.workers)
		return;
	for (__u64 i = fs->worker_start[worker]; i < fs->worker_start[worker + 1]; i++) {
		const struct flow_state_entry *e = &fs->entries[i];
		const __u32 id = map[e->member];
		if (id == FLOW_STATE_VIP_GONE) {
			st->vip_gone++;
			continue;
		}
		if (id == FLOW_STATE_BACKEND_GONE) {
			st->backend_gone++;
			continue;
		}
		if (e->remaining_s <= elapsed_s) {
			st->expired++;
			continue;
		}
		/* bucket == hash & mask, and the table has the file's mask, so
		 * the bucket index stands for the hash. */
		__u32 expires = now_s + e->remaining_s - (__u32)elapsed_s;
		if (flow_table_insert(ft, e->bucket, e->fingerprint, id, now_s, expires) !=
		    FLOW_TABLE_INSERTED)
			st->collided++;
		else
			st->restored++;
	}
}
