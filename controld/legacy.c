// SPDX-License-Identifier: MIT
/*
 * legacy.c — loads xdp_main_prog, compiles the Snapshot into its maps, mirrors its sessions
 * and seeds it on fallback. See legacy.h.
 */
#include "legacy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/neighbour.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <uv.h>

#include "controld.h"
#include "log.h"
#include "maps.h"
#include "netlink.h"
#include "pins.h"
#include "show.h"

#define MAIN_OBJECT "main.bpf.o"
#define SWEEP_MS 1000
#define NS_PER_S 1000000000ull

uint64_t legacy_count_fix(uint64_t before, uint64_t own, uint64_t now, uint64_t walked)
{
    return now == (before > own ? before - own : 0) ? walked : now;
}

/* ================= runtime ================= */

struct legacy {
    struct controld *c;
    struct bpf_object *obj;
    int sess_fd, cfg_fd, ifs_fd, pairs_fd, rules_fd, pfx_fd, nat_fd, spools_fd, dpools_fd;
    int routes_fd, neigh_fd, tx_fd, stats_fd, progs_fd, hits_fd, natctr_fd, poolctr_fd;
    int if6_fd, screens_fd, scrctr_fd, nmap_fd, next_fd, divert_fd;
    struct moat_lg_scrcnt *scrcnt;          /* moat_lg_scrcnt, mmap'd */
    uint64_t scr_seed;                      /* of the screens' rate keys (random, per controld) */
    uint32_t pool_inuse[MOAT_LG_MAX_POOLS]; /* mappings per source pool, as of the last sweep */
    struct ring_buffer *rb;
    uv_poll_t poll;
    bool poll_on;
    uv_timer_t sweep;
    bool sweep_on;
    unsigned bank; /* the bank the last sync wrote */
    bool synced;
    struct moat_lg_cfg cfg; /* timeouts of the last sync */
    /* Counters (logged and shown). */
    uint64_t syncs, sync_errors, events, resolves, seeded, flushed, swept_closed;
    uint64_t aged_out, cleared, policy_closed; /* sessions closed: idle, by clear, by a commit */
    char **pol_keys; /* the policies the hit counters belong to (legacy_tables.pol_keys) */
    unsigned n_pol_keys;
    struct moat_lg_limit *limit; /* moat_lg_limit, mmap'd */
    uint32_t high_wm, low_wm;    /* early aging, percent of limit->max */
    uint64_t early_aged;
    uint64_t mappings_freed, mappings_seeded; /* source NAT mappings (moat_lg_nmap) */
    uint64_t counts_fixed; /* session counts corrected by the sweep (silent LRU evictions) */
    uint64_t evicted;      /* sessions found without their forward entry (LRU evictions) */
    /* The sweep's view of moat_lg_scrcnt (counts_reconcile()), MOAT_LG_SCR_CNT_SLOTS each. */
    struct moat_lg_scrcnt *cnt_before, *cnt_own, *cnt_walked;
    /* Sessions the kernel path created while an interface was armed (ring buffer creates),
     * for the running helper (lifecycle_kernel_created()); sent after each poll and sweep. */
    struct sessrec *created;
    size_t n_created, cap_created;
    uint64_t created_dropped; /* not kept: no memory (JSON created_unkept) */
    uint64_t seed_present;    /* seeding found the session there already */
    /* legacy_follow(): the helper's new sessions seeded, states taken from the helper. */
    uint64_t followed_new, followed_state;
    uint64_t seeded_unreported; /* sweep deltas of seeded copies not sent to the mirror */
    char last_error[256];
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* unix ms - monotonic ms, now. */
static int64_t unix_offset_ms(void)
{
    struct timespec r;
    clock_gettime(CLOCK_REALTIME, &r);
    int64_t unix_ms = (int64_t)r.tv_sec * 1000 + r.tv_nsec / 1000000;
    return unix_ms - (int64_t)(mono_ns() / 1000000);
}

/*
 * Makes hash/LPM map fd hold exactly the n entries of want (entry_size bytes each, key
 * first, value at val_off): every wanted entry is written first, then the keys not wanted
 * are deleted, so a key that stays is never missing.
 */
static int sync_map(int fd, const char *name, const void *want, unsigned n, size_t entry_size,
                    size_t key_size, size_t val_off, unsigned max)
{
    const uint8_t *w = want;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = w + (size_t)i * entry_size;
        if (bpf_map_update_elem(fd, e, e + val_off, BPF_ANY) < 0) {
            int err = -errno;
            log_err("legacy path: writing an entry of %s failed: %s", name, strerror(errno));
            return err;
        }
    }
    uint8_t *have = calloc(max + 1, key_size);
    if (!have)
        return -ENOMEM;
    unsigned nh = 0;
    const void *prev = NULL;
    while (nh < max && bpf_map_get_next_key(fd, prev, have + (size_t)nh * key_size) == 0) {
        prev = have + (size_t)nh * key_size;
        nh++;
    }
    for (unsigned i = 0; i < nh; i++) {
        const uint8_t *k = have + (size_t)i * key_size;
        bool wanted = false;
        for (unsigned j = 0; j < n && !wanted; j++)
            wanted = memcmp(k, w + (size_t)j * entry_size, key_size) == 0;
        if (!wanted && bpf_map_delete_elem(fd, k) < 0 && errno != ENOENT)
            log_warn("legacy path: removing a stale entry of %s failed: %s", name, strerror(errno));
    }
    free(have);
    return 0;
}

struct tx_entry {
    uint32_t ifindex;
    struct bpf_devmap_val val;
};

static int apply_tables(struct legacy *lg, const struct legacy_tables *t)
{
    int rc;
    uint32_t zero = 0;
    if ((rc = sync_map(lg->ifs_fd, MOAT_MAP_LG_IFS, t->ifs, t->n_ifs, sizeof(*t->ifs),
                       sizeof(uint32_t), offsetof(struct legacy_if_entry, val), MOAT_MAX_IFACES)))
        return rc;
    struct tx_entry tx[MOAT_MAX_IFACES];
    unsigned ntx = 0;
    for (unsigned i = 0; i < t->n_ifs && ntx < MOAT_MAX_IFACES; i++) {
        memset(&tx[ntx], 0, sizeof(tx[ntx]));
        tx[ntx].ifindex = t->ifs[i].ifindex;
        tx[ntx].val.ifindex = t->ifs[i].ifindex;
        ntx++;
    }
    if ((rc = sync_map(lg->tx_fd, MOAT_MAP_LG_TX, tx, ntx, sizeof(tx[0]), sizeof(uint32_t),
                       offsetof(struct tx_entry, val), MOAT_MAX_IFACES)))
        return rc;
    if ((rc = sync_map(lg->if6_fd, MOAT_MAP_LG_IF6, t->if6, t->n_if6, sizeof(*t->if6),
                       sizeof(uint32_t), offsetof(struct legacy_if6_entry, val), MOAT_MAX_IFACES)))
        return rc;
    for (uint32_t z = 0; z < MOAT_LG_SCR_ZONES; z++) {
        struct moat_lg_screen sc = t->screens[z];
        sc.seed = lg->scr_seed;
        if (bpf_map_update_elem(lg->screens_fd, &z, &sc, BPF_ANY) < 0) {
            rc = -errno;
            log_err("legacy path: writing " MOAT_MAP_LG_SCREENS " failed: %s", strerror(errno));
            return rc;
        }
    }
    if ((rc = sync_map(lg->routes_fd, MOAT_MAP_LG_ROUTES, t->routes, t->n_routes,
                       sizeof(*t->routes), sizeof(struct moat_lg_route_key),
                       offsetof(struct legacy_route_entry, val), MOAT_LG_MAX_ROUTES)))
        return rc;
    if ((rc = sync_map(lg->neigh_fd, MOAT_MAP_LG_NEIGH, t->neigh, t->n_neigh, sizeof(*t->neigh),
                       sizeof(struct moat_lg_neigh_key), offsetof(struct legacy_neigh_entry, val),
                       MOAT_LG_MAX_NEIGH)))
        return rc;
    /* The new bank: prefixes (added, the old bank's stay), rules, NAT rules, pools. */
    for (unsigned i = 0; i < t->n_pfx; i++) {
        if (bpf_map_update_elem(lg->pfx_fd, &t->pfx[i].key, &t->pfx[i].val, BPF_ANY) < 0) {
            rc = -errno;
            log_err("legacy path: writing " MOAT_MAP_LG_PFX " failed: %s", strerror(errno));
            return rc;
        }
    }
    for (unsigned i = 0; i < t->n_rules; i++) {
        uint32_t k = t->bank * MOAT_LG_BANK_RULES + i;
        if (bpf_map_update_elem(lg->rules_fd, &k, &t->rules[i], BPF_ANY) < 0)
            return -errno;
    }
    for (unsigned i = 0; i < t->n_nat; i++) {
        uint32_t k = t->bank * MOAT_LG_BANK_NAT + i;
        if (bpf_map_update_elem(lg->nat_fd, &k, &t->nat[i], BPF_ANY) < 0)
            return -errno;
    }
    for (uint32_t k = 0; k < MOAT_LG_MAX_POOLS; k++) {
        if (bpf_map_update_elem(lg->spools_fd, &k, &t->spools[k], BPF_ANY) < 0 ||
            bpf_map_update_elem(lg->dpools_fd, &k, &t->dpools[k], BPF_ANY) < 0)
            return -errno;
    }
    /* The switch: pairs, then the configuration word. */
    if ((rc = sync_map(lg->pairs_fd, MOAT_MAP_LG_PAIRS, t->pairs, t->n_pairs, sizeof(*t->pairs),
                       sizeof(uint32_t), offsetof(struct legacy_pair_entry, val),
                       MOAT_LG_MAX_PAIRS)))
        return rc;
    if (bpf_map_update_elem(lg->cfg_fd, &zero, &t->cfg, BPF_ANY) < 0)
        return -errno;
    /* The old bank's prefixes go. */
    return sync_map(lg->pfx_fd, MOAT_MAP_LG_PFX, t->pfx, t->n_pfx, sizeof(*t->pfx),
                    sizeof(struct moat_lg_pfx_key), offsetof(struct legacy_pfx_entry, val),
                    MOAT_LG_MAX_PFX);
}

/* Every key of the session map (at most MOAT_LG_MAX_SESSIONS), malloc'd. */
static struct moat_lg_key *all_keys(struct legacy *lg, unsigned *n);
static void close_session(struct legacy *lg, const struct moat_lg_key *fk,
                          const struct moat_lg_sess *fv, bool has_rev,
                          const struct moat_lg_sess *rv, Moat__CloseReason why);

#define SCRCNT_BYTES (MOAT_LG_SCR_CNT_SLOTS * sizeof(struct moat_lg_scrcnt))

static void cnt_adj(uint32_t *c, int d)
{
    uint32_t old = __atomic_load_n(c, __ATOMIC_RELAXED);
    uint32_t nw;
    do
        nw = d > 0 ? old + 1 : (old ? old - 1 : 0);
    while (!__atomic_compare_exchange_n(c, &old, nw, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

/* A session of forward key fk was deleted (d -1) or seeded (d 1) by controld: the screens'
 * session counts by address (moat_lg_scrcnt). */
static void sess_counted(struct legacy *lg, const struct moat_lg_key *fk, int d)
{
    cnt_adj(&lg->scrcnt[moat_lg_cnt_slot(lg->scr_seed, fk->src, fk->family)].src, d);
    cnt_adj(&lg->scrcnt[moat_lg_cnt_slot(lg->scr_seed, fk->dst, fk->family)].dst, d);
}

/* n sessions deleted by controld: off the count xdp_main_new limits new sessions with. */
static void sess_gone(struct legacy *lg, uint64_t n)
{
    __u64 old = __atomic_load_n(&lg->limit->active, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&lg->limit->active, &old, old > n ? old - n : 0, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/*
 * A commit renumbered the policies (map: legacy_hits_remap()): every kernel-path session counts
 * its packets under its policy's new id from now on (without flow policy-reevaluate nothing
 * else would tell it; with it, reevaluate() decides again right after). A session whose policy
 * is gone counts nowhere, as the helper's keeps counting into the slot of a policy no longer
 * shown. The entries are rewritten whole: a packet counted in between may be lost from the
 * session's own counters, as in reevaluate().
 */
static void renumber_sessions(struct legacy *lg, const uint32_t *map, unsigned n_old)
{
    ring_buffer__consume(lg->rb);
    unsigned n, moved = 0;
    struct moat_lg_key *keys = all_keys(lg, &n);
    if (!keys)
        return;
    for (unsigned i = 0; i < n; i++) {
        struct moat_lg_sess v;
        if (bpf_map_lookup_elem(lg->sess_fd, &keys[i], &v) < 0)
            continue;
        uint32_t id = legacy_policy_renumbered(map, n_old, v.policy_id);
        if (id == v.policy_id)
            continue;
        v.policy_id = id;
        if (bpf_map_update_elem(lg->sess_fd, &keys[i], &v, BPF_EXIST) == 0 && v.dir == 0)
            moved++;
    }
    free(keys);
    if (moved)
        log_info("legacy path: the commit renumbered the policies: %u kernel-path sessions "
                 "count under their policy's new id",
                 moved);
}

/*
 * The policies of t replace those the hit counters belong to: every policy keeps its counters
 * under its new id (the same name in the same zone pair), the ids of policies that are gone or
 * new start from zero. The first sync of this controld starts every counter from zero.
 */
static void move_hits(struct legacy *lg, struct legacy_tables *t)
{
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return;
    unsigned n_old = lg->pol_keys ? lg->n_pol_keys : 0;
    uint32_t *map = calloc(n_old + 1, sizeof(*map));
    struct moat_lg_hit *old = calloc((size_t)(n_old + 1) * (size_t)ncpu, sizeof(*old));
    struct moat_lg_hit *z = calloc((size_t)ncpu, sizeof(*z));
    if (!map || !old || !z) {
        log_err("legacy path: out of memory moving the policy hit counters");
        goto out;
    }
    bool moved =
        !lg->pol_keys || legacy_hits_remap(lg->pol_keys, n_old, t->pol_keys, t->n_pol_keys, map);
    if (moved && lg->pol_keys)
        renumber_sessions(lg, map, n_old);
    if (moved) {
        unsigned n =
            lg->pol_keys ? (n_old > t->n_pol_keys ? n_old : t->n_pol_keys) : MOAT_LG_MAX_POLICIES;
        for (uint32_t id = 1; id < n_old; id++)
            if (bpf_map_lookup_elem(lg->hits_fd, &id, &old[(size_t)id * (size_t)ncpu]) < 0)
                memset(&old[(size_t)id * (size_t)ncpu], 0, (size_t)ncpu * sizeof(*old));
        for (uint32_t id = lg->pol_keys ? 1 : 0; id < n && id < MOAT_LG_MAX_POLICIES; id++)
            bpf_map_update_elem(lg->hits_fd, &id, z, BPF_ANY);
        for (uint32_t id = 1; id < n_old; id++)
            if (map[id] != UINT32_MAX)
                bpf_map_update_elem(lg->hits_fd, &map[id], &old[(size_t)id * (size_t)ncpu],
                                    BPF_ANY);
    }
    /* The keys pass to lg (t frees what it still holds). */
    for (unsigned i = 0; lg->pol_keys && i < lg->n_pol_keys; i++)
        free(lg->pol_keys[i]);
    free(lg->pol_keys);
    lg->pol_keys = t->pol_keys;
    lg->n_pol_keys = t->n_pol_keys;
    t->pol_keys = NULL;
    t->n_pol_keys = 0;
out:
    free(map);
    free(old);
    free(z);
}

/*
 * Commit-time re-evaluation (flow policy-reevaluate, as the helper's workers do): every
 * kernel-path session is decided again by the new policies, as its first packet was (source
 * before source NAT, destination after destination NAT); no longer permitted: closed (reason
 * policy), else it takes the policy id and application timeout of the new decision.
 */
static void reevaluate(struct legacy *lg, const struct legacy_tables *t)
{
    ring_buffer__consume(lg->rb);
    unsigned n;
    struct moat_lg_key *keys = all_keys(lg, &n);
    if (!keys)
        return;
    unsigned closed = 0;
    for (unsigned i = 0; i < n; i++) {
        struct moat_lg_sess fv, rv;
        if (bpf_map_lookup_elem(lg->sess_fd, &keys[i], &fv) < 0 || fv.dir != 0)
            continue;
        if (!fv.from_zone || !fv.to_zone)
            continue;
        bool has_rev = bpf_map_lookup_elem(lg->sess_fd, &fv.peer, &rv) == 0;
        const struct moat_lg_key *k = &keys[i];
        uint16_t sport = ntohs(k->sport), dport = ntohs(fv.peer.sport);
        if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) {
            /* ICMP sessions are echo flows: the request's type, code 0. */
            sport = 0;
            dport = (uint16_t)((k->proto == IPPROTO_ICMP ? 8 : 128) << 8);
        }
        uint32_t pid, app_to;
        int act = legacy_policy_eval(t, fv.from_zone, fv.to_zone, k->proto, k->family, k->src,
                                     fv.peer.src, sport, dport, &pid, &app_to);
        if (act != MOAT_LG_PERMIT) {
            close_session(lg, k, &fv, has_rev, &rv, MOAT__CLOSE_REASON__CLOSE_POLICY);
            lg->policy_closed++;
            closed++;
            continue;
        }
        if (pid != fv.policy_id || app_to != fv.app_timeout) {
            fv.policy_id = rv.policy_id = pid;
            fv.app_timeout = rv.app_timeout = app_to;
            bpf_map_update_elem(lg->sess_fd, &keys[i], &fv, BPF_EXIST);
            if (has_rev)
                bpf_map_update_elem(lg->sess_fd, &fv.peer, &rv, BPF_EXIST);
        }
    }
    free(keys);
    if (closed)
        log_info("legacy path: the commit closed %u kernel-path sessions no longer permitted",
                 closed);
}

int legacy_sync(struct legacy *lg)
{
    if (!lg)
        return -EINVAL;
    Moat__Snapshot *s = snapshot_build(lg->c);
    if (!s)
        return -ENOMEM;
    struct legacy_tables t;
    unsigned bank = lg->synced ? lg->bank ^ 1 : 0;
    char err[256] = "";
    int rc = legacy_compile(s, bank, &t, err, sizeof(err));
    snapshot_free(s);
    if (rc) {
        lg->sync_errors++;
        snprintf(lg->last_error, sizeof(lg->last_error), "%s", err);
        log_err("legacy path: cannot compile the configuration: %s; the kernel path keeps its "
                "previous tables",
                err);
        return rc;
    }
    rc = apply_tables(lg, &t);
    if (rc) {
        lg->sync_errors++;
        snprintf(lg->last_error, sizeof(lg->last_error), "writing the maps failed: %s",
                 strerror(-rc));
        log_err("legacy path: %s", lg->last_error);
    } else {
        lg->syncs++;
        lg->bank = bank;
        lg->synced = true;
        lg->cfg = t.cfg;
        lg->last_error[0] = 0;
        __atomic_store_n(&lg->limit->max, t.max_sessions, __ATOMIC_RELAXED);
        lg->high_wm = t.high_wm;
        lg->low_wm = t.low_wm;
        move_hits(lg, &t);
        if (t.reevaluate)
            reevaluate(lg, &t);
        log_info("legacy path: %u policy rules in %u zone pairs, %u NAT rules, %u prefixes, "
                 "%u routes, %u neighbours, %u interfaces (bank %u)",
                 t.n_rules, t.n_pairs, t.n_nat, t.n_pfx, t.n_routes, t.n_neigh, t.n_ifs, bank);
    }
    legacy_tables_free(&t);
    return rc;
}

void legacy_neigh(struct legacy *lg, const struct ctl_neigh *n, bool removed)
{
    if (!lg)
        return;
    struct moat_lg_neigh_key k;
    memset(&k, 0, sizeof(k));
    k.ifindex = n->ifindex;
    k.family = n->family == 6 ? 6 : 4;
    memcpy(k.addr, n->addr, n->family == 6 ? 16 : 4);
    if (removed || !legacy_neigh_usable(n->state, n->mac, 6)) {
        bpf_map_delete_elem(lg->neigh_fd, &k);
        return;
    }
    struct moat_lg_neigh v = {0};
    memcpy(v.mac, n->mac, 6);
    if (bpf_map_update_elem(lg->neigh_fd, &k, &v, BPF_ANY) < 0)
        log_warn("legacy path: writing a neighbour failed: %s", strerror(errno));
}

/* ---- sessions into the mirror ---- */

static uint32_t timeout_of(const struct moat_lg_cfg *cfg, const struct moat_lg_sess *s,
                           uint8_t proto)
{
    if (proto == IPPROTO_TCP) {
        switch (s->state) {
        case MOAT_LG_SYN_SENT:
        case MOAT_LG_SYN_RECV:
            return cfg->tcp_initial;
        case MOAT_LG_ESTABLISHED:
            return s->app_timeout ? s->app_timeout : cfg->tcp_established;
        default:
            return cfg->tcp_closing;
        }
    }
    if (s->app_timeout)
        return s->app_timeout;
    if (proto == IPPROTO_UDP)
        return cfg->udp;
    if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
        return cfg->icmp;
    return cfg->other;
}

static const char *policy_name(struct controld *c, uint32_t id)
{
    const struct cfg_security *sec = c->cfg ? c->cfg->security : NULL;
    if (!sec || id == 0 || id > sec->n_policies)
        return "";
    return sec->policies[id - 1].name;
}

/* Log lines for policies with `then log`, as for the helper's sessions. */
static void on_event(void *arg, enum mirror_event ev, const struct mirror *m,
                     const struct mirror_session *s)
{
    struct controld *c = arg;
    const struct cfg_security *sec = c->cfg ? c->cfg->security : NULL;
    if (!sec || s->policy_id == 0 || s->policy_id > sec->n_policies)
        return;
    const struct cfg_policy *p = &sec->policies[s->policy_id - 1];
    if (!(ev == MIRROR_EV_CREATE ? p->log_init : p->log_close))
        return;
    struct mirror_names nm;
    show_mirror_names(c, &nm);
    char line[900];
    mirror_format_log(m, ev, s, &nm, line, sizeof(line));
    log_info("%s", line);
    c->session_log_lines++;
}

struct rec_buf {
    Moat__SessionRecord rec;
    Moat__FlowKey fwd, rev;
    Moat__SessionDelta d;
};

static void key_to_flow(const struct moat_lg_key *k, Moat__FlowKey *f)
{
    moat__flow_key__init(f);
    size_t alen = k->family == 6 ? 16 : 4;
    f->src.data = (uint8_t *)k->src;
    f->src.len = alen;
    f->dst.data = (uint8_t *)k->dst;
    f->dst.len = alen;
    f->sport = ntohs(k->sport);
    f->dport = ntohs(k->dport);
    f->protocol = k->proto;
}

/* A mirror delta for the session whose forward entry is (fk, fv), reverse entry rv or NULL. */
static void record_of(struct legacy *lg, const struct moat_lg_key *fk,
                      const struct moat_lg_sess *fv, const struct moat_lg_sess *rv,
                      Moat__DeltaKind kind, Moat__CloseReason reason, struct rec_buf *b)
{
    moat__session_record__init(&b->rec);
    moat__session_delta__init(&b->d);
    key_to_flow(fk, &b->fwd);
    key_to_flow(&fv->peer, &b->rev);
    b->rec.id = fv->id;
    b->rec.forward = &b->fwd;
    b->rec.reverse = &b->rev;
    b->rec.from_zone = fv->from_zone;
    b->rec.to_zone = fv->to_zone;
    b->rec.in_ifindex = fv->in_ifindex;
    b->rec.out_ifindex = fv->out_ifindex;
    b->rec.policy_id = fv->policy_id;
    b->rec.policy_name = (char *)policy_name(lg->c, fv->policy_id);
    b->rec.application = (char *)"";
    b->rec.state =
        (Moat__SessionState)(kind == MOAT__DELTA_KIND__DELTA_CLOSE && fk->proto == IPPROTO_TCP &&
                                     reason == MOAT__CLOSE_REASON__CLOSE_TCP_RST
                                 ? MOAT_LG_CLOSED
                                 : fv->state);
    b->rec.packets_fwd = fv->packets;
    b->rec.bytes_fwd = fv->bytes;
    b->rec.packets_rev = rv ? rv->packets : 0;
    b->rec.bytes_rev = rv ? rv->bytes : 0;
    int64_t off = unix_offset_ms();
    uint64_t last = fv->last_seen_ns;
    if (rv && rv->last_seen_ns > last)
        last = rv->last_seen_ns;
    b->rec.created_unix_ms = (uint64_t)((int64_t)(fv->created_ns / 1000000) + off);
    b->rec.last_seen_unix_ms = (uint64_t)((int64_t)(last / 1000000) + off);
    b->rec.timeout = timeout_of(&lg->cfg, fv, fk->proto);
    b->rec.close_reason = reason;
    b->rec.snat_rule_id = fv->snat_rule;
    b->rec.dnat_rule_id = fv->dnat_rule;
    b->rec.snat_pool_id = fv->snat_pool;
    if (fk->proto == IPPROTO_TCP && fv->sp_phase) { /* both entries carry the same numbers */
        b->rec.sp_phase = fv->sp_phase;
        b->rec.sp_cookie = fv->sp_cookie;
        b->rec.sp_client_isn = fv->sp_cli_isn;
        b->rec.sp_delta = fv->sp_delta;
        b->rec.sp_window = fv->sp_win;
    }
    b->d.kind = kind;
    b->d.session = &b->rec;
}

/* With an interface armed (the helper runs), a session the kernel path created (a packet of
 * a new flow entered a disarmed interface) must reach the helper: its replies may enter an
 * armed one. Kept until created_flush(). */
static void created_keep(struct legacy *lg, const Moat__SessionRecord *rec)
{
    if (lg->n_created == lg->cap_created) {
        size_t cap = lg->cap_created ? lg->cap_created * 2 : 64;
        struct sessrec *v = realloc(lg->created, cap * sizeof(*v));
        if (!v) {
            lg->created_dropped++;
            return;
        }
        lg->created = v;
        lg->cap_created = cap;
    }
    if (sessrec_from_record(rec, &lg->created[lg->n_created]))
        lg->n_created++;
}

static int on_ring_event(void *ctx, void *data, size_t size)
{
    struct legacy *lg = ctx;
    const struct moat_lg_event *ev = data;
    if (size < sizeof(*ev))
        return 0;
    lg->events++;
    if (ev->kind == MOAT_LG_EV_RESOLVE) {
        lg->resolves++;
        lg->c->resolve_requests++;
        int err =
            netlink_neigh_resolve(lg->c->nl, ev->key.family == 6 ? 6 : 4, ev->key.dst, ev->ifindex);
        if (err)
            log_debug("legacy path: resolving a next hop on ifindex %u failed: %s", ev->ifindex,
                      strerror(-err));
        return 0;
    }
    if (ev->kind != MOAT_LG_EV_CREATE)
        return 0;
    struct moat_lg_sess fv, rv;
    if (bpf_map_lookup_elem(lg->sess_fd, &ev->key, &fv) < 0 || fv.dir != 0)
        return 0; /* gone already: the sweep has nothing to report either */
    bool has_rev = bpf_map_lookup_elem(lg->sess_fd, &fv.peer, &rv) == 0;
    struct rec_buf b;
    record_of(lg, &ev->key, &fv, has_rev ? &rv : NULL, MOAT__DELTA_KIND__DELTA_CREATE,
              MOAT__CLOSE_REASON__CLOSE_NONE, &b);
    mirror_apply_delta(&lg->c->mirror, &b.d, on_event, lg->c);
    if (lg->c->armed)
        created_keep(lg, &b.rec);
    return 0;
}

/* Hands the sessions kept by created_keep() to controld (lifecycle_kernel_created()). */
static void created_flush(struct legacy *lg)
{
    if (!lg->n_created)
        return;
    /* The helper holds them for the arming; meanwhile their replies entering an armed
     * interface come to the kernel path (moat_lg_divert), which follows both sides. */
    lifecycle_kernel_created(lg->c, lg->created, lg->n_created);
    lg->n_created = 0;
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct legacy *lg = h->data;
    (void)status;
    (void)events;
    ring_buffer__consume(lg->rb);
    created_flush(lg);
}

static Moat__CloseReason expiry_reason(const struct moat_lg_sess *s, uint8_t proto)
{
    if (proto == IPPROTO_TCP) {
        if (s->state == MOAT_LG_TIME_WAIT || s->state == MOAT_LG_CLOSING)
            return MOAT__CLOSE_REASON__CLOSE_TCP_FIN;
        if (s->state == MOAT_LG_CLOSED)
            return MOAT__CLOSE_REASON__CLOSE_TCP_RST;
    }
    return MOAT__CLOSE_REASON__CLOSE_AGED;
}

static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct moat_lg_key));
}

/* Every key of the session map (at most MOAT_LG_MAX_SESSIONS), malloc'd. */
static struct moat_lg_key *all_keys(struct legacy *lg, unsigned *n)
{
    struct moat_lg_key *keys = calloc(MOAT_LG_MAX_SESSIONS + 1, sizeof(*keys));
    *n = 0;
    if (!keys)
        return NULL;
    const void *prev = NULL;
    while (*n < MOAT_LG_MAX_SESSIONS && bpf_map_get_next_key(lg->sess_fd, prev, &keys[*n]) == 0) {
        prev = &keys[*n];
        (*n)++;
    }
    /* A key deleted under the walk (by the kernel path, or evicted) restarts it from the first
     * bucket: each key once. */
    qsort(keys, *n, sizeof(*keys), key_cmp);
    unsigned u = 0;
    for (unsigned i = 0; i < *n; i++)
        if (u == 0 || memcmp(&keys[u - 1], &keys[i], sizeof(*keys)) != 0)
            keys[u++] = keys[i];
    *n = u;
    return keys;
}

struct idle_ref {
    uint64_t last_ns;
    unsigned key; /* index into the sweep's keys */
};

static int idle_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct idle_ref *)a)->last_ns, y = ((const struct idle_ref *)b)->last_ns;
    return x < y ? -1 : x > y;
}

/*
 * Early aging, as the helper's workers do it: above the high watermark (percent of
 * max-sessions), the sessions idle the longest are closed (reason early-aged) until the
 * count is under the low one; a session seen within the last 2 s is never closed early (a
 * flood that fills the table within that time gets its new flows dropped and counted as
 * session_table_full instead).
 */
static void early_age(struct legacy *lg, const struct moat_lg_key *keys, struct idle_ref *live,
                      unsigned nlive, uint64_t now)
{
    uint64_t max = __atomic_load_n(&lg->limit->max, __ATOMIC_RELAXED);
    uint64_t active = __atomic_load_n(&lg->limit->active, __ATOMIC_RELAXED);
    if (!max || lg->high_wm >= 100 || active * 100 <= (uint64_t)lg->high_wm * max)
        return;
    qsort(live, nlive, sizeof(*live), idle_cmp);
    unsigned closed = 0;
    for (unsigned i = 0; i < nlive; i++) {
        active = __atomic_load_n(&lg->limit->active, __ATOMIC_RELAXED);
        if (active * 100 <= (uint64_t)lg->low_wm * max || now < live[i].last_ns + 2 * NS_PER_S)
            break;
        const struct moat_lg_key *k = &keys[live[i].key];
        struct moat_lg_sess fv, rv;
        if (bpf_map_lookup_elem(lg->sess_fd, k, &fv) < 0 || fv.dir != 0)
            continue;
        bool has_rev = bpf_map_lookup_elem(lg->sess_fd, &fv.peer, &rv) == 0;
        close_session(lg, k, &fv, has_rev, &rv, MOAT__CLOSE_REASON__CLOSE_EARLY_AGED);
        closed++;
    }
    lg->early_aged += closed;
    if (closed)
        log_info("legacy path: above the high watermark (%u%% of %llu sessions): %u idle "
                 "sessions aged early",
                 lg->high_wm, (unsigned long long)max, closed);
}

static int nmap_key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct moat_lg_nmap_key));
}

/* The source NAT mapping a session of forward key fk, entry fv may hold (legacy_maps.h:
 * moat_lg_nmap): false when it can hold none. */
static bool nmap_key_of(const struct moat_lg_key *fk, const struct moat_lg_sess *fv,
                        struct moat_lg_nmap_key *ik)
{
    if (!(fv->flags & MOAT_LG_F_NAT) || fk->family != 4 ||
        (fk->proto != IPPROTO_TCP && fk->proto != IPPROTO_UDP && fk->proto != IPPROTO_ICMP))
        return false;
    memset(ik, 0, sizeof(*ik));
    memcpy(&ik->int_addr, fk->src, 4);
    ik->int_port = fk->sport;
    ik->proto = fk->proto;
    ik->src = fv->snat_pool ? fv->snat_pool : MOAT_LG_NMAP_IF | fv->out_ifindex;
    return true;
}

/* Deletes mapping ik (both maps; the external entry only if it is still ik's). */
static void nmap_delete(struct legacy *lg, const struct moat_lg_nmap_key *ik,
                        const struct moat_lg_nmap *m)
{
    struct moat_lg_next_key nk = {
        .ext_addr = m->ext_addr, .ext_port = m->ext_port, .proto = ik->proto};
    struct moat_lg_nmap_key owner;
    bpf_map_delete_elem(lg->nmap_fd, ik);
    if (bpf_map_lookup_elem(lg->next_fd, &nk, &owner) == 0 &&
        memcmp(&owner, ik, sizeof(owner)) == 0)
        bpf_map_delete_elem(lg->next_fd, &nk);
}

/*
 * Source NAT mappings no live session holds (used: the sorted keys the sweep's sessions may
 * hold) and that no new session took since a second before the sweep started (t0: a session
 * created after the walk passed its place took the mapping after that) are deleted; the rest
 * are counted per pool (ports in use, as the helper counts its mappings).
 */
static void nmap_sweep(struct legacy *lg, const struct moat_lg_nmap_key *used, unsigned nused,
                       uint64_t t0)
{
    struct moat_lg_nmap_key *keys = calloc(MOAT_LG_MAX_MAPPINGS + 1, sizeof(*keys));
    if (!keys)
        return;
    unsigned n = 0;
    const void *prev = NULL;
    while (n < MOAT_LG_MAX_MAPPINGS && bpf_map_get_next_key(lg->nmap_fd, prev, &keys[n]) == 0) {
        prev = &keys[n];
        n++;
    }
    uint32_t inuse[MOAT_LG_MAX_POOLS] = {0};
    for (unsigned i = 0; i < n; i++) {
        struct moat_lg_nmap m;
        if (bpf_map_lookup_elem(lg->nmap_fd, &keys[i], &m) < 0)
            continue;
        if (!bsearch(&keys[i], used, nused, sizeof(*used), nmap_key_cmp) &&
            m.used_ns + NS_PER_S < t0) {
            nmap_delete(lg, &keys[i], &m);
            lg->mappings_freed++;
            continue;
        }
        if (keys[i].src < MOAT_LG_MAX_POOLS)
            inuse[keys[i].src]++;
    }
    memcpy(lg->pool_inuse, inuse, sizeof(inuse));
    free(keys);
}

/*
 * The session counts against the sweep's walk (legacy_count_fix()): lg->cnt_before is the
 * count by slot when the walk started, cnt_own the sweep's own decrements, cnt_walked the live
 * sessions it found; own_total and walked_total the same for the session total.
 */
static void counts_reconcile(struct legacy *lg, uint64_t active_before, uint64_t own_total,
                             uint64_t walked_total)
{
    unsigned fixed = 0;
    for (uint32_t i = 0; i < MOAT_LG_SCR_CNT_SLOTS; i++) {
        uint32_t *c[2] = {&lg->scrcnt[i].src, &lg->scrcnt[i].dst};
        const uint32_t b[2] = {lg->cnt_before[i].src, lg->cnt_before[i].dst};
        const uint32_t o[2] = {lg->cnt_own[i].src, lg->cnt_own[i].dst};
        const uint32_t w[2] = {lg->cnt_walked[i].src, lg->cnt_walked[i].dst};
        for (int k = 0; k < 2; k++) {
            uint32_t now = __atomic_load_n(c[k], __ATOMIC_RELAXED);
            uint32_t want = (uint32_t)legacy_count_fix(b[k], o[k], now, w[k]);
            if (want != now && __atomic_compare_exchange_n(c[k], &now, want, false,
                                                           __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                fixed++;
        }
    }
    __u64 now = __atomic_load_n(&lg->limit->active, __ATOMIC_RELAXED);
    __u64 want = legacy_count_fix(active_before, own_total, now, walked_total);
    if (want != now && __atomic_compare_exchange_n(&lg->limit->active, &now, want, false,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        fixed++;
    if (fixed) {
        lg->counts_fixed += fixed;
        log_info("legacy path: %u session counts corrected by the sweep to the %llu sessions "
                 "live (sessions evicted without a close, or counts an earlier run left)",
                 fixed, (unsigned long long)walked_total);
    }
}

/* The reverse entry (rk, rv) of a session whose forward entry the LRU map evicted: the session
 * is closed in the mirror (reason early-aged: the full table dropped it, idle first). */
static void close_evicted(struct legacy *lg, const struct moat_lg_key *rk,
                          const struct moat_lg_sess *rv)
{
    struct moat_lg_sess fv = *rv;
    fv.peer = *rk;
    fv.dir = 0;
    fv.in_ifindex = rv->out_ifindex;
    fv.out_ifindex = rv->in_ifindex;
    fv.packets = fv.bytes = 0;              /* went with the entry */
    bpf_map_delete_elem(lg->divert_fd, rk); /* its replies are no longer diverted */
    struct rec_buf b;
    record_of(lg, &rv->peer, &fv, rv, MOAT__DELTA_KIND__DELTA_CLOSE,
              MOAT__CLOSE_REASON__CLOSE_EARLY_AGED, &b);
    mirror_apply_delta(&lg->c->mirror, &b.d, on_event, lg->c);
    lg->evicted++;
}

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct vanished {
    const uint64_t *seen; /* the ids the sweep's walk found, sorted */
    unsigned nseen;
    uint64_t before_ms; /* created before (wall clock) */
    uint64_t *ids;
    unsigned n, cap;
};

static void vanished_one(void *arg, const struct mirror_session *s)
{
    struct vanished *v = arg;
    if ((s->id & MOAT_LG_ID_BIT) && s->created_unix_ms < v->before_ms && v->n < v->cap &&
        !bsearch(&s->id, v->seen, v->nseen, sizeof(*v->seen), id_cmp))
        v->ids[v->n++] = s->id;
}

/*
 * Sessions this path created whose two entries the LRU map evicted (it evicts the oldest, and
 * a session's entries age together): nothing in the map is left to tell of them, the mirror
 * still lists them. Those of the mirror with a kernel-path id, created more than 2 s before
 * the walk and absent from it (seen: every id it found), are closed there as close_evicted()
 * does. Not with an interface armed: the helper then holds the kernel path's sessions handed
 * over to it.
 */
static void close_vanished(struct legacy *lg, uint64_t *seen, unsigned nseen)
{
    struct mirror *m = &lg->c->mirror;
    if (lg->c->armed || !m->count)
        return;
    qsort(seen, nseen, sizeof(*seen), id_cmp);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct vanished v = {.seen = seen,
                         .nseen = nseen,
                         .before_ms =
                             (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 - 2000,
                         .ids = calloc(m->count, sizeof(uint64_t)),
                         .cap = m->count};
    if (!v.ids)
        return;
    mirror_foreach(m, vanished_one, &v);
    for (unsigned i = 0; i < v.n; i++) {
        const struct mirror_session *s = mirror_lookup(m, v.ids[i]);
        if (!s)
            continue;
        struct mirror_record_buf rb;
        mirror_to_record(m, s, &rb);
        rb.rec.close_reason = MOAT__CLOSE_REASON__CLOSE_EARLY_AGED;
        Moat__SessionDelta d;
        moat__session_delta__init(&d);
        d.kind = MOAT__DELTA_KIND__DELTA_CLOSE;
        d.session = &rb.rec;
        mirror_apply_delta(m, &d, on_event, lg->c);
        lg->evicted++;
    }
    free(v.ids);
}

static void sweep_cb(uv_timer_t *t)
{
    struct legacy *lg = t->data;
    ring_buffer__consume(lg->rb); /* creates first, so updates find them */
    created_flush(lg);
    /* Before the walk: the counts it is compared with, and the time mappings are kept from. */
    const uint64_t t0 = mono_ns();
    memcpy(lg->cnt_before, lg->scrcnt, SCRCNT_BYTES);
    memset(lg->cnt_own, 0, SCRCNT_BYTES);
    memset(lg->cnt_walked, 0, SCRCNT_BYTES);
    const uint64_t active_before = __atomic_load_n(&lg->limit->active, __ATOMIC_RELAXED);
    uint64_t own_total = 0, walked_total = 0;
    unsigned n;
    struct moat_lg_key *keys = all_keys(lg, &n);
    if (!keys)
        return;
    uint64_t now = mono_ns();
    struct idle_ref *live = calloc(n ? n : 1, sizeof(*live));
    unsigned nlive = 0;
    struct moat_lg_nmap_key *used = calloc(n ? n : 1, sizeof(*used));
    unsigned nused = 0;
    uint64_t *seen = calloc(n ? n : 1, sizeof(*seen));
    unsigned nseen = 0;
    for (unsigned i = 0; i < n; i++) {
        struct moat_lg_sess fv, rv;
        if (bpf_map_lookup_elem(lg->sess_fd, &keys[i], &fv) < 0)
            continue;
        if (seen)
            seen[nseen++] = fv.id;
        bool has_rev = bpf_map_lookup_elem(lg->sess_fd, &fv.peer, &rv) == 0;
        if (fv.dir != 0) {
            /* A reverse entry: handled with its forward one, unless that one is gone (the LRU
             * map evicted it; a second's grace for a session xdp_main_new is inserting). */
            struct moat_lg_sess tmp;
            if (bpf_map_lookup_elem(lg->sess_fd, &fv.peer, &tmp) < 0 &&
                now > fv.created_ns + NS_PER_S && bpf_map_delete_elem(lg->sess_fd, &keys[i]) == 0)
                close_evicted(lg, &keys[i], &fv);
            continue;
        }
        uint64_t last = fv.last_seen_ns;
        if (has_rev && rv.last_seen_ns > last)
            last = rv.last_seen_ns;
        uint64_t to = (uint64_t)timeout_of(&lg->cfg, &fv, keys[i].proto) * NS_PER_S;
        bool expired = !has_rev || (now > last && now - last > to);
        uint32_t ss = moat_lg_cnt_slot(lg->scr_seed, keys[i].src, keys[i].family);
        uint32_t ds = moat_lg_cnt_slot(lg->scr_seed, keys[i].dst, keys[i].family);
        struct rec_buf b;
        if (expired) {
            if (bpf_map_delete_elem(lg->sess_fd, &keys[i]) == 0) {
                sess_gone(lg, 1);
                sess_counted(lg, &keys[i], -1);
                own_total++;
                lg->cnt_own[ss].src++;
                lg->cnt_own[ds].dst++;
            }
            if (has_rev)
                bpf_map_delete_elem(lg->sess_fd, &fv.peer);
            /* Its replies no longer diverted (a later flow may take the same reply key). */
            bpf_map_delete_elem(lg->divert_fd, &fv.peer);
            /* Without its reverse entry (inserted first): the LRU map evicted that one. */
            Moat__CloseReason why =
                has_rev ? expiry_reason(&fv, keys[i].proto) : MOAT__CLOSE_REASON__CLOSE_EARLY_AGED;
            record_of(lg, &keys[i], &fv, has_rev ? &rv : NULL, MOAT__DELTA_KIND__DELTA_CLOSE, why,
                      &b);
            lg->swept_closed++;
            if (!has_rev)
                lg->evicted++;
            if (why == MOAT__CLOSE_REASON__CLOSE_AGED)
                lg->aged_out++;
        } else {
            record_of(lg, &keys[i], &fv, &rv, MOAT__DELTA_KIND__DELTA_UPDATE,
                      MOAT__CLOSE_REASON__CLOSE_NONE, &b);
            if (live)
                live[nlive++] = (struct idle_ref){last, i};
            if (used && nmap_key_of(&keys[i], &fv, &used[nused]))
                nused++;
            walked_total++;
            lg->cnt_walked[ss].src++;
            lg->cnt_walked[ds].dst++;
        }
        /* With an interface armed, the helper reports the sessions it holds: a copy seeded
         * from the mirror (an id without MOAT_LG_ID_BIT) neither updates nor closes them. */
        if (!lg->c->armed || (fv.id & MOAT_LG_ID_BIT))
            mirror_apply_delta(&lg->c->mirror, &b.d, on_event, lg->c);
        else
            lg->seeded_unreported++;
    }
    counts_reconcile(lg, active_before, own_total, walked_total);
    if (seen)
        close_vanished(lg, seen, nseen);
    free(seen);
    if (used) {
        qsort(used, nused, sizeof(*used), nmap_key_cmp);
        nmap_sweep(lg, used, nused, t0);
    }
    free(used);
    if (live)
        early_age(lg, keys, live, nlive, now);
    free(live);
    free(keys);
}

/* Deletes both entries of a session and closes it in the mirror. */
static void close_session(struct legacy *lg, const struct moat_lg_key *fk,
                          const struct moat_lg_sess *fv, bool has_rev,
                          const struct moat_lg_sess *rv, Moat__CloseReason why)
{
    if (bpf_map_delete_elem(lg->sess_fd, fk) == 0) {
        sess_gone(lg, 1);
        sess_counted(lg, fk, -1);
    }
    if (has_rev)
        bpf_map_delete_elem(lg->sess_fd, &fv->peer);
    bpf_map_delete_elem(lg->divert_fd, &fv->peer);
    struct rec_buf b;
    record_of(lg, fk, fv, has_rev ? rv : NULL, MOAT__DELTA_KIND__DELTA_CLOSE, why, &b);
    mirror_apply_delta(&lg->c->mirror, &b.d, on_event, lg->c);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t legacy_clear(struct legacy *lg, const uint64_t *ids, size_t n)
{
    if (!lg || !n)
        return 0;
    uint64_t *sorted = malloc(n * sizeof(*sorted));
    if (!sorted)
        return 0;
    memcpy(sorted, ids, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), u64_cmp);
    ring_buffer__consume(lg->rb);
    unsigned nk;
    struct moat_lg_key *keys = all_keys(lg, &nk);
    uint64_t closed = 0;
    for (unsigned i = 0; keys && i < nk; i++) {
        struct moat_lg_sess fv, rv;
        if (bpf_map_lookup_elem(lg->sess_fd, &keys[i], &fv) < 0 || fv.dir != 0 ||
            !bsearch(&fv.id, sorted, n, sizeof(*sorted), u64_cmp))
            continue;
        bool has_rev = bpf_map_lookup_elem(lg->sess_fd, &fv.peer, &rv) == 0;
        close_session(lg, &keys[i], &fv, has_rev, &rv, MOAT__CLOSE_REASON__CLOSE_CLEARED);
        closed++;
    }
    free(keys);
    free(sorted);
    lg->cleared += closed;
    if (closed)
        log_info("clear security flow session: %llu kernel-path sessions closed",
                 (unsigned long long)closed);
    return closed;
}

void legacy_nat_counters(struct legacy *lg, Moat__PolicyCountersReply *r)
{
    int ncpu = libbpf_num_possible_cpus();
    if (!lg || !r || ncpu <= 0)
        return;
    struct moat_lg_natctr *nc = calloc((size_t)ncpu, sizeof(*nc));
    struct moat_lg_poolctr *pc = calloc((size_t)ncpu, sizeof(*pc));
    for (size_t i = 0; nc && i < r->n_nat_rules; i++) {
        uint32_t id = r->nat_rules[i]->rule_id;
        if (id >= MOAT_LG_NAT_CTRS || bpf_map_lookup_elem(lg->natctr_fd, &id, nc) < 0)
            continue;
        for (int k = 0; k < ncpu; k++) {
            r->nat_rules[i]->hits += nc[k].hits;
            r->nat_rules[i]->failures += nc[k].failures;
        }
    }
    for (size_t i = 0; pc && i < r->n_nat_pools; i++) {
        Moat__NatPoolCounter *p = r->nat_pools[i];
        uint32_t id = p->pool_id;
        if (id == 0 || id >= MOAT_LG_MAX_POOLS || bpf_map_lookup_elem(lg->poolctr_fd, &id, pc) < 0)
            continue;
        for (int k = 0; k < ncpu; k++) {
            p->allocations += pc[k].allocations;
            p->exhausted += pc[k].exhausted;
        }
        p->ports_in_use += lg->pool_inuse[id];
    }
    free(nc);
    free(pc);
}

void legacy_screen_counters(struct legacy *lg, Moat__PolicyCountersReply *r)
{
    int ncpu = libbpf_num_possible_cpus();
    if (!lg || !r || ncpu <= 0)
        return;
    struct moat_lg_scrctr *pc = calloc((size_t)ncpu, sizeof(*pc));
    for (size_t i = 0; pc && i < r->n_screens; i++) {
        Moat__ScreenCounter *sc = r->screens[i];
        uint32_t z = sc->zone_id;
        if (z >= MOAT_LG_SCR_ZONES || bpf_map_lookup_elem(lg->scrctr_fd, &z, pc) < 0)
            continue;
        for (int k = 0; k < ncpu; k++)
            for (size_t c = 0; c < sc->n_counts && c < MOAT_LG_SCR_CTRS; c++)
                sc->counts[c] += pc[k].c[c];
    }
    free(pc);
}

void legacy_policy_hits(struct legacy *lg, uint32_t id, struct moat_lg_hit *out)
{
    memset(out, 0, sizeof(*out));
    int ncpu = libbpf_num_possible_cpus();
    if (!lg || ncpu <= 0 || id >= MOAT_LG_MAX_POLICIES)
        return;
    struct moat_lg_hit *pc = calloc((size_t)ncpu, sizeof(*pc));
    if (!pc)
        return;
    if (bpf_map_lookup_elem(lg->hits_fd, &id, pc) == 0) {
        for (int i = 0; i < ncpu; i++) {
            out->hits += pc[i].hits;
            out->packets += pc[i].packets;
            out->bytes += pc[i].bytes;
        }
    }
    free(pc);
}

static void flow_to_key(const uint8_t *src, const uint8_t *dst, uint16_t sport, uint16_t dport,
                        uint8_t proto, uint8_t family, struct moat_lg_key *k)
{
    memset(k, 0, sizeof(*k));
    size_t alen = family == 6 ? 16 : 4;
    memcpy(k->src, src, alen);
    memcpy(k->dst, dst, alen);
    k->proto = proto;
    k->family = family;
    k->sport = htons(sport);
    /* ICMP echo: the identifier only (the helper marks replies with dport 1). */
    k->dport = (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) ? 0 : htons(dport);
}

struct seed_ctx {
    struct legacy *lg;
    uint64_t now;
    int64_t off_ms;
    unsigned n, failed;
    unsigned added, present;  /* of n: new sessions (counted); left as they were */
    unsigned maps, map_clash; /* source NAT mappings seeded, left out */
};

/*
 * The source NAT mapping of a seeded session (forward key fk, reverse key rk, forward entry v),
 * as the helper had it: the kernel path's next session of the same internal endpoint keeps its
 * external address and port. Interface NAT when the external address is the egress interface's
 * (static NAT has no mapping). A mapping that clashes with one seeded before is left out and
 * counted.
 */
static void seed_mapping(struct legacy *lg, const struct moat_lg_key *fk,
                         const struct moat_lg_key *rk, const struct moat_lg_sess *v,
                         struct seed_ctx *x)
{
    struct moat_lg_nmap_key ik;
    if (!nmap_key_of(fk, v, &ik))
        return;
    struct moat_lg_nmap m = {.used_ns = x->now};
    memcpy(&m.ext_addr, rk->dst, 4);
    m.ext_port = fk->proto == IPPROTO_ICMP ? rk->sport : rk->dport;
    if (m.ext_addr == ik.int_addr && m.ext_port == ik.int_port)
        return; /* the source was not translated */
    if (!v->snat_pool) {
        struct moat_lg_if oif;
        uint32_t ifx = v->out_ifindex;
        if (bpf_map_lookup_elem(lg->ifs_fd, &ifx, &oif) < 0 || !oif.has_v4 || oif.v4 != m.ext_addr)
            return;
    }
    struct moat_lg_nmap have;
    if (bpf_map_lookup_elem(lg->nmap_fd, &ik, &have) == 0) {
        if (have.ext_addr != m.ext_addr || have.ext_port != m.ext_port)
            x->map_clash++;
        return;
    }
    struct moat_lg_next_key nk = {
        .ext_addr = m.ext_addr, .ext_port = m.ext_port, .proto = ik.proto};
    if (bpf_map_update_elem(lg->next_fd, &nk, &ik, BPF_NOEXIST) < 0) {
        x->map_clash++;
        return;
    }
    if (bpf_map_update_elem(lg->nmap_fd, &ik, &m, BPF_NOEXIST) < 0) {
        bpf_map_delete_elem(lg->next_fd, &nk);
        x->map_clash++;
        return;
    }
    x->maps++;
}

static void seed_one(void *arg, const struct mirror_session *s)
{
    struct seed_ctx *x = arg;
    struct legacy *lg = x->lg;
    if ((s->family != 4 && s->family != 6) || s->state == MOAT_LG_CLOSED)
        return;
    struct moat_lg_key fk, rk;
    flow_to_key(s->fwd_src, s->fwd_dst, s->fwd_sport, s->fwd_dport, s->proto, s->family, &fk);
    flow_to_key(s->rev_src, s->rev_dst, s->rev_sport, s->rev_dport, s->proto, s->family, &rk);
    /* Seeding again (another interface disarmed while the helper runs): a session the kernel
     * path has (the same tuples, whatever its id: the helper gives the sessions installed from
     * here ids of its own) is left as it is; one of the same forward tuple but another
     * translation is replaced (its count kept, its reverse entry removed). */
    struct moat_lg_sess v, have;
    bool replace = false;
    if (bpf_map_lookup_elem(lg->sess_fd, &fk, &have) == 0 && have.dir == 0) {
        if (memcmp(&have.peer, &rk, sizeof(rk)) == 0) {
            x->present++;
            return;
        }
        replace = true;
        bpf_map_delete_elem(lg->sess_fd, &have.peer);
    }
    memset(&v, 0, sizeof(v));
    v.id = s->id;
    int64_t created = (int64_t)s->created_unix_ms - x->off_ms;
    v.created_ns = created > 0 ? (uint64_t)created * 1000000 : x->now;
    v.last_seen_ns = x->now;
    v.policy_id = s->policy_id;
    v.from_zone = (uint16_t)s->from_zone;
    v.to_zone = (uint16_t)s->to_zone;
    v.snat_rule = (uint16_t)s->snat_rule_id;
    v.dnat_rule = (uint16_t)s->dnat_rule_id;
    v.snat_pool = (uint16_t)s->snat_pool_id;
    v.state = s->state;
    v.flags = mirror_session_nat(s) ? MOAT_LG_F_NAT : 0;
    if (s->proto == IPPROTO_TCP &&
        (s->sp_phase == MOAT_LG_SP_WAIT || s->sp_phase == MOAT_LG_SP_EST)) {
        v.sp_phase = s->sp_phase; /* a proxied session: its numbers go on being translated */
        v.sp_cookie = s->sp_cookie;
        v.sp_cli_isn = s->sp_client_isn;
        v.sp_delta = s->sp_delta;
        v.sp_win = s->sp_window;
    }
    /* The timeout the helper reported for its state: the application's when it set one. */
    if (s->proto != IPPROTO_TCP || s->state == MOAT_LG_ESTABLISHED)
        v.app_timeout = s->timeout;
    /* Reverse entry. */
    v.peer = fk;
    v.dir = 1;
    v.in_ifindex = s->out_ifindex;
    v.out_ifindex = s->in_ifindex;
    v.packets = s->packets_rev;
    v.bytes = s->bytes_rev;
    int rc = bpf_map_update_elem(lg->sess_fd, &rk, &v, BPF_ANY);
    v.peer = rk;
    v.dir = 0;
    v.in_ifindex = s->in_ifindex;
    v.out_ifindex = s->out_ifindex;
    v.packets = s->packets_fwd;
    v.bytes = s->bytes_fwd;
    if (!rc)
        rc = bpf_map_update_elem(lg->sess_fd, &fk, &v, BPF_ANY);
    if (rc) {
        x->failed++;
    } else {
        x->n++;
        if (!replace) {
            x->added++;
            sess_counted(lg, &fk, 1);
        }
        seed_mapping(lg, &fk, &rk, &v, x);
    }
}

void legacy_on_disarm(struct legacy *lg)
{
    if (!lg)
        return;
    struct seed_ctx x = {.lg = lg, .now = mono_ns(), .off_ms = unix_offset_ms()};
    mirror_foreach(&lg->c->mirror, seed_one, &x);
    lg->seeded += x.n;
    lg->seed_present += x.present;
    lg->mappings_seeded += x.maps;
    __atomic_fetch_add(&lg->limit->active, x.added, __ATOMIC_RELAXED);
    log_info("legacy path: seeded %u sessions from the mirror (%u failed, %u there already) and "
             "%u source NAT mappings (%u clashing left out): established flows continue in the "
             "kernel path",
             x.n, x.failed, x.present, x.maps, x.map_clash);
}

void legacy_follow(struct legacy *lg, const struct mirror_session *s, bool created)
{
    if (!lg || (s->family != 4 && s->family != 6))
        return;
    struct moat_lg_key fk;
    flow_to_key(s->fwd_src, s->fwd_dst, s->fwd_sport, s->fwd_dport, s->proto, s->family, &fk);
    struct moat_lg_sess fv, rv;
    if (bpf_map_lookup_elem(lg->sess_fd, &fk, &fv) < 0) {
        if (!created)
            return;
        struct seed_ctx x = {.lg = lg, .now = mono_ns(), .off_ms = unix_offset_ms()};
        seed_one(&x, s);
        lg->seeded += x.n;
        lg->mappings_seeded += x.maps;
        lg->followed_new += x.added;
        __atomic_fetch_add(&lg->limit->active, x.added, __ATOMIC_RELAXED);
        return;
    }
    /* The helper's state is the other half of the connection's: a TCP session the kernel path
     * created sees its SYN-ACK in the helper, and must accept the handshake's last ACK. The
     * same connection: the same tuples (the helper gives an installed session its own id). */
    struct moat_lg_key rk;
    flow_to_key(s->rev_src, s->rev_dst, s->rev_sport, s->rev_dport, s->proto, s->family, &rk);
    if (fv.dir != 0 || memcmp(&fv.peer, &rk, sizeof(rk)) != 0 || s->state <= fv.state ||
        s->state >= MOAT_LG_CLOSED)
        return;
    fv.state = s->state;
    if (bpf_map_update_elem(lg->sess_fd, &fk, &fv, BPF_EXIST) < 0)
        return;
    if (bpf_map_lookup_elem(lg->sess_fd, &fv.peer, &rv) == 0 && rv.id == fv.id) {
        rv.state = s->state;
        bpf_map_update_elem(lg->sess_fd, &fv.peer, &rv, BPF_EXIST);
    }
    lg->followed_state++;
}

/* Empties moat_lg_nmap and moat_lg_next. */
static void nmap_flush(struct legacy *lg)
{
    int fds[2] = {lg->nmap_fd, lg->next_fd};
    for (int f = 0; f < 2; f++) {
        uint8_t key[sizeof(struct moat_lg_nmap_key)];
        while (bpf_map_get_next_key(fds[f], NULL, key) == 0)
            if (bpf_map_delete_elem(fds[f], key) < 0)
                break;
    }
    memset(lg->pool_inuse, 0, sizeof(lg->pool_inuse));
}

void legacy_on_arm(struct legacy *lg)
{
    if (!lg)
        return;
    ring_buffer__consume(lg->rb);
    unsigned n;
    struct moat_lg_key *keys = all_keys(lg, &n);
    if (!keys)
        return;
    for (unsigned i = 0; i < n; i++)
        bpf_map_delete_elem(lg->sess_fd, &keys[i]);
    free(keys);
    sess_gone(lg, n / 2);
    memset(lg->scrcnt, 0, SCRCNT_BYTES); /* no session left to count */
    nmap_flush(lg);                      /* nor a mapping: the helper claims its own */
    lg->flushed += n / 2;
    if (n)
        log_info("legacy path: the helper is armed and holds the sessions; %u kernel-path "
                 "session entries removed",
                 n);
}

/* Every live kernel-path session (forward entry) as the helper installs it, for the handover
 * at arming (handover.h). The ring buffer is consumed first, so the mirror knows them too. */
int legacy_session_records(struct legacy *lg, struct sessrec **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!lg)
        return 0;
    ring_buffer__consume(lg->rb);
    unsigned nk;
    struct moat_lg_key *keys = all_keys(lg, &nk);
    if (!keys)
        return -ENOMEM;
    struct sessrec *recs = calloc(nk / 2 + 1, sizeof(*recs));
    if (!recs) {
        free(keys);
        return -ENOMEM;
    }
    size_t k = 0;
    for (unsigned i = 0; i < nk && k < nk / 2 + 1; i++) {
        struct moat_lg_sess fv, rv;
        if (bpf_map_lookup_elem(lg->sess_fd, &keys[i], &fv) < 0 || fv.dir != 0 ||
            fv.state == MOAT_LG_CLOSED)
            continue;
        bool has_rev = bpf_map_lookup_elem(lg->sess_fd, &fv.peer, &rv) == 0;
        struct rec_buf b;
        record_of(lg, &keys[i], &fv, has_rev ? &rv : NULL, MOAT__DELTA_KIND__DELTA_CREATE,
                  MOAT__CLOSE_REASON__CLOSE_NONE, &b);
        if (sessrec_from_record(&b.rec, &recs[k]))
            k++;
    }
    free(keys);
    *out = recs;
    *n = k;
    return 0;
}

/* ---- load ---- */

static int find_fd(struct legacy *lg, const char *name, char *err, size_t errlen)
{
    int fd = bpf_object__find_map_fd_by_name(lg->obj, name);
    if (fd < 0)
        return legacy_errf(err, errlen, -ENOENT,
                           "map %s is missing from " MAIN_OBJECT ": rebuild controld and the BPF "
                           "objects together",
                           name);
    return fd;
}

static int pin_prog(struct legacy *lg, struct bpf_program *prog, const char *name, char *err,
                    size_t errlen)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", lg->c->bpffs_dir, name) >= (int)sizeof(path))
        return legacy_errf(err, errlen, -ENAMETOOLONG, "pin path for %s is too long", name);
    if (unlink(path) < 0 && errno != ENOENT)
        return legacy_errf(err, errlen, -errno, "removing the old pin %s failed: %s", path,
                           strerror(errno));
    int rc = bpf_program__pin(prog, path);
    if (rc)
        return legacy_errf(err, errlen, rc, "pinning %s at %s failed: %s", name, path,
                           strerror(-rc));
    return 0;
}

int legacy_open(struct controld *c, struct legacy **out, char *err, size_t errlen)
{
    char path[PATH_MAX];
    *out = NULL;
    if (snprintf(path, sizeof(path), "%s/" MAIN_OBJECT, c->bpf_dir) >= (int)sizeof(path))
        return legacy_errf(err, errlen, -ENAMETOOLONG, "BPF directory path %s is too long",
                           c->bpf_dir);
    if (access(path, R_OK) < 0)
        return legacy_errf(err, errlen, -errno, "can't read %s: %s; build the bpf_objects target",
                           path, strerror(errno));
    struct legacy *lg = calloc(1, sizeof(*lg));
    if (!lg)
        return legacy_errf(err, errlen, -ENOMEM, "out of memory");
    lg->c = c;
    LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = c->bpffs_dir);
    int rc;
    lg->obj = bpf_object__open_file(path, &oopts);
    if (!lg->obj) {
        rc = legacy_errf(err, errlen, -errno, "opening %s failed: %s", path, strerror(errno));
        free(lg);
        return rc;
    }
    /* moat_lg_tx (see main.bpf.c): reuse the pinned one by hand, else pin it after load. */
    struct bpf_map *txm = bpf_object__find_map_by_name(lg->obj, MOAT_MAP_LG_TX);
    char txpath[PATH_MAX];
    bool tx_reused = false;
    snprintf(txpath, sizeof(txpath), "%s/" MOAT_MAP_LG_TX, c->bpffs_dir);
    if (txm) {
        bpf_map__set_pin_path(txm, NULL);
        int pfd = bpf_obj_get(txpath);
        if (pfd >= 0) {
            tx_reused = bpf_map__reuse_fd(txm, pfd) == 0;
            close(pfd);
            if (!tx_reused)
                unlink(txpath);
        }
    }
    /* Test hook (tests/lab/test_legacy_suite.sh): a session map of fewer entries than
     * MOAT_LG_MAX_SESSIONS, the session limit unchanged, so that a few hundred real flows fill
     * it and the LRU evicts. Not a setting: the limit is the operator's knob. */
    const char *sess_entries = getenv("MOAT_TEST_LG_SESS_ENTRIES");
    struct bpf_map *sessm = bpf_object__find_map_by_name(lg->obj, MOAT_MAP_LG_SESS);
    unsigned long n_entries = sess_entries ? strtoul(sess_entries, NULL, 10) : 0;
    if (sessm && n_entries >= 2 && n_entries < MOAT_LG_MAX_SESSIONS &&
        bpf_map__set_max_entries(sessm, (__u32)n_entries) == 0)
        log_warn("legacy path: session map of %lu entries (test hook MOAT_TEST_LG_SESS_ENTRIES)",
                 n_entries);
    rc = pins_replace_incompatible(lg->obj, bootstrap_object(c->bpf), err, errlen);
    if (rc < 0)
        goto out;
    rc = bpf_object__load(lg->obj);
    if (rc) {
        legacy_errf(err, errlen, rc,
                    "loading %s failed: %s (verifier output above; if a pinned map does not match, "
                    "remove %s/moat_lg_* and retry)",
                    path, strerror(-rc), c->bpffs_dir);
        goto out;
    }
    struct {
        int *fd;
        const char *name;
    } maps[] = {
        {&lg->sess_fd, MOAT_MAP_LG_SESS},       {&lg->cfg_fd, MOAT_MAP_LG_CFG},
        {&lg->ifs_fd, MOAT_MAP_LG_IFS},         {&lg->pairs_fd, MOAT_MAP_LG_PAIRS},
        {&lg->rules_fd, MOAT_MAP_LG_RULES},     {&lg->pfx_fd, MOAT_MAP_LG_PFX},
        {&lg->nat_fd, MOAT_MAP_LG_NAT},         {&lg->spools_fd, MOAT_MAP_LG_SPOOLS},
        {&lg->dpools_fd, MOAT_MAP_LG_DPOOLS},   {&lg->routes_fd, MOAT_MAP_LG_ROUTES},
        {&lg->neigh_fd, MOAT_MAP_LG_NEIGH},     {&lg->tx_fd, MOAT_MAP_LG_TX},
        {&lg->stats_fd, MOAT_MAP_LG_STATS},     {&lg->progs_fd, MOAT_MAP_PROGS},
        {&lg->hits_fd, MOAT_MAP_LG_HITS},       {&lg->natctr_fd, MOAT_MAP_LG_NATCTR},
        {&lg->poolctr_fd, MOAT_MAP_LG_POOLCTR}, {&lg->if6_fd, MOAT_MAP_LG_IF6},
        {&lg->screens_fd, MOAT_MAP_LG_SCREENS}, {&lg->scrctr_fd, MOAT_MAP_LG_SCRCTR},
        {&lg->nmap_fd, MOAT_MAP_LG_NMAP},       {&lg->next_fd, MOAT_MAP_LG_NEXT},
        {&lg->divert_fd, MOAT_MAP_LG_DIVERT},
    };
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
        int fd = find_fd(lg, maps[i].name, err, errlen);
        if (fd < 0) {
            rc = fd;
            goto out;
        }
        *maps[i].fd = fd;
    }
    int lim_fd = find_fd(lg, MOAT_MAP_LG_LIMIT, err, errlen);
    if (lim_fd < 0) {
        rc = lim_fd;
        goto out;
    }
    lg->limit =
        mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, lim_fd, 0);
    if (lg->limit == MAP_FAILED) {
        lg->limit = NULL;
        rc = legacy_errf(err, errlen, -errno, "mapping " MOAT_MAP_LG_LIMIT " failed: %s",
                         strerror(errno));
        goto out;
    }
    int cnt_fd = find_fd(lg, MOAT_MAP_LG_SCRCNT, err, errlen);
    if (cnt_fd < 0) {
        rc = cnt_fd;
        goto out;
    }
    lg->scrcnt = mmap(NULL, SCRCNT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, cnt_fd, 0);
    if (lg->scrcnt == MAP_FAILED) {
        lg->scrcnt = NULL;
        rc = legacy_errf(err, errlen, -errno, "mapping " MOAT_MAP_LG_SCRCNT " failed: %s",
                         strerror(errno));
        goto out;
    }
    lg->cnt_before = calloc(MOAT_LG_SCR_CNT_SLOTS, sizeof(*lg->cnt_before));
    lg->cnt_own = calloc(MOAT_LG_SCR_CNT_SLOTS, sizeof(*lg->cnt_own));
    lg->cnt_walked = calloc(MOAT_LG_SCR_CNT_SLOTS, sizeof(*lg->cnt_walked));
    if (!lg->cnt_before || !lg->cnt_own || !lg->cnt_walked) {
        rc =
            legacy_errf(err, errlen, -ENOMEM, "out of memory for the legacy path's session counts");
        goto out;
    }
    /* The seed of the counts' slots: the one the pinned maps were counted with (a restarted
     * controld keeps the kernel path's sessions and their counts), else a new random one. */
    uint32_t zero_key = 0;
    struct moat_lg_screen sc0;
    if (bpf_map_lookup_elem(lg->screens_fd, &zero_key, &sc0) == 0 && sc0.seed)
        lg->scr_seed = sc0.seed;
    else if (getrandom(&lg->scr_seed, sizeof(lg->scr_seed), 0) != sizeof(lg->scr_seed) ||
             !lg->scr_seed)
        lg->scr_seed = mono_ns() * 0x9e3779b97f4a7c15ull | 1; /* no entropy yet: still varies */
    if (bpf_map_lookup_elem(lg->screens_fd, &zero_key, &sc0) == 0 && !sc0.seed) {
        sc0.seed = lg->scr_seed; /* before a session is counted */
        bpf_map_update_elem(lg->screens_fd, &zero_key, &sc0, BPF_ANY);
    }
    if (txm && !tx_reused && (rc = bpf_map__pin(txm, txpath))) {
        legacy_errf(err, errlen, rc, "pinning %s failed: %s", txpath, strerror(-rc));
        goto out;
    }
    struct bpf_program *pm = bpf_object__find_program_by_name(lg->obj, MOAT_PROG_MAIN);
    struct bpf_program *pn = bpf_object__find_program_by_name(lg->obj, MOAT_PROG_MAIN_NEW);
    struct bpf_program *pi = bpf_object__find_program_by_name(lg->obj, MOAT_PROG_MAIN_ICMP);
    struct bpf_program *ps = bpf_object__find_program_by_name(lg->obj, MOAT_PROG_MAIN_SYN);
    if (!pm || !pn || !pi || !ps) {
        rc = legacy_errf(err, errlen, -ENOENT,
                         "%s lacks " MOAT_PROG_MAIN ", " MOAT_PROG_MAIN_NEW ", " MOAT_PROG_MAIN_ICMP
                         " or " MOAT_PROG_MAIN_SYN,
                         path);
        goto out;
    }
    if ((rc = pin_prog(lg, pm, MOAT_PROG_MAIN, err, errlen)) ||
        (rc = pin_prog(lg, pn, MOAT_PROG_MAIN_NEW, err, errlen)) ||
        (rc = pin_prog(lg, pi, MOAT_PROG_MAIN_ICMP, err, errlen)) ||
        (rc = pin_prog(lg, ps, MOAT_PROG_MAIN_SYN, err, errlen)))
        goto out;
    /* The stages first, then the entry point the shim calls. */
    uint32_t slot_new = MOAT_LG_SLOT_NEW, slot_icmp = MOAT_LG_SLOT_ICMP,
             slot_syn = MOAT_LG_SLOT_SYN, slot_main = MOAT_PROG_SLOT_MAIN;
    int fd_new = bpf_program__fd(pn), fd_icmp = bpf_program__fd(pi), fd_syn = bpf_program__fd(ps),
        fd_main = bpf_program__fd(pm);
    if (bpf_map_update_elem(lg->progs_fd, &slot_new, &fd_new, BPF_ANY) < 0 ||
        bpf_map_update_elem(lg->progs_fd, &slot_icmp, &fd_icmp, BPF_ANY) < 0 ||
        bpf_map_update_elem(lg->progs_fd, &slot_syn, &fd_syn, BPF_ANY) < 0 ||
        bpf_map_update_elem(lg->progs_fd, &slot_main, &fd_main, BPF_ANY) < 0) {
        rc = legacy_errf(err, errlen, -errno,
                         "installing the legacy programs in " MOAT_MAP_PROGS " failed: %s",
                         strerror(errno));
        goto out;
    }
    struct bpf_map *ev = bpf_object__find_map_by_name(lg->obj, MOAT_MAP_LG_EVENTS);
    lg->rb = ev ? ring_buffer__new(bpf_map__fd(ev), on_ring_event, lg, NULL) : NULL;
    if (!lg->rb) {
        rc =
            legacy_errf(err, errlen, -EIO, "opening the ring buffer " MOAT_MAP_LG_EVENTS " failed");
        goto out;
    }
    uv_poll_init(c->loop, &lg->poll, ring_buffer__epoll_fd(lg->rb));
    lg->poll.data = lg;
    uv_poll_start(&lg->poll, UV_READABLE, poll_cb);
    lg->poll_on = true;
    uv_timer_init(c->loop, &lg->sweep);
    lg->sweep.data = lg;
    uv_timer_start(&lg->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
    lg->sweep_on = true;
    /* Timeouts until the first sync; sessions a previous controld left are kept. */
    lg->cfg = (struct moat_lg_cfg){.tcp_established = 1800,
                                   .tcp_initial = 20,
                                   .tcp_closing = 30,
                                   .udp = 60,
                                   .icmp = 60,
                                   .other = 60};
    log_info("legacy path: " MOAT_PROG_MAIN " loaded and installed in " MOAT_MAP_PROGS " slot %u",
             MOAT_PROG_SLOT_MAIN);
    *out = lg;
    return 0;
out:
    if (lg->limit)
        munmap(lg->limit, (size_t)sysconf(_SC_PAGESIZE));
    if (lg->scrcnt)
        munmap(lg->scrcnt, SCRCNT_BYTES);
    if (lg->rb)
        ring_buffer__free(lg->rb);
    bpf_object__close(lg->obj);
    free(lg->cnt_before);
    free(lg->cnt_own);
    free(lg->cnt_walked);
    free(lg->created);
    free(lg);
    return rc;
}

static void free_after_close(uv_handle_t *h)
{
    struct legacy *lg = h->data;
    /* The timer and the poll each close: free once both are done. */
    if (!lg->poll_on && !lg->sweep_on) {
        munmap(lg->limit, (size_t)sysconf(_SC_PAGESIZE));
        munmap(lg->scrcnt, SCRCNT_BYTES);
        ring_buffer__free(lg->rb);
        bpf_object__close(lg->obj);
        for (unsigned i = 0; lg->pol_keys && i < lg->n_pol_keys; i++)
            free(lg->pol_keys[i]);
        free(lg->pol_keys);
        free(lg->cnt_before);
        free(lg->cnt_own);
        free(lg->cnt_walked);
        free(lg->created);
        free(lg);
    }
}

static void poll_closed(uv_handle_t *h)
{
    struct legacy *lg = h->data;
    lg->poll_on = false;
    free_after_close(h);
}

static void sweep_closed(uv_handle_t *h)
{
    struct legacy *lg = h->data;
    lg->sweep_on = false;
    free_after_close(h);
}

void legacy_close(struct legacy *lg)
{
    if (!lg)
        return;
    uv_poll_stop(&lg->poll);
    uv_timer_stop(&lg->sweep);
    uv_close((uv_handle_t *)&lg->poll, poll_closed);
    uv_close((uv_handle_t *)&lg->sweep, sweep_closed);
}

/* ---- counters ---- */

uint64_t legacy_cookie_seed(const struct legacy *lg)
{
    return lg ? lg->scr_seed : 0;
}

int legacy_read_stats(struct legacy *lg, struct moat_lg_stats *out)
{
    enum { NF = sizeof(struct moat_lg_stats) / sizeof(uint64_t) };
    memset(out, 0, sizeof(*out));
    if (!lg)
        return -ENOENT;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return -EINVAL;
    struct moat_lg_stats *pc = calloc((size_t)ncpu, sizeof(*pc));
    if (!pc)
        return -ENOMEM;
    uint32_t zero = 0;
    int rc = 0;
    if (bpf_map_lookup_elem(lg->stats_fd, &zero, pc) < 0) {
        rc = -errno;
    } else {
        uint64_t sum[NF] = {0};
        for (int c = 0; c < ncpu; c++) {
            uint64_t v[NF];
            memcpy(v, &pc[c], sizeof(v));
            for (int i = 0; i < NF; i++)
                sum[i] += v[i];
        }
        memcpy(out, sum, sizeof(*out));
    }
    free(pc);
    return rc;
}

void legacy_render_stats(struct legacy *lg, bool json, struct strbuf *o)
{
    struct moat_lg_stats st;
    int rc = legacy_read_stats(lg, &st);
    if (json) {
        strbuf_printf(o, ",\"legacy\":{\"loaded\":%s", lg && !rc ? "true" : "false");
#define X(f) strbuf_printf(o, ",\"%s\":%llu", #f, (unsigned long long)st.f);
        MOAT_LG_STATS_FIELDS(X)
#undef X
        if (lg)
            strbuf_printf(
                o,
                ",\"syncs\":%llu,\"sync_errors\":%llu,\"events\":%llu,"
                "\"resolves\":%llu,\"seeded\":%llu,\"flushed\":%llu,"
                "\"swept_closed\":%llu,\"aged_out\":%llu,\"cleared\":%llu,"
                "\"policy_closed\":%llu,\"early_aged\":%llu,\"sessions_active\":%llu,"
                "\"max_sessions\":%llu,\"nat_mappings_freed\":%llu,"
                "\"nat_mappings_seeded\":%llu,\"counts_fixed\":%llu,\"evicted\":%llu,"
                "\"seed_present\":%llu,\"created_unkept\":%llu,"
                "\"followed_new\":%llu,\"followed_state\":%llu,\"seeded_unreported\":%llu",
                (unsigned long long)lg->syncs, (unsigned long long)lg->sync_errors,
                (unsigned long long)lg->events, (unsigned long long)lg->resolves,
                (unsigned long long)lg->seeded, (unsigned long long)lg->flushed,
                (unsigned long long)lg->swept_closed, (unsigned long long)lg->aged_out,
                (unsigned long long)lg->cleared, (unsigned long long)lg->policy_closed,
                (unsigned long long)lg->early_aged,
                (unsigned long long)__atomic_load_n(&lg->limit->active, __ATOMIC_RELAXED),
                (unsigned long long)lg->limit->max, (unsigned long long)lg->mappings_freed,
                (unsigned long long)lg->mappings_seeded, (unsigned long long)lg->counts_fixed,
                (unsigned long long)lg->evicted, (unsigned long long)lg->seed_present,
                (unsigned long long)lg->created_dropped, (unsigned long long)lg->followed_new,
                (unsigned long long)lg->followed_state, (unsigned long long)lg->seeded_unreported);
        strbuf_printf(o, "}");
        return;
    }
    if (!lg || rc) {
        strbuf_printf(o, "\nLegacy path (xdp_main_prog): not loaded\n");
        return;
    }
    strbuf_printf(o, "\nLegacy path (xdp_main_prog):\n");
    unsigned col = 0;
#define X(f)                                                                                       \
    strbuf_printf(o, "%s%-24s %12llu", col % 3 == 0 ? "    " : "  ", #f,                           \
                  (unsigned long long)st.f);                                                       \
    if (++col % 3 == 0)                                                                            \
        strbuf_printf(o, "\n");
    MOAT_LG_STATS_FIELDS(X)
#undef X
    if (col % 3)
        strbuf_printf(o, "\n");
    strbuf_printf(o,
                  "    config syncs %llu (errors %llu%s%s), events %llu, resolve requests %llu, "
                  "seeded %llu, flushed %llu, closed by the sweep %llu (idle %llu), cleared "
                  "%llu, closed by a commit %llu\n",
                  (unsigned long long)lg->syncs, (unsigned long long)lg->sync_errors,
                  lg->last_error[0] ? ": " : "", lg->last_error, (unsigned long long)lg->events,
                  (unsigned long long)lg->resolves, (unsigned long long)lg->seeded,
                  (unsigned long long)lg->flushed, (unsigned long long)lg->swept_closed,
                  (unsigned long long)lg->aged_out, (unsigned long long)lg->cleared,
                  (unsigned long long)lg->policy_closed);
    strbuf_printf(o,
                  "    sessions %llu of max %llu, aged early %llu, evicted %llu, counts corrected "
                  "%llu; source NAT mappings freed %llu, seeded %llu\n",
                  (unsigned long long)__atomic_load_n(&lg->limit->active, __ATOMIC_RELAXED),
                  (unsigned long long)lg->limit->max, (unsigned long long)lg->early_aged,
                  (unsigned long long)lg->evicted, (unsigned long long)lg->counts_fixed,
                  (unsigned long long)lg->mappings_freed, (unsigned long long)lg->mappings_seeded);
}
