/* SPDX-License-Identifier: MIT */
/*
 * dp.h — the running dataplane: settings, the port set (interfaces with XSKs), the worker
 * array, and the forwarding tables the control thread publishes to the workers.
 *
 * Publication: the control thread builds a struct dp_tables off the hot path, swaps it in
 * with an atomic pointer store and frees the old one only after every running worker has
 * passed a quiescent point (dp_synchronize()): each worker stores the epoch it runs at on
 * top of each loop pass (DP_EPOCH_IDLE while it sleeps in poll(), holding no table) and
 * loads the table pointer after that store. Workers never sleep longer than
 * DP_IDLE_POLL_MS, so a grace period always ends.
 */
#ifndef MOAT_DP_H
#define MOAT_DP_H

#include <net/if.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "fib.h"
#include "maps.h"
#include "policy.h"
#include "screen.h"
#include "syncookie.h"

#define DP_IDLE_POLL_MS 100
#define DP_EPOCH_IDLE UINT64_MAX

struct dp_settings {
    uint32_t workers;
    uint32_t ring_size;
    uint32_t frame_size;
    uint32_t batch_size;
    uint32_t pending_tx_limit;
    uint32_t heartbeat_ms;
    char bpffs_dir[256];
    uint32_t cpus[MOAT_MAX_WORKERS]; /* worker i runs on cpus[i % ncpus]; ncpus 0: anywhere */
    uint32_t ncpus;
};

/* An interface the helper binds XSKs on (Interface.userspace). */
struct dp_port {
    uint32_t ifindex;
    uint32_t slot;
    uint32_t queues;
    char name[IF_NAMESIZE];
    uint32_t link_epoch; /* Interface.link_epoch: a change means rebind this port's XSKs */
};

/* Per-interface forwarding attributes (every interface of the snapshot). */
struct dp_iface {
    uint32_t ifindex;
    uint32_t mtu;
    uint8_t mac[6];
    int16_t port;  /* index in dp.ports, -1: no XSKs on it */
    uint16_t zone; /* security zone id, 0: in no zone (plain routing, no sessions) */
    uint8_t has_v4, has_v6;
    uint8_t v4[4]; /* the box's first address of each family on it (source of rejects) */
    uint8_t v6[16];
};

/* FlowSettings, completed with defaults (seconds, percent). */
struct dp_flow_cfg {
    uint32_t tcp_established, tcp_initial, tcp_closing;
    uint32_t udp, icmp, other;
    uint32_t max_sessions; /* whole box */
    uint32_t high_wm, low_wm;
    bool reevaluate;
    bool syn_cookie;      /* syn-flood-protection-mode syn-cookie (synproxy.h) */
    uint64_t cookie_seed; /* FlowSettings.cookie_seed (0: the helper's own seed) */
};

#define DP_DEF_MAX_SESSIONS 1048576u
#define DP_DEF_TCP_ESTABLISHED 1800
#define DP_DEF_TCP_INITIAL 20
#define DP_DEF_TCP_CLOSING 30
#define DP_DEF_UDP 60
#define DP_DEF_ICMP 60
#define DP_DEF_OTHER 60

/* Immutable once published. */
struct dp_tables {
    uint64_t generation;
    uint64_t version; /* unique per built table: workers drop cached routes when it changes */
    struct fib *fib;
    struct neigh_table *neigh;
    struct pol_set *pol; /* compiled policies; shared and freed with the fib */
    struct nat_set *nat; /* compiled NAT rules and pools (NULL: none); freed with the fib */
    struct dp_flow_cfg flow;
    struct scr_tables scr; /* screens bound to zones */
    uint32_t nifs;
    struct dp_iface ifs[MOAT_MAX_IFACES];
    int16_t port_if[MOAT_MAX_IFACES]; /* dp port -> index in ifs, -1 none */
    /* The SYN cookie key (synproxy.h), from flow.cookie_seed, else from the helper's
     * flow_seed: published with the tables, so that every worker switches keys at once. */
    struct sc_key spk;
};

struct dp_worker;
struct dp_trace;
struct nat_set;
struct dp_flow;

struct dp {
    /* Fixed while workers run (changed only between dp_workers_stop/start). */
    struct dp_settings set;
    uint32_t nports;
    struct dp_port ports[MOAT_MAX_IFACES];
    struct dp_worker *workers[MOAT_MAX_WORKERS];
    uint32_t nworkers; /* workers allocated (set.workers while set up) */
    int xskmap_fd;
    uint64_t bind_seq; /* sockets bound since the helper started (dp_sock.bind_gen) */
    int ctl_evfd;      /* workers poke it after queueing resolve requests */
    struct moat_dp_stats *stats;
    /* Called by long control-thread operations now and then (heartbeats). */
    void (*progress)(void *arg);
    void *progress_arg;

    /* Session state per worker (NULL for workers without sockets): allocated when a
     * snapshot's settings are applied, kept across generations and rebinds that keep the
     * layout. flow_seed: the key hash seed every worker uses (shared index). */
    struct dp_flow *flows[MOAT_MAX_WORKERS];
    uint32_t nflows;
    uint64_t flow_seed;
    int64_t unix_offset_ms; /* CLOCK_REALTIME - CLOCK_MONOTONIC, ms */
    /* The cookie-recent word shared with the kernel path (synproxy.h sp_recent_map; NULL:
     * none pinned) and its mapping: set up with the workers, fixed while they run. */
    _Atomic uint32_t *sp_recent;
    void *sp_recent_map;

    /* trace flow (trace.h): owned by the control thread, read by the workers. */
    struct dp_trace *trace;

    /* Shared with the workers. */
    _Atomic(struct dp_tables *) tables;
    _Atomic uint64_t epoch;
    _Atomic int stop;
};

/* Frees t; fib (with the policies) and neigh only if asked (a neighbour update shares the
 * fib). */
void dp_tables_free(struct dp_tables *t, bool free_fib, bool free_neigh);

/*
 * Publishes t (may be NULL) and frees the previous table once no worker can hold it.
 * keep_fib / keep_neigh: the new table shares that part of the old one.
 */
void dp_publish_tables(struct dp *dp, struct dp_tables *t, bool keep_fib, bool keep_neigh);

/* Waits until every running worker has passed a quiescent point. */
void dp_synchronize(struct dp *dp);

#endif
