/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest side of tests/bpf/test_kernel_61.sh: the one program of a
 * virtual machine booted on another kernel (Debian 12's 6.1), checking that
 * Fulcrum's BPF programs load and work there the way production uses them:
 *
 *   1. every BPF object as built, loaded through libbpf with its own map
 *      sizes: the verifier's verdict and effort for each program;
 *   2. the XDP balancer through lbd's loader (controlplane/xdp.c) with
 *      lbd's default map sizes and its maps pinned, and again with a
 *      gateway MAC (the read-only data that prunes other branches);
 *   3. its tables written by xdp_publish() and frames run through it with
 *      BPF_PROG_TEST_RUN: the encapsulation and too-big fixtures byte for
 *      byte, parse verdicts and drop counters, a flow keeping its backend;
 *   4. attached in native mode to a veth whose peer runs the real
 *      fulcrum-decap: client frames sent into the pair come back tunnelled
 *      by the balancer and are decapsulated as on a GPU node; generic mode
 *      where a driver has no XDP (lo); detached and unpinned.
 *
 * One "ok - ..." or "FAIL - ..." line per check; a program the kernel
 * refuses is followed by the tail of the verifier's log ("  | " lines).
 * The host script counts those lines. The guest's /init
 * (tests/bpf/kernel_guest_init.sh) has set up the interfaces:
 *
 *   xb0 02:00:00:00:00:03 (the balancer's side, LB_MAC in the fixtures):
 *       10.0.0.2/24, fd00::2/64, routes to 10.1.0.0/16 and fd00:1::/64
 *   xb1 02:00:00:00:00:04 (a backend's side, BACKEND_MAC), its veth peer
 *   static neighbours 10.1.0.11..20 and fd00:1::11..20 at xb1's MAC;
 *   forwarding on
 *
 *   kernel_guest FULCRUM_DECAP BPF_OBJECT...
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "controlplane/xdp.h"
#include "dataplane/counters.h"
#include "dataplane/pkt.h"

#include "tests/fixtures/pkt_fixtures.h"
#include "tests/unit/vip_payload.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define FRAME_MAX     2048
#define RING_SMALL    13
#define PIN_PATH      "/sys/fs/bpf/fulcrum"
/* Lines of a verifier log shown under a refused program. */
#define LOG_TAIL_LINES 40
/* Room for the verifier's statistics (log level 4: a few lines). */
#define VERIFIER_STATS_SIZE 4096

static int passed, failed;
static int ifindex_lb;

__attribute__((format(printf, 2, 3))) static bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		passed++;
	else
		failed++;
	return ok;
}

/* Prints the last `lines` lines of text, each as "  | line". */
static void print_tail(const char *text, int lines)
{
	const char *start = text + strlen(text);

	while (start > text && start[-1] == '\n')
		start--;
	const char *end = start;
	for (int n = 0; start > text; start--)
		if (start[-1] == '\n' && ++n == lines)
			break;
	while (start < end) {
		const char *nl = memchr(start, '\n', (size_t)(end - start));
		int len = nl ? (int)(nl - start) : (int)(end - start);
		printf("  | %.*s\n", len, start);
		start += len + 1;
	}
}

/*
 * What libbpf says while lbd's loader runs: the verifier's log of a refused
 * program comes this way (libbpf retries the load with a log and prints
 * it), since the skeleton is inside controlplane/xdp.c. Only the newest
 * part is kept.
 */
static char libbpf_said[256 << 10];
static size_t libbpf_said_len;

static int guest_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text;
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	n = vasprintf(&text, fmt, ap);
	if (n < 0)
		return 0;
	const char *from = text;
	size_t len = (size_t)n;
	if (len > sizeof(libbpf_said) - 1) {
		from += len - (sizeof(libbpf_said) - 1);
		len = sizeof(libbpf_said) - 1;
	}
	if (libbpf_said_len + len > sizeof(libbpf_said) - 1) {
		size_t drop = libbpf_said_len + len - (sizeof(libbpf_said) - 1);
		memmove(libbpf_said, libbpf_said + drop, libbpf_said_len - drop);
		libbpf_said_len -= drop;
	}
	memcpy(libbpf_said + libbpf_said_len, from, len);
	libbpf_said_len += len;
	libbpf_said[libbpf_said_len] = '\0';
	free(text);
	return n;
}

static void libbpf_said_clear(void)
{
	libbpf_said_len = 0;
	libbpf_said[0] = '\0';
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/*
 * Part 1: each object as built, loaded with the verifier's statistics (log
 * level 4) for each program. A refused object is loaded once more the way
 * lbd and fulcrum-decap load theirs, without a log of our own: libbpf then
 * retries the failing program with the verifier's account of its path and
 * prints it, and the tail of that is shown.
 */
static void check_object(const char *path)
{
	enum { PROGS_MAX = 8 };
	char *logs[PROGS_MAX] = { 0 };
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	int rc, i = 0;

	if (!obj) {
		check(false, "%s: libbpf cannot open it: %s", base_name(path), strerror(errno));
		return;
	}
	bpf_object__for_each_program(prog, obj) {
		if (i == PROGS_MAX)
			break;
		logs[i] = calloc(1, VERIFIER_STATS_SIZE);
		if (logs[i]) {
			bpf_program__set_log_buf(prog, logs[i], VERIFIER_STATS_SIZE);
			bpf_program__set_log_level(prog, 4);
		}
		i++;
	}
	rc = bpf_object__load(obj);
	i = 0;
	bpf_object__for_each_program(prog, obj) {
		if (rc)
			break;
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		unsigned processed = 0, usec = 0;
		const char *log = i < PROGS_MAX && logs[i] ? logs[i] : "";
		const char *p = strstr(log, "processed ");
		const char *t = strstr(log, "verification time ");
		if (p)
			sscanf(p, "processed %u", &processed);
		if (t)
			sscanf(t, "verification time %u", &usec);
		memset(&info, 0, sizeof(info));
		bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
		check(true,
		      "%s: %s (%s) verified and loaded: %u instructions, %u processed by the "
		      "verifier in %u ms",
		      base_name(path), bpf_program__name(prog),
		      libbpf_bpf_prog_type_str(bpf_program__type(prog)), info.xlated_prog_len / 8,
		      processed, (usec + 999) / 1000);
		i++;
	}
	for (i = 0; i < PROGS_MAX; i++)
		free(logs[i]);
	bpf_object__close(obj);
	if (rc == 0)
		return;

	check(false, "%s: refused (%s); libbpf and the verifier said:", base_name(path),
	      strerror(-rc));
	libbpf_said_clear();
	obj = bpf_object__open_file(path, NULL);
	if (obj && bpf_object__load(obj) == 0)
		printf("  | (loaded on the second attempt)\n");
	print_tail(libbpf_said[0] ? libbpf_said : "(libbpf said nothing)", LOG_TAIL_LINES);
	bpf_object__close(obj);
}

/* Runs one frame through the balancer arriving on xb0. Returns the verdict or -errno. */
static int run(struct xdp_dataplane *x, const void *frame, size_t len, unsigned char *out,
	       __u32 *out_len)
{
	struct xdp_md ctx = { .data_end = (__u32)len, .ingress_ifindex = (__u32)ifindex_lb };
	static unsigned char sink[FRAME_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out ? out : sink, .data_size_out = FRAME_MAX, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(xdp_program_fd(x), &opts))
		return -errno;
	if (out_len)
		*out_len = opts.data_size_out;
	return (int)opts.retval;
}

static struct chan_gen_begin begin_with(__u8 encap)
{
	struct chan_gen_begin b;

	memset(&b, 0, sizeof(b));
	b.encap = encap;
	b.gue_port = htons(6080);
	b.tcp_idle_timeout_s = 300;
	b.udp_idle_timeout_s = 30;
	inet_pton(AF_INET, "10.0.0.2", &b.encap_source_v4);
	inet_pton(AF_INET6, "fd00::2", b.encap_source_v6);
	return b;
}

/* Publishes the payloads as lbd does; false with the reason printed. */
static bool publish(struct xdp_dataplane *x, const struct chan_gen_begin *begin,
		    struct vip_payload *payloads, __u32 n)
{
	struct chan_vip_view views[4];
	char err[256] = "";
	bool ok = n <= ARRAY_SIZE(views);

	memset(views, 0, sizeof(views));

	for (__u32 i = 0; ok && i < n; i++)
		ok = chan_vip_decode(payloads[i].data, payloads[i].length, &views[i], err,
				     sizeof(err)) == 0;
	if (ok && xdp_publish(x, begin, views, n, err, sizeof(err)) != 0)
		ok = false;
	if (!ok)
		printf("# xdp_publish: %s\n", err);
	for (__u32 i = 0; i < n; i++)
		free(payloads[i].data);
	return ok;
}

/* The VIP a parsed frame is addressed to. */
static struct chan_vip_key key_of(const struct pkt_info *info)
{
	struct chan_vip_key k;

	memset(&k, 0, sizeof(k));
	memcpy(k.addr, info->tuple.dst_addr, sizeof(k.addr));
	k.port = info->tuple.dst_port;
	k.proto = info->tuple.proto;
	k.family = info->tuple.family;
	return k;
}

/* Backend 10.1.0.<host> or fd00:1::<host> (the same digits), port 80, READY. */
static struct chan_backend backend(int family, int host)
{
	struct chan_backend b;
	char text[64];

	memset(&b, 0, sizeof(b));
	b.family = (__u8)family;
	b.port = htons(80);
	b.state = CHAN_BACKEND_READY;
	b.weight = 1;
	if (family == FLOW_FAMILY_IPV4) {
		snprintf(text, sizeof(text), "10.1.0.%d", host);
		inet_pton(AF_INET, text, b.addr);
	} else {
		snprintf(text, sizeof(text), "fd00:1::%d", host);
		inet_pton(AF_INET6, text, b.addr);
	}
	return b;
}

/*
 * A VIP payload for the frame's VIP with one backend: the fixtures' tunnel
 * destination, 10.1.0.11 or fd00:1::11, which the guest has neighbours for.
 */
static struct vip_payload vip_for_frame(const unsigned char *frame, size_t len, int family,
					__u32 ring_size)
{
	struct pkt_info info;
	struct chan_backend b = backend(family, 11);

	pkt_parse(frame, frame + len, &info);
	struct chan_vip_key key = key_of(&info);
	return vip_payload_build(&key, "fx", &b, 1, ring_size);
}

/* "" when equal, else where the frames first differ. */
static const char *frame_diff(const unsigned char *got, __u32 got_len, const unsigned char *want,
			      size_t want_len)
{
	static char why[96];

	for (__u32 k = 0; k < got_len && k < want_len; k++)
		if (got[k] != want[k]) {
			snprintf(why, sizeof(why), "byte %u is 0x%02x, want 0x%02x", k, got[k],
				 want[k]);
			return why;
		}
	if (got_len != want_len) {
		snprintf(why, sizeof(why), "%u bytes, want %zu", got_len, want_len);
		return why;
	}
	return "";
}

/* lbd's view of the counters, summed over CPUs (all ~0 if unreadable). */
static void counters_get(struct xdp_dataplane *x, __u64 *all)
{
	struct chan_stats stats;
	char err[128];

	if (xdp_stats(x, &stats, all, err, sizeof(err)))
		memset(all, 0xff, COUNTER_COUNT * sizeof(*all));
}

static __u64 counter(struct xdp_dataplane *x, __u32 c)
{
	__u64 all[COUNTER_COUNT];

	counters_get(x, all);
	return all[c];
}

/*
 * What a run did, for a failure's message: the verdict, and for XDP_DROP
 * the drop counter that moved since before.
 */
static const char *verdict_text(struct xdp_dataplane *x, int verdict, const __u64 *before)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					     "XDP_REDIRECT" };
	static char text[96];
	__u64 now[COUNTER_COUNT];

	if (verdict < 0) {
		snprintf(text, sizeof(text), "BPF_PROG_TEST_RUN failed: %s", strerror(-verdict));
		return text;
	}
	snprintf(text, sizeof(text), "%s",
		 verdict < (int)ARRAY_SIZE(names) ? names[verdict] : "verdict unknown");
	if (verdict != XDP_DROP)
		return text;
	counters_get(x, now);
	for (__u32 c = COUNTER_DROP_BASE; c <= COUNTER_DROP_LAST; c++)
		if (now[c] != before[c]) {
			snprintf(text, sizeof(text), "XDP_DROP, %s", counter_name(c));
			break;
		}
	return text;
}

/* Part 3: frames through the loaded balancer with BPF_PROG_TEST_RUN. */
static void check_fixtures(struct xdp_dataplane *x)
{
	unsigned char out[FRAME_MAX];
	__u64 before[COUNTER_COUNT];
	__u32 out_len;

	for (size_t i = 0; i < ARRAY_SIZE(encap_fixtures); i++) {
		const struct encap_fixture *f = &encap_fixtures[i];
		struct vip_payload p = vip_for_frame(f->in, f->in_len, f->outer_family, RING_SMALL);
		struct chan_gen_begin begin = begin_with((__u8)f->type);
		if (!publish(x, &begin, &p, 1)) {
			check(false, "encap %s: xdp_publish refused the tables", f->name);
			continue;
		}
		counters_get(x, before);
		int verdict = run(x, f->in, f->in_len, out, &out_len);
		const char *diff = verdict == XDP_TX ? frame_diff(out, out_len, f->out, f->out_len)
						     : "not sent";
		if (!diff[0])
			check(true, "encap %s: XDP_TX, the %zu bytes lb-dpdk sends", f->name,
			      f->out_len);
		else
			check(false, "encap %s: %s: %s", f->name, verdict_text(x, verdict, before),
			      diff);
	}
	for (size_t i = 0; i < ARRAY_SIZE(too_big_fixtures); i++) {
		const struct too_big_fixture *f = &too_big_fixtures[i];
		struct pkt_info info;
		pkt_parse(f->in, f->in + f->in_len, &info);
		struct vip_payload p = vip_for_frame(f->in, f->in_len, info.tuple.family, RING_SMALL);
		struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
		if (!publish(x, &begin, &p, 1)) {
			check(false, "too-big %s: xdp_publish refused the tables", f->name);
			continue;
		}
		counters_get(x, before);
		int verdict = run(x, f->in, f->in_len, out, &out_len);
		const char *diff = verdict == XDP_TX ? frame_diff(out, out_len, f->out, f->out_len)
						     : "not sent";
		bool counted = counter(x, COUNTER_TOO_BIG_SENT) == before[COUNTER_TOO_BIG_SENT] + 1;
		if (!diff[0] && counted)
			check(true,
			      "too-big %s: XDP_TX, the %zu-byte reply (MTU %d) lb-dpdk sends, "
			      "too_big_sent counted",
			      f->name, f->out_len, f->mtu);
		else
			check(false, "too-big %s: %s: %s%s", f->name, verdict_text(x, verdict, before),
			      diff, counted ? "" : ", too_big_sent not counted");
	}

	/* No VIP: every frame is either dropped under its reason or the kernel's. */
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	size_t right = 0;
	const char *wrong = NULL;
	publish(x, &begin, NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(parse_fixtures); i++) {
		const struct parse_fixture *f = &parse_fixtures[i];
		bool drop = f->verdict == PKT_VERDICT_DROP;
		__u32 c = drop ? counter_drop(f->reason) : COUNTER_KERNEL_PACKETS;
		counters_get(x, before);
		int verdict = run(x, f->frame, f->len, NULL, NULL);
		if (verdict == (drop ? XDP_DROP : XDP_PASS) && counter(x, c) == before[c] + 1)
			right++;
		else if (!wrong)
			wrong = f->name;
	}
	check(right == ARRAY_SIZE(parse_fixtures),
	      "%zu of %zu parse fixtures dropped under their named counter or passed to the "
	      "kernel%s%s",
	      right, ARRAY_SIZE(parse_fixtures), wrong ? "; first wrong: " : "", wrong ? wrong : "");
}

/* The backend host byte a tunnelled frame (no VLAN) goes to, or -verdict. */
static int send_tcp(struct xdp_dataplane *x, int sport, __u8 flags)
{
	unsigned char f[54], out[FRAME_MAX];
	__u32 out_len;

	/* encap fixture ipip_v4's frame, from another source port */
	memcpy(f, encap_fixtures[0].in, sizeof(f));
	f[34] = (unsigned char)(sport >> 8);
	f[35] = (unsigned char)sport;
	f[47] = flags;
	int verdict = run(x, f, sizeof(f), out, &out_len);
	return verdict == XDP_TX ? out[14 + 19] : -verdict;
}

/* A ring of the default size where backend `owner` (0: 10.1.0.11, 1: .12) has every slot. */
static struct vip_payload vip_owned_by(int owner)
{
	struct chan_backend bs[2] = { backend(4, 11), backend(4, 12) };
	struct pkt_info info;

	bs[1 - owner].weight = 0; /* owns no slot, still a member */
	pkt_parse(encap_fixtures[0].in, encap_fixtures[0].in + encap_fixtures[0].in_len, &info);
	struct chan_vip_key key = key_of(&info);
	return vip_payload_build(&key, "web", bs, 2, MAGLEV_TABLE_SIZE_DEFAULT);
}

static void check_flows(struct xdp_dataplane *x)
{
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	struct vip_payload p = vip_owned_by(0);
	bool ok = publish(x, &begin, &p, 1);
	int first = ok ? send_tcp(x, 1000, PKT_TCP_SYN) : 0;

	p = vip_owned_by(1);
	ok = ok && publish(x, &begin, &p, 1);
	int established = ok ? send_tcp(x, 1000, PKT_TCP_ACK) : 0;
	int fresh = ok ? send_tcp(x, 1001, PKT_TCP_SYN) : 0;
	check(ok && first == 11 && established == 11 && fresh == 12,
	      "rings of %u slots: a SYN takes the ring's backend, the flow keeps it when the "
	      "next table gives its slot away, a new SYN takes the new one (hosts %d, %d, %d)",
	      MAGLEV_TABLE_SIZE_DEFAULT, first, established, fresh);
}

/* An Ethernet + IP + TCP SYN of a random flow to vip. Returns its length. */
static size_t random_syn(unsigned char *f, const struct chan_vip_key *vip)
{
	const int v6 = vip->family == FLOW_FAMILY_IPV6;
	size_t l3 = 14, l4;

	memset(f, 0, 128);
	memcpy(f, "\x02\x00\x00\x00\x00\x03\x02\x00\x00\x00\x00\x02", 12);
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		f[l3] = 0x60;
		f[l3 + 5] = 20;
		f[l3 + 6] = PKT_PROTO_TCP;
		f[l3 + 7] = 64;
		for (int i = 0; i < 16; i++)
			f[l3 + 8 + i] = (unsigned char)random();
		memcpy(f + l3 + 24, vip->addr, 16);
		l4 = l3 + 40;
	} else {
		f[l3] = 0x45;
		f[l3 + 3] = 40;
		f[l3 + 8] = 64;
		f[l3 + 9] = PKT_PROTO_TCP;
		for (int i = 0; i < 4; i++)
			f[l3 + 12 + i] = (unsigned char)random();
		memcpy(f + l3 + 16, vip->addr, 4);
		l4 = l3 + 20;
	}
	f[l4] = (unsigned char)random();
	f[l4 + 1] = (unsigned char)random();
	memcpy(f + l4 + 2, &vip->port, 2);
	f[l4 + 12] = 0x50;
	f[l4 + 13] = PKT_TCP_SYN;
	return l4 + 20;
}

/*
 * Random flows over weighted rings of the default size: the backend the
 * program picks on this kernel (its JIT, its helpers) is the one lb-dpdk's
 * packet core picks from the same generation.
 */
static void check_same_backend_as_lb_dpdk(struct xdp_dataplane *x)
{
	enum { FLOWS = 10000, BACKENDS = 10 };
	struct chan_backend b4[BACKENDS], b6[BACKENDS];
	struct chan_vip_key k4, k6;
	struct pkt_info info;
	unsigned char f[128], out[FRAME_MAX];
	__u32 out_len;
	int same = 0, used = 0, per_backend[BACKENDS] = { 0 };
	char first_wrong[128] = "";

	pkt_parse(encap_fixtures[0].in, encap_fixtures[0].in + encap_fixtures[0].in_len, &info);
	k4 = key_of(&info);
	k6 = k4;
	inet_pton(AF_INET6, "2001:db8::10", k6.addr);
	k6.family = FLOW_FAMILY_IPV6;
	k6.port = htons(443);
	for (int i = 0; i < BACKENDS; i++) {
		b4[i] = backend(FLOW_FAMILY_IPV4, 11 + i);
		b4[i].weight = (__u32)(1 + i % 3);
		b6[i] = backend(FLOW_FAMILY_IPV6, 11 + i);
	}
	struct vip_payload p[2] = {
		vip_payload_build(&k4, "web4", b4, BACKENDS, MAGLEV_TABLE_SIZE_DEFAULT),
		vip_payload_build(&k6, "web6", b6, BACKENDS, MAGLEV_TABLE_SIZE_DEFAULT),
	};
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	if (!publish(x, &begin, p, 2)) {
		check(false, "random flows: xdp_publish refused the tables");
		return;
	}
	const struct gen *g = xdp_generation(x);
	srandom(42);
	for (int i = 0; i < FLOWS; i++) {
		const int v6 = i & 1;
		size_t len = random_syn(f, v6 ? &k6 : &k4);
		pkt_parse(f, f + len, &info);
		const struct gen_vip *v = gen_vip_find(g, &info.tuple, 0);
		__u32 id = v ? v->ring[gen_vip_ring_slot(v, pkt_flow_hash(&info))] : FLOW_NO_BACKEND;
		const struct gen_member *m = id != FLOW_NO_BACKEND ? gen_member_get(g, id) : NULL;
		int verdict = run(x, f, len, out, &out_len);
		/* the outer destination: IPv4 or IPv6 header after 14 bytes */
		const unsigned char *dst = out + 14 + (v6 ? 24 : 16);
		if (m && verdict == XDP_TX && memcmp(dst, m->addr, v6 ? 16 : 4) == 0) {
			same++;
			per_backend[dst[v6 ? 15 : 3] % BACKENDS]++;
		} else if (!first_wrong[0]) {
			snprintf(first_wrong, sizeof(first_wrong), "; flow %d (%s) differs, verdict %d",
				 i, v6 ? "IPv6" : "IPv4", verdict);
		}
	}
	for (int i = 0; i < BACKENDS; i++)
		used += per_backend[i] > 0;
	check(same == FLOWS && used == BACKENDS,
	      "%d random IPv4 and IPv6 SYNs over weighted rings of %u: the program picks lb-dpdk's "
	      "backend for %d, all %d backends used%s",
	      FLOWS, MAGLEV_TABLE_SIZE_DEFAULT, same, used, first_wrong);
}

/* Runs a command, its output (both streams) into out. Returns its exit status or -1. */
static int command(char *out, size_t out_size, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	size_t n = 0;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	out[0] = '\0';
	while (n + 1 < out_size && fgets(out + n, (int)(out_size - n), p))
		n = strlen(out);
	while (n && out[n - 1] == '\n')
		out[--n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Sends frame into xb1 (so it arrives on xb0, at the balancer) and waits up
 * to two seconds for xb1 to receive want. Returns true when it did.
 */
static bool round_trip(int sock, int ifindex_peer, const unsigned char *frame, size_t len,
		       const unsigned char *want, size_t want_len)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = ifindex_peer,
				  .sll_halen = 6 };
	unsigned char got[FRAME_MAX];
	struct timespec start, now;

	memcpy(to.sll_addr, frame, 6);
	if (sendto(sock, frame, len, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)len)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left_ms = 2000 - ((now.tv_sec - start.tv_sec) * 1000 +
				       (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) <= 0)
			return false;
		struct sockaddr_ll from;
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(sock, got, sizeof(got), 0, (struct sockaddr *)&from, &from_len);
		if (n < 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if ((size_t)n == want_len && memcmp(got, want, want_len) == 0)
			return true;
	}
}

/*
 * What fulcrum-decap hands the stack for a tunnelled frame without VLAN
 * and with an outer header of outer_len bytes: the Ethernet addresses, the
 * inner EtherType, the inner packet.
 */
static size_t decapsulated(const unsigned char *tunnelled, size_t len, size_t outer_len,
			   unsigned char *out)
{
	memcpy(out, tunnelled, 12);
	out[12] = (tunnelled[14 + outer_len] >> 4) == 4 ? 0x08 : 0x86;
	out[13] = out[12] == 0x08 ? 0x00 : 0xdd;
	memcpy(out + 14, tunnelled + 14 + outer_len, len - 14 - outer_len);
	return len - outer_len;
}

/* Part 4: attached to real interfaces, with fulcrum-decap on the peer. */
static void check_attached(struct xdp_dataplane *x, const char *decap_tool)
{
	char note[256], err[256], out[1024];
	int xb1 = (int)if_nametoindex("xb1");
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	int rc = xdp_attach(x, "xb0", false, note, sizeof(note), err, sizeof(err));
	bool attached = rc == 0 && bpf_xdp_query(ifindex_lb, 0, &q) == 0 && q.prog_id &&
			q.attach_mode == XDP_ATTACHED_DRV;
	check(attached, "xdp_attach: the balancer on veth xb0 in native mode, program id %u%s%s",
	      q.prog_id, rc ? ": " : "", rc ? err : "");

	rc = command(out, sizeof(out), "%s attach xb1 -a 10.1.0.11 -a fd00:1::11 -m native",
		     decap_tool);
	if (!check(rc == 0, "fulcrum-decap attach xb1 -m native: %.120s", out))
		print_tail(out, LOG_TAIL_LINES); /* with libbpf's account of a refusal */

	/* ipip_v4 and ip6ip6 both to their VIPs in one generation. */
	const struct encap_fixture *v4 = &encap_fixtures[0], *v6 = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(encap_fixtures); i++)
		if (strcmp(encap_fixtures[i].name, "ip6ip6") == 0)
			v6 = &encap_fixtures[i];
	struct vip_payload p[2] = {
		vip_for_frame(v4->in, v4->in_len, FLOW_FAMILY_IPV4, RING_SMALL),
		vip_for_frame(v6->in, v6->in_len, FLOW_FAMILY_IPV6, RING_SMALL),
	};
	struct chan_gen_begin begin = begin_with(PKT_ENCAP_IPIP);
	bool published = publish(x, &begin, p, 2);
	__u64 tx = counter(x, COUNTER_TX_PACKETS);

	int sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	struct sockaddr_ll at = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = xb1 };
	bool ready = published && attached && rc == 0 && sock >= 0 &&
		     bind(sock, (struct sockaddr *)&at, sizeof(at)) == 0;
	unsigned char want[FRAME_MAX];
	size_t want_len = decapsulated(v4->out, v4->out_len, PKT_IPV4_HLEN, want);
	bool ok4 = ready && round_trip(sock, xb1, v4->in, v4->in_len, want, want_len);
	want_len = decapsulated(v6->out, v6->out_len, PKT_IPV6_HLEN, want);
	bool ok6 = ready && round_trip(sock, xb1, v6->in, v6->in_len, want, want_len);
	if (sock >= 0)
		close(sock);
	check(ok4 && ok6,
	      "frames sent into xb1 came back tunnelled by the attached balancer (XDP_TX out "
	      "of xb0) and fulcrum-decap on xb1 handed the inner packet up, TTL / hop limit "
	      "less one: IPv4 %s, IPv6 %s",
	      ok4 ? "yes" : "no", ok6 ? "yes" : "no");
	check(counter(x, COUNTER_TX_PACKETS) - tx == 2, "lbd's counters (xdp_stats): tx_packets +%llu",
	      (unsigned long long)(counter(x, COUNTER_TX_PACKETS) - tx));
	rc = command(out, sizeof(out), "%s stats xb1", decap_tool);
	bool counted = rc == 0 && strncmp(out, "decapsulated 2\n", 15) == 0;
	for (char *nl = strchr(out, '\n'); nl; nl = strchr(nl, '\n'))
		*nl = ',';
	check(counted, "fulcrum-decap stats xb1: %.100s", out);

	/* lo has no native XDP: lbd falls back to generic mode and says so. */
	LIBBPF_OPTS(bpf_xdp_query_opts, ql);
	rc = xdp_attach(x, "lo", false, note, sizeof(note), err, sizeof(err));
	check(rc == 0 && note[0] && bpf_xdp_query((int)if_nametoindex("lo"), 0, &ql) == 0 &&
		      ql.attach_mode == XDP_ATTACHED_SKB,
	      "xdp_attach lo: generic mode: %s", rc ? err : note);

	const char *const ifs[] = { "xb0", "lo" };
	struct stat st;
	LIBBPF_OPTS(bpf_xdp_query_opts, q0);
	rc = xdp_detach(PIN_PATH, ifs, 2, err, sizeof(err));
	check(rc == 0 && bpf_xdp_query(ifindex_lb, 0, &q0) == 0 && q0.prog_id == 0 &&
		      stat(PIN_PATH, &st) != 0,
	      "xdp_detach (lbd -x): xb0 and lo without a program, %s removed%s%s", PIN_PATH,
	      rc ? ": " : "", rc ? err : "");
	rc = command(out, sizeof(out), "%s detach xb1", decap_tool);
	check(rc == 0, "fulcrum-decap detach xb1: %s", out);
}

int main(int argc, char **argv)
{
	char err[512];
	bool adopted;

	if (argc < 2) {
		fprintf(stderr, "usage: kernel_guest FULCRUM_DECAP BPF_OBJECT...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(guest_libbpf_print);
	ifindex_lb = (int)if_nametoindex("xb0");
	if (!check(ifindex_lb > 0, "the guest's veth pair xb0/xb1 is there"))
		return 1;

	for (int i = 2; i < argc; i++)
		check_object(argv[i]);

	/* lbd's loader, as lbd calls it with the default configuration. */
	struct xdp_options o = { .pin_path = PIN_PATH, .flow_capacity = BALANCER_FLOWS_DEFAULT,
				 .members_max = BALANCER_MEMBERS_DEFAULT };
	libbpf_said_clear();
	struct xdp_dataplane *x = xdp_open(&o, &adopted, err, sizeof(err));
	if (!check(x != NULL,
		   "xdp_open (lbd's loader; %u flows, %u members, maps pinned under %s): %s",
		   o.flow_capacity, o.members_max, o.pin_path, x ? "loaded" : err)) {
		print_tail(libbpf_said[0] ? libbpf_said : "(libbpf said nothing)", LOG_TAIL_LINES);
		goto out;
	}

	struct xdp_options gw = { .flow_capacity = 4096, .members_max = 1024,
				  .has_gateway_mac = true,
				  .gateway_mac = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee } };
	libbpf_said_clear();
	struct xdp_dataplane *y = xdp_open(&gw, &adopted, err, sizeof(err));
	if (!check(y != NULL, "xdp_open with gateway_mac set (other read-only data): %s",
		   y ? "loaded" : err))
		print_tail(libbpf_said[0] ? libbpf_said : "(libbpf said nothing)", LOG_TAIL_LINES);
	xdp_close(y);

	libbpf_said_clear();
	check_fixtures(x);
	check_flows(x);
	check_same_backend_as_lb_dpdk(x);
	check_attached(x, argv[1]);
	xdp_close(x);
out:
	printf("# %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
