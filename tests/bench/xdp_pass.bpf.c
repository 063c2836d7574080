/* SPDX-License-Identifier: MIT */
/* The benchmark baseline's XDP program: pass everything (so the baselines pay the same
 * "XDP attached" cost on veth as Moat, see shared/LAB.md pitfall 4). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass_all(struct xdp_md *ctx)
{
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
