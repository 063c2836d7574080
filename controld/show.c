/* SPDX-License-Identifier: MIT */
#include "show.h"
#include "trace_flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "legacy.h"
#include "log.h"

#include "commit.h"
#include "counters.h"
#include "helper.h"
#include "ha/ha.h"
#include "history.h"
#include "netlink.h"

static void fmt_mac(const uint8_t *m, char *out)
{
    sprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void fmt_addr(uint8_t family, const uint8_t *a, char *out, size_t len)
{
    inet_ntop(family == 6 ? AF_INET6 : AF_INET, a, out, (socklen_t)len);
}

/* ---- show system status ---- */

static int show_system_status(struct controld *c, bool json, struct strbuf *o)
{
    enum helper_state hs = helper_get_state(c->helper);
    const char *helper = hs == HELPER_DOWN ? "down" : "running";
    uint64_t up = (ctl_now_ms() - c->started_at_ms) / 1000;
    if (json) {
        strbuf_printf(o, "{\"mode\":");
        strbuf_json_str(o, c->mode);
        strbuf_printf(o, ",\"reason\":");
        strbuf_json_str(o, c->mode_reason);
        strbuf_printf(o, ",\"interfaces\":[");
        for (unsigned i = 0; i < c->n_ifaces; i++) {
            const struct ctl_iface *ifc = &c->ifaces[i];
            strbuf_printf(o, "%s{\"name\":", i ? "," : "");
            strbuf_json_str(o, ifc->name);
            strbuf_printf(o,
                          ",\"mode\":\"%s\",\"armed\":%s,\"operator_disarmed\":%s,"
                          "\"mode_switches\":%llu,\"reason\":",
                          cap_mode_name(ifc->dp_mode), ifc->armed ? "true" : "false",
                          ifc->op_disarmed ? "true" : "false",
                          (unsigned long long)ifc->mode_switches);
            strbuf_json_str(o, ifc->dp_reason);
            strbuf_printf(o, "}");
        }
        char ks[768];
        cap_kernel_summary(&c->cap, ks, sizeof(ks));
        strbuf_printf(o, "],\"kernel\":");
        strbuf_json_str(o, ks);
        strbuf_printf(o, ",\"mode_switches\":%llu", (unsigned long long)c->mode_switches);
        strbuf_printf(o,
                      ",\"forwarding\":\"%s\",\"generation\":%llu,\"applied_generation\":%llu,"
                      "\"helper\":\"%s\",\"helper_state\":\"%s\",\"helper_pid\":%u,"
                      "\"phase\":\"%s\",\"uptime_s\":%llu,",
                      c->armed ? "armed" : "disarmed", (unsigned long long)c->generation,
                      (unsigned long long)c->applied_generation, helper, helper_state_name(hs),
                      helper_pid(c->helper), c->phase, (unsigned long long)up);
        strbuf_printf(
            o,
            "\"counters\":{\"helper_connects\":%llu,\"helper_disconnects\":%llu,"
            "\"helper_spawns\":%llu,\"arms\":%llu,\"disarms\":%llu,"
            "\"heartbeats_rx\":%llu,\"heartbeat_timeouts\":%llu,"
            "\"snapshots_pushed\":%llu,\"neighbor_updates_sent\":%llu,"
            "\"resolve_requests\":%llu,\"malformed_frames\":%llu,"
            "\"session_log_lines\":%llu,\"handover_sessions\":%llu,\"handover_late\":%llu,"
            "\"handover_rounds\":%llu,\"handover_failed\":%llu,\"mixed_seeds\":%llu,"
            "\"mixed_installs\":%llu,\"mixed_installs_acked\":%llu,"
            "\"mixed_installs_failed\":%llu,\"mixed_arm_handovers\":%llu},\"sessions\":%u,"
            "\"commit\":",
            (unsigned long long)c->helper_connects, (unsigned long long)c->helper_disconnects,
            (unsigned long long)c->helper_spawns, (unsigned long long)c->arms,
            (unsigned long long)c->disarms, (unsigned long long)c->heartbeats_rx,
            (unsigned long long)c->heartbeat_timeouts, (unsigned long long)c->snapshots_pushed,
            (unsigned long long)c->neigh_updates_sent, (unsigned long long)c->resolve_requests,
            (unsigned long long)c->malformed_frames, (unsigned long long)c->session_log_lines,
            (unsigned long long)c->handover.sessions, (unsigned long long)c->handover.late,
            (unsigned long long)c->handover.rounds, (unsigned long long)c->handover.failed,
            (unsigned long long)c->handover.seeds, (unsigned long long)c->handover.live,
            (unsigned long long)c->handover.live_acked, (unsigned long long)c->handover.live_failed,
            (unsigned long long)c->handover.partial_arms, c->mirror.count);
        commit_status_line(c, o, true);
        strbuf_printf(o, "}\n");
        return 0;
    }
    strbuf_printf(o, "mode: %s\n", c->mode);
    strbuf_printf(o, "reason: %s\n", c->mode_reason);
    /* Capability gate: one line per interface, with every reason (gate.c). */
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        const struct ctl_iface *ifc = &c->ifaces[i];
        strbuf_printf(o, "%s: %s%s\n", ifc->name, ifc->dp_reason,
                      ifc->op_disarmed ? " [disarmed by the operator]" : "");
    }
    strbuf_printf(o, "forwarding: %s\n", c->armed ? "armed" : "disarmed");
    strbuf_printf(o, "generation: %llu\n", (unsigned long long)c->applied_generation);
    if (hs == HELPER_DOWN)
        strbuf_printf(o, "helper: down\n");
    else
        strbuf_printf(o,
                      "helper: running (pid %u, %s, connected %llus, last heartbeat %llu ms ago)\n",
                      helper_pid(c->helper), helper_state_name(hs),
                      (unsigned long long)helper_connected_ms(c->helper) / 1000,
                      (unsigned long long)helper_last_heartbeat_age_ms(c->helper));
    strbuf_printf(o, "phase: %s\n", c->phase);
    strbuf_printf(o, "config: %s (host-name %s)\n", c->config_path,
                  c->cfg->system.host_name[0] ? c->cfg->system.host_name : "-");
    strbuf_printf(o, "uptime: %llus\n", (unsigned long long)up);
    strbuf_printf(o, "helper connects: %llu, disconnects: %llu, spawns: %llu\n",
                  (unsigned long long)c->helper_connects, (unsigned long long)c->helper_disconnects,
                  (unsigned long long)c->helper_spawns);
    strbuf_printf(o, "arms: %llu, disarms: %llu, heartbeat timeouts: %llu\n",
                  (unsigned long long)c->arms, (unsigned long long)c->disarms,
                  (unsigned long long)c->heartbeat_timeouts);
    strbuf_printf(o,
                  "kernel-path sessions handed over at arming: %llu before arming, %llu late "
                  "(in %llu rounds), %llu failed\n",
                  (unsigned long long)c->handover.sessions, (unsigned long long)c->handover.late,
                  (unsigned long long)c->handover.rounds, (unsigned long long)c->handover.failed);
    strbuf_printf(o,
                  "some interfaces armed, others not: kernel path seeded %llu times, sessions it "
                  "created sent to the helper %llu (acknowledged %llu, failed %llu), armings "
                  "after a handover %llu\n",
                  (unsigned long long)c->handover.seeds, (unsigned long long)c->handover.live,
                  (unsigned long long)c->handover.live_acked,
                  (unsigned long long)c->handover.live_failed,
                  (unsigned long long)c->handover.partial_arms);
    {
        char ks[768];
        cap_kernel_summary(&c->cap, ks, sizeof(ks));
        strbuf_printf(o, "kernel: %s\n", ks);
        strbuf_printf(o, "mode switches: %llu\n", (unsigned long long)c->mode_switches);
    }
    strbuf_printf(o,
                  "snapshots pushed: %llu, neighbour updates sent: %llu, resolve requests: "
                  "%llu, malformed frames: %llu\n",
                  (unsigned long long)c->snapshots_pushed,
                  (unsigned long long)c->neigh_updates_sent,
                  (unsigned long long)c->resolve_requests, (unsigned long long)c->malformed_frames);
    strbuf_printf(o, "sessions: %u mirrored (maximum %u), session log lines: %llu\n",
                  c->mirror.count, c->mirror.max, (unsigned long long)c->session_log_lines);
    commit_status_line(c, o, false);
    return 0;
}

/* ---- shim counters ---- */

#define SHIM_FIELDS(X)                                                                             \
    X(rx)                                                                                          \
    X(redirect)                                                                                    \
    X(redirect_err)                                                                                \
    X(host_pass)                                                                                   \
    X(tail_call)                                                                                   \
    X(fallback_pass)                                                                               \
    X(no_xsk)                                                                                      \
    X(drop_malformed)                                                                              \
    X(drop_other)                                                                                  \
    X(unmanaged)                                                                                   \
    X(drop_host_inbound)                                                                           \
    X(drop_standby)

static void shim_text(struct strbuf *o, const struct moat_shim_stats *s, const char *indent)
{
    strbuf_printf(o, "%sshim:", indent);
#define X(f) strbuf_printf(o, " %s %llu", #f, (unsigned long long)s->f);
    SHIM_FIELDS(X)
#undef X
    strbuf_printf(o, "\n");
}

static void shim_json(struct strbuf *o, const struct moat_shim_stats *s)
{
    strbuf_printf(o, "{");
    const char *sep = "";
#define X(f)                                                                                       \
    strbuf_printf(o, "%s\"%s\":%llu", sep, #f, (unsigned long long)s->f);                          \
    sep = ",";
    SHIM_FIELDS(X)
#undef X
    strbuf_printf(o, "}");
}

/* ---- show interfaces ---- */

static int show_interfaces(struct controld *c, bool json, struct strbuf *o)
{
    if (json)
        strbuf_printf(o, "{\"interfaces\":[");
    else
        strbuf_printf(o, "%-12s %-7s %-5s %-6s %-17s %-8s %-22s %-10s %-13s %-16s %s\n",
                      "Interface", "Ifindex", "Link", "MTU", "MAC", "XDP", "Program", "Path",
                      "Armed", "XSK per queue", "Last error");
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        char mac[18];
        fmt_mac(ifc->mac, mac);
        struct moat_shim_stats st = {0};
        if (c->bpf && ifc->ifindex)
            bootstrap_read_shim_stats(c->bpf, ifc->slot, &st);
        const char *err = ifc->attach_error[0] ? ifc->attach_error : ifc->bind_error_text;
        /* The program the kernel has attached (whoever put it there), not what we think. */
        enum xdp_attach_mode kmode = MOAT_XDP_NONE;
        uint32_t prog_id = 0;
        char pname[32] = "";
        if (ifc->ifindex)
            bootstrap_query_attached(ifc->ifindex, &kmode, &prog_id, pname, sizeof(pname));
        char prog[48];
        if (prog_id)
            snprintf(prog, sizeof(prog), "%s (id %u)", pname[0] ? pname : "?", prog_id);
        else
            snprintf(prog, sizeof(prog), "none");
        char xsk[128] = "";
        size_t xl = 0;
        for (uint32_t q = 0; q < ifc->queues && q < MOAT_MAX_QUEUES; q++) {
            int n = snprintf(xsk + xl, sizeof(xsk) - xl, "%sq%u:%s", q ? "," : "", q,
                             ifc->q_xsk[q][0] ? ifc->q_xsk[q] : "unbound");
            if (n < 0 || (size_t)n >= sizeof(xsk) - xl)
                break;
            xl += (size_t)n;
        }
        if (!xsk[0])
            snprintf(xsk, sizeof(xsk), "-");
        /* Per queue, the helper's number of its socket's bind: a socket not rebound keeps
         * it (a link cycle of another interface must leave it alone). */
        char gens[160] = "";
        size_t gl = 0;
        for (uint32_t q = 0; q < ifc->queues && q < MOAT_MAX_QUEUES; q++) {
            unsigned long long g = (unsigned long long)ifc->q_bind_gen[q];
            int n = json ? snprintf(gens + gl, sizeof(gens) - gl, "%s%llu", q ? "," : "", g)
                         : snprintf(gens + gl, sizeof(gens) - gl, "%sq%u:%llu", q ? "," : "", q, g);
            if (n < 0 || (size_t)n >= sizeof(gens) - gl)
                break;
            gl += (size_t)n;
        }
        const char *armed = ifc->armed ? "yes" : ifc->op_disarmed ? "no (operator)" : "no";
        if (json) {
            strbuf_printf(o, "%s{\"name\":", i ? "," : "");
            strbuf_json_str(o, ifc->name);
            strbuf_printf(o,
                          ",\"ifindex\":%u,\"link\":\"%s\",\"mtu\":%u,\"mac\":\"%s\","
                          "\"xdp_mode\":\"%s\",\"kernel_xdp_mode\":\"%s\",\"program\":",
                          ifc->ifindex, ifc->link_up ? "up" : "down", ifc->mtu, mac,
                          xdp_attach_mode_name(ifc->xdp_mode), xdp_attach_mode_name(kmode));
            strbuf_json_str(o, pname);
            strbuf_printf(o,
                          ",\"program_id\":%u,\"slot\":%u,\"path\":\"%s\",\"armed\":%s,"
                          "\"operator_disarmed\":%s,\"xsk_mode\":\"%s\",\"xsk_bound\":%u,"
                          "\"queues\":%u,\"xsk_queues\":[",
                          prog_id, ifc->slot, cap_mode_name(ifc->dp_mode),
                          ifc->armed ? "true" : "false", ifc->op_disarmed ? "true" : "false",
                          ifc->xsk_mode[0] ? ifc->xsk_mode : "unbound", ifc->xsk_bound,
                          ifc->queues);
            for (uint32_t q = 0; q < ifc->queues && q < MOAT_MAX_QUEUES; q++)
                strbuf_printf(o, "%s\"%s\"", q ? "," : "",
                              ifc->q_xsk[q][0] ? ifc->q_xsk[q] : "unbound");
            strbuf_printf(o, "],\"xsk_bind_gen\":[%s", gens);
            strbuf_printf(o, "],\"bind_error\":%d,\"zerocopy_error\":\"%s\",\"last_error\":",
                          ifc->bind_error, ifc->zc_err ? cap_errno_name(ifc->zc_err) : "");
            strbuf_json_str(o, err);
            strbuf_printf(o, ",\"link_epoch\":%u,\"rebinds\":%llu,\"reattaches\":%llu",
                          ifc->link_epoch, (unsigned long long)ifc->rebinds,
                          (unsigned long long)ifc->reattaches);
            strbuf_printf(o, ",\"path_reason\":");
            strbuf_json_str(o, ifc->dp_reason);
            strbuf_printf(o, ",\"shim\":");
            shim_json(o, &st);
            strbuf_printf(o, "}");
        } else {
            strbuf_printf(o, "%-12s %-7u %-5s %-6u %-17s %-8s %-22s %-10s %-13s %-16s %s\n",
                          ifc->name, ifc->ifindex, ifc->link_up ? "up" : "down", ifc->mtu, mac,
                          xdp_attach_mode_name(kmode), prog, cap_mode_name(ifc->dp_mode), armed,
                          xsk, err[0] ? err : "-");
            strbuf_printf(o, "    path: %s\n", ifc->dp_reason);
            strbuf_printf(o,
                          "    link: epoch %u, XSK rebinds %llu, shim re-attaches %llu, XSK bind "
                          "numbers %s\n",
                          ifc->link_epoch, (unsigned long long)ifc->rebinds,
                          (unsigned long long)ifc->reattaches, gens[0] ? gens : "-");
            shim_text(o, &st, "    ");
        }
    }
    if (json)
        strbuf_printf(o, "]}\n");
    return 0;
}

/* ---- request dataplane arm|disarm [interface] ---- */

static int request_dataplane(struct controld *c, bool arm, const char *ifname, struct strbuf *out,
                             struct strbuf *err)
{
    char msg[1024];
    int rc = gate_operator_arm(c, ifname, arm, msg, sizeof(msg));
    if (rc) {
        strbuf_printf(err, "%s refused: %s", arm ? "arm" : "disarm", msg);
        return rc;
    }
    strbuf_printf(out, "%s %s\n", ifname ? ifname : "every interface",
                  arm ? "armed" : "disarmed (transit traffic takes the legacy path)");
    return 0;
}

/* ---- show route ---- */

static const struct ctl_neigh *neigh_lookup(struct controld *c, uint8_t family, const uint8_t *addr,
                                            uint32_t ifindex)
{
    size_t alen = family == 6 ? 16 : 4;
    for (unsigned i = 0; i < c->n_neigh; i++) {
        if (c->neigh[i].family == family && c->neigh[i].ifindex == ifindex &&
            memcmp(c->neigh[i].addr, addr, alen) == 0)
            return &c->neigh[i];
    }
    return NULL;
}

static int show_route(struct controld *c, bool json, struct strbuf *o)
{
    Moat__Snapshot *s = snapshot_build(c);
    if (!s)
        return -ENOMEM;
    if (json)
        strbuf_printf(o, "{\"routes\":[");
    else
        strbuf_printf(o, "%-24s %-12s %-26s %-12s %s\n", "Destination", "Kind", "Next hop",
                      "Interface", "Neighbour");
    for (size_t i = 0; i < s->n_routes; i++) {
        const Moat__Route *r = s->routes[i];
        uint8_t fam = r->dst->addr.len == 16 ? 6 : 4;
        char dst[INET6_ADDRSTRLEN], gw[INET6_ADDRSTRLEN] = "";
        fmt_addr(fam, r->dst->addr.data, dst, sizeof(dst));
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "%s/%u", dst, r->dst->len);
        if (r->gateway.len)
            fmt_addr(fam, r->gateway.data, gw, sizeof(gw));
        const char *ifname = "?";
        struct ctl_iface *ifc = ctl_iface_by_ifindex(c, r->ifindex);
        if (ifc)
            ifname = ifc->name;
        char neigh[64] = "-";
        if (r->gateway.len) {
            const struct ctl_neigh *n = neigh_lookup(c, fam, r->gateway.data, r->ifindex);
            if (n) {
                char mac[18];
                fmt_mac(n->mac, mac);
                snprintf(neigh, sizeof(neigh), "%s %s", mac, netlink_neigh_state_name(n->state));
            } else {
                snprintf(neigh, sizeof(neigh), "unresolved");
            }
        }
        const char *kind = r->kind == MOAT__ROUTE_KIND__ROUTE_STATIC ? "static" : "connected";
        if (json) {
            strbuf_printf(o,
                          "%s{\"destination\":\"%s\",\"kind\":\"%s\",\"next_hop\":\"%s\","
                          "\"interface\":\"%s\",\"neighbor\":\"%s\"}",
                          i ? "," : "", prefix, kind, gw[0] ? gw : "", ifname, neigh);
        } else {
            strbuf_printf(o, "%-24s %-12s %-26s %-12s %s\n", prefix, kind, gw[0] ? gw : "direct",
                          ifname, neigh);
        }
    }
    if (json)
        strbuf_printf(o, "],\"neighbors\":[");
    else
        strbuf_printf(o, "\nNeighbours (%u):\n", c->n_neigh);
    for (unsigned i = 0; i < c->n_neigh; i++) {
        const struct ctl_neigh *n = &c->neigh[i];
        char a[INET6_ADDRSTRLEN], mac[18];
        fmt_addr(n->family, n->addr, a, sizeof(a));
        fmt_mac(n->mac, mac);
        struct ctl_iface *ifc = ctl_iface_by_ifindex(c, n->ifindex);
        if (json)
            strbuf_printf(o,
                          "%s{\"address\":\"%s\",\"mac\":\"%s\",\"interface\":\"%s\","
                          "\"state\":\"%s\"}",
                          i ? "," : "", a, mac, ifc ? ifc->name : "?",
                          netlink_neigh_state_name(n->state));
        else
            strbuf_printf(o, "  %-40s %s %-12s %s\n", a, mac, ifc ? ifc->name : "?",
                          netlink_neigh_state_name(n->state));
    }
    if (json)
        strbuf_printf(o, "]}\n");
    snapshot_free(s);
    return 0;
}

/* ---- show dataplane statistics ---- */

#define WORKER_FIELDS(X)                                                                           \
    X(rx_packets)                                                                                  \
    X(rx_bytes)                                                                                    \
    X(tx_packets)                                                                                  \
    X(tx_bytes)                                                                                    \
    X(tx_completed)                                                                                \
    X(tx_kicks)                                                                                    \
    X(tx_kick_errors)                                                                              \
    X(tx_ring_full)                                                                                \
    X(pending_tx_drops)                                                                            \
    X(fill_level)                                                                                  \
    X(fill_empty_events)                                                                           \
    X(rx_alloc_errors)                                                                             \
    X(pending_tx_local)                                                                            \
    X(pending_tx_local_hwm)                                                                        \
    X(pending_tx_prepared)                                                                         \
    X(pending_tx_prepared_hwm)                                                                     \
    X(parse_errors)                                                                                \
    X(forwarded)                                                                                   \
    X(fib_miss)                                                                                    \
    X(neigh_miss)                                                                                  \
    X(resolve_requests)                                                                            \
    X(ttl_expired)                                                                                 \
    X(mtu_drops)                                                                                   \
    X(no_egress_xsk)                                                                               \
    X(session_hit)                                                                                 \
    X(shared_hit)                                                                                  \
    X(nat_reverse_hit)                                                                             \
    X(session_miss)                                                                                \
    X(policy_deny)                                                                                 \
    X(loops)                                                                                       \
    X(idle_polls)                                                                                  \
    X(generation)                                                                                  \
    X(xsk_rx_dropped)                                                                              \
    X(xsk_rx_ring_full)                                                                            \
    X(xsk_fill_ring_empty)                                                                         \
    X(xsk_tx_invalid)                                                                              \
    X(sessions_active)                                                                             \
    X(sessions_created)                                                                            \
    X(sessions_closed_aged)                                                                        \
    X(sessions_closed_tcp)                                                                         \
    X(sessions_closed_other)                                                                       \
    X(session_table_full)                                                                          \
    X(non_syn_drops)                                                                               \
    X(tcp_invalid)                                                                                 \
    X(icmp_error_related)                                                                          \
    X(deltas_produced)                                                                             \
    X(deltas_dropped)                                                                              \
    X(policy_permit)                                                                               \
    X(policy_reject)                                                                               \
    X(icmp_error_unmatched)                                                                        \
    X(session_conflicts)                                                                           \
    X(frag_drops)                                                                                  \
    X(rejects_sent)                                                                                \
    X(icmp_errors_sent)                                                                            \
    X(nat_sessions)                                                                                \
    X(nat_alloc_failures)                                                                          \
    X(nat_icmp_errors)

/* Copies the helper's counters out of RUN_DIR/dataplane.stats. */
static int read_dp_stats(struct controld *c, struct moat_dp_stats *out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", c->run_dir, MOAT_STATS_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(*out)) {
        close(fd);
        return -EBADMSG;
    }
    void *p = mmap(NULL, sizeof(*out), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -errno;
    memcpy(out, p, sizeof(*out));
    munmap(p, sizeof(*out));
    if (out->magic != MOAT_STATS_MAGIC || out->version != MOAT_STATS_VERSION)
        return -EBADMSG;
    if (out->nworkers > MOAT_MAX_WORKERS)
        out->nworkers = MOAT_MAX_WORKERS;
    return 0;
}

void show_worker_counters(const struct moat_worker_stats *ws, show_counter_fn fn, void *arg)
{
#define X(f) fn(#f, ws->f, arg);
    WORKER_FIELDS(X)
#undef X
}

void show_shim_counters(const struct moat_shim_stats *s, show_counter_fn fn, void *arg)
{
#define X(f) fn(#f, s->f, arg);
    SHIM_FIELDS(X)
#undef X
}

int show_read_dp_stats(struct controld *c, struct moat_dp_stats *out)
{
    return read_dp_stats(c, out);
}

/*
 * clear dataplane statistics: a baseline of every monotonic counter, per worker (for one
 * helper run: a new helper starts from zero anyway) and per interface slot (for one ifindex).
 * show subtracts it; gauges and high-water marks are shown as they are, and the Prometheus
 * endpoint always exports the raw, monotonic values.
 */
static struct {
    bool workers_set;
    uint64_t boot_id;
    struct moat_worker_stats w[MOAT_MAX_WORKERS];
    uint32_t shim_ifindex[MOAT_MAX_IFACES]; /* 0: no baseline for the slot */
    struct moat_shim_stats shim[MOAT_MAX_IFACES];
    uint64_t cleared_ms; /* ctl_now_ms() of the last clear, 0: never */
} stats_base;

bool show_worker_field_is_gauge(const char *name)
{
    static const char *const g[] = {
        "fill_level",          "pending_tx_local",        "pending_tx_local_hwm",
        "pending_tx_prepared", "pending_tx_prepared_hwm", "generation",
        "sessions_active"};
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        if (strcmp(name, g[i]) == 0)
            return true;
    }
    return false;
}

static uint64_t since(uint64_t now, uint64_t base)
{
    return now >= base ? now - base : now; /* a counter that went back started over */
}

static void worker_view(struct moat_worker_stats *v, const struct moat_dp_stats *ds, unsigned w)
{
    *v = ds->worker[w];
    if (!stats_base.workers_set || stats_base.boot_id != ds->boot_id)
        return;
    const struct moat_worker_stats *b = &stats_base.w[w];
#define X(f)                                                                                       \
    if (!show_worker_field_is_gauge(#f))                                                           \
        v->f = since(v->f, b->f);
    WORKER_FIELDS(X)
#undef X
}

static void shim_view(struct moat_shim_stats *v, const struct ctl_iface *ifc)
{
    if (ifc->slot >= MOAT_MAX_IFACES || stats_base.shim_ifindex[ifc->slot] != ifc->ifindex ||
        !ifc->ifindex)
        return;
    const struct moat_shim_stats *b = &stats_base.shim[ifc->slot];
#define X(f) v->f = since(v->f, b->f);
    SHIM_FIELDS(X)
#undef X
}

static int clear_dataplane_statistics(struct controld *c, bool json, struct strbuf *o)
{
    unsigned nif = 0;
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        const struct ctl_iface *ifc = &c->ifaces[i];
        if (!c->bpf || !ifc->ifindex || ifc->slot >= MOAT_MAX_IFACES ||
            bootstrap_read_shim_stats(c->bpf, ifc->slot, &stats_base.shim[ifc->slot]) < 0)
            continue;
        stats_base.shim_ifindex[ifc->slot] = ifc->ifindex;
        nif++;
    }
    struct moat_dp_stats ds = {0};
    const bool have = read_dp_stats(c, &ds) == 0;
    if (have) {
        memcpy(stats_base.w, ds.worker, sizeof(stats_base.w));
        stats_base.boot_id = ds.boot_id;
        stats_base.workers_set = true;
    }
    stats_base.cleared_ms = ctl_now_ms();
    log_info("dataplane statistics cleared (%u interfaces, %u workers)", nif,
             have ? ds.nworkers : 0);
    if (json)
        strbuf_printf(o, "{\"cleared\":{\"interfaces\":%u,\"workers\":%u}}\n", nif,
                      have ? ds.nworkers : 0);
    else
        strbuf_printf(o, "dataplane statistics cleared: %u interfaces, %u workers\n", nif,
                      have ? ds.nworkers : 0);
    return 0;
}

/* show dataplane statistics [interface NAME | worker N] */
static int show_dataplane_statistics(struct controld *c, const char *const *args, size_t nargs,
                                     bool json, struct strbuf *o, struct strbuf *e)
{
    const char *only_if = NULL;
    long only_w = -1;
    if (nargs == 2 && strcmp(args[0], "interface") == 0) {
        only_if = args[1];
        bool known = false;
        for (unsigned i = 0; i < c->n_ifaces; i++)
            known |= strcmp(c->ifaces[i].name, only_if) == 0;
        if (!known) {
            strbuf_printf(e,
                          "interface \"%s\" is not one Moat manages (see moatctl show "
                          "interfaces)",
                          only_if);
            return 2;
        }
    } else if (nargs == 2 && strcmp(args[0], "worker") == 0) {
        char *end;
        only_w = strtol(args[1], &end, 10);
        if (*end || !args[1][0] || only_w < 0 || only_w >= MOAT_MAX_WORKERS) {
            strbuf_printf(e, "worker \"%s\" is not a worker number 0..%d", args[1],
                          MOAT_MAX_WORKERS - 1);
            return 2;
        }
    } else if (nargs != 0) {
        strbuf_printf(e, "show dataplane statistics takes: interface NAME, or worker N");
        return 2;
    }
    if (json)
        strbuf_printf(o, "{\"cleared_seconds_ago\":%lld,\"interfaces\":[",
                      stats_base.cleared_ms
                          ? (long long)((ctl_now_ms() - stats_base.cleared_ms) / 1000)
                          : -1LL);
    else if (stats_base.cleared_ms)
        strbuf_printf(o,
                      "Counters since clear dataplane statistics, %llu s ago (gauges and "
                      "high-water marks as they are)\n",
                      (unsigned long long)((ctl_now_ms() - stats_base.cleared_ms) / 1000));
    if (!json && only_w < 0)
        strbuf_printf(o, "Shim (XDP) decisions per interface:\n");
    bool first_if = true;
    for (unsigned i = 0; i < c->n_ifaces && only_w < 0; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        if (only_if && strcmp(ifc->name, only_if) != 0)
            continue;
        struct moat_shim_stats st = {0};
        if (c->bpf && ifc->ifindex && bootstrap_read_shim_stats(c->bpf, ifc->slot, &st) == 0)
            shim_view(&st, ifc);
        if (json) {
            strbuf_printf(o, "%s{\"name\":", first_if ? "" : ",");
            first_if = false;
            strbuf_json_str(o, ifc->name);
            strbuf_printf(o, ",\"armed\":%s,\"shim\":", ifc->armed ? "true" : "false");
            shim_json(o, &st);
            strbuf_printf(o, "}");
        } else {
            strbuf_printf(o, "  %s (%s):\n", ifc->name, ifc->armed ? "armed" : "disarmed");
            shim_text(o, &st, "    ");
        }
    }
    struct moat_dp_stats ds = {0};
    int err = only_if ? -ENODATA : read_dp_stats(c, &ds);
    if (json) {
        strbuf_printf(o, "],\"helper_stats\":%s,\"workers\":[", err ? "false" : "true");
    } else if (only_if) {
        /* Workers serve every interface's queues: their counters are not per interface. */
    } else if (err) {
        strbuf_printf(o, "\nWorkers: no counters (%s/%s: %s)\n", c->run_dir, MOAT_STATS_FILE,
                      err == -ENOENT ? "the helper has not started" : strerror(-err));
    } else {
        strbuf_printf(o, "\nWorkers (helper pid %u, generation %llu):\n", ds.pid,
                      (unsigned long long)ds.generation);
    }
    if (!err && only_w >= (long)ds.nworkers) {
        strbuf_printf(e, "worker %ld does not run (the helper has %u)", only_w, ds.nworkers);
        return 2;
    }
    bool first_w = true;
    for (unsigned w = 0; !err && w < ds.nworkers; w++) {
        if (only_w >= 0 && w != (unsigned)only_w)
            continue;
        struct moat_worker_stats view;
        worker_view(&view, &ds, w);
        const struct moat_worker_stats *ws = &view;
        if (json) {
            strbuf_printf(o, "%s{\"worker\":%u", first_w ? "" : ",", w);
            first_w = false;
#define X(f) strbuf_printf(o, ",\"%s\":%llu", #f, (unsigned long long)ws->f);
            WORKER_FIELDS(X)
#undef X
            strbuf_printf(o, "}");
        } else {
            strbuf_printf(o, "  worker %u:\n", w);
            unsigned col = 0;
#define X(f)                                                                                       \
    strbuf_printf(o, "%s%-24s %12llu", col % 3 == 0 ? "    " : "  ", #f,                           \
                  (unsigned long long)ws->f);                                                      \
    if (++col % 3 == 0)                                                                            \
        strbuf_printf(o, "\n");
            WORKER_FIELDS(X)
#undef X
            if (col % 3)
                strbuf_printf(o, "\n");
        }
    }
    if (json)
        strbuf_printf(o, "]");
    legacy_render_stats(c->legacy, json, o); /* the legacy path's counters */
    if (json)
        strbuf_printf(o, "}\n");
    return 0;
}

/* ---- configuration and commits ---- */

static int show_configuration(struct controld *c, bool set, struct strbuf *out, struct strbuf *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        strbuf_printf(err, "out of memory");
        return 1;
    }
    if (set)
        config_print_set(c->cfg, f);
    else
        config_print_tree(c->cfg, f);
    fclose(f);
    strbuf_printf(out, "%s", text ? text : "");
    free(text);
    return 0;
}

/* A rollback number or a count: decimal, no sign, at most max. */
static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    if (!s[0] || s[0] < '0' || s[0] > '9')
        return -EINVAL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v > max)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

/* commit [check | confirmed N | comment TEXT]... */
static int do_commit(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                     size_t nargs, struct strbuf *out, struct strbuf *err)
{
    if (nargs == 1 && strcmp(args[0], "check") == 0)
        return commit_check(c, out, err);
    struct commit_request r = {.via = "moatctl", .uid = ctx->uid, .cl = ctx->cl};
    char comment[200];
    for (size_t i = 0; i < nargs; i++) {
        if (strcmp(args[i], "confirmed") == 0) {
            if (i + 1 >= nargs || parse_uint(args[i + 1], COMMIT_CONFIRM_MAX, &r.confirm) < 0 ||
                r.confirm == 0) {
                strbuf_printf(err,
                              "commit confirmed needs a number of minutes, 1..%u "
                              "(e.g. commit confirmed 5)",
                              COMMIT_CONFIRM_MAX);
                return 2;
            }
            i++;
        } else if (strcmp(args[i], "comment") == 0) {
            if (i + 1 >= nargs) {
                strbuf_printf(err, "commit comment needs a text (quote it: commit "
                                   "comment \"why\")");
                return 2;
            }
            snprintf(comment, sizeof(comment), "%s", args[++i]);
            r.comment = comment;
        } else {
            strbuf_printf(err,
                          "unexpected \"%s\" after commit (use: commit check | commit "
                          "[confirmed MINUTES] [comment TEXT])",
                          args[i]);
            return 2;
        }
    }
    char both[sizeof(comment) + 32];
    if (r.comment && r.confirm) {
        snprintf(both, sizeof(both), "commit confirmed %u: %s", r.confirm, comment);
        r.comment = both;
    }
    return commit_start(c, &r, out, err);
}

/* ---- dispatch ---- */

static bool words_are(const char *const *args, size_t nargs, const char *const *want, size_t n)
{
    if (nargs != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(args[i], want[i]) != 0)
            return false;
    }
    return true;
}

#define WORDS(...)                                                                                 \
    (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)

/* The command list, from the table moatctl completes with (common/commands.c). */
static void show_help(struct strbuf *out)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    moat_cmds_help(f);
    fclose(f);
    strbuf_printf(out, "%s", text ? text : "");
    free(text);
}

int show_dispatch(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                  size_t nargs, struct strbuf *out, struct strbuf *err)
{
    int rc = -ENOENT;
    bool json = ctx->json;
    if (nargs == 0 || words_are(args, nargs, WORDS("help"))) {
        show_help(out);
        return 0;
    }
    if (words_are(args, nargs, WORDS("show", "system", "status")))
        rc = show_system_status(c, json, out);
    else if (words_are(args, nargs, WORDS("show", "system", "commit")))
        return commit_show_history(c, json, out, err);
    else if (words_are(args, nargs, WORDS("show", "interfaces")))
        rc = show_interfaces(c, json, out);
    else if ((nargs == 3 || nargs == 4) && words_are(args, 2, WORDS("request", "dataplane")) &&
             (strcmp(args[2], "arm") == 0 || strcmp(args[2], "disarm") == 0))
        return request_dataplane(c, strcmp(args[2], "arm") == 0, nargs == 4 ? args[3] : NULL, out,
                                 err);
    else if (words_are(args, nargs, WORDS("show", "route")))
        rc = show_route(c, json, out);
    else if (nargs >= 3 && words_are(args, 3, WORDS("show", "dataplane", "statistics")))
        return show_dataplane_statistics(c, args + 3, nargs - 3, json, out, err);
    else if (words_are(args, nargs, WORDS("clear", "dataplane", "statistics")))
        return clear_dataplane_statistics(c, json, out);
    else if (words_are(args, nargs, WORDS("show", "configuration")))
        return show_configuration(c, false, out, err);
    else if (words_are(args, nargs, WORDS("show", "configuration", "|", "display", "set")) ||
             words_are(args, nargs, WORDS("show", "configuration", "display", "set")))
        return show_configuration(c, true, out, err);
    else if (nargs == 5 &&
             words_are(args, 4, WORDS("show", "configuration", "compare", "rollback"))) {
        unsigned n;
        if (parse_uint(args[4], 1000, &n) < 0) {
            strbuf_printf(err, "rollback number \"%s\" is not a number 0..%u", args[4],
                          HISTORY_KEEP - 1);
            return 2;
        }
        return commit_show_compare(c, n, json, out, err);
    } else if (nargs >= 3 && words_are(args, 2, WORDS("show", "security"))) {
        int r = show_security(c, ctx, args + 2, nargs - 2, out, err);
        if (r != -ENOENT)
            return r;
    } else if (nargs >= 3 && words_are(args, 2, WORDS("clear", "security"))) {
        int r = clear_security(c, ctx, args + 2, nargs - 2, out, err);
        if (r != -ENOENT)
            return r;
    } else if (nargs >= 3 && (words_are(args, 3, WORDS("show", "chassis", "cluster")) ||
                              words_are(args, 3, WORDS("request", "chassis", "cluster")))) {
        return ha_command(c, ctx, args, nargs, out, err);
    } else if (nargs >= 1 && strcmp(args[0], "trace") == 0) {
        return trace_flow_command(c, ctx, args + 1, nargs - 1, out, err);
    } else if (nargs >= 1 && strcmp(args[0], "commit") == 0) {
        return do_commit(c, ctx, args + 1, nargs - 1, out, err);
    } else if (nargs == 2 && strcmp(args[0], "rollback") == 0) {
        unsigned n;
        if (parse_uint(args[1], 1000, &n) < 0) {
            strbuf_printf(err, "rollback needs a number 0..%u (see show system commit)",
                          HISTORY_KEEP - 1);
            return 2;
        }
        return commit_rollback(c, n, ctx, out, err);
    }
    if (rc == -ENOENT) {
        strbuf_printf(err, "unknown command \"");
        for (size_t i = 0; i < nargs; i++)
            strbuf_printf(err, "%s%s", i ? " " : "", args[i]);
        strbuf_printf(err, "\": try \"moatctl help\"");
        return 2;
    }
    if (rc < 0) {
        strbuf_printf(err, "command failed: %s", strerror(-rc));
        return 1;
    }
    return 0;
}
