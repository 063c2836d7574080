/* SPDX-License-Identifier: MIT */
#include "tcp.h"

#include "session.h"

bool tcp_flags_sane(uint8_t f)
{
    const bool syn = f & TCPF_SYN, ack = f & TCPF_ACK, fin = f & TCPF_FIN, rst = f & TCPF_RST;
    if (syn && (fin || rst))
        return false;
    if (fin && rst)
        return false;
    if (fin && !ack)
        return false;
    if (!syn && !ack && !rst && !fin)
        return false;
    return true;
}

enum tcp_verdict tcp_track(uint8_t *state, uint8_t *sflags, unsigned dir, uint8_t f)
{
    if (!tcp_flags_sane(f))
        return TCP_INVALID;
    const bool syn = f & TCPF_SYN, ack = f & TCPF_ACK, fin = f & TCPF_FIN, rst = f & TCPF_RST;
    const uint8_t my_fin = dir ? SESS_F_FIN_REV : SESS_F_FIN_FWD;
    uint8_t st = *state, fl = *sflags;

    if (rst) {
        if (st == SESS_NEW)
            return TCP_INVALID;
        *state = SESS_CLOSED;
        return TCP_ACCEPT;
    }
    switch (st) {
    case SESS_SYN_SENT:
        if (dir == 0)
            return syn && !ack ? TCP_ACCEPT : TCP_INVALID; /* SYN retransmit only */
        if (!syn)
            return TCP_INVALID; /* the responder answers a SYN with SYN(+ACK) or RST */
        st = SESS_SYN_RECV;     /* SYN+ACK, or a SYN of a simultaneous open */
        break;
    case SESS_SYN_RECV:
        if (syn)
            return ack || dir == 0 ? TCP_ACCEPT : TCP_INVALID; /* retransmits */
        if (fin) {
            fl |= my_fin;
            if (dir)
                fl |= SESS_F_FIN_FIRST;
            st = SESS_FIN_WAIT;
        } else if (dir == 0) {
            st = SESS_ESTABLISHED; /* the handshake's last ACK */
        }
        break;
    case SESS_ESTABLISHED:
        if (syn)
            return dir == 1 && ack ? TCP_ACCEPT : TCP_INVALID;
        if (fin) {
            fl |= my_fin;
            if (dir)
                fl |= SESS_F_FIN_FIRST;
            st = SESS_FIN_WAIT;
        }
        break;
    case SESS_FIN_WAIT:
        if (syn)
            return TCP_INVALID;
        if (fin) {
            fl |= my_fin;
            if ((fl & (SESS_F_FIN_FWD | SESS_F_FIN_REV)) == (SESS_F_FIN_FWD | SESS_F_FIN_REV))
                st = SESS_CLOSING;
        }
        break;
    case SESS_CLOSING: {
        if (syn)
            return TCP_INVALID;
        const unsigned first = (fl & SESS_F_FIN_FIRST) ? 1 : 0;
        if (!fin && dir == first)
            st = SESS_TIME_WAIT; /* the ACK of the last FIN */
        break;
    }
    case SESS_TIME_WAIT:
        if (syn)
            return dir == 0 && !ack ? TCP_REOPEN : TCP_INVALID;
        break;
    case SESS_CLOSED:
        if (syn && dir == 0 && !ack)
            return TCP_REOPEN;
        return TCP_INVALID;
    default:
        return TCP_INVALID;
    }
    *state = st;
    *sflags = fl;
    return TCP_ACCEPT;
}
