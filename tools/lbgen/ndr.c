/* SPDX-License-Identifier: BSD-3-Clause */
/* The no-drop-rate search (tools/lbgen/ndr.h). */
#include <string.h>

#include "tools/lbgen/ndr.h"

void ndr_init(struct ndr *n, double max_pps, double resolution_pps, double loss_threshold)
{
	memset(n, 0, sizeof(*n));
	n->max_pps = max_pps;
	n->resolution_pps = resolution_pps;
	n->loss_threshold = loss_threshold;
	n->next_pps = max_pps;
}

double ndr_next_rate(const struct ndr *n)
{
	return n->next_pps;
}

double ndr_loss_ratio(__u64 tx_packets, __u64 rx_packets)
{
	if (!tx_packets)
		return 1.0;
	if (rx_packets >= tx_packets)
		return 0.0;
	return (double)(tx_packets - rx_packets) / (double)tx_packets;
}

void ndr_record(struct ndr *n, __u64 tx_packets, __u64 rx_packets, double sent_pps)
{
	if (!n->next_pps || n->trial_count == NDR_TRIALS_MAX) {
		n->next_pps = 0;
		return;
	}
	struct ndr_trial *t = &n->trials[n->trial_count++];
	t->rate_pps = n->next_pps;
	t->sent_pps = sent_pps;
	t->tx_packets = tx_packets;
	t->rx_packets = rx_packets;
	t->loss_ratio = ndr_loss_ratio(tx_packets, rx_packets);
	t->passed = tx_packets && t->loss_ratio <= n->loss_threshold &&
		    sent_pps >= (1 - NDR_RATE_TOLERANCE) * t->rate_pps;
	if (t->passed)
		n->pass_pps = t->rate_pps;
	else
		n->fail_pps = t->rate_pps;

	/* Passing at the maximum ends it; otherwise halve the interval
	 * between what passed (or nothing) and what failed. */
	if (!n->fail_pps || n->fail_pps - n->pass_pps <= n->resolution_pps ||
	    n->trial_count == NDR_TRIALS_MAX)
		n->next_pps = 0;
	else
		n->next_pps = (n->pass_pps + n->fail_pps) / 2;
}

double ndr_result(const struct ndr *n)
{
	return n->pass_pps;
}
