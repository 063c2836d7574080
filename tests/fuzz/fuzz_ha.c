/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ha.c — libFuzzer harness for the HA cluster's decoders (controld/ha/auth.c): the
 * heartbeat datagram checks (ha_rx_heartbeat: MAC, format, replay window, sender) and the
 * session-sync stream (ha_frame_len reassembly as sync.c's reader does it, then ha_rx_stream),
 * and what the daemon reads from a message that passed them (heartbeat groups into the
 * election, SyncSessions' per-delta interface names and the compact records for the helper).
 *
 * Input: byte 0 = flags (bit 0: the rest is a raw byte stream / datagram as received; else
 * payloads sealed here with the cluster key, so the decoders behind the MAC are reached),
 * byte 1 seeds how the stream is cut into reads, byte 2 = the sender's node id and a sequence
 * number step; then records [u8 length][payload] (sealed mode) or the raw bytes.
 *
 * Checked, besides what ASan/UBSan catch:
 *  - a frame sealed with the key never fails its MAC; one flipped bit anywhere makes it
 *    unusable (never HA_RX_OK);
 *  - the stream cut into reads of any sizes yields the same frames and verdicts as one read;
 *  - a datagram accepted once is refused the second time (replay window); a stream frame
 *    never goes backwards;
 *  - an accepted message (heartbeat or sync frame) re-sealed and opened again packs to the same
 *    bytes: fields unknown to this build (a newer peer's) never survive ha_open;
 *  - the election on a heartbeat's groups names node 0 or 1, takes every group when the peer
 *    is lost, and never makes this node primary while the peer says it is primary.
 */
#include <errno.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha/auth.h"
#include "ha/election.h"
#include "log.h"
#include "sessrec.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_ha: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,        \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define KEY "lab-secret-change-me"
#define CLUSTER 1
#define ME 1 /* this node; the peer is node 0 */
#define MAX_FRAMES 12

/* A frame around payload p with the key's MAC (what ha_seal does for a packed Envelope). */
static size_t seal_raw(uint8_t node, uint8_t cluster, uint64_t seq, const uint8_t *p, size_t n,
                       uint8_t *out)
{
    memcpy(out, "MOHA", 4);
    out[4] = HA_VERSION, out[5] = node, out[6] = cluster, out[7] = 0;
    for (int i = 0; i < 8; i++)
        out[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        out[16 + i] = (uint8_t)(n >> (24 - 8 * i));
    memcpy(out + HA_HDR_LEN, p, n);
    unsigned ml = 0;
    FUZZ_CHECK(
        HMAC(EVP_sha256(), KEY, (int)strlen(KEY), out, HA_HDR_LEN + n, out + HA_HDR_LEN + n, &ml));
    FUZZ_CHECK(ml == HA_MAC_LEN);
    return HA_HDR_LEN + n + HA_MAC_LEN;
}

static void check_resealed(const struct ha_hdr *h, const Moat__Envelope *env)
{
    uint8_t *b = NULL;
    size_t len = 0;
    FUZZ_CHECK(ha_seal(KEY, h->node, h->cluster, h->seq, env, &b, &len) == 0);
    struct ha_hdr h2;
    Moat__Envelope *e2 = NULL;
    /* ha_open drops unknown fields: protobuf-c keeps a field number 0 written as a two-byte tag
     * (80 00) as one, re-packs it as the one-byte tag 0 and refuses that (a group state and a
     * synced SessionRecord in tests/fuzz/regressions/ha/). */
    FUZZ_CHECK(ha_open(KEY, b, len, &h2, &e2) == 0);
    size_t n1 = moat__envelope__get_packed_size(env), n2 = moat__envelope__get_packed_size(e2);
    FUZZ_CHECK(n1 == n2);
    uint8_t *p1 = malloc(n1 + 1), *p2 = malloc(n2 + 1);
    FUZZ_CHECK(p1 && p2);
    moat__envelope__pack(env, p1);
    moat__envelope__pack(e2, p2);
    FUZZ_CHECK(memcmp(p1, p2, n1) == 0);
    free(p1);
    free(p2);
    moat__envelope__free_unpacked(e2, NULL);
    free(b);
}

/* What heartbeat.c reads from an accepted heartbeat: per group, the election. */
static void use_heartbeat(const Moat__ClusterHeartbeat *hb, uint8_t salt)
{
    for (size_t i = 0; i < hb->n_groups; i++) {
        const Moat__ClusterGroupState *g = hb->groups[i];
        FUZZ_CHECK(g);
        struct el_input in = {.me = ME,
                              .peer_alive = !(salt & 1),
                              .preempt = salt & 2,
                              .manual_node = g->manual_node};
        in.prio[ME] = el_effective_priority(200, salt);
        in.prio[1 - ME] = in.peer_alive ? g->priority : 0;
        in.primary[ME] = salt & 4;
        in.primary[1 - ME] = in.peer_alive && g->primary;
        in.ready[ME] = salt & 8;
        in.ready[1 - ME] = hb->sync_ready;
        unsigned d = el_desired(&in);
        bool next = el_step(&in);
        FUZZ_CHECK(d == 0 || d == 1);
        if (!in.peer_alive)
            FUZZ_CHECK(next);
        if (next && !in.primary[ME])
            FUZZ_CHECK(!in.peer_alive || !in.primary[1 - ME]);
    }
}

/* What sync.c reads from SyncSessions: per delta, its session and the names at the same index. */
static size_t use_sync(const Moat__SyncSessions *m)
{
    size_t named = 0;
    for (size_t i = 0; i < m->n_deltas; i++) {
        const Moat__SessionDelta *d = m->deltas[i];
        if (!d->session)
            continue;
        if (i < m->n_in_ifnames)
            named += strlen(m->in_ifnames[i]) > 0;
        if (i < m->n_out_ifnames)
            named += strlen(m->out_ifnames[i]) > 0;
        /* Its compact form for the helper: addresses of one family, ports in range. */
        struct sessrec s;
        if (sessrec_from_record(d->session, &s)) {
            FUZZ_CHECK(s.family == 4 || s.family == 6);
            FUZZ_CHECK(s.proto == d->session->forward->protocol);
        }
    }
    return named;
}

struct verdicts {
    enum ha_rx v[MAX_FRAMES];
    uint64_t seq[MAX_FRAMES];
    unsigned n;
    bool stream_error;
};

/* sync.c's reader: append each read, take every whole frame, keep the rest. */
static void read_stream(const uint8_t *s, size_t n, uint8_t cut_seed, struct verdicts *out)
{
    uint8_t *buf = malloc(n + 1);
    FUZZ_CHECK(buf);
    size_t have = 0, pos = 0;
    uint64_t last = 0;
    unsigned r = cut_seed | 1;
    memset(out, 0, sizeof(*out));
    while (pos < n && !out->stream_error) {
        size_t chunk = cut_seed == 0 ? n - pos : 1 + (r % 97);
        r = r * 1103515245u + 12345u;
        if (chunk > n - pos)
            chunk = n - pos;
        memcpy(buf + have, s + pos, chunk);
        have += chunk;
        pos += chunk;
        size_t off = 0;
        for (;;) {
            size_t total = 0;
            int rc = ha_frame_len(buf + off, have - off, 1u << 20, &total);
            if (rc < 0) {
                out->stream_error = true;
                break;
            }
            if (rc == 0 || have - off < total)
                break;
            struct ha_hdr h;
            Moat__Envelope *env = NULL;
            enum ha_rx v = ha_rx_stream(KEY, CLUSTER, ME, &last, buf + off, total, &h, &env);
            if (out->n < MAX_FRAMES) {
                out->v[out->n] = v;
                out->seq[out->n] = last;
            }
            out->n++;
            if (v == HA_RX_OK) {
                FUZZ_CHECK(env && h.seq == last && h.node == 1 - ME);
                if (env->msg_case == MOAT__ENVELOPE__MSG_SYNC_SESSIONS)
                    use_sync(env->sync_sessions);
                check_resealed(&h, env);
                moat__envelope__free_unpacked(env, NULL);
            } else {
                FUZZ_CHECK(!env);
            }
            off += total;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        log_init("fuzz_ha", LOG_LVL_ERR);
        init = true;
    }
    if (size < 3)
        return 0;
    const uint8_t flags = data[0], cut = data[1], who = data[2];
    data += 3;
    size -= 3;

    /* Build the byte stream: raw as given, or each record sealed with the key. */
    uint8_t *stream = malloc(size + (size + 1) * (HA_HDR_LEN + HA_MAC_LEN) + 1);
    FUZZ_CHECK(stream);
    size_t slen = 0;
    size_t starts[MAX_FRAMES], lens[MAX_FRAMES];
    unsigned nframes = 0;
    if (flags & 1) {
        memcpy(stream, data, size);
        slen = size;
    } else {
        uint64_t seq = 1000;
        size_t i = 0;
        while (i < size && nframes < MAX_FRAMES) {
            size_t n = data[i++];
            if (n > size - i)
                n = size - i;
            seq += 1 + (who >> 4);
            uint8_t node = (who & 3) == 3 ? ME : 1 - ME; /* sometimes this node's own id */
            starts[nframes] = slen;
            lens[nframes] = seal_raw(node, CLUSTER, seq, data + i, n, stream + slen);
            slen += lens[nframes++];
            i += n;
        }
    }

    /* 1. Each piece as a heartbeat datagram, twice (the second is a replay). */
    struct ha_replay rp = {0};
    for (unsigned f = 0; f < (flags & 1 ? 1u : nframes); f++) {
        const uint8_t *d = flags & 1 ? stream : stream + starts[f];
        size_t dl = flags & 1 ? slen : lens[f];
        for (int pass = 0; pass < 2; pass++) {
            struct ha_hdr h;
            Moat__Envelope *env = NULL;
            enum ha_rx v = ha_rx_heartbeat(KEY, CLUSTER, ME, &rp, d, dl, &h, &env);
            if (!(flags & 1))
                FUZZ_CHECK(v != HA_RX_BAD_MAC);
            if (v != HA_RX_OK) {
                FUZZ_CHECK(!env);
                continue;
            }
            FUZZ_CHECK(pass == 0); /* a datagram accepted once is a replay after */
            FUZZ_CHECK(env->msg_case == MOAT__ENVELOPE__MSG_CLUSTER_HEARTBEAT);
            FUZZ_CHECK(env->cluster_heartbeat->node_id == 1 - ME && h.node == 1 - ME);
            use_heartbeat(env->cluster_heartbeat, who);
            check_resealed(&h, env);
            moat__envelope__free_unpacked(env, NULL);
        }
        /* one flipped bit: never usable */
        if (!(flags & 1) && dl) {
            uint8_t *t = malloc(dl);
            FUZZ_CHECK(t);
            memcpy(t, d, dl);
            size_t bit = ((size_t)cut * 7919u + f * 104729u) % (dl * 8);
            t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            struct ha_replay fresh = {0};
            struct ha_hdr h;
            Moat__Envelope *env = NULL;
            FUZZ_CHECK(ha_rx_heartbeat(KEY, CLUSTER, ME, &fresh, t, dl, &h, &env) != HA_RX_OK);
            FUZZ_CHECK(!env);
            free(t);
        }
    }

    /* 2. The whole as the sync stream: one read, then cut as the seed says; same result. */
    struct verdicts one, cutv;
    read_stream(stream, slen, 0, &one);
    read_stream(stream, slen, cut | 1, &cutv);
    FUZZ_CHECK(one.n == cutv.n && one.stream_error == cutv.stream_error);
    for (unsigned i = 0; i < one.n && i < MAX_FRAMES; i++) {
        FUZZ_CHECK(one.v[i] == cutv.v[i] && one.seq[i] == cutv.seq[i]);
        if (i)
            FUZZ_CHECK(one.seq[i] >= one.seq[i - 1]);
        if (!(flags & 1))
            FUZZ_CHECK(one.v[i] != HA_RX_BAD_MAC);
    }
    if (!(flags & 1))
        FUZZ_CHECK(one.n == nframes && !one.stream_error);
    free(stream);
    return 0;
}
