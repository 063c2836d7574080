/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c — the Snapshot controld hands the helper (DESIGN.md "Lifecycle" step 4):
 * interfaces, routes, neighbours, zones, policies, flow settings, NAT (pools and rules) and,
 * in the first snapshot after a helper's Hello, the mirrored sessions that re-seed it.
 *
 * Every allocation of a snapshot is recorded in the holder around it, so snapshot_free()
 * releases them all whatever the shape of the message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controld.h"
#include "legacy.h"
#include "log.h"

struct snap_holder {
    Moat__Snapshot s; /* first: a Moat__Snapshot * is a struct snap_holder * */
    void **allocs;
    size_t n_allocs, cap_allocs;
};

static void *snap_alloc(struct snap_holder *h, size_t size)
{
    if (h->n_allocs == h->cap_allocs) {
        size_t cap = h->cap_allocs ? h->cap_allocs * 2 : 64;
        void **nv = realloc(h->allocs, cap * sizeof(*nv));
        if (!nv)
            return NULL;
        h->allocs = nv;
        h->cap_allocs = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (p)
        h->allocs[h->n_allocs++] = p;
    return p;
}

void snapshot_free(Moat__Snapshot *s)
{
    if (!s)
        return;
    struct snap_holder *h = (struct snap_holder *)s;
    for (size_t i = 0; i < h->n_allocs; i++)
        free(h->allocs[i]);
    free(h->allocs);
    free(h);
}

static Moat__Prefix *prefix_new(struct snap_holder *h, const struct cfg_prefix *p)
{
    Moat__Prefix *m = snap_alloc(h, sizeof(*m) + 16);
    if (!m)
        return NULL;
    moat__prefix__init(m);
    uint8_t *bytes = (uint8_t *)(m + 1);
    memcpy(bytes, p->addr, 16);
    m->addr.data = bytes;
    m->addr.len = p->family == 6 ? 16 : 4;
    m->len = p->len;
    return m;
}

static void prefix_mask(struct cfg_prefix *p)
{
    unsigned bits = p->family == 6 ? 128 : 32;
    for (unsigned b = p->len; b < bits; b++)
        p->addr[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
}

/* The managed interface whose connected prefix holds addr, or NULL. */
static struct ctl_iface *iface_for_nexthop(struct controld *c, uint8_t family, const uint8_t *addr)
{
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        const struct cfg_interface *ci = config_find_interface(c->cfg, c->ifaces[i].name);
        if (!ci || !c->ifaces[i].ifindex)
            continue;
        for (unsigned a = 0; a < ci->n_addrs; a++) {
            if (config_prefix_contains(&ci->addrs[a], family, addr))
                return &c->ifaces[i];
        }
    }
    return NULL;
}

/* ---- security ---- */

static int add_zones(struct snap_holder *h, const struct cfg_security *sec)
{
    Moat__Snapshot *s = &h->s;
    if (!sec || !sec->n_zones)
        return 0;
    s->zones = snap_alloc(h, sec->n_zones * sizeof(*s->zones));
    if (!s->zones)
        return -ENOMEM;
    for (unsigned i = 0; i < sec->n_zones; i++) {
        const struct cfg_zone *z = &sec->zones[i];
        Moat__Zone *m = snap_alloc(h, sizeof(*m));
        if (!m)
            return -ENOMEM;
        moat__zone__init(m);
        m->id = z->zone_id;
        m->name = (char *)z->name;
        m->host_services = z->host_services;
        m->host_protocols = z->host_protocols;
        m->screen_id = z->screen >= 0 ? (uint32_t)z->screen + 1 : 0;
        s->zones[s->n_zones++] = m;
    }
    if (!sec->n_screens)
        return 0;
    s->screens = snap_alloc(h, sec->n_screens * sizeof(*s->screens));
    if (!s->screens)
        return -ENOMEM;
    for (unsigned i = 0; i < sec->n_screens; i++) {
        const struct cfg_screen *c = &sec->screens[i];
        Moat__Screen *m = snap_alloc(h, sizeof(*m));
        if (!m)
            return -ENOMEM;
        moat__screen__init(m);
        m->id = i + 1;
        m->name = (char *)c->name;
        m->flags = c->flags;
        m->icmp_flood = c->icmp_flood;
        m->udp_flood = c->udp_flood;
        m->syn_attack = c->syn_attack;
        m->syn_destination = c->syn_destination;
        m->syn_source = c->syn_source;
        m->limit_src = c->limit_src;
        m->limit_dst = c->limit_dst;
        s->screens[s->n_screens++] = m;
    }
    return 0;
}

static int fill_match(struct snap_holder *h, Moat__AddressMatch **out,
                      const struct cfg_addr_match *cm)
{
    Moat__AddressMatch *m = snap_alloc(h, sizeof(*m));
    if (!m)
        return -ENOMEM;
    moat__address_match__init(m);
    m->any = cm->any;
    if (!cm->any && cm->n_prefixes) {
        m->prefixes = snap_alloc(h, cm->n_prefixes * sizeof(*m->prefixes));
        if (!m->prefixes)
            return -ENOMEM;
        for (unsigned i = 0; i < cm->n_prefixes; i++) {
            if (!(m->prefixes[i] = prefix_new(h, &cm->prefixes[i])))
                return -ENOMEM;
        }
        m->n_prefixes = cm->n_prefixes;
    }
    *out = m;
    return 0;
}

static Moat__Application *app_new(struct snap_holder *h, const struct cfg_application *a)
{
    Moat__Application *m = snap_alloc(h, sizeof(*m));
    if (!m)
        return NULL;
    moat__application__init(m);
    m->name = (char *)a->name;
    m->protocol = a->any ? 0 : a->protocol;
    m->any = a->any;
    m->dport_lo = a->dport_lo;
    m->dport_hi = a->dport_hi;
    m->sport_lo = a->sport_lo;
    m->sport_hi = a->sport_hi;
    m->icmp_type = a->icmp_type;
    m->icmp_code = a->icmp_code;
    m->inactivity_timeout = a->inactivity_timeout;
    return m;
}

static int add_policies(struct snap_holder *h, const struct cfg_security *sec)
{
    Moat__Snapshot *s = &h->s;
    if (!sec || !sec->n_policies)
        return 0;
    s->policies = snap_alloc(h, sec->n_policies * sizeof(*s->policies));
    if (!s->policies)
        return -ENOMEM;
    for (unsigned i = 0; i < sec->n_policies; i++) {
        const struct cfg_policy *p = &sec->policies[i];
        Moat__Policy *m = snap_alloc(h, sizeof(*m));
        if (!m)
            return -ENOMEM;
        moat__policy__init(m);
        s->policies[s->n_policies++] = m;
        m->id = i + 1;
        m->name = (char *)p->name;
        m->from_zone = p->from_zone;
        m->to_zone = p->to_zone;
        if (fill_match(h, &m->source, &p->src) || fill_match(h, &m->destination, &p->dst))
            return -ENOMEM;
        m->application_any = p->app_any;
        if (!p->app_any && p->n_apps) {
            m->applications = snap_alloc(h, p->n_apps * sizeof(*m->applications));
            if (!m->applications)
                return -ENOMEM;
            for (unsigned a = 0; a < p->n_apps; a++) {
                if (!(m->applications[a] = app_new(h, &sec->apps[p->apps[a]])))
                    return -ENOMEM;
            }
            m->n_applications = p->n_apps;
        }
        switch (p->action) {
        case CFG_POLICY_PERMIT:
            m->action = MOAT__POLICY_ACTION__POLICY_PERMIT;
            break;
        case CFG_POLICY_DENY:
            m->action = MOAT__POLICY_ACTION__POLICY_DENY;
            break;
        case CFG_POLICY_REJECT:
            m->action = MOAT__POLICY_ACTION__POLICY_REJECT;
            break;
        }
        m->log_init = p->log_init;
        m->log_close = p->log_close;
        m->count = p->count;
    }
    return 0;
}

static int add_flow(struct snap_holder *h, const struct cfg_security *sec, uint64_t cookie_seed)
{
    Moat__FlowSettings *f = snap_alloc(h, sizeof(*f));
    if (!f)
        return -ENOMEM;
    moat__flow_settings__init(f);
    struct cfg_flow def = {
        .tcp_established_timeout = 1800,
        .tcp_initial_timeout = 20,
        .udp_timeout = 60,
        .icmp_timeout = 60,
        .aging_high_watermark = 100,
        .aging_low_watermark = 100,
        .max_sessions = CFG_FLOW_MAX_SESSIONS_DEFAULT,
        .policy_reevaluate = true,
    };
    const struct cfg_flow *cf = sec ? &sec->flow : &def;
    f->tcp_established_timeout = cf->tcp_established_timeout;
    f->tcp_initial_timeout = cf->tcp_initial_timeout;
    f->tcp_closing_timeout = SNAPSHOT_TCP_CLOSING_TIMEOUT;
    f->udp_timeout = cf->udp_timeout;
    f->icmp_timeout = cf->icmp_timeout;
    f->other_timeout = SNAPSHOT_OTHER_TIMEOUT;
    f->max_sessions = cf->max_sessions ? cf->max_sessions : CFG_FLOW_MAX_SESSIONS_DEFAULT;
    f->policy_reevaluate = cf->policy_reevaluate;
    f->syn_cookie = cf->syn_cookie;
    f->cookie_seed = cookie_seed;
    f->aging_high_watermark = cf->aging_high_watermark;
    f->aging_low_watermark = cf->aging_low_watermark;
    h->s.flow = f;
    h->s.default_policy = sec && sec->default_policy == CFG_DEFAULT_PERMIT_ALL
                              ? MOAT__DEFAULT_POLICY__DEFAULT_PERMIT_ALL
                              : MOAT__DEFAULT_POLICY__DEFAULT_DENY_ALL;
    return 0;
}

/* ---- NAT ---- */

static int add_source_pools(struct snap_holder *h, const struct cfg_security *sec)
{
    Moat__Snapshot *s = &h->s;
    if (!sec->n_snat_pools)
        return 0;
    s->source_pools = snap_alloc(h, sec->n_snat_pools * sizeof(*s->source_pools));
    if (!s->source_pools)
        return -ENOMEM;
    for (unsigned i = 0; i < sec->n_snat_pools; i++) {
        const struct cfg_snat_pool *p = &sec->snat_pools[i];
        Moat__SourcePool *m = snap_alloc(h, sizeof(*m));
        if (!m)
            return -ENOMEM;
        moat__source_pool__init(m);
        s->source_pools[s->n_source_pools++] = m;
        m->id = i + 1;
        m->name = (char *)p->name;
        m->port_lo = p->port_lo;
        m->port_hi = p->port_hi;
        m->port_no_translation = p->no_port_translation;
        m->address_persistent = p->address_persistent;
        m->ranges = snap_alloc(h, (p->n_ranges + 1) * sizeof(*m->ranges));
        if (!m->ranges)
            return -ENOMEM;
        for (unsigned k = 0; k < p->n_ranges; k++) {
            const struct cfg_addr_range *r = &p->ranges[k];
            Moat__AddressRange *mr = snap_alloc(h, sizeof(*mr));
            if (!mr)
                return -ENOMEM;
            moat__address_range__init(mr);
            size_t alen = r->family == 6 ? 16 : 4;
            mr->lo.data = (uint8_t *)r->lo;
            mr->lo.len = alen;
            mr->hi.data = (uint8_t *)r->hi;
            mr->hi.len = alen;
            m->ranges[m->n_ranges++] = mr;
        }
    }
    return 0;
}

static int add_destination_pools(struct snap_holder *h, const struct cfg_security *sec)
{
    Moat__Snapshot *s = &h->s;
    if (!sec->n_dnat_pools)
        return 0;
    s->destination_pools = snap_alloc(h, sec->n_dnat_pools * sizeof(*s->destination_pools));
    if (!s->destination_pools)
        return -ENOMEM;
    for (unsigned i = 0; i < sec->n_dnat_pools; i++) {
        const struct cfg_dnat_pool *p = &sec->dnat_pools[i];
        Moat__DestinationPool *m = snap_alloc(h, sizeof(*m));
        if (!m)
            return -ENOMEM;
        moat__destination_pool__init(m);
        s->destination_pools[s->n_destination_pools++] = m;
        m->id = i + 1;
        m->name = (char *)p->name;
        if (!(m->address = prefix_new(h, &p->addr)))
            return -ENOMEM;
        m->port = p->port;
    }
    return 0;
}

/*
 * A rule-set's "from"/"to": zone ids as they are, interfaces as the ifindexes the kernel gave
 * them. An interface the kernel does not have (yet) is sent as ifindex 0, which no packet
 * carries: the list never shrinks to empty, which would mean "any".
 */
static int nat_context(struct snap_holder *h, struct controld *c, const struct cfg_nat_context *cx,
                       uint32_t **zones, size_t *n_zones, uint32_t **ifindexes, size_t *n_ifindexes)
{
    if (!cx->n)
        return 0;
    uint32_t *v = snap_alloc(h, cx->n * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (unsigned i = 0; i < cx->n; i++) {
        if (!cx->interface) {
            v[i] = cx->ids[i];
            continue;
        }
        v[i] = 0;
        if (cx->ids[i] >= c->cfg->n_ifaces)
            continue;
        const char *name = c->cfg->ifaces[cx->ids[i]].name;
        for (unsigned k = 0; k < c->n_ifaces; k++) {
            if (strcmp(c->ifaces[k].name, name) == 0)
                v[i] = c->ifaces[k].ifindex;
        }
    }
    if (cx->interface) {
        *ifindexes = v;
        *n_ifindexes = cx->n;
    } else {
        *zones = v;
        *n_zones = cx->n;
    }
    return 0;
}

static int nat_prefixes(struct snap_holder *h, const struct cfg_prefix *p, unsigned n,
                        Moat__Prefix ***out, size_t *n_out)
{
    if (!n)
        return 0;
    Moat__Prefix **v = snap_alloc(h, n * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        if (!(v[i] = prefix_new(h, &p[i])))
            return -ENOMEM;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* NatRule.id 1..N: static, destination, source; config order inside (config_nat_rule_by_id). */
static int add_nat_rules(struct snap_holder *h, struct controld *c)
{
    Moat__Snapshot *s = &h->s;
    unsigned n = config_nat_rule_count(c->cfg);
    if (!n)
        return 0;
    s->nat_rules = snap_alloc(h, n * sizeof(*s->nat_rules));
    if (!s->nat_rules)
        return -ENOMEM;
    for (unsigned id = 1; id <= n; id++) {
        struct cfg_nat_rule_ref ref;
        if (!config_nat_rule_by_id(c->cfg, id, &ref))
            return -EINVAL;
        const struct cfg_nat_rule *r = ref.rule;
        Moat__NatRule *m = snap_alloc(h, sizeof(*m));
        if (!m)
            return -ENOMEM;
        moat__nat_rule__init(m);
        s->nat_rules[s->n_nat_rules++] = m;
        m->id = id;
        m->kind = ref.kind == CFG_NAT_KIND_SOURCE        ? MOAT__NAT_KIND__NAT_KIND_SOURCE
                  : ref.kind == CFG_NAT_KIND_DESTINATION ? MOAT__NAT_KIND__NAT_KIND_DESTINATION
                                                         : MOAT__NAT_KIND__NAT_KIND_STATIC;
        m->rule_set = (char *)ref.rs->name;
        m->name = (char *)r->name;
        if (nat_context(h, c, &ref.rs->from, &m->from_zones, &m->n_from_zones, &m->from_ifindexes,
                        &m->n_from_ifindexes) ||
            nat_context(h, c, &ref.rs->to, &m->to_zones, &m->n_to_zones, &m->to_ifindexes,
                        &m->n_to_ifindexes) ||
            nat_prefixes(h, r->src, r->n_src, &m->source, &m->n_source) ||
            nat_prefixes(h, r->dst, r->n_dst, &m->destination, &m->n_destination))
            return -ENOMEM;
        m->dport_lo = r->dport_lo;
        m->dport_hi = r->dport_hi;
        m->protocol = r->protocol;
        switch (r->action) {
        case CFG_NAT_OFF:
            m->action = MOAT__NAT_ACTION__NAT_ACTION_OFF;
            break;
        case CFG_NAT_INTERFACE:
            m->action = MOAT__NAT_ACTION__NAT_ACTION_INTERFACE;
            break;
        case CFG_NAT_POOL:
            m->action = MOAT__NAT_ACTION__NAT_ACTION_POOL;
            m->pool_id = (uint32_t)r->pool + 1;
            break;
        case CFG_NAT_PREFIX:
            m->action = MOAT__NAT_ACTION__NAT_ACTION_PREFIX;
            if (!(m->static_prefix = prefix_new(h, &r->static_prefix)))
                return -ENOMEM;
            break;
        }
    }
    return 0;
}

static int add_nat(struct snap_holder *h, struct controld *c)
{
    const struct cfg_security *sec = c->cfg->security;
    if (!sec)
        return 0;
    int err = add_source_pools(h, sec);
    if (!err)
        err = add_destination_pools(h, sec);
    if (!err)
        err = add_nat_rules(h, c);
    return err;
}

/* ---- the snapshot ---- */

Moat__Snapshot *snapshot_build(struct controld *c)
{
    const struct moat_config *cfg = c->cfg;
    struct snap_holder *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    Moat__Snapshot *s = &h->s;
    moat__snapshot__init(s);
    s->generation = c->generation;

    Moat__DataplaneSettings *set = snap_alloc(h, sizeof(*set));
    if (!set)
        goto fail;
    moat__dataplane_settings__init(set);
    set->workers = cfg->system.workers ? cfg->system.workers : 1;
    set->ring_size = cfg->system.ring_size ? cfg->system.ring_size : 2048;
    set->frame_size = cfg->system.frame_size ? cfg->system.frame_size : 4096;
    set->batch_size = 64;
    set->pending_tx_limit = 1024;
    set->heartbeat_ms = HELPER_HEARTBEAT_MS;
    set->bpffs_dir = (char *)(c->bpffs_dir ? c->bpffs_dir : "");
    set->n_worker_cpus = cfg->system.n_worker_cpus;
    set->worker_cpus =
        set->n_worker_cpus ? snap_alloc(h, set->n_worker_cpus * sizeof(uint32_t)) : NULL;
    if (set->n_worker_cpus && !set->worker_cpus)
        goto fail;
    for (size_t i = 0; i < set->n_worker_cpus; i++)
        set->worker_cpus[i] = cfg->system.worker_cpus[i];
    s->settings = set;

    /* Interfaces: every managed one present in the kernel with the shim attached. */
    size_t max_routes = c->n_ifaces * 8 + cfg->n_routes + 1;
    s->interfaces = snap_alloc(h, (c->n_ifaces + 1) * sizeof(*s->interfaces));
    s->routes = snap_alloc(h, max_routes * sizeof(*s->routes));
    s->neighbors = snap_alloc(h, (c->n_neigh + 1) * sizeof(*s->neighbors));
    if (!s->interfaces || !s->routes || !s->neighbors)
        goto fail;
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (!ifc->ifindex || ifc->xdp_mode == MOAT_XDP_NONE)
            continue;
        const struct cfg_interface *ci = config_find_interface(cfg, ifc->name);
        Moat__Interface *m = snap_alloc(h, sizeof(*m));
        if (!m)
            goto fail;
        moat__interface__init(m);
        s->interfaces[s->n_interfaces++] = m;
        m->ifindex = ifc->ifindex;
        m->name = ifc->name;
        m->mac.data = ifc->mac;
        m->mac.len = 6;
        m->mtu = ifc->mtu;
        m->slot = ifc->slot;
        m->queues = ifc->queues;
        m->zone_id = ci ? ci->zone_id : 0;
        m->userspace = ifc->dp_mode == CAP_MODE_USERSPACE; /* capability gate (gate.c) */
        m->link_up = ifc->link_up;
        m->link_epoch = ifc->link_epoch;
        unsigned na = ci ? ci->n_addrs : 0;
        unsigned nv = ci ? ci->n_vips : 0;
        m->addresses = snap_alloc(h, (na + nv + 1) * sizeof(*m->addresses));
        if (!m->addresses)
            goto fail;
        /* Cluster virtual addresses first: interface source NAT takes the first address of
         * the family, and it must be the VIP so translations survive a failover. */
        for (unsigned a = 0; a < nv; a++) {
            Moat__Prefix *p = prefix_new(h, &ci->vips[a]);
            if (!p)
                goto fail;
            m->addresses[m->n_addresses++] = p;
        }
        for (unsigned a = 0; a < na; a++) {
            Moat__Prefix *p = prefix_new(h, &ci->addrs[a]);
            if (!p)
                goto fail;
            m->addresses[m->n_addresses++] = p;
            /* Connected route. */
            if (s->n_routes < max_routes) {
                struct cfg_prefix net = ci->addrs[a];
                prefix_mask(&net);
                Moat__Route *r = snap_alloc(h, sizeof(*r));
                if (!r)
                    goto fail;
                moat__route__init(r);
                if (!(r->dst = prefix_new(h, &net)))
                    goto fail;
                r->ifindex = ifc->ifindex;
                r->kind = MOAT__ROUTE_KIND__ROUTE_CONNECTED;
                s->routes[s->n_routes++] = r;
            }
        }
    }
    /* Static routes whose next hop sits on a connected prefix. */
    for (unsigned i = 0; i < cfg->n_routes && s->n_routes < max_routes; i++) {
        const struct cfg_route *cr = &cfg->routes[i];
        if (cr->discard)
            continue;
        struct ctl_iface *egress = iface_for_nexthop(c, cr->dst.family, cr->nexthop);
        if (!egress) {
            char a[INET6_ADDRSTRLEN];
            inet_ntop(cr->dst.family == 6 ? AF_INET6 : AF_INET, cr->nexthop, a, sizeof(a));
            log_warn("static route (config line %u): next hop %s is on no managed "
                     "interface's subnet; route not installed",
                     cr->line, a);
            continue;
        }
        Moat__Route *r = snap_alloc(h, sizeof(*r) + 16);
        if (!r)
            goto fail;
        moat__route__init(r);
        if (!(r->dst = prefix_new(h, &cr->dst)))
            goto fail;
        uint8_t *gw = (uint8_t *)(r + 1);
        memcpy(gw, cr->nexthop, 16);
        r->gateway.data = gw;
        r->gateway.len = cr->dst.family == 6 ? 16 : 4;
        r->ifindex = egress->ifindex;
        r->kind = MOAT__ROUTE_KIND__ROUTE_STATIC;
        s->routes[s->n_routes++] = r;
    }
    for (unsigned i = 0; i < c->n_neigh; i++) {
        Moat__Neighbor *m = snap_alloc(h, sizeof(*m));
        if (!m)
            goto fail;
        moat__neighbor__init(m);
        const struct ctl_neigh *n = &c->neigh[i];
        m->addr.data = (uint8_t *)n->addr;
        m->addr.len = n->family == 6 ? 16 : 4;
        m->ifindex = n->ifindex;
        m->mac.data = (uint8_t *)n->mac;
        m->mac.len = 6;
        m->state = n->state;
        s->neighbors[s->n_neighbors++] = m;
    }
    if (add_zones(h, cfg->security) || add_policies(h, cfg->security) ||
        add_flow(h, cfg->security, legacy_cookie_seed(c->legacy)) || add_nat(h, c))
        goto fail;
    return s;
fail:
    log_err("out of memory building the snapshot");
    snapshot_free(s);
    return NULL;
}

/* ---- the frame, with sessions appended ---- */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Field numbers and wire type 2 (length-delimited) of Envelope.snapshot and Snapshot.sessions. */
#define TAG_ENVELOPE_SNAPSHOT ((3u << 3) | 2u)
#define TAG_SNAPSHOT_SESSIONS ((10u << 3) | 2u)
#define HDR_RESERVE (FRAME_HDR_LEN + 1 + 10)

struct enc {
    uint8_t *buf;
    size_t len, cap, max;
    const struct mirror *m;
    size_t sent, left;
    bool oom;
};

static bool enc_reserve(struct enc *e, size_t extra)
{
    if (e->len + extra <= e->cap)
        return true;
    size_t cap = e->cap * 2;
    while (cap < e->len + extra)
        cap *= 2;
    uint8_t *nb = realloc(e->buf, cap);
    if (!nb)
        return false;
    e->buf = nb;
    e->cap = cap;
    return true;
}

static void enc_session(void *arg, const struct mirror_session *ms)
{
    struct enc *e = arg;
    if (e->oom) {
        e->left++;
        return;
    }
    struct mirror_record_buf rb;
    mirror_to_record(e->m, ms, &rb);
    size_t rlen = moat__session_record__get_packed_size(&rb.rec);
    size_t need = 1 + varint_len(rlen) + rlen;
    if (e->len + need > e->max) {
        e->left++;
        return;
    }
    if (!enc_reserve(e, need)) {
        e->oom = true;
        e->left++;
        return;
    }
    e->buf[e->len++] = TAG_SNAPSHOT_SESSIONS;
    e->len += varint_put(e->buf + e->len, rlen);
    e->len += moat__session_record__pack(&rb.rec, e->buf + e->len);
    e->sent++;
}

int snapshot_encode_frame(const Moat__Snapshot *s, const struct mirror *m, size_t max_frame,
                          uint8_t **out, size_t *out_len, size_t *n_sent, size_t *n_left)
{
    *out = NULL;
    *out_len = 0;
    if (n_sent)
        *n_sent = 0;
    if (n_left)
        *n_left = 0;
    size_t base = moat__snapshot__get_packed_size(s);
    if (HDR_RESERVE + base > max_frame)
        return -EMSGSIZE;
    struct enc e = {.cap = HDR_RESERVE + base + 4096, .max = max_frame, .m = m};
    e.buf = malloc(e.cap);
    if (!e.buf)
        return -ENOMEM;
    e.len = HDR_RESERVE;
    e.len += moat__snapshot__pack(s, e.buf + e.len);
    if (m)
        mirror_foreach(m, enc_session, &e);
    /* The sessions are more of Snapshot's field 10: appended after the packed message they
     * make one Snapshot, which Envelope.snapshot (field 3) then wraps. */
    size_t snap_len = e.len - HDR_RESERVE;
    uint8_t hdr[HDR_RESERVE];
    size_t hl = FRAME_HDR_LEN;
    hdr[hl++] = TAG_ENVELOPE_SNAPSHOT;
    hl += varint_put(hdr + hl, snap_len);
    size_t env_len = hl - FRAME_HDR_LEN + snap_len;
    if (env_len > UINT32_MAX) {
        free(e.buf);
        return -EMSGSIZE;
    }
    hdr[0] = (uint8_t)(env_len >> 24);
    hdr[1] = (uint8_t)(env_len >> 16);
    hdr[2] = (uint8_t)(env_len >> 8);
    hdr[3] = (uint8_t)env_len;
    size_t off = HDR_RESERVE - hl;
    memcpy(e.buf + off, hdr, hl);
    if (off)
        memmove(e.buf, e.buf + off, e.len - off);
    *out = e.buf;
    *out_len = e.len - off;
    if (n_sent)
        *n_sent = e.sent;
    if (n_left)
        *n_left = e.left;
    return 0;
}
