/* SPDX-License-Identifier: MIT */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_2M (2u << 20)

/* Maps bytes of zeroed memory, asks for transparent huge pages (random access over
 * hundreds of MiB is dominated by TLB misses otherwise) and touches every page now, so the
 * hot path never faults. */
static void *big_alloc(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (bytes >= HUGE_2M)
        (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static void big_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

static inline uint32_t next_pos(const struct sess_table *t, uint32_t pos)
{
    return ++pos == t->nslots ? 0 : pos;
}

static inline uint16_t tag_of(uint64_t h)
{
    return (uint16_t)h;
}

static uint32_t bits_for(uint32_t n)
{
    uint32_t b = 1;
    while (b < 32 && (1ull << b) < n)
        b++;
    return b;
}

int sess_table_init(struct sess_table *t, uint32_t cap, uint16_t worker, uint64_t seed,
                    bool with_shared)
{
    return sess_table_init_progress(t, cap, worker, seed, with_shared, NULL, NULL);
}

#define INIT_STEP 65536

int sess_table_init_progress(struct sess_table *t, uint32_t cap, uint16_t worker, uint64_t seed,
                             bool with_shared, void (*progress)(void *), void *arg)
{
    memset(t, 0, sizeof(*t));
    if (cap == 0 || cap > SESS_MAX_CAPACITY)
        return -EINVAL;
    t->cap = cap;
    t->worker = worker;
    t->seed = seed;
    t->slot_bits = bits_for(cap);
    t->s_bytes = (size_t)cap * sizeof(struct dp_session);
    t->s = big_alloc(t->s_bytes);
    /* Two keys per session at a load factor of at most 3/4, rounded to whole lines. */
    uint64_t n = ((uint64_t)cap * 8 + 2) / 3;
    n = (n + 7) & ~7ull;
    if (n < 16)
        n = 16;
    t->nslots = (uint32_t)n;
    t->idx_bytes = (size_t)n * sizeof(struct sess_ent);
    t->idx = big_alloc(t->idx_bytes);
    if (!t->s || !t->idx) {
        sess_table_free(t);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < t->nslots; i++) {
        t->idx[i] = (struct sess_ent){0, 0, SESS_NONE};
        if (progress && (i & (INIT_STEP * 2 - 1)) == 0)
            progress(arg);
    }
    for (uint32_t i = 0; i < cap; i++) {
        struct dp_session *s = &t->s[i];
        timer_node_init(&s->tn);
        timer_node_init(&s->idle);
        s->tn.next = i + 1 < cap ? i + 1 : SESS_NONE;
        if (progress && (i & (INIT_STEP - 1)) == 0)
            progress(arg);
    }
    t->free_head = 0;
    if (with_shared) {
        if (progress)
            progress(arg);
        t->shared = calloc(1, sizeof(*t->shared));
        if (!t->shared || sess_shared_init(t->shared, cap * 2) != 0) {
            sess_table_free(t);
            return -ENOMEM;
        }
    }
    return 0;
}

void sess_table_free(struct sess_table *t)
{
    big_free(t->s, t->s_bytes);
    big_free(t->idx, t->idx_bytes);
    if (t->shared) {
        sess_shared_free(t->shared);
        free(t->shared);
    }
    memset(t, 0, sizeof(*t));
}

size_t sess_table_bytes(const struct sess_table *t)
{
    return t->s_bytes + t->idx_bytes + (t->shared ? t->shared->bytes : 0);
}

uint32_t sess_alloc(struct sess_table *t)
{
    uint32_t i = t->free_head;
    if (i == SESS_NONE)
        return SESS_NONE;
    struct dp_session *s = &t->s[i];
    t->free_head = s->tn.next;
    timer_node_init(&s->tn);
    timer_node_init(&s->idle);
    s->flags = 0;
    t->active++;
    return i;
}

bool sess_claim(struct sess_table *t, uint32_t idx)
{
    if (idx >= t->cap || (t->s[idx].flags & (SESS_F_USED | SESS_F_CLAIMED)))
        return false;
    struct dp_session *s = &t->s[idx];
    timer_node_init(&s->tn);
    timer_node_init(&s->idle);
    s->flags = SESS_F_CLAIMED;
    t->active++;
    return true;
}

void sess_rebuild_free(struct sess_table *t)
{
    t->free_head = SESS_NONE;
    for (uint32_t i = t->cap; i-- > 0;) {
        struct dp_session *s = &t->s[i];
        if (s->flags & (SESS_F_USED | SESS_F_CLAIMED))
            continue;
        s->tn.next = t->free_head;
        t->free_head = i;
    }
}

void sess_release(struct sess_table *t, uint32_t idx)
{
    struct dp_session *s = &t->s[idx];
    s->flags = 0;
    timer_node_init(&s->idle);
    timer_node_init(&s->tn);
    s->tn.next = t->free_head;
    t->free_head = idx;
    t->active--;
}

/* ---- index ---- */

static void index_put(struct sess_table *t, uint64_t h, uint32_t ref)
{
    struct sess_ent e = {0, tag_of(h), ref};
    uint32_t pos = sess_home(t, h);
    for (;;) {
        struct sess_ent *cur = &t->idx[pos];
        if (cur->ref == SESS_NONE) {
            *cur = e;
            return;
        }
        if (cur->dist < e.dist) {
            struct sess_ent tmp = *cur;
            *cur = e;
            e = tmp;
        }
        pos = next_pos(t, pos);
        e.dist++;
    }
}

static void index_del(struct sess_table *t, uint64_t h, uint32_t ref)
{
    uint32_t pos = sess_home(t, h), d = 0;
    for (;;) {
        struct sess_ent *cur = &t->idx[pos];
        if (cur->ref == SESS_NONE || cur->dist < d)
            return; /* not there */
        if (cur->ref == ref)
            break;
        pos = next_pos(t, pos);
        d++;
    }
    /* Backward shift: pull every following displaced entry one step closer to home. */
    for (;;) {
        uint32_t nx = next_pos(t, pos);
        struct sess_ent *n = &t->idx[nx];
        if (n->ref == SESS_NONE || n->dist == 0) {
            t->idx[pos] = (struct sess_ent){0, 0, SESS_NONE};
            return;
        }
        t->idx[pos] = *n;
        t->idx[pos].dist--;
        pos = nx;
    }
}

/* Probes from (pos, d) for key: its ref or SESS_NONE. */
static inline uint32_t probe(struct sess_table *t, const struct flow_tuple *key, uint16_t tag,
                             uint32_t pos, uint32_t d)
{
    for (;;) {
        const struct sess_ent *cur = &t->idx[pos];
        t->probes++;
        if (cur->ref == SESS_NONE || cur->dist < d)
            return SESS_NONE;
        if (cur->tag == tag && flow_tuple_eq(&t->s[cur->ref >> 1].d[cur->ref & 1].key, key))
            return cur->ref;
        pos = next_pos(t, pos);
        d++;
    }
}

uint32_t sess_lookup(struct sess_table *t, const struct flow_tuple *key, uint64_t h)
{
    return probe(t, key, tag_of(h), sess_home(t, h), 0);
}

void sess_find_candidate(const struct sess_table *t, uint64_t h, struct sess_probe *pr)
{
    const uint16_t tag = tag_of(h);
    uint32_t pos = sess_home(t, h), d = 0;
    for (;;) {
        const struct sess_ent *cur = &t->idx[pos];
        if (cur->ref == SESS_NONE || cur->dist < d) {
            pr->ref = SESS_NONE;
            return;
        }
        if (cur->tag == tag) {
            /* The line of the key's direction and the shared line. */
            const char *p = (const char *)&t->s[cur->ref >> 1];
            __builtin_prefetch(p + 64 * (cur->ref & 1));
            __builtin_prefetch(p + 128);
            pr->pos = pos;
            pr->dist = d;
            pr->ref = cur->ref;
            return;
        }
        pos = next_pos(t, pos);
        d++;
    }
}

uint32_t sess_lookup_from(struct sess_table *t, const struct flow_tuple *key, uint64_t h,
                          const struct sess_probe *pr)
{
    if (pr->ref == SESS_NONE)
        return SESS_NONE;
    t->probes++;
    if (flow_tuple_eq(&t->s[pr->ref >> 1].d[pr->ref & 1].key, key))
        return pr->ref;
    return probe(t, key, tag_of(h), next_pos(t, pr->pos), pr->dist + 1);
}

int sess_insert(struct sess_table *t, uint32_t idx)
{
    struct dp_session *s = &t->s[idx];
    const uint64_t h0 = sess_hash(t, &s->d[0].key);
    const bool same = flow_tuple_eq(&s->d[0].key, &s->d[1].key);
    const uint64_t h1 = same ? h0 : sess_hash(t, &s->d[1].key);
    if (sess_lookup(t, &s->d[0].key, h0) != SESS_NONE)
        return -EEXIST;
    if (!same && sess_lookup(t, &s->d[1].key, h1) != SESS_NONE)
        return -EEXIST;
    index_put(t, h0, idx << 1);
    s->flags |= SESS_F_USED;
    if (same)
        s->flags |= SESS_F_SAME_KEY;
    else
        index_put(t, h1, idx << 1 | 1);
    if (t->shared) {
        sess_shared_add(t->shared, h0);
        if (!same)
            sess_shared_add(t->shared, h1);
        s->flags |= SESS_F_SHARED;
    }
    return 0;
}

void sess_remove(struct sess_table *t, uint32_t idx)
{
    struct dp_session *s = &t->s[idx];
    if (s->flags & SESS_F_USED) {
        const uint64_t h0 = sess_hash(t, &s->d[0].key);
        index_del(t, h0, idx << 1);
        uint64_t h1 = h0;
        if (!(s->flags & SESS_F_SAME_KEY)) {
            h1 = sess_hash(t, &s->d[1].key);
            index_del(t, h1, idx << 1 | 1);
        }
        if ((s->flags & SESS_F_SHARED) && t->shared) {
            sess_shared_del(t->shared, h0);
            if (!(s->flags & SESS_F_SAME_KEY))
                sess_shared_del(t->shared, h1);
        }
    }
    sess_release(t, idx);
}

uint32_t sess_id_slot(const struct sess_table *t, uint64_t id)
{
    if ((id >> 48) != t->worker)
        return SESS_NONE;
    uint64_t slot = id & ((1ull << t->slot_bits) - 1);
    if (slot >= t->cap || ((id & ((1ull << 48) - 1)) >> t->slot_bits) == 0)
        return SESS_NONE;
    return (uint32_t)slot;
}

uint32_t sess_find_id(const struct sess_table *t, uint64_t id)
{
    uint32_t slot = sess_id_slot(t, id);
    if (slot == SESS_NONE)
        return SESS_NONE;
    const struct dp_session *s = &t->s[slot];
    return (s->flags & SESS_F_USED) && s->id == id ? slot : SESS_NONE;
}

/* ---- shared index ---- */

static inline uint32_t sh_home(const struct sess_shared *sh, uint64_t v)
{
    return (uint32_t)(((v >> 32) * sh->nslots) >> 32);
}

static inline uint32_t sh_dist(const struct sess_shared *sh, uint64_t v, uint32_t pos)
{
    uint32_t home = sh_home(sh, v);
    return pos >= home ? pos - home : pos + sh->nslots - home;
}

static inline uint32_t sh_next(const struct sess_shared *sh, uint32_t pos)
{
    return ++pos == sh->nslots ? 0 : pos;
}

int sess_shared_init(struct sess_shared *sh, uint32_t keys)
{
    memset(sh, 0, sizeof(*sh));
    uint64_t n = ((uint64_t)keys * 4 + 2) / 3;
    n = (n + 7) & ~7ull;
    if (n < 16)
        n = 16;
    sh->nslots = (uint32_t)n;
    sh->bytes = (size_t)n * sizeof(uint64_t);
    sh->e = big_alloc(sh->bytes);
    if (!sh->e)
        return -ENOMEM;
    memset((void *)sh->e, 0, sh->bytes);
    atomic_init(&sh->seq, 0);
    return 0;
}

void sess_shared_free(struct sess_shared *sh)
{
    big_free((void *)sh->e, sh->bytes);
    sh->e = NULL;
}

static inline uint64_t sh_load(const struct sess_shared *sh, uint32_t pos)
{
    return atomic_load_explicit(&sh->e[pos], memory_order_relaxed);
}

static inline void sh_store(struct sess_shared *sh, uint32_t pos, uint64_t v)
{
    atomic_store_explicit(&sh->e[pos], v, memory_order_relaxed);
}

static inline void sh_write_begin(struct sess_shared *sh)
{
    uint32_t s = atomic_load_explicit(&sh->seq, memory_order_relaxed);
    atomic_store_explicit(&sh->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static inline void sh_write_end(struct sess_shared *sh)
{
    uint32_t s = atomic_load_explicit(&sh->seq, memory_order_relaxed);
    atomic_store_explicit(&sh->seq, s + 1, memory_order_release);
}

void sess_shared_add(struct sess_shared *sh, uint64_t h)
{
    /* The partition has room for every key of the table's sessions: never full. */
    uint64_t v = h | 1;
    uint32_t pos = sh_home(sh, v), d = 0;
    sh_write_begin(sh);
    for (;;) {
        uint64_t cur = sh_load(sh, pos);
        if (cur == 0) {
            sh_store(sh, pos, v);
            break;
        }
        uint32_t cd = sh_dist(sh, cur, pos);
        if (cd < d) {
            sh_store(sh, pos, v);
            v = cur;
            d = cd;
        }
        pos = sh_next(sh, pos);
        d++;
    }
    sh->count++;
    sh_write_end(sh);
}

void sess_shared_del(struct sess_shared *sh, uint64_t h)
{
    uint64_t v = h | 1;
    uint32_t pos = sh_home(sh, v), d = 0;
    for (;;) {
        uint64_t cur = sh_load(sh, pos);
        if (cur == 0 || sh_dist(sh, cur, pos) < d)
            return;
        if (cur == v)
            break;
        pos = sh_next(sh, pos);
        d++;
    }
    sh_write_begin(sh);
    for (;;) {
        uint32_t nx = sh_next(sh, pos);
        uint64_t n = sh_load(sh, nx);
        if (n == 0 || sh_dist(sh, n, nx) == 0) {
            sh_store(sh, pos, 0);
            break;
        }
        sh_store(sh, pos, n);
        pos = nx;
    }
    sh->count--;
    sh_write_end(sh);
}

static bool sh_probe(const struct sess_shared *sh, uint64_t v)
{
    uint32_t pos = sh_home(sh, v), d = 0;
    for (uint32_t n = 0; n < sh->nslots; n++) {
        uint64_t cur = sh_load(sh, pos);
        if (cur == v)
            return true;
        if (cur == 0 || sh_dist(sh, cur, pos) < d)
            return false;
        pos = sh_next(sh, pos);
        d++;
    }
    return false;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

bool sess_shared_has(const struct sess_shared *sh, uint64_t h)
{
    const uint64_t v = h | 1;
    /* A seqlock read: a miss counts only if no change overlapped the probe. The owner's
     * changes take well under a microsecond each, so a reader is only ever delayed while
     * the owner is writing (a hit needs no check: the owner verifies the key). */
    for (;;) {
        uint32_t s1 = atomic_load_explicit(&sh->seq, memory_order_acquire);
        if (s1 & 1) {
            cpu_relax();
            continue;
        }
        if (sh_probe(sh, v))
            return true;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&sh->seq, memory_order_relaxed) == s1)
            return false;
    }
}
