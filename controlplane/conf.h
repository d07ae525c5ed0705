/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fulcrum's configuration: the libconfig file of config/fulcrum.conf, loaded
 * and validated into plain structs. Every rejection names file:line, the key
 * and the offending value; loading never stops at the first error, so an
 * operator sees them all at once (lbd -t).
 */
#ifndef FULCRUM_CONF_H
#define FULCRUM_CONF_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <linux/types.h>

#include "dataplane/pkt.h"

#define CONF_NAME_MAX        64
#define CONF_PATH_MAX        256
#define CONF_ERRORS_MAX      64
#define CONF_ERROR_LEN       320
#define CONF_HTTP_EXPECT_MAX 16
#define CONF_PORT_ADDRS_MAX  8
#define CONF_DPDK_PORTS_MAX  16
#define CONF_PORT_NAME_MAX   15 /* IFNAMSIZ - 1: the name of its kernel interface */
#define CONF_EAL_ARGS_MAX    32
#define CONF_LCORES_MAX      64
#define CONF_XDP_IFACES_MAX  16
#define CONF_WEIGHT_MAX      256

enum conf_mode { CONF_MODE_AUTO, CONF_MODE_DPDK, CONF_MODE_XDP };
/* Appended only: the state file and lbctl name them by conf_health_type_names. */
enum conf_health_type {
	CONF_HEALTH_NONE,
	CONF_HEALTH_TCP,
	CONF_HEALTH_HTTP,
	CONF_HEALTH_TCP_HALF_OPEN, /* a SYN from a raw socket; lbd needs CAP_NET_RAW */
	CONF_HEALTH_TYPES
};
enum conf_admin_state { CONF_ADMIN_READY, CONF_ADMIN_DRAIN, CONF_ADMIN_MAINT };
enum conf_log_level { CONF_LOG_ERROR, CONF_LOG_WARNING, CONF_LOG_INFO, CONF_LOG_DEBUG };

/* An IP address; family 0 means "not set". Network byte order. */
struct conf_addr {
	__u8 family; /* FLOW_FAMILY_IPV4 / FLOW_FAMILY_IPV6 */
	__be32 addr[4];
};

struct conf_prefix {
	struct conf_addr addr;
	__u8 length;
};

struct conf_health {
	enum conf_health_type type;
	__u32 interval_ms;      /* between checks while the state is steady and up */
	__u32 fast_interval_ms; /* while a state change is being confirmed */
	__u32 down_interval_ms; /* while down */
	__u32 timeout_ms;
	__u32 rise, fall;       /* consecutive results that change the state */
	__u32 jitter_pct;       /* random spread of each interval, in percent */
	__u16 port;             /* 0: the backend's port */
	char http_path[CONF_PATH_MAX];
	char http_host[CONF_PATH_MAX]; /* empty: the backend's address */
	__u16 http_expect[CONF_HTTP_EXPECT_MAX];
	__u32 http_expect_count;
	__u16 agent_port; /* 0: no agent check */
	__u32 agent_interval_ms;
	/* Agent percentages are rounded to this step, and a VIP's table is
	 * rebuilt for weight changes at most once per interval: each rebuild
	 * moves new flows, so load wiggles must not cause a stream of them. */
	__u32 agent_weight_step_pct;
	__u32 agent_weight_interval_ms;
};

struct conf_backend {
	char name[CONF_NAME_MAX];
	struct conf_addr addr;
	__u16 port; /* host order */
	__u32 weight;
	enum conf_admin_state state;
	int line;
};

struct conf_vip {
	char name[CONF_NAME_MAX];
	__u8 proto; /* PKT_PROTO_TCP / PKT_PROTO_UDP */
	struct conf_addr addr;
	__u16 port; /* host order */
	__u32 table_size;
	__u32 min_up;
	struct conf_health health;
	struct conf_backend *backends;
	__u32 backend_count;
	int line;
};

struct conf_dpdk_port {
	char name[CONF_NAME_MAX];
	char device[CONF_PATH_MAX]; /* PCI address, or a virtual device's devargs */
	__u16 rx_queues; /* TX queues are one per worker plus one for the main lcore */
	__u16 rx_desc, tx_desc;
	__u16 mtu;
	struct conf_prefix addresses[CONF_PORT_ADDRS_MAX];
	__u32 address_count;
};

struct conf_dpdk {
	bool present;
	char *eal_args[CONF_EAL_ARGS_MAX];
	__u32 eal_arg_count;
	__u16 worker_lcores[CONF_LCORES_MAX];
	__u32 worker_lcore_count;
	__u32 mbufs;
	__u32 mbuf_cache;
	__u32 idle_sleep_us; /* workers pause this long after idle polls; 0 = busy poll */
	char control_socket[CONF_PATH_MAX];
	/* Where lb-dpdk saves its flow tables when stopped and restores them
	 * from at start (dataplane/flow_state.h); "" = off. */
	char flow_state_file[CONF_PATH_MAX];
	struct conf_dpdk_port ports[CONF_DPDK_PORTS_MAX];
	__u32 port_count;
};

struct conf_xdp {
	bool present;
	char interfaces[CONF_XDP_IFACES_MAX][16];
	__u32 interface_count;
	bool generic; /* attach_mode = "generic" */
	char pin_path[CONF_PATH_MAX];
	__u32 members_max; /* (VIP, backend) ids the maps hold */
};

struct conf_dataplane {
	enum conf_mode mode;
	enum pkt_encap_type encap;
	__u16 gue_port;
	struct conf_addr encap_source_v4, encap_source_v6;
	__u32 flow_table_size;
	__u32 new_flow_table_size; /* conf_new_flow_table_size(): 0 = derived */
	__u32 tcp_idle_timeout_s, udp_idle_timeout_s;
	bool has_gateway_mac;
	__u8 gateway_mac[6];
	struct conf_dpdk dpdk;
	struct conf_xdp xdp;
};

/* Entries of a worker's (or CPU's) table of new flows: as configured, else
 * an eighth of the flow table, at least 1024. */
static inline __u32 conf_new_flow_table_size(const struct conf_dataplane *d)
{
	if (d->new_flow_table_size)
		return d->new_flow_table_size;
	return flow_new_table_size_default(d->flow_table_size);
}

/* A group that may use a control socket: its name and id (resolved when
 * the file is loaded, so a typo is an error at its line). */
struct conf_group {
	char name[64]; /* "" = none: only root and lbd's own user */
	__u32 gid;
};

struct conf_global {
	char control_socket[CONF_PATH_MAX];
	struct conf_group control_socket_group;
	char readonly_socket[CONF_PATH_MAX]; /* "" = none; default: see below */
	struct conf_group readonly_socket_group;
	char state_file[CONF_PATH_MAX];
	char metrics_listen[CONF_PATH_MAX]; /* as written; "" = no endpoint */
	struct conf_addr metrics_addr;      /* parsed from metrics_listen */
	__u16 metrics_port;                 /* 0 = no endpoint */
	enum conf_log_level log_level;
};

/*
 * Announcing the VIPs to a routing daemon (README "Scale-out"): lbd puts one
 * kernel route per announced VIP address into a routing table of its own,
 * on a TUN device that exists only while lbd's descriptor is open, and the
 * routing daemon (BIRD) learns that table and announces it with BGP.
 */
struct conf_announce {
	bool enabled;
	char device[16];       /* the TUN device's name (IFNAMSIZ) */
	__u32 table;           /* the kernel routing table the routes go to */
	__u32 route_protocol;  /* rtm_protocol of the routes (/etc/iproute2/rt_protos) */
	int line;
};

struct conf {
	char source[CONF_PATH_MAX];
	struct conf_global global;
	struct conf_dataplane dataplane;
	struct conf_announce announce;
	struct conf_health health_defaults;
	struct conf_vip *vips;
	__u32 vip_count;
};

/* What went wrong, one "file:line: key: message" line each. */
struct conf_errors {
	char messages[CONF_ERRORS_MAX][CONF_ERROR_LEN];
	__u32 count;
	__u32 dropped; /* errors beyond CONF_ERRORS_MAX, counted only */
};

/*
 * Reads and validates the file at path. Returns a new config, or NULL with
 * errno set (EINVAL: the file is invalid, errors holds every message; ENOMEM)
 * and nothing else changed — a caller keeps running its old config.
 */
/*
 * The read-only socket's default, beside the control socket: "X.sock" gives
 * "X-ro.sock", anything else "X-ro" (or "" when that would not fit
 * sun_path). lbctl derives its -r default from -s the same way.
 */
static inline void conf_readonly_socket_default(const char *control_socket, char *out,
						size_t size)
{
	size_t len = strlen(control_socket);

	if (len >= 5 && strcmp(control_socket + len - 5, ".sock") == 0)
		snprintf(out, size, "%.*s-ro.sock", (int)(len - 5), control_socket);
	else
		snprintf(out, size, "%s-ro", control_socket);
	if (strlen(out) >= 108)
		out[0] = '\0'; /* no room in sun_path for it: none by default */
}

struct conf *conf_load(const char *path, struct conf_errors *errors);

/*
 * The same for a whole file's text already in memory (the fuzzer's entry
 * point; no file is opened, except by an @include in text). name stands for
 * the file in messages and in cfg->source.
 */
struct conf *conf_load_string(const char *text, const char *name, struct conf_errors *errors);

void conf_destroy(struct conf *cfg);

/*
 * Whether two dataplane sections agree on everything that applies only when
 * the dataplane starts: mode, flow table size, gateway MAC, the dpdk group
 * (lb-dpdk reads it) and the xdp group (lbd loads the program with it).
 */
bool conf_dataplane_restart_equal(const struct conf_dataplane *a, const struct conf_dataplane *b);

/* Total backends over all VIPs. */
__u32 conf_backend_count(const struct conf *cfg);

/* Text of an address (INET6_ADDRSTRLEN bytes is enough). */
const char *conf_fmt_addr(const struct conf_addr *a, char *buf, __u32 size);

/* Parses an IPv4 or IPv6 address. Returns 0 or -EINVAL. */
int conf_parse_addr(const char *text, struct conf_addr *out);

/* The names of the health check types in the configuration, the state
 * file and lbctl, by enum conf_health_type; NULL-terminated. */
extern const char *const conf_health_type_names[CONF_HEALTH_TYPES + 1];

#endif /* FULCRUM_CONF_H */
