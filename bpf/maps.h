/* SPDX-License-Identifier: MIT */
/*
 * maps.h — layouts of the BPF maps shared between bpf/, controld and the dataplane.
 *
 * Every map is pinned by name under the bpffs directory (default /sys/fs/bpf/moat/,
 * `--bpffs-dir` overrides it). controld creates, fills and owns them; the shim reads them;
 * the dataplane only inserts its XSKs into moat_xsks.
 */
#ifndef MOAT_BPF_MAPS_H
#define MOAT_BPF_MAPS_H

#include <linux/types.h>

#define MOAT_MAX_IFACES 64        /* interfaces Moat manages on one box */
#define MOAT_MAX_QUEUES 16        /* RX queues per interface served by XSKs */
#define MOAT_XSK_SLOTS (MOAT_MAX_IFACES * MOAT_MAX_QUEUES)
#define MOAT_MAX_LOCAL_ADDRS 1024 /* addresses of the box itself */
#define MOAT_MAX_CPUS 128         /* cpumap entries */

/* Pinned map names (file names under the bpffs directory). */
#define MOAT_MAP_IFACES "moat_ifaces"
#define MOAT_MAP_XSKS "moat_xsks"
#define MOAT_MAP_LOCAL "moat_local_addrs"
#define MOAT_MAP_CPUMAP "moat_cpumap"
#define MOAT_MAP_PROGS "moat_progs"
#define MOAT_MAP_SHIM_STATS "moat_shim_stats"
#define MOAT_MAP_CTRL "moat_ctrl"

/* Pinned program names. */
#define MOAT_PROG_SHIM "xdp_userspace_prog"

/* moat_progs slots (BPF_MAP_TYPE_PROG_ARRAY). */
#define MOAT_PROG_SLOT_MAIN 0 /* xdp_main_prog, the legacy in-kernel path */

/* moat_iface.flags */
#define MOAT_IF_MANAGED 0x1   /* controld manages this interface */
#define MOAT_IF_ARMED 0x2     /* the helper's XSKs for it are live: redirect transit traffic */
#define MOAT_IF_USERSPACE 0x4 /* mode userspace chosen by the capability gate */

/*
 * moat_ifaces: BPF_MAP_TYPE_HASH, key __u32 ifindex, value struct moat_iface.
 * slot is the interface's index (0..MOAT_MAX_IFACES-1) into per-interface arrays;
 * its XSKs live in moat_xsks at [slot * MOAT_MAX_QUEUES + rx_queue].
 */
struct moat_iface {
	__u32 slot;
	__u32 flags;
	__u32 zone_id;      /* 0 = no zone */
	__u32 host_inbound; /* bitmask of allowed host-inbound services (later issue) */
};

/*
 * moat_local_addrs: BPF_MAP_TYPE_HASH, key struct moat_addr_key, value __u32 ifindex
 * (the interface that owns the address). A packet whose destination is in here is
 * host-bound: it goes to the kernel, never to the userspace dataplane.
 */
struct moat_addr_key {
	__u32 family; /* AF_INET or AF_INET6 */
	__u8 addr[16];
};

/*
 * moat_ctrl: BPF_MAP_TYPE_ARRAY, one entry, struct moat_ctrl. Written by controld.
 */
#define MOAT_CTRL_F_CPUMAP 0x1 /* pass host-bound traffic via moat_cpumap, else XDP_PASS */
struct moat_ctrl {
	__u64 generation; /* snapshot generation the armed helper applied */
	__u32 flags;      /* MOAT_CTRL_F_* */
	__u32 ncpus;      /* entries filled in moat_cpumap */
};

/*
 * Shim decision counters: moat_shim_stats is BPF_MAP_TYPE_PERCPU_ARRAY with
 * MOAT_SHIM_STATS_ENTRIES entries (indexed by moat_iface.slot, plus the unmanaged entry
 * below), value struct moat_shim_stats.
 * Readers sum over CPUs. Every packet the shim sees increments rx and exactly one
 * decision counter.
 */
struct moat_shim_stats {
	__u64 rx;             /* packets seen */
	__u64 redirect;       /* redirected to an XSK (userspace dataplane) */
	__u64 redirect_err;   /* XSK redirect refused by the kernel */
	__u64 host_pass;      /* host-bound, handed to the kernel (cpumap or XDP_PASS) */
	__u64 tail_call;      /* tail-called into xdp_main_prog (legacy path) */
	__u64 fallback_pass;  /* not armed / no XSK and no legacy program: XDP_PASS */
	__u64 drop_malformed; /* bad L2/L3/L4 headers */
	__u64 drop_other;     /* anything else that was dropped */
	__u64 no_xsk;         /* armed but no XSK for (interface, queue): fell back */
	__u64 unmanaged;      /* arrived on an interface missing from moat_ifaces: passed */
};

/*
 * Decision counters are redirect, redirect_err, host_pass, tail_call, fallback_pass,
 * drop_malformed, drop_other and unmanaged: rx is their sum. no_xsk is not a decision,
 * it says why a packet of an armed interface took the fallback (tail_call/fallback_pass).
 * Packets whose ingress interface has no valid moat_ifaces entry have no slot: they count
 * rx and unmanaged in one extra entry, index MOAT_SHIM_STATS_UNMANAGED.
 */
#define MOAT_SHIM_STATS_UNMANAGED MOAT_MAX_IFACES
#define MOAT_SHIM_STATS_ENTRIES (MOAT_MAX_IFACES + 1)

#endif
