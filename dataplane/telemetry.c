/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's state through DPDK telemetry (dpdk-telemetry.py, or any client
 * of the telemetry socket):
 *
 *   /fulcrum/stats     counters summed over lcores, generation, flows
 *   /fulcrum/workers   per worker: lcore, queues, packets, flows
 *   /fulcrum/vips      per VIP: key, table size, backends ready / draining
 *   /fulcrum/nexthops  per backend address: next hop, port, MAC
 *
 * Callbacks run on DPDK's telemetry thread and take lb->lock, which the
 * main lcore holds while it replaces what they read.
 */
#include <stdio.h>
#include <string.h>

#include <rte_telemetry.h>

#include "dataplane/lb_dpdk.h"

static struct lb_dpdk *telemetry_lb;

static int telemetry_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct lb_dpdk *lb = telemetry_lb;
	uint64_t counters[COUNTER_COUNT], flows = 0, capacity = 0;

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
	}
	rte_tel_data_add_dict_u64(d, "flows", flows);
	rte_tel_data_add_dict_u64(d, "flow_capacity", capacity);
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
}
