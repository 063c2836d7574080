/* SPDX-License-Identifier: MIT */
/*
 * test_controld_handover.c — the cut of the sessions a returning helper holds (handover.h):
 * taken from the mirror, grown by acknowledged installs, and the selection of the kernel path's
 * sessions outside it (those created after the helper's snapshot); and the run before arming
 * through fake I/O: its rounds, its bounds (HANDOVER_MAX_ROUNDS, HANDOVER_MAX_MS), the late
 * install once armed, failures and lost installs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
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
    assert_int_equal(handover_cut_from_mirror(&cut, &m, 0), 0);
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
    assert_int_equal(handover_cut_from_mirror(&cut, &m, 0), 0);
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
    assert_int_equal(handover_cut_from_mirror(&cut, &m, 0), 0);
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

/* ---- the run, through fake I/O ---- */

struct fake {
    struct sessrec kp[64]; /* the kernel path's session map */
    size_t n_kp;
    bool grow;         /* every read finds one more session (the kernel path keeps creating) */
    int collect_err;   /* next reads fail with this */
    int send_err;      /* next sends fail with this */
    uint64_t next_req; /* request ids */
    unsigned sends;
    size_t sent_n[16];
    uint64_t sent_ids[16][64]; /* ids of each send */
    uint64_t timer_ms;         /* last timer set, 0: stopped */
    unsigned arms;
    uint64_t now;
};

static int f_collect(void *arg, struct sessrec **out, size_t *n)
{
    struct fake *f = arg;
    if (f->collect_err)
        return f->collect_err;
    if (f->grow && f->n_kp < 64) {
        f->kp[f->n_kp] = rec(MOAT_LG_ID_BIT | (100 + f->n_kp));
        f->n_kp++;
    }
    *out = malloc((f->n_kp + 1) * sizeof(**out));
    assert_non_null(*out);
    memcpy(*out, f->kp, f->n_kp * sizeof(**out));
    *n = f->n_kp;
    return 0;
}

static int f_send(void *arg, const struct sessrec *recs, size_t n, uint64_t *req)
{
    struct fake *f = arg;
    if (f->send_err)
        return f->send_err;
    assert_true(f->sends < 16);
    f->sent_n[f->sends] = n;
    for (size_t i = 0; i < n && i < 64; i++)
        f->sent_ids[f->sends][i] = recs[i].id;
    f->sends++;
    *req = ++f->next_req;
    return 0;
}

static void f_timer(void *arg, uint64_t ms)
{
    ((struct fake *)arg)->timer_ms = ms;
}

static void f_arm(void *arg)
{
    ((struct fake *)arg)->arms++;
}

static uint64_t f_now(void *arg)
{
    return ((struct fake *)arg)->now;
}

static const struct handover_ops fake_ops = {
    .collect = f_collect, .send = f_send, .timer = f_timer, .arm = f_arm, .now_ms = f_now};

/* The helper's snapshot had session 7 (the helper's, seeded in the kernel path) and the kernel
 * path's LG|1; the kernel path created LG|2 and LG|3 since. */
static void setup_run(struct fake *f, struct handover *h, struct mirror *m)
{
    memset(f, 0, sizeof(*f));
    f->now = 5000;
    assert_int_equal(mirror_init(m, 100), 0);
    mirror_add(m, 7, 40001);
    mirror_add(m, MOAT_LG_ID_BIT | 1, 40002);
    handover_init(h, &fake_ops, f);
    assert_int_equal(handover_take_cut(h, m, 0), 0);
    f->kp[0] = rec(7);
    f->kp[1] = rec(MOAT_LG_ID_BIT | 1);
    f->kp[2] = rec(MOAT_LG_ID_BIT | 2);
    f->kp[3] = rec(MOAT_LG_ID_BIT | 3);
    f->n_kp = 4;
}

/* One round hands over what the snapshot lacks; the next finds nothing new and arms. */
static void test_run_one_round(void **state)
{
    (void)state;
    struct fake f;
    struct handover h;
    struct mirror m;
    setup_run(&f, &h, &m);
    assert_true(handover_start(&h, 0));
    assert_true(h.active);
    assert_int_equal(f.timer_ms, HANDOVER_MAX_MS);
    assert_int_equal(f.sends, 1);
    assert_int_equal(f.sent_n[0], 2);
    assert_int_equal(f.sent_ids[0][0], MOAT_LG_ID_BIT | 2);
    assert_int_equal(f.sent_ids[0][1], MOAT_LG_ID_BIT | 3);
    assert_int_equal(f.arms, 0);    /* waits for the helper */
    handover_reply(&h, 999, false); /* not this round's: ignored */
    assert_int_equal(f.arms, 0);
    f.now += 30;
    handover_reply(&h, f.next_req, false);
    assert_int_equal(f.sends, 1); /* nothing new since: no second round */
    assert_int_equal(f.arms, 1);
    assert_false(h.active);
    assert_int_equal(f.timer_ms, 0); /* the time bound's timer stopped */
    assert_int_equal(h.sessions, 2);
    assert_int_equal(h.before_arm, 2);
    assert_int_equal(h.rounds, 1);
    assert_int_equal(h.failed, 0);
    /* Once armed: nothing late; the cut is dropped (the next arming takes a new one). */
    assert_int_equal(handover_armed(&h), 0);
    assert_int_equal(f.sends, 1);
    assert_int_equal(h.late, 0);
    assert_false(h.cut.valid);
    assert_false(handover_start(&h, 0)); /* no cut, no hold: arm at once */
    handover_free(&h);
    mirror_free(&m);
}

/* The kernel path keeps creating sessions: after HANDOVER_MAX_ROUNDS acknowledged rounds it
 * arms anyway, and what came after the last round goes to the helper late, unwaited. */
static void test_run_rounds_bound(void **state)
{
    (void)state;
    struct fake f;
    struct handover h;
    struct mirror m;
    setup_run(&f, &h, &m);
    f.grow = true;
    assert_true(handover_start(&h, 0));
    for (unsigned r = 0; r < HANDOVER_MAX_ROUNDS; r++) {
        assert_int_equal(f.sends, r + 1);
        assert_int_equal(f.arms, 0);
        f.now += 10;
        handover_reply(&h, f.next_req, false);
    }
    assert_int_equal(f.arms, 1);
    assert_int_equal(f.sends, HANDOVER_MAX_ROUNDS); /* no fifth round */
    assert_int_equal(h.rounds, HANDOVER_MAX_ROUNDS);
    /* Round 1: LG|2, LG|3 and the new LG|104; each later round only the one new session. */
    assert_int_equal(f.sent_n[0], 3);
    assert_int_equal(f.sent_n[1], 1);
    assert_int_equal(f.sent_ids[1][0], MOAT_LG_ID_BIT | 105);
    assert_int_equal(h.sessions, 3 + HANDOVER_MAX_ROUNDS - 1);
    /* Armed: the one created after the last round is sent late, once. */
    assert_int_equal(handover_armed(&h), 1);
    assert_int_equal(f.sends, HANDOVER_MAX_ROUNDS + 1);
    assert_int_equal(f.sent_n[HANDOVER_MAX_ROUNDS], 1);
    assert_int_equal(h.late, 1);
    assert_int_equal(f.arms, 1);
    /* The helper lost it: counted as failed, nothing re-armed. */
    handover_reply(&h, f.next_req, true);
    assert_int_equal(h.failed, 1);
    handover_reply(&h, f.next_req, true); /* answered once */
    assert_int_equal(h.failed, 1);
    assert_int_equal(f.arms, 1);
    handover_free(&h);
    mirror_free(&m);
}

/* The helper does not answer: the timer arms at HANDOVER_MAX_MS; its late reply changes
 * nothing. An answer that comes after the time bound arms without another round. */
static void test_run_time_bound(void **state)
{
    (void)state;
    struct fake f;
    struct handover h;
    struct mirror m;
    setup_run(&f, &h, &m);
    assert_true(handover_start(&h, 0));
    uint64_t first = f.next_req;
    f.now += HANDOVER_MAX_MS;
    handover_timeout(&h);
    assert_int_equal(f.arms, 1);
    assert_false(h.active);
    assert_int_equal(h.sessions, 0);
    handover_reply(&h, first, false); /* too late */
    assert_int_equal(f.arms, 1);
    assert_int_equal(h.sessions, 0);
    assert_int_equal(f.sends, 1);
    handover_timeout(&h); /* a stale timer */
    assert_int_equal(f.arms, 1);
    /* Armed: the unacknowledged ones go late. */
    assert_int_equal(handover_armed(&h), 2);
    assert_int_equal(h.late, 2);

    /* Acknowledged, but after the bound: armed without a second round. */
    assert_int_equal(handover_take_cut(&h, &m, 0), 0);
    f.grow = true;
    unsigned sends = f.sends;
    assert_true(handover_start(&h, 0));
    assert_int_equal(f.sends, sends + 1);
    f.now += HANDOVER_MAX_MS + 1;
    handover_reply(&h, f.next_req, false);
    assert_int_equal(f.arms, 2);
    assert_int_equal(f.sends, sends + 1);
    assert_int_equal(h.rounds, 2);
    handover_free(&h);
    mirror_free(&m);
}

/* Failures: an unreadable kernel path or an unsendable install arms at once (counted); a lost
 * install is sent again in the next round. */
static void test_run_failures(void **state)
{
    (void)state;
    struct fake f;
    struct handover h;
    struct mirror m;
    setup_run(&f, &h, &m);
    f.collect_err = -ENOMEM;
    assert_true(handover_start(&h, 0));
    assert_int_equal(f.arms, 1);
    assert_int_equal(f.sends, 0);
    assert_false(h.active);
    f.collect_err = 0;

    assert_int_equal(handover_take_cut(&h, &m, 0), 0);
    f.send_err = -ENOTCONN;
    assert_true(handover_start(&h, 0));
    assert_int_equal(f.arms, 2);
    assert_int_equal(h.failed, 2);
    f.send_err = 0;

    assert_int_equal(handover_take_cut(&h, &m, 0), 0);
    assert_true(handover_start(&h, 0));
    assert_int_equal(f.sends, 1);
    handover_reply(&h, f.next_req, true); /* the helper rebuilt its tables */
    assert_int_equal(h.failed, 4);
    assert_int_equal(f.sends, 2); /* the same two again */
    assert_int_equal(f.sent_n[1], 2);
    assert_int_equal(f.sent_ids[1][0], MOAT_LG_ID_BIT | 2);
    assert_int_equal(f.arms, 2);
    handover_reply(&h, f.next_req, false);
    assert_int_equal(f.arms, 3);
    assert_int_equal(h.sessions, 2);
    assert_int_equal(h.rounds, 2);
    handover_free(&h);
    mirror_free(&m);
}

/* The test hook's hold: no round until the timer; without a cut the hold ends in arming. A
 * stopped run (disarmed meanwhile) neither arms nor takes its reply. */
static void test_run_hold_and_stop(void **state)
{
    (void)state;
    struct fake f;
    struct handover h;
    struct mirror m;
    setup_run(&f, &h, &m);
    assert_true(handover_start(&h, 2000));
    assert_int_equal(f.timer_ms, 2000);
    assert_int_equal(f.sends, 0);
    f.now += 2000;
    handover_timeout(&h);
    assert_int_equal(f.timer_ms, HANDOVER_MAX_MS);
    assert_int_equal(f.sends, 1);
    handover_stop(&h);
    assert_int_equal(f.timer_ms, 0);
    handover_reply(&h, f.next_req, false);
    assert_int_equal(f.arms, 0);
    assert_int_equal(h.sessions, 0);
    assert_true(h.cut.valid); /* kept for the next start */

    handover_cut_clear(&h.cut);
    assert_true(handover_start(&h, 500));
    assert_int_equal(f.arms, 0);
    handover_timeout(&h);
    assert_int_equal(f.arms, 1);
    assert_int_equal(f.sends, 1);
    handover_free(&h);
    mirror_free(&m);
}

/* An arming without a Hello: the helper holds the mirror's sessions but the kernel path's own
 * (MOAT_LG_ID_BIT): those in the kernel path's map are handed over, the helper's are not. */
static void test_run_without_hello(void **state)
{
    (void)state;
    struct fake f;
    struct handover h;
    struct mirror m;
    setup_run(&f, &h, &m);
    handover_cut_clear(&h.cut);
    assert_false(handover_start(&h, 0));
    mirror_add(&m, MOAT_LG_ID_BIT | 2, 40003); /* the mirror learnt the kernel path's too */
    assert_int_equal(handover_take_cut(&h, &m, MOAT_LG_ID_BIT), 0);
    assert_true(handover_start(&h, 0));
    assert_int_equal(f.sends, 1);
    assert_int_equal(f.sent_n[0], 3);
    assert_int_equal(f.sent_ids[0][0], MOAT_LG_ID_BIT | 1);
    assert_int_equal(f.sent_ids[0][1], MOAT_LG_ID_BIT | 2);
    assert_int_equal(f.sent_ids[0][2], MOAT_LG_ID_BIT | 3);
    handover_reply(&h, f.next_req, false);
    assert_int_equal(f.arms, 1);
    handover_free(&h);
    mirror_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_after_cut),
        cmocka_unit_test(test_empty_cut),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_run_one_round),
        cmocka_unit_test(test_run_rounds_bound),
        cmocka_unit_test(test_run_time_bound),
        cmocka_unit_test(test_run_failures),
        cmocka_unit_test(test_run_hold_and_stop),
        cmocka_unit_test(test_run_without_hello),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
