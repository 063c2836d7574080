/* SPDX-License-Identifier: MIT */
#include "control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dp.h"
#include "flowctl.h"
#include "frame.h"
#include "log.h"
#include "snapshot.h"
#include "stats.h"
#include "trace.h"
#include "worker.h"

struct ctl {
    const char *run_dir;
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;
    int sigfd;
    struct frame_reader rd;
    struct dp dp;
    struct dp_stats_file stats;
    uint32_t hello_workers;
    uint32_t hb_ms;
    uint64_t hb_seq;
    int64_t next_hb;
    bool configured;   /* workers set up for dp.set / dp.ports */
    bool applied_once; /* a snapshot was applied since Hello (sessions are re-seeded once) */
    struct flowctl fc;
    struct dp_trace trace;
    /* Kernel XSK counters of sockets already closed, per worker (see sample_xsk_stats). */
    struct xdp_statistics xsk_base[MOAT_MAX_WORKERS];
    bool link_lost;
    bool quit;
    /* Rebinds per interface slot after a link cycle (Interface.link_epoch changed). */
    uint64_t rebinds[MOAT_MAX_IFACES];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sample_xsk_stats(struct ctl *c, bool closing);

/* ---- sending ---- */

static int ctl_send(struct ctl *c, const Moat__Envelope *env)
{
    if (c->link_lost)
        return -EPIPE;
    int err = frame_write_fd(c->fd, env);
    if (err) {
        log_err("lost the controld connection: sending failed: %s", frame_strerror(err));
        c->link_lost = true;
    }
    return err;
}

static int fc_send(void *arg, const Moat__Envelope *env)
{
    return ctl_send(arg, env);
}

static void send_heartbeat_if_due(struct ctl *c)
{
    int64_t now = now_ms();
    if (now < c->next_hb)
        return;
    Moat__Heartbeat hb = MOAT__HEARTBEAT__INIT;
    hb.seq = ++c->hb_seq;
    hb.generation = c->dp.stats->generation;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    ctl_send(c, &env);
    c->next_hb = now + c->hb_ms;
    if (c->configured)
        sample_xsk_stats(c, false);
}

/*
 * Publishes the kernel's XSK counters in the workers' stats (fields the workers never
 * write). closing: the sockets are about to go, fold their counts into the base so the
 * published values stay monotonic across a rebind.
 */
static void sample_xsk_stats(struct ctl *c, bool closing)
{
    for (uint32_t i = 0; i < c->dp.nworkers; i++) {
        struct dp_worker *w = c->dp.workers[i];
        if (!w)
            continue;
        struct xdp_statistics sum = c->xsk_base[i];
        for (uint32_t j = 0; j < w->nsocks; j++) {
            struct xdp_statistics x;
            if (dp_xsk_kernel_stats(&w->socks[j], &x) != 0)
                continue;
            sum.rx_dropped += x.rx_dropped;
            sum.rx_ring_full += x.rx_ring_full;
            sum.rx_fill_ring_empty_descs += x.rx_fill_ring_empty_descs;
            sum.tx_invalid_descs += x.tx_invalid_descs;
        }
        struct moat_worker_stats *st = &c->dp.stats->worker[i];
        st->xsk_rx_dropped = sum.rx_dropped;
        st->xsk_rx_ring_full = sum.rx_ring_full;
        st->xsk_fill_ring_empty = sum.rx_fill_ring_empty_descs;
        st->xsk_tx_invalid = sum.tx_invalid_descs;
        if (closing)
            c->xsk_base[i] = sum;
    }
}

static void progress_cb(void *arg)
{
    send_heartbeat_if_due(arg);
}

static void drain_resolves(struct ctl *c)
{
    for (uint32_t i = 0; i < c->dp.nworkers && !c->link_lost; i++) {
        struct dp_worker *w = c->dp.workers[i];
        if (!w || !w->resolve.size)
            continue;
        struct dp_resolve_req r;
        while (!c->link_lost && dp_worker_pop_resolve(w, &r)) {
            Moat__ResolveRequest rr = MOAT__RESOLVE_REQUEST__INIT;
            rr.addr.data = r.addr;
            rr.addr.len = r.family == 6 ? 16 : 4;
            rr.ifindex = r.ifindex;
            Moat__Envelope env = MOAT__ENVELOPE__INIT;
            env.msg_case = MOAT__ENVELOPE__MSG_RESOLVE_REQUEST;
            env.resolve_request = &rr;
            if (log_get_level() >= LOG_LVL_DEBUG) {
                char a[INET6_ADDRSTRLEN];
                inet_ntop(r.family == 6 ? AF_INET6 : AF_INET, r.addr, a, sizeof(a));
                log_debug("worker %u: asking controld to resolve %s on ifindex %u", i, a,
                          r.ifindex);
            }
            ctl_send(c, &env);
        }
    }
}

/* ---- SnapshotApplied ---- */

static void send_applied(struct ctl *c, uint64_t generation, bool ok, const char *error)
{
    size_t n = 0;
    for (uint32_t i = 0; i < c->dp.nworkers; i++)
        if (c->dp.workers[i])
            n += c->dp.workers[i]->nsocks;
    Moat__XskBinding *b = calloc(n ? n : 1, sizeof(*b));
    Moat__XskBinding **bp = calloc(n ? n : 1, sizeof(*bp));
    if (!b || !bp) {
        free(b);
        free(bp);
        n = 0;
        ok = false;
        error = "out of memory reporting the bindings";
    }
    size_t k = 0;
    for (uint32_t i = 0; i < c->dp.nworkers && b && bp; i++) {
        struct dp_worker *w = c->dp.workers[i];
        for (uint32_t j = 0; w && j < w->nsocks; j++) {
            struct dp_sock *s = &w->socks[j];
            moat__xsk_binding__init(&b[k]);
            b[k].ifindex = s->ifindex;
            b[k].queue = s->queue;
            b[k].worker = i;
            b[k].mode = (char *)(s->bound ? dp_xsk_mode_name(s) : "");
            b[k].error = s->bind_err;
            b[k].error_text = s->err_text;
            b[k].zerocopy_error = s->zc_err;
            b[k].need_wakeup = s->bound && s->need_wakeup;
            b[k].bind_gen = s->bind_gen;
            if (s->port < c->dp.nports && c->dp.ports[s->port].slot < MOAT_MAX_IFACES)
                b[k].rebinds = c->rebinds[c->dp.ports[s->port].slot];
            bp[k] = &b[k];
            k++;
        }
    }
    Moat__SnapshotApplied a = MOAT__SNAPSHOT_APPLIED__INIT;
    a.generation = generation;
    a.ok = ok;
    a.error = (char *)(error ? error : "");
    a.n_bindings = k;
    a.bindings = bp;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_SNAPSHOT_APPLIED;
    env.snapshot_applied = &a;
    ctl_send(c, &env);
    free(b);
    free(bp);
}

/* The first failed binding, as a sentence; false when every socket is bound and mapped. */
static bool bindings_failed(struct ctl *c, char *err, size_t errlen)
{
    unsigned failed = 0, total = 0;
    const char *first = NULL;
    for (uint32_t i = 0; i < c->dp.nworkers; i++) {
        struct dp_worker *w = c->dp.workers[i];
        for (uint32_t j = 0; w && j < w->nsocks; j++) {
            total++;
            if (w->socks[j].bind_err) {
                failed++;
                if (!first)
                    first = w->socks[j].err_text;
            }
        }
    }
    if (!failed)
        return false;
    snprintf(err, errlen, "%u of %u XSK bindings failed; first: %s", failed, total, first);
    return true;
}

static void log_bindings(struct ctl *c)
{
    for (uint32_t i = 0; i < c->dp.nworkers; i++) {
        struct dp_worker *w = c->dp.workers[i];
        for (uint32_t j = 0; w && j < w->nsocks; j++) {
            struct dp_sock *s = &w->socks[j];
            if (s->bound && !s->bind_err)
                log_info("worker %u: %s queue %u bound in %s mode, %s[%u] set", i, s->ifname,
                         s->queue, dp_xsk_mode_name(s), "moat_xsks", s->map_key);
        }
    }
}

static void stop_dataplane(struct ctl *c)
{
    if (!c->configured)
        return;
    dp_workers_stop(&c->dp);
    sample_xsk_stats(c, true);
    dp_workers_teardown(&c->dp);
    c->configured = false;
}

/*
 * Workers stopped: rebinds the sockets of the ports relink[] names (their new ifindex and
 * epoch from ports[]), folding the closed sockets' kernel counters into the base first.
 * The other ports' sockets are not touched.
 */
static void relink_ports(struct ctl *c, const struct dp_port *ports, const uint32_t *relink,
                         uint32_t nrelink)
{
    for (uint32_t r = 0; r < nrelink; r++) {
        uint32_t p = relink[r];
        for (uint32_t i = 0; i < c->dp.nworkers; i++) {
            struct dp_worker *w = c->dp.workers[i];
            for (uint32_t j = 0; w && j < w->nsocks; j++) {
                struct xdp_statistics x;
                if (w->socks[j].port != p || dp_xsk_kernel_stats(&w->socks[j], &x) != 0)
                    continue;
                c->xsk_base[i].rx_dropped += x.rx_dropped;
                c->xsk_base[i].rx_ring_full += x.rx_ring_full;
                c->xsk_base[i].rx_fill_ring_empty_descs += x.rx_fill_ring_empty_descs;
                c->xsk_base[i].tx_invalid_descs += x.tx_invalid_descs;
            }
        }
        log_info("%s: link changed (ifindex %u -> %u, link epoch %u -> %u): rebinding its XSKs",
                 ports[p].name, c->dp.ports[p].ifindex, ports[p].ifindex, c->dp.ports[p].link_epoch,
                 ports[p].link_epoch);
        c->dp.ports[p] = ports[p];
        if (ports[p].slot < MOAT_MAX_IFACES)
            c->rebinds[ports[p].slot]++;
        int rc = dp_workers_rebind_port(&c->dp, p);
        if (rc)
            log_err("%s: rebinding failed: %s", ports[p].name, strerror(-rc));
    }
}

/* Workers stopped, sockets set up: session tables for this layout, sessions re-seeded. */
static int prepare_sessions(struct ctl *c, const Moat__Snapshot *s, const struct dp_tables *t,
                            char *err, size_t errlen)
{
    int rc = flowctl_layout(&c->fc, t, err, errlen);
    if (rc)
        return rc;
    if (s->n_sessions) {
        if (c->applied_once)
            log_warn("generation %llu carries %zu sessions but the helper already runs its "
                     "own: ignored",
                     (unsigned long long)s->generation, s->n_sessions);
        else
            flowctl_install_snapshot(&c->fc, s, t);
    }
    return 0;
}

/* The settings a generation may change under running workers: the heartbeat and the workers'
 * CPUs (dp_workers_pin() applies them). */
static void settings_live(struct dp_settings *cur, const struct dp_settings *next)
{
    cur->heartbeat_ms = next->heartbeat_ms;
    memcpy(cur->cpus, next->cpus, sizeof(cur->cpus));
    cur->ncpus = next->ncpus;
}

static void apply_snapshot(struct ctl *c, const Moat__Snapshot *s)
{
    char err[512] = "";
    struct dp_settings set;
    struct dp_port ports[MOAT_MAX_IFACES];
    uint32_t nports = 0;
    struct dp_tables *t = NULL;
    int rc;

    log_info("snapshot generation %llu: %zu interfaces, %zu routes, %zu neighbours, %zu zones, "
             "%zu policies, %zu sessions",
             (unsigned long long)s->generation, s->n_interfaces, s->n_routes, s->n_neighbors,
             s->n_zones, s->n_policies, s->n_sessions);
    rc = dp_settings_from_proto(s->settings, c->hello_workers, &set, err, sizeof(err));
    if (!rc)
        rc = dp_ports_from_snapshot(s, &set, ports, &nports, err, sizeof(err));
    if (!rc)
        rc = dp_tables_from_snapshot_names(s, ports, nports, &c->fc.pnames, &c->fc.anames, &t, err,
                                           sizeof(err));
    if (rc) {
        if (!err[0])
            snprintf(err, sizeof(err), "building the tables failed: %s", strerror(-rc));
        log_err("snapshot generation %llu refused: %s", (unsigned long long)s->generation, err);
        send_applied(c, s->generation, false, err);
        return;
    }
    c->hb_ms = set.heartbeat_ms;
    if (!t->flow.cookie_seed)
        sc_key_derive(&t->spk, c->dp.flow_seed); /* a controld without the kernel path */
    flowctl_tables_built(&c->fc, t);
    const uint32_t npol = pol_rule_count(t->pol);
    const uint32_t routes = fib_route_count(t->fib);

    bool keep = c->configured && !dp_settings_need_rebind(&c->dp.set, &set) &&
                dp_ports_equal(c->dp.ports, c->dp.nports, ports, nports);
    /* Link cycle: only some ports' ifindex or link epoch changed: rebind just those. */
    uint32_t relink[MOAT_MAX_IFACES], nrelink = 0;
    bool relinked = false;
    if (c->configured && !dp_settings_need_rebind(&c->dp.set, &set) &&
        dp_ports_relink(c->dp.ports, c->dp.nports, ports, nports, relink, &nrelink) && nrelink) {
        settings_live(&c->dp.set, &set);
        dp_workers_stop(&c->dp);
        relink_ports(c, ports, relink, nrelink);
        relinked = true;
    }
    if (relinked) {
        rc = 0;
        if (flowctl_layout_changed(&c->fc, t))
            rc = prepare_sessions(c, s, t, err, sizeof(err));
        dp_publish_tables(&c->dp, t, false, false); /* no worker runs: freed at once */
        if (!rc)
            rc = dp_workers_start(&c->dp);
        if (rc) {
            if (!err[0])
                snprintf(err, sizeof(err), "cannot restart the workers: %s", strerror(-rc));
            log_err("generation %llu: %s", (unsigned long long)s->generation, err);
            stop_dataplane(c);
            c->dp.stats->nworkers = 0;
            send_applied(c, s->generation, false, err);
            return;
        }
        log_info("generation %llu: %u interface(s) rebound after a link change, the others "
                 "untouched",
                 (unsigned long long)s->generation, nrelink);
    } else if (keep && !flowctl_layout_changed(&c->fc, t)) {
        /* Same sockets, same session tables: swap the tables under the running workers. */
        settings_live(&c->dp.set, &set);
        dp_publish_tables(&c->dp, t, false, false);
        dp_workers_pin(&c->dp);
        log_info("generation %llu: sockets kept, tables swapped",
                 (unsigned long long)s->generation);
    } else if (keep) {
        /* Same sockets, other session tables (max-sessions changed): pause the workers. */
        settings_live(&c->dp.set, &set);
        dp_workers_stop(&c->dp);
        rc = prepare_sessions(c, s, t, err, sizeof(err));
        dp_publish_tables(&c->dp, t, false, false); /* no worker runs: freed at once */
        if (!rc)
            rc = dp_workers_start(&c->dp);
        if (rc) {
            if (!err[0])
                snprintf(err, sizeof(err), "cannot restart the workers: %s", strerror(-rc));
            log_err("generation %llu: %s", (unsigned long long)s->generation, err);
            stop_dataplane(c);
            c->dp.stats->nworkers = 0;
            send_applied(c, s->generation, false, err);
            return;
        }
        log_info("generation %llu: sockets kept, session tables resized",
                 (unsigned long long)s->generation);
    } else {
        if (c->configured)
            log_info("generation %llu: interfaces, queues or settings changed: rebinding",
                     (unsigned long long)s->generation);
        /* Ports whose link changed count a rebind here too. */
        for (uint32_t i = 0; i < nports; i++) {
            for (uint32_t j = 0; c->configured && j < c->dp.nports; j++) {
                if (c->dp.ports[j].slot == ports[i].slot && ports[i].slot < MOAT_MAX_IFACES &&
                    (c->dp.ports[j].ifindex != ports[i].ifindex ||
                     c->dp.ports[j].link_epoch != ports[i].link_epoch))
                    c->rebinds[ports[i].slot]++;
            }
        }
        stop_dataplane(c);
        c->dp.set = set;
        c->dp.nports = nports;
        memcpy(c->dp.ports, ports, sizeof(ports[0]) * nports);
        rc = dp_workers_setup(&c->dp, err, sizeof(err));
        if (rc) {
            dp_tables_free(t, true, true);
            log_err("generation %llu: %s", (unsigned long long)s->generation, err);
            c->dp.stats->nworkers = 0;
            send_applied(c, s->generation, false, err);
            return;
        }
        c->configured = true;
        rc = prepare_sessions(c, s, t, err, sizeof(err));
        dp_publish_tables(&c->dp, t, false, false); /* no worker runs: freed at once */
        if (rc) {
            log_err("generation %llu: %s", (unsigned long long)s->generation, err);
            stop_dataplane(c);
            c->dp.stats->nworkers = 0;
            send_applied(c, s->generation, false, err);
            return;
        }
        rc = dp_workers_start(&c->dp);
        if (rc) {
            snprintf(err, sizeof(err), "cannot start the worker threads: %s", strerror(-rc));
            log_err("generation %llu: %s", (unsigned long long)s->generation, err);
            stop_dataplane(c);
            send_applied(c, s->generation, false, err);
            return;
        }
        log_bindings(c);
    }
    c->applied_once = true;
    c->dp.stats->nworkers = c->dp.set.workers;
    c->dp.stats->generation = s->generation;
    bool ok = !bindings_failed(c, err, sizeof(err));
    if (!ok)
        log_err("generation %llu: %s", (unsigned long long)s->generation, err);
    else
        log_info("generation %llu applied: %u workers, %u interfaces, %u routes, %u policies",
                 (unsigned long long)s->generation, c->dp.set.workers, nports, routes, npol);
    send_applied(c, s->generation, ok, ok ? "" : err);
}

static void apply_neighbors(struct ctl *c, const Moat__NeighborUpdate *u)
{
    struct dp_tables *cur = atomic_load(&c->dp.tables);
    if (!cur) {
        log_debug("neighbour update before any snapshot: ignored (the snapshot carries them)");
        return;
    }
    struct dp_tables *t;
    unsigned skipped;
    int rc = dp_tables_with_neighbors(cur, u, &t, &skipped);
    if (rc) {
        log_err("neighbour update not applied: %s", strerror(-rc));
        return;
    }
    if (skipped)
        log_warn("neighbour update: %u malformed entries skipped", skipped);
    dp_publish_tables(&c->dp, t, true, false);
    log_debug("neighbour update: %zu entries applied", u->n_neighbors - skipped);
}

static void dispatch(struct ctl *c, const Moat__Envelope *env)
{
    switch (env->msg_case) {
    case MOAT__ENVELOPE__MSG_SNAPSHOT:
        apply_snapshot(c, env->snapshot);
        break;
    case MOAT__ENVELOPE__MSG_NEIGHBOR_UPDATE:
        apply_neighbors(c, env->neighbor_update);
        break;
    case MOAT__ENVELOPE__MSG_HEARTBEAT:
        break;
    case MOAT__ENVELOPE__MSG_SESSION_CLEAR:
        flowctl_clear(&c->fc, env->session_clear);
        break;
    case MOAT__ENVELOPE__MSG_SESSION_INSTALL:
        flowctl_sync_install(&c->fc, env->session_install);
        break;
    case MOAT__ENVELOPE__MSG_POLICY_COUNTERS_REQUEST:
        flowctl_policy_counters(&c->fc, env->policy_counters_request);
        break;
    case MOAT__ENVELOPE__MSG_TRACE_START:
        if (dp_trace_start(&c->trace, env->trace_start) < 0) {
            log_warn("trace %llu refused: invalid filter",
                     (unsigned long long)env->trace_start->id);
        } else {
            log_info("trace %llu started (%u packets at most)",
                     (unsigned long long)env->trace_start->id, env->trace_start->max_packets);
        }
        break;
    case MOAT__ENVELOPE__MSG_TRACE_STOP:
        dp_trace_stop(&c->trace, env->trace_stop->id);
        break;
    default:
        log_warn("unexpected message %d from controld: ignored", (int)env->msg_case);
        break;
    }
}

/* ---- reading ---- */

static bool signal_pending(struct ctl *c)
{
    struct signalfd_siginfo si;
    ssize_t n = read(c->sigfd, &si, sizeof(si));
    if (n == (ssize_t)sizeof(si)) {
        log_info("signal %u: exiting", si.ssi_signo);
        c->quit = true;
        return true;
    }
    return false;
}

/* Reads what the socket holds into the frame reader. 0, or link lost. */
static int read_socket(struct ctl *c)
{
    uint8_t buf[65536];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return 0;
        int err = -errno;
        log_err("lost the controld connection: %s", frame_strerror(err));
        c->link_lost = true;
        return err;
    }
    if (n == 0) {
        log_err("lost the controld connection: %s",
                c->rd.len ? frame_strerror(-ECONNRESET) : "controld closed it");
        c->link_lost = true;
        return -ECONNRESET;
    }
    int err = frame_reader_feed(&c->rd, buf, (size_t)n);
    if (err) {
        log_err("lost the controld connection: %s", frame_strerror(err));
        c->link_lost = true;
    }
    return err;
}

/* The next buffered envelope: 1 with *env, 0 if none, < 0 when the stream is bad. */
static int next_envelope(struct ctl *c, Moat__Envelope **env)
{
    int rc = frame_reader_next(&c->rd, env);
    if (rc < 0) {
        log_err("lost the controld connection: %s", frame_strerror(rc));
        c->link_lost = true;
    }
    return rc;
}

/* ---- connecting ---- */

static int connect_once(struct ctl *c)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->sock_path, strlen(c->sock_path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    c->fd = fd;
    return 0;
}

/* 0 when connected, 1 when a signal asked us to stop. */
static int connect_loop(struct ctl *c)
{
    int64_t last_log = 0;
    int64_t start = now_ms();
    for (;;) {
        int err = connect_once(c);
        if (!err) {
            log_info("connected to controld at %s", c->sock_path);
            return 0;
        }
        int64_t now = now_ms();
        if (last_log == 0 || now - last_log >= DP_CONNECT_LOG_MS) {
            log_info("waiting for controld at %s (%s, %lld s so far)", c->sock_path, strerror(-err),
                     (long long)((now - start) / 1000));
            last_log = now;
        }
        struct pollfd p = {.fd = c->sigfd, .events = POLLIN};
        if (poll(&p, 1, DP_CONNECT_RETRY_MS) > 0 && signal_pending(c))
            return 1;
    }
}

static uint32_t default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > MOAT_MAX_WORKERS)
        n = MOAT_MAX_WORKERS;
    return (uint32_t)n;
}

/* Hello, then HelloAck. 0 when accepted, 1 on a signal, -1 when refused or lost. */
static int handshake(struct ctl *c)
{
    static char *caps[] = {"afxdp", "shared-umem", "need-wakeup"};
    Moat__Hello h = MOAT__HELLO__INIT;
    h.version = DP_PROTO_VERSION;
    h.pid = (uint32_t)getpid();
    h.workers = c->hello_workers;
    h.n_capabilities = sizeof(caps) / sizeof(caps[0]);
    h.capabilities = caps;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_HELLO;
    env.hello = &h;
    if (ctl_send(c, &env))
        return -1;

    int64_t deadline = now_ms() + DP_HELLO_TIMEOUT_MS;
    for (;;) {
        Moat__Envelope *e = NULL;
        int rc = next_envelope(c, &e);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            if (e->msg_case != MOAT__ENVELOPE__MSG_HELLO_ACK) {
                log_err("controld answered Hello with message %d instead of HelloAck",
                        (int)e->msg_case);
                moat__envelope__free_unpacked(e, NULL);
                return -1;
            }
            bool accepted = e->hello_ack->accepted;
            if (!accepted)
                log_err("controld refused this helper: %s",
                        e->hello_ack->reason && e->hello_ack->reason[0] ? e->hello_ack->reason
                                                                        : "(no reason given)");
            else
                log_info("controld accepted the helper (protocol version %u)",
                         e->hello_ack->version);
            moat__envelope__free_unpacked(e, NULL);
            return accepted ? 0 : -1;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            log_err("no HelloAck from controld within %d s", DP_HELLO_TIMEOUT_MS / 1000);
            return -1;
        }
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = c->sigfd, .events = POLLIN}};
        if (poll(p, 2, (int)left) < 0 && errno != EINTR) {
            log_err("poll: %s", strerror(errno));
            return -1;
        }
        if ((p[1].revents & POLLIN) && signal_pending(c))
            return 1;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            if (read_socket(c))
                return -1;
    }
}

/* Dispatches every complete envelope already buffered (the handshake may leave some). */
static void dispatch_buffered(struct ctl *c)
{
    Moat__Envelope *e = NULL;
    while (!c->link_lost && !c->quit && next_envelope(c, &e) > 0) {
        dispatch(c, e);
        moat__envelope__free_unpacked(e, NULL);
    }
}

static void main_loop(struct ctl *c)
{
    c->next_hb = now_ms();
    while (!c->quit && !c->link_lost) {
        dispatch_buffered(c);
        send_heartbeat_if_due(c);
        drain_resolves(c);
        int64_t now = now_ms();
        if (!c->link_lost)
            flowctl_poll(&c->fc, now, false);
        if (!c->link_lost && dp_trace_busy(&c->trace))
            dp_trace_drain(&c->trace, &c->fc, c->dp.unix_offset_ms * 1000000, fc_send, c);
        if (c->link_lost)
            break;
        int64_t until = c->next_hb;
        if (dp_trace_busy(&c->trace) && now + DP_TRACE_POLL_MS < until)
            until = now + DP_TRACE_POLL_MS;
        int64_t fl = flowctl_next_ms(&c->fc, now);
        if (fl < until)
            until = fl;
        int64_t wait = until - now;
        if (wait < 0)
            wait = 0;
        struct pollfd p[3] = {
            {.fd = c->fd, .events = POLLIN},
            {.fd = c->sigfd, .events = POLLIN},
            {.fd = c->dp.ctl_evfd, .events = POLLIN},
        };
        if (poll(p, 3, (int)wait) < 0) {
            if (errno == EINTR)
                continue;
            log_err("poll: %s", strerror(errno));
            c->link_lost = true;
            break;
        }
        if ((p[1].revents & POLLIN) && signal_pending(c))
            break;
        if (p[2].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(c->dp.ctl_evfd, &v, sizeof(v));
            (void)r;
        }
        if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && read_socket(c))
            break;
    }
}

int control_run(const char *run_dir, int sigfd)
{
    struct ctl c;
    memset(&c, 0, sizeof(c));
    c.run_dir = run_dir;
    c.fd = -1;
    c.sigfd = sigfd;
    c.hb_ms = DP_DEF_HEARTBEAT_MS;
    c.hello_workers = default_workers();
    c.dp.xskmap_fd = -1;
    c.dp.progress = progress_cb;
    c.dp.trace = &c.trace;
    c.dp.progress_arg = &c;
    atomic_init(&c.dp.tables, NULL);
    atomic_init(&c.dp.epoch, 0);
    atomic_init(&c.dp.stop, 0);
    if (getrandom(&c.dp.flow_seed, sizeof(c.dp.flow_seed), 0) != sizeof(c.dp.flow_seed))
        c.dp.flow_seed = (uint64_t)now_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    {
        struct timespec rt, mt;
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mt);
        c.dp.unix_offset_ms =
            ((int64_t)rt.tv_sec - mt.tv_sec) * 1000 + ((int64_t)rt.tv_nsec - mt.tv_nsec) / 1000000;
    }

    int n = snprintf(c.sock_path, sizeof(c.sock_path), "%s/dataplane.sock", run_dir);
    if (n < 0 || (size_t)n >= sizeof(c.sock_path)) {
        log_err("run directory path too long for a unix socket: %s", run_dir);
        return 1;
    }
    int err = stats_open(&c.stats, run_dir);
    if (err) {
        log_err("cannot create %s/%s: %s", run_dir, MOAT_STATS_FILE, strerror(-err));
        return 1;
    }
    c.dp.stats = c.stats.map;
    c.dp.ctl_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c.dp.ctl_evfd < 0) {
        log_err("eventfd: %s", strerror(errno));
        stats_close(&c.stats);
        return 1;
    }
    if (dp_trace_init(&c.trace) != 0 || flowctl_init(&c.fc, &c.dp, fc_send, &c) != 0) {
        dp_trace_free(&c.trace);
        log_err("out of memory");
        close(c.dp.ctl_evfd);
        stats_close(&c.stats);
        return 1;
    }
    frame_reader_init(&c.rd, FRAME_MAX_DEFAULT);

    int status = 1;
    if (connect_loop(&c) == 1) {
        status = 0;
        goto out;
    }
    int hs = handshake(&c);
    if (hs == 1) {
        status = 0;
        goto out;
    }
    if (hs < 0)
        goto out;
    main_loop(&c);
    status = c.quit && !c.link_lost ? 0 : 1;
out:
    if (c.configured)
        log_info("stopping the workers and closing the XSKs");
    stop_dataplane(&c);
    if (!c.link_lost && c.fd >= 0)
        flowctl_poll(&c.fc, now_ms(), true); /* the last deltas */
    flowctl_free(&c.fc);
    dp_trace_free(&c.trace);
    dp_publish_tables(&c.dp, NULL, false, false);
    frame_reader_free(&c.rd);
    if (c.fd >= 0)
        close(c.fd);
    close(c.dp.ctl_evfd);
    stats_close(&c.stats);
    return status;
}
