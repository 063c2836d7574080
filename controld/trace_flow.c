/* SPDX-License-Identifier: MIT */
#include "trace_flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bootstrap.h"
#include "config.h"
#include "counters.h"
#include "helper.h"
#include "log.h"
#include "mirror.h"
#include "show.h"

#define TRACE_KEEPALIVE_MS 5000

/* ---- parsing ---- */

static int parse_proto(const char *s, uint32_t *out)
{
    static const struct {
        const char *name;
        uint32_t num;
    } names[] = {{"tcp", IPPROTO_TCP},
                 {"udp", IPPROTO_UDP},
                 {"icmp", IPPROTO_ICMP},
                 {"icmp6", IPPROTO_ICMPV6}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].num;
            return 0;
        }
    }
    unsigned long v;
    if (mirror_parse_num(s, 255, &v) < 0 || v == 0)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

int trace_parse(const char *const *args, size_t nargs,
                uint32_t (*ifindex_of)(void *arg, const char *name), void *arg,
                struct trace_request *req, char *err, size_t errlen)
{
    static const char usage[] =
        "trace flow takes: source-prefix P, destination-prefix P, source-port N, "
        "destination-port N, protocol tcp|udp|icmp|icmp6|N, interface NAME, both-directions, "
        "count N, duration SECONDS";
    static const char *const kws[] = {
        "source-prefix",  "destination-prefix", "source-port", "destination-port",
        "protocol",       "interface",          "count",       "duration",
        "both-directions"};
    enum { K_SRC, K_DST, K_SPORT, K_DPORT, K_PROTO, K_IF, K_COUNT, K_DUR, K_BOTH, K_N };
    bool seen[K_N] = {0};
    memset(req, 0, sizeof(*req));
    moat__trace_filter__init(&req->filter);
    req->count = TRACE_DEFAULT_COUNT;
    req->seconds = TRACE_DEFAULT_SECONDS;
    uint32_t fam_src = 0, fam_dst = 0;
    for (size_t i = 0; i < nargs;) {
        int k = -1;
        for (int j = 0; j < K_N; j++)
            if (strcmp(args[i], kws[j]) == 0)
                k = j;
        if (k < 0) {
            snprintf(err, errlen, "unknown trace filter \"%s\" (%s)", args[i], usage);
            return -EINVAL;
        }
        if (seen[k]) {
            snprintf(err, errlen, "trace filter \"%s\" is given twice", args[i]);
            return -EINVAL;
        }
        seen[k] = true;
        if (k == K_BOTH) {
            req->filter.either_way = true;
            i++;
            continue;
        }
        if (i + 1 >= nargs) {
            snprintf(err, errlen, "trace filter \"%s\" needs a value", args[i]);
            return -EINVAL;
        }
        const char *v = args[i + 1];
        unsigned long n;
        switch (k) {
        case K_SRC:
        case K_DST: {
            uint8_t *a = k == K_SRC ? req->src : req->dst;
            uint32_t *len = k == K_SRC ? &req->filter.src_len : &req->filter.dst_len;
            uint32_t *fam = k == K_SRC ? &fam_src : &fam_dst;
            struct cfg_prefix pfx;
            if (mirror_parse_prefix(v, &pfx) == 0) {
                memcpy(a, pfx.addr, 16);
                *len = pfx.len;
                *fam = pfx.family;
            } else {
                snprintf(err, errlen, "%s \"%s\" is not an IPv4 or IPv6 address or prefix", args[i],
                         v);
                return -EINVAL;
            }
            ProtobufCBinaryData *b = k == K_SRC ? &req->filter.src : &req->filter.dst;
            b->data = a;
            b->len = *fam == 6 ? 16 : 4;
            break;
        }
        case K_SPORT:
        case K_DPORT:
            if (mirror_parse_num(v, 65535, &n) < 0 || n == 0) {
                snprintf(err, errlen, "%s \"%s\" is not a port 1..65535", args[i], v);
                return -EINVAL;
            }
            *(k == K_SPORT ? &req->filter.src_port : &req->filter.dst_port) = (uint32_t)n;
            break;
        case K_PROTO:
            if (parse_proto(v, &req->filter.protocol) < 0) {
                snprintf(err, errlen, "protocol \"%s\" is not tcp, udp, icmp, icmp6 or 1..255", v);
                return -EINVAL;
            }
            break;
        case K_IF:
            req->filter.ifindex = ifindex_of ? ifindex_of(arg, v) : 0;
            if (!req->filter.ifindex) {
                snprintf(err, errlen,
                         "interface \"%s\" is not one Moat manages now (see moatctl show "
                         "interfaces)",
                         v);
                return -EINVAL;
            }
            break;
        case K_COUNT:
            if (mirror_parse_num(v, TRACE_MAX_COUNT, &n) < 0 || n == 0) {
                snprintf(err, errlen, "count \"%s\" is not a number 1..%u", v, TRACE_MAX_COUNT);
                return -EINVAL;
            }
            req->count = (uint32_t)n;
            break;
        case K_DUR:
            if (mirror_parse_num(v, TRACE_MAX_SECONDS, &n) < 0 || n == 0) {
                snprintf(err, errlen, "duration \"%s\" is not a number of seconds 1..%u", v,
                         TRACE_MAX_SECONDS);
                return -EINVAL;
            }
            req->seconds = (uint32_t)n;
            break;
        }
        i += 2;
    }
    if (fam_src && fam_dst && fam_src != fam_dst) {
        snprintf(err, errlen, "source-prefix and destination-prefix are of different families");
        return -EINVAL;
    }
    req->filter.family = fam_src ? fam_src : fam_dst;
    if (req->filter.family == 4 && req->filter.protocol == IPPROTO_ICMPV6) {
        snprintf(err, errlen, "protocol icmp6 does not go with IPv4 prefixes");
        return -EINVAL;
    }
    if (req->filter.family == 6 && req->filter.protocol == IPPROTO_ICMP) {
        snprintf(err, errlen, "protocol icmp does not go with IPv6 prefixes (icmp6)");
        return -EINVAL;
    }
    return 0;
}

/* ---- rendering ---- */

#define W(f) (offsetof(struct moat_worker_stats, f) / sizeof(uint64_t))

/* What a counter moving means for the packet, in the order of the packet path. */
struct step_def {
    unsigned word;
    const char *stage;
    const char *name;
    const char *text;
};

static const struct step_def steps_before_policy[] = {
    {W(parse_errors), "parse", "parse_errors",
     "the headers do not agree with the shim's metadata: dropped"},
    {W(session_hit), "session", "session_hit", "hit: an existing session"},
    {W(nat_reverse_hit), "session", "nat_reverse_hit",
     "NAT reverse hit: a reply found by its translated tuple (nat_reverse_index)"},
    {W(shared_hit), "session", "shared_hit", "owned by another worker: handed over to it"},
    {W(session_miss), "session", "session_miss", "miss: a new flow"},
    {W(non_syn_drops), "session", "non_syn_drops",
     "TCP first packet without SYN (no session): dropped"},
    {W(tcp_invalid), "session", "tcp_invalid", "TCP flags fail the state checks: dropped"},
    {W(icmp_error_related), "session", "icmp_error_related",
     "ICMP error quoting a packet of a known session: follows that session"},
    {W(icmp_error_unmatched), "session", "icmp_error_unmatched",
     "ICMP error quoting no known session: dropped"},
    {W(frag_drops), "session", "frag_drops", "non-first fragment of no known session: dropped"},
    {W(session_conflicts), "session", "session_conflicts",
     "another session already holds this flow's reply tuple: dropped"},
    {W(session_table_full), "session", "session_table_full",
     "session table full: new flow dropped"},
};

static const struct step_def steps_after_policy[] = {
    {W(rejects_sent), "policy", "rejects_sent", "TCP RST / ICMP unreachable sent back"},
    {W(nat_alloc_failures), "nat", "nat_alloc_failures",
     "no free (address, port) in the source pool: new flow dropped"},
    {W(nat_icmp_errors), "nat", "nat_icmp_errors",
     "ICMP error translated, the quoted packet and the outer header"},
    {W(sessions_closed_tcp), "session", "sessions_closed_tcp", "closed by this FIN/RST"},
    {W(deltas_dropped), "session", "deltas_dropped",
     "delta ring full: controld did not hear of this change"},
    {W(fib_miss), "fib", "fib_miss", "no route to the destination: dropped"},
    {W(neigh_miss), "fib", "neigh_miss",
     "route found but the next hop's MAC is not known: dropped, resolution asked"},
    {W(ttl_expired), "fib", "ttl_expired", "TTL / hop limit would reach 0: dropped"},
    {W(mtu_drops), "fib", "mtu_drops", "larger than the egress MTU: dropped"},
    {W(icmp_errors_sent), "fib", "icmp_errors_sent",
     "ICMP time exceeded / fragmentation needed / packet too big sent back to the sender"},
};

static const struct step_def steps_tx[] = {
    {W(no_egress_xsk), "tx", "no_egress_xsk", "the egress interface has no XSK: dropped"},
    {W(pending_tx_drops), "tx", "pending_tx_drops",
     "the egress worker's pending queue is full: dropped"},
};

#define N_STEPS_MAX 32
struct step {
    const char *stage;
    const char *name; /* the counter, "" for a description */
    char text[400];
};

struct render {
    struct step s[N_STEPS_MAX];
    unsigned n;
};

static struct step *add_step(struct render *r, const char *stage, const char *name)
{
    if (r->n == N_STEPS_MAX)
        return NULL;
    struct step *s = &r->s[r->n++];
    s->stage = stage;
    s->name = name;
    s->text[0] = 0;
    return s;
}

#define STEP(r, stage, name, ...)                                                                  \
    do {                                                                                           \
        struct step *st_ = add_step(r, stage, name);                                               \
        if (st_)                                                                                   \
            snprintf(st_->text, sizeof(st_->text), __VA_ARGS__);                                   \
    } while (0)

static bool moved(const Moat__TraceEvent *e, unsigned word)
{
    return word < 64 && (e->counters >> word) & 1;
}

static void add_defs(struct render *r, const Moat__TraceEvent *e, const struct step_def *d,
                     size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (moved(e, d[i].word))
            STEP(r, d[i].stage, d[i].name, "%s", d[i].text);
}

static bool has_ports(unsigned p)
{
    return p == IPPROTO_TCP || p == IPPROTO_UDP;
}

/* "udp 10.0.0.1:5 -> 10.0.0.2:6" (IPv6 in brackets); ICMP with its id. */
static void fmt_tuple(char *buf, size_t len, unsigned proto, unsigned family, const uint8_t *src,
                      const uint8_t *dst, unsigned sport, unsigned dport)
{
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], pb[16];
    const int af = family == 6 ? AF_INET6 : AF_INET;
    inet_ntop(af, src, s, sizeof(s));
    inet_ntop(af, dst, d, sizeof(d));
    const char *pn = mirror_proto_name(proto, pb, sizeof(pb));
    if (has_ports(proto)) {
        if (family == 6)
            snprintf(buf, len, "%s [%s]:%u -> [%s]:%u", pn, s, sport, d, dport);
        else
            snprintf(buf, len, "%s %s:%u -> %s:%u", pn, s, sport, d, dport);
    } else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
        snprintf(buf, len, "%s %s -> %s id %u", pn, s, d, sport);
    } else {
        snprintf(buf, len, "%s %s -> %s", pn, s, d);
    }
}

static void fmt_key(char *buf, size_t len, const Moat__FlowKey *k)
{
    uint8_t s[16] = {0}, d[16] = {0};
    if (!k || (k->src.len != 4 && k->src.len != 16) || k->dst.len != k->src.len) {
        snprintf(buf, len, "?");
        return;
    }
    memcpy(s, k->src.data, k->src.len);
    memcpy(d, k->dst.data, k->dst.len);
    fmt_tuple(buf, len, k->protocol, k->src.len == 16 ? 6 : 4, s, d, k->sport, k->dport);
}

/* The headers of the frame as sent. */
struct out_hdr {
    bool ok;
    uint8_t dmac[6], smac[6];
    unsigned family, proto, ttl, sport, dport;
    uint8_t src[16], dst[16];
};

static void decode_out(const ProtobufCBinaryData *h, struct out_hdr *o)
{
    memset(o, 0, sizeof(*o));
    const uint8_t *p = h->data;
    size_t n = h->len, off = 14;
    if (n < 14)
        return;
    memcpy(o->dmac, p, 6);
    memcpy(o->smac, p + 6, 6);
    unsigned et = (unsigned)p[12] << 8 | p[13];
    for (int tags = 0; (et == 0x8100 || et == 0x88a8) && tags < 2; tags++) {
        if (n < off + 4)
            return;
        et = (unsigned)p[off + 2] << 8 | p[off + 3];
        off += 4;
    }
    size_t l4;
    if (et == 0x0800) {
        if (n < off + 20)
            return;
        const unsigned ihl = (p[off] & 0x0f) * 4u;
        o->family = 4;
        o->ttl = p[off + 8];
        o->proto = p[off + 9];
        memcpy(o->src, p + off + 12, 4);
        memcpy(o->dst, p + off + 16, 4);
        l4 = off + ihl;
        const unsigned frag = ((unsigned)p[off + 6] << 8 | p[off + 7]) & 0x1fff;
        if (frag)
            l4 = n; /* non-first fragment: no L4 header */
    } else if (et == 0x86dd) {
        if (n < off + 40)
            return;
        o->family = 6;
        o->proto = p[off + 6];
        o->ttl = p[off + 7];
        memcpy(o->src, p + off + 8, 16);
        memcpy(o->dst, p + off + 24, 16);
        l4 = off + 40;
    } else {
        return;
    }
    o->ok = true;
    if (has_ports(o->proto) && n >= l4 + 4) {
        o->sport = (unsigned)p[l4] << 8 | p[l4 + 1];
        o->dport = (unsigned)p[l4 + 2] << 8 | p[l4 + 3];
    } else if ((o->proto == IPPROTO_ICMP || o->proto == IPPROTO_ICMPV6) && n >= l4 + 6) {
        o->sport = (unsigned)p[l4 + 4] << 8 | p[l4 + 5];
    }
}

static const char *ifname(const struct trace_names *nm, uint32_t ifindex, char *buf, size_t len)
{
    const char *n = nm && nm->ifname ? nm->ifname(nm->arg, ifindex) : NULL;
    if (n)
        return n;
    snprintf(buf, len, "ifindex %u", ifindex);
    return buf;
}

static const char *zone(const struct trace_names *nm, uint32_t id, char *buf, size_t len)
{
    const char *n = id && nm && nm->zone ? nm->zone(nm->arg, id) : NULL;
    if (n)
        return n;
    snprintf(buf, len, id ? "zone %u" : "no zone", id);
    return buf;
}

static const char *rule(const struct trace_names *nm, uint32_t id, char *buf, size_t len)
{
    const char *n = id && nm && nm->nat_rule ? nm->nat_rule(nm->arg, id, buf, len) : NULL;
    if (n)
        return n;
    snprintf(buf, len, "rule %u", id);
    return buf;
}

static void fmt_mac(const uint8_t *m, char *buf)
{
    sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static const char *verdict_name(const Moat__TraceEvent *e)
{
    switch (e->verdict) {
    case 1:
        return moved(e, W(forwarded)) ? "forwarded" : "dropped";
    case 2:
        return "handed-over";
    case 3:
        return "dropped-neighbour-unresolved";
    default:
        return "dropped";
    }
}

static void build_steps(const Moat__TraceEvent *e, const struct trace_names *nm,
                        const struct out_hdr *oh, struct render *r)
{
    char a[64], b[64], t1[160], t2[160];
    const Moat__SessionRecord *s = e->session;
    /* The packet goes the reply way when it is not the session's forward tuple. */
    const bool reply =
        s && s->forward && e->key &&
        !(s->forward->sport == e->key->sport && s->forward->src.len == e->key->src.len &&
          memcmp(s->forward->src.data, e->key->src.data, e->key->src.len) == 0);
    if (e->handed)
        STEP(r, "shim", "",
             "redirected to an XSK of %s queue %u; handed to worker %u, which owns "
             "the session",
             ifname(nm, e->in_ifindex, a, sizeof(a)), e->rx_queue, e->worker);
    else
        STEP(r, "shim", "", "redirected to the XSK of %s queue %u (forwarding armed), worker %u",
             ifname(nm, e->in_ifindex, a, sizeof(a)), e->rx_queue, e->worker);
    fmt_key(t1, sizeof(t1), e->key);
    STEP(r, "parse", "", "%s ttl %u from zone %s%s", t1, e->ttl, zone(nm, e->in_zone, b, sizeof(b)),
         (e->flags & 0x0020)   ? " (ICMP error)"
         : (e->flags & 0x0004) ? " (fragment)"
                               : "");
    add_defs(r, e, steps_before_policy,
             sizeof(steps_before_policy) / sizeof(steps_before_policy[0]));
    if (e->policy_checked) {
        const char *action = moved(e, W(policy_permit))   ? "permit"
                             : moved(e, W(policy_reject)) ? "reject"
                                                          : "deny";
        const char *ctr = moved(e, W(policy_permit))   ? "policy_permit"
                          : moved(e, W(policy_reject)) ? "policy_reject"
                                                       : "policy_deny";
        STEP(r, "policy", ctr, "%s by %s (%s -> %s)", action,
             e->policy_name && e->policy_name[0] ? e->policy_name : "default-policy",
             zone(nm, e->in_zone, a, sizeof(a)), zone(nm, e->out_zone, b, sizeof(b)));
    } else if (moved(e, W(policy_deny))) {
        STEP(r, "policy", "policy_deny",
             "deny: from zone %s into %s (no policy between a zone and "
             "an interface in no zone)",
             zone(nm, e->in_zone, a, sizeof(a)), zone(nm, e->out_zone, b, sizeof(b)));
    }
    if (moved(e, W(sessions_created)) && s)
        STEP(r, "session", "sessions_created", "created %#" PRIx64 " (%s), timeout %u s",
             (uint64_t)s->id, mirror_state_name(s->state), s->timeout);
    else if (s)
        STEP(r, "session", "", "%#" PRIx64 " now %s, %s direction", (uint64_t)s->id,
             mirror_state_name(s->state), reply ? "reply" : "initiator's");
    /* NAT: what the rewrite changed, and the rules behind it. */
    if (oh->ok && e->key && e->key->src.len == (oh->family == 6 ? 16u : 4u)) {
        const size_t al = e->key->src.len;
        const bool src_changed =
            memcmp(oh->src, e->key->src.data, al) != 0 ||
            (has_ports(oh->proto) && oh->sport != e->key->sport) ||
            ((oh->proto == IPPROTO_ICMP) && oh->sport != e->key->sport && !(e->flags & 0x0020));
        const bool dst_changed = memcmp(oh->dst, e->key->dst.data, al) != 0 ||
                                 (has_ports(oh->proto) && oh->dport != e->key->dport);
        const int af = al == 16 ? AF_INET6 : AF_INET;
        if (src_changed) {
            char x[INET6_ADDRSTRLEN], y[INET6_ADDRSTRLEN];
            inet_ntop(af, e->key->src.data, x, sizeof(x));
            inet_ntop(af, oh->src, y, sizeof(y));
            snprintf(t1, sizeof(t1), "source %s:%u -> %s:%u", x, e->key->sport, y, oh->sport);
            if (s && s->snat_rule_id)
                STEP(r, "nat", moved(e, W(nat_sessions)) ? "nat_sessions" : "", "%s (rule %s)", t1,
                     rule(nm, s->snat_rule_id, t2, sizeof(t2)));
            else if (s && s->dnat_rule_id)
                STEP(r, "nat", "", "%s (undoing destination NAT, rule %s)", t1,
                     rule(nm, s->dnat_rule_id, t2, sizeof(t2)));
            else
                STEP(r, "nat", "", "%s", t1);
        }
        if (dst_changed) {
            char x[INET6_ADDRSTRLEN], y[INET6_ADDRSTRLEN];
            inet_ntop(af, e->key->dst.data, x, sizeof(x));
            inet_ntop(af, oh->dst, y, sizeof(y));
            snprintf(t1, sizeof(t1), "destination %s:%u -> %s:%u", x, e->key->dport, y, oh->dport);
            if (s && s->dnat_rule_id && moved(e, W(sessions_created)))
                STEP(r, "nat", "", "%s (rule %s)", t1, rule(nm, s->dnat_rule_id, t2, sizeof(t2)));
            else if (s && s->snat_rule_id)
                STEP(r, "nat", "", "%s (undoing source NAT, rule %s)", t1,
                     rule(nm, s->snat_rule_id, t2, sizeof(t2)));
            else if (s && s->dnat_rule_id)
                STEP(r, "nat", "", "%s (rule %s)", t1, rule(nm, s->dnat_rule_id, t2, sizeof(t2)));
            else
                STEP(r, "nat", "", "%s", t1);
        }
    }
    add_defs(r, e, steps_after_policy, sizeof(steps_after_policy) / sizeof(steps_after_policy[0]));
    if (e->verdict == 1) {
        char m[18];
        fmt_mac(oh->dmac, m);
        STEP(r, "fib", "", "egress %s (zone %s), next hop %s",
             ifname(nm, e->out_ifindex, a, sizeof(a)),
             s ? zone(nm, reply ? s->from_zone : s->to_zone, b, sizeof(b))
               : zone(nm, e->out_zone, b, sizeof(b)),
             m);
        add_defs(r, e, steps_tx, sizeof(steps_tx) / sizeof(steps_tx[0]));
        if (moved(e, W(forwarded)))
            STEP(r, "tx", "forwarded", "queued for %s", ifname(nm, e->out_ifindex, a, sizeof(a)));
    } else if (e->verdict == 3 && (e->next_hop.len == 4 || e->next_hop.len == 16)) {
        char x[INET6_ADDRSTRLEN];
        inet_ntop(e->next_hop.len == 16 ? AF_INET6 : AF_INET, e->next_hop.data, x, sizeof(x));
        STEP(r, "fib", "", "next hop %s is being resolved (ARP/ND); later packets will pass", x);
    } else if (e->verdict == 2) {
        STEP(r, "tx", "", "handed to worker %u, which owns the session", e->handed_to);
    }
    if (e->verdict == 1 && oh->ok && moved(e, W(forwarded))) {
        fmt_tuple(t1, sizeof(t1), oh->proto, oh->family, oh->src, oh->dst, oh->sport, oh->dport);
        STEP(r, "result", "", "%s: %s ttl %u, %u bytes", verdict_name(e), t1, oh->ttl, e->out_len);
    } else {
        STEP(r, "result", "", "%s", verdict_name(e));
    }
}

void trace_render_event(const Moat__TraceEvent *e, unsigned seq, const struct trace_names *nm,
                        bool json, struct strbuf *o)
{
    struct out_hdr oh;
    decode_out(&e->out_head, &oh);
    struct render r = {.n = 0};
    build_steps(e, nm, &oh, &r);
    const time_t secs = (time_t)(e->unix_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    char a[64];
    if (!json) {
        strbuf_printf(o, "packet %u  %s.%06uZ  worker %u  in %s\n", seq, when,
                      (unsigned)(e->unix_ns % 1000000000ull / 1000), e->worker,
                      ifname(nm, e->in_ifindex, a, sizeof(a)));
        for (unsigned i = 0; i < r.n; i++) {
            strbuf_printf(o, "  %-8s %s", r.s[i].stage, r.s[i].text);
            if (r.s[i].name[0])
                strbuf_printf(o, "  [%s]", r.s[i].name);
            strbuf_printf(o, "\n");
        }
        return;
    }
    char t[160];
    fmt_key(t, sizeof(t), e->key);
    strbuf_printf(o, "{\"packet\":%u,\"time_unix_ns\":%" PRIu64 ",\"worker\":%u,\"in_interface\":",
                  seq, (uint64_t)e->unix_ns, e->worker);
    strbuf_json_str(o, ifname(nm, e->in_ifindex, a, sizeof(a)));
    strbuf_printf(o, ",\"rx_queue\":%u,\"tuple\":", e->rx_queue);
    strbuf_json_str(o, t);
    strbuf_printf(o, ",\"verdict\":\"%s\",\"counters\":[", verdict_name(&e[0]));
    bool first = true;
    for (unsigned i = 0; i < r.n; i++) {
        if (!r.s[i].name[0])
            continue;
        strbuf_printf(o, "%s\"%s\"", first ? "" : ",", r.s[i].name);
        first = false;
    }
    strbuf_printf(o, "],\"steps\":[");
    for (unsigned i = 0; i < r.n; i++) {
        strbuf_printf(o, "%s{\"stage\":\"%s\",\"text\":", i ? "," : "", r.s[i].stage);
        strbuf_json_str(o, r.s[i].text);
        strbuf_printf(o, "}");
    }
    strbuf_printf(o, "]");
    if (e->verdict == 1) {
        strbuf_printf(o, ",\"out_interface\":");
        strbuf_json_str(o, ifname(nm, e->out_ifindex, a, sizeof(a)));
    }
    if (e->session)
        strbuf_printf(o, ",\"session_id\":%" PRIu64, (uint64_t)e->session->id);
    strbuf_printf(o, "}\n");
}

/* ---- the command ---- */

struct trace_shim_base {
    uint32_t slot;
    uint32_t ifindex;
    struct moat_shim_stats st;
};

struct trace_run {
    struct controld *c;
    uint64_t id; /* the deferred client's id, and the trace's */
    uint32_t want, seen, seconds;
    uint64_t lost;
    uint64_t started_ms;
    bool json, ended, detached;
    uv_timer_t timer;
    struct trace_shim_base shim[MOAT_MAX_IFACES];
    unsigned nshim;
    struct strbuf part;
};

static struct trace_run *active;

static void run_freed(uv_handle_t *h)
{
    struct trace_run *r = h->data;
    strbuf_free(&r->part);
    free(r);
}

static void run_release(struct trace_run *r)
{
    if (active == r)
        active = NULL;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, run_freed);
}

/* operator.c frees a deferred client's data this way: answered, or moatctl went away. */
static void run_detached(void *data)
{
    struct trace_run *r = data;
    r->detached = true;
    if (!r->ended) {
        r->ended = true;
        helper_send_trace_stop(r->c->helper, r->id);
        log_info("trace %llu: moatctl went away after %u packets; stopped",
                 (unsigned long long)r->id, r->seen);
    }
    run_release(r);
}

static void shim_delta(struct trace_run *r, struct strbuf *o)
{
    struct controld *c = r->c;
    for (unsigned i = 0; i < r->nshim; i++) {
        struct moat_shim_stats now = {0};
        if (!c->bpf || bootstrap_read_shim_stats(c->bpf, r->shim[i].slot, &now) < 0)
            continue;
        const struct moat_shim_stats *b = &r->shim[i].st;
        struct ctl_iface *ifc = ctl_iface_by_ifindex(c, r->shim[i].ifindex);
        char line[512];
        int n = 0;
#define SHIM_DELTA(f)                                                                              \
    if (now.f > b->f && n >= 0 && (size_t)n < sizeof(line))                                        \
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%s +%llu", n ? ", " : "", #f,         \
                      (unsigned long long)(now.f - b->f));
        SHIM_DELTA(redirect)
        SHIM_DELTA(redirect_err)
        SHIM_DELTA(host_pass)
        SHIM_DELTA(tail_call)
        SHIM_DELTA(fallback_pass)
        SHIM_DELTA(no_xsk)
        SHIM_DELTA(drop_malformed)
        SHIM_DELTA(drop_other)
        SHIM_DELTA(drop_host_inbound)
        SHIM_DELTA(drop_standby)
#undef SHIM_DELTA
        if (!n)
            continue;
        if (r->json) {
            strbuf_printf(o, "%s{\"interface\":", i ? "," : "");
            strbuf_json_str(o, ifc ? ifc->name : "?");
            strbuf_printf(o, ",\"shim\":");
            strbuf_json_str(o, line);
            strbuf_printf(o, "}");
        } else {
            strbuf_printf(o, "  shim on %s: %s\n", ifc ? ifc->name : "?", line);
        }
    }
}

static void trace_end(struct trace_run *r, const char *why)
{
    if (r->ended)
        return;
    r->ended = true;
    uv_timer_stop(&r->timer);
    helper_send_trace_stop(r->c->helper, r->id);
    struct strbuf o;
    strbuf_init(&o);
    if (r->json) {
        strbuf_printf(&o,
                      "{\"trace_end\":{\"packets\":%u,\"lost\":%" PRIu64 ",\"reason\":", r->seen,
                      r->lost);
        strbuf_json_str(&o, why);
        strbuf_printf(&o, ",\"shim\":[");
        shim_delta(r, &o);
        strbuf_printf(&o, "]}}\n");
    } else {
        strbuf_printf(&o, "trace ended: %u packet%s traced (%s)", r->seen, r->seen == 1 ? "" : "s",
                      why);
        if (r->lost)
            strbuf_printf(&o, "; %" PRIu64 " more matched but were not reported (trace ring full)",
                          r->lost);
        strbuf_printf(&o, "\n");
        if (!r->seen)
            strbuf_printf(&o, "no matching packet reached the dataplane workers; what the XDP "
                              "shim did meanwhile with all packets on the interfaces:\n");
        else
            strbuf_printf(&o, "what the XDP shim did meanwhile with all packets on the "
                              "interfaces:\n");
        const size_t before = strlen(strbuf_str(&o));
        shim_delta(r, &o);
        if (strlen(strbuf_str(&o)) == before)
            strbuf_printf(&o, "  (no packet)\n");
    }
    log_info("trace %llu ended: %u packets (%s)", (unsigned long long)r->id, r->seen, why);
    struct op_client *cl = operator_find(r->c->op, r->id, NULL);
    if (cl)
        operator_answer(cl, 0, strbuf_str(&o), NULL); /* frees r through run_detached() */
    else if (!r->detached)
        run_release(r);
    strbuf_free(&o);
}

static void run_tick(uv_timer_t *t)
{
    struct trace_run *r = t->data;
    if (ctl_now_ms() - r->started_ms >= (uint64_t)r->seconds * 1000) {
        char why[64];
        snprintf(why, sizeof(why), "the duration of %u s is over", r->seconds);
        trace_end(r, why);
        return;
    }
    /* Keeps moatctl's wait alive and finds a client that went away. */
    struct op_client *cl = operator_find(r->c->op, r->id, NULL);
    if (cl)
        operator_stream(cl, "");
}

static uint32_t ifindex_cb(void *arg, const char *name)
{
    struct controld *c = arg;
    for (unsigned i = 0; i < c->n_ifaces; i++)
        if (strcmp(c->ifaces[i].name, name) == 0)
            return c->ifaces[i].ifindex;
    return 0;
}

int trace_flow_command(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                       size_t nargs, struct strbuf *out, struct strbuf *err)
{
    (void)out;
    if (nargs < 1 || strcmp(args[0], "flow") != 0) {
        strbuf_printf(err, "usage: trace flow [filters] [count N] [duration SECONDS]");
        return 2;
    }
    struct trace_request req;
    char why[300];
    if (trace_parse(args + 1, nargs - 1, ifindex_cb, c, &req, why, sizeof(why)) < 0) {
        strbuf_printf(err, "%s", why);
        return 2;
    }
    if (!ctx->cl) {
        strbuf_printf(err, "trace flow needs a moatctl client to stream to");
        return 2;
    }
    if (active) {
        strbuf_printf(err, "a trace is already running (%u of %u packets); wait for it to end",
                      active->seen, active->want);
        return 1;
    }
    if (!c->helper || helper_get_state(c->helper) == HELPER_DOWN) {
        strbuf_printf(err,
                      "the dataplane helper is down: no packet takes the userspace path now "
                      "(forwarding %s); see moatctl show system status",
                      c->armed ? "armed" : "disarmed");
        return 1;
    }
    struct trace_run *r = calloc(1, sizeof(*r));
    if (!r) {
        strbuf_printf(err, "out of memory starting the trace");
        return 1;
    }
    r->c = c;
    r->want = req.count;
    r->seconds = req.seconds;
    r->json = ctx->json;
    r->started_ms = ctl_now_ms();
    strbuf_init(&r->part);
    for (unsigned i = 0; i < c->n_ifaces && r->nshim < MOAT_MAX_IFACES; i++) {
        const struct ctl_iface *ifc = &c->ifaces[i];
        if (!ifc->ifindex || (req.filter.ifindex && req.filter.ifindex != ifc->ifindex))
            continue;
        struct trace_shim_base *b = &r->shim[r->nshim];
        b->slot = ifc->slot;
        b->ifindex = ifc->ifindex;
        if (c->bpf && bootstrap_read_shim_stats(c->bpf, ifc->slot, &b->st) == 0)
            r->nshim++;
    }
    uv_timer_init(c->loop, &r->timer);
    r->timer.data = r;
    uint64_t id;
    if (operator_defer(ctx->cl, 0, NULL, r, run_detached, &id) < 0) {
        r->ended = true;
        run_release(r);
        strbuf_printf(err, "cannot keep the request open for the trace");
        return 1;
    }
    r->id = id;
    active = r;
    int rc = helper_send_trace_start(c->helper, id, &req.filter, req.count);
    if (rc < 0) {
        trace_end(r, "the helper could not be asked");
        return OP_DEFERRED;
    }
    uv_timer_start(
        &r->timer, run_tick,
        TRACE_KEEPALIVE_MS < r->seconds * 1000u ? TRACE_KEEPALIVE_MS : r->seconds * 1000u,
        TRACE_KEEPALIVE_MS < r->seconds * 1000u ? TRACE_KEEPALIVE_MS : r->seconds * 1000u);
    log_info("trace %llu started by uid %u pid %d: %u packets, %u s", (unsigned long long)id,
             ctx->uid, ctx->pid, req.count, req.seconds);
    if (!r->json)
        operator_stream(ctx->cl, "");
    return OP_DEFERRED;
}

static const char *names_ifname(void *arg, uint32_t ifindex)
{
    struct ctl_iface *ifc = ctl_iface_by_ifindex(arg, ifindex);
    return ifc ? ifc->name : NULL;
}

static const char *names_zone(void *arg, uint32_t id)
{
    struct controld *c = arg;
    const struct cfg_zone *z = c->cfg ? config_zone_by_id(c->cfg, id) : NULL;
    return z ? z->name : NULL;
}

static const char *names_rule(void *arg, uint32_t id, char *buf, size_t len)
{
    return show_nat_rule_name(arg, id, buf, len);
}

void trace_helper_events(struct controld *c, const Moat__TraceEvents *m)
{
    struct trace_run *r = active;
    if (!r || r->ended || m->id != r->id)
        return; /* a trace that already ended: late events */
    struct op_client *cl = operator_find(c->op, r->id, NULL);
    if (!cl)
        return;
    const struct trace_names nm = {names_ifname, names_zone, names_rule, c};
    strbuf_free(&r->part);
    strbuf_init(&r->part);
    for (size_t i = 0; i < m->n_events && r->seen < r->want; i++)
        trace_render_event(m->events[i], ++r->seen, &nm, r->json, &r->part);
    r->lost += m->lost;
    if (strbuf_str(&r->part)[0])
        operator_stream(cl, strbuf_str(&r->part));
    if (r->seen >= r->want)
        trace_end(r, "the packet count is reached");
    else if (m->done)
        trace_end(r, "the helper's packet budget is spent");
}

void trace_helper_lost(struct controld *c)
{
    if (active)
        trace_end(active, "the dataplane helper went down");
}
