/* SPDX-License-Identifier: MIT */
/*
 * capability.h — the capability gate (DESIGN.md "Lifecycle" step 2): what the kernel and each
 * interface can do, and the decision per interface between the userspace path (shim ->
 * AF_XDP -> helper) and the legacy path (shim -> xdp_main_prog), with every reason kept.
 *
 * Two halves:
 *  - probes (cap_probe_kernel): libbpf feature probes of the running kernel; the interface
 *    facts (XDP attach mode, AF_XDP bind result) come from bootstrap.c and the helper.
 *  - the decision (cap_decide, cap_check_forced): a pure function of probe results and the
 *    configured mode, unit-tested in tests/unit/test_controld_capability.c.
 *
 * Test-only: the environment variable MOAT_TEST_PROBE_FAIL (a comma-separated list of probe
 * names, see cap_probe_name(), e.g. "xdp_meta,xskmap") makes those kernel probes report
 * EOPNOTSUPP, so that lab tests can check a refused forced mode and the auto fallback on a
 * machine that supports everything. Never set it in production: it lies about the kernel.
 */
#ifndef MOAT_CAPABILITY_H
#define MOAT_CAPABILITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bootstrap.h"
#include "config.h"

#define CAP_TEST_ENV "MOAT_TEST_PROBE_FAIL"

/* Kernel probes. */
enum cap_probe {
    CAP_BPF = 0,    /* the bpf() syscall and XDP programs */
    CAP_BTF,        /* /sys/kernel/btf/vmlinux */
    CAP_TAIL_CALL,  /* BPF_MAP_TYPE_PROG_ARRAY + bpf_tail_call from XDP */
    CAP_CPUMAP,     /* BPF_MAP_TYPE_CPUMAP (host-bound traffic) */
    CAP_DEVMAP,     /* BPF_MAP_TYPE_DEVMAP (legacy path redirect) */
    CAP_XSKMAP,     /* BPF_MAP_TYPE_XSKMAP (AF_XDP redirect) */
    CAP_XDP_META,   /* bpf_xdp_adjust_meta from XDP */
    CAP_FIB_LOOKUP, /* bpf_fib_lookup from XDP (legacy path routing) */
    CAP__N
};

struct cap_kernel {
    bool probed;
    int err[CAP__N];         /* 0 = supported, else a negative errno */
    char detail[CAP__N][96]; /* why, when err != 0 */
};

/* What the helper's AF_XDP bind of an interface gave (from SnapshotApplied). */
enum cap_xsk { CAP_XSK_UNKNOWN = 0, CAP_XSK_ZEROCOPY, CAP_XSK_COPY, CAP_XSK_FAILED };

struct cap_iface_probe {
    const char *name;
    bool present;             /* the kernel has the interface */
    enum xdp_attach_mode xdp; /* MOAT_XDP_NONE: the shim is not attached */
    const char *attach_error; /* when xdp == NONE and present */
    enum cap_xsk xsk;
    int xsk_err;                /* CAP_XSK_FAILED: the bind's negative errno */
    const char *xsk_error_text; /* CAP_XSK_FAILED: the helper's sentence (may be NULL) */
    int zc_err;                 /* why zero-copy was refused (negative errno), 0 = not refused */
    bool need_wakeup;           /* the bind has XDP_USE_NEED_WAKEUP */
};

enum cap_mode { CAP_MODE_USERSPACE = 0, CAP_MODE_LEGACY, CAP_MODE_NONE };

struct cap_decision {
    enum cap_mode mode;
    bool userspace_ok; /* the userspace path is possible (or still pending the bind) */
    bool legacy_ok;
    bool pending;     /* userspace chosen, AF_XDP bind not reported yet */
    char reason[320]; /* "userspace — native XDP, AF_XDP copy mode (zero-copy: EOPNOTSUPP)" */
};

/* Short name of a probe ("btf", "xdp_meta", ...), as MOAT_TEST_PROBE_FAIL spells it. */
const char *cap_probe_name(enum cap_probe p);
/* Human name ("XDP metadata (bpf_xdp_adjust_meta)"). */
const char *cap_probe_label(enum cap_probe p);
const char *cap_mode_name(enum cap_mode m);
/* "EOPNOTSUPP" for -EOPNOTSUPP (the errno's name, never a guess); "E<n>" if unknown. */
const char *cap_errno_name(int err);

/* Probes the running kernel. Honours MOAT_TEST_PROBE_FAIL. */
void cap_probe_kernel(struct cap_kernel *k);
/* Applies a test override list ("xdp_meta,zerocopy") to k; exported for the unit tests. */
void cap_apply_override(struct cap_kernel *k, const char *list);

/*
 * The decision for one interface. Pure: depends only on its arguments.
 *  - userspace needs BPF, the XSK map, XDP metadata, cpumap, the shim attached, and an
 *    AF_XDP bind that did not fail (not reported yet = pending, still userspace).
 *  - legacy needs BPF, tail calls, devmap, cpumap, bpf_fib_lookup and the shim attached.
 *  - auto: userspace if possible, else legacy if possible, else none.
 *  - forced: that mode if possible; else (a runtime fact changed after the commit) legacy if
 *    possible, else none, and the reason says the forced mode is impossible.
 */
void cap_decide(const struct cap_kernel *k, const struct cap_iface_probe *p,
                enum cfg_dataplane_mode want, struct cap_decision *out);

/*
 * The commit-time check of a forced mode: -EOPNOTSUPP with a sentence naming the first
 * interface and why, if want forces a mode one of the n interfaces cannot run; 0 otherwise
 * (auto always passes; an interface whose bind is not known yet is not held against it).
 */
int cap_check_forced(const struct cap_kernel *k, const struct cap_iface_probe *p, unsigned n,
                     enum cfg_dataplane_mode want, char *why, size_t len);

/* One line for status: "BPF yes, BTF yes, tail calls yes, ..., XDP metadata no (EOPNOTSUPP)". */
void cap_kernel_summary(const struct cap_kernel *k, char *out, size_t len);

#endif
