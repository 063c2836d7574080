/* SPDX-License-Identifier: MIT */
/*
 * test_controld_snapshot.c — what controld's Snapshot says about security (zones, policies in
 * config order with resolved applications and addresses, default policy, flow settings,
 * Interface.zone_id), and the frame that re-seeds a helper with the mirror's sessions:
 * decoded as the helper decodes it, and bounded by the frame cap.
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
    "  zones {\n"
    "    security-zone trust { interfaces { fw0; } host-inbound-traffic { system-services { ping; "
    "ssh; } } }\n"
    "    security-zone untrust { interfaces { fw1; } host-inbound-traffic { protocols { bgp; } } "
    "}\n"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_security),
        cmocka_unit_test(test_defaults_without_security),
        cmocka_unit_test(test_frame_with_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
