/* SPDX-License-Identifier: MIT */
#include "parse.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "wire.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8

const struct moat_meta *parse_meta(const uint8_t *pkt, uint32_t headroom)
{
    if (headroom < sizeof(struct moat_meta))
        return NULL;
    const struct moat_meta *m = (const struct moat_meta *)(pkt - sizeof(struct moat_meta));
    uint32_t magic;
    memcpy(&magic, &m->magic, sizeof(magic));
    if (magic != MOAT_META_MAGIC)
        return NULL;
    return m;
}

/* Minimal L4 header length for protocols whose header the shim describes, else 0. */
static uint32_t l4_min_len(uint8_t proto)
{
    switch (proto) {
    case IPPROTO_TCP:
        return 20;
    case IPPROTO_UDP:
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        return 8;
    default:
        return 0;
    }
}

static int check_l4(const uint8_t *pkt, const struct moat_meta *m, uint32_t l3_end,
                    uint32_t l4_min_off)
{
    if (!(m->flags & MOAT_META_F_L4))
        return 0;
    uint32_t need = l4_min_len(m->proto);
    if (need == 0)
        return -EINVAL;
    if (m->l4_off < l4_min_off || (uint32_t)m->l4_off + need > l3_end)
        return -EINVAL;
    if (m->proto == IPPROTO_TCP) {
        uint32_t doff = (uint32_t)(pkt[m->l4_off + 12] >> 4) * 4;
        if (doff < 20 || (uint32_t)m->l4_off + doff > l3_end)
            return -EINVAL;
    }
    return 0;
}

int parse_packet(const uint8_t *pkt, uint32_t len, const struct moat_meta *m, struct pkt_info *out)
{
    const int v6 = (m->flags & MOAT_META_F_IPV6) != 0;
    /* Zero, one (MOAT_META_F_VLAN) or two (and MOAT_META_F_QINQ) tags after the MACs. */
    const uint32_t tags =
        (m->flags & MOAT_META_F_VLAN) ? ((m->flags & MOAT_META_F_QINQ) ? 2 : 1) : 0;
    const uint32_t l3 = ETH_HDR_LEN + tags * VLAN_HDR_LEN;

    if ((m->flags & MOAT_META_F_QINQ) && !(m->flags & MOAT_META_F_VLAN))
        return -EINVAL;
    if (m->l3_off != l3 || len < l3)
        return -EINVAL;
    for (uint32_t i = 0; i < tags; i++) {
        uint16_t tpid = rd16(pkt + 12 + i * VLAN_HDR_LEN);
        if (tpid != ETHERTYPE_VLAN && tpid != ETHERTYPE_QINQ)
            return -EINVAL;
    }
    if (rd16(pkt + l3 - 2) != (v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4))
        return -EINVAL;

    const uint8_t *ip = pkt + l3;
    uint32_t hl, tot;
    if (!v6) {
        if (len < l3 + 20 || (ip[0] >> 4) != 4)
            return -EINVAL;
        hl = (uint32_t)(ip[0] & 0x0f) * 4;
        tot = rd16(ip + 2);
        if (hl < 20 || tot < hl || l3 + tot > len)
            return -EINVAL;
        if (ip[9] != m->proto)
            return -EINVAL;
        if (memcmp(ip + 12, m->src, 4) != 0 || memcmp(ip + 16, m->dst, 4) != 0)
            return -EINVAL;
        out->ttl = ip[8];
    } else {
        if (len < l3 + 40 || (ip[0] >> 4) != 6)
            return -EINVAL;
        hl = 40;
        tot = 40 + (uint32_t)rd16(ip + 4);
        if (l3 + tot > len)
            return -EINVAL;
        if (memcmp(ip + 8, m->src, 16) != 0 || memcmp(ip + 24, m->dst, 16) != 0)
            return -EINVAL;
        out->ttl = ip[7];
    }
    /* L4 right after a bare header must be the protocol the metadata names. */
    if ((m->flags & MOAT_META_F_L4) && v6 && m->l4_off == l3 + 40 && ip[6] != m->proto)
        return -EINVAL;
    if ((m->flags & MOAT_META_F_L4) && !v6 && m->l4_off != l3 + hl)
        return -EINVAL;
    if (check_l4(pkt, m, l3 + tot, l3 + hl) != 0)
        return -EINVAL;

    out->family = v6 ? 6 : 4;
    out->vlan_tags = (uint8_t)tags;
    out->proto = m->proto;
    out->l3_off = (uint16_t)l3;
    out->l3_len = tot;
    return 0;
}
