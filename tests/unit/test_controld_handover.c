/* SPDX-License-Identifier: MIT */
/*
 * test_controld_handover.c — the cut of the sessions a returning helper holds (handover.h):
 * taken from the mirror, grown by acknowledged installs, and the selection of the kernel path's
 * sessions outside it (those created after the helper's snapshot).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "handover.h"
#include "legacy_maps.h"
#include "mirror.h"

/* Puts a UDP session with this id and source port into m. */
static void mirror_add(struct mirror *m, uint64_t id, uint16_t sport)
{
    uint8_t src[4] = {10, 77, 1, 2}, dst[4] = {10, 77, 2, 2};
    Moat__FlowKey fwd = MOAT__FLOW_KEY__INIT, rev = MOAT__FLOW_KEY__INIT;
    fwd.src = (ProtobufCBinaryData){4, src};
    fwd.dst = (ProtobufCBinaryData){4, dst};
    fwd.sport = sport;
    fwd.dport = 9000;
    fwd.protocol = 17;
    rev.src = fwd.dst;
    rev.dst = fwd.src;
    rev.sport = 9000;
    rev.dport = sport;
    rev.protocol = 17;
    Moat__SessionRecord r = MOAT__SESSION_RECORD__INIT;
    r.id = id;
    r.forward = &fwd;
    r.reverse = &rev;
    r.from_zone = 1;
    r.to_zone = 2;
    r.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    r.timeout = 60;
    r.policy_name = "";
    r.application = "";
    Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT;
    d.kind = MOAT__DELTA_KIND__DELTA_CREATE;
    d.session = &r;
    assert_int_equal(mirror_apply_delta(m, &d, NULL, NULL), 0);
}

static struct sessrec rec(uint64_t id)
{
    struct sessrec s;
    memset(&s, 0, sizeof(s));
    s.id = id;
    s.family = 4;
    s.proto = 17;
    s.fwd_sport = (uint16_t)id;
    return s;
}

/* The kernel path's sessions the helper's snapshot had are not handed over again; those
 * created after it are, in their order. */
static void test_select_after_cut(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 1000), 0);
    mirror_add(&m, 7, 40001);                  /* the helper's, seeded in the kernel path */
    mirror_add(&m, MOAT_LG_ID_BIT | 3, 40002); /* the kernel path's, before the snapshot */
    struct handover_cut cut = {0};
    assert_false(cut.valid);
    assert_int_equal(handover_cut_from_mirror(&cut, &m), 0);
    assert_true(cut.valid);
    assert_int_equal(cut.n, 2);
    /* After the snapshot: the kernel path creates two more (the mirror learns them too). */
    mirror_add(&m, MOAT_LG_ID_BIT | 9, 40003);
    mirror_add(&m, MOAT_LG_ID_BIT | 1, 40004);
    assert_true(handover_cut_has(&cut, 7));
    assert_true(handover_cut_has(&cut, MOAT_LG_ID_BIT | 3));
    assert_false(handover_cut_has(&cut, MOAT_LG_ID_BIT | 9));
    /* What the kernel path's map holds at arming. */
    struct sessrec kp[] = {rec(MOAT_LG_ID_BIT | 9), rec(7), rec(MOAT_LG_ID_BIT | 3),
                           rec(MOAT_LG_ID_BIT | 1)};
    size_t n = handover_select(&cut, kp, 4);
    assert_int_equal(n, 2);
    assert_int_equal(kp[0].id, MOAT_LG_ID_BIT | 9);
    assert_int_equal(kp[0].fwd_sport, (uint16_t)(MOAT_LG_ID_BIT | 9));
    assert_int_equal(kp[1].id, MOAT_LG_ID_BIT | 1);
    /* The helper acknowledged them: a next round finds none; a newer one still is selected. */
    assert_int_equal(handover_cut_add(&cut, kp, n), 0);
    assert_int_equal(cut.n, 4);
    struct sessrec again[] = {rec(MOAT_LG_ID_BIT | 1), rec(MOAT_LG_ID_BIT | 9), rec(7),
                              rec(MOAT_LG_ID_BIT | 5)};
    n = handover_select(&cut, again, 4);
    assert_int_equal(n, 1);
    assert_int_equal(again[0].id, MOAT_LG_ID_BIT | 5);
    /* Adding ids already there keeps the set unique. */
    assert_int_equal(handover_cut_add(&cut, again, 1), 0);
    assert_int_equal(handover_cut_add(&cut, again, 1), 0);
    assert_int_equal(cut.n, 5);
    handover_cut_clear(&cut);
    assert_false(cut.valid);
    assert_int_equal(cut.n, 0);
    mirror_free(&m);
}

/* An empty mirror makes a valid, empty cut: every kernel-path session is handed over. */
static void test_empty_cut(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 10), 0);
    struct handover_cut cut = {0};
    assert_int_equal(handover_cut_from_mirror(&cut, &m), 0);
    assert_true(cut.valid);
    assert_false(handover_cut_has(&cut, 0));
    struct sessrec kp[] = {rec(4), rec(2)};
    assert_int_equal(handover_select(&cut, kp, 2), 2);
    assert_int_equal(handover_select(&cut, kp, 0), 0);
    handover_cut_clear(&cut);
    mirror_free(&m);
}

/* Many sessions: the cut grows, stays sorted, and still finds every id. */
static void test_many(void **state)
{
    (void)state;
    struct mirror m;
    assert_int_equal(mirror_init(&m, 20000), 0);
    for (uint64_t i = 0; i < 5000; i++)
        mirror_add(&m, (i * 7919) % 100003 + 1, (uint16_t)(1024 + i));
    struct handover_cut cut = {0};
    assert_int_equal(handover_cut_from_mirror(&cut, &m), 0);
    assert_int_equal(cut.n, 5000);
    for (size_t i = 1; i < cut.n; i++)
        assert_true(cut.ids[i - 1] < cut.ids[i]);
    static struct sessrec acked[3000];
    for (uint64_t i = 0; i < 3000; i++)
        acked[i] = rec(200000 + i);
    assert_int_equal(handover_cut_add(&cut, acked, 3000), 0);
    assert_int_equal(cut.n, 8000);
    for (uint64_t i = 0; i < 5000; i++)
        assert_true(handover_cut_has(&cut, (i * 7919) % 100003 + 1));
    assert_true(handover_cut_has(&cut, 202999));
    assert_false(handover_cut_has(&cut, 203000));
    handover_cut_clear(&cut);
    mirror_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_after_cut),
        cmocka_unit_test(test_empty_cut),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
