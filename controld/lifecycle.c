/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.c — controld's start-up order (DESIGN.md "Lifecycle"), arming and disarming,
 * and the Snapshot it hands the helper.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controld.h"
#include "helper.h"
#include "legacy.h"
#include "log.h"
#include "metrics.h"
#include "nat_local.h"
#include "netlink.h"
#include "commit.h"
#include "operator.h"
#include "ha/ha.h"

uint64_t ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ctl_iface *ctl_iface_by_ifindex(struct controld *c, uint32_t ifindex)
{
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        if (c->ifaces[i].ifindex == ifindex && ifindex != 0)
            return &c->ifaces[i];
    }
    return NULL;
}

/* ---- neighbours ---- */

static int neigh_find(struct controld *c, uint8_t family, const uint8_t *addr, uint32_t ifindex)
{
    size_t alen = family == 6 ? 16 : 4;
    for (unsigned i = 0; i < c->n_neigh; i++) {
        struct ctl_neigh *n = &c->neigh[i];
        if (n->family == family && n->ifindex == ifindex && memcmp(n->addr, addr, alen) == 0)
            return (int)i;
    }
    return -1;
}

void ctl_neigh_upsert(struct controld *c, const struct ctl_neigh *n, bool *changed)
{
    *changed = false;
    int i = neigh_find(c, n->family, n->addr, n->ifindex);
    if (i >= 0) {
        if (memcmp(c->neigh[i].mac, n->mac, 6) != 0) {
            *changed = true;
        }
        c->neigh[i] = *n;
        return;
    }
    if (c->n_neigh >= CONTROLD_MAX_NEIGH) {
        log_warn("neighbour table full (%u entries): not tracking a new neighbour",
                 CONTROLD_MAX_NEIGH);
        return;
    }
    c->neigh[c->n_neigh++] = *n;
    *changed = true;
}

void ctl_neigh_remove(struct controld *c, uint8_t family, const uint8_t *addr, uint32_t ifindex,
                      bool *changed)
{
    *changed = false;
    int i = neigh_find(c, family, addr, ifindex);
    if (i < 0)
        return;
    c->neigh[i] = c->neigh[--c->n_neigh];
    *changed = true;
}

static void on_neigh_event(struct controld *c, const struct ctl_neigh *n, bool removed)
{
    if (!ctl_iface_by_ifindex(c, n->ifindex))
        return;
    legacy_neigh(c->legacy, n, removed); /* legacy path: its neighbour map */
    bool changed;
    if (removed)
        ctl_neigh_remove(c, n->family, n->addr, n->ifindex, &changed);
    else
        ctl_neigh_upsert(c, n, &changed);
    if (changed) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(n->family == 6 ? AF_INET6 : AF_INET, n->addr, a, sizeof(a));
        log_debug("neighbour %s on ifindex %u %s", a, n->ifindex,
                  removed ? "removed" : netlink_neigh_state_name(n->state));
        helper_send_neighbor(c->helper, n, removed);
    }
}

/* on_link_event: see "link cycle" below. */
static void on_link_event(struct controld *c, uint32_t ifindex, const char *name, bool up,
                          uint32_t mtu);

/* ---- arming ---- */

void lifecycle_disarm(struct controld *c, const char *why)
{
    bool was = c->armed;
    handover_stop(&c->handover); /* a handover in flight: arming is decided again */
    /* legacy path: its sessions seeded from the mirror before the shim sends traffic there,
     * so established flows (NAT included) continue in the kernel path */
    if (was && !c->stopping)
        legacy_on_disarm(c->legacy);
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (ifc->ifindex && c->bpf)
            bootstrap_set_armed(c->bpf, ifc->ifindex, false);
        ifc->armed = false;
    }
    c->armed = false;
    if (was) {
        c->disarms++;
        log_warn("forwarding disarmed: %s (transit traffic falls back to the kernel path)", why);
    }
    if (!c->stopping)
        c->phase = "waiting-for-helper";
}

/* ---- the mixed state: some interfaces armed, others not, the helper running ---- */

void lifecycle_iface_disarming(struct controld *c, struct ctl_iface *ifc)
{
    if (!ifc->armed || c->stopping || !c->legacy)
        return;
    /* Its packets go to the kernel path from now on, their replies may still enter an armed
     * interface (the helper): the kernel path needs the helper's sessions. */
    legacy_on_disarm(c->legacy);
    c->handover.seeds++;
    /* The flows it creates meanwhile: their replies entering the interfaces left armed come
     * back to it (moat_lg_divert, bpf/maps.h), not to the helper, which lacks them yet. */
    for (unsigned i = 0; i < c->n_ifaces && c->bpf; i++) {
        struct ctl_iface *o = &c->ifaces[i];
        if (o != ifc && o->armed && o->ifindex)
            bootstrap_set_divert(c->bpf, o->ifindex, true);
    }
}

/* After an arming: the armed interfaces divert the kernel path's flows while it serves an
 * interface; once it serves none (the helper holds its flows: the handover), they stop and
 * moat_lg_divert is emptied. */
static void divert_sync(struct controld *c, bool serves)
{
    if (!c->bpf)
        return;
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (ifc->ifindex && ifc->xdp_mode != MOAT_XDP_NONE)
            bootstrap_set_divert(c->bpf, ifc->ifindex, serves && ifc->armed);
    }
    if (!serves)
        bootstrap_divert_clear(c->bpf);
}

/* The helper's answer to a SessionInstall of lifecycle_kernel_created(). */
static void live_replied(void *owner, const Moat__SessionInstallReply *r)
{
    struct controld *c = owner;
    if (r->lost) {
        c->handover.live_failed += r->records;
        log_warn("the helper lost %llu session(s) the kernel path created (request %llu): "
                 "their replies entering an armed interface are dropped until arming hands "
                 "them over again",
                 (unsigned long long)r->records, (unsigned long long)r->request_id);
    } else {
        c->handover.live_acked += r->records;
    }
}

int lifecycle_kernel_created(struct controld *c, const struct sessrec *recs, size_t n)
{
    if (!c->armed || !n)
        return -EAGAIN; /* nothing armed: the handover before arming hands them over */
    uint64_t req = 0;
    int err = helper_send_session_install(c->helper, recs, n, live_replied, c, &req);
    if (err) {
        c->handover.live_failed += n;
        log_warn("cannot send %zu session(s) the kernel path created to the helper: %s; replies "
                 "entering an armed interface are dropped until arming hands them over",
                 n, strerror(-err));
        return err;
    }
    c->handover.live += n;
    log_debug("%zu session(s) the kernel path created sent to the helper (request %llu)", n,
              (unsigned long long)req);
    return 0;
}

/* Some interface the kernel path may serve is not armed: a disarmed one (operator, link
 * cycle, sockets missing) or one the capability gate gave the legacy path. */
static bool kernel_path_serves(struct controld *c)
{
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (ifc->ifindex && ifc->xdp_mode != MOAT_XDP_NONE && !ifc->armed &&
            ha_iface_may_arm(c, ifc))
            return true;
    }
    return false;
}

void lifecycle_helper_deltas(struct controld *c, const Moat__SessionDeltaBatch *b)
{
    if (!c->legacy || !c->armed || !kernel_path_serves(c))
        return;
    long nc = sessrec_count(b->created.len);
    for (long j = 0; j < nc; j++) {
        struct sessrec r;
        memcpy(&r, b->created.data + (size_t)j * sizeof(r), sizeof(r));
        const struct mirror_session *s = mirror_lookup(&c->mirror, r.id);
        if (s)
            legacy_follow(c->legacy, s, true);
    }
    for (size_t i = 0; i < b->n_deltas; i++) {
        const Moat__SessionDelta *d = b->deltas[i];
        if (!d || !d->session || d->kind == MOAT__DELTA_KIND__DELTA_CLOSE)
            continue;
        const struct mirror_session *s = mirror_lookup(&c->mirror, d->session->id);
        if (s)
            legacy_follow(c->legacy, s, d->kind == MOAT__DELTA_KIND__DELTA_CREATE);
    }
}

/* ---- handover at arming (handover.h): its I/O ---- */

static int ho_collect(void *arg, struct sessrec **out, size_t *n)
{
    struct controld *c = arg;
    return legacy_session_records(c->legacy, out, n);
}

/* The helper's answer to a handover SessionInstall (helper_requests.h). */
static void ho_replied(void *owner, const Moat__SessionInstallReply *r)
{
    struct controld *c = owner;
    handover_reply(&c->handover, r->request_id, r->lost);
}

static int ho_send(void *arg, const struct sessrec *recs, size_t n, uint64_t *request_id)
{
    struct controld *c = arg;
    return helper_send_session_install(c->helper, recs, n, ho_replied, c, request_id);
}

static void ho_timer_cb(uv_timer_t *t)
{
    struct controld *c = t->data;
    handover_timeout(&c->handover);
}

static void ho_timer(void *arg, uint64_t ms)
{
    struct controld *c = arg;
    if (!c->handover_timer_on)
        return;
    if (ms)
        uv_timer_start(&c->handover_timer, ho_timer_cb, ms, 0);
    else
        uv_timer_stop(&c->handover_timer);
}

static void arm(struct controld *c);

static void ho_arm(void *arg)
{
    arm(arg);
}

static uint64_t ho_now(void *arg)
{
    (void)arg;
    return ctl_now_ms();
}

static const struct handover_ops handover_io = {
    .collect = ho_collect,
    .send = ho_send,
    .timer = ho_timer,
    .arm = ho_arm,
    .now_ms = ho_now,
};

void lifecycle_handover_cut(struct controld *c)
{
    if (!c->legacy) {
        handover_stop(&c->handover);
        handover_cut_clear(&c->handover.cut);
        return;
    }
    handover_take_cut(&c->handover, &c->mirror, 0);
}

/* An interface would be armed by the helper's sockets (the conditions of arm() but the
 * sockets). */
static bool may_arm_any(struct controld *c)
{
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (ifc->ifindex && ifc->xdp_mode != MOAT_XDP_NONE && ha_iface_may_arm(c, ifc) &&
            ifc->dp_mode == CAP_MODE_USERSPACE && !ifc->op_disarmed)
            return true;
    }
    return false;
}

/* An interface arm() would arm is not armed yet. */
static bool may_arm_more(struct controld *c)
{
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (ifc->ifindex && ifc->xdp_mode != MOAT_XDP_NONE && ha_iface_may_arm(c, ifc) &&
            ifc->dp_mode == CAP_MODE_USERSPACE && !ifc->op_disarmed && !ifc->armed)
            return true;
    }
    return false;
}

/* Starts the handover before arming; false when there is none to do (arm now). */
static bool start_handover(struct controld *c)
{
    if (!c->legacy || !c->handover_timer_on || !may_arm_any(c))
        return false;
    /* No Hello since the last arming (the helper kept running: a link cycle disarmed the last
     * armed interface, or a snapshot was refused): arming flushes the kernel path all the
     * same, so what it created meanwhile goes to the helper first. */
    if (!c->handover.cut.valid)
        handover_take_cut(&c->handover, &c->mirror, MOAT_LG_ID_BIT);
    /* Test hook (tests/lab/test_legacy.sh): a helper slow to arm, so that flows start in the
     * kernel path before arming. Not at the first arming, nor with interfaces armed. */
    const char *hold = getenv("MOAT_TEST_HOLD_ARM_MS");
    uint64_t hold_ms = hold && c->arms && !c->armed ? strtoull(hold, NULL, 10) : 0;
    return handover_start(&c->handover, hold_ms);
}

void lifecycle_helper_applied(struct controld *c, uint64_t gen)
{
    c->applied_generation = gen;
    if (c->handover.active) {
        log_info("helper applied generation %llu; arming waits for the handover of the kernel "
                 "path's sessions",
                 (unsigned long long)gen);
        return;
    }
    /* Capability gate: the helper's bind results may change the decision. */
    gate_update(c);
    /* Arming more interfaces while others are armed: their packets leave the kernel path for
     * the helper, which must hold what the kernel path created (the mixed state). */
    if ((!c->armed || may_arm_more(c)) && start_handover(c)) {
        if (c->armed)
            c->handover.partial_arms++;
        return;
    }
    arm(c);
}

/* Arms every interface the helper's sockets serve, at c->applied_generation. */
static void arm(struct controld *c)
{
    uint64_t gen = c->applied_generation;
    unsigned armed = 0;
    char missing[512] = "";
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (!ifc->ifindex || ifc->xdp_mode == MOAT_XDP_NONE)
            continue;
        if (!ha_iface_may_arm(c, ifc)) {
            /* A redundancy group this node is secondary of: the primary forwards it. */
            if (ifc->armed)
                bootstrap_set_armed(c->bpf, ifc->ifindex, false);
            ifc->armed = false;
            continue;
        }
        if (ifc->dp_mode != CAP_MODE_USERSPACE || ifc->op_disarmed)
            continue; /* legacy path, or disarmed by the operator */
        char why[256];
        if (gate_try_arm(c, ifc, why, sizeof(why)) < 0) {
            size_t l = strlen(missing);
            snprintf(missing + l, sizeof(missing) - l, "%s%s", l ? "; " : "", why);
            if (!ifc->bind_error)
                snprintf(ifc->bind_error_text, sizeof(ifc->bind_error_text), "%s", why);
            continue;
        }
        armed++;
    }
    bootstrap_set_generation(c->bpf, gen);
    if (missing[0])
        log_err("not arming: %s", missing);
    bool was_armed = c->armed;
    c->armed = armed > 0;
    /* A handover ran for this arming (its cut): all, or more interfaces with others armed. */
    bool handed = c->handover.cut.valid;
    divert_sync(c, c->legacy && c->armed && kernel_path_serves(c));
    if (c->armed && (!was_armed || handed)) {
        unsigned long long before = c->handover.before_arm;
        size_t late = handover_armed(&c->handover);
        /* legacy path: the helper holds the sessions now; emptied unless it still serves an
         * interface (the mixed state: it keeps them, and gets the mirror's it lacks) */
        if (!kernel_path_serves(c))
            legacy_on_arm(c->legacy);
        else if (!was_armed)
            legacy_on_disarm(c->legacy);
        if (!was_armed)
            c->arms++;
        c->phase = "running";
        log_info("forwarding armed on %u interface(s) at generation %llu; kernel-path sessions "
                 "handed over to the helper: %llu before arming, %zu late%s",
                 armed, (unsigned long long)gen, before, late,
                 kernel_path_serves(c) ? "; the kernel path keeps serving the others" : "");
    } else if (c->armed) {
        log_info("helper applied generation %llu; forwarding stays armed on %u "
                 "interface(s)",
                 (unsigned long long)gen, armed);
    } else {
        c->phase = "running";
        log_info("helper applied generation %llu; mode %s, no interface armed",
                 (unsigned long long)gen, c->mode);
    }
}

/* ---- start-up ---- */

struct local_collect {
    struct bootstrap_local_addr *v;
    unsigned n, max;
    uint32_t ifindex;
};

static void local_add(struct local_collect *lc, uint8_t family, const uint8_t *addr)
{
    for (unsigned i = 0; i < lc->n; i++) {
        if (lc->v[i].family == family && memcmp(lc->v[i].addr, addr, family == 6 ? 16 : 4) == 0)
            return;
    }
    if (lc->n >= lc->max)
        return;
    struct bootstrap_local_addr *a = &lc->v[lc->n++];
    memset(a, 0, sizeof(*a));
    a->family = family;
    memcpy(a->addr, addr, family == 6 ? 16 : 4);
    a->ifindex = lc->ifindex;
}

static void local_visit(void *arg, const struct cfg_prefix *p)
{
    local_add(arg, p->family, p->addr);
}

/* The box's own addresses: configured ones and whatever the kernel has on our interfaces. */
static int push_local_addrs(struct controld *c)
{
    struct local_collect lc = {.max = MOAT_MAX_LOCAL_ADDRS};
    lc.v = calloc(lc.max, sizeof(*lc.v));
    if (!lc.v)
        return -ENOMEM;
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (!ifc->ifindex)
            continue;
        lc.ifindex = ifc->ifindex;
        const struct cfg_interface *ci = config_find_interface(c->cfg, ifc->name);
        for (unsigned a = 0; ci && a < ci->n_addrs; a++)
            local_add(&lc, ci->addrs[a].family, ci->addrs[a].addr);
        /* Cluster virtual addresses: the box's own on either node (only the primary has them
         * in the kernel and answers ARP for them). */
        for (unsigned a = 0; ci && a < ci->n_vips; a++)
            local_add(&lc, ci->vips[a].family, ci->vips[a].addr);
        netlink_addr_foreach(c->nl, ifc->ifindex, local_visit, &lc);
    }
    int err = bootstrap_set_local_addrs(c->bpf, lc.v, lc.n);
    free(lc.v);
    return err;
}

/*
 * The traffic to the box's own addresses that the dataplane's NAT owns (nat_local.h): the
 * shim hands it to the helper instead of the kernel.
 */
static int push_nat_local(struct controld *c)
{
    struct nat_local_set s;
    char why[256];
    int err = nat_local_build(c->cfg, &s, why, sizeof(why));
    if (err < 0) {
        log_err("cannot fill moat_nat_local: %s", why);
        return err;
    }
    err = bootstrap_set_nat_local(c->bpf, s.keys, s.vals, s.n);
    if (err == 0 && s.n)
        log_info("moat_nat_local: %u (address, protocol, port) entries for NAT on the box's "
                 "own addresses",
                 s.n);
    nat_local_free(&s);
    return err;
}

/*
 * What this build cannot enforce yet is refused, never silently ignored: a firewall that
 * forwarded everything while its config says "translate" would be worse than one that stops.
 */
int lifecycle_check_enforceable(const struct moat_config *cfg, char *why, size_t len)
{
    struct nat_local_set nl;
    int err = nat_local_build(cfg, &nl, why, len);
    if (err < 0)
        return err;
    nat_local_free(&nl);
    if (cfg->n_ifaces > MOAT_MAX_IFACES) {
        snprintf(why, len, "the config names %u interfaces; Moat manages at most %u", cfg->n_ifaces,
                 MOAT_MAX_IFACES);
        return -E2BIG;
    }
    return 0;
}

/* ---- interfaces ---- */

static uint32_t slot_alloc(struct controld *c)
{
    for (uint32_t slot = 0; slot < MOAT_MAX_IFACES; slot++) {
        bool used = false;
        for (unsigned i = 0; i < c->n_ifaces && !used; i++)
            used = c->ifaces[i].slot == slot;
        if (!used)
            return slot;
    }
    return MOAT_MAX_IFACES;
}

/* The zone's host-inbound-traffic into moat_ifaces (and remembered for later attaches). */
static void iface_host_inbound(struct controld *c, struct ctl_iface *ifc)
{
    const struct cfg_zone *z = config_zone_by_id(c->cfg, ifc->zone_id);
    int err =
        bootstrap_set_host_inbound(c->bpf, ifc->ifindex, z ? ifc->zone_id : 0,
                                   z ? z->host_services : 0, z ? z->host_protocols : 0, z != NULL);
    if (err < 0)
        log_err("interface %s: cannot set the host-inbound traffic of zone %s: %s", ifc->name,
                z ? z->name : "-", strerror(-err));
}

/* Finds the kernel's interface, gives it its configured addresses, brings it up. */
static void iface_resolve(struct controld *c, struct ctl_iface *ifc, const struct cfg_interface *ci)
{
    struct netlink_link l;
    int err;
    ifc->zone_id = ci->zone_id;
    if (netlink_link_get(c->nl, ci->name, &l) < 0) {
        log_warn("interface %s (config line %u) does not exist: it is not managed "
                 "until it appears and a commit names it",
                 ci->name, ci->line);
        snprintf(ifc->attach_error, sizeof(ifc->attach_error), "interface does not exist");
        ifc->ifindex = 0;
        return;
    }
    ifc->ifindex = l.ifindex;
    memcpy(ifc->mac, l.mac, 6);
    ifc->mtu = l.mtu;
    if (ci->mtu && ci->mtu != l.mtu) {
        err = netlink_link_set_mtu(c->nl, l.ifindex, ci->mtu);
        if (err)
            log_warn("interface %s: cannot set the configured mtu %u (config line %u), it stays "
                     "%u: %s",
                     ci->name, ci->mtu, ci->line, l.mtu, strerror(-err));
        else
            ifc->mtu = ci->mtu;
    }
    ifc->queues = l.queues > MOAT_MAX_QUEUES ? MOAT_MAX_QUEUES : l.queues;
    for (unsigned a = 0; a < ci->n_addrs; a++) {
        err = netlink_addr_ensure(c->nl, l.ifindex, &ci->addrs[a]);
        if (err)
            log_warn("interface %s: cannot add a configured address: %s", ci->name, strerror(-err));
    }
    if (!l.up && (err = netlink_link_set_up(c->nl, l.ifindex)) < 0)
        log_warn("interface %s: cannot set the link up: %s", ci->name, strerror(-err));
    if (netlink_link_get(c->nl, ci->name, &l) == 0)
        ifc->link_up = l.up && l.carrier;
}

/* Attaches the shim to a resolved interface and learns its neighbours. */
static void iface_attach(struct controld *c, struct ctl_iface *ifc)
{
    char errbuf[256] = "";
    /* Before the attach: a zoned interface never runs without its filter. */
    iface_host_inbound(c, ifc);
    int err = bootstrap_attach(c->bpf, ifc->ifindex, ifc->slot, ifc->zone_id, false, &ifc->xdp_mode,
                               errbuf, sizeof(errbuf));
    if (err < 0) {
        snprintf(ifc->attach_error, sizeof(ifc->attach_error), "%s", errbuf);
        log_err("interface %s: cannot attach the XDP shim: %s", ifc->name, errbuf);
        return;
    }
    ifc->attach_error[0] = 0;
    log_info("interface %s: XDP shim attached (%s)", ifc->name,
             xdp_attach_mode_name(ifc->xdp_mode));
    unsigned n = 0;
    if (c->n_neigh < CONTROLD_MAX_NEIGH &&
        netlink_neigh_dump(c->nl, ifc->ifindex, c->neigh + c->n_neigh,
                           CONTROLD_MAX_NEIGH - c->n_neigh, &n) == 0)
        c->n_neigh += n;
}

/* Stops managing c->ifaces[i]: detach the shim, forget its neighbours. */
static void iface_remove(struct controld *c, unsigned i)
{
    struct ctl_iface *ifc = &c->ifaces[i];
    if (ifc->ifindex && ifc->xdp_mode != MOAT_XDP_NONE) {
        bootstrap_set_armed(c->bpf, ifc->ifindex, false);
        if (bootstrap_detach(c->bpf, ifc->ifindex) == 0)
            log_info("interface %s: no longer in the configuration; XDP shim detached", ifc->name);
    } else {
        log_info("interface %s: no longer in the configuration", ifc->name);
    }
    for (unsigned n = 0; ifc->ifindex && n < c->n_neigh;) {
        if (c->neigh[n].ifindex == ifc->ifindex)
            c->neigh[n] = c->neigh[--c->n_neigh];
        else
            n++;
    }
    c->ifaces[i] = c->ifaces[--c->n_ifaces];
}

static struct ctl_iface *iface_by_name(struct controld *c, const char *name)
{
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        if (strcmp(c->ifaces[i].name, name) == 0)
            return &c->ifaces[i];
    }
    return NULL;
}

/* ---- link cycle (issue 6): down/up, MTU change, re-created interface ---- */

static void iface_disarm_one(struct controld *c, struct ctl_iface *ifc, const char *why)
{
    lifecycle_iface_disarming(c, ifc);
    if (ifc->ifindex && c->bpf)
        bootstrap_set_armed(c->bpf, ifc->ifindex, false);
    if (ifc->armed) {
        ifc->armed = false;
        c->disarms++;
        log_warn("interface %s: forwarding disarmed: %s (its transit traffic takes the legacy "
                 "path until the helper has rebound its sockets)",
                 ifc->name, why);
    }
    bool any = false;
    for (unsigned i = 0; i < c->n_ifaces; i++)
        any |= c->ifaces[i].armed;
    c->armed = any;
}

/*
 * ifc's link changed under its sockets: disarm it (the shim must not redirect to a socket
 * the helper is about to replace), bump its link epoch and push a generation; the helper
 * rebinds only its sockets and answers SnapshotApplied, then lifecycle_helper_applied
 * re-arms it once its sockets are in moat_xsks.
 */
static void link_changed(struct controld *c, struct ctl_iface *ifc, const char *what)
{
    iface_disarm_one(c, ifc, what);
    ifc->link_epoch++;
    ifc->link_changes++;
    /* What the old sockets gave says nothing about the new ones. */
    ifc->xsk_mode[0] = 0;
    ifc->xsk_bound = 0;
    ifc->bind_error = 0;
    ifc->bind_error_text[0] = 0;
    memset(ifc->q_xsk, 0, sizeof(ifc->q_xsk));
    memset(ifc->q_bind_gen, 0, sizeof(ifc->q_bind_gen));
    gate_update(c);
    log_info("interface %s: %s: link epoch %u, asking the helper to rebind its sockets", ifc->name,
             what, ifc->link_epoch);
    if (helper_get_state(c->helper) != HELPER_DOWN) {
        c->generation++;
        if (helper_push_snapshot(c->helper) < 0)
            log_err("interface %s: cannot push generation %llu to the helper", ifc->name,
                    (unsigned long long)c->generation);
    }
}

/* ifc's kernel interface is gone: forget its ifindex until one of that name comes back. */
static void iface_gone(struct controld *c, struct ctl_iface *ifc)
{
    uint32_t old = ifc->ifindex;
    iface_disarm_one(c, ifc, "the interface was removed");
    log_warn("interface %s (ifindex %u) was removed from the kernel: waiting for it to come back",
             ifc->name, old);
    if (ifc->xdp_mode != MOAT_XDP_NONE && c->bpf)
        bootstrap_detach(c->bpf, old); /* the kernel dropped the program; drop our entries */
    for (unsigned n = 0; n < c->n_neigh;) {
        if (c->neigh[n].ifindex == old)
            c->neigh[n] = c->neigh[--c->n_neigh];
        else
            n++;
    }
    ifc->ifindex = 0;
    ifc->xdp_mode = MOAT_XDP_NONE;
    ifc->link_up = false;
    snprintf(ifc->attach_error, sizeof(ifc->attach_error), "interface was removed");
    gate_update(c);
}

/* A managed interface's name appeared under a new ifindex: attach the shim to it again. */
static void iface_recreated(struct controld *c, struct ctl_iface *ifc)
{
    const struct cfg_interface *ci = config_find_interface(c->cfg, ifc->name);
    if (!ci)
        return;
    if (ifc->ifindex)
        iface_gone(c, ifc);
    iface_resolve(c, ifc, ci);
    if (!ifc->ifindex)
        return;
    log_info("interface %s re-created as ifindex %u: attaching the XDP shim again", ifc->name,
             ifc->ifindex);
    if (c->bpf)
        iface_attach(c, ifc);
    ifc->reattaches++;
    int err = push_local_addrs(c);
    if (err < 0)
        log_warn("cannot refill moat_local_addrs: %s", strerror(-err));
    gate_update(c);
    /* Sockets only bind usefully on a running link: the link-up event does it otherwise. */
    if (ifc->link_up && ifc->xdp_mode != MOAT_XDP_NONE)
        link_changed(c, ifc, "re-created");
}

static void on_link_event(struct controld *c, uint32_t ifindex, const char *name, bool up,
                          uint32_t mtu)
{
    struct ctl_iface *ifc = ctl_iface_by_ifindex(c, ifindex);
    struct netlink_link l;
    if (!ifc) {
        ifc = name[0] ? iface_by_name(c, name) : NULL;
        if (!ifc)
            return;
        /* Only the kernel's current interface of that name counts (not a stale event). */
        if (netlink_link_get(c->nl, name, &l) == 0 && l.ifindex == ifindex)
            iface_recreated(c, ifc);
        return;
    }
    if (!up && (netlink_link_get(c->nl, ifc->name, &l) < 0 || l.ifindex != ifindex)) {
        iface_gone(c, ifc);
        return;
    }
    bool was_up = ifc->link_up;
    uint32_t old_mtu = ifc->mtu;
    if (was_up != up)
        log_info("interface %s: link %s", ifc->name, up ? "up" : "down");
    ifc->link_up = up;
    if (mtu)
        ifc->mtu = mtu;
    if (was_up != up)
        ha_link_changed(c, ifc); /* HA: a monitored interface changes the group's priority */
    if (ifc->xdp_mode == MOAT_XDP_NONE)
        return;
    if (was_up && !up)
        iface_disarm_one(c, ifc, "link down");
    else if (!was_up && up)
        link_changed(c, ifc, "link up");
    else if (up && mtu && old_mtu && mtu != old_mtu)
        link_changed(c, ifc, "MTU changed");
}

void lifecycle_apply_config(struct controld *c, const struct moat_config *old)
{
    const struct moat_config *cfg = c->cfg;
    /* Interfaces the new config no longer names. */
    for (unsigned i = 0; i < c->n_ifaces;) {
        if (!config_find_interface(cfg, c->ifaces[i].name))
            iface_remove(c, i);
        else
            i++;
    }
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        const struct cfg_interface *ci = &cfg->ifaces[i];
        struct ctl_iface *ifc = iface_by_name(c, ci->name);
        if (!ifc) {
            uint32_t slot = slot_alloc(c);
            if (slot >= MOAT_MAX_IFACES || c->n_ifaces >= MOAT_MAX_IFACES) {
                log_err("interface %s: no free interface slot (Moat manages at most "
                        "%u)",
                        ci->name, MOAT_MAX_IFACES);
                continue;
            }
            ifc = &c->ifaces[c->n_ifaces++];
            memset(ifc, 0, sizeof(*ifc));
            snprintf(ifc->name, sizeof(ifc->name), "%s", ci->name);
            ifc->slot = slot;
            log_info("interface %s: now in the configuration (slot %u)", ci->name, slot);
        }
        bool was_attached = ifc->ifindex && ifc->xdp_mode != MOAT_XDP_NONE;
        uint32_t old_ifindex = ifc->ifindex;
        iface_resolve(c, ifc, ci);
        if (was_attached && ifc->ifindex == old_ifindex) {
            /* Stays attached: only its zone and host-inbound traffic may change. */
            iface_host_inbound(c, ifc);
            continue;
        }
        if (was_attached) {
            /* Recreated under another ifindex since it was attached. */
            bootstrap_detach(c->bpf, old_ifindex);
            ifc->xdp_mode = MOAT_XDP_NONE;
            ifc->armed = false;
        }
        if (ifc->ifindex && c->bpf)
            iface_attach(c, ifc);
    }
    int err = push_local_addrs(c);
    if (err < 0)
        log_warn("cannot refill moat_local_addrs: %s", strerror(-err));
    if ((err = push_nat_local(c)) < 0)
        log_warn("cannot refill moat_nat_local: %s (destination NAT to the box's addresses "
                 "and replies to interface NAT may reach the kernel instead of the dataplane)",
                 strerror(-err));
    /* Capability gate: a new mode or new interfaces may change decisions. */
    if (old && old->system.mode != cfg->system.mode)
        log_info("system dataplane mode changed by commit: %s -> %s",
                 old->system.mode == CFG_MODE_AUTO     ? "auto"
                 : old->system.mode == CFG_MODE_LEGACY ? "legacy"
                                                       : "userspace",
                 cfg->system.mode == CFG_MODE_AUTO     ? "auto"
                 : cfg->system.mode == CFG_MODE_LEGACY ? "legacy"
                                                       : "userspace");
    gate_update(c);
    legacy_sync(c->legacy); /* legacy path: the committed config into its maps */
    const struct cfg_security *sec = cfg->security;
    mirror_set_max(&c->mirror, sec && sec->flow.max_sessions ? sec->flow.max_sessions
                                                             : CFG_FLOW_MAX_SESSIONS_DEFAULT);
    metrics_apply(c);
    ha_config_changed(c, old);
}

static void mirror_tick(uv_timer_t *t)
{
    struct controld *c = t->data;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    unsigned n = mirror_expire(&c->mirror, now);
    if (n)
        log_warn("session mirror: dropped %u sessions the helper has not reported for longer "
                 "than their timeout (lost close deltas?)",
                 n);
}

int lifecycle_start(struct controld *c)
{
    int err;
    char why[256];
    c->started_at_ms = ctl_now_ms();
    c->phase = "starting";
    if ((err = lifecycle_check_enforceable(c->cfg, why, sizeof(why))) < 0) {
        log_err("%s: %s; refusing to start", c->config_path, why);
        return err;
    }
    const struct cfg_security *sec = c->cfg->security;
    if ((err = mirror_init(&c->mirror, sec ? sec->flow.max_sessions : 0)) < 0)
        return err;
    uv_timer_init(c->loop, &c->mirror_timer);
    c->mirror_timer.data = c;
    c->mirror_timer_on = true;
    uv_timer_start(&c->mirror_timer, mirror_tick, MIRROR_EXPIRE_INTERVAL_MS,
                   MIRROR_EXPIRE_INTERVAL_MS);
    handover_init(&c->handover, &handover_io, c);
    uv_timer_init(c->loop, &c->handover_timer);
    c->handover_timer.data = c;
    c->handover_timer_on = true;
    static const struct netlink_events ev = {.neigh = on_neigh_event, .link = on_link_event};
    if ((err = netlink_open(c, &ev, &c->nl)) < 0)
        return err;

    /* Interfaces: find them, give them their configured addresses, bring them up. */
    for (unsigned i = 0; i < c->cfg->n_ifaces && i < MOAT_MAX_IFACES; i++) {
        const struct cfg_interface *ci = &c->cfg->ifaces[i];
        struct ctl_iface *ifc = &c->ifaces[c->n_ifaces++];
        memset(ifc, 0, sizeof(*ifc));
        snprintf(ifc->name, sizeof(ifc->name), "%s", ci->name);
        ifc->slot = i;
        iface_resolve(c, ifc, ci);
    }

    /* Capability gate, kernel half (the interface half follows the attach). */
    cap_probe_kernel(&c->cap);
    {
        char ks[512];
        cap_kernel_summary(&c->cap, ks, sizeof(ks));
        log_info("capability gate: kernel: %s", ks);
    }

    /* Map bootstrap: load, pin, attach. */
    char errbuf[256] = "";
    if ((err = bootstrap_open(&c->bpf, c->bpf_dir, c->bpffs_dir, errbuf, sizeof(errbuf))) < 0) {
        log_err("BPF bootstrap failed: %s", errbuf);
        return err;
    }
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        if (c->ifaces[i].ifindex)
            iface_attach(c, &c->ifaces[i]);
    }
    if ((err = push_local_addrs(c)) < 0)
        log_warn("cannot fill moat_local_addrs: %s", strerror(-err));
    if ((err = push_nat_local(c)) < 0)
        log_warn("cannot fill moat_nat_local: %s (destination NAT to the box's addresses and "
                 "replies to interface NAT may reach the kernel instead of the dataplane)",
                 strerror(-err));
    /* legacy path: xdp_main_prog in moat_progs, the config in its maps. */
    if ((err = legacy_open(c, &c->legacy, errbuf, sizeof(errbuf))) < 0)
        log_err("legacy path not available: %s; unarmed interfaces pass transit traffic to the "
                "kernel (shim fallback_pass)",
                errbuf);
    else
        legacy_sync(c->legacy);
    /* Capability gate, interface half: a forced mode this machine can't run is refused. */
    if ((err = gate_check_config(c, c->cfg, why, sizeof(why))) < 0) {
        log_err("%s: %s; refusing to start", c->config_path, why);
        return err;
    }
    gate_update(c);
    c->phase = "bootstrapped";

    if ((err = commit_init(c)) < 0)
        return err;
    if ((err = helper_listen(c, &c->helper)) < 0)
        return err;
    if ((err = operator_listen(c, &c->op)) < 0)
        return err;
    metrics_apply(c); /* a failed bind is logged; the firewall runs without metrics */
    if ((err = ha_start(c)) < 0)
        return err;
    c->phase = "waiting-for-helper";
    log_info("controld ready: mode %s (%s)", c->mode, c->mode_reason);
    return 0;
}

void lifecycle_stop(struct controld *c)
{
    c->stopping = true;
    c->phase = "stopping";
    lifecycle_disarm(c, "controld is stopping");
    ha_stop(c);
    commit_close(c);
    helper_close(c->helper);
    operator_close(c->op);
    metrics_close();
    if (c->mirror_timer_on) {
        uv_timer_stop(&c->mirror_timer);
        uv_close((uv_handle_t *)&c->mirror_timer, NULL);
        c->mirror_timer_on = false;
    }
    handover_free(&c->handover);
    if (c->handover_timer_on) {
        uv_timer_stop(&c->handover_timer);
        uv_close((uv_handle_t *)&c->handover_timer, NULL);
        c->handover_timer_on = false;
    }
    legacy_close(c->legacy); /* the programs stay in moat_progs, the sessions pinned */
    c->legacy = NULL;
    if (c->bpf) {
        bootstrap_close(c->bpf, true);
        c->bpf = NULL;
    }
    netlink_close(c->nl);
    c->nl = NULL;
}
