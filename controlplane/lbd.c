/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lbd, Fulcrum's control-plane daemon.
 *
 *   lbd [-c FILE]    run: build every VIP's Maglev table from FILE and keep
 *                    lb-dpdk publishing them; SIGHUP re-reads FILE
 *   lbd -t -c FILE   check FILE: validate it, build every VIP's Maglev table,
 *                    print a summary; exit 0 when valid, 1 with every error.
 *
 * One process, one epoll loop: signals (signalfd), a one-second timer for
 * reconnecting, and the channel to lb-dpdk. lb-dpdk keeps forwarding with
 * its last tables whenever lbd is gone; lbd resyncs it in full on every
 * (re)connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "controlplane/conf.h"
#include "controlplane/log.h"
#include "controlplane/maglev.h"
#include "controlplane/publish.h"
#include "controlplane/tables.h"

#define LBD_DEFAULT_CONFIG "/etc/fulcrum/fulcrum.conf"

static void lbd_usage(FILE *out)
{
	fprintf(out, "usage: lbd [-t] [-c FILE]\n"
		     "  -c FILE  configuration file (default " LBD_DEFAULT_CONFIG ")\n"
		     "  -t       check the configuration and its tables, then exit:\n"
		     "           0 when valid, 1 with every error as FILE:LINE: KEY: MESSAGE\n"
		     "  -h       this help\n");
}

/*
 * Builds the table a VIP starts with (configured weights, admin state, no
 * health results yet), as lbd will, to prove the builder accepts it.
 * Returns 0 or -errno.
 */
static int lbd_check_vip_table(const struct conf_vip *vip, __u32 *slots_used)
{
	struct vip_table *t = tables_from_conf(vip);
	int err;

	*slots_used = 0;
	if (!t)
		return -errno;
	err = tables_build_ring(t);
	for (__u32 s = 0; err == 0 && s < t->table_size; s++)
		*slots_used += t->ring[s] != FLOW_NO_BACKEND;
	tables_destroy(t);
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

struct lbd {
	const char *config_path;
	struct conf *cfg;
	struct vip_table **tables; /* one per configured VIP, rings built */
	__u32 table_count;
	struct publisher pub;
	int epoll_fd, signal_fd, timer_fd;
	bool waiting_logged; /* "waiting for lb-dpdk" said once per outage */
	bool stop;
};

static void lbd_tables_free(struct vip_table **tables, __u32 count, struct vip_table **except,
			    __u32 except_count)
{
	for (__u32 i = 0; i < count; i++) {
		bool shared = false;
		for (__u32 j = 0; j < except_count && !shared; j++)
			shared = tables[i] == except[j];
		if (!shared)
			tables_destroy(tables[i]);
	}
	free(tables);
}

/*
 * The tables of cfg's VIPs. A VIP whose inputs are those of a table in old
 * reuses it (keep[i] true: no rebuild, published as KEEP); others are built.
 * Returns 0 or -errno after logging which VIP failed.
 */
static int lbd_build_tables(const struct conf *cfg, struct vip_table **old, __u32 old_count,
			    struct vip_table ***out, bool **keep_out, __u32 *rebuilt)
{
	struct vip_table **tables = calloc(cfg->vip_count + 1, sizeof(*tables));
	bool *keep = calloc(cfg->vip_count + 1, sizeof(*keep));
	int rc = 0;

	*rebuilt = 0;
	if (!tables || !keep) {
		free(tables);
		free(keep);
		return -ENOMEM;
	}
	for (__u32 i = 0; i < cfg->vip_count && rc == 0; i++) {
		const struct conf_vip *v = &cfg->vips[i];
		struct vip_table *t = tables_from_conf(v);
		if (!t) {
			rc = -errno;
			log_error("%s:%d: vip %s: %s", cfg->source, v->line, v->name,
				  errno == EEXIST ? "a backend is listed twice" : strerror(errno));
			break;
		}
		for (__u32 j = 0; j < old_count; j++) {
			if (old[j] && tables_same_input(old[j], t)) {
				tables_destroy(t);
				t = old[j];
				keep[i] = true;
				break;
			}
		}
		if (!keep[i]) {
			rc = tables_build_ring(t);
			if (rc) {
				log_error("%s:%d: vip %s: table build failed: %s", cfg->source, v->line,
					  v->name, strerror(-rc));
				tables_destroy(t);
				break;
			}
			(*rebuilt)++;
		}
		tables[i] = t;
	}
	if (rc) {
		lbd_tables_free(tables, cfg->vip_count, old, old_count);
		free(keep);
		return rc;
	}
	*out = tables;
	*keep_out = keep;
	return 0;
}

static int lbd_publish(struct lbd *d, const bool *keep)
{
	char err[512];
	int rc;

	if (d->pub.fd < 0)
		return -ENOTCONN;
	rc = publish_generation(&d->pub, d->tables, keep, d->table_count, &d->cfg->dataplane, err,
				sizeof(err));
	if (rc)
		log_error("publishing to lb-dpdk failed: %s", err);
	else
		log_info("generation %llu in service: %u VIPs", (unsigned long long)d->pub.generation,
			 d->table_count);
	return rc;
}

static void lbd_watch_channel(struct lbd *d)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = d->pub.fd };

	epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, d->pub.fd, &ev);
}

static void lbd_try_connect(struct lbd *d)
{
	char msg[512];
	int rc = publish_connect(&d->pub, msg, sizeof(msg));

	if (rc) {
		if (d->waiting_logged)
			return;
		if (rc == -EBUSY)
			log_error("%s; retrying every second", msg);
		else
			log_info("waiting for lb-dpdk (%s)", msg);
		d->waiting_logged = true;
		return;
	}
	d->waiting_logged = false;
	log_info("connected: %s", msg);
	lbd_watch_channel(d);
	lbd_publish(d, NULL); /* a full resync */
}

/* Re-reads the configuration: all or nothing, only changed VIPs rebuilt. */
static void lbd_reload(struct lbd *d)
{
	struct conf_errors errors;
	struct conf *cfg = conf_load(d->config_path, &errors);
	struct vip_table **tables;
	bool *keep;
	__u32 rebuilt;

	if (!cfg) {
		for (__u32 i = 0; i < errors.count; i++)
			log_error("reload: %s", errors.messages[i]);
		log_error("reload refused: %s is not valid; the running configuration stays",
			  d->config_path);
		return;
	}
	if (lbd_build_tables(cfg, d->tables, d->table_count, &tables, &keep, &rebuilt)) {
		log_error("reload refused: the running configuration stays");
		conf_destroy(cfg);
		return;
	}
	if (cfg->dataplane.flow_table_size != d->cfg->dataplane.flow_table_size ||
	    memcmp(&cfg->dataplane.dpdk, &d->cfg->dataplane.dpdk, sizeof(cfg->dataplane.dpdk)))
		log_warning("reload: dataplane.dpdk and flow_table_size take effect when lb-dpdk "
			    "restarts");

	struct vip_table **old = d->tables;
	__u32 old_count = d->table_count;
	struct conf *old_cfg = d->cfg;
	d->tables = tables;
	d->table_count = cfg->vip_count;
	d->cfg = cfg;
	int rc = lbd_publish(d, keep);
	if (rc && d->pub.fd >= 0) {
		/* lb-dpdk refused it: it still runs the old generation, and so
		 * does lbd. */
		d->tables = old;
		d->table_count = old_count;
		d->cfg = old_cfg;
		lbd_tables_free(tables, cfg->vip_count, old, old_count);
		conf_destroy(cfg);
		free(keep);
		log_error("reload refused by lb-dpdk: the running configuration stays");
		return;
	}
	lbd_tables_free(old, old_count, tables, cfg->vip_count);
	conf_destroy(old_cfg);
	free(keep);
	log_set_level(cfg->global.log_level);
	log_info("reloaded %s: %u VIPs, %u rebuilt, %u unchanged%s", d->config_path,
		 cfg->vip_count, rebuilt, cfg->vip_count - rebuilt,
		 d->pub.fd < 0 ? " (published when lb-dpdk connects)" : "");
}

static void lbd_channel_event(struct lbd *d)
{
	/* lb-dpdk speaks only when asked; anything now is it going away. */
	int rc = chan_reader_fill(&d->pub.reader, d->pub.fd);

	if (rc == 0)
		return;
	log_warning("lb-dpdk closed the channel (%s); it keeps forwarding with its last tables. "
		    "Reconnecting",
		    rc < 0 ? strerror(-rc) : "unexpected message");
	epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, d->pub.fd, NULL);
	publish_disconnect(&d->pub);
}

static int lbd_run(const char *path)
{
	struct conf_errors errors;
	struct lbd d = { .config_path = path, .epoll_fd = -1, .signal_fd = -1, .timer_fd = -1 };
	bool *keep = NULL;
	__u32 rebuilt;
	sigset_t signals;
	int rc = 1;

	d.cfg = conf_load(path, &errors);
	if (!d.cfg) {
		for (__u32 i = 0; i < errors.count; i++)
			log_error("%s", errors.messages[i]);
		log_error("%s: configuration is not valid", path);
		return 1;
	}
	log_set_level(d.cfg->global.log_level);
	if (d.cfg->dataplane.mode == CONF_MODE_XDP) {
		log_error("%s: dataplane.mode \"xdp\": lbd does not program the XDP dataplane yet; "
			  "use \"dpdk\" or \"auto\"", path);
		goto out;
	}
	if (lbd_build_tables(d.cfg, NULL, 0, &d.tables, &keep, &rebuilt))
		goto out;
	free(keep);
	d.table_count = d.cfg->vip_count;
	publish_init(&d.pub, d.cfg->dataplane.dpdk.control_socket);

	sigemptyset(&signals);
	sigaddset(&signals, SIGHUP);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigprocmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
	d.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	d.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	struct itimerspec every_second = { { 1, 0 }, { 1, 0 } };
	if (d.signal_fd < 0 || d.timer_fd < 0 || d.epoll_fd < 0 ||
	    timerfd_settime(d.timer_fd, 0, &every_second, NULL) < 0) {
		log_error("event loop: %s", strerror(errno));
		goto out;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = d.signal_fd };
	epoll_ctl(d.epoll_fd, EPOLL_CTL_ADD, d.signal_fd, &ev);
	ev.data.fd = d.timer_fd;
	epoll_ctl(d.epoll_fd, EPOLL_CTL_ADD, d.timer_fd, &ev);

	log_info("started: %s, %u VIPs, %u backends; lb-dpdk at %s", path, d.cfg->vip_count,
		 conf_backend_count(d.cfg), d.pub.path);
	lbd_try_connect(&d);
	while (!d.stop) {
		struct epoll_event events[8];
		int n = epoll_wait(d.epoll_fd, events, 8, -1);
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			if (fd == d.signal_fd) {
				struct signalfd_siginfo si;
				if (read(d.signal_fd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP)
					lbd_reload(&d);
				else
					d.stop = true;
			} else if (fd == d.timer_fd) {
				__u64 ticks;
				if (read(d.timer_fd, &ticks, sizeof(ticks)) < 0)
					continue;
				if (d.pub.fd < 0)
					lbd_try_connect(&d);
			} else if (fd == d.pub.fd) {
				lbd_channel_event(&d);
			}
		}
	}
	log_info("stopping; lb-dpdk keeps forwarding with generation %llu",
		 (unsigned long long)d.pub.generation);
	rc = 0;
out:
	publish_fini(&d.pub);
	if (d.tables)
		lbd_tables_free(d.tables, d.table_count, NULL, 0);
	conf_destroy(d.cfg);
	if (d.epoll_fd >= 0)
		close(d.epoll_fd);
	if (d.signal_fd >= 0)
		close(d.signal_fd);
	if (d.timer_fd >= 0)
		close(d.timer_fd);
	return rc;
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
	if (optind != argc) {
		lbd_usage(stderr);
		return 2;
	}
	return check ? lbd_check(path) : lbd_run(path);
}
