/* SPDX-License-Identifier: MIT */
#include "helper.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commit.h"
#include "helper_requests.h"
#include "log.h"
#include "netlink.h"
#include "operator.h"
#include "show.h"
#include "trace_flow.h"
#include "ha/ha.h"

#define SPAWN_BACKOFF_MIN_MS 200
#define SPAWN_BACKOFF_MAX_MS 10000
#define SPAWN_STABLE_MS 30000 /* a helper that ran this long resets the back-off */

struct helper_link {
    struct controld *c;
    char sock_path[512];
    uv_pipe_t server;
    bool server_open;

    /* The one active connection. */
    uv_pipe_t *conn;
    struct frame_reader rd;
    enum helper_state state;
    uint32_t pid;
    uint64_t connected_at_ms;
    uint64_t last_rx_ms;
    uint64_t hb_seq;
    uv_timer_t hb_timer;
    struct helper_requests installs; /* SessionInstalls in flight, with their owners */

    /* Supervision of a spawned helper (--spawn-dataplane). */
    uv_process_t proc;
    bool proc_running;
    uint64_t proc_started_ms;
    unsigned backoff_ms;
    uv_timer_t respawn_timer;
    bool closing;
};

const char *helper_state_name(enum helper_state s)
{
    switch (s) {
    case HELPER_DOWN:
        return "down";
    case HELPER_CONNECTED:
        return "connected";
    case HELPER_APPLIED:
        return "running";
    }
    return "?";
}

enum helper_state helper_get_state(const struct helper_link *h)
{
    return h ? h->state : HELPER_DOWN;
}

uint32_t helper_pid(const struct helper_link *h)
{
    return h && h->conn ? h->pid : 0;
}

uint64_t helper_connected_ms(const struct helper_link *h)
{
    return h && h->conn ? ctl_now_ms() - h->connected_at_ms : 0;
}

uint64_t helper_last_heartbeat_age_ms(const struct helper_link *h)
{
    return h && h->conn ? ctl_now_ms() - h->last_rx_ms : 0;
}

/* ---- writing ---- */

struct write_req {
    uv_write_t req;
    uint8_t *buf;
};

static void write_done(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    if (status < 0 && status != UV_ECANCELED)
        log_warn("helper link: write failed: %s", uv_strerror(status));
    free(w->buf);
    free(w);
}

/* ---- connection lifecycle ---- */

static void conn_closed(uv_handle_t *handle)
{
    free(handle);
}

static void drop_connection(struct helper_link *h, const char *why)
{
    if (!h->conn)
        return;
    log_warn("helper link: helper pid %u disconnected: %s", h->pid, why);
    uv_read_stop((uv_stream_t *)h->conn);
    uv_close((uv_handle_t *)h->conn, conn_closed);
    h->conn = NULL;
    frame_reader_free(&h->rd);
    h->state = HELPER_DOWN;
    helper_requests_clear(&h->installs); /* the next helper answers none of them */
    h->c->helper_disconnects++;
    lifecycle_disarm(h->c, why);
    h->pid = 0;
    /* The mirror keeps its sessions: they re-seed the next helper. */
    commit_helper_lost(h->c, why);
    trace_helper_lost(h->c);
}

/* Queues an already encoded frame (buf is freed once written). */
static int send_frame(struct helper_link *h, uint8_t *buf, size_t len)
{
    if (!h->conn) {
        free(buf);
        return -ENOTCONN;
    }
    struct write_req *w = calloc(1, sizeof(*w));
    if (!w) {
        free(buf);
        return -ENOMEM;
    }
    w->buf = buf;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)h->conn, &b, 1, write_done) < 0) {
        free(buf);
        free(w);
        return -EIO;
    }
    return 0;
}

/* Queues one whole frame; libuv writes it completely or fails the connection. */
static int send_envelope(struct helper_link *h, const Moat__Envelope *env)
{
    if (!h->conn)
        return -ENOTCONN;
    uint8_t *buf;
    size_t len;
    int err = frame_encode(env, &buf, &len);
    if (err)
        return err;
    return send_frame(h, buf, len);
}

/* An envelope around one message: ENVELOPE(TRACE_STOP, trace_stop, &m). */
#define ENVELOPE(CASE, field, msg)                                                                 \
    (&(Moat__Envelope){.base = PROTOBUF_C_MESSAGE_INIT(&moat__envelope__descriptor),               \
                       .msg_case = MOAT__ENVELOPE__MSG_##CASE,                                     \
                       .field = (msg)})

/* Sends env if a helper is connected and has come at least as far as least
 * (HELPER_CONNECTED: its Hello accepted; HELPER_APPLIED: its snapshot applied). */
static int send_if_up(struct helper_link *h, enum helper_state least, const Moat__Envelope *env)
{
    if (!h || !h->conn || h->state < least)
        return -ENOTCONN;
    return send_envelope(h, env);
}

/* with_sessions: the first snapshot after Hello carries the mirror, to re-seed the helper. */
static int push_snapshot(struct helper_link *h, bool with_sessions)
{
    if (!h || !h->conn)
        return -ENOTCONN;
    struct controld *c = h->c;
    Moat__Snapshot *s = snapshot_build(c);
    if (!s)
        return -ENOMEM;
    uint8_t *buf;
    size_t len, sent = 0, left = 0;
    int err = snapshot_encode_frame(s, with_sessions ? &c->mirror : NULL, FRAME_MAX_DEFAULT, &buf,
                                    &len, &sent, &left);
    if (!err)
        err = send_frame(h, buf, len);
    if (!err) {
        c->snapshots_pushed++;
        log_info("helper link: pushed snapshot generation %llu (%zu interfaces, %zu routes, "
                 "%zu neighbours, %zu zones, %zu policies, %zu sessions%s)",
                 (unsigned long long)s->generation, s->n_interfaces, s->n_routes, s->n_neighbors,
                 s->n_zones, s->n_policies, sent, with_sessions ? " from the mirror" : "");
        if (left)
            log_warn("helper link: %zu mirrored sessions did not fit in the snapshot "
                     "frame (%u MiB) and were not re-seeded",
                     left, FRAME_MAX_DEFAULT >> 20);
    } else {
        log_err("helper link: cannot send snapshot generation %llu: %s",
                (unsigned long long)s->generation, strerror(-err));
    }
    snapshot_free(s);
    return err;
}

int helper_push_snapshot(struct helper_link *h)
{
    return push_snapshot(h, false);
}

int helper_send_session_clear(struct helper_link *h, uint64_t request_id, const uint64_t *ids,
                              size_t n)
{
    Moat__SessionClear m = MOAT__SESSION_CLEAR__INIT;
    m.request_id = request_id;
    m.ids = (uint64_t *)ids;
    m.n_ids = n;
    return send_if_up(h, HELPER_CONNECTED, ENVELOPE(SESSION_CLEAR, session_clear, &m));
}

int helper_send_policy_counters_request(struct helper_link *h, uint64_t request_id)
{
    Moat__PolicyCountersRequest m = MOAT__POLICY_COUNTERS_REQUEST__INIT;
    m.request_id = request_id;
    return send_if_up(h, HELPER_CONNECTED,
                      ENVELOPE(POLICY_COUNTERS_REQUEST, policy_counters_request, &m));
}

int helper_send_trace_start(struct helper_link *h, uint64_t id, const Moat__TraceFilter *f,
                            uint32_t max_packets)
{
    Moat__TraceStart m = MOAT__TRACE_START__INIT;
    m.id = id;
    m.filter = (Moat__TraceFilter *)f;
    m.max_packets = max_packets;
    return send_if_up(h, HELPER_CONNECTED, ENVELOPE(TRACE_START, trace_start, &m));
}

int helper_send_trace_stop(struct helper_link *h, uint64_t id)
{
    Moat__TraceStop m = MOAT__TRACE_STOP__INIT;
    m.id = id;
    return send_if_up(h, HELPER_CONNECTED, ENVELOPE(TRACE_STOP, trace_stop, &m));
}

static void fill_neighbor(Moat__Neighbor *m, const struct ctl_neigh *n, bool removed)
{
    m->addr.data = (uint8_t *)n->addr;
    m->addr.len = n->family == 6 ? 16 : 4;
    m->ifindex = n->ifindex;
    if (!removed) {
        m->mac.data = (uint8_t *)n->mac;
        m->mac.len = 6;
    }
    m->state = n->state;
}

int helper_send_session_install(struct helper_link *h, const struct sessrec *recs, size_t n,
                                helper_request_cb cb, void *owner, uint64_t *request_id)
{
    if (!h || !h->conn || h->state < HELPER_APPLIED)
        return -ENOTCONN;
    uint64_t id;
    int err = helper_requests_add(&h->installs, cb, owner, &id);
    if (err)
        return err;
    Moat__SessionInstall m = MOAT__SESSION_INSTALL__INIT;
    m.request_id = id;
    m.records.data = (uint8_t *)recs;
    m.records.len = n * sizeof(*recs);
    err = send_if_up(h, HELPER_APPLIED, ENVELOPE(SESSION_INSTALL, session_install, &m));
    if (err) {
        helper_requests_drop(&h->installs, id);
        return err;
    }
    *request_id = id;
    return 0;
}

void helper_send_neighbor(struct helper_link *h, const struct ctl_neigh *n, bool removed)
{
    Moat__Neighbor m = MOAT__NEIGHBOR__INIT;
    fill_neighbor(&m, n, removed);
    Moat__Neighbor *list[1] = {&m};
    Moat__NeighborUpdate up = MOAT__NEIGHBOR_UPDATE__INIT;
    up.n_neighbors = 1;
    up.neighbors = list;
    if (send_if_up(h, HELPER_CONNECTED, ENVELOPE(NEIGHBOR_UPDATE, neighbor_update, &up)) == 0)
        h->c->neigh_updates_sent++;
}

static void handle_hello(struct helper_link *h, const Moat__Hello *hello)
{
    Moat__HelloAck ack = MOAT__HELLO_ACK__INIT;
    ack.version = MOAT_PROTO_VERSION;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_HELLO_ACK;
    env.hello_ack = &ack;
    if (hello->version != MOAT_PROTO_VERSION) {
        char reason[160];
        snprintf(reason, sizeof(reason),
                 "protocol version %u refused: this controld speaks version %u (install "
                 "matching moat-controld and moat-dataplane)",
                 hello->version, MOAT_PROTO_VERSION);
        ack.accepted = false;
        ack.reason = reason;
        send_envelope(h, &env);
        drop_connection(h, reason);
        return;
    }
    h->pid = hello->pid;
    ack.accepted = true;
    ack.reason = "";
    send_envelope(h, &env);
    h->state = HELPER_CONNECTED;
    h->c->helper_connects++;
    log_info("helper link: helper pid %u connected (%u workers)", hello->pid, hello->workers);
    mirror_reset_seq(&h->c->mirror);
    h->c->generation++;
    push_snapshot(h, true);
    /* The sessions the helper now has; the kernel path's later ones are handed over before
     * arming (lifecycle.c). */
    lifecycle_handover_cut(h->c);
}

static void handle_applied(struct helper_link *h, const Moat__SnapshotApplied *a)
{
    struct controld *c = h->c;
    for (size_t i = 0; i < a->n_bindings; i++) {
        const Moat__XskBinding *b = a->bindings[i];
        struct ctl_iface *ifc = ctl_iface_by_ifindex(c, b->ifindex);
        if (!ifc)
            continue;
        if (b->queue == 0) {
            ifc->xsk_bound = 0;
            ifc->xsk_mode[0] = 0;
            memset(ifc->q_xsk, 0, sizeof(ifc->q_xsk));
            memset(ifc->q_bind_gen, 0, sizeof(ifc->q_bind_gen));
        }
        ifc->rebinds = b->rebinds;
        if (b->queue < MOAT_MAX_QUEUES) {
            snprintf(ifc->q_xsk[b->queue], sizeof(ifc->q_xsk[0]), "%s",
                     b->error ? "failed" : b->mode);
            ifc->q_bind_gen[b->queue] = b->bind_gen;
        }
        if (b->error == 0) {
            ifc->xsk_bound++;
            snprintf(ifc->xsk_mode, sizeof(ifc->xsk_mode), "%s", b->mode);
            ifc->bind_error = 0;
            ifc->bind_error_text[0] = 0;
            ifc->zc_err = b->zerocopy_error;
            ifc->need_wakeup = b->need_wakeup;
        } else {
            ifc->bind_error = b->error;
            snprintf(ifc->bind_error_text, sizeof(ifc->bind_error_text), "%s", b->error_text);
            log_warn("helper link: XSK bind on %s queue %u failed: %s", ifc->name, b->queue,
                     b->error_text);
        }
    }
    if (!a->ok) {
        log_err("helper link: helper refused snapshot generation %llu: %s",
                (unsigned long long)a->generation, a->error);
        /* A refused commit: the helper keeps its previous generation, controld rolls the
         * config back and pushes it again. */
        if (commit_helper_applied(c, a->generation, false, a->error))
            return;
        if (a->generation != c->generation)
            return;
        lifecycle_disarm(c, "the helper could not apply the snapshot");
        return;
    }
    if (a->generation != c->generation) {
        log_info("helper link: ignoring SnapshotApplied for old generation %llu",
                 (unsigned long long)a->generation);
        /* A link change (lifecycle.c "link cycle") pushed a newer generation with the same
         * configuration meanwhile: a commit waiting for this one is applied all the same. */
        commit_helper_applied(c, a->generation, true, NULL);
        return;
    }
    h->state = HELPER_APPLIED;
    lifecycle_helper_applied(c, a->generation);
    commit_helper_applied(c, a->generation, true, NULL);
    ha_helper_applied(c);
}

/* ---- sessions ---- */

/* The policy of the running config a session was created by (ids are positions in config
 * order; a commit may have moved them, so the name and zones must agree). */
static const struct cfg_policy *policy_of_session(const struct moat_config *cfg,
                                                  const struct mirror *m,
                                                  const struct mirror_session *s)
{
    const struct cfg_security *sec = cfg->security;
    if (!sec || !s->policy_id)
        return NULL;
    const char *name = mirror_name(m, s->policy_name);
    if (s->policy_id <= sec->n_policies) {
        const struct cfg_policy *p = &sec->policies[s->policy_id - 1];
        if ((!name[0] || strcmp(p->name, name) == 0) && p->from_zone == s->from_zone &&
            p->to_zone == s->to_zone)
            return p;
    }
    for (unsigned i = 0; name[0] && i < sec->n_policies; i++) {
        const struct cfg_policy *p = &sec->policies[i];
        if (strcmp(p->name, name) == 0 && p->from_zone == s->from_zone && p->to_zone == s->to_zone)
            return p;
    }
    return NULL;
}

static void on_session_event(void *arg, enum mirror_event ev, const struct mirror *m,
                             const struct mirror_session *s)
{
    struct controld *c = arg;
    const struct cfg_policy *p = policy_of_session(c->cfg, m, s);
    if (!p || !(ev == MIRROR_EV_CREATE ? p->log_init : p->log_close))
        return;
    struct mirror_names nm;
    show_mirror_names(c, &nm);
    char line[900];
    mirror_format_log(m, ev, s, &nm, line, sizeof(line));
    log_info("%s", line);
    c->session_log_lines++;
}

static void handle_session_deltas(struct helper_link *h, const Moat__SessionDeltaBatch *b)
{
    struct controld *c = h->c;
    uint64_t overflow = c->mirror.ctr.overflow, gaps = c->mirror.ctr.batch_gaps;
    if (mirror_apply_batch(&c->mirror, b, on_session_event, c) < 0)
        log_warn("session mirror: out of memory applying a batch of %zu deltas", b->n_deltas);
    if (c->mirror.ctr.overflow > overflow && overflow == 0)
        log_warn("session mirror: full at %u sessions (security flow max-sessions); new "
                 "sessions are counted but not mirrored",
                 c->mirror.max);
    lifecycle_helper_deltas(c, b);
    ha_session_deltas(c, b);
    if (c->mirror.ctr.batch_gaps > gaps)
        log_warn("session mirror: %llu delta batches missing before seq %llu",
                 (unsigned long long)(c->mirror.ctr.batch_gaps - gaps), (unsigned long long)b->seq);
}

static void handle_resolve(struct helper_link *h, const Moat__ResolveRequest *r)
{
    struct controld *c = h->c;
    if (r->addr.len != 4 && r->addr.len != 16)
        return;
    if (!ctl_iface_by_ifindex(c, r->ifindex))
        return;
    c->resolve_requests++;
    int err = netlink_neigh_resolve(c->nl, r->addr.len == 16 ? 6 : 4, r->addr.data, r->ifindex);
    if (err)
        log_debug("neighbour resolution request on ifindex %u failed: %s", r->ifindex,
                  strerror(-err));
}

static void dispatch(struct helper_link *h, Moat__Envelope *env)
{
    h->last_rx_ms = ctl_now_ms();
    if (h->state == HELPER_DOWN && env->msg_case != MOAT__ENVELOPE__MSG_HELLO) {
        drop_connection(h, "first message was not Hello");
        return;
    }
    switch (env->msg_case) {
    case MOAT__ENVELOPE__MSG_HELLO:
        if (h->state != HELPER_DOWN) {
            drop_connection(h, "second Hello on one connection");
            return;
        }
        handle_hello(h, env->hello);
        break;
    case MOAT__ENVELOPE__MSG_SNAPSHOT_APPLIED:
        handle_applied(h, env->snapshot_applied);
        break;
    case MOAT__ENVELOPE__MSG_HEARTBEAT:
        h->c->heartbeats_rx++;
        break;
    case MOAT__ENVELOPE__MSG_RESOLVE_REQUEST:
        handle_resolve(h, env->resolve_request);
        break;
    case MOAT__ENVELOPE__MSG_SESSION_DELTAS:
        handle_session_deltas(h, env->session_deltas);
        break;
    case MOAT__ENVELOPE__MSG_SESSION_CLEAR_REPLY:
        show_session_clear_reply(h->c, env->session_clear_reply);
        break;
    case MOAT__ENVELOPE__MSG_POLICY_COUNTERS_REPLY:
        show_policy_counters_reply(h->c, env->policy_counters_reply);
        break;
    case MOAT__ENVELOPE__MSG_SESSION_INSTALL_REPLY:
        if (!helper_requests_answer(&h->installs, env->session_install_reply))
            log_debug("helper link: SessionInstallReply %llu answers no request in flight "
                      "(its owner stopped waiting, or an older connection's)",
                      (unsigned long long)env->session_install_reply->request_id);
        break;
    case MOAT__ENVELOPE__MSG_TRACE_EVENTS:
        trace_helper_events(h->c, env->trace_events);
        break;
    default:
        log_warn("helper link: unexpected message %d from the helper, ignored", (int)env->msg_case);
        break;
    }
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct helper_link *h = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        drop_connection(h, nread == UV_EOF ? "connection closed (helper exited?)"
                                           : uv_strerror((int)nread));
        return;
    }
    if (frame_reader_feed(&h->rd, buf->base, (size_t)nread) < 0) {
        drop_connection(h, "out of memory buffering a frame");
        return;
    }
    for (;;) {
        Moat__Envelope *env = NULL;
        int rc = frame_reader_next(&h->rd, &env);
        if (rc == 0)
            break;
        if (rc < 0) {
            h->c->malformed_frames++;
            char why[128];
            snprintf(why, sizeof(why), "malformed frame: %s", frame_strerror(rc));
            drop_connection(h, why);
            return;
        }
        dispatch(h, env);
        moat__envelope__free_unpacked(env, NULL);
        if (!h->conn)
            return;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct helper_link *h = server->data;
    if (status < 0) {
        log_warn("helper link: accept failed: %s", uv_strerror(status));
        return;
    }
    uv_pipe_t *conn = calloc(1, sizeof(*conn));
    if (!conn)
        return;
    uv_pipe_init(h->c->loop, conn, 0);
    if (uv_accept(server, (uv_stream_t *)conn) < 0) {
        uv_close((uv_handle_t *)conn, conn_closed);
        return;
    }
    if (h->conn) {
        /* One helper at a time: the live one keeps its place until it misses its
         * heartbeats. */
        log_warn("helper link: refused a second helper connection while pid %u is "
                 "connected",
                 h->pid);
        uv_close((uv_handle_t *)conn, conn_closed);
        return;
    }
    conn->data = h;
    h->conn = conn;
    h->state = HELPER_DOWN;
    h->connected_at_ms = h->last_rx_ms = ctl_now_ms();
    frame_reader_init(&h->rd, FRAME_MAX_DEFAULT);
    uv_read_start((uv_stream_t *)conn, alloc_cb, read_cb);
}

static void hb_tick(uv_timer_t *t)
{
    struct helper_link *h = t->data;
    if (!h->conn)
        return;
    uint64_t age = ctl_now_ms() - h->last_rx_ms;
    /* Applying a snapshot (binding sockets, allocating session tables) may take longer
     * than the heartbeat window; forwarding is not armed on it yet, so waiting costs
     * nothing. Once armed, the normal window applies. */
    uint64_t limit = (uint64_t)HELPER_HEARTBEAT_MS * HELPER_HEARTBEAT_MISS;
    if (h->state != HELPER_APPLIED)
        limit = HELPER_APPLY_TIMEOUT_MS;
    if (age > limit) {
        h->c->heartbeat_timeouts++;
        char why[128];
        snprintf(why, sizeof(why), "no heartbeat for %llu ms", (unsigned long long)age);
        drop_connection(h, why);
        return;
    }
    if (h->state == HELPER_DOWN)
        return;
    Moat__Heartbeat hb = MOAT__HEARTBEAT__INIT;
    hb.seq = ++h->hb_seq;
    hb.generation = h->c->generation;
    send_envelope(h, ENVELOPE(HEARTBEAT, heartbeat, &hb));
}

/* ---- supervision of a spawned helper ---- */

static void spawn_helper(struct helper_link *h);

static void respawn_tick(uv_timer_t *t)
{
    spawn_helper(t->data);
}

static void proc_exited(uv_process_t *p, int64_t status, int term_signal)
{
    struct helper_link *h = p->data;
    h->proc_running = false;
    if (term_signal)
        log_warn("helper pid %d was killed by signal %d", p->pid, term_signal);
    else
        log_warn("helper pid %d exited with status %lld", p->pid, (long long)status);
    uv_close((uv_handle_t *)p, NULL);
    if (h->closing)
        return;
    uint64_t ran = ctl_now_ms() - h->proc_started_ms;
    if (ran > SPAWN_STABLE_MS)
        h->backoff_ms = SPAWN_BACKOFF_MIN_MS;
    log_info("restarting the helper in %u ms", h->backoff_ms);
    uv_timer_start(&h->respawn_timer, respawn_tick, h->backoff_ms, 0);
    h->backoff_ms =
        h->backoff_ms * 2 > SPAWN_BACKOFF_MAX_MS ? SPAWN_BACKOFF_MAX_MS : h->backoff_ms * 2;
}

static void spawn_helper(struct helper_link *h)
{
    struct controld *c = h->c;
    if (h->closing || h->proc_running)
        return;
    char *args[] = {(char *)c->spawn_path,
                    "--run-dir",
                    (char *)c->run_dir,
                    "--log-level",
                    (char *)(c->log_level_name ? c->log_level_name : "info"),
                    NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t opts = {
        .exit_cb = proc_exited,
        .file = c->spawn_path,
        .args = args,
        .stdio_count = 3,
        .stdio = stdio,
    };
    memset(&h->proc, 0, sizeof(h->proc));
    int err = uv_spawn(c->loop, &h->proc, &opts);
    if (err < 0) {
        log_err("cannot start the helper %s: %s (retrying in %u ms)", c->spawn_path,
                uv_strerror(err), h->backoff_ms);
        uv_close((uv_handle_t *)&h->proc, NULL);
        uv_timer_start(&h->respawn_timer, respawn_tick, h->backoff_ms, 0);
        return;
    }
    h->proc.data = h;
    h->proc_running = true;
    h->proc_started_ms = ctl_now_ms();
    c->helper_spawns++;
    log_info("started helper %s (pid %d)", c->spawn_path, h->proc.pid);
}

/* ---- public ---- */

int helper_listen(struct controld *c, struct helper_link **out)
{
    struct helper_link *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->c = c;
    h->backoff_ms = SPAWN_BACKOFF_MIN_MS;
    snprintf(h->sock_path, sizeof(h->sock_path), "%s/dataplane.sock", c->run_dir);
    unlink(h->sock_path);
    uv_pipe_init(c->loop, &h->server, 0);
    h->server.data = h;
    int err = uv_pipe_bind(&h->server, h->sock_path);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&h->server, 4, on_connection);
    if (err < 0) {
        log_err("cannot listen on %s: %s", h->sock_path, uv_strerror(err));
        uv_close((uv_handle_t *)&h->server, NULL);
        *out = NULL;
        /* h is freed once the loop closes the handle; leak-free enough at start-up
         * failure, where controld exits. */
        return -EADDRINUSE;
    }
    chmod(h->sock_path, 0600);
    h->server_open = true;
    uv_timer_init(c->loop, &h->hb_timer);
    h->hb_timer.data = h;
    uv_timer_start(&h->hb_timer, hb_tick, HELPER_HEARTBEAT_MS, HELPER_HEARTBEAT_MS);
    uv_timer_init(c->loop, &h->respawn_timer);
    h->respawn_timer.data = h;
    if (c->spawn_path)
        spawn_helper(h);
    *out = h;
    return 0;
}

void helper_close(struct helper_link *h)
{
    if (!h)
        return;
    h->closing = true;
    if (h->conn) {
        uv_read_stop((uv_stream_t *)h->conn);
        uv_close((uv_handle_t *)h->conn, conn_closed);
        h->conn = NULL;
        frame_reader_free(&h->rd);
    }
    h->state = HELPER_DOWN;
    helper_requests_free(&h->installs);
    if (h->proc_running) {
        uv_process_kill(&h->proc, SIGTERM);
    }
    uv_timer_stop(&h->hb_timer);
    uv_close((uv_handle_t *)&h->hb_timer, NULL);
    uv_timer_stop(&h->respawn_timer);
    uv_close((uv_handle_t *)&h->respawn_timer, NULL);
    if (h->server_open) {
        uv_close((uv_handle_t *)&h->server, NULL);
        unlink(h->sock_path);
    }
    /* h itself stays allocated until controld exits: handles above refer to it until
     * the loop has run their close callbacks. */
}
