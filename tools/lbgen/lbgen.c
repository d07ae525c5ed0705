/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbgen, Fulcrum's DPDK traffic generator (lbgen(1)).
 *
 *   lbgen [EAL options] -- [options]
 *
 * Sends flows from ranges (or a replayed capture) at an exact rate, each
 * packet carrying a probe (tools/lbgen/probe.h); receives what comes back,
 * tunnelled by the balancer or not, and reports loss, latency, the backends
 * each flow reached and whether any flow moved. With --ndr it searches for
 * the highest rate without loss.
 *
 * Lcores: with two worker lcores, one sends and one receives; with one, it
 * does both in turn; with none, the main lcore does both. The main lcore
 * otherwise only steers: it starts each sending phase (the run, or each
 * trial of the search), waits for stragglers, and prints progress once a
 * second. The per-packet work lives in the portable core beside this file.
 */
#include <errno.h>
#include <math.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "dataplane/pkt.h"
#include "tools/lbgen/frame.h"
#include "tools/lbgen/ndr.h"
#include "tools/lbgen/opts.h"
#include "tools/lbgen/probe.h"
#include "tools/lbgen/report.h"
#include "tools/lbgen/rxparse.h"
#include "tools/lbgen/track.h"

#define LBGEN_BURST	  32
#define LBGEN_MBUF_CACHE  256
#define LBGEN_RING_DESC	  1024
#define LBGEN_LINK_WAIT_S 10
/* Ethernet preamble, start delimiter and inter-frame gap: what a frame
 * costs on the wire beyond its bytes, for rates given as % of link speed. */
#define LBGEN_WIRE_OVERHEAD 20
/* A phase of rate x duration packets that fell behind (the port was full,
 * the CPU was taken away) may catch up for this much longer than its
 * duration before it is cut short: the count stays exact through hiccups,
 * and a port too slow for the rate still ends. */
#define LBGEN_CATCH_UP 1.1

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* SIGINT / SIGTERM: the first ends sending and reports; the second also
 * skips the wait for packets on their way. */
static volatile sig_atomic_t lbgen_interrupts;

static void lbgen_on_signal(int sig)
{
	(void)sig;
	lbgen_interrupts++;
}

/* A frame of a replayed capture. */
struct lbgen_replay_frame {
	uint8_t *bytes;
	uint32_t len;
	uint32_t flow; /* its 5-tuple's number */
	int stampable; /* TCP or UDP with room for the probe */
};

struct lbgen_replay {
	struct lbgen_replay_frame *frames;
	uint64_t count;
	struct flow_tuple *tuples; /* the flow set: distinct 5-tuples in order of appearance */
	uint64_t tuple_count;
	uint32_t *flows_by; /* flows_by[i]: distinct flows among frames 0 .. i */
	uint32_t max_len;
};

/* One sending phase: the run, or one trial of the search. */
struct lbgen_phase {
	uint64_t count;	 /* packets to send; UINT64_MAX: no limit */
	double rate_pps; /* 0: as fast as the port takes them */
	double limit_s;	 /* stop then even short of count; 0: no limit */
};

/*
 * What the lcores share. The main lcore writes a phase, then bumps
 * phase_gen; the sender runs it and answers in phase_done_gen. Likewise
 * trial_gen and trial_ack with the receiver, which must have moved to a
 * trial before its packets leave. Counters have one writer each.
 */
struct lbgen_shared {
	struct lbgen_phase phase;
	uint32_t phase_gen;
	uint32_t phase_done_gen;
	int abort_phase;
	uint64_t phase_start_tsc;
	uint64_t phase_end_tsc;

	uint64_t trial_first_seq;
	uint32_t trial_gen;
	uint32_t trial_ack;

	uint64_t tx_packets;
	uint64_t tx_bytes;
	uint64_t tx_unstamped;
	uint64_t next_seq; /* the next packet's sequence number */

	int quit;
};

/* The sender's own state. */
struct lbgen_tx {
	struct rte_mbuf *pending[LBGEN_BURST]; /* built, not yet taken by the port */
	uint16_t pending_count;
	int active;
	uint32_t gen;
	struct lbgen_phase phase;
	uint64_t start_tsc;
	uint64_t deadline_tsc;
	uint64_t built;
	double packets_per_tsc;
	__u32 min_size[2]; /* the smallest frame with a probe: [0] IPv4, [1] IPv6 */
};

struct lbgen {
	struct opts *opts;
	struct rte_mempool *pool;
	uint64_t tsc_hz;
	struct frame_l2 l2;
	struct lbgen_replay replay;
	struct lbgen_shared sh;
	struct lbgen_tx tx;
	uint32_t rx_trial_seen;
	struct track track;

	/* pcap files and the wall clock their timestamps start from */
	pcap_t *pcap_dead;
	pcap_dumper_t *pcap_tx;
	pcap_dumper_t *pcap_rx;
	struct timeval wall_base;
	uint64_t tsc_base;

	FILE *human; /* stdout, or stderr when the JSON goes to stdout */
};

static uint64_t lbgen_tsc_to_ns(const struct lbgen *lb, uint64_t tsc)
{
	return (uint64_t)((unsigned __int128)tsc * 1000000000u / lb->tsc_hz);
}

/* ---- pcap ---------------------------------------------------------------- */

static pcap_dumper_t *lbgen_pcap_open(struct lbgen *lb, const char *path)
{
	pcap_dumper_t *d;

	if (!lb->pcap_dead) {
		lb->pcap_dead = pcap_open_dead(DLT_EN10MB, 65535);
		if (!lb->pcap_dead)
			return NULL;
	}
	d = pcap_dump_open(lb->pcap_dead, path);
	if (!d)
		fprintf(stderr, "lbgen: %s: %s\n", path, pcap_geterr(lb->pcap_dead));
	return d;
}

/* Writes n frames received or sent at tsc; one lcore per dumper. */
static void lbgen_pcap_write(const struct lbgen *lb, pcap_dumper_t *d, struct rte_mbuf **pkts,
			     uint16_t n, uint64_t tsc)
{
	uint64_t us = lbgen_tsc_to_ns(lb, tsc - lb->tsc_base) / 1000;
	struct pcap_pkthdr h;

	h.ts.tv_sec = lb->wall_base.tv_sec + (time_t)(us / 1000000);
	h.ts.tv_usec = lb->wall_base.tv_usec + (suseconds_t)(us % 1000000);
	if (h.ts.tv_usec >= 1000000) {
		h.ts.tv_sec++;
		h.ts.tv_usec -= 1000000;
	}
	for (uint16_t i = 0; i < n; i++) {
		h.caplen = h.len = pkts[i]->data_len;
		pcap_dump((u_char *)d, &h, rte_pktmbuf_mtod(pkts[i], const u_char *));
	}
}

/* ---- replay ---------------------------------------------------------------- */

/*
 * Reads a capture into memory and numbers its flows: each distinct TCP or
 * UDP 5-tuple (first seen first) is a flow. Frames lbgen cannot probe (not
 * TCP or UDP over IP, or with less payload than a probe) are sent as they
 * are. Returns 0, or -1 after saying why.
 */
static int lbgen_replay_load(struct lbgen *lb, const char *path)
{
	struct lbgen_replay *r = &lb->replay;
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t capacity = 0, truncated = 0;
	struct rte_hash *by_tuple = NULL;
	int rc, ret = -1;

	pcap_t *p = pcap_open_offline(path, errbuf);
	if (!p) {
		fprintf(stderr, "lbgen: --replay %s: %s\n", path, errbuf);
		return -1;
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		fprintf(stderr, "lbgen: --replay %s: not an Ethernet capture\n", path);
		goto out;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		if (h->caplen < h->len) { /* cut by the capture's snap length */
			truncated++;
			continue;
		}
		if (h->len < PKT_ETH_HLEN || h->len + FRAME_FCS_LEN > FRAME_SIZE_MAX)
			continue;
		if (r->count == capacity) {
			capacity = capacity ? capacity * 2 : 1024;
			void *grown = realloc(r->frames, capacity * sizeof(*r->frames));
			if (!grown)
				goto nomem;
			r->frames = grown;
		}
		struct lbgen_replay_frame *f = &r->frames[r->count];
		f->bytes = malloc(h->len);
		if (!f->bytes)
			goto nomem;
		memcpy(f->bytes, data, h->len);
		f->len = h->len;
		f->stampable = 0;
		f->flow = 0;
		r->count++;
		if (h->len > r->max_len)
			r->max_len = h->len;
	}
	if (rc == -1) {
		fprintf(stderr, "lbgen: --replay %s: %s\n", path, pcap_geterr(p));
		goto out;
	}
	if (!r->count) {
		fprintf(stderr, "lbgen: --replay %s: no whole Ethernet frame in it\n", path);
		goto out;
	}
	if (truncated)
		fprintf(stderr,
			"lbgen: --replay %s: %llu frames cut short by the capture left out\n", path,
			(unsigned long long)truncated);

	struct rte_hash_parameters hp = {
		.name = "lbgen_replay",
		.entries = r->count < 64 ? 64 : (uint32_t)r->count,
		.key_len = sizeof(struct flow_tuple),
		.hash_func = rte_jhash,
		.socket_id = (int)rte_socket_id(),
	};
	by_tuple = rte_hash_create(&hp);
	r->tuples = calloc(r->count, sizeof(*r->tuples));
	r->flows_by = calloc(r->count, sizeof(*r->flows_by));
	if (!by_tuple || !r->tuples || !r->flows_by)
		goto nomem;
	for (uint64_t i = 0; i < r->count; i++) {
		struct lbgen_replay_frame *f = &r->frames[i];
		struct rxparse_l3 l3;
		uint32_t l3_offset;
		void *found;

		if (rxparse_ethernet(f->bytes, f->len, &l3_offset) &&
		    rxparse_ip(f->bytes + l3_offset, f->len - l3_offset, &l3) == 0 &&
		    l3.l4_len >= l3.l4_hlen + PROBE_LEN) {
			if (rte_hash_lookup_data(by_tuple, &l3.tuple, &found) >= 0) {
				f->flow = (uint32_t)(uintptr_t)found;
			} else {
				f->flow = (uint32_t)r->tuple_count;
				r->tuples[r->tuple_count++] = l3.tuple;
				if (rte_hash_add_key_data(by_tuple, &l3.tuple,
							  (void *)(uintptr_t)f->flow) < 0)
					goto nomem;
			}
			f->stampable = 1;
		}
		r->flows_by[i] = (uint32_t)r->tuple_count;
	}
	if (!r->tuple_count)
		fprintf(stderr,
			"lbgen: --replay %s: no frame has room for a probe: nothing can be "
			"matched on return\n",
			path);
	flowset_use_list(&lb->opts->flows, r->tuples, r->tuple_count);
	ret = 0;
	goto out;
nomem:
	fprintf(stderr, "lbgen: --replay %s: out of memory\n", path);
out:
	rte_hash_free(by_tuple);
	pcap_close(p);
	return ret;
}

static void lbgen_replay_free(struct lbgen_replay *r)
{
	for (uint64_t i = 0; i < r->count; i++)
		free(r->frames[i].bytes);
	free(r->frames);
	free(r->tuples);
	free(r->flows_by);
}

/* ---- ports ------------------------------------------------------------------ */

static int lbgen_port_init(uint16_t port, uint16_t rx_queues, struct rte_mempool *pool,
			   uint16_t mtu)
{
	struct rte_eth_conf conf;
	uint16_t rx_desc = LBGEN_RING_DESC, tx_desc = LBGEN_RING_DESC;
	int socket = rte_eth_dev_socket_id(port), rc;

	if (!rte_eth_dev_is_valid_port(port)) {
		fprintf(stderr, "lbgen: no DPDK port %u (%u ports: check the EAL's devices)\n",
			port, rte_eth_dev_count_avail());
		return -ENODEV;
	}
	if (socket < 0)
		socket = (int)rte_socket_id();
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(port, rx_queues, 1, &conf);
	if (!rc)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc);
	for (uint16_t q = 0; !rc && q < rx_queues; q++)
		rc = rte_eth_rx_queue_setup(port, q, rx_desc, (unsigned)socket, NULL, pool);
	if (!rc)
		rc = rte_eth_tx_queue_setup(port, 0, tx_desc, (unsigned)socket, NULL);
	if (rc) {
		fprintf(stderr, "lbgen: port %u: set-up failed: %s\n", port, strerror(-rc));
		return rc;
	}
	if (mtu > RTE_ETHER_MTU) {
		rc = rte_eth_dev_set_mtu(port, mtu);
		if (rc)
			fprintf(stderr,
				"lbgen: port %u: cannot set MTU %u (%s); frames may not fit\n",
				port, mtu, strerror(-rc));
	}
	rc = rte_eth_dev_start(port);
	if (rc) {
		fprintf(stderr, "lbgen: port %u: start: %s\n", port, strerror(-rc));
		return rc;
	}
	/* Tunnelled packets come back addressed to the balancer's next hop,
	 * which need not be this port's MAC. Drivers without the mode (memif)
	 * take every frame anyway. */
	rte_eth_promiscuous_enable(port);
	return 0;
}

/* Waits for the link to come up; returns its speed in Mb/s, 0 if unknown,
 * or -1 when it stays down. */
static long lbgen_link_wait(uint16_t port)
{
	struct rte_eth_link link;

	for (int i = 0; i < LBGEN_LINK_WAIT_S * 10; i++) {
		if (rte_eth_link_get_nowait(port, &link) == 0 && link.link_status)
			return link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0
									    : (long)link.link_speed;
		rte_delay_us_sleep(100000);
	}
	fprintf(stderr, "lbgen: port %u: link still down after %d s\n", port, LBGEN_LINK_WAIT_S);
	return -1;
}

/* ---- sending ------------------------------------------------------------------ */

/* Writes packet seq into m; returns 0 when it carries no probe (replay). */
static int lbgen_build(struct lbgen *lb, struct rte_mbuf *m, uint64_t seq, uint64_t tsc)
{
	const struct opts *o = lb->opts;
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t len;

	if (lb->replay.count) {
		const struct lbgen_replay_frame *f = &lb->replay.frames[seq % lb->replay.count];
		memcpy(data, f->bytes, f->len);
		len = f->len;
		m->data_len = (uint16_t)len;
		m->pkt_len = len;
		return f->stampable && frame_stamp(data, len, f->flow, seq, tsc) == 0;
	}
	const struct flowset *fs = &o->flows;
	const uint64_t position = seq % fs->flow_count, round = seq / fs->flow_count;
	const uint64_t flow = flowset_flow_at(fs, position);
	struct flow_tuple t;
	flowset_tuple(fs, flow, &t);
	struct frame_packet p = {
		.tuple = &t,
		.tcp_flags = fs->proto == PKT_PROTO_TCP ? mix_tcp_flags(&o->tcp, seq, round) : 0,
		.size = mix_size_at(&o->sizes, seq),
		.flow = (uint32_t)flow,
		.seq = seq,
		.tx_tsc = tsc,
	};
	const uint32_t min = lb->tx.min_size[t.family == FLOW_FAMILY_IPV6];
	if (p.size < min)
		p.size = min;
	len = frame_build(data, rte_pktmbuf_tailroom(m), &lb->l2, &p);
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	return 1;
}

static void lbgen_tx_end_phase(struct lbgen *lb, uint64_t now)
{
	struct lbgen_tx *tx = &lb->tx;

	/* Built but never taken by the port: not sent, not counted. */
	if (tx->pending_count)
		rte_pktmbuf_free_bulk(tx->pending, tx->pending_count);
	tx->pending_count = 0;
	tx->active = 0;
	STORE(&lb->sh.phase_end_tsc, now);
	STORE_REL(&lb->sh.phase_done_gen, tx->gen);
}

/*
 * One step of the sender: starts a phase the main lcore published, builds
 * what the rate allows now (the count due by this TSC reading, so the rate
 * holds exactly over the phase however the loop is scheduled), and offers
 * the burst to the port. Sender lcore only.
 */
static void lbgen_tx_poll(struct lbgen *lb)
{
	struct lbgen_tx *tx = &lb->tx;
	struct lbgen_shared *sh = &lb->sh;
	const uint16_t port = lb->opts->tx_port;
	uint64_t now = rte_rdtsc();

	if (!tx->active) {
		uint32_t gen = LOAD_ACQ(&sh->phase_gen);
		if (gen == tx->gen)
			return;
		tx->gen = gen;
		tx->phase = sh->phase;
		tx->active = 1;
		tx->start_tsc = now;
		tx->built = 0;
		tx->deadline_tsc =
			tx->phase.limit_s > 0
				? now + (uint64_t)(tx->phase.limit_s * (double)lb->tsc_hz)
				: UINT64_MAX;
		tx->packets_per_tsc = tx->phase.rate_pps / (double)lb->tsc_hz;
		STORE(&sh->phase_start_tsc, now);
	}
	if (LOAD(&sh->abort_phase) || now >= tx->deadline_tsc ||
	    (tx->built == tx->phase.count && !tx->pending_count)) {
		lbgen_tx_end_phase(lb, now);
		return;
	}

	uint64_t want = tx->phase.count - tx->built;
	if (tx->phase.rate_pps > 0) {
		/* Packet k of the phase may leave at k / rate seconds. */
		uint64_t due = (uint64_t)((double)(now - tx->start_tsc) * tx->packets_per_tsc) + 1;
		want = due > tx->built ? RTE_MIN(want, due - tx->built) : 0;
	}
	want = RTE_MIN(want, (uint64_t)(LBGEN_BURST - tx->pending_count));
	if (want && rte_pktmbuf_alloc_bulk(lb->pool, &tx->pending[tx->pending_count],
					   (unsigned)want) == 0) {
		uint64_t seq = sh->next_seq, unstamped = 0;
		for (uint64_t i = 0; i < want; i++)
			unstamped +=
				!lbgen_build(lb, tx->pending[tx->pending_count + i], seq + i, now);
		tx->pending_count = (uint16_t)(tx->pending_count + want);
		tx->built += want;
		STORE(&sh->next_seq, seq + want);
		if (unstamped)
			STORE(&sh->tx_unstamped, sh->tx_unstamped + unstamped);
	}
	if (!tx->pending_count)
		return;
	uint16_t sent = rte_eth_tx_burst(port, 0, tx->pending, tx->pending_count);
	if (!sent)
		return;
	uint64_t bytes = 0;
	for (uint16_t i = 0; i < sent; i++)
		bytes += tx->pending[i]->pkt_len;
	if (lb->pcap_tx)
		lbgen_pcap_write(lb, lb->pcap_tx, tx->pending, sent, now);
	STORE(&sh->tx_packets, sh->tx_packets + sent);
	STORE(&sh->tx_bytes, sh->tx_bytes + bytes);
	tx->pending_count = (uint16_t)(tx->pending_count - sent);
	memmove(tx->pending, tx->pending + sent, tx->pending_count * sizeof(tx->pending[0]));
}

/* ---- receiving ------------------------------------------------------------------ */

/* Parses and accounts a burst received at tsc now. */
static void lbgen_rx_burst(struct lbgen *lb, struct rte_mbuf **pkts, uint16_t n, uint64_t now)
{
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct rxparse_result r;

		/* Frames spread over segments (jumbo frames in small mbufs)
		 * are copied into one first. */
		if (m->nb_segs > 1 && rte_pktmbuf_linearize(m)) {
			track_not_ours(&lb->track);
			continue;
		}
		if (rxparse_frame(rte_pktmbuf_mtod(m, const uint8_t *), m->data_len,
				  lb->opts->gue_port, &r) == RXPARSE_OURS)
			track_packet(&lb->track, &r, m->data_len,
				     now > r.tx_tsc ? lbgen_tsc_to_ns(lb, now - r.tx_tsc) : 0);
		else
			track_not_ours(&lb->track);
	}
	if (lb->pcap_rx)
		lbgen_pcap_write(lb, lb->pcap_rx, pkts, n, now);
	rte_pktmbuf_free_bulk(pkts, n);
}

/* One step of the receiver: a burst from each RX queue, parsed and
 * accounted. Receiver lcore only. */
static void lbgen_rx_poll(struct lbgen *lb)
{
	struct rte_mbuf *pkts[LBGEN_BURST];
	struct lbgen_shared *sh = &lb->sh;
	uint32_t trial = LOAD_ACQ(&sh->trial_gen);

	if (trial != lb->rx_trial_seen) {
		track_trial_begin(&lb->track, LOAD(&sh->trial_first_seq));
		lb->rx_trial_seen = trial;
		STORE_REL(&sh->trial_ack, trial);
	}
	for (uint16_t q = 0; q < lb->opts->rx_queues; q++) {
		uint16_t n = rte_eth_rx_burst(lb->opts->rx_port, q, pkts, LBGEN_BURST);
		if (n)
			lbgen_rx_burst(lb, pkts, n, rte_rdtsc());
	}
}

/* ---- lcores ------------------------------------------------------------------------ */

static int lbgen_tx_main(void *arg)
{
	struct lbgen *lb = arg;

	while (!LOAD(&lb->sh.quit))
		lbgen_tx_poll(lb);
	return 0;
}

static int lbgen_rx_main(void *arg)
{
	struct lbgen *lb = arg;

	while (!LOAD(&lb->sh.quit))
		lbgen_rx_poll(lb);
	return 0;
}

static int lbgen_io_main(void *arg)
{
	struct lbgen *lb = arg;

	while (!LOAD(&lb->sh.quit)) {
		lbgen_tx_poll(lb);
		lbgen_rx_poll(lb);
	}
	return 0;
}

/* ---- steering (main lcore) ---------------------------------------------------------- */

enum lbgen_stage {
	LBGEN_STAGE_START,    /* publish the next trial to the receiver */
	LBGEN_STAGE_RX_READY, /* wait for the receiver, then start sending */
	LBGEN_STAGE_SENDING,
	LBGEN_STAGE_DRAINING, /* sending done: wait for packets on their way */
	LBGEN_STAGE_DONE,
};

struct lbgen_control {
	enum lbgen_stage stage;
	struct ndr ndr;
	struct report_trial trials[NDR_TRIALS_MAX];
	uint32_t trial_count;
	double rate_pps; /* the run's rate (0: unlimited), or the search's maximum */
	double resolution_pps;
	uint64_t trial_tx_base; /* sender's counters when the trial began */
	uint64_t trial_unstamped_base;
	uint64_t drain_deadline;
	double sending_s; /* summed over the phases so far */
	/* progress */
	uint64_t next_progress;
	uint64_t last_tx;
	uint64_t last_rx;
	uint64_t last_progress_tsc;
};

static void lbgen_progress(struct lbgen *lb, struct lbgen_control *c, uint64_t now)
{
	struct track_counters rx;
	struct report_latency lat;
	uint64_t tx = LOAD(&lb->sh.tx_packets), unstamped = LOAD(&lb->sh.tx_unstamped);
	double dt = (double)(now - c->last_progress_tsc) / (double)lb->tsc_hz;
	double elapsed = (double)(now - LOAD(&lb->sh.phase_start_tsc)) / (double)lb->tsc_hz;

	track_read(&lb->track, &rx);
	report_latency_read(&lb->track.latency, &lat);
	if (!lb->opts->quiet && dt > 0)
		report_progress(lb->human, c->sending_s + elapsed, (double)(tx - c->last_tx) / dt,
				(double)(rx.rx_packets - c->last_rx) / dt, tx, rx.rx_packets,
				tx - unstamped > rx.rx_packets ? tx - unstamped - rx.rx_packets : 0,
				&lat);
	c->last_tx = tx;
	c->last_rx = rx.rx_packets;
	c->last_progress_tsc = now;
	c->next_progress = now + lb->tsc_hz;
}

/* The phase the next trial sends. */
static struct lbgen_phase lbgen_next_phase(const struct lbgen *lb, const struct lbgen_control *c)
{
	const struct opts *o = lb->opts;
	struct lbgen_phase p = {UINT64_MAX, c->rate_pps, o->duration_s};

	if (o->ndr)
		p.rate_pps = ndr_next_rate(&c->ndr);
	if (o->count)
		p.count = o->count;
	/* With both a rate and a duration, exactly rate x duration packets. */
	if (p.rate_pps > 0 && o->duration_s > 0) {
		p.count = RTE_MIN(p.count, (uint64_t)llround(p.rate_pps * o->duration_s));
		p.limit_s = o->duration_s * LBGEN_CATCH_UP;
	}
	return p;
}

/* Records the trial that just drained. */
static void lbgen_end_trial(struct lbgen *lb, struct lbgen_control *c)
{
	struct report_trial *t = &c->trials[c->trial_count++];
	struct track_counters rx;
	uint64_t tx = LOAD(&lb->sh.tx_packets) - c->trial_tx_base;
	uint64_t stamped = tx - (LOAD(&lb->sh.tx_unstamped) - c->trial_unstamped_base);
	double seconds = (double)(LOAD(&lb->sh.phase_end_tsc) - LOAD(&lb->sh.phase_start_tsc)) /
			 (double)lb->tsc_hz;

	track_read_trial(&lb->track, &rx);
	t->rate_pps = lb->sh.phase.rate_pps; /* written by this lcore */
	t->tx_pps = seconds > 0 ? (double)tx / seconds : 0;
	t->tx_packets = tx;
	t->rx_packets = rx.rx_packets;
	t->loss_ratio = ndr_loss_ratio(stamped, rx.rx_packets);
	report_latency_read(&lb->track.trial_latency, &t->latency);
	c->sending_s += seconds;
	if (lb->opts->ndr) {
		ndr_record(&c->ndr, stamped, rx.rx_packets, t->tx_pps);
		t->passed = c->ndr.trials[c->ndr.trial_count - 1].passed;
	}
}

/*
 * One step of the main lcore's stages. Returns 0 while the run goes on, 1
 * when it is over.
 */
static int lbgen_control_step(struct lbgen *lb, struct lbgen_control *c)
{
	struct lbgen_shared *sh = &lb->sh;
	uint64_t now = rte_rdtsc();

	switch (c->stage) {
	case LBGEN_STAGE_START:
		if (lbgen_interrupts)
			break;
		STORE(&sh->trial_first_seq, LOAD(&sh->next_seq));
		STORE_REL(&sh->trial_gen, sh->trial_gen + 1);
		c->stage = LBGEN_STAGE_RX_READY;
		return 0;
	case LBGEN_STAGE_RX_READY:
		if (LOAD_ACQ(&sh->trial_ack) != sh->trial_gen)
			return 0;
		sh->phase = lbgen_next_phase(lb, c);
		STORE(&sh->abort_phase, 0);
		c->trial_tx_base = LOAD(&sh->tx_packets);
		c->trial_unstamped_base = LOAD(&sh->tx_unstamped);
		if (lb->opts->ndr && !lb->opts->quiet)
			fprintf(lb->human, "trial %u: %.0f pps for %.1f s\n", c->trial_count + 1,
				sh->phase.rate_pps, lb->opts->duration_s);
		c->last_tx = c->trial_tx_base;
		c->last_progress_tsc = now;
		c->next_progress = now + lb->tsc_hz;
		STORE_REL(&sh->phase_gen, sh->phase_gen + 1);
		c->stage = LBGEN_STAGE_SENDING;
		return 0;
	case LBGEN_STAGE_SENDING:
		if (lbgen_interrupts)
			STORE(&sh->abort_phase, 1);
		if (now >= c->next_progress)
			lbgen_progress(lb, c, now);
		if (LOAD_ACQ(&sh->phase_done_gen) != sh->phase_gen)
			return 0;
		c->drain_deadline = now + lb->tsc_hz * lb->opts->rx_wait_ms / 1000;
		c->stage = LBGEN_STAGE_DRAINING;
		return 0;
	case LBGEN_STAGE_DRAINING: {
		struct track_counters rx;
		uint64_t tx = LOAD(&sh->tx_packets) - c->trial_tx_base;
		uint64_t stamped = tx - (LOAD(&sh->tx_unstamped) - c->trial_unstamped_base);
		track_read_trial(&lb->track, &rx);
		if (rx.rx_packets < stamped && now < c->drain_deadline && lbgen_interrupts < 2) {
			if (now >= c->next_progress)
				lbgen_progress(lb, c, now);
			return 0;
		}
		lbgen_end_trial(lb, c);
		if (lb->opts->ndr && ndr_next_rate(&c->ndr) > 0 && !lbgen_interrupts) {
			c->stage = LBGEN_STAGE_START;
			return 0;
		}
		break;
	}
	case LBGEN_STAGE_DONE:
		break;
	}
	c->stage = LBGEN_STAGE_DONE;
	STORE(&sh->quit, 1);
	return 1;
}

/* ---- results ------------------------------------------------------------------------- */

static int lbgen_report(struct lbgen *lb, struct lbgen_control *c)
{
	const struct opts *o = lb->opts;
	struct report r;
	uint64_t generated = LOAD(&lb->sh.next_seq);

	memset(&r, 0, sizeof(r));
	r.tx_packets = LOAD(&lb->sh.tx_packets);
	r.tx_bytes = LOAD(&lb->sh.tx_bytes);
	r.tx_unstamped = LOAD(&lb->sh.tx_unstamped);
	r.duration_s = c->sending_s;
	r.rate_pps = o->ndr ? 0 : c->rate_pps;
	if (lb->replay.count)
		r.flows = generated ? lb->replay.flows_by[RTE_MIN(generated, lb->replay.count) - 1]
				    : 0;
	else
		r.flows = RTE_MIN(generated, o->flows.flow_count);
	track_read(&lb->track, &r.rx);
	report_latency_read(&lb->track.latency, &r.latency);
	r.backends = lb->track.backends;
	r.backend_count = lb->track.backend_count;
	if (o->ndr) {
		r.ndr = 1;
		r.ndr_pps = ndr_result(&c->ndr);
		r.ndr_loss_threshold = o->ndr_loss;
		r.ndr_resolution_pps = c->resolution_pps;
		r.trials = c->trials;
		r.trial_count = c->trial_count;
	}
	report_human(lb->human, &r);
	if (!o->json_path)
		return 0;

	json_t *json = report_json(&r);
	int to_stdout = strcmp(o->json_path, "-") == 0;
	FILE *f = to_stdout ? stdout : fopen(o->json_path, "w");
	int rc = -1;
	if (!json)
		fprintf(stderr, "lbgen: out of memory for the JSON summary\n");
	else if (!f)
		fprintf(stderr, "lbgen: --json %s: %s\n", o->json_path, strerror(errno));
	else if (json_dumpf(json, f, JSON_INDENT(2)) || fputc('\n', f) == EOF ||
		 (to_stdout ? fflush(f) : fclose(f)))
		fprintf(stderr, "lbgen: --json %s: write failed\n", o->json_path);
	else
		rc = 0;
	if (f && !to_stdout && rc)
		fclose(f);
	json_decref(json);
	return rc;
}

/* ---- set-up ------------------------------------------------------------------------ */

/* The mean frame size on the wire (FCS included), for rates in % of link. */
static double lbgen_mean_frame_size(const struct lbgen *lb)
{
	const struct opts *o = lb->opts;

	if (lb->replay.count) {
		double sum = 0;
		for (uint64_t i = 0; i < lb->replay.count; i++)
			sum += lb->replay.frames[i].len + FRAME_FCS_LEN;
		return sum / (double)lb->replay.count;
	}
	uint64_t v4 = 0;
	for (uint32_t i = 0; i < o->flows.vip_range_count; i++)
		if (o->flows.vips[i].family == FLOW_FAMILY_IPV4)
			v4 += o->flows.vips[i].count;
	double share4 = (double)v4 / (double)o->flows.vip_count;
	return share4 * mix_size_mean(&o->sizes, lb->tx.min_size[0]) +
	       (1 - share4) * mix_size_mean(&o->sizes, lb->tx.min_size[1]);
}

/* A rate in packets per second; link_mbps is 0 when the port does not know. */
static int lbgen_rate_pps(const struct lbgen *lb, const struct opts_rate *rate, long link_mbps,
			  const char *what, double *pps)
{
	if (rate->unit != OPTS_RATE_LINK_PERCENT) {
		*pps = rate->unit == OPTS_RATE_PPS ? rate->value : 0;
		return 0;
	}
	if (link_mbps <= 0) {
		fprintf(stderr,
			"lbgen: %s %.6g%%: port %u does not report its link speed; give "
			"packets/s\n",
			what, rate->value, lb->opts->tx_port);
		return -1;
	}
	double bits = (lbgen_mean_frame_size(lb) + LBGEN_WIRE_OVERHEAD) * 8;
	*pps = rate->value / 100 * (double)link_mbps * 1e6 / bits;
	return 0;
}

/* Splits argv at "--": EAL arguments before, lbgen's after (its argv[0] the
 * program's name). Returns the EAL's argc. */
static int lbgen_split_args(int argc, char **argv, int *tool_argc, char ***tool_argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			argv[i] = argv[0];
			*tool_argc = argc - i;
			*tool_argv = argv + i;
			return i;
		}
	}
	*tool_argc = 0;
	*tool_argv = NULL;
	return argc;
}

int main(int argc, char **argv)
{
	static struct opts opts;
	static struct lbgen lb;
	static struct lbgen_control control;
	char err[1024];
	int tool_argc, eal_argc, rc = 1;
	char **tool_argv;

	eal_argc = lbgen_split_args(argc, argv, &tool_argc, &tool_argv);
	if (!tool_argv) {
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
				opts_usage(stdout);
				return 0;
			}
		}
		fprintf(stderr, "lbgen: EAL options, then --, then lbgen's (lbgen --help)\n");
		return 2;
	}
	if (opts_parse(&opts, tool_argc, tool_argv, err, sizeof(err))) {
		fprintf(stderr, "lbgen: %s\n", err);
		return 2;
	}
	if (opts.help) {
		opts_usage(stdout);
		return 0;
	}
	lb.opts = &opts;
	lb.human = opts.json_path && strcmp(opts.json_path, "-") == 0 ? stderr : stdout;

	if (rte_eal_init(eal_argc, argv) < 0) {
		fprintf(stderr, "lbgen: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	signal(SIGINT, lbgen_on_signal);
	signal(SIGTERM, lbgen_on_signal);
	lb.tsc_hz = rte_get_tsc_hz();
	lb.tsc_base = rte_rdtsc();
	gettimeofday(&lb.wall_base, NULL);

	if (opts.replay_path && lbgen_replay_load(&lb, opts.replay_path))
		goto out;
	if (!opts.replay_path)
		flowset_order(&opts.flows, opts.random_order, opts.seed);
	const uint8_t proto = opts.flows.proto;
	lb.tx.min_size[0] = frame_size_min(FLOW_FAMILY_IPV4, proto);
	lb.tx.min_size[1] = frame_size_min(FLOW_FAMILY_IPV6, proto);

	/* Mbufs big enough for the largest frame in one segment. */
	uint32_t max_len = lb.replay.count ? lb.replay.max_len : 0;
	for (uint32_t i = 0; !lb.replay.count && i < opts.sizes.count; i++) {
		uint32_t size = RTE_MAX(opts.sizes.sizes[i], lb.tx.min_size[1]);
		max_len = RTE_MAX(max_len, size - FRAME_FCS_LEN);
	}
	uint32_t data_room =
		RTE_MAX((uint32_t)RTE_MBUF_DEFAULT_BUF_SIZE, RTE_PKTMBUF_HEADROOM + max_len);
	/* Enough for every RX ring a NIC fills in advance (the TX port's own
	 * one too), a TX ring, the lcores' caches and bursts in flight; a
	 * power of two less one, as the mempool likes. */
	uint32_t rings = opts.rx_queues + (opts.rx_port != opts.tx_port) + 1;
	uint32_t mbufs = rte_align32pow2(rings * LBGEN_RING_DESC + 4 * LBGEN_MBUF_CACHE + 2048) - 1;
	lb.pool = rte_pktmbuf_pool_create("lbgen", mbufs, LBGEN_MBUF_CACHE, 0, (uint16_t)data_room,
					  (int)rte_socket_id());
	if (!lb.pool) {
		fprintf(stderr,
			"lbgen: mempool of %u mbufs: %s (with --no-huge, give the EAL more with "
			"-m)\n",
			mbufs, rte_strerror(rte_errno));
		goto out;
	}
	uint16_t mtu = (uint16_t)(max_len > RTE_ETHER_HDR_LEN ? max_len - RTE_ETHER_HDR_LEN : 0);
	if (lbgen_port_init(opts.tx_port, opts.rx_port == opts.tx_port ? opts.rx_queues : 1,
			    lb.pool, mtu) ||
	    (opts.rx_port != opts.tx_port &&
	     lbgen_port_init(opts.rx_port, opts.rx_queues, lb.pool, mtu)))
		goto out;
	long link_mbps = lbgen_link_wait(opts.tx_port);
	if (link_mbps < 0 || (opts.rx_port != opts.tx_port && lbgen_link_wait(opts.rx_port) < 0))
		goto out;

	struct rte_ether_addr mac;
	rte_eth_macaddr_get(opts.tx_port, &mac);
	memcpy(lb.l2.src_mac, opts.has_src_mac ? opts.src_mac : mac.addr_bytes, 6);
	memcpy(lb.l2.dst_mac, opts.dst_mac, 6);

	if (track_init(&lb.track, &opts.flows)) {
		fprintf(stderr, "lbgen: out of memory for per-flow state\n");
		goto out;
	}
	for (uint32_t i = 0; i < opts.backend_count; i++)
		track_add_backend(&lb.track, opts.backends[i].family, opts.backends[i].addr);
	if ((opts.pcap_tx_path && !(lb.pcap_tx = lbgen_pcap_open(&lb, opts.pcap_tx_path))) ||
	    (opts.pcap_rx_path && !(lb.pcap_rx = lbgen_pcap_open(&lb, opts.pcap_rx_path))))
		goto out;

	if (lbgen_rate_pps(&lb, &opts.rate, link_mbps, "--rate", &control.rate_pps))
		goto out;
	if (opts.ndr) {
		if (opts.ndr_resolution.unit == OPTS_RATE_UNLIMITED)
			control.resolution_pps = control.rate_pps / 100;
		else if (lbgen_rate_pps(&lb, &opts.ndr_resolution, link_mbps, "--ndr-resolution",
					&control.resolution_pps))
			goto out;
		ndr_init(&control.ndr, control.rate_pps, control.resolution_pps, opts.ndr_loss);
	}

	if (!lb.replay.count) {
		const struct flowset *fs = &opts.flows;
		char text[128];
		fprintf(lb.human, "lbgen: %llu flows, %s, to", (unsigned long long)fs->flow_count,
			fs->proto == PKT_PROTO_TCP ? "TCP" : "UDP");
		for (uint32_t i = 0; i < fs->vip_range_count; i++)
			fprintf(lb.human, " %s",
				flowset_fmt_range(&fs->vips[i], text, sizeof(text)));
		fprintf(lb.human, "; frames below %u bytes (IPv4) / %u (IPv6) are raised to it\n",
			lb.tx.min_size[0], lb.tx.min_size[1]);
	} else {
		fprintf(lb.human, "lbgen: replaying %llu frames of %llu flows from %s\n",
			(unsigned long long)lb.replay.count,
			(unsigned long long)lb.replay.tuple_count, opts.replay_path);
	}

	/* Lcores: a sender and a receiver if there are two workers, one that
	 * does both if there is one, else the main lcore does everything. */
	unsigned workers[2], worker_count = 0, lcore;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (worker_count < 2)
			workers[worker_count++] = lcore;
	}
	if (worker_count == 2) {
		rte_eal_remote_launch(lbgen_tx_main, &lb, workers[0]);
		rte_eal_remote_launch(lbgen_rx_main, &lb, workers[1]);
		fprintf(lb.human, "lbgen: sending on lcore %u, receiving on lcore %u\n", workers[0],
			workers[1]);
	} else if (worker_count == 1) {
		rte_eal_remote_launch(lbgen_io_main, &lb, workers[0]);
		fprintf(lb.human, "lbgen: sending and receiving on lcore %u\n", workers[0]);
	} else {
		fprintf(lb.human, "lbgen: sending and receiving on the main lcore %u\n",
			rte_lcore_id());
	}
	control.stage = LBGEN_STAGE_START;
	while (!lbgen_control_step(&lb, &control)) {
		if (worker_count) {
			rte_delay_us_sleep(200);
			continue;
		}
		/* The main lcore does the work too: steer every 64 bursts. */
		for (int i = 0; i < 64; i++) {
			lbgen_tx_poll(&lb);
			lbgen_rx_poll(&lb);
		}
	}
	rte_eal_mp_wait_lcore();
	rc = lbgen_report(&lb, &control) ? 1 : 0;
out:
	STORE(&lb.sh.quit, 1);
	rte_eal_mp_wait_lcore();
	if (lb.pcap_tx)
		pcap_dump_close(lb.pcap_tx);
	if (lb.pcap_rx)
		pcap_dump_close(lb.pcap_rx);
	if (lb.pcap_dead)
		pcap_close(lb.pcap_dead);
	uint16_t port;
	RTE_ETH_FOREACH_DEV(port)
	{
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
	track_fini(&lb.track);
	lbgen_replay_free(&lb.replay);
	rte_eal_cleanup();
	return rc;
}
