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
 * compares a VIP's backends pairwise), each at an address of its own, all
 * on one port. A forked child listens on 0.0.0.0 at that port, so it serves
 * them all: for TCP checks it accepts and closes, for HTTP checks it reads
 * the request and answers "HTTP/1.1 200 OK" with Content-Length 0, then
 * closes. For half-open checks ("tcp-half-open") its kernel answers each
 * SYN with a SYN-ACK and drops the half-open connection when our kernel
 * resets it: nothing reaches the child.
 *
 * Where the fleet is. By default (as root) where a real one would be: on
 * the far side of a link, in a network namespace of its own, fbh<pid>,
 * joined to this one by a veth pair: fbh<pid>a here (10.201.0.1/16),
 * fbh<pid>b there (10.201.0.2/16). The backends are 10.208.0.1, 10.208.0.2,
 * ...; here 10.208.0.0/12 is routed via 10.201.0.2, there `ip route add
 * local 10.208.0.0/12 dev lo` makes all of it local (AnyIP), so the one
 * wildcard listener answers every backend. Every address is behind one next
 * hop, so each side's neighbour table holds one entry; reverse-path
 * filtering passes on both sides (each source is routed back through the
 * interface it came in on); no rule asks for conntrack in either namespace,
 * so it tracks nothing (its entry count is printed after each window).
 * The namespace is named only while it is set up: after that an open
 * descriptor here and the fleet's process hold it, so it and the veth pair
 * go when this program ends, however it ends; a normal end, an error or
 * SIGINT/SIGTERM/SIGHUP also delete them at once.
 *
 * During the runs this process is pinned to one CPU (the first it may use,
 * CPU 0 here) and the fleet to another (the second, CPU 1), and RPS sends
 * each veth end's receive processing to the CPU of the side it delivers to
 * (rps_cpus of fbh<pid>b: the fleet's CPU, of fbh<pid>a: ours). veth has GRO
 * off by default, so every packet it carries goes through netif_rx() to the
 * backlog of the CPU RPS names. What runs where, and what getrusage() counts
 * (the task's sum_exec_runtime, which without CONFIG_IRQ_TIME_ACCOUNTING
 * includes the interrupts and softirqs served while the task is current):
 *
 *   - our system calls and the transmit path of our own packets (SYN, HTTP
 *     request, RST: TCP, IP, veth_xmit, the enqueue on the fleet CPU's
 *     backlog, and the IPI that tells that CPU, sent from a softirq run on
 *     the spot when the send ends): counted. In a virtual machine each IPI
 *     is an exit to the hypervisor, and a large part of the figure (perf,
 *     2-vCPU VM, 10 000 TCP checks/s: a quarter of it in the x2APIC write
 *     that sends them); a real lbd pays for its NIC's doorbell instead;
 *   - the fleet's side of every check (its receive processing, the
 *     SYN-ACKs, responses and FINs it sends, its system calls): on its CPU,
 *     never counted ("fleet %", "fl busy");
 *   - the receive processing of the fleet's packets to us (SYN-ACK and the
 *     ACK we answer it with, response, FIN), softirq on our CPU raised by
 *     the fleet CPU's IPI: counted when it runs while this process is
 *     current (the IPI interrupts it, or the softirq is pending when one of
 *     its sends ends), not when the CPU was idle: it then runs in the idle
 *     task.
 *
 * So "% core" is the process, and "cpu busy" is what its CPU spent: the
 * window's wall time less that CPU's idle and stolen time (/proc/stat; with
 * NO_HZ idle time is clocked at every idle entry and exit, and interrupts
 * and softirqs served from idle count as busy). That is the process, plus
 * the softirq served on its CPU outside it, plus whatever else ran there:
 * an upper bound. "sirq %" is the CPU's softirq time as /proc/stat samples
 * it at each tick; it is not to be added to "% core": a tick that falls in
 * a softirq served while this process is current counts in both. (Traced
 * with perf at 10 000 TCP checks/s: nearly all of the NET_RX softirq time
 * on our CPU ran in this process's context.)
 *
 * With -l (and when not root) the fleet is on loopback instead, as the
 * benchmark first did: backends at 127.1.0.1.., no pinning. There the
 * fleet's side of each handshake runs in softirq in the connecting
 * process's context, and is billed to it, so "% core" overstates the real
 * cost; "sirq %" is then all CPUs' softirq time, for context, and the
 * columns about CPUs are empty.
 *
 * Health settings: interval_ms = fast_interval_ms = 1000, so the rate is N
 * checks per second from the first check on; timeout 500 ms, rise 2, fall 3,
 * jitter the default 10%. After a 3 s warm-up (every backend up), a window
 * of --runs runs (5) of -d seconds (2) each measures the CPU time of this
 * process only (getrusage(RUSAGE_SELF), user + system) over wall time: "% of
 * one core"; with health_totals(), checks per second and CPU per check. The
 * table gives the whole window; the lines after it each figure's median
 * with min and max over the runs, which --json FILE writes too
 * (tests/bench/bench.h).
 *
 * The baseline, in the same run and against the same fleet: a bare loop that
 * makes the same checks at the same rate with nothing else — socket,
 * SO_LINGER 0, non-blocking connect, epoll, SO_ERROR, close (and for HTTP a
 * fixed request sent and the status line read; for half-open checks, SYNs
 * built in place and sent by sendmmsg() in the engine's batches, replies
 * read by recvmmsg() from one raw socket with the engine's filter). Those system calls are the
 * floor any checker pays; "x bare" (CPU per check, engine / bare) is what
 * the engine's scheduling and bookkeeping add on top (over the runs: the
 * engine's median over the baseline's, and a range from the extremes, since
 * the two are measured one after the other), and the user-space
 * part of CPU per check is the engine's own code (approximately: the kernel
 * splits user and system time by sampling at each tick).
 *
 * Checks close with a reset (SO_LINGER 0), so no TIME_WAIT should pile up;
 * the sockets toward the fleet's port left in TIME_WAIT after each window
 * are counted, on both sides, to show it. A warning line says when backends
 * were not all up, checks failed, or the rate was not about N per second.
 *
 * With the defaults it runs for about 75 s (25 s per check type; -t picks
 * types):
 *
 *   make build/bench/bench_health && build/bench/bench_health [-l] [-d SECONDS] [-n BACKENDS]
 *                                       [-t TYPE]... [--runs N] [--json FILE]
 */
#define _GNU_SOURCE /* accept4, setns, CPU_SET */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "controlplane/conf.h"
#include "controlplane/health.h"
#include "controlplane/health_syn.h"
#include "controlplane/model.h"
#include "tests/bench/bench.h"

#define BACKENDS_DEFAULT 10000u
#define BACKENDS_MAX     1000000u
#define BACKENDS_PER_VIP 100u
#define RUN_S_DEFAULT    2 /* a run's window */
#define RUNS_DEFAULT     5 /* 10 s of measurement per check type and side */
#define WARMUP_MS        3000u
#define BARE_WARMUP_MS   1000u
#define INTERVAL_MS      1000u
#define TIMEOUT_MS       500u
#define JITTER_PCT       10u /* conf.c's default, which the config leaves alone */
#define TARGET_PCT       10.0

/* The link to the fleet's namespace, and the backends behind it. */
#define LINK_HOST_ADDR   "10.201.0.1"
#define LINK_FLEET_ADDR  "10.201.0.2"
#define LINK_PREFIX      "/16"
#define VETH_BACKENDS    "10.208.0.0/12" /* room for BACKENDS_MAX */
#define VETH_BASE        (10u << 24 | 208u << 16)
#define LOOPBACK_BASE    (127u << 24 | 1u << 16)
#define NETNS_DIR        "/var/run/netns" /* where `ip netns` names namespaces */

extern char **environ;

enum check_type { CHECK_TCP, CHECK_HTTP, CHECK_HALF_OPEN, CHECK_TYPES };
static const char *const type_names[CHECK_TYPES] = { "tcp", "http", "tcp-half-open" };

/* The check types this run measures (-t; all by default). */
static bool type_wanted[CHECK_TYPES];

static const char http_reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/* The veth pair to the fleet's namespace, and who runs where. */
struct veth_link {
	char ns[16], host_dev[IF_NAMESIZE], fleet_dev[IF_NAMESIZE];
	int ns_fd, host_ns_fd; /* the fleet's network namespace, and ours */
	int cpu, fleet_cpu;    /* this process's CPU during the runs, the fleet's */
	bool created;          /* the pair exists (deleting one end deletes both) */
};

/* The fake fleet as a run sees it. */
struct fleet {
	pid_t pid;
	__u16 port;
	const struct veth_link *link; /* NULL: on loopback */
};

/* A window's figures. */
struct figures {
	double wall_s, cpu_pct, checks_per_s, us_per_check;
	double user_us_per_check; /* of which in user space: the engine's own code */
	/* How busy this process's CPU was, and its softirq time (veth); on
	 * loopback, softirq_pct is all CPUs' softirq time. */
	double busy_pct, softirq_pct;
	/* Context: the fake fleet's CPU, and how busy its CPU was (veth). */
	double fleet_pct, fleet_busy_pct;
	__u64 checks, failures;
};

/* The measured window of one side (engine or baseline) of a check type:
 * runs back to back, each run_ms long. */
struct window {
	int runs;
	unsigned run_ms;
};

/* A CPU's times from /proc/stat, in clock ticks (USER_HZ). */
struct cpu_times {
	uint64_t idle, steal, softirq; /* idle includes iowait */
};

/* Where a window starts or ends. */
struct mark {
	uint64_t wall_ns, cpu_us, user_us, fleet_ticks;
	struct cpu_times cpu, fleet_cpu;
	__u64 checks, failures;
};

/* The first backend's address: LOOPBACK_BASE, or VETH_BASE once the veth
 * pair is up. Set once, before the first run. */
static __u32 backend_base = LOOPBACK_BASE;

/* For the signal handler: the namespace's name while it has one ("" when
 * not), and the fleet's process (0 when none). */
static char netns_path[64];
static volatile pid_t fleet_pid;

/* Backend i's address, host order: base + 0.0.0.1, 0.0.0.2, ... avoiding .0
 * and .255 in the last byte; the second byte grows by one per 62 500. */
static __u32 backend_addr(__u32 i)
{
	return backend_base + ((i / 62500) << 16) + ((i / 250 % 250) << 8) + (1 + i % 250);
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

/* CPU cpu's times (/proc/stat), or all CPUs' when cpu is negative; zeros
 * when unknown. */
static void cpu_times_read(int cpu, struct cpu_times *out)
{
	char line[512];
	FILE *f = fopen("/proc/stat", "r");

	memset(out, 0, sizeof(*out));
	if (!f)
		return;
	/* The "cpu" lines come first: the total, then cpu0, cpu1, ... */
	while (fgets(line, sizeof(line), f) && strncmp(line, "cpu", 3) == 0) {
		unsigned long long v[8]; /* user nice system idle iowait irq softirq steal */
		int this_cpu = -1, skip = 0;
		if (line[3] != ' ' && sscanf(line + 3, "%d%n", &this_cpu, &skip) != 1)
			continue;
		if (this_cpu != (cpu < 0 ? -1 : cpu))
			continue;
		if (sscanf(line + 3 + skip, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
			out->idle = v[3] + v[4];
			out->softirq = v[6];
			out->steal = v[7];
		}
		break;
	}
	fclose(f);
}

static void mark_take(struct mark *m, const struct fleet *fleet, __u64 checks, __u64 failures)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	m->wall_ns = bench_now_ns();
	m->user_us = timeval_us(&ru.ru_utime);
	m->cpu_us = m->user_us + timeval_us(&ru.ru_stime);
	m->fleet_ticks = proc_ticks(fleet->pid);
	cpu_times_read(fleet->link ? fleet->link->cpu : -1, &m->cpu);
	if (fleet->link)
		cpu_times_read(fleet->link->fleet_cpu, &m->fleet_cpu);
	else
		memset(&m->fleet_cpu, 0, sizeof(m->fleet_cpu));
	m->checks = checks;
	m->failures = failures;
}

/* How busy a CPU was between a and b: the part of wall_s it was neither
 * idle nor stolen by the hypervisor, in percent. */
static double busy_pct(const struct cpu_times *a, const struct cpu_times *b, double ticks_per_s,
		       double wall_s)
{
	double off_s = (double)(b->idle - a->idle + b->steal - a->steal) / ticks_per_s;

	return (wall_s - off_s) / wall_s * 100;
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
		(double)(b->cpu.softirq - a->cpu.softirq) / ticks_per_s / out->wall_s * 100;
	out->busy_pct = busy_pct(&a->cpu, &b->cpu, ticks_per_s, out->wall_s);
	out->fleet_busy_pct = busy_pct(&a->fleet_cpu, &b->fleet_cpu, ticks_per_s, out->wall_s);
}

/* Sockets of a /proc/PID/net/tcp (PID's network namespace) with port as
 * either end: in TIME_WAIT, and all. */
static void count_sockets(pid_t pid, __u16 port, unsigned *time_wait, unsigned *all)
{
	char line[512];
	FILE *f;

	snprintf(line, sizeof(line), "/proc/%d/net/tcp", (int)pid);
	f = fopen(line, "r");

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

/* Entries in conntrack's table in the calling thread's network namespace,
 * or -1 when conntrack is not in the kernel. */
static long conntrack_count(void)
{
	long count = -1;
	FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_count", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &count) != 1)
		count = -1;
	fclose(f);
	return count;
}

/* ---- the fleet's namespace and the veth pair to it ---- */

/* Runs a program found on PATH with the given arguments (a NULL-terminated
 * list; no shell) and waits for it. Returns 0 when it exited with status 0,
 * -1 otherwise, after saying which command failed. */
static int run(const char *arg0, ...)
{
	const char *argv[16];
	char line[512];
	int n = 0, len = 0, status, err;
	pid_t pid;
	va_list ap;

	argv[n++] = arg0;
	va_start(ap, arg0);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	for (int i = 0; i < n && len < (int)sizeof(line); i++)
		len += snprintf(line + len, sizeof(line) - (size_t)len, "%s%s", i ? " " : "",
				argv[i]);
	err = posix_spawnp(&pid, arg0, NULL, NULL, (char *const *)argv, environ);
	if (err) {
		fprintf(stderr, "bench_health: %s: %s\n", line, strerror(err));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_health: failed: %s\n", line);
		return -1;
	}
	return 0;
}

/* Takes the namespace's name away, as `ip netns delete` does; the namespace
 * itself lives on while a descriptor or a process holds it. Async-signal-safe. */
static void netns_name_remove(void)
{
	if (!netns_path[0])
		return;
	umount2(netns_path, MNT_DETACH);
	unlink(netns_path);
	netns_path[0] = '\0';
}

/* SIGINT, SIGTERM, SIGHUP: nothing may outlive the benchmark. Without a
 * name and the fleet, the namespace goes when this process's descriptor
 * closes as it dies, and the veth pair with it. */
static void on_signal(int sig)
{
	netns_name_remove();
	if (fleet_pid > 0)
		kill(fleet_pid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The first two CPUs this process may run on: its own, and the fleet's.
 * Returns 0, or -1 when it may run on one only. */
static int veth_cpus_pick(struct veth_link *l)
{
	cpu_set_t set;

	l->cpu = l->fleet_cpu = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -1;
	for (int cpu = 0; cpu < CPU_SETSIZE && l->fleet_cpu < 0; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (l->cpu < 0)
			l->cpu = cpu;
		else
			l->fleet_cpu = cpu;
	}
	return l->fleet_cpu < 0 ? -1 : 0;
}

/* Pins the calling thread to cpu. Returns 0 or -errno. */
static int cpu_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

/* cpu as an rps_cpus mask: hexadecimal, in comma-separated 32-bit words. */
static void cpu_mask_fmt(int cpu, char *buf, size_t size)
{
	int len = snprintf(buf, size, "%x", 1u << (cpu % 32));

	for (int word = 0; word < cpu / 32 && len < (int)size; word++)
		len += snprintf(buf + len, size - (size_t)len, ",00000000");
}

/* Deletes what veth_setup() made: the pair at once (both ends go with
 * either), then the namespace's name and our hold on it. */
static void veth_teardown(struct veth_link *l)
{
	if (l->created && run("ip", "link", "del", l->host_dev, NULL) == 0)
		l->created = false;
	netns_name_remove();
	if (l->ns_fd >= 0)
		close(l->ns_fd);
	if (l->host_ns_fd >= 0)
		close(l->host_ns_fd);
	l->ns_fd = l->host_ns_fd = -1;
}

/* Makes the fleet's namespace and the veth pair to it, addresses and
 * routes on both sides, and RPS on both ends (l->cpu and l->fleet_cpu set).
 * Returns 0, or -1 with everything undone. Call it with on_signal()
 * installed: while the namespace has a name, only that removes it. */
static int veth_setup(struct veth_link *l)
{
	char mask[64], path[128], script[256];
	int pid = (int)getpid();
	FILE *f;

	l->ns_fd = l->host_ns_fd = -1;
	l->created = false;
	snprintf(l->ns, sizeof(l->ns), "fbh%d", pid);
	snprintf(l->host_dev, sizeof(l->host_dev), "fbh%da", pid);
	snprintf(l->fleet_dev, sizeof(l->fleet_dev), "fbh%db", pid);
	snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, l->ns);
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "bench_health: %s exists already\n", path);
		return -1;
	}
	/* Named before it exists, so that a signal during `ip netns add` removes it. */
	snprintf(netns_path, sizeof(netns_path), "%s", path);
	if (run("ip", "netns", "add", l->ns, NULL))
		goto fail;
	l->ns_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
	l->host_ns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (l->ns_fd < 0 || l->host_ns_fd < 0) {
		fprintf(stderr, "bench_health: network namespaces: %s\n", strerror(errno));
		goto fail;
	}
	if (run("ip", "link", "add", l->host_dev, "type", "veth", "peer", "name", l->fleet_dev,
		"netns", l->ns, NULL))
		goto fail;
	l->created = true;
	if (run("ip", "addr", "add", LINK_HOST_ADDR LINK_PREFIX, "dev", l->host_dev, NULL) ||
	    run("ip", "link", "set", l->host_dev, "up", NULL) ||
	    /* Replace: the pair of a run that just ended may still be on its
	     * way out, its route with it. */
	    run("ip", "route", "replace", VETH_BACKENDS, "via", LINK_FLEET_ADDR, "dev",
		l->host_dev, NULL) ||
	    run("ip", "-n", l->ns, "link", "set", "lo", "up", NULL) ||
	    run("ip", "-n", l->ns, "addr", "add", LINK_FLEET_ADDR LINK_PREFIX, "dev", l->fleet_dev,
		NULL) ||
	    run("ip", "-n", l->ns, "link", "set", l->fleet_dev, "up", NULL) ||
	    run("ip", "-n", l->ns, "route", "add", "local", VETH_BACKENDS, "dev", "lo", NULL))
		goto fail;

	/* RPS: what fbh<pid>a receives is processed on our CPU, what fbh<pid>b
	 * receives on the fleet's. Our /sys shows our namespace's devices;
	 * `ip netns exec` mounts one that shows the fleet's. */
	cpu_mask_fmt(l->cpu, mask, sizeof(mask));
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-0/rps_cpus", l->host_dev);
	f = fopen(path, "w");
	if (f) {
		bool written = fprintf(f, "%s\n", mask) > 0;
		if (fclose(f) != 0 || !written)
			f = NULL;
	}
	if (!f) {
		fprintf(stderr, "bench_health: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	cpu_mask_fmt(l->fleet_cpu, mask, sizeof(mask));
	snprintf(script, sizeof(script), "echo %s > /sys/class/net/%s/queues/rx-0/rps_cpus", mask,
		 l->fleet_dev);
	if (run("ip", "netns", "exec", l->ns, "sh", "-c", script, NULL))
		goto fail;

	/* From here on the descriptor holds the namespace; without a name it
	 * cannot outlive us. */
	netns_name_remove();
	return 0;
fail:
	veth_teardown(l);
	return -1;
}

/* Moves the calling thread into the network namespace fd names. */
static int netns_enter(int fd)
{
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

/* Conntrack's entries in the fleet's namespace, or -1 (see conntrack_count()). */
static long conntrack_count_fleet(const struct veth_link *l)
{
	long count;

	if (netns_enter(l->ns_fd))
		return -1;
	count = conntrack_count();
	if (netns_enter(l->host_ns_fd)) {
		perror("bench_health: back to our network namespace");
		exit(1);
	}
	return count;
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
					if (type != CHECK_HTTP || (rlim_t)c >= rl.rlim_cur ||
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

/* Forks the fleet on a fresh listening socket on a port the kernel picks:
 * on loopback when link is NULL, else in the fleet's namespace and on the
 * fleet's CPU. Returns 0 with out filled in, or -errno. */
static int fleet_start(enum check_type type, const struct veth_link *link, struct fleet *out)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	socklen_t len = sizeof(sin);
	int one = 1, fd, err;

	/* A socket stays in the namespace it was made in. */
	if (link && (err = netns_enter(link->ns_fd)))
		return err;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	err = fd < 0 ? -errno : 0;
	if (link && netns_enter(link->host_ns_fd)) {
		perror("bench_health: back to our network namespace");
		exit(1);
	}
	if (err)
		return err;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The backlog is capped by net.core.somaxconn. */
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 65535) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	out->port = ntohs(sin.sin_port);
	out->link = link;
	pid_t parent = getpid(), pid = fork();
	if (pid == 0) {
		/* Never outlive the benchmark, even if it is killed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		if (link && (netns_enter(link->ns_fd) || cpu_pin(link->fleet_cpu)))
			_exit(1);
		fleet_serve(fd, type);
	}
	err = pid < 0 ? -errno : 0;
	close(fd);
	out->pid = fleet_pid = pid < 0 ? 0 : pid;
	return err;
}

static void fleet_stop(struct fleet *f)
{
	fleet_pid = 0;
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
}

/* One connection to backend i, waiting at most a second: whether the fleet
 * answers there (through the veth pair, it also resolves the next hop's
 * address before the runs). Returns 0 or -errno. */
static int fleet_probe(const struct fleet *f, __u32 i)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(f->port),
				   .sin_addr.s_addr = htonl(backend_addr(i)) };
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	struct timeval second = { .tv_sec = 1 };
	int err = 0, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &second, sizeof(second));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		err = errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	close(fd);
	return err;
}

/* Says what a window left behind: sockets toward the fleet's port on each
 * side (TIME_WAIT among them), and conntrack's entries. */
static void fleet_state_print(const char *what, const struct fleet *f)
{
	unsigned tw, all;
	long ct = conntrack_count();

	count_sockets(getpid(), f->port, &tw, &all);
	printf("%s: %u sockets on the fleet's port %u, %u in TIME_WAIT", what, all, f->port, tw);
	if (f->link) {
		long fleet_ct = conntrack_count_fleet(f->link);
		count_sockets(f->pid, f->port, &tw, &all);
		printf("; in the fleet's namespace %u, %u in TIME_WAIT", all, tw);
		if (ct < 0 && fleet_ct < 0)
			printf("; no conntrack in the kernel\n");
		else
			printf("; conntrack entries: %ld here, %ld there\n", ct, fleet_ct);
	} else if (ct < 0) {
		printf("; no conntrack in the kernel\n");
	} else {
		printf("; conntrack entries: %ld\n", ct);
	}
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
 * window's runs, and fills out with the window's figures and runs[] with
 * each run's. Returns 0, or -1 when it could not set up. */
static int engine_run(enum check_type type, __u32 n, const struct window *w,
		      const struct fleet *fleet, struct figures *out, struct figures *runs)
{
	char path[64];
	struct conf_errors errors;
	struct changes changes = { 0 };
	struct health_totals t;
	struct mark a, b, prev;
	struct fleet_view view;
	char what[64];
	int rc = config_write(path, sizeof(path), type, n, fleet->port);

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
	prev = a;
	const __u64 start_ms = health_now_ms();
	for (int r = 0; r < w->runs; r++) {
		engine_drive(e, epoll_fd, start_ms + (__u64)(r + 1) * w->run_ms);
		health_totals(e, &t);
		mark_take(&b, fleet, t.checks, t.check_failures);
		figures_of(&prev, &b, &runs[r]);
		prev = b;
	}
	figures_of(&a, &b, out);

	fleet_view(m, &view);
	printf("%s engine window: %u of %u backends up; last checks took %.2f ms on average, "
	       "%.2f ms at most\n",
	       type_names[type], view.up, n, view.mean_duration_ms, view.max_duration_ms);
	snprintf(what, sizeof(what), "%s engine window", type_names[type]);
	fleet_state_print(what, fleet);
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
		/* The status line arrives in one segment. */
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

/*
 * The half-open baseline: the system calls a half-open checker cannot do
 * without, at the engine's rate. SYNs built in place (sequence number:
 * the backend's index) and sent with one sendmmsg() per batch of up to
 * BARE_SYN_BATCH checks, those due in the same HEALTH_SYN_GATHER_MS slot
 * together as the engine starts them; replies read with recvmmsg() once
 * per slot, as the engine reads them, from the one raw socket, whose
 * classic BPF filter passes only answers to our port; a reply counts when
 * it comes from the backend its acknowledgement names. A
 * check not answered within the timeout fails (a ring of the checks in the
 * order sent: one timeout for all, so the oldest is always first).
 */
#define BARE_SYN_BATCH 64

struct bare_syn {
	int raw_fd, port_fd, epoll_fd;
	__u16 port; /* ours, reserved by port_fd */
	struct conf_addr src;
	__u32 n, next_backend;
	__u64 *sent_ms;       /* by backend: when its check went out, 0 when answered */
	__u32 *ring;          /* backends in the order their checks went out */
	__u64 *ring_ms;       /* and when */
	__u32 ring_head, ring_count;
	__u16 fleet_port;
	__u64 started, checks, failures;
};

/* Opens the raw socket with its filter and reserves its source port: a TCP
 * socket bound to it that never listens, so the kernel resets the SYN-ACKs
 * and nothing else of this host takes the port. Returns 0 or -errno. */
static int bare_syn_open(struct bare_syn *s, const struct fleet *fleet)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(fleet->port),
				   .sin_addr.s_addr = htonl(backend_addr(0)) };
	socklen_t len = sizeof(sin);
	struct sock_filter prog[HEALTH_SYN_FILTER_MAX];
	struct sock_fprog fprog = { .filter = prog };
	int rcvbuf = 4 << 20, udp;

	s->port_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->port_fd < 0 || bind(s->port_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(s->port_fd, (struct sockaddr *)&sin, &len) < 0)
		return -errno;
	s->port = ntohs(sin.sin_port);
	/* The source address the SYNs will carry: the route's (every backend
	 * is behind the same one here), for the checksum. */
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	len = sizeof(sin);
	if (udp < 0 || connect(udp, (struct sockaddr *)&dst, sizeof(dst)) < 0 ||
	    getsockname(udp, (struct sockaddr *)&sin, &len) < 0) {
		int err = -errno;
		if (udp >= 0)
			close(udp);
		return err;
	}
	close(udp);
	s->src.family = FLOW_FAMILY_IPV4;
	s->src.addr[0] = sin.sin_addr.s_addr;
	s->raw_fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s->raw_fd < 0)
		return -errno;
	fprog.len = health_syn_filter(FLOW_FAMILY_IPV4, s->port, prog);
	if (setsockopt(s->raw_fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0)
		return -errno;
	setsockopt(s->raw_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return 0;
}

/* Sends count checks, the next backends round robin. */
static void bare_syn_send(struct bare_syn *s, __u32 count, __u64 now_ms)
{
	__u8 pkts[BARE_SYN_BATCH][HEALTH_SYN_LEN];
	struct sockaddr_in dst[BARE_SYN_BATCH];
	struct iovec iov[BARE_SYN_BATCH];
	struct mmsghdr msgs[BARE_SYN_BATCH];

	while (count) {
		__u32 batch = count < BARE_SYN_BATCH ? count : BARE_SYN_BATCH;
		for (__u32 k = 0; k < batch; k++) {
			__u32 i = s->next_backend;
			struct conf_addr to = { .family = FLOW_FAMILY_IPV4 };
			s->next_backend = (i + 1) % s->n;
			to.addr[0] = htonl(backend_addr(i));
			dst[k] = (struct sockaddr_in){ .sin_family = AF_INET,
						       .sin_addr.s_addr = to.addr[0] };
			iov[k] = (struct iovec){ pkts[k], health_syn_build(pkts[k], s->port,
									     s->fleet_port, i,
									     &s->src, &to) };
			msgs[k] = (struct mmsghdr){ .msg_hdr = { .msg_name = &dst[k],
								 .msg_namelen = sizeof(dst[k]),
								 .msg_iov = &iov[k],
								 .msg_iovlen = 1 } };
			if (s->sent_ms[i]) /* still unanswered from a round ago */
				s->failures++, s->checks++;
			s->sent_ms[i] = now_ms;
			__u32 slot = (s->ring_head + s->ring_count) % s->n;
			if (s->ring_count == s->n) {
				s->ring_head = (s->ring_head + 1) % s->n;
				s->ring_count--;
			}
			s->ring[slot] = i;
			s->ring_ms[slot] = now_ms;
			s->ring_count++;
		}
		for (__u32 sent = 0; sent < batch;) {
			int r = sendmmsg(s->raw_fd, msgs + sent, batch - sent, 0);
			if (r < 0) {
				/* That message failed (its check is counted when it
				 * times out); the others go on. */
				sent++;
				continue;
			}
			sent += (__u32)r;
		}
		count -= batch;
	}
}

/* Reads every reply waiting, in batches. */
static void bare_syn_receive(struct bare_syn *s)
{
	__u8 bufs[BARE_SYN_BATCH][128];
	struct iovec iov[BARE_SYN_BATCH];
	struct mmsghdr msgs[BARE_SYN_BATCH];

	for (;;) {
		for (int k = 0; k < BARE_SYN_BATCH; k++) {
			iov[k] = (struct iovec){ bufs[k], sizeof(bufs[k]) };
			msgs[k] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[k],
								 .msg_iovlen = 1 } };
		}
		int n = recvmmsg(s->raw_fd, msgs, BARE_SYN_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int k = 0; k < n; k++) {
			struct health_syn_reply reply;
			if (health_syn_parse(bufs[k], msgs[k].msg_len, FLOW_FAMILY_IPV4, NULL,
					     &reply) < 0)
				continue;
			__u32 i = reply.ack - 1;
			if (i >= s->n || !s->sent_ms[i] || reply.to_port != s->port ||
			    reply.from_port != s->fleet_port ||
			    reply.from.addr[0] != htonl(backend_addr(i)))
				continue;
			s->sent_ms[i] = 0;
			s->checks++;
			s->failures += reply.answer != HEALTH_SYN_ACCEPTED;
		}
		if (n < BARE_SYN_BATCH)
			return;
	}
}

/* Starts checks at rate per second from origin_ns, until until_ns. */
static void bare_syn_drive(struct bare_syn *s, uint64_t origin_ns, uint64_t until_ns, double rate)
{
	const uint64_t slot_ns = HEALTH_SYN_GATHER_MS * 1000000ull;

	for (;;) {
		struct epoll_event events[4];
		uint64_t now_ns = bench_now_ns();
		__u64 now_ms = now_ns / 1000000;
		if (now_ns >= until_ns)
			return;
		/* As the engine: replies first, then the checks due before the
		 * end of the current slot, together. */
		bare_syn_receive(s);
		uint64_t slot_end_ns = (now_ns / slot_ns + 1) * slot_ns;
		__u64 due = (__u64)((double)(slot_end_ns - origin_ns) * rate / 1e9);
		if (due > s->started) {
			bare_syn_send(s, (__u32)(due - s->started), now_ms);
			s->started = due;
		}
		while (s->ring_count && s->ring_ms[s->ring_head] + TIMEOUT_MS <= now_ms) {
			__u32 i = s->ring[s->ring_head];
			if (s->sent_ms[i] == s->ring_ms[s->ring_head]) {
				s->sent_ms[i] = 0;
				s->checks++;
				s->failures++;
			}
			s->ring_head = (s->ring_head + 1) % s->n;
			s->ring_count--;
		}
		/* Until the slot ends: an epoll_wait() with nothing to watch, as
		 * the engine's sleep is lbd's. */
		int timeout = (int)((slot_end_ns - now_ns + 999999) / 1000000);
		epoll_wait(s->epoll_fd, events, 4, timeout);
	}
}

/* bare_run() for half-open checks. */
static int bare_syn_run(__u32 n, const struct window *w, const struct fleet *fleet,
			struct figures *out, struct figures *runs)
{
	struct bare_syn s = { .raw_fd = -1, .port_fd = -1, .n = n, .fleet_port = fleet->port };
	struct mark m0, m1, prev;
	double rate = (double)n * 1000 / INTERVAL_MS;
	int rc = -1, err;

	s.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	s.sent_ms = calloc(n, sizeof(*s.sent_ms));
	s.ring = calloc(n, sizeof(*s.ring));
	s.ring_ms = calloc(n, sizeof(*s.ring_ms));
	if (s.epoll_fd < 0 || !s.sent_ms || !s.ring || !s.ring_ms) {
		fprintf(stderr, "bench_health: baseline: %s\n", strerror(errno));
		goto out;
	}
	if ((err = bare_syn_open(&s, fleet)) < 0) {
		fprintf(stderr, "bench_health: half-open baseline: %s\n", strerror(-err));
		goto out;
	}
	uint64_t origin = bench_now_ns();
	bare_syn_drive(&s, origin, origin + (uint64_t)BARE_WARMUP_MS * 1000000, rate);
	mark_take(&m0, fleet, s.checks, s.failures);
	prev = m0;
	for (int r = 0; r < w->runs; r++) {
		bare_syn_drive(&s, origin, m0.wall_ns + (uint64_t)(r + 1) * w->run_ms * 1000000,
			       rate);
		mark_take(&m1, fleet, s.checks, s.failures);
		figures_of(&prev, &m1, &runs[r]);
		prev = m1;
	}
	figures_of(&m0, &m1, out);
	fleet_state_print("tcp-half-open bare window", fleet);
	rc = 0;
out:
	if (s.raw_fd >= 0)
		close(s.raw_fd);
	if (s.port_fd >= 0)
		close(s.port_fd);
	if (s.epoll_fd >= 0)
		close(s.epoll_fd);
	free(s.sent_ms);
	free(s.ring);
	free(s.ring_ms);
	return rc;
}

/* The baseline's warm-up and the window's runs, with type's checks at the
 * engine's rate; fills out and runs[] as engine_run() does. Returns 0 or -1. */
static int bare_run(enum check_type type, __u32 n, const struct window *w,
		    const struct fleet *fleet, struct figures *out, struct figures *runs)
{
	struct bare b = { .type = type, .n = n, .port = fleet->port, .max_fd = -1 };
	__u32 first = backend_addr(0);
	char what[64];
	struct rlimit rl;
	struct mark m0, m1, prev;
	double rate = (double)n * 1000 / INTERVAL_MS;
	int rc = -1;

	if (type == CHECK_HALF_OPEN)
		return bare_syn_run(n, w, fleet, out, runs);
	getrlimit(RLIMIT_NOFILE, &rl);
	b.fd_limit = rl.rlim_cur > (1u << 20) ? 1 << 20 : (int)rl.rlim_cur;
	b.phase = calloc((size_t)b.fd_limit, sizeof(*b.phase));
	b.started_ms = calloc((size_t)b.fd_limit, sizeof(*b.started_ms));
	b.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	/* The engine's request, to one backend: nothing is formatted per check. */
	b.request_length = snprintf(b.request, sizeof(b.request),
				    "GET / HTTP/1.0\r\nHost: %u.%u.%u.%u:%u\r\nUser-Agent: "
				    "fulcrum-lbd\r\nConnection: close\r\n\r\n",
				    first >> 24, first >> 16 & 255, first >> 8 & 255, first & 255,
				    fleet->port);
	if (!b.phase || !b.started_ms || b.epoll_fd < 0) {
		fprintf(stderr, "bench_health: baseline: %s\n", strerror(errno));
		goto out;
	}
	uint64_t origin = bench_now_ns();
	bare_drive(&b, origin, origin + (uint64_t)BARE_WARMUP_MS * 1000000, rate);
	mark_take(&m0, fleet, b.checks, b.failures);
	prev = m0;
	for (int r = 0; r < w->runs; r++) {
		bare_drive(&b, origin, m0.wall_ns + (uint64_t)(r + 1) * w->run_ms * 1000000, rate);
		mark_take(&m1, fleet, b.checks, b.failures);
		figures_of(&prev, &m1, &runs[r]);
		prev = m1;
	}
	figures_of(&m0, &m1, out);
	for (int fd = 0; fd <= b.max_fd; fd++)
		if (b.phase[fd] != BARE_IDLE)
			close(fd);
	snprintf(what, sizeof(what), "%s bare window", type_names[type]);
	fleet_state_print(what, fleet);
	rc = 0;
out:
	if (b.epoll_fd >= 0)
		close(b.epoll_fd);
	free(b.phase);
	free(b.started_ms);
	return rc;
}

/* ---- main ---- */

/* v as "%*.*f", or "-" when not known. */
static const char *fmt_opt(char *buf, size_t size, bool known, double v, int width, int prec)
{
	if (known)
		snprintf(buf, size, "%*.*f", width, prec, v);
	else
		snprintf(buf, size, "%*s", width, "-");
	return buf;
}

static void print_row(const char *name, const struct figures *f, double ratio, bool veth)
{
	char busy[32], fleet_busy[32];

	printf("%-29s %7.2f %8s %9.0f %7llu %9.2f %8.2f %7.2f %7.1f %7.1f %8s\n", name, f->cpu_pct,
	       fmt_opt(busy, sizeof(busy), veth, f->busy_pct, 8, 2), f->checks_per_s,
	       (unsigned long long)f->failures, f->us_per_check, f->user_us_per_check, ratio,
	       f->softirq_pct, f->fleet_pct,
	       fmt_opt(fleet_busy, sizeof(fleet_busy), veth, f->fleet_busy_pct, 8, 1));
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
	fprintf(stderr,
		"usage: bench_health [-l] [-d SECONDS] [-n BACKENDS] [-t TYPE]... [--runs N] "
		"[--json FILE]\n"
		"  -l  the fleet on loopback, not behind a veth pair in a namespace\n"
		"      of its own (loopback is also what it takes when not root)\n"
		"  -d  measured window of each run, 1..600 s (default %d)\n"
		"  -n  backends, 1..%u (default %u)\n"
		"  -t  a check type to measure: tcp, http, tcp-half-open (default: all)\n"
		"  --runs N     runs per figure, 1..%d (default %d)\n" BENCH_OPTIONS_USAGE,
		RUN_S_DEFAULT, BACKENDS_MAX, BACKENDS_DEFAULT, BENCH_RUNS_MAX, RUNS_DEFAULT);
}

/* Of each run's figures, the one at offset (a double in struct figures). */
static struct bench_stat runs_stat(const struct figures *runs, int n, size_t offset)
{
	double v[BENCH_RUNS_MAX];

	for (int r = 0; r < n; r++)
		memcpy(&v[r], (const char *)&runs[r] + offset, sizeof(double));
	return bench_summarize(v, n);
}

/* A line of figures over the runs: median (min..max). */
static void print_runs_stat(const char *what, const char *unit, struct bench_stat s)
{
	printf("  %-33s %9.2f %s (%.2f..%.2f)\n", what, s.median, unit, s.min, s.max);
}

/* Runs the engine and the baseline with type's fleet. Returns 0 or -1. */
static int type_run(enum check_type type, __u32 n, const struct window *w,
		    const struct veth_link *link, struct figures *engine, struct figures *engine_runs,
		    struct figures *bare, struct figures *bare_runs)
{
	struct fleet fleet;
	int err = fleet_start(type, link, &fleet), rc;

	if (err) {
		fprintf(stderr, "bench_health: fleet: %s\n", strerror(-err));
		return -1;
	}
	if ((err = fleet_probe(&fleet, 0)) || (err = fleet_probe(&fleet, n - 1))) {
		fprintf(stderr, "bench_health: %s fleet does not answer: %s\n", type_names[type],
			strerror(-err));
		rc = -1;
	} else {
		rc = engine_run(type, n, w, &fleet, engine, engine_runs);
		fflush(stdout);
		if (rc == 0)
			rc = bare_run(type, n, w, &fleet, bare, bare_runs);
		fflush(stdout);
	}
	fleet_stop(&fleet);
	return rc;
}

int main(int argc, char **argv)
{
	struct figures engine[CHECK_TYPES], bare[CHECK_TYPES];
	static struct figures engine_runs[CHECK_TYPES][BENCH_RUNS_MAX],
		bare_runs[CHECK_TYPES][BENCH_RUNS_MAX];
	struct veth_link link = { .ns_fd = -1, .host_ns_fd = -1 };
	unsigned run_s = RUN_S_DEFAULT;
	__u32 n = BACKENDS_DEFAULT;
	bool veth = true, some_types = false;
	cpu_set_t cpus;
	struct rlimit rl;
	struct bench_options o;
	struct bench_json json;
	int opt, rc = 1, err;

	if (bench_options_take(&argc, argv, RUNS_DEFAULT, &o) < 0) {
		usage();
		return 2;
	}
	while ((opt = getopt(argc, argv, "d:n:t:lh")) != -1) {
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
				run_s = (unsigned)v;
			else
				n = (__u32)v;
			break;
		case 'l':
			veth = false;
			break;
		case 't': {
			int t = 0;
			while (t < CHECK_TYPES && strcmp(optarg, type_names[t]) != 0)
				t++;
			if (t == CHECK_TYPES) {
				usage();
				return 2;
			}
			type_wanted[t] = some_types = true;
			break;
		}
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	for (int t = 0; t < CHECK_TYPES && !some_types; t++)
		type_wanted[t] = true;
	/* Checks in flight and the fleet's connections each hold a descriptor. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	signal(SIGPIPE, SIG_IGN);
	const struct window w = { .runs = o.runs, .run_ms = run_s * 1000 };
	if ((err = bench_json_open(&json, o.json_path, "bench_health", o.runs)) < 0) {
		fprintf(stderr, "bench_health: %s: %s\n", o.json_path, strerror(-err));
		return 1;
	}

	bench_print_machine();
	if (veth && geteuid() != 0) {
		printf("not root: the fleet is on loopback (as with -l)\n");
		veth = false;
	}
	if (veth && veth_cpus_pick(&link) < 0) {
		printf("one CPU only: the fleet is on loopback (as with -l)\n");
		veth = false;
	}
	if (veth) {
		struct sigaction sa = { .sa_handler = on_signal };
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		if (veth_setup(&link) < 0) {
			fprintf(stderr, "bench_health: could not put the fleet behind a veth pair; "
					"-l puts it on loopback\n");
			return 1;
		}
		backend_base = VETH_BASE;
		printf("fleet: in network namespace %s (named only while set up), behind veth %s "
		       "(%s%s) - %s (%s%s); this process on CPU %d, the fleet on CPU %d; RPS: "
		       "%s -> CPU %d, %s -> CPU %d\n",
		       link.ns, link.host_dev, LINK_HOST_ADDR, LINK_PREFIX, link.fleet_dev,
		       LINK_FLEET_ADDR, LINK_PREFIX, link.cpu, link.fleet_cpu, link.host_dev,
		       link.cpu, link.fleet_dev, link.fleet_cpu);
	} else {
		printf("fleet: on loopback, in this network namespace; no CPU pinning\n");
	}
	__u32 first = backend_addr(0);
	printf("health checks: %u backends (%u VIPs) at %u.%u.%u.%u.. on one port, every %u ms "
	       "(+-%u%%), timeout %u ms, rise 2 fall 3; fd limit %llu\n",
	       n, (n + BACKENDS_PER_VIP - 1) / BACKENDS_PER_VIP, first >> 24, first >> 16 & 255,
	       first >> 8 & 255, first & 255, INTERVAL_MS, JITTER_PCT, TIMEOUT_MS,
	       (unsigned long long)rl.rlim_cur);
	printf("per check type: engine %.0f s warm-up + %d runs of %u s, then bare checks %.0f s + "
	       "%d runs of %u s; CPU = this process only\n",
	       WARMUP_MS / 1000.0, w.runs, run_s, BARE_WARMUP_MS / 1000.0, w.runs, run_s);
	fflush(stdout);
	bench_json_context(&json, "fleet",
			   veth ? "behind a veth pair, in a network namespace of its own, on "
				  "another CPU"
				: "on loopback (its side of each check is billed to the checker)");
	bench_json_context(&json, "checks",
			   "%u backends, every %u ms, timeout %u ms; runs of %u s after a %.0f s "
			   "warm-up",
			   n, INTERVAL_MS, TIMEOUT_MS, run_s, WARMUP_MS / 1000.0);
	bench_json_context(&json, "baseline",
			   "bare checks at the same rate: socket, connect, epoll, SO_ERROR, close "
			   "(and for HTTP the request and status line; for half-open, SYNs by "
			   "sendmmsg and replies by recvmmsg on one filtered raw socket); measured "
			   "after the engine, so ratios are bounds");

	/* On our CPU for all the runs; the fleet's process pins itself to its own. */
	sched_getaffinity(0, sizeof(cpus), &cpus);
	if (veth && cpu_pin(link.cpu) < 0) {
		perror("bench_health: sched_setaffinity");
		goto out;
	}
	for (int type = 0; type < CHECK_TYPES; type++)
		if (type_wanted[type] &&
		    type_run((enum check_type)type, n, &w, veth ? &link : NULL, &engine[type],
			     engine_runs[type], &bare[type], bare_runs[type]))
			goto out;
	sched_setaffinity(0, sizeof(cpus), &cpus);

	printf("us/check = CPU per check (user us: of it in user space, tick-sampled); "
	       "x bare = us/check over the baseline's;\n");
	if (veth)
		printf("cpu busy = how busy this process's CPU %d was (not idle, not stolen): the "
		       "process, the softirq served on it and\nanything else that ran there; "
		       "sirq %% = that CPU's softirq time, tick-sampled; fleet %% = the fake "
		       "fleet's CPU,\nfl busy = how busy its CPU %d was\n",
		       link.cpu, link.fleet_cpu);
	else
		printf("fleet %%, sirq %% = the fake fleet's CPU and all CPUs' softirq time "
		       "(context, not counted)\n");
	printf("%-29s %7s %8s %9s %7s %9s %8s %7s %7s %7s %8s\n",
	       veth ? "fleet behind veth" : "fleet on loopback", "% core", "cpu busy", "checks/s",
	       "failed", "us/check", "user us", "x bare", "sirq %", "fleet %", "fl busy");
	for (int type = 0; type < CHECK_TYPES; type++) {
		char name[64];
		if (!type_wanted[type])
			continue;
		snprintf(name, sizeof(name), "%s: engine", type_names[type]);
		print_row(name, &engine[type], engine[type].us_per_check / bare[type].us_per_check,
			  veth);
		snprintf(name, sizeof(name), "%s: bare checks (baseline)", type_names[type]);
		print_row(name, &bare[type], 1.0, veth);
	}
	for (int type = 0; type < CHECK_TYPES; type++) {
		char name[64];
		if (!type_wanted[type])
			continue;
		snprintf(name, sizeof(name), "%s engine", type_names[type]);
		check_rate(name, &engine[type], n);
		snprintf(name, sizeof(name), "%s bare checks", type_names[type]);
		check_rate(name, &bare[type], n);
	}
	/* One verdict per type: the target is the issue's, 10 000 checks a
	 * second under 10% of one core. */
	printf("summary (fleet %s): %u backends every %u ms:", veth ? "behind veth" : "on loopback",
	       n, INTERVAL_MS);
	for (int type = 0, first_type = 1; type < CHECK_TYPES; type++) {
		const struct figures *f = &engine[type];
		if (!type_wanted[type])
			continue;
		printf("%s %s %.2f%% of one core", first_type ? "" : ";", type_names[type],
		       f->cpu_pct);
		if (veth)
			printf(" (its CPU %.2f%% busy)", f->busy_pct);
		printf(", %.0f checks/s, %.2f us/check, %.2fx bare, %s the %.0f%% target",
		       f->checks_per_s, f->us_per_check, f->us_per_check / bare[type].us_per_check,
		       f->cpu_pct < TARGET_PCT ? "within" : "ABOVE", TARGET_PCT);
		first_type = 0;
	}
	printf("\n");

	/* Each figure over the runs. The baseline ran after the engine, not
	 * beside it, so its ratio is a bound (bench.h, "bounds"). */
	printf("over %d runs of %u s, median (min..max); x bare = median / median (min / max .. "
	       "max / min: engine and baseline did not run together):\n",
	       w.runs, run_s);
	/* The WARNING lines above go with the figures too: the suite keeps them. */
	char rates[256];
	int rates_len = 0;
	__u64 failed = 0;
	for (int type = 0; type < CHECK_TYPES; type++) {
		if (!type_wanted[type])
			continue;
		rates_len += snprintf(rates + rates_len, sizeof(rates) - (size_t)rates_len,
				      "%s %.0f and %.0f, ", type_names[type],
				      engine[type].checks_per_s, bare[type].checks_per_s);
		failed += engine[type].failures + bare[type].failures;
	}
	bench_json_context(&json, "rates", "checks/s (engine and bare): %s%llu failed", rates,
			   (unsigned long long)failed);
	for (int type = 0; type < CHECK_TYPES; type++) {
		if (!type_wanted[type])
			continue;
		char name[3][64], what[64];
		const struct figures *er = engine_runs[type], *br = bare_runs[type];
		struct bench_stat pct = runs_stat(er, w.runs, offsetof(struct figures, cpu_pct));
		struct bench_stat us = runs_stat(er, w.runs, offsetof(struct figures, us_per_check));
		struct bench_stat bare_us =
			runs_stat(br, w.runs, offsetof(struct figures, us_per_check));
		struct bench_stat bare_pct = runs_stat(br, w.runs, offsetof(struct figures, cpu_pct));
		snprintf(name[0], sizeof(name[0]), "%s: bare checks, CPU per check",
			 type_names[type]);
		snprintf(name[1], sizeof(name[1]), "%s: engine, CPU per check", type_names[type]);
		snprintf(name[2], sizeof(name[2]), "%s: engine, %% of one core", type_names[type]);
		struct bench_figure fig = { .name = name[1], .unit = "us/check",
					    .better = BENCH_LOWER_BETTER, .runs = w.runs,
					    .value = us, .baseline = name[0],
					    .ratio_method = BENCH_RATIO_BOUNDS,
					    .ratio = bench_ratio_bounds(us, bare_us) };
		struct bench_figure core = { .name = name[2], .unit = "% of one core",
					     .better = BENCH_LOWER_BETTER, .runs = w.runs,
					     .value = pct };
		snprintf(what, sizeof(what), "%s engine, %% of one core", type_names[type]);
		print_runs_stat(what, "%", pct);
		snprintf(what, sizeof(what), "%s bare checks, %% of one core", type_names[type]);
		print_runs_stat(what, "%", bare_pct);
		snprintf(what, sizeof(what), "%s engine, CPU per check", type_names[type]);
		print_runs_stat(what, "us", us);
		snprintf(what, sizeof(what), "%s bare checks, CPU per check", type_names[type]);
		print_runs_stat(what, "us", bare_us);
		snprintf(what, sizeof(what), "%s engine, x bare", type_names[type]);
		print_runs_stat(what, "x", fig.ratio);
		bench_json_baseline(&json, name[0], "us/check", BENCH_LOWER_BETTER, w.runs, bare_us);
		bench_json_figure(&json, &fig);
		bench_json_figure(&json, &core);
	}
	rc = bench_json_close(&json) < 0;
out:
	if (veth)
		veth_teardown(&link);
	return rc;
}
