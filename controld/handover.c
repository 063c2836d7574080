/* SPDX-License-Identifier: MIT */
/*
 * handover.c — the cut of the sessions a returning helper holds (handover.h).
 */
#include "handover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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
    uint64_t skip_bits;
};

static void collect_id(void *arg, const struct mirror_session *s)
{
    struct collect *x = arg;
    if (x->i < x->cut->cap && !(s->id & x->skip_bits))
        x->cut->ids[x->i++] = s->id;
}

int handover_cut_from_mirror(struct handover_cut *cut, const struct mirror *m, uint64_t skip_bits)
{
    handover_cut_clear(cut);
    if (reserve(cut, m->count ? m->count : 1) < 0)
        return -ENOMEM;
    struct collect x = {.cut = cut, .skip_bits = skip_bits};
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

/* ---- the run ---- */

void handover_init(struct handover *h, const struct handover_ops *ops, void *arg)
{
    memset(h, 0, sizeof(*h));
    h->ops = ops;
    h->arg = arg;
}

void handover_stop(struct handover *h)
{
    if (h->active)
        h->ops->timer(h->arg, 0);
    free(h->recs);
    h->recs = NULL;
    h->n_recs = 0;
    h->req = 0;
    h->active = false;
    h->holding = false;
}

void handover_free(struct handover *h)
{
    handover_stop(h);
    handover_cut_clear(&h->cut);
}

int handover_take_cut(struct handover *h, const struct mirror *m, uint64_t skip_bits)
{
    handover_stop(h);
    h->before_arm = 0;
    int err = handover_cut_from_mirror(&h->cut, m, skip_bits);
    if (err)
        log_err("handover: no memory for the ids of the %u sessions the helper holds: the "
                "kernel path's sessions created until arming are not handed to the helper "
                "(their flows break at arming)",
                m->count);
    return err;
}

/* The kernel path's sessions the helper does not hold (outside the cut), malloc'd. */
static int collect(struct handover *h, struct sessrec **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int err = h->ops->collect(h->arg, out, n);
    if (err == 0)
        *n = handover_select(&h->cut, *out, *n);
    return err;
}

/* why: NULL when the helper holds every kernel-path session, else why arming goes ahead. */
static void finish(struct handover *h, const char *why)
{
    unsigned long long took = h->ops->now_ms(h->arg) - h->started_ms;
    unsigned rounds = h->round;
    handover_stop(h);
    if (why)
        log_warn("handover: %s (%u round(s), %llu ms): arming anyway; kernel-path sessions "
                 "created meanwhile are handed over once armed",
                 why, rounds, took);
    else if (h->cut.valid)
        log_info("handover: the helper holds the %llu kernel-path session(s) created since its "
                 "snapshot (%u round(s), %llu ms)",
                 (unsigned long long)h->before_arm, rounds, took);
    h->ops->arm(h->arg);
}

/* Hands the helper what the kernel path created since the cut; arms when there is none. */
static void round_start(struct handover *h)
{
    if (!h->cut.valid) {
        finish(h, NULL); /* nothing to hand over from (held without a cut) */
        return;
    }
    if (h->round >= HANDOVER_MAX_ROUNDS) {
        finish(h, "the kernel path still creates sessions after the last round");
        return;
    }
    if (h->ops->now_ms(h->arg) - h->started_ms >= HANDOVER_MAX_MS) {
        finish(h, "the helper did not acknowledge the sessions in time");
        return;
    }
    struct sessrec *recs;
    size_t n;
    int err = collect(h, &recs, &n);
    if (err) {
        free(recs);
        log_err("handover: cannot read the kernel path's sessions: %s", strerror(-err));
        finish(h, "the kernel path's sessions could not be read");
        return;
    }
    if (n == 0) {
        free(recs);
        finish(h, NULL);
        return;
    }
    uint64_t req = 0;
    err = h->ops->send(h->arg, recs, n, &req);
    if (err) {
        free(recs);
        h->failed += n;
        log_err("handover: cannot send %zu kernel-path sessions to the helper: %s", n,
                strerror(-err));
        finish(h, "the sessions could not be sent to the helper");
        return;
    }
    h->recs = recs;
    h->n_recs = n;
    h->req = req;
    h->round++;
    h->rounds++;
    log_info("handover: round %u: %zu kernel-path session(s) the helper lacks sent to the "
             "helper",
             h->round, n);
}

bool handover_start(struct handover *h, uint64_t hold_ms)
{
    if (!h->cut.valid && !hold_ms)
        return false;
    handover_stop(h);
    h->active = true;
    h->round = 0;
    h->started_ms = h->ops->now_ms(h->arg);
    if (hold_ms) {
        h->holding = true;
        log_warn("handover: arming held %llu ms (test hook MOAT_TEST_HOLD_ARM_MS)",
                 (unsigned long long)hold_ms);
        h->ops->timer(h->arg, hold_ms);
        return true;
    }
    h->ops->timer(h->arg, HANDOVER_MAX_MS);
    round_start(h);
    return true;
}

void handover_reply(struct handover *h, uint64_t request_id, bool lost)
{
    if (!h->active || !h->req || request_id != h->req) {
        if (request_id == h->late_req) {
            if (lost) {
                h->failed += h->late_n;
                log_warn("handover: the helper lost the %llu session(s) handed over after "
                         "arming (request %llu): their flows may break",
                         (unsigned long long)h->late_n, (unsigned long long)request_id);
            }
            h->late_req = 0;
            h->late_n = 0;
        }
        return; /* a round given up on */
    }
    size_t n = h->n_recs;
    if (lost) {
        /* Not in the cut: the next round sends them again. */
        h->failed += n;
        log_warn("handover: the helper lost %zu handed-over session(s) (its tables were "
                 "rebuilt); sending them again",
                 n);
    } else if (handover_cut_add(&h->cut, h->recs, n) == 0) {
        h->sessions += n;
        h->before_arm += n;
    }
    free(h->recs);
    h->recs = NULL;
    h->n_recs = 0;
    h->req = 0;
    round_start(h);
}

void handover_timeout(struct handover *h)
{
    if (!h->active)
        return;
    if (h->holding) {
        h->holding = false;
        h->started_ms = h->ops->now_ms(h->arg);
        h->ops->timer(h->arg, HANDOVER_MAX_MS);
        round_start(h);
        return;
    }
    finish(h, "the helper did not acknowledge the sessions in time");
}

size_t handover_armed(struct handover *h)
{
    size_t sent = 0;
    if (h->cut.valid) {
        struct sessrec *recs;
        size_t n;
        int err = collect(h, &recs, &n);
        if (err) {
            log_err("handover: cannot read the kernel path's sessions at arming: %s; those "
                    "created since the last round are lost",
                    strerror(-err));
        } else if (n) {
            uint64_t req = 0;
            err = h->ops->send(h->arg, recs, n, &req);
            if (err) {
                h->failed += n;
                log_err("handover: cannot send %zu kernel-path sessions to the helper at "
                        "arming: %s; their flows break",
                        n, strerror(-err));
            } else {
                h->late += n;
                h->late_req = req;
                h->late_n = n;
                sent = n;
                log_warn("handover: %zu kernel-path session(s) handed over late (once armed): "
                         "their packets between arming and the helper's install may be dropped",
                         n);
            }
        }
        free(recs);
    }
    handover_stop(h);
    handover_cut_clear(&h->cut);
    h->before_arm = 0;
    return sent;
}
