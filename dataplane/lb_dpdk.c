/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk, Fulcrum's DPDK dataplane.
 *
 *   lb-dpdk [-c FILE]
 *
 * Reads the dataplane section of FILE (EAL arguments, ports, queues, lcores,
 * mempool, flow table), opens the ports with a kernel exception interface
 * each, starts a worker per worker lcore and waits for lbd on the control
 * socket. The main lcore serves the control channel, moves exception
 * traffic between workers, kernel and wire, and keeps next hops resolved.
 * SIGINT / SIGTERM stop it cleanly: flow tables saved to the flow state
 * file for the next lb-dpdk (handover.c), ports closed, exception interfaces
 * and control socket removed.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "dataplane/eal.h"
#include "dataplane/lb_dpdk.h"

#define LB_DEFAULT_CONFIG   "/etc/fulcrum/fulcrum.conf"
#define LB_EAL_ARGS_MAX     (CONF_EAL_ARGS_MAX + 3 * CONF_DPDK_PORTS_MAX + 8)
#define LB_INDIRECT_MBUFS   4095
#define LB_NEXTHOP_REFRESH_MS   1000
#define LB_NEXTHOP_RETRY_MS     10
/* Room for the largest frame a port takes plus the tunnel headers added in
 * front of it: Ethernet, VLAN, IPv6, UDP, GUE. */
#define LB_FRAME_OVERHEAD (RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN + 40 + 8 + 4)

static volatile sig_atomic_t lb_stop;

static void lb_on_signal(int sig)
{
	(void)sig;
	lb_stop = 1;
}

static void lb_usage(FILE *out)
{
	fprintf(out, "usage: lb-dpdk [-c FILE]\n"
		     "  -c FILE  configuration file (default " LB_DEFAULT_CONFIG ")\n"
		     "  -h       this help\n"
		     "EAL arguments come from dataplane.dpdk.eal_args in FILE.\n");
}

static int lb_has_arg(const struct conf_dpdk *d, const char *a, const char *b)
{
	for (__u32 i = 0; i < d->eal_arg_count; i++)
		if (strcmp(d->eal_args[i], a) == 0 || (b && strncmp(d->eal_args[i], b, strlen(b)) == 0))
			return 1;
	return 0;
}

/*
 * The EAL command line: the configured arguments, the lcores (main + workers)
 * unless given, and each port's device. af_packet devices get as many queue
 * pairs as lb-dpdk uses TX queues (one per worker and one for the main
 * lcore) unless the device string says otherwise.
 */
static int lb_eal_argv(const struct conf *cfg, const char *argv0, char **argv, char *storage,
		       size_t storage_size)
{
	const struct conf_dpdk *d = &cfg->dataplane.dpdk;
	int argc = 0, pci = 0;
	size_t used = 0;

#define LB_ARG(...)                                                                        \
	do {                                                                               \
		int n_ = snprintf(storage + used, storage_size - used, __VA_ARGS__);       \
		if (n_ < 0 || (size_t)n_ >= storage_size - used || argc >= LB_EAL_ARGS_MAX) \
			return -E2BIG;                                                     \
		argv[argc++] = storage + used;                                             \
		used += (size_t)n_ + 1;                                                    \
	} while (0)

	LB_ARG("%s", argv0);
	for (__u32 i = 0; i < d->eal_arg_count; i++)
		LB_ARG("%s", d->eal_args[i]);
	if (!lb_has_arg(d, "-l", "--lcores") && !lb_has_arg(d, "-c", NULL)) {
		/* The main lcore: the lowest CPU no worker uses. */
		unsigned main_lcore = 0;
		for (int again = 1; again;) {
			again = 0;
			for (__u32 w = 0; w < d->worker_lcore_count; w++)
				if (d->worker_lcores[w] == main_lcore) {
					main_lcore++;
					again = 1;
				}
		}
		char list[CONF_LCORES_MAX * 6 + 8];
		size_t off = (size_t)snprintf(list, sizeof(list), "%u", main_lcore);
		for (__u32 w = 0; w < d->worker_lcore_count; w++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, ",%u",
						d->worker_lcores[w]);
		LB_ARG("-l");
		LB_ARG("%s", list);
		LB_ARG("--main-lcore=%u", main_lcore);
	}
	for (__u32 p = 0; p < d->port_count; p++) {
		const char *dev = d->ports[p].device;
		if (strncmp(dev, "net_", 4) == 0) {
			unsigned queues = d->worker_lcore_count + 1;
			if (d->ports[p].rx_queues > queues)
				queues = d->ports[p].rx_queues;
			if (strncmp(dev, "net_af_packet", 13) == 0 && !strstr(dev, "qpairs="))
				LB_ARG("--vdev=%s,qpairs=%u", dev, queues);
			else
				LB_ARG("--vdev=%s", dev);
		} else {
			LB_ARG("-a");
			LB_ARG("%s", dev);
			pci = 1;
		}
	}
	if (!pci && !lb_has_arg(d, "--no-pci", NULL) && !lb_has_arg(d, "-a", "--allow"))
		LB_ARG("--no-pci");
#undef LB_ARG
	argv[argc] = NULL;
	return argc;
}

static int lb_start_workers(struct lb_dpdk *lb, int socket)
{
	const struct conf_dpdk *d = &lb->conf->dataplane.dpdk;
	size_t rcu_size;
	int rc;

	lb->worker_count = (uint16_t)d->worker_lcore_count;
	for (uint16_t w = 0; w < lb->worker_count; w++) {
		unsigned lcore = d->worker_lcores[w];
		if (!rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore()) {
			LB_LOG(ERR, "worker lcore %u is not an EAL worker lcore (check -l in eal_args)",
			       lcore);
			return -EINVAL;
		}
	}
	/* The pollers of ports: the workers, and the main lcore as thread
	 * worker_count (online only while it moves exception traffic). */
	rcu_size = rte_rcu_qsbr_get_memsize(lb->worker_count + 1);
	lb->shared.rcu = rte_zmalloc("fulcrum_rcu", rcu_size, RTE_CACHE_LINE_SIZE);
	lb->workers = rte_zmalloc("fulcrum_workers", sizeof(*lb->workers) * lb->worker_count,
				  RTE_CACHE_LINE_SIZE);
	if (!lb->shared.rcu || !lb->workers)
		return -ENOMEM;
	rte_rcu_qsbr_init(lb->shared.rcu, lb->worker_count + 1);
	rte_rcu_qsbr_thread_register(lb->shared.rcu, lb->worker_count);
	unmap_guard_init(lb->shared.rcu);
	for (uint16_t w = 0; w < lb->worker_count; w++) {
		rc = worker_init(&lb->workers[w], w, &lb->shared,
				 lb->conf->dataplane.flow_table_size,
				 conf_new_flow_table_size(&lb->conf->dataplane), socket);
		if (rc) {
			LB_LOG(ERR, "worker %u: flow tables of %u and %u entries: %s", w,
			       lb->conf->dataplane.flow_table_size,
			       conf_new_flow_table_size(&lb->conf->dataplane), strerror(-rc));
			return rc;
		}
		lb->workers[w].lcore_id = d->worker_lcores[w];
	}
	return 0;
}

/* Spreads every port's RX queues over the workers, round robin. */
static void lb_assign_queues(struct lb_dpdk *lb)
{
	uint32_t next = 0;

	for (uint16_t slot = 0; slot < lb->port_count; slot++) {
		for (uint16_t q = 0; q < lb->ports[slot].rx_queues; q++) {
			struct worker *w = &lb->workers[next++ % lb->worker_count];
			if (w->rxq_count < WORKER_RXQ_MAX)
				w->rxq[w->rxq_count++] =
					(struct worker_rxq){ lb->ports[slot].port_id, q };
		}
	}
}

static void lb_main_loop(struct lb_dpdk *lb)
{
	const uint64_t hz = rte_get_tsc_hz();
	uint64_t next_refresh = 0;
	struct epoll_event ev[8];

	while (!lb_stop) {
		int n = epoll_wait(lb->epoll_fd, ev, 8, 1);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == lb->listen_fd)
				control_accept(lb);
			else if (ev[i].data.fd == lb->client_fd)
				control_readable(lb);
		}
		/* Drain the exception path while there is anything to move:
		 * online meanwhile, since it sends on the ports (unmap_guard.c);
		 * offline for the rest, so that no grace period waits for the
		 * control channel. */
		rte_rcu_qsbr_thread_online(lb->shared.rcu, lb->worker_count);
		for (int round = 0; round < 64 && port_exception_poll(lb); round++)
			;
		rte_rcu_qsbr_thread_offline(lb->shared.rcu, lb->worker_count);
		uint64_t now = rte_rdtsc();
		if (now >= next_refresh || lb->nexthops_changed) {
			lb->nexthops_changed = 0;
			pthread_mutex_lock(&lb->lock);
			uint32_t unresolved = nexthop_refresh(lb->nexthops);
			pthread_mutex_unlock(&lb->lock);
			next_refresh = now + hz * (unresolved ? LB_NEXTHOP_RETRY_MS
							      : LB_NEXTHOP_REFRESH_MS) / 1000;
		}
	}
}

int main(int argc, char **argv)
{
	static struct lb_dpdk lb;
	const char *path = LB_DEFAULT_CONFIG;
	struct conf_errors errors;
	char *eal_argv[LB_EAL_ARGS_MAX + 1];
	char eal_storage[8192];
	int opt, eal_argc, rc = 1, socket;

	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			lb_usage(stdout);
			return 0;
		default:
			lb_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		lb_usage(stderr);
		return 2;
	}
	lb.conf = conf_load(path, &errors);
	if (!lb.conf) {
		for (__u32 i = 0; i < errors.count; i++)
			fprintf(stderr, "%s\n", errors.messages[i]);
		fprintf(stderr, "lb-dpdk: %s: configuration is not valid\n", path);
		return 1;
	}
	if (!lb.conf->dataplane.dpdk.present) {
		fprintf(stderr, "lb-dpdk: %s: no dataplane.dpdk group\n", path);
		return 1;
	}
	eal_argc = lb_eal_argv(lb.conf, argv[0], eal_argv, eal_storage, sizeof(eal_storage));
	if (eal_argc < 0) {
		fprintf(stderr, "lb-dpdk: EAL arguments too long\n");
		return 1;
	}
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "lb-dpdk: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	signal(SIGINT, lb_on_signal);
	signal(SIGTERM, lb_on_signal);
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&lb.lock, NULL);
	lb.listen_fd = -1;
	lb.client_fd = -1;
	lb.shared.idle_sleep_us = lb.conf->dataplane.dpdk.idle_sleep_us;
	socket = (int)rte_socket_id();

	/* At least DPDK's default: af_packet, for one, wants whole 2 KiB frames. */
	uint32_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
	for (__u32 p = 0; p < lb.conf->dataplane.dpdk.port_count; p++) {
		uint32_t need = RTE_PKTMBUF_HEADROOM + lb.conf->dataplane.dpdk.ports[p].mtu +
				LB_FRAME_OVERHEAD;
		if (need > data_room)
			data_room = need;
	}
	lb.shared.pool = rte_pktmbuf_pool_create("fulcrum_mbufs", lb.conf->dataplane.dpdk.mbufs,
						 lb.conf->dataplane.dpdk.mbuf_cache, 0,
						 (uint16_t)data_room, socket);
	lb.shared.indirect_pool =
		rte_pktmbuf_pool_create("fulcrum_indirect", LB_INDIRECT_MBUFS, 32, 0, 0, socket);
	if (!lb.shared.pool || !lb.shared.indirect_pool) {
		LB_LOG(ERR, "mempool of %u mbufs: %s", lb.conf->dataplane.dpdk.mbufs,
		       rte_strerror(rte_errno));
		goto out;
	}
	if (lb_start_workers(&lb, socket) || port_setup_all(&lb, lb.shared.pool))
		goto out;
	lb_assign_queues(&lb);

	int tap_ifindex[WORKER_PORTS_MAX];
	for (uint16_t s = 0; s < lb.port_count; s++)
		tap_ifindex[s] = lb.ports[s].tap_ifindex;
	lb.nexthops = nexthop_table_create(&lb.shared, tap_ifindex, lb.port_count,
					   lb.conf->dataplane.has_gateway_mac
						   ? lb.conf->dataplane.gateway_mac
						   : NULL);
	/* Before lbd can connect: the file is checked (and a bad one set
	 * aside) at start, its flows wait for the first generation. */
	handover_load(&lb);
	lb.registry = gen_registry_create();
	lb.vip_base = calloc(GEN_VIPS_MAX, sizeof(*lb.vip_base));
	lb.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (!lb.nexthops || !lb.registry || !lb.vip_base || lb.epoll_fd < 0 || control_listen(&lb))
		goto out;
	telemetry_register(&lb);

	for (uint16_t w = 0; w < lb.worker_count; w++)
		rte_eal_remote_launch(worker_main, &lb.workers[w], lb.workers[w].lcore_id);
	LB_LOG(INFO, "running: %u workers, %u ports, per worker a flow table of %u entries and "
		     "%u for new flows",
	       lb.worker_count, lb.port_count, lb.workers[0].flows.capacity,
	       lb.workers[0].new_flows.capacity);
	lb_main_loop(&lb);
	LB_LOG(INFO, "stopping");
	rc = 0;
out:
	__atomic_store_n(&lb.shared.stop, true, __ATOMIC_RELAXED);
	rte_eal_mp_wait_lcore();
	unmap_guard_fini(); /* no poller left to wait for */
	/* A graceful stop only (the tables are still now, the workers gone):
	 * a failed start has no flows, and a crash never gets here. */
	if (rc == 0)
		handover_save(&lb);
	handover_fini(&lb);
	if (lb.listen_fd >= 0)
		control_close(&lb);
	port_close_all(&lb);
	nexthop_table_destroy(lb.nexthops);
	gen_destroy(lb.shared.gen);
	gen_registry_destroy(lb.registry);
	free(lb.vip_base);
	for (uint16_t w = 0; lb.workers && w < lb.worker_count; w++)
		worker_fini(&lb.workers[w]);
	if (lb.epoll_fd > 0)
		close(lb.epoll_fd);
	eal_cleanup_all();
	conf_destroy(lb.conf);
	return rc;
}
