/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The few rtnetlink requests lb-dpdk makes of the kernel that owns its
 * exception interfaces: give an interface its addresses, ask which next hop
 * and interface the kernel would use toward a backend, read that neighbour's
 * MAC, and ask the kernel to resolve it (ARP / ND) when it does not know it.
 * Main lcore only; every call is one request and its answer. lbd uses the
 * route requests too, for the VIP routes it announces (controlplane/announce.c).
 */
#ifndef FULCRUM_NL_H
#define FULCRUM_NL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

/* Opens a NETLINK_ROUTE socket. Returns the fd or -errno. */
int nl_open(void);

/* Adds (or keeps) address/prefix_len on ifindex; IPv6 skips duplicate
 * address detection. Returns 0 or -errno. */
int nl_addr_add(int fd, int ifindex, __u8 family, const __be32 *addr, __u8 prefix_len);

/*
 * The kernel's route toward dst: *oif, and in *gateway the next hop (dst
 * itself when on-link). Returns 0, -ENETUNREACH / -EHOSTUNREACH when there is
 * no route, or -errno.
 */
int nl_route_get(int fd, __u8 family, const __be32 *dst, __be32 *gateway, int *oif);

/*
 * Adds (add true; replacing one to the same destination) or deletes the route
 * dst/prefix_len on device oif in table, with rtm_protocol protocol. Deleting
 * a route that is not there succeeds. Returns 0 or -errno.
 */
int nl_route_set(int fd, bool add, __u8 family, const __be32 *dst, __u8 prefix_len, int oif,
		 __u32 table, __u8 protocol);

/*
 * The MAC of neighbour addr on ifindex, when the kernel holds a usable one
 * (reachable, stale, delay, probe, permanent, noarp). Returns 0, -ENOENT
 * (unknown, incomplete or failed) or -errno.
 */
int nl_neigh_get(int fd, __u8 family, const __be32 *addr, int ifindex, uint8_t mac[6]);

/* Asks the kernel to resolve neighbour addr on ifindex (ARP request / ND
 * solicitation), creating the entry if needed. Returns 0 or -errno. */
int nl_neigh_resolve(int fd, __u8 family, const __be32 *addr, int ifindex);

#endif /* FULCRUM_NL_H */
