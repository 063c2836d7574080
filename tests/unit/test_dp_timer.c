/* SPDX-License-Identifier: MIT */
/* Unit tests for dataplane/timer.c: the hashed timer wheel used for session aging. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "timer.h"

/* Records with a node and a deadline, as sessions have (last seen + timeout). */
struct rec {
    uint64_t deadline;
    uint32_t fired;
    uint64_t fired_at;
    struct timer_node n;
};

struct ctx {
    struct rec *r;
    uint32_t calls;
    uint32_t rearms;
};

/* Lazy: a record whose deadline moved on is re-armed, else it fires. */
static uint64_t on_expire(void *p, uint32_t idx, uint64_t now)
{
    struct ctx *c = p;
    c->calls++;
    struct rec *r = &c->r[idx];
    if (r->deadline > now) {
        c->rearms++;
        return r->deadline;
    }
    r->fired++;
    r->fired_at = now;
    return 0;
}

static struct rec *recs(uint32_t n)
{
    struct rec *r = calloc(n, sizeof(*r));
    for (uint32_t i = 0; i < n; i++)
        timer_node_init(&r[i].n);
    return r;
}

static void init(struct timer_wheel *w, struct rec *r, uint32_t nslots, uint32_t tick, uint64_t now)
{
    assert_int_equal(
        timer_wheel_init(w, nslots, tick, r, sizeof(struct rec), offsetof(struct rec, n), now), 0);
}

static void test_init_refuses(void **state)
{
    (void)state;
    struct timer_wheel w;
    struct rec r[1];
    assert_int_equal(timer_wheel_init(&w, 3, 100, r, sizeof(r[0]), 0, 0), -EINVAL);
    assert_int_equal(timer_wheel_init(&w, 1, 100, r, sizeof(r[0]), 0, 0), -EINVAL);
    assert_int_equal(timer_wheel_init(&w, 16, 0, r, sizeof(r[0]), 0, 0), -EINVAL);
}

/* A timer fires on the first tick at or after its deadline: never early, at most a tick late. */
static void test_expiry_at_the_right_tick(void **state)
{
    (void)state;
    struct rec *r = recs(4);
    struct timer_wheel w;
    init(&w, r, 256, 100, 1000);
    struct ctx c = {.r = r};
    r[0].deadline = 1550; /* tick 16 (1600 ms) */
    r[1].deadline = 1600; /* exactly on tick 16 */
    r[2].deadline = 1601; /* tick 17 */
    for (int i = 0; i < 3; i++)
        timer_arm(&w, (uint32_t)i, r[i].deadline);
    for (uint64_t now = 1000; now < 1600; now += 10)
        timer_run(&w, now, 1000, on_expire, &c);
    assert_int_equal(c.calls, 0);
    timer_run(&w, 1600, 1000, on_expire, &c);
    assert_int_equal(r[0].fired, 1);
    assert_int_equal(r[1].fired, 1);
    assert_int_equal(r[2].fired, 0);
    timer_run(&w, 1699, 1000, on_expire, &c);
    assert_int_equal(r[2].fired, 0);
    timer_run(&w, 1700, 1000, on_expire, &c);
    assert_int_equal(r[2].fired, 1);
    assert_int_equal(r[2].fired_at, 1700);
    /* Fired timers are unlinked: nothing more happens. */
    timer_run(&w, 100000, 1000, on_expire, &c);
    assert_int_equal(c.calls, 3);
    assert_int_equal(w.linked, 0);
    timer_wheel_free(&w);
    free(r);
}

/* Touching a record only moves its deadline; the wheel re-arms it when the old slot fires. */
static void test_rearm_on_touch(void **state)
{
    (void)state;
    struct rec *r = recs(1);
    struct timer_wheel w;
    init(&w, r, 64, 100, 0);
    struct ctx c = {.r = r};
    r[0].deadline = 1000;
    timer_arm(&w, 0, 1000);
    /* Touched at 800: the deadline moves to 1800 without touching the wheel. */
    timer_run(&w, 800, 100, on_expire, &c);
    r[0].deadline = 1800;
    timer_run(&w, 1000, 100, on_expire, &c);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.rearms, 1);
    assert_int_equal(r[0].fired, 0);
    timer_run(&w, 1799, 100, on_expire, &c);
    assert_int_equal(r[0].fired, 0);
    timer_run(&w, 1800, 100, on_expire, &c);
    assert_int_equal(r[0].fired, 1);
    /* An explicit re-arm to an earlier deadline (a state change) takes effect at once. */
    r[0].deadline = 5000;
    timer_arm(&w, 0, 5000);
    r[0].deadline = 2000;
    timer_arm(&w, 0, 2000);
    timer_run(&w, 2000, 100, on_expire, &c);
    assert_int_equal(r[0].fired, 2);
    assert_int_equal(r[0].fired_at, 2000);
    timer_wheel_free(&w);
    free(r);
}

/* Advancing time visits one slot per tick and only the nodes due in it — never every timer. */
static void test_no_full_scan(void **state)
{
    (void)state;
    enum { N = 100000 };
    struct rec *r = recs(N);
    struct timer_wheel w;
    init(&w, r, 4096, 100, 0);
    struct ctx c = {.r = r};
    /* All far away (within the horizon of 409.6 s), except 10 due at 5 s. */
    for (uint32_t i = 0; i < N; i++) {
        r[i].deadline = i < 10 ? 5000 : 300000 + i;
        timer_arm(&w, i, r[i].deadline);
    }
    for (uint64_t now = 0; now <= 10000; now += 100)
        timer_run(&w, now, 1000000, on_expire, &c);
    assert_int_equal(w.slots_visited, 101);
    assert_int_equal(w.nodes_visited, 10);
    assert_int_equal(c.calls, 10);
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(r[i].fired, 1);
    assert_int_equal(w.linked, N - 10);
    timer_wheel_free(&w);
    free(r);
}

/* Deadlines beyond the horizon wait in the farthest slot and still fire on time. */
static void test_beyond_horizon(void **state)
{
    (void)state;
    struct rec *r = recs(1);
    struct timer_wheel w;
    init(&w, r, 16, 100, 0); /* horizon 1.6 s */
    struct ctx c = {.r = r};
    r[0].deadline = 10050;
    timer_arm(&w, 0, r[0].deadline);
    for (uint64_t now = 0; now < 10100; now += 100) {
        timer_run(&w, now, 10, on_expire, &c);
        assert_int_equal(r[0].fired, 0);
    }
    timer_run(&w, 10100, 10, on_expire, &c);
    assert_int_equal(r[0].fired, 1);
    assert_int_equal(r[0].fired_at, 10100);
    assert_true(c.rearms >= 5 && c.rearms <= 8); /* one per horizon */
    timer_wheel_free(&w);
    free(r);
}

static void test_budget_and_cancel(void **state)
{
    (void)state;
    enum { N = 100 };
    struct rec *r = recs(N);
    struct timer_wheel w;
    init(&w, r, 64, 100, 0);
    struct ctx c = {.r = r};
    for (uint32_t i = 0; i < N; i++) {
        r[i].deadline = 500;
        timer_arm(&w, i, 500);
    }
    timer_unlink(&w, 7);
    timer_unlink(&w, 7); /* twice is fine */
    assert_int_equal(timer_run(&w, 500, 30, on_expire, &c), 30);
    assert_int_equal(timer_run(&w, 500, 30, on_expire, &c), 30);
    assert_int_equal(timer_run(&w, 500, 30, on_expire, &c), 30);
    assert_int_equal(timer_run(&w, 500, 30, on_expire, &c), 9);
    assert_int_equal(timer_run(&w, 600, 30, on_expire, &c), 0);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(r[i].fired, i == 7 ? 0 : 1);
    timer_wheel_free(&w);
    free(r);
}

/* A stall longer than the horizon: each slot is visited once and everything due fires. */
static void test_long_stall(void **state)
{
    (void)state;
    enum { N = 50 };
    struct rec *r = recs(N);
    struct timer_wheel w;
    init(&w, r, 32, 100, 0);
    struct ctx c = {.r = r};
    for (uint32_t i = 0; i < N; i++) {
        r[i].deadline = 100 + i * 60;
        timer_arm(&w, i, r[i].deadline);
    }
    timer_run(&w, 1000000, 1000, on_expire, &c);
    assert_int_equal(w.slots_visited, 32);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(r[i].fired, 1);
    timer_wheel_free(&w);
    free(r);
}

/* Buckets used directly (the early-aging list): link, pop in LIFO order, unlink from the
 * middle. */
static void test_buckets(void **state)
{
    (void)state;
    struct rec *r = recs(5);
    struct timer_wheel w;
    init(&w, r, 8, 1000, 0);
    for (uint32_t i = 0; i < 5; i++)
        timer_link(&w, i, 3);
    timer_unlink(&w, 2);
    assert_int_equal(timer_pop(&w, 3), 4);
    assert_int_equal(timer_pop(&w, 3), 3);
    assert_int_equal(timer_pop(&w, 3), 1);
    assert_int_equal(timer_pop(&w, 3), 0);
    assert_int_equal(timer_pop(&w, 3), TIMER_NONE);
    assert_int_equal(w.linked, 0);
    timer_wheel_free(&w);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_refuses),   cmocka_unit_test(test_expiry_at_the_right_tick),
        cmocka_unit_test(test_rearm_on_touch), cmocka_unit_test(test_no_full_scan),
        cmocka_unit_test(test_beyond_horizon), cmocka_unit_test(test_budget_and_cancel),
        cmocka_unit_test(test_long_stall),     cmocka_unit_test(test_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
