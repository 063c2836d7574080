/* SPDX-License-Identifier: MIT */
/*
 * election.h — who is primary of one redundancy group (pure: no sockets, unit-tested).
 *
 * Both nodes run the same rule on what they know (their own state and the peer's last
 * heartbeat), so they agree while the control link is up:
 *   - peer lost: this node takes the group (a node whose peer is lost takes every group);
 *   - a manual failover names a node: that node, while its effective priority is above 0;
 *   - exactly one node is primary: it stays, unless its effective priority fell to 0 and
 *     the other's did not, or the group preempts and the other node has a higher priority
 *     and holds the sessions (sync ready);
 *   - none or both primary: the higher effective priority, node 0 on a tie.
 * A node becomes primary only once the peer's heartbeat says the peer is not primary (the
 * old primary steps down first and says so at once), so there are never two primaries
 * while heartbeats flow. Effective priority = configured priority minus the weights of the
 * monitored interfaces whose link is down, never below 0; 0 = cannot be primary.
 */
#ifndef MOAT_HA_ELECTION_H
#define MOAT_HA_ELECTION_H

#include <stdbool.h>

struct el_input {
    unsigned me;      /* this node: 0 or 1 */
    bool peer_alive;  /* heartbeats within the threshold */
    unsigned prio[2]; /* effective priorities by node id */
    bool primary[2];  /* current roles by node id (the peer's from its heartbeat) */
    bool ready[2];    /* holds the other node's sessions (preempt waits for it) */
    bool preempt;
    int manual_node; /* -1: none */
};

/* The node that should be primary. */
unsigned el_desired(const struct el_input *in);
/* This node's next role: true = primary. */
bool el_step(const struct el_input *in);
/* Configured priority minus the failed monitored weights, floored at 0. */
unsigned el_effective_priority(unsigned configured, unsigned failed_weight);

#endif
