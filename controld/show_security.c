/* SPDX-License-Identifier: MIT */
/*
 * show_security.c — `show security zones|policies [hit-count]|flow session [...]|nat ...` and
 * `clear security flow session [...]`. Hit counts, NAT counters and clearing ask the helper and
 * answer the moatctl client when its reply (matched by request_id) arrives, or after
 * HELPER_ASK_TIMEOUT_MS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_tree.h"
#include "helper.h"
#include "legacy.h"
#include "log.h"
#include "show.h"

#define HELPER_ASK_TIMEOUT_MS 5000
static const char helper_timeout_msg[] = "the dataplane helper did not answer (helper down?)";

/* ---- names ---- */

static const char *ifname_cb(void *arg, uint32_t ifindex)
{
    struct ctl_iface *ifc = ctl_iface_by_ifindex(arg, ifindex);
    return ifc ? ifc->name : NULL;
}

static const char *zone_cb(void *arg, uint32_t zone_id)
{
    struct controld *c = arg;
    const struct cfg_zone *z = config_zone_by_id(c->cfg, zone_id);
    return z ? z->name : NULL;
}

static const char *nat_rule_cb(void *arg, uint32_t id, char *buf, size_t len)
{
    return show_nat_rule_name(arg, id, buf, len);
}

static const char *nat_action_cb(void *arg, uint32_t id, char *buf, size_t len)
{
    return show_nat_rule_action(arg, id, buf, len);
}

void show_mirror_names(struct controld *c, struct mirror_names *nm)
{
    nm->ifname = ifname_cb;
    nm->zone = zone_cb;
    nm->arg = c;
    nm->nat_rule = nat_rule_cb;
    nm->nat_action = nat_action_cb;
}

static const char *zone_name(struct controld *c, unsigned id)
{
    const struct cfg_zone *z = config_zone_by_id(c->cfg, id);
    return z ? z->name : "?";
}

/* ---- show security zones ---- */

static const char *const svc_names[] = {"ping",       "ssh",  "telnet",  "http", "https",
                                        "dns",        "dhcp", "dhcpv6",  "ntp",  "snmp",
                                        "traceroute", "ike",  "netconf", "ftp"};
static const char *const proto_names[] = {"bgp", "ospf", "ospf3",           "rip", "ripng", "vrrp",
                                          "bfd", "pim",  "router-discovery"};

static void bits_list(struct strbuf *o, uint32_t bits, const char *const *names, unsigned n,
                      bool json)
{
    bool first = true;
    for (unsigned i = 0; i < n; i++) {
        if (!(bits & (1u << i)))
            continue;
        if (json)
            strbuf_printf(o, "%s\"%s\"", first ? "" : ",", names[i]);
        else
            strbuf_printf(o, "%s%s", first ? "" : " ", names[i]);
        first = false;
    }
    if (first && !json)
        strbuf_printf(o, "none");
}

static int show_zones(struct controld *c, bool json, struct strbuf *o)
{
    const struct cfg_security *sec = c->cfg->security;
    unsigned n = sec ? sec->n_zones : 0;
    const unsigned nsvc = sizeof(svc_names) / sizeof(svc_names[0]);
    const unsigned nproto = sizeof(proto_names) / sizeof(proto_names[0]);
    if (json)
        strbuf_printf(o, "{\"zones\":[");
    for (unsigned i = 0; i < n; i++) {
        const struct cfg_zone *z = &sec->zones[i];
        if (json) {
            strbuf_printf(o, "%s{\"name\":", i ? "," : "");
            strbuf_json_str(o, z->name);
            strbuf_printf(o, ",\"id\":%u,\"interfaces\":[", z->zone_id);
            for (unsigned k = 0; k < z->n_ifaces; k++) {
                strbuf_printf(o, "%s", k ? "," : "");
                strbuf_json_str(o, c->cfg->ifaces[z->ifaces[k]].name);
            }
            strbuf_printf(o, "],\"host_inbound_services\":[");
            bits_list(o, z->host_services, svc_names, nsvc, true);
            strbuf_printf(o, "],\"host_inbound_protocols\":[");
            bits_list(o, z->host_protocols, proto_names, nproto, true);
            strbuf_printf(o, "],\"screen\":");
            if (z->screen >= 0)
                strbuf_json_str(o, sec->screens[z->screen].name);
            else
                strbuf_printf(o, "null");
            strbuf_printf(o, "}");
            continue;
        }
        strbuf_printf(o, "Security zone: %s\n  Zone ID: %u\n  Interfaces bound: %u\n  Interfaces:",
                      z->name, z->zone_id, z->n_ifaces);
        for (unsigned k = 0; k < z->n_ifaces; k++)
            strbuf_printf(o, " %s", c->cfg->ifaces[z->ifaces[k]].name);
        strbuf_printf(o, "\n  Host-inbound system-services: ");
        bits_list(o, z->host_services, svc_names, nsvc, false);
        strbuf_printf(o, "\n  Host-inbound protocols: ");
        bits_list(o, z->host_protocols, proto_names, nproto, false);
        strbuf_printf(o, "\n  Screen: %s\n\n",
                      z->screen >= 0 ? sec->screens[z->screen].name : "none");
    }
    if (json)
        strbuf_printf(o, "]}\n");
    else if (!n)
        strbuf_printf(o, "No security zones are configured.\n");
    return 0;
}

/* ---- show security policies ---- */

static const struct config_node *child(const struct config_node *n, const char *kw,
                                       const char *word0)
{
    for (unsigned i = 0; n && i < n->n_children; i++) {
        const struct config_node *ch = n->children[i];
        if (strcmp(ch->keyword, kw) == 0 &&
            (!word0 || (ch->n_words && strcmp(ch->words[0].text, word0) == 0)))
            return ch;
    }
    return NULL;
}

/* The policy's node in the tree, for the names the operator wrote. */
static const struct config_node *policy_node(struct controld *c, const struct cfg_policy *p)
{
    const struct config_node *pol =
        child(child(&c->cfg->tree->root, "security", NULL), "policies", NULL);
    const char *from = zone_name(c, p->from_zone), *to = zone_name(c, p->to_zone);
    for (unsigned i = 0; pol && i < pol->n_children; i++) {
        const struct config_node *fz = pol->children[i];
        if (strcmp(fz->keyword, "from-zone") == 0 && fz->n_words == 3 &&
            strcmp(fz->words[0].text, from) == 0 && strcmp(fz->words[2].text, to) == 0)
            return child(fz, "policy", p->name);
    }
    return NULL;
}

/* The names of `match KW ...` (list brackets dropped). */
static void match_names(const struct config_node *pn, const char *kw, struct strbuf *o, bool json)
{
    const struct config_node *m = child(pn, "match", NULL);
    bool first = true;
    for (unsigned i = 0; m && i < m->n_children; i++) {
        const struct config_node *ch = m->children[i];
        if (strcmp(ch->keyword, kw) != 0)
            continue;
        for (unsigned w = 0; w < ch->n_words; w++) {
            if (ch->words[w].kind == CFG_WORD_LIST_OPEN || ch->words[w].kind == CFG_WORD_LIST_CLOSE)
                continue;
            if (json) {
                strbuf_printf(o, "%s", first ? "" : ",");
                strbuf_json_str(o, ch->words[w].text);
            } else {
                strbuf_printf(o, "%s%s", first ? "" : ", ", ch->words[w].text);
            }
            first = false;
        }
    }
    if (first && !json)
        strbuf_printf(o, "?");
}

static void prefixes_json(struct strbuf *o, const struct cfg_addr_match *m)
{
    strbuf_printf(o, "[");
    for (unsigned i = 0; !m->any && i < m->n_prefixes; i++) {
        char buf[64];
        config_prefix_format(&m->prefixes[i], buf, sizeof(buf));
        strbuf_printf(o, "%s\"%s\"", i ? "," : "", buf);
    }
    strbuf_printf(o, "]");
}

static const char *action_name(enum cfg_policy_action a)
{
    return a == CFG_POLICY_PERMIT ? "permit" : a == CFG_POLICY_DENY ? "deny" : "reject";
}

static int show_policies(struct controld *c, bool json, struct strbuf *o)
{
    const struct cfg_security *sec = c->cfg->security;
    unsigned n = sec ? sec->n_policies : 0;
    const char *defp =
        sec && sec->default_policy == CFG_DEFAULT_PERMIT_ALL ? "permit-all" : "deny-all";
    bool reeval = !sec || sec->flow.policy_reevaluate;
    if (json)
        strbuf_printf(o, "{\"default_policy\":\"%s\",\"policy_reevaluate\":%s,\"policies\":[", defp,
                      reeval ? "true" : "false");
    else
        strbuf_printf(o, "Default policy: %s\nPolicy re-evaluation on commit: %s\n", defp,
                      reeval ? "enabled" : "disabled");
    unsigned seq = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct cfg_policy *p = &sec->policies[i];
        bool new_pair = i == 0 || sec->policies[i - 1].from_zone != p->from_zone ||
                        sec->policies[i - 1].to_zone != p->to_zone;
        seq = new_pair ? 1 : seq + 1;
        const struct config_node *pn = policy_node(c, p);
        if (json) {
            strbuf_printf(o, "%s{\"index\":%u,\"sequence\":%u,\"name\":", i ? "," : "", i + 1, seq);
            strbuf_json_str(o, p->name);
            strbuf_printf(o, ",\"from_zone\":");
            strbuf_json_str(o, zone_name(c, p->from_zone));
            strbuf_printf(o, ",\"to_zone\":");
            strbuf_json_str(o, zone_name(c, p->to_zone));
            strbuf_printf(o, ",\"source_addresses\":[");
            match_names(pn, "source-address", o, true);
            strbuf_printf(o, "],\"destination_addresses\":[");
            match_names(pn, "destination-address", o, true);
            strbuf_printf(o, "],\"applications\":[");
            match_names(pn, "application", o, true);
            strbuf_printf(
                o, "],\"source_any\":%s,\"source_prefixes\":", p->src.any ? "true" : "false");
            prefixes_json(o, &p->src);
            strbuf_printf(o, ",\"destination_any\":%s,\"destination_prefixes\":",
                          p->dst.any ? "true" : "false");
            prefixes_json(o, &p->dst);
            strbuf_printf(o,
                          ",\"action\":\"%s\",\"log_session_init\":%s,\"log_session_close\":%s,"
                          "\"count\":%s}",
                          action_name(p->action), p->log_init ? "true" : "false",
                          p->log_close ? "true" : "false", p->count ? "true" : "false");
            continue;
        }
        if (new_pair)
            strbuf_printf(o, "From zone: %s, To zone: %s\n", zone_name(c, p->from_zone),
                          zone_name(c, p->to_zone));
        strbuf_printf(o, "  Policy: %s, Index: %u, Sequence number: %u\n", p->name, i + 1, seq);
        strbuf_printf(o, "    Source addresses: ");
        match_names(pn, "source-address", o, false);
        strbuf_printf(o, "\n    Destination addresses: ");
        match_names(pn, "destination-address", o, false);
        strbuf_printf(o, "\n    Applications: ");
        match_names(pn, "application", o, false);
        strbuf_printf(o, "\n    Action: %s", action_name(p->action));
        if (p->log_init || p->log_close)
            strbuf_printf(o, ", log%s%s", p->log_init ? " session-init" : "",
                          p->log_close ? " session-close" : "");
        if (p->count)
            strbuf_printf(o, ", count");
        strbuf_printf(o, "\n");
    }
    if (json)
        strbuf_printf(o, "]}\n");
    else if (!n)
        strbuf_printf(o, "No security policies are configured.\n");
    return 0;
}

/* ---- hit counts (asks the helper) ---- */

struct ask {
    bool json;
    uint64_t generation; /* of the running config when asked */
    bool nat;            /* counters for show security nat (else policy hit counts) */
    struct nat_query nat_query;
    bool screen;            /* counters for show security screen statistics */
    unsigned screen_zone;   /* that zone's id, 0: every zone with a screen */
    uint64_t legacy_closed; /* clear: sessions the legacy in-kernel path closed already */
};

/* Whether the helper can be asked and a client waits for the answer; if not, err says why
 * (missing: what the operator does not get, "no hit counts"). */
static bool can_ask(struct controld *c, const struct op_ctx *ctx, const char *missing,
                    struct strbuf *err)
{
    if (helper_get_state(c->helper) == HELPER_DOWN) {
        strbuf_printf(err, "the dataplane helper is down: %s (see show system status)", missing);
        return false;
    }
    if (!ctx || !ctx->cl) {
        strbuf_printf(err, "this command needs a moatctl client to answer");
        return false;
    }
    return true;
}

/*
 * Sends the helper a SessionClear of ids (clear) or a PolicyCountersRequest and defers the
 * client's answer to the reply, rendered as want says (copied, freed with the request). A
 * failed send answers "fail: why" at once.
 */
static int ask_helper(struct controld *c, const struct op_ctx *ctx, const struct ask *want,
                      bool clear, const uint64_t *ids, size_t n, const char *fail,
                      struct strbuf *err)
{
    struct ask *a = calloc(1, sizeof(*a));
    if (!a) {
        strbuf_printf(err, "out of memory");
        return 1;
    }
    *a = *want;
    a->json = ctx->json;
    a->generation = c->generation;
    uint64_t id;
    if (operator_defer(ctx->cl, HELPER_ASK_TIMEOUT_MS, helper_timeout_msg, a, free, &id) < 0) {
        free(a);
        strbuf_printf(err, "cannot keep the request open");
        return 1;
    }
    int rc = clear ? helper_send_session_clear(c->helper, id, ids, n)
                   : helper_send_policy_counters_request(c->helper, id);
    if (rc < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "%s: %s", fail, strerror(-rc));
        operator_answer(ctx->cl, 1, NULL, msg);
    }
    return OP_DEFERRED;
}

/* ---- show security screen statistics [zone Z] ---- */

/* ScreenCounter.counts, in the order of dataplane/screen.h's enum scr_ctr. */
static const char *const screen_ctr_names[] = {
    "icmp-flood",
    "udp-flood",
    "syn-flood",
    "land",
    "syn-fin",
    "tcp-no-flag",
    "fin-no-ack",
    "tear-drop",
    "ping-death",
    "source-session-limit",
    "destination-session-limit",
    "syn-cookie-sent",
    "syn-cookie-valid",
    "syn-cookie-invalid",
};
#define N_SCREEN_CTRS (sizeof(screen_ctr_names) / sizeof(screen_ctr_names[0]))

static int show_screen(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                       size_t nargs, struct strbuf *err)
{
    const char use[] = "use: show security screen statistics [zone NAME]";
    if (nargs < 1 || strcmp(args[0], "statistics") != 0 || (nargs != 1 && nargs != 3) ||
        (nargs == 3 && strcmp(args[1], "zone") != 0)) {
        strbuf_printf(err, "%s", use);
        return 2;
    }
    unsigned zone = 0;
    if (nargs == 3) {
        const struct cfg_zone *z = config_find_zone(c->cfg, args[2]);
        if (!z) {
            strbuf_printf(err, "zone \"%s\" is not configured (see show security zones)", args[2]);
            return 2;
        }
        if (z->screen < 0) {
            strbuf_printf(err,
                          "zone %s has no screen (bind one with security zones security-zone %s "
                          "{ screen NAME; })",
                          z->name, z->name);
            return 2;
        }
        zone = z->zone_id;
    }
    if (!can_ask(c, ctx, "no screen counters", err))
        return 1;
    const struct ask want = {.screen = true, .screen_zone = zone};
    return ask_helper(c, ctx, &want, false, NULL, 0,
                      "cannot ask the dataplane helper for screen counters", err);
}

static void screen_counters_reply(struct controld *c, struct op_client *cl, const struct ask *a,
                                  const Moat__PolicyCountersReply *r)
{
    const struct cfg_security *sec = c->cfg ? c->cfg->security : NULL;
    /* The legacy in-kernel path's drops count with the helper's (the reply is ours until this
     * returns). */
    legacy_screen_counters(c->legacy, (Moat__PolicyCountersReply *)r);
    struct strbuf o;
    strbuf_init(&o);
    if (a->json)
        strbuf_printf(&o, "{\"generation\":%" PRIu64 ",\"zones\":[", r->generation);
    unsigned shown = 0;
    for (size_t i = 0; i < r->n_screens; i++) {
        const Moat__ScreenCounter *sc = r->screens[i];
        if (a->screen_zone && sc->zone_id != a->screen_zone)
            continue;
        const struct cfg_zone *z = config_zone_by_id(c->cfg, sc->zone_id);
        const char *sname = sec && sc->screen_id >= 1 && sc->screen_id <= sec->n_screens
                                ? sec->screens[sc->screen_id - 1].name
                                : "?";
        const char *zname = z ? z->name : "?";
        if (a->json) {
            strbuf_printf(&o, "%s{\"zone\":\"%s\",\"screen\":\"%s\",\"counters\":{",
                          shown ? "," : "", zname, sname);
            for (size_t k = 0; k < N_SCREEN_CTRS; k++)
                strbuf_printf(&o, "%s\"%s\":%" PRIu64, k ? "," : "", screen_ctr_names[k],
                              k < sc->n_counts ? sc->counts[k] : 0);
            strbuf_printf(&o, "}}");
        } else {
            strbuf_printf(&o, "%sScreen statistics: zone %s, screen %s\n", shown ? "\n" : "", zname,
                          sname);
            strbuf_printf(&o, "  %-28s %16s\n", "IDS attack type", "Dropped");
            for (size_t k = 0; k < N_SCREEN_CTRS; k++)
                strbuf_printf(&o, "  %-28s %16" PRIu64 "\n", screen_ctr_names[k],
                              k < sc->n_counts ? sc->counts[k] : 0);
        }
        shown++;
    }
    if (a->json)
        strbuf_printf(&o, "]}\n");
    else if (!shown)
        strbuf_printf(&o, "No zone has a screen in generation %" PRIu64 ".\n", r->generation);
    operator_answer(cl, 0, strbuf_str(&o), NULL);
    strbuf_free(&o);
}

/* `show security nat ...`: with the helper's counters when it can give them. */
static int show_nat(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                    size_t nargs, struct strbuf *out, struct strbuf *err)
{
    struct nat_query q;
    int rc = show_nat_parse(c->cfg, args, nargs, &q, err);
    if (rc)
        return rc;
    if (helper_get_state(c->helper) == HELPER_DOWN || !ctx->cl) {
        show_nat_render(c, &q, NULL,
                        "translation counters unavailable: the dataplane helper is down (see show "
                        "system status)",
                        ctx->json, out);
        return 0;
    }
    const struct ask want = {.nat = true, .nat_query = q};
    return ask_helper(c, ctx, &want, false, NULL, 0,
                      "cannot ask the dataplane helper for NAT counters", err);
}

static void nat_counters_reply(struct controld *c, struct op_client *cl, const struct ask *a,
                               const Moat__PolicyCountersReply *r)
{
    char note[256];
    const Moat__PolicyCountersReply *use = r;
    if (r->generation < c->config_generation) {
        snprintf(note, sizeof(note),
                 "translation counters unavailable: the helper answered for generation %" PRIu64
                 ", older than the running configuration (generation %" PRIu64
                 "); run the command again",
                 r->generation, c->config_generation);
        use = NULL;
    }
    /* The legacy in-kernel path's translations count with the helper's (the reply is ours
     * until this returns). */
    if (use)
        legacy_nat_counters(c->legacy, (Moat__PolicyCountersReply *)use);
    struct strbuf o;
    strbuf_init(&o);
    show_nat_render(c, &a->nat_query, use, use ? NULL : note, a->json, &o);
    operator_answer(cl, 0, strbuf_str(&o), NULL);
    strbuf_free(&o);
}

/* `show security policies hit-count` and `clear security flow session` (legacy_closed: the
 * sessions the legacy in-kernel path closed already, counted in the answer). */
static int ask_policies(struct controld *c, const struct op_ctx *ctx, bool clear,
                        const uint64_t *ids, size_t n, uint64_t legacy_closed, struct strbuf *err)
{
    if (!can_ask(c, ctx, clear ? "no session was cleared" : "no hit counts", err))
        return 1;
    const struct ask want = {.legacy_closed = legacy_closed};
    return ask_helper(c, ctx, &want, clear, ids, n,
                      "cannot send the request to the dataplane helper", err);
}

static const Moat__PolicyCounter *find_counter(const Moat__PolicyCountersReply *r, uint32_t id)
{
    for (size_t i = 0; i < r->n_counters; i++) {
        if (r->counters[i]->policy_id == id)
            return r->counters[i];
    }
    return NULL;
}

void show_policy_counters_reply(struct controld *c, const Moat__PolicyCountersReply *r)
{
    void *data = NULL;
    struct op_client *cl = operator_find(c->op, r->request_id, &data);
    if (!cl) {
        log_debug("policy counters for request %llu arrived after it was answered",
                  (unsigned long long)r->request_id);
        return;
    }
    const struct ask *a = data;
    if (a->nat) {
        nat_counters_reply(c, cl, a, r);
        return;
    }
    if (a->screen) {
        screen_counters_reply(c, cl, a, r);
        return;
    }
    const struct cfg_security *sec = c->cfg->security;
    unsigned n = sec ? sec->n_policies : 0;
    struct strbuf o;
    strbuf_init(&o);
    const Moat__PolicyCounter *def = find_counter(r, 0);
    struct moat_lg_hit lgh; /* the legacy in-kernel path's counts of the same policy */
    legacy_policy_hits(c->legacy, 0, &lgh);
    bool lg_def = lgh.hits > 0;
    if (a->json) {
        strbuf_printf(
            &o, "{\"generation\":%" PRIu64 ",\"running_generation\":%" PRIu64 ",\"policies\":[",
            r->generation, c->generation);
    } else {
        if (r->generation != c->generation)
            strbuf_printf(&o,
                          "(counters of generation %" PRIu64
                          "; the running configuration is generation %" PRIu64 ")\n",
                          r->generation, c->generation);
        strbuf_printf(&o, " %-6s %-16s %-16s %-24s %14s %14s %16s\n", "Index", "From zone",
                      "To zone", "Name", "Policy count", "Packets", "Bytes");
    }
    for (unsigned i = 0; i <= n; i++) {
        /* Config order, then the default policy (id 0) if the helper counted it. */
        const Moat__PolicyCounter *pc;
        const char *from, *to, *name;
        unsigned index;
        if (i < n) {
            const struct cfg_policy *p = &sec->policies[i];
            pc = find_counter(r, i + 1);
            from = zone_name(c, p->from_zone);
            to = zone_name(c, p->to_zone);
            name = p->name;
            index = i + 1;
        } else {
            if (!def && !lg_def)
                break;
            pc = def;
            from = to = "any";
            name = sec && sec->default_policy == CFG_DEFAULT_PERMIT_ALL ? "default-permit-all"
                                                                        : "default-deny-all";
            index = 0;
        }
        uint64_t hits = pc ? pc->hits : 0, pkts = pc ? pc->packets : 0, bytes = pc ? pc->bytes : 0;
        legacy_policy_hits(c->legacy, index, &lgh);
        hits += lgh.hits;
        pkts += lgh.packets;
        bytes += lgh.bytes;
        if (a->json) {
            strbuf_printf(&o, "%s{\"index\":%u,\"name\":", i ? "," : "", index);
            strbuf_json_str(&o, name);
            strbuf_printf(&o, ",\"from_zone\":");
            strbuf_json_str(&o, from);
            strbuf_printf(&o, ",\"to_zone\":");
            strbuf_json_str(&o, to);
            strbuf_printf(&o,
                          ",\"hits\":%" PRIu64 ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
                          hits, pkts, bytes);
        } else {
            strbuf_printf(&o, " %-6u %-16s %-16s %-24s %14" PRIu64 " %14" PRIu64 " %16" PRIu64 "\n",
                          index, from, to, name, hits, pkts, bytes);
        }
    }
    if (a->json)
        strbuf_printf(&o, "]}\n");
    else
        strbuf_printf(&o, "Number of policy: %u\n", n + (def || lg_def ? 1 : 0));
    operator_answer(cl, 0, strbuf_str(&o), NULL);
    strbuf_free(&o);
}

void show_session_clear_reply(struct controld *c, const Moat__SessionClearReply *r)
{
    void *data = NULL;
    struct op_client *cl = operator_find(c->op, r->request_id, &data);
    if (!cl) {
        log_debug("session clear reply for request %llu arrived after it was answered",
                  (unsigned long long)r->request_id);
        return;
    }
    const struct ask *a = data;
    char buf[128];
    if (a->json)
        snprintf(buf, sizeof(buf), "{\"cleared\":%" PRIu64 "}\n", r->closed + a->legacy_closed);
    else
        snprintf(buf, sizeof(buf), "%" PRIu64 " active sessions cleared\n",
                 r->closed + a->legacy_closed);
    log_info("clear security flow session: the helper closed %llu sessions",
             (unsigned long long)r->closed);
    operator_answer(cl, 0, buf, NULL);
}

/* ---- flow sessions ---- */

static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int show_flow_session(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                             size_t nargs, struct strbuf *o, struct strbuf *err)
{
    bool summary = nargs && strcmp(args[0], "summary") == 0;
    if (summary) {
        args++;
        nargs--;
    }
    struct mirror_filter f;
    char msg[256];
    if (mirror_filter_parse(args, nargs, c->cfg, &f, msg, sizeof(msg)) < 0) {
        strbuf_printf(err, "%s", msg);
        return 2;
    }
    if (summary) {
        mirror_render_summary(&c->mirror, &f, ctx->json, o);
        return 0;
    }
    struct mirror_names nm;
    show_mirror_names(c, &nm);
    mirror_render_sessions(&c->mirror, &f, &nm, unix_ms(), ctx->json, o);
    return 0;
}

int show_security(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                  size_t nargs, struct strbuf *out, struct strbuf *err)
{
    /* args: the words after "show security" */
    if (nargs == 1 && strcmp(args[0], "zones") == 0)
        return show_zones(c, ctx->json, out);
    if (nargs == 1 && strcmp(args[0], "policies") == 0)
        return show_policies(c, ctx->json, out);
    if (nargs == 2 && strcmp(args[0], "policies") == 0 && strcmp(args[1], "hit-count") == 0)
        return ask_policies(c, ctx, false, NULL, 0, 0, err);
    if (nargs >= 2 && strcmp(args[0], "flow") == 0 && strcmp(args[1], "session") == 0)
        return show_flow_session(c, ctx, args + 2, nargs - 2, out, err);
    if (nargs >= 1 && strcmp(args[0], "nat") == 0)
        return show_nat(c, ctx, args + 1, nargs - 1, out, err);
    if (nargs >= 1 && strcmp(args[0], "screen") == 0)
        return show_screen(c, ctx, args + 1, nargs - 1, err);
    return -ENOENT;
}

int clear_security(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                   size_t nargs, struct strbuf *out, struct strbuf *err)
{
    /* args: the words after "clear security" */
    if (nargs < 2 || strcmp(args[0], "flow") != 0 || strcmp(args[1], "session") != 0)
        return -ENOENT;
    struct mirror_filter f;
    char msg[256];
    if (mirror_filter_parse(args + 2, nargs - 2, c->cfg, &f, msg, sizeof(msg)) < 0) {
        strbuf_printf(err, "%s", msg);
        return 2;
    }
    uint64_t *ids;
    size_t n;
    if (mirror_collect_ids(&c->mirror, &f, &ids, &n) < 0) {
        strbuf_printf(err, "out of memory collecting the sessions to clear");
        return 1;
    }
    if (n == 0) {
        strbuf_printf(out, ctx->json ? "{\"cleared\":0}\n" : "0 active sessions cleared\n");
        return 0;
    }
    /* Sessions of the legacy in-kernel path are closed here; the helper closes its own. */
    uint64_t lg_closed = legacy_clear(c->legacy, ids, n);
    if (lg_closed && helper_get_state(c->helper) == HELPER_DOWN) {
        strbuf_printf(out,
                      ctx->json ? "{\"cleared\":%" PRIu64 "}\n"
                                : "%" PRIu64 " active sessions cleared\n",
                      lg_closed);
        free(ids);
        return 0;
    }
    int rc = ask_policies(c, ctx, true, ids, n, lg_closed, err);
    free(ids);
    return rc;
}
