/* SPDX-License-Identifier: MIT */
/*
 * config_security.c — `applications` and `security` (address book, screens, zones,
 * policies, flow); NAT is in config_nat.c. Every name a statement refers to is resolved
 * here, so the model holds indices and flattened prefixes rather than names.
 */
#include "config_internal.h"

#include <errno.h>
#include <string.h>

#define SET_MAX_NESTING 8 /* application-set / address-set in sets, levels deep */

void cc_security_defaults(struct cfg_security *sec)
{
    sec->default_policy = CFG_DEFAULT_DENY_ALL;
    sec->flow.tcp_established_timeout = 1800;
    sec->flow.tcp_initial_timeout = 20;
    sec->flow.udp_timeout = 60;
    sec->flow.icmp_timeout = 60;
    sec->flow.aging_high_watermark = 100;
    sec->flow.aging_low_watermark = 100;
    sec->flow.max_sessions = CFG_FLOW_MAX_SESSIONS_DEFAULT;
    sec->flow.policy_reevaluate = true;
}

static int push_index(struct cc *cc, unsigned **arr, unsigned *n, unsigned v)
{
    for (unsigned i = 0; i < *n; i++) {
        if ((*arr)[i] == v)
            return 0;
    }
    unsigned *slot = cfg_arena_push(cc->a, arr, n, sizeof(*slot));
    if (!slot)
        return cc_oom(cc);
    *slot = v;
    return 0;
}

static int push_prefix(struct cc *cc, struct cfg_prefix **arr, unsigned *n,
                       const struct cfg_prefix *p)
{
    for (unsigned i = 0; i < *n; i++) {
        if (memcmp(&(*arr)[i], p, sizeof(*p)) == 0)
            return 0;
    }
    struct cfg_prefix *slot = cfg_arena_push(cc->a, arr, n, sizeof(*slot));
    if (!slot)
        return cc_oom(cc);
    *slot = *p;
    return 0;
}

/* ---- applications ---- */

struct predefined_app {
    const char *name;
    uint8_t protocol;
    uint16_t port;
    int16_t icmp_type;
};

static const struct predefined_app predefined_apps[] = {
    {"any", 0, 0, -1},
    {"junos-http", 6, 80, -1},
    {"junos-https", 6, 443, -1},
    {"junos-ssh", 6, 22, -1},
    {"junos-telnet", 6, 23, -1},
    {"junos-ftp", 6, 21, -1},
    {"junos-smtp", 6, 25, -1},
    {"junos-dns-udp", 17, 53, -1},
    {"junos-dns-tcp", 6, 53, -1},
    {"junos-ntp", 17, 123, -1},
    {"junos-bgp", 6, 179, -1},
    {"junos-ping", 1, 0, 8},
    {"junos-pingv6", 58, 0, 128},
    {"junos-icmp-all", 1, 0, -1},
    {"junos-icmp6-all", 58, 0, -1},
};
#define N_PREDEFINED_APPS (sizeof(predefined_apps) / sizeof(predefined_apps[0]))

static int find_app(const struct cfg_security *sec, const char *name)
{
    for (unsigned i = 0; i < sec->n_apps; i++) {
        if (strcmp(sec->apps[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static int find_app_set(const struct cfg_security *sec, const char *name)
{
    for (unsigned i = 0; i < sec->n_app_sets; i++) {
        if (strcmp(sec->app_sets[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

struct app_ctx {
    struct cfg_application *app;
    const struct config_word *proto, *dport, *sport, *icmp_type, *icmp_code;
};

int cc_protocol(struct cc *cc, const struct config_word *w, uint8_t *out)
{
    static const struct {
        const char *name;
        uint8_t num;
    } names[] = {{"tcp", 6},    {"udp", 17}, {"icmp", 1}, {"icmp6", 58}, {"icmpv6", 58},
                 {"sctp", 132}, {"gre", 47}, {"esp", 50}, {"ah", 51},    {"ospf", 89}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(w->text, names[i].name) == 0) {
            *out = names[i].num;
            return 0;
        }
    }
    if (w->text[0] < '0' || w->text[0] > '9')
        return cc_err_word(cc, w,
                           "unknown protocol \"%s\" (expected tcp, udp, icmp, icmp6, sctp, gre, "
                           "esp, ah, ospf or a number 1..255)",
                           w->text);
    unsigned v = 0;
    int rc = cc_uint(cc, w, "protocol", 1, 255, &v);
    if (!rc)
        *out = (uint8_t)v;
    return rc;
}

/* "80" or "8000-8080". */
static int parse_port_range(struct cc *cc, const struct config_word *w, const char *what,
                            uint16_t *lo, uint16_t *hi)
{
    const char *dash = strchr(w->text, '-');
    unsigned a = 0, b = 0;
    int rc;
    if (!dash) {
        if ((rc = cc_uint(cc, w, what, 0, 65535, &a)))
            return rc;
        *lo = *hi = (uint16_t)a;
        return 0;
    }
    struct config_word part = *w;
    char first[16];
    size_t n = (size_t)(dash - w->text);
    if (n == 0 || n >= sizeof(first))
        return cc_err_word(cc, w, "invalid port range \"%s\" for %s (expected N or N-M)", w->text,
                           what);
    memcpy(first, w->text, n);
    first[n] = '\0';
    part.text = first;
    if ((rc = cc_uint(cc, &part, what, 0, 65535, &a)))
        return rc;
    part.text = dash + 1;
    if ((rc = cc_uint(cc, &part, what, 0, 65535, &b)))
        return rc;
    if (a > b)
        return cc_err_word(cc, w, "port range %s runs backwards (write %u-%u)", w->text, b, a);
    *lo = (uint16_t)a;
    *hi = (uint16_t)b;
    return 0;
}

#define APP_WORD_HANDLER(fname, field, usage)                                                      \
    static int fname(struct cc *cc, const struct config_node *n, void *ctx)                        \
    {                                                                                              \
        int rc = cc_leaf(cc, n, 1, 1, usage);                                                      \
        if (!rc)                                                                                   \
            ((struct app_ctx *)ctx)->field = &n->words[0];                                         \
        return rc;                                                                                 \
    }
APP_WORD_HANDLER(app_protocol, proto, "protocol tcp|udp|icmp|icmp6|NUMBER")
APP_WORD_HANDLER(app_dport, dport, "destination-port PORT|LOW-HIGH")
APP_WORD_HANDLER(app_sport, sport, "source-port PORT|LOW-HIGH")
APP_WORD_HANDLER(app_icmp_type, icmp_type, "icmp-type NUMBER|echo-request|echo-reply")
APP_WORD_HANDLER(app_icmp_code, icmp_code, "icmp-code NUMBER")

static int app_timeout(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct app_ctx *ac = ctx;
    int rc = cc_leaf(cc, n, 1, 1, "inactivity-timeout SECONDS");
    return rc ? rc
              : cc_uint(cc, &n->words[0], "inactivity-timeout", 1, 86400,
                        &ac->app->inactivity_timeout);
}

static int compile_application(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"protocol", app_protocol, false},      {"destination-port", app_dport, false},
        {"source-port", app_sport, false},      {"inactivity-timeout", app_timeout, false},
        {"icmp-type", app_icmp_type, false},    {"icmp-code", app_icmp_code, false},
        {"description", cc_description, false},
    };
    struct cfg_security *sec = cc->sec;
    int rc = cc_block(cc, n, 1, "application NAME");
    if (rc)
        return rc;
    const struct config_word *nw = &n->words[0];
    int prev = find_app(sec, nw->text);
    if (prev >= 0 && sec->apps[prev].predefined)
        return cc_err_word(cc, nw, "application \"%s\" is predefined; choose another name",
                           nw->text);
    if (prev >= 0)
        return cc_err_word(cc, nw, "application \"%s\" is already defined on line %u", nw->text,
                           sec->apps[prev].line);
    struct cfg_application *app = cfg_arena_push(cc->a, &sec->apps, &sec->n_apps, sizeof(*app));
    if (!app)
        return cc_oom(cc);
    if ((rc = cc_name(cc, nw, "application", app->name, sizeof(app->name))))
        return rc;
    app->line = n->line;
    app->dport_hi = app->sport_hi = 65535;
    app->icmp_type = app->icmp_code = -1;
    struct app_ctx ac = {.app = app};
    if ((rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &ac)))
        return rc;
    if (!ac.proto)
        return cc_err_word(cc, nw, "application %s needs a protocol (protocol tcp|udp|icmp|...;)",
                           nw->text);
    if ((rc = cc_protocol(cc, ac.proto, &app->protocol)))
        return rc;
    bool ports = app->protocol == 6 || app->protocol == 17 || app->protocol == 132;
    bool icmp = app->protocol == 1 || app->protocol == 58;
    const struct config_word *bad = ac.dport ? ac.dport : ac.sport;
    if (bad && !ports)
        return cc_err_word(cc, bad, "ports need protocol tcp, udp or sctp (application %s is %s)",
                           nw->text, ac.proto->text);
    bad = ac.icmp_type ? ac.icmp_type : ac.icmp_code;
    if (bad && !icmp)
        return cc_err_word(cc, bad, "icmp-type and icmp-code need protocol icmp or icmp6");
    if (ac.dport &&
        (rc = parse_port_range(cc, ac.dport, "destination-port", &app->dport_lo, &app->dport_hi)))
        return rc;
    if (ac.sport &&
        (rc = parse_port_range(cc, ac.sport, "source-port", &app->sport_lo, &app->sport_hi)))
        return rc;
    unsigned v = 0;
    if (ac.icmp_type) {
        if (strcmp(ac.icmp_type->text, "echo-request") == 0)
            app->icmp_type = app->protocol == 58 ? 128 : 8;
        else if (strcmp(ac.icmp_type->text, "echo-reply") == 0)
            app->icmp_type = app->protocol == 58 ? 129 : 0;
        else if ((rc = cc_uint(cc, ac.icmp_type, "icmp-type", 0, 255, &v)))
            return rc;
        else
            app->icmp_type = (int16_t)v;
    }
    if (ac.icmp_code) {
        if ((rc = cc_uint(cc, ac.icmp_code, "icmp-code", 0, 255, &v)))
            return rc;
        app->icmp_code = (int16_t)v;
    }
    return 0;
}

static int declare_app_set(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_security *sec = cc->sec;
    int rc = cc_block(cc, n, 1, "application-set NAME");
    if (rc)
        return rc;
    const struct config_word *nw = &n->words[0];
    int prev = find_app(sec, nw->text);
    if (prev >= 0)
        return cc_err_word(cc, nw, "application-set \"%s\" has the name of %s application",
                           nw->text, sec->apps[prev].predefined ? "a predefined" : "an");
    if ((prev = find_app_set(sec, nw->text)) >= 0)
        return cc_err_word(cc, nw, "application-set \"%s\" is already defined on line %u", nw->text,
                           sec->app_sets[prev].line);
    struct cfg_application_set *set =
        cfg_arena_push(cc->a, &sec->app_sets, &sec->n_app_sets, sizeof(*set));
    if (!set)
        return cc_oom(cc);
    set->line = n->line;
    return cc_name(cc, nw, "application-set", set->name, sizeof(set->name));
}

static int ignore_stmt(struct cc *cc, const struct config_node *n, void *ctx)
{
    return 0;
}

/* Resolves a set's members (the pass after every set is declared). state: 0 new, 1 busy, 2 done. */
struct set_walk {
    const struct config_node **nodes; /* by set index */
    unsigned char *state;
    unsigned stack[SET_MAX_NESTING + 1];
    unsigned depth;
    const char *kind; /* "application-set" / "address-set" */
    const char *(*name)(struct cc *cc, unsigned idx);
};

static int cycle_error(struct cc *cc, struct set_walk *sw, unsigned target,
                       const struct config_word *w)
{
    char chain[256] = "";
    unsigned from = 0;
    while (from < sw->depth && sw->stack[from] != target)
        from++;
    for (unsigned i = from; i < sw->depth; i++) {
        size_t used = strlen(chain);
        snprintf(chain + used, sizeof(chain) - used, "%s -> ", sw->name(cc, sw->stack[i]));
    }
    size_t used = strlen(chain);
    snprintf(chain + used, sizeof(chain) - used, "%s", sw->name(cc, target));
    return cc_err_word(cc, w, "%s \"%s\" includes itself (%s)", sw->kind, sw->name(cc, target),
                       chain);
}

/* Before resolving set `inner` into the current one: cycle and depth checks. 1 = resolve it. */
static int enter_check(struct cc *cc, struct set_walk *sw, unsigned inner,
                       const struct config_word *w)
{
    if (sw->state[inner] == 1)
        return cycle_error(cc, sw, inner, w);
    if (sw->state[inner] == 2)
        return 0;
    if (sw->depth >= SET_MAX_NESTING)
        return cc_err_word(cc, w, "%s nesting is deeper than %d levels", sw->kind, SET_MAX_NESTING);
    return 1;
}

static const char *app_set_name(struct cc *cc, unsigned i)
{
    return cc->sec->app_sets[i].name;
}

static int resolve_app_set(struct cc *cc, struct set_walk *sw, unsigned idx);

static int app_set_member(struct cc *cc, struct set_walk *sw, unsigned idx,
                          const struct config_node *m, const struct config_word *w)
{
    struct cfg_security *sec = cc->sec;
    struct cfg_application_set *set = &sec->app_sets[idx];
    int rc;
    bool as_app = strcmp(m->keyword, "application") == 0;
    if (as_app) {
        int a = find_app(sec, w->text);
        if (a >= 0)
            return push_index(cc, &set->apps, &set->n_apps, (unsigned)a);
    }
    int s = find_app_set(sec, w->text); /* `application SET` is accepted too */
    if (s < 0 && as_app)
        return cc_err_word(cc, w,
                           "application \"%s\" is not defined (define it under applications "
                           "application %s)",
                           w->text, w->text);
    if (s < 0)
        return cc_err_word(cc, w,
                           "application-set \"%s\" is not defined (define it under applications "
                           "application-set %s)",
                           w->text, w->text);
    rc = enter_check(cc, sw, (unsigned)s, w);
    if (rc < 0 || (rc == 1 && (rc = resolve_app_set(cc, sw, (unsigned)s))))
        return rc;
    set = &sec->app_sets[idx];
    const struct cfg_application_set *inner = &sec->app_sets[s];
    for (unsigned i = 0; i < inner->n_apps; i++) {
        if ((rc = push_index(cc, &set->apps, &set->n_apps, inner->apps[i])))
            return rc;
    }
    return 0;
}

static int resolve_app_set(struct cc *cc, struct set_walk *sw, unsigned idx)
{
    static const struct cc_stmt tab[] = {
        {"application", ignore_stmt, true},
        {"application-set", ignore_stmt, true},
        {"description", cc_description, false},
    };
    const struct config_node *n = sw->nodes[idx];
    int rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), NULL);
    if (rc)
        return rc;
    sw->state[idx] = 1;
    sw->stack[sw->depth++] = idx;
    for (unsigned i = 0; i < n->n_children; i++) {
        const struct config_node *m = n->children[i];
        const struct config_word **names;
        unsigned count = 0;
        if (strcmp(m->keyword, "description") == 0)
            continue;
        if ((rc = cc_values(cc, m, 0, "application NAME|[ NAME... ]", &names, &count)))
            return rc;
        for (unsigned k = 0; k < count; k++) {
            if ((rc = app_set_member(cc, sw, idx, m, names[k])))
                return rc;
        }
    }
    sw->depth--;
    sw->state[idx] = 2;
    if (cc->sec->app_sets[idx].n_apps == 0)
        return cc_err_node(cc, n, "application-set %s is empty", cc->sec->app_sets[idx].name);
    return 0;
}

int cc_compile_applications(struct cc *cc, const struct config_node *apps)
{
    static const struct cc_stmt tab[] = {
        {"application", compile_application, true},
        {"application-set", declare_app_set, true},
    };
    struct cfg_security *sec = cc->sec;
    for (size_t i = 0; i < N_PREDEFINED_APPS; i++) {
        const struct predefined_app *p = &predefined_apps[i];
        struct cfg_application *app = cfg_arena_push(cc->a, &sec->apps, &sec->n_apps, sizeof(*app));
        if (!app)
            return cc_oom(cc);
        snprintf(app->name, sizeof(app->name), "%s", p->name);
        app->predefined = true;
        app->any = p->protocol == 0;
        app->protocol = p->protocol;
        app->dport_lo = p->port;
        app->dport_hi = p->port ? p->port : 65535;
        app->sport_hi = 65535;
        app->icmp_type = p->icmp_type;
        app->icmp_code = -1;
    }
    if (!apps)
        return 0;
    int rc = cc_dispatch(cc, apps, tab, sizeof(tab) / sizeof(tab[0]), NULL);
    if (rc || sec->n_app_sets == 0)
        return rc;
    struct set_walk sw = {.kind = "application-set", .name = app_set_name};
    sw.nodes = cfg_arena_alloc(cc->a, sizeof(*sw.nodes) * sec->n_app_sets);
    sw.state = cfg_arena_alloc(cc->a, sec->n_app_sets);
    if (!sw.nodes || !sw.state)
        return cc_oom(cc);
    unsigned k = 0;
    for (unsigned i = 0; i < apps->n_children; i++) {
        if (strcmp(apps->children[i]->keyword, "application-set") == 0)
            sw.nodes[k++] = apps->children[i];
    }
    for (unsigned i = 0; i < sec->n_app_sets; i++) {
        if (sw.state[i] == 0 && (rc = resolve_app_set(cc, &sw, i)))
            return rc;
    }
    return 0;
}

/* ---- address book ---- */

static bool reserved_address(const char *name)
{
    return strcmp(name, "any") == 0 || strcmp(name, "any-ipv4") == 0 ||
           strcmp(name, "any-ipv6") == 0;
}

static int find_addr(const struct cfg_security *sec, const char *name)
{
    for (unsigned i = 0; i < sec->n_addrs; i++) {
        if (strcmp(sec->addrs[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

static int find_addr_set(const struct cfg_security *sec, const char *name)
{
    for (unsigned i = 0; i < sec->n_addr_sets; i++) {
        if (strcmp(sec->addr_sets[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* Address names and set names share one namespace. */
static int check_new_address_name(struct cc *cc, const struct config_word *w, const char *kind)
{
    const struct cfg_security *sec = cc->sec;
    if (reserved_address(w->text))
        return cc_err_word(cc, w,
                           "\"%s\" is predefined (it matches every address%s); choose "
                           "another name for this %s",
                           w->text,
                           strcmp(w->text, "any") == 0        ? ""
                           : strcmp(w->text, "any-ipv4") == 0 ? " of IPv4"
                                                              : " of IPv6",
                           kind);
    int i = find_addr(sec, w->text);
    if (i >= 0)
        return cc_err_word(cc, w, "%s name \"%s\" is already used by address %s on line %u", kind,
                           w->text, w->text, sec->addrs[i].line);
    if ((i = find_addr_set(sec, w->text)) >= 0)
        return cc_err_word(cc, w, "%s name \"%s\" is already used by address-set %s on line %u",
                           kind, w->text, w->text, sec->addr_sets[i].line);
    return 0;
}

static int ab_address(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_security *sec = cc->sec;
    struct cfg_prefix p = {0};
    int rc = cc_leaf(cc, n, 2, 2, "address NAME PREFIX");
    if (rc || (rc = check_new_address_name(cc, &n->words[0], "address")) ||
        (rc = cc_prefix(cc, &n->words[1], "address", CC_PFX_NETWORK_OR_HOST, &p)))
        return rc;
    struct cfg_address *a = cfg_arena_push(cc->a, &sec->addrs, &sec->n_addrs, sizeof(*a));
    if (!a)
        return cc_oom(cc);
    a->line = n->line;
    a->prefix = p;
    return cc_name(cc, &n->words[0], "address", a->name, sizeof(a->name));
}

static int ab_address_set(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_security *sec = cc->sec;
    int rc = cc_block(cc, n, 1, "address-set NAME");
    if (rc || (rc = check_new_address_name(cc, &n->words[0], "address-set")))
        return rc;
    struct cfg_address_set *s =
        cfg_arena_push(cc->a, &sec->addr_sets, &sec->n_addr_sets, sizeof(*s));
    if (!s)
        return cc_oom(cc);
    s->line = n->line;
    return cc_name(cc, &n->words[0], "address-set", s->name, sizeof(s->name));
}

static const char *addr_set_name(struct cc *cc, unsigned i)
{
    return cc->sec->addr_sets[i].name;
}

static int resolve_addr_set(struct cc *cc, struct set_walk *sw, unsigned idx);

static int addr_set_member(struct cc *cc, struct set_walk *sw, unsigned idx,
                           const struct config_node *m, const struct config_word *w)
{
    struct cfg_security *sec = cc->sec;
    struct cfg_address_set *set = &sec->addr_sets[idx];
    int rc;
    if (strcmp(m->keyword, "address") == 0) {
        int a = find_addr(sec, w->text);
        if (a < 0)
            return cc_err_word(cc, w,
                               "address \"%s\" is not defined (define it under security "
                               "address-book global address %s PREFIX)",
                               w->text, w->text);
        return push_prefix(cc, &set->prefixes, &set->n_prefixes, &sec->addrs[a].prefix);
    }
    int s = find_addr_set(sec, w->text);
    if (s < 0)
        return cc_err_word(cc, w,
                           "address-set \"%s\" is not defined (define it under security "
                           "address-book global address-set %s)",
                           w->text, w->text);
    rc = enter_check(cc, sw, (unsigned)s, w);
    if (rc < 0 || (rc == 1 && (rc = resolve_addr_set(cc, sw, (unsigned)s))))
        return rc;
    set = &sec->addr_sets[idx];
    for (unsigned k = 0; k < sec->addr_sets[s].n_prefixes; k++) {
        if ((rc =
                 push_prefix(cc, &set->prefixes, &set->n_prefixes, &sec->addr_sets[s].prefixes[k])))
            return rc;
    }
    return 0;
}

static int resolve_addr_set(struct cc *cc, struct set_walk *sw, unsigned idx)
{
    static const struct cc_stmt tab[] = {
        {"address", ignore_stmt, true},
        {"address-set", ignore_stmt, true},
        {"description", cc_description, false},
    };
    struct cfg_security *sec = cc->sec;
    const struct config_node *n = sw->nodes[idx];
    int rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), NULL);
    if (rc)
        return rc;
    sw->state[idx] = 1;
    sw->stack[sw->depth++] = idx;
    for (unsigned i = 0; i < n->n_children; i++) {
        const struct config_node *m = n->children[i];
        const struct config_word **names;
        unsigned count = 0;
        if (strcmp(m->keyword, "description") == 0)
            continue;
        if ((rc = cc_values(cc, m, 0, "address NAME|[ NAME... ]", &names, &count)))
            return rc;
        for (unsigned k = 0; k < count; k++) {
            if ((rc = addr_set_member(cc, sw, idx, m, names[k])))
                return rc;
        }
    }
    sw->depth--;
    sw->state[idx] = 2;
    if (sec->addr_sets[idx].n_prefixes == 0)
        return cc_err_node(cc, n, "address-set %s is empty", sec->addr_sets[idx].name);
    return 0;
}

static int ab_global(struct cc *cc, const struct config_node *n)
{
    static const struct cc_stmt tab[] = {
        {"address", ab_address, true},
        {"address-set", ab_address_set, true},
        {"description", cc_description, false},
    };
    struct cfg_security *sec = cc->sec;
    int rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), NULL);
    if (rc || sec->n_addr_sets == 0)
        return rc;
    struct set_walk sw = {.kind = "address-set", .name = addr_set_name};
    sw.nodes = cfg_arena_alloc(cc->a, sizeof(*sw.nodes) * sec->n_addr_sets);
    sw.state = cfg_arena_alloc(cc->a, sec->n_addr_sets);
    if (!sw.nodes || !sw.state)
        return cc_oom(cc);
    unsigned k = 0;
    for (unsigned i = 0; i < n->n_children; i++) {
        if (strcmp(n->children[i]->keyword, "address-set") == 0)
            sw.nodes[k++] = n->children[i];
    }
    for (unsigned i = 0; i < sec->n_addr_sets; i++) {
        if (sw.state[i] == 0 && (rc = resolve_addr_set(cc, &sw, i)))
            return rc;
    }
    return 0;
}

static int compile_address_book(struct cc *cc, const struct config_node *n)
{
    const struct config_node *global = NULL;
    for (unsigned i = 0; i < n->n_children; i++) {
        const struct config_node *c = n->children[i];
        if (strcmp(c->keyword, "global") != 0)
            return cc_err_node(cc, c,
                               "unknown address book \"%s\" (only the global one is supported: "
                               "security address-book global { ... })",
                               c->keyword);
        if (global)
            return cc_err_node(cc, c,
                               "\"global\" is given twice under security address-book "
                               "(first at %u:%u); keep one",
                               global->line, global->col);
        int rc = cc_block(cc, c, 0, "global");
        if (rc)
            return rc;
        global = c;
    }
    return global ? ab_global(cc, global) : 0;
}

/* ---- screens ---- */

/* Numbered settings of a screen block: `KW N;` children, or the one-line `BLOCK KW N;`. */
struct scr_num {
    const char *kw;
    unsigned *out;
};

#define SCR_RATE_MAX 10000000ul  /* per second */
#define SCR_LIMIT_MAX 16777216ul /* sessions */

static int scr_numbers(struct cc *cc, const struct config_node *n, const char *usage,
                       const struct scr_num *tab, size_t ntab, unsigned long hi)
{
    struct cc_item *items;
    unsigned count;
    int rc = cc_items(cc, n, usage, &items, &count);
    for (unsigned i = 0; !rc && i < count; i++) {
        const struct cc_item *it = &items[i];
        size_t k = 0;
        while (k < ntab && strcmp(tab[k].kw, it->kw) != 0)
            k++;
        if (k == ntab) {
            char expected[160] = "";
            for (size_t j = 0; j < ntab; j++) {
                size_t used = strlen(expected);
                snprintf(expected + used, sizeof(expected) - used, "%s%s", j ? ", " : "",
                         tab[j].kw);
            }
            return cc_err(cc, it->line, it->col,
                          "unknown statement \"%s\" under %s (expected one of: %s)", it->kw,
                          n->keyword, expected);
        }
        if (it->n_args != 1)
            return cc_err(cc, it->line, it->col, "\"%s\" takes one number (%s)", it->kw, usage);
        rc = cc_uint(cc, &it->args[0], it->kw, 1, hi, tab[k].out);
    }
    return rc;
}

static int scr_flag(struct cc *cc, const struct config_node *n, struct cfg_screen *scr,
                    uint32_t bit)
{
    int rc = cc_leaf(cc, n, 0, 0, n->keyword);
    if (!rc)
        scr->flags |= bit;
    return rc;
}

#define SCR_FLAG_FN(fname, bit)                                                                    \
    static int fname(struct cc *cc, const struct config_node *n, void *ctx)                        \
    {                                                                                              \
        return scr_flag(cc, n, ctx, bit);                                                          \
    }
SCR_FLAG_FN(scr_ping_death, CFG_SCR_PING_DEATH)
SCR_FLAG_FN(scr_land, CFG_SCR_LAND)
SCR_FLAG_FN(scr_syn_fin, CFG_SCR_SYN_FIN)
SCR_FLAG_FN(scr_no_flag, CFG_SCR_TCP_NO_FLAG)
SCR_FLAG_FN(scr_fin_no_ack, CFG_SCR_FIN_NO_ACK)
SCR_FLAG_FN(scr_tear_drop, CFG_SCR_TEAR_DROP)

static int scr_icmp_flood(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_screen *scr = ctx;
    const struct scr_num tab[] = {{"threshold", &scr->icmp_flood}};
    return scr_numbers(cc, n, "flood threshold N; (new ICMP flows per second per destination)", tab,
                       1, SCR_RATE_MAX);
}

static int scr_udp_flood(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_screen *scr = ctx;
    const struct scr_num tab[] = {{"threshold", &scr->udp_flood}};
    return scr_numbers(cc, n, "flood threshold N; (new UDP flows per second per destination)", tab,
                       1, SCR_RATE_MAX);
}

static int scr_syn_flood(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_screen *scr = ctx;
    const struct scr_num tab[] = {
        {"attack-threshold", &scr->syn_attack},
        {"destination-threshold", &scr->syn_destination},
        {"source-threshold", &scr->syn_source},
    };
    return scr_numbers(cc, n,
                       "syn-flood { attack-threshold N; destination-threshold N; "
                       "source-threshold N; } (SYNs per second)",
                       tab, sizeof(tab) / sizeof(tab[0]), SCR_RATE_MAX);
}

static int scr_limit_session(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_screen *scr = ctx;
    const struct scr_num tab[] = {
        {"source-ip-based", &scr->limit_src},
        {"destination-ip-based", &scr->limit_dst},
    };
    return scr_numbers(cc, n, "limit-session { source-ip-based N; destination-ip-based N; }", tab,
                       2, SCR_LIMIT_MAX);
}

static int scr_icmp(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {{"flood", scr_icmp_flood, false},
                                         {"ping-death", scr_ping_death, false}};
    int rc = cc_block(cc, n, 0, "icmp { flood threshold N; ping-death; }");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

static int scr_udp(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {{"flood", scr_udp_flood, false}};
    int rc = cc_block(cc, n, 0, "udp { flood threshold N; }");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

static int scr_tcp(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"syn-flood", scr_syn_flood, false},   {"land", scr_land, false},
        {"syn-fin", scr_syn_fin, false},       {"tcp-no-flag", scr_no_flag, false},
        {"fin-no-ack", scr_fin_no_ack, false},
    };
    int rc =
        cc_block(cc, n, 0, "tcp { syn-flood { ... } land; syn-fin; tcp-no-flag; fin-no-ack; }");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

static int scr_ip(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {{"tear-drop", scr_tear_drop, false}};
    int rc = cc_block(cc, n, 0, "ip { tear-drop; }");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

static int screen_ids_option(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_security *sec = cc->sec;
    int rc = cc_block(cc, n, 1, "ids-option NAME");
    if (rc)
        return rc;
    for (unsigned i = 0; i < sec->n_screens; i++) {
        if (strcmp(sec->screens[i].name, n->words[0].text) == 0)
            return cc_err_word(cc, &n->words[0], "ids-option \"%s\" is already defined on line %u",
                               n->words[0].text, sec->screens[i].line);
    }
    struct cfg_screen *scr = cfg_arena_push(cc->a, &sec->screens, &sec->n_screens, sizeof(*scr));
    if (!scr)
        return cc_oom(cc);
    scr->line = n->line;
    if ((rc = cc_name(cc, &n->words[0], "ids-option", scr->name, sizeof(scr->name))))
        return rc;
    static const struct cc_stmt tab[] = {
        {"icmp", scr_icmp, false},
        {"udp", scr_udp, false},
        {"tcp", scr_tcp, false},
        {"ip", scr_ip, false},
        {"limit-session", scr_limit_session, false},
        {"description", cc_description, false},
    };
    return cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), scr);
}

/* ---- zones ---- */

struct zone_ctx {
    unsigned idx;
};

static struct cfg_zone *zone_of(struct cc *cc, void *ctx)
{
    return &cc->sec->zones[((struct zone_ctx *)ctx)->idx];
}

static int zone_add_iface(struct cc *cc, struct cfg_zone *z, const struct config_word *w)
{
    int idx = cc_find_iface(cc->cfg, w->text);
    if (idx < 0)
        return cc_err_word(cc, w,
                           "interface \"%s\" in zone %s is not configured under interfaces "
                           "(add interfaces { %s { ... } })",
                           w->text, z->name, w->text);
    struct cfg_interface *ifc = &cc->cfg->ifaces[idx];
    if (ifc->zone_id)
        return cc_err_word(cc, w,
                           "interface %s is already in zone %s; an interface belongs to one zone",
                           ifc->name, cc->sec->zones[ifc->zone_id - 1].name);
    ifc->zone_id = z->zone_id;
    return push_index(cc, &z->ifaces, &z->n_ifaces, (unsigned)idx);
}

/* `interfaces { fw0; fw1; }`, or `interfaces [ fw0 fw1 ];` / `interfaces fw0;` */
static int zone_interfaces(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_zone *z = zone_of(cc, ctx);
    int rc;
    if (!n->block) {
        const struct config_word **names;
        unsigned count = 0;
        rc = cc_values(cc, n, 0, "interfaces [ NAME... ]", &names, &count);
        for (unsigned i = 0; !rc && i < count; i++)
            rc = zone_add_iface(cc, z, names[i]);
        return rc;
    }
    if ((rc = cc_block(cc, n, 0, "interfaces")))
        return rc;
    for (unsigned i = 0; i < n->n_children; i++) {
        const struct config_node *c = n->children[i];
        if (c->block)
            return cc_err(cc, c->block_line, c->block_col,
                          "per-interface settings in a zone are not supported; set "
                          "host-inbound-traffic on the zone");
        if ((rc = cc_leaf(cc, c, 0, 0, "interfaces { NAME; }")))
            return rc;
        const struct config_word w = {.text = c->keyword, .line = c->line, .col = c->col};
        if ((rc = zone_add_iface(cc, z, &w)))
            return rc;
    }
    return 0;
}

struct flag_name {
    const char *name;
    uint32_t bits;
};

static int flag_one(struct cc *cc, const struct config_node *n, const struct flag_name *names,
                    size_t n_names, const char *name, unsigned line, unsigned col, uint32_t *bits)
{
    for (size_t k = 0; k < n_names; k++) {
        if (strcmp(names[k].name, name) == 0) {
            *bits |= names[k].bits;
            return 0;
        }
    }
    char expected[320] = "";
    for (size_t j = 0; j < n_names; j++) {
        size_t used = strlen(expected);
        snprintf(expected + used, sizeof(expected) - used, "%s%s", j ? ", " : "", names[j].name);
    }
    char path[160];
    config_node_path(n->parent, path, sizeof(path)); /* n's own words may be the [ ] list */
    return cc_err(cc, line, col, "unknown statement \"%s\" under %s %s (expected one of: %s)", name,
                  path, n->keyword, expected);
}

/* `system-services { ping; ssh; }`, or `system-services [ ping ssh ];` / `... ping;` */
static int flag_list(struct cc *cc, const struct config_node *n, const struct flag_name *names,
                     size_t n_names, uint32_t *bits)
{
    int rc;
    if (!n->block) {
        const struct config_word **words;
        unsigned count = 0;
        rc = cc_values(cc, n, 0, n->keyword, &words, &count);
        for (unsigned i = 0; !rc && i < count; i++)
            rc = flag_one(cc, n, names, n_names, words[i]->text, words[i]->line, words[i]->col,
                          bits);
        return rc;
    }
    if ((rc = cc_block(cc, n, 0, n->keyword)))
        return rc;
    for (unsigned i = 0; i < n->n_children; i++) {
        const struct config_node *c = n->children[i];
        if ((rc = flag_one(cc, n, names, n_names, c->keyword, c->line, c->col, bits)) ||
            (rc = cc_leaf(cc, c, 0, 0, c->keyword)))
            return rc;
    }
    return 0;
}

static int hit_services(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct flag_name names[] = {
        {"all", CFG_SVC_ALL},
        {"any-service", CFG_SVC_ALL},
        {"ping", CFG_SVC_PING},
        {"ssh", CFG_SVC_SSH},
        {"telnet", CFG_SVC_TELNET},
        {"http", CFG_SVC_HTTP},
        {"https", CFG_SVC_HTTPS},
        {"dns", CFG_SVC_DNS},
        {"dhcp", CFG_SVC_DHCP},
        {"dhcpv6", CFG_SVC_DHCPV6},
        {"ntp", CFG_SVC_NTP},
        {"snmp", CFG_SVC_SNMP},
        {"traceroute", CFG_SVC_TRACEROUTE},
        {"ike", CFG_SVC_IKE},
        {"netconf", CFG_SVC_NETCONF},
        {"ftp", CFG_SVC_FTP},
    };
    return flag_list(cc, n, names, sizeof(names) / sizeof(names[0]),
                     &zone_of(cc, ctx)->host_services);
}

static int hit_protocols(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct flag_name names[] = {
        {"all", CFG_HPROTO_ALL},   {"bgp", CFG_HPROTO_BGP},
        {"ospf", CFG_HPROTO_OSPF}, {"ospf3", CFG_HPROTO_OSPF3},
        {"rip", CFG_HPROTO_RIP},   {"ripng", CFG_HPROTO_RIPNG},
        {"vrrp", CFG_HPROTO_VRRP}, {"bfd", CFG_HPROTO_BFD},
        {"pim", CFG_HPROTO_PIM},   {"router-discovery", CFG_HPROTO_ROUTER_DISCOVERY},
    };
    return flag_list(cc, n, names, sizeof(names) / sizeof(names[0]),
                     &zone_of(cc, ctx)->host_protocols);
}

static int zone_host_inbound(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"system-services", hit_services, false},
        {"protocols", hit_protocols, false},
    };
    int rc = cc_block(cc, n, 0, "host-inbound-traffic");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

static int zone_screen(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_zone *z = zone_of(cc, ctx);
    int rc = cc_leaf(cc, n, 1, 1, "screen NAME");
    if (rc)
        return rc;
    for (unsigned i = 0; i < cc->sec->n_screens; i++) {
        if (strcmp(cc->sec->screens[i].name, n->words[0].text) == 0) {
            z->screen = (int)i;
            return 0;
        }
    }
    return cc_err_word(cc, &n->words[0],
                       "screen \"%s\" is not defined (define it under security screen ids-option "
                       "%s)",
                       n->words[0].text, n->words[0].text);
}

static int security_zone(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"interfaces", zone_interfaces, false},
        {"host-inbound-traffic", zone_host_inbound, false},
        {"screen", zone_screen, false},
        {"description", cc_description, false},
    };
    struct cfg_security *sec = cc->sec;
    int rc = cc_block(cc, n, 1, "security-zone NAME");
    if (rc)
        return rc;
    const struct config_word *nw = &n->words[0];
    const struct cfg_zone *prev = config_find_zone(cc->cfg, nw->text);
    if (prev)
        return cc_err_word(cc, nw, "zone \"%s\" is already defined on line %u", nw->text,
                           prev->line);
    struct cfg_zone *z = cfg_arena_push(cc->a, &sec->zones, &sec->n_zones, sizeof(*z));
    if (!z)
        return cc_oom(cc);
    z->zone_id = sec->n_zones;
    z->line = n->line;
    z->screen = -1;
    if ((rc = cc_name(cc, nw, "zone", z->name, sizeof(z->name))))
        return rc;
    struct zone_ctx zc = {sec->n_zones - 1};
    return cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &zc);
}

/* ---- policies ---- */

static int zone_ref(struct cc *cc, const struct config_word *w, unsigned *zone_id)
{
    const struct cfg_zone *z = config_find_zone(cc->cfg, w->text);
    if (!z)
        return cc_err_word(cc, w,
                           "zone \"%s\" is not defined (define it under security zones "
                           "security-zone %s)",
                           w->text, w->text);
    *zone_id = z->zone_id;
    return 0;
}

struct policy_ctx {
    struct cfg_policy *pol;
    bool has_src, has_dst, has_app, has_action;
    const struct config_node *action;
};

static int resolve_addr_name(struct cc *cc, const struct config_word *w, struct cfg_addr_match *m)
{
    const struct cfg_security *sec = cc->sec;
    static const struct cfg_prefix any4 = {.family = 4}, any6 = {.family = 6};
    if (strcmp(w->text, "any") == 0) {
        m->any = true;
        return 0;
    }
    if (strcmp(w->text, "any-ipv4") == 0)
        return push_prefix(cc, &m->prefixes, &m->n_prefixes, &any4);
    if (strcmp(w->text, "any-ipv6") == 0)
        return push_prefix(cc, &m->prefixes, &m->n_prefixes, &any6);
    int i = find_addr(sec, w->text);
    if (i >= 0)
        return push_prefix(cc, &m->prefixes, &m->n_prefixes, &sec->addrs[i].prefix);
    if ((i = find_addr_set(sec, w->text)) >= 0) {
        for (unsigned k = 0; k < sec->addr_sets[i].n_prefixes; k++) {
            int rc = push_prefix(cc, &m->prefixes, &m->n_prefixes, &sec->addr_sets[i].prefixes[k]);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strchr(w->text, '/') || strchr(w->text, ':') || (w->text[0] >= '0' && w->text[0] <= '9'))
        return cc_err_word(cc, w,
                           "\"%s\" is not an address-book name; policies match names (add "
                           "\"address NAME %s;\" under security address-book global)",
                           w->text, w->text);
    return cc_err_word(cc, w,
                       "address \"%s\" is not defined (define it under security address-book "
                       "global address %s PREFIX)",
                       w->text, w->text);
}

static int match_addresses(struct cc *cc, const struct config_node *n, struct cfg_addr_match *m,
                           const char *usage)
{
    const struct config_word **names;
    unsigned count = 0;
    int rc = cc_values(cc, n, 0, usage, &names, &count);
    for (unsigned i = 0; !rc && i < count; i++)
        rc = resolve_addr_name(cc, names[i], m);
    return rc;
}

static int match_src(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct policy_ctx *pc = ctx;
    pc->has_src = true;
    return match_addresses(cc, n, &pc->pol->src, "source-address NAME|[ NAME... ]");
}

static int match_dst(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct policy_ctx *pc = ctx;
    pc->has_dst = true;
    return match_addresses(cc, n, &pc->pol->dst, "destination-address NAME|[ NAME... ]");
}

static int match_app(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct policy_ctx *pc = ctx;
    struct cfg_security *sec = cc->sec;
    const struct config_word **names;
    unsigned count = 0;
    pc->has_app = true;
    int rc = cc_values(cc, n, 0, "application NAME|[ NAME... ]", &names, &count);
    for (unsigned i = 0; !rc && i < count; i++) {
        const struct config_word *w = names[i];
        int a = find_app(sec, w->text);
        if (a >= 0 && sec->apps[a].any) {
            pc->pol->app_any = true;
        } else if (a >= 0) {
            rc = push_index(cc, &pc->pol->apps, &pc->pol->n_apps, (unsigned)a);
        } else if ((a = find_app_set(sec, w->text)) >= 0) {
            for (unsigned k = 0; !rc && k < sec->app_sets[a].n_apps; k++) {
                unsigned app = sec->app_sets[a].apps[k];
                if (sec->apps[app].any)
                    pc->pol->app_any = true;
                else
                    rc = push_index(cc, &pc->pol->apps, &pc->pol->n_apps, app);
            }
        } else {
            rc = cc_err_word(cc, w,
                             "application \"%s\" is not defined (define it under applications "
                             "application %s, or use a predefined one such as junos-http)",
                             w->text, w->text);
        }
    }
    return rc;
}

static int policy_match(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"source-address", match_src, true},
        {"destination-address", match_dst, true},
        {"application", match_app, true},
    };
    int rc = cc_block(cc, n, 0, "match");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

static int then_action(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct policy_ctx *pc = ctx;
    int rc = cc_leaf(cc, n, 0, 0, n->keyword);
    if (rc)
        return rc;
    if (pc->action)
        return cc_err_node(cc, n, "policy %s has both \"%s\" (%u:%u) and \"%s\"; keep one",
                           pc->pol->name, pc->action->keyword, pc->action->line, pc->action->col,
                           n->keyword);
    pc->action = n;
    pc->pol->action = strcmp(n->keyword, "permit") == 0 ? CFG_POLICY_PERMIT
                      : strcmp(n->keyword, "deny") == 0 ? CFG_POLICY_DENY
                                                        : CFG_POLICY_REJECT;
    return 0;
}

static int then_log(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct policy_ctx *pc = ctx;
    struct cc_item *items;
    unsigned count = 0;
    int rc = cc_items(cc, n, "log { session-init; session-close; }", &items, &count);
    for (unsigned i = 0; !rc && i < count; i++) {
        if (items[i].n_args)
            return cc_err_word(cc, &items[i].args[0], "unexpected \"%s\" after \"%s\"",
                               items[i].args[0].text, items[i].kw);
        if (strcmp(items[i].kw, "session-init") == 0)
            pc->pol->log_init = true;
        else if (strcmp(items[i].kw, "session-close") == 0)
            pc->pol->log_close = true;
        else
            return cc_err(cc, items[i].line, items[i].col,
                          "unknown statement \"%s\" under log (expected one of: session-init, "
                          "session-close)",
                          items[i].kw);
    }
    return rc;
}

static int then_count(struct cc *cc, const struct config_node *n, void *ctx)
{
    ((struct policy_ctx *)ctx)->pol->count = true;
    return cc_leaf(cc, n, 0, 0, "count");
}

static int policy_then(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"permit", then_action, false}, {"deny", then_action, false},
        {"reject", then_action, false}, {"log", then_log, false},
        {"count", then_count, false},
    };
    int rc = cc_block(cc, n, 0, "then");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

/* One family only (and no `any`): 4 or 6; 0 if both or any. */
static uint8_t only_family(const struct cfg_addr_match *m)
{
    if (m->any || m->n_prefixes == 0)
        return 0;
    uint8_t f = m->prefixes[0].family;
    for (unsigned i = 1; i < m->n_prefixes; i++) {
        if (m->prefixes[i].family != f)
            return 0;
    }
    return f;
}

static int compile_policy(struct cc *cc, const struct config_node *n, unsigned from, unsigned to,
                          unsigned first_in_pair)
{
    static const struct cc_stmt tab[] = {
        {"match", policy_match, false},
        {"then", policy_then, false},
        {"description", cc_description, false},
    };
    struct cfg_security *sec = cc->sec;
    int rc = cc_block(cc, n, 1, "policy NAME");
    if (rc)
        return rc;
    const struct config_word *nw = &n->words[0];
    for (unsigned i = first_in_pair; i < sec->n_policies; i++) {
        if (strcmp(sec->policies[i].name, nw->text) == 0)
            return cc_err_word(cc, nw,
                               "policy \"%s\" is already defined for this zone pair on "
                               "line %u",
                               nw->text, sec->policies[i].line);
    }
    struct cfg_policy *pol = cfg_arena_push(cc->a, &sec->policies, &sec->n_policies, sizeof(*pol));
    if (!pol)
        return cc_oom(cc);
    pol->line = n->line;
    pol->from_zone = from;
    pol->to_zone = to;
    if ((rc = cc_name(cc, nw, "policy", pol->name, sizeof(pol->name))))
        return rc;
    struct policy_ctx pc = {.pol = pol};
    if ((rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &pc)))
        return rc;
    const char *missing = !pc.has_src   ? "match source-address"
                          : !pc.has_dst ? "match destination-address"
                          : !pc.has_app ? "match application"
                                        : NULL;
    if (missing)
        return cc_err_word(cc, nw, "policy %s needs %s (use \"any\" to match everything)", nw->text,
                           missing);
    if (!pc.action)
        return cc_err_word(cc, nw,
                           "policy %s needs an action: then { permit; } (or deny or "
                           "reject)",
                           nw->text);
    uint8_t fs = only_family(&pol->src), fd = only_family(&pol->dst);
    if (fs && fd && fs != fd)
        return cc_err_word(cc, nw,
                           "policy %s can never match: its source addresses are all %s and its "
                           "destination addresses all %s",
                           nw->text, cc_family_name(fs), cc_family_name(fd));
    return 0;
}

static int policies_from_zone(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const char usage[] = "from-zone ZONE to-zone ZONE";
    if (!n->block)
        return cc_err_node(cc, n, "\"from-zone\" needs a { } block: %s { policy ... }", usage);
    for (unsigned i = 0; i < n->n_words; i++) {
        if (n->words[i].kind == CFG_WORD_LIST_OPEN)
            return cc_err_word(cc, &n->words[i], "a [ ] list is not allowed here (%s)", usage);
    }
    if (n->n_words < 3 || strcmp(n->words[1].text, "to-zone") != 0)
        return cc_err_node(cc, n, "expected \"%s { ... }\"", usage);
    if (n->n_words > 3)
        return cc_extra(cc, n, 3);
    unsigned from = 0, to = 0;
    int rc;
    if ((rc = zone_ref(cc, &n->words[0], &from)) || (rc = zone_ref(cc, &n->words[2], &to)))
        return rc;
    for (unsigned i = 0; i < n->parent->n_children; i++) {
        const struct config_node *prev = n->parent->children[i];
        if (prev == n)
            break;
        if (strcmp(prev->keyword, "from-zone") == 0 && prev->n_words == 3 &&
            strcmp(prev->words[0].text, n->words[0].text) == 0 &&
            strcmp(prev->words[2].text, n->words[2].text) == 0)
            return cc_err_node(cc, n,
                               "from-zone %s to-zone %s is already given on line %u; put all its "
                               "policies in one block",
                               n->words[0].text, n->words[2].text, prev->line);
    }
    unsigned first = cc->sec->n_policies;
    for (unsigned i = 0; i < n->n_children; i++) {
        const struct config_node *c = n->children[i];
        if (strcmp(c->keyword, "policy") != 0)
            return cc_err_node(cc, c,
                               "unknown statement \"%s\" under from-zone %s to-zone %s "
                               "(expected one of: policy)",
                               c->keyword, n->words[0].text, n->words[2].text);
        if ((rc = compile_policy(cc, c, from, to, first)))
            return rc;
    }
    return 0;
}

static int policies_default(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cc_item *items;
    unsigned count = 0;
    int rc = cc_items(cc, n, "default-policy deny-all|permit-all", &items, &count);
    if (rc)
        return rc;
    if (count != 1)
        return cc_err_node(cc, n, "default-policy takes one of deny-all or permit-all");
    if (items[0].n_args)
        return cc_err_word(cc, &items[0].args[0], "unexpected \"%s\" after \"%s\"",
                           items[0].args[0].text, items[0].kw);
    if (strcmp(items[0].kw, "deny-all") == 0)
        cc->sec->default_policy = CFG_DEFAULT_DENY_ALL;
    else if (strcmp(items[0].kw, "permit-all") == 0)
        cc->sec->default_policy = CFG_DEFAULT_PERMIT_ALL;
    else
        return cc_err(cc, items[0].line, items[0].col,
                      "invalid default-policy \"%s\" (expected deny-all or permit-all)",
                      items[0].kw);
    return 0;
}

/* ---- flow ---- */

#define FLOW_TIMEOUT(fname, field, what)                                                           \
    static int fname(struct cc *cc, const struct config_node *n, void *ctx)                        \
    {                                                                                              \
        int rc = cc_leaf(cc, n, 1, 1, what " SECONDS");                                            \
        return rc ? rc : cc_uint(cc, &n->words[0], what, 1, 86400, &cc->sec->flow.field);          \
    }
FLOW_TIMEOUT(flow_established, tcp_established_timeout, "established-timeout")
FLOW_TIMEOUT(flow_tcp_initial, tcp_initial_timeout, "tcp-initial-timeout")
FLOW_TIMEOUT(flow_udp, udp_timeout, "udp-timeout")
FLOW_TIMEOUT(flow_icmp, icmp_timeout, "icmp-timeout")

static int flow_tcp_session(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"established-timeout", flow_established, false},
        {"tcp-initial-timeout", flow_tcp_initial, false},
    };
    int rc = cc_block(cc, n, 0, "tcp-session");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), NULL);
}

struct aging_ctx {
    const struct config_node *high, *low;
};

static int aging_high(struct cc *cc, const struct config_node *n, void *ctx)
{
    ((struct aging_ctx *)ctx)->high = n;
    int rc = cc_leaf(cc, n, 1, 1, "high-watermark PERCENT");
    return rc ? rc
              : cc_uint(cc, &n->words[0], "high-watermark", 0, 100,
                        &cc->sec->flow.aging_high_watermark);
}

static int aging_low(struct cc *cc, const struct config_node *n, void *ctx)
{
    ((struct aging_ctx *)ctx)->low = n;
    int rc = cc_leaf(cc, n, 1, 1, "low-watermark PERCENT");
    return rc ? rc
              : cc_uint(cc, &n->words[0], "low-watermark", 0, 100,
                        &cc->sec->flow.aging_low_watermark);
}

static int flow_aging(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"high-watermark", aging_high, false},
        {"low-watermark", aging_low, false},
    };
    struct aging_ctx ac = {0};
    struct cfg_flow *f = &cc->sec->flow;
    int rc = cc_block(cc, n, 0, "aging");
    if (rc || (rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &ac)))
        return rc;
    if (!ac.low && f->aging_low_watermark > f->aging_high_watermark)
        f->aging_low_watermark = f->aging_high_watermark;
    if (f->aging_low_watermark > f->aging_high_watermark)
        return cc_err_word(cc, &ac.low->words[0], "low-watermark %u is above high-watermark %u",
                           f->aging_low_watermark, f->aging_high_watermark);
    return 0;
}

static int flow_max_sessions(struct cc *cc, const struct config_node *n, void *ctx)
{
    int rc = cc_leaf(cc, n, 1, 1, "max-sessions N");
    return rc ? rc
              : cc_uint(cc, &n->words[0], "max-sessions", 1, CFG_FLOW_MAX_SESSIONS_LIMIT,
                        &cc->sec->flow.max_sessions);
}

static int flow_policy_reevaluate(struct cc *cc, const struct config_node *n, void *ctx)
{
    int rc = cc_leaf(cc, n, 1, 1, "policy-reevaluate enable|disable");
    if (rc)
        return rc;
    const char *v = n->words[0].text;
    if (strcmp(v, "enable") == 0)
        cc->sec->flow.policy_reevaluate = true;
    else if (strcmp(v, "disable") == 0)
        cc->sec->flow.policy_reevaluate = false;
    else
        return cc_err_word(cc, &n->words[0],
                           "invalid policy-reevaluate \"%s\" (expected enable: a commit closes "
                           "sessions its policies no longer permit, or disable: they run on)",
                           v);
    return 0;
}

static int flow_syn_flood_mode(struct cc *cc, const struct config_node *n, void *ctx)
{
    (void)ctx;
    int rc = cc_leaf(cc, n, 1, 1, "syn-flood-protection-mode syn-cookie|drop");
    if (rc)
        return rc;
    const char *v = n->words[0].text;
    if (strcmp(v, "syn-cookie") == 0)
        cc->sec->flow.syn_cookie = true;
    else if (strcmp(v, "drop") == 0)
        cc->sec->flow.syn_cookie = false;
    else
        return cc_err_word(cc, &n->words[0],
                           "invalid syn-flood-protection-mode \"%s\" (expected syn-cookie: "
                           "SYNs above a zone's syn-flood threshold are answered with SYN "
                           "cookies, or drop: they are dropped and counted)",
                           v);
    return 0;
}

/* ---- security ---- */

struct sec_top {
    const struct config_node *address_book, *zones, *policies, *nat, *screen, *flow;
};

#define SEC_HANDLER(fname, field)                                                                  \
    static int fname(struct cc *cc, const struct config_node *n, void *ctx)                        \
    {                                                                                              \
        ((struct sec_top *)ctx)->field = n;                                                        \
        return cc_block(cc, n, 0, n->keyword);                                                     \
    }
SEC_HANDLER(sec_address_book, address_book)
SEC_HANDLER(sec_zones, zones)
SEC_HANDLER(sec_policies, policies)
SEC_HANDLER(sec_nat, nat)
SEC_HANDLER(sec_screen, screen)
SEC_HANDLER(sec_flow, flow)

int cc_compile_security(struct cc *cc, const struct config_node *sec)
{
    static const struct cc_stmt tab[] = {
        {"address-book", sec_address_book, false},
        {"zones", sec_zones, false},
        {"policies", sec_policies, false},
        {"nat", sec_nat, false},
        {"screen", sec_screen, false},
        {"flow", sec_flow, false},
    };
    static const struct cc_stmt screen_tab[] = {{"ids-option", screen_ids_option, true}};
    static const struct cc_stmt zones_tab[] = {{"security-zone", security_zone, true}};
    static const struct cc_stmt policies_tab[] = {
        {"from-zone", policies_from_zone, true},
        {"default-policy", policies_default, false},
    };
    static const struct cc_stmt flow_tab[] = {
        {"tcp-session", flow_tcp_session, false},
        {"udp-timeout", flow_udp, false},
        {"icmp-timeout", flow_icmp, false},
        {"aging", flow_aging, false},
        {"max-sessions", flow_max_sessions, false},
        {"policy-reevaluate", flow_policy_reevaluate, false},
        {"syn-flood-protection-mode", flow_syn_flood_mode, false},
    };
    struct sec_top st = {0};
    int rc = cc_dispatch(cc, sec, tab, sizeof(tab) / sizeof(tab[0]), &st);
    if (rc)
        return rc;
    if (st.screen && (rc = cc_dispatch(cc, st.screen, screen_tab, 1, NULL)))
        return rc;
    if (st.address_book && (rc = compile_address_book(cc, st.address_book)))
        return rc;
    if (st.zones && (rc = cc_dispatch(cc, st.zones, zones_tab, 1, NULL)))
        return rc;
    if (st.policies && (rc = cc_dispatch(cc, st.policies, policies_tab, 2, NULL)))
        return rc;
    if (st.nat && (rc = cc_compile_nat(cc, st.nat)))
        return rc;
    if (st.flow &&
        (rc = cc_dispatch(cc, st.flow, flow_tab, sizeof(flow_tab) / sizeof(flow_tab[0]), NULL)))
        return rc;
    return 0;
}
