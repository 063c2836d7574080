/* SPDX-License-Identifier: MIT */
/*
 * fib.h — the forwarding tables the workers read: routes (longest-prefix match) and
 * neighbours (next hop -> MAC).
 *
 * Both are built by the control thread off the hot path and are immutable once published
 * to the workers; a change builds a new table (a neighbour change clones the current one)
 * and the old one is freed after every worker has passed a quiescent point (worker.h).
 *
 * Routes: a multibit trie with 8-bit strides (4 levels for IPv4, 16 for IPv6) with prefix
 * expansion, so a lookup costs at most one memory access per address byte.
 * Several routes for one prefix: connected beats static, then the lower metric wins, then
 * the route added last replaces the earlier one.
 */
#ifndef MOAT_DP_FIB_H
#define MOAT_DP_FIB_H

#include <stdbool.h>
#include <stdint.h>

enum fib_kind { FIB_KIND_CONNECTED = 0, FIB_KIND_STATIC = 1 };

struct fib_route {
    uint8_t family; /* 4 or 6 */
    uint8_t plen;
    uint8_t kind;     /* enum fib_kind */
    uint8_t has_gw;   /* else the next hop is the packet's destination */
    uint32_t ifindex; /* egress interface */
    uint32_t metric;
    int32_t oif;        /* the caller's index for the egress interface (-1: none), carried along */
    uint8_t prefix[16]; /* host bits are cleared by fib_builder_add() */
    uint8_t gateway[16];
};

struct fib_builder {
    struct fib_route *routes;
    uint32_t *seq;
    uint32_t n, cap;
};

struct fib;

void fib_builder_init(struct fib_builder *b);
void fib_builder_free(struct fib_builder *b);
/* Copies r in. -EINVAL for a bad family or prefix length, -ENOMEM. */
int fib_builder_add(struct fib_builder *b, const struct fib_route *r);
/* Compiles the routes added so far into an immutable table (b stays usable). */
int fib_build(const struct fib_builder *b, struct fib **out);
void fib_free(struct fib *f);

/* The most specific route for addr (4 or 16 bytes as family says), or NULL. */
const struct fib_route *fib_lookup(const struct fib *f, uint8_t family, const uint8_t *addr);
/* Routes in the table after duplicates were resolved. */
uint32_t fib_route_count(const struct fib *f);

static inline const uint8_t *fib_nexthop(const struct fib_route *r, const uint8_t *dst)
{
    return r->has_gw ? r->gateway : dst;
}

/* ---- neighbours ---- */

struct neigh_entry {
    uint32_t ifindex;
    uint8_t family;
    uint8_t state; /* 0 empty, 1 live, 2 deleted */
    uint8_t mac[6];
    uint8_t addr[16];
};

struct neigh_table {
    struct neigh_entry *slots;
    uint32_t mask;
    uint32_t live; /* live entries */
    uint32_t used; /* live + deleted slots */
};

/* An empty table with room for about capacity entries before it grows. */
int neigh_table_create(struct neigh_table **out, uint32_t capacity);
/* A copy holding the live entries of t, with room for extra more. */
int neigh_table_clone(const struct neigh_table *t, uint32_t extra, struct neigh_table **out);
void neigh_table_free(struct neigh_table *t);
/* Insert or replace (not for a published table). -EINVAL, -ENOMEM. */
int neigh_table_set(struct neigh_table *t, uint8_t family, const uint8_t *addr, uint32_t ifindex,
                    const uint8_t mac[6]);
/* Remove (not for a published table). 0, or -ENOENT. */
int neigh_table_del(struct neigh_table *t, uint8_t family, const uint8_t *addr, uint32_t ifindex);
/* The MAC of (addr, ifindex), or NULL. */
const uint8_t *neigh_lookup(const struct neigh_table *t, uint8_t family, const uint8_t *addr,
                            uint32_t ifindex);
/* The slot of (addr, ifindex) in t->slots (its MAC stays there while t is published), or -1. */
int neigh_lookup_slot(const struct neigh_table *t, uint8_t family, const uint8_t *addr,
                      uint32_t ifindex);

#endif
