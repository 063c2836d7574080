// SPDX-License-Identifier: MIT
/*
 * legacy_compile.c — the running configuration's Snapshot compiled into the contents of the
 * legacy path's maps (zones, policies, NAT rules and pools, interfaces, routes, neighbours,
 * screens), and the policy decision those tables make. Pure: no BPF, no controld. See
 * legacy_compile.h.
 */
#include "legacy_compile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/neighbour.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int legacy_errf(char *err, size_t len, int rc, const char *fmt, ...)
{
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static bool is_port_proto(uint32_t p)
{
    return p == 6 || p == 17 || p == 132 || p == 136 || p == 33;
}

static bool is_icmp_proto(uint32_t p)
{
    return p == 1 || p == 58;
}

int legacy_neigh_usable(uint32_t state, const uint8_t *mac, size_t mac_len)
{
    static const uint8_t zero[6];
    if (mac_len != 6 || !mac || memcmp(mac, zero, 6) == 0)
        return 0;
    return (state &
            (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)) != 0;
}

static void mask_addr(uint8_t *a, unsigned bits, unsigned alen)
{
    for (unsigned i = 0; i < alen; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        a[i] &= (uint8_t)(keep ? 0xff << (8 - keep) : 0);
    }
}

static int pfx_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct moat_lg_pfx_key));
}

/* Adds one prefix to list (a list id, > 0). */
static int pfx_add(struct legacy_tables *t, uint32_t list, const Moat__Prefix *p, char *err,
                   size_t errlen)
{
    if (!p || (p->addr.len != 4 && p->addr.len != 16))
        return legacy_errf(err, errlen, -EINVAL, "an address prefix has %zu address bytes",
                           p ? p->addr.len : 0);
    unsigned alen = (unsigned)p->addr.len;
    if (p->len > alen * 8)
        return legacy_errf(err, errlen, -EINVAL, "prefix length %u is too long", p->len);
    if (t->n_pfx == t->cap_pfx) {
        unsigned cap = t->cap_pfx ? t->cap_pfx * 2 : 64;
        void *n = realloc(t->pfx, cap * sizeof(*t->pfx));
        if (!n)
            return -ENOMEM;
        t->pfx = n;
        t->cap_pfx = cap;
    }
    struct legacy_pfx_entry *e = &t->pfx[t->n_pfx++];
    memset(e, 0, sizeof(*e));
    e->key.prefixlen = 32 + p->len;
    e->key.list = htonl(list * 2 + (alen == 16 ? 1 : 0));
    memcpy(e->key.addr, p->addr.data, alen);
    mask_addr(e->key.addr, p->len, alen);
    e->val = 1;
    return 0;
}

/* A list id for these prefixes (0 = any). *next counts the ids of this bank. */
static int pfx_list(struct legacy_tables *t, Moat__Prefix **v, size_t n, uint32_t *next,
                    uint32_t *out, char *err, size_t errlen)
{
    *out = 0;
    if (n == 0)
        return 0;
    uint32_t id = (*next)++;
    for (size_t i = 0; i < n; i++) {
        int rc = pfx_add(t, id, v[i], err, errlen);
        if (rc)
            return rc;
    }
    *out = id;
    return 0;
}

static int addr_match_list(struct legacy_tables *t, const Moat__AddressMatch *m, uint32_t *next,
                           uint32_t *out, char *err, size_t errlen)
{
    *out = 0;
    if (!m || m->any)
        return 0;
    if (m->n_prefixes == 0) {
        /* Matches nothing: a list with no entry. */
        *out = (*next)++;
        return 0;
    }
    return pfx_list(t, m->prefixes, m->n_prefixes, next, out, err, errlen);
}

static void app_ranges(struct moat_lg_rule *r, const Moat__Application *ap)
{
    r->sport_lo = r->dport_lo = 0;
    r->sport_hi = r->dport_hi = 0xffff;
    r->proto = 0;
    if (!ap || ap->any || ap->protocol == 0)
        return;
    r->proto = (uint8_t)ap->protocol;
    r->app_timeout = ap->inactivity_timeout;
    if (is_port_proto(ap->protocol)) {
        if (ap->dport_lo || ap->dport_hi) {
            r->dport_lo = (uint16_t)ap->dport_lo;
            r->dport_hi = (uint16_t)(ap->dport_hi < ap->dport_lo ? ap->dport_lo : ap->dport_hi);
        }
        if (ap->sport_lo || ap->sport_hi) {
            r->sport_lo = (uint16_t)ap->sport_lo;
            r->sport_hi = (uint16_t)(ap->sport_hi < ap->sport_lo ? ap->sport_lo : ap->sport_hi);
        }
    } else if (is_icmp_proto(ap->protocol) && ap->icmp_type >= 0) {
        r->dport_lo = (uint16_t)(ap->icmp_type << 8 | (ap->icmp_code >= 0 ? ap->icmp_code : 0));
        r->dport_hi = (uint16_t)(ap->icmp_type << 8 | (ap->icmp_code >= 0 ? ap->icmp_code : 0xff));
    }
}

static int compile_policies(const Moat__Snapshot *s, struct legacy_tables *t, uint32_t *next_list,
                            char *err, size_t errlen)
{
    size_t np = s->n_policies;
    size_t nsub = 0;
    for (size_t i = 0; i < np; i++) {
        const Moat__Policy *p = s->policies[i];
        nsub += (p->application_any || p->n_applications == 0) ? 1 : p->n_applications;
    }
    if (nsub > MOAT_LG_BANK_RULES)
        return legacy_errf(
            err, errlen, -E2BIG,
            "the policies expand to %zu (policy, application) rules; the legacy path "
            "holds at most %u",
            nsub, MOAT_LG_BANK_RULES);
    t->rules = calloc(nsub ? nsub : 1, sizeof(*t->rules));
    t->pairs = calloc(np ? np : 1, sizeof(*t->pairs));
    bool *done = calloc(np ? np : 1, sizeof(*done));
    if (!t->rules || !t->pairs || !done) {
        free(done);
        return -ENOMEM;
    }
    int rc = 0;
    /* Pairs in the order they first appear; inside a pair, config order. */
    for (size_t i = 0; i < np && !rc; i++) {
        if (done[i])
            continue;
        const Moat__Policy *first = s->policies[i];
        if (first->from_zone > 0xffff || first->to_zone > 0xffff) {
            rc = legacy_errf(err, errlen, -EINVAL, "policy %s: zone id out of range", first->name);
            break;
        }
        struct legacy_pair_entry *pe = &t->pairs[t->n_pairs++];
        pe->key = first->from_zone << 16 | first->to_zone;
        pe->val.first = t->bank * MOAT_LG_BANK_RULES + t->n_rules;
        for (size_t j = i; j < np && !rc; j++) {
            const Moat__Policy *p = s->policies[j];
            if (p->from_zone != first->from_zone || p->to_zone != first->to_zone)
                continue;
            done[j] = true;
            uint32_t sl, dl;
            if ((rc = addr_match_list(t, p->source, next_list, &sl, err, errlen)) ||
                (rc = addr_match_list(t, p->destination, next_list, &dl, err, errlen)))
                break;
            size_t na = (p->application_any || p->n_applications == 0) ? 1 : p->n_applications;
            for (size_t a = 0; a < na; a++) {
                struct moat_lg_rule *r = &t->rules[t->n_rules++];
                memset(r, 0, sizeof(*r));
                r->policy_id = p->id;
                r->src_list = sl;
                r->dst_list = dl;
                r->action = (uint8_t)(p->action <= MOAT__POLICY_ACTION__POLICY_REJECT
                                          ? p->action
                                          : MOAT__POLICY_ACTION__POLICY_DENY);
                app_ranges(r, (p->application_any || p->n_applications == 0) ? NULL
                                                                             : p->applications[a]);
            }
        }
        pe->val.count = t->bank * MOAT_LG_BANK_RULES + t->n_rules - pe->val.first;
    }
    free(done);
    return rc;
}

static int zone_mask(const uint32_t *z, size_t n, __u64 *out, const Moat__NatRule *r, char *err,
                     size_t errlen)
{
    *out = 0;
    for (size_t i = 0; i < n; i++) {
        if (z[i] == 0 || z[i] > MOAT_LG_MAX_ZONE)
            return legacy_errf(err, errlen, -EINVAL,
                               "NAT rule %s/%s names zone id %u; the legacy path handles zone ids "
                               "1..%u",
                               r->rule_set, r->name, z[i], MOAT_LG_MAX_ZONE);
        *out |= 1ull << z[i];
    }
    return 0;
}

static int if_list(const uint32_t *v, size_t n, uint32_t *out, const Moat__NatRule *r, char *err,
                   size_t errlen)
{
    if (n > MOAT_LG_NAT_IFS)
        return legacy_errf(
            err, errlen, -E2BIG,
            "NAT rule %s/%s names %zu interfaces on one side; the legacy path holds %u",
            r->rule_set, r->name, n, MOAT_LG_NAT_IFS);
    for (size_t i = 0; i < n; i++)
        out[i] = v[i];
    return 0;
}

static int v4_of(const Moat__Prefix *p, uint32_t *addr, uint32_t *mask)
{
    if (!p || p->addr.len != 4 || p->len > 32)
        return -EINVAL;
    uint32_t a, m = p->len ? htonl(~0u << (32 - p->len)) : 0;
    memcpy(&a, p->addr.data, 4);
    *addr = a & m;
    *mask = m;
    return 0;
}

static int compile_nat(const Moat__Snapshot *s, struct legacy_tables *t, uint32_t *next_list,
                       char *err, size_t errlen)
{
    if (s->n_nat_rules > MOAT_LG_BANK_NAT)
        return legacy_errf(err, errlen, -E2BIG, "%zu NAT rules; the legacy path holds at most %u",
                           s->n_nat_rules, MOAT_LG_BANK_NAT);
    t->nat = calloc(s->n_nat_rules ? s->n_nat_rules : 1, sizeof(*t->nat));
    if (!t->nat)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_nat_rules; i++) {
        const Moat__NatRule *r = s->nat_rules[i];
        struct moat_lg_nat_rule *o = &t->nat[t->n_nat++];
        int rc;
        memset(o, 0, sizeof(*o));
        o->id = r->id;
        o->kind = (uint8_t)r->kind;
        o->action = (uint8_t)r->action;
        o->proto = (uint8_t)r->protocol;
        o->pool_id = (uint16_t)r->pool_id;
        o->dport_lo = (uint16_t)r->dport_lo;
        o->dport_hi = (uint16_t)r->dport_hi;
        if (r->pool_id >= MOAT_LG_MAX_POOLS)
            return legacy_errf(err, errlen, -EINVAL, "NAT rule %s/%s: pool id %u out of range",
                               r->rule_set, r->name, r->pool_id);
        for (size_t k = 0; k < r->n_source; k++)
            if (r->source[k]->addr.len != 4)
                return legacy_errf(err, errlen, -EINVAL, "NAT rule %s/%s: IPv6 is not translated",
                                   r->rule_set, r->name);
        for (size_t k = 0; k < r->n_destination; k++)
            if (r->destination[k]->addr.len != 4)
                return legacy_errf(err, errlen, -EINVAL, "NAT rule %s/%s: IPv6 is not translated",
                                   r->rule_set, r->name);
        if ((rc = zone_mask(r->from_zones, r->n_from_zones, &o->from_zones, r, err, errlen)) ||
            (rc = zone_mask(r->to_zones, r->n_to_zones, &o->to_zones, r, err, errlen)) ||
            (rc = if_list(r->from_ifindexes, r->n_from_ifindexes, o->from_ifs, r, err, errlen)) ||
            (rc = if_list(r->to_ifindexes, r->n_to_ifindexes, o->to_ifs, r, err, errlen)) ||
            (rc = pfx_list(t, r->source, r->n_source, next_list, &o->src_list, err, errlen)) ||
            (rc = pfx_list(t, r->destination, r->n_destination, next_list, &o->dst_list, err,
                           errlen)))
            return rc;
        if (r->kind == MOAT__NAT_KIND__NAT_KIND_STATIC) {
            if (v4_of(r->static_prefix, &o->stat_addr, &o->stat_mask) || r->n_destination == 0 ||
                v4_of(r->destination[0], &o->ext_addr, &o->ext_mask))
                return legacy_errf(err, errlen, -EINVAL,
                                   "static NAT rule %s/%s: needs an IPv4 destination and prefix",
                                   r->rule_set, r->name);
        }
    }
    for (size_t i = 0; i < s->n_source_pools; i++) {
        const Moat__SourcePool *p = s->source_pools[i];
        if (p->id == 0 || p->id >= MOAT_LG_MAX_POOLS)
            return legacy_errf(err, errlen, -EINVAL, "source pool %s: id %u out of range", p->name,
                               p->id);
        if (p->n_ranges > MOAT_LG_POOL_RANGES)
            return legacy_errf(err, errlen, -E2BIG,
                               "source pool %s has %zu address ranges; the legacy path holds %u",
                               p->name, p->n_ranges, MOAT_LG_POOL_RANGES);
        struct moat_lg_spool *o = &t->spools[p->id];
        uint64_t naddr = 0;
        for (size_t k = 0; k < p->n_ranges; k++) {
            const Moat__AddressRange *ar = p->ranges[k];
            uint32_t lo, hi;
            if (ar->lo.len != 4 || ar->hi.len != 4)
                return legacy_errf(err, errlen, -EINVAL, "source pool %s: IPv6 is not translated",
                                   p->name);
            memcpy(&lo, ar->lo.data, 4);
            memcpy(&hi, ar->hi.data, 4);
            lo = ntohl(lo);
            hi = ntohl(hi);
            if (hi < lo)
                return legacy_errf(err, errlen, -EINVAL, "source pool %s: an empty range", p->name);
            o->lo[k] = lo;
            o->hi[k] = hi;
            naddr += (uint64_t)hi - lo + 1;
        }
        o->nranges = (uint32_t)p->n_ranges;
        o->naddr = naddr > UINT32_MAX ? UINT32_MAX : (uint32_t)naddr;
        o->port_lo = (uint16_t)(p->port_lo ? p->port_lo : 1024);
        o->port_hi = (uint16_t)(p->port_hi ? p->port_hi : 65535);
        o->no_xlate = p->port_no_translation;
        o->persistent = p->address_persistent;
    }
    for (size_t i = 0; i < s->n_destination_pools; i++) {
        const Moat__DestinationPool *p = s->destination_pools[i];
        uint32_t a, m;
        if (p->id == 0 || p->id >= MOAT_LG_MAX_POOLS)
            return legacy_errf(err, errlen, -EINVAL, "destination pool %s: id %u out of range",
                               p->name, p->id);
        if (v4_of(p->address, &a, &m))
            return legacy_errf(err, errlen, -EINVAL, "destination pool %s: IPv6 is not translated",
                               p->name);
        t->dpools[p->id].addr = a;
        t->dpools[p->id].port = (uint16_t)p->port;
    }
    return 0;
}

static int route_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct moat_lg_route_key));
}

static int compile_net(const Moat__Snapshot *s, struct legacy_tables *t, char *err, size_t errlen)
{
    t->ifs = calloc(s->n_interfaces + 1, sizeof(*t->ifs));
    t->if6 = calloc(s->n_interfaces + 1, sizeof(*t->if6));
    t->routes = calloc(s->n_routes + 1, sizeof(*t->routes));
    t->neigh = calloc(s->n_neighbors + 1, sizeof(*t->neigh));
    if (!t->ifs || !t->if6 || !t->routes || !t->neigh)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_interfaces; i++) {
        const Moat__Interface *m = s->interfaces[i];
        struct legacy_if_entry *e = &t->ifs[t->n_ifs++];
        memset(e, 0, sizeof(*e));
        e->ifindex = m->ifindex;
        if (m->mac.len == 6)
            memcpy(e->val.mac, m->mac.data, 6);
        if (m->zone_id > 0xffff)
            return legacy_errf(err, errlen, -EINVAL, "interface %s: zone id %u out of range",
                               m->name, m->zone_id);
        e->val.zone = (uint16_t)m->zone_id;
        for (size_t a = 0; a < m->n_addresses; a++) {
            if (m->addresses[a]->addr.len == 4) {
                memcpy(&e->val.v4, m->addresses[a]->addr.data, 4);
                e->val.has_v4 = 1;
                break;
            }
        }
        /* The first IPv6 address not link-local, as the helper sends its errors from. */
        for (size_t a = 0; a < m->n_addresses; a++) {
            const ProtobufCBinaryData *ad = &m->addresses[a]->addr;
            if (ad->len == 16 && !(ad->data[0] == 0xfe && (ad->data[1] & 0xc0) == 0x80)) {
                struct legacy_if6_entry *e6 = &t->if6[t->n_if6++];
                memset(e6, 0, sizeof(*e6));
                e6->ifindex = m->ifindex;
                memcpy(e6->val.v6, ad->data, 16);
                break;
            }
        }
    }
    for (size_t i = 0; i < s->n_routes; i++) {
        const Moat__Route *r = s->routes[i];
        if (!r->dst || (r->dst->addr.len != 4 && r->dst->addr.len != 16))
            continue;
        unsigned alen = (unsigned)r->dst->addr.len;
        if (r->dst->len > alen * 8)
            return legacy_errf(err, errlen, -EINVAL, "a route has prefix length %u", r->dst->len);
        struct legacy_route_entry e;
        memset(&e, 0, sizeof(e));
        e.key.prefixlen = 32 + r->dst->len;
        e.key.family = htonl(alen == 16 ? 6 : 4);
        memcpy(e.key.addr, r->dst->addr.data, alen);
        mask_addr(e.key.addr, r->dst->len, alen);
        e.val.ifindex = r->ifindex;
        if (r->gateway.len == alen) {
            e.val.has_gw = 1;
            memcpy(e.val.gw, r->gateway.data, alen);
        }
        e.metric = r->metric;
        /* One route per prefix: the lowest metric, the first among equals. */
        bool merged = false;
        for (unsigned k = 0; k < t->n_routes; k++) {
            if (memcmp(&t->routes[k].key, &e.key, sizeof(e.key)) == 0) {
                if (e.metric < t->routes[k].metric)
                    t->routes[k] = e;
                merged = true;
                break;
            }
        }
        if (!merged)
            t->routes[t->n_routes++] = e;
    }
    if (t->n_routes)
        qsort(t->routes, t->n_routes, sizeof(*t->routes), route_cmp);
    for (size_t i = 0; i < s->n_neighbors; i++) {
        const Moat__Neighbor *n = s->neighbors[i];
        if ((n->addr.len != 4 && n->addr.len != 16) ||
            !legacy_neigh_usable(n->state, n->mac.data, n->mac.len))
            continue;
        struct legacy_neigh_entry *e = &t->neigh[t->n_neigh++];
        memset(e, 0, sizeof(*e));
        e->key.ifindex = n->ifindex;
        e->key.family = n->addr.len == 16 ? 6 : 4;
        memcpy(e->key.addr, n->addr.data, n->addr.len);
        memcpy(e->val.mac, n->mac.data, 6);
    }
    return 0;
}

/* Screens by the zone they are bound to (the helper's scr_compile). */
static int compile_screens(const Moat__Snapshot *s, struct legacy_tables *t, char *err,
                           size_t errlen)
{
    t->screens = calloc(MOAT_LG_SCR_ZONES, sizeof(*t->screens));
    if (!t->screens)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_zones; i++) {
        const Moat__Zone *z = s->zones[i];
        if (!z->screen_id)
            continue;
        if (z->id >= MOAT_LG_SCR_ZONES)
            return legacy_errf(err, errlen, -EINVAL,
                               "zone %s has id %u; the legacy path screens zones 0..%u only",
                               z->name, z->id, MOAT_LG_SCR_ZONES - 1);
        const Moat__Screen *m = NULL;
        for (size_t k = 0; k < s->n_screens && !m; k++)
            if (s->screens[k]->id == z->screen_id)
                m = s->screens[k];
        if (!m)
            return legacy_errf(err, errlen, -EINVAL,
                               "zone %s refers to screen id %u, which is not in the snapshot",
                               z->name, z->screen_id);
        struct moat_lg_screen *e = &t->screens[z->id];
        e->id = m->id;
        e->flags = m->flags;
        e->icmp_flood = m->icmp_flood;
        e->udp_flood = m->udp_flood;
        e->syn_attack = m->syn_attack;
        e->syn_dst = m->syn_destination;
        e->syn_src = m->syn_source;
        e->limit_src = m->limit_src;
        e->limit_dst = m->limit_dst;
        e->syn_cookie = s->flow && s->flow->syn_cookie;
    }
    return 0;
}

int legacy_compile(const Moat__Snapshot *s, unsigned bank, struct legacy_tables *t, char *err,
                   size_t errlen)
{
    memset(t, 0, sizeof(*t));
    if (!s || bank > 1)
        return legacy_errf(err, errlen, -EINVAL, "legacy_compile: bad arguments");
    t->bank = bank;
    /* List ids of the two banks never meet: the old bank's stay valid until the switch. */
    uint32_t next_list = bank ? 0x20000000u : 1;
    int rc = compile_policies(s, t, &next_list, err, errlen);
    if (!rc)
        rc = compile_nat(s, t, &next_list, err, errlen);
    if (!rc)
        rc = compile_net(s, t, err, errlen);
    if (!rc)
        rc = compile_screens(s, t, err, errlen);
    if (rc) {
        if (rc == -ENOMEM)
            legacy_errf(err, errlen, rc, "out of memory compiling the legacy path's tables");
        legacy_tables_free(t);
        return rc;
    }
    if (t->n_pfx > MOAT_LG_MAX_PFX / 2) {
        legacy_tables_free(t);
        return legacy_errf(
            err, errlen, -E2BIG,
            "policies and NAT rules name %u address prefixes; the legacy path holds %u", t->n_pfx,
            MOAT_LG_MAX_PFX / 2);
    }
    if (t->n_pfx)
        qsort(t->pfx, t->n_pfx, sizeof(*t->pfx), pfx_cmp);
    unsigned u = 0;
    for (unsigned i = 0; i < t->n_pfx; i++)
        if (u == 0 || pfx_cmp(&t->pfx[u - 1], &t->pfx[i]) != 0)
            t->pfx[u++] = t->pfx[i];
    t->n_pfx = u;

    const Moat__FlowSettings *f = s->flow;
    t->cfg.ready = 1;
    t->cfg.default_permit = s->default_policy == MOAT__DEFAULT_POLICY__DEFAULT_PERMIT_ALL;
    t->cfg.nat_first = bank * MOAT_LG_BANK_NAT;
    t->cfg.nat_count = t->n_nat;
    t->cfg.tcp_established = f && f->tcp_established_timeout ? f->tcp_established_timeout : 1800;
    t->cfg.tcp_initial = f && f->tcp_initial_timeout ? f->tcp_initial_timeout : 20;
    t->cfg.tcp_closing = f && f->tcp_closing_timeout ? f->tcp_closing_timeout : 30;
    t->cfg.udp = f && f->udp_timeout ? f->udp_timeout : 60;
    t->cfg.icmp = f && f->icmp_timeout ? f->icmp_timeout : 60;
    t->cfg.other = f && f->other_timeout ? f->other_timeout : 60;
    t->reevaluate = f ? f->policy_reevaluate : true;
    t->max_sessions = f && f->max_sessions && f->max_sessions < MOAT_LG_SESSION_CAP
                          ? f->max_sessions
                          : MOAT_LG_SESSION_CAP;
    /* As the helper reads them: unset (0) watermarks, no early aging. */
    t->high_wm = f && f->aging_high_watermark ? f->aging_high_watermark : 100;
    t->low_wm = f && f->aging_low_watermark ? f->aging_low_watermark : t->high_wm;
    /* What each policy id names: the hit counters follow the policy across renumbering. */
    unsigned nk = 1;
    for (size_t i = 0; i < s->n_policies; i++)
        if (s->policies[i]->id < MOAT_LG_MAX_POLICIES && s->policies[i]->id + 1 > nk)
            nk = s->policies[i]->id + 1;
    t->pol_keys = calloc(nk, sizeof(*t->pol_keys));
    if (!t->pol_keys) {
        legacy_tables_free(t);
        return legacy_errf(err, errlen, -ENOMEM,
                           "out of memory compiling the legacy path's tables");
    }
    t->n_pol_keys = nk;
    for (size_t i = 0; i < s->n_policies; i++) {
        const Moat__Policy *p = s->policies[i];
        if (p->id == 0 || p->id >= MOAT_LG_MAX_POLICIES)
            continue;
        const char *from = "?", *to = "?";
        for (size_t z = 0; z < s->n_zones; z++) {
            if (s->zones[z]->id == p->from_zone && s->zones[z]->name)
                from = s->zones[z]->name;
            if (s->zones[z]->id == p->to_zone && s->zones[z]->name)
                to = s->zones[z]->name;
        }
        size_t len = strlen(from) + strlen(to) + strlen(p->name ? p->name : "") + 3;
        char *k = malloc(len);
        if (!k) {
            legacy_tables_free(t);
            return legacy_errf(err, errlen, -ENOMEM,
                               "out of memory compiling the legacy path's tables");
        }
        snprintf(k, len, "%s\x1f%s\x1f%s", from, to, p->name ? p->name : "");
        free(t->pol_keys[p->id]);
        t->pol_keys[p->id] = k;
    }
    return 0;
}

static bool key_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

bool legacy_hits_remap(char *const *old_keys, unsigned n_old, char *const *new_keys, unsigned n_new,
                       uint32_t *map)
{
    bool moved = false;
    unsigned n = n_old > n_new ? n_old : n_new;
    for (unsigned id = 1; id < n && !moved; id++)
        moved = !key_eq(id < n_old ? old_keys[id] : NULL, id < n_new ? new_keys[id] : NULL);
    for (unsigned id = 0; id < n_old; id++) {
        map[id] = id == 0 ? 0 : UINT32_MAX;
        if (id == 0 || !old_keys[id])
            continue;
        if (id < n_new && key_eq(old_keys[id], new_keys[id])) {
            map[id] = id;
            continue;
        }
        for (unsigned j = 1; j < n_new; j++) {
            if (key_eq(old_keys[id], new_keys[j])) {
                map[id] = j;
                break;
            }
        }
    }
    return moved;
}

uint32_t legacy_policy_renumbered(const uint32_t *map, unsigned n_old, uint32_t old_id)
{
    if (old_id == 0)
        return 0;
    return old_id < n_old ? map[old_id] : UINT32_MAX;
}

/* 1 if addr is in list (0: any) of t: the LPM lookup of in_list() in main.bpf.c. */
static bool tables_in_list(const struct legacy_tables *t, uint32_t list, const uint8_t *addr,
                           uint8_t family)
{
    if (!list)
        return true;
    uint32_t want = htonl(list * 2 + (family == 6 ? 1 : 0));
    for (unsigned i = 0; i < t->n_pfx; i++) {
        const struct moat_lg_pfx_key *k = &t->pfx[i].key;
        if (k->list != want)
            continue;
        unsigned bits = k->prefixlen - 32, full = bits / 8, rem = bits % 8;
        if (memcmp(k->addr, addr, full) != 0)
            continue;
        if (rem && ((k->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rem))))
            continue;
        return true;
    }
    return false;
}

int legacy_policy_eval(const struct legacy_tables *t, uint16_t from_zone, uint16_t to_zone,
                       uint8_t proto, uint8_t family, const uint8_t *src, const uint8_t *dst,
                       uint16_t sport, uint16_t dport, uint32_t *policy_id, uint32_t *app_timeout)
{
    *policy_id = 0;
    *app_timeout = 0;
    uint32_t key = (uint32_t)from_zone << 16 | to_zone;
    const struct moat_lg_pair *pair = NULL;
    for (unsigned i = 0; i < t->n_pairs; i++) {
        if (t->pairs[i].key == key) {
            pair = &t->pairs[i].val;
            break;
        }
    }
    unsigned base = t->bank * MOAT_LG_BANK_RULES;
    for (uint32_t i = 0; pair && i < pair->count; i++) {
        uint32_t idx = pair->first + i - base;
        if (idx >= t->n_rules)
            break;
        const struct moat_lg_rule *r = &t->rules[idx];
        if (r->proto && r->proto != proto)
            continue;
        if (sport < r->sport_lo || sport > r->sport_hi || dport < r->dport_lo ||
            dport > r->dport_hi)
            continue;
        if (!tables_in_list(t, r->src_list, src, family) ||
            !tables_in_list(t, r->dst_list, dst, family))
            continue;
        *policy_id = r->policy_id;
        *app_timeout = r->app_timeout;
        return r->action;
    }
    return t->cfg.default_permit ? MOAT_LG_PERMIT : MOAT_LG_DENY;
}

void legacy_tables_free(struct legacy_tables *t)
{
    if (!t)
        return;
    free(t->rules);
    free(t->pairs);
    free(t->pfx);
    free(t->nat);
    for (unsigned i = 0; t->pol_keys && i < t->n_pol_keys; i++)
        free(t->pol_keys[i]);
    free(t->pol_keys);
    free(t->ifs);
    free(t->if6);
    free(t->screens);
    free(t->routes);
    free(t->neigh);
    memset(t, 0, sizeof(*t));
}
