/* SPDX-License-Identifier: MIT */
/*
 * reject.h — answers for packets a `reject` policy refuses, built in place in the refused
 * frame and sent back out of the interface it came in on:
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

#endif
