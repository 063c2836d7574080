/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/flowctl.c, the control thread's side of the sessions: delta
 * batches (seq, dropped), SessionRecord conversions, SessionClear and HA sync installs
 * through the workers' command rings, policy counters, re-seeding from Snapshot.sessions, and
 * moving sessions when the layout of the tables changes. Workers are played by the test
 * (dp_flow_tick() and dp_flow_batch() called here); messages go to a capturing send function.
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

#include "flowctl.h"
#include "mirror.h"
#include "snapshot.h"
#include "tcp.h"
#include "worker.h"

enum { IF_T = 2, IF_U = 3 };

struct env {
    Moat__Snapshot s;
    Moat__Interface ifs[2], *ifp[2];
    Moat__Route rt[2], *rtp[2];
    Moat__Neighbor nb[2], *nbp[2];
    Moat__Zone z[2], *zp[2];
    Moat__Policy pol, *polp[1];
    Moat__AddressMatch any;
    Moat__Prefix pfx[4];
    uint8_t addr[8][16];
    Moat__FlowSettings flow;
    struct dp dp;
    struct moat_dp_stats stats;
    struct dp_tables *t;
    struct flowctl fc;
    /* Captured messages. */
    Moat__Envelope *sent[64];
    int nsent;
    uint8_t frame[4096];
};

static const uint8_t MAC[6] = {2, 0, 0, 0, 0, 1};

static int capture(void *arg, const Moat__Envelope *env)
{
    struct env *e = arg;
    size_t len = moat__envelope__get_packed_size(env);
    uint8_t *buf = malloc(len);
    moat__envelope__pack(env, buf);
    assert_true(e->nsent < 64);
    e->sent[e->nsent++] = moat__envelope__unpack(NULL, len, buf);
    free(buf);
    return 0;
}

static void clear_sent(struct env *e)
{
    for (int i = 0; i < e->nsent; i++)
        moat__envelope__free_unpacked(e->sent[i], NULL);
    e->nsent = 0;
}

static Moat__Prefix *pfx(struct env *e, int i, const char *a, unsigned len)
{
    Moat__Prefix *p = &e->pfx[i];
    moat__prefix__init(p);
    p->addr.data = e->addr[i];
    p->addr.len = 4;
    inet_pton(AF_INET, a, e->addr[i]);
    p->len = len;
    return p;
}

static void build(struct env *e)
{
    struct dp_port ports[2] = {{IF_T, 0, 1, "fw0", 0}, {IF_U, 1, 1, "fw1", 0}};
    char err[256] = "";
    struct dp_tables *t = NULL;
    if (dp_tables_from_snapshot_names(&e->s, ports, 2, &e->fc.pnames, &e->fc.anames, &t, err,
                                      sizeof(err)))
        fail_msg("tables: %s", err);
    flowctl_tables_built(&e->fc, t);
    struct dp_tables *old = atomic_exchange(&e->dp.tables, t);
    dp_tables_free(old, true, true);
    e->t = t;
}

/* A worker with one bound socket on queue 0 of ifindex. */
static void add_worker(struct env *e, uint32_t id, uint32_t ifindex)
{
    struct dp_worker *w = calloc(1, sizeof(*w));
    w->id = id;
    w->dp = &e->dp;
    w->nbound = 1;
    w->nsocks = 1;
    w->socks = calloc(1, sizeof(*w->socks));
    w->socks[0].ifindex = ifindex;
    w->socks[0].queue = 0;
    w->socks[0].bound = true;
    w->evfd = -1;
    e->dp.workers[id] = w;
    if (id + 1 > e->dp.nworkers)
        e->dp.nworkers = id + 1;
}

static struct env *env_new(uint32_t max_sessions)
{
    struct env *e = calloc(1, sizeof(*e));
    moat__snapshot__init(&e->s);
    for (int i = 0; i < 2; i++) {
        moat__interface__init(&e->ifs[i]);
        e->ifs[i].ifindex = i ? IF_U : IF_T;
        e->ifs[i].name = (char *)(i ? "fw1" : "fw0");
        e->ifs[i].mac.data = (uint8_t *)MAC;
        e->ifs[i].mac.len = 6;
        e->ifs[i].mtu = 1500;
        e->ifs[i].zone_id = (uint32_t)i + 1;
        e->ifp[i] = &e->ifs[i];
        moat__route__init(&e->rt[i]);
        e->rt[i].dst = pfx(e, i, i ? "10.77.2.0" : "10.77.1.0", 24);
        e->rt[i].ifindex = e->ifs[i].ifindex;
        e->rtp[i] = &e->rt[i];
        moat__neighbor__init(&e->nb[i]);
        e->nb[i].addr.data = e->addr[2 + i];
        e->nb[i].addr.len = 4;
        inet_pton(AF_INET, i ? "10.77.2.2" : "10.77.1.2", e->addr[2 + i]);
        e->nb[i].ifindex = e->ifs[i].ifindex;
        e->nb[i].mac.data = (uint8_t *)MAC;
        e->nb[i].mac.len = 6;
        e->nb[i].state = 2;
        e->nbp[i] = &e->nb[i];
        moat__zone__init(&e->z[i]);
        e->z[i].id = (uint32_t)i + 1;
        e->z[i].name = (char *)(i ? "untrust" : "trust");
        e->zp[i] = &e->z[i];
    }
    e->s.interfaces = e->ifp;
    e->s.n_interfaces = 2;
    e->s.routes = e->rtp;
    e->s.n_routes = 2;
    e->s.neighbors = e->nbp;
    e->s.n_neighbors = 2;
    e->s.zones = e->zp;
    e->s.n_zones = 2;
    moat__address_match__init(&e->any);
    e->any.any = true;
    moat__policy__init(&e->pol);
    e->pol.id = 1;
    e->pol.name = "allow-out";
    e->pol.from_zone = 1;
    e->pol.to_zone = 2;
    e->pol.source = e->pol.destination = &e->any;
    e->pol.application_any = true;
    e->polp[0] = &e->pol;
    e->s.policies = e->polp;
    e->s.n_policies = 1;
    moat__flow_settings__init(&e->flow);
    e->flow.max_sessions = max_sessions;
    e->s.flow = &e->flow;
    e->dp.stats = &e->stats;
    e->dp.flow_seed = 5;
    e->dp.unix_offset_ms = 1700000000000;
    atomic_init(&e->dp.tables, NULL);
    assert_int_equal(flowctl_init(&e->fc, &e->dp, capture, e), 0);
    build(e);
    return e;
}

static void env_free(struct env *e)
{
    clear_sent(e);
    flowctl_free(&e->fc);
    for (uint32_t w = 0; w < MOAT_MAX_WORKERS; w++) {
        if (e->dp.workers[w]) {
            free(e->dp.workers[w]->socks);
            free(e->dp.workers[w]);
        }
    }
    dp_tables_free(atomic_load(&e->dp.tables), true, true);
    free(e);
}

/* A UDP packet client:sport -> server:53 (dir 0) or back (dir 1) through worker w. */
static uint8_t udp(struct env *e, uint32_t w, int dir, uint16_t sport)
{
    uint8_t *pkt = e->frame + 256;
    struct moat_meta *m = (struct moat_meta *)(pkt - sizeof(*m));
    memset(e->frame, 0, sizeof(e->frame));
    uint8_t c[4], s[4];
    inet_pton(AF_INET, "10.77.1.2", c);
    inet_pton(AF_INET, "10.77.2.2", s);
    memcpy(m->src, dir ? s : c, 4);
    memcpy(m->dst, dir ? c : s, 4);
    m->sport = htons(dir ? 53 : sport);
    m->dport = htons(dir ? sport : 53);
    m->ifindex = dir ? IF_U : IF_T;
    m->proto = IPPROTO_UDP;
    m->l3_off = 14;
    m->l4_off = 34;
    m->ttl = 64;
    m->flags = MOAT_META_F_L4;
    m->magic = MOAT_META_MAGIC;
    pkt[12] = 8;
    uint8_t *ip = pkt + 14;
    ip[0] = 0x45;
    ip[3] = 28;
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    memcpy(ip + 12, m->src, 4);
    memcpy(ip + 16, m->dst, 4);
    memcpy(ip + 20, &m->sport, 2);
    memcpy(ip + 22, &m->dport, 2);
    ip[25] = 8;
    struct dp_pkt p;
    memset(&p, 0, sizeof(p));
    p.data = pkt;
    p.len = 42;
    p.room = 4096 - 256;
    p.m = m;
    p.in_port = (uint16_t)dir;
    dp_flow_batch(e->dp.flows[w], e->t, &p, 1);
    return p.verdict;
}

static void tick_all(struct env *e, uint64_t now)
{
    for (uint32_t w = 0; w < e->dp.nflows; w++)
        if (e->dp.flows[w])
            dp_flow_tick(e->dp.flows[w], e->t, now);
}

static Moat__SessionDeltaBatch *batch(struct env *e, int i)
{
    assert_true(i < e->nsent);
    assert_int_equal(e->sent[i]->msg_case, MOAT__ENVELOPE__MSG_SESSION_DELTAS);
    return e->sent[i]->session_deltas;
}

static void test_batches_and_records(void **state)
{
    (void)state;
    struct env *e = env_new(1000);
    add_worker(e, 0, IF_T);
    char err[256];
    assert_int_equal(flowctl_layout(&e->fc, e->t, err, sizeof(err)), 0);
    assert_int_equal(e->dp.nflows, 1);
    assert_int_equal(e->dp.flows[0]->t.cap, 1000);
    tick_all(e, 5000);
    for (int i = 0; i < 300; i++)
        assert_int_equal(udp(e, 0, 0, (uint16_t)(1000 + i)), DP_V_TX);
    assert_int_equal(udp(e, 0, 1, 1000), DP_V_TX);
    /* 301 deltas waiting: a full batch goes at once, the rest at the flush time. */
    e->fc.next_flush_ms = 500;
    flowctl_poll(&e->fc, 0, false);
    assert_int_equal(e->nsent, 1);
    assert_int_equal(batch(e, 0)->seq, 1);
    assert_int_equal(batch(e, 0)->n_deltas, DP_BATCH_MAX);
    flowctl_poll(&e->fc, 1000, false);
    assert_int_equal(e->nsent, 2);
    Moat__SessionDeltaBatch *b = batch(e, 1);
    assert_int_equal(b->seq, 2);
    assert_int_equal(b->n_deltas, 301 - DP_BATCH_MAX);
    assert_int_equal(b->dropped, 0);
    /* The last one: the UPDATE of 1000's session (established by the reply). */
    Moat__SessionDelta *d = b->deltas[b->n_deltas - 1];
    assert_int_equal(d->kind, MOAT__DELTA_KIND__DELTA_UPDATE);
    Moat__SessionRecord *r = d->session;
    assert_int_equal(r->state, MOAT__SESSION_STATE__SESSION_ESTABLISHED);
    assert_int_equal(r->forward->sport, 1000);
    assert_int_equal(r->forward->dport, 53);
    assert_int_equal(r->forward->protocol, 17);
    assert_int_equal(r->forward->src.len, 4);
    assert_int_equal(r->reverse->sport, 53);
    assert_int_equal(r->from_zone, 1);
    assert_int_equal(r->to_zone, 2);
    assert_int_equal(r->in_ifindex, IF_T);
    assert_int_equal(r->out_ifindex, IF_U);
    assert_int_equal(r->policy_id, 1);
    assert_string_equal(r->policy_name, "allow-out");
    assert_string_equal(r->application, "");
    assert_int_equal(r->packets_fwd, 1);
    assert_int_equal(r->packets_rev, 1);
    assert_int_equal(r->timeout, 60);
    assert_int_equal(r->worker, 0);
    assert_int_equal(r->id >> 48, 0);
    assert_true(r->created_unix_ms >= 1700000000000ull);
    clear_sent(e);
    /* Deltas lost to a full ring are reported once, in the next batch. */
    struct dp_flow *f = e->dp.flows[0];
    struct dp_delta junk;
    memset(&junk, 0, sizeof(junk));
    junk.fwd.family = junk.rev.family = 4;
    while (spsc_ring_push(&f->deltas, &junk))
        ;
    assert_int_equal(udp(e, 0, 0, 5000), DP_V_TX);
    assert_int_equal(e->stats.worker[0].deltas_dropped, 1);
    flowctl_poll(&e->fc, 2000, true);
    assert_true(e->nsent >= DP_DELTA_RING / DP_BATCH_MAX);
    uint64_t dropped = 0;
    for (int i = 0; i < e->nsent; i++)
        dropped += batch(e, i)->dropped;
    assert_int_equal(dropped, 1);
    assert_int_equal(batch(e, e->nsent - 1)->seq, 2 + (uint64_t)e->nsent);
    clear_sent(e);
    flowctl_poll(&e->fc, 3000, true);
    assert_int_equal(e->nsent, 0); /* nothing waits, nothing lost: no empty batch */
    env_free(e);
}

static void test_clear_and_counters(void **state)
{
    (void)state;
    struct env *e = env_new(100);
    add_worker(e, 0, IF_T);
    char err[256];
    assert_int_equal(flowctl_layout(&e->fc, e->t, err, sizeof(err)), 0);
    tick_all(e, 5000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(udp(e, 0, 0, (uint16_t)(2000 + i)), DP_V_TX);
    flowctl_poll(&e->fc, 0, true);
    Moat__SessionDeltaBatch *b = batch(e, 0);
    assert_int_equal(b->n_deltas, 3);
    uint64_t ids[3] = {b->deltas[0]->session->id, b->deltas[2]->session->id, 0xdead};
    clear_sent(e);
    Moat__SessionClear m = MOAT__SESSION_CLEAR__INIT;
    m.request_id = 9;
    m.ids = ids;
    m.n_ids = 3;
    flowctl_clear(&e->fc, &m);
    assert_int_equal(e->nsent, 0); /* the worker has not run yet */
    tick_all(e, 5001);             /* the worker's pass: commands */
    flowctl_poll(&e->fc, 10, false);
    assert_int_equal(e->nsent, 2);
    b = batch(e, 0); /* the CLOSE deltas first ... */
    assert_int_equal(b->n_deltas, 2);
    assert_int_equal(b->deltas[0]->kind, MOAT__DELTA_KIND__DELTA_CLOSE);
    assert_int_equal(b->deltas[0]->session->close_reason, MOAT__CLOSE_REASON__CLOSE_CLEARED);
    assert_int_equal(e->sent[1]->msg_case, MOAT__ENVELOPE__MSG_SESSION_CLEAR_REPLY);
    assert_int_equal(e->sent[1]->session_clear_reply->request_id, 9); /* ... then the answer */
    assert_int_equal(e->sent[1]->session_clear_reply->closed, 2);
    assert_int_equal(e->dp.flows[0]->t.active, 1);
    clear_sent(e);

    Moat__PolicyCountersRequest q = MOAT__POLICY_COUNTERS_REQUEST__INIT;
    q.request_id = 4;
    udp(e, 0, 1, 2001); /* one more packet of the remaining session */
    flowctl_policy_counters(&e->fc, &q);
    assert_int_equal(e->nsent, 1);
    Moat__PolicyCountersReply *r = e->sent[0]->policy_counters_reply;
    assert_int_equal(r->request_id, 4);
    assert_int_equal(r->n_counters, 2); /* default policy + allow-out */
    assert_int_equal(r->counters[0]->policy_id, 0);
    assert_int_equal(r->counters[1]->policy_id, 1);
    assert_int_equal(r->counters[1]->hits, 3);
    assert_int_equal(r->counters[1]->packets, 4);
    assert_int_equal(r->counters[1]->bytes, 4 * 28);
    env_free(e);
}

static void test_reseed_from_snapshot(void **state)
{
    (void)state;
    struct env *e = env_new(100);
    add_worker(e, 0, IF_T);
    char err[256];
    assert_int_equal(flowctl_layout(&e->fc, e->t, err, sizeof(err)), 0);
    tick_all(e, 5000);
    /* Records as controld's mirror keeps them: a UDP session with its id, an ICMP echo
     * session (ports shown as id/0), and an unusable one. */
    uint8_t c[4], s[4];
    inet_pton(AF_INET, "10.77.1.2", c);
    inet_pton(AF_INET, "10.77.2.2", s);
    Moat__FlowKey fk[4];
    Moat__SessionRecord rec[3], *recp[3];
    for (int i = 0; i < 4; i++)
        moat__flow_key__init(&fk[i]);
    for (int i = 0; i < 3; i++) {
        moat__session_record__init(&rec[i]);
        recp[i] = &rec[i];
    }
    fk[0].src.data = c;
    fk[0].dst.data = s;
    fk[0].src.len = fk[0].dst.len = 4;
    fk[0].sport = 3333;
    fk[0].dport = 53;
    fk[0].protocol = 17;
    fk[1] = fk[0];
    fk[1].src.data = s;
    fk[1].dst.data = c;
    fk[1].sport = 53;
    fk[1].dport = 3333;
    rec[0].id = (1ull << 10) | 7; /* worker 0, use 1, slot 7 (100 sessions: 7 slot bits) */
    rec[0].forward = &fk[0];
    rec[0].reverse = &fk[1];
    rec[0].from_zone = 1;
    rec[0].to_zone = 2;
    rec[0].in_ifindex = IF_T;
    rec[0].out_ifindex = IF_U;
    rec[0].state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    rec[0].packets_fwd = 10;
    rec[0].last_seen_unix_ms = 1700000000000ull + 4000;
    rec[0].policy_id = 1;
    fk[2] = fk[0];
    fk[2].protocol = 1;
    fk[2].sport = 77;
    fk[2].dport = 0;
    rec[1] = rec[0];
    rec[1].id = (7ull << 48) | 5; /* another layout's id: re-keyed */
    rec[1].forward = &fk[2];
    rec[1].reverse = NULL;
    fk[3] = fk[0];
    fk[3].src.len = 5; /* unusable */
    rec[2] = rec[0];
    rec[2].forward = &fk[3];
    e->s.sessions = recp;
    e->s.n_sessions = 3;
    assert_int_equal(flowctl_install_snapshot(&e->fc, &e->s, e->t), 2);
    e->s.n_sessions = 0;
    struct dp_flow *f = e->dp.flows[0];
    assert_int_equal(f->t.active, 2);
    assert_int_not_equal(sess_find_id(&f->t, rec[0].id), SESS_NONE);
    /* Its replies ride on it. */
    assert_int_equal(udp(e, 0, 1, 3333), DP_V_TX);
    assert_int_equal(e->stats.worker[0].session_hit, 1);
    /* The re-keyed one is announced under its new id; the other is not. */
    flowctl_poll(&e->fc, 0, true);
    Moat__SessionDeltaBatch *b = batch(e, 0);
    assert_int_equal(b->deltas[0]->kind, MOAT__DELTA_KIND__DELTA_CREATE);
    assert_int_equal(b->deltas[0]->session->forward->protocol, 1);
    assert_int_equal(b->deltas[0]->session->forward->sport, 77);
    assert_int_equal(b->deltas[0]->session->forward->dport, 0);
    assert_int_equal(b->deltas[0]->session->reverse->dport, 0); /* shown as 0 */
    assert_int_not_equal(b->deltas[0]->session->id, rec[1].id);
    env_free(e);
}

static void test_layout_change_moves_sessions(void **state)
{
    (void)state;
    struct env *e = env_new(100);
    add_worker(e, 0, IF_T);
    char err[256];
    assert_int_equal(flowctl_layout(&e->fc, e->t, err, sizeof(err)), 0);
    tick_all(e, 5000);
    for (int i = 0; i < 10; i++)
        assert_int_equal(udp(e, 0, 0, (uint16_t)(4000 + i)), DP_V_TX);
    assert_false(flowctl_layout_changed(&e->fc, e->t));
    /* Another worker gets a socket (on fw1) and max-sessions grows. */
    add_worker(e, 1, IF_U);
    e->flow.max_sessions = 300;
    build(e);
    assert_true(flowctl_layout_changed(&e->fc, e->t));
    assert_int_equal(flowctl_layout(&e->fc, e->t, err, sizeof(err)), 0);
    assert_int_equal(e->dp.nflows, 2);
    assert_int_equal(e->dp.flows[0]->t.cap, 150);
    assert_int_equal(e->dp.flows[1]->t.cap, 150);
    assert_non_null(e->dp.flows[0]->t.shared);
    /* The sessions (ingress fw0: worker 0) moved to worker 0's new table. */
    assert_int_equal(e->dp.flows[0]->t.active, 10);
    assert_int_equal(e->dp.flows[1]->t.active, 0);
    tick_all(e, 6000);
    /* A reply arriving on worker 1 is handed to worker 0 through the shared index. */
    assert_int_equal(udp(e, 1, 1, 4003), DP_V_HANDOFF);
    assert_int_equal(udp(e, 0, 1, 4003), DP_V_TX);
    /* The policy counters came along. */
    assert_int_equal(e->dp.flows[0]->pctr[pol_rule_at(e->t->pol, 0)->slot].hits, 10);
    env_free(e);
}

/* fk[0]: IPv4 c:sport -> s:dport (proto), fk[1] the reply; the addresses stay c's and s's. */
static void key_pair(Moat__FlowKey fk[2], uint8_t *c, uint8_t *s, uint32_t sport, uint32_t dport,
                     uint32_t proto)
{
    moat__flow_key__init(&fk[0]);
    fk[0].src.data = c;
    fk[0].dst.data = s;
    fk[0].src.len = fk[0].dst.len = 4;
    fk[0].sport = sport;
    fk[0].dport = dport;
    fk[0].protocol = proto;
    fk[1] = fk[0];
    fk[1].src.data = s;
    fk[1].dst.data = c;
    fk[1].sport = dport;
    fk[1].dport = sport;
}

/* HA sync: a SessionInstall of compact records goes to the workers through their command
 * rings and is answered once they went through it; a blob that is not whole records is
 * answered lost. The compact form converts as the record does. */
static void test_sync_install(void **state)
{
    (void)state;
    struct env *e = env_new(100);
    add_worker(e, 0, IF_T);
    char err[256];
    assert_int_equal(flowctl_layout(&e->fc, e->t, err, sizeof(err)), 0);
    tick_all(e, 5000);
    uint8_t c[4], s[4];
    inet_pton(AF_INET, "10.77.1.2", c);
    inet_pton(AF_INET, "10.77.2.2", s);
    Moat__FlowKey fk[2];
    key_pair(fk, c, s, 4444, 53, 17);
    Moat__SessionRecord rec = MOAT__SESSION_RECORD__INIT;
    rec.id = (3ull << 48) | 9; /* the peer's id */
    rec.forward = &fk[0];
    rec.reverse = &fk[1];
    rec.from_zone = 1;
    rec.to_zone = 2;
    rec.in_ifindex = IF_T;
    rec.out_ifindex = IF_U;
    rec.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    rec.packets_fwd = 12;
    rec.bytes_rev = 3400;
    rec.timeout = 60;
    rec.policy_id = 1;
    struct sessrec sr[2];
    assert_true(sessrec_from_record(&rec, &sr[0]));
    struct dp_delta a, b;
    assert_true(flowctl_record_to_delta(&e->fc, &rec, e->t, &a));
    assert_true(flowctl_sessrec_to_delta(&e->fc, &sr[0], e->t, &b));
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(b.packets[0], 12);
    assert_int_equal(b.bytes[1], 3400);
    assert_int_not_equal(b.policy_slot, 0);
    /* An unusable forward key has no compact form. */
    fk[0].dst.len = 16;
    assert_false(sessrec_from_record(&rec, &sr[1]));
    fk[0].dst.len = 4;

    Moat__SessionInstall m = MOAT__SESSION_INSTALL__INIT;
    m.request_id = 7;
    m.records.data = (uint8_t *)sr;
    m.records.len = sizeof(sr[0]);
    flowctl_sync_install(&e->fc, &m);
    flowctl_poll(&e->fc, 5000, false);
    assert_int_equal(e->nsent, 0); /* the worker has not gone through it yet */
    tick_all(e, 5001);
    flowctl_poll(&e->fc, 5001, false);
    assert_int_equal(e->nsent, 1);
    assert_int_equal(e->sent[0]->msg_case, MOAT__ENVELOPE__MSG_SESSION_INSTALL_REPLY);
    assert_int_equal(e->sent[0]->session_install_reply->request_id, 7);
    assert_int_equal(e->sent[0]->session_install_reply->records, 1);
    assert_false(e->sent[0]->session_install_reply->lost);
    assert_int_equal(e->dp.flows[0]->t.active, 1);
    /* Its replies ride on it. */
    assert_int_equal(udp(e, 0, 1, 4444), DP_V_TX);
    clear_sent(e);

    /* The peer's later counters update the synced session; lower ones never take it back. */
    struct dp_flow *fl = e->dp.flows[0];
    const struct dp_session *ss = NULL;
    for (uint32_t i = 0; i < fl->t.cap && !ss; i++)
        if (sess_at(&fl->t, i)->flags & SESS_F_USED)
            ss = sess_at(&fl->t, i);
    assert_non_null(ss);
    assert_int_equal(ss->d[0].packets, 12);
    assert_int_equal(ss->d[1].packets, 1); /* the reply above */
    sr[0].packets_fwd = 50;
    sr[0].bytes_rev = 9000;
    m.request_id = 10;
    flowctl_sync_install(&e->fc, &m);
    tick_all(e, 5001);
    flowctl_poll(&e->fc, 5001, false);
    assert_int_equal(ss->d[0].packets, 50);
    assert_int_equal(ss->d[1].bytes, 9000);
    assert_int_equal(ss->d[1].packets, 1);
    sr[0].packets_fwd = 20;
    m.request_id = 11;
    flowctl_sync_install(&e->fc, &m);
    tick_all(e, 5001);
    flowctl_poll(&e->fc, 5001, false);
    assert_int_equal(ss->d[0].packets, 50);
    assert_int_equal(fl->t.active, 1);
    clear_sent(e);

    /* Not a whole number of records: nothing goes to the workers, the answer says lost. */
    m.request_id = 8;
    m.records.len = sizeof(sr[0]) + 3;
    flowctl_sync_install(&e->fc, &m);
    assert_int_equal(e->nsent, 1);
    assert_int_equal(e->sent[0]->session_install_reply->request_id, 8);
    assert_true(e->sent[0]->session_install_reply->lost);
    clear_sent(e);

    /* The peer closed it: the close goes through the same way. */
    sr[0].state = MOAT__SESSION_STATE__SESSION_CLOSED;
    m.request_id = 9;
    m.records.len = sizeof(sr[0]);
    flowctl_sync_install(&e->fc, &m);
    tick_all(e, 5002);
    flowctl_poll(&e->fc, 5002, false);
    assert_int_equal(e->dp.flows[0]->t.active, 0);
    env_free(e);
}

static void mirror_add_record(void *arg, const struct dp_delta *rec)
{
    struct flowctl *fc = ((void **)arg)[0];
    struct mirror *m = ((void **)arg)[1];
    Moat__SessionRecord r;
    Moat__FlowKey k[2];
    flowctl_delta_to_record(fc, rec, &r, &k[0], &k[1]);
    Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT;
    d.kind = MOAT__DELTA_KIND__DELTA_CREATE;
    d.session = &r;
    assert_int_equal(mirror_apply_delta(m, &d, NULL, NULL), 0);
}

static unsigned mirror_events[2];

static void count_event(void *arg, enum mirror_event ev, const struct mirror *m,
                        const struct mirror_session *s)
{
    (void)arg;
    (void)m;
    (void)s;
    mirror_events[ev]++;
}

struct mirror_pair {
    const struct mirror *a, *b;
    unsigned compared;
};

/* Every session of b is in a with the same fields (names compared as text). */
static void compare_one(void *arg, const struct mirror_session *sb)
{
    struct mirror_pair *p = arg;
    const struct mirror_session *sa = mirror_lookup(p->a, sb->id);
    assert_non_null(sa);
    assert_memory_equal(sa, sb, offsetof(struct mirror_session, policy_name));
    assert_string_equal(mirror_name(p->a, sa->policy_name), mirror_name(p->b, sb->policy_name));
    assert_string_equal(mirror_name(p->a, sa->application), mirror_name(p->b, sb->application));
    const size_t from = offsetof(struct mirror_session, snat_rule_id);
    assert_memory_equal((const uint8_t *)sa + from, (const uint8_t *)sb + from,
                        offsetof(struct mirror_session, next_id) - from);
    p->compared++;
}

static void sync_key(Moat__FlowKey *k, uint8_t *src, uint8_t *dst, size_t alen, uint32_t sport,
                     uint32_t dport, uint32_t proto)
{
    moat__flow_key__init(k);
    k->src.data = src;
    k->dst.data = dst;
    k->src.len = k->dst.len = alen;
    k->sport = sport;
    k->dport = dport;
    k->protocol = proto;
}

/* A proxied TCP session (SYN cookies) from the other path keeps its SYN-proxy numbers through
 * the compact record, the install and the record the helper sends back. */
static void test_sync_install_proxied(void **state)
{
    (void)state;
    struct env *e = env_new(100);
    add_worker(e, 0, IF_T);
    char err[256];
    assert_int_equal(flowctl_layout(&e->fc, e->t, err, sizeof(err)), 0);
    tick_all(e, 5000);
    uint8_t c[4], s[4];
    inet_pton(AF_INET, "10.77.1.2", c);
    inet_pton(AF_INET, "10.77.2.2", s);
    Moat__FlowKey fk[2];
    key_pair(fk, c, s, 40000, 80, 6);
    Moat__SessionRecord rec = MOAT__SESSION_RECORD__INIT;
    rec.id = (1ull << 62) | 77; /* a kernel-path session (MOAT_LG_ID_BIT) */
    rec.forward = &fk[0];
    rec.reverse = &fk[1];
    rec.from_zone = 1;
    rec.to_zone = 2;
    rec.in_ifindex = IF_T;
    rec.out_ifindex = IF_U;
    rec.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    rec.timeout = 1800;
    rec.policy_id = 1;
    rec.sp_phase = SP_EST;
    rec.sp_cookie = 0xc0010001u;
    rec.sp_client_isn = 0x11223344u;
    rec.sp_delta = 0x80000005u;
    rec.sp_window = 64240;
    struct sessrec sr;
    assert_true(sessrec_from_record(&rec, &sr));
    assert_int_equal(sr.sp_phase, SP_EST);
    assert_int_equal(sr.sp_delta, 0x80000005u);
    struct dp_delta d;
    assert_true(flowctl_sessrec_to_delta(&e->fc, &sr, e->t, &d));
    assert_int_equal(d.sp_phase, SP_EST);
    assert_int_equal(d.sp.cookie, 0xc0010001u);
    assert_int_equal(d.sp.cli_isn, 0x11223344u);
    assert_int_equal(d.sp.delta, 0x80000005u);
    assert_int_equal(d.sp.win, 64240);
    /* Not proxied, or not TCP: no numbers. */
    sr.sp_phase = 0;
    assert_true(flowctl_sessrec_to_delta(&e->fc, &sr, e->t, &d));
    assert_int_equal(d.sp_phase, 0);
    assert_int_equal(d.sp.delta, 0);
    sr.sp_phase = SP_EST;

    Moat__SessionInstall m = MOAT__SESSION_INSTALL__INIT;
    m.request_id = 8;
    m.records.data = (uint8_t *)&sr;
    m.records.len = sizeof(sr);
    flowctl_sync_install(&e->fc, &m);
    tick_all(e, 5001);
    flowctl_poll(&e->fc, 5001, false);
    struct dp_flow *fl = e->dp.flows[0];
    assert_int_equal(fl->t.active, 1);
    uint32_t idx = UINT32_MAX;
    for (uint32_t i = 0; i < fl->t.cap && idx == UINT32_MAX; i++)
        if (sess_at(&fl->t, i)->flags & SESS_F_USED)
            idx = i;
    assert_true(idx != UINT32_MAX);
    assert_int_equal(sess_at(&fl->t, idx)->icmp_code, SP_EST);
    assert_int_equal(fl->sps[idx].delta, 0x80000005u);
    assert_int_equal(fl->sps[idx].cookie, 0xc0010001u);
    /* And back: the record the helper sends for it carries them. */
    struct dp_delta back;
    dp_flow_record(fl, e->t, idx, &back);
    Moat__SessionRecord r2;
    Moat__FlowKey f2, b2;
    flowctl_delta_to_record(&e->fc, &back, &r2, &f2, &b2);
    assert_int_equal(r2.sp_phase, SP_EST);
    assert_int_equal(r2.sp_cookie, 0xc0010001u);
    assert_int_equal(r2.sp_client_isn, 0x11223344u);
    assert_int_equal(r2.sp_delta, 0x80000005u);
    assert_int_equal(r2.sp_window, 64240);
    env_free(e);
}

/* HA sync: the helper reports the sessions it installed from the peer's records as compact
 * creates (SessionDeltaBatch.created), each at its place among the other deltas; controld's
 * mirror ends up with the same sessions and fields as from the SessionRecords of the same
 * sessions, and a close followed by a new install of the same key stays in that order. */
static void test_sync_creates_compact(void **state)
{
    (void)state;
    struct env *e = env_new(100);
    add_worker(e, 0, IF_T);
    char err[256];
    assert_int_equal(flowctl_layout(&e->fc, e->t, err, sizeof(err)), 0);
    tick_all(e, 5000);
    uint8_t c[4], sv[4], vip[4], c6[16], s6[16];
    inet_pton(AF_INET, "10.77.1.2", c);
    inet_pton(AF_INET, "10.77.2.2", sv);
    inet_pton(AF_INET, "10.77.2.1", vip);
    inet_pton(AF_INET6, "fd00:1::2", c6);
    inet_pton(AF_INET6, "fd00:2::2", s6);
    enum { N = 4 };
    Moat__FlowKey fk[N][2];
    sync_key(&fk[0][0], c, sv, 4, 4444, 53, 17); /* UDP */
    sync_key(&fk[0][1], sv, c, 4, 53, 4444, 17);
    sync_key(&fk[1][0], c, sv, 4, 40000, 443, 6); /* TCP, source NAT to vip:1025 */
    sync_key(&fk[1][1], sv, vip, 4, 443, 1025, 6);
    sync_key(&fk[2][0], c, sv, 4, 77, 0, 1); /* ICMP echo id 77 */
    sync_key(&fk[2][1], sv, c, 4, 77, 0, 1);
    sync_key(&fk[3][0], c6, s6, 16, 5555, 8080, 17); /* IPv6 UDP */
    sync_key(&fk[3][1], s6, c6, 16, 8080, 5555, 17);
    struct sessrec sr[N + 2];
    for (int i = 0; i < N; i++) {
        Moat__SessionRecord rec = MOAT__SESSION_RECORD__INIT;
        rec.id = (1ull << 48) | (uint64_t)(100 + i); /* the peer's ids */
        rec.forward = &fk[i][0];
        rec.reverse = &fk[i][1];
        rec.from_zone = 1;
        rec.to_zone = 2;
        rec.in_ifindex = IF_T;
        rec.out_ifindex = IF_U;
        rec.policy_id = 1;
        rec.state =
            i != 2 ? MOAT__SESSION_STATE__SESSION_ESTABLISHED : MOAT__SESSION_STATE__SESSION_NEW;
        rec.packets_fwd = 10 + (uint64_t)i;
        rec.bytes_fwd = 1000 + (uint64_t)i;
        rec.packets_rev = 20 + (uint64_t)i;
        rec.bytes_rev = 2000 + (uint64_t)i;
        rec.created_unix_ms = 1700000001000ull + (uint64_t)i;
        rec.last_seen_unix_ms = 1700000004000ull + (uint64_t)i;
        rec.snat_rule_id = i == 1 ? 3 : 0;
        assert_true(sessrec_from_record(&rec, &sr[i]));
    }
    /* Then the peer closes the UDP session and a new one of the same key follows. */
    sr[N] = sr[0];
    sr[N].state = MOAT__SESSION_STATE__SESSION_CLOSED;
    sr[N + 1] = sr[0];
    sr[N + 1].id = (1ull << 48) | 200;
    Moat__SessionInstall m = MOAT__SESSION_INSTALL__INIT;
    m.request_id = 1;
    m.records.data = (uint8_t *)sr;
    m.records.len = sizeof(sr);
    flowctl_sync_install(&e->fc, &m);
    tick_all(e, 5001);
    flowctl_poll(&e->fc, 5001, true);
    assert_int_equal(e->dp.flows[0]->t.active, N);

    struct mirror a, b;
    assert_int_equal(mirror_init(&a, 1000), 0);
    assert_int_equal(mirror_init(&b, 1000), 0);
    size_t created = 0, plain = 0;
    memset(mirror_events, 0, sizeof(mirror_events));
    for (int i = 0; i < e->nsent; i++) {
        if (e->sent[i]->msg_case != MOAT__ENVELOPE__MSG_SESSION_DELTAS)
            continue;
        const Moat__SessionDeltaBatch *bt = e->sent[i]->session_deltas;
        created += bt->created.len / sizeof(struct sessrec);
        plain += bt->n_deltas;
        assert_int_equal(mirror_apply_batch(&a, bt, count_event, NULL), 0);
    }
    /* Five installs went compact; only the close is a SessionDelta. */
    assert_int_equal(created, N + 1);
    assert_int_equal(plain, 1);
    assert_int_equal(a.count, N);
    assert_int_equal(a.ctr.created, N + 1);
    assert_int_equal(a.ctr.closed[MOAT__CLOSE_REASON__CLOSE_CLEARED], 1);
    assert_int_equal(a.ctr.close_unknown, 0);
    assert_int_equal(a.ctr.replaced, 0);
    assert_int_equal(mirror_events[MIRROR_EV_CREATE], N + 1);
    assert_int_equal(mirror_events[MIRROR_EV_CLOSE], 1);

    /* The same sessions as SessionRecords (what the helper sent before). */
    void *args[2] = {&e->fc, &b};
    dp_flow_export(e->dp.flows[0], e->t, mirror_add_record, args);
    assert_int_equal(b.count, N);
    struct mirror_pair pair = {&a, &b, 0};
    mirror_foreach(&b, compare_one, &pair);
    assert_int_equal(pair.compared, N);
    /* Not empty: the names and the NAT id made it across. */
    unsigned nat = 0;
    for (int i = 0; i < e->nsent; i++) {
        const Moat__SessionDeltaBatch *bt = e->sent[i]->session_deltas;
        if (e->sent[i]->msg_case != MOAT__ENVELOPE__MSG_SESSION_DELTAS || !bt->created.len)
            continue;
        for (size_t j = 0; j < bt->created.len / sizeof(struct sessrec); j++) {
            struct sessrec r;
            memcpy(&r, bt->created.data + j * sizeof(r), sizeof(r));
            const struct mirror_session *ms = mirror_lookup(&a, r.id);
            if (!ms)
                continue; /* the closed one */
            assert_string_equal(mirror_name(&a, ms->policy_name), "allow-out");
            nat += ms->snat_rule_id == 3;
        }
    }
    assert_int_equal(nat, 1);
    mirror_free(&a);
    mirror_free(&b);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_and_records),
        cmocka_unit_test(test_clear_and_counters),
        cmocka_unit_test(test_reseed_from_snapshot),
        cmocka_unit_test(test_layout_change_moves_sessions),
        cmocka_unit_test(test_sync_install),
        cmocka_unit_test(test_sync_install_proxied),
        cmocka_unit_test(test_sync_creates_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
