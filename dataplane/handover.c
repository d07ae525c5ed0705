/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lb-dpdk's side of its own restart (lb_dpdk.h, handover_*): the workers'
 * flow tables saved to dataplane.dpdk.flow_state_file at a graceful stop
 * and put back when the next lb-dpdk gets its first generation from lbd,
 * so that established flows keep their backend even where the ring has
 * changed since they started. A file that cannot be used is logged with
 * its reason, renamed to FILE.refused, and lb-dpdk starts with empty tables
 * as it would without one. Main lcore only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "dataplane/lb_dpdk.h"

static const char *handover_path(const struct lb_dpdk *lb)
{
	return lb->conf->dataplane.dpdk.flow_state_file;
}

void handover_load(struct lb_dpdk *lb)
{
	struct lb_handover *h = &lb->handover;
	const char *path = handover_path(lb);
	struct flow_state_geometry geo = { .workers = lb->worker_count,
					   .buckets = lb->workers[0].flows.bucket_mask + 1 };
	struct flow_state_load_info info;
	struct flow_state_clock now;
	char err[512], refused[CONF_PATH_MAX + 16];

	if (!path[0]) {
		h->outcome = "off";
		LB_LOG(INFO, "flow state file off (dataplane.dpdk.flow_state_file = \"\"): flows "
			     "are not kept across a restart");
		return;
	}
	flow_state_clock_now(&now);
	h->pending = flow_state_load(path, &geo, &now, &info, err, sizeof(err));
	h->file_flows = info.entries;
	h->load_age_s = info.age_s;
	if (h->pending) {
		h->outcome = "pending";
		LB_LOG(INFO,
		       "flow state %s: %llu flows saved %lld s ago (generation %llu); restored "
		       "when lbd sends the first generation",
		       path, (unsigned long long)info.entries, info.age_s,
		       (unsigned long long)h->pending->head.generation);
		return;
	}
	h->outcome = flow_state_status_name(info.status);
	if (info.status == FLOW_STATE_MISSING) {
		LB_LOG(INFO, "flow state %s: none saved: starting with empty flow tables", path);
		return;
	}
	if (info.status == FLOW_STATE_GEOMETRY)
		h->unplaced = info.entries;
	LB_LOG(WARNING, "flow state refused (%s), starting with empty flow tables: %s",
	       h->outcome, err);
	/* Out of the way, so that it is never tried again, but kept for
	 * whoever wants to know what was in it. */
	snprintf(refused, sizeof(refused), "%s.refused", path);
	if (rename(path, refused))
		LB_LOG(WARNING, "flow state %s: cannot rename it to %s: %s", path, refused,
		       strerror(errno));
}

void handover_restore(struct lb_dpdk *lb, const struct gen *g)
{
	struct lb_handover *h = &lb->handover;
	struct flow_state *fs = h->pending;
	const char *path = handover_path(lb);
	struct flow_state_restore_stats *st = &h->restored;
	struct flow_state_clock now;
	__u32 *map;

	if (!fs)
		return;
	h->pending = NULL;
	map = flow_state_resolve(fs, g);
	if (!map) {
		h->outcome = "out_of_memory";
		LB_LOG(ERR, "flow state %s: out of memory: %llu flows not restored", path,
		       (unsigned long long)fs->head.entry_count);
		goto out;
	}
	/* The time since the file was written counts against each flow's
	 * idle timeout, as if the old process had kept running. */
	flow_state_clock_now(&now);
	long long elapsed = flow_state_file_age_s(&fs->head, &now);
	if (elapsed < h->load_age_s)
		elapsed = h->load_age_s;
	for (uint16_t w = 0; w < lb->worker_count; w++)
		flow_state_restore_table(fs, map, w, &lb->workers[w].flows,
					 worker_clock_at(&lb->workers[w], rte_rdtsc()),
					 (__u64)elapsed, st);
	free(map);
	h->outcome = "restored";
	LB_LOG(INFO,
	       "flow state %s: %llu of %llu flows restored with generation %llu; dropped: "
	       "%llu VIP gone, %llu backend gone, %llu expired (%lld s since saved), %llu "
	       "collided",
	       path, (unsigned long long)st->restored, (unsigned long long)fs->head.entry_count,
	       (unsigned long long)g->id, (unsigned long long)st->vip_gone,
	       (unsigned long long)st->backend_gone, (unsigned long long)st->expired, elapsed,
	       (unsigned long long)st->collided);
out:
	/* Used once: a crash later must not bring back flows this process
	 * has since moved or forgotten. */
	if (unlink(path) && errno != ENOENT)
		LB_LOG(WARNING, "flow state %s: cannot remove it after the restore: %s", path,
		       strerror(errno));
	flow_state_destroy(fs);
}

void handover_save(struct lb_dpdk *lb)
{
	const char *path = handover_path(lb);
	const struct gen *g = lb->shared.gen;
	const struct flow_table **tables = NULL;
	struct flow_state_save_stats st;
	struct flow_state_clock now;
	struct timespec t0, t1;
	__u32 *now_s = NULL;
	char err[512];

	if (!path[0])
		return;
	if (lb->handover.pending) {
		LB_LOG(INFO,
		       "flow state %s: not restored (no generation came from lbd): left for the "
		       "next start",
		       path);
		return;
	}
	if (!g) {
		LB_LOG(INFO, "flow state %s: no generation in service, no flows to save", path);
		return;
	}
	tables = calloc(lb->worker_count, sizeof(*tables));
	now_s = calloc(lb->worker_count, sizeof(*now_s));
	if (!tables || !now_s) {
		LB_LOG(ERR, "flow state %s: out of memory: flows not saved", path);
		goto out;
	}
	for (uint16_t w = 0; w < lb->worker_count; w++) {
		tables[w] = &lb->workers[w].flows;
		now_s[w] = worker_clock_at(&lb->workers[w], rte_rdtsc());
	}
	struct flow_state_tables t = { .tables = tables, .now_s = now_s,
				       .workers = lb->worker_count };
	struct flow_state_gen_ctx ctx = { .gen = g, .registry = lb->registry };
	__u32 timeout = g->params.tcp_idle_timeout_s > g->params.udp_idle_timeout_s
				? g->params.tcp_idle_timeout_s
				: g->params.udp_idle_timeout_s;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	flow_state_clock_now(&now);
	if (flow_state_save(path, &t, g->id, timeout, &now, flow_state_describe_gen, &ctx, &st,
			    err, sizeof(err))) {
		LB_LOG(ERR, "flow state not saved, the next lb-dpdk starts with empty tables: %s",
		       err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	LB_LOG(INFO,
	       "flow state %s: %llu flows saved (%u backends named, %llu left out unnamed; "
	       "generation %llu) in %lld ms",
	       path, (unsigned long long)st.saved, st.members, (unsigned long long)st.unnamed,
	       (unsigned long long)g->id,
	       (long long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
out:
	free(tables);
	free(now_s);
}

void handover_fini(struct lb_dpdk *lb)
{
	flow_state_destroy(lb->handover.pending);
	lb->handover.pending = NULL;
}
