/* SPDX-License-Identifier: MIT */
/*
 * vip.c — what a role change does to the interfaces of a redundancy group.
 *
 * Primary: add the virtual addresses (netlink), arm forwarding on the group's interfaces
 * (through lifecycle_helper_applied, which checks the helper's sockets first), then announce
 * the addresses: gratuitous-arp-count gratuitous ARP requests per IPv4 VIP and as many
 * unsolicited neighbour advertisements (override flag) per IPv6 VIP, from the interface's MAC,
 * so the neighbours on both sides move to this node at once.
 * Secondary: disarm the group's interfaces first (their traffic is no longer forwarded here),
 * then remove the virtual addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/icmp6.h>
#include <netinet/ip6.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ha_internal.h"
#include "helper.h"
#include "log.h"
#include "netlink.h"

static struct ctl_iface *iface_named(struct controld *c, const char *name)
{
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        if (strcmp(c->ifaces[i].name, name) == 0)
            return &c->ifaces[i];
    }
    return NULL;
}

static int send_raw(uint32_t ifindex, const uint8_t *dst_mac, const void *frame, size_t len)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_ll ll = {
        .sll_family = AF_PACKET,
        .sll_ifindex = (int)ifindex,
        .sll_halen = 6,
    };
    memcpy(ll.sll_addr, dst_mac, 6);
    ssize_t n = sendto(fd, frame, len, 0, (struct sockaddr *)&ll, sizeof(ll));
    int err = n == (ssize_t)len ? 0 : -errno;
    close(fd);
    return err;
}

static int send_garp(const struct ctl_iface *ifc, const uint8_t *ip)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t f[42];
    memset(f, 0, sizeof(f));
    memcpy(f, bcast, 6);
    memcpy(f + 6, ifc->mac, 6);
    f[12] = 0x08, f[13] = 0x06;                 /* ARP */
    f[14] = 0, f[15] = 1;                       /* Ethernet */
    f[16] = 0x08, f[17] = 0x00;                 /* IPv4 */
    f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1; /* request */
    memcpy(f + 22, ifc->mac, 6);
    memcpy(f + 28, ip, 4);
    memcpy(f + 38, ip, 4); /* target = sender: gratuitous */
    return send_raw(ifc->ifindex, bcast, f, sizeof(f));
}

static uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static int send_na(const struct ctl_iface *ifc, const uint8_t *ip6)
{
    static const uint8_t mcast_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
    static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 1};
    uint8_t f[14 + 40 + 32];
    memset(f, 0, sizeof(f));
    memcpy(f, mcast_mac, 6);
    memcpy(f + 6, ifc->mac, 6);
    f[12] = 0x86, f[13] = 0xdd;
    uint8_t *ip = f + 14, *icmp = f + 54;
    ip[0] = 0x60;
    ip[5] = 32; /* payload length */
    ip[6] = IPPROTO_ICMPV6;
    ip[7] = 255;
    memcpy(ip + 8, ip6, 16);
    memcpy(ip + 24, all_nodes, 16);
    icmp[0] = ND_NEIGHBOR_ADVERT;
    icmp[4] = 0x20; /* override, not solicited, not router */
    memcpy(icmp + 8, ip6, 16);
    icmp[24] = ND_OPT_TARGET_LINKADDR;
    icmp[25] = 1;
    memcpy(icmp + 26, ifc->mac, 6);
    uint32_t s = csum_add(0, ip + 8, 32);
    s += 32 + IPPROTO_ICMPV6;
    s = csum_add(s, icmp, 32);
    uint16_t c = csum_fold(s);
    icmp[2] = (uint8_t)(c >> 8);
    icmp[3] = (uint8_t)c;
    return send_raw(ifc->ifindex, mcast_mac, f, sizeof(f));
}

static void recount_armed(struct controld *c)
{
    bool any = false;
    for (unsigned i = 0; i < c->n_ifaces; i++)
        any |= c->ifaces[i].armed;
    c->armed = any;
}

void ha_vip_apply(struct ha *ha, struct ha_rg *rg, bool primary)
{
    struct controld *c = ha->c;
    const struct moat_config *cfg = c->cfg;

    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        const struct cfg_interface *ci = &cfg->ifaces[i];
        if (ci->redundancy_group != (int)rg->id)
            continue;
        struct ctl_iface *ifc = iface_named(c, ci->name);
        if (!ifc || !ifc->ifindex)
            continue;
        /* The secondary forwards nothing of the group, on any path (the legacy path is
         * what an unarmed interface falls to). */
        if (c->bpf)
            bootstrap_set_standby(c->bpf, ifc->ifindex, !primary);
        if (!primary && ifc->armed) {
            if (c->bpf)
                bootstrap_set_armed(c->bpf, ifc->ifindex, false);
            ifc->armed = false;
            log_info("cluster: redundancy-group %u: %s disarmed (secondary)", rg->id, ifc->name);
        }
        for (unsigned v = 0; v < ci->n_vips; v++) {
            char a[INET6_ADDRSTRLEN];
            inet_ntop(ci->vips[v].family == 6 ? AF_INET6 : AF_INET, ci->vips[v].addr, a, sizeof(a));
            int err = primary ? netlink_addr_ensure(c->nl, ifc->ifindex, &ci->vips[v])
                              : netlink_addr_remove(c->nl, ifc->ifindex, &ci->vips[v]);
            if (err < 0)
                log_err("cluster: redundancy-group %u: cannot %s virtual address %s on %s: %s",
                        rg->id, primary ? "add" : "remove", a, ifc->name, strerror(-err));
            else
                log_info("cluster: redundancy-group %u: virtual address %s %s %s", rg->id, a,
                         primary ? "added to" : "removed from", ifc->name);
        }
    }
    if (primary && helper_get_state(c->helper) == HELPER_APPLIED)
        lifecycle_helper_applied(c, c->applied_generation);
    recount_armed(c);
    if (primary)
        ha_vip_announce(ha, rg);
}

void ha_vip_announce(struct ha *ha, struct ha_rg *rg)
{
    struct controld *c = ha->c;
    const struct moat_config *cfg = c->cfg;
    const struct cfg_redundancy_group *g = config_find_rg(cfg, rg->id);
    unsigned count = g ? g->gratuitous_arp_count : 4;
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        const struct cfg_interface *ci = &cfg->ifaces[i];
        struct ctl_iface *ifc = iface_named(c, ci->name);
        if (ci->redundancy_group != (int)rg->id || !ifc || !ifc->ifindex)
            continue;
        for (unsigned v = 0; v < ci->n_vips; v++) {
            for (unsigned k = 0; k < count; k++) {
                int err = ci->vips[v].family == 6 ? send_na(ifc, ci->vips[v].addr)
                                                  : send_garp(ifc, ci->vips[v].addr);
                if (err < 0) {
                    log_warn("cluster: cannot announce a virtual address on %s: %s", ifc->name,
                             strerror(-err));
                    break;
                }
                if (ci->vips[v].family == 6)
                    ha->st.na_sent++;
                else
                    ha->st.garp_sent++;
            }
        }
    }
}

void ha_vip_remove_all(struct ha *ha)
{
    struct controld *c = ha->c;
    const struct moat_config *cfg = c->cfg;
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        const struct cfg_interface *ci = &cfg->ifaces[i];
        struct ctl_iface *ifc = iface_named(c, ci->name);
        if (ci->redundancy_group < 0 || !ifc || !ifc->ifindex)
            continue;
        for (unsigned v = 0; v < ci->n_vips; v++)
            netlink_addr_remove(c->nl, ifc->ifindex, &ci->vips[v]);
    }
}
