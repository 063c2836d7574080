/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for dataplane/control.c: the helper's end of the controld link, driven by a
 * fake controld on a unix socket in a temporary run directory. No root: the XSK map does
 * not exist, so a valid snapshot is answered with ok=false and the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "counters.h"
#include "frame.h"

struct fixture {
    char dir[64];
    char sock[128];
    int listen_fd;
    int conn;
    int sigpipe[2];
    pthread_t thread;
    int status;
    struct frame_reader rd;
};

static void *run_helper(void *arg)
{
    struct fixture *f = arg;
    f->status = control_run(f->dir, f->sigpipe[0]);
    return NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/moat-dp-ctl.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->sock, sizeof(f->sock), "%s/dataplane.sock", f->dir);
    assert_int_equal(pipe2(f->sigpipe, O_NONBLOCK), 0);
    f->listen_fd = -1;
    f->conn = -1;
    frame_reader_init(&f->rd, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->conn >= 0)
        close(f->conn);
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    close(f->sigpipe[0]);
    close(f->sigpipe[1]);
    frame_reader_free(&f->rd);
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", f->dir, MOAT_STATS_FILE);
    unlink(path);
    unlink(f->sock);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void listen_now(struct fixture *f)
{
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, f->sock);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->listen_fd, 1), 0);
}

static void start(struct fixture *f)
{
    assert_int_equal(pthread_create(&f->thread, NULL, run_helper, f), 0);
}

static int join(struct fixture *f)
{
    pthread_join(f->thread, NULL);
    return f->status;
}

static void accept_helper(struct fixture *f)
{
    struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    f->conn = accept(f->listen_fd, NULL, NULL);
    assert_true(f->conn >= 0);
}

/* The next message from the helper that is not a heartbeat (counted in *hb). */
static Moat__Envelope *next_msg(struct fixture *f, unsigned *hb)
{
    for (;;) {
        Moat__Envelope *e = NULL;
        int rc = frame_read_fd(f->conn, &f->rd, &e, 5000);
        assert_int_equal(rc, 1);
        if (e->msg_case != MOAT__ENVELOPE__MSG_HEARTBEAT)
            return e;
        if (hb)
            (*hb)++;
        moat__envelope__free_unpacked(e, NULL);
    }
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

static void append(uint8_t **buf, size_t *len, const Moat__Envelope *env)
{
    uint8_t *b;
    size_t n;
    assert_int_equal(frame_encode(env, &b, &n), 0);
    *buf = realloc(*buf, *len + n);
    memcpy(*buf + *len, b, n);
    *len += n;
    free(b);
}

static void append_ack(uint8_t **buf, size_t *len, bool accepted, const char *reason)
{
    Moat__HelloAck ack = MOAT__HELLO_ACK__INIT;
    ack.version = DP_PROTO_VERSION;
    ack.accepted = accepted;
    ack.reason = (char *)reason;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_HELLO_ACK;
    env.hello_ack = &ack;
    append(buf, len, &env);
}

static void append_snapshot(uint8_t **buf, size_t *len, uint64_t gen, uint32_t ring,
                            const char *bpffs)
{
    Moat__DataplaneSettings set = MOAT__DATAPLANE_SETTINGS__INIT;
    set.workers = 1;
    set.ring_size = ring;
    set.bpffs_dir = (char *)bpffs;
    Moat__Snapshot s = MOAT__SNAPSHOT__INIT;
    s.generation = gen;
    s.settings = &set;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_SNAPSHOT;
    env.snapshot = &s;
    append(buf, len, &env);
}

static void send_signal(struct fixture *f)
{
    struct signalfd_siginfo si;
    memset(&si, 0, sizeof(si));
    si.ssi_signo = 15;
    assert_int_equal(write(f->sigpipe[1], &si, sizeof(si)), (ssize_t)sizeof(si));
}

static void test_handshake_snapshot_heartbeats(void **state)
{
    struct fixture *f = *state;
    start(f); /* before controld listens: the helper must keep retrying */
    usleep(450 * 1000);
    listen_now(f);
    accept_helper(f);

    Moat__Envelope *e = next_msg(f, NULL);
    assert_int_equal(e->msg_case, MOAT__ENVELOPE__MSG_HELLO);
    assert_int_equal(e->hello->version, DP_PROTO_VERSION);
    assert_int_equal(e->hello->pid, (uint32_t)getpid());
    assert_true(e->hello->workers >= 1 && e->hello->workers <= MOAT_MAX_WORKERS);
    assert_int_equal(e->hello->n_capabilities, 3);
    assert_string_equal(e->hello->capabilities[0], "afxdp");
    assert_string_equal(e->hello->capabilities[1], "shared-umem");
    assert_string_equal(e->hello->capabilities[2], "need-wakeup");
    moat__envelope__free_unpacked(e, NULL);

    /* HelloAck and two snapshots in one write: nothing may stay stuck in the buffer. */
    uint8_t *buf = NULL;
    size_t len = 0;
    char nomap[128];
    snprintf(nomap, sizeof(nomap), "%s/no-bpffs-here", f->dir);
    append_ack(&buf, &len, true, "");
    append_snapshot(&buf, &len, 5, 1000, nomap);
    append_snapshot(&buf, &len, 6, 256, nomap);
    write_all(f->conn, buf, len);
    free(buf);

    unsigned hb = 0;
    e = next_msg(f, &hb);
    assert_int_equal(e->msg_case, MOAT__ENVELOPE__MSG_SNAPSHOT_APPLIED);
    assert_int_equal(e->snapshot_applied->generation, 5);
    assert_false(e->snapshot_applied->ok);
    assert_non_null(strstr(e->snapshot_applied->error, "ring_size 1000 is not a power of two"));
    moat__envelope__free_unpacked(e, NULL);

    e = next_msg(f, &hb);
    assert_int_equal(e->msg_case, MOAT__ENVELOPE__MSG_SNAPSHOT_APPLIED);
    assert_int_equal(e->snapshot_applied->generation, 6);
    assert_false(e->snapshot_applied->ok);
    assert_non_null(strstr(e->snapshot_applied->error, "cannot open the XSK map"));
    assert_non_null(strstr(e->snapshot_applied->error, nomap));
    assert_int_equal(e->snapshot_applied->n_bindings, 0);
    moat__envelope__free_unpacked(e, NULL);

    /* Heartbeats keep coming, in sequence. */
    uint64_t last = 0;
    for (int i = 0; i < 3; i++) {
        Moat__Envelope *h = NULL;
        assert_int_equal(frame_read_fd(f->conn, &f->rd, &h, 2000), 1);
        assert_int_equal(h->msg_case, MOAT__ENVELOPE__MSG_HEARTBEAT);
        assert_true(h->heartbeat->seq > last);
        last = h->heartbeat->seq;
        moat__envelope__free_unpacked(h, NULL);
    }

    /* The stats file is there, fresh. */
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", f->dir, MOAT_STATS_FILE);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct moat_dp_stats *st = mmap(NULL, sizeof(*st), PROT_READ, MAP_SHARED, fd, 0);
    assert_true(st != MAP_FAILED);
    assert_int_equal(st->magic, MOAT_STATS_MAGIC);
    assert_int_equal(st->version, MOAT_STATS_VERSION);
    assert_int_equal(st->pid, (uint32_t)getpid());
    assert_true(st->boot_id != 0);
    munmap(st, sizeof(*st));
    close(fd);

    /* SIGTERM: clean exit, status 0. */
    send_signal(f);
    assert_int_equal(join(f), 0);
}

static void test_lost_link_exits_1(void **state)
{
    struct fixture *f = *state;
    listen_now(f);
    start(f);
    accept_helper(f);
    Moat__Envelope *e = next_msg(f, NULL);
    assert_int_equal(e->msg_case, MOAT__ENVELOPE__MSG_HELLO);
    moat__envelope__free_unpacked(e, NULL);
    uint8_t *buf = NULL;
    size_t len = 0;
    append_ack(&buf, &len, true, "");
    write_all(f->conn, buf, len);
    free(buf);
    /* Wait for a heartbeat so the helper is in its main loop, then hang up. */
    Moat__Envelope *h = NULL;
    assert_int_equal(frame_read_fd(f->conn, &f->rd, &h, 2000), 1);
    moat__envelope__free_unpacked(h, NULL);
    close(f->conn);
    f->conn = -1;
    assert_int_equal(join(f), 1);
}

static void test_garbage_frame_exits_1(void **state)
{
    struct fixture *f = *state;
    listen_now(f);
    start(f);
    accept_helper(f);
    Moat__Envelope *e = next_msg(f, NULL);
    moat__envelope__free_unpacked(e, NULL);
    uint8_t *buf = NULL;
    size_t len = 0;
    append_ack(&buf, &len, true, "");
    write_all(f->conn, buf, len);
    free(buf);
    /* A frame whose body is not an Envelope. */
    const uint8_t bad[] = {0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff};
    write_all(f->conn, bad, sizeof(bad));
    assert_int_equal(join(f), 1);
}

static void test_refused_hello_exits_1(void **state)
{
    struct fixture *f = *state;
    listen_now(f);
    start(f);
    accept_helper(f);
    Moat__Envelope *e = next_msg(f, NULL);
    moat__envelope__free_unpacked(e, NULL);
    uint8_t *buf = NULL;
    size_t len = 0;
    append_ack(&buf, &len, false, "protocol version 1 refused");
    write_all(f->conn, buf, len);
    free(buf);
    assert_int_equal(join(f), 1);
}

static void test_signal_while_waiting_exits_0(void **state)
{
    struct fixture *f = *state;
    start(f); /* nobody listens */
    usleep(300 * 1000);
    send_signal(f);
    assert_int_equal(join(f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake_snapshot_heartbeats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_link_exits_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_frame_exits_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_hello_exits_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal_while_waiting_exits_0, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
