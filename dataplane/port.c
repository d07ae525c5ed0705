/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's ports and their exception path. Each configured port gets a
 * kernel TAP interface named after it, with the port's MAC, MTU and
 * addresses: the kernel answers ARP and ND for the port's addresses, speaks
 * BGP and SSH, sends health checks, and resolves next hops, while the
 * workers keep the VIP traffic. Frames the workers do not want reach the
 * TAP through per-worker rings; frames the kernel sends leave through the
 * port on the main lcore's own TX queue.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>

#include "dataplane/lb_dpdk.h"
#include "dataplane/nl.h"

#define PORT_TAP_QUEUE_DESC 1024

/* The ethdev name of a configured device: a vdev's name before its first
 * comma, or the PCI address. */
static void port_dev_name(const char *device, char *name, size_t size)
{
	size_t n = strcspn(device, ",");

	if (n >= size)
		n = size - 1;
	memcpy(name, device, n);
	name[n] = '\0';
}

static int port_configure(uint16_t port_id, uint16_t rx_queues, uint16_t tx_queues,
			  uint16_t rx_desc, uint16_t tx_desc, uint16_t mtu,
			  struct rte_mempool *pool, const char *what)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	int socket = rte_eth_dev_socket_id(port_id);
	int rc;

	if (socket < 0)
		socket = SOCKET_ID_ANY;
	rc = rte_eth_dev_info_get(port_id, &info);
	if (rc)
		return rc;
	if (rx_queues > info.max_rx_queues || tx_queues > info.max_tx_queues) {
		LB_LOG(ERR, "%s: needs %u RX and %u TX queues, device has %u and %u", what,
		       rx_queues, tx_queues, info.max_rx_queues, info.max_tx_queues);
		return -EINVAL;
	}
	memset(&conf, 0, sizeof(conf));
	if (rx_queues > 1) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
			info.flow_type_rss_offloads;
	}
	rc = rte_eth_dev_configure(port_id, rx_queues, tx_queues, &conf);
	if (rc) {
		LB_LOG(ERR, "%s: configure: %s", what, strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_set_mtu(port_id, mtu);
	if (rc)
		LB_LOG(WARNING, "%s: cannot set MTU %u (%s); using the device's", what, mtu,
		       strerror(-rc));
	for (uint16_t q = 0; q < rx_queues; q++) {
		rc = rte_eth_rx_queue_setup(port_id, q, rx_desc, (unsigned)socket, NULL, pool);
		if (rc) {
			LB_LOG(ERR, "%s: RX queue %u: %s", what, q, strerror(-rc));
			return rc;
		}
	}
	for (uint16_t q = 0; q < tx_queues; q++) {
		rc = rte_eth_tx_queue_setup(port_id, q, tx_desc, (unsigned)socket, NULL);
		if (rc) {
			LB_LOG(ERR, "%s: TX queue %u: %s", what, q, strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(port_id);
	if (rc)
		LB_LOG(ERR, "%s: start: %s", what, strerror(-rc));
	return rc;
}

/* Creates the TAP for port slot, with the port's MAC, MTU and addresses. */
static int port_tap_setup(struct lb_dpdk *lb, uint16_t slot, struct rte_mempool *pool, int nl_fd)
{
	struct lb_port *p = &lb->ports[slot];
	const struct rte_ether_addr *mac = &lb->shared.ports[slot].mac;
	char name[64], args[128];
	int rc;

	snprintf(name, sizeof(name), "net_tap_fulcrum%u", slot);
	snprintf(args, sizeof(args), "iface=%s,mac=" RTE_ETHER_ADDR_PRT_FMT, p->conf->name,
		 RTE_ETHER_ADDR_BYTES(mac));
	rc = rte_vdev_init(name, args);
	if (rc) {
		LB_LOG(ERR, "port %s: cannot create its kernel interface: %s", p->conf->name,
		       strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_get_port_by_name(name, &p->tap_port_id);
	if (rc)
		return rc;
	rc = port_configure(p->tap_port_id, 1, 1, PORT_TAP_QUEUE_DESC, PORT_TAP_QUEUE_DESC,
			    p->conf->mtu, pool, p->conf->name);
	if (rc)
		return rc;
	p->tap_ifindex = (int)if_nametoindex(p->conf->name);
	if (!p->tap_ifindex)
		return -errno;
	for (uint32_t i = 0; i < p->conf->address_count; i++) {
		const struct conf_prefix *a = &p->conf->addresses[i];
		char text[64];
		rc = nl_addr_add(nl_fd, p->tap_ifindex, a->addr.family, a->addr.addr, a->length);
		if (rc) {
			LB_LOG(ERR, "port %s: cannot add address %s/%u: %s", p->conf->name,
			       conf_fmt_addr(&a->addr, text, sizeof(text)), a->length,
			       strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int port_setup_all(struct lb_dpdk *lb, struct rte_mempool *pool)
{
	const struct conf_dpdk *d = &lb->conf->dataplane.dpdk;
	int nl_fd = nl_open(), rc = 0;

	if (nl_fd < 0)
		return nl_fd;
	memset(lb->shared.slot_of_port, 0xff, sizeof(lb->shared.slot_of_port));
	for (uint16_t slot = 0; slot < d->port_count; slot++) {
		struct lb_port *p = &lb->ports[slot];
		struct worker_port *wp = &lb->shared.ports[slot];
		char dev[RTE_ETH_NAME_MAX_LEN];

		p->conf = &d->ports[slot];
		port_dev_name(p->conf->device, dev, sizeof(dev));
		rc = rte_eth_dev_get_port_by_name(dev, &p->port_id);
		if (rc) {
			LB_LOG(ERR, "port %s: no DPDK device \"%s\" (from \"%s\")", p->conf->name, dev,
			       p->conf->device);
			break;
		}
		p->rx_queues = p->conf->rx_queues;
		struct rte_eth_dev_info info;
		rc = rte_eth_dev_info_get(p->port_id, &info);
		if (rc)
			break;
		/* af_packet opens all its queue pairs at probe and fans packets
		 * out over all of them: every RX queue it has must be polled. */
		if (strcmp(info.driver_name, "net_af_packet") == 0 && info.max_rx_queues > p->rx_queues)
			p->rx_queues = info.max_rx_queues;
		rc = port_configure(p->port_id, p->rx_queues, (uint16_t)(lb->worker_count + 1),
				    p->conf->rx_desc, p->conf->tx_desc, p->conf->mtu, pool, p->conf->name);
		if (rc)
			break;
		/* A memif's rings are the ones its client opens: a TX queue
		 * with no ring of the client's behind it sends nothing. */
		if (strcmp(info.driver_name, "net_memif") == 0)
			LB_LOG(INFO, "port %s: memif: the peer needs %u RX queues (a ring for each "
			       "worker and the main lcore), or frames sent on the others are "
			       "dropped as tx_full", p->conf->name, lb->worker_count + 1);
		rte_eth_allmulticast_enable(p->port_id); /* ND's solicited-node groups */
		rte_eth_macaddr_get(p->port_id, &wp->mac);
		wp->port_id = p->port_id;
		wp->mtu = p->conf->mtu;
		lb->shared.slot_of_port[p->port_id] = (uint8_t)slot;
		lb->port_count = (uint16_t)(slot + 1);
		lb->shared.port_count = lb->port_count;
		rc = port_tap_setup(lb, slot, pool, nl_fd);
		if (rc)
			break;
		LB_LOG(INFO, "port %s: %s, MAC " RTE_ETHER_ADDR_PRT_FMT ", %u RX queues, MTU %u, "
		       "kernel interface %s", p->conf->name, dev, RTE_ETHER_ADDR_BYTES(&wp->mac),
		       p->rx_queues, wp->mtu, p->conf->name);
	}
	close(nl_fd);
	return rc;
}

void port_close_all(struct lb_dpdk *lb)
{
	for (uint16_t slot = 0; slot < lb->port_count; slot++) {
		struct lb_port *p = &lb->ports[slot];
		rte_eth_dev_stop(p->port_id);
		rte_eth_dev_close(p->port_id);
		if (p->tap_ifindex) {
			rte_eth_dev_stop(p->tap_port_id);
			rte_eth_dev_close(p->tap_port_id); /* removes the kernel interface */
		}
	}
}

uint32_t port_exception_poll(struct lb_dpdk *lb)
{
	struct rte_mbuf *pkts[WORKER_BURST];
	struct rte_mbuf *by_slot[WORKER_PORTS_MAX][WORKER_BURST];
	uint16_t count[WORKER_PORTS_MAX];
	uint32_t moved = 0;

	/* Workers -> kernel. */
	for (uint16_t wi = 0; wi < lb->worker_count; wi++) {
		unsigned int n = rte_ring_sc_dequeue_burst(lb->workers[wi].to_kernel, (void **)pkts,
							   WORKER_BURST, NULL);
		if (!n)
			continue;
		memset(count, 0, sizeof(count));
		for (unsigned int i = 0; i < n; i++) {
			uint8_t slot = lb->shared.slot_of_port[pkts[i]->port];
			by_slot[slot][count[slot]++] = pkts[i];
		}
		for (uint16_t slot = 0; slot < lb->port_count; slot++) {
			if (!count[slot])
				continue;
			uint16_t sent = rte_eth_tx_burst(lb->ports[slot].tap_port_id, 0, by_slot[slot],
							 count[slot]);
			if (sent < count[slot]) {
				lb->main_counters[counter_drop(PKT_DROP_KERNEL_FULL)] += count[slot] - sent;
				rte_pktmbuf_free_bulk(&by_slot[slot][sent], count[slot] - sent);
			}
		}
		moved += n;
	}
	/* Kernel -> wire, on the TX queue after the workers'. */
	for (uint16_t slot = 0; slot < lb->port_count; slot++) {
		uint16_t n = rte_eth_rx_burst(lb->ports[slot].tap_port_id, 0, pkts, WORKER_BURST);
		if (!n)
			continue;
		uint16_t sent = rte_eth_tx_burst(lb->ports[slot].port_id, lb->worker_count, pkts, n);
		if (sent < n) {
			lb->main_counters[counter_drop(PKT_DROP_TX_FULL)] += n - sent;
			rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
		}
		lb->main_counters[COUNTER_FROM_KERNEL_PACKETS] += sent;
		moved += n;
	}
	return moved;
}
