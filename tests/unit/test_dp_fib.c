/* SPDX-License-Identifier: MIT */
/* Unit tests for dataplane/fib.c: longest-prefix match and the neighbour table. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fib.h"

static struct fib_route route(const char *prefix, unsigned plen, enum fib_kind kind,
                              uint32_t ifindex, const char *gw, uint32_t metric)
{
    struct fib_route r;
    memset(&r, 0, sizeof(r));
    if (strchr(prefix, ':')) {
        r.family = 6;
        assert_int_equal(inet_pton(AF_INET6, prefix, r.prefix), 1);
        if (gw)
            assert_int_equal(inet_pton(AF_INET6, gw, r.gateway), 1);
    } else {
        r.family = 4;
        assert_int_equal(inet_pton(AF_INET, prefix, r.prefix), 1);
        if (gw)
            assert_int_equal(inet_pton(AF_INET, gw, r.gateway), 1);
    }
    r.plen = (uint8_t)plen;
    r.kind = (uint8_t)kind;
    r.ifindex = ifindex;
    r.has_gw = gw != NULL;
    r.metric = metric;
    r.oif = (int32_t)ifindex;
    return r;
}

static void add(struct fib_builder *b, struct fib_route r)
{
    assert_int_equal(fib_builder_add(b, &r), 0);
}

/* The ifindex of the route chosen for addr, 0 for none. */
static uint32_t via(const struct fib *f, const char *addr)
{
    uint8_t a[16];
    uint8_t fam = strchr(addr, ':') ? 6 : 4;
    assert_int_equal(inet_pton(fam == 6 ? AF_INET6 : AF_INET, addr, a), 1);
    const struct fib_route *r = fib_lookup(f, fam, a);
    return r ? r->ifindex : 0;
}

static void test_ipv4_longest_wins(void **state)
{
    (void)state;
    struct fib_builder b;
    fib_builder_init(&b);
    add(&b, route("0.0.0.0", 0, FIB_KIND_STATIC, 1, "192.0.2.1", 0));
    add(&b, route("10.0.0.0", 8, FIB_KIND_STATIC, 8, "192.0.2.8", 0));
    add(&b, route("10.77.0.0", 16, FIB_KIND_STATIC, 16, "192.0.2.16", 0));
    add(&b, route("10.77.2.0", 24, FIB_KIND_CONNECTED, 24, NULL, 0));
    add(&b, route("10.77.2.9", 32, FIB_KIND_STATIC, 32, "10.77.2.1", 0));
    add(&b, route("10.77.2.128", 25, FIB_KIND_STATIC, 25, "10.77.2.1", 0));
    struct fib *f;
    assert_int_equal(fib_build(&b, &f), 0);
    assert_int_equal(fib_route_count(f), 6);
    assert_int_equal(via(f, "8.8.8.8"), 1);
    assert_int_equal(via(f, "255.255.255.255"), 1);
    assert_int_equal(via(f, "10.1.2.3"), 8);
    assert_int_equal(via(f, "10.77.1.2"), 16);
    assert_int_equal(via(f, "10.77.2.2"), 24);
    assert_int_equal(via(f, "10.77.2.9"), 32);
    assert_int_equal(via(f, "10.77.2.8"), 24);
    assert_int_equal(via(f, "10.77.2.10"), 24);
    assert_int_equal(via(f, "10.77.2.200"), 25);
    assert_int_equal(via(f, "10.77.3.1"), 16);
    assert_int_equal(via(f, "11.0.0.1"), 1);

    /* Next hop: the gateway, or the destination itself for a connected route. */
    uint8_t dst[4] = {10, 77, 2, 2};
    const struct fib_route *r = fib_lookup(f, 4, dst);
    assert_non_null(r);
    assert_ptr_equal(fib_nexthop(r, dst), dst);
    uint8_t dst2[4] = {10, 1, 2, 3};
    r = fib_lookup(f, 4, dst2);
    const uint8_t gw[4] = {192, 0, 2, 8};
    assert_memory_equal(fib_nexthop(r, dst2), gw, 4);
    fib_free(f);
    fib_builder_free(&b);
}

static void test_no_default_means_miss(void **state)
{
    (void)state;
    struct fib_builder b;
    fib_builder_init(&b);
    add(&b, route("10.77.1.0", 24, FIB_KIND_CONNECTED, 3, NULL, 0));
    struct fib *f;
    assert_int_equal(fib_build(&b, &f), 0);
    assert_int_equal(via(f, "10.77.1.200"), 3);
    assert_int_equal(via(f, "10.77.2.1"), 0);
    assert_int_equal(via(f, "fd00::1"), 0); /* the families don't mix */
    fib_free(f);
    fib_builder_free(&b);

    /* An empty table answers nothing. */
    fib_builder_init(&b);
    assert_int_equal(fib_build(&b, &f), 0);
    assert_int_equal(via(f, "1.2.3.4"), 0);
    assert_int_equal(via(f, "::1"), 0);
    fib_free(f);
    fib_builder_free(&b);
}

static void test_ipv6(void **state)
{
    (void)state;
    struct fib_builder b;
    fib_builder_init(&b);
    add(&b, route("::", 0, FIB_KIND_STATIC, 1, "fd00:77:1::1", 0));
    add(&b, route("fd00:77:2::", 64, FIB_KIND_CONNECTED, 64, NULL, 0));
    add(&b, route("fd00:77:2::9", 128, FIB_KIND_STATIC, 128, "fd00:77:2::1", 0));
    add(&b, route("fd00:77::", 48, FIB_KIND_STATIC, 48, "fd00:77:1::1", 0));
    add(&b, route("0.0.0.0", 0, FIB_KIND_STATIC, 4, "192.0.2.1", 0));
    struct fib *f;
    assert_int_equal(fib_build(&b, &f), 0);
    assert_int_equal(via(f, "2001:db8::1"), 1);
    assert_int_equal(via(f, "fd00:77:2::2"), 64);
    assert_int_equal(via(f, "fd00:77:2:0:ffff:ffff:ffff:ffff"), 64);
    assert_int_equal(via(f, "fd00:77:2::9"), 128);
    assert_int_equal(via(f, "fd00:77:2::8"), 64);
    assert_int_equal(via(f, "fd00:77:0:1::9"), 48);
    assert_int_equal(via(f, "fd00:77:2:1::9"), 1); /* outside the /64 and the /48 */
    assert_int_equal(via(f, "fd00:78::1"), 1);
    assert_int_equal(via(f, "1.1.1.1"), 4);
    fib_free(f);
    fib_builder_free(&b);
}

static void test_same_prefix_preference(void **state)
{
    (void)state;
    struct fib_builder b;
    struct fib *f;

    /* Connected beats static, in either order. */
    fib_builder_init(&b);
    add(&b, route("10.9.0.0", 16, FIB_KIND_STATIC, 1, "10.0.0.1", 0));
    add(&b, route("10.9.0.0", 16, FIB_KIND_CONNECTED, 2, NULL, 100));
    add(&b, route("10.8.0.0", 16, FIB_KIND_CONNECTED, 3, NULL, 100));
    add(&b, route("10.8.0.0", 16, FIB_KIND_STATIC, 4, "10.0.0.1", 0));
    assert_int_equal(fib_build(&b, &f), 0);
    assert_int_equal(fib_route_count(f), 2);
    assert_int_equal(via(f, "10.9.1.1"), 2);
    assert_int_equal(via(f, "10.8.1.1"), 3);
    fib_free(f);
    fib_builder_free(&b);

    /* Among statics, the lower metric wins. */
    fib_builder_init(&b);
    add(&b, route("0.0.0.0", 0, FIB_KIND_STATIC, 5, "10.0.0.5", 20));
    add(&b, route("0.0.0.0", 0, FIB_KIND_STATIC, 6, "10.0.0.6", 10));
    add(&b, route("0.0.0.0", 0, FIB_KIND_STATIC, 7, "10.0.0.7", 30));
    assert_int_equal(fib_build(&b, &f), 0);
    assert_int_equal(via(f, "1.2.3.4"), 6);
    fib_free(f);
    fib_builder_free(&b);

    /* Equal preference: the later route replaces the earlier one. */
    fib_builder_init(&b);
    add(&b, route("192.168.0.0", 24, FIB_KIND_STATIC, 1, "10.0.0.1", 0));
    add(&b, route("192.168.0.0", 24, FIB_KIND_STATIC, 2, "10.0.0.2", 0));
    assert_int_equal(fib_build(&b, &f), 0);
    assert_int_equal(via(f, "192.168.0.77"), 2);
    uint8_t a[4] = {192, 168, 0, 77};
    const uint8_t gw[4] = {10, 0, 0, 2};
    assert_memory_equal(fib_lookup(f, 4, a)->gateway, gw, 4);
    fib_free(f);
    /* The builder stays usable: add a third, rebuild. */
    add(&b, route("192.168.0.0", 24, FIB_KIND_STATIC, 3, "10.0.0.3", 0));
    assert_int_equal(fib_build(&b, &f), 0);
    assert_int_equal(via(f, "192.168.0.77"), 3);
    fib_free(f);
    fib_builder_free(&b);
}

static void test_host_bits_and_bad_routes(void **state)
{
    (void)state;
    struct fib_builder b;
    fib_builder_init(&b);
    /* 10.77.1.99/24 is 10.77.1.0/24. */
    add(&b, route("10.77.1.99", 24, FIB_KIND_CONNECTED, 3, NULL, 0));
    struct fib_route r = route("10.0.0.0", 33, FIB_KIND_STATIC, 1, "10.0.0.1", 0);
    assert_int_equal(fib_builder_add(&b, &r), -EINVAL);
    r = route("fd00::", 129, FIB_KIND_STATIC, 1, NULL, 0);
    assert_int_equal(fib_builder_add(&b, &r), -EINVAL);
    r = route("10.0.0.0", 8, FIB_KIND_STATIC, 1, NULL, 0);
    r.family = 5;
    assert_int_equal(fib_builder_add(&b, &r), -EINVAL);
    r.family = 4;
    r.kind = 9;
    assert_int_equal(fib_builder_add(&b, &r), -EINVAL);
    struct fib *f;
    assert_int_equal(fib_build(&b, &f), 0);
    assert_int_equal(fib_route_count(f), 1);
    assert_int_equal(via(f, "10.77.1.1"), 3);
    uint8_t a[4] = {10, 77, 1, 1};
    const uint8_t net[4] = {10, 77, 1, 0};
    assert_memory_equal(fib_lookup(f, 4, a)->prefix, net, 4);
    fib_free(f);
    fib_builder_free(&b);
}

/* Reference: a linear scan for the longest matching prefix. */
static int ref_match(const struct fib_route *rs, int n, const uint8_t *a, uint8_t fam)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (rs[i].family != fam)
            continue;
        unsigned plen = rs[i].plen;
        int ok = 1;
        for (unsigned bit = 0; bit < plen && ok; bit++) {
            unsigned byte = bit / 8, m = 0x80u >> (bit % 8);
            ok = (a[byte] & m) == (rs[i].prefix[byte] & m);
        }
        if (ok && (best < 0 || plen > rs[best].plen))
            best = i;
    }
    return best;
}

static void test_random_against_linear_scan(void **state)
{
    (void)state;
    srand(12345);
    for (int round = 0; round < 20; round++) {
        enum { N = 200 };
        struct fib_route rs[N];
        int n = 0;
        struct fib_builder b;
        fib_builder_init(&b);
        for (int i = 0; i < N; i++) {
            struct fib_route r;
            memset(&r, 0, sizeof(r));
            r.family = (rand() % 4) ? 4 : 6;
            unsigned bytes = r.family == 4 ? 4 : 16;
            /* Cluster prefixes so they overlap a lot. */
            for (unsigned k = 0; k < bytes; k++)
                r.prefix[k] = (uint8_t)(k < 2 ? (rand() % 3) : rand());
            r.plen = (uint8_t)(rand() % (bytes * 8 + 1));
            r.kind = FIB_KIND_STATIC;
            r.ifindex = (uint32_t)i + 1;
            /* Skip duplicates of a prefix so the reference needs no tie-break. */
            struct fib_route norm = r;
            for (unsigned bit = norm.plen; bit < 128; bit++)
                norm.prefix[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
            int dup = 0;
            for (int j = 0; j < n; j++)
                dup |= rs[j].family == norm.family && rs[j].plen == norm.plen &&
                       memcmp(rs[j].prefix, norm.prefix, 16) == 0;
            if (dup)
                continue;
            rs[n++] = norm;
            assert_int_equal(fib_builder_add(&b, &r), 0);
        }
        struct fib *f;
        assert_int_equal(fib_build(&b, &f), 0);
        assert_int_equal(fib_route_count(f), n);
        for (int q = 0; q < 5000; q++) {
            uint8_t fam = (rand() % 4) ? 4 : 6;
            uint8_t a[16];
            for (unsigned k = 0; k < 16; k++)
                a[k] = (uint8_t)(k < 2 ? (rand() % 3) : rand());
            /* Half of the probes start from a route's prefix. */
            if (q % 2) {
                const struct fib_route *src = &rs[rand() % n];
                fam = src->family;
                memcpy(a, src->prefix, src->plen / 8);
            }
            int want = ref_match(rs, n, a, fam);
            const struct fib_route *got = fib_lookup(f, fam, a);
            if (want < 0) {
                assert_null(got);
            } else {
                assert_non_null(got);
                assert_int_equal(got->ifindex, rs[want].ifindex);
            }
        }
        fib_free(f);
        fib_builder_free(&b);
    }
}

static void test_neighbours(void **state)
{
    (void)state;
    struct neigh_table *t;
    assert_int_equal(neigh_table_create(&t, 4), 0);
    const uint8_t mac1[6] = {2, 0, 0, 0, 0, 1}, mac2[6] = {2, 0, 0, 0, 0, 2};
    uint8_t a4[4] = {10, 77, 2, 2};
    uint8_t a6[16];
    inet_pton(AF_INET6, "fd00:77:2::2", a6);
    assert_null(neigh_lookup(t, 4, a4, 7));
    assert_int_equal(neigh_table_set(t, 4, a4, 7, mac1), 0);
    assert_int_equal(neigh_table_set(t, 6, a6, 7, mac2), 0);
    assert_memory_equal(neigh_lookup(t, 4, a4, 7), mac1, 6);
    assert_memory_equal(neigh_lookup(t, 6, a6, 7), mac2, 6);
    assert_null(neigh_lookup(t, 4, a4, 8)); /* another interface */
    /* IPv6 address whose first 4 bytes equal a4 is another key. */
    uint8_t a6b[16] = {10, 77, 2, 2};
    assert_null(neigh_lookup(t, 6, a6b, 7));
    /* Upsert. */
    assert_int_equal(neigh_table_set(t, 4, a4, 7, mac2), 0);
    assert_memory_equal(neigh_lookup(t, 4, a4, 7), mac2, 6);
    assert_int_equal(t->live, 2);
    /* Grow well past the initial capacity, then delete every other one. */
    for (uint32_t i = 0; i < 2000; i++) {
        uint8_t a[4] = {172, 16, (uint8_t)(i >> 8), (uint8_t)i};
        uint8_t m[6] = {2, 1, 0, 0, (uint8_t)(i >> 8), (uint8_t)i};
        assert_int_equal(neigh_table_set(t, 4, a, 3, m), 0);
    }
    for (uint32_t i = 0; i < 2000; i += 2) {
        uint8_t a[4] = {172, 16, (uint8_t)(i >> 8), (uint8_t)i};
        assert_int_equal(neigh_table_del(t, 4, a, 3), 0);
        assert_int_equal(neigh_table_del(t, 4, a, 3), -ENOENT);
    }
    assert_int_equal(t->live, 1002);
    struct neigh_table *c;
    assert_int_equal(neigh_table_clone(t, 10, &c), 0);
    assert_int_equal(c->live, 1002);
    for (uint32_t i = 0; i < 2000; i++) {
        uint8_t a[4] = {172, 16, (uint8_t)(i >> 8), (uint8_t)i};
        const uint8_t *m = neigh_lookup(c, 4, a, 3);
        if (i % 2) {
            assert_non_null(m);
            assert_int_equal(m[5], (uint8_t)i);
        } else {
            assert_null(m);
        }
    }
    /* The clone is independent. */
    assert_int_equal(neigh_table_del(c, 4, a4, 7), 0);
    assert_null(neigh_lookup(c, 4, a4, 7));
    assert_non_null(neigh_lookup(t, 4, a4, 7));
    neigh_table_free(c);
    neigh_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_longest_wins),
        cmocka_unit_test(test_no_default_means_miss),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_same_prefix_preference),
        cmocka_unit_test(test_host_bits_and_bad_routes),
        cmocka_unit_test(test_random_against_linear_scan),
        cmocka_unit_test(test_neighbours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
