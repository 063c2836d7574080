/* SPDX-License-Identifier: MIT */
/* ha_internal.h — state shared by the HA files (not for the rest of controld: see ha.h). */
#ifndef MOAT_HA_INTERNAL_H
#define MOAT_HA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "controld.h"
#include "election.h"

#define HA_HEARTBEAT_PORT 7471 /* UDP, on the control link addresses */
#define HA_SYNC_PORT 7472      /* TCP */
#define HA_MAX_RGS 16

struct ha_rg {
    unsigned id;
    unsigned prio;      /* this node's effective priority */
    unsigned peer_prio; /* the peer's, from its last heartbeat */
    bool primary;
    bool peer_primary;
    uint64_t manual_serial;
    int manual_node;       /* -1 none */
    uint64_t failovers;    /* role changes of this node */
    uint64_t since_ms;     /* when this node took its current role */
    char reason[96];       /* why this node has its current role */
    bool announce_pending; /* re-announce the VIPs once the returning peer is not primary */
};

struct ha_stats {
    uint64_t hb_sent, hb_received, hb_bad_mac, hb_replayed, hb_malformed, hb_foreign;
    uint64_t hb_same_node_id; /* of hb_foreign: authenticated, this cluster, this node's id */
    uint64_t peer_lost, peer_up;
    uint64_t peer_lost_fast; /* of peer_lost: sync connection closed by the peer + 2 missed */
    uint64_t loop_stalls;    /* loss checks put off: this node's event loop was late */
    uint64_t garp_sent, na_sent;
    /* session sync */
    uint64_t sync_msgs_sent, sync_msgs_received, sync_sessions_sent, sync_sessions_received;
    uint64_t sync_acked, sync_installed, sync_resyncs, sync_bulk_sent, sync_bulk_received;
    uint64_t sync_bad_mac, sync_replayed, sync_connects, sync_disconnects;
    uint64_t sync_owner_rg, sync_zone_fallback, sync_not_owner, sync_install_failed;
    uint64_t sync_unusable; /* synced records without a usable forward key: not installed */
};

struct ha_sync;

struct ha {
    struct controld *c;
    uv_udp_t udp;
    bool udp_open;
    uv_timer_t timer;
    uv_timer_t fast_timer; /* the fast loss check after the peer closed the sync connection */
    uint64_t tx_seq;
    struct ha_replay replay;
    bool peer_alive;
    bool peer_heard;        /* since start */
    bool peer_heard_before; /* a heartbeat was applied before (peer up = it came back) */
    uint64_t peer_last_rx_ms;
    /* The peer closed (or reset) the session-sync connection and no heartbeat came since:
     * with HA_FAST_LOSS_MISSED heartbeats missed too the peer is lost (ha_peer_conn_gone). */
    bool peer_conn_gone;
    /* This node's own stalls (a blocked event loop): a late timer judges the peer only after
     * the I/O that queued meanwhile (its heartbeats) has been read. */
    uint64_t last_tick_ms, fast_due_ms;
    bool fast_deferred;
    uint64_t started_ms;
    bool decided; /* out of the initial hold */
    bool peer_sync_ready;
    unsigned peer_sync_port;
    struct ha_rg rgs[HA_MAX_RGS];
    unsigned n_rgs;
    struct ha_stats st;
    struct ha_sync *sync;
    char bind_error[128];
    uint64_t same_node_id_ms; /* last authenticated heartbeat that claimed this node's id */
    char same_node_id_from[64];
    unsigned closing_handles;
};

static inline const struct cfg_cluster *ha_cl(const struct ha *ha)
{
    return ha->c->cfg->cluster;
}
static inline uint64_t ha_next_seq(struct ha *ha)
{
    return ++ha->tx_seq;
}

/* heartbeat.c */
/* Heartbeats missed, after the peer closed the sync connection, that declare it lost (the
 * threshold alone otherwise). Two: one late heartbeat alone never ends a live peer. */
#define HA_FAST_LOSS_MISSED 2
/* sync.c: the peer ended the sync connection (EOF or reset: its controld died or stopped). */
void ha_peer_conn_gone(struct ha *ha);
void ha_send_heartbeat(struct ha *ha);
/* A group id of an interface name (-1: none). */
int ha_iface_rg(const struct controld *c, const char *ifname);
struct ha_rg *ha_rg_find(struct ha *ha, unsigned id);
/* This node is primary of group id (group 0 and interfaces in no group: always). */
bool ha_is_primary(struct ha *ha, unsigned rg);

/* vip.c: this node became primary (true) or secondary of rg: addresses, ARP/NA, arming. */
void ha_vip_apply(struct ha *ha, struct ha_rg *rg, bool primary);
/* Gratuitous ARP / unsolicited NA for the group's VIPs (a primary that stays primary while a
 * peer that also claimed the group steps down: the neighbours may point at the peer). */
void ha_vip_announce(struct ha *ha, struct ha_rg *rg);
/* At start: no VIP may be left over from an earlier run. */
void ha_vip_remove_all(struct ha *ha);

/* sync.c */
int ha_sync_start(struct ha *ha);
void ha_sync_stop(struct ha *ha);
void ha_sync_tick(struct ha *ha); /* every heartbeat interval: connect, resync */
void ha_sync_peer_lost(struct ha *ha);
void ha_sync_deltas(struct ha *ha, const Moat__SessionDeltaBatch *b);
void ha_sync_roles_changed(struct ha *ha);
void ha_sync_helper_applied(struct ha *ha);
void ha_sync_install_reply(struct ha *ha, const Moat__SessionInstallReply *r);
bool ha_sync_ready(const struct ha *ha);
void ha_sync_render(const struct ha *ha, bool json, struct strbuf *o);

#endif
