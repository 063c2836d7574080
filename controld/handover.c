/* SPDX-License-Identifier: MIT */
/*
 * handover.c — the cut of the sessions a returning helper holds (handover.h).
 */
#include "handover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int reserve(struct handover_cut *cut, size_t need)
{
    if (need <= cut->cap)
        return 0;
    size_t cap = cut->cap ? cut->cap : 64;
    while (cap < need)
        cap *= 2;
    uint64_t *v = realloc(cut->ids, cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    cut->ids = v;
    cut->cap = cap;
    return 0;
}

/* Sorts ids[0..n) and drops duplicates; returns the new count. */
static size_t sort_unique(uint64_t *ids, size_t n)
{
    if (n < 2)
        return n;
    qsort(ids, n, sizeof(*ids), cmp_id);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (ids[i] != ids[k - 1])
            ids[k++] = ids[i];
    return k;
}

struct collect {
    struct handover_cut *cut;
    size_t i;
};

static void collect_id(void *arg, const struct mirror_session *s)
{
    struct collect *x = arg;
    if (x->i < x->cut->cap)
        x->cut->ids[x->i++] = s->id;
}

int handover_cut_from_mirror(struct handover_cut *cut, const struct mirror *m)
{
    handover_cut_clear(cut);
    if (reserve(cut, m->count ? m->count : 1) < 0)
        return -ENOMEM;
    struct collect x = {.cut = cut};
    mirror_foreach(m, collect_id, &x);
    cut->n = sort_unique(cut->ids, x.i);
    cut->valid = true;
    return 0;
}

int handover_cut_add(struct handover_cut *cut, const struct sessrec *recs, size_t n)
{
    if (reserve(cut, cut->n + n) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        cut->ids[cut->n + i] = recs[i].id;
    cut->n = sort_unique(cut->ids, cut->n + n);
    return 0;
}

bool handover_cut_has(const struct handover_cut *cut, uint64_t id)
{
    return cut->n && bsearch(&id, cut->ids, cut->n, sizeof(id), cmp_id) != NULL;
}

void handover_cut_clear(struct handover_cut *cut)
{
    free(cut->ids);
    memset(cut, 0, sizeof(*cut));
}

size_t handover_select(const struct handover_cut *cut, struct sessrec *recs, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (handover_cut_has(cut, recs[i].id))
            continue;
        if (k != i)
            recs[k] = recs[i];
        k++;
    }
    return k;
}
