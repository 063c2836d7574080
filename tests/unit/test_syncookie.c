/* SPDX-License-Identifier: MIT */
/*
 * test_syncookie.c — the SYN cookie and SYN proxy parts both paths share (common/syncookie.h,
 * built into bpf/main.bpf.c and dataplane/synproxy.c): SipHash-2-4 against the reference
 * vector, the key derivation, cookies round-tripping with their MSS, valid in their slot and
 * the next only, failing under another key, another tuple, ISN or family, or with any bit
 * changed; the sequence translation and the reset's sequence with their incremental checksums
 * against a full recomputation (pseudo-header included), across the 2^32 wrap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "csum.h"
#include "syncookie.h"
#include "tcp_segment.h"

/* SipHash-2-4 of the 16-byte message 00..0f under the key 00..0f: the paper's appendix A
 * uses 15 bytes; the reference implementation's vectors.h gives 16 bytes as
 * 0x3f2acc7f57c29bdb (vectors_sip64[16], little-endian bytes db 9b c2 57 7f cc 2a 3f). */
static void test_siphash_vector(void **state)
{
    (void)state;
    struct sc_key k;
    uint8_t kb[16], mb[16];
    for (int i = 0; i < 16; i++)
        kb[i] = mb[i] = (uint8_t)i;
    memcpy(&k.k0, kb, 8);
    memcpy(&k.k1, kb + 8, 8);
    __u64 m[2];
    memcpy(m, mb, 16);
    assert_int_equal(sc_siphash(&k, m, 2), 0x3f2acc7f57c29bdbull);
}

static void test_key_derive(void **state)
{
    (void)state;
    struct sc_key a, b, c;
    sc_key_derive(&a, 42);
    sc_key_derive(&b, 42);
    sc_key_derive(&c, 43);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_true(a.k0 != c.k0 && a.k1 != c.k1);
    assert_true(a.k0 != a.k1);
}

static void test_mss_index(void **state)
{
    (void)state;
    assert_int_equal(sc_mss_index(100), 0);
    assert_int_equal(sc_mss_index(536), 0);
    assert_int_equal(sc_mss_index(1219), 0);
    assert_int_equal(sc_mss_index(1220), 1);
    assert_int_equal(sc_mss_index(1439), 1);
    assert_int_equal(sc_mss_index(1440), 2);
    assert_int_equal(sc_mss_index(1460), 3);
    assert_int_equal(sc_mss_index(8960), 3);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(sc_mss_index(sc_mss_of(i)), i);
}

static void test_cookie(void **state)
{
    (void)state;
    struct sc_key k, other;
    sc_key_derive(&k, 0x1234567890abcdefull);
    sc_key_derive(&other, 0x1234567890abcdeeull);
    uint8_t src[16] = {0}, dst[16] = {0}, src6[16], dst6[16];
    inet_pton(AF_INET, "10.77.2.2", src);
    inet_pton(AF_INET, "10.77.2.1", dst);
    inet_pton(AF_INET6, "fd00:77:2::2", src6);
    inet_pton(AF_INET6, "fd00:77:2::1", dst6);
    const __u16 sp = htons(40000), dp = htons(80);
    const uint32_t slot = 27000000, isn = 0xfffffff0u;
    uint16_t mss;
    for (unsigned idx = 0; idx < 4; idx++) {
        const uint32_t c = sc_cookie(&k, src, dst, sp, dp, 4, isn, slot, idx);
        assert_int_equal(c >> 27, slot & 31);
        assert_int_equal((c >> 25) & 3, idx);
        mss = 0;
        assert_true(sc_cookie_ok(&k, src, dst, sp, dp, 4, isn, c, slot, &mss));
        assert_int_equal(mss, sc_mss_of(idx));
        assert_true(sc_cookie_ok(&k, src, dst, sp, dp, 4, isn, c, slot + 1, &mss));
        assert_false(sc_cookie_ok(&k, src, dst, sp, dp, 4, isn, c, slot + 2, &mss));
        assert_false(sc_cookie_ok(&k, src, dst, sp, dp, 4, isn, c, slot + 32, &mss));
        assert_false(sc_cookie_ok(&k, src, dst, sp, dp, 4, isn, c, slot - 1, &mss));
        assert_false(sc_cookie_ok(&other, src, dst, sp, dp, 4, isn, c, slot, &mss));
        assert_false(sc_cookie_ok(&k, src, dst, sp, dp, 4, isn + 1, c, slot, &mss));
        assert_false(sc_cookie_ok(&k, dst, src, sp, dp, 4, isn, c, slot, &mss));
        assert_false(sc_cookie_ok(&k, src, dst, htons(40001), dp, 4, isn, c, slot, &mss));
        assert_false(sc_cookie_ok(&k, src, dst, sp, htons(81), 4, isn, c, slot, &mss));
        assert_false(sc_cookie_ok(&k, src, dst, sp, dp, 6, isn, c, slot, &mss));
        for (int b = 0; b < 32; b++)
            assert_false(sc_cookie_ok(&k, src, dst, sp, dp, 4, isn, c ^ (1u << b), slot, &mss));
    }
    const uint32_t c6 = sc_cookie(&k, src6, dst6, sp, dp, 6, 7, slot, 2);
    assert_true(sc_cookie_ok(&k, src6, dst6, sp, dp, 6, 7, c6, slot, &mss));
    assert_int_equal(mss, SC_MSS2);
    src6[15] ^= 1;
    assert_false(sc_cookie_ok(&k, src6, dst6, sp, dp, 6, 7, c6, slot, &mss));
    /* Slot 0: no slot before it to accept. */
    const uint32_t c0 = sc_cookie(&k, src, dst, sp, dp, 4, 1, 31, 0);
    assert_false(sc_cookie_ok(&k, src, dst, sp, dp, 4, 1, c0, 0, &mss));
}

/* A segment of the web server (10.77.1.2:8080 / fd00:77:1::2) to a client, 13 bytes of
 * payload. */
static void seg_init(struct tcp_seg *s, int v6, uint32_t seq, uint32_t ack, uint8_t flags)
{
    tcp_seg_build(s, v6 ? 6 : 4, false, v6 ? "fd00:77:1::2" : "10.77.1.2",
                  v6 ? "fd00:77:2::2" : "10.77.2.2", 8080, 40001, seq, ack, flags, 0, 13);
}

static void test_translate(void **state)
{
    (void)state;
    const uint32_t deltas[] = {1, 0x80000000u, 0xfffffffeu, 0x12345678u, 0};
    for (int v6 = 0; v6 < 2; v6++) {
        for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
            const uint32_t d = deltas[i];
            struct tcp_seg s;
            /* Client -> server: ack += delta (across the wrap), seq untouched. */
            seg_init(&s, v6, 1000, 0xfffffff0u, 0x18);
            sc_translate(tcp_seg_th(&s), 0, d);
            assert_int_equal(rd32(tcp_seg_th(&s) + 8), (uint32_t)(0xfffffff0u + d));
            assert_int_equal(rd32(tcp_seg_th(&s) + 4), 1000);
            assert_true(tcp_seg_csum_ok(&s));
            /* Server -> client: seq -= delta, ack untouched. */
            seg_init(&s, v6, 5, 77, 0x10);
            sc_translate(tcp_seg_th(&s), 1, d);
            assert_int_equal(rd32(tcp_seg_th(&s) + 4), (uint32_t)(5 - d));
            assert_int_equal(rd32(tcp_seg_th(&s) + 8), 77);
            assert_true(tcp_seg_csum_ok(&s));
            /* Client -> server without ACK (a retransmitted SYN): nothing to translate. */
            seg_init(&s, v6, 5, 77, 0x02);
            struct tcp_seg before = s;
            sc_translate(tcp_seg_th(&s), 0, d);
            assert_memory_equal(&s, &before, sizeof(s));
        }
    }
    /* Translating there and back is the identity. */
    struct tcp_seg s, orig;
    seg_init(&s, 0, 0xdeadbeef, 0x01020304, 0x10);
    orig = s;
    sc_translate(tcp_seg_th(&s), 1, 0x11111111u);
    sc_translate(tcp_seg_th(&s), 1, (uint32_t)-0x11111111);
    assert_memory_equal(&s, &orig, sizeof(s));
}

static void test_set_seq(void **state)
{
    (void)state;
    for (int v6 = 0; v6 < 2; v6++) {
        struct tcp_seg s;
        seg_init(&s, v6, 0, 0x5001, 0x14); /* the server's RST|ACK to our SYN */
        sc_set_seq(tcp_seg_th(&s), 0xabcdef01u);
        assert_int_equal(rd32(tcp_seg_th(&s) + 4), 0xabcdef01u);
        assert_int_equal(rd32(tcp_seg_th(&s) + 8), 0x5001);
        assert_true(tcp_seg_csum_ok(&s));
    }
}

static void test_csum_repl32(void **state)
{
    (void)state;
    uint8_t buf[40];
    uint32_t x = 12345;
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < sizeof(buf); i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        const uint16_t c = csum_compute(buf, sizeof(buf));
        uint32_t from, to;
        const size_t off = (size_t)(x % 10) * 4;
        memcpy(&from, buf + off, 4);
        x = x * 1103515245u + 12345u;
        to = round % 7 == 0 ? 0 : round % 7 == 1 ? 0xffffffffu : x;
        memcpy(buf + off, &to, 4);
        assert_int_equal(sc_csum_repl32(c, from, to), csum_replace4(c, from, to));
        /* As a checksum field would sit among the data: the sum over all words stays valid
         * (0 and 0xffff are the same in one's complement). */
        const uint16_t full = csum_compute(buf, sizeof(buf)), inc = sc_csum_repl32(c, from, to);
        assert_true(full == inc || (full == 0xffff && inc == 0) || (full == 0 && inc == 0xffff));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vector), cmocka_unit_test(test_key_derive),
        cmocka_unit_test(test_mss_index),      cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_translate),      cmocka_unit_test(test_set_seq),
        cmocka_unit_test(test_csum_repl32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
