/* SPDX-License-Identifier: MIT */
/*
 * dp_test_env.h — the box the dataplane's packet-path unit tests drive (test_dp_flow.c,
 * test_dp_nat.c): three interfaces (trust fw0, untrust fw1, fw2 without a zone), routes,
 * neighbours, trust -> untrust policies (reject UDP 5000 and TCP 7000, permit the rest), one
 * worker's flow table with the clock in the test's hands, and frames with the metadata the
 * shim would write (dp_test_frames.h). Room is left for the NAT rules, pools and policies a
 * test adds (test_dp_nat.c's add_nat()). Header-only: a test includes it once.
 */
#ifndef MOAT_DP_TEST_ENV_H
#define MOAT_DP_TEST_ENV_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"
#include "snapshot.h"

enum { IF_T = 2, IF_U = 3, IF_N = 4 }; /* trust (port 0), untrust (port 1), no zone (port 2) */
enum { P_T = 0, P_U = 1, P_N = 2 };
static const uint8_t MAC_T[6] = {2, 0, 0, 0, 0, 0xa}, MAC_U[6] = {2, 0, 0, 0, 0, 0xb},
                     MAC_N[6] = {2, 0, 0, 0, 0, 0xc}, MAC_CL[6] = {2, 0, 0, 0, 1, 1},
                     MAC_SV[6] = {2, 0, 0, 0, 2, 2}, MAC_NH[6] = {2, 0, 0, 0, 3, 3};
#define CLIENT "10.77.1.2"
#define SERVER "10.77.2.2"
#define CLIENT6 "fd00:77:1::2"
#define SERVER6 "fd00:77:2::2"

/* ---- tables ---- */

struct env {
    Moat__Snapshot s;
    Moat__Interface ifs[3], *ifp[3];
    Moat__Route rt[6], *rtp[6];
    Moat__Neighbor nb[5], *nbp[5];
    Moat__Zone z[2], *zp[2];
    Moat__Policy pol[6], *polp[6];
    Moat__NatRule nr[4], *nrp[4];
    Moat__SourcePool sp, *spp[1];
    Moat__AddressRange ar, *arp[1];
    Moat__DestinationPool dpl, *dplp[1];
    uint32_t zone_t, zone_u;
    Moat__AddressMatch any;
    Moat__Application app[2], *appp[2];
    Moat__FlowSettings flow;
    Moat__Prefix pfx[16];
    uint8_t addr[32][16];
    int naddr, npfx;
    struct dp dp;
    struct moat_dp_stats stats;
    struct dp_tables *t;
    struct dp_flow *f;
    uint64_t now;
    uint8_t buf[8][4096];
};

static inline uint8_t *a_of(struct env *e, const char *text, size_t *len)
{
    uint8_t *a = e->addr[e->naddr++];
    if (strchr(text, ':')) {
        assert_int_equal(inet_pton(AF_INET6, text, a), 1);
        *len = 16;
    } else {
        assert_int_equal(inet_pton(AF_INET, text, a), 1);
        *len = 4;
    }
    return a;
}

static inline Moat__Prefix *p_of(struct env *e, const char *text, unsigned plen)
{
    Moat__Prefix *p = &e->pfx[e->npfx++];
    moat__prefix__init(p);
    p->addr.data = a_of(e, text, &p->addr.len);
    p->len = plen;
    return p;
}

static inline void build(struct env *e, uint64_t generation)
{
    char err[256] = "";
    struct dp_port ports[3] = {
        {IF_T, 0, 1, "fw0", 0}, {IF_U, 1, 1, "fw1", 0}, {IF_N, 2, 1, "fw2", 0}};
    e->s.generation = generation;
    struct dp_tables *t = NULL;
    int rc = dp_tables_from_snapshot(&e->s, ports, 3, &t, err, sizeof(err));
    if (rc)
        fail_msg("tables: %s", err);
    if (e->t)
        dp_tables_free(e->t, true, true);
    e->t = t;
}

static inline struct env *env_new(uint32_t max_sessions)
{
    struct env *e = calloc(1, sizeof(*e));
    moat__snapshot__init(&e->s);
    const uint32_t ifx[3] = {IF_T, IF_U, IF_N};
    const uint8_t *mac[3] = {MAC_T, MAC_U, MAC_N};
    const char *own[3] = {"10.77.1.1", "10.77.2.1", "10.77.3.1"};
    for (int i = 0; i < 3; i++) {
        Moat__Interface *in = &e->ifs[i];
        moat__interface__init(in);
        in->ifindex = ifx[i];
        in->name = (char *)(i == 0 ? "fw0" : i == 1 ? "fw1" : "fw2");
        in->mac.data = (uint8_t *)mac[i];
        in->mac.len = 6;
        in->mtu = 1500;
        in->queues = 1;
        in->slot = (uint32_t)i;
        in->userspace = true;
        in->zone_id = i < 2 ? (uint32_t)i + 1 : 0;
        in->addresses = calloc(1, sizeof(Moat__Prefix *));
        in->addresses[0] = p_of(e, own[i], 24);
        in->n_addresses = 1;
        e->ifp[i] = in;
    }
    e->s.interfaces = e->ifp;
    e->s.n_interfaces = 3;
    const char *dst[6] = {"10.77.1.0",   "10.77.2.0",   "10.77.3.0",
                          "fd00:77:1::", "fd00:77:2::", "10.99.0.0"};
    const unsigned plen[6] = {24, 24, 24, 64, 64, 16};
    const uint32_t rif[6] = {IF_T, IF_U, IF_N, IF_T, IF_U, IF_N};
    for (int i = 0; i < 6; i++) {
        moat__route__init(&e->rt[i]);
        e->rt[i].dst = p_of(e, dst[i], plen[i]);
        e->rt[i].ifindex = rif[i];
        if (i == 5) {
            e->rt[i].kind = MOAT__ROUTE_KIND__ROUTE_STATIC;
            e->rt[i].gateway.data = a_of(e, "10.77.3.9", &e->rt[i].gateway.len);
        }
        e->rtp[i] = &e->rt[i];
    }
    e->s.routes = e->rtp;
    e->s.n_routes = 6;
    const char *nba[5] = {CLIENT, SERVER, CLIENT6, SERVER6, "10.77.3.9"};
    const uint32_t nbi[5] = {IF_T, IF_U, IF_T, IF_U, IF_N};
    const uint8_t *nbm[5] = {MAC_CL, MAC_SV, MAC_CL, MAC_SV, MAC_NH};
    for (int i = 0; i < 5; i++) {
        moat__neighbor__init(&e->nb[i]);
        e->nb[i].addr.data = a_of(e, nba[i], &e->nb[i].addr.len);
        e->nb[i].ifindex = nbi[i];
        e->nb[i].mac.data = (uint8_t *)nbm[i];
        e->nb[i].mac.len = 6;
        e->nb[i].state = 2;
        e->nbp[i] = &e->nb[i];
    }
    e->s.neighbors = e->nbp;
    e->s.n_neighbors = 5;
    for (int i = 0; i < 2; i++) {
        moat__zone__init(&e->z[i]);
        e->z[i].id = (uint32_t)i + 1;
        e->z[i].name = (char *)(i ? "untrust" : "trust");
        e->zp[i] = &e->z[i];
    }
    e->s.zones = e->zp;
    e->s.n_zones = 2;
    moat__address_match__init(&e->any);
    e->any.any = true;
    /* trust -> untrust: UDP 5000 rejected, then everything permitted. */
    moat__application__init(&e->app[0]);
    e->app[0].name = "udp-5000";
    e->app[0].protocol = 17;
    e->app[0].dport_lo = e->app[0].dport_hi = 5000;
    e->app[0].sport_hi = 65535;
    e->app[0].icmp_type = e->app[0].icmp_code = -1;
    e->appp[0] = &e->app[0];
    moat__application__init(&e->app[1]);
    e->app[1].name = "tcp-7000";
    e->app[1].protocol = 6;
    e->app[1].dport_lo = e->app[1].dport_hi = 7000;
    e->app[1].sport_hi = 65535;
    e->app[1].icmp_type = e->app[1].icmp_code = -1;
    e->appp[1] = &e->app[1];
    for (int i = 0; i < 3; i++) {
        Moat__Policy *p = &e->pol[i];
        moat__policy__init(p);
        p->id = (uint32_t)i + 1;
        p->from_zone = 1;
        p->to_zone = 2;
        p->source = &e->any;
        p->destination = &e->any;
        e->polp[i] = p;
    }
    e->pol[0].name = "reject-udp";
    e->pol[0].applications = &e->appp[0];
    e->pol[0].n_applications = 1;
    e->pol[0].action = MOAT__POLICY_ACTION__POLICY_REJECT;
    e->pol[1].name = "reject-tcp";
    e->pol[1].applications = &e->appp[1];
    e->pol[1].n_applications = 1;
    e->pol[1].action = MOAT__POLICY_ACTION__POLICY_REJECT;
    e->pol[2].name = "allow-out";
    e->pol[2].application_any = true;
    e->pol[2].action = MOAT__POLICY_ACTION__POLICY_PERMIT;
    e->s.policies = e->polp;
    e->s.n_policies = 3;
    moat__flow_settings__init(&e->flow);
    e->flow.max_sessions = max_sessions;
    e->flow.udp_timeout = 30;
    e->flow.icmp_timeout = 10;
    e->flow.tcp_initial_timeout = 20;
    e->flow.tcp_established_timeout = 600;
    e->flow.tcp_closing_timeout = 5;
    e->flow.policy_reevaluate = true;
    e->s.flow = &e->flow;
    build(e, 1);
    e->dp.stats = &e->stats;
    e->dp.flow_seed = 77;
    e->now = 1000000;
    assert_int_equal(
        dp_flow_create(&e->f, &e->dp, 0, max_sessions, false, &e->stats.worker[0], e->now), 0);
    e->dp.flows[0] = e->f;
    e->dp.nflows = 1;
    dp_flow_tick(e->f, e->t, e->now);
    return e;
}

static inline void env_free(struct env *e)
{
    for (uint32_t w = 0; w < MOAT_MAX_WORKERS; w++)
        dp_flow_destroy(e->dp.flows[w]);
    dp_tables_free(e->t, true, true);
    for (int i = 0; i < 3; i++)
        free(e->ifs[i].addresses);
    free(e);
}

static inline struct moat_worker_stats *st(struct env *e)
{
    return &e->stats.worker[0];
}

static inline void advance(struct env *e, uint64_t ms)
{
    /* Ticks as a worker's loop would, every 100 ms. */
    for (uint64_t end = e->now + ms; e->now < end;) {
        e->now += end - e->now < 100 ? end - e->now : 100;
        dp_flow_tick(e->f, e->t, e->now);
    }
}

/* ---- frames ---- */
#include "dp_test_frames.h"

/* Frame k of the env's buffers from spec, with the metadata the shim would write. */
static inline struct dp_pkt frame(struct env *e, int k, const struct pkt_spec *sp)
{
    uint8_t *pkt = e->buf[k] + 256;
    struct moat_meta *m = (struct moat_meta *)(pkt - sizeof(*m));
    memset(e->buf[k], 0, sizeof(e->buf[k]));
    int v6;
    uint32_t l4off;
    uint32_t iplen = build_ip(sp, pkt + 14, m->src, m->dst, &v6, &l4off);
    memcpy(pkt, sp->in_port == P_U ? MAC_U : sp->in_port == P_N ? MAC_N : MAC_T, 6);
    memcpy(pkt + 6, sp->in_port == P_U ? MAC_SV : MAC_CL, 6);
    put16(pkt + 12, v6 ? 0x86dd : 0x0800);
    m->ifindex = sp->in_port == P_U ? IF_U : sp->in_port == P_N ? IF_N : IF_T;
    m->proto = sp->proto;
    m->l3_off = 14;
    m->ttl = 64;
    m->magic = MOAT_META_MAGIC;
    m->flags = v6 ? MOAT_META_F_IPV6 : 0;
    if (sp->frag)
        m->flags |= MOAT_META_F_FRAG;
    if (sp->frag == 2) {
        m->flags |= MOAT_META_F_FRAG_NF;
    } else {
        m->l4_off = (uint8_t)(14 + l4off);
        m->flags |= MOAT_META_F_L4;
        if (sp->proto == IPPROTO_TCP || sp->proto == IPPROTO_UDP) {
            m->sport = htons(sp->sport);
            m->dport = htons(sp->dport);
        } else {
            m->icmp_type = sp->icmp_type;
            m->icmp_code = sp->icmp_code;
            uint8_t t = sp->icmp_type;
            if (t == 8 || t == 0 || t == 128 || t == 129)
                m->sport = htons(sp->sport);
            else if ((!v6 && (t == 3 || t == 11 || t == 12)) || (v6 && t < 128))
                m->flags |= MOAT_META_F_ICMP_ERR;
        }
    }
    struct dp_pkt p;
    memset(&p, 0, sizeof(p));
    p.data = pkt;
    p.len = 14 + iplen;
    p.room = 4096 - 256;
    p.m = m;
    p.in_port = sp->in_port;
    return p;
}

/* Runs one frame through the path; returns the verdict (p filled in). */
static inline uint8_t send1(struct env *e, struct dp_pkt *p)
{
    dp_flow_batch(e->f, e->t, p, 1);
    return p->verdict;
}

static inline int pop_deltas(struct env *e, struct dp_delta *out, int max)
{
    int n = 0;
    struct dp_delta d;
    while (spsc_ring_pop(&e->f->deltas, &d))
        if (n < max)
            out[n++] = d;
    return n;
}

#endif
