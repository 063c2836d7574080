/* SPDX-License-Identifier: MIT */
/* Unit tests for dataplane/snapshot.c: settings validation, the port set, table building. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot.h"

static void test_settings_defaults(void **state)
{
    (void)state;
    struct dp_settings s;
    char err[256] = "";
    assert_int_equal(dp_settings_from_proto(NULL, 3, &s, err, sizeof(err)), 0);
    assert_int_equal(s.workers, 3);
    assert_int_equal(s.ring_size, DP_DEF_RING_SIZE);
    assert_int_equal(s.frame_size, DP_DEF_FRAME_SIZE);
    assert_int_equal(s.batch_size, DP_DEF_BATCH);
    assert_int_equal(s.pending_tx_limit, DP_DEF_PENDING);
    assert_int_equal(s.heartbeat_ms, DP_DEF_HEARTBEAT_MS);
    assert_string_equal(s.bpffs_dir, DP_DEF_BPFFS);

    Moat__DataplaneSettings in = MOAT__DATAPLANE_SETTINGS__INIT;
    in.workers = 2;
    in.ring_size = 512;
    in.frame_size = 2048;
    in.batch_size = 32;
    in.pending_tx_limit = 256;
    in.heartbeat_ms = 100;
    in.bpffs_dir = "/tmp/x/bpf";
    assert_int_equal(dp_settings_from_proto(&in, 1, &s, err, sizeof(err)), 0);
    assert_int_equal(s.workers, 2);
    assert_int_equal(s.ring_size, 512);
    assert_int_equal(s.frame_size, 2048);
    assert_int_equal(s.batch_size, 32);
    assert_int_equal(s.pending_tx_limit, 256);
    assert_int_equal(s.heartbeat_ms, 100);
    assert_string_equal(s.bpffs_dir, "/tmp/x/bpf");
}

static void expect_refused(Moat__DataplaneSettings *in, const char *needle)
{
    struct dp_settings s;
    char err[256] = "";
    assert_int_equal(dp_settings_from_proto(in, 1, &s, err, sizeof(err)), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_settings_refused(void **state)
{
    (void)state;
    Moat__DataplaneSettings in = MOAT__DATAPLANE_SETTINGS__INIT;
    in.ring_size = 1000;
    expect_refused(&in, "ring_size 1000 is not a power of two");
    in.ring_size = 32;
    expect_refused(&in, "ring_size 32");
    in.ring_size = 0;
    in.frame_size = 3000;
    expect_refused(&in, "frame_size 3000");
    in.frame_size = 0;
    in.batch_size = 65;
    expect_refused(&in, "batch_size 65");
    in.batch_size = 0;
    in.pending_tx_limit = 100;
    expect_refused(&in, "pending_tx_limit 100 is not a power of two");
    in.pending_tx_limit = 0;
    in.workers = MOAT_MAX_WORKERS + 1;
    expect_refused(&in, "workers 17");
    in.workers = 0;
    in.heartbeat_ms = 5;
    expect_refused(&in, "heartbeat_ms 5");
}

static void test_settings_rebind(void **state)
{
    (void)state;
    struct dp_settings a, b;
    char err[128];
    assert_int_equal(dp_settings_from_proto(NULL, 1, &a, err, sizeof(err)), 0);
    b = a;
    b.heartbeat_ms = 1000;
    assert_false(dp_settings_need_rebind(&a, &b));
    b = a;
    b.ring_size = 4096;
    assert_true(dp_settings_need_rebind(&a, &b));
    b = a;
    b.workers = 2;
    assert_true(dp_settings_need_rebind(&a, &b));
    b = a;
    strcpy(b.bpffs_dir, "/elsewhere");
    assert_true(dp_settings_need_rebind(&a, &b));
}

/* ---- a snapshot for the lab topology ---- */

struct snap {
    Moat__Snapshot s;
    Moat__Interface ifs[3];
    Moat__Interface *ifp[3];
    Moat__Route routes[4];
    Moat__Route *rp[4];
    Moat__Prefix pfx[4];
    uint8_t addrs[4][16];
    uint8_t gw[4];
    Moat__Neighbor neigh[3];
    Moat__Neighbor *np[3];
    uint8_t naddr[3][4];
    uint8_t mac[3][6];
};

static void snap_init(struct snap *n)
{
    memset(n, 0, sizeof(*n));
    moat__snapshot__init(&n->s);
    n->s.generation = 7;
    const char *names[3] = {"fw1", "fw0", "mgmt"};
    const uint32_t idx[3] = {12, 11, 2};
    for (int i = 0; i < 3; i++) {
        Moat__Interface *f = &n->ifs[i];
        moat__interface__init(f);
        f->ifindex = idx[i];
        f->name = (char *)names[i];
        for (int k = 0; k < 6; k++)
            n->mac[i][k] = (uint8_t)(0x10 * (i + 1) + k);
        f->mac.data = n->mac[i];
        f->mac.len = 6;
        f->mtu = 1500;
        f->slot = (uint32_t)i;
        f->queues = 1;
        f->userspace = i < 2; /* mgmt stays with the kernel */
        n->ifp[i] = f;
    }
    n->s.n_interfaces = 3;
    n->s.interfaces = n->ifp;
    const char *nets[4] = {"10.77.1.0", "10.77.2.0", "0.0.0.0", "192.168.9.0"};
    const uint32_t lens[4] = {24, 24, 0, 24};
    const uint32_t oifs[4] = {11, 12, 12, 2};
    for (int i = 0; i < 4; i++) {
        Moat__Route *r = &n->routes[i];
        moat__route__init(r);
        moat__prefix__init(&n->pfx[i]);
        inet_pton(AF_INET, nets[i], n->addrs[i]);
        n->pfx[i].addr.data = n->addrs[i];
        n->pfx[i].addr.len = 4;
        n->pfx[i].len = lens[i];
        r->dst = &n->pfx[i];
        r->ifindex = oifs[i];
        r->kind = i == 2 ? MOAT__ROUTE_KIND__ROUTE_STATIC : MOAT__ROUTE_KIND__ROUTE_CONNECTED;
        n->rp[i] = r;
    }
    inet_pton(AF_INET, "10.77.2.254", n->gw);
    n->routes[2].gateway.data = n->gw;
    n->routes[2].gateway.len = 4;
    n->s.n_routes = 4;
    n->s.routes = n->rp;
    const char *nb[3] = {"10.77.1.2", "10.77.2.2", "10.77.2.254"};
    const uint32_t nif[3] = {11, 12, 12};
    for (int i = 0; i < 3; i++) {
        Moat__Neighbor *e = &n->neigh[i];
        moat__neighbor__init(e);
        inet_pton(AF_INET, nb[i], n->naddr[i]);
        e->addr.data = n->naddr[i];
        e->addr.len = 4;
        e->ifindex = nif[i];
        e->mac.data = n->mac[i];
        e->mac.len = 6;
        e->state = NUD_REACHABLE;
        n->np[i] = e;
    }
    n->neigh[2].state = NUD_FAILED; /* the gateway did not answer */
    n->s.n_neighbors = 3;
    n->s.neighbors = n->np;
}

/* A link cycle: only the ports whose ifindex or link epoch changed are rebound. */
static void test_ports_relink(void **state)
{
    (void)state;
    struct dp_port a[3] = {{11, 0, 1, "fw0", 0}, {12, 1, 1, "fw1", 0}, {13, 2, 1, "fw2", 0}};
    struct dp_port b[3];
    uint32_t rl[3], n = 99;
    memcpy(b, a, sizeof(a));
    assert_true(dp_ports_relink(a, 3, b, 3, rl, &n));
    assert_int_equal(n, 0);
    b[1].link_epoch = 1;                     /* fw1 down and up */
    assert_true(dp_ports_equal(a, 3, b, 3)); /* the old test does not see it */
    assert_true(dp_ports_relink(a, 3, b, 3, rl, &n));
    assert_int_equal(n, 1);
    assert_int_equal(rl[0], 1);
    b[2].ifindex = 14; /* fw2 re-created */
    assert_true(dp_ports_relink(a, 3, b, 3, rl, &n));
    assert_int_equal(n, 2);
    assert_int_equal(rl[0], 1);
    assert_int_equal(rl[1], 2);
    /* Anything else: rebind everything. */
    memcpy(b, a, sizeof(a));
    b[0].queues = 2;
    assert_false(dp_ports_relink(a, 3, b, 3, rl, &n));
    memcpy(b, a, sizeof(a));
    b[2].slot = 5;
    assert_false(dp_ports_relink(a, 3, b, 3, rl, &n));
    memcpy(b, a, sizeof(a));
    strcpy(b[1].name, "fw9");
    assert_false(dp_ports_relink(a, 3, b, 3, rl, &n));
    assert_false(dp_ports_relink(a, 3, b, 2, rl, &n));
}

static void test_ports(void **state)
{
    (void)state;
    struct snap n;
    snap_init(&n);
    struct dp_settings set;
    char err[256] = "";
    assert_int_equal(dp_settings_from_proto(NULL, 1, &set, err, sizeof(err)), 0);
    struct dp_port ports[MOAT_MAX_IFACES];
    uint32_t np;
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, ports, &np, err, sizeof(err)), 0);
    assert_int_equal(np, 2);            /* mgmt is not userspace */
    assert_int_equal(ports[0].slot, 0); /* sorted by slot */
    assert_int_equal(ports[0].ifindex, 12);
    assert_string_equal(ports[0].name, "fw1");
    assert_int_equal(ports[1].ifindex, 11);
    assert_int_equal(ports[1].slot, 1);

    /* fw0 (slot 1) re-created under an ifindex above fw1's: same order, only fw0 to rebind. */
    struct dp_port cycled[MOAT_MAX_IFACES];
    uint32_t nc, rl[MOAT_MAX_IFACES], nrl = 0;
    n.ifs[1].ifindex = 20;
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, cycled, &nc, err, sizeof(err)), 0);
    assert_true(dp_ports_relink(ports, np, cycled, nc, rl, &nrl));
    assert_int_equal(nrl, 1);
    assert_int_equal(rl[0], 1);
    assert_int_equal(cycled[1].ifindex, 20);
    n.ifs[1].ifindex = 11;

    struct dp_port again[MOAT_MAX_IFACES];
    uint32_t na;
    n.ifp[0] = &n.ifs[1]; /* same interfaces, other order */
    n.ifp[1] = &n.ifs[0];
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, again, &na, err, sizeof(err)), 0);
    assert_true(dp_ports_equal(ports, np, again, na));
    n.ifs[0].queues = 2;
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, again, &na, err, sizeof(err)), 0);
    assert_false(dp_ports_equal(ports, np, again, na));

    snap_init(&n);
    n.ifs[1].mtu = 9000;
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, ports, &np, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "MTU 9000"));
    snap_init(&n);
    n.ifs[1].slot = 0;
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, ports, &np, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "share slot 0"));
    snap_init(&n);
    n.ifs[1].queues = 0;
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, ports, &np, err, sizeof(err)), -EINVAL);
    snap_init(&n);
    n.ifs[1].mac.len = 4;
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, ports, &np, err, sizeof(err)), -EINVAL);
}

static const struct fib_route *lookup(const struct dp_tables *t, const char *a)
{
    uint8_t b[4];
    inet_pton(AF_INET, a, b);
    return fib_lookup(t->fib, 4, b);
}

static void test_tables(void **state)
{
    (void)state;
    struct snap n;
    snap_init(&n);
    struct dp_settings set;
    char err[256] = "";
    assert_int_equal(dp_settings_from_proto(NULL, 1, &set, err, sizeof(err)), 0);
    struct dp_port ports[MOAT_MAX_IFACES];
    uint32_t np;
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, ports, &np, err, sizeof(err)), 0);
    struct dp_tables *t;
    assert_int_equal(dp_tables_from_snapshot(&n.s, ports, np, &t, err, sizeof(err)), 0);
    assert_int_equal(t->generation, 7);
    assert_int_equal(t->nifs, 3);

    const struct fib_route *r = lookup(t, "10.77.2.2");
    assert_non_null(r);
    assert_int_equal(r->ifindex, 12);
    assert_false(r->has_gw);
    assert_true(r->oif >= 0);
    assert_int_equal(t->ifs[r->oif].ifindex, 12);
    assert_int_equal(t->ifs[r->oif].port, 0); /* ports[0] is ifindex 12 (slot 0) */
    assert_memory_equal(t->ifs[r->oif].mac, n.mac[0], 6);
    assert_int_equal(t->ifs[r->oif].mtu, 1500);

    r = lookup(t, "8.8.8.8");
    assert_non_null(r);
    assert_true(r->has_gw);
    assert_memory_equal(r->gateway, n.gw, 4);

    r = lookup(t, "192.168.9.1"); /* on mgmt: an interface without XSKs */
    assert_non_null(r);
    assert_int_equal(t->ifs[r->oif].port, -1);

    /* Neighbours: the FAILED one is left out. */
    assert_memory_equal(neigh_lookup(t->neigh, 4, n.naddr[0], 11), n.mac[0], 6);
    assert_memory_equal(neigh_lookup(t->neigh, 4, n.naddr[1], 12), n.mac[1], 6);
    assert_null(neigh_lookup(t->neigh, 4, n.naddr[2], 12));

    /* A neighbour update: the gateway resolves, 10.77.1.2 goes away. */
    Moat__Neighbor up[3];
    Moat__Neighbor *upp[3];
    for (int i = 0; i < 3; i++) {
        moat__neighbor__init(&up[i]);
        upp[i] = &up[i];
    }
    up[0].addr.data = n.naddr[2];
    up[0].addr.len = 4;
    up[0].ifindex = 12;
    up[0].mac.data = n.mac[2];
    up[0].mac.len = 6;
    up[0].state = NUD_REACHABLE;
    up[1].addr.data = n.naddr[0];
    up[1].addr.len = 4;
    up[1].ifindex = 11; /* empty MAC: remove */
    up[2].addr.data = n.naddr[0];
    up[2].addr.len = 3; /* malformed */
    Moat__NeighborUpdate u = MOAT__NEIGHBOR_UPDATE__INIT;
    u.n_neighbors = 3;
    u.neighbors = upp;
    struct dp_tables *t2;
    unsigned skipped;
    assert_int_equal(dp_tables_with_neighbors(t, &u, &t2, &skipped), 0);
    assert_int_equal(skipped, 1);
    assert_ptr_equal(t2->fib, t->fib);
    assert_memory_equal(neigh_lookup(t2->neigh, 4, n.naddr[2], 12), n.mac[2], 6);
    assert_null(neigh_lookup(t2->neigh, 4, n.naddr[0], 11));
    /* The published table is untouched. */
    assert_non_null(neigh_lookup(t->neigh, 4, n.naddr[0], 11));
    assert_null(neigh_lookup(t->neigh, 4, n.naddr[2], 12));
    dp_tables_free(t2, false, true);
    dp_tables_free(t, true, true);
}

/* The SYN cookie key: derived from FlowSettings.cookie_seed (the kernel path's seed, so both
 * paths check the same cookies) into the tables, kept by a neighbour update's copy. */
static void test_tables_cookie_key(void **state)
{
    (void)state;
    struct snap n;
    snap_init(&n);
    Moat__FlowSettings fs = MOAT__FLOW_SETTINGS__INIT;
    fs.syn_cookie = true;
    fs.cookie_seed = 0x0123456789abcdefull;
    n.s.flow = &fs;
    struct dp_settings set;
    char err[256] = "";
    assert_int_equal(dp_settings_from_proto(NULL, 1, &set, err, sizeof(err)), 0);
    struct dp_port ports[MOAT_MAX_IFACES];
    uint32_t np;
    assert_int_equal(dp_ports_from_snapshot(&n.s, &set, ports, &np, err, sizeof(err)), 0);
    struct dp_tables *t, *t2, *t3;
    assert_int_equal(dp_tables_from_snapshot(&n.s, ports, np, &t, err, sizeof(err)), 0);
    struct sc_key want;
    sc_key_derive(&want, fs.cookie_seed);
    assert_int_equal(t->flow.cookie_seed, fs.cookie_seed);
    assert_memory_equal(&t->spk, &want, sizeof(want));
    Moat__NeighborUpdate u = MOAT__NEIGHBOR_UPDATE__INIT;
    unsigned skipped;
    assert_int_equal(dp_tables_with_neighbors(t, &u, &t2, &skipped), 0);
    assert_memory_equal(&t2->spk, &want, sizeof(want));
    /* Another seed, another key. */
    fs.cookie_seed++;
    assert_int_equal(dp_tables_from_snapshot(&n.s, ports, np, &t3, err, sizeof(err)), 0);
    assert_true(memcmp(&t3->spk, &want, sizeof(want)) != 0);
    dp_tables_free(t3, true, true);
    dp_tables_free(t2, false, true);
    dp_tables_free(t, true, true);
}

static void test_tables_refused(void **state)
{
    (void)state;
    struct snap n;
    char err[256] = "";
    struct dp_tables *t = NULL;
    snap_init(&n);
    n.pfx[0].len = 33;
    assert_int_equal(dp_tables_from_snapshot(&n.s, NULL, 0, &t, err, sizeof(err)), -EINVAL);
    assert_null(t);
    assert_non_null(strstr(err, "route 0"));
    snap_init(&n);
    n.pfx[1].addr.len = 5;
    assert_int_equal(dp_tables_from_snapshot(&n.s, NULL, 0, &t, err, sizeof(err)), -EINVAL);
    snap_init(&n);
    uint8_t gw6[16] = {0xfd};
    n.routes[2].gateway.data = gw6;
    n.routes[2].gateway.len = 16;
    assert_int_equal(dp_tables_from_snapshot(&n.s, NULL, 0, &t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "family"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_defaults), cmocka_unit_test(test_settings_refused),
        cmocka_unit_test(test_settings_rebind),   cmocka_unit_test(test_ports),
        cmocka_unit_test(test_ports_relink),      cmocka_unit_test(test_tables),
        cmocka_unit_test(test_tables_cookie_key), cmocka_unit_test(test_tables_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
