/* SPDX-License-Identifier: MIT */
/*
 * sync.c — session sync between the two nodes: one TCP connection on the control link (node 1
 * connects to node 0's local-address port 7472), every frame sealed like the heartbeats.
 *
 *   both:   SyncHello (cluster and node id); then each side sends a bulk sync of every session
 *           it is primary for (SyncSessions bulk=true ..., the last with bulk_end), then the
 *           helper's deltas (create, update, close) for those sessions as they come, in order.
 *   each SyncSessions carries seq 1, 2, 3 ... per connection; the receiver installs the
 *           sessions into its own helper (SessionInstall, queued on the helper link, never
 *           waited for) and answers SyncAck{seq}.
 *
 * Which node sends a session: the primary of its owner redundancy group, the group of its
 * ingress or egress interface; only when neither interface is in a group is the group of an
 * interface of its zones used (counted as zone fallback). Sessions of no group are not synced.
 *
 * Never a silent gap: a frame out of sequence, a bad MAC, a replayed frame, a peer more than
 * HA_SYNC_MAX_UNACKED messages or HA_SYNC_MAX_QUEUED bytes behind, or a helper that was not
 * there to install what arrived, all end the connection (counted as a resync); the next one
 * starts with a bulk sync again. The receiver is "sync ready" once a bulk sync ended on the
 * current connection; a node preempts only when it is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha_internal.h"
#include "helper.h"
#include "log.h"
#include "netlink.h"

#define HA_SYNC_CHUNK 1000
#define HA_SYNC_MAX_UNACKED 4096
#define HA_SYNC_MAX_QUEUED (256u << 20)
#define HA_SYNC_ACK_RING 8192

struct sync_conn {
    struct ha_sync *s;
    uv_tcp_t tcp;
    uv_connect_t creq;
    bool connected; /* TCP up */
    bool hello_tx, hello_rx;
    bool established;
    bool closing;
    uint8_t *rbuf;
    size_t rlen, rcap;
    uint64_t tx_next, tx_acked;
    uint64_t rx_next;
    bool rx_ready;
    bool install_lost; /* something arrived while no helper could install it */
    uint64_t sent_cum; /* sessions sent on this connection */
    uint64_t cum[HA_SYNC_ACK_RING];
    uint64_t bulk_rx;
    uint64_t bulk_started_ms;
    /* The bulk being sent: ids collected when the connection was established, sent HA_SYNC_CHUNK
     * at a time, the next chunk once the last one is written (the loop serves the helper link
     * and the heartbeats in between); each record is read from the mirror when it is sent, so
     * it is never older than a delta already sent for it. */
    uint64_t *bulk_ids;
    size_t bulk_n, bulk_pos, bulk_sent;
    bool bulk_active;
    /* SyncSessions handed to the helper, acked once it answers (FIFO). */
    struct {
        uint64_t req, seq, records;
        bool bulk_end;
    } pend[HA_SYNC_MAX_UNACKED];
    unsigned pend_head, pend_n;
};

struct ha_sync {
    struct ha *ha;
    uv_tcp_t listener;
    bool listening;
    struct sync_conn *conn;
    uint64_t last_stream_seq; /* the peer's frame sequence numbers, across connections */
};

static void conn_close(struct sync_conn *k, const char *why, bool resync);

/* ---- owner redundancy group ---- */

static int rg_of_ifindex(struct controld *c, uint32_t ifindex)
{
    struct ctl_iface *ifc = ctl_iface_by_ifindex(c, ifindex);
    return ifc ? ha_iface_rg(c, ifc->name) : -1;
}

static int owner_rg(struct ha *ha, const Moat__SessionRecord *r)
{
    struct controld *c = ha->c;
    int rg = rg_of_ifindex(c, r->in_ifindex);
    if (rg < 0)
        rg = rg_of_ifindex(c, r->out_ifindex);
    if (rg >= 0) {
        ha->st.sync_owner_rg++;
        return rg;
    }
    for (unsigned i = 0; i < c->cfg->n_ifaces; i++) {
        const struct cfg_interface *ci = &c->cfg->ifaces[i];
        if (ci->redundancy_group >= 0 && ci->zone_id &&
            (ci->zone_id == r->from_zone || ci->zone_id == r->to_zone)) {
            ha->st.sync_zone_fallback++;
            return ci->redundancy_group;
        }
    }
    return -1;
}

static const char *ifname_of(struct controld *c, uint32_t ifindex)
{
    struct ctl_iface *ifc = ctl_iface_by_ifindex(c, ifindex);
    return ifc ? ifc->name : "";
}

/* ---- sending ---- */

static void write_done(uv_write_t *req, int status)
{
    (void)status;
    free(req->data);
    free(req);
}

static int send_env_cb(struct sync_conn *k, const Moat__Envelope *env, uv_write_cb cb);

static int send_env(struct sync_conn *k, const Moat__Envelope *env)
{
    return send_env_cb(k, env, write_done);
}

static int send_env_cb(struct sync_conn *k, const Moat__Envelope *env, uv_write_cb cb)
{
    struct ha *ha = k->s->ha;
    const struct cfg_cluster *cl = ha_cl(ha);
    if (!k->connected || k->closing)
        return -ENOTCONN;
    uint8_t *buf;
    size_t len;
    int err = ha_seal(cl->authentication_key, (uint8_t)cl->node_id, (uint8_t)cl->cluster_id,
                      ha_next_seq(ha), env, &buf, &len);
    if (err < 0)
        return err;
    uv_write_t *w = malloc(sizeof(*w));
    if (!w) {
        free(buf);
        return -ENOMEM;
    }
    w->data = buf;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&k->tcp, &b, 1, cb) < 0) {
        free(buf);
        free(w);
        return -EIO;
    }
    return 0;
}

static void send_hello(struct sync_conn *k)
{
    const struct cfg_cluster *cl = ha_cl(k->s->ha);
    Moat__SyncHello h = MOAT__SYNC_HELLO__INIT;
    h.cluster_id = cl->cluster_id;
    h.node_id = cl->node_id;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_SYNC_HELLO;
    env.sync_hello = &h;
    if (send_env(k, &env) == 0)
        k->hello_tx = true;
}

/* One SyncSessions of n deltas (names filled here). */
static int send_sessions_cb(struct sync_conn *k, Moat__SessionDelta **d, size_t n, bool bulk,
                            bool bulk_end, uv_write_cb cb)
{
    struct ha *ha = k->s->ha;
    struct controld *c = ha->c;
    if ((k->tx_next - 1) - k->tx_acked >= HA_SYNC_MAX_UNACKED ||
        k->tcp.write_queue_size > HA_SYNC_MAX_QUEUED) {
        conn_close(k, "the peer fell behind (unacknowledged sync messages)", true);
        return -ENOBUFS;
    }
    char **in = n ? calloc(n, sizeof(*in)) : NULL, **out = n ? calloc(n, sizeof(*out)) : NULL;
    if (n && (!in || !out)) {
        free(in);
        free(out);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        in[i] = (char *)ifname_of(c, d[i]->session->in_ifindex);
        out[i] = (char *)ifname_of(c, d[i]->session->out_ifindex);
    }
    Moat__SyncSessions m = MOAT__SYNC_SESSIONS__INIT;
    m.seq = k->tx_next;
    m.bulk = bulk;
    m.bulk_end = bulk_end;
    m.deltas = d;
    m.n_deltas = n;
    m.in_ifnames = in;
    m.n_in_ifnames = n;
    m.out_ifnames = out;
    m.n_out_ifnames = n;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_SYNC_SESSIONS;
    env.sync_sessions = &m;
    int err = send_env_cb(k, &env, cb);
    free(in);
    free(out);
    if (err)
        return err;
    k->sent_cum += n;
    k->cum[k->tx_next % HA_SYNC_ACK_RING] = k->sent_cum;
    k->tx_next++;
    ha->st.sync_msgs_sent++;
    ha->st.sync_sessions_sent += n;
    return 0;
}

static int send_sessions(struct sync_conn *k, Moat__SessionDelta **d, size_t n, bool bulk,
                         bool bulk_end)
{
    return send_sessions_cb(k, d, n, bulk, bulk_end, write_done);
}

static void bulk_step(struct sync_conn *k);

static void bulk_write_done(uv_write_t *req, int status)
{
    struct sync_conn *k = req->handle->data;
    write_done(req, status);
    if (status == 0 && !k->closing)
        bulk_step(k);
}

/* The next chunk of the bulk: sessions of groups this node is primary of, as the mirror holds
 * them now; the last chunk says bulk_end. */
static void bulk_step(struct sync_conn *k)
{
    struct ha *ha = k->s->ha;
    struct controld *c = ha->c;
    if (!k->bulk_active)
        return;
    static struct mirror_record_buf buf[HA_SYNC_CHUNK];
    static Moat__SessionDelta dl[HA_SYNC_CHUNK];
    static Moat__SessionDelta *dp[HA_SYNC_CHUNK];
    size_t n = 0;
    while (k->bulk_pos < k->bulk_n && n < HA_SYNC_CHUNK) {
        const struct mirror_session *ms = mirror_lookup(&c->mirror, k->bulk_ids[k->bulk_pos++]);
        if (!ms)
            continue; /* closed since: its close delta went (or goes) on its own */
        mirror_to_record(&c->mirror, ms, &buf[n]);
        int rg = owner_rg(ha, &buf[n].rec);
        if (rg < 0 || !ha_is_primary(ha, (unsigned)rg)) {
            ha->st.sync_not_owner++;
            continue;
        }
        buf[n].rec.owner_rg = (uint32_t)rg;
        moat__session_delta__init(&dl[n]);
        dl[n].kind = MOAT__DELTA_KIND__DELTA_CREATE;
        dl[n].session = &buf[n].rec;
        dp[n] = &dl[n];
        n++;
    }
    bool last = k->bulk_pos >= k->bulk_n;
    if (send_sessions_cb(k, dp, n, true, last, bulk_write_done) < 0) {
        /* Never a bulk without its end: the next connection starts over. */
        conn_close(k, "the bulk sync could not be sent", true);
        return;
    }
    k->bulk_sent += n;
    if (last) {
        k->bulk_active = false;
        free(k->bulk_ids);
        k->bulk_ids = NULL;
        ha->st.sync_bulk_sent++;
        log_info("cluster: bulk sync to the peer: %zu sessions queued", k->bulk_sent);
    }
}

/* Every mirrored session of a group this node is primary of, in chunks (bulk_step). */
static void send_bulk(struct sync_conn *k)
{
    struct controld *c = k->s->ha->c;
    if (mirror_collect_ids(&c->mirror, NULL, &k->bulk_ids, &k->bulk_n) < 0) {
        conn_close(k, "out of memory for the bulk sync", true);
        return;
    }
    k->bulk_pos = 0;
    k->bulk_sent = 0;
    k->bulk_active = true;
    bulk_step(k);
}

/* ---- receiving ---- */

static void send_ack(struct sync_conn *k, uint64_t seq)
{
    Moat__SyncAck a = MOAT__SYNC_ACK__INIT;
    a.seq = seq;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_SYNC_ACK;
    env.sync_ack = &a;
    send_env(k, &env);
}

static void established(struct sync_conn *k)
{
    if (k->established || !k->hello_rx || !k->hello_tx)
        return;
    k->established = true;
    k->s->ha->st.sync_connects++;
    log_info("cluster: session sync with the peer established");
    send_bulk(k);
}

/*
 * The secondary's kernel never talked to the hosts of the peer's sessions: without their
 * neighbour entries the first packets after a takeover would wait for ARP/ND (and TCP would
 * back off). Each endpoint of a synced session (or the next hop of the static route toward
 * it) is resolved now, unless controld already knows it or asked for it recently.
 */
#define HA_PRIME_RECENT 64
static struct {
    uint8_t family, addr[16];
    uint32_t ifindex;
} prime_recent[HA_PRIME_RECENT];
static unsigned prime_next;

static void prime_one(struct controld *c, uint32_t ifindex, const ProtobufCBinaryData *a)
{
    if (!ifindex || (a->len != 4 && a->len != 16))
        return;
    uint8_t family = a->len == 16 ? 6 : 4;
    struct ctl_iface *ifc = ctl_iface_by_ifindex(c, ifindex);
    const struct cfg_interface *ci = ifc ? config_find_interface(c->cfg, ifc->name) : NULL;
    if (!ci)
        return;
    const uint8_t *hop = NULL;
    for (unsigned i = 0; i < ci->n_addrs && !hop; i++) {
        if (config_prefix_contains(&ci->addrs[i], family, a->data))
            hop = a->data;
    }
    for (unsigned i = 0; i < c->cfg->n_routes && !hop; i++) {
        const struct cfg_route *r = &c->cfg->routes[i];
        if (!r->discard && config_prefix_contains(&r->dst, family, a->data))
            hop = r->nexthop;
    }
    if (!hop)
        return;
    size_t alen = family == 6 ? 16 : 4;
    for (unsigned i = 0; i < c->n_neigh; i++) {
        if (c->neigh[i].family == family && c->neigh[i].ifindex == ifindex &&
            memcmp(c->neigh[i].addr, hop, alen) == 0)
            return;
    }
    for (unsigned i = 0; i < HA_PRIME_RECENT; i++) {
        if (prime_recent[i].family == family && prime_recent[i].ifindex == ifindex &&
            memcmp(prime_recent[i].addr, hop, alen) == 0)
            return;
    }
    unsigned slot = prime_next++ % HA_PRIME_RECENT;
    prime_recent[slot].family = family;
    prime_recent[slot].ifindex = ifindex;
    memcpy(prime_recent[slot].addr, hop, alen);
    netlink_neigh_resolve(c->nl, family, hop, ifindex);
}

static void prime_neighbours(struct controld *c, const Moat__SessionRecord *r)
{
    if (r->forward)
        prime_one(c, r->in_ifindex, &r->forward->src);
    if (r->reverse)
        prime_one(c, r->out_ifindex, &r->reverse->src);
}

/* The helper's answer to one of HA sync's SessionInstalls (helper_requests.h); the owner is
 * controld, which outlives HA's restarts on commits. */
static void install_replied(void *owner, const Moat__SessionInstallReply *r)
{
    struct controld *c = owner;
    if (c->ha)
        ha_sync_install_reply(c->ha, r);
}

static void on_sessions(struct sync_conn *k, Moat__SyncSessions *m)
{
    struct ha *ha = k->s->ha;
    struct controld *c = ha->c;
    if (m->seq != k->rx_next) {
        char why[96];
        snprintf(why, sizeof(why), "sync message %llu arrived, %llu expected",
                 (unsigned long long)m->seq, (unsigned long long)k->rx_next);
        conn_close(k, why, true);
        return;
    }
    k->rx_next++;
    ha->st.sync_msgs_received++;
    ha->st.sync_sessions_received += m->n_deltas;
    if (m->bulk && k->bulk_rx == 0 && !k->bulk_started_ms)
        k->bulk_started_ms = ctl_now_ms();
    /* What the helper installs of each record, in its compact form: fields of a newer
     * protocol that this build does not know stay behind (nothing received is re-packed). */
    struct sessrec *recs = m->n_deltas ? malloc(m->n_deltas * sizeof(*recs)) : NULL;
    size_t n = 0;
    for (size_t i = 0; recs && i < m->n_deltas; i++) {
        Moat__SessionDelta *d = m->deltas[i];
        if (!d->session)
            continue;
        Moat__SessionRecord *r = d->session;
        /* The peer's interface numbers mean nothing here: its names do. */
        struct ctl_iface *in = NULL, *out = NULL;
        for (unsigned f = 0; f < c->n_ifaces; f++) {
            if (i < m->n_in_ifnames && strcmp(c->ifaces[f].name, m->in_ifnames[i]) == 0)
                in = &c->ifaces[f];
            if (i < m->n_out_ifnames && strcmp(c->ifaces[f].name, m->out_ifnames[i]) == 0)
                out = &c->ifaces[f];
        }
        r->in_ifindex = in ? in->ifindex : 0;
        r->out_ifindex = out ? out->ifindex : 0;
        if (d->kind == MOAT__DELTA_KIND__DELTA_CLOSE)
            r->state = MOAT__SESSION_STATE__SESSION_CLOSED;
        if (!sessrec_from_record(r, &recs[n])) {
            ha->st.sync_unusable++;
            continue;
        }
        if (d->kind != MOAT__DELTA_KIND__DELTA_CLOSE)
            prime_neighbours(c, r);
        n++;
    }
    /* Acked once the helper's workers went through them (ha_sync_install_reply). */
    uint64_t req = 0;
    int err = -ENOBUFS;
    if (!recs && m->n_deltas)
        err = -ENOMEM;
    else if (k->pend_n < HA_SYNC_MAX_UNACKED)
        err = helper_send_session_install(c->helper, recs, n, install_replied, c, &req);
    free(recs);
    if (m->bulk)
        k->bulk_rx += m->n_deltas;
    if (err) {
        ha->st.sync_install_failed += n;
        if (!k->install_lost)
            log_warn("cluster: %zu synced sessions could not go to the helper (%s); a resync "
                     "follows when it is back",
                     n, strerror(-err));
        k->install_lost = true;
        return;
    }
    unsigned tail = (k->pend_head + k->pend_n) % HA_SYNC_MAX_UNACKED;
    k->pend[tail].req = req;
    k->pend[tail].seq = m->seq;
    k->pend[tail].records = n;
    k->pend[tail].bulk_end = m->bulk_end;
    k->pend_n++;
}

void ha_sync_install_reply(struct ha *ha, const Moat__SessionInstallReply *r)
{
    struct sync_conn *k = ha->sync ? ha->sync->conn : NULL;
    if (!k || k->closing)
        return;
    if (r->lost) {
        conn_close(k, "the helper could not install every synced session", true);
        return;
    }
    uint64_t ack = 0;
    bool bulk_end = false;
    while (k->pend_n && k->pend[k->pend_head].req <= r->request_id) {
        ack = k->pend[k->pend_head].seq;
        ha->st.sync_installed += k->pend[k->pend_head].records;
        bulk_end |= k->pend[k->pend_head].bulk_end;
        k->pend_head = (k->pend_head + 1) % HA_SYNC_MAX_UNACKED;
        k->pend_n--;
    }
    if (!ack)
        return;
    if (bulk_end && !k->install_lost) {
        k->rx_ready = true;
        ha->st.sync_bulk_received++;
        log_info("cluster: bulk sync from the peer: %llu sessions installed in %llu ms",
                 (unsigned long long)k->bulk_rx,
                 (unsigned long long)(k->bulk_started_ms ? ctl_now_ms() - k->bulk_started_ms : 0));
        k->bulk_rx = 0;
        k->bulk_started_ms = 0;
        ha_send_heartbeat(ha); /* the peer may be waiting for this to preempt */
    }
    send_ack(k, ack);
}

static void on_frame(struct sync_conn *k, const uint8_t *buf, size_t len)
{
    struct ha *ha = k->s->ha;
    const struct cfg_cluster *cl = ha_cl(ha);
    struct ha_hdr hdr;
    Moat__Envelope *env = NULL;
    switch (ha_rx_stream(cl->authentication_key, cl->cluster_id, cl->node_id,
                         &k->s->last_stream_seq, buf, len, &hdr, &env)) {
    case HA_RX_OK:
        break;
    case HA_RX_BAD_MAC:
        ha->st.sync_bad_mac++;
        conn_close(k, "a sync frame with a bad MAC (wrong authentication-key, or forged)", false);
        return;
    case HA_RX_MALFORMED:
        conn_close(k, "a malformed sync frame", false);
        return;
    default:
        ha->st.sync_replayed++;
        conn_close(k, "a replayed or foreign sync frame", false);
        return;
    }
    switch (env->msg_case) {
    case MOAT__ENVELOPE__MSG_SYNC_HELLO:
        if (env->sync_hello->cluster_id != cl->cluster_id ||
            env->sync_hello->node_id != 1 - cl->node_id) {
            conn_close(k, "SyncHello from another cluster or node", false);
            break;
        }
        k->hello_rx = true;
        /* Answered once this node's helper runs (it could not install the bulk before). */
        if (!k->hello_tx && helper_get_state(ha->c->helper) == HELPER_APPLIED)
            send_hello(k);
        established(k);
        break;
    case MOAT__ENVELOPE__MSG_SYNC_SESSIONS:
        if (!k->established)
            conn_close(k, "sessions before SyncHello", false);
        else
            on_sessions(k, env->sync_sessions);
        break;
    case MOAT__ENVELOPE__MSG_SYNC_ACK:
        if (env->sync_ack->resync) {
            conn_close(k, "the peer asked for a resync", true);
            break;
        }
        if (env->sync_ack->seq > k->tx_acked && env->sync_ack->seq < k->tx_next) {
            uint64_t before = k->cum[k->tx_acked % HA_SYNC_ACK_RING];
            if (k->tx_acked == 0)
                before = 0;
            k->tx_acked = env->sync_ack->seq;
            ha->st.sync_acked += k->cum[k->tx_acked % HA_SYNC_ACK_RING] - before;
        }
        break;
    default:
        conn_close(k, "an unexpected message on the sync connection", false);
        break;
    }
    moat__envelope__free_unpacked(env, NULL);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[1 << 16];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct sync_conn *k = st->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        struct ha *ha = k->s->ha;
        bool by_peer = nread == UV_EOF || nread == UV_ECONNRESET;
        conn_close(k, nread == UV_EOF ? "the peer closed it" : uv_strerror((int)nread), false);
        if (by_peer)
            ha_peer_conn_gone(ha); /* one of the two signals of a dead peer */
        return;
    }
    if (k->rlen + (size_t)nread > k->rcap) {
        size_t cap = k->rcap ? k->rcap : 65536;
        while (cap < k->rlen + (size_t)nread)
            cap *= 2;
        uint8_t *nb = realloc(k->rbuf, cap);
        if (!nb) {
            conn_close(k, "out of memory", true);
            return;
        }
        k->rbuf = nb;
        k->rcap = cap;
    }
    memcpy(k->rbuf + k->rlen, buf->base, (size_t)nread);
    k->rlen += (size_t)nread;
    size_t off = 0;
    while (!k->closing) {
        size_t total = 0;
        int rc = ha_frame_len(k->rbuf + off, k->rlen - off, HA_MAX_PAYLOAD, &total);
        if (rc < 0) {
            conn_close(k, "not a sync frame", false);
            return;
        }
        if (rc == 0 || k->rlen - off < total)
            break;
        on_frame(k, k->rbuf + off, total);
        off += total;
    }
    if (k->closing)
        return;
    memmove(k->rbuf, k->rbuf + off, k->rlen - off);
    k->rlen -= off;
}

/* ---- connections ---- */

static void conn_free(uv_handle_t *h)
{
    struct sync_conn *k = h->data;
    free(k->rbuf);
    free(k->bulk_ids);
    free(k);
}

static void conn_close(struct sync_conn *k, const char *why, bool resync)
{
    if (k->closing)
        return;
    struct ha *ha = k->s->ha;
    k->closing = true;
    if (k->established)
        ha->st.sync_disconnects++;
    if (resync)
        ha->st.sync_resyncs++;
    if (k->established || resync)
        log_warn("cluster: session sync connection closed: %s%s", why,
                 resync ? " (resync: the next connection starts with a bulk sync)" : "");
    else
        log_debug("cluster: session sync connection closed: %s", why);
    if (k->s->conn == k)
        k->s->conn = NULL;
    uv_read_stop((uv_stream_t *)&k->tcp);
    uv_close((uv_handle_t *)&k->tcp, conn_free);
}

static struct sync_conn *conn_new(struct ha_sync *s)
{
    struct sync_conn *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->s = s;
    k->tx_next = 1;
    k->rx_next = 1;
    uv_tcp_init(s->ha->c->loop, &k->tcp);
    uv_tcp_nodelay(&k->tcp, 1);
    k->tcp.data = k;
    return k;
}

static void on_accept(uv_stream_t *server, int status)
{
    struct ha_sync *s = server->data;
    if (status < 0)
        return;
    struct sync_conn *k = conn_new(s);
    if (!k)
        return;
    if (uv_accept(server, (uv_stream_t *)&k->tcp) < 0) {
        uv_close((uv_handle_t *)&k->tcp, conn_free);
        return;
    }
    if (s->conn)
        conn_close(s->conn, "the peer connected again", true);
    k->connected = true;
    s->conn = k;
    uv_read_start((uv_stream_t *)&k->tcp, alloc_cb, read_cb);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct sync_conn *k = req->data;
    if (k->closing)
        return;
    if (status < 0) {
        conn_close(k, uv_strerror(status), false);
        return;
    }
    k->connected = true;
    uv_read_start((uv_stream_t *)&k->tcp, alloc_cb, read_cb);
    send_hello(k);
}

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

static void try_connect(struct ha_sync *s)
{
    const struct cfg_cluster *cl = ha_cl(s->ha);
    struct sync_conn *k = conn_new(s);
    if (!k)
        return;
    struct sockaddr_storage local, peer;
    fill_addr(&cl->local_address, 0, &local);
    fill_addr(&cl->peer_address, HA_SYNC_PORT, &peer);
    uv_tcp_bind(&k->tcp, (const struct sockaddr *)&local, 0);
    k->creq.data = k;
    s->conn = k;
    if (uv_tcp_connect(&k->creq, &k->tcp, (const struct sockaddr *)&peer, on_connect) < 0)
        conn_close(k, "connect failed", false);
}

static int listen_open(struct ha_sync *s)
{
    const struct cfg_cluster *cl = ha_cl(s->ha);
    if (s->listening || cl->node_id != 0)
        return 0;
    uv_tcp_init(s->ha->c->loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_storage ss;
    fill_addr(&cl->local_address, HA_SYNC_PORT, &ss);
    int err = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&s->listener, 2, on_accept);
    if (err < 0) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        return -EADDRNOTAVAIL;
    }
    s->listening = true;
    return 0;
}

/* ---- hooks (ha_internal.h) ---- */

int ha_sync_start(struct ha *ha)
{
    struct ha_sync *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->ha = ha;
    ha->sync = s;
    return listen_open(s);
}

static void free_sync(uv_handle_t *h)
{
    free(h->data);
}

void ha_sync_stop(struct ha *ha)
{
    struct ha_sync *s = ha->sync;
    if (!s)
        return;
    if (s->conn)
        conn_close(s->conn, "controld is stopping", false);
    ha->sync = NULL;
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, free_sync);
    } else {
        free(s);
    }
}

void ha_sync_tick(struct ha *ha)
{
    struct ha_sync *s = ha->sync;
    if (!s)
        return;
    if (!s->listening)
        listen_open(s);
    /* Sync starts once this node's helper runs: a bulk sync before that could not be
     * installed and would only be sent again. */
    if (ha_cl(ha)->node_id == 1 && ha->peer_alive && !s->conn &&
        helper_get_state(ha->c->helper) == HELPER_APPLIED)
        try_connect(s);
    if (s->conn && s->conn->hello_rx && !s->conn->hello_tx && !s->conn->closing &&
        helper_get_state(ha->c->helper) == HELPER_APPLIED) {
        send_hello(s->conn);
        established(s->conn);
    }
}

void ha_sync_peer_lost(struct ha *ha)
{
    if (ha->sync && ha->sync->conn)
        conn_close(ha->sync->conn, "the peer is lost", false);
}

void ha_sync_deltas(struct ha *ha, const Moat__SessionDeltaBatch *b)
{
    struct ha_sync *s = ha->sync;
    if (!s || !s->conn || !s->conn->established || !b->n_deltas)
        return;
    Moat__SessionDelta **v = malloc(b->n_deltas * sizeof(*v));
    if (!v)
        return;
    size_t n = 0;
    for (size_t i = 0; i < b->n_deltas; i++) {
        Moat__SessionDelta *d = b->deltas[i];
        if (!d->session)
            continue;
        int rg = owner_rg(ha, d->session);
        if (rg < 0 || !ha_is_primary(ha, (unsigned)rg)) {
            ha->st.sync_not_owner++;
            continue;
        }
        d->session->owner_rg = (uint32_t)rg;
        v[n++] = d;
    }
    if (n)
        send_sessions(s->conn, v, n, false, false);
    free(v);
}

void ha_sync_roles_changed(struct ha *ha)
{
    (void)ha; /* the sessions of a group travel with the primary's deltas from now on */
}

void ha_sync_helper_applied(struct ha *ha)
{
    struct ha_sync *s = ha->sync;
    if (s && s->conn && (s->conn->install_lost || s->conn->pend_n))
        conn_close(s->conn, "the helper is back after synced sessions could not be installed",
                   true);
    else if (s && s->conn && s->conn->hello_rx && !s->conn->hello_tx && !s->conn->closing) {
        send_hello(s->conn);
        established(s->conn);
    }
}

/* Holds the peer's sessions in a running helper: a bulk sync ended on this connection and
 * everything that arrived went to a helper that has applied its snapshot. */
bool ha_sync_ready(const struct ha *ha)
{
    const struct sync_conn *k = ha->sync ? ha->sync->conn : NULL;
    return k && k->rx_ready && !k->install_lost &&
           helper_get_state(ha->c->helper) == HELPER_APPLIED;
}

/*
 * The session sync counters of `show chassis cluster statistics`, each once: its value, what
 * precedes it in the JSON rendering and in the text one (the text's layout sets the order).
 */
#define SYNC_STATS_FIELDS(X)                                                                       \
    X(s->sync_msgs_sent, ",\"messages_sent\":", "\n  messages sent / received      ")              \
    X(s->sync_msgs_received, ",\"messages_received\":", " / ")                                     \
    X(s->sync_sessions_sent, ",\"sessions_sent\":", "\n  sessions sent / received      ")          \
    X(s->sync_sessions_received, ",\"sessions_received\":", " / ")                                 \
    X(s->sync_acked, ",\"sessions_acked\":", "\n  sessions acked by the peer    ")                 \
    X(unacked, ",\"unacked_messages\":", " (unacked messages ")                                    \
    X(s->sync_installed, ",\"sessions_installed\":", ")\n  sessions installed / failed   ")        \
    X(s->sync_install_failed, ",\"install_failed\":", " / ")                                       \
    X(s->sync_unusable, ",\"unusable\":", " (unusable records: ")                                  \
    X(s->sync_bulk_sent, ",\"bulk_sent\":", ")\n  bulk syncs sent / received    ")                 \
    X(s->sync_bulk_received, ",\"bulk_received\":", " / ")                                         \
    X(s->sync_resyncs, ",\"resyncs\":", "\n  resyncs                       ")                      \
    X(s->sync_connects, ",\"connects\":", "\n  connects / disconnects        ")                    \
    X(s->sync_disconnects, ",\"disconnects\":", " / ")                                             \
    X(s->sync_bad_mac, ",\"bad_mac\":", "\n  bad MAC / replayed frames     ")                      \
    X(s->sync_replayed, ",\"replayed\":", " / ")                                                   \
    X(s->sync_owner_rg, ",\"owner_rg\":", "\n  owner RG / zone fallback      ")                    \
    X(s->sync_zone_fallback, ",\"zone_fallback\":", " / ")                                         \
    X(s->sync_not_owner, ",\"not_owner\":", " (not owner: ")

void ha_sync_render(const struct ha *ha, bool json, struct strbuf *o)
{
    const struct ha_stats *s = &ha->st;
    const struct sync_conn *k = ha->sync ? ha->sync->conn : NULL;
    const char *state = !k                ? "down"
                        : !k->established ? "connecting"
                        : k->rx_ready     ? "in-sync"
                                          : "bulk";
    uint64_t unacked = k ? (k->tx_next - 1) - k->tx_acked : 0;
    strbuf_printf(o, json ? "\"sync\":{\"state\":\"%s\"" : "Session sync: %s", state);
#define X(value, json_before, text_before)                                                         \
    strbuf_printf(o, "%s%llu", json ? json_before : text_before, (unsigned long long)(value));
    SYNC_STATS_FIELDS(X)
#undef X
    strbuf_printf(o, "%s", json ? "}" : ")\n");
}
