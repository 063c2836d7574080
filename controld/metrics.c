/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "ha/ha.h"
#include "helper.h"
#include "log.h"
#include "show.h"

struct metrics_client {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    int handles_open;
    char req[2048];
    size_t len;
    bool answered;
    char *resp;
};

static struct {
    struct controld *c;
    uv_tcp_t *server; /* heap: a closing one may still be in the loop when a new one opens */
    bool on;
    struct cfg_prometheus cur;
    unsigned clients;
    uint64_t scrapes;
    uint64_t refused;
} M;

/* ---- rendering ---- */

void metrics_head(struct strbuf *o, const char *name, const char *type, const char *help)
{
    strbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_gauge(struct strbuf *o, const char *name, const char *help, uint64_t v)
{
    metrics_head(o, name, "gauge", help);
    strbuf_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

void metrics_counter(struct strbuf *o, const char *name, const char *help, uint64_t v)
{
    metrics_head(o, name, "counter", help);
    strbuf_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value: backslash, double quote and newline escaped. */
void metrics_label(struct strbuf *o, const char *v)
{
    strbuf_printf(o, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            strbuf_printf(o, "\\%c", *p);
        else if (*p == '\n')
            strbuf_printf(o, "\\n");
        else
            strbuf_printf(o, "%c", *p);
    }
    strbuf_printf(o, "\"");
}

/* Worker fields that are levels, not monotonic counts (common/counters.h). */
static bool is_gauge(const char *f)
{
    return show_worker_field_is_gauge(f);
}

#define MAX_FIELDS 128

struct fields {
    const char *name[MAX_FIELDS];
    uint64_t v[MAX_FIELDS];
    unsigned n;
};

static void collect(const char *name, uint64_t v, void *arg)
{
    struct fields *f = arg;
    if (f->n < MAX_FIELDS) {
        f->name[f->n] = name;
        f->v[f->n++] = v;
    }
}

static void render_shim(struct controld *c, struct strbuf *o)
{
    static struct fields f[MOAT_MAX_IFACES];
    unsigned n = c->n_ifaces < MOAT_MAX_IFACES ? c->n_ifaces : MOAT_MAX_IFACES;
    for (unsigned i = 0; i < n; i++) {
        struct moat_shim_stats st = {0};
        if (c->bpf && c->ifaces[i].ifindex)
            bootstrap_read_shim_stats(c->bpf, c->ifaces[i].slot, &st);
        f[i].n = 0;
        show_shim_counters(&st, collect, &f[i]);
    }
    for (unsigned k = 0; n && k < f[0].n; k++) {
        char name[96];
        snprintf(name, sizeof(name), "moat_shim_%s_total", f[0].name[k]);
        metrics_head(o, name, "counter",
                     "XDP shim decisions per interface (moatctl show interfaces)");
        for (unsigned i = 0; i < n; i++) {
            strbuf_printf(o, "%s{interface=", name);
            metrics_label(o, c->ifaces[i].name);
            strbuf_printf(o, "} %llu\n", (unsigned long long)f[i].v[k]);
        }
    }
}

static void render_workers(struct controld *c, struct strbuf *o)
{
    static struct moat_dp_stats ds;
    int err = show_read_dp_stats(c, &ds);
    metrics_gauge(o, "moat_helper_stats_available",
                  "1 if the helper's counters file (RUN_DIR/dataplane.stats) could be read",
                  err == 0);
    if (err)
        return;
    metrics_gauge(o, "moat_helper_stats_pid", "pid of the helper that wrote the counters", ds.pid);
    static struct fields f[MOAT_MAX_WORKERS];
    for (unsigned w = 0; w < ds.nworkers; w++) {
        f[w].n = 0;
        show_worker_counters(&ds.worker[w], collect, &f[w]);
    }
    for (unsigned k = 0; ds.nworkers && k < f[0].n; k++) {
        bool g = is_gauge(f[0].name[k]);
        char name[96];
        snprintf(name, sizeof(name), "moat_worker_%s%s", f[0].name[k], g ? "" : "_total");
        metrics_head(o, name, g ? "gauge" : "counter",
                     "dataplane worker counter (moatctl show dataplane statistics)");
        for (unsigned w = 0; w < ds.nworkers; w++)
            strbuf_printf(o, "%s{worker=\"%u\"} %llu\n", name, w, (unsigned long long)f[w].v[k]);
    }
}

void metrics_render(struct controld *c, struct strbuf *o)
{
    enum helper_state hs = helper_get_state(c->helper);
    metrics_head(o, "moat_build_info", "gauge", "version of moat-controld");
    strbuf_printf(o, "moat_build_info{version=\"%s\"} 1\n", MOAT_VERSION);
    metrics_head(o, "moat_mode", "gauge", "runtime mode (1 for the current one)");
    strbuf_printf(o, "moat_mode{mode=");
    metrics_label(o, c->mode);
    strbuf_printf(o, "} 1\n");
    metrics_head(o, "moat_phase", "gauge", "lifecycle phase of controld (1 for the current one)");
    strbuf_printf(o, "moat_phase{phase=");
    metrics_label(o, c->phase ? c->phase : "");
    strbuf_printf(o, "} 1\n");
    metrics_gauge(o, "moat_forwarding_armed",
                  "1 if transit traffic goes to the userspace dataplane", c->armed);
    metrics_gauge(o, "moat_generation", "snapshot generation the helper applied",
                  c->applied_generation);
    metrics_gauge(o, "moat_generation_pushed", "last snapshot generation controld pushed",
                  c->generation);
    metrics_gauge(o, "moat_helper_up", "1 if the dataplane helper is connected", hs != HELPER_DOWN);
    metrics_head(o, "moat_helper_state", "gauge",
                 "state of the helper link (1 for the current one)");
    strbuf_printf(o, "moat_helper_state{state=\"%s\"} 1\n", helper_state_name(hs));
    metrics_gauge(o, "moat_helper_pid", "pid of the connected helper (0 if none)",
                  hs == HELPER_DOWN ? 0 : helper_pid(c->helper));
    metrics_gauge(o, "moat_uptime_seconds", "seconds since controld started",
                  (ctl_now_ms() - c->started_at_ms) / 1000);
    metrics_gauge(o, "moat_sessions", "sessions in controld's mirror of the helper's table",
                  c->mirror.count);
    metrics_gauge(o, "moat_sessions_max", "maximum sessions (security flow max-sessions)",
                  c->mirror.max);
#define C(f, help) metrics_counter(o, "moat_controld_" #f "_total", help, c->f);
    C(helper_connects, "helper connections accepted")
    C(helper_disconnects, "helper connections lost")
    C(helper_spawns, "helpers spawned by controld (--spawn-dataplane)")
    C(arms, "times forwarding was armed")
    C(disarms, "times forwarding was disarmed")
#define H(f, help) metrics_counter(o, "moat_controld_handover_" #f "_total", help, c->handover.f);
    H(sessions, "kernel-path sessions the returning helper acknowledged before arming")
    H(late, "kernel-path sessions handed to the helper only once armed (after the bound)")
    H(rounds, "handover SessionInstalls sent before arming")
    H(failed, "kernel-path sessions a handover could not send or the helper lost")
#undef H
#define M(f, name, help)                                                                           \
    metrics_counter(o, "moat_controld_mixed_" name "_total", help, c->handover.f);
    M(seeds, "seeds", "kernel path seeded from the mirror as one interface was disarmed")
    M(live, "installs", "kernel-path sessions sent to the helper while an interface was armed")
    M(live_acked, "installs_acked", "of those, acknowledged by the helper")
    M(live_failed, "installs_failed", "of those, not sent or lost by the helper")
    M(partial_arms, "arm_handovers", "armings of an interface with others armed after a handover")
#undef M
    C(heartbeats_rx, "heartbeats received from the helper")
    C(heartbeat_timeouts, "helper declared dead after missed heartbeats")
    C(snapshots_pushed, "snapshots pushed to the helper")
    C(neigh_updates_sent, "neighbour updates sent to the helper")
    C(resolve_requests, "neighbour resolution requests from the helper")
    C(malformed_frames, "malformed frames on the helper link")
    C(session_log_lines, "RT_FLOW_SESSION_CREATE/CLOSE log lines written")
#undef C
    metrics_counter(o, "moat_metrics_scrapes_total", "requests answered by this endpoint",
                    M.scrapes);
    metrics_head(o, "moat_interface_up", "gauge", "1 if the interface's link is up");
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        strbuf_printf(o, "moat_interface_up{interface=");
        metrics_label(o, c->ifaces[i].name);
        strbuf_printf(o, "} %d\n", c->ifaces[i].link_up);
    }
    metrics_head(o, "moat_interface_armed", "gauge",
                 "1 if the shim sends the interface's transit to XSKs");
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        strbuf_printf(o, "moat_interface_armed{interface=");
        metrics_label(o, c->ifaces[i].name);
        strbuf_printf(o, "} %d\n", c->ifaces[i].armed);
    }
    metrics_head(o, "moat_interface_xsk_bound", "gauge", "RX queues with an AF_XDP socket bound");
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        strbuf_printf(o, "moat_interface_xsk_bound{interface=");
        metrics_label(o, c->ifaces[i].name);
        strbuf_printf(o, "} %u\n", c->ifaces[i].xsk_bound);
    }
    render_shim(c, o);
    render_workers(c, o);
    ha_render_metrics(c, o); /* chassis cluster, when configured */
}

/* ---- HTTP ---- */

static void client_closed(uv_handle_t *h)
{
    struct metrics_client *cl = h->data;
    if (--cl->handles_open == 0) {
        free(cl->resp);
        free(cl);
        M.clients--;
    }
}

static void client_close(struct metrics_client *cl)
{
    if (uv_is_closing((uv_handle_t *)&cl->tcp))
        return;
    uv_timer_stop(&cl->timer);
    uv_close((uv_handle_t *)&cl->timer, client_closed);
    uv_close((uv_handle_t *)&cl->tcp, client_closed);
}

static void written(uv_write_t *wr, int status)
{
    (void)status;
    client_close(wr->data);
}

static void respond(struct metrics_client *cl, const char *status, const char *body, bool head_only)
{
    struct strbuf o;
    strbuf_init(&o);
    size_t blen = strlen(body);
    strbuf_printf(&o,
                  "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                  status, blen, head_only ? "" : body);
    if (o.oom) {
        strbuf_free(&o);
        client_close(cl);
        return;
    }
    cl->answered = true;
    cl->resp = o.buf; /* freed with the client */
    uv_buf_t b = uv_buf_init(cl->resp, (unsigned)o.len);
    cl->wr.data = cl;
    if (uv_write(&cl->wr, (uv_stream_t *)&cl->tcp, &b, 1, written) < 0)
        client_close(cl);
}

static void handle(struct metrics_client *cl)
{
    char method[8] = "", path[256] = "";
    if (sscanf(cl->req, "%7s %255s", method, path) != 2) {
        respond(cl, "400 Bad Request", "bad request\n", false);
        return;
    }
    bool head_only = strcmp(method, "HEAD") == 0;
    if (strcmp(method, "GET") != 0 && !head_only) {
        respond(cl, "405 Method Not Allowed", "only GET /metrics\n", false);
        return;
    }
    char *q = strchr(path, '?');
    if (q)
        *q = 0;
    if (strcmp(path, "/metrics") != 0) {
        respond(cl, "404 Not Found", "moat-controld serves /metrics only\n", head_only);
        return;
    }
    struct strbuf body;
    strbuf_init(&body);
    M.scrapes++;
    metrics_render(M.c, &body);
    respond(cl, "200 OK", strbuf_str(&body), head_only);
    strbuf_free(&body);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct metrics_client *cl = h->data;
    (void)suggested;
    size_t room = sizeof(cl->req) - 1 - cl->len;
    *buf = uv_buf_init(cl->req + cl->len, (unsigned)room);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct metrics_client *cl = s->data;
    (void)buf;
    if (n == 0)
        return;
    if (n < 0 || cl->answered) {
        if (!cl->answered)
            client_close(cl);
        return;
    }
    cl->len += (size_t)n;
    cl->req[cl->len] = 0;
    if (strstr(cl->req, "\r\n\r\n") || strstr(cl->req, "\n\n")) {
        uv_read_stop(s);
        handle(cl);
    } else if (cl->len >= sizeof(cl->req) - 1) {
        uv_read_stop(s);
        respond(cl, "431 Request Header Fields Too Large", "request too large\n", false);
    }
}

static void timeout_cb(uv_timer_t *t)
{
    struct metrics_client *cl = t->data;
    if (!cl->answered)
        client_close(cl);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct metrics_client *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return;
    uv_tcp_init(M.c->loop, &cl->tcp);
    uv_timer_init(M.c->loop, &cl->timer);
    cl->tcp.data = cl->timer.data = cl;
    cl->handles_open = 2;
    M.clients++;
    if (uv_accept(server, (uv_stream_t *)&cl->tcp) < 0) {
        client_close(cl);
        return;
    }
    if (M.clients > METRICS_MAX_CLIENTS) {
        M.refused++;
        client_close(cl);
        return;
    }
    uv_timer_start(&cl->timer, timeout_cb, METRICS_REQUEST_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&cl->tcp, alloc_cb, read_cb);
}

static void endpoint(const struct cfg_prometheus *p, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    inet_ntop(p->address.family == 6 ? AF_INET6 : AF_INET, p->address.addr, a, sizeof(a));
    snprintf(buf, len, p->address.family == 6 ? "[%s]:%u" : "%s:%u", a, p->port);
}

static void server_closed(uv_handle_t *h)
{
    free(h);
}

void metrics_close(void)
{
    if (!M.on)
        return;
    uv_close((uv_handle_t *)M.server, server_closed);
    M.server = NULL;
    M.on = false;
}

int metrics_apply(struct controld *c)
{
    const struct cfg_prometheus *want = &c->cfg->system.prometheus;
    M.c = c;
    if (M.on && want->enabled && want->port == M.cur.port &&
        want->address.family == M.cur.address.family &&
        memcmp(want->address.addr, M.cur.address.addr, 16) == 0)
        return 0;
    char ep[80];
    if (M.on) {
        endpoint(&M.cur, ep, sizeof(ep));
        log_info("prometheus endpoint: closing http://%s/metrics", ep);
        metrics_close();
    }
    if (!want->enabled)
        return 0;
    endpoint(want, ep, sizeof(ep));
    struct sockaddr_storage ss = {0};
    if (want->address.family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)want->port);
        memcpy(&s6->sin6_addr, want->address.addr, 16);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)want->port);
        memcpy(&s4->sin_addr, want->address.addr, 4);
    }
    uv_tcp_t *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    uv_tcp_init(c->loop, srv);
    int err = uv_tcp_bind(srv, (const struct sockaddr *)&ss, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)srv, 16, on_connection);
    if (err < 0) {
        log_err("prometheus endpoint: cannot listen on %s: %s (check system services prometheus "
                "listen-address: it must be an address of this host, and the port free); "
                "running without metrics",
                ep, uv_strerror(err));
        uv_close((uv_handle_t *)srv, server_closed);
        return err;
    }
    M.server = srv;
    M.on = true;
    M.cur = *want;
    log_info("prometheus endpoint: serving http://%s/metrics", ep);
    return 0;
}
