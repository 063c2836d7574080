/* SPDX-License-Identifier: MIT */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "legacy_maps.h"
#include "log.h"
#include "nat.h"
#include "parse.h"
#include "snapshot.h"
#include "synproxy.h"
#include "trace.h"

/* ---- tables publication ---- */

void dp_tables_free(struct dp_tables *t, bool free_fib, bool free_neigh)
{
    if (!t)
        return;
    if (free_fib) {
        fib_free(t->fib);
        pol_free(t->pol);
        nat_set_free(t->nat);
    }
    if (free_neigh)
        neigh_table_free(t->neigh);
    free(t);
}

void dp_synchronize(struct dp *dp)
{
    uint64_t target = atomic_fetch_add(&dp->epoch, 1) + 1;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool warned = false;
    for (uint32_t i = 0; i < dp->nworkers; i++) {
        struct dp_worker *w = dp->workers[i];
        if (!w || !w->started)
            continue;
        while (atomic_load(&w->seen_epoch) < target) {
            struct timespec ts = {0, 200 * 1000};
            nanosleep(&ts, NULL);
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!warned && now.tv_sec - start.tv_sec >= 2) {
                log_warn("worker %u has not passed a quiescent point for 2 s", w->id);
                warned = true;
            }
        }
    }
}

void dp_publish_tables(struct dp *dp, struct dp_tables *t, bool keep_fib, bool keep_neigh)
{
    struct dp_tables *old = atomic_exchange(&dp->tables, t);
    if (!old)
        return;
    dp_synchronize(dp);
    dp_tables_free(old, !keep_fib, !keep_neigh);
}

/* ---- frame bookkeeping ---- */

static inline void free_push(struct dp_worker *w, uint64_t addr)
{
    if (w->nfree < w->free_cap)
        w->free_stack[w->nfree++] = addr & ~w->frame_mask;
}

static inline uint64_t free_pop(struct dp_worker *w)
{
    return w->free_stack[--w->nfree];
}

static inline uint32_t pend_count(const struct dp_sock *s)
{
    return s->pend_head - s->pend_tail;
}

/* ---- resolve requests ---- */

static uint32_t rl_hash(uint8_t family, const uint8_t *addr, uint32_t ifindex)
{
    uint32_t h = 2166136261u ^ family;
    uint32_t n = family == 6 ? 16 : 4;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ addr[i]) * 16777619u;
    h = (h ^ ifindex) * 16777619u;
    return h ^ (h >> 15);
}

bool dp_resolve_allow(struct dp_resolve_limiter *rl, uint8_t family, const uint8_t *addr,
                      uint32_t ifindex, uint64_t now_ms)
{
    uint32_t n = family == 6 ? 16 : 4;
    uint32_t set = rl_hash(family, addr, ifindex) & (DP_RL_SETS - 1);
    int victim = -1;
    for (int i = 0; i < DP_RL_WAYS; i++) {
        typeof(rl->e[0][0]) *e = &rl->e[set][i];
        if (e->family == family && e->ifindex == ifindex && memcmp(e->addr, addr, n) == 0) {
            if (now_ms - e->last_ms < DP_RESOLVE_INTERVAL_MS)
                return false;
            victim = i;
            break;
        }
    }
    if (victim < 0) {
        for (int i = 0; i < DP_RL_WAYS; i++) {
            typeof(rl->e[0][0]) *e = &rl->e[set][i];
            if (e->family == 0 || now_ms - e->last_ms >= DP_RESOLVE_INTERVAL_MS) {
                victim = i;
                break;
            }
        }
    }
    if (victim < 0)
        return false; /* every way holds a recent request: try again later */
    typeof(rl->e[0][0]) *e = &rl->e[set][victim];
    e->family = family;
    e->ifindex = ifindex;
    memset(e->addr, 0, sizeof(e->addr));
    memcpy(e->addr, addr, n);
    e->last_ms = now_ms;
    return true;
}

static void request_resolve(struct dp_worker *w, uint8_t family, const uint8_t *addr,
                            uint32_t ifindex)
{
    if (!w->now_valid) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        w->now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
        w->now_valid = true;
    }
    struct dp_resolve_req *r = spsc_ring_prod_slot(&w->resolve);
    if (!r)
        return;
    if (!dp_resolve_allow(&w->rl, family, addr, ifindex, w->now_ms))
        return;
    memset(r, 0, sizeof(*r));
    r->family = family;
    r->ifindex = ifindex;
    memcpy(r->addr, addr, family == 6 ? 16 : 4);
    spsc_ring_prod_commit(&w->resolve);
    w->st->resolve_requests++;
    w->resolve_pushed = true;
}

bool dp_worker_pop_resolve(struct dp_worker *w, struct dp_resolve_req *out)
{
    return spsc_ring_pop(&w->resolve, out);
}

/* ---- the packet path: flow.c decides, this moves the frames ---- */

/* Queues the frame at addr (len bytes, of this worker's UMEM) for TX on port. */
static void tx_frame(struct dp_worker *w, uint16_t port, uint64_t addr, const uint8_t *pkt,
                     uint32_t len)
{
    struct moat_worker_stats *st = w->st;
    const struct dp_egress eg =
        port < MOAT_MAX_IFACES ? w->egress[port] : (struct dp_egress){-1, -1};
    if (eg.worker < 0) {
        st->no_egress_xsk++;
        goto drop;
    }
    if (eg.worker == (int16_t)w->id) {
        struct dp_sock *out = &w->socks[eg.sock];
        if (pend_count(out) == w->pend_limit) {
            st->pending_tx_drops++;
            goto drop;
        }
        struct xdp_desc *d = &out->pend[out->pend_head & out->pend_mask];
        d->addr = addr;
        d->len = len;
        d->options = 0;
        out->pend_head++;
    } else {
        struct dp_worker *peer = w->dp->workers[eg.worker];
        struct spsc_ring *ring = &peer->inbound[w->id];
        struct dp_handoff *h = spsc_ring_prod_slot(ring);
        if (!h) {
            st->pending_tx_drops++;
            goto drop;
        }
        memcpy(peer->umem.area + h->addr, pkt, len);
        h->len = len;
        h->sock = (uint16_t)eg.sock;
        h->flags = 0;
        spsc_ring_prod_commit(ring);
        w->wake_mask |= 1u << eg.worker;
        free_push(w, addr); /* copied: our frame is free again */
    }
    st->forwarded++;
    return;
drop:
    free_push(w, addr);
}

/* Hands a received frame (with its metadata) to the worker that owns its session. */
static void handoff_rx(struct dp_worker *w, uint16_t owner, uint64_t addr, const struct dp_pkt *p)
{
    struct dp_worker *peer = owner < w->dp->nworkers ? w->dp->workers[owner] : NULL;
    struct spsc_ring *ring = peer ? &peer->inbound[w->id] : NULL;
    struct dp_handoff *h = ring && ring->size ? spsc_ring_prod_slot(ring) : NULL;
    if (!h || p->len + DP_HANDOFF_RX_OFF > w->frame_mask + 1) {
        w->st->pending_tx_drops++;
        free_push(w, addr);
        return;
    }
    uint8_t *dst = peer->umem.area + h->addr + DP_HANDOFF_RX_OFF;
    memcpy(dst - sizeof(struct moat_meta), p->m, sizeof(struct moat_meta));
    memcpy(dst, p->data, p->len);
    h->len = p->len;
    h->sock = p->in_port;
    h->flags = DP_HANDOFF_RX;
    spsc_ring_prod_commit(ring);
    w->wake_mask |= 1u << owner;
    free_push(w, addr);
}

/* Carries out the verdict on the frame at addr. */
static void act(struct dp_worker *w, uint64_t addr, struct dp_pkt *p)
{
    switch (p->verdict) {
    case DP_V_TX:
        tx_frame(w, p->out_port, addr + (uint64_t)(p->out - p->data), p->out, p->out_len);
        return;
    case DP_V_HANDOFF:
        handoff_rx(w, p->out_port, addr, p);
        return;
    case DP_V_NEIGH_MISS:
        request_resolve(w, p->nh_family, p->nh, p->nh_ifindex);
        break;
    default:
        break;
    }
    free_push(w, addr);
}

/* ---- trace flow (only while an operator traces: see trace.h) ---- */

/* One matching packet through the same path, with what it did recorded. */
static void trace_one(struct dp_worker *w, const struct dp_tables *t, struct dp_pkt *p,
                      uint64_t addr)
{
    struct dp_trace *tr = w->dp->trace;
    struct dp_trace_rec *r = dp_trace_claim(tr, w->id);
    if (!r) {
        dp_flow_batch(w->flow, t, p, 1);
        act(w, addr, p);
        return;
    }
    const struct moat_worker_stats before = *w->st;
    r->meta = *p->m; /* the frame may be rewritten in place: copy first */
    r->handed = p->handed;
    p->out_zone = 0;
    p->pol_slot = UINT16_MAX;
    p->in_zone = 0;
    dp_flow_batch(w->flow, t, p, 1);
    r->verdict = p->verdict;
    r->in_zone = p->in_zone;
    r->out_zone = p->out_zone;
    r->pol_slot = p->pol_slot;
    if (p->verdict == DP_V_TX) {
        const int16_t oi = t && p->out_port < MOAT_MAX_IFACES ? t->port_if[p->out_port] : -1;
        r->out_ifindex = oi >= 0 ? t->ifs[oi].ifindex : 0;
        r->out_len = p->out_len;
        r->head_len = (uint16_t)(p->out_len < DP_TRACE_HEAD ? p->out_len : DP_TRACE_HEAD);
        memcpy(r->head, p->out, r->head_len);
    } else if (p->verdict == DP_V_HANDOFF) {
        r->handed_to = p->out_port;
    } else if (p->verdict == DP_V_NEIGH_MISS && p->nh) {
        r->nh_family = p->nh_family;
        memcpy(r->nh, p->nh, p->nh_family == 6 ? 16 : 4);
    }
    r->has_sess = dp_flow_trace_session(w->flow, t, p, &r->sess);
    act(w, addr, p);
    r->counters = dp_trace_counters_moved(&before, w->st);
    dp_trace_commit(tr, w->id, r);
}

/* A batch while a trace runs: the packets that match go one by one through trace_one(). */
static void rx_traced(struct dp_worker *w, const struct dp_tables *t, struct dp_pkt *pk,
                      uint64_t *addrs, uint32_t m)
{
    const struct dp_trace_filter *flt = &w->dp->trace->filter;
    uint32_t n = 0; /* pk[0..n) do not match */
    for (uint32_t k = 0; k < m; k++) {
        if (dp_trace_match(flt, pk[k].m))
            continue;
        if (k != n) {
            struct dp_pkt tp = pk[n];
            pk[n] = pk[k];
            pk[k] = tp;
            uint64_t ta = addrs[n];
            addrs[n] = addrs[k];
            addrs[k] = ta;
        }
        n++;
    }
    if (n) {
        dp_flow_batch(w->flow, t, pk, n);
        for (uint32_t k = 0; k < n; k++)
            act(w, addrs[k], &pk[k]);
    }
    for (uint32_t k = n; k < m; k++)
        trace_one(w, t, &pk[k], addrs[k]);
}

static inline void now_update(struct dp_worker *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    w->now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    w->now_valid = true;
}

static uint32_t reap_completions(struct dp_worker *w)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < w->nsocks; i++) {
        struct dp_sock *s = &w->socks[i];
        if (!s->bound)
            continue;
        uint32_t idx = 0;
        uint32_t n = xsk_ring_cons__peek(&s->comp, w->umem.ring_size, &idx);
        if (!n)
            continue;
        for (uint32_t k = 0; k < n; k++)
            free_push(w, *xsk_ring_cons__comp_addr(&s->comp, idx + k));
        xsk_ring_cons__release(&s->comp, n);
        s->outstanding -= n;
        total += n;
    }
    w->st->tx_completed += total;
    return total;
}

static void refill(struct dp_worker *w)
{
    struct moat_worker_stats *st = w->st;
    const uint32_t size = w->umem.ring_size;
    uint64_t level = 0;
    for (uint32_t i = 0; i < w->nsocks; i++) {
        struct dp_sock *s = &w->socks[i];
        if (!s->bound)
            continue;
        uint32_t room = xsk_prod_nb_free(&s->fill, size);
        if (room == size)
            st->fill_empty_events++;
        uint32_t n = room < w->nfree ? room : w->nfree;
        if (n < room)
            st->rx_alloc_errors++;
        if (n) {
            uint32_t idx = 0;
            xsk_ring_prod__reserve(&s->fill, n, &idx);
            for (uint32_t k = 0; k < n; k++)
                *xsk_ring_prod__fill_addr(&s->fill, idx + k) = free_pop(w);
            xsk_ring_prod__submit(&s->fill, n);
        }
        level += size - room + n;
        if (xsk_ring_prod__needs_wakeup(&s->fill))
            recvfrom(s->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
    }
    st->fill_level = level;
}

static uint32_t rx_all(struct dp_worker *w, const struct dp_tables *t)
{
    struct moat_worker_stats *st = w->st;
    const uint64_t fsize = w->frame_mask + 1;
    struct dp_pkt pk[DP_MAX_BATCH];
    uint64_t addrs[DP_MAX_BATCH];
    uint32_t total = 0;
    for (uint32_t i = 0; i < w->nsocks; i++) {
        struct dp_sock *s = &w->socks[i];
        if (!s->bound)
            continue;
        uint32_t idx = 0;
        uint32_t n = xsk_ring_cons__peek(&s->rx, w->batch, &idx);
        if (!n)
            continue;
        /* The frames were written by the kernel on whichever CPU received them: their
         * metadata and headers are asked for all at once, before the first one is read. */
        for (uint32_t k = 0; k < n; k++) {
            const uint8_t *f = w->umem.area + xsk_ring_cons__rx_desc(&s->rx, idx + k)->addr;
            __builtin_prefetch(f - sizeof(struct moat_meta));
            __builtin_prefetch(f);
        }
        uint32_t m = 0;
        for (uint32_t k = 0; k < n; k++) {
            const struct xdp_desc *d = xsk_ring_cons__rx_desc(&s->rx, idx + k);
            const uint64_t addr = d->addr, off = addr & w->frame_mask;
            const uint32_t len = d->len;
            st->rx_bytes += len;
            uint8_t *pkt = w->umem.area + addr;
            const struct moat_meta *meta =
                off + len <= fsize ? parse_meta(pkt, (uint32_t)off) : NULL;
            if (!meta || meta->ifindex != s->ifindex) {
                st->parse_errors++;
                free_push(w, addr);
                continue;
            }
            struct dp_pkt *p = &pk[m];
            p->data = pkt;
            p->len = len;
            p->room = (uint32_t)(fsize - off);
            p->m = meta;
            p->in_port = (uint16_t)s->port;
            p->handed = 0;
            addrs[m++] = addr;
        }
        xsk_ring_cons__release(&s->rx, n);
        total += n;
        if (!m)
            continue;
        if (__builtin_expect(dp_trace_on(w->dp->trace), 0)) {
            rx_traced(w, t, pk, addrs, m);
            continue;
        }
        dp_flow_batch(w->flow, t, pk, m);
        for (uint32_t k = 0; k < m; k++)
            act(w, addrs[k], &pk[k]);
    }
    st->rx_packets += total;
    return total;
}

/* One TX descriptor on s, submitted later by tx_submit(). */
static inline struct xdp_desc *tx_reserve_one(struct dp_sock *s)
{
    uint32_t idx = 0;
    if (xsk_ring_prod__reserve(&s->tx, 1, &idx) != 1)
        return NULL;
    s->tx_batch++;
    return xsk_ring_prod__tx_desc(&s->tx, idx);
}

/* Frames handed over by other workers -> TX rings (or, received ones, the packet path). */
static uint32_t drain_inbound(struct dp_worker *w, const struct dp_tables *t)
{
    struct moat_worker_stats *st = w->st;
    uint32_t moved = 0;
    for (uint32_t a = 0; a < w->dp->nworkers; a++) {
        struct spsc_ring *ring = &w->inbound[a];
        if (!ring->size)
            continue;
        struct dp_handoff *h;
        while ((h = spsc_ring_cons_peek(ring)) != NULL) {
            if (w->nfree == 0)
                return moved; /* no frame to put back in the slot: leave it queued */
            if (h->flags & DP_HANDOFF_RX) {
                /* A received frame whose session is ours: through the packet path. */
                const uint64_t addr = h->addr + DP_HANDOFF_RX_OFF;
                struct dp_pkt p;
                memset(&p, 0, sizeof(p));
                p.data = w->umem.area + addr;
                p.len = h->len;
                p.room = (uint32_t)(w->frame_mask + 1 - DP_HANDOFF_RX_OFF);
                p.m = (const struct moat_meta *)(p.data - sizeof(struct moat_meta));
                p.in_port = h->sock;
                p.handed = 1;
                st->rx_bytes += h->len;
                if (__builtin_expect(dp_trace_on(w->dp->trace), 0) &&
                    dp_trace_match(&w->dp->trace->filter, p.m)) {
                    trace_one(w, t, &p, addr);
                } else {
                    dp_flow_batch(w->flow, t, &p, 1);
                    act(w, addr, &p);
                }
                h->addr = free_pop(w);
                spsc_ring_cons_release(ring);
                moved++;
                continue;
            }
            struct dp_sock *s = &w->socks[h->sock];
            struct xdp_desc *d = tx_reserve_one(s);
            if (!d) {
                st->tx_ring_full++;
                break;
            }
            d->addr = h->addr;
            d->len = h->len;
            d->options = 0;
            st->tx_packets++;
            st->tx_bytes += h->len;
            h->addr = free_pop(w);
            spsc_ring_cons_release(ring);
            moved++;
        }
    }
    return moved;
}

/* Local pending queues -> TX rings. */
static void drain_local(struct dp_worker *w)
{
    struct moat_worker_stats *st = w->st;
    for (uint32_t i = 0; i < w->nsocks; i++) {
        struct dp_sock *s = &w->socks[i];
        uint32_t want = pend_count(s);
        if (!want)
            continue;
        uint32_t n = xsk_prod_nb_free(&s->tx, want);
        if (n < want)
            st->tx_ring_full++;
        if (n > want)
            n = want;
        if (!n)
            continue;
        uint32_t idx = 0;
        xsk_ring_prod__reserve(&s->tx, n, &idx);
        for (uint32_t k = 0; k < n; k++) {
            const struct xdp_desc *p = &s->pend[s->pend_tail & s->pend_mask];
            *xsk_ring_prod__tx_desc(&s->tx, idx + k) = *p;
            st->tx_bytes += p->len;
            s->pend_tail++;
        }
        s->tx_batch += n;
        st->tx_packets += n;
    }
}

static uint32_t tx_submit_and_kick(struct dp_worker *w)
{
    struct moat_worker_stats *st = w->st;
    const uint32_t size = w->umem.ring_size;
    uint32_t submitted = 0;
    for (uint32_t i = 0; i < w->nsocks; i++) {
        struct dp_sock *s = &w->socks[i];
        if (s->tx_batch) {
            xsk_ring_prod__submit(&s->tx, s->tx_batch);
            s->outstanding += s->tx_batch;
            submitted += s->tx_batch;
            s->tx_batch = 0;
        }
        if (!s->outstanding)
            continue;
        if (s->zerocopy) {
            /* The driver transmits on its own; wake it only when it asks. */
            if (xsk_ring_prod__needs_wakeup(&s->tx)) {
                st->tx_kicks++;
                if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
                    errno != EBUSY && errno != EINTR)
                    st->tx_kick_errors++;
            }
            continue;
        }
        /* Copy mode transmits only inside sendto(), at most 32 descriptors per call: kick on
         * every pass while anything is outstanding, and again while descriptors still wait
         * in the TX ring (up to DP_MAX_KICKS, so RX keeps its turn). */
        for (uint32_t k = 0; k < DP_MAX_KICKS; k++) {
            st->tx_kicks++;
            if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0) {
                if (errno != EAGAIN && errno != EBUSY && errno != EINTR)
                    st->tx_kick_errors++;
                break;
            }
            if (xsk_prod_nb_free(&s->tx, size) == size)
                break; /* the kernel took every descriptor */
        }
    }
    return submitted;
}

static void wake_peers(struct dp_worker *w)
{
    if (!w->wake_mask)
        return;
    atomic_thread_fence(memory_order_seq_cst);
    for (uint32_t b = 0; b < w->dp->nworkers; b++) {
        if (!(w->wake_mask & (1u << b)))
            continue;
        struct dp_worker *peer = w->dp->workers[b];
        if (atomic_load(&peer->sleeping)) {
            uint64_t one = 1;
            ssize_t r = write(peer->evfd, &one, sizeof(one));
            (void)r;
        }
    }
    w->wake_mask = 0;
}

static bool inbound_pending(struct dp_worker *w, uint64_t *depth)
{
    uint64_t d = 0;
    for (uint32_t a = 0; a < w->dp->nworkers; a++)
        if (w->inbound[a].size)
            d += spsc_ring_count(&w->inbound[a]);
    if (depth)
        *depth = d;
    return d != 0;
}

static void worker_pass(struct dp_worker *w)
{
    struct dp *dp = w->dp;
    struct moat_worker_stats *st = w->st;

    /* Quiescent point: nothing from the previous pass is held past here. */
    atomic_store(&w->seen_epoch, atomic_load(&dp->epoch));
    const struct dp_tables *t = atomic_load(&dp->tables);
    st->loops++;
    st->generation = t ? t->generation : 0;
    now_update(w);
    dp_flow_tick(w->flow, t, w->now_ms);

    uint32_t work = reap_completions(w);
    refill(w);
    work += rx_all(w, t);

    /* High-water marks at the deepest point of the pass: after RX, before TX. */
    uint64_t depth = 0;
    for (uint32_t i = 0; i < w->nsocks; i++)
        depth += pend_count(&w->socks[i]);
    if (depth > st->pending_tx_local_hwm)
        st->pending_tx_local_hwm = depth;
    inbound_pending(w, &depth);
    if (depth > st->pending_tx_prepared_hwm)
        st->pending_tx_prepared_hwm = depth;

    work += drain_inbound(w, t);
    drain_local(w);
    work += tx_submit_and_kick(w);
    wake_peers(w);
    if (w->resolve_pushed || w->flow->kick) {
        uint64_t one = 1;
        ssize_t r = write(dp->ctl_evfd, &one, sizeof(one));
        (void)r;
        w->resolve_pushed = false;
        w->flow->kick = false;
    }

    /* Gauges. */
    uint64_t local = 0;
    bool outstanding = false;
    for (uint32_t i = 0; i < w->nsocks; i++) {
        local += pend_count(&w->socks[i]);
        outstanding |= w->socks[i].outstanding != 0;
    }
    uint64_t prepared;
    bool inbound = inbound_pending(w, &prepared);
    st->pending_tx_local = local;
    st->pending_tx_prepared = prepared;

    if (work || outstanding || local || inbound || dp_flow_busy(w->flow))
        return;

    /* Idle: sleep until a socket has RX, a peer hands us a frame, or the timeout. */
    atomic_store(&w->seen_epoch, DP_EPOCH_IDLE);
    atomic_store(&w->sleeping, 1);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in wake_peers() */
    if (!inbound_pending(w, NULL) && !atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
        st->idle_polls++;
        int n = poll(w->pfds, w->npfds, DP_IDLE_POLL_MS);
        if (n > 0 && (w->pfds[w->npfds - 1].revents & POLLIN)) {
            uint64_t v;
            ssize_t r = read(w->evfd, &v, sizeof(v));
            (void)r;
        }
    }
    atomic_store(&w->sleeping, 0);
}

static void *worker_main(void *arg)
{
    struct dp_worker *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "moat-dp-w%u", w->id);
    pthread_setname_np(pthread_self(), name);
    while (!atomic_load_explicit(&w->dp->stop, memory_order_relaxed))
        worker_pass(w);
    atomic_store(&w->seen_epoch, DP_EPOCH_IDLE);
    return NULL;
}

/* ---- setup and teardown (control thread) ---- */

static void worker_free(struct dp_worker *w)
{
    if (!w)
        return;
    for (uint32_t i = 0; i < w->nsocks; i++)
        free(w->socks[i].pend);
    free(w->socks);
    for (uint32_t a = 0; a < MOAT_MAX_WORKERS; a++)
        if (w->inbound[a].size)
            spsc_ring_free(&w->inbound[a]);
    if (w->resolve.size)
        spsc_ring_free(&w->resolve);
    free(w->free_stack);
    free(w->pfds);
    if (w->evfd >= 0)
        close(w->evfd);
    dp_umem_free(&w->umem);
    free(w);
}

static int worker_alloc(struct dp *dp, uint32_t id, struct dp_worker **out, char *err,
                        size_t errlen)
{
    const struct dp_settings *set = &dp->set;
    struct dp_worker *w =
        aligned_alloc(DP_CACHELINE, (sizeof(*w) + DP_CACHELINE - 1) & ~(size_t)(DP_CACHELINE - 1));
    if (!w)
        return -ENOMEM;
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->dp = dp;
    w->evfd = -1;
    w->st = &dp->stats->worker[id];
    w->batch = set->batch_size;
    w->pend_limit = set->pending_tx_limit;
    w->frame_mask = set->frame_size - 1;
    atomic_init(&w->seen_epoch, DP_EPOCH_IDLE);
    atomic_init(&w->sleeping, 0);
    for (uint32_t p = 0; p < MOAT_MAX_IFACES; p++)
        w->egress[p] = (struct dp_egress){-1, -1};
    *out = w;

    uint32_t n = 0;
    for (uint32_t p = 0; p < dp->nports; p++)
        for (uint32_t q = 0; q < dp->ports[p].queues; q++)
            if (q % set->workers == id)
                n++;
    w->socks = calloc(n ? n : 1, sizeof(*w->socks));
    if (!w->socks)
        return -ENOMEM;
    for (uint32_t p = 0; p < dp->nports; p++) {
        for (uint32_t q = 0; q < dp->ports[p].queues; q++) {
            if (q % set->workers != id)
                continue;
            struct dp_sock *s = &w->socks[w->nsocks++];
            s->fd = -1;
            s->port = p;
            s->ifindex = dp->ports[p].ifindex;
            s->queue = q;
            s->map_key = dp->ports[p].slot * MOAT_MAX_QUEUES + q;
            snprintf(s->ifname, sizeof(s->ifname), "%s", dp->ports[p].name);
            s->pend = calloc(set->pending_tx_limit, sizeof(*s->pend));
            if (!s->pend)
                return -ENOMEM;
            s->pend_mask = set->pending_tx_limit - 1;
        }
    }
    if (w->nsocks == 0)
        return 0;

    uint32_t inbound_frames = (set->workers - 1) * set->pending_tx_limit;
    uint32_t nframes = dp_umem_frames_needed(w->nsocks, set->ring_size, set->pending_tx_limit,
                                             set->batch_size, inbound_frames);
    int rc =
        nframes ? dp_umem_alloc(&w->umem, nframes, set->frame_size, set->ring_size) : -EOVERFLOW;
    if (rc) {
        snprintf(err, errlen, "worker %u: cannot allocate a UMEM of %u frames of %u bytes: %s", id,
                 nframes, set->frame_size, strerror(-rc));
        return rc;
    }
    w->free_cap = nframes;
    w->free_stack = malloc((size_t)nframes * sizeof(uint64_t));
    if (!w->free_stack)
        return -ENOMEM;
    for (uint32_t f = nframes; f-- > 0;)
        w->free_stack[w->nfree++] = (uint64_t)f * set->frame_size;

    for (uint32_t a = 0; a < set->workers; a++) {
        if (a == id)
            continue;
        rc = spsc_ring_init(&w->inbound[a], set->pending_tx_limit, sizeof(struct dp_handoff));
        if (rc)
            return rc;
        for (uint32_t k = 0; k < set->pending_tx_limit; k++) {
            struct dp_handoff *h = spsc_ring_slot_at(&w->inbound[a], k);
            h->addr = free_pop(w);
        }
    }
    rc = spsc_ring_init(&w->resolve, DP_RESOLVE_RING, sizeof(struct dp_resolve_req));
    if (rc)
        return rc;
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->evfd < 0)
        return -errno;
    return 0;
}

static void worker_prefill(struct dp_worker *w)
{
    for (uint32_t i = 0; i < w->nsocks; i++) {
        struct dp_sock *s = &w->socks[i];
        if (!s->bound)
            continue;
        uint32_t room = xsk_prod_nb_free(&s->fill, w->umem.ring_size);
        uint32_t n = room < w->nfree ? room : w->nfree;
        uint32_t idx = 0;
        if (n && xsk_ring_prod__reserve(&s->fill, n, &idx) == n) {
            for (uint32_t k = 0; k < n; k++)
                *xsk_ring_prod__fill_addr(&s->fill, idx + k) = free_pop(w);
            xsk_ring_prod__submit(&s->fill, n);
        }
    }
}

static void build_egress(struct dp *dp)
{
    for (uint32_t p = 0; p < dp->nports; p++) {
        struct dp_egress cand[MOAT_MAX_QUEUES];
        uint32_t nc = 0;
        for (uint32_t wi = 0; wi < dp->nworkers; wi++) {
            struct dp_worker *w = dp->workers[wi];
            for (uint32_t i = 0; w && i < w->nsocks; i++)
                if (w->socks[i].port == p && w->socks[i].bound && nc < MOAT_MAX_QUEUES)
                    cand[nc++] = (struct dp_egress){(int16_t)wi, (int16_t)i};
        }
        for (uint32_t wi = 0; wi < dp->nworkers; wi++) {
            struct dp_worker *w = dp->workers[wi];
            w->egress[p] = (struct dp_egress){-1, -1};
            if (!nc)
                continue;
            struct dp_egress pick = cand[wi % nc];
            for (uint32_t c = 0; c < nc; c++) {
                if (cand[c].worker == (int16_t)wi) {
                    pick = cand[c];
                    break;
                }
            }
            w->egress[p] = pick;
        }
    }
}

int dp_workers_setup(struct dp *dp, char *err, size_t errlen)
{
    int rc;
    err[0] = 0;
    dp->nworkers = 0;
    dp->xskmap_fd = dp_xskmap_open(dp->set.bpffs_dir);
    if (dp->xskmap_fd < 0) {
        rc = dp->xskmap_fd;
        snprintf(err, errlen, "cannot open the XSK map %s/%s: %s", dp->set.bpffs_dir, MOAT_MAP_XSKS,
                 strerror(-rc));
        dp->xskmap_fd = -1;
        return rc;
    }
    /* Optional: a box without the kernel path keeps the recent-cookie state per worker. */
    rc = sp_recent_map(dp->set.bpffs_dir, &dp->sp_recent, &dp->sp_recent_map);
    if (rc && rc != -ENOENT)
        log_warn("the SYN cookie state %s/%s could not be shared with the kernel path (%s): "
                 "a client's cookie ACK arriving right after a path switch is dropped; restart "
                 "controld to re-create the pinned maps",
                 dp->set.bpffs_dir, MOAT_MAP_LG_SPSLOT, strerror(-rc));
    for (uint32_t id = 0; id < dp->set.workers; id++) {
        struct dp_worker *w = NULL;
        rc = worker_alloc(dp, id, &w, err, errlen);
        if (w) {
            dp->workers[id] = w;
            dp->nworkers = id + 1;
        }
        if (rc)
            goto fail;
        if (w->nsocks) {
            /* A socket that could not register or bind says why in its err_text. */
            w->nbound = (uint32_t)dp_xsk_bind_all(&w->umem, w->socks, w->nsocks);
            for (uint32_t i = 0; i < w->nsocks; i++)
                if (w->socks[i].bound)
                    w->socks[i].bind_gen = ++dp->bind_seq;
        }
        if (dp->progress)
            dp->progress(dp->progress_arg);
    }
    build_egress(dp);
    for (uint32_t id = 0; id < dp->nworkers; id++) {
        struct dp_worker *w = dp->workers[id];
        worker_prefill(w);
        w->npfds = 0;
        w->pfds = calloc(w->nsocks + 1, sizeof(*w->pfds));
        if (!w->pfds) {
            rc = -ENOMEM;
            goto fail;
        }
        for (uint32_t i = 0; i < w->nsocks; i++) {
            struct dp_sock *s = &w->socks[i];
            if (!s->bound)
                continue;
            w->pfds[w->npfds++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
            int e = dp_xskmap_insert(dp->xskmap_fd, s->map_key, s->fd);
            if (e) {
                s->bind_err = e;
                snprintf(s->err_text, sizeof(s->err_text),
                         "inserting the socket of %s queue %u into %s[%u]: %s", s->ifname, s->queue,
                         MOAT_MAP_XSKS, s->map_key, strerror(-e));
                log_err("xsk: %s", s->err_text);
                continue;
            }
            s->in_map = true;
        }
        w->pfds[w->npfds++] = (struct pollfd){.fd = w->evfd, .events = POLLIN};
    }
    return 0;
fail:
    if (!err[0])
        snprintf(err, errlen, "dataplane setup failed: %s", strerror(-rc));
    dp_workers_teardown(dp);
    return rc;
}

int dp_workers_start(struct dp *dp)
{
    atomic_store(&dp->stop, 0);
    for (uint32_t id = 0; id < dp->nworkers; id++) {
        struct dp_worker *w = dp->workers[id];
        if (!w || !w->nbound)
            continue;
        w->flow = id < dp->nflows ? dp->flows[id] : NULL;
        if (!w->flow) {
            log_err("worker %u has sockets but no session table", id);
            dp_workers_stop(dp);
            return -EINVAL;
        }
        atomic_store(&w->seen_epoch, DP_EPOCH_IDLE);
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc) {
            log_err("cannot start worker %u: %s", id, strerror(rc));
            dp_workers_stop(dp);
            return -rc;
        }
        w->started = true;
    }
    dp_workers_pin(dp);
    return 0;
}

void dp_workers_pin(struct dp *dp)
{
    for (uint32_t id = 0; id < dp->nworkers; id++) {
        struct dp_worker *w = dp->workers[id];
        if (!w || !w->started)
            continue;
        cpu_set_t set;
        CPU_ZERO(&set);
        if (dp->set.ncpus) {
            CPU_SET(dp->set.cpus[id % dp->set.ncpus], &set);
        } else {
            for (int c = 0; c < CPU_SETSIZE; c++)
                CPU_SET(c, &set); /* anywhere (the kernel keeps it to the CPUs that exist) */
        }
        int rc = pthread_setaffinity_np(w->thread, sizeof(set), &set);
        if (rc)
            log_warn("worker %u: pinning to CPU %u failed: %s; it runs where the kernel puts it",
                     id, dp->set.ncpus ? dp->set.cpus[id % dp->set.ncpus] : 0, strerror(rc));
        else if (dp->set.ncpus)
            log_info("worker %u pinned to CPU %u", id, dp->set.cpus[id % dp->set.ncpus]);
    }
}

void dp_workers_stop(struct dp *dp)
{
    atomic_store(&dp->stop, 1);
    for (uint32_t id = 0; id < dp->nworkers; id++) {
        struct dp_worker *w = dp->workers[id];
        if (!w || !w->started)
            continue;
        uint64_t one = 1;
        ssize_t r = write(w->evfd, &one, sizeof(one));
        (void)r;
    }
    for (uint32_t id = 0; id < dp->nworkers; id++) {
        struct dp_worker *w = dp->workers[id];
        if (!w || !w->started)
            continue;
        pthread_join(w->thread, NULL);
        w->started = false;
    }
}

void dp_workers_teardown(struct dp *dp)
{
    /* The shim must stop redirecting to a socket before it goes away. */
    for (uint32_t id = 0; id < dp->nworkers; id++) {
        struct dp_worker *w = dp->workers[id];
        for (uint32_t i = 0; w && i < w->nsocks; i++) {
            struct dp_sock *s = &w->socks[i];
            if (!s->in_map)
                continue;
            int e = dp_xskmap_delete(dp->xskmap_fd, s->map_key);
            if (e && e != -ENOENT)
                log_warn("xsk: deleting %s[%u] (%s queue %u): %s", MOAT_MAP_XSKS, s->map_key,
                         s->ifname, s->queue, strerror(-e));
            s->in_map = false;
        }
    }
    for (uint32_t id = 0; id < dp->nworkers; id++) {
        struct dp_worker *w = dp->workers[id];
        if (!w)
            continue;
        if (w->nsocks && w->umem.area)
            dp_xsk_unbind_all(&w->umem, w->socks, w->nsocks);
        worker_free(w);
        dp->workers[id] = NULL;
    }
    dp->nworkers = 0;
    if (dp->xskmap_fd >= 0)
        close(dp->xskmap_fd);
    dp->xskmap_fd = -1;
    sp_recent_unmap(dp->sp_recent_map);
    dp->sp_recent = NULL;
    dp->sp_recent_map = NULL;
}

/* ---- rebinding one port in place (link cycle) ---- */

static void worker_build_pfds(struct dp_worker *w)
{
    w->npfds = 0;
    w->nbound = 0;
    for (uint32_t i = 0; i < w->nsocks; i++) {
        struct dp_sock *s = &w->socks[i];
        if (!s->bound)
            continue;
        w->nbound++;
        w->pfds[w->npfds++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
    }
    w->pfds[w->npfds++] = (struct pollfd){.fd = w->evfd, .events = POLLIN};
}

/* Gives the kernel a few milliseconds to complete what it took from s's TX ring. */
static void sock_settle_tx(struct dp_worker *w, struct dp_sock *s)
{
    for (int tries = 0; tries < 10 && s->outstanding && s->bound; tries++) {
        if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno == ENXIO)
            break; /* unbound: the device is gone */
        uint32_t idx = 0;
        uint32_t n = xsk_ring_cons__peek(&s->comp, w->umem.ring_size, &idx);
        for (uint32_t k = 0; k < n; k++)
            free_push(w, *xsk_ring_cons__comp_addr(&s->comp, idx + k));
        if (n) {
            xsk_ring_cons__release(&s->comp, n);
            s->outstanding -= n;
            w->st->tx_completed += n;
            continue;
        }
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int dp_workers_rebind_port(struct dp *dp, uint32_t port)
{
    const struct dp_port *pt = &dp->ports[port];
    for (uint32_t id = 0; id < dp->nworkers; id++) {
        struct dp_worker *w = dp->workers[id];
        if (!w || !w->nsocks)
            continue;
        uint32_t max = 4 * w->umem.ring_size;
        uint64_t *back = malloc((size_t)max * sizeof(*back));
        if (!back)
            return -ENOMEM;
        for (uint32_t i = 0; i < w->nsocks; i++) {
            struct dp_sock *s = &w->socks[i];
            if (s->port != port)
                continue;
            /* The shim must stop redirecting to this socket before it goes away. */
            if (s->in_map) {
                int e = dp_xskmap_delete(dp->xskmap_fd, s->map_key);
                if (e && e != -ENOENT)
                    log_warn("xsk: deleting %s[%u] (%s queue %u): %s", MOAT_MAP_XSKS, s->map_key,
                             s->ifname, s->queue, strerror(-e));
                s->in_map = false;
            }
            sock_settle_tx(w, s);
            while (pend_count(s)) {
                free_push(w, s->pend[s->pend_tail & s->pend_mask].addr);
                s->pend_tail++;
                w->st->pending_tx_drops++;
            }
            uint32_t was_out = s->outstanding;
            s->ifindex = pt->ifindex;
            s->map_key = pt->slot * MOAT_MAX_QUEUES + s->queue;
            snprintf(s->ifname, sizeof(s->ifname), "%s", pt->name);
            uint32_t n = 0;
            int rc = dp_xsk_rebind(&w->umem, s, back, max, &n);
            for (uint32_t k = 0; k < n; k++)
                free_push(w, back[k]);
            if (rc) {
                log_err("xsk: %s", s->err_text);
                continue;
            }
            s->bind_gen = ++dp->bind_seq;
            int e = dp_xskmap_insert(dp->xskmap_fd, s->map_key, s->fd);
            if (e) {
                s->bind_err = e;
                snprintf(s->err_text, sizeof(s->err_text),
                         "inserting the socket of %s queue %u into %s[%u]: %s", s->ifname, s->queue,
                         MOAT_MAP_XSKS, s->map_key, strerror(-e));
                log_err("xsk: %s", s->err_text);
                continue;
            }
            s->in_map = true;
            log_info("worker %u: %s queue %u rebound in %s mode (ifindex %u), %s[%u] set; %u "
                     "frames back from the old socket%s",
                     id, s->ifname, s->queue, dp_xsk_mode_name(s), s->ifindex, MOAT_MAP_XSKS,
                     s->map_key, n, was_out ? " (some TX frames were in flight)" : "");
        }
        free(back);
        worker_build_pfds(w);
    }
    build_egress(dp);
    return 0;
}
