/* SPDX-License-Identifier: MIT */
/*
 * moat_maps.bpf.h — BTF definitions of the maps the XDP programs share, for BPF code only.
 *
 * Layouts and names come from maps.h. Every map here is pinned by name
 * (LIBBPF_PIN_BY_NAME), so each object that includes this header (shim.bpf.c today,
 * main.bpf.c later) reuses the same pinned maps when it is opened with
 * pin_root_path = the bpffs directory.
 *
 * It also holds the tail-call accounting the shim and xdp_main_prog share: a successful
 * bpf_tail_call() never returns to the shim, so the shim cannot count it afterwards, and it
 * must not count it before (a failed call must count fallback_pass instead, and counters
 * never go down). The shim records a per-CPU "attempt" just before the call; the callee
 * settles it as its first action with moat_shim_settle_tail_call(), which counts tail_call.
 * If a callee forgets to, the shim settles the attempt itself at its next packet on that
 * CPU, so the count is late by at most one packet but never lost or doubled.
 */
#ifndef MOAT_MAPS_BPF_H
#define MOAT_MAPS_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"

/* Entries of moat_progs (slot MOAT_PROG_SLOT_MAIN and room for later stages). */
#define MOAT_PROG_SLOTS 8
/* Pinned name of the per-CPU tail-call attempt record. */
#define MOAT_MAP_SHIM_TAIL "moat_shim_tail"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MOAT_MAX_IFACES);
    __type(key, __u32);
    __type(value, struct moat_iface);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_ifaces SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, MOAT_XSK_SLOTS);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_xsks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MOAT_MAX_LOCAL_ADDRS);
    __type(key, struct moat_addr_key);
    __type(value, __u32);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_local_addrs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_CPUMAP);
    __uint(max_entries, MOAT_MAX_CPUS);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(struct bpf_cpumap_val));
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_cpumap SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, MOAT_PROG_SLOTS);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_progs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MOAT_SHIM_STATS_ENTRIES);
    __type(key, __u32);
    __type(value, struct moat_shim_stats);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_shim_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct moat_ctrl);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_ctrl SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MOAT_MAX_NAT_LOCAL);
    __type(key, struct moat_nat_key);
    __type(value, struct moat_nat_local_val);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_nat_local SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, MOAT_LG_DIVERT_MAX);
    __type(key, struct moat_lg_key);
    __type(value, __u32);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_divert SEC(".maps");

/* The shim's pending tail call on this CPU: pending != 0 means "slot tail-called". */
struct moat_tail_attempt {
    __u32 pending;
    __u32 slot;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct moat_tail_attempt);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_shim_tail SEC(".maps");

/*
 * Counts a tail call the shim made on this CPU and has not been counted yet. xdp_main_prog
 * (and any program placed in moat_progs) calls it first thing. Runs on one CPU with
 * migration disabled, like all XDP, so the per-CPU record can't be touched concurrently.
 */
static __always_inline void moat_shim_settle_tail_call(void)
{
    __u32 zero = 0;
    struct moat_tail_attempt *att = bpf_map_lookup_elem(&moat_shim_tail, &zero);

    if (!att || !att->pending)
        return;
    __u32 slot = att->slot;
    att->pending = 0;
    struct moat_shim_stats *st = bpf_map_lookup_elem(&moat_shim_stats, &slot);
    if (st)
        st->tail_call++;
}

#endif
