/* SPDX-License-Identifier: MIT */
/* Unit tests for dataplane/rewrite.c: MACs, VLAN removal, TTL / hop limit with checksums. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csum.h"
#include "rewrite.h"

static uint16_t stored_csum(const uint8_t *ip)
{
    uint16_t c;
    memcpy(&c, ip + 10, 2);
    return c;
}

/* The checksum computed from scratch over the header (checksum field as zero). */
static uint16_t full_csum(const uint8_t *ip, size_t hl)
{
    uint8_t tmp[60];
    memcpy(tmp, ip, hl);
    tmp[10] = tmp[11] = 0;
    return csum_compute(tmp, hl);
}

static void random_header(uint8_t *ip, size_t *hl_out, uint8_t ttl)
{
    size_t hl = 4 * (5 + (size_t)(rand() % 11)); /* IHL 5..15: with options */
    for (size_t i = 0; i < hl; i++)
        ip[i] = (uint8_t)rand();
    ip[0] = (uint8_t)(0x40 | (hl / 4));
    ip[8] = ttl;
    ip[10] = ip[11] = 0;
    uint16_t c = csum_compute(ip, hl);
    memcpy(ip + 10, &c, 2);
    *hl_out = hl;
}

static void test_ttl_checksum_matches_recomputation(void **state)
{
    (void)state;
    srand(4242);
    for (int i = 0; i < 200000; i++) {
        uint8_t ip[60];
        size_t hl;
        uint8_t ttl = (uint8_t)(2 + rand() % 254);
        random_header(ip, &hl, ttl);
        uint8_t before[60];
        memcpy(before, ip, hl);
        rewrite_ipv4_ttl(ip);
        assert_int_equal(ip[8], ttl - 1);
        assert_int_equal(stored_csum(ip), full_csum(ip, hl));
        /* The receiver's check: the sum over the whole header folds to zero. */
        assert_int_equal(csum_compute(ip, hl), 0);
        /* Nothing else moved. */
        for (size_t k = 0; k < hl; k++)
            if (k != 8 && k != 10 && k != 11)
                assert_int_equal(ip[k], before[k]);
    }
}

/* Every TTL value, including the decrements that borrow across the checksum's bytes. */
static void test_every_ttl(void **state)
{
    (void)state;
    for (unsigned ttl = 1; ttl <= 255; ttl++) {
        for (unsigned proto = 0; proto < 256; proto += 17) {
            uint8_t ip[20] = {
                0x45, 0,  0, 84, 0x12, 0x34, 0x40, 0, (uint8_t)ttl, (uint8_t)proto, 0, 0,
                10,   77, 1, 2,  10,   77,   2,    2};
            uint16_t c = csum_compute(ip, 20);
            memcpy(ip + 10, &c, 2);
            rewrite_ipv4_ttl(ip);
            assert_int_equal(ip[8], ttl - 1);
            assert_int_equal(stored_csum(ip), full_csum(ip, 20));
        }
    }
}

static void test_hop_limit(void **state)
{
    (void)state;
    uint8_t ip6[40];
    memset(ip6, 0xab, sizeof(ip6));
    ip6[0] = 0x60;
    ip6[7] = 64;
    uint8_t before[40];
    memcpy(before, ip6, 40);
    rewrite_ipv6_hop(ip6);
    assert_int_equal(ip6[7], 63);
    before[7] = 63;
    assert_memory_equal(ip6, before, 40);
    ip6[7] = 2;
    rewrite_ipv6_hop(ip6);
    assert_int_equal(ip6[7], 1);
}

static void test_macs(void **state)
{
    (void)state;
    uint8_t pkt[64];
    for (int i = 0; i < 64; i++)
        pkt[i] = (uint8_t)i;
    const uint8_t dst[6] = {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    const uint8_t src[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
    rewrite_l2(pkt, dst, src);
    assert_memory_equal(pkt, dst, 6);
    assert_memory_equal(pkt + 6, src, 6);
    for (int i = 12; i < 64; i++)
        assert_int_equal(pkt[i], i);
}

static void test_strip_vlan(void **state)
{
    (void)state;
    /* One tag. */
    uint8_t frame[64];
    for (int i = 0; i < 12; i++)
        frame[i] = (uint8_t)(0xa0 + i);
    frame[12] = 0x81;
    frame[13] = 0x00;
    frame[14] = 0x00;
    frame[15] = 0x64;
    frame[16] = 0x08;
    frame[17] = 0x00;
    for (int i = 18; i < 64; i++)
        frame[i] = (uint8_t)i;
    uint8_t *p = rewrite_strip_vlan(frame, 1);
    assert_ptr_equal(p, frame + 4);
    for (int i = 0; i < 12; i++)
        assert_int_equal(p[i], 0xa0 + i);
    assert_int_equal(p[12], 0x08);
    assert_int_equal(p[13], 0x00);
    for (int i = 14; i < 60; i++)
        assert_int_equal(p[i], i + 4);

    /* Two tags (QinQ). */
    for (int i = 0; i < 12; i++)
        frame[i] = (uint8_t)(0xb0 + i);
    frame[12] = 0x88;
    frame[13] = 0xa8;
    frame[16] = 0x81;
    frame[17] = 0x00;
    frame[20] = 0x86;
    frame[21] = 0xdd;
    for (int i = 22; i < 64; i++)
        frame[i] = (uint8_t)i;
    p = rewrite_strip_vlan(frame, 2);
    assert_ptr_equal(p, frame + 8);
    for (int i = 0; i < 12; i++)
        assert_int_equal(p[i], 0xb0 + i);
    assert_int_equal(p[12], 0x86);
    assert_int_equal(p[13], 0xdd);
    for (int i = 14; i < 56; i++)
        assert_int_equal(p[i], i + 8);
}

/* ICMP echo NAT to identifier 0: an echo reply whose message is then all zeros must carry
 * 0xffff (0x0000 fails verification); one that merely sums to 0xffff keeps 0x0000. */
static void test_icmp_echo_id_zero_checksum(void **state)
{
    (void)state;
    uint8_t ip[20 + 16];
    for (int payload_one = 0; payload_one < 2; payload_one++) {
        memset(ip, 0, sizeof(ip));
        ip[0] = 0x45;
        ip[2] = 0;
        ip[3] = sizeof(ip);
        ip[8] = 64;
        ip[9] = 1;
        uint8_t *ic = ip + 20;
        ic[0] = 0;    /* echo reply */
        ic[4] = 0x04; /* identifier 0x0400 (translated) */
        if (payload_one) {
            /* Data chosen so that the message sums to 0xffff with identifier 0. */
            ic[8] = 0xff;
            ic[9] = 0xff;
        }
        uint16_t c = csum_compute(ic, 16);
        memcpy(ic + 2, &c, 2);
        uint32_t a = 0;
        rewrite_nat_v4(ip, ic, 1, a, a, 0, 0);
        assert_int_equal(ic[4], 0);
        assert_int_equal(csum_compute(ic, 16), 0); /* verifies */
        uint16_t got;
        memcpy(&got, ic + 2, 2);
        assert_int_equal(got, payload_one ? 0x0000 : 0xffff);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ttl_checksum_matches_recomputation),
        cmocka_unit_test(test_every_ttl),
        cmocka_unit_test(test_hop_limit),
        cmocka_unit_test(test_macs),
        cmocka_unit_test(test_strip_vlan),
        cmocka_unit_test(test_icmp_echo_id_zero_checksum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
