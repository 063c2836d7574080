/* SPDX-License-Identifier: MIT */
/*
 * test_controld_legacy_compile.c — legacy_compile(): the Snapshot controld builds from a config, as
 * the maps of xdp_main_prog hold it. Policies (per zone pair, config order, one rule per
 * application, address lists in the LPM map, ICMP type/code ranges), the default policy and
 * timeouts, the two banks (rules and list ids never overlap), NAT rules (order, zones as
 * bitmasks, lists, pools), interfaces, routes (lowest metric per prefix), neighbours (only
 * resolved ones), what the legacy path refuses with a sentence, and legacy_policy_eval() (the
 * first-packet decision commit-time re-evaluation uses, both banks; the hit counters' keys and
 * their remapping across renumbering commits), screens by zone and the interfaces' IPv6 error
 * source.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controld.h"
#include "legacy_compile.h"

static const char conf[] =
    "interfaces {\n"
    "  fw0 { unit 0 { family inet { address 10.77.1.1/24; } family inet6 { address "
    "fd00:77:1::1/64; } } }\n"
    "  fw1 { unit 0 { family inet { address 10.77.2.1/24; } } }\n"
    "  fw2 { unit 0 { family inet { address 10.77.3.1/24; } } }\n"
    "}\n"
    "routing-options { static { route 10.99.0.0/16 next-hop 10.77.2.2; } }\n"
    "applications { application web-alt { protocol tcp; destination-port 8080; "
    "inactivity-timeout 600; }\n"
    "  application ping-only { protocol icmp; icmp-type 8; }\n"
    "  application-set web { application junos-http; application junos-https; } }\n"
    "security {\n"
    "  address-book { global { address lan 10.77.1.0/24; address srv6 fd00:77:2::/64; } }\n"
    "  zones {\n"
    "    security-zone trust { interfaces { fw0; } }\n"
    "    security-zone untrust { interfaces { fw1; } }\n"
    "  }\n"
    "  policies {\n"
    "    from-zone trust to-zone untrust {\n"
    "      policy allow-web { match { source-address lan; destination-address any; application "
    "web; } then { permit; } }\n"
    "      policy pings { match { source-address any; destination-address any; application "
    "ping-only; } then { permit; } }\n"
    "      policy block-rest { match { source-address any; destination-address any; application "
    "any; } then { reject; } }\n"
    "    }\n"
    "    from-zone untrust to-zone trust {\n"
    "      policy in-alt { match { source-address srv6; destination-address any; application "
    "web-alt; } then { deny; } }\n"
    "    }\n"
    "    default-policy permit-all;\n"
    "  }\n"
    "  nat {\n"
    "    source { rule-set lan-out { from zone trust; to zone untrust;\n"
    "      rule masq { match { source-address 10.77.1.0/24; } then { source-nat { interface; } } "
    "} } }\n"
    "    destination { pool web { address 10.77.1.2/32 port 8080; }\n"
    "      rule-set web-in { from zone untrust;\n"
    "        rule http { match { destination-address 10.77.2.1/32; destination-port 80; } then { "
    "destination-nat { pool web; } } } } }\n"
    "  }\n"
    "  flow { tcp-session { established-timeout 900; } udp-timeout 45; }\n"
    "}\n";

static struct controld ctl;

static Moat__Snapshot *build(const char *text)
{
    memset(&ctl, 0, sizeof(ctl));
    struct config_error err;
    if (config_load_string(text, "legacy.conf", &ctl.cfg, &err)) {
        char msg[700];
        config_error_format(&err, msg, sizeof(msg));
        fail_msg("%s", msg);
    }
    snprintf(ctl.mode, sizeof(ctl.mode), "legacy");
    ctl.bpffs_dir = "/tmp/bpf";
    for (unsigned i = 0; i < 3; i++) {
        struct ctl_iface *ifc = &ctl.ifaces[ctl.n_ifaces++];
        snprintf(ifc->name, sizeof(ifc->name), "fw%u", i);
        ifc->ifindex = 10 + i;
        ifc->slot = i;
        ifc->queues = 1;
        ifc->xdp_mode = MOAT_XDP_NATIVE;
        ifc->mac[5] = (uint8_t)(0x10 + i);
    }
    /* Neighbours: one usable, one still incomplete, one failed. */
    struct ctl_neigh n = {.family = 4, .ifindex = 11, .state = NUD_REACHABLE};
    inet_pton(AF_INET, "10.77.2.2", n.addr);
    memcpy(n.mac, "\x02\x00\x00\x00\x00\x22", 6);
    ctl.neigh[ctl.n_neigh++] = n;
    n.state = NUD_INCOMPLETE;
    inet_pton(AF_INET, "10.77.2.3", n.addr);
    memset(n.mac, 0, 6);
    ctl.neigh[ctl.n_neigh++] = n;
    n.state = NUD_FAILED;
    inet_pton(AF_INET, "10.77.2.4", n.addr);
    memcpy(n.mac, "\x02\x00\x00\x00\x00\x24", 6);
    ctl.neigh[ctl.n_neigh++] = n;
    Moat__Snapshot *s = snapshot_build(&ctl);
    assert_non_null(s);
    return s;
}

static void teardown_ctl(void)
{
    config_free(ctl.cfg);
    ctl.cfg = NULL;
}

static const struct legacy_pair_entry *pair(const struct legacy_tables *t, uint32_t from,
                                            uint32_t to)
{
    for (unsigned i = 0; i < t->n_pairs; i++)
        if (t->pairs[i].key == (from << 16 | to))
            return &t->pairs[i];
    return NULL;
}

/* Does list `list` hold prefix addr/len (family by address length)? */
static bool has_pfx(const struct legacy_tables *t, uint32_t list, const char *addr, unsigned len)
{
    struct moat_lg_pfx_key k;
    memset(&k, 0, sizeof(k));
    bool v6 = strchr(addr, ':') != NULL;
    inet_pton(v6 ? AF_INET6 : AF_INET, addr, k.addr);
    k.prefixlen = 32 + len;
    k.list = htonl(list * 2 + (v6 ? 1 : 0));
    for (unsigned i = 0; i < t->n_pfx; i++)
        if (memcmp(&t->pfx[i].key, &k, sizeof(k)) == 0)
            return true;
    return false;
}

static void test_policies(void **state)
{
    (void)state;
    Moat__Snapshot *s = build(conf);
    struct legacy_tables t;
    char err[256] = "";
    assert_int_equal(legacy_compile(s, 0, &t, err, sizeof(err)), 0);

    /* trust(1) -> untrust(2): allow-web x2 applications, pings, block-rest; then the other pair. */
    assert_int_equal(t.n_pairs, 2);
    const struct legacy_pair_entry *p12 = pair(&t, 1, 2), *p21 = pair(&t, 2, 1);
    assert_non_null(p12);
    assert_non_null(p21);
    assert_int_equal(p12->val.first, 0);
    assert_int_equal(p12->val.count, 4);
    assert_int_equal(p21->val.first, 4);
    assert_int_equal(p21->val.count, 1);
    assert_int_equal(t.n_rules, 5);

    const struct moat_lg_rule *r = t.rules;
    assert_int_equal(r[0].policy_id, 1);
    assert_int_equal(r[0].proto, 6);
    assert_int_equal(r[0].action, MOAT_LG_PERMIT);
    assert_int_equal(r[1].proto, 6);
    /* junos-http and junos-https, in the set's order. */
    assert_true((r[0].dport_lo == 80 && r[1].dport_lo == 443) ||
                (r[0].dport_lo == 443 && r[1].dport_lo == 80));
    assert_int_equal(r[0].dport_lo, r[0].dport_hi);
    assert_int_equal(r[0].sport_lo, 0);
    assert_int_equal(r[0].sport_hi, 0xffff);
    assert_int_not_equal(r[0].src_list, 0);
    assert_int_equal(r[0].src_list, r[1].src_list);
    assert_int_equal(r[0].dst_list, 0); /* any */
    assert_true(has_pfx(&t, r[0].src_list, "10.77.1.0", 24));
    /* ICMP echo request only: dport is type << 8 | code, any code. */
    assert_int_equal(r[2].policy_id, 2);
    assert_int_equal(r[2].proto, 1);
    assert_int_equal(r[2].dport_lo, 8 << 8);
    assert_int_equal(r[2].dport_hi, 8 << 8 | 0xff);
    /* application any: every protocol and port; reject kept as reject. */
    assert_int_equal(r[3].policy_id, 3);
    assert_int_equal(r[3].proto, 0);
    assert_int_equal(r[3].dport_lo, 0);
    assert_int_equal(r[3].dport_hi, 0xffff);
    assert_int_equal(r[3].action, MOAT_LG_REJECT);
    /* The other pair: an IPv6 source list, the application's own timeout. */
    assert_int_equal(r[4].policy_id, 4);
    assert_int_equal(r[4].action, MOAT_LG_DENY);
    assert_int_equal(r[4].dport_lo, 8080);
    assert_int_equal(r[4].app_timeout, 600);
    assert_true(has_pfx(&t, r[4].src_list, "fd00:77:2::", 64));
    assert_false(has_pfx(&t, r[4].src_list, "10.77.1.0", 24));

    /* Default policy and timeouts. */
    assert_int_equal(t.cfg.ready, 1);
    assert_int_equal(t.cfg.default_permit, 1);
    assert_int_equal(t.cfg.tcp_established, 900);
    assert_int_equal(t.cfg.udp, 45);
    assert_int_equal(t.cfg.tcp_closing, SNAPSHOT_TCP_CLOSING_TIMEOUT);
    legacy_tables_free(&t);
    snapshot_free(s);
    teardown_ctl();
}

static void test_banks(void **state)
{
    (void)state;
    Moat__Snapshot *s = build(conf);
    struct legacy_tables a, b;
    char err[256] = "";
    assert_int_equal(legacy_compile(s, 0, &a, err, sizeof(err)), 0);
    assert_int_equal(legacy_compile(s, 1, &b, err, sizeof(err)), 0);
    /* Bank 1: rules and NAT rules in the upper halves, pairs pointing there. */
    assert_int_equal(pair(&b, 1, 2)->val.first, MOAT_LG_BANK_RULES);
    assert_int_equal(pair(&b, 2, 1)->val.first, MOAT_LG_BANK_RULES + 4);
    assert_int_equal(pair(&b, 2, 1)->val.count, 1);
    assert_int_equal(a.cfg.nat_first, 0);
    assert_int_equal(b.cfg.nat_first, MOAT_LG_BANK_NAT);
    /* No prefix key of one bank is a key of the other: the switch never mixes them. */
    assert_int_equal(a.n_pfx, b.n_pfx);
    for (unsigned i = 0; i < a.n_pfx; i++)
        for (unsigned j = 0; j < b.n_pfx; j++)
            assert_int_not_equal(a.pfx[i].key.list, b.pfx[j].key.list);
    /* Sorted and unique. */
    for (unsigned i = 1; i < a.n_pfx; i++)
        assert_true(memcmp(&a.pfx[i - 1].key, &a.pfx[i].key, sizeof(a.pfx[i].key)) < 0);
    legacy_tables_free(&a);
    legacy_tables_free(&b);
    snapshot_free(s);
    teardown_ctl();
}

/* legacy_policy_eval(): the first-packet decision, for commit-time re-evaluation. */
static int eval(const struct legacy_tables *t, uint16_t fz, uint16_t tz, uint8_t proto,
                const char *src, const char *dst, uint16_t sport, uint16_t dport, uint32_t *id,
                uint32_t *to)
{
    uint8_t a[16] = {0}, b[16] = {0};
    bool v6 = strchr(src, ':') != NULL;
    inet_pton(v6 ? AF_INET6 : AF_INET, src, a);
    inet_pton(v6 ? AF_INET6 : AF_INET, dst, b);
    return legacy_policy_eval(t, fz, tz, proto, v6 ? 6 : 4, a, b, sport, dport, id, to);
}

static void test_policy_eval(void **state)
{
    (void)state;
    Moat__Snapshot *s = build(conf);
    char err[256] = "";
    for (unsigned bank = 0; bank < 2; bank++) {
        struct legacy_tables t;
        uint32_t id, to;
        assert_int_equal(legacy_compile(s, bank, &t, err, sizeof(err)), 0);
        assert_true(t.reevaluate);
        /* trust -> untrust: allow-web from the LAN to 80 and 443. */
        assert_int_equal(eval(&t, 1, 2, 6, "10.77.1.5", "1.2.3.4", 40000, 443, &id, &to),
                         MOAT_LG_PERMIT);
        assert_int_equal(id, 1);
        /* Not from the LAN: block-rest (reject). */
        assert_int_equal(eval(&t, 1, 2, 6, "10.77.9.5", "1.2.3.4", 40000, 80, &id, &to),
                         MOAT_LG_REJECT);
        assert_int_equal(id, 3);
        /* Echo request: pings; echo reply (type 0): block-rest. */
        assert_int_equal(eval(&t, 1, 2, 1, "10.77.9.5", "1.2.3.4", 0, 8 << 8, &id, &to),
                         MOAT_LG_PERMIT);
        assert_int_equal(id, 2);
        assert_int_equal(eval(&t, 1, 2, 1, "10.77.9.5", "1.2.3.4", 0, 0, &id, &to), MOAT_LG_REJECT);
        assert_int_equal(id, 3);
        /* untrust -> trust: in-alt denies srv6 to 8080 (with the application's timeout). */
        assert_int_equal(eval(&t, 2, 1, 6, "fd00:77:2::5", "fd00:77:1::2", 5000, 8080, &id, &to),
                         MOAT_LG_DENY);
        assert_int_equal(id, 4);
        assert_int_equal(to, 600);
        /* Outside srv6's /64, another port, or a pair without policies: the default policy
         * (permit-all here), id 0. */
        assert_int_equal(eval(&t, 2, 1, 6, "fd00:77:3::5", "fd00:77:1::2", 5000, 8080, &id, &to),
                         MOAT_LG_PERMIT);
        assert_int_equal(id, 0);
        assert_int_equal(eval(&t, 2, 1, 6, "fd00:77:2::5", "fd00:77:1::2", 5000, 8081, &id, &to),
                         MOAT_LG_PERMIT);
        assert_int_equal(id, 0);
        assert_int_equal(eval(&t, 3, 1, 17, "10.77.3.5", "10.77.1.2", 5000, 53, &id, &to),
                         MOAT_LG_PERMIT);
        assert_int_equal(id, 0);
        legacy_tables_free(&t);
    }
    /* The hit counters' keys: policy ids name (from zone, to zone, name), in both banks. */
    struct legacy_tables a, b;
    assert_int_equal(legacy_compile(s, 0, &a, err, sizeof(err)), 0);
    assert_int_equal(legacy_compile(s, 1, &b, err, sizeof(err)), 0);
    assert_int_equal(a.n_pol_keys, 5);
    assert_null(a.pol_keys[0]);
    assert_string_equal(a.pol_keys[1], "trust\037untrust\037allow-web");
    assert_string_equal(a.pol_keys[4], "untrust\x1ftrust\x1fin-alt");
    uint32_t map[5];
    assert_false(legacy_hits_remap(a.pol_keys, a.n_pol_keys, b.pol_keys, b.n_pol_keys, map));
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(map[i], i);
    /* A policy inserted first renumbers the others: each keeps its counters under its new id;
     * the new policy (id 1) starts from zero. */
    char *ins[6] = {NULL, (char *)"trust\x1funtrust\x1fnew-first"};
    for (int i = 1; i < 5; i++)
        ins[i + 1] = a.pol_keys[i];
    assert_true(legacy_hits_remap(a.pol_keys, 5, ins, 6, map));
    assert_int_equal(map[0], 0);
    for (uint32_t i = 1; i < 5; i++)
        assert_int_equal(map[i], i + 1);
    /* The same name in another zone pair is another policy. */
    char other_pair[] = "untrust\037trust\037allow-web";
    char *moved[5] = {NULL, other_pair, a.pol_keys[2], a.pol_keys[3], a.pol_keys[1]};
    assert_true(legacy_hits_remap(a.pol_keys, 5, moved, 5, map));
    assert_int_equal(map[1], 4);
    assert_int_equal(map[2], 2);
    assert_int_equal(map[3], 3);
    assert_int_equal(map[4], UINT32_MAX);
    /* Sessions follow: one of old policy 1 counts under 4, of 4 (gone) nowhere; the default
     * policy stays 0, an id already counted nowhere stays so. */
    assert_int_equal(legacy_policy_renumbered(map, 5, 1), 4);
    assert_int_equal(legacy_policy_renumbered(map, 5, 2), 2);
    assert_int_equal(legacy_policy_renumbered(map, 5, 4), UINT32_MAX);
    assert_int_equal(legacy_policy_renumbered(map, 5, 0), 0);
    assert_int_equal(legacy_policy_renumbered(map, 5, UINT32_MAX), UINT32_MAX);
    /* A renamed policy is another policy: its id starts again, the others keep theirs. */
    s->policies[0]->name = (char *)"allow-web2"; /* names are the config's: borrowed */
    legacy_tables_free(&b);
    assert_int_equal(legacy_compile(s, 1, &b, err, sizeof(err)), 0);
    assert_true(legacy_hits_remap(a.pol_keys, a.n_pol_keys, b.pol_keys, b.n_pol_keys, map));
    assert_int_equal(map[1], UINT32_MAX);
    for (uint32_t i = 2; i < 5; i++)
        assert_int_equal(map[i], i);
    legacy_tables_free(&a);
    legacy_tables_free(&b);
    snapshot_free(s);
    teardown_ctl();
}

static void test_nat_and_network(void **state)
{
    (void)state;
    Moat__Snapshot *s = build(conf);
    struct legacy_tables t;
    char err[256] = "";
    assert_int_equal(legacy_compile(s, 0, &t, err, sizeof(err)), 0);

    /* Destination rules before source rules. */
    assert_int_equal(t.n_nat, 2);
    assert_int_equal(t.cfg.nat_count, 2);
    const struct moat_lg_nat_rule *d = &t.nat[0], *sr = &t.nat[1];
    assert_int_equal(d->kind, MOAT_LG_NAT_DEST);
    assert_int_equal(d->action, MOAT_LG_NAT_POOL);
    assert_int_equal(d->dport_lo, 80);
    assert_int_equal(d->dport_hi, 80);
    assert_int_equal(d->from_zones, 1ull << 2); /* untrust */
    assert_int_equal(d->to_zones, 0);
    assert_true(has_pfx(&t, d->dst_list, "10.77.2.1", 32));
    assert_int_equal(d->src_list, 0);
    assert_int_not_equal(d->pool_id, 0);
    const struct moat_lg_dpool *dp = &t.dpools[d->pool_id];
    uint32_t a;
    inet_pton(AF_INET, "10.77.1.2", &a);
    assert_int_equal(dp->addr, a);
    assert_int_equal(dp->port, 8080);

    assert_int_equal(sr->kind, MOAT_LG_NAT_SOURCE);
    assert_int_equal(sr->action, MOAT_LG_NAT_INTERFACE);
    assert_int_equal(sr->from_zones, 1ull << 1);
    assert_int_equal(sr->to_zones, 1ull << 2);
    assert_true(has_pfx(&t, sr->src_list, "10.77.1.0", 24));

    /* Interfaces: zone, MAC, first IPv4 address (interface NAT). */
    assert_int_equal(t.n_ifs, 3);
    for (unsigned i = 0; i < 3; i++) {
        const struct legacy_if_entry *e = &t.ifs[i];
        char want[16];
        snprintf(want, sizeof(want), "10.77.%u.1", e->ifindex - 9);
        inet_pton(AF_INET, want, &a);
        assert_int_equal(e->val.has_v4, 1);
        assert_int_equal(e->val.v4, a);
        assert_int_equal(e->val.mac[5], 0x10 + e->ifindex - 10);
        assert_int_equal(e->val.zone, e->ifindex == 12 ? 0 : e->ifindex - 9);
    }
    /* Routes: four connected (one IPv6) and the static one through 10.77.2.2 on fw1. */
    assert_int_equal(t.n_routes, 5);
    bool found_static = false;
    for (unsigned i = 0; i < t.n_routes; i++) {
        const struct legacy_route_entry *e = &t.routes[i];
        uint8_t net[4];
        inet_pton(AF_INET, "10.99.0.0", net);
        if (e->key.family == htonl(4) && e->key.prefixlen == 32 + 16 &&
            memcmp(e->key.addr, net, 4) == 0) {
            uint8_t gw[4];
            inet_pton(AF_INET, "10.77.2.2", gw);
            assert_int_equal(e->val.ifindex, 11);
            assert_int_equal(e->val.has_gw, 1);
            assert_memory_equal(e->val.gw, gw, 4);
            found_static = true;
        }
        if (e->key.family == htonl(6)) {
            assert_int_equal(e->key.prefixlen, 32 + 64);
            assert_int_equal(e->val.has_gw, 0);
        }
    }
    assert_true(found_static);
    /* Neighbours: only the resolved one. */
    assert_int_equal(t.n_neigh, 1);
    assert_int_equal(t.neigh[0].key.ifindex, 11);
    assert_int_equal(t.neigh[0].key.family, 4);
    assert_int_equal(t.neigh[0].val.mac[5], 0x22);
    legacy_tables_free(&t);
    snapshot_free(s);
    teardown_ctl();
}

/* Routes to one prefix: the lowest metric wins; prefixes are masked. */
static void test_route_metrics(void **state)
{
    (void)state;
    uint8_t a1[4] = {10, 5, 7, 9}, gw1[4] = {10, 0, 0, 1}, gw2[4] = {10, 0, 0, 2};
    Moat__Prefix p = MOAT__PREFIX__INIT;
    p.addr.data = a1;
    p.addr.len = 4;
    p.len = 16;
    Moat__Route r1 = MOAT__ROUTE__INIT, r2 = MOAT__ROUTE__INIT;
    r1.dst = r2.dst = &p;
    r1.gateway.data = gw1;
    r1.gateway.len = 4;
    r1.ifindex = 3;
    r1.metric = 20;
    r2.gateway.data = gw2;
    r2.gateway.len = 4;
    r2.ifindex = 4;
    r2.metric = 10;
    Moat__Route *routes[] = {&r1, &r2};
    Moat__Snapshot s = MOAT__SNAPSHOT__INIT;
    s.routes = routes;
    s.n_routes = 2;
    struct legacy_tables t;
    char err[256] = "";
    assert_int_equal(legacy_compile(&s, 0, &t, err, sizeof(err)), 0);
    assert_int_equal(t.n_routes, 1);
    assert_int_equal(t.routes[0].val.ifindex, 4);
    assert_memory_equal(t.routes[0].val.gw, gw2, 4);
    assert_int_equal(t.routes[0].key.addr[2], 0); /* 10.5.0.0/16 */
    assert_int_equal(t.routes[0].key.addr[1], 5);
    /* No configuration compiled: deny by default, ready, no NAT. */
    assert_int_equal(t.cfg.ready, 1);
    assert_int_equal(t.cfg.default_permit, 0);
    assert_int_equal(t.cfg.nat_count, 0);
    legacy_tables_free(&t);
}

/* What the legacy path cannot hold is refused with a sentence, never half compiled. */
static void test_refusals(void **state)
{
    (void)state;
    uint32_t zones[] = {64};
    Moat__NatRule nr = MOAT__NAT_RULE__INIT;
    nr.id = 1;
    nr.rule_set = "rs";
    nr.name = "big-zone";
    nr.from_zones = zones;
    nr.n_from_zones = 1;
    Moat__NatRule *rules[] = {&nr};
    Moat__Snapshot s = MOAT__SNAPSHOT__INIT;
    s.nat_rules = rules;
    s.n_nat_rules = 1;
    struct legacy_tables t;
    char err[256] = "";
    assert_int_equal(legacy_compile(&s, 0, &t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "rs/big-zone"));
    assert_non_null(strstr(err, "zone id 64"));
    assert_null(t.rules);

    /* Five interfaces on one side of a NAT rule. */
    uint32_t ifs[] = {1, 2, 3, 4, 5};
    nr.n_from_zones = 0;
    nr.from_ifindexes = ifs;
    nr.n_from_ifindexes = 5;
    err[0] = 0;
    assert_int_equal(legacy_compile(&s, 0, &t, err, sizeof(err)), -E2BIG);
    assert_non_null(strstr(err, "5 interfaces"));

    /* A pool of nine ranges. */
    uint8_t lo[4] = {10, 0, 0, 1}, hi[4] = {10, 0, 0, 2};
    Moat__AddressRange ar = MOAT__ADDRESS_RANGE__INIT;
    ar.lo.data = lo;
    ar.lo.len = 4;
    ar.hi.data = hi;
    ar.hi.len = 4;
    Moat__AddressRange *rv[9];
    for (int i = 0; i < 9; i++)
        rv[i] = &ar;
    Moat__SourcePool sp = MOAT__SOURCE_POOL__INIT;
    sp.id = 1;
    sp.name = "wide";
    sp.ranges = rv;
    sp.n_ranges = 9;
    Moat__SourcePool *pools[] = {&sp};
    Moat__Snapshot s2 = MOAT__SNAPSHOT__INIT;
    s2.source_pools = pools;
    s2.n_source_pools = 1;
    assert_int_equal(legacy_compile(&s2, 0, &t, err, sizeof(err)), -E2BIG);
    assert_non_null(strstr(err, "wide"));
    /* Eight are fine: addresses counted over all ranges. */
    sp.n_ranges = 8;
    assert_int_equal(legacy_compile(&s2, 0, &t, err, sizeof(err)), 0);
    assert_int_equal(t.spools[1].naddr, 16);
    assert_int_equal(t.spools[1].lo[0], 0x0a000001);
    assert_int_equal(t.spools[1].port_lo, 1024);
    assert_int_equal(t.spools[1].port_hi, 65535);
    legacy_tables_free(&t);
}

/* Screens go to the zone they are bound to; the source of ICMPv6 errors is the first IPv6
 * address that is not link-local; a screened zone id the path cannot index is refused. */
static void test_screens_and_if6(void **state)
{
    (void)state;
    Moat__Screen sc = MOAT__SCREEN__INIT;
    sc.id = 2;
    sc.name = "edge";
    sc.flags = MOAT_LG_SCR_F_LAND | MOAT_LG_SCR_F_SYN_FIN;
    sc.icmp_flood = 200;
    sc.udp_flood = 300;
    sc.syn_attack = 400;
    sc.syn_destination = 500;
    sc.syn_source = 600;
    sc.limit_src = 5;
    sc.limit_dst = 9;
    Moat__Screen other = MOAT__SCREEN__INIT;
    other.id = 1;
    other.name = "unused";
    other.flags = MOAT_LG_SCR_F_TEAR_DROP;
    Moat__Screen *screens[] = {&other, &sc};
    Moat__Zone z1 = MOAT__ZONE__INIT, z2 = MOAT__ZONE__INIT;
    z1.id = 1;
    z1.name = "trust";
    z2.id = 7;
    z2.name = "untrust";
    z2.screen_id = 2;
    Moat__Zone *zones[] = {&z1, &z2};
    uint8_t ll[16] = {0xfe, 0x80, [15] = 1}, g6[16] = {0xfd, 0x00, 0x77, [15] = 1};
    Moat__Prefix a_ll = MOAT__PREFIX__INIT, a_g6 = MOAT__PREFIX__INIT;
    a_ll.addr.data = ll;
    a_ll.addr.len = 16;
    a_g6.addr.data = g6;
    a_g6.addr.len = 16;
    Moat__Prefix *addrs[] = {&a_ll, &a_g6};
    Moat__Interface i1 = MOAT__INTERFACE__INIT, i2 = MOAT__INTERFACE__INIT;
    i1.name = "fw0";
    i1.ifindex = 5;
    i1.addresses = addrs;
    i1.n_addresses = 2;
    i2.name = "fw1";
    i2.ifindex = 6;
    i2.addresses = addrs;
    i2.n_addresses = 1; /* link-local only */
    Moat__Interface *ifs[] = {&i1, &i2};
    Moat__Snapshot s = MOAT__SNAPSHOT__INIT;
    s.screens = screens;
    s.n_screens = 2;
    s.zones = zones;
    s.n_zones = 2;
    s.interfaces = ifs;
    s.n_interfaces = 2;
    struct legacy_tables t;
    char err[256] = "";
    assert_int_equal(legacy_compile(&s, 0, &t, err, sizeof(err)), 0);
    const struct moat_lg_screen *e = &t.screens[7];
    assert_int_equal(e->id, 2);
    assert_int_equal(e->flags, MOAT_LG_SCR_F_LAND | MOAT_LG_SCR_F_SYN_FIN);
    assert_int_equal(e->icmp_flood, 200);
    assert_int_equal(e->udp_flood, 300);
    assert_int_equal(e->syn_attack, 400);
    assert_int_equal(e->syn_dst, 500);
    assert_int_equal(e->syn_src, 600);
    assert_int_equal(e->limit_src, 5);
    assert_int_equal(e->limit_dst, 9);
    for (unsigned z = 0; z < MOAT_LG_SCR_ZONES; z++)
        if (z != 7)
            assert_int_equal(t.screens[z].id, 0);
    assert_int_equal(t.n_if6, 1);
    assert_int_equal(t.if6[0].ifindex, 5);
    assert_memory_equal(t.if6[0].val.v6, g6, 16);
    legacy_tables_free(&t);

    z2.id = MOAT_LG_SCR_ZONES;
    assert_int_equal(legacy_compile(&s, 0, &t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "zone untrust"));
    z2.id = 7;
    z2.screen_id = 3;
    assert_int_equal(legacy_compile(&s, 0, &t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "screen id 3"));
}

static void test_neigh_usable(void **state)
{
    (void)state;
    const uint8_t mac[6] = {2, 0, 0, 0, 0, 1}, zero[6] = {0};
    assert_true(legacy_neigh_usable(NUD_REACHABLE, mac, 6));
    assert_true(legacy_neigh_usable(NUD_STALE, mac, 6));
    assert_true(legacy_neigh_usable(NUD_PERMANENT, mac, 6));
    assert_false(legacy_neigh_usable(NUD_INCOMPLETE, mac, 6));
    assert_false(legacy_neigh_usable(NUD_FAILED, mac, 6));
    assert_false(legacy_neigh_usable(NUD_REACHABLE, zero, 6));
    assert_false(legacy_neigh_usable(NUD_REACHABLE, mac, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policies),        cmocka_unit_test(test_banks),
        cmocka_unit_test(test_nat_and_network), cmocka_unit_test(test_route_metrics),
        cmocka_unit_test(test_refusals),        cmocka_unit_test(test_neigh_usable),
        cmocka_unit_test(test_policy_eval),     cmocka_unit_test(test_screens_and_if6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
