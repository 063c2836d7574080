/* SPDX-License-Identifier: MIT */
/*
 * seeds.c — writes the seed corpora of the packet and frame harnesses:
 *
 *   moat-fuzz-seeds DIR      writes the files of DIR/packet/ and DIR/frame/
 *
 * (tests/fuzz/corpus/ holds the output, committed; the config corpus is the example and lab
 * configs, copied by tests/fuzz/run.sh --seeds.) Packet seeds are flows through the box
 * of packet.conf built with the unit tests' frame builder (tests/unit/dp_test_frames.h):
 * each kind of NAT, rejects, IPv6, fragments, VLAN tags, ICMP errors, the table and a pool
 * filling up; frame seeds are encoded envelopes of every kind, with snapshots compiled by
 * controld from packet.conf and the standalone example.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "controld.h"
#include "ctl_box.h"
#include "dp_test_frames.h"
#include "frame.h"
#include "ha/auth.h"
#include "log.h"
#include "pktsum.h"

static const char *outdir;

static void write_file(const char *sub, const char *name, const uint8_t *d, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", outdir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

/* ---- packet records (fuzz_packet.c) ---- */

struct rec {
    uint8_t b[16384];
    size_t n;
};

enum { OP_FRAME = 0, OP_REPLY = 1, OP_ICMPERR = 2, OP_RESEND = 3, OP_TICK = 4, OP_COMMIT = 5 };
#define F_FIX 0x20
#define F_TIGHT 0x40
#define F_JOIN 0x80

static void put(struct rec *r, const void *d, size_t n)
{
    if (r->n + n > sizeof(r->b))
        abort();
    memcpy(r->b + r->n, d, n);
    r->n += n;
}

/* RESEND and COMMIT: the op byte alone. */
static void op0(struct rec *r, uint8_t o)
{
    put(r, &o, 1);
}

/* REPLY, ICMPERR, TICK: the op byte and its argument. */
static void op(struct rec *r, uint8_t o, uint8_t arg)
{
    put(r, &o, 1);
    put(r, &arg, 1);
}

/* An Ethernet frame of spec (ntags VLAN tags) in port port, checksums made valid. */
static void frame(struct rec *r, unsigned port, const struct pkt_spec *sp, unsigned ntags,
                  uint8_t flags)
{
    uint8_t f[2048];
    memset(f, 0, sizeof(f));
    const uint8_t dmac[6] = {2, 0, 0, 0, 0, (uint8_t)(0xa + port)}, smac[6] = {2, 0, 0, 0, 2, 1};
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    uint32_t off = 12;
    for (unsigned i = 0; i < ntags; i++) {
        put16(f + off, i == 0 && ntags == 2 ? 0x88a8 : 0x8100);
        put16(f + off + 2, (uint16_t)(100 + i));
        off += 4;
    }
    uint8_t src[16], dst[16];
    int v6;
    uint32_t l4off;
    uint32_t iplen = build_ip(sp, f + off + 2, src, dst, &v6, &l4off);
    put16(f + off, v6 ? 0x86dd : 0x0800);
    off += 2;
    if (sp->proto == IPPROTO_UDP && sp->frag != 2)
        f[off + l4off + 6] = 0xff; /* a checksum to compute (the builder leaves none) */
    sum_fix(f + off, iplen);
    const uint32_t len = off + iplen;
    const uint8_t o = (uint8_t)(OP_FRAME | (port << 3) | flags);
    const uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    put(r, &o, 1);
    put(r, l, 2);
    put(r, f, len);
}

static struct pkt_spec spec(const char *src, const char *dst, uint8_t proto, uint16_t sport,
                            uint16_t dport)
{
    struct pkt_spec s;
    memset(&s, 0, sizeof(s));
    s.src = src;
    s.dst = dst;
    s.proto = proto;
    s.sport = sport;
    s.dport = dport;
    s.payload = 16;
    s.ip_id = 0x1234;
    if (proto == IPPROTO_TCP)
        s.flags = 0x02, s.seq = 1000;
    if (proto == IPPROTO_ICMP)
        s.icmp_type = 8;
    if (proto == IPPROTO_ICMPV6)
        s.icmp_type = 128;
    return s;
}

static unsigned npacket;

static void emit_packet(const char *name, struct rec *r)
{
    char n[128];
    snprintf(n, sizeof(n), "%02u-%s", npacket++, name);
    write_file("packet", n, r->b, r->n);
    r->n = 0;
}

/* A flow's first packet, the reply, the initiator's next packet, and an ICMP error. */
static void flow_seed(const char *name, unsigned port, struct pkt_spec s)
{
    struct rec r = {0};
    frame(&r, port, &s, 0, 0);
    op(&r, OP_REPLY, s.proto == IPPROTO_TCP ? 0x12 : 0);
    op(&r, OP_REPLY, s.proto == IPPROTO_TCP ? 0x10 : 0);
    op(&r, OP_ICMPERR, 0x31);
    op(&r, OP_REPLY, s.proto == IPPROTO_TCP ? 0x11 : 0);
    op(&r, OP_ICMPERR, 0x42);
    emit_packet(name, &r);
}

static void packet_seeds(void)
{
    const uint8_t T = IPPROTO_TCP, U = IPPROTO_UDP, I = IPPROTO_ICMP, I6 = IPPROTO_ICMPV6;
    flow_seed("snat-iface-tcp", 0, spec("10.77.1.2", "10.77.2.2", T, 40000, 80));
    flow_seed("snat-iface-udp", 0, spec("10.77.1.2", "10.77.2.2", U, 40001, 53));
    flow_seed("snat-iface-icmp", 0, spec("10.77.1.2", "10.77.2.2", I, 77, 0));
    flow_seed("snat-pool-udp", 0, spec("10.77.1.130", "10.77.2.2", U, 5353, 9999));
    flow_seed("snat-keep-tcp", 0, spec("10.77.1.200", "10.77.2.2", T, 4444, 22));
    flow_seed("snat-off-udp", 0, spec("10.77.1.3", "10.77.2.2", U, 1111, 2222));
    flow_seed("default-route-tcp", 0, spec("10.77.1.2", "192.0.2.7", T, 41000, 443));
    flow_seed("dnat-tcp", 1, spec("10.77.2.2", "10.77.2.1", T, 50000, 80));
    flow_seed("dnat-udp", 1, spec("10.77.2.2", "10.77.2.1", U, 50001, 53));
    flow_seed("static-in", 1, spec("10.77.2.2", "198.51.100.9", T, 50002, 443));
    flow_seed("static-out", 2, spec("172.16.0.9", "10.77.2.2", U, 6000, 6001));
    flow_seed("hairpin", 0, spec("10.77.1.2", "10.77.2.1", T, 42000, 80));
    flow_seed("v6-tcp", 0, spec("fd00:77:1::2", "fd00:77:2::2", T, 43000, 80));
    flow_seed("v6-udp", 0, spec("fd00:77:1::2", "fd00:77:2::2", U, 43001, 53));
    flow_seed("v6-echo", 0, spec("fd00:77:1::2", "fd00:77:2::2", I6, 99, 0));
    flow_seed("no-zone", 3, spec("10.77.3.2", "10.99.1.1", U, 7000, 7001));

    struct rec r = {0};
    struct pkt_spec s = spec("10.77.1.2", "10.77.2.2", U, 40002, 5000);
    frame(&r, 0, &s, 0, 0);
    frame(&r, 0, &s, 0, F_TIGHT);
    s = spec("10.77.1.2", "10.77.2.2", T, 40003, 7000);
    frame(&r, 0, &s, 0, 0);
    s = spec("fd00:77:1::2", "fd00:77:2::2", U, 40004, 5000);
    frame(&r, 0, &s, 0, 0);
    s = spec("10.77.2.2", "10.77.1.2", I, 5, 0);
    frame(&r, 1, &s, 0, 0); /* no-ping: reject */
    emit_packet("rejects", &r);

    /* UDP without checksum, NATed both ways. */
    s = spec("10.77.1.2", "10.77.2.2", U, 40005, 4000);
    frame(&r, 0, &s, 0, 0);
    r.b[r.n - 16 - 8 + 6] = 0, r.b[r.n - 16 - 8 + 7] = 0; /* the UDP checksum: none */
    op(&r, OP_REPLY, 0);
    emit_packet("udp-zero-checksum", &r);

    /* Fragments: first then later, IPv4 and IPv6. */
    s = spec("10.77.1.2", "10.77.2.2", U, 40006, 4001);
    s.frag = 1;
    s.payload = 64;
    frame(&r, 0, &s, 0, 0);
    s.frag = 2;
    frame(&r, 0, &s, 0, 0);
    s = spec("fd00:77:1::2", "fd00:77:2::2", U, 40007, 4002);
    s.frag = 1;
    frame(&r, 0, &s, 0, 0);
    s.frag = 2;
    frame(&r, 0, &s, 0, 0);
    emit_packet("fragments", &r);

    /* VLAN: one tag, two tags. */
    s = spec("10.77.1.2", "10.77.2.2", T, 40008, 80);
    frame(&r, 0, &s, 1, 0);
    op(&r, OP_REPLY, 0x12);
    s = spec("10.77.1.2", "10.77.2.2", U, 40009, 80);
    frame(&r, 0, &s, 2, 0);
    emit_packet("vlan", &r);

    /* TTL 1, neighbour miss, no route for IPv6, a TCP packet that is not a SYN. */
    s = spec("10.77.1.2", "10.77.2.2", U, 40010, 80);
    frame(&r, 0, &s, 0, F_FIX);
    r.b[r.n - 16 - 8 - 20 + 8] = 1; /* TTL 1 (the harness repairs the header checksum) */
    s = spec("10.77.1.2", "10.77.2.3", U, 40011, 80);
    frame(&r, 0, &s, 0, 0);
    s = spec("10.77.1.2", "10.77.2.2", T, 40012, 80);
    s.flags = 0x10;
    frame(&r, 0, &s, 0, 0);
    emit_packet("drops", &r);

    /* A TCP connection through to its close, then time passing. */
    s = spec("10.77.1.2", "10.77.2.2", T, 40013, 80);
    frame(&r, 0, &s, 0, 0);
    op(&r, OP_REPLY, 0x12);
    op(&r, OP_REPLY, 0x10);
    op(&r, OP_REPLY, 0x18);
    op(&r, OP_REPLY, 0x11);
    op(&r, OP_REPLY, 0x11);
    op(&r, OP_REPLY, 0x10);
    op(&r, OP_TICK, 0x85);
    op0(&r, OP_RESEND | F_JOIN);
    op0(&r, OP_RESEND);
    emit_packet("tcp-close", &r);

    /* The session table fills (64), early aging, table full. */
    for (unsigned i = 0; i < 72; i++) {
        s = spec("10.77.1.2", "10.77.2.2", U, (uint16_t)(30000 + i), 53);
        frame(&r, 0, &s, 0, (i % 8 == 7) ? 0 : F_JOIN);
    }
    op(&r, OP_TICK, 0x90);
    s = spec("10.77.1.2", "10.77.2.2", U, 29999, 53);
    frame(&r, 0, &s, 0, 0);
    emit_packet("table-full", &r);

    /* The small pool runs out (2 addresses x 8 ports). */
    for (unsigned i = 0; i < 20; i++) {
        char a[32];
        snprintf(a, sizeof(a), "10.77.1.%u", 130 + i);
        s = spec(a, "10.77.2.2", T, 5000, 80);
        frame(&r, 0, &s, 0, F_JOIN);
    }
    op0(&r, OP_RESEND);
    emit_packet("pool-exhausted", &r);

    /* A reply in the same batch as the packet it answers' twin. */
    s = spec("10.77.1.2", "10.77.2.2", U, 40014, 53);
    frame(&r, 0, &s, 0, 0);
    op(&r, OP_REPLY | F_JOIN, 0);
    frame(&r, 0, &s, 0, F_JOIN);
    op0(&r, OP_RESEND | F_JOIN);
    op(&r, OP_REPLY, 0);
    emit_packet("batch", &r);

    /* A commit while flows run (re-evaluation), packets of both, the commit undone. */
    s = spec("10.77.1.2", "10.77.2.2", T, 40015, 80);
    frame(&r, 0, &s, 0, 0);
    op(&r, OP_REPLY, 0x12);
    s = spec("10.77.2.2", "10.77.2.1", U, 40016, 53);
    frame(&r, 1, &s, 0, 0);
    s = spec("10.77.1.2", "10.77.2.1", T, 40017, 80);
    frame(&r, 0, &s, 0, 0);
    s = spec("10.77.1.130", "10.77.2.2", U, 40018, 80);
    frame(&r, 0, &s, 0, 0);
    op0(&r, OP_COMMIT);
    op(&r, OP_REPLY, 0);
    op0(&r, OP_RESEND);
    frame(&r, 0, &s, 0, 0);
    op0(&r, OP_COMMIT);
    op0(&r, OP_RESEND);
    op(&r, OP_REPLY, 0);
    emit_packet("commit", &r);
}

/* ---- frame streams (fuzz_frame.c) ---- */

struct stream {
    uint8_t *b;
    size_t n;
};

static void s_put(struct stream *s, const void *d, size_t n)
{
    s->b = realloc(s->b, s->n + n);
    memcpy(s->b + s->n, d, n);
    s->n += n;
}

static void s_env(struct stream *s, const Moat__Envelope *env)
{
    uint8_t *buf;
    size_t len;
    if (frame_encode(env, &buf, &len))
        abort();
    s_put(s, buf, len);
    free(buf);
}

static unsigned nframe;

static void emit_stream(const char *name, struct stream *s, uint8_t cap, uint8_t cut)
{
    uint8_t *b = malloc(s->n + 2);
    b[0] = cap;
    b[1] = cut;
    memcpy(b + 2, s->b, s->n);
    char n[128];
    snprintf(n, sizeof(n), "%02u-%s", nframe++, name);
    write_file("frame", n, b, s->n + 2);
    free(b);
    free(s->b);
    s->b = NULL;
    s->n = 0;
}

static struct controld ctl;

static Moat__Snapshot *snap_of(const char *conf, unsigned nifs)
{
    memset(&ctl, 0, sizeof(ctl));
    struct config_error err;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", MOAT_SOURCE_DIR, conf);
    if (config_load_file(path, &ctl.cfg, &err)) {
        char msg[800];
        config_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        exit(1);
    }
    snprintf(ctl.mode, sizeof(ctl.mode), "userspace");
    ctl.bpffs_dir = "/sys/fs/bpf/moat";
    ctl.generation = 3;
    for (unsigned i = 0; i < nifs; i++)
        ctl_box_add_iface(&ctl, NULL, (uint8_t)(0xa + i));
    struct ctl_neigh *n = &ctl.neigh[ctl.n_neigh++];
    n->family = 4;
    inet_pton(AF_INET, "10.77.1.2", n->addr);
    n->ifindex = 2;
    memcpy(n->mac, "\x02\0\0\0\x02\x01", 6);
    n->state = 2;
    Moat__Snapshot *s = snapshot_build(&ctl);
    if (!s)
        exit(1);
    return s;
}

static uint8_t A_CL[4] = {10, 77, 1, 2}, A_SV[4] = {10, 77, 2, 2}, A_FW[4] = {10, 77, 2, 1};

static void session(Moat__SessionRecord *r, Moat__FlowKey *f, Moat__FlowKey *v, uint64_t id,
                    uint32_t proto, uint32_t sport)
{
    moat__session_record__init(r);
    moat__flow_key__init(f);
    moat__flow_key__init(v);
    f->src.data = A_CL, f->src.len = 4;
    f->dst.data = A_SV, f->dst.len = 4;
    f->sport = sport, f->dport = 80, f->protocol = proto;
    v->src.data = A_SV, v->src.len = 4;
    v->dst.data = A_FW, v->dst.len = 4;
    v->sport = 80, v->dport = 1024 + sport % 1000, v->protocol = proto;
    r->id = id;
    r->forward = f;
    r->reverse = v;
    r->from_zone = 1;
    r->to_zone = 2;
    r->in_ifindex = 2;
    r->out_ifindex = 3;
    r->policy_id = 3;
    r->policy_name = "allow-out";
    r->state =
        proto == 6 ? MOAT__SESSION_STATE__SESSION_ESTABLISHED : MOAT__SESSION_STATE__SESSION_NEW;
    r->packets_fwd = 3;
    r->bytes_fwd = 300;
    r->created_unix_ms = 1700000000000ull;
    r->last_seen_unix_ms = 1700000001000ull;
    r->timeout = 60;
    r->snat_rule_id = 9;
}

static void frame_seeds(void)
{
    struct stream st = {0};
    Moat__Envelope env = MOAT__ENVELOPE__INIT;

    /* Hello, HelloAck, Heartbeat, ResolveRequest, SnapshotApplied: the helper link's small talk. */
    Moat__Hello h = MOAT__HELLO__INIT;
    char *caps[] = {"afxdp", "shared-umem", "need-wakeup"};
    h.version = 1, h.pid = 4242, h.workers = 2, h.capabilities = caps, h.n_capabilities = 3;
    env.msg_case = MOAT__ENVELOPE__MSG_HELLO, env.hello = &h;
    s_env(&st, &env);
    Moat__HelloAck ha = MOAT__HELLO_ACK__INIT;
    ha.version = 1;
    env.msg_case = MOAT__ENVELOPE__MSG_HELLO_ACK, env.hello_ack = &ha;
    s_env(&st, &env);
    Moat__Heartbeat hb = MOAT__HEARTBEAT__INIT;
    hb.seq = 7, hb.generation = 3;
    env.msg_case = MOAT__ENVELOPE__MSG_HEARTBEAT, env.heartbeat = &hb;
    s_env(&st, &env);
    Moat__ResolveRequest rr = MOAT__RESOLVE_REQUEST__INIT;
    rr.addr.data = A_SV, rr.addr.len = 4, rr.ifindex = 3;
    env.msg_case = MOAT__ENVELOPE__MSG_RESOLVE_REQUEST, env.resolve_request = &rr;
    s_env(&st, &env);
    Moat__SnapshotApplied sa = MOAT__SNAPSHOT_APPLIED__INIT;
    Moat__XskBinding xb = MOAT__XSK_BINDING__INIT, *xbp = &xb;
    xb.ifindex = 2, xb.mode = "copy";
    sa.generation = 3, sa.ok = true, sa.error = "", sa.bindings = &xbp, sa.n_bindings = 1;
    env.msg_case = MOAT__ENVELOPE__MSG_SNAPSHOT_APPLIED, env.snapshot_applied = &sa;
    s_env(&st, &env);
    emit_stream("helper-talk", &st, 3, 0);

    /* moatctl: a request and its reply, under the operator cap. */
    Moat__OpRequest oq = MOAT__OP_REQUEST__INIT;
    char *args[] = {"show", "security", "flow", "session", "nat"};
    oq.args = args, oq.n_args = 5, oq.json = true;
    env.msg_case = MOAT__ENVELOPE__MSG_OP_REQUEST, env.op_request = &oq;
    s_env(&st, &env);
    Moat__OpReply orp = MOAT__OP_REPLY__INIT;
    orp.status = 0, orp.output = "Total sessions: 0\n", orp.error = "";
    env.msg_case = MOAT__ENVELOPE__MSG_OP_REPLY, env.op_reply = &orp;
    s_env(&st, &env);
    emit_stream("operator", &st, 2, 5);

    /* Snapshot of packet.conf with sessions to re-seed, a neighbour update, a clear, counters. */
    Moat__Snapshot *s = snap_of("tests/fuzz/packet.conf", 4);
    Moat__SessionRecord rec[3], *recp[3];
    Moat__FlowKey fk[6];
    session(&rec[0], &fk[0], &fk[1], 1, 17, 40000);
    session(&rec[1], &fk[2], &fk[3], 2, 6, 40001);
    session(&rec[2], &fk[4], &fk[5], 3, 1, 77);
    for (int i = 0; i < 3; i++)
        recp[i] = &rec[i];
    s->sessions = recp;
    s->n_sessions = 3;
    env.msg_case = MOAT__ENVELOPE__MSG_SNAPSHOT, env.snapshot = s;
    s_env(&st, &env);
    Moat__NeighborUpdate nu = MOAT__NEIGHBOR_UPDATE__INIT;
    Moat__Neighbor nb[2] = {MOAT__NEIGHBOR__INIT, MOAT__NEIGHBOR__INIT}, *nbp[2] = {&nb[0], &nb[1]};
    nb[0].addr.data = A_SV, nb[0].addr.len = 4, nb[0].ifindex = 3;
    nb[0].mac.data = (uint8_t *)"\x02\0\0\0\x02\x08", nb[0].mac.len = 6, nb[0].state = 2;
    nb[1].addr.data = A_CL, nb[1].addr.len = 4, nb[1].ifindex = 2; /* removal */
    nu.neighbors = nbp, nu.n_neighbors = 2;
    env.msg_case = MOAT__ENVELOPE__MSG_NEIGHBOR_UPDATE, env.neighbor_update = &nu;
    s_env(&st, &env);
    Moat__SessionClear sc = MOAT__SESSION_CLEAR__INIT;
    uint64_t ids[2] = {1, 2};
    sc.request_id = 5, sc.ids = ids, sc.n_ids = 2;
    env.msg_case = MOAT__ENVELOPE__MSG_SESSION_CLEAR, env.session_clear = &sc;
    s_env(&st, &env);
    Moat__PolicyCountersRequest pq = MOAT__POLICY_COUNTERS_REQUEST__INIT;
    pq.request_id = 6;
    env.msg_case = MOAT__ENVELOPE__MSG_POLICY_COUNTERS_REQUEST, env.policy_counters_request = &pq;
    s_env(&st, &env);
    emit_stream("snapshot-reseed", &st, 3, 1);
    s->sessions = NULL;
    s->n_sessions = 0;
    snapshot_free(s);
    config_free(ctl.cfg);

    /* Snapshot of the standalone example, read in small pieces. */
    s = snap_of("tests/lab/configs/nat-standalone.conf", 2);
    env.msg_case = MOAT__ENVELOPE__MSG_SNAPSHOT, env.snapshot = s;
    s_env(&st, &env);
    emit_stream("snapshot-standalone", &st, 3, 2);
    snapshot_free(s);
    config_free(ctl.cfg);

    /* Deltas, helper -> controld: create, update, close; and the other replies. */
    Moat__SessionDeltaBatch b = MOAT__SESSION_DELTA_BATCH__INIT;
    Moat__SessionDelta d[3] = {MOAT__SESSION_DELTA__INIT, MOAT__SESSION_DELTA__INIT,
                               MOAT__SESSION_DELTA__INIT},
                       *dp[3] = {&d[0], &d[1], &d[2]};
    d[0].kind = MOAT__DELTA_KIND__DELTA_CREATE, d[0].session = &rec[0];
    d[1].kind = MOAT__DELTA_KIND__DELTA_UPDATE, d[1].session = &rec[1];
    d[2].kind = MOAT__DELTA_KIND__DELTA_CLOSE, d[2].session = &rec[0];
    rec[0].close_reason = MOAT__CLOSE_REASON__CLOSE_AGED;
    b.seq = 1, b.deltas = dp, b.n_deltas = 3, b.dropped = 0;
    env.msg_case = MOAT__ENVELOPE__MSG_SESSION_DELTAS, env.session_deltas = &b;
    s_env(&st, &env);
    Moat__SessionClearReply scr = MOAT__SESSION_CLEAR_REPLY__INIT;
    scr.request_id = 5, scr.closed = 2;
    env.msg_case = MOAT__ENVELOPE__MSG_SESSION_CLEAR_REPLY, env.session_clear_reply = &scr;
    s_env(&st, &env);
    Moat__PolicyCountersReply pr = MOAT__POLICY_COUNTERS_REPLY__INIT;
    Moat__PolicyCounter pc = MOAT__POLICY_COUNTER__INIT, *pcp = &pc;
    pc.policy_id = 3, pc.hits = 1, pc.packets = 2, pc.bytes = 3;
    pr.request_id = 6, pr.generation = 3, pr.counters = &pcp, pr.n_counters = 1;
    env.msg_case = MOAT__ENVELOPE__MSG_POLICY_COUNTERS_REPLY, env.policy_counters_reply = &pr;
    s_env(&st, &env);
    emit_stream("deltas", &st, 3, 3);

    /* Broken streams: a zero length, a length over the cap, garbage, a truncated frame. */
    const uint8_t zero[] = {0, 0, 0, 0};
    s_put(&st, zero, 4);
    emit_stream("zero-length", &st, 3, 0);
    env.msg_case = MOAT__ENVELOPE__MSG_HEARTBEAT, env.heartbeat = &hb;
    s_env(&st, &env);
    const uint8_t big[] = {0, 0, 0x10, 0, 1, 2, 3};
    s_put(&st, big, sizeof(big));
    emit_stream("over-cap", &st, 0, 0);
    const uint8_t junk[] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    s_put(&st, junk, sizeof(junk));
    emit_stream("garbage", &st, 1, 0);
    s_env(&st, &env);
    st.n -= 3;
    emit_stream("truncated", &st, 2, 4);
}

/* ---- HA records (fuzz_ha.c): flags 0 (sealed), cut seed, sender/step; [len][Envelope]... ---- */

static unsigned nha;

static void ha_rec(struct rec *r, const Moat__Envelope *env)
{
    size_t n = moat__envelope__get_packed_size(env);
    if (n > 255 || r->n + 1 + n > sizeof(r->b)) {
        fprintf(stderr, "ha seed: an envelope of %zu bytes does not fit a record\n", n);
        exit(1);
    }
    r->b[r->n++] = (uint8_t)n;
    moat__envelope__pack(env, r->b + r->n);
    r->n += n;
}

static void ha_seeds(void)
{
    Moat__ClusterGroupState g = MOAT__CLUSTER_GROUP_STATE__INIT, *gp[1] = {&g};
    g.id = 1, g.priority = 200, g.primary = true, g.manual_node = -1;
    Moat__ClusterHeartbeat hb = MOAT__CLUSTER_HEARTBEAT__INIT;
    hb.cluster_id = 1, hb.node_id = 0, hb.groups = gp, hb.n_groups = 1;
    hb.sync_ready = true, hb.sync_port = 7472;
    Moat__Envelope ehb = MOAT__ENVELOPE__INIT;
    ehb.msg_case = MOAT__ENVELOPE__MSG_CLUSTER_HEARTBEAT, ehb.cluster_heartbeat = &hb;

    Moat__SyncHello hello = MOAT__SYNC_HELLO__INIT;
    hello.cluster_id = 1, hello.node_id = 0;
    Moat__Envelope ehello = MOAT__ENVELOPE__INIT;
    ehello.msg_case = MOAT__ENVELOPE__MSG_SYNC_HELLO, ehello.sync_hello = &hello;

    Moat__SessionRecord sr;
    Moat__FlowKey f, v;
    session(&sr, &f, &v, 7, 17, 40000);
    sr.policy_name = "p";
    Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT, *dp[1] = {&d};
    d.kind = MOAT__DELTA_KIND__DELTA_CREATE, d.session = &sr;
    char *in[1] = {"fw0"}, *out[1] = {"fw1"};
    Moat__SyncSessions ss = MOAT__SYNC_SESSIONS__INIT;
    ss.seq = 1, ss.bulk = true, ss.bulk_end = true, ss.deltas = dp, ss.n_deltas = 1;
    ss.in_ifnames = in, ss.n_in_ifnames = 1, ss.out_ifnames = out, ss.n_out_ifnames = 1;
    Moat__Envelope ess = MOAT__ENVELOPE__INIT;
    ess.msg_case = MOAT__ENVELOPE__MSG_SYNC_SESSIONS, ess.sync_sessions = &ss;

    Moat__SyncAck ack = MOAT__SYNC_ACK__INIT;
    ack.seq = 1;
    Moat__Envelope eack = MOAT__ENVELOPE__INIT;
    eack.msg_case = MOAT__ENVELOPE__MSG_SYNC_ACK, eack.sync_ack = &ack;

    static struct rec r;
    const struct {
        const char *name;
        uint8_t cut, who;
        const Moat__Envelope *e[4];
    } seeds[] = {
        {"heartbeat", 0, 0x00, {&ehb}},
        {"heartbeat-same-node-id", 5, 0x03, {&ehb}},
        {"sync-stream", 9, 0x10, {&ehello, &ess, &eack}},
        {"heartbeats-then-sessions", 33, 0x20, {&ehb, &ehb, &ess}},
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        r.n = 0;
        r.b[r.n++] = 0;
        r.b[r.n++] = seeds[i].cut;
        r.b[r.n++] = seeds[i].who;
        for (size_t k = 0; k < 4 && seeds[i].e[k]; k++)
            ha_rec(&r, seeds[i].e[k]);
        char name[64];
        snprintf(name, sizeof(name), "ha-%s", seeds[i].name);
        write_file("ha", name, r.b, r.n);
        nha++;
    }
    /* raw mode: a frame sealed with another key (bad MAC) and garbage */
    uint8_t *b;
    size_t len;
    if (ha_seal("not-the-key", 0, 1, 5, &ehb, &b, &len) == 0 && len + 3 <= sizeof(r.b)) {
        r.n = 0;
        r.b[r.n++] = 1, r.b[r.n++] = 3, r.b[r.n++] = 0;
        memcpy(r.b + r.n, b, len);
        r.n += len;
        write_file("ha", "ha-raw-bad-mac", r.b, r.n);
        nha++;
        free(b);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    log_init("moat-fuzz-seeds", LOG_LVL_ERR);
    outdir = argv[1];
    mkdir(outdir, 0755);
    packet_seeds();
    frame_seeds();
    ha_seeds();
    printf("%u packet seeds, %u frame seeds, %u ha seeds in %s\n", npacket, nframe, nha, outdir);
    return 0;
}
