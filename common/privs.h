/* SPDX-License-Identifier: MIT */
/*
 * privs.h — least privilege without systemd: a daemon that runs as root keeps only the
 * capabilities it needs once it has started (capget/capset and prctl directly: no libcap).
 *
 * privs_restrict(keep, bound): the effective and permitted sets become keep (less what the
 * process does not hold, e.g. under systemd's CapabilityBoundingSet), the inheritable and
 * ambient sets become empty, and every capability outside bound is dropped from the
 * bounding set (bound must contain keep; a root process that execs — controld spawning the
 * helper — hands its bounding set to the child, so it must cover the child's needs too).
 * Without CAP_SETPCAP the bounding set cannot shrink: it is left as it is and said so.
 */
#ifndef MOAT_PRIVS_H
#define MOAT_PRIVS_H

#include <linux/capability.h>
#include <stddef.h>
#include <stdint.h>

#define PRIVS_CAP(c) (1ull << (c))

struct privs_result {
    uint64_t effective;   /* after: CapEff */
    uint64_t bounding;    /* after: CapBnd */
    uint64_t missing;     /* asked to keep but not held before */
    int bounding_dropped; /* capabilities removed from the bounding set */
    int bounding_skipped; /* 1: no CAP_SETPCAP, the bounding set was left */
};

int privs_restrict(uint64_t keep, uint64_t bound, struct privs_result *res);

/* "CAP_BPF CAP_NET_ADMIN ..." for a mask ("none" for 0); returns buf. */
const char *privs_names(uint64_t mask, char *buf, size_t len);

/* CapEff / CapPrm / CapBnd ("CapEff:") of /proc/self/status; -errno when unreadable. */
int privs_read_status(const char *field, uint64_t *out);

#endif
