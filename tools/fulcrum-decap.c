/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fulcrum-decap: loads Fulcrum's backend-side decapsulation program
 * (bpf/decap.bpf.c) on a GPU node's interface.
 *
 *   fulcrum-decap attach IFACE [-a ADDRESS]... [-g GUE_PORT] [-m native|generic]
 *   fulcrum-decap detach IFACE
 *   fulcrum-decap stats IFACE
 *
 * attach accepts tunnels addressed to each -a ADDRESS (default: every
 * address on IFACE), with GUE on GUE_PORT (default 6080, 0 = off). The
 * program stays attached after this command exits; stats finds it again
 * through the interface.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/decap.h"
#include "bpf/decap.skel.h"

#define DECAP_PROG_NAME "fulcrum_decap"

static void decap_usage(FILE *out)
{
	fprintf(out,
		"usage: fulcrum-decap attach IFACE [-a ADDRESS]... [-g GUE_PORT] [-m native|generic]\n"
		"       fulcrum-decap detach IFACE\n"
		"       fulcrum-decap stats IFACE\n"
		"  -a ADDRESS  accept tunnels to ADDRESS (repeatable; default: IFACE's addresses)\n"
		"  -g PORT     GUE's UDP port (default 6080; 0 turns GUE off)\n"
		"  -m MODE     XDP attach mode: native (default) or generic\n");
}

static int decap_parse_addr(const char *text, struct decap_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, text, a->addr) == 1) {
		a->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, text, a->addr) == 1) {
		a->family = 6;
		return 0;
	}
	return -EINVAL;
}

/* Every global address of ifname, for an attach without -a. */
static int decap_iface_addrs(const char *ifname, struct decap_addr *out, int max)
{
	struct ifaddrs *list, *i;
	int n = 0;

	if (getifaddrs(&list) < 0)
		return -errno;
	for (i = list; i && n < max; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, ifname) != 0)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		if (i->ifa_addr->sa_family == AF_INET) {
			out[n].family = 4;
			memcpy(out[n].addr, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
			n++;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(a6))
				continue;
			out[n].family = 6;
			memcpy(out[n].addr, a6, 16);
			n++;
		}
	}
	freeifaddrs(list);
	return n;
}

static int decap_attach(const char *ifname, int ifindex, struct decap_addr *addrs, int naddrs,
			unsigned gue_port, __u32 mode_flag)
{
	struct decap_bpf *skel = decap_bpf__open();
	__u8 one = 1;
	int rc;

	if (!skel) {
		fprintf(stderr, "fulcrum-decap: cannot open the BPF program: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->gue_port = (__u16)gue_port;
	rc = decap_bpf__load(skel);
	if (rc) {
		fprintf(stderr, "fulcrum-decap: cannot load the BPF program: %s\n", strerror(-rc));
		goto out;
	}
	for (int i = 0; i < naddrs; i++) {
		rc = bpf_map_update_elem(bpf_map__fd(skel->maps.decap_addrs), &addrs[i], &one,
					 BPF_ANY);
		if (rc) {
			fprintf(stderr, "fulcrum-decap: address map: %s\n", strerror(errno));
			goto out;
		}
	}
	rc = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.fulcrum_decap),
			    mode_flag | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (rc) {
		fprintf(stderr, "fulcrum-decap: cannot attach to %s: %s%s\n", ifname, strerror(-rc),
			rc == -EBUSY || rc == -EEXIST ? " (an XDP program is attached already)" : "");
		goto out;
	}
	printf("fulcrum-decap: attached to %s (%s), %d tunnel address%s, GUE %s", ifname,
	       mode_flag == XDP_FLAGS_SKB_MODE ? "generic" : "native", naddrs,
	       naddrs == 1 ? "" : "es", gue_port ? "on port " : "off");
	if (gue_port)
		printf("%u", gue_port);
	printf("\n");
out:
	decap_bpf__destroy(skel); /* the attached program keeps its maps */
	return rc ? 1 : 0;
}

/* The fd of our program on ifindex, or -ENOENT. */
static int decap_find_prog(int ifindex, struct bpf_prog_info *info)
{
	__u32 prog_id = 0, len = sizeof(*info);
	int fd;

	if (bpf_xdp_query_id(ifindex, 0, &prog_id) || !prog_id) {
		if (bpf_xdp_query_id(ifindex, XDP_FLAGS_SKB_MODE, &prog_id) || !prog_id)
			return -ENOENT;
	}
	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len) || strcmp(info->name, DECAP_PROG_NAME) != 0) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

static int decap_stats(const char *ifname, int ifindex)
{
	struct bpf_prog_info info;
	__u32 map_ids[8], len;
	int prog_fd = decap_find_prog(ifindex, &info), ncpus = libbpf_num_possible_cpus();

	if (prog_fd < 0) {
		fprintf(stderr, "fulcrum-decap: no Fulcrum decapsulation on %s\n", ifname);
		return 1;
	}
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 8;
	info.map_ids = (__u64)(unsigned long)map_ids;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len)) {
		close(prog_fd);
		return 1;
	}
	close(prog_fd);
	for (__u32 m = 0; m < info.nr_map_ids && m < 8; m++) {
		struct bpf_map_info minfo;
		__u32 mlen = sizeof(minfo);
		int fd = bpf_map_get_fd_by_id(map_ids[m]);
		if (fd < 0)
			continue;
		memset(&minfo, 0, sizeof(minfo));
		if (bpf_obj_get_info_by_fd(fd, &minfo, &mlen) || strcmp(minfo.name, "decap_stats")) {
			close(fd);
			continue;
		}
		static const char *const names[] = {
#define DECAP_NAME(name, text, meaning) text,
			DECAP_COUNTERS(DECAP_NAME)
#undef DECAP_NAME
		};
		__u64 *values = calloc((size_t)ncpus, sizeof(*values));
		for (__u32 c = 0; values && c < DECAP_CTR_COUNT; c++) {
			__u64 sum = 0;
			if (bpf_map_lookup_elem(fd, &c, values) == 0)
				for (int cpu = 0; cpu < ncpus; cpu++)
					sum += values[cpu];
			printf("%s %llu\n", names[c], (unsigned long long)sum);
		}
		free(values);
		close(fd);
		return 0;
	}
	fprintf(stderr, "fulcrum-decap: the program on %s has no counters\n", ifname);
	return 1;
}

int main(int argc, char **argv)
{
	struct decap_addr addrs[DECAP_ADDRS_MAX];
	int naddrs = 0, opt, ifindex;
	unsigned gue_port = 6080;
	__u32 mode_flag = XDP_FLAGS_DRV_MODE;
	const char *cmd, *ifname;

	if (argc < 3) {
		decap_usage(stderr);
		return 2;
	}
	cmd = argv[1];
	ifname = argv[2];
	optind = 3;
	while ((opt = getopt(argc, argv, "a:g:m:h")) != -1) {
		switch (opt) {
		case 'a':
			if (naddrs == DECAP_ADDRS_MAX || decap_parse_addr(optarg, &addrs[naddrs])) {
				fprintf(stderr, "fulcrum-decap: -a %s: not an IP address (or more "
						"than %d)\n",
					optarg, DECAP_ADDRS_MAX);
				return 2;
			}
			naddrs++;
			break;
		case 'g': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v > 65535) {
				fprintf(stderr, "fulcrum-decap: -g %s: not a port\n", optarg);
				return 2;
			}
			gue_port = (unsigned)v;
			break;
		}
		case 'm':
			if (strcmp(optarg, "generic") == 0)
				mode_flag = XDP_FLAGS_SKB_MODE;
			else if (strcmp(optarg, "native") != 0) {
				fprintf(stderr, "fulcrum-decap: -m %s: native or generic\n", optarg);
				return 2;
			}
			break;
		default:
			decap_usage(stderr);
			return 2;
		}
	}
	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "fulcrum-decap: %s: no such interface\n", ifname);
		return 1;
	}
	if (strcmp(cmd, "attach") == 0) {
		if (!naddrs) {
			naddrs = decap_iface_addrs(ifname, addrs, DECAP_ADDRS_MAX);
			if (naddrs <= 0) {
				fprintf(stderr, "fulcrum-decap: %s has no address; give -a\n", ifname);
				return 1;
			}
		}
		return decap_attach(ifname, ifindex, addrs, naddrs, gue_port, mode_flag);
	}
	if (strcmp(cmd, "detach") == 0) {
		struct bpf_prog_info info;
		int fd = decap_find_prog(ifindex, &info);
		if (fd < 0) {
			fprintf(stderr, "fulcrum-decap: no Fulcrum decapsulation on %s\n", ifname);
			return 1;
		}
		close(fd);
		if (bpf_xdp_detach(ifindex, 0, NULL) && bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL)) {
			fprintf(stderr, "fulcrum-decap: detach from %s: %s\n", ifname, strerror(errno));
			return 1;
		}
		printf("fulcrum-decap: detached from %s\n", ifname);
		return 0;
	}
	if (strcmp(cmd, "stats") == 0)
		return decap_stats(ifname, ifindex);
	decap_usage(stderr);
	return 2;
}
