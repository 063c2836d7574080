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
#include <bpf/btf.h>

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

/* A BTF holding struct frag { u64 lo; u32 N1; u32 N2[NELEMS]; } with the member names and bit
 * offsets given (and a typedef of it): returns the struct's id in *sid, the typedef's in *tid. */
static struct btf *struct_btf(const char *n1, const char *n2, uint32_t off2, uint32_t nelems,
                              int *sid, int *tid)
{
    struct btf *b = btf__new_empty();
    assert_non_null(b);
    const int u64 = btf__add_int(b, "u64", 8, 0);
    const int u32 = btf__add_int(b, "u32", 4, 0);
    const int arr = btf__add_array(b, u32, u32, nelems);
    assert_true(u64 > 0 && u32 > 0 && arr > 0);
    *sid = btf__add_struct(b, "frag", 16);
    assert_true(*sid > 0);
    assert_int_equal(btf__add_field(b, "lo", u64, 0, 0), 0);
    assert_int_equal(btf__add_field(b, n1, u32, 64, 0), 0);
    assert_int_equal(btf__add_field(b, n2, arr, off2, 0), 0);
    *tid = btf__add_typedef(b, "frag_t", *sid);
    assert_true(*tid > 0);
    return b;
}

static void test_btf_same_struct(void **state)
{
    (void)state;
    int sa, ta, sb, tb;
    struct btf *a = struct_btf("hi", "flags", 96, 1, &sa, &ta);
    struct btf *b = struct_btf("hi", "flags", 96, 1, &sb, &tb);
    char what[120] = "x";
    assert_false(pin_btf_diff(a, (uint32_t)sa, b, (uint32_t)sb, what, sizeof(what)));
    assert_string_equal(what, "");
    /* A typedef is looked through. */
    assert_false(pin_btf_diff(a, (uint32_t)ta, b, (uint32_t)sb, what, sizeof(what)));
    btf__free(a);
    btf__free(b);
}

/* Same size (16 bytes), other fields: renamed, moved, or an array of another length. */
static void test_btf_fields_changed(void **state)
{
    (void)state;
    int sa, ta, sb, tb;
    char what[120];
    struct btf *a = struct_btf("hi", "flags", 96, 1, &sa, &ta);
    struct btf *b = struct_btf("end", "flags", 96, 1, &sb, &tb);
    assert_true(pin_btf_diff(a, (uint32_t)sa, b, (uint32_t)sb, what, sizeof(what)));
    assert_string_equal(what, "member 1: hi -> end");
    btf__free(b);
    b = struct_btf("hi", "flags", 64, 1, &sb, &tb);
    assert_true(pin_btf_diff(a, (uint32_t)sa, b, (uint32_t)sb, what, sizeof(what)));
    assert_string_equal(what, "member flags: offset 96 -> 64 bits");
    btf__free(b);
    b = struct_btf("hi", "flags", 96, 2, &sb, &tb);
    assert_true(pin_btf_diff(a, (uint32_t)sa, b, (uint32_t)sb, what, sizeof(what)));
    assert_string_equal(what, "flags: size 4 -> 8");
    assert_true(pin_btf_diff(a, (uint32_t)sa, b, (uint32_t)sb, NULL, 0));
    btf__free(a);
    btf__free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_layout),        cmocka_unit_test(test_each_field_named),
        cmocka_unit_test(test_short_buffer),       cmocka_unit_test(test_btf_same_struct),
        cmocka_unit_test(test_btf_fields_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
