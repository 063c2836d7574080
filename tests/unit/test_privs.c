/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/privs.c: capability names, and privs_restrict() in a child process
 * (it changes the credentials of the process that calls it). As root the child ends with
 * exactly the kept effective/permitted set and the asked bounding set, and cannot grow
 * either afterwards; as another user (no capabilities) nothing is held, nothing to drop,
 * and the bounding set is left (no CAP_SETPCAP) — both are checked against /proc.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "privs.h"

static void test_names(void **state)
{
    (void)state;
    char buf[256];
    assert_string_equal(privs_names(PRIVS_CAP(CAP_CHOWN) | PRIVS_CAP(CAP_BPF), buf, sizeof(buf)),
                        "CAP_CHOWN CAP_BPF");
    assert_string_equal(privs_names(0, buf, sizeof(buf)), "none");
    assert_string_equal(privs_names(PRIVS_CAP(CAP_NET_RAW) | PRIVS_CAP(50), buf, sizeof(buf)),
                        "CAP_NET_RAW cap_50");
    char tiny[8];
    privs_names(PRIVS_CAP(CAP_NET_ADMIN), tiny, sizeof(tiny)); /* truncated, terminated */
    assert_true(strlen(tiny) < sizeof(tiny));
}

/* The child's checks; its exit status is the number of the first one that failed. */
static int child(void)
{
    const uint64_t keep = PRIVS_CAP(CAP_NET_RAW);
    const uint64_t bound = keep | PRIVS_CAP(CAP_IPC_LOCK);
    uint64_t before;
    if (privs_read_status("CapEff:", &before) != 0)
        return 1;
    const bool root = (before & PRIVS_CAP(CAP_SETPCAP)) && (before & keep);
    struct privs_result r;
    if (privs_restrict(keep, bound, &r) != 0)
        return 2;
    uint64_t eff, prm, bnd, inh;
    if (privs_read_status("CapEff:", &eff) || privs_read_status("CapPrm:", &prm) ||
        privs_read_status("CapBnd:", &bnd) || privs_read_status("CapInh:", &inh))
        return 3;
    if (eff != r.effective || bnd != r.bounding || inh != 0 || prm != eff)
        return 4;
    if (root) {
        if (eff != keep || bnd != bound || r.missing || r.bounding_skipped ||
            r.bounding_dropped <= 0)
            return 5;
        /* Neither set grows back: CAP_BPF is not held any more, CAP_SETPCAP is gone. */
        if (privs_restrict(keep | PRIVS_CAP(CAP_BPF), ~0ull, &r) != 0)
            return 6;
        if (r.missing != PRIVS_CAP(CAP_BPF) || !r.bounding_skipped || r.effective != keep ||
            r.bounding != bound)
            return 7;
    } else {
        if (eff != (before & keep) || r.missing != (keep & ~before) || !r.bounding_skipped)
            return 8;
    }
    return 0;
}

static void test_restrict_in_child(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_restrict_in_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
