/* SPDX-License-Identifier: MIT */
/* Unit tests for the workers' resolve-request rate limiter (dataplane/worker.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker.h"

static void test_one_per_interval(void **state)
{
    (void)state;
    struct dp_resolve_limiter *rl = calloc(1, sizeof(*rl));
    const uint8_t a[4] = {10, 77, 2, 2};
    const uint8_t b[4] = {10, 77, 2, 3};
    uint64_t t0 = 1000000;
    assert_true(dp_resolve_allow(rl, 4, a, 5, t0));
    assert_false(dp_resolve_allow(rl, 4, a, 5, t0));
    assert_false(dp_resolve_allow(rl, 4, a, 5, t0 + DP_RESOLVE_INTERVAL_MS - 1));
    /* Another address, or the same one on another interface, is separate. */
    assert_true(dp_resolve_allow(rl, 4, b, 5, t0 + 1));
    assert_true(dp_resolve_allow(rl, 4, a, 6, t0 + 1));
    /* After the interval, once more. */
    assert_true(dp_resolve_allow(rl, 4, a, 5, t0 + DP_RESOLVE_INTERVAL_MS));
    assert_false(dp_resolve_allow(rl, 4, a, 5, t0 + DP_RESOLVE_INTERVAL_MS + 10));
    /* IPv6 next hops too. */
    uint8_t v6[16] = {0xfd, 0, 0, 0x77, 0, 2};
    assert_true(dp_resolve_allow(rl, 6, v6, 5, t0));
    assert_false(dp_resolve_allow(rl, 6, v6, 5, t0 + 100));
    free(rl);
}

/* Strict under pressure: many next hops at once never let one through twice in an interval. */
static void test_strict_under_pressure(void **state)
{
    (void)state;
    struct dp_resolve_limiter *rl = calloc(1, sizeof(*rl));
    enum { N = 5000 };
    static uint8_t allowed[N];
    uint64_t now = 50000;
    unsigned first = 0;
    for (uint32_t i = 0; i < N; i++) {
        uint8_t a[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        allowed[i] = dp_resolve_allow(rl, 4, a, 3, now);
        first += allowed[i];
    }
    /* The table has DP_RL_SETS * DP_RL_WAYS entries: no more can be in flight at once. */
    assert_true(first <= DP_RL_SETS * DP_RL_WAYS);
    assert_true(first > 0);
    /* Within the interval, none of them passes again. */
    for (uint32_t i = 0; i < N; i++) {
        uint8_t a[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        if (allowed[i])
            assert_false(dp_resolve_allow(rl, 4, a, 3, now + 250));
    }
    /* Later, the ones that were held back get their turn. */
    unsigned later = 0;
    for (uint32_t i = 0; i < N; i++) {
        uint8_t a[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        if (!allowed[i])
            later += dp_resolve_allow(rl, 4, a, 3, now + DP_RESOLVE_INTERVAL_MS);
    }
    assert_true(later > 0);
    free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_per_interval),
        cmocka_unit_test(test_strict_under_pressure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
