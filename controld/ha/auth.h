/* SPDX-License-Identifier: MIT */
/*
 * auth.h — sealed HA frames: what the two nodes' controld exchange over the control link
 * (heartbeats over UDP, session sync over TCP), authenticated with HMAC-SHA256 and the
 * cluster's authentication-key (OpenSSL libcrypto).
 *
 *   offset 0   "MOHA"                 magic
 *          4   version (1)            u8
 *          5   sender's node id       u8
 *          6   cluster id             u8
 *          7   0                      u8
 *          8   sequence number        u64, big endian
 *         16   payload length L       u32, big endian
 *         20   payload                one packed moat.Envelope
 *     20 + L   HMAC-SHA256            32 bytes over everything before it
 *
 * Sequence numbers: each node numbers every frame it sends (UDP and TCP) from one counter that
 * starts at the wall clock in microseconds when controld starts, so a restarted node goes on
 * above what it sent before and a recorded frame replayed later is refused. Receivers check
 * the MAC first (a frame with a bad MAC is dropped and counted, nothing else is read from
 * it), then the sequence number: ha_replay keeps a 64-frame window for datagrams (reordering
 * allowed, duplicates and anything older refused); streams require strictly increasing numbers.
 */
#ifndef MOAT_HA_AUTH_H
#define MOAT_HA_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat.pb-c.h"

#define HA_HDR_LEN 20
#define HA_MAC_LEN 32
#define HA_VERSION 1
#define HA_MAX_PAYLOAD (64u << 20)

struct ha_hdr {
    uint8_t version, node, cluster;
    uint64_t seq;
    uint32_t len;
};

/* Packs env into a sealed frame (malloc'd, caller frees). 0 or -errno. */
int ha_seal(const char *key, uint8_t node, uint8_t cluster, uint64_t seq, const Moat__Envelope *env,
            uint8_t **out, size_t *out_len);
/* A frame starting at buf with have bytes: 1 and *total when its header is complete, 0 when
 * more bytes are needed, -EBADMSG for a bad magic/version, -EMSGSIZE over max_payload. */
int ha_frame_len(const uint8_t *buf, size_t have, size_t max_payload, size_t *total);
/*
 * Checks one whole frame: -EBADMSG (not a frame), -EACCES (the MAC does not match: nothing of
 * it may be used), else fills *hdr and unpacks *env (free with moat__envelope__free_unpacked;
 * -EPROTO if the payload is not an Envelope). 0 on success. Fields this build does not know
 * (sent by a newer peer) are dropped from *env and every message in it: what ha_open returns
 * packs again into bytes that unpack to the same.
 */
int ha_open(const char *key, const uint8_t *buf, size_t len, struct ha_hdr *hdr,
            Moat__Envelope **env);

/* Anti-replay window for datagrams. */
struct ha_replay {
    uint64_t top;    /* highest accepted */
    uint64_t bitmap; /* bit i: top - i was accepted */
    bool init;
};
/* True (and remembered) if seq is new: above top, or within the 64 below it and not seen. */
bool ha_replay_accept(struct ha_replay *r, uint64_t seq);

/*
 * The receive-side checks, in order, of a heartbeat datagram (heartbeat.c) and of one frame of
 * the sync stream (sync.c); pure, so the fuzz harness (tests/fuzz/fuzz_ha.c) runs them as the
 * daemon does. HA_RX_OK: *env is the message (the caller frees it); any other verdict: *env is
 * NULL and nothing of the frame may be acted on (hdr is filled unless BAD_MAC/MALFORMED).
 *   heartbeat: MAC, format, a ClusterHeartbeat of cluster_id from the peer (node 1 - my_node,
 *              in the header and the message) or HA_RX_FOREIGN, then the replay window;
 *   stream:    MAC, format, then a sequence number above *last_seq from the peer of this
 *              cluster (else HA_RX_REPLAYED); *last_seq advances on HA_RX_OK.
 */
enum ha_rx {
    HA_RX_OK,
    HA_RX_BAD_MAC,
    HA_RX_MALFORMED,
    HA_RX_REPLAYED,
    HA_RX_FOREIGN,
};
enum ha_rx ha_rx_heartbeat(const char *key, unsigned cluster_id, unsigned my_node,
                           struct ha_replay *replay, const uint8_t *buf, size_t len,
                           struct ha_hdr *hdr, Moat__Envelope **env);
enum ha_rx ha_rx_stream(const char *key, unsigned cluster_id, unsigned my_node, uint64_t *last_seq,
                        const uint8_t *buf, size_t len, struct ha_hdr *hdr, Moat__Envelope **env);

/* The first sequence number of this process: wall clock in microseconds. */
uint64_t ha_seq_base(void);

#endif
