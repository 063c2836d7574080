/* SPDX-License-Identifier: MIT */
/*
 * test_controld_snapshot.c — what controld's Snapshot says about security (zones, policies in
 * config order with resolved applications and addresses, default policy, flow settings,
 * Interface.zone_id), and the frame that re-seeds a helper with the mirror's sessions:
 * decoded as the helper decodes it, and bounded by the frame cap. NAT: the standalone example
 * (interface SNAT trust -> untrust, DNAT 10.77.2.1:80 -> 10.77.1.10:8080) and a config with
 * every kind of pool and rule (ids, order, contexts as zone ids or ifindexes, ranges).
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

#include "controld.h"
#include "frame.h"

static const char conf[] =
    "interfaces {\n"
    "  fw0 { unit 0 { family inet { address 10.77.1.1/24; } } }\n"
    "  fw1 { unit 0 { family inet { address 10.77.2.1/24; } } }\n"
    "  fw2 { unit 0 { family inet { address 10.77.3.1/24; } } }\n"
    "}\n"
    "applications { application web-alt { protocol tcp; destination-port 8080; "
    "inactivity-timeout 600; }\n"
    "  application-set web { application junos-http; application junos-https; } }\n"
    "security {\n"
    "  address-book { global { address lan 10.77.1.0/24; address srv6 fd00:77:2::/64; } }\n"
    "  screen { ids-option edge { tcp { syn-flood { attack-threshold 300; } land; } icmp { "
    "ping-death; } limit-session { destination-ip-based 50; } } }\n"
    "  zones {\n"
    "    security-zone trust { interfaces { fw0; } host-inbound-traffic { system-services { ping; "
    "ssh; } } }\n"
    "    security-zone untrust { interfaces { fw1; } host-inbound-traffic { protocols { bgp; } } "
    "screen edge; }\n"
    "  }\n"
    "  policies {\n"
    "    from-zone trust to-zone untrust {\n"
    "      policy allow-web { match { source-address lan; destination-address any; application "
    "web; } then { permit; log { session-init; session-close; } count; } }\n"
    "      policy block-rest { match { source-address any; destination-address any; application "
    "any; } then { reject; } }\n"
    "    }\n"
    "    from-zone untrust to-zone trust {\n"
    "      policy in-alt { match { source-address srv6; destination-address any; application "
    "web-alt; } then { deny; } }\n"
    "    }\n"
    "    default-policy permit-all;\n"
    "  }\n"
    "  flow { tcp-session { established-timeout 900; } udp-timeout 45; max-sessions 2000; }\n"
    "}\n";

static struct controld ctl;

static void setup_ctl(const char *text)
{
    memset(&ctl, 0, sizeof(ctl));
    struct config_error err;
    if (config_load_string(text, "snap.conf", &ctl.cfg, &err)) {
        char msg[700];
        config_error_format(&err, msg, sizeof(msg));
        fail_msg("%s", msg);
    }
    snprintf(ctl.mode, sizeof(ctl.mode), "userspace");
    ctl.bpffs_dir = "/tmp/bpf";
    ctl.generation = 7;
    /* fw0, fw1 attached; fw2 (in no zone) attached too. */
    for (unsigned i = 0; i < 3; i++) {
        struct ctl_iface *ifc = &ctl.ifaces[ctl.n_ifaces++];
        snprintf(ifc->name, sizeof(ifc->name), "fw%u", i);
        ifc->ifindex = 10 + i;
        ifc->slot = i;
        ifc->queues = 1;
        ifc->xdp_mode = MOAT_XDP_NATIVE;
    }
}

static void test_security(void **state)
{
    (void)state;
    setup_ctl(conf);
    Moat__Snapshot *s = snapshot_build(&ctl);
    assert_non_null(s);
    assert_int_equal(s->generation, 7);
    /* Zones. */
    assert_int_equal(s->n_zones, 2);
    assert_int_equal(s->zones[0]->id, 1);
    assert_string_equal(s->zones[0]->name, "trust");
    assert_int_equal(s->zones[0]->host_services, CFG_SVC_PING | CFG_SVC_SSH);
    assert_int_equal(s->zones[1]->host_protocols, CFG_HPROTO_BGP);
    /* Screens: untrust's by id. */
    assert_int_equal(s->zones[0]->screen_id, 0);
    assert_int_equal(s->zones[1]->screen_id, 1);
    assert_int_equal(s->n_screens, 1);
    assert_int_equal(s->screens[0]->id, 1);
    assert_string_equal(s->screens[0]->name, "edge");
    assert_int_equal(s->screens[0]->flags, CFG_SCR_LAND | CFG_SCR_PING_DEATH);
    assert_int_equal(s->screens[0]->syn_attack, 300);
    assert_int_equal(s->screens[0]->limit_dst, 50);
    /* Interface zones. */
    assert_int_equal(s->n_interfaces, 3);
    assert_int_equal(s->interfaces[0]->zone_id, 1);
    assert_int_equal(s->interfaces[1]->zone_id, 2);
    assert_int_equal(s->interfaces[2]->zone_id, 0);
    /* Policies in config order, ids 1..N. */
    assert_int_equal(s->n_policies, 3);
    Moat__Policy *p = s->policies[0];
    assert_int_equal(p->id, 1);
    assert_string_equal(p->name, "allow-web");
    assert_int_equal(p->from_zone, 1);
    assert_int_equal(p->to_zone, 2);
    assert_false(p->source->any);
    assert_int_equal(p->source->n_prefixes, 1);
    assert_int_equal(p->source->prefixes[0]->addr.len, 4);
    assert_int_equal(p->source->prefixes[0]->len, 24);
    assert_true(p->destination->any);
    assert_false(p->application_any);
    assert_int_equal(p->n_applications, 2); /* the set, expanded */
    assert_string_equal(p->applications[0]->name, "junos-http");
    assert_int_equal(p->applications[0]->protocol, 6);
    assert_int_equal(p->applications[0]->dport_lo, 80);
    assert_int_equal(p->applications[0]->dport_hi, 80);
    assert_string_equal(p->applications[1]->name, "junos-https");
    assert_int_equal(p->action, MOAT__POLICY_ACTION__POLICY_PERMIT);
    assert_true(p->log_init && p->log_close && p->count);
    p = s->policies[1];
    assert_int_equal(p->id, 2);
    assert_true(p->application_any);
    assert_int_equal(p->n_applications, 0);
    assert_int_equal(p->action, MOAT__POLICY_ACTION__POLICY_REJECT);
    assert_false(p->log_init);
    p = s->policies[2];
    assert_int_equal(p->id, 3);
    assert_int_equal(p->from_zone, 2);
    assert_int_equal(p->source->prefixes[0]->addr.len, 16);
    assert_string_equal(p->applications[0]->name, "web-alt");
    assert_int_equal(p->applications[0]->dport_lo, 8080);
    assert_int_equal(p->applications[0]->inactivity_timeout, 600);
    assert_int_equal(p->action, MOAT__POLICY_ACTION__POLICY_DENY);
    assert_int_equal(s->default_policy, MOAT__DEFAULT_POLICY__DEFAULT_PERMIT_ALL);
    /* Flow. */
    assert_non_null(s->flow);
    assert_int_equal(s->flow->tcp_established_timeout, 900);
    assert_int_equal(s->flow->tcp_initial_timeout, 20);
    assert_int_equal(s->flow->tcp_closing_timeout, 30);
    assert_int_equal(s->flow->udp_timeout, 45);
    assert_int_equal(s->flow->icmp_timeout, 60);
    assert_int_equal(s->flow->other_timeout, 60);
    assert_int_equal(s->flow->max_sessions, 2000);
    assert_true(s->flow->policy_reevaluate);
    assert_int_equal(s->n_sessions, 0);
    /* It packs, and unpacks to the same. */
    size_t len = moat__snapshot__get_packed_size(s);
    uint8_t *buf = malloc(len);
    moat__snapshot__pack(s, buf);
    Moat__Snapshot *u = moat__snapshot__unpack(NULL, len, buf);
    assert_non_null(u);
    assert_int_equal(u->n_policies, 3);
    assert_string_equal(u->policies[2]->applications[0]->name, "web-alt");
    moat__snapshot__free_unpacked(u, NULL);
    free(buf);
    snapshot_free(s);
    config_free(ctl.cfg);
}

static void test_defaults_without_security(void **state)
{
    (void)state;
    setup_ctl("interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } } }\n");
    Moat__Snapshot *s = snapshot_build(&ctl);
    assert_non_null(s);
    assert_int_equal(s->n_zones, 0);
    assert_int_equal(s->n_policies, 0);
    assert_int_equal(s->default_policy, MOAT__DEFAULT_POLICY__DEFAULT_DENY_ALL);
    assert_int_equal(s->flow->tcp_established_timeout, 1800);
    assert_int_equal(s->flow->max_sessions, 1048576);
    assert_int_equal(s->flow->tcp_closing_timeout, 30);
    assert_true(s->flow->policy_reevaluate);
    snapshot_free(s);
    config_free(ctl.cfg);
}

static void add_session(struct mirror *m, uint64_t id, uint16_t sport)
{
    Moat__FlowKey fwd = MOAT__FLOW_KEY__INIT, rev = MOAT__FLOW_KEY__INIT;
    uint8_t a[4] = {10, 77, 1, 2}, b[4] = {10, 77, 2, 2};
    fwd.src.data = a;
    fwd.src.len = 4;
    fwd.dst.data = b;
    fwd.dst.len = 4;
    fwd.sport = sport;
    fwd.dport = 80;
    fwd.protocol = 6;
    rev.src.data = b;
    rev.src.len = 4;
    rev.dst.data = a;
    rev.dst.len = 4;
    rev.sport = 80;
    rev.dport = sport;
    rev.protocol = 6;
    Moat__SessionRecord r = MOAT__SESSION_RECORD__INIT;
    r.id = id;
    r.forward = &fwd;
    r.reverse = &rev;
    r.from_zone = 1;
    r.to_zone = 2;
    r.policy_id = 1;
    r.policy_name = "allow-web";
    r.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    r.timeout = 1800;
    r.packets_fwd = id;
    Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT;
    d.kind = MOAT__DELTA_KIND__DELTA_CREATE;
    d.session = &r;
    assert_int_equal(mirror_apply_delta(m, &d, NULL, NULL), 0);
}

static Moat__Envelope *decode(const uint8_t *buf, size_t len)
{
    struct frame_reader rd;
    frame_reader_init(&rd, FRAME_MAX_DEFAULT);
    assert_int_equal(frame_reader_feed(&rd, buf, len), 0);
    Moat__Envelope *env = NULL;
    assert_int_equal(frame_reader_next(&rd, &env), 1);
    assert_int_equal(rd.len, 0); /* exactly one frame */
    frame_reader_free(&rd);
    assert_int_equal(env->msg_case, MOAT__ENVELOPE__MSG_SNAPSHOT);
    return env;
}

static void test_frame_with_sessions(void **state)
{
    (void)state;
    setup_ctl(conf);
    assert_int_equal(mirror_init(&ctl.mirror, 0), 0);
    for (uint64_t id = 1; id <= 300; id++)
        add_session(&ctl.mirror, id, (uint16_t)(40000 + id));
    Moat__Snapshot *s = snapshot_build(&ctl);
    uint8_t *buf;
    size_t len, sent, left;
    /* Without sessions (later generations). */
    assert_int_equal(snapshot_encode_frame(s, NULL, FRAME_MAX_DEFAULT, &buf, &len, &sent, &left),
                     0);
    assert_int_equal(sent, 0);
    Moat__Envelope *env = decode(buf, len);
    assert_int_equal(env->snapshot->n_sessions, 0);
    assert_int_equal(env->snapshot->n_policies, 3);
    moat__envelope__free_unpacked(env, NULL);
    free(buf);
    /* The first after Hello: every session, decodable by the helper's frame reader. */
    assert_int_equal(
        snapshot_encode_frame(s, &ctl.mirror, FRAME_MAX_DEFAULT, &buf, &len, &sent, &left), 0);
    assert_int_equal(sent, 300);
    assert_int_equal(left, 0);
    env = decode(buf, len);
    Moat__Snapshot *u = env->snapshot;
    assert_int_equal(u->generation, 7);
    assert_int_equal(u->n_zones, 2);
    assert_int_equal(u->n_sessions, 300);
    bool seen[301] = {0};
    for (size_t i = 0; i < u->n_sessions; i++) {
        const Moat__SessionRecord *r = u->sessions[i];
        assert_true(r->id >= 1 && r->id <= 300);
        seen[r->id] = true;
        assert_int_equal(r->forward->sport, 40000 + r->id);
        assert_int_equal(r->packets_fwd, r->id);
        assert_string_equal(r->policy_name, "allow-web");
        assert_int_equal(r->state, MOAT__SESSION_STATE__SESSION_ESTABLISHED);
    }
    for (int i = 1; i <= 300; i++)
        assert_true(seen[i]);
    moat__envelope__free_unpacked(env, NULL);
    free(buf);
    /* A frame cap that holds only part of them: what fits is sent, the rest counted. */
    size_t base = moat__snapshot__get_packed_size(s);
    assert_int_equal(
        snapshot_encode_frame(s, &ctl.mirror, base + 16 + 100 * 40, &buf, &len, &sent, &left), 0);
    assert_true(sent > 0 && sent < 300);
    assert_int_equal(sent + left, 300);
    assert_true(len <= base + 16 + 100 * 40);
    env = decode(buf, len);
    assert_int_equal(env->snapshot->n_sessions, sent);
    moat__envelope__free_unpacked(env, NULL);
    free(buf);
    snapshot_free(s);
    mirror_free(&ctl.mirror);
    config_free(ctl.cfg);
}

static void setup_ctl_file(const char *path, const char *const *names, const uint32_t *ifindexes,
                           unsigned n)
{
    memset(&ctl, 0, sizeof(ctl));
    struct config_error err;
    if (config_load_file(path, &ctl.cfg, &err)) {
        char msg[700];
        config_error_format(&err, msg, sizeof(msg));
        fail_msg("%s", msg);
    }
    snprintf(ctl.mode, sizeof(ctl.mode), "userspace");
    ctl.generation = 3;
    for (unsigned i = 0; i < n; i++) {
        struct ctl_iface *ifc = &ctl.ifaces[ctl.n_ifaces++];
        snprintf(ifc->name, sizeof(ifc->name), "%s", names[i]);
        ifc->ifindex = ifindexes[i];
        ifc->slot = i;
        ifc->queues = 1;
        ifc->xdp_mode = ifindexes[i] ? MOAT_XDP_NATIVE : MOAT_XDP_NONE;
    }
}

static void assert_addr(const ProtobufCBinaryData *b, const char *want)
{
    uint8_t a[16];
    int af = strchr(want, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(af, want, a), 1);
    assert_int_equal(b->len, af == AF_INET6 ? 16 : 4);
    assert_memory_equal(b->data, a, b->len);
}

static void assert_pfx(const Moat__Prefix *p, const char *addr, unsigned len)
{
    assert_non_null(p);
    assert_addr(&p->addr, addr);
    assert_int_equal(p->len, len);
}

/* Packs and unpacks, as the helper receives it. */
static Moat__Snapshot *round_trip(const Moat__Snapshot *s, uint8_t **buf)
{
    size_t len = moat__snapshot__get_packed_size(s);
    *buf = malloc(len);
    assert_non_null(*buf);
    moat__snapshot__pack(s, *buf);
    Moat__Snapshot *u = moat__snapshot__unpack(NULL, len, *buf);
    assert_non_null(u);
    return u;
}

static void test_nat_standalone(void **state)
{
    (void)state;
    static const char *const names[] = {"fw0", "fw1"};
    static const uint32_t idx[] = {21, 22};
    setup_ctl_file(MOAT_SOURCE_DIR "/tests/unit/config/standalone.conf", names, idx, 2);
    char why[256];
    assert_int_equal(lifecycle_check_enforceable(ctl.cfg, why, sizeof(why)), 0);
    Moat__Snapshot *built = snapshot_build(&ctl);
    assert_non_null(built);
    uint8_t *buf;
    Moat__Snapshot *s = round_trip(built, &buf);
    assert_int_equal(s->n_source_pools, 0); /* interface NAT needs no pool */
    assert_int_equal(s->n_destination_pools, 1);
    const Moat__DestinationPool *web = s->destination_pools[0];
    assert_int_equal(web->id, 1);
    assert_string_equal(web->name, "web");
    assert_pfx(web->address, "10.77.1.10", 32);
    assert_int_equal(web->port, 8080);
    /* Destination rules before source rules. */
    assert_int_equal(s->n_nat_rules, 2);
    const Moat__NatRule *http = s->nat_rules[0];
    assert_int_equal(http->id, 1);
    assert_int_equal(http->kind, MOAT__NAT_KIND__NAT_KIND_DESTINATION);
    assert_string_equal(http->rule_set, "web-in");
    assert_string_equal(http->name, "http");
    assert_int_equal(http->n_from_zones, 1);
    assert_int_equal(http->from_zones[0], 2); /* untrust */
    assert_int_equal(http->n_from_ifindexes, 0);
    assert_int_equal(http->n_to_zones + http->n_to_ifindexes, 0);
    assert_int_equal(http->n_source, 0);
    assert_int_equal(http->n_destination, 1);
    assert_pfx(http->destination[0], "10.77.2.1", 32);
    assert_int_equal(http->dport_lo, 80);
    assert_int_equal(http->dport_hi, 80);
    assert_int_equal(http->protocol, 0);
    assert_int_equal(http->action, MOAT__NAT_ACTION__NAT_ACTION_POOL);
    assert_int_equal(http->pool_id, 1);
    assert_null(http->static_prefix);
    const Moat__NatRule *masq = s->nat_rules[1];
    assert_int_equal(masq->id, 2);
    assert_int_equal(masq->kind, MOAT__NAT_KIND__NAT_KIND_SOURCE);
    assert_string_equal(masq->rule_set, "lan-out");
    assert_string_equal(masq->name, "masquerade");
    assert_int_equal(masq->n_from_zones, 1);
    assert_int_equal(masq->from_zones[0], 1); /* trust */
    assert_int_equal(masq->n_to_zones, 1);
    assert_int_equal(masq->to_zones[0], 2);
    assert_int_equal(masq->n_source, 1);
    assert_pfx(masq->source[0], "10.77.1.0", 24);
    assert_int_equal(masq->n_destination, 0);
    assert_int_equal(masq->dport_lo, 0);
    assert_int_equal(masq->dport_hi, 0);
    assert_int_equal(masq->action, MOAT__NAT_ACTION__NAT_ACTION_INTERFACE);
    assert_int_equal(masq->pool_id, 0);
    /* The egress interface's first IPv4 address is in the snapshot for interface NAT. */
    assert_int_equal(s->n_interfaces, 2);
    assert_int_equal(s->interfaces[1]->ifindex, 22);
    assert_int_equal(s->interfaces[1]->zone_id, 2);
    assert_pfx(s->interfaces[1]->addresses[0], "10.77.2.1", 24);
    moat__snapshot__free_unpacked(s, NULL);
    free(buf);
    snapshot_free(built);
    config_free(ctl.cfg);
}

static void test_nat_every_kind(void **state)
{
    (void)state;
    /* wan0 is absent from the kernel: its contexts carry ifindex 0, never an empty list. */
    static const char *const names[] = {"lan0", "wan0", "dmz0", "ctl0", "spare0"};
    static const uint32_t idx[] = {31, 0, 33, 34, 35};
    setup_ctl_file(MOAT_SOURCE_DIR "/tests/unit/config/full.conf", names, idx, 5);
    Moat__Snapshot *built = snapshot_build(&ctl);
    assert_non_null(built);
    uint8_t *buf;
    Moat__Snapshot *s = round_trip(built, &buf);
    /* Source pools 1..N in config order. */
    assert_int_equal(s->n_source_pools, 2);
    const Moat__SourcePool *pub = s->source_pools[0];
    assert_int_equal(pub->id, 1);
    assert_string_equal(pub->name, "public");
    assert_int_equal(pub->n_ranges, 2);
    assert_addr(&pub->ranges[0]->lo, "203.0.113.4");
    assert_addr(&pub->ranges[0]->hi, "203.0.113.7");
    assert_addr(&pub->ranges[1]->lo, "203.0.113.9");
    assert_addr(&pub->ranges[1]->hi, "203.0.113.11");
    assert_int_equal(pub->port_lo, 20000);
    assert_int_equal(pub->port_hi, 30000);
    assert_true(pub->address_persistent);
    assert_false(pub->port_no_translation);
    const Moat__SourcePool *keep = s->source_pools[1];
    assert_int_equal(keep->id, 2);
    assert_true(keep->port_no_translation);
    assert_int_equal(keep->port_lo, 1024); /* the default range */
    assert_int_equal(keep->port_hi, 65535);
    assert_int_equal(s->n_destination_pools, 2);
    assert_int_equal(s->destination_pools[1]->id, 2);
    assert_pfx(s->destination_pools[1]->address, "2001:db8:10::80", 128);
    assert_int_equal(s->destination_pools[1]->port, 0);
    /* 1 static, 3 destination, 3 source; ids in that order. */
    assert_int_equal(s->n_nat_rules, 7);
    static const char *const order[] = {"map", "http", "v6", "keep", "no-nat-dmz", "to-pool", "v6"};
    static const Moat__NatKind kinds[] = {
        MOAT__NAT_KIND__NAT_KIND_STATIC,      MOAT__NAT_KIND__NAT_KIND_DESTINATION,
        MOAT__NAT_KIND__NAT_KIND_DESTINATION, MOAT__NAT_KIND__NAT_KIND_DESTINATION,
        MOAT__NAT_KIND__NAT_KIND_SOURCE,      MOAT__NAT_KIND__NAT_KIND_SOURCE,
        MOAT__NAT_KIND__NAT_KIND_SOURCE};
    for (unsigned i = 0; i < 7; i++) {
        assert_int_equal(s->nat_rules[i]->id, i + 1);
        assert_string_equal(s->nat_rules[i]->name, order[i]);
        assert_int_equal(s->nat_rules[i]->kind, kinds[i]);
    }
    const Moat__NatRule *map = s->nat_rules[0];
    assert_string_equal(map->rule_set, "one-to-one");
    assert_int_equal(map->action, MOAT__NAT_ACTION__NAT_ACTION_PREFIX);
    assert_pfx(map->static_prefix, "172.16.0.8", 30);
    assert_pfx(map->destination[0], "198.51.100.8", 30);
    assert_int_equal(map->n_from_zones, 1);
    assert_int_equal(map->from_zones[0], 2); /* untrust */
    /* from interface [ wan0 ]: absent, so ifindex 0. */
    const Moat__NatRule *http = s->nat_rules[1];
    assert_int_equal(http->n_from_zones, 0);
    assert_int_equal(http->n_from_ifindexes, 1);
    assert_int_equal(http->from_ifindexes[0], 0);
    assert_int_equal(http->protocol, 6);
    assert_int_equal(http->pool_id, 1);
    assert_int_equal(s->nat_rules[2]->pool_id, 2);
    assert_int_equal(s->nat_rules[3]->action, MOAT__NAT_ACTION__NAT_ACTION_OFF);
    const Moat__NatRule *no_nat = s->nat_rules[4];
    assert_int_equal(no_nat->action, MOAT__NAT_ACTION__NAT_ACTION_OFF);
    assert_int_equal(no_nat->from_zones[0], 1); /* trust */
    assert_int_equal(no_nat->n_to_zones, 0);
    assert_int_equal(no_nat->n_to_ifindexes, 1);
    assert_pfx(no_nat->destination[0], "172.16.0.0", 24);
    const Moat__NatRule *to_pool = s->nat_rules[5];
    assert_int_equal(to_pool->action, MOAT__NAT_ACTION__NAT_ACTION_POOL);
    assert_int_equal(to_pool->pool_id, 1);
    assert_int_equal(to_pool->n_source, 2);
    assert_pfx(to_pool->source[1], "192.168.10.128", 25);
    assert_int_equal(to_pool->dport_lo, 1);
    assert_int_equal(to_pool->dport_hi, 1023);
    assert_int_equal(to_pool->protocol, 6);
    assert_int_equal(s->nat_rules[6]->action, MOAT__NAT_ACTION__NAT_ACTION_INTERFACE);
    assert_pfx(s->nat_rules[6]->source[0], "2001:db8:10::", 64);
    moat__snapshot__free_unpacked(s, NULL);
    free(buf);
    snapshot_free(built);
    /* Once wan0 exists, its ifindex replaces the 0. */
    ctl.ifaces[1].ifindex = 32;
    built = snapshot_build(&ctl);
    assert_int_equal(built->nat_rules[1]->from_ifindexes[0], 32);
    assert_int_equal(built->nat_rules[4]->to_ifindexes[0], 32);
    snapshot_free(built);
    /* NAT and chassis cluster are both enforced now. */
    char why[256];
    assert_int_equal(lifecycle_check_enforceable(ctl.cfg, why, sizeof(why)), 0);
    config_free(ctl.cfg);
}

/* A cluster interface: its virtual address comes first (interface SNAT takes the first address
 * of the family, and after a failover the translation must still be valid on the new node). */
static void test_cluster_vip_first(void **state)
{
    (void)state;
    static const char *const names[] = {"fw0", "fw1", "ctl0"};
    static const uint32_t idx[] = {11, 12, 13};
    setup_ctl_file(MOAT_SOURCE_DIR "/tests/unit/config/ha-node0.conf", names, idx, 3);
    Moat__Snapshot *s = snapshot_build(&ctl);
    assert_non_null(s);
    assert_int_equal(s->n_interfaces, 3);
    assert_string_equal(s->interfaces[1]->name, "fw1");
    assert_int_equal(s->interfaces[1]->n_addresses, 2);
    assert_pfx(s->interfaces[1]->addresses[0], "10.77.2.1", 24);
    assert_pfx(s->interfaces[1]->addresses[1], "10.77.2.3", 24);
    assert_int_equal(s->interfaces[2]->n_addresses, 1);
    char why[256];
    assert_int_equal(lifecycle_check_enforceable(ctl.cfg, why, sizeof(why)), 0);
    snapshot_free(s);
    config_free(ctl.cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_security),
        cmocka_unit_test(test_defaults_without_security),
        cmocka_unit_test(test_frame_with_sessions),
        cmocka_unit_test(test_nat_standalone),
        cmocka_unit_test(test_nat_every_kind),
        cmocka_unit_test(test_cluster_vip_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
