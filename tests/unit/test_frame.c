/* SPDX-License-Identifier: MIT */
/* Unit tests for common/frame.c: length-prefixed protobuf framing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"

static void encode_hello(uint32_t pid, uint8_t **buf, size_t *len)
{
    Moat__Hello h = MOAT__HELLO__INIT;
    h.version = 1;
    h.pid = pid;
    h.workers = 2;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_HELLO;
    env.hello = &h;
    assert_int_equal(frame_encode(&env, buf, len), 0);
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    encode_hello(4242, &buf, &len);
    struct frame_reader r;
    frame_reader_init(&r, 1024);
    Moat__Envelope *env = NULL;
    for (size_t i = 0; i < len; i++) {
        assert_int_equal(frame_reader_next(&r, &env), 0);
        assert_int_equal(frame_reader_feed(&r, buf + i, 1), 0);
    }
    assert_int_equal(frame_reader_next(&r, &env), 1);
    assert_int_equal(env->msg_case, MOAT__ENVELOPE__MSG_HELLO);
    assert_int_equal(env->hello->pid, 4242);
    assert_int_equal(env->hello->workers, 2);
    moat__envelope__free_unpacked(env, NULL);
    assert_int_equal(frame_reader_next(&r, &env), 0);
    assert_int_equal(r.len, 0);
    frame_reader_free(&r);
    free(buf);
}

static void test_two_frames_one_read(void **state)
{
    (void)state;
    uint8_t *a, *b;
    size_t la, lb;
    encode_hello(1, &a, &la);
    encode_hello(2, &b, &lb);
    struct frame_reader r;
    frame_reader_init(&r, 1024);
    assert_int_equal(frame_reader_feed(&r, a, la), 0);
    assert_int_equal(frame_reader_feed(&r, b, lb - 3), 0);
    Moat__Envelope *env;
    assert_int_equal(frame_reader_next(&r, &env), 1);
    assert_int_equal(env->hello->pid, 1);
    moat__envelope__free_unpacked(env, NULL);
    assert_int_equal(frame_reader_next(&r, &env), 0); /* second one still partial */
    assert_int_equal(frame_reader_feed(&r, b + lb - 3, 3), 0);
    assert_int_equal(frame_reader_next(&r, &env), 1);
    assert_int_equal(env->hello->pid, 2);
    moat__envelope__free_unpacked(env, NULL);
    frame_reader_free(&r);
    free(a);
    free(b);
}

static void test_oversize_and_zero(void **state)
{
    (void)state;
    struct frame_reader r;
    Moat__Envelope *env;
    frame_reader_init(&r, 100);
    uint8_t big[4] = {0, 0, 0, 101};
    assert_int_equal(frame_reader_feed(&r, big, 4), 0);
    /* Refused from the header alone: no need to wait for 101 bytes. */
    assert_int_equal(frame_reader_next(&r, &env), -EMSGSIZE);
    frame_reader_free(&r);

    frame_reader_init(&r, 100);
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(frame_reader_feed(&r, huge, 4), 0);
    assert_int_equal(frame_reader_next(&r, &env), -EMSGSIZE);
    frame_reader_free(&r);

    frame_reader_init(&r, 100);
    uint8_t zero[4] = {0, 0, 0, 0};
    assert_int_equal(frame_reader_feed(&r, zero, 4), 0);
    assert_int_equal(frame_reader_next(&r, &env), -EMSGSIZE);
    frame_reader_free(&r);
}

static void test_garbage(void **state)
{
    (void)state;
    struct frame_reader r;
    Moat__Envelope *env;
    /* A length-delimited field 1 claiming 200 bytes in a 4-byte body: not a message. */
    uint8_t junk[] = {0, 0, 0, 4, 0x0a, 0xc8, 0x01, 0x00};
    frame_reader_init(&r, 1024);
    assert_int_equal(frame_reader_feed(&r, junk, sizeof(junk)), 0);
    assert_int_equal(frame_reader_next(&r, &env), -EBADMSG);
    frame_reader_free(&r);

    /* Valid protobuf (an unknown varint field 15) but no message in the oneof. */
    uint8_t empty[] = {0, 0, 0, 2, 0x78, 0x01};
    frame_reader_init(&r, 1024);
    assert_int_equal(frame_reader_feed(&r, empty, sizeof(empty)), 0);
    assert_int_equal(frame_reader_next(&r, &env), -EBADMSG);
    frame_reader_free(&r);

    /* Random bytes never crash the decoder. */
    srand(7);
    for (int round = 0; round < 2000; round++) {
        uint8_t b[64];
        size_t n = 4 + (size_t)(rand() % 60);
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)rand();
        b[0] = b[1] = 0;
        b[2] = 0;
        b[3] = (uint8_t)(n - 4);
        frame_reader_init(&r, 1024);
        assert_int_equal(frame_reader_feed(&r, b, n), 0);
        int rc = frame_reader_next(&r, &env);
        assert_true(rc == 1 || rc == -EBADMSG || rc == -EMSGSIZE);
        if (rc == 1)
            moat__envelope__free_unpacked(env, NULL);
        frame_reader_free(&r);
    }
}

static void test_fd_roundtrip_and_eof(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    Moat__OpRequest req = MOAT__OP_REQUEST__INIT;
    char *args[] = {"show", "system", "status"};
    req.n_args = 3;
    req.args = args;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_OP_REQUEST;
    env.op_request = &req;
    assert_int_equal(frame_write_fd(sv[0], &env), 0);
    struct frame_reader r;
    frame_reader_init(&r, FRAME_MAX_OPERATOR);
    Moat__Envelope *got;
    assert_int_equal(frame_read_fd(sv[1], &r, &got, 1000), 1);
    assert_int_equal(got->op_request->n_args, 3);
    assert_string_equal(got->op_request->args[2], "status");
    moat__envelope__free_unpacked(got, NULL);

    /* Nothing sent: times out. */
    assert_int_equal(frame_read_fd(sv[1], &r, &got, 50), -ETIMEDOUT);

    /* Half a frame then EOF: reported as a reset, not as a message. */
    uint8_t *buf;
    size_t len;
    encode_hello(9, &buf, &len);
    assert_int_equal(write(sv[0], buf, len / 2), (ssize_t)(len / 2));
    close(sv[0]);
    assert_int_equal(frame_read_fd(sv[1], &r, &got, 1000), -ECONNRESET);
    frame_reader_free(&r);
    free(buf);
    close(sv[1]);
}

static void test_clean_eof(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[0]);
    struct frame_reader r;
    frame_reader_init(&r, 1024);
    Moat__Envelope *got;
    assert_int_equal(frame_read_fd(sv[1], &r, &got, 1000), 0);
    frame_reader_free(&r);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_by_byte),         cmocka_unit_test(test_two_frames_one_read),
        cmocka_unit_test(test_oversize_and_zero),    cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_fd_roundtrip_and_eof), cmocka_unit_test(test_clean_eof),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
