/* SPDX-License-Identifier: MIT */
/*
 * syncrec.h — the compact form of a session synced from the HA peer, as controld hands it to
 * its helper (SessionInstall.records: an array of struct syncrec, host byte order: the helper
 * link never leaves the machine, and Hello's version pins both ends to one build).
 *
 * controld fills it from the peer's SessionRecord once the interface names are mapped to its
 * own indexes (syncrec_from_record): only the fields the helper installs are taken, so fields a
 * newer peer added (unknown to this build) never reach the helper, and nothing the peer sent is
 * packed again with protobuf-c. The helper turns it into a session (flowctl_syncrec_to_delta).
 */
#ifndef MOAT_SYNCREC_H
#define MOAT_SYNCREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat.pb-c.h"

struct syncrec {
    uint64_t id;
    uint64_t packets[2], bytes[2]; /* [0] forward, [1] reverse */
    uint64_t created_unix_ms, last_seen_unix_ms;
    uint8_t fwd_src[16], fwd_dst[16]; /* 4 bytes used for IPv4 */
    uint8_t rev_src[16], rev_dst[16];
    uint16_t fwd_sport, fwd_dport, rev_sport, rev_dport; /* host byte order */
    uint32_t from_zone, to_zone;
    uint32_t in_ifindex, out_ifindex;
    uint32_t policy_id;
    uint32_t state; /* SessionState as the record says it */
    uint32_t timeout;
    uint32_t snat_rule_id, dnat_rule_id, snat_pool_id;
    uint8_t family; /* 4 or 6 */
    uint8_t proto;
    uint8_t has_rev; /* the reverse key is usable (same family and protocol) */
    uint8_t pad[5];
};

/* The record as the helper installs it; false when its forward key is unusable (no or bad
 * addresses, a port or protocol out of range). */
bool syncrec_from_record(const Moat__SessionRecord *r, struct syncrec *s);

/* How many records a SessionInstall.records blob of len bytes holds; -EBADMSG when len is not
 * a whole number of them. */
long syncrec_count(size_t len);

#endif
