/* SPDX-License-Identifier: MIT */
/*
 * fuzz_packet.c — libFuzzer harness for the dataplane's packet path: the frame check
 * (parse.c), sessions, policies, NAT (nat.c) and the rewrite of flow.c / rewrite.c /
 * reject.c, driven through dp_flow_batch() as a worker drives it.
 *
 * The box: tests/fuzz/packet.conf compiled by controld's own snapshot_build() (four interfaces,
 * static / destination / source NAT with pools and interface NAT, permit / deny / reject
 * policies, a 64-session table), neighbours filled in here, applied by the dataplane's
 * snapshot.c. One worker serves the whole run (creating one per input costs more than the
 * input); each input starts from an empty session table (what the previous input left is
 * cleared through the command ring, and the clock moves past the fragment memory and the
 * reject budget's second) and is a list of records:
 *
 *   op & 7 = 0, 6, 7  FRAME   op bits 3-4: ingress port (0 fw0 trust, 1 fw1 untrust,
 *                        2 fw2 dmz, 3 fw3 no zone); bit 5: repair its checksums first;
 *                        then a 2-byte big-endian length and that many frame bytes
 *   op & 7 = 1  REPLY    the reply to the last frame sent: addresses, ports and MACs swapped,
 *                        in on the port it left by; next byte: TCP flags (ICMP: echo reply)
 *   op & 7 = 2  ICMPERR  an ICMP error quoting the last frame sent, from its destination or
 *                        a router; next byte: type/code/quote length
 *   op & 7 = 3  RESEND   the last frame received again (as it came in)
 *   op & 7 = 4  TICK     the clock moves on; next byte: how far (100 ms .. 10 min)
 *   op & 7 = 5  COMMIT   the other generation: packet.conf (1) or packet.conf without the
 *                        policy allow-out and the source rule masquerade (2), swapped in as a
 *                        commit does: sessions are re-evaluated
 *   FRAME, REPLY, ICMPERR, RESEND: op bit 6: the frame sits in a buffer of exactly its length
 *   (else in a 4 KiB UMEM frame with 0xa5 after it); op bit 7: join the batch (frames
 *   queue up to 16 and go through dp_flow_batch() together when a record without the bit
 *   comes, or at the end).
 *
 * MOAT_FUZZ_TRACE=1 prints each frame's verdict (to check what a seed reaches).
 *
 * The metadata in front of each frame is what the shim would write (shim_model.h); frames
 * the shim would not redirect (malformed, not IP) are skipped as it would skip them.
 *
 * Checked for every frame transmitted (verdict TX), besides what ASan/UBSan catch:
 *  - it lies inside its buffer; an IPv4 frame's header and total lengths are consistent;
 *  - checksums, recomputed in full: the IPv4 header, TCP/UDP/ICMP/ICMPv6 (whole messages),
 *    the header quoted by an IPv4 ICMP error: each verifies if it did on the way in, and
 *    always for a reject Moat built; a UDP datagram without checksum (0) keeps 0;
 *  - after each batch: every session is found by both its keys, the table counts them right;
 *    after the clear of what an input left: no session and no NAT port mapping is left;
 *  - alone in its batch and forwarded (not a reject): the VLAN tags are gone, the length is
 *    the same otherwise, the TTL / hop limit is one less, and no byte changed outside the
 *    MACs, TTL, IPv4 checksum and addresses, the L4 ports and checksum (ICMP echo: identifier
 *    and checksum; ICMP errors: the ICMP message after its type and code).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controld.h"
#include "csum.h"
#include "ctl_box.h"
#include "flow.h"
#include "log.h"
#include "pktsum.h"
#include "shim_model.h"
#include "snapshot.h"

#define NPORTS 4
#define HEADROOM 256
#define UMEM_ROOM (4096 - HEADROOM)
#define MAX_FRAME 2048
#define MAX_BATCH 16

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_packet: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,    \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static struct dp_tables *tables, *tables2; /* generation 1: packet.conf; 2: see setup() */
static uint32_t port_ifindex[NPORTS];
static struct dp dp;
static struct moat_dp_stats stats;
static struct controld ctl;

static void add_neigh(const char *addr, uint32_t ifindex, uint8_t tag)
{
    struct ctl_neigh *n = &ctl.neigh[ctl.n_neigh++];
    memset(n, 0, sizeof(*n));
    n->family = strchr(addr, ':') ? 6 : 4;
    if (inet_pton(n->family == 6 ? AF_INET6 : AF_INET, addr, n->addr) != 1)
        abort();
    n->ifindex = ifindex;
    const uint8_t mac[6] = {2, 0, 0, 0, 2, tag};
    memcpy(n->mac, mac, 6);
    n->state = 2; /* NUD_REACHABLE */
}

static void setup(void)
{
    log_init("fuzz_packet", LOG_LVL_ERR);
    struct config_error err;
    if (config_load_file(MOAT_SOURCE_DIR "/tests/fuzz/packet.conf", &ctl.cfg, &err)) {
        char msg[800];
        config_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "fuzz_packet: %s\n", msg);
        abort();
    }
    snprintf(ctl.mode, sizeof(ctl.mode), "userspace");
    ctl.bpffs_dir = "/nonexistent";
    ctl.generation = 1;
    for (unsigned i = 0; i < NPORTS; i++)
        port_ifindex[i] = ctl_box_add_iface(&ctl, NULL, (uint8_t)(0xa + i))->ifindex;
    /* Hosts on each side; 10.77.2.3 and fd00:77:1::3 are left unresolved (neighbour miss). */
    add_neigh("10.77.1.2", 2, 1);
    add_neigh("10.77.1.3", 2, 2);
    add_neigh("10.77.1.10", 2, 3);
    add_neigh("10.77.1.53", 2, 4);
    add_neigh("10.77.1.130", 2, 5);
    add_neigh("10.77.1.200", 2, 6);
    add_neigh("fd00:77:1::2", 2, 7);
    add_neigh("10.77.2.2", 3, 8);
    add_neigh("10.77.2.254", 3, 9);
    add_neigh("fd00:77:2::2", 3, 10);
    add_neigh("fd00:77:2::fe", 3, 11);
    add_neigh("172.16.0.9", 4, 12);
    add_neigh("172.16.0.10", 4, 13);
    add_neigh("10.77.3.2", 5, 14);
    add_neigh("10.77.3.9", 5, 15);

    Moat__Snapshot *s = snapshot_build(&ctl);
    if (!s)
        abort();
    char e[512] = "";
    struct dp_settings set;
    struct dp_port ports[MOAT_MAX_IFACES];
    uint32_t nports = 0;
    if (dp_settings_from_proto(s->settings, 1, &set, e, sizeof(e)) ||
        dp_ports_from_snapshot(s, &set, ports, &nports, e, sizeof(e)) ||
        dp_tables_from_snapshot(s, ports, nports, &tables, e, sizeof(e))) {
        fprintf(stderr, "fuzz_packet: the snapshot of packet.conf was refused: %s\n", e);
        abort();
    }
    if (nports != NPORTS || !tables->nat || tables->flow.max_sessions != 64)
        abort();
    /* Generation 2, what a commit could bring: trust -> untrust without "allow-out" and source
     * NAT without "masquerade" (sessions re-evaluated against it close, NAT ones included). */
    const size_t np = s->n_policies, nr = s->n_nat_rules;
    Moat__Policy **pol = s->policies;
    Moat__NatRule **rules = s->nat_rules;
    Moat__Policy *kp[64];
    Moat__NatRule *kr[64];
    size_t nkp = 0, nkr = 0;
    for (size_t i = 0; i < np && nkp < 64; i++)
        if (strcmp(pol[i]->name, "allow-out") != 0)
            kp[nkp++] = pol[i];
    for (size_t i = 0; i < nr && nkr < 64; i++)
        if (strcmp(rules[i]->name, "masquerade") != 0)
            kr[nkr++] = rules[i];
    if (nkp != np - 1 || nkr != nr - 1)
        abort();
    s->generation = 2;
    s->policies = kp;
    s->n_policies = nkp;
    s->nat_rules = kr;
    s->n_nat_rules = nkr;
    if (dp_tables_from_snapshot(s, ports, nports, &tables2, e, sizeof(e))) {
        fprintf(stderr, "fuzz_packet: generation 2 was refused: %s\n", e);
        abort();
    }
    s->policies = pol;
    s->n_policies = np;
    s->nat_rules = rules;
    s->n_nat_rules = nr;
    for (unsigned i = 0; i < NPORTS; i++)
        if (ports[i].ifindex != port_ifindex[i])
            abort();
    snapshot_free(s);
}

/* ---- one frame in flight ---- */

struct frame {
    uint8_t *buf; /* HEADROOM (metadata at its end) + room */
    uint32_t len, room;
    uint16_t in_port;
    uint8_t orig[MAX_FRAME]; /* as it went in */
    struct shim_pkt sp;
    struct sum_info si; /* of the IP packet as it went in */
    bool si_valid;
};

struct run {
    struct dp_flow *f;
    const struct dp_tables *t; /* the generation running */
    uint64_t now;
    struct frame fr[MAX_BATCH];
    struct dp_pkt pk[MAX_BATCH];
    uint32_t n;
    /* The last frame transmitted (for REPLY / ICMPERR) and received (RESEND). */
    uint8_t last_out[MAX_FRAME];
    uint32_t last_out_len;
    uint16_t last_out_port;
    uint8_t last_in[MAX_FRAME];
    uint32_t last_in_len;
    uint16_t last_in_port;
};

/* Queues a frame of len bytes (in port in_port) with the metadata the shim would write. */
static void queue_frame(struct run *r, const uint8_t *data, uint32_t len, uint16_t in_port,
                        bool fix, bool tight)
{
    if (len > MAX_FRAME || r->n >= MAX_BATCH)
        return;
    struct frame *fr = &r->fr[r->n];
    memcpy(fr->orig, data, len);
    if (fix) {
        struct shim_pkt sp;
        if (shim_parse_frame(fr->orig, len, &sp) == SHIM_OK && sp.ip)
            sum_fix(fr->orig + sp.m.l3_off, sp.l3_end - sp.m.l3_off);
    }
    if (shim_parse_frame(fr->orig, len, &fr->sp) != SHIM_OK || !fr->sp.ip)
        return; /* the shim drops it or hands it to the kernel */
    fr->sp.m.ifindex = port_ifindex[in_port];
    fr->sp.m.rx_queue = 0;
    fr->sp.m.magic = MOAT_META_MAGIC;
    fr->si_valid =
        sum_inspect(fr->orig + fr->sp.m.l3_off, fr->sp.l3_end - fr->sp.m.l3_off, &fr->si);
    fr->len = len;
    fr->room = tight ? len : UMEM_ROOM;
    fr->buf = malloc(HEADROOM + fr->room);
    if (!fr->buf)
        abort();
    memset(fr->buf, 0, HEADROOM);
    memcpy(fr->buf + HEADROOM - sizeof(struct moat_meta), &fr->sp.m, sizeof(struct moat_meta));
    memcpy(fr->buf + HEADROOM, fr->orig, len);
    if (fr->room > len)
        memset(fr->buf + HEADROOM + len, 0xa5, fr->room - len);
    fr->in_port = in_port;
    struct dp_pkt *p = &r->pk[r->n];
    memset(p, 0, sizeof(*p));
    p->data = fr->buf + HEADROOM;
    p->len = len;
    p->m = (const struct moat_meta *)(fr->buf + HEADROOM - sizeof(struct moat_meta));
    p->room = fr->room;
    p->in_port = in_port;
    memcpy(r->last_in, fr->orig, len);
    r->last_in_len = len;
    r->last_in_port = in_port;
    r->n++;
}

/* Offsets (from the IP header) a forward may change. */
static void allowed_changes(const struct frame *fr, uint8_t *ok, uint32_t n)
{
    memset(ok, 0, n);
    const struct moat_meta *m = &fr->sp.m;
    const bool v6 = m->flags & MOAT_META_F_IPV6;
    if (v6) {
        ok[7] = 1;
        return; /* no NAT for IPv6: the hop limit only */
    }
    ok[8] = ok[10] = ok[11] = 1;
    memset(ok + 12, 1, 8);
    if (!(m->flags & MOAT_META_F_L4))
        return;
    const uint32_t l4 = (uint32_t)m->l4_off - m->l3_off;
    if (l4 >= n)
        return;
    if (m->proto == IPPROTO_TCP || m->proto == IPPROTO_UDP) {
        memset(ok + l4, 1, 4);
        const uint32_t c = l4 + (m->proto == IPPROTO_TCP ? 16 : 6);
        if (c + 2 <= n)
            ok[c] = ok[c + 1] = 1;
    } else if (m->proto == IPPROTO_ICMP) {
        if (m->flags & MOAT_META_F_ICMP_ERR)
            memset(ok + l4 + 2, 1, n - l4 - 2);
        else if (m->icmp_type == 8 || m->icmp_type == 0)
            memset(ok + l4 + 2, 1, 4);
    }
}

static void check_tx(struct run *r, uint32_t i, bool alone, bool rejected)
{
    const struct frame *fr = &r->fr[i];
    const struct dp_pkt *p = &r->pk[i];
    const uint8_t *lo = fr->buf, *hi = fr->buf + HEADROOM + fr->room;
    FUZZ_CHECK(p->out >= lo && p->out <= hi && p->out_len >= 14 &&
               p->out_len <= (uint32_t)(hi - p->out));
    FUZZ_CHECK(p->out_port < NPORTS);
    const uint8_t *o = p->out;
    const uint16_t et = ps_rd16(o + 12);
    FUZZ_CHECK(et == 0x0800 || et == 0x86dd); /* tags are stripped */
    struct sum_info so;
    FUZZ_CHECK(sum_inspect(o + 14, p->out_len - 14, &so));
    FUZZ_CHECK(so.v6 == (et == 0x86dd));
    const struct sum_info *si = &fr->si;
    const bool in_ok = fr->si_valid;
    FUZZ_CHECK(so.ip_ok || !(rejected || (in_ok && si->ip_ok)));
    if (so.has_l4)
        FUZZ_CHECK(so.l4_ok ||
                   !(rejected || (in_ok && si->has_l4 && si->l4_ok && si->proto == so.proto)));
    /* A reject quotes the refused packet's header as it came; a forward keeps its quote. */
    if (so.has_inner && rejected)
        FUZZ_CHECK(so.inner_ok || !(in_ok && si->ip_ok));
    else if (so.has_inner)
        FUZZ_CHECK(so.inner_ok || !(in_ok && si->has_inner && si->inner_ok));
    if (rejected || !alone)
        return;
    /* A forward: the same packet, untagged, with only the fields NAT and routing own. */
    const struct moat_meta *m = &fr->sp.m;
    const uint32_t tags = m->l3_off - 14u;
    FUZZ_CHECK(p->out == p->data + tags);
    /* The IP datagram only: bytes after its total length (payload length) are not sent. */
    const uint8_t *ip = fr->orig + m->l3_off;
    const uint32_t dgram = so.v6 ? 40u + ps_rd16(ip + 4) : ps_rd16(ip + 2);
    FUZZ_CHECK(m->l3_off + dgram <= fr->len);
    FUZZ_CHECK(p->out_len == m->l3_off + dgram - tags);
    FUZZ_CHECK(ps_rd16(fr->orig + m->l3_off - 2) == et);
    if (in_ok && si->has_l4 && si->udp_zero)
        FUZZ_CHECK(so.udp_zero);
    const uint8_t *a = fr->orig + m->l3_off, *b = o + 14;
    const uint32_t n = dgram;
    uint8_t ok[MAX_FRAME];
    allowed_changes(fr, ok, n);
    for (uint32_t k = 0; k < n; k++)
        if (!ok[k] && a[k] != b[k]) {
            fprintf(stderr, "fuzz_packet: forwarded frame changed at IP offset %u\n", k);
            abort();
        }
    if (so.v6)
        FUZZ_CHECK(b[7] == (uint8_t)(a[7] - 1));
    else
        FUZZ_CHECK(b[8] == (uint8_t)(a[8] - 1));
}

/* Every session is found by each of its keys, and the table counts them right. */
static void check_table(const struct run *r)
{
    struct sess_table *t = &r->f->t;
    uint32_t used = 0;
    for (uint32_t i = 0; i < t->cap; i++) {
        const struct dp_session *s = sess_at(t, i);
        if (!(s->flags & SESS_F_USED))
            continue;
        used++;
        for (unsigned d = 0; d < 2; d++) {
            const struct flow_tuple *k = &s->d[d].key;
            const uint32_t want = (s->flags & SESS_F_SAME_KEY) ? i << 1 : i << 1 | d;
            FUZZ_CHECK(sess_lookup(t, k, sess_hash(t, k)) == want);
        }
    }
    FUZZ_CHECK(used == t->active);
}

static void flush(struct run *r)
{
    if (!r->n)
        return;
    struct moat_worker_stats *st = &stats.worker[0];
    /* Answers built from the packet: rejects, time exceeded, too big. */
    const uint64_t rejects = st->rejects_sent + st->icmp_errors_sent;
    dp_flow_batch(r->f, r->t, r->pk, r->n);
    const bool alone = r->n == 1;
    const bool rejected = alone && st->rejects_sent + st->icmp_errors_sent != rejects;
    static int trace = -1;
    if (trace < 0)
        trace = getenv("MOAT_FUZZ_TRACE") != NULL;
    for (uint32_t i = 0; i < r->n; i++) {
        struct dp_pkt *p = &r->pk[i];
        if (trace)
            fprintf(stderr, "frame %u bytes in port %u: verdict %u out port %u %u bytes%s\n",
                    r->fr[i].len, r->fr[i].in_port, p->verdict, p->out_port, p->out_len,
                    rejected ? " (reject)" : "");
        FUZZ_CHECK(p->verdict <= DP_V_NEIGH_MISS);
        if (p->verdict == DP_V_HANDOFF)
            abort(); /* one worker: nobody to hand over to */
        if (p->verdict == DP_V_TX) {
            check_tx(r, i, alone, rejected);
            if (p->out_len <= MAX_FRAME) {
                memcpy(r->last_out, p->out, p->out_len);
                r->last_out_len = p->out_len;
                r->last_out_port = p->out_port;
            }
        }
        free(r->fr[i].buf);
        r->fr[i].buf = NULL;
    }
    r->n = 0;
    check_table(r);
}

/* The reply to the last frame sent. */
static void make_reply(struct run *r, uint8_t arg, bool tight)
{
    if (r->last_out_len < 34)
        return;
    uint8_t f[MAX_FRAME];
    const uint32_t len = r->last_out_len;
    memcpy(f, r->last_out, len);
    memcpy(f, r->last_out + 6, 6);
    memcpy(f + 6, r->last_out, 6);
    uint8_t *ip = f + 14;
    struct sum_info si;
    if (!sum_inspect(ip, len - 14, &si))
        return;
    const unsigned alen = si.v6 ? 16 : 4, aoff = si.v6 ? 8 : 12;
    uint8_t t[16];
    memcpy(t, ip + aoff, alen);
    memcpy(ip + aoff, ip + aoff + alen, alen);
    memcpy(ip + aoff + alen, t, alen);
    if (si.v6)
        ip[7] = 64;
    else
        ip[8] = 64;
    uint8_t *l4 = ip + si.l4_off;
    if (si.has_l4) {
        if (si.proto == IPPROTO_TCP || si.proto == IPPROTO_UDP) {
            uint8_t pt[2];
            memcpy(pt, l4, 2);
            memcpy(l4, l4 + 2, 2);
            memcpy(l4 + 2, pt, 2);
            if (si.proto == IPPROTO_TCP) {
                uint8_t sq[4];
                memcpy(sq, l4 + 4, 4);
                memcpy(l4 + 4, l4 + 8, 4);
                memcpy(l4 + 8, sq, 4);
                l4[13] = arg ? arg : 0x12; /* SYN+ACK unless told */
            }
        } else if (si.proto == IPPROTO_ICMP && l4[0] == 8) {
            l4[0] = 0;
        } else if (si.proto == IPPROTO_ICMPV6 && l4[0] == 128) {
            l4[0] = 129;
        }
    }
    sum_fix(ip, len - 14);
    queue_frame(r, f, len, r->last_out_port, false, tight);
}

/* An ICMP error about the last frame sent, back towards its sender. */
static void make_icmp_error(struct run *r, uint8_t arg, bool tight)
{
    if (r->last_out_len < 34)
        return;
    struct sum_info si;
    const uint8_t *oip = r->last_out + 14;
    if (!sum_inspect(oip, r->last_out_len - 14, &si))
        return;
    const uint32_t olen = si.l4_off + si.l4_len;
    uint8_t f[MAX_FRAME];
    memcpy(f, r->last_out + 6, 6);
    memcpy(f + 6, r->last_out, 6);
    uint8_t *ip = f + 14;
    uint32_t quote = (si.v6 ? 48u : 28u) + (uint32_t)(arg >> 4) * 8;
    if (quote > olen)
        quote = olen;
    uint32_t hl = si.v6 ? 40 : 20;
    if (14 + hl + 8 + quote > MAX_FRAME)
        return;
    memset(ip, 0, hl + 8);
    uint8_t *ic = ip + hl;
    memcpy(ic + 8, oip, quote);
    const bool from_host = arg & 1;
    if (si.v6) {
        static const uint8_t router[16] = {0xfd, 0, 0, 0x77, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe};
        f[12] = 0x86;
        f[13] = 0xdd;
        ip[0] = 0x60;
        ip[4] = (uint8_t)((8 + quote) >> 8);
        ip[5] = (uint8_t)(8 + quote);
        ip[6] = IPPROTO_ICMPV6;
        ip[7] = 64;
        memcpy(ip + 8, from_host ? oip + 24 : router, 16);
        memcpy(ip + 24, oip + 8, 16);
        ic[0] = (arg & 2) ? 3 : 1;
        ic[1] = (arg >> 2) & 3;
    } else {
        static const uint8_t router[4] = {10, 77, 2, 254};
        f[12] = 0x08;
        f[13] = 0x00;
        ip[0] = 0x45;
        ip[2] = (uint8_t)((28 + quote) >> 8);
        ip[3] = (uint8_t)(28 + quote);
        ip[8] = 64;
        ip[9] = IPPROTO_ICMP;
        memcpy(ip + 12, from_host ? oip + 16 : router, 4);
        memcpy(ip + 16, oip + 12, 4);
        ic[0] = (arg & 2) ? 11 : 3;
        ic[1] = (arg >> 2) & 3;
    }
    sum_fix(ip, hl + 8 + quote);
    queue_frame(r, f, 14 + hl + 8 + quote, r->last_out_port, false, tight);
}

static void tick(struct run *r, uint8_t arg)
{
    const uint64_t step = (arg & 0x80) ? 1000 : 100;
    const uint64_t n = (uint64_t)(arg & 0x7f) * ((arg & 0x80) ? 5 : 1) + 1;
    for (uint64_t i = 0; i < n; i++) {
        r->now += step;
        dp_flow_tick(r->f, r->t, r->now);
    }
}

/* ---- the worker, one for the whole run ---- */

static struct dp_flow *flow;
static uint64_t clock_ms = 1000000;

static void collect_id(void *arg, const struct dp_delta *rec)
{
    struct dp_flow *f = arg;
    struct dp_cmd c = {DP_CMD_CLEAR, 0, 1, rec->id};
    if (!spsc_ring_push(&f->cmds, &c))
        abort();
}

/*
 * Back to an empty table, as an operator's `clear security flow session` does (through the
 * command ring), with the clock moved past the fragment memory and the reject budget's
 * second: creating a worker per input costs more than the input.
 */
static void reset_flow(void)
{
    dp_flow_export(flow, tables, collect_id, flow);
    struct dp_cmd end = {DP_CMD_CLEAR_END, 0, 1, 0};
    if (!spsc_ring_push(&flow->cmds, &end))
        abort();
    clock_ms += DP_FRAG_TTL_MS + 1000;
    dp_flow_tick(flow, tables, clock_ms);
    FUZZ_CHECK(flow->t.active == 0);
    FUZZ_CHECK(flow->np.active == 0); /* every NAT mapping went with its sessions */
    struct dp_delta d;
    while (spsc_ring_pop(&flow->deltas, &d))
        ;
    struct dp_cmd_reply rp;
    while (spsc_ring_pop(&flow->replies, &rp))
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tables) {
        setup();
        dp.stats = &stats;
        dp.flow_seed = 77;
        if (dp_flow_create(&flow, &dp, 0, tables->flow.max_sessions, false, &stats.worker[0],
                           clock_ms))
            abort();
        dp.flows[0] = flow;
        dp.nflows = 1;
    }
    reset_flow();
    static struct run r;
    memset(&r, 0, sizeof(r));
    r.f = flow;
    r.t = tables;
    r.now = clock_ms;

    size_t off = 0;
    while (off < size) {
        const uint8_t op = data[off++];
        const bool tight = op & 0x40, join = op & 0x80;
        switch (op & 7) {
        case 1:
        case 2:
            if (off >= size)
                break;
            if ((op & 7) == 1)
                make_reply(&r, data[off++], tight);
            else
                make_icmp_error(&r, data[off++], tight);
            break;
        case 5: /* the other generation, as a commit swaps it in (re-evaluation) */
            flush(&r);
            r.t = r.t == tables ? tables2 : tables;
            r.now += 1;
            dp_flow_tick(r.f, r.t, r.now);
            check_table(&r);
            continue;
        case 3:
            if (r.last_in_len)
                queue_frame(&r, r.last_in, r.last_in_len, r.last_in_port, false, tight);
            break;
        case 4:
            if (off >= size)
                break;
            flush(&r);
            tick(&r, data[off++]);
            check_table(&r);
            continue;
        default: {
            if (off + 2 > size)
                break;
            uint32_t len = (uint32_t)data[off] << 8 | data[off + 1];
            off += 2;
            if (len > size - off)
                len = (uint32_t)(size - off);
            queue_frame(&r, data + off, len, (op >> 3) & 3, op & 0x20, tight);
            off += len;
            break;
        }
        }
        if (!join || r.n == MAX_BATCH)
            flush(&r);
    }
    flush(&r);
    clock_ms = r.now;
    return 0;
}
