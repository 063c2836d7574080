/* SPDX-License-Identifier: MIT */
/*
 * frame.h — length-prefixed protobuf-c messages on stream sockets.
 *
 * A frame is a 4-byte big-endian length then one packed moat.Envelope of that length.
 * Frames larger than the reader's cap, empty frames and undecodable envelopes are errors:
 * the caller closes the connection and logs the reason (frame_strerror()).
 */
#ifndef MOAT_FRAME_H
#define MOAT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "moat.pb-c.h"

#define FRAME_HDR_LEN 4
#define FRAME_MAX_DEFAULT (64u << 20) /* snapshots carry whole session tables */
#define FRAME_MAX_OPERATOR (1u << 20) /* moatctl requests */

/* Accumulates bytes from a stream and cuts them into envelopes. */
struct frame_reader {
    uint8_t *buf;
    size_t len; /* bytes held */
    size_t cap; /* bytes allocated */
    size_t max_frame;
};

void frame_reader_init(struct frame_reader *r, size_t max_frame);
void frame_reader_free(struct frame_reader *r);
/* Appends n bytes. -ENOMEM if the buffer can't grow. */
int frame_reader_feed(struct frame_reader *r, const void *data, size_t n);
/*
 * Takes the next complete envelope out of the buffer.
 * Returns 1 and sets *env (free with moat__envelope__free_unpacked(env, NULL)),
 * 0 when more bytes are needed, -EMSGSIZE for a frame over the cap or of length 0,
 * -EBADMSG for bytes that are not an Envelope (or an Envelope with no message set).
 */
int frame_reader_next(struct frame_reader *r, Moat__Envelope **env);

/* Packs env with its length prefix into a malloc'd buffer (caller frees). */
int frame_encode(const Moat__Envelope *env, uint8_t **out, size_t *out_len);

/* Blocking helpers for sockets without an event loop (dataplane control thread, moatctl). */
/* Writes the whole frame or fails: a short write is retried, never left half-sent. */
int frame_write_fd(int fd, const Moat__Envelope *env);
/*
 * Reads until one envelope is available (timeout_ms < 0: wait forever).
 * Returns 1 with *env, 0 on orderly EOF, -ETIMEDOUT, or another negative errno.
 */
int frame_read_fd(int fd, struct frame_reader *r, Moat__Envelope **env, int timeout_ms);

/* A sentence for the errors above, for logs. */
const char *frame_strerror(int err);

#endif
