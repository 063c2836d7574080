/* SPDX-License-Identifier: MIT */
/* config_nat.c — `security nat source|destination|static`: pools, rule-sets and rules. */
#include "config_internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"source", "destination", "static"};

const char *config_nat_kind_name(enum cfg_nat_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : "?";
}

static int ignore(struct cc *cc, const struct config_node *n, void *ctx)
{
    return 0;
}

/* The `word` view of an item's keyword, for the helpers that point at a word. */
static struct config_word item_word(const struct cc_item *it)
{
    struct config_word w = {.text = it->kw, .line = it->line, .col = it->col};
    return w;
}

static void prefix_range(const struct cfg_prefix *p, struct cfg_addr_range *r)
{
    unsigned bits = p->family == 6 ? 128 : 32;
    r->family = p->family;
    memcpy(r->lo, p->addr, 16);
    memcpy(r->hi, p->addr, 16);
    for (unsigned i = p->len; i < bits; i++)
        r->hi[i / 8] |= (uint8_t)(0x80u >> (i % 8));
}

/* ---- the box's own addresses ---- */

static size_t addr_len(uint8_t family)
{
    return family == 6 ? 16 : 4;
}

static void addr_str(uint8_t family, const uint8_t *a, char *buf, size_t len)
{
    if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)len) && len)
        buf[0] = '\0';
}

static void range_str(const struct cfg_addr_range *r, char *buf, size_t len)
{
    char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
    addr_str(r->family, r->lo, lo, sizeof(lo));
    addr_str(r->family, r->hi, hi, sizeof(hi));
    if (memcmp(r->lo, r->hi, addr_len(r->family)) == 0)
        snprintf(buf, len, "%s", lo);
    else
        snprintf(buf, len, "%s to %s", lo, hi);
}

/*
 * The first address of the box (an interface address or a virtual-address) inside r, or
 * NULL; *ifc is its interface.
 */
static const struct cfg_prefix *box_addr_in(const struct moat_config *cfg,
                                            const struct cfg_addr_range *r,
                                            const struct cfg_interface **ifc)
{
    size_t n = addr_len(r->family);
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        const struct cfg_interface *f = &cfg->ifaces[i];
        for (unsigned pass = 0; pass < 2; pass++) {
            const struct cfg_prefix *v = pass ? f->vips : f->addrs;
            unsigned nv = pass ? f->n_vips : f->n_addrs;
            for (unsigned k = 0; k < nv; k++) {
                if (v[k].family == r->family && memcmp(v[k].addr, r->lo, n) >= 0 &&
                    memcmp(v[k].addr, r->hi, n) <= 0) {
                    *ifc = f;
                    return &v[k];
                }
            }
        }
    }
    return NULL;
}

static bool ranges_overlap(const struct cfg_addr_range *a, const struct cfg_addr_range *b)
{
    size_t n = addr_len(a->family);
    return a->family == b->family && memcmp(a->lo, b->hi, n) <= 0 && memcmp(b->lo, a->hi, n) <= 0;
}

/* ---- source pools ---- */

/*
 * A source pool range may hold neither an address of the box (replies to the translated
 * flows would look like traffic for the box; `source-nat interface` is how a flow shares the
 * interface's address) nor an address another range already hands out.
 */
static int snat_range_check(struct cc *cc, const struct cfg_snat_pool *pool,
                            const struct cfg_addr_range *r, const struct config_word *w)
{
    char rs[96], other[96], a[INET6_ADDRSTRLEN];
    const struct cfg_interface *ifc = NULL;
    const struct cfg_prefix *box = box_addr_in(cc->cfg, r, &ifc);
    range_str(r, rs, sizeof(rs));
    if (box) {
        addr_str(box->family, box->addr, a, sizeof(a));
        return cc_err_word(cc, w,
                           "source pool %s address %s holds %s, an address of interface %s: "
                           "replies to translated flows would be taken for traffic to the box "
                           "itself (use \"source-nat { interface; }\" to translate to the "
                           "interface's address, or give the pool other addresses)",
                           pool->name, rs, a, ifc->name);
    }
    const struct cfg_security *sec = cc->sec;
    for (unsigned p = 0; p < sec->n_snat_pools; p++) {
        const struct cfg_snat_pool *o = &sec->snat_pools[p];
        for (unsigned k = 0; k < o->n_ranges; k++) {
            if (!ranges_overlap(&o->ranges[k], r))
                continue;
            range_str(&o->ranges[k], other, sizeof(other));
            if (o == pool)
                return cc_err_word(cc, w,
                                   "source pool %s address %s overlaps %s, given earlier in the "
                                   "same pool; list each address once",
                                   pool->name, rs, other);
            return cc_err_word(cc, w,
                               "source pool %s address %s overlaps %s of pool %s (line %u): two "
                               "pools would hand out the same addresses and ports; give each "
                               "pool its own addresses",
                               pool->name, rs, other, o->name, o->line);
        }
    }
    return 0;
}

static int snat_pool_address(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_snat_pool *pool = ctx;
    struct cc_item *items;
    unsigned count = 0;
    int rc = cc_items(cc, n, "address { PREFIX; ADDRESS to ADDRESS; }", &items, &count);
    for (unsigned i = 0; !rc && i < count; i++) {
        struct config_word w = item_word(&items[i]);
        struct cfg_prefix lo = {0}, hi = {0};
        struct cfg_addr_range r;
        if ((rc = cc_prefix(cc, &w, "pool address", CC_PFX_NETWORK_OR_HOST, &lo)))
            return rc;
        if (items[i].n_args == 0) {
            prefix_range(&lo, &r);
        } else {
            const struct config_word *a = items[i].args;
            if (strcmp(a[0].text, "to") != 0 || items[i].n_args != 2)
                return cc_err_word(cc, &a[0],
                                   "unexpected \"%s\" in pool address (expected PREFIX or "
                                   "ADDRESS to ADDRESS)",
                                   a[0].text);
            if ((rc = cc_prefix(cc, &a[1], "pool address", CC_PFX_NETWORK_OR_HOST, &hi)))
                return rc;
            unsigned full = lo.family == 6 ? 128 : 32;
            if (lo.len != full || hi.len != full)
                return cc_err_word(cc, lo.len != full ? &w : &a[1],
                                   "a range runs between two single addresses (ADDRESS to "
                                   "ADDRESS)");
            if (hi.family != lo.family)
                return cc_err_word(cc, &a[1], "range %s to %s mixes IPv4 and IPv6", w.text,
                                   a[1].text);
            if (memcmp(lo.addr, hi.addr, 16) > 0)
                return cc_err_word(cc, &a[1], "range %s to %s runs backwards", w.text, a[1].text);
            r.family = lo.family;
            memcpy(r.lo, lo.addr, 16);
            memcpy(r.hi, hi.addr, 16);
        }
        if (pool->n_ranges && pool->family != r.family)
            return cc_err_word(cc, &w, "pool %s mixes IPv4 and IPv6 addresses", pool->name);
        if ((rc = snat_range_check(cc, pool, &r, &w)))
            return rc;
        pool->family = r.family;
        struct cfg_addr_range *slot =
            cfg_arena_push(cc->a, &pool->ranges, &pool->n_ranges, sizeof(*slot));
        if (!slot)
            return cc_oom(cc);
        *slot = r;
    }
    return rc;
}

static int snat_pool_port(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_snat_pool *pool = ctx;
    struct cc_item *items;
    unsigned count = 0;
    bool range = false;
    int rc =
        cc_items(cc, n, "port { range LOW to HIGH; } or port { no-translation; }", &items, &count);
    for (unsigned i = 0; !rc && i < count; i++) {
        const struct cc_item *it = &items[i];
        if (strcmp(it->kw, "no-translation") == 0) {
            if (it->n_args)
                return cc_err_word(cc, &it->args[0], "unexpected \"%s\" after no-translation",
                                   it->args[0].text);
            pool->no_port_translation = true;
        } else if (strcmp(it->kw, "range") == 0) {
            unsigned lo = 0, hi = 0;
            if (it->n_args != 1 && (it->n_args != 3 || strcmp(it->args[1].text, "to") != 0))
                return cc_err(cc, it->line, it->col, "expected \"range LOW to HIGH\"");
            if ((rc = cc_uint(cc, &it->args[0], "port range", 1, 65535, &lo)))
                return rc;
            hi = lo;
            if (it->n_args == 3 && (rc = cc_uint(cc, &it->args[2], "port range", 1, 65535, &hi)))
                return rc;
            if (lo > hi)
                return cc_err_word(cc, &it->args[2], "port range %u to %u runs backwards", lo, hi);
            pool->port_lo = (uint16_t)lo;
            pool->port_hi = (uint16_t)hi;
            range = true;
        } else {
            return cc_err(cc, it->line, it->col,
                          "unknown statement \"%s\" under port (expected one of: range, "
                          "no-translation)",
                          it->kw);
        }
    }
    if (!rc && range && pool->no_port_translation)
        return cc_err_node(cc, n, "pool %s has both a port range and no-translation; keep one",
                           pool->name);
    return rc;
}

static int snat_pool_persistent(struct cc *cc, const struct config_node *n, void *ctx)
{
    ((struct cfg_snat_pool *)ctx)->address_persistent = true;
    return cc_leaf(cc, n, 0, 0, "address-persistent");
}

static int snat_pool(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"address", snat_pool_address, false},
        {"port", snat_pool_port, false},
        {"address-persistent", snat_pool_persistent, false},
        {"description", cc_description, false},
    };
    struct cfg_security *sec = cc->sec;
    int rc = cc_block(cc, n, 1, "pool NAME");
    if (rc)
        return rc;
    const struct config_word *nw = &n->words[0];
    for (unsigned i = 0; i < sec->n_snat_pools; i++) {
        if (strcmp(sec->snat_pools[i].name, nw->text) == 0)
            return cc_err_word(cc, nw, "source pool \"%s\" is already defined on line %u", nw->text,
                               sec->snat_pools[i].line);
    }
    struct cfg_snat_pool *pool =
        cfg_arena_push(cc->a, &sec->snat_pools, &sec->n_snat_pools, sizeof(*pool));
    if (!pool)
        return cc_oom(cc);
    pool->line = n->line;
    pool->col = nw->col;
    pool->port_lo = 1024;
    pool->port_hi = 65535;
    if ((rc = cc_name(cc, nw, "pool", pool->name, sizeof(pool->name))) ||
        (rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), pool)))
        return rc;
    if (!pool->n_ranges)
        return cc_err_word(cc, nw, "pool %s needs addresses: address { PREFIX; }", nw->text);
    return 0;
}

/* ---- destination pools ---- */

static int dnat_pool_address(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_dnat_pool *pool = ctx;
    int rc = cc_leaf(cc, n, 1, 3, "address PREFIX [port PORT]");
    if (rc ||
        (rc = cc_prefix(cc, &n->words[0], "pool address", CC_PFX_NETWORK_OR_HOST, &pool->addr)))
        return rc;
    /* Translating to the box's own address would deliver the flow to the box, not a server. */
    struct cfg_addr_range r;
    const struct cfg_interface *ifc = NULL;
    prefix_range(&pool->addr, &r);
    const struct cfg_prefix *box = box_addr_in(cc->cfg, &r, &ifc);
    if (box) {
        char a[INET6_ADDRSTRLEN];
        addr_str(box->family, box->addr, a, sizeof(a));
        unsigned full = pool->addr.family == 6 ? 128 : 32;
        return cc_err_word(cc, &n->words[0],
                           "destination pool %s address %s %s %s, an address of interface %s: "
                           "translated flows would be delivered to the box itself, not to a "
                           "server behind it; give the pool the server's address",
                           pool->name, n->words[0].text, pool->addr.len == full ? "is" : "contains",
                           a, ifc->name);
    }
    if (n->n_words == 1)
        return 0;
    if (strcmp(n->words[1].text, "port") != 0)
        return cc_err_word(cc, &n->words[1],
                           "unexpected \"%s\" in pool address (expected port PORT)",
                           n->words[1].text);
    if (n->n_words < 3)
        return cc_err_word(cc, &n->words[1], "\"port\" needs a number: address %s port PORT;",
                           n->words[0].text);
    unsigned port = 0;
    if ((rc = cc_uint(cc, &n->words[2], "port", 1, 65535, &port)))
        return rc;
    pool->port = (uint16_t)port;
    return 0;
}

static int dnat_pool(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"address", dnat_pool_address, false},
        {"description", cc_description, false},
    };
    struct cfg_security *sec = cc->sec;
    int rc = cc_block(cc, n, 1, "pool NAME");
    if (rc)
        return rc;
    const struct config_word *nw = &n->words[0];
    for (unsigned i = 0; i < sec->n_dnat_pools; i++) {
        if (strcmp(sec->dnat_pools[i].name, nw->text) == 0)
            return cc_err_word(cc, nw, "destination pool \"%s\" is already defined on line %u",
                               nw->text, sec->dnat_pools[i].line);
    }
    struct cfg_dnat_pool *pool =
        cfg_arena_push(cc->a, &sec->dnat_pools, &sec->n_dnat_pools, sizeof(*pool));
    if (!pool)
        return cc_oom(cc);
    pool->line = n->line;
    if ((rc = cc_name(cc, nw, "pool", pool->name, sizeof(pool->name))) ||
        (rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), pool)))
        return rc;
    if (!pool->addr.family)
        return cc_err_word(cc, nw, "pool %s needs an address: address PREFIX port PORT;", nw->text);
    return 0;
}

/* ---- rule-sets and rules ---- */

struct rule_ctx {
    enum cfg_nat_kind kind;
    struct cfg_nat_rule *rule;
    const struct config_node *then;
    const struct config_word *pool_word; /* the NAME of `pool NAME` */
    const struct config_word *static_word;
    bool has_dst;
};

static int match_prefixes(struct cc *cc, const struct config_node *n, const char *what,
                          struct cfg_prefix **arr, unsigned *count)
{
    const struct config_word **words;
    unsigned nw = 0;
    char usage[64];
    snprintf(usage, sizeof(usage), "%s PREFIX|[ PREFIX... ]", what);
    int rc = cc_values(cc, n, 0, usage, &words, &nw);
    for (unsigned i = 0; !rc && i < nw; i++) {
        struct cfg_prefix *slot = cfg_arena_push(cc->a, arr, count, sizeof(*slot));
        if (!slot)
            return cc_oom(cc);
        rc = cc_prefix(cc, words[i], what, CC_PFX_NETWORK_OR_HOST, slot);
    }
    return rc;
}

static int rm_src(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_nat_rule *r = ((struct rule_ctx *)ctx)->rule;
    return match_prefixes(cc, n, "source-address", &r->src, &r->n_src);
}

static int rm_dst(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct rule_ctx *rc = ctx;
    rc->has_dst = true;
    return match_prefixes(cc, n, "destination-address", &rc->rule->dst, &rc->rule->n_dst);
}

static int rm_dport(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_nat_rule *r = ((struct rule_ctx *)ctx)->rule;
    unsigned lo = 0, hi = 0;
    int rc = cc_leaf(cc, n, 1, 3, "destination-port PORT [to PORT]");
    if (rc || (rc = cc_uint(cc, &n->words[0], "destination-port", 1, 65535, &lo)))
        return rc;
    hi = lo;
    if (n->n_words > 1) {
        if (strcmp(n->words[1].text, "to") != 0)
            return cc_extra(cc, n, 1);
        if (n->n_words < 3)
            return cc_err_word(cc, &n->words[1],
                               "\"to\" needs a port: destination-port %s to PORT;",
                               n->words[0].text);
        if ((rc = cc_uint(cc, &n->words[2], "destination-port", 1, 65535, &hi)))
            return rc;
        if (lo > hi)
            return cc_err_word(cc, &n->words[2], "destination-port %u to %u runs backwards", lo,
                               hi);
    }
    r->dport_lo = (uint16_t)lo;
    r->dport_hi = (uint16_t)hi;
    return 0;
}

static int rm_protocol(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_nat_rule *r = ((struct rule_ctx *)ctx)->rule;
    int rc = cc_leaf(cc, n, 1, 1, "protocol tcp|udp|icmp|icmp6|NUMBER");
    return rc ? rc : cc_protocol(cc, &n->words[0], &r->protocol);
}

static int rule_match(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"source-address", rm_src, true},
        {"destination-address", rm_dst, true},
        {"destination-port", rm_dport, false},
        {"protocol", rm_protocol, false},
    };
    static const struct cc_stmt static_tab[] = {
        {"destination-address", rm_dst, false},
        {"source-address", rm_src, true},
    };
    struct rule_ctx *rcx = ctx;
    int rc = cc_block(cc, n, 0, "match");
    if (rc)
        return rc;
    if (rcx->kind == CFG_NAT_KIND_STATIC)
        return cc_dispatch(cc, n, static_tab, 2, ctx);
    return cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

static int find_pool(struct cc *cc, enum cfg_nat_kind kind, const char *name)
{
    const struct cfg_security *sec = cc->sec;
    unsigned n = kind == CFG_NAT_KIND_SOURCE ? sec->n_snat_pools : sec->n_dnat_pools;
    for (unsigned i = 0; i < n; i++) {
        const char *pn =
            kind == CFG_NAT_KIND_SOURCE ? sec->snat_pools[i].name : sec->dnat_pools[i].name;
        if (strcmp(pn, name) == 0)
            return (int)i;
    }
    return -1;
}

static int then_translate(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct rule_ctx *rcx = ctx;
    struct cfg_nat_rule *r = rcx->rule;
    static const char *const usages[] = {
        "source-nat { interface; } or { pool NAME; } or { off; }",
        "destination-nat { pool NAME; } or { off; }",
        "static-nat { prefix PREFIX; }",
    };
    const char *usage = usages[rcx->kind];
    struct cc_item *items;
    unsigned count = 0;
    int rc = cc_items(cc, n, usage, &items, &count);
    if (rc)
        return rc;
    if (count != 1)
        return cc_err_node(cc, n, "%s needs exactly one translation: %s", n->keyword, usage);
    const struct cc_item *it = &items[0];
    rcx->then = n;
    bool src = rcx->kind == CFG_NAT_KIND_SOURCE;
    if (rcx->kind != CFG_NAT_KIND_STATIC && strcmp(it->kw, "off") == 0) {
        r->action = CFG_NAT_OFF;
    } else if (src && strcmp(it->kw, "interface") == 0) {
        r->action = CFG_NAT_INTERFACE;
    } else if (rcx->kind != CFG_NAT_KIND_STATIC && strcmp(it->kw, "pool") == 0) {
        if (it->n_args == 0)
            return cc_err(cc, it->line, it->col, "\"pool\" needs a name: pool NAME;");
        const struct config_word *pw = &it->args[0];
        int p = find_pool(cc, rcx->kind, pw->text);
        if (p < 0)
            return cc_err_word(cc, pw,
                               "%s pool \"%s\" is not defined (define it under security nat %s "
                               "pool %s)",
                               kind_names[rcx->kind], pw->text, kind_names[rcx->kind], pw->text);
        r->action = CFG_NAT_POOL;
        r->pool = p;
        rcx->pool_word = pw;
        if (it->n_args > 1)
            return cc_err_word(cc, &it->args[1], "unexpected \"%s\" after \"pool %s\"",
                               it->args[1].text, pw->text);
        return 0;
    } else if (rcx->kind == CFG_NAT_KIND_STATIC && strcmp(it->kw, "prefix") == 0) {
        if (it->n_args == 0)
            return cc_err(cc, it->line, it->col, "\"prefix\" needs a prefix: prefix PREFIX;");
        if ((rc = cc_prefix(cc, &it->args[0], "static-nat prefix", CC_PFX_NETWORK_OR_HOST,
                            &r->static_prefix)))
            return rc;
        r->action = CFG_NAT_PREFIX;
        rcx->static_word = &it->args[0];
        if (it->n_args > 1)
            return cc_err_word(cc, &it->args[1], "unexpected \"%s\" after \"prefix %s\"",
                               it->args[1].text, it->args[0].text);
        return 0;
    } else {
        return cc_err(cc, it->line, it->col, "unknown %s action \"%s\" (expected %s)", n->keyword,
                      it->kw, usage);
    }
    if (it->n_args)
        return cc_err_word(cc, &it->args[0], "unexpected \"%s\" after \"%s\"", it->args[0].text,
                           it->kw);
    return 0;
}

static int rule_then(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tabs[][1] = {
        {{"source-nat", then_translate, false}},
        {{"destination-nat", then_translate, false}},
        {{"static-nat", then_translate, false}},
    };
    struct rule_ctx *rcx = ctx;
    int rc = cc_block(cc, n, 0, "then");
    return rc ? rc : cc_dispatch(cc, n, tabs[rcx->kind], 1, ctx);
}

static uint8_t prefixes_family(const struct cfg_prefix *p, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        if (p[i].family != p[0].family)
            return 0;
    }
    return n ? p[0].family : 0;
}

/* Family checks: where a rule's addresses cannot go with its translation. */
static int check_rule(struct cc *cc, struct rule_ctx *rcx, const struct config_node *n)
{
    const struct cfg_nat_rule *r = rcx->rule;
    const struct cfg_security *sec = cc->sec;
    const struct config_word *nw = &n->words[0];
    char a[64], b[64];
    uint8_t fs = prefixes_family(r->src, r->n_src), fd = prefixes_family(r->dst, r->n_dst);
    if (fs && fd && fs != fd)
        return cc_err_word(cc, nw,
                           "rule %s can never match: its source addresses are %s and its "
                           "destination addresses %s",
                           nw->text, cc_family_name(fs), cc_family_name(fd));
    if (!rcx->then) {
        static const char *const examples[] = {"then { source-nat { interface; } }",
                                               "then { destination-nat { pool NAME; } }",
                                               "then { static-nat { prefix PREFIX; } }"};
        return cc_err_word(cc, nw, "rule %s needs a translation: %s", nw->text,
                           examples[rcx->kind]);
    }
    if (rcx->kind != CFG_NAT_KIND_SOURCE && !rcx->has_dst)
        return cc_err_word(cc, nw, "%s NAT rule %s needs match destination-address",
                           kind_names[rcx->kind], nw->text);
    if (r->action == CFG_NAT_POOL) {
        uint8_t pf = rcx->kind == CFG_NAT_KIND_SOURCE ? sec->snat_pools[r->pool].family
                                                      : sec->dnat_pools[r->pool].addr.family;
        const struct cfg_prefix *list = rcx->kind == CFG_NAT_KIND_SOURCE ? r->src : r->dst;
        unsigned count = rcx->kind == CFG_NAT_KIND_SOURCE ? r->n_src : r->n_dst;
        for (unsigned i = 0; i < count; i++) {
            if (list[i].family != pf) {
                cc_prefix_str(&list[i], a, sizeof(a));
                return cc_err_word(cc, rcx->pool_word,
                                   "pool %s is %s but rule %s matches %s-address %s (%s); "
                                   "Moat does not translate between families",
                                   rcx->pool_word->text, cc_family_name(pf), nw->text,
                                   rcx->kind == CFG_NAT_KIND_SOURCE ? "source" : "destination", a,
                                   cc_family_name(list[i].family));
            }
        }
        /* A source pool rewrites the source of packets whose destination is of the same family. */
        for (unsigned i = 0; rcx->kind == CFG_NAT_KIND_SOURCE && i < r->n_dst; i++) {
            if (r->dst[i].family != pf) {
                cc_prefix_str(&r->dst[i], a, sizeof(a));
                return cc_err_word(cc, rcx->pool_word,
                                   "pool %s is %s but rule %s matches destination-address %s "
                                   "(%s); Moat does not translate between families",
                                   rcx->pool_word->text, cc_family_name(pf), nw->text, a,
                                   cc_family_name(r->dst[i].family));
            }
        }
    }
    if (r->action == CFG_NAT_PREFIX) {
        if (r->n_dst != 1)
            return cc_err_word(cc, nw, "static NAT rule %s needs exactly one destination-address",
                               nw->text);
        cc_prefix_str(&r->dst[0], a, sizeof(a));
        cc_prefix_str(&r->static_prefix, b, sizeof(b));
        if (r->dst[0].family != r->static_prefix.family)
            return cc_err_word(
                cc, rcx->static_word, "static-nat prefix %s is %s but destination-address %s is %s",
                b, cc_family_name(r->static_prefix.family), a, cc_family_name(r->dst[0].family));
        if (r->dst[0].len != r->static_prefix.len)
            return cc_err_word(cc, rcx->static_word,
                               "static-nat prefix %s must be as long as destination-address %s "
                               "(/%u), to map address for address",
                               b, a, r->dst[0].len);
        struct cfg_addr_range range;
        const struct cfg_interface *ifc = NULL;
        prefix_range(&r->static_prefix, &range);
        const struct cfg_prefix *box = box_addr_in(cc->cfg, &range, &ifc);
        if (box) {
            char ba[INET6_ADDRSTRLEN];
            addr_str(box->family, box->addr, ba, sizeof(ba));
            return cc_err_word(cc, rcx->static_word,
                               "static-nat prefix %s holds %s, an address of interface %s: flows "
                               "for %s would be delivered to the box itself; map the hosts "
                               "behind it, not the box",
                               b, ba, ifc->name, a);
        }
    }
    return 0;
}

struct rs_ctx {
    enum cfg_nat_kind kind;
    struct cfg_nat_rule_set *rs;
    unsigned first_rule;
};

static int rs_context(struct cc *cc, const struct config_node *n, struct cfg_nat_context *ctxo)
{
    static const char usage[] = "from zone NAME|interface NAME";
    int rc;
    if (n->block)
        return cc_err(cc, n->block_line, n->block_col, "\"%s\" takes no { } block: %s;", n->keyword,
                      usage);
    if (n->n_words < 2 || n->words[0].kind != CFG_WORD_PLAIN)
        return cc_err_node(cc, n, "\"%s\" needs a zone or an interface: %s zone NAME;", n->keyword,
                           n->keyword);
    const struct config_word *kw = &n->words[0];
    if (strcmp(kw->text, "zone") == 0)
        ctxo->interface = false;
    else if (strcmp(kw->text, "interface") == 0)
        ctxo->interface = true;
    else
        return cc_err_word(cc, kw, "expected \"%s zone NAME\" or \"%s interface NAME\", not \"%s\"",
                           n->keyword, n->keyword, kw->text);
    const struct config_word **names;
    unsigned count = 0;
    if ((rc = cc_values(cc, n, 1, usage, &names, &count)))
        return rc;
    for (unsigned i = 0; i < count; i++) {
        unsigned id = 0;
        if (ctxo->interface) {
            int idx = cc_find_iface(cc->cfg, names[i]->text);
            if (idx < 0)
                return cc_err_word(cc, names[i],
                                   "interface \"%s\" is not configured under interfaces",
                                   names[i]->text);
            id = (unsigned)idx;
        } else {
            const struct cfg_zone *z = config_find_zone(cc->cfg, names[i]->text);
            if (!z)
                return cc_err_word(cc, names[i],
                                   "zone \"%s\" is not defined (define it under security zones "
                                   "security-zone %s)",
                                   names[i]->text, names[i]->text);
            id = z->zone_id;
        }
        unsigned *slot = cfg_arena_push(cc->a, &ctxo->ids, &ctxo->n, sizeof(*slot));
        if (!slot)
            return cc_oom(cc);
        *slot = id;
    }
    return 0;
}

static int rs_from(struct cc *cc, const struct config_node *n, void *ctx)
{
    return rs_context(cc, n, &((struct rs_ctx *)ctx)->rs->from);
}

static int rs_to(struct cc *cc, const struct config_node *n, void *ctx)
{
    return rs_context(cc, n, &((struct rs_ctx *)ctx)->rs->to);
}

static int rs_rule(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"match", rule_match, false},
        {"then", rule_then, false},
        {"description", cc_description, false},
    };
    struct rs_ctx *rsc = ctx;
    struct cfg_nat_rule_set *rs = rsc->rs;
    int rc = cc_block(cc, n, 1, "rule NAME");
    if (rc)
        return rc;
    const struct config_word *nw = &n->words[0];
    for (unsigned i = 0; i < rs->n_rules; i++) {
        if (strcmp(rs->rules[i].name, nw->text) == 0)
            return cc_err_word(cc, nw, "rule \"%s\" is already defined in rule-set %s on line %u",
                               nw->text, rs->name, rs->rules[i].line);
    }
    struct cfg_nat_rule *r = cfg_arena_push(cc->a, &rs->rules, &rs->n_rules, sizeof(*r));
    if (!r)
        return cc_oom(cc);
    r->line = n->line;
    r->col = nw->col;
    r->pool = -1;
    if ((rc = cc_name(cc, nw, "rule", r->name, sizeof(r->name))))
        return rc;
    struct rule_ctx rcx = {.kind = rsc->kind, .rule = r};
    if ((rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &rcx)))
        return rc;
    return check_rule(cc, &rcx, n);
}

/* Is interface cfg->ifaces[iface] inside context c (zones or interfaces)? */
static bool iface_in_ctx(const struct moat_config *cfg, const struct cfg_nat_context *c,
                         unsigned iface)
{
    unsigned key = c->interface ? iface : cfg->ifaces[iface].zone_id;
    if (!c->interface && key == 0)
        return false;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->ids[i] == key)
            return true;
    }
    return false;
}

/* "zone trust", "interface fw1", "zone [ a b ]" */
static void ctx_str(const struct moat_config *cfg, const struct cfg_nat_context *c, char *buf,
                    size_t len)
{
    size_t l = (size_t)snprintf(buf, len, "%s%s", c->interface ? "interface" : "zone",
                                c->n > 1 ? " [" : "");
    for (unsigned i = 0; i < c->n && l < len; i++) {
        const char *name = "?";
        if (c->interface)
            name = c->ids[i] < cfg->n_ifaces ? cfg->ifaces[c->ids[i]].name : "?";
        else if (config_zone_by_id(cfg, c->ids[i]))
            name = config_zone_by_id(cfg, c->ids[i])->name;
        l += (size_t)snprintf(buf + l, len - l, " %s", name);
    }
    if (c->n > 1 && l < len)
        snprintf(buf + l, len - l, " ]");
}

/*
 * `source-nat interface` takes the egress interface's first address of the packet's family:
 * a rule whose sources are all of one family must leave through interfaces that have one.
 */
static int check_interface_nat(struct cc *cc, const struct cfg_nat_rule_set *rs)
{
    const struct moat_config *cfg = cc->cfg;
    for (unsigned k = 0; k < rs->n_rules; k++) {
        const struct cfg_nat_rule *r = &rs->rules[k];
        uint8_t fam = prefixes_family(r->src, r->n_src);
        if (!fam)
            fam = prefixes_family(r->dst, r->n_dst);
        if (r->action != CFG_NAT_INTERFACE || !fam)
            continue;
        unsigned egress = 0;
        bool has = false;
        for (unsigned i = 0; i < cfg->n_ifaces && !has; i++) {
            if (!iface_in_ctx(cfg, &rs->to, i))
                continue;
            egress++;
            for (unsigned a = 0; a < cfg->ifaces[i].n_addrs; a++)
                has = has || cfg->ifaces[i].addrs[a].family == fam;
        }
        if (!has && egress) {
            char to[160];
            ctx_str(cfg, &rs->to, to, sizeof(to));
            return cc_err(cc, r->line, r->col,
                          "rule %s translates %s traffic to the egress interface's address, but "
                          "no interface of \"to %s\" has an %s address; add one (family %s) or "
                          "use a pool",
                          r->name, cc_family_name(fam), to, cc_family_name(fam),
                          fam == 6 ? "inet6" : "inet");
        }
    }
    return 0;
}

static int rule_set(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt src_tab[] = {
        {"from", rs_from, false},
        {"to", rs_to, false},
        {"rule", rs_rule, true},
        {"description", cc_description, false},
    };
    static const struct cc_stmt other_tab[] = {
        {"from", rs_from, false},
        {"rule", rs_rule, true},
        {"description", cc_description, false},
    };
    enum cfg_nat_kind kind = *(enum cfg_nat_kind *)ctx;
    struct cfg_security *sec = cc->sec;
    struct cfg_nat_rule_set **arr = kind == CFG_NAT_KIND_SOURCE        ? &sec->snat_rule_sets
                                    : kind == CFG_NAT_KIND_DESTINATION ? &sec->dnat_rule_sets
                                                                       : &sec->static_rule_sets;
    unsigned *count = kind == CFG_NAT_KIND_SOURCE        ? &sec->n_snat_rule_sets
                      : kind == CFG_NAT_KIND_DESTINATION ? &sec->n_dnat_rule_sets
                                                         : &sec->n_static_rule_sets;
    int rc = cc_block(cc, n, 1, "rule-set NAME");
    if (rc)
        return rc;
    const struct config_word *nw = &n->words[0];
    for (unsigned i = 0; i < *count; i++) {
        if (strcmp((*arr)[i].name, nw->text) == 0)
            return cc_err_word(cc, nw, "%s rule-set \"%s\" is already defined on line %u",
                               kind_names[kind], nw->text, (*arr)[i].line);
    }
    struct cfg_nat_rule_set *rs = cfg_arena_push(cc->a, arr, count, sizeof(*rs));
    if (!rs)
        return cc_oom(cc);
    rs->line = n->line;
    if ((rc = cc_name(cc, nw, "rule-set", rs->name, sizeof(rs->name))))
        return rc;
    struct rs_ctx rsc = {.kind = kind, .rs = rs};
    if (kind == CFG_NAT_KIND_SOURCE)
        rc = cc_dispatch(cc, n, src_tab, sizeof(src_tab) / sizeof(src_tab[0]), &rsc);
    else
        rc = cc_dispatch(cc, n, other_tab, sizeof(other_tab) / sizeof(other_tab[0]), &rsc);
    if (rc)
        return rc;
    if (!rs->from.n)
        return cc_err_word(cc, nw,
                           "rule-set %s needs \"from zone NAME\" (or \"from interface "
                           "NAME\")",
                           nw->text);
    if (kind == CFG_NAT_KIND_SOURCE && !rs->to.n)
        return cc_err_word(cc, nw, "rule-set %s needs \"to zone NAME\" (or \"to interface NAME\")",
                           nw->text);
    return kind == CFG_NAT_KIND_SOURCE ? check_interface_nat(cc, rs) : 0;
}

static int nat_kind_block(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt static_tab[] = {{"rule-set", rule_set, true}};
    enum cfg_nat_kind kind = strcmp(n->keyword, "source") == 0        ? CFG_NAT_KIND_SOURCE
                             : strcmp(n->keyword, "destination") == 0 ? CFG_NAT_KIND_DESTINATION
                                                                      : CFG_NAT_KIND_STATIC;
    int rc = cc_block(cc, n, 0, n->keyword);
    if (rc)
        return rc;
    if (kind == CFG_NAT_KIND_STATIC)
        return cc_dispatch(cc, n, static_tab, 1, &kind);
    /* Pools first, so that rules may name a pool declared after them. */
    const struct cc_stmt pass1[2] = {
        {"pool", kind == CFG_NAT_KIND_SOURCE ? snat_pool : dnat_pool, true},
        {"rule-set", ignore, true}};
    const struct cc_stmt pass2[2] = {{"pool", ignore, true}, {"rule-set", rule_set, true}};
    if ((rc = cc_dispatch(cc, n, pass1, 2, &kind)))
        return rc;
    return cc_dispatch(cc, n, pass2, 2, &kind);
}

/* ---- rules that can never match ---- */

static bool ids_subset(const struct cfg_nat_context *outer, const struct cfg_nat_context *inner)
{
    for (unsigned i = 0; i < inner->n; i++) {
        bool found = false;
        for (unsigned k = 0; k < outer->n && !found; k++)
            found = outer->ids[k] == inner->ids[i];
        if (!found)
            return false;
    }
    return true;
}

/* Every packet context b admits, a admits too. n == 0 is any (no "to" outside source NAT). */
static bool ctx_covers(const struct moat_config *cfg, const struct cfg_nat_context *a,
                       const struct cfg_nat_context *b)
{
    if (!a->n)
        return true;
    if (!b->n)
        return false;
    if (a->interface == b->interface)
        return ids_subset(a, b);
    unsigned in_b = 0;
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        if (!iface_in_ctx(cfg, b, i))
            continue;
        in_b++;
        if (!iface_in_ctx(cfg, a, i))
            return false;
    }
    return in_b > 0;
}

static bool prefix_within(const struct cfg_prefix *outer, const struct cfg_prefix *inner)
{
    return outer->family == inner->family && outer->len <= inner->len &&
           config_prefix_contains(outer, inner->family, inner->addr);
}

/* Every address list b matches, list a matches too (an empty list is any, of both families). */
static bool prefixes_cover(const struct cfg_prefix *a, unsigned na, const struct cfg_prefix *b,
                           unsigned nb)
{
    if (!na)
        return true;
    if (!nb) {
        bool v4 = false, v6 = false;
        for (unsigned i = 0; i < na; i++) {
            v4 = v4 || (a[i].family == 4 && a[i].len == 0);
            v6 = v6 || (a[i].family == 6 && a[i].len == 0);
        }
        return v4 && v6;
    }
    for (unsigned i = 0; i < nb; i++) {
        bool found = false;
        for (unsigned k = 0; k < na && !found; k++)
            found = prefix_within(&a[k], &b[i]);
        if (!found)
            return false;
    }
    return true;
}

/*
 * Does rule a match every packet rule b matches, b's source and destination lists narrowed
 * to (bs, nbs) and (bd, nbd)? Contexts are compared by the caller.
 */
static bool match_covers(const struct cfg_nat_rule *a, const struct cfg_nat_rule *b,
                         const struct cfg_prefix *bs, unsigned nbs, const struct cfg_prefix *bd,
                         unsigned nbd)
{
    if (!prefixes_cover(a->src, a->n_src, bs, nbs) || !prefixes_cover(a->dst, a->n_dst, bd, nbd))
        return false;
    bool a_any_port = !a->dport_lo && !a->dport_hi, b_any_port = !b->dport_lo && !b->dport_hi;
    if (!a_any_port && (b_any_port || a->dport_lo > b->dport_lo || a->dport_hi < b->dport_hi))
        return false;
    return !a->protocol || a->protocol == b->protocol;
}

/* "from zone trust to zone untrust, source-address 10.0.0.0/8, destination-port 80" */
static void match_str(const struct moat_config *cfg, const struct cfg_nat_rule_ref *ref,
                      const struct cfg_prefix *bs, unsigned nbs, const struct cfg_prefix *bd,
                      unsigned nbd, char *buf, size_t len)
{
    char ctx[160], p[64];
    const struct cfg_nat_rule *r = ref->rule;
    ctx_str(cfg, &ref->rs->from, ctx, sizeof(ctx));
    size_t l = (size_t)snprintf(buf, len, "from %s", ctx);
    if (ref->rs->to.n && l < len) {
        ctx_str(cfg, &ref->rs->to, ctx, sizeof(ctx));
        l += (size_t)snprintf(buf + l, len - l, " to %s", ctx);
    }
    for (unsigned i = 0; i < nbs && l < len; i++) {
        cc_prefix_str(&bs[i], p, sizeof(p));
        l += (size_t)snprintf(buf + l, len - l, "%s%s", i ? " " : ", source-address ", p);
    }
    for (unsigned i = 0; i < nbd && l < len; i++) {
        cc_prefix_str(&bd[i], p, sizeof(p));
        l += (size_t)snprintf(buf + l, len - l, "%s%s", i ? " " : ", destination-address ", p);
    }
    if ((r->dport_lo || r->dport_hi) && l < len) {
        if (r->dport_lo == r->dport_hi)
            l += (size_t)snprintf(buf + l, len - l, ", destination-port %u", r->dport_lo);
        else
            l += (size_t)snprintf(buf + l, len - l, ", destination-port %u to %u", r->dport_lo,
                                  r->dport_hi);
    }
    if (r->protocol && l < len) {
        const char *pn = r->protocol == 6    ? "tcp"
                         : r->protocol == 17 ? "udp"
                         : r->protocol == 1  ? "icmp"
                         : r->protocol == 58 ? "icmp6"
                                             : NULL;
        if (pn)
            snprintf(buf + l, len - l, ", protocol %s", pn);
        else
            snprintf(buf + l, len - l, ", protocol %u", r->protocol);
    }
}

/* Source rules are looked up apart from destination and static ones (both rewrite the
 * destination: static first, then destination). */
static bool same_lookup(enum cfg_nat_kind a, enum cfg_nat_kind b)
{
    return (a == CFG_NAT_KIND_SOURCE) == (b == CFG_NAT_KIND_SOURCE);
}

static bool ctx_pair_covers(const struct moat_config *cfg, const struct cfg_nat_rule_ref *a,
                            const struct cfg_nat_rule_ref *b)
{
    return ctx_covers(cfg, &a->rs->from, &b->rs->from) && ctx_covers(cfg, &a->rs->to, &b->rs->to);
}

static int shadow_err(struct cc *cc, const struct cfg_nat_rule_ref *a,
                      const struct cfg_nat_rule_ref *b, const char *entry_kw,
                      const struct cfg_prefix *entry, const char *what)
{
    const struct cfg_nat_rule *ra = a->rule, *rb = b->rule;
    const char *before = a->kind == b->kind ? "comes before it"
                                            : "is evaluated first (static rules come before "
                                              "destination rules)";
    if (!entry)
        return cc_err(cc, rb->line, rb->col,
                      "%s rule %s (rule-set %s) can never match: %s rule %s (rule-set %s, line "
                      "%u) %s and matches all of its traffic (%s); remove rule %s, or narrow "
                      "rule %s",
                      kind_names[b->kind], rb->name, b->rs->name, kind_names[a->kind], ra->name,
                      a->rs->name, ra->line, before, what, rb->name, ra->name);
    char p[64];
    cc_prefix_str(entry, p, sizeof(p));
    return cc_err(cc, rb->line, rb->col,
                  "%s %s of %s rule %s (rule-set %s) can never match: %s rule %s (rule-set %s, "
                  "line %u) %s and matches all of that traffic (%s); remove %s from rule %s",
                  entry_kw, p, kind_names[b->kind], rb->name, b->rs->name, kind_names[a->kind],
                  ra->name, a->rs->name, ra->line, before, what, p, rb->name);
}

/*
 * Refuses a rule that an earlier rule of the same lookup hides: all of it (the earlier rule's
 * context and match are supersets of its own), or one of its source (source NAT) or
 * destination (destination and static NAT) addresses, e.g. two destination rules for the
 * same address and port from the same zone. Also two static rules mapping overlapping
 * prefixes, whose way out would be ambiguous.
 */
static int check_rule_order(struct cc *cc)
{
    const struct moat_config *cfg = cc->cfg;
    unsigned n = config_nat_rule_count(cfg);
    if (n < 2)
        return 0;
    struct cfg_nat_rule_ref *refs = calloc(n, sizeof(*refs));
    if (!refs)
        return cc_oom(cc);
    for (unsigned i = 0; i < n; i++)
        config_nat_rule_by_id(cfg, i + 1, &refs[i]);
    char what[384];
    int rc = 0;
    for (unsigned j = 1; j < n && !rc; j++) {
        const struct cfg_nat_rule_ref *b = &refs[j];
        const struct cfg_nat_rule *rb = b->rule;
        bool by_src = b->kind == CFG_NAT_KIND_SOURCE;
        /* The whole rule. */
        for (unsigned i = 0; i < j && !rc; i++) {
            const struct cfg_nat_rule_ref *a = &refs[i];
            if (!same_lookup(a->kind, b->kind) || !ctx_pair_covers(cfg, a, b) ||
                !match_covers(a->rule, rb, rb->src, rb->n_src, rb->dst, rb->n_dst))
                continue;
            match_str(cfg, b, rb->src, rb->n_src, rb->dst, rb->n_dst, what, sizeof(what));
            rc = shadow_err(cc, a, b, NULL, NULL, what);
        }
        /* One of its addresses. */
        const struct cfg_prefix *list = by_src ? rb->src : rb->dst;
        unsigned count = by_src ? rb->n_src : rb->n_dst;
        for (unsigned e = 0; count > 1 && e < count && !rc; e++) {
            for (unsigned i = 0; i < j && !rc; i++) {
                const struct cfg_nat_rule_ref *a = &refs[i];
                bool hidden = same_lookup(a->kind, b->kind) && ctx_pair_covers(cfg, a, b) &&
                              (by_src ? match_covers(a->rule, rb, &list[e], 1, rb->dst, rb->n_dst)
                                      : match_covers(a->rule, rb, rb->src, rb->n_src, &list[e], 1));
                if (!hidden)
                    continue;
                if (by_src)
                    match_str(cfg, b, &list[e], 1, rb->dst, rb->n_dst, what, sizeof(what));
                else
                    match_str(cfg, b, rb->src, rb->n_src, &list[e], 1, what, sizeof(what));
                rc = shadow_err(cc, a, b, by_src ? "source-address" : "destination-address",
                                &list[e], what);
            }
        }
        /* Static rules: the way out (source translation) must be unambiguous. */
        for (unsigned i = 0; i < j && !rc && b->kind == CFG_NAT_KIND_STATIC; i++) {
            const struct cfg_nat_rule_ref *a = &refs[i];
            if (a->kind != CFG_NAT_KIND_STATIC ||
                !cc_prefix_overlap(&a->rule->static_prefix, &rb->static_prefix))
                continue;
            char pa[64], pb[64];
            cc_prefix_str(&rb->static_prefix, pb, sizeof(pb));
            cc_prefix_str(&a->rule->static_prefix, pa, sizeof(pa));
            rc = cc_err(cc, rb->line, rb->col,
                        "static-nat prefix %s of rule %s overlaps static-nat prefix %s of rule "
                        "%s (rule-set %s, line %u): traffic those hosts start would be "
                        "translated two ways; give each static rule its own hosts",
                        pb, rb->name, pa, a->rule->name, a->rs->name, a->rule->line);
        }
    }
    free(refs);
    return rc;
}

/*
 * A static rule's public addresses (its destination-address) belong to its hosts in both
 * directions, with their own ports: a source pool handing out the same addresses would
 * allocate (address, port) pairs those hosts' flows use too.
 */
static int check_pools_vs_static(struct cc *cc)
{
    const struct cfg_security *sec = cc->sec;
    for (unsigned p = 0; p < sec->n_snat_pools; p++) {
        const struct cfg_snat_pool *pool = &sec->snat_pools[p];
        for (unsigned s = 0; s < sec->n_static_rule_sets; s++) {
            const struct cfg_nat_rule_set *rs = &sec->static_rule_sets[s];
            for (unsigned k = 0; k < rs->n_rules; k++) {
                const struct cfg_nat_rule *r = &rs->rules[k];
                for (unsigned d = 0; d < r->n_dst; d++) {
                    struct cfg_addr_range pub;
                    prefix_range(&r->dst[d], &pub);
                    for (unsigned g = 0; g < pool->n_ranges; g++) {
                        if (!ranges_overlap(&pool->ranges[g], &pub))
                            continue;
                        char rg[96], pf[64];
                        range_str(&pool->ranges[g], rg, sizeof(rg));
                        cc_prefix_str(&r->dst[d], pf, sizeof(pf));
                        return cc_err(cc, pool->line, pool->col,
                                      "source pool %s address %s overlaps %s, the public "
                                      "addresses of static rule %s (rule-set %s, line %u): the "
                                      "pool would hand out addresses and ports that flows of "
                                      "the static hosts use; give the pool other addresses",
                                      pool->name, rg, pf, r->name, rs->name, r->line);
                    }
                }
            }
        }
    }
    return 0;
}

int cc_compile_nat(struct cc *cc, const struct config_node *nat)
{
    static const struct cc_stmt tab[] = {
        {"source", nat_kind_block, false},
        {"destination", nat_kind_block, false},
        {"static", nat_kind_block, false},
    };
    int rc = cc_dispatch(cc, nat, tab, sizeof(tab) / sizeof(tab[0]), NULL);
    if (!rc)
        rc = check_pools_vs_static(cc);
    return rc ? rc : check_rule_order(cc);
}

/* ---- look-ups ---- */

const struct cfg_nat_rule_set *config_nat_rule_sets(const struct moat_config *cfg,
                                                    enum cfg_nat_kind kind, unsigned *n)
{
    const struct cfg_security *sec = cfg->security;
    *n = 0;
    if (!sec)
        return NULL;
    switch (kind) {
    case CFG_NAT_KIND_SOURCE:
        *n = sec->n_snat_rule_sets;
        return sec->snat_rule_sets;
    case CFG_NAT_KIND_DESTINATION:
        *n = sec->n_dnat_rule_sets;
        return sec->dnat_rule_sets;
    case CFG_NAT_KIND_STATIC:
        *n = sec->n_static_rule_sets;
        return sec->static_rule_sets;
    }
    return NULL;
}

/* Evaluation order of the kinds: static, destination, source. */
static const enum cfg_nat_kind eval_order[3] = {CFG_NAT_KIND_STATIC, CFG_NAT_KIND_DESTINATION,
                                                CFG_NAT_KIND_SOURCE};

unsigned config_nat_rule_count(const struct moat_config *cfg)
{
    unsigned total = 0;
    for (unsigned k = 0; k < 3; k++) {
        unsigned n;
        const struct cfg_nat_rule_set *rs = config_nat_rule_sets(cfg, eval_order[k], &n);
        for (unsigned i = 0; i < n; i++)
            total += rs[i].n_rules;
    }
    return total;
}

bool config_nat_rule_by_id(const struct moat_config *cfg, unsigned id, struct cfg_nat_rule_ref *out)
{
    if (id == 0)
        return false;
    unsigned base = 0;
    for (unsigned k = 0; k < 3; k++) {
        unsigned n;
        const struct cfg_nat_rule_set *rs = config_nat_rule_sets(cfg, eval_order[k], &n);
        for (unsigned i = 0; i < n; i++) {
            if (id <= base + rs[i].n_rules) {
                out->id = id;
                out->kind = eval_order[k];
                out->rs = &rs[i];
                out->position = id - base;
                out->rule = &rs[i].rules[id - base - 1];
                return true;
            }
            base += rs[i].n_rules;
        }
    }
    return false;
}
