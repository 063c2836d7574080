/* SPDX-License-Identifier: MIT */
/*
 * helper_requests.c — the SessionInstall requests in flight and their owners
 * (helper_requests.h).
 */
#include "helper_requests.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int helper_requests_add(struct helper_requests *t, helper_request_cb cb, void *owner, uint64_t *id)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct helper_request *v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (struct helper_request){.id = ++t->last_id, .cb = cb, .owner = owner};
    *id = t->last_id;
    return 0;
}

/* Index of request id (the table is in id order), or t->n. */
static size_t find(const struct helper_requests *t, uint64_t id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->v[lo].id == id ? lo : t->n;
}

static void remove_at(struct helper_requests *t, size_t i)
{
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
    t->n--;
}

void helper_requests_drop(struct helper_requests *t, uint64_t id)
{
    size_t i = find(t, id);
    if (i < t->n)
        remove_at(t, i);
}

bool helper_requests_answer(struct helper_requests *t, const Moat__SessionInstallReply *r)
{
    size_t i = find(t, r->request_id);
    if (i == t->n)
        return false;
    struct helper_request q = t->v[i];
    remove_at(t, i); /* before the callback: it may add requests */
    q.cb(q.owner, r);
    return true;
}

void helper_requests_forget_owner(struct helper_requests *t, const void *owner)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].owner != owner)
            t->v[k++] = t->v[i];
    t->n = k;
}

void helper_requests_clear(struct helper_requests *t)
{
    t->n = 0;
}

size_t helper_requests_pending(const struct helper_requests *t)
{
    return t->n;
}

void helper_requests_free(struct helper_requests *t)
{
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}
