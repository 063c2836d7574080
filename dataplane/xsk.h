/* SPDX-License-Identifier: MIT */
/*
 * xsk.h — AF_XDP sockets: one UMEM area per worker, used by that worker's sockets on every
 * interface, the zero-copy -> copy fallback, and the pinned moat_xsks map.
 *
 * Each socket registers the worker's area with the kernel itself (XDP_UMEM_REG on its own
 * fd, with its own fill + completion ring pair) and binds without XDP_SHARED_UMEM. A frame
 * address means the same bytes in every registration of the area, so a frame received on
 * one socket is sent from another as before; but no socket is special: closing one (a link
 * cycle of its interface) leaves the others' registrations and bindings alone. (With
 * XDP_SHARED_UMEM the kernel requires the socket a new one shares with to be bound, and
 * libxdp always shares with, and never closes, the socket that registered the UMEM: that
 * socket could not be rebound without all the others.) The cost is one page pinning and
 * page array per socket for the same memory (CAP_IPC_LOCK: not charged to RLIMIT_MEMLOCK).
 *
 * A worker first binds all its sockets asking for zero-copy; if any of them fails, it
 * unbinds them all and binds them again in copy mode, so the worker's sockets share one
 * mode. Each socket records what the kernel reports for it afterwards (XDP_OPTIONS), never
 * what was asked for.
 */
#ifndef MOAT_DP_XSK_H
#define MOAT_DP_XSK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xdp/xsk.h>

struct dp_umem {
    uint8_t *area;
    size_t size;
    uint32_t frame_size;
    uint32_t nframes;
    uint32_t ring_size;
};

struct dp_sock {
    /* Worker-owned, hot. */
    struct xsk_ring_cons rx;
    struct xsk_ring_prod tx;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
    int fd;
    uint32_t port; /* index in the running port set */
    uint32_t ifindex;
    uint32_t queue;
    uint32_t outstanding; /* TX descriptors submitted, completion not yet reaped */
    uint32_t tx_batch;    /* TX descriptors reserved this pass, not yet submitted */
    bool zerocopy;
    /* Local pending TX queue: frames of this worker's UMEM waiting for TX ring room. */
    struct xdp_desc *pend;
    uint32_t pend_head, pend_tail, pend_mask;

    /* Control side. */
    struct xsk_umem *umem; /* this socket's registration of the worker's area (NULL: none) */
    struct xsk_socket *xsk;
    bool bound;
    bool in_map;
    uint32_t map_key;
    int bind_err;      /* 0 or negative errno */
    uint64_t bind_gen; /* dp.bind_seq when it was last bound (0: never): unchanged = same socket */
    int zc_err;        /* why zero-copy was refused (negative errno), 0 if it was not */
    bool need_wakeup;
    char err_text[160];
    char ifname[IF_NAMESIZE];
};

/* Frames a worker's UMEM needs (a power of two). */
uint32_t dp_umem_frames_needed(uint32_t nsocks, uint32_t ring_size, uint32_t pending_limit,
                               uint32_t batch, uint32_t inbound_frames);

/* mmap()s the UMEM area (MAP_POPULATE). */
int dp_umem_alloc(struct dp_umem *u, uint32_t nframes, uint32_t frame_size, uint32_t ring_size);
void dp_umem_free(struct dp_umem *u);

/*
 * Binds every socket of socks (each with ifname, ifindex, queue, port set) on u, each on
 * its own registration of u's area: zero-copy first, copy mode for all of them if any
 * zero-copy bind failed. Each socket gets bound / zerocopy / bind_err / err_text (a failed
 * registration is that socket's error). Returns the number of sockets bound.
 */
int dp_xsk_bind_all(struct dp_umem *u, struct dp_sock *socks, unsigned n);
/* Deletes the sockets (after their map entries are gone) and their registrations. */
void dp_xsk_unbind_all(struct dp_umem *u, struct dp_sock *socks, unsigned n);

/*
 * Rebinds one socket of u (its interface went down and up, changed MTU, or was re-created
 * under a new ifindex: s->ifname / s->ifindex / s->queue say where to bind now), whichever
 * socket of the worker it is; the worker's other sockets are not touched. The caller has
 * stopped the worker and deleted the socket's moat_xsks entry. Before deleting the old
 * socket and its registration, the frames its rings still hold (fill entries the kernel
 * did not take, RX entries, TX entries the kernel did not send, completions) are written
 * to reclaimed (at most max; *n_reclaimed of them) for the caller's free stack. Frames the
 * kernel took and never gave back (a packet in flight when the device vanished) are lost
 * to this UMEM. Returns 0 or the registration's or bind's negative errno (recorded in s;
 * an EBUSY while the kernel releases the old socket's queue is retried for up to a second).
 */
int dp_xsk_rebind(struct dp_umem *u, struct dp_sock *s, uint64_t *reclaimed, uint32_t max,
                  uint32_t *n_reclaimed);

/* The kernel's counters of a bound socket (XDP_STATISTICS). 0 or a negative errno. */
int dp_xsk_kernel_stats(const struct dp_sock *s, struct xdp_statistics *out);

/* "zerocopy" / "copy". */
const char *dp_xsk_mode_name(const struct dp_sock *s);

/* bpf_obj_get(bpffs_dir/moat_xsks): the fd, or a negative errno. */
int dp_xskmap_open(const char *bpffs_dir);
int dp_xskmap_insert(int map_fd, uint32_t key, int sock_fd);
int dp_xskmap_delete(int map_fd, uint32_t key);

#endif
