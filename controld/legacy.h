/* SPDX-License-Identifier: MIT */
/*
 * legacy.h — controld's side of xdp_main_prog, the legacy in-kernel path (bpf/main.bpf.c,
 * map layouts in bpf/legacy_maps.h).
 *
 *  - Loads main.bpf.o with its maps pinned by name under --bpffs-dir (a controld restart
 *    reuses them: the kernel path's sessions survive) and puts xdp_main_prog and
 *    xdp_main_new in moat_progs, where the shim tail-calls them when an interface is not armed.
 *  - Compiles the Snapshot of the running configuration (the one the helper gets) into the
 *    maps on start and on every commit: zones, policies, NAT rules and pools, interfaces,
 *    routes, neighbours (legacy_compile(), pure, unit-tested). Policy rules and NAT rules go
 *    to the half ("bank") of their array not in use, then the pair table and moat_lg_cfg
 *    switch to it, so a packet never sees half a commit.
 *  - Consumes the session events of the ring buffer (creates: into the session mirror at
 *    once; resolve requests: netlink) and sweeps the session map every second: sessions idle
 *    beyond their timeout are deleted and closed in the mirror, live ones update it; a session
 *    the LRU map evicted is closed (early-aged) and the session counts (per address, total) are
 *    brought back to what the map holds (legacy_count_fix()); source NAT mappings
 *    (moat_lg_nmap, endpoint-independent) no live session holds are deleted.
 *  - Operator commands and commits cover the kernel path's sessions too: clear security flow
 *    session (legacy_clear), commit-time re-evaluation (flow policy-reevaluate: sessions no
 *    longer permitted are closed with reason policy), policy hit counts (moat_lg_hits, moved with
 *    their policy when a commit renumbers the policies, sessions' policy ids with them), NAT rule /
 * pool counters (moat_lg_natctr, moat_lg_poolctr) and screen drops (moat_lg_scrctr) added to the
 * helper's.
 *  - Screens (moat_lg_screens, by zone) and the interfaces' IPv6 addresses (moat_lg_if6, the
 *    source of the ICMPv6 errors xdp_main_icmp sends) are compiled with the rest.
 *  - max-sessions: moat_lg_limit holds the session count (kept by xdp_main_new and here) and
 *    the limit; the sweep ages the sessions idle longest early above the high watermark.
 *  - Fallback: when forwarding is disarmed after having been armed (the helper died, or one
 *    interface was disarmed while the helper runs), legacy_on_disarm() seeds the session map
 *    from the mirror (both tuples, so NAT continues, and the source NAT mappings, so a new
 *    flow of a mapped endpoint keeps its external port; sessions it holds already are left);
 *    when the helper is armed again, legacy_on_arm() empties the map (the helper got the
 *    mirror, with the kernel path's sessions, in its snapshot, and those created since in a
 *    handover before arming: legacy_session_records(), handover.h), unless the kernel path
 *    still serves a disarmed interface.
 *  - Some interfaces armed, others not (the helper runs): the sessions the kernel path creates
 *    go to the helper at once (lifecycle_kernel_created()), the helper's new sessions and TCP
 *    states come to the kernel path (legacy_follow()): a connection may enter one path one
 *    way and the other path the other way.
 */
#ifndef MOAT_LEGACY_H
#define MOAT_LEGACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "legacy_maps.h"
#include "moat.pb-c.h"
#include "strbuf.h"
#include "sessrec.h"

struct controld;
struct ctl_neigh;
struct legacy;

/* ---- compile (pure: no BPF, no controld) ---- */

/* The most sessions the legacy path holds: 7/8 of its LRU map's room (two entries a session),
 * so the map never has to evict a live session to make room for a new one. */
#define MOAT_LG_SESSION_CAP (MOAT_LG_MAX_SESSIONS / 2 / 8 * 7)

struct legacy_pair_entry {
    uint32_t key; /* from_zone << 16 | to_zone */
    struct moat_lg_pair val;
};
struct legacy_pfx_entry {
    struct moat_lg_pfx_key key;
    uint32_t val;
};
struct legacy_if_entry {
    uint32_t ifindex;
    struct moat_lg_if val;
};
struct legacy_if6_entry {
    uint32_t ifindex;
    struct moat_lg_if6 val;
};
struct legacy_route_entry {
    struct moat_lg_route_key key;
    struct moat_lg_route val;
    uint32_t metric;
};
struct legacy_neigh_entry {
    struct moat_lg_neigh_key key;
    struct moat_lg_neigh val;
};

/* The maps' contents for one Snapshot. Rules and NAT rules are for bank `bank` (0 or 1):
 * rules[i] goes to moat_lg_rules[bank * MOAT_LG_BANK_RULES + i], nat[i] to
 * moat_lg_nat[bank * MOAT_LG_BANK_NAT + i]; the pair table and cfg point into that bank. */
struct legacy_tables {
    unsigned bank;
    struct moat_lg_cfg cfg;
    struct moat_lg_rule *rules;
    unsigned n_rules;
    struct legacy_pair_entry *pairs;
    unsigned n_pairs;
    struct legacy_pfx_entry *pfx; /* sorted by key, unique */
    unsigned n_pfx, cap_pfx;
    struct moat_lg_nat_rule *nat;
    unsigned n_nat;
    struct moat_lg_spool spools[MOAT_LG_MAX_POOLS]; /* by pool id; unused ones zero */
    struct moat_lg_dpool dpools[MOAT_LG_MAX_POOLS];
    struct legacy_if_entry *ifs;
    unsigned n_ifs;
    struct legacy_if6_entry *if6; /* interfaces with a global IPv6 address */
    unsigned n_if6;
    struct moat_lg_screen *screens;    /* MOAT_LG_SCR_ZONES, by zone id (seed left 0) */
    struct legacy_route_entry *routes; /* one per prefix: the lowest metric */
    unsigned n_routes;
    struct legacy_neigh_entry *neigh; /* resolved neighbours only */
    unsigned n_neigh;
    bool reevaluate; /* flow policy-reevaluate: a commit closes sessions no longer permitted */
    uint32_t max_sessions;    /* flow max-sessions, capped at MOAT_LG_SESSION_CAP */
    uint32_t high_wm, low_wm; /* early aging watermarks, percent of max_sessions (100: off) */
    /* What each policy id names, "from-zone\x1fto-zone\x1fname" (index = id, 0: the default
     * policy, NULL: no policy): the hit counters follow the policy, not the id. */
    char **pol_keys;
    unsigned n_pol_keys;
};

/*
 * Compiles s into t (zeroed first) for bank. Returns 0, -ENOMEM, or -EINVAL / -E2BIG with a
 * sentence in err naming what the legacy path cannot hold (more than MOAT_LG_BANK_RULES
 * policy sub-rules, a NAT rule naming a zone id above MOAT_LG_MAX_ZONE or more than
 * MOAT_LG_NAT_IFS interfaces, a pool of more than MOAT_LG_POOL_RANGES ranges, a screen bound
 * to a zone id of MOAT_LG_SCR_ZONES or more, ...).
 */
int legacy_compile(const Moat__Snapshot *s, unsigned bank, struct legacy_tables *t, char *err,
                   size_t errlen);
void legacy_tables_free(struct legacy_tables *t);
/*
 * The policy decision of t for a flow from from_zone to to_zone: src before source NAT, dst
 * after destination NAT, ports host order (ICMP: sport 0, dport type << 8 | code), as
 * xdp_main_new decides a first packet. Returns MOAT_LG_PERMIT, MOAT_LG_DENY or MOAT_LG_REJECT
 * with the policy id (0: the default policy) and the application's timeout.
 */
int legacy_policy_eval(const struct legacy_tables *t, uint16_t from_zone, uint16_t to_zone,
                       uint8_t proto, uint8_t family, const uint8_t *src, const uint8_t *dst,
                       uint16_t sport, uint16_t dport, uint32_t *policy_id, uint32_t *app_timeout);
/*
 * Where the hit counters of the policies old_keys named (index = policy id, as pol_keys) go when
 * new_keys are the policies: map[old id] = the id of the same policy (same name in the same
 * zone pair, by zone names) in new_keys, or UINT32_MAX if it is gone; map[0] = 0 (the default
 * policy). map holds n_old entries. Returns true when some id names another policy than before
 * (the counters must be moved), false when every id keeps its policy.
 */
bool legacy_hits_remap(char *const *old_keys, unsigned n_old, char *const *new_keys, unsigned n_new,
                       uint32_t *map);
/*
 * A count xdp_main_new and controld keep together (sessions by address slot, moat_lg_scrcnt;
 * the session total, moat_lg_limit.active) against a walk of the session map: before = the
 * count when the walk started, own = the decrements controld made during it (clamped at zero,
 * as they are), now = the count after it, walked = the live sessions the walk found. A session
 * the LRU map evicted silently is never taken off: when the kernel path did not touch the count
 * during the walk (now is before less own), the count is corrected to walked. Returns the value
 * to store, or now when it must be left alone (a new walk decides).
 */
uint64_t legacy_count_fix(uint64_t before, uint64_t own, uint64_t now, uint64_t walked);
/*
 * What the hit counters and sessions of the policies old_keys named become when new_keys are
 * the policies (legacy_hits_remap()): the id a session of policy old_id counts under from now
 * on: map[old_id], or UINT32_MAX (counted nowhere: moat_lg_hits has no such entry) when its
 * policy is gone; ids beyond n_old are not policies (UINT32_MAX too, 0 stays 0).
 */
uint32_t legacy_policy_renumbered(const uint32_t *map, unsigned n_old, uint32_t old_id);
/* 1 if a neighbour in state (NUD_*) with this MAC can be used as a next hop. */
int legacy_neigh_usable(uint32_t state, const uint8_t *mac, size_t mac_len);

/* ---- runtime (controld) ---- */

/* Loads, pins and installs the programs; starts the event poll and the sweep. */
int legacy_open(struct controld *c, struct legacy **out, char *err, size_t errlen);
/* Stops polling and sweeping; the programs stay in moat_progs and the maps pinned. */
void legacy_close(struct legacy *lg);
/* Compiles the running configuration (snapshot_build) into the maps. */
int legacy_sync(struct legacy *lg);
/* A neighbour of a managed interface changed. */
void legacy_neigh(struct legacy *lg, const struct ctl_neigh *n, bool removed);
/* Forwarding was disarmed after being armed: seed the session map from the mirror. */
void legacy_on_disarm(struct legacy *lg);
/* Some interfaces armed, others not (the helper runs): a session the helper created or
 * changed (s, from the mirror). A new one is seeded (its replies may enter a disarmed
 * interface); a TCP state the kernel path's copy has not reached yet is taken (each path sees
 * one direction of the connection). */
struct mirror_session;
void legacy_follow(struct legacy *lg, const struct mirror_session *s, bool created);
/* Forwarding was armed: the helper holds the sessions now; empty the session map. */
void legacy_on_arm(struct legacy *lg);
/* Every live kernel-path session as a struct sessrec (malloc'd, caller frees; none without
 * the legacy path). 0 or -ENOMEM. */
int legacy_session_records(struct legacy *lg, struct sessrec **out, size_t *n);
/* `show dataplane statistics`: the legacy path's counters (text section, or a JSON member
 * ,"legacy":{...} to append inside the top-level object). */
void legacy_render_stats(struct legacy *lg, bool json, struct strbuf *o);
int legacy_read_stats(struct legacy *lg, struct moat_lg_stats *out);
/* `clear security flow session`: closes the kernel path's sessions among ids (reason
 * cleared, in the mirror too). Returns how many it closed. */
uint64_t legacy_clear(struct legacy *lg, const uint64_t *ids, size_t n);
/* Hit counters of policy id (0: the default policy) in the kernel path, summed over CPUs;
 * zero when the legacy path is not loaded. */
void legacy_policy_hits(struct legacy *lg, uint32_t id, struct moat_lg_hit *out);
/* Adds the kernel path's NAT counters (rule hits and failures; pool allocations, exhaustion
 * and ports in use, as of the last sweep) into the helper's counters of the same rules and
 * pools in r. */
void legacy_nat_counters(struct legacy *lg, Moat__PolicyCountersReply *r);
/* Adds the kernel path's screen drops (moat_lg_scrctr) into the helper's counters of the same
 * zones in r. */
void legacy_screen_counters(struct legacy *lg, Moat__PolicyCountersReply *r);

#endif
