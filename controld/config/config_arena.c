/* SPDX-License-Identifier: MIT */
#include "config_arena.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 16384
#define ARENA_ALIGN 16

struct arena_block {
    struct arena_block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct cfg_arena {
    struct arena_block *head;
};

struct cfg_arena *cfg_arena_new(void)
{
    return calloc(1, sizeof(struct cfg_arena));
}

void cfg_arena_free(struct cfg_arena *a)
{
    if (!a)
        return;
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *cfg_arena_alloc(struct cfg_arena *a, size_t size)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t bsize = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        struct arena_block *nb = malloc(sizeof(*nb) + bsize);
        if (!nb)
            return NULL;
        nb->size = bsize;
        nb->used = 0;
        if (b && size > ARENA_BLOCK) {
            /* A big one-off: keep filling the current block afterwards. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *cfg_arena_strndup(struct cfg_arena *a, const char *s, size_t len)
{
    char *p = cfg_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *cfg_arena_strdup(struct cfg_arena *a, const char *s)
{
    return cfg_arena_strndup(a, s, strlen(s));
}

void *cfg_arena_push(struct cfg_arena *a, void *arr, unsigned *n, size_t elem_size)
{
    void **parr = arr;
    unsigned count = *n;
    if (count >= UINT_MAX / 2)
        return NULL;
    /* Capacity is 4 up to 4 elements, then the next power of two: full at 0, 4, 8, 16... */
    if (count == 0 || (count >= 4 && (count & (count - 1)) == 0)) {
        size_t cap = count ? (size_t)count * 2 : 4;
        unsigned char *grown = cfg_arena_alloc(a, cap * elem_size);
        if (!grown)
            return NULL;
        if (count)
            memcpy(grown, *parr, (size_t)count * elem_size);
        *parr = grown;
    }
    unsigned char *base = *parr;
    void *elem = base + (size_t)count * elem_size;
    memset(elem, 0, elem_size);
    *n = count + 1;
    return elem;
}
