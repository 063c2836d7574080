/* SPDX-License-Identifier: MIT */
/*
 * control.h — the helper's end of the controld link (RUN_DIR/dataplane.sock).
 *
 * Connect (retrying every 200 ms), Hello / HelloAck, then: apply each Snapshot and answer
 * SnapshotApplied (the first one re-seeds the session tables from Snapshot.sessions before
 * the answer, so before controld arms), apply NeighborUpdates, send Heartbeats and the
 * workers' ResolveRequests; the sessions' side (SessionDeltaBatch every 50 ms, SessionClear,
 * PolicyCountersRequest) is flowctl.c's.
 * Only this (the main) thread touches the socket. Losing the connection tears the XSKs
 * down and ends the helper with status 1: the supervisor restarts it from clean sockets.
 */
#ifndef MOAT_DP_CONTROL_H
#define MOAT_DP_CONTROL_H

#define DP_PROTO_VERSION 3
#define DP_CONNECT_RETRY_MS 200
#define DP_CONNECT_LOG_MS 5000
#define DP_HELLO_TIMEOUT_MS 30000

/*
 * Runs the helper until a signal arrives on sigfd (a signalfd for SIGTERM/SIGINT: returns
 * 0) or the link fails (returns 1).
 */
int control_run(const char *run_dir, int sigfd);

#endif
