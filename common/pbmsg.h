/* SPDX-License-Identifier: MIT */
/*
 * pbmsg.h — the fields protobuf-c keeps without knowing them ("unknown fields": a newer peer's,
 * or malformed input), in a message and every message inside it.
 *
 * protobuf-c does not always pack them again into bytes it accepts: field number 0 written as
 * a two-byte tag (80 00) is kept, re-packed as the one-byte tag 0, and then refused. A process
 * that passes on a message it received strips them first (controld's HA receive path); the
 * fuzz harnesses use pb_has_unknown() to know which inputs cannot survive a second trip.
 */
#ifndef MOAT_PBMSG_H
#define MOAT_PBMSG_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

/* True if m or a message inside it kept unknown fields. */
bool pb_has_unknown(const ProtobufCMessage *m);

/* Frees the unknown fields of m and of every message inside it (m unpacked with the default
 * allocator). */
void pb_strip_unknown(ProtobufCMessage *m);

#endif
