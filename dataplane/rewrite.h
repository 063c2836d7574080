/* SPDX-License-Identifier: MIT */
/*
 * rewrite.h — the in-place edits made to a frame before it is transmitted: Ethernet
 * addresses, removal of an 802.1Q tag, and the TTL / hop limit decrement (with an
 * incremental update of the IPv4 header checksum, RFC 1624).
 * Egress interfaces are untagged (the snapshot has no VLAN interfaces yet): tags are removed.
 */
#ifndef MOAT_DP_REWRITE_H
#define MOAT_DP_REWRITE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "csum.h"

/* Inline: every forwarded packet goes through these. */

/* Sets the destination and source MAC addresses of the Ethernet header at pkt. */
static inline void rewrite_l2(uint8_t *pkt, const uint8_t dst_mac[6], const uint8_t src_mac[6])
{
    memcpy(pkt, dst_mac, 6);
    memcpy(pkt + 6, src_mac, 6);
}

/*
 * Removes ntags 802.1Q/802.1ad tags after the MAC addresses by moving the addresses
 * 4 * ntags bytes up. Returns the new start of the packet; it is 4 * ntags bytes shorter.
 */
uint8_t *rewrite_strip_vlan(uint8_t *pkt, unsigned ntags);

/* Decrements the TTL of the IPv4 header at ip (TTL must be > 0) and fixes its checksum. */
static inline void rewrite_ipv4_ttl(uint8_t *ip)
{
    /* TTL shares a 16-bit word with the protocol: bytes 8-9. The checksum is bytes 10-11. */
    uint16_t old_word, new_word, check;
    memcpy(&old_word, ip + 8, 2);
    ip[8]--;
    memcpy(&new_word, ip + 8, 2);
    memcpy(&check, ip + 10, 2);
    check = csum_replace2(check, old_word, new_word);
    memcpy(ip + 10, &check, 2);
}

/*
 * NAT, IPv4: sets the addresses (and, when l4 is not NULL, the ports / ICMP echo identifier)
 * of the packet at ip to the given values (all as stored in the packet, network order),
 * updating the IPv4 header checksum and the L4 checksum incrementally (RFC 1624): TCP and UDP
 * cover the addresses (pseudo-header) and ports; a zero UDP checksum (none) stays zero and a
 * computed zero is sent as 0xffff; ICMP covers only the identifier. l4 is NULL for a
 * non-first fragment (addresses only).
 */
/* The one's-complement sum of the changes old -> new of a 32-bit field, not folded: 32-bit
 * words add up to the same checksum as their 16-bit halves (2^16 = 1 mod 0xffff). */
static inline uint64_t rewrite_delta4(uint32_t old, uint32_t new_)
{
    return (uint64_t)(uint32_t)~old + new_;
}

/* A checksum with the changes of a delta applied: RFC 1624 eqn. 3, one fold for all of them. */
static inline uint16_t rewrite_csum_apply(uint16_t check, uint64_t delta)
{
    uint64_t sum = (uint16_t)~check + delta; /* a few terms below 2^32: below 2^36 */
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static inline void rewrite_nat_v4(uint8_t *ip, uint8_t *l4, uint8_t proto, uint32_t src,
                                  uint32_t dst, uint16_t sport, uint16_t dport)
{
    uint32_t osrc, odst;
    uint16_t check;
    memcpy(&osrc, ip + 12, 4);
    memcpy(&odst, ip + 16, 4);
    memcpy(&check, ip + 10, 2);
    /* The addresses' change, once: the IPv4 header and the TCP/UDP pseudo-header share it. */
    const uint64_t da = rewrite_delta4(osrc, src) + rewrite_delta4(odst, dst);
    check = rewrite_csum_apply(check, da);
    memcpy(ip + 10, &check, 2);
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    if (!l4)
        return;
    uint16_t osp, odp;
    memcpy(&osp, l4, 2);
    memcpy(&odp, l4 + 2, 2);
    if (proto == 6 || proto == 17) {
        uint8_t *c = l4 + (proto == 6 ? 16 : 6);
        memcpy(&check, c, 2);
        if (proto == 6 || check != 0) {
            check = rewrite_csum_apply(check, da + (uint16_t)~osp + sport + (uint16_t)~odp + dport);
            if (proto == 17 && check == 0)
                check = 0xffff;
            memcpy(c, &check, 2);
        }
        memcpy(l4, &sport, 2);
        memcpy(l4 + 2, &dport, 2);
    } else if (proto == 1 && (l4[0] == 8 || l4[0] == 0)) {
        uint16_t oid;
        memcpy(&oid, l4 + 4, 2);
        memcpy(&check, l4 + 2, 2);
        check = csum_replace2(check, oid, sport);
        /* RFC 1624 eqn. 3 gives 0x0000 both where the message sums to 0xffff and where it is
         * all zeros (then 0xffff is right: an echo reply with identifier, sequence and data
         * all zero). Told apart by looking, only in that 1-in-65536 case. */
        if (check == 0 && sport == 0 && l4[0] == 0) {
            const uint32_t end = (uint32_t)ip[2] << 8 | ip[3], hl = (ip[0] & 15u) * 4;
            bool zero = true;
            for (uint32_t i = 0; zero && hl + i < end; i++)
                zero = i == 2 || i == 3 || i == 4 || i == 5 || l4[i] == 0;
            if (zero)
                check = 0xffff;
        }
        memcpy(l4 + 2, &check, 2);
        memcpy(l4 + 4, &sport, 2);
    }
}

/*
 * NAT, an IPv4 ICMP error (ip: outer header, len: its total length, l4: the ICMP header):
 * the quoted packet gets addresses qsrc/qdst and ports (echo: identifier in qsport) from
 * the session, with its IP checksum and, when quoted, its L4 checksum fixed; the outer
 * destination becomes odst and the outer source, if it was the quoted destination (the
 * error comes from the translated host itself), the quoted packet's new destination; the
 * ICMP checksum is recomputed over the message (errors are rare and short). Returns false
 * if the quoted packet does not fit.
 */
bool rewrite_icmp_err_v4(uint8_t *ip, uint32_t len, uint8_t *l4, uint32_t qsrc, uint32_t qdst,
                         uint16_t qsport, uint16_t qdport, uint32_t odst);

/* Decrements the hop limit of the IPv6 header at ip (must be > 0). */
static inline void rewrite_ipv6_hop(uint8_t *ip)
{
    ip[7]--;
}

#endif
