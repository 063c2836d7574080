/* SPDX-License-Identifier: MIT */
#include "flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "reject.h"
#include "rewrite.h"
#include "tcp.h"
#include "wire.h"

/* moat.CloseReason */
enum {
    R_NONE = 0,
    R_AGED = 1,
    R_TCP_FIN = 2,
    R_TCP_RST = 3,
    R_CLEARED = 4,
    R_POLICY = 5,
    R_EARLY = 6,
    R_SHUTDOWN = 7,
};

/* Stages of a packet inside a batch. */
enum { ST_DONE = 0, ST_PLAIN, ST_FRAG, ST_ICMP_ERR, ST_LOOKUP };

static inline bool is_icmp(uint8_t proto)
{
    return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

/* ICMP informational replies: the reverse direction of a request. */
static inline bool icmp_is_reply(uint8_t family, uint8_t type)
{
    if (family == 4)
        return type == 0 || type == 14 || type == 16 || type == 18;
    return type == 129;
}

static inline bool icmp_is_echo(uint8_t family, uint8_t type)
{
    return family == 4 ? (type == 8 || type == 0) : (type == 128 || type == 129);
}

void dp_key_reverse(const struct flow_tuple *in, struct flow_tuple *out, uint16_t zone)
{
    if (is_icmp(in->proto)) {
        struct flow_tuple t = *in;
        memcpy(t.src, in->dst, 16);
        memcpy(t.dst, in->src, 16);
        t.dport = in->dport ^ htons(1);
        *out = t;
    } else {
        flow_tuple_reverse(in, out);
    }
    out->zone = zone;
}

/* The flow key of a packet, from the metadata only, and its hash: the key is put together
 * as the five words flow_tuple_hash() reads, hashed from registers, stored once. */
static inline uint64_t key_from_meta(struct flow_tuple *k, const struct moat_meta *m,
                                     uint8_t family, uint16_t zone, uint64_t seed)
{
    uint64_t w[5];
    if (family == 6) {
        memcpy(&w[0], m->src, 16);
        memcpy(&w[2], m->dst, 16);
    } else {
        uint32_t a, b;
        memcpy(&a, m->src, 4);
        memcpy(&b, m->dst, 4);
        w[0] = a; /* little-endian: the 4 address bytes first, then zeroes */
        w[1] = 0;
        w[2] = b;
        w[3] = 0;
    }
    uint16_t sp = 0, dp = 0;
    if (is_icmp(m->proto)) {
        sp = m->sport; /* echo identifier, else 0 */
        dp = htons(icmp_is_reply(family, m->icmp_type) ? 1 : 0);
    } else if (!(m->flags & MOAT_META_F_FRAG_NF)) {
        sp = m->sport;
        dp = m->dport;
    }
    w[4] = (uint64_t)sp | (uint64_t)dp << 16 | (uint64_t)m->proto << 32 | (uint64_t)family << 40 |
           (uint64_t)zone << 48;
    memcpy(k, w, sizeof(w));
    return flow_tuple_hash_words(w, seed);
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "key_from_meta() packs words LE");
_Static_assert(offsetof(struct flow_tuple, sport) == 32 && offsetof(struct flow_tuple, zone) == 38,
               "key_from_meta() follows struct flow_tuple");

/* What a policy is matched on, for a session's (or packet's) forward key. */
static inline void pol_key_of(struct pol_key *pk, const struct flow_tuple *k, uint8_t icmp_type,
                              uint8_t icmp_code)
{
    pk->family = k->family;
    pk->proto = k->proto;
    pk->src = k->src;
    pk->dst = k->dst;
    if (is_icmp(k->proto)) {
        pk->sport = 0;
        pk->dport = (uint16_t)(icmp_type << 8 | icmp_code);
    } else {
        pk->sport = ntohs(k->sport);
        pk->dport = ntohs(k->dport);
    }
}

static uint32_t timeout_s(const struct dp_flow_cfg *c, const struct dp_session *s)
{
    const uint8_t proto = s->d[0].key.proto;
    if (proto == IPPROTO_TCP) {
        switch (s->state) {
        case SESS_SYN_SENT:
        case SESS_SYN_RECV:
            return c->tcp_initial;
        case SESS_ESTABLISHED:
            return s->app_timeout ? s->app_timeout : c->tcp_established;
        default:
            return c->tcp_closing;
        }
    }
    if (s->app_timeout)
        return s->app_timeout;
    if (proto == IPPROTO_UDP)
        return c->udp;
    if (is_icmp(proto))
        return c->icmp;
    return c->other;
}

static inline uint64_t last_seen_ms(const struct dp_flow *f, const struct dp_session *s)
{
    return f->now_ms - (uint32_t)(f->now32 - s->last_seen);
}

static inline uint32_t idle_bucket(uint64_t ms)
{
    return (uint32_t)((ms / DP_IDLE_BUCKET_MS) & (DP_IDLE_BUCKETS - 1));
}

/* ---- NAT helpers ---- */

static inline uint32_t get_v4(const uint8_t *a)
{
    uint32_t v;
    memcpy(&v, a, 4);
    return ntohl(v);
}

static inline void put_v4(uint8_t *a, uint32_t host)
{
    const uint32_t v = htonl(host);
    memcpy(a, &v, 4);
}

static void nat_ctx_of(struct nat_ctx *c, const struct flow_tuple *k, uint16_t in_zone,
                       uint32_t in_if)
{
    memset(c, 0, sizeof(*c));
    c->src = get_v4(k->src);
    c->dst = get_v4(k->dst);
    c->proto = k->proto;
    c->dport = (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP) ? ntohs(k->dport) : 0;
    c->in_zone = in_zone;
    c->in_if = in_if;
}

/* Drops the mapping reference a session of forward key k holds (src 0: none). */
static void nat_unref(struct dp_flow *f, const struct flow_tuple *k, uint16_t src)
{
    if (src)
        nat_port_release(&f->np, get_v4(k->src), ntohs(k->sport), k->proto, src);
}

/* ---- records and deltas ---- */

void dp_flow_record(const struct dp_flow *f, const struct dp_tables *t, uint32_t idx,
                    struct dp_delta *d)
{
    const struct dp_session *s = sess_at(&f->t, idx);
    d->kind = DP_DELTA_UPDATE;
    d->state = s->state;
    d->reason = R_NONE;
    d->synced = 0;
    d->policy_slot = s->policy_slot;
    d->app_slot = s->app_slot;
    d->timeout = t ? timeout_s(&t->flow, s) : s->app_timeout;
    d->worker = f->worker;
    d->id = s->id;
    d->fwd = s->d[0].key;
    d->rev = s->d[1].key;
    d->in_ifindex = s->d[0].ifindex;
    d->out_ifindex = s->d[1].ifindex;
    d->packets[0] = s->d[0].packets;
    d->packets[1] = s->d[1].packets;
    d->bytes[0] = s->d[0].bytes;
    d->bytes[1] = s->d[1].bytes;
    d->created_unix_ms = s->created_unix_ms;
    d->last_seen_unix_ms = (uint64_t)((int64_t)last_seen_ms(f, s) + f->dp->unix_offset_ms);
    d->app_timeout = s->app_timeout;
    d->icmp_type = s->icmp_type;
    d->icmp_code = s->d[0].key.proto == IPPROTO_TCP ? 0 : s->icmp_code; /* TCP: SYN proxy */
    d->snat_rule_id = f->snat[idx].snat_rule;
    d->dnat_rule_id = f->snat[idx].dnat_rule;
    d->snat_pool_id = f->snat[idx].snat_pool;
    d->sp_phase = s->d[0].key.proto == IPPROTO_TCP ? s->icmp_code : SP_NONE;
    if (d->sp_phase)
        d->sp = f->sps[idx];
    else
        memset(&d->sp, 0, sizeof(d->sp));
}

static void emit_delta(struct dp_flow *f, uint32_t idx, uint8_t kind, uint8_t reason, bool synced)
{
    struct dp_delta *d = spsc_ring_prod_slot(&f->deltas);
    if (!d) {
        f->st->deltas_dropped++;
        atomic_fetch_add_explicit(&f->deltas_lost, 1, memory_order_relaxed);
        return;
    }
    dp_flow_record(f, f->tab, idx, d);
    d->kind = kind;
    d->reason = reason;
    d->synced = synced;
    spsc_ring_prod_commit(&f->deltas);
    f->st->deltas_produced++;
    /* Quiet times: the first delta in a while goes to controld at once (its session
     * mirror lags by a flush period otherwise); busy times batch. */
    if (f->now_ms - f->last_kick_ms >= DP_KICK_MIN_MS && spsc_ring_count(&f->deltas) == 1) {
        f->kick = true;
        f->last_kick_ms = f->now_ms;
    }
    sess_at(&f->t, idx)->last_update = f->now32;
}

static void emit(struct dp_flow *f, uint32_t idx, uint8_t kind, uint8_t reason)
{
    emit_delta(f, idx, kind, reason, false);
}

/* ---- closing ---- */

static void sess_close(struct dp_flow *f, uint32_t idx, uint8_t reason)
{
    struct moat_worker_stats *st = f->st;
    emit(f, idx, DP_DELTA_CLOSE, reason);
    switch (reason) {
    case R_AGED:
        st->sessions_closed_aged++;
        break;
    case R_TCP_FIN:
    case R_TCP_RST:
        st->sessions_closed_tcp++;
        break;
    default:
        st->sessions_closed_other++;
        break;
    }
    timer_unlink(&f->wheel, idx);
    timer_unlink(&f->idle, idx);
    nat_unref(f, &sess_at(&f->t, idx)->d[0].key, f->snat[idx].port_src);
    memset(&f->snat[idx], 0, sizeof(f->snat[idx]));
    screen_session_del(f->scr, &sess_at(&f->t, idx)->d[0].key);
    sess_remove(&f->t, idx);
    st->sessions_active = f->t.active;
}

static uint8_t expiry_reason(const struct dp_session *s)
{
    if (s->d[0].key.proto == IPPROTO_TCP) {
        if (s->state == SESS_TIME_WAIT || s->state == SESS_CLOSING)
            return R_TCP_FIN;
        if (s->state == SESS_CLOSED)
            return R_TCP_RST;
    }
    return R_AGED;
}

static uint64_t on_deadline(void *ctx, uint32_t idx, uint64_t now)
{
    struct dp_flow *f = ctx;
    struct dp_session *s = sess_at(&f->t, idx);
    if (!(s->flags & SESS_F_USED))
        return 0;
    const uint64_t to = (uint64_t)timeout_s(&f->tab->flow, s) * 1000;
    const uint64_t idle = (uint32_t)(f->now32 - s->last_seen);
    if (idle < to)
        return now + (to - idle); /* touched since it was armed: lazily re-armed */
    sess_close(f, idx, expiry_reason(s));
    return 0;
}

/* Early aging stops at the bucket of the previous second: a session seen this second or the
 * one before is never closed early, so a live flow is not cut for flood sessions created in
 * the same second (a flood that fills the table within a second gets its new flows dropped
 * and counted as session_table_full instead). */
static inline uint32_t early_stop(uint32_t nowb)
{
    return (nowb - 1) & (DP_IDLE_BUCKETS - 1);
}

/* Above the high watermark: close the sessions idle the longest until below the low one.
 * The idle wheel holds each session in the bucket of its last-seen second as of when it
 * was linked; walking from the oldest bucket, a session seen since is moved to its bucket,
 * one that was not is closed. */
static void early_aging(struct dp_flow *f, const struct dp_tables *t)
{
    const uint64_t cap = f->t.cap;
    const uint32_t hw = t->flow.high_wm, lw = t->flow.low_wm;
    if (!f->early) {
        if (hw >= 100 || (uint64_t)f->t.active * 100 <= (uint64_t)hw * cap)
            return;
        f->early = true;
        f->idle_cursor = (idle_bucket(f->now_ms) + 1) & (DP_IDLE_BUCKETS - 1);
    }
    const uint32_t nowb = idle_bucket(f->now_ms);
    for (uint32_t budget = DP_EARLY_BUDGET; budget; budget--) {
        if ((uint64_t)f->t.active * 100 <= (uint64_t)lw * cap) {
            f->early = false;
            return;
        }
        if (f->idle_cursor == early_stop(nowb))
            return; /* everything left was seen this second or the last: wait */
        uint32_t idx = timer_pop(&f->idle, f->idle_cursor);
        if (idx == TIMER_NONE) {
            f->idle_cursor = (f->idle_cursor + 1) & (DP_IDLE_BUCKETS - 1);
            continue;
        }
        struct dp_session *s = sess_at(&f->t, idx);
        uint32_t b = idle_bucket(last_seen_ms(f, s));
        if (b != f->idle_cursor) {
            timer_link(&f->idle, idx, b);
            continue;
        }
        sess_close(f, idx, R_EARLY);
    }
}

static void reeval_step(struct dp_flow *f, const struct dp_tables *t, uint32_t budget)
{
    /* One sweep over the table per generation: sessions created behind the cursor were
     * matched against this generation already; those ahead are re-checked (again). */
    while (budget-- && f->reeval_cursor < f->t.cap) {
        uint32_t idx = f->reeval_cursor++;
        struct dp_session *s = sess_at(&f->t, idx);
        if (!(s->flags & SESS_F_USED))
            continue;
        struct pol_key pk;
        struct pol_result r;
        /* As on the first packet: the destination after destination NAT. */
        struct flow_tuple pkey = s->d[0].key;
        memcpy(pkey.dst, s->d[1].key.src, 16);
        if (!is_icmp(pkey.proto))
            pkey.dport = s->d[1].key.sport;
        pol_key_of(&pk, &pkey, s->icmp_type, s->icmp_code);
        pol_lookup(t->pol, s->d[0].key.zone, s->d[1].key.zone, &pk, &r);
        if (r.action != POL_PERMIT) {
            sess_close(f, idx, R_POLICY);
            continue;
        }
        s->policy_slot = r.slot;
        s->app_slot = r.app_slot;
        s->app_timeout = r.app_timeout;
    }
    if (f->reeval_cursor >= f->t.cap)
        f->reeval = false;
}

static void commands(struct dp_flow *f)
{
    for (uint32_t n = 0; n < DP_CMD_BUDGET; n++) {
        struct dp_cmd *c = spsc_ring_cons_peek(&f->cmds);
        if (!c)
            return;
        if (c->op == DP_CMD_CLEAR) {
            uint32_t idx = sess_find_id(&f->t, c->id);
            if (idx != SESS_NONE) {
                sess_close(f, idx, R_CLEARED);
                f->cmd_closed++;
            }
        } else if (c->op == DP_CMD_SYNC) {
            const struct dp_delta *rec = (const struct dp_delta *)(uintptr_t)c->id;
            if (dp_flow_sync(f, f->tab, rec) < 0)
                f->sync_failed++;
            else
                f->sync_done++;
            atomic_fetch_add_explicit(&f->sync_consumed, 1, memory_order_release);
        } else if (c->op == DP_CMD_CLEAR_END) {
            struct dp_cmd_reply r = {c->req, f->cmd_closed};
            if (!spsc_ring_push(&f->replies, &r))
                return; /* the control thread has not read the last ones yet: later */
            f->cmd_closed = 0;
            f->kick = true;
        }
        spsc_ring_cons_release(&f->cmds);
    }
}

/* The tables of this pass: cached routes of other tables are stale. */
static inline void use_tables(struct dp_flow *f, const struct dp_tables *t)
{
    f->tab = t;
    if (t && t->version != f->tab_version) {
        f->tab_version = t->version;
        if (++f->route_epoch == 0)
            f->route_epoch = 1;
    }
}

void dp_flow_tick(struct dp_flow *f, const struct dp_tables *t, uint64_t now_ms)
{
    f->now_ms = now_ms;
    f->now32 = (uint32_t)now_ms;
    use_tables(f, t);
    if (!t)
        return;
    if (t->generation != f->cur_gen) {
        f->cur_gen = t->generation;
        if (t->flow.reevaluate && t->pol && f->t.active) {
            f->reeval = true;
            f->reeval_cursor = 0;
        }
    }
    /* The workers whose rates make the box-wide screen thresholds (screen.h). */
    struct scr_worker *ws[MOAT_MAX_WORKERS];
    const uint32_t nf = f->dp->nflows <= MOAT_MAX_WORKERS ? f->dp->nflows : MOAT_MAX_WORKERS;
    for (uint32_t w = 0; w < nf; w++)
        ws[w] = f->dp->flows[w] ? f->dp->flows[w]->scr : NULL;
    scr_worker_peers(f->scr, ws, nf);
    commands(f);
    timer_run(&f->wheel, now_ms, DP_AGING_BUDGET, on_deadline, f);
    early_aging(f, t);
    if (f->reeval)
        reeval_step(f, t, DP_REEVAL_BUDGET);
    f->st->sessions_active = f->t.active;
}

bool dp_flow_busy(const struct dp_flow *f)
{
    if (!f->tab)
        return false;
    /* Commands left over (more than one pass's budget, e.g. an HA bulk sync): no sleep. */
    return f->reeval || (f->early && f->idle_cursor != early_stop(idle_bucket(f->now_ms))) ||
           f->wheel.cur_tick <= f->now_ms / DP_TIMER_TICK_MS ||
           spsc_ring_count((struct spsc_ring *)&f->cmds) != 0;
}

/* ---- forwarding ---- */

/* Looks up the route of the packet: the egress interface (index in t->ifs), or -1 with the
 * drop counted. */
static int route_to(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p,
                    const uint8_t *dst, const struct fib_route **out)
{
    const struct fib_route *r = fib_lookup(t->fib, p->pi.family, dst);
    if (!r) {
        f->st->fib_miss++;
        return -1;
    }
    if (r->oif < 0 || t->ifs[r->oif].port < 0) {
        f->st->no_egress_xsk++;
        return -1;
    }
    *out = r;
    return r->oif;
}

static inline int route(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p,
                        const struct fib_route **out)
{
    return route_to(f, t, p, p->m->dst, out);
}

/* Answers a packet back out of the interface it came in on, from the box's address there:
 * reject: what a reject policy sends (reject.h: a TCP RST, else ICMP administratively
 * prohibited); otherwise an ICMP error of that kind (mtu: for ICMP_ERR_TOO_BIG). Rejects and
 * ICMP errors share one rate limit (DP_REJECT_RATE a second). Leaves the verdict a drop when
 * nothing is sent. */
static void send_answer(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p, bool reject,
                        enum icmp_error_kind kind, uint32_t mtu)
{
    if (f->now_ms - f->rj_refill_ms >= 1000) {
        f->rj_tokens = DP_REJECT_RATE;
        f->rj_refill_ms = f->now_ms;
    }
    if (!f->rj_tokens || !t)
        return;
    const int16_t in_if = p->in_port < MOAT_MAX_IFACES ? t->port_if[p->in_port] : -1;
    if (in_if < 0)
        return;
    const struct dp_iface *inf = &t->ifs[in_if];
    const uint8_t *our =
        p->pi.family == 6 ? (inf->has_v6 ? inf->v6 : NULL) : (inf->has_v4 ? inf->v4 : NULL);
    const uint32_t n =
        reject ? reject_build(p->data, p->len, p->room, &p->pi, p->m, inf->mac, our)
               : icmp_error_build(p->data, p->len, p->room, &p->pi, p->m, inf->mac, our, kind, mtu);
    if (!n)
        return;
    /* A SYN rebuilt from a cookie ACK: its client took the cookie SYN-ACK and is established,
     * a SYN's reset (seq 0) would be out of its window: the reset carries what it expects (the
     * ACK's acknowledgement number). reject_build() answers a TCP SYN with its 20-byte TCP
     * header last. */
    if (reject && p->sp_ack && p->m->proto == IPPROTO_TCP)
        sc_set_seq(p->data + n - 20, p->sp_cookie + 1);
    f->rj_tokens--;
    if (reject)
        f->st->rejects_sent++;
    else
        f->st->icmp_errors_sent++;
    p->verdict = DP_V_TX;
    p->out_port = (uint16_t)inf->port;
    p->out = p->data;
    p->out_len = n;
}

static void send_icmp_error(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p,
                            enum icmp_error_kind kind, uint32_t mtu)
{
    send_answer(f, t, p, false, kind, mtu);
}

static void send_reject(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p)
{
    send_answer(f, t, p, true, ICMP_ERR_PROHIBITED, 0);
}

/* TTL / hop limit: a packet that would leave with 0 is answered with time exceeded, before
 * any session, policy or translation (as a router does: traceroute shows the box). */
static inline bool ttl_ok(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p)
{
    if (__builtin_expect(p->pi.ttl > 1, 1))
        return true;
    f->st->ttl_expired++;
    send_icmp_error(f, t, p, ICMP_ERR_TIME_EXCEEDED, 0);
    return false;
}

/* MTU: a packet larger than the egress MTU is dropped and counted; with DF set (always for
 * IPv6) the sender learns the MTU (fragmentation needed / packet too big). Checked before a
 * translation so that the quoted header is the sender's own. */
static inline bool fits_mtu(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p,
                            const struct dp_iface *oif)
{
    if (__builtin_expect(p->pi.l3_len <= oif->mtu, 1))
        return true;
    f->st->mtu_drops++;
    if (p->pi.family == 6 || (p->data[p->pi.l3_off + 6] & 0x40))
        send_icmp_error(f, t, p, ICMP_ERR_TOO_BIG, oif->mtu);
    return false;
}

/* Rewrites a packet of a translated session, direction dir, from the session's keys only:
 * it leaves as the other direction's key reversed (ICMP echo: the identifier of that key). */
static inline void nat_apply(struct dp_pkt *p, const struct dp_session *s, unsigned dir)
{
    if (p->pi.family != 4)
        return;
    const struct flow_tuple *o = &s->d[dir ^ 1].key;
    uint32_t src, dst;
    memcpy(&src, o->dst, 4);
    memcpy(&dst, o->src, 4);
    uint8_t *l4 = (p->m->flags & MOAT_META_F_L4) ? p->data + p->m->l4_off : NULL;
    const uint8_t proto = o->proto;
    const uint16_t sport = proto == IPPROTO_ICMP ? o->sport : o->dport;
    rewrite_nat_v4(p->data + p->pi.l3_off, l4, proto, src, dst, sport, o->sport);
}

/* MTU, translation, rewrite: the verdict for a packet going out of oif to mac; s: its
 * session, which translates it in direction dir when the session does (NULL: no session).
 * The one MTU check of every forwarded packet, before the translation: an ICMP error about
 * it quotes the sender's own packet. Its TTL was checked by ttl_ok() in stage_key(), which
 * every packet passes before it can get here (the SYN the proxy rebuilds from a cookie ACK
 * keeps that ACK's IP header: sp_miss()). */
static inline __attribute__((always_inline)) void
transmit(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p, const struct dp_iface *oif,
         const uint8_t *mac, const struct dp_session *s, unsigned dir)
{
    if (!fits_mtu(f, t, p, oif))
        return;
    if (s && (s->flags & SESS_F_NAT))
        nat_apply(p, s, dir);
    uint8_t *pkt = p->data;
    /* The datagram only: bytes after the IP total length (or IPv6 payload) never leave. */
    uint32_t len = p->pi.l3_off + p->pi.l3_len;
    if (p->pi.family == 4)
        rewrite_ipv4_ttl(pkt + p->pi.l3_off);
    else
        rewrite_ipv6_hop(pkt + p->pi.l3_off);
    if (p->pi.vlan_tags) {
        pkt = rewrite_strip_vlan(pkt, p->pi.vlan_tags);
        len -= VLAN_HDR_LEN * p->pi.vlan_tags;
    }
    rewrite_l2(pkt, mac, oif->mac);
    p->verdict = DP_V_TX;
    p->out_port = (uint16_t)oif->port;
    p->out = pkt;
    p->out_len = len;
}

/* The neighbour slot of a routed packet's next hop, or -1 (a resolve is asked for). */
static int next_hop(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p,
                    const struct fib_route *r, const uint8_t *dst)
{
    const uint8_t *nh = fib_nexthop(r, dst);
    int slot = neigh_lookup_slot(t->neigh, p->pi.family, nh, r->ifindex);
    if (slot < 0) {
        f->st->neigh_miss++;
        p->verdict = DP_V_NEIGH_MISS;
        p->nh = nh;
        p->nh_family = p->pi.family;
        p->nh_ifindex = r->ifindex;
    }
    return slot;
}

/* Neighbour, MTU, rewrite: the verdict for a packet without a session routed by r to dst. */
static void finish(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p,
                   const struct fib_route *r, const uint8_t *dst)
{
    int slot = next_hop(f, t, p, r, dst);
    if (slot >= 0)
        transmit(f, t, p, &t->ifs[r->oif], t->neigh->slots[slot].mac, NULL, 0);
}

/* Plain routing for interfaces in no zone (no sessions). */
static void forward_plain(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p)
{
    const struct fib_route *r;
    int oif = route(f, t, p, &r);
    if (oif < 0)
        return;
    if (t->ifs[oif].zone != 0) {
        f->st->policy_deny++; /* from no zone into a zone: no policy can allow it */
        return;
    }
    finish(f, t, p, r, p->m->dst);
}

static void forward(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p)
{
    const struct fib_route *r;
    if (route(f, t, p, &r) >= 0)
        finish(f, t, p, r, p->m->dst);
}

/* ---- fragments ---- */

/* The fragment id of the packet (IPv4 identification, IPv6 fragment header). */
static bool frag_id(const struct dp_pkt *p, uint32_t *id)
{
    const uint8_t *ip = p->data + p->pi.l3_off;
    if (p->pi.family == 4) {
        *id = rd16(ip + 4);
        return true;
    }
    const uint32_t end = p->pi.l3_off + p->pi.l3_len;
    uint32_t off = p->pi.l3_off + 40;
    uint8_t nh = ip[6];
    for (int i = 0; i < 8; i++) {
        if (nh == 44) {
            if (off + 8 > end)
                return false;
            const uint8_t *fh = p->data + off;
            *id = rd32(fh + 4);
            return true;
        }
        if (nh != 0 && nh != 43 && nh != 60)
            return false;
        if (off + 8 > end)
            return false;
        nh = p->data[off];
        off += ((uint32_t)p->data[off + 1] + 1) * 8;
    }
    return false;
}

static bool frag_key(const struct dp_pkt *p, struct flow_tuple *k)
{
    uint32_t id;
    if (!frag_id(p, &id))
        return false;
    const unsigned alen = p->pi.family == 6 ? 16 : 4;
    memset(k, 0, sizeof(*k));
    memcpy(k->src, p->m->src, alen);
    memcpy(k->dst, p->m->dst, alen);
    k->proto = p->m->proto;
    k->family = p->pi.family;
    k->zone = p->in_zone;
    k->sport = (uint16_t)(id >> 16);
    k->dport = (uint16_t)id;
    return true;
}

static inline struct dp_frag *frag_slot(struct dp_flow *f, const struct flow_tuple *k)
{
    return &f->frags[flow_tuple_hash(k, f->t.seed ^ 0x5eed) & (DP_FRAG_SLOTS - 1)];
}

static void frag_remember(struct dp_flow *f, const struct dp_pkt *p, uint32_t idx, uint8_t dir)
{
    struct flow_tuple k;
    if (!frag_key(p, &k))
        return;
    struct dp_frag *e = frag_slot(f, &k);
    e->key = k;
    e->idx = idx;
    e->dir = dir;
    e->sess_id = sess_at(&f->t, idx)->id;
    e->expires = f->now32 + DP_FRAG_TTL_MS;
}

/* ---- the session path ---- */

/* A session hit: replies of a translated session are found by their translated tuple (the
 * session's reverse key, in the same index): those are counted as NAT-reverse hits. */
static inline void count_hit(struct dp_flow *f, const struct dp_session *s, unsigned dir)
{
    if (dir == 1 && (s->flags & SESS_F_NAT))
        f->st->nat_reverse_hit++;
    else
        f->st->session_hit++;
}

#define NH_NONE UINT32_MAX

/* Forwards a packet of session s in direction dir, through its route cache when valid. */
static void forward_session(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p,
                            struct dp_session *s, unsigned dir)
{
    const struct dp_iface *oif;
    const uint8_t *mac;
    if (s->route_epoch == f->route_epoch && s->d[dir].nh != NH_NONE) {
        const uint32_t nh = s->d[dir].nh;
        oif = &t->ifs[nh >> 24];
        mac = t->neigh->slots[nh & 0xffffff].mac;
    } else {
        /* The destination the packet leaves with (translated under NAT): the source of the
         * other direction's key. */
        const uint8_t *dst = s->d[dir ^ 1].key.src;
        const struct fib_route *r;
        if (route_to(f, t, p, dst, &r) < 0)
            return;
        int slot = next_hop(f, t, p, r, dst);
        if (slot < 0)
            return;
        if (s->route_epoch != f->route_epoch) {
            s->route_epoch = f->route_epoch;
            s->d[0].nh = s->d[1].nh = NH_NONE;
        }
        if ((uint32_t)slot < (1u << 24) && r->oif < 256)
            s->d[dir].nh = (uint32_t)r->oif << 24 | (uint32_t)slot;
        oif = &t->ifs[r->oif];
        mac = t->neigh->slots[slot].mac;
    }
    transmit(f, t, p, oif, mac, s, dir);
}

/* ---- SYN proxy (synproxy.h) ---- */

/* A packet of proxied session idx: translated (true: forward it), or dealt with here. */
__attribute__((noinline)) static bool sp_session(struct dp_flow *f, struct dp_pkt *p, uint32_t idx,
                                                 unsigned dir)
{
    struct dp_session *s = sess_at(&f->t, idx);
    struct sp_sess *x = &f->sps[idx];
    if (!(p->m->flags & MOAT_META_F_L4))
        return true; /* a non-first fragment: no TCP header to translate */
    uint8_t *th = p->data + p->m->l4_off;
    if (s->icmp_code == SP_EST) {
        sp_translate(th, dir, x->delta);
        return true;
    }
    const uint8_t fl = th[13];
    if (dir == 1 && (fl & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK) &&
        rd32(th + 8) == x->cli_isn + 1) {
        /* The server's SYN-ACK: the handshake's last ACK goes back to it. */
        x->delta = rd32(th + 4) - x->cookie;
        const uint32_t n = sp_synack_to_ack(p->data, p->room, &p->pi, p->m, x->win);
        if (n) {
            s->icmp_code = SP_EST;
            /* The state change's UPDATE went out before this: the mirror (the kernel path's
             * seeding, the handover) gets the delta now, once per proxied session. */
            emit(f, idx, DP_DELTA_UPDATE, R_NONE);
            p->verdict = DP_V_TX;
            p->out_port = p->in_port;
            p->out = p->data;
            p->out_len = n;
        }
        return false;
    }
    if (dir == 1 && (fl & TCPF_RST)) {
        sp_translate(th, 1, rd32(th + 4) - (x->cookie + 1)); /* as the client expects it */
        return true;
    }
    return false; /* the client's packets before the server answered: it retransmits */
}

/* Cookies were sent (by any worker, or by the kernel path: the word both share) in this slot or
 * the one before. */
static bool sp_recent(const struct dp_flow *f, uint32_t slot)
{
    const _Atomic uint32_t *shared = f->dp->sp_recent;
    if (shared && atomic_load_explicit(shared, memory_order_relaxed) >= slot)
        return true;
    const uint32_t n = f->dp->nflows;
    for (uint32_t w = 0; w < (n ? n : 1); w++) {
        const struct dp_flow *o = n ? f->dp->flows[w] : f;
        if (o && atomic_load_explicit(&o->sp_last, memory_order_relaxed) >= slot)
            return true; /* slot + 1 >= now - 1 + 1 */
    }
    return false;
}

static void new_flow(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p);
static inline __attribute__((always_inline)) void
session_packet(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p, uint32_t ref);

/* A TCP packet that matched no session, in syn-cookie mode: a SYN the screen marked gets a
 * cookie; a pure ACK in a zone with a syn-flood screen, while cookies are out, is checked as
 * an answer to one. True when dealt with here (sent, dropped, or opened as a proxied flow). */
__attribute__((noinline, cold)) static bool sp_miss(struct dp_flow *f, const struct dp_tables *t,
                                                    struct dp_pkt *p)
{
    const struct moat_meta *m = p->m;
    if (!(m->flags & MOAT_META_F_L4))
        return false;
    uint8_t *th = p->data + m->l4_off;
    const uint8_t fl = th[13];
    const uint32_t slot = sp_slot(f->now_ms);
    uint64_t *ctr = f->scr->ctr[p->in_zone];
    if (p->sp) {
        const uint32_t end = p->pi.l3_off + p->pi.l3_len;
        const uint16_t mss = sp_syn_mss(th, end - m->l4_off);
        const int16_t in_if = t->port_if[p->in_port];
        const uint32_t mtu = in_if >= 0 ? t->ifs[in_if].mtu : 1500;
        const uint32_t hdrs = p->pi.family == 6 ? 60 : 40;
        const uint16_t adv = (uint16_t)(mtu > hdrs + 1460  ? 1460
                                        : mtu > hdrs + 536 ? mtu - hdrs
                                                           : 536);
        const uint32_t c = sp_cookie_make(&t->spk, &p->key, rd32(th + 4), slot, sp_mss_index(mss));
        const uint32_t n = sp_build_synack(p->data, p->room, &p->pi, m, c, adv);
        if (!n) {
            ctr[SCR_C_SYN_FLOOD]++;
            return true;
        }
        ctr[SCR_C_COOKIE_SENT]++;
        if (atomic_load_explicit(&f->sp_last, memory_order_relaxed) != slot + 1)
            atomic_store_explicit(&f->sp_last, slot + 1, memory_order_relaxed);
        _Atomic uint32_t *shared = f->dp->sp_recent;
        if (shared && atomic_load_explicit(shared, memory_order_relaxed) < slot + 1)
            atomic_store_explicit(shared, slot + 1, memory_order_relaxed);
        p->verdict = DP_V_TX;
        p->out_port = p->in_port;
        p->out = p->data;
        p->out_len = n;
        return true;
    }
    if ((fl & (TCPF_SYN | TCPF_ACK | TCPF_RST | TCPF_FIN)) != TCPF_ACK)
        return false;
    const struct scr_profile *sp = scr_of_zone(&t->scr, p->in_zone);
    if (!sp || !sp->syn_cookie || !(sp->syn_attack | sp->syn_dst) || !sp_recent(f, slot))
        return false;
    /* The client's first data may share a batch with its cookie ACK: the batch's lookups
     * predate the session that ACK opened. */
    const uint32_t ref0 = sess_lookup(&f->t, &p->key, p->h);
    if (ref0 != SESS_NONE) {
        session_packet(f, t, p, ref0);
        return true;
    }
    const uint32_t cli_isn = rd32(th + 4) - 1, cookie = rd32(th + 8) - 1;
    const uint16_t win = (uint16_t)(th[14] << 8 | th[15]);
    uint16_t mss;
    if (!sp_cookie_check(&t->spk, &p->key, cli_isn, cookie, slot, &mss)) {
        ctr[SCR_C_COOKIE_INVALID]++;
        return true;
    }
    /* The SYN is rebuilt in place behind the ACK's IP header: its TTL (and p->pi.ttl) is the
     * ACK's, which ttl_ok() passed in stage_key() (test_ttl_cookie_ack). */
    const uint32_t n = sp_ack_to_syn(p->data, p->room, &p->pi, m, cli_isn, mss);
    if (!n) {
        ctr[SCR_C_COOKIE_INVALID]++;
        return true;
    }
    p->len = n;
    ctr[SCR_C_COOKIE_VALID]++;
    p->sp_ack = 1;
    p->sp_cookie = cookie;
    new_flow(f, t, p); /* the client's SYN, as it first sent it */
    const uint32_t ref = sess_lookup(&f->t, &p->key, p->h);
    if (ref == SESS_NONE || (ref & 1))
        return true; /* refused (policy, NAT, table full: counted there) */
    struct dp_session *s = sess_at(&f->t, ref >> 1);
    if (s->state != SESS_SYN_SENT || s->icmp_code != SP_NONE)
        return true;
    s->icmp_code = SP_WAIT;
    s->flags |= SESS_F_NAT;
    f->sps[ref >> 1] = (struct sp_sess){cookie, cli_isn, 0, win, 0};
    return true;
}

/* Counts a packet of session idx in direction dir and forwards it. state_changed: the
 * packet moved the session to another state (new timeout, UPDATE delta with the counters
 * that include it); otherwise an active session gets a periodic UPDATE every 2 s. */
static void count_and_forward(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p,
                              uint32_t idx, unsigned dir, bool state_changed)
{
    struct dp_session *s = sess_at(&f->t, idx);
    const uint32_t bytes = p->pi.l3_len;
    s->d[dir].packets++;
    s->d[dir].bytes += bytes;
    s->last_seen = f->now32;
    struct dp_pol_ctr *pc = &f->pctr[s->policy_slot];
    pc->packets++;
    pc->bytes += bytes;
    if (state_changed) {
        timer_arm(&f->wheel, idx, f->now_ms + (uint64_t)timeout_s(&t->flow, s) * 1000);
        emit(f, idx, DP_DELTA_UPDATE, R_NONE);
    } else if ((uint32_t)(f->now32 - s->last_update) >= DP_UPDATE_INTERVAL_MS) {
        /* Due: at the end of the batch, when the other direction's line has arrived. */
        s->last_update = f->now32;
        if (f->nupd < sizeof(f->upd) / sizeof(f->upd[0])) {
            __builtin_prefetch(&s->d[dir ^ 1]);
            f->upd[f->nupd].idx = idx;
            f->upd[f->nupd].id = s->id;
            f->nupd++;
        } else {
            emit(f, idx, DP_DELTA_UPDATE, R_NONE);
        }
    }
    if ((p->m->flags & (MOAT_META_F_FRAG | MOAT_META_F_FRAG_NF)) == MOAT_META_F_FRAG)
        frag_remember(f, p, idx, (uint8_t)dir);
    /* Proxied sessions (SYN cookies) carry SESS_F_NAT: one test, behind that branch. */
    if ((s->flags & SESS_F_NAT) && __builtin_expect(s->icmp_code != SP_NONE, 0) &&
        s->d[dir].key.proto == IPPROTO_TCP && !sp_session(f, p, idx, dir))
        return;
    forward_session(f, t, p, s, dir); /* translates the packet when the session does */
}

/* Inlined into the batch loop (the SYN proxy's cold path calls it too). */
static inline __attribute__((always_inline)) void
session_packet(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p, uint32_t ref)
{
    const uint32_t idx = ref >> 1;
    const unsigned dir = ref & 1;
    struct dp_session *s = sess_at(&f->t, idx);
    const uint8_t old = s->state;
    if (p->key.proto == IPPROTO_TCP) { /* the packet's: the same, and on this line */
        if (!(p->m->flags & MOAT_META_F_L4)) {
            f->st->tcp_invalid++;
            return;
        }
        const uint8_t flags = p->data[p->m->l4_off + 13];
        /* The common case first: data or ACKs on an established connection. */
        if (s->state == SESS_ESTABLISHED &&
            (flags & (TCPF_SYN | TCPF_FIN | TCPF_RST | TCPF_ACK)) == TCPF_ACK) {
            count_hit(f, s, dir);
            count_and_forward(f, t, p, idx, dir, false);
            return;
        }
        switch (tcp_track(&s->state, &s->flags, dir, flags)) {
        case TCP_ACCEPT:
            break;
        case TCP_INVALID:
            f->st->tcp_invalid++;
            return;
        case TCP_REOPEN:
            /* A new connection on the tuple of a finished one. */
            sess_close(f, idx, s->state == SESS_CLOSED ? R_TCP_RST : R_TCP_FIN);
            f->st->session_miss++;
            new_flow(f, t, p);
            return;
        }
    } else if (dir == 1 && s->state == SESS_NEW) {
        s->state = SESS_ESTABLISHED;
    }
    count_hit(f, s, dir);
    count_and_forward(f, t, p, idx, dir, s->state != old);
}

/* ---- NAT on the first packet ---- */

/*
 * NAT, source side: static (reverse), then source rules (the egress known), then the
 * hairpin case — a destination-translated flow going back out of the zone it came from
 * gets interface SNAT when no source rule matched, so the reply returns through the box.
 * Updates xk's source (and port) and sn. False: the flow must be dropped (counted).
 */
static bool nat_source(struct dp_flow *f, const struct dp_tables *t, const struct dp_pkt *p,
                       struct nat_ctx *nc, const struct nat_rule *dr, int oif, uint32_t out_ifindex,
                       uint16_t out_zone, struct flow_tuple *xk, struct dp_sess_nat *sn)
{
    nc->out_zone = out_zone;
    nc->out_if = out_ifindex;
    const struct nat_rule *sr = NULL;
    if (!(dr && dr->kind == NAT_K_STATIC)) {
        sr = nat_match_static_out(t->nat, nc);
        if (sr) {
            put_v4(xk->src, sr->dst[0].addr | (nc->src & ~sr->stat.mask));
            sn->snat_rule = (uint16_t)sr->id;
            return true;
        }
    }
    sr = nat_match_source(t->nat, nc);
    bool iface;
    if (sr) {
        if (sr->action != NAT_A_INTERFACE && sr->action != NAT_A_POOL)
            return true; /* source-nat off */
        iface = sr->action == NAT_A_INTERFACE;
    } else if (dr && out_zone == p->in_zone) {
        iface = true; /* hairpin */
    } else {
        return true;
    }
    struct nat_req rq = {0};
    rq.int_addr = nc->src;
    rq.proto = xk->proto;
    rq.worker = f->worker;
    rq.nworkers = (uint16_t)(f->dp->nflows ? f->dp->nflows : 1);
    if (iface) {
        const struct dp_iface *ifc = &t->ifs[oif];
        rq.src = (uint16_t)(NAT_SRC_IF + oif);
        if (!ifc->has_v4)
            goto fail;
        rq.if_addr = get_v4(ifc->v4);
    } else {
        rq.src = sr->pool_id;
        rq.pool = t->nat->spool[sr->pool_id];
        sn->snat_pool = sr->pool_id;
    }
    sn->snat_rule = sr ? (uint16_t)sr->id : 0;
    const bool ports = nat_has_ports(xk->proto) && (p->m->flags & MOAT_META_F_L4) &&
                       (xk->proto != IPPROTO_ICMP || icmp_is_echo(4, p->m->icmp_type));
    if (!ports) {
        /* Address only: the pool address of this host, or the interface's. */
        uint32_t ea = rq.if_addr;
        if (rq.pool)
            ea = nat_spool_addr(rq.pool,
                                rq.pool->naddr > 1 ? (nc->src * 2654435761u) % rq.pool->naddr : 0);
        put_v4(xk->src, ea);
        return true;
    }
    rq.int_port = ntohs(xk->sport);
    uint32_t ea;
    uint16_t ep;
    if (nat_port_alloc(&f->np, &rq, &ea, &ep) != 0)
        goto fail;
    put_v4(xk->src, ea);
    xk->sport = htons(ep);
    sn->port_src = rq.src;
    return true;
fail:
    f->st->nat_alloc_failures++;
    if (sr)
        f->nctr[sr->id].failures++;
    return false;
}

/* Screens on a new flow: the session limits of the ingress zone's screen (screen.h). */
static inline bool screen_flow_ok(struct dp_flow *f, const struct dp_tables *t,
                                  const struct dp_pkt *p)
{
    const struct scr_profile *sp = scr_of_zone(&t->scr, p->in_zone);
    if (!sp || !(sp->limit_src | sp->limit_dst))
        return true;
    struct scr_worker *ws[MOAT_MAX_WORKERS];
    const uint32_t n = f->dp->nflows ? f->dp->nflows : 1;
    for (uint32_t w = 0; w < n; w++)
        ws[w] = f->dp->nflows ? (f->dp->flows[w] ? f->dp->flows[w]->scr : NULL) : f->scr;
    return screen_new_flow(f->scr, sp, &p->key, ws, n);
}

static void new_flow(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p)
{
    struct moat_worker_stats *st = f->st;
    const struct moat_meta *m = p->m;
    if (m->proto == IPPROTO_TCP) {
        if (!(m->flags & MOAT_META_F_L4)) {
            st->tcp_invalid++;
            return;
        }
        const uint8_t flags = p->data[m->l4_off + 13];
        if (!tcp_flags_sane(flags)) {
            st->tcp_invalid++;
            return;
        }
        if (!tcp_is_initial_syn(flags)) {
            st->non_syn_drops++;
            return;
        }
    }
    if (!screen_flow_ok(f, t, p))
        return;
    /* NAT, destination side (static, then destination rules): xk is the flow's tuple as it
     * will leave the box; routing and policy see its destination. */
    struct flow_tuple xk = p->key;
    struct nat_ctx nc;
    const struct nat_rule *dr = NULL;
    const bool nat_on = t->nat && p->pi.family == 4;
    const bool has_ports = m->proto == IPPROTO_TCP || m->proto == IPPROTO_UDP;
    if (nat_on) {
        nat_ctx_of(&nc, &p->key, p->in_zone, m->ifindex);
        dr = nat_match_static_in(t->nat, &nc);
        if (dr) {
            put_v4(xk.dst, dr->stat.addr | (nc.dst & ~dr->stat.mask));
        } else if ((dr = nat_match_dest(t->nat, &nc)) && dr->action == NAT_A_POOL) {
            const struct nat_dpool *dp = t->nat->dpool[dr->pool_id];
            put_v4(xk.dst, dp->addr);
            if (dp->port && has_ports)
                xk.dport = htons(dp->port);
        } else {
            dr = NULL;
        }
        if (dr) {
            nc.dst = get_v4(xk.dst);
            nc.dport = has_ports ? ntohs(xk.dport) : 0;
        }
    }
    const struct fib_route *r;
    int oif = route_to(f, t, p, xk.dst, &r);
    if (oif < 0)
        return;
    const uint16_t out_zone = t->ifs[oif].zone;
    p->out_zone = out_zone;
    if (out_zone == 0 || !t->pol) {
        st->policy_deny++; /* from a zone into no zone */
        return;
    }
    struct pol_key pk;
    struct pol_result res;
    /* Policies see the destination after destination NAT, the source before source NAT. */
    pol_key_of(&pk, &xk, m->icmp_type, m->icmp_code);
    pol_lookup(t->pol, p->in_zone, out_zone, &pk, &res);
    p->pol_slot = res.slot;
    struct dp_pol_ctr *pc = &f->pctr[res.slot];
    pc->hits++;
    if (res.action != POL_PERMIT) {
        pc->packets++;
        pc->bytes += p->pi.l3_len;
        if (res.action == POL_REJECT) {
            st->policy_reject++;
            send_reject(f, t, p);
        } else {
            st->policy_deny++;
        }
        return;
    }
    st->policy_permit++;
    uint32_t idx = sess_alloc(&f->t);
    if (idx == SESS_NONE) {
        st->session_table_full++;
        return;
    }
    struct dp_sess_nat sn = {0, dr ? (uint16_t)dr->id : 0, 0, 0};
    if (nat_on && !nat_source(f, t, p, &nc, dr, oif, r->ifindex, out_zone, &xk, &sn)) {
        sess_release(&f->t, idx);
        return;
    }
    struct dp_session *s = sess_at(&f->t, idx);
    s->d[0].key = p->key;
    dp_key_reverse(&xk, &s->d[1].key, out_zone);
    if (sess_insert(&f->t, idx) != 0) {
        sess_release(&f->t, idx);
        nat_unref(f, &p->key, sn.port_src);
        st->session_conflicts++;
        return;
    }
    f->snat[idx] = sn;
    screen_session_add(f->scr, &p->key);
    /* Ids: the use count of the slot goes up by one each time. */
    uint64_t use = s->id ? ((s->id & ((1ull << 48) - 1)) >> f->t.slot_bits) + 1 : 1;
    s->id = sess_make_id(&f->t, idx, use);
    s->d[0].packets = s->d[1].packets = 0;
    s->d[0].bytes = s->d[1].bytes = 0;
    s->state = m->proto == IPPROTO_TCP ? SESS_SYN_SENT : SESS_NEW;
    s->flags &= SESS_F_USED | SESS_F_SAME_KEY | SESS_F_SHARED;
    if (!flow_tuple_eq(&xk, &p->key)) {
        s->flags |= SESS_F_NAT;
        st->nat_sessions++;
        if (sn.dnat_rule)
            f->nctr[sn.dnat_rule].hits++;
        if (sn.snat_rule)
            f->nctr[sn.snat_rule].hits++;
    }
    s->policy_slot = res.slot;
    s->app_slot = res.app_slot;
    s->app_timeout = res.app_timeout;
    s->icmp_type = is_icmp(m->proto) ? m->icmp_type : 0;
    s->icmp_code = is_icmp(m->proto) ? m->icmp_code : 0;
    s->d[0].ifindex = m->ifindex;
    s->d[1].ifindex = r->ifindex;
    s->created_unix_ms = (uint64_t)((int64_t)f->now_ms + f->dp->unix_offset_ms);
    s->last_seen = f->now32;
    s->last_update = f->now32;
    timer_arm(&f->wheel, idx, f->now_ms + (uint64_t)timeout_s(&t->flow, s) * 1000);
    timer_link(&f->idle, idx, idle_bucket(f->now_ms));
    st->sessions_created++;
    st->sessions_active = f->t.active;
    /* The first packet, then the record that shows it. */
    s->d[0].packets = 1;
    s->d[0].bytes = p->pi.l3_len;
    pc->packets++;
    pc->bytes += p->pi.l3_len;
    emit(f, idx, DP_DELTA_CREATE, R_NONE);
    if ((m->flags & (MOAT_META_F_FRAG | MOAT_META_F_FRAG_NF)) == MOAT_META_F_FRAG)
        frag_remember(f, p, idx, 0);
    s->route_epoch = f->route_epoch;
    s->d[0].nh = s->d[1].nh = NH_NONE;
    int slot = next_hop(f, t, p, r, xk.dst);
    if (slot < 0)
        return;
    if ((uint32_t)slot < (1u << 24) && r->oif < 256)
        s->d[0].nh = (uint32_t)r->oif << 24 | (uint32_t)slot;
    transmit(f, t, p, &t->ifs[r->oif], t->neigh->slots[slot].mac, s, 0);
}

/* Another worker's shared partition holds the key: that worker, or -1. */
static int shared_owner(const struct dp_flow *f, uint64_t h)
{
    const struct dp *dp = f->dp;
    for (uint32_t w = 0; w < dp->nflows; w++) {
        const struct dp_flow *o = dp->flows[w];
        if (w == f->worker || !o || !o->t.shared)
            continue;
        if (sess_shared_has(o->t.shared, h))
            return (int)w;
    }
    return -1;
}

static bool try_handoff(struct dp_flow *f, struct dp_pkt *p, uint64_t h)
{
    if (p->handed || f->dp->nflows < 2)
        return false;
    int w = shared_owner(f, h);
    if (w < 0)
        return false;
    f->st->shared_hit++;
    p->verdict = DP_V_HANDOFF;
    p->out_port = (uint16_t)w;
    return true;
}

/* ---- ICMP errors ---- */

/* The key of the packet an ICMP error quotes (as that packet was sent), from the frame,
 * bounded by the outer packet. */
static bool quoted_key(const struct dp_pkt *p, struct flow_tuple *q)
{
    const uint32_t end = p->pi.l3_off + p->pi.l3_len;
    uint32_t off = (uint32_t)p->m->l4_off + 8;
    const uint8_t *d = p->data;
    const uint8_t fam = p->pi.family;
    memset(q, 0, sizeof(*q));
    q->family = fam;
    uint8_t proto;
    if (fam == 4) {
        if (off + 20 > end || (d[off] >> 4) != 4)
            return false;
        uint32_t hl = (uint32_t)(d[off] & 15) * 4;
        if (hl < 20 || (rd16(d + off + 6) & 0x1fff) != 0)
            return false; /* a non-first fragment quotes no ports */
        proto = d[off + 9];
        memcpy(q->src, d + off + 12, 4);
        memcpy(q->dst, d + off + 16, 4);
        off += hl;
    } else {
        if (off + 40 > end || (d[off] >> 4) != 6)
            return false;
        memcpy(q->src, d + off + 8, 16);
        memcpy(q->dst, d + off + 24, 16);
        proto = d[off + 6];
        off += 40;
        for (int i = 0; i < 4 && (proto == 0 || proto == 43 || proto == 60 || proto == 44); i++) {
            if (off + 8 > end)
                return false;
            if (proto == 44) {
                if ((rd16(d + off + 2) & 0xfff8) != 0)
                    return false;
                proto = d[off];
                off += 8;
            } else {
                proto = d[off];
                off += ((uint32_t)d[off + 1] + 1) * 8;
            }
        }
    }
    q->proto = proto;
    if (off + 8 > end)
        return false;
    if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == 132 || proto == 136) {
        memcpy(&q->sport, d + off, 2);
        memcpy(&q->dport, d + off + 2, 2);
    } else if (is_icmp(proto)) {
        uint8_t type = d[off];
        if (!icmp_is_echo(fam, type) && !icmp_is_reply(fam, type) && type != 13 && type != 15 &&
            type != 17)
            return false; /* an error about an error */
        if (icmp_is_echo(fam, type))
            memcpy(&q->sport, d + off + 4, 2);
        q->dport = htons(icmp_is_reply(fam, type) ? 1 : 0);
    }
    return true;
}

static void icmp_error(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p)
{
    struct flow_tuple q;
    if (!(p->m->flags & MOAT_META_F_L4) || !quoted_key(p, &q) ||
        memcmp(q.src, p->m->dst, p->pi.family == 6 ? 16 : 4) != 0) {
        f->st->icmp_error_unmatched++;
        return;
    }
    /* The error travels against the quoted packet: look up the quoted key reversed, in the
     * zone the error arrived in. */
    struct flow_tuple k;
    dp_key_reverse(&q, &k, p->in_zone);
    uint64_t h = sess_hash(&f->t, &k);
    uint32_t ref = sess_lookup(&f->t, &k, h);
    if (ref == SESS_NONE) {
        if (!try_handoff(f, p, h))
            f->st->icmp_error_unmatched++;
        return;
    }
    struct dp_session *s = sess_at(&f->t, ref >> 1);
    s->last_seen = f->now32;
    f->st->icmp_error_related++;
    if (!(s->flags & SESS_F_NAT) || p->pi.family != 4) {
        forward(f, t, p);
        return;
    }
    /* The error travels in direction dir; the packet it quotes was one of direction dir ^ 1
     * as it left the box: it is put back as its sender sent it (that direction's key), and
     * the error goes to that sender. */
    const struct flow_tuple *o = &s->d[(ref & 1) ^ 1].key;
    uint32_t qsrc, qdst;
    memcpy(&qsrc, o->src, 4);
    memcpy(&qdst, o->dst, 4);
    uint8_t *ip = p->data + p->pi.l3_off;
    if (!rewrite_icmp_err_v4(ip, p->pi.l3_len, p->data + p->m->l4_off, qsrc, qdst, o->sport,
                             o->dport, qsrc)) {
        f->st->icmp_error_unmatched++;
        return;
    }
    f->st->nat_icmp_errors++;
    const struct fib_route *r;
    if (route_to(f, t, p, o->src, &r) < 0)
        return;
    finish(f, t, p, r, o->src);
}

static void fragment(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p)
{
    struct flow_tuple k;
    if (frag_key(p, &k)) {
        struct dp_frag *e = frag_slot(f, &k);
        if (flow_tuple_eq(&e->key, &k) && (int32_t)(e->expires - f->now32) > 0) {
            uint32_t idx = e->idx;
            const struct dp_session *s = sess_at(&f->t, idx);
            if ((s->flags & SESS_F_USED) && s->id == e->sess_id) {
                f->st->session_hit++;
                count_and_forward(f, t, p, idx, e->dir, false);
                return;
            }
        }
    }
    f->st->frag_drops++;
}

/* ---- the batch ---- */

/* Stage 1: validate, key, hash, prefetch the index line. */
static inline void stage_key(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *q)
{
    q->verdict = DP_V_DROP;
    q->stage = ST_DONE;
    q->sp = 0;
    q->sp_ack = 0;
    if (parse_packet(q->data, q->len, q->m, &q->pi) != 0) {
        f->st->parse_errors++;
        return;
    }
    if (!t) {
        f->st->fib_miss++;
        return;
    }
    const int16_t in_if = q->in_port < MOAT_MAX_IFACES ? t->port_if[q->in_port] : -1;
    q->in_zone = in_if >= 0 ? t->ifs[in_if].zone : 0;
    if (q->in_zone == 0) {
        if (ttl_ok(f, t, q))
            q->stage = ST_PLAIN;
        return;
    }
    const struct scr_profile *sp = scr_of_zone(&t->scr, q->in_zone);
    if (sp) {
        const enum scr_verdict v =
            screen_packet(f->scr, sp, q->in_zone, q->data, q->len, q->m, q->pi.l3_off, f->now32);
        if (v == SCR_DROP)
            return; /* dropped by the zone's screen (counted) */
        q->sp = v == SCR_COOKIE;
    }
    if (!ttl_ok(f, t, q))
        return;
    if (q->m->flags & MOAT_META_F_FRAG_NF) {
        q->stage = ST_FRAG;
        return;
    }
    if (q->m->flags & MOAT_META_F_ICMP_ERR) {
        q->stage = ST_ICMP_ERR;
        return;
    }
    q->h = key_from_meta(&q->key, q->m, q->pi.family, q->in_zone, f->t.seed);
    sess_prefetch_index(&f->t, q->h);
    q->stage = ST_LOOKUP;
}

/* Stage 3: decide. */
static inline void stage_decide(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *q)
{
    switch (q->stage) {
    case ST_PLAIN:
        forward_plain(f, t, q);
        break;
    case ST_FRAG:
        fragment(f, t, q);
        break;
    case ST_ICMP_ERR:
        icmp_error(f, t, q);
        break;
    case ST_LOOKUP: {
        uint32_t ref = sess_lookup_from(&f->t, &q->key, q->h, &q->probe);
        if (ref != SESS_NONE) {
            session_packet(f, t, q, ref);
            break;
        }
        if (try_handoff(f, q, q->h))
            break;
        f->st->session_miss++;
        if (__builtin_expect(t->flow.syn_cookie, 0) && q->key.proto == IPPROTO_TCP &&
            sp_miss(f, t, q))
            break;
        new_flow(f, t, q);
        break;
    }
    default:
        break;
    }
}

void dp_flow_batch(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p, uint32_t n)
{
    /* Three passes over the batch so that its memory accesses overlap: all index lines are
     * requested, then all sessions, before the first packet needs its own. (A rolling
     * pipeline a few packets deep measured slower here: fewer misses in flight.) */
    if (f->tab != t)
        use_tables(f, t);
    for (uint32_t i = 0; i < n; i++)
        stage_key(f, t, &p[i]);
    for (uint32_t i = 0; i < n; i++)
        if (p[i].stage == ST_LOOKUP)
            sess_find_candidate(&f->t, p[i].h, &p[i].probe);
    /* A translated session's packet also reads the other direction's key (nat_apply()): that
     * third line is requested for the whole batch too, once the candidates' shared lines
     * (their flags) have been asked for; a packet with no candidate is likely a new flow and
     * the port allocator's bucket is asked for. Only where NAT is configured. */
    for (uint32_t i = 0; t && t->nat && i < n; i++) {
        const uint32_t ref = p[i].probe.ref;
        if (p[i].stage != ST_LOOKUP)
            continue;
        if (ref != SESS_NONE) {
            const struct dp_session *s = sess_at(&f->t, ref >> 1);
            if (s->flags & SESS_F_NAT)
                __builtin_prefetch(&s->d[(ref & 1) ^ 1]);
        } else if (p[i].pi.family == 4 && nat_has_ports(p[i].key.proto)) {
            /* Likely a new flow: the port allocator's first line. */
            nat_port_prefetch(&f->np, get_v4(p[i].key.src), ntohs(p[i].key.sport), p[i].key.proto);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        stage_decide(f, t, &p[i]);
    /* Periodic updates of sessions still there (one closed meanwhile sent its CLOSE). */
    for (uint32_t i = 0; i < f->nupd; i++) {
        const struct dp_session *s = sess_at(&f->t, f->upd[i].idx);
        if ((s->flags & SESS_F_USED) && s->id == f->upd[i].id)
            emit(f, f->upd[i].idx, DP_DELTA_UPDATE, R_NONE);
    }
    f->nupd = 0;
    if (spsc_ring_count(&f->deltas) >= DP_DELTA_KICK && f->now_ms - f->last_kick_ms >= 5) {
        f->kick = true;
        f->last_kick_ms = f->now_ms;
    }
}

/* ---- setup ---- */

int dp_flow_create(struct dp_flow **out, struct dp *dp, uint16_t worker, uint32_t cap, bool shared,
                   struct moat_worker_stats *st, uint64_t now_ms)
{
    *out = NULL;
    struct dp_flow *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->worker = worker;
    f->dp = dp;
    f->st = st;
    f->now_ms = now_ms;
    f->now32 = (uint32_t)now_ms;
    atomic_init(&f->deltas_lost, 0);
    int rc = sess_table_init_progress(&f->t, cap, worker, dp->flow_seed, shared, dp->progress,
                                      dp->progress_arg);
    if (!rc)
        rc = timer_wheel_init(&f->wheel, DP_TIMER_SLOTS, DP_TIMER_TICK_MS, f->t.s,
                              sizeof(struct dp_session), offsetof(struct dp_session, tn), now_ms);
    if (!rc)
        rc = timer_wheel_init(&f->idle, DP_IDLE_BUCKETS, DP_IDLE_BUCKET_MS, f->t.s,
                              sizeof(struct dp_session), offsetof(struct dp_session, idle), now_ms);
    if (!rc)
        rc = spsc_ring_init(&f->deltas, DP_DELTA_RING, sizeof(struct dp_delta));
    if (!rc)
        rc = spsc_ring_init(&f->cmds, DP_CMD_RING, sizeof(struct dp_cmd));
    if (!rc)
        rc = spsc_ring_init(&f->replies, DP_REPLY_RING, sizeof(struct dp_cmd_reply));
    if (!rc) {
        f->pctr = calloc(POL_MAX_SLOTS, sizeof(*f->pctr));
        f->frags = calloc(DP_FRAG_SLOTS, sizeof(*f->frags));
        f->snat = calloc(f->t.cap, sizeof(*f->snat));
        f->nctr = calloc(NAT_MAX_RULES, sizeof(*f->nctr));
        f->sps = calloc(f->t.cap, sizeof(*f->sps));
        if (!f->pctr || !f->frags || !f->snat || !f->nctr || !f->sps)
            rc = -ENOMEM;
    }
    if (!rc)
        rc = nat_ports_init(&f->np, f->t.cap);
    if (!rc)
        rc = scr_worker_create(&f->scr, dp->flow_seed);
    if (rc) {
        dp_flow_destroy(f);
        return rc;
    }
    f->rj_tokens = DP_REJECT_RATE;
    f->rj_refill_ms = now_ms;
    f->route_epoch = 1;
    *out = f;
    return 0;
}

void dp_flow_destroy(struct dp_flow *f)
{
    if (!f)
        return;
    sess_table_free(&f->t);
    timer_wheel_free(&f->wheel);
    timer_wheel_free(&f->idle);
    if (f->deltas.size)
        spsc_ring_free(&f->deltas);
    if (f->cmds.size)
        spsc_ring_free(&f->cmds);
    if (f->replies.size)
        spsc_ring_free(&f->replies);
    free(f->pctr);
    free(f->frags);
    free(f->snat);
    free(f->nctr);
    free(f->sps);
    if (f->np.m)
        nat_ports_free(&f->np);
    scr_worker_destroy(f->scr);
    free(f);
}

size_t dp_flow_bytes(const struct dp_flow *f)
{
    return sizeof(*f) + sess_table_bytes(&f->t) +
           (size_t)(DP_TIMER_SLOTS + DP_IDLE_BUCKETS) * sizeof(uint32_t) +
           (size_t)DP_DELTA_RING * sizeof(struct dp_delta) +
           (size_t)DP_CMD_RING * sizeof(struct dp_cmd) +
           (size_t)POL_MAX_SLOTS * sizeof(struct dp_pol_ctr) +
           (size_t)DP_FRAG_SLOTS * sizeof(struct dp_frag) +
           (size_t)f->t.cap * (sizeof(struct dp_sess_nat) + sizeof(struct sp_sess)) +
           (size_t)NAT_MAX_RULES * sizeof(struct dp_nat_ctr) + nat_ports_bytes(&f->np) +
           sizeof(struct scr_worker);
}

/* ---- export / install (control thread, worker stopped) ---- */

void dp_flow_export(const struct dp_flow *f, const struct dp_tables *t,
                    void (*fn)(void *arg, const struct dp_delta *rec), void *arg)
{
    for (uint32_t i = 0; i < f->t.cap; i++) {
        if (!(f->t.s[i].flags & SESS_F_USED))
            continue;
        struct dp_delta d;
        dp_flow_record(f, t, i, &d);
        fn(arg, &d);
    }
}

/* The NAT decision a record carries: the keys (SESS_F_NAT when they are not mirror images),
 * the rule ids, and a reference on the source mapping (the external endpoint is the reverse
 * key's destination). A mapping this worker cannot take (held otherwise) leaves the session
 * working, without a reference. */
static void install_nat(struct dp_flow *f, const struct dp_tables *t, uint32_t idx,
                        const struct dp_delta *rec)
{
    struct dp_session *s = sess_at(&f->t, idx);
    struct dp_sess_nat *sn = &f->snat[idx];
    memset(sn, 0, sizeof(*sn));
    struct flow_tuple mirror;
    dp_key_reverse(&rec->fwd, &mirror, rec->rev.zone);
    if (flow_tuple_eq(&mirror, &rec->rev))
        return;
    s->flags |= SESS_F_NAT;
    sn->snat_rule = rec->snat_rule_id;
    sn->dnat_rule = rec->dnat_rule_id;
    sn->snat_pool = rec->snat_pool_id;
    const struct flow_tuple *k = &rec->fwd;
    if (k->family != 4 || !nat_has_ports(k->proto))
        return;
    const bool snat_port =
        memcmp(rec->rev.dst, k->src, 4) != 0 ||
        (k->proto == IPPROTO_ICMP ? rec->rev.sport != k->sport : rec->rev.dport != k->sport);
    if (!snat_port)
        return;
    uint16_t src = rec->snat_pool_id;
    if (!src && t) {
        for (uint32_t i = 0; i < t->nifs; i++)
            if (t->ifs[i].ifindex == rec->out_ifindex)
                src = (uint16_t)(NAT_SRC_IF + i);
    }
    if (!src || src >= NAT_SRC_SLOTS)
        return;
    const uint16_t ep = ntohs(k->proto == IPPROTO_ICMP ? rec->rev.sport : rec->rev.dport);
    if (nat_port_claim(&f->np, get_v4(k->src), ntohs(k->sport), k->proto, src, get_v4(rec->rev.dst),
                       ep) == 0)
        sn->port_src = src;
}

static int install(struct dp_flow *f, const struct dp_tables *t, const struct dp_delta *rec,
                   bool keep_id, bool synced)
{
    uint32_t idx = SESS_NONE;
    if (keep_id) {
        idx = sess_id_slot(&f->t, rec->id);
        if (idx == SESS_NONE || !sess_claim(&f->t, idx))
            return -ENOSPC;
    } else {
        idx = sess_alloc(&f->t);
        if (idx == SESS_NONE)
            return -ENOSPC;
    }
    struct dp_session *s = sess_at(&f->t, idx);
    uint64_t prev_id = s->id;
    s->d[0].key = rec->fwd;
    s->d[1].key = rec->rev;
    if (sess_insert(&f->t, idx) != 0) {
        sess_release(&f->t, idx);
        return -EEXIST;
    }
    screen_session_add(f->scr, &s->d[0].key);
    if (keep_id) {
        s->id = rec->id;
    } else {
        uint64_t use = prev_id ? ((prev_id & ((1ull << 48) - 1)) >> f->t.slot_bits) + 1 : 1;
        s->id = sess_make_id(&f->t, idx, use);
    }
    s->d[0].packets = rec->packets[0];
    s->d[1].packets = rec->packets[1];
    s->d[0].bytes = rec->bytes[0];
    s->d[1].bytes = rec->bytes[1];
    s->state = rec->state <= SESS_CLOSED ? rec->state : SESS_ESTABLISHED;
    if (s->d[0].key.proto == IPPROTO_TCP && s->state >= SESS_FIN_WAIT && s->state <= SESS_TIME_WAIT)
        s->flags |= SESS_F_FIN_FWD | (s->state >= SESS_CLOSING ? SESS_F_FIN_REV : 0);
    s->policy_slot = rec->policy_slot;
    s->app_slot = rec->app_slot;
    s->app_timeout = rec->app_timeout;
    s->icmp_type = rec->icmp_type;
    s->icmp_code = s->d[0].key.proto == IPPROTO_TCP ? 0 : rec->icmp_code; /* TCP: SYN proxy */
    s->route_epoch = 0;
    s->d[0].ifindex = rec->in_ifindex;
    s->d[1].ifindex = rec->out_ifindex;
    install_nat(f, t, idx, rec);
    if (s->d[0].key.proto == IPPROTO_TCP && (rec->sp_phase == SP_WAIT || rec->sp_phase == SP_EST)) {
        s->icmp_code = (uint8_t)rec->sp_phase; /* a proxied session moving to a new layout */
        s->flags |= SESS_F_NAT;
        f->sps[idx] = rec->sp;
    }
    s->created_unix_ms = rec->created_unix_ms;
    /* Last seen, on the worker clock; never in the future, never beyond a timeout ago. */
    int64_t ls = (int64_t)rec->last_seen_unix_ms - f->dp->unix_offset_ms;
    if (ls > (int64_t)f->now_ms || ls <= 0)
        ls = (int64_t)f->now_ms;
    s->last_seen = (uint32_t)ls;
    s->last_update = f->now32;
    const uint32_t to = t ? timeout_s(&t->flow, s) : DP_DEF_UDP;
    timer_arm(&f->wheel, idx, (uint64_t)ls + (uint64_t)to * 1000);
    timer_link(&f->idle, idx, idle_bucket((uint64_t)ls));
    f->st->sessions_active = f->t.active;
    if (!keep_id || s->id != rec->id) {
        const struct dp_tables *saved = f->tab;
        f->tab = t;
        emit_delta(f, idx, DP_DELTA_CREATE, R_NONE, synced);
        f->tab = saved;
    }
    return 0;
}

int dp_flow_install(struct dp_flow *f, const struct dp_tables *t, const struct dp_delta *rec,
                    bool keep_id)
{
    return install(f, t, rec, keep_id, false);
}

int dp_flow_sync(struct dp_flow *f, const struct dp_tables *t, const struct dp_delta *rec)
{
    const bool close = rec->kind == DP_DELTA_CLOSE || rec->state == SESS_CLOSED;
    const uint32_t ref = sess_lookup(&f->t, &rec->fwd, sess_hash(&f->t, &rec->fwd));
    if (ref != SESS_NONE) {
        const uint32_t idx = ref >> 1;
        struct dp_session *s = sess_at(&f->t, idx);
        if (close) {
            sess_close(f, idx, R_CLEARED);
            return 1;
        }
        if (rec->state > s->state && rec->state < SESS_CLOSED) {
            s->state = rec->state;
            if (s->d[0].key.proto == IPPROTO_TCP && s->state >= SESS_FIN_WAIT)
                s->flags |= SESS_F_FIN_FWD | (s->state >= SESS_CLOSING ? SESS_F_FIN_REV : 0);
        }
        /* The peer's counters: what the session carried there (a standby session carries
         * nothing here; an active one keeps the larger of the two, never going back). */
        for (int i = 0; i < 2; i++) {
            if (rec->packets[i] > s->d[i].packets)
                s->d[i].packets = rec->packets[i];
            if (rec->bytes[i] > s->d[i].bytes)
                s->d[i].bytes = rec->bytes[i];
        }
        /* The peer saw the session alive: it stays alive here too, with its state's timeout,
         * and the mirror learns its state (a later bulk sync from here sends it on). */
        s->last_seen = f->now32;
        const uint32_t to = t ? timeout_s(&t->flow, s) : DP_DEF_UDP;
        timer_arm(&f->wheel, idx, f->now_ms + (uint64_t)to * 1000);
        emit(f, idx, DP_DELTA_UPDATE, R_NONE);
        return 1;
    }
    if (close)
        return 1;
    return install(f, t, rec, false, true);
}

void dp_flow_install_done(struct dp_flow *f)
{
    sess_rebuild_free(&f->t);
}

bool dp_flow_trace_session(struct dp_flow *f, const struct dp_tables *t, const struct dp_pkt *p,
                           struct dp_delta *rec)
{
    if (p->stage != ST_LOOKUP)
        return false;
    const uint32_t ref = sess_lookup(&f->t, &p->key, p->h);
    if (ref == SESS_NONE)
        return false;
    dp_flow_record(f, t, ref >> 1, rec);
    return true;
}
