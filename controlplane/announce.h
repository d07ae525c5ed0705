/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VIP routes lbd hands to a routing daemon (README "Scale-out").
 *
 * lbd opens a TUN device that is not persistent: it exists only while lbd's
 * descriptor is open, so when lbd exits, crashes or is killed with SIGKILL
 * the kernel deletes the device and every route on it. lbd puts one route
 * per announced VIP address (/32 or /128) on that device, in a routing table
 * of its own that no rule consults (the routes steer no packet). BIRD's
 * kernel protocol learns that table and exports it to its BGP sessions; a
 * route deleted, by lbd or by the kernel, is a BGP withdrawal.
 *
 * lbd's thread only. Nothing here decides what to announce: lbd does.
 */
#ifndef FULCRUM_ANNOUNCE_H
#define FULCRUM_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "controlplane/conf.h"

struct announce {
	struct conf_announce conf;
	int tun_fd;  /* -1: announcements off (or not open yet) */
	int nl_fd;
	int ifindex;
	struct conf_addr *routes; /* the routes in the table now */
	__u32 route_count, route_cap;
	__u64 announcements, withdrawals, failures;
	char error[256]; /* the last failure, "" when the last change worked */
};

/* Nothing open: announce_enabled() is false. */
void announce_init(struct announce *a);

/*
 * Creates the device named in c (up, no address), and opens rtnetlink.
 * Fails with -EBUSY when another process holds a device of that name (a
 * second lbd with the same device), -EEXIST when a device of that name is
 * not a TUN device. Returns 0 or -errno with err.
 */
int announce_open(struct announce *a, const struct conf_announce *c, char *err, size_t err_size);

/* Deletes every route, then the device (a graceful withdrawal of all).
 * Returns the number of routes withdrawn. Safe to call when not open. */
__u32 announce_close(struct announce *a);

static inline bool announce_enabled(const struct announce *a)
{
	return a->tun_fd >= 0;
}

/* Whether addr's route is in the table. */
bool announce_has(const struct announce *a, const struct conf_addr *addr);

/*
 * Puts addr's route in the table (on true) or takes it out. Returns 1 when
 * that changed something, 0 when it was so already, -errno (and a->error)
 * when the kernel refused.
 */
int announce_set(struct announce *a, const struct conf_addr *addr, bool on);

#endif /* FULCRUM_ANNOUNCE_H */
