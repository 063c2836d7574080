/* SPDX-License-Identifier: MIT */
#include "trace.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "flowctl.h"

#define TRACE_BATCH 64

int dp_trace_init(struct dp_trace *tr)
{
    memset(tr, 0, sizeof(*tr));
    for (uint32_t w = 0; w < MOAT_MAX_WORKERS; w++) {
        int rc = spsc_ring_init(&tr->ring[w], DP_TRACE_RING, sizeof(struct dp_trace_rec));
        if (rc < 0) {
            dp_trace_free(tr);
            return rc;
        }
    }
    return 0;
}

void dp_trace_free(struct dp_trace *tr)
{
    for (uint32_t w = 0; w < MOAT_MAX_WORKERS; w++)
        spsc_ring_free(&tr->ring[w]);
}

static bool prefix_match(const uint8_t *addr, const uint8_t *pfx, unsigned len)
{
    unsigned bytes = len / 8, bits = len % 8;
    if (memcmp(addr, pfx, bytes) != 0)
        return false;
    if (!bits)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - bits));
    return (addr[bytes] & mask) == (pfx[bytes] & mask);
}

static bool match_dir(const struct dp_trace_filter *f, const uint8_t *src, const uint8_t *dst,
                      uint16_t sport, uint16_t dport)
{
    if (f->src_len && !prefix_match(src, f->src, f->src_len))
        return false;
    if (f->dst_len && !prefix_match(dst, f->dst, f->dst_len))
        return false;
    if (f->sport && f->sport != sport)
        return false;
    if (f->dport && f->dport != dport)
        return false;
    return true;
}

bool dp_trace_match(const struct dp_trace_filter *f, const struct moat_meta *m)
{
    const uint8_t fam = (m->flags & MOAT_META_F_IPV6) ? 6 : 4;
    if (f->family && f->family != fam)
        return false;
    if (f->proto && f->proto != m->proto)
        return false;
    if (f->ifindex && f->ifindex != m->ifindex)
        return false;
    const uint16_t sport = ntohs(m->sport), dport = ntohs(m->dport);
    if (match_dir(f, m->src, m->dst, sport, dport))
        return true;
    return f->either_way && match_dir(f, m->dst, m->src, dport, sport);
}

struct dp_trace_rec *dp_trace_claim(struct dp_trace *tr, uint32_t worker)
{
    const int64_t left = atomic_fetch_sub_explicit(&tr->budget, 1, memory_order_relaxed);
    if (left <= 0) {
        atomic_store_explicit(&tr->on, 0, memory_order_release);
        return NULL;
    }
    struct dp_trace_rec *r = spsc_ring_prod_slot(&tr->ring[worker]);
    if (!r) {
        atomic_fetch_add_explicit(&tr->lost, 1, memory_order_relaxed);
        if (left == 1)
            atomic_store_explicit(&tr->on, 0, memory_order_release);
        return NULL;
    }
    memset(r, 0, offsetof(struct dp_trace_rec, head));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r->mono_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    r->worker = worker;
    r->last = left == 1;
    return r;
}

void dp_trace_commit(struct dp_trace *tr, uint32_t worker, struct dp_trace_rec *r)
{
    const bool last = r->last;
    spsc_ring_prod_commit(&tr->ring[worker]);
    if (last) /* the budget's last packet: off once its record is visible */
        atomic_store_explicit(&tr->on, 0, memory_order_release);
}

uint64_t dp_trace_counters_moved(const struct moat_worker_stats *before,
                                 const struct moat_worker_stats *after)
{
    const uint64_t *a = (const uint64_t *)before, *b = (const uint64_t *)after;
    uint64_t mask = 0;
    for (unsigned i = 0; i < sizeof(*before) / sizeof(uint64_t) && i < 64; i++)
        if (a[i] != b[i])
            mask |= 1ull << i;
    return mask;
}

/* ---- control thread ---- */

static int copy_prefix(const ProtobufCBinaryData *a, uint32_t len, uint8_t fam, uint8_t *out,
                       uint8_t *out_len)
{
    if (!a->len) {
        if (len)
            return -EINVAL;
        *out_len = 0;
        return 0;
    }
    const size_t want = fam == 6 ? 16 : 4;
    if (a->len != want || len > want * 8)
        return -EINVAL;
    memcpy(out, a->data, a->len);
    *out_len = (uint8_t)len;
    return 0;
}

int dp_trace_start(struct dp_trace *tr, const Moat__TraceStart *m)
{
    struct dp_trace_filter f;
    memset(&f, 0, sizeof(f));
    const Moat__TraceFilter *in = m->filter;
    if (in) {
        if (in->family != 0 && in->family != 4 && in->family != 6)
            return -EINVAL;
        uint8_t fam = (uint8_t)in->family;
        if (!fam && (in->src.len || in->dst.len))
            fam = (in->src.len ? in->src.len : in->dst.len) == 16 ? 6 : 4;
        f.family = fam;
        if (copy_prefix(&in->src, in->src_len, fam, f.src, &f.src_len) < 0 ||
            copy_prefix(&in->dst, in->dst_len, fam, f.dst, &f.dst_len) < 0 || in->protocol > 255 ||
            in->src_port > 65535 || in->dst_port > 65535)
            return -EINVAL;
        f.proto = (uint8_t)in->protocol;
        f.sport = (uint16_t)in->src_port;
        f.dport = (uint16_t)in->dst_port;
        f.ifindex = in->ifindex;
        f.either_way = in->either_way;
    }
    atomic_store_explicit(&tr->on, 0, memory_order_release);
    tr->filter = f;
    tr->id = m->id;
    tr->done_sent = false;
    tr->lost_reported = atomic_load(&tr->lost);
    int64_t n = m->max_packets ? m->max_packets : 1;
    if (n > DP_TRACE_MAX_PACKETS)
        n = DP_TRACE_MAX_PACKETS;
    atomic_store_explicit(&tr->budget, n, memory_order_relaxed);
    /* Publishes the filter: a worker that sees on == 1 sees the filter written above. */
    atomic_store_explicit(&tr->on, 1, memory_order_release);
    return 0;
}

void dp_trace_stop(struct dp_trace *tr, uint64_t id)
{
    if (id && id != tr->id)
        return;
    atomic_store_explicit(&tr->on, 0, memory_order_release);
    atomic_store_explicit(&tr->budget, 0, memory_order_relaxed);
    tr->done_sent = true; /* controld asked: nothing more owed */
}

bool dp_trace_busy(const struct dp_trace *tr)
{
    return tr->id && (atomic_load_explicit(&tr->on, memory_order_relaxed) || !tr->done_sent);
}

static void key_of(const struct moat_meta *m, Moat__FlowKey *k)
{
    moat__flow_key__init(k);
    const size_t al = (m->flags & MOAT_META_F_IPV6) ? 16 : 4;
    k->src.data = (uint8_t *)m->src;
    k->src.len = al;
    k->dst.data = (uint8_t *)m->dst;
    k->dst.len = al;
    k->sport = ntohs(m->sport);
    k->dport = ntohs(m->dport);
    k->protocol = m->proto;
}

uint32_t dp_trace_drain(struct dp_trace *tr, const struct flowctl *fc, int64_t unix_offset_ns,
                        int (*send)(void *arg, const Moat__Envelope *env), void *send_arg)
{
    static struct dp_trace_rec recs[TRACE_BATCH];
    static Moat__TraceEvent ev[TRACE_BATCH];
    static Moat__TraceEvent *evp[TRACE_BATCH];
    static Moat__FlowKey keys[TRACE_BATCH], fwd[TRACE_BATCH], rev[TRACE_BATCH];
    static Moat__SessionRecord sess[TRACE_BATCH];
    uint32_t sent = 0;
    if (!tr->id)
        return 0;
    for (;;) {
        uint32_t n = 0;
        for (uint32_t w = 0; w < MOAT_MAX_WORKERS && n < TRACE_BATCH; w++)
            while (n < TRACE_BATCH && spsc_ring_pop(&tr->ring[w], &recs[n]))
                n++;
        const uint64_t lost = atomic_load(&tr->lost);
        const bool finished = !atomic_load_explicit(&tr->on, memory_order_acquire);
        bool done = false;
        if (!n && finished && !tr->done_sent) {
            /* Off and drained: the budget is spent (or stopped) — say so once. */
            done = true;
            tr->done_sent = true;
        }
        if (!n && !done && lost == tr->lost_reported)
            return sent;
        for (uint32_t i = 0; i < n; i++) {
            const struct dp_trace_rec *r = &recs[i];
            Moat__TraceEvent *e = &ev[i];
            moat__trace_event__init(e);
            e->unix_ns = (uint64_t)((int64_t)r->mono_ns + unix_offset_ns);
            e->worker = r->worker;
            e->in_ifindex = r->meta.ifindex;
            e->rx_queue = r->meta.rx_queue;
            key_of(&r->meta, &keys[i]);
            e->key = &keys[i];
            e->verdict = r->verdict;
            e->out_ifindex = r->out_ifindex;
            e->out_len = r->out_len;
            e->out_head.data = (uint8_t *)r->head;
            e->out_head.len = r->head_len;
            e->counters = r->counters;
            e->handed = r->handed;
            e->handed_to = r->handed_to;
            if (r->has_sess) {
                flowctl_delta_to_record(fc, &r->sess, &sess[i], &fwd[i], &rev[i]);
                e->session = &sess[i];
            }
            if (r->nh_family) {
                e->next_hop.data = (uint8_t *)r->nh;
                e->next_hop.len = r->nh_family == 6 ? 16 : 4;
            }
            e->ttl = r->meta.ttl;
            e->flags = r->meta.flags;
            e->icmp_type = r->meta.icmp_type;
            e->icmp_code = r->meta.icmp_code;
            e->in_zone = r->in_zone;
            e->out_zone = r->out_zone;
            if (r->pol_slot != UINT16_MAX && r->pol_slot < POL_MAX_SLOTS) {
                e->policy_checked = true;
                e->policy_id = fc->slot_id[r->pol_slot];
                e->policy_name = (char *)pol_names_display(&fc->pnames, r->pol_slot);
            }
            evp[i] = e;
        }
        Moat__TraceEvents msg = MOAT__TRACE_EVENTS__INIT;
        msg.id = tr->id;
        msg.n_events = n;
        msg.events = evp;
        msg.lost = lost - tr->lost_reported;
        msg.done = done;
        tr->lost_reported = lost;
        Moat__Envelope env = MOAT__ENVELOPE__INIT;
        env.msg_case = MOAT__ENVELOPE__MSG_TRACE_EVENTS;
        env.trace_events = &msg;
        if (send(send_arg, &env) < 0)
            return sent;
        sent += n;
        if (done || n < TRACE_BATCH)
            return sent;
    }
}
