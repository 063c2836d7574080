/* SPDX-License-Identifier: MIT */
/*
 * test_controld_capability.c — the capability gate's decision (capability.h): probe results +
 * configured mode -> userspace / legacy / none per interface, with the reasons; the commit
 * check of a forced mode; the test-only probe override; errno names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capability.h"

/* A kernel that supports everything. */
static void kernel_all(struct cap_kernel *k)
{
    memset(k, 0, sizeof(*k));
    k->probed = true;
}

/* veth as the lab sees it: native XDP, copy mode, zero-copy refused with EOPNOTSUPP. */
static struct cap_iface_probe veth(const char *name)
{
    struct cap_iface_probe p = {
        .name = name,
        .present = true,
        .xdp = MOAT_XDP_NATIVE,
        .xsk = CAP_XSK_COPY,
        .zc_err = -EOPNOTSUPP,
        .need_wakeup = true,
    };
    return p;
}

static void test_auto_veth_userspace(void **state)
{
    (void)state;
    struct cap_kernel k;
    kernel_all(&k);
    struct cap_iface_probe p = veth("fw1");
    struct cap_decision d;
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_USERSPACE);
    assert_true(d.userspace_ok);
    assert_true(d.legacy_ok);
    assert_false(d.pending);
    assert_string_equal(d.reason,
                        "userspace — native XDP, AF_XDP copy mode (zero-copy: EOPNOTSUPP)");

    /* Zero-copy granted; generic XDP. */
    p.xsk = CAP_XSK_ZEROCOPY;
    p.zc_err = 0;
    p.xdp = MOAT_XDP_GENERIC;
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_USERSPACE);
    assert_string_equal(d.reason, "userspace — generic XDP, AF_XDP zero-copy mode");

    /* Not bound yet: userspace, pending, and the reason says so. */
    p.xsk = CAP_XSK_UNKNOWN;
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_USERSPACE);
    assert_true(d.pending);
    assert_non_null(strstr(d.reason, "not bound yet"));
}

static void test_auto_bind_failed_legacy(void **state)
{
    (void)state;
    struct cap_kernel k;
    kernel_all(&k);
    struct cap_iface_probe p = veth("fw1");
    p.xsk = CAP_XSK_FAILED;
    p.xsk_err = -EOPNOTSUPP;
    p.xsk_error_text = NULL;
    struct cap_decision d;
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_LEGACY);
    assert_false(d.userspace_ok);
    assert_string_equal(d.reason, "legacy — AF_XDP bind failed: EOPNOTSUPP");

    /* The helper's sentence is kept. */
    p.xsk_err = -EBUSY;
    p.xsk_error_text = "AF_XDP bind on fw1 queue 0 (copy mode): Device or resource busy";
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_non_null(strstr(d.reason, "EBUSY"));
    assert_non_null(strstr(d.reason, "queue 0 (copy mode)"));
}

static void test_auto_kernel_blockers(void **state)
{
    (void)state;
    struct cap_kernel k;
    kernel_all(&k);
    cap_apply_override(&k, "xdp_meta");
    struct cap_iface_probe p = veth("fw0");
    struct cap_decision d;
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_LEGACY);
    assert_non_null(strstr(d.reason, "XDP metadata (bpf_xdp_adjust_meta)"));
    assert_non_null(strstr(d.reason, "test override"));

    /* No tail calls either: neither path. */
    cap_apply_override(&k, "tail_call");
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_NONE);
    assert_false(d.legacy_ok);
    assert_non_null(strstr(d.reason, "tail calls"));

    /* BTF alone blocks nothing. */
    kernel_all(&k);
    cap_apply_override(&k, "btf");
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_USERSPACE);

    /* A kernel not probed decides nothing. */
    memset(&k, 0, sizeof(k));
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_NONE);
}

static void test_attach_failed(void **state)
{
    (void)state;
    struct cap_kernel k;
    kernel_all(&k);
    struct cap_iface_probe p = veth("fw0");
    p.xdp = MOAT_XDP_NONE;
    p.attach_error = "bpf_xdp_attach: Operation not permitted";
    p.xsk = CAP_XSK_UNKNOWN;
    struct cap_decision d;
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_NONE);
    assert_non_null(strstr(d.reason, "XDP attach failed: bpf_xdp_attach"));

    p.present = false;
    cap_decide(&k, &p, CFG_MODE_AUTO, &d);
    assert_int_equal(d.mode, CAP_MODE_NONE);
    assert_non_null(strstr(d.reason, "does not exist"));
}

static void test_forced(void **state)
{
    (void)state;
    struct cap_kernel k;
    kernel_all(&k);
    struct cap_iface_probe p = veth("fw1");
    struct cap_decision d;
    cap_decide(&k, &p, CFG_MODE_LEGACY, &d);
    assert_int_equal(d.mode, CAP_MODE_LEGACY);
    assert_non_null(strstr(d.reason, "forced by config"));

    cap_decide(&k, &p, CFG_MODE_USERSPACE, &d);
    assert_int_equal(d.mode, CAP_MODE_USERSPACE);
    assert_non_null(strstr(d.reason, "(forced by config)"));

    /* Forced userspace, the bind failed at run time: legacy, and it says why. */
    p.xsk = CAP_XSK_FAILED;
    p.xsk_err = -ENOMEM;
    cap_decide(&k, &p, CFG_MODE_USERSPACE, &d);
    assert_int_equal(d.mode, CAP_MODE_LEGACY);
    assert_non_null(
        strstr(d.reason, "forced userspace mode impossible: AF_XDP bind failed: ENOMEM"));

    /* Forced legacy without devmap: none. */
    cap_apply_override(&k, "devmap");
    p = veth("fw1");
    cap_decide(&k, &p, CFG_MODE_LEGACY, &d);
    assert_int_equal(d.mode, CAP_MODE_NONE);
    assert_non_null(strstr(d.reason, "forced legacy mode impossible: devmap"));
}

static void test_check_forced(void **state)
{
    (void)state;
    struct cap_kernel k;
    kernel_all(&k);
    struct cap_iface_probe p[2] = {veth("fw0"), veth("fw1")};
    char why[512];
    assert_int_equal(cap_check_forced(&k, p, 2, CFG_MODE_USERSPACE, why, sizeof(why)), 0);
    assert_int_equal(cap_check_forced(&k, p, 2, CFG_MODE_LEGACY, why, sizeof(why)), 0);

    /* One interface's bind failed: forced userspace is refused, naming it; legacy passes. */
    p[1].xsk = CAP_XSK_FAILED;
    p[1].xsk_err = -EOPNOTSUPP;
    assert_int_equal(cap_check_forced(&k, p, 2, CFG_MODE_USERSPACE, why, sizeof(why)), -EOPNOTSUPP);
    assert_non_null(strstr(why, "interface fw1"));
    assert_non_null(strstr(why, "AF_XDP bind failed: EOPNOTSUPP"));
    assert_int_equal(cap_check_forced(&k, p, 2, CFG_MODE_LEGACY, why, sizeof(why)), 0);
    assert_int_equal(cap_check_forced(&k, p, 2, CFG_MODE_AUTO, why, sizeof(why)), 0);

    /* A kernel without the XSK map refuses forced userspace even with no interface. */
    cap_apply_override(&k, "xskmap");
    assert_int_equal(cap_check_forced(&k, p, 0, CFG_MODE_USERSPACE, why, sizeof(why)), -EOPNOTSUPP);
    assert_non_null(strstr(why, "XSK map"));
    assert_non_null(strstr(why, "cannot run on this machine"));

    /* An interface not in the kernel yet (bind unknown) is not held against the mode. */
    kernel_all(&k);
    struct cap_iface_probe absent = {.name = "fw9"};
    assert_int_equal(cap_check_forced(&k, &absent, 1, CFG_MODE_USERSPACE, why, sizeof(why)), 0);
}

static void test_override_and_names(void **state)
{
    (void)state;
    struct cap_kernel k;
    kernel_all(&k);
    cap_apply_override(&k, "cpumap,xdp_meta,nonsense");
    assert_int_equal(k.err[CAP_CPUMAP], -EOPNOTSUPP);
    assert_int_equal(k.err[CAP_XDP_META], -EOPNOTSUPP);
    assert_int_equal(k.err[CAP_BPF], 0);
    assert_int_equal(k.err[CAP_DEVMAP], 0);
    /* "xdp" is not "xdp_meta": whole words only. */
    kernel_all(&k);
    cap_apply_override(&k, "xdp,meta");
    for (int i = 0; i < CAP__N; i++)
        assert_int_equal(k.err[i], 0);

    assert_string_equal(cap_errno_name(-EOPNOTSUPP), "EOPNOTSUPP");
    assert_string_equal(cap_errno_name(EBUSY), "EBUSY");
    assert_string_equal(cap_probe_name(CAP_XDP_META), "xdp_meta");

    char s[768];
    kernel_all(&k);
    cap_apply_override(&k, "btf");
    cap_kernel_summary(&k, s, sizeof(s));
    assert_non_null(strstr(s, "kernel BTF no (EOPNOTSUPP)"));
    assert_non_null(strstr(s, "cpumap yes"));
}

/* The real probes on the machine running the tests: they answer without crashing, and the
 * override marks exactly what it names. (Without root, libbpf probes may fail: not
 * asserted.) */
static void test_probe_runs(void **state)
{
    (void)state;
    struct cap_kernel k;
    setenv(CAP_TEST_ENV, "fib_lookup", 1);
    cap_probe_kernel(&k);
    unsetenv(CAP_TEST_ENV);
    assert_true(k.probed);
    assert_int_equal(k.err[CAP_FIB_LOOKUP], -EOPNOTSUPP);
    assert_non_null(strstr(k.detail[CAP_FIB_LOOKUP], "test override"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_veth_userspace),
        cmocka_unit_test(test_auto_bind_failed_legacy),
        cmocka_unit_test(test_auto_kernel_blockers),
        cmocka_unit_test(test_attach_failed),
        cmocka_unit_test(test_forced),
        cmocka_unit_test(test_check_forced),
        cmocka_unit_test(test_override_and_names),
        cmocka_unit_test(test_probe_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
