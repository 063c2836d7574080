/* SPDX-License-Identifier: MIT */
/*
 * test_controld_show_nat.c — `show security nat ...` on the standalone example and on a config
 * with every kind of pool and rule: the text and JSON with the helper's counters (rule and
 * pool counters matched by id, interface NAT by ifindex), without them (helper down: "-" and
 * null, and a note), the words refused, and translated sessions in `show security flow
 * session nat` named by their rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controld.h"
#include "show.h"

#define CONFIGS MOAT_SOURCE_DIR "/tests/unit/config/"

static struct controld ctl;

static void setup(const char *path)
{
    memset(&ctl, 0, sizeof(ctl));
    struct config_error err;
    if (config_load_file(path, &ctl.cfg, &err)) {
        char msg[700];
        config_error_format(&err, msg, sizeof(msg));
        fail_msg("%s", msg);
    }
    static const char *const names[] = {"fw0", "fw1", "lan0", "wan0", "dmz0"};
    for (unsigned i = 0; i < 5; i++) {
        struct ctl_iface *f = &ctl.ifaces[ctl.n_ifaces++];
        snprintf(f->name, sizeof(f->name), "%s", names[i]);
        f->ifindex = 21 + i;
    }
    ctl.generation = 4;
    ctl.config_generation = 4;
    assert_int_equal(mirror_init(&ctl.mirror, 0), 0);
}

static void teardown(void)
{
    mirror_free(&ctl.mirror);
    config_free(ctl.cfg);
}

/* Counters as the helper reports them for the standalone example. */
struct counters {
    Moat__PolicyCountersReply r;
    Moat__NatRuleCounter rules[2];
    Moat__NatRuleCounter *rule_ptrs[2];
    Moat__NatPoolCounter pools[2];
    Moat__NatPoolCounter *pool_ptrs[2];
};

static void counters_init(struct counters *k)
{
    moat__policy_counters_reply__init(&k->r);
    for (int i = 0; i < 2; i++) {
        moat__nat_rule_counter__init(&k->rules[i]);
        moat__nat_pool_counter__init(&k->pools[i]);
        k->rule_ptrs[i] = &k->rules[i];
        k->pool_ptrs[i] = &k->pools[i];
    }
    k->rules[0].rule_id = 1; /* web-in/http */
    k->rules[0].hits = 3;
    k->rules[1].rule_id = 2; /* lan-out/masquerade */
    k->rules[1].hits = 12;
    k->rules[1].failures = 1;
    k->pools[0].pool_id = 0; /* interface NAT on fw1 (ifindex 22) */
    k->pools[0].ifindex = 22;
    k->pools[0].ports_in_use = 5;
    k->pools[0].ports_total = 64512;
    k->pools[0].allocations = 12;
    k->pools[1].pool_id = 0; /* another interface: not shown for fw1 */
    k->pools[1].ifindex = 99;
    k->pools[1].ports_in_use = 77;
    k->r.generation = 4;
    k->r.nat_rules = k->rule_ptrs;
    k->r.n_nat_rules = 2;
    k->r.nat_pools = k->pool_ptrs;
    k->r.n_nat_pools = 2;
}

/* Runs `moatctl [--json] WORDS` through show_dispatch (no client: nothing is deferred). */
static int run(const char *words, bool json, struct strbuf *out, struct strbuf *err)
{
    char buf[256];
    const char *args[16];
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", words);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 16;
         t = strtok_r(NULL, " ", &save))
        args[n++] = t;
    struct op_ctx ctx = {.json = json};
    strbuf_init(out);
    strbuf_init(err);
    return show_dispatch(&ctl, &ctx, args, n, out, err);
}

static char *render(const char *words, const struct counters *k, const char *note, bool json)
{
    char buf[256];
    const char *args[16];
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", words);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 16;
         t = strtok_r(NULL, " ", &save))
        args[n++] = t;
    struct nat_query q;
    struct strbuf o, e;
    strbuf_init(&o);
    strbuf_init(&e);
    if (show_nat_parse(ctl.cfg, args, n, &q, &e) != 0)
        fail_msg("\"%s\" refused: %s", words, strbuf_str(&e));
    strbuf_free(&e);
    show_nat_render(&ctl, &q, k ? &k->r : NULL, note, json, &o);
    char *s = strdup(strbuf_str(&o));
    strbuf_free(&o);
    return s;
}

static void test_standalone_counters(void **state)
{
    (void)state;
    setup(CONFIGS "standalone.conf");
    struct counters k;
    counters_init(&k);
    char *t = render("source summary", &k, NULL, false);
    assert_string_equal(t, "Source NAT pools: 0, interfaces translating to their own address: 1\n"
                           "  Interface fw1: 10.77.2.1, fd00:77:2::1\n"
                           "    Ports in use: 5 of 64512, allocations: 12, exhausted: 0\n"
                           "Source NAT rule-sets: 1, rules: 1\n"
                           "  Rule-set lan-out: from zone trust to zone untrust\n"
                           "    Rule masquerade (id 2): match source-address 10.77.1.0/24; then "
                           "interface\n"
                           "      Translation hits: 12, failures: 1\n");
    free(t);
    /* `source` alone is the summary. */
    t = render("source", &k, NULL, false);
    assert_non_null(strstr(t, "Rule masquerade (id 2)"));
    free(t);
    t = render("destination summary", &k, NULL, false);
    assert_string_equal(t, "Destination NAT pools: 1\n"
                           "  Pool web (id 1): 10.77.1.10/32 port 8080\n"
                           "    Translation hits: 3\n"
                           "Destination NAT rule-sets: 1, rules: 1\n"
                           "  Rule-set web-in: from zone untrust\n"
                           "    Rule http (id 1): match destination-address 10.77.2.1/32; "
                           "destination-port 80; then pool web\n"
                           "      Translation hits: 3, failures: 0\n");
    free(t);
    t = render("destination rule http", &k, NULL, false);
    assert_string_equal(t, "Destination NAT rule: http, Rule-set: web-in\n"
                           "  Rule-Id                : 1\n"
                           "  Rule position          : 1\n"
                           "  From                   : zone untrust\n"
                           "  Match\n"
                           "    Source addresses     : any\n"
                           "    Destination addresses: 10.77.2.1/32\n"
                           "    Destination port     : 80\n"
                           "    Protocol             : any\n"
                           "  Action                 : pool web\n"
                           "  Translation hits       : 3\n"
                           "  Failed translations    : 0\n");
    free(t);
    t = render("destination pool web", &k, NULL, false);
    assert_string_equal(t, "Pool name          : web\n"
                           "Pool id            : 1\n"
                           "Address            : 10.77.1.10/32\n"
                           "Port               : 8080\n"
                           "Translation hits   : 3\n"
                           "Used by rules      : web-in/http\n");
    free(t);
    t = render("source pool all", &k, NULL, false);
    assert_string_equal(t, "Pool name          : interface fw1\n"
                           "Address            : 10.77.2.1, fd00:77:2::1\n"
                           "Ports in use       : 5\n"
                           "Ports total        : 64512\n"
                           "Allocations        : 12\n"
                           "Exhausted          : 0\n");
    free(t);
    t = render("static", &k, NULL, false);
    assert_string_equal(t, "No static NAT rules are configured.\n");
    free(t);
    /* JSON. */
    t = render("source summary", &k, NULL, true);
    assert_non_null(strstr(t, "{\"kind\":\"source\",\"generation\":4,\"counters\":true,"
                              "\"counters_generation\":4,\"counters_note\":null,\"pools\":[],"
                              "\"interfaces\":[{\"interface\":\"fw1\",\"ifindex\":22,"
                              "\"addresses\":[\"10.77.2.1\",\"fd00:77:2::1\"],\"ports_in_use\":5,"
                              "\"ports_total\":64512,\"allocations\":12,\"exhausted\":0}],"));
    assert_non_null(strstr(t, "\"rules\":[{\"id\":2,\"name\":\"masquerade\",\"rule_set\":"
                              "\"lan-out\",\"position\":1,\"from\":{\"zones\":[\"trust\"]},"
                              "\"to\":{\"zones\":[\"untrust\"]},\"source_addresses\":"
                              "[\"10.77.1.0/24\"],\"destination_addresses\":[],"
                              "\"destination_port\":null,\"protocol\":null,\"action\":"
                              "\"interface\",\"pool\":null,\"static_prefix\":null,\"hits\":12,"
                              "\"failures\":1}]}\n"));
    free(t);
    t = render("destination pool", &k, NULL, true);
    assert_string_equal(t, "{\"kind\":\"destination\",\"generation\":4,\"counters\":true,"
                           "\"counters_generation\":4,\"counters_note\":null,\"pools\":[{\"name\":"
                           "\"web\",\"id\":1,\"address\":\"10.77.1.10/32\",\"port\":8080,"
                           "\"hits\":3,\"rules\":[\"web-in/http\"]}]}\n");
    free(t);
    teardown();
}

static void test_helper_down(void **state)
{
    (void)state;
    setup(CONFIGS "standalone.conf");
    struct strbuf out, err;
    /* No helper: the configuration, every counter "-", and why. */
    assert_int_equal(run("show security nat source summary", false, &out, &err), 0);
    const char *t = strbuf_str(&out);
    assert_non_null(strstr(t, "(translation counters unavailable: the dataplane helper is down"));
    assert_non_null(strstr(t, "    Ports in use: - of -, allocations: -, exhausted: -\n"));
    assert_non_null(strstr(t, "      Translation hits: -, failures: -\n"));
    strbuf_free(&out);
    strbuf_free(&err);
    assert_int_equal(run("show security nat destination rule all", true, &out, &err), 0);
    t = strbuf_str(&out);
    assert_non_null(strstr(t, "\"counters\":false,\"counters_note\":\"translation counters "
                              "unavailable: the dataplane helper is down"));
    assert_non_null(strstr(t, "\"hits\":null,\"failures\":null}]}"));
    strbuf_free(&out);
    strbuf_free(&err);
    /* Words refused with exit status 2 and one line. */
    static const struct {
        const char *words, *phrase;
    } bad[] = {
        {"show security nat source pool nope",
         "source NAT pool \"nope\" is not in the running configuration (see show security nat "
         "source summary)"},
        {"show security nat destination rule masquerade",
         "destination NAT rule \"masquerade\" is not in the running configuration"},
        {"show security nat static pool", "unknown word \"pool\" after \"nat static\""},
        {"show security nat source summary extra", "unexpected \"extra\" at the end"},
        {"show security nat source rule all more", "unexpected \"more\" at the end"},
        {"show security nat", "unknown NAT command"},
        {"show security nat twice", "unknown NAT command"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = run(bad[i].words, false, &out, &err);
        if (rc != 2 || !strstr(strbuf_str(&err), bad[i].phrase) || strchr(strbuf_str(&err), '\n'))
            fail_msg("\"%s\": status %d, \"%s\"", bad[i].words, rc, strbuf_str(&err));
        strbuf_free(&out);
        strbuf_free(&err);
    }
    teardown();
}

static void test_every_kind(void **state)
{
    (void)state;
    setup(CONFIGS "full.conf");
    /* Pool 1 counters; rule 6 (out/to-pool) counters; nothing else reported. */
    Moat__PolicyCountersReply r = MOAT__POLICY_COUNTERS_REPLY__INIT;
    Moat__NatRuleCounter rc = MOAT__NAT_RULE_COUNTER__INIT;
    Moat__NatPoolCounter pc = MOAT__NAT_POOL_COUNTER__INIT;
    rc.rule_id = 6;
    rc.hits = 40;
    rc.failures = 2;
    pc.pool_id = 1;
    pc.ports_in_use = 7;
    pc.ports_total = 70007;
    pc.allocations = 9;
    pc.exhausted = 2;
    Moat__NatRuleCounter *rcs[] = {&rc};
    Moat__NatPoolCounter *pcs[] = {&pc};
    r.nat_rules = rcs;
    r.n_nat_rules = 1;
    r.nat_pools = pcs;
    r.n_nat_pools = 1;
    struct counters k;
    k.r = r;
    char *t = render("source pool public", &k, NULL, false);
    assert_string_equal(t, "Pool name          : public\n"
                           "Pool id            : 1\n"
                           "Address range      : 203.0.113.4-203.0.113.7\n"
                           "                     203.0.113.9-203.0.113.11\n"
                           "Addresses          : 7\n"
                           "Port range         : 20000-30000\n"
                           "Address persistent : yes\n"
                           "Ports in use       : 7\n"
                           "Ports total        : 70007\n"
                           "Allocations        : 9\n"
                           "Exhausted          : 2\n"
                           "Used by rules      : out/to-pool\n");
    free(t);
    t = render("source summary", &k, NULL, false);
    assert_non_null(strstr(t, "Source NAT pools: 2, interfaces translating to their own address: "
                              "1\n"));
    assert_non_null(strstr(t, "  Pool keep-ports (id 2): 203.0.113.12; ports kept\n"
                              "    Ports in use: - of -, allocations: -, exhausted: -\n"));
    assert_non_null(strstr(t, "  Interface wan0: 203.0.113.2, 2001:db8:ff::2\n"));
    assert_non_null(strstr(t, "  Rule-set out: from zone trust to interface wan0\n"));
    assert_non_null(strstr(t, "    Rule to-pool (id 6): match source-address 192.168.10.0/25, "
                              "192.168.10.128/25; destination-port 1 to 1023; protocol tcp; then "
                              "pool public\n      Translation hits: 40, failures: 2\n"));
    /* Counters the helper did not report are "-", not 0. */
    assert_non_null(strstr(t, "    Rule no-nat-dmz (id 5): match source-address 192.168.10.0/24; "
                              "destination-address 172.16.0.0/24; then off\n"
                              "      Translation hits: -, failures: -\n"));
    free(t);
    t = render("static rule map", &k, NULL, false);
    assert_non_null(strstr(t, "Static NAT rule: map, Rule-set: one-to-one\n  Rule-Id           "
                              "     : 1\n"));
    assert_non_null(strstr(t, "  Action                 : static-nat 172.16.0.8/30\n"));
    assert_null(strstr(t, "Destination port"));
    free(t);
    /* A rule name found in any rule-set of the kind; "v6" is a source and a destination rule. */
    t = render("source rule v6", &k, NULL, false);
    assert_non_null(
        strstr(t, "Source NAT rule: v6, Rule-set: out\n  Rule-Id                : 7\n"));
    assert_null(strstr(t, "Destination NAT rule"));
    free(t);
    t = render("destination pool all", &k, "a note", true);
    assert_non_null(strstr(t, "\"counters_note\":\"a note\""));
    assert_non_null(strstr(t, "{\"name\":\"dmz-web6\",\"id\":2,\"address\":\"2001:db8:10::80/128\","
                              "\"port\":null,\"hits\":null,\"rules\":[\"from-wan/v6\"]}"));
    free(t);
    /* The names the session listing uses. */
    char buf[160];
    assert_string_equal(show_nat_rule_name(&ctl, 6, buf, sizeof(buf)), "out/to-pool");
    assert_string_equal(show_nat_rule_action(&ctl, 6, buf, sizeof(buf)), "pool public");
    assert_string_equal(show_nat_rule_action(&ctl, 1, buf, sizeof(buf)),
                        "static-nat 172.16.0.8/30");
    assert_string_equal(show_nat_rule_action(&ctl, 2, buf, sizeof(buf)), "pool dmz-web");
    assert_string_equal(show_nat_rule_action(&ctl, 4, buf, sizeof(buf)), "off");
    assert_null(show_nat_rule_name(&ctl, 8, buf, sizeof(buf)));
    assert_null(show_nat_rule_name(&ctl, 0, buf, sizeof(buf)));
    teardown();
}

/* A TCP session as the helper reports it; reverse given as replies arrive. */
static void add_session(uint64_t id, const char *fs, uint16_t fsp, const char *fd, uint16_t fdp,
                        const char *rs, uint16_t rsp, const char *rd, uint16_t rdp,
                        uint32_t snat_rule, uint32_t dnat_rule)
{
    uint8_t a[4][4];
    inet_pton(AF_INET, fs, a[0]);
    inet_pton(AF_INET, fd, a[1]);
    inet_pton(AF_INET, rs, a[2]);
    inet_pton(AF_INET, rd, a[3]);
    Moat__FlowKey fwd = MOAT__FLOW_KEY__INIT, rev = MOAT__FLOW_KEY__INIT;
    fwd.src = (ProtobufCBinaryData){4, a[0]};
    fwd.dst = (ProtobufCBinaryData){4, a[1]};
    fwd.sport = fsp;
    fwd.dport = fdp;
    fwd.protocol = 6;
    rev.src = (ProtobufCBinaryData){4, a[2]};
    rev.dst = (ProtobufCBinaryData){4, a[3]};
    rev.sport = rsp;
    rev.dport = rdp;
    rev.protocol = 6;
    Moat__SessionRecord r = MOAT__SESSION_RECORD__INIT;
    r.id = id;
    r.forward = &fwd;
    r.reverse = &rev;
    r.from_zone = snat_rule ? 1 : 2;
    r.to_zone = snat_rule ? 2 : 1;
    r.in_ifindex = snat_rule ? 21 : 22;
    r.out_ifindex = snat_rule ? 22 : 21;
    r.policy_id = 1;
    r.policy_name = "p";
    r.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    r.timeout = 1800;
    r.snat_rule_id = snat_rule;
    r.dnat_rule_id = dnat_rule;
    Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT;
    d.kind = MOAT__DELTA_KIND__DELTA_CREATE;
    d.session = &r;
    assert_int_equal(mirror_apply_delta(&ctl.mirror, &d, NULL, NULL), 0);
}

static void test_sessions(void **state)
{
    (void)state;
    setup(CONFIGS "standalone.conf");
    /* SNAT to fw1, DNAT to the web server, and one flow not translated. */
    add_session(1, "10.77.1.2", 40000, "10.77.2.2", 80, "10.77.2.2", 80, "10.77.2.1", 21013, 2, 0);
    add_session(2, "10.77.2.2", 5555, "10.77.2.1", 80, "10.77.1.10", 8080, "10.77.2.2", 5555, 0, 1);
    add_session(3, "10.77.1.2", 40001, "10.77.2.2", 22, "10.77.2.2", 22, "10.77.1.2", 40001, 0, 0);
    struct strbuf out, err;
    assert_int_equal(run("show security flow session nat", false, &out, &err), 0);
    const char *t = strbuf_str(&out);
    assert_non_null(strstr(t, "  In: 10.77.1.2/40000 --> 10.77.2.2/80;tcp, If: fw0, Pkts: 0, "
                              "Bytes: 0\n"
                              "  Out: 10.77.2.2/80 --> 10.77.2.1/21013;tcp, If: fw1, Pkts: 0, "
                              "Bytes: 0\n"
                              "  NAT: source 10.77.1.2/40000 -> 10.77.2.1/21013, rule "
                              "lan-out/masquerade (interface)\n"));
    assert_non_null(strstr(t, "  In: 10.77.2.2/5555 --> 10.77.2.1/80;tcp, If: fw1, Pkts: 0, "
                              "Bytes: 0\n"
                              "  Out: 10.77.1.10/8080 --> 10.77.2.2/5555;tcp, If: fw0, Pkts: 0, "
                              "Bytes: 0\n"
                              "  NAT: destination 10.77.2.1/80 -> 10.77.1.10/8080, rule "
                              "web-in/http (pool web)\n"));
    assert_null(strstr(t, "Session ID: 3,"));
    assert_non_null(strstr(t, "Total sessions: 2\n"));
    strbuf_free(&out);
    strbuf_free(&err);
    /* The plain listing has all three, and the NAT line only on the translated ones. */
    assert_int_equal(run("show security flow session", false, &out, &err), 0);
    t = strbuf_str(&out);
    assert_non_null(strstr(t, "Total sessions: 3\n"));
    const char *s3 = strstr(t, "Session ID: 3,");
    assert_non_null(s3);
    assert_null(strstr(s3, "NAT:"));
    strbuf_free(&out);
    strbuf_free(&err);
    assert_int_equal(run("show security flow session summary", false, &out, &err), 0);
    assert_non_null(strstr(strbuf_str(&out),
                           "NAT sessions: 2 (source translated 1, destination translated 1)\n"));
    strbuf_free(&out);
    strbuf_free(&err);
    assert_int_equal(run("show security flow session nat", true, &out, &err), 0);
    assert_non_null(strstr(strbuf_str(&out), "\"rule_id\":1,\"rule\":\"web-in/http\",\"action\":"
                                             "\"pool web\"}}"));
    assert_non_null(strstr(strbuf_str(&out), "\"total\":2,"));
    strbuf_free(&out);
    strbuf_free(&err);
    teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standalone_counters),
        cmocka_unit_test(test_helper_down),
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
