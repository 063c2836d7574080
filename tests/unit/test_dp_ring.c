/* SPDX-License-Identifier: MIT */
/* Unit tests for dataplane/ring.c: the lock-free SPSC ring. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ring.h"

static void test_init_rejects_bad_sizes(void **state)
{
    (void)state;
    struct spsc_ring r;
    assert_int_equal(spsc_ring_init(&r, 0, 8), -EINVAL);
    assert_int_equal(spsc_ring_init(&r, 3, 8), -EINVAL);
    assert_int_equal(spsc_ring_init(&r, 1000, 8), -EINVAL);
    assert_int_equal(spsc_ring_init(&r, 8, 0), -EINVAL);
    assert_int_equal(spsc_ring_init(&r, 1, 8), 0);
    spsc_ring_free(&r);
}

static void test_empty(void **state)
{
    (void)state;
    struct spsc_ring r;
    assert_int_equal(spsc_ring_init(&r, 4, sizeof(uint64_t)), 0);
    uint64_t v = 7;
    assert_null(spsc_ring_cons_peek(&r));
    assert_false(spsc_ring_pop(&r, &v));
    assert_int_equal(v, 7);
    assert_int_equal(spsc_ring_count(&r), 0);
    /* Push one, pop one: empty again. */
    v = 42;
    assert_true(spsc_ring_push(&r, &v));
    assert_int_equal(spsc_ring_count(&r), 1);
    v = 0;
    assert_true(spsc_ring_pop(&r, &v));
    assert_int_equal(v, 42);
    assert_false(spsc_ring_pop(&r, &v));
    assert_null(spsc_ring_cons_peek(&r));
    spsc_ring_free(&r);
}

static void test_full(void **state)
{
    (void)state;
    struct spsc_ring r;
    assert_int_equal(spsc_ring_init(&r, 8, sizeof(uint32_t)), 0);
    for (uint32_t i = 0; i < 8; i++)
        assert_true(spsc_ring_push(&r, &i));
    uint32_t x = 99;
    assert_false(spsc_ring_push(&r, &x));
    assert_null(spsc_ring_prod_slot(&r));
    assert_int_equal(spsc_ring_count(&r), 8);
    /* One out makes room for exactly one. */
    uint32_t v;
    assert_true(spsc_ring_pop(&r, &v));
    assert_int_equal(v, 0);
    assert_true(spsc_ring_push(&r, &x));
    assert_false(spsc_ring_push(&r, &x));
    for (uint32_t i = 1; i < 8; i++) {
        assert_true(spsc_ring_pop(&r, &v));
        assert_int_equal(v, i);
    }
    assert_true(spsc_ring_pop(&r, &v));
    assert_int_equal(v, 99);
    assert_false(spsc_ring_pop(&r, &v));
    spsc_ring_free(&r);
}

static void test_wraparound(void **state)
{
    (void)state;
    struct spsc_ring r;
    assert_int_equal(spsc_ring_init(&r, 4, sizeof(uint64_t)), 0);
    /* Many laps of the slot array, with varying occupancy. */
    uint64_t next_in = 0, next_out = 0;
    for (int lap = 0; lap < 1000; lap++) {
        int n = 1 + lap % 4;
        for (int i = 0; i < n; i++) {
            assert_true(spsc_ring_push(&r, &next_in));
            next_in++;
        }
        for (int i = 0; i < n; i++) {
            uint64_t v;
            assert_true(spsc_ring_pop(&r, &v));
            assert_int_equal(v, next_out);
            next_out++;
        }
    }
    assert_int_equal(next_in, next_out);
    spsc_ring_free(&r);

    /* The 32-bit counters themselves wrap. */
    assert_int_equal(spsc_ring_init(&r, 4, sizeof(uint64_t)), 0);
    atomic_store(&r.head, UINT32_MAX - 1);
    atomic_store(&r.tail, UINT32_MAX - 1);
    r.tail_cache = UINT32_MAX - 1;
    r.head_cache = UINT32_MAX - 1;
    for (uint64_t i = 0; i < 4; i++)
        assert_true(spsc_ring_push(&r, &i));
    uint64_t x = 5;
    assert_false(spsc_ring_push(&r, &x));
    assert_int_equal(spsc_ring_count(&r), 4);
    assert_int_equal(atomic_load(&r.head), 2); /* wrapped past 0 */
    for (uint64_t i = 0; i < 4; i++) {
        uint64_t v;
        assert_true(spsc_ring_pop(&r, &v));
        assert_int_equal(v, i);
    }
    uint64_t v;
    assert_false(spsc_ring_pop(&r, &v));
    spsc_ring_free(&r);
}

/* The hand-off use: the consumer rewrites a slot before releasing it, the producer sees it. */
static void test_slot_carries_state_back(void **state)
{
    (void)state;
    struct spsc_ring r;
    assert_int_equal(spsc_ring_init(&r, 2, sizeof(uint64_t)), 0);
    for (uint32_t i = 0; i < 2; i++)
        *(uint64_t *)spsc_ring_slot_at(&r, i) = 1000 + i;
    for (uint64_t round = 0; round < 10; round++) {
        uint64_t *p = spsc_ring_prod_slot(&r);
        assert_non_null(p);
        uint64_t given = *p; /* the frame the consumer left in the slot */
        assert_true(given >= 1000);
        spsc_ring_prod_commit(&r);
        uint64_t *c = spsc_ring_cons_peek(&r);
        assert_ptr_equal(c, p);
        *c = 2000 + round; /* put a fresh frame back */
        spsc_ring_cons_release(&r);
    }
    /* Each slot now holds what the consumer put there last. */
    uint64_t a = *(uint64_t *)spsc_ring_slot_at(&r, 0);
    uint64_t b = *(uint64_t *)spsc_ring_slot_at(&r, 1);
    assert_true((a == 2008 && b == 2009) || (a == 2009 && b == 2008));
    spsc_ring_free(&r);
}

#define STRESS_N 2000000u

static void *producer(void *arg)
{
    struct spsc_ring *r = arg;
    for (uint64_t i = 1; i <= STRESS_N;) {
        if (spsc_ring_push(r, &i))
            i++;
    }
    return NULL;
}

static void test_two_threads_keep_order(void **state)
{
    (void)state;
    struct spsc_ring r;
    assert_int_equal(spsc_ring_init(&r, 64, sizeof(uint64_t)), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &r), 0);
    uint64_t expect = 1;
    uint64_t bad = 0;
    while (expect <= STRESS_N) {
        uint64_t v;
        if (!spsc_ring_pop(&r, &v))
            continue;
        if (v != expect)
            bad++;
        expect = v + 1;
    }
    pthread_join(t, NULL);
    assert_int_equal(bad, 0);
    uint64_t v;
    assert_false(spsc_ring_pop(&r, &v));
    spsc_ring_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_sizes),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_wraparound),
        cmocka_unit_test(test_slot_carries_state_back),
        cmocka_unit_test(test_two_threads_keep_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
