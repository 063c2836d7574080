/* SPDX-License-Identifier: MIT */
/*
 * parse.h — validation of a redirected frame: the shim's metadata in front of it, then the
 * Ethernet/IP headers against the frame length. Nothing here trusts an offset it has not
 * checked against the frame, and nothing reads the 5-tuple back from the frame: the
 * metadata tuple is authoritative (the frame is only checked to agree with it).
 */
#ifndef MOAT_DP_PARSE_H
#define MOAT_DP_PARSE_H

#include <stdint.h>

#include "meta.h"

#define ETH_HDR_LEN 14
#define VLAN_HDR_LEN 4

struct pkt_info {
    uint8_t family;    /* 4 or 6 */
    uint8_t ttl;       /* IPv4 TTL / IPv6 hop limit, as in the header */
    uint8_t vlan_tags; /* 802.1Q/802.1ad tags between the MACs and the EtherType: 0..2 */
    uint8_t proto;     /* metadata L4 protocol */
    uint16_t l3_off;   /* IP header offset from the packet start */
    uint32_t l3_len;   /* IPv4 total length / IPv6 40 + payload length */
};

/*
 * The metadata in front of the packet at pkt, or NULL when there is no room for it
 * (headroom = bytes of the frame available before pkt) or its magic is wrong.
 */
const struct moat_meta *parse_meta(const uint8_t *pkt, uint32_t headroom);

/*
 * Checks the packet (len bytes at pkt) against its metadata: L2 layout as the flags say,
 * IP version and header/total lengths within the frame, addresses equal to the metadata
 * tuple, the L4 offset (when MOAT_META_F_L4) inside the IP packet with room for the L4
 * header. Fills *out. 0, or -EINVAL for anything inconsistent or truncated.
 */
int parse_packet(const uint8_t *pkt, uint32_t len, const struct moat_meta *meta,
                 struct pkt_info *out);

#endif
