/* SPDX-License-Identifier: MIT */
/*
 * rewrite.h — the in-place edits made to a frame before it is transmitted: Ethernet
 * addresses, removal of an 802.1Q tag, and the TTL / hop limit decrement (with an
 * incremental update of the IPv4 header checksum, RFC 1624).
 * Egress interfaces are untagged (the snapshot has no VLAN interfaces yet): tags are removed.
 */
#ifndef MOAT_DP_REWRITE_H
#define MOAT_DP_REWRITE_H

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

/* Decrements the hop limit of the IPv6 header at ip (must be > 0). */
static inline void rewrite_ipv6_hop(uint8_t *ip)
{
    ip[7]--;
}

#endif
