/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd, Fulcrum's control-plane daemon.
 *
 *   lbd -t -c FILE   check FILE: validate it, build every VIP's Maglev table,
 *                    print a summary; exit 0 when valid, 1 with every error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/conf.h"
#include "controlplane/maglev.h"

#define LBD_DEFAULT_CONFIG "/etc/fulcrum/fulcrum.conf"

static void lbd_usage(FILE *out)
{
	fprintf(out, "usage: lbd -t [-c FILE]\n"
		     "  -c FILE  configuration file (default " LBD_DEFAULT_CONFIG ")\n"
		     "  -t       check the configuration and its tables, then exit:\n"
		     "           0 when valid, 1 with every error as FILE:LINE: KEY: MESSAGE\n"
		     "  -h       this help\n");
}

/*
 * Builds the table a VIP starts with (configured weights, admin state, no
 * health results yet), as lbd will, to prove the builder accepts it.
 * Returns 0 or the builder's -errno.
 */
static int lbd_check_vip_table(const struct conf_vip *vip, __u32 *slots_used)
{
	struct maglev_backend *mb = calloc(vip->backend_count + 1, sizeof(*mb));
	__u32 *ring = calloc(vip->table_size, sizeof(*ring));
	int err = -ENOMEM;

	*slots_used = 0;
	if (!mb || !ring)
		goto out;
	for (__u32 i = 0; i < vip->backend_count; i++) {
		const struct conf_backend *b = &vip->backends[i];
		mb[i].family = b->addr.family;
		memcpy(mb[i].addr, b->addr.addr, sizeof(mb[i].addr));
		mb[i].port = htons(b->port);
		mb[i].weight = b->state == CONF_ADMIN_READY ? b->weight : 0;
	}
	err = maglev_build(mb, vip->backend_count, ring, vip->table_size, NULL);
	for (__u32 s = 0; err == 0 && s < vip->table_size; s++)
		*slots_used += ring[s] != FLOW_NO_BACKEND;
out:
	free(ring);
	free(mb);
	return err;
}

static int lbd_check(const char *path)
{
	struct conf_errors errors;
	struct conf *cfg = conf_load(path, &errors);
	int failed = 0;

	if (!cfg) {
		for (__u32 i = 0; i < errors.count; i++)
			fprintf(stderr, "%s\n", errors.messages[i]);
		if (errors.dropped)
			fprintf(stderr, "%s: ... and %u more errors\n", path, errors.dropped);
		if (errno == ENOMEM)
			fprintf(stderr, "%s: out of memory\n", path);
		fprintf(stderr, "%s: configuration is NOT valid\n", path);
		return 1;
	}
	for (__u32 i = 0; i < cfg->vip_count; i++) {
		const struct conf_vip *v = &cfg->vips[i];
		char addr[64];
		__u32 used;
		int err = lbd_check_vip_table(v, &used);

		if (err) {
			fprintf(stderr, "%s:%d: vips[%u]: table build failed: %s\n", path, v->line, i,
				strerror(-err));
			failed = 1;
			continue;
		}
		printf("vip %s %s [%s]:%u: %u backends, table %u slots%s\n", v->name,
		       v->proto == PKT_PROTO_TCP ? "tcp" : "udp",
		       conf_fmt_addr(&v->addr, addr, sizeof(addr)), v->port, v->backend_count,
		       v->table_size, used ? "" : " (no eligible backend yet: drops)");
	}
	if (!failed)
		printf("%s: configuration OK (%u VIPs, %u backends)\n", path, cfg->vip_count,
		       conf_backend_count(cfg));
	conf_destroy(cfg);
	return failed;
}

int main(int argc, char **argv)
{
	const char *path = LBD_DEFAULT_CONFIG;
	int check = 0, opt;

	while ((opt = getopt(argc, argv, "c:th")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'h':
			lbd_usage(stdout);
			return 0;
		default:
			lbd_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !check) {
		/* The daemon proper (publishing to lb-dpdk or XDP) arrives with
		 * the dataplanes; until then lbd only checks configurations. */
		lbd_usage(stderr);
		return 2;
	}
	return lbd_check(path);
}
