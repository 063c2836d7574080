/* SPDX-License-Identifier: MIT */
/*
 * nat_local.h — which traffic to the box's own addresses the userspace dataplane's NAT owns,
 * for the shim's moat_nat_local map (bpf/maps.h): packets matching an entry are transit
 * (redirected to the helper), never host-bound.
 *
 *  - Destination NAT services: a destination rule that translates (pool, not off) and
 *    matches a destination-address holding one of the box's addresses (interface addresses
 *    and virtual-addresses): one exact entry per (address, protocol, port) of its
 *    destination-port, for TCP and UDP (or its protocol); a rule without destination-port
 *    owns every port of the address (a range entry 1-65535).
 *  - Interface source NAT: each egress interface of a `source-nat interface` rule, its first
 *    address of each family the rule translates: a range entry NAT_LOCAL_IF_PORT_LO..HI for
 *    TCP, UDP and ICMP (ICMPv6), where the dataplane allocates the translated ports and ICMP
 *    ids. The kernel's ephemeral range (32768 and up) stays the box's own.
 *  - Hairpinning: a destination or static rule whose translated address is routed (connected
 *    prefixes and static routes, as the dataplane's FIB) out of an interface in a zone the
 *    rule-set matches traffic from: that interface's first IPv4 address gets the same range
 *    entries (TCP, UDP, ICMP), because hairpinned flows leave with it as their source. A box
 *    service listening there on a port of that range is then out of reach: the operator who
 *    writes `from zone trust` on a destination rule-set asks for this.
 *
 * Range entries of one (address, protocol) merge into one (lowest lo, highest hi).
 * Pure data: no maps, no sockets (lifecycle.c writes the result with bootstrap_set_nat_local).
 */
#ifndef MOAT_NAT_LOCAL_H
#define MOAT_NAT_LOCAL_H

#include <stddef.h>

#include "config.h"
#include "maps.h"

/* Interface source NAT ports and ICMP ids: the range the dataplane allocates (bpf/maps.h). */
#define NAT_LOCAL_IF_PORT_LO MOAT_NAT_IF_PORT_LO
#define NAT_LOCAL_IF_PORT_HI MOAT_NAT_IF_PORT_HI

struct nat_local_set {
    struct moat_nat_key *keys;
    struct moat_nat_local_val *vals;
    unsigned n, cap;
};

/* 0; -E2BIG with a sentence in why when the entries exceed MOAT_MAX_NAT_LOCAL; -ENOMEM. */
int nat_local_build(const struct moat_config *cfg, struct nat_local_set *out, char *why,
                    size_t len);
void nat_local_free(struct nat_local_set *s);

#endif
