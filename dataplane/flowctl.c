/* SPDX-License-Identifier: MIT */
#include "flowctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

struct flowctl_clear {
    struct flowctl_clear *next;
    uint64_t req;
    uint64_t *ids;
    size_t n, next_i;
    uint32_t end_todo; /* workers still to be sent the end marker */
    uint32_t waiting;  /* workers whose reply is awaited */
    uint32_t woken;
    uint64_t closed;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int flowctl_init(struct flowctl *fc, struct dp *dp,
                 int (*send)(void *arg, const Moat__Envelope *env), void *send_arg)
{
    memset(fc, 0, sizeof(*fc));
    fc->dp = dp;
    fc->send = send;
    fc->send_arg = send_arg;
    int rc = pol_names_init(&fc->pnames, POL_MAX_SLOTS, "", "default-policy");
    if (!rc) {
        rc = pol_names_init(&fc->anames, 65535, "", "");
        if (rc)
            pol_names_free(&fc->pnames);
    }
    return rc;
}

static void send_install_reply(struct flowctl *fc, uint64_t req, uint64_t records, bool lost);

static void destroy_flows(struct flowctl *fc)
{
    struct dp *dp = fc->dp;
    for (uint32_t w = 0; w < MOAT_MAX_WORKERS; w++) {
        dp_flow_destroy(dp->flows[w]);
        dp->flows[w] = NULL;
    }
    dp->nflows = 0;
    /* Commands in the old rings are gone with them: say so, and count afresh. */
    while (fc->sync_pend_n) {
        struct flowctl_sync_pending *p = &fc->sync_pend[fc->sync_pend_head];
        send_install_reply(fc, p->req, p->records, true);
        fc->sync_pend_head = (fc->sync_pend_head + 1) % DP_SYNC_PENDING;
        fc->sync_pend_n--;
    }
    memset(fc->sync_pushed, 0, sizeof(fc->sync_pushed));
    fc->layout_cap = 0;
    fc->layout_mask = 0;
}

static void clear_done(struct flowctl *fc);

void flowctl_free(struct flowctl *fc)
{
    while (fc->clears) {
        struct flowctl_clear *c = fc->clears;
        fc->clears = c->next;
        free(c->ids);
        free(c);
    }
    destroy_flows(fc);
    for (uint32_t w = 0; w < MOAT_MAX_WORKERS; w++) {
        free(fc->sync_slots[w]);
        fc->sync_slots[w] = NULL;
    }
    free(fc->sync_pend);
    fc->sync_pend = NULL;
    pol_names_free(&fc->pnames);
    pol_names_free(&fc->anames);
}

void flowctl_tables_built(struct flowctl *fc, const struct dp_tables *t)
{
    for (uint32_t i = 0; i < pol_rule_count(t->pol); i++) {
        const struct pol_rule *r = pol_rule_at(t->pol, i);
        fc->slot_id[r->slot] = r->id;
    }
    fc->slot_id[POL_DEFAULT_SLOT] = 0;
}

/* ---- records ---- */

static void key_to_proto(const struct flow_tuple *t, Moat__FlowKey *k)
{
    moat__flow_key__init(k);
    const size_t alen = t->family == 6 ? 16 : 4;
    k->src.data = (uint8_t *)t->src;
    k->src.len = alen;
    k->dst.data = (uint8_t *)t->dst;
    k->dst.len = alen;
    k->sport = ntohs(t->sport);
    /* ICMP keys carry a request/reply bit in the destination port: shown as 0. */
    k->dport = t->proto == IPPROTO_ICMP || t->proto == IPPROTO_ICMPV6 ? 0 : ntohs(t->dport);
    k->protocol = t->proto;
}

/* The fields a SessionRecord and a compact struct sessrec both take from a delta under the
 * same names (counters [0] forward, [1] reverse). */
#define DELTA_COPY_SCALARS(r, d)                                                                   \
    do {                                                                                           \
        (r)->packets_fwd = (d)->packets[0];                                                        \
        (r)->bytes_fwd = (d)->bytes[0];                                                            \
        (r)->packets_rev = (d)->packets[1];                                                        \
        (r)->bytes_rev = (d)->bytes[1];                                                            \
        (r)->created_unix_ms = (d)->created_unix_ms;                                               \
        (r)->last_seen_unix_ms = (d)->last_seen_unix_ms;                                           \
        (r)->timeout = (d)->timeout;                                                               \
        (r)->worker = (d)->worker;                                                                 \
        (r)->snat_rule_id = (d)->snat_rule_id;                                                     \
        (r)->dnat_rule_id = (d)->dnat_rule_id;                                                     \
        (r)->snat_pool_id = (d)->snat_pool_id;                                                     \
        (r)->sp_phase = (d)->sp_phase;                                                             \
        (r)->sp_cookie = (d)->sp.cookie;                                                           \
        (r)->sp_client_isn = (d)->sp.cli_isn;                                                      \
        (r)->sp_delta = (d)->sp.delta;                                                             \
        (r)->sp_window = (d)->sp.win;                                                              \
    } while (0)

void flowctl_delta_to_record(const struct flowctl *fc, const struct dp_delta *d,
                             Moat__SessionRecord *r, Moat__FlowKey *fwd, Moat__FlowKey *rev)
{
    moat__session_record__init(r);
    key_to_proto(&d->fwd, fwd);
    key_to_proto(&d->rev, rev);
    r->id = d->id;
    r->forward = fwd;
    r->reverse = rev;
    r->from_zone = d->fwd.zone;
    r->to_zone = d->rev.zone;
    r->in_ifindex = d->in_ifindex;
    r->out_ifindex = d->out_ifindex;
    r->policy_id = fc->slot_id[d->policy_slot];
    r->policy_name = (char *)pol_names_display(&fc->pnames, d->policy_slot);
    r->state = (Moat__SessionState)d->state;
    r->close_reason = (Moat__CloseReason)d->reason;
    r->application = (char *)(d->app_slot ? pol_names_display(&fc->anames, d->app_slot) : "");
    DELTA_COPY_SCALARS(r, d);
}

static void key_to_sessrec(const struct flow_tuple *t, uint8_t *src, uint8_t *dst, uint16_t *sport,
                           uint16_t *dport)
{
    const size_t alen = t->family == 6 ? 16 : 4;
    memcpy(src, t->src, alen);
    memcpy(dst, t->dst, alen);
    *sport = ntohs(t->sport);
    *dport = t->proto == IPPROTO_ICMP || t->proto == IPPROTO_ICMPV6 ? 0 : ntohs(t->dport);
}

/* Index + 1 of name among the batch's names, added if new; 0 for "". */
static uint32_t batch_name(struct flowctl *fc, const char *name)
{
    if (!name || !name[0])
        return 0;
    for (uint32_t i = 0; i < fc->n_names; i++)
        if (fc->names[i] == name || strcmp(fc->names[i], name) == 0)
            return i + 1;
    if (fc->n_names == 2 * DP_BATCH_MAX)
        return 0; /* cannot happen: two names a record at most */
    fc->names[fc->n_names++] = (char *)name;
    return fc->n_names;
}

void flowctl_delta_to_sessrec(struct flowctl *fc, const struct dp_delta *d, struct sessrec *s)
{
    memset(s, 0, sizeof(*s));
    s->id = d->id;
    s->family = d->fwd.family == 6 ? 6 : 4;
    s->proto = d->fwd.proto;
    key_to_sessrec(&d->fwd, s->fwd_src, s->fwd_dst, &s->fwd_sport, &s->fwd_dport);
    s->has_rev = 1;
    if ((d->rev.family == 6 ? 6 : 4) == s->family) {
        key_to_sessrec(&d->rev, s->rev_src, s->rev_dst, &s->rev_sport, &s->rev_dport);
    } else {
        /* What the mirror makes of a reverse key of another family: the forward one
         * reversed (ICMP keeps its id as the source port both ways). */
        const bool icmp = s->proto == IPPROTO_ICMP || s->proto == IPPROTO_ICMPV6;
        memcpy(s->rev_src, s->fwd_dst, 16);
        memcpy(s->rev_dst, s->fwd_src, 16);
        s->rev_sport = icmp ? s->fwd_sport : s->fwd_dport;
        s->rev_dport = icmp ? s->fwd_dport : s->fwd_sport;
    }
    s->from_zone = d->fwd.zone;
    s->to_zone = d->rev.zone;
    s->in_ifindex = d->in_ifindex;
    s->out_ifindex = d->out_ifindex;
    s->policy_id = fc->slot_id[d->policy_slot];
    s->policy_name = batch_name(fc, pol_names_display(&fc->pnames, d->policy_slot));
    s->application = d->app_slot ? batch_name(fc, pol_names_display(&fc->anames, d->app_slot)) : 0;
    s->state = d->state;
    s->close_reason = d->reason;
    DELTA_COPY_SCALARS(s, d);
}

static void key_from_rec(uint8_t family, uint8_t proto, const uint8_t *src, const uint8_t *dst,
                         uint16_t sport, uint16_t dport, uint16_t zone, struct flow_tuple *t)
{
    const size_t alen = family == 6 ? 16 : 4;
    memset(t, 0, sizeof(*t));
    memcpy(t->src, src, alen);
    memcpy(t->dst, dst, alen);
    t->family = family;
    t->proto = proto;
    t->sport = htons(sport);
    t->dport = htons(dport);
    t->zone = zone;
}

bool flowctl_record_to_delta(const struct flowctl *fc, const Moat__SessionRecord *r,
                             const struct dp_tables *t, struct dp_delta *d)
{
    struct sessrec s;
    if (!sessrec_from_record(r, &s)) {
        memset(d, 0, sizeof(*d));
        return false;
    }
    return flowctl_sessrec_to_delta(fc, &s, t, d);
}

bool flowctl_sessrec_to_delta(const struct flowctl *fc, const struct sessrec *r,
                              const struct dp_tables *t, struct dp_delta *d)
{
    (void)fc;
    memset(d, 0, sizeof(*d));
    if (r->from_zone > POL_MAX_ZONE || r->to_zone > POL_MAX_ZONE ||
        (r->family != 4 && r->family != 6))
        return false;
    key_from_rec(r->family, r->proto, r->fwd_src, r->fwd_dst, r->fwd_sport, r->fwd_dport,
                 (uint16_t)r->from_zone, &d->fwd);
    const bool icmp = d->fwd.proto == IPPROTO_ICMP || d->fwd.proto == IPPROTO_ICMPV6;
    if (icmp)
        d->fwd.dport = 0; /* a session opened by a request */
    if (r->has_rev) {
        key_from_rec(r->family, r->proto, r->rev_src, r->rev_dst, r->rev_sport, r->rev_dport,
                     (uint16_t)r->to_zone, &d->rev);
        if (icmp)
            d->rev.dport = htons(1);
    } else {
        dp_key_reverse(&d->fwd, &d->rev, (uint16_t)r->to_zone);
    }
    d->kind = DP_DELTA_CREATE;
    d->state = r->state <= 7 ? (uint8_t)r->state : 3;
    d->id = r->id;
    d->worker = (uint32_t)(r->id >> 48);
    d->in_ifindex = r->in_ifindex;
    d->out_ifindex = r->out_ifindex;
    d->packets[0] = r->packets_fwd;
    d->packets[1] = r->packets_rev;
    d->bytes[0] = r->bytes_fwd;
    d->bytes[1] = r->bytes_rev;
    d->created_unix_ms = r->created_unix_ms;
    d->last_seen_unix_ms = r->last_seen_unix_ms;
    d->timeout = r->timeout;
    d->snat_rule_id = r->snat_rule_id < NAT_MAX_RULES ? (uint16_t)r->snat_rule_id : 0;
    d->dnat_rule_id = r->dnat_rule_id < NAT_MAX_RULES ? (uint16_t)r->dnat_rule_id : 0;
    d->snat_pool_id = r->snat_pool_id < NAT_MAX_POOLS ? (uint16_t)r->snat_pool_id : 0;
    if (d->fwd.proto == IPPROTO_TCP && (r->sp_phase == SP_WAIT || r->sp_phase == SP_EST)) {
        d->sp_phase = (uint16_t)r->sp_phase; /* a proxied session from the other path */
        d->sp.cookie = r->sp_cookie;
        d->sp.cli_isn = r->sp_client_isn;
        d->sp.delta = r->sp_delta;
        d->sp.win = (uint16_t)r->sp_window;
    }
    if (icmp) {
        d->icmp_type = d->fwd.proto == IPPROTO_ICMP ? 8 : 128;
        d->icmp_code = 0;
    }
    /* The policy and application, found again in the running policies. */
    if (t && t->pol) {
        /* Policies saw the destination after destination NAT: the reverse key's source. */
        struct pol_key pk = {d->fwd.family, d->fwd.proto, 0, 0, d->fwd.src, d->rev.src};
        if (icmp) {
            pk.dport = (uint16_t)(d->icmp_type << 8);
        } else {
            pk.sport = ntohs(d->fwd.sport);
            pk.dport = ntohs(d->rev.sport);
        }
        struct pol_result res;
        pol_lookup(t->pol, d->fwd.zone, d->rev.zone, &pk, &res);
        if (res.action == POL_PERMIT) {
            d->policy_slot = res.slot;
            d->app_slot = res.app_slot;
            d->app_timeout = res.app_timeout;
        } else {
            for (uint32_t i = 0; i < pol_rule_count(t->pol); i++)
                if (pol_rule_at(t->pol, i)->id == r->policy_id)
                    d->policy_slot = pol_rule_at(t->pol, i)->slot;
        }
    }
    return true;
}

/* ---- delta batches ---- */

static uint64_t lost_total(const struct flowctl *fc)
{
    uint64_t n = 0;
    for (uint32_t w = 0; w < fc->dp->nflows; w++)
        if (fc->dp->flows[w])
            n += atomic_load_explicit(&fc->dp->flows[w]->deltas_lost, memory_order_relaxed);
    return n;
}

/* Sends one batch of up to DP_BATCH_MAX deltas; false when there was nothing to send. */
static bool send_batch(struct flowctl *fc)
{
    struct dp *dp = fc->dp;
    size_t n = 0;
    /* Round robin over the workers, each one's deltas in order. */
    for (bool any = true; any && n < DP_BATCH_MAX;) {
        any = false;
        for (uint32_t w = 0; w < dp->nflows && n < DP_BATCH_MAX; w++) {
            struct dp_flow *f = dp->flows[w];
            if (f && spsc_ring_pop(&f->deltas, &fc->buf[n])) {
                n++;
                any = true;
            }
        }
    }
    uint64_t lost = lost_total(fc);
    uint64_t dropped = lost >= fc->lost_seen ? lost - fc->lost_seen : lost;
    if (n == 0 && dropped == 0)
        return false;
    /* Synced sessions' creates go compact, each with its place among the others. */
    size_t nd = 0, nc = 0;
    fc->n_names = 0;
    for (size_t i = 0; i < n; i++) {
        const struct dp_delta *dd = &fc->buf[i];
        if (dd->kind == DP_DELTA_CREATE && dd->synced) {
            flowctl_delta_to_sessrec(fc, dd, &fc->created[nc]);
            fc->created[nc++].order = (uint32_t)nd;
            continue;
        }
        moat__session_delta__init(&fc->d[nd]);
        fc->d[nd].kind = (Moat__DeltaKind)dd->kind;
        flowctl_delta_to_record(fc, dd, &fc->r[nd], &fc->k[2 * nd], &fc->k[2 * nd + 1]);
        fc->d[nd].session = &fc->r[nd];
        fc->dp_[nd] = &fc->d[nd];
        nd++;
    }
    Moat__SessionDeltaBatch b = MOAT__SESSION_DELTA_BATCH__INIT;
    b.seq = ++fc->seq;
    b.n_deltas = nd;
    b.deltas = fc->dp_;
    b.created.data = (uint8_t *)fc->created;
    b.created.len = nc * sizeof(fc->created[0]);
    b.n_names = fc->n_names;
    b.names = fc->names;
    b.dropped = dropped;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_SESSION_DELTAS;
    env.session_deltas = &b;
    fc->send(fc->send_arg, &env);
    fc->lost_seen = lost;
    fc->batches++;
    fc->deltas_sent += n;
    if (dropped)
        log_warn("%llu session deltas were lost to full rings since the last batch",
                 (unsigned long long)dropped);
    return n == DP_BATCH_MAX;
}

static uint32_t deltas_waiting(const struct flowctl *fc)
{
    uint32_t n = 0;
    for (uint32_t w = 0; w < fc->dp->nflows; w++)
        if (fc->dp->flows[w])
            n += spsc_ring_count(&fc->dp->flows[w]->deltas);
    return n;
}

static void flush(struct flowctl *fc, bool all)
{
    /* A full batch is sent as soon as it is there; the rest every DP_FLUSH_MS. */
    while (send_batch(fc))
        if (!all && deltas_waiting(fc) < DP_BATCH_MAX)
            break;
}

/* ---- clear ---- */

static void wake(struct dp *dp, uint32_t w)
{
    struct dp_worker *wk = w < dp->nworkers ? dp->workers[w] : NULL;
    if (wk && wk->started && wk->evfd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(wk->evfd, &one, sizeof(one));
        (void)r;
    }
}

static void send_clear_reply(struct flowctl *fc, uint64_t req, uint64_t closed)
{
    Moat__SessionClearReply rep = MOAT__SESSION_CLEAR_REPLY__INIT;
    rep.request_id = req;
    rep.closed = closed;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_SESSION_CLEAR_REPLY;
    env.session_clear_reply = &rep;
    fc->send(fc->send_arg, &env);
}

void flowctl_clear(struct flowctl *fc, const Moat__SessionClear *m)
{
    struct flowctl_clear *c = calloc(1, sizeof(*c));
    if (c)
        c->ids = malloc((m->n_ids ? m->n_ids : 1) * sizeof(uint64_t));
    if (!c || !c->ids) {
        log_err("clear request %llu: out of memory", (unsigned long long)m->request_id);
        if (c)
            free(c);
        send_clear_reply(fc, m->request_id, 0);
        return;
    }
    c->req = m->request_id;
    c->n = m->n_ids;
    if (m->n_ids) /* none: every session (and m->ids may be NULL) */
        memcpy(c->ids, m->ids, m->n_ids * sizeof(uint64_t));
    c->end_todo = fc->layout_mask;
    if (fc->clears_tail)
        fc->clears_tail->next = c;
    else
        fc->clears = c;
    fc->clears_tail = c;
    flowctl_poll(fc, mono_ms(), false);
}

static void pop_clear(struct flowctl *fc)
{
    struct flowctl_clear *c = fc->clears;
    fc->clears = c->next;
    if (!fc->clears)
        fc->clears_tail = NULL;
    free(c->ids);
    free(c);
}

/* Moves the head request along: commands out, replies in, the answer once complete. */
static void clear_progress(struct flowctl *fc)
{
    struct dp *dp = fc->dp;
    /* Replies for the head request (the workers answer in order). */
    for (uint32_t w = 0; w < dp->nflows; w++) {
        struct dp_flow *f = dp->flows[w];
        struct dp_cmd_reply r;
        while (f && spsc_ring_pop(&f->replies, &r)) {
            struct flowctl_clear *c = fc->clears;
            if (c && r.req == c->req && (c->waiting & (1u << w))) {
                c->closed += r.closed;
                c->waiting &= ~(1u << w);
            }
        }
    }
    while (fc->clears) {
        struct flowctl_clear *c = fc->clears;
        while (c->next_i < c->n) {
            uint64_t id = c->ids[c->next_i];
            uint32_t w = (uint32_t)(id >> 48);
            struct dp_flow *f = w < dp->nflows ? dp->flows[w] : NULL;
            if (f) {
                struct dp_cmd cmd = {DP_CMD_CLEAR, 0, c->req, id};
                if (!spsc_ring_push(&f->cmds, &cmd))
                    break; /* ring full: more on the next pass */
                c->woken |= 1u << w;
            }
            c->next_i++;
        }
        if (c->next_i == c->n) {
            for (uint32_t w = 0; w < dp->nflows; w++) {
                if (!(c->end_todo & (1u << w)) || !dp->flows[w])
                    continue;
                struct dp_cmd cmd = {DP_CMD_CLEAR_END, 0, c->req, 0};
                if (!spsc_ring_push(&dp->flows[w]->cmds, &cmd))
                    continue;
                c->end_todo &= ~(1u << w);
                c->waiting |= 1u << w;
                c->woken |= 1u << w;
            }
        }
        for (uint32_t w = 0; w < dp->nflows; w++)
            if (c->woken & (1u << w))
                wake(dp, w);
        c->woken = 0;
        if (c->next_i < c->n || c->end_todo || c->waiting)
            return;
        /* Every worker has closed its share: the CLOSE deltas go out before the answer. */
        flush(fc, true);
        send_clear_reply(fc, c->req, c->closed);
        pop_clear(fc);
    }
}

/* The tables are going away: answer what is in flight with what was closed so far. */
static void clear_done(struct flowctl *fc)
{
    while (fc->clears) {
        send_clear_reply(fc, fc->clears->req, fc->clears->closed);
        pop_clear(fc);
    }
}

/* ---- polling ---- */

static void send_install_reply(struct flowctl *fc, uint64_t req, uint64_t records, bool lost)
{
    Moat__SessionInstallReply r = MOAT__SESSION_INSTALL_REPLY__INIT;
    r.request_id = req;
    r.records = records;
    r.lost = lost;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_SESSION_INSTALL_REPLY;
    env.session_install_reply = &r;
    fc->send(fc->send_arg, &env);
}

/* Answers the SessionInstalls whose records every worker went through, in order. */
static void sync_replies(struct flowctl *fc)
{
    struct dp *dp = fc->dp;
    while (fc->sync_pend_n) {
        struct flowctl_sync_pending *p = &fc->sync_pend[fc->sync_pend_head];
        for (uint32_t w = 0; w < dp->nflows; w++) {
            if (dp->flows[w] && atomic_load_explicit(&dp->flows[w]->sync_consumed,
                                                     memory_order_acquire) < p->target[w])
                return;
        }
        send_install_reply(fc, p->req, p->records, false);
        fc->sync_pend_head = (fc->sync_pend_head + 1) % DP_SYNC_PENDING;
        fc->sync_pend_n--;
    }
}

void flowctl_poll(struct flowctl *fc, int64_t now_ms, bool force)
{
    if (fc->clears)
        clear_progress(fc);
    if (fc->sync_pend_n)
        sync_replies(fc);
    const uint32_t waiting = deltas_waiting(fc);
    const bool due =
        now_ms >= fc->next_flush_ms || (waiting && now_ms - fc->last_flush_ms >= DP_FLUSH_MIN_MS);
    if (force || due || waiting >= DP_BATCH_MAX) {
        flush(fc, force || due);
        fc->last_flush_ms = now_ms;
        if (now_ms >= fc->next_flush_ms)
            fc->next_flush_ms = now_ms + DP_FLUSH_MS;
    }
}

int64_t flowctl_next_ms(const struct flowctl *fc, int64_t now_ms)
{
    if (!fc->dp->nflows)
        return now_ms + 1000;
    if (fc->clears || fc->sync_pend_n)
        return now_ms + 1;
    return fc->next_flush_ms > now_ms ? fc->next_flush_ms : now_ms;
}

/* ---- policy counters ---- */

void flowctl_policy_counters(struct flowctl *fc, const Moat__PolicyCountersRequest *m)
{
    struct dp *dp = fc->dp;
    const struct dp_tables *t = atomic_load(&dp->tables);
    uint32_t n = t ? pol_rule_count(t->pol) + 1 : 0;
    Moat__PolicyCounter *pc = calloc(n ? n : 1, sizeof(*pc));
    Moat__PolicyCounter **pp = calloc(n ? n : 1, sizeof(*pp));
    Moat__PolicyCountersReply rep = MOAT__POLICY_COUNTERS_REPLY__INIT;
    rep.request_id = m->request_id;
    rep.generation = t ? t->generation : 0;
    if (pc && pp) {
        for (uint32_t i = 0; i < n; i++) {
            uint16_t slot = POL_DEFAULT_SLOT;
            uint32_t id = 0;
            if (i > 0) {
                slot = pol_rule_at(t->pol, i - 1)->slot;
                id = pol_rule_at(t->pol, i - 1)->id;
            }
            moat__policy_counter__init(&pc[i]);
            pc[i].policy_id = id;
            for (uint32_t w = 0; w < dp->nflows; w++) {
                const struct dp_flow *f = dp->flows[w];
                if (!f)
                    continue;
                /* Plain reads of counters a worker writes: each is one aligned word. */
                const volatile struct dp_pol_ctr *c = &f->pctr[slot];
                pc[i].hits += c->hits;
                pc[i].packets += c->packets;
                pc[i].bytes += c->bytes;
            }
            pp[i] = &pc[i];
        }
        rep.n_counters = n;
        rep.counters = pp;
    } else {
        log_err("policy counters: out of memory");
    }
    /* NAT: per rule (hits, failures) and per pool / interface (ports), workers summed. */
    const struct nat_set *ns = t ? t->nat : NULL;
    const uint32_t nr = ns ? ns->nrules : 0;
    Moat__NatRuleCounter *rc = calloc(nr ? nr : 1, sizeof(*rc));
    Moat__NatRuleCounter **rp = calloc(nr ? nr : 1, sizeof(*rp));
    Moat__NatPoolCounter *qc = calloc(NAT_SRC_SLOTS, sizeof(*qc));
    Moat__NatPoolCounter **qp = calloc(NAT_SRC_SLOTS, sizeof(*qp));
    if (rc && rp && qc && qp) {
        for (uint32_t i = 0; i < nr; i++) {
            const uint32_t id = ns->rules[i].id;
            moat__nat_rule_counter__init(&rc[i]);
            rc[i].rule_id = id;
            for (uint32_t w = 0; w < dp->nflows; w++) {
                const struct dp_flow *f = dp->flows[w];
                if (!f)
                    continue;
                const volatile struct dp_nat_ctr *c = &f->nctr[id];
                rc[i].hits += c->hits;
                rc[i].failures += c->failures;
            }
            rp[i] = &rc[i];
        }
        rep.n_nat_rules = nr;
        rep.nat_rules = rp;
        size_t nq = 0;
        for (uint32_t src = 1; t && src < NAT_SRC_SLOTS; src++) {
            const bool iface = src >= NAT_SRC_IF;
            const struct nat_spool *sp = !iface && ns ? ns->spool[src] : NULL;
            if (iface && src - NAT_SRC_IF >= t->nifs)
                break;
            Moat__NatPoolCounter *q = &qc[nq];
            moat__nat_pool_counter__init(q);
            for (uint32_t w = 0; w < dp->nflows; w++) {
                const struct dp_flow *f = dp->flows[w];
                if (!f)
                    continue;
                const volatile struct nat_src_ctr *c = &f->np.src[src];
                q->ports_in_use += c->in_use;
                q->allocations += c->allocations;
                q->exhausted += c->exhausted;
            }
            if (sp) {
                q->pool_id = src;
                q->ports_total = sp->naddr * (uint64_t)(sp->port_hi - sp->port_lo + 1);
            } else if (iface) {
                if (!q->allocations && !q->exhausted && !q->ports_in_use)
                    continue; /* interfaces with no interface NAT */
                q->ifindex = t->ifs[src - NAT_SRC_IF].ifindex;
                q->ports_total = NAT_IF_PORT_HI - NAT_IF_PORT_LO + 1;
            } else {
                continue;
            }
            qp[nq++] = q;
        }
        rep.n_nat_pools = nq;
        rep.nat_pools = qp;
    }
    /* Screens: per zone bound to one, every check, workers summed. */
    Moat__ScreenCounter *sc = calloc(SCR_MAX_ZONE + 1, sizeof(*sc));
    Moat__ScreenCounter **sp = calloc(SCR_MAX_ZONE + 1, sizeof(*sp));
    uint64_t *sv = calloc((size_t)(SCR_MAX_ZONE + 1) * SCR_C_N, sizeof(*sv));
    if (t && sc && sp && sv) {
        size_t ns = 0;
        for (uint32_t z = 1; z <= SCR_MAX_ZONE; z++) {
            const struct scr_profile *prof = scr_of_zone(&t->scr, (uint16_t)z);
            if (!prof)
                continue;
            Moat__ScreenCounter *q = &sc[ns];
            moat__screen_counter__init(q);
            q->zone_id = z;
            q->screen_id = prof->id;
            q->n_counts = SCR_C_N;
            q->counts = &sv[ns * SCR_C_N];
            for (uint32_t w = 0; w < dp->nflows; w++) {
                const struct dp_flow *f = dp->flows[w];
                if (!f || !f->scr)
                    continue;
                const volatile uint64_t *c = f->scr->ctr[z];
                for (uint32_t k = 0; k < SCR_C_N; k++)
                    q->counts[k] += c[k];
            }
            sp[ns++] = q;
        }
        rep.n_screens = ns;
        rep.screens = sp;
    }
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_POLICY_COUNTERS_REPLY;
    env.policy_counters_reply = &rep;
    fc->send(fc->send_arg, &env);
    free(sc);
    free(sp);
    free(sv);
    free(pc);
    free(pp);
    free(rc);
    free(rp);
    free(qc);
    free(qp);
}

/* ---- layout and installs ---- */

static uint32_t active_mask(const struct dp *dp)
{
    uint32_t mask = 0;
    for (uint32_t w = 0; w < dp->nworkers; w++)
        if (dp->workers[w] && dp->workers[w]->nbound)
            mask |= 1u << w;
    return mask;
}

static uint32_t cap_per(uint32_t mask, const struct dp_tables *t)
{
    uint32_t n = (uint32_t)__builtin_popcount(mask);
    if (!n)
        return 0;
    uint32_t c = (t->flow.max_sessions + n - 1) / n;
    return c ? c : 1;
}

bool flowctl_layout_changed(const struct flowctl *fc, const struct dp_tables *t)
{
    uint32_t mask = active_mask(fc->dp);
    return mask != fc->layout_mask || cap_per(mask, t) != fc->layout_cap;
}

/* The worker that re-seeded sessions go to: the one serving queue 0 of their ingress
 * interface (where their forward packets arrive with one queue), else the first one. */
static uint32_t owner_of(const struct flowctl *fc, const struct dp_delta *d)
{
    const struct dp *dp = fc->dp;
    for (uint32_t w = 0; w < dp->nworkers; w++) {
        const struct dp_worker *wk = dp->workers[w];
        if (!wk || !dp->flows[w] || w >= dp->nflows)
            continue;
        for (uint32_t i = 0; i < wk->nsocks; i++)
            if (wk->socks[i].ifindex == d->in_ifindex && wk->socks[i].queue == 0)
                return w;
    }
    for (uint32_t w = 0; w < dp->nflows; w++)
        if (dp->flows[w])
            return w;
    return UINT32_MAX;
}

/* Announces that a session could not be kept (no room in the new tables). */
static void announce_lost(struct flowctl *fc, uint32_t w, const struct dp_delta *rec)
{
    struct dp_delta d = *rec;
    d.kind = DP_DELTA_CLOSE;
    d.reason = 7; /* CLOSE_SHUTDOWN */
    if (!spsc_ring_push(&fc->dp->flows[w]->deltas, &d))
        atomic_fetch_add(&fc->dp->flows[w]->deltas_lost, 1);
}

static void install_all(struct flowctl *fc, const struct dp_tables *t, const struct dp_delta *recs,
                        size_t n)
{
    struct dp *dp = fc->dp;
    if (!n || !dp->nflows)
        return;
    uint8_t *later = calloc(n, 1);
    uint64_t ok = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t w = owner_of(fc, &recs[i]);
        int rc = -ENOSPC;
        if (later && (recs[i].id >> 48) == w)
            rc = dp_flow_install(dp->flows[w], t, &recs[i], true);
        if (rc == 0)
            ok++;
        else if (rc == -EEXIST)
            failed++;
        else if (later)
            later[i] = 1;
        else
            failed++;
        if ((i & 65535) == 65535 && dp->progress)
            dp->progress(dp->progress_arg);
    }
    for (uint32_t w = 0; w < dp->nflows; w++)
        if (dp->flows[w])
            dp_flow_install_done(dp->flows[w]);
    for (size_t i = 0; later && i < n; i++) {
        if (!later[i])
            continue;
        uint32_t w = owner_of(fc, &recs[i]);
        int rc = dp_flow_install(dp->flows[w], t, &recs[i], false);
        if (rc == 0) {
            ok++;
            continue;
        }
        failed++;
        announce_lost(fc, w, &recs[i]);
    }
    free(later);
    fc->installed += ok;
    fc->install_failed += failed;
    if (failed)
        log_warn("sessions: %llu installed, %llu could not be (table full or key taken)",
                 (unsigned long long)ok, (unsigned long long)failed);
}

struct recvec {
    struct dp_delta *v;
    size_t n, cap;
    bool oom;
};

static void collect(void *arg, const struct dp_delta *rec)
{
    struct recvec *rv = arg;
    if (rv->n == rv->cap) {
        size_t cap = rv->cap ? rv->cap * 2 : 1024;
        struct dp_delta *v = realloc(rv->v, cap * sizeof(*v));
        if (!v) {
            rv->oom = true;
            return;
        }
        rv->v = v;
        rv->cap = cap;
    }
    rv->v[rv->n++] = *rec;
}

int flowctl_layout(struct flowctl *fc, const struct dp_tables *t, char *err, size_t errlen)
{
    struct dp *dp = fc->dp;
    const uint32_t mask = active_mask(dp);
    const uint32_t cap = cap_per(mask, t);
    if (mask == fc->layout_mask && cap == fc->layout_cap && dp->nflows)
        return 0;
    /* What the old tables hold: deltas first (they come before the move), then the
     * sessions, and the policy counters. */
    flush(fc, true);
    clear_done(fc);
    struct recvec rv = {0};
    struct dp_pol_ctr *ctr = calloc(POL_MAX_SLOTS, sizeof(*ctr));
    const struct dp_tables *old_t = atomic_load(&dp->tables);
    for (uint32_t w = 0; w < dp->nflows; w++) {
        const struct dp_flow *f = dp->flows[w];
        if (!f)
            continue;
        dp_flow_export(f, old_t ? old_t : t, collect, &rv);
        for (uint32_t s = 0; ctr && s < POL_MAX_SLOTS; s++) {
            ctr[s].hits += f->pctr[s].hits;
            ctr[s].packets += f->pctr[s].packets;
            ctr[s].bytes += f->pctr[s].bytes;
        }
    }
    if (rv.oom)
        log_err("sessions: out of memory saving them: some are lost");
    destroy_flows(fc);
    if (!mask) {
        free(rv.v);
        free(ctr);
        return 0;
    }
    const int64_t now = mono_ms();
    const bool shared = __builtin_popcount(mask) > 1;
    uint32_t first = UINT32_MAX;
    for (uint32_t w = 0; w < MOAT_MAX_WORKERS; w++) {
        if (!(mask & (1u << w)))
            continue;
        int rc = dp_flow_create(&dp->flows[w], dp, (uint16_t)w, cap, shared, &dp->stats->worker[w],
                                (uint64_t)now);
        if (rc) {
            snprintf(err, errlen,
                     "cannot allocate a session table of %u sessions for worker %u: %s", cap, w,
                     strerror(-rc));
            destroy_flows(fc);
            free(rv.v);
            free(ctr);
            return rc;
        }
        dp->stats->worker[w].sessions_active = 0;
        dp->nflows = w + 1;
        if (first == UINT32_MAX)
            first = w;
        if (dp->progress)
            dp->progress(dp->progress_arg);
    }
    fc->layout_mask = mask;
    fc->layout_cap = cap;
    if (ctr)
        memcpy(dp->flows[first]->pctr, ctr, POL_MAX_SLOTS * sizeof(*ctr));
    free(ctr);
    size_t total = 0;
    for (uint32_t w = 0; w < dp->nflows; w++)
        if (dp->flows[w])
            total += dp_flow_bytes(dp->flows[w]);
    log_info("sessions: %d tables of %u sessions (%.1f MiB in all)%s", __builtin_popcount(mask),
             cap, total / 1048576.0, shared ? ", shared index on" : "");
    if (rv.n) {
        install_all(fc, t, rv.v, rv.n);
        log_info("sessions: %zu moved to the new tables", rv.n);
    }
    free(rv.v);
    return 0;
}

uint64_t flowctl_install_snapshot(struct flowctl *fc, const Moat__Snapshot *s,
                                  const struct dp_tables *t)
{
    if (!s->n_sessions || !fc->dp->nflows)
        return 0;
    struct dp_delta *recs = malloc(s->n_sessions * sizeof(*recs));
    if (!recs) {
        log_err("re-seeding %zu sessions: out of memory", s->n_sessions);
        return 0;
    }
    size_t n = 0, bad = 0;
    for (size_t i = 0; i < s->n_sessions; i++) {
        if (flowctl_record_to_delta(fc, s->sessions[i], t, &recs[n]))
            n++;
        else
            bad++;
    }
    uint64_t before = fc->installed;
    install_all(fc, t, recs, n);
    free(recs);
    uint64_t done = fc->installed - before;
    log_info("re-seeded %llu of %zu sessions from controld%s", (unsigned long long)done,
             s->n_sessions, bad ? " (some records were unusable)" : "");
    return done;
}

void flowctl_sync_install(struct flowctl *fc, const Moat__SessionInstall *m)
{
    struct dp *dp = fc->dp;
    const struct dp_tables *t = atomic_load(&dp->tables);
    const long nrec = sessrec_count(m->records.len);
    if (nrec < 0) {
        log_warn("session install (HA sync): %zu bytes are not whole session records: ignored",
                 m->records.len);
        send_install_reply(fc, m->request_id, 0, true);
        return;
    }
    const size_t n = (size_t)nrec;
    if (!t || !dp->nflows) {
        log_warn("session install (HA sync): %zu sessions before any snapshot applied: ignored", n);
        send_install_reply(fc, m->request_id, 0, true);
        return;
    }
    if (!fc->sync_pend && !(fc->sync_pend = calloc(DP_SYNC_PENDING, sizeof(*fc->sync_pend)))) {
        send_install_reply(fc, m->request_id, 0, true);
        return;
    }
    /* Room for this request's reply: the oldest must be answered first. */
    for (int waited_ms = 0; fc->sync_pend_n == DP_SYNC_PENDING; waited_ms++) {
        sync_replies(fc);
        if (fc->sync_pend_n < DP_SYNC_PENDING)
            break;
        if (waited_ms >= 1000) {
            send_install_reply(fc, m->request_id, 0, true);
            return;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    bool lost = false;
    for (size_t i = 0; i < n; i++) {
        struct sessrec rec;
        memcpy(&rec, m->records.data + i * sizeof(rec), sizeof(rec));
        struct dp_delta d;
        if (!flowctl_sessrec_to_delta(fc, &rec, t, &d)) {
            fc->sync_unusable++;
            continue;
        }
        if (rec.state == MOAT__SESSION_STATE__SESSION_CLOSED)
            d.kind = DP_DELTA_CLOSE;
        uint32_t w = owner_of(fc, &d);
        if (w == UINT32_MAX || !dp->flows[w])
            continue;
        if (!fc->sync_slots[w] && !(fc->sync_slots[w] = calloc(DP_SYNC_SLOTS, sizeof(d)))) {
            log_err("session install (HA sync): out of memory");
            return;
        }
        struct dp_delta *slot = &fc->sync_slots[w][fc->sync_pushed[w] % DP_SYNC_SLOTS];
        *slot = d;
        struct dp_cmd cmd = {.op = DP_CMD_SYNC, .id = (uint64_t)(uintptr_t)slot};
        int64_t waited_us = 0;
        while (!spsc_ring_push(&dp->flows[w]->cmds, &cmd)) {
            if (waited_us >= 1000000) {
                fc->sync_ring_timeouts++;
                log_warn("session install (HA sync): worker %u has not taken commands for 1 s; "
                         "%zu sessions not installed",
                         w, n - i);
                lost = true;
                break;
            }
            wake(dp, w);
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            waited_us += 200;
            if ((waited_us % 50000) == 0 && dp->progress)
                dp->progress(dp->progress_arg);
        }
        if (lost)
            break;
        fc->sync_pushed[w]++;
        fc->sync_records++;
    }
    if (lost) {
        send_install_reply(fc, m->request_id, 0, true);
        return;
    }
    /* Sleeping workers take their commands now, not at their next idle timeout. */
    for (uint32_t w = 0; w < dp->nflows; w++)
        if (dp->flows[w])
            wake(dp, w);
    uint32_t tail = (fc->sync_pend_head + fc->sync_pend_n) % DP_SYNC_PENDING;
    struct flowctl_sync_pending *p = &fc->sync_pend[tail];
    p->req = m->request_id;
    p->records = n;
    memcpy(p->target, fc->sync_pushed, sizeof(p->target));
    fc->sync_pend_n++;
}
