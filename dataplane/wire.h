/* SPDX-License-Identifier: MIT */
/*
 * wire.h — big-endian fields read and written byte by byte (the dataplane's parsers, flow path,
 * screens and NAT), and what the frame builders (reject.c, synproxy.c) share: a fresh IPv4/IPv6
 * header and the checksum of an L4 message over its IPv4/IPv6 pseudo-header (RFC 9293 3.1,
 * RFC 8200 8.1).
 */
#ifndef MOAT_DP_WIRE_H
#define MOAT_DP_WIRE_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "csum.h"

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A fresh IP header at ip from src to dst (4 or 16 bytes as the family), carrying proto with
 * l4_len bytes behind it: IPv4 with DF and TTL 64 (checksum set), IPv6 with hop limit 64.
 * Returns its length (20 or 40). */
static inline uint32_t ip_put_header(uint8_t *ip, bool v6, const uint8_t *src, const uint8_t *dst,
                                     uint8_t proto, uint32_t l4_len)
{
    if (!v6) {
        memset(ip, 0, 20);
        ip[0] = 0x45;
        wr16(ip + 2, (uint16_t)(20 + l4_len));
        wr16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = proto;
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        const uint16_t c = csum_compute(ip, 20);
        memcpy(ip + 10, &c, 2);
        return 20;
    }
    memset(ip, 0, 40);
    ip[0] = 0x60;
    wr16(ip + 4, (uint16_t)l4_len);
    ip[6] = proto;
    ip[7] = 64;
    memcpy(ip + 8, src, 16);
    memcpy(ip + 24, dst, 16);
    return 40;
}

/* Checksum of the L4 message at l4 (len bytes, proto) with the pseudo-header of src and dst,
 * as stored in the message. */
static inline uint16_t l4_csum(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                               const uint8_t *l4, uint32_t len)
{
    const unsigned alen = v6 ? 16 : 4;
    uint32_t sum = csum_partial(src, alen, 0);
    sum = csum_partial(dst, alen, sum);
    sum += htons(proto);
    if (v6) {
        const uint32_t l = htonl(len);
        sum = csum_partial(&l, 4, sum);
    } else {
        sum += htons((uint16_t)len);
    }
    /* Fold now: csum_partial adds 16-bit words to a 32-bit sum. */
    sum = (sum & 0xffff) + (sum >> 16);
    sum = csum_partial(l4, len, sum);
    return csum_fold(sum);
}

#endif
