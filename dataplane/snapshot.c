/* SPDX-License-Identifier: MIT */
#include "snapshot.h"

#include <errno.h>
#include <sched.h>
#include <linux/neighbour.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nat.h"

/* Every table built gets a version of its own (route caches are keyed by it). */
static _Atomic uint64_t next_version = 1;

static bool is_pow2(uint32_t v)
{
    return v && (v & (v - 1)) == 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int dp_settings_from_proto(const Moat__DataplaneSettings *in, uint32_t default_workers,
                           struct dp_settings *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->workers = in && in->workers ? in->workers : default_workers;
    out->ring_size = in && in->ring_size ? in->ring_size : DP_DEF_RING_SIZE;
    out->frame_size = in && in->frame_size ? in->frame_size : DP_DEF_FRAME_SIZE;
    out->batch_size = in && in->batch_size ? in->batch_size : DP_DEF_BATCH;
    out->pending_tx_limit = in && in->pending_tx_limit ? in->pending_tx_limit : DP_DEF_PENDING;
    out->heartbeat_ms = in && in->heartbeat_ms ? in->heartbeat_ms : DP_DEF_HEARTBEAT_MS;
    const char *bpffs = in && in->bpffs_dir && in->bpffs_dir[0] ? in->bpffs_dir : DP_DEF_BPFFS;
    if (in && in->n_worker_cpus > MOAT_MAX_WORKERS)
        return fail(err, errlen, "settings.worker_cpus names %zu CPUs, over %u", in->n_worker_cpus,
                    MOAT_MAX_WORKERS);
    for (size_t i = 0; in && i < in->n_worker_cpus; i++) {
        if (in->worker_cpus[i] >= CPU_SETSIZE)
            return fail(err, errlen, "settings.worker_cpus: CPU %u is over %u", in->worker_cpus[i],
                        CPU_SETSIZE - 1);
        out->cpus[out->ncpus++] = in->worker_cpus[i];
    }

    if (out->workers < 1 || out->workers > MOAT_MAX_WORKERS)
        return fail(err, errlen, "settings.workers %u is out of range 1..%u", out->workers,
                    MOAT_MAX_WORKERS);
    if (!is_pow2(out->ring_size) || out->ring_size < 64 || out->ring_size > 65536)
        return fail(err, errlen, "settings.ring_size %u is not a power of two between 64 and 65536",
                    out->ring_size);
    if (out->frame_size != 2048 && out->frame_size != 4096)
        return fail(err, errlen, "settings.frame_size %u is neither 2048 nor 4096",
                    out->frame_size);
    if (out->batch_size > DP_MAX_BATCH)
        return fail(err, errlen, "settings.batch_size %u is over %u", out->batch_size,
                    DP_MAX_BATCH);
    if (out->batch_size > out->ring_size)
        return fail(err, errlen, "settings.batch_size %u is larger than ring_size %u",
                    out->batch_size, out->ring_size);
    if (!is_pow2(out->pending_tx_limit) || out->pending_tx_limit > 65536)
        return fail(err, errlen,
                    "settings.pending_tx_limit %u is not a power of two between 1 and 65536",
                    out->pending_tx_limit);
    if (out->heartbeat_ms < 10 || out->heartbeat_ms > 60000)
        return fail(err, errlen, "settings.heartbeat_ms %u is out of range 10..60000",
                    out->heartbeat_ms);
    if (strlen(bpffs) >= sizeof(out->bpffs_dir))
        return fail(err, errlen, "settings.bpffs_dir is longer than %zu bytes",
                    sizeof(out->bpffs_dir) - 1);
    strcpy(out->bpffs_dir, bpffs);
    return 0;
}

bool dp_settings_need_rebind(const struct dp_settings *a, const struct dp_settings *b)
{
    return a->workers != b->workers || a->ring_size != b->ring_size ||
           a->frame_size != b->frame_size || a->batch_size != b->batch_size ||
           a->pending_tx_limit != b->pending_tx_limit || strcmp(a->bpffs_dir, b->bpffs_dir) != 0;
}

/* By slot: an interface keeps its slot when it is re-created under a new ifindex, so the
 * port order (and the sockets' port indexes) survive a link cycle (dp_ports_relink). */
static int port_cmp(const void *pa, const void *pb)
{
    const struct dp_port *a = pa, *b = pb;
    return a->slot < b->slot ? -1 : a->slot > b->slot;
}

int dp_ports_from_snapshot(const Moat__Snapshot *s, const struct dp_settings *set,
                           struct dp_port *ports, uint32_t *nports, char *err, size_t errlen)
{
    uint32_t n = 0;
    for (size_t i = 0; i < s->n_interfaces; i++) {
        const Moat__Interface *in = s->interfaces[i];
        if (!in->userspace)
            continue;
        const char *name = in->name ? in->name : "";
        if (in->ifindex == 0)
            return fail(err, errlen, "interface '%s' has ifindex 0", name);
        if (name[0] == 0 || strlen(name) >= IF_NAMESIZE)
            return fail(err, errlen, "interface ifindex %u has no valid name", in->ifindex);
        if (in->mac.len != 6)
            return fail(err, errlen, "interface %s: MAC address has %zu bytes, not 6", name,
                        in->mac.len);
        if (in->mtu < 68)
            return fail(err, errlen, "interface %s: MTU %u is below 68", name, in->mtu);
        uint32_t room = set->frame_size - DP_XDP_HEADROOM - 18;
        if (in->mtu > room)
            return fail(err, errlen,
                        "interface %s: MTU %u does not fit a %u-byte UMEM frame (at most %u)", name,
                        in->mtu, set->frame_size, room);
        if (in->slot >= MOAT_MAX_IFACES)
            return fail(err, errlen, "interface %s: slot %u is out of range 0..%u", name, in->slot,
                        MOAT_MAX_IFACES - 1);
        if (in->queues < 1 || in->queues > MOAT_MAX_QUEUES)
            return fail(err, errlen, "interface %s: %u queues is out of range 1..%u", name,
                        in->queues, MOAT_MAX_QUEUES);
        for (uint32_t j = 0; j < n; j++) {
            if (ports[j].ifindex == in->ifindex)
                return fail(err, errlen, "interface %s: ifindex %u appears twice", name,
                            in->ifindex);
            if (ports[j].slot == in->slot)
                return fail(err, errlen, "interfaces %s and %s share slot %u", ports[j].name, name,
                            in->slot);
        }
        if (n == MOAT_MAX_IFACES)
            return fail(err, errlen, "more than %u userspace interfaces", MOAT_MAX_IFACES);
        struct dp_port *p = &ports[n++];
        memset(p, 0, sizeof(*p));
        p->ifindex = in->ifindex;
        p->slot = in->slot;
        p->queues = in->queues;
        p->link_epoch = in->link_epoch;
        strcpy(p->name, name);
    }
    qsort(ports, n, sizeof(*ports), port_cmp);
    *nports = n;
    return 0;
}

bool dp_ports_equal(const struct dp_port *a, uint32_t na, const struct dp_port *b, uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++) {
        if (a[i].ifindex != b[i].ifindex || a[i].slot != b[i].slot || a[i].queues != b[i].queues ||
            strcmp(a[i].name, b[i].name) != 0)
            return false;
    }
    return true;
}

bool dp_ports_relink(const struct dp_port *a, uint32_t na, const struct dp_port *b, uint32_t nb,
                     uint32_t *relink, uint32_t *nrelink)
{
    *nrelink = 0;
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++) {
        if (a[i].slot != b[i].slot || a[i].queues != b[i].queues ||
            strcmp(a[i].name, b[i].name) != 0)
            return false;
        if (a[i].ifindex != b[i].ifindex || a[i].link_epoch != b[i].link_epoch)
            relink[(*nrelink)++] = i;
    }
    return true;
}

static int iface_index(const struct dp_tables *t, uint32_t ifindex)
{
    for (uint32_t i = 0; i < t->nifs; i++)
        if (t->ifs[i].ifindex == ifindex)
            return (int)i;
    return -1;
}

static bool neigh_usable(const Moat__Neighbor *n)
{
    return n->mac.len == 6 && !(n->state & (NUD_INCOMPLETE | NUD_FAILED));
}

static int addr_family(size_t len)
{
    return len == 4 ? 4 : len == 16 ? 6 : 0;
}

#define DP_MAX_SESSIONS_LIMIT (16u << 20)

int dp_flow_cfg_from_proto(const Moat__FlowSettings *in, struct dp_flow_cfg *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->tcp_established =
        in && in->tcp_established_timeout ? in->tcp_established_timeout : DP_DEF_TCP_ESTABLISHED;
    out->tcp_initial = in && in->tcp_initial_timeout ? in->tcp_initial_timeout : DP_DEF_TCP_INITIAL;
    out->tcp_closing = in && in->tcp_closing_timeout ? in->tcp_closing_timeout : DP_DEF_TCP_CLOSING;
    out->udp = in && in->udp_timeout ? in->udp_timeout : DP_DEF_UDP;
    out->icmp = in && in->icmp_timeout ? in->icmp_timeout : DP_DEF_ICMP;
    out->other = in && in->other_timeout ? in->other_timeout : DP_DEF_OTHER;
    out->max_sessions = in && in->max_sessions ? in->max_sessions : DP_DEF_MAX_SESSIONS;
    /* Unset (0) watermarks: no early aging. */
    out->high_wm = in && in->aging_high_watermark ? in->aging_high_watermark : 100;
    out->low_wm = in && in->aging_low_watermark ? in->aging_low_watermark : out->high_wm;
    out->reevaluate = in ? in->policy_reevaluate : false;
    out->syn_cookie = in ? in->syn_cookie : false;
    out->cookie_seed = in ? in->cookie_seed : 0;
    if (out->max_sessions > DP_MAX_SESSIONS_LIMIT)
        return fail(err, errlen, "flow.max_sessions %u is above %u", out->max_sessions,
                    DP_MAX_SESSIONS_LIMIT);
    if (out->high_wm > 100 || out->low_wm > out->high_wm)
        return fail(err, errlen, "flow aging watermarks %u/%u: need low <= high <= 100",
                    out->low_wm, out->high_wm);
    const uint32_t day = 86400 * 7;
    if (out->tcp_established > day || out->tcp_initial > day || out->tcp_closing > day ||
        out->udp > day || out->icmp > day || out->other > day)
        return fail(err, errlen, "flow timeouts must be at most %u seconds", day);
    return 0;
}

int dp_tables_from_snapshot(const Moat__Snapshot *s, const struct dp_port *ports, uint32_t nports,
                            struct dp_tables **out, char *err, size_t errlen)
{
    return dp_tables_from_snapshot_names(s, ports, nports, NULL, NULL, out, err, errlen);
}

int dp_tables_from_snapshot_names(const Moat__Snapshot *s, const struct dp_port *ports,
                                  uint32_t nports, struct pol_names *pnames,
                                  struct pol_names *anames, struct dp_tables **out, char *err,
                                  size_t errlen)
{
    *out = NULL;
    int rc = 0;
    struct fib_builder fb;
    fib_builder_init(&fb);
    struct dp_tables *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->generation = s->generation;
    t->version = atomic_fetch_add(&next_version, 1);

    for (size_t i = 0; i < s->n_interfaces; i++) {
        const Moat__Interface *in = s->interfaces[i];
        if (iface_index(t, in->ifindex) >= 0) {
            rc = fail(err, errlen, "interface ifindex %u appears twice", in->ifindex);
            goto out;
        }
        if (t->nifs == MOAT_MAX_IFACES) {
            rc = fail(err, errlen, "more than %u interfaces", MOAT_MAX_IFACES);
            goto out;
        }
        if (in->zone_id > POL_MAX_ZONE) {
            rc = fail(err, errlen, "interface %s: zone id %u is out of range 0..%u",
                      in->name ? in->name : "?", in->zone_id, POL_MAX_ZONE);
            goto out;
        }
        struct dp_iface *f = &t->ifs[t->nifs++];
        f->ifindex = in->ifindex;
        f->mtu = in->mtu;
        if (in->mac.len == 6)
            memcpy(f->mac, in->mac.data, 6);
        f->port = -1;
        for (uint32_t p = 0; p < nports; p++)
            if (ports[p].ifindex == in->ifindex)
                f->port = (int16_t)p;
        f->zone = (uint16_t)in->zone_id;
        for (size_t a = 0; a < in->n_addresses; a++) {
            const Moat__Prefix *px = in->addresses[a];
            if (!px)
                continue;
            if (px->addr.len == 4 && !f->has_v4) {
                memcpy(f->v4, px->addr.data, 4);
                f->has_v4 = 1;
            } else if (px->addr.len == 16 && !f->has_v6 &&
                       !(px->addr.data[0] == 0xfe && (px->addr.data[1] & 0xc0) == 0x80)) {
                memcpy(f->v6, px->addr.data, 16);
                f->has_v6 = 1;
            }
        }
    }
    for (uint32_t p = 0; p < MOAT_MAX_IFACES; p++)
        t->port_if[p] = -1;
    for (uint32_t p = 0; p < nports; p++)
        t->port_if[p] = (int16_t)iface_index(t, ports[p].ifindex);

    rc = dp_flow_cfg_from_proto(s->flow, &t->flow, err, errlen);
    if (rc)
        goto out;
    sc_key_derive(&t->spk, t->flow.cookie_seed); /* without one, the helper's: control.c */
    rc = pol_compile(s, pnames, anames, &t->pol, err, errlen);
    if (rc)
        goto out;
    rc = nat_compile(s, &t->nat, err, errlen);
    if (rc)
        goto out;
    rc = scr_compile(s, &t->scr, err, errlen);
    if (rc)
        goto out;

    for (size_t i = 0; i < s->n_routes; i++) {
        const Moat__Route *r = s->routes[i];
        if (!r->dst) {
            rc = fail(err, errlen, "route %zu has no destination", i);
            goto out;
        }
        int fam = addr_family(r->dst->addr.len);
        if (!fam || r->dst->len > (fam == 4 ? 32u : 128u)) {
            rc = fail(err, errlen, "route %zu: bad destination (%zu address bytes, /%u)", i,
                      r->dst->addr.len, r->dst->len);
            goto out;
        }
        if (r->gateway.len && addr_family(r->gateway.len) != fam) {
            rc = fail(err, errlen, "route %zu: gateway family differs from the destination's", i);
            goto out;
        }
        if (r->kind != MOAT__ROUTE_KIND__ROUTE_CONNECTED &&
            r->kind != MOAT__ROUTE_KIND__ROUTE_STATIC) {
            rc = fail(err, errlen, "route %zu: unknown kind %d", i, (int)r->kind);
            goto out;
        }
        struct fib_route fr;
        memset(&fr, 0, sizeof(fr));
        fr.family = (uint8_t)fam;
        fr.plen = (uint8_t)r->dst->len;
        fr.kind = r->kind == MOAT__ROUTE_KIND__ROUTE_STATIC ? FIB_KIND_STATIC : FIB_KIND_CONNECTED;
        fr.ifindex = r->ifindex;
        fr.metric = r->metric;
        fr.oif = iface_index(t, r->ifindex);
        memcpy(fr.prefix, r->dst->addr.data, r->dst->addr.len);
        if (r->gateway.len) {
            fr.has_gw = 1;
            memcpy(fr.gateway, r->gateway.data, r->gateway.len);
        }
        rc = fib_builder_add(&fb, &fr);
        if (rc)
            goto out;
    }
    rc = fib_build(&fb, &t->fib);
    if (rc)
        goto out;

    rc = neigh_table_create(&t->neigh, (uint32_t)s->n_neighbors + 16);
    if (rc)
        goto out;
    for (size_t i = 0; i < s->n_neighbors; i++) {
        const Moat__Neighbor *n = s->neighbors[i];
        int fam = addr_family(n->addr.len);
        if (!fam || !neigh_usable(n))
            continue;
        rc = neigh_table_set(t->neigh, (uint8_t)fam, n->addr.data, n->ifindex, n->mac.data);
        if (rc)
            goto out;
    }
out:
    fib_builder_free(&fb);
    if (rc) {
        dp_tables_free(t, true, true);
        return rc;
    }
    *out = t;
    return 0;
}

int dp_tables_with_neighbors(const struct dp_tables *cur, const Moat__NeighborUpdate *u,
                             struct dp_tables **out, unsigned *skipped)
{
    *out = NULL;
    *skipped = 0;
    struct dp_tables *t = malloc(sizeof(*t));
    if (!t)
        return -ENOMEM;
    *t = *cur;
    t->version = atomic_fetch_add(&next_version, 1);
    int rc = neigh_table_clone(cur->neigh, (uint32_t)u->n_neighbors, &t->neigh);
    if (rc) {
        free(t);
        return rc;
    }
    for (size_t i = 0; i < u->n_neighbors; i++) {
        const Moat__Neighbor *n = u->neighbors[i];
        int fam = addr_family(n->addr.len);
        if (!fam || (n->mac.len != 0 && n->mac.len != 6)) {
            (*skipped)++;
            continue;
        }
        if (!neigh_usable(n)) {
            /* Removing an entry that is not there is fine. */
            neigh_table_del(t->neigh, (uint8_t)fam, n->addr.data, n->ifindex);
            continue;
        }
        rc = neigh_table_set(t->neigh, (uint8_t)fam, n->addr.data, n->ifindex, n->mac.data);
        if (rc) {
            dp_tables_free(t, false, true);
            return rc;
        }
    }
    *out = t;
    return 0;
}
