/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's flow state file: flow tables saved and restored into fresh
 * tables of another process (member ids resolved by VIP and backend, life
 * left kept less the time on disk), and every kind of bad file refused with
 * its reason, never half applied.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "dataplane/flow_state.h"
#include "tests/unit/vip_payload.h"

#define TABLE    97u
#define CAPACITY 1024u /* 128 buckets of 8 */
#define WORKERS  2
#define FLOWS    400u
#define TIMEOUT  300u

/* A process's side: its registry, its generation, its tables. */
struct side {
	struct gen_registry *reg;
	struct gen *g;
	struct flow_table ft[WORKERS];
	void *mem[WORKERS];
	__u32 now_s[WORKERS];
};

static char dir[] = "/tmp/fulcrum-flow-state.XXXXXX";
static char path[sizeof(dir) + 32];

static struct chan_gen_begin begin_n(__u64 generation, __u32 vips)
{
	struct chan_gen_begin b = { .generation = generation, .vip_count = vips,
				    .encap = PKT_ENCAP_IPIP, .tcp_idle_timeout_s = TIMEOUT,
				    .udp_idle_timeout_s = 30 };
	return b;
}

static void add(struct gen_builder *gb, __u8 host, __u16 port, __u8 proto,
		const struct chan_backend *b, __u32 n)
{
	struct chan_vip_key key = vip_key_v4(host, port, proto);
	struct vip_payload p = vip_payload_build(&key, "v", b, n, TABLE);
	struct chan_vip_view view;
	char err[256];

	assert_int_equal(chan_vip_decode(p.data, p.length, &view, err, sizeof(err)), 0);
	assert_int_equal(gen_builder_add_vip(gb, &view, err, sizeof(err)), 0);
	free(p.data);
}

static struct gen *finish(struct gen_builder *gb)
{
	char err[256] = "";
	struct gen *g = gen_builder_finish(gb, NULL, NULL, 100, err, sizeof(err));

	if (!g)
		printf("finish refused: %s\n", err);
	assert_non_null(g);
	return g;
}

static void side_tables(struct side *s, __u32 now0, __u32 now1)
{
	for (int w = 0; w < WORKERS; w++) {
		s->mem[w] = aligned_alloc(FLOW_TABLE_BUCKET, flow_table_mem_size(CAPACITY));
		assert_non_null(s->mem[w]);
		assert_int_equal(flow_table_init(&s->ft[w], s->mem[w], CAPACITY), 0);
	}
	s->now_s[0] = now0;
	s->now_s[1] = now1;
}

/*
 * The old process: web (192.0.2.1:80/tcp) on b1, b2, b3 (draining), dns
 * (192.0.2.1:53/udp) on b9.
 */
static void old_side(struct side *s)
{
	struct chan_backend web[3] = { backend_v4(1, CHAN_BACKEND_READY),
				       backend_v4(2, CHAN_BACKEND_READY),
				       backend_v4(3, CHAN_BACKEND_DRAIN) };
	struct chan_backend dns[1] = { backend_v4(9, CHAN_BACKEND_READY) };
	struct chan_gen_begin begin = begin_n(7, 2);

	memset(s, 0, sizeof(*s));
	s->reg = gen_registry_create();
	struct gen_builder *gb = gen_builder_create(s->reg, &begin, NULL);
	add(gb, 1, 80, PKT_PROTO_TCP, web, 3);
	add(gb, 1, 53, PKT_PROTO_UDP, dns, 1);
	s->g = finish(gb);
	side_tables(s, 1000, 2000);
}

/*
 * The new process's first generation: another VIP first, so that ids
 * differ; web without b1, with b4, b3 still draining; no dns.
 */
static void new_side(struct side *s)
{
	struct chan_backend other[4] = { backend_v4(5, CHAN_BACKEND_READY),
					 backend_v4(6, CHAN_BACKEND_READY),
					 backend_v4(7, CHAN_BACKEND_READY),
					 backend_v4(8, CHAN_BACKEND_READY) };
	struct chan_backend web[3] = { backend_v4(4, CHAN_BACKEND_READY),
				       backend_v4(3, CHAN_BACKEND_DRAIN),
				       backend_v4(2, CHAN_BACKEND_READY) };
	struct chan_gen_begin begin = begin_n(1, 2);

	memset(s, 0, sizeof(*s));
	s->reg = gen_registry_create();
	struct gen_builder *gb = gen_builder_create(s->reg, &begin, NULL);
	add(gb, 7, 80, PKT_PROTO_TCP, other, 4);
	add(gb, 1, 80, PKT_PROTO_TCP, web, 3);
	s->g = finish(gb);
	side_tables(s, 1, 1);
}

static void side_fini(struct side *s)
{
	for (int w = 0; w < WORKERS; w++)
		free(s->mem[w]);
	gen_destroy(s->g);
	gen_registry_destroy(s->reg);
}

/* The member id of backend 10.0.0.<host> of the VIP at 192.0.2.1:port in g. */
static __u32 member_of(const struct gen *g, __u16 port, __u8 host)
{
	for (__u32 v = 0; v < g->vip_count; v++) {
		const struct gen_vip *vip = g->vips[v];
		if (ntohl(vip->key.addr[0]) != 0xc0000201u || ntohs(vip->key.port) != port)
			continue;
		for (__u32 b = 0; b < vip->backend_count; b++)
			if ((ntohl(vip->backends[b].addr[0]) & 0xff) == host)
				return vip->member_ids[b];
	}
	return FLOW_NO_BACKEND;
}

static struct flow_tuple tuple_n(__u32 n)
{
	struct flow_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = FLOW_FAMILY_IPV4;
	t.proto = PKT_PROTO_TCP;
	t.src_addr[0] = htonl(0x0a010000u | n);
	t.src_port = htons((__u16)(1024 + n));
	t.dst_addr[0] = htonl(0xc0000201u);
	t.dst_port = htons(80);
	return t;
}

/* Flow n: its worker, its backend (host), the life it has left when saved
 * (0: expired already, never saved). */
static int flow_worker(__u32 n) { return (int)(n % WORKERS); }
static __u8 flow_host(__u32 n)
{
	static const __u8 hosts[4] = { 1, 2, 3, 9 };
	return hosts[n % 4];
}
static __u32 flow_left(__u32 n) { return n % 97 == 0 ? 0 : 1 + (n * 7) % TIMEOUT; }

/* Fills the old side's tables with FLOWS flows. */
static void fill(struct side *s)
{
	for (__u32 n = 0; n < FLOWS; n++) {
		struct flow_tuple t = tuple_n(n);
		int w = flow_worker(n);
		__u32 id = member_of(s->g, flow_host(n) == 9 ? 53 : 80, flow_host(n));
		assert_int_not_equal(id, FLOW_NO_BACKEND);
		/* An expired flow: inserted live, then the clock passes it. */
		__u32 expires = flow_left(n) ? s->now_s[w] + flow_left(n) : s->now_s[w];
		flow_table_insert(&s->ft[w], flow_hash(&t), flow_table_fingerprint(&t), id,
				  s->now_s[w] - 1, expires);
	}
}

static const struct flow_state_clock saved_at = {
	.realtime_ns = 1800000000ull * 1000000000ull,
	.boottime_ns = 5000ull * 1000000000ull,
	.boot_id = "6f1c2d0e-0000-4000-8000-000000000001",
};

/* saved_at plus seconds, on the same boot. */
static struct flow_state_clock later(__u64 seconds)
{
	struct flow_state_clock c = saved_at;

	c.realtime_ns += seconds * 1000000000ull;
	c.boottime_ns += seconds * 1000000000ull;
	return c;
}

static int save(struct side *s, struct flow_state_save_stats *st)
{
	const struct flow_table *tables[WORKERS] = { &s->ft[0], &s->ft[1] };
	struct flow_state_tables t = { .tables = tables, .now_s = s->now_s, .workers = WORKERS };
	struct flow_state_gen_ctx ctx = { .gen = s->g, .registry = s->reg };
	char err[512] = "";
	int rc = flow_state_save(path, &t, s->g->id, TIMEOUT, &saved_at, flow_state_describe_gen,
				 &ctx, st, err, sizeof(err));
	if (rc)
		printf("save: %s\n", err);
	return rc;
}

/* Saves the standard scene to path. Returns the flows saved. */
static __u64 save_scene(void)
{
	struct side old;
	struct flow_state_save_stats st;

	old_side(&old);
	fill(&old);
	assert_int_equal(save(&old, &st), 0);
	side_fini(&old);
	return st.saved;
}

static const struct flow_state_geometry geometry = { .workers = WORKERS,
						     .buckets = CAPACITY / FLOW_TABLE_WAYS };

static void test_round_trip_resolves_members_and_keeps_life_left(void **state)
{
	(void)state;
	struct side old, fresh;
	struct flow_state_save_stats st;
	__u32 live = 0, expect_restored = 0, expect_vip_gone = 0, expect_backend_gone = 0,
	      expect_expired = 0;
	const __u32 elapsed = 20;

	old_side(&old);
	fill(&old);
	assert_int_equal(save(&old, &st), 0);
	for (__u32 n = 0; n < FLOWS; n++) {
		if (!flow_left(n))
			continue;
		live++;
		if (flow_host(n) == 9)
			expect_vip_gone++;
		else if (flow_host(n) == 1)
			expect_backend_gone++;
		else if (flow_left(n) <= elapsed)
			expect_expired++;
		else
			expect_restored++;
	}
	assert_int_equal(st.saved, live);
	assert_int_equal(st.members, 4);
	assert_int_equal(st.unnamed, 0);
	struct stat sb;
	char tmp[sizeof(path) + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, sizeof(struct flow_state_header) +
					      4 * sizeof(struct flow_state_member) +
					      live * sizeof(struct flow_state_entry));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(tmp, &sb), -1);

	new_side(&fresh);
	struct flow_state_clock now = later(elapsed);
	struct flow_state_load_info info;
	char err[512] = "";
	struct flow_state *fs = flow_state_load(path, &geometry, &now, &info, err, sizeof(err));
	if (!fs)
		printf("load: %s\n", err);
	assert_non_null(fs);
	assert_int_equal(info.status, FLOW_STATE_LOADED);
	assert_int_equal(info.entries, live);
	assert_int_equal(info.age_s, elapsed);
	assert_int_equal(fs->head.generation, 7);

	__u32 *map = flow_state_resolve(fs, fresh.g);
	assert_non_null(map);
	struct flow_state_restore_stats rs = { 0 };
	for (int w = 0; w < WORKERS; w++)
		flow_state_restore_table(fs, map, (__u32)w, &fresh.ft[w], fresh.now_s[w], elapsed,
					 &rs);
	assert_int_equal(rs.restored, expect_restored);
	assert_int_equal(rs.vip_gone, expect_vip_gone);
	assert_int_equal(rs.backend_gone, expect_backend_gone);
	assert_int_equal(rs.expired, expect_expired);
	assert_int_equal(rs.collided, 0);

	/* Every flow where it belongs: b2 and the draining b3 under their
	 * new ids, with the life they had less the time on disk. */
	__u32 found = 0;
	for (__u32 n = 0; n < FLOWS; n++) {
		struct flow_tuple t = tuple_n(n);
		struct flow_slot slot;
		int w = flow_worker(n);
		int hit = flow_table_peek(&fresh.ft[w], flow_hash(&t), flow_table_fingerprint(&t),
					  fresh.now_s[w], &slot);
		int other = flow_table_peek(&fresh.ft[1 - w], flow_hash(&t),
					    flow_table_fingerprint(&t), fresh.now_s[1 - w], &slot);
		assert_false(other);
		if (!flow_left(n) || flow_host(n) == 1 || flow_host(n) == 9 ||
		    flow_left(n) <= elapsed) {
			assert_false(hit);
			continue;
		}
		assert_true(flow_table_peek(&fresh.ft[w], flow_hash(&t),
					    flow_table_fingerprint(&t), fresh.now_s[w], &slot));
		assert_int_equal(slot.member, member_of(fresh.g, 80, flow_host(n)));
		assert_int_not_equal(slot.member, member_of(old.g, 80, flow_host(n)));
		assert_int_equal(slot.expires_s, fresh.now_s[w] + flow_left(n) - elapsed);
		found++;
	}
	assert_int_equal(found, expect_restored);
	printf("%u live flows of %u saved (4 members), restored %u s later into another "
	       "process's tables: %u restored under new member ids with life left less %u s, "
	       "%u dropped (VIP gone), %u (backend gone), %u (expired on disk)\n",
	       live, FLOWS, elapsed, found, elapsed, expect_vip_gone, expect_backend_gone,
	       expect_expired);
	free(map);
	flow_state_destroy(fs);
	side_fini(&fresh);
	side_fini(&old);
}

static void test_member_resolution_by_vip_and_backend(void **state)
{
	(void)state;
	struct side old, fresh;

	save_scene();
	old_side(&old);
	new_side(&fresh);
	struct flow_state_clock now = later(1);
	struct flow_state_load_info info;
	char err[512];
	struct flow_state *fs = flow_state_load(path, &geometry, &now, &info, err, sizeof(err));
	assert_non_null(fs);
	__u32 *map = flow_state_resolve(fs, fresh.g);
	assert_non_null(map);
	int seen[10] = { 0 };
	for (__u32 m = 0; m < fs->head.member_count; m++) {
		const struct flow_state_member *r = &fs->members[m];
		__u8 host = (__u8)(ntohl(r->addr[0]) & 0xff);
		seen[host] = 1;
		switch (host) {
		case 1: /* web's b1, removed */
			assert_int_equal(map[m], FLOW_STATE_BACKEND_GONE);
			break;
		case 9: /* dns, removed with its VIP */
			assert_int_equal(map[m], FLOW_STATE_VIP_GONE);
			break;
		default: /* b2 ready, b3 draining: kept, under the new ids */
			assert_int_equal(map[m], member_of(fresh.g, 80, host));
			assert_int_not_equal(gen_member_get(fresh.g, map[m])->state,
					     GEN_MEMBER_ABSENT);
		}
	}
	assert_true(seen[1] && seen[2] && seen[3] && seen[9]);
	printf("saved members resolved by (VIP, backend): b2 %u -> %u, draining b3 %u -> %u; "
	       "b1 backend gone; dns's b9 VIP gone\n",
	       member_of(old.g, 80, 2), member_of(fresh.g, 80, 2), member_of(old.g, 80, 3),
	       member_of(fresh.g, 80, 3));
	free(map);

	/* No generation at all: every VIP is gone. */
	map = flow_state_resolve(fs, NULL);
	for (__u32 m = 0; m < fs->head.member_count; m++)
		assert_int_equal(map[m], FLOW_STATE_VIP_GONE);
	free(map);
	flow_state_destroy(fs);
	side_fini(&fresh);
	side_fini(&old);
}

static void test_members_removed_but_remembered_are_named(void **state)
{
	(void)state;
	struct side s;
	struct flow_state_member m;

	old_side(&s);
	__u32 b1 = member_of(s.g, 80, 1);
	/* A generation without b1: its id lives on in the registry. */
	struct chan_backend web[2] = { backend_v4(2, CHAN_BACKEND_READY),
				       backend_v4(3, CHAN_BACKEND_DRAIN) };
	struct chan_backend dns[1] = { backend_v4(9, CHAN_BACKEND_READY) };
	struct chan_gen_begin begin = begin_n(8, 2);
	struct gen_builder *gb = gen_builder_create(s.reg, &begin, s.g);
	add(gb, 1, 80, PKT_PROTO_TCP, web, 2);
	add(gb, 1, 53, PKT_PROTO_UDP, dns, 1);
	struct gen *g2 = finish(gb);
	struct flow_state_gen_ctx ctx = { .gen = g2, .registry = s.reg };

	assert_int_equal(flow_state_describe_gen(&ctx, b1, &m), 0);
	assert_int_equal(ntohl(m.addr[0]), 0x0a000001u);
	assert_int_equal(ntohs(m.vip.port), 80);
	assert_int_equal(m.family, FLOW_FAMILY_IPV4);
	assert_int_equal(flow_state_describe_gen(&ctx, 12345, &m), -ENOENT);
	printf("a member removed from the generation but within the idle timeout is still "
	       "named (10.0.0.1 of :80); an id never given is not\n");
	gen_destroy(g2);
	side_fini(&s);
}

static void test_life_left_is_capped_and_expired_flows_are_not_saved(void **state)
{
	(void)state;
	struct side s;
	struct flow_state_save_stats st;
	struct flow_tuple t = tuple_n(1), u = tuple_n(2), x = tuple_n(3);

	old_side(&s);
	__u32 id = member_of(s.g, 80, 2);
	/* Given under a longer timeout than the generation's: capped. */
	flow_table_insert(&s.ft[0], flow_hash(&t), flow_table_fingerprint(&t), id, 999,
			  s.now_s[0] + 5000);
	flow_table_insert(&s.ft[0], flow_hash(&u), flow_table_fingerprint(&u), id, 999,
			  s.now_s[0] + 1);
	flow_table_insert(&s.ft[0], flow_hash(&x), flow_table_fingerprint(&x), id, 999,
			  s.now_s[0]); /* expires now: not live */
	assert_int_equal(save(&s, &st), 0);
	assert_int_equal(st.saved, 2);

	struct flow_state_clock now = later(0);
	struct flow_state_load_info info;
	char err[512];
	struct flow_state *fs = flow_state_load(path, &geometry, &now, &info, err, sizeof(err));
	assert_non_null(fs);
	__u32 left[2] = { fs->entries[0].remaining_s, fs->entries[1].remaining_s };
	assert_true((left[0] == TIMEOUT && left[1] == 1) || (left[0] == 1 && left[1] == TIMEOUT));
	flow_state_destroy(fs);

	/* One second on disk: the flow with one second left is gone. */
	now = later(1);
	fs = flow_state_load(path, &geometry, &now, &info, err, sizeof(err));
	assert_non_null(fs);
	__u32 *map = flow_state_resolve(fs, s.g);
	struct flow_state_restore_stats rs = { 0 };
	struct side fresh;
	new_side(&fresh);
	flow_state_restore_table(fs, map, 0, &fresh.ft[0], 50, 1, &rs);
	assert_int_equal(rs.restored, 1);
	assert_int_equal(rs.expired, 1);
	printf("life left capped at the longest idle timeout (5000 s -> %u s); a flow expiring "
	       "now not saved; one with 1 s left expired after 1 s on disk\n",
	       TIMEOUT);
	free(map);
	flow_state_destroy(fs);
	side_fini(&fresh);
	side_fini(&s);
}

static void test_age_uses_boottime_on_the_same_boot(void **state)
{
	(void)state;
	struct flow_state_clock now = later(30);

	assert_int_equal(flow_state_age_s(&saved_at, &now), 30);
	/* The wall clock stepped back an hour: same boot, boottime rules. */
	now.realtime_ns -= 3600ull * 1000000000ull;
	assert_int_equal(flow_state_age_s(&saved_at, &now), 30);
	/* Another boot: boottime restarted, realtime it is. */
	now = later(30);
	now.boottime_ns = 10ull * 1000000000ull;
	now.boot_id[0] = 'x';
	assert_int_equal(flow_state_age_s(&saved_at, &now), 30);
	now.realtime_ns = saved_at.realtime_ns - 1000000000ull;
	assert_int_equal(flow_state_age_s(&saved_at, &now), -1);
	printf("age: 30 s by CLOCK_BOOTTIME on one boot (even with the wall clock stepped back), "
	       "by CLOCK_REALTIME across boots, -1 when written in the future\n");
}

/* ---- bad files ------------------------------------------------------- */

static void read_file(void **data, size_t *size)
{
	struct stat sb;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	*size = (size_t)sb.st_size;
	*data = malloc(*size + 1);
	assert_int_equal(read(fd, *data, *size), (ssize_t)*size);
	close(fd);
}

static void write_file(const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	close(fd);
}

/* Recomputes both checksums, as a careful forger would. */
static void fix_crcs(void *data, size_t size)
{
	struct flow_state_header *h = data;

	h->body_crc = (__u32)crc32(crc32(0, Z_NULL, 0), (const Bytef *)data + sizeof(*h),
				   (uInt)(size - sizeof(*h)));
	h->header_crc = (__u32)crc32(crc32(0, Z_NULL, 0), data,
				     offsetof(struct flow_state_header, header_crc));
}

/* Loads path expecting refusal with status and a message containing what. */
static void refused(const char *name, enum flow_state_status status, const char *what,
		    const struct flow_state_geometry *geo, const struct flow_state_clock *now)
{
	struct flow_state_load_info info;
	char err[512] = "";
	struct flow_state *fs = flow_state_load(path, geo ? geo : &geometry, now, &info, err,
						sizeof(err));

	printf("  %-28s -> %s: %s\n", name, flow_state_status_name(info.status), err);
	assert_null(fs);
	assert_int_equal(info.status, status);
	assert_non_null(strstr(err, what));
	assert_non_null(strstr(err, path));
}

static void test_bad_files_are_refused_with_their_reason(void **state)
{
	(void)state;
	struct flow_state_clock now = later(10);
	__u64 saved = save_scene();
	void *good;
	size_t size;
	char *copy;

	read_file(&good, &size);
	copy = malloc(size);
	printf("a good file of %zu bytes (%llu flows), then:\n", size, (unsigned long long)saved);

	unlink(path);
	refused("missing", FLOW_STATE_MISSING, "No such file", NULL, &now);

	assert_int_equal(mkdir(path, 0700), 0);
	refused("a directory", FLOW_STATE_UNREADABLE, "not a regular file", NULL, &now);
	rmdir(path);

	write_file("", 0);
	refused("empty", FLOW_STATE_NOT_OURS, "not a flow state file", NULL, &now);
	write_file("# lbd state\nbackend web b1 drain\n", 33);
	refused("another file", FLOW_STATE_NOT_OURS, "not a flow state file", NULL, &now);

	memcpy(copy, good, size);
	((struct flow_state_header *)copy)->version = 2;
	fix_crcs(copy, size);
	write_file(copy, size);
	refused("version 2", FLOW_STATE_OTHER_VERSION, "format version 2", NULL, &now);

	static const size_t cuts[] = { 10, 64, sizeof(struct flow_state_header),
				       sizeof(struct flow_state_header) + 30 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "cut at %zu bytes", cuts[i]);
		write_file(good, cuts[i]);
		refused(name, FLOW_STATE_TRUNCATED, "truncated", NULL, &now);
	}
	write_file(good, size - 1);
	refused("last byte missing", FLOW_STATE_TRUNCATED, "truncated", NULL, &now);

	memcpy(copy, good, size);
	copy[size - 5] ^= 0x40;
	write_file(copy, size);
	refused("a flow's bit flipped", FLOW_STATE_CORRUPT, "checksum", NULL, &now);
	memcpy(copy, good, size);
	((struct flow_state_header *)copy)->entry_count--;
	write_file(copy, size);
	refused("header changed", FLOW_STATE_CORRUPT, "header checksum", NULL, &now);

	char *longer = malloc(size + 24);
	memcpy(longer, good, size);
	memset(longer + size, 0, 24);
	write_file(longer, size + 24);
	refused("24 bytes appended", FLOW_STATE_CORRUPT, "after the last flow", NULL, &now);
	free(longer);

	memcpy(copy, good, size);
	((struct flow_state_header *)copy)->hash_probe ^= 1;
	fix_crcs(copy, size);
	write_file(copy, size);
	refused("another flow hash", FLOW_STATE_OTHER_HASH, "flow hash differs", NULL, &now);

	/* Checksums right, fields wrong: a bucket past the table, a member
	 * past the member table, more life than the timeout allows. */
	const size_t first = sizeof(struct flow_state_header) +
			     ((struct flow_state_header *)good)->member_count *
				     sizeof(struct flow_state_member);
	struct flow_state_entry *e = (void *)(copy + first);
	memcpy(copy, good, size);
	e->bucket = geometry.buckets;
	fix_crcs(copy, size);
	write_file(copy, size);
	refused("bucket out of range", FLOW_STATE_CORRUPT, "malformed", NULL, &now);
	memcpy(copy, good, size);
	e->member = 4;
	fix_crcs(copy, size);
	write_file(copy, size);
	refused("member out of range", FLOW_STATE_CORRUPT, "malformed", NULL, &now);
	memcpy(copy, good, size);
	e->remaining_s = TIMEOUT + 1;
	fix_crcs(copy, size);
	write_file(copy, size);
	refused("life beyond the timeout", FLOW_STATE_CORRUPT, "malformed", NULL, &now);
	memcpy(copy, good, size);
	e[1].worker = 1;
	e[2].worker = 0; /* not grouped by worker */
	fix_crcs(copy, size);
	write_file(copy, size);
	refused("workers out of order", FLOW_STATE_CORRUPT, "malformed", NULL, &now);

	write_file(good, size);
	struct flow_state_geometry other = { .workers = WORKERS + 1, .buckets = geometry.buckets };
	struct flow_state_load_info info;
	char err[512];
	refused("3 workers now", FLOW_STATE_GEOMETRY, "2 workers", &other, &now);
	assert_null(flow_state_load(path, &other, &now, &info, err, sizeof(err)));
	assert_int_equal(info.entries, saved); /* counted as not placed */
	other = (struct flow_state_geometry){ .workers = WORKERS, .buckets = 2 * geometry.buckets };
	refused("a table twice the size", FLOW_STATE_GEOMETRY, "128 buckets", &other, &now);

	struct flow_state_clock stale = later(TIMEOUT + 1);
	refused("older than the timeout", FLOW_STATE_STALE, "stale", NULL, &stale);
	struct flow_state_clock past = saved_at;
	past.boottime_ns -= 1000000000ull;
	refused("written in the future", FLOW_STATE_CLOCK, "clock moved back", NULL, &past);

	/* After all that, the good file still loads. */
	struct flow_state *fs = flow_state_load(path, &geometry, &now, &info, err, sizeof(err));
	assert_non_null(fs);
	flow_state_destroy(fs);
	free(copy);
	free(good);
}

/*
 * Random damage, 3000 times: bytes changed (half the time with both
 * checksums made right again, so that the field checks are reached), or
 * the file cut short. Every load refuses with a status or loads a file
 * whose every flow is then restored or dropped under a reason, under ASan.
 */
static void test_random_damage_is_refused_or_restored_whole(void **state)
{
	(void)state;
	struct flow_state_clock now = later(10);
	struct side fresh;
	void *good;
	size_t size;
	__u64 rng = 0x9e3779b97f4a7c15ull;
	__u32 by_status[FLOW_STATE_STATUS_COUNT] = { 0 };

	save_scene();
	read_file(&good, &size);
	char *copy = malloc(size);
	new_side(&fresh);
	for (int round = 0; round < 3000; round++) {
		size_t len = size;
		memcpy(copy, good, size);
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		if ((rng >> 60) == 0) {
			len = (size_t)((rng >> 20) % size);
		} else {
			int changes = 1 + (int)((rng >> 40) % 4);
			for (int c = 0; c < changes; c++) {
				rng = rng * 6364136223846793005ull + 1442695040888963407ull;
				copy[(rng >> 16) % size] = (char)(rng >> 56);
			}
			if (rng & 0x100)
				fix_crcs(copy, size);
		}
		write_file(copy, len);
		struct flow_state_load_info info;
		char err[512];
		struct flow_state *fs = flow_state_load(path, &geometry, &now, &info, err,
							sizeof(err));
		assert_true(info.status < FLOW_STATE_STATUS_COUNT);
		by_status[info.status]++;
		if (!fs) {
			assert_true(info.status != FLOW_STATE_LOADED && err[0]);
			continue;
		}
		__u32 *map = flow_state_resolve(fs, fresh.g);
		struct flow_state_restore_stats rs = { 0 };
		for (int w = 0; w < WORKERS; w++) {
			flow_table_clear(&fresh.ft[w]);
			flow_state_restore_table(fs, map, (__u32)w, &fresh.ft[w], 1, 10, &rs);
		}
		assert_int_equal(rs.restored + rs.vip_gone + rs.backend_gone + rs.expired +
					 rs.collided,
				 fs->head.entry_count);
		free(map);
		flow_state_destroy(fs);
	}
	printf("3000 damaged files:");
	for (int st = 0; st < FLOW_STATE_STATUS_COUNT; st++)
		if (by_status[st])
			printf(" %s %u", flow_state_status_name((enum flow_state_status)st),
			       by_status[st]);
	printf(" (the loaded ones, their checksums made right again: every flow restored or dropped under a reason)\n");
	side_fini(&fresh);
	free(copy);
	free(good);
}

static void test_save_failure_leaves_nothing(void **state)
{
	(void)state;
	struct side s;
	struct flow_state_save_stats st;
	const struct flow_table *tables[WORKERS];
	char bad[sizeof(path) + 32], err[512] = "", tmp[sizeof(bad) + 8];

	old_side(&s);
	fill(&s);
	tables[0] = &s.ft[0];
	tables[1] = &s.ft[1];
	struct flow_state_tables t = { .tables = tables, .now_s = s.now_s, .workers = WORKERS };
	struct flow_state_gen_ctx ctx = { .gen = s.g, .registry = s.reg };
	snprintf(bad, sizeof(bad), "%s/no-such-dir/flows", dir);
	int rc = flow_state_save(bad, &t, 1, TIMEOUT, &saved_at, flow_state_describe_gen, &ctx,
				 &st, err, sizeof(err));
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err, "no-such-dir/flows.tmp"));
	snprintf(tmp, sizeof(tmp), "%s.tmp", bad);
	assert_int_equal(access(tmp, F_OK), -1);
	printf("save into a missing directory: %s (nothing left behind)\n", err);
	side_fini(&s);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/lb-dpdk.flows", dir);
	return 0;
}

static int teardown(void **state)
{
	char tmp[sizeof(path) + 8];

	(void)state;
	unlink(path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_resolves_members_and_keeps_life_left),
		cmocka_unit_test(test_member_resolution_by_vip_and_backend),
		cmocka_unit_test(test_members_removed_but_remembered_are_named),
		cmocka_unit_test(test_life_left_is_capped_and_expired_flows_are_not_saved),
		cmocka_unit_test(test_age_uses_boottime_on_the_same_boot),
		cmocka_unit_test(test_bad_files_are_refused_with_their_reason),
		cmocka_unit_test(test_random_damage_is_refused_or_restored_whole),
		cmocka_unit_test(test_save_failure_leaves_nothing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
