/* SPDX-License-Identifier: MIT */
#include "reject.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "csum.h"
#include "wire.h"

#define V4_QUOTE_MAX (576 - 20 - 8)
#define V6_QUOTE_MAX (1280 - 40 - 8)

/* Ethernet + IP header of the answer; returns the L4 offset. */
static uint32_t put_headers(uint8_t *pkt, bool v6, const uint8_t peer_mac[6],
                            const uint8_t our_mac[6], const uint8_t *src, const uint8_t *dst,
                            uint8_t proto, uint32_t l4_len)
{
    memcpy(pkt, peer_mac, 6);
    memcpy(pkt + 6, our_mac, 6);
    wr16(pkt + 12, v6 ? 0x86dd : 0x0800);
    return 14 + ip_put_header(pkt + 14, v6, src, dst, proto, l4_len);
}

uint32_t reject_build(uint8_t *pkt, uint32_t len, uint32_t room, const struct pkt_info *pi,
                      const struct moat_meta *m, const uint8_t our_mac[6], const uint8_t *our_addr)
{
    const bool v6 = pi->family == 6;
    const unsigned alen = v6 ? 16 : 4;
    if (m->flags & MOAT_META_F_ICMP_ERR)
        return 0;
    uint8_t peer_mac[6], src[16], dst[16];
    memcpy(peer_mac, pkt + 6, 6);
    memcpy(dst, m->src, alen); /* back to the sender */

    if (m->proto == IPPROTO_TCP && (m->flags & MOAT_META_F_L4) &&
        !(m->flags & MOAT_META_F_FRAG_NF)) {
        const uint8_t *th = pkt + m->l4_off;
        const uint8_t flags = th[13];
        if (flags & 0x04)
            return 0; /* never answer a RST */
        const uint32_t seq = rd32(th + 4), ack = rd32(th + 8);
        const uint32_t doff = (uint32_t)(th[12] >> 4) * 4;
        const uint32_t end = pi->l3_off + pi->l3_len;
        const uint32_t payload = end > m->l4_off + doff ? end - (m->l4_off + doff) : 0;
        uint32_t out_seq = 0, out_ack = 0;
        uint8_t out_flags = 0x04; /* RST */
        if (flags & 0x10) {
            out_seq = ack;
        } else {
            out_ack = seq + payload + ((flags & 0x02) ? 1 : 0) + ((flags & 0x01) ? 1 : 0);
            out_flags |= 0x10;
        }
        const uint16_t sport = m->dport, dport = m->sport; /* network order */
        memcpy(src, m->dst, alen);
        const uint32_t total = (v6 ? 54u : 34u) + 20u;
        if (total > room)
            return 0;
        uint32_t l4 = put_headers(pkt, v6, peer_mac, our_mac, src, dst, IPPROTO_TCP, 20);
        uint8_t *t = pkt + l4;
        memset(t, 0, 20);
        memcpy(t, &sport, 2);
        memcpy(t + 2, &dport, 2);
        wr32(t + 4, out_seq);
        wr32(t + 8, out_ack);
        t[12] = 5 << 4;
        t[13] = out_flags;
        uint16_t c = l4_csum(v6, src, dst, IPPROTO_TCP, t, 20);
        memcpy(t + 16, &c, 2);
        return total;
    }

    return icmp_error_build(pkt, len, room, pi, m, our_mac, our_addr, ICMP_ERR_PROHIBITED, 0);
}

/* Never an ICMP error about: an ICMP error, a non-first fragment, a packet from an address
 * that is not one host (unspecified, multicast, IPv4 broadcast / loopback). RFC 1812 4.3.2.7,
 * RFC 4443 2.4 (e). */
static bool may_answer(const struct moat_meta *m, bool v6)
{
    if (m->flags & (MOAT_META_F_ICMP_ERR | MOAT_META_F_FRAG_NF))
        return false;
    const uint8_t *a = m->src;
    if (v6) {
        static const uint8_t zero[16];
        return a[0] != 0xff && memcmp(a, zero, 16) != 0;
    }
    return a[0] != 0 && a[0] != 127 && a[0] < 224;
}

uint32_t icmp_error_build(uint8_t *pkt, uint32_t len, uint32_t room, const struct pkt_info *pi,
                          const struct moat_meta *m, const uint8_t our_mac[6],
                          const uint8_t *our_addr, enum icmp_error_kind kind, uint32_t mtu)
{
    const bool v6 = pi->family == 6;
    const unsigned alen = v6 ? 16 : 4;
    if (!may_answer(m, v6))
        return 0;
    if (kind != ICMP_ERR_PROHIBITED && !our_addr)
        return 0; /* from the box itself: it needs an address on that interface */
    uint8_t peer_mac[6], src[16], dst[16];
    memcpy(peer_mac, pkt + 6, 6);
    memcpy(dst, m->src, alen); /* back to the sender */
    memcpy(src, our_addr ? our_addr : m->dst, alen);
    uint32_t quote = pi->l3_len;
    if (quote > (v6 ? V6_QUOTE_MAX : V4_QUOTE_MAX))
        quote = v6 ? V6_QUOTE_MAX : V4_QUOTE_MAX;
    if (pi->l3_off + quote > len)
        quote = len - pi->l3_off;
    const uint32_t hdr = (v6 ? 54u : 34u) + 8u;
    if (hdr + quote > room)
        return 0;
    memmove(pkt + hdr, pkt + pi->l3_off, quote);
    const uint8_t proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
    uint32_t l4 = put_headers(pkt, v6, peer_mac, our_mac, src, dst, proto, 8 + quote);
    uint8_t *ic = pkt + l4;
    memset(ic, 0, 8);
    switch (kind) {
    case ICMP_ERR_PROHIBITED: /* destination unreachable, administratively prohibited */
        ic[0] = v6 ? 1 : 3;
        ic[1] = v6 ? 1 : 13;
        break;
    case ICMP_ERR_TIME_EXCEEDED: /* TTL / hop limit exceeded in transit */
        ic[0] = v6 ? 3 : 11;
        break;
    case ICMP_ERR_TOO_BIG: /* IPv4 fragmentation needed (RFC 1191) / IPv6 packet too big */
        if (v6) {
            ic[0] = 2;
            wr32(ic + 4, mtu);
        } else {
            ic[0] = 3;
            ic[1] = 4;
            wr16(ic + 6, (uint16_t)mtu);
        }
        break;
    }
    uint16_t c = v6 ? l4_csum(true, src, dst, proto, ic, 8 + quote) : csum_compute(ic, 8 + quote);
    memcpy(ic + 2, &c, 2);
    return hdr + quote;
}
