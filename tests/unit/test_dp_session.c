/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/session.c: the per-worker session table (Robin Hood index over
 * forward and reverse keys) and the shared index other workers read.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"

static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* A distinct IPv4 (or IPv6) key per n. */
static void make_key(struct flow_tuple *k, uint32_t n, int family)
{
    memset(k, 0, sizeof(*k));
    k->family = (uint8_t)family;
    k->proto = 6;
    k->zone = 1;
    if (family == 4) {
        k->src[0] = 10;
        k->src[1] = (uint8_t)(n >> 16);
        k->src[2] = (uint8_t)(n >> 8);
        k->src[3] = (uint8_t)n;
        k->dst[0] = 192;
        k->dst[3] = 1;
    } else {
        k->src[0] = 0xfd;
        memcpy(k->src + 12, &n, 4);
        k->dst[0] = 0xfd;
        k->dst[15] = 1;
    }
    k->sport = (uint16_t)(1024 + (n % 50000));
    k->dport = 80;
}

/* Fills session idx with forward key k and its reverse (egress zone 2). */
static void fill(struct sess_table *t, uint32_t idx, const struct flow_tuple *k)
{
    struct dp_session *s = sess_at(t, idx);
    s->d[0].key = *k;
    flow_tuple_reverse(k, &s->d[1].key);
    s->d[1].key.zone = 2;
}

static uint32_t lookup(struct sess_table *t, const struct flow_tuple *k)
{
    return sess_lookup(t, k, sess_hash(t, k));
}

static uint32_t add(struct sess_table *t, const struct flow_tuple *k)
{
    uint32_t idx = sess_alloc(t);
    assert_int_not_equal(idx, SESS_NONE);
    fill(t, idx, k);
    assert_int_equal(sess_insert(t, idx), 0);
    return idx;
}

static void test_insert_lookup_both_directions(void **state)
{
    (void)state;
    struct sess_table t;
    assert_int_equal(sess_table_init(&t, 1000, 3, 42, false), 0);
    for (int fam = 4; fam <= 6; fam += 2) {
        struct flow_tuple k, r;
        make_key(&k, 7, fam);
        uint32_t idx = add(&t, &k);
        assert_int_equal(lookup(&t, &k), idx << 1);
        flow_tuple_reverse(&k, &r);
        /* The reply is found only with the egress zone in its key. */
        assert_int_equal(lookup(&t, &r), SESS_NONE);
        r.zone = 2;
        assert_int_equal(lookup(&t, &r), idx << 1 | 1);
        /* Anything else differs: a miss. */
        struct flow_tuple o = k;
        o.sport++;
        assert_int_equal(lookup(&t, &o), SESS_NONE);
        o = k;
        o.zone = 9;
        assert_int_equal(lookup(&t, &o), SESS_NONE);
        sess_remove(&t, idx);
        assert_int_equal(lookup(&t, &k), SESS_NONE);
        assert_int_equal(lookup(&t, &r), SESS_NONE);
    }
    assert_int_equal(t.active, 0);
    sess_table_free(&t);
}

static void test_duplicate_and_same_key(void **state)
{
    (void)state;
    struct sess_table t;
    assert_int_equal(sess_table_init(&t, 16, 0, 1, false), 0);
    struct flow_tuple k;
    make_key(&k, 1, 4);
    uint32_t a = add(&t, &k);
    /* A second session whose reverse key is the first one's forward key: refused. */
    uint32_t b = sess_alloc(&t);
    struct dp_session *s = sess_at(&t, b);
    flow_tuple_reverse(&k, &s->d[0].key);
    s->d[0].key.zone = 5;
    s->d[1].key = k;
    assert_int_equal(sess_insert(&t, b), -EEXIST);
    sess_release(&t, b);
    assert_int_equal(lookup(&t, &k), a << 1);

    /* A session whose two keys are equal is indexed once and removed cleanly. */
    struct flow_tuple same;
    make_key(&same, 2, 4);
    memcpy(same.dst, same.src, 16);
    same.dport = same.sport;
    uint32_t c = sess_alloc(&t);
    sess_at(&t, c)->d[0].key = same;
    sess_at(&t, c)->d[1].key = same;
    assert_int_equal(sess_insert(&t, c), 0);
    assert_true(sess_at(&t, c)->flags & SESS_F_SAME_KEY);
    assert_int_equal(lookup(&t, &same), c << 1);
    sess_remove(&t, c);
    assert_int_equal(lookup(&t, &same), SESS_NONE);
    assert_int_equal(lookup(&t, &k), a << 1);
    sess_table_free(&t);
}

/* Keys that all land on one home slot of the index: a collision chain. */
static void test_forced_collisions(void **state)
{
    (void)state;
    struct sess_table t;
    assert_int_equal(sess_table_init(&t, 4096, 0, 99, false), 0);
    enum { N = 40 };
    struct flow_tuple keys[N];
    uint32_t got = 0, target = UINT32_MAX;
    for (uint32_t n = 0; got < N; n++) {
        struct flow_tuple k;
        make_key(&k, n, (n & 1) ? 6 : 4);
        uint32_t home = sess_home(&t, sess_hash(&t, &k));
        if (target == UINT32_MAX)
            target = home;
        if (home == target)
            keys[got++] = k;
        assert_true(n < 50u * 1000 * 1000);
    }
    uint32_t idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = add(&t, &keys[i]);
    for (int i = 0; i < N; i++)
        assert_int_equal(lookup(&t, &keys[i]), idx[i] << 1);
    /* Remove every other one, from the middle of the chain: the rest stay reachable. */
    for (int i = 0; i < N; i += 2)
        sess_remove(&t, idx[i]);
    for (int i = 0; i < N; i++)
        assert_int_equal(lookup(&t, &keys[i]), i % 2 ? idx[i] << 1 : SESS_NONE);
    /* Back in, in reverse order. */
    for (int i = N - 2; i >= 0; i -= 2)
        idx[i] = add(&t, &keys[i]);
    for (int i = 0; i < N; i++) {
        assert_int_equal(lookup(&t, &keys[i]), idx[i] << 1);
        struct flow_tuple r;
        flow_tuple_reverse(&keys[i], &r);
        r.zone = 2;
        assert_int_equal(lookup(&t, &r), idx[i] << 1 | 1);
    }
    sess_table_free(&t);
}

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

/* Two different keys with the same home slot and the same 16-bit tag: the key comparison
 * tells them apart, on the batched path too. */
static void test_equal_tags(void **state)
{
    (void)state;
    struct sess_table t;
    assert_int_equal(sess_table_init(&t, 64, 0, 7, false), 0);
    enum { M = 400000 };
    uint64_t *v = malloc(M * sizeof(uint64_t)); /* home << 40 | tag << 24 | n */
    for (uint32_t n = 0; n < M; n++) {
        struct flow_tuple k;
        make_key(&k, n, 4);
        uint64_t h = sess_hash(&t, &k);
        v[n] = (uint64_t)sess_home(&t, h) << 40 | (uint64_t)(uint16_t)h << 24 | n;
    }
    qsort(v, M, sizeof(uint64_t), cmp_u64);
    int pairs = 0;
    for (uint32_t i = 1; i < M && pairs < 8; i++) {
        if ((v[i] >> 24) != (v[i - 1] >> 24))
            continue;
        struct flow_tuple a, b;
        make_key(&a, (uint32_t)(v[i - 1] & 0xffffff), 4);
        make_key(&b, (uint32_t)(v[i] & 0xffffff), 4);
        uint64_t ha = sess_hash(&t, &a), hb = sess_hash(&t, &b);
        assert_int_equal((uint16_t)ha, (uint16_t)hb);
        assert_int_equal(sess_home(&t, ha), sess_home(&t, hb));
        uint32_t ia = add(&t, &a);
        assert_int_equal(lookup(&t, &b), SESS_NONE);
        uint32_t ib = add(&t, &b);
        assert_int_equal(lookup(&t, &a), ia << 1);
        assert_int_equal(lookup(&t, &b), ib << 1);
        /* Batched: the first candidate is a's entry; b is found past it. */
        struct sess_probe pr;
        sess_find_candidate(&t, hb, &pr);
        assert_int_not_equal(pr.ref, SESS_NONE);
        assert_int_equal(sess_lookup_from(&t, &b, hb, &pr), ib << 1);
        sess_find_candidate(&t, ha, &pr);
        assert_int_equal(sess_lookup_from(&t, &a, ha, &pr), ia << 1);
        sess_remove(&t, ia);
        assert_int_equal(lookup(&t, &a), SESS_NONE);
        sess_find_candidate(&t, ha, &pr);
        assert_int_equal(sess_lookup_from(&t, &a, ha, &pr), SESS_NONE);
        assert_int_equal(lookup(&t, &b), ib << 1);
        sess_remove(&t, ib);
        pairs++;
    }
    assert_int_equal(pairs, 8);
    free(v);
    sess_table_free(&t);
}

static void test_capacity(void **state)
{
    (void)state;
    struct sess_table t;
    enum { CAP = 1000 };
    assert_int_equal(sess_table_init(&t, CAP, 1, 5, false), 0);
    uint32_t idx[CAP];
    for (uint32_t i = 0; i < CAP; i++) {
        struct flow_tuple k;
        make_key(&k, i, 4);
        idx[i] = add(&t, &k);
    }
    assert_int_equal(t.active, CAP);
    assert_int_equal(sess_alloc(&t), SESS_NONE);
    /* Full table: every session still found. */
    for (uint32_t i = 0; i < CAP; i++) {
        struct flow_tuple k;
        make_key(&k, i, 4);
        assert_int_equal(lookup(&t, &k), idx[i] << 1);
    }
    sess_remove(&t, idx[500]);
    uint32_t again = sess_alloc(&t);
    assert_int_equal(again, idx[500]);
    assert_int_equal(sess_alloc(&t), SESS_NONE);
    sess_table_free(&t);
}

/* Millions of inserts and deletes at full load: lookups cost what they cost at the start
 * (no tombstones accumulate), and the index holds exactly the live keys. */
static void test_churn_does_not_degrade(void **state)
{
    (void)state;
    struct sess_table t;
    enum { CAP = 20000, LIVE = CAP, ROUNDS = 2000000 };
    assert_int_equal(sess_table_init(&t, CAP, 0, 11, false), 0);
    uint32_t *ids = malloc(LIVE * sizeof(uint32_t));  /* key number of each live slot */
    uint32_t *slot = malloc(LIVE * sizeof(uint32_t)); /* session of each */
    uint32_t next = 0;
    for (uint32_t i = 0; i < LIVE; i++) {
        struct flow_tuple k;
        make_key(&k, next, (next % 3) ? 4 : 6);
        ids[i] = next++;
        slot[i] = add(&t, &k);
    }
    /* Probes per successful lookup at the start. */
    t.probes = 0;
    for (uint32_t i = 0; i < LIVE; i++) {
        struct flow_tuple k;
        make_key(&k, ids[i], (ids[i] % 3) ? 4 : 6);
        assert_int_equal(lookup(&t, &k), slot[i] << 1);
    }
    double before = (double)t.probes / LIVE;

    for (uint32_t r = 0; r < ROUNDS; r++) {
        uint32_t i = (uint32_t)(rnd() % LIVE);
        sess_remove(&t, slot[i]);
        struct flow_tuple k;
        make_key(&k, next, (next % 3) ? 4 : 6);
        ids[i] = next++;
        slot[i] = add(&t, &k);
    }
    t.probes = 0;
    for (uint32_t i = 0; i < LIVE; i++) {
        struct flow_tuple k;
        make_key(&k, ids[i], (ids[i] % 3) ? 4 : 6);
        assert_int_equal(lookup(&t, &k), slot[i] << 1);
    }
    double after = (double)t.probes / LIVE;
    /* The batched path agrees with the plain one. */
    for (uint32_t i = 0; i < LIVE; i += 7) {
        struct flow_tuple k;
        make_key(&k, ids[i], (ids[i] % 3) ? 4 : 6);
        uint64_t h = sess_hash(&t, &k);
        struct sess_probe pr;
        sess_find_candidate(&t, h, &pr);
        assert_int_equal(sess_lookup_from(&t, &k, h, &pr), slot[i] << 1);
    }
    /* Misses (keys removed long ago) stop early too. */
    t.probes = 0;
    for (uint32_t n = 0; n < 10000; n++) {
        struct flow_tuple k;
        make_key(&k, n, (n % 3) ? 4 : 6);
        lookup(&t, &k);
    }
    double miss = (double)t.probes / 10000;
    print_message("probes/hit before %.2f after %.2f, probes/miss %.2f\n", before, after, miss);
    assert_true(after < before * 1.3 + 0.2);
    assert_true(miss < 8.0);
    /* Exactly 2 * LIVE entries in the index. */
    uint32_t used = 0;
    uint32_t maxd = 0;
    for (uint32_t i = 0; i < t.nslots; i++) {
        used += t.idx[i].ref != SESS_NONE;
        if (t.idx[i].ref != SESS_NONE && t.idx[i].dist > maxd)
            maxd = t.idx[i].dist;
    }
    assert_int_equal(used, 2 * LIVE);
    print_message("longest probe distance %u\n", maxd);
    assert_true(maxd < 64);
    free(ids);
    free(slot);
    sess_table_free(&t);
}

static void test_ids(void **state)
{
    (void)state;
    struct sess_table t;
    assert_int_equal(sess_table_init(&t, 1000, 5, 1, false), 0);
    assert_int_equal(t.slot_bits, 10);
    struct flow_tuple k;
    make_key(&k, 3, 4);
    uint32_t idx = add(&t, &k);
    uint64_t id = sess_make_id(&t, idx, 1);
    sess_at(&t, idx)->id = id;
    assert_int_equal(id >> 48, 5);
    assert_int_equal(sess_find_id(&t, id), idx);
    assert_int_equal(sess_find_id(&t, id + (1ull << 10)), SESS_NONE); /* other use */
    assert_int_equal(sess_find_id(&t, id ^ (1ull << 48)), SESS_NONE); /* other worker */
    assert_int_equal(sess_id_slot(&t, sess_make_id(&t, 999, 3)), 999);
    assert_int_equal(sess_id_slot(&t, sess_make_id(&t, 1000, 3)), SESS_NONE);
    sess_remove(&t, idx);
    assert_int_equal(sess_find_id(&t, id), SESS_NONE);
    sess_table_free(&t);
}

static void test_claim_and_rebuild(void **state)
{
    (void)state;
    struct sess_table t;
    assert_int_equal(sess_table_init(&t, 8, 0, 1, false), 0);
    assert_true(sess_claim(&t, 5));
    assert_false(sess_claim(&t, 5));
    assert_true(sess_claim(&t, 0));
    assert_false(sess_claim(&t, 8));
    struct flow_tuple k;
    make_key(&k, 1, 4);
    fill(&t, 5, &k);
    assert_int_equal(sess_insert(&t, 5), 0);
    sess_release(&t, 0); /* claimed, never used */
    sess_rebuild_free(&t);
    assert_int_equal(t.active, 1);
    bool seen[8] = {false};
    for (int i = 0; i < 7; i++) {
        uint32_t a = sess_alloc(&t);
        assert_true(a < 8 && a != 5 && !seen[a]);
        seen[a] = true;
    }
    assert_int_equal(sess_alloc(&t), SESS_NONE);
    assert_int_equal(lookup(&t, &k), 5u << 1);
    sess_table_free(&t);
}

/* ---- shared index ---- */

static void test_shared_basic(void **state)
{
    (void)state;
    struct sess_table t;
    assert_int_equal(sess_table_init(&t, 100, 1, 3, true), 0);
    struct flow_tuple k, r;
    make_key(&k, 1, 6);
    uint32_t idx = add(&t, &k);
    flow_tuple_reverse(&k, &r);
    r.zone = 2;
    assert_true(sess_shared_has(t.shared, sess_hash(&t, &k)));
    assert_true(sess_shared_has(t.shared, sess_hash(&t, &r)));
    assert_int_equal(t.shared->count, 2);
    struct flow_tuple o = k;
    o.dport = 81;
    assert_false(sess_shared_has(t.shared, sess_hash(&t, &o)));
    sess_remove(&t, idx);
    assert_false(sess_shared_has(t.shared, sess_hash(&t, &k)));
    assert_false(sess_shared_has(t.shared, sess_hash(&t, &r)));
    assert_int_equal(t.shared->count, 0);
    sess_table_free(&t);
}

struct reader_arg {
    struct sess_shared *sh;
    const uint64_t *stable;
    int nstable;
    atomic_int stop;
    uint64_t checks, misses;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    while (!atomic_load(&a->stop)) {
        for (int i = 0; i < a->nstable; i++) {
            a->checks++;
            if (!sess_shared_has(a->sh, a->stable[i]))
                a->misses++;
        }
    }
    return NULL;
}

/* The owner inserts and deletes around keys that stay: a reader on another thread never
 * misses one of those (the sequence count catches entries moving under it). */
static void test_shared_concurrent_reader(void **state)
{
    (void)state;
    struct sess_shared sh;
    enum { KEYS = 4096, STABLE = 512 };
    assert_int_equal(sess_shared_init(&sh, KEYS), 0);
    uint64_t stable[STABLE];
    for (int i = 0; i < STABLE; i++) {
        stable[i] = rnd();
        sess_shared_add(&sh, stable[i]);
    }
    struct reader_arg a = {.sh = &sh, .stable = stable, .nstable = STABLE};
    atomic_init(&a.stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader, &a), 0);
    enum { CHURN = KEYS - STABLE - 8 };
    static uint64_t live[CHURN];
    for (int i = 0; i < CHURN; i++) {
        live[i] = rnd();
        sess_shared_add(&sh, live[i]);
    }
    for (int r = 0; r < 3000000; r++) {
        int i = (int)(rnd() % CHURN);
        sess_shared_del(&sh, live[i]);
        live[i] = rnd();
        sess_shared_add(&sh, live[i]);
    }
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
    print_message("reader: %llu checks, %llu misses\n", (unsigned long long)a.checks,
                  (unsigned long long)a.misses);
    assert_true(a.checks > 0);
    assert_int_equal(a.misses, 0);
    for (int i = 0; i < STABLE; i++)
        assert_true(sess_shared_has(&sh, stable[i]));
    assert_int_equal(sh.count, STABLE + CHURN);
    sess_shared_free(&sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_lookup_both_directions),
        cmocka_unit_test(test_duplicate_and_same_key),
        cmocka_unit_test(test_forced_collisions),
        cmocka_unit_test(test_equal_tags),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_churn_does_not_degrade),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_claim_and_rebuild),
        cmocka_unit_test(test_shared_basic),
        cmocka_unit_test(test_shared_concurrent_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
