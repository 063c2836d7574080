/* SPDX-License-Identifier: MIT */
/* config_cluster.c — `chassis cluster`: node ids, control link, key, redundancy groups. */
#include "config_internal.h"

#include <string.h>

struct cluster_ctx {
    struct cfg_cluster *cl;
    const struct config_node *node_id, *cluster_id, *control, *key;
};

static int node_number(struct cc *cc, const struct config_word *w, const char *what, unsigned *out)
{
    if (strcmp(w->text, "0") != 0 && strcmp(w->text, "1") != 0)
        return cc_err_word(cc, w, "%s %s is out of range (a cluster has node 0 and node 1)", what,
                           w->text);
    *out = (unsigned)(w->text[0] - '0');
    return 0;
}

static int cl_cluster_id(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cluster_ctx *c = ctx;
    c->cluster_id = n;
    int rc = cc_leaf(cc, n, 1, 1, "cluster-id 1..255");
    return rc ? rc : cc_uint(cc, &n->words[0], "cluster-id", 1, 255, &c->cl->cluster_id);
}

static int cl_node_id(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cluster_ctx *c = ctx;
    c->node_id = n;
    int rc = cc_leaf(cc, n, 1, 1, "node-id 0|1");
    return rc ? rc : node_number(cc, &n->words[0], "node-id", &c->cl->node_id);
}

static int ctl_address(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_cluster *cl = ((struct cluster_ctx *)ctx)->cl;
    bool local = strcmp(n->keyword, "local-address") == 0;
    int rc = cc_leaf(cc, n, 1, 1, local ? "local-address ADDRESS" : "peer-address ADDRESS");
    return rc ? rc
              : cc_addr(cc, &n->words[0], n->keyword,
                        local ? &cl->local_address : &cl->peer_address);
}

static int cl_control(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"local-address", ctl_address, false},
        {"peer-address", ctl_address, false},
    };
    struct cluster_ctx *c = ctx;
    struct cfg_cluster *cl = c->cl;
    c->control = n;
    int rc = cc_block(cc, n, 1, "control-interface NAME");
    if (rc)
        return rc;
    const struct config_word *w = &n->words[0];
    int idx = cc_find_iface(cc->cfg, w->text);
    if (idx < 0)
        return cc_err_word(cc, w,
                           "control-interface \"%s\" is not configured under interfaces (add "
                           "interfaces { %s { unit 0 { family inet { address ...; } } } })",
                           w->text, w->text);
    snprintf(cl->control_interface, sizeof(cl->control_interface), "%s", cc->cfg->ifaces[idx].name);
    if ((rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx)))
        return rc;
    if (!cl->local_address.family || !cl->peer_address.family)
        return cc_err_word(cc, w, "control-interface %s needs %s (%s ADDRESS;)", w->text,
                           cl->local_address.family ? "peer-address" : "local-address",
                           cl->local_address.family ? "peer-address" : "local-address");
    if (cl->local_address.family != cl->peer_address.family)
        return cc_err_word(cc, w, "local-address and peer-address of %s are not the same family",
                           w->text);
    if (memcmp(cl->local_address.addr, cl->peer_address.addr, 16) == 0)
        return cc_err_word(cc, w, "local-address and peer-address of %s are the same address",
                           w->text);
    return 0;
}

static int cl_key(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cluster_ctx *c = ctx;
    c->key = n;
    int rc = cc_leaf(cc, n, 1, 1, "authentication-key \"SECRET\"");
    if (rc)
        return rc;
    if (n->words[0].text[0] == '\0')
        return cc_err_word(cc, &n->words[0], "authentication-key is empty");
    c->cl->authentication_key = cfg_arena_strdup(cc->a, n->words[0].text);
    return c->cl->authentication_key ? 0 : cc_oom(cc);
}

static int cl_hb_interval(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cluster_ctx *c = ctx;
    int rc = cc_leaf(cc, n, 1, 1, "heartbeat-interval MILLISECONDS");
    return rc ? rc
              : cc_uint(cc, &n->words[0], "heartbeat-interval", 50, 10000,
                        &c->cl->heartbeat_interval_ms);
}

static int cl_hb_threshold(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cluster_ctx *c = ctx;
    int rc = cc_leaf(cc, n, 1, 1, "heartbeat-threshold COUNT");
    return rc ? rc
              : cc_uint(cc, &n->words[0], "heartbeat-threshold", 1, 100,
                        &c->cl->heartbeat_threshold);
}

/* ---- redundancy groups ---- */

struct rg_ctx {
    struct cfg_redundancy_group *rg;
    const struct config_node *node_stmt[2];
};

static int rg_node(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct rg_ctx *r = ctx;
    unsigned node = 0, prio = 0;
    int rc = cc_leaf(cc, n, 3, 3, "node 0|1 priority 1..254");
    if (rc || (rc = node_number(cc, &n->words[0], "node", &node)))
        return rc;
    if (strcmp(n->words[1].text, "priority") != 0)
        return cc_err_word(cc, &n->words[1], "expected \"priority\" after \"node %u\", not \"%s\"",
                           node, n->words[1].text);
    if ((rc = cc_uint(cc, &n->words[2], "priority", 1, 254, &prio)))
        return rc;
    if (r->node_stmt[node])
        return cc_err_node(cc, n,
                           "node %u priority is given twice in redundancy-group %u (first "
                           "at %u:%u)",
                           node, r->rg->id, r->node_stmt[node]->line, r->node_stmt[node]->col);
    r->node_stmt[node] = n;
    r->rg->priority[node] = prio;
    return 0;
}

static int rg_preempt(struct cc *cc, const struct config_node *n, void *ctx)
{
    ((struct rg_ctx *)ctx)->rg->preempt = true;
    return cc_leaf(cc, n, 0, 0, "preempt");
}

static int rg_garp(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct rg_ctx *r = ctx;
    int rc = cc_leaf(cc, n, 1, 1, "gratuitous-arp-count 1..16");
    return rc ? rc
              : cc_uint(cc, &n->words[0], "gratuitous-arp-count", 1, 16,
                        &r->rg->gratuitous_arp_count);
}

static int rg_monitor(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_redundancy_group *rg = ((struct rg_ctx *)ctx)->rg;
    int rc = cc_block(cc, n, 0, "interface-monitor");
    if (rc)
        return rc;
    for (unsigned i = 0; i < n->n_children; i++) {
        const struct config_node *m = n->children[i];
        unsigned weight = 0;
        if ((rc = cc_leaf(cc, m, 2, 2, "INTERFACE weight 0..255")))
            return rc;
        if (strcmp(m->words[0].text, "weight") != 0)
            return cc_err_word(cc, &m->words[0], "expected \"%s weight 0..255\", not \"%s\"",
                               m->keyword, m->words[0].text);
        if ((rc = cc_uint(cc, &m->words[1], "weight", 0, 255, &weight)))
            return rc;
        int idx = cc_find_iface(cc->cfg, m->keyword);
        if (idx < 0)
            return cc_err_node(
                cc, m, "monitored interface \"%s\" is not configured under interfaces", m->keyword);
        for (unsigned k = 0; k < rg->n_monitors; k++) {
            if (rg->monitors[k].iface == (unsigned)idx)
                return cc_err_node(cc, m, "interface %s is monitored twice in redundancy-group %u",
                                   m->keyword, rg->id);
        }
        struct cfg_rg_monitor *mon =
            cfg_arena_push(cc->a, &rg->monitors, &rg->n_monitors, sizeof(*mon));
        if (!mon)
            return cc_oom(cc);
        snprintf(mon->ifname, sizeof(mon->ifname), "%s", cc->cfg->ifaces[idx].name);
        mon->iface = (unsigned)idx;
        mon->weight = weight;
    }
    return 0;
}

static int cl_rg(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"node", rg_node, true},
        {"preempt", rg_preempt, false},
        {"gratuitous-arp-count", rg_garp, false},
        {"interface-monitor", rg_monitor, false},
        {"description", cc_description, false},
    };
    struct cfg_cluster *cl = ((struct cluster_ctx *)ctx)->cl;
    unsigned id = 0;
    int rc = cc_block(cc, n, 1, "redundancy-group N");
    if (rc || (rc = cc_uint(cc, &n->words[0], "redundancy-group", 0, 128, &id)))
        return rc;
    for (unsigned i = 0; i < cl->n_rgs; i++) {
        if (cl->rgs[i].id == id)
            return cc_err_word(cc, &n->words[0],
                               "redundancy-group %u is already defined on line %u", id,
                               cl->rgs[i].line);
    }
    struct cfg_redundancy_group *rg = cfg_arena_push(cc->a, &cl->rgs, &cl->n_rgs, sizeof(*rg));
    if (!rg)
        return cc_oom(cc);
    rg->id = id;
    rg->line = n->line;
    rg->gratuitous_arp_count = 4;
    struct rg_ctx r = {.rg = rg};
    if ((rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &r)))
        return rc;
    for (unsigned node = 0; node < 2; node++) {
        if (!r.node_stmt[node])
            return cc_err_word(cc, &n->words[0],
                               "redundancy-group %u needs a priority for node %u (node %u "
                               "priority 1..254;)",
                               id, node, node);
    }
    return 0;
}

static int chassis_cluster(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"cluster-id", cl_cluster_id, false},
        {"node-id", cl_node_id, false},
        {"control-interface", cl_control, false},
        {"authentication-key", cl_key, false},
        {"heartbeat-interval", cl_hb_interval, false},
        {"heartbeat-threshold", cl_hb_threshold, false},
        {"redundancy-group", cl_rg, true},
    };
    int rc = cc_block(cc, n, 0, "cluster");
    if (rc)
        return rc;
    struct cfg_cluster *cl = cfg_arena_alloc(cc->a, sizeof(*cl));
    if (!cl)
        return cc_oom(cc);
    /* Defaults (documented in moat-controld(8)): a dead peer is declared lost after 600 ms
     * of silence (3 x 200 ms), or 400 ms after its last heartbeat when its controld also
     * closed the session-sync connection, so a failover completes within 1 s. */
    cl->heartbeat_interval_ms = 200;
    cl->heartbeat_threshold = 3;
    cc->cfg->cluster = cl;
    struct cluster_ctx c = {.cl = cl};
    if ((rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &c)))
        return rc;
    const char *missing = !c.cluster_id ? "cluster-id 1..255"
                          : !c.node_id  ? "node-id 0|1"
                          : !c.control  ? "control-interface NAME { local-address A; "
                                          "peer-address A; }"
                          : !c.key      ? "authentication-key \"SECRET\""
                                        : NULL;
    if (missing)
        return cc_err_node(cc, n, "chassis cluster needs %s", missing);
    return 0;
}

int cc_compile_cluster(struct cc *cc, const struct config_node *chassis)
{
    static const struct cc_stmt tab[] = {{"cluster", chassis_cluster, false}};
    return cc_dispatch(cc, chassis, tab, 1, NULL);
}

int cc_check_cluster_refs(struct cc *cc)
{
    for (unsigned i = 0; i < cc->cfg->n_ifaces; i++) {
        const struct cfg_interface *ifc = &cc->cfg->ifaces[i];
        const struct config_word *w = cc->iface_src[i].rg_word;
        if (ifc->redundancy_group < 0)
            continue;
        if (!cc->cfg->cluster)
            return cc_err_word(cc, w,
                               "interface %s is in redundancy-group %d but there is no chassis "
                               "cluster (add chassis cluster { ... })",
                               ifc->name, ifc->redundancy_group);
        if (!config_find_rg(cc->cfg, (unsigned)ifc->redundancy_group))
            return cc_err_word(cc, w,
                               "redundancy-group %d of interface %s is not defined (define it "
                               "under chassis cluster redundancy-group %d)",
                               ifc->redundancy_group, ifc->name, ifc->redundancy_group);
    }
    return 0;
}
