/* SPDX-License-Identifier: MIT */
/*
 * config.c — loading: text → tree (config_tree.c) → typed model, checked. This file holds
 * the top level, `system`, `interfaces` and `routing-options`; config_security.c,
 * config_nat.c and config_cluster.c compile the rest.
 */
#include "config_internal.h"
#include "config_lexer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_FILE (16u << 20)

/* ---- system ---- */

static int dp_mode(struct cc *cc, const struct config_node *n, void *ctx)
{
    int rc = cc_leaf(cc, n, 1, 1, "mode auto|userspace|legacy");
    if (rc)
        return rc;
    const char *m = n->words[0].text;
    if (strcmp(m, "auto") == 0)
        cc->cfg->system.mode = CFG_MODE_AUTO;
    else if (strcmp(m, "userspace") == 0)
        cc->cfg->system.mode = CFG_MODE_USERSPACE;
    else if (strcmp(m, "legacy") == 0)
        cc->cfg->system.mode = CFG_MODE_LEGACY;
    else
        return cc_err_word(cc, &n->words[0],
                           "invalid dataplane mode \"%s\" (expected auto, userspace or legacy)", m);
    return 0;
}

static int dp_workers(struct cc *cc, const struct config_node *n, void *ctx)
{
    int rc = cc_leaf(cc, n, 1, 1, "workers 1..16");
    return rc ? rc : cc_uint(cc, &n->words[0], "workers", 1, 16, &cc->cfg->system.workers);
}

/* worker-cpus N; or worker-cpus [ N M ... ]: the CPUs the workers are pinned to, in order (worker
 * i on the (i mod n)-th), each one that exists on this machine (a config naming CPU 7 on a
 * 4-CPU box is refused here, not found broken when the helper starts). */
static int dp_worker_cpus(struct cc *cc, const struct config_node *n, void *ctx)
{
    const struct config_word **w = NULL;
    unsigned count = 0;
    struct cfg_system *sys = &cc->cfg->system;
    int rc = cc_values(cc, n, 0, "worker-cpus N; or worker-cpus [ N M ... ];", &w, &count);
    if (rc)
        return rc;
    if (count > sizeof(sys->worker_cpus) / sizeof(sys->worker_cpus[0]))
        return cc_err_word(cc, w[16], "worker-cpus names %u CPUs; at most 16 (one per worker)",
                           count);
    const long conf = sysconf(_SC_NPROCESSORS_CONF);
    const unsigned long ncpu = conf > 0 ? (unsigned long)conf : 1;
    for (unsigned i = 0; i < count; i++) {
        unsigned cpu = 0;
        if ((rc = cc_uint(cc, w[i], "worker-cpus", 0, 1023, &cpu)))
            return rc;
        if (cpu >= ncpu)
            return cc_err_word(cc, w[i],
                               "worker-cpus: CPU %u does not exist (this machine has CPUs 0..%lu)",
                               cpu, ncpu - 1);
        for (unsigned j = 0; j < i; j++)
            if (sys->worker_cpus[j] == cpu)
                return cc_err_word(cc, w[i], "worker-cpus: CPU %u is named twice", cpu);
        sys->worker_cpus[i] = cpu;
    }
    sys->n_worker_cpus = count;
    return 0;
}

static int dp_ring_size(struct cc *cc, const struct config_node *n, void *ctx)
{
    unsigned v = 0;
    int rc = cc_leaf(cc, n, 1, 1, "ring-size N");
    if (rc || (rc = cc_uint(cc, &n->words[0], "ring-size", 64, 16384, &v)))
        return rc;
    if (v & (v - 1)) {
        unsigned lower = 64;
        while (lower * 2 < v)
            lower *= 2;
        return cc_err_word(cc, &n->words[0],
                           "ring-size %u is not a power of two (AF_XDP rings need one; the "
                           "nearest are %u and %u)",
                           v, lower, lower * 2);
    }
    cc->cfg->system.ring_size = v;
    return 0;
}

static int dp_frame_size(struct cc *cc, const struct config_node *n, void *ctx)
{
    unsigned v = 0;
    int rc = cc_leaf(cc, n, 1, 1, "frame-size 2048|4096");
    if (rc || (rc = cc_uint(cc, &n->words[0], "frame-size", 0, 65536, &v)))
        return rc;
    if (v != 2048 && v != 4096)
        return cc_err_word(cc, &n->words[0],
                           "frame-size %u is not supported (an AF_XDP frame is 2048 or 4096 "
                           "bytes)",
                           v);
    cc->cfg->system.frame_size = v;
    return 0;
}

static int sys_dataplane(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"mode", dp_mode, false},
        {"workers", dp_workers, false},
        {"worker-cpus", dp_worker_cpus, false},
        {"ring-size", dp_ring_size, false},
        {"frame-size", dp_frame_size, false},
    };
    int rc = cc_block(cc, n, 0, "dataplane");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), NULL);
}

static int sys_host_name(struct cc *cc, const struct config_node *n, void *ctx)
{
    int rc = cc_leaf(cc, n, 1, 1, "host-name NAME");
    return rc ? rc
              : cc_name(cc, &n->words[0], "host", cc->cfg->system.host_name,
                        sizeof(cc->cfg->system.host_name));
}

static int prom_address(struct cc *cc, const struct config_node *n, void *ctx)
{
    int rc = cc_leaf(cc, n, 1, 1, "listen-address ADDRESS");
    return rc ? rc
              : cc_addr(cc, &n->words[0], "listen-address", &cc->cfg->system.prometheus.address);
}

static int prom_port(struct cc *cc, const struct config_node *n, void *ctx)
{
    int rc = cc_leaf(cc, n, 1, 1, "port 1..65535");
    return rc ? rc : cc_uint(cc, &n->words[0], "port", 1, 65535, &cc->cfg->system.prometheus.port);
}

/* services { prometheus { listen-address 127.0.0.1; port 9469; } } */
static int svc_prometheus(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"listen-address", prom_address, false},
        {"port", prom_port, false},
    };
    struct cfg_prometheus *p = &cc->cfg->system.prometheus;
    int rc = cc_block(cc, n, 0, "prometheus { listen-address ADDRESS; port N; }");
    if (rc)
        return rc;
    p->enabled = true;
    p->address = (struct cfg_prefix){.family = 4, .len = 32, .addr = {127, 0, 0, 1}};
    p->port = 9469;
    return cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), NULL);
}

static int sys_services(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"prometheus", svc_prometheus, false},
    };
    int rc = cc_block(cc, n, 0, "services");
    return rc ? rc : cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), NULL);
}

static int compile_system(struct cc *cc, const struct config_node *n)
{
    static const struct cc_stmt tab[] = {
        {"host-name", sys_host_name, false},
        {"dataplane", sys_dataplane, false},
        {"services", sys_services, false},
    };
    return cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), NULL);
}

/* ---- interfaces ---- */

struct family_ctx {
    unsigned iface;
    uint8_t family;
    const struct config_node **vips;
    unsigned n_vips;
};

static bool same_addr(const struct cfg_prefix *a, const struct cfg_prefix *b)
{
    return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

static int if_address(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct family_ctx *fc = ctx;
    struct cfg_interface *ifc = &cc->cfg->ifaces[fc->iface];
    struct cfg_prefix p = {0};
    char ps[64], os[64];
    int rc = cc_leaf(cc, n, 1, 1, "address ADDRESS/LENGTH");
    if (rc || (rc = cc_prefix(cc, &n->words[0], "address", CC_PFX_HOST_BITS_OK, &p)))
        return rc;
    if (p.family != fc->family)
        return cc_err_word(cc, &n->words[0], "address %s is %s but family %s holds %s addresses",
                           n->words[0].text, cc_family_name(p.family),
                           fc->family == 6 ? "inet6" : "inet", cc_family_name(fc->family));
    for (unsigned i = 0; i < ifc->n_addrs; i++) {
        if (same_addr(&ifc->addrs[i], &p))
            return cc_err_word(cc, &n->words[0], "address %s is given twice on %s",
                               n->words[0].text, ifc->name);
    }
    for (unsigned j = 0; j < fc->iface; j++) {
        const struct cfg_interface *o = &cc->cfg->ifaces[j];
        for (unsigned i = 0; i < o->n_addrs; i++) {
            if (cc_prefix_overlap(&o->addrs[i], &p)) {
                cc_prefix_str(&p, ps, sizeof(ps));
                cc_prefix_str(&o->addrs[i], os, sizeof(os));
                return cc_err_word(cc, &n->words[0],
                                   "address %s on %s overlaps %s on %s (each interface needs "
                                   "its own subnet)",
                                   ps, ifc->name, os, o->name);
            }
        }
    }
    struct cfg_prefix *slot = cfg_arena_push(cc->a, &ifc->addrs, &ifc->n_addrs, sizeof(*slot));
    if (!slot)
        return cc_oom(cc);
    *slot = p;
    return 0;
}

static int if_vip_defer(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct family_ctx *fc = ctx;
    const struct config_node **slot = cfg_arena_push(cc->a, &fc->vips, &fc->n_vips, sizeof(*slot));
    if (!slot)
        return cc_oom(cc);
    *slot = n;
    return 0;
}

static int if_vip(struct cc *cc, struct family_ctx *fc, const struct config_node *n)
{
    struct cfg_interface *ifc = &cc->cfg->ifaces[fc->iface];
    struct cfg_prefix v = {0};
    const struct config_word *w = &n->words[0];
    int rc = cc_leaf(cc, n, 1, 1, "virtual-address ADDRESS");
    if (rc || (rc = cc_addr(cc, w, "virtual-address", &v)))
        return rc;
    const char *fam = fc->family == 6 ? "inet6" : "inet";
    if (v.family != fc->family)
        return cc_err_word(cc, w, "virtual-address %s is %s but family %s holds %s addresses",
                           w->text, cc_family_name(v.family), fam, cc_family_name(fc->family));
    const struct cfg_prefix *subnet = NULL;
    for (unsigned i = 0; i < ifc->n_addrs; i++) {
        if (same_addr(&ifc->addrs[i], &v))
            return cc_err_word(cc, w,
                               "virtual-address %s is %s's own address; a VIP must be another "
                               "address of the subnet",
                               w->text, ifc->name);
        if (!subnet && config_prefix_contains(&ifc->addrs[i], v.family, v.addr))
            subnet = &ifc->addrs[i];
    }
    if (!subnet)
        return cc_err_word(cc, w,
                           "virtual-address %s is not inside any family %s address of %s "
                           "(the VIP takes its length from that subnet)",
                           w->text, fam, ifc->name);
    for (unsigned j = 0; j < cc->cfg->n_ifaces; j++) {
        const struct cfg_interface *o = &cc->cfg->ifaces[j];
        for (unsigned i = 0; i < o->n_vips; i++) {
            if (same_addr(&o->vips[i], &v))
                return cc_err_word(cc, w, "virtual-address %s is already used on %s", w->text,
                                   o->name);
        }
    }
    v.len = subnet->len;
    struct cfg_prefix *slot = cfg_arena_push(cc->a, &ifc->vips, &ifc->n_vips, sizeof(*slot));
    if (!slot)
        return cc_oom(cc);
    *slot = v;
    if (!cc->iface_src[fc->iface].vip_word)
        cc->iface_src[fc->iface].vip_word = w;
    return 0;
}

static int if_family(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"address", if_address, true},
        {"virtual-address", if_vip_defer, true},
    };
    struct family_ctx fc = {.iface = *(unsigned *)ctx};
    int rc = cc_block(cc, n, 1, "family inet|inet6");
    if (rc)
        return rc;
    const char *f = n->words[0].text;
    if (strcmp(f, "inet") == 0)
        fc.family = 4;
    else if (strcmp(f, "inet6") == 0)
        fc.family = 6;
    else
        return cc_err_word(cc, &n->words[0], "unknown family \"%s\" (expected inet or inet6)", f);
    for (unsigned i = 0; i < n->parent->n_children; i++) {
        const struct config_node *prev = n->parent->children[i];
        if (prev == n)
            break;
        if (strcmp(prev->keyword, "family") == 0 && prev->n_words &&
            strcmp(prev->words[0].text, f) == 0)
            return cc_err_word(cc, &n->words[0], "family %s is given twice (first at %u:%u)", f,
                               prev->line, prev->col);
    }
    if ((rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &fc)))
        return rc;
    for (unsigned i = 0; i < fc.n_vips; i++) {
        if ((rc = if_vip(cc, &fc, fc.vips[i])))
            return rc;
    }
    return 0;
}

static int if_unit(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {
        {"family", if_family, true},
        {"description", cc_description, false},
    };
    int rc = cc_block(cc, n, 1, "unit 0");
    if (rc)
        return rc;
    if (strcmp(n->words[0].text, "0") != 0)
        return cc_err_word(cc, &n->words[0],
                           "unit %s is not supported (Moat has one unit per interface: unit 0)",
                           n->words[0].text);
    return cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), ctx);
}

static int if_mtu(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_interface *ifc = &cc->cfg->ifaces[*(unsigned *)ctx];
    int rc = cc_leaf(cc, n, 1, 1, "mtu BYTES");
    return rc ? rc : cc_uint(cc, &n->words[0], "mtu", 68, 9216, &ifc->mtu);
}

static int if_rg(struct cc *cc, const struct config_node *n, void *ctx)
{
    unsigned idx = *(unsigned *)ctx;
    unsigned v = 0;
    int rc = cc_leaf(cc, n, 1, 1, "redundancy-group 1..128");
    if (rc)
        return rc;
    if (strcmp(n->words[0].text, "0") == 0)
        return cc_err_word(cc, &n->words[0],
                           "redundancy-group 0 belongs to the control plane; interfaces belong "
                           "to groups 1 and up");
    if ((rc = cc_uint(cc, &n->words[0], "redundancy-group", 1, 128, &v)))
        return rc;
    cc->cfg->ifaces[idx].redundancy_group = (int)v;
    cc->iface_src[idx].rg_word = &n->words[0];
    return 0;
}

static int compile_interfaces(struct cc *cc, const struct config_node *top)
{
    static const struct cc_stmt tab[] = {
        {"mtu", if_mtu, false},
        {"redundancy-group", if_rg, false},
        {"unit", if_unit, false},
        {"description", cc_description, false},
    };
    for (unsigned i = 0; i < top->n_children; i++) {
        const struct config_node *n = top->children[i];
        const char *name = n->keyword;
        size_t len = strlen(name);
        if (len == 0 || len >= IFNAMSIZ)
            return cc_err_node(cc, n,
                               "interface name \"%.40s\" is too long (Linux allows at most %d "
                               "characters)",
                               name, IFNAMSIZ - 1);
        if (strchr(name, '/') || strchr(name, ':') || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0 || strpbrk(name, " \t\"#"))
            return cc_err_node(cc, n, "\"%s\" is not a valid Linux interface name", name);
        for (unsigned j = 0; j < cc->cfg->n_ifaces; j++) {
            if (strcmp(cc->cfg->ifaces[j].name, name) == 0)
                return cc_err_node(cc, n, "interface %s is already defined at %u:%u", name,
                                   cc->iface_src[j].node->line, cc->iface_src[j].node->col);
        }
        struct cfg_interface *ifc =
            cfg_arena_push(cc->a, &cc->cfg->ifaces, &cc->cfg->n_ifaces, sizeof(*ifc));
        struct cc_iface_src *src =
            ifc ? cfg_arena_push(cc->a, &cc->iface_src, &cc->n_iface_src, sizeof(*src)) : NULL;
        if (!src)
            return cc_oom(cc);
        memcpy(ifc->name, name, len + 1);
        ifc->line = n->line;
        ifc->redundancy_group = -1;
        src->node = n;
        unsigned idx = cc->cfg->n_ifaces - 1;
        int rc;
        if (n->block)
            rc = cc_block(cc, n, 0, name);
        else
            rc = cc_leaf(cc, n, 0, 0, name);
        if (rc || (rc = cc_dispatch(cc, n, tab, sizeof(tab) / sizeof(tab[0]), &idx)))
            return rc;
        ifc = &cc->cfg->ifaces[idx];
        if (ifc->n_vips && ifc->redundancy_group < 0)
            return cc_err_word(cc, src->vip_word,
                               "%s has a virtual-address but no redundancy-group (a VIP moves "
                               "with its group: add redundancy-group N to %s)",
                               name, name);
    }
    return 0;
}

/* ---- routing-options ---- */

static int rt_route(struct cc *cc, const struct config_node *n, void *ctx)
{
    struct cfg_route r = {.line = n->line};
    int rc = cc_leaf(cc, n, 1, 3, "route PREFIX next-hop ADDRESS");
    if (rc || (rc = cc_prefix(cc, &n->words[0], "route", CC_PFX_NETWORK, &r.dst)))
        return rc;
    if (n->n_words == 1)
        return cc_err_node(cc, n, "route %s needs \"next-hop ADDRESS\" or \"discard\"",
                           n->words[0].text);
    const struct config_word *w = &n->words[1];
    if (strcmp(w->text, "discard") == 0) {
        if (n->n_words > 2)
            return cc_extra(cc, n, 2);
        r.discard = true;
    } else if (strcmp(w->text, "next-hop") == 0) {
        struct cfg_prefix nh = {0};
        if (n->n_words < 3)
            return cc_err_word(cc, w, "\"next-hop\" needs an address: route %s next-hop ADDRESS;",
                               n->words[0].text);
        if ((rc = cc_addr(cc, &n->words[2], "next-hop", &nh)))
            return rc;
        if (nh.family != r.dst.family)
            return cc_err_word(cc, &n->words[2], "next-hop %s is %s but route %s is %s",
                               n->words[2].text, cc_family_name(nh.family), n->words[0].text,
                               cc_family_name(r.dst.family));
        memcpy(r.nexthop, nh.addr, sizeof(r.nexthop));
    } else {
        return cc_err_word(
            cc, w, "unexpected \"%s\" in route (expected next-hop ADDRESS or discard)", w->text);
    }
    for (unsigned i = 0; i < cc->cfg->n_routes; i++) {
        const struct cfg_route *o = &cc->cfg->routes[i];
        if (o->dst.family == r.dst.family && o->dst.len == r.dst.len &&
            memcmp(o->dst.addr, r.dst.addr, 16) == 0)
            return cc_err_word(cc, &n->words[0], "route %s is already defined on line %u",
                               n->words[0].text, o->line);
    }
    struct cfg_route *slot =
        cfg_arena_push(cc->a, &cc->cfg->routes, &cc->cfg->n_routes, sizeof(*slot));
    if (!slot)
        return cc_oom(cc);
    *slot = r;
    return 0;
}

static int rt_static(struct cc *cc, const struct config_node *n, void *ctx)
{
    static const struct cc_stmt tab[] = {{"route", rt_route, true}};
    int rc = cc_block(cc, n, 0, "static");
    return rc ? rc : cc_dispatch(cc, n, tab, 1, NULL);
}

static int compile_routing(struct cc *cc, const struct config_node *n)
{
    static const struct cc_stmt tab[] = {{"static", rt_static, false}};
    return cc_dispatch(cc, n, tab, 1, NULL);
}

/* ---- top level ---- */

struct top {
    const struct config_node *system, *interfaces, *routing, *applications, *security, *chassis;
};

#define TOP_HANDLER(fname, field)                                                                  \
    static int fname(struct cc *cc, const struct config_node *n, void *ctx)                        \
    {                                                                                              \
        ((struct top *)ctx)->field = n;                                                            \
        return cc_block(cc, n, 0, n->keyword);                                                     \
    }
TOP_HANDLER(top_system, system)
TOP_HANDLER(top_interfaces, interfaces)
TOP_HANDLER(top_routing, routing)
TOP_HANDLER(top_applications, applications)
TOP_HANDLER(top_security, security)
TOP_HANDLER(top_chassis, chassis)

static int compile(struct cc *cc, const struct config_tree *t)
{
    static const struct cc_stmt tab[] = {
        {"system", top_system, false},
        {"interfaces", top_interfaces, false},
        {"routing-options", top_routing, false},
        {"security", top_security, false},
        {"applications", top_applications, false},
        {"chassis", top_chassis, false},
    };
    struct top top = {0};
    struct moat_config *cfg = cc->cfg;
    cfg->system.mode = CFG_MODE_AUTO;
    cfg->system.workers = 1;
    cfg->system.ring_size = 2048;
    cfg->system.frame_size = 4096;
    cc_security_defaults(cc->sec);

    int rc = cc_dispatch(cc, &t->root, tab, sizeof(tab) / sizeof(tab[0]), &top);
    if (rc)
        return rc;
    if (top.system && (rc = compile_system(cc, top.system)))
        return rc;
    if (top.interfaces && (rc = compile_interfaces(cc, top.interfaces)))
        return rc;
    if (top.routing && (rc = compile_routing(cc, top.routing)))
        return rc;
    if (top.chassis && (rc = cc_compile_cluster(cc, top.chassis)))
        return rc;
    if ((rc = cc_check_cluster_refs(cc)))
        return rc;
    if ((rc = cc_compile_applications(cc, top.applications)))
        return rc;
    if (top.security && (rc = cc_compile_security(cc, top.security)))
        return rc;
    return 0;
}

static int load_buffer(const char *text, size_t len, const char *name, struct moat_config **out,
                       struct config_error *err)
{
    struct config_tree *t;
    int rc = config_tree_parse(text, len, name, &t, err);
    if (rc)
        return rc;
    struct cfg_arena *a = cfg_arena_new();
    struct moat_config *cfg = a ? cfg_arena_alloc(a, sizeof(*cfg)) : NULL;
    struct cfg_security *sec = cfg ? cfg_arena_alloc(a, sizeof(*sec)) : NULL;
    if (!sec) {
        cfg_arena_free(a);
        config_tree_free(t);
        cfg_set_error(err, name, 0, 0, "out of memory");
        return -ENOMEM;
    }
    cfg->arena = a;
    cfg->tree = t;
    cfg->security = sec;
    snprintf(cfg->source_name, sizeof(cfg->source_name), "%s", name);
    struct cc cc = {.cfg = cfg, .sec = sec, .a = a, .err = err, .file = t->file};
    rc = compile(&cc, t);
    if (rc) {
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int config_load_string(const char *text, const char *name, struct moat_config **out,
                       struct config_error *err)
{
    *out = NULL;
    if (err)
        memset(err, 0, sizeof(*err));
    if (!name)
        name = "<string>";
    if (!text)
        return cfg_set_error(err, name, 0, 0, "no configuration text");
    return load_buffer(text, strlen(text), name, out, err);
}

int config_load_file(const char *path, struct moat_config **out, struct config_error *err)
{
    *out = NULL;
    if (err)
        memset(err, 0, sizeof(*err));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        cfg_set_error(err, path, 0, 0, "cannot open the config: %s", strerror(e));
        return -e;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = ncap <= CONFIG_MAX_FILE * 2 ? realloc(buf, ncap) : NULL;
            if (!nb) {
                rc = -ENOMEM;
                cfg_set_error(err, path, 0, 0, "out of memory reading the config");
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            cfg_set_error(err, path, 0, 0, "cannot read the config: %s", strerror(errno));
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > CONFIG_MAX_FILE) {
            rc = -EFBIG;
            cfg_set_error(err, path, 0, 0, "the config is larger than %u MiB",
                          CONFIG_MAX_FILE >> 20);
            break;
        }
    }
    close(fd);
    if (rc == 0)
        rc = load_buffer(buf ? buf : "", len, path, out, err);
    free(buf);
    return rc;
}

void config_free(struct moat_config *cfg)
{
    if (!cfg)
        return;
    config_tree_free(cfg->tree);
    cfg_arena_free(cfg->arena); /* cfg itself lives in its arena */
}

void config_error_format(const struct config_error *err, char *buf, size_t len)
{
    if (!len)
        return;
    if (err->line)
        snprintf(buf, len, "%s:%u:%u: %s", err->file, err->line, err->col, err->message);
    else if (err->file[0])
        snprintf(buf, len, "%s: %s", err->file, err->message);
    else
        snprintf(buf, len, "%s", err->message);
}

int config_print_tree(const struct moat_config *cfg, FILE *out)
{
    return cfg->tree ? config_tree_print(cfg->tree, out) : 0;
}

int config_print_set(const struct moat_config *cfg, FILE *out)
{
    return cfg->tree ? config_tree_print_set(cfg->tree, out) : 0;
}

/* ---- look-ups ---- */

const struct cfg_interface *config_find_interface(const struct moat_config *cfg, const char *name)
{
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        if (strcmp(cfg->ifaces[i].name, name) == 0)
            return &cfg->ifaces[i];
    }
    return NULL;
}

const struct cfg_zone *config_find_zone(const struct moat_config *cfg, const char *name)
{
    const struct cfg_security *s = cfg->security;
    for (unsigned i = 0; s && i < s->n_zones; i++) {
        if (strcmp(s->zones[i].name, name) == 0)
            return &s->zones[i];
    }
    return NULL;
}

const struct cfg_zone *config_zone_by_id(const struct moat_config *cfg, unsigned zone_id)
{
    const struct cfg_security *s = cfg->security;
    if (!s || zone_id == 0 || zone_id > s->n_zones)
        return NULL;
    return &s->zones[zone_id - 1];
}

const struct cfg_application *config_find_application(const struct moat_config *cfg,
                                                      const char *name)
{
    const struct cfg_security *s = cfg->security;
    for (unsigned i = 0; s && i < s->n_apps; i++) {
        if (strcmp(s->apps[i].name, name) == 0)
            return &s->apps[i];
    }
    return NULL;
}

const struct cfg_redundancy_group *config_find_rg(const struct moat_config *cfg, unsigned id)
{
    for (unsigned i = 0; cfg->cluster && i < cfg->cluster->n_rgs; i++) {
        if (cfg->cluster->rgs[i].id == id)
            return &cfg->cluster->rgs[i];
    }
    return NULL;
}
