/* SPDX-License-Identifier: MIT */
/*
 * legacy_maps.h — layouts of the maps of xdp_main_prog, the legacy in-kernel path (bpf/main.bpf.c),
 * shared with controld (controld/legacy.c compiles the Snapshot into them, consumes the
 * session events and ages the sessions).
 *
 * Every map is pinned by name under the bpffs directory, like those of maps.h: a controld
 * restart reuses them (sessions survive). The path, per packet (transit only: the shim has
 * already handed host-bound traffic to the kernel):
 *   parse -> screen of the ingress zone -> TTL / hop limit 1: time exceeded -> session lookup
 *   (moat_lg_sess, key = the packet's tuple; a session has two
 *   entries, forward and reverse, each naming the other as `peer`) -> hit: TCP state,
 *   counters, rewrite to the peer's tuple reversed (NAT), TTL, route + neighbour, redirect
 *   through moat_lg_tx. Miss: destination NAT (static, destination rules), route, zone pair
 *   policy (moat_lg_pairs -> moat_lg_rules, first match in order, else the default policy),
 *   source NAT (static, source rules, hairpin; ports: the internal endpoint's mapping in
 *   moat_lg_nmap, else a new one) inserting the reverse entry with BPF_NOEXIST, then the
 *   forward entry, a create event on moat_lg_events.
 */
#ifndef MOAT_BPF_LEGACY_MAPS_H
#define MOAT_BPF_LEGACY_MAPS_H

#include <linux/types.h>

#include "maps.h"
#include "screen_rules.h"

#define MOAT_PROG_MAIN "xdp_main_prog"
#define MOAT_PROG_MAIN_NEW "xdp_main_new"
#define MOAT_PROG_MAIN_ICMP "xdp_main_icmp"
#define MOAT_PROG_MAIN_SYN "xdp_main_syn"
/* moat_progs slots of xdp_main_new, xdp_main_icmp and xdp_main_syn (xdp_main_prog is
 * MOAT_PROG_SLOT_MAIN, maps.h). */
#define MOAT_LG_SLOT_NEW 1
#define MOAT_LG_SLOT_ICMP 2
#define MOAT_LG_SLOT_SYN 3

/* Pinned map names. */
#define MOAT_MAP_LG_SESS "moat_lg_sess"
#define MOAT_MAP_LG_CFG "moat_lg_cfg"
#define MOAT_MAP_LG_IFS "moat_lg_ifs"
#define MOAT_MAP_LG_PAIRS "moat_lg_pairs"
#define MOAT_MAP_LG_RULES "moat_lg_rules"
#define MOAT_MAP_LG_PFX "moat_lg_pfx"
#define MOAT_MAP_LG_NAT "moat_lg_nat"
#define MOAT_MAP_LG_SPOOLS "moat_lg_spools"
#define MOAT_MAP_LG_DPOOLS "moat_lg_dpools"
#define MOAT_MAP_LG_ROUTES "moat_lg_routes"
#define MOAT_MAP_LG_NEIGH "moat_lg_neigh"
#define MOAT_MAP_LG_TX "moat_lg_tx"
#define MOAT_MAP_LG_EVENTS "moat_lg_events"
#define MOAT_MAP_LG_STATS "moat_lg_stats"
#define MOAT_MAP_LG_PERCPU "moat_lg_percpu"
#define MOAT_MAP_LG_HITS "moat_lg_hits"
#define MOAT_MAP_LG_LIMIT "moat_lg_limit"
#define MOAT_MAP_LG_NATCTR "moat_lg_natctr"
#define MOAT_MAP_LG_POOLCTR "moat_lg_poolctr"
#define MOAT_MAP_LG_IF6 "moat_lg_if6"
#define MOAT_MAP_LG_SCREENS "moat_lg_screens"
#define MOAT_MAP_LG_SCRCTR "moat_lg_scrctr"
#define MOAT_MAP_LG_SCRRATE "moat_lg_scrrate"
#define MOAT_MAP_LG_SCRFRAG "moat_lg_scrfrag"
#define MOAT_MAP_LG_SCRCNT "moat_lg_scrcnt"
#define MOAT_MAP_LG_ERRRATE "moat_lg_errrate"
#define MOAT_MAP_LG_FRAGS "moat_lg_frags"
#define MOAT_MAP_LG_NMAP "moat_lg_nmap"
#define MOAT_MAP_LG_NEXT "moat_lg_next"
#define MOAT_MAP_LG_SPSLOT "moat_lg_spslot"

#define MOAT_LG_MAX_SESSIONS 131072 /* entries (two per session) */
#define MOAT_LG_BANK_RULES 2048     /* policy sub-rules per bank (two banks) */
#define MOAT_LG_MAX_RULES (2 * MOAT_LG_BANK_RULES)
#define MOAT_LG_MAX_PAIRS 1024
#define MOAT_LG_MAX_PFX 16384
#define MOAT_LG_BANK_NAT 256 /* NAT rules per bank (two banks) */
#define MOAT_LG_MAX_NAT (2 * MOAT_LG_BANK_NAT)
#define MOAT_LG_MAX_POOLS 256     /* pool ids 1..255 */
#define MOAT_LG_MAX_POLICIES 4096 /* hit counters by policy id (0: the default policy) */
#define MOAT_LG_POOL_RANGES 8
#define MOAT_LG_MAX_ROUTES 4096
#define MOAT_LG_MAX_NEIGH 4096
#define MOAT_LG_MAX_ZONE 63 /* NAT rules hold zones as a bitmask */
#define MOAT_LG_NAT_IFS 4   /* ifindexes per NAT rule side */
#define MOAT_LG_EVENTS_BYTES (256 * 1024)
#define MOAT_LG_ALLOC_TRIES 16 /* candidate ports per pool address of a source-NAT allocation */
#define MOAT_LG_POOL_TRIES 8   /* pool addresses an allocation tries (address-persistent: 1) */
/* Session ids of the legacy path: this bit set, CPU in bits 40..55, a per-CPU serial. */
#define MOAT_LG_ID_BIT (1ull << 62)

/* Session states: moat.SessionState values. */
enum moat_lg_state {
    MOAT_LG_NEW = 0,
    MOAT_LG_SYN_SENT = 1,
    MOAT_LG_SYN_RECV = 2,
    MOAT_LG_ESTABLISHED = 3,
    MOAT_LG_FIN_WAIT = 4,
    MOAT_LG_CLOSING = 5,
    MOAT_LG_TIME_WAIT = 6,
    MOAT_LG_CLOSED = 7,
};

/* moat_lg_sess.flags */
#define MOAT_LG_F_FIN_FWD 0x01
#define MOAT_LG_F_FIN_REV 0x02
#define MOAT_LG_F_FIN_FIRST 0x04 /* the responder sent the first FIN */
#define MOAT_LG_F_NAT 0x08

/* struct moat_lg_key, a direction of a flow as its packets arrive: maps.h. */

/*
 * moat_lg_sess: BPF_MAP_TYPE_LRU_HASH, key struct moat_lg_key, value struct moat_lg_sess.
 * A packet matching an entry leaves with src = peer.dst, dst = peer.src, sport = peer.dport,
 * dport = peer.sport (ICMP echo: identifier = peer.sport). state and flags are kept in both
 * entries (written to both on a change).
 */
struct moat_lg_sess {
    struct moat_lg_key peer;
    __u64 id;
    __u64 created_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
    __u64 last_seen_ns;
    __u64 packets; /* this direction */
    __u64 bytes;
    __u32 in_ifindex; /* where this direction's packets arrive */
    __u32 out_ifindex;
    __u32 policy_id;
    __u32 app_timeout;        /* s, 0: the protocol's */
    __u16 from_zone, to_zone; /* of the session (its forward direction) */
    __u16 snat_rule, dnat_rule, snat_pool;
    __u8 dir; /* 0 forward (initiator), 1 reverse */
    __u8 state;
    __u8 flags;
    __u8 sp_phase; /* SYN proxy: MOAT_LG_SP_* (both entries) */
    __u8 pad[2];
    /* SYN proxy (MOAT_LG_SP_WAIT, MOAT_LG_SP_EST), the same in both entries: our ISN towards
     * the client (the cookie), the client's ISN, its window, and once the server answered the
     * delta (server ISN - cookie) every packet's numbers are translated by. */
    __u32 sp_cookie;
    __u32 sp_cli_isn;
    __u32 sp_delta;
    __u16 sp_win;
    __u16 pad2;
};

/* moat_lg_sess.sp_phase (= the helper's SP_*, dataplane/synproxy.h). */
#define MOAT_LG_SP_NONE 0
#define MOAT_LG_SP_WAIT 1 /* the client's SYN went to the server: its SYN-ACK is due */
#define MOAT_LG_SP_EST 2  /* the handshake with the server is done: translating */

/* moat_lg_cfg: BPF_MAP_TYPE_ARRAY, one entry. Written last by controld on each commit. */
struct moat_lg_cfg {
    __u32 ready;          /* 0: no configuration compiled yet, every packet goes to the kernel */
    __u32 default_permit; /* default-policy permit-all */
    __u32 nat_first;      /* the bank of moat_lg_nat in use: first index and count */
    __u32 nat_count;
    __u32 tcp_established, tcp_initial, tcp_closing, udp, icmp, other; /* timeouts, s */
};

/* moat_lg_ifs: BPF_MAP_TYPE_HASH, key __u32 ifindex. */
struct moat_lg_if {
    __u8 mac[6];
    __u16 zone; /* 0 = no zone */
    __be32 v4;  /* first IPv4 address (interface source NAT) */
    __u32 has_v4;
};

/* moat_lg_if6: BPF_MAP_TYPE_HASH, key __u32 ifindex: the interface's first global IPv6
 * address (the source of the ICMPv6 errors the path sends from it); absent: none. */
struct moat_lg_if6 {
    __u8 v6[16];
};

/* moat_lg_pairs: BPF_MAP_TYPE_HASH, key __u32 (from_zone << 16 | to_zone). */
struct moat_lg_pair {
    __u32 first; /* index into moat_lg_rules */
    __u32 count;
};

/* Policy sub-rule actions (moat.PolicyAction). */
#define MOAT_LG_PERMIT 0
#define MOAT_LG_DENY 1
#define MOAT_LG_REJECT 2

/*
 * moat_lg_rules: BPF_MAP_TYPE_ARRAY of MOAT_LG_MAX_RULES. One per (policy, application), in
 * evaluation order. Address lists: 0 = any, else a list id in moat_lg_pfx. proto 0 = any
 * (then the ranges are full). Ports host order; ICMP/ICMPv6 match dport on
 * (type << 8 | code), sport 0.
 */
struct moat_lg_rule {
    __u32 policy_id;
    __u32 src_list;
    __u32 dst_list;
    __u32 app_timeout;
    __u16 sport_lo, sport_hi, dport_lo, dport_hi;
    __u8 proto;
    __u8 action;
    __u8 pad[2];
};

/*
 * moat_lg_pfx: BPF_MAP_TYPE_LPM_TRIE (BPF_F_NO_PREALLOC), key struct moat_lg_pfx_key,
 * value __u32 (1). prefixlen = 32 + the prefix length; list = list id * 2 + (IPv6 ? 1 : 0).
 */
struct moat_lg_pfx_key {
    __u32 prefixlen;
    __u32 list; /* big-endian in the trie: controld stores it with htonl() */
    __u8 addr[16];
};

/* NAT rule kinds and actions (moat.NatKind, moat.NatAction). */
#define MOAT_LG_NAT_SOURCE 0
#define MOAT_LG_NAT_DEST 1
#define MOAT_LG_NAT_STATIC 2
#define MOAT_LG_NAT_OFF 0
#define MOAT_LG_NAT_INTERFACE 1
#define MOAT_LG_NAT_POOL 2
#define MOAT_LG_NAT_PREFIX 3

/*
 * moat_lg_nat: BPF_MAP_TYPE_ARRAY of MOAT_LG_MAX_NAT, IPv4 only. Static rules first, then
 * destination, then source (as Snapshot.nat_rules). Zones as bitmasks (bit z), ifindex
 * lists; both empty = any. Addresses network order.
 */
struct moat_lg_nat_rule {
    __u32 id;
    __u8 kind, action, proto, pad;
    __u16 pool_id;
    __u16 dport_lo, dport_hi; /* 0,0 = any */
    __u16 pad2;
    __u32 src_list, dst_list; /* moat_lg_pfx lists; 0 = any */
    __u64 from_zones, to_zones;
    __u32 from_ifs[MOAT_LG_NAT_IFS];
    __u32 to_ifs[MOAT_LG_NAT_IFS];
    __be32 stat_addr, stat_mask; /* static: the internal prefix */
    __be32 ext_addr, ext_mask;   /* static: the external prefix (the rule's destination) */
};

/* moat_lg_spools: BPF_MAP_TYPE_ARRAY of MOAT_LG_MAX_POOLS, by SourcePool.id. */
struct moat_lg_spool {
    __u32 nranges;
    __u32 naddr;                   /* addresses in all ranges (capped at 2^32-1) */
    __u32 lo[MOAT_LG_POOL_RANGES]; /* host order, inclusive */
    __u32 hi[MOAT_LG_POOL_RANGES];
    __u16 port_lo, port_hi;
    __u8 no_xlate, persistent;
    __u8 pad[2];
};

/* moat_lg_dpools: BPF_MAP_TYPE_ARRAY of MOAT_LG_MAX_POOLS, by DestinationPool.id. */
struct moat_lg_dpool {
    __be32 addr;
    __u16 port; /* host order, 0 = keep */
    __u16 pad;
};

/*
 * moat_lg_routes: BPF_MAP_TYPE_LPM_TRIE, key struct moat_lg_route_key (prefixlen = 32 +
 * the route's length, family 4 or 6 big-endian), value struct moat_lg_route. The routes of
 * the Snapshot (connected and static): the same table the helper routes with.
 */
struct moat_lg_route_key {
    __u32 prefixlen;
    __u32 family; /* htonl(4) or htonl(6) */
    __u8 addr[16];
};
struct moat_lg_route {
    __u32 ifindex;
    __u32 has_gw;
    __u8 gw[16];
};

/* moat_lg_neigh: BPF_MAP_TYPE_HASH, key struct moat_lg_neigh_key, value struct moat_lg_neigh. */
struct moat_lg_neigh_key {
    __u32 ifindex;
    __u32 family; /* 4 or 6 */
    __u8 addr[16];
};
struct moat_lg_neigh {
    __u8 mac[6];
    __u16 pad;
};

/* moat_lg_events: BPF_MAP_TYPE_RINGBUF of struct moat_lg_event. */
#define MOAT_LG_EV_CREATE 1  /* key = the new session's forward key */
#define MOAT_LG_EV_RESOLVE 2 /* key.dst = a next hop on ifindex without a neighbour entry */
struct moat_lg_event {
    __u32 kind;
    __u32 ifindex;
    struct moat_lg_key key;
};

/* moat_lg_percpu: BPF_MAP_TYPE_PERCPU_ARRAY, one entry: id serial and NAT port cursor. */
struct moat_lg_percpu {
    __u64 serial;
    __u32 cursor;
    __u32 pad;
};

/*
 * moat_lg_limit: BPF_MAP_TYPE_ARRAY (BPF_F_MMAPABLE), one entry: the session count and the
 * limit (flow max-sessions, at most MOAT_LG_MAX_SESSIONS / 2: two entries a session).
 * xdp_main_new refuses a new session at max (session_table_full) and adds one per session it
 * creates (and takes one off for a session it replaces); controld, which maps it, takes one
 * off per session it deletes (aged, cleared, closed by a commit, early aged) and adds the
 * sessions it seeds.
 */
struct moat_lg_limit {
    __u64 active;
    __u64 max; /* 0: no limit */
};

/*
 * moat_lg_natctr: BPF_MAP_TYPE_PERCPU_ARRAY of MOAT_LG_NAT_CTRS, by NatRule.id (ids above:
 * not counted). moat_lg_poolctr: BPF_MAP_TYPE_PERCPU_ARRAY of MOAT_LG_MAX_POOLS, by
 * SourcePool.id. As the helper's NatRuleCounter / NatPoolCounter: new flows translated,
 * translations that failed; allocations, allocations refused (pool exhausted). Ports in use
 * are counted by controld from the session map.
 */
#define MOAT_LG_NAT_CTRS 4096
struct moat_lg_natctr {
    __u64 hits, failures;
};
struct moat_lg_poolctr {
    __u64 allocations, exhausted;
};

/*
 * Source NAT mappings (interface and pool, TCP / UDP / ICMP echo), as the helper's allocator
 * (dataplane/nat.h): endpoint-independent (RFC 4787 REQ-1), a new session of an internal
 * endpoint that has a mapping for the same source (pool, or egress interface) reuses it whatever
 * its destination, and an external (address, port, protocol) belongs to one internal endpoint.
 * moat_lg_nmap: BPF_MAP_TYPE_HASH of MOAT_LG_MAX_MAPPINGS, internal endpoint -> external one.
 * moat_lg_next: BPF_MAP_TYPE_HASH of MOAT_LG_MAX_MAPPINGS, external endpoint -> its owner (the
 * index of external ports in use; an allocation claims a candidate with BPF_NOEXIST here).
 * A new mapping: up to MOAT_LG_POOL_TRIES pool addresses (1 when address-persistent, the
 * interface's own address for interface NAT) from the one a hash of the internal address picks
 * (the helper's), MOAT_LG_ALLOC_TRIES ports each from a per-CPU cursor (port no-translation:
 * the internal port, inside the pool's range); a candidate is taken when it is free here and
 * the session's reverse key is free. No reference count: controld's sweep deletes a mapping
 * (both maps) no live session uses once it has not been taken for a second (used_ns), so a
 * session that the LRU evicted, replaced or closed releases its mapping the same way; a seeded
 * NAT session (fallback) gets its helper mapping back here. Not shared with other protocols
 * (address only: the pool address of the internal host, or the interface's).
 */
#define MOAT_LG_MAX_MAPPINGS (MOAT_LG_MAX_SESSIONS / 2)
#define MOAT_LG_NMAP_IF 0x80000000u /* source of interface NAT: this bit | egress ifindex */
struct moat_lg_nmap_key {
    __be32 int_addr;
    __be16 int_port; /* ICMP echo: the identifier */
    __u8 proto;
    __u8 pad;
    __u32 src; /* pool id, or MOAT_LG_NMAP_IF | egress ifindex */
};
struct moat_lg_nmap {
    __be32 ext_addr;
    __be16 ext_port;
    __u16 pad;
    __u64 used_ns; /* CLOCK_MONOTONIC: created, or last taken by a new session */
};
struct moat_lg_next_key {
    __be32 ext_addr;
    __be16 ext_port;
    __u8 proto;
    __u8 pad;
};

/* The first pool address an allocation tries for internal address a (host order): the
 * helper's (dataplane/nat.c mix()). */
static inline __attribute__((always_inline)) __u32 moat_lg_pool_start(__u32 a, __u32 naddr)
{
    __u64 x = a;

    if (naddr <= 1)
        return 0;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (__u32)((__u32)x % naddr);
}

/*
 * moat_lg_hits: BPF_MAP_TYPE_PERCPU_ARRAY of MOAT_LG_MAX_POLICIES, by policy id (0: the default
 * policy): as the helper counts them, hits = first packets the policy decided, packets and
 * bytes = those of its sessions (permit) or the dropped first packets (deny, reject). A commit
 * that renumbers the policies moves each policy's counters and each session's policy_id to its
 * new id (controld: a policy is its name in its zone pair); ids of new policies start from zero.
 */
struct moat_lg_hit {
    __u64 hits, packets, bytes;
};

/*
 * Screens (`security screen ids-option`, bound to a zone), as the helper's (dataplane/screen.h):
 * checked on every packet entering from a zone with one, before the session lookup.
 * moat_lg_screens: BPF_MAP_TYPE_ARRAY of MOAT_LG_SCR_ZONES, by zone id (id 0: no screen).
 * moat_lg_scrctr: BPF_MAP_TYPE_PERCPU_ARRAY of MOAT_LG_SCR_ZONES, by zone id: the drops of
 * each check, in the order of ScreenCounter.counts (the helper's enum scr_ctr), added to the
 * helper's by controld. moat_lg_scrrate: BPF_MAP_TYPE_ARRAY of MOAT_LG_SCR_RATE_SLOTS,
 * direct-mapped one-second windows (box-wide: shared by the CPUs, a collision restarts the
 * window). moat_lg_scrfrag: BPF_MAP_TYPE_LRU_HASH of datagrams being fragmented (tear-drop).
 * moat_lg_scrcnt: BPF_MAP_TYPE_ARRAY (BPF_F_MMAPABLE) of MOAT_LG_SCR_CNT_SLOTS, the sessions of
 * this path by the source and by the destination address of their forward key, at
 * moat_lg_cnt_slot() (two addresses sharing a slot share the limit): xdp_main_new checks the
 * session limits against it before a new flow, adds one per session it creates and takes one
 * off for a session it replaces; controld (mmap) takes one off per session it deletes, adds the
 * sessions it seeds and zeroes it when it empties the session map.
 *
 * SYN cookies (syn_cookie set: `security flow syn-flood-protection-mode syn-cookie`), as the
 * helper's (dataplane/synproxy.h, the cookie of common/syncookie.h): a SYN above the attack or
 * destination threshold that matches no session is answered from XDP (xdp_main_syn) with a
 * cookie SYN-ACK carrying only an MSS option (cookie_sent), and nothing is created; a pure ACK
 * matching no session, entering a zone with such a screen while cookies were sent in the last
 * two slots (moat_lg_spslot), is checked as the answer to one: invalid -> dropped
 * (cookie_invalid); valid (cookie_valid) -> rewritten into the client's SYN (its ISN, the MSS
 * the cookie encodes, its window) and created as a new flow (xdp_main_new) with both entries
 * marked MOAT_LG_SP_WAIT. moat_lg_spslot: BPF_MAP_TYPE_ARRAY (BPF_F_MMAPABLE), one struct
 * moat_lg_sp: the cookie key, derived (SipHash) from the zone-0 seed below and cached with the
 * seed it came from, so cookies stay valid across a controld restart that keeps the pinned
 * maps (controld hands the helper the same seed, FlowSettings.cookie_seed: one key for both
 * paths); the last cookie slot (common/syncookie.h) cookies were sent in, plus one (0: never),
 * written by this path and by the helper's workers alike (the helper maps it shared:
 * dataplane/synproxy.h sp_recent_map), so that either path checks a cookie ACK the other
 * path's cookie answered, right after a switch.
 */
#define MOAT_LG_SCR_ZONES 1024
#define MOAT_LG_SCR_RATE_SLOTS 16384 /* power of two */
#define MOAT_LG_SCR_FRAGS 4096
#define MOAT_LG_SCR_FRAG_TTL_NS 2000000000ull
#define MOAT_LG_SCR_CNT_SLOTS 65536 /* power of two */

/* moat_lg_screen.flags (= Screen.flags, CFG_SCR_*). */
#define MOAT_LG_SCR_F_PING_DEATH 0x01
#define MOAT_LG_SCR_F_LAND 0x02
#define MOAT_LG_SCR_F_SYN_FIN 0x04
#define MOAT_LG_SCR_F_NO_FLAG 0x08
#define MOAT_LG_SCR_F_FIN_NO_ACK 0x10
#define MOAT_LG_SCR_F_TEAR_DROP 0x20

/* Counter indexes (= ScreenCounter.counts). */
#define MOAT_LG_SCR_C_ICMP_FLOOD 0
#define MOAT_LG_SCR_C_UDP_FLOOD 1
#define MOAT_LG_SCR_C_SYN_FLOOD 2
#define MOAT_LG_SCR_C_LAND 3
#define MOAT_LG_SCR_C_SYN_FIN 4
#define MOAT_LG_SCR_C_NO_FLAG 5
#define MOAT_LG_SCR_C_FIN_NO_ACK 6
#define MOAT_LG_SCR_C_TEAR_DROP 7
#define MOAT_LG_SCR_C_PING_DEATH 8
#define MOAT_LG_SCR_C_LIMIT_SRC 9
#define MOAT_LG_SCR_C_LIMIT_DST 10
#define MOAT_LG_SCR_C_COOKIE_SENT 11
#define MOAT_LG_SCR_C_COOKIE_VALID 12
#define MOAT_LG_SCR_C_COOKIE_INVALID 13
#define MOAT_LG_SCR_CTRS 14

struct moat_lg_screen {
    __u32 id; /* Screen.id, 0: the zone has no screen */
    __u32 flags;
    __u32 icmp_flood, udp_flood; /* packets per second per destination address, 0: off */
    __u32 syn_attack;            /* SYNs per second per destination address and port */
    __u32 syn_dst;               /* per destination address */
    __u32 syn_src;               /* per source address */
    __u32 limit_src, limit_dst;  /* concurrent sessions per source / destination address */
    __u32 syn_cookie;            /* syn-cookie mode: attack / destination -> cookies */
    __u64 seed; /* of the rate keys' and moat_lg_scrcnt's hash (random, the same in every entry,
                 * zone 0 included) */
};

struct moat_lg_scrcnt {
    __u32 src, dst;
};

struct moat_lg_sp {
    __u64 seed; /* the moat_lg_screen seed k0, k1 were derived from (0: none yet) */
    __u64 k0, k1;
    __u32 last_slot; /* + 1 */
    __u32 pad;
};

/* The moat_lg_scrcnt slot of an address (16 bytes, IPv4 in the first 4) of a family. */
static inline __attribute__((always_inline)) __u32 moat_lg_cnt_slot(__u64 seed, const __u8 *a,
                                                                    __u64 family)
{
    __u64 w0, w1, h = seed ^ 0x9e3779b97f4a7c15ull;

    __builtin_memcpy(&w0, a, 8);
    __builtin_memcpy(&w1, a + 8, 8);
    h = (h ^ w0) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 31) ^ w1) * 0x94d049bb133111ebull;
    h = (h ^ (h >> 29) ^ family) * 0xbf58476d1ce4e5b9ull;
    return (__u32)(h >> 32) & (MOAT_LG_SCR_CNT_SLOTS - 1);
}

struct moat_lg_scrctr {
    __u64 c[MOAT_LG_SCR_CTRS];
};

struct moat_lg_scr_rate {
    __u64 tag;
    __u32 sec;
    __u32 count;
    __u32 over; /* the last second the count was over the limit, + 1 */
    __u32 pad;
};

struct moat_lg_frag_key {
    __u8 src[16]; /* IPv4 in the first 4 bytes */
    __u8 dst[16];
    __u32 id; /* IPv4 identification (low 16 bits), IPv6 fragment id */
    __u8 proto;
    __u8 family;
    __u16 pad;
};
/* The key's proto is 0 for IPv6 (the datagram is addresses and id: the next header is not part
 * of it), as the helper's. */
struct moat_lg_frag {
    __u64 expires_ns;
    struct moat_frag_seen seen; /* the ranges seen, discard (common/screen_rules.h) */
};

/*
 * Fragments, as the helper's (dataplane/flow.c frag_remember, fragment): a first fragment (IPv4
 * offset 0 with more fragments, IPv6 fragment header with offset 0) goes through the session
 * path like any packet and, when its session hits or is created, leaves an entry in
 * moat_lg_frags (BPF_MAP_TYPE_LRU_HASH of MOAT_LG_FRAGS, MOAT_LG_FRAG_TTL_NS) keyed on its
 * datagram: addresses, protocol, IP id (IPv4) / fragment id (IPv6), ingress zone. A later
 * fragment follows that entry to its session (only if the session is still the one that
 * entry named): counted, translated as the session is (addresses and IP checksum; its ports
 * and L4 checksum are in the first fragment) and forwarded; without one it is dropped and
 * counted (frag_drops), so that a policy cannot be bypassed by sending only later fragments.
 */
#define MOAT_LG_FRAGS 4096
#define MOAT_LG_FRAG_TTL_NS 2000000000ull
struct moat_lg_fragsess_key {
    __u8 src[16];
    __u8 dst[16];
    __u32 id; /* IPv4: the identification (network order, in the low 16 bits) */
    __u16 zone;
    __u8 proto;
    __u8 family;
};
struct moat_lg_fragsess {
    struct moat_lg_key key; /* the session entry the first fragment matched */
    __u64 sess_id;
    __u64 expires_ns;
};

/*
 * ICMP errors the path sends itself (XDP_TX back out of the interface the packet came in on,
 * as the helper's icmp_error_build): destination unreachable, administratively prohibited, for
 * a policy reject of anything but TCP; time exceeded for a packet that arrives with TTL / hop
 * limit 1 (before any session); fragmentation needed (IPv4 with DF) / packet too big (IPv6)
 * with the egress MTU for a packet larger than the egress interface's MTU (bpf_check_mtu on
 * the device, before NAT: the quote is the sender's packet; IPv4 without DF: dropped).
 * From the ingress interface's address (moat_lg_ifs.v4, moat_lg_if6; a reject without one:
 * from the rejected packet's destination), quoting the packet up to 576 (IPv4) / 1280 (IPv6)
 * bytes in all. moat_lg_errrate: BPF_MAP_TYPE_PERCPU_ARRAY, one entry: at most
 * MOAT_LG_ERR_RATE errors (rejects included) per second per CPU, as the helper's
 * DP_REJECT_RATE per worker.
 */
#define MOAT_LG_ERR_RATE 1000
#define MOAT_LG_ERR_PROHIBITED 1
#define MOAT_LG_ERR_TIME_EXCEEDED 2
#define MOAT_LG_ERR_TOO_BIG 3
#define MOAT_LG_V4_QUOTE_MAX (576 - 20 - 8)
#define MOAT_LG_V6_QUOTE_MAX (1280 - 40 - 8)
struct moat_lg_errrate {
    __u64 sec;
    __u32 tokens;
    __u32 pad;
};

/*
 * moat_lg_stats: BPF_MAP_TYPE_PERCPU_ARRAY, one entry; readers sum over CPUs. rx counts
 * every packet; each ends in exactly one of the decisions marked (d).
 */
#define MOAT_LG_STATS_FIELDS(X)                                                                    \
    X(rx)                                                                                          \
    X(tx)           /* (d) redirected out of the egress interface */                               \
    X(redirect_err) /* (d) the redirect was refused */                                             \
    X(session_hit)                                                                                 \
    X(nat_reverse_hit) /* a reply of a translated session */                                       \
    X(session_miss)                                                                                \
    X(sessions_created)                                                                            \
    X(policy_permit)                                                                               \
    X(policy_deny)          /* (d) */                                                              \
    X(policy_reject)        /* (d) answered (reject_sent) unless rate-limited */                   \
    X(zone_drop)            /* (d) between a zoned and an unzoned interface */                     \
    X(plain_forward)        /* both interfaces in no zone: routed without a session */             \
    X(tcp_invalid)          /* (d) */                                                              \
    X(non_syn_drop)         /* (d) TCP without a session and not an initial SYN */                 \
    X(nat_alloc_fail)       /* (d) */                                                              \
    X(session_conflict)     /* (d) the forward or reverse key was taken */                         \
    X(fib_miss)             /* (d) no route */                                                     \
    X(neigh_miss)           /* (d) next hop unresolved: dropped, resolve asked            */       \
    X(ttl_exceeded)         /* (d) answered with time exceeded (icmp_errors_sent) */               \
    X(unsupported)          /* (d) VLAN tags, long IPv6 header chains, other IPv6 protocols */     \
    X(icmp_error_related)   /* an ICMP error about a session's packet: forwarded with it */        \
    X(icmp_error_unmatched) /* (d) an ICMP error about no session */                               \
    X(nat_icmp_errors)      /* related errors of translated sessions, translated back */           \
    X(malformed)            /* (d) */                                                              \
    X(armed_miss)           /* (d) no session, interface still armed: the helper owns new flows */ \
    X(not_ready)            /* (d) no configuration compiled yet: to the kernel */                 \
    X(events_lost)          /* the event ring was full */                                          \
    X(reject_sent)          /* a TCP reset or ICMP unreachable sent back (XDP_TX) */               \
    X(session_table_full)   /* (d) new flow dropped: max-sessions reached */                       \
    X(screen_drop)          /* (d) dropped by the ingress zone's screen (moat_lg_scrctr) */        \
    X(icmp_errors_sent)     /* time exceeded, frag. needed, packet too big sent back (XDP_TX) */   \
    X(icmp_rate_limited)    /* an ICMP error or reject not sent: over MOAT_LG_ERR_RATE */          \
    X(mtu_drops)            /* (d) larger than the egress MTU (answered with DF / IPv6) */         \
    X(frag_drops)           /* (d) a later fragment of no first one let through (moat_lg_frags) */ \
    X(sp_tx)   /* (d) SYN proxy: a cookie SYN-ACK, or the server's handshake ACK, sent (XDP_TX) */ \
    X(sp_drop) /* (d) SYN proxy: an invalid cookie, a client packet before the server answered */

struct moat_lg_stats {
#define MOAT_LG_X(f) __u64 f;
    MOAT_LG_STATS_FIELDS(MOAT_LG_X)
#undef MOAT_LG_X
};

#endif
