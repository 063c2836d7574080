/* SPDX-License-Identifier: MIT */
/*
 * tcp_segment.h — a TCP segment in an Ethernet frame (optionally an 802.1Q tag), IPv4 or IPv6,
 * with valid IP and TCP checksums and the parse results the dataplane would give it (pkt_info,
 * moat_meta), and the check of its TCP checksum by full recomputation: shared by
 * test_dp_synproxy.c and test_syncookie.c. Header-only: each includes it once.
 */
#ifndef MOAT_TEST_TCP_SEGMENT_H
#define MOAT_TEST_TCP_SEGMENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "csum.h"
#include "meta.h"
#include "parse.h"
#include "wire.h"

struct tcp_seg {
    uint8_t b[256];
    uint32_t len;
    struct pkt_info pi;
    struct moat_meta m;
};

/* Builds into s: family 4 or 6, an 802.1Q tag when vlan, TTL 61, opt_len bytes of options
 * (NOPs, the first 4 an MSS of 1420 when there is room), payload bytes of a fixed pattern. */
static void tcp_seg_build(struct tcp_seg *s, int family, bool vlan, const char *src,
                          const char *dst, uint16_t sport, uint16_t dport, uint32_t seq,
                          uint32_t ack, uint8_t flags, uint32_t opt_len, uint32_t payload)
{
    memset(s, 0, sizeof(*s));
    const bool v6 = family == 6;
    uint8_t *e = s->b;
    memcpy(e, "\x02\x00\x00\x00\x00\x01", 6); /* to the box */
    memcpy(e + 6, "\x02\x00\x00\x00\x00\x02", 6);
    uint32_t l3 = 14;
    if (vlan) {
        e[12] = 0x81;
        e[13] = 0x00;
        e[15] = 7;
        l3 = 18;
    }
    e[l3 - 2] = v6 ? 0x86 : 0x08;
    e[l3 - 1] = v6 ? 0xdd : 0x00;
    uint8_t *ip = e + l3;
    const uint32_t iph = v6 ? 40 : 20, tl = 20 + opt_len;
    const uint32_t l3_len = iph + tl + payload;
    if (!v6) {
        ip[0] = 0x45;
        ip[2] = (uint8_t)(l3_len >> 8);
        ip[3] = (uint8_t)l3_len;
        ip[8] = 61;
        ip[9] = IPPROTO_TCP;
        inet_pton(AF_INET, src, ip + 12);
        inet_pton(AF_INET, dst, ip + 16);
        uint16_t c = csum_compute(ip, 20);
        memcpy(ip + 10, &c, 2);
        memcpy(s->m.src, ip + 12, 4);
        memcpy(s->m.dst, ip + 16, 4);
    } else {
        ip[0] = 0x60;
        ip[4] = (uint8_t)((l3_len - 40) >> 8);
        ip[5] = (uint8_t)(l3_len - 40);
        ip[6] = IPPROTO_TCP;
        ip[7] = 61;
        inet_pton(AF_INET6, src, ip + 8);
        inet_pton(AF_INET6, dst, ip + 24);
        memcpy(s->m.src, ip + 8, 16);
        memcpy(s->m.dst, ip + 24, 16);
    }
    uint8_t *t = ip + iph;
    t[0] = (uint8_t)(sport >> 8);
    t[1] = (uint8_t)sport;
    t[2] = (uint8_t)(dport >> 8);
    t[3] = (uint8_t)dport;
    wr32(t + 4, seq);
    wr32(t + 8, ack);
    t[12] = (uint8_t)((tl / 4) << 4);
    t[13] = flags;
    t[14] = 0x72;
    t[15] = 0x10;
    for (uint32_t i = 0; i < opt_len; i++)
        t[20 + i] = 1; /* NOPs */
    if (opt_len >= 4) {
        t[20] = 2;
        t[21] = 4;
        t[22] = 0x05;
        t[23] = 0x8c; /* 1420 */
    }
    for (uint32_t i = 0; i < payload; i++)
        t[tl + i] = (uint8_t)(i * 7 + 1);
    uint16_t c =
        l4_csum(v6, v6 ? ip + 8 : ip + 12, v6 ? ip + 24 : ip + 16, IPPROTO_TCP, t, tl + payload);
    memcpy(t + 16, &c, 2);
    s->len = l3 + l3_len;
    s->pi.family = (uint8_t)family;
    s->pi.ttl = 61;
    s->pi.vlan_tags = vlan ? 1 : 0;
    s->pi.proto = IPPROTO_TCP;
    s->pi.l3_off = (uint16_t)l3;
    s->pi.l3_len = l3_len;
    s->m.sport = htons(sport);
    s->m.dport = htons(dport);
    s->m.proto = IPPROTO_TCP;
    s->m.l3_off = (uint16_t)l3;
    s->m.l4_off = (uint16_t)(l3 + iph);
    s->m.flags = MOAT_META_F_L4 | (v6 ? MOAT_META_F_IPV6 : 0);
}

/* The TCP header of s. */
static inline uint8_t *tcp_seg_th(struct tcp_seg *s)
{
    return s->b + s->m.l4_off;
}

/* True when the TCP checksum of s is right: recomputed in full over the pseudo-header, the
 * header and the payload (0x0000 and 0xffff are the same one's-complement number). */
static bool tcp_seg_csum_ok(const struct tcp_seg *s)
{
    struct tcp_seg c = *s;
    const bool v6 = c.pi.family == 6;
    const uint8_t *ip = c.b + c.pi.l3_off;
    uint8_t *t = c.b + c.m.l4_off;
    const uint32_t tl = c.pi.l3_off + c.pi.l3_len - c.m.l4_off;
    uint16_t stored, full;
    memcpy(&stored, t + 16, 2);
    t[16] = t[17] = 0;
    full = l4_csum(v6, v6 ? ip + 8 : ip + 12, v6 ? ip + 24 : ip + 16, IPPROTO_TCP, t, tl);
    return stored == full || (stored == 0xffff && full == 0) || (stored == 0 && full == 0xffff);
}

#endif
