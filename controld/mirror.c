/* SPDX-License-Identifier: MIT */
/*
 * mirror.c — the session mirror (see mirror.h).
 */
#include "mirror.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessrec.h"

#define CHUNK_SHIFT 12
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define MIN_BUCKETS 1024u
#define MAX_NAMES 65536u
#define MIRROR_BATCH_NAMES 512 /* a batch's names remembered as interned (2 a record) */
#define EXPIRE_GRACE_MIN_MS 120000ull

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t bytes_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static inline struct mirror_session *at(const struct mirror *m, uint32_t idx1)
{
    uint32_t i = idx1 - 1;
    return &m->chunks[i >> CHUNK_SHIFT][i & (CHUNK_SIZE - 1)];
}

static uint64_t key_hash(const struct mirror_session *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t alen = s->family == 6 ? 16 : 4;
    h = bytes_hash(h, &s->from_zone, sizeof(s->from_zone));
    h = bytes_hash(h, &s->family, 1);
    h = bytes_hash(h, &s->proto, 1);
    h = bytes_hash(h, s->fwd_src, alen);
    h = bytes_hash(h, s->fwd_dst, alen);
    h = bytes_hash(h, &s->fwd_sport, 2);
    h = bytes_hash(h, &s->fwd_dport, 2);
    return mix64(h);
}

static bool key_eq(const struct mirror_session *a, const struct mirror_session *b)
{
    size_t alen = a->family == 6 ? 16 : 4;
    return a->from_zone == b->from_zone && a->family == b->family && a->proto == b->proto &&
           a->fwd_sport == b->fwd_sport && a->fwd_dport == b->fwd_dport &&
           memcmp(a->fwd_src, b->fwd_src, alen) == 0 && memcmp(a->fwd_dst, b->fwd_dst, alen) == 0;
}

/* ---- names ---- */

static int names_grow_hash(struct mirror *m)
{
    uint32_t size = m->name_hash_size ? m->name_hash_size * 2 : 256;
    uint32_t *h = calloc(size, sizeof(*h));
    if (!h)
        return -ENOMEM;
    for (uint32_t i = 1; i < m->n_names; i++) {
        uint32_t pos =
            (uint32_t)mix64(bytes_hash(0, m->names[i], strlen(m->names[i]))) & (size - 1);
        while (h[pos])
            pos = (pos + 1) & (size - 1);
        h[pos] = i + 1;
    }
    free(m->name_hash);
    m->name_hash = h;
    m->name_hash_size = size;
    return 0;
}

/* Index of name in the table, added if new; 0 ("") for "" or when the table is full. */
static uint32_t name_intern(struct mirror *m, const char *name)
{
    if (!name || !name[0])
        return 0;
    size_t len = strnlen(name, CFG_NAME_MAX - 1);
    uint64_t hv = mix64(bytes_hash(0, name, len));
    if (m->name_hash_size) {
        uint32_t pos = (uint32_t)hv & (m->name_hash_size - 1);
        while (m->name_hash[pos]) {
            uint32_t i = m->name_hash[pos] - 1;
            if (strncmp(m->names[i], name, len) == 0 && m->names[i][len] == 0)
                return i;
            pos = (pos + 1) & (m->name_hash_size - 1);
        }
    }
    if (m->n_names >= MAX_NAMES)
        return 0;
    if ((m->n_names + 1) * 2 > m->name_hash_size && names_grow_hash(m) < 0)
        return 0;
    if (m->n_names == m->cap_names) {
        uint32_t cap = m->cap_names ? m->cap_names * 2 : 64;
        char **nv = realloc(m->names, cap * sizeof(*nv));
        if (!nv)
            return 0;
        m->names = nv;
        m->cap_names = cap;
    }
    char *copy = strndup(name, len);
    if (!copy)
        return 0;
    uint32_t idx = m->n_names++;
    m->names[idx] = copy;
    uint32_t pos = (uint32_t)hv & (m->name_hash_size - 1);
    while (m->name_hash[pos])
        pos = (pos + 1) & (m->name_hash_size - 1);
    m->name_hash[pos] = idx + 1;
    return idx;
}

const char *mirror_name(const struct mirror *m, uint32_t idx)
{
    return idx < m->n_names ? m->names[idx] : "";
}

/* ---- life ---- */

int mirror_init(struct mirror *m, uint32_t max_sessions)
{
    memset(m, 0, sizeof(*m));
    m->max = max_sessions ? max_sessions : MIRROR_DEFAULT_MAX;
    m->n_buckets = MIN_BUCKETS;
    m->by_id = calloc(m->n_buckets, sizeof(*m->by_id));
    m->by_key = calloc(m->n_buckets, sizeof(*m->by_key));
    m->names = calloc(64, sizeof(*m->names));
    if (!m->by_id || !m->by_key || !m->names) {
        mirror_free(m);
        return -ENOMEM;
    }
    m->cap_names = 64;
    m->names[0] = strdup("");
    if (!m->names[0]) {
        mirror_free(m);
        return -ENOMEM;
    }
    m->n_names = 1;
    return 0;
}

void mirror_free(struct mirror *m)
{
    for (uint32_t i = 0; i < m->n_chunks; i++)
        free(m->chunks[i]);
    free(m->chunks);
    free(m->by_id);
    free(m->by_key);
    for (uint32_t i = 0; i < m->n_names; i++)
        free(m->names[i]);
    free(m->names);
    free(m->name_hash);
    memset(m, 0, sizeof(*m));
}

void mirror_set_max(struct mirror *m, uint32_t max_sessions)
{
    m->max = max_sessions ? max_sessions : MIRROR_DEFAULT_MAX;
}

void mirror_reset_seq(struct mirror *m)
{
    m->seq_known = false;
}

/* ---- hash tables ---- */

static uint32_t find_id(const struct mirror *m, uint64_t id)
{
    uint32_t b = (uint32_t)mix64(id) & (m->n_buckets - 1);
    for (uint32_t i = m->by_id[b]; i; i = at(m, i)->next_id) {
        if (at(m, i)->id == id)
            return i;
    }
    return 0;
}

static uint32_t find_key(const struct mirror *m, const struct mirror_session *k)
{
    uint32_t b = (uint32_t)key_hash(k) & (m->n_buckets - 1);
    for (uint32_t i = m->by_key[b]; i; i = at(m, i)->next_key) {
        if (key_eq(at(m, i), k))
            return i;
    }
    return 0;
}

static void link_entry(struct mirror *m, uint32_t idx)
{
    struct mirror_session *s = at(m, idx);
    uint32_t b = (uint32_t)mix64(s->id) & (m->n_buckets - 1);
    s->next_id = m->by_id[b];
    m->by_id[b] = idx;
    b = (uint32_t)key_hash(s) & (m->n_buckets - 1);
    s->next_key = m->by_key[b];
    m->by_key[b] = idx;
}

static void unlink_key(struct mirror *m, uint32_t idx)
{
    struct mirror_session *s = at(m, idx);
    uint32_t *p = &m->by_key[(uint32_t)key_hash(s) & (m->n_buckets - 1)];
    while (*p && *p != idx)
        p = &at(m, *p)->next_key;
    if (*p)
        *p = s->next_key;
}

static void unlink_id(struct mirror *m, uint32_t idx)
{
    struct mirror_session *s = at(m, idx);
    uint32_t *p = &m->by_id[(uint32_t)mix64(s->id) & (m->n_buckets - 1)];
    while (*p && *p != idx)
        p = &at(m, *p)->next_id;
    if (*p)
        *p = s->next_id;
}

static int rehash(struct mirror *m, uint32_t n_buckets)
{
    uint32_t *by_id = calloc(n_buckets, sizeof(*by_id));
    uint32_t *by_key = calloc(n_buckets, sizeof(*by_key));
    if (!by_id || !by_key) {
        free(by_id);
        free(by_key);
        return -ENOMEM;
    }
    free(m->by_id);
    free(m->by_key);
    m->by_id = by_id;
    m->by_key = by_key;
    m->n_buckets = n_buckets;
    for (uint32_t i = 1; i <= m->n_slots; i++) {
        if (at(m, i)->used)
            link_entry(m, i);
    }
    return 0;
}

static void remove_entry(struct mirror *m, uint32_t idx)
{
    struct mirror_session *s = at(m, idx);
    unlink_id(m, idx);
    unlink_key(m, idx);
    s->used = false;
    s->next_id = m->free_head;
    m->free_head = idx;
    m->count--;
}

/* Inserts a copy of tmp; 0 or -ENOMEM. */
static int insert_entry(struct mirror *m, const struct mirror_session *tmp, uint32_t *out)
{
    if (m->count + 1 > m->n_buckets && m->n_buckets < (1u << 30)) {
        /* Keep the chains short; a failed grow only makes them longer. */
        rehash(m, m->n_buckets * 2);
    }
    uint32_t idx;
    if (m->free_head) {
        idx = m->free_head;
        m->free_head = at(m, idx)->next_id;
    } else {
        if (m->n_slots == m->n_chunks * CHUNK_SIZE) {
            struct mirror_session **nc = realloc(m->chunks, (m->n_chunks + 1) * sizeof(*nc));
            if (!nc)
                return -ENOMEM;
            m->chunks = nc;
            nc[m->n_chunks] = calloc(CHUNK_SIZE, sizeof(struct mirror_session));
            if (!nc[m->n_chunks])
                return -ENOMEM;
            m->n_chunks++;
        }
        idx = ++m->n_slots;
    }
    struct mirror_session *s = at(m, idx);
    *s = *tmp;
    s->used = true;
    link_entry(m, idx);
    m->count++;
    *out = idx;
    return 0;
}

/* ---- deltas ---- */

static bool key_to(const Moat__FlowKey *k, uint8_t *family, uint8_t *src, uint8_t *dst,
                   uint16_t *sport, uint16_t *dport)
{
    if (!k || (k->src.len != 4 && k->src.len != 16) || k->dst.len != k->src.len)
        return false;
    *family = k->src.len == 16 ? 6 : 4;
    memset(src, 0, 16);
    memset(dst, 0, 16);
    memcpy(src, k->src.data, k->src.len);
    memcpy(dst, k->dst.data, k->dst.len);
    *sport = (uint16_t)k->sport;
    *dport = (uint16_t)k->dport;
    return true;
}

/* The fields a SessionRecord and a compact struct sessrec both carry under the same names,
 * copied into mirror session s from either (state and close reason bounded). */
#define MIRROR_COPY_SCALARS(s, r)                                                                  \
    do {                                                                                           \
        (s)->state = (r)->state < MIRROR_N_STATES ? (uint8_t)(r)->state                            \
                                                  : MOAT__SESSION_STATE__SESSION_CLOSED;           \
        (s)->close_reason = (r)->close_reason < MIRROR_N_REASONS ? (uint8_t)(r)->close_reason : 0; \
        (s)->packets_fwd = (r)->packets_fwd;                                                       \
        (s)->bytes_fwd = (r)->bytes_fwd;                                                           \
        (s)->packets_rev = (r)->packets_rev;                                                       \
        (s)->bytes_rev = (r)->bytes_rev;                                                           \
        (s)->created_unix_ms = (r)->created_unix_ms;                                               \
        (s)->last_seen_unix_ms = (r)->last_seen_unix_ms;                                           \
        (s)->timeout = (r)->timeout;                                                               \
        (s)->worker = (r)->worker;                                                                 \
        (s)->snat_rule_id = (r)->snat_rule_id;                                                     \
        (s)->dnat_rule_id = (r)->dnat_rule_id;                                                     \
        (s)->snat_pool_id = (r)->snat_pool_id;                                                     \
        (s)->sp_phase = (r)->sp_phase <= 2 ? (uint8_t)(r)->sp_phase : 0;                           \
        (s)->sp_cookie = (r)->sp_cookie;                                                           \
        (s)->sp_client_isn = (r)->sp_client_isn;                                                   \
        (s)->sp_delta = (r)->sp_delta;                                                             \
        (s)->sp_window = (uint16_t)(r)->sp_window;                                                 \
    } while (0)

/* Converts r into *s; *has_key says whether the record carried usable tuples. */
static void record_to_session(struct mirror *m, const Moat__SessionRecord *r,
                              struct mirror_session *s, bool *has_key)
{
    memset(s, 0, sizeof(*s));
    s->id = r->id;
    uint8_t fam = 0, rfam = 0;
    *has_key = key_to(r->forward, &fam, s->fwd_src, s->fwd_dst, &s->fwd_sport, &s->fwd_dport);
    if (*has_key) {
        s->family = fam;
        s->proto = (uint8_t)r->forward->protocol;
        if (!key_to(r->reverse, &rfam, s->rev_src, s->rev_dst, &s->rev_sport, &s->rev_dport) ||
            rfam != fam) {
            /* No (usable) reverse tuple: the forward one reversed (ICMP keeps its id as the
             * source port both ways). */
            memcpy(s->rev_src, s->fwd_dst, 16);
            memcpy(s->rev_dst, s->fwd_src, 16);
            bool icmp = s->proto == 1 || s->proto == 58;
            s->rev_sport = icmp ? s->fwd_sport : s->fwd_dport;
            s->rev_dport = icmp ? s->fwd_dport : s->fwd_sport;
        }
    }
    s->from_zone = r->from_zone;
    s->to_zone = r->to_zone;
    s->in_ifindex = r->in_ifindex;
    s->out_ifindex = r->out_ifindex;
    s->policy_id = r->policy_id;
    s->policy_name = name_intern(m, r->policy_name);
    s->application = name_intern(m, r->application);
    MIRROR_COPY_SCALARS(s, r);
    s->owner_rg = r->owner_rg;
}

/* An update of a known session: what changes over its life. */
static void update_from(struct mirror *m, uint32_t idx, const struct mirror_session *n,
                        bool has_key)
{
    struct mirror_session *s = at(m, idx);
    if (has_key && !key_eq(s, n)) {
        /* The helper moved it to another tuple (should not happen): re-key. */
        unlink_key(m, idx);
        memcpy(s->fwd_src, n->fwd_src, 16);
        memcpy(s->fwd_dst, n->fwd_dst, 16);
        s->fwd_sport = n->fwd_sport;
        s->fwd_dport = n->fwd_dport;
        s->family = n->family;
        s->proto = n->proto;
        s->from_zone = n->from_zone;
        uint32_t b = (uint32_t)key_hash(s) & (m->n_buckets - 1);
        s->next_key = m->by_key[b];
        m->by_key[b] = idx;
    }
    if (has_key) {
        memcpy(s->rev_src, n->rev_src, 16);
        memcpy(s->rev_dst, n->rev_dst, 16);
        s->rev_sport = n->rev_sport;
        s->rev_dport = n->rev_dport;
        s->to_zone = n->to_zone;
        s->in_ifindex = n->in_ifindex;
        s->out_ifindex = n->out_ifindex;
        s->policy_id = n->policy_id;
        s->snat_rule_id = n->snat_rule_id;
        s->dnat_rule_id = n->dnat_rule_id;
        s->snat_pool_id = n->snat_pool_id;
    }
    if (n->policy_name)
        s->policy_name = n->policy_name;
    if (n->application)
        s->application = n->application;
    s->state = n->state;
    s->close_reason = n->close_reason;
    s->packets_fwd = n->packets_fwd;
    s->bytes_fwd = n->bytes_fwd;
    s->packets_rev = n->packets_rev;
    s->bytes_rev = n->bytes_rev;
    if (n->created_unix_ms)
        s->created_unix_ms = n->created_unix_ms;
    if (n->last_seen_unix_ms)
        s->last_seen_unix_ms = n->last_seen_unix_ms;
    s->timeout = n->timeout;
    s->worker = n->worker;
    s->owner_rg = n->owner_rg;
    s->sp_phase = n->sp_phase; /* a proxied session's numbers change once (its delta) */
    s->sp_cookie = n->sp_cookie;
    s->sp_client_isn = n->sp_client_isn;
    s->sp_delta = n->sp_delta;
    s->sp_window = n->sp_window;
}

/* A compact create (SessionDeltaBatch.created) into *s, as record_to_session makes the
 * SessionRecord of the same session; names: the batch's names as interned here (NULL: not
 * yet). */
static void sessrec_to_session(struct mirror *m, const struct sessrec *r,
                               const Moat__SessionDeltaBatch *b, uint32_t *names,
                               struct mirror_session *s)
{
    memset(s, 0, sizeof(*s));
    s->id = r->id;
    s->family = r->family == 6 ? 6 : 4;
    s->proto = r->proto;
    const size_t alen = s->family == 6 ? 16 : 4;
    memcpy(s->fwd_src, r->fwd_src, alen);
    memcpy(s->fwd_dst, r->fwd_dst, alen);
    memcpy(s->rev_src, r->rev_src, alen);
    memcpy(s->rev_dst, r->rev_dst, alen);
    s->fwd_sport = r->fwd_sport;
    s->fwd_dport = r->fwd_dport;
    s->rev_sport = r->rev_sport;
    s->rev_dport = r->rev_dport;
    s->from_zone = r->from_zone;
    s->to_zone = r->to_zone;
    s->in_ifindex = r->in_ifindex;
    s->out_ifindex = r->out_ifindex;
    s->policy_id = r->policy_id;
    const uint32_t nm[2] = {r->policy_name, r->application};
    uint32_t out[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        if (!nm[i] || nm[i] > b->n_names)
            continue;
        uint32_t *slot = nm[i] <= MIRROR_BATCH_NAMES ? &names[nm[i] - 1] : NULL;
        if (slot && *slot != UINT32_MAX) {
            out[i] = *slot;
            continue;
        }
        out[i] = name_intern(m, b->names[nm[i] - 1]);
        if (slot)
            *slot = out[i];
    }
    s->policy_name = out[0];
    s->application = out[1];
    MIRROR_COPY_SCALARS(s, r);
}

static int apply(struct mirror *m, Moat__DeltaKind kind, const struct mirror_session *n,
                 bool has_key, mirror_event_fn fn, void *arg)
{
    uint32_t idx = find_id(m, n->id);
    switch (kind) {
    case MOAT__DELTA_KIND__DELTA_CREATE:
    case MOAT__DELTA_KIND__DELTA_UPDATE: {
        if (idx) {
            update_from(m, idx, n, has_key);
            m->ctr.updated++;
            return 0;
        }
        if (!has_key) {
            m->ctr.malformed++;
            return 0;
        }
        bool create = kind == MOAT__DELTA_KIND__DELTA_CREATE;
        if (!create)
            m->ctr.update_unknown++;
        uint32_t old = find_key(m, n);
        if (old) {
            remove_entry(m, old);
            m->ctr.replaced++;
        }
        if (m->count >= m->max) {
            m->ctr.overflow++;
            return 0;
        }
        int err = insert_entry(m, n, &idx);
        if (err) {
            m->ctr.overflow++;
            return err;
        }
        if (create && !old) {
            m->ctr.created++;
            if (fn)
                fn(arg, MIRROR_EV_CREATE, m, at(m, idx));
        }
        return 0;
    }
    case MOAT__DELTA_KIND__DELTA_CLOSE:
        m->ctr.closed[n->close_reason]++;
        if (idx) {
            update_from(m, idx, n, has_key);
            if (fn)
                fn(arg, MIRROR_EV_CLOSE, m, at(m, idx));
            remove_entry(m, idx);
        } else {
            m->ctr.close_unknown++;
            if (fn && has_key)
                fn(arg, MIRROR_EV_CLOSE, m, n);
        }
        return 0;
    default:
        m->ctr.malformed++;
        return 0;
    }
}

int mirror_apply_delta(struct mirror *m, const Moat__SessionDelta *d, mirror_event_fn fn, void *arg)
{
    m->ctr.deltas++;
    if (!d || !d->session) {
        m->ctr.malformed++;
        return 0;
    }
    struct mirror_session tmp;
    bool has_key;
    record_to_session(m, d->session, &tmp, &has_key);
    return apply(m, d->kind, &tmp, has_key, fn, arg);
}

int mirror_apply_batch(struct mirror *m, const Moat__SessionDeltaBatch *b, mirror_event_fn fn,
                       void *arg)
{
    m->ctr.batches++;
    m->ctr.helper_dropped += b->dropped;
    if (m->seq_known && b->seq > m->next_seq)
        m->ctr.batch_gaps += b->seq - m->next_seq;
    m->next_seq = b->seq + 1;
    m->seq_known = true;
    long nc = sessrec_count(b->created.len);
    if (nc < 0) {
        m->ctr.malformed++; /* not whole records: none of them is trusted */
        nc = 0;
    }
    uint32_t names[MIRROR_BATCH_NAMES];
    memset(names, 0xff, sizeof(names));
    int rc = 0;
    /* The deltas in order, each compact create at its place (before delta `order`). */
    size_t j = 0;
    for (size_t i = 0; i <= b->n_deltas; i++) {
        while (j < (size_t)nc) {
            struct sessrec r;
            memcpy(&r, b->created.data + j * sizeof(r), sizeof(r));
            if (r.order > i && i < b->n_deltas)
                break;
            j++;
            m->ctr.deltas++;
            struct mirror_session tmp;
            sessrec_to_session(m, &r, b, names, &tmp);
            int err = apply(m, MOAT__DELTA_KIND__DELTA_CREATE, &tmp, true, fn, arg);
            if (err && !rc)
                rc = err;
        }
        if (i == b->n_deltas)
            break;
        int err = mirror_apply_delta(m, b->deltas[i], fn, arg);
        if (err && !rc)
            rc = err;
    }
    return rc;
}

const struct mirror_session *mirror_lookup(const struct mirror *m, uint64_t id)
{
    uint32_t idx = find_id(m, id);
    return idx ? at(m, idx) : NULL;
}

void mirror_foreach(const struct mirror *m, void (*fn)(void *arg, const struct mirror_session *s),
                    void *arg)
{
    for (uint32_t i = 1; i <= m->n_slots; i++) {
        const struct mirror_session *s = at(m, i);
        if (s->used)
            fn(arg, s);
    }
}

unsigned mirror_expire(struct mirror *m, uint64_t now_unix_ms)
{
    unsigned n = 0;
    for (uint32_t i = 1; i <= m->n_slots; i++) {
        const struct mirror_session *s = at(m, i);
        if (!s->used || !s->last_seen_unix_ms)
            continue;
        uint64_t t = (uint64_t)s->timeout * 1000;
        uint64_t grace = t > EXPIRE_GRACE_MIN_MS ? t : EXPIRE_GRACE_MIN_MS;
        if (now_unix_ms > s->last_seen_unix_ms + t + grace) {
            remove_entry(m, i);
            m->ctr.expired++;
            n++;
        }
    }
    return n;
}

void mirror_to_record(const struct mirror *m, const struct mirror_session *s,
                      struct mirror_record_buf *buf)
{
    Moat__SessionRecord *r = &buf->rec;
    moat__session_record__init(r);
    moat__flow_key__init(&buf->fwd);
    moat__flow_key__init(&buf->rev);
    size_t alen = s->family == 6 ? 16 : 4;
    buf->fwd.src.data = (uint8_t *)s->fwd_src;
    buf->fwd.src.len = alen;
    buf->fwd.dst.data = (uint8_t *)s->fwd_dst;
    buf->fwd.dst.len = alen;
    buf->fwd.sport = s->fwd_sport;
    buf->fwd.dport = s->fwd_dport;
    buf->fwd.protocol = s->proto;
    buf->rev.src.data = (uint8_t *)s->rev_src;
    buf->rev.src.len = alen;
    buf->rev.dst.data = (uint8_t *)s->rev_dst;
    buf->rev.dst.len = alen;
    buf->rev.sport = s->rev_sport;
    buf->rev.dport = s->rev_dport;
    buf->rev.protocol = s->proto;
    r->id = s->id;
    r->forward = &buf->fwd;
    r->reverse = &buf->rev;
    r->from_zone = s->from_zone;
    r->to_zone = s->to_zone;
    r->in_ifindex = s->in_ifindex;
    r->out_ifindex = s->out_ifindex;
    r->policy_id = s->policy_id;
    r->policy_name = (char *)mirror_name(m, s->policy_name);
    r->state = (Moat__SessionState)s->state;
    r->packets_fwd = s->packets_fwd;
    r->bytes_fwd = s->bytes_fwd;
    r->packets_rev = s->packets_rev;
    r->bytes_rev = s->bytes_rev;
    r->created_unix_ms = s->created_unix_ms;
    r->last_seen_unix_ms = s->last_seen_unix_ms;
    r->timeout = s->timeout;
    r->worker = s->worker;
    r->owner_rg = s->owner_rg;
    r->close_reason = (Moat__CloseReason)s->close_reason;
    r->application = (char *)mirror_name(m, s->application);
    r->snat_rule_id = s->snat_rule_id;
    r->dnat_rule_id = s->dnat_rule_id;
    r->snat_pool_id = s->snat_pool_id;
    r->sp_phase = s->sp_phase;
    r->sp_cookie = s->sp_cookie;
    r->sp_client_isn = s->sp_client_isn;
    r->sp_delta = s->sp_delta;
    r->sp_window = s->sp_window;
}

unsigned mirror_session_nat(const struct mirror_session *s)
{
    size_t alen = s->family == 6 ? 16 : 4;
    bool icmp = s->proto == 1 || s->proto == 58;
    unsigned bits = 0;
    /* ICMP queries carry their id as the source port in both directions. */
    uint16_t reply_dport = icmp ? s->rev_sport : s->rev_dport;
    if (memcmp(s->rev_dst, s->fwd_src, alen) != 0 || reply_dport != s->fwd_sport)
        bits |= MIRROR_NAT_SOURCE;
    if (memcmp(s->rev_src, s->fwd_dst, alen) != 0 || (!icmp && s->rev_sport != s->fwd_dport))
        bits |= MIRROR_NAT_DESTINATION;
    return bits;
}

/* ---- names of things ---- */

const char *mirror_state_name(unsigned state)
{
    static const char *const names[MIRROR_N_STATES] = {
        "new", "syn-sent", "syn-recv", "established", "fin-wait", "closing", "time-wait", "closed",
    };
    return state < MIRROR_N_STATES ? names[state] : "?";
}

const char *mirror_reason_name(unsigned reason)
{
    static const char *const names[MIRROR_N_REASONS] = {
        "none", "aged", "tcp-fin", "tcp-rst", "cleared", "policy", "early-aged", "shutdown",
    };
    return reason < MIRROR_N_REASONS ? names[reason] : "?";
}

const char *mirror_proto_name(unsigned proto, char *buf, size_t len)
{
    switch (proto) {
    case 6:
        return "tcp";
    case 17:
        return "udp";
    case 1:
        return "icmp";
    case 58:
        return "icmp6";
    default:
        snprintf(buf, len, "%u", proto);
        return buf;
    }
}

/* ---- filters ---- */

int mirror_parse_prefix(const char *s, struct cfg_prefix *p)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);
    char *slash = strchr(buf, '/');
    unsigned long len = 0;
    if (slash) {
        *slash = 0;
        char *end;
        if (!slash[1])
            return -EINVAL;
        len = strtoul(slash + 1, &end, 10);
        if (*end)
            return -EINVAL;
    }
    memset(p, 0, sizeof(*p));
    if (inet_pton(AF_INET, buf, p->addr) == 1) {
        p->family = 4;
        if (!slash)
            len = 32;
        if (len > 32)
            return -EINVAL;
    } else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
        p->family = 6;
        if (!slash)
            len = 128;
        if (len > 128)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    p->len = (uint8_t)len;
    return 0;
}

int mirror_parse_num(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!s[0] || s[0] == '-' || s[0] == '+')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max)
        return -EINVAL;
    *out = (unsigned long)v;
    return 0;
}

int mirror_filter_parse(const char *const *args, size_t n, const struct moat_config *cfg,
                        struct mirror_filter *f, char *err, size_t errlen)
{
    static const char usage[] =
        "filters are: nat, source-prefix P, destination-prefix P, source-port N, "
        "destination-port N, protocol tcp|udp|icmp|icmp6|N, zone NAME, session-identifier ID";
    memset(f, 0, sizeof(*f));
    f->sport = f->dport = f->proto = -1;
    bool seen[7] = {0};
    for (size_t i = 0, step = 2; i < n; i += step) {
        step = 2; /* a filter and its value */
        if (strcmp(args[i], "nat") == 0) {
            if (f->nat) {
                snprintf(err, errlen, "session filter \"nat\" is given twice");
                return -EINVAL;
            }
            f->nat = true;
            step = 1; /* a word without a value */
            continue;
        }
        static const char *const kws[7] = {"source-prefix",     "destination-prefix", "source-port",
                                           "destination-port",  "protocol",           "zone",
                                           "session-identifier"};
        int k = -1;
        for (int j = 0; j < 7; j++) {
            if (strcmp(args[i], kws[j]) == 0)
                k = j;
        }
        if (k < 0) {
            snprintf(err, errlen, "unknown session filter \"%s\" (%s)", args[i], usage);
            return -EINVAL;
        }
        if (seen[k]) {
            snprintf(err, errlen, "session filter \"%s\" is given twice", args[i]);
            return -EINVAL;
        }
        seen[k] = true;
        if (i + 1 >= n) {
            snprintf(err, errlen, "session filter \"%s\" needs a value", args[i]);
            return -EINVAL;
        }
        const char *v = args[i + 1];
        unsigned long num;
        switch (k) {
        case 0:
        case 1: {
            struct cfg_prefix *p = k == 0 ? &f->src : &f->dst;
            if (mirror_parse_prefix(v, p) < 0) {
                snprintf(err, errlen,
                         "%s \"%s\" is not an address or prefix (e.g. 10.77.1.0/24, "
                         "fd00:77:1::2)",
                         args[i], v);
                return -EINVAL;
            }
            if (k == 0)
                f->has_src = true;
            else
                f->has_dst = true;
            break;
        }
        case 2:
        case 3:
            if (mirror_parse_num(v, 65535, &num) < 0) {
                snprintf(err, errlen, "%s \"%s\" is not a port number (0..65535)", args[i], v);
                return -EINVAL;
            }
            if (k == 2)
                f->sport = (int)num;
            else
                f->dport = (int)num;
            break;
        case 4:
            if (strcmp(v, "tcp") == 0)
                f->proto = 6;
            else if (strcmp(v, "udp") == 0)
                f->proto = 17;
            else if (strcmp(v, "icmp") == 0)
                f->proto = 1;
            else if (strcmp(v, "icmp6") == 0 || strcmp(v, "icmpv6") == 0)
                f->proto = 58;
            else if (mirror_parse_num(v, 255, &num) == 0)
                f->proto = (int)num;
            else {
                snprintf(err, errlen,
                         "protocol \"%s\" is unknown (use tcp, udp, icmp, icmp6 or a number "
                         "0..255)",
                         v);
                return -EINVAL;
            }
            break;
        case 5: {
            const struct cfg_zone *z = cfg ? config_find_zone(cfg, v) : NULL;
            if (!z) {
                snprintf(err, errlen,
                         "zone \"%s\" is not a security zone of the running configuration "
                         "(see show security zones)",
                         v);
                return -EINVAL;
            }
            f->zone = z->zone_id;
            break;
        }
        case 6: {
            char *end;
            errno = 0;
            unsigned long long id = strtoull(v, &end, 0);
            if (!v[0] || *end || errno || v[0] == '-') {
                snprintf(err, errlen, "session-identifier \"%s\" is not a session id", v);
                return -EINVAL;
            }
            f->has_id = true;
            f->id = id;
            break;
        }
        }
    }
    return 0;
}

static bool prefix_match(const struct cfg_prefix *p, uint8_t family, const uint8_t *addr)
{
    if (p->family != family)
        return false;
    unsigned full = p->len / 8, rem = p->len % 8;
    if (memcmp(p->addr, addr, full) != 0)
        return false;
    if (rem) {
        uint8_t mask = (uint8_t)(0xff << (8 - rem));
        if ((p->addr[full] & mask) != (addr[full] & mask))
            return false;
    }
    return true;
}

bool mirror_filter_match(const struct mirror_filter *f, const struct mirror_session *s)
{
    if (!f)
        return true;
    if (f->has_id && s->id != f->id)
        return false;
    if (f->has_src && !prefix_match(&f->src, s->family, s->fwd_src))
        return false;
    if (f->has_dst && !prefix_match(&f->dst, s->family, s->fwd_dst))
        return false;
    if (f->sport >= 0 && s->fwd_sport != f->sport)
        return false;
    if (f->dport >= 0 && s->fwd_dport != f->dport)
        return false;
    if (f->proto >= 0 && s->proto != f->proto)
        return false;
    if (f->zone && s->from_zone != f->zone && s->to_zone != f->zone)
        return false;
    if (f->nat && !mirror_session_nat(s))
        return false;
    return true;
}

struct collect {
    const struct mirror_filter *f;
    const struct mirror_session **v;
    size_t n, cap;
    bool oom;
};

static void collect_one(void *arg, const struct mirror_session *s)
{
    struct collect *c = arg;
    if (c->oom || !mirror_filter_match(c->f, s))
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        const struct mirror_session **nv = realloc(c->v, cap * sizeof(*nv));
        if (!nv) {
            c->oom = true;
            return;
        }
        c->v = nv;
        c->cap = cap;
    }
    c->v[c->n++] = s;
}

static int by_id(const void *a, const void *b)
{
    const struct mirror_session *x = *(const struct mirror_session *const *)a;
    const struct mirror_session *y = *(const struct mirror_session *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

int mirror_collect_ids(const struct mirror *m, const struct mirror_filter *f, uint64_t **ids,
                       size_t *n)
{
    struct collect c = {.f = f};
    mirror_foreach(m, collect_one, &c);
    *ids = NULL;
    *n = 0;
    if (c.oom) {
        free(c.v);
        return -ENOMEM;
    }
    if (c.n) {
        *ids = malloc(c.n * sizeof(**ids));
        if (!*ids) {
            free(c.v);
            return -ENOMEM;
        }
        for (size_t i = 0; i < c.n; i++)
            (*ids)[i] = c.v[i]->id;
    }
    *n = c.n;
    free(c.v);
    return 0;
}

/* ---- rendering ---- */

static const char *nm_if(const struct mirror_names *nm, uint32_t ifindex)
{
    const char *r = nm && nm->ifname ? nm->ifname(nm->arg, ifindex) : NULL;
    return r && r[0] ? r : "-";
}

static const char *nm_zone(const struct mirror_names *nm, uint32_t zone)
{
    const char *r = nm && nm->zone ? nm->zone(nm->arg, zone) : NULL;
    return r && r[0] ? r : "-";
}

static void addr_str(uint8_t family, const uint8_t *a, char *buf, size_t len)
{
    if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

static const char *nm_rule(const struct mirror_names *nm, uint32_t id, char *buf, size_t len)
{
    const char *r = id && nm && nm->nat_rule ? nm->nat_rule(nm->arg, id, buf, len) : NULL;
    return r && r[0] ? r : "-";
}

/* What rule id does ("interface", "pool web"), or NULL. */
static const char *nm_action(const struct mirror_names *nm, uint32_t id, char *buf, size_t len)
{
    const char *r = id && nm && nm->nat_action ? nm->nat_action(nm->arg, id, buf, len) : NULL;
    return r && r[0] ? r : NULL;
}

/* One translated side of s: original and translated address and port. */
struct nat_side {
    const uint8_t *from, *to;
    uint16_t from_port, to_port;
    uint32_t rule_id;
};

static void nat_sides(const struct mirror_session *s, unsigned bits, struct nat_side *src,
                      struct nat_side *dst)
{
    bool icmp = s->proto == 1 || s->proto == 58;
    if (bits & MIRROR_NAT_SOURCE)
        *src = (struct nat_side){s->fwd_src, s->rev_dst, s->fwd_sport,
                                 icmp ? s->rev_sport : s->rev_dport, s->snat_rule_id};
    if (bits & MIRROR_NAT_DESTINATION)
        *dst = (struct nat_side){s->fwd_dst, s->rev_src, s->fwd_dport, icmp ? 0 : s->rev_sport,
                                 s->dnat_rule_id};
}

static void nat_line_text(struct strbuf *o, const struct mirror_session *s, const char *what,
                          const struct nat_side *side, const struct mirror_names *nm)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], rb[160], ab[160];
    addr_str(s->family, side->from, a, sizeof(a));
    addr_str(s->family, side->to, b, sizeof(b));
    strbuf_printf(o, "  NAT: %s %s/%u -> %s/%u", what, a, side->from_port, b, side->to_port);
    if (side->rule_id) {
        const char *act = nm_action(nm, side->rule_id, ab, sizeof(ab));
        strbuf_printf(o, ", rule %s", nm_rule(nm, side->rule_id, rb, sizeof(rb)));
        if (act)
            strbuf_printf(o, " (%s)", act);
    }
    strbuf_printf(o, "\n");
}

static void nat_side_json(struct strbuf *o, const struct mirror_session *s,
                          const struct nat_side *side, const struct mirror_names *nm,
                          bool with_pool)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], rb[160], ab[160];
    addr_str(s->family, side->from, a, sizeof(a));
    addr_str(s->family, side->to, b, sizeof(b));
    strbuf_printf(o,
                  "{\"address\":\"%s\",\"port\":%u,\"translated_address\":\"%s\","
                  "\"translated_port\":%u,\"rule_id\":%u,\"rule\":",
                  a, side->from_port, b, side->to_port, side->rule_id);
    const char *rule = nm_rule(nm, side->rule_id, rb, sizeof(rb));
    const char *act = nm_action(nm, side->rule_id, ab, sizeof(ab));
    if (side->rule_id && strcmp(rule, "-") != 0)
        strbuf_json_str(o, rule);
    else
        strbuf_printf(o, "null");
    strbuf_printf(o, ",\"action\":");
    if (act)
        strbuf_json_str(o, act);
    else
        strbuf_printf(o, "null");
    if (with_pool)
        strbuf_printf(o, ",\"pool_id\":%u", s->snat_pool_id);
    strbuf_printf(o, "}");
}

static uint64_t remaining_s(const struct mirror_session *s, uint64_t now)
{
    if (!s->last_seen_unix_ms || now <= s->last_seen_unix_ms)
        return s->timeout;
    uint64_t idle = (now - s->last_seen_unix_ms) / 1000;
    return idle >= s->timeout ? 0 : s->timeout - idle;
}

static void json_dir(struct strbuf *o, const char *name, uint8_t family, const uint8_t *src,
                     uint16_t sport, const uint8_t *dst, uint16_t dport, const char *ifname,
                     uint64_t pkts, uint64_t bytes)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    addr_str(family, src, a, sizeof(a));
    addr_str(family, dst, b, sizeof(b));
    strbuf_printf(o,
                  "\"%s\":{\"source\":\"%s\",\"source_port\":%u,\"destination\":\"%s\","
                  "\"destination_port\":%u,\"interface\":",
                  name, a, sport, b, dport);
    strbuf_json_str(o, ifname);
    strbuf_printf(o, ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", pkts, bytes);
}

void mirror_render_sessions(const struct mirror *m, const struct mirror_filter *f,
                            const struct mirror_names *nm, uint64_t now, bool json,
                            struct strbuf *o)
{
    struct collect c = {.f = f};
    mirror_foreach(m, collect_one, &c);
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), by_id);
    size_t shown = c.n > MIRROR_SHOW_MAX ? MIRROR_SHOW_MAX : c.n;
    if (json)
        strbuf_printf(o, "{\"sessions\":[");
    for (size_t i = 0; i < shown; i++) {
        const struct mirror_session *s = c.v[i];
        char pb[8];
        const char *proto = mirror_proto_name(s->proto, pb, sizeof(pb));
        const char *app = mirror_name(m, s->application);
        const char *pol = mirror_name(m, s->policy_name);
        if (json) {
            strbuf_printf(o, "%s{\"id\":%" PRIu64 ",\"policy\":", i ? "," : "", s->id);
            strbuf_json_str(o, pol);
            strbuf_printf(o,
                          ",\"policy_id\":%u,\"state\":\"%s\",\"timeout\":%u,"
                          "\"timeout_remaining\":%" PRIu64 ",\"protocol\":%u,\"from_zone\":",
                          s->policy_id, mirror_state_name(s->state), s->timeout,
                          remaining_s(s, now), s->proto);
            strbuf_json_str(o, nm_zone(nm, s->from_zone));
            strbuf_printf(o, ",\"to_zone\":");
            strbuf_json_str(o, nm_zone(nm, s->to_zone));
            strbuf_printf(o, ",\"application\":");
            strbuf_json_str(o, app[0] ? app : "any");
            strbuf_printf(o, ",");
            json_dir(o, "in", s->family, s->fwd_src, s->fwd_sport, s->fwd_dst, s->fwd_dport,
                     nm_if(nm, s->in_ifindex), s->packets_fwd, s->bytes_fwd);
            strbuf_printf(o, ",");
            json_dir(o, "out", s->family, s->rev_src, s->rev_sport, s->rev_dst, s->rev_dport,
                     nm_if(nm, s->out_ifindex), s->packets_rev, s->bytes_rev);
            unsigned bits = mirror_session_nat(s);
            struct nat_side ns, nd;
            nat_sides(s, bits, &ns, &nd);
            if (!bits) {
                strbuf_printf(o, ",\"nat\":null");
            } else {
                strbuf_printf(o, ",\"nat\":{\"source\":");
                if (bits & MIRROR_NAT_SOURCE)
                    nat_side_json(o, s, &ns, nm, true);
                else
                    strbuf_printf(o, "null");
                strbuf_printf(o, ",\"destination\":");
                if (bits & MIRROR_NAT_DESTINATION)
                    nat_side_json(o, s, &nd, nm, false);
                else
                    strbuf_printf(o, "null");
                strbuf_printf(o, "}");
            }
            strbuf_printf(o,
                          ",\"created_unix_ms\":%" PRIu64 ",\"last_seen_unix_ms\":%" PRIu64
                          ",\"worker\":%u}",
                          s->created_unix_ms, s->last_seen_unix_ms, s->worker);
            continue;
        }
        char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
        strbuf_printf(o,
                      "Session ID: %" PRIu64 ", Policy name: %s/%u, State: %s, Timeout: %" PRIu64
                      ", Zones: %s -> %s, Application: %s\n",
                      s->id, pol[0] ? pol : "-", s->policy_id, mirror_state_name(s->state),
                      remaining_s(s, now), nm_zone(nm, s->from_zone), nm_zone(nm, s->to_zone),
                      app[0] ? app : "any");
        addr_str(s->family, s->fwd_src, a, sizeof(a));
        addr_str(s->family, s->fwd_dst, b, sizeof(b));
        strbuf_printf(o,
                      "  In: %s/%u --> %s/%u;%s, If: %s, Pkts: %" PRIu64 ", Bytes: %" PRIu64 "\n",
                      a, s->fwd_sport, b, s->fwd_dport, proto, nm_if(nm, s->in_ifindex),
                      s->packets_fwd, s->bytes_fwd);
        addr_str(s->family, s->rev_src, a, sizeof(a));
        addr_str(s->family, s->rev_dst, b, sizeof(b));
        strbuf_printf(o,
                      "  Out: %s/%u --> %s/%u;%s, If: %s, Pkts: %" PRIu64 ", Bytes: %" PRIu64 "\n",
                      a, s->rev_sport, b, s->rev_dport, proto, nm_if(nm, s->out_ifindex),
                      s->packets_rev, s->bytes_rev);
        unsigned bits = mirror_session_nat(s);
        struct nat_side ns, nd;
        nat_sides(s, bits, &ns, &nd);
        if (bits & MIRROR_NAT_SOURCE)
            nat_line_text(o, s, "source", &ns, nm);
        if (bits & MIRROR_NAT_DESTINATION)
            nat_line_text(o, s, "destination", &nd, nm);
    }
    if (json) {
        strbuf_printf(o, "],\"total\":%zu,\"shown\":%zu}\n", c.n, shown);
    } else {
        if (shown < c.n)
            strbuf_printf(o,
                          "(%zu more sessions not shown: narrow the filter, or use "
                          "show security flow session summary)\n",
                          c.n - shown);
        strbuf_printf(o, "Total sessions: %zu\n", c.n);
    }
    free(c.v);
}

struct sumctx {
    const struct mirror_filter *f;
    uint64_t total;
    uint64_t proto[5]; /* tcp udp icmp icmp6 other */
    uint64_t state[MIRROR_N_STATES];
    uint64_t nat, nat_src, nat_dst; /* translated sessions, by side */
};

static void sum_one(void *arg, const struct mirror_session *s)
{
    struct sumctx *c = arg;
    if (!mirror_filter_match(c->f, s))
        return;
    c->total++;
    c->proto[s->proto == 6 ? 0 : s->proto == 17 ? 1 : s->proto == 1 ? 2 : s->proto == 58 ? 3 : 4]++;
    c->state[s->state < MIRROR_N_STATES ? s->state : MIRROR_N_STATES - 1]++;
    unsigned bits = mirror_session_nat(s);
    c->nat += bits != 0;
    c->nat_src += (bits & MIRROR_NAT_SOURCE) != 0;
    c->nat_dst += (bits & MIRROR_NAT_DESTINATION) != 0;
}

void mirror_render_summary(const struct mirror *m, const struct mirror_filter *f, bool json,
                           struct strbuf *o)
{
    static const char *const pnames[5] = {"tcp", "udp", "icmp", "icmp6", "other"};
    struct sumctx c = {.f = f};
    mirror_foreach(m, sum_one, &c);
    const struct mirror_counters *k = &m->ctr;
    uint64_t closed = 0;
    for (int i = 0; i < MIRROR_N_REASONS; i++)
        closed += k->closed[i];
    if (json) {
        strbuf_printf(o, "{\"total\":%" PRIu64 ",\"maximum\":%u,\"protocols\":{", c.total, m->max);
        for (int i = 0; i < 5; i++)
            strbuf_printf(o, "%s\"%s\":%" PRIu64, i ? "," : "", pnames[i], c.proto[i]);
        strbuf_printf(o, "},\"states\":{");
        for (int i = 0; i < MIRROR_N_STATES; i++)
            strbuf_printf(o, "%s\"%s\":%" PRIu64, i ? "," : "", mirror_state_name(i), c.state[i]);
        strbuf_printf(o,
                      "},\"nat\":{\"sessions\":%" PRIu64 ",\"source\":%" PRIu64
                      ",\"destination\":%" PRIu64 "}",
                      c.nat, c.nat_src, c.nat_dst);
        strbuf_printf(o,
                      ",\"counters\":{\"batches\":%" PRIu64 ",\"deltas\":%" PRIu64
                      ",\"helper_dropped\":%" PRIu64 ",\"batch_gaps\":%" PRIu64
                      ",\"created\":%" PRIu64 ",\"closed\":%" PRIu64 ",\"updated\":%" PRIu64
                      ",\"update_unknown\":%" PRIu64 ",\"close_unknown\":%" PRIu64
                      ",\"replaced\":%" PRIu64 ",\"overflow\":%" PRIu64 ",\"malformed\":%" PRIu64
                      ",\"expired\":%" PRIu64 ",\"closed_by_reason\":{",
                      k->batches, k->deltas, k->helper_dropped, k->batch_gaps, k->created, closed,
                      k->updated, k->update_unknown, k->close_unknown, k->replaced, k->overflow,
                      k->malformed, k->expired);
        for (int i = 0; i < MIRROR_N_REASONS; i++)
            strbuf_printf(o, "%s\"%s\":%" PRIu64, i ? "," : "", mirror_reason_name(i),
                          k->closed[i]);
        strbuf_printf(o, "}}}\n");
        return;
    }
    strbuf_printf(o, "Total sessions: %" PRIu64 "\n", c.total);
    strbuf_printf(o, "Maximum sessions: %u\n", m->max);
    strbuf_printf(o, "Sessions by protocol:");
    for (int i = 0; i < 5; i++)
        strbuf_printf(o, "%s %s %" PRIu64, i ? "," : "", pnames[i], c.proto[i]);
    strbuf_printf(o, "\nSessions by state:");
    for (int i = 0; i < MIRROR_N_STATES; i++)
        strbuf_printf(o, "%s %s %" PRIu64, i ? "," : "", mirror_state_name(i), c.state[i]);
    strbuf_printf(o,
                  "\nNAT sessions: %" PRIu64 " (source translated %" PRIu64
                  ", destination translated %" PRIu64 ")",
                  c.nat, c.nat_src, c.nat_dst);
    strbuf_printf(o, "\nSessions created: %" PRIu64 ", closed: %" PRIu64 " (", k->created, closed);
    for (int i = 1; i < MIRROR_N_REASONS; i++)
        strbuf_printf(o, "%s%s %" PRIu64, i > 1 ? ", " : "", mirror_reason_name(i), k->closed[i]);
    strbuf_printf(o, ", none %" PRIu64 ")\n", k->closed[0]);
    strbuf_printf(o,
                  "Deltas from the helper: %" PRIu64 " in %" PRIu64
                  " batches, dropped by the helper: %" PRIu64 ", missing batches: %" PRIu64 "\n",
                  k->deltas, k->batches, k->helper_dropped, k->batch_gaps);
    strbuf_printf(o,
                  "Mirror: updates %" PRIu64 ", updates of unknown sessions %" PRIu64
                  ", closes of unknown sessions %" PRIu64 ", replaced %" PRIu64
                  ", overflow %" PRIu64 ", malformed %" PRIu64 ", expired %" PRIu64 "\n",
                  k->updated, k->update_unknown, k->close_unknown, k->replaced, k->overflow,
                  k->malformed, k->expired);
}

void mirror_format_log(const struct mirror *m, enum mirror_event ev, const struct mirror_session *s,
                       const struct mirror_names *nm, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN], rb[INET6_ADDRSTRLEN];
    addr_str(s->family, s->fwd_src, a, sizeof(a));
    addr_str(s->family, s->fwd_dst, b, sizeof(b));
    addr_str(s->family, s->rev_src, ra, sizeof(ra));
    addr_str(s->family, s->rev_dst, rb, sizeof(rb));
    const char *pol = mirror_name(m, s->policy_name);
    const char *app = mirror_name(m, s->application);
    char tail[512], rule[160];
    int tl = snprintf(tail, sizeof(tail), "application %s in %s out %s reply %s/%u->%s/%u",
                      app[0] ? app : "any", nm_if(nm, s->in_ifindex), nm_if(nm, s->out_ifindex), ra,
                      s->rev_sport, rb, s->rev_dport);
    unsigned bits = mirror_session_nat(s);
    if ((bits & MIRROR_NAT_SOURCE) && tl > 0 && (size_t)tl < sizeof(tail))
        tl += snprintf(tail + tl, sizeof(tail) - (size_t)tl, " source-nat-rule %s",
                       nm_rule(nm, s->snat_rule_id, rule, sizeof(rule)));
    if ((bits & MIRROR_NAT_DESTINATION) && tl > 0 && (size_t)tl < sizeof(tail))
        snprintf(tail + tl, sizeof(tail) - (size_t)tl, " destination-nat-rule %s",
                 nm_rule(nm, s->dnat_rule_id, rule, sizeof(rule)));
    if (ev == MIRROR_EV_CREATE) {
        snprintf(buf, len,
                 "RT_FLOW_SESSION_CREATE: session created %s/%u->%s/%u 0x%x policy %s %s->%s id "
                 "%" PRIu64 " %s",
                 a, s->fwd_sport, b, s->fwd_dport, s->proto, pol[0] ? pol : "-",
                 nm_zone(nm, s->from_zone), nm_zone(nm, s->to_zone), s->id, tail);
        return;
    }
    uint64_t dur = 0;
    if (s->created_unix_ms && s->last_seen_unix_ms > s->created_unix_ms)
        dur = (s->last_seen_unix_ms - s->created_unix_ms) / 1000;
    snprintf(buf, len,
             "RT_FLOW_SESSION_CLOSE: session closed %s/%u->%s/%u 0x%x policy %s %s->%s id %" PRIu64
             " reason %s packets %" PRIu64 "/%" PRIu64 " bytes %" PRIu64 "/%" PRIu64
             " duration %" PRIu64 "s %s",
             a, s->fwd_sport, b, s->fwd_dport, s->proto, pol[0] ? pol : "-",
             nm_zone(nm, s->from_zone), nm_zone(nm, s->to_zone), s->id,
             mirror_reason_name(s->close_reason), s->packets_fwd, s->packets_rev, s->bytes_fwd,
             s->bytes_rev, dur, tail);
}
