/* SPDX-License-Identifier: BSD-3-Clause */
/* Next-hop resolution through the kernel (dataplane/nexthop.h). */
#define _GNU_SOURCE /* tdestroy */
#include <arpa/inet.h>
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_log.h>

#include "dataplane/nexthop.h"
#include "dataplane/nl.h"

#define NEXTHOP_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_##level, RTE_LOGTYPE_USER1, "nexthop: " fmt "\n", ##__VA_ARGS__)

struct nexthop_entry {
	__u8 family;
	__be32 backend[4];
	__be32 gateway[4]; /* the neighbour: backend itself when on-link */
	int ifindex;       /* 0: no route through one of our ports */
	uint8_t slot;
	uint8_t mac[6];
	int resolved;
	int warned; /* "no route" logged once until the route returns */
	uint16_t index;
};

struct nexthop_table {
	struct worker_shared *shared;
	int nl_fd;
	int tap_ifindex[WORKER_PORTS_MAX];
	uint16_t port_count;
	int has_gateway_mac;
	uint8_t gateway_mac[6];
	void *by_addr; /* tsearch() tree of nexthop_entry, by family and backend */
	struct nexthop_entry *entries[NEXTHOPS_MAX];
	uint32_t count; /* entries[1 .. count] are in use; 0 is "unreachable" */
};

static int nexthop_entry_cmp(const void *pa, const void *pb)
{
	const struct nexthop_entry *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->backend, b->backend, sizeof(a->backend));
}

struct nexthop_table *nexthop_table_create(struct worker_shared *shared, const int *tap_ifindex,
					   uint16_t port_count, const uint8_t *gateway_mac)
{
	struct nexthop_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nl_fd = nl_open();
	if (t->nl_fd < 0) {
		errno = -t->nl_fd;
		free(t);
		return NULL;
	}
	t->shared = shared;
	t->port_count = port_count;
	memcpy(t->tap_ifindex, tap_ifindex, sizeof(int) * port_count);
	if (gateway_mac) {
		t->has_gateway_mac = 1;
		memcpy(t->gateway_mac, gateway_mac, 6);
	}
	t->count = 0;
	return t;
}

static void nexthop_entry_free(void *p)
{
	(void)p; /* entries are freed through the index array */
}

void nexthop_table_destroy(struct nexthop_table *t)
{
	if (!t)
		return;
	tdestroy(t->by_addr, nexthop_entry_free);
	for (uint32_t i = 1; i <= t->count; i++)
		free(t->entries[i]);
	close(t->nl_fd);
	free(t);
}

static int nexthop_slot_of_ifindex(const struct nexthop_table *t, int ifindex)
{
	for (uint16_t s = 0; s < t->port_count; s++)
		if (t->tap_ifindex[s] == ifindex)
			return s;
	return -1;
}

static const char *nexthop_fmt(__u8 family, const __be32 *addr, char *buf, size_t size)
{
	if (!inet_ntop(family == FLOW_FAMILY_IPV6 ? AF_INET6 : AF_INET, addr, buf,
		       (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

/* Asks the kernel about one entry and publishes the answer to the workers. */
static void nexthop_resolve(struct nexthop_table *t, struct nexthop_entry *e)
{
	uint8_t mac[6];
	int oif = 0, slot, rc;
	__be32 gateway[4];
	uint64_t word = 0;
	char text[INET6_ADDRSTRLEN];

	rc = nl_route_get(t->nl_fd, e->family, e->backend, gateway, &oif);
	slot = rc == 0 ? nexthop_slot_of_ifindex(t, oif) : -1;
	if (slot < 0) {
		if (!e->warned)
			NEXTHOP_LOG(WARNING, "no route to backend %s through a Fulcrum port (%s)",
				    nexthop_fmt(e->family, e->backend, text, sizeof(text)),
				    rc ? strerror(-rc) : "route leaves through another interface");
		e->warned = 1;
		e->ifindex = 0;
		e->resolved = 0;
	} else {
		e->warned = 0;
		memcpy(e->gateway, gateway, sizeof(e->gateway));
		e->ifindex = oif;
		e->slot = (uint8_t)slot;
		if (t->has_gateway_mac) {
			memcpy(mac, t->gateway_mac, 6);
			rc = 0;
		} else {
			rc = nl_neigh_get(t->nl_fd, e->family, e->gateway, oif, mac);
			if (rc == -ENOENT)
				nl_neigh_resolve(t->nl_fd, e->family, e->gateway, oif);
		}
		if (rc == 0) {
			if (!e->resolved || memcmp(mac, e->mac, 6) != 0)
				NEXTHOP_LOG(INFO, "backend %s via %02x:%02x:%02x:%02x:%02x:%02x",
					    nexthop_fmt(e->family, e->backend, text, sizeof(text)),
					    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
			memcpy(e->mac, mac, 6);
			e->resolved = 1;
			struct rte_ether_addr ea;
			memcpy(ea.addr_bytes, mac, 6);
			word = nexthop_pack(&ea, e->slot);
		} else {
			e->resolved = 0;
		}
	}
	__atomic_store_n(&t->shared->nexthops[e->index].mac_word, word, __ATOMIC_RELAXED);
}

__u16 nexthop_find(void *table, __u8 family, const __be32 *addr)
{
	struct nexthop_table *t = table;
	struct nexthop_entry probe = { .family = family }, **found, *e;

	memcpy(probe.backend, addr, sizeof(probe.backend));
	found = tfind(&probe, &t->by_addr, nexthop_entry_cmp);
	if (found)
		return (*found)->index;
	if (t->count + 1 >= NEXTHOPS_MAX) {
		NEXTHOP_LOG(ERR, "more than %d backend addresses: the rest are unreachable",
			    NEXTHOPS_MAX - 1);
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return 0;
	*e = probe;
	e->index = (uint16_t)(t->count + 1);
	if (!tsearch(e, &t->by_addr, nexthop_entry_cmp)) {
		free(e);
		return 0;
	}
	t->entries[++t->count] = e;
	nexthop_resolve(t, e);
	return e->index;
}

uint32_t nexthop_refresh(struct nexthop_table *t)
{
	uint32_t unresolved = 0;

	for (uint32_t i = 1; i <= t->count; i++) {
		nexthop_resolve(t, t->entries[i]);
		unresolved += !t->entries[i]->resolved;
	}
	return unresolved;
}

uint32_t nexthop_count(const struct nexthop_table *t, uint32_t *resolved)
{
	uint32_t r = 0;

	for (uint32_t i = 1; i <= t->count; i++)
		r += t->entries[i]->resolved;
	if (resolved)
		*resolved = r;
	return t->count;
}

int nexthop_describe(const struct nexthop_table *t, uint32_t i, char *buf, size_t size)
{
	char backend[INET6_ADDRSTRLEN], gateway[INET6_ADDRSTRLEN];
	const struct nexthop_entry *e;

	if (i >= t->count)
		return -ENOENT;
	e = t->entries[i + 1];
	nexthop_fmt(e->family, e->backend, backend, sizeof(backend));
	nexthop_fmt(e->family, e->gateway, gateway, sizeof(gateway));
	if (!e->resolved)
		snprintf(buf, size, "%s via %s: unresolved", backend,
			 e->ifindex ? gateway : "(no route)");
	else
		snprintf(buf, size, "%s via %s port %u mac %02x:%02x:%02x:%02x:%02x:%02x", backend,
			 gateway, e->slot, e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4],
			 e->mac[5]);
	return 0;
}
