/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The lbd <-> lb-dpdk channel (dataplane/chan.c) on any byte stream, and what
 * lb-dpdk does with what it decodes: the input is everything lbd writes on
 * one connection, read with chan_reader_fill() from a socket in uneven
 * pieces, each message handled as dataplane/control.c handles it, with the
 * same table-generation builder (dataplane/gen.c; control.c itself needs
 * DPDK, the builder does not).
 *
 * Invariants:
 *  - the reader returns only whole messages with a header it accepts, and
 *    stops for good at the first bad header;
 *  - every decoder (both directions: lb-dpdk's GEN_BEGIN, GEN_VIP and
 *    FLOW_FIND, lbd's MEMBERS and FLOW) is tried on every payload, from a
 *    heap block of exactly the payload's size: none reads past the frame;
 *    what one accepts is within its limits, its views point inside the
 *    payload, and written back it is the payload byte for byte, as is
 *    every message sent again through chan_send() and read back;
 *  - a generation that is committed can be trusted by a worker: every VIP
 *    is found by its key (and fragments by its address), every ring slot
 *    names a READY member of that VIP, member ids are unique and known to
 *    the registry, counters' callbacks see exactly the members that come
 *    and go; a refused generation leaves the one in service as it was;
 *  - what lb-dpdk answers MEMBERS_GET and FLOW_FIND with, lbd's decoders
 *    accept;
 *  - nothing leaks, whatever is aborted (LeakSanitizer at exit of each run).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/chan.h"
#include "dataplane/gen.h"
#include "tests/fuzz/fuzz.h"

/* lb-dpdk's control state (struct lb_dpdk's control fields). */
struct dataplane {
	struct gen_registry *reg;
	struct gen *gen; /* in service */
	struct gen_builder *staging;
	int staging_failed;
	__u64 now_s;
	int loopback[2]; /* for sending messages again through chan_send() */
};

static __u16 nexthop_of(void *ctx, __u8 family, const __be32 *addr)
{
	(void)ctx;
	return (__u16)(family == FLOW_FAMILY_IPV4 ? ntohl(addr[0]) & 0xfff : ntohl(addr[3]) & 0xfff);
}

/* Sends a message with chan_send() and reads it back with a fresh reader:
 * the same header fields and payload must come out. */
static void check_resend(struct dataplane *dp, const struct chan_hdr *h, const void *payload)
{
	struct chan_reader r;
	struct iovec part = { (void *)payload, h->length };
	int rc;

	if (h->length > (1u << 16))
		return; /* more than the loopback socket holds without a reader */
	FUZZ_CHECK(chan_send(dp->loopback[0], (enum chan_msg_type)h->type, h->seq, &part,
			     h->length ? 1 : 0) == 0,
		   "chan_send of a message read");
	chan_reader_init(&r);
	do
		rc = chan_reader_fill(&r, dp->loopback[1]);
	while (rc == 0);
	FUZZ_CHECK(rc == 1, "a message sent again reads back as %d", rc);
	FUZZ_CHECK(r.hdr.magic == h->magic && r.hdr.version == h->version && r.hdr.type == h->type &&
			   r.hdr.length == h->length && r.hdr.seq == h->seq,
		   "header changed on the way");
	FUZZ_CHECK(!h->length || memcmp(r.payload, payload, h->length) == 0,
		   "payload changed on the way");
	chan_reader_fini(&r);
}

static int inside(const void *p, size_t n, const void *base, size_t len)
{
	const char *a = p, *b = base;
	return a >= b && a + n <= b + len;
}

static int vip_key_valid(const struct chan_vip_key *k)
{
	return (k->family == FLOW_FAMILY_IPV4 ? !k->addr[1] && !k->addr[2] && !k->addr[3]
					      : k->family == FLOW_FAMILY_IPV6) &&
	       (k->proto == 6 || k->proto == 17);
}

/* Every decoder on the payload, whatever the message's type claims. */
static void decode_every_way(const void *payload, __u32 len)
{
	char err[256];

	struct chan_vip_view view;
	if (chan_vip_decode(payload, len, &view, err, sizeof(err)) == 0) {
		const struct chan_vip *v = view.vip;
		FUZZ_CHECK((const void *)v == payload, "view not at the payload");
		FUZZ_CHECK(vip_key_valid(&v->key) && memchr(v->name, 0, sizeof(v->name)),
			   "VIP head accepted with a bad key or name");
		if (v->flags & CHAN_VIP_KEEP) {
			FUZZ_CHECK(len == sizeof(*v) && !v->table_size && !v->backend_count,
				   "KEEP with tables");
		} else {
			size_t nb = (size_t)v->backend_count * sizeof(*view.backends);
			size_t nr = (size_t)v->table_size * sizeof(*view.ring);
			FUZZ_CHECK(v->table_size >= 1 && v->table_size <= CHAN_TABLE_SIZE_MAX &&
					   v->backend_count <= CHAN_BACKENDS_MAX,
				   "VIP counts out of their limits");
			FUZZ_CHECK(sizeof(*v) + nb + nr == len, "the counts are not the length");
			FUZZ_CHECK(inside(view.backends, nb, payload, len) &&
					   inside(view.ring, nr, payload, len),
				   "view outside the payload");
			FUZZ_CHECK((const char *)view.backends == (const char *)payload + sizeof(*v) &&
					   (const char *)view.ring == (const char *)view.backends + nb,
				   "view does not follow the layout");
			for (__u32 s = 0; s < v->table_size; s++)
				FUZZ_CHECK(view.ring[s] == FLOW_NO_BACKEND ||
						   (view.ring[s] < v->backend_count &&
						    view.backends[view.ring[s]].state ==
							    CHAN_BACKEND_READY),
					   "ring slot %u names %u", s, view.ring[s]);
		}
	}

	struct chan_gen_begin begin;
	if (chan_gen_begin_decode(payload, len, &begin, err, sizeof(err)) == 0) {
		FUZZ_CHECK(len == sizeof(begin) && memcmp(&begin, payload, len) == 0,
			   "GEN_BEGIN written back differs");
		FUZZ_CHECK(begin.generation && begin.vip_count <= CHAN_VIPS_MAX &&
				   (begin.encap == 1 || (begin.encap == 2 && begin.gue_port)) &&
				   begin.tcp_idle_timeout_s && begin.udp_idle_timeout_s,
			   "GEN_BEGIN accepted out of its limits");
	}

	struct flow_tuple t;
	if (chan_flow_find_decode(payload, len, &t, err, sizeof(err)) == 0) {
		FUZZ_CHECK(len == sizeof(t) && memcmp(&t, payload, len) == 0,
			   "FLOW_FIND written back differs");
		FUZZ_CHECK((t.proto == 6 || t.proto == 17) && !t.pad[0] && !t.pad[1],
			   "FLOW_FIND accepted a tuple the parser never builds");
	}

	struct chan_flow flow;
	if (chan_flow_decode(payload, len, &flow, err, sizeof(err)) == 0)
		FUZZ_CHECK(len == sizeof(flow) && memcmp(&flow, payload, len) == 0 &&
				   !(flow.flags & ~7u),
			   "FLOW accepted and written back differs");

	/* The members decoder wants the reader's 8-byte alignment: malloc's. */
	struct chan_members_view mv;
	if (chan_members_decode(payload, len, &mv, err, sizeof(err)) == 0) {
		size_t nv = (size_t)mv.head->vip_count * sizeof(*mv.vips);
		size_t nm = (size_t)mv.head->member_count * sizeof(*mv.members);
		FUZZ_CHECK(mv.head->vip_count <= CHAN_VIPS_MAX &&
				   mv.head->member_count <= CHAN_MEMBERS_MAX,
			   "MEMBERS counts out of their limits");
		FUZZ_CHECK(sizeof(*mv.head) + nv + nm == len && inside(mv.vips, nv, payload, len) &&
				   inside(mv.members, nm, payload, len),
			   "MEMBERS view outside the payload");
		for (__u32 i = 0; i < mv.head->member_count; i++)
			FUZZ_CHECK(vip_key_valid(&mv.members[i].vip) &&
					   (mv.members[i].state == 1 || mv.members[i].state == 2),
				   "member %u accepted with a bad key or state", i);
	}
}

/* ---- the generation lb-dpdk puts in service ---- */

struct change_count {
	const struct gen *from, *to;
	__u32 calls;
};

static void count_change(void *ctx, __u32 member, __u32 vip)
{
	struct change_count *c = ctx;
	const struct gen_member *m = gen_member_get(c->to, member);

	FUZZ_CHECK(m && m->state != GEN_MEMBER_ABSENT, "member %u reported but not present", member);
	FUZZ_CHECK(!c->from || !gen_member_get(c->from, member) ||
			   gen_member_get(c->from, member)->state == GEN_MEMBER_ABSENT,
		   "member %u reported but present before", member);
	FUZZ_CHECK(c->to->vips[m->vip]->id == vip, "member %u reported with VIP id %u", member, vip);
	c->calls++;
}

/* Members present in a but not in b. */
static __u32 count_new_members(const struct gen *a, const struct gen *b)
{
	__u32 n = 0;

	for (__u32 id = 0; a && id < a->member_count; id++) {
		const struct gen_member *mb = b ? gen_member_get(b, id) : NULL;
		n += a->members[id].state != GEN_MEMBER_ABSENT &&
		     (!mb || mb->state == GEN_MEMBER_ABSENT);
	}
	return n;
}

static void check_generation(const struct gen *g, const struct gen_registry *reg)
{
	__u32 backends = 0;

	FUZZ_CHECK(g->vip_count == g->params.vip_count && g->id == g->params.generation,
		   "generation %llu of %u VIPs", (unsigned long long)g->id, g->vip_count);
	for (__u32 i = 0; i < g->vip_count; i++) {
		const struct gen_vip *v = g->vips[i];
		struct flow_tuple t;

		FUZZ_CHECK(v->id < GEN_VIPS_MAX, "VIP id %u", v->id);
		for (__u32 j = 0; j < i; j++)
			FUZZ_CHECK(g->vips[j]->id != v->id, "VIP id %u twice", v->id);
		memset(&t, 0, sizeof(t));
		memcpy(t.dst_addr, v->key.addr, sizeof(t.dst_addr));
		t.dst_port = v->key.port;
		t.proto = v->key.proto;
		t.family = v->key.family;
		FUZZ_CHECK(gen_vip_find(g, &t, 0) == v, "VIP %u not found by its key", i);
		t.dst_port = 0;
		const struct gen_vip *f = gen_vip_find(g, &t, 1);
		FUZZ_CHECK(f && f->key.family == v->key.family && f->key.proto == v->key.proto &&
				   memcmp(f->key.addr, v->key.addr, 16) == 0 &&
				   (f->key.port == 0 || ntohs(f->key.port) <= ntohs(v->key.port)),
			   "fragments of VIP %u go elsewhere than the lowest port", i);

		for (__u32 b = 0; b < v->backend_count; b++) {
			__u32 id = v->member_ids[b];
			const struct gen_member *m = gen_member_get(g, id);
			struct chan_vip_key key;
			struct chan_backend kb;
			FUZZ_CHECK(m && m->state == v->backends[b].state && m->vip == i &&
					   memcmp(m->addr, v->backends[b].addr, 16) == 0 &&
					   m->family == v->backends[b].family &&
					   m->nexthop == nexthop_of(NULL, m->family, m->addr),
				   "member %u does not describe backend %u of VIP %u", id, b, i);
			for (__u32 c = 0; c < b; c++)
				FUZZ_CHECK(v->member_ids[c] != id, "member id %u twice in VIP %u", id, i);
			FUZZ_CHECK(gen_registry_member_key(reg, id, &key, &kb) == 0 &&
					   chan_vip_key_equal(&key, &v->key) &&
					   kb.port == v->backends[b].port &&
					   memcmp(kb.addr, v->backends[b].addr, 16) == 0,
				   "the registry does not know member %u", id);
			backends++;
		}
		for (__u32 s = 0; s < v->table_size; s++) {
			__u32 id = v->ring[s];
			const struct gen_member *m = gen_member_get(g, id);
			FUZZ_CHECK(id == FLOW_NO_BACKEND ||
					   (m && m->state == GEN_MEMBER_READY && m->vip == i),
				   "slot %u of VIP %u names member %u", s, i, id);
		}
		static const __u32 hashes[] = { 0, 1, 0x7fffffff, 0xfffffffe, 0xffffffff };
		for (size_t h = 0; h < sizeof(hashes) / sizeof(hashes[0]); h++)
			FUZZ_CHECK(gen_vip_ring_slot(v, hashes[h]) ==
					   flow_hash_ring_slot(hashes[h], v->table_size),
				   "ring slot of hash 0x%x", hashes[h]);
	}
	FUZZ_CHECK(backends == g->backend_count, "%u members counted, %u present", g->backend_count,
		   backends);
	__u32 present = 0;
	for (__u32 id = 0; id < g->member_count; id++)
		present += g->members[id].state != GEN_MEMBER_ABSENT;
	FUZZ_CHECK(present == backends, "%u members present, %u backends", present, backends);
	for (__u32 i = 0; i < g->fresh_member_count; i++) {
		const struct gen_member *m = gen_member_get(g, g->fresh_member_ids[i]);
		FUZZ_CHECK(m && m->state != GEN_MEMBER_ABSENT, "fresh member %u absent",
			   g->fresh_member_ids[i]);
		for (__u32 j = 0; j < i; j++)
			FUZZ_CHECK(g->fresh_member_ids[j] != g->fresh_member_ids[i],
				   "fresh member %u twice", g->fresh_member_ids[i]);
	}
}

/* A VIP's tables in a generation, copied to compare before and after. */
static __u64 generation_digest(const struct gen *g)
{
	__u64 h = 1469598103934665603ull;

	if (!g)
		return 0;
	for (__u32 i = 0; i < g->vip_count; i++) {
		const struct gen_vip *v = g->vips[i];
		for (__u32 s = 0; s < v->table_size; s++)
			h = (h ^ v->ring[s]) * 1099511628211ull;
		h = (h ^ v->id) * 1099511628211ull;
	}
	for (__u32 id = 0; id < g->member_count; id++)
		h = (h ^ g->members[id].state) * 1099511628211ull;
	return h;
}

static void fail_staging(struct dataplane *dp)
{
	gen_builder_abort(dp->staging);
	dp->staging = NULL;
	dp->staging_failed = 1;
}

static void on_commit(struct dataplane *dp, const struct chan_hdr *h, const void *payload)
{
	const struct chan_gen_commit *commit = payload;
	__u64 before = generation_digest(dp->gen);
	char err[256] = "";

	if (dp->staging_failed) {
		dp->staging_failed = 0;
		return;
	}
	if (!dp->staging || h->length != sizeof(*commit) ||
	    commit->generation != gen_builder_generation(dp->staging)) {
		fail_staging(dp);
		dp->staging_failed = 0;
		return;
	}
	/* lbd never sends time; here the COMMIT's seq moves the clock, so the
	 * fuzzer can make members age out of the registry. */
	dp->now_s += h->seq % 4096;
	errno = 0;
	struct gen *g = gen_builder_finish(dp->staging, nexthop_of, NULL, dp->now_s, err,
					   sizeof(err));
	dp->staging = NULL;
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "commit %llu: %s\n", (unsigned long long)commit->generation,
			g ? "in service" : err);
	if (!g) {
		FUZZ_CHECK(err[0] && (errno == EINVAL || errno == EEXIST || errno == ENOMEM),
			   "refused without a reason (errno %d)", errno);
		FUZZ_CHECK(generation_digest(dp->gen) == before,
			   "a refused generation changed the one in service");
		return;
	}
	check_generation(g, dp->reg);
	/* As control_swap_in(): members joining, then leaving. */
	struct change_count joined = { dp->gen, g, 0 }, left = { g, dp->gen, 0 };
	gen_members_added(dp->gen, g, count_change, &joined);
	FUZZ_CHECK(joined.calls == count_new_members(g, dp->gen), "joining members miscounted");
	if (dp->gen) {
		gen_members_added(g, dp->gen, count_change, &left);
		FUZZ_CHECK(left.calls == count_new_members(dp->gen, g), "leaving members miscounted");
	}
	gen_destroy(dp->gen);
	dp->gen = g;
	check_generation(g, dp->reg); /* KEEP shares VIPs: still whole without the old one */
}

/* What lb-dpdk answers MEMBERS_GET with (lb_members_collect(), counters 0). */
static void answer_members(const struct dataplane *dp)
{
	const struct gen *g = dp->gen;
	struct chan_members head = { .generation = g ? g->id : 0, .vip_count = g ? g->vip_count : 0,
				     .member_count = g ? g->backend_count : 0 };
	size_t size = sizeof(head) + head.vip_count * sizeof(struct chan_vip_stats) +
		      head.member_count * sizeof(struct chan_member_stats);
	__u8 *buf = calloc(1, size);
	char err[256];

	FUZZ_CHECK(buf != NULL, "out of memory");
	memcpy(buf, &head, sizeof(head));
	struct chan_vip_stats *vs = (void *)(buf + sizeof(head));
	struct chan_member_stats *ms = (void *)(vs + head.vip_count);
	for (__u32 i = 0; i < head.vip_count; i++, vs++) {
		const struct gen_vip *v = g->vips[i];
		vs->key = v->key;
		for (__u32 b = 0; b < v->backend_count; b++, ms++) {
			ms->vip = v->key;
			memcpy(ms->addr, v->backends[b].addr, sizeof(ms->addr));
			ms->port = v->backends[b].port;
			ms->family = v->backends[b].family;
			ms->state = v->backends[b].state;
		}
	}
	struct chan_members_view view;
	FUZZ_CHECK(chan_members_decode(buf, (__u32)size, &view, err, sizeof(err)) == 0,
		   "lbd refuses lb-dpdk's MEMBERS: %s", err);
	free(buf);
}

/* What lb-dpdk answers FLOW_FIND with (control_flow_find(), no flow tables). */
static void answer_flow_find(const struct dataplane *dp, const struct flow_tuple *t)
{
	const struct gen *g = dp->gen;
	const struct gen_vip *v = g ? gen_vip_find(g, t, 0) : NULL;
	struct chan_flow reply;
	char err[256];

	memset(&reply, 0, sizeof(reply));
	if (v) {
		FUZZ_CHECK(v->key.family == t->family && v->key.proto == t->proto &&
				   v->key.port == t->dst_port &&
				   memcmp(v->key.addr, t->dst_addr, 16) == 0,
			   "FLOW_FIND found another VIP");
		reply.flags |= CHAN_FLOW_VIP;
		reply.vip = v->key;
		__u32 slot = gen_vip_ring_slot(v, flow_hash(t));
		FUZZ_CHECK(slot < v->table_size, "slot %u of %u", slot, v->table_size);
		__u32 id = v->ring[slot];
		if (id != FLOW_NO_BACKEND) {
			/* control_member_describe(): the generation's record. */
			const struct gen_member *m = gen_member_get(g, id);
			FUZZ_CHECK(m && m->state == GEN_MEMBER_READY && g->vips[m->vip] == v,
				   "ring gives member %u", id);
			__u32 k;
			for (k = 0; k < v->backend_count && v->member_ids[k] != id; k++)
				;
			FUZZ_CHECK(k < v->backend_count, "member %u is no backend of its VIP", id);
			reply.ring_backend = v->backends[k];
			reply.flags |= CHAN_FLOW_RING;
		}
	}
	struct chan_flow back;
	FUZZ_CHECK(chan_flow_decode(&reply, sizeof(reply), &back, err, sizeof(err)) == 0,
		   "lbd refuses lb-dpdk's FLOW: %s", err);
}

/* control_dispatch(), without the replies' transport. FUZZ_TRACE=1 in the
 * environment shows what each message did, for checking seeds. */
static void dispatch(struct dataplane *dp, const struct chan_hdr *h, const void *payload)
{
	char err[256] = "";

	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "%s seq %u, %u bytes%s\n", chan_msg_type_name(h->type), h->seq,
			h->length, dp->staging_failed ? " (generation refused)" : "");
	switch (h->type) {
	case CHAN_MSG_HELLO:
		if (h->length == sizeof(struct chan_hello)) {
			char client[sizeof(((struct chan_hello *)0)->client) + 1] = "";
			memcpy(client, payload, sizeof(client) - 1);
			FUZZ_CHECK(strlen(client) < sizeof(client), "client name");
		}
		break;
	case CHAN_MSG_GEN_BEGIN: {
		struct chan_gen_begin begin;
		gen_builder_abort(dp->staging);
		dp->staging = NULL;
		dp->staging_failed = 0;
		if (chan_gen_begin_decode(payload, h->length, &begin, err, sizeof(err))) {
			FUZZ_CHECK(err[0], "GEN_BEGIN refused without a reason");
			fail_staging(dp);
			break;
		}
		dp->staging = gen_builder_create(dp->reg, &begin, dp->gen);
		FUZZ_CHECK(dp->staging != NULL, "gen_builder_create");
		break;
	}
	case CHAN_MSG_GEN_VIP: {
		struct chan_vip_view view;
		if (dp->staging_failed)
			break;
		if (!dp->staging) {
			fail_staging(dp);
			break;
		}
		int rc = chan_vip_decode(payload, h->length, &view, err, sizeof(err));
		if (rc == 0)
			rc = gen_builder_add_vip(dp->staging, &view, err, sizeof(err));
		if (rc && getenv("FUZZ_TRACE"))
			fprintf(stderr, "  refused: %s\n", err);
		if (rc) {
			FUZZ_CHECK(err[0] && (rc == -EINVAL || rc == -ENOENT || rc == -E2BIG ||
					      rc == -ENOSPC || rc == -ENOMEM),
				   "GEN_VIP refused with %d (%s)", rc, err);
			fail_staging(dp);
		}
		break;
	}
	case CHAN_MSG_GEN_COMMIT:
		on_commit(dp, h, payload);
		break;
	case CHAN_MSG_MEMBERS_GET:
		if (h->length == 0)
			answer_members(dp);
		break;
	case CHAN_MSG_FLOW_FIND: {
		struct flow_tuple t;
		if (chan_flow_find_decode(payload, h->length, &t, err, sizeof(err)) == 0)
			answer_flow_find(dp, &t);
		break;
	}
	default: /* STATS_GET needs DPDK; replies are not requests */
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[] = { 1, 3, 16, 200, 4096, 65536 };
	struct dataplane dp = { .reg = gen_registry_create() };
	struct chan_reader r;
	int sv[2], rc = 0;
	size_t sent = 0;

	FUZZ_CHECK(dp.reg != NULL, "gen_registry_create");
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 &&
			   socketpair(AF_UNIX, SOCK_STREAM, 0, dp.loopback) == 0,
		   "socketpair");
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	fcntl(dp.loopback[1], F_SETFL, O_NONBLOCK);
	chan_reader_init(&r);
	for (size_t piece = 0; rc >= 0; piece++) {
		/* The stream arrives in pieces of uneven sizes, as a socket
		 * delivers it; the end of the input is lbd closing. */
		if (sent < size) {
			size_t n = pieces[piece % (sizeof(pieces) / sizeof(pieces[0]))];
			n = n < size - sent ? n : size - sent;
			FUZZ_CHECK(write(sv[0], data + sent, n) == (ssize_t)n, "write");
			sent += n;
		} else if (sv[0] >= 0) {
			close(sv[0]);
			sv[0] = -1;
		}
		while ((rc = chan_reader_fill(&r, sv[1])) == 1) {
			const struct chan_hdr *h = &r.hdr;
			FUZZ_CHECK(h->magic == CHAN_MAGIC && h->version == CHAN_VERSION &&
					   h->type > 0 && h->type < CHAN_MSG_TYPE_COUNT &&
					   h->length <= CHAN_PAYLOAD_MAX,
				   "the reader passed a bad header");
			FUZZ_CHECK(strcmp(chan_msg_type_name(h->type), "unknown") != 0,
				   "type %u has no name", h->type);
			void *payload = fuzz_dup_exact(r.payload, h->length);
			decode_every_way(payload, h->length);
			check_resend(&dp, h, payload);
			dispatch(&dp, h, payload);
			free(payload);
		}
		FUZZ_CHECK(rc == 0 || rc == -ECONNRESET || rc == -EPROTO || rc == -EPROTONOSUPPORT ||
				   rc == -EMSGSIZE || rc == -EBADMSG,
			   "reader %d", rc);
		if (rc == 0 && sv[0] < 0) {
			/* Seen once in 5.8 million runs and not again on replay: the
			 * socket said "would block" though its peer was closed. Give
			 * the kernel a moment before blaming the reader, and say
			 * where the reader was if it still waits. */
			struct pollfd pfd = { .fd = sv[1], .events = POLLIN };
			int ready = poll(&pfd, 1, 1000);
			FUZZ_CHECK(ready == 1, "the reader waits for more after the end of the stream "
					       "(%u of %zu bytes read as a message of %u; %zu of %zu "
					       "sent)",
				   r.have, sizeof(r.hdr) + r.hdr.length, r.hdr.length, sent, size);
			fprintf(stderr, "fuzz_chan: the end of the stream came late (revents 0x%x, "
					"%u bytes of the message read)\n",
				pfd.revents, r.have);
			/* the next turn reads what the socket has now */
		}
	}
	chan_reader_fini(&r);
	if (sv[0] >= 0)
		close(sv[0]);
	close(sv[1]);
	close(dp.loopback[0]);
	close(dp.loopback[1]);
	gen_builder_abort(dp.staging);
	gen_destroy(dp.gen);
	gen_registry_destroy(dp.reg);
	return 0;
}
