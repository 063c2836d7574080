/* SPDX-License-Identifier: MIT */
/*
 * moat-dataplane — the userspace dataplane helper.
 *
 *     moat-dataplane --run-dir DIR [--log-level debug|info|warn|err]
 *
 * Connects to controld at DIR/dataplane.sock and forwards what the XDP shim redirects to
 * its AF_XDP sockets. SIGTERM / SIGINT: clean exit (status 0). Lost controld link: the
 * sockets are closed and the helper exits with status 1 for its supervisor to restart it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "privs.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: moat-dataplane --run-dir DIR [--log-level debug|info|warn|err]\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"run-dir", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *run_dir = NULL;
    enum log_level level = LOG_LVL_INFO;
    log_init("moat-dataplane", level);
    int c;
    while ((c = getopt_long(argc, argv, "r:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            run_dir = optarg;
            break;
        case 'l':
            if (log_level_parse(optarg, &level) != 0) {
                fprintf(stderr, "moat-dataplane: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!run_dir || optind != argc) {
        usage(stderr);
        return 2;
    }
    log_set_level(level);

    /* Signals arrive through a signalfd on the control thread; the workers inherit the
     * blocked mask and never see them. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) {
        log_err("sigprocmask: %s", strerror(errno));
        return 1;
    }
    int sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) {
        log_err("signalfd: %s", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed link shows up as EPIPE */

    /* UMEMs are pinned memory; older kernels charge them to RLIMIT_MEMLOCK. */
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
        log_debug("cannot lift RLIMIT_MEMLOCK: %s", strerror(errno));

    /* Least privilege (as moat-dataplane.service grants): CAP_NET_RAW opens and rebinds the
     * AF_XDP sockets, CAP_IPC_LOCK pins the UMEM. Nothing else, whoever started us. */
    const uint64_t keep = PRIVS_CAP(CAP_NET_RAW) | PRIVS_CAP(CAP_IPC_LOCK);
    struct privs_result pr;
    int perr = privs_restrict(keep, keep, &pr);
    if (perr < 0) {
        log_warn("capabilities: could not narrow them: %s; running with the ones it started "
                 "with",
                 strerror(-perr));
    } else {
        char eff[256], bnd[256];
        log_info("capabilities: kept %s; bounding set %s%s",
                 privs_names(pr.effective, eff, sizeof(eff)),
                 privs_names(pr.bounding, bnd, sizeof(bnd)),
                 pr.bounding_skipped ? " (left as started: no CAP_SETPCAP)" : "");
    }

    log_info("starting (pid %d, run dir %s)", (int)getpid(), run_dir);
    int status = control_run(run_dir, sigfd);
    close(sigfd);
    log_info("exiting with status %d", status);
    return status;
}
