/* SPDX-License-Identifier: MIT */
/* Unit tests for dataplane/tcp.c: window-free TCP state tracking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "session.h"
#include "tcp.h"

#define S TCPF_SYN
#define A TCPF_ACK
#define F TCPF_FIN
#define R TCPF_RST
#define P TCPF_PSH
#define U TCPF_URG

struct conn {
    uint8_t state, flags;
};

static enum tcp_verdict pkt(struct conn *c, unsigned dir, uint8_t flags)
{
    return tcp_track(&c->state, &c->flags, dir, flags);
}

/* Feeds a sequence, each step expected to be accepted and to land in the given state. */
struct step {
    unsigned dir;
    uint8_t flags;
    uint8_t state;
};

static void run(struct conn *c, const struct step *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (pkt(c, s[i].dir, s[i].flags) != TCP_ACCEPT)
            fail_msg("step %d (dir %u flags 0x%x) refused in state %u", i, s[i].dir, s[i].flags,
                     c->state);
        if (c->state != s[i].state)
            fail_msg("step %d: state %u, expected %u", i, c->state, s[i].state);
    }
}

static struct conn opened(void)
{
    struct conn c = {SESS_SYN_SENT, 0};
    return c;
}

static void test_flag_sanity(void **state)
{
    (void)state;
    assert_true(tcp_flags_sane(S));
    assert_true(tcp_flags_sane(S | A));
    assert_true(tcp_flags_sane(A));
    assert_true(tcp_flags_sane(A | P));
    assert_true(tcp_flags_sane(F | A));
    assert_true(tcp_flags_sane(F | A | P));
    assert_true(tcp_flags_sane(R));
    assert_true(tcp_flags_sane(R | A));
    assert_false(tcp_flags_sane(S | F));
    assert_false(tcp_flags_sane(S | F | A));
    assert_false(tcp_flags_sane(S | R));
    assert_false(tcp_flags_sane(F | R | A));
    assert_false(tcp_flags_sane(0));         /* NULL scan */
    assert_false(tcp_flags_sane(F));         /* FIN scan */
    assert_false(tcp_flags_sane(F | P | U)); /* Xmas */
    assert_false(tcp_flags_sane(P));
    assert_false(tcp_flags_sane(U));
    assert_true(tcp_is_initial_syn(S));
    assert_true(tcp_is_initial_syn(S | P));
    assert_false(tcp_is_initial_syn(S | A));
    assert_false(tcp_is_initial_syn(A));
    assert_false(tcp_is_initial_syn(S | F));
    assert_false(tcp_is_initial_syn(R));
}

static void test_handshake_and_orderly_close(void **state)
{
    (void)state;
    struct conn c = opened();
    const struct step s[] = {
        {0, S, SESS_SYN_SENT},                                   /* retransmitted SYN */
        {1, S | A, SESS_SYN_RECV},    {1, S | A, SESS_SYN_RECV}, /* SYN+ACK, retransmitted */
        {0, A, SESS_ESTABLISHED},     {0, A | P, SESS_ESTABLISHED},
        {1, A | P, SESS_ESTABLISHED}, {0, F | A, SESS_FIN_WAIT}, /* client closes first */
        {0, F | A, SESS_FIN_WAIT},                               /* retransmitted FIN */
        {1, A, SESS_FIN_WAIT}, /* server ACKs the FIN, still sending */
        {1, A | P, SESS_FIN_WAIT},    {1, F | A, SESS_CLOSING}, /* server closes */
        {1, F | A, SESS_CLOSING},                               /* retransmitted */
        {0, A, SESS_TIME_WAIT},                                 /* client's last ACK */
        {1, F | A, SESS_TIME_WAIT},                             /* stray retransmit */
    };
    run(&c, s, sizeof(s) / sizeof(s[0]));
    assert_int_equal(c.flags & (SESS_F_FIN_FWD | SESS_F_FIN_REV), SESS_F_FIN_FWD | SESS_F_FIN_REV);
    assert_false(c.flags & SESS_F_FIN_FIRST);
}

static void test_responder_closes_first(void **state)
{
    (void)state;
    struct conn c = opened();
    const struct step s[] = {
        {1, S | A, SESS_SYN_RECV}, {0, A, SESS_ESTABLISHED},
        {1, F | A, SESS_FIN_WAIT}, {0, F | A, SESS_CLOSING}, /* client's FIN+ACK */
        {0, A, SESS_CLOSING}, /* not the last ACK: that one comes from the server */
        {1, A, SESS_TIME_WAIT},
    };
    run(&c, s, sizeof(s) / sizeof(s[0]));
    assert_true(c.flags & SESS_F_FIN_FIRST);
}

static void test_rst_closes_in_any_state(void **state)
{
    (void)state;
    const uint8_t states[] = {SESS_SYN_SENT, SESS_SYN_RECV,  SESS_ESTABLISHED, SESS_FIN_WAIT,
                              SESS_CLOSING,  SESS_TIME_WAIT, SESS_CLOSED};
    for (unsigned i = 0; i < sizeof(states); i++) {
        for (unsigned dir = 0; dir < 2; dir++) {
            struct conn c = {states[i], 0};
            assert_int_equal(pkt(&c, dir, R), TCP_ACCEPT);
            assert_int_equal(c.state, SESS_CLOSED);
            c.state = states[i];
            assert_int_equal(pkt(&c, dir, R | A), TCP_ACCEPT);
            assert_int_equal(c.state, SESS_CLOSED);
        }
    }
    /* Connection refused: SYN, then RST+ACK from the server. */
    struct conn c = opened();
    assert_int_equal(pkt(&c, 1, R | A), TCP_ACCEPT);
    assert_int_equal(c.state, SESS_CLOSED);
}

static void expect_invalid(uint8_t st, unsigned dir, uint8_t flags)
{
    struct conn c = {st, 0};
    if (pkt(&c, dir, flags) != TCP_INVALID)
        fail_msg("state %u dir %u flags 0x%x: accepted", st, dir, flags);
    if (c.state != st)
        fail_msg("state %u changed by a refused packet", st);
}

static void test_invalid_combinations(void **state)
{
    (void)state;
    const uint8_t all[] = {SESS_SYN_SENT, SESS_SYN_RECV,  SESS_ESTABLISHED, SESS_FIN_WAIT,
                           SESS_CLOSING,  SESS_TIME_WAIT, SESS_CLOSED};
    /* Impossible flags, anywhere, either side. */
    for (unsigned i = 0; i < sizeof(all); i++) {
        for (unsigned dir = 0; dir < 2; dir++) {
            expect_invalid(all[i], dir, S | F);
            expect_invalid(all[i], dir, S | R);
            expect_invalid(all[i], dir, 0);
            expect_invalid(all[i], dir, F | P | U);
            expect_invalid(all[i], dir, F);
        }
    }
    /* SYN on an established session: from the responder, and from the initiator. */
    expect_invalid(SESS_ESTABLISHED, 1, S);
    expect_invalid(SESS_ESTABLISHED, 0, S);
    expect_invalid(SESS_ESTABLISHED, 0, S | A);
    expect_invalid(SESS_FIN_WAIT, 0, S);
    expect_invalid(SESS_FIN_WAIT, 1, S | A);
    expect_invalid(SESS_CLOSING, 1, S);
    /* The initiator may not talk before the SYN+ACK; the responder only answers with one. */
    expect_invalid(SESS_SYN_SENT, 0, A);
    expect_invalid(SESS_SYN_SENT, 0, A | P);
    expect_invalid(SESS_SYN_SENT, 0, F | A);
    expect_invalid(SESS_SYN_SENT, 1, A);
    expect_invalid(SESS_SYN_SENT, 1, F | A);
    expect_invalid(SESS_SYN_RECV, 1, S);
    /* After a RST only RST (or a new SYN from the initiator). */
    expect_invalid(SESS_CLOSED, 0, A);
    expect_invalid(SESS_CLOSED, 1, A | P);
    expect_invalid(SESS_CLOSED, 1, S);
    expect_invalid(SESS_TIME_WAIT, 1, S);
    expect_invalid(SESS_TIME_WAIT, 0, S | A);
    /* A state that is not TCP's. */
    expect_invalid(SESS_NEW, 0, A);
}

static void test_syn_retransmits_and_simultaneous_open(void **state)
{
    (void)state;
    /* The responder retransmits its SYN+ACK after the handshake (our ACK was lost on its
     * side): accepted, state kept. */
    struct conn c = {SESS_ESTABLISHED, 0};
    assert_int_equal(pkt(&c, 1, S | A), TCP_ACCEPT);
    assert_int_equal(c.state, SESS_ESTABLISHED);
    /* Simultaneous open: both sides send SYN. */
    c = opened();
    assert_int_equal(pkt(&c, 1, S), TCP_ACCEPT);
    assert_int_equal(c.state, SESS_SYN_RECV);
    assert_int_equal(pkt(&c, 0, S | A), TCP_ACCEPT);
    assert_int_equal(pkt(&c, 0, A), TCP_ACCEPT);
    assert_int_equal(c.state, SESS_ESTABLISHED);
}

static void test_reopen_after_close(void **state)
{
    (void)state;
    struct conn c = {SESS_TIME_WAIT, SESS_F_FIN_FWD | SESS_F_FIN_REV};
    assert_int_equal(pkt(&c, 0, S), TCP_REOPEN);
    assert_int_equal(c.state, SESS_TIME_WAIT); /* the caller closes it and starts over */
    c.state = SESS_CLOSED;
    assert_int_equal(pkt(&c, 0, S), TCP_REOPEN);
    c.state = SESS_ESTABLISHED;
    assert_int_equal(pkt(&c, 0, S), TCP_INVALID);
}

static void test_fin_during_handshake(void **state)
{
    (void)state;
    /* The initiator's ACK of the SYN+ACK carries a FIN (a very short connection). */
    struct conn c = {SESS_SYN_RECV, 0};
    assert_int_equal(pkt(&c, 0, F | A), TCP_ACCEPT);
    assert_int_equal(c.state, SESS_FIN_WAIT);
    assert_int_equal(pkt(&c, 1, F | A), TCP_ACCEPT);
    assert_int_equal(c.state, SESS_CLOSING);
    assert_int_equal(pkt(&c, 0, A), TCP_ACCEPT);
    assert_int_equal(c.state, SESS_TIME_WAIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_sanity),
        cmocka_unit_test(test_handshake_and_orderly_close),
        cmocka_unit_test(test_responder_closes_first),
        cmocka_unit_test(test_rst_closes_in_any_state),
        cmocka_unit_test(test_invalid_combinations),
        cmocka_unit_test(test_syn_retransmits_and_simultaneous_open),
        cmocka_unit_test(test_reopen_after_close),
        cmocka_unit_test(test_fin_during_handshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
