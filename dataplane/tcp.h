/* SPDX-License-Identifier: MIT */
/*
 * tcp.h — window-free TCP state tracking for sessions.
 *
 *   SYN_SENT --SYN+ACK from the responder--> SYN_RECV --ACK from the initiator--> ESTABLISHED
 *   ESTABLISHED --FIN (either side)--> FIN_WAIT --FIN from the other side--> CLOSING
 *   CLOSING --ACK from the side that sent the first FIN--> TIME_WAIT
 *   RST in any state --> CLOSED
 *   TIME_WAIT / CLOSED --SYN from the initiator--> the tuple is reused: a new session
 *
 * Sequence numbers and windows are not checked. What is refused (TCP_INVALID, the packet is
 * dropped and counted tcp_invalid): flag combinations no stack sends (SYN+FIN, SYN+RST,
 * FIN+RST, FIN without ACK, no SYN/ACK/RST/FIN at all); a SYN on a session past the
 * handshake (except the responder's SYN+ACK retransmit); the initiator talking before the
 * SYN+ACK; the responder sending anything but SYN(+ACK) or RST before it; anything but RST
 * after a RST. A session is only created by a lone SYN (tcp_is_initial_syn()).
 */
#ifndef MOAT_DP_TCP_H
#define MOAT_DP_TCP_H

#include <stdbool.h>
#include <stdint.h>

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10
#define TCPF_URG 0x20

enum tcp_verdict {
    TCP_ACCEPT = 0,  /* forward it (the state may have changed) */
    TCP_INVALID = 1, /* drop it, count tcp_invalid */
    TCP_REOPEN = 2,  /* a new connection on a finished session's tuple: close, start over */
};

/* Flag combinations a TCP stack can send. */
bool tcp_flags_sane(uint8_t flags);

/* The only packet that may open a session: SYN without ACK, FIN or RST. */
static inline bool tcp_is_initial_syn(uint8_t flags)
{
    return (flags & (TCPF_SYN | TCPF_ACK | TCPF_RST | TCPF_FIN)) == TCPF_SYN;
}

/*
 * Applies a packet with these flags, sent by the initiator (dir 0) or the responder (dir 1),
 * to *state (enum sess_state) and *sflags (the SESS_F_FIN_* bits of the session). Only
 * TCP_ACCEPT changes them.
 */
enum tcp_verdict tcp_track(uint8_t *state, uint8_t *sflags, unsigned dir, uint8_t flags);

#endif
