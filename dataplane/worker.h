/* SPDX-License-Identifier: MIT */
/*
 * worker.h — the per-worker packet loop and its setup.
 *
 * Worker w serves RX queue q of every port where q % workers == w, with one UMEM shared by
 * all its sockets. A pass of the loop: reap TX completions -> refill every fill ring ->
 * RX a batch from each socket (validate, route, rewrite, queue for TX) -> move frames
 * handed over by other workers and the local pending queues onto the TX rings -> kick TX
 * -> sleep in poll() when there was nothing to do and nothing is outstanding. No locks,
 * no allocation, no logging on that path.
 *
 * Frames routed to a port this worker has no socket on go to the worker that has one,
 * through a bounded SPSC ring per (source, destination) pair whose slots each hold a frame
 * of the destination's UMEM: the source copies the packet into it; the destination moves
 * it to its TX ring and puts a frame from its own free stack back into the slot.
 *
 * The packet path itself (sessions, policies, routing, rewrite) is flow.c's; this file moves
 * frames. A frame whose session another worker owns goes to that worker through the same
 * rings, flagged as received (DP_HANDOFF_RX).
 *
 * Next hops without a neighbour entry are handed to the control thread through an SPSC
 * ring (at most one request per next hop per DP_RESOLVE_INTERVAL_MS per worker).
 */
#ifndef MOAT_DP_WORKER_H
#define MOAT_DP_WORKER_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dp.h"
#include "ring.h"
#include "xsk.h"

#define DP_RESOLVE_RING 256
#define DP_RESOLVE_INTERVAL_MS 500
#define DP_RL_SETS 64
#define DP_RL_WAYS 4
/* Copy-mode TX: sendto() calls per socket and pass (each sends at most 32 descriptors). */
#define DP_MAX_KICKS 4

struct dp_resolve_req {
    uint8_t family;
    uint8_t pad[3];
    uint32_t ifindex;
    uint8_t addr[16];
};

/*
 * A slot of a hand-off ring. addr: a frame of the destination worker's UMEM (its start).
 * Two kinds: a frame to transmit (routed here because the destination worker has the egress
 * socket: the packet at addr, sock = the destination's socket), or, with DP_HANDOFF_RX, a
 * received frame whose session the destination worker owns (shared-index hit): the packet
 * at addr + DP_HANDOFF_RX_OFF with the shim's metadata in front of it, sock = the ingress
 * port; the destination runs it through its packet path.
 */
#define DP_HANDOFF_RX 0x1
#define DP_HANDOFF_RX_OFF 256
struct dp_handoff {
    uint64_t addr;
    uint32_t len;
    uint16_t sock;
    uint16_t flags;
};

struct dp_egress {
    int16_t worker; /* -1: no socket anywhere for this port */
    int16_t sock;
};

/* Resolve rate limiter: a small set-associative table of recent requests. */
struct dp_resolve_limiter {
    struct {
        uint64_t last_ms;
        uint32_t ifindex;
        uint8_t family; /* 0: unused */
        uint8_t addr[16];
    } e[DP_RL_SETS][DP_RL_WAYS];
};

struct dp_flow;

struct dp_worker {
    uint32_t id;
    struct dp *dp;
    struct dp_flow *flow; /* dp->flows[id], set while the thread runs */
    struct moat_worker_stats *st;
    struct dp_umem umem;
    struct dp_sock *socks;
    uint32_t nsocks;
    uint32_t nbound;
    uint64_t frame_mask; /* frame_size - 1 */
    uint32_t batch;
    uint32_t pend_limit;
    uint64_t *free_stack;
    uint32_t nfree, free_cap;
    struct dp_egress egress[MOAT_MAX_IFACES];
    /* inbound[a]: frames worker a hands to this worker (unused for a == id). */
    struct spsc_ring inbound[MOAT_MAX_WORKERS];
    struct spsc_ring resolve; /* to the control thread */
    struct dp_resolve_limiter rl;
    struct pollfd *pfds;
    uint32_t npfds;
    int evfd;
    uint32_t wake_mask; /* workers to poke at the end of this pass */
    bool resolve_pushed;
    bool now_valid;
    uint64_t now_ms;
    pthread_t thread;
    bool started;

    _Alignas(DP_CACHELINE) _Atomic uint64_t seen_epoch;
    _Atomic int sleeping;
};

/*
 * Builds the workers for dp->set and dp->ports: UMEMs, sockets (zero-copy, else copy),
 * hand-off rings, fill rings filled, sockets inserted in moat_xsks. Failures of single
 * sockets are recorded in them (bind_err, err_text) and are not fatal; a failure that
 * leaves nothing usable (the XSK map, memory) returns a negative errno with err set, after
 * undoing everything.
 */
int dp_workers_setup(struct dp *dp, char *err, size_t errlen);
/* Starts a thread for each worker with at least one bound socket. */
int dp_workers_start(struct dp *dp);
/* Pins each running worker to its CPU of dp->set.cpus (worker i on cpus[i % ncpus]), or lets it
 * run on any CPU when ncpus is 0 (system dataplane worker-cpus). A failure is logged, not fatal. */
void dp_workers_pin(struct dp *dp);
/* Stops and joins the threads. */
void dp_workers_stop(struct dp *dp);
/* Deletes the moat_xsks entries, then the sockets and UMEMs; frees the workers. */
void dp_workers_teardown(struct dp *dp);

/*
 * Rebinds the sockets of dp->ports[port] in place (the workers are stopped; dp->ports[port]
 * already holds the new ifindex): for each, its moat_xsks entry is deleted first, the frames
 * it held go back to its worker's free stack (its pending TX frames are dropped and counted
 * as pending_tx_drops), the socket is bound again and put back in moat_xsks. The other
 * ports' sockets are not touched, whichever socket of its worker this one is (each socket
 * has its own registration of the worker's UMEM area: xsk.h). Returns 0 (single bind
 * failures are recorded in the sockets, as in dp_workers_setup) or -ENOMEM.
 */
int dp_workers_rebind_port(struct dp *dp, uint32_t port);

/* Control thread: the next resolve request queued by worker w. */
bool dp_worker_pop_resolve(struct dp_worker *w, struct dp_resolve_req *out);

/*
 * The rate limiter on its own (for tests): true if a request for (family, addr, ifindex)
 * may be sent at now_ms, recording it.
 */
bool dp_resolve_allow(struct dp_resolve_limiter *rl, uint8_t family, const uint8_t *addr,
                      uint32_t ifindex, uint64_t now_ms);

#endif
