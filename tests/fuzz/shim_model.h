/* SPDX-License-Identifier: MIT */
/*
 * shim_model.h — the metadata bpf/shim.bpf.c writes in front of a frame it redirects to an
 * XSK, computed in C by the same rules (parse_frame / parse_ipv4 / parse_ipv6 / parse_l4),
 * for the packet harness: the dataplane gets a frame with the metadata the shim would give it.
 * Keep in step with the shim when its parsing changes.
 */
#ifndef MOAT_FUZZ_SHIM_MODEL_H
#define MOAT_FUZZ_SHIM_MODEL_H

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "meta.h"

enum shim_parse { SHIM_OK = 0, SHIM_MALFORMED, SHIM_TOO_DEEP };

struct shim_pkt {
    struct moat_meta m;
    uint32_t l3_end;
    int host; /* the kernel's (multicast, ND, non-IP): never redirected */
    int ip;
};

static inline uint16_t shim_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline int shim_is_ipv6_ext(uint8_t nh)
{
    return nh == 0 || nh == 43 || nh == 60 || nh == 44;
}

static int shim_parse_l4(const uint8_t *d, uint32_t len, struct shim_pkt *p, uint32_t l4)
{
    const int v6 = p->m.flags & MOAT_META_F_IPV6;
    if (l4 > 255)
        return SHIM_TOO_DEEP;
    if (l4 > p->l3_end)
        return SHIM_MALFORMED;
    const uint32_t avail = p->l3_end - l4;
    p->m.l4_off = (uint8_t)l4;
    if (p->m.proto == IPPROTO_TCP) {
        if (avail < 20 || l4 + 20 > len)
            return SHIM_MALFORMED;
        const uint32_t doff = (uint32_t)(d[l4 + 12] >> 4) * 4;
        if (doff < 20 || doff > avail)
            return SHIM_MALFORMED;
        memcpy(&p->m.sport, d + l4, 2);
        memcpy(&p->m.dport, d + l4 + 2, 2);
    } else if (p->m.proto == IPPROTO_UDP) {
        if (avail < 8 || l4 + 8 > len)
            return SHIM_MALFORMED;
        const uint32_t ulen = shim_rd16(d + l4 + 4);
        if (ulen < 8)
            return SHIM_MALFORMED;
        if (!(p->m.flags & MOAT_META_F_FRAG) && ulen > avail)
            return SHIM_MALFORMED;
        memcpy(&p->m.sport, d + l4, 2);
        memcpy(&p->m.dport, d + l4 + 2, 2);
    } else if (p->m.proto == IPPROTO_ICMP && !v6) {
        if (avail < 8 || l4 + 8 > len)
            return SHIM_MALFORMED;
        const uint8_t type = d[l4];
        p->m.icmp_type = type;
        p->m.icmp_code = d[l4 + 1];
        if (type == 8 || type == 0)
            memcpy(&p->m.sport, d + l4 + 4, 2);
        else if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12)
            p->m.flags |= MOAT_META_F_ICMP_ERR;
    } else if (p->m.proto == IPPROTO_ICMPV6 && v6) {
        if (avail < 8 || l4 + 8 > len)
            return SHIM_MALFORMED;
        const uint8_t type = d[l4];
        p->m.icmp_type = type;
        p->m.icmp_code = d[l4 + 1];
        if (type == 128 || type == 129)
            memcpy(&p->m.sport, d + l4 + 4, 2);
        else if (type < 128)
            p->m.flags |= MOAT_META_F_ICMP_ERR;
        else if (type >= 133 && type <= 137)
            p->host = 1;
    } else {
        return SHIM_OK;
    }
    p->m.flags |= MOAT_META_F_L4;
    return SHIM_OK;
}

static int shim_parse_ipv4(const uint8_t *d, uint32_t len, struct shim_pkt *p, uint32_t off)
{
    if (off + 20 > len)
        return SHIM_MALFORMED;
    const uint8_t *ip = d + off;
    if ((ip[0] >> 4) != 4)
        return SHIM_MALFORMED;
    const uint32_t hlen = (uint32_t)(ip[0] & 15) * 4;
    if (hlen < 20)
        return SHIM_MALFORMED;
    const uint32_t tot = shim_rd16(ip + 2);
    if (tot < hlen || off + tot > len)
        return SHIM_MALFORMED;
    p->l3_end = off + tot;
    p->ip = 1;
    p->m.proto = ip[9];
    p->m.ttl = ip[8];
    memcpy(p->m.src, ip + 12, 4);
    memcpy(p->m.dst, ip + 16, 4);
    if ((p->m.dst[0] & 0xf0) == 0xe0 || memcmp(ip + 16, "\xff\xff\xff\xff", 4) == 0)
        p->host = 1;
    const uint16_t frag = shim_rd16(ip + 6);
    if (frag & 0x3fff)
        p->m.flags |= MOAT_META_F_FRAG;
    if (frag & 0x1fff) {
        p->m.flags |= MOAT_META_F_FRAG_NF;
        return SHIM_OK;
    }
    return shim_parse_l4(d, len, p, off + hlen);
}

static int shim_parse_ipv6(const uint8_t *d, uint32_t len, struct shim_pkt *p, uint32_t off)
{
    if (off + 40 > len)
        return SHIM_MALFORMED;
    const uint8_t *ip = d + off;
    if ((ip[0] >> 4) != 6)
        return SHIM_MALFORMED;
    uint32_t cur = off + 40;
    p->l3_end = cur + shim_rd16(ip + 4);
    if (p->l3_end > len)
        return SHIM_MALFORMED;
    p->m.flags |= MOAT_META_F_IPV6;
    p->ip = 1;
    p->m.ttl = ip[7];
    memcpy(p->m.src, ip + 8, 16);
    memcpy(p->m.dst, ip + 24, 16);
    uint8_t nh = ip[6];
    if (p->m.dst[0] == 0xff || (p->m.dst[0] == 0xfe && (p->m.dst[1] & 0xc0) == 0x80))
        p->host = 1;
    for (int i = 0; i < 8; i++) {
        if (!shim_is_ipv6_ext(nh))
            break;
        if (cur > 255)
            return SHIM_TOO_DEEP;
        if (nh == 44) {
            if (cur + 8 > p->l3_end || cur + 8 > len)
                return SHIM_MALFORMED;
            p->m.flags |= MOAT_META_F_FRAG;
            nh = d[cur];
            const uint16_t fo = shim_rd16(d + cur + 2);
            cur += 8;
            if (fo & 0xfff8) {
                p->m.flags |= MOAT_META_F_FRAG_NF;
                p->m.proto = nh;
                return SHIM_OK;
            }
        } else {
            if (cur + 8 > p->l3_end || cur + 8 > len)
                return SHIM_MALFORMED;
            const uint32_t elen = ((uint32_t)d[cur + 1] + 1) * 8;
            if (cur + elen > p->l3_end)
                return SHIM_MALFORMED;
            nh = d[cur];
            cur += elen;
        }
    }
    if (shim_is_ipv6_ext(nh))
        return SHIM_TOO_DEEP;
    p->m.proto = nh;
    return shim_parse_l4(d, len, p, cur);
}

/* Parses the frame (len bytes at d) as the shim does; fills p (zeroed first). */
static int shim_parse_frame(const uint8_t *d, uint32_t len, struct shim_pkt *p)
{
    memset(p, 0, sizeof(*p));
    if (len < 14)
        return SHIM_MALFORMED;
    uint16_t proto = shim_rd16(d + 12);
    uint32_t off = 14;
    if (d[0] & 1)
        p->host = 1;
    for (int i = 0; i < 2; i++) {
        if (proto != 0x8100 && proto != 0x88a8)
            break;
        if (off + 4 > len)
            return SHIM_MALFORMED;
        if (i == 0) {
            p->m.flags |= MOAT_META_F_VLAN;
            p->m.vlan_tci = shim_rd16(d + off);
        } else {
            p->m.flags |= MOAT_META_F_QINQ;
        }
        proto = shim_rd16(d + off + 2);
        off += 4;
    }
    p->m.l3_off = (uint8_t)off;
    if (proto == 0x0800)
        return shim_parse_ipv4(d, len, p, off);
    if (proto == 0x86dd)
        return shim_parse_ipv6(d, len, p, off);
    p->host = 1;
    return SHIM_OK;
}

#endif
