/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The XDP balancer's cost per packet (issue 4, "Performance"), through
 * BPF_PROG_TEST_RUN: one system call per packet, repeat = 1, in a loop.
 * repeat > 1 would run the program again on the frame it has just
 * rewritten (already tunnelled), so it would measure something else.
 *
 * The baseline is an empty XDP program (tests/bpf/xdp_pass.bpf.c, returns
 * XDP_PASS) run the same way, on the same frames, in the same run: what a
 * call costs with no program work in it (the system call, copying the frame
 * in and out, setting up the xdp_buff). Per run and path:
 *
 *   x empty = gross / baseline           (the headline: both from one run)
 *   net     = gross - baseline           ns/packet of the balancer's own work
 *
 * each the median of BENCH_RUNS runs with min and max. The paths are
 * measured one after the other; within a run a path's calls alternate with
 * the baseline's in blocks of BLOCK, so that the two see the same moments
 * of a shared machine, while the path's working set (the flows it cycles
 * through) is not pushed out of the caches by another path's. The baseline
 * line sums up the baseline blocks of every path.
 *
 * The last column is the kernel's own clock around the program run
 * (opts.duration, the same calls, the same subtraction): it leaves the
 * system call and the copies out, so it is much steadier, and lower by what
 * the program's footprint in the caches costs the rest of the call. It is
 * a cross-check, not the figure the target is judged on.
 *
 * The paths, on 54-byte TCP/IPv4 frames (74-byte TCP/IPv6 for GUE):
 *
 *   established, 1024 flows   ACKs of 1024 flows, cycled round robin, whose
 *                             SYN and first ACK went through first (the
 *                             ACK promoted them from new_flows): flow
 *                             table (LRU) hit, IPIP encapsulation, XDP_TX
 *   established, 1 flow       ACKs of one of them, every time
 *   established, 262144 flows as the first, over half of this CPU's share
 *                             of the flow table: entries mostly out of the
 *                             caches, as with many flows for real
 *   new flow                  a SYN from a client (address, port) never
 *                             seen before, every time: a miss in the (full)
 *                             flow table, ring lookup, insert into the
 *                             new-flow map; that map is full, so every
 *                             insert evicts the least recently used new
 *                             flow, as on a busy balancer
 *   not a VIP                 ACKs to an address that is no VIP: parse, VIP
 *                             lookup miss, XDP_PASS
 *   established, GUE / IPv6   as the first, to an IPv6 VIP with IPv6
 *                             backends over GUE, whose UDP checksum over
 *                             IPv6 is computed over the whole datagram
 *
 * Three loaded instances of the balancer, with the same tables: IPIP for
 * the established flows and not-a-VIP, IPIP for the new flows (whose
 * evictions would otherwise reach the established flows), and GUE (the
 * encapsulation is a parameter of a table generation). Each has lbd's
 * default sizes (a flow table of 1 048 576 entries), an IPv4 and an IPv6
 * VIP of 10 backends with Maglev rings of 65 537, and a flow table filled
 * with other flows (a SYN and an ACK each) before the runs.
 *
 * Every timed call must return its path's verdict, and at the end the
 * balancer's own counters (flow_hit, flow_new, kernel_packets) must have
 * grown by exactly the packets each path sent: a figure of the wrong path
 * is an error, not a result.
 *
 * Like tests/bpf/test_bpf_balancer.c, it runs in a network namespace of its
 * own (gone when it exits) with a veth pair and static neighbours, so that
 * bpf_fib_lookup() answers; frames arrive on xb0. The process is pinned to
 * one CPU (the first it may use): the flow table keeps an LRU list per CPU.
 * Needs root (BPF, a network namespace); says so and exits 0 otherwise.
 * About 25 s with the defaults:
 *
 *   make build/bench/bench_xdp && build/bench/bench_xdp [-n CALLS_PER_RUN] [--json FILE]
 *
 * --json FILE writes the figures for the suite too (tests/bench/bench.h):
 * per path the gross ns/packet with its ratio to the empty program, and the
 * net ns/packet; only when the counters agree with what was sent.
 */
#define _GNU_SOURCE /* unshare, CPU_SET */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "controlplane/xdp.h"
#include "dataplane/counters.h"
#include "dataplane/pkt.h"
#include "bpf/xdp_pass.skel.h"
#include "tests/bench/bench.h"
#include "tests/unit/vip_payload.h"

#define FLOWS         1024
#define MANY_FLOWS    262144 /* half this CPU's share of the flow table */
#define FRAME_SLOT    128  /* room for one frame of the sets */
#define FRAME_MAX     2048 /* room for what comes out */
#define BLOCK         1000 /* calls a path makes before the next one's turn */
#define CALLS_DEFAULT 100000u
#define BACKENDS      10
#define TARGET_NET_NS 60.0
#define VIP4          0xc000020au /* 192.0.2.10, port 80 */
#define VIP6          "2001:db8::10" /* port 443 */
#define NOT_VIP4      0xc0000263u /* 192.0.2.99 */
#define CLIENT4       0xc6336401u /* 198.51.100.1 + flow % 250 */
#define FRESH4        0x64400000u /* 100.64.0.0/10: the new flows' clients */
#define MANY4         0xac100000u /* 172.16.0.0 + flow: the many flows' clients */
#define LB_MAC        "\x02\x00\x00\x00\x00\x03" /* xb0 */
#define CLIENT_MAC    "\x02\x00\x00\x00\x00\x02"

/* The frames the paths send, FLOWS of each. */
enum frame_set {
	SET_ACK4,      /* established IPv4 flows */
	SET_SYN4,      /* their SYNs */
	SET_FRESH4,    /* SYNs whose client is stamped afresh before each call */
	SET_FRESH_ACK4, /* an ACK from the client of the last SET_FRESH4 SYN */
	SET_NOT_VIP,   /* ACKs to an address that is no VIP */
	SET_ACK6,      /* established IPv6 flows */
	SET_SYN6,      /* their SYNs */
	SET_MANY4,     /* ACKs of MANY_FLOWS flows, the client stamped in */
	SET_MANY_SYN4, /* their SYNs */
	SET_COUNT,
};

/* The loaded programs: the baseline and three balancers. */
enum prog { PROG_EMPTY, PROG_IPIP, PROG_IPIP_NEW, PROG_GUE, PROG_COUNT };

enum path_id {
	PATH_EMPTY,
	PATH_ESTABLISHED,
	PATH_ESTABLISHED_ONE,
	PATH_ESTABLISHED_MANY,
	PATH_NEW,
	PATH_NOT_VIP,
	PATH_ESTABLISHED_GUE,
	PATH_COUNT,
};

struct path {
	const char *name;
	enum prog prog;
	enum frame_set set; /* the frames it sends */
	__u32 flows;        /* how many flows, round robin */
	int verdict;        /* every call must return it */
};

static const struct path paths[PATH_COUNT] = {
	[PATH_EMPTY] = { "empty program (baseline)", PROG_EMPTY, SET_ACK4, FLOWS, XDP_PASS },
	[PATH_ESTABLISHED] = { "established, 1024 flows, IPIP", PROG_IPIP, SET_ACK4, FLOWS,
			       XDP_TX },
	[PATH_ESTABLISHED_ONE] = { "established, 1 flow, IPIP", PROG_IPIP, SET_ACK4, 1, XDP_TX },
	[PATH_ESTABLISHED_MANY] = { "established, 262144 flows, IPIP", PROG_IPIP, SET_MANY4,
				    MANY_FLOWS, XDP_TX },
	[PATH_NEW] = { "new flow (SYN, insert), IPIP", PROG_IPIP_NEW, SET_FRESH4, FLOWS, XDP_TX },
	[PATH_NOT_VIP] = { "not a VIP (XDP_PASS)", PROG_IPIP, SET_NOT_VIP, FLOWS, XDP_PASS },
	[PATH_ESTABLISHED_GUE] = { "established, 1024 flows, GUE/IPv6", PROG_GUE, SET_ACK6, FLOWS,
				   XDP_TX },
};

static unsigned char frames[SET_COUNT][FLOWS][FRAME_SLOT];
static __u32 frame_len[SET_COUNT];
static int ifindex_lb;
static int prog_fd[PROG_COUNT];
static __u32 fresh_count; /* new flows sent so far: each one's client */

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_xdp: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		die("failed (%d): %s", rc, cmd);
}

/*
 * The namespace, as in the BPF tests: xb0 (the balancer's side, LB_MAC) and
 * xb1, backends 10.1.0.1..10 and fd00:1::1..a behind xb0 with permanent
 * neighbours; forwarding on, which bpf_fib_lookup() asks for.
 */
static void netns_setup(void)
{
	if (unshare(CLONE_NEWNET) != 0)
		die("unshare(CLONE_NEWNET): %s", strerror(errno));
	sh("ip link set lo up && "
	   "ip link add xb0 address 02:00:00:00:00:03 type veth peer name xb1 "
	   "address 02:00:00:00:00:04 && ip link set xb0 up && ip link set xb1 up && "
	   "ip addr add 10.0.0.2/24 dev xb0 && ip route add 10.1.0.0/16 dev xb0 && "
	   "ip -6 addr add fd00::2/64 dev xb0 nodad && ip -6 route add fd00:1::/64 dev xb0 && "
	   "sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 && "
	   "for i in $(seq 1 10); do "
	   "ip neigh add 10.1.0.$i lladdr 02:00:00:00:00:04 dev xb0 nud permanent && "
	   "ip -6 neigh add fd00:1::$(printf %x $i) lladdr 02:00:00:00:00:04 dev xb0 "
	   "nud permanent || exit 1; done");
	ifindex_lb = (int)if_nametoindex("xb0");
	if (!ifindex_lb)
		die("xb0: %s", strerror(errno));
}

/* Pins this process to the first CPU it may use; returns that CPU. */
static int pin_to_one_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		die("sched_getaffinity: %s", strerror(errno));
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			die("sched_setaffinity: %s", strerror(errno));
		return cpu;
	}
	die("no CPU to run on");
}

static void put_be16(unsigned char *p, __u16 v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put_be32(unsigned char *p, __u32 v)
{
	put_be16(p, (__u16)(v >> 16));
	put_be16(p + 2, (__u16)v);
}

/* The TCP header at l4 (no options), ports in host order. */
static void tcp_header(unsigned char *l4, __u16 sport, __u16 dport, __u8 flags)
{
	put_be16(l4, sport);
	put_be16(l4 + 2, dport);
	put_be32(l4 + 4, 1);
	put_be32(l4 + 8, flags & PKT_TCP_ACK ? 1 : 0);
	l4[12] = 0x50;
	l4[13] = flags;
	put_be16(l4 + 14, 65535);
}

/* Ethernet + IPv4 (DF, valid header checksum) + TCP to xb0, addresses and
 * ports in host order. Returns the frame's length, 54. */
static __u32 frame_v4(unsigned char *f, __u32 src, __u16 sport, __u32 dst, __u16 dport, __u8 flags)
{
	unsigned char *ip = f + 14;

	memset(f, 0, FRAME_SLOT);
	memcpy(f, LB_MAC CLIENT_MAC "\x08\x00", 14);
	ip[0] = 0x45;
	put_be16(ip + 2, 40);
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = PKT_PROTO_TCP;
	put_be32(ip + 12, src);
	put_be32(ip + 16, dst);
	__u16 csum = (__u16)~pkt_csum_fold(pkt_csum_add(0, ip, 20));
	memcpy(ip + 10, &csum, 2);
	tcp_header(ip + 20, sport, dport, flags);
	return 54;
}

/* Ethernet + IPv6 + TCP to xb0 (the TCP checksum, which no balancer reads,
 * left zero). Returns the frame's length, 74. */
static __u32 frame_v6(unsigned char *f, const char *src, __u16 sport, const char *dst, __u16 dport,
		      __u8 flags)
{
	unsigned char *ip = f + 14;

	memset(f, 0, FRAME_SLOT);
	memcpy(f, LB_MAC CLIENT_MAC "\x86\xdd", 14);
	ip[0] = 0x60;
	put_be16(ip + 4, 20);
	ip[6] = PKT_PROTO_TCP;
	ip[7] = 64;
	if (inet_pton(AF_INET6, src, ip + 8) != 1 || inet_pton(AF_INET6, dst, ip + 24) != 1)
		die("bad IPv6 address %s or %s", src, dst);
	tcp_header(ip + 40, sport, dport, flags);
	return 74;
}

static void frames_build(void)
{
	char src[64];

	for (__u32 i = 0; i < FLOWS; i++) {
		__u32 client = CLIENT4 + i % 250;
		__u16 sport = (__u16)(10000 + i);
		frame_len[SET_ACK4] = frame_v4(frames[SET_ACK4][i], client, sport, VIP4, 80,
					       PKT_TCP_ACK);
		frame_len[SET_SYN4] = frame_v4(frames[SET_SYN4][i], client, sport, VIP4, 80,
					       PKT_TCP_SYN);
		frame_len[SET_FRESH4] = frame_v4(frames[SET_FRESH4][i], client, sport, VIP4, 80,
						 PKT_TCP_SYN);
		frame_len[SET_FRESH_ACK4] = frame_v4(frames[SET_FRESH_ACK4][i], client, sport,
						     VIP4, 80, PKT_TCP_ACK);
		frame_len[SET_NOT_VIP] = frame_v4(frames[SET_NOT_VIP][i], client, sport, NOT_VIP4,
						  80, PKT_TCP_ACK);
		snprintf(src, sizeof(src), "2001:db8:100::%x", i + 1);
		frame_len[SET_ACK6] = frame_v6(frames[SET_ACK6][i], src, sport, VIP6, 443,
					       PKT_TCP_ACK);
		frame_len[SET_SYN6] = frame_v6(frames[SET_SYN6][i], src, sport, VIP6, 443,
					       PKT_TCP_SYN);
		frame_len[SET_MANY4] = frame_v4(frames[SET_MANY4][i], MANY4, 10000, VIP4, 80,
						PKT_TCP_ACK);
		frame_len[SET_MANY_SYN4] = frame_v4(frames[SET_MANY_SYN4][i], MANY4, 10000, VIP4,
						    80, PKT_TCP_SYN);
	}
}

/*
 * Writes flow `flow`'s client into a frame of a stamped set: for
 * SET_FRESH4 a client never seen before (100.64.0.0/10 and a port, 4096
 * ports to an address), for SET_FRESH_ACK4 the last of those, for the
 * SET_MANY sets 172.16.0.0 + flow. The IPv4
 * header checksum is left as it was (the balancer does not verify it, and
 * adjusts it for the TTL incrementally): a few stores, next to nothing
 * beside a system call.
 */
static void stamp(enum frame_set set, unsigned char *f, __u32 flow)
{
	if (set == SET_FRESH4 || set == SET_FRESH_ACK4) {
		__u32 n = set == SET_FRESH4 ? fresh_count++ : fresh_count - 1;
		put_be32(f + 26, FRESH4 + (n >> 12 & 0x3fffff));
		put_be16(f + 34, (__u16)(1024 + (n & 0xfff)));
	} else {
		put_be32(f + 26, MANY4 + flow);
	}
}

/* A path's time over some calls. */
struct sample {
	uint64_t wall_ns;   /* this process's clock around the calls */
	uint64_t kernel_ns; /* the kernel's around the program runs (opts.duration) */
};

/*
 * Sends calls frames of a set through a program, one BPF_PROG_TEST_RUN each
 * with repeat = 1, arriving on xb0: flows *cursor, *cursor + 1, ... of the
 * set's first `flows`, round robin (the cursor carries on from call to
 * call). Every call must return verdict. Adds the time taken to *s.
 */
static void run(enum prog prog, enum frame_set set, __u32 flows, __u32 *cursor, __u32 calls,
		int verdict, struct sample *s)
{
	static unsigned char out[FRAME_MAX];
	struct xdp_md ctx = { .data_end = frame_len[set], .ingress_ifindex = (__u32)ifindex_lb };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_size_in = frame_len[set], .data_out = out,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);
	const bool stamped = set == SET_FRESH4 || set == SET_FRESH_ACK4 || set == SET_MANY4 ||
			     set == SET_MANY_SYN4;
	const int fd = prog_fd[prog];
	__u64 kernel_ns = 0;
	__u32 f = *cursor;

	uint64_t t0 = bench_now_ns();
	for (__u32 i = 0; i < calls; i++) {
		unsigned char *frame = frames[set][f % FLOWS];
		if (stamped)
			stamp(set, frame, f);
		opts.data_in = frame;
		opts.data_size_out = sizeof(out); /* the kernel writes the length out */
		if (bpf_prog_test_run_opts(fd, &opts) != 0)
			die("BPF_PROG_TEST_RUN: %s", strerror(errno));
		if ((int)opts.retval != verdict)
			die("verdict %u where %d was expected (frame set %d)", opts.retval, verdict,
			    (int)set);
		kernel_ns += opts.duration;
		if (++f == flows)
			f = 0;
	}
	s->wall_ns += bench_now_ns() - t0;
	s->kernel_ns += kernel_ns;
	*cursor = f;
}

/* Untimed calls: warming up, filling tables. */
static void send_frames(enum prog prog, enum frame_set set, __u32 flows, __u32 calls, int verdict)
{
	struct sample ignored = { 0, 0 };
	__u32 cursor = 0;

	run(prog, set, flows, &cursor, calls, verdict, &ignored);
}

/*
 * Establishes flows through a program as connections do, untimed: for each,
 * its SYN (into new_flows) then an ACK (which promotes it into the flow
 * table). SET_FRESH4 clients when stamped, else the set pair's own flows,
 * in chunks that new_flows holds whole.
 */
static void establish(enum prog prog, enum frame_set syn, enum frame_set ack, __u32 flows,
		      __u32 count)
{
	__u32 syn_cursor = 0, ack_cursor = 0;

	for (__u32 done = 0; done < count; done += FLOWS) {
		__u32 n = count - done < FLOWS ? count - done : FLOWS;
		if (syn == SET_FRESH4) {
			for (__u32 i = 0; i < n; i++) { /* the ACK names the last SYN's client */
				send_frames(prog, SET_FRESH4, FLOWS, 1, XDP_TX);
				send_frames(prog, SET_FRESH_ACK4, FLOWS, 1, XDP_TX);
			}
			continue;
		}
		struct sample ignored = { 0, 0 };
		run(prog, syn, flows, &syn_cursor, n, XDP_TX, &ignored);
		run(prog, ack, flows, &ack_cursor, n, XDP_TX, &ignored);
	}
}

/* The balancer's counters, summed over CPUs; *flows: live flow entries. */
static void counters_read(struct xdp_dataplane *x, __u64 *counters, __u64 *flows)
{
	struct chan_stats stats;
	char err[256];

	if (xdp_stats(x, &stats, counters, err, sizeof(err)) != 0)
		die("%s", err);
	if (flows)
		*flows = stats.flows;
}

/* VIP family's key and BACKENDS backends (10.1.0.1.. or fd00:1::1..). */
static void vip_make(int family, struct chan_vip_key *key, struct chan_backend *b)
{
	char text[64];

	memset(key, 0, sizeof(*key));
	key->family = (__u8)family;
	key->proto = PKT_PROTO_TCP;
	if (family == FLOW_FAMILY_IPV4) {
		key->addr[0] = htonl(VIP4);
		key->port = htons(80);
	} else {
		inet_pton(AF_INET6, VIP6, key->addr);
		key->port = htons(443);
	}
	memset(b, 0, BACKENDS * sizeof(*b));
	for (int i = 0; i < BACKENDS; i++) {
		b[i].family = (__u8)family;
		b[i].port = htons(80);
		b[i].state = CHAN_BACKEND_READY;
		b[i].weight = 1;
		if (family == FLOW_FAMILY_IPV4) {
			b[i].addr[0] = htonl(0x0a010000u + (__u32)i + 1);
		} else {
			snprintf(text, sizeof(text), "fd00:1::%x", i + 1);
			inet_pton(AF_INET6, text, b[i].addr);
		}
	}
}

/*
 * A balancer with lbd's default sizes and the two VIPs published, tunnelling
 * with encap; its flow table filled with other flows (fresh connections).
 */
static struct xdp_dataplane *balancer_open(__u8 encap, enum prog prog)
{
	struct xdp_options o = { 0 }; /* default flow table and member sizes */
	struct chan_gen_begin begin = {
		.encap = encap,
		.gue_port = htons(6080),
		.tcp_idle_timeout_s = 300,
		.udp_idle_timeout_s = 30,
	};
	struct chan_backend b[BACKENDS];
	struct chan_vip_key key;
	struct vip_payload p[2];
	struct chan_vip_view views[2];
	char err[256];
	bool adopted;

	struct xdp_dataplane *x = xdp_open(&o, &adopted, err, sizeof(err));
	if (!x)
		die("%s", err);
	inet_pton(AF_INET, "10.0.0.2", &begin.encap_source_v4);
	inet_pton(AF_INET6, "fd00::2", begin.encap_source_v6);
	for (int v = 0; v < 2; v++) {
		vip_make(v == 0 ? FLOW_FAMILY_IPV4 : FLOW_FAMILY_IPV6, &key, b);
		p[v] = vip_payload_build(&key, v == 0 ? "web4" : "web6", b, BACKENDS,
					 MAGLEV_TABLE_SIZE_DEFAULT);
		if (chan_vip_decode(p[v].data, p[v].length, &views[v], err, sizeof(err)) != 0)
			die("%s", err);
	}
	if (xdp_publish(x, &begin, views, 2, err, sizeof(err)) != 0)
		die("publishing the VIPs: %s", err);
	free(p[0].data);
	free(p[1].data);
	prog_fd[prog] = xdp_program_fd(x);
	establish(prog, SET_FRESH4, SET_FRESH_ACK4, FLOWS, BALANCER_FLOWS_DEFAULT);
	return x;
}

static int bpf_jit_enabled(void)
{
	FILE *f = fopen("/proc/sys/net/core/bpf_jit_enable", "r");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* "met", or why not, for a net figure against the target. */
static const char *target_verdict(const struct bench_stat *net)
{
	if (net->median >= TARGET_NET_NS)
		return "NOT met";
	if (net->max >= TARGET_NET_NS)
		return "met at the median, not in every run";
	return "met";
}

/* " median (min..max)" in a fixed width, or as it comes at a line's end. */
static void print_stat(int width, int decimals, const struct bench_stat *s, bool last)
{
	char range[48];

	snprintf(range, sizeof(range), "(%.*f..%.*f)", decimals, s->min, decimals, s->max);
	printf(" %*.*f %-*s", width, decimals, s->median, last ? 0 : 17, range);
}

static int usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n CALLS_PER_RUN (at least %d)] [--json FILE]\n" BENCH_OPTIONS_USAGE,
		prog, BLOCK);
	return 2;
}

int main(int argc, char **argv)
{
	__u32 calls = CALLS_DEFAULT;
	struct bench_options o;
	int opt;

	/* Runs stay BENCH_RUNS (no --runs): the samples' arrays are sized by it. */
	if (bench_options_take(&argc, argv, 0, &o) < 0)
		return usage(argv[0]);
	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n' || (calls = (__u32)strtoul(optarg, NULL, 10)) < BLOCK)
			return usage(argv[0]);
	}
	calls -= calls % BLOCK;
	if (geteuid() != 0) {
		printf("bench_xdp: skipped: needs root (loads BPF programs, runs them with "
		       "BPF_PROG_TEST_RUN in a network namespace of its own)\n");
		return 0;
	}
	int jit = bpf_jit_enabled(); /* a global setting, read in the first namespace */
	int cpu = pin_to_one_cpu();
	netns_setup();
	libbpf_set_print(NULL);
	frames_build();

	bench_print_machine();
	printf("XDP balancer through BPF_PROG_TEST_RUN, repeat = 1, one call per packet; "
	       "%u calls x %d runs per path in blocks of %d, pinned to CPU %d, BPF JIT %s\n",
	       calls, BENCH_RUNS, BLOCK, cpu, jit == 1 ? "on" : jit == 0 ? "OFF" : "(unknown)");
	printf("tables: lbd's default sizes (flow table of %u, filled first), VIPs of %d "
	       "backends, Maglev rings of %u; baseline: an empty XDP program (XDP_PASS)\n",
	       BALANCER_FLOWS_DEFAULT, BACKENDS, MAGLEV_TABLE_SIZE_DEFAULT);
	fflush(stdout);

	struct xdp_pass_bpf *empty = xdp_pass_bpf__open_and_load();
	if (!empty)
		die("loading the empty XDP program: %s", strerror(errno));
	prog_fd[PROG_EMPTY] = bpf_program__fd(empty->progs.xdp_pass);
	struct xdp_dataplane *x[PROG_COUNT] = { NULL };
	x[PROG_IPIP] = balancer_open(PKT_ENCAP_IPIP, PROG_IPIP);
	x[PROG_IPIP_NEW] = balancer_open(PKT_ENCAP_IPIP, PROG_IPIP_NEW);
	x[PROG_GUE] = balancer_open(PKT_ENCAP_GUE, PROG_GUE);
	/* The established flows, untimed; and the new-flow map of the new
	 * flows' balancer full of other new flows. */
	establish(PROG_IPIP, SET_SYN4, SET_ACK4, FLOWS, FLOWS);
	establish(PROG_IPIP, SET_MANY_SYN4, SET_MANY4, MANY_FLOWS, MANY_FLOWS);
	establish(PROG_GUE, SET_SYN6, SET_ACK6, FLOWS, FLOWS);
	send_frames(PROG_IPIP_NEW, SET_FRESH4, FLOWS, BALANCER_NEW_FLOWS_DEFAULT, XDP_TX);

	__u64 before[PROG_COUNT][COUNTER_COUNT], after[PROG_COUNT][COUNTER_COUNT];
	for (int g = PROG_IPIP; g < PROG_COUNT; g++)
		counters_read(x[g], before[g], NULL);

	/* One path after the other, each in blocks that alternate with the
	 * baseline's, so that a path's working set stays its own. */
	const struct path *base = &paths[PATH_EMPTY];
	struct sample samples[PATH_COUNT][BENCH_RUNS], baseline[PATH_COUNT][BENCH_RUNS];
	memset(samples, 0, sizeof(samples));
	memset(baseline, 0, sizeof(baseline));
	for (int p = PATH_EMPTY + 1; p < PATH_COUNT; p++) {
		const struct path *pa = &paths[p];
		__u32 cursor = 0, base_cursor = 0;
		struct sample warm = { 0, 0 };
		run(base->prog, base->set, base->flows, &base_cursor, calls / 10, base->verdict,
		    &warm);
		run(pa->prog, pa->set, pa->flows, &cursor, calls / 10, pa->verdict, &warm);
		for (int r = 0; r < BENCH_RUNS; r++) {
			for (__u32 done = 0; done < calls; done += BLOCK) {
				run(base->prog, base->set, base->flows, &base_cursor, BLOCK,
				    base->verdict, &baseline[p][r]);
				run(pa->prog, pa->set, pa->flows, &cursor, BLOCK, pa->verdict,
				    &samples[p][r]);
			}
		}
	}

	__u64 new_flows_live;
	__u32 new_flows_size;
	char err_new[256];
	for (int g = PROG_IPIP; g < PROG_COUNT; g++)
		counters_read(x[g], after[g], NULL);
	if (xdp_new_flows(x[PROG_IPIP_NEW], &new_flows_live, &new_flows_size, err_new,
			  sizeof(err_new)) != 0)
		die("%s", err_new);
#define DELTA(g, c) (after[g][c] - before[g][c])
	/* Each path's packets since the counters were read: warm-up and runs. */
	const __u64 sent = (__u64)calls * BENCH_RUNS + calls / 10;
	const bool paths_ok = DELTA(PROG_IPIP, COUNTER_FLOW_HIT) == 3 * sent &&
			      DELTA(PROG_IPIP, COUNTER_FLOW_NEW) == 0 &&
			      DELTA(PROG_IPIP, COUNTER_KERNEL_PACKETS) == sent &&
			      DELTA(PROG_IPIP_NEW, COUNTER_FLOW_NEW) == sent &&
			      DELTA(PROG_GUE, COUNTER_FLOW_HIT) == sent &&
			      DELTA(PROG_GUE, COUNTER_FLOW_NEW) == 0;

	/* Per run, against the baseline blocks of the same run. */
	struct bench_stat ratio[PATH_COUNT], gross[PATH_COUNT], net[PATH_COUNT], knet[PATH_COUNT];
	double pooled[PATH_COUNT * BENCH_RUNS], kpooled[PATH_COUNT * BENCH_RUNS];
	int n_pooled = 0;
	for (int p = PATH_EMPTY + 1; p < PATH_COUNT; p++) {
		double rs[BENCH_RUNS], gs[BENCH_RUNS], ns[BENCH_RUNS], ks[BENCH_RUNS];
		for (int r = 0; r < BENCH_RUNS; r++) {
			double wall = (double)samples[p][r].wall_ns / calls;
			double base_ns = (double)baseline[p][r].wall_ns / calls;
			double kern = (double)samples[p][r].kernel_ns / calls;
			double kbase = (double)baseline[p][r].kernel_ns / calls;
			rs[r] = wall / base_ns;
			gs[r] = wall;
			ns[r] = wall - base_ns;
			ks[r] = kern - kbase;
			pooled[n_pooled] = base_ns;
			kpooled[n_pooled++] = kbase;
		}
		ratio[p] = bench_summarize(rs, BENCH_RUNS);
		gross[p] = bench_summarize(gs, BENCH_RUNS);
		net[p] = bench_summarize(ns, BENCH_RUNS);
		knet[p] = bench_summarize(ks, BENCH_RUNS);
	}
	/* The baseline's line: all its blocks, over every path's runs. */
	gross[PATH_EMPTY] = bench_summarize(pooled, n_pooled);
	knet[PATH_EMPTY] = bench_summarize(kpooled, n_pooled);
	ratio[PATH_EMPTY] = (struct bench_stat){ 1, 1, 1 };

	printf("median of %d runs (min..max); x empty = gross / baseline and net = gross - "
	       "baseline, per run, against the baseline blocks interleaved with the path's\n",
	       BENCH_RUNS);
	printf("%-34s %7s %-17s %8s %-17s %7s %-17s %11s\n", "path", "x empty", "", "gross ns",
	       "", "net ns", "", "kernel ns");
	for (int p = 0; p < PATH_COUNT; p++) {
		printf("%-34s", paths[p].name);
		print_stat(7, 3, &ratio[p], false);
		print_stat(8, 1, &gross[p], false);
		if (p == PATH_EMPTY)
			printf(" %7s %-17s", "-", "");
		else
			print_stat(7, 1, &net[p], false);
		print_stat(7, 1, &knet[p], true);
		printf("\n");
	}
	printf("baseline line: over the runs of every path; kernel ns: by the kernel's clock "
	       "around the program (opts.duration), the same calls, net of the baseline's\n");

	/* BPF_F_NO_COMMON_LRU: the kernel splits the entries between the
	 * possible CPUs' LRU lists, and a CPU evicts from its own. */
	const __u32 share = new_flows_size / (__u32)libbpf_num_possible_cpus();
	const __u32 new_sent = BALANCER_NEW_FLOWS_DEFAULT + calls / 10;
	const bool evicting = new_sent > share && new_flows_live <= share;
	printf("new flows: %u SYNs from clients never seen before the timed ones, into a "
	       "new-flow map holding %llu at the end (this CPU's LRU list: %u of the %u): %s\n",
	       new_sent, (unsigned long long)new_flows_live, share, new_flows_size,
	       evicting ? "full, every timed insert evicted a new flow"
			: "NOT full, not every timed insert evicted a new flow");
	printf("checked: every call returned its path's verdict; counters grew by flow_hit "
	       "+%llu, kernel_packets +%llu (IPIP), flow_new +%llu (IPIP, new flows), flow_hit "
	       "+%llu (GUE): %s\n",
	       (unsigned long long)DELTA(PROG_IPIP, COUNTER_FLOW_HIT),
	       (unsigned long long)DELTA(PROG_IPIP, COUNTER_KERNEL_PACKETS),
	       (unsigned long long)DELTA(PROG_IPIP_NEW, COUNTER_FLOW_NEW),
	       (unsigned long long)DELTA(PROG_GUE, COUNTER_FLOW_HIT),
	       paths_ok ? "as sent" : "NOT as sent: these figures are of other paths");
#undef DELTA
	printf("target (issue 4): established flows under %.0f ns net\n", TARGET_NET_NS);
	for (int p = PATH_ESTABLISHED; p <= PATH_ESTABLISHED_MANY; p++)
		printf("  %-32s %6.1f ns net (%.1f..%.1f), kernel-timed %.1f: %s\n",
		       paths[p].name, net[p].median, net[p].min, net[p].max, knet[p].median,
		       target_verdict(&net[p]));

	/* The figures for the suite, only when they are of the paths named. */
	struct bench_json json;
	int err = bench_json_open(&json, paths_ok ? o.json_path : NULL, "bench_xdp", BENCH_RUNS);
	if (err < 0)
		die("%s: %s", o.json_path, strerror(-err));
	bench_json_context(&json, "method",
			   "BPF_PROG_TEST_RUN, repeat = 1, %u calls per run and path in blocks of "
			   "%d alternating with the baseline's; pinned to CPU %d; BPF JIT %s",
			   calls, BLOCK, cpu, jit == 1 ? "on" : jit == 0 ? "OFF" : "(unknown)");
	bench_json_context(&json, "tables",
			   "flow table of %u (filled first), VIPs of %d backends, rings of %u",
			   BALANCER_FLOWS_DEFAULT, BACKENDS, MAGLEV_TABLE_SIZE_DEFAULT);
	bench_json_context(&json, "new flows", "%s",
			   evicting ? "every insert evicted a flow" : "NOT every insert evicted");
	bench_json_baseline(&json, paths[PATH_EMPTY].name, "ns/packet", BENCH_LOWER_BETTER,
			    n_pooled, gross[PATH_EMPTY]);
	for (int p = PATH_EMPTY + 1; p < PATH_COUNT; p++) {
		char net_name[96];
		struct bench_figure g = { .name = paths[p].name, .unit = "ns/packet",
					  .better = BENCH_LOWER_BETTER, .runs = BENCH_RUNS,
					  .value = gross[p], .baseline = paths[PATH_EMPTY].name,
					  .ratio_method = BENCH_RATIO_PAIRED, .ratio = ratio[p] };
		snprintf(net_name, sizeof(net_name), "%s, net", paths[p].name);
		struct bench_figure n = { .name = net_name, .unit = "ns/packet net",
					  .better = BENCH_LOWER_BETTER, .runs = BENCH_RUNS,
					  .value = net[p] };
		bench_json_figure(&json, &g);
		bench_json_figure(&json, &n);
	}
	int rc = paths_ok ? 0 : 1;
	if (bench_json_close(&json) < 0)
		rc = 1;

	for (int g = PROG_IPIP; g < PROG_COUNT; g++)
		xdp_close(x[g]);
	xdp_pass_bpf__destroy(empty);
	return rc;
}
