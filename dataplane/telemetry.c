/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's state through DPDK telemetry (dpdk-telemetry.py, or any client
 * of the telemetry socket):
 *
 *   /fulcrum/stats     counters summed over lcores, generation, flows, what
 *                      became of the flow state file at start
 *   /fulcrum/workers   per worker: lcore, queues, packets, flows
 *   /fulcrum/vips      per VIP: key, table size, backends ready / draining
 *   /fulcrum/nexthops  per backend address: next hop, port, MAC
 *   /fulcrum/vip_stats per VIP: packets, bytes, new and active flows, drops
 *                      for want of a backend
 *   /fulcrum/members   per backend of each VIP (or of the VIP named by the
 *                      parameter), keyed VIP/rank: address, port, state,
 *                      packets, bytes, new and active flows
 *
 * The last two show the channel's MEMBERS message (lb_members_collect()),
 * so lbd and telemetry cannot disagree. DPDK's telemetry socket cuts an
 * answer at 16 KiB: name a VIP to see all of its backends.
 *
 * Callbacks run on DPDK's telemetry thread and take lb->lock, which the
 * main lcore holds while it replaces what they read.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

#include "dataplane/lb_dpdk.h"

static struct lb_dpdk *telemetry_lb;

static int telemetry_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct lb_dpdk *lb = telemetry_lb;
	uint64_t counters[COUNTER_COUNT], flows = 0, capacity = 0, new_flows = 0, new_capacity = 0;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&lb->lock);
	lb_counters_sum(lb, counters);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "generation", lb->shared.gen ? lb->shared.gen->id : 0);
	rte_tel_data_add_dict_int(d, "lbd_connected", lb->client_fd >= 0);
	rte_tel_data_add_dict_int(d, "workers", lb->worker_count);
	for (uint16_t w = 0; w < lb->worker_count; w++) {
		flows += flow_table_count_live(&lb->workers[w].flows, lb->workers[w].now_s);
		capacity += lb->workers[w].flows.capacity;
		new_flows += flow_table_count_live(&lb->workers[w].new_flows, lb->workers[w].now_s);
		new_capacity += lb->workers[w].new_flows.capacity;
	}
	rte_tel_data_add_dict_u64(d, "flows", flows);
	rte_tel_data_add_dict_u64(d, "flow_capacity", capacity);
	rte_tel_data_add_dict_u64(d, "new_flows", new_flows);
	rte_tel_data_add_dict_u64(d, "new_flow_capacity", new_capacity);
	/* What this start made of the flow state file (handover.c). */
	const struct lb_handover *h = &lb->handover;
	rte_tel_data_add_dict_string(d, "flow_state", h->outcome ? h->outcome : "off");
	rte_tel_data_add_dict_u64(d, "flow_state_file_flows", h->file_flows);
	rte_tel_data_add_dict_u64(d, "flows_restored", h->restored.restored);
	rte_tel_data_add_dict_u64(d, "flows_restore_dropped_vip_gone", h->restored.vip_gone);
	rte_tel_data_add_dict_u64(d, "flows_restore_dropped_backend_gone",
				  h->restored.backend_gone);
	rte_tel_data_add_dict_u64(d, "flows_restore_dropped_expired", h->restored.expired);
	rte_tel_data_add_dict_u64(d, "flows_restore_dropped_collided", h->restored.collided);
	rte_tel_data_add_dict_u64(d, "flows_restore_dropped_geometry", h->unplaced);
	for (uint32_t c = 0; c < COUNTER_COUNT; c++)
		if (c != COUNTER_DROP_BASE) /* "drop_none" is never counted */
			rte_tel_data_add_dict_u64(d, counter_name(c), counters[c]);
	pthread_mutex_unlock(&lb->lock);
	return 0;
}

static int telemetry_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct lb_dpdk *lb = telemetry_lb;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (uint16_t w = 0; w < lb->worker_count && w < RTE_TEL_MAX_DICT_ENTRIES; w++) {
		const struct worker *wk = &lb->workers[w];
		struct rte_tel_data *c = rte_tel_data_alloc();
		uint64_t drops = 0;
		char name[32];

		if (!c)
			return -ENOMEM;
		for (uint32_t r = 1; r < PKT_DROP_REASON_COUNT; r++)
			drops += wk->counters[counter_drop(r)];
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_int(c, "lcore", (int)wk->lcore_id);
		rte_tel_data_add_dict_int(c, "rx_queues", wk->rxq_count);
		rte_tel_data_add_dict_u64(c, "rx_packets", wk->counters[COUNTER_RX_PACKETS]);
		rte_tel_data_add_dict_u64(c, "tx_packets", wk->counters[COUNTER_TX_PACKETS]);
		rte_tel_data_add_dict_u64(c, "kernel_packets", wk->counters[COUNTER_KERNEL_PACKETS]);
		rte_tel_data_add_dict_u64(c, "drops", drops);
		rte_tel_data_add_dict_u64(c, "flows", flow_table_count_live(&wk->flows, wk->now_s));
		rte_tel_data_add_dict_u64(c, "flow_capacity", wk->flows.capacity);
		rte_tel_data_add_dict_u64(c, "new_flows",
					  flow_table_count_live(&wk->new_flows, wk->now_s));
		rte_tel_data_add_dict_u64(c, "new_flow_capacity", wk->new_flows.capacity);
		snprintf(name, sizeof(name), "worker%u", w);
		rte_tel_data_add_dict_container(d, name, c, 0);
	}
	return 0;
}

static int telemetry_vips(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct lb_dpdk *lb = telemetry_lb;
	int rc = 0;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&lb->lock);
	rte_tel_data_start_dict(d);
	const struct gen *g = lb->shared.gen;
	for (uint32_t i = 0; g && i < g->vip_count && i < RTE_TEL_MAX_DICT_ENTRIES; i++) {
		const struct gen_vip *v = g->vips[i];
		struct rte_tel_data *c = rte_tel_data_alloc();
		char key[CHAN_VIP_KEY_TEXT];
		uint32_t ready = 0, drain = 0;

		if (!c) {
			rc = -ENOMEM;
			break;
		}
		for (uint32_t b = 0; b < v->backend_count; b++) {
			ready += v->backends[b].state == CHAN_BACKEND_READY;
			drain += v->backends[b].state == CHAN_BACKEND_DRAIN;
		}
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_string(c, "service", chan_fmt_vip_key(&v->key, key, sizeof(key)));
		rte_tel_data_add_dict_int(c, "table_size", (int)v->table_size);
		rte_tel_data_add_dict_int(c, "backends_ready", (int)ready);
		rte_tel_data_add_dict_int(c, "backends_draining", (int)drain);
		rte_tel_data_add_dict_container(d, v->name, c, 0);
	}
	pthread_mutex_unlock(&lb->lock);
	return rc;
}

static int telemetry_nexthops(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct lb_dpdk *lb = telemetry_lb;
	char line[RTE_TEL_MAX_STRING_LEN];

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&lb->lock);
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	for (uint32_t i = 0; i < RTE_TEL_MAX_ARRAY_ENTRIES &&
			     nexthop_describe(lb->nexthops, i, line, sizeof(line)) == 0;
	     i++)
		rte_tel_data_add_array_string(d, line);
	pthread_mutex_unlock(&lb->lock);
	return 0;
}

/*
 * A dict key for VIP i: its name when telemetry accepts it as a key (only
 * letters, digits, '_' and '/'), else "vip<i>".
 */
static const char *telemetry_vip_key(const struct gen_vip *v, uint32_t i, char *buf, size_t size)
{
	int valid = v->name[0] != '\0';

	for (const char *c = v->name; *c; c++)
		valid &= isalnum((unsigned char)*c) || *c == '_' || *c == '/';
	if (valid)
		return v->name;
	snprintf(buf, size, "vip%u", i);
	return buf;
}

/* The MEMBERS records of the generation in service; lb->lock held. */
static int telemetry_members_view(struct lb_dpdk *lb, void **payload,
				  struct chan_members_view *view)
{
	char err[128];
	__u32 length;

	*payload = lb_members_collect(lb, &length);
	if (!*payload)
		return -ENOMEM;
	if (chan_members_decode(*payload, length, view, err, sizeof(err))) {
		free(*payload);
		return -EINVAL;
	}
	return 0;
}

static int telemetry_vip_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct lb_dpdk *lb = telemetry_lb;
	struct chan_members_view view;
	void *payload;
	int rc;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&lb->lock);
	rc = telemetry_members_view(lb, &payload, &view);
	if (rc) {
		pthread_mutex_unlock(&lb->lock);
		return rc;
	}
	const struct gen *g = lb->shared.gen;
	const struct chan_member_stats *ms = view.members;
	rte_tel_data_start_dict(d);
	for (__u32 i = 0; i < view.head->vip_count; i++) {
		const struct chan_vip_stats *vs = &view.vips[i];
		const struct gen_vip *v = g->vips[i]; /* the records follow its order */
		struct rte_tel_data *c = i < RTE_TEL_MAX_DICT_ENTRIES ? rte_tel_data_alloc() : NULL;
		char key[CHAN_VIP_KEY_TEXT], name[32];
		uint64_t active = 0;

		for (__u32 b = 0; b < v->backend_count; b++, ms++)
			active += ms->flows_active;
		if (!c)
			continue;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_string(c, "service", chan_fmt_vip_key(&vs->key, key, sizeof(key)));
		rte_tel_data_add_dict_u64(c, "packets", vs->packets);
		rte_tel_data_add_dict_u64(c, "bytes", vs->bytes);
		rte_tel_data_add_dict_u64(c, "flows_new", vs->flows_new);
		rte_tel_data_add_dict_u64(c, "flows_active", active);
		rte_tel_data_add_dict_u64(c, "drops_no_backend", vs->drops_no_backend);
		rte_tel_data_add_dict_container(d, telemetry_vip_key(v, i, name, sizeof(name)), c, 0);
	}
	pthread_mutex_unlock(&lb->lock);
	free(payload);
	return 0;
}

/*
 * One dict per backend, keyed "<VIP>/<rank>" (rank: the backend's place in
 * the VIP's canonical order), since telemetry arrays cannot hold dicts and
 * dict keys cannot hold addresses.
 */
static int telemetry_members(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct lb_dpdk *lb = telemetry_lb;
	struct chan_members_view view;
	void *payload;
	__u32 shown = 0;
	int rc;

	(void)cmd;
	pthread_mutex_lock(&lb->lock);
	rc = telemetry_members_view(lb, &payload, &view);
	if (rc) {
		pthread_mutex_unlock(&lb->lock);
		return rc;
	}
	const struct gen *g = lb->shared.gen;
	const struct chan_member_stats *ms = view.members;
	rte_tel_data_start_dict(d);
	for (__u32 i = 0; i < view.head->vip_count; i++) {
		const struct gen_vip *v = g->vips[i];
		const int wanted = !params || !*params || strcmp(params, v->name) == 0;
		char buf[32];
		const char *vip_key = telemetry_vip_key(v, i, buf, sizeof(buf));
		for (__u32 b = 0; b < v->backend_count; b++, ms++) {
			char addr[INET6_ADDRSTRLEN], key[RTE_TEL_MAX_STRING_LEN];
			struct rte_tel_data *c;

			if (!wanted || shown == RTE_TEL_MAX_DICT_ENTRIES)
				continue;
			c = rte_tel_data_alloc();
			if (!c)
				continue;
			inet_ntop(ms->family == FLOW_FAMILY_IPV6 ? AF_INET6 : AF_INET, ms->addr, addr,
				  sizeof(addr));
			rte_tel_data_start_dict(c);
			rte_tel_data_add_dict_string(c, "vip", v->name);
			rte_tel_data_add_dict_string(c, "backend", addr);
			rte_tel_data_add_dict_int(c, "port", ntohs(ms->port));
			rte_tel_data_add_dict_string(c, "state",
						     ms->state == CHAN_BACKEND_DRAIN ? "drain" : "ready");
			rte_tel_data_add_dict_u64(c, "packets", ms->packets);
			rte_tel_data_add_dict_u64(c, "bytes", ms->bytes);
			rte_tel_data_add_dict_u64(c, "flows_new", ms->flows_new);
			rte_tel_data_add_dict_u64(c, "flows_active", ms->flows_active);
			snprintf(key, sizeof(key), "%s/%u", vip_key, b);
			rte_tel_data_add_dict_container(d, key, c, 0);
			shown++;
		}
	}
	pthread_mutex_unlock(&lb->lock);
	free(payload);
	return 0;
}

void telemetry_register(struct lb_dpdk *lb)
{
	telemetry_lb = lb;
	rte_telemetry_register_cmd("/fulcrum/stats", telemetry_stats,
				   "Counters summed over lcores, generation, flows. No parameters");
	rte_telemetry_register_cmd("/fulcrum/workers", telemetry_workers,
				   "Per worker lcore: queues, packets, drops, flows. No parameters");
	rte_telemetry_register_cmd("/fulcrum/vips", telemetry_vips,
				   "VIPs of the generation in service. No parameters");
	rte_telemetry_register_cmd("/fulcrum/nexthops", telemetry_nexthops,
				   "Next hop and MAC per backend address. No parameters");
	rte_telemetry_register_cmd("/fulcrum/vip_stats", telemetry_vip_stats,
				   "Per VIP: packets, bytes, new and active flows, no-backend drops. "
				   "No parameters");
	rte_telemetry_register_cmd("/fulcrum/members", telemetry_members,
				   "Per backend of each VIP: state, packets, bytes, new and active "
				   "flows. Parameter: a VIP name (optional)");
}
