/* SPDX-License-Identifier: MIT */
/*
 * timer.h — a hashed timer wheel over intrusive nodes, for per-worker session aging.
 *
 * The wheel does not own its elements: it links nodes (struct timer_node) that sit inside
 * the caller's array of records (base + idx * stride + node_off), addressed by index, in
 * doubly linked lists, one per slot. One slot per tick of tick_ms; nslots (a power of two)
 * slots cover a horizon of nslots * tick_ms. Arming, cancelling and re-arming are O(1).
 *
 * timer_run() visits only the slots whose tick has come (never a scan of every timer):
 * each node it pops goes to the callback, which either returns 0 (the record is gone or
 * re-armed by the callback itself) or a new deadline to re-arm it at. That makes lazy
 * refresh cheap: on a packet the caller only stores its last-seen time; when the slot fires
 * the callback sees the session is still active and returns its real deadline. Deadlines
 * beyond the horizon are parked in the farthest slot and re-armed when it fires.
 *
 * A wheel can also be used as plain ordered buckets (timer_link / timer_pop): the session
 * table keeps a second one by last-seen second for early aging (oldest idle first).
 * Single-threaded: one worker owns its wheels.
 */
#ifndef MOAT_DP_TIMER_H
#define MOAT_DP_TIMER_H

#include <stddef.h>
#include <stdint.h>

#define TIMER_NONE UINT32_MAX

struct timer_node {
    uint32_t next, prev; /* indexes; TIMER_NONE ends a list / marks the head */
    uint32_t slot;       /* slot linked in, TIMER_NONE when not linked */
};

struct timer_wheel {
    uint32_t *heads;
    uint32_t nslots, mask;
    uint32_t tick_ms;
    uint64_t cur_tick; /* next tick timer_run() processes */
    uint8_t *base;
    size_t stride;
    size_t node_off;
    uint32_t linked;
    /* Work done, for tests and statistics. */
    uint64_t slots_visited;
    uint64_t nodes_visited;
};

/*
 * Returns 0 when done with idx (closed, or re-armed by the callback), else the new deadline
 * (ms) to re-arm it at.
 */
typedef uint64_t (*timer_fn)(void *ctx, uint32_t idx, uint64_t now_ms);

/* nslots: power of two >= 2; tick_ms >= 1. -EINVAL, -ENOMEM. */
int timer_wheel_init(struct timer_wheel *w, uint32_t nslots, uint32_t tick_ms, void *base,
                     size_t stride, size_t node_off, uint64_t now_ms);
void timer_wheel_free(struct timer_wheel *w);

static inline struct timer_node *timer_node_at(const struct timer_wheel *w, uint32_t idx)
{
    return (struct timer_node *)(w->base + (size_t)idx * w->stride + w->node_off);
}

/* Marks a node unlinked (for records never armed). */
static inline void timer_node_init(struct timer_node *n)
{
    n->next = n->prev = n->slot = TIMER_NONE;
}

/* Links idx at the head of slot (slot < nslots). idx must not be linked. */
void timer_link(struct timer_wheel *w, uint32_t idx, uint32_t slot);
/* Unlinks idx if linked. */
void timer_unlink(struct timer_wheel *w, uint32_t idx);
/* Pops the head of slot: its index, or TIMER_NONE when the slot is empty. */
uint32_t timer_pop(struct timer_wheel *w, uint32_t slot);

/* (Re-)arms idx to fire at the first tick at or after deadline_ms (clamped to the horizon). */
void timer_arm(struct timer_wheel *w, uint32_t idx, uint64_t deadline_ms);

/* The slot a deadline maps to now (for tests). */
uint32_t timer_slot_for(const struct timer_wheel *w, uint64_t deadline_ms);

/*
 * Fires what is due at now_ms: the slots of ticks cur_tick..now_ms / tick_ms. At most
 * budget nodes are handed to fn per call; what is left is resumed by the next call.
 * Returns the number of nodes handed to fn.
 */
uint32_t timer_run(struct timer_wheel *w, uint64_t now_ms, uint32_t budget, timer_fn fn, void *ctx);

#endif
