/* SPDX-License-Identifier: MIT */
/*
 * hotpath.c — benchmark (not a test) of the worker's per-packet code, no kernel involved:
 * synthetic frames with the shim's metadata in memory go through dp_flow_batch() exactly as
 * the worker hands them over (validate against the metadata, key from the metadata, session
 * lookup, TCP state, counters, route, neighbour, TTL, L2 rewrite) in batches of 64.
 *
 *   moat-bench-hotpath [--mode all|established|setup] [--sessions N] [--small N]
 *                      [--packets N] [--setup N] [--policies N] [--repeat N]
 *                      [--nat yes|no|both]
 *
 *   established: N sessions (TCP, handshake done), packets of random flows in random
 *                directions; run at --small (1 000) and --sessions (1 048 576) sessions,
 *                --repeat times (5) over the same table: the best and the median run are
 *                printed (this VM shares its 2 vCPUs: single runs vary by +-30 %). The worker
 *                clock is held during the timed runs: they include no periodic UPDATE deltas
 *                (the control thread's cost of a delta shows in setup, the CREATE).
 *   setup:       --setup new TCP flows (SYN) into an empty table: policy lookup (behind
 *                --policies decoy policies in the same zone pair), session creation, CREATE
 *                delta, forwarding of the SYN.
 *   --nat yes|no|both (both): each figure also (or only) with source NAT: a source rule-set
 *                trust -> untrust translating 10.1.0.0/16 to pool "bench" (64 addresses,
 *                ports 1024-65535: 4.1 M mappings, room for the 1 M sessions). Established
 *                NATed packets are rewritten (addresses, ports, incremental IP and TCP
 *                checksums) in both directions, replies arriving on the translated tuple
 *                (the NAT reverse hit); setup adds the NAT rule match and the port
 *                allocation. With "both" the NAT/plain ratios of the same run are printed.
 * Each measurement runs in a child process of its own (fresh address space), so that runs
 * with and without NAT compare alike whatever their order.
 * Deltas are drained by the same thread (the control thread does it on another core in the
 * helper), inside the timed loop.
 *
 * Frames are rebuilt from a template before each batch (metadata + 64-byte frame); that
 * cost is measured on its own and reported, and subtracted in the "net" figure.
 *
 * Instructions per packet (this VM has no PMU: use callgrind). Collection is switched on
 * around dp_flow_batch() only (frame synthesis and delta draining are not counted):
 *
 *   valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file=cg.%p \
 *       build/moat-bench-hotpath --mode established --small 1000 --sessions 0 \
 *       --packets 200000 --repeat 1 --nat no      # (or yes)
 *   callgrind_annotate cg.<child pid> | head -20  # "PROGRAM TOTALS" Ir / 200000 = instr/packet
 *
 * (each measurement runs in a child: its file is the one with a total; --mode setup --setup
 * 100000 --sessions 0 the same way gives instructions per new session; callgrind counts
 * instructions, not cache misses: the 1 M figure costs the same count.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "dp.h"
#include "flow.h"
#include "snapshot.h"
#include "tcp.h"

#define BATCH 64
#define FRAME 2048
#define HEADROOM 256
#define PKT_LEN 64 /* eth 14 + ip 20 + tcp 20 + 10 payload */

static const uint8_t MAC_FW0[6] = {2, 0, 0, 0, 1, 0}, MAC_FW1[6] = {2, 0, 0, 0, 1, 1},
                     MAC_GW0[6] = {2, 0, 0, 0, 0, 0xfe}, MAC_GW1[6] = {2, 0, 0, 0, 2, 0xfe};
enum { IF0 = 2, IF1 = 3 };

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static inline uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static long status_kib(const char *file, const char *fmt)
{
    FILE *f = fopen(file, "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, fmt, &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static long rss_kib(void)
{
    return status_kib("/proc/self/status", "VmRSS: %ld kB");
}

static long huge_kib(void)
{
    return status_kib("/proc/self/smaps_rollup", "AnonHugePages: %ld kB");
}

/* ---- the environment: two zoned interfaces, routes via gateways, policies ---- */

static Moat__Prefix *pfx(const char *a, unsigned len)
{
    Moat__Prefix *p = calloc(1, sizeof(*p));
    moat__prefix__init(p);
    p->addr.data = calloc(1, 4);
    p->addr.len = 4;
    inet_pton(AF_INET, a, p->addr.data);
    p->len = len;
    return p;
}

static Moat__AddressMatch *match_any(void)
{
    Moat__AddressMatch *m = calloc(1, sizeof(*m));
    moat__address_match__init(m);
    m->any = true;
    return m;
}

static Moat__AddressMatch *match_pfx(const char *a, unsigned len)
{
    Moat__AddressMatch *m = calloc(1, sizeof(*m));
    moat__address_match__init(m);
    m->prefixes = calloc(1, sizeof(*m->prefixes));
    m->prefixes[0] = pfx(a, len);
    m->n_prefixes = 1;
    return m;
}

/* Source NAT of the benchmark: pool "bench", 10.0.2.100-10.0.2.163, ports 1024-65535. */
#define NAT_POOL_LO "10.0.2.100"
#define NAT_POOL_HI "10.0.2.163"

static void add_nat(Moat__Snapshot *s)
{
    static Moat__AddressRange ar;
    static Moat__AddressRange *arp[1] = {&ar};
    static uint8_t lo[4], hi[4];
    moat__address_range__init(&ar);
    inet_pton(AF_INET, NAT_POOL_LO, lo);
    inet_pton(AF_INET, NAT_POOL_HI, hi);
    ar.lo.data = lo;
    ar.lo.len = 4;
    ar.hi.data = hi;
    ar.hi.len = 4;
    static Moat__SourcePool sp;
    static Moat__SourcePool *spp[1] = {&sp};
    moat__source_pool__init(&sp);
    sp.id = 1;
    sp.name = "bench";
    sp.ranges = arp;
    sp.n_ranges = 1;
    sp.port_lo = 1024;
    sp.port_hi = 65535;
    s->source_pools = spp;
    s->n_source_pools = 1;
    static Moat__NatRule r;
    static Moat__NatRule *rp[1] = {&r};
    static uint32_t from = 1, to = 2;
    static Moat__Prefix *src[1];
    moat__nat_rule__init(&r);
    r.id = 1;
    r.kind = MOAT__NAT_KIND__NAT_KIND_SOURCE;
    r.rule_set = "bench-out";
    r.name = "to-pool";
    r.from_zones = &from;
    r.n_from_zones = 1;
    r.to_zones = &to;
    r.n_to_zones = 1;
    src[0] = pfx("10.1.0.0", 16);
    r.source = src;
    r.n_source = 1;
    r.action = MOAT__NAT_ACTION__NAT_ACTION_POOL;
    r.pool_id = 1;
    s->nat_rules = rp;
    s->n_nat_rules = 1;
}

static struct dp_tables *build_tables(uint32_t max_sessions, unsigned decoys, bool nat)
{
    static Moat__Snapshot s;
    moat__snapshot__init(&s);
    s.generation = 1;
    static Moat__Interface ifs[2];
    static Moat__Interface *ifp[2];
    for (int i = 0; i < 2; i++) {
        moat__interface__init(&ifs[i]);
        ifs[i].ifindex = i ? IF1 : IF0;
        ifs[i].name = i ? "fw1" : "fw0";
        ifs[i].mac.data = (uint8_t *)(i ? MAC_FW1 : MAC_FW0);
        ifs[i].mac.len = 6;
        ifs[i].mtu = 1500;
        ifs[i].queues = 1;
        ifs[i].slot = (uint32_t)i;
        ifs[i].userspace = true;
        ifs[i].zone_id = (uint32_t)i + 1;
        ifp[i] = &ifs[i];
    }
    s.interfaces = ifp;
    s.n_interfaces = 2;
    static Moat__Route rt[4];
    static Moat__Route *rtp[4];
    const char *dst[4] = {"10.0.1.0", "10.0.2.0", "10.1.0.0", "10.2.0.0"};
    const unsigned plen[4] = {24, 24, 16, 16};
    for (int i = 0; i < 4; i++) {
        moat__route__init(&rt[i]);
        rt[i].dst = pfx(dst[i], plen[i]);
        rt[i].ifindex = (i % 2) ? IF1 : IF0;
        rt[i].kind = i < 2 ? MOAT__ROUTE_KIND__ROUTE_CONNECTED : MOAT__ROUTE_KIND__ROUTE_STATIC;
        if (i >= 2) {
            rt[i].gateway.data = calloc(1, 4);
            rt[i].gateway.len = 4;
            inet_pton(AF_INET, i == 2 ? "10.0.1.254" : "10.0.2.254", rt[i].gateway.data);
        }
        rtp[i] = &rt[i];
    }
    s.routes = rtp;
    s.n_routes = 4;
    static Moat__Neighbor nb[2];
    static Moat__Neighbor *nbp[2];
    for (int i = 0; i < 2; i++) {
        moat__neighbor__init(&nb[i]);
        nb[i].addr.data = calloc(1, 4);
        nb[i].addr.len = 4;
        inet_pton(AF_INET, i ? "10.0.2.254" : "10.0.1.254", nb[i].addr.data);
        nb[i].ifindex = i ? IF1 : IF0;
        nb[i].mac.data = (uint8_t *)(i ? MAC_GW1 : MAC_GW0);
        nb[i].mac.len = 6;
        nb[i].state = 2; /* NUD_REACHABLE */
        nbp[i] = &nb[i];
    }
    s.neighbors = nbp;
    s.n_neighbors = 2;
    static Moat__Zone z[2];
    static Moat__Zone *zp[2];
    for (int i = 0; i < 2; i++) {
        moat__zone__init(&z[i]);
        z[i].id = (uint32_t)i + 1;
        z[i].name = i ? "untrust" : "trust";
        zp[i] = &z[i];
    }
    s.zones = zp;
    s.n_zones = 2;
    /* decoys: trust -> untrust policies that never match these flows, then the permit. */
    Moat__Policy **pp = calloc(decoys + 1, sizeof(*pp));
    for (unsigned i = 0; i <= decoys; i++) {
        Moat__Policy *p = calloc(1, sizeof(*p));
        moat__policy__init(p);
        p->id = i + 1;
        char name[32];
        snprintf(name, sizeof(name), i < decoys ? "decoy-%u" : "allow-out", i);
        p->name = strdup(name);
        p->from_zone = 1;
        p->to_zone = 2;
        if (i < decoys) {
            char a[32];
            snprintf(a, sizeof(a), "192.168.%u.0", i % 256);
            p->source = match_pfx(a, 24);
            snprintf(a, sizeof(a), "172.16.%u.0", i % 256);
            p->destination = match_pfx(a, 24);
            Moat__Application *ap = calloc(1, sizeof(*ap));
            moat__application__init(ap);
            ap->name = "decoy";
            ap->protocol = 6;
            ap->dport_lo = ap->dport_hi = (uint32_t)(1000 + i);
            ap->sport_hi = 65535;
            ap->icmp_type = ap->icmp_code = -1;
            p->applications = calloc(1, sizeof(*p->applications));
            p->applications[0] = ap;
            p->n_applications = 1;
            p->action = MOAT__POLICY_ACTION__POLICY_DENY;
        } else {
            p->source = match_pfx("10.1.0.0", 16);
            p->destination = match_any();
            p->application_any = true;
            p->action = MOAT__POLICY_ACTION__POLICY_PERMIT;
        }
        pp[i] = p;
    }
    s.policies = pp;
    s.n_policies = decoys + 1;
    static Moat__FlowSettings fl;
    moat__flow_settings__init(&fl);
    fl.max_sessions = max_sessions;
    s.flow = &fl;
    if (nat)
        add_nat(&s);
    else
        s.n_source_pools = s.n_nat_rules = 0;

    struct dp_port ports[2] = {{IF0, 0, 1, "fw0", 0}, {IF1, 1, 1, "fw1", 0}};
    struct dp_tables *t = NULL;
    char err[256] = "";
    if (dp_tables_from_snapshot(&s, ports, 2, &t, err, sizeof(err)) != 0) {
        fprintf(stderr, "tables: %s\n", err);
        exit(1);
    }
    return t;
}

/* ---- frames ---- */

struct frames {
    uint8_t *buf; /* BATCH frames of FRAME bytes */
    struct dp_pkt p[BATCH];
};

static inline void flow_addrs(uint32_t i, uint8_t c[4], uint8_t s[4], uint16_t *cport)
{
    c[0] = 10;
    c[1] = 1;
    c[2] = (uint8_t)(i >> 8);
    c[3] = (uint8_t)i;
    s[0] = 10;
    s[1] = 2;
    s[2] = (uint8_t)(i >> 16);
    s[3] = (uint8_t)(1 + (i >> 24));
    *cport = (uint16_t)(1024 + (i % 50000));
}

/* Under NAT, flow i's translated source (network order), learnt from its first packet as it
 * left: replies are addressed to it. */
static bool nat_mode;
static uint32_t *ext_addr;
static uint16_t *ext_port;

/* Frame k of the batch: flow i, direction dir, TCP flags. */
static inline void synth(struct frames *fr, int k, uint32_t i, unsigned dir, uint8_t flags)
{
    uint8_t c[4], s[4];
    uint16_t cport;
    flow_addrs(i, c, s, &cport);
    if (nat_mode && dir) {
        memcpy(c, &ext_addr[i], 4);
        cport = ntohs(ext_port[i]);
    }
    uint8_t *pkt = fr->buf + (size_t)k * FRAME + HEADROOM;
    struct moat_meta *m = (struct moat_meta *)(pkt - sizeof(*m));
    memset(m, 0, sizeof(*m));
    const uint8_t *src = dir ? s : c, *dst = dir ? c : s;
    uint16_t sp = htons(dir ? 80 : cport), dp_ = htons(dir ? cport : 80);
    memcpy(m->src, src, 4);
    memcpy(m->dst, dst, 4);
    m->sport = sp;
    m->dport = dp_;
    m->ifindex = dir ? IF1 : IF0;
    m->flags = MOAT_META_F_L4;
    m->proto = IPPROTO_TCP;
    m->l3_off = 14;
    m->l4_off = 34;
    m->ttl = 64;
    m->magic = MOAT_META_MAGIC;
    memcpy(pkt, dir ? MAC_FW1 : MAC_FW0, 6);
    memcpy(pkt + 6, dir ? MAC_GW1 : MAC_GW0, 6);
    pkt[12] = 0x08;
    pkt[13] = 0x00;
    uint8_t *ip = pkt + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2] = 0;
    ip[3] = PKT_LEN - 14;
    memset(ip + 4, 0, 6);
    ip[8] = 64;
    ip[9] = IPPROTO_TCP;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    uint8_t *th = ip + 20;
    memcpy(th, &sp, 2);
    memcpy(th + 2, &dp_, 2);
    memset(th + 4, 0, 8);
    th[12] = 5 << 4;
    th[13] = flags;
    struct dp_pkt *p = &fr->p[k];
    p->data = pkt;
    p->len = PKT_LEN;
    p->room = FRAME - HEADROOM;
    p->m = m;
    p->in_port = (uint16_t)dir;
    p->handed = 0;
}

static void drain(struct dp_flow *f)
{
    struct dp_delta d;
    while (spsc_ring_pop(&f->deltas, &d))
        ;
}

static bool measuring; /* callgrind collects inside the measured loops only */

/* Runs one batch; returns how many frames were to be transmitted. */
static inline uint32_t run(struct dp_flow *f, const struct dp_tables *t, struct frames *fr,
                           uint32_t n)
{
    if (measuring) {
        CALLGRIND_TOGGLE_COLLECT;
        dp_flow_batch(f, t, fr->p, n);
        CALLGRIND_TOGGLE_COLLECT;
    } else {
        dp_flow_batch(f, t, fr->p, n);
    }
    uint32_t tx = 0;
    for (uint32_t k = 0; k < n; k++)
        tx += fr->p[k].verdict == DP_V_TX;
    return tx;
}

static struct dp_flow *make_flow(struct dp *dp, struct moat_dp_stats *stats, uint32_t cap)
{
    struct dp_flow *f = NULL;
    int rc = dp_flow_create(&f, dp, 0, cap, false, &stats->worker[0], now_ms());
    if (rc) {
        fprintf(stderr, "dp_flow_create(%u): %s\n", cap, strerror(-rc));
        exit(1);
    }
    dp->flows[0] = f;
    dp->nflows = 1;
    return f;
}

/* Opens n sessions and completes their handshakes. */
static void open_sessions(struct dp_flow *f, const struct dp_tables *t, struct frames *fr,
                          uint32_t n)
{
    static const uint8_t steps[3] = {TCPF_SYN, TCPF_SYN | TCPF_ACK, TCPF_ACK};
    for (int st = 0; st < 3; st++) {
        for (uint32_t i = 0; i < n; i += BATCH) {
            uint32_t b = n - i < BATCH ? n - i : BATCH;
            for (uint32_t k = 0; k < b; k++)
                synth(fr, (int)k, i + k, st == 1, steps[st]);
            dp_flow_tick(f, t, now_ms());
            if (run(f, t, fr, b) != b) {
                fprintf(stderr, "handshake step %d of flow %u not forwarded\n", st, i);
                exit(1);
            }
            if (st == 0 && nat_mode) {
                for (uint32_t k = 0; k < b; k++) { /* the SYN as it left: source translated */
                    const uint8_t *ip = fr->p[k].out + 14;
                    memcpy(&ext_addr[i + k], ip + 12, 4);
                    memcpy(&ext_port[i + k], ip + 20, 2);
                }
            }
            drain(f);
        }
    }
}

struct result {
    double ns_gross, ns_synth;
    uint64_t packets, tx, deltas;
};

/* A batch of packets of random flows in random directions. Under NAT, the translated
 * endpoints of the replies' flows are fetched for the whole batch first, so that frame
 * synthesis does not wait for them one packet at a time. */
static inline void synth_batch(struct frames *fr, uint32_t flows)
{
    uint32_t idx[BATCH];
    unsigned dir[BATCH];
    for (int k = 0; k < BATCH; k++) {
        idx[k] = (uint32_t)(rnd() % flows);
        dir[k] = (unsigned)(rnd() & 1);
        if (nat_mode && dir[k]) {
            __builtin_prefetch(&ext_addr[idx[k]]);
            __builtin_prefetch(&ext_port[idx[k]]);
        }
    }
    for (int k = 0; k < BATCH; k++)
        synth(fr, k, idx[k], dir[k], TCPF_ACK | TCPF_PSH);
}

/* clock_ms: the worker clock for the whole run (held: see established(), below). */
static struct result established(struct dp_flow *f, const struct dp_tables *t, struct frames *fr,
                                 uint32_t flows, uint64_t packets, uint64_t clock_ms)
{
    struct result r = {0};
    packets = (packets + BATCH - 1) / BATCH * BATCH;
    /* Frame synthesis alone, same random choices. */
    uint64_t seed = rs;
    double t0 = now_s();
    for (uint64_t done = 0; done < packets; done += BATCH)
        synth_batch(fr, flows);
    r.ns_synth = (now_s() - t0) * 1e9 / (double)packets;
    rs = seed;
    const uint64_t deltas0 = f->st->deltas_produced;
    measuring = true;
    t0 = now_s();
    uint64_t batches = 0;
    for (uint64_t done = 0; done < packets; done += BATCH) {
        synth_batch(fr, flows);
        if ((batches++ & 255) == 0)
            dp_flow_tick(f, t, clock_ms); /* the worker's pass: clock, aging */
        r.tx += run(f, t, fr, BATCH);
        drain(f);
    }
    r.ns_gross = (now_s() - t0) * 1e9 / (double)packets;
    measuring = false;
    r.packets = packets;
    r.deltas = f->st->deltas_produced - deltas0;
    return r;
}

/* Established packets over n sessions (with or without NAT): prints the line, *ns = best net
 * ns/packet. Nonzero on a failure. */
static int establish(struct dp *dp, struct moat_dp_stats *stats, struct frames *fr, uint32_t n,
                     uint32_t decoys, bool nat, uint64_t packets, int repeat, double *ns)
{
    nat_mode = nat;
    if (nat) {
        ext_addr = calloc(n, sizeof(*ext_addr));
        ext_port = calloc(n, sizeof(*ext_port));
        if (!ext_addr || !ext_port) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
    }
    struct dp_tables *t = build_tables(n, decoys, nat);
    long rss0 = rss_kib();
    struct dp_flow *f = make_flow(dp, stats, n);
    long rss1 = rss_kib();
    const uint64_t nat0 = f->st->nat_sessions;
    double t0 = now_s();
    open_sessions(f, t, fr, n);
    double open_s = now_s() - t0;
    /* The worker clock stays where the handshakes left it during the timed runs: no run
     * includes the periodic UPDATE deltas (every 2 s per active session), whatever the
     * handshakes took, so that runs with and without NAT compare alike. */
    const uint64_t clock_ms = now_ms();
    if (f->t.active != n) {
        fprintf(stderr, "%u sessions expected, %u active\n", n, f->t.active);
        return 1;
    }
    const uint64_t rev0 = f->st->nat_reverse_hit;
    /* The VM is noisy: best and median of `repeat` runs over the same table. */
    struct result r = {0}, runs[16];
    double gross[16];
    for (int k = 0; k < repeat; k++) {
        runs[k] = established(f, t, fr, n, packets, clock_ms);
        gross[k] = runs[k].ns_gross - runs[k].ns_synth;
        if (k == 0 || gross[k] < r.ns_gross - r.ns_synth)
            r = runs[k];
    }
    for (int a = 0; a < repeat; a++)
        for (int b = a + 1; b < repeat; b++)
            if (gross[b] < gross[a]) {
                double x = gross[a];
                gross[a] = gross[b];
                gross[b] = x;
            }
    uint64_t deltas = 0, tx = 0, pk = 0;
    for (int k = 0; k < repeat; k++) {
        deltas += runs[k].deltas;
        tx += runs[k].tx;
        pk += runs[k].packets;
    }
    const uint64_t rev = f->st->nat_reverse_hit - rev0;
    printf("established, %8u sessions%s: %6.1f ns/packet best of %d (median %.1f; best run "
           "%.1f gross - %.1f frame synthesis), %.2f Mpps, %llu/%llu forwarded, %llu "
           "periodic UPDATE deltas; handshakes %.2f s; table %.1f MiB (RSS +%.1f MiB, %.0f "
           "MiB of the process in huge pages)\n",
           n, nat ? " NAT" : "", r.ns_gross - r.ns_synth, repeat, gross[repeat / 2], r.ns_gross,
           r.ns_synth, 1e3 / (r.ns_gross - r.ns_synth), (unsigned long long)tx,
           (unsigned long long)pk, (unsigned long long)deltas, open_s, dp_flow_bytes(f) / 1048576.0,
           (rss1 - rss0) / 1024.0, huge_kib() / 1024.0);
    if (nat)
        printf("    NAT: %llu translated sessions, %llu replies found on the translated tuple "
               "(NAT reverse hits, %.0f%% of the packets)\n",
               (unsigned long long)(f->st->nat_sessions - nat0), (unsigned long long)rev,
               100.0 * (double)rev / (double)pk);
    *ns = r.ns_gross - r.ns_synth;
    const bool ok = tx == pk && (!nat || (f->st->nat_sessions - nat0 == n && rev > 0));
    if (!ok)
        fprintf(stderr, "not every packet was forwarded%s\n", nat ? " or translated" : "");
    dp_flow_destroy(f);
    dp->flows[0] = NULL;
    dp_tables_free(t, true, true);
    free(ext_addr);
    free(ext_port);
    ext_addr = NULL;
    ext_port = NULL;
    nat_mode = false;
    return ok ? 0 : 1;
}

/* New flows into an empty table (with or without NAT): prints the line, *rate = sessions/s.
 * Nonzero on a failure. */
static int setup(struct dp *dp, struct moat_dp_stats *stats, struct frames *fr, uint32_t setup_n,
                 uint32_t decoys, bool nat, double *rate)
{
    struct dp_tables *t = build_tables(setup_n, decoys, nat);
    struct dp_flow *f = make_flow(dp, stats, setup_n);
    uint64_t created0 = stats->worker[0].sessions_created;
    uint64_t nat0 = stats->worker[0].nat_sessions, fail0 = stats->worker[0].nat_alloc_failures;
    measuring = true;
    double t0 = now_s();
    uint64_t tx = 0;
    for (uint32_t i = 0; i < setup_n; i += BATCH) {
        uint32_t b = setup_n - i < BATCH ? setup_n - i : BATCH;
        for (uint32_t k = 0; k < b; k++)
            synth(fr, (int)k, i + k, 0, TCPF_SYN);
        if (((i / BATCH) & 255) == 0)
            dp_flow_tick(f, t, now_ms());
        tx += run(f, t, fr, b);
        drain(f);
    }
    double el = now_s() - t0;
    measuring = false;
    uint64_t created = stats->worker[0].sessions_created - created0;
    uint64_t xlated = stats->worker[0].nat_sessions - nat0;
    printf("setup%s: %llu sessions in %.3f s = %.2f M sessions/s (%.0f ns each, incl. policy "
           "lookup behind %u decoys, %s2 index inserts, timers, CREATE delta, forwarding the "
           "SYN), %llu SYNs forwarded, table full %llu",
           nat ? " NAT" : "", (unsigned long long)created, el, created / el / 1e6,
           el * 1e9 / (double)created, decoys, nat ? "NAT rule match and port allocation, " : "",
           (unsigned long long)tx, (unsigned long long)stats->worker[0].session_table_full);
    if (nat)
        printf(", %llu translated, %llu allocation failures", (unsigned long long)xlated,
               (unsigned long long)(stats->worker[0].nat_alloc_failures - fail0));
    printf("\n");
    *rate = created / el;
    const bool ok = created == setup_n && (!nat || xlated == setup_n);
    dp_flow_destroy(f);
    dp->flows[0] = NULL;
    dp_tables_free(t, true, true);
    return ok ? 0 : 1;
}

/* Runs one measurement in a child process: each starts from a fresh address space (in one
 * process, a run after another's 1 M-session table measured up to 2x slower: where its memory
 * lands, not what it does). The child's figure comes back through a pipe. Nonzero on a
 * failure. */
enum { M_ESTABLISH, M_SETUP };
static int measure(int what, struct dp *dp, struct moat_dp_stats *stats, struct frames *fr,
                   uint32_t n, uint32_t decoys, bool nat, uint64_t packets, int repeat, double *out)
{
    int pfd[2];
    if (pipe(pfd) != 0) {
        perror("pipe");
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        close(pfd[0]);
        double v = 0;
        int rc = what == M_ESTABLISH ? establish(dp, stats, fr, n, decoys, nat, packets, repeat, &v)
                                     : setup(dp, stats, fr, n, decoys, nat, &v);
        fflush(stdout);
        if (write(pfd[1], &v, sizeof(v)) != (ssize_t)sizeof(v))
            rc = 1;
        _exit(rc ? 1 : 0);
    }
    close(pfd[1]);
    double v = 0;
    ssize_t got = read(pfd[0], &v, sizeof(v));
    close(pfd[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        got != (ssize_t)sizeof(v))
        return 1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = "all", *nat_arg = "both";
    uint32_t big = 1048576, small = 1000, setup_n = 1000000, decoys = 100;
    uint64_t packets = 10000000;
    int repeat = 5;
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'},   {"sessions", required_argument, NULL, 's'},
        {"small", required_argument, NULL, 'k'},  {"packets", required_argument, NULL, 'p'},
        {"setup", required_argument, NULL, 'n'},  {"policies", required_argument, NULL, 'P'},
        {"repeat", required_argument, NULL, 'r'}, {"nat", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "m:s:k:p:n:P:r:N:h", opts, NULL)) != -1) {
        switch (c) {
        case 'N':
            nat_arg = optarg;
            if (strcmp(nat_arg, "yes") && strcmp(nat_arg, "no") && strcmp(nat_arg, "both")) {
                fprintf(stderr, "--nat takes yes, no or both\n");
                return 2;
            }
            break;
        case 'm':
            mode = optarg;
            break;
        case 's':
            big = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'k':
            small = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'p':
            packets = strtoull(optarg, NULL, 0);
            break;
        case 'n':
            setup_n = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'P':
            decoys = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'r':
            repeat = atoi(optarg);
            if (repeat < 1 || repeat > 16)
                repeat = 5;
            break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: %s [--mode all|established|setup] [--sessions N] [--small N] "
                    "[--packets N] [--setup N] [--policies N] [--repeat N] "
                    "[--nat yes|no|both]\n",
                    argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    const bool do_est = !strcmp(mode, "all") || !strcmp(mode, "established");
    const bool do_setup = !strcmp(mode, "all") || !strcmp(mode, "setup");

    struct moat_dp_stats *stats = calloc(1, sizeof(*stats));
    struct dp dp;
    memset(&dp, 0, sizeof(dp));
    dp.stats = stats;
    dp.flow_seed = 0x1234abcd5678ef01ull;
    struct frames fr;
    fr.buf = aligned_alloc(4096, (size_t)BATCH * FRAME);
    memset(fr.buf, 0, (size_t)BATCH * FRAME);
    printf("moat hot-path benchmark: batches of %d frames of %d bytes, %u decoy policies before "
           "the permit in the zone pair\n",
           BATCH, PKT_LEN, decoys);

    const bool nat_variant[2] = {strcmp(nat_arg, "yes") != 0, strcmp(nat_arg, "no") != 0};
    /* [size][nat]: best net ns/packet; setups/s [nat]. */
    double est_ns[2][2] = {{0}}, setup_rate[2] = {0};
    if (do_est) {
        const uint32_t sizes[2] = {small, big};
        for (int i = 0; i < 2; i++) {
            uint32_t n = sizes[i];
            if (!n)
                continue;
            for (int nat = 0; nat < 2; nat++) {
                if (!nat_variant[nat])
                    continue;
                if (measure(M_ESTABLISH, &dp, stats, &fr, n, decoys, nat, packets, repeat,
                            &est_ns[i][nat]))
                    return 1;
            }
            if (nat_variant[0] && nat_variant[1])
                printf("established, %8u sessions: NAT %.1f ns/packet vs %.1f without: ratio "
                       "NAT/plain %.2f\n",
                       n, est_ns[i][1], est_ns[i][0], est_ns[i][1] / est_ns[i][0]);
        }
    }

    if (do_setup && setup_n) {
        for (int nat = 0; nat < 2; nat++) {
            if (!nat_variant[nat])
                continue;
            if (measure(M_SETUP, &dp, stats, &fr, setup_n, decoys, nat, 0, 0, &setup_rate[nat]))
                return 1;
        }
        if (nat_variant[0] && nat_variant[1])
            printf("setup: NAT %.2f M sessions/s vs %.2f without: ratio NAT/plain %.2f\n",
                   setup_rate[1] / 1e6, setup_rate[0] / 1e6, setup_rate[1] / setup_rate[0]);
    }

    /* Memory of a 1 M-session table, as the helper allocates it. */
    if (big) {
        struct dp_flow *f = make_flow(&dp, stats, 1048576);
        struct sess_table *st = &f->t;
        printf("memory for 1048576 sessions: %.1f MiB in all (sessions %.1f MiB at %zu B, index "
               "%.1f MiB at %zu entries of 8 B, timers/rings/counters %.1f MiB); with a shared "
               "index partition (several workers) +%.1f MiB\n",
               dp_flow_bytes(f) / 1048576.0, st->s_bytes / 1048576.0, sizeof(struct dp_session),
               st->idx_bytes / 1048576.0, (size_t)st->nslots,
               (dp_flow_bytes(f) - sess_table_bytes(st)) / 1048576.0,
               ((double)(((uint64_t)1048576 * 2 * 4 + 2) / 3) * 8) / 1048576.0);
        dp_flow_destroy(f);
    }
    free(fr.buf);
    free(stats);
    return 0;
}
