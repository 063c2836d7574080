/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/policy.c: compiling a snapshot's policies and matching the first
 * packet of a flow (first match in config order, any, IPv6, applications, default policy),
 * checked against a straightforward linear matcher over hundreds of random policies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "policy.h"

/* ---- building snapshots ---- */

struct builder {
    Moat__Snapshot s;
    Moat__Zone *zones[8];
    Moat__Zone zone_store[8];
    Moat__Policy **pol;
    size_t npol, cap;
};

static void b_init(struct builder *b)
{
    memset(b, 0, sizeof(*b));
    moat__snapshot__init(&b->s);
    static const char *names[] = {"", "trust", "untrust", "dmz", "lab"};
    for (uint32_t i = 1; i <= 4; i++) {
        Moat__Zone *z = &b->zone_store[i - 1];
        moat__zone__init(z);
        z->id = i;
        z->name = (char *)names[i];
        b->zones[i - 1] = z;
    }
    b->s.zones = b->zones;
    b->s.n_zones = 4;
}

static Moat__Prefix *prefix(const char *text)
{
    Moat__Prefix *p = calloc(1, sizeof(*p));
    moat__prefix__init(p);
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", text);
    char *slash = strchr(buf, '/');
    unsigned len = 0;
    if (slash) {
        *slash = 0;
        len = (unsigned)atoi(slash + 1);
    }
    uint8_t *a = calloc(1, 16);
    if (strchr(buf, ':')) {
        assert_int_equal(inet_pton(AF_INET6, buf, a), 1);
        p->addr.len = 16;
        p->len = slash ? len : 128;
    } else {
        assert_int_equal(inet_pton(AF_INET, buf, a), 1);
        p->addr.len = 4;
        p->len = slash ? len : 32;
    }
    p->addr.data = a;
    return p;
}

/* "any", or prefixes separated by spaces. */
static Moat__AddressMatch *amatch(const char *spec)
{
    Moat__AddressMatch *m = calloc(1, sizeof(*m));
    moat__address_match__init(m);
    if (strcmp(spec, "any") == 0) {
        m->any = true;
        return m;
    }
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", spec);
    m->prefixes = calloc(16, sizeof(*m->prefixes));
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
        m->prefixes[m->n_prefixes++] = prefix(tok);
    return m;
}

static Moat__Application *app(const char *name, uint32_t proto, uint32_t dlo, uint32_t dhi,
                              uint32_t slo, uint32_t shi, int32_t itype, int32_t icode,
                              uint32_t timeout)
{
    Moat__Application *a = calloc(1, sizeof(*a));
    moat__application__init(a);
    a->name = strdup(name);
    a->protocol = proto;
    a->any = proto == 0;
    a->dport_lo = dlo;
    a->dport_hi = dhi;
    a->sport_lo = slo;
    a->sport_hi = shi;
    a->icmp_type = itype;
    a->icmp_code = icode;
    a->inactivity_timeout = timeout;
    return a;
}

static Moat__Policy *add_policy(struct builder *b, const char *name, uint32_t from, uint32_t to,
                                const char *src, const char *dst, Moat__Application **apps,
                                size_t napps, Moat__PolicyAction action)
{
    if (b->npol == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->pol = realloc(b->pol, b->cap * sizeof(*b->pol));
    }
    Moat__Policy *p = calloc(1, sizeof(*p));
    moat__policy__init(p);
    p->id = (uint32_t)b->npol + 1;
    p->name = strdup(name);
    p->from_zone = from;
    p->to_zone = to;
    p->source = amatch(src);
    p->destination = amatch(dst);
    p->application_any = napps == 0;
    if (napps) {
        p->applications = calloc(napps, sizeof(*p->applications));
        memcpy(p->applications, apps, napps * sizeof(*apps));
        p->n_applications = napps;
    }
    p->action = action;
    b->pol[b->npol++] = p;
    b->s.policies = b->pol;
    b->s.n_policies = b->npol;
    return p;
}

static void free_match(Moat__AddressMatch *m)
{
    for (size_t i = 0; i < m->n_prefixes; i++) {
        free(m->prefixes[i]->addr.data);
        free(m->prefixes[i]);
    }
    free(m->prefixes);
    free(m);
}

static void b_free(struct builder *b)
{
    for (size_t i = 0; i < b->npol; i++) {
        Moat__Policy *p = b->pol[i];
        free(p->name);
        free_match(p->source);
        free_match(p->destination);
        for (size_t a = 0; a < p->n_applications; a++) {
            free(p->applications[a]->name);
            free(p->applications[a]);
        }
        free(p->applications);
        free(p);
    }
    free(b->pol);
}

static struct pol_set *compile(struct builder *b)
{
    struct pol_set *ps = NULL;
    char err[256] = "";
    int rc = pol_compile(&b->s, NULL, NULL, &ps, err, sizeof(err));
    if (rc)
        fail_msg("compile failed: %d %s", rc, err);
    return ps;
}

/* ---- matching ---- */

struct pkt {
    uint8_t family, proto;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
};

static struct pkt mk(const char *src, const char *dst, uint8_t proto, uint16_t sport,
                     uint16_t dport)
{
    struct pkt p;
    memset(&p, 0, sizeof(p));
    p.family = strchr(src, ':') ? 6 : 4;
    assert_int_equal(inet_pton(p.family == 6 ? AF_INET6 : AF_INET, src, p.src), 1);
    assert_int_equal(inet_pton(p.family == 6 ? AF_INET6 : AF_INET, dst, p.dst), 1);
    p.proto = proto;
    p.sport = sport;
    p.dport = dport;
    return p;
}

static struct pol_result match(const struct pol_set *ps, uint16_t from, uint16_t to,
                               const struct pkt *p)
{
    struct pol_key k = {p->family, p->proto, p->sport, p->dport, p->src, p->dst};
    struct pol_result r;
    memset(&r, 0xaa, sizeof(r));
    pol_lookup(ps, from, to, &k, &r);
    return r;
}

static void test_first_match_in_order(void **state)
{
    (void)state;
    struct builder b;
    b_init(&b);
    Moat__Application *http[] = {app("junos-http", 6, 80, 80, 0, 65535, -1, -1, 0)};
    add_policy(&b, "deny-bad", 1, 2, "10.1.1.66/32", "any", NULL, 0,
               MOAT__POLICY_ACTION__POLICY_DENY);
    add_policy(&b, "web", 1, 2, "10.1.0.0/16", "any", http, 1, MOAT__POLICY_ACTION__POLICY_PERMIT);
    add_policy(&b, "reject-rest", 1, 2, "10.1.0.0/16", "any", NULL, 0,
               MOAT__POLICY_ACTION__POLICY_REJECT);
    add_policy(&b, "other-pair", 2, 1, "any", "any", NULL, 0, MOAT__POLICY_ACTION__POLICY_PERMIT);
    struct pol_set *ps = compile(&b);
    assert_int_equal(pol_rule_count(ps), 4);

    struct pkt p = mk("10.1.2.3", "8.8.8.8", 6, 40000, 80);
    struct pol_result r = match(ps, 1, 2, &p);
    assert_int_equal(r.action, POL_PERMIT);
    assert_int_equal(r.policy_id, 2);
    assert_int_equal(r.rule, 1);
    /* The deny before it wins for its host, even for port 80. */
    p = mk("10.1.1.66", "8.8.8.8", 6, 40000, 80);
    r = match(ps, 1, 2, &p);
    assert_int_equal(r.action, POL_DENY);
    assert_int_equal(r.policy_id, 1);
    /* Another port: the reject after it. */
    p = mk("10.1.2.3", "8.8.8.8", 6, 40000, 443);
    r = match(ps, 1, 2, &p);
    assert_int_equal(r.action, POL_REJECT);
    assert_int_equal(r.policy_id, 3);
    /* Outside 10.1/16: nothing matches, the default policy (deny-all) applies. */
    p = mk("10.2.0.1", "8.8.8.8", 6, 40000, 80);
    r = match(ps, 1, 2, &p);
    assert_int_equal(r.action, POL_DENY);
    assert_int_equal(r.policy_id, 0);
    assert_int_equal(r.rule, -1);
    assert_int_equal(r.slot, POL_DEFAULT_SLOT);
    /* Zone pairs are separate: trust->untrust policies do not apply untrust->trust. */
    p = mk("10.1.1.66", "8.8.8.8", 6, 40000, 80);
    r = match(ps, 2, 1, &p);
    assert_int_equal(r.policy_id, 4);
    r = match(ps, 1, 3, &p);
    assert_int_equal(r.policy_id, 0);
    r = match(ps, 3, 3, &p);
    assert_int_equal(r.policy_id, 0);
    r = match(ps, 999, 1, &p); /* beyond any zone */
    assert_int_equal(r.policy_id, 0);
    pol_free(ps);

    /* default-policy permit-all. */
    b.s.default_policy = MOAT__DEFAULT_POLICY__DEFAULT_PERMIT_ALL;
    ps = compile(&b);
    p = mk("10.2.0.1", "8.8.8.8", 6, 40000, 80);
    r = match(ps, 1, 2, &p);
    assert_int_equal(r.action, POL_PERMIT);
    assert_int_equal(r.policy_id, 0);
    assert_int_equal(pol_default_action(ps), POL_PERMIT);
    pol_free(ps);
    b_free(&b);
}

static void test_applications(void **state)
{
    (void)state;
    struct builder b;
    b_init(&b);
    /* One policy with two applications: each application's ports go together. */
    Moat__Application *apps[] = {
        app("web-alt", 6, 8080, 8080, 0, 65535, -1, -1, 600),
        app("dns-hi", 17, 53, 53, 1024, 65535, -1, -1, 0),
    };
    add_policy(&b, "two-apps", 1, 2, "any", "any", apps, 2, MOAT__POLICY_ACTION__POLICY_PERMIT);
    Moat__Application *ping[] = {app("junos-ping", 1, 0, 65535, 0, 65535, 8, -1, 0)};
    add_policy(&b, "ping", 1, 2, "any", "any", ping, 1, MOAT__POLICY_ACTION__POLICY_PERMIT);
    Moat__Application *rng[] = {app("range", 6, 1000, 1999, 0, 0, -1, -1, 0)};
    add_policy(&b, "range", 1, 2, "any", "10.9.9.9", rng, 1, MOAT__POLICY_ACTION__POLICY_PERMIT);
    struct pol_set *ps = compile(&b);

    struct pkt p = mk("1.1.1.1", "2.2.2.2", 6, 5000, 8080);
    struct pol_result r = match(ps, 1, 2, &p);
    assert_int_equal(r.policy_id, 1);
    assert_int_equal(r.app_timeout, 600);
    p = mk("1.1.1.1", "2.2.2.2", 17, 5000, 53);
    r = match(ps, 1, 2, &p);
    assert_int_equal(r.policy_id, 1);
    assert_int_equal(r.app_timeout, 0);
    /* UDP 53 from a low source port: dns-hi wants 1024+; and TCP 53 matches neither. */
    p = mk("1.1.1.1", "2.2.2.2", 17, 53, 53);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 0);
    p = mk("1.1.1.1", "2.2.2.2", 6, 5000, 53);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 0);
    /* Cross-application combination: UDP to 8080 from a high port is neither app. */
    p = mk("1.1.1.1", "2.2.2.2", 17, 5000, 8080);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 0);
    /* ICMP: echo request (type 8 code 0) matches, echo reply (type 0) does not. */
    p = mk("1.1.1.1", "2.2.2.2", 1, 0, 8 << 8);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 2);
    p = mk("1.1.1.1", "2.2.2.2", 1, 0, 0 << 8);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 0);
    /* A port range, with the source range unset (0..0 means any). */
    p = mk("1.1.1.1", "10.9.9.9", 6, 33333, 1000);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 3);
    p = mk("1.1.1.1", "10.9.9.9", 6, 33333, 1999);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 3);
    p = mk("1.1.1.1", "10.9.9.9", 6, 33333, 2000);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 0);
    p = mk("1.1.1.1", "10.9.9.8", 6, 33333, 1500);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 0);
    /* A protocol no application names (GRE): no match. */
    p = mk("1.1.1.1", "2.2.2.2", 47, 0, 0);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 0);
    pol_free(ps);
    b_free(&b);
}

static void test_any_and_ipv6(void **state)
{
    (void)state;
    struct builder b;
    b_init(&b);
    add_policy(&b, "v6-lan", 1, 2, "fd00:77:1::/64", "any", NULL, 0,
               MOAT__POLICY_ACTION__POLICY_PERMIT);
    add_policy(&b, "v4-lan", 1, 2, "10.77.1.0/24", "any", NULL, 0,
               MOAT__POLICY_ACTION__POLICY_PERMIT);
    add_policy(&b, "deny-host6", 1, 2, "any", "2001:db8::1", NULL, 0,
               MOAT__POLICY_ACTION__POLICY_DENY);
    Moat__Application *anyapp[] = {app("any", 0, 0, 0, 0, 0, -1, -1, 0)};
    add_policy(&b, "all", 1, 2, "any", "any", anyapp, 1, MOAT__POLICY_ACTION__POLICY_REJECT);
    struct pol_set *ps = compile(&b);

    struct pkt p = mk("fd00:77:1::2", "2001:db8::1", 17, 1, 2);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 1);
    p = mk("fd00:77:2::2", "2001:db8::1", 17, 1, 2);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 3);
    p = mk("fd00:77:2::2", "2001:db8::2", 58, 0, 128 << 8);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 4);
    /* An IPv4 prefix never matches IPv6, and the other way round. */
    p = mk("10.77.1.5", "1.1.1.1", 6, 1, 2);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 2);
    p = mk("::ffff:10.77.1.5", "::1", 6, 1, 2);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 4);
    /* "any" (application any, address any) covers every protocol and both families. */
    p = mk("192.0.2.1", "198.51.100.1", 132, 9, 9);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 4);
    p = mk("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 255, 65535, 65535);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 4);
    p = mk("0.0.0.0", "255.255.255.255", 0, 0, 0);
    assert_int_equal(match(ps, 1, 2, &p).policy_id, 4);
    pol_free(ps);
    b_free(&b);
}

static void test_refusals(void **state)
{
    (void)state;
    struct builder b;
    b_init(&b);
    add_policy(&b, "bad-zone", 1, 5000, "any", "any", NULL, 0, MOAT__POLICY_ACTION__POLICY_PERMIT);
    struct pol_set *ps = NULL;
    char err[256] = "";
    assert_int_equal(pol_compile(&b.s, NULL, NULL, &ps, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad-zone"));
    b.pol[0]->to_zone = 2;
    b.pol[0]->source->any = false;
    b.pol[0]->source->prefixes = calloc(1, sizeof(Moat__Prefix *));
    b.pol[0]->source->prefixes[0] = prefix("10.0.0.0/8");
    b.pol[0]->source->prefixes[0]->len = 33;
    b.pol[0]->source->n_prefixes = 1;
    assert_int_equal(pol_compile(&b.s, NULL, NULL, &ps, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "/33"));
    b.pol[0]->source->prefixes[0]->len = 8;
    assert_int_equal(pol_compile(&b.s, NULL, NULL, &ps, err, sizeof(err)), 0);
    pol_free(ps);
    b_free(&b);
}

/* Counter slots follow the policy's identity (zones + name) across renumbering. */
static void test_slots_stable_across_commits(void **state)
{
    (void)state;
    struct pol_names pn, an;
    assert_int_equal(pol_names_init(&pn, 100, "", "default-policy"), 0);
    assert_int_equal(pol_names_init(&an, 100, "", ""), 0);
    struct builder b;
    b_init(&b);
    Moat__Application *h[] = {app("junos-http", 6, 80, 80, 0, 65535, -1, -1, 0)};
    add_policy(&b, "a", 1, 2, "any", "any", h, 1, MOAT__POLICY_ACTION__POLICY_PERMIT);
    add_policy(&b, "b", 1, 2, "any", "any", NULL, 0, MOAT__POLICY_ACTION__POLICY_DENY);
    add_policy(&b, "a", 2, 1, "any", "any", NULL, 0, MOAT__POLICY_ACTION__POLICY_DENY);
    struct pol_set *ps = NULL;
    char err[128];
    assert_int_equal(pol_compile(&b.s, &pn, &an, &ps, err, sizeof(err)), 0);
    uint16_t sa = pol_rule_at(ps, 0)->slot, sb = pol_rule_at(ps, 1)->slot,
             sa2 = pol_rule_at(ps, 2)->slot;
    assert_true(sa != sb && sa != sa2 && sb != sa2 && sa && sb && sa2);
    struct pkt p = mk("1.1.1.1", "2.2.2.2", 6, 1000, 80);
    struct pol_result r = match(ps, 1, 2, &p);
    assert_string_equal(pol_names_display(&an, r.app_slot), "junos-http");
    assert_string_equal(pol_names_display(&pn, r.slot), "a");
    pol_free(ps);
    /* Next commit: "b" moves first, ids change; the slots do not. */
    Moat__Policy *t = b.pol[0];
    b.pol[0] = b.pol[1];
    b.pol[1] = t;
    b.pol[0]->id = 1;
    b.pol[1]->id = 2;
    assert_int_equal(pol_compile(&b.s, &pn, &an, &ps, err, sizeof(err)), 0);
    assert_int_equal(pol_rule_at(ps, 0)->slot, sb);
    assert_int_equal(pol_rule_at(ps, 1)->slot, sa);
    assert_int_equal(pol_rule_at(ps, 2)->slot, sa2);
    r = match(ps, 1, 2, &p);
    assert_int_equal(r.policy_id, 1);
    assert_int_equal(r.slot, sb);
    pol_free(ps);
    /* Out of counter slots: the policies still compile and match, sharing the last slot. */
    struct pol_names small;
    assert_int_equal(pol_names_init(&small, 3, "", "default-policy"), 0);
    assert_int_equal(pol_compile(&b.s, &small, NULL, &ps, err, sizeof(err)), 0);
    assert_true(small.overflowed);
    assert_int_equal(pol_rule_at(ps, 0)->slot, 1);
    assert_int_equal(pol_rule_at(ps, 1)->slot, 2);
    assert_int_equal(pol_rule_at(ps, 2)->slot, 2);
    r = match(ps, 2, 1, &p);
    assert_int_equal(r.policy_id, 3);
    assert_int_equal(r.action, POL_DENY);
    pol_free(ps);
    pol_names_free(&small);
    b_free(&b);
    pol_names_free(&pn);
    pol_names_free(&an);
}

/* ---- hundreds of random policies in one pair, against a linear matcher ---- */

struct ref_rule {
    int nsrc, ndst; /* 0: any */
    uint32_t src[4], dst[4];
    uint8_t slen[4], dlen[4];
    int napps; /* 0: any */
    uint8_t proto[3];
    uint16_t dlo[3], dhi[3];
    uint8_t action;
};

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd32(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)rs;
}

static bool pfx_match(uint32_t a, uint32_t p, uint8_t len)
{
    uint32_t m = len ? 0xffffffffu << (32 - len) : 0;
    return (a & m) == (p & m);
}

static int ref_lookup(const struct ref_rule *rules, int n, uint32_t src, uint32_t dst,
                      uint8_t proto, uint16_t dport)
{
    for (int i = 0; i < n; i++) {
        const struct ref_rule *r = &rules[i];
        bool ok = r->nsrc == 0;
        for (int k = 0; k < r->nsrc && !ok; k++)
            ok = pfx_match(src, r->src[k], r->slen[k]);
        if (!ok)
            continue;
        ok = r->ndst == 0;
        for (int k = 0; k < r->ndst && !ok; k++)
            ok = pfx_match(dst, r->dst[k], r->dlen[k]);
        if (!ok)
            continue;
        ok = r->napps == 0;
        for (int k = 0; k < r->napps && !ok; k++)
            ok = r->proto[k] == proto && dport >= r->dlo[k] && dport <= r->dhi[k];
        if (ok)
            return i;
    }
    return -1;
}

static void test_hundreds_of_policies(void **state)
{
    (void)state;
    enum { NRULES = 600, NPKT = 200000 };
    struct builder b;
    b_init(&b);
    struct ref_rule *rules = calloc(NRULES, sizeof(*rules));
    for (int i = 0; i < NRULES; i++) {
        struct ref_rule *r = &rules[i];
        char src[256] = "", dst[256] = "";
        r->nsrc = rnd32() % 100 == 0 ? 0 : 1 + (int)(rnd32() % 3);
        r->ndst = rnd32() % 50 == 0 ? 0 : 1 + (int)(rnd32() % 2);
        for (int k = 0; k < r->nsrc; k++) {
            r->src[k] = 0x0a000000u | (rnd32() & 0x0000ffffu) << 8; /* 10.x.y.0 */
            r->slen[k] = (uint8_t)(12 + rnd32() % 21);
            char t[40];
            snprintf(t, sizeof(t), "%s%u.%u.%u.%u/%u", k ? " " : "", r->src[k] >> 24,
                     (r->src[k] >> 16) & 255, (r->src[k] >> 8) & 255, r->src[k] & 255, r->slen[k]);
            strcat(src, t);
        }
        for (int k = 0; k < r->ndst; k++) {
            r->dst[k] = 0xc0a80000u | (rnd32() & 0xffffu); /* 192.168.x.y */
            r->dlen[k] = (uint8_t)(16 + rnd32() % 17);
            char t[40];
            snprintf(t, sizeof(t), "%s%u.%u.%u.%u/%u", k ? " " : "", r->dst[k] >> 24,
                     (r->dst[k] >> 16) & 255, (r->dst[k] >> 8) & 255, r->dst[k] & 255, r->dlen[k]);
            strcat(dst, t);
        }
        Moat__Application *apps[3];
        r->napps = rnd32() % 100 == 0 ? 0 : 1 + (int)(rnd32() % 3);
        for (int k = 0; k < r->napps; k++) {
            r->proto[k] = rnd32() % 2 ? 6 : 17;
            r->dlo[k] = (uint16_t)(rnd32() % 2000);
            r->dhi[k] = (uint16_t)(r->dlo[k] + rnd32() % 50);
            apps[k] = app("app", r->proto[k], r->dlo[k], r->dhi[k], 0, 65535, -1, -1, 0);
        }
        r->action = (uint8_t)(rnd32() % 3);
        char name[16];
        snprintf(name, sizeof(name), "p%d", i);
        add_policy(&b, name, 1, 2, r->nsrc ? src : "any", r->ndst ? dst : "any", apps,
                   (size_t)r->napps, (Moat__PolicyAction)r->action);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct pol_set *ps = compile(&b);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double compile_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;

    int matched = 0;
    uint32_t *pk = malloc(NPKT * 4 * sizeof(uint32_t));
    for (int i = 0; i < NPKT; i++) {
        /* Mostly inside the rules' ranges so that matches are common and deep. */
        pk[i * 4] = 0x0a000000u | (rnd32() & 0x00ffffffu);
        pk[i * 4 + 1] = 0xc0a80000u | (rnd32() & 0xffffu);
        pk[i * 4 + 2] = rnd32() % 2 ? 6 : 17;
        pk[i * 4 + 3] = rnd32() % 2100;
    }
    int deepest = -1;
    for (int i = 0; i < NPKT; i++) {
        uint32_t s = htonl(pk[i * 4]), d = htonl(pk[i * 4 + 1]);
        struct pol_key k = {4,
                            (uint8_t)pk[i * 4 + 2],
                            5555,
                            (uint16_t)pk[i * 4 + 3],
                            (const uint8_t *)&s,
                            (const uint8_t *)&d};
        struct pol_result r;
        pol_lookup(ps, 1, 2, &k, &r);
        int want = ref_lookup(rules, NRULES, pk[i * 4], pk[i * 4 + 1], (uint8_t)pk[i * 4 + 2],
                              (uint16_t)pk[i * 4 + 3]);
        if (r.rule != want)
            fail_msg("packet %d: compiled says %d, linear says %d", i, r.rule, want);
        if (want >= 0) {
            matched++;
            assert_int_equal(r.policy_id, (uint32_t)want + 1);
            assert_int_equal(r.action, rules[want].action);
            if (want > deepest)
                deepest = want;
        }
    }
    /* Timing: compiled vs linear over the same packets. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t sink = 0;
    for (int i = 0; i < NPKT; i++) {
        uint32_t s = htonl(pk[i * 4]), d = htonl(pk[i * 4 + 1]);
        struct pol_key k = {4,
                            (uint8_t)pk[i * 4 + 2],
                            5555,
                            (uint16_t)pk[i * 4 + 3],
                            (const uint8_t *)&s,
                            (const uint8_t *)&d};
        struct pol_result r;
        pol_lookup(ps, 1, 2, &k, &r);
        sink += (uint64_t)r.rule;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns_compiled = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / NPKT;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < NPKT; i++)
        sink += (uint64_t)ref_lookup(rules, NRULES, pk[i * 4], pk[i * 4 + 1],
                                     (uint8_t)pk[i * 4 + 2], (uint16_t)pk[i * 4 + 3]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns_linear = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / NPKT;
    print_message("%d policies in one pair: compiled in %.1f ms, %zu KiB; %d/%d packets "
                  "matched (deepest policy %d); lookup %.0f ns compiled vs %.0f ns linear "
                  "(sink %llu)\n",
                  NRULES, compile_ms, pol_bytes(ps) / 1024, matched, NPKT, deepest + 1, ns_compiled,
                  ns_linear, (unsigned long long)(sink & 1));
    assert_true(matched > NPKT / 100);
    assert_true(deepest > NRULES / 2);
    free(pk);
    free(rules);
    pol_free(ps);
    b_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_match_in_order),
        cmocka_unit_test(test_applications),
        cmocka_unit_test(test_any_and_ipv6),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_slots_stable_across_commits),
        cmocka_unit_test(test_hundreds_of_policies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
