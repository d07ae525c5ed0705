/* SPDX-License-Identifier: BSD-3-Clause */
/* The running configuration as a file (controlplane/config_dump.h). */
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/config_dump.h"

static void config_dump_int(config_setting_t *g, const char *key, long long v)
{
	config_setting_set_int(config_setting_add(g, key, CONFIG_TYPE_INT), (int)v);
}

static void config_dump_str(config_setting_t *g, const char *key, const char *v)
{
	config_setting_set_string(config_setting_add(g, key, CONFIG_TYPE_STRING), v);
}

static void config_dump_addr(config_setting_t *g, const char *key, const struct conf_addr *a)
{
	char buf[64];

	if (a->family)
		config_dump_str(g, key, conf_fmt_addr(a, buf, sizeof(buf)));
}

static void config_dump_health(config_setting_t *parent, const char *key,
			       const struct conf_health *h)
{
	config_setting_t *g = config_setting_add(parent, key, CONFIG_TYPE_GROUP);

	config_dump_str(g, "type", conf_health_type_names[h->type]);
	config_dump_int(g, "interval_ms", h->interval_ms);
	config_dump_int(g, "fast_interval_ms", h->fast_interval_ms);
	config_dump_int(g, "down_interval_ms", h->down_interval_ms);
	config_dump_int(g, "timeout_ms", h->timeout_ms);
	config_dump_int(g, "rise", h->rise);
	config_dump_int(g, "fall", h->fall);
	config_dump_int(g, "jitter_pct", h->jitter_pct);
	config_dump_int(g, "port", h->port);
	config_dump_str(g, "http_path", h->http_path);
	config_dump_str(g, "http_host", h->http_host);
	config_setting_t *expect = config_setting_add(g, "http_expect", CONFIG_TYPE_ARRAY);
	for (__u32 i = 0; i < h->http_expect_count; i++)
		config_setting_set_int_elem(expect, -1, h->http_expect[i]);
	config_dump_int(g, "agent_port", h->agent_port);
	config_dump_int(g, "agent_interval_ms", h->agent_interval_ms);
	config_dump_int(g, "agent_weight_step_pct", h->agent_weight_step_pct);
	config_dump_int(g, "agent_weight_interval_ms", h->agent_weight_interval_ms);
}

static void config_dump_dpdk(config_setting_t *dp, const struct conf_dpdk *d)
{
	config_setting_t *g = config_setting_add(dp, "dpdk", CONFIG_TYPE_GROUP);
	char buf[80];

	config_setting_t *eal = config_setting_add(g, "eal_args", CONFIG_TYPE_ARRAY);
	for (__u32 i = 0; i < d->eal_arg_count; i++)
		config_setting_set_string_elem(eal, -1, d->eal_args[i]);
	config_setting_t *lc = config_setting_add(g, "worker_lcores", CONFIG_TYPE_ARRAY);
	for (__u32 i = 0; i < d->worker_lcore_count; i++)
		config_setting_set_int_elem(lc, -1, d->worker_lcores[i]);
	config_dump_int(g, "mbufs", d->mbufs);
	config_dump_int(g, "mbuf_cache", d->mbuf_cache);
	config_dump_str(g, "control_socket", d->control_socket);
	config_dump_str(g, "flow_state_file", d->flow_state_file);
	config_dump_int(g, "idle_sleep_us", d->idle_sleep_us);
	config_setting_t *ports = config_setting_add(g, "ports", CONFIG_TYPE_LIST);
	for (__u32 i = 0; i < d->port_count; i++) {
		const struct conf_dpdk_port *p = &d->ports[i];
		config_setting_t *pg = config_setting_add(ports, NULL, CONFIG_TYPE_GROUP);
		config_dump_str(pg, "name", p->name);
		config_dump_str(pg, "device", p->device);
		config_dump_int(pg, "rx_queues", p->rx_queues);
		config_dump_int(pg, "rx_desc", p->rx_desc);
		config_dump_int(pg, "tx_desc", p->tx_desc);
		config_dump_int(pg, "mtu", p->mtu);
		config_setting_t *addrs = config_setting_add(pg, "addresses", CONFIG_TYPE_ARRAY);
		for (__u32 k = 0; k < p->address_count; k++) {
			char a[64];
			conf_fmt_addr(&p->addresses[k].addr, a, sizeof(a));
			snprintf(buf, sizeof(buf), "%s/%u", a, p->addresses[k].length);
			config_setting_set_string_elem(addrs, -1, buf);
		}
	}
}

static void config_dump_dataplane(config_setting_t *root, const struct conf_dataplane *d)
{
	static const char *const modes[] = { "auto", "dpdk", "xdp" };
	config_setting_t *g = config_setting_add(root, "dataplane", CONFIG_TYPE_GROUP);

	config_dump_str(g, "mode", modes[d->mode]);
	config_dump_str(g, "encap", d->encap == PKT_ENCAP_GUE ? "gue" : "ipip");
	config_dump_int(g, "gue_port", d->gue_port);
	config_dump_addr(g, "encap_source_v4", &d->encap_source_v4);
	config_dump_addr(g, "encap_source_v6", &d->encap_source_v6);
	config_dump_int(g, "flow_table_size", d->flow_table_size);
	if (d->new_flow_table_size) /* else derived from flow_table_size: keep it so */
		config_dump_int(g, "new_flow_table_size", d->new_flow_table_size);
	config_dump_int(g, "tcp_idle_timeout_s", d->tcp_idle_timeout_s);
	config_dump_int(g, "udp_idle_timeout_s", d->udp_idle_timeout_s);
	if (d->has_gateway_mac) {
		char mac[18];
		const __u8 *m = d->gateway_mac;
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
			 m[4], m[5]);
		config_dump_str(g, "gateway_mac", mac);
	}
	if (d->dpdk.present)
		config_dump_dpdk(g, &d->dpdk);
	if (d->xdp.present) {
		config_setting_t *x = config_setting_add(g, "xdp", CONFIG_TYPE_GROUP);
		config_setting_t *ifs = config_setting_add(x, "interfaces", CONFIG_TYPE_ARRAY);
		for (__u32 i = 0; i < d->xdp.interface_count; i++)
			config_setting_set_string_elem(ifs, -1, d->xdp.interfaces[i]);
		config_dump_str(x, "attach_mode", d->xdp.generic ? "generic" : "native");
		config_dump_str(x, "pin_path", d->xdp.pin_path);
		config_dump_int(x, "members_max", d->xdp.members_max);
	}
}

static void config_dump_vip(config_setting_t *list, const struct model_vip *v)
{
	config_setting_t *g = config_setting_add(list, NULL, CONFIG_TYPE_GROUP);

	config_dump_str(g, "name", v->name);
	config_dump_str(g, "protocol", v->proto == PKT_PROTO_UDP ? "udp" : "tcp");
	config_dump_addr(g, "address", &v->addr);
	config_dump_int(g, "port", v->port);
	config_dump_int(g, "table_size", v->table_size);
	config_dump_int(g, "min_up", v->min_up);
	config_dump_health(g, "health", &v->health);
	config_setting_t *backends = config_setting_add(g, "backends", CONFIG_TYPE_LIST);
	for (__u32 i = 0; i < v->backend_count; i++) {
		const struct model_backend *b = v->backends[i];
		if (b->deleted)
			continue;
		enum conf_admin_state state = b->admin[MODEL_BY_CONFIG];
		if (b->admin[MODEL_BY_OPERATOR] > state)
			state = b->admin[MODEL_BY_OPERATOR];
		if (b->admin[MODEL_BY_SCALER] > state)
			state = b->admin[MODEL_BY_SCALER];
		config_setting_t *bg = config_setting_add(backends, NULL, CONFIG_TYPE_GROUP);
		config_dump_str(bg, "name", b->name);
		config_dump_addr(bg, "address", &b->addr);
		config_dump_int(bg, "port", b->port);
		config_dump_int(bg, "weight", b->weight);
		config_dump_str(bg, "state", model_admin_name(state));
	}
}

int config_dump(const struct conf *cfg, const struct model *m, char **text, char *err,
		size_t err_size)
{
	static const char *const levels[] = { "error", "warning", "info", "debug" };
	config_t lc;
	size_t size = 0;
	FILE *out;

	*text = NULL;
	config_init(&lc);
	config_setting_t *root = config_root_setting(&lc);
	config_setting_t *g = config_setting_add(root, "global", CONFIG_TYPE_GROUP);
	config_dump_str(g, "control_socket", cfg->global.control_socket);
	config_dump_str(g, "control_socket_group", cfg->global.control_socket_group.name);
	config_dump_str(g, "readonly_socket", cfg->global.readonly_socket);
	config_dump_str(g, "readonly_socket_group", cfg->global.readonly_socket_group.name);
	config_dump_str(g, "state_file", cfg->global.state_file);
	config_dump_str(g, "metrics_listen", cfg->global.metrics_listen);
	config_dump_str(g, "log_level", levels[cfg->global.log_level]);
	config_dump_dataplane(root, &cfg->dataplane);
	if (cfg->announce.enabled) {
		config_setting_t *a = config_setting_add(root, "announce", CONFIG_TYPE_GROUP);
		config_dump_str(a, "device", cfg->announce.device);
		config_dump_int(a, "table", cfg->announce.table);
		config_dump_int(a, "route_protocol", cfg->announce.route_protocol);
	}
	config_dump_health(root, "health_defaults", &m->health_defaults);
	config_setting_t *vips = config_setting_add(root, "vips", CONFIG_TYPE_LIST);
	for (__u32 i = 0; i < m->vip_count; i++)
		if (!m->vips[i]->deleted)
			config_dump_vip(vips, m->vips[i]);

	out = open_memstream(text, &size);
	if (!out) {
		config_destroy(&lc);
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	fprintf(out, "# The running configuration of lbd (lbctl config show), run-time changes\n"
		     "# included. It reads back as the same configuration.\n");
	config_write(&lc, out);
	fclose(out);
	config_destroy(&lc);
	return 0;
}
