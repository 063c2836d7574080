/* SPDX-License-Identifier: MIT */
/*
 * sessrec.h — the compact form of a SessionRecord on the helper link, helper -> controld: the
 * creates of sessions synced from the HA peer (SessionDeltaBatch.created: an array of struct
 * sessrec, host byte order like struct syncrec: the helper link never leaves the machine and
 * Hello's version pins both ends to one build).
 *
 * A standby installs every session of the peer, and reporting each one back as a protobuf
 * SessionDelta cost more than installing it (pack in the helper, unpack with its allocations
 * in controld). This form carries the same fields as the SessionRecord the helper would have
 * sent (flowctl_delta_to_record), so controld's mirror holds the same session either way; the
 * policy and application names are indexes into the batch's names (1-based, 0: ""), and
 * `order` puts the create back in its place among the batch's deltas (applied after the first
 * `order` of them).
 */
#ifndef MOAT_SESSREC_H
#define MOAT_SESSREC_H

#include <stddef.h>
#include <stdint.h>

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
    uint32_t policy_name, application; /* SessionDeltaBatch.names index + 1, 0: "" */
    uint32_t state;                    /* SessionState */
    uint32_t close_reason;             /* CloseReason */
    uint32_t timeout;
    uint32_t worker;
    uint32_t snat_rule_id, dnat_rule_id, snat_pool_id;
    uint32_t order; /* how many of the batch's deltas come before it */
    uint8_t family; /* 4 or 6 */
    uint8_t proto;
    uint8_t pad[2];
};

/* How many records a SessionDeltaBatch.created blob of len bytes holds; -EBADMSG when len is
 * not a whole number of them. */
long sessrec_count(size_t len);

#endif
