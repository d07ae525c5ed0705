/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Next hops toward backends, resolved by the kernel that owns lb-dpdk's
 * exception interfaces: its routing table says which neighbour (the backend
 * or a router) and which port, its ARP / ND says that neighbour's MAC. The
 * workers read the result from worker_shared.nexthops, one 64-bit word per
 * backend address, which the main lcore rewrites when the kernel's answer
 * changes. A configured gateway_mac replaces the neighbour lookup.
 *
 * Main lcore only.
 */
#ifndef FULCRUM_NEXTHOP_H
#define FULCRUM_NEXTHOP_H

#include <stdint.h>

#include "dataplane/worker.h"

struct nexthop_table;

/*
 * Creates the table. tap_ifindex[slot] is the kernel interface of port
 * slot; gateway_mac may be NULL. NULL with errno.
 */
struct nexthop_table *nexthop_table_create(struct worker_shared *shared, const int *tap_ifindex,
					   uint16_t port_count, const uint8_t *gateway_mac);
void nexthop_table_destroy(struct nexthop_table *t);

/*
 * The next-hop index of a backend address, creating and resolving its entry
 * on first use (a gen_nexthop_fn). Index 0 means "cannot be reached": the
 * table is full. Never blocks for longer than one netlink round trip.
 */
__u16 nexthop_find(void *table, __u8 family, const __be32 *addr);

/* Re-asks the kernel about every entry and publishes changed MACs; call
 * about once a second, and sooner while some are unresolved. Returns the
 * number of entries still unresolved. */
uint32_t nexthop_refresh(struct nexthop_table *t);

/* Entries in use, and how many of those have a MAC. */
uint32_t nexthop_count(const struct nexthop_table *t, uint32_t *resolved);

/* Describes entry i for telemetry: backend, gateway, port slot, MAC. Returns
 * 0, or -ENOENT past the end. */
int nexthop_describe(const struct nexthop_table *t, uint32_t i, char *buf, size_t size);

#endif /* FULCRUM_NEXTHOP_H */
