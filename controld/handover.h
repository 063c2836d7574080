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
 * An arming without a Hello (the helper kept running: the last armed interface went through a
 * link cycle, or a snapshot was refused) hands over too: the helper holds the mirror's
 * sessions but those the kernel path created (ids with MOAT_LG_ID_BIT, skip_bits below), so
 * those in the kernel path's map are installed first (one the helper had already is only
 * refreshed by the install).
 *
 * The mixed state (the helper runs, some interfaces armed, others not: an operator's disarm,
 * a link cycle) is kept consistent by lifecycle.c: the kernel path is seeded from the mirror
 * when an interface is disarmed, each session it creates meanwhile is installed in the helper
 * at once (its replies may enter an armed interface), and arming one more interface runs a
 * handover first (cut: the mirror without MOAT_LG_ID_BIT, as without a Hello). The kernel path
 * is emptied only when no interface it serves is left.
 *
 * Fragment entries (moat_lg_frags) are not handed over: a datagram whose first fragment the
 * kernel path forwarded before arming loses its later fragments in the helper (no entry to
 * follow: dropped, frag_drops), as the kernel path drops those of a datagram the helper began
 * when it disarms. That is the loss of the switch itself, one datagram at most per flow, whose
 * fragments leave the sender back to back; the flow's next datagram goes through the
 * handed-over session (tests/unit/test_dp_flow.c test_fragments_after_handover).
 *
 * The run (struct handover): rounds of "install what the kernel path created since the cut,
 * wait for the helper's reply", at most HANDOVER_MAX_ROUNDS and HANDOVER_MAX_MS in all; then
 * arm, and send what the kernel path created after the last round unwaited ("late"). Its I/O
 * goes through struct handover_ops (lifecycle.c: the legacy path, the helper link, a libuv
 * timer; the unit test: fakes).
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

/* The cut becomes the ids of the sessions in m (valid), but ids with any of skip_bits set.
 * 0 or -ENOMEM (cut left invalid). */
int handover_cut_from_mirror(struct handover_cut *cut, const struct mirror *m, uint64_t skip_bits);
/* Adds the ids of recs (acknowledged by the helper). 0 or -ENOMEM (cut unchanged). */
int handover_cut_add(struct handover_cut *cut, const struct sessrec *recs, size_t n);
bool handover_cut_has(const struct handover_cut *cut, uint64_t id);
/* Empties the cut and marks it invalid. */
void handover_cut_clear(struct handover_cut *cut);
/* Keeps in recs[0..n) those whose id is not in the cut (order kept); returns how many. */
size_t handover_select(const struct handover_cut *cut, struct sessrec *recs, size_t n);

/* What a handover does through its owner. */
struct handover_ops {
    /* The kernel path's live sessions, malloc'd (the handover frees them). 0 or -errno. */
    int (*collect)(void *arg, struct sessrec **out, size_t *n);
    /* One SessionInstall of recs; its reply goes to handover_reply(). 0 or -errno. */
    int (*send)(void *arg, const struct sessrec *recs, size_t n, uint64_t *request_id);
    /* (Re)starts the one-shot timer that calls handover_timeout() after ms; 0 stops it. */
    void (*timer)(void *arg, uint64_t ms);
    /* Arms now: the handover before arming is over, whatever its outcome. */
    void (*arm)(void *arg);
    uint64_t (*now_ms)(void *arg);
};

struct handover {
    const struct handover_ops *ops;
    void *arg;
    struct handover_cut cut;
    bool active;          /* arming waits for it */
    bool holding;         /* test hook MOAT_TEST_HOLD_ARM_MS: the first round has not started */
    unsigned round;       /* rounds sent */
    uint64_t req;         /* request id of the round in flight, 0: none */
    struct sessrec *recs; /* of the round in flight */
    size_t n_recs;
    uint64_t started_ms;
    uint64_t before_arm;       /* sessions acknowledged in this handover */
    uint64_t late_req, late_n; /* the last late install, until its reply */
    /* Counters (show system status): sessions acknowledged before arming, sent late (once
     * armed), rounds sent, sessions not sent or lost by the helper. */
    uint64_t sessions, late, rounds, failed;
    /* The mixed state (an interface armed, another not, the helper running; lifecycle.c):
     * seedings of the kernel path from the mirror when one interface was disarmed; sessions
     * the kernel path created sent to the helper at once, those the helper acknowledged, those
     * not sent or lost; armings of one interface preceded by a handover. Kept by lifecycle.c. */
    uint64_t seeds, live, live_acked, live_failed, partial_arms;
};

void handover_init(struct handover *h, const struct handover_ops *ops, void *arg);
void handover_free(struct handover *h);
/* A snapshot the helper holds: the mirror's sessions (Hello: skip_bits 0) or those the
 * helper created (no Hello: MOAT_LG_ID_BIT). Ends a run in flight. 0 or -ENOMEM. */
int handover_take_cut(struct handover *h, const struct mirror *m, uint64_t skip_bits);
/* Arming is due: starts the run, after hold_ms (test hook) if not 0. False when there is none
 * to do (no cut, no hold): arm now. */
bool handover_start(struct handover *h, uint64_t hold_ms);
/* Ends the run in flight without arming (a disarm decides again). Keeps the cut. */
void handover_stop(struct handover *h);
/* The helper's reply to request_id (lost: it could not install them). */
void handover_reply(struct handover *h, uint64_t request_id, bool lost);
/* The timer ran out: the hold ends, or the time bound is reached (arm). */
void handover_timeout(struct handover *h);
/* Once armed: sends what the kernel path created after the last round, unwaited, and drops
 * the cut. How many sessions were sent. */
size_t handover_armed(struct handover *h);

#endif
