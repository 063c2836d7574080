// SPDX-License-Identifier: MIT
/*
 * legacy_stub.bpf.c — stands in for xdp_main_prog in tests/lab/test_shim.sh: settles the
 * shim's tail-call attempt as xdp_main_prog must, counts its own runs, and passes.
 * Built with -DMOAT_STUB_NO_SETTLE it forgets to settle, so the test can check that the
 * shim counts the tail call itself at its next packet on that CPU.
 * Built by the test (not by CMake, which only builds the .bpf.c files of bpf/).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "moat_maps.bpf.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} legacy_hits SEC(".maps");

SEC("xdp")
int xdp_legacy_stub(struct xdp_md *ctx)
{
    __u32 zero = 0;
    __u64 *hits;

#ifndef MOAT_STUB_NO_SETTLE
    moat_shim_settle_tail_call();
#endif
    hits = bpf_map_lookup_elem(&legacy_hits, &zero);
    if (hits)
        __sync_fetch_and_add(hits, 1);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
