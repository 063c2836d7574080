/* SPDX-License-Identifier: MIT */
#include "sessrec.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct sessrec) == 216, "struct sessrec has no padding of its own");

/* A key's addresses and ports; false when the key cannot be one. */
static bool key_ok(const Moat__FlowKey *k)
{
    return k && (k->src.len == 4 || k->src.len == 16) && k->dst.len == k->src.len &&
           k->protocol <= 255 && k->sport <= 65535 && k->dport <= 65535;
}

bool sessrec_from_record(const Moat__SessionRecord *r, struct sessrec *s)
{
    memset(s, 0, sizeof(*s));
    const Moat__FlowKey *f = r->forward, *b = r->reverse;
    if (!key_ok(f))
        return false;
    s->family = f->src.len == 16 ? 6 : 4;
    s->proto = (uint8_t)f->protocol;
    memcpy(s->fwd_src, f->src.data, f->src.len);
    memcpy(s->fwd_dst, f->dst.data, f->dst.len);
    s->fwd_sport = (uint16_t)f->sport;
    s->fwd_dport = (uint16_t)f->dport;
    if (key_ok(b) && b->src.len == f->src.len && b->protocol == f->protocol) {
        s->has_rev = 1;
        memcpy(s->rev_src, b->src.data, b->src.len);
        memcpy(s->rev_dst, b->dst.data, b->dst.len);
        s->rev_sport = (uint16_t)b->sport;
        s->rev_dport = (uint16_t)b->dport;
    }
    s->id = r->id;
    s->packets_fwd = r->packets_fwd;
    s->packets_rev = r->packets_rev;
    s->bytes_fwd = r->bytes_fwd;
    s->bytes_rev = r->bytes_rev;
    s->created_unix_ms = r->created_unix_ms;
    s->last_seen_unix_ms = r->last_seen_unix_ms;
    s->from_zone = r->from_zone;
    s->to_zone = r->to_zone;
    s->in_ifindex = r->in_ifindex;
    s->out_ifindex = r->out_ifindex;
    s->policy_id = r->policy_id;
    s->state = (uint32_t)r->state;
    s->timeout = r->timeout;
    s->snat_rule_id = r->snat_rule_id;
    s->dnat_rule_id = r->dnat_rule_id;
    s->snat_pool_id = r->snat_pool_id;
    s->sp_phase = r->sp_phase;
    s->sp_cookie = r->sp_cookie;
    s->sp_client_isn = r->sp_client_isn;
    s->sp_delta = r->sp_delta;
    s->sp_window = r->sp_window;
    return true;
}

long sessrec_count(size_t len)
{
    if (len % sizeof(struct sessrec))
        return -EBADMSG;
    return (long)(len / sizeof(struct sessrec));
}
