/* SPDX-License-Identifier: MIT */
/*
 * ring.h — a bounded, lock-free single-producer/single-consumer ring of fixed-size slots.
 *
 * One thread produces, one thread consumes; neither ever blocks or allocates. Slots are
 * accessed in place: the producer asks for the next free slot, fills it and commits it; the
 * consumer peeks at the oldest committed slot, reads (and may rewrite) it and releases it.
 * Between commit and release a slot belongs to the consumer, otherwise to the producer, so
 * a slot can carry state back to the producer (the worker hand-off ring uses that to return
 * a fresh frame in the slot it consumed).
 *
 * head and tail are free-running 32-bit counters; the ring holds head - tail slots.
 */
#ifndef MOAT_DP_RING_H
#define MOAT_DP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_CACHELINE 64

struct spsc_ring {
    /* Producer's line. */
    _Alignas(DP_CACHELINE) _Atomic uint32_t head;
    uint32_t tail_cache; /* producer's last view of tail */
    /* Consumer's line. */
    _Alignas(DP_CACHELINE) _Atomic uint32_t tail;
    uint32_t head_cache; /* consumer's last view of head */
    /* Read-only after init. */
    _Alignas(DP_CACHELINE) uint32_t size;
    uint32_t mask;
    uint32_t esize;
    uint8_t *slots;
};

/* nelem must be a power of two (>= 1); esize > 0. Slots are zeroed. -EINVAL, -ENOMEM. */
int spsc_ring_init(struct spsc_ring *r, uint32_t nelem, uint32_t esize);
void spsc_ring_free(struct spsc_ring *r);

/* Slot i (0..size-1) by position, for initialising slot contents before any thread runs. */
static inline void *spsc_ring_slot_at(struct spsc_ring *r, uint32_t i)
{
    return r->slots + (size_t)(i & r->mask) * r->esize;
}

/* Producer: the next free slot, or NULL when the ring is full. */
static inline void *spsc_ring_prod_slot(struct spsc_ring *r)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h - r->tail_cache == r->size) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h - r->tail_cache == r->size)
            return NULL;
    }
    return spsc_ring_slot_at(r, h);
}

/* Producer: publishes the slot returned by the last spsc_ring_prod_slot(). */
static inline void spsc_ring_prod_commit(struct spsc_ring *r)
{
    uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

/* Consumer: the oldest committed slot, or NULL when the ring is empty. */
static inline void *spsc_ring_cons_peek(struct spsc_ring *r)
{
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t == r->head_cache) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (t == r->head_cache)
            return NULL;
    }
    return spsc_ring_slot_at(r, t);
}

/* Consumer: gives the slot returned by the last spsc_ring_cons_peek() back. */
static inline void spsc_ring_cons_release(struct spsc_ring *r)
{
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}

/* Copying forms: false when full / empty. */
bool spsc_ring_push(struct spsc_ring *r, const void *elem);
bool spsc_ring_pop(struct spsc_ring *r, void *elem);

/* Slots in use, as seen now (exact when called by either side with the other idle). */
static inline uint32_t spsc_ring_count(struct spsc_ring *r)
{
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    return h - t;
}

#endif
