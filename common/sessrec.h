/* SPDX-License-Identifier: MIT */
/*
 * sessrec.h — the compact form of a SessionRecord on the helper link, in both directions
 * (host byte order: the link never leaves the machine, and Hello's version pins both ends to
 * one build):
 *
 *   controld -> helper, SessionInstall.records: the sessions synced from the HA peer, filled
 *     from the peer's SessionRecord once its interface names are mapped to this node's indexes
 *     (sessrec_from_record). Only the fields the helper installs are taken, so fields a newer
 *     peer added never reach the helper and nothing the peer sent is packed again with
 *     protobuf-c. The helper turns each into a session (flowctl_sessrec_to_delta).
 *   helper -> controld, SessionDeltaBatch.created: the creates of those sessions once
 *     installed (flowctl_delta_to_sessrec), with the same fields as the SessionRecord the
 *     helper would have sent (flowctl_delta_to_record), so controld's mirror holds the same
 *     session either way; each at its place among the batch's deltas (`order`).
 *
 * Fields only one direction uses are marked; the other leaves them 0.
 */
#ifndef MOAT_SESSREC_H
#define MOAT_SESSREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat.pb-c.h"

struct sessrec {
    uint64_t id;
    uint64_t packets_fwd, bytes_fwd, packets_rev, bytes_rev;
    uint64_t created_unix_ms, last_seen_unix_ms;
    uint8_t fwd_src[16], fwd_dst[16]; /* 4 bytes used for IPv4 */
    uint8_t rev_src[16], rev_dst[16];
    uint16_t fwd_sport, fwd_dport, rev_sport, rev_dport; /* as FlowKey has them */
    uint32_t from_zone, to_zone;
    uint32_t in_ifindex, out_ifindex;
    uint32_t policy_id;
    uint32_t state; /* SessionState */
    uint32_t timeout;
    uint32_t snat_rule_id, dnat_rule_id, snat_pool_id;
    /* SYN proxy (SessionRecord.sp_*): phase (0: not proxied) and numbers. */
    uint32_t sp_phase, sp_cookie, sp_client_isn, sp_delta, sp_window, sp_pad;
    /* helper -> controld only (the helper finds the policy again and takes the worker from the
     * id): */
    uint32_t policy_name, application; /* SessionDeltaBatch.names index + 1, 0: "" */
    uint32_t close_reason;             /* CloseReason */
    uint32_t worker;
    uint32_t order; /* how many of the batch's deltas come before it */
    uint8_t family; /* 4 or 6 */
    uint8_t proto;
    /* The reverse key is usable (same family and protocol as the forward one); the helper
     * always fills it (1), controld's mirror does not read it. */
    uint8_t has_rev;
    uint8_t pad;
};

/* The record as the helper installs it; false when its forward key is unusable (no or bad
 * addresses, a port or protocol out of range). */
bool sessrec_from_record(const Moat__SessionRecord *r, struct sessrec *s);

/* How many records a blob of len bytes holds (SessionInstall.records,
 * SessionDeltaBatch.created); -EBADMSG when len is not a whole number of them. */
long sessrec_count(size_t len);

#endif
