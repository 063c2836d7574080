/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frame.c — libFuzzer harness for the framed protobuf link (common/frame.c: the reader
 * of the helper socket and the moatctl socket) and for what each side does with a decoded
 * envelope that needs no root.
 *
 * Input: byte 0 picks the reader's size cap (64 B, 4 KiB, the operator cap, the default);
 * byte 1 seeds how the stream is cut into reads; the rest is the byte stream.
 *
 * Checked, besides what ASan/UBSan catch:
 *  - cutting the stream into reads of any sizes (1 byte .. all) gives the same envelopes and
 *    the same final result (more bytes needed, or the same error) as one read of everything;
 *  - every envelope decoded (without unknown fields, see pbmsg.h) packs back into a
 *    frame that decodes to the same packed bytes;
 *  - a Snapshot goes through the helper's apply path: settings, ports, tables (policies, NAT),
 *    and, when it carries sessions, the re-seeding into two workers' session tables (the
 *    table size clamped to 256 sessions: controld validates max-sessions, and the harness
 *    must not spend its time allocating), whose CREATE deltas come back as a
 *    SessionDeltaBatch that must encode and decode; a NeighborUpdate is applied to the
 *    current tables; SessionClear and PolicyCountersRequest go through flowctl as the
 *    helper's control thread runs them;
 *  - a SessionDeltaBatch (helper -> controld) goes into controld's session mirror, which is
 *    then rendered as `show security flow session` (text and JSON) and its summary; the
 *    mirror never holds more than its maximum.
 * The HA heartbeat and session-sync decoders have their own harness: fuzz_ha.c.
 * MOAT_FUZZ_TRACE=1 says what each snapshot came to.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowctl.h"
#include "frame.h"
#include "log.h"
#include "mirror.h"
#include "pbmsg.h"
#include "snapshot.h"
#include "strbuf.h"
#include "worker.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_frame: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_ENVS 64
#define SESSION_CAP 256

/* ---- the helper's control thread: dp, two workers with a bound socket, flowctl ---- */

static struct dp dp;
static struct moat_dp_stats stats;
static struct flowctl fc;
static struct dp_worker workers[2];
static struct dp_sock socks[2];
static uint64_t clock_ms = 1000000;

static int check_sent(void *arg, const Moat__Envelope *env)
{
    (void)arg;
    uint8_t *buf;
    size_t len;
    FUZZ_CHECK(frame_encode(env, &buf, &len) == 0);
    Moat__Envelope *back = moat__envelope__unpack(NULL, len - FRAME_HDR_LEN, buf + FRAME_HDR_LEN);
    FUZZ_CHECK(back != NULL && back->msg_case == env->msg_case);
    moat__envelope__free_unpacked(back, NULL);
    free(buf);
    return 0;
}

static void setup(void)
{
    log_init("fuzz_frame", LOG_LVL_ERR);
    dp.stats = &stats;
    dp.flow_seed = 77;
    dp.xskmap_fd = -1;
    dp.ctl_evfd = -1;
    if (flowctl_init(&fc, &dp, check_sent, NULL))
        abort();
}

/* Workers whose sockets sit on the first two ports of the snapshot (layout: 2 tables). */
static void bind_workers(const struct dp_port *ports, uint32_t nports)
{
    for (uint32_t w = 0; w < 2; w++) {
        workers[w].id = w;
        workers[w].dp = &dp;
        workers[w].evfd = -1;
        workers[w].socks = &socks[w];
        workers[w].nsocks = 1;
        workers[w].nbound = 1;
        socks[w].ifindex = nports ? ports[w % nports].ifindex : 1;
        socks[w].queue = 0;
        socks[w].bound = true;
        dp.workers[w] = &workers[w];
    }
    dp.nworkers = 2;
}

static void collect_id(void *arg, const struct dp_delta *rec)
{
    struct dp_flow *f = arg;
    struct dp_cmd c = {DP_CMD_CLEAR, 0, 1, rec->id};
    FUZZ_CHECK(spsc_ring_push(&f->cmds, &c));
}

/* The workers' passes: commands, aging, the deltas they leave for flowctl. */
static void run_workers(const struct dp_tables *t)
{
    clock_ms += 100;
    for (uint32_t w = 0; w < dp.nflows; w++)
        if (dp.flows[w])
            dp_flow_tick(dp.flows[w], t, clock_ms);
    flowctl_poll(&fc, (int64_t)clock_ms, true);
}

/* Empty session tables again (as a clear of everything would leave them). */
static void empty_tables(const struct dp_tables *t)
{
    for (uint32_t w = 0; w < dp.nflows; w++) {
        struct dp_flow *f = dp.flows[w];
        if (!f)
            continue;
        dp_flow_export(f, t, collect_id, f);
    }
    run_workers(t);
    for (uint32_t w = 0; w < dp.nflows; w++)
        if (dp.flows[w]) {
            FUZZ_CHECK(dp.flows[w]->t.active == 0);
            FUZZ_CHECK(dp.flows[w]->np.active == 0);
        }
}

static void apply_snapshot(Moat__Snapshot *s)
{
    char err[512] = "";
    struct dp_settings set;
    struct dp_port ports[MOAT_MAX_IFACES];
    uint32_t nports = 0;
    struct dp_tables *t = NULL;
    static Moat__FlowSettings small = MOAT__FLOW_SETTINGS__INIT;
    const bool own_flow = s->flow == NULL;
    if (own_flow) {
        small.max_sessions = SESSION_CAP;
        s->flow = &small;
    } else if (s->flow->max_sessions == 0 || s->flow->max_sessions > SESSION_CAP) {
        s->flow->max_sessions = SESSION_CAP;
    }
    int rc = dp_settings_from_proto(s->settings, 2, &set, err, sizeof(err));
    if (!rc)
        rc = dp_ports_from_snapshot(s, &set, ports, &nports, err, sizeof(err));
    if (!rc)
        rc = dp_tables_from_snapshot_names(s, ports, nports, &fc.pnames, &fc.anames, &t, err,
                                           sizeof(err));
    if (own_flow)
        s->flow = NULL; /* not the envelope's to free */
    if (rc && getenv("MOAT_FUZZ_TRACE"))
        fprintf(stderr, "snapshot %llu refused: %s\n", (unsigned long long)s->generation, err);
    if (rc) {
        FUZZ_CHECK(err[0] != '\0'); /* a refusal says why, for SnapshotApplied.error */
        FUZZ_CHECK(t == NULL);
        return;
    }
    flowctl_tables_built(&fc, t);
    bind_workers(ports, nports);
    rc = flowctl_layout(&fc, t, err, sizeof(err));
    FUZZ_CHECK(rc == 0);
    uint64_t installed = 0;
    if (s->n_sessions)
        installed = flowctl_install_snapshot(&fc, s, t);
    if (getenv("MOAT_FUZZ_TRACE"))
        fprintf(stderr, "snapshot %llu applied: %u ports, %llu of %zu sessions installed\n",
                (unsigned long long)s->generation, nports, (unsigned long long)installed,
                s->n_sessions);
    /* Swap them in as the running tables (no worker runs: the old ones go at once). */
    dp_publish_tables(&dp, t, false, false);
    run_workers(t);
    empty_tables(t);
}

static void apply_neighbors(const Moat__NeighborUpdate *u)
{
    struct dp_tables *cur = atomic_load(&dp.tables);
    if (!cur)
        return;
    struct dp_tables *t = NULL;
    unsigned skipped = 0;
    if (dp_tables_with_neighbors(cur, u, &t, &skipped) == 0) {
        FUZZ_CHECK(skipped <= u->n_neighbors);
        dp_publish_tables(&dp, t, true, false);
    }
}

/* ---- controld: the session mirror ---- */

static void on_event(void *arg, enum mirror_event ev, const struct mirror *m,
                     const struct mirror_session *s)
{
    (void)arg;
    char line[1024];
    mirror_format_log(m, ev, s, NULL, line, sizeof(line));
    FUZZ_CHECK(strlen(line) < sizeof(line));
}

static void mirror_batch(const Moat__SessionDeltaBatch *b)
{
    struct mirror m;
    if (mirror_init(&m, 128))
        abort();
    mirror_apply_batch(&m, b, on_event, NULL);
    FUZZ_CHECK(m.count <= m.max);
    struct mirror_filter f;
    memset(&f, 0, sizeof(f));
    f.sport = f.dport = f.proto = -1;
    struct strbuf o;
    strbuf_init(&o);
    mirror_render_sessions(&m, &f, NULL, 1700000000000ull, false, &o);
    mirror_render_sessions(&m, &f, NULL, 1700000000000ull, true, &o);
    mirror_render_summary(&m, &f, true, &o);
    mirror_render_summary(&m, &f, false, &o);
    strbuf_free(&o);
    mirror_expire(&m, 1700000000000ull);
    mirror_free(&m);
}

static void dispatch(Moat__Envelope *env)
{
    switch (env->msg_case) {
    case MOAT__ENVELOPE__MSG_SNAPSHOT:
        apply_snapshot(env->snapshot);
        break;
    case MOAT__ENVELOPE__MSG_NEIGHBOR_UPDATE:
        apply_neighbors(env->neighbor_update);
        break;
    case MOAT__ENVELOPE__MSG_SESSION_CLEAR:
        if (dp.nflows) {
            flowctl_clear(&fc, env->session_clear);
            run_workers(atomic_load(&dp.tables));
            run_workers(atomic_load(&dp.tables));
        }
        break;
    case MOAT__ENVELOPE__MSG_POLICY_COUNTERS_REQUEST:
        if (dp.nflows)
            flowctl_policy_counters(&fc, env->policy_counters_request);
        break;
    case MOAT__ENVELOPE__MSG_SESSION_DELTAS:
        mirror_batch(env->session_deltas);
        break;
    default:
        break;
    }
}

/* ---- the reader ---- */

struct result {
    int n;
    uint8_t *packed[MAX_ENVS];
    size_t len[MAX_ENVS];
    int last; /* 0: more bytes needed, else the error */
};

static void results_free(struct result *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->packed[i]);
}

/* Takes every envelope out of r (after a feed); false once the reader failed or is full. */
static bool drain(struct frame_reader *rd, struct result *res, Moat__Envelope **keep)
{
    for (;;) {
        Moat__Envelope *env = NULL;
        int rc = frame_reader_next(rd, &env);
        if (rc <= 0) {
            FUZZ_CHECK(env == NULL);
            res->last = rc;
            if (rc < 0)
                FUZZ_CHECK(rc == -EMSGSIZE || rc == -EBADMSG);
            return rc == 0;
        }
        FUZZ_CHECK(env != NULL && env->msg_case != MOAT__ENVELOPE__MSG__NOT_SET);
        if (res->n == MAX_ENVS) {
            moat__envelope__free_unpacked(env, NULL);
            res->last = 1;
            return false;
        }
        size_t n = moat__envelope__get_packed_size(env);
        res->packed[res->n] = malloc(n ? n : 1);
        moat__envelope__pack(env, res->packed[res->n]);
        res->len[res->n] = n;
        if (keep)
            keep[res->n] = env;
        else
            moat__envelope__free_unpacked(env, NULL);
        res->n++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    static const size_t caps[4] = {64, 4096, FRAME_MAX_OPERATOR, FRAME_MAX_DEFAULT};
    const size_t cap = caps[data[0] & 3];
    uint32_t seed = data[1] * 2654435761u + 1;
    const uint8_t *stream = data + 2;
    const size_t n = size - 2;

    /* One read of everything. */
    struct frame_reader rd;
    frame_reader_init(&rd, cap);
    struct result whole = {0};
    Moat__Envelope *envs[MAX_ENVS];
    FUZZ_CHECK(frame_reader_feed(&rd, stream, n) == 0);
    drain(&rd, &whole, envs);
    frame_reader_free(&rd);

    /* Reads of the sizes the seed says. */
    frame_reader_init(&rd, cap);
    struct result cut = {0};
    size_t off = 0;
    bool going = true;
    if (n == 0)
        going = drain(&rd, &cut, NULL);
    while (going && off < n) {
        seed = seed * 1103515245u + 12345u;
        size_t k = (seed >> 16) % 4 == 0 ? 1 : (seed >> 8) % 64 + 1;
        if ((seed >> 20) % 8 == 0)
            k = n - off;
        if (k > n - off)
            k = n - off;
        FUZZ_CHECK(frame_reader_feed(&rd, stream + off, k) == 0);
        off += k;
        going = drain(&rd, &cut, NULL);
    }
    frame_reader_free(&rd);

    FUZZ_CHECK(whole.n == cut.n && whole.last == cut.last);
    for (int i = 0; i < whole.n; i++) {
        FUZZ_CHECK(whole.len[i] == cut.len[i] &&
                   memcmp(whole.packed[i], cut.packed[i], whole.len[i]) == 0);
        /* Packed again and read again: the same bytes. */
        if (pb_has_unknown(&envs[i]->base))
            continue;
        uint8_t *buf;
        size_t blen;
        FUZZ_CHECK(frame_encode(envs[i], &buf, &blen) == 0);
        struct frame_reader again;
        frame_reader_init(&again, 0);
        FUZZ_CHECK(frame_reader_feed(&again, buf, blen) == 0);
        Moat__Envelope *e2 = NULL;
        FUZZ_CHECK(frame_reader_next(&again, &e2) == 1);
        const size_t l2 = moat__envelope__get_packed_size(e2);
        uint8_t *p2 = malloc(l2 ? l2 : 1);
        moat__envelope__pack(e2, p2);
        FUZZ_CHECK(l2 == whole.len[i] && memcmp(p2, whole.packed[i], l2) == 0);
        free(p2);
        moat__envelope__free_unpacked(e2, NULL);
        frame_reader_free(&again);
        free(buf);
    }
    for (int i = 0; i < whole.n; i++) {
        dispatch(envs[i]);
        moat__envelope__free_unpacked(envs[i], NULL);
    }
    results_free(&whole);
    results_free(&cut);
    return 0;
}
