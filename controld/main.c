/* SPDX-License-Identifier: MIT */
/*
 * moat-controld — the Moat control daemon.
 *
 *   moat-controld --config FILE --run-dir DIR --bpffs-dir DIR [--spawn-dataplane PATH]
 *                 [--bpf-dir DIR] [--state-dir DIR] [--log-level err|warn|info|debug] [--check]
 *
 * Hidden, for tests: --confirm-unit-seconds makes `commit confirmed N` count seconds.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commit.h"
#include "controld.h"
#include "log.h"
#include "privs.h"
#include "sdnotify.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: moat-controld [--config FILE] [--run-dir DIR] [--bpffs-dir DIR]\n"
        "                     [--spawn-dataplane PATH] [--bpf-dir DIR] [--state-dir DIR]\n"
        "                     [--log-level err|warn|info|debug] [--check] [--version]\n"
        "defaults: --config /etc/moat/moat.conf --run-dir /run/moat\n"
        "          --state-dir /var/lib/moat (commit history in STATE_DIR/commits)\n"
        "          --bpffs-dir /sys/fs/bpf/moat --bpf-dir <next to the binary>/bpf or " MOAT_BPF_DIR
        "\n"
        "--check validates the configuration and exits (0 = valid).\n");
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* The BPF objects: beside the binary in a build tree, else the installed folder. */
static const char *default_bpf_dir(void)
{
    static char dir[PATH_MAX + 32];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(dir, sizeof(dir), "%.*s/bpf/shim.bpf.o", PATH_MAX - 1, exe);
            if (access(dir, R_OK) == 0) {
                dir[strlen(dir) - strlen("/shim.bpf.o")] = 0;
                return dir;
            }
        }
    }
    return MOAT_BPF_DIR;
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    struct controld *c = s->data;
    if (c->stopping)
        return;
    log_info("received %s: stopping (detaching the shim, stopping the helper)",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
    sdnotify_stopping(c);
    lifecycle_stop(c);
    uv_signal_stop(&c->sig_term);
    uv_signal_stop(&c->sig_int);
    uv_signal_stop(&c->sig_hup);
    uv_close((uv_handle_t *)&c->sig_term, NULL);
    uv_close((uv_handle_t *)&c->sig_int, NULL);
    uv_close((uv_handle_t *)&c->sig_hup, NULL);
}

static void on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    struct controld *c = s->data;
    if (c->stopping)
        return;
    log_info("SIGHUP: committing %s", c->config_path);
    commit_on_sighup(c);
}

/*
 * Least privilege after start-up (without systemd; under it the unit's bounding set already
 * holds no more): what controld still does afterwards, and the capability it needs —
 *   CAP_BPF       load programs, create, pin and update maps (commits, re-attach, legacy seed);
 *   CAP_PERFMON   the verifier accepts the shim only with it (or CAP_SYS_ADMIN);
 *   CAP_NET_ADMIN attach XDP (re-attach on link cycles and commits), addresses, links, VIPs;
 *   CAP_NET_RAW   HA gratuitous ARP / unsolicited NA (AF_PACKET);
 *   CAP_CHOWN     rollback / commit rewrite moat.conf keeping its owner and group.
 * CAP_SYS_ADMIN is not kept: the only call that needs it, bpf_prog_get_fd_by_id(), names a
 * program found attached by someone else, and controld copes without it (as under systemd).
 * A spawned helper (--spawn-dataplane) gets controld's bounding set as its permitted set on
 * exec (root): it also holds the helper's CAP_NET_RAW and CAP_IPC_LOCK, and CAP_SETPCAP,
 * not in controld's own effective or permitted set (it cannot be taken back without an
 * exec), which a respawned helper needs to narrow its bounding set on its own start.
 */
static void drop_capabilities(const struct controld *c)
{
    const uint64_t keep = PRIVS_CAP(CAP_BPF) | PRIVS_CAP(CAP_PERFMON) | PRIVS_CAP(CAP_NET_ADMIN) |
                          PRIVS_CAP(CAP_NET_RAW) | PRIVS_CAP(CAP_CHOWN);
    uint64_t bound = keep;
    if (c->spawn_path) /* and CAP_SETPCAP, so that a respawned helper can narrow its own */
        bound |= PRIVS_CAP(CAP_NET_RAW) | PRIVS_CAP(CAP_IPC_LOCK) | PRIVS_CAP(CAP_SETPCAP);
    struct privs_result r;
    int err = privs_restrict(keep, bound, &r);
    char eff[512], bnd[512], miss[512];
    if (err < 0) {
        log_warn("capabilities: could not narrow them after start-up: %s; running with the "
                 "ones it started with",
                 strerror(-err));
        return;
    }
    log_info("capabilities: kept %s; bounding set %s%s", privs_names(r.effective, eff, sizeof(eff)),
             privs_names(r.bounding, bnd, sizeof(bnd)),
             r.bounding_skipped ? " (left as started: no CAP_SETPCAP)" : "");
    if (r.missing)
        log_info("capabilities: not held at start, so not kept: %s",
                 privs_names(r.missing, miss, sizeof(miss)));
}

int main(int argc, char **argv)
{
    static struct controld c;
    c.config_path = "/etc/moat/moat.conf";
    c.run_dir = "/run/moat";
    c.bpffs_dir = "/sys/fs/bpf/moat";
    c.log_level_name = "info";
    c.state_dir = "/var/lib/moat";
    bool check_only = false;

    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"run-dir", required_argument, NULL, 'r'},
        {"bpffs-dir", required_argument, NULL, 'b'},
        {"bpf-dir", required_argument, NULL, 'o'},
        {"spawn-dataplane", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'l'},
        {"state-dir", required_argument, NULL, 'S'},
        {"confirm-unit-seconds", no_argument, NULL, 'U'},
        {"check", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:r:b:o:s:l:kVh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            c.config_path = optarg;
            break;
        case 'r':
            c.run_dir = optarg;
            break;
        case 'b':
            c.bpffs_dir = optarg;
            break;
        case 'o':
            c.bpf_dir = optarg;
            break;
        case 's':
            c.spawn_path = optarg;
            break;
        case 'l':
            c.log_level_name = optarg;
            break;
        case 'S':
            c.state_dir = optarg;
            break;
        case 'U':
            c.confirm_unit_seconds = true;
            break;
        case 'k':
            check_only = true;
            break;
        case 'V':
            printf("moat-controld %s\n", MOAT_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    enum log_level lvl;
    if (log_level_parse(c.log_level_name, &lvl) < 0) {
        fprintf(stderr, "moat-controld: unknown log level \"%s\" (use err, warn, info or debug)\n",
                c.log_level_name);
        return 2;
    }
    log_init("moat-controld", lvl);
    if (!c.bpf_dir)
        c.bpf_dir = default_bpf_dir();

    /* 1. Configuration: refuse to start on a bad one. */
    struct config_error cerr;
    int err = config_load_file(c.config_path, &c.cfg, &cerr);
    if (err < 0) {
        char msg[1024];
        config_error_format(&cerr, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        log_err("configuration refused; not starting");
        return 1;
    }
    if (check_only) {
        /* As `moatctl commit check`: what this build cannot enforce is refused too. */
        char why[256];
        if (lifecycle_check_enforceable(c.cfg, why, sizeof(why)) < 0) {
            fprintf(stderr, "%s: %s\n", c.config_path, why);
            config_free(c.cfg);
            return 1;
        }
        printf("configuration %s is valid\n", c.config_path);
        config_free(c.cfg);
        return 0;
    }
    if ((err = mkdir_p(c.run_dir, 0755)) < 0) {
        log_err("cannot create the run directory %s: %s", c.run_dir, strerror(-err));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    c.loop = uv_default_loop();
    uv_signal_init(c.loop, &c.sig_term);
    uv_signal_init(c.loop, &c.sig_int);
    uv_signal_init(c.loop, &c.sig_hup);
    c.sig_term.data = c.sig_int.data = c.sig_hup.data = &c;
    uv_signal_start(&c.sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&c.sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&c.sig_hup, on_hup, SIGHUP);

    if ((err = lifecycle_start(&c)) < 0) {
        log_err("start-up failed (%s); cleaning up", strerror(-err));
        lifecycle_stop(&c);
        uv_close((uv_handle_t *)&c.sig_term, NULL);
        uv_close((uv_handle_t *)&c.sig_int, NULL);
        uv_close((uv_handle_t *)&c.sig_hup, NULL);
        uv_run(c.loop, UV_RUN_DEFAULT);
        config_free(c.cfg);
        mirror_free(&c.mirror);
        return 1;
    }
    /*
     * Ready for systemd once start-up is done: shim attached, maps pinned, helper and
     * operator sockets listening (phase waiting-for-helper). Not at "armed": the dataplane
     * unit starts After= this one, so waiting for the helper here would deadlock the two.
     */
    drop_capabilities(&c);
    sdnotify_ready(&c);
    uv_run(c.loop, UV_RUN_DEFAULT);
    log_info("stopped");
    config_free(c.cfg);
    mirror_free(&c.mirror);
    uv_loop_close(c.loop);
    return 0;
}
