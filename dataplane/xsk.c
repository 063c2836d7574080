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

static bool sock_is_zerocopy(int fd)
{
    struct xdp_options opts;
    socklen_t len = sizeof(opts);
    memset(&opts, 0, sizeof(opts));
    if (getsockopt(fd, SOL_XDP, XDP_OPTIONS, &opts, &len) != 0)
        return false;
    return (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
}

/* Registers u's area for s alone (its own fill and completion rings), then binds s on
 * it. On failure nothing of s is left registered or bound; *stage says which step failed. */
static int sock_bind(struct dp_umem *u, struct dp_sock *s, bool zerocopy, const char **stage)
{
    struct xsk_umem_config ucfg = {
        .fill_size = u->ring_size,
        .comp_size = u->ring_size,
        .frame_size = u->frame_size,
        .frame_headroom = 0,
        .flags = 0,
    };
    struct xsk_socket_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.rx_size = u->ring_size;
    cfg.tx_size = u->ring_size;
    cfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD; /* controld attached the shim */
    cfg.xdp_flags = 0;
    cfg.bind_flags = XDP_USE_NEED_WAKEUP | (zerocopy ? XDP_ZEROCOPY : XDP_COPY);

    memset(&s->rx, 0, sizeof(s->rx));
    memset(&s->tx, 0, sizeof(s->tx));
    memset(&s->fill, 0, sizeof(s->fill));
    memset(&s->comp, 0, sizeof(s->comp));
    *stage = "registering the UMEM";
    int err = xsk_umem__create(&s->umem, u->area, u->size, &s->fill, &s->comp, &ucfg);
    if (err) {
        s->umem = NULL;
        return err < 0 ? err : -err;
    }
    *stage = "bind";
    err = xsk_socket__create(&s->xsk, s->ifname, s->queue, s->umem, &s->rx, &s->tx, &cfg);
    if (err) {
        s->xsk = NULL;
        xsk_umem__delete(s->umem); /* unmaps the rings the failed create left mapped */
        s->umem = NULL;
        return err < 0 ? err : -err;
    }
    s->fd = xsk_socket__fd(s->xsk);
    s->zerocopy = sock_is_zerocopy(s->fd);
    s->need_wakeup = true; /* the kernel refuses XDP_USE_NEED_WAKEUP it doesn't know */
    s->bound = true;
    return 0;
}

/* sock_bind(), retried while the kernel still holds the (device, queue) of a socket closed
 * just before (it releases the old buffer pool a little after the close: EBUSY until then;
 * up to 1 s). */
static int sock_bind_retry(struct dp_umem *u, struct dp_sock *s, bool zerocopy, const char **stage)
{
    int err = -EBUSY;
    for (int tries = 0; tries < 200 && err == -EBUSY; tries++) {
        err = sock_bind(u, s, zerocopy, stage);
        if (err == -EBUSY) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return err;
}

/* Closes s and its registration (the socket first: the registration's fd is its fd). */
static void sock_delete(struct dp_sock *s)
{
    if (s->xsk)
        xsk_socket__delete(s->xsk);
    if (s->umem) {
        int err = xsk_umem__delete(s->umem);
        if (err)
            log_warn("xsk: UMEM registration of %s queue %u still in use at delete: %s", s->ifname,
                     s->queue, strerror(-err));
    }
    s->xsk = NULL;
    s->umem = NULL;
    s->fd = -1;
    s->bound = false;
}

static void sock_set_error(struct dp_sock *s, int err, bool zerocopy, const char *stage)
{
    s->bind_err = err;
    snprintf(s->err_text, sizeof(s->err_text), "AF_XDP %s on %s queue %u (%s mode): %s", stage,
             s->ifname, s->queue, zerocopy ? "zero-copy" : "copy", strerror(-err));
}

int dp_xsk_bind_all(struct dp_umem *u, struct dp_sock *socks, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        socks[i].bound = false;
        socks[i].umem = NULL;
        socks[i].xsk = NULL;
        socks[i].fd = -1;
        socks[i].bind_err = 0;
        socks[i].zc_err = 0;
        socks[i].need_wakeup = false;
        socks[i].err_text[0] = 0;
    }
    /* Zero-copy for all, or for none. */
    unsigned ok = 0;
    int zc_err = 0;
    const char *stage = "";
    for (unsigned i = 0; i < n; i++) {
        int err = sock_bind_retry(u, &socks[i], true, &stage);
        if (err) {
            zc_err = err;
            log_info("xsk: zero-copy %s on %s queue %u refused (%s); using copy mode", stage,
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
    /* One mode for the worker: every socket gets the same answer. */
    for (unsigned i = 0; i < n; i++) {
        socks[i].zc_err = zc_err;
        sock_delete(&socks[i]);
    }
    ok = 0;
    for (unsigned i = 0; i < n; i++) {
        int err = sock_bind_retry(u, &socks[i], false, &stage);
        if (err) {
            sock_set_error(&socks[i], err, false, stage);
            log_err("xsk: %s", socks[i].err_text);
            continue;
        }
        ok++;
    }
    return (int)ok;
}

void dp_xsk_unbind_all(struct dp_umem *u, struct dp_sock *socks, unsigned n)
{
    (void)u;
    for (unsigned i = 0; i < n; i++)
        sock_delete(&socks[i]);
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
    if (!u->area)
        return -ENOTCONN;
    bool zc = false;
    if (s->xsk) {
        zc = s->zerocopy;
        uint32_t n = 0;
        n += ring_frames(&s->fill, false, reclaimed + n, max - n);
        n += ring_frames((const struct xsk_ring_prod *)&s->rx, true, reclaimed + n, max - n);
        n += ring_frames(&s->tx, true, reclaimed + n, max - n);
        n += ring_frames((const struct xsk_ring_prod *)&s->comp, false, reclaimed + n, max - n);
        *n_reclaimed = n;
    }
    sock_delete(s);
    s->bind_err = 0;
    s->err_text[0] = 0;
    s->outstanding = 0;
    s->tx_batch = 0;
    const char *stage = "";
    int err = sock_bind_retry(u, s, zc, &stage);
    if (err) {
        sock_set_error(s, err, zc, stage);
        return err;
    }
    return 0;
}
