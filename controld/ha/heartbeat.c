/* SPDX-License-Identifier: MIT */
/*
 * heartbeat.c — the cluster's heartbeats (UDP on the control link), the election of every
 * redundancy group on what they say, manual failover, and the operator commands.
 *
 * Cluster events are logged at info/warn with the prefix "cluster:" (peer up/lost, role
 * changes with their reason, manual failovers, frames dropped for a bad MAC or a replay).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha.h"
#include "ha_internal.h"
#include "log.h"
#include "metrics.h"
#include "netlink.h"

/* ---- groups and interfaces ---- */

int ha_iface_rg(const struct controld *c, const char *ifname)
{
    const struct cfg_interface *ci = config_find_interface(c->cfg, ifname);
    return ci ? ci->redundancy_group : -1;
}

struct ha_rg *ha_rg_find(struct ha *ha, unsigned id)
{
    for (unsigned i = 0; i < ha->n_rgs; i++) {
        if (ha->rgs[i].id == id)
            return &ha->rgs[i];
    }
    return NULL;
}

bool ha_is_primary(struct ha *ha, unsigned rg)
{
    if (rg == 0)
        return true;
    struct ha_rg *g = ha_rg_find(ha, rg);
    return g && g->primary;
}

static bool iface_up(struct controld *c, const char *name)
{
    for (unsigned i = 0; i < c->n_ifaces; i++) {
        if (strcmp(c->ifaces[i].name, name) == 0)
            return c->ifaces[i].ifindex && c->ifaces[i].link_up;
    }
    return false;
}

static unsigned effective_priority(struct ha *ha, const struct cfg_redundancy_group *g)
{
    unsigned me = ha_cl(ha)->node_id, failed = 0;
    for (unsigned m = 0; m < g->n_monitors; m++) {
        if (!iface_up(ha->c, g->monitors[m].ifname))
            failed += g->monitors[m].weight;
    }
    return el_effective_priority(g->priority[me], failed);
}

static uint64_t dead_ms(const struct ha *ha)
{
    const struct cfg_cluster *cl = ha_cl(ha);
    return (uint64_t)cl->heartbeat_interval_ms * cl->heartbeat_threshold;
}

/* ---- sending ---- */

static void fill_addr(const struct cfg_prefix *p, unsigned port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (p->family == 6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        memcpy(&a->sin6_addr, p->addr, 16);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        memcpy(&a->sin_addr, p->addr, 4);
    }
}

void ha_send_heartbeat(struct ha *ha)
{
    const struct cfg_cluster *cl = ha_cl(ha);
    if (!ha->udp_open || !cl)
        return;
    Moat__ClusterGroupState gs[HA_MAX_RGS], *gp[HA_MAX_RGS];
    for (unsigned i = 0; i < ha->n_rgs; i++) {
        moat__cluster_group_state__init(&gs[i]);
        gs[i].id = ha->rgs[i].id;
        gs[i].priority = ha->rgs[i].prio;
        gs[i].primary = ha->rgs[i].primary;
        gs[i].manual_serial = ha->rgs[i].manual_serial;
        gs[i].manual_node = ha->rgs[i].manual_node;
        gp[i] = &gs[i];
    }
    Moat__ClusterHeartbeat hb = MOAT__CLUSTER_HEARTBEAT__INIT;
    hb.cluster_id = cl->cluster_id;
    hb.node_id = cl->node_id;
    hb.groups = gp;
    hb.n_groups = ha->n_rgs;
    hb.sync_ready = ha_sync_ready(ha);
    hb.sync_port = HA_SYNC_PORT;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_CLUSTER_HEARTBEAT;
    env.cluster_heartbeat = &hb;
    uint8_t *buf;
    size_t len;
    if (ha_seal(cl->authentication_key, (uint8_t)cl->node_id, (uint8_t)cl->cluster_id,
                ha_next_seq(ha), &env, &buf, &len) < 0)
        return;
    struct sockaddr_storage ss;
    fill_addr(&cl->peer_address, HA_HEARTBEAT_PORT, &ss);
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    if (uv_udp_try_send(&ha->udp, &b, 1, (const struct sockaddr *)&ss) >= 0)
        ha->st.hb_sent++;
    free(buf);
}

/* ---- election ---- */

static const char *role_reason(struct ha *ha, const struct ha_rg *g, const struct el_input *in,
                               bool primary)
{
    unsigned me = in->me, peer = 1 - me;
    if (!in->peer_alive)
        return ha->peer_heard ? "peer lost (no heartbeat within the threshold)"
                              : "peer not heard since start";
    if (g->manual_node >= 0 && in->prio[g->manual_node] > 0)
        return "manual failover";
    if (in->prio[primary ? peer : me] == 0)
        return primary ? "peer priority 0 (monitored interface down)"
                       : "priority 0 (monitored interface down)";
    if (primary && in->primary[peer])
        return "two primaries seen: higher priority stays";
    return primary ? (in->primary[me] ? "elected" : "elected (higher priority or preempt)")
                   : "peer elected (higher priority or preempt)";
}

static void elect(struct ha *ha)
{
    struct controld *c = ha->c;
    const struct cfg_cluster *cl = ha_cl(ha);
    uint64_t now = ctl_now_ms();
    if (!ha->decided) {
        if (!ha->peer_heard && now - ha->started_ms < dead_ms(ha))
            return;
        ha->decided = true;
    }
    bool changed = false;
    for (unsigned i = 0; i < cl->n_rgs && i < ha->n_rgs; i++) {
        const struct cfg_redundancy_group *g = &cl->rgs[i];
        struct ha_rg *r = ha_rg_find(ha, g->id);
        if (!r)
            continue;
        unsigned prio = effective_priority(ha, g);
        if (prio != r->prio) {
            log_warn("cluster: redundancy-group %u: priority of node %u %u -> %u (monitored "
                     "interfaces)",
                     r->id, cl->node_id, r->prio, prio);
            r->prio = prio;
            changed = true; /* the peer must know */
        }
        struct el_input in = {.me = cl->node_id,
                              .peer_alive = ha->peer_alive,
                              .preempt = g->preempt,
                              .manual_node = r->manual_node};
        in.prio[cl->node_id] = r->prio;
        in.prio[1 - cl->node_id] = ha->peer_alive ? r->peer_prio : 0;
        in.primary[cl->node_id] = r->primary;
        in.primary[1 - cl->node_id] = ha->peer_alive && r->peer_primary;
        in.ready[cl->node_id] = ha_sync_ready(ha);
        in.ready[1 - cl->node_id] = ha->peer_sync_ready;
        bool next = el_step(&in);
        if (next == r->primary)
            continue;
        snprintf(r->reason, sizeof(r->reason), "%s", role_reason(ha, r, &in, next));
        log_warn("cluster: redundancy-group %u: node %u %s -> %s (%s)", r->id, cl->node_id,
                 r->primary ? "primary" : "secondary", next ? "primary" : "secondary", r->reason);
        r->primary = next;
        r->failovers++;
        r->since_ms = now;
        changed = true;
        ha_vip_apply(ha, r, next);
    }
    if (changed) {
        ha_send_heartbeat(ha);
        ha_sync_roles_changed(ha);
    }
    (void)c;
}

/* ---- receiving ---- */

static void apply_heartbeat(struct ha *ha, const Moat__ClusterHeartbeat *hb)
{
    uint64_t now = ctl_now_ms();
    ha->peer_last_rx_ms = now;
    ha->peer_heard = true;
    ha->peer_conn_gone = false; /* alive after all: the connection ended for another reason */
    if (!ha->peer_alive) {
        ha->peer_alive = true;
        ha->st.peer_up++;
        log_warn("cluster: peer node %u is up (heartbeat received)", hb->node_id);
        /* While it was out of reach it may have taken our groups (control link cut) and
         * pulled the neighbours to its MAC: announce again once it says it is not primary. */
        for (unsigned i = 0; i < ha->n_rgs; i++)
            ha->rgs[i].announce_pending = ha->peer_heard_before;
    }
    ha->peer_heard_before = true;
    ha->peer_sync_ready = hb->sync_ready;
    ha->peer_sync_port = hb->sync_port;
    for (size_t i = 0; i < hb->n_groups; i++) {
        const Moat__ClusterGroupState *g = hb->groups[i];
        struct ha_rg *r = ha_rg_find(ha, g->id);
        if (!r)
            continue;
        r->peer_prio = g->priority;
        if (r->primary && !g->primary && (r->peer_primary || r->announce_pending)) {
            /* Both claimed the group (control link cut): the neighbours may still send to
             * the peer. */
            log_warn("cluster: redundancy-group %u: the peer is back and not primary; "
                     "announcing the virtual addresses again",
                     r->id);
            ha_vip_announce(ha, r);
        }
        if (!g->primary)
            r->announce_pending = false;
        r->peer_primary = g->primary;
        if (g->manual_serial > r->manual_serial) {
            r->manual_serial = g->manual_serial;
            r->manual_node = g->manual_node;
            if (g->manual_node >= 0)
                log_warn("cluster: redundancy-group %u: manual failover to node %d requested "
                         "on the peer",
                         r->id, g->manual_node);
        }
    }
    elect(ha);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    struct ha *ha = u->data;
    const struct cfg_cluster *cl = ha_cl(ha);
    (void)flags;
    if (nread <= 0 || !from || !cl)
        return;
    char who[INET6_ADDRSTRLEN + 8] = "?";
    if (from->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr, who, sizeof(who));
    else if (from->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)from)->sin6_addr, who, sizeof(who));
    struct ha_hdr hdr;
    Moat__Envelope *env = NULL;
    switch (ha_rx_heartbeat(cl->authentication_key, cl->cluster_id, cl->node_id, &ha->replay,
                            (const uint8_t *)buf->base, (size_t)nread, &hdr, &env)) {
    case HA_RX_OK:
        break;
    case HA_RX_BAD_MAC:
        /* Never acted on: nothing of the frame is read beyond its MAC. */
        if (ha->st.hb_bad_mac++ < 10 || ha->st.hb_bad_mac % 1000 == 0)
            log_warn("cluster: dropped a heartbeat from %s with a bad MAC (%llu so far: wrong "
                     "authentication-key, or forged)",
                     who, (unsigned long long)ha->st.hb_bad_mac);
        return;
    case HA_RX_MALFORMED:
        ha->st.hb_malformed++;
        return;
    case HA_RX_REPLAYED:
        if (ha->st.hb_replayed++ < 10)
            log_warn("cluster: dropped a replayed heartbeat from %s (sequence %llu)", who,
                     (unsigned long long)hdr.seq);
        return;
    case HA_RX_FOREIGN:
        ha->st.hb_foreign++;
        if (hdr.cluster == (uint8_t)cl->cluster_id && hdr.node == cl->node_id) {
            /* The key is right and so is the cluster: the other node is configured with this
             * node's id. Nothing of it is used; said loudly, and in show chassis cluster status. */
            if (ha->st.hb_same_node_id++ % 50 == 0)
                log_err("cluster: %s sends authenticated heartbeats as node %u, this node's own "
                        "id: both nodes have node-id %u; the cluster cannot form until one of "
                        "them is set to node-id %u (%llu such heartbeats)",
                        who, cl->node_id, cl->node_id, 1 - cl->node_id,
                        (unsigned long long)ha->st.hb_same_node_id);
            ha->same_node_id_ms = ctl_now_ms();
            snprintf(ha->same_node_id_from, sizeof(ha->same_node_id_from), "%s", who);
            return;
        }
        if (ha->st.hb_foreign < 10 || ha->st.hb_foreign % 1000 == 0)
            log_warn("cluster: heartbeat from %s is not from this cluster's peer (cluster %u, "
                     "node %u; this is cluster %u node %u: node ids must differ)",
                     who, hdr.cluster, hdr.node, cl->cluster_id, cl->node_id);
        return;
    }
    ha->st.hb_received++;
    apply_heartbeat(ha, env->cluster_heartbeat);
    moat__envelope__free_unpacked(env, NULL);
}

static int udp_open(struct ha *ha)
{
    const struct cfg_cluster *cl = ha_cl(ha);
    if (ha->udp_open)
        return 0;
    uv_udp_init(ha->c->loop, &ha->udp);
    ha->udp.data = ha;
    struct sockaddr_storage ss;
    fill_addr(&cl->local_address, HA_HEARTBEAT_PORT, &ss);
    int err = uv_udp_bind(&ha->udp, (const struct sockaddr *)&ss, UV_UDP_REUSEADDR);
    if (err == 0)
        err = uv_udp_recv_start(&ha->udp, alloc_cb, recv_cb);
    if (err < 0) {
        if (strcmp(ha->bind_error, uv_strerror(err)) != 0)
            log_warn("cluster: cannot bind the heartbeat socket to %s port %u: %s (retrying)",
                     cl->control_interface, HA_HEARTBEAT_PORT, uv_strerror(err));
        snprintf(ha->bind_error, sizeof(ha->bind_error), "%s", uv_strerror(err));
        uv_close((uv_handle_t *)&ha->udp, NULL);
        return err;
    }
    ha->bind_error[0] = 0;
    ha->udp_open = true;
    return 0;
}

static void peer_lost(struct ha *ha, uint64_t now, bool fast)
{
    const struct cfg_cluster *cl = ha_cl(ha);
    ha->peer_alive = false;
    ha->peer_sync_ready = false;
    ha->peer_conn_gone = false;
    ha->st.peer_lost++;
    if (fast) {
        ha->st.peer_lost_fast++;
        log_warn("cluster: peer node %u lost: it closed the session sync connection and no "
                 "heartbeat came for %llu ms (%u x %u ms); taking every redundancy group",
                 1 - cl->node_id, (unsigned long long)(now - ha->peer_last_rx_ms),
                 HA_FAST_LOSS_MISSED, cl->heartbeat_interval_ms);
    } else {
        log_warn("cluster: peer node %u lost: no heartbeat for %llu ms (threshold %u x %u ms); "
                 "taking every redundancy group",
                 1 - cl->node_id, (unsigned long long)(now - ha->peer_last_rx_ms),
                 cl->heartbeat_threshold, cl->heartbeat_interval_ms);
    }
    for (unsigned i = 0; i < ha->n_rgs; i++) {
        ha->rgs[i].peer_primary = false;
        ha->rgs[i].manual_node = -1; /* a manual choice ends with its peer */
    }
    ha_sync_peer_lost(ha);
}

/* Loss on two signals: the sync connection ended by the peer (not by this node) and, since,
 * HA_FAST_LOSS_MISSED heartbeat intervals without one. Either alone changes nothing. */
static uint64_t fast_dead_ms(const struct ha *ha)
{
    return (uint64_t)ha_cl(ha)->heartbeat_interval_ms * HA_FAST_LOSS_MISSED;
}

static bool check_lost(struct ha *ha)
{
    uint64_t now = ctl_now_ms();
    if (!ha->peer_alive)
        return false;
    uint64_t age = now - ha->peer_last_rx_ms;
    if (age > dead_ms(ha)) {
        peer_lost(ha, now, false);
        return true;
    }
    if (ha->peer_conn_gone && age >= fast_dead_ms(ha)) {
        peer_lost(ha, now, true);
        return true;
    }
    return false;
}

static void fast_check(uv_timer_t *t)
{
    struct ha *ha = t->data;
    if (!ha_cl(ha) || !ha->peer_conn_gone)
        return;
    uint64_t now = ctl_now_ms();
    if (now > ha->fast_due_ms + ha_cl(ha)->heartbeat_interval_ms / 2 && !ha->fast_deferred) {
        /* This node was stalled: read what arrived meanwhile first (timers run before I/O). */
        ha->fast_deferred = true;
        ha->st.loop_stalls++;
        uv_timer_start(&ha->fast_timer, fast_check, 1, 0);
        return;
    }
    ha->fast_deferred = false;
    if (check_lost(ha)) {
        elect(ha);
        ha_send_heartbeat(ha);
    } else if (ha->peer_conn_gone && ha->peer_alive) {
        uint64_t age = now - ha->peer_last_rx_ms;
        uint64_t due = fast_dead_ms(ha), wait = age < due ? due - age + 1 : 1;
        ha->fast_due_ms = now + wait;
        uv_timer_start(&ha->fast_timer, fast_check, wait, 0);
    }
}

void ha_peer_conn_gone(struct ha *ha)
{
    if (!ha->peer_alive || !ha_cl(ha))
        return;
    if (!ha->peer_conn_gone)
        log_info("cluster: the peer closed the session sync connection; it is lost if no "
                 "heartbeat comes within %llu ms of its last one",
                 (unsigned long long)fast_dead_ms(ha));
    ha->peer_conn_gone = true;
    uint64_t now = ctl_now_ms(), age = now - ha->peer_last_rx_ms;
    uint64_t due = fast_dead_ms(ha), wait = age < due ? due - age + 1 : 1;
    ha->fast_due_ms = now + wait;
    ha->fast_deferred = false;
    uv_timer_start(&ha->fast_timer, fast_check, wait, 0);
}

static void tick(uv_timer_t *t)
{
    struct ha *ha = t->data;
    if (!ha_cl(ha))
        return;
    if (!ha->udp_open)
        udp_open(ha);
    uint64_t now = ctl_now_ms();
    if (ha->last_tick_ms && now - ha->last_tick_ms > 2ull * ha_cl(ha)->heartbeat_interval_ms) {
        /* This node's loop was blocked: the peer's heartbeats may wait unread in the socket;
         * the next tick judges, after they are read. */
        ha->st.loop_stalls++;
        log_debug("cluster: this node's event loop was %llu ms late; the peer is judged at the "
                  "next heartbeat interval",
                  (unsigned long long)(now - ha->last_tick_ms));
    } else {
        check_lost(ha);
    }
    ha->last_tick_ms = now;
    elect(ha);
    ha_send_heartbeat(ha);
    ha_sync_tick(ha);
}

/* ---- start / stop / config ---- */

static void load_groups(struct ha *ha)
{
    const struct cfg_cluster *cl = ha_cl(ha);
    struct ha_rg old[HA_MAX_RGS];
    unsigned n_old = ha->n_rgs;
    memcpy(old, ha->rgs, sizeof(old));
    ha->n_rgs = 0;
    for (unsigned i = 0; i < cl->n_rgs && ha->n_rgs < HA_MAX_RGS; i++) {
        struct ha_rg *r = &ha->rgs[ha->n_rgs++];
        memset(r, 0, sizeof(*r));
        r->id = cl->rgs[i].id;
        r->manual_node = -1;
        r->prio = effective_priority(ha, &cl->rgs[i]);
        snprintf(r->reason, sizeof(r->reason), "starting (hold)");
        for (unsigned k = 0; k < n_old; k++) {
            if (old[k].id == r->id) {
                unsigned prio = r->prio;
                *r = old[k];
                r->prio = prio;
            }
        }
    }
    if (cl->n_rgs > HA_MAX_RGS)
        log_err("cluster: only the first %u redundancy groups are managed", HA_MAX_RGS);
}

int ha_start(struct controld *c)
{
    const struct cfg_cluster *cl = c->cfg->cluster;
    if (!cl || c->ha)
        return 0;
    struct ha *ha = calloc(1, sizeof(*ha));
    if (!ha)
        return -ENOMEM;
    ha->c = c;
    c->ha = ha;
    ha->tx_seq = ha_seq_base();
    ha->started_ms = ctl_now_ms();
    load_groups(ha);
    ha_vip_remove_all(ha);
    udp_open(ha);
    uv_timer_init(c->loop, &ha->timer);
    ha->timer.data = ha;
    uv_timer_init(c->loop, &ha->fast_timer);
    ha->fast_timer.data = ha;
    uv_timer_start(&ha->timer, tick, cl->heartbeat_interval_ms, cl->heartbeat_interval_ms);
    int err = ha_sync_start(ha);
    if (err < 0)
        log_warn("cluster: session sync listener not started: %s (retrying)", strerror(-err));
    log_info("cluster: cluster %u node %u, control link %s, %u redundancy groups, heartbeat "
             "%u ms x %u; holding as secondary until the peer is heard or %u ms pass",
             cl->cluster_id, cl->node_id, cl->control_interface, cl->n_rgs,
             cl->heartbeat_interval_ms, cl->heartbeat_threshold,
             cl->heartbeat_interval_ms * cl->heartbeat_threshold);
    ha_send_heartbeat(ha);
    return 0;
}

/* The handles live inside struct ha: it goes once the last of them is closed (libuv runs
 * close callbacks in no promised order). */
static void free_on_close(uv_handle_t *h)
{
    struct ha *ha = h->data;
    if (--ha->closing_handles == 0)
        free(ha);
}

void ha_stop(struct controld *c)
{
    struct ha *ha = c->ha;
    if (!ha)
        return;
    ha_sync_stop(ha);
    for (unsigned i = 0; i < ha->n_rgs; i++) {
        if (ha->rgs[i].primary && c->cfg->cluster)
            ha_vip_apply(ha, &ha->rgs[i], false);
    }
    ha->closing_handles = 1;
    if (ha->udp_open) {
        uv_udp_recv_stop(&ha->udp);
        ha->closing_handles++;
        uv_close((uv_handle_t *)&ha->udp, free_on_close);
        ha->udp_open = false;
    }
    uv_timer_stop(&ha->timer);
    uv_close((uv_handle_t *)&ha->timer, free_on_close);
    uv_timer_stop(&ha->fast_timer);
    ha->closing_handles++;
    uv_close((uv_handle_t *)&ha->fast_timer, free_on_close);
    c->ha = NULL;
}

/* A VIP of the old config that the new one no longer has on that interface. */
static bool vip_kept(const struct moat_config *cfg, const char *ifname, const struct cfg_prefix *v)
{
    const struct cfg_interface *ci = config_find_interface(cfg, ifname);
    if (!ci || ci->redundancy_group < 0)
        return false;
    for (unsigned i = 0; i < ci->n_vips; i++) {
        if (ci->vips[i].family == v->family && memcmp(ci->vips[i].addr, v->addr, 16) == 0)
            return true;
    }
    return false;
}

/*
 * A commit that keeps the cluster's identity (ids, control link addresses) is applied in place:
 * groups keep their roles and the peer stays known; the election runs on the new values (a new
 * priority with preempt may move a group, through the usual step-down handshake). VIPs the new
 * config dropped go; interfaces that left every group forward again. Anything else restarts HA.
 */
void ha_config_changed(struct controld *c, const struct moat_config *old)
{
    const struct cfg_cluster *now = c->cfg->cluster, *was = old ? old->cluster : NULL;
    if (!now && !c->ha)
        return;
    bool restart = !now || !was || !c->ha || now->cluster_id != was->cluster_id ||
                   now->node_id != was->node_id ||
                   memcmp(&now->local_address, &was->local_address, sizeof(now->local_address)) ||
                   memcmp(&now->peer_address, &was->peer_address, sizeof(now->peer_address));
    if (restart) {
        if (c->ha) {
            /* VIPs of the old config: roles end with it. */
            const struct moat_config *cur = c->cfg;
            c->cfg = (struct moat_config *)old;
            if (old && old->cluster)
                ha_stop(c);
            else
                c->ha = NULL;
            c->cfg = (struct moat_config *)cur;
        }
        if (now)
            log_warn("cluster: the commit changed the cluster's identity (cluster or node id, "
                     "control link addresses): HA restarts on this node");
        if (now)
            ha_start(c);
        return;
    }
    struct ha *ha = c->ha;
    for (unsigned i = 0; i < old->n_ifaces; i++) {
        const struct cfg_interface *ci = &old->ifaces[i];
        struct ctl_iface *ifc = NULL;
        for (unsigned k = 0; k < c->n_ifaces && !ifc; k++) {
            if (strcmp(c->ifaces[k].name, ci->name) == 0)
                ifc = &c->ifaces[k];
        }
        if (ci->redundancy_group < 0 || !ifc || !ifc->ifindex)
            continue;
        for (unsigned v = 0; v < ci->n_vips; v++) {
            if (!vip_kept(c->cfg, ci->name, &ci->vips[v]))
                netlink_addr_remove(c->nl, ifc->ifindex, &ci->vips[v]);
        }
        const struct cfg_interface *nw = config_find_interface(c->cfg, ci->name);
        if (nw && nw->redundancy_group < 0 && c->bpf)
            bootstrap_set_standby(c->bpf, ifc->ifindex, false);
    }
    if (now->heartbeat_interval_ms != was->heartbeat_interval_ms)
        uv_timer_start(&ha->timer, tick, now->heartbeat_interval_ms, now->heartbeat_interval_ms);
    char before[256] = "", after[256] = "";
    for (unsigned i = 0; i < ha->n_rgs; i++)
        snprintf(before + strlen(before), sizeof(before) - strlen(before), " %u:%s/%u",
                 ha->rgs[i].id, ha->rgs[i].primary ? "primary" : "secondary", ha->rgs[i].prio);
    load_groups(ha);
    elect(ha);
    for (unsigned i = 0; i < ha->n_rgs; i++) {
        ha_vip_apply(ha, &ha->rgs[i], ha->rgs[i].primary);
        snprintf(after + strlen(after), sizeof(after) - strlen(after), " %u:%s/%u", ha->rgs[i].id,
                 ha->rgs[i].primary ? "primary" : "secondary", ha->rgs[i].prio);
    }
    ha_send_heartbeat(ha); /* the peer learns the new priorities now */
    log_info("cluster: commit applied without restarting HA (heartbeat %u ms x %u); groups "
             "(id:role/priority):%s ->%s",
             now->heartbeat_interval_ms, now->heartbeat_threshold, before[0] ? before : " none",
             after[0] ? after : " none");
}

bool ha_iface_may_arm(struct controld *c, const struct ctl_iface *ifc)
{
    if (!c->ha)
        return true;
    int rg = ha_iface_rg(c, ifc->name);
    return rg < 0 || ha_is_primary(c->ha, (unsigned)rg);
}

void ha_link_changed(struct controld *c, const struct ctl_iface *ifc)
{
    (void)ifc;
    if (c->ha)
        elect(c->ha);
}

void ha_session_deltas(struct controld *c, const Moat__SessionDeltaBatch *b)
{
    if (c->ha)
        ha_sync_deltas(c->ha, b);
}

void ha_helper_applied(struct controld *c)
{
    if (c->ha)
        ha_sync_helper_applied(c->ha);
}

/* ---- operator commands ---- */

static const char *role_name(bool alive, bool decided, bool primary)
{
    if (!alive)
        return "lost";
    if (!decided)
        return "hold";
    return primary ? "primary" : "secondary";
}

static void render_status(struct ha *ha, bool json, struct strbuf *o)
{
    const struct cfg_cluster *cl = ha_cl(ha);
    unsigned me = cl->node_id, peer = 1 - me;
    uint64_t now = ctl_now_ms();
    uint64_t age = ha->peer_heard ? now - ha->peer_last_rx_ms : 0;
    /* Heard within the loss threshold: the other node has this node's id. */
    bool same_id = ha->same_node_id_ms && now - ha->same_node_id_ms <= 2 * dead_ms(ha) + 1000;
    if (json) {
        strbuf_printf(o, "{\"cluster_id\":%u,\"node_id\":%u,\"control_interface\":", cl->cluster_id,
                      me);
        strbuf_json_str(o, cl->control_interface);
        strbuf_printf(o,
                      ",\"peer\":{\"node_id\":%u,\"alive\":%s,\"heard\":%s,"
                      "\"last_heartbeat_ms_ago\":%llu,\"sync_ready\":%s},"
                      "\"same_node_id\":%s,\"groups\":[",
                      peer, ha->peer_alive ? "true" : "false", ha->peer_heard ? "true" : "false",
                      (unsigned long long)age, ha->peer_sync_ready ? "true" : "false",
                      same_id ? "true" : "false");
    } else {
        strbuf_printf(o, "Cluster ID: %u\nNode: %u (this node)\n", cl->cluster_id, me);
        strbuf_printf(o, "Control link: %s\n", cl->control_interface);
        if (ha->peer_heard)
            strbuf_printf(o, "Peer node %u: %s (last heartbeat %llu ms ago)\n", peer,
                          ha->peer_alive ? "alive" : "lost", (unsigned long long)age);
        else
            strbuf_printf(o, "Peer node %u: not heard since start\n", peer);
        if (same_id)
            strbuf_printf(o,
                          "ERROR: %s sends heartbeats as node %u too (last %llu ms ago): both "
                          "nodes have node-id %u; set node-id %u on one of them\n",
                          ha->same_node_id_from, me,
                          (unsigned long long)(now - ha->same_node_id_ms), me, peer);
    }
    for (unsigned i = 0; i < cl->n_rgs && i < ha->n_rgs; i++) {
        const struct cfg_redundancy_group *g = &cl->rgs[i];
        const struct ha_rg *r = ha_rg_find(ha, g->id);
        if (!r)
            continue;
        unsigned prio[2];
        bool prim[2];
        prio[me] = r->prio;
        prio[peer] = r->peer_prio;
        prim[me] = r->primary;
        prim[peer] = r->peer_primary;
        bool alive[2];
        alive[me] = true;
        alive[peer] = ha->peer_alive;
        if (json) {
            strbuf_printf(o,
                          "%s{\"id\":%u,\"preempt\":%s,\"gratuitous_arp_count\":%u,"
                          "\"manual_failover_node\":%d,\"failovers\":%llu,\"reason\":",
                          i ? "," : "", g->id, g->preempt ? "true" : "false",
                          g->gratuitous_arp_count, r->manual_node,
                          (unsigned long long)r->failovers);
            strbuf_json_str(o, r->reason);
            strbuf_printf(o, ",\"nodes\":[");
            for (unsigned n = 0; n < 2; n++)
                strbuf_printf(o,
                              "%s{\"node\":%u,\"local\":%s,\"configured_priority\":%u,"
                              "\"priority\":%u,\"role\":\"%s\"}",
                              n ? "," : "", n, n == me ? "true" : "false", g->priority[n],
                              alive[n] ? prio[n] : 0,
                              role_name(alive[n], n == me ? ha->decided : true, prim[n]));
            strbuf_printf(o, "],\"monitored\":[");
            for (unsigned m = 0; m < g->n_monitors; m++) {
                strbuf_printf(o, "%s{\"interface\":", m ? "," : "");
                strbuf_json_str(o, g->monitors[m].ifname);
                strbuf_printf(o, ",\"weight\":%u,\"up\":%s}", g->monitors[m].weight,
                              iface_up(ha->c, g->monitors[m].ifname) ? "true" : "false");
            }
            strbuf_printf(o, "]}");
            continue;
        }
        strbuf_printf(o, "\nRedundancy group: %u, Failover count: %llu, Preempt: %s%s\n", g->id,
                      (unsigned long long)r->failovers, g->preempt ? "yes" : "no",
                      r->manual_node >= 0 ? ", Manual failover: yes" : "");
        strbuf_printf(o, "  %-6s %-9s %-10s %-6s %s\n", "Node", "Priority", "Status", "Local",
                      "Reason");
        for (unsigned n = 0; n < 2; n++)
            strbuf_printf(o, "  node%-2u %-9u %-10s %-6s %s\n", n, alive[n] ? prio[n] : 0,
                          role_name(alive[n], n == me ? ha->decided : true, prim[n]),
                          n == me ? "yes" : "no", n == me ? r->reason : "");
        if (g->n_monitors) {
            strbuf_printf(o, "  Monitored interfaces:");
            for (unsigned m = 0; m < g->n_monitors; m++)
                strbuf_printf(o, " %s %s (weight %u)%s", g->monitors[m].ifname,
                              iface_up(ha->c, g->monitors[m].ifname) ? "up" : "down",
                              g->monitors[m].weight, m + 1 < g->n_monitors ? "," : "");
            strbuf_printf(o, "\n");
        }
    }
    if (json)
        strbuf_printf(o, "]}\n");
}

/* The heartbeat counters of `show chassis cluster statistics`, in the order shown, each with
 * what stands before its value in the JSON and in the text. */
#define HB_STATS_FIELDS(X)                                                                         \
    X(hb_sent, "{\"heartbeats\":{\"sent\":", "Heartbeats:\n  sent                 ")               \
    X(hb_received, ",\"received\":", "\n  received             ")                                  \
    X(hb_bad_mac, ",\"bad_mac\":", "\n  bad MAC (dropped)    ")                                    \
    X(hb_replayed, ",\"replayed\":", "\n  replayed (dropped)   ")                                  \
    X(hb_malformed, ",\"malformed\":", "\n  malformed (dropped)  ")                                \
    X(hb_foreign, ",\"foreign\":", "\n  not from the peer    ")                                    \
    X(hb_same_node_id, ",\"same_node_id\":", " (claiming this node's id: ")                        \
    X(peer_up, "},\"peer\":{\"up\":", ")\nPeer: up ")                                              \
    X(peer_lost, ",\"lost\":", " times, lost ")                                                    \
    X(peer_lost_fast, ",\"lost_fast\":", " times (")                                               \
    X(loop_stalls, ",\"loop_stalls\":",                                                            \
      " after it closed the sync connection); loss checks put off after this node stalled "        \
      "(loop_stalls): ")                                                                           \
    X(garp_sent, "},\"takeover\":{\"gratuitous_arp\":", "\nTakeover: gratuitous ARP ")             \
    X(na_sent, ",\"unsolicited_na\":", ", unsolicited NA ")

static void render_stats(struct ha *ha, bool json, struct strbuf *o)
{
    const struct ha_stats *s = &ha->st;
#define X(f, json_before, text_before)                                                             \
    strbuf_printf(o, "%s%llu", json ? json_before : text_before, (unsigned long long)s->f);
    HB_STATS_FIELDS(X)
#undef X
    strbuf_printf(o, "%s", json ? "}," : "\n");
    ha_sync_render(ha, json, o);
    if (json)
        strbuf_printf(o, "}\n");
}

static int parse_num(const char *s, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > max)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

static int request_failover(struct ha *ha, const char *const *args, size_t nargs,
                            struct strbuf *out, struct strbuf *err)
{
    /* failover [reset] redundancy-group N [node M] */
    bool reset = nargs >= 1 && strcmp(args[0], "reset") == 0;
    if (reset) {
        args++;
        nargs--;
    }
    unsigned rg = 0, node = 0;
    if (nargs != (reset ? 2u : 4u) || strcmp(args[0], "redundancy-group") != 0 ||
        parse_num(args[1], 255, &rg) < 0 ||
        (!reset && (strcmp(args[2], "node") != 0 || parse_num(args[3], 1, &node) < 0))) {
        strbuf_printf(err, "usage: request chassis cluster failover redundancy-group N node 0|1, "
                           "or request chassis cluster failover reset redundancy-group N");
        return 2;
    }
    struct ha_rg *r = ha_rg_find(ha, rg);
    if (!r || rg == 0) {
        strbuf_printf(err,
                      "redundancy-group %u is not configured (see show chassis cluster "
                      "status)",
                      rg);
        return 1;
    }
    const struct cfg_cluster *cl = ha_cl(ha);
    uint64_t serial = r->manual_serial + 1;
    if (reset) {
        r->manual_serial = serial;
        r->manual_node = -1;
        log_warn("cluster: redundancy-group %u: manual failover reset by the operator", rg);
        strbuf_printf(out, "Manual failover of redundancy-group %u reset\n", rg);
        elect(ha);
        ha_send_heartbeat(ha);
        return 0;
    }
    if (node != cl->node_id && !ha->peer_alive) {
        strbuf_printf(err,
                      "node %u is not reachable (no heartbeat): it cannot take "
                      "redundancy-group %u",
                      node, rg);
        return 1;
    }
    unsigned prio = node == cl->node_id ? r->prio : r->peer_prio;
    if (prio == 0) {
        strbuf_printf(err,
                      "node %u has priority 0 in redundancy-group %u (a monitored "
                      "interface is down): it cannot be primary",
                      node, rg);
        return 1;
    }
    bool already = node == cl->node_id ? r->primary : r->peer_primary;
    r->manual_serial = serial;
    r->manual_node = (int)node;
    log_warn("cluster: redundancy-group %u: manual failover to node %u requested by the "
             "operator",
             rg, node);
    elect(ha);
    ha_send_heartbeat(ha);
    strbuf_printf(out, "%s manual failover of redundancy-group %u to node %u\n",
                  already ? "Already primary; kept by" : "Initiated", rg, node);
    return 0;
}

int ha_command(struct controld *c, const struct op_ctx *ctx, const char *const *args, size_t nargs,
               struct strbuf *out, struct strbuf *err)
{
    if (nargs < 3 || strcmp(args[1], "chassis") != 0 || strcmp(args[2], "cluster") != 0)
        return -ENOENT;
    bool show = strcmp(args[0], "show") == 0, request = strcmp(args[0], "request") == 0;
    if (!show && !request)
        return -ENOENT;
    if (!c->ha) {
        strbuf_printf(err, "this node is not in a chassis cluster (the configuration has no "
                           "chassis cluster stanza)");
        return 1;
    }
    if (show && nargs == 4 && strcmp(args[3], "status") == 0) {
        render_status(c->ha, ctx->json, out);
        return 0;
    }
    if (show && nargs == 4 && strcmp(args[3], "statistics") == 0) {
        render_stats(c->ha, ctx->json, out);
        return 0;
    }
    if (request && nargs >= 4 && strcmp(args[3], "failover") == 0)
        return request_failover(c->ha, args + 4, nargs - 4, out, err);
    strbuf_printf(err, "unknown cluster command: use show chassis cluster status|statistics or "
                       "request chassis cluster failover [reset] redundancy-group N [node M]");
    return 2;
}

/* ---- Prometheus (metrics.c calls this) ---- */

void ha_render_metrics(struct controld *c, struct strbuf *o)
{
    const struct ha *ha = c->ha;
    if (!ha)
        return;
    const struct cfg_cluster *cl = ha_cl(ha);
    metrics_gauge(o, "moat_cluster_node_id", "this node's id in the chassis cluster",
                  cl ? cl->node_id : 0);
    metrics_gauge(o, "moat_cluster_peer_up", "1 while the peer's heartbeats arrive",
                  ha->peer_alive);
    metrics_head(o, "moat_cluster_group_primary", "gauge",
                 "1 if this node is primary of the redundancy group");
    for (unsigned i = 0; i < ha->n_rgs; i++)
        strbuf_printf(o, "moat_cluster_group_primary{group=\"%u\"} %d\n", ha->rgs[i].id,
                      ha->rgs[i].primary);
    metrics_head(o, "moat_cluster_group_priority", "gauge",
                 "this node's effective priority in the group (monitored interfaces deducted)");
    for (unsigned i = 0; i < ha->n_rgs; i++)
        strbuf_printf(o, "moat_cluster_group_priority{group=\"%u\"} %u\n", ha->rgs[i].id,
                      ha->rgs[i].prio);
    metrics_head(o, "moat_cluster_group_failovers_total", "counter",
                 "role changes of this node in the group");
    for (unsigned i = 0; i < ha->n_rgs; i++)
        strbuf_printf(o, "moat_cluster_group_failovers_total{group=\"%u\"} %llu\n", ha->rgs[i].id,
                      (unsigned long long)ha->rgs[i].failovers);
#define C(f, help) metrics_counter(o, "moat_cluster_" #f "_total", help, ha->st.f);
    C(hb_sent, "heartbeats sent")
    C(hb_received, "heartbeats received and applied")
    C(hb_bad_mac, "heartbeats dropped: bad HMAC")
    C(hb_replayed, "heartbeats dropped: replayed sequence number")
    C(hb_malformed, "heartbeats dropped: malformed")
    C(peer_lost, "times the peer was declared lost")
    C(peer_lost_fast, "of those, after the peer closed the sync connection and 2 missed heartbeats")
    C(garp_sent, "gratuitous ARPs sent")
    C(na_sent, "unsolicited neighbour advertisements sent")
    C(sync_msgs_sent, "session sync messages sent")
    C(sync_msgs_received, "session sync messages received")
    C(sync_sessions_sent, "sessions sent to the peer")
    C(sync_sessions_received, "sessions received from the peer")
    C(sync_acked, "sessions the peer acknowledged (installed)")
    C(sync_installed, "peer sessions installed in this node's dataplane")
    C(sync_resyncs, "bulk resyncs")
    C(sync_bad_mac, "sync frames dropped: bad HMAC")
    C(sync_owner_rg, "sessions synced by their owner redundancy group")
    C(sync_zone_fallback, "sessions synced by the zone fallback (owner group unknown)")
    C(sync_install_failed, "peer sessions this node's dataplane could not install")
#undef C
}
