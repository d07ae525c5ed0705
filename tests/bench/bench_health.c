/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What lbd's health engine costs when it checks a large fleet every second,
 * as a percentage of one core. The target (the issue's): 10 000 backends
 * checked every second must cost less than 10% of one core.
 *
 * The engine is the real one, set up and driven as lbd_init() and lbd_run()
 * do: a configuration file (written with mkstemp) read by conf_load(), the
 * model from model_create() with health_hooks(), health_start(), then an
 * epoll_wait() on health_fd() with the timeout health_next_ms() gives, and
 * health_run() after every wake-up. Its changed callback only counts: lbd's
 * own callback logs and publishes, which happens on transitions, not in the
 * steady state measured here.
 *
 * The fleet: N backends (10 000 unless -n), 100 to a VIP (the schema would
 * take 65 535 in one, but real fleets are spread over VIPs, and conf_load()
 * compares a VIP's backends pairwise), at 127.1.x.y, all on one port. A
 * forked child listens on 0.0.0.0 at that port, so it serves them all: for
 * TCP checks it accepts and closes, for HTTP checks it reads the request and
 * answers "HTTP/1.1 200 OK" with Content-Length 0, then closes.
 *
 * Health settings: interval_ms = fast_interval_ms = 1000, so the rate is N
 * checks per second from the first check on; timeout 500 ms, rise 2, fall 3,
 * jitter the default 10%. After a 3 s warm-up (every backend up), a window
 * of -d seconds (10) measures the CPU time of this process only
 * (getrusage(RUSAGE_SELF), user + system) over wall time: "% of one core";
 * with health_totals(), checks per second and CPU per check.
 *
 * The baseline, in the same run and against the same fleet: a bare loop that
 * makes the same checks at the same rate with nothing else — socket,
 * SO_LINGER 0, non-blocking connect, epoll, SO_ERROR, close (and for HTTP a
 * fixed request sent and the status line read). Those system calls are the
 * floor any checker pays; "x bare" (CPU per check, engine / bare) is what
 * the engine's scheduling and bookkeeping add on top, and the user-space
 * part of CPU per check is the engine's own code (approximately: the kernel
 * splits user and system time by sampling at each tick). Both figures
 * include kernel work a real deployment would not charge to lbd: on
 * loopback the fleet's side of each handshake runs in softirq in the
 * connecting process's context, and without CONFIG_IRQ_TIME_ACCOUNTING it
 * is billed to it. So the "% of one core" overstates the real cost; the
 * fleet's own CPU and the machine's softirq time are printed for context.
 *
 * Checks close with a reset (SO_LINGER 0), so no TIME_WAIT should pile up;
 * the sockets toward the fleet's port left in TIME_WAIT after each window
 * are counted, to show it. A warning line says when backends were not all
 * up, checks failed, or the rate was not about N per second.
 *
 * With the defaults it runs for about 50 s:
 *
 *   make build/bench/bench_health && build/bench/bench_health [-d SECONDS] [-n BACKENDS]
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "controlplane/conf.h"
#include "controlplane/health.h"
#include "controlplane/model.h"
#include "tests/bench/bench.h"

#define BACKENDS_DEFAULT 10000u
#define BACKENDS_MAX     1000000u
#define BACKENDS_PER_VIP 100u
#define WINDOW_S_DEFAULT 10
#define WARMUP_MS        3000u
#define BARE_WARMUP_MS   1000u
#define INTERVAL_MS      1000u
#define TIMEOUT_MS       500u
#define JITTER_PCT       10u /* conf.c's default, which the config leaves alone */
#define TARGET_PCT       10.0

enum check_type { CHECK_TCP, CHECK_HTTP, CHECK_TYPES };
static const char *const type_names[CHECK_TYPES] = { "tcp", "http" };

static const char http_reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/* A window's figures. */
struct figures {
	double wall_s, cpu_pct, checks_per_s, us_per_check;
	double user_us_per_check; /* of which in user space: the engine's own code */
	double fleet_pct, softirq_pct; /* context: the fake fleet, the kernel's softirq */
	__u64 checks, failures;
};

/* Where a window starts or ends. */
struct mark {
	uint64_t wall_ns, cpu_us, user_us, fleet_ticks, softirq_ticks;
	__u64 checks, failures;
};

/* Backend i's address, host order: 127.1.0.1, 127.1.0.2, ... avoiding .0
 * and .255 in the last byte. */
static __u32 backend_addr(__u32 i)
{
	return (127u << 24) | ((1 + i / 62500) << 16) | ((i / 250 % 250) << 8) | (1 + i % 250);
}

static uint64_t timeval_us(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000 + (uint64_t)tv->tv_usec;
}

/* utime + stime of pid in clock ticks, or 0. */
static uint64_t proc_ticks(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			 &st) != 2)
		return 0;
	return ut + st;
}

/* Softirq time of all CPUs in clock ticks (/proc/stat), or 0. */
static uint64_t softirq_ticks(void)
{
	unsigned long long v[7] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &v[6]) != 7)
		v[6] = 0;
	fclose(f);
	return v[6];
}

static void mark_take(struct mark *m, pid_t fleet, __u64 checks, __u64 failures)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	m->wall_ns = bench_now_ns();
	m->user_us = timeval_us(&ru.ru_utime);
	m->cpu_us = m->user_us + timeval_us(&ru.ru_stime);
	m->fleet_ticks = proc_ticks(fleet);
	m->softirq_ticks = softirq_ticks();
	m->checks = checks;
	m->failures = failures;
}

static void figures_of(const struct mark *a, const struct mark *b, struct figures *out)
{
	double ticks_per_s = (double)sysconf(_SC_CLK_TCK);

	out->wall_s = (double)(b->wall_ns - a->wall_ns) / 1e9;
	out->checks = b->checks - a->checks;
	out->failures = b->failures - a->failures;
	out->cpu_pct = (double)(b->cpu_us - a->cpu_us) / 1e6 / out->wall_s * 100;
	out->checks_per_s = (double)out->checks / out->wall_s;
	out->us_per_check = out->checks ? (double)(b->cpu_us - a->cpu_us) / (double)out->checks : 0;
	out->user_us_per_check =
		out->checks ? (double)(b->user_us - a->user_us) / (double)out->checks : 0;
	out->fleet_pct =
		(double)(b->fleet_ticks - a->fleet_ticks) / ticks_per_s / out->wall_s * 100;
	out->softirq_pct =
		(double)(b->softirq_ticks - a->softirq_ticks) / ticks_per_s / out->wall_s * 100;
}

/* Sockets of /proc/net/tcp with port as either end: in TIME_WAIT, and all. */
static void count_sockets(__u16 port, unsigned *time_wait, unsigned *all)
{
	char line[512];
	FILE *f = fopen("/proc/net/tcp", "r");

	*time_wait = *all = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned lport, rport, state;
		if (sscanf(line, " %*d: %*x:%x %*x:%x %x", &lport, &rport, &state) != 3)
			continue;
		if (lport != port && rport != port)
			continue;
		(*all)++;
		*time_wait += state == 0x06;
	}
	fclose(f);
}

/* ---- the fake fleet ---- */

/* Serves every backend from one listening socket until killed. For TCP
 * checks a connection is accepted and closed; for HTTP its request is read
 * to the blank line, answered with 200 and closed. */
static void __attribute__((noreturn)) fleet_serve(int listen_fd, enum check_type type)
{
	static const char end[] = "\r\n\r\n";
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = listen_fd }, events[256];
	struct rlimit rl;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur > (1u << 20))
		rl.rlim_cur = 1u << 20;
	/* Per connection: how much of "\r\n\r\n" the request has ended with. */
	unsigned char *matched = calloc(rl.rlim_cur, 1);
	if (ep < 0 || !matched || epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		_exit(1);
	for (;;) {
		int n = epoll_wait(ep, events, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			if (fd == listen_fd) {
				int c;
				while ((c = accept4(listen_fd, NULL, NULL,
						    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP,
								   .data.fd = c };
					if (type == CHECK_TCP || (rlim_t)c >= rl.rlim_cur ||
					    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) {
						close(c);
						continue;
					}
					matched[c] = 0;
				}
				continue;
			}
			char buf[1024];
			ssize_t got = recv(fd, buf, sizeof(buf), 0);
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			bool done = false;
			for (ssize_t k = 0; k < got && !done; k++) {
				if (buf[k] == end[matched[fd]])
					matched[fd]++;
				else
					matched[fd] = buf[k] == '\r';
				done = matched[fd] == 4;
			}
			if (done)
				send(fd, http_reply, sizeof(http_reply) - 1,
				     MSG_NOSIGNAL | MSG_DONTWAIT);
			if (done || got <= 0)
				close(fd); /* also leaves the epoll set */
		}
	}
}

/* Forks the fleet on a fresh listening socket on a port the kernel picks.
 * Returns the child's pid (the port in *port), or -1. */
static pid_t fleet_start(enum check_type type, __u16 *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	socklen_t len = sizeof(sin);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The backlog is capped by net.core.somaxconn. */
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 65535) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	pid_t parent = getpid(), pid = fork();
	if (pid == 0) {
		/* Never outlive the benchmark, even if it is killed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		fleet_serve(fd, type);
	}
	close(fd);
	return pid;
}

static void fleet_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- the engine, as lbd runs it ---- */

struct changes {
	__u64 check, agent;
};

static void count_change(void *ctx, struct model_backend *b, enum health_event event)
{
	struct changes *c = ctx;

	(void)b;
	if (event == HEALTH_CHECK_CHANGED)
		c->check++;
	else
		c->agent++;
}

/* Writes the fleet's configuration to a new temporary file, named in path. */
static int config_write(char *path, size_t path_size, enum check_type type, __u32 n, __u16 port)
{
	snprintf(path, path_size, "/tmp/fulcrum-bench-health-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int err = errno;
		close(fd);
		unlink(path);
		return -err;
	}
	fprintf(f,
		"dataplane = { mode = \"dpdk\"; encap_source_v4 = \"10.0.0.2\";\n"
		"  dpdk = { ports = ( { name = \"p0\"; device = \"net_null0\"; } ); }; };\n"
		"health_defaults = { type = \"%s\"; interval_ms = %u; fast_interval_ms = %u;\n"
		"  timeout_ms = %u; rise = 2; fall = 3; };\n"
		"vips = (\n",
		type_names[type], INTERVAL_MS, INTERVAL_MS, TIMEOUT_MS);
	for (__u32 v = 0; v * BACKENDS_PER_VIP < n; v++) {
		__u32 first = v * BACKENDS_PER_VIP, last = first + BACKENDS_PER_VIP;
		last = last < n ? last : n;
		fprintf(f,
			"  { name = \"vip%u\"; protocol = \"tcp\"; address = \"10.%u.%u.%u\"; "
			"port = %u;\n    backends = (\n",
			v, 99 + (v + 1) / 65536, (v + 1) / 256 % 256, (v + 1) % 256, port);
		for (__u32 i = first; i < last; i++) {
			__u32 a = backend_addr(i);
			fprintf(f, "      { name = \"b%u\"; address = \"%u.%u.%u.%u\"; }%s\n", i,
				a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255,
				i + 1 < last ? "," : "");
		}
		fprintf(f, "    ); }%s\n", last < n ? "," : "");
	}
	fprintf(f, ");\n");
	if (fclose(f) != 0) {
		int err = errno;
		unlink(path);
		return -err;
	}
	return 0;
}

/* The model's view of the fleet. */
struct fleet_view {
	__u32 up;
	const struct model_backend *down; /* the first one down, or NULL */
	double mean_duration_ms;          /* of each backend's last check */
	double max_duration_ms;
};

static void fleet_view(const struct model *m, struct fleet_view *out)
{
	__u64 sum_us = 0, count = 0;
	__u32 max_us = 0;

	memset(out, 0, sizeof(*out));
	for (__u32 i = 0; i < m->vip_count; i++) {
		for (__u32 k = 0; k < m->vips[i]->backend_count; k++) {
			const struct model_backend *b = m->vips[i]->backends[k];
			out->up += b->check_up;
			if (!b->check_up && !out->down)
				out->down = b;
			sum_us += b->check_duration_us;
			count++;
			max_us = b->check_duration_us > max_us ? b->check_duration_us : max_us;
		}
	}
	out->mean_duration_ms = count ? (double)sum_us / (double)count / 1000 : 0;
	out->max_duration_ms = max_us / 1000.0;
}

/* lbd_run()'s loop, reduced to the health engine, until until_ms. */
static void engine_drive(struct health_engine *e, int epoll_fd, __u64 until_ms)
{
	for (;;) {
		struct epoll_event events[16];
		__u64 now = health_now_ms(), next = health_next_ms(e);
		if (now >= until_ms)
			return;
		next = next < until_ms ? next : until_ms;
		int timeout = next <= now ? 0 : (int)(next - now);
		epoll_wait(epoll_fd, events, 16, timeout > 1000 ? 1000 : timeout);
		health_run(e, health_now_ms());
	}
}

/* Loads the fleet's configuration, runs the engine for the warm-up and the
 * window, and fills out. Returns 0, or -1 when it could not set up. */
static int engine_run(enum check_type type, __u32 n, unsigned window_s, pid_t fleet, __u16 port,
		      struct figures *out)
{
	char path[64];
	struct conf_errors errors;
	struct changes changes = { 0 };
	struct health_totals t;
	struct mark a, b;
	struct fleet_view view;
	unsigned time_wait, sockets;
	int rc = config_write(path, sizeof(path), type, n, port);

	if (rc) {
		fprintf(stderr, "bench_health: config file: %s\n", strerror(-rc));
		return -1;
	}
	struct conf *cfg = conf_load(path, &errors);
	unlink(path);
	if (!cfg) {
		for (__u32 i = 0; i < errors.count; i++)
			fprintf(stderr, "bench_health: %s\n", errors.messages[i]);
		return -1;
	}
	/* As lbd_init() and lbd_run() set it up. */
	struct health_engine *e = health_create(count_change, &changes);
	struct model *m = model_create(cfg);
	int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	rc = -1;
	if (!e || !m || epoll_fd < 0) {
		fprintf(stderr, "bench_health: engine: %s\n", strerror(errno));
		goto out;
	}
	m->hooks = health_hooks(e);
	health_start(e, m);
	ev.data.fd = health_fd(e);
	epoll_ctl(epoll_fd, EPOLL_CTL_ADD, health_fd(e), &ev);

	engine_drive(e, epoll_fd, health_now_ms() + WARMUP_MS);
	fleet_view(m, &view);
	printf("%s engine warm-up %.1f s: %u of %u backends up, %llu transitions\n",
	       type_names[type], WARMUP_MS / 1000.0, view.up, n, (unsigned long long)changes.check);
	if (view.up < n)
		printf("WARNING: %s: %u backends still down after the warm-up (e.g. %s: \"%s\")\n",
		       type_names[type], n - view.up, view.down->name, view.down->check_reason);

	__u64 changes_before = changes.check;
	health_totals(e, &t);
	mark_take(&a, fleet, t.checks, t.check_failures);
	engine_drive(e, epoll_fd, health_now_ms() + (__u64)window_s * 1000);
	health_totals(e, &t);
	mark_take(&b, fleet, t.checks, t.check_failures);
	figures_of(&a, &b, out);

	fleet_view(m, &view);
	count_sockets(port, &time_wait, &sockets);
	printf("%s engine window: %u of %u backends up; last checks took %.2f ms on average, "
	       "%.2f ms at most; %u sockets on the fleet's port %u, %u in TIME_WAIT\n",
	       type_names[type], view.up, n, view.mean_duration_ms, view.max_duration_ms, sockets,
	       port, time_wait);
	if (view.up < n || changes.check != changes_before)
		printf("WARNING: %s: %u of %u backends up at the end of the window, %llu "
		       "transitions in it%s%s%s\n",
		       type_names[type], view.up, n,
		       (unsigned long long)(changes.check - changes_before),
		       view.down ? " (e.g. \"" : "", view.down ? view.down->check_reason : "",
		       view.down ? "\")" : "");
	rc = 0;
out:
	/* The engine first: the model's hooks point at it (lbd_fini()). */
	if (m)
		m->hooks = (struct model_hooks){ 0 };
	health_destroy(e);
	model_destroy(m);
	conf_destroy(cfg);
	if (epoll_fd >= 0)
		close(epoll_fd);
	return rc;
}

/* ---- the baseline: bare checks at the same rate ---- */

enum bare_phase { BARE_IDLE, BARE_CONNECTING, BARE_READING };

struct bare {
	enum check_type type;
	int epoll_fd;
	__u32 n, next_backend;
	__u16 port;
	__u8 *phase;        /* by fd */
	__u64 *started_ms;  /* by fd */
	int fd_limit, max_fd;
	__u64 started, checks, failures;
	char request[256];
	int request_length;
};

static void bare_done(struct bare *b, int fd, bool ok)
{
	close(fd);
	b->phase[fd] = BARE_IDLE;
	b->checks++;
	b->failures += !ok;
}

static void bare_start(struct bare *b, __u64 now_ms)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(b->port) };
	struct epoll_event ev = { .events = EPOLLOUT };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(backend_addr(b->next_backend));
	b->next_backend = (b->next_backend + 1) % b->n;
	if (fd < 0 || fd >= b->fd_limit) {
		if (fd >= 0)
			close(fd);
		b->checks++;
		b->failures++;
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	ev.data.fd = fd;
	if ((connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS) ||
	    epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		bare_done(b, fd, false);
		return;
	}
	b->phase[fd] = BARE_CONNECTING;
	b->started_ms[fd] = now_ms;
	b->max_fd = fd > b->max_fd ? fd : b->max_fd;
}

static void bare_event(struct bare *b, int fd)
{
	if (b->phase[fd] == BARE_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			bare_done(b, fd, false);
			return;
		}
		if (b->type == CHECK_TCP) {
			bare_done(b, fd, true);
			return;
		}
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
		if (send(fd, b->request, (size_t)b->request_length, MSG_NOSIGNAL) !=
		    b->request_length) {
			bare_done(b, fd, false);
			return;
		}
		epoll_ctl(b->epoll_fd, EPOLL_CTL_MOD, fd, &ev);
		b->phase[fd] = BARE_READING;
		return;
	}
	if (b->phase[fd] == BARE_READING) {
		char buf[64];
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* The status line arrives in one segment on loopback. */
		bare_done(b, fd, got >= 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0);
	}
}

/* Starts checks at rate per second from origin_ns, until until_ns. */
static void bare_drive(struct bare *b, uint64_t origin_ns, uint64_t until_ns, double rate)
{
	__u64 last_sweep_ms = 0;

	for (;;) {
		struct epoll_event events[256];
		uint64_t now_ns = bench_now_ns();
		__u64 now_ms = now_ns / 1000000;
		if (now_ns >= until_ns)
			return;
		__u64 due = (__u64)((double)(now_ns - origin_ns) * rate / 1e9);
		while (b->started < due) {
			bare_start(b, now_ms);
			b->started++;
		}
		if (now_ms >= last_sweep_ms + 100) {
			for (int fd = 0; fd <= b->max_fd; fd++)
				if (b->phase[fd] != BARE_IDLE &&
				    now_ms >= b->started_ms[fd] + TIMEOUT_MS)
					bare_done(b, fd, false);
			last_sweep_ms = now_ms;
		}
		/* Sleep until the next start is due (at most 100 ms, for the sweep). */
		double next_ns =
			(double)(b->started + 1) * 1e9 / rate - (double)(now_ns - origin_ns);
		int timeout = next_ns <= 0 ? 0 : next_ns >= 1e8 ? 100 : (int)(next_ns / 1e6) + 1;
		int n = epoll_wait(b->epoll_fd, events, 256, timeout);
		for (int i = 0; i < n; i++)
			bare_event(b, events[i].data.fd);
	}
}

static int bare_run(enum check_type type, __u32 n, unsigned window_s, pid_t fleet, __u16 port,
		    struct figures *out)
{
	struct bare b = { .type = type, .n = n, .port = port, .max_fd = -1 };
	struct rlimit rl;
	struct mark m0, m1;
	double rate = (double)n * 1000 / INTERVAL_MS;
	int rc = -1;

	getrlimit(RLIMIT_NOFILE, &rl);
	b.fd_limit = rl.rlim_cur > (1u << 20) ? 1 << 20 : (int)rl.rlim_cur;
	b.phase = calloc((size_t)b.fd_limit, sizeof(*b.phase));
	b.started_ms = calloc((size_t)b.fd_limit, sizeof(*b.started_ms));
	b.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	/* The engine's request, to one backend: nothing is formatted per check. */
	b.request_length = snprintf(b.request, sizeof(b.request),
				    "GET / HTTP/1.0\r\nHost: 127.1.0.1:%u\r\nUser-Agent: "
				    "fulcrum-lbd\r\nConnection: close\r\n\r\n",
				    port);
	if (!b.phase || !b.started_ms || b.epoll_fd < 0) {
		fprintf(stderr, "bench_health: baseline: %s\n", strerror(errno));
		goto out;
	}
	uint64_t origin = bench_now_ns();
	bare_drive(&b, origin, origin + (uint64_t)BARE_WARMUP_MS * 1000000, rate);
	mark_take(&m0, fleet, b.checks, b.failures);
	bare_drive(&b, origin, m0.wall_ns + (uint64_t)window_s * 1000000000, rate);
	mark_take(&m1, fleet, b.checks, b.failures);
	figures_of(&m0, &m1, out);
	for (int fd = 0; fd <= b.max_fd; fd++)
		if (b.phase[fd] != BARE_IDLE)
			close(fd);
	rc = 0;
out:
	if (b.epoll_fd >= 0)
		close(b.epoll_fd);
	free(b.phase);
	free(b.started_ms);
	return rc;
}

/* ---- main ---- */

static void print_row(const char *name, const struct figures *f, double ratio)
{
	printf("%-29s %7.2f %9.0f %7llu %9.2f %8.2f %7.2f %8.1f %8.1f\n", name, f->cpu_pct,
	       f->checks_per_s, (unsigned long long)f->failures, f->us_per_check,
	       f->user_us_per_check, ratio, f->fleet_pct, f->softirq_pct);
}

static void check_rate(const char *name, const struct figures *f, __u32 n)
{
	double want = (double)n * 1000 / INTERVAL_MS;

	if (f->checks_per_s < want * 0.95 || f->checks_per_s > want * 1.05)
		printf("WARNING: %s: %.0f checks/s, expected about %.0f\n", name, f->checks_per_s,
		       want);
	if (f->failures > f->checks / 1000)
		printf("WARNING: %s: %llu of %llu checks failed\n", name,
		       (unsigned long long)f->failures, (unsigned long long)f->checks);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_health [-d SECONDS] [-n BACKENDS]\n"
			"  -d  measured window per run, 1..600 s (default %d)\n"
			"  -n  backends, 1..%u (default %u)\n",
		WINDOW_S_DEFAULT, BACKENDS_MAX, BACKENDS_DEFAULT);
}

int main(int argc, char **argv)
{
	struct figures engine[CHECK_TYPES], bare[CHECK_TYPES];
	unsigned window_s = WINDOW_S_DEFAULT;
	__u32 n = BACKENDS_DEFAULT;
	struct rlimit rl;
	int opt;

	while ((opt = getopt(argc, argv, "d:n:h")) != -1) {
		char *end;
		unsigned long v;
		switch (opt) {
		case 'd':
		case 'n':
			v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > (opt == 'd' ? 600 : BACKENDS_MAX)) {
				usage();
				return 2;
			}
			if (opt == 'd')
				window_s = (unsigned)v;
			else
				n = (__u32)v;
			break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	/* Checks in flight and the fleet's connections each hold a descriptor. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	signal(SIGPIPE, SIG_IGN);

	bench_print_machine();
	printf("health checks: %u backends (%u VIPs) at 127.1.0.1.. on one port, every %u ms "
	       "(+-%u%%), timeout %u ms, rise 2 fall 3; fd limit %llu\n",
	       n, (n + BACKENDS_PER_VIP - 1) / BACKENDS_PER_VIP, INTERVAL_MS, JITTER_PCT,
	       TIMEOUT_MS, (unsigned long long)rl.rlim_cur);
	printf("per check type: engine %.0f s warm-up + %u s window, then bare checks %.0f s + "
	       "%u s; CPU = this process only\n",
	       WARMUP_MS / 1000.0, window_s, BARE_WARMUP_MS / 1000.0, window_s);
	fflush(stdout);

	for (int type = 0; type < CHECK_TYPES; type++) {
		__u16 port;
		pid_t fleet = fleet_start((enum check_type)type, &port);
		if (fleet < 0) {
			fprintf(stderr, "bench_health: fleet: %s\n", strerror(errno));
			return 1;
		}
		int rc = engine_run((enum check_type)type, n, window_s, fleet, port, &engine[type]);
		fflush(stdout);
		if (rc == 0)
			rc = bare_run((enum check_type)type, n, window_s, fleet, port, &bare[type]);
		fleet_stop(fleet);
		if (rc)
			return 1;
	}

	printf("us/check = CPU per check (user us: of it in user space, tick-sampled); "
	       "x bare = us/check over the baseline's;\n"
	       "fleet %%, softirq%% = the fake fleet's CPU and all CPUs' softirq time "
	       "(context, not counted)\n");
	printf("%-29s %7s %9s %7s %9s %8s %7s %8s %8s\n", "", "% core", "checks/s", "failed",
	       "us/check", "user us", "x bare", "fleet %", "softirq%");
	for (int type = 0; type < CHECK_TYPES; type++) {
		char name[64];
		snprintf(name, sizeof(name), "%s: engine", type_names[type]);
		print_row(name, &engine[type], engine[type].us_per_check / bare[type].us_per_check);
		snprintf(name, sizeof(name), "%s: bare checks (baseline)", type_names[type]);
		print_row(name, &bare[type], 1.0);
	}
	for (int type = 0; type < CHECK_TYPES; type++) {
		char name[64];
		snprintf(name, sizeof(name), "%s engine", type_names[type]);
		check_rate(name, &engine[type], n);
		snprintf(name, sizeof(name), "%s bare checks", type_names[type]);
		check_rate(name, &bare[type], n);
	}
	bool within = engine[CHECK_TCP].cpu_pct < TARGET_PCT &&
		      engine[CHECK_HTTP].cpu_pct < TARGET_PCT;
	printf("summary: %u backends every %u ms: tcp %.2f%% of one core (%.0f checks/s, %.2f "
	       "us/check, %.2fx bare), http %.2f%% (%.0f checks/s, %.2f us/check, %.2fx bare); "
	       "%s the %.0f%% target\n",
	       n, INTERVAL_MS, engine[CHECK_TCP].cpu_pct, engine[CHECK_TCP].checks_per_s,
	       engine[CHECK_TCP].us_per_check,
	       engine[CHECK_TCP].us_per_check / bare[CHECK_TCP].us_per_check,
	       engine[CHECK_HTTP].cpu_pct, engine[CHECK_HTTP].checks_per_s,
	       engine[CHECK_HTTP].us_per_check,
	       engine[CHECK_HTTP].us_per_check / bare[CHECK_HTTP].us_per_check,
	       within ? "within" : "ABOVE", TARGET_PCT);
	return 0;
}
