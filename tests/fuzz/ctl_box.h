/* SPDX-License-Identifier: MIT */
/*
 * ctl_box.h — the interfaces controld would find in the fuzzers' box, for the harnesses and
 * the seed writer that compile a config with controld's own snapshot_build(). Header-only.
 */
#ifndef MOAT_FUZZ_CTL_BOX_H
#define MOAT_FUZZ_CTL_BOX_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "controld.h"

/* The next interface of ctl (the i-th): name (NULL: fw<i>), ifindex 2 + i, slot i, MAC
 * 02:00:00:00:00:mac, MTU 1500, up, one queue, native XDP. */
static inline struct ctl_iface *ctl_box_add_iface(struct controld *ctl, const char *name,
                                                  uint8_t mac)
{
    const unsigned i = ctl->n_ifaces++;
    struct ctl_iface *ifc = &ctl->ifaces[i];
    if (name)
        snprintf(ifc->name, sizeof(ifc->name), "%s", name);
    else
        snprintf(ifc->name, sizeof(ifc->name), "fw%u", i);
    ifc->ifindex = 2 + i;
    const uint8_t addr[6] = {2, 0, 0, 0, 0, mac};
    memcpy(ifc->mac, addr, 6);
    ifc->mtu = 1500;
    ifc->link_up = true;
    ifc->slot = i;
    ifc->queues = 1;
    ifc->xdp_mode = MOAT_XDP_NATIVE;
    return ifc;
}

#endif
