/* SPDX-License-Identifier: MIT */
/*
 * session.h — a worker's session table, and the shared index other workers read.
 *
 * Sessions live in one preallocated array (192 bytes each, three cache lines: one per
 * direction with its key, counters and cached route, one shared; a packet touches two of
 * them). Free sessions are
 * chained through their timer node. Nothing is allocated after sess_table_init().
 *
 * Each session is indexed twice, by its forward key (as the initiator sent it, with the
 * ingress zone) and by its reverse key (as replies arrive, with the egress zone), in one
 * open-addressing hash index of 8-byte entries {distance from home, 16-bit tag, session << 1 |
 * direction} with Robin Hood probing: an entry's home is fastrange(hash >> 32, nslots),
 * probe sequences stay short and sorted by distance, so a lookup stops as soon as it meets
 * an entry closer to its home than the probe is. Deletion shifts the following entries back (no
 * tombstones: a table that has seen a billion inserts and deletes probes like a fresh one). The
 * index has 8/3 entries per session (load factor <= 0.75).
 *
 * The shared index (struct sess_shared): each worker publishes the 64-bit hashes of its
 * sessions' keys in a partition of its own — written only by that worker, read by all,
 * without locks. Readers probe with relaxed atomic loads under a sequence count the writer
 * bumps around each change, and retry a miss that raced a change. A hit is only a hint
 * ("this worker probably owns the key"): the frame is handed to that worker, which looks
 * it up in its own table, so a hash collision costs a hand-off, never a wrong session.
 */
#ifndef MOAT_DP_SESSION_H
#define MOAT_DP_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "timer.h"
#include "tuple.h"

#define SESS_NONE UINT32_MAX
#define SESS_MAX_CAPACITY (1u << 30)

/* moat.SessionState numbering. */
enum sess_state {
    SESS_NEW = 0,
    SESS_SYN_SENT = 1,
    SESS_SYN_RECV = 2,
    SESS_ESTABLISHED = 3,
    SESS_FIN_WAIT = 4,
    SESS_CLOSING = 5,
    SESS_TIME_WAIT = 6,
    SESS_CLOSED = 7,
};

/* dp_session.flags */
#define SESS_F_USED 0x01
#define SESS_F_FIN_FWD 0x02   /* the initiator sent a FIN */
#define SESS_F_FIN_REV 0x04   /* the responder sent a FIN */
#define SESS_F_FIN_FIRST 0x08 /* set: the responder's FIN came first */
#define SESS_F_SAME_KEY 0x10  /* forward key == reverse key: indexed once */
#define SESS_F_SHARED 0x20    /* keys published in the shared index */
#define SESS_F_CLAIMED 0x40   /* taken by sess_claim(), not yet on the free list */
#define SESS_F_NAT 0x80       /* translated: the keys are not mirror images (rewrite) */

/* One direction of a session: its key and what its packets update (one cache line). */
struct sess_dir {
    struct flow_tuple key; /* d[0]: as the initiator sent it; d[1]: as replies arrive */
    uint64_t packets;
    uint64_t bytes;
    uint32_t nh;      /* route cache: egress (index in the tables) << 24 | neighbour slot */
    uint32_t ifindex; /* d[0]: ingress interface; d[1]: egress interface */
};

/*
 * A packet touches the line of its direction and the shared line, never all three.
 */
struct dp_session {
    struct sess_dir d[2]; /* lines 0 and 1 */
    /* Line 2: shared by both directions. */
    uint32_t last_seen;   /* worker clock, ms (wraps; compared by difference) */
    uint32_t route_epoch; /* d[].nh valid while it equals the worker's route epoch */
    uint8_t state;        /* enum sess_state */
    uint8_t flags;        /* SESS_F_* */
    uint16_t policy_slot;
    uint32_t last_update; /* last UPDATE delta, worker clock */
    uint64_t id;
    uint64_t created_unix_ms;
    struct timer_node tn;   /* aging wheel (free list when unused) */
    struct timer_node idle; /* last-seen buckets (early aging) */
    uint32_t app_timeout;   /* s, 0: the protocol's */
    uint16_t app_slot;
    uint8_t icmp_type, icmp_code; /* of the first packet (policy re-evaluation) */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct sess_dir) == 64, "sess_dir must stay one cache line");
_Static_assert(sizeof(struct dp_session) == 192, "dp_session must stay three cache lines");

struct sess_ent {
    uint16_t dist; /* distance from the home slot */
    uint16_t tag;  /* 16 more bits of the hash */
    uint32_t ref;  /* session << 1 | direction; SESS_NONE: empty */
};

struct sess_shared {
    _Atomic uint64_t *e; /* hash | 1; 0: empty */
    uint32_t nslots;
    uint32_t count;
    _Atomic uint32_t seq; /* odd while the owner changes the table */
    size_t bytes;
};

struct sess_table {
    struct dp_session *s;
    uint32_t cap;
    uint32_t active;
    uint32_t free_head;
    uint32_t slot_bits; /* bits of a session id's serial that hold the slot */
    uint16_t worker;
    uint64_t seed;
    struct sess_ent *idx;
    uint32_t nslots;
    size_t s_bytes, idx_bytes;
    struct sess_shared *shared; /* this worker's partition, NULL with one worker */
    /* Statistics of the index (tests, benchmark). */
    uint64_t probes;
};

/*
 * Allocates a table for cap sessions (1..SESS_MAX_CAPACITY) and, when with_shared, its
 * shared partition. All memory is mapped, populated and (if the kernel allows) backed by
 * huge pages here. -EINVAL, -ENOMEM.
 */
int sess_table_init(struct sess_table *t, uint32_t cap, uint16_t worker, uint64_t seed,
                    bool with_shared);
/* The same, calling progress(arg) every 64 Ki sessions initialised (a 1 M-session table takes
 * a good part of a second to populate: the control thread keeps its heartbeats going). */
int sess_table_init_progress(struct sess_table *t, uint32_t cap, uint16_t worker, uint64_t seed,
                             bool with_shared, void (*progress)(void *), void *arg);
void sess_table_free(struct sess_table *t);
/* Bytes mapped for the table (sessions, index, shared partition). */
size_t sess_table_bytes(const struct sess_table *t);

static inline uint64_t sess_hash(const struct sess_table *t, const struct flow_tuple *k)
{
    return flow_tuple_hash(k, t->seed);
}

static inline struct dp_session *sess_at(const struct sess_table *t, uint32_t idx)
{
    return &t->s[idx];
}

/* An unused session (flags 0, timer nodes unlinked), or SESS_NONE when the table is full. */
uint32_t sess_alloc(struct sess_table *t);
/* Gives an allocated session that was never inserted (or was removed) back. */
void sess_release(struct sess_table *t, uint32_t idx);
/*
 * Re-seeding with known ids: sess_claim() takes slot idx (false if taken) without touching
 * the free list; once every wanted slot is claimed (and inserted or released),
 * sess_rebuild_free() chains the slots left over. O(1) and O(cap).
 */
bool sess_claim(struct sess_table *t, uint32_t idx);
void sess_rebuild_free(struct sess_table *t);

/*
 * Indexes session idx by d[0].key and d[1].key (already filled) and marks it used; publishes
 * both hashes in the shared partition when there is one. -EEXIST (nothing changed) if a
 * key is already indexed.
 */
int sess_insert(struct sess_table *t, uint32_t idx);
/* Removes both keys from the index (and the shared partition) and frees the session. */
void sess_remove(struct sess_table *t, uint32_t idx);

/* Session << 1 | direction for key (hash h), or SESS_NONE. */
uint32_t sess_lookup(struct sess_table *t, const struct flow_tuple *key, uint64_t h);

/* The home slot of hash h. */
static inline uint32_t sess_home(const struct sess_table *t, uint64_t h)
{
    return (uint32_t)(((h >> 32) * t->nslots) >> 32);
}

/*
 * Batched lookups: sess_prefetch_index() on the hashes of a batch, then
 * sess_find_candidate() (the first entry whose tag matches, its session prefetched), then
 * sess_lookup_from() to confirm with the key, going on past a tag collision.
 */
struct sess_probe {
    uint32_t pos, dist;
    uint32_t ref; /* candidate, SESS_NONE: a miss for sure */
};
static inline void sess_prefetch_index(const struct sess_table *t, uint64_t h)
{
    __builtin_prefetch(&t->idx[sess_home(t, h)]);
}
void sess_find_candidate(const struct sess_table *t, uint64_t h, struct sess_probe *pr);
uint32_t sess_lookup_from(struct sess_table *t, const struct flow_tuple *key, uint64_t h,
                          const struct sess_probe *pr);

/* Session ids: worker << 48 | use << slot_bits | slot (use >= 1 grows each time a slot is
 * reused), unique while the helper runs. */
static inline uint64_t sess_make_id(const struct sess_table *t, uint32_t slot, uint64_t use)
{
    return ((uint64_t)t->worker << 48) | (use << t->slot_bits) | slot;
}
/* The session with this id, or SESS_NONE. */
uint32_t sess_find_id(const struct sess_table *t, uint64_t id);
/* The slot an id names in a table of this layout, or SESS_NONE if it can't be ours. */
uint32_t sess_id_slot(const struct sess_table *t, uint64_t id);

/* ---- shared index ---- */

int sess_shared_init(struct sess_shared *sh, uint32_t keys);
void sess_shared_free(struct sess_shared *sh);
/* Owner only. */
void sess_shared_add(struct sess_shared *sh, uint64_t h);
void sess_shared_del(struct sess_shared *sh, uint64_t h);
/* Any thread. */
bool sess_shared_has(const struct sess_shared *sh, uint64_t h);

#endif
