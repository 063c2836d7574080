/* SPDX-License-Identifier: MIT */
/* nat_local.c — moat_nat_local entries from the configuration (see nat_local.h). */
#include "nat_local.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void nat_local_free(struct nat_local_set *s)
{
    free(s->keys);
    free(s->vals);
    memset(s, 0, sizeof(*s));
}

static int find(const struct nat_local_set *s, const struct moat_nat_key *k)
{
    for (unsigned i = 0; i < s->n; i++) {
        if (memcmp(&s->keys[i], k, sizeof(*k)) == 0)
            return (int)i;
    }
    return -1;
}

/* Adds an exact entry (port != 0) or merges a range entry (port 0, lo..hi). */
static int add(struct nat_local_set *s, uint8_t family, const uint8_t *addr, uint8_t proto,
               uint16_t port, uint16_t lo, uint16_t hi, uint32_t flags)
{
    struct moat_nat_key k;
    memset(&k, 0, sizeof(k));
    k.family = family == 6 ? AF_INET6 : AF_INET;
    memcpy(k.addr, addr, family == 6 ? 16 : 4);
    k.proto = proto;
    k.port = htons(port);
    int i = find(s, &k);
    if (i >= 0) {
        struct moat_nat_local_val *v = &s->vals[i];
        if (!port) {
            v->port_lo = lo < v->port_lo ? lo : v->port_lo;
            v->port_hi = hi > v->port_hi ? hi : v->port_hi;
        }
        v->flags |= flags;
        return 0;
    }
    if (s->n == s->cap) {
        unsigned cap = s->cap ? s->cap * 2 : 16;
        struct moat_nat_key *nk = realloc(s->keys, cap * sizeof(*nk));
        if (!nk)
            return -ENOMEM;
        s->keys = nk;
        struct moat_nat_local_val *nv = realloc(s->vals, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->vals = nv;
        s->cap = cap;
    }
    s->keys[s->n] = k;
    s->vals[s->n] = (struct moat_nat_local_val){
        .port_lo = port ? port : lo, .port_hi = port ? port : hi, .flags = flags};
    s->n++;
    return 0;
}

/* Destination NAT: the box's addresses inside the rule's destination-addresses. */
static int add_dnat_rule(struct nat_local_set *s, const struct moat_config *cfg,
                         const struct cfg_nat_rule *r)
{
    if (r->action != CFG_NAT_POOL)
        return 0;
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        const struct cfg_interface *f = &cfg->ifaces[i];
        for (unsigned pass = 0; pass < 2; pass++) {
            const struct cfg_prefix *v = pass ? f->vips : f->addrs;
            unsigned nv = pass ? f->n_vips : f->n_addrs;
            for (unsigned a = 0; a < nv; a++) {
                bool in = false;
                for (unsigned d = 0; d < r->n_dst && !in; d++)
                    in = config_prefix_contains(&r->dst[d], v[a].family, v[a].addr);
                if (!in)
                    continue;
                static const uint8_t both[] = {IPPROTO_TCP, IPPROTO_UDP};
                const uint8_t *protos = r->protocol ? &r->protocol : both;
                unsigned np = r->protocol ? 1 : 2;
                for (unsigned p = 0; p < np; p++) {
                    if (protos[p] != IPPROTO_TCP && protos[p] != IPPROTO_UDP)
                        continue;
                    int err = 0;
                    if (!r->dport_lo && !r->dport_hi) {
                        err = add(s, v[a].family, v[a].addr, protos[p], 0, 1, 65535,
                                  MOAT_NAT_LOCAL_F_DNAT);
                    } else {
                        for (unsigned port = r->dport_lo; !err && port <= r->dport_hi; port++) {
                            if (s->n > MOAT_MAX_NAT_LOCAL)
                                return -E2BIG;
                            err = add(s, v[a].family, v[a].addr, protos[p], (uint16_t)port, 0, 0,
                                      MOAT_NAT_LOCAL_F_DNAT);
                        }
                    }
                    if (err)
                        return err;
                }
            }
        }
    }
    return 0;
}

static bool rule_family(const struct cfg_nat_rule *r, uint8_t family)
{
    const struct cfg_prefix *list = r->n_src ? r->src : r->dst;
    unsigned n = r->n_src ? r->n_src : r->n_dst;
    if (!n)
        return true; /* any: both families */
    for (unsigned i = 0; i < n; i++) {
        if (list[i].family == family)
            return true;
    }
    return false;
}

/* Interface source NAT: the first address of each family of each egress interface. */
static int add_snat_rule(struct nat_local_set *s, const struct moat_config *cfg,
                         const struct cfg_nat_rule_set *rs, const struct cfg_nat_rule *r)
{
    if (r->action != CFG_NAT_INTERFACE)
        return 0;
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        const struct cfg_interface *f = &cfg->ifaces[i];
        bool egress = false;
        for (unsigned k = 0; k < rs->to.n && !egress; k++)
            egress =
                rs->to.interface ? rs->to.ids[k] == i : f->zone_id && rs->to.ids[k] == f->zone_id;
        for (uint8_t fam = 4; egress && fam <= 6; fam += 2) {
            if (!rule_family(r, fam))
                continue;
            const struct cfg_prefix *first = NULL;
            /* In a cluster the virtual address is the interface's NAT address. */
            for (unsigned a = 0; a < f->n_vips && !first; a++) {
                if (f->vips[a].family == fam)
                    first = &f->vips[a];
            }
            for (unsigned a = 0; a < f->n_addrs && !first; a++) {
                if (f->addrs[a].family == fam)
                    first = &f->addrs[a];
            }
            if (!first)
                continue;
            const uint8_t protos[3] = {IPPROTO_TCP, IPPROTO_UDP,
                                       fam == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP};
            for (unsigned p = 0; p < 3; p++) {
                int err = add(s, fam, first->addr, protos[p], 0, NAT_LOCAL_IF_PORT_LO,
                              NAT_LOCAL_IF_PORT_HI, MOAT_NAT_LOCAL_F_SNAT);
                if (err)
                    return err;
            }
        }
    }
    return 0;
}

/* The interface (index into cfg->ifaces) with an address whose prefix holds addr, or -1. */
static int connected_to(const struct moat_config *cfg, uint8_t family, const uint8_t *addr,
                        unsigned *len)
{
    int best = -1;
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        const struct cfg_interface *f = &cfg->ifaces[i];
        for (unsigned a = 0; a < f->n_addrs; a++) {
            const struct cfg_prefix *p = &f->addrs[a];
            if (config_prefix_contains(p, family, addr) && (best < 0 || p->len > *len)) {
                best = (int)i;
                *len = p->len;
            }
        }
    }
    return best;
}

/*
 * The interface a destination leaves through by the routes the dataplane is given
 * (snapshot.c): the connected prefixes of the interfaces and the static routes whose next hop
 * sits on one of them, longest prefix first. -1: no route.
 */
static int egress_of(const struct moat_config *cfg, uint8_t family, const uint8_t *addr)
{
    unsigned best_len = 0;
    int best = connected_to(cfg, family, addr, &best_len);
    for (unsigned i = 0; i < cfg->n_routes; i++) {
        const struct cfg_route *r = &cfg->routes[i];
        if (r->discard || !config_prefix_contains(&r->dst, family, addr) ||
            (best >= 0 && r->dst.len <= best_len))
            continue;
        unsigned nl = 0;
        int via = connected_to(cfg, family, r->nexthop, &nl);
        if (via >= 0) {
            best = via;
            best_len = r->dst.len;
        }
    }
    return best;
}

/*
 * Hairpinning (dataplane/flow.c nat_source()): a flow translated by a destination or static
 * rule that leaves through the zone it came from gets the egress interface's first IPv4
 * address as its source, so that the server's replies come back through the box (addressed to
 * that interface address, within the interface NAT range). The rule-set's from zones (or the
 * zones of its from interfaces) are where such flows come from; the egress interface is the
 * one the translated address is routed through. IPv4 only, as the dataplane's NAT.
 */
static int add_hairpin(struct nat_local_set *s, const struct moat_config *cfg,
                       const struct cfg_nat_rule_set *rs, const struct cfg_nat_rule *r)
{
    const struct cfg_prefix *to;
    if (r->action == CFG_NAT_POOL && r->pool >= 0 &&
        (unsigned)r->pool < cfg->security->n_dnat_pools)
        to = &cfg->security->dnat_pools[r->pool].addr;
    else if (r->action == CFG_NAT_PREFIX)
        to = &r->static_prefix;
    else
        return 0;
    if (to->family != 4)
        return 0;
    int e = egress_of(cfg, 4, to->addr);
    if (e < 0 || !cfg->ifaces[e].zone_id)
        return 0;
    const struct cfg_interface *f = &cfg->ifaces[e];
    bool from = false;
    for (unsigned k = 0; k < rs->from.n && !from; k++) {
        const unsigned id = rs->from.ids[k];
        from = rs->from.interface ? id < cfg->n_ifaces && cfg->ifaces[id].zone_id == f->zone_id
                                  : id == f->zone_id;
    }
    if (!from)
        return 0;
    for (unsigned a = 0; a < f->n_addrs; a++) {
        if (f->addrs[a].family != 4)
            continue;
        static const uint8_t protos[3] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP};
        for (unsigned p = 0; p < 3; p++) {
            int err = add(s, 4, f->addrs[a].addr, protos[p], 0, NAT_LOCAL_IF_PORT_LO,
                          NAT_LOCAL_IF_PORT_HI, MOAT_NAT_LOCAL_F_SNAT);
            if (err)
                return err;
        }
        break; /* the first IPv4 address: the one the dataplane translates to */
    }
    return 0;
}

int nat_local_build(const struct moat_config *cfg, struct nat_local_set *out, char *why, size_t len)
{
    memset(out, 0, sizeof(*out));
    int err = 0;
    unsigned n;
    const struct cfg_nat_rule_set *rs = config_nat_rule_sets(cfg, CFG_NAT_KIND_DESTINATION, &n);
    for (unsigned i = 0; !err && i < n; i++) {
        for (unsigned k = 0; !err && k < rs[i].n_rules; k++) {
            err = add_dnat_rule(out, cfg, &rs[i].rules[k]);
            if (!err)
                err = add_hairpin(out, cfg, &rs[i], &rs[i].rules[k]);
        }
    }
    rs = config_nat_rule_sets(cfg, CFG_NAT_KIND_STATIC, &n);
    for (unsigned i = 0; !err && i < n; i++) {
        for (unsigned k = 0; !err && k < rs[i].n_rules; k++)
            err = add_hairpin(out, cfg, &rs[i], &rs[i].rules[k]);
    }
    rs = config_nat_rule_sets(cfg, CFG_NAT_KIND_SOURCE, &n);
    for (unsigned i = 0; !err && i < n; i++) {
        for (unsigned k = 0; !err && k < rs[i].n_rules; k++)
            err = add_snat_rule(out, cfg, &rs[i], &rs[i].rules[k]);
    }
    if (!err && out->n > MOAT_MAX_NAT_LOCAL)
        err = -E2BIG;
    if (err == -E2BIG)
        snprintf(why, len,
                 "destination NAT on the box's own addresses needs more than %u (address, "
                 "protocol, port) entries; narrow the destination-port ranges of those rules",
                 MOAT_MAX_NAT_LOCAL);
    else if (err)
        snprintf(why, len, "out of memory");
    if (err)
        nat_local_free(out);
    return err;
}
