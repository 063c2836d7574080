/* SPDX-License-Identifier: MIT */
/*
 * helper.h — controld's end of the dataplane helper link (RUN_DIR/dataplane.sock), and the
 * supervisor that spawns the helper when --spawn-dataplane is given.
 */
#ifndef MOAT_HELPER_H
#define MOAT_HELPER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "controld.h"
#include "helper_requests.h"
#include "sessrec.h"

#define MOAT_PROTO_VERSION 3

struct helper_link;

/* Listens on RUN_DIR/dataplane.sock; spawns the helper if c->spawn_path is set. */
int helper_listen(struct controld *c, struct helper_link **out);
/* Closes the connection and the listener; stops supervising (SIGTERM to a spawned helper). */
void helper_close(struct helper_link *h);

enum helper_state helper_get_state(const struct helper_link *h);
const char *helper_state_name(enum helper_state s);
/* Pid reported in Hello (0 if none) and the uptime of the connection. */
uint32_t helper_pid(const struct helper_link *h);
uint64_t helper_connected_ms(const struct helper_link *h);
uint64_t helper_last_heartbeat_age_ms(const struct helper_link *h);

/* Pushes the Snapshot of c->generation (without sessions) to a connected helper. */
int helper_push_snapshot(struct helper_link *h);
/* SessionClear / PolicyCountersRequest; the answers go to show.h. -ENOTCONN without a
 * helper. */
int helper_send_session_clear(struct helper_link *h, uint64_t request_id, const uint64_t *ids,
                              size_t n);
int helper_send_policy_counters_request(struct helper_link *h, uint64_t request_id);
/* Sends a neighbour change to a connected helper (no-op when none is connected). */
/* trace flow (trace.h). -ENOTCONN without a helper. */
int helper_send_trace_start(struct helper_link *h, uint64_t id, const Moat__TraceFilter *f,
                            uint32_t max_packets);
int helper_send_trace_stop(struct helper_link *h, uint64_t id);
void helper_send_neighbor(struct helper_link *h, const struct ctl_neigh *n, bool removed);
/* Sessions for the running helper (HA sync: the peer's; the handover at arming: the kernel
 * path's), one SessionInstall of n compact records; queued, never waited for. The helper's
 * SessionInstallReply, once its workers went through them, goes to cb(owner, reply) (never
 * if the link drops first); the request's id in *request_id (ids increase). -ENOTCONN unless
 * a helper runs an applied snapshot. */
int helper_send_session_install(struct helper_link *h, const struct sessrec *recs, size_t n,
                                helper_request_cb cb, void *owner, uint64_t *request_id);

#endif
