/* SPDX-License-Identifier: MIT */
#include "frame.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void frame_reader_init(struct frame_reader *r, size_t max_frame)
{
    memset(r, 0, sizeof(*r));
    r->max_frame = max_frame ? max_frame : FRAME_MAX_DEFAULT;
}

void frame_reader_free(struct frame_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

int frame_reader_feed(struct frame_reader *r, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n)
            cap *= 2;
        uint8_t *nb = realloc(r->buf, cap);
        if (!nb)
            return -ENOMEM;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return 0;
}

static uint32_t be32_read(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int frame_reader_next(struct frame_reader *r, Moat__Envelope **env)
{
    *env = NULL;
    if (r->len < FRAME_HDR_LEN)
        return 0;
    uint32_t flen = be32_read(r->buf);
    if (flen == 0 || flen > r->max_frame)
        return -EMSGSIZE;
    if (r->len < FRAME_HDR_LEN + (size_t)flen)
        return 0;
    Moat__Envelope *e = moat__envelope__unpack(NULL, flen, r->buf + FRAME_HDR_LEN);
    size_t used = FRAME_HDR_LEN + (size_t)flen;
    memmove(r->buf, r->buf + used, r->len - used);
    r->len -= used;
    if (!e)
        return -EBADMSG;
    if (e->msg_case == MOAT__ENVELOPE__MSG__NOT_SET) {
        moat__envelope__free_unpacked(e, NULL);
        return -EBADMSG;
    }
    *env = e;
    return 1;
}

int frame_encode(const Moat__Envelope *env, uint8_t **out, size_t *out_len)
{
    size_t n = moat__envelope__get_packed_size(env);
    if (n == 0 || n > UINT32_MAX)
        return -EMSGSIZE;
    uint8_t *buf = malloc(FRAME_HDR_LEN + n);
    if (!buf)
        return -ENOMEM;
    buf[0] = (uint8_t)(n >> 24);
    buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    moat__envelope__pack(env, buf + FRAME_HDR_LEN);
    *out = buf;
    *out_len = FRAME_HDR_LEN + n;
    return 0;
}

int frame_write_fd(int fd, const Moat__Envelope *env)
{
    uint8_t *buf;
    size_t len;
    int err = frame_encode(env, &buf, &len);
    if (err)
        return err;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                poll(&p, 1, 1000);
                continue;
            }
            err = -errno;
            free(buf);
            return err;
        }
        off += (size_t)w;
    }
    free(buf);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int frame_read_fd(int fd, struct frame_reader *r, Moat__Envelope **env, int timeout_ms)
{
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        int rc = frame_reader_next(r, env);
        if (rc != 0)
            return rc;
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            wait = (int)left;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, wait);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (pr == 0)
            return -ETIMEDOUT;
        uint8_t chunk[65536];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        if (n == 0)
            return r->len ? -ECONNRESET : 0;
        int err = frame_reader_feed(r, chunk, (size_t)n);
        if (err)
            return err;
    }
}

const char *frame_strerror(int err)
{
    switch (err) {
    case -EMSGSIZE:
        return "frame length is zero or over the size cap";
    case -EBADMSG:
        return "frame is not a valid moat.Envelope";
    case -ECONNRESET:
        return "peer closed the connection in the middle of a frame";
    case -ETIMEDOUT:
        return "timed out waiting for a frame";
    case -ENOMEM:
        return "out of memory buffering a frame";
    default:
        return strerror(-err);
    }
}
