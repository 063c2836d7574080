/* SPDX-License-Identifier: MIT */
/* config_nat.c — `security nat source|destination|static`: pools, rule-sets and rules. */
#include "config_internal.h"

#include <string.h>

static const char *const kind_names[] = {"source", "destination", "static"};
enum nat_kind { NAT_SOURCE = 0, NAT_DESTINATION, NAT_STATIC };

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

/* ---- source pools ---- */

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
            if ((rc = cc_uint(cc, &it->args[0], "port range", 1024, 65535, &lo)))
                return rc;
            hi = lo;
            if (it->n_args == 3 && (rc = cc_uint(cc, &it->args[2], "port range", 1024, 65535, &hi)))
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
    enum nat_kind kind;
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
    if (rcx->kind == NAT_STATIC)
        return cc_dispatch(cc, n, static_tab, 2, ctx);
    return cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

static int find_pool(struct cc *cc, enum nat_kind kind, const char *name)
{
    const struct cfg_security *sec = cc->sec;
    unsigned n = kind == NAT_SOURCE ? sec->n_snat_pools : sec->n_dnat_pools;
    for (unsigned i = 0; i < n; i++) {
        const char *pn = kind == NAT_SOURCE ? sec->snat_pools[i].name : sec->dnat_pools[i].name;
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
    bool src = rcx->kind == NAT_SOURCE;
    if (rcx->kind != NAT_STATIC && strcmp(it->kw, "off") == 0) {
        r->action = CFG_NAT_OFF;
    } else if (src && strcmp(it->kw, "interface") == 0) {
        r->action = CFG_NAT_INTERFACE;
    } else if (rcx->kind != NAT_STATIC && strcmp(it->kw, "pool") == 0) {
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
    } else if (rcx->kind == NAT_STATIC && strcmp(it->kw, "prefix") == 0) {
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
    if (rcx->kind != NAT_SOURCE && !rcx->has_dst)
        return cc_err_word(cc, nw, "%s NAT rule %s needs match destination-address",
                           kind_names[rcx->kind], nw->text);
    if (r->action == CFG_NAT_POOL) {
        uint8_t pf = rcx->kind == NAT_SOURCE ? sec->snat_pools[r->pool].family
                                             : sec->dnat_pools[r->pool].addr.family;
        const struct cfg_prefix *list = rcx->kind == NAT_SOURCE ? r->src : r->dst;
        unsigned count = rcx->kind == NAT_SOURCE ? r->n_src : r->n_dst;
        for (unsigned i = 0; i < count; i++) {
            if (list[i].family != pf) {
                cc_prefix_str(&list[i], a, sizeof(a));
                return cc_err_word(cc, rcx->pool_word,
                                   "pool %s is %s but rule %s matches %s-address %s (%s); "
                                   "Moat does not translate between families",
                                   rcx->pool_word->text, cc_family_name(pf), nw->text,
                                   rcx->kind == NAT_SOURCE ? "source" : "destination", a,
                                   cc_family_name(list[i].family));
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
    }
    return 0;
}

struct rs_ctx {
    enum nat_kind kind;
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
    r->pool = -1;
    if ((rc = cc_name(cc, nw, "rule", r->name, sizeof(r->name))))
        return rc;
    struct rule_ctx rcx = {.kind = rsc->kind, .rule = r};
    if ((rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &rcx)))
        return rc;
    return check_rule(cc, &rcx, n);
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
    enum nat_kind kind = *(enum nat_kind *)ctx;
    struct cfg_security *sec = cc->sec;
    struct cfg_nat_rule_set **arr = kind == NAT_SOURCE        ? &sec->snat_rule_sets
                                    : kind == NAT_DESTINATION ? &sec->dnat_rule_sets
                                                              : &sec->static_rule_sets;
    unsigned *count = kind == NAT_SOURCE        ? &sec->n_snat_rule_sets
                      : kind == NAT_DESTINATION ? &sec->n_dnat_rule_sets
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
    if (kind == NAT_SOURCE)
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
    if (kind == NAT_SOURCE && !rs->to.n)
        return cc_err_word(cc, nw, "rule-set %s needs \"to zone NAME\" (or \"to interface NAME\")",
                           nw->text);
    return 0;
}

static int nat_kind_block(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt static_tab[] = {{"rule-set", rule_set, true}};
    enum nat_kind kind = strcmp(n->keyword, "source") == 0        ? NAT_SOURCE
                         : strcmp(n->keyword, "destination") == 0 ? NAT_DESTINATION
                                                                  : NAT_STATIC;
    int rc = cc_block(cc, n, 0, n->keyword);
    if (rc)
        return rc;
    if (kind == NAT_STATIC)
        return cc_dispatch(cc, n, static_tab, 1, &kind);
    /* Pools first, so that rules may name a pool declared after them. */
    const struct cc_stmt pass1[2] = {{"pool", kind == NAT_SOURCE ? snat_pool : dnat_pool, true},
                                     {"rule-set", ignore, true}};
    const struct cc_stmt pass2[2] = {{"pool", ignore, true}, {"rule-set", rule_set, true}};
    if ((rc = cc_dispatch(cc, n, pass1, 2, &kind)))
        return rc;
    return cc_dispatch(cc, n, pass2, 2, &kind);
}

int cc_compile_nat(struct cc *cc, const struct config_node *nat)
{
    static const struct cc_stmt tab[] = {
        {"source", nat_kind_block, false},
        {"destination", nat_kind_block, false},
        {"static", nat_kind_block, false},
    };
    return cc_dispatch(cc, nat, tab, sizeof(tab) / sizeof(tab[0]), NULL);
}
