/* SPDX-License-Identifier: MIT */
/*
 * flowctl.h — the control thread's side of the sessions: where the session tables live
 * (one per worker that has sockets, max_sessions split between them), moving sessions when
 * that layout changes, re-seeding from Snapshot.sessions, batching the workers' deltas into
 * SessionDeltaBatch messages (every DP_FLUSH_MS, or as soon as DP_BATCH_MAX are waiting, or
 * when a worker pokes the control thread about the first delta after a quiet spell),
 * SessionClear (routed to the owning workers through their command rings) and
 * PolicyCountersRequest (the workers' counters summed).
 *
 * Everything here runs on the control thread. Layout changes and installs happen only while
 * the workers are stopped; the rest talks to running workers through their rings.
 */
#ifndef MOAT_DP_FLOWCTL_H
#define MOAT_DP_FLOWCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "dp.h"
#include "flow.h"
#include "moat.pb-c.h"
#include "policy.h"
#include "sessrec.h"

#define DP_FLUSH_MS 50
#define DP_FLUSH_MIN_MS 5 /* a worker's wake-up flushes at once if the last flush is older */
#define DP_BATCH_MAX 256
#define DP_SYNC_SLOTS (2 * DP_CMD_RING)
#define DP_SYNC_PENDING 256

struct flowctl_sync_pending {
    uint64_t req, records;
    uint64_t target[MOAT_MAX_WORKERS]; /* sync_consumed each worker must reach */
};

struct flowctl_clear; /* a SessionClear in progress */

struct flowctl {
    struct dp *dp;
    int (*send)(void *arg, const Moat__Envelope *env);
    void *send_arg;
    struct pol_names pnames, anames;
    uint32_t slot_id[POL_MAX_SLOTS]; /* policy counter slot -> Policy.id, latest known */
    uint64_t seq;
    uint64_t lost_seen; /* deltas_lost of all workers, as already reported */
    int64_t next_flush_ms;
    int64_t last_flush_ms;
    uint32_t layout_cap;  /* sessions per table of the current layout */
    uint32_t layout_mask; /* workers holding a table */
    struct flowctl_clear *clears, *clears_tail;
    /* Counters, for logs and tests. */
    uint64_t batches, deltas_sent, installed, install_failed;
    /* HA sync installs in flight: DP_SYNC_SLOTS records per worker, reused round-robin. The
     * command ring holds at most DP_CMD_RING commands, so when a slot comes round again the
     * command that used it (DP_SYNC_SLOTS = 2 x DP_CMD_RING pushes ago) was consumed, even
     * while the slot is written before the push waits for room. */
    struct dp_delta *sync_slots[MOAT_MAX_WORKERS];
    uint64_t sync_pushed[MOAT_MAX_WORKERS];
    uint64_t sync_records, sync_unusable, sync_ring_timeouts;
    /* SessionInstall requests waiting for their workers (FIFO of DP_SYNC_PENDING). */
    struct flowctl_sync_pending *sync_pend;
    uint32_t sync_pend_head, sync_pend_n;
    /* Batch buffers. */
    struct dp_delta buf[DP_BATCH_MAX];
    Moat__SessionDelta d[DP_BATCH_MAX];
    Moat__SessionDelta *dp_[DP_BATCH_MAX];
    Moat__SessionRecord r[DP_BATCH_MAX];
    Moat__FlowKey k[2 * DP_BATCH_MAX];
    /* Creates of synced sessions, compact (SessionDeltaBatch.created), and their names. */
    struct sessrec created[DP_BATCH_MAX];
    char *names[2 * DP_BATCH_MAX];
    uint32_t n_names;
};

int flowctl_init(struct flowctl *fc, struct dp *dp,
                 int (*send)(void *arg, const Moat__Envelope *env), void *send_arg);
/* Frees the tables too (workers stopped). */
void flowctl_free(struct flowctl *fc);

/* Remembers which policy id each counter slot has in t. */
void flowctl_tables_built(struct flowctl *fc, const struct dp_tables *t);

/* True if t's max_sessions or the set of workers with sockets asks for new tables. */
bool flowctl_layout_changed(const struct flowctl *fc, const struct dp_tables *t);
/*
 * Workers stopped, sockets set up: gives every worker with a bound socket a table of its
 * share of t's max_sessions, moving the sessions of the previous tables over. -ENOMEM with
 * err set (the previous tables are gone then: sessions are lost, controld re-seeds).
 */
int flowctl_layout(struct flowctl *fc, const struct dp_tables *t, char *err, size_t errlen);
/* Workers stopped, tables laid out: installs the sessions a snapshot carries. Returns how
 * many were installed. */
uint64_t flowctl_install_snapshot(struct flowctl *fc, const Moat__Snapshot *s,
                                  const struct dp_tables *t);

/* SessionInstall (HA sync, running workers): each of its records (struct sessrec) goes to its
 * worker's command ring; a full ring is waited for (up to a second, the control thread's
 * heartbeats go on). Once the workers went through them, flowctl_poll() answers
 * SessionInstallReply. A blob that is not a whole number of records is answered lost. */
void flowctl_sync_install(struct flowctl *fc, const Moat__SessionInstall *m);

/* Sends what is due: delta batches (all waiting ones when force), finished clears. */
void flowctl_poll(struct flowctl *fc, int64_t now_ms, bool force);
/* When flowctl_poll() wants to run next (ms, absolute). */
int64_t flowctl_next_ms(const struct flowctl *fc, int64_t now_ms);

void flowctl_clear(struct flowctl *fc, const Moat__SessionClear *m);
void flowctl_policy_counters(struct flowctl *fc, const Moat__PolicyCountersRequest *m);

/* SessionRecord <-> dp_delta (exported for tests). rec_to_delta needs t to find the
 * policy and application again; false when the record is unusable. */
void flowctl_delta_to_record(const struct flowctl *fc, const struct dp_delta *d,
                             Moat__SessionRecord *r, Moat__FlowKey *fwd, Moat__FlowKey *rev);
bool flowctl_record_to_delta(const struct flowctl *fc, const Moat__SessionRecord *r,
                             const struct dp_tables *t, struct dp_delta *d);
/* The compact form of the record flowctl_delta_to_record makes (SessionDeltaBatch.created):
 * the same fields; the names are added to fc->names (their index + 1 in the record), order is
 * left to the caller. */
void flowctl_delta_to_sessrec(struct flowctl *fc, const struct dp_delta *d, struct sessrec *s);
/* A synced session from its compact record (SessionInstall.records), as
 * flowctl_record_to_delta makes it from the SessionRecord. */
bool flowctl_sessrec_to_delta(const struct flowctl *fc, const struct sessrec *r,
                              const struct dp_tables *t, struct dp_delta *d);

#endif
