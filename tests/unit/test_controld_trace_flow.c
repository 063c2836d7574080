/* SPDX-License-Identifier: MIT */
/*
 * test_controld_trace_flow.c — `moatctl trace flow`: the words (each filter, defaults, limits, and
 * the sentences for bad ones), and the rendering of an event into one line per step from the
 * counters that moved: a permitted source-translated new flow, its reply through the NAT
 * reverse index, a policy deny, no route, an unresolved next hop; and the JSON form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "trace_flow.h"

static uint32_t ifindex_of(void *arg, const char *name)
{
    (void)arg;
    return strcmp(name, "fw0") == 0 ? 7 : strcmp(name, "fw1") == 0 ? 8 : 0;
}

static int parse(const char *words, struct trace_request *req, char *err, size_t errlen)
{
    static char buf[512];
    const char *args[32];
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", words);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 32;
         t = strtok_r(NULL, " ", &save))
        args[n++] = t;
    return trace_parse(args, n, ifindex_of, NULL, req, err, errlen);
}

static void test_parse(void **state)
{
    (void)state;
    struct trace_request q;
    char err[300];
    assert_int_equal(parse("", &q, err, sizeof(err)), 0);
    assert_int_equal(q.count, TRACE_DEFAULT_COUNT);
    assert_int_equal(q.seconds, TRACE_DEFAULT_SECONDS);
    assert_int_equal(q.filter.family, 0);
    assert_int_equal(parse("source-prefix 10.77.1.0/24 destination-prefix 10.77.2.2 "
                           "source-port 40000 destination-port 9000 protocol udp interface fw1 "
                           "both-directions count 5 duration 7",
                           &q, err, sizeof(err)),
                     0);
    assert_int_equal(q.filter.family, 4);
    assert_int_equal(q.filter.src.len, 4);
    assert_int_equal(q.filter.src_len, 24);
    assert_int_equal(q.filter.dst_len, 32);
    assert_int_equal(q.filter.src_port, 40000);
    assert_int_equal(q.filter.dst_port, 9000);
    assert_int_equal(q.filter.protocol, IPPROTO_UDP);
    assert_int_equal(q.filter.ifindex, 8);
    assert_true(q.filter.either_way);
    assert_int_equal(q.count, 5);
    assert_int_equal(q.seconds, 7);
    assert_int_equal(
        parse("destination-prefix fd00:77:2::/64 protocol icmp6", &q, err, sizeof(err)), 0);
    assert_int_equal(q.filter.family, 6);
    assert_int_equal(q.filter.dst.len, 16);
    assert_int_equal(q.filter.protocol, IPPROTO_ICMPV6);

    static const struct {
        const char *words, *msg;
    } bad[] = {
        {"destination-port 70000", "destination-port \"70000\" is not a port 1..65535"},
        {"source-port 0", "source-port \"0\" is not a port"},
        {"source-prefix 10.1.2.300", "source-prefix \"10.1.2.300\" is not an IPv4 or IPv6"},
        {"source-prefix 10.0.0.0/33", "is not an IPv4 or IPv6"},
        {"protocol sctpx", "protocol \"sctpx\" is not tcp, udp"},
        {"interface eth9", "interface \"eth9\" is not one Moat manages"},
        {"count 0", "count \"0\" is not a number 1..10000"},
        {"count 10001", "count \"10001\" is not a number"},
        {"duration 0", "duration \"0\" is not a number of seconds"},
        {"count 3 count 4", "trace filter \"count\" is given twice"},
        {"destination-port", "trace filter \"destination-port\" needs a value"},
        {"zone trust", "unknown trace filter \"zone\""},
        {"source-prefix 10.0.0.1 destination-prefix fd00::1", "different families"},
        {"source-prefix 10.0.0.1 protocol icmp6", "icmp6 does not go with IPv4"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(parse(bad[i].words, &q, err, sizeof(err)), -EINVAL);
        if (!strstr(err, bad[i].msg))
            fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].words, err, bad[i].msg);
    }
}

/* ---- rendering ---- */

#define BIT(f) (1ull << (offsetof(struct moat_worker_stats, f) / 8))

static const char *nm_if(void *arg, uint32_t i)
{
    (void)arg;
    return i == 7 ? "fw0" : i == 8 ? "fw1" : NULL;
}
static const char *nm_zone(void *arg, uint32_t z)
{
    (void)arg;
    return z == 1 ? "trust" : z == 2 ? "untrust" : NULL;
}
static const char *nm_rule(void *arg, uint32_t id, char *buf, size_t len)
{
    (void)arg;
    if (id != 2)
        return NULL;
    snprintf(buf, len, "lan-out/masquerade");
    return buf;
}
static const struct trace_names names = {nm_if, nm_zone, nm_rule, NULL};

struct ev {
    Moat__TraceEvent e;
    Moat__FlowKey key, fwd, rev;
    Moat__SessionRecord s;
    uint8_t ks[4], kd[4], fs[4], fd[4], rs[4], rd[4];
    uint8_t head[64];
};

static void key(Moat__FlowKey *k, uint8_t *s, uint8_t *d, const char *src, const char *dst,
                unsigned sp, unsigned dp)
{
    moat__flow_key__init(k);
    inet_pton(AF_INET, src, s);
    inet_pton(AF_INET, dst, d);
    k->src.data = s;
    k->src.len = 4;
    k->dst.data = d;
    k->dst.len = 4;
    k->sport = sp;
    k->dport = dp;
    k->protocol = IPPROTO_UDP;
}

/* An Ethernet + IPv4 + UDP header as sent. */
static void frame(struct ev *v, const char *src, const char *dst, unsigned sp, unsigned dp,
                  unsigned ttl)
{
    uint8_t *h = v->head;
    memset(h, 0, sizeof(v->head));
    memcpy(h, "\x02\x00\x00\x00\x00\x09", 6);
    h[12] = 0x08;
    h[14] = 0x45;
    h[22] = (uint8_t)ttl;
    h[23] = IPPROTO_UDP;
    inet_pton(AF_INET, src, h + 26);
    inet_pton(AF_INET, dst, h + 30);
    h[34] = (uint8_t)(sp >> 8);
    h[35] = (uint8_t)sp;
    h[36] = (uint8_t)(dp >> 8);
    h[37] = (uint8_t)dp;
    v->e.out_head.data = h;
    v->e.out_head.len = 42;
    v->e.out_len = 50;
}

static void ev_init(struct ev *v)
{
    memset(v, 0, sizeof(*v));
    moat__trace_event__init(&v->e);
    key(&v->key, v->ks, v->kd, "10.77.1.2", "10.77.2.2", 40001, 9000);
    v->e.key = &v->key;
    v->e.in_ifindex = 7;
    v->e.in_zone = 1;
    v->e.ttl = 64;
    v->e.unix_ns = 1795618515525426771ull;
    moat__session_record__init(&v->s);
    key(&v->fwd, v->fs, v->fd, "10.77.1.2", "10.77.2.2", 40001, 9000);
    key(&v->rev, v->rs, v->rd, "10.77.2.2", "10.77.2.1", 9000, 1025);
    v->s.forward = &v->fwd;
    v->s.reverse = &v->rev;
    v->s.id = 0x100001;
    v->s.from_zone = 1;
    v->s.to_zone = 2;
    v->s.snat_rule_id = 2;
    v->s.timeout = 10;
}

static char *render(const struct ev *v, bool json)
{
    struct strbuf o;
    strbuf_init(&o);
    trace_render_event(&v->e, 1, &names, json, &o);
    char *s = strdup(strbuf_str(&o));
    strbuf_free(&o);
    return s;
}

static void want(const char *out, const char *line)
{
    if (!strstr(out, line))
        fail_msg("missing \"%s\" in:\n%s", line, out);
}

static void test_render_new_flow_snat(void **state)
{
    (void)state;
    struct ev v;
    ev_init(&v);
    v.e.verdict = 1;
    v.e.out_ifindex = 8;
    v.e.out_zone = 2;
    v.e.policy_checked = true;
    v.e.policy_name = "allow-out";
    v.e.counters = BIT(session_miss) | BIT(policy_permit) | BIT(sessions_created) |
                   BIT(nat_sessions) | BIT(forwarded);
    v.e.session = &v.s;
    frame(&v, "10.77.2.1", "10.77.2.2", 1025, 9000, 63);
    char *o = render(&v, false);
    want(o, "packet 1  2026-");
    want(o, "in fw0\n");
    want(o, "  shim     redirected to the XSK of fw0 queue 0 (forwarding armed), worker 0\n");
    want(o, "  parse    udp 10.77.1.2:40001 -> 10.77.2.2:9000 ttl 64 from zone trust\n");
    want(o, "  session  miss: a new flow  [session_miss]\n");
    want(o, "  policy   permit by allow-out (trust -> untrust)  [policy_permit]\n");
    want(o, "  session  created 0x100001 (new), timeout 10 s  [sessions_created]\n");
    want(o, "  nat      source 10.77.1.2:40001 -> 10.77.2.1:1025 (rule lan-out/masquerade)  "
            "[nat_sessions]\n");
    want(o, "  fib      egress fw1 (zone untrust), next hop 02:00:00:00:00:09\n");
    want(o, "  tx       queued for fw1  [forwarded]\n");
    want(o, "  result   forwarded: udp 10.77.2.1:1025 -> 10.77.2.2:9000 ttl 63, 50 bytes\n");
    /* The steps come in the order of the packet path. */
    assert_true(strstr(o, "  session  miss") < strstr(o, "  policy"));
    assert_true(strstr(o, "  policy") < strstr(o, "  nat"));
    assert_true(strstr(o, "  nat") < strstr(o, "  fib"));
    assert_true(strstr(o, "  fib") < strstr(o, "  result"));
    free(o);

    o = render(&v, true);
    want(o, "\"counters\":[\"session_miss\",\"policy_permit\",\"sessions_created\","
            "\"nat_sessions\",\"forwarded\"]");
    want(o, "\"verdict\":\"forwarded\"");
    want(o, "\"out_interface\":\"fw1\"");
    want(o, "\"session_id\":1048577}\n");
    assert_int_equal(o[0], '{');
    free(o);
}

static void test_render_reply(void **state)
{
    (void)state;
    struct ev v;
    ev_init(&v);
    key(&v.key, v.ks, v.kd, "10.77.2.2", "10.77.2.1", 9000, 1025);
    v.e.in_ifindex = 8;
    v.e.in_zone = 2;
    v.e.verdict = 1;
    v.e.out_ifindex = 7;
    v.e.counters = BIT(session_hit) | BIT(nat_reverse_hit) | BIT(forwarded);
    v.s.state = 3;
    v.e.session = &v.s;
    frame(&v, "10.77.2.2", "10.77.1.2", 9000, 40001, 63);
    char *o = render(&v, false);
    want(o, "  session  hit: an existing session  [session_hit]\n");
    want(o, "  session  NAT reverse hit: a reply found by its translated tuple");
    want(o, "  session  0x100001 now established, reply direction\n");
    want(o, "  nat      destination 10.77.2.1:1025 -> 10.77.1.2:40001 (undoing source NAT, rule "
            "lan-out/masquerade)\n");
    want(o, "  fib      egress fw0 (zone trust)");
    assert_null(strstr(o, "  policy"));
    free(o);
}

static void test_render_drops(void **state)
{
    (void)state;
    struct ev v;
    ev_init(&v);
    v.e.in_ifindex = 8;
    v.e.in_zone = 2;
    v.e.out_zone = 1;
    v.e.policy_checked = true;
    v.e.policy_name = "";
    v.e.counters = BIT(session_miss) | BIT(policy_deny);
    char *o = render(&v, false);
    want(o, "  policy   deny by default-policy (untrust -> trust)  [policy_deny]\n");
    want(o, "  result   dropped\n");
    free(o);

    ev_init(&v);
    v.e.counters = BIT(session_miss) | BIT(fib_miss);
    o = render(&v, false);
    want(o, "  fib      no route to the destination: dropped  [fib_miss]\n");
    assert_null(strstr(o, "  policy"));
    free(o);

    ev_init(&v);
    static uint8_t nh[4];
    inet_pton(AF_INET, "10.77.2.77", nh);
    v.e.verdict = 3;
    v.e.next_hop.data = nh;
    v.e.next_hop.len = 4;
    v.e.counters = BIT(session_miss) | BIT(policy_permit) | BIT(neigh_miss);
    o = render(&v, false);
    want(o, "[neigh_miss]\n");
    want(o, "  fib      next hop 10.77.2.77 is being resolved");
    want(o, "  result   dropped-neighbour-unresolved\n");
    free(o);

    ev_init(&v);
    v.e.counters = BIT(parse_errors);
    o = render(&v, false);
    want(o, "  parse    the headers do not agree with the shim's metadata: dropped  "
            "[parse_errors]\n");
    free(o);

    ev_init(&v);
    v.e.verdict = 1;
    v.e.counters = BIT(session_hit) | BIT(pending_tx_drops);
    frame(&v, "10.77.1.2", "10.77.2.2", 40001, 9000, 63);
    o = render(&v, false);
    want(o, "  tx       the egress worker's pending queue is full: dropped  [pending_tx_drops]\n");
    want(o, "  result   dropped\n");
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_render_new_flow_snat),
        cmocka_unit_test(test_render_reply),
        cmocka_unit_test(test_render_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
