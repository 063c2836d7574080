/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.c — controld's start-up order (DESIGN.md "Lifecycle"), arming and disarming,
 * and the Snapshot it hands the helper.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controld.h"
#include "helper.h"
#include "log.h"
#include "netlink.h"
#include "operator.h"

uint64_t ctl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ctl_iface *ctl_iface_by_ifindex(struct controld *c, uint32_t ifindex)
{
	for (unsigned i = 0; i < c->n_ifaces; i++) {
		if (c->ifaces[i].ifindex == ifindex && ifindex != 0)
			return &c->ifaces[i];
	}
	return NULL;
}

/* ---- neighbours ---- */

static int neigh_find(struct controld *c, uint8_t family, const uint8_t *addr, uint32_t ifindex)
{
	size_t alen = family == 6 ? 16 : 4;
	for (unsigned i = 0; i < c->n_neigh; i++) {
		struct ctl_neigh *n = &c->neigh[i];
		if (n->family == family && n->ifindex == ifindex && memcmp(n->addr, addr, alen) == 0)
			return (int)i;
	}
	return -1;
}

void ctl_neigh_upsert(struct controld *c, const struct ctl_neigh *n, bool *changed)
{
	*changed = false;
	int i = neigh_find(c, n->family, n->addr, n->ifindex);
	if (i >= 0) {
		if (memcmp(c->neigh[i].mac, n->mac, 6) != 0) {
			*changed = true;
		}
		c->neigh[i] = *n;
		return;
	}
	if (c->n_neigh >= CONTROLD_MAX_NEIGH) {
		log_warn("neighbour table full (%u entries): not tracking a new neighbour",
			 CONTROLD_MAX_NEIGH);
		return;
	}
	c->neigh[c->n_neigh++] = *n;
	*changed = true;
}

void ctl_neigh_remove(struct controld *c, uint8_t family, const uint8_t *addr, uint32_t ifindex,
		      bool *changed)
{
	*changed = false;
	int i = neigh_find(c, family, addr, ifindex);
	if (i < 0)
		return;
	c->neigh[i] = c->neigh[--c->n_neigh];
	*changed = true;
}

static void on_neigh_event(struct controld *c, const struct ctl_neigh *n, bool removed)
{
	if (!ctl_iface_by_ifindex(c, n->ifindex))
		return;
	bool changed;
	if (removed)
		ctl_neigh_remove(c, n->family, n->addr, n->ifindex, &changed);
	else
		ctl_neigh_upsert(c, n, &changed);
	if (changed) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(n->family == 6 ? AF_INET6 : AF_INET, n->addr, a, sizeof(a));
		log_debug("neighbour %s on ifindex %u %s", a, n->ifindex,
			  removed ? "removed" : netlink_neigh_state_name(n->state));
		helper_send_neighbor(c->helper, n, removed);
	}
}

static void on_link_event(struct controld *c, uint32_t ifindex, const char *name, bool up,
			  uint32_t mtu)
{
	struct ctl_iface *ifc = ctl_iface_by_ifindex(c, ifindex);
	if (!ifc)
		return;
	if (ifc->link_up != up)
		log_info("interface %s: link %s", ifc->name, up ? "up" : "down");
	ifc->link_up = up;
	if (mtu)
		ifc->mtu = mtu;
}

/* ---- arming ---- */

void lifecycle_disarm(struct controld *c, const char *why)
{
	bool was = c->armed;
	for (unsigned i = 0; i < c->n_ifaces; i++) {
		struct ctl_iface *ifc = &c->ifaces[i];
		if (ifc->ifindex && c->bpf)
			bootstrap_set_armed(c->bpf, ifc->ifindex, false);
		ifc->armed = false;
	}
	c->armed = false;
	if (was) {
		c->disarms++;
		log_warn("forwarding disarmed: %s (transit traffic falls back to the kernel path)",
			 why);
	}
	if (!c->stopping)
		c->phase = "waiting-for-helper";
}

void lifecycle_helper_applied(struct controld *c, uint64_t gen)
{
	c->applied_generation = gen;
	if (strcmp(c->mode, "userspace") != 0) {
		log_info("helper applied generation %llu; mode is %s, forwarding stays disarmed",
			 (unsigned long long)gen, c->mode);
		c->phase = "running";
		return;
	}
	unsigned armed = 0;
	char missing[256] = "";
	for (unsigned i = 0; i < c->n_ifaces; i++) {
		struct ctl_iface *ifc = &c->ifaces[i];
		if (!ifc->ifindex || ifc->xdp_mode == MOAT_XDP_NONE)
			continue;
		/* Never trust "ready": every queue must have its socket in the map. */
		bool all = true;
		for (uint32_t q = 0; q < ifc->queues && q < MOAT_MAX_QUEUES; q++) {
			bool present = false;
			int err = bootstrap_xsk_present(c->bpf, ifc->slot, q, &present);
			if (err || !present) {
				all = false;
				size_t l = strlen(missing);
				snprintf(missing + l, sizeof(missing) - l, "%s%s queue %u",
					 l ? ", " : "", ifc->name, q);
			}
		}
		if (!all) {
			snprintf(ifc->bind_error_text, sizeof(ifc->bind_error_text),
				 "no socket in moat_xsks although the helper applied generation "
				 "%llu",
				 (unsigned long long)gen);
			continue;
		}
		if (bootstrap_set_armed(c->bpf, ifc->ifindex, true) == 0) {
			ifc->armed = true;
			armed++;
		}
	}
	bootstrap_set_generation(c->bpf, gen);
	if (missing[0])
		log_err("not arming %s: the XSK map has no socket there (the helper said it bound "
			"them)",
			missing);
	c->armed = armed > 0;
	if (c->armed) {
		c->arms++;
		c->phase = "running";
		log_info("forwarding armed on %u interface(s) at generation %llu", armed,
			 (unsigned long long)gen);
	}
	/* The reason names what the bind actually returned, never a guess. */
	char modes[256] = "";
	for (unsigned i = 0; i < c->n_ifaces; i++) {
		struct ctl_iface *ifc = &c->ifaces[i];
		size_t l = strlen(modes);
		snprintf(modes + l, sizeof(modes) - l, "%s%s %s/%s", l ? ", " : "", ifc->name,
			 xdp_attach_mode_name(ifc->xdp_mode),
			 ifc->xsk_mode[0] ? ifc->xsk_mode : "unbound");
	}
	snprintf(c->mode_reason, sizeof(c->mode_reason),
		 "%s: XDP shim attached and AF_XDP sockets bound (XDP mode/XSK mode: %s)",
		 c->cfg->system.mode == CFG_MODE_AUTO ? "auto" : "forced by config", modes);
}

/* ---- snapshot ---- */

static Moat__Prefix *prefix_new(const struct cfg_prefix *p)
{
	Moat__Prefix *m = malloc(sizeof(*m) + 16);
	if (!m)
		return NULL;
	moat__prefix__init(m);
	uint8_t *bytes = (uint8_t *)(m + 1);
	memcpy(bytes, p->addr, 16);
	m->addr.data = bytes;
	m->addr.len = p->family == 6 ? 16 : 4;
	m->len = p->len;
	return m;
}

static void prefix_mask(struct cfg_prefix *p)
{
	unsigned bits = p->family == 6 ? 128 : 32;
	for (unsigned b = p->len; b < bits; b++)
		p->addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
}

static bool prefix_contains(const struct cfg_prefix *net, uint8_t family, const uint8_t *addr)
{
	if (net->family != family)
		return false;
	for (unsigned b = 0; b < net->len; b++) {
		uint8_t m = (uint8_t)(0x80 >> (b % 8));
		if ((net->addr[b / 8] & m) != (addr[b / 8] & m))
			return false;
	}
	return true;
}

/* The managed interface whose connected prefix holds addr, or NULL. */
static struct ctl_iface *iface_for_nexthop(struct controld *c, uint8_t family, const uint8_t *addr)
{
	for (unsigned i = 0; i < c->n_ifaces; i++) {
		const struct cfg_interface *ci = config_find_interface(c->cfg, c->ifaces[i].name);
		if (!ci || !c->ifaces[i].ifindex)
			continue;
		for (unsigned a = 0; a < ci->n_addrs; a++) {
			if (prefix_contains(&ci->addrs[a], family, addr))
				return &c->ifaces[i];
		}
	}
	return NULL;
}

void snapshot_free(Moat__Snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_interfaces; i++) {
		Moat__Interface *m = s->interfaces[i];
		for (size_t a = 0; a < m->n_addresses; a++)
			free(m->addresses[a]);
		free(m->addresses);
		free(m);
	}
	free(s->interfaces);
	for (size_t i = 0; i < s->n_routes; i++) {
		free(s->routes[i]->dst);
		free(s->routes[i]);
	}
	free(s->routes);
	for (size_t i = 0; i < s->n_neighbors; i++)
		free(s->neighbors[i]);
	free(s->neighbors);
	free(s->settings);
	free(s);
}

Moat__Snapshot *snapshot_build(struct controld *c)
{
	const struct moat_config *cfg = c->cfg;
	Moat__Snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	moat__snapshot__init(s);
	s->generation = c->generation;

	Moat__DataplaneSettings *set = calloc(1, sizeof(*set));
	if (!set)
		goto fail;
	moat__dataplane_settings__init(set);
	set->workers = cfg->system.workers ? cfg->system.workers : 1;
	set->ring_size = cfg->system.ring_size ? cfg->system.ring_size : 2048;
	set->frame_size = cfg->system.frame_size ? cfg->system.frame_size : 4096;
	set->batch_size = 64;
	set->pending_tx_limit = 1024;
	set->heartbeat_ms = HELPER_HEARTBEAT_MS;
	set->bpffs_dir = (char *)c->bpffs_dir;
	s->settings = set;

	/* Interfaces: every managed one present in the kernel with the shim attached. */
	s->interfaces = calloc(c->n_ifaces ? c->n_ifaces : 1, sizeof(*s->interfaces));
	size_t max_routes = c->n_ifaces * 8 + cfg->n_routes + 1;
	s->routes = calloc(max_routes, sizeof(*s->routes));
	s->neighbors = calloc(c->n_neigh ? c->n_neigh : 1, sizeof(*s->neighbors));
	if (!s->interfaces || !s->routes || !s->neighbors)
		goto fail;
	for (unsigned i = 0; i < c->n_ifaces; i++) {
		struct ctl_iface *ifc = &c->ifaces[i];
		if (!ifc->ifindex || ifc->xdp_mode == MOAT_XDP_NONE)
			continue;
		const struct cfg_interface *ci = config_find_interface(cfg, ifc->name);
		Moat__Interface *m = calloc(1, sizeof(*m));
		if (!m)
			goto fail;
		moat__interface__init(m);
		s->interfaces[s->n_interfaces++] = m;
		m->ifindex = ifc->ifindex;
		m->name = ifc->name;
		m->mac.data = ifc->mac;
		m->mac.len = 6;
		m->mtu = ifc->mtu;
		m->slot = ifc->slot;
		m->queues = ifc->queues;
		m->zone_id = ifc->zone_id;
		m->userspace = strcmp(c->mode, "userspace") == 0;
		m->link_up = ifc->link_up;
		unsigned na = ci ? ci->n_addrs : 0;
		m->addresses = calloc(na ? na : 1, sizeof(*m->addresses));
		if (!m->addresses)
			goto fail;
		for (unsigned a = 0; a < na; a++) {
			Moat__Prefix *p = prefix_new(&ci->addrs[a]);
			if (!p)
				goto fail;
			m->addresses[m->n_addresses++] = p;
			/* Connected route. */
			if (s->n_routes < max_routes) {
				struct cfg_prefix net = ci->addrs[a];
				prefix_mask(&net);
				Moat__Route *r = calloc(1, sizeof(*r));
				if (!r)
					goto fail;
				moat__route__init(r);
				r->dst = prefix_new(&net);
				if (!r->dst) {
					free(r);
					goto fail;
				}
				r->ifindex = ifc->ifindex;
				r->kind = MOAT__ROUTE_KIND__ROUTE_CONNECTED;
				s->routes[s->n_routes++] = r;
			}
		}
	}
	/* Static routes whose next hop sits on a connected prefix. */
	for (unsigned i = 0; i < cfg->n_routes && s->n_routes < max_routes; i++) {
		const struct cfg_route *cr = &cfg->routes[i];
		if (cr->discard)
			continue;
		struct ctl_iface *egress = iface_for_nexthop(c, cr->dst.family, cr->nexthop);
		if (!egress) {
			char a[INET6_ADDRSTRLEN];
			inet_ntop(cr->dst.family == 6 ? AF_INET6 : AF_INET, cr->nexthop, a, sizeof(a));
			log_warn("static route (config line %u): next hop %s is on no managed "
				 "interface's subnet; route not installed",
				 cr->line, a);
			continue;
		}
		Moat__Route *r = calloc(1, sizeof(*r) + 16);
		if (!r)
			goto fail;
		moat__route__init(r);
		r->dst = prefix_new(&cr->dst);
		if (!r->dst) {
			free(r);
			goto fail;
		}
		uint8_t *gw = (uint8_t *)(r + 1);
		memcpy(gw, cr->nexthop, 16);
		r->gateway.data = gw;
		r->gateway.len = cr->dst.family == 6 ? 16 : 4;
		r->ifindex = egress->ifindex;
		r->kind = MOAT__ROUTE_KIND__ROUTE_STATIC;
		s->routes[s->n_routes++] = r;
	}
	for (unsigned i = 0; i < c->n_neigh; i++) {
		Moat__Neighbor *m = calloc(1, sizeof(*m));
		if (!m)
			goto fail;
		moat__neighbor__init(m);
		const struct ctl_neigh *n = &c->neigh[i];
		m->addr.data = (uint8_t *)n->addr;
		m->addr.len = n->family == 6 ? 16 : 4;
		m->ifindex = n->ifindex;
		m->mac.data = (uint8_t *)n->mac;
		m->mac.len = 6;
		m->state = n->state;
		s->neighbors[s->n_neighbors++] = m;
	}
	return s;
fail:
	log_err("out of memory building the snapshot");
	snapshot_free(s);
	return NULL;
}

/* ---- start-up ---- */

struct local_collect {
	struct bootstrap_local_addr *v;
	unsigned n, max;
	uint32_t ifindex;
};

static void local_add(struct local_collect *lc, uint8_t family, const uint8_t *addr)
{
	for (unsigned i = 0; i < lc->n; i++) {
		if (lc->v[i].family == family &&
		    memcmp(lc->v[i].addr, addr, family == 6 ? 16 : 4) == 0)
			return;
	}
	if (lc->n >= lc->max)
		return;
	struct bootstrap_local_addr *a = &lc->v[lc->n++];
	memset(a, 0, sizeof(*a));
	a->family = family;
	memcpy(a->addr, addr, family == 6 ? 16 : 4);
	a->ifindex = lc->ifindex;
}

static void local_visit(void *arg, const struct cfg_prefix *p)
{
	local_add(arg, p->family, p->addr);
}

/* The box's own addresses: configured ones and whatever the kernel has on our interfaces. */
static int push_local_addrs(struct controld *c)
{
	struct local_collect lc = {.max = MOAT_MAX_LOCAL_ADDRS};
	lc.v = calloc(lc.max, sizeof(*lc.v));
	if (!lc.v)
		return -ENOMEM;
	for (unsigned i = 0; i < c->n_ifaces; i++) {
		struct ctl_iface *ifc = &c->ifaces[i];
		if (!ifc->ifindex)
			continue;
		lc.ifindex = ifc->ifindex;
		const struct cfg_interface *ci = config_find_interface(c->cfg, ifc->name);
		for (unsigned a = 0; ci && a < ci->n_addrs; a++)
			local_add(&lc, ci->addrs[a].family, ci->addrs[a].addr);
		netlink_addr_foreach(c->nl, ifc->ifindex, local_visit, &lc);
	}
	int err = bootstrap_set_local_addrs(c->bpf, lc.v, lc.n);
	free(lc.v);
	return err;
}

static void decide_mode_initial(struct controld *c)
{
	switch (c->cfg->system.mode) {
	case CFG_MODE_LEGACY:
		snprintf(c->mode, sizeof(c->mode), "legacy");
		snprintf(c->mode_reason, sizeof(c->mode_reason),
			 "forced by config (system dataplane mode legacy)");
		break;
	case CFG_MODE_USERSPACE:
		snprintf(c->mode, sizeof(c->mode), "userspace");
		snprintf(c->mode_reason, sizeof(c->mode_reason),
			 "forced by config (system dataplane mode userspace); waiting for the "
			 "helper's AF_XDP sockets");
		break;
	default:
		snprintf(c->mode, sizeof(c->mode), "userspace");
		snprintf(c->mode_reason, sizeof(c->mode_reason),
			 "auto: BPF and XDP available; waiting for the helper's AF_XDP sockets");
		break;
	}
}

/*
 * What this build cannot enforce yet is refused, never silently ignored: a firewall that
 * forwarded everything while its config says "deny" would be worse than one that stops.
 */
static int refuse_unenforced(struct controld *c)
{
	const struct cfg_security *sec = c->cfg->security;
	const char *what = NULL;
	if (sec && (sec->n_policies || sec->n_zones))
		what = "security zones and policies";
	else if (sec && (sec->n_snat_rule_sets || sec->n_dnat_rule_sets || sec->n_static_rule_sets))
		what = "security nat";
	else if (c->cfg->cluster)
		what = "chassis cluster";
	if (!what)
		return 0;
	log_err("%s: this build of moat-controld does not enforce %s yet; refusing to start "
		"rather than forward what the config denies (remove that stanza to run as a "
		"router)",
		c->config_path, what);
	return -EOPNOTSUPP;
}

int lifecycle_start(struct controld *c)
{
	int err;
	c->started_at_ms = ctl_now_ms();
	c->phase = "starting";
	if ((err = refuse_unenforced(c)) < 0)
		return err;
	static const struct netlink_events ev = {.neigh = on_neigh_event, .link = on_link_event};
	if ((err = netlink_open(c, &ev, &c->nl)) < 0)
		return err;

	/* Interfaces: find them, give them their configured addresses, bring them up. */
	for (unsigned i = 0; i < c->cfg->n_ifaces && i < MOAT_MAX_IFACES; i++) {
		const struct cfg_interface *ci = &c->cfg->ifaces[i];
		struct ctl_iface *ifc = &c->ifaces[c->n_ifaces++];
		memset(ifc, 0, sizeof(*ifc));
		snprintf(ifc->name, sizeof(ifc->name), "%s", ci->name);
		ifc->slot = i;
		ifc->zone_id = ci->zone_id;
		struct netlink_link l;
		if (netlink_link_get(c->nl, ci->name, &l) < 0) {
			log_warn("interface %s (config line %u) does not exist: it is not managed "
				 "until it appears",
				 ci->name, ci->line);
			snprintf(ifc->attach_error, sizeof(ifc->attach_error),
				 "interface does not exist");
			continue;
		}
		ifc->ifindex = l.ifindex;
		memcpy(ifc->mac, l.mac, 6);
		ifc->mtu = l.mtu;
		ifc->queues = l.queues > MOAT_MAX_QUEUES ? MOAT_MAX_QUEUES : l.queues;
		for (unsigned a = 0; a < ci->n_addrs; a++) {
			err = netlink_addr_ensure(c->nl, l.ifindex, &ci->addrs[a]);
			if (err)
				log_warn("interface %s: cannot add a configured address: %s",
					 ci->name, strerror(-err));
		}
		if (!l.up && (err = netlink_link_set_up(c->nl, l.ifindex)) < 0)
			log_warn("interface %s: cannot set the link up: %s", ci->name,
				 strerror(-err));
		if (netlink_link_get(c->nl, ci->name, &l) == 0)
			ifc->link_up = l.up && l.carrier;
	}

	decide_mode_initial(c);

	/* Map bootstrap: load, pin, attach. */
	char errbuf[256] = "";
	if ((err = bootstrap_open(&c->bpf, c->bpf_dir, c->bpffs_dir, errbuf, sizeof(errbuf))) < 0) {
		log_err("BPF bootstrap failed: %s", errbuf);
		return err;
	}
	for (unsigned i = 0; i < c->n_ifaces; i++) {
		struct ctl_iface *ifc = &c->ifaces[i];
		if (!ifc->ifindex)
			continue;
		errbuf[0] = 0;
		err = bootstrap_attach(c->bpf, ifc->ifindex, ifc->slot, ifc->zone_id, false,
				       &ifc->xdp_mode, errbuf, sizeof(errbuf));
		if (err < 0) {
			snprintf(ifc->attach_error, sizeof(ifc->attach_error), "%s", errbuf);
			log_err("interface %s: cannot attach the XDP shim: %s", ifc->name, errbuf);
			continue;
		}
		log_info("interface %s: XDP shim attached (%s)", ifc->name,
			 xdp_attach_mode_name(ifc->xdp_mode));
		unsigned n = 0;
		if (netlink_neigh_dump(c->nl, ifc->ifindex, c->neigh + c->n_neigh,
				       CONTROLD_MAX_NEIGH - c->n_neigh, &n) == 0)
			c->n_neigh += n;
	}
	if ((err = push_local_addrs(c)) < 0)
		log_warn("cannot fill moat_local_addrs: %s", strerror(-err));
	c->phase = "bootstrapped";

	if ((err = helper_listen(c, &c->helper)) < 0)
		return err;
	if ((err = operator_listen(c, &c->op)) < 0)
		return err;
	c->phase = "waiting-for-helper";
	log_info("controld ready: mode %s (%s)", c->mode, c->mode_reason);
	return 0;
}

void lifecycle_stop(struct controld *c)
{
	c->stopping = true;
	c->phase = "stopping";
	lifecycle_disarm(c, "controld is stopping");
	helper_close(c->helper);
	operator_close(c->op);
	if (c->bpf) {
		bootstrap_close(c->bpf, true);
		c->bpf = NULL;
	}
	netlink_close(c->nl);
	c->nl = NULL;
}
