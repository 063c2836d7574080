/* SPDX-License-Identifier: MIT */
/*
 * test_controld_nat_local.c — the moat_nat_local entries controld derives from the config:
 * destination NAT services on the box's own addresses (exact port entries, or every port),
 * interface source NAT (a port range per protocol on the egress interface's first address of
 * each family the rule translates), merging, what is left out, and the size limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "controld.h"
#include "nat_local.h"

/* fw0 trust (IPv4, IPv6), fw1 untrust (two IPv4 addresses, one IPv6). */
#define PRE                                                                                        \
    "interfaces {\n"                                                                               \
    "  fw0 { unit 0 { family inet { address 10.77.1.1/24; } family inet6 { address "               \
    "fd00:77:1::1/64; } } }\n"                                                                     \
    "  fw1 { unit 0 { family inet { address 10.77.2.1/24; address 10.77.5.1/24; } family inet6 "   \
    "{ address fd00:77:2::1/64; } } }\n"                                                           \
    "}\n"                                                                                          \
    "security { zones { security-zone trust { interfaces { fw0; } } security-zone untrust { "      \
    "interfaces { fw1; } } }\n"

static struct moat_config *load(const char *text)
{
    struct moat_config *cfg = NULL;
    struct config_error err;
    if (config_load_string(text, "nl.conf", &cfg, &err)) {
        char msg[700];
        config_error_format(&err, msg, sizeof(msg));
        fail_msg("%s", msg);
    }
    return cfg;
}

/* The entry for (address, protocol, port) or NULL. */
static const struct moat_nat_local_val *entry(const struct nat_local_set *s, const char *addr,
                                              uint8_t proto, uint16_t port)
{
    struct moat_nat_key k;
    memset(&k, 0, sizeof(k));
    k.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton((int)k.family, addr, k.addr), 1);
    k.proto = proto;
    k.port = htons(port);
    for (unsigned i = 0; i < s->n; i++) {
        if (memcmp(&s->keys[i], &k, sizeof(k)) == 0)
            return &s->vals[i];
    }
    return NULL;
}

static void assert_range(const struct nat_local_set *s, const char *addr, uint8_t proto,
                         uint16_t lo, uint16_t hi, uint32_t flags)
{
    const struct moat_nat_local_val *v = entry(s, addr, proto, 0);
    if (!v)
        fail_msg("no range entry for %s proto %u", addr, proto);
    assert_int_equal(v->port_lo, lo);
    assert_int_equal(v->port_hi, hi);
    assert_int_equal(v->flags, flags);
}

static void test_standalone(void **state)
{
    (void)state;
    struct moat_config *cfg = NULL;
    struct config_error err;
    assert_int_equal(
        config_load_file(MOAT_SOURCE_DIR "/tests/unit/config/standalone.conf", &cfg, &err), 0);
    struct nat_local_set s;
    char why[256];
    assert_int_equal(nat_local_build(cfg, &s, why, sizeof(why)), 0);
    /* DNAT 10.77.2.1:80 (TCP and UDP: the rule names no protocol). */
    assert_int_equal(s.n, 5);
    const struct moat_nat_local_val *v = entry(&s, "10.77.2.1", IPPROTO_TCP, 80);
    assert_non_null(v);
    assert_int_equal(v->port_lo, 80);
    assert_int_equal(v->port_hi, 80);
    assert_int_equal(v->flags, MOAT_NAT_LOCAL_F_DNAT);
    assert_non_null(entry(&s, "10.77.2.1", IPPROTO_UDP, 80));
    /* Interface SNAT on fw1, IPv4 only (the rule matches 10.77.1.0/24). */
    assert_range(&s, "10.77.2.1", IPPROTO_TCP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_range(&s, "10.77.2.1", IPPROTO_UDP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_range(&s, "10.77.2.1", IPPROTO_ICMP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_null(entry(&s, "fd00:77:2::1", IPPROTO_TCP, 0));
    /* Keys as the shim reads them: pad 0, IPv4 in the first 4 bytes. */
    for (unsigned i = 0; i < s.n; i++) {
        assert_int_equal(s.keys[i].family, AF_INET);
        assert_int_equal(s.keys[i].pad, 0);
        static const uint8_t zero[12];
        assert_memory_equal(s.keys[i].addr + 4, zero, 12);
    }
    nat_local_free(&s);
    char ewhy[256];
    assert_int_equal(lifecycle_check_enforceable(cfg, ewhy, sizeof(ewhy)), 0);
    config_free(cfg);
}

static void test_kinds(void **state)
{
    (void)state;
    struct moat_config *cfg = load(
        PRE "nat {\n"
            "source { rule-set out { from zone trust; to zone untrust;\n"
            "  rule all { then { source-nat { interface; } } } } }\n"
            "destination {\n"
            "  pool a { address 10.77.1.10/32 port 8080; } pool b { address 10.77.1.11/32; }\n"
            "  rule-set in { from zone untrust;\n"
            "    rule range { match { destination-address 10.77.5.1/32; destination-port 8000 to "
            "8002; protocol tcp; } then { destination-nat { pool a; } } }\n"
            "    rule every { match { destination-address 10.77.2.0/24; protocol udp; } then { "
            "destination-nat { pool b; } } }\n"
            "    rule not-box { match { destination-address 192.0.2.1/32; destination-port 80; } "
            "then { destination-nat { pool a; } } }\n"
            "    rule keep { match { destination-address 10.77.5.1/32; destination-port 22; } then "
            "{ destination-nat { off; } } } } } }\n"
            "}\n");
    struct nat_local_set s;
    char why[256];
    assert_int_equal(nat_local_build(cfg, &s, why, sizeof(why)), 0);
    /* range: three exact TCP entries on 10.77.5.1, nothing for UDP. */
    for (uint16_t p = 8000; p <= 8002; p++)
        assert_non_null(entry(&s, "10.77.5.1", IPPROTO_TCP, p));
    assert_null(entry(&s, "10.77.5.1", IPPROTO_TCP, 8003));
    assert_null(entry(&s, "10.77.5.1", IPPROTO_UDP, 8000));
    /* every: all UDP ports of 10.77.2.1 (the box address inside 10.77.2.0/24), merged with the
     * interface NAT range of that address and protocol. */
    assert_range(&s, "10.77.2.1", IPPROTO_UDP, 1, 65535,
                 MOAT_NAT_LOCAL_F_DNAT | MOAT_NAT_LOCAL_F_SNAT);
    assert_range(&s, "10.77.2.1", IPPROTO_TCP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    /* The interface rule matches any source: both families, on fw1's first address of each. */
    assert_range(&s, "fd00:77:2::1", IPPROTO_TCP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_range(&s, "fd00:77:2::1", IPPROTO_ICMPV6, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_null(entry(&s, "fd00:77:2::1", IPPROTO_ICMP, 0));
    assert_null(entry(&s, "10.77.5.1", IPPROTO_TCP, 0)); /* not fw1's first IPv4 address */
    /* Not the box's address; and `off` keeps the box's own service. */
    assert_null(entry(&s, "192.0.2.1", IPPROTO_TCP, 80));
    assert_null(entry(&s, "10.77.5.1", IPPROTO_TCP, 22));
    /* Nothing towards fw0: no rule leaves through it. */
    assert_null(entry(&s, "10.77.1.1", IPPROTO_TCP, 0));
    /* 3 exact + 10.77.2.1 (tcp, udp, icmp) + fd00:77:2::1 (tcp, udp, icmp6). */
    assert_int_equal(s.n, 9);
    nat_local_free(&s);
    config_free(cfg);
}

/* Hairpinning: a destination (or static) rule-set matching traffic from the zone its
 * translated address is routed into puts that interface's first IPv4 address in. */
static void test_hairpin(void **state)
{
    (void)state;
    struct moat_config *cfg = load(
        PRE "nat {\n"
            "destination {\n"
            "  pool web { address 10.77.1.10/32 port 8080; }\n"
            "  pool far { address 10.99.0.5/32 port 8080; }\n"
            "  rule-set in { from zone [ untrust trust ];\n"
            "    rule http { match { destination-address 10.77.2.1/32; destination-port 80; } "
            "then { destination-nat { pool web; } } } }\n"
            "  rule-set far { from interface fw1;\n"
            "    rule ssh { match { destination-address 10.77.2.1/32; destination-port 2222; } "
            "then { destination-nat { pool far; } } } } }\n"
            "static { rule-set st { from zone untrust;\n"
            "  rule one { match { destination-address 192.0.2.10/32; } then { static-nat { "
            "prefix 10.77.1.20/32; } } } } }\n"
            "}\n"
            "}\n"
            "routing-options { static { route 10.99.0.0/16 next-hop 10.77.2.2; } }\n");
    struct nat_local_set s;
    char why[256];
    assert_int_equal(nat_local_build(cfg, &s, why, sizeof(why)), 0);
    /* web (10.77.1.10) is routed out of fw0, in trust, a zone of rule-set in: fw0's address. */
    assert_range(&s, "10.77.1.1", IPPROTO_TCP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_range(&s, "10.77.1.1", IPPROTO_UDP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_range(&s, "10.77.1.1", IPPROTO_ICMP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_null(entry(&s, "fd00:77:1::1", IPPROTO_TCP, 0)); /* IPv4 only */
    /* far (10.99.0.5) by the static route through fw1, the rule-set's from interface: fw1's
     * first address. */
    assert_range(&s, "10.77.2.1", IPPROTO_TCP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_null(entry(&s, "10.77.5.1", IPPROTO_TCP, 0));
    assert_non_null(entry(&s, "10.77.2.1", IPPROTO_TCP, 80));
    assert_non_null(entry(&s, "10.77.2.1", IPPROTO_TCP, 2222));
    /* 2 x (tcp, udp) exact + (tcp, udp, icmp) on 10.77.1.1 and on 10.77.2.1; the static rule
     * maps into trust from untrust: no hairpin, nothing more. */
    assert_int_equal(s.n, 10);
    nat_local_free(&s);
    config_free(cfg);
}

static void test_too_many(void **state)
{
    (void)state;
    struct moat_config *cfg = load(
        PRE "nat { destination { pool a { address 10.77.1.10/32; }\n"
            "  rule-set in { from zone untrust; rule wide { match { destination-address "
            "10.77.2.1/32; destination-port 1000 to 60000; } then { destination-nat { pool a; } } "
            "} } } }\n"
            "}\n");
    struct nat_local_set s;
    char why[256] = "";
    assert_int_equal(nat_local_build(cfg, &s, why, sizeof(why)), -E2BIG);
    assert_non_null(strstr(why, "narrow the destination-port ranges"));
    assert_int_equal(s.n, 0);
    /* Refused before it runs, like what the build cannot enforce. */
    assert_int_equal(lifecycle_check_enforceable(cfg, why, sizeof(why)), -E2BIG);
    config_free(cfg);
}

/* In a cluster, interface SNAT translates to the egress interface's virtual address (the
 * shared example): replies to it must reach the helper, not the node's own address. */
static void test_cluster_vip(void **state)
{
    (void)state;
    struct moat_config *cfg = NULL;
    struct config_error err;
    assert_int_equal(
        config_load_file(MOAT_SOURCE_DIR "/tests/unit/config/ha-node0.conf", &cfg, &err), 0);
    struct nat_local_set s;
    char why[256];
    assert_int_equal(nat_local_build(cfg, &s, why, sizeof(why)), 0);
    assert_int_equal(s.n, 3);
    assert_range(&s, "10.77.2.1", IPPROTO_TCP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_range(&s, "10.77.2.1", IPPROTO_UDP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_range(&s, "10.77.2.1", IPPROTO_ICMP, 1024, 32767, MOAT_NAT_LOCAL_F_SNAT);
    assert_null(entry(&s, "10.77.2.3", IPPROTO_TCP, 0));
    nat_local_free(&s);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standalone),  cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_hairpin),     cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_cluster_vip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
