/* SPDX-License-Identifier: BSD-3-Clause */
/* lbgen's results (tools/lbgen/report.h). */
#include <arpa/inet.h>

#include "tools/lbgen/report.h"

void report_latency_read(const struct latency *h, struct report_latency *out)
{
	__u64 count = __atomic_load_n(&h->count, __ATOMIC_RELAXED);

	out->samples = count;
	out->p50 = latency_percentile(h, 0.50);
	out->p90 = latency_percentile(h, 0.90);
	out->p99 = latency_percentile(h, 0.99);
	out->p999 = latency_percentile(h, 0.999);
	out->max = count ? __atomic_load_n(&h->max_ns, __ATOMIC_RELAXED) : 0;
	out->min = count ? __atomic_load_n(&h->min_ns, __ATOMIC_RELAXED) : 0;
	out->mean =
		count ? (double)__atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED) / (double)count : 0;
}

__u64 report_lost(const struct report *r)
{
	__u64 stamped = r->tx_packets - r->tx_unstamped;

	return stamped > r->rx.rx_packets ? stamped - r->rx.rx_packets : 0;
}

static double report_ratio(__u64 part, __u64 whole)
{
	return whole ? (double)part / (double)whole : 0;
}

static double report_rate(__u64 count, double seconds)
{
	return seconds > 0 ? (double)count / seconds : 0;
}

static json_t *report_latency_json(const struct report_latency *l)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I}", "p50", (json_int_t)l->p50,
			 "p90", (json_int_t)l->p90, "p99", (json_int_t)l->p99, "p999",
			 (json_int_t)l->p999, "max", (json_int_t)l->max, "min", (json_int_t)l->min,
			 "mean", l->mean, "samples", (json_int_t)l->samples);
}

static const char *report_fmt_addr(const struct track_backend *b, char *buf, size_t size)
{
	if (!inet_ntop(b->family == FLOW_FAMILY_IPV4 ? AF_INET : AF_INET6, b->addr, buf,
		       (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

json_t *report_json(const struct report *r)
{
	const __u64 stamped = r->tx_packets - r->tx_unstamped;
	const __u64 lost = report_lost(r);
	json_t *o = json_object(), *encap = json_object(), *backends = json_object();

	if (!o || !encap || !backends)
		goto fail;
	for (int e = 0; e < RXPARSE_ENCAP_COUNT; e++)
		json_object_set_new(encap, rxparse_encap_name((enum rxparse_encap)e),
				    json_integer((json_int_t)r->rx.encap[e]));
	for (__u32 i = 0; i < r->backend_count; i++) {
		char addr[64];
		json_object_set_new(backends, report_fmt_addr(&r->backends[i], addr, sizeof(addr)),
				    json_integer((json_int_t)r->backends[i].packets));
	}
	json_t *body = json_pack(
		"{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
		"s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
		"tx_packets", (json_int_t)r->tx_packets, "rx_packets", (json_int_t)r->rx.rx_packets,
		"lost", (json_int_t)lost, "loss_ratio", report_ratio(lost, stamped), "duration_s",
		r->duration_s, "tx_pps", report_rate(r->tx_packets, r->duration_s), "rx_pps",
		report_rate(r->rx.rx_packets, r->duration_s), "rate_pps", r->rate_pps, "latency_ns",
		report_latency_json(&r->latency), "flows", (json_int_t)r->flows, "flows_received",
		(json_int_t)r->rx.flows_seen, "flows_moved", (json_int_t)r->rx.flows_moved,
		"unknown_backend", (json_int_t)r->rx.unknown_backend, "bad_checksum",
		(json_int_t)r->rx.bad_checksum, "not_ours", (json_int_t)r->rx.not_ours,
		"flow_mismatch", (json_int_t)r->rx.flow_mismatch, "duplicates",
		(json_int_t)r->rx.duplicates, "reordered", (json_int_t)r->rx.reordered, "stale",
		(json_int_t)r->rx.stale, "tx_unstamped", (json_int_t)r->tx_unstamped, "tx_bytes",
		(json_int_t)r->tx_bytes, "rx_bytes", (json_int_t)r->rx.rx_bytes, "encap", encap,
		"backends", backends);
	encap = backends = NULL; /* owned by body now, or freed by json_pack */
	if (!body || json_object_update(o, body)) {
		json_decref(body);
		goto fail;
	}
	json_decref(body);
	if (r->ndr) {
		json_t *trials = json_array();
		for (__u32 i = 0; trials && i < r->trial_count; i++) {
			const struct report_trial *t = &r->trials[i];
			json_array_append_new(
				trials, json_pack("{s:f, s:f, s:I, s:I, s:f, s:b, s:o}", "rate_pps",
						  t->rate_pps, "tx_pps", t->tx_pps, "tx_packets",
						  (json_int_t)t->tx_packets, "rx_packets",
						  (json_int_t)t->rx_packets, "loss_ratio",
						  t->loss_ratio, "passed", t->passed, "latency_ns",
						  report_latency_json(&t->latency)));
		}
		json_t *ndr = json_pack("{s:f, s:f, s:f, s:o}", "pps", r->ndr_pps, "loss_threshold",
					r->ndr_loss_threshold, "resolution_pps",
					r->ndr_resolution_pps, "trials", trials);
		if (!ndr || json_object_set_new(o, "ndr", ndr))
			goto fail;
	}
	return o;
fail:
	json_decref(encap);
	json_decref(backends);
	json_decref(o);
	return NULL;
}

/* Nanoseconds as people read them: 850 ns, 12.3 us, 4.56 ms. */
static const char *report_fmt_ns(__u64 ns, char *buf, size_t size)
{
	if (ns < 1000)
		snprintf(buf, size, "%llu ns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, size, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, size, "%.2f ms", (double)ns / 1e6);
	else
		snprintf(buf, size, "%.2f s", (double)ns / 1e9);
	return buf;
}

void report_human(FILE *out, const struct report *r)
{
	const __u64 stamped = r->tx_packets - r->tx_unstamped;
	const __u64 lost = report_lost(r);
	char a[32], b[32], c[32], d[32], e[32], offered[32] = "unlimited";

	if (r->rate_pps > 0)
		snprintf(offered, sizeof(offered), "%.0f pps", r->rate_pps);
	fprintf(out, "sent      %llu packets in %.3f s: %.0f pps (offered %s)\n",
		(unsigned long long)r->tx_packets, r->duration_s,
		report_rate(r->tx_packets, r->duration_s), offered);
	if (r->tx_unstamped)
		fprintf(out, "          %llu of them without a probe (no room in the payload)\n",
			(unsigned long long)r->tx_unstamped);
	fprintf(out, "received  %llu packets: %.0f pps; lost %llu (%.6f%%)\n",
		(unsigned long long)r->rx.rx_packets, report_rate(r->rx.rx_packets, r->duration_s),
		(unsigned long long)lost, 100 * report_ratio(lost, stamped));
	fprintf(out, "latency   p50 %s, p90 %s, p99 %s, p99.9 %s, max %s (%llu samples)\n",
		report_fmt_ns(r->latency.p50, a, sizeof(a)),
		report_fmt_ns(r->latency.p90, b, sizeof(b)),
		report_fmt_ns(r->latency.p99, c, sizeof(c)),
		report_fmt_ns(r->latency.p999, d, sizeof(d)),
		report_fmt_ns(r->latency.max, e, sizeof(e)),
		(unsigned long long)r->latency.samples);
	fprintf(out, "flows     %llu sent, %llu came back, %llu moved to another backend\n",
		(unsigned long long)r->flows, (unsigned long long)r->rx.flows_seen,
		(unsigned long long)r->rx.flows_moved);
	fprintf(out, "tunnels  ");
	for (int i = 0; i < RXPARSE_ENCAP_COUNT; i++)
		fprintf(out, " %s %llu", rxparse_encap_name((enum rxparse_encap)i),
			(unsigned long long)r->rx.encap[i]);
	fprintf(out, "\n");
	fprintf(out, "backends ");
	for (__u32 i = 0; i < r->backend_count; i++) {
		char addr[64];
		fprintf(out, " %s %llu", report_fmt_addr(&r->backends[i], addr, sizeof(addr)),
			(unsigned long long)r->backends[i].packets);
	}
	fprintf(out, "%s\n", r->backend_count ? "" : " none");
	fprintf(out,
		"problems  unknown backend %llu, bad checksum %llu, flow mismatch %llu, "
		"duplicates %llu, reordered %llu, stale %llu, not ours %llu\n",
		(unsigned long long)r->rx.unknown_backend, (unsigned long long)r->rx.bad_checksum,
		(unsigned long long)r->rx.flow_mismatch, (unsigned long long)r->rx.duplicates,
		(unsigned long long)r->rx.reordered, (unsigned long long)r->rx.stale,
		(unsigned long long)r->rx.not_ours);
	if (!r->ndr)
		return;
	for (__u32 i = 0; i < r->trial_count; i++) {
		const struct report_trial *t = &r->trials[i];
		fprintf(out,
			"trial %2u  offered %.0f pps, sent %.0f pps: %llu sent, %llu back, loss "
			"%.6f%%, p99 %s: %s\n",
			i + 1, t->rate_pps, t->tx_pps, (unsigned long long)t->tx_packets,
			(unsigned long long)t->rx_packets, 100 * t->loss_ratio,
			report_fmt_ns(t->latency.p99, a, sizeof(a)), t->passed ? "pass" : "fail");
	}
	fprintf(out, "no-drop rate %.0f pps (loss at most %.6f%%, resolution %.0f pps)\n",
		r->ndr_pps, 100 * r->ndr_loss_threshold, r->ndr_resolution_pps);
}

void report_progress(FILE *out, double elapsed_s, double tx_pps, double rx_pps, __u64 tx_packets,
		     __u64 rx_packets, __u64 missing, const struct report_latency *lat)
{
	char p50[32], p99[32];

	fprintf(out,
		"%7.1f s  tx %10.0f pps %12llu  rx %10.0f pps %12llu  missing %llu  p50 %s  p99 "
		"%s\n",
		elapsed_s, tx_pps, (unsigned long long)tx_packets, rx_pps,
		(unsigned long long)rx_packets, (unsigned long long)missing,
		report_fmt_ns(lat->p50, p50, sizeof(p50)),
		report_fmt_ns(lat->p99, p99, sizeof(p99)));
	fflush(out);
}
