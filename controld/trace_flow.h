/* SPDX-License-Identifier: MIT */
/*
 * trace_flow.h — `moatctl trace flow [filters] [count N] [duration S]`.
 *
 * controld asks the helper to follow the packets that match (TraceStart); for each one the
 * helper reports what the worker did (TraceEvent: the counters that moved, the verdict, the
 * frame as sent, the session). controld turns each event into one block of lines, a line per
 * step — shim, parse, session, policy, NAT, FIB, TX, result — and streams them to moatctl as
 * they come (OpReply.more). The trace ends when the packet count is reached, when the
 * duration is over, when moatctl goes away, or when the helper does; the last answer says
 * which, and what the shim did meanwhile on the interfaces concerned (the packets the helper
 * never saw: host-bound, passed to the kernel while disarmed, dropped). One trace at a time.
 */
#ifndef MOAT_CONTROLD_TRACE_FLOW_H
#define MOAT_CONTROLD_TRACE_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controld.h"
#include "moat.pb-c.h"
#include "operator.h"
#include "strbuf.h"

#define TRACE_DEFAULT_COUNT 10
#define TRACE_MAX_COUNT 10000
#define TRACE_DEFAULT_SECONDS 30
#define TRACE_MAX_SECONDS 3600

struct trace_request {
    Moat__TraceFilter filter;
    uint8_t src[16], dst[16];
    uint32_t count;
    uint32_t seconds;
};

/*
 * Parses the words after "trace flow": source-prefix P, destination-prefix P, source-port N,
 * destination-port N, protocol tcp|udp|icmp|icmp6|N, interface NAME, both-directions,
 * count N, duration SECONDS (any order, each once). ifindex_of resolves an interface name
 * (0: unknown). 0, or -EINVAL with a sentence in err.
 */
int trace_parse(const char *const *args, size_t nargs,
                uint32_t (*ifindex_of)(void *arg, const char *name), void *arg,
                struct trace_request *req, char *err, size_t errlen);

/* Names for the renderer. */
struct trace_names {
    const char *(*ifname)(void *arg, uint32_t ifindex);
    const char *(*zone)(void *arg, uint32_t zone_id);
    const char *(*nat_rule)(void *arg, uint32_t rule_id, char *buf, size_t len);
    void *arg;
};

/* One traced packet (number seq of the trace): a block of lines, or one JSON object line. */
void trace_render_event(const Moat__TraceEvent *e, unsigned seq, const struct trace_names *nm,
                        bool json, struct strbuf *o);

/* The command: starts the trace and defers the client (OP_DEFERRED), or an exit status. */
int trace_flow_command(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                       size_t nargs, struct strbuf *out, struct strbuf *err);
/* helper.c: events from the helper; the helper link went down. */
void trace_helper_events(struct controld *c, const Moat__TraceEvents *m);
void trace_helper_lost(struct controld *c);

#endif
