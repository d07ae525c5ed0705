/* SPDX-License-Identifier: BSD-3-Clause */
/* Health checks and agent checks (controlplane/health.h). */
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "controlplane/health.h"
#include "controlplane/health_syn.h"
#include "controlplane/log.h"

#define HEALTH_HEAP_NONE     UINT32_MAX
#define HEALTH_BUF_SIZE      (AGENT_LINE_MAX + 8)
#define HEALTH_EPOLL_BATCH   256
/* How long a check that this host cannot even route gives no verdict
 * (health_unroutable()): longer than lb-dpdk takes to restart. */
#define HEALTH_UNROUTABLE_GRACE_MS 10000
/* Half-open checks: SYNs per sendmmsg() and replies per recvmmsg(). */
#define HEALTH_SYN_BATCH     64
/* Room for an IPv4 header and a TCP header, options and all. */
#define HEALTH_SYN_RECV_SIZE 128
/* Socket buffers for a burst of a fleet's replies, and of our SYNs. */
#define HEALTH_SYN_RCVBUF    (4 << 20)
#define HEALTH_SYN_SNDBUF    (1 << 20)
#define HEALTH_SYN_BUCKETS_MIN 64

enum health_phase {
	HEALTH_IDLE,
	HEALTH_CONNECTING,
	HEALTH_SENDING,
	HEALTH_READING,
	HEALTH_SYN_SENT, /* half-open: the SYN queued or sent, in the engine's hash */
};

struct health_probe;

/* One kind of probe of one backend: its health check, or its agent read. */
struct health_task {
	struct health_probe *probe;
	bool agent;
	__u64 at_ms;     /* when due (idle) or when it times out (in flight) */
	__u32 heap_index;
	int fd;
	enum health_phase phase;
	__u64 started_us;
	__u64 unroutable_since_ms; /* 0, or when connect() first said ENETUNREACH */
	__u32 have, sent, request_length;
	/* Half-open checks: the SYN's sequence number and port, the chain of
	 * the engine's hash while in flight, and the cached source address. */
	__u32 isn;
	__u16 syn_port;
	struct health_task *syn_next;
	__be32 syn_source;
	__u64 syn_source_ms; /* when looked up; 0: not known */
	char buf[HEALTH_BUF_SIZE];
};

struct health_probe {
	struct model_backend *b;
	struct health_task check, agent;
};

struct health_heap_entry {
	__u64 at_ms; /* the task's, copied */
	struct health_task *task;
};

/* The raw socket of one family for half-open checks, and its SYNs gathered
 * for the next sendmmsg(). */
struct health_syn_socket {
	__u8 family;
	int raw_fd;   /* SOCK_RAW, IPPROTO_TCP, with health_syn_filter() */
	int port_fd;  /* a TCP socket bound to port, never listening: reserves it */
	int route_fd; /* IPv4: a UDP socket connected to a backend for its source */
	__u16 port;   /* the SYNs' source port */
	int error;    /* why it could not be opened (IPv6 only may be missing) */
	bool answered; /* a reply matched a check since the last sendmmsg() */
	__u32 in_flight; /* checks of this family waiting for a reply */
	__u32 queued;
	struct health_task *tasks[HEALTH_SYN_BATCH]; /* NULL: its probe is gone */
	__u8 pkts[HEALTH_SYN_BATCH][HEALTH_SYN_LEN];
	struct sockaddr_in6 to[HEALTH_SYN_BATCH]; /* a sockaddr_in for IPv4 */
	struct iovec iov[HEALTH_SYN_BATCH];
	struct mmsghdr msgs[HEALTH_SYN_BATCH];
};

struct health_engine {
	int epoll_fd;
	struct health_heap_entry *heap;
	__u32 heap_count, heap_capacity;
	__u64 random_state;
	health_changed_fn changed;
	void *ctx;
	struct health_totals totals;
	__u64 local_error_log_ms; /* when the last local error was logged */
	/* Half-open checks: IPv4's and IPv6's raw sockets (open when
	 * syn_ready), the cookies' key, and the checks in flight hashed by
	 * backend address and port. */
	bool syn_ready;
	struct health_syn_socket syn[2];
	__u8 syn_key[HEALTH_SYN_KEY_LEN];
	struct health_task **syn_buckets;
	__u32 syn_bucket_count; /* a power of two */
	__u64 syn_read_ms; /* when the raw sockets are read next, while checks wait */
};

__u64 health_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

static __u64 health_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000 + (__u64)ts.tv_nsec / 1000;
}

/* xorshift64*: jitter needs spread, not secrecy. */
static __u64 health_random(struct health_engine *e)
{
	e->random_state ^= e->random_state >> 12;
	e->random_state ^= e->random_state << 25;
	e->random_state ^= e->random_state >> 27;
	return e->random_state * 0x2545f4914f6cdd1dull;
}

/* ---- the timer heap ---- */

/*
 * The heap keeps each task's deadline beside its pointer: sifting compares
 * keys in one contiguous array instead of loading at_ms from tasks spread
 * over memory (with ten thousand backends that was most of the engine's own
 * time, a cache miss per comparison). The copy in the task is the same
 * value, for whoever holds the task.
 */
static void health_heap_set(struct health_engine *e, __u32 i, struct health_heap_entry entry)
{
	e->heap[i] = entry;
	entry.task->heap_index = i;
}

static void health_heap_up(struct health_engine *e, __u32 i)
{
	struct health_heap_entry entry = e->heap[i];

	while (i > 0 && e->heap[(i - 1) / 2].at_ms > entry.at_ms) {
		health_heap_set(e, i, e->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	health_heap_set(e, i, entry);
}

static void health_heap_down(struct health_engine *e, __u32 i)
{
	struct health_heap_entry entry = e->heap[i];

	for (;;) {
		__u32 l = 2 * i + 1, r = l + 1, m = l;
		if (l >= e->heap_count)
			break;
		if (r < e->heap_count && e->heap[r].at_ms < e->heap[l].at_ms)
			m = r;
		if (e->heap[m].at_ms >= entry.at_ms)
			break;
		health_heap_set(e, i, e->heap[m]);
		i = m;
	}
	health_heap_set(e, i, entry);
}

static void health_heap_remove(struct health_engine *e, struct health_task *t)
{
	__u32 i = t->heap_index;

	if (i == HEALTH_HEAP_NONE)
		return;
	t->heap_index = HEALTH_HEAP_NONE;
	e->heap_count--;
	if (i == e->heap_count)
		return;
	health_heap_set(e, i, e->heap[e->heap_count]);
	health_heap_up(e, i);
	health_heap_down(e, e->heap[i].task->heap_index);
}

/* (Re)arms t's timer, moving it within the heap when it is there already.
 * The heap has room: it holds at most two tasks per probe, reserved when
 * the probe was made. */
static void health_arm(struct health_engine *e, struct health_task *t, __u64 at_ms)
{
	bool later = at_ms > t->at_ms;

	t->at_ms = at_ms;
	if (t->heap_index == HEALTH_HEAP_NONE) {
		t->heap_index = e->heap_count++;
		e->heap[t->heap_index] = (struct health_heap_entry){ at_ms, t };
		health_heap_up(e, t->heap_index);
		return;
	}
	e->heap[t->heap_index].at_ms = at_ms;
	if (later)
		health_heap_down(e, t->heap_index);
	else
		health_heap_up(e, t->heap_index);
}

/* ---- scheduling ---- */

static __u32 health_jitter(struct health_engine *e, __u32 interval_ms, __u32 jitter_pct)
{
	__u64 spread = (__u64)interval_ms * jitter_pct / 100;

	if (spread == 0)
		return interval_ms;
	/* interval ± spread, uniformly */
	return (__u32)(interval_ms - spread + health_random(e) % (2 * spread + 1));
}

static __u32 health_check_interval(const struct model_backend *b)
{
	const struct conf_health *h = &b->vip->health;

	if (b->check_up)
		return b->failures ? h->fast_interval_ms : h->interval_ms;
	if (b->successes || b->failures < h->fall)
		return h->fast_interval_ms;
	return h->down_interval_ms;
}

static void health_schedule(struct health_engine *e, struct health_task *t, __u64 now_ms)
{
	const struct model_backend *b = t->probe->b;
	const struct conf_health *h = &b->vip->health;
	__u32 interval = t->agent ? h->agent_interval_ms : health_check_interval(b);

	health_arm(e, t, now_ms + health_jitter(e, interval, h->jitter_pct));
}

/* ---- one probe's life ---- */

static void health_syn_unlink(struct health_engine *e, struct health_task *t);

static void health_close(struct health_engine *e, struct health_task *t)
{
	if (t->phase == HEALTH_SYN_SENT)
		health_syn_unlink(e, t);
	if (t->fd >= 0)
		close(t->fd); /* also leaves the epoll set */
	t->fd = -1;
	t->phase = HEALTH_IDLE;
	t->have = t->sent = t->request_length = 0;
}

static void health_agent_done(struct health_engine *e, struct health_task *t, bool ok,
			      const char *why)
{
	struct model_backend *b = t->probe->b;
	char err[AGENT_ERROR_LEN];
	struct agent_report report;
	bool was_failing = b->agent_error[0] != '\0';

	e->totals.agent_reads++;
	if (ok && agent_parse_line(t->buf, t->have, &report, err, sizeof(err)) == 0) {
		if (model_backend_agent_result(b, &report, NULL))
			e->changed(e->ctx, b, HEALTH_AGENT_CHANGED);
		return;
	}
	e->totals.agent_failures++;
	model_backend_agent_result(b, NULL, ok ? err : why);
	if (!was_failing)
		e->changed(e->ctx, b, HEALTH_AGENT_FAILED);
}

/* Ends t's probe with a verdict and schedules the next; the check ended at
 * end_us (CLOCK_MONOTONIC), which may be before now: when its answer
 * arrived rather than when it was read. */
static void health_finish_at(struct health_engine *e, struct health_task *t, bool ok,
			     const char *why, __u64 end_us)
{
	struct model_backend *b = t->probe->b;
	__u64 now_us = health_now_us();
	__u32 duration_us =
		(__u32)((end_us > t->started_us && end_us <= now_us ? end_us : now_us) - t->started_us);

	if (t->phase == HEALTH_SYN_SENT)
		health_syn_unlink(e, t);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->phase = HEALTH_IDLE;
	if (t->agent) {
		health_agent_done(e, t, ok, why);
	} else {
		e->totals.checks++;
		e->totals.check_failures += !ok;
		if (model_backend_check_result(b, ok, why, duration_us, now_us / 1000))
			e->changed(e->ctx, b, HEALTH_CHECK_CHANGED);
	}
	t->have = t->sent = t->request_length = 0;
	health_schedule(e, t, now_us / 1000);
}

static void health_finish(struct health_engine *e, struct health_task *t, bool ok, const char *why)
{
	health_finish_at(e, t, ok, why, UINT64_MAX);
}

static void health_fail_errno(struct health_engine *e, struct health_task *t, const char *what,
			      int err)
{
	char why[MODEL_REASON_MAX];

	snprintf(why, sizeof(why), "%s: %s", what, strerror(err));
	health_finish(e, t, false, why);
}

/*
 * connect() failed at once with ENETUNREACH: this host has no route toward
 * the backend at all, so the check never left it. In DPDK mode that is what
 * every check sees while lb-dpdk restarts — the checks leave through its
 * exception interface, which is gone until the new process has set its port
 * up — and it says nothing about the backend. Counted as failures, it marked
 * healthy backends down at every `systemctl restart lb-dpdk` and moved their
 * connections. For up to HEALTH_UNROUTABLE_GRACE_MS such a check gives no
 * verdict and is tried again at the fast interval; past that the host's
 * route is really gone and the failures count as any other. Returns true
 * when the check was set aside. Called on lbd's loop.
 */
static bool health_unroutable(struct health_engine *e, struct health_task *t, __u64 now_ms)
{
	struct model_backend *b = t->probe->b;

	if (!t->unroutable_since_ms)
		t->unroutable_since_ms = now_ms;
	if (now_ms - t->unroutable_since_ms >= HEALTH_UNROUTABLE_GRACE_MS)
		return false;
	health_close(e, t);
	snprintf(b->check_reason, sizeof(b->check_reason),
		 "%s: %s (no route from this host: no verdict for %u s)",
		 b->vip->health.type == CONF_HEALTH_TCP_HALF_OPEN ? "tcp-half-open" : "connect",
		 strerror(ENETUNREACH), HEALTH_UNROUTABLE_GRACE_MS / 1000);
	health_arm(e, t, now_ms + b->vip->health.fast_interval_ms);
	return true;
}

static socklen_t health_sockaddr(const struct model_backend *b, __u16 port,
				 struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (b->addr.family == FLOW_FAMILY_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = b->addr.addr[0];
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	memcpy(&sin6->sin6_addr, b->addr.addr, 16);
	return sizeof(*sin6);
}

static void health_build_request(struct health_task *t, __u16 port)
{
	const struct model_backend *b = t->probe->b;
	const struct conf_health *h = &b->vip->health;
	char host[CONF_PATH_MAX + 16], addr[64];

	if (h->http_host[0])
		snprintf(host, sizeof(host), "%s", h->http_host);
	else if (b->addr.family == FLOW_FAMILY_IPV6)
		snprintf(host, sizeof(host), port == 80 ? "[%s]" : "[%s]:%u",
			 conf_fmt_addr(&b->addr, addr, sizeof(addr)), port);
	else
		snprintf(host, sizeof(host), port == 80 ? "%s" : "%s:%u",
			 conf_fmt_addr(&b->addr, addr, sizeof(addr)), port);
	int n = snprintf(t->buf, sizeof(t->buf),
			 "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: fulcrum-lbd\r\n"
			 "Connection: close\r\n\r\n",
			 h->http_path, host);
	t->request_length = n < (int)sizeof(t->buf) ? (__u32)n : (__u32)sizeof(t->buf) - 1;
}

/*
 * t could not start for want of lbd's own resources (descriptors held by
 * control clients, socket buffers): that says nothing about the backend.
 * It is tried again at the next interval, and said now and then.
 */
static void health_local_error(struct health_engine *e, struct health_task *t, const char *what,
			       int err, __u64 now_ms)
{
	e->totals.local_errors++;
	if (now_ms - e->local_error_log_ms >= 10000 || !e->local_error_log_ms) {
		log_warning("health checks: %s: %s; checks wait for lbd's own resources, backends "
			    "are not blamed (%llu so far)",
			    what, strerror(err), (unsigned long long)e->totals.local_errors);
		e->local_error_log_ms = now_ms;
	}
	health_close(e, t);
	health_schedule(e, t, now_ms);
}

/* ---- half-open checks ---- */

static __u32 health_syn_bucket(const struct health_engine *e, const struct conf_addr *addr,
			       __u16 port)
{
	__u32 x = addr->addr[0] ^ addr->addr[1] ^ addr->addr[2] ^ addr->addr[3];

	/* Only configured backends are hashed, so spread is all it needs. */
	x ^= (__u32)port * 0x9e3779b1u;
	x *= 0x85ebca6bu;
	x ^= x >> 16;
	return x & (e->syn_bucket_count - 1);
}

static struct health_syn_socket *health_syn_socket_of(struct health_engine *e,
							const struct health_task *t)
{
	return &e->syn[t->probe->b->addr.family == FLOW_FAMILY_IPV4 ? 0 : 1];
}

static void health_syn_link(struct health_engine *e, struct health_task *t)
{
	struct health_task **head =
		&e->syn_buckets[health_syn_bucket(e, &t->probe->b->addr, t->syn_port)];

	t->syn_next = *head;
	*head = t;
	health_syn_socket_of(e, t)->in_flight++;
}

static void health_syn_unlink(struct health_engine *e, struct health_task *t)
{
	struct health_task **p =
		&e->syn_buckets[health_syn_bucket(e, &t->probe->b->addr, t->syn_port)];

	while (*p && *p != t)
		p = &(*p)->syn_next;
	if (*p) {
		*p = t->syn_next;
		health_syn_socket_of(e, t)->in_flight--;
	}
	t->syn_next = NULL;
}

/* Grows the hash to at least want buckets (so chains stay about one long
 * with every probe in flight). On failure the old one stays: longer
 * chains, same answers. */
static void health_syn_grow(struct health_engine *e, __u32 want)
{
	__u32 count = e->syn_bucket_count, old_count = count;
	struct health_task **old = e->syn_buckets;

	while (count < want)
		count *= 2;
	if (count == old_count)
		return;
	struct health_task **grown = calloc(count, sizeof(*grown));
	if (!grown)
		return;
	e->syn_buckets = grown;
	e->syn_bucket_count = count;
	e->syn[0].in_flight = e->syn[1].in_flight = 0; /* counted again as relinked */
	for (__u32 i = 0; i < old_count; i++) {
		for (struct health_task *t = old[i], *next; t; t = next) {
			next = t->syn_next;
			health_syn_link(e, t);
		}
	}
	free(old);
}

static void health_syn_socket_close(struct health_syn_socket *s)
{
	if (s->raw_fd >= 0)
		close(s->raw_fd); /* also leaves the epoll set */
	if (s->port_fd >= 0)
		close(s->port_fd);
	if (s->route_fd >= 0)
		close(s->route_fd);
	s->raw_fd = s->port_fd = s->route_fd = -1;
	s->port = 0;
	s->queued = 0;
}

/*
 * Opens s for family: the raw socket with its filter and buffers, the
 * source port reserved, and for IPv4 the socket that finds a route's
 * source address. Returns 0, or -errno with err saying what failed.
 */
static int health_syn_socket_open(struct health_engine *e, struct health_syn_socket *s,
				  __u8 family, char *err, size_t err_size)
{
	bool v4 = family == FLOW_FAMILY_IPV4;
	int af = v4 ? AF_INET : AF_INET6, one = 1, rc;
	const char *af_name = v4 ? "AF_INET" : "AF_INET6";
	struct sockaddr_in6 sa = { 0 };
	socklen_t len = v4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	struct sock_filter prog[HEALTH_SYN_FILTER_MAX];
	struct sock_fprog fprog = { .filter = prog };

	s->family = family;
	s->raw_fd = socket(af, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s->raw_fd < 0) {
		rc = -errno;
		snprintf(err, err_size,
			 "health checks of type \"tcp-half-open\" send their SYNs from a raw "
			 "socket, which needs CAP_NET_RAW: socket(%s, SOCK_RAW, IPPROTO_TCP): %s",
			 af_name, strerror(-rc));
		goto fail;
	}
	/*
	 * The source port: a TCP socket bound to it and never listening. No
	 * connect() of this host picks a bound port, and a SYN-ACK to it finds
	 * neither a connection nor a listener, so the kernel answers it with a
	 * reset: the backend drops its half-open connection at once.
	 */
	s->port_fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->port_fd >= 0 && !v4)
		setsockopt(s->port_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	sa.sin6_family = (sa_family_t)af;
	if (s->port_fd < 0 || bind(s->port_fd, (struct sockaddr *)&sa, len) < 0 ||
	    getsockname(s->port_fd, (struct sockaddr *)&sa, &len) < 0) {
		rc = -errno;
		snprintf(err, err_size, "tcp-half-open: reserving a source port (%s): %s", af_name,
			 strerror(-rc));
		goto fail;
	}
	/* sin_port and sin6_port are at the same offset. */
	s->port = ntohs(sa.sin6_port);
	fprog.len = health_syn_filter(family, s->port, prog);
	if (setsockopt(s->raw_fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0) {
		rc = -errno;
		snprintf(err, err_size, "tcp-half-open: SO_ATTACH_FILTER (%s): %s", af_name,
			 strerror(-rc));
		goto fail;
	}
	if (!v4) {
		/* The kernel fills in the checksum: it knows the source address. */
		int offset = HEALTH_SYN_CHECKSUM_OFFSET;
		if (setsockopt(s->raw_fd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset, sizeof(offset)) < 0) {
			rc = -errno;
			snprintf(err, err_size, "tcp-half-open: IPV6_CHECKSUM: %s", strerror(-rc));
			goto fail;
		}
	} else {
		s->route_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s->route_fd < 0) {
			rc = -errno;
			snprintf(err, err_size, "tcp-half-open: socket(AF_INET, SOCK_DGRAM): %s",
				 strerror(-rc));
			goto fail;
		}
	}
	/* Larger buffers when lbd may have them (CAP_NET_ADMIN), else up to
	 * the system's maximum: a fleet's replies come in bursts. */
	int rcvbuf = HEALTH_SYN_RCVBUF, sndbuf = HEALTH_SYN_SNDBUF;
	if (setsockopt(s->raw_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(s->raw_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (setsockopt(s->raw_fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(s->raw_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	/*
	 * No epoll: the socket is read once per HEALTH_SYN_GATHER_MS slot while
	 * checks wait (health_next_ms()), not woken for by every reply, which
	 * with ten thousand checks a second was ten thousand wake-ups. The
	 * kernel's receive time of each reply still dates its check's end.
	 */
	if (setsockopt(s->raw_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) {
		rc = -errno;
		snprintf(err, err_size, "tcp-half-open: SO_TIMESTAMPNS: %s", strerror(-rc));
		goto fail;
	}
	(void)e;
	return 0;
fail:
	health_syn_socket_close(s);
	return rc;
}

int health_prepare(struct health_engine *e, enum conf_health_type type, char *err, size_t err_size)
{
	char why6[256];
	int rc;

	if (type != CONF_HEALTH_TCP_HALF_OPEN || e->syn_ready)
		return 0;
	rc = health_syn_socket_open(e, &e->syn[0], FLOW_FAMILY_IPV4, err, err_size);
	if (rc)
		return rc;
	rc = health_syn_socket_open(e, &e->syn[1], FLOW_FAMILY_IPV6, why6, sizeof(why6));
	if (rc == -EAFNOSUPPORT) {
		/* A kernel without IPv6: its backends' checks say so. */
		e->syn[1].error = EAFNOSUPPORT;
		log_warning("%s; IPv6 backends' half-open checks fail", why6);
	} else if (rc) {
		snprintf(err, err_size, "%s", why6);
		health_syn_socket_close(&e->syn[0]);
		return rc;
	}
	e->syn_ready = true;
	log_info("half-open health checks: SYNs from source port %u (IPv4) and %u (IPv6), "
		 "reserved by sockets that never listen",
		 e->syn[0].port, e->syn[1].port);
	return 0;
}

__u16 health_half_open_port(const struct health_engine *e, __u8 family)
{
	return e->syn[family == FLOW_FAMILY_IPV4 ? 0 : 1].port;
}

/* Sends the SYNs gathered in s; a SYN that cannot be sent ends its check
 * now (health_syn_send_failed()). */
static void health_syn_send_failed(struct health_engine *e, struct health_task *t, int err,
				   __u64 now_ms);

static void health_syn_flush(struct health_engine *e, struct health_syn_socket *s, __u64 now_ms)
{
	__u32 n = s->queued, sent = 0;

	/*
	 * A raw socket never tells the neighbour table that the next hop
	 * answers, as TCP does with every ACK, so its entry would go stale and
	 * be probed again and again (through lb-dpdk's exception path each
	 * probe can hold SYNs back for most of a second: checks then time out
	 * for nothing). A SYN-ACK or reset that matched a check is that
	 * proof: the batch after one says so (MSG_CONFIRM).
	 */
	int flags = s->answered ? MSG_CONFIRM : 0;

	s->answered = false;
	s->queued = 0;
	while (sent < n) {
		int r = sendmmsg(s->raw_fd, s->msgs + sent, n - sent, flags);
		if (r > 0) {
			for (__u32 k = sent; k < sent + (__u32)r; k++)
				if (s->tasks[k])
					s->tasks[k]->unroutable_since_ms = 0;
			sent += (__u32)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		/* sendmmsg() stops at the first message that fails, with its
		 * error when it is the first of the call. */
		int err = r < 0 ? errno : EIO;
		struct health_task *t = s->tasks[sent++];
		if (t)
			health_syn_send_failed(e, t, err, now_ms);
	}
}

static void health_syn_send_failed(struct health_engine *e, struct health_task *t, int err,
				   __u64 now_ms)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ENOMEM) {
		health_local_error(e, t, "tcp-half-open: send", err, now_ms);
		return;
	}
	if (err == ENETUNREACH && health_unroutable(e, t, now_ms))
		return;
	health_fail_errno(e, t, "tcp-half-open: send", err);
}

/* The address the kernel will give t's SYN, from the route toward it,
 * into t->syn_source. Returns 0 or -errno (-ENETUNREACH: no route). */
static int health_syn_source(struct health_syn_socket *s, struct health_task *t, __u64 now_ms)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(t->syn_port),
				  .sin_addr.s_addr = t->probe->b->addr.addr[0] };
	struct sockaddr_in src;
	socklen_t len = sizeof(src);

	/* A UDP connect() sends nothing: it is the kernel's route lookup. */
	if (connect(s->route_fd, (struct sockaddr *)&to, sizeof(to)) < 0 ||
	    getsockname(s->route_fd, (struct sockaddr *)&src, &len) < 0)
		return -errno;
	t->syn_source = src.sin_addr.s_addr;
	t->syn_source_ms = now_ms ? now_ms : 1;
	return 0;
}

/* Starts t's half-open check of port: its SYN joins the batch of its
 * family's socket, and t waits in the hash until a reply or its timeout. */
static void health_syn_start(struct health_engine *e, struct health_task *t, __u16 port,
			     __u64 now_ms)
{
	const struct model_backend *b = t->probe->b;
	bool v4 = b->addr.family == FLOW_FAMILY_IPV4;
	struct health_syn_socket *s = &e->syn[v4 ? 0 : 1];
	struct conf_addr src = { .family = FLOW_FAMILY_IPV4 };
	char why[MODEL_REASON_MAX];

	if (!e->syn_ready) {
		/* lbd prepares the sockets wherever a VIP gets this type; a
		 * model changed by another way learns why here, per check. */
		char err[MODEL_REASON_MAX];
		if (health_prepare(e, CONF_HEALTH_TCP_HALF_OPEN, err, sizeof(err)) < 0) {
			health_finish(e, t, false, err);
			return;
		}
	}
	if (s->raw_fd < 0) {
		snprintf(why, sizeof(why), "tcp-half-open: no raw socket for IPv6: %s",
			 strerror(s->error ? s->error : EAFNOSUPPORT));
		health_finish(e, t, false, why);
		return;
	}
	t->syn_port = port;
	if (v4) {
		/*
		 * The source address the route gives the backend (the IPv4
		 * checksum covers it), looked up once: while answers come back
		 * to it, it is right. A moved route gets a SYN with a bad
		 * checksum, which no backend answers: the timeout forgets the
		 * address (health_timeout()), so it costs one check. Looking
		 * it up on a timer instead cost a connect() and a getsockname()
		 * per backend each time, 1 - 2% of a core at 10 000 backends
		 * every 30 s here.
		 */
		if (!t->syn_source_ms) {
			int rc = health_syn_source(s, t, now_ms);
			if (rc == -ENETUNREACH && health_unroutable(e, t, now_ms))
				return;
			if (rc) {
				health_fail_errno(e, t, "tcp-half-open: route", -rc);
				return;
			}
		}
		src.addr[0] = t->syn_source;
	}
	if (s->queued == HEALTH_SYN_BATCH)
		health_syn_flush(e, s, now_ms);
	__u32 k = s->queued++;
	t->isn = health_syn_cookie(e->syn_key, &b->addr, port, t->started_us);
	s->tasks[k] = t;
	s->iov[k] = (struct iovec){ s->pkts[k], health_syn_build(s->pkts[k], s->port, port, t->isn,
								  &src, &b->addr) };
	/* Port 0: an IPv6 raw socket would read any other as a protocol. */
	memset(&s->to[k], 0, sizeof(s->to[k]));
	if (v4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&s->to[k];
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = b->addr.addr[0];
	} else {
		s->to[k].sin6_family = AF_INET6;
		memcpy(&s->to[k].sin6_addr, b->addr.addr, 16);
	}
	s->msgs[k] = (struct mmsghdr){
		.msg_hdr = { .msg_name = &s->to[k],
			     .msg_namelen = v4 ? sizeof(struct sockaddr_in) : sizeof(s->to[k]),
			     .msg_iov = &s->iov[k],
			     .msg_iovlen = 1 },
	};
	t->phase = HEALTH_SYN_SENT;
	health_syn_link(e, t);
	health_arm(e, t, now_ms + b->vip->health.timeout_ms);
}

/* A reply read from s: the verdict of the check it answers, if any. */
static void health_syn_answer(struct health_engine *e, struct health_syn_socket *s,
			      const struct health_syn_reply *reply, __u64 end_us)
{
	char why[MODEL_REASON_MAX];

	for (struct health_task *t = e->syn_buckets[health_syn_bucket(e, &reply->from,
								      reply->from_port)];
	     t; t = t->syn_next) {
		if (!health_syn_matches(reply, &t->probe->b->addr, t->syn_port, s->port, t->isn))
			continue;
		s->answered = true;
		if (reply->answer == HEALTH_SYN_ACCEPTED) {
			health_finish_at(e, t, true, "tcp-half-open: SYN-ACK", end_us);
		} else {
			snprintf(why, sizeof(why), "tcp-half-open: reset: nothing listens on port %u",
				 t->syn_port);
			health_finish_at(e, t, false, why, end_us);
		}
		return;
	}
	/* Late (after its timeout), for a check of an earlier lbd, or forged. */
	e->totals.half_open_ignored++;
}

/* The CLOCK_MONOTONIC time of a reply the kernel stamped at rx (its
 * SCM_TIMESTAMPNS, CLOCK_REALTIME), given both clocks now; now_mono_us
 * when it carries no stamp. */
static __u64 health_syn_rx_us(struct msghdr *m, __u64 now_mono_us, __u64 now_real_us)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		struct timespec ts;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		__u64 rx_real_us = (__u64)ts.tv_sec * 1000000 + (__u64)ts.tv_nsec / 1000;
		if (rx_real_us > now_real_us || now_real_us - rx_real_us > now_mono_us)
			return now_mono_us; /* the wall clock was set meanwhile */
		return now_mono_us - (now_real_us - rx_real_us);
	}
	return now_mono_us;
}

/* Reads every reply waiting on s, in batches. */
static void health_syn_receive(struct health_engine *e, struct health_syn_socket *s)
{
	__u8 bufs[HEALTH_SYN_BATCH][HEALTH_SYN_RECV_SIZE];
	struct sockaddr_in6 from[HEALTH_SYN_BATCH];
	struct iovec iov[HEALTH_SYN_BATCH];
	struct mmsghdr msgs[HEALTH_SYN_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec))];
		struct cmsghdr align;
	} control[HEALTH_SYN_BATCH];
	struct health_syn_reply reply;
	struct timespec real;

	for (;;) {
		for (int k = 0; k < HEALTH_SYN_BATCH; k++) {
			iov[k] = (struct iovec){ bufs[k], sizeof(bufs[k]) };
			msgs[k] = (struct mmsghdr){ .msg_hdr = { .msg_name = &from[k],
								 .msg_namelen = sizeof(from[k]),
								 .msg_iov = &iov[k],
								 .msg_iovlen = 1,
								 .msg_control = control[k].buf,
								 .msg_controllen = sizeof(control[k].buf) } };
		}
		int n = recvmmsg(s->raw_fd, msgs, HEALTH_SYN_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		__u64 now_us = health_now_us();
		clock_gettime(CLOCK_REALTIME, &real);
		__u64 real_us = (__u64)real.tv_sec * 1000000 + (__u64)real.tv_nsec / 1000;
		for (int k = 0; k < n; k++) {
			struct conf_addr sender = { .family = FLOW_FAMILY_IPV6 };
			memcpy(sender.addr, &from[k].sin6_addr, 16);
			if (health_syn_parse(bufs[k], msgs[k].msg_len, s->family,
					     s->family == FLOW_FAMILY_IPV6 ? &sender : NULL,
					     &reply) < 0) {
				e->totals.half_open_ignored++;
				continue;
			}
			health_syn_answer(e, s, &reply,
					  health_syn_rx_us(&msgs[k].msg_hdr, now_us, real_us));
		}
		if (n < HEALTH_SYN_BATCH)
			return;
	}
}

static void health_syn_flush_all(struct health_engine *e, __u64 now_ms)
{
	for (int f = 0; f < 2; f++)
		if (e->syn[f].queued)
			health_syn_flush(e, &e->syn[f], now_ms);
}

/* Whether t is a half-open check, whose start may be gathered. */
static bool health_gathers(const struct health_task *t)
{
	return !t->agent && t->phase == HEALTH_IDLE &&
	       t->probe->b->vip->health.type == CONF_HEALTH_TCP_HALF_OPEN;
}

static void health_start_task(struct health_engine *e, struct health_task *t, __u64 now_ms)
{
	const struct model_backend *b = t->probe->b;
	const struct conf_health *h = &b->vip->health;
	struct sockaddr_storage ss;
	__u16 port;

	if (t->agent) {
		port = h->agent_port;
	} else {
		if (h->type == CONF_HEALTH_NONE) {
			health_schedule(e, t, now_ms); /* the type may change on reload */
			return;
		}
		port = h->port ? h->port : b->port;
	}
	if (port == 0) {
		/*
		 * A VIP without an agent port: its agent reads are parked, out of
		 * the heap, until health_refresh() (a reload may give it one).
		 * Rescheduled every agent interval, they woke lbd for nothing:
		 * 10 000 backends made 5 000 empty wake-ups a second.
		 */
		if (t->agent) {
			health_heap_remove(e, t);
			return;
		}
		health_schedule(e, t, now_ms);
		return;
	}
	t->started_us = health_now_us();
	if (!t->agent && h->type == CONF_HEALTH_TCP_HALF_OPEN) {
		health_syn_start(e, t, port, now_ms);
		return;
	}
	t->fd = socket(b->addr.family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0) {
		int err = errno;
		if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
			health_local_error(e, t, "socket", err, now_ms);
			return;
		}
		health_fail_errno(e, t, "socket", err);
		return;
	}
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	socklen_t len = health_sockaddr(b, port, &ss);
	if (connect(t->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		int err = errno;

		if (!t->agent && err == ENETUNREACH) {
			if (health_unroutable(e, t, now_ms))
				return;
		} else {
			t->unroutable_since_ms = 0;
		}
		health_fail_errno(e, t, "connect", err);
		return;
	}
	t->unroutable_since_ms = 0;
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = t };
	if (epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, t->fd, &ev) < 0) {
		health_fail_errno(e, t, "epoll", errno);
		return;
	}
	t->phase = HEALTH_CONNECTING;
	if (!t->agent && h->type == CONF_HEALTH_HTTP)
		health_build_request(t, port);
	health_arm(e, t, now_ms + h->timeout_ms);
}

/* The verdict of an HTTP status line in t->buf, once complete enough. */
static int health_http_verdict(struct health_engine *e, struct health_task *t, bool eof)
{
	const struct conf_health *h = &t->probe->b->vip->health;
	char why[MODEL_REASON_MAX];

	/* "HTTP/1.x NNN" is all we need; the rest of the reply is ignored. */
	if (t->have < 12) {
		if (!eof)
			return 0;
		health_finish(e, t, false, "http: connection closed before a status line");
		return 1;
	}
	if (memcmp(t->buf, "HTTP/1.", 7) != 0 || t->buf[8] != ' ' || t->buf[9] < '1' ||
	    t->buf[9] > '5' || t->buf[10] < '0' || t->buf[10] > '9' || t->buf[11] < '0' ||
	    t->buf[11] > '9') {
		health_finish(e, t, false, "http: reply is not an HTTP/1 status line");
		return 1;
	}
	unsigned status = (unsigned)(t->buf[9] - '0') * 100 + (unsigned)(t->buf[10] - '0') * 10 +
			  (unsigned)(t->buf[11] - '0');
	for (__u32 i = 0; i < h->http_expect_count; i++) {
		if (h->http_expect[i] == status) {
			snprintf(why, sizeof(why), "http: status %u", status);
			health_finish(e, t, true, why);
			return 1;
		}
	}
	snprintf(why, sizeof(why), "http: status %u is not expected", status);
	health_finish(e, t, false, why);
	return 1;
}

static void health_read(struct health_engine *e, struct health_task *t)
{
	for (;;) {
		__u32 room = (__u32)sizeof(t->buf) - 1 - t->have;
		if (room == 0) {
			if (t->agent)
				health_finish(e, t, false, "agent: reply longer than 512 bytes");
			else
				health_http_verdict(e, t, true);
			return;
		}
		ssize_t n = recv(t->fd, t->buf + t->have, room, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				health_fail_errno(e, t, t->agent ? "agent: read" : "http: read", errno);
			return;
		}
		bool eof = n == 0;
		t->have += (__u32)n;
		if (t->agent) {
			char *nl = memchr(t->buf, '\n', t->have);
			if (nl || eof) {
				if (nl)
					t->have = (__u32)(nl - t->buf);
				if (t->have == 0 && eof && !nl)
					health_finish(e, t, false, "agent: closed without a reply");
				else
					health_finish(e, t, true, NULL);
				return;
			}
		} else if (health_http_verdict(e, t, eof)) {
			return;
		}
		if (eof)
			return;
	}
}

static void health_send(struct health_engine *e, struct health_task *t)
{
	while (t->sent < t->request_length) {
		ssize_t n = send(t->fd, t->buf + t->sent, t->request_length - t->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				health_fail_errno(e, t, "http: send", errno);
			return;
		}
		t->sent += (__u32)n;
	}
	/* The request is out; the buffer now collects the reply. */
	t->have = 0;
	t->phase = HEALTH_READING;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = t };
	epoll_ctl(e->epoll_fd, EPOLL_CTL_MOD, t->fd, &ev);
}

static void health_event(struct health_engine *e, struct health_task *t)
{
	const struct conf_health *h = &t->probe->b->vip->health;

	if (t->phase == HEALTH_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			health_fail_errno(e, t, t->agent ? "agent: connect" : "connect", err);
			return;
		}
		if (t->agent) {
			t->phase = HEALTH_READING;
			struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = t };
			epoll_ctl(e->epoll_fd, EPOLL_CTL_MOD, t->fd, &ev);
			health_read(e, t);
			return;
		}
		if (h->type != CONF_HEALTH_HTTP) {
			health_finish(e, t, true, "tcp: connected");
			return;
		}
		t->phase = HEALTH_SENDING;
	}
	if (t->phase == HEALTH_SENDING)
		health_send(e, t);
	else if (t->phase == HEALTH_READING)
		health_read(e, t);
}

static void health_timeout(struct health_engine *e, struct health_task *t)
{
	char why[MODEL_REASON_MAX];
	const char *what = t->agent                          ? "agent"
			   : t->phase == HEALTH_SYN_SENT   ? "tcp-half-open"
			   : t->phase == HEALTH_CONNECTING ? "connect"
							   : "http";

	/* The route may have moved: look the source up again next time. */
	t->syn_source_ms = 0;

	snprintf(why, sizeof(why), "%s: no answer within %u ms", what,
		 t->probe->b->vip->health.timeout_ms);
	health_finish(e, t, false, why);
}

/* ---- the engine ---- */

struct health_engine *health_create(health_changed_fn changed, void *ctx)
{
	struct health_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epoll_fd < 0) {
		int err = errno;
		free(e);
		errno = err;
		return NULL;
	}
	e->syn_buckets = calloc(HEALTH_SYN_BUCKETS_MIN, sizeof(*e->syn_buckets));
	if (!e->syn_buckets) {
		close(e->epoll_fd);
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	e->syn_bucket_count = HEALTH_SYN_BUCKETS_MIN;
	for (int f = 0; f < 2; f++)
		e->syn[f].raw_fd = e->syn[f].port_fd = e->syn[f].route_fd = -1;
	/* The cookies' key: unguessable, so that no one off the path can
	 * answer a SYN for a backend. */
	if (getrandom(e->syn_key, sizeof(e->syn_key), 0) != (ssize_t)sizeof(e->syn_key)) {
		for (size_t i = 0; i < sizeof(e->syn_key); i++)
			e->syn_key[i] = (__u8)(health_now_us() >> (i % 8 * 8) ^ (__u64)getpid() >> i);
	}
	e->changed = changed;
	e->ctx = ctx;
	e->random_state = health_now_us() ^ ((__u64)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	return e;
}

static void health_probe_destroy(struct health_engine *e, struct health_probe *p)
{
	health_heap_remove(e, &p->check);
	health_heap_remove(e, &p->agent);
	for (int f = 0; f < 2; f++)
		for (__u32 k = 0; k < e->syn[f].queued; k++)
			if (e->syn[f].tasks[k] == &p->check)
				e->syn[f].tasks[k] = NULL; /* its SYN goes; no one waits for it */
	health_close(e, &p->check);
	health_close(e, &p->agent);
	p->b->probe = NULL;
	free(p);
	e->totals.probes--;
}

void health_destroy(struct health_engine *e)
{
	if (!e)
		return;
	while (e->heap_count) {
		struct health_task *t = e->heap[0].task;
		health_probe_destroy(e, t->probe);
	}
	free(e->heap);
	for (int f = 0; f < 2; f++)
		health_syn_socket_close(&e->syn[f]);
	free(e->syn_buckets);
	close(e->epoll_fd);
	free(e);
}

static void health_task_init(struct health_probe *p, struct health_task *t, bool agent)
{
	t->probe = p;
	t->agent = agent;
	t->fd = -1;
	t->heap_index = HEALTH_HEAP_NONE;
	t->phase = HEALTH_IDLE;
}

static void health_backend_added(void *ctx, struct model_backend *b)
{
	struct health_engine *e = ctx;
	__u64 now_ms = health_now_ms();

	if (b->probe)
		return;
	if (e->heap_count + 2 > e->heap_capacity) {
		__u32 cap = e->heap_capacity ? e->heap_capacity * 2 : 64;
		struct health_heap_entry *grown = realloc(e->heap, cap * sizeof(*grown));
		if (!grown)
			return; /* stays unchecked, so down: safe, and rare */
		e->heap = grown;
		e->heap_capacity = cap;
	}
	struct health_probe *p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->b = b;
	b->probe = p;
	health_task_init(p, &p->check, false);
	health_task_init(p, &p->agent, true);
	e->totals.probes++;
	health_syn_grow(e, e->totals.probes);
	/* A random start, so that backends added together spread out. */
	__u32 first = b->vip->health.fast_interval_ms;
	health_arm(e, &p->check, now_ms + health_random(e) % (first ? first : 1));
	health_arm(e, &p->agent, now_ms + health_random(e) % (first ? first : 1));
}

static void health_backend_removed(void *ctx, struct model_backend *b)
{
	struct health_engine *e = ctx;

	if (b->probe)
		health_probe_destroy(e, b->probe);
}

struct model_hooks health_hooks(struct health_engine *e)
{
	struct model_hooks h = { e, health_backend_added, health_backend_removed };

	return h;
}

void health_start(struct health_engine *e, struct model *m)
{
	for (__u32 i = 0; i < m->vip_count; i++) {
		struct model_vip *v = m->vips[i];
		if (v->deleted)
			continue;
		for (__u32 k = 0; k < v->backend_count; k++)
			if (!v->backends[k]->deleted)
				health_backend_added(e, v->backends[k]);
	}
}

int health_fd(const struct health_engine *e)
{
	return e->epoll_fd;
}

__u64 health_next_ms(const struct health_engine *e)
{
	__u64 next = e->heap_count ? e->heap[0].at_ms : UINT64_MAX;

	/* While half-open checks wait, their replies are read at the end of
	 * each slot (health_syn_socket_open()). */
	if ((e->syn[0].in_flight || e->syn[1].in_flight) && e->syn_read_ms < next)
		next = e->syn_read_ms;
	return next;
}

void health_run(struct health_engine *e, __u64 now_ms)
{
	struct epoll_event events[HEALTH_EPOLL_BATCH];
	int n;

	do {
		n = epoll_wait(e->epoll_fd, events, HEALTH_EPOLL_BATCH, 0);
		for (int i = 0; i < n; i++) {
			struct health_task *t = events[i].data.ptr;
			if (t->phase != HEALTH_IDLE)
				health_event(e, t);
		}
	} while (n == HEALTH_EPOLL_BATCH);
	/* Replies before timeouts: an answer that came in time counts. */
	for (int f = 0; f < 2; f++)
		if (e->syn[f].in_flight)
			health_syn_receive(e, &e->syn[f]);

	/* The end of the current slot of half-open starts. */
	__u64 slot_end_ms = (now_ms / HEALTH_SYN_GATHER_MS + 1) * HEALTH_SYN_GATHER_MS;
	while (e->heap_count) {
		struct health_task *t = e->heap[0].task;
		__u64 at_ms = e->heap[0].at_ms;
		if (at_ms > now_ms && !(at_ms < slot_end_ms && health_gathers(t)))
			break;
		if (t->phase == HEALTH_IDLE)
			health_start_task(e, t, now_ms);
		else
			health_timeout(e, t);
	}
	health_syn_flush_all(e, now_ms);
	e->syn_read_ms = slot_end_ms;
}

void health_refresh(struct health_engine *e, struct model *m)
{
	__u64 now_ms = health_now_ms();

	for (__u32 i = 0; i < m->vip_count; i++) {
		struct model_vip *v = m->vips[i];
		__u32 first = v->health.fast_interval_ms ? v->health.fast_interval_ms : 1;
		if (v->deleted || !v->health.agent_port)
			continue;
		for (__u32 k = 0; k < v->backend_count; k++) {
			struct health_probe *p = v->backends[k]->probe;
			if (p && p->agent.heap_index == HEALTH_HEAP_NONE &&
			    p->agent.phase == HEALTH_IDLE)
				health_arm(e, &p->agent, now_ms + health_random(e) % first);
		}
	}
}

void health_poll(struct health_engine *e, struct model_backend *b, __u64 now_ms)
{
	struct health_probe *p = b->probe;

	if (!p)
		return;
	if (p->check.phase == HEALTH_IDLE)
		health_arm(e, &p->check, now_ms);
	if (p->agent.phase == HEALTH_IDLE)
		health_arm(e, &p->agent, now_ms);
}

void health_totals(const struct health_engine *e, struct health_totals *out)
{
	*out = e->totals;
	out->in_flight = 0;
	for (__u32 i = 0; i < e->heap_count; i++)
		out->in_flight += e->heap[i].task->phase != HEALTH_IDLE;
}
