/* SPDX-License-Identifier: MIT */
#include "nat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wire.h"

/* ---- compile (control thread) ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static uint32_t mask_of(uint32_t len)
{
    return len == 0 ? 0 : len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1);
}

static int pfx_of(const Moat__Prefix *p, struct nat_pfx *out)
{
    if (!p || p->addr.len != 4 || p->len > 32)
        return -1;
    out->mask = mask_of(p->len);
    out->addr = rd32(p->addr.data) & out->mask;
    return 0;
}

static uint32_t *copy_u32(const uint32_t *v, size_t n, bool *oom)
{
    if (!n)
        return NULL;
    uint32_t *c = malloc(n * sizeof(*c));
    if (!c) {
        *oom = true;
        return NULL;
    }
    memcpy(c, v, n * sizeof(*c));
    return c;
}

static int pfx_list(Moat__Prefix **in, size_t n, struct nat_pfx **out, uint32_t *nout, bool *oom,
                    uint32_t id, char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (!n)
        return 0;
    *out = calloc(n, sizeof(**out));
    if (!*out) {
        *oom = true;
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (pfx_of(in[i], &(*out)[i]) != 0)
            return fail(err, errlen, "NAT rule %u: only IPv4 prefixes are supported", id);
    *nout = (uint32_t)n;
    return 0;
}

/*
 * IPv6 is not translated yet (IPv4 only): a rule that names an IPv6 prefix or an IPv6 pool
 * can match no IPv4 packet, so it is left out of the set, as IPv6 pool ranges are, instead of
 * refusing the snapshot of a config controld accepted.
 */
static bool rule_is_v6(const Moat__NatRule *in, const bool *src_v6, const bool *dst_v6)
{
    for (size_t k = 0; k < in->n_source; k++)
        if (in->source[k] && in->source[k]->addr.len == 16)
            return true;
    for (size_t k = 0; k < in->n_destination; k++)
        if (in->destination[k] && in->destination[k]->addr.len == 16)
            return true;
    if (in->static_prefix && in->static_prefix->addr.len == 16)
        return true;
    if (in->action == MOAT__NAT_ACTION__NAT_ACTION_POOL && in->pool_id < NAT_MAX_POOLS)
        return in->kind == MOAT__NAT_KIND__NAT_KIND_SOURCE ? src_v6[in->pool_id]
                                                           : dst_v6[in->pool_id];
    return false;
}

void nat_set_free(struct nat_set *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->nrules; i++) {
        struct nat_rule *r = &n->rules[i];
        free(r->fz);
        free(r->fi);
        free(r->tz);
        free(r->ti);
        free(r->src);
        free(r->dst);
    }
    free(n->rules);
    for (uint32_t i = 0; i < NAT_MAX_POOLS; i++) {
        if (n->spool[i])
            free(n->spool[i]->ranges);
        free(n->spool[i]);
        free(n->dpool[i]);
    }
    free(n);
}

int nat_compile(const Moat__Snapshot *s, struct nat_set **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!s->n_nat_rules && !s->n_source_pools && !s->n_destination_pools)
        return 0;
    struct nat_set *n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    int rc = 0;
    bool oom = false;
    bool src_v6[NAT_MAX_POOLS] = {false}, dst_v6[NAT_MAX_POOLS] = {false}; /* IPv6-only pools */
    for (size_t i = 0; i < s->n_source_pools && !rc; i++) {
        const Moat__SourcePool *sp = s->source_pools[i];
        if (sp->id == 0 || sp->id >= NAT_MAX_POOLS || n->spool[sp->id]) {
            rc = fail(err, errlen, "source pool %s: id %u is 0, above %u or repeated",
                      sp->name ? sp->name : "?", sp->id, NAT_MAX_POOLS - 1);
            break;
        }
        struct nat_spool *p = calloc(1, sizeof(*p));
        if (!p || (sp->n_ranges && !(p->ranges = calloc(sp->n_ranges, sizeof(*p->ranges))))) {
            free(p);
            rc = -ENOMEM;
            break;
        }
        n->spool[sp->id] = p;
        p->id = sp->id;
        p->port_lo = (uint16_t)(sp->port_lo ? sp->port_lo : 1024);
        p->port_hi = (uint16_t)(sp->port_hi ? sp->port_hi : 65535);
        p->no_xlate = sp->port_no_translation;
        p->persistent = sp->address_persistent;
        if (sp->port_lo > 65535 || sp->port_hi > 65535 || p->port_lo > p->port_hi)
            rc = fail(err, errlen, "source pool %s: bad port range %u-%u", sp->name, sp->port_lo,
                      sp->port_hi);
        for (size_t r = 0; r < sp->n_ranges && !rc; r++) {
            const Moat__AddressRange *ar = sp->ranges[r];
            if (ar->lo.len == 16)
                continue; /* IPv6 ranges: not translated yet (IPv4 only) */
            if (ar->lo.len != 4 || (ar->hi.len != 4 && ar->hi.len != 0)) {
                rc = fail(err, errlen, "source pool %s: bad address range", sp->name);
                break;
            }
            uint32_t lo = rd32(ar->lo.data), hi = ar->hi.len ? rd32(ar->hi.data) : lo;
            if (hi < lo) {
                rc = fail(err, errlen, "source pool %s: range ends before it starts", sp->name);
                break;
            }
            p->ranges[p->nranges].lo = lo;
            p->ranges[p->nranges].hi = hi;
            p->nranges++;
            p->naddr += (uint64_t)(hi - lo) + 1;
        }
        src_v6[sp->id] = p->naddr == 0 && sp->n_ranges && sp->ranges[0]->lo.len == 16;
    }
    for (size_t i = 0; i < s->n_destination_pools && !rc; i++) {
        const Moat__DestinationPool *dp = s->destination_pools[i];
        if (dp->id == 0 || dp->id >= NAT_MAX_POOLS || n->dpool[dp->id]) {
            rc = fail(err, errlen, "destination pool %s: id %u is 0, above %u or repeated",
                      dp->name ? dp->name : "?", dp->id, NAT_MAX_POOLS - 1);
            break;
        }
        if (dp->address && dp->address->addr.len == 16 && dp->port <= 65535) {
            dst_v6[dp->id] = true; /* not translated yet (IPv4 only) */
            continue;
        }
        struct nat_pfx px;
        if (pfx_of(dp->address, &px) != 0 || dp->port > 65535) {
            rc = fail(err, errlen, "destination pool %s: needs an IPv4 address and a port <= 65535",
                      dp->name ? dp->name : "?");
            break;
        }
        struct nat_dpool *p = calloc(1, sizeof(*p));
        if (!p) {
            rc = -ENOMEM;
            break;
        }
        p->id = dp->id;
        p->addr = rd32(dp->address->addr.data);
        p->port = (uint16_t)dp->port;
        n->dpool[dp->id] = p;
    }
    if (!rc && s->n_nat_rules) {
        n->rules = calloc(s->n_nat_rules, sizeof(*n->rules));
        if (!n->rules)
            rc = -ENOMEM;
    }
    for (size_t i = 0; i < s->n_nat_rules && !rc; i++) {
        const Moat__NatRule *in = s->nat_rules[i];
        if (rule_is_v6(in, src_v6, dst_v6))
            continue;
        struct nat_rule *r = &n->rules[n->nrules++];
        r->id = in->id;
        r->kind = (uint8_t)in->kind;
        r->action = (uint8_t)in->action;
        r->proto = (uint8_t)in->protocol;
        r->pool_id = (uint16_t)in->pool_id;
        r->dport_lo = (uint16_t)in->dport_lo;
        r->dport_hi = (uint16_t)in->dport_hi;
        if (in->id == 0 || in->id >= NAT_MAX_RULES) {
            rc = fail(err, errlen, "NAT rule %s: id %u is 0 or above %u", in->name, in->id,
                      NAT_MAX_RULES - 1);
            break;
        }
        if (in->kind > MOAT__NAT_KIND__NAT_KIND_STATIC ||
            in->action > MOAT__NAT_ACTION__NAT_ACTION_PREFIX || in->dport_lo > 65535 ||
            in->dport_hi > 65535 || in->dport_lo > in->dport_hi) {
            rc = fail(err, errlen, "NAT rule %s: bad kind, action or port range", in->name);
            break;
        }
        r->fz = copy_u32(in->from_zones, in->n_from_zones, &oom);
        r->nfz = (uint32_t)in->n_from_zones;
        r->fi = copy_u32(in->from_ifindexes, in->n_from_ifindexes, &oom);
        r->nfi = (uint32_t)in->n_from_ifindexes;
        r->tz = copy_u32(in->to_zones, in->n_to_zones, &oom);
        r->ntz = (uint32_t)in->n_to_zones;
        r->ti = copy_u32(in->to_ifindexes, in->n_to_ifindexes, &oom);
        r->nti = (uint32_t)in->n_to_ifindexes;
        if (oom) {
            rc = -ENOMEM;
            break;
        }
        rc = pfx_list(in->source, in->n_source, &r->src, &r->nsrc, &oom, in->id, err, errlen);
        if (!rc)
            rc = pfx_list(in->destination, in->n_destination, &r->dst, &r->ndst, &oom, in->id, err,
                          errlen);
        if (rc)
            break;
        if (r->action == NAT_A_POOL) {
            const bool src = r->kind == NAT_K_SOURCE;
            if (r->pool_id == 0 || r->pool_id >= NAT_MAX_POOLS ||
                !(src ? (void *)n->spool[r->pool_id] : (void *)n->dpool[r->pool_id])) {
                rc = fail(err, errlen, "NAT rule %s: unknown %s pool %u", in->name,
                          src ? "source" : "destination", in->pool_id);
                break;
            }
            if (src && n->spool[r->pool_id]->naddr == 0) {
                rc = fail(err, errlen, "NAT rule %s: source pool %u has no IPv4 address", in->name,
                          in->pool_id);
                break;
            }
        }
        if (r->kind == NAT_K_STATIC) {
            if (r->action != NAT_A_PREFIX || pfx_of(in->static_prefix, &r->stat) != 0 ||
                r->ndst != 1 || r->dst[0].mask != r->stat.mask) {
                rc = fail(err, errlen,
                          "NAT rule %s: static NAT needs one IPv4 destination prefix and a "
                          "static prefix of the same length",
                          in->name);
                break;
            }
        } else if (r->action == NAT_A_PREFIX ||
                   (r->kind == NAT_K_DEST && r->action == NAT_A_INTERFACE)) {
            rc = fail(err, errlen, "NAT rule %s: action does not fit its kind", in->name);
            break;
        }
    }
    if (oom && !rc)
        rc = -ENOMEM;
    if (rc) {
        nat_set_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

uint32_t nat_spool_addr(const struct nat_spool *p, uint64_t n)
{
    for (uint32_t i = 0; i < p->nranges; i++) {
        uint64_t sz = (uint64_t)(p->ranges[i].hi - p->ranges[i].lo) + 1;
        if (n < sz)
            return p->ranges[i].lo + (uint32_t)n;
        n -= sz;
    }
    return p->ranges[0].lo;
}

/* ---- matching (first packet of a flow) ---- */

static bool in_u32(const uint32_t *v, uint32_t n, uint32_t x)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static bool in_pfx(const struct nat_pfx *v, uint32_t n, uint32_t a)
{
    if (!n)
        return true;
    for (uint32_t i = 0; i < n; i++)
        if ((a & v[i].mask) == v[i].addr)
            return true;
    return false;
}

/* Zone / interface sets: empty both = any. */
static bool zone_if_match(const uint32_t *z, uint32_t nz, const uint32_t *ifs, uint32_t ni,
                          uint16_t zone, uint32_t ifindex)
{
    if (!nz && !ni)
        return true;
    return in_u32(z, nz, zone) || in_u32(ifs, ni, ifindex);
}

static bool common_match(const struct nat_rule *r, const struct nat_ctx *c)
{
    if (r->proto && r->proto != c->proto)
        return false;
    if ((r->dport_lo || r->dport_hi) && (c->dport < r->dport_lo || c->dport > r->dport_hi))
        return false;
    return in_pfx(r->src, r->nsrc, c->src);
}

/* The first rule of one kind matching on the way in: ingress zone/interface, destination. */
static const struct nat_rule *match_inbound(const struct nat_set *n, const struct nat_ctx *c,
                                            int kind)
{
    if (!n)
        return NULL;
    for (uint32_t i = 0; i < n->nrules; i++) {
        const struct nat_rule *r = &n->rules[i];
        if (r->kind != kind)
            continue;
        if (zone_if_match(r->fz, r->nfz, r->fi, r->nfi, c->in_zone, c->in_if) &&
            common_match(r, c) && in_pfx(r->dst, r->ndst, c->dst))
            return r;
    }
    return NULL;
}

const struct nat_rule *nat_match_static_in(const struct nat_set *n, const struct nat_ctx *c)
{
    return match_inbound(n, c, NAT_K_STATIC);
}

const struct nat_rule *nat_match_static_out(const struct nat_set *n, const struct nat_ctx *c)
{
    if (!n)
        return NULL;
    for (uint32_t i = 0; i < n->nrules; i++) {
        const struct nat_rule *r = &n->rules[i];
        if (r->kind != NAT_K_STATIC)
            continue;
        /* The reverse of "from zone Z, destination P -> static prefix S": sources in S going
         * out towards Z. */
        if ((c->src & r->stat.mask) == r->stat.addr &&
            zone_if_match(r->fz, r->nfz, r->fi, r->nfi, c->out_zone, c->out_if))
            return r;
    }
    return NULL;
}

const struct nat_rule *nat_match_dest(const struct nat_set *n, const struct nat_ctx *c)
{
    return match_inbound(n, c, NAT_K_DEST);
}

const struct nat_rule *nat_match_source(const struct nat_set *n, const struct nat_ctx *c)
{
    if (!n)
        return NULL;
    for (uint32_t i = 0; i < n->nrules; i++) {
        const struct nat_rule *r = &n->rules[i];
        if (r->kind != NAT_K_SOURCE)
            continue;
        if (zone_if_match(r->fz, r->nfz, r->fi, r->nfi, c->in_zone, c->in_if) &&
            zone_if_match(r->tz, r->ntz, r->ti, r->nti, c->out_zone, c->out_if) &&
            common_match(r, c) && in_pfx(r->dst, r->ndst, c->dst))
            return r;
    }
    return NULL;
}

/* ---- port allocator (worker) ---- */

static inline uint32_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* The internal endpoint's bucket: not keyed by the source (pool or interface), so that a new
 * flow's bucket can be asked for before its rule is known (nat_port_prefetch()); a chain
 * holds the rare same endpoint of several sources side by side. */
static inline uint32_t hash_int(uint32_t a, uint16_t port, uint8_t proto)
{
    return mix((uint64_t)a << 32 | (uint64_t)port << 16 | proto);
}

static inline uint32_t hash_ext(uint32_t a, uint16_t port, uint8_t proto)
{
    return mix(((uint64_t)a << 32 | (uint64_t)port << 8 | proto) ^ 0x9e3779b97f4a7c15ull);
}

/* Zeroed memory in transparent huge pages where the kernel has them (the mappings are read at
 * random by every new flow: with 4 KiB pages a 1 M-session allocator costs a TLB miss per
 * access); every page is written by nat_ports_init(), so the hot path never faults. */
static void *map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (bytes >= (2u << 20))
        (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

int nat_ports_init(struct nat_ports *np, uint32_t cap)
{
    memset(np, 0, sizeof(*np));
    if (cap == 0 || cap > (1u << 30))
        return -EINVAL;
    /* At least two buckets per mapping: the lookups of an absent endpoint (every new flow's,
     * most external candidates') find an empty bucket more often than not, instead of a
     * chain to walk through the table (a cache miss per entry). */
    uint32_t nb = 1;
    while (nb < 2 * cap)
        nb <<= 1;
    np->cap = cap;
    np->mask = nb - 1;
    np->m = map_zeroed((size_t)cap * sizeof(*np->m));
    np->hi = map_zeroed((size_t)nb * sizeof(uint32_t));
    np->he = map_zeroed((size_t)nb * sizeof(uint32_t));
    if (!np->m || !np->hi || !np->he) {
        nat_ports_free(np);
        return -ENOMEM;
    }
    memset(np->hi, 0xff, (size_t)nb * sizeof(uint32_t));
    memset(np->he, 0xff, (size_t)nb * sizeof(uint32_t));
    for (uint32_t i = 0; i < cap; i++)
        np->m[i].next_i = i + 1 < cap ? i + 1 : NAT_NONE;
    np->free_head = 0;
    return 0;
}

void nat_ports_free(struct nat_ports *np)
{
    if (np->m)
        munmap(np->m, (size_t)np->cap * sizeof(*np->m));
    if (np->hi)
        munmap(np->hi, ((size_t)np->mask + 1) * sizeof(uint32_t));
    if (np->he)
        munmap(np->he, ((size_t)np->mask + 1) * sizeof(uint32_t));
    memset(np, 0, sizeof(*np));
}

size_t nat_ports_bytes(const struct nat_ports *np)
{
    return (size_t)np->cap * sizeof(*np->m) + 2 * ((size_t)np->mask + 1) * sizeof(uint32_t);
}

static uint32_t find_int(const struct nat_ports *np, uint32_t a, uint16_t port, uint8_t proto,
                         uint16_t src)
{
    for (uint32_t i = np->hi[hash_int(a, port, proto) & np->mask]; i != NAT_NONE;
         i = np->m[i].next_i) {
        const struct nat_map *m = &np->m[i];
        if (m->int_addr == a && m->int_port == port && m->proto == proto && m->src == src)
            return i;
    }
    return NAT_NONE;
}

void nat_port_prefetch(const struct nat_ports *np, uint32_t int_addr, uint16_t int_port,
                       uint8_t proto)
{
    __builtin_prefetch(&np->hi[hash_int(int_addr, int_port, proto) & np->mask]);
}

uint32_t nat_port_find_ext(const struct nat_ports *np, uint32_t a, uint16_t port, uint8_t proto)
{
    for (uint32_t i = np->he[hash_ext(a, port, proto) & np->mask]; i != NAT_NONE;
         i = np->m[i].next_e) {
        const struct nat_map *m = &np->m[i];
        if (m->ext_addr == a && m->ext_port == port && m->proto == proto)
            return i;
    }
    return NAT_NONE;
}

static uint32_t map_add(struct nat_ports *np, uint32_t ia, uint16_t ip, uint8_t proto, uint16_t src,
                        uint32_t ea, uint16_t ep)
{
    uint32_t i = np->free_head;
    if (i == NAT_NONE)
        return NAT_NONE;
    struct nat_map *m = &np->m[i];
    np->free_head = m->next_i;
    m->int_addr = ia;
    m->int_port = ip;
    m->proto = proto;
    m->src = src;
    m->ext_addr = ea;
    m->ext_port = ep;
    m->refs = 1;
    m->used = 1;
    uint32_t *bi = &np->hi[hash_int(ia, ip, proto) & np->mask];
    m->next_i = *bi;
    *bi = i;
    uint32_t *be = &np->he[hash_ext(ea, ep, proto) & np->mask];
    m->next_e = *be;
    *be = i;
    np->active++;
    np->src[src].in_use++;
    np->src[src].allocations++;
    return i;
}

static void map_del(struct nat_ports *np, uint32_t i)
{
    struct nat_map *m = &np->m[i];
    uint32_t *pp = &np->hi[hash_int(m->int_addr, m->int_port, m->proto) & np->mask];
    while (*pp != i)
        pp = &np->m[*pp].next_i;
    *pp = m->next_i;
    pp = &np->he[hash_ext(m->ext_addr, m->ext_port, m->proto) & np->mask];
    while (*pp != i)
        pp = &np->m[*pp].next_e;
    *pp = m->next_e;
    np->src[m->src].in_use--;
    np->active--;
    m->used = 0;
    m->refs = 0;
    m->next_i = np->free_head;
    np->free_head = i;
}

int nat_port_alloc(struct nat_ports *np, const struct nat_req *r, uint32_t *ext_addr,
                   uint16_t *ext_port)
{
    struct nat_src_ctr *sc = &np->src[r->src];
    const uint16_t nw = r->nworkers ? r->nworkers : 1;
    const uint16_t w = r->worker % nw;
    uint32_t plo = NAT_IF_PORT_LO, phi = NAT_IF_PORT_HI;
    uint64_t naddr = 1;
    bool no_xlate = false, persistent = false;
    if (r->pool) {
        plo = r->pool->port_lo;
        phi = r->pool->port_hi;
        naddr = r->pool->naddr;
        no_xlate = r->pool->no_xlate;
        persistent = r->pool->persistent;
    }
    /* This worker's slice of the ports (see nat.h). */
    uint32_t lo = plo, span = phi - plo + 1;
    bool room = true;
    if (!no_xlate) {
        const uint32_t slice = span / nw;
        room = slice != 0;
        lo = plo + w * slice;
        span = slice ? slice : 1;
    }
    const uint64_t start = naddr > 1 ? mix(r->int_addr) % naddr : 0;
    /* The entry a new mapping would take and the first external candidate's bucket are
     * requested before the internal endpoint's chain is walked: their misses overlap. */
    if (np->free_head != NAT_NONE)
        __builtin_prefetch(&np->m[np->free_head]);
    if (!no_xlate && room) {
        const uint32_t ea0 = r->pool ? nat_spool_addr(r->pool, start) : r->if_addr;
        const uint16_t p0 = (uint16_t)(lo + sc->cursor % span);
        __builtin_prefetch(&np->he[hash_ext(ea0, p0, r->proto) & np->mask]);
    }
    uint32_t i = find_int(np, r->int_addr, r->int_port, r->proto, r->src);
    if (i != NAT_NONE) { /* endpoint-independent mapping */
        np->m[i].refs++;
        *ext_addr = np->m[i].ext_addr;
        *ext_port = np->m[i].ext_port;
        return 0;
    }
    if (np->free_head == NAT_NONE || !room)
        goto exhausted;
    if (!no_xlate && sc->in_use >= (uint64_t)span * naddr)
        goto exhausted;
    const uint64_t ntry = persistent ? 1 : (naddr < 8 ? naddr : 8);
    for (uint64_t k = 0; k < ntry; k++) {
        const uint64_t an = (start + k) % naddr;
        if (no_xlate && naddr >= nw && an % nw != w)
            continue; /* another worker's address */
        const uint32_t ea = r->pool ? nat_spool_addr(r->pool, an) : r->if_addr;
        if (no_xlate) {
            if (r->int_port < plo || r->int_port > phi ||
                nat_port_find_ext(np, ea, r->int_port, r->proto) != NAT_NONE)
                continue;
            i = map_add(np, r->int_addr, r->int_port, r->proto, r->src, ea, r->int_port);
        } else {
            const uint32_t probes = span < NAT_PROBES ? span : NAT_PROBES;
            for (uint32_t p = 0; p < probes; p++) {
                const uint16_t port = (uint16_t)(lo + (sc->cursor++ % span));
                if (nat_port_find_ext(np, ea, port, r->proto) == NAT_NONE) {
                    i = map_add(np, r->int_addr, r->int_port, r->proto, r->src, ea, port);
                    break;
                }
            }
        }
        if (i != NAT_NONE) {
            *ext_addr = ea;
            *ext_port = np->m[i].ext_port;
            return 0;
        }
    }
exhausted:
    sc->exhausted++;
    return -ENOSPC;
}

void nat_port_release(struct nat_ports *np, uint32_t int_addr, uint16_t int_port, uint8_t proto,
                      uint16_t src)
{
    uint32_t i = find_int(np, int_addr, int_port, proto, src);
    if (i == NAT_NONE)
        return;
    if (--np->m[i].refs == 0)
        map_del(np, i);
}

int nat_port_claim(struct nat_ports *np, uint32_t int_addr, uint16_t int_port, uint8_t proto,
                   uint16_t src, uint32_t ext_addr, uint16_t ext_port)
{
    uint32_t i = find_int(np, int_addr, int_port, proto, src);
    if (i != NAT_NONE) {
        if (np->m[i].ext_addr != ext_addr || np->m[i].ext_port != ext_port)
            return -EEXIST;
        np->m[i].refs++;
        return 0;
    }
    if (nat_port_find_ext(np, ext_addr, ext_port, proto) != NAT_NONE)
        return -EEXIST;
    return map_add(np, int_addr, int_port, proto, src, ext_addr, ext_port) == NAT_NONE ? -ENOSPC
                                                                                       : 0;
}
