/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker fast path (dataplane/worker.h). Per burst: parse every frame
 * and find its VIP, prefetching flow-table buckets as hashes become known;
 * then choose a backend per packet (flow table, else Maglev ring), rewrite
 * in place, and hand the burst to the ports. No locks, no allocation except
 * for ICMP replies and fragments, no logging: every drop is a counter.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "dataplane/worker.h"

#define WORKER_KERNEL_RING   1024
#define WORKER_IDLE_POLLS    256 /* empty polls before an idle pause */

size_t worker_stats_mem_size(void)
{
	return (size_t)GEN_MEMBERS_MAX * sizeof(struct worker_member_stats) +
	       (size_t)GEN_VIPS_MAX * sizeof(uint64_t);
}

/*
 * Counter arrays indexed by id, sized for the whole id space once: a worker
 * never waits for a resize, and the main lcore never moves memory a worker
 * writes. GEN_MEMBERS_MAX (262144) members at 24 bytes and GEN_VIPS_MAX
 * (8192) VIPs at 8 bytes make 6 MiB per worker, a fifth of a 1M-entry flow
 * table; only the entries of members in use are ever touched, so caches see
 * a line per backend, not the array.
 */
static int worker_stats_init(struct worker *w, int socket_id)
{
	uint8_t *mem = rte_zmalloc_socket("fulcrum_stats", worker_stats_mem_size(),
					  RTE_CACHE_LINE_SIZE, socket_id);

	if (!mem)
		return -ENOMEM;
	w->stats_mem = mem;
	w->member_stats = (struct worker_member_stats *)mem;
	mem += (size_t)GEN_MEMBERS_MAX * sizeof(struct worker_member_stats);
	w->vip_drops_no_backend = (uint64_t *)mem;
	return 0;
}

void worker_stats_forget(struct worker *w, const struct gen *g)
{
	for (__u32 i = 0; i < g->fresh_member_count; i++)
		memset(&w->member_stats[g->fresh_member_ids[i]], 0, sizeof(w->member_stats[0]));
	for (__u32 i = 0; i < g->fresh_vip_count; i++)
		w->vip_drops_no_backend[g->fresh_vip_ids[i]] = 0;
}

int worker_init(struct worker *w, uint16_t index, struct worker_shared *shared,
		uint32_t flow_capacity, uint32_t new_flow_capacity, int socket_id)
{
	size_t size = flow_table_mem_size(flow_capacity);
	size_t new_size = flow_table_mem_size(new_flow_capacity);
	char name[RTE_RING_NAMESIZE];
	int err;

	memset(w, 0, sizeof(*w));
	if (!size || !new_size)
		return -EINVAL;
	w->flow_mem = rte_zmalloc_socket("fulcrum_flows", size, FLOW_TABLE_BUCKET, socket_id);
	w->new_flow_mem = rte_zmalloc_socket("fulcrum_new_flows", new_size, FLOW_TABLE_BUCKET,
					     socket_id);
	if (!w->flow_mem || !w->new_flow_mem) {
		worker_fini(w);
		return -ENOMEM;
	}
	flow_table_init(&w->flows, w->flow_mem, flow_capacity);
	flow_table_init(&w->new_flows, w->new_flow_mem, new_flow_capacity);
	err = worker_stats_init(w, socket_id);
	if (err) {
		worker_fini(w);
		return err;
	}
	snprintf(name, sizeof(name), "fulcrum_kernel_%u", index);
	w->to_kernel = rte_ring_create(name, WORKER_KERNEL_RING, socket_id,
				       RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!w->to_kernel) {
		err = -rte_errno;
		worker_fini(w);
		return err;
	}
	w->index = index;
	w->tx_queue = index;
	w->shared = shared;
	w->tsc_hz = rte_get_tsc_hz();
	w->start_tsc = rte_rdtsc();
	worker_clock(w, w->start_tsc);
	return 0;
}

void worker_fini(struct worker *w)
{
	rte_ring_free(w->to_kernel);
	rte_free(w->flow_mem);
	rte_free(w->new_flow_mem);
	rte_free(w->stats_mem);
	w->to_kernel = NULL;
	w->flow_mem = NULL;
	w->new_flow_mem = NULL;
	w->stats_mem = NULL;
	w->member_stats = NULL;
	w->vip_drops_no_backend = NULL;
}

static inline void worker_drop(struct worker *w, struct worker_out *out, struct rte_mbuf *m,
			       enum pkt_drop_reason reason)
{
	w->counters[counter_drop(reason)]++;
	out->drop[out->drop_count++] = m;
}

/* A member may carry a flow it already has while READY or DRAIN. */
static inline int worker_member_eligible(const struct gen_member *m)
{
	return m && m->state != GEN_MEMBER_ABSENT;
}

/* The ring's choice for a flow: a READY member, or NULL (no backend). */
static inline const struct gen_member *worker_ring_pick(const struct gen *g,
							const struct gen_vip *vip, __u32 hash,
							__u32 *id)
{
	*id = vip->ring[gen_vip_ring_slot(vip, hash)];
	return *id == FLOW_NO_BACKEND ? NULL : gen_member_get(g, *id);
}

/* A TCP SYN opening a connection (not one quoted by an ICMP error). */
static inline int worker_is_syn(const struct pkt_info *info)
{
	return info->tuple.proto == PKT_PROTO_TCP &&
	       (info->tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN &&
	       !(info->flags & PKT_F_ICMP_ERROR);
}

/*
 * Which backend a VIP packet goes to, and its member id in *id. Known flows
 * keep their backend while it is READY or DRAIN; a TCP SYN (a new
 * connection, maybe on a recycled port) always takes the ring's choice; ICMP
 * errors follow the flow they quote but never create one. A flow's first
 * packet leaves it in new_flows, its second moves it into flows
 * (flow_tables_find): a flood of new flows never displaces an established
 * one.
 */
static inline const struct gen_member *worker_choose(struct worker *w, const struct gen *g,
						     const struct gen_vip *vip,
						     const struct pkt_info *info, __u32 hash,
						     __u64 fingerprint, __u32 *id)
{
	const int tcp = info->tuple.proto == PKT_PROTO_TCP;
	const int icmp_error = info->flags & PKT_F_ICMP_ERROR;
	const int syn = worker_is_syn(info);
	const __u32 idle_s = tcp ? g->params.tcp_idle_timeout_s : g->params.udp_idle_timeout_s;
	const __u32 expires = w->now_s + idle_s;
	enum flow_found found = FLOW_FOUND_NONE;
	const struct gen_member *m;
	struct flow_slot *e;

	if (syn) {
		/* Only a flow already established (a port reused at once) is
		 * looked up, to be re-pointed below. */
		e = flow_table_find(&w->flows, hash, fingerprint, w->now_s, expires);
	} else {
		e = flow_tables_find(&w->flows, &w->new_flows, hash, fingerprint, w->now_s, expires,
				     &found);
		if (found >= FLOW_FOUND_PROMOTED) {
			w->counters[COUNTER_FLOW_PROMOTED]++;
			if (found == FLOW_FOUND_PROMOTED_EVICTING)
				w->counters[COUNTER_FLOW_EVICTED]++;
		}
		if (e) {
			*id = e->member;
			m = gen_member_get(g, *id);
			if (worker_member_eligible(m)) {
				w->counters[COUNTER_FLOW_HIT]++;
				return m;
			}
		}
	}
	m = worker_ring_pick(g, vip, hash, id);
	if (!m || icmp_error)
		return m;
	w->member_stats[*id].flows_new++;
	if (e) {
		e->member = *id;
		w->counters[syn ? COUNTER_FLOW_NEW : COUNTER_FLOW_MOVED]++;
		return m;
	}
	if (flow_table_insert(&w->new_flows, hash, fingerprint, *id, w->now_s,
			      w->now_s + RTE_MIN(idle_s, FLOW_NEW_TIMEOUT_S)) ==
	    FLOW_TABLE_EVICTED)
		w->counters[COUNTER_FLOW_NEW_EVICTED]++;
	w->counters[COUNTER_FLOW_NEW]++;
	return m;
}

/* Counts a VIP packet queued for a port toward member id. */
static inline void worker_count_tunnelled(struct worker *w, __u32 id, __u32 bytes)
{
	w->member_stats[id].packets++;
	w->member_stats[id].bytes += bytes;
}

/* Answers a client whose DF packet would not fit once tunnelled. */
static void worker_reply_too_big(struct worker *w, struct rte_mbuf *m, const struct pkt_info *info,
				 const struct pkt_encap_params *p, struct worker_out *out)
{
	const uint8_t slot = w->shared->slot_of_port[m->port];
	struct rte_mbuf *reply;
	uint32_t len;

	if (out->tx_count[slot] >= WORKER_TX_MAX) {
		worker_drop(w, out, m, PKT_DROP_NO_ROOM);
		return;
	}
	reply = rte_pktmbuf_alloc(w->shared->pool);
	if (!reply) {
		worker_drop(w, out, m, PKT_DROP_NO_ROOM);
		return;
	}
	len = pkt_icmp_too_big(rte_pktmbuf_mtod(m, const uint8_t *), info, pkt_encap_inner_mtu(p),
			       rte_pktmbuf_mtod(reply, uint8_t *), rte_pktmbuf_tailroom(reply));
	if (!len || !rte_pktmbuf_append(reply, (uint16_t)len)) {
		rte_pktmbuf_free(reply);
		worker_drop(w, out, m, PKT_DROP_NO_ROOM);
		return;
	}
	out->tx[slot][out->tx_count[slot]++] = reply;
	w->counters[COUNTER_TOO_BIG_SENT]++;
	out->drop[out->drop_count++] = m; /* answered, not dropped: no drop counter */
}

/*
 * An IPv4 packet without DF that would not fit once tunnelled: fragment the
 * inner packet as a router would, and tunnel each fragment. Fragmenting
 * inside rather than the outer packet spares the backend's decapsulation
 * from reassembling tunnels; its IP stack reassembles the inner datagram.
 */
static void worker_fragment(struct worker *w, struct rte_mbuf *m, const struct pkt_info *info,
			    const struct pkt_encap_params *p, uint8_t slot, __u32 hash,
			    __u32 id, struct worker_out *out)
{
	struct rte_mbuf *frags[WORKER_FRAGS_MAX];
	const uint8_t *ip = rte_pktmbuf_mtod_offset(m, const uint8_t *, info->l3_offset);
	const uint16_t ihl = (uint16_t)((ip[0] & 0x0f) * 4);
	const uint16_t inner_mtu = pkt_encap_inner_mtu(p);
	uint16_t room = (uint16_t)(WORKER_TX_MAX - out->tx_count[slot]);
	int32_t n;

	if (inner_mtu < ihl + 8) {
		worker_drop(w, out, m, PKT_DROP_TOO_BIG);
		return;
	}
	if (room > WORKER_FRAGS_MAX)
		room = WORKER_FRAGS_MAX;
	/* The library wants a bare IP packet whose fragment payloads are
	 * multiples of 8 bytes. */
	rte_pktmbuf_adj(m, info->l3_offset);
	if (m->pkt_len > info->l3_length)
		rte_pktmbuf_trim(m, (uint16_t)(m->pkt_len - info->l3_length));
	n = rte_ipv4_fragment_packet(m, frags, room, (uint16_t)(ihl + ((inner_mtu - ihl) & ~7u)),
				     w->shared->pool, w->shared->indirect_pool);
	if (n < 0) {
		worker_drop(w, out, m, n == -ENOMEM ? PKT_DROP_NO_ROOM : PKT_DROP_TOO_BIG);
		return;
	}
	rte_pktmbuf_free(m); /* the fragments hold their own references to its data */
	w->counters[COUNTER_FRAGMENTED]++;
	worker_count_tunnelled(w, id, info->l3_length);
	for (int32_t i = 0; i < n; i++) {
		/* The library leaves each fragment's header checksum to the
		 * caller (or to an offload we do not ask for). */
		struct rte_ipv4_hdr *fh = rte_pktmbuf_mtod(frags[i], struct rte_ipv4_hdr *);
		fh->hdr_checksum = 0;
		fh->hdr_checksum = rte_ipv4_cksum(fh);
		struct pkt_info fi = *info;
		fi.l3_offset = 0;
		fi.l3_length = (__u16)frags[i]->pkt_len;
		uint16_t grow = pkt_encap_headroom(&fi, p);
		uint8_t *frame = (uint8_t *)rte_pktmbuf_prepend(frags[i], grow);
		if (!frame) {
			rte_pktmbuf_free(frags[i]);
			w->counters[counter_drop(PKT_DROP_NO_ROOM)]++;
			continue;
		}
		pkt_encap_write(frame, &fi, p, hash);
		out->tx[slot][out->tx_count[slot]++] = frags[i];
	}
}

/*
 * A packet that would not fit the egress MTU once tunnelled: answered with
 * ICMP too-big, fragmented, or dropped (pkt_encap_check() says which). Off
 * the common path, so the full encapsulation parameters are built here
 * rather than for every packet.
 */
static void worker_forward_too_big(struct worker *w, const struct gen *g, struct rte_mbuf *m,
				   const struct gen_member *member, const struct pkt_info *info,
				   uint64_t nh, uint8_t slot, __u32 hash, __u32 id,
				   struct worker_out *out)
{
	const struct worker_shared *sh = w->shared;
	struct pkt_encap_params p = {
		.type = g->params.encap,
		.outer_family = member->family,
		.has_vlan = (info->flags & PKT_F_VLAN) != 0,
		.vlan_tci = info->vlan_tci,
		.mtu = sh->ports[slot].mtu,
		.gue_port = g->params.gue_port,
	};

	memcpy(p.src_mac, sh->ports[slot].mac.addr_bytes, 6);
	memcpy(p.dst_mac, &nh, 6);
	memcpy(p.outer_dst, member->addr, sizeof(p.outer_dst));
	if (member->family == FLOW_FAMILY_IPV4)
		p.outer_src[0] = g->params.encap_source_v4;
	else
		memcpy(p.outer_src, g->params.encap_source_v6, sizeof(p.outer_src));

	switch (pkt_encap_check(info, &p)) {
	case PKT_ENCAP_TOO_BIG_REPLY:
		worker_reply_too_big(w, m, info, &p, out);
		return;
	case PKT_ENCAP_TOO_BIG_FRAGMENT:
		worker_fragment(w, m, info, &p, slot, hash, id, out);
		return;
	default: /* an ICMP error is never answered with another */
		worker_drop(w, out, m, PKT_DROP_TOO_BIG);
		return;
	}
}

/*
 * Tunnels one VIP packet toward its backend, or answers or drops it. The
 * outer headers come from the member's template in the generation; only
 * the link layer (next hop, port, the packet's VLAN) and the packet's own
 * fields are written per packet.
 */
static inline void worker_forward(struct worker *w, const struct gen *g, struct rte_mbuf *m,
				  const struct gen_vip *vip, const struct pkt_info *info,
				  __u32 hash, __u64 fingerprint, struct worker_out *out)
{
	const struct worker_shared *sh = w->shared;
	__u32 id;
	const struct gen_member *member = worker_choose(w, g, vip, info, hash, fingerprint, &id);
	const struct pkt_encap_template *t;
	uint64_t nh;
	uint8_t slot;

	if (!member) {
		w->vip_drops_no_backend[vip->id]++;
		worker_drop(w, out, m, PKT_DROP_NO_BACKEND);
		return;
	}
	nh = __atomic_load_n(&sh->nexthops[member->nexthop].mac_word, __ATOMIC_RELAXED);
	if (!(nh >> 56)) {
		worker_drop(w, out, m, PKT_DROP_NO_ROUTE);
		return;
	}
	slot = (uint8_t)(nh >> 48);
	t = &g->encap[id];
	if (!t->length) { /* no tunnel source address of the backend's family */
		worker_drop(w, out, m, PKT_DROP_NO_ROUTE);
		return;
	}
	if (info->flags & PKT_F_ICMP_ERROR)
		w->counters[COUNTER_ICMP_FORWARDED]++;
	if ((uint32_t)t->length + info->l3_length > sh->ports[slot].mtu) {
		worker_forward_too_big(w, g, m, member, info, nh, slot, hash, id, out);
		return;
	}

	const uint8_t has_vlan = (info->flags & PKT_F_VLAN) != 0;
	const uint16_t l2_len = pkt_l2_length(has_vlan);
	uint8_t *frame = (uint8_t *)rte_pktmbuf_prepend(m, (uint16_t)(l2_len + t->length -
								      info->l3_offset));
	if (!frame) {
		worker_drop(w, out, m, PKT_DROP_NO_ROOM);
		return;
	}
	/* Nothing fails past this point. Counted before the write rather
	 * than after it, while id is still in a register. */
	worker_count_tunnelled(w, id, info->l3_length);
	pkt_encap_write_template(frame, info, t, (const uint8_t *)&nh,
				 sh->ports[slot].mac.addr_bytes, has_vlan, info->vlan_tci, hash);
	/* Drop Ethernet padding that followed a short datagram. */
	const uint32_t frame_len = (uint32_t)l2_len + t->length + info->l3_length;
	if (m->pkt_len > frame_len)
		rte_pktmbuf_trim(m, (uint16_t)(m->pkt_len - frame_len));
	out->tx[slot][out->tx_count[slot]++] = m;
}

void worker_process(struct worker *w, const struct gen *g, struct rte_mbuf **pkts, uint16_t n,
		    struct worker_out *out)
{
	struct pkt_info info[WORKER_BURST];
	const struct gen_vip *vip[WORKER_BURST];
	__u32 hash[WORKER_BURST];
	__u64 fingerprint[WORKER_BURST];
	uint64_t rx_bytes = 0;

	out->kernel_count = 0;
	out->drop_count = 0;
	memset(out->tx_count, 0, sizeof(out->tx_count[0]) * w->shared->port_count);
	for (uint16_t i = 0; i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));

	/* Pass 1: parse, find the VIP, start fetching the flow's bucket. */
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
		enum pkt_verdict verdict;

		rx_bytes += m->pkt_len;
		vip[i] = NULL;
		verdict = pkt_parse(data, data + m->data_len, &info[i]);
		if (verdict == PKT_VERDICT_DROP) {
			worker_drop(w, out, m, (enum pkt_drop_reason)info[i].drop_reason);
			continue;
		}
		if (verdict == PKT_VERDICT_CANDIDATE && g)
			vip[i] = gen_vip_find(g, &info[i].tuple, info[i].flags & PKT_F_FRAGMENT);
		if (!vip[i]) {
			out->kernel[out->kernel_count++] = m;
			continue;
		}
		enum pkt_drop_reason why = pkt_vip_check(&info[i]);
		if (why != PKT_DROP_NONE) {
			vip[i] = NULL;
			worker_drop(w, out, m, why);
			continue;
		}
		hash[i] = pkt_flow_hash(&info[i]);
		flow_table_prefetch(&w->flows, hash[i]);
		/* A SYN is looked up in flows, then inserted into new_flows
		 * (worker_choose): fetch that bucket too, or each SYN waits
		 * for it from memory in pass 2 (new flows ran at 5 - 8 Mpps
		 * instead of 12 - 14 on bench_worker without this). Other packets
		 * need new_flows only on a miss in flows, rare enough not to
		 * fetch for every one. */
		if (worker_is_syn(&info[i]))
			flow_table_prefetch(&w->new_flows, hash[i]);
		fingerprint[i] = flow_table_fingerprint(&info[i].tuple);
	}
	w->counters[COUNTER_RX_PACKETS] += n;
	w->counters[COUNTER_RX_BYTES] += rx_bytes;

	/* Pass 2: the buckets have had a pass to arrive; choose, rewrite,
	 * queue for transmission. */
	for (uint16_t i = 0; i < n; i++)
		if (vip[i])
			worker_forward(w, g, pkts[i], vip[i], &info[i], hash[i], fingerprint[i], out);
}

void worker_transmit(struct worker *w, struct worker_out *out)
{
	const struct worker_shared *sh = w->shared;

	for (uint16_t slot = 0; slot < sh->port_count; slot++) {
		uint16_t n = out->tx_count[slot], sent;
		uint64_t bytes = 0, unsent_bytes = 0;

		if (!n)
			continue;
		for (uint16_t i = 0; i < n; i++)
			bytes += out->tx[slot][i]->pkt_len;
		sent = rte_eth_tx_burst(sh->ports[slot].port_id, w->tx_queue, out->tx[slot], n);
		if (sent < n) {
			for (uint16_t i = sent; i < n; i++)
				unsent_bytes += out->tx[slot][i]->pkt_len;
			w->counters[counter_drop(PKT_DROP_TX_FULL)] += n - sent;
			rte_pktmbuf_free_bulk(&out->tx[slot][sent], n - sent);
		}
		w->counters[COUNTER_TX_PACKETS] += sent;
		w->counters[COUNTER_TX_BYTES] += bytes - unsent_bytes;
	}
	if (out->kernel_count) {
		unsigned int queued = rte_ring_sp_enqueue_burst(w->to_kernel, (void **)out->kernel,
								out->kernel_count, NULL);
		w->counters[COUNTER_KERNEL_PACKETS] += queued;
		if (queued < out->kernel_count) {
			w->counters[counter_drop(PKT_DROP_KERNEL_FULL)] += out->kernel_count - queued;
			rte_pktmbuf_free_bulk(&out->kernel[queued], out->kernel_count - queued);
		}
	}
	if (out->drop_count)
		rte_pktmbuf_free_bulk(out->drop, out->drop_count);
}

int worker_main(void *arg)
{
	struct worker *w = arg;
	struct worker_shared *sh = w->shared;
	struct rte_mbuf *pkts[WORKER_BURST];
	struct worker_out out;
	uint32_t idle_polls = 0;

	rte_rcu_qsbr_thread_register(sh->rcu, w->index);
	rte_rcu_qsbr_thread_online(sh->rcu, w->index);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
		const struct gen *g = __atomic_load_n(&sh->gen, __ATOMIC_ACQUIRE);
		int busy = 0;

		worker_clock(w, rte_rdtsc());
		for (uint16_t q = 0; q < w->rxq_count; q++) {
			uint16_t n = rte_eth_rx_burst(w->rxq[q].port_id, w->rxq[q].queue, pkts,
						      WORKER_BURST);
			if (!n)
				continue;
			busy = 1;
			worker_process(w, g, pkts, n, &out);
			worker_transmit(w, &out);
		}
		/* Done with g: the main lcore may free a generation once every
		 * worker has passed this point after the swap. */
		rte_rcu_qsbr_quiescent(sh->rcu, w->index);
		if (busy) {
			idle_polls = 0;
		} else if (sh->idle_sleep_us && ++idle_polls >= WORKER_IDLE_POLLS) {
			/* Offline while asleep, so a grace period never waits
			 * for an idle worker. */
			rte_rcu_qsbr_thread_offline(sh->rcu, w->index);
			rte_delay_us_sleep(sh->idle_sleep_us);
			rte_rcu_qsbr_thread_online(sh->rcu, w->index);
		}
	}
	rte_rcu_qsbr_thread_offline(sh->rcu, w->index);
	rte_rcu_qsbr_thread_unregister(sh->rcu, w->index);
	return 0;
}
