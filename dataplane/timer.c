/* SPDX-License-Identifier: MIT */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int timer_wheel_init(struct timer_wheel *w, uint32_t nslots, uint32_t tick_ms, void *base,
                     size_t stride, size_t node_off, uint64_t now_ms)
{
    memset(w, 0, sizeof(*w));
    if (nslots < 2 || (nslots & (nslots - 1)) != 0 || tick_ms == 0 || !base ||
        stride < sizeof(struct timer_node))
        return -EINVAL;
    w->heads = malloc((size_t)nslots * sizeof(*w->heads));
    if (!w->heads)
        return -ENOMEM;
    memset(w->heads, 0xff, (size_t)nslots * sizeof(*w->heads));
    w->nslots = nslots;
    w->mask = nslots - 1;
    w->tick_ms = tick_ms;
    w->cur_tick = now_ms / tick_ms;
    w->base = base;
    w->stride = stride;
    w->node_off = node_off;
    return 0;
}

void timer_wheel_free(struct timer_wheel *w)
{
    free(w->heads);
    w->heads = NULL;
}

void timer_link(struct timer_wheel *w, uint32_t idx, uint32_t slot)
{
    struct timer_node *n = timer_node_at(w, idx);
    uint32_t head = w->heads[slot];
    n->prev = TIMER_NONE;
    n->next = head;
    n->slot = slot;
    if (head != TIMER_NONE)
        timer_node_at(w, head)->prev = idx;
    w->heads[slot] = idx;
    w->linked++;
}

void timer_unlink(struct timer_wheel *w, uint32_t idx)
{
    struct timer_node *n = timer_node_at(w, idx);
    if (n->slot == TIMER_NONE)
        return;
    if (n->prev != TIMER_NONE)
        timer_node_at(w, n->prev)->next = n->next;
    else
        w->heads[n->slot] = n->next;
    if (n->next != TIMER_NONE)
        timer_node_at(w, n->next)->prev = n->prev;
    n->next = n->prev = n->slot = TIMER_NONE;
    w->linked--;
}

uint32_t timer_pop(struct timer_wheel *w, uint32_t slot)
{
    uint32_t idx = w->heads[slot];
    if (idx != TIMER_NONE)
        timer_unlink(w, idx);
    return idx;
}

/* The tick a deadline fires at: the first tick boundary at or after it, not before the
 * earliest tick still to be processed, not beyond the horizon. */
static uint64_t tick_for(const struct timer_wheel *w, uint64_t deadline_ms, uint64_t min_tick)
{
    uint64_t t = deadline_ms / w->tick_ms + (deadline_ms % w->tick_ms != 0);
    if (t < min_tick)
        t = min_tick;
    if (t > w->cur_tick + w->nslots - 1)
        t = w->cur_tick + w->nslots - 1;
    return t;
}

uint32_t timer_slot_for(const struct timer_wheel *w, uint64_t deadline_ms)
{
    return (uint32_t)(tick_for(w, deadline_ms, w->cur_tick) & w->mask);
}

void timer_arm(struct timer_wheel *w, uint32_t idx, uint64_t deadline_ms)
{
    timer_unlink(w, idx);
    timer_link(w, idx, timer_slot_for(w, deadline_ms));
}

uint32_t timer_run(struct timer_wheel *w, uint64_t now_ms, uint32_t budget, timer_fn fn, void *ctx)
{
    const uint64_t now_tick = now_ms / w->tick_ms;
    uint32_t done = 0;
    /* After a stall longer than the horizon every slot is due once: visit each once. */
    if (now_tick >= w->cur_tick + w->nslots)
        w->cur_tick = now_tick - w->nslots + 1;
    while (w->cur_tick <= now_tick) {
        const uint32_t slot = (uint32_t)(w->cur_tick & w->mask);
        w->slots_visited++;
        for (;;) {
            if (done >= budget)
                return done; /* resume this slot next time */
            uint32_t idx = timer_pop(w, slot);
            if (idx == TIMER_NONE)
                break;
            w->nodes_visited++;
            done++;
            uint64_t again = fn(ctx, idx, now_ms);
            if (again) {
                /* Never back into the slot being drained. */
                timer_link(w, idx, (uint32_t)(tick_for(w, again, w->cur_tick + 1) & w->mask));
            }
        }
        w->cur_tick++;
    }
    return done;
}
