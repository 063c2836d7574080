/* SPDX-License-Identifier: MIT */
/*
 * legacy_compile.h — the Snapshot of the running configuration compiled into the contents of
 * the legacy in-kernel path's maps (bpf/legacy_maps.h), and the policy decision those tables
 * make (legacy_policy_eval(), what xdp_main_new decides, for commit-time re-evaluation). Pure:
 * no BPF, no controld; legacy.c writes the tables into the maps.
 */
#ifndef MOAT_LEGACY_COMPILE_H
#define MOAT_LEGACY_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "legacy_maps.h"
#include "moat.pb-c.h"

/* Formats an operator-facing error into err (when err and len) and returns rc. */
int legacy_errf(char *err, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

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
 * What the hit counters and sessions of the policies old_keys named become when new_keys are
 * the policies (legacy_hits_remap()): the id a session of policy old_id counts under from now
 * on: map[old_id], or UINT32_MAX (counted nowhere: moat_lg_hits has no such entry) when its
 * policy is gone; ids beyond n_old are not policies (UINT32_MAX too, 0 stays 0).
 */
uint32_t legacy_policy_renumbered(const uint32_t *map, unsigned n_old, uint32_t old_id);
/* 1 if a neighbour in state (NUD_*) with this MAC can be used as a next hop. */
int legacy_neigh_usable(uint32_t state, const uint8_t *mac, size_t mac_len);

#endif
