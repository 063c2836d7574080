/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/nat.c and NAT in flow.c: incremental checksums against full
 * recomputation, the port allocator, the reverse index under churn, ICMP errors, DNAT and
 * hairpinning, driven through dp_flow_batch() in the box of dp_test_env.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csum.h"
#include "flow.h"
#include "nat.h"
#include "rewrite.h"
#include "snapshot.h"
#include "tcp.h"

#include "dp_test_env.h"

/* ---- tests ---- */

/* Valid TCP/UDP checksums (UDP: only if it had one) and ICMP checksum for an IPv4 frame. */
static uint16_t l4_sum(const uint8_t *ip)
{
    const uint32_t len = (uint32_t)(ip[2] << 8 | ip[3]), hl = (ip[0] & 15u) * 4;
    const uint8_t proto = ip[9];
    uint32_t sum = 0;
    if (proto != IPPROTO_ICMP) {
        uint8_t ph[12] = {0};
        memcpy(ph, ip + 12, 8);
        ph[9] = proto;
        ph[10] = (uint8_t)((len - hl) >> 8);
        ph[11] = (uint8_t)(len - hl);
        sum = csum_partial(ph, 12, 0);
    }
    return csum_fold(csum_partial(ip + hl, len - hl, sum));
}

static void fix_l4(uint8_t *ip, bool udp_zero)
{
    const uint32_t hl = (ip[0] & 15u) * 4;
    uint8_t *l4 = ip + hl;
    const unsigned off = ip[9] == IPPROTO_TCP ? 16 : ip[9] == IPPROTO_UDP ? 6 : 2;
    l4[off] = l4[off + 1] = 0;
    if (ip[9] == IPPROTO_UDP && udp_zero)
        return;
    uint16_t c = l4_sum(ip);
    if (ip[9] == IPPROTO_UDP && c == 0)
        c = 0xffff;
    memcpy(l4 + off, &c, 2);
}

/* The IP header and L4 checksums of an IPv4 packet verify (a zero UDP checksum: none). */
static void assert_sums_ok(const uint8_t *ip)
{
    const uint32_t hl = (ip[0] & 15u) * 4;
    assert_int_equal(csum_compute(ip, hl), 0);
    if (ip[9] == IPPROTO_UDP && ip[hl + 6] == 0 && ip[hl + 7] == 0)
        return;
    assert_int_equal(l4_sum(ip), 0);
}

static void assert_addr(const uint8_t *a, int b0, int b1, int b2, int b3)
{
    const uint8_t want[4] = {(uint8_t)b0, (uint8_t)b1, (uint8_t)b2, (uint8_t)b3};
    assert_memory_equal(a, want, 4);
}

/* ---- checksums ---- */

static void test_csum_random(void **state)
{
    (void)state;
    srand(4242);
    uint8_t buf[1600];
    int zero_udp = 0;
    for (int i = 0; i < 20000; i++) {
        const uint8_t protos[3] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP};
        const uint8_t proto = protos[i % 3];
        const uint32_t pay = (uint32_t)(rand() % 200) + (i & 1); /* odd lengths too */
        const uint32_t hl = 20, l4len = (proto == IPPROTO_TCP ? 20 : 8) + pay;
        memset(buf, 0, sizeof(buf));
        buf[0] = 0x45;
        put16(buf + 2, (uint16_t)(hl + l4len));
        put16(buf + 4, (uint16_t)rand());
        buf[8] = (uint8_t)(rand() | 1);
        buf[9] = proto;
        for (int b = 12; b < 20; b++)
            buf[b] = (i % 10 == 0) ? (uint8_t)((rand() & 1) ? 0xff : 0) : (uint8_t)rand();
        uint8_t *l4 = buf + hl;
        for (uint32_t b = 0; b < l4len; b++)
            l4[b] = (uint8_t)rand();
        if (proto == IPPROTO_TCP)
            l4[12] = 5 << 4;
        if (proto == IPPROTO_UDP)
            put16(l4 + 4, (uint16_t)l4len);
        if (proto == IPPROTO_ICMP)
            l4[0] = (i & 2) ? 8 : 0, l4[1] = 0;
        const bool uz = proto == IPPROTO_UDP && (i % 4 == 1);
        fix_l4(buf, uz);
        uint16_t c = csum_compute(buf, 20);
        memcpy(buf + 10, &c, 2);
        assert_sums_ok(buf);
        uint32_t ns = (uint32_t)rand() * 2654435761u, nd = (uint32_t)rand() ^ 0x5a5a5a5a;
        uint16_t sp = (uint16_t)rand(), dpn = (uint16_t)rand();
        if (i % 5 == 0) { /* words at the edges of the one's-complement folds */
            static const uint32_t ex[] = {0, 0xffffffffu, 0xffff0000u, 0x0000ffffu, 1, 0xfffffffeu};
            ns = ex[rand() % 6];
            nd = ex[rand() % 6];
            sp = (uint16_t)ex[rand() % 6];
            dpn = (uint16_t)ex[rand() % 6];
        }
        rewrite_nat_v4(buf, l4, proto, ns, nd, sp, dpn);
        assert_memory_equal(buf + 12, &ns, 4);
        assert_memory_equal(buf + 16, &nd, 4);
        if (proto == IPPROTO_ICMP)
            assert_memory_equal(l4 + 4, &sp, 2);
        else
            assert_memory_equal(l4, &sp, 2);
        assert_sums_ok(buf);
        if (uz) {
            assert_int_equal(l4[6] | l4[7], 0); /* no checksum stays none */
            zero_udp++;
        }
    }
    assert_true(zero_udp > 1000);
}

/* ---- port allocator ---- */

static void test_port_allocator(void **state)
{
    (void)state;
    struct nat_ports np;
    assert_int_equal(nat_ports_init(&np, 256), 0);
    struct nat_spool pool = {0};
    typeof(*pool.ranges) rg = {0x0a000001, 0x0a000001};
    pool.id = 1;
    pool.ranges = &rg;
    pool.nranges = 1;
    pool.naddr = 1;
    pool.port_lo = 2000;
    pool.port_hi = 2031; /* 32 ports, two workers: 16 each */
    struct nat_req rq = {0};
    rq.proto = IPPROTO_UDP;
    rq.src = 1;
    rq.pool = &pool;
    rq.nworkers = 2;
    rq.worker = 1;
    uint8_t seen[32] = {0};
    for (int i = 0; i < 16; i++) {
        uint32_t ea;
        uint16_t ep;
        rq.int_addr = 0xc0a80000u + (uint32_t)i;
        rq.int_port = 5000;
        assert_int_equal(nat_port_alloc(&np, &rq, &ea, &ep), 0);
        assert_int_equal(ea, 0x0a000001);
        assert_true(ep >= 2016 && ep <= 2031); /* worker 1's slice */
        assert_int_equal(seen[ep - 2000], 0);  /* no reuse while in use */
        seen[ep - 2000] = 1;
    }
    /* Endpoint-independent: the same internal endpoint gets the same mapping. */
    uint32_t ea, ea2;
    uint16_t ep, ep2;
    rq.int_addr = 0xc0a80003u;
    assert_int_equal(nat_port_alloc(&np, &rq, &ea, &ep), 0);
    assert_int_equal(np.m[nat_port_find_ext(&np, ea, ep, IPPROTO_UDP)].refs, 2);
    /* Exhausted: a 17th endpoint fails, counted. */
    rq.int_addr = 0xc0a80099u;
    assert_int_equal(nat_port_alloc(&np, &rq, &ea2, &ep2), -ENOSPC);
    assert_int_equal(np.src[1].exhausted, 1);
    assert_int_equal(np.src[1].in_use, 16);
    /* Release: one reference left keeps the port; the last frees it. */
    nat_port_release(&np, 0xc0a80003u, 5000, IPPROTO_UDP, 1);
    assert_int_not_equal(nat_port_find_ext(&np, ea, ep, IPPROTO_UDP), NAT_NONE);
    assert_int_equal(nat_port_alloc(&np, &rq, &ea2, &ep2), -ENOSPC);
    nat_port_release(&np, 0xc0a80003u, 5000, IPPROTO_UDP, 1);
    assert_int_equal(nat_port_find_ext(&np, ea, ep, IPPROTO_UDP), NAT_NONE);
    assert_int_equal(nat_port_alloc(&np, &rq, &ea2, &ep2), 0);
    assert_int_equal(ep2, ep); /* the only free port */
    /* Worker 0 hands out the other slice only. */
    struct nat_ports np0;
    assert_int_equal(nat_ports_init(&np0, 64), 0);
    rq.worker = 0;
    for (int i = 0; i < 16; i++) {
        rq.int_addr = 0xc0a80000u + (uint32_t)i;
        assert_int_equal(nat_port_alloc(&np0, &rq, &ea, &ep), 0);
        assert_true(ep >= 2000 && ep <= 2015);
    }
    /* No translation: keeps the port, fails when it is taken. */
    pool.no_xlate = true;
    pool.port_lo = 1;
    pool.port_hi = 65535;
    rq.src = 2;
    rq.nworkers = 1;
    rq.int_addr = 0xc0a80101u;
    rq.int_port = 7777;
    assert_int_equal(nat_port_alloc(&np0, &rq, &ea, &ep), 0);
    assert_int_equal(ep, 7777);
    rq.int_addr = 0xc0a80102u;
    assert_int_equal(nat_port_alloc(&np0, &rq, &ea, &ep), -ENOSPC);
    /* Claim (re-seeding) refuses an external endpoint held by another mapping. */
    assert_int_equal(nat_port_claim(&np0, 0xc0a80103u, 1, IPPROTO_UDP, 2, 0x0a000001, 7777),
                     -EEXIST);
    assert_int_equal(nat_port_claim(&np0, 0xc0a80103u, 1, IPPROTO_UDP, 2, 0x0a000001, 7778), 0);
    nat_ports_free(&np);
    nat_ports_free(&np0);
}

/* ---- NAT in the packet path ---- */

enum { R_SNAT_IF = 1, R_DNAT = 2, R_SNAT_POOL = 3 };

/* Source NAT trust -> untrust (interface, or pool 203.0.113.10-11), destination NAT of
 * 10.77.2.1:80 (from anywhere) to SERVER-side host 10.77.1.5:8080 in trust, policies for
 * untrust -> trust and trust -> trust. */
static void add_nat(struct env *e, bool pool)
{
    static const char *h = "10.77.1.5";
    e->zone_t = 1;
    e->zone_u = 2;
    for (int i = 3; i < 5; i++) {
        Moat__Policy *p = &e->pol[i];
        moat__policy__init(p);
        p->id = (uint32_t)i + 1;
        p->name = (char *)(i == 3 ? "in" : "hairpin");
        p->from_zone = i == 3 ? 2 : 1;
        p->to_zone = 1;
        p->source = &e->any;
        p->destination = &e->any;
        p->application_any = true;
        e->polp[i] = p;
    }
    e->s.n_policies = 5;
    moat__address_range__init(&e->ar);
    e->ar.lo.data = a_of(e, "203.0.113.10", &e->ar.lo.len);
    e->ar.hi.data = a_of(e, "203.0.113.11", &e->ar.hi.len);
    e->arp[0] = &e->ar;
    moat__source_pool__init(&e->sp);
    e->sp.id = 1;
    e->sp.name = "p1";
    e->sp.ranges = e->arp;
    e->sp.n_ranges = 1;
    e->spp[0] = &e->sp;
    e->s.source_pools = e->spp;
    e->s.n_source_pools = 1;
    moat__destination_pool__init(&e->dpl);
    e->dpl.id = 1;
    e->dpl.name = "web";
    e->dpl.address = p_of(e, h, 32);
    e->dpl.port = 8080;
    e->dplp[0] = &e->dpl;
    e->s.destination_pools = e->dplp;
    e->s.n_destination_pools = 1;
    /* Order: destination, then source. */
    Moat__NatRule *d = &e->nr[0], *sr = &e->nr[1];
    moat__nat_rule__init(d);
    d->id = R_DNAT;
    d->kind = MOAT__NAT_KIND__NAT_KIND_DESTINATION;
    d->name = "web";
    d->destination = calloc(1, sizeof(Moat__Prefix *));
    d->destination[0] = p_of(e, "10.77.2.1", 32);
    d->n_destination = 1;
    d->dport_lo = d->dport_hi = 80;
    d->protocol = 6;
    d->action = MOAT__NAT_ACTION__NAT_ACTION_POOL;
    d->pool_id = 1;
    moat__nat_rule__init(sr);
    sr->id = pool ? R_SNAT_POOL : R_SNAT_IF;
    sr->kind = MOAT__NAT_KIND__NAT_KIND_SOURCE;
    sr->name = "out";
    sr->from_zones = &e->zone_t;
    sr->n_from_zones = 1;
    sr->to_zones = &e->zone_u;
    sr->n_to_zones = 1;
    sr->action = pool ? MOAT__NAT_ACTION__NAT_ACTION_POOL : MOAT__NAT_ACTION__NAT_ACTION_INTERFACE;
    sr->pool_id = pool ? 1 : 0;
    e->nrp[0] = d;
    e->nrp[1] = sr;
    e->s.nat_rules = e->nrp;
    e->s.n_nat_rules = 2;
    /* The web host's neighbour. */
    e->nb[4].addr.data = a_of(e, h, &e->nb[4].addr.len);
    e->nb[4].ifindex = IF_T;
    build(e, 2);
    dp_flow_tick(e->f, e->t, e->now);
}

static void nat_free(struct env *e)
{
    free(e->nr[0].destination);
    env_free(e);
}

static const uint8_t *ipof(const struct dp_pkt *p)
{
    return p->out + 14;
}

static struct dp_pkt udp_pkt(struct env *e, int k, const char *src, const char *dst, uint16_t sp,
                             uint16_t dpt, uint16_t in_port)
{
    struct pkt_spec s = {0};
    s.src = src;
    s.dst = dst;
    s.proto = IPPROTO_UDP;
    s.sport = sp;
    s.dport = dpt;
    s.payload = 33;
    s.in_port = in_port;
    struct dp_pkt p = frame(e, k, &s);
    fix_l4(p.data + 14, false);
    return p;
}

static void test_snat_interface_udp(void **state)
{
    (void)state;
    struct env *e = env_new(1024);
    add_nat(e, false);
    struct dp_pkt p = udp_pkt(e, 0, CLIENT, SERVER, 40000, 53, P_T);
    assert_int_equal(send1(e, &p), DP_V_TX);
    const uint8_t *ip = ipof(&p);
    assert_addr(ip + 12, 10, 77, 2, 1);
    const uint16_t ext = (uint16_t)(ip[20] << 8 | ip[21]);
    assert_true(ext >= NAT_IF_PORT_LO && ext <= NAT_IF_PORT_HI);
    assert_sums_ok(ip);
    assert_int_equal(st(e)->nat_sessions, 1);
    /* EIM: the same internal endpoint to another destination keeps the mapping. */
    p = udp_pkt(e, 0, CLIENT, "10.77.2.3", 40000, 123, P_T);
    assert_int_equal(send1(e, &p), DP_V_NEIGH_MISS);
    assert_int_equal(e->f->np.active, 1);
    /* The reply, to the translated tuple: found in O(1) by the reverse key, rewritten back. */
    p = udp_pkt(e, 1, SERVER, "10.77.2.1", 53, ext, P_U);
    assert_int_equal(send1(e, &p), DP_V_TX);
    ip = ipof(&p);
    assert_addr(ip + 16, 10, 77, 1, 2);
    assert_int_equal(ip[22] << 8 | ip[23], 40000);
    assert_sums_ok(ip);
    assert_int_equal(st(e)->nat_reverse_hit, 1);
    /* The record carries both tuples and the rule. */
    struct dp_delta d[8];
    int n = pop_deltas(e, d, 8);
    assert_true(n >= 1);
    assert_int_equal(d[0].snat_rule_id, R_SNAT_IF);
    assert_int_equal(ntohs(d[0].rev.dport), ext);
    nat_free(e);
}

static void test_snat_pool_tcp(void **state)
{
    (void)state;
    struct env *e = env_new(1024);
    add_nat(e, true);
    struct pkt_spec s = {0};
    s.src = CLIENT;
    s.dst = SERVER;
    s.proto = IPPROTO_TCP;
    s.sport = 33333;
    s.dport = 22;
    s.flags = TCPF_SYN;
    s.in_port = P_T;
    struct dp_pkt p = frame(e, 0, &s);
    fix_l4(p.data + 14, false);
    assert_int_equal(send1(e, &p), DP_V_TX);
    const uint8_t *ip = ipof(&p);
    assert_int_equal(ip[12], 203);
    assert_true(ip[15] == 10 || ip[15] == 11);
    assert_sums_ok(ip);
    assert_int_equal(e->f->nctr[R_SNAT_POOL].hits, 1);
    assert_int_equal(e->f->np.src[1].allocations, 1);
    nat_free(e);
}

static void test_dnat_and_hairpin(void **state)
{
    (void)state;
    struct env *e = env_new(1024);
    add_nat(e, false);
    /* Outside -> 10.77.2.1:80 -> 10.77.1.5:8080. */
    struct pkt_spec s = {0};
    s.src = SERVER;
    s.dst = "10.77.2.1";
    s.proto = IPPROTO_TCP;
    s.sport = 51000;
    s.dport = 80;
    s.flags = TCPF_SYN;
    s.in_port = P_U;
    struct dp_pkt p = frame(e, 0, &s);
    fix_l4(p.data + 14, false);
    assert_int_equal(send1(e, &p), DP_V_TX);
    const uint8_t *ip = ipof(&p);
    assert_addr(ip + 16, 10, 77, 1, 5);
    assert_int_equal(ip[22] << 8 | ip[23], 8080);
    assert_addr(ip + 12, 10, 77, 2, 2); /* source kept */
    assert_sums_ok(ip);
    assert_int_equal(e->f->nctr[R_DNAT].hits, 1);
    /* Reply from the web host: back as 10.77.2.1:80. */
    s.src = "10.77.1.5";
    s.dst = SERVER;
    s.sport = 8080;
    s.dport = 51000;
    s.flags = TCPF_SYN | TCPF_ACK;
    s.in_port = P_T;
    p = frame(e, 0, &s);
    fix_l4(p.data + 14, false);
    assert_int_equal(send1(e, &p), DP_V_TX);
    ip = ipof(&p);
    assert_addr(ip + 12, 10, 77, 2, 1);
    assert_int_equal(ip[20] << 8 | ip[21], 80);
    assert_sums_ok(ip);
    /* Hairpin: a trust client to the public address: DNAT and SNAT to trust's address. */
    s.src = CLIENT;
    s.dst = "10.77.2.1";
    s.sport = 42000;
    s.dport = 80;
    s.flags = TCPF_SYN;
    s.in_port = P_T;
    p = frame(e, 0, &s);
    fix_l4(p.data + 14, false);
    assert_int_equal(send1(e, &p), DP_V_TX);
    ip = ipof(&p);
    assert_addr(ip + 16, 10, 77, 1, 5);
    assert_addr(ip + 12, 10, 77, 1, 1);
    const uint16_t ext = (uint16_t)(ip[20] << 8 | ip[21]);
    assert_sums_ok(ip);
    s.src = "10.77.1.5";
    s.dst = "10.77.1.1";
    s.sport = 8080;
    s.dport = ext;
    s.flags = TCPF_SYN | TCPF_ACK;
    p = frame(e, 0, &s);
    fix_l4(p.data + 14, false);
    assert_int_equal(send1(e, &p), DP_V_TX);
    ip = ipof(&p);
    assert_addr(ip + 12, 10, 77, 2, 1);
    assert_addr(ip + 16, 10, 77, 1, 2);
    assert_int_equal(ip[20] << 8 | ip[21], 80);
    assert_int_equal(ip[22] << 8 | ip[23], 42000);
    assert_sums_ok(ip);
    nat_free(e);
}

static void test_icmp_error_inner_translation(void **state)
{
    (void)state;
    struct env *e = env_new(1024);
    add_nat(e, false);
    struct dp_pkt p = udp_pkt(e, 0, CLIENT, SERVER, 40001, 9999, P_T);
    assert_int_equal(send1(e, &p), DP_V_TX);
    /* The packet as it left (translated), quoted by the server's port unreachable. */
    uint8_t quoted[64];
    const uint32_t qlen = 28;
    memcpy(quoted, ipof(&p), qlen);
    const uint16_t ext = (uint16_t)(quoted[20] << 8 | quoted[21]);
    struct pkt_spec s = {0};
    s.src = SERVER;
    s.dst = "10.77.2.1";
    s.proto = IPPROTO_ICMP;
    s.icmp_type = 3;
    s.icmp_code = 3;
    s.inner = quoted;
    s.inner_len = qlen;
    s.in_port = P_U;
    p = frame(e, 0, &s);
    fix_l4(p.data + 14, false);
    assert_int_equal(send1(e, &p), DP_V_TX);
    const uint8_t *ip = ipof(&p);
    assert_addr(ip + 16, 10, 77, 1, 2); /* outer: to the client */
    assert_addr(ip + 12, 10, 77, 2, 2);
    const uint8_t *q = ip + 28;
    assert_addr(q + 12, 10, 77, 1, 2); /* quoted: as sent */
    assert_int_equal(q[20] << 8 | q[21], 40001);
    assert_int_equal(q[22] << 8 | q[23], 9999);
    assert_int_equal(csum_compute(q, 20), 0);
    assert_int_equal(csum_compute(ip, 20), 0);
    assert_int_equal(l4_sum(ip), 0); /* ICMP checksum */
    assert_int_equal(st(e)->nat_icmp_errors, 1);
    (void)ext;
    nat_free(e);
}

/* PMTU discovery through SNAT: fragmentation needed goes back to the inside host quoting its
 * own (untranslated) packet, on the first packet and on an established session's. */
static void test_too_big_quotes_untranslated(void **state)
{
    (void)state;
    struct env *e = env_new(1024);
    add_nat(e, false);
    e->ifs[1].mtu = 1400; /* fw1 */
    build(e, 3);
    dp_flow_tick(e->f, e->t, e->now);
    for (int round = 0; round < 2; round++) {
        struct pkt_spec s = {0};
        s.src = CLIENT;
        s.dst = SERVER;
        s.proto = IPPROTO_UDP;
        s.sport = 40000;
        s.dport = 53;
        s.payload = round == 0 ? 1422 : 100; /* round 1: the session first, then a big one */
        s.in_port = P_T;
        struct dp_pkt p = frame(e, 0, &s);
        uint8_t *ip = p.data + 14;
        ip[6] |= 0x40; /* DF */
        fix_l4(ip, false);
        ip[10] = ip[11] = 0;
        uint16_t c = csum_compute(ip, 20);
        memcpy(ip + 10, &c, 2);
        if (round == 1) {
            assert_int_equal(send1(e, &p), DP_V_TX);
            assert_int_equal(p.out_port, P_U);
            s.payload = 1422;
            p = frame(e, 0, &s);
            ip = p.data + 14;
            ip[6] |= 0x40;
            fix_l4(ip, false);
            ip[10] = ip[11] = 0;
            c = csum_compute(ip, 20);
            memcpy(ip + 10, &c, 2);
        }
        uint8_t orig[28];
        memcpy(orig, ip, 28);
        assert_int_equal(send1(e, &p), DP_V_TX);
        assert_int_equal(p.out_port, P_T);
        const uint8_t *o = ipof(&p);
        assert_addr(o + 12, 10, 77, 1, 1);
        assert_addr(o + 16, 10, 77, 1, 2);
        assert_int_equal(o[20], 3);
        assert_int_equal(o[21], 4);
        assert_int_equal(o[26] << 8 | o[27], 1400);
        assert_memory_equal(o + 28, orig, 28); /* the sender's own header and ports */
        assert_int_equal(st(e)->icmp_errors_sent, (uint64_t)round + 1);
    }
    nat_free(e);
}

static void test_reverse_index_churn(void **state)
{
    (void)state;
    struct env *e = env_new(4096);
    add_nat(e, false);
    srand(7);
    uint32_t created = 0;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 150; i++) {
            char src[32];
            snprintf(src, sizeof(src), "10.77.1.%d", 2 + rand() % 200);
            struct dp_pkt p =
                udp_pkt(e, 0, src, SERVER, (uint16_t)(1024 + rand() % 60000), 53, P_T);
            if (send1(e, &p) == DP_V_TX)
                created++;
        }
        advance(e, (uint64_t)(rand() % 20000));
        /* Every live session is found by its translated reverse key; every mapping is held by
         * at least one live session and every session's mapping exists. */
        uint32_t live = 0, holders = 0;
        for (uint32_t i = 0; i < e->f->t.cap; i++) {
            const struct dp_session *s = sess_at(&e->f->t, i);
            if (!(s->flags & SESS_F_USED))
                continue;
            live++;
            assert_true(s->flags & SESS_F_NAT);
            const struct flow_tuple *k = &s->d[1].key;
            assert_int_equal(sess_lookup(&e->f->t, k, sess_hash(&e->f->t, k)), i << 1 | 1);
            uint32_t ea;
            memcpy(&ea, k->dst, 4);
            uint32_t m = nat_port_find_ext(&e->f->np, ntohl(ea), ntohs(k->dport), IPPROTO_UDP);
            assert_int_not_equal(m, NAT_NONE);
            holders++;
        }
        uint64_t refs = 0;
        for (uint32_t i = 0; i < e->f->np.cap; i++)
            if (e->f->np.m[i].used)
                refs += e->f->np.m[i].refs;
        assert_int_equal(refs, holders);
        assert_int_equal(live, e->f->t.active);
    }
    assert_true(created > 1000);
    advance(e, 120000); /* everything ages out */
    assert_int_equal(e->f->t.active, 0);
    assert_int_equal(e->f->np.active, 0);
    for (int i = 0; i < 256; i++) {
        /* Nothing left in the index: a reply to an old mapping is a miss. */
        struct dp_pkt p = udp_pkt(e, 0, SERVER, "10.77.2.1", 53, (uint16_t)(1024 + i), P_U);
        send1(e, &p);
    }
    assert_int_equal(st(e)->nat_reverse_hit, 0);
    nat_free(e);
}

/* IPv6 NAT rules and pools (the config accepts them) are left out, not refused: the IPv4
 * rules of the same snapshot still apply. Found by tests/fuzz (fuzz_config: full.conf). */
static void test_ipv6_rules_left_out(void **state)
{
    (void)state;
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, a4[4] = {203, 0, 113, 9};
    Moat__Prefix p6 = MOAT__PREFIX__INIT, *p6p = &p6;
    p6.addr.data = a6, p6.addr.len = 16, p6.len = 128;
    Moat__DestinationPool dp6 = MOAT__DESTINATION_POOL__INIT, *dpp = &dp6;
    dp6.id = 1, dp6.name = "web6", dp6.address = &p6;
    Moat__AddressRange r6 = MOAT__ADDRESS_RANGE__INIT, r4 = MOAT__ADDRESS_RANGE__INIT;
    Moat__AddressRange *r6p = &r6, *r4p = &r4;
    r6.lo.data = r6.hi.data = a6, r6.lo.len = r6.hi.len = 16;
    r4.lo.data = r4.hi.data = a4, r4.lo.len = r4.hi.len = 4;
    Moat__SourcePool sp[2] = {MOAT__SOURCE_POOL__INIT, MOAT__SOURCE_POOL__INIT};
    Moat__SourcePool *spp[2] = {&sp[0], &sp[1]};
    sp[0].id = 1, sp[0].name = "pub6", sp[0].ranges = &r6p, sp[0].n_ranges = 1;
    sp[1].id = 2, sp[1].name = "pub4", sp[1].ranges = &r4p, sp[1].n_ranges = 1;
    Moat__NatRule nr[5], *nrp[5];
    for (int i = 0; i < 5; i++) {
        moat__nat_rule__init(&nr[i]);
        nr[i].id = (uint32_t)i + 1;
        nr[i].name = "r";
        nrp[i] = &nr[i];
    }
    nr[0].kind = MOAT__NAT_KIND__NAT_KIND_DESTINATION; /* to an IPv6 pool */
    nr[0].destination = &p6p, nr[0].n_destination = 1;
    nr[0].action = MOAT__NAT_ACTION__NAT_ACTION_POOL, nr[0].pool_id = 1;
    nr[1].kind = MOAT__NAT_KIND__NAT_KIND_SOURCE; /* IPv6 source, interface */
    nr[1].source = &p6p, nr[1].n_source = 1;
    nr[1].action = MOAT__NAT_ACTION__NAT_ACTION_INTERFACE;
    nr[2].kind = MOAT__NAT_KIND__NAT_KIND_SOURCE; /* any, to an IPv6-only pool */
    nr[2].action = MOAT__NAT_ACTION__NAT_ACTION_POOL, nr[2].pool_id = 1;
    nr[3].kind = MOAT__NAT_KIND__NAT_KIND_SOURCE; /* IPv4: kept */
    nr[3].action = MOAT__NAT_ACTION__NAT_ACTION_POOL, nr[3].pool_id = 2;
    nr[4].kind = MOAT__NAT_KIND__NAT_KIND_SOURCE; /* IPv4: kept */
    nr[4].action = MOAT__NAT_ACTION__NAT_ACTION_INTERFACE;
    Moat__Snapshot s = MOAT__SNAPSHOT__INIT;
    s.destination_pools = &dpp, s.n_destination_pools = 1;
    s.source_pools = spp, s.n_source_pools = 2;
    s.nat_rules = nrp, s.n_nat_rules = 5;
    struct nat_set *n = NULL;
    char err[256] = "";
    assert_int_equal(nat_compile(&s, &n, err, sizeof(err)), 0);
    assert_non_null(n);
    assert_int_equal(n->nrules, 2);
    assert_int_equal(n->rules[0].id, 4);
    assert_int_equal(n->rules[1].id, 5);
    assert_null(n->dpool[1]);
    assert_int_equal(n->spool[2]->naddr, 1);
    nat_set_free(n);
    /* Still refused: an IPv4 rule naming a pool that does not exist. */
    nr[3].pool_id = 9;
    assert_int_equal(nat_compile(&s, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown source pool 9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csum_random),
        cmocka_unit_test(test_port_allocator),
        cmocka_unit_test(test_ipv6_rules_left_out),
        cmocka_unit_test(test_snat_interface_udp),
        cmocka_unit_test(test_snat_pool_tcp),
        cmocka_unit_test(test_dnat_and_hairpin),
        cmocka_unit_test(test_icmp_error_inner_translation),
        cmocka_unit_test(test_reverse_index_churn),
        cmocka_unit_test(test_too_big_quotes_untranslated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
