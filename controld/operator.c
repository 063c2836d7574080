/* SPDX-License-Identifier: MIT */
#include "operator.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "show.h"

#define OP_MAX_CLIENTS 32
#define OP_REQUEST_TIMEOUT_MS 5000
#define OP_STREAM_MAX_QUEUED (4u << 20) /* bytes waiting to be written to one client */

struct operator_server {
    struct controld *c;
    uv_pipe_t server;
    char path[512];
    unsigned clients;
    uint64_t refused;
    uint64_t refused_busy; /* over OP_MAX_CLIENTS */
    uint64_t next_id;
    struct op_client *deferred; /* clients waiting for an answer, linked by next */
    unsigned n_deferred;
};

struct op_client {
    uv_pipe_t pipe;
    uv_timer_t timer;
    struct operator_server *op;
    struct frame_reader rd;
    bool answered;
    int handles_open;
    uid_t uid;
    pid_t pid;
    /* Deferred: answered later (operator_defer). */
    bool deferred;
    uint64_t id;
    void *data;
    void (*free_data)(void *);
    char timeout_msg[200];
    uint64_t stream_dropped; /* streamed parts not sent: the client did not keep up */
    struct op_client *next;
};

static void client_handle_closed(uv_handle_t *h)
{
    struct op_client *cl = h->data;
    if (--cl->handles_open == 0) {
        frame_reader_free(&cl->rd);
        cl->op->clients--;
        free(cl);
    }
}

static void undefer(struct op_client *cl);

static void client_close(struct op_client *cl)
{
    if (uv_is_closing((uv_handle_t *)&cl->pipe))
        return;
    undefer(cl);
    uv_timer_stop(&cl->timer);
    uv_close((uv_handle_t *)&cl->timer, client_handle_closed);
    uv_close((uv_handle_t *)&cl->pipe, client_handle_closed);
}

struct reply_req {
    uv_write_t req;
    uint8_t *buf;
    struct op_client *cl;
    bool final; /* the last reply: close the connection once written */
};

static void reply_written(uv_write_t *req, int status)
{
    struct reply_req *r = (struct reply_req *)req;
    free(r->buf);
    if (r->final || status < 0)
        client_close(r->cl);
    free(r);
}

static void send_reply_part(struct op_client *cl, int status, const char *output, const char *error,
                            bool more)
{
    Moat__OpReply rep = MOAT__OP_REPLY__INIT;
    rep.status = status;
    rep.output = (char *)(output ? output : "");
    rep.error = (char *)(error ? error : "");
    rep.more = more;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_OP_REPLY;
    env.op_reply = &rep;
    struct reply_req *r = calloc(1, sizeof(*r));
    size_t len;
    if (!r || frame_encode(&env, &r->buf, &len) < 0) {
        free(r);
        client_close(cl);
        return;
    }
    r->cl = cl;
    r->final = !more;
    if (!more)
        cl->answered = true;
    uv_buf_t b = uv_buf_init((char *)r->buf, (unsigned)len);
    if (uv_write(&r->req, (uv_stream_t *)&cl->pipe, &b, 1, reply_written) < 0) {
        free(r->buf);
        free(r);
        client_close(cl);
    }
}

static void send_reply(struct op_client *cl, int status, const char *output, const char *error)
{
    send_reply_part(cl, status, output, error, false);
}

static void handle_request(struct op_client *cl, const Moat__OpRequest *req)
{
    struct strbuf out, err;
    strbuf_init(&out);
    strbuf_init(&err);
    struct op_ctx ctx = {
        .cl = cl, .uid = (uint32_t)cl->uid, .pid = (int32_t)cl->pid, .json = req->json};
    int status =
        show_dispatch(cl->op->c, &ctx, (const char *const *)req->args, req->n_args, &out, &err);
    if (status != OP_DEFERRED)
        send_reply(cl, status, strbuf_str(&out), strbuf_str(&err));
    strbuf_free(&out);
    strbuf_free(&err);
}

/* ---- deferred answers ---- */

static void undefer(struct op_client *cl)
{
    if (!cl->deferred)
        return;
    struct op_client **p = &cl->op->deferred;
    while (*p && *p != cl)
        p = &(*p)->next;
    if (*p)
        *p = cl->next;
    cl->op->n_deferred--;
    cl->deferred = false;
    if (cl->free_data)
        cl->free_data(cl->data);
    cl->data = NULL;
    cl->free_data = NULL;
}

static void deferred_timeout(uv_timer_t *t)
{
    struct op_client *cl = t->data;
    if (!cl->deferred)
        return;
    log_warn("operator socket: request %llu of pid %d timed out: %s", (unsigned long long)cl->id,
             (int)cl->pid, cl->timeout_msg);
    operator_answer(cl, 1, NULL, cl->timeout_msg);
}

int operator_defer(struct op_client *cl, unsigned timeout_ms, const char *timeout_msg, void *data,
                   void (*free_data)(void *), uint64_t *id)
{
    if (!cl || cl->deferred || cl->answered)
        return -EINVAL;
    struct operator_server *op = cl->op;
    cl->deferred = true;
    cl->id = ++op->next_id;
    cl->data = data;
    cl->free_data = free_data;
    snprintf(cl->timeout_msg, sizeof(cl->timeout_msg), "%s",
             timeout_msg ? timeout_msg : "controld did not finish the request in time");
    cl->next = op->deferred;
    op->deferred = cl;
    op->n_deferred++;
    uv_timer_stop(&cl->timer);
    if (timeout_ms)
        uv_timer_start(&cl->timer, deferred_timeout, timeout_ms, 0);
    *id = cl->id;
    return 0;
}

struct op_client *operator_find(struct operator_server *op, uint64_t id, void **data)
{
    for (struct op_client *cl = op ? op->deferred : NULL; cl; cl = cl->next) {
        if (cl->id == id) {
            if (data)
                *data = cl->data;
            return cl;
        }
    }
    return NULL;
}

void operator_answer(struct op_client *cl, int status, const char *output, const char *error)
{
    if (!cl || cl->answered)
        return;
    uv_timer_stop(&cl->timer);
    undefer(cl);
    send_reply(cl, status, output, error);
}

void operator_stream(struct op_client *cl, const char *output)
{
    if (!cl || cl->answered || uv_is_closing((uv_handle_t *)&cl->pipe))
        return;
    /* A client that stops reading must not make controld buffer without bound. */
    if (uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe) > OP_STREAM_MAX_QUEUED) {
        cl->stream_dropped++;
        return;
    }
    send_reply_part(cl, 0, output, NULL, true);
}

uint64_t operator_stream_dropped(const struct op_client *cl)
{
    return cl ? cl->stream_dropped : 0;
}

unsigned operator_pending(const struct operator_server *op)
{
    return op ? op->n_deferred : 0;
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
    struct op_client *cl = stream->data;
    if (nread == 0)
        return;
    if (nread < 0 || cl->answered) {
        client_close(cl);
        return;
    }
    if (frame_reader_feed(&cl->rd, buf->base, (size_t)nread) < 0) {
        client_close(cl);
        return;
    }
    Moat__Envelope *env = NULL;
    int rc = frame_reader_next(&cl->rd, &env);
    if (rc == 0)
        return;
    uv_read_stop(stream);
    if (rc < 0) {
        log_warn("operator socket: closing connection from pid %d: %s", (int)cl->pid,
                 frame_strerror(rc));
        client_close(cl);
        return;
    }
    if (env->msg_case != MOAT__ENVELOPE__MSG_OP_REQUEST) {
        log_warn("operator socket: pid %d sent message %d, not a request; closing", (int)cl->pid,
                 (int)env->msg_case);
        client_close(cl);
    } else {
        handle_request(cl, env->op_request);
    }
    moat__envelope__free_unpacked(env, NULL);
}

static void request_timeout(uv_timer_t *t)
{
    struct op_client *cl = t->data;
    if (!cl->answered && !cl->deferred) {
        log_warn("operator socket: pid %d sent no complete request in %d ms; closing", (int)cl->pid,
                 OP_REQUEST_TIMEOUT_MS);
        client_close(cl);
    }
}

/* Root, our own user, or a member of group "moat". */
static bool peer_allowed(int fd, uid_t *uid_out, pid_t *pid_out)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return false;
    *uid_out = cred.uid;
    *pid_out = cred.pid;
    if (cred.uid == 0 || cred.uid == geteuid())
        return true;
    struct group *g = getgrnam("moat");
    if (!g)
        return false;
    if (cred.gid == g->gr_gid)
        return true;
    /* Supplementary groups of the peer, from /proc. */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)cred.pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[512];
    bool ok = false;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Groups:", 7) != 0)
            continue;
        char *p = line + 7;
        char *end;
        for (;;) {
            unsigned long gid = strtoul(p, &end, 10);
            if (end == p)
                break;
            if (gid == g->gr_gid)
                ok = true;
            p = end;
        }
    }
    fclose(f);
    return ok;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct operator_server *op = server->data;
    if (status < 0)
        return;
    struct op_client *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return;
    cl->op = op;
    uv_pipe_init(op->c->loop, &cl->pipe, 0);
    uv_timer_init(op->c->loop, &cl->timer);
    cl->pipe.data = cl;
    cl->timer.data = cl;
    cl->handles_open = 2;
    op->clients++;
    frame_reader_init(&cl->rd, FRAME_MAX_OPERATOR);
    if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0) {
        client_close(cl);
        return;
    }
    uv_os_fd_t fd;
    uv_fileno((uv_handle_t *)&cl->pipe, &fd);
    if (!peer_allowed(fd, &cl->uid, &cl->pid)) {
        op->refused++;
        log_warn("operator socket: refused uid %u (pid %d): not root and not in group moat",
                 (unsigned)cl->uid, (int)cl->pid);
        send_reply(cl, 13, NULL, "permission denied: moatctl needs root or group moat");
        return;
    }
    if (op->clients > OP_MAX_CLIENTS) {
        op->refused_busy++;
        log_warn("operator socket: refused uid %u (pid %d): %d clients connected already, at "
                 "most %d (%llu refused so far)",
                 (unsigned)cl->uid, (int)cl->pid, (int)op->clients - 1, OP_MAX_CLIENTS,
                 (unsigned long long)op->refused_busy);
        send_reply(cl, 16, NULL, "controld is busy: too many moatctl clients; try again");
        return;
    }
    uv_timer_start(&cl->timer, request_timeout, OP_REQUEST_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&cl->pipe, alloc_cb, read_cb);
}

int operator_listen(struct controld *c, struct operator_server **out)
{
    struct operator_server *op = calloc(1, sizeof(*op));
    if (!op)
        return -ENOMEM;
    op->c = c;
    snprintf(op->path, sizeof(op->path), "%s/control.sock", c->run_dir);
    unlink(op->path);
    uv_pipe_init(c->loop, &op->server, 0);
    op->server.data = op;
    int err = uv_pipe_bind(&op->server, op->path);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&op->server, 16, on_connection);
    if (err < 0) {
        log_err("cannot listen on %s: %s", op->path, uv_strerror(err));
        uv_close((uv_handle_t *)&op->server, NULL);
        return -EADDRINUSE;
    }
    struct group *g = getgrnam("moat");
    if (g && chown(op->path, 0, g->gr_gid) < 0)
        log_warn("cannot give %s to group moat: %s", op->path, strerror(errno));
    chmod(op->path, 0660);
    *out = op;
    return 0;
}

void operator_close(struct operator_server *op)
{
    if (!op)
        return;
    while (op->deferred)
        operator_answer(op->deferred, 1, NULL,
                        "controld is stopping: the request was not completed");
    uv_close((uv_handle_t *)&op->server, NULL);
    unlink(op->path);
}
