/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * Test program: runs the shared packet parser and flow hash in BPF, exactly
 * as included by the XDP balancer, and leaves the results in global data for
 * tests/bpf/test_bpf_agreement.c to compare with the same code built by gcc.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "dataplane/pkt.h"

__u32 result_verdict;
__u32 result_drop_reason;
__u32 result_flags;
__u32 result_hash;
struct flow_tuple result_tuple;

SEC("xdp")
int pkt_flow(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt_info info;
	enum pkt_verdict verdict = pkt_parse(data, data_end, &info);

	result_verdict = verdict;
	result_drop_reason = info.drop_reason;
	result_flags = info.flags;
	result_tuple = info.tuple;
	result_hash = verdict == PKT_VERDICT_CANDIDATE ? pkt_flow_hash(&info) : 0;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
