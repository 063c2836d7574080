/* SPDX-License-Identifier: MIT */
/*
 * gate.c — the capability gate (capability.h) applied to controld's interfaces: the decision
 * per interface, its logging and counting, the commit-time check of a forced mode, and
 * arming / disarming one interface (also for the operator).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "capability.h"
#include "controld.h"
#include "helper.h"
#include "log.h"

static enum cap_xsk xsk_state(const struct ctl_iface *ifc)
{
    if (ifc->bind_error)
        return CAP_XSK_FAILED;
    if (strcmp(ifc->xsk_mode, "zerocopy") == 0)
        return CAP_XSK_ZEROCOPY;
    if (strcmp(ifc->xsk_mode, "copy") == 0)
        return CAP_XSK_COPY;
    return CAP_XSK_UNKNOWN;
}

static void iface_probe(const struct ctl_iface *ifc, struct cap_iface_probe *p)
{
    memset(p, 0, sizeof(*p));
    p->name = ifc->name;
    p->present = ifc->ifindex != 0;
    p->xdp = ifc->xdp_mode;
    p->attach_error = ifc->attach_error;
    p->xsk = xsk_state(ifc);
    p->xsk_err = ifc->bind_error;
    p->xsk_error_text = ifc->bind_error_text;
    p->zc_err = ifc->zc_err;
    p->need_wakeup = ifc->need_wakeup;
}

void gate_update(struct controld *c)
{
    if (!c->cap.probed)
        cap_probe_kernel(&c->cap);
    enum cfg_dataplane_mode want = c->cfg ? c->cfg->system.mode : CFG_MODE_AUTO;
    unsigned n_user = 0, n_legacy = 0, n_none = 0;
    bool any_armed = false;
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        struct cap_iface_probe p;
        struct cap_decision d;
        iface_probe(ifc, &p);
        cap_decide(&c->cap, &p, want, &d);
        if (!ifc->dp_decided) {
            log_info("interface %s: dataplane %s", ifc->name, d.reason);
        } else if (ifc->dp_mode != d.mode) {
            ifc->mode_switches++;
            c->mode_switches++;
            log_warn("interface %s: dataplane mode switch %s -> %s", ifc->name,
                     cap_mode_name(ifc->dp_mode), d.reason);
        } else if (strcmp(ifc->dp_reason, d.reason) != 0) {
            log_info("interface %s: dataplane %s", ifc->name, d.reason);
        }
        ifc->dp_decided = true;
        ifc->dp_mode = d.mode;
        snprintf(ifc->dp_reason, sizeof(ifc->dp_reason), "%s", d.reason);
        if (ifc->armed && d.mode != CAP_MODE_USERSPACE) {
            if (ifc->ifindex && c->bpf)
                bootstrap_set_armed(c->bpf, ifc->ifindex, false);
            ifc->armed = false;
            c->disarms++;
            log_warn("interface %s: forwarding disarmed: the capability gate chose %s", ifc->name,
                     cap_mode_name(d.mode));
        }
        any_armed |= ifc->armed;
        if (!ifc->ifindex)
            continue; /* not in the kernel: not part of the box's mode */
        if (d.mode == CAP_MODE_USERSPACE)
            n_user++;
        else if (d.mode == CAP_MODE_LEGACY)
            n_legacy++;
        else
            n_none++;
    }
    c->armed = any_armed;
    const char *why = want == CFG_MODE_AUTO     ? "auto"
                      : want == CFG_MODE_LEGACY ? "forced by config (system dataplane mode legacy)"
                                                : "forced by config (system dataplane mode "
                                                  "userspace)";
    if (n_legacy == 0 && n_none == 0) {
        snprintf(c->mode, sizeof(c->mode), "userspace");
        snprintf(c->mode_reason, sizeof(c->mode_reason),
                 "%s: %u interface(s) can run the userspace path (AF_XDP); per interface "
                 "below",
                 why, n_user);
    } else if (n_user == 0) {
        snprintf(c->mode, sizeof(c->mode), "legacy");
        snprintf(c->mode_reason, sizeof(c->mode_reason),
                 "%s: %u interface(s) on the legacy in-kernel path%s; per interface below", why,
                 n_legacy, n_none ? ", some with no Moat path at all" : "");
    } else {
        snprintf(c->mode, sizeof(c->mode), "mixed");
        snprintf(c->mode_reason, sizeof(c->mode_reason),
                 "%s: %u interface(s) userspace, %u legacy%s; per interface below", why, n_user,
                 n_legacy, n_none ? ", some with no Moat path at all" : "");
    }
}

int gate_check_config(struct controld *c, const struct moat_config *cfg, char *why, size_t len)
{
    if (cfg->system.mode == CFG_MODE_AUTO)
        return 0;
    if (!c->cap.probed)
        cap_probe_kernel(&c->cap);
    struct cap_iface_probe p[MOAT_MAX_IFACES];
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->n_ifaces && n < MOAT_MAX_IFACES; i++) {
        const char *name = cfg->ifaces[i].name;
        struct ctl_iface *ifc = NULL;
        for (unsigned j = 0; j < c->n_ifaces; j++) {
            if (strcmp(c->ifaces[j].name, name) == 0)
                ifc = &c->ifaces[j];
        }
        if (ifc) {
            iface_probe(ifc, &p[n++]);
        } else {
            /* Not managed yet: the commit attaches it; judge it on the kernel alone. */
            memset(&p[n], 0, sizeof(p[n]));
            p[n].name = name;
            n++;
        }
    }
    return cap_check_forced(&c->cap, p, n, cfg->system.mode, why, len);
}

/* Whether ifc may be armed now (gate_try_arm but setting the arm bit). 0 or -errno, why. */
static int check_arm(struct controld *c, struct ctl_iface *ifc, char *why, size_t len)
{
    if (!ifc->ifindex || ifc->xdp_mode == MOAT_XDP_NONE || !c->bpf) {
        snprintf(why, len, "%s: the XDP shim is not attached%s%s", ifc->name,
                 ifc->attach_error[0] ? ": " : "", ifc->attach_error);
        return -ENODEV;
    }
    if (ifc->dp_mode != CAP_MODE_USERSPACE) {
        snprintf(why, len, "%s: the capability gate chose %s", ifc->name, ifc->dp_reason);
        return -EOPNOTSUPP;
    }
    if (helper_get_state(c->helper) != HELPER_APPLIED || c->applied_generation != c->generation) {
        snprintf(why, len,
                 "%s: the helper has not applied the current snapshot (generation %llu, applied "
                 "%llu, helper %s)",
                 ifc->name, (unsigned long long)c->generation,
                 (unsigned long long)c->applied_generation,
                 helper_state_name(helper_get_state(c->helper)));
        return -EAGAIN;
    }
    /* Never trust "ready": every queue must have its socket in the map. */
    for (uint32_t q = 0; q < ifc->queues && q < MOAT_MAX_QUEUES; q++) {
        bool present = false;
        int err = bootstrap_xsk_present(c->bpf, ifc->slot, q, &present);
        if (err || !present) {
            snprintf(why, len, "%s: moat_xsks has no socket for queue %u (slot %u)%s%s", ifc->name,
                     q, ifc->slot, err ? ": " : "", err ? strerror(-err) : "");
            return err ? err : -ENOENT;
        }
    }
    return 0;
}

int gate_try_arm(struct controld *c, struct ctl_iface *ifc, char *why, size_t len)
{
    int err = check_arm(c, ifc, why, len);
    if (err)
        return err;
    err = bootstrap_set_armed(c->bpf, ifc->ifindex, true);
    if (err) {
        snprintf(why, len, "%s: cannot set the arm bit in moat_ifaces: %s", ifc->name,
                 strerror(-err));
        return err;
    }
    ifc->armed = true;
    return 0;
}

int gate_operator_arm(struct controld *c, const char *ifname, bool arm, char *msg, size_t len)
{
    unsigned done = 0, failed = 0;
    size_t off = 0;
    msg[0] = 0;
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (ifname && strcmp(ifc->name, ifname) != 0)
            continue;
        if (!arm) {
            lifecycle_iface_disarming(c, ifc); /* the kernel path first gets the mirror's */
            ifc->op_disarmed = true;
            if (ifc->ifindex && c->bpf)
                bootstrap_set_armed(c->bpf, ifc->ifindex, false);
            if (ifc->armed) {
                ifc->armed = false;
                c->disarms++;
            }
            log_warn("interface %s: forwarding disarmed by the operator (transit traffic takes "
                     "the legacy path until `request dataplane arm`)",
                     ifc->name);
            done++;
            continue;
        }
        /* Stays operator-disarmed until an arm succeeds: a new helper must not arm it. Its
         * packets leave the kernel path: lifecycle.c arms (below), after handing the helper
         * the kernel path's sessions it lacks (handover.h), with or without others armed. */
        char why[384];
        int err = check_arm(c, ifc, why, sizeof(why));
        if (err) {
            failed++;
            int n = snprintf(msg + off, len - off, "%s%s", off ? "; " : "", why);
            if (n > 0 && (size_t)n < len - off)
                off += (size_t)n;
            log_warn("operator arm refused: %s", why);
            continue;
        }
        ifc->op_disarmed = false;
        log_info("interface %s: forwarding armed by the operator", ifc->name);
        done++;
    }
    bool any = false;
    for (unsigned i = 0; i < c->n_ifaces; i++)
        any |= c->ifaces[i].armed;
    if (any && !c->armed)
        c->arms++;
    c->armed = any;
    if (arm && done)
        lifecycle_helper_applied(c, c->applied_generation);
    if (ifname && done + failed == 0) {
        snprintf(msg, len, "interface %s is not managed by Moat (not in the configuration)",
                 ifname);
        return 2;
    }
    return failed ? 1 : 0;
}
