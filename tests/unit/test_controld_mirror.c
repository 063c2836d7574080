/* SPDX-License-Identifier: MIT */
/*
 * test_controld_mirror.c — controld's session mirror: create / update / close by id, events
 * for the log lines, capacity, re-announced sessions, batches, filters, rendering, expiry,
 * and many sessions (the hashes grow).
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

#include "config.h"
#include "mirror.h"
#include "sessrec.h"

/* A SessionRecord with its own storage. */
struct rec {
    Moat__SessionRecord r;
    Moat__FlowKey fwd, rev;
    uint8_t a[4][16];
};

static void rec_init(struct rec *x, uint64_t id, const char *src, uint16_t sport, const char *dst,
                     uint16_t dport, uint8_t proto)
{
    memset(x, 0, sizeof(*x));
    moat__session_record__init(&x->r);
    moat__flow_key__init(&x->fwd);
    moat__flow_key__init(&x->rev);
    int af = strchr(src, ':') ? AF_INET6 : AF_INET;
    size_t alen = af == AF_INET6 ? 16 : 4;
    assert_int_equal(inet_pton(af, src, x->a[0]), 1);
    assert_int_equal(inet_pton(af, dst, x->a[1]), 1);
    memcpy(x->a[2], x->a[1], 16);
    memcpy(x->a[3], x->a[0], 16);
    x->fwd.src.data = x->a[0];
    x->fwd.src.len = alen;
    x->fwd.dst.data = x->a[1];
    x->fwd.dst.len = alen;
    x->fwd.sport = sport;
    x->fwd.dport = dport;
    x->fwd.protocol = proto;
    x->rev.src.data = x->a[2];
    x->rev.src.len = alen;
    x->rev.dst.data = x->a[3];
    x->rev.dst.len = alen;
    /* As the helper sends them: ICMP keys carry the query id as the source port both ways. */
    bool icmp = proto == 1 || proto == 58;
    x->rev.sport = icmp ? sport : dport;
    x->rev.dport = icmp ? dport : sport;
    x->rev.protocol = proto;
    x->r.id = id;
    x->r.forward = &x->fwd;
    x->r.reverse = &x->rev;
    x->r.from_zone = 1;
    x->r.to_zone = 2;
    x->r.in_ifindex = 11;
    x->r.out_ifindex = 12;
    x->r.policy_id = 2;
    x->r.policy_name = "allow-web";
    x->r.application = "junos-http";
    x->r.state = MOAT__SESSION_STATE__SESSION_SYN_SENT;
    x->r.timeout = 20;
    x->r.packets_fwd = 1;
    x->r.bytes_fwd = 60;
    x->r.created_unix_ms = 1700000000000ull;
    x->r.last_seen_unix_ms = 1700000000000ull;
}

static int apply(struct mirror *m, Moat__DeltaKind kind, struct rec *x, mirror_event_fn fn,
                 void *arg)
{
    Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT;
    d.kind = kind;
    d.session = &x->r;
    return mirror_apply_delta(m, &d, fn, arg);
}

struct events {
    int creates, closes;
    uint64_t last_id;
    uint64_t last_pkts_rev;
    char last_line[1024];
};

static const char *test_ifname(void *arg, uint32_t ifindex)
{
    (void)arg;
    return ifindex == 11 ? "fw0" : ifindex == 12 ? "fw1" : NULL;
}

static const char *test_zone(void *arg, uint32_t zone)
{
    (void)arg;
    return zone == 1 ? "trust" : zone == 2 ? "untrust" : NULL;
}

static const char *test_nat_rule(void *arg, uint32_t id, char *buf, size_t len)
{
    (void)arg;
    snprintf(buf, len, "%s", id == 1 ? "web-in/http" : id == 2 ? "lan-out/masquerade" : "");
    return buf;
}

static const char *test_nat_action(void *arg, uint32_t id, char *buf, size_t len)
{
    (void)arg;
    snprintf(buf, len, "%s", id == 1 ? "pool web" : id == 2 ? "interface" : "");
    return buf;
}

static const struct mirror_names test_names = {test_ifname, test_zone, NULL, test_nat_rule,
                                               test_nat_action};

static void on_event(void *arg, enum mirror_event ev, const struct mirror *m,
                     const struct mirror_session *s)
{
    struct events *e = arg;
    if (ev == MIRROR_EV_CREATE)
        e->creates++;
    else
        e->closes++;
    e->last_id = s->id;
    e->last_pkts_rev = s->packets_rev;
    mirror_format_log(m, ev, s, &test_names, e->last_line, sizeof(e->last_line));
}

static void test_create_update_close(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 0), 0);
    assert_int_equal(m.max, MIRROR_DEFAULT_MAX);
    struct events ev = {0};
    struct rec x;
    rec_init(&x, 12345, "10.77.1.2", 40000, "10.77.2.2", 80, 6);
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, on_event, &ev), 0);
    assert_int_equal(m.count, 1);
    assert_int_equal(ev.creates, 1);
    assert_string_equal(ev.last_line,
                        "RT_FLOW_SESSION_CREATE: session created 10.77.1.2/40000->10.77.2.2/80 "
                        "0x6 policy allow-web trust->untrust id 12345 application junos-http in "
                        "fw0 out fw1 reply 10.77.2.2/80->10.77.1.2/40000");
    const struct mirror_session *s = mirror_lookup(&m, 12345);
    assert_non_null(s);
    assert_int_equal(s->state, MOAT__SESSION_STATE__SESSION_SYN_SENT);
    assert_string_equal(mirror_name(&m, s->policy_name), "allow-web");

    /* Update: state and counters change, no event. */
    x.r.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    x.r.timeout = 1800;
    x.r.packets_rev = 7;
    x.r.bytes_rev = 9000;
    x.r.last_seen_unix_ms += 5000;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_UPDATE, &x, on_event, &ev), 0);
    assert_int_equal(ev.creates, 1);
    assert_int_equal(ev.closes, 0);
    s = mirror_lookup(&m, 12345);
    assert_int_equal(s->state, MOAT__SESSION_STATE__SESSION_ESTABLISHED);
    assert_int_equal(s->packets_rev, 7);
    assert_int_equal(s->timeout, 1800);
    assert_int_equal(m.ctr.updated, 1);

    /* An update without tuples (only counters) still applies to a known id. */
    struct rec y;
    rec_init(&y, 12345, "10.77.1.2", 40000, "10.77.2.2", 80, 6);
    y.r.forward = NULL;
    y.r.reverse = NULL;
    y.r.policy_name = "";
    y.r.application = "";
    y.r.state = MOAT__SESSION_STATE__SESSION_FIN_WAIT;
    y.r.packets_fwd = 10;
    y.r.packets_rev = 8;
    y.r.bytes_fwd = 1200;
    y.r.bytes_rev = 9500;
    y.r.timeout = 30;
    y.r.last_seen_unix_ms = x.r.created_unix_ms + 12000;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_UPDATE, &y, on_event, &ev), 0);
    s = mirror_lookup(&m, 12345);
    assert_int_equal(s->state, MOAT__SESSION_STATE__SESSION_FIN_WAIT);
    assert_string_equal(mirror_name(&m, s->policy_name), "allow-web");
    assert_int_equal(s->fwd_dport, 80);

    /* Close: the event sees the final counters, then the entry is gone. */
    y.r.close_reason = MOAT__CLOSE_REASON__CLOSE_TCP_FIN;
    y.r.state = MOAT__SESSION_STATE__SESSION_CLOSED;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CLOSE, &y, on_event, &ev), 0);
    assert_int_equal(ev.closes, 1);
    assert_int_equal(ev.last_pkts_rev, 8);
    assert_string_equal(ev.last_line,
                        "RT_FLOW_SESSION_CLOSE: session closed 10.77.1.2/40000->10.77.2.2/80 0x6 "
                        "policy allow-web trust->untrust id 12345 reason tcp-fin packets 10/8 "
                        "bytes 1200/9500 duration 12s application junos-http in fw0 out fw1 "
                        "reply 10.77.2.2/80->10.77.1.2/40000");
    assert_null(mirror_lookup(&m, 12345));
    assert_int_equal(m.count, 0);
    assert_int_equal(m.ctr.closed[MOAT__CLOSE_REASON__CLOSE_TCP_FIN], 1);
    assert_int_equal(m.ctr.created, 1);
    mirror_free(&m);
}

static void test_unknown_and_malformed(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 10), 0);
    struct events ev = {0};
    struct rec x;
    rec_init(&x, 7, "fd00:77:1::2", 5555, "fd00:77:2::2", 53, 17);
    /* An update for a session the mirror never saw is inserted (no create event). */
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_UPDATE, &x, on_event, &ev), 0);
    assert_int_equal(m.count, 1);
    assert_int_equal(ev.creates, 0);
    assert_int_equal(m.ctr.update_unknown, 1);
    assert_int_equal(mirror_lookup(&m, 7)->family, 6);
    /* A close for an unknown id is counted, and still logged from the record. */
    struct rec z;
    rec_init(&z, 99, "10.0.0.1", 1, "10.0.0.2", 2, 6);
    z.r.close_reason = MOAT__CLOSE_REASON__CLOSE_AGED;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CLOSE, &z, on_event, &ev), 0);
    assert_int_equal(m.ctr.close_unknown, 1);
    assert_int_equal(ev.closes, 1);
    assert_int_equal(m.ctr.closed[MOAT__CLOSE_REASON__CLOSE_AGED], 1);
    /* Records without usable tuples can't be inserted. */
    struct rec bad;
    rec_init(&bad, 100, "10.0.0.1", 1, "10.0.0.2", 2, 6);
    bad.fwd.src.len = 5;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &bad, on_event, &ev), 0);
    assert_null(mirror_lookup(&m, 100));
    assert_int_equal(m.ctr.malformed, 1);
    Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT;
    d.kind = MOAT__DELTA_KIND__DELTA_CREATE;
    assert_int_equal(mirror_apply_delta(&m, &d, NULL, NULL), 0);
    assert_int_equal(m.ctr.malformed, 2);
    mirror_free(&m);
}

static void test_capacity(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 3), 0);
    struct rec x;
    for (uint64_t id = 1; id <= 5; id++) {
        rec_init(&x, id, "10.77.1.2", (uint16_t)(1000 + id), "10.77.2.2", 80, 6);
        assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL), 0);
    }
    assert_int_equal(m.count, 3);
    assert_int_equal(m.ctr.overflow, 2);
    assert_int_equal(m.ctr.created, 3);
    assert_null(mirror_lookup(&m, 4));
    /* A close makes room again. */
    rec_init(&x, 2, "10.77.1.2", 1002, "10.77.2.2", 80, 6);
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CLOSE, &x, NULL, NULL), 0);
    rec_init(&x, 6, "10.77.1.2", 1006, "10.77.2.2", 80, 6);
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL), 0);
    assert_non_null(mirror_lookup(&m, 6));
    assert_int_equal(m.count, 3);
    /* A lower maximum keeps what is there and refuses new ones. */
    mirror_set_max(&m, 2);
    rec_init(&x, 7, "10.77.1.2", 1007, "10.77.2.2", 80, 6);
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL), 0);
    assert_int_equal(m.count, 3);
    assert_int_equal(m.ctr.overflow, 3);
    mirror_free(&m);
}

static void test_reannounced_replaces(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 0), 0);
    struct rec x;
    struct events ev = {0};
    rec_init(&x, 1, "10.77.1.2", 40000, "10.77.2.2", 80, 6);
    apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, on_event, &ev);
    /* A restarted helper re-announces the same flow (same zone and tuple) under a new id:
     * the entry is replaced, and it is not a new session (no second session-init line). */
    rec_init(&x, 1000001, "10.77.1.2", 40000, "10.77.2.2", 80, 6);
    apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, on_event, &ev);
    assert_int_equal(ev.creates, 1);
    assert_int_equal(m.ctr.created, 1);
    assert_int_equal(m.count, 1);
    assert_null(mirror_lookup(&m, 1));
    assert_non_null(mirror_lookup(&m, 1000001));
    assert_int_equal(m.ctr.replaced, 1);
    /* The same tuple in another zone is another session. */
    rec_init(&x, 5, "10.77.1.2", 40000, "10.77.2.2", 80, 6);
    x.r.from_zone = 3;
    apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
    assert_int_equal(m.count, 2);
    mirror_free(&m);
}

static void test_batches(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 0), 0);
    struct rec x[3];
    Moat__SessionDelta d[3];
    Moat__SessionDelta *dp[3];
    for (int i = 0; i < 3; i++) {
        rec_init(&x[i], (uint64_t)i + 1, "10.77.1.2", (uint16_t)(2000 + i), "10.77.2.2", 443, 6);
        moat__session_delta__init(&d[i]);
        d[i].kind = MOAT__DELTA_KIND__DELTA_CREATE;
        d[i].session = &x[i].r;
        dp[i] = &d[i];
    }
    d[2].kind = MOAT__DELTA_KIND__DELTA_CLOSE;
    d[2].session = &x[0].r; /* closes the first one, in order */
    Moat__SessionDeltaBatch b = MOAT__SESSION_DELTA_BATCH__INIT;
    b.seq = 0;
    b.n_deltas = 3;
    b.deltas = dp;
    b.dropped = 4;
    assert_int_equal(mirror_apply_batch(&m, &b, NULL, NULL), 0);
    assert_int_equal(m.count, 1);
    assert_non_null(mirror_lookup(&m, 2));
    assert_int_equal(m.ctr.batches, 1);
    assert_int_equal(m.ctr.deltas, 3);
    assert_int_equal(m.ctr.helper_dropped, 4);
    /* seq 1 and 2 are missing. */
    b.seq = 3;
    b.n_deltas = 0;
    b.dropped = 0;
    mirror_apply_batch(&m, &b, NULL, NULL);
    assert_int_equal(m.ctr.batch_gaps, 2);
    /* A new helper starts again at 0: no gap. */
    mirror_reset_seq(&m);
    b.seq = 0;
    mirror_apply_batch(&m, &b, NULL, NULL);
    assert_int_equal(m.ctr.batch_gaps, 2);
    mirror_free(&m);
}

/* ---- filters ---- */

static const char filter_conf[] =
    "interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } }\n"
    "  fw1 { unit 0 { family inet { address 10.77.2.1/24; } } } }\n"
    "security { zones { security-zone trust { interfaces { fw0; } }\n"
    "  security-zone untrust { interfaces { fw1; } } } }\n";

static struct moat_config *filter_cfg(void)
{
    struct moat_config *cfg;
    struct config_error err;
    int rc = config_load_string(filter_conf, "filter.conf", &cfg, &err);
    if (rc) {
        char msg[600];
        config_error_format(&err, msg, sizeof(msg));
        fail_msg("%s", msg);
    }
    return cfg;
}

static int parse(const char *line, const struct moat_config *cfg, struct mirror_filter *f,
                 char *err, size_t errlen)
{
    char buf[512];
    const char *args[32];
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 32;
         t = strtok_r(NULL, " ", &save))
        args[n++] = t;
    return mirror_filter_parse(args, n, cfg, f, err, errlen);
}

static void fill(struct mirror *m)
{
    struct rec x;
    rec_init(&x, 1, "10.77.1.2", 40000, "10.77.2.2", 80, 6);
    apply(m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
    rec_init(&x, 2, "10.77.1.3", 40001, "10.77.2.2", 443, 6);
    apply(m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
    rec_init(&x, 3, "10.77.1.2", 5353, "10.77.2.9", 53, 17);
    x.r.state = MOAT__SESSION_STATE__SESSION_NEW;
    apply(m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
    rec_init(&x, 4, "10.77.2.2", 7, "10.77.1.2", 0, 1);
    x.r.from_zone = 2;
    x.r.to_zone = 1;
    x.r.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    apply(m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
    rec_init(&x, 5, "fd00:77:1::2", 40000, "fd00:77:2::2", 22, 6);
    x.r.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    apply(m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
}

static size_t count_ids(const struct mirror *m, const char *filter, const struct moat_config *cfg,
                        uint64_t *first)
{
    struct mirror_filter f;
    char err[256];
    int rc = parse(filter, cfg, &f, err, sizeof(err));
    if (rc)
        fail_msg("filter \"%s\" refused: %s", filter, err);
    uint64_t *ids;
    size_t n;
    assert_int_equal(mirror_collect_ids(m, &f, &ids, &n), 0);
    if (first && n)
        *first = ids[0];
    free(ids);
    return n;
}

static void test_filters(void **state)
{
    (void)state;
    struct moat_config *cfg = filter_cfg();
    struct mirror m;
    assert_int_equal(mirror_init(&m, 0), 0);
    fill(&m);
    uint64_t id = 0;
    assert_int_equal(count_ids(&m, "", cfg, NULL), 5);
    assert_int_equal(count_ids(&m, "source-prefix 10.77.1.0/24", cfg, NULL), 3);
    assert_int_equal(count_ids(&m, "source-prefix 10.77.1.2", cfg, NULL), 2);
    assert_int_equal(
        count_ids(&m, "destination-prefix 10.77.2.2/32 destination-port 443", cfg, &id), 1);
    assert_int_equal(id, 2);
    assert_int_equal(count_ids(&m, "protocol udp", cfg, &id), 1);
    assert_int_equal(id, 3);
    assert_int_equal(count_ids(&m, "protocol 1", cfg, &id), 1);
    assert_int_equal(id, 4);
    assert_int_equal(count_ids(&m, "protocol icmp", cfg, NULL), 1);
    assert_int_equal(count_ids(&m, "source-port 40000", cfg, NULL), 2);
    assert_int_equal(count_ids(&m, "source-port 40000 source-prefix fd00:77:1::/48", cfg, &id), 1);
    assert_int_equal(id, 5);
    /* zone: either side. */
    assert_int_equal(count_ids(&m, "zone untrust", cfg, NULL), 5);
    assert_int_equal(count_ids(&m, "session-identifier 3", cfg, &id), 1);
    assert_int_equal(count_ids(&m, "destination-prefix 0.0.0.0/0", cfg, NULL), 4);
    assert_int_equal(count_ids(&m, "destination-prefix 192.0.2.0/24", cfg, NULL), 0);

    struct mirror_filter f;
    char err[256];
    assert_int_equal(parse("zone dmz", cfg, &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "zone \"dmz\" is not a security zone"));
    assert_int_equal(parse("source-port 70000", cfg, &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a port number"));
    assert_int_equal(parse("protocol sctpx", cfg, &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "protocol \"sctpx\" is unknown"));
    assert_int_equal(parse("source-prefix 10.1.1.300", cfg, &f, err, sizeof(err)), -EINVAL);
    assert_int_equal(parse("source-prefix 10.0.0.0/33", cfg, &f, err, sizeof(err)), -EINVAL);
    assert_int_equal(parse("destination-port", cfg, &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    assert_int_equal(parse("protocol tcp protocol udp", cfg, &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "given twice"));
    assert_int_equal(parse("port 80", cfg, &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown session filter \"port\""));
    mirror_free(&m);
    config_free(cfg);
}

static void test_render(void **state)
{
    (void)state;
    struct moat_config *cfg = filter_cfg();
    struct mirror m;
    assert_int_equal(mirror_init(&m, 0), 0);
    fill(&m);
    struct mirror_filter f;
    char err[256];
    assert_int_equal(parse("destination-port 80", cfg, &f, err, sizeof(err)), 0);
    struct strbuf o;
    strbuf_init(&o);
    /* 10 s after the last packet of a 20 s timeout: 10 s remain. */
    mirror_render_sessions(&m, &f, &test_names, 1700000010000ull, false, &o);
    assert_string_equal(strbuf_str(&o),
                        "Session ID: 1, Policy name: allow-web/2, State: syn-sent, Timeout: 10, "
                        "Zones: trust -> untrust, Application: junos-http\n"
                        "  In: 10.77.1.2/40000 --> 10.77.2.2/80;tcp, If: fw0, Pkts: 1, Bytes: 60\n"
                        "  Out: 10.77.2.2/80 --> 10.77.1.2/40000;tcp, If: fw1, Pkts: 0, Bytes: 0\n"
                        "Total sessions: 1\n");
    strbuf_free(&o);

    strbuf_init(&o);
    mirror_render_sessions(&m, NULL, &test_names, 1700000010000ull, true, &o);
    const char *j = strbuf_str(&o);
    assert_non_null(strstr(j, "\"total\":5,\"shown\":5}"));
    assert_non_null(strstr(j, "{\"id\":1,\"policy\":\"allow-web\""));
    assert_non_null(strstr(j, "\"in\":{\"source\":\"10.77.1.2\",\"source_port\":40000,"
                              "\"destination\":\"10.77.2.2\",\"destination_port\":80,"
                              "\"interface\":\"fw0\",\"packets\":1,\"bytes\":60}"));
    assert_non_null(strstr(j, "\"source\":\"fd00:77:1::2\""));
    /* In id order. */
    assert_true(strstr(j, "\"id\":1,") < strstr(j, "\"id\":2,"));
    assert_true(strstr(j, "\"id\":4,") < strstr(j, "\"id\":5,"));
    strbuf_free(&o);

    strbuf_init(&o);
    mirror_render_summary(&m, NULL, false, &o);
    const char *t = strbuf_str(&o);
    assert_non_null(strstr(t, "Total sessions: 5\n"));
    assert_non_null(strstr(t, "Sessions by protocol: tcp 3, udp 1, icmp 1, icmp6 0, other 0\n"));
    assert_non_null(strstr(t, "Sessions by state: new 1, syn-sent 2, syn-recv 0, established 2,"));
    assert_non_null(strstr(t, "Sessions created: 5, closed: 0"));
    strbuf_free(&o);

    strbuf_init(&o);
    assert_int_equal(parse("protocol tcp", cfg, &f, err, sizeof(err)), 0);
    mirror_render_summary(&m, &f, true, &o);
    assert_non_null(strstr(strbuf_str(&o), "{\"total\":3,"));
    assert_non_null(strstr(strbuf_str(&o), "\"established\":1"));
    strbuf_free(&o);
    mirror_free(&m);
    config_free(cfg);
}

static void test_expire(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 0), 0);
    struct rec x;
    rec_init(&x, 1, "10.77.1.2", 1, "10.77.2.2", 2, 17);
    x.r.timeout = 60;
    apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
    rec_init(&x, 2, "10.77.1.2", 3, "10.77.2.2", 4, 6);
    x.r.timeout = 1800;
    apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
    uint64_t t0 = x.r.last_seen_unix_ms;
    /* 60 s timeout + 120 s grace. */
    assert_int_equal(mirror_expire(&m, t0 + 179000), 0);
    assert_int_equal(mirror_expire(&m, t0 + 181000), 1);
    assert_null(mirror_lookup(&m, 1));
    /* 1800 s timeout + 1800 s grace. */
    assert_int_equal(mirror_expire(&m, t0 + 3599000), 0);
    assert_int_equal(mirror_expire(&m, t0 + 3601000), 1);
    assert_int_equal(m.count, 0);
    assert_int_equal(m.ctr.expired, 2);
    mirror_free(&m);
}

static void test_many(void **state)
{
    (void)state;
    struct mirror m;
    const uint32_t n = 200000;
    assert_int_equal(mirror_init(&m, n), 0);
    struct rec x;
    for (uint32_t i = 0; i < n; i++) {
        char src[32];
        snprintf(src, sizeof(src), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        rec_init(&x, ((uint64_t)(i % 4) << 48) | i, src, (uint16_t)(i % 60000 + 1024), "10.77.2.2",
                 80, 6);
        assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL), 0);
    }
    assert_int_equal(m.count, n);
    assert_true(m.n_buckets >= n);
    /* Every one found; close the even ones; the odd ones stay findable. */
    for (uint32_t i = 0; i < n; i++) {
        const struct mirror_session *s = mirror_lookup(&m, ((uint64_t)(i % 4) << 48) | i);
        assert_non_null(s);
        if (i % 2 == 0) {
            Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT;
            Moat__SessionRecord r = MOAT__SESSION_RECORD__INIT;
            r.id = s->id;
            d.kind = MOAT__DELTA_KIND__DELTA_CLOSE;
            d.session = &r;
            assert_int_equal(mirror_apply_delta(&m, &d, NULL, NULL), 0);
        }
    }
    assert_int_equal(m.count, n / 2);
    for (uint32_t i = 0; i < n; i++)
        assert_true((mirror_lookup(&m, ((uint64_t)(i % 4) << 48) | i) != NULL) == (i % 2 == 1));
    /* Freed slots are reused: the same number of creates needs no new chunk. */
    uint32_t slots = m.n_slots;
    for (uint32_t i = 0; i < n / 2; i++) {
        rec_init(&x, (1ull << 50) | i, "192.0.2.1", (uint16_t)(i % 60000 + 1), "10.77.2.3",
                 (uint16_t)(i / 60000 + 1), 17);
        assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL), 0);
    }
    assert_int_equal(m.n_slots, slots);
    assert_int_equal(m.count, n);
    mirror_free(&m);
}

static void test_to_record(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 0), 0);
    struct rec x;
    rec_init(&x, 77, "fd00:77:1::2", 40000, "fd00:77:2::2", 443, 6);
    x.r.worker = 1;
    x.r.owner_rg = 2;
    apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
    struct mirror_record_buf rb;
    mirror_to_record(&m, mirror_lookup(&m, 77), &rb);
    /* Packs and unpacks to the record the helper sent. */
    uint8_t buf[512];
    size_t len = moat__session_record__pack(&rb.rec, buf);
    Moat__SessionRecord *r = moat__session_record__unpack(NULL, len, buf);
    assert_non_null(r);
    assert_int_equal(r->id, 77);
    assert_int_equal(r->forward->src.len, 16);
    assert_memory_equal(r->forward->src.data, x.a[0], 16);
    assert_int_equal(r->forward->dport, 443);
    assert_int_equal(r->reverse->sport, 443);
    assert_string_equal(r->policy_name, "allow-web");
    assert_string_equal(r->application, "junos-http");
    assert_int_equal(r->worker, 1);
    assert_int_equal(r->owner_rg, 2);
    assert_int_equal(r->state, MOAT__SESSION_STATE__SESSION_SYN_SENT);
    moat__session_record__free_unpacked(r, NULL);
    mirror_free(&m);
}

/* A proxied session's SYN-proxy numbers (SYN cookies): kept on create, changed by an update
 * (the delta, once the server answered), given back in the record the seeding and the
 * handover read. */
static void test_proxied_numbers(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 0), 0);
    struct rec x;
    rec_init(&x, 78, "10.77.2.2", 40000, "10.77.2.1", 80, 6);
    x.r.sp_phase = 1;
    x.r.sp_cookie = 0xc0010001u;
    x.r.sp_client_isn = 0x11223344u;
    x.r.sp_window = 64240;
    apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL);
    const struct mirror_session *ms = mirror_lookup(&m, 78);
    assert_non_null(ms);
    assert_int_equal(ms->sp_phase, 1);
    assert_int_equal(ms->sp_cookie, 0xc0010001u);
    assert_int_equal(ms->sp_delta, 0);
    x.r.sp_phase = 2;
    x.r.sp_delta = 0xfffffff0u;
    x.r.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    apply(&m, MOAT__DELTA_KIND__DELTA_UPDATE, &x, NULL, NULL);
    struct mirror_record_buf rb;
    mirror_to_record(&m, mirror_lookup(&m, 78), &rb);
    assert_int_equal(rb.rec.sp_phase, 2);
    assert_int_equal(rb.rec.sp_cookie, 0xc0010001u);
    assert_int_equal(rb.rec.sp_client_isn, 0x11223344u);
    assert_int_equal(rb.rec.sp_delta, 0xfffffff0u);
    assert_int_equal(rb.rec.sp_window, 64240);
    /* A phase out of range is not taken. */
    x.r.sp_phase = 9;
    apply(&m, MOAT__DELTA_KIND__DELTA_UPDATE, &x, NULL, NULL);
    assert_int_equal(mirror_lookup(&m, 78)->sp_phase, 0);
    mirror_free(&m);
}

/* Sets the reverse tuple of x (replies as they arrive). */
static void rec_reverse(struct rec *x, const char *src, uint16_t sport, const char *dst,
                        uint16_t dport)
{
    int af = strchr(src, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(af, src, x->a[2]), 1);
    assert_int_equal(inet_pton(af, dst, x->a[3]), 1);
    x->rev.sport = sport;
    x->rev.dport = dport;
}

static void test_nat(void **state)
{
    (void)state;
    struct moat_config *cfg = filter_cfg();
    struct mirror m;
    assert_int_equal(mirror_init(&m, 0), 0);
    struct events ev = {0};
    struct rec x;
    /* 1: source NAT to fw1's address (rule 2, interface). */
    rec_init(&x, 1, "10.77.1.2", 40000, "10.77.2.2", 80, 6);
    rec_reverse(&x, "10.77.2.2", 80, "10.77.2.1", 21013);
    x.r.snat_rule_id = 2;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, on_event, &ev), 0);
    assert_non_null(strstr(ev.last_line, "reply 10.77.2.2/80->10.77.2.1/21013 source-nat-rule "
                                         "lan-out/masquerade"));
    assert_null(strstr(ev.last_line, "destination-nat-rule"));
    /* 2: destination NAT 10.77.2.1:80 -> 10.77.1.2:8080 (rule 1, pool web). */
    rec_init(&x, 2, "10.77.2.2", 5555, "10.77.2.1", 80, 6);
    rec_reverse(&x, "10.77.1.2", 8080, "10.77.2.2", 5555);
    x.r.from_zone = 2;
    x.r.to_zone = 1;
    x.r.in_ifindex = 12;
    x.r.out_ifindex = 11;
    x.r.dnat_rule_id = 1;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, on_event, &ev), 0);
    assert_non_null(strstr(ev.last_line, " destination-nat-rule web-in/http"));
    assert_null(strstr(ev.last_line, "source-nat-rule"));
    /* 3: not translated. 4: ICMP echo, not translated. 5: ICMP echo, source NAT with a new id. */
    rec_init(&x, 3, "10.77.1.2", 40001, "10.77.2.2", 443, 6);
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, on_event, &ev), 0);
    assert_null(strstr(ev.last_line, "-nat-rule"));
    rec_init(&x, 4, "10.77.1.2", 77, "10.77.2.2", 0, 1);
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL), 0);
    rec_init(&x, 5, "10.77.1.2", 78, "10.77.2.2", 0, 1);
    rec_reverse(&x, "10.77.2.2", 1030, "10.77.2.1", 0);
    x.r.snat_rule_id = 2;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL), 0);
    assert_int_equal(mirror_session_nat(mirror_lookup(&m, 1)), MIRROR_NAT_SOURCE);
    assert_int_equal(mirror_session_nat(mirror_lookup(&m, 2)), MIRROR_NAT_DESTINATION);
    assert_int_equal(mirror_session_nat(mirror_lookup(&m, 3)), 0);
    assert_int_equal(mirror_session_nat(mirror_lookup(&m, 4)), 0);
    assert_int_equal(mirror_session_nat(mirror_lookup(&m, 5)), MIRROR_NAT_SOURCE);

    /* The filter "nat" keeps the translated ones, with other filters too. */
    assert_int_equal(count_ids(&m, "nat", cfg, NULL), 3);
    assert_int_equal(count_ids(&m, "nat protocol tcp", cfg, NULL), 2);
    uint64_t id = 0;
    assert_int_equal(count_ids(&m, "destination-port 80 nat source-prefix 10.77.1.0/24", cfg, &id),
                     1);
    assert_int_equal(id, 1);
    struct mirror_filter f;
    char err[256];
    assert_int_equal(parse("nat nat", cfg, &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "\"nat\" is given twice"));

    /* SRX style: In as the initiator sent it, Out as replies arrive, then what was translated. */
    struct strbuf o;
    strbuf_init(&o);
    assert_int_equal(parse("nat protocol tcp", cfg, &f, err, sizeof(err)), 0);
    mirror_render_sessions(&m, &f, &test_names, 1700000010000ull, false, &o);
    assert_string_equal(
        strbuf_str(&o),
        "Session ID: 1, Policy name: allow-web/2, State: syn-sent, Timeout: 10, Zones: trust -> "
        "untrust, Application: junos-http\n"
        "  In: 10.77.1.2/40000 --> 10.77.2.2/80;tcp, If: fw0, Pkts: 1, Bytes: 60\n"
        "  Out: 10.77.2.2/80 --> 10.77.2.1/21013;tcp, If: fw1, Pkts: 0, Bytes: 0\n"
        "  NAT: source 10.77.1.2/40000 -> 10.77.2.1/21013, rule lan-out/masquerade (interface)\n"
        "Session ID: 2, Policy name: allow-web/2, State: syn-sent, Timeout: 10, Zones: untrust -> "
        "trust, Application: junos-http\n"
        "  In: 10.77.2.2/5555 --> 10.77.2.1/80;tcp, If: fw1, Pkts: 1, Bytes: 60\n"
        "  Out: 10.77.1.2/8080 --> 10.77.2.2/5555;tcp, If: fw0, Pkts: 0, Bytes: 0\n"
        "  NAT: destination 10.77.2.1/80 -> 10.77.1.2/8080, rule web-in/http (pool web)\n"
        "Total sessions: 2\n");
    strbuf_free(&o);
    strbuf_init(&o);
    mirror_render_sessions(&m, NULL, &test_names, 1700000010000ull, true, &o);
    const char *j = strbuf_str(&o);
    assert_non_null(strstr(j, "\"nat\":{\"source\":{\"address\":\"10.77.1.2\",\"port\":40000,"
                              "\"translated_address\":\"10.77.2.1\",\"translated_port\":21013,"
                              "\"rule_id\":2,\"rule\":\"lan-out/masquerade\",\"action\":"
                              "\"interface\",\"pool_id\":0},\"destination\":null}"));
    assert_non_null(strstr(j, "\"nat\":{\"source\":null,\"destination\":{\"address\":"
                              "\"10.77.2.1\",\"port\":80,\"translated_address\":\"10.77.1.2\","
                              "\"translated_port\":8080,\"rule_id\":1,\"rule\":\"web-in/http\","
                              "\"action\":\"pool web\"}}"));
    /* ICMP: the id is the port. */
    assert_non_null(strstr(j, "\"address\":\"10.77.1.2\",\"port\":78,\"translated_address\":"
                              "\"10.77.2.1\",\"translated_port\":1030"));
    assert_non_null(strstr(j, "{\"id\":3,"));
    const char *s3 = strstr(j, "{\"id\":3,");
    const char *s4 = strstr(j, "{\"id\":4,");
    assert_non_null(s4);
    /* Session 3 is not translated: its nat is null. */
    const char *n3 = strstr(s3, "\"nat\":");
    assert_true(n3 && n3 < s4 && strncmp(n3, "\"nat\":null", 10) == 0);
    strbuf_free(&o);

    /* The summary counts them. */
    strbuf_init(&o);
    mirror_render_summary(&m, NULL, false, &o);
    assert_non_null(strstr(strbuf_str(&o),
                           "NAT sessions: 3 (source translated 2, destination translated 1)\n"));
    strbuf_free(&o);
    strbuf_init(&o);
    mirror_render_summary(&m, NULL, true, &o);
    assert_non_null(
        strstr(strbuf_str(&o), "\"nat\":{\"sessions\":3,\"source\":2,\"destination\":1}"));
    strbuf_free(&o);

    /* An update keeps them; the record that re-seeds a helper carries them. */
    rec_init(&x, 1, "10.77.1.2", 40000, "10.77.2.2", 80, 6);
    rec_reverse(&x, "10.77.2.2", 80, "10.77.2.1", 21013);
    x.r.snat_rule_id = 2;
    x.r.snat_pool_id = 0;
    x.r.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_UPDATE, &x, NULL, NULL), 0);
    struct mirror_record_buf rb;
    mirror_to_record(&m, mirror_lookup(&m, 1), &rb);
    assert_int_equal(rb.rec.snat_rule_id, 2);
    assert_int_equal(rb.rec.dnat_rule_id, 0);
    assert_int_equal(rb.rec.reverse->dport, 21013);
    rec_init(&x, 9, "10.77.1.9", 1000, "10.77.2.2", 80, 17);
    rec_reverse(&x, "10.77.2.2", 80, "198.51.100.7", 2000);
    x.r.snat_rule_id = 5;
    x.r.snat_pool_id = 3;
    x.r.dnat_rule_id = 4;
    assert_int_equal(apply(&m, MOAT__DELTA_KIND__DELTA_CREATE, &x, NULL, NULL), 0);
    mirror_to_record(&m, mirror_lookup(&m, 9), &rb);
    assert_int_equal(rb.rec.snat_rule_id, 5);
    assert_int_equal(rb.rec.snat_pool_id, 3);
    assert_int_equal(rb.rec.dnat_rule_id, 4);
    /* A rule the names do not know shows as "-". */
    char line[1024];
    mirror_format_log(&m, MIRROR_EV_CREATE, mirror_lookup(&m, 9), &test_names, line, sizeof(line));
    assert_non_null(strstr(line, " source-nat-rule -"));
    mirror_free(&m);
    config_free(cfg);
}

/* A compact create (SessionDeltaBatch.created) of a UDP session 10.0.0.1:sport -> 10.0.0.2:53. */
static void compact_rec(struct sessrec *r, uint64_t id, uint16_t sport, uint32_t order)
{
    memset(r, 0, sizeof(*r));
    r->id = id;
    r->family = 4;
    r->proto = 17;
    inet_pton(AF_INET, "10.0.0.1", r->fwd_src);
    inet_pton(AF_INET, "10.0.0.2", r->fwd_dst);
    memcpy(r->rev_src, r->fwd_dst, 4);
    memcpy(r->rev_dst, r->fwd_src, 4);
    r->fwd_sport = r->rev_dport = sport;
    r->fwd_dport = r->rev_sport = 53;
    r->from_zone = 1;
    r->to_zone = 2;
    r->policy_name = 2; /* names[1] */
    r->application = 1; /* names[0] */
    r->state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    r->timeout = 60;
    r->order = order;
}

/* Compact creates: names from the batch's list, each applied at its place among the deltas
 * (a close of the same key before it stays before it), an order past the last delta applies
 * after them; a blob that is not whole records is counted malformed and ignored. */
static void test_compact_creates(void **state)
{
    (void)state;
    struct mirror m;
    struct events ev;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(mirror_init(&m, 100), 0);
    /* Session 1 (sport 1000) is known; the batch closes it and the helper installs the same
     * key again as session 2, after the close, then session 3 after the last delta. */
    struct sessrec c[3];
    compact_rec(&c[0], 1, 1000, 0);
    compact_rec(&c[1], 2, 1000, 1);
    compact_rec(&c[2], 3, 2000, 7);
    char *names[2] = {"junos-dns", "allow-dns"};
    Moat__SessionDeltaBatch b = MOAT__SESSION_DELTA_BATCH__INIT;
    b.seq = 1;
    b.created.data = (uint8_t *)&c[0];
    b.created.len = sizeof(c[0]);
    b.names = names;
    b.n_names = 2;
    assert_int_equal(mirror_apply_batch(&m, &b, on_event, &ev), 0);
    const struct mirror_session *s = mirror_lookup(&m, 1);
    assert_non_null(s);
    assert_string_equal(mirror_name(&m, s->policy_name), "allow-dns");
    assert_string_equal(mirror_name(&m, s->application), "junos-dns");
    assert_int_equal(s->fwd_sport, 1000);
    assert_int_equal(s->rev_sport, 53);
    assert_int_equal(s->timeout, 60);

    struct rec close1;
    rec_init(&close1, 1, "10.0.0.1", 1000, "10.0.0.2", 53, 17);
    close1.r.close_reason = MOAT__CLOSE_REASON__CLOSE_CLEARED;
    Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT;
    d.kind = MOAT__DELTA_KIND__DELTA_CLOSE;
    d.session = &close1.r;
    Moat__SessionDelta *dp[1] = {&d};
    b.seq = 2;
    b.deltas = dp;
    b.n_deltas = 1;
    b.created.data = (uint8_t *)&c[1];
    b.created.len = 2 * sizeof(c[0]);
    assert_int_equal(mirror_apply_batch(&m, &b, on_event, &ev), 0);
    assert_null(mirror_lookup(&m, 1));
    assert_non_null(mirror_lookup(&m, 2));
    assert_non_null(mirror_lookup(&m, 3));
    assert_int_equal(m.count, 2);
    assert_int_equal(m.ctr.created, 3);
    assert_int_equal(m.ctr.closed[MOAT__CLOSE_REASON__CLOSE_CLEARED], 1);
    assert_int_equal(m.ctr.replaced, 0);
    assert_int_equal(m.ctr.close_unknown, 0);
    assert_int_equal(m.ctr.deltas, 4);
    assert_int_equal(ev.creates, 3);
    assert_int_equal(ev.closes, 1);

    /* Not whole records: nothing of it. */
    compact_rec(&c[0], 4, 3000, 0);
    b.seq = 3;
    b.n_deltas = 0;
    b.created.data = (uint8_t *)&c[0];
    b.created.len = sizeof(c[0]) - 1;
    uint64_t malformed = m.ctr.malformed;
    assert_int_equal(mirror_apply_batch(&m, &b, on_event, &ev), 0);
    assert_null(mirror_lookup(&m, 4));
    assert_int_equal(m.ctr.malformed, malformed + 1);
    mirror_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_update_close),
        cmocka_unit_test(test_unknown_and_malformed),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_reannounced_replaces),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_expire),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_to_record),
        cmocka_unit_test(test_proxied_numbers),
        cmocka_unit_test(test_nat),
        cmocka_unit_test(test_compact_creates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
