/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h — turning a moat.Snapshot into what the dataplane runs: validated settings,
 * the port set (interfaces to bind XSKs on) and the forwarding tables. Everything here runs
 * on the control thread and reports refusals as one sentence for SnapshotApplied.error.
 */
#ifndef MOAT_DP_SNAPSHOT_H
#define MOAT_DP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "dp.h"
#include "moat.pb-c.h"

/* Defaults for fields a snapshot leaves at 0 (proto3: unset). */
#define DP_DEF_RING_SIZE 2048
#define DP_DEF_FRAME_SIZE 4096
#define DP_DEF_BATCH 64
#define DP_MAX_BATCH 64
#define DP_DEF_PENDING 1024
#define DP_DEF_HEARTBEAT_MS 200
#define DP_DEF_BPFFS "/sys/fs/bpf/moat"
/* Room the kernel keeps in front of a received packet in a UMEM frame. */
#define DP_XDP_HEADROOM 256

/*
 * Validates and completes the settings (in may be NULL: all defaults; workers 0 means
 * default_workers). -EINVAL with a sentence in err.
 */
int dp_settings_from_proto(const Moat__DataplaneSettings *in, uint32_t default_workers,
                           struct dp_settings *out, char *err, size_t errlen);

/* True if moving from a to b needs new sockets (anything but the heartbeat changed). */
bool dp_settings_need_rebind(const struct dp_settings *a, const struct dp_settings *b);

/*
 * The interfaces with userspace set, checked (name, MAC, MTU against the frame size, slot,
 * queues, duplicates) and sorted by slot (stable across a re-created interface's new
 * ifindex). -EINVAL with a sentence in err.
 */
int dp_ports_from_snapshot(const Moat__Snapshot *s, const struct dp_settings *set,
                           struct dp_port *ports, uint32_t *nports, char *err, size_t errlen);

bool dp_ports_equal(const struct dp_port *a, uint32_t na, const struct dp_port *b, uint32_t nb);
/*
 * True if b is a (same count, order, names, slots and queues) with only ifindexes or link
 * epochs changed; relink[0..*nrelink) are the indexes of the ports that changed (the ones
 * whose XSKs must be rebound). False if anything else differs (rebind everything).
 */
bool dp_ports_relink(const struct dp_port *a, uint32_t na, const struct dp_port *b, uint32_t nb,
                     uint32_t *relink, uint32_t *nrelink);

/*
 * Builds the tables of s for the given port set: interfaces (with their zones and own
 * addresses), routes, neighbours, flow settings (defaults for what is unset) and the
 * compiled policies. -EINVAL (err says why), -ENOMEM.
 */
int dp_tables_from_snapshot(const Moat__Snapshot *s, const struct dp_port *ports, uint32_t nports,
                            struct dp_tables **out, char *err, size_t errlen);
/* The same, interning policy and application names into counter slots (policy.h). */
int dp_tables_from_snapshot_names(const Moat__Snapshot *s, const struct dp_port *ports,
                                  uint32_t nports, struct pol_names *pnames,
                                  struct pol_names *anames, struct dp_tables **out, char *err,
                                  size_t errlen);

/* FlowSettings (may be NULL) completed with defaults. -EINVAL with a sentence in err. */
int dp_flow_cfg_from_proto(const Moat__FlowSettings *in, struct dp_flow_cfg *out, char *err,
                           size_t errlen);

/*
 * A copy of cur with the neighbour changes of u applied (the fib is shared with cur).
 * Changes that make no sense (bad address length) are skipped and counted in *skipped.
 */
int dp_tables_with_neighbors(const struct dp_tables *cur, const Moat__NeighborUpdate *u,
                             struct dp_tables **out, unsigned *skipped);

#endif
