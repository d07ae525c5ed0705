/* SPDX-License-Identifier: BSD-3-Clause */
/* Health checks and agent checks (controlplane/health.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "controlplane/health.h"
#include "controlplane/log.h"

#define HEALTH_HEAP_NONE     UINT32_MAX
#define HEALTH_BUF_SIZE      (AGENT_LINE_MAX + 8)
#define HEALTH_EPOLL_BATCH   256

enum health_phase { HEALTH_IDLE, HEALTH_CONNECTING, HEALTH_SENDING, HEALTH_READING };

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
	__u32 have, sent, request_length;
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

struct health_engine {
	int epoll_fd;
	struct health_heap_entry *heap;
	__u32 heap_count, heap_capacity;
	__u64 random_state;
	health_changed_fn changed;
	void *ctx;
	struct health_totals totals;
	__u64 local_error_log_ms; /* when the last local error was logged */
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

static void health_close(struct health_task *t)
{
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

/* Ends t's probe with a verdict and schedules the next. */
static void health_finish(struct health_engine *e, struct health_task *t, bool ok, const char *why)
{
	struct model_backend *b = t->probe->b;
	__u64 now_us = health_now_us();
	__u32 duration_us = (__u32)(now_us - t->started_us);

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

static void health_fail_errno(struct health_engine *e, struct health_task *t, const char *what,
			      int err)
{
	char why[MODEL_REASON_MAX];

	snprintf(why, sizeof(why), "%s: %s", what, strerror(err));
	health_finish(e, t, false, why);
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
		health_schedule(e, t, now_ms);
		return;
	}
	t->started_us = health_now_us();
	t->fd = socket(b->addr.family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0) {
		int err = errno;
		if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
			/* lbd's own shortage (descriptors held by control
			 * clients, say) says nothing about the backend: try
			 * again at the next interval, and say so now and then. */
			e->totals.local_errors++;
			if (now_ms - e->local_error_log_ms >= 10000 || !e->local_error_log_ms) {
				log_warning("health checks: socket: %s; checks wait for lbd's own "
					    "resources, backends are not blamed (%llu so far)",
					    strerror(err), (unsigned long long)e->totals.local_errors);
				e->local_error_log_ms = now_ms;
			}
			health_schedule(e, t, now_ms);
			return;
		}
		health_fail_errno(e, t, "socket", err);
		return;
	}
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	socklen_t len = health_sockaddr(b, port, &ss);
	if (connect(t->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		health_fail_errno(e, t, "connect", errno);
		return;
	}
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
			   : t->phase == HEALTH_CONNECTING ? "connect"
							   : "http";

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
	e->changed = changed;
	e->ctx = ctx;
	e->random_state = health_now_us() ^ ((__u64)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	return e;
}

static void health_probe_destroy(struct health_engine *e, struct health_probe *p)
{
	health_heap_remove(e, &p->check);
	health_heap_remove(e, &p->agent);
	health_close(&p->check);
	health_close(&p->agent);
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
	return e->heap_count ? e->heap[0].at_ms : UINT64_MAX;
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

	while (e->heap_count && e->heap[0].at_ms <= now_ms) {
		struct health_task *t = e->heap[0].task;
		if (t->phase == HEALTH_IDLE)
			health_start_task(e, t, now_ms);
		else
			health_timeout(e, t);
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
