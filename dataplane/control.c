/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's side of the control channel (dataplane/chan.h): one lbd at a
 * time, messages checked before use, generations built aside and swapped in
 * under RCU. If lbd goes away the generation in service stays; when it comes
 * back it resyncs with a full generation, and member ids kept by key make
 * that resync invisible to established flows.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_rcu_qsbr.h>

#include "dataplane/lb_dpdk.h"

static uint64_t control_monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static uint64_t control_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int control_listen(struct lb_dpdk *lb)
{
	const char *path = lb->conf->dataplane.dpdk.control_socket;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	char dir[sizeof(addr.sun_path)];
	int fd;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0750); /* /run/fulcrum on a fresh boot */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket of an earlier lb-dpdk */
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 4) < 0) {
		int err = -errno;
		LB_LOG(ERR, "control socket %s: %s", path, strerror(errno));
		close(fd);
		return err;
	}
	ev.data.fd = fd;
	epoll_ctl(lb->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
	lb->listen_fd = fd;
	lb->client_fd = -1;
	chan_reader_init(&lb->reader);
	LB_LOG(INFO, "waiting for lbd on %s", path);
	return 0;
}

static void control_drop_client(struct lb_dpdk *lb, const char *why)
{
	if (lb->client_fd < 0)
		return;
	LB_LOG(INFO, "lbd disconnected (%s); forwarding goes on with generation %llu", why,
	       lb->shared.gen ? (unsigned long long)lb->shared.gen->id : 0ULL);
	epoll_ctl(lb->epoll_fd, EPOLL_CTL_DEL, lb->client_fd, NULL);
	close(lb->client_fd);
	lb->client_fd = -1;
	chan_reader_fini(&lb->reader);
	chan_reader_init(&lb->reader);
	gen_builder_abort(lb->staging);
	lb->staging = NULL;
	lb->staging_failed = 0;
}

void control_close(struct lb_dpdk *lb)
{
	control_drop_client(lb, "shutting down");
	if (lb->listen_fd >= 0) {
		close(lb->listen_fd);
		unlink(lb->conf->dataplane.dpdk.control_socket);
		lb->listen_fd = -1;
	}
}

void control_accept(struct lb_dpdk *lb)
{
	int fd = accept4(lb->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	if (fd < 0)
		return;
	if (lb->client_fd >= 0) {
		/* One publisher at a time: two lbds would fight over tables. */
		chan_send_error(fd, 0, EBUSY, "another lbd is connected");
		close(fd);
		return;
	}
	lb->client_fd = fd;
	ev.data.fd = fd;
	epoll_ctl(lb->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

void lb_counters_sum(const struct lb_dpdk *lb, uint64_t *sum)
{
	for (uint32_t c = 0; c < COUNTER_COUNT; c++)
		sum[c] = lb->main_counters[c];
	for (uint16_t w = 0; w < lb->worker_count; w++)
		for (uint32_t c = 0; c < COUNTER_COUNT; c++)
			sum[c] += __atomic_load_n(&lb->workers[w].counters[c], __ATOMIC_RELAXED);
}

/* Swaps g in and waits until no worker can still see the old generation,
 * which it returns (NULL: there was none) for the caller to free. */
static struct gen *control_publish(struct lb_dpdk *lb, struct gen *g)
{
	struct gen *old = lb->shared.gen;

	__atomic_store_n(&lb->shared.gen, g, __ATOMIC_RELEASE);
	rte_rcu_qsbr_synchronize(lb->shared.rcu, RTE_QSBR_THRID_INVALID);
	return old;
}

/* A member's counters summed over the workers. */
static void control_member_sum(const struct lb_dpdk *lb, __u32 id, struct lb_traffic *sum)
{
	memset(sum, 0, sizeof(*sum));
	/* Workers may be writing these: each load is of one aligned word, so
	 * it sees the old count or the new, never half. */
	for (uint16_t w = 0; w < lb->worker_count; w++) {
		const struct worker_member_stats *c = &lb->workers[w].member_stats[id];
		sum->packets += __atomic_load_n(&c->packets, __ATOMIC_RELAXED);
		sum->bytes += __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
		sum->flows_new += __atomic_load_n(&c->flows_new, __ATOMIC_RELAXED);
	}
}

/* gen_members_added() callbacks: a member's counts leave the VIP's sum over
 * members in service, or join it; the VIP's base makes up the difference.
 * Either way no worker writes the member's counters at the time (it is in
 * no generation a worker can see), so the counts are exact. */
static void control_member_joined(void *ctx, __u32 member, __u32 vip)
{
	struct lb_dpdk *lb = ctx;
	struct lb_traffic c;

	control_member_sum(lb, member, &c);
	lb->vip_base[vip].packets -= c.packets;
	lb->vip_base[vip].bytes -= c.bytes;
	lb->vip_base[vip].flows_new -= c.flows_new;
}

static void control_member_left(void *ctx, __u32 member, __u32 vip)
{
	struct lb_dpdk *lb = ctx;
	struct lb_traffic c;

	control_member_sum(lb, member, &c);
	lb->vip_base[vip].packets += c.packets;
	lb->vip_base[vip].bytes += c.bytes;
	lb->vip_base[vip].flows_new += c.flows_new;
}

/*
 * Puts g in service, keeping the counters right: ids new to g start from
 * zero; members joining or leaving move their counts in or out of their
 * VIP's base. Main lcore, under lb->lock.
 */
static void control_swap_in(struct lb_dpdk *lb, struct gen *g)
{
	struct gen *old = lb->shared.gen;

	for (uint16_t w = 0; w < lb->worker_count; w++)
		worker_stats_forget(&lb->workers[w], g);
	for (__u32 i = 0; i < g->fresh_vip_count; i++)
		memset(&lb->vip_base[g->fresh_vip_ids[i]], 0, sizeof(lb->vip_base[0]));
	/* Before the swap, joining members are in no visible generation... */
	gen_members_added(old, g, control_member_joined, lb);
	old = control_publish(lb, g);
	/* ...and after the grace period, neither are leaving ones. */
	gen_members_added(g, old, control_member_left, lb);
	gen_destroy(old);
}

/* Answers the first error of a staged generation and drops the staging;
 * the rest of that generation's messages are ignored up to its COMMIT. */
static void control_fail_staging(struct lb_dpdk *lb, __u32 seq, int code, const char *msg)
{
	LB_LOG(ERR, "generation refused, the one in service stays: %s", msg);
	chan_send_error(lb->client_fd, seq, code, "%s", msg);
	gen_builder_abort(lb->staging);
	lb->staging = NULL;
	lb->staging_failed = 1;
}

static void control_hello(struct lb_dpdk *lb, const struct chan_hdr *h, const void *payload)
{
	const struct chan_hello *hello = payload;
	struct chan_hello_reply reply = { .pid = (__u32)getpid(),
					  .worker_count = lb->worker_count,
					  .port_count = lb->port_count };
	char client[sizeof(hello->client) + 1] = "";

	if (h->length != sizeof(*hello)) {
		chan_send_error(lb->client_fd, h->seq, EINVAL, "HELLO: %u bytes, expected %zu",
				h->length, sizeof(*hello));
		return;
	}
	memcpy(client, hello->client, sizeof(hello->client));
	reply.generation = lb->shared.gen ? lb->shared.gen->id : 0;
	LB_LOG(INFO, "%s connected; generation in service %llu", client,
	       (unsigned long long)reply.generation);
	struct iovec part = { &reply, sizeof(reply) };
	chan_send(lb->client_fd, CHAN_MSG_HELLO_REPLY, h->seq, &part, 1);
}

static void control_gen_begin(struct lb_dpdk *lb, const struct chan_hdr *h, const void *payload)
{
	struct chan_gen_begin begin;
	char err[256];

	gen_builder_abort(lb->staging);
	lb->staging = NULL;
	lb->staging_failed = 0;
	if (chan_gen_begin_decode(payload, h->length, &begin, err, sizeof(err))) {
		control_fail_staging(lb, h->seq, EINVAL, err);
		return;
	}
	lb->staging = gen_builder_create(lb->registry, &begin, lb->shared.gen);
	if (!lb->staging)
		control_fail_staging(lb, h->seq, ENOMEM, "GEN_BEGIN: out of memory");
}

static void control_gen_vip(struct lb_dpdk *lb, const struct chan_hdr *h, const void *payload)
{
	struct chan_vip_view view;
	char err[256];
	int rc;

	if (lb->staging_failed)
		return;
	if (!lb->staging) {
		control_fail_staging(lb, h->seq, EPROTO, "GEN_VIP without GEN_BEGIN");
		return;
	}
	rc = chan_vip_decode(payload, h->length, &view, err, sizeof(err));
	if (rc == 0)
		rc = gen_builder_add_vip(lb->staging, &view, err, sizeof(err));
	if (rc)
		control_fail_staging(lb, h->seq, -rc, err);
}

static void control_gen_commit(struct lb_dpdk *lb, const struct chan_hdr *h, const void *payload)
{
	const struct chan_gen_commit *commit = payload;
	char err[256] = "";
	struct gen *g;

	if (lb->staging_failed) {
		lb->staging_failed = 0; /* the error has been answered */
		return;
	}
	if (!lb->staging || h->length != sizeof(*commit)) {
		control_fail_staging(lb, h->seq, EPROTO, "GEN_COMMIT without GEN_BEGIN");
		lb->staging_failed = 0;
		return;
	}
	/* Checked before finishing: a finished generation has retired ids in
	 * the registry, so it must be the one that goes into service. */
	if (commit->generation != gen_builder_generation(lb->staging)) {
		snprintf(err, sizeof(err), "GEN_COMMIT %llu does not match GEN_BEGIN %llu",
			 (unsigned long long)commit->generation,
			 (unsigned long long)gen_builder_generation(lb->staging));
		control_fail_staging(lb, h->seq, EPROTO, err);
		lb->staging_failed = 0;
		return;
	}
	pthread_mutex_lock(&lb->lock);
	errno = 0;
	g = gen_builder_finish(lb->staging, nexthop_find, lb->nexthops, control_monotonic_s(), err,
			       sizeof(err));
	lb->staging = NULL;
	if (g) {
		/* The first generation: saved flows go into the tables before
		 * any worker can balance with it. */
		if (!lb->shared.gen)
			handover_restore(lb, g);
		control_swap_in(lb, g);
		lb->nexthops_changed = 1;
	}
	pthread_mutex_unlock(&lb->lock);
	if (!g) {
		control_fail_staging(lb, h->seq, errno ? errno : EINVAL, err);
		lb->staging_failed = 0;
		return;
	}
	LB_LOG(INFO, "generation %llu in service: %u VIPs, %u backends",
	       (unsigned long long)g->id, g->vip_count, g->backend_count);
	struct chan_gen_done done = { .generation = g->id, .vip_count = g->vip_count,
				      .backend_count = g->backend_count };
	struct iovec part = { &done, sizeof(done) };
	chan_send(lb->client_fd, CHAN_MSG_GEN_DONE, h->seq, &part, 1);
}

static void control_stats(struct lb_dpdk *lb, const struct chan_hdr *h)
{
	uint64_t counters[COUNTER_COUNT];
	struct chan_stats stats = { .worker_count = lb->worker_count,
				    .counter_count = COUNTER_COUNT };

	lb_counters_sum(lb, counters);
	stats.generation = lb->shared.gen ? lb->shared.gen->id : 0;
	for (uint16_t w = 0; w < lb->worker_count; w++) {
		stats.flows += flow_table_count_live(&lb->workers[w].flows,
						     __atomic_load_n(&lb->workers[w].now_s,
								     __ATOMIC_RELAXED));
		stats.flow_capacity += lb->workers[w].flows.capacity;
	}
	struct iovec parts[2] = { { &stats, sizeof(stats) }, { counters, sizeof(counters) } };
	chan_send(lb->client_fd, CHAN_MSG_STATS, h->seq, parts, 2);
}

static uint32_t control_worker_now(const struct worker *w)
{
	return __atomic_load_n(&w->now_s, __ATOMIC_RELAXED);
}

void *lb_members_collect(const struct lb_dpdk *lb, __u32 *length)
{
	const struct gen *g = lb->shared.gen;
	struct chan_members head = { .now_ns = control_monotonic_ns() };
	__u64 *active = NULL;
	size_t size;
	uint8_t *buf;

	if (g) {
		head.generation = g->id;
		head.vip_count = g->vip_count;
		head.member_count = g->backend_count;
		active = calloc(g->member_count ? g->member_count : 1, sizeof(*active));
		if (!active)
			return NULL;
		/* Active flows are counted here, on request, rather than kept
		 * up to date by the workers: the fast path would have to find
		 * out when an entry expires. */
		for (uint16_t w = 0; w < lb->worker_count; w++) {
			flow_table_count_by_member(&lb->workers[w].flows,
						   control_worker_now(&lb->workers[w]), active,
						   g->member_count);
			flow_table_count_by_member(&lb->workers[w].new_flows,
						   control_worker_now(&lb->workers[w]), active,
						   g->member_count);
		}
	}
	size = sizeof(head) + (size_t)head.vip_count * sizeof(struct chan_vip_stats) +
	       (size_t)head.member_count * sizeof(struct chan_member_stats);
	buf = calloc(1, size);
	if (!buf) {
		free(active);
		return NULL;
	}
	memcpy(buf, &head, sizeof(head));
	struct chan_vip_stats *vs = (void *)(buf + sizeof(head));
	struct chan_member_stats *ms = (void *)(vs + head.vip_count);
	for (__u32 i = 0; i < head.vip_count; i++, vs++) {
		const struct gen_vip *v = g->vips[i];
		const struct lb_traffic *base = &lb->vip_base[v->id];
		vs->key = v->key;
		vs->packets = base->packets;
		vs->bytes = base->bytes;
		vs->flows_new = base->flows_new;
		for (uint16_t w = 0; w < lb->worker_count; w++)
			vs->drops_no_backend += __atomic_load_n(
				&lb->workers[w].vip_drops_no_backend[v->id], __ATOMIC_RELAXED);
		for (__u32 b = 0; b < v->backend_count; b++, ms++) {
			const __u32 id = v->member_ids[b];
			struct lb_traffic c;
			control_member_sum(lb, id, &c);
			ms->vip = v->key;
			memcpy(ms->addr, v->backends[b].addr, sizeof(ms->addr));
			ms->port = v->backends[b].port;
			ms->family = v->backends[b].family;
			ms->state = v->backends[b].state;
			ms->packets = c.packets;
			ms->bytes = c.bytes;
			ms->flows_new = c.flows_new;
			ms->flows_active = active[id];
			vs->packets += c.packets;
			vs->bytes += c.bytes;
			vs->flows_new += c.flows_new;
		}
	}
	free(active);
	*length = (__u32)size;
	return buf;
}

static void control_members(struct lb_dpdk *lb, const struct chan_hdr *h)
{
	__u32 length;
	void *payload;

	if (h->length) {
		chan_send_error(lb->client_fd, h->seq, EINVAL, "MEMBERS_GET: %u bytes, expected 0",
				h->length);
		return;
	}
	payload = lb_members_collect(lb, &length);
	if (!payload) {
		chan_send_error(lb->client_fd, h->seq, ENOMEM, "MEMBERS_GET: out of memory");
		return;
	}
	struct iovec part = { payload, length };
	chan_send(lb->client_fd, CHAN_MSG_MEMBERS, h->seq, &part, 1);
	free(payload);
}

/*
 * The VIP and backend record of member id: from the generation while the
 * member is in it, else from the registry (removed, state 0). 0 or -ENOENT.
 */
static int control_member_describe(const struct lb_dpdk *lb, const struct gen *g, __u32 id,
				   struct chan_vip_key *vip, struct chan_backend *b)
{
	const struct gen_member *m = g ? gen_member_get(g, id) : NULL;

	if (m && m->state != GEN_MEMBER_ABSENT) {
		const struct gen_vip *v = g->vips[m->vip];
		for (__u32 i = 0; i < v->backend_count; i++) {
			if (v->member_ids[i] == id) {
				*vip = v->key;
				*b = v->backends[i];
				return 0;
			}
		}
	}
	return gen_registry_member_key(lb->registry, id, vip, b);
}

/*
 * FLOW_FIND: every worker's table is searched, since a flow's packets may
 * reach more than one worker (RSS changes, fragments); the entry that
 * expires last is the one in use. Entries are read while workers write
 * them: an answer may be a packet old.
 */
static void control_flow_find(struct lb_dpdk *lb, const struct chan_hdr *h, const void *payload)
{
	const struct gen *g = lb->shared.gen;
	struct chan_flow reply;
	struct flow_tuple t;
	struct flow_slot best = { 0 };
	char err[256];
	int best_worker = -1;

	if (chan_flow_find_decode(payload, h->length, &t, err, sizeof(err))) {
		chan_send_error(lb->client_fd, h->seq, EINVAL, "%s", err);
		return;
	}
	memset(&reply, 0, sizeof(reply));
	const __u32 hash = flow_hash(&t);
	const __u64 fingerprint = flow_table_fingerprint(&t);
	const struct gen_vip *v = g ? gen_vip_find(g, &t, 0) : NULL;
	if (v) {
		reply.flags |= CHAN_FLOW_VIP;
		reply.vip = v->key;
		__u32 id = v->ring[gen_vip_ring_slot(v, hash)];
		struct chan_vip_key ring_vip;
		if (id != FLOW_NO_BACKEND &&
		    control_member_describe(lb, g, id, &ring_vip, &reply.ring_backend) == 0)
			reply.flags |= CHAN_FLOW_RING;
	}
	for (uint16_t w = 0; w < lb->worker_count; w++) {
		struct flow_slot slot;
		uint32_t now = control_worker_now(&lb->workers[w]);
		/* A flow is in one of the two tables, new flows' or flows'. */
		if ((flow_table_peek(&lb->workers[w].flows, hash, fingerprint, now, &slot) ||
		     flow_table_peek(&lb->workers[w].new_flows, hash, fingerprint, now, &slot)) &&
		    (best_worker < 0 || slot.expires_s - now > best.expires_s)) {
			best = slot;
			best.expires_s -= now; /* seconds left, comparable across workers */
			best_worker = w;
		}
	}
	if (best_worker >= 0 &&
	    control_member_describe(lb, g, best.member, &reply.vip, &reply.backend) == 0) {
		reply.flags |= CHAN_FLOW_FOUND;
		reply.worker = (__u16)best_worker;
		reply.expires_in_s = best.expires_s;
	}
	struct iovec part = { &reply, sizeof(reply) };
	chan_send(lb->client_fd, CHAN_MSG_FLOW, h->seq, &part, 1);
}

static void control_dispatch(struct lb_dpdk *lb, const struct chan_hdr *h, const void *payload)
{
	switch (h->type) {
	case CHAN_MSG_HELLO:
		control_hello(lb, h, payload);
		break;
	case CHAN_MSG_GEN_BEGIN:
		control_gen_begin(lb, h, payload);
		break;
	case CHAN_MSG_GEN_VIP:
		control_gen_vip(lb, h, payload);
		break;
	case CHAN_MSG_GEN_COMMIT:
		control_gen_commit(lb, h, payload);
		break;
	case CHAN_MSG_STATS_GET:
		control_stats(lb, h);
		break;
	case CHAN_MSG_MEMBERS_GET:
		control_members(lb, h);
		break;
	case CHAN_MSG_FLOW_FIND:
		control_flow_find(lb, h, payload);
		break;
	default:
		chan_send_error(lb->client_fd, h->seq, EOPNOTSUPP, "%s is not a request",
				chan_msg_type_name(h->type));
		break;
	}
}

void control_readable(struct lb_dpdk *lb)
{
	/* Bounded, so a peer streaming messages cannot starve the exception
	 * path; epoll reports the rest on the next round. */
	for (int i = 0; i < 64 && lb->client_fd >= 0; i++) {
		int rc = chan_reader_fill(&lb->reader, lb->client_fd);
		if (rc == 0)
			return;
		if (rc < 0) {
			if (rc == -EPROTO || rc == -EPROTONOSUPPORT || rc == -EMSGSIZE ||
			    rc == -EBADMSG)
				chan_send_error(lb->client_fd, lb->reader.hdr.seq, -rc,
						"bad message header (%s): closing the channel",
						strerror(-rc));
			control_drop_client(lb, strerror(-rc));
			return;
		}
		control_dispatch(lb, &lb->reader.hdr, lb->reader.payload);
	}
}
