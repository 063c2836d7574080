/* SPDX-License-Identifier: MIT */
/*
 * ha_sync_report.c — benchmark (not a test; issue 7): what it costs the standby to hear back
 * from its helper about the sessions it installed from the HA peer, per session, without the
 * dataplane: the helper's control thread turns each installed session (struct dp_delta) into
 * its report and packs a SessionDeltaBatch of DP_BATCH_MAX; controld unpacks it and applies it
 * to its session mirror (a fresh mirror each round, as after a bulk sync).
 *
 *   records: each create as a SessionRecord (flowctl_delta_to_record: the form every session
 *            used before synced creates went compact; still the form of the other deltas)
 *   compact: each create as a struct sessrec in SessionDeltaBatch.created (what the helper
 *            sends for synced installs now)
 *
 * Both run alternately in the same process (ROUNDS rounds each, median printed); the ratio
 * compact/records is the figure to read on a shared machine.
 *
 *   build/moat-bench-ha_sync_report [SESSIONS]     (default 12000: the lab bench's bulk)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowctl.h"
#include "mirror.h"
#include "moat.pb-c.h"

#define ROUNDS 9

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* N UDP sessions as a standby's worker reports them: distinct source ports, source NAT. */
static void make_sessions(struct dp_delta *d, size_t n, uint16_t policy_slot)
{
    for (size_t i = 0; i < n; i++) {
        memset(&d[i], 0, sizeof(d[i]));
        d[i].kind = DP_DELTA_CREATE;
        d[i].synced = 1;
        d[i].state = 3;
        d[i].policy_slot = policy_slot;
        d[i].timeout = 60;
        d[i].id = (1ull << 48) | (i + 1);
        d[i].worker = 1;
        struct flow_tuple *f = &d[i].fwd, *r = &d[i].rev;
        f->family = r->family = 4;
        f->proto = r->proto = IPPROTO_UDP;
        inet_pton(AF_INET, "10.77.1.2", f->src);
        inet_pton(AF_INET, "10.77.2.2", f->dst);
        f->sport = htons((uint16_t)(10000 + i % 50000));
        f->dport = htons(9000);
        f->zone = 1;
        memcpy(r->src, f->dst, 4);
        inet_pton(AF_INET, "10.77.2.1", r->dst);
        r->sport = f->dport;
        r->dport = htons((uint16_t)(1024 + i % 30000));
        r->zone = 2;
        d[i].in_ifindex = 2;
        d[i].out_ifindex = 3;
        d[i].packets[0] = 1;
        d[i].bytes[0] = 37;
        d[i].created_unix_ms = 1700000000000ull + i;
        d[i].last_seen_unix_ms = 1700000000000ull + i;
        d[i].snat_rule_id = 1;
    }
}

static struct flowctl fc;
static Moat__SessionDelta dl[DP_BATCH_MAX], *dlp[DP_BATCH_MAX];
static Moat__SessionRecord rec[DP_BATCH_MAX];
static Moat__FlowKey keys[2 * DP_BATCH_MAX];
static uint8_t wire[1 << 20];

/* One batch: pack as the helper would, unpack and apply as controld does. */
static void one_batch(struct mirror *m, const struct dp_delta *d, size_t n, bool compact,
                      uint64_t seq)
{
    Moat__SessionDeltaBatch b = MOAT__SESSION_DELTA_BATCH__INIT;
    b.seq = seq;
    if (compact) {
        fc.n_names = 0;
        for (size_t i = 0; i < n; i++) {
            flowctl_delta_to_sessrec(&fc, &d[i], &fc.created[i]);
            fc.created[i].order = 0;
        }
        b.created.data = (uint8_t *)fc.created;
        b.created.len = n * sizeof(fc.created[0]);
        b.names = fc.names;
        b.n_names = fc.n_names;
    } else {
        for (size_t i = 0; i < n; i++) {
            moat__session_delta__init(&dl[i]);
            dl[i].kind = MOAT__DELTA_KIND__DELTA_CREATE;
            flowctl_delta_to_record(&fc, &d[i], &rec[i], &keys[2 * i], &keys[2 * i + 1]);
            dl[i].session = &rec[i];
            dlp[i] = &dl[i];
        }
        b.deltas = dlp;
        b.n_deltas = n;
    }
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_SESSION_DELTAS;
    env.session_deltas = &b;
    size_t len = moat__envelope__pack(&env, wire);
    Moat__Envelope *got = moat__envelope__unpack(NULL, len, wire);
    if (!got || mirror_apply_batch(m, got->session_deltas, NULL, NULL) < 0) {
        fprintf(stderr, "unpack or mirror failed\n");
        exit(1);
    }
    moat__envelope__free_unpacked(got, NULL);
}

static double round_s(const struct dp_delta *d, size_t n, bool compact)
{
    struct mirror m;
    if (mirror_init(&m, (uint32_t)n + 1) < 0)
        exit(1);
    double t0 = now_s();
    uint64_t seq = 1;
    for (size_t i = 0; i < n; i += DP_BATCH_MAX)
        one_batch(&m, d + i, n - i < DP_BATCH_MAX ? n - i : DP_BATCH_MAX, compact, seq++);
    double t = now_s() - t0;
    if (m.count != n) {
        fprintf(stderr, "mirror holds %u of %zu sessions\n", m.count, n);
        exit(1);
    }
    mirror_free(&m);
    return t;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 12000;
    struct dp dp;
    memset(&dp, 0, sizeof(dp));
    if (n == 0 || flowctl_init(&fc, &dp, NULL, NULL) < 0)
        return 1;
    int slot = pol_names_intern(&fc.pnames, "allow-out", "allow-out");
    struct dp_delta *d = calloc(n, sizeof(*d));
    if (slot < 0 || !d)
        return 1;
    make_sessions(d, n, (uint16_t)slot);
    double t[2][ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        t[0][r] = round_s(d, n, false);
        t[1][r] = round_s(d, n, true);
    }
    qsort(t[0], ROUNDS, sizeof(double), cmp_d);
    qsort(t[1], ROUNDS, sizeof(double), cmp_d);
    double rec_us = t[0][ROUNDS / 2] * 1e6 / (double)n, cmp_us = t[1][ROUNDS / 2] * 1e6 / (double)n;
    printf("report-back of %zu synced creates (median of %d rounds, helper pack + controld unpack "
           "+ mirror):\n",
           n, ROUNDS);
    printf("  records: %.3f us/session (%.0f sessions/s)\n", rec_us, 1e6 / rec_us);
    printf("  compact: %.3f us/session (%.0f sessions/s)\n", cmp_us, 1e6 / cmp_us);
    printf("  compact/records time: %.2f\n", cmp_us / rec_us);
    free(d);
    flowctl_free(&fc);
    return 0;
}
