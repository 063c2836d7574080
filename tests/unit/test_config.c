/* SPDX-License-Identifier: MIT */
/*
 * test_config.c — the config module: both example configs and their meaning, a kitchen-sink
 * config, bad configs with the exact line:col and message, printing (tree and set lines),
 * the round trip, and robustness against truncated and mutated input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_tree.h"

#define FIXTURES MOAT_SOURCE_DIR "/tests/unit/config/"
#define SHARED_EXAMPLES MOAT_SOURCE_DIR "/../shared/examples/"

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

static struct moat_config *load_ok(const char *path)
{
    struct moat_config *cfg = NULL;
    struct config_error err;
    int rc = config_load_file(path, &cfg, &err);
    if (rc) {
        char msg[1024];
        config_error_format(&err, msg, sizeof(msg));
        fail_msg("%s did not load: %s", path, msg);
    }
    assert_non_null(cfg);
    return cfg;
}

static struct moat_config *load_str_ok(const char *text)
{
    struct moat_config *cfg = NULL;
    struct config_error err;
    int rc = config_load_string(text, "test.conf", &cfg, &err);
    if (rc) {
        char msg[1024];
        config_error_format(&err, msg, sizeof(msg));
        fail_msg("config did not load: %s", msg);
    }
    assert_non_null(cfg);
    return cfg;
}

/* Parses "A/LEN" (or "A") with inet_pton, independently of the module. */
static struct cfg_prefix pfx(const char *s)
{
    struct cfg_prefix p = {0};
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    if (strchr(buf, ':')) {
        p.family = 6;
        assert_int_equal(inet_pton(AF_INET6, buf, p.addr), 1);
        p.len = slash ? (uint8_t)atoi(slash + 1) : 128;
    } else {
        p.family = 4;
        assert_int_equal(inet_pton(AF_INET, buf, p.addr), 1);
        p.len = slash ? (uint8_t)atoi(slash + 1) : 32;
    }
    return p;
}

static void assert_prefix(const struct cfg_prefix *got, const char *want)
{
    struct cfg_prefix w = pfx(want);
    char buf[64];
    assert_int_equal(config_prefix_format(got, buf, sizeof(buf)), 0);
    if (got->family != w.family || got->len != w.len || memcmp(got->addr, w.addr, 16) != 0)
        fail_msg("prefix %s, expected %s", buf, want);
}

static bool has_prefix(const struct cfg_prefix *arr, unsigned n, const char *want)
{
    struct cfg_prefix w = pfx(want);
    for (unsigned i = 0; i < n; i++) {
        if (arr[i].family == w.family && arr[i].len == w.len && !memcmp(arr[i].addr, w.addr, 16))
            return true;
    }
    return false;
}

static char *print_to_string(const struct moat_config *cfg, bool set)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    assert_int_equal(set ? config_print_set(cfg, mem) : config_print_tree(cfg, mem), 0);
    fclose(mem);
    return buf;
}

static unsigned app_index(const struct moat_config *cfg, const char *name)
{
    const struct cfg_application *a = config_find_application(cfg, name);
    assert_non_null(a);
    return (unsigned)(a - cfg->security->apps);
}

/* ---- the example configs ---- */

static void check_standalone(const struct moat_config *cfg)
{
    /* system: host-name moat-lab, mode auto, 1 worker; ring and frame sizes default */
    assert_string_equal(cfg->system.host_name, "moat-lab");
    assert_int_equal(cfg->system.mode, CFG_MODE_AUTO);
    assert_int_equal(cfg->system.workers, 1);
    assert_int_equal(cfg->system.ring_size, 2048);
    assert_int_equal(cfg->system.frame_size, 4096);

    /* fw0: 10.77.1.1/24 and fd00:77:1::1/64; fw1: 10.77.2.1/24 and fd00:77:2::1/64 */
    assert_int_equal(cfg->n_ifaces, 2);
    const struct cfg_interface *fw0 = config_find_interface(cfg, "fw0");
    const struct cfg_interface *fw1 = config_find_interface(cfg, "fw1");
    assert_non_null(fw0);
    assert_non_null(fw1);
    assert_null(config_find_interface(cfg, "fw2"));
    assert_int_equal(fw0->n_addrs, 2);
    assert_prefix(&fw0->addrs[0], "10.77.1.1/24");
    assert_prefix(&fw0->addrs[1], "fd00:77:1::1/64");
    assert_int_equal(fw1->n_addrs, 2);
    assert_prefix(&fw1->addrs[0], "10.77.2.1/24");
    assert_prefix(&fw1->addrs[1], "fd00:77:2::1/64");
    assert_int_equal(fw0->n_vips, 0);
    assert_int_equal(fw0->redundancy_group, -1);
    assert_int_equal(fw0->mtu, 0);

    /* route 10.99.0.0/16 via 10.77.2.2 */
    assert_int_equal(cfg->n_routes, 1);
    assert_prefix(&cfg->routes[0].dst, "10.99.0.0/16");
    struct cfg_prefix nh = pfx("10.77.2.2");
    assert_memory_equal(cfg->routes[0].nexthop, nh.addr, 4);
    assert_false(cfg->routes[0].discard);

    /* zones: trust (fw0, answers ping), untrust (fw1, answers nothing) */
    const struct cfg_security *sec = cfg->security;
    assert_non_null(sec);
    assert_int_equal(sec->n_zones, 2);
    const struct cfg_zone *trust = config_find_zone(cfg, "trust");
    const struct cfg_zone *untrust = config_find_zone(cfg, "untrust");
    assert_non_null(trust);
    assert_non_null(untrust);
    assert_int_equal(trust->zone_id, 1);
    assert_int_equal(untrust->zone_id, 2);
    assert_ptr_equal(config_zone_by_id(cfg, 2), untrust);
    assert_null(config_zone_by_id(cfg, 0));
    assert_null(config_zone_by_id(cfg, 3));
    assert_int_equal(trust->n_ifaces, 1);
    assert_ptr_equal(&cfg->ifaces[trust->ifaces[0]], fw0);
    assert_int_equal(fw0->zone_id, trust->zone_id);
    assert_int_equal(fw1->zone_id, untrust->zone_id);
    assert_true(trust->host_services & CFG_SVC_PING);
    assert_false(trust->host_services & CFG_SVC_SSH);
    assert_int_equal(untrust->host_services, 0);
    assert_int_equal(trust->screen, -1);

    /* address book: lan = lan-net + lan-net6 */
    assert_int_equal(sec->n_addrs, 3);
    assert_int_equal(sec->n_addr_sets, 1);
    assert_string_equal(sec->addr_sets[0].name, "lan");
    assert_int_equal(sec->addr_sets[0].n_prefixes, 2);

    /* policies, in order: allow-out trust->untrust; allow-web untrust->trust with web-alt */
    assert_int_equal(sec->n_policies, 2);
    const struct cfg_policy *out = &sec->policies[0];
    assert_string_equal(out->name, "allow-out");
    assert_int_equal(out->from_zone, trust->zone_id);
    assert_int_equal(out->to_zone, untrust->zone_id);
    assert_false(out->src.any);
    assert_int_equal(out->src.n_prefixes, 2);
    assert_true(has_prefix(out->src.prefixes, 2, "10.77.1.0/24"));
    assert_true(has_prefix(out->src.prefixes, 2, "fd00:77:1::/64"));
    assert_true(out->dst.any);
    assert_true(out->app_any);
    assert_int_equal(out->action, CFG_POLICY_PERMIT);
    assert_false(out->log_init);

    const struct cfg_policy *web = &sec->policies[1];
    assert_string_equal(web->name, "allow-web");
    assert_int_equal(web->from_zone, untrust->zone_id);
    assert_int_equal(web->to_zone, trust->zone_id);
    assert_true(web->src.any);
    assert_int_equal(web->dst.n_prefixes, 1);
    assert_prefix(&web->dst.prefixes[0], "10.77.1.10/32");
    assert_false(web->app_any);
    assert_int_equal(web->n_apps, 1);
    assert_int_equal(web->apps[0], app_index(cfg, "web-alt"));
    assert_true(web->log_init);
    assert_true(web->log_close);
    assert_int_equal(sec->default_policy, CFG_DEFAULT_DENY_ALL);

    const struct cfg_application *alt = config_find_application(cfg, "web-alt");
    assert_false(alt->predefined);
    assert_int_equal(alt->protocol, 6);
    assert_int_equal(alt->dport_lo, 8080);
    assert_int_equal(alt->dport_hi, 8080);
    assert_int_equal(alt->sport_lo, 0);
    assert_int_equal(alt->sport_hi, 65535);
    assert_int_equal(alt->inactivity_timeout, 600);

    /* source NAT: trust -> untrust, 10.77.1.0/24 to the interface address */
    assert_int_equal(sec->n_snat_rule_sets, 1);
    const struct cfg_nat_rule_set *lan_out = &sec->snat_rule_sets[0];
    assert_string_equal(lan_out->name, "lan-out");
    assert_false(lan_out->from.interface);
    assert_int_equal(lan_out->from.n, 1);
    assert_int_equal(lan_out->from.ids[0], trust->zone_id);
    assert_int_equal(lan_out->to.n, 1);
    assert_int_equal(lan_out->to.ids[0], untrust->zone_id);
    assert_int_equal(lan_out->n_rules, 1);
    assert_string_equal(lan_out->rules[0].name, "masquerade");
    assert_int_equal(lan_out->rules[0].n_src, 1);
    assert_prefix(&lan_out->rules[0].src[0], "10.77.1.0/24");
    assert_int_equal(lan_out->rules[0].action, CFG_NAT_INTERFACE);

    /* destination NAT: 10.77.2.1:80 -> pool web = 10.77.1.10 port 8080 */
    assert_int_equal(sec->n_dnat_pools, 1);
    assert_string_equal(sec->dnat_pools[0].name, "web");
    assert_prefix(&sec->dnat_pools[0].addr, "10.77.1.10/32");
    assert_int_equal(sec->dnat_pools[0].port, 8080);
    assert_int_equal(sec->n_dnat_rule_sets, 1);
    const struct cfg_nat_rule_set *web_in = &sec->dnat_rule_sets[0];
    assert_int_equal(web_in->from.ids[0], untrust->zone_id);
    assert_int_equal(web_in->to.n, 0);
    const struct cfg_nat_rule *http = &web_in->rules[0];
    assert_string_equal(http->name, "http");
    assert_prefix(&http->dst[0], "10.77.2.1/32");
    assert_int_equal(http->dport_lo, 80);
    assert_int_equal(http->dport_hi, 80);
    assert_int_equal(http->action, CFG_NAT_POOL);
    assert_int_equal(http->pool, 0);

    assert_int_equal(sec->flow.tcp_established_timeout, 1800);
    assert_int_equal(sec->flow.udp_timeout, 60);
    assert_int_equal(sec->flow.icmp_timeout, 10);
    assert_null(cfg->cluster);
    assert_non_null(cfg->tree);
}

static void check_ha_node0(const struct moat_config *cfg)
{
    const struct cfg_cluster *cl = cfg->cluster;
    assert_non_null(cl);
    assert_int_equal(cl->cluster_id, 1);
    assert_int_equal(cl->node_id, 0);
    assert_string_equal(cl->control_interface, "ctl0");
    assert_prefix(&cl->local_address, "10.77.9.1");
    assert_prefix(&cl->peer_address, "10.77.9.2");
    assert_string_equal(cl->authentication_key, "lab-secret-change-me");
    assert_int_equal(cl->heartbeat_interval_ms, 200);
    assert_int_equal(cl->heartbeat_threshold, 3);
    assert_int_equal(cl->n_rgs, 1);
    const struct cfg_redundancy_group *rg = config_find_rg(cfg, 1);
    assert_non_null(rg);
    assert_null(config_find_rg(cfg, 0));
    assert_int_equal(rg->priority[0], 200); /* node 0 is preferred */
    assert_int_equal(rg->priority[1], 100);
    assert_true(rg->preempt);
    assert_int_equal(rg->gratuitous_arp_count, 4);
    assert_int_equal(rg->n_monitors, 2);
    assert_string_equal(rg->monitors[0].ifname, "fw0");
    assert_int_equal(rg->monitors[0].weight, 255);
    assert_string_equal(rg->monitors[1].ifname, "fw1");
    assert_string_equal(cfg->ifaces[rg->monitors[1].iface].name, "fw1");

    /* RG 1 owns the LAN and uplink VIPs; the VIP takes the /24 of its subnet */
    const struct cfg_interface *fw0 = config_find_interface(cfg, "fw0");
    const struct cfg_interface *fw1 = config_find_interface(cfg, "fw1");
    const struct cfg_interface *ctl0 = config_find_interface(cfg, "ctl0");
    assert_non_null(ctl0);
    assert_int_equal(fw0->redundancy_group, 1);
    assert_int_equal(fw0->n_addrs, 1);
    assert_prefix(&fw0->addrs[0], "10.77.1.3/24");
    assert_int_equal(fw0->n_vips, 1);
    assert_prefix(&fw0->vips[0], "10.77.1.1/24");
    assert_prefix(&fw1->vips[0], "10.77.2.1/24");
    assert_int_equal(ctl0->redundancy_group, -1);
    assert_int_equal(ctl0->n_vips, 0);
    assert_int_equal(ctl0->zone_id, 0); /* the control link is in no zone */
    assert_int_equal(fw0->zone_id, config_find_zone(cfg, "trust")->zone_id);

    const struct cfg_security *sec = cfg->security;
    assert_int_equal(sec->n_policies, 1);
    assert_true(sec->policies[0].src.any);
    assert_int_equal(sec->snat_rule_sets[0].rules[0].action, CFG_NAT_INTERFACE);
    assert_int_equal(cfg->n_routes, 0);
    /* the system stanza is absent: defaults */
    assert_int_equal(cfg->system.workers, 1);
    assert_int_equal(cfg->system.ring_size, 2048);
}

static void test_standalone(void **state)
{
    struct moat_config *cfg = load_ok(FIXTURES "standalone.conf");
    check_standalone(cfg);
    assert_string_equal(cfg->source_name, FIXTURES "standalone.conf");
    config_free(cfg);
}

static void test_ha_node0(void **state)
{
    struct moat_config *cfg = load_ok(FIXTURES "ha-node0.conf");
    check_ha_node0(cfg);
    config_free(cfg);
}

/* The shared examples (when that folder is there) load too and match the fixture copies. */
static void test_shared_examples(void **state)
{
    static const char *const names[] = {"standalone.conf", "ha-node0.conf"};
    if (access(SHARED_EXAMPLES "standalone.conf", R_OK) != 0)
        skip();
    for (size_t i = 0; i < 2; i++) {
        char a[512], b[512];
        snprintf(a, sizeof(a), "%s%s", SHARED_EXAMPLES, names[i]);
        snprintf(b, sizeof(b), "%s%s", FIXTURES, names[i]);
        struct moat_config *shared = load_ok(a), *fixture = load_ok(b);
        if (i == 0)
            check_standalone(shared);
        else
            check_ha_node0(shared);
        assert_true(config_tree_equal(shared->tree, fixture->tree));
        config_free(shared);
        config_free(fixture);
    }
}

/* ---- the kitchen-sink config ---- */

static void test_full(void **state)
{
    struct moat_config *cfg = load_ok(FIXTURES "full.conf");
    const struct cfg_security *sec = cfg->security;

    assert_string_equal(cfg->system.host_name, "moat full");
    assert_int_equal(cfg->system.mode, CFG_MODE_USERSPACE);
    assert_int_equal(cfg->system.workers, 4);
    assert_int_equal(cfg->system.ring_size, 4096);
    assert_int_equal(cfg->system.frame_size, 2048);

    assert_int_equal(cfg->n_ifaces, 5);
    const struct cfg_interface *lan0 = config_find_interface(cfg, "lan0");
    assert_int_equal(lan0->mtu, 9000);
    assert_int_equal(lan0->n_vips, 2);
    assert_prefix(&lan0->vips[0], "192.168.10.1/24");
    assert_prefix(&lan0->vips[1], "2001:db8:10::1/64");
    const struct cfg_interface *spare = config_find_interface(cfg, "spare0");
    assert_non_null(spare);
    assert_int_equal(spare->n_addrs, 0);
    assert_int_equal(spare->zone_id, 0);
    /* "lan0.0" in a zone names lan0 */
    assert_int_equal(lan0->zone_id, config_find_zone(cfg, "trust")->zone_id);

    assert_int_equal(cfg->n_routes, 3);
    assert_prefix(&cfg->routes[0].dst, "0.0.0.0/0");
    assert_true(cfg->routes[1].discard);
    assert_prefix(&cfg->routes[2].dst, "2001:db8:99::/48");
    struct cfg_prefix nh6 = pfx("2001:db8:10::fe");
    assert_memory_equal(cfg->routes[2].nexthop, nh6.addr, 16);

    /* applications: predefined ones exist; sets are flattened without duplicates */
    const struct cfg_application *ping = config_find_application(cfg, "junos-ping");
    assert_true(ping->predefined);
    assert_int_equal(ping->protocol, 1);
    assert_int_equal(ping->icmp_type, 8);
    assert_int_equal(config_find_application(cfg, "junos-dns-udp")->protocol, 17);
    assert_int_equal(config_find_application(cfg, "junos-dns-udp")->dport_lo, 53);
    assert_true(config_find_application(cfg, "any")->any);
    const struct cfg_application *udp = config_find_application(cfg, "udp-range");
    assert_int_equal(udp->dport_lo, 5000);
    assert_int_equal(udp->dport_hi, 5100);
    assert_int_equal(udp->sport_lo, 1024);
    assert_int_equal(udp->inactivity_timeout, 30);
    assert_int_equal(config_find_application(cfg, "echo6")->icmp_type, 128);
    assert_int_equal(config_find_application(cfg, "gre")->protocol, 47);
    assert_int_equal(sec->n_app_sets, 2);
    assert_int_equal(sec->app_sets[0].n_apps, 3);
    assert_int_equal(sec->app_sets[1].n_apps, 4); /* web (3) + udp-range, junos-http once */

    /* address sets nest */
    assert_int_equal(sec->n_addr_sets, 2);
    assert_int_equal(sec->addr_sets[1].n_prefixes, 3);
    assert_true(has_prefix(sec->addr_sets[1].prefixes, 3, "172.16.0.10/32"));
    assert_true(has_prefix(sec->addr_sets[1].prefixes, 3, "2001:db8:10::/64"));

    /* screens: typed; zones find them */
    assert_int_equal(sec->n_screens, 1);
    const struct cfg_screen *scr = &sec->screens[0];
    assert_int_equal(scr->flags, CFG_SCR_PING_DEATH | CFG_SCR_LAND);
    assert_int_equal(scr->syn_attack, 200);
    assert_int_equal(scr->syn_destination, 400);
    assert_int_equal(scr->limit_src, 100);
    assert_int_equal(scr->limit_dst, 0);
    assert_int_equal(config_find_zone(cfg, "untrust")->screen, 0);

    const struct cfg_zone *trust = config_find_zone(cfg, "trust");
    const struct cfg_zone *dmz = config_find_zone(cfg, "dmz");
    assert_int_equal(trust->host_services, CFG_SVC_PING | CFG_SVC_SSH | CFG_SVC_HTTPS);
    assert_int_equal(trust->host_protocols, CFG_HPROTO_BGP);
    assert_int_equal(dmz->host_services, CFG_SVC_ALL);
    assert_int_equal(dmz->host_protocols, CFG_HPROTO_ALL);
    assert_int_equal(dmz->zone_id, 3);

    /* policies keep their order across zone pairs */
    assert_int_equal(sec->n_policies, 4);
    assert_string_equal(sec->policies[0].name, "out");
    assert_true(sec->policies[0].count);
    assert_int_equal(sec->policies[0].src.n_prefixes, 3);
    const struct cfg_policy *web_in = &sec->policies[1];
    assert_string_equal(web_in->name, "web-in");
    assert_int_equal(web_in->dst.n_prefixes, 2);
    assert_true(has_prefix(web_in->dst.prefixes, 2, "0.0.0.0/0"));
    assert_int_equal(web_in->n_apps, 4);
    assert_true(web_in->log_init);
    assert_false(web_in->log_close);
    assert_int_equal(sec->policies[2].action, CFG_POLICY_REJECT);
    assert_int_equal(sec->policies[3].action, CFG_POLICY_DENY);
    assert_int_equal(sec->policies[3].from_zone, trust->zone_id);
    assert_int_equal(sec->policies[3].to_zone, dmz->zone_id);
    assert_int_equal(sec->default_policy, CFG_DEFAULT_PERMIT_ALL);

    /* source NAT: rules in order; pool declared after the rule that names it */
    assert_int_equal(sec->n_snat_pools, 2);
    const struct cfg_snat_pool *pub = &sec->snat_pools[0];
    assert_string_equal(pub->name, "public");
    assert_int_equal(pub->family, 4);
    assert_int_equal(pub->n_ranges, 2);
    struct cfg_prefix lo = pfx("203.0.113.4"), hi = pfx("203.0.113.7");
    assert_memory_equal(pub->ranges[0].lo, lo.addr, 4);
    assert_memory_equal(pub->ranges[0].hi, hi.addr, 4);
    hi = pfx("203.0.113.11");
    assert_memory_equal(pub->ranges[1].hi, hi.addr, 4);
    assert_int_equal(pub->port_lo, 20000);
    assert_int_equal(pub->port_hi, 30000);
    assert_true(pub->address_persistent);
    assert_true(sec->snat_pools[1].no_port_translation);
    const struct cfg_nat_rule_set *out = &sec->snat_rule_sets[0];
    assert_true(out->to.interface);
    assert_string_equal(cfg->ifaces[out->to.ids[0]].name, "wan0");
    assert_int_equal(out->n_rules, 3);
    assert_int_equal(out->rules[0].action, CFG_NAT_OFF);
    assert_int_equal(out->rules[1].action, CFG_NAT_POOL);
    assert_int_equal(out->rules[1].pool, 0);
    assert_int_equal(out->rules[1].n_src, 2);
    assert_int_equal(out->rules[1].dport_lo, 1);
    assert_int_equal(out->rules[1].dport_hi, 1023);
    assert_int_equal(out->rules[1].protocol, 6);
    assert_int_equal(out->rules[2].action, CFG_NAT_INTERFACE);

    const struct cfg_nat_rule_set *dn = &sec->dnat_rule_sets[0];
    assert_true(dn->from.interface);
    assert_int_equal(dn->n_rules, 3);
    assert_int_equal(dn->rules[1].pool, 1);
    assert_prefix(&sec->dnat_pools[1].addr, "2001:db8:10::80/128");
    assert_int_equal(sec->dnat_pools[1].port, 0);
    assert_int_equal(dn->rules[2].action, CFG_NAT_OFF);

    assert_int_equal(sec->n_static_rule_sets, 1);
    const struct cfg_nat_rule *map = &sec->static_rule_sets[0].rules[0];
    assert_int_equal(map->action, CFG_NAT_PREFIX);
    assert_prefix(&map->static_prefix, "172.16.0.8/30");

    assert_int_equal(sec->flow.tcp_established_timeout, 3600);
    assert_int_equal(sec->flow.tcp_initial_timeout, 10);
    assert_int_equal(sec->flow.udp_timeout, 45);
    assert_int_equal(sec->flow.icmp_timeout, 5);
    assert_int_equal(sec->flow.aging_high_watermark, 90);
    assert_int_equal(sec->flow.aging_low_watermark, 70);

    const struct cfg_cluster *cl = cfg->cluster;
    assert_int_equal(cl->cluster_id, 7);
    assert_int_equal(cl->node_id, 1);
    assert_prefix(&cl->local_address, "fd00:9::2");
    assert_string_equal(cl->authentication_key, "s3cret \"quoted\" key");
    assert_int_equal(cl->n_rgs, 2);
    assert_int_equal(config_find_rg(cfg, 0)->priority[1], 200);
    assert_false(config_find_rg(cfg, 1)->preempt);
    assert_int_equal(config_find_rg(cfg, 1)->gratuitous_arp_count, 8);
    assert_int_equal(config_find_rg(cfg, 1)->monitors[0].weight, 128);
    config_free(cfg);
}

/* Without heartbeat lines: 200 ms x 3, so a failover completes within 1 s (issue 7). */
static void test_cluster_heartbeat_defaults(void **state)
{
    (void)state;
    struct moat_config *cfg =
        load_str_ok("interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { "
                    "redundancy-group 1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
                    "chassis { cluster { cluster-id 1; node-id 0;\n"
                    "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
                    "authentication-key k;\n"
                    "redundancy-group 1 { node 0 priority 200; node 1 priority 100; } } }\n");
    assert_non_null(cfg->cluster);
    assert_int_equal(cfg->cluster->heartbeat_interval_ms, 200);
    assert_int_equal(cfg->cluster->heartbeat_threshold, 3);
    config_free(cfg);
}

static void test_defaults_and_empty(void **state)
{
    static const char *const empties[] = {"", "\n\n", "# only a comment\n", "  # x\n\t\r\n"};
    for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        struct moat_config *cfg = load_str_ok(empties[i]);
        assert_int_equal(cfg->n_ifaces, 0);
        assert_int_equal(cfg->n_routes, 0);
        assert_null(cfg->cluster);
        assert_non_null(cfg->security);
        assert_int_equal(cfg->security->n_zones, 0);
        assert_int_equal(cfg->security->n_policies, 0);
        assert_int_equal(cfg->security->default_policy, CFG_DEFAULT_DENY_ALL);
        assert_int_equal(cfg->system.mode, CFG_MODE_AUTO);
        assert_int_equal(cfg->system.workers, 1);
        assert_int_equal(cfg->system.ring_size, 2048);
        assert_int_equal(cfg->system.frame_size, 4096);
        assert_non_null(config_find_application(cfg, "junos-https"));
        char *text = print_to_string(cfg, false);
        assert_string_equal(text, "");
        free(text);
        config_free(cfg);
    }
    /* every ring-size that is a power of two in range is accepted */
    for (unsigned r = 64; r <= 16384; r *= 2) {
        char text[128];
        snprintf(text, sizeof(text), "system { dataplane { ring-size %u; workers 16; } }", r);
        struct moat_config *cfg = load_str_ok(text);
        assert_int_equal(cfg->system.ring_size, r);
        assert_int_equal(cfg->system.workers, 16);
        config_free(cfg);
    }
    /* worker-cpus: one CPU, or a list in order (CPU 0 exists on every machine) */
    struct moat_config *cfg = load_str_ok("system { dataplane { worker-cpus 0; } }");
    assert_int_equal(cfg->system.n_worker_cpus, 1);
    assert_int_equal(cfg->system.worker_cpus[0], 0);
    config_free(cfg);
    cfg = load_str_ok("system { dataplane { worker-cpus [ 0 ]; workers 2; } }");
    assert_int_equal(cfg->system.n_worker_cpus, 1);
    config_free(cfg);
    cfg = load_str_ok("system { }");
    assert_int_equal(cfg->system.n_worker_cpus, 0); /* anywhere by default */
    config_free(cfg);
    cfg = load_str_ok("system { dataplane { mode legacy; } }");
    assert_int_equal(cfg->system.mode, CFG_MODE_LEGACY);
    assert_false(cfg->system.prometheus.enabled); /* off by default */
    config_free(cfg);
    /* the Prometheus endpoint: the block turns it on, with defaults 127.0.0.1:9469 */
    cfg = load_str_ok("system { services { prometheus { } } }");
    assert_true(cfg->system.prometheus.enabled);
    assert_int_equal(cfg->system.prometheus.address.family, 4);
    assert_memory_equal(cfg->system.prometheus.address.addr, ((uint8_t[]){127, 0, 0, 1}), 4);
    assert_int_equal(cfg->system.prometheus.port, 9469);
    config_free(cfg);
    cfg = load_str_ok("system { services { prometheus { listen-address ::1; port 9100; } } }");
    assert_true(cfg->system.prometheus.enabled);
    assert_int_equal(cfg->system.prometheus.address.family, 6);
    assert_int_equal(cfg->system.prometheus.address.addr[15], 1);
    assert_int_equal(cfg->system.prometheus.port, 9100);
    config_free(cfg);
    config_free(NULL);
}

/* ---- bad configs ---- */

struct bad_case {
    const char *text;
    unsigned line, col;
    const char *phrase;
};

/* Generated from needle positions: line:col is where the offending token starts. */
static const struct bad_case bad_cases[] = {
    {"interfacez { }\n", 1, 1,
     "unknown statement \"interfacez\" under top level (expected one of: system, interfaces"},
    {"interfaces {\n"
     "    fw0 { unit 0 { family inet { address 10.77.1.1/24 } } }\n"
     "}\n",
     2, 55, "unexpected \"}\" — missing \";\" after \"address 10.77.1.1/24\"?"},
    {"system {\n"
     "    host-name \"moat;\n"
     "}\n",
     2, 15, "unterminated quoted string"},
    {"system {\n"
     "  host-name x;\n",
     3, 1, "the block of \"system\" opened at 1:8 is not closed"},
    {"system { }\n"
     "}\n",
     2, 1, "unexpected \"}\" with no block open"},
    {"system { ; }\n", 1, 10, "unexpected \";\" with no statement before it"},
    {"{ }\n", 1, 1, "unexpected \"{\" with no statement name"},
    {"system { host-name x", 1, 21,
     "unexpected end of file — missing \";\" after \"host-name x\"?"},
    {"system {\x01"
     "}\n",
     1, 9, "unexpected control character 0x01"},
    {"security { policies { from-zone a to-zone b { policy p { match { source-address [ a b; } } } "
     "} }\n",
     1, 86, "the list opened at 1:81 is missing its \"]\""},
    {"a { b [ x [ y ] ]; }\n", 1, 11, "lists do not nest"},
    {"a { b x ]; }\n", 1, 9, "unexpected \"]\" with no \"[\" open"},
    {"a { b [ ]; }\n", 1, 9, "empty [ ] list"},
    {"system {\n"
     "dataplane {\n"
     "ring-size 3000;\n"
     "}\n"
     "}\n",
     3, 11, "ring-size 3000 is not a power of two"},
    {"system {\n"
     "dataplane {\n"
     "ring-size 32768;\n"
     "}\n"
     "}\n",
     3, 11, "ring-size 32768 is out of range (64..16384)"},
    {"system { dataplane { workers 0; } }\n", 1, 30, "workers 0 is out of range (1..16)"},
    {"system { dataplane { frame-size 1000; } }\n", 1, 33, "frame-size 1000 is not supported"},
    {"system { dataplane { mode fast; } }\n", 1, 27, "invalid dataplane mode \"fast\""},
    {"system { dataplane { workers abc; } }\n", 1, 30, "invalid number \"abc\" for workers"},
    {"system { dataplane { worker-cpus [ 0 1000 ]; } }\n", 1, 38,
     "worker-cpus: CPU 1000 does not exist (this machine has CPUs 0.."},
    {"system { dataplane { worker-cpus [ 0 0 ]; } }\n", 1, 38, "worker-cpus: CPU 0 is named twice"},
    {"system { dataplane { worker-cpus 2000; } }\n", 1, 34,
     "worker-cpus 2000 is out of range (0..1023)"},
    {"system {\n"
     "host-name a;\n"
     "host-name b;\n"
     "}\n",
     3, 1, "\"host-name\" is given twice under system (first at 2:1)"},
    {"system { dataplane; }\n", 1, 10, "\"dataplane\" needs a { } block"},
    {"system { dataplane { threads 4; } }\n", 1, 22,
     "unknown statement \"threads\" under system dataplane (expected one of: mode, workers, "
     "worker-cpus, ring-size, frame-size)"},
    {"system { host-name; }\n", 1, 10, "\"host-name\" needs a value"},
    {"system {\n"
     "  services { prometheus { listen-address 127.0.0.300; } }\n"
     "}\n",
     2, 42, "invalid IPv4 address \"127.0.0.300\""},
    {"system { services { prometheus { port 70000; } } }\n", 1, 39,
     "port 70000 is out of range (1..65535)"},
    {"system { services { prometheus { listen-address 10.0.0.1/8; } } }\n", 1, 49,
     "listen-address takes an address without a /length"},
    {"system { services { prometheus { path /x; } } }\n", 1, 34,
     "unknown statement \"path\" under system services prometheus (expected one of: "
     "listen-address, port)"},
    {"system { services { snmp { } } }\n", 1, 21,
     "unknown statement \"snmp\" under system services"},
    {"system { services { prometheus; } }\n", 1, 21, "\"prometheus\" needs a { } block"},
    {"interfaces {\n"
     "fw0;\n"
     "fw0 { mtu 1500; }\n"
     "}\n",
     3, 1, "interface fw0 is already defined at 2:1"},
    {"interfaces { abcdefghijklmnop; }\n", 1, 14,
     "is too long (Linux allows at most 15 characters)"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1; } } } }\n", 1, 51,
     "address 10.77.1.1 needs a prefix length (e.g. 10.77.1.1/24)"},
    {"interfaces { fw0 { unit 0 { family inet { address fd00::1/64; } } } }\n", 1, 51,
     "address fd00::1/64 is IPv6 but family inet holds IPv4 addresses"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.300/24; } } } }\n", 1, 51,
     "invalid IPv4 prefix \"10.77.1.300/24\""},
    {"interfaces { fw0 { unit 0 { family inet6 { address fd00::zz/64; } } } }\n", 1, 52,
     "invalid IPv6 prefix \"fd00::zz/64\""},
    {"interfaces { fw0 { unit 0 { family inet { address 10.0.0.1/33; } } } }\n", 1, 51,
     "(the length must be 0..32)"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { redundancy-group 1; unit 0 { "
     "family inet { address 10.77.2.3/24; virtual-address 10.77.3.1; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "authentication-key k;\n"
     "redundancy-group 1 { node 0 priority 200; node 1 priority 100; }\n"
     "}\n"
     "}\n",
     1, 235, "virtual-address 10.77.3.1 is not inside any family inet address of fw1"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.3/24; virtual-address 10.77.1.1; } "
     "} } }\n",
     1, 81, "fw0 has a virtual-address but no redundancy-group"},
    {"interfaces { fw0 { unit 1 { family inet { address 10.77.1.3/24; } } } }\n", 1, 25,
     "unit 1 is not supported"},
    {"interfaces { fw0 { unit 0 { family mpls { } } } }\n", 1, 36,
     "unknown family \"mpls\" (expected inet or inet6)"},
    {"interfaces { fw0 { mtu 20; } }\n", 1, 24, "mtu 20 is out of range (68..9216)"},
    {"interfaces { fw0 { mtu 1500 1600; } }\n", 1, 29,
     "unexpected \"1600\" after \"mtu 1500\" — missing \";\"?"},
    {"interfaces {\n"
     "fw0 { unit 0 { family inet { address 10.77.1.1/24; } } }\n"
     "fw1 { unit 0 { family inet { address 10.77.1.5/16; } } }\n"
     "}\n",
     3, 38, "address 10.77.1.5/16 on fw1 overlaps 10.77.1.1/24 on fw0"},
    {"interfaces { fw0 { redundancy-group 1; } }\n", 1, 37,
     "interface fw0 is in redundancy-group 1 but there is no chassis cluster"},
    {"interfaces { fw0 { redundancy-group 0; } }\n", 1, 37,
     "redundancy-group 0 belongs to the control plane"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "routing-options {\n"
     "static {\n"
     "route 10.99.0.1/16 next-hop 10.77.2.2;\n"
     "}\n"
     "}\n",
     4, 7, "route 10.99.0.1/16 has host bits set; did you mean 10.99.0.0/16?"},
    {"routing-options { static { route fd00:99::/48 next-hop 10.77.2.2; } }\n", 1, 56,
     "next-hop 10.77.2.2 is IPv4 but route fd00:99::/48 is IPv6"},
    {"routing-options { static { route 10.99.0.0/16; } }\n", 1, 28,
     "route 10.99.0.0/16 needs \"next-hop ADDRESS\" or \"discard\""},
    {"routing-options { static {\n"
     "route 10.99.0.0/16 discard;\n"
     "route 10.99.0.0/16 next-hop 10.0.0.1;\n"
     "} }\n",
     3, 7, "route 10.99.0.0/16 is already defined on line 2"},
    {"routing-options { static { route 10.99.0.0/16 next-hop 10.0.0.1/32; } }\n", 1, 56,
     "next-hop takes an address without a /length"},
    {"routing-options { static { route 10.99.0.0/16 via 10.0.0.1; } }\n", 1, 47,
     "unexpected \"via\" in route (expected next-hop ADDRESS or discard)"},
    {"routing-options { static { route 10.99.0.0/16 next-hop; } }\n", 1, 47,
     "\"next-hop\" needs an address"},
    {"applications { application web { destination-port 80; } }\n", 1, 28,
     "application web needs a protocol"},
    {"applications { application p { protocol icmp; destination-port 80; } }\n", 1, 64,
     "ports need protocol tcp, udp or sctp"},
    {"applications { application p { protocol tcp; destination-port 90-80; } }\n", 1, 63,
     "port range 90-80 runs backwards"},
    {"applications { application junos-http { protocol tcp; } }\n", 1, 28,
     "application \"junos-http\" is predefined"},
    {"applications { application-set s { application nope; } }\n", 1, 48,
     "application \"nope\" is not defined"},
    {"applications {\n"
     "application-set a { application-set b; }\n"
     "application-set b { application-set a; }\n"
     "}\n",
     3, 37, "application-set \"a\" includes itself (a -> b -> a)"},
    {"applications { application p { protocol tcpp; } }\n", 1, 41, "unknown protocol \"tcpp\""},
    {"applications {\n"
     "application p { protocol tcp; }\n"
     "application p { protocol udp; }\n"
     "}\n",
     3, 13, "application \"p\" is already defined on line 2"},
    {"applications { application p { protocol tcp; destination-port 70000; } }\n", 1, 63,
     "destination-port 70000 is out of range (0..65535)"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security { zones {\n"
     "security-zone a { interfaces { fw0; } }\n"
     "security-zone b { interfaces { fw0; } }\n"
     "} }\n",
     4, 32, "interface fw0 is already in zone a; an interface belongs to one zone"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security { zones { security-zone a { interfaces { fw9; } } } }\n",
     2, 51, "interface \"fw9\" in zone a is not configured under interfaces"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security { zones {\n"
     "security-zone a { }\n"
     "security-zone a { }\n"
     "} }\n",
     4, 15, "zone \"a\" is already defined on line 3"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security { zones { security-zone trust { host-inbound-traffic { system-services { pingg; } } "
     "} } }\n",
     2, 83,
     "unknown statement \"pingg\" under security zones security-zone trust host-inbound-traffic "
     "system-services (expected one of: all,"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security { zones { security-zone trust { screen nope; } } }\n",
     2, 49, "screen \"nope\" is not defined"},
    {"security { address-book { global { address-set s { address nope; } } } }\n", 1, 60,
     "address \"nope\" is not defined (define it under security address-book global address nope "
     "PREFIX)"},
    {"security { address-book { global {\n"
     "address-set a { address-set b; }\n"
     "address-set b { address-set a; }\n"
     "} } }\n",
     3, 29, "address-set \"a\" includes itself (a -> b -> a)"},
    {"security { address-book { global {\n"
     "address x 10.0.0.0/8;\n"
     "address-set x { address x; }\n"
     "} } }\n",
     3, 13, "address-set name \"x\" is already used by address x on line 2"},
    {"security { address-book { global { address any 10.0.0.0/8; } } }\n", 1, 44,
     "\"any\" is predefined"},
    {"security { address-book { dmz { address x 10.0.0.0/8; } } }\n", 1, 27,
     "only the global one is supported"},
    {"security { address-book { global { address x 10.0.0.1/8; } } }\n", 1, 46,
     "address 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies { from-zone trust to-zone dmz { } }\n"
     "}\n",
     4, 36, "zone \"dmz\" is not defined (define it under security zones security-zone dmz)"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies {\n"
     "from-zone trust to-zone untrust {\n"
     "policy p { match { source-address nope; destination-address any; application any; } then { "
     "permit; } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 35, "address \"nope\" is not defined"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies {\n"
     "from-zone trust to-zone untrust {\n"
     "policy p { match { source-address any; destination-address any; application nope; } then { "
     "permit; } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 77, "application \"nope\" is not defined"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies {\n"
     "from-zone trust to-zone untrust {\n"
     "policy p { match { source-address any; destination-address any; application any; } then { "
     "permit; } }\n"
     "policy p { match { source-address any; destination-address any; application any; } then { "
     "deny; } }\n"
     "}\n"
     "}\n"
     "}\n",
     7, 8, "policy \"p\" is already defined for this zone pair on line 6"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies {\n"
     "from-zone trust to-zone untrust {\n"
     "policy p { match { source-address any; destination-address any; application any; } then { "
     "permit; deny; } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 99, "policy p has both \"permit\""},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies {\n"
     "from-zone trust to-zone untrust {\n"
     "policy p { match { source-address any; destination-address any; application any; } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 8, "policy p needs an action"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies {\n"
     "from-zone trust to-zone untrust {\n"
     "policy p { match { source-address any; destination-address any; } then { permit; } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 8, "policy p needs match application"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies {\n"
     "from-zone trust to-zone untrust {\n"
     "policy p { match { source-address 10.0.0.0/8; destination-address any; application any; } "
     "then { permit; } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 35, "\"10.0.0.0/8\" is not an address-book name"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "address-book { global { address a4 10.0.0.0/8; address a6 fd00::/8; } }\n"
     "policies { from-zone trust to-zone untrust { policy p { match { source-address a4; "
     "destination-address a6; application any; } then { permit; } } } }\n"
     "}\n",
     5, 53, "policy p can never match"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies { default-policy allow-all; }\n"
     "}\n",
     4, 27, "invalid default-policy \"allow-all\""},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies {\n"
     "from-zone trust to-zone untrust { }\n"
     "from-zone trust to-zone untrust { }\n"
     "}\n"
     "}\n",
     6, 1, "from-zone trust to-zone untrust is already given on line 5"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "policies { from-zone trust { } }\n"
     "}\n",
     4, 12, "expected \"from-zone ZONE to-zone ZONE { ... }\""},
    {"security { flow { aging { high-watermark 80; low-watermark 90; } } }\n", 1, 60,
     "low-watermark 90 is above high-watermark 80"},
    {"security { flow { udp-timeout 0; } }\n", 1, 31, "udp-timeout 0 is out of range (1..86400)"},
    {"security { screen { ids-option a { tcp { syn-flood { attack-threshold 0; } } } } }\n", 1, 71,
     "attack-threshold 0 is out of range (1..10000000)"},
    {"security { screen { ids-option a { tcp { syn-flod; } } } }\n", 1, 42,
     "unknown statement \"syn-flod\""},
    {"security { screen { ids-option a { icmp { flood { rate 5; } } } } }\n", 1, 51,
     "unknown statement \"rate\" under flood (expected one of: threshold)"},
    {"security { screen { ids-option a { limit-session { source-ip-based; } } } }\n", 1, 52,
     "\"source-ip-based\" takes one number"},
    {"security { screen { ids-option a { icmp { ping-death; } } ids-option a { } } }\n", 1, 70,
     "ids-option \"a\" is already defined on line 1"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "rule-set r { from zone trust; to zone untrust; rule x { match { source-address 10.0.0.0/8; } "
     "then { source-nat { pool nope; } } } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 119, "source pool \"nope\" is not defined (define it under security nat source pool nope)"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "destination {\n"
     "pool web { address 10.77.1.10/32 port 8080; }\n"
     "rule-set r { from zone untrust; rule x { match { destination-address fd00::1/128; } then { "
     "destination-nat { pool web; } } } }\n"
     "}\n"
     "}\n"
     "}\n",
     7, 115, "pool web is IPv4 but rule x matches destination-address fd00::1/128 (IPv6)"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat { static { rule-set r { from zone untrust; rule m { match { destination-address "
     "10.1.0.0/24; } then { static-nat { prefix 10.2.0.0/25; } } } } } }\n"
     "}\n",
     4, 127, "static-nat prefix 10.2.0.0/25 must be as long as destination-address 10.1.0.0/24"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat { static { rule-set r { from zone untrust; rule m { match { destination-address "
     "10.1.0.0/24; } then { static-nat { prefix fd00::/120; } } } } } }\n"
     "}\n",
     4, 127, "static-nat prefix fd00::/120 is IPv6 but destination-address 10.1.0.0/24 is IPv4"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "rule-set r { to zone untrust; }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 10, "rule-set r needs \"from zone NAME\""},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "rule-set r { from zone trust; }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 10, "rule-set r needs \"to zone NAME\""},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "rule-set r { from zone trust; to zone untrust;\n"
     "rule x { match { source-address 10.0.0.0/8; } then { source-nat { interface; } } }\n"
     "rule x { match { source-address 10.0.0.0/8; } then { source-nat { off; } } } }\n"
     "}\n"
     "}\n"
     "}\n",
     8, 6, "rule \"x\" is already defined in rule-set r on line 7"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "pool p { address { 1.1.1.0/24; } }\n"
     "pool p { address { 1.1.2.0/24; } }\n"
     "}\n"
     "}\n"
     "}\n",
     7, 6, "source pool \"p\" is already defined on line 6"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "destination {\n"
     "rule-set r { from zone untrust; to zone trust; }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 33,
     "unknown statement \"to\" under security nat destination rule-set r (expected one of: from, "
     "rule, description)"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "pool p { address { 1.1.1.9 to 1.1.1.1; } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 31, "range 1.1.1.9 to 1.1.1.1 runs backwards"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "pool p { address { 1.1.1.0/24; fd00::/120; } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 32, "pool p mixes IPv4 and IPv6 addresses"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "rule-set r { from zone trust; to zone untrust; rule x { then { source-nat { interface; off; "
     "} } } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 64, "source-nat needs exactly one translation"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "rule-set r { from zone dmz; to zone untrust; }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 24, "zone \"dmz\" is not defined"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "destination {\n"
     "pool web { address 10.77.1.10; }\n"
     "rule-set r { from zone untrust; rule x { match { destination-port 80; } then { "
     "destination-nat { pool web; } } } }\n"
     "}\n"
     "}\n"
     "}\n",
     7, 38, "destination NAT rule x needs match destination-address"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "rule-set r { from zone trust; to zone untrust; rule x { match { source-address 10.0.0.0/8; } "
     "} }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 53, "rule x needs a translation: then { source-nat { interface; } }"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "rule-set r { from interface fw7; to zone untrust; }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 29, "interface \"fw7\" is not configured under interfaces"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security {\n"
     "zones { security-zone trust { interfaces { fw0; } } security-zone untrust { interfaces { "
     "fw1; } } }\n"
     "nat {\n"
     "source {\n"
     "pool p { address { 1.1.1.0/24; } port { range 2000 to 1500; } }\n"
     "}\n"
     "}\n"
     "}\n",
     6, 55, "port range 2000 to 1500 runs backwards"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 2;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "authentication-key k;\n"
     "redundancy-group 1 { node 0 priority 200; node 1 priority 100; }\n"
     "}\n"
     "}\n",
     5, 9, "node-id 2 is out of range (a cluster has node 0 and node 1)"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "authentication-key k;\n"
     "redundancy-group 1 { node 0 priority 200; }\n"
     "}\n"
     "}\n",
     8, 18, "redundancy-group 1 needs a priority for node 1"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "authentication-key k;\n"
     "redundancy-group 1 { node 0 priority 200; node 1 priority 100; interface-monitor { fw9 "
     "weight 255; } }\n"
     "}\n"
     "}\n",
     8, 84, "monitored interface \"fw9\" is not configured under interfaces"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "authentication-key k;\n"
     "redundancy-group 2 { node 0 priority 200; node 1 priority 100; }\n"
     "}\n"
     "}\n",
     1, 94,
     "redundancy-group 1 of interface fw0 is not defined (define it under chassis cluster "
     "redundancy-group 1)"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "redundancy-group 1 { node 0 priority 200; node 1 priority 100; }\n"
     "}\n"
     "}\n",
     3, 1, "chassis cluster needs authentication-key \"SECRET\""},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl9 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "authentication-key k;\n"
     "redundancy-group 1 { node 0 priority 200; node 1 priority 100; }\n"
     "}\n"
     "}\n",
     6, 19, "control-interface \"ctl9\" is not configured under interfaces"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "authentication-key k;\n"
     "redundancy-group 1 { node 0 priority 0; node 1 priority 100; }\n"
     "}\n"
     "}\n",
     8, 38, "priority 0 is out of range (1..254)"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "authentication-key k;\n"
     "redundancy-group 1 { node 0 priority 200; node 1 priority 100; }\n"
     "redundancy-group 1 { node 0 priority 200; node 1 priority 100; }\n"
     "}\n"
     "}\n",
     9, 18, "redundancy-group 1 is already defined on line 8"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address fd00::2; }\n"
     "authentication-key k;\n"
     "redundancy-group 1 { node 0 priority 200; node 1 priority 100; }\n"
     "}\n"
     "}\n",
     6, 19, "local-address and peer-address of ctl0 are not the same family"},
    {"interfaces { ctl0 { unit 0 { family inet { address 10.9.0.1/24; } } } fw0 { redundancy-group "
     "1; unit 0 { family inet { address 10.77.1.1/24; } } } }\n"
     "chassis {\n"
     "cluster {\n"
     "cluster-id 1;\n"
     "node-id 0;\n"
     "control-interface ctl0 { local-address 10.9.0.1; peer-address 10.9.0.2; }\n"
     "authentication-key k;\n"
     "redundancy-group 1 { node 0 priority 200; node 0 priority 100; }\n"
     "}\n"
     "}\n",
     8, 43, "node 0 priority is given twice in redundancy-group 1"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security { zones { security-zone a { interfaces [ fw0 fw9 ]; } } }\n",
     2, 55, "interface \"fw9\" in zone a is not configured under interfaces"},
    {"security { address-book { global { address x 10.0.0.0/8; address-set s { address [ x y ]; } "
     "} } }\n",
     1, 86, "address \"y\" is not defined"},
    {"interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } fw1 { unit 0 { family "
     "inet { address 10.77.2.1/24; } } } }\n"
     "security { zones { security-zone a { host-inbound-traffic { system-services [ ping sshh ]; } "
     "} } }\n",
     2, 84,
     "unknown statement \"sshh\" under security zones security-zone a host-inbound-traffic "
     "system-services"},
    {"security { address-book { global {\n"
     "address x 10.0.0.0/8;\n"
     "address-set s0 { address-set s1; }\n"
     "address-set s1 { address-set s2; }\n"
     "address-set s2 { address-set s3; }\n"
     "address-set s3 { address-set s4; }\n"
     "address-set s4 { address-set s5; }\n"
     "address-set s5 { address-set s6; }\n"
     "address-set s6 { address-set s7; }\n"
     "address-set s7 { address-set s8; }\n"
     "address-set s8 { address-set s9; }\n"
     "address-set s9 { address x; }\n"
     "} } }\n",
     10, 30, "address-set nesting is deeper than 8 levels"},
    {"system { host-name \"a\\\x01"
     "\"; }\n",
     1, 23, "unexpected control character 0x01"},
};

/* Lines 1-3 of every NAT case: fw0 (trust, IPv4 and IPv6), fw1 and fw2 (untrust, IPv4). */
#define NAT_PRE                                                                                    \
    "interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } family inet6 { address "    \
    "fd00:77:1::1/64; } } } fw1 { unit 0 { family inet { address 10.77.2.1/24; } } } fw2 { unit "  \
    "0 { family inet { address 10.77.3.1/24; } } } }\n"                                            \
    "security { zones { security-zone trust { interfaces { fw0; } } security-zone untrust { "      \
    "interfaces { fw1; fw2; } } }\n"                                                               \
    "nat {\n"

static const struct bad_case nat_bad_cases[] = {
    {NAT_PRE
     "source { rule-set a { from zone trust; to zone untrust;\n"
     "rule all { match { source-address 10.77.0.0/16; } then { source-nat { interface; } } }\n"
     "rule lan { match { source-address 10.77.1.0/24; protocol tcp; } then { source-nat { off; } } "
     "} } }\n"
     "} }\n",
     6, 6,
     "source rule lan (rule-set a) can never match: source rule all (rule-set a, line 5) comes "
     "before it and matches all of its traffic (from zone trust to zone untrust, source-address "
     "10.77.1.0/24, protocol tcp); remove rule lan, or narrow rule all"},
    {NAT_PRE "source { rule-set a { from zone trust; to zone untrust;\n"
             "rule any { then { source-nat { interface; } } } }\n"
             "rule-set b { from interface fw0; to interface fw1; rule x { match { source-address "
             "10.77.1.0/24; destination-port 80 to 90; } then { source-nat { off; } } } } }\n"
             "} }\n",
     6, 57,
     "source rule x (rule-set b) can never match: source rule any (rule-set a, line 5) comes "
     "before it"},
    {NAT_PRE "source { rule-set a { from zone trust; to zone untrust;\n"
             "rule r1 { match { source-address 10.77.1.0/24; } then { source-nat { off; } } }\n"
             "rule r2 { match { source-address [ 10.77.9.0/24 10.77.1.128/25 ]; } then { "
             "source-nat { interface; } } } } }\n"
             "} }\n",
     6, 6,
     "source-address 10.77.1.128/25 of source rule r2 (rule-set a) can never match: source rule r1 "
     "(rule-set a, line 5) comes before it and matches all of that traffic (from zone trust to "
     "zone untrust, source-address 10.77.1.128/25); remove 10.77.1.128/25 from rule r2"},
    {NAT_PRE "destination { pool web { address 10.77.1.10/32 port 8080; } pool web2 { address "
             "10.77.1.11/32 port 8080; }\n"
             "rule-set in { from zone untrust;\n"
             "rule http { match { destination-address 10.77.2.1/32; destination-port 80; } then { "
             "destination-nat { pool web; } } }\n"
             "rule http2 { match { destination-address 10.77.2.1/32; destination-port 80; } then { "
             "destination-nat { pool web2; } } } } }\n"
             "} }\n",
     7, 6,
     "destination rule http2 (rule-set in) can never match: destination rule http (rule-set in, "
     "line 6) comes before it and matches all of its traffic (from zone untrust, "
     "destination-address 10.77.2.1/32, destination-port 80)"},
    {NAT_PRE
     "destination { pool web { address 10.77.1.10/32 port 8080; } pool web2 { address "
     "10.77.1.11/32; }\n"
     "rule-set in { from zone untrust; rule http { match { destination-address 10.77.2.1/32; "
     "destination-port 80; protocol tcp; } then { destination-nat { pool web; } } } }\n"
     "rule-set in2 { from interface fw1; rule other { match { source-address 192.0.2.0/24; "
     "destination-address [ 10.77.2.1/32 10.77.2.9/32 ]; destination-port 80; protocol tcp; } then "
     "{ destination-nat { pool web2; } } } } }\n"
     "} }\n",
     6, 41,
     "destination-address 10.77.2.1/32 of destination rule other (rule-set in2) can never match: "
     "destination rule http (rule-set in, line 5) comes before it"},
    {NAT_PRE "destination { pool web { address 10.88.0.5/32 port 8080; }\n"
             "rule-set in { from zone untrust; rule web { match { destination-address "
             "10.77.9.5/32; destination-port 80; } then { destination-nat { pool web; } } } } }\n"
             "static { rule-set s { from zone untrust; rule m { match { destination-address "
             "10.77.9.0/24; } then { static-nat { prefix 10.88.0.0/24; } } } } }\n"
             "} }\n",
     5, 39,
     "destination rule web (rule-set in) can never match: static rule m (rule-set s, line 6) is "
     "evaluated first (static rules come before destination rules)"},
    {NAT_PRE "static { rule-set s { from zone untrust;\n"
             "rule m1 { match { destination-address 10.77.9.0/24; } then { static-nat { prefix "
             "10.88.0.0/24; } } }\n"
             "rule m2 { match { destination-address 10.77.8.0/25; } then { static-nat { prefix "
             "10.88.0.128/25; } } } } }\n"
             "} }\n",
     6, 6,
     "static-nat prefix 10.88.0.128/25 of rule m2 overlaps static-nat prefix 10.88.0.0/24 of rule "
     "m1 (rule-set s, line 5)"},
    {NAT_PRE "source { pool p { address { 10.77.2.0/30; } } }\n"
             "} }\n",
     4, 29,
     "source pool p address 10.77.2.0 to 10.77.2.3 holds 10.77.2.1, an address of interface fw1: "
     "replies to translated flows would be taken for traffic to the box itself"},
    {NAT_PRE "source { pool p { address { 198.51.100.1/32; 10.77.3.0 to 10.77.3.5; } } }\n"
             "} }\n",
     4, 46,
     "source pool p address 10.77.3.0 to 10.77.3.5 holds 10.77.3.1, an address of interface fw2"},
    {NAT_PRE "source { pool p { address { 198.51.100.0/29; } }\n"
             "pool q { address { 198.51.100.9/32; 198.51.100.4 to 198.51.100.9; } } }\n"
             "} }\n",
     5, 37,
     "source pool q address 198.51.100.4 to 198.51.100.9 overlaps 198.51.100.0 to 198.51.100.7 of "
     "pool p (line 4): two pools would hand out the same addresses and ports"},
    {NAT_PRE "source { pool p { address { 198.51.100.0/29; 198.51.100.7; } } }\n"
             "} }\n",
     4, 46,
     "source pool p address 198.51.100.7 overlaps 198.51.100.0 to 198.51.100.7, given earlier in "
     "the same pool"},
    {NAT_PRE "destination { pool web { address 10.77.2.1/32 port 8080; } }\n"
             "} }\n",
     4, 34,
     "destination pool web address 10.77.2.1/32 is 10.77.2.1, an address of interface fw1: "
     "translated flows would be delivered to the box itself"},
    {NAT_PRE "destination { pool web { address 10.77.1.0/30; } }\n"
             "} }\n",
     4, 34,
     "destination pool web address 10.77.1.0/30 contains 10.77.1.1, an address of interface fw0"},
    {NAT_PRE "source { pool p { address { 198.51.100.1/32; } port { range 0 to 100; } } }\n"
             "} }\n",
     4, 61, "port range 0 is out of range (1..65535)"},
    {NAT_PRE "source { pool p { address { 198.51.100.1/32; } port range 1024 to 65536; } }\n"
             "} }\n",
     4, 67, "port range 65536 is out of range (1..65535)"},
    {NAT_PRE "source { pool p { address { 198.51.100.1/32; } port { range 40000 to 39999; } } }\n"
             "} }\n",
     4, 70, "port range 40000 to 39999 runs backwards"},
    {NAT_PRE "static { rule-set s { from zone untrust; rule m { match { destination-address "
             "10.77.9.0/24; } then { static-nat { prefix 10.88.0.0/23; } } } } }\n"
             "} }\n",
     4, 122,
     "static-nat prefix 10.88.0.0/23 must be as long as destination-address 10.77.9.0/24 (/24)"},
    {NAT_PRE "static { rule-set s { from zone untrust; rule m { match { destination-address "
             "10.77.9.0/24; } then { static-nat { prefix 10.77.1.0/24; } } } } }\n"
             "} }\n",
     4, 122, "static-nat prefix 10.77.1.0/24 holds 10.77.1.1, an address of interface fw0"},
    {NAT_PRE
     "source { rule-set a { from zone trust; to zone untrust;\n"
     "rule v6 { match { source-address fd00:77:1::/64; } then { source-nat { interface; } } } } }\n"
     "} }\n",
     5, 6,
     "rule v6 translates IPv6 traffic to the egress interface's address, but no interface of \"to "
     "zone untrust\" has an IPv6 address; add one (family inet6) or use a pool"},
    {NAT_PRE "source { pool p { address { 198.51.100.1/32; } }\n"
             "rule-set a { from zone trust; to zone untrust; rule v6 { match { source-address "
             "fd00:77:1::/64; } then { source-nat { pool p; } } } } }\n"
             "} }\n",
     5, 124,
     "pool p is IPv4 but rule v6 matches source-address fd00:77:1::/64 (IPv6); Moat does not "
     "translate between families"},
    {NAT_PRE "source { pool p { address { 198.51.100.1/32; } }\n"
             "rule-set a { from zone trust; to zone untrust; rule v6 { match { destination-address "
             "2001:db8::/32; } then { source-nat { pool p; } } } } }\n"
             "} }\n",
     5, 128, "pool p is IPv4 but rule v6 matches destination-address 2001:db8::/32 (IPv6)"},
    {NAT_PRE "source { rule-set a { from zone trust; to zone untrust;\n"
             "rule mix { match { source-address 10.77.1.0/24; destination-address 2001:db8::/32; } "
             "then { source-nat { interface; } } } } }\n"
             "} }\n",
     5, 6,
     "rule mix can never match: its source addresses are IPv4 and its destination addresses IPv6"},
    {NAT_PRE "static { rule-set s { from zone untrust; rule m { match { destination-address "
             "10.77.9.0/24; } then { static-nat { prefix fd00:88::/120; } } } } }\n"
             "} }\n",
     4, 122,
     "static-nat prefix fd00:88::/120 is IPv6 but destination-address 10.77.9.0/24 is IPv4"},
    {NAT_PRE "source { pool pub { address { 198.51.100.0/29; } } }\n"
             "static { rule-set s { from zone untrust; rule m { match { destination-address "
             "198.51.100.4/30; } then { static-nat { prefix 10.88.0.4/30; } } } } }\n"
             "} }\n",
     4, 15,
     "source pool pub address 198.51.100.0 to 198.51.100.7 overlaps 198.51.100.4/30, the public "
     "addresses of static rule m (rule-set s, line 5): the pool would hand out addresses and ports "
     "that flows of the static hosts use"},
};

static const char *const nat_good_cases[] = {
    NAT_PRE
    "source { rule-set a { from zone trust; to zone untrust;\n"
    "rule lan { match { source-address 10.77.1.0/24; protocol tcp; } then { source-nat { off; } } "
    "}\n"
    "rule all { match { source-address 10.77.0.0/16; } then { source-nat { interface; } } } } }\n"
    "} }\n",
    NAT_PRE "destination { pool web { address 10.77.1.10/32 port 8080; } pool web2 { address "
            "10.77.1.11/32 port 8080; } pool rest { address 10.77.1.12/32; }\n"
            "rule-set in { from zone untrust;\n"
            "rule a { match { source-address 192.0.2.0/24; destination-address 10.77.2.1/32; "
            "destination-port 80; } then { destination-nat { pool web; } } }\n"
            "rule b { match { source-address 198.51.100.0/24; destination-address 10.77.2.1/32; "
            "destination-port 80; } then { destination-nat { pool web2; } } }\n"
            "rule c { match { destination-address 10.77.2.1/32; } then { destination-nat { pool "
            "rest; } } } }\n"
            "rule-set in2 { from interface fw0; rule d { match { destination-address 10.77.2.1/32; "
            "destination-port 80; } then { destination-nat { pool web; } } } } }\n"
            "} }\n",
    NAT_PRE "source { pool p { address { 10.77.2.2 to 10.77.2.9; } port { range 1 to 1023; } }\n"
            "rule-set out { from zone trust; to zone untrust; rule r { match { source-address "
            "10.77.1.0/24; } then { source-nat { pool p; } } } }\n"
            "rule-set in6 { from zone untrust; to zone trust; rule v6 { match { source-address "
            "2001:db8::/32; } then { source-nat { interface; } } } } }\n"
            "} }\n",
    NAT_PRE "static { rule-set s { from zone untrust;\n"
            "rule m1 { match { destination-address 10.77.9.0/24; } then { static-nat { prefix "
            "10.88.0.0/24; } } }\n"
            "rule m2 { match { destination-address 10.77.8.0/24; } then { static-nat { prefix "
            "10.88.1.0/24; } } } } }\n"
            "destination { pool web { address 10.88.2.5/32 port 8080; } rule-set in { from zone "
            "untrust; rule web { match { destination-address 10.77.7.5/32; destination-port 80; } "
            "then { destination-nat { pool web; } } } } }\n"
            "} }\n",
};

static bool bad_case_ok(const struct bad_case *bc, size_t i)
{
    struct moat_config *cfg = NULL;
    struct config_error err;
    int rc = config_load_string(bc->text, "bad.conf", &cfg, &err);
    char msg[1024];
    config_error_format(&err, msg, sizeof(msg));
    if (rc == 0)
        config_free(cfg);
    if (rc != -EINVAL || err.line != bc->line || err.col != bc->col ||
        !strstr(err.message, bc->phrase)) {
        print_error("NAT case %zu: rc %d, got \"%s\"\n   expected %u:%u with \"%s\"\n", i, rc, msg,
                    bc->line, bc->col, bc->phrase);
        return false;
    }
    return true;
}

/*
 * NAT refused at commit: rules that can never match (whole or one address), destination
 * rules for the same address and port, pools holding the box's addresses or each other's,
 * port ranges, static prefixes, families. And configs close to those that are fine.
 */
static void test_nat_validation(void **state)
{
    unsigned failures = 0;
    size_t n = sizeof(nat_bad_cases) / sizeof(nat_bad_cases[0]);
    for (size_t i = 0; i < n; i++)
        failures += !bad_case_ok(&nat_bad_cases[i], i);
    for (size_t i = 0; i < sizeof(nat_good_cases) / sizeof(nat_good_cases[0]); i++) {
        struct moat_config *cfg = NULL;
        struct config_error err;
        if (config_load_string(nat_good_cases[i], "good.conf", &cfg, &err) != 0) {
            char msg[1024];
            config_error_format(&err, msg, sizeof(msg));
            print_error("good NAT case %zu refused: %s\n", i, msg);
            failures++;
            continue;
        }
        config_free(cfg);
    }
    assert_int_equal(failures, 0);

    /* Rule ids: static, then destination, then source; config order inside. */
    struct moat_config *cfg = load_str_ok(nat_good_cases[3]);
    assert_int_equal(config_nat_rule_count(cfg), 3);
    struct cfg_nat_rule_ref ref;
    assert_true(config_nat_rule_by_id(cfg, 1, &ref));
    assert_int_equal(ref.kind, CFG_NAT_KIND_STATIC);
    assert_string_equal(ref.rule->name, "m1");
    assert_int_equal(ref.position, 1);
    assert_true(config_nat_rule_by_id(cfg, 2, &ref));
    assert_string_equal(ref.rule->name, "m2");
    assert_int_equal(ref.position, 2);
    assert_true(config_nat_rule_by_id(cfg, 3, &ref));
    assert_int_equal(ref.kind, CFG_NAT_KIND_DESTINATION);
    assert_string_equal(ref.rs->name, "in");
    assert_string_equal(ref.rule->name, "web");
    assert_int_equal(ref.rule->line, 7);
    assert_false(config_nat_rule_by_id(cfg, 4, &ref));
    assert_false(config_nat_rule_by_id(cfg, 0, &ref));
    config_free(cfg);
    cfg = load_str_ok(nat_good_cases[2]);
    assert_int_equal(cfg->security->snat_pools[0].port_lo, 1);
    assert_int_equal(cfg->security->snat_pools[0].port_hi, 1023);
    assert_true(config_nat_rule_by_id(cfg, 2, &ref));
    assert_int_equal(ref.kind, CFG_NAT_KIND_SOURCE);
    assert_string_equal(ref.rs->name, "in6");
    assert_int_equal(ref.position, 1);
    config_free(cfg);
}

static void test_bad_configs(void **state)
{
    size_t n = sizeof(bad_cases) / sizeof(bad_cases[0]);
    unsigned failures = 0;
    assert_true(n >= 25);
    for (size_t i = 0; i < n; i++) {
        const struct bad_case *bc = &bad_cases[i];
        struct moat_config *cfg = (struct moat_config *)&failures; /* must be reset to NULL */
        struct config_error err;
        int rc = config_load_string(bc->text, "bad.conf", &cfg, &err);
        char msg[1024];
        config_error_format(&err, msg, sizeof(msg));
        if (rc != -EINVAL || cfg != NULL || err.line != bc->line || err.col != bc->col ||
            !strstr(err.message, bc->phrase) || strcmp(err.file, "bad.conf") != 0) {
            print_error("case %zu: rc %d, got \"%s\"\n   expected %u:%u with \"%s\"\n", i, rc, msg,
                        bc->line, bc->col, bc->phrase);
            failures++;
        }
        if (rc == 0)
            config_free(cfg);
    }
    assert_int_equal(failures, 0);
}

static void test_error_format(void **state)
{
    struct config_error err;
    struct moat_config *cfg;
    char buf[1024];
    int rc = config_load_string("security {\n  zones {\n    security-zone trust {\n"
                                "      interfaces { fw0; }\n    }\n  }\n}\n",
                                "moat.conf", &cfg, &err);
    assert_int_equal(rc, -EINVAL);
    config_error_format(&err, buf, sizeof(buf));
    assert_string_equal(buf, "moat.conf:4:20: interface \"fw0\" in zone trust is not configured "
                             "under interfaces (add interfaces { fw0 { ... } })");

    rc = config_load_file(FIXTURES "does-not-exist.conf", &cfg, &err);
    assert_int_equal(rc, -ENOENT);
    assert_null(cfg);
    assert_int_equal(err.line, 0);
    config_error_format(&err, buf, sizeof(buf));
    assert_string_equal(buf, FIXTURES "does-not-exist.conf: cannot open the config: No such file "
                                      "or directory");
    /* a short buffer is cut, not overrun */
    char tiny[8];
    config_error_format(&err, tiny, sizeof(tiny));
    assert_int_equal(strlen(tiny), 7);

    rc = config_load_file(FIXTURES, &cfg, &err); /* a directory */
    assert_int_equal(rc, -EISDIR);
    assert_null(cfg);
}

/* A file with a NUL byte and an empty file. */
static void test_load_file_edge(void **state)
{
    char path[] = "/tmp/moat-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct moat_config *cfg;
    struct config_error err;
    assert_int_equal(config_load_file(path, &cfg, &err), 0); /* empty file: valid, nothing */
    assert_int_equal(cfg->n_ifaces, 0);
    config_free(cfg);
    static const char text[] = "system {\n  host-name a\0b;\n}\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    assert_int_equal(config_load_file(path, &cfg, &err), -EINVAL);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 14);
    assert_non_null(strstr(err.message, "control character 0x00"));
    unlink(path);
}

/* ---- printing and the round trip ---- */

static void assert_models_equal(const struct moat_config *a, const struct moat_config *b)
{
    assert_memory_equal(&a->system, &b->system, sizeof(a->system));
    assert_int_equal(a->n_ifaces, b->n_ifaces);
    for (unsigned i = 0; i < a->n_ifaces; i++) {
        const struct cfg_interface *x = &a->ifaces[i], *y = &b->ifaces[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->mtu, y->mtu);
        assert_int_equal(x->redundancy_group, y->redundancy_group);
        assert_int_equal(x->zone_id, y->zone_id);
        assert_int_equal(x->n_addrs, y->n_addrs);
        assert_int_equal(x->n_vips, y->n_vips);
        if (x->n_addrs)
            assert_memory_equal(x->addrs, y->addrs, x->n_addrs * sizeof(*x->addrs));
        if (x->n_vips)
            assert_memory_equal(x->vips, y->vips, x->n_vips * sizeof(*x->vips));
    }
    assert_int_equal(a->n_routes, b->n_routes);
    for (unsigned i = 0; i < a->n_routes; i++) {
        assert_memory_equal(&a->routes[i].dst, &b->routes[i].dst, sizeof(a->routes[i].dst));
        assert_memory_equal(a->routes[i].nexthop, b->routes[i].nexthop, 16);
        assert_int_equal(a->routes[i].discard, b->routes[i].discard);
    }
    const struct cfg_security *s = a->security, *t = b->security;
    assert_int_equal(s->n_apps, t->n_apps);
    for (unsigned i = 0; i < s->n_apps; i++) {
        struct cfg_application x = s->apps[i], y = t->apps[i];
        x.line = y.line = 0;
        assert_memory_equal(&x, &y, sizeof(x));
    }
    assert_int_equal(s->n_zones, t->n_zones);
    for (unsigned i = 0; i < s->n_zones; i++) {
        assert_string_equal(s->zones[i].name, t->zones[i].name);
        assert_int_equal(s->zones[i].host_services, t->zones[i].host_services);
        assert_int_equal(s->zones[i].host_protocols, t->zones[i].host_protocols);
        assert_int_equal(s->zones[i].n_ifaces, t->zones[i].n_ifaces);
        assert_int_equal(s->zones[i].screen, t->zones[i].screen);
    }
    assert_int_equal(s->n_policies, t->n_policies);
    for (unsigned i = 0; i < s->n_policies; i++) {
        const struct cfg_policy *x = &s->policies[i], *y = &t->policies[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->from_zone, y->from_zone);
        assert_int_equal(x->to_zone, y->to_zone);
        assert_int_equal(x->action, y->action);
        assert_int_equal(x->app_any, y->app_any);
        assert_int_equal(x->n_apps, y->n_apps);
        assert_int_equal(x->src.any, y->src.any);
        assert_int_equal(x->src.n_prefixes, y->src.n_prefixes);
        assert_int_equal(x->dst.n_prefixes, y->dst.n_prefixes);
        if (x->src.n_prefixes)
            assert_memory_equal(x->src.prefixes, y->src.prefixes,
                                x->src.n_prefixes * sizeof(struct cfg_prefix));
    }
    assert_int_equal(s->default_policy, t->default_policy);
    assert_int_equal(s->n_snat_rule_sets, t->n_snat_rule_sets);
    assert_int_equal(s->n_dnat_rule_sets, t->n_dnat_rule_sets);
    assert_int_equal(s->n_static_rule_sets, t->n_static_rule_sets);
    assert_int_equal(s->n_snat_pools, t->n_snat_pools);
    assert_int_equal(s->n_dnat_pools, t->n_dnat_pools);
    for (unsigned i = 0; i < s->n_dnat_pools; i++) {
        assert_memory_equal(&s->dnat_pools[i].addr, &t->dnat_pools[i].addr,
                            sizeof(s->dnat_pools[i].addr));
        assert_int_equal(s->dnat_pools[i].port, t->dnat_pools[i].port);
    }
    assert_memory_equal(&s->flow, &t->flow, sizeof(s->flow));
    assert_int_equal(a->cluster == NULL, b->cluster == NULL);
    if (a->cluster) {
        assert_int_equal(a->cluster->node_id, b->cluster->node_id);
        assert_string_equal(a->cluster->authentication_key, b->cluster->authentication_key);
        assert_int_equal(a->cluster->n_rgs, b->cluster->n_rgs);
        for (unsigned i = 0; i < a->cluster->n_rgs; i++) {
            assert_memory_equal(a->cluster->rgs[i].priority, b->cluster->rgs[i].priority,
                                sizeof(a->cluster->rgs[i].priority));
            assert_int_equal(a->cluster->rgs[i].n_monitors, b->cluster->rgs[i].n_monitors);
        }
    }
}

static void test_round_trip(void **state)
{
    static const char *const files[] = {"standalone.conf", "ha-node0.conf", "full.conf"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s%s", FIXTURES, files[i]);
        struct moat_config *a = load_ok(path);
        char *tree1 = print_to_string(a, false);
        struct moat_config *b = load_str_ok(tree1);
        assert_true(config_tree_equal(a->tree, b->tree));
        assert_models_equal(a, b);
        char *tree2 = print_to_string(b, false);
        assert_string_equal(tree1, tree2);
        char *set1 = print_to_string(a, true), *set2 = print_to_string(b, true);
        assert_string_equal(set1, set2);
        /* every set line starts with "set " and there is one per leaf */
        unsigned lines = 0;
        for (char *p = set1; *p; p++) {
            if (p == set1 || p[-1] == '\n') {
                assert_memory_equal(p, "set ", 4);
                lines++;
            }
        }
        assert_true(lines > 10);
        free(tree1);
        free(tree2);
        free(set1);
        free(set2);
        config_free(a);
        config_free(b);
    }
}

static void test_print_set(void **state)
{
    struct moat_config *cfg = load_ok(FIXTURES "standalone.conf");
    char *set = print_to_string(cfg, true);
    static const char *const want[] = {
        "set system host-name moat-lab\n",
        "set system dataplane mode auto\n",
        "set interfaces fw0 unit 0 family inet address 10.77.1.1/24\n",
        "set interfaces fw0 unit 0 family inet6 address fd00:77:1::1/64\n",
        "set routing-options static route 10.99.0.0/16 next-hop 10.77.2.2\n",
        "set applications application web-alt destination-port 8080\n",
        "set security address-book global address-set lan address lan-net6\n",
        "set security zones security-zone trust interfaces fw0\n",
        "set security zones security-zone trust host-inbound-traffic system-services ping\n",
        "set security policies from-zone untrust to-zone trust policy allow-web then log "
        "session-close\n",
        "set security policies default-policy deny-all\n",
        "set security nat source rule-set lan-out rule masquerade then source-nat interface\n",
        "set security nat destination pool web address 10.77.1.10/32 port 8080\n",
        "set security flow tcp-session established-timeout 1800\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(set, want[i]))
            fail_msg("missing set line: %s", want[i]);
    }
    /* set lines come in the order of the file */
    assert_true(strstr(set, "set system host-name") < strstr(set, "set interfaces fw1"));
    assert_true(strstr(set, "set interfaces fw1") < strstr(set, "set security flow"));
    free(set);

    char *tree = print_to_string(cfg, false);
    assert_non_null(strstr(tree, "interfaces {\n    fw0 {\n        unit 0 {\n            family "
                                 "inet {\n                address 10.77.1.1/24;\n"));
    assert_null(strstr(tree, "#")); /* comments are not kept */
    free(tree);
    config_free(cfg);

    /* [ ] lists expand to one set line per element; quoted words stay quoted */
    cfg = load_str_ok(
        "interfaces { a0; b0; c0; }\n"
        "security { zones { security-zone z { interfaces { a0; b0; } } security-zone y { } }\n"
        "policies { from-zone z to-zone y { policy p { match { source-address [ any any-ipv6 ]; "
        "destination-address any; application [ junos-http junos-https ]; } then { deny; } } } } "
        "}\n"
        "system { host-name \"a \\\"b\\\"\"; }\n");
    set = print_to_string(cfg, true);
    assert_non_null(strstr(set, "policy p match source-address any\n"));
    assert_non_null(strstr(set, "policy p match source-address any-ipv6\n"));
    assert_non_null(strstr(set, "policy p match application junos-https\n"));
    assert_non_null(strstr(set, "set system host-name \"a \\\"b\\\"\"\n"));
    assert_non_null(strstr(set, "set security zones security-zone y\n")); /* empty block */
    assert_non_null(strstr(set, "set interfaces c0\n"));
    free(set);
    tree = print_to_string(cfg, false);
    assert_non_null(strstr(tree, "application [ junos-http junos-https ];"));
    free(tree);
    assert_string_equal(cfg->system.host_name, "a \"b\"");
    config_free(cfg);
}

/* ---- limits and robustness ---- */

static void test_nesting_and_long_input(void **state)
{
    /* 64 nested blocks parse; 65 are refused at the 65th "{" */
    for (unsigned depth = 64; depth <= 65; depth++) {
        size_t len = depth * 6 + 1;
        char *text = malloc(len);
        char *p = text;
        for (unsigned i = 0; i < depth; i++)
            p += sprintf(p, "a { ");
        for (unsigned i = 0; i < depth; i++)
            p += sprintf(p, "}");
        struct config_tree *t = NULL;
        struct config_error err;
        int rc = config_tree_parse(text, strlen(text), "deep.conf", &t, &err);
        if (depth == 64) {
            assert_int_equal(rc, 0);
            config_tree_free(t);
            /* the tree parses, but "a" is no statement of Moat's */
            struct moat_config *cfg;
            assert_int_equal(config_load_string(text, "deep.conf", &cfg, &err), -EINVAL);
            assert_int_equal(err.col, 1);
        } else {
            assert_int_equal(rc, -EINVAL);
            assert_int_equal(err.line, 1);
            assert_int_equal(err.col, 64 * 4 + 3);
            assert_non_null(strstr(err.message, "nested too deeply"));
        }
        free(text);
    }

    /* very long words and statements: refused with a message, nothing overflows */
    size_t big = 200000;
    char *text = malloc(big + 64);
    strcpy(text, "system { host-name ");
    memset(text + strlen(text), 'x', big);
    strcpy(text + 19 + big, "; }");
    struct moat_config *cfg;
    struct config_error err;
    assert_int_equal(config_load_string(text, "long.conf", &cfg, &err), -EINVAL);
    assert_int_equal(err.col, 20);
    assert_non_null(strstr(err.message, "too long (at most 63 characters)"));
    strcpy(text + 19 + big, " }"); /* missing ";" after a huge statement */
    assert_int_equal(config_load_string(text, "long.conf", &cfg, &err), -EINVAL);
    assert_non_null(strstr(err.message, "missing \";\""));
    assert_true(strlen(err.message) < CONFIG_ERR_MAX);
    memset(text, 'a', big);
    strcpy(text + big, " {");
    assert_int_equal(config_load_string(text, "long.conf", &cfg, &err), -EINVAL);
    assert_non_null(strstr(err.message, "is not closed"));
    free(text);

    /* many interfaces */
    char *many = NULL;
    size_t mlen = 0;
    FILE *mem = open_memstream(&many, &mlen);
    fprintf(mem, "interfaces {\n");
    for (unsigned i = 0; i < 500; i++)
        fprintf(mem, "  if%u { unit 0 { family inet { address 10.%u.%u.1/24; } } }\n", i, i / 256,
                i % 256);
    fprintf(mem, "}\n");
    fclose(mem);
    cfg = load_str_ok(many);
    assert_int_equal(cfg->n_ifaces, 500);
    assert_prefix(&config_find_interface(cfg, "if499")->addrs[0], "10.1.243.1/24");
    config_free(cfg);
    free(many);
}

static void check_robust(const char *text, size_t len)
{
    char *copy = malloc(len + 1); /* exact size: ASan sees any read past the end */
    memcpy(copy, text, len);
    copy[len] = '\0';
    struct moat_config *cfg = NULL;
    struct config_error err;
    int rc = config_load_string(copy, "fuzz.conf", &cfg, &err);
    if (rc == 0) {
        assert_non_null(cfg);
        /* whatever loads prints back to text that loads to the same tree */
        char *tree = print_to_string(cfg, false);
        struct moat_config *again = load_str_ok(tree);
        assert_true(config_tree_equal(cfg->tree, again->tree));
        FILE *null = fopen("/dev/null", "w");
        assert_int_equal(config_print_set(cfg, null), 0);
        fclose(null);
        free(tree);
        config_free(again);
        config_free(cfg);
    } else {
        assert_int_equal(rc, -EINVAL);
        assert_null(cfg);
        assert_true(err.line >= 1);
        assert_true(err.col >= 1);
        assert_true(strlen(err.message) > 0);
    }
    free(copy);
}

static void test_truncated(void **state)
{
    static const char *const files[] = {"standalone.conf", "ha-node0.conf", "full.conf"};
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char path[512];
        snprintf(path, sizeof(path), "%s%s", FIXTURES, files[f]);
        char *text = read_all(path);
        size_t len = strlen(text);
        for (size_t off = 0; off <= len; off++)
            check_robust(text, off);
        free(text);
    }
}

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void test_mutated(void **state)
{
    static const char interesting[] = "{};[]\"# \n\t/:.-0123456789az\\";
    char *text = read_all(FIXTURES "full.conf");
    size_t len = strlen(text);
    char *buf = malloc(len * 2 + 16);
    uint32_t seed = 0x6d6f6174;
    for (unsigned iter = 0; iter < 3000; iter++) {
        memcpy(buf, text, len + 1);
        size_t blen = len;
        unsigned edits = 1 + xorshift(&seed) % 4;
        for (unsigned e = 0; e < edits && blen > 0; e++) {
            size_t at = xorshift(&seed) % blen;
            switch (xorshift(&seed) % 3) {
            case 0: /* replace a byte */
                buf[at] = interesting[xorshift(&seed) % (sizeof(interesting) - 1)];
                break;
            case 1: /* delete a run */
            {
                size_t n = 1 + xorshift(&seed) % 8;
                if (n > blen - at)
                    n = blen - at;
                memmove(buf + at, buf + at + n, blen - at - n + 1);
                blen -= n;
                break;
            }
            default: /* duplicate a run */
            {
                size_t n = 1 + xorshift(&seed) % 16;
                if (n > blen - at)
                    n = blen - at;
                if (blen + n > len * 2)
                    break;
                memmove(buf + at + n, buf + at, blen - at + 1);
                blen += n;
                break;
            }
            }
        }
        check_robust(buf, blen);
    }
    free(buf);
    free(text);
}

/* [ ] lists and one-line forms wherever names are listed. */
static void test_list_forms(void **state)
{
    struct moat_config *cfg = load_str_ok(
        "interfaces { a0; b0; c0; }\n"
        "applications { application-set s { application [ junos-http junos-ssh ]; } }\n"
        "security {\n"
        "  address-book { global { address x 10.0.0.0/8; address y fd00::/8;\n"
        "                          address-set s { address [ x y ]; } } }\n"
        "  zones {\n"
        "    security-zone z { interfaces [ a0 b0 ]; host-inbound-traffic { system-services [ "
        "ping ssh ]; protocols bgp; } }\n"
        "    security-zone w { interfaces c0; }\n"
        "  }\n"
        "  policies { default-policy { permit-all; } }\n"
        "}\n");
    const struct cfg_security *sec = cfg->security;
    const struct cfg_zone *z = config_find_zone(cfg, "z");
    assert_int_equal(z->n_ifaces, 2);
    assert_int_equal(config_find_interface(cfg, "b0")->zone_id, z->zone_id);
    assert_int_equal(config_find_interface(cfg, "c0")->zone_id, 2);
    assert_int_equal(z->host_services, CFG_SVC_PING | CFG_SVC_SSH);
    assert_int_equal(z->host_protocols, CFG_HPROTO_BGP);
    assert_int_equal(sec->app_sets[0].n_apps, 2);
    assert_int_equal(sec->addr_sets[0].n_prefixes, 2);
    assert_int_equal(sec->default_policy, CFG_DEFAULT_PERMIT_ALL);
    char *set = print_to_string(cfg, true);
    assert_non_null(strstr(set, "set security zones security-zone z interfaces a0\n"
                                "set security zones security-zone z interfaces b0\n"));
    assert_non_null(strstr(set, "set security policies default-policy permit-all\n"));
    free(set);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standalone),
        cmocka_unit_test(test_ha_node0),
        cmocka_unit_test(test_shared_examples),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults_and_empty),
        cmocka_unit_test(test_cluster_heartbeat_defaults),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_nat_validation),
        cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_load_file_edge),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_print_set),
        cmocka_unit_test(test_list_forms),
        cmocka_unit_test(test_nesting_and_long_input),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_mutated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
