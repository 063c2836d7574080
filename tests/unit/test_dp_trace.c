/* SPDX-License-Identifier: MIT */
/*
 * test_dp_trace.c — the helper's side of trace flow: filter matching on the shim's metadata
 * (prefixes, ports, protocol, interface, both directions), the packet budget (claims stop and
 * the trace switches off after the last packet, whose record is visible first), a full ring
 * counted as lost, the counters that moved, and the drain into TraceEvents (records, lost,
 * the final "done").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowctl.h"
#include "trace.h"

static struct moat_meta meta4(const char *src, const char *dst, uint16_t sport, uint16_t dport,
                              uint8_t proto, uint32_t ifindex)
{
    struct moat_meta m;
    memset(&m, 0, sizeof(m));
    inet_pton(AF_INET, src, m.src);
    inet_pton(AF_INET, dst, m.dst);
    m.sport = htons(sport);
    m.dport = htons(dport);
    m.proto = proto;
    m.ifindex = ifindex;
    m.magic = MOAT_META_MAGIC;
    return m;
}

static int start(struct dp_trace *tr, uint64_t id, const Moat__TraceFilter *f, uint32_t n)
{
    Moat__TraceStart m = MOAT__TRACE_START__INIT;
    m.id = id;
    m.filter = (Moat__TraceFilter *)f;
    m.max_packets = n;
    return dp_trace_start(tr, &m);
}

static void test_match(void **state)
{
    (void)state;
    struct dp_trace *tr = malloc(sizeof(*tr));
    assert_int_equal(dp_trace_init(tr), 0);
    uint8_t pfx[4];
    inet_pton(AF_INET, "10.77.2.0", pfx);
    Moat__TraceFilter f = MOAT__TRACE_FILTER__INIT;
    f.dst.data = pfx;
    f.dst.len = 4;
    f.dst_len = 24;
    f.protocol = IPPROTO_UDP;
    f.dst_port = 9000;
    assert_int_equal(start(tr, 1, &f, 5), 0);
    assert_true(dp_trace_on(tr));
    struct moat_meta m = meta4("10.77.1.2", "10.77.2.2", 40000, 9000, IPPROTO_UDP, 3);
    assert_true(dp_trace_match(&tr->filter, &m));
    m = meta4("10.77.1.2", "10.77.3.2", 40000, 9000, IPPROTO_UDP, 3); /* other prefix */
    assert_false(dp_trace_match(&tr->filter, &m));
    m = meta4("10.77.1.2", "10.77.2.2", 40000, 9001, IPPROTO_UDP, 3); /* other port */
    assert_false(dp_trace_match(&tr->filter, &m));
    m = meta4("10.77.1.2", "10.77.2.2", 40000, 9000, IPPROTO_TCP, 3); /* other protocol */
    assert_false(dp_trace_match(&tr->filter, &m));
    /* The reply only with both directions. */
    m = meta4("10.77.2.2", "10.77.1.2", 9000, 40000, IPPROTO_UDP, 4);
    assert_false(dp_trace_match(&tr->filter, &m));
    f.either_way = true;
    assert_int_equal(start(tr, 2, &f, 5), 0);
    assert_true(dp_trace_match(&tr->filter, &m));
    /* Interface. */
    f.ifindex = 3;
    assert_int_equal(start(tr, 3, &f, 5), 0);
    assert_false(dp_trace_match(&tr->filter, &m));
    /* Prefix lengths that are not whole bytes; IPv6 metadata never matches an IPv4 filter. */
    Moat__TraceFilter g = MOAT__TRACE_FILTER__INIT;
    uint8_t p2[4];
    inet_pton(AF_INET, "10.77.0.0", p2);
    g.src.data = p2;
    g.src.len = 4;
    g.src_len = 15;
    assert_int_equal(start(tr, 4, &g, 5), 0);
    m = meta4("10.77.1.9", "1.1.1.1", 1, 2, IPPROTO_UDP, 3);
    assert_true(dp_trace_match(&tr->filter, &m));
    m = meta4("10.78.1.9", "1.1.1.1", 1, 2, IPPROTO_UDP, 3);
    assert_false(dp_trace_match(&tr->filter, &m));
    m = meta4("10.77.1.9", "1.1.1.1", 1, 2, IPPROTO_UDP, 3);
    m.flags = MOAT_META_F_IPV6;
    assert_false(dp_trace_match(&tr->filter, &m));
    /* An empty filter matches everything. */
    Moat__TraceFilter any = MOAT__TRACE_FILTER__INIT;
    assert_int_equal(start(tr, 5, &any, 5), 0);
    assert_true(dp_trace_match(&tr->filter, &m));
    /* Bad filters are refused and leave no trace running. */
    dp_trace_stop(tr, 0);
    Moat__TraceFilter bad = MOAT__TRACE_FILTER__INIT;
    bad.dst.data = pfx;
    bad.dst.len = 3;
    bad.dst_len = 24;
    assert_int_equal(start(tr, 6, &bad, 5), -EINVAL);
    bad.dst.len = 4;
    bad.dst_len = 33;
    assert_int_equal(start(tr, 6, &bad, 5), -EINVAL);
    bad.dst_len = 8;
    bad.dst_port = 70000;
    assert_int_equal(start(tr, 6, &bad, 5), -EINVAL);
    assert_false(dp_trace_on(tr));
    dp_trace_free(tr);
    free(tr);
}

static void test_budget_and_ring(void **state)
{
    (void)state;
    struct dp_trace *tr = malloc(sizeof(*tr));
    assert_int_equal(dp_trace_init(tr), 0);
    Moat__TraceFilter any = MOAT__TRACE_FILTER__INIT;
    assert_int_equal(start(tr, 7, &any, 3), 0);
    for (int i = 0; i < 3; i++) {
        assert_true(dp_trace_on(tr));
        struct dp_trace_rec *r = dp_trace_claim(tr, 1);
        assert_non_null(r);
        r->verdict = (uint8_t)i;
        dp_trace_commit(tr, 1, r);
    }
    /* The last packet's commit switched the trace off. */
    assert_false(dp_trace_on(tr));
    assert_null(dp_trace_claim(tr, 1));
    assert_int_equal(spsc_ring_count(&tr->ring[1]), 3);

    /* A full ring: the record is lost and counted, the trace goes on. */
    assert_int_equal(start(tr, 8, &any, DP_TRACE_RING + 10), 0);
    for (int i = 0; i < DP_TRACE_RING - 3; i++) {
        struct dp_trace_rec *r = dp_trace_claim(tr, 1);
        assert_non_null(r);
        dp_trace_commit(tr, 1, r);
    }
    uint64_t lost0 = atomic_load(&tr->lost);
    assert_null(dp_trace_claim(tr, 1));
    assert_int_equal(atomic_load(&tr->lost), lost0 + 1);
    assert_true(dp_trace_on(tr));
    dp_trace_free(tr);
    free(tr);
}

static void test_counters_moved(void **state)
{
    (void)state;
    struct moat_worker_stats a, b;
    memset(&a, 0, sizeof(a));
    b = a;
    assert_int_equal(dp_trace_counters_moved(&a, &b), 0);
    b.session_miss++;
    b.forwarded++;
    b.nat_sessions += 2;
    const uint64_t want = 1ull << (offsetof(struct moat_worker_stats, session_miss) / 8) |
                          1ull << (offsetof(struct moat_worker_stats, forwarded) / 8) |
                          1ull << (offsetof(struct moat_worker_stats, nat_sessions) / 8);
    assert_int_equal(dp_trace_counters_moved(&a, &b), want);
}

/* ---- drain ---- */

static Moat__TraceEvents *got[16];
static unsigned ngot;

static int capture(void *arg, const Moat__Envelope *env)
{
    (void)arg;
    assert_int_equal(env->msg_case, MOAT__ENVELOPE__MSG_TRACE_EVENTS);
    /* Keep a deep copy: the drain reuses its buffers. */
    size_t len = moat__trace_events__get_packed_size(env->trace_events);
    uint8_t *buf = malloc(len);
    moat__trace_events__pack(env->trace_events, buf);
    got[ngot++] = moat__trace_events__unpack(NULL, len, buf);
    free(buf);
    return 0;
}

static void test_drain(void **state)
{
    (void)state;
    struct dp dp;
    memset(&dp, 0, sizeof(dp));
    struct flowctl *fc = calloc(1, sizeof(*fc));
    assert_int_equal(flowctl_init(fc, &dp, capture, NULL), 0);
    struct dp_trace *tr = malloc(sizeof(*tr));
    assert_int_equal(dp_trace_init(tr), 0);
    Moat__TraceFilter any = MOAT__TRACE_FILTER__INIT;
    assert_int_equal(start(tr, 42, &any, 2), 0);
    assert_true(dp_trace_busy(tr));

    struct dp_trace_rec *r = dp_trace_claim(tr, 0);
    r->meta = meta4("10.77.1.2", "10.77.2.2", 40000, 9000, IPPROTO_UDP, 3);
    r->verdict = 1;
    r->out_ifindex = 4;
    r->head_len = 3;
    memcpy(r->head, "abc", 3);
    r->counters = 0x5;
    r->pol_slot = UINT16_MAX;
    dp_trace_commit(tr, 0, r);
    ngot = 0;
    assert_int_equal(dp_trace_drain(tr, fc, 1000, capture, NULL), 1);
    assert_int_equal(ngot, 1);
    assert_int_equal(got[0]->id, 42);
    assert_int_equal(got[0]->n_events, 1);
    const Moat__TraceEvent *e = got[0]->events[0];
    assert_int_equal(e->in_ifindex, 3);
    assert_int_equal(e->key->sport, 40000);
    assert_int_equal(e->key->dport, 9000);
    assert_int_equal(e->out_ifindex, 4);
    assert_int_equal(e->out_head.len, 3);
    assert_int_equal(e->counters, 0x5);
    assert_false(e->policy_checked);
    assert_null(e->session);
    assert_false(got[0]->done);

    /* The last packet: its record, then "done" once. */
    r = dp_trace_claim(tr, 2);
    r->meta = meta4("10.77.2.2", "10.77.2.1", 9000, 1025, IPPROTO_UDP, 4);
    r->pol_slot = UINT16_MAX;
    dp_trace_commit(tr, 2, r);
    assert_false(dp_trace_on(tr));
    dp_trace_drain(tr, fc, 0, capture, NULL);
    dp_trace_drain(tr, fc, 0, capture, NULL);
    unsigned events = 0, done = 0;
    for (unsigned i = 1; i < ngot; i++) {
        events += (unsigned)got[i]->n_events;
        done += got[i]->done;
    }
    assert_int_equal(events, 1);
    assert_int_equal(done, 1);
    assert_false(dp_trace_busy(tr));
    for (unsigned i = 0; i < ngot; i++)
        moat__trace_events__free_unpacked(got[i], NULL);
    dp_trace_free(tr);
    free(tr);
    flowctl_free(fc);
    free(fc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_budget_and_ring),
        cmocka_unit_test(test_counters_moved),
        cmocka_unit_test(test_drain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
