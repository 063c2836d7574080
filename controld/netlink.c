/* SPDX-License-Identifier: MIT */
#include "netlink.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000 /* <linux/if.h>, which clashes with <net/if.h> */
#endif

struct netlink {
    struct controld *c;
    struct netlink_events ev;
    struct nl_sock *sk;  /* requests and dumps */
    struct nl_sock *mon; /* event subscription */
    uv_poll_t mon_poll;
    bool mon_poll_active;
};

/* libnl errors are positive NLE_* codes; map the ones we meet to errno. */
static int nl_to_errno(int nlerr)
{
    if (nlerr >= 0)
        return 0;
    switch (-nlerr) {
    case NLE_EXIST:
        return -EEXIST;
    case NLE_NOMEM:
        return -ENOMEM;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
        return -ENODEV;
    case NLE_PERM:
        return -EPERM;
    case NLE_INVAL:
        return -EINVAL;
    case NLE_NOADDR:
        return -EADDRNOTAVAIL;
    case NLE_BUSY:
        return -EBUSY;
    case NLE_AGAIN:
        return -EAGAIN;
    default:
        return -EIO;
    }
}

bool netlink_neigh_state_usable(uint16_t state)
{
    return (state &
            (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)) != 0;
}

const char *netlink_neigh_state_name(uint16_t state)
{
    if (state & NUD_PERMANENT)
        return "permanent";
    if (state & NUD_NOARP)
        return "noarp";
    if (state & NUD_REACHABLE)
        return "reachable";
    if (state & NUD_STALE)
        return "stale";
    if (state & NUD_DELAY)
        return "delay";
    if (state & NUD_PROBE)
        return "probe";
    if (state & NUD_INCOMPLETE)
        return "incomplete";
    if (state & NUD_FAILED)
        return "failed";
    return "none";
}

static int family_to_af(uint8_t family)
{
    return family == 6 ? AF_INET6 : AF_INET;
}

static bool neigh_from_object(struct rtnl_neigh *n, struct ctl_neigh *out)
{
    struct nl_addr *dst = rtnl_neigh_get_dst(n);
    if (!dst)
        return false;
    int af = nl_addr_get_family(dst);
    if (af != AF_INET && af != AF_INET6)
        return false;
    memset(out, 0, sizeof(*out));
    out->family = af == AF_INET6 ? 6 : 4;
    unsigned alen = nl_addr_get_len(dst);
    if (alen > 16)
        return false;
    memcpy(out->addr, nl_addr_get_binary_addr(dst), alen);
    out->ifindex = (uint32_t)rtnl_neigh_get_ifindex(n);
    out->state = (uint16_t)rtnl_neigh_get_state(n);
    struct nl_addr *ll = rtnl_neigh_get_lladdr(n);
    if (ll && nl_addr_get_len(ll) == 6)
        memcpy(out->mac, nl_addr_get_binary_addr(ll), 6);
    else
        out->state &= (uint16_t) ~(NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE |
                                   NUD_PERMANENT | NUD_NOARP);
    return true;
}

/* ---- events ---- */

static void mon_object(struct nl_object *obj, void *arg)
{
    struct netlink *nl = arg;
    int type = nl_object_get_msgtype(obj);
    if (type == RTM_NEWNEIGH || type == RTM_DELNEIGH) {
        struct ctl_neigh n;
        if (!neigh_from_object((struct rtnl_neigh *)obj, &n))
            return;
        bool removed = type == RTM_DELNEIGH || !netlink_neigh_state_usable(n.state);
        if (nl->ev.neigh)
            nl->ev.neigh(nl->c, &n, removed);
    } else if (type == RTM_NEWLINK || type == RTM_DELLINK) {
        struct rtnl_link *l = (struct rtnl_link *)obj;
        unsigned flags = rtnl_link_get_flags(l);
        bool up = type == RTM_NEWLINK && (flags & IFF_UP) && (flags & IFF_LOWER_UP);
        const char *name = rtnl_link_get_name(l);
        if (nl->ev.link)
            nl->ev.link(nl->c, (uint32_t)rtnl_link_get_ifindex(l), name ? name : "", up,
                        rtnl_link_get_mtu(l));
    }
}

static int mon_valid(struct nl_msg *msg, void *arg)
{
    nl_msg_parse(msg, mon_object, arg);
    return NL_OK;
}

static void mon_readable(uv_poll_t *h, int status, int events)
{
    struct netlink *nl = h->data;
    if (status < 0) {
        log_warn("netlink monitor: poll error: %s", uv_strerror(status));
        return;
    }
    int err = nl_recvmsgs_default(nl->mon);
    if (err < 0 && err != -NLE_AGAIN) {
        /* Overrun: events were lost. The neighbour table is re-read on the next
         * snapshot; log it so an operator knows. */
        log_warn("netlink monitor: %s (events may have been lost)", nl_geterror(err));
    }
}

int netlink_open(struct controld *c, const struct netlink_events *ev, struct netlink **out)
{
    struct netlink *nl = calloc(1, sizeof(*nl));
    if (!nl)
        return -ENOMEM;
    nl->c = c;
    if (ev)
        nl->ev = *ev;
    int err;
    nl->sk = nl_socket_alloc();
    nl->mon = nl_socket_alloc();
    if (!nl->sk || !nl->mon) {
        err = -ENOMEM;
        goto fail;
    }
    if ((err = nl_connect(nl->sk, NETLINK_ROUTE)) < 0) {
        log_err("netlink: cannot open a NETLINK_ROUTE socket: %s", nl_geterror(err));
        err = nl_to_errno(err);
        goto fail;
    }
    nl_socket_disable_seq_check(nl->mon);
    nl_socket_modify_cb(nl->mon, NL_CB_VALID, NL_CB_CUSTOM, mon_valid, nl);
    if ((err = nl_connect(nl->mon, NETLINK_ROUTE)) < 0 ||
        (err = nl_socket_add_memberships(nl->mon, RTNLGRP_LINK, RTNLGRP_NEIGH, 0)) < 0 ||
        (err = nl_socket_set_nonblocking(nl->mon)) < 0) {
        log_err("netlink: cannot subscribe to link and neighbour events: %s", nl_geterror(err));
        err = nl_to_errno(err);
        goto fail;
    }
    nl_socket_set_buffer_size(nl->mon, 4 << 20, 0);
    if ((err = uv_poll_init(c->loop, &nl->mon_poll, nl_socket_get_fd(nl->mon))) < 0 ||
        (err = uv_poll_start(&nl->mon_poll, UV_READABLE, mon_readable)) < 0) {
        log_err("netlink: cannot watch the event socket: %s", uv_strerror(err));
        goto fail;
    }
    nl->mon_poll.data = nl;
    nl->mon_poll_active = true;
    *out = nl;
    return 0;
fail:
    if (nl->sk)
        nl_socket_free(nl->sk);
    if (nl->mon)
        nl_socket_free(nl->mon);
    free(nl);
    return err < 0 ? err : -EIO;
}

static void mon_closed(uv_handle_t *h)
{
    struct netlink *nl = h->data;
    nl_socket_free(nl->mon);
    free(nl);
}

void netlink_close(struct netlink *nl)
{
    if (!nl)
        return;
    nl_socket_free(nl->sk);
    nl->sk = NULL;
    if (nl->mon_poll_active) {
        uv_poll_stop(&nl->mon_poll);
        uv_close((uv_handle_t *)&nl->mon_poll, mon_closed);
    } else {
        nl_socket_free(nl->mon);
        free(nl);
    }
}

/* ---- links ---- */

static uint32_t sysfs_rx_queues(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/class/net/%s/queues", name);
    DIR *d = opendir(path);
    if (!d)
        return 1;
    uint32_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "rx-", 3) == 0)
            n++;
    }
    closedir(d);
    return n ? n : 1;
}

int netlink_link_get(struct netlink *nl, const char *name, struct netlink_link *out)
{
    struct rtnl_link *link = NULL;
    int err = rtnl_link_get_kernel(nl->sk, 0, name, &link);
    if (err < 0)
        return -ENODEV;
    memset(out, 0, sizeof(*out));
    out->ifindex = (uint32_t)rtnl_link_get_ifindex(link);
    out->mtu = rtnl_link_get_mtu(link);
    unsigned flags = rtnl_link_get_flags(link);
    out->up = flags & IFF_UP;
    out->carrier = (flags & IFF_LOWER_UP) || (flags & IFF_RUNNING);
    struct nl_addr *a = rtnl_link_get_addr(link);
    if (a && nl_addr_get_len(a) == 6)
        memcpy(out->mac, nl_addr_get_binary_addr(a), 6);
    out->queues = sysfs_rx_queues(name);
    rtnl_link_put(link);
    return 0;
}

/* Changes the link: IFF_UP when mtu is 0, else its MTU. */
static int link_change(struct netlink *nl, uint32_t ifindex, unsigned mtu)
{
    struct rtnl_link *link = NULL, *change = NULL;
    int err = rtnl_link_get_kernel(nl->sk, (int)ifindex, NULL, &link);
    if (err < 0)
        return -ENODEV;
    change = rtnl_link_alloc();
    if (!change) {
        rtnl_link_put(link);
        return -ENOMEM;
    }
    if (mtu)
        rtnl_link_set_mtu(change, mtu);
    else
        rtnl_link_set_flags(change, IFF_UP);
    err = rtnl_link_change(nl->sk, link, change, 0);
    rtnl_link_put(change);
    rtnl_link_put(link);
    return nl_to_errno(err);
}

int netlink_link_set_up(struct netlink *nl, uint32_t ifindex)
{
    return link_change(nl, ifindex, 0);
}

int netlink_link_set_mtu(struct netlink *nl, uint32_t ifindex, unsigned mtu)
{
    return mtu ? link_change(nl, ifindex, mtu) : -EINVAL;
}

/* ---- addresses ---- */

int netlink_addr_ensure(struct netlink *nl, uint32_t ifindex, const struct cfg_prefix *p)
{
    struct rtnl_addr *a = rtnl_addr_alloc();
    if (!a)
        return -ENOMEM;
    int af = family_to_af(p->family);
    struct nl_addr *local = nl_addr_build(af, p->addr, p->family == 6 ? 16 : 4);
    if (!local) {
        rtnl_addr_put(a);
        return -ENOMEM;
    }
    nl_addr_set_prefixlen(local, p->len);
    rtnl_addr_set_ifindex(a, (int)ifindex);
    rtnl_addr_set_family(a, af);
    rtnl_addr_set_local(a, local);
    rtnl_addr_set_prefixlen(a, p->len);
    if (p->family == 6)
        rtnl_addr_set_flags(a, IFA_F_NODAD);
    int err = rtnl_addr_add(nl->sk, a, NLM_F_EXCL);
    nl_addr_put(local);
    rtnl_addr_put(a);
    err = nl_to_errno(err);
    return err == -EEXIST ? 0 : err;
}

int netlink_addr_remove(struct netlink *nl, uint32_t ifindex, const struct cfg_prefix *p)
{
    struct rtnl_addr *a = rtnl_addr_alloc();
    if (!a)
        return -ENOMEM;
    int af = family_to_af(p->family);
    struct nl_addr *local = nl_addr_build(af, p->addr, p->family == 6 ? 16 : 4);
    if (!local) {
        rtnl_addr_put(a);
        return -ENOMEM;
    }
    nl_addr_set_prefixlen(local, p->len);
    rtnl_addr_set_ifindex(a, (int)ifindex);
    rtnl_addr_set_family(a, af);
    rtnl_addr_set_local(a, local);
    rtnl_addr_set_prefixlen(a, p->len);
    int err = rtnl_addr_delete(nl->sk, a, 0);
    nl_addr_put(local);
    rtnl_addr_put(a);
    err = nl_to_errno(err);
    return err == -EADDRNOTAVAIL || err == -ENOENT || err == -ENODEV ? 0 : err;
}

struct addr_walk {
    uint32_t ifindex;
    void (*fn)(void *arg, const struct cfg_prefix *p);
    void *arg;
};

static void addr_visit(struct nl_object *obj, void *arg)
{
    struct addr_walk *w = arg;
    struct rtnl_addr *a = (struct rtnl_addr *)obj;
    if ((uint32_t)rtnl_addr_get_ifindex(a) != w->ifindex)
        return;
    struct nl_addr *local = rtnl_addr_get_local(a);
    if (!local)
        return;
    int af = nl_addr_get_family(local);
    struct cfg_prefix p = {0};
    if (af == AF_INET && nl_addr_get_len(local) == 4)
        p.family = 4;
    else if (af == AF_INET6 && nl_addr_get_len(local) == 16)
        p.family = 6;
    else
        return;
    memcpy(p.addr, nl_addr_get_binary_addr(local), p.family == 6 ? 16 : 4);
    p.len = (uint8_t)rtnl_addr_get_prefixlen(a);
    w->fn(w->arg, &p);
}

int netlink_addr_foreach(struct netlink *nl, uint32_t ifindex,
                         void (*fn)(void *arg, const struct cfg_prefix *p), void *arg)
{
    struct nl_cache *cache = NULL;
    int err = rtnl_addr_alloc_cache(nl->sk, &cache);
    if (err < 0)
        return nl_to_errno(err);
    struct addr_walk w = {.ifindex = ifindex, .fn = fn, .arg = arg};
    nl_cache_foreach(cache, addr_visit, &w);
    nl_cache_free(cache);
    return 0;
}

/* ---- neighbours ---- */

struct neigh_walk {
    uint32_t ifindex;
    struct ctl_neigh *out;
    unsigned max, n;
};

static void neigh_visit(struct nl_object *obj, void *arg)
{
    struct neigh_walk *w = arg;
    struct ctl_neigh n;
    if (!neigh_from_object((struct rtnl_neigh *)obj, &n))
        return;
    if (n.ifindex != w->ifindex || !netlink_neigh_state_usable(n.state))
        return;
    if (w->n < w->max)
        w->out[w->n++] = n;
}

int netlink_neigh_dump(struct netlink *nl, uint32_t ifindex, struct ctl_neigh *out, unsigned max,
                       unsigned *n)
{
    struct nl_cache *cache = NULL;
    int err = rtnl_neigh_alloc_cache(nl->sk, &cache);
    if (err < 0)
        return nl_to_errno(err);
    struct neigh_walk w = {.ifindex = ifindex, .out = out, .max = max};
    nl_cache_foreach(cache, neigh_visit, &w);
    nl_cache_free(cache);
    *n = w.n;
    return 0;
}

int netlink_neigh_resolve(struct netlink *nl, uint8_t family, const uint8_t *addr, uint32_t ifindex)
{
    struct rtnl_neigh *n = rtnl_neigh_alloc();
    if (!n)
        return -ENOMEM;
    struct nl_addr *dst = nl_addr_build(family_to_af(family), addr, family == 6 ? 16 : 4);
    if (!dst) {
        rtnl_neigh_put(n);
        return -ENOMEM;
    }
    rtnl_neigh_set_ifindex(n, (int)ifindex);
    rtnl_neigh_set_dst(n, dst);
    rtnl_neigh_set_family(n, family_to_af(family));
    /* NTF_USE: the kernel treats this as a use of the entry and starts resolution
     * (ARP request / neighbour solicitation) if it has no valid address yet. */
    rtnl_neigh_set_flags(n, NTF_USE);
    int err = rtnl_neigh_add(nl->sk, n, NLM_F_CREATE);
    nl_addr_put(dst);
    rtnl_neigh_put(n);
    return nl_to_errno(err);
}
