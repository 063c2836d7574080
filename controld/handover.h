/* SPDX-License-Identifier: MIT */
/*
 * handover.h — the kernel path's sessions handed to a helper that comes back (issue 6).
 *
 * When the helper says Hello, its snapshot carries the mirror's sessions, the kernel path's
 * included. Until controld arms, the kernel path keeps forwarding and creating sessions: those
 * are not in the snapshot. The cut is the set of session ids the helper holds (the mirror's at
 * snapshot time, plus every id it acknowledged since in a handover SessionInstall); before
 * arming (lifecycle.c), the kernel path's sessions outside the cut are installed in the helper,
 * so arming (which empties the kernel path's session map) loses none of them.
 *
 * Pure data structure: no libuv, no BPF, unit-tested on its own.
 */
#ifndef MOAT_HANDOVER_H
#define MOAT_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mirror.h"
#include "sessrec.h"

/* Rounds of "install what the kernel path created meanwhile" before arming anyway, and the
 * time they may take in all. */
#define HANDOVER_MAX_ROUNDS 4
#define HANDOVER_MAX_MS 1000

struct handover_cut {
    uint64_t *ids; /* sorted, unique */
    size_t n, cap;
    bool valid; /* set by a Hello snapshot, cleared when forwarding is armed */
};

/* The cut becomes the ids of every session in m (valid). 0 or -ENOMEM (cut left invalid). */
int handover_cut_from_mirror(struct handover_cut *cut, const struct mirror *m);
/* Adds the ids of recs (acknowledged by the helper). 0 or -ENOMEM (cut unchanged). */
int handover_cut_add(struct handover_cut *cut, const struct sessrec *recs, size_t n);
bool handover_cut_has(const struct handover_cut *cut, uint64_t id);
/* Empties the cut and marks it invalid. */
void handover_cut_clear(struct handover_cut *cut);
/* Keeps in recs[0..n) those whose id is not in the cut (order kept); returns how many. */
size_t handover_select(const struct handover_cut *cut, struct sessrec *recs, size_t n);

#endif
