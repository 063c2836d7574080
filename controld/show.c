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
            "\"session_log_lines\":%llu},\"sessions\":%u,\"commit\":",
            (unsigned long long)c->helper_connects, (unsigned long long)c->helper_disconnects,
            (unsigned long long)c->helper_spawns, (unsigned long long)c->arms,
            (unsigned long long)c->disarms, (unsigned long long)c->heartbeats_rx,
            (unsigned long long)c->heartbeat_timeouts, (unsigned long long)c->snapshots_pushed,
            (unsigned long long)c->neigh_updates_sent, (unsigned long long)c->resolve_requests,
            (unsigned long long)c->malformed_frames, (unsigned long long)c->session_log_lines,
            c->mirror.count);
        commit_status_line(c, o, true);
        strbuf_printf(o, "}\n");
        return 0;
    }
    strbuf_printf(o, "mode: %s\n", c->mode);
    strbuf_printf(o, "reason: %s\n", c->mode_reason);
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
    X(drop_host_inbound)

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
        strbuf_printf(o, "%-12s %-7s %-5s %-6s %-17s %-8s %-6s %-14s %s\n", "Interface", "Ifindex",
                      "Link", "MTU", "MAC", "XDP", "Armed", "XSK", "Last error");
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        char mac[18];
        fmt_mac(ifc->mac, mac);
        struct moat_shim_stats st = {0};
        if (c->bpf && ifc->ifindex)
            bootstrap_read_shim_stats(c->bpf, ifc->slot, &st);
        const char *err = ifc->attach_error[0] ? ifc->attach_error : ifc->bind_error_text;
        char xsk[32];
        if (ifc->xsk_mode[0])
            snprintf(xsk, sizeof(xsk), "%s %u/%u", ifc->xsk_mode, ifc->xsk_bound, ifc->queues);
        else
            snprintf(xsk, sizeof(xsk), "unbound");
        if (json) {
            strbuf_printf(o, "%s{\"name\":", i ? "," : "");
            strbuf_json_str(o, ifc->name);
            strbuf_printf(o,
                          ",\"ifindex\":%u,\"link\":\"%s\",\"mtu\":%u,\"mac\":\"%s\","
                          "\"xdp_mode\":\"%s\",\"armed\":%s,\"xsk_mode\":\"%s\","
                          "\"xsk_bound\":%u,\"queues\":%u,\"bind_error\":%d,\"last_error\":",
                          ifc->ifindex, ifc->link_up ? "up" : "down", ifc->mtu, mac,
                          xdp_attach_mode_name(ifc->xdp_mode), ifc->armed ? "true" : "false",
                          ifc->xsk_mode[0] ? ifc->xsk_mode : "unbound", ifc->xsk_bound, ifc->queues,
                          ifc->bind_error);
            strbuf_json_str(o, err);
            strbuf_printf(o, ",\"shim\":");
            shim_json(o, &st);
            strbuf_printf(o, "}");
        } else {
            strbuf_printf(o, "%-12s %-7u %-5s %-6u %-17s %-8s %-6s %-14s %s\n", ifc->name,
                          ifc->ifindex, ifc->link_up ? "up" : "down", ifc->mtu, mac,
                          xdp_attach_mode_name(ifc->xdp_mode), ifc->armed ? "yes" : "no", xsk,
                          err[0] ? err : "-");
            shim_text(o, &st, "    ");
        }
    }
    if (json)
        strbuf_printf(o, "]}\n");
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

static int show_dataplane_statistics(struct controld *c, bool json, struct strbuf *o,
                                     struct strbuf *e)
{
    if (json)
        strbuf_printf(o, "{\"interfaces\":[");
    else
        strbuf_printf(o, "Shim (XDP) decisions per interface:\n");
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        struct ctl_iface *ifc = &c->ifaces[i];
        struct moat_shim_stats st = {0};
        if (c->bpf && ifc->ifindex)
            bootstrap_read_shim_stats(c->bpf, ifc->slot, &st);
        if (json) {
            strbuf_printf(o, "%s{\"name\":", i ? "," : "");
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
    int err = read_dp_stats(c, &ds);
    if (json) {
        strbuf_printf(o, "],\"helper_stats\":%s,\"workers\":[", err ? "false" : "true");
    } else if (err) {
        strbuf_printf(o, "\nWorkers: no counters (%s/%s: %s)\n", c->run_dir, MOAT_STATS_FILE,
                      err == -ENOENT ? "the helper has not started" : strerror(-err));
    } else {
        strbuf_printf(o, "\nWorkers (helper pid %u, generation %llu):\n", ds.pid,
                      (unsigned long long)ds.generation);
    }
    (void)e;
    for (unsigned w = 0; !err && w < ds.nworkers; w++) {
        const struct moat_worker_stats *ws = &ds.worker[w];
        if (json) {
            strbuf_printf(o, "%s{\"worker\":%u", w ? "," : "", w);
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
        strbuf_printf(o, "]}\n");
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

static const char *help_text =
    "Commands:\n"
    "  show system status                 mode, reason, forwarding, generation, helper\n"
    "  show system commit                 the commit history (rollback numbers)\n"
    "  show interfaces                    per interface: link, XDP mode, armed, XSK mode, shim "
    "counters\n"
    "  show route                         connected and static routes, next hops, neighbours\n"
    "  show dataplane statistics          shim decisions per interface and worker counters\n"
    "  show security zones                zones, interfaces, host-inbound traffic\n"
    "  show security policies [hit-count] policies per zone pair in order; hits from the helper\n"
    "  show security flow session [summary] [nat] [source-prefix P] [destination-prefix P]\n"
    "        [source-port N] [destination-port N] [protocol tcp|udp|icmp|icmp6|N] [zone Z]\n"
    "        [session-identifier ID]      the mirrored sessions (nat: translated ones only)\n"
    "  show security nat source|destination [summary | pool [NAME|all] | rule [NAME|all]]\n"
    "  show security nat static [rule [NAME|all]]   NAT pools and rules, translation counters\n"
    "  clear security flow session [same filters]   closes the matching sessions\n"
    "  trace flow [source-prefix P] [destination-prefix P] [source-port N] [destination-port N]\n"
    "        [protocol P] [interface NAME] [both-directions] [count N] [duration SECONDS]\n"
    "                                     each matching packet's path, step by step\n"
    "  show chassis cluster status|statistics   HA roles per redundancy group, counters\n"
    "  request chassis cluster failover redundancy-group N node M   make node M primary of N\n"
    "  request chassis cluster failover reset redundancy-group N    end a manual failover\n"
    "  show configuration [| display set] the running configuration\n"
    "  show configuration compare rollback N   set lines changed since rollback N\n"
    "  commit check                       validate the configuration file\n"
    "  commit [confirmed MINUTES] [comment TEXT]   apply the configuration file\n"
    "  rollback N                         restore commit N (0 = running) and commit it\n"
    "  help                               this list\n";

int show_dispatch(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                  size_t nargs, struct strbuf *out, struct strbuf *err)
{
    int rc = -ENOENT;
    bool json = ctx->json;
    if (nargs == 0 || words_are(args, nargs, WORDS("help"))) {
        strbuf_printf(out, "%s", help_text);
        return 0;
    }
    if (words_are(args, nargs, WORDS("show", "system", "status")))
        rc = show_system_status(c, json, out);
    else if (words_are(args, nargs, WORDS("show", "system", "commit")))
        return commit_show_history(c, json, out, err);
    else if (words_are(args, nargs, WORDS("show", "interfaces")))
        rc = show_interfaces(c, json, out);
    else if (words_are(args, nargs, WORDS("show", "route")))
        rc = show_route(c, json, out);
    else if (words_are(args, nargs, WORDS("show", "dataplane", "statistics")))
        rc = show_dataplane_statistics(c, json, out, err);
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
