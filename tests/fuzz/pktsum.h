/* SPDX-License-Identifier: MIT */
/*
 * pktsum.h — full (never incremental) checksum verification and repair of an IP packet, for
 * the packet harness and the seed writer: the IPv4 header checksum, the TCP / UDP / ICMP /
 * ICMPv6 checksum when the packet holds the whole L4 message (not a fragment; IPv6 only
 * without extension headers), and for an IPv4 ICMP error the header checksum of the quoted
 * IPv4 packet.
 */
#ifndef MOAT_FUZZ_PKTSUM_H
#define MOAT_FUZZ_PKTSUM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "csum.h"

struct sum_info {
    bool v6;
    bool ip_ok;      /* IPv4 header checksum verifies (IPv6: true) */
    bool has_l4;     /* the whole L4 message is here and its checksum can be verified */
    bool l4_ok;      /* it verifies (a zero UDP checksum counts as verified) */
    bool udp_zero;   /* UDP with checksum 0 (none) */
    bool has_inner;  /* IPv4 ICMP error quoting a whole IPv4 header */
    bool inner_ok;   /* its header checksum verifies */
    uint32_t l4_off; /* from the IP header */
    uint32_t l4_len; /* bytes of L4 message */
    uint8_t proto;
};

static inline uint16_t ps_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Where the L4 checksum sits in a message of proto, or -1. */
static inline int ps_csum_off(uint8_t proto)
{
    switch (proto) {
    case IPPROTO_TCP:
        return 16;
    case IPPROTO_UDP:
        return 6;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        return 2;
    default:
        return -1;
    }
}

static inline uint16_t ps_l4_sum(const uint8_t *ip, bool v6, uint8_t proto, const uint8_t *l4,
                                 uint32_t len)
{
    uint32_t sum = 0;
    if (v6) {
        uint8_t ph[40] = {0};
        memcpy(ph, ip + 8, 32);
        ph[32] = (uint8_t)(len >> 24);
        ph[33] = (uint8_t)(len >> 16);
        ph[34] = (uint8_t)(len >> 8);
        ph[35] = (uint8_t)len;
        ph[39] = proto;
        sum = csum_partial(ph, 40, 0);
    } else if (proto != IPPROTO_ICMP) {
        uint8_t ph[12] = {0};
        memcpy(ph, ip + 12, 8);
        ph[9] = proto;
        ph[10] = (uint8_t)(len >> 8);
        ph[11] = (uint8_t)len;
        sum = csum_partial(ph, 12, 0);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    return csum_fold(csum_partial(l4, len, sum));
}

/*
 * Inspects the IP packet at ip (avail bytes readable there). False when it is not a
 * consistent IPv4/IPv6 packet (version, header and total lengths within avail).
 */
static inline bool sum_inspect(const uint8_t *ip, uint32_t avail, struct sum_info *si)
{
    memset(si, 0, sizeof(*si));
    if (avail < 1)
        return false;
    if ((ip[0] >> 4) == 4) {
        if (avail < 20)
            return false;
        const uint32_t hl = (uint32_t)(ip[0] & 15) * 4, tot = ps_rd16(ip + 2);
        if (hl < 20 || tot < hl || tot > avail)
            return false;
        si->ip_ok = csum_compute(ip, hl) == 0;
        si->proto = ip[9];
        si->l4_off = hl;
        si->l4_len = tot - hl;
        if (ps_rd16(ip + 6) & 0x3fff)
            return true; /* a fragment: the L4 checksum covers bytes not here */
    } else if ((ip[0] >> 4) == 6) {
        if (avail < 40)
            return false;
        const uint32_t tot = 40u + ps_rd16(ip + 4);
        if (tot > avail)
            return false;
        si->v6 = true;
        si->ip_ok = true;
        si->proto = ip[6];
        si->l4_off = 40;
        si->l4_len = tot - 40;
    } else {
        return false;
    }
    const uint8_t *l4 = ip + si->l4_off;
    const int co = ps_csum_off(si->proto);
    const uint32_t min = si->proto == IPPROTO_TCP ? 20 : 8;
    if (co < 0 || si->l4_len < min || (si->proto == IPPROTO_ICMP && si->v6) ||
        (si->proto == IPPROTO_ICMPV6 && !si->v6))
        return true;
    si->has_l4 = true;
    if (si->proto == IPPROTO_UDP && l4[6] == 0 && l4[7] == 0) {
        si->udp_zero = true;
        si->l4_ok = true;
    } else {
        si->l4_ok = ps_l4_sum(ip, si->v6, si->proto, l4, si->l4_len) == 0;
    }
    if (!si->v6 && si->proto == IPPROTO_ICMP) {
        const uint8_t t = l4[0];
        if ((t == 3 || t == 4 || t == 5 || t == 11 || t == 12) && si->l4_len >= 8 + 20 &&
            (l4[8] >> 4) == 4) {
            const uint32_t qhl = (uint32_t)(l4[8] & 15) * 4;
            if (qhl >= 20 && 8 + qhl <= si->l4_len) {
                si->has_inner = true;
                si->inner_ok = csum_compute(l4 + 8, qhl) == 0;
            }
        }
    }
    return true;
}

/*
 * Makes every checksum sum_inspect() looks at verify: the quoted header first, then the L4
 * message (a zero UDP checksum stays zero: none), then the IPv4 header.
 */
static inline void sum_fix(uint8_t *ip, uint32_t avail)
{
    struct sum_info si;
    if (!sum_inspect(ip, avail, &si))
        return;
    uint8_t *l4 = ip + si.l4_off;
    if (si.has_inner) {
        const uint32_t qhl = (uint32_t)(l4[8] & 15) * 4;
        l4[8 + 10] = l4[8 + 11] = 0;
        const uint16_t c = csum_compute(l4 + 8, qhl);
        memcpy(l4 + 8 + 10, &c, 2);
    }
    if (si.has_l4 && !si.udp_zero) {
        const int co = ps_csum_off(si.proto);
        l4[co] = l4[co + 1] = 0;
        uint16_t c = ps_l4_sum(ip, si.v6, si.proto, l4, si.l4_len);
        if (si.proto == IPPROTO_UDP && c == 0)
            c = 0xffff;
        memcpy(l4 + co, &c, 2);
    }
    if (!si.v6) {
        const uint32_t hl = si.l4_off;
        ip[10] = ip[11] = 0;
        const uint16_t c = csum_compute(ip, hl);
        memcpy(ip + 10, &c, 2);
    }
}

#endif
