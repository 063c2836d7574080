/* SPDX-License-Identifier: MIT */
#include "fib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- routes ---- */

#define FIB_STRIDE 256

struct fib_entry {
    uint32_t child; /* node index, 0 = none (the root is never a child) */
    uint32_t route; /* route index + 1, 0 = none */
};

struct fib_trie {
    struct fib_entry *nodes; /* nnodes * FIB_STRIDE entries; node 0 is the root */
    uint32_t nnodes, cap;
};

struct fib {
    struct fib_route *routes;
    uint32_t nroutes;
    struct fib_trie trie[2]; /* [0] IPv4, [1] IPv6 */
};

static inline int fam_idx(uint8_t family)
{
    return family == 6;
}

static inline uint32_t fam_bytes(uint8_t family)
{
    return family == 6 ? 16 : 4;
}

void fib_builder_init(struct fib_builder *b)
{
    memset(b, 0, sizeof(*b));
}

void fib_builder_free(struct fib_builder *b)
{
    free(b->routes);
    free(b->seq);
    memset(b, 0, sizeof(*b));
}

static void clear_host_bits(uint8_t *prefix, uint32_t bytes, uint32_t plen)
{
    for (uint32_t i = 0; i < bytes; i++) {
        uint32_t bit = i * 8;
        if (bit >= plen)
            prefix[i] = 0;
        else if (plen - bit < 8)
            prefix[i] &= (uint8_t)(0xff << (8 - (plen - bit)));
    }
    for (uint32_t i = bytes; i < 16; i++)
        prefix[i] = 0;
}

int fib_builder_add(struct fib_builder *b, const struct fib_route *r)
{
    if (r->family != 4 && r->family != 6)
        return -EINVAL;
    if (r->plen > fam_bytes(r->family) * 8)
        return -EINVAL;
    if (r->kind != FIB_KIND_CONNECTED && r->kind != FIB_KIND_STATIC)
        return -EINVAL;
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 16;
        struct fib_route *nr = realloc(b->routes, (size_t)cap * sizeof(*nr));
        if (!nr)
            return -ENOMEM;
        b->routes = nr;
        uint32_t *ns = realloc(b->seq, (size_t)cap * sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        b->seq = ns;
        b->cap = cap;
    }
    struct fib_route *dst = &b->routes[b->n];
    *dst = *r;
    clear_host_bits(dst->prefix, fam_bytes(r->family), r->plen);
    if (!dst->has_gw)
        memset(dst->gateway, 0, sizeof(dst->gateway));
    b->seq[b->n] = b->n;
    b->n++;
    return 0;
}

struct sort_item {
    const struct fib_route *r;
    uint32_t seq;
};

/* Family, then prefix length ascending, then prefix, then preference (best first). */
static int route_cmp(const void *pa, const void *pb)
{
    const struct sort_item *a = pa, *b = pb;
    if (a->r->family != b->r->family)
        return a->r->family < b->r->family ? -1 : 1;
    if (a->r->plen != b->r->plen)
        return a->r->plen < b->r->plen ? -1 : 1;
    int c = memcmp(a->r->prefix, b->r->prefix, 16);
    if (c)
        return c;
    if (a->r->kind != b->r->kind)
        return a->r->kind < b->r->kind ? -1 : 1; /* connected first */
    if (a->r->metric != b->r->metric)
        return a->r->metric < b->r->metric ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq > b->seq ? -1 : 1; /* the later one replaces */
    return 0;
}

static int trie_new_node(struct fib_trie *t, uint32_t *idx)
{
    if (t->nnodes == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 4;
        struct fib_entry *n = realloc(t->nodes, (size_t)cap * FIB_STRIDE * sizeof(*n));
        if (!n)
            return -ENOMEM;
        t->nodes = n;
        t->cap = cap;
    }
    memset(&t->nodes[(size_t)t->nnodes * FIB_STRIDE], 0, FIB_STRIDE * sizeof(struct fib_entry));
    *idx = t->nnodes++;
    return 0;
}

/* Routes must come in ascending prefix length: a longer prefix overwrites expansions. */
static int trie_insert(struct fib_trie *t, const struct fib_route *r, uint32_t ridx)
{
    uint32_t node = 0;
    uint32_t d = 0;
    while (r->plen > 8 * (d + 1)) {
        struct fib_entry *e = &t->nodes[(size_t)node * FIB_STRIDE + r->prefix[d]];
        if (!e->child) {
            uint32_t child;
            int err = trie_new_node(t, &child);
            if (err)
                return err;
            /* t->nodes may have moved. */
            e = &t->nodes[(size_t)node * FIB_STRIDE + r->prefix[d]];
            e->child = child;
        }
        node = e->child;
        d++;
    }
    uint32_t span = 1u << (8 * (d + 1) - r->plen);
    uint32_t base = r->prefix[d] & ~(span - 1);
    if (r->plen == 0)
        base = 0;
    for (uint32_t i = base; i < base + span; i++)
        t->nodes[(size_t)node * FIB_STRIDE + i].route = ridx + 1;
    return 0;
}

int fib_build(const struct fib_builder *b, struct fib **out)
{
    *out = NULL;
    struct fib *f = calloc(1, sizeof(*f));
    struct sort_item *items = calloc(b->n ? b->n : 1, sizeof(*items));
    if (!f || !items)
        goto nomem;
    f->routes = calloc(b->n ? b->n : 1, sizeof(*f->routes));
    if (!f->routes)
        goto nomem;
    for (uint32_t i = 0; i < b->n; i++) {
        items[i].r = &b->routes[i];
        items[i].seq = b->seq[i];
    }
    qsort(items, b->n, sizeof(*items), route_cmp);
    for (int fam = 0; fam < 2; fam++) {
        uint32_t root;
        if (trie_new_node(&f->trie[fam], &root))
            goto nomem;
    }
    for (uint32_t i = 0; i < b->n; i++) {
        const struct fib_route *r = items[i].r;
        if (f->nroutes) {
            const struct fib_route *prev = &f->routes[f->nroutes - 1];
            if (prev->family == r->family && prev->plen == r->plen &&
                memcmp(prev->prefix, r->prefix, 16) == 0)
                continue; /* a less preferred route for the same prefix */
        }
        f->routes[f->nroutes] = *r;
        if (trie_insert(&f->trie[fam_idx(r->family)], r, f->nroutes))
            goto nomem;
        f->nroutes++;
    }
    free(items);
    *out = f;
    return 0;
nomem:
    free(items);
    fib_free(f);
    return -ENOMEM;
}

void fib_free(struct fib *f)
{
    if (!f)
        return;
    free(f->routes);
    free(f->trie[0].nodes);
    free(f->trie[1].nodes);
    free(f);
}

const struct fib_route *fib_lookup(const struct fib *f, uint8_t family, const uint8_t *addr)
{
    const struct fib_trie *t = &f->trie[fam_idx(family)];
    const uint32_t bytes = fam_bytes(family);
    uint32_t best = 0;
    uint32_t node = 0;
    for (uint32_t d = 0; d < bytes; d++) {
        const struct fib_entry *e = &t->nodes[(size_t)node * FIB_STRIDE + addr[d]];
        if (e->route)
            best = e->route;
        if (!e->child)
            break;
        node = e->child;
    }
    return best ? &f->routes[best - 1] : NULL;
}

uint32_t fib_route_count(const struct fib *f)
{
    return f->nroutes;
}

/* ---- neighbours ---- */

enum { NEIGH_EMPTY = 0, NEIGH_LIVE = 1, NEIGH_DELETED = 2 };

static uint64_t neigh_hash(uint8_t family, const uint8_t *addr, uint32_t ifindex)
{
    uint64_t w[2] = {0, 0};
    memcpy(w, addr, fam_bytes(family));
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)ifindex << 8) ^ family;
    for (int i = 0; i < 2; i++) {
        h ^= w[i];
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h;
}

static inline bool neigh_match(const struct neigh_entry *e, uint8_t family, const uint8_t *addr,
                               uint32_t ifindex)
{
    return e->family == family && e->ifindex == ifindex &&
           memcmp(e->addr, addr, fam_bytes(family)) == 0;
}

static int neigh_alloc(struct neigh_table **out, uint32_t capacity)
{
    uint32_t slots = 16;
    while (slots < capacity * 2 && slots < (1u << 30))
        slots <<= 1;
    struct neigh_table *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->slots = calloc(slots, sizeof(*t->slots));
    if (!t->slots) {
        free(t);
        return -ENOMEM;
    }
    t->mask = slots - 1;
    *out = t;
    return 0;
}

int neigh_table_create(struct neigh_table **out, uint32_t capacity)
{
    return neigh_alloc(out, capacity);
}

void neigh_table_free(struct neigh_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

/* Inserts a key known to be absent into a table with room. */
static void neigh_place(struct neigh_table *t, const struct neigh_entry *src)
{
    uint32_t i = (uint32_t)neigh_hash(src->family, src->addr, src->ifindex) & t->mask;
    while (t->slots[i].state == NEIGH_LIVE)
        i = (i + 1) & t->mask;
    if (t->slots[i].state == NEIGH_EMPTY)
        t->used++;
    t->slots[i] = *src;
    t->slots[i].state = NEIGH_LIVE;
    t->live++;
}

int neigh_table_clone(const struct neigh_table *t, uint32_t extra, struct neigh_table **out)
{
    struct neigh_table *n;
    int err = neigh_alloc(&n, t->live + extra);
    if (err)
        return err;
    for (uint32_t i = 0; i <= t->mask; i++)
        if (t->slots[i].state == NEIGH_LIVE)
            neigh_place(n, &t->slots[i]);
    *out = n;
    return 0;
}

static int neigh_find(const struct neigh_table *t, uint8_t family, const uint8_t *addr,
                      uint32_t ifindex)
{
    uint32_t i = (uint32_t)neigh_hash(family, addr, ifindex) & t->mask;
    for (uint32_t n = 0; n <= t->mask; n++) {
        const struct neigh_entry *e = &t->slots[i];
        if (e->state == NEIGH_EMPTY)
            return -1;
        if (e->state == NEIGH_LIVE && neigh_match(e, family, addr, ifindex))
            return (int)i;
        i = (i + 1) & t->mask;
    }
    return -1;
}

static int neigh_grow(struct neigh_table *t)
{
    struct neigh_table *n;
    int err = neigh_table_clone(t, t->live + 16, &n);
    if (err)
        return err;
    free(t->slots);
    *t = *n;
    free(n);
    return 0;
}

int neigh_table_set(struct neigh_table *t, uint8_t family, const uint8_t *addr, uint32_t ifindex,
                    const uint8_t mac[6])
{
    if (family != 4 && family != 6)
        return -EINVAL;
    int i = neigh_find(t, family, addr, ifindex);
    if (i >= 0) {
        memcpy(t->slots[i].mac, mac, 6);
        return 0;
    }
    if ((t->used + 1) * 2 > t->mask + 1) {
        int err = neigh_grow(t);
        if (err)
            return err;
    }
    struct neigh_entry e;
    memset(&e, 0, sizeof(e));
    e.family = family;
    e.ifindex = ifindex;
    memcpy(e.addr, addr, fam_bytes(family));
    memcpy(e.mac, mac, 6);
    neigh_place(t, &e);
    return 0;
}

int neigh_table_del(struct neigh_table *t, uint8_t family, const uint8_t *addr, uint32_t ifindex)
{
    if (family != 4 && family != 6)
        return -EINVAL;
    int i = neigh_find(t, family, addr, ifindex);
    if (i < 0)
        return -ENOENT;
    t->slots[i].state = NEIGH_DELETED;
    t->live--;
    return 0;
}

const uint8_t *neigh_lookup(const struct neigh_table *t, uint8_t family, const uint8_t *addr,
                            uint32_t ifindex)
{
    int i = neigh_find(t, family, addr, ifindex);
    return i >= 0 ? t->slots[i].mac : NULL;
}

int neigh_lookup_slot(const struct neigh_table *t, uint8_t family, const uint8_t *addr,
                      uint32_t ifindex)
{
    return neigh_find(t, family, addr, ifindex);
}
