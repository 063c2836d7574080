/* SPDX-License-Identifier: MIT */
/*
 * flow.h — the stateful packet path of one worker: sessions, policies on the first packet,
 * aging, deltas to controld, and the commands controld sends back.
 *
 * A batch of received frames goes through three passes so that the cache misses of a batch
 * overlap instead of adding up (dp_flow_batch):
 *   1. validate the frame against the shim's metadata (parse.c), build the flow key from the
 *      metadata only (never from the frame), hash it, prefetch its index line;
 *   2. find the first index entry with the key's tag, prefetch that session;
 *   3. per packet: local session hit -> TCP/pseudo state, counters -> route, rewrite;
 *      miss -> the shared index says another worker owns it -> hand the frame over;
 *      else a new flow: route (egress zone), zone-pair policy, create the session, delta.
 * ICMP errors are matched by the packet they quote (parsed out of the frame before any
 * rewrite, bounded); non-first fragments by the fragment id of their first fragment.
 * Interfaces in no zone keep plain routing (no sessions) so a config without a security
 * stanza still routes; traffic between a zoned and an unzoned interface is dropped.
 *
 * Once per loop pass, dp_flow_tick(): the clock, controld's commands (clear), aging on the
 * timer wheel, early aging above the high watermark (oldest idle first, by last-seen
 * second buckets), and the incremental policy re-evaluation after a new generation — each
 * with a budget so the packet loop keeps its turn.
 *
 * Deltas (create / update / close records) go to the control thread through an SPSC ring
 * per worker; a full ring drops the delta and counts it. Session ids:
 * worker << 48 | use << slot_bits | slot (see session.h).
 *
 * The worker owns its dp_flow; the control thread touches it only while the worker is
 * stopped (install, export, free), through the rings, and reads the counters.
 */
#ifndef MOAT_DP_FLOW_H
#define MOAT_DP_FLOW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dp.h"
#include "meta.h"
#include "nat.h"
#include "parse.h"
#include "policy.h"
#include "ring.h"
#include "screen.h"
#include "session.h"
#include "synproxy.h"
#include "timer.h"

#define DP_DELTA_RING 16384
#define DP_DELTA_KICK 256 /* deltas queued that wake the control thread */
#define DP_KICK_MIN_MS 5  /* a delta into an empty ring wakes it too, at most this often */
#define DP_CMD_RING 4096
#define DP_REPLY_RING 64
#ifndef DP_UPDATE_INTERVAL_MS
#define DP_UPDATE_INTERVAL_MS 2000
#endif
#define DP_TIMER_TICK_MS 100
#define DP_TIMER_SLOTS 16384 /* 1638 s horizon */
#define DP_IDLE_BUCKET_MS 1000
#define DP_IDLE_BUCKETS 4096
#define DP_AGING_BUDGET 2048 /* sessions aged per pass */
#define DP_EARLY_BUDGET 1024 /* early-aging steps per pass */
#define DP_REEVAL_BUDGET                                                                           \
    256 /* sessions re-checked per pass (the worker does not sleep                                 \
           while a re-evaluation is under way) */
#define DP_CMD_BUDGET 1024
#define DP_FRAG_SLOTS 1024
#define DP_FRAG_TTL_MS 2000
#define DP_REJECT_RATE 1000 /* rejects per second per worker (burst as many) */

enum dp_delta_kind { DP_DELTA_CREATE = 0, DP_DELTA_UPDATE = 1, DP_DELTA_CLOSE = 2 };

/* A session as the control thread turns it into a SessionRecord (and back, re-seeding). */
struct dp_delta {
    uint8_t kind;   /* enum dp_delta_kind */
    uint8_t state;  /* enum sess_state */
    uint8_t reason; /* moat.CloseReason */
    uint8_t synced; /* a CREATE: installed from the HA peer's record (dp_flow_sync) */
    uint16_t policy_slot, app_slot;
    uint32_t timeout; /* s, in its state */
    uint32_t worker;
    uint64_t id;
    struct flow_tuple fwd, rev;
    uint32_t in_ifindex, out_ifindex;
    uint64_t packets[2], bytes[2];
    uint64_t created_unix_ms, last_seen_unix_ms;
    /* Installing only: the application's inactivity timeout, the first packet's ICMP type. */
    uint32_t app_timeout;
    uint8_t icmp_type, icmp_code;
    /* NAT: the rules and pool that made the translation (0: none). */
    uint16_t snat_rule_id, dnat_rule_id, snat_pool_id;
    /* SYN proxy (synproxy.h): phase (SP_NONE: not proxied) and numbers. Kept when sessions
     * move to a new layout, and carried by SessionRecord.sp_* / struct sessrec (the mirror,
     * the kernel path's seeding and the handover). */
    uint16_t sp_phase;
    struct sp_sess sp;
};

/* A session's NAT decision (side array, touched at create / close / record only: the
 * 192-byte session has no room left, and packets need only SESS_F_NAT and the keys). */
struct dp_sess_nat {
    uint16_t snat_rule, dnat_rule, snat_pool;
    uint16_t port_src; /* allocator source holding a mapping reference, 0: none */
};

struct dp_nat_ctr {
    uint64_t hits, failures;
};

/* DP_CMD_SYNC: id points to a struct dp_delta the control thread keeps until the command is
 * consumed (flowctl_sync_install): a session synced from the HA peer to install, update or
 * close. */
enum dp_cmd_op { DP_CMD_CLEAR = 1, DP_CMD_CLEAR_END = 2, DP_CMD_SYNC = 3 };

struct dp_cmd {
    uint32_t op;
    uint32_t pad;
    uint64_t req;
    uint64_t id;
};

struct dp_cmd_reply {
    uint64_t req;
    uint64_t closed;
};

struct dp_pol_ctr {
    uint64_t hits, packets, bytes;
};

struct dp_frag {
    struct flow_tuple key; /* addresses, proto, zone; sport:dport = the fragment id */
    uint64_t sess_id;
    uint32_t idx;
    uint32_t expires; /* worker clock ms */
    uint8_t dir;
};

struct dp_flow {
    uint16_t worker;
    struct dp *dp; /* other workers' shared partitions, the clock offset */
    struct moat_worker_stats *st;
    struct sess_table t;
    struct timer_wheel wheel;     /* deadlines */
    struct timer_wheel idle;      /* last-seen second buckets (early aging) */
    struct spsc_ring deltas;      /* worker -> control */
    struct spsc_ring cmds;        /* control -> worker */
    struct spsc_ring replies;     /* worker -> control */
    struct dp_pol_ctr *pctr;      /* [POL_MAX_SLOTS] */
    struct dp_frag *frags;        /* [DP_FRAG_SLOTS] */
    struct dp_sess_nat *snat;     /* [t.cap] */
    struct dp_nat_ctr *nctr;      /* [NAT_MAX_RULES], by NatRule.id */
    struct nat_ports np;          /* port allocator */
    struct scr_worker *scr;       /* screens: rates, session counts, drop counters */
    struct sp_sess *sps;          /* [t.cap]: SYN proxy numbers of proxied sessions */
    _Atomic uint32_t sp_last;     /* cookie slot + 1 of this worker's last cookie, 0: none */
    _Atomic uint64_t deltas_lost; /* monotonic; the control thread reports the increase */
    /* Worker state. */
    const struct dp_tables *tab; /* tables of the current pass */
    uint64_t now_ms;
    uint32_t now32;
    uint64_t tab_version;
    uint32_t route_epoch; /* sessions' route caches are valid for this one */
    uint64_t cur_gen;
    bool reeval;
    uint32_t reeval_cursor;
    bool early;
    uint32_t idle_cursor;
    uint64_t cmd_closed;
    uint64_t sync_done, sync_failed; /* DP_CMD_SYNC commands (control thread reads, for logs) */
    _Atomic uint64_t sync_consumed;  /* DP_CMD_SYNC commands done (flowctl's install replies) */
    uint32_t rj_tokens;
    uint64_t rj_refill_ms;
    uint64_t last_kick_ms;
    bool kick; /* deltas wait: poke the control thread */
    /* Periodic UPDATEs found due in the current batch, emitted at its end (the other
     * direction's line is prefetched meanwhile). */
    uint32_t nupd;
    struct {
        uint32_t idx;
        uint64_t id;
    } upd[64];
};

/* What the packet path decided for a frame. */
enum dp_verdict {
    DP_V_DROP = 0,
    DP_V_TX,         /* transmit out..out+out_len on port out_port */
    DP_V_HANDOFF,    /* another worker (out_port) owns the flow: hand the frame over */
    DP_V_NEIGH_MISS, /* dropped; ask for nh (nh_family, nh_ifindex) to be resolved */
};

struct dp_pkt {
    /* In. */
    uint8_t *data;
    uint32_t len;
    const struct moat_meta *m;
    uint32_t room;      /* bytes usable from data to the end of its UMEM frame */
    uint16_t in_port;   /* dp port index the frame arrived on */
    uint8_t handed;     /* handed over by another worker: no second hand-off */
    uint8_t sp;         /* a SYN above a syn-flood threshold in syn-cookie mode (screen) */
    uint8_t sp_ack;     /* the SYN rebuilt from a cookie ACK (sp_miss): its client is established */
    uint32_t sp_cookie; /* with sp_ack: the cookie (the client expects cookie + 1 from us) */
    /* Out. */
    uint8_t verdict;
    uint16_t out_port;
    uint8_t *out;
    uint32_t out_len;
    uint8_t nh_family;
    uint32_t nh_ifindex;
    const uint8_t *nh;
    /* New flows, for trace flow: the egress zone and the policy slot that decided (written
     * only when they are known; the tracer presets them). */
    uint16_t out_zone;
    uint16_t pol_slot;
    /* Scratch between the passes. */
    uint8_t stage;
    uint16_t in_zone;
    struct pkt_info pi;
    struct flow_tuple key;
    uint64_t h;
    struct sess_probe probe;
};

/*
 * Allocates the flow state of a worker for cap sessions (with a shared partition when
 * shared). -ENOMEM, -EINVAL.
 */
int dp_flow_create(struct dp_flow **out, struct dp *dp, uint16_t worker, uint32_t cap, bool shared,
                   struct moat_worker_stats *st, uint64_t now_ms);
void dp_flow_destroy(struct dp_flow *f);
size_t dp_flow_bytes(const struct dp_flow *f);

/* Worker: once per loop pass, before the packets (t may be NULL). */
void dp_flow_tick(struct dp_flow *f, const struct dp_tables *t, uint64_t now_ms);
/* Worker: housekeeping left over that should keep the worker from sleeping. */
bool dp_flow_busy(const struct dp_flow *f);
/* Worker: decides the fate of n frames (n <= 64). */
void dp_flow_batch(struct dp_flow *f, const struct dp_tables *t, struct dp_pkt *p, uint32_t n);

/* The key of the reply direction (ICMP: addresses swapped, request/reply bit flipped). */
void dp_key_reverse(const struct flow_tuple *in, struct flow_tuple *out, uint16_t zone);

/* Worker, trace flow: the session holding p's flow after dp_flow_batch(), as a record. */
bool dp_flow_trace_session(struct dp_flow *f, const struct dp_tables *t, const struct dp_pkt *p,
                           struct dp_delta *rec);

/* ---- control thread, workers stopped ---- */

/* Fills rec from session idx of f (kind / reason left to the caller). */
void dp_flow_record(const struct dp_flow *f, const struct dp_tables *t, uint32_t idx,
                    struct dp_delta *rec);
/* Calls fn for every session of f, as a record. */
void dp_flow_export(const struct dp_flow *f, const struct dp_tables *t,
                    void (*fn)(void *arg, const struct dp_delta *rec), void *arg);

/*
 * Installs a session (re-seeding, or moving sessions to a new layout) into f: with its own
 * id when keep_id and that id's slot is free in f (sess_claim phase: call
 * dp_flow_install_done() before installing with keep_id false), else a new id, in which
 * case a CREATE delta announces it. 0, -ENOSPC (table full), -EEXIST (key taken).
 */
int dp_flow_install(struct dp_flow *f, const struct dp_tables *t, const struct dp_delta *rec,
                    bool keep_id);
/*
 * A session synced from the HA peer (running worker, command ring): a close removes the local
 * copy; a known key takes the record's state; an unknown key is installed with a local id (a
 * create delta marked synced announces it: the control thread reports those compactly).
 * Returns 0, 1 if it only updated or closed, or -errno.
 */
int dp_flow_sync(struct dp_flow *f, const struct dp_tables *t, const struct dp_delta *rec);
void dp_flow_install_done(struct dp_flow *f);

#endif
