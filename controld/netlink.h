/* SPDX-License-Identifier: MIT */
/*
 * netlink.h — controld's view of the kernel's links, addresses and neighbours (libnl-route).
 *
 * One synchronous socket for requests and dumps, one subscribed to RTNLGRP_LINK and
 * RTNLGRP_NEIGH whose events arrive through the libuv loop.
 */
#ifndef MOAT_NETLINK_H
#define MOAT_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "controld.h"

struct netlink;

struct netlink_events {
    /* A neighbour appeared, changed or went away (removed: entry gone or unusable). */
    void (*neigh)(struct controld *c, const struct ctl_neigh *n, bool removed);
    /* A link changed (up/down, MTU, MAC). */
    void (*link)(struct controld *c, uint32_t ifindex, const char *name, bool up, uint32_t mtu);
};

int netlink_open(struct controld *c, const struct netlink_events *ev, struct netlink **out);
void netlink_close(struct netlink *nl);

struct netlink_link {
    uint32_t ifindex;
    uint8_t mac[6];
    uint32_t mtu;
    bool up;         /* administratively up (IFF_UP) */
    bool carrier;    /* operationally up (IFF_LOWER_UP / IFF_RUNNING) */
    uint32_t queues; /* RX queues (sysfs), at least 1 */
};
/* -ENODEV when no such interface. */
int netlink_link_get(struct netlink *nl, const char *name, struct netlink_link *out);
int netlink_link_set_up(struct netlink *nl, uint32_t ifindex);
/* Sets the link's MTU (the configured `mtu`). */
int netlink_link_set_mtu(struct netlink *nl, uint32_t ifindex, unsigned mtu);

/* Adds the address to the interface unless it is there already. */
int netlink_addr_ensure(struct netlink *nl, uint32_t ifindex, const struct cfg_prefix *p);
/* Removes the address from the interface (0 if it was not there). */
int netlink_addr_remove(struct netlink *nl, uint32_t ifindex, const struct cfg_prefix *p);
/* Calls fn for every address of ifindex the kernel has (prefix with host bits). */
int netlink_addr_foreach(struct netlink *nl, uint32_t ifindex,
                         void (*fn)(void *arg, const struct cfg_prefix *p), void *arg);

/* Fills out[] with the usable neighbours (with a link-layer address) of ifindex. */
int netlink_neigh_dump(struct netlink *nl, uint32_t ifindex, struct ctl_neigh *out, unsigned max,
                       unsigned *n);
/* Asks the kernel to resolve addr on ifindex (NTF_USE): it sends ARP / NS, and the answer
 * arrives as a neighbour event. */
int netlink_neigh_resolve(struct netlink *nl, uint8_t family, const uint8_t *addr,
                          uint32_t ifindex);

/* A usable neighbour state (has a valid link-layer address). */
bool netlink_neigh_state_usable(uint16_t state);
const char *netlink_neigh_state_name(uint16_t state);

#endif
