/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-3-Clause) */
/*
 * The empty XDP program: passes every frame to the kernel and touches
 * nothing. tests/bench/bench_xdp.c runs it through BPF_PROG_TEST_RUN exactly
 * as it runs the balancer, as the baseline of its figures: what a call costs
 * with no program work in it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
