/* SPDX-License-Identifier: MIT */
/*
 * mirror.h — controld's session mirror: every session the dataplane helper holds, fed by
 * its SessionDeltaBatch stream (create / update / close), keyed by SessionRecord.id.
 *
 * Used by `moatctl show|clear security flow session`, for the session-init/close log lines,
 * and to re-seed a restarted helper (the mirror keeps its sessions when the helper goes
 * away). Pure data structure: no libuv, no sockets, so it is unit-tested on its own.
 *
 * Cost: insert, update, lookup and delete are O(1) on average (two chained hashes: by id, and
 * by (ingress zone, forward tuple) so a session the helper re-announces under a new id
 * replaces the stale entry, without a second create event or log line). Entries live in fixed
 * chunks that never move; the hashes double when they fill. The mirror holds at most `max`
 * sessions; creates beyond that are counted in `overflow` and dropped.
 *
 * Log lines (written by controld for policies with `then log { session-init; session-close; }`),
 * one per event, on controld's log (stderr / the journal), at level info:
 *
 *   RT_FLOW_SESSION_CREATE: session created SRC/SPORT->DST/DPORT 0xPROTO policy NAME
 *       FROMZONE->TOZONE id ID application APP in IFNAME out IFNAME
 *       reply RSRC/RSPORT->RDST/RDPORT
 *   RT_FLOW_SESSION_CLOSE: session closed SRC/SPORT->DST/DPORT 0xPROTO policy NAME
 *       FROMZONE->TOZONE id ID reason REASON packets PFWD/PREV bytes BFWD/BREV duration SECs
 *       application APP in IFNAME out IFNAME reply RSRC/RSPORT->RDST/RDPORT
 *
 * (each on one line). PROTO is the IP protocol number in hex (0x6 tcp, 0x11 udp, 0x1 icmp,
 * 0x3a icmp6); ICMP sessions show the echo id as SPORT and 0 as DPORT. APP is "any" when the
 * policy matched every application. REASON is one of aged, tcp-fin, tcp-rst, cleared, policy,
 * early-aged, shutdown, none. "reply" is the tuple replies arrive with (it differs from the
 * reversed forward tuple only under NAT). Interface and zone names are "-" when unknown.
 * A translated session's lines end with " source-nat-rule RULESET/RULE" and/or
 * " destination-nat-rule RULESET/RULE" (the rules that translated it; static rules count as
 * destination NAT on the way in), "-" when the rule is unknown.
 *
 * NAT: a session is translated when its reverse tuple is not its forward tuple reversed.
 * Source side: the reply's destination (address, and port or ICMP id) differs from the
 * initiator's source; destination side: the reply's source differs from the forward
 * destination. `show security flow session` prints a "NAT:" line for those, after the In
 * (initiator's packets as they arrive) and Out (replies as they arrive: the translated
 * addresses) lines.
 */
#ifndef MOAT_MIRROR_H
#define MOAT_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "moat.pb-c.h"
#include "strbuf.h"

#define MIRROR_DEFAULT_MAX 1048576u
#define MIRROR_N_REASONS 8   /* CloseReason values 0..7 */
#define MIRROR_N_STATES 8    /* SessionState values 0..7 */
#define MIRROR_SHOW_MAX 5000 /* sessions listed by one `show` (the rest are counted) */

/* One mirrored session: a SessionRecord without the protobuf overhead. */
struct mirror_session {
    uint64_t id;
    uint8_t family; /* 4 or 6 */
    uint8_t proto;
    uint8_t state;        /* Moat__SessionState */
    uint8_t close_reason; /* Moat__CloseReason (of a closing session) */
    uint8_t fwd_src[16], fwd_dst[16];
    uint8_t rev_src[16], rev_dst[16];
    uint16_t fwd_sport, fwd_dport, rev_sport, rev_dport; /* host order */
    uint32_t from_zone, to_zone;
    uint32_t in_ifindex, out_ifindex;
    uint32_t policy_id;
    uint32_t timeout; /* seconds, in its state */
    uint32_t worker;
    uint32_t owner_rg;
    uint32_t policy_name;                              /* index into the mirror's name table */
    uint32_t application;                              /* index into the mirror's name table */
    uint32_t snat_rule_id, dnat_rule_id, snat_pool_id; /* SessionRecord NAT ids, 0 = none */
    /* SYN proxy (SessionRecord.sp_*): phase (0: not proxied) and numbers. */
    uint32_t sp_cookie, sp_client_isn, sp_delta;
    uint16_t sp_window;
    uint8_t sp_phase;
    uint64_t packets_fwd, bytes_fwd, packets_rev, bytes_rev;
    uint64_t created_unix_ms, last_seen_unix_ms;
    /* private */
    uint32_t next_id, next_key; /* hash chains: entry index + 1, 0 = end */
    bool used;
};

struct mirror_counters {
    uint64_t batches;
    uint64_t deltas;
    uint64_t helper_dropped; /* deltas the helper says it could not send (its ring was full) */
    uint64_t batch_gaps;     /* batches missing from the seq numbering */
    uint64_t created;        /* sessions inserted */
    uint64_t updated;        /* updates applied to known sessions */
    uint64_t update_unknown; /* updates for sessions the mirror did not hold (inserted) */
    uint64_t close_unknown;  /* closes for sessions the mirror did not hold */
    uint64_t replaced;       /* entries replaced by a session with the same key and a new id */
    uint64_t overflow;       /* creates refused: the mirror was at its maximum */
    uint64_t malformed;      /* deltas with unusable records (address lengths, ...) */
    uint64_t expired;        /* entries the mirror aged out itself (no news from the helper) */
    uint64_t closed[MIRROR_N_REASONS]; /* closes by CloseReason */
};

struct mirror {
    struct mirror_session **chunks;
    uint32_t n_chunks;
    uint32_t n_slots;   /* entries handed out so far (used or on the free list) */
    uint32_t free_head; /* free list: index + 1 through next_id */
    uint32_t *by_id;    /* bucket heads: index + 1 */
    uint32_t *by_key;
    uint32_t n_buckets; /* power of two */
    uint32_t count;
    uint32_t max;
    uint64_t next_seq; /* expected SessionDeltaBatch.seq */
    bool seq_known;
    /* Interned names (policy and application names): few and shared by many sessions. */
    char **names;
    uint32_t n_names, cap_names;
    uint32_t *name_hash; /* open addressing: index + 1 */
    uint32_t name_hash_size;
    struct mirror_counters ctr;
};

enum mirror_event { MIRROR_EV_CREATE = 0, MIRROR_EV_CLOSE };

/* Called for each session created or closed (before a closed one is removed). */
typedef void (*mirror_event_fn)(void *arg, enum mirror_event ev, const struct mirror *m,
                                const struct mirror_session *s);

int mirror_init(struct mirror *m, uint32_t max_sessions);
void mirror_free(struct mirror *m);
/* A new maximum (a commit changed security flow max-sessions); existing entries stay. */
void mirror_set_max(struct mirror *m, uint32_t max_sessions);
/* A new helper said Hello: its batch numbering starts again. */
void mirror_reset_seq(struct mirror *m);

/* Applies one batch in order: its deltas, and its compact creates of synced sessions
 * (SessionDeltaBatch.created, common/sessrec.h) each at its place among them, the same as
 * the SessionRecord form would. fn may be NULL. Returns 0 or -ENOMEM. */
int mirror_apply_batch(struct mirror *m, const Moat__SessionDeltaBatch *b, mirror_event_fn fn,
                       void *arg);
int mirror_apply_delta(struct mirror *m, const Moat__SessionDelta *d, mirror_event_fn fn,
                       void *arg);

const struct mirror_session *mirror_lookup(const struct mirror *m, uint64_t id);
/* Name of an interned index ("" for none). */
const char *mirror_name(const struct mirror *m, uint32_t idx);
/* Calls fn for every session, in no particular order. */
void mirror_foreach(const struct mirror *m, void (*fn)(void *arg, const struct mirror_session *s),
                    void *arg);
/* Removes sessions whose last news is older than their timeout plus a grace of
 * max(timeout, 120 s): the helper sends periodic updates of live sessions, so these are
 * sessions whose close was lost. Returns how many were removed. */
unsigned mirror_expire(struct mirror *m, uint64_t now_unix_ms);

/* Fills a SessionRecord (for the snapshot that re-seeds a helper). The record points into
 * buf and into the mirror's names: valid while both are. */
struct mirror_record_buf {
    Moat__SessionRecord rec;
    Moat__FlowKey fwd, rev;
};
void mirror_to_record(const struct mirror *m, const struct mirror_session *s,
                      struct mirror_record_buf *buf);

/* ---- filters: show / clear security flow session ---- */

struct mirror_filter {
    bool has_src, has_dst;
    struct cfg_prefix src, dst; /* of the forward (initiator's) tuple */
    int sport, dport;           /* -1 = any */
    int proto;                  /* -1 = any */
    uint32_t zone;              /* 0 = any: otherwise the ingress or the egress zone */
    bool has_id;
    uint64_t id; /* session-identifier */
    bool nat;    /* only translated sessions */
};

/*
 * Parses `[nat] [source-prefix P] [destination-prefix P] [source-port N] [destination-port N]
 * [protocol tcp|udp|icmp|icmp6|N] [zone Z] [session-identifier ID]` (any order, each at most
 * once). Zone names are resolved in cfg. Returns 0, or -EINVAL with a sentence in err.
 */
int mirror_filter_parse(const char *const *args, size_t n, const struct moat_config *cfg,
                        struct mirror_filter *f, char *err, size_t errlen);
bool mirror_filter_match(const struct mirror_filter *f, const struct mirror_session *s);

/* Which sides of s are translated (see the top of this file): MIRROR_NAT_* bits. */
#define MIRROR_NAT_SOURCE 1u
#define MIRROR_NAT_DESTINATION 2u
unsigned mirror_session_nat(const struct mirror_session *s);
/* Ids of the matching sessions (malloc'd, caller frees). */
int mirror_collect_ids(const struct mirror *m, const struct mirror_filter *f, uint64_t **ids,
                       size_t *n);

/* ---- rendering ---- */

/* Names for ifindexes, zone ids and NAT rules (NULL result or NULL fn: "-"). */
struct mirror_names {
    const char *(*ifname)(void *arg, uint32_t ifindex);
    const char *(*zone)(void *arg, uint32_t zone_id);
    void *arg;
    /* NatRule.id: "RULESET/RULE", and what it does ("interface", "pool NAME", "static-nat
     * PREFIX"), written into buf. */
    const char *(*nat_rule)(void *arg, uint32_t rule_id, char *buf, size_t len);
    const char *(*nat_action)(void *arg, uint32_t rule_id, char *buf, size_t len);
};

/* `show security flow session [filters]`: SRX-style text, or JSON. now: unix ms. */
void mirror_render_sessions(const struct mirror *m, const struct mirror_filter *f,
                            const struct mirror_names *nm, uint64_t now_unix_ms, bool json,
                            struct strbuf *o);
/* `show security flow session summary [filters]`: counts by protocol, state and NAT, counters. */
void mirror_render_summary(const struct mirror *m, const struct mirror_filter *f, bool json,
                           struct strbuf *o);
/* One log line (see the top of this file), without a trailing newline. */
void mirror_format_log(const struct mirror *m, enum mirror_event ev, const struct mirror_session *s,
                       const struct mirror_names *nm, char *buf, size_t len);

const char *mirror_state_name(unsigned state);
/* An IPv4/IPv6 address or prefix ("10.0.0.0/8", "fd00::1"); a decimal number <= max. 0 or
 * -EINVAL (filters of show/clear security flow session and trace flow). */
int mirror_parse_prefix(const char *s, struct cfg_prefix *p);
int mirror_parse_num(const char *s, unsigned long max, unsigned long *out);
const char *mirror_reason_name(unsigned reason);
/* "tcp", "udp", "icmp", "icmp6", else the number in buf. */
const char *mirror_proto_name(unsigned proto, char *buf, size_t len);

#endif
