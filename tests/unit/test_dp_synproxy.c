/* SPDX-License-Identifier: MIT */
/*
 * test_dp_synproxy.c — SYN cookies and the SYN proxy's builders (dataplane/synproxy.c):
 * cookies round-trip with their MSS, expire after the next slot, fail under another key, for
 * another tuple or ISN, or with any bit changed; the MSS option parser; the SYN-ACK, the
 * SYN rebuilt from the client's ACK and the ACK built from the server's SYN-ACK, with every
 * field and both checksums checked by full recomputation (IPv4 and IPv6); the sequence
 * translation's incremental checksum against a full recomputation; and the screen's cookie
 * verdict and box-wide SYN thresholds across workers (dataplane/screen.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "csum.h"
#include "screen.h"
#include "synproxy.h"
#include "tcp_segment.h"
#include "wire.h"

static void tuple(struct flow_tuple *t, int family, const char *src, const char *dst,
                  uint16_t sport, uint16_t dport)
{
    memset(t, 0, sizeof(*t));
    t->family = (uint8_t)family;
    t->proto = IPPROTO_TCP;
    inet_pton(family == 6 ? AF_INET6 : AF_INET, src, t->src);
    inet_pton(family == 6 ? AF_INET6 : AF_INET, dst, t->dst);
    t->sport = htons(sport);
    t->dport = htons(dport);
}

static void test_cookie(void **state)
{
    (void)state;
    struct sc_key k, other;
    sp_key_derive(&k, 0x1234567890abcdefull);
    sp_key_derive(&other, 0x1234567890abcdeeull);
    assert_true(k.k0 != other.k0 || k.k1 != other.k1);
    struct flow_tuple t, t2;
    tuple(&t, 4, "10.77.1.2", "10.77.1.1", 40000, 8080);
    const uint32_t isn = 0xdeadbeef;
    const uint32_t slot = sp_slot(123456789000ull);
    for (unsigned idx = 0; idx < 4; idx++) {
        const uint32_t c = sp_cookie_make(&k, &t, isn, slot, idx);
        uint16_t mss = 0;
        assert_true(sp_cookie_check(&k, &t, isn, c, slot, &mss));
        assert_int_equal(mss, sp_mss_table[idx]);
        /* The next slot still accepts it; two slots later it has expired. */
        assert_true(sp_cookie_check(&k, &t, isn, c, slot + 1, &mss));
        assert_false(sp_cookie_check(&k, &t, isn, c, slot + 2, &mss));
        assert_false(sp_cookie_check(&k, &t, isn, c, slot + 33, &mss)); /* same low bits */
        assert_false(sp_cookie_check(&k, &t, isn, c, slot - 1, &mss));  /* not yet made */
        /* Another key (another boot), ISN or tuple. */
        assert_false(sp_cookie_check(&other, &t, isn, c, slot, &mss));
        assert_false(sp_cookie_check(&k, &t, isn + 1, c, slot, &mss));
        t2 = t;
        t2.sport = htons(40001);
        assert_false(sp_cookie_check(&k, &t2, isn, c, slot, &mss));
        t2 = t;
        t2.src[3] ^= 1;
        assert_false(sp_cookie_check(&k, &t2, isn, c, slot, &mss));
        /* Any single bit flipped (MAC, MSS index or slot bits). */
        for (int b = 0; b < 32; b++)
            assert_false(sp_cookie_check(&k, &t, isn, c ^ (1u << b), slot, &mss));
    }
    /* IPv6 tuples too; and cookies of one tuple spread (no constant pattern). */
    tuple(&t, 6, "fd00:77:1::2", "fd00:77:1::1", 1, 443);
    uint16_t mss;
    const uint32_t c6 = sp_cookie_make(&k, &t, 7, slot, 3);
    assert_true(sp_cookie_check(&k, &t, 7, c6, slot, &mss));
    assert_int_equal(mss, 1460);
    unsigned same = 0;
    for (uint32_t i = 1; i < 64; i++)
        same += (sp_cookie_make(&k, &t, 7 + i, slot, 3) & 0x1ffffff) == (c6 & 0x1ffffff);
    assert_true(same == 0);
    /* The MSS index: the largest entry not above the client's MSS. */
    assert_int_equal(sp_mss_index(100), 0);
    assert_int_equal(sp_mss_index(536), 0);
    assert_int_equal(sp_mss_index(1219), 0);
    assert_int_equal(sp_mss_index(1220), 1);
    assert_int_equal(sp_mss_index(1459), 2);
    assert_int_equal(sp_mss_index(1460), 3);
    assert_int_equal(sp_mss_index(9000), 3);
}

static void test_mss_option(void **state)
{
    (void)state;
    uint8_t th[60] = {0};
    th[12] = 5 << 4;
    assert_int_equal(sp_syn_mss(th, 20), 536); /* no options */
    th[12] = 10 << 4;                          /* 40 bytes: NOP NOP SACK-perm, then MSS */
    th[20] = 1;
    th[21] = 1;
    th[22] = 4;
    th[23] = 2;
    th[24] = 2;
    th[25] = 4;
    th[26] = 0x05;
    th[27] = 0xb4;
    assert_int_equal(sp_syn_mss(th, 40), 1460);
    assert_int_equal(sp_syn_mss(th, 26), 536); /* truncated by the packet */
    th[23] = 0;                                /* a bad length ends the walk */
    assert_int_equal(sp_syn_mss(th, 40), 536);
}

/* Checks the IP and TCP checksums of a built frame of len bytes by full recomputation;
 * returns the TCP header. */
static const uint8_t *check_frame(const uint8_t *b, uint32_t len, uint32_t l3, int family,
                                  uint32_t tcp_len)
{
    const uint8_t *ip = b + l3;
    const bool v6 = family == 6;
    const uint32_t iph = v6 ? 40 : (uint32_t)(ip[0] & 15) * 4;
    assert_int_equal(len, l3 + iph + tcp_len);
    if (!v6) {
        assert_int_equal(csum_compute(ip, iph), 0);
        assert_int_equal(rd16(ip + 2), iph + tcp_len);
        assert_int_equal(ip[9], IPPROTO_TCP);
    } else {
        assert_int_equal(rd16(ip + 4), tcp_len);
        assert_int_equal(ip[6], IPPROTO_TCP);
    }
    const uint8_t *t = ip + iph;
    assert_int_equal((t[12] >> 4) * 4, tcp_len);
    /* A segment carrying its checksum sums to zero with its pseudo-header. */
    assert_int_equal(
        l4_csum(v6, v6 ? ip + 8 : ip + 12, v6 ? ip + 24 : ip + 16, IPPROTO_TCP, t, tcp_len), 0);
    return t;
}

static void handshake(int family, bool vlan)
{
    const bool v6 = family == 6;
    const char *cli = v6 ? "fd00:77:1::2" : "10.77.1.2";
    const char *vip = v6 ? "fd00:77:1::1" : "10.77.1.1";
    const char *srv = v6 ? "fd00:77:2::2" : "10.77.2.2";
    const uint32_t l3 = vlan ? 18 : 14;
    struct tcp_seg s;
    /* 1. The client's SYN (MSS 1420 + NOPs) -> the cookie SYN-ACK back to it. */
    tcp_seg_build(&s, family, vlan, cli, vip, 40000, 8080, 1000, 0, 0x02, 12, 0);
    assert_int_equal(sp_syn_mss(s.b + s.m.l4_off, 32), 1420);
    const uint32_t cookie = 0xabcdef01;
    uint32_t n = sp_build_synack(s.b, sizeof(s.b), &s.pi, &s.m, cookie, 1460);
    const uint8_t *t = check_frame(s.b, n, l3, family, 24);
    assert_memory_equal(s.b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    if (vlan)
        assert_int_equal(rd16(s.b + 12), 0x8100);
    const uint8_t *ip = s.b + l3;
    assert_memory_equal(v6 ? ip + 8 : ip + 12, s.m.dst, v6 ? 16 : 4); /* from the VIP */
    assert_memory_equal(v6 ? ip + 24 : ip + 16, s.m.src, v6 ? 16 : 4);
    assert_int_equal(rd16(t), 8080);
    assert_int_equal(rd16(t + 2), 40000);
    assert_int_equal(rd32(t + 4), cookie);
    assert_int_equal(rd32(t + 8), 1001);
    assert_int_equal(t[13], 0x12);
    assert_memory_equal(t + 20, "\x02\x04\x05\xb4", 4);
    assert_int_equal(sp_build_synack(s.b, n - 1, &s.pi, &s.m, cookie, 1460), 0); /* no room */

    /* 2. The client's ACK (with 12 bytes of options and 30 of payload) -> its SYN again. */
    tcp_seg_build(&s, family, vlan, cli, vip, 40000, 8080, 1001, cookie + 1, 0x10, 12, 30);
    n = sp_ack_to_syn(s.b, sizeof(s.b), &s.pi, &s.m, 1000, 1220);
    t = check_frame(s.b, n, l3, family, 24);
    assert_int_equal(s.pi.l3_len, n - l3);
    assert_int_equal(rd16(t), 40000);
    assert_int_equal(rd16(t + 2), 8080);
    assert_int_equal(rd32(t + 4), 1000);
    assert_int_equal(rd32(t + 8), 0);
    assert_int_equal(t[13], 0x02);
    assert_int_equal(rd16(t + 14), 0x7210); /* the client's window */
    assert_memory_equal(t + 20, "\x02\x04\x04\xc4", 4);
    assert_int_equal(s.b[l3 + (v6 ? 7 : 8)], 61); /* the IP header kept (TTL) */

    /* 3. The server's SYN-ACK -> the ACK back to the server. */
    tcp_seg_build(&s, family, vlan, srv, cli, 8080, 40000, 777777, 1001, 0x12, 20, 0);
    n = sp_synack_to_ack(s.b, sizeof(s.b), &s.pi, &s.m, 0x7210);
    t = check_frame(s.b, n, l3, family, 20);
    ip = s.b + l3;
    assert_memory_equal(v6 ? ip + 24 : ip + 16, s.m.src, v6 ? 16 : 4); /* to the server */
    assert_int_equal(rd16(t), 40000);
    assert_int_equal(rd16(t + 2), 8080);
    assert_int_equal(rd32(t + 4), 1001);
    assert_int_equal(rd32(t + 8), 777778);
    assert_int_equal(t[13], 0x10);
    assert_int_equal(rd16(t + 14), 0x7210);
}

static void test_builders(void **state)
{
    (void)state;
    handshake(4, false);
    handshake(4, true);
    handshake(6, false);
    handshake(6, true);
}

/* sp_translate() against a full recomputation, both directions, random numbers and deltas,
 * odd payload lengths, flags with and without ACK. */
static void test_translate(void **state)
{
    (void)state;
    srandom(9);
    for (int i = 0; i < 2000; i++) {
        const int family = (i & 1) ? 6 : 4;
        const unsigned dir = (i >> 1) & 1;
        const uint32_t seq = (uint32_t)random() << 1 ^ (uint32_t)random();
        const uint32_t ack = (uint32_t)random() << 1 ^ (uint32_t)random();
        const uint32_t delta = (uint32_t)random() << 1 ^ (uint32_t)random();
        const uint8_t flags = (i % 7 == 0) ? 0x02 : (i % 5 == 0 ? 0x11 : 0x18);
        struct tcp_seg s;
        tcp_seg_build(&s, family, false, family == 6 ? "fd00::1" : "192.0.2.1",
                      family == 6 ? "fd00::2" : "198.51.100.7", (uint16_t)random(),
                      (uint16_t)random(), seq, ack, flags, (uint32_t)(i % 3) * 4,
                      (uint32_t)(i % 41));
        uint8_t *t = tcp_seg_th(&s);
        sp_translate(t, dir, delta);
        if (dir) {
            assert_int_equal(rd32(t + 4), seq - delta);
            assert_int_equal(rd32(t + 8), ack);
        } else {
            assert_int_equal(rd32(t + 4), seq);
            assert_int_equal(rd32(t + 8), (flags & 0x10) ? ack + delta : ack);
        }
        assert_true(tcp_seg_csum_ok(&s));
    }
}

/* The screen's verdict in syn-cookie mode, and SYN thresholds summed over workers. */
static void test_screen_cookie_boxwide(void **state)
{
    (void)state;
    struct scr_worker *w[2];
    assert_int_equal(scr_worker_create(&w[0], 42), 0);
    assert_int_equal(scr_worker_create(&w[1], 42), 0);
    struct scr_profile p = {.id = 1, .syn_attack = 10};
    struct tcp_seg s;
    tcp_seg_build(&s, 4, false, "10.0.0.1", "10.0.0.2", 40000, 80, 1, 0, 0x02, 0, 0);
    /* Alone, each worker passes its 10. */
    unsigned passed = 0;
    for (int i = 0; i < 30; i++)
        passed += screen_packet(w[0], &p, 3, s.b, s.len, &s.m, 14, 1000) == SCR_PASS;
    assert_int_equal(passed, 10);
    /* Peers: 8 on worker 0, then worker 1 passes its share (5) freely and the box's
     * remainder: 10 in all in the second. */
    scr_worker_peers(w[0], w, 2);
    scr_worker_peers(w[1], w, 2);
    passed = 0;
    for (int i = 0; i < 8; i++)
        passed += screen_packet(w[0], &p, 3, s.b, s.len, &s.m, 14, 2000) == SCR_PASS;
    assert_int_equal(passed, 8);
    unsigned passed1 = 0;
    for (int i = 0; i < 20; i++)
        passed1 += screen_packet(w[1], &p, 3, s.b, s.len, &s.m, 14, 2000) == SCR_PASS;
    assert_int_equal(passed1, 5); /* its share: 5 of 10 even though the box has 8 already */
    /* Worker 0 is past its share: it sees the box (8 + 20 > 10) and refuses. */
    assert_int_equal(screen_packet(w[0], &p, 3, s.b, s.len, &s.m, 14, 2000), SCR_DROP);
    assert_int_equal(w[0]->ctr[3][SCR_C_SYN_FLOOD], 20 + 1);
    /* syn-cookie mode: above the threshold is SCR_COOKIE, not counted as a drop. */
    p.syn_cookie = true;
    const uint64_t before = w[0]->ctr[3][SCR_C_SYN_FLOOD];
    assert_int_equal(screen_packet(w[0], &p, 3, s.b, s.len, &s.m, 14, 2000), SCR_COOKIE);
    assert_int_equal(w[0]->ctr[3][SCR_C_SYN_FLOOD], before);
    /* Sticky in syn-cookie mode: the next second's first SYN gets a cookie too (the key was
     * over in the second before), the second after that, below the threshold, passes. */
    assert_int_equal(screen_packet(w[0], &p, 3, s.b, s.len, &s.m, 14, 3000), SCR_COOKIE);
    assert_int_equal(screen_packet(w[0], &p, 3, s.b, s.len, &s.m, 14, 4000), SCR_PASS);
    /* Drop mode keeps plain per-second windows. */
    p.syn_cookie = false;
    for (int i = 0; i < 12; i++)
        screen_packet(w[0], &p, 3, s.b, s.len, &s.m, 14, 5000);
    assert_int_equal(screen_packet(w[0], &p, 3, s.b, s.len, &s.m, 14, 6000), SCR_PASS);
    /* The per-source threshold still drops. */
    struct scr_profile ps = {.id = 2, .syn_src = 1, .syn_cookie = true};
    assert_int_equal(screen_packet(w[0], &ps, 3, s.b, s.len, &s.m, 14, 3000), SCR_PASS);
    assert_int_equal(screen_packet(w[0], &ps, 3, s.b, s.len, &s.m, 14, 3000), SCR_DROP);
    scr_worker_destroy(w[0]);
    scr_worker_destroy(w[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_mss_option),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_translate),
        cmocka_unit_test(test_screen_cookie_boxwide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
