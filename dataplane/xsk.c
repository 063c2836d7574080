/* SPDX-License-Identifier: MIT */
#include "xsk.h"

#include <errno.h>
#include <linux/if_xdp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "log.h"
#include "maps.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

static uint32_t round_pow2(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p > UINT32_MAX ? 0 : (uint32_t)p;
}

uint32_t dp_umem_frames_needed(uint32_t nsocks, uint32_t ring_size, uint32_t pending_limit,
                               uint32_t batch, uint32_t inbound_frames)
{
    /* Per socket: a full fill ring, a full RX ring waiting to be read, a full TX ring and
     * a full local pending queue; per worker: one RX batch in flight and the frames parked
     * in the hand-off rings other workers copy into. */
    uint64_t need = (uint64_t)nsocks * (3ull * ring_size + pending_limit) + batch + inbound_frames;
    return round_pow2(need);
}

int dp_umem_alloc(struct dp_umem *u, uint32_t nframes, uint32_t frame_size, uint32_t ring_size)
{
    memset(u, 0, sizeof(*u));
    if (nframes == 0)
        return -EINVAL;
    size_t size = (size_t)nframes * frame_size;
    void *area =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (area == MAP_FAILED)
        return -errno;
    u->area = area;
    u->size = size;
    u->nframes = nframes;
    u->frame_size = frame_size;
    u->ring_size = ring_size;
    return 0;
}

void dp_umem_free(struct dp_umem *u)
{
    if (u->area)
        munmap(u->area, u->size);
    memset(u, 0, sizeof(*u));
}

static int umem_register(struct dp_umem *u)
{
    struct xsk_umem_config cfg = {
        .fill_size = u->ring_size,
        .comp_size = u->ring_size,
        .frame_size = u->frame_size,
        .frame_headroom = 0,
        .flags = 0,
    };
    memset(&u->fill, 0, sizeof(u->fill));
    memset(&u->comp, 0, sizeof(u->comp));
    int err = xsk_umem__create(&u->umem, u->area, u->size, &u->fill, &u->comp, &cfg);
    if (err) {
        u->umem = NULL;
        return err < 0 ? err : -err;
    }
    u->nsocks = 0;
    return 0;
}

static void umem_unregister(struct dp_umem *u)
{
    if (!u->umem)
        return;
    int err = xsk_umem__delete(u->umem);
    if (err)
        log_warn("xsk: UMEM still in use at unregister: %s", strerror(-err));
    u->umem = NULL;
}

static bool sock_is_zerocopy(int fd)
{
    struct xdp_options opts;
    socklen_t len = sizeof(opts);
    memset(&opts, 0, sizeof(opts));
    if (getsockopt(fd, SOL_XDP, XDP_OPTIONS, &opts, &len) != 0)
        return false;
    return (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
}

static int sock_bind(struct dp_umem *u, struct dp_sock *s, bool zerocopy)
{
    struct xsk_socket_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.rx_size = u->ring_size;
    cfg.tx_size = u->ring_size;
    cfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD; /* controld attached the shim */
    cfg.xdp_flags = 0;
    /* Only the first socket's flags reach the kernel; the others inherit its mode. */
    cfg.bind_flags = XDP_USE_NEED_WAKEUP | (zerocopy ? XDP_ZEROCOPY : XDP_COPY);

    memset(&s->rx, 0, sizeof(s->rx));
    memset(&s->tx, 0, sizeof(s->tx));
    memset(&s->fill, 0, sizeof(s->fill));
    memset(&s->comp, 0, sizeof(s->comp));
    int err = xsk_socket__create_shared(&s->xsk, s->ifname, s->queue, u->umem, &s->rx, &s->tx,
                                        &s->fill, &s->comp, &cfg);
    if (err) {
        s->xsk = NULL;
        return err < 0 ? err : -err;
    }
    s->fd = xsk_socket__fd(s->xsk);
    s->zerocopy = sock_is_zerocopy(s->fd);
    s->need_wakeup = true; /* the kernel refuses XDP_USE_NEED_WAKEUP it doesn't know */
    s->bound = true;
    u->nsocks++;
    return 0;
}

/* sock_bind(), retried while the kernel still holds the (device, queue) of a socket closed
 * just before (it releases the old buffer pool a little after the close: EBUSY until then;
 * up to 1 s). */
static int sock_bind_retry(struct dp_umem *u, struct dp_sock *s, bool zerocopy)
{
    int err = -EBUSY;
    for (int tries = 0; tries < 200 && err == -EBUSY; tries++) {
        err = sock_bind(u, s, zerocopy);
        if (err == -EBUSY) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return err;
}

static void sock_delete(struct dp_umem *u, struct dp_sock *s)
{
    if (!s->xsk)
        return;
    xsk_socket__delete(s->xsk);
    s->xsk = NULL;
    s->fd = -1;
    s->bound = false;
    u->nsocks--;
}

static void sock_set_error(struct dp_sock *s, int err, bool zerocopy)
{
    s->bind_err = err;
    snprintf(s->err_text, sizeof(s->err_text), "AF_XDP bind on %s queue %u (%s mode): %s",
             s->ifname, s->queue, zerocopy ? "zero-copy" : "copy", strerror(-err));
}

int dp_xsk_bind_all(struct dp_umem *u, struct dp_sock *socks, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        socks[i].bound = false;
        socks[i].xsk = NULL;
        socks[i].fd = -1;
        socks[i].bind_err = 0;
        socks[i].zc_err = 0;
        socks[i].need_wakeup = false;
        socks[i].err_text[0] = 0;
    }
    /* Zero-copy for all, or for none. */
    int err = umem_register(u);
    if (err)
        return err;
    unsigned ok = 0;
    int zc_err = 0;
    for (unsigned i = 0; i < n; i++) {
        err = sock_bind_retry(u, &socks[i], true);
        if (err) {
            zc_err = err;
            log_info("xsk: zero-copy bind on %s queue %u refused (%s); using copy mode",
                     socks[i].ifname, socks[i].queue, strerror(-err));
            break;
        }
        if (!socks[i].zerocopy) {
            zc_err = -EOPNOTSUPP;
            break;
        }
        ok++;
    }
    if (!zc_err)
        return (int)ok;
    /* The mode belongs to the UMEM: every socket of it gets the same answer. */
    for (unsigned i = 0; i < n; i++)
        socks[i].zc_err = zc_err;

    for (unsigned i = 0; i < n; i++)
        sock_delete(u, &socks[i]);
    umem_unregister(u);

    err = umem_register(u);
    if (err)
        return err;
    ok = 0;
    for (unsigned i = 0; i < n; i++) {
        err = sock_bind_retry(u, &socks[i], false);
        if (err) {
            sock_set_error(&socks[i], err, false);
            log_err("xsk: %s", socks[i].err_text);
            if (u->nsocks == 0) {
                /* A failed first bind can leave the registration's rings unmapped:
                 * start the next socket on a fresh registration. */
                umem_unregister(u);
                err = umem_register(u);
                if (err)
                    return err;
            }
            continue;
        }
        ok++;
    }
    return (int)ok;
}

void dp_xsk_unbind_all(struct dp_umem *u, struct dp_sock *socks, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        sock_delete(u, &socks[i]);
    umem_unregister(u);
}

int dp_xsk_kernel_stats(const struct dp_sock *s, struct xdp_statistics *out)
{
    socklen_t len = sizeof(*out);
    memset(out, 0, sizeof(*out));
    if (!s->bound || s->fd < 0)
        return -ENOTCONN;
    if (getsockopt(s->fd, SOL_XDP, XDP_STATISTICS, out, &len) != 0)
        return -errno;
    return 0;
}

const char *dp_xsk_mode_name(const struct dp_sock *s)
{
    return s->zerocopy ? "zerocopy" : "copy";
}

int dp_xskmap_open(const char *bpffs_dir)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", bpffs_dir, MOAT_MAP_XSKS);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    int fd = bpf_obj_get(path);
    if (fd < 0)
        return -errno;
    return fd;
}

int dp_xskmap_insert(int map_fd, uint32_t key, int sock_fd)
{
    if (bpf_map_update_elem(map_fd, &key, &sock_fd, BPF_ANY) != 0)
        return -errno;
    return 0;
}

int dp_xskmap_delete(int map_fd, uint32_t key)
{
    if (bpf_map_delete_elem(map_fd, &key) != 0)
        return -errno;
    return 0;
}

/* ---- rebinding one socket (link cycle: issue 6) ---- */

/* The frames in [*consumer, *producer) of a ring of addresses (fill, completion) or of
 * descriptors (RX, TX): the ones its other end has not taken yet. */
static uint32_t ring_frames(const struct xsk_ring_prod *r, bool desc, uint64_t *out, uint32_t max)
{
    if (!r->ring || !r->producer || !r->consumer)
        return 0;
    uint32_t prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
    uint32_t cons = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
    uint32_t n = 0;
    for (uint32_t i = cons; i != prod && n < max; i++) {
        if (desc)
            out[n++] = ((const struct xdp_desc *)r->ring)[i & r->mask].addr;
        else
            out[n++] = ((const uint64_t *)r->ring)[i & r->mask];
    }
    return n;
}

int dp_xsk_rebind(struct dp_umem *u, struct dp_sock *s, uint64_t *reclaimed, uint32_t max,
                  uint32_t *n_reclaimed)
{
    *n_reclaimed = 0;
    if (!u->umem)
        return -ENOTCONN;
    /* The socket that registered the UMEM keeps its fd (and its binding) for the UMEM's
     * life: it can only be rebound with the whole UMEM. */
    if (s->xsk && s->fd == xsk_umem__fd(u->umem))
        return -EXDEV;
    bool zc = false;
    if (s->xsk) {
        zc = s->zerocopy;
        uint32_t n = 0;
        n += ring_frames(&s->fill, false, reclaimed + n, max - n);
        n += ring_frames((const struct xsk_ring_prod *)&s->rx, true, reclaimed + n, max - n);
        n += ring_frames(&s->tx, true, reclaimed + n, max - n);
        n += ring_frames((const struct xsk_ring_prod *)&s->comp, false, reclaimed + n, max - n);
        *n_reclaimed = n;
        sock_delete(u, s);
    }
    s->bind_err = 0;
    s->err_text[0] = 0;
    s->outstanding = 0;
    s->tx_batch = 0;
    int err = sock_bind_retry(u, s, zc);
    if (err) {
        sock_set_error(s, err, zc);
        return err;
    }
    return 0;
}
