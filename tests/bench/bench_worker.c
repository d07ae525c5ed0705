/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's worker fast path on one core: synthetic TCP/IPv4 frames fed in
 * bursts of 32 straight into worker_process(), with 1 million established
 * flows in the flow table. Printed per path as packets/s and TSC cycles per
 * packet, with a trivial forwarder (MAC swap) in the same harness as the
 * ceiling and the baseline of the ratios:
 *
 *   established  ACK of a known flow: parse, VIP, flow-table hit, IPIP encap
 *   new flow     SYN: parse, VIP, ring lookup, insert into new flows, encap
 *   not a VIP    parse, VIP miss, handed to the kernel queue
 *
 * Every path first resets its mbufs from a template (the stand-in for the
 * NIC writing a frame), and so does the baseline. Nothing is transmitted:
 * the burst's output arrays are where the fast path ends. Memory comes from
 * huge pages when a hugetlbfs is mounted with 600 MiB free (as lb-dpdk would
 * run), else from ordinary pages; the first line says which.
 *
 * The paths take turns run by run; "% of ceiling" is, run by run, the
 * path's packet rate over the forwarder's in the same round (the forwarder's
 * cycles per packet over the path's), the median with min and max.
 *
 * Last, the main lcore's view: how long counting active flows per member
 * (a scan of the whole established-flow table, as lb-dpdk does for each
 * MEMBERS request) takes.
 *
 *   make build/bench/bench_worker && build/bench/bench_worker [--runs N] [--json FILE] [flows]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "dataplane/eal.h"
#include "dataplane/worker.h"
#include "tests/bench/bench.h"
#include "tests/unit/vip_payload.h"

#define FRAME_LEN    64
#define ROUNDS       20000 /* bursts per measured run */
#define TABLE_SIZE   65537u
#define BACKENDS     16

enum path { PATH_FORWARD, PATH_ESTABLISHED, PATH_NEW, PATH_NOT_VIP, PATH_COUNT };
static const char *const path_names[PATH_COUNT] = {
	"trivial forwarder (ceiling)", "established flow", "new flow (SYN, insert)",
	"not a VIP (to kernel)",
};

static uint8_t frame_template[FRAME_LEN];

static void build_template(void)
{
	uint8_t *t = frame_template;

	memset(t, 0, FRAME_LEN);
	memcpy(t, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	t[12] = 0x08;
	t[14] = 0x45;
	t[17] = 50; /* 20 IP + 20 TCP + 10 payload */
	t[20] = 0x40;
	t[22] = 64;
	t[23] = PKT_PROTO_TCP;
	__u32 vip = htonl(0xc0000201u); /* 192.0.2.1 */
	memcpy(t + 30, &vip, 4);
	t[36] = 0;
	t[37] = 80;
	t[46] = 0x50;
}

/* Writes flow number f's frame into m: client 10.x.y.z:port -> VIP:80. */
static inline void frame_reset(struct rte_mbuf *m, uint32_t f, uint8_t tcp_flags, int to_vip)
{
	uint8_t *d;

	m->data_off = RTE_PKTMBUF_HEADROOM;
	m->data_len = FRAME_LEN;
	m->pkt_len = FRAME_LEN;
	d = rte_pktmbuf_mtod(m, uint8_t *);
	memcpy(d, frame_template, FRAME_LEN);
	__u32 client = htonl(0x0a000000u | (f >> 6));
	memcpy(d + 26, &client, 4);
	d[34] = (uint8_t)(0x80 | (f & 0x3f));
	d[35] = (uint8_t)f;
	d[47] = tcp_flags;
	if (!to_vip)
		d[33] = 2; /* 192.0.2.2: no VIP there */
}

/* True when a hugetlbfs is mounted and at least mb MiB of huge pages are free. */
static int bench_huge_pages_ready(unsigned long mb)
{
	char line[256];
	unsigned long free_pages = 0, page_kb = 0;
	int mounted = 0;
	FILE *f = fopen("/proc/mounts", "r");

	while (f && fgets(line, sizeof(line), f))
		mounted |= strstr(line, " hugetlbfs ") != NULL;
	if (f)
		fclose(f);
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %lu", &free_pages);
		sscanf(line, "Hugepagesize: %lu kB", &page_kb);
	}
	if (f)
		fclose(f);
	return mounted && free_pages * page_kb / 1024 >= mb;
}

struct bench_ctx {
	struct worker w;     /* established flows */
	struct worker w_new; /* new flows, in a table as full as w's */
	struct worker_shared shared;
	struct gen *gen;
	struct rte_mempool *pool;
	struct rte_mbuf *mbufs[WORKER_BURST];
	struct worker_out out;
	uint32_t flows;
};

static struct gen *bench_generation(void)
{
	struct gen_registry *reg = gen_registry_create();
	struct chan_backend b[BACKENDS];
	struct chan_gen_begin begin = { .generation = 1, .vip_count = 1, .encap = PKT_ENCAP_IPIP,
					.encap_source_v4 = htonl(0x0a00ff01u),
					.tcp_idle_timeout_s = 300, .udp_idle_timeout_s = 30 };
	struct chan_vip_key key = vip_key_v4(1, 80, PKT_PROTO_TCP);
	struct chan_vip_view view;
	char err[256];

	for (int i = 0; i < BACKENDS; i++)
		b[i] = backend_v4((uint8_t)(i + 10), CHAN_BACKEND_READY);
	struct vip_payload p = vip_payload_build(&key, "bench", b, BACKENDS, TABLE_SIZE);
	struct gen_builder *gb = gen_builder_create(reg, &begin, NULL);
	if (!gb || chan_vip_decode(p.data, p.length, &view, err, sizeof(err)) ||
	    gen_builder_add_vip(gb, &view, err, sizeof(err))) {
		fprintf(stderr, "bench generation: %s\n", err);
		exit(1);
	}
	free(p.data);
	struct gen *g = gen_builder_finish(gb, NULL, NULL, 1, err, sizeof(err));
	if (!g) {
		fprintf(stderr, "bench generation: %s\n", err);
		exit(1);
	}
	return g; /* the registry lives as long as the benchmark */
}

/* Flow sequence: a stride through all flows, so consecutive packets touch
 * unrelated buckets as real traffic does. */
static inline uint32_t flow_at(uint64_t i, uint32_t flows)
{
	return (uint32_t)((i * 2654435761u) % flows);
}

/* One measured run of a path; returns cycles per packet. */
static double run_path(struct bench_ctx *c, enum path path, uint64_t *next_flow)
{
	const uint64_t start = rte_rdtsc();
	uint64_t seq = *next_flow;

	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < WORKER_BURST; i++, seq++) {
			uint32_t f = path == PATH_NEW ? (uint32_t)(c->flows + (seq % (1u << 26)))
						      : flow_at(seq, c->flows);
			frame_reset(c->mbufs[i], f, path == PATH_NEW ? PKT_TCP_SYN : PKT_TCP_ACK,
				    path != PATH_NOT_VIP);
		}
		if (path == PATH_FORWARD) {
			for (int i = 0; i < WORKER_BURST; i++) {
				struct rte_ether_hdr *eh =
					rte_pktmbuf_mtod(c->mbufs[i], struct rte_ether_hdr *);
				struct rte_ether_addr tmp = eh->src_addr;
				eh->src_addr = eh->dst_addr;
				eh->dst_addr = tmp;
				c->out.tx[0][i] = c->mbufs[i];
			}
			c->out.tx_count[0] = WORKER_BURST;
		} else {
			struct worker *w = path == PATH_NEW ? &c->w_new : &c->w;
			worker_clock(w, rte_rdtsc());
			worker_process(w, c->gen, c->mbufs, WORKER_BURST, &c->out);
		}
	}
	*next_flow = seq;
	return (double)(rte_rdtsc() - start) / ((double)ROUNDS * WORKER_BURST);
}

int main(int argc, char **argv)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=fulcrum_bench_%d", getpid());
	/* Huge pages when the machine has them ready (hugetlbfs mounted and
	 * enough free), as lb-dpdk would run; else ordinary pages. */
	int huge = bench_huge_pages_ready(600);
	char *eal_argv[] = { argv[0], huge ? "--huge-unlink" : "--no-huge", "-m",
			     huge ? "600" : "1536", "--no-pci", "--no-telemetry", "--log-level=error",
			     prefix, "-l", "0" };
	static struct bench_ctx c;
	double samples[PATH_COUNT][BENCH_RUNS_MAX];
	struct bench_options o;
	struct bench_json json;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (bench_options_take(&argc, argv, BENCH_RUNS, &o) < 0 || argc > 2) {
		fprintf(stderr, "usage: bench_worker [--runs N] [--json FILE] [flows]\n"
				BENCH_OPTIONS_RUNS_USAGE BENCH_OPTIONS_USAGE
				"  flows        established flows in the table (default 1000000)\n");
		return 2;
	}
	if (rte_eal_init((int)(sizeof(eal_argv) / sizeof(eal_argv[0])), eal_argv) < 0) {
		fprintf(stderr, "bench_worker: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	c.flows = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 1000000u;
	build_template();
	c.pool = rte_pktmbuf_pool_create("bench", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					 SOCKET_ID_ANY);
	if (!c.pool || rte_pktmbuf_alloc_bulk(c.pool, c.mbufs, WORKER_BURST)) {
		fprintf(stderr, "bench_worker: no mbufs\n");
		return 1;
	}
	c.shared.port_count = 1;
	c.shared.ports[0].mtu = 1500;
	c.shared.pool = c.pool;
	struct rte_ether_addr router = { { 0x02, 0, 0, 0, 0, 0xfe } };
	for (int i = 0; i < NEXTHOPS_MAX; i++)
		c.shared.nexthops[i].mac_word = nexthop_pack(&router, 0);
	/* new_flows an eighth of flows, but never below the smallest table
	 * (bench_worker 512 was refused for want of it). */
	uint32_t new_capacity = RTE_MAX(2 * c.flows / 8, FLOW_TABLE_MIN);
	if (worker_init(&c.w, 0, &c.shared, 2 * c.flows, new_capacity, SOCKET_ID_ANY) ||
	    worker_init(&c.w_new, 1, &c.shared, 2 * c.flows, new_capacity, SOCKET_ID_ANY)) {
		fprintf(stderr, "bench_worker: no memory for a %u-entry flow table\n", 2 * c.flows);
		return 1;
	}
	c.gen = bench_generation();

	/* Fill both tables: a SYN then an ACK per flow (its second packet
	 * moves it from new_flows into flows). */
	uint64_t seq = 0;
	for (uint32_t f = 0; f < c.flows; f += WORKER_BURST)
		for (int w = 0; w < 2; w++)
			for (int k = 0; k < 2; k++) {
				for (int i = 0; i < WORKER_BURST; i++)
					frame_reset(c.mbufs[i], (f + (uint32_t)i) % c.flows,
						    k ? PKT_TCP_ACK : PKT_TCP_SYN, 1);
				worker_process(w ? &c.w_new : &c.w, c.gen, c.mbufs, WORKER_BURST,
					       &c.out);
			}
	uint32_t live = flow_table_count_live(&c.w.flows, c.w.now_s);

	const char *memory = huge ? "huge pages" : "4 KiB pages (no free huge pages mounted)";
	double hz = (double)rte_get_tsc_hz();
	if ((err = bench_json_open(&json, o.json_path, "bench_worker", o.runs)) < 0) {
		fprintf(stderr, "bench_worker: %s: %s\n", o.json_path, strerror(-err));
		return 1;
	}
	bench_json_context(&json, "memory", "%s", memory);
	bench_json_context(&json, "flow table", "%u entries, %u live flows", c.w.flows.capacity,
			   live);
	bench_json_context(&json, "traffic",
			   "bursts of %d 64-byte TCP/IPv4 frames, %d bursts per run",
			   WORKER_BURST, ROUNDS);
	bench_json_context(&json, "TSC", "%.2f GHz", hz / 1e9);
	bench_print_machine();
	printf("flow table: %u entries, %u live flows after a SYN and an ACK for each of %u flows; "
	       "burst %d, %d bursts per run, median of %d runs; %s\n",
	       c.w.flows.capacity, live, c.flows, WORKER_BURST, ROUNDS, o.runs, memory);
	for (int run = 0; run < o.runs; run++)
		for (int p = 0; p < PATH_COUNT; p++)
			samples[p][run] = run_path(&c, (enum path)p, &seq);

	/* Packet rates, run by run: the figures, and the ratios' terms. */
	double mpps[PATH_COUNT][BENCH_RUNS_MAX];
	struct bench_figure figs[PATH_COUNT];
	for (int p = 0; p < PATH_COUNT; p++) {
		for (int run = 0; run < o.runs; run++)
			mpps[p][run] = hz / samples[p][run] / 1e6;
		figs[p] = (struct bench_figure){ .name = path_names[p], .unit = "Mpps",
						 .better = BENCH_HIGHER_BETTER, .runs = o.runs,
						 .ratio = { 1, 1, 1 } };
		if (p != PATH_FORWARD) {
			figs[p].baseline = path_names[PATH_FORWARD];
			figs[p].ratio_method = BENCH_RATIO_PAIRED;
			figs[p].ratio = bench_ratio_paired(mpps[p], mpps[PATH_FORWARD], o.runs);
		}
	}
	printf("%-30s %10s %12s %14s %-15s %s\n", "path", "Mpps", "cycles/pkt", "% of ceiling",
	       "(min..max)", "cycles (min..max)");
	for (int p = 0; p < PATH_COUNT; p++) {
		struct bench_stat s = bench_summarize(samples[p], o.runs);
		figs[p].value = bench_summarize(mpps[p], o.runs);
		printf("%-30s %10.2f %12.1f %13.1f%% %5.1f..%-8.1f %.1f..%.1f\n", path_names[p],
		       figs[p].value.median, s.median, figs[p].ratio.median * 100,
		       figs[p].ratio.min * 100, figs[p].ratio.max * 100, s.min, s.max);
		bench_json_figure(&json, &figs[p]);
	}
	printf("TSC %.2f GHz; counters: flow_hit %lu, flow_new %lu, flow_evicted %lu, kernel "
	       "queued %u per burst\n",
	       hz / 1e9, (unsigned long)c.w.counters[COUNTER_FLOW_HIT],
	       (unsigned long)c.w.counters[COUNTER_FLOW_NEW],
	       (unsigned long)c.w.counters[COUNTER_FLOW_EVICTED], c.out.kernel_count);

	/* The active-flow count lb-dpdk makes per MEMBERS request. */
	double scan_ms[BENCH_RUNS_MAX];
	__u64 *active = calloc(c.gen->member_count, sizeof(*active));
	for (int run = 0; run < o.runs; run++) {
		memset(active, 0, c.gen->member_count * sizeof(*active));
		uint64_t t0 = rte_rdtsc();
		flow_table_count_by_member(&c.w.flows, c.w.now_s, active, c.gen->member_count);
		scan_ms[run] = (double)(rte_rdtsc() - t0) * 1e3 / hz;
	}
	__u64 counted = 0;
	for (__u32 m = 0; m < c.gen->member_count; m++)
		counted += active[m];
	struct bench_stat scan = bench_summarize(scan_ms, o.runs);
	printf("active flows per member: scan of %u slots (%llu live, %u members) %.2f ms "
	       "(min %.2f max %.2f), %.2f ms per million slots\n",
	       c.w.flows.capacity, (unsigned long long)counted, c.gen->member_count, scan.median,
	       scan.min, scan.max, scan.median * 1e6 / c.w.flows.capacity);
	free(active);
	struct bench_figure scan_fig = { .name = "active flows per member: table scan",
					 .unit = "ms", .better = BENCH_LOWER_BETTER,
					 .runs = o.runs, .value = scan };
	bench_json_figure(&json, &scan_fig);
	eal_cleanup_all();
	return bench_json_close(&json) < 0;
}
