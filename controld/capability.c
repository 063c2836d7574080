/* SPDX-License-Identifier: MIT */
/*
 * capability.c — kernel probes and the per-interface decision userspace / legacy
 * (capability.h).
 */
#include "capability.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/bpf.h>

static const struct {
    const char *name;
    const char *label;
} probes[CAP__N] = {
    [CAP_BPF] = {"bpf", "BPF/XDP programs"},
    [CAP_BTF] = {"btf", "kernel BTF"},
    [CAP_TAIL_CALL] = {"tail_call", "tail calls"},
    [CAP_CPUMAP] = {"cpumap", "cpumap"},
    [CAP_DEVMAP] = {"devmap", "devmap"},
    [CAP_XSKMAP] = {"xskmap", "XSK map"},
    [CAP_XDP_META] = {"xdp_meta", "XDP metadata (bpf_xdp_adjust_meta)"},
    [CAP_FIB_LOOKUP] = {"fib_lookup", "bpf_fib_lookup"},
};

const char *cap_probe_name(enum cap_probe p)
{
    return p < CAP__N ? probes[p].name : "?";
}

const char *cap_probe_label(enum cap_probe p)
{
    return p < CAP__N ? probes[p].label : "?";
}

const char *cap_mode_name(enum cap_mode m)
{
    switch (m) {
    case CAP_MODE_USERSPACE:
        return "userspace";
    case CAP_MODE_LEGACY:
        return "legacy";
    default:
        return "none";
    }
}

const char *cap_errno_name(int err)
{
    static __thread char buf[16];
    int e = err < 0 ? -err : err;
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(buf, sizeof(buf), "E%d", e);
    return buf;
}

/* libbpf probes answer 1 (yes), 0 (no) or a negative errno. */
static void set_probe(struct cap_kernel *k, enum cap_probe p, int rc)
{
    if (rc == 1) {
        k->err[p] = 0;
        k->detail[p][0] = 0;
    } else if (rc == 0) {
        k->err[p] = -EOPNOTSUPP;
        snprintf(k->detail[p], sizeof(k->detail[p]), "%s: not supported by this kernel",
                 probes[p].label);
    } else {
        k->err[p] = rc;
        snprintf(k->detail[p], sizeof(k->detail[p]), "%s: probe failed: %s", probes[p].label,
                 cap_errno_name(rc));
    }
}

static bool word_in(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *s = list; s && *s;) {
        const char *e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == wl && strncmp(s, word, l) == 0)
            return true;
        s = e ? e + 1 : NULL;
    }
    return false;
}

void cap_apply_override(struct cap_kernel *k, const char *list)
{
    for (int p = 0; p < CAP__N; p++) {
        if (!word_in(list, probes[p].name))
            continue;
        k->err[p] = -EOPNOTSUPP;
        snprintf(k->detail[p], sizeof(k->detail[p]), "%s: not supported (test override %s)",
                 probes[p].label, CAP_TEST_ENV);
    }
}

void cap_probe_kernel(struct cap_kernel *k)
{
    memset(k, 0, sizeof(*k));
    set_probe(k, CAP_BPF, libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL));
    if (access("/sys/kernel/btf/vmlinux", R_OK) == 0) {
        set_probe(k, CAP_BTF, 1);
    } else {
        k->err[CAP_BTF] = -errno;
        snprintf(k->detail[CAP_BTF], sizeof(k->detail[CAP_BTF]),
                 "kernel BTF: /sys/kernel/btf/vmlinux: %s", cap_errno_name(-errno));
    }
    int rc = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PROG_ARRAY, NULL);
    if (rc == 1)
        rc = libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_tail_call, NULL);
    set_probe(k, CAP_TAIL_CALL, rc);
    set_probe(k, CAP_CPUMAP, libbpf_probe_bpf_map_type(BPF_MAP_TYPE_CPUMAP, NULL));
    set_probe(k, CAP_DEVMAP, libbpf_probe_bpf_map_type(BPF_MAP_TYPE_DEVMAP, NULL));
    set_probe(k, CAP_XSKMAP, libbpf_probe_bpf_map_type(BPF_MAP_TYPE_XSKMAP, NULL));
    set_probe(k, CAP_XDP_META,
              libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_xdp_adjust_meta, NULL));
    set_probe(k, CAP_FIB_LOOKUP,
              libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_fib_lookup, NULL));
    const char *ov = getenv(CAP_TEST_ENV);
    if (ov && *ov)
        cap_apply_override(k, ov);
    k->probed = true;
}

/* ---- the decision ---- */

static const enum cap_probe need_userspace[] = {CAP_BPF, CAP_XSKMAP, CAP_XDP_META, CAP_CPUMAP};
static const enum cap_probe need_legacy[] = {CAP_BPF, CAP_TAIL_CALL, CAP_DEVMAP, CAP_CPUMAP,
                                             CAP_FIB_LOOKUP};

/* The first missing kernel feature of list, as "XDP metadata (...): not supported ...". */
static const char *kernel_blocker(const struct cap_kernel *k, const enum cap_probe *list, size_t n)
{
    if (!k || !k->probed)
        return "the kernel was not probed";
    for (size_t i = 0; i < n; i++) {
        if (k->err[list[i]])
            return k->detail[list[i]][0] ? k->detail[list[i]] : probes[list[i]].label;
    }
    return NULL;
}

/* Why the userspace path cannot run on p (NULL if it can). */
static const char *userspace_blocker(const struct cap_kernel *k, const struct cap_iface_probe *p,
                                     char *buf, size_t len)
{
    const char *kb =
        kernel_blocker(k, need_userspace, sizeof(need_userspace) / sizeof(*need_userspace));
    if (kb)
        return kb;
    if (!p->present)
        return "the interface does not exist";
    if (p->xdp == MOAT_XDP_NONE) {
        snprintf(buf, len, "XDP attach failed: %s",
                 p->attach_error && *p->attach_error ? p->attach_error : "unknown error");
        return buf;
    }
    if (p->xsk == CAP_XSK_FAILED) {
        snprintf(buf, len, "AF_XDP bind failed: %s%s%s", cap_errno_name(p->xsk_err),
                 p->xsk_error_text && *p->xsk_error_text ? " — " : "",
                 p->xsk_error_text ? p->xsk_error_text : "");
        return buf;
    }
    return NULL;
}

static const char *legacy_blocker(const struct cap_kernel *k, const struct cap_iface_probe *p,
                                  char *buf, size_t len)
{
    const char *kb = kernel_blocker(k, need_legacy, sizeof(need_legacy) / sizeof(*need_legacy));
    if (kb)
        return kb;
    if (!p->present)
        return "the interface does not exist";
    if (p->xdp == MOAT_XDP_NONE) {
        snprintf(buf, len, "XDP attach failed: %s",
                 p->attach_error && *p->attach_error ? p->attach_error : "unknown error");
        return buf;
    }
    return NULL;
}

/* "native XDP, AF_XDP copy mode (zero-copy: EOPNOTSUPP)" */
static void describe_userspace(const struct cap_iface_probe *p, char *out, size_t len)
{
    int n = snprintf(out, len, "%s XDP, ", xdp_attach_mode_name(p->xdp));
    if (n < 0 || (size_t)n >= len)
        return;
    switch (p->xsk) {
    case CAP_XSK_ZEROCOPY:
        snprintf(out + n, len - n, "AF_XDP zero-copy mode%s",
                 p->need_wakeup ? "" : " (no need_wakeup)");
        break;
    case CAP_XSK_COPY:
        if (p->zc_err)
            snprintf(out + n, len - n, "AF_XDP copy mode (zero-copy: %s)%s",
                     cap_errno_name(p->zc_err), p->need_wakeup ? "" : " (no need_wakeup)");
        else
            snprintf(out + n, len - n, "AF_XDP copy mode%s",
                     p->need_wakeup ? "" : " (no need_wakeup)");
        break;
    default:
        snprintf(out + n, len - n, "AF_XDP not bound yet (waiting for the helper)");
        break;
    }
}

void cap_decide(const struct cap_kernel *k, const struct cap_iface_probe *p,
                enum cfg_dataplane_mode want, struct cap_decision *out)
{
    char ub[256], lb[256], desc[200];
    memset(out, 0, sizeof(*out));
    const char *u = userspace_blocker(k, p, ub, sizeof(ub));
    const char *l = legacy_blocker(k, p, lb, sizeof(lb));
    out->userspace_ok = u == NULL;
    out->legacy_ok = l == NULL;
    const char *xdp = xdp_attach_mode_name(p->xdp);

    if (want == CFG_MODE_LEGACY) {
        if (!l) {
            out->mode = CAP_MODE_LEGACY;
            snprintf(out->reason, sizeof(out->reason),
                     "legacy — forced by config (system dataplane mode legacy); %s XDP", xdp);
        } else {
            out->mode = CAP_MODE_NONE;
            snprintf(out->reason, sizeof(out->reason), "none — forced legacy mode impossible: %s",
                     l);
        }
        return;
    }
    if (!u) {
        out->mode = CAP_MODE_USERSPACE;
        out->pending = p->xsk == CAP_XSK_UNKNOWN;
        describe_userspace(p, desc, sizeof(desc));
        snprintf(out->reason, sizeof(out->reason), "userspace — %s%s", desc,
                 want == CFG_MODE_USERSPACE ? " (forced by config)" : "");
        return;
    }
    const char *pre = want == CFG_MODE_USERSPACE ? "forced userspace mode impossible: " : "";
    if (!l) {
        out->mode = CAP_MODE_LEGACY;
        snprintf(out->reason, sizeof(out->reason), "legacy — %s%s", pre, u);
    } else {
        out->mode = CAP_MODE_NONE;
        snprintf(out->reason, sizeof(out->reason), "none — %s%s; legacy path: %s", pre, u, l);
    }
}

int cap_check_forced(const struct cap_kernel *k, const struct cap_iface_probe *p, unsigned n,
                     enum cfg_dataplane_mode want, char *why, size_t len)
{
    if (want == CFG_MODE_AUTO)
        return 0;
    const char *mode = want == CFG_MODE_LEGACY ? "legacy" : "userspace";
    /* Kernel features first: they hold for every interface, even absent ones. */
    const char *kb =
        want == CFG_MODE_LEGACY
            ? kernel_blocker(k, need_legacy, sizeof(need_legacy) / sizeof(*need_legacy))
            : kernel_blocker(k, need_userspace, sizeof(need_userspace) / sizeof(*need_userspace));
    if (kb) {
        snprintf(why, len,
                 "system dataplane mode %s cannot run on this machine: %s (use mode auto or "
                 "%s)",
                 mode, kb, want == CFG_MODE_LEGACY ? "userspace" : "legacy");
        return -EOPNOTSUPP;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!p[i].present)
            continue; /* not managed until it appears: nothing to hold against it */
        char buf[256];
        const char *b = want == CFG_MODE_LEGACY ? legacy_blocker(k, &p[i], buf, sizeof(buf))
                                                : userspace_blocker(k, &p[i], buf, sizeof(buf));
        if (b) {
            snprintf(why, len,
                     "system dataplane mode %s cannot run on interface %s: %s (use mode auto or "
                     "fix the interface)",
                     mode, p[i].name ? p[i].name : "?", b);
            return -EOPNOTSUPP;
        }
    }
    return 0;
}

void cap_kernel_summary(const struct cap_kernel *k, char *out, size_t len)
{
    size_t off = 0;
    out[0] = 0;
    if (!k->probed) {
        snprintf(out, len, "not probed");
        return;
    }
    for (int p = 0; p < CAP__N && off < len; p++) {
        int n;
        if (k->err[p])
            n = snprintf(out + off, len - off, "%s%s no (%s)", p ? ", " : "", probes[p].label,
                         cap_errno_name(k->err[p]));
        else
            n = snprintf(out + off, len - off, "%s%s yes", p ? ", " : "", probes[p].label);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}
