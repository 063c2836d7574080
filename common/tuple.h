/* SPDX-License-Identifier: MIT */
/*
 * tuple.h — flow keys and their hash, shared by the dataplane and controld's session mirror.
 */
#ifndef MOAT_TUPLE_H
#define MOAT_TUPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Addresses are 16 bytes; IPv4 uses the first 4 and zeroes the rest. */
struct flow_tuple {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport; /* network order */
    uint16_t dport; /* network order */
    uint8_t proto;
    uint8_t family; /* 4 or 6 */
    uint16_t zone;  /* ingress zone / VRF */
} __attribute__((aligned(8)));

_Static_assert(sizeof(struct flow_tuple) == 40, "flow_tuple must stay 40 bytes");

static inline bool flow_tuple_eq(const struct flow_tuple *a, const struct flow_tuple *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* The tuple of the reply direction. */
static inline void flow_tuple_reverse(const struct flow_tuple *in, struct flow_tuple *out)
{
    struct flow_tuple t = *in;
    memcpy(t.src, in->dst, 16);
    memcpy(t.dst, in->src, 16);
    t.sport = in->dport;
    t.dport = in->sport;
    *out = t;
}

/* The same hash over a tuple already held as its five 64-bit words (memory order). */
static inline uint64_t flow_tuple_hash_words(const uint64_t w[5], uint64_t seed)
{
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 5; i++) {
        h ^= w[i];
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h;
}

/* 64-bit mix of the five 64-bit words of a tuple (a multiply-xorshift hash). */
static inline uint64_t flow_tuple_hash(const struct flow_tuple *t, uint64_t seed)
{
    uint64_t w[5];
    memcpy(w, t, sizeof(w));
    return flow_tuple_hash_words(w, seed);
}

#endif
