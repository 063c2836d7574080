/* SPDX-License-Identifier: MIT */
/*
 * trace.h — `moatctl trace flow`: the workers report, step by step, what they did with the
 * packets that match an operator's filter.
 *
 * controld sends TraceStart{filter, packet budget}; the control thread fills struct
 * dp_trace and sets `on`. A worker tests `on` once per RX batch (one predictable branch
 * while no trace runs). While it is set, the packets of a batch that match the filter
 * (dp_trace_match(), on the shim's metadata) are taken out of the batch and handled one by
 * one: the worker copies its counters, runs the packet through the same path
 * (dp_flow_batch() with one packet, then the same transmit step), and records what moved —
 * which counters, the verdict, the egress, the first bytes of the frame as sent, the
 * session that holds the flow afterwards — into its trace ring (struct dp_trace_rec). The
 * control thread drains the rings into TraceEvents for controld. A full ring loses the
 * record (counted, reported); the packet itself is never held back.
 */
#ifndef MOAT_DP_TRACE_H
#define MOAT_DP_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "flow.h"
#include "meta.h"
#include "moat.pb-c.h"
#include "ring.h"

#define DP_TRACE_RING 256 /* records per worker */
#define DP_TRACE_HEAD 128 /* bytes of the transmitted frame kept per record */
#define DP_TRACE_MAX_PACKETS 100000
#define DP_TRACE_POLL_MS 20 /* the control thread drains the rings this often while tracing */

struct dp_trace_filter {
    uint8_t family; /* 0 any, 4, 6 */
    uint8_t src_len, dst_len;
    uint8_t proto;
    uint8_t src[16], dst[16];
    uint16_t sport, dport; /* host order, 0 any */
    uint32_t ifindex;
    bool either_way;
};

struct dp_trace_rec {
    uint64_t mono_ns;
    struct moat_meta meta; /* as the shim wrote it */
    uint32_t worker;
    uint8_t verdict;
    uint8_t handed;
    uint8_t has_sess;
    uint8_t nh_family;
    uint8_t last; /* the budget's last packet */
    uint8_t pad[3];
    uint16_t handed_to;
    uint16_t head_len;
    uint16_t in_zone, out_zone; /* 0: unknown */
    uint16_t pol_slot;          /* UINT16_MAX: no policy looked up */
    uint16_t pad2;
    uint32_t out_ifindex;
    uint32_t out_len;
    uint64_t counters; /* bit i: word i of moat_worker_stats moved */
    uint8_t nh[16];
    struct dp_delta sess;
    uint8_t head[DP_TRACE_HEAD];
};

struct dp_trace {
    _Atomic uint32_t on;           /* read by the workers once per batch */
    _Atomic int64_t budget;        /* packets left to report */
    _Atomic uint64_t lost;         /* matching packets whose record did not fit */
    struct dp_trace_filter filter; /* written only while on == 0 */
    uint64_t id;
    uint64_t lost_reported;
    bool done_sent;
    struct spsc_ring ring[MOAT_MAX_WORKERS];
};

/* Allocates the rings. -ENOMEM. */
int dp_trace_init(struct dp_trace *tr);
void dp_trace_free(struct dp_trace *tr);

static inline bool dp_trace_on(const struct dp_trace *tr)
{
    return tr && atomic_load_explicit(&tr->on, memory_order_relaxed);
}

/* Does the packet with this metadata match the filter (either direction if asked)? */
bool dp_trace_match(const struct dp_trace_filter *f, const struct moat_meta *m);

/*
 * Worker: a record to fill for the next matching packet, or NULL (budget spent: the trace
 * is switched off; ring full: counted as lost). Publish it with dp_trace_commit().
 */
struct dp_trace_rec *dp_trace_claim(struct dp_trace *tr, uint32_t worker);
void dp_trace_commit(struct dp_trace *tr, uint32_t worker, struct dp_trace_rec *r);

/* Which 64-bit counter words differ between two copies of a worker's counters. */
uint64_t dp_trace_counters_moved(const struct moat_worker_stats *before,
                                 const struct moat_worker_stats *after);

/* ---- control thread ---- */

/* Starts a trace (replacing any running one) from a TraceStart. -EINVAL on a bad filter. */
int dp_trace_start(struct dp_trace *tr, const Moat__TraceStart *m);
/* Stops the trace with this id (0: any). */
void dp_trace_stop(struct dp_trace *tr, uint64_t id);
/* True while records may still arrive or a final report is owed. */
bool dp_trace_busy(const struct dp_trace *tr);

struct flowctl;
/*
 * Drains the workers' rings into TraceEvents (at most 64 events per message) sent with
 * send; fc turns sessions into records (policy names). Also reports a finished budget
 * (done) and records lost. Returns the number of events sent.
 */
uint32_t dp_trace_drain(struct dp_trace *tr, const struct flowctl *fc, int64_t unix_offset_ns,
                        int (*send)(void *arg, const Moat__Envelope *env), void *send_arg);

#endif
