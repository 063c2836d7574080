/* SPDX-License-Identifier: MIT */
/*
 * dp_test_frames.h — synthetic IPv4/IPv6 TCP/UDP/ICMP headers for the dataplane unit tests
 * (through dp_test_env.h: test_dp_flow.c, test_dp_nat.c) and the fuzz seed writer
 * (tests/fuzz/seeds.c). Header-only: each includes it once.
 */
#ifndef MOAT_DP_TEST_FRAMES_H
#define MOAT_DP_TEST_FRAMES_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "csum.h"

struct pkt_spec {
    const char *src, *dst;
    uint8_t proto;
    uint16_t sport, dport; /* TCP/UDP; ICMP echo: sport = id */
    uint8_t flags;         /* TCP */
    uint32_t seq, ack;
    uint8_t icmp_type, icmp_code;
    const uint8_t *inner; /* ICMP error: the quoted IP packet */
    uint32_t inner_len;
    uint16_t payload;
    uint16_t ip_id;
    int frag; /* 0 none, 1 first fragment, 2 later fragment */
    uint16_t in_port;
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* Builds the IP packet (no Ethernet) of spec at ip; returns its length. */
static uint32_t build_ip(const struct pkt_spec *sp, uint8_t *ip, uint8_t *src, uint8_t *dst,
                         int *v6out, uint32_t *l4off)
{
    int v6 = strchr(sp->src, ':') != NULL;
    *v6out = v6;
    inet_pton(v6 ? AF_INET6 : AF_INET, sp->src, src);
    inet_pton(v6 ? AF_INET6 : AF_INET, sp->dst, dst);
    uint32_t hl = v6 ? 40 : 20;
    uint32_t fh = v6 && sp->frag ? 8 : 0;
    uint8_t *l4 = ip + hl + fh;
    uint32_t l4len = 0;
    if (sp->frag == 2) {
        memset(l4, 0xee, sp->payload);
        l4len = sp->payload;
    } else if (sp->proto == IPPROTO_TCP) {
        memset(l4, 0, 20);
        put16(l4, sp->sport);
        put16(l4 + 2, sp->dport);
        put32(l4 + 4, sp->seq);
        put32(l4 + 8, sp->ack);
        l4[12] = 5 << 4;
        l4[13] = sp->flags;
        memset(l4 + 20, 0x55, sp->payload);
        l4len = 20u + sp->payload;
    } else if (sp->proto == IPPROTO_UDP) {
        put16(l4, sp->sport);
        put16(l4 + 2, sp->dport);
        put16(l4 + 4, (uint16_t)(8 + sp->payload));
        put16(l4 + 6, 0);
        memset(l4 + 8, 0x66, sp->payload);
        l4len = 8u + sp->payload;
    } else {
        memset(l4, 0, 8);
        l4[0] = sp->icmp_type;
        l4[1] = sp->icmp_code;
        put16(l4 + 4, sp->sport);
        put16(l4 + 6, 1);
        if (sp->inner) {
            memcpy(l4 + 8, sp->inner, sp->inner_len);
            l4len = 8 + sp->inner_len;
        } else {
            memset(l4 + 8, 0x77, sp->payload);
            l4len = 8u + sp->payload;
        }
    }
    *l4off = hl + fh;
    if (!v6) {
        memset(ip, 0, 20);
        ip[0] = 0x45;
        put16(ip + 2, (uint16_t)(20 + l4len));
        put16(ip + 4, sp->ip_id);
        if (sp->frag == 1)
            put16(ip + 6, 0x2000);
        else if (sp->frag == 2)
            put16(ip + 6, 0x00b9); /* offset 1480 / 8 */
        ip[8] = 64;
        ip[9] = sp->proto;
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        uint16_t c = csum_compute(ip, 20);
        memcpy(ip + 10, &c, 2);
        return 20 + l4len;
    }
    memset(ip, 0, 40);
    ip[0] = 0x60;
    put16(ip + 4, (uint16_t)(fh + l4len));
    ip[6] = sp->frag ? 44 : sp->proto;
    ip[7] = 64;
    memcpy(ip + 8, src, 16);
    memcpy(ip + 24, dst, 16);
    if (fh) {
        uint8_t *f = ip + 40;
        memset(f, 0, 8);
        f[0] = sp->proto;
        put16(f + 2, sp->frag == 2 ? (uint16_t)(1448 | 0) : 1); /* offset, M flag */
        put32(f + 4, sp->ip_id);
    }
    return 40 + fh + l4len;
}

#endif
