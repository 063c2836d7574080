/* SPDX-License-Identifier: GPL-2.0 */
/*
 * slow_xdp.bpf.c — test_backpressure.sh's egress peer: an XDP program that burns time on
 * every packet (bpf_loop) before passing it, so the veth in front of it fills its ring and
 * pushes back on the firewall's AF_XDP TX ring. Compiled by the test itself (clang -target
 * bpf), never installed.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
static long spin(__u64 i, void *ctx)
{
    return 0;
}
SEC("xdp")
int xdp_slow(struct xdp_md *ctx)
{
    bpf_loop(20000, spin, NULL, 0);
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
