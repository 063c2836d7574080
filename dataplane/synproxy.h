/* SPDX-License-Identifier: MIT */
/*
 * synproxy.h — SYN cookies and the SYN proxy of the userspace path
 * (`security flow syn-flood-protection-mode syn-cookie`).
 *
 * When a zone's syn-flood screen threshold (attack-threshold: per destination address and
 * port, or destination-threshold: per destination address) is exceeded, a SYN that matches
 * no session is not dropped: the worker answers it itself with a SYN-ACK whose ISN is a
 * cookie, and creates nothing. A pure ACK that matches no session, in such a zone, while
 * cookies have been sent box-wide (by a worker or the kernel path: sp_recent_map) in the last
 * two cookie slots, is checked as the answer to a cookie: invalid -> dropped and counted;
 * valid -> it is rewritten in place into the SYN the client first sent (its ISN, the MSS the
 * cookie encodes) and goes the way of any new flow (destination NAT, route, policy, source
 * NAT, session); a reject policy's reset then carries the sequence number the established
 * client expects (cookie + 1), not a SYN's. The session is marked proxied:
 * the server's SYN-ACK is turned into the handshake's last ACK and sent back to the server;
 * from then on every packet of the session has its sequence numbers translated by the
 * session's delta (server ISN - cookie): client -> server ack += delta, server -> client
 * seq -= delta, with incremental checksum updates. Until the server's SYN-ACK arrives the
 * client's packets are dropped (it retransmits); a server RST is passed on with the
 * sequence number the client expects.
 *
 * Cookie (32 bits): slot (5 bits) | MSS index (2 bits) | MAC (25 bits), the MAC being
 * SipHash-2-4 of the addresses, ports, the client's ISN, the full slot number and the MSS
 * index under a 128-bit key: derived from controld's seed, the kernel path's, so both paths
 * make and check the same cookies (the helper's own random seed without one); the same for
 * every worker, published with the tables. A slot is SP_SLOT_S seconds; a cookie is valid in
 * its slot and the next (64 to 128 s), never after: the MAC covers the full slot number, so
 * the key in effect rotates each slot.
 *
 * Options: the cookie SYN-ACK carries only an MSS option (the ingress interface's MTU less
 * the headers, at most 1460): no window scaling, no SACK, no timestamps, and the SYN sent to
 * the server on the client's behalf carries only the MSS the cookie encodes. Both ends thus
 * run without window scaling (windows up to 64 KiB) and without SACK, so no option ever needs
 * translating — the price of a stateless answer. Proxied sessions are marked in the
 * session's icmp_code byte (unused by TCP sessions) and carry SESS_F_NAT so that the only
 * extra test on the hot path sits behind the NAT branch; their delta lives in a side array.
 */
#ifndef MOAT_DP_SYNPROXY_H
#define MOAT_DP_SYNPROXY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "csum.h"
#include "meta.h"
#include "syncookie.h"
#include "parse.h"
#include "tuple.h"

#define SP_SLOT_S 64 /* seconds per cookie slot */

/* dp_session.icmp_code of a TCP session. */
#define SP_NONE 0
#define SP_WAIT 1 /* the cookie was valid, the SYN went to the server: its SYN-ACK is due */
#define SP_EST 2  /* the handshake with the server is done: translating */

/* A proxied session's numbers (side array, one per session). */
struct sp_sess {
    uint32_t cookie;  /* our ISN towards the client */
    uint32_t cli_isn; /* the client's ISN */
    uint32_t delta;   /* server ISN - cookie, once SP_EST */
    uint16_t win;     /* the client's window, as in its ACK */
    uint16_t pad;
};

extern const uint16_t sp_mss_table[4];

/* The cookie key of a seed (FlowSettings.cookie_seed, the kernel path's; else the helper's). */
void sp_key_derive(struct sc_key *k, uint64_t seed);

/*
 * The box's "cookies were sent recently" word both paths share: last_slot of the kernel path's
 * moat_lg_spslot (bpf/legacy_maps.h, BPF_F_MMAPABLE), pinned in bpffs_dir, mapped shared.
 * Either path stores its cookie slot + 1 there when it sends a cookie and checks ACKs while it
 * is at most one slot old, so an ACK that reaches the other path after a switch (helper killed
 * -> kernel path, helper re-armed) is still checked, and no path checks ACKs when none sent
 * cookies lately. *word: the word; *map: what to pass to sp_recent_unmap(). 0, or a negative
 * errno (no kernel path pinned there: the helper keeps to its own workers' word).
 */
int sp_recent_map(const char *bpffs_dir, _Atomic uint32_t **word, void **map);
void sp_recent_unmap(void *map);

/* The cookie slot of a time (ms on any clock the workers share). */
static inline uint32_t sp_slot(uint64_t now_ms)
{
    return (uint32_t)(now_ms / 1000 / SP_SLOT_S);
}

/* The index of the largest MSS of sp_mss_table not above mss. */
unsigned sp_mss_index(uint16_t mss);

/* The cookie for connection t (family, addresses, ports as the client sent them), the
 * client's ISN, in slot slot, for MSS index mss_idx. */
uint32_t sp_cookie_make(const struct sc_key *k, const struct flow_tuple *t, uint32_t cli_isn,
                        uint32_t slot, unsigned mss_idx);

/* True when cookie is valid for t / cli_isn in slot now_slot or the one before; *mss gets
 * the MSS it encodes. */
bool sp_cookie_check(const struct sc_key *k, const struct flow_tuple *t, uint32_t cli_isn,
                     uint32_t cookie, uint32_t now_slot, uint16_t *mss);

/* The MSS option of a SYN's TCP header (tcp_len bytes incl. options), 536 without one. */
uint16_t sp_syn_mss(const uint8_t *tcp, uint32_t tcp_len);

/*
 * Rewrites the SYN at pkt (pi, m: its parse and metadata) in place into the cookie SYN-ACK
 * going back to its sender: MACs swapped (VLAN tags kept), addresses and ports swapped, a new
 * IP header, TCP seq = cookie, ack = ISN + 1, an MSS option of mss. Returns the new length,
 * 0 if it does not fit in room.
 */
uint32_t sp_build_synack(uint8_t *pkt, uint32_t room, const struct pkt_info *pi,
                         const struct moat_meta *m, uint32_t cookie, uint16_t mss);

/*
 * Rewrites the client's ACK at pkt in place into the SYN it first sent (same addresses and
 * ports, seq = its ISN, an MSS option of mss, its window, no payload). Returns the new length
 * (pi->l3_len updated), 0 if it does not fit in room.
 */
uint32_t sp_ack_to_syn(uint8_t *pkt, uint32_t room, struct pkt_info *pi, const struct moat_meta *m,
                       uint32_t cli_isn, uint16_t mss);

/*
 * Rewrites the server's SYN-ACK at pkt in place into the ACK that completes its handshake,
 * going back to the server: seq = its ack, ack = its seq + 1, window win. Returns the new
 * length, 0 if it does not fit in room.
 */
uint32_t sp_synack_to_ack(uint8_t *pkt, uint32_t room, const struct pkt_info *pi,
                          const struct moat_meta *m, uint16_t win);

/* Translates the TCP header at tcp of a proxied session's packet in direction dir (0: client
 * to server: ack += delta when ACK is set; 1: server to client: seq -= delta), updating its
 * checksum incrementally. */
static inline void sp_translate(uint8_t *tcp, unsigned dir, uint32_t delta)
{
    sc_translate(tcp, dir, delta);
}

#endif
