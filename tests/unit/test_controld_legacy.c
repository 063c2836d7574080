/* SPDX-License-Identifier: MIT */
/*
 * test_controld_legacy.c — the pure parts of legacy.c's runtime: legacy_count_fix(), how the
 * sweep brings the kernel path's session counts back to what the session map holds after
 * silent LRU evictions. The rest runs against real maps in tests/lab/test_legacy.sh and
 * test_legacy_suite.sh (it needs CAP_BPF); the compile side is test_controld_legacy_compile.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "legacy.h"

/* legacy_count_fix(): a count the kernel path did not touch during the sweep's walk is set to
 * what the walk found (a silently evicted session taken off); one it touched is left alone. */
static void test_count_fix(void **state)
{
    (void)state;
    /* 5 counted, the walk found 3 (2 evicted), nobody touched it: 3. */
    assert_int_equal(legacy_count_fix(5, 0, 5, 3), 3);
    /* The sweep closed 1 itself (5 -> 4), 3 live found: 3. */
    assert_int_equal(legacy_count_fix(5, 1, 4, 3), 3);
    /* Clamped decrements: 0 counted, 2 own decrements, 0 now; 0 live: stays 0. */
    assert_int_equal(legacy_count_fix(0, 2, 0, 0), 0);
    /* The kernel path created a session during the walk (5 -> 6): left alone. */
    assert_int_equal(legacy_count_fix(5, 0, 6, 3), 6);
    /* ... or replaced one (a reopen: -1 +1 in the same slot cannot be told apart): the walk
     * saw one of the two, the count is right either way. */
    assert_int_equal(legacy_count_fix(5, 0, 5, 5), 5);
    /* Nothing to fix. */
    assert_int_equal(legacy_count_fix(7, 0, 7, 7), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_fix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
