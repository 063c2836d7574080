/* SPDX-License-Identifier: MIT */
/*
 * moatctl — the operator CLI. Sends the command words to controld over
 * RUN_DIR/control.sock and prints the answer.
 *
 *   moatctl [--run-dir DIR] [--json] [--timeout SECONDS] COMMAND...
 *   moatctl help                 the commands (common/commands.c), without asking controld
 *   moatctl WORDS... ?           what may follow WORDS, with a line of help each
 *   moatctl --complete WORDS...  the words that may follow WORDS, one a line (bash completion)
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <stdbool.h>

#include "commands.h"
#include "frame.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: moatctl [--run-dir DIR] [--json] [--timeout SECONDS] COMMAND...\n"
               "       moatctl help                 lists the commands\n"
               "       moatctl WORDS... ?           what may follow WORDS\n"
               "       moatctl --complete WORDS...  the words that may follow (for completion)\n");
}

static void emit_word(const char *word, const char *help, bool placeholder, void *arg)
{
    (void)help;
    (void)arg;
    if (!placeholder)
        printf("%s\n", word);
}

static void emit_help(const char *word, const char *help, bool placeholder, void *arg)
{
    (void)arg;
    char w[48];
    snprintf(w, sizeof(w), placeholder ? "<%s>" : "%s", word);
    printf("  %-24s %s\n", w, help ? help : "(more words follow)");
}

static void emit_none(const char *word, const char *help, bool placeholder, void *arg)
{
    (void)word, (void)help, (void)placeholder, (void)arg;
}

/* `moatctl WORDS... ?`: what may follow WORDS. 0, or 2 if WORDS start no command. */
static int question(char *const *words, size_t n)
{
    bool done = false;
    if (moat_cmds_complete((const char *const *)words, n, emit_none, NULL, &done) > 0 || done) {
        printf("Possible completions:\n");
        moat_cmds_complete((const char *const *)words, n, emit_help, NULL, &done);
        if (done)
            printf("  %-24s %s\n", "<Enter>", "run the command");
    } else {
        fprintf(stderr, "moatctl: no command starts with \"");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "%s%s", i ? " " : "", words[i]);
        fprintf(stderr, "\": try \"moatctl help\"\n");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *run_dir = "/run/moat";
    bool json = false;
    int timeout_s = 30;
    static const struct option opts[] = {
        {"run-dir", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"complete", no_argument, NULL, 'C'},      {NULL, 0, NULL, 0},
    };
    bool complete = false;
    int opt;
    /* "+": stop at the first command word, so commands may contain dashes later. */
    while ((opt = getopt_long(argc, argv, "+r:jt:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            run_dir = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 't':
            timeout_s = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'C':
            complete = true;
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    /* Help and completion come from the command table: no daemon needed. */
    size_t nw = (size_t)(argc - optind);
    char *const *words = argv + optind;
    if (complete) {
        moat_cmds_complete((const char *const *)words, nw, emit_word, NULL, NULL);
        return 0;
    }
    if (nw == 0 || (nw == 1 && strcmp(words[0], "help") == 0)) {
        moat_cmds_help(stdout);
        return 0;
    }
    if (strcmp(words[nw - 1], "?") == 0)
        return question(words, nw - 1);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", run_dir) >=
        sizeof(sa.sun_path)) {
        fprintf(stderr, "moatctl: run directory path too long: %s\n", run_dir);
        return 2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno == EACCES) {
            fprintf(stderr,
                    "moatctl: permission denied on %s: moatctl needs root or membership of "
                    "group moat (adduser USER moat, then log in again)\n",
                    sa.sun_path);
            return 13;
        }
        fprintf(stderr, "moatctl: cannot reach moat-controld at %s: %s (is it running?)\n",
                sa.sun_path, strerror(errno));
        return 3;
    }
    Moat__OpRequest req = MOAT__OP_REQUEST__INIT;
    req.n_args = (size_t)(argc - optind);
    req.args = argv + optind;
    req.json = json;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_OP_REQUEST;
    env.op_request = &req;
    /* controld may refuse the connection (credentials, too many clients) with an answer and
     * close it before reading the request: a failed write is no reason to miss that answer. */
    signal(SIGPIPE, SIG_IGN);
    const int werr = frame_write_fd(fd, &env);
    if (werr < 0 && werr != -EPIPE && werr != -ECONNRESET) {
        fprintf(stderr, "moatctl: sending the request failed: %s\n", strerror(-werr));
        return 3;
    }
    int err;
    struct frame_reader rd;
    frame_reader_init(&rd, FRAME_MAX_DEFAULT);
    Moat__Envelope *rep = NULL;
    /* A streamed answer (trace flow) comes in parts with more set; the last one has not. */
    for (;;) {
        err = frame_read_fd(fd, &rd, &rep, timeout_s * 1000);
        if (err <= 0) {
            close(fd);
            frame_reader_free(&rd);
            if (werr < 0)
                fprintf(stderr, "moatctl: sending the request failed: %s\n", strerror(-werr));
            else
                fprintf(stderr, "moatctl: no answer from moat-controld: %s\n",
                        err == 0 ? "connection closed" : frame_strerror(err));
            return 3;
        }
        if (rep->msg_case != MOAT__ENVELOPE__MSG_OP_REPLY) {
            close(fd);
            frame_reader_free(&rd);
            fprintf(stderr, "moatctl: unexpected answer from moat-controld\n");
            moat__envelope__free_unpacked(rep, NULL);
            return 3;
        }
        if (!rep->op_reply->more)
            break;
        if (rep->op_reply->output && rep->op_reply->output[0]) {
            fputs(rep->op_reply->output, stdout);
            fflush(stdout);
        }
        moat__envelope__free_unpacked(rep, NULL);
        rep = NULL;
    }
    close(fd);
    frame_reader_free(&rd);
    int status = rep->op_reply->status;
    if (rep->op_reply->output && rep->op_reply->output[0])
        fputs(rep->op_reply->output, stdout);
    if (status != 0 && rep->op_reply->error && rep->op_reply->error[0])
        fprintf(stderr, "moatctl: %s\n", rep->op_reply->error);
    moat__envelope__free_unpacked(rep, NULL);
    return status;
}
