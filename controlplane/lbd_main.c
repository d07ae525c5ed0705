/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd, Fulcrum's control-plane daemon.
 *
 *   lbd [-c FILE]    run: health-check the backends of FILE's VIPs, publish
 *                    their Maglev tables to lb-dpdk, serve lbctl; SIGHUP or
 *                    `lbctl config reload` re-reads FILE
 *   lbd -t -c FILE   check FILE: validate it, build every VIP's Maglev table,
 *                    print a summary; exit 0 when valid, 1 with every error.
 *   lbd -x -c FILE   remove the XDP balancer from FILE's xdp interfaces and
 *                    its pinned maps (the flow table with them), then exit.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "controlplane/lbd.h"
#include "controlplane/log.h"
#include "controlplane/xdp.h"

#define LBD_DEFAULT_CONFIG "/etc/fulcrum/fulcrum.conf"

static void lbd_usage(FILE *out)
{
	fprintf(out, "usage: lbd [-t | -x] [-c FILE]\n"
		     "  -c FILE  configuration file (default " LBD_DEFAULT_CONFIG ")\n"
		     "  -t       check the configuration and its tables, then exit:\n"
		     "           0 when valid, 1 with every error as FILE:LINE: KEY: MESSAGE\n"
		     "  -x       detach: remove the XDP balancer from dataplane.xdp.interfaces\n"
		     "           and the maps pinned at pin_path (its flows go with them)\n"
		     "  -h       this help\n");
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
	struct model *m = model_create(cfg);
	if (!m) {
		fprintf(stderr, "%s: out of memory\n", path);
		conf_destroy(cfg);
		return 1;
	}
	for (__u32 i = 0; i < m->vip_count; i++) {
		struct model_vip *v = m->vips[i];
		char addr[64];
		__u32 used = 0;

		/* The table the VIP has with every backend up. */
		for (__u32 k = 0; k < v->backend_count; k++)
			v->backends[k]->check_up = true;
		struct vip_table *t = tables_from_model(v);
		int err = t ? tables_build_ring(t) : -errno;
		for (__u32 s = 0; err == 0 && s < t->table_size; s++)
			used += t->ring[s] != FLOW_NO_BACKEND;
		tables_destroy(t);
		if (err) {
			fprintf(stderr, "%s:%d: vips[%u]: table build failed: %s\n", path,
				cfg->vips[i].line, i, strerror(-err));
			failed = 1;
			continue;
		}
		printf("vip %s %s [%s]:%u: %u backends, table %u slots%s\n", v->name,
		       v->proto == PKT_PROTO_TCP ? "tcp" : "udp",
		       conf_fmt_addr(&v->addr, addr, sizeof(addr)), v->port, v->backend_count,
		       v->table_size, used ? "" : " (no eligible backend: drops)");
	}
	if (!failed)
		printf("%s: configuration OK (%u VIPs, %u backends)\n", path, cfg->vip_count,
		       conf_backend_count(cfg));
	model_destroy(m);
	conf_destroy(cfg);
	return failed;
}

/* lbd -x: what a clean uninstall of the XDP dataplane needs. */
static int lbd_detach(const char *path)
{
	struct conf_errors errors;
	struct conf *cfg = conf_load(path, &errors);
	const char *ifnames[CONF_XDP_IFACES_MAX];
	char err[512];

	if (!cfg) {
		for (__u32 i = 0; i < errors.count; i++)
			fprintf(stderr, "%s\n", errors.messages[i]);
		fprintf(stderr, "%s: configuration is NOT valid\n", path);
		return 1;
	}
	const struct conf_xdp *x = &cfg->dataplane.xdp;
	if (!x->present) {
		fprintf(stderr, "%s: no dataplane.xdp group: nothing to detach\n", path);
		conf_destroy(cfg);
		return 1;
	}
	for (__u32 i = 0; i < x->interface_count; i++)
		ifnames[i] = x->interfaces[i];
	int rc = xdp_detach(x->pin_path, ifnames, x->interface_count, err, sizeof(err));
	if (rc)
		fprintf(stderr, "lbd: %s\n", err);
	else
		printf("XDP balancer detached from %u interface%s, maps at %s removed\n",
		       x->interface_count, x->interface_count == 1 ? "" : "s", x->pin_path);
	conf_destroy(cfg);
	return rc ? 1 : 0;
}

/*
 * Every health check and control client is a descriptor: thousands of
 * backends and of control clients together need more than the usual soft
 * limit of 1024, so lbd takes what the hard limit allows (systemd's is
 * 524288). lbd's own sockets never reach select().
 */
static void lbd_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warning("cannot raise the open-file limit to %llu: %s",
				    (unsigned long long)rl.rlim_max, strerror(errno));
	}
}

int main(int argc, char **argv)
{
	const char *path = LBD_DEFAULT_CONFIG;
	int check = 0, detach = 0, opt;

	while ((opt = getopt(argc, argv, "c:txh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'x':
			detach = 1;
			break;
		case 'h':
			lbd_usage(stdout);
			return 0;
		default:
			lbd_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		lbd_usage(stderr);
		return 2;
	}
	if (check && detach) {
		lbd_usage(stderr);
		return 2;
	}
	if (check)
		return lbd_check(path);
	if (detach)
		return lbd_detach(path);

	lbd_raise_fd_limit();
	struct lbd d;
	int rc = lbd_init(&d, path);
	if (rc == 0)
		rc = lbd_run(&d);
	lbd_fini(&d);
	return rc ? 1 : 0;
}
