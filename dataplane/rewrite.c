/* SPDX-License-Identifier: MIT */
#include "rewrite.h"

#include <string.h>

#include "csum.h"

void rewrite_l2(uint8_t *pkt, const uint8_t dst_mac[6], const uint8_t src_mac[6])
{
    memcpy(pkt, dst_mac, 6);
    memcpy(pkt + 6, src_mac, 6);
}

uint8_t *rewrite_strip_vlan(uint8_t *pkt, unsigned ntags)
{
    memmove(pkt + 4 * ntags, pkt, 12);
    return pkt + 4 * ntags;
}

void rewrite_ipv4_ttl(uint8_t *ip)
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

void rewrite_ipv6_hop(uint8_t *ip)
{
    ip[7]--;
}
