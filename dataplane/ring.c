/* SPDX-License-Identifier: MIT */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int spsc_ring_init(struct spsc_ring *r, uint32_t nelem, uint32_t esize)
{
    memset(r, 0, sizeof(*r));
    if (nelem == 0 || (nelem & (nelem - 1)) != 0 || esize == 0)
        return -EINVAL;
    size_t bytes = (size_t)nelem * esize;
    bytes = (bytes + DP_CACHELINE - 1) & ~(size_t)(DP_CACHELINE - 1);
    r->slots = aligned_alloc(DP_CACHELINE, bytes);
    if (!r->slots)
        return -ENOMEM;
    memset(r->slots, 0, bytes);
    r->size = nelem;
    r->mask = nelem - 1;
    r->esize = esize;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

void spsc_ring_free(struct spsc_ring *r)
{
    free(r->slots);
    r->slots = NULL;
    r->size = 0;
}

bool spsc_ring_push(struct spsc_ring *r, const void *elem)
{
    void *slot = spsc_ring_prod_slot(r);
    if (!slot)
        return false;
    memcpy(slot, elem, r->esize);
    spsc_ring_prod_commit(r);
    return true;
}

bool spsc_ring_pop(struct spsc_ring *r, void *elem)
{
    void *slot = spsc_ring_cons_peek(r);
    if (!slot)
        return false;
    memcpy(elem, slot, r->esize);
    spsc_ring_cons_release(r);
    return true;
}
