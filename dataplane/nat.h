/* SPDX-License-Identifier: MIT */
/*
 * nat.h — IPv4 network address translation: the compiled rules and pools of a snapshot
 * (immutable, published with the tables), and each worker's port allocator.
 *
 * The decision is made once, on a flow's first packet (flow.c): static rules, then
 * destination rules (matched on the ingress zone/interface), then — after the FIB lookup of
 * the translated destination — source rules (ingress and egress zone/interface). The session
 * keeps the forward key (as the initiator sent it) and the reverse key (as replies arrive:
 * the translated tuple reversed); every later packet is rewritten from those two keys only.
 * Replies are found by the reverse key in the session index, so the NAT reverse lookup is the
 * same O(1) Robin Hood probe as any session lookup (counted as nat_reverse_hit).
 *
 * Port allocation (interface and pool SNAT), per worker, nothing shared:
 *  - A mapping {internal address, port, protocol, source (pool or interface)} ->
 *    {external address, port} with a reference count (one per session using it) lives in a
 *    preallocated table (as many entries as the worker has sessions) indexed twice by chained
 *    hashes: by the internal endpoint (endpoint-independent mapping, RFC 4787 REQ-1: a new
 *    session of the same internal address:port reuses the mapping whatever its destination)
 *    and by the external (address, port, protocol) (is this external port in use?). TCP, UDP
 *    and ICMP echo identifiers are mapped; other protocols get the address only.
 *  - Worker partitioning: a pool's (or the interface range's) ports [lo, hi] are cut into
 *    nworkers equal slices; worker w only hands out ports of slice w, so two workers never
 *    hand out the same (address, port). `port no-translation` cannot slice ports: its
 *    addresses are partitioned instead (address i belongs to worker i mod nworkers) when the
 *    pool has at least as many addresses as there are workers.
 *  - A rotating cursor per source walks the slice; each candidate costs one hash probe. A
 *    search gives up after NAT_PROBES candidates per address (amortized O(1): with ports freed
 *    roughly in allocation order the next free port is near the cursor) or at once when the
 *    slice is full; the new flow is dropped and counted (pool exhausted, rule failure,
 *    worker nat_alloc_failures), never silently.
 *  - The address: address-persistent pools and the default alike start at a hash of the
 *    internal address (the same internal host keeps one external address while it has
 *    ports there, RFC 4787 REQ-2 "paired"); address-persistent never tries another.
 *  - Interface SNAT uses the egress interface's first IPv4 address and ports
 *    NAT_IF_PORT_LO..NAT_IF_PORT_HI (outside Linux's default ephemeral range 32768-60999, so
 *    the box's own connections from that address never collide with translated ones).
 */
#ifndef MOAT_DP_NAT_H
#define MOAT_DP_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maps.h"
#include "moat.pb-c.h"

#define NAT_MAX_POOLS 256                  /* pool ids 1..255 */
#define NAT_MAX_RULES 4096                 /* rule ids 1..4095 */
#define NAT_IF_PORT_LO MOAT_NAT_IF_PORT_LO /* bpf/maps.h */
#define NAT_IF_PORT_HI MOAT_NAT_IF_PORT_HI
#define NAT_PROBES 64
/* Allocator sources: pool id (1..255), or NAT_SRC_IF + index of the egress interface. */
#define NAT_SRC_IF NAT_MAX_POOLS
#define NAT_SRC_SLOTS (NAT_MAX_POOLS + MOAT_MAX_IFACES)
#define NAT_NONE UINT32_MAX

enum { NAT_K_SOURCE = 0, NAT_K_DEST = 1, NAT_K_STATIC = 2 };
enum { NAT_A_OFF = 0, NAT_A_INTERFACE = 1, NAT_A_POOL = 2, NAT_A_PREFIX = 3 };

struct nat_pfx {
    uint32_t addr, mask; /* host order */
};

struct nat_rule {
    uint32_t id;
    uint8_t kind, action, proto;
    uint16_t pool_id;
    uint16_t dport_lo, dport_hi; /* 0,0: any */
    uint32_t nfz, nfi, ntz, nti, nsrc, ndst;
    uint32_t *fz, *fi, *tz, *ti; /* from zones / ifindexes, to zones / ifindexes */
    struct nat_pfx *src, *dst;
    struct nat_pfx stat; /* static: the internal prefix */
};

struct nat_spool {
    uint32_t id;
    uint32_t nranges;
    struct {
        uint32_t lo, hi; /* host order, inclusive */
    } * ranges;
    uint64_t naddr;
    uint16_t port_lo, port_hi;
    bool no_xlate, persistent;
};

struct nat_dpool {
    uint32_t id;
    uint32_t addr; /* host order */
    uint16_t port; /* 0: keep */
};

struct nat_set {
    uint32_t nrules;
    struct nat_rule *rules; /* static, destination, source; config order inside */
    struct nat_spool *spool[NAT_MAX_POOLS];
    struct nat_dpool *dpool[NAT_MAX_POOLS];
};

/* Compiles the NAT part of s (IPv4: rules naming IPv6 prefixes or IPv6-only pools are left
 * out, IPv6 is not translated yet). *out NULL when s has none. -EINVAL with a sentence in err,
 * -ENOMEM. */
int nat_compile(const Moat__Snapshot *s, struct nat_set **out, char *err, size_t errlen);
void nat_set_free(struct nat_set *n);

/* The n-th address of a pool (n < naddr), host order. */
uint32_t nat_spool_addr(const struct nat_spool *p, uint64_t n);

/* What a rule is matched on (addresses host order, dport host order). */
struct nat_ctx {
    uint32_t src, dst;
    uint16_t dport;
    uint8_t proto;
    uint16_t in_zone, out_zone;
    uint32_t in_if, out_if;
};

/* The first static rule translating c's destination (inbound), or NULL. */
const struct nat_rule *nat_match_static_in(const struct nat_set *n, const struct nat_ctx *c);
/* The first static rule translating c's source (outbound: src in its internal prefix, the
 * egress matching its from zone/interface), or NULL. */
const struct nat_rule *nat_match_static_out(const struct nat_set *n, const struct nat_ctx *c);
/* The first destination rule matching c (action off included), or NULL. */
const struct nat_rule *nat_match_dest(const struct nat_set *n, const struct nat_ctx *c);
/* The first source rule matching c (action off included), or NULL. */
const struct nat_rule *nat_match_source(const struct nat_set *n, const struct nat_ctx *c);

/* ---- port allocator (one per worker) ---- */

struct nat_map {
    uint32_t int_addr, ext_addr; /* host order */
    uint16_t int_port, ext_port; /* host order */
    uint16_t src;
    uint8_t proto, used;
    uint32_t refs;
    uint32_t next_i, next_e; /* chains; next free when unused */
};

struct nat_src_ctr {
    uint64_t in_use; /* mappings */
    uint64_t allocations;
    uint64_t exhausted;
    uint32_t cursor;
    uint32_t pad;
};

struct nat_ports {
    struct nat_map *m;
    uint32_t cap, free_head, mask;
    uint32_t *hi, *he; /* bucket heads: by internal endpoint, by external endpoint */
    uint32_t active;
    struct nat_src_ctr src[NAT_SRC_SLOTS];
};

int nat_ports_init(struct nat_ports *np, uint32_t cap);
void nat_ports_free(struct nat_ports *np);
size_t nat_ports_bytes(const struct nat_ports *np);

struct nat_req {
    uint32_t int_addr; /* host order */
    uint16_t int_port; /* host order */
    uint8_t proto;
    uint16_t src;                 /* pool id or NAT_SRC_IF + interface index */
    const struct nat_spool *pool; /* NULL: interface */
    uint32_t if_addr;             /* interface SNAT: its address, host order */
    uint16_t worker, nworkers;
};

/* A mapping for r (an existing one of the same internal endpoint and source, or a new one):
 * 0 with *ext_addr and *ext_port set (a reference taken), -ENOSPC when exhausted (counted). */
int nat_port_alloc(struct nat_ports *np, const struct nat_req *r, uint32_t *ext_addr,
                   uint16_t *ext_port);
/* Asks for the memory nat_port_alloc() reads first for this internal endpoint (a hint, for a
 * new flow's first packet while the rest of its batch is looked up). */
void nat_port_prefetch(const struct nat_ports *np, uint32_t int_addr, uint16_t int_port,
                       uint8_t proto);
/* Drops one reference of the mapping of (int_addr, int_port, proto, src). */
void nat_port_release(struct nat_ports *np, uint32_t int_addr, uint16_t int_port, uint8_t proto,
                      uint16_t src);
/* Re-seeding: takes a reference on exactly this mapping. -EEXIST: the external endpoint or
 * the internal one is mapped otherwise; -ENOSPC: table full. */
int nat_port_claim(struct nat_ports *np, uint32_t int_addr, uint16_t int_port, uint8_t proto,
                   uint16_t src, uint32_t ext_addr, uint16_t ext_port);
/* The mapping of an external endpoint, or NAT_NONE (tests, diagnostics). */
uint32_t nat_port_find_ext(const struct nat_ports *np, uint32_t ext_addr, uint16_t ext_port,
                           uint8_t proto);

/* Protocols whose ports (ICMP: echo identifier) are translated. */
static inline bool nat_has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 1;
}

#endif
