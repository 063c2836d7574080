/* SPDX-License-Identifier: MIT */
#include "policy.h"

#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* ---- names ---- */

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int pol_names_init(struct pol_names *nm, uint32_t max, const char *first_key,
                   const char *first_display)
{
    memset(nm, 0, sizeof(*nm));
    nm->max = max;
    nm->hsize = 16;
    while (nm->hsize < max * 2)
        nm->hsize <<= 1;
    nm->key = calloc(max, sizeof(char *));
    nm->display = calloc(max, sizeof(char *));
    nm->hash = calloc(nm->hsize, sizeof(uint32_t));
    if (!nm->key || !nm->display || !nm->hash) {
        pol_names_free(nm);
        return -ENOMEM;
    }
    int rc = pol_names_intern(nm, first_key, first_display);
    if (rc < 0) {
        pol_names_free(nm);
        return rc;
    }
    return 0;
}

void pol_names_free(struct pol_names *nm)
{
    for (uint32_t i = 0; i < nm->n; i++) {
        free(nm->key[i]);
        free(nm->display[i]);
    }
    free(nm->key);
    free(nm->display);
    free(nm->hash);
    memset(nm, 0, sizeof(*nm));
}

int pol_names_intern(struct pol_names *nm, const char *key, const char *display)
{
    uint32_t m = nm->hsize - 1;
    for (uint32_t i = str_hash(key) & m;; i = (i + 1) & m) {
        uint32_t v = nm->hash[i];
        if (v == 0) {
            if (nm->n == nm->max)
                return -ENOSPC;
            char *k = strdup(key), *d = strdup(display);
            if (!k || !d) {
                free(k);
                free(d);
                return -ENOMEM;
            }
            nm->key[nm->n] = k;
            nm->display[nm->n] = d;
            nm->hash[i] = ++nm->n;
            return (int)(nm->n - 1);
        }
        if (strcmp(nm->key[v - 1], key) == 0)
            return (int)(v - 1);
    }
}

const char *pol_names_display(const struct pol_names *nm, uint32_t slot)
{
    return nm && slot < nm->n ? nm->display[slot] : "";
}

/* ---- compiled form ---- */

/* Elementary intervals of one dimension: interval i starts at lo[i] (lo[0] = 0) and holds
 * the bitset at pool + bs[i]. */
struct dim {
    uint32_t n;
    u128 *lo;
    uint32_t *bs;
};

struct pol_sub {
    uint32_t rule;
    uint32_t app_timeout;
    uint16_t app_slot;
    uint8_t any; /* every protocol and port */
};

struct pol_proto {
    struct dim sport, dport;
};

struct pol_pair {
    uint32_t nsub, words;
    struct pol_sub *subs;
    struct dim src[2], dst[2]; /* [0] IPv4, [1] IPv6 */
    uint8_t pmap[256];         /* protocol -> protos[]; 0: a protocol no application names */
    uint32_t nproto;
    struct pol_proto *protos;
    uint64_t *pool; /* bitsets of `words` words; offset 0 is the empty one */
    uint32_t pool_words;
};

struct pol_set {
    uint32_t maxz;
    struct pol_pair **pairs; /* (maxz + 1)^2, NULL: no policy for the pair */
    uint32_t nrules;
    struct pol_rule *rules;
    uint8_t default_action;
    size_t bytes;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static inline uint32_t dim_find(const struct dim *d, u128 v)
{
    /* The last interval whose start is <= v (lo[0] == 0). */
    uint32_t lo = 0, n = d->n;
    while (n > 1) {
        uint32_t half = n / 2;
        if (d->lo[lo + half] <= v)
            lo += half;
        n -= half;
    }
    return d->bs[lo];
}

static u128 addr_value(const uint8_t *a, unsigned bytes)
{
    u128 v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | a[i];
    return v;
}

/* ---- building one dimension ---- */

struct range {
    u128 lo, hi;
    uint32_t bit;
};

struct rlist {
    struct range *r;
    uint32_t n, cap;
};

static int rlist_add(struct rlist *l, u128 lo, u128 hi, uint32_t bit)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 16;
        struct range *r = realloc(l->r, cap * sizeof(*r));
        if (!r)
            return -ENOMEM;
        l->r = r;
        l->cap = cap;
    }
    l->r[l->n++] = (struct range){lo, hi, bit};
    return 0;
}

static int u128_cmp(const void *a, const void *b)
{
    u128 x = *(const u128 *)a, y = *(const u128 *)b;
    return x < y ? -1 : x > y;
}

/* Bitset pool with de-duplication (open addressing over bitset offsets). */
struct pool_builder {
    struct pol_pair *pp;
    uint32_t cap_words;
    uint32_t *h; /* offset + 1 */
    uint32_t hsize, used;
};

static uint64_t bits_hash(const uint64_t *b, uint32_t words)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < words; i++) {
        h ^= b[i];
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    return h;
}

static int pool_grow_hash(struct pool_builder *pb)
{
    uint32_t nsize = pb->hsize ? pb->hsize * 2 : 64;
    uint32_t *nh = calloc(nsize, sizeof(uint32_t));
    if (!nh)
        return -ENOMEM;
    const uint32_t w = pb->pp->words;
    for (uint32_t i = 0; i < pb->hsize; i++) {
        if (!pb->h[i])
            continue;
        uint64_t hv = bits_hash(pb->pp->pool + pb->h[i] - 1, w);
        uint32_t j = (uint32_t)hv & (nsize - 1);
        while (nh[j])
            j = (j + 1) & (nsize - 1);
        nh[j] = pb->h[i];
    }
    free(pb->h);
    pb->h = nh;
    pb->hsize = nsize;
    return 0;
}

/* The offset of bitset b in the pool, adding it if new. */
static int pool_put(struct pool_builder *pb, const uint64_t *b, uint32_t *off)
{
    struct pol_pair *pp = pb->pp;
    const uint32_t w = pp->words;
    if ((pb->used + 1) * 2 > pb->hsize && pool_grow_hash(pb))
        return -ENOMEM;
    uint64_t hv = bits_hash(b, w);
    uint32_t j = (uint32_t)hv & (pb->hsize - 1);
    while (pb->h[j]) {
        if (memcmp(pp->pool + pb->h[j] - 1, b, w * sizeof(uint64_t)) == 0) {
            *off = pb->h[j] - 1;
            return 0;
        }
        j = (j + 1) & (pb->hsize - 1);
    }
    if (pp->pool_words + w > pb->cap_words) {
        uint32_t cap = pb->cap_words ? pb->cap_words * 2 : w * 16;
        while (cap < pp->pool_words + w)
            cap *= 2;
        uint64_t *np = realloc(pp->pool, (size_t)cap * sizeof(uint64_t));
        if (!np)
            return -ENOMEM;
        pp->pool = np;
        pb->cap_words = cap;
    }
    *off = pp->pool_words;
    memcpy(pp->pool + pp->pool_words, b, w * sizeof(uint64_t));
    pp->pool_words += w;
    pb->h[j] = *off + 1;
    pb->used++;
    return 0;
}

static uint32_t bound_find(const u128 *b, uint32_t n, u128 v)
{
    uint32_t lo = 0;
    while (n > 1) {
        uint32_t half = n / 2;
        if (b[lo + half] <= v)
            lo += half;
        n -= half;
    }
    return lo;
}

/* Cuts [0, max] at every range edge and stores each interval's bitset. */
static int dim_build(struct dim *d, const struct rlist *l, u128 max, struct pool_builder *pb)
{
    const uint32_t w = pb->pp->words;
    u128 *b = malloc(((size_t)l->n * 2 + 1) * sizeof(u128));
    if (!b)
        return -ENOMEM;
    uint32_t nb = 0;
    b[nb++] = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        b[nb++] = l->r[i].lo;
        if (l->r[i].hi < max)
            b[nb++] = l->r[i].hi + 1;
    }
    qsort(b, nb, sizeof(u128), u128_cmp);
    uint32_t n = 0;
    for (uint32_t i = 0; i < nb; i++)
        if (n == 0 || b[i] != b[n - 1])
            b[n++] = b[i];
    uint64_t *bits = calloc((size_t)n * w, sizeof(uint64_t));
    d->lo = malloc((size_t)n * sizeof(u128));
    d->bs = malloc((size_t)n * sizeof(uint32_t));
    if (!bits || !d->lo || !d->bs) {
        free(b);
        free(bits);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < l->n; i++) {
        uint32_t i0 = bound_find(b, n, l->r[i].lo), i1 = bound_find(b, n, l->r[i].hi);
        uint32_t bit = l->r[i].bit;
        for (uint32_t k = i0; k <= i1; k++)
            bits[(size_t)k * w + bit / 64] |= 1ull << (bit % 64);
    }
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        d->lo[i] = b[i];
        rc = pool_put(pb, bits + (size_t)i * w, &d->bs[i]);
    }
    d->n = n;
    free(b);
    free(bits);
    return rc;
}

static void dim_free(struct dim *d)
{
    free(d->lo);
    free(d->bs);
}

static void pair_free(struct pol_pair *pp)
{
    if (!pp)
        return;
    for (int f = 0; f < 2; f++) {
        dim_free(&pp->src[f]);
        dim_free(&pp->dst[f]);
    }
    for (uint32_t i = 0; i < pp->nproto; i++) {
        dim_free(&pp->protos[i].sport);
        dim_free(&pp->protos[i].dport);
    }
    free(pp->protos);
    free(pp->subs);
    free(pp->pool);
    free(pp);
}

void pol_free(struct pol_set *p)
{
    if (!p)
        return;
    if (p->pairs) {
        size_t np = (size_t)(p->maxz + 1) * (p->maxz + 1);
        for (size_t i = 0; i < np; i++)
            pair_free(p->pairs[i]);
    }
    free(p->pairs);
    for (uint32_t i = 0; i < p->nrules; i++)
        free(p->rules[i].name);
    free(p->rules);
    free(p);
}

static bool is_port_proto(uint32_t p)
{
    return p == 6 || p == 17 || p == 132 || p == 136 || p == 33;
}

static bool is_icmp_proto(uint32_t p)
{
    return p == 1 || p == 58;
}

/* An application that matches every protocol and port. */
static bool app_is_any(const Moat__Application *a)
{
    return a->any || a->protocol == 0;
}

/* Adds an address match of sub-rule bit to the IPv4 / IPv6 range lists. */
static int add_addrs(const Moat__AddressMatch *m, uint32_t bit, struct rlist *l4, struct rlist *l6,
                     const char *what, const char *pname, char *err, size_t errlen)
{
    const u128 max4 = 0xffffffffu, max6 = ~(u128)0;
    if (!m || m->any) {
        if (rlist_add(l4, 0, max4, bit) || rlist_add(l6, 0, max6, bit))
            return -ENOMEM;
        return 0;
    }
    for (size_t i = 0; i < m->n_prefixes; i++) {
        const Moat__Prefix *px = m->prefixes[i];
        size_t alen = px ? px->addr.len : 0;
        if (alen != 4 && alen != 16)
            return fail(err, errlen, "policy %s: %s prefix %zu has %zu address bytes", pname, what,
                        i, alen);
        unsigned bits = alen * 8;
        if (px->len > bits)
            return fail(err, errlen, "policy %s: %s prefix %zu is /%u", pname, what, i, px->len);
        u128 v = addr_value(px->addr.data, (unsigned)alen);
        u128 host = 0;
        if (px->len == 0)
            host = bits == 32 ? max4 : max6;
        else if (px->len < bits)
            host = ((u128)1 << (bits - px->len)) - 1;
        u128 lo = v & ~host;
        if (bits == 32)
            lo &= max4;
        if (rlist_add(alen == 4 ? l4 : l6, lo, lo | host, bit))
            return -ENOMEM;
    }
    return 0;
}

struct pair_build {
    struct rlist src[2], dst[2];
    struct rlist sp[256], dp[256]; /* by protocol slot */
    uint32_t nsub, capsub;
    struct pol_sub *subs;
    uint8_t pmap[256];
    uint32_t nproto;
};

static void pair_build_free(struct pair_build *b)
{
    for (int f = 0; f < 2; f++) {
        free(b->src[f].r);
        free(b->dst[f].r);
    }
    for (int i = 0; i < 256; i++) {
        free(b->sp[i].r);
        free(b->dp[i].r);
    }
    free(b->subs);
}

static int sub_add(struct pair_build *b, uint32_t rule, uint16_t app_slot, uint32_t timeout,
                   bool any)
{
    if (b->nsub == b->capsub) {
        uint32_t cap = b->capsub ? b->capsub * 2 : 16;
        struct pol_sub *s = realloc(b->subs, cap * sizeof(*s));
        if (!s)
            return -ENOMEM;
        b->subs = s;
        b->capsub = cap;
    }
    b->subs[b->nsub] = (struct pol_sub){rule, timeout, app_slot, any};
    return (int)b->nsub++;
}

static uint8_t proto_slot(struct pair_build *b, uint32_t proto)
{
    if (!b->pmap[proto])
        b->pmap[proto] = (uint8_t)++b->nproto;
    return b->pmap[proto];
}

static int build_pair(struct pair_build *b, struct pol_pair **out)
{
    struct pol_pair *pp = calloc(1, sizeof(*pp));
    if (!pp)
        return -ENOMEM;
    pp->nsub = b->nsub;
    pp->words = (b->nsub + 63) / 64;
    pp->subs = b->subs;
    b->subs = NULL;
    memcpy(pp->pmap, b->pmap, sizeof(pp->pmap));
    pp->nproto = b->nproto + 1;
    pp->protos = calloc(pp->nproto, sizeof(*pp->protos));
    struct pool_builder pb = {.pp = pp};
    int rc = pp->protos ? 0 : -ENOMEM;
    /* Offset 0: the empty bitset. */
    uint64_t *zero = calloc(pp->words, sizeof(uint64_t));
    uint32_t off;
    if (!rc)
        rc = zero ? pool_put(&pb, zero, &off) : -ENOMEM;
    free(zero);
    const u128 max4 = 0xffffffffu, max6 = ~(u128)0;
    for (int f = 0; f < 2 && !rc; f++) {
        rc = dim_build(&pp->src[f], &b->src[f], f ? max6 : max4, &pb);
        if (!rc)
            rc = dim_build(&pp->dst[f], &b->dst[f], f ? max6 : max4, &pb);
    }
    for (uint32_t i = 0; i < pp->nproto && !rc; i++) {
        rc = dim_build(&pp->protos[i].sport, &b->sp[i], 0xffff, &pb);
        if (!rc)
            rc = dim_build(&pp->protos[i].dport, &b->dp[i], 0xffff, &pb);
    }
    free(pb.h);
    if (rc) {
        pair_free(pp);
        return rc;
    }
    *out = pp;
    return 0;
}

static const char *zone_name(const Moat__Snapshot *s, uint32_t id, char *buf, size_t len)
{
    for (size_t i = 0; i < s->n_zones; i++)
        if (s->zones[i]->id == id && s->zones[i]->name && s->zones[i]->name[0])
            return s->zones[i]->name;
    snprintf(buf, len, "#%u", id);
    return buf;
}

static size_t dim_bytes(const struct dim *d)
{
    return (size_t)d->n * (sizeof(u128) + sizeof(uint32_t));
}

int pol_compile(const Moat__Snapshot *s, struct pol_names *pnames, struct pol_names *anames,
                struct pol_set **out, char *err, size_t errlen)
{
    *out = NULL;
    struct pol_set *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->default_action =
        s->default_policy == MOAT__DEFAULT_POLICY__DEFAULT_PERMIT_ALL ? POL_PERMIT : POL_DENY;
    int rc = 0;
    struct pair_build **pb = NULL;
    uint32_t npairs = 0;

    /* Zones named by policies or zones; interfaces are checked by the snapshot code. */
    uint32_t maxz = 0;
    for (size_t i = 0; i < s->n_zones; i++) {
        if (s->zones[i]->id == 0 || s->zones[i]->id > POL_MAX_ZONE) {
            rc = fail(err, errlen, "zone %s: id %u is out of range 1..%u",
                      s->zones[i]->name ? s->zones[i]->name : "?", s->zones[i]->id, POL_MAX_ZONE);
            goto out;
        }
        if (s->zones[i]->id > maxz)
            maxz = s->zones[i]->id;
    }
    if (s->n_policies >= POL_MAX_SLOTS) {
        rc = fail(err, errlen, "%zu policies: at most %u are supported", s->n_policies,
                  POL_MAX_SLOTS - 1);
        goto out;
    }
    for (size_t i = 0; i < s->n_policies; i++) {
        const Moat__Policy *po = s->policies[i];
        const char *nm = po->name ? po->name : "";
        if (po->from_zone == 0 || po->from_zone > POL_MAX_ZONE || po->to_zone == 0 ||
            po->to_zone > POL_MAX_ZONE) {
            rc = fail(err, errlen, "policy %s: zone ids %u -> %u out of range 1..%u", nm,
                      po->from_zone, po->to_zone, POL_MAX_ZONE);
            goto out;
        }
        if (po->action != MOAT__POLICY_ACTION__POLICY_PERMIT &&
            po->action != MOAT__POLICY_ACTION__POLICY_DENY &&
            po->action != MOAT__POLICY_ACTION__POLICY_REJECT) {
            rc = fail(err, errlen, "policy %s: unknown action %d", nm, (int)po->action);
            goto out;
        }
        if (po->from_zone > maxz)
            maxz = po->from_zone;
        if (po->to_zone > maxz)
            maxz = po->to_zone;
    }
    p->maxz = maxz;
    npairs = (maxz + 1) * (maxz + 1);
    p->pairs = calloc(npairs, sizeof(*p->pairs));
    p->rules = calloc(s->n_policies ? s->n_policies : 1, sizeof(*p->rules));
    pb = calloc(npairs, sizeof(*pb));
    if (!p->pairs || !p->rules || !pb) {
        rc = -ENOMEM;
        goto out;
    }

    for (size_t i = 0; i < s->n_policies; i++) {
        const Moat__Policy *po = s->policies[i];
        const char *nm = po->name ? po->name : "";
        struct pol_rule *r = &p->rules[p->nrules++];
        r->id = po->id;
        r->from = (uint16_t)po->from_zone;
        r->to = (uint16_t)po->to_zone;
        r->action = po->action == MOAT__POLICY_ACTION__POLICY_PERMIT ? POL_PERMIT
                    : po->action == MOAT__POLICY_ACTION__POLICY_DENY ? POL_DENY
                                                                     : POL_REJECT;
        r->name = strdup(nm);
        if (!r->name) {
            rc = -ENOMEM;
            goto out;
        }
        if (pnames) {
            char b1[16], b2[16];
            const char *fz = zone_name(s, po->from_zone, b1, sizeof(b1));
            const char *tz = zone_name(s, po->to_zone, b2, sizeof(b2));
            size_t klen = strlen(fz) + strlen(tz) + strlen(nm) + 3;
            char *key = malloc(klen);
            if (!key) {
                rc = -ENOMEM;
                goto out;
            }
            snprintf(key, klen, "%s\x1f%s\x1f%s", fz, tz, nm);
            int slot = pol_names_intern(pnames, key, nm);
            free(key);
            if (slot == -ENOSPC) {
                /* More distinct policies than counter slots since the helper started: this
                 * one shares the last slot's counters; matching is not affected. */
                if (!pnames->overflowed)
                    log_warn("more than %u distinct policies since the helper started: the "
                             "newest share one set of hit counters",
                             pnames->max);
                pnames->overflowed = true;
                slot = (int)pnames->max - 1;
            } else if (slot < 0) {
                rc = slot;
                goto out;
            }
            r->slot = (uint16_t)slot;
        } else {
            r->slot = (uint16_t)(i + 1);
        }

        struct pair_build **bp = &pb[po->from_zone * (maxz + 1) + po->to_zone];
        if (!*bp && !(*bp = calloc(1, sizeof(**bp)))) {
            rc = -ENOMEM;
            goto out;
        }
        struct pair_build *b = *bp;
        /* One sub-rule per application, in order. */
        size_t napps = po->application_any ? 0 : po->n_applications;
        uint32_t first = b->nsub;
        if (napps == 0) {
            int sub = sub_add(b, p->nrules - 1, POL_APP_ANY_SLOT, 0, true);
            if (sub < 0) {
                rc = sub;
                goto out;
            }
        }
        for (size_t a = 0; a < napps; a++) {
            const Moat__Application *ap = po->applications[a];
            const char *an = ap->name ? ap->name : "";
            uint16_t aslot = POL_APP_ANY_SLOT;
            if (anames && !app_is_any(ap)) {
                int sl = pol_names_intern(anames, an, an);
                aslot = sl > 0 ? (uint16_t)sl : POL_APP_ANY_SLOT;
            }
            if (ap->protocol > 255) {
                rc = fail(err, errlen, "policy %s: application %s has protocol %u", nm, an,
                          ap->protocol);
                goto out;
            }
            int sub = sub_add(b, p->nrules - 1, aslot, ap->inactivity_timeout, app_is_any(ap));
            if (sub < 0) {
                rc = sub;
                goto out;
            }
            if (app_is_any(ap))
                continue; /* placed below, once every protocol slot of the pair exists */
            uint8_t ps = proto_slot(b, ap->protocol);
            uint32_t slo = 0, shi = 0xffff, dlo = 0, dhi = 0xffff;
            if (is_port_proto(ap->protocol)) {
                if (ap->dport_lo || ap->dport_hi) {
                    dlo = ap->dport_lo;
                    dhi = ap->dport_hi < ap->dport_lo ? ap->dport_lo : ap->dport_hi;
                }
                if (ap->sport_lo || ap->sport_hi) {
                    slo = ap->sport_lo;
                    shi = ap->sport_hi < ap->sport_lo ? ap->sport_lo : ap->sport_hi;
                }
                if (dhi > 0xffff || shi > 0xffff) {
                    rc = fail(err, errlen, "policy %s: application %s has a port above 65535", nm,
                              an);
                    goto out;
                }
            } else if (is_icmp_proto(ap->protocol) && ap->icmp_type >= 0) {
                if (ap->icmp_type > 255 || ap->icmp_code > 255) {
                    rc = fail(err, errlen, "policy %s: application %s: bad ICMP type/code", nm, an);
                    goto out;
                }
                dlo = (uint32_t)ap->icmp_type << 8;
                dhi = dlo | 0xff;
                if (ap->icmp_code >= 0)
                    dlo = dhi = dlo | (uint32_t)ap->icmp_code;
            }
            if (rlist_add(&b->sp[ps], slo, shi, (uint32_t)sub) ||
                rlist_add(&b->dp[ps], dlo, dhi, (uint32_t)sub)) {
                rc = -ENOMEM;
                goto out;
            }
        }
        /* Addresses apply to every sub-rule of the policy. */
        for (uint32_t sub = first; sub < b->nsub; sub++) {
            rc = add_addrs(po->source, sub, &b->src[0], &b->src[1], "source", nm, err, errlen);
            if (!rc)
                rc = add_addrs(po->destination, sub, &b->dst[0], &b->dst[1], "destination", nm, err,
                               errlen);
            if (rc)
                goto out;
        }
    }

    /* Any-application sub-rules match every protocol slot, including slot 0 (protocols no
     * application of the pair names). */
    for (uint32_t z = 0; z < npairs; z++) {
        struct pair_build *b = pb[z];
        if (!b)
            continue;
        for (uint32_t sub = 0; sub < b->nsub; sub++) {
            if (!b->subs[sub].any)
                continue;
            for (uint32_t ps = 0; ps <= b->nproto; ps++) {
                if (rlist_add(&b->sp[ps], 0, 0xffff, sub) ||
                    rlist_add(&b->dp[ps], 0, 0xffff, sub)) {
                    rc = -ENOMEM;
                    goto out;
                }
            }
        }
        rc = build_pair(b, &p->pairs[z]);
        if (rc)
            goto out;
    }

    p->bytes = sizeof(*p) + npairs * sizeof(*p->pairs) + p->nrules * sizeof(*p->rules);
    for (uint32_t z = 0; z < npairs; z++) {
        const struct pol_pair *pp = p->pairs[z];
        if (!pp)
            continue;
        p->bytes += sizeof(*pp) + pp->nsub * sizeof(*pp->subs) + pp->pool_words * 8ull;
        for (int f = 0; f < 2; f++)
            p->bytes += dim_bytes(&pp->src[f]) + dim_bytes(&pp->dst[f]);
        for (uint32_t i = 0; i < pp->nproto; i++)
            p->bytes += dim_bytes(&pp->protos[i].sport) + dim_bytes(&pp->protos[i].dport);
    }
out:
    if (pb) {
        for (uint32_t z = 0; z < npairs; z++) {
            if (pb[z])
                pair_build_free(pb[z]);
            free(pb[z]);
        }
        free(pb);
    }
    if (rc) {
        pol_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void pol_lookup(const struct pol_set *p, uint16_t from, uint16_t to, const struct pol_key *k,
                struct pol_result *r)
{
    const struct pol_pair *pp =
        from <= p->maxz && to <= p->maxz ? p->pairs[(uint32_t)from * (p->maxz + 1) + to] : NULL;
    if (pp) {
        const int f = k->family == 6;
        const unsigned alen = f ? 16 : 4;
        const uint64_t *a = pp->pool + dim_find(&pp->src[f], addr_value(k->src, alen));
        const uint64_t *b = pp->pool + dim_find(&pp->dst[f], addr_value(k->dst, alen));
        const struct pol_proto *pr = &pp->protos[pp->pmap[k->proto]];
        const uint64_t *c = pp->pool + dim_find(&pr->sport, k->sport);
        const uint64_t *d = pp->pool + dim_find(&pr->dport, k->dport);
        for (uint32_t w = 0; w < pp->words; w++) {
            uint64_t x = a[w] & b[w] & c[w] & d[w];
            if (x) {
                const struct pol_sub *sub = &pp->subs[w * 64 + (uint32_t)__builtin_ctzll(x)];
                const struct pol_rule *rule = &p->rules[sub->rule];
                r->action = rule->action;
                r->slot = rule->slot;
                r->app_slot = sub->app_slot;
                r->app_timeout = sub->app_timeout;
                r->policy_id = rule->id;
                r->rule = (int32_t)sub->rule;
                return;
            }
        }
    }
    r->action = p->default_action;
    r->slot = POL_DEFAULT_SLOT;
    r->app_slot = POL_APP_ANY_SLOT;
    r->app_timeout = 0;
    r->policy_id = 0;
    r->rule = -1;
}

uint32_t pol_rule_count(const struct pol_set *p)
{
    return p ? p->nrules : 0;
}

const struct pol_rule *pol_rule_at(const struct pol_set *p, uint32_t i)
{
    return i < p->nrules ? &p->rules[i] : NULL;
}

uint8_t pol_default_action(const struct pol_set *p)
{
    return p->default_action;
}

size_t pol_bytes(const struct pol_set *p)
{
    return p ? p->bytes : 0;
}
