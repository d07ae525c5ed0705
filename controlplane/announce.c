/* SPDX-License-Identifier: BSD-3-Clause */
/* The VIP routes lbd hands to a routing daemon (controlplane/announce.h). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "controlplane/announce.h"
#include "dataplane/nl.h"

void announce_init(struct announce *a)
{
	memset(a, 0, sizeof(*a));
	a->tun_fd = a->nl_fd = -1;
}

static __u8 announce_prefix_len(const struct conf_addr *addr)
{
	return addr->family == FLOW_FAMILY_IPV6 ? 128 : 32;
}

/* Sets IFF_UP on the device: a route cannot point at a device that is down. */
static int announce_link_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		rc = -errno;
	} else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			rc = -errno;
	}
	close(fd);
	return rc;
}

int announce_open(struct announce *a, const struct conf_announce *c, char *err, size_t err_size)
{
	struct ifreq ifr = { 0 };
	int rc;

	announce_init(a);
	a->conf = *c;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_size, "/dev/net/tun: %s", strerror(errno));
		return rc;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", c->device);
	/* No packet ever reaches the device (no rule consults the table):
	 * IFF_NO_PI and no queue sizing, nothing is read from it. */
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		if (errno == EBUSY)
			snprintf(err, err_size,
				 "device %s: another process holds it (a second lbd with the same "
				 "announce.device?)",
				 c->device);
		else if (errno == EINVAL) {
			snprintf(err, err_size, "device %s exists and is not a TUN device",
				 c->device);
			rc = -EEXIST;
		} else
			snprintf(err, err_size, "device %s: TUNSETIFF: %s", c->device,
				 strerror(errno));
		goto fail;
	}
	/* A device of that name left persistent (by hand, tunctl) would
	 * outlive lbd, and so would its routes: make it go with this fd. */
	if (ioctl(fd, TUNSETPERSIST, 0) < 0) {
		rc = -errno;
		snprintf(err, err_size, "device %s: TUNSETPERSIST: %s", c->device, strerror(errno));
		goto fail;
	}
	rc = announce_link_up(c->device);
	if (rc) {
		snprintf(err, err_size, "device %s: cannot set it up: %s", c->device, strerror(-rc));
		goto fail;
	}
	a->ifindex = (int)if_nametoindex(c->device);
	a->nl_fd = nl_open();
	if (a->ifindex <= 0 || a->nl_fd < 0) {
		rc = a->nl_fd < 0 ? a->nl_fd : -ENODEV;
		snprintf(err, err_size, "device %s: %s", c->device, strerror(-rc));
		a->nl_fd = -1;
		goto fail;
	}
	a->tun_fd = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

static __u32 announce_find(const struct announce *a, const struct conf_addr *addr)
{
	for (__u32 i = 0; i < a->route_count; i++)
		if (a->routes[i].family == addr->family &&
		    memcmp(a->routes[i].addr, addr->addr, sizeof(addr->addr)) == 0)
			return i;
	return UINT32_MAX;
}

bool announce_has(const struct announce *a, const struct conf_addr *addr)
{
	return announce_find(a, addr) != UINT32_MAX;
}

int announce_set(struct announce *a, const struct conf_addr *addr, bool on)
{
	__u32 i = announce_find(a, addr);
	char text[64];
	int rc;

	if (!announce_enabled(a))
		return -ENOTCONN;
	if (on == (i != UINT32_MAX))
		return 0;
	if (on && a->route_count == a->route_cap) {
		__u32 cap = a->route_cap ? a->route_cap * 2 : 16;
		struct conf_addr *r = realloc(a->routes, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		a->routes = r;
		a->route_cap = cap;
	}
	rc = nl_route_set(a->nl_fd, on, addr->family, addr->addr, announce_prefix_len(addr),
			  a->ifindex, a->conf.table, (__u8)a->conf.route_protocol);
	if (rc) {
		a->failures++;
		snprintf(a->error, sizeof(a->error), "%s route %s/%u in table %u: %s",
			 on ? "adding" : "deleting", conf_fmt_addr(addr, text, sizeof(text)),
			 announce_prefix_len(addr), a->conf.table, strerror(-rc));
		return rc;
	}
	a->error[0] = '\0';
	if (on) {
		a->routes[a->route_count++] = *addr;
		a->announcements++;
	} else {
		a->routes[i] = a->routes[--a->route_count];
		a->withdrawals++;
	}
	return 1;
}

__u32 announce_close(struct announce *a)
{
	__u32 withdrawn = 0;

	/* One by one, so that each is a withdrawal BIRD sees now; the device
	 * going away would take them too, but on IPv4 the kernel says nothing
	 * of routes it deletes with a device, and BIRD would notice them only
	 * at its next scan. */
	while (announce_enabled(a) && a->route_count) {
		struct conf_addr addr = a->routes[a->route_count - 1];
		if (announce_set(a, &addr, false) < 0)
			break;
		withdrawn++;
	}
	if (a->nl_fd >= 0)
		close(a->nl_fd);
	if (a->tun_fd >= 0)
		close(a->tun_fd);
	free(a->routes);
	a->routes = NULL;
	a->route_count = a->route_cap = 0;
	a->nl_fd = a->tun_fd = -1;
	return withdrawn;
}
