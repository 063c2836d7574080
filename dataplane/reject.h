/* SPDX-License-Identifier: MIT */
/*
 * reject.h — answers the dataplane sends back for packets it does not forward, built in place
 * in the packet's frame and sent back out of the interface it came in on.
 *
 * reject_build(): a `reject` policy refused the packet:
 *   TCP: a RST (RFC 9293 3.10.7.1: seq = the segment's ACK if it had one, else 0 with an
 *        ACK of seq + payload + SYN + FIN);
 *   anything else: ICMP destination unreachable, communication administratively prohibited
 *        (type 3 code 13) / ICMPv6 destination unreachable, administratively prohibited
 *        (type 1 code 1), quoting as much of the refused packet as fits in 576 / 1280
 *        bytes.
 * The addresses and ports come from the shim's metadata tuple; only sequence numbers and the
 * quoted bytes are read from the frame. The Ethernet header is rebuilt without VLAN tags.
 */
#ifndef MOAT_DP_REJECT_H
#define MOAT_DP_REJECT_H

#include <stdint.h>

#include "meta.h"
#include "parse.h"

/*
 * Rewrites the frame at pkt (len bytes, room bytes available from pkt on) into the answer.
 * our_mac: the ingress interface's MAC; our_addr: the box's address on it (4 or 16 bytes as
 * the family) for ICMP, NULL to answer from the refused packet's destination.
 * Returns the answer's length, 0 when there is nothing to send (an ICMP error or a RST is
 * never answered) or no room.
 */
uint32_t reject_build(uint8_t *pkt, uint32_t len, uint32_t room, const struct pkt_info *pi,
                      const struct moat_meta *m, const uint8_t our_mac[6], const uint8_t *our_addr);

enum icmp_error_kind {
    ICMP_ERR_PROHIBITED,    /* type 3 code 13 / ICMPv6 type 1 code 1 */
    ICMP_ERR_TIME_EXCEEDED, /* type 11 code 0 / ICMPv6 type 3 code 0: TTL expired at the box */
    ICMP_ERR_TOO_BIG,       /* type 3 code 4 / ICMPv6 type 2, with the egress MTU: PMTU discovery */
};

/*
 * Rewrites the frame into an ICMP/ICMPv6 error of that kind to the packet's sender, quoting
 * as much of the packet as fits in 576 / 1280 bytes; mtu: the MTU for ICMP_ERR_TOO_BIG.
 * our_addr: the box's address on the ingress interface (required except for
 * ICMP_ERR_PROHIBITED, which answers from the packet's destination when NULL).
 * Returns the answer's length, or 0: no room, no address, or a packet never answered (an
 * ICMP error, a non-first fragment, a sender that is not one host).
 */
uint32_t icmp_error_build(uint8_t *pkt, uint32_t len, uint32_t room, const struct pkt_info *pi,
                          const struct moat_meta *m, const uint8_t our_mac[6],
                          const uint8_t *our_addr, enum icmp_error_kind kind, uint32_t mtu);

#endif
