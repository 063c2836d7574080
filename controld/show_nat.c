/* SPDX-License-Identifier: MIT */
/*
 * show_nat.c — `show security nat source|destination|static ...`: the NAT configuration the
 * dataplane runs (pools, rule-sets, rules; ids as in the Snapshot) with the helper's
 * translation counters (PolicyCountersReply.nat_rules and nat_pools).
 *
 *   show security nat source [summary]            pools (and interface NAT), rule-sets, rules
 *   show security nat source pool [NAME|all]      one pool, or all, in detail
 *   show security nat source rule [NAME|all]      rules of that name (in any rule-set), or all
 *   show security nat destination [summary] | pool [NAME|all] | rule [NAME|all]
 *   show security nat static [rule [NAME|all]]
 *
 * The counters come from the helper (show_security.c asks it); when it is down, or answers
 * for a generation older than the running configuration (rule ids would name other rules),
 * the configuration is shown with "-" (JSON null) for every counter and a note saying why.
 * A counter the helper's answer does not carry is "-" / null too: never a made-up 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "helper.h"
#include "show.h"

static const char *const kind_title[] = {"Source", "Destination", "Static"};

/* ---- parsing ---- */

static bool is_kind(const char *w, enum cfg_nat_kind *kind)
{
    for (unsigned k = 0; k < 3; k++) {
        if (strcmp(w, config_nat_kind_name((enum cfg_nat_kind)k)) == 0) {
            *kind = (enum cfg_nat_kind)k;
            return true;
        }
    }
    return false;
}

static bool pool_exists(const struct cfg_security *sec, enum cfg_nat_kind kind, const char *name)
{
    unsigned n = kind == CFG_NAT_KIND_SOURCE ? sec->n_snat_pools : sec->n_dnat_pools;
    for (unsigned i = 0; i < n; i++) {
        const char *pn =
            kind == CFG_NAT_KIND_SOURCE ? sec->snat_pools[i].name : sec->dnat_pools[i].name;
        if (strcmp(pn, name) == 0)
            return true;
    }
    return false;
}

static bool rule_exists(const struct moat_config *cfg, enum cfg_nat_kind kind, const char *name)
{
    unsigned n;
    const struct cfg_nat_rule_set *rs = config_nat_rule_sets(cfg, kind, &n);
    for (unsigned i = 0; i < n; i++) {
        for (unsigned k = 0; k < rs[i].n_rules; k++) {
            if (strcmp(rs[i].rules[k].name, name) == 0)
                return true;
        }
    }
    return false;
}

int show_nat_parse(const struct moat_config *cfg, const char *const *args, size_t nargs,
                   struct nat_query *q, struct strbuf *err)
{
    static const char usage[] =
        "use: show security nat source|destination [summary | pool [NAME|all] | rule "
        "[NAME|all]], or show security nat static [rule [NAME|all]]";
    memset(q, 0, sizeof(*q));
    if (nargs < 1 || !is_kind(args[0], &q->kind)) {
        strbuf_printf(err, "unknown NAT command (%s)", usage);
        return 2;
    }
    bool st = q->kind == CFG_NAT_KIND_STATIC;
    q->view = st ? NAT_VIEW_RULE : NAT_VIEW_SUMMARY;
    if (nargs >= 2) {
        if (strcmp(args[1], "summary") == 0 && !st) {
            q->view = NAT_VIEW_SUMMARY;
        } else if (strcmp(args[1], "pool") == 0 && !st) {
            q->view = NAT_VIEW_POOL;
        } else if (strcmp(args[1], "rule") == 0) {
            q->view = NAT_VIEW_RULE;
        } else {
            strbuf_printf(err, "unknown word \"%s\" after \"nat %s\" (%s)", args[1], args[0],
                          usage);
            return 2;
        }
    }
    size_t max = q->view == NAT_VIEW_SUMMARY ? 2 : 3;
    if (nargs > max) {
        strbuf_printf(err, "unexpected \"%s\" at the end (%s)", args[max], usage);
        return 2;
    }
    if (nargs == 3 && strcmp(args[2], "all") != 0) {
        if (strlen(args[2]) >= sizeof(q->name)) {
            strbuf_printf(err, "\"%.40s...\" is longer than any %s NAT name", args[2], args[0]);
            return 2;
        }
        bool found = q->view == NAT_VIEW_POOL ? pool_exists(cfg->security, q->kind, args[2])
                                              : rule_exists(cfg, q->kind, args[2]);
        if (!found) {
            strbuf_printf(err,
                          "%s NAT %s \"%s\" is not in the running configuration (see show "
                          "security nat %s%s)",
                          args[0], args[1], args[2], args[0], st ? " rule all" : " summary");
            return 2;
        }
        snprintf(q->name, sizeof(q->name), "%s", args[2]);
    }
    return 0;
}

/* ---- counters ---- */

struct nat_counters {
    const Moat__PolicyCountersReply *r; /* NULL: none */
};

static const Moat__NatRuleCounter *rule_counter(const struct nat_counters *nc, uint32_t id)
{
    for (size_t i = 0; nc->r && i < nc->r->n_nat_rules; i++) {
        if (nc->r->nat_rules[i]->rule_id == id)
            return nc->r->nat_rules[i];
    }
    return NULL;
}

static const Moat__NatPoolCounter *pool_counter(const struct nat_counters *nc, uint32_t pool_id,
                                                uint32_t ifindex)
{
    for (size_t i = 0; nc->r && i < nc->r->n_nat_pools; i++) {
        const Moat__NatPoolCounter *p = nc->r->nat_pools[i];
        if (p->pool_id == pool_id && (pool_id != 0 || p->ifindex == ifindex))
            return p;
    }
    return NULL;
}

/* A counter as text ("-": the helper did not report it). */
static void num_text(struct strbuf *o, bool have, uint64_t v)
{
    if (have)
        strbuf_printf(o, "%" PRIu64, v);
    else
        strbuf_printf(o, "-");
}

static void num_json(struct strbuf *o, const char *key, bool have, uint64_t v)
{
    if (have)
        strbuf_printf(o, ",\"%s\":%" PRIu64, key, v);
    else
        strbuf_printf(o, ",\"%s\":null", key);
}

/* ---- names ---- */

static void addr_text(uint8_t family, const uint8_t *a, char *buf, size_t len)
{
    if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

static void range_text(const struct cfg_addr_range *r, char *buf, size_t len)
{
    char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
    addr_text(r->family, r->lo, lo, sizeof(lo));
    addr_text(r->family, r->hi, hi, sizeof(hi));
    if (memcmp(r->lo, r->hi, r->family == 6 ? 16 : 4) == 0)
        snprintf(buf, len, "%s", lo);
    else
        snprintf(buf, len, "%s-%s", lo, hi);
}

/* Addresses in a range, saturating at UINT64_MAX (IPv6). */
static uint64_t range_size(const struct cfg_addr_range *r)
{
    size_t n = r->family == 6 ? 16 : 4;
    for (size_t i = 0; i + 8 < n; i++) {
        if (r->lo[i] != r->hi[i])
            return UINT64_MAX;
    }
    uint64_t lo = 0, hi = 0;
    for (size_t i = n - (n < 8 ? n : 8); i < n; i++) {
        lo = lo << 8 | r->lo[i];
        hi = hi << 8 | r->hi[i];
    }
    return hi - lo == UINT64_MAX ? UINT64_MAX : hi - lo + 1;
}

static const char *ctx_name(struct controld *c, const struct cfg_nat_context *cx, unsigned i)
{
    if (cx->interface)
        return cx->ids[i] < c->cfg->n_ifaces ? c->cfg->ifaces[cx->ids[i]].name : "?";
    const struct cfg_zone *z = config_zone_by_id(c->cfg, cx->ids[i]);
    return z ? z->name : "?";
}

/* "zone trust", "interface fw0 fw2" */
static void ctx_text(struct controld *c, const struct cfg_nat_context *cx, struct strbuf *o)
{
    strbuf_printf(o, "%s", cx->interface ? "interface" : "zone");
    for (unsigned i = 0; i < cx->n; i++)
        strbuf_printf(o, " %s", ctx_name(c, cx, i));
}

static void ctx_json(struct controld *c, const struct cfg_nat_context *cx, struct strbuf *o)
{
    if (!cx->n) {
        strbuf_printf(o, "null");
        return;
    }
    strbuf_printf(o, "{\"%s\":[", cx->interface ? "interfaces" : "zones");
    for (unsigned i = 0; i < cx->n; i++) {
        strbuf_printf(o, "%s", i ? "," : "");
        strbuf_json_str(o, ctx_name(c, cx, i));
    }
    strbuf_printf(o, "]}");
}

static void prefixes_text(const struct cfg_prefix *p, unsigned n, struct strbuf *o)
{
    if (!n)
        strbuf_printf(o, "any");
    for (unsigned i = 0; i < n; i++) {
        char b[64];
        config_prefix_format(&p[i], b, sizeof(b));
        strbuf_printf(o, "%s%s", i ? ", " : "", b);
    }
}

static void prefixes_json(const struct cfg_prefix *p, unsigned n, struct strbuf *o)
{
    strbuf_printf(o, "[");
    for (unsigned i = 0; i < n; i++) {
        char b[64];
        config_prefix_format(&p[i], b, sizeof(b));
        strbuf_printf(o, "%s\"%s\"", i ? "," : "", b);
    }
    strbuf_printf(o, "]");
}

static const char *pool_name(struct controld *c, enum cfg_nat_kind kind, int pool)
{
    const struct cfg_security *sec = c->cfg->security;
    if (pool < 0)
        return "?";
    if (kind == CFG_NAT_KIND_SOURCE)
        return (unsigned)pool < sec->n_snat_pools ? sec->snat_pools[pool].name : "?";
    return (unsigned)pool < sec->n_dnat_pools ? sec->dnat_pools[pool].name : "?";
}

/* "interface", "pool web", "off", "static-nat 172.16.0.8/30" */
static void action_text(struct controld *c, enum cfg_nat_kind kind, const struct cfg_nat_rule *r,
                        char *buf, size_t len)
{
    char p[64];
    switch (r->action) {
    case CFG_NAT_OFF:
        snprintf(buf, len, "off");
        break;
    case CFG_NAT_INTERFACE:
        snprintf(buf, len, "interface");
        break;
    case CFG_NAT_POOL:
        snprintf(buf, len, "pool %s", pool_name(c, kind, r->pool));
        break;
    case CFG_NAT_PREFIX:
        config_prefix_format(&r->static_prefix, p, sizeof(p));
        snprintf(buf, len, "static-nat %s", p);
        break;
    }
}

static const char *action_kw(enum cfg_nat_action a)
{
    return a == CFG_NAT_OFF         ? "off"
           : a == CFG_NAT_INTERFACE ? "interface"
           : a == CFG_NAT_POOL      ? "pool"
                                    : "static-nat";
}

/* For mirror_names: "RULESET/RULE" and its action, of the running configuration. */
const char *show_nat_rule_name(struct controld *c, uint32_t id, char *buf, size_t len)
{
    struct cfg_nat_rule_ref ref;
    if (!config_nat_rule_by_id(c->cfg, id, &ref))
        return NULL;
    snprintf(buf, len, "%s/%s", ref.rs->name, ref.rule->name);
    return buf;
}

const char *show_nat_rule_action(struct controld *c, uint32_t id, char *buf, size_t len)
{
    struct cfg_nat_rule_ref ref;
    if (!config_nat_rule_by_id(c->cfg, id, &ref))
        return NULL;
    action_text(c, ref.kind, ref.rule, buf, len);
    return buf;
}

/* ---- rules ---- */

static void rule_match_text(const struct cfg_nat_rule *r, struct strbuf *o)
{
    char pb[8];
    bool any = true;
    if (r->n_src) {
        strbuf_printf(o, "source-address ");
        prefixes_text(r->src, r->n_src, o);
        any = false;
    }
    if (r->n_dst) {
        strbuf_printf(o, "%sdestination-address ", any ? "" : "; ");
        prefixes_text(r->dst, r->n_dst, o);
        any = false;
    }
    if (r->dport_lo || r->dport_hi) {
        strbuf_printf(o, "%sdestination-port %u", any ? "" : "; ", r->dport_lo);
        if (r->dport_hi != r->dport_lo)
            strbuf_printf(o, " to %u", r->dport_hi);
        any = false;
    }
    if (r->protocol) {
        strbuf_printf(o, "%sprotocol %s", any ? "" : "; ",
                      mirror_proto_name(r->protocol, pb, sizeof(pb)));
        any = false;
    }
    if (any)
        strbuf_printf(o, "any");
}

/* Each rule of kind in evaluation order, with its id. */
typedef void (*rule_fn)(void *arg, const struct cfg_nat_rule_ref *ref);

static void foreach_rule(struct controld *c, enum cfg_nat_kind kind, const char *name, rule_fn fn,
                         void *arg)
{
    unsigned n = config_nat_rule_count(c->cfg);
    for (unsigned id = 1; id <= n; id++) {
        struct cfg_nat_rule_ref ref;
        if (!config_nat_rule_by_id(c->cfg, id, &ref) || ref.kind != kind)
            continue;
        if (name && name[0] && strcmp(ref.rule->name, name) != 0)
            continue;
        fn(arg, &ref);
    }
}

struct render {
    struct controld *c;
    const struct nat_query *q;
    struct nat_counters nc;
    bool json;
    struct strbuf *o;
    unsigned count; /* items written (JSON commas) */
};

/* Opens a JSON object of a list: {"key":"name" (a comma before all but the first). */
static void json_item(struct render *rd, const char *key, const char *name)
{
    strbuf_printf(rd->o, "%s{\"%s\":", rd->count++ ? "," : "", key);
    strbuf_json_str(rd->o, name);
}

/* Counters v[0..n-1] (have: reported by the helper) as JSON members key[i], or in text each
 * after its label[i]. */
static void counters_out(struct render *rd, unsigned n, const char *const *key,
                         const char *const *label, const uint64_t *v, bool have)
{
    for (unsigned i = 0; i < n; i++) {
        if (rd->json) {
            num_json(rd->o, key[i], have, v[i]);
        } else {
            strbuf_printf(rd->o, "%s", label[i]);
            num_text(rd->o, have, v[i]);
        }
    }
}

/* A rule's hits and failures: JSON members, the detailed form's two lines or the summary's
 * one. */
static void rule_counters(struct render *rd, const Moat__NatRuleCounter *rc, bool detail)
{
    static const char *const key[2] = {"hits", "failures"};
    static const char *const label[2][2] = {
        {"      Translation hits: ", ", failures: "},
        {"  Translation hits       : ", "\n  Failed translations    : "}};
    const uint64_t v[2] = {rc ? rc->hits : 0, rc ? rc->failures : 0};
    counters_out(rd, 2, key, label[detail], v, rc != NULL);
    if (!rd->json)
        strbuf_printf(rd->o, "\n");
}

/* The port counters of a source pool or an interface: JSON members, the summary's line
 * ("\n    Ports in use: N of M, ...\n") or the detailed form's four lines (no newline after
 * the last). */
static void port_counters(struct render *rd, const Moat__NatPoolCounter *pc, bool detail)
{
    static const char *const key[4] = {"ports_in_use", "ports_total", "allocations", "exhausted"};
    static const char *const label[2][4] = {
        {"\n    Ports in use: ", " of ", ", allocations: ", ", exhausted: "},
        {"Ports in use       : ", "\nPorts total        : ", "\nAllocations        : ",
         "\nExhausted          : "}};
    const uint64_t v[4] = {pc ? pc->ports_in_use : 0, pc ? pc->ports_total : 0,
                           pc ? pc->allocations : 0, pc ? pc->exhausted : 0};
    counters_out(rd, 4, key, label[detail], v, pc != NULL);
    if (!rd->json && !detail)
        strbuf_printf(rd->o, "\n");
}

static void rule_json(struct render *rd, const struct cfg_nat_rule_ref *ref)
{
    struct strbuf *o = rd->o;
    const struct cfg_nat_rule *r = ref->rule;
    const Moat__NatRuleCounter *rc = rule_counter(&rd->nc, ref->id);
    strbuf_printf(o, "%s{\"id\":%u,\"name\":", rd->count++ ? "," : "", ref->id);
    strbuf_json_str(o, r->name);
    strbuf_printf(o, ",\"rule_set\":");
    strbuf_json_str(o, ref->rs->name);
    strbuf_printf(o, ",\"position\":%u,\"from\":", ref->position);
    ctx_json(rd->c, &ref->rs->from, o);
    strbuf_printf(o, ",\"to\":");
    ctx_json(rd->c, &ref->rs->to, o);
    strbuf_printf(o, ",\"source_addresses\":");
    prefixes_json(r->src, r->n_src, o);
    strbuf_printf(o, ",\"destination_addresses\":");
    prefixes_json(r->dst, r->n_dst, o);
    if (r->dport_lo || r->dport_hi)
        strbuf_printf(o, ",\"destination_port\":{\"low\":%u,\"high\":%u}", r->dport_lo,
                      r->dport_hi);
    else
        strbuf_printf(o, ",\"destination_port\":null");
    if (r->protocol)
        strbuf_printf(o, ",\"protocol\":%u", r->protocol);
    else
        strbuf_printf(o, ",\"protocol\":null");
    strbuf_printf(o, ",\"action\":\"%s\",\"pool\":", action_kw(r->action));
    if (r->action == CFG_NAT_POOL)
        strbuf_json_str(o, pool_name(rd->c, ref->kind, r->pool));
    else
        strbuf_printf(o, "null");
    strbuf_printf(o, ",\"static_prefix\":");
    if (r->action == CFG_NAT_PREFIX) {
        char p[64];
        config_prefix_format(&r->static_prefix, p, sizeof(p));
        strbuf_printf(o, "\"%s\"", p);
    } else {
        strbuf_printf(o, "null");
    }
    rule_counters(rd, rc, false);
    strbuf_printf(o, "}");
}

static void rule_json_fn(void *arg, const struct cfg_nat_rule_ref *ref)
{
    rule_json(arg, ref);
}

/* The detailed form of `... rule NAME|all`, SRX style. */
static void rule_detail(void *arg, const struct cfg_nat_rule_ref *ref)
{
    struct render *rd = arg;
    if (rd->json) {
        rule_json(rd, ref);
        return;
    }
    struct strbuf *o = rd->o;
    const struct cfg_nat_rule *r = ref->rule;
    const Moat__NatRuleCounter *rc = rule_counter(&rd->nc, ref->id);
    char a[128], pb[8];
    if (rd->count++)
        strbuf_printf(o, "\n");
    strbuf_printf(o, "%s NAT rule: %s, Rule-set: %s\n", kind_title[ref->kind], r->name,
                  ref->rs->name);
    strbuf_printf(o, "  Rule-Id                : %u\n", ref->id);
    strbuf_printf(o, "  Rule position          : %u\n", ref->position);
    strbuf_printf(o, "  From                   : ");
    ctx_text(rd->c, &ref->rs->from, o);
    if (ref->rs->to.n) {
        strbuf_printf(o, "\n  To                     : ");
        ctx_text(rd->c, &ref->rs->to, o);
    }
    strbuf_printf(o, "\n  Match\n    Source addresses     : ");
    prefixes_text(r->src, r->n_src, o);
    strbuf_printf(o, "\n    Destination addresses: ");
    prefixes_text(r->dst, r->n_dst, o);
    if (ref->kind != CFG_NAT_KIND_STATIC) {
        strbuf_printf(o, "\n    Destination port     : ");
        if (r->dport_lo || r->dport_hi)
            strbuf_printf(o, r->dport_lo == r->dport_hi ? "%u" : "%u-%u", r->dport_lo, r->dport_hi);
        else
            strbuf_printf(o, "any");
        strbuf_printf(o, "\n    Protocol             : %s",
                      r->protocol ? mirror_proto_name(r->protocol, pb, sizeof(pb)) : "any");
    }
    action_text(rd->c, ref->kind, r, a, sizeof(a));
    strbuf_printf(o, "\n  Action                 : %s\n", a);
    rule_counters(rd, rc, true);
}

/* ---- pools ---- */

/* "lan-out/to-pool, ..." of the rules naming pool (index) of kind. */
static void pool_users(struct controld *c, enum cfg_nat_kind kind, int pool, struct strbuf *o,
                       bool json)
{
    unsigned n;
    const struct cfg_nat_rule_set *rs = config_nat_rule_sets(c->cfg, kind, &n);
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = 0; j < rs[i].n_rules; j++) {
            const struct cfg_nat_rule *r = &rs[i].rules[j];
            if (r->action != CFG_NAT_POOL || r->pool != pool)
                continue;
            char b[2 * CFG_NAME_MAX + 2];
            snprintf(b, sizeof(b), "%s/%s", rs[i].name, r->name);
            if (json) {
                strbuf_printf(o, "%s", k ? "," : "");
                strbuf_json_str(o, b);
            } else {
                strbuf_printf(o, "%s%s", k ? ", " : "", b);
            }
            k++;
        }
    }
    if (!k && !json)
        strbuf_printf(o, "none");
}

/* The end of a pool's JSON object ("rules":[...]}) or of its detailed form ("Used by
 * rules" line). */
static void pool_rules(struct render *rd, enum cfg_nat_kind kind, unsigned i)
{
    if (rd->json) {
        strbuf_printf(rd->o, ",\"rules\":[");
        pool_users(rd->c, kind, (int)i, rd->o, true);
        strbuf_printf(rd->o, "]}");
        return;
    }
    strbuf_printf(rd->o, "\nUsed by rules      : ");
    pool_users(rd->c, kind, (int)i, rd->o, false);
    strbuf_printf(rd->o, "\n");
}

/* The first lines of a pool's detailed form (a blank line before all but the first). */
static void pool_head(struct render *rd, const char *name, unsigned id)
{
    if (rd->count++)
        strbuf_printf(rd->o, "\n");
    strbuf_printf(rd->o, "Pool name          : %s\n", name);
    strbuf_printf(rd->o, "Pool id            : %u\n", id);
}

/* Destination pools have no counter of their own: the hits of the rules naming them. */
static bool dnat_pool_hits(struct render *rd, int pool, uint64_t *hits)
{
    bool any = false;
    *hits = 0;
    unsigned n = config_nat_rule_count(rd->c->cfg);
    for (unsigned id = 1; id <= n; id++) {
        struct cfg_nat_rule_ref ref;
        if (!config_nat_rule_by_id(rd->c->cfg, id, &ref) || ref.kind != CFG_NAT_KIND_DESTINATION ||
            ref.rule->action != CFG_NAT_POOL || ref.rule->pool != pool)
            continue;
        const Moat__NatRuleCounter *rc = rule_counter(&rd->nc, id);
        *hits += rc ? rc->hits : 0;
        any = any || rc;
    }
    return any;
}

static void snat_pool_out(struct render *rd, unsigned i, bool detail)
{
    struct strbuf *o = rd->o;
    const struct cfg_snat_pool *p = &rd->c->cfg->security->snat_pools[i];
    const Moat__NatPoolCounter *pc = pool_counter(&rd->nc, i + 1, 0);
    uint64_t addrs = 0;
    for (unsigned k = 0; k < p->n_ranges; k++) {
        uint64_t sz = range_size(&p->ranges[k]);
        addrs = addrs > UINT64_MAX - sz ? UINT64_MAX : addrs + sz;
    }
    char rb[96];
    if (rd->json) {
        json_item(rd, "name", p->name);
        strbuf_printf(o, ",\"id\":%u,\"ranges\":[", i + 1);
        for (unsigned k = 0; k < p->n_ranges; k++) {
            char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
            addr_text(p->family, p->ranges[k].lo, lo, sizeof(lo));
            addr_text(p->family, p->ranges[k].hi, hi, sizeof(hi));
            strbuf_printf(o, "%s{\"low\":\"%s\",\"high\":\"%s\"}", k ? "," : "", lo, hi);
        }
        strbuf_printf(o,
                      "],\"addresses\":%" PRIu64 ",\"port_low\":%u,\"port_high\":%u,"
                      "\"port_translation\":%s,\"address_persistent\":%s",
                      addrs, p->port_lo, p->port_hi, p->no_port_translation ? "false" : "true",
                      p->address_persistent ? "true" : "false");
        port_counters(rd, pc, false);
        pool_rules(rd, CFG_NAT_KIND_SOURCE, i);
        return;
    }
    if (!detail) {
        strbuf_printf(o, "  Pool %s (id %u): ", p->name, i + 1);
        for (unsigned k = 0; k < p->n_ranges; k++) {
            range_text(&p->ranges[k], rb, sizeof(rb));
            strbuf_printf(o, "%s%s", k ? ", " : "", rb);
        }
        if (p->no_port_translation)
            strbuf_printf(o, "; ports kept");
        else
            strbuf_printf(o, "; ports %u-%u", p->port_lo, p->port_hi);
        strbuf_printf(o, "%s", p->address_persistent ? "; persistent" : "");
        port_counters(rd, pc, false);
        return;
    }
    pool_head(rd, p->name, i + 1);
    for (unsigned k = 0; k < p->n_ranges; k++) {
        range_text(&p->ranges[k], rb, sizeof(rb));
        strbuf_printf(o, "%s%s\n", k ? "                     " : "Address range      : ", rb);
    }
    if (addrs == UINT64_MAX)
        strbuf_printf(o, "Addresses          : 2^64 or more\n");
    else
        strbuf_printf(o, "Addresses          : %" PRIu64 "\n", addrs);
    if (p->no_port_translation)
        strbuf_printf(o, "Port range         : no translation (ports kept)\n");
    else
        strbuf_printf(o, "Port range         : %u-%u\n", p->port_lo, p->port_hi);
    strbuf_printf(o, "Address persistent : %s\n", p->address_persistent ? "yes" : "no");
    port_counters(rd, pc, true);
    pool_rules(rd, CFG_NAT_KIND_SOURCE, i);
}

/* The addresses of a configured interface: "a","b" (JSON) or a, b. */
static void iface_addrs(struct strbuf *o, const struct cfg_interface *ci, bool json)
{
    for (unsigned a = 0; a < ci->n_addrs; a++) {
        char ab[INET6_ADDRSTRLEN];
        addr_text(ci->addrs[a].family, ci->addrs[a].addr, ab, sizeof(ab));
        if (json)
            strbuf_printf(o, "%s\"%s\"", a ? "," : "", ab);
        else
            strbuf_printf(o, "%s%s", a ? ", " : "", ab);
    }
}

/* Does an interface-NAT rule of the running config leave through cfg->ifaces[iface]? */
static bool iface_translates(struct controld *c, unsigned iface)
{
    const struct cfg_interface *ci = &c->cfg->ifaces[iface];
    unsigned n_sets;
    const struct cfg_nat_rule_set *rs = config_nat_rule_sets(c->cfg, CFG_NAT_KIND_SOURCE, &n_sets);
    for (unsigned s = 0; s < n_sets; s++) {
        bool uses = false;
        for (unsigned k = 0; k < rs[s].n_rules; k++)
            uses = uses || rs[s].rules[k].action == CFG_NAT_INTERFACE;
        for (unsigned k = 0; uses && k < rs[s].to.n; k++) {
            if (rs[s].to.interface ? rs[s].to.ids[k] == iface
                                   : ci->zone_id && rs[s].to.ids[k] == ci->zone_id)
                return true;
        }
    }
    return false;
}

/*
 * Interface NAT: the egress interfaces of `source-nat interface` rules (in config order),
 * their addresses and the helper's counters (NatPoolCounter pool_id 0, by ifindex). Returns
 * how many there are; emit false only counts them.
 */
static unsigned iface_pools(struct render *rd, bool detail, bool emit)
{
    unsigned count = 0;
    struct controld *c = rd->c;
    struct strbuf *o = rd->o;
    for (unsigned i = 0; i < c->cfg->n_ifaces; i++) {
        const struct cfg_interface *ci = &c->cfg->ifaces[i];
        if (!iface_translates(c, i))
            continue;
        count++;
        if (!emit)
            continue;
        uint32_t ifindex = 0;
        for (unsigned k = 0; k < c->n_ifaces; k++) {
            if (strcmp(c->ifaces[k].name, ci->name) == 0)
                ifindex = c->ifaces[k].ifindex;
        }
        const Moat__NatPoolCounter *pc = ifindex ? pool_counter(&rd->nc, 0, ifindex) : NULL;
        if (rd->json) {
            json_item(rd, "interface", ci->name);
            strbuf_printf(o, ",\"ifindex\":%u,\"addresses\":[", ifindex);
            iface_addrs(o, ci, true);
            strbuf_printf(o, "]");
            port_counters(rd, pc, false);
            strbuf_printf(o, "}");
            continue;
        }
        if (detail && rd->count++)
            strbuf_printf(o, "\n");
        if (detail)
            strbuf_printf(o, "Pool name          : interface %s\nAddress            : ", ci->name);
        else
            strbuf_printf(o, "  Interface %s: ", ci->name);
        iface_addrs(o, ci, false);
        if (!ci->n_addrs)
            strbuf_printf(o, "no address configured");
        if (!ifindex)
            strbuf_printf(o, " (not present in the kernel)");
        if (detail)
            strbuf_printf(o, "\n");
        port_counters(rd, pc, detail);
        if (detail)
            strbuf_printf(o, "\n");
    }
    return count;
}

static void dnat_pool_out(struct render *rd, unsigned i, bool detail)
{
    struct strbuf *o = rd->o;
    const struct cfg_dnat_pool *p = &rd->c->cfg->security->dnat_pools[i];
    uint64_t hits;
    bool have = dnat_pool_hits(rd, (int)i, &hits);
    char ab[64];
    config_prefix_format(&p->addr, ab, sizeof(ab));
    if (rd->json) {
        json_item(rd, "name", p->name);
        strbuf_printf(o, ",\"id\":%u,\"address\":\"%s\",\"port\":", i + 1, ab);
        if (p->port)
            strbuf_printf(o, "%u", p->port);
        else
            strbuf_printf(o, "null");
        num_json(o, "hits", have, hits);
        pool_rules(rd, CFG_NAT_KIND_DESTINATION, i);
        return;
    }
    if (!detail) {
        strbuf_printf(o, "  Pool %s (id %u): %s", p->name, i + 1, ab);
        if (p->port)
            strbuf_printf(o, " port %u", p->port);
        strbuf_printf(o, "\n    Translation hits: ");
        num_text(o, have, hits);
        strbuf_printf(o, "\n");
        return;
    }
    pool_head(rd, p->name, i + 1);
    strbuf_printf(o, "Address            : %s\n", ab);
    if (p->port)
        strbuf_printf(o, "Port               : %u\n", p->port);
    else
        strbuf_printf(o, "Port               : kept\n");
    strbuf_printf(o, "Translation hits   : ");
    num_text(o, have, hits);
    pool_rules(rd, CFG_NAT_KIND_DESTINATION, i);
}

/* The configured pools of the query's kind (those named, if it names one). */
static void pool_list(struct render *rd, bool detail)
{
    const struct cfg_security *sec = rd->c->cfg->security;
    const char *name = rd->q->name;
    bool src = rd->q->kind == CFG_NAT_KIND_SOURCE;
    unsigned n = src ? sec->n_snat_pools : sec->n_dnat_pools;
    for (unsigned i = 0; i < n; i++) {
        const char *pn = src ? sec->snat_pools[i].name : sec->dnat_pools[i].name;
        if (name[0] && strcmp(pn, name) != 0)
            continue;
        if (src)
            snat_pool_out(rd, i, detail);
        else
            dnat_pool_out(rd, i, detail);
    }
}

/* Text: the configured pools, then (source NAT, no name) the interfaces translating. */
static void pools(struct render *rd, bool detail)
{
    pool_list(rd, detail);
    if (rd->q->kind == CFG_NAT_KIND_SOURCE && !rd->q->name[0])
        iface_pools(rd, detail, true);
}

/* ---- summary ---- */

static void summary_rule(void *arg, const struct cfg_nat_rule_ref *ref)
{
    struct render *rd = arg;
    if (rd->json) {
        rule_json(rd, ref);
        return;
    }
    struct strbuf *o = rd->o;
    const Moat__NatRuleCounter *rc = rule_counter(&rd->nc, ref->id);
    char a[128];
    if (ref->position == 1) {
        strbuf_printf(o, "  Rule-set %s: from ", ref->rs->name);
        ctx_text(rd->c, &ref->rs->from, o);
        if (ref->rs->to.n) {
            strbuf_printf(o, " to ");
            ctx_text(rd->c, &ref->rs->to, o);
        }
        strbuf_printf(o, "\n");
    }
    action_text(rd->c, ref->kind, ref->rule, a, sizeof(a));
    strbuf_printf(o, "    Rule %s (id %u): match ", ref->rule->name, ref->id);
    rule_match_text(ref->rule, o);
    strbuf_printf(o, "; then %s\n", a);
    rule_counters(rd, rc, false);
}

static unsigned count_rules(struct controld *c, enum cfg_nat_kind kind)
{
    unsigned n, total = 0;
    const struct cfg_nat_rule_set *rs = config_nat_rule_sets(c->cfg, kind, &n);
    for (unsigned i = 0; i < n; i++)
        total += rs[i].n_rules;
    return total;
}

void show_nat_render(struct controld *c, const struct nat_query *q,
                     const Moat__PolicyCountersReply *r, const char *note, bool json,
                     struct strbuf *o)
{
    struct render rd = {.c = c, .q = q, .nc = {r}, .json = json, .o = o};
    const struct cfg_security *sec = c->cfg->security;
    const char *kind = config_nat_kind_name(q->kind);
    unsigned n_sets;
    config_nat_rule_sets(c->cfg, q->kind, &n_sets);
    unsigned n_rules = count_rules(c, q->kind);
    unsigned n_pools = q->kind == CFG_NAT_KIND_SOURCE        ? sec->n_snat_pools
                       : q->kind == CFG_NAT_KIND_DESTINATION ? sec->n_dnat_pools
                                                             : 0;
    if (json) {
        strbuf_printf(o, "{\"kind\":\"%s\",\"generation\":%" PRIu64 ",\"counters\":%s", kind,
                      c->generation, r ? "true" : "false");
        if (r)
            strbuf_printf(o, ",\"counters_generation\":%" PRIu64, r->generation);
        strbuf_printf(o, ",\"counters_note\":");
        if (note)
            strbuf_json_str(o, note);
        else
            strbuf_printf(o, "null");
        if (q->view != NAT_VIEW_RULE) {
            strbuf_printf(o, ",\"pools\":[");
            rd.count = 0;
            pool_list(&rd, false);
            if (q->kind == CFG_NAT_KIND_SOURCE) {
                strbuf_printf(o, "],\"interfaces\":[");
                rd.count = 0;
                if (!q->name[0])
                    iface_pools(&rd, false, true);
            }
            strbuf_printf(o, "]");
        }
        if (q->view != NAT_VIEW_POOL) {
            strbuf_printf(o, ",\"rules\":[");
            rd.count = 0;
            foreach_rule(c, q->kind, q->name, rule_json_fn, &rd);
            strbuf_printf(o, "]");
        }
        strbuf_printf(o, "}\n");
        return;
    }
    if (note)
        strbuf_printf(o, "(%s)\n", note);
    switch (q->view) {
    case NAT_VIEW_SUMMARY:
        strbuf_printf(o, "%s NAT pools: %u", kind_title[q->kind], n_pools);
        if (q->kind == CFG_NAT_KIND_SOURCE)
            strbuf_printf(o, ", interfaces translating to their own address: %u",
                          iface_pools(&rd, false, false));
        strbuf_printf(o, "\n");
        pools(&rd, false);
        strbuf_printf(o, "%s NAT rule-sets: %u, rules: %u\n", kind_title[q->kind], n_sets, n_rules);
        foreach_rule(c, q->kind, NULL, summary_rule, &rd);
        break;
    case NAT_VIEW_POOL:
        pools(&rd, true);
        if (!rd.count)
            strbuf_printf(o, "No %s NAT pools are configured.\n", kind);
        break;
    case NAT_VIEW_RULE:
        foreach_rule(c, q->kind, q->name, rule_detail, &rd);
        if (!rd.count)
            strbuf_printf(o, "No %s NAT rules are configured.\n", kind);
        break;
    }
}
