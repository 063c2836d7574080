/* SPDX-License-Identifier: MIT */
/*
 * test_screen_rules.c — the screen rules both paths share (common/screen_rules.h): the TCP flag
 * checks and their order, the SYN the rates count, the rate keys, the ping-of-death bounds at
 * 65535, atomic fragments, and tear-drop's range bookkeeping (new, continued, repeated,
 * overlapping ranges, a fragment filling a gap, a full table, the IPv4 and IPv6 verdicts).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "screen_rules.h"

#define ALL_TCP (MOAT_SCR_F_SYN_FIN | MOAT_SCR_F_NO_FLAG | MOAT_SCR_F_FIN_NO_ACK | MOAT_SCR_F_LAND)
#define SYN MOAT_SCR_TCPF_SYN
#define FIN MOAT_SCR_TCPF_FIN
#define RST MOAT_SCR_TCPF_RST
#define ACK MOAT_SCR_TCPF_ACK

static void test_tcp_flags(void **state)
{
    (void)state;
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, SYN | FIN, 0), MOAT_SCR_C_SYN_FIN);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, SYN | FIN | ACK, 0), MOAT_SCR_C_SYN_FIN);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, 0, 0), MOAT_SCR_C_NO_FLAG);
    /* ECE / CWR alone count as no flag: only the low six bits are flags here. */
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, 0xc0, 0), MOAT_SCR_C_NO_FLAG);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, FIN, 0), MOAT_SCR_C_FIN_NO_ACK);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, FIN | ACK, 0), MOAT_SCR_PASS);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, SYN, 1), MOAT_SCR_C_LAND);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, SYN, 0), MOAT_SCR_PASS);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, SYN | ACK, 1), MOAT_SCR_PASS);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, ACK, 1), MOAT_SCR_PASS);
    /* The order: SYN+FIN from a host to itself is counted as syn-fin, not land. */
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP, SYN | FIN, 1), MOAT_SCR_C_SYN_FIN);
    /* Each check only when enabled. */
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP & ~MOAT_SCR_F_SYN_FIN, SYN | FIN | ACK, 0),
                     MOAT_SCR_PASS);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP & ~MOAT_SCR_F_SYN_FIN, SYN | FIN, 0),
                     MOAT_SCR_C_FIN_NO_ACK); /* the next check then takes it */
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP & ~MOAT_SCR_F_NO_FLAG, 0, 0), MOAT_SCR_PASS);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP & ~MOAT_SCR_F_FIN_NO_ACK, FIN, 0), MOAT_SCR_PASS);
    assert_int_equal(moat_scr_tcp_flags(ALL_TCP & ~MOAT_SCR_F_LAND, SYN, 1), MOAT_SCR_PASS);
    assert_int_equal(moat_scr_tcp_flags(0, SYN | FIN, 1), MOAT_SCR_PASS);
}

static void test_tcp_opening(void **state)
{
    (void)state;
    assert_true(moat_scr_tcp_opening(SYN));
    assert_true(moat_scr_tcp_opening(SYN | FIN)); /* counted; syn-fin drops it first if on */
    assert_false(moat_scr_tcp_opening(SYN | ACK));
    assert_false(moat_scr_tcp_opening(SYN | RST));
    assert_false(moat_scr_tcp_opening(ACK));
}

/* The keys of the per-second rates: what they are made of, each part changing the key. */
static void test_rate_keys(void **state)
{
    (void)state;
    uint8_t a[16] = {10, 77, 1, 2}, b[16] = {10, 77, 1, 2};
    assert_int_equal(moat_scr_rate_kind(MOAT_SCR_RATE_SYN_DST_PORT, 6, 0x5000),
                     1ull << 24 | 6ull << 16 | 0x5000);
    assert_int_equal(moat_scr_rate_kind(MOAT_SCR_RATE_ICMP_DST, 4, 0), 5ull << 24 | 4ull << 16);
    const uint64_t k = moat_scr_rate_kind(MOAT_SCR_RATE_UDP_DST, 4, 0);
    const uint64_t h = moat_scr_addr_hash(42, a, k);
    assert_true(h == moat_scr_addr_hash(42, b, k));
    assert_true(h != moat_scr_addr_hash(43, a, k));
    assert_true(h != moat_scr_addr_hash(42, a, moat_scr_rate_kind(MOAT_SCR_RATE_ICMP_DST, 4, 0)));
    assert_true(h != moat_scr_addr_hash(42, a, moat_scr_rate_kind(MOAT_SCR_RATE_UDP_DST, 6, 0)));
    b[15] = 1; /* the last byte of an IPv6 address counts too */
    assert_true(h != moat_scr_addr_hash(42, b, k));
    b[15] = 0;
    b[3] = 3;
    assert_true(h != moat_scr_addr_hash(42, b, k));
}

static void test_ping_death(void **state)
{
    (void)state;
    /* IPv4: offset + total length, the header included. */
    assert_false(moat_scr_ping_death4(65500, 35));
    assert_false(moat_scr_ping_death4(65520, 15));
    assert_true(moat_scr_ping_death4(65520, 16));
    assert_true(moat_scr_ping_death4(8189 * 8, 220));
    /* IPv6: extension headers before the fragment header + the fragment's end. */
    assert_false(moat_scr_ping_death6(0, 65535));
    assert_true(moat_scr_ping_death6(0, 65536));
    assert_true(moat_scr_ping_death6(8, 65528));
    assert_false(moat_scr_ping_death6(8, 65527));
}

static void test_atomic(void **state)
{
    (void)state;
    assert_true(moat_frag6_atomic(0, 0));
    assert_false(moat_frag6_atomic(0, 1));
    assert_false(moat_frag6_atomic(8, 0));
}

static void test_record_in_order(void **state)
{
    (void)state;
    struct moat_frag_seen e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(moat_frag_record(&e, 0, 24), MOAT_FRAG_NEW);
    assert_int_equal(moat_frag_record(&e, 24, 48), MOAT_FRAG_NEW); /* continues range 0 */
    assert_int_equal(e.n, 1);
    assert_int_equal(e.r[0].lo, 0);
    assert_int_equal(e.r[0].hi, 48);
    assert_int_equal(moat_frag_record(&e, 8, 16), MOAT_FRAG_DUP);
    assert_int_equal(moat_frag_record(&e, 0, 48), MOAT_FRAG_DUP);
    assert_int_equal(moat_frag_record(&e, 40, 56), MOAT_FRAG_OVERLAP);
    assert_int_equal(e.r[0].hi, 48); /* nothing recorded for a repeat or an overlap */
}

/* A fragment that continues one range but overlaps a later one is an overlap: every range is
 * compared before any is extended. */
static void test_record_gap(void **state)
{
    (void)state;
    struct moat_frag_seen e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(moat_frag_record(&e, 0, 8), MOAT_FRAG_NEW);
    assert_int_equal(moat_frag_record(&e, 16, 24), MOAT_FRAG_NEW);
    assert_int_equal(e.n, 2);
    assert_int_equal(moat_frag_record(&e, 8, 20), MOAT_FRAG_OVERLAP);
    assert_int_equal(e.r[0].hi, 8);
    assert_int_equal(moat_frag_record(&e, 8, 16), MOAT_FRAG_NEW); /* fills the gap exactly */
    assert_int_equal(e.r[0].hi, 16);
    assert_int_equal(moat_frag_record(&e, 4, 12), MOAT_FRAG_DUP);
}

static void test_record_full(void **state)
{
    (void)state;
    struct moat_frag_seen e;
    memset(&e, 0, sizeof(e));
    for (uint32_t i = 0; i < MOAT_FRAG_RANGES; i++)
        assert_int_equal(moat_frag_record(&e, i * 100, i * 100 + 8), MOAT_FRAG_NEW);
    assert_int_equal(e.n, MOAT_FRAG_RANGES);
    /* A fifth range takes the last slot's place. */
    assert_int_equal(moat_frag_record(&e, 1000, 1008), MOAT_FRAG_NEW);
    assert_int_equal(e.n, MOAT_FRAG_RANGES);
    assert_int_equal(e.r[MOAT_FRAG_RANGES - 1].lo, 1000);
    assert_int_equal(moat_frag_record(&e, 1004, 1012), MOAT_FRAG_OVERLAP);
    /* The end of a 65535-byte datagram is kept as 65535. */
    memset(&e, 0, sizeof(e));
    assert_int_equal(moat_frag_record(&e, 65528, 65540), MOAT_FRAG_NEW);
    assert_int_equal(e.r[0].hi, 0xffff);
}

static void test_teardrop_v4(void **state)
{
    (void)state;
    struct moat_frag_seen e;
    memset(&e, 0, sizeof(e));
    assert_false(moat_frag_teardrop(&e, 0, 0, 64));
    assert_true(moat_frag_teardrop(&e, 0, 24, 88)); /* overlap: dropped alone */
    assert_false(e.discard);
    assert_false(moat_frag_teardrop(&e, 0, 64, 128)); /* the rest still passes */
    assert_true(moat_frag_teardrop(&e, 0, 0, 64));    /* a repeat */
}

static void test_teardrop_v6(void **state)
{
    (void)state;
    struct moat_frag_seen e;
    memset(&e, 0, sizeof(e));
    assert_false(moat_frag_teardrop(&e, 1, 0, 64));
    assert_true(moat_frag_teardrop(&e, 1, 0, 32)); /* a copy of a part: dropped alone */
    assert_false(e.discard);
    assert_false(moat_frag_teardrop(&e, 1, 64, 128));
    assert_true(moat_frag_teardrop(&e, 1, 120, 200)); /* overlap: the datagram is discarded */
    assert_true(e.discard);
    assert_true(moat_frag_teardrop(&e, 1, 200, 264)); /* and every later fragment of it */
    assert_true(moat_frag_teardrop(&e, 1, 128, 136));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_flags),       cmocka_unit_test(test_tcp_opening),
        cmocka_unit_test(test_ping_death),      cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_record_in_order), cmocka_unit_test(test_record_gap),
        cmocka_unit_test(test_record_full),     cmocka_unit_test(test_teardrop_v4),
        cmocka_unit_test(test_teardrop_v6),     cmocka_unit_test(test_rate_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
