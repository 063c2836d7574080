/* SPDX-License-Identifier: MIT */
/* pins.c: what differs between a pinned map and its definition. The replacement itself runs
 * against real pins in tests/lab/test_reseed.sh (it needs CAP_BPF). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <linux/bpf.h>

#include "pins.h"

static void test_same_layout(void **state)
{
    (void)state;
    const struct pin_layout a = {BPF_MAP_TYPE_LRU_HASH, 40, 96, 65536, 0};
    char what[128] = "x";
    assert_false(pin_layout_diff(&a, &a, what, sizeof(what)));
    assert_string_equal(what, "");
}

static void test_each_field_named(void **state)
{
    (void)state;
    const struct pin_layout want = {BPF_MAP_TYPE_PERCPU_ARRAY, 4, 64, 16, 0};
    struct pin_layout have = want;
    char what[128];
    have.value_size = 48;
    assert_true(pin_layout_diff(&have, &want, what, sizeof(what)));
    assert_string_equal(what, "value size 48 -> 64");
    have.max_entries = 8;
    have.type = BPF_MAP_TYPE_ARRAY;
    assert_true(pin_layout_diff(&have, &want, what, sizeof(what)));
    assert_string_equal(what, "type 2 -> 6, value size 48 -> 64, max entries 8 -> 16");
    have = want;
    have.key_size = 8;
    have.map_flags = 1;
    assert_true(pin_layout_diff(&have, &want, what, sizeof(what)));
    assert_string_equal(what, "key size 8 -> 4, flags 1 -> 0");
}

static void test_short_buffer(void **state)
{
    (void)state;
    const struct pin_layout want = {1, 4, 64, 16, 0};
    const struct pin_layout have = {2, 8, 32, 8, 1};
    char what[12];
    assert_true(pin_layout_diff(&have, &want, what, sizeof(what)));
    assert_int_equal(strlen(what), sizeof(what) - 1);
    assert_true(pin_layout_diff(&have, &want, NULL, 0)); /* nowhere to say it: still true */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_layout),
        cmocka_unit_test(test_each_field_named),
        cmocka_unit_test(test_short_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
