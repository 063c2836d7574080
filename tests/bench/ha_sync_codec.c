/* SPDX-License-Identifier: MIT */
/*
 * ha_sync_codec.c — benchmark (not a test; issue 7): the session-sync wire path alone, over
 * loopback TCP, without the dataplanes. The sender packs SyncSessions of 1000 session records
 * (both tuples, NAT rule ids, interface names: what sync.c sends), seals each (HMAC-SHA256) and
 * writes it; the receiver (a second thread) reassembles the stream (ha_frame_len), checks each
 * frame as controld does (ha_rx_stream: MAC, sequence), unpacks it, maps the interface names,
 * packs the SessionInstall its helper would get (compact records, common/sessrec.h), and
 * answers a sealed SyncAck; the sender keeps at most 64 messages unacknowledged.
 * Baseline in the same run: the same records through pack -> unpack in one thread (no MAC, no
 * socket, no SessionInstall). Prints sessions/s of both and the ratio sync/baseline; the
 * target for sync is >= 200k sessions/s. tests/bench/ha_sync_bench.sh measures the whole path
 * (two nodes' controld and helpers) and the failover gap.
 *
 *   build/moat-bench-ha_sync_codec [SESSIONS]     (default 1000000)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ha/auth.h"
#include "moat.pb-c.h"
#include "sessrec.h"

#define CHUNK 1000
#define WINDOW 64
#define KEY "bench-secret"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t A_CL[4] = {10, 77, 1, 2}, A_SV[4] = {10, 77, 2, 2}, A_FW[4] = {10, 77, 2, 1};

struct batch {
    Moat__SessionRecord rec[CHUNK];
    Moat__FlowKey f[CHUNK], r[CHUNK];
    Moat__SessionDelta d[CHUNK], *dp[CHUNK];
    char *in[CHUNK], *out[CHUNK];
    Moat__SyncSessions ss;
    Moat__Envelope env;
};

static void fill(struct batch *b, uint64_t first, uint64_t seq)
{
    for (unsigned i = 0; i < CHUNK; i++) {
        Moat__SessionRecord *s = &b->rec[i];
        moat__session_record__init(s);
        moat__flow_key__init(&b->f[i]);
        moat__flow_key__init(&b->r[i]);
        uint32_t sp = (uint32_t)(1024 + (first + i) % 60000);
        b->f[i].src.data = A_CL, b->f[i].src.len = 4;
        b->f[i].dst.data = A_SV, b->f[i].dst.len = 4;
        b->f[i].sport = sp, b->f[i].dport = 443, b->f[i].protocol = 6;
        b->r[i].src.data = A_SV, b->r[i].src.len = 4;
        b->r[i].dst.data = A_FW, b->r[i].dst.len = 4;
        b->r[i].sport = 443, b->r[i].dport = sp, b->r[i].protocol = 6;
        s->id = first + i;
        s->forward = &b->f[i];
        s->reverse = &b->r[i];
        s->from_zone = 1, s->to_zone = 2, s->in_ifindex = 2, s->out_ifindex = 3;
        s->policy_id = 1, s->policy_name = "allow-out";
        s->state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
        s->packets_fwd = 10, s->bytes_fwd = 5000, s->packets_rev = 8, s->bytes_rev = 90000;
        s->created_unix_ms = 1700000000000ull + first + i;
        s->last_seen_unix_ms = s->created_unix_ms + 10;
        s->timeout = 1800, s->owner_rg = 1, s->snat_rule_id = 1;
        moat__session_delta__init(&b->d[i]);
        b->d[i].kind = MOAT__DELTA_KIND__DELTA_CREATE;
        b->d[i].session = s;
        b->dp[i] = &b->d[i];
        b->in[i] = "fw0";
        b->out[i] = "fw1";
    }
    moat__sync_sessions__init(&b->ss);
    b->ss.seq = seq;
    b->ss.deltas = b->dp, b->ss.n_deltas = CHUNK;
    b->ss.in_ifnames = b->in, b->ss.n_in_ifnames = CHUNK;
    b->ss.out_ifnames = b->out, b->ss.n_out_ifnames = CHUNK;
    moat__envelope__init(&b->env);
    b->env.msg_case = MOAT__ENVELOPE__MSG_SYNC_SESSIONS;
    b->env.sync_sessions = &b->ss;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

struct rx {
    int fd;
    uint64_t msgs, sessions, named;
};

static const char *const IFNAMES[] = {"ctl0", "fw0", "fw1"};

/* The receiving controld: reassemble, check, unpack, map names, SessionInstall, ack. */
static void *receiver(void *arg)
{
    struct rx *rx = arg;
    size_t cap = 1 << 22, have = 0;
    uint8_t *buf = malloc(cap);
    uint64_t last = 0;
    for (;;) {
        if (have == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = read(rx->fd, buf + have, cap - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        size_t off = 0;
        for (;;) {
            size_t total = 0;
            int rc = ha_frame_len(buf + off, have - off, HA_MAX_PAYLOAD, &total);
            if (rc < 0) {
                fprintf(stderr, "receiver: not a frame\n");
                exit(1);
            }
            if (rc == 0 || have - off < total)
                break;
            struct ha_hdr h;
            Moat__Envelope *env = NULL;
            if (ha_rx_stream(KEY, 1, 1, &last, buf + off, total, &h, &env) != HA_RX_OK ||
                env->msg_case != MOAT__ENVELOPE__MSG_SYNC_SESSIONS) {
                fprintf(stderr, "receiver: a frame failed its checks\n");
                exit(1);
            }
            Moat__SyncSessions *m = env->sync_sessions;
            struct sessrec *recs = malloc(m->n_deltas * sizeof(*recs));
            size_t nrec = 0;
            for (size_t i = 0; i < m->n_deltas; i++) {
                Moat__SessionRecord *r = m->deltas[i]->session;
                uint32_t in = 0, out = 0;
                for (unsigned k = 0; k < 3; k++) {
                    if (i < m->n_in_ifnames && strcmp(m->in_ifnames[i], IFNAMES[k]) == 0)
                        in = k + 1;
                    if (i < m->n_out_ifnames && strcmp(m->out_ifnames[i], IFNAMES[k]) == 0)
                        out = k + 1;
                }
                r->in_ifindex = in, r->out_ifindex = out;
                rx->named += in && out;
                nrec += sessrec_from_record(r, &recs[nrec]);
            }
            Moat__SessionInstall si = MOAT__SESSION_INSTALL__INIT;
            si.request_id = m->seq;
            si.records.data = (uint8_t *)recs, si.records.len = nrec * sizeof(*recs);
            Moat__Envelope ie = MOAT__ENVELOPE__INIT;
            ie.msg_case = MOAT__ENVELOPE__MSG_SESSION_INSTALL, ie.session_install = &si;
            size_t il = moat__envelope__get_packed_size(&ie);
            uint8_t *ib = malloc(il + 4);
            moat__envelope__pack(&ie, ib + 4);
            free(ib);
            free(recs);
            rx->msgs++;
            rx->sessions += m->n_deltas;
            Moat__SyncAck a = MOAT__SYNC_ACK__INIT;
            a.seq = m->seq;
            Moat__Envelope ae = MOAT__ENVELOPE__INIT;
            ae.msg_case = MOAT__ENVELOPE__MSG_SYNC_ACK, ae.sync_ack = &a;
            uint8_t *ab;
            size_t al;
            if (ha_seal(KEY, 1, 1, last + 1, &ae, &ab, &al) < 0 || write_all(rx->fd, ab, al) < 0)
                exit(1);
            free(ab);
            moat__envelope__free_unpacked(env, NULL);
            off += total;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    uint64_t msgs = (total + CHUNK - 1) / CHUNK;
    total = msgs * CHUNK;
    struct batch *b = malloc(sizeof(*b));
    if (!b)
        return 1;

    /* baseline: pack + unpack in one thread */
    double t0 = now_s();
    for (uint64_t m = 0; m < msgs; m++) {
        fill(b, m * CHUNK, m + 1);
        size_t n = moat__envelope__get_packed_size(&b->env);
        uint8_t *p = malloc(n);
        moat__envelope__pack(&b->env, p);
        Moat__Envelope *e = moat__envelope__unpack(NULL, n, p);
        if (!e || e->sync_sessions->n_deltas != CHUNK)
            return 1;
        moat__envelope__free_unpacked(e, NULL);
        free(p);
    }
    double base = (double)total / (now_s() - t0);

    /* sync over loopback TCP */
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
        perror("loopback listener");
        return 1;
    }
    int cs = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(cs, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        return 1;
    }
    struct rx rx = {.fd = accept(ls, NULL, NULL)};
    setsockopt(cs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(rx.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pthread_t th;
    pthread_create(&th, NULL, receiver, &rx);
    uint64_t acked = 0, seq = 1000;
    uint8_t abuf[4096];
    size_t ahave = 0;
    uint64_t last_ack_seq = 0;
    t0 = now_s();
    for (uint64_t m = 0; m < msgs || acked < msgs;) {
        while (m < msgs && m - acked < WINDOW) {
            fill(b, m * CHUNK, m + 1);
            uint8_t *f;
            size_t fl;
            if (ha_seal(KEY, 0, 1, ++seq, &b->env, &f, &fl) < 0 || write_all(cs, f, fl) < 0)
                return 1;
            free(f);
            m++;
        }
        ssize_t n = read(cs, abuf + ahave, sizeof(abuf) - ahave);
        if (n <= 0)
            return 1;
        ahave += (size_t)n;
        size_t off = 0, fl = 0;
        while (ha_frame_len(abuf + off, ahave - off, 1024, &fl) == 1 && ahave - off >= fl) {
            struct ha_hdr h;
            Moat__Envelope *e = NULL;
            if (ha_rx_stream(KEY, 1, 0, &last_ack_seq, abuf + off, fl, &h, &e) != HA_RX_OK)
                return 1;
            acked = e->sync_ack->seq;
            moat__envelope__free_unpacked(e, NULL);
            off += fl;
        }
        memmove(abuf, abuf + off, ahave - off);
        ahave -= off;
    }
    double sync = (double)total / (now_s() - t0);
    shutdown(cs, SHUT_WR);
    pthread_join(th, NULL);
    if (rx.sessions != total || rx.named != total) {
        fprintf(stderr, "receiver got %llu sessions (%llu named) of %llu\n",
                (unsigned long long)rx.sessions, (unsigned long long)rx.named,
                (unsigned long long)total);
        return 1;
    }
    printf("%llu sessions in messages of %d, window %d, loopback TCP\n", (unsigned long long)total,
           CHUNK, WINDOW);
    printf("baseline (pack + unpack, one thread):            %10.0f sessions/s\n", base);
    printf("sync (seal, TCP, check, unpack, install, ack):   %10.0f sessions/s\n", sync);
    printf("sync / baseline: %.2f; sync / target 200k: %.2f\n", sync / base, sync / 200000.0);
    close(cs);
    close(rx.fd);
    close(ls);
    free(b);
    return 0;
}
