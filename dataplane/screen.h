/* SPDX-License-Identifier: MIT */
/*
 * screen.h — security screens (`security screen ids-option NAME`, bound to a zone): checks
 * on the traffic entering a zone, before sessions and policies.
 *
 * Per packet (screen_packet(), every packet from a zone with a screen): land, SYN+FIN, no
 * flags, FIN without ACK, tear-drop (fragments overlapping an earlier fragment of the same
 * datagram, remembered in a small table: an IPv4 one is dropped alone; an IPv6 one, and every
 * fragment of its datagram after it, as RFC 5722 has it; an IPv6 fragment repeating one seen
 * before is dropped alone), ping of death (an IPv4 ICMP fragment ending beyond 65535 bytes;
 * an IPv6 fragment, of any protocol, making the reassembled payload length, extension
 * headers before the fragment header included, exceed 65535 bytes: RFC 8200 4.5), dropped
 * alone.
 * Per new flow (screen_new_flow(), a packet that matched no session): SYN flood (SYNs per
 * second per destination address and port, per destination address, per source address),
 * ICMP and UDP floods (new flows per second per destination address), and the source /
 * destination session limits.
 *
 * Rates are counted per worker in a preallocated direct-mapped table of one-second windows
 * (a collision restarts the window: an attacker spraying addresses can only make the counts
 * lower, never drop a flow it does not flood). Thresholds are box-wide: every worker uses the
 * same seed, so a key has the same slot in every worker's table; a worker whose own count for
 * a key passes threshold / workers adds the other workers' counts for that key and second
 * (relaxed atomic loads, no lock, nothing written to another worker's memory) and compares
 * the sum with the threshold. Below its share it reads nothing else, so a quiet box never
 * shares cache lines; under a flood the box admits at most about twice the threshold (each
 * worker its share before it looks, then the box-wide sum). In syn-cookie mode a destination
 * that went over its threshold in one second gets cookies from the first SYN of the next
 * (a sustained flood never reaches the server, not even its first SYNs of each second); the
 * mode ends after the first second below the threshold. Drop mode keeps plain per-second
 * windows (a legitimate SYN early in the second still passes). Session limits count every zoned
 * session by address in per-worker tables of atomic counters (keyed by an address hash, no keys:
 * two addresses sharing a counter share the limit; 65536 counters make that rare); a new flow sums
 * the counters of every worker. Nothing here allocates, locks or logs per packet.
 *
 * Drops are counted per worker, per zone and per check; the control thread sums them
 * (PolicyCountersReply.screens).
 */
#ifndef MOAT_DP_SCREEN_H
#define MOAT_DP_SCREEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "screen_rules.h"
#include "tuple.h"

/* The zone ids a screen can be bound to: 0..SCR_MAX_ZONE (POL_MAX_ZONE). */
#define SCR_MAX_ZONE 1023
#define SCR_MAX_PROFILES 64
#define SCR_RATE_SLOTS 16384 /* power of two */
#define SCR_CNT_SLOTS 65536  /* power of two */
#define SCR_FRAG_SLOTS 1024  /* power of two */
#define SCR_FRAG_RANGES MOAT_FRAG_RANGES
#define SCR_FRAG_TTL_MS 2000

/* Screen.flags (= CFG_SCR_* of controld/config/config.h). */
#define SCR_F_PING_DEATH 0x01
#define SCR_F_LAND 0x02
#define SCR_F_SYN_FIN 0x04
#define SCR_F_NO_FLAG 0x08
#define SCR_F_FIN_NO_ACK 0x10
#define SCR_F_TEAR_DROP 0x20

/* Counters, in the order of ScreenCounter.counts. */
enum scr_ctr {
    SCR_C_ICMP_FLOOD = 0,
    SCR_C_UDP_FLOOD,
    SCR_C_SYN_FLOOD,
    SCR_C_LAND,
    SCR_C_SYN_FIN,
    SCR_C_NO_FLAG,
    SCR_C_FIN_NO_ACK,
    SCR_C_TEAR_DROP,
    SCR_C_PING_DEATH,
    SCR_C_LIMIT_SRC,
    SCR_C_LIMIT_DST,
    SCR_C_COOKIE_SENT,    /* SYNs above a syn-flood threshold answered with a SYN cookie */
    SCR_C_COOKIE_VALID,   /* ACKs with a valid cookie: a proxied session opened */
    SCR_C_COOKIE_INVALID, /* ACKs matching no session while cookies are out, invalid: dropped */
    SCR_C_N
};

/* Names of the counters, as `show security screen statistics` prints them. */
extern const char *const scr_ctr_names[SCR_C_N];

struct scr_profile {
    uint32_t id; /* Screen.id */
    uint32_t flags;
    uint32_t icmp_flood, udp_flood;
    uint32_t syn_attack, syn_dst, syn_src;
    uint32_t limit_src, limit_dst;
    bool syn_cookie; /* syn-flood-protection-mode syn-cookie (FlowSettings.syn_cookie) */
};

/* screen_packet()'s verdict: drop (counted), pass, or pass as a SYN above the attack or
 * destination threshold that the SYN proxy should answer with a cookie (syn-cookie mode;
 * not counted here: synproxy counts what it does with it). */
enum scr_verdict { SCR_DROP = 0, SCR_PASS = 1, SCR_COOKIE = 2 };

/* Part of the published tables (immutable once published). */
struct scr_tables {
    uint32_t n;
    uint8_t zone[SCR_MAX_ZONE + 1]; /* zone id -> profile index + 1, 0: no screen */
    struct scr_profile prof[SCR_MAX_PROFILES];
};

/* Written by its worker only, read by the others (box-wide thresholds): relaxed atomics. */
struct scr_rate {
    _Atomic uint64_t tag;
    _Atomic uint32_t sec;
    _Atomic uint32_t count;
    uint32_t over; /* owner only: the second (+ 1) in which the key went over its limit */
};

struct scr_frag {
    uint64_t tag;
    uint32_t expires;           /* worker clock ms */
    struct moat_frag_seen seen; /* its fragments' ranges (common/screen_rules.h) */
};

/* One worker's state (allocated with its dp_flow). */
struct scr_worker {
    uint64_t seed;
    /* Every worker's state (this one included), for the box-wide rates: set by the owner of
     * the workers while they are stopped or by the worker itself (scr_worker_peers()). */
    struct scr_worker *peer[16];
    uint32_t npeers;
    uint64_t ctr[SCR_MAX_ZONE + 1][SCR_C_N]; /* read by the control thread (relaxed) */
    struct scr_rate rate[SCR_RATE_SLOTS];
    struct scr_frag frag[SCR_FRAG_SLOTS];
    _Atomic uint32_t src_cnt[SCR_CNT_SLOTS]; /* sessions by source address */
    _Atomic uint32_t dst_cnt[SCR_CNT_SLOTS]; /* sessions by destination address */
};

struct Moat__Snapshot;

/* Compiles s's screens and zone bindings into out. 0 or -EINVAL (message in err). */
int scr_compile(const struct Moat__Snapshot *s, struct scr_tables *out, char *err, size_t errlen);

int scr_worker_create(struct scr_worker **out, uint64_t seed);
void scr_worker_destroy(struct scr_worker *w);

/* The profile of a zone, or NULL (inline: called per packet). */
static inline const struct scr_profile *scr_of_zone(const struct scr_tables *t, uint16_t zone)
{
    return zone <= SCR_MAX_ZONE && t->zone[zone] ? &t->prof[t->zone[zone] - 1] : NULL;
}

/* The workers whose rates count towards the box-wide thresholds (at most 16; n 0: this one
 * alone). */
void scr_worker_peers(struct scr_worker *w, struct scr_worker *const *peers, uint32_t n);

/*
 * Per packet, from a zone with screen p: SCR_DROP = drop (counted), SCR_PASS, SCR_COOKIE. data/len:
 * the frame, m its metadata, l3_off the IP header.
 */
enum scr_verdict screen_packet(struct scr_worker *w, const struct scr_profile *p, uint16_t zone,
                               const uint8_t *data, uint32_t len, const struct moat_meta *m,
                               uint16_t l3_off, uint32_t now_ms);

/*
 * A new flow k (ingress zone k->zone, screen p) about to be created: false = drop
 * (counted). workers: the state of every worker, for the session limits (NULL entries
 * skipped).
 */
bool screen_new_flow(struct scr_worker *w, const struct scr_profile *p, const struct flow_tuple *k,
                     struct scr_worker *const *workers, uint32_t nworkers);

/* A session from src to dst was created / removed by this worker (every zoned session). */
void screen_session_add(struct scr_worker *w, const struct flow_tuple *k);
void screen_session_del(struct scr_worker *w, const struct flow_tuple *k);

#endif
