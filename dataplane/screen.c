/* SPDX-License-Identifier: MIT */
/*
 * screen.c — security screens: see screen.h.
 */
#include "screen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moat.pb-c.h"
#include "wire.h"

/* The rules of common/screen_rules.h speak the same check flags and counter indexes. */
_Static_assert(SCR_F_PING_DEATH == MOAT_SCR_F_PING_DEATH && SCR_F_LAND == MOAT_SCR_F_LAND &&
                   SCR_F_SYN_FIN == MOAT_SCR_F_SYN_FIN && SCR_F_NO_FLAG == MOAT_SCR_F_NO_FLAG &&
                   SCR_F_FIN_NO_ACK == MOAT_SCR_F_FIN_NO_ACK &&
                   SCR_F_TEAR_DROP == MOAT_SCR_F_TEAR_DROP,
               "screen check flags differ from common/screen_rules.h");
_Static_assert(SCR_C_LAND == MOAT_SCR_C_LAND && SCR_C_SYN_FIN == MOAT_SCR_C_SYN_FIN &&
                   SCR_C_NO_FLAG == MOAT_SCR_C_NO_FLAG &&
                   SCR_C_FIN_NO_ACK == MOAT_SCR_C_FIN_NO_ACK &&
                   SCR_C_TEAR_DROP == MOAT_SCR_C_TEAR_DROP &&
                   SCR_C_PING_DEATH == MOAT_SCR_C_PING_DEATH && SCR_C_N < MOAT_SCR_PASS,
               "screen counter indexes differ from common/screen_rules.h");

const char *const scr_ctr_names[SCR_C_N] = {
    [SCR_C_ICMP_FLOOD] = "icmp-flood",
    [SCR_C_UDP_FLOOD] = "udp-flood",
    [SCR_C_SYN_FLOOD] = "syn-flood",
    [SCR_C_LAND] = "land",
    [SCR_C_SYN_FIN] = "syn-fin",
    [SCR_C_NO_FLAG] = "tcp-no-flag",
    [SCR_C_FIN_NO_ACK] = "fin-no-ack",
    [SCR_C_TEAR_DROP] = "tear-drop",
    [SCR_C_PING_DEATH] = "ping-death",
    [SCR_C_LIMIT_SRC] = "source-session-limit",
    [SCR_C_LIMIT_DST] = "destination-session-limit",
    [SCR_C_COOKIE_SENT] = "syn-cookie-sent",
    [SCR_C_COOKIE_VALID] = "syn-cookie-valid",
    [SCR_C_COOKIE_INVALID] = "syn-cookie-invalid",
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

int scr_compile(const struct Moat__Snapshot *s, struct scr_tables *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (s->n_screens > SCR_MAX_PROFILES)
        return fail(err, errlen, "%zu screens: at most %u", s->n_screens, SCR_MAX_PROFILES);
    for (size_t i = 0; i < s->n_screens; i++) {
        const Moat__Screen *m = s->screens[i];
        if (!m->id)
            return fail(err, errlen, "screen %s has id 0", m->name ? m->name : "?");
        for (size_t j = 0; j < i; j++)
            if (s->screens[j]->id == m->id)
                return fail(err, errlen, "screen id %u appears twice", m->id);
        struct scr_profile *p = &out->prof[out->n++];
        p->id = m->id;
        p->flags = m->flags;
        p->icmp_flood = m->icmp_flood;
        p->udp_flood = m->udp_flood;
        p->syn_attack = m->syn_attack;
        p->syn_dst = m->syn_destination;
        p->syn_src = m->syn_source;
        p->limit_src = m->limit_src;
        p->limit_dst = m->limit_dst;
        p->syn_cookie = s->flow && s->flow->syn_cookie;
    }
    for (size_t i = 0; i < s->n_zones; i++) {
        const Moat__Zone *z = s->zones[i];
        if (!z->screen_id)
            continue;
        if (z->id > SCR_MAX_ZONE)
            return fail(err, errlen, "zone id %u is out of range for a screen (0..%u)", z->id,
                        SCR_MAX_ZONE);
        uint32_t k = 0;
        while (k < out->n && out->prof[k].id != z->screen_id)
            k++;
        if (k == out->n)
            return fail(err, errlen, "zone %s refers to screen id %u, which is not in the snapshot",
                        z->name ? z->name : "?", z->screen_id);
        out->zone[z->id] = (uint8_t)(k + 1);
    }
    return 0;
}

int scr_worker_create(struct scr_worker **out, uint64_t seed)
{
    struct scr_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->seed = seed;
    *out = w;
    return 0;
}

void scr_worker_destroy(struct scr_worker *w)
{
    free(w);
}

void scr_worker_peers(struct scr_worker *w, struct scr_worker *const *peers, uint32_t n)
{
    const uint32_t max = sizeof(w->peer) / sizeof(w->peer[0]);
    w->npeers = n > max ? max : n;
    for (uint32_t i = 0; i < w->npeers; i++)
        w->peer[i] = peers[i];
}

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define ST(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

/* One more event for tag in the current second: true when above limit, box-wide (screen.h).
 * sticky: also true when the key was over its limit in the second before. */
static inline bool rate_over(struct scr_worker *w, uint64_t tag, uint32_t sec, uint32_t limit,
                             bool sticky)
{
    const uint32_t slot = (uint32_t)(tag & (SCR_RATE_SLOTS - 1));
    struct scr_rate *r = &w->rate[slot];
    uint32_t count = LD(r->count);
    if (LD(r->tag) != tag) {
        ST(r->tag, tag);
        ST(r->sec, sec);
        r->over = 0;
        count = 0;
    } else if (LD(r->sec) != sec) {
        ST(r->sec, sec);
        count = 0;
    }
    if (count < UINT32_MAX)
        count++;
    ST(r->count, count);
    bool over = count > limit;
    if (!over && w->npeers >= 2 && (uint64_t)count * w->npeers > limit) {
        /* Past this worker's share: the box-wide sum (below it nothing else is read). */
        uint64_t sum = count;
        for (uint32_t i = 0; i < w->npeers; i++) {
            const struct scr_worker *o = w->peer[i];
            if (!o || o == w)
                continue;
            const struct scr_rate *q = &o->rate[slot];
            if (LD(q->tag) == tag && LD(q->sec) == sec)
                sum += LD(q->count);
        }
        over = sum > limit;
    }
    if (over) {
        r->over = sec + 1;
        return true;
    }
    return sticky && r->over == sec; /* over in the second before (sec - 1 + 1) */
}

static inline enum scr_verdict drop(struct scr_worker *w, uint16_t zone, enum scr_ctr c)
{
    w->ctr[zone][c]++;
    return SCR_DROP;
}

/* The entry of the datagram tag (a new one if it was not remembered or has expired). */
static struct scr_frag *frag_entry(struct scr_worker *w, uint64_t tag, uint32_t now_ms)
{
    struct scr_frag *e = &w->frag[tag & (SCR_FRAG_SLOTS - 1)];
    if (e->tag != tag || (int32_t)(e->expires - now_ms) <= 0) {
        e->tag = tag;
        memset(&e->seen, 0, sizeof(e->seen));
    }
    e->expires = now_ms + SCR_FRAG_TTL_MS;
    return e;
}

/* An IPv4 fragment overlapping (or repeating) an earlier fragment of its datagram: dropped
 * alone (moat_frag_teardrop). The datagram is (source, destination, protocol, identification). */
static bool frag4_overlaps(struct scr_worker *w, const uint8_t *ip, const struct moat_meta *m,
                           uint32_t lo, uint32_t hi, uint32_t now_ms)
{
    uint64_t tag = moat_scr_addr_hash(w->seed, m->src, (uint64_t)rd16(ip + 4) << 8 | m->proto);
    tag =
        moat_scr_mix(tag, (uint64_t)m->dst[0] << 24 | m->dst[1] << 16 | m->dst[2] << 8 | m->dst[3]);
    return moat_frag_teardrop(&frag_entry(w, tag, now_ms)->seen, 0, lo, hi);
}

/* What an IPv6 fragment's header says (frag6_header()). */
struct frag6 {
    uint32_t unfrag; /* bytes of extension headers before the fragment header */
    uint32_t lo, hi; /* the fragment's bytes [lo, hi) of the fragmentable part */
    uint32_t id;     /* identification, as on the wire */
    bool more;       /* M flag */
};

/* The fragment header of the IPv6 datagram at ip (end: its length, header included, within
 * the frame) in *f. False when there is none within the first 8 extension headers (the shim
 * walks no further). */
static bool frag6_header(const uint8_t *ip, uint32_t end, struct frag6 *f)
{
    uint32_t off = 40;
    uint8_t nh = ip[6];
    for (int i = 0; i < 8; i++) {
        if (off + 8 > end)
            return false;
        const uint8_t *h = ip + off;
        if (nh == IPPROTO_FRAGMENT) {
            f->unfrag = off - 40;
            f->lo = (uint32_t)(rd16(h + 2) & 0xfff8);
            f->hi = f->lo + (end - off - 8);
            f->more = h[3] & 1;
            memcpy(&f->id, h + 4, 4);
            return true;
        }
        if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS)
            return false;
        nh = h[0];
        off += ((uint32_t)h[1] + 1) * 8;
    }
    return false;
}

/* An IPv6 fragment to drop (moat_frag_teardrop: an overlap discards the whole datagram until it
 * is forgotten, SCR_FRAG_TTL_MS without a fragment). An atomic fragment is never compared. The
 * datagram is (source, destination, identification): the next header is not part of it. */
static bool frag6_drop(struct scr_worker *w, const struct frag6 *f, const struct moat_meta *m,
                       uint32_t now_ms)
{
    if (moat_frag6_atomic(f->lo, f->more))
        return false;
    uint64_t d0, d1;
    memcpy(&d0, m->dst, 8);
    memcpy(&d1, m->dst + 8, 8);
    const uint64_t tag =
        moat_scr_mix(moat_scr_mix(moat_scr_addr_hash(w->seed, m->src, 6ull << 40 | f->id), d0), d1);
    return moat_frag_teardrop(&frag_entry(w, tag, now_ms)->seen, 1, f->lo, f->hi);
}

enum scr_verdict screen_packet(struct scr_worker *w, const struct scr_profile *p, uint16_t zone,
                               const uint8_t *data, uint32_t len, const struct moat_meta *m,
                               uint16_t l3_off, uint32_t now_ms)
{
    const uint32_t sec = now_ms / 1000;
    const bool v6 = m->flags & MOAT_META_F_IPV6;
    if (m->proto == IPPROTO_TCP && (m->flags & MOAT_META_F_L4) && (uint32_t)m->l4_off + 14 <= len) {
        const uint8_t fl = data[m->l4_off + 13];
        const uint32_t c = moat_scr_tcp_flags(
            p->flags, fl, (p->flags & SCR_F_LAND) && memcmp(m->src, m->dst, 16) == 0);
        if (c != MOAT_SCR_PASS)
            return drop(w, zone, (enum scr_ctr)c);
        if (moat_scr_tcp_opening(fl) && (p->syn_attack | p->syn_dst | p->syn_src)) {
            /* A SYN: the per-destination+port, per-destination and per-source rates. */
            const uint64_t fam = v6 ? 6 : 4;
            /* A source above its threshold is dropped in either mode; a destination above
             * its threshold gets cookies in syn-cookie mode. */
            if (p->syn_src &&
                rate_over(w, moat_scr_rate_key(w->seed, m->src, MOAT_SCR_RATE_SYN_SRC, fam, 0), sec,
                          p->syn_src, false))
                return drop(w, zone, SCR_C_SYN_FLOOD);
            if ((p->syn_attack &&
                 rate_over(
                     w,
                     moat_scr_rate_key(w->seed, m->dst, MOAT_SCR_RATE_SYN_DST_PORT, fam, m->dport),
                     sec, p->syn_attack, p->syn_cookie)) ||
                (p->syn_dst &&
                 rate_over(w, moat_scr_rate_key(w->seed, m->dst, MOAT_SCR_RATE_SYN_DST, fam, 0),
                           sec, p->syn_dst, p->syn_cookie)))
                return p->syn_cookie ? SCR_COOKIE : drop(w, zone, SCR_C_SYN_FLOOD);
        }
    } else if ((p->flags & SCR_F_LAND) && memcmp(m->src, m->dst, 16) == 0) {
        return drop(w, zone, SCR_C_LAND); /* land without ports: any protocol */
    } else if (m->proto == IPPROTO_UDP && p->udp_flood) {
        if (rate_over(w, moat_scr_rate_key(w->seed, m->dst, MOAT_SCR_RATE_UDP_DST, v6 ? 6 : 4, 0),
                      sec, p->udp_flood, false))
            return drop(w, zone, SCR_C_UDP_FLOOD);
    } else if ((m->proto == IPPROTO_ICMP || m->proto == IPPROTO_ICMPV6) && p->icmp_flood) {
        if (rate_over(w, moat_scr_rate_key(w->seed, m->dst, MOAT_SCR_RATE_ICMP_DST, v6 ? 6 : 4, 0),
                      sec, p->icmp_flood, false))
            return drop(w, zone, SCR_C_ICMP_FLOOD);
    }
    if ((m->flags & MOAT_META_F_FRAG) && v6 && (p->flags & (SCR_F_PING_DEATH | SCR_F_TEAR_DROP)) &&
        (uint32_t)l3_off + 40 <= len) {
        const uint8_t *ip = data + l3_off;
        const uint32_t end = 40 + (uint32_t)rd16(ip + 4);
        struct frag6 f;
        if (l3_off + end <= len && frag6_header(ip, end, &f)) {
            /* RFC 8200 4.5: the reassembled Payload Length (the extension headers before the
             * fragment header, then the fragmentable part) would exceed 65535, whatever the
             * upper-layer protocol (the fragment's next header may be another extension
             * header). Dropped alone, as IPv4's. */
            if ((p->flags & SCR_F_PING_DEATH) && moat_scr_ping_death6(f.unfrag, f.hi))
                return drop(w, zone, SCR_C_PING_DEATH);
            if ((p->flags & SCR_F_TEAR_DROP) && frag6_drop(w, &f, m, now_ms))
                return drop(w, zone, SCR_C_TEAR_DROP);
        }
    }
    if ((m->flags & MOAT_META_F_FRAG) && !v6 && (p->flags & (SCR_F_PING_DEATH | SCR_F_TEAR_DROP)) &&
        (uint32_t)l3_off + 20 <= len) {
        const uint8_t *ip = data + l3_off;
        const uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4;
        const uint32_t tot = rd16(ip + 2);
        const uint32_t lo = (uint32_t)(rd16(ip + 6) & 0x1fff) * 8;
        const uint32_t hi = lo + (tot > ihl ? tot - ihl : 0);
        if ((p->flags & SCR_F_PING_DEATH) && m->proto == IPPROTO_ICMP &&
            moat_scr_ping_death4(lo, hi - lo + ihl))
            return drop(w, zone, SCR_C_PING_DEATH);
        if ((p->flags & SCR_F_TEAR_DROP) && frag4_overlaps(w, ip, m, lo, hi, now_ms))
            return drop(w, zone, SCR_C_TEAR_DROP);
    }
    return SCR_PASS;
}

static inline uint32_t cnt_sum(struct scr_worker *const *ws, uint32_t n, bool src, uint32_t slot)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!ws[i])
            continue;
        sum += atomic_load_explicit(src ? &ws[i]->src_cnt[slot] : &ws[i]->dst_cnt[slot],
                                    memory_order_relaxed);
    }
    return sum;
}

static inline uint32_t cnt_slot(const struct scr_worker *w, const uint8_t *a, uint8_t family)
{
    return (uint32_t)moat_scr_addr_hash(w->seed, a, 7u << 24 | family) & (SCR_CNT_SLOTS - 1);
}

bool screen_new_flow(struct scr_worker *w, const struct scr_profile *p, const struct flow_tuple *k,
                     struct scr_worker *const *workers, uint32_t nworkers)
{
    if (p->limit_src &&
        cnt_sum(workers, nworkers, true, cnt_slot(w, k->src, k->family)) >= p->limit_src)
        return drop(w, k->zone, SCR_C_LIMIT_SRC);
    if (p->limit_dst &&
        cnt_sum(workers, nworkers, false, cnt_slot(w, k->dst, k->family)) >= p->limit_dst)
        return drop(w, k->zone, SCR_C_LIMIT_DST);
    return true;
}

static inline void cnt_add(_Atomic uint32_t *c, int32_t d)
{
    /* One writer per table (its worker, or the control thread while it is stopped). */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint32_t)d,
                          memory_order_relaxed);
}

void screen_session_add(struct scr_worker *w, const struct flow_tuple *k)
{
    cnt_add(&w->src_cnt[cnt_slot(w, k->src, k->family)], 1);
    cnt_add(&w->dst_cnt[cnt_slot(w, k->dst, k->family)], 1);
}

void screen_session_del(struct scr_worker *w, const struct flow_tuple *k)
{
    _Atomic uint32_t *s = &w->src_cnt[cnt_slot(w, k->src, k->family)];
    _Atomic uint32_t *d = &w->dst_cnt[cnt_slot(w, k->dst, k->family)];
    if (atomic_load_explicit(s, memory_order_relaxed))
        cnt_add(s, -1);
    if (atomic_load_explicit(d, memory_order_relaxed))
        cnt_add(d, -1);
}
