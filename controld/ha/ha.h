/* SPDX-License-Identifier: MIT */
/*
 * ha.h — the HA cluster (chassis cluster): the hooks the rest of controld calls.
 *
 * Every function is a no-op (or says "not a cluster") when the running config has no
 * chassis cluster. Inside: heartbeat.c (UDP heartbeats, election per redundancy group,
 * manual failover, operator commands), election.c (the rule), auth.c (sealed frames),
 * vip.c (virtual addresses, gratuitous ARP / unsolicited NA, arming), sync.c (session sync
 * over TCP).
 *
 * Behaviour an operator can rely on:
 *  - at start a node holds every group as secondary until it hears the peer or
 *    heartbeat-interval x heartbeat-threshold passes (then it takes every group);
 *  - peer lost (no authenticated heartbeat within that time; defaults 200 ms x 3 = 600 ms), or
 *    the peer closed the session-sync connection (EOF/reset: its controld died) AND no
 *    heartbeat came for 2 intervals since its last one: this node takes every group. Neither
 *    signal alone declares a live peer lost (a heartbeat after the close cancels it);
 *  - control link cut while both nodes live: each loses the other and takes every group (a
 *    cut link cannot be told from a dead peer); when heartbeats return, the election leaves
 *    one primary per group (the lower priority steps down and drops its VIPs), the remaining
 *    primary announces its VIPs again, and session sync restarts with a bulk sync;
 *  - a node preempts only once it holds the peer's sessions in a running helper;
 *  - a manual failover holds until `request chassis cluster failover reset`, until the chosen
 *    node's priority falls to 0, or until the peer is lost.
 */
#ifndef MOAT_HA_H
#define MOAT_HA_H

#include <stdbool.h>
#include <stddef.h>

#include "controld.h"
#include "operator.h"
#include "strbuf.h"

/* After the interfaces and the helper socket are up (lifecycle_start). */
int ha_start(struct controld *c);
void ha_stop(struct controld *c);
/* A commit replaced c->cfg; old (the previous config) is still valid during the call. */
void ha_config_changed(struct controld *c, const struct moat_config *old);
/* May forwarding be armed on ifc? False on an interface of a group this node is not primary of. */
bool ha_iface_may_arm(struct controld *c, const struct ctl_iface *ifc);
/* A managed interface's link changed (monitored interfaces lower the priority). */
void ha_link_changed(struct controld *c, const struct ctl_iface *ifc);
/* The helper reported a batch of session deltas (already applied to the mirror). */
void ha_session_deltas(struct controld *c, const Moat__SessionDeltaBatch *b);
/* The helper applied a snapshot (a new or restarted helper: synced sessions may be owed). */
void ha_helper_applied(struct controld *c);
/* `show chassis cluster ...` and `request chassis cluster ...`: moatctl's exit status, or
 * -ENOENT for words that are not a cluster command. */
/* Prometheus text: cluster state (peer, per group role/priority) and the HA counters. Nothing
 * without a cluster. */
void ha_render_metrics(struct controld *c, struct strbuf *o);

int ha_command(struct controld *c, const struct op_ctx *ctx, const char *const *args, size_t nargs,
               struct strbuf *out, struct strbuf *err);

#endif
