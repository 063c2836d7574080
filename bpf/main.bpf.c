// SPDX-License-Identifier: MIT
/*
 * main.bpf.c — xdp_main_prog, the legacy in-kernel path, and its stages xdp_main_new,
 * xdp_main_icmp and xdp_main_syn.
 *
 * The shim tail-calls xdp_main_prog (moat_progs slot MOAT_PROG_SLOT_MAIN) for transit traffic
 * of an interface that is not armed (no helper, mode legacy) or has no XSK. Layouts, maps and
 * the order of the decisions: bpf/legacy_maps.h.
 *
 *   xdp_main_prog   settles the shim's tail-call count, parses, applies the ingress zone's
 *                   screen (drops counted in moat_lg_scrctr), answers TTL / hop limit 1 with
 *                   time exceeded (xdp_main_icmp), looks the session up. Hit:
 *                   TCP state, counters, NAT rewrite, TTL, route + neighbour, redirect.
 *                   Miss: the parsed packet goes to the per-CPU scratch and the program
 *                   tail-calls xdp_main_new (slot MOAT_LG_SLOT_NEW).
 *   xdp_main_new    the first packet of a flow: destination NAT, route, zones, policy, source
 *                   NAT (port allocation), both session entries, create event, forward.
 *                   Never on an interface still armed (armed_miss): new flows there are the
 *                   helper's, and controld seeds this path before it disarms.
 *   xdp_main_syn    SYN cookies (syn-cookie mode, legacy_maps.h): a SYN above a syn-flood
 *                   threshold with no session gets a cookie SYN-ACK (XDP_TX); a pure ACK with
 *                   no session is checked as the answer to one and, valid, rewritten into the
 *                   client's SYN for xdp_main_new (the session proxied); a proxied session's
 *                   server SYN-ACK becomes the handshake's last ACK back to the server. The
 *                   hit path translates the sequence numbers of proxied sessions.
 *   xdp_main_icmp   an ICMP error about the packet (time exceeded, destination unreachable
 *                   administratively prohibited for a policy reject of anything but TCP, or
 *                   fragmentation needed / packet too big for a packet larger than the egress
 *                   MTU: checked in forward() before any rewrite, mtu_drops), from
 *                   the ingress interface's address, back out of that interface (XDP_TX);
 *                   rate-limited per CPU with the TCP resets.
 *
 * ICMP errors go with the session of the packet they quote (translated back under NAT), else
 * they are dropped (icmp_error_unmatched). IPv6 extension headers (hop-by-hop, routing,
 * destination options, fragment) are walked (parse_ext6). Fragments are screened (ping of death,
 * tear-drop), a first fragment goes through the session path and leaves a moat_lg_frags
 * entry that its datagram's later fragments follow (frag_drops without one); an IPv6 atomic
 * fragment is a first fragment that tear-drop never compares. One or two VLAN tags are taken
 * off on entry (strip_vlan): the frame is handled, and leaves, untagged, as the helper's.
 * Unsupported here and counted (unsupported), dropped: longer IPv6 header chains. Policy reject
 * (policy_reject) answers TCP with a reset sent back from XDP, other protocols with an ICMP
 * destination unreachable (reject_sent).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "legacy_maps.h"
#include "moat_maps.bpf.h"
#include "syncookie.h"

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

/* ---- maps (pinned by name: controld fills them, see legacy.h) ---- */

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, MOAT_LG_MAX_SESSIONS);
    __type(key, struct moat_lg_key);
    __type(value, struct moat_lg_sess);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_sess SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct moat_lg_cfg);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_cfg SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MOAT_MAX_IFACES);
    __type(key, __u32);
    __type(value, struct moat_lg_if);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_ifs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MOAT_LG_MAX_PAIRS);
    __type(key, __u32);
    __type(value, struct moat_lg_pair);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_pairs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MOAT_LG_MAX_RULES);
    __type(key, __u32);
    __type(value, struct moat_lg_rule);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_rules SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, MOAT_LG_MAX_PFX);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct moat_lg_pfx_key);
    __type(value, __u32);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_pfx SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MOAT_LG_MAX_NAT);
    __type(key, __u32);
    __type(value, struct moat_lg_nat_rule);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_nat SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MOAT_LG_MAX_POOLS);
    __type(key, __u32);
    __type(value, struct moat_lg_spool);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_spools SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MOAT_LG_MAX_POOLS);
    __type(key, __u32);
    __type(value, struct moat_lg_dpool);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_dpools SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, MOAT_LG_MAX_ROUTES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct moat_lg_route_key);
    __type(value, struct moat_lg_route);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_routes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MOAT_LG_MAX_NEIGH);
    __type(key, struct moat_lg_neigh_key);
    __type(value, struct moat_lg_neigh);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_neigh SEC(".maps");

/* Pinned by controld itself: the kernel adds BPF_F_RDONLY_PROG to a devmap's flags, which
 * libbpf's check of a pinned map against this definition then refuses. */
struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
    __uint(max_entries, MOAT_MAX_IFACES);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(struct bpf_devmap_val));
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_tx SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, MOAT_LG_EVENTS_BYTES);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct moat_lg_stats);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct moat_lg_percpu);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_percpu SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MOAT_LG_MAX_POLICIES);
    __type(key, __u32);
    __type(value, struct moat_lg_hit);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_hits SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct moat_lg_limit);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_limit SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MOAT_LG_NAT_CTRS);
    __type(key, __u32);
    __type(value, struct moat_lg_natctr);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_natctr SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MOAT_LG_MAX_POOLS);
    __type(key, __u32);
    __type(value, struct moat_lg_poolctr);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_poolctr SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MOAT_MAX_IFACES);
    __type(key, __u32);
    __type(value, struct moat_lg_if6);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_if6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MOAT_LG_SCR_ZONES);
    __type(key, __u32);
    __type(value, struct moat_lg_screen);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_screens SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MOAT_LG_SCR_ZONES);
    __type(key, __u32);
    __type(value, struct moat_lg_scrctr);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_scrctr SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MOAT_LG_SCR_RATE_SLOTS);
    __type(key, __u32);
    __type(value, struct moat_lg_scr_rate);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_scrrate SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, MOAT_LG_SCR_FRAGS);
    __type(key, struct moat_lg_frag_key);
    __type(value, struct moat_lg_frag);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_scrfrag SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, MOAT_LG_FRAGS);
    __type(key, struct moat_lg_fragsess_key);
    __type(value, struct moat_lg_fragsess);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_frags SEC(".maps");

/* Source NAT mappings, endpoint-independent (legacy_maps.h). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MOAT_LG_MAX_MAPPINGS);
    __type(key, struct moat_lg_nmap_key);
    __type(value, struct moat_lg_nmap);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_nmap SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MOAT_LG_MAX_MAPPINGS);
    __type(key, struct moat_lg_next_key);
    __type(value, struct moat_lg_nmap_key);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_next SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MOAT_LG_SCR_CNT_SLOTS);
    __uint(map_flags, BPF_F_MMAPABLE);
    __type(key, __u32);
    __type(value, struct moat_lg_scrcnt);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_scrcnt SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct moat_lg_errrate);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_errrate SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __uint(map_flags, BPF_F_MMAPABLE); /* the helper maps last_slot: one recent-cookie word */
    __type(value, struct moat_lg_sp);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} moat_lg_spslot SEC(".maps");

/* ---- per-packet state, handed from xdp_main_prog to xdp_main_new ---- */

struct pk {
    __u32 l3_off;
    __u32 l4_off;
    __u32 l3_len; /* bytes of the IP datagram */
    __u8 family;  /* 4 or 6 */
    __u8 proto;
    __u8 tcp_flags;
    __u8 icmp_type;
    __u8 icmp_code;
    __u8 has_id;   /* TCP/UDP, or ICMP echo: the key has a port/identifier NAT can map */
    __u8 icmp_err; /* an ICMP error: q is the packet it quotes */
    __u8 q_proto;
    __u8 ttl;      /* TTL / hop limit as it arrived */
    __u8 frag;     /* a fragment (IPv4, or IPv6 with a fragment header) */
    __u8 nf;       /* a later (non-first) fragment: no L4 header, k has no ports */
    __u8 df;       /* IPv4: don't fragment set (a packet too big is answered, else dropped) */
    __u8 atomic;   /* IPv6: an atomic fragment (RFC 6946): frag set, a whole datagram */
    __u16 unfrag;  /* IPv6: bytes of the extension headers before the fragment header */
    __u32 frag_id; /* IPv4 identification (network order, low 16 bits), IPv6 fragment id */
    __u32 frag_lo; /* its payload's bytes [frag_lo, frag_hi) of the datagram */
    __u32 frag_hi;
    struct moat_lg_key k; /* as the packet arrived */
    /* ICMP errors: the quoted packet's IP header and L4 offsets, and its tuple. */
    __u32 q_off;
    __u32 q_l4;
    struct moat_lg_key q;
};

/* Private scratch (not pinned): the packet, then the new flow's keys and entry. */
struct scratch {
    struct pk p;
    struct moat_lg_key xk; /* the flow as it leaves the box (after NAT) */
    struct moat_lg_key rk; /* the reply direction's key: xk reversed */
    struct moat_lg_sess v;
    __u32 err_kind; /* for xdp_main_icmp: MOAT_LG_ERR_* */
    __u32 err_mtu;  /* MOAT_LG_ERR_TOO_BIG: the egress interface's MTU */
    /* SYN proxy: what xdp_main_syn is asked to do (SP_OP_*), and for xdp_main_new a flow to
     * open proxied (sp_new: set by xdp_main_syn, cleared by xdp_main_prog on every packet). */
    __u8 sp_op;
    __u8 sp_new;
    __u16 sp_win;
    __u32 sp_cookie;
    __u32 sp_isn;
    /* xdp_main_icmp: the quoted datagram, zero-padded to whole 32-bit words. */
    __u8 quote[MOAT_LG_V6_QUOTE_MAX + 4];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct scratch);
} moat_lg_scratch SEC(".maps");

/* ---- helpers ---- */

/* Counts a packet for policy id (hit: the first packet of a flow it decided). */
static __always_inline void policy_count(__u32 id, __u32 bytes, int hit)
{
    struct moat_lg_hit *h = bpf_map_lookup_elem(&moat_lg_hits, &id);

    if (!h)
        return;
    h->hits += hit;
    h->packets++;
    h->bytes += bytes;
}

/* NAT counters: rule id (0: none) translated a flow (ok) or failed to; pool id (0: none)
 * allocated or was exhausted. */
static __always_inline void nat_count(__u32 rule, __u32 pool, int ok)
{
    struct moat_lg_natctr *r = rule ? bpf_map_lookup_elem(&moat_lg_natctr, &rule) : 0;
    struct moat_lg_poolctr *pc = pool ? bpf_map_lookup_elem(&moat_lg_poolctr, &pool) : 0;

    if (r) {
        if (ok)
            r->hits++;
        else
            r->failures++;
    }
    if (pc) {
        if (ok)
            pc->allocations++;
        else
            pc->exhausted++;
    }
}

static __always_inline struct moat_lg_stats *stats(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&moat_lg_stats, &zero);
}

static __always_inline int is_icmp(__u8 proto)
{
    return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

static __always_inline void key_reverse(const struct moat_lg_key *in, struct moat_lg_key *out)
{
    __builtin_memcpy(out->src, in->dst, 16);
    __builtin_memcpy(out->dst, in->src, 16);
    if (is_icmp(in->proto)) {
        out->sport = in->sport;
        out->dport = 0;
    } else {
        out->sport = in->dport;
        out->dport = in->sport;
    }
    out->proto = in->proto;
    out->family = in->family;
    out->pad = 0;
}

static __always_inline __u16 csum_fold(__u32 s)
{
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (__u16)s;
}

/* RFC 1624: the checksum after one 16-bit word (as stored in memory) changes. */
static __always_inline __u16 csum_repl16(__u16 sum, __u16 from, __u16 to)
{
    __u32 s = (__u16)~sum + (__u32)(__u16)~from + (__u32)to;
    return (__u16)~csum_fold(s);
}

static __always_inline __u16 csum_repl32(__u16 sum, __u32 from, __u32 to)
{
    sum = csum_repl16(sum, (__u16)from, (__u16)to);
    return csum_repl16(sum, (__u16)(from >> 16), (__u16)(to >> 16));
}

enum { P_OK = 0, P_MALFORMED, P_UNSUPPORTED, P_FRAG };

/*
 * The packet an ICMP error quotes, at offset qo: its IP header (no IPv6 extension headers)
 * and the first 8 bytes of its L4 header (ports, or an echo identifier). P_OK with
 * p->icmp_err set, or P_UNSUPPORTED when there is nothing to match a session on.
 */
static __always_inline int parse_quoted(struct xdp_md *ctx, struct pk *p, __u32 qo)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u32 ql4;
    __u8 *l4;

    qo &= 0x1ff;
    if (p->family == 4) {
        struct iphdr *iph = data + qo;

        if ((void *)(iph + 1) > data_end || iph->version != 4 || iph->ihl < 5)
            return P_UNSUPPORTED;
        if (iph->frag_off & bpf_htons(0x1fff))
            return P_UNSUPPORTED;
        p->q_proto = iph->protocol;
        __builtin_memcpy(p->q.src, &iph->saddr, 4);
        __builtin_memcpy(p->q.dst, &iph->daddr, 4);
        ql4 = qo + iph->ihl * 4;
    } else {
        struct ipv6hdr *ip6 = data + qo;

        if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
            return P_UNSUPPORTED;
        p->q_proto = ip6->nexthdr;
        __builtin_memcpy(p->q.src, &ip6->saddr, 16);
        __builtin_memcpy(p->q.dst, &ip6->daddr, 16);
        ql4 = qo + sizeof(*ip6);
        /* Its extension headers, as the helper's quoted_key() walks them: at most 4 of
         * hop-by-hop, routing, destination options and a fragment header of offset 0. */
        for (int i = 0; i < 4; i++) {
            __u8 nh = p->q_proto, *h;

            if (nh != 0 && nh != 43 && nh != 60 && nh != 44)
                break;
            ql4 &= 0x3ff;
            h = data + ql4;
            if ((void *)(h + 8) > data_end)
                return P_UNSUPPORTED;
            if (nh == 44) {
                if ((h[2] << 8 | h[3]) & 0xfff8)
                    return P_UNSUPPORTED; /* a later fragment quotes no ports */
                ql4 += 8;
            } else {
                ql4 += ((__u32)h[1] + 1) * 8;
            }
            p->q_proto = h[0];
        }
    }
    ql4 &= 0x3ff;
    l4 = data + ql4;
    if ((void *)(l4 + 8) > data_end)
        return P_UNSUPPORTED;
    if (p->q_proto == IPPROTO_TCP || p->q_proto == IPPROTO_UDP) {
        __builtin_memcpy(&p->q.sport, l4, 2);
        __builtin_memcpy(&p->q.dport, l4 + 2, 2);
    } else if ((p->q_proto == IPPROTO_ICMP && p->family == 4 &&
                (l4[0] == ICMP_ECHO || l4[0] == ICMP_ECHOREPLY)) ||
               (p->q_proto == IPPROTO_ICMPV6 && p->family == 6 &&
                (l4[0] == ICMPV6_ECHO_REQUEST || l4[0] == ICMPV6_ECHO_REPLY))) {
        __builtin_memcpy(&p->q.sport, l4 + 4, 2);
    } else {
        return P_UNSUPPORTED;
    }
    p->q.proto = p->q_proto;
    p->q.family = p->family;
    p->q_off = qo;
    p->q_l4 = ql4;
    p->icmp_err = 1;
    return P_OK;
}

/*
 * The IPv6 extension headers after the fixed header (at ETH_HLEN), as the shim walks them:
 * hop-by-hop, routing, destination options, and a fragment header, at most MOAT_LG_EXT6 (the
 * shim's MOAT_MAX_EXT_HDRS: a longer chain never reaches this path) of them, the L4 header
 * within the first 256 bytes of the frame. Sets p->proto (the upper layer) and, for a
 * fragment, p->frag, frag_id, frag_lo/hi, unfrag, nf. Returns the L4 offset, or P6_FRAG (a
 * later fragment: nothing after its header is parsed), P6_MALFORMED, P6_UNSUPPORTED (a longer
 * chain). One header per ext6_cb call (bpf_loop): the walk is verified once, not once per
 * header, and what follows it once, not once per chain length.
 */
#define MOAT_LG_EXT6 8
#define P6_FRAG 0x10000
#define P6_MALFORMED 0x10001
#define P6_UNSUPPORTED 0x10002

static __always_inline int is_ext6(__u8 nh)
{
    return nh == 0 || nh == 43 || nh == 60 || nh == 44;
}

struct ext6_walk {
    struct xdp_md *ctx;
    struct pk *p;
    __u32 off; /* the next header's offset */
    __u32 end; /* the datagram's */
    __u32 res; /* 0, or the P6_* the walk stopped with */
    __u8 nh;   /* the next header's type */
};

static long ext6_cb(__u32 i, void *arg)
{
    struct ext6_walk *w = arg;
    struct pk *p = w->p;
    __u32 off = w->off, end = w->end;
    __u8 h[8];

    if (!is_ext6(w->nh))
        return 1;
    if (off > 248) {
        w->res = P6_UNSUPPORTED;
        return 1;
    }
    if (off + 8 > end || bpf_xdp_load_bytes(w->ctx, off, h, 8)) {
        w->res = P6_MALFORMED;
        return 1;
    }
    if (w->nh == 44) {
        __u16 fo;

        if (p->frag) {
            w->res = P6_MALFORMED; /* two fragment headers */
            return 1;
        }
        __builtin_memcpy(&fo, h + 2, 2);
        fo = bpf_ntohs(fo);
        w->nh = h[0];
        off += 8;
        w->off = off;
        /* An atomic fragment (offset 0, no more) too, as the helper's: a first fragment that
         * tear-drop never compares (p->atomic). */
        p->frag = 1;
        __builtin_memcpy(&p->frag_id, h + 4, 4);
        p->unfrag = off - 8 - ETH_HLEN - sizeof(struct ipv6hdr);
        p->frag_lo = fo & 0xfff8;
        p->frag_hi = p->frag_lo + (end - off);
        p->atomic = moat_frag6_atomic(p->frag_lo, fo & 1);
        if (p->frag_lo) {
            p->nf = 1;
            p->l4_off = off; /* where its data starts */
            p->proto = w->nh;
            w->res = P6_FRAG;
            return 1;
        }
        return 0;
    }
    w->nh = h[0];
    w->off = off + ((__u32)h[1] + 1) * 8;
    return 0;
}

static __always_inline __u32 parse_ext6(struct xdp_md *ctx, struct pk *p, __u8 nh)
{
    struct ext6_walk w = {
        .ctx = ctx,
        .p = p,
        .off = ETH_HLEN + sizeof(struct ipv6hdr),
        .end = ETH_HLEN + p->l3_len,
        .nh = nh,
    };

    if (is_ext6(nh)) {
        bpf_loop(MOAT_LG_EXT6, ext6_cb, &w, 0);
        if (w.res)
            return w.res;
        if (is_ext6(w.nh))
            return P6_UNSUPPORTED;
        if (w.off > w.end)
            return P6_MALFORMED;
    }
    p->proto = w.nh;
    return w.off;
}

/* Parses the frame into p. Returns 0, or the stats field to count as the drop reason. */

static __always_inline int parse(struct xdp_md *ctx, struct pk *p)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    __u32 off = sizeof(*eth), l4;

    if ((void *)(eth + 1) > data_end)
        return P_MALFORMED;
    p->l3_off = off;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *iph = data + off;
        __u32 hlen, tot;

        if ((void *)(iph + 1) > data_end || iph->version != 4)
            return P_MALFORMED;
        hlen = iph->ihl * 4;
        tot = bpf_ntohs(iph->tot_len);
        if (hlen < sizeof(*iph) || tot < hlen || off + tot > (__u32)(data_end - data))
            return P_MALFORMED;
        p->family = 4;
        p->proto = iph->protocol;
        p->l3_len = tot;
        p->ttl = iph->ttl;
        p->df = !!(iph->frag_off & bpf_htons(0x4000));
        __builtin_memcpy(p->k.src, &iph->saddr, 4);
        __builtin_memcpy(p->k.dst, &iph->daddr, 4);
        if (iph->frag_off & bpf_htons(0x3fff)) {
            /* A first fragment carries the L4 header and is parsed on; a later one is not. */
            p->frag = 1;
            p->frag_id = iph->id;
            p->frag_lo = (bpf_ntohs(iph->frag_off) & 0x1fff) * 8;
            p->frag_hi = p->frag_lo + tot - hlen;
            if (p->frag_lo) {
                p->nf = 1;
                p->l4_off = off + hlen; /* where its data starts */
                p->k.proto = p->proto;
                p->k.family = 4;
                return P_FRAG;
            }
        }
        l4 = off + hlen;
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = data + off;

        if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
            return P_MALFORMED;
        p->l3_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
        if (off + p->l3_len > (__u32)(data_end - data))
            return P_MALFORMED;
        p->family = 6;
        p->ttl = ip6->hop_limit;
        __builtin_memcpy(p->k.src, &ip6->saddr, 16);
        __builtin_memcpy(p->k.dst, &ip6->daddr, 16);
        l4 = parse_ext6(ctx, p, ip6->nexthdr);
        if (l4 == P6_FRAG) {
            p->k.proto = p->proto;
            p->k.family = 6;
            return P_FRAG;
        }
        if (l4 == P6_MALFORMED)
            return P_MALFORMED;
        if (l4 == P6_UNSUPPORTED ||
            (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP && p->proto != IPPROTO_ICMPV6))
            return P_UNSUPPORTED; /* a longer header chain, other protocols over IPv6 */
    } else {
        return P_UNSUPPORTED; /* not IP (strip_vlan() took the tags off) */
    }
    if (l4 > 255)
        return P_UNSUPPORTED;
    p->l4_off = l4;
    p->k.proto = p->proto;
    p->k.family = p->family;

    if (p->proto == IPPROTO_TCP) {
        struct tcphdr *th = data + l4;

        if ((void *)(th + 1) > data_end || th->doff < 5)
            return P_MALFORMED;
        p->k.sport = th->source;
        p->k.dport = th->dest;
        p->tcp_flags = ((__u8 *)th)[13];
        p->has_id = 1;
    } else if (p->proto == IPPROTO_UDP) {
        struct udphdr *uh = data + l4;

        if ((void *)(uh + 1) > data_end)
            return P_MALFORMED;
        p->k.sport = uh->source;
        p->k.dport = uh->dest;
        p->has_id = 1;
    } else if (is_icmp(p->proto)) {
        __u8 *ih = data + l4;
        __u8 t;

        if ((void *)(ih + 8) > data_end)
            return P_MALFORMED;
        if ((p->family == 4) != (p->proto == IPPROTO_ICMP))
            return P_UNSUPPORTED;
        t = ih[0];
        p->icmp_type = t;
        p->icmp_code = ih[1];
        if (p->family == 4 ? (t == ICMP_ECHO || t == ICMP_ECHOREPLY)
                           : (t == ICMPV6_ECHO_REQUEST || t == ICMPV6_ECHO_REPLY)) {
            __builtin_memcpy(&p->k.sport, ih + 4, 2);
            p->has_id = 1;
        } else if (p->family == 4 ? (t == 3 || t == 4 || t == 5 || t == 11 || t == 12) : t < 128) {
            return parse_quoted(ctx, p, l4 + 8);
        }
    }
    return P_OK;
}

/* To the kernel, as the shim hands it host-bound traffic: through moat_cpumap when enabled. */
static __always_inline int to_kernel(void)
{
    __u32 zero = 0;
    struct moat_ctrl *ctrl = bpf_map_lookup_elem(&moat_ctrl, &zero);

    if (ctrl && (ctrl->flags & MOAT_CTRL_F_CPUMAP)) {
        __u32 cpu = bpf_get_smp_processor_id();

        if (cpu < ctrl->ncpus)
            return bpf_redirect_map(&moat_cpumap, cpu, XDP_PASS);
    }
    return XDP_PASS;
}

/* ---- ICMP errors sent by this path (xdp_main_icmp) ---- */

/* A token of the per-CPU budget of errors and rejects (MOAT_LG_ERR_RATE a second). */
static __always_inline int err_token(void)
{
    __u32 zero = 0;
    struct moat_lg_errrate *r = bpf_map_lookup_elem(&moat_lg_errrate, &zero);
    __u64 sec = bpf_ktime_get_ns() / 1000000000ull;

    if (!r)
        return 0;
    if (r->sec != sec) {
        r->sec = sec;
        r->tokens = MOAT_LG_ERR_RATE;
    }
    if (!r->tokens)
        return 0;
    r->tokens--;
    return 1;
}

/* Hands the packet of the scratch to xdp_main_icmp, which answers it with an error of kind
 * (MOAT_LG_ERR_*); dropped if that stage is missing. */
static __always_inline int send_error(struct xdp_md *ctx, struct scratch *w, __u32 kind)
{
    w->err_kind = kind;
    bpf_tail_call(ctx, &moat_progs, MOAT_LG_SLOT_ICMP);
    return XDP_DROP;
}

/*
 * Routes and forwards a packet that must leave with the tuple `out` (addresses, ports as
 * they will be on the wire) — NAT rewrite when nat, TTL, MACs — or drops/passes it.
 */
static __always_inline int forward(struct xdp_md *ctx, const struct pk *p,
                                   const struct moat_lg_key *out, int nat, struct moat_lg_stats *st)
{
    struct moat_lg_route_key rkey = {};
    struct moat_lg_neigh_key nkey = {};
    struct moat_lg_route *r;
    struct moat_lg_if *oif;
    struct moat_lg_neigh *nb;
    void *data, *data_end;
    struct ethhdr *eth;
    __u32 ifindex, mtu;

    rkey.prefixlen = 32 + (p->family == 6 ? 128 : 32);
    rkey.family = bpf_htonl(p->family);
    __builtin_memcpy(rkey.addr, out->dst, 16);
    r = bpf_map_lookup_elem(&moat_lg_routes, &rkey);
    if (!r) {
        st->fib_miss++;
        return XDP_DROP;
    }
    ifindex = r->ifindex;
    oif = bpf_map_lookup_elem(&moat_lg_ifs, &ifindex);
    if (!oif) {
        st->fib_miss++;
        return XDP_DROP;
    }
    /* The egress interface's MTU (the device's own, as controld configured it), before any
     * rewrite: an error about the packet quotes it as its sender sent it. */
    mtu = p->l3_len;
    if (bpf_check_mtu(ctx, ifindex, &mtu, 0, 0) == BPF_MTU_CHK_RET_FRAG_NEEDED) {
        __u32 zero = 0;
        struct scratch *w = bpf_map_lookup_elem(&moat_lg_scratch, &zero);

        st->mtu_drops++;
        if (!w || (p->family == 4 && !p->df))
            return XDP_DROP;
        w->err_mtu = mtu;
        return send_error(ctx, w, MOAT_LG_ERR_TOO_BIG);
    }
    nkey.ifindex = ifindex;
    nkey.family = p->family;
    if (r->has_gw)
        __builtin_memcpy(nkey.addr, r->gw, 16);
    else
        __builtin_memcpy(nkey.addr, out->dst, 16);
    nb = bpf_map_lookup_elem(&moat_lg_neigh, &nkey);
    if (!nb) {
        struct moat_lg_event *ev;

        st->neigh_miss++;
        ev = bpf_ringbuf_reserve(&moat_lg_events, sizeof(*ev), 0);
        if (ev) {
            __builtin_memset(ev, 0, sizeof(*ev));
            ev->kind = MOAT_LG_EV_RESOLVE;
            ev->ifindex = ifindex;
            ev->key.family = p->family;
            __builtin_memcpy(ev->key.dst, nkey.addr, 16);
            bpf_ringbuf_submit(ev, 0);
        } else {
            st->events_lost++;
        }
        /* Dropped, as the helper does: the kernel would see the packet untranslated (a
         * destination-NAT'd SYN to the box's own address would get its reset). The sender's
         * retransmission finds the neighbour controld resolved meanwhile. */
        return XDP_DROP;
    }

    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    if ((void *)(eth + 1) > data_end) {
        st->malformed++;
        return XDP_DROP;
    }
    if (p->family == 4) {
        struct iphdr *iph = data + sizeof(*eth);
        __u16 old, nw;

        if ((void *)(iph + 1) > data_end) {
            st->malformed++;
            return XDP_DROP;
        }
        if (iph->ttl <= 1) {
            st->ttl_exceeded++;
            return XDP_DROP;
        }
        __builtin_memcpy(&old, &iph->ttl, 2);
        iph->ttl--;
        __builtin_memcpy(&nw, &iph->ttl, 2);
        iph->check = csum_repl16(iph->check, old, nw);
        if (nat) {
            __u32 os, od, ns, nd;
            __u32 l4 = p->l4_off & 0xff;
            __u16 *l4sum = 0;
            __u16 *sp = 0, *dp = 0;
            int pseudo = 1, zero_ok = 0;

            __builtin_memcpy(&os, &iph->saddr, 4);
            __builtin_memcpy(&od, &iph->daddr, 4);
            __builtin_memcpy(&ns, out->src, 4);
            __builtin_memcpy(&nd, out->dst, 4);
            iph->check = csum_repl32(iph->check, os, ns);
            iph->check = csum_repl32(iph->check, od, nd);
            iph->saddr = ns;
            iph->daddr = nd;
            if (p->nf) {
                /* A later fragment: its ports and L4 checksum are in the first one. */
            } else if (p->proto == IPPROTO_TCP) {
                struct tcphdr *th = data + l4;
                if ((void *)(th + 1) > data_end)
                    return XDP_DROP;
                l4sum = (__u16 *)&th->check;
                sp = (__u16 *)&th->source;
                dp = (__u16 *)&th->dest;
            } else if (p->proto == IPPROTO_UDP) {
                struct udphdr *uh = data + l4;
                if ((void *)(uh + 1) > data_end)
                    return XDP_DROP;
                l4sum = (__u16 *)&uh->check;
                sp = (__u16 *)&uh->source;
                dp = (__u16 *)&uh->dest;
                zero_ok = 1;
            } else if (p->proto == IPPROTO_ICMP) {
                __u8 *ih = data + l4;
                if ((void *)(ih + 8) > data_end)
                    return XDP_DROP;
                l4sum = (__u16 *)(ih + 2);
                pseudo = 0;
                if (p->has_id)
                    sp = (__u16 *)(ih + 4); /* the identifier */
            }
            if (l4sum && !(zero_ok && *l4sum == 0)) {
                __u16 sum = *l4sum;
                if (pseudo) {
                    sum = csum_repl32(sum, os, ns);
                    sum = csum_repl32(sum, od, nd);
                }
                if (sp)
                    sum = csum_repl16(sum, *sp, out->sport);
                if (dp)
                    sum = csum_repl16(sum, *dp, out->dport);
                if (zero_ok && sum == 0)
                    sum = 0xffff;
                *l4sum = sum;
            }
            if (sp)
                *sp = out->sport;
            if (dp)
                *dp = out->dport;
        }
    } else {
        struct ipv6hdr *ip6 = data + sizeof(*eth);

        if ((void *)(ip6 + 1) > data_end) {
            st->malformed++;
            return XDP_DROP;
        }
        if (ip6->hop_limit <= 1) {
            st->ttl_exceeded++;
            return XDP_DROP;
        }
        ip6->hop_limit--;
    }
    __builtin_memcpy(eth->h_dest, nb->mac, 6);
    __builtin_memcpy(eth->h_source, oif->mac, 6);
    if (bpf_redirect_map(&moat_lg_tx, ifindex, 0) != XDP_REDIRECT) {
        st->redirect_err++;
        return XDP_DROP;
    }
    st->tx++;
    return XDP_REDIRECT;
}

/* The tuple a packet matching entry s leaves with: the peer's key reversed. */
static __always_inline void out_tuple(const struct moat_lg_key *peer, struct moat_lg_key *o)
{
    __builtin_memcpy(o->src, peer->dst, 16);
    __builtin_memcpy(o->dst, peer->src, 16);
    if (is_icmp(peer->proto)) {
        o->sport = peer->sport;
        o->dport = 0;
    } else {
        o->sport = peer->dport;
        o->dport = peer->sport;
    }
    o->proto = peer->proto;
    o->family = peer->family;
    o->pad = 0;
}

/* ---- TCP state (the same machine as dataplane/tcp.c) ---- */

enum { TCP_ACCEPT = 0, TCP_INVALID, TCP_REOPEN };

static __always_inline int tcp_sane(__u8 f)
{
    int syn = f & TCPF_SYN, ack = f & TCPF_ACK, fin = f & TCPF_FIN, rst = f & TCPF_RST;

    if (syn && (fin || rst))
        return 0;
    if (fin && rst)
        return 0;
    if (fin && !ack)
        return 0;
    if (!syn && !ack && !rst && !fin)
        return 0;
    return 1;
}

static __always_inline int tcp_track(__u8 *state, __u8 *sflags, unsigned dir, __u8 f)
{
    int syn = f & TCPF_SYN, ack = f & TCPF_ACK, fin = f & TCPF_FIN, rst = f & TCPF_RST;
    __u8 my_fin = dir ? MOAT_LG_F_FIN_REV : MOAT_LG_F_FIN_FWD;
    __u8 st = *state, fl = *sflags;

    if (!tcp_sane(f))
        return TCP_INVALID;
    if (rst) {
        if (st == MOAT_LG_NEW)
            return TCP_INVALID;
        *state = MOAT_LG_CLOSED;
        return TCP_ACCEPT;
    }
    switch (st) {
    case MOAT_LG_SYN_SENT:
        if (dir == 0)
            return syn && !ack ? TCP_ACCEPT : TCP_INVALID;
        if (!syn)
            return TCP_INVALID;
        st = MOAT_LG_SYN_RECV;
        break;
    case MOAT_LG_SYN_RECV:
        if (syn)
            return ack || dir == 0 ? TCP_ACCEPT : TCP_INVALID;
        if (fin) {
            fl |= my_fin;
            if (dir)
                fl |= MOAT_LG_F_FIN_FIRST;
            st = MOAT_LG_FIN_WAIT;
        } else if (dir == 0) {
            st = MOAT_LG_ESTABLISHED;
        }
        break;
    case MOAT_LG_ESTABLISHED:
        if (syn)
            return dir == 1 && ack ? TCP_ACCEPT : TCP_INVALID;
        if (fin) {
            fl |= my_fin;
            if (dir)
                fl |= MOAT_LG_F_FIN_FIRST;
            st = MOAT_LG_FIN_WAIT;
        }
        break;
    case MOAT_LG_FIN_WAIT:
        if (syn)
            return TCP_INVALID;
        if (fin) {
            fl |= my_fin;
            if ((fl & (MOAT_LG_F_FIN_FWD | MOAT_LG_F_FIN_REV)) ==
                (MOAT_LG_F_FIN_FWD | MOAT_LG_F_FIN_REV))
                st = MOAT_LG_CLOSING;
        }
        break;
    case MOAT_LG_CLOSING: {
        unsigned first = (fl & MOAT_LG_F_FIN_FIRST) ? 1 : 0;
        if (syn)
            return TCP_INVALID;
        if (!fin && dir == first)
            st = MOAT_LG_TIME_WAIT;
        break;
    }
    case MOAT_LG_TIME_WAIT:
        if (syn)
            return dir == 0 && !ack ? TCP_REOPEN : TCP_INVALID;
        break;
    case MOAT_LG_CLOSED:
        if (syn && dir == 0 && !ack)
            return TCP_REOPEN;
        return TCP_INVALID;
    default:
        return TCP_INVALID;
    }
    *state = st;
    *sflags = fl;
    return TCP_ACCEPT;
}

/* Writes a state change into the other entry of the session. */
static __always_inline void sync_peer(const struct moat_lg_sess *s)
{
    struct moat_lg_key peer = s->peer;
    struct moat_lg_sess *o = bpf_map_lookup_elem(&moat_lg_sess, &peer);

    if (o) {
        o->state = s->state;
        o->flags = s->flags;
    }
}

static __always_inline int addr_eq(const __u8 *a, const __u8 *b)
{
    __u32 x[4], y[4];

    __builtin_memcpy(x, a, 16);
    __builtin_memcpy(y, b, 16);
    return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/*
 * An ICMP error: it belongs to the session of the packet it quotes (looked up reversed, as
 * the error travels against that packet), else it is dropped. Under NAT (IPv4) the quoted
 * packet is put back as its sender sent it (the session's other key) and the error goes to
 * that sender; checksums (quoted IP and L4, ICMP) follow incrementally. As the helper does.
 */
static __always_inline int icmp_error(struct xdp_md *ctx, struct pk *p, struct moat_lg_stats *st)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct moat_lg_key k, o;
    struct moat_lg_sess *s;
    __u32 l4 = p->l4_off & 0xff, qo = p->q_off & 0x1ff, ql4 = p->q_l4 & 0x3ff;
    struct iphdr *qip, *oip;
    __u8 *icmp, *q4;
    __u16 isum, oc, nc;
    __be32 qs_old, qd_old, qs_new, qd_new, osrc;

    if (!addr_eq(p->q.src, p->k.dst)) {
        st->icmp_error_unmatched++;
        return XDP_DROP;
    }
    key_reverse(&p->q, &k);
    s = bpf_map_lookup_elem(&moat_lg_sess, &k);
    if (!s) {
        st->icmp_error_unmatched++;
        return XDP_DROP;
    }
    st->icmp_error_related++;
    s->last_seen_ns = bpf_ktime_get_ns();
    if (!(s->flags & MOAT_LG_F_NAT) || p->family != 4) {
        o = p->k;
        return forward(ctx, p, &o, 0, st);
    }
    icmp = data + l4;
    qip = data + qo;
    q4 = data + ql4;
    oip = data + sizeof(struct ethhdr);
    if ((void *)(icmp + 8) > data_end || (void *)(qip + 1) > data_end ||
        (void *)(q4 + 8) > data_end || (void *)(oip + 1) > data_end) {
        st->icmp_error_unmatched++;
        return XDP_DROP;
    }
    __builtin_memcpy(&isum, icmp + 2, 2);
    /* The quoted IP header: addresses, its checksum. */
    __builtin_memcpy(&qs_old, &qip->saddr, 4);
    __builtin_memcpy(&qd_old, &qip->daddr, 4);
    __builtin_memcpy(&qs_new, s->peer.src, 4);
    __builtin_memcpy(&qd_new, s->peer.dst, 4);
    oc = qip->check;
    nc = csum_repl32(csum_repl32(oc, qs_old, qs_new), qd_old, qd_new);
    isum = csum_repl32(isum, qs_old, qs_new);
    isum = csum_repl32(isum, qd_old, qd_new);
    isum = csum_repl16(isum, oc, nc);
    qip->check = nc;
    qip->saddr = qs_new;
    qip->daddr = qd_new;
    /* The quoted L4 header: ports (and UDP's checksum, within the 8 bytes), or the echo id. */
    if (p->q_proto == IPPROTO_TCP || p->q_proto == IPPROTO_UDP) {
        __u16 osp, odp, nsp = s->peer.sport, ndp = s->peer.dport;

        __builtin_memcpy(&osp, q4, 2);
        __builtin_memcpy(&odp, q4 + 2, 2);
        if (p->q_proto == IPPROTO_UDP) {
            __builtin_memcpy(&oc, q4 + 6, 2);
            if (oc) {
                nc = csum_repl32(csum_repl32(oc, qs_old, qs_new), qd_old, qd_new);
                nc = csum_repl16(csum_repl16(nc, osp, nsp), odp, ndp);
                if (!nc)
                    nc = 0xffff;
                isum = csum_repl16(isum, oc, nc);
                __builtin_memcpy(q4 + 6, &nc, 2);
            }
        }
        isum = csum_repl16(isum, osp, nsp);
        isum = csum_repl16(isum, odp, ndp);
        __builtin_memcpy(q4, &nsp, 2);
        __builtin_memcpy(q4 + 2, &ndp, 2);
    } else {
        __u16 oid, nid = s->peer.sport;

        __builtin_memcpy(&oid, q4 + 4, 2);
        __builtin_memcpy(&oc, q4 + 2, 2);
        nc = csum_repl16(oc, oid, nid);
        isum = csum_repl16(isum, oc, nc);
        isum = csum_repl16(isum, oid, nid);
        __builtin_memcpy(q4 + 2, &nc, 2);
        __builtin_memcpy(q4 + 4, &nid, 2);
    }
    __builtin_memcpy(icmp + 2, &isum, 2);
    st->nat_icmp_errors++;
    /* The outer header: to the quoted packet's sender; from its new destination if the error
     * came from the translated host itself. */
    __builtin_memcpy(&osrc, &oip->saddr, 4);
    __builtin_memset(&o, 0, sizeof(o));
    __builtin_memcpy(o.src, osrc == qd_old ? &qd_new : &osrc, 4);
    __builtin_memcpy(o.dst, s->peer.src, 4);
    o.proto = p->proto;
    o.family = 4;
    return forward(ctx, p, &o, 1, st);
}

/* ---- screens (legacy_maps.h; as the helper's dataplane/screen.c) ---- */

/* The rules of common/screen_rules.h speak the same check flags and counter indexes. */
_Static_assert(MOAT_LG_SCR_F_PING_DEATH == MOAT_SCR_F_PING_DEATH &&
                   MOAT_LG_SCR_F_LAND == MOAT_SCR_F_LAND &&
                   MOAT_LG_SCR_F_SYN_FIN == MOAT_SCR_F_SYN_FIN &&
                   MOAT_LG_SCR_F_NO_FLAG == MOAT_SCR_F_NO_FLAG &&
                   MOAT_LG_SCR_F_FIN_NO_ACK == MOAT_SCR_F_FIN_NO_ACK &&
                   MOAT_LG_SCR_F_TEAR_DROP == MOAT_SCR_F_TEAR_DROP,
               "screen check flags differ from common/screen_rules.h");
_Static_assert(MOAT_LG_SCR_C_LAND == MOAT_SCR_C_LAND &&
                   MOAT_LG_SCR_C_SYN_FIN == MOAT_SCR_C_SYN_FIN &&
                   MOAT_LG_SCR_C_NO_FLAG == MOAT_SCR_C_NO_FLAG &&
                   MOAT_LG_SCR_C_FIN_NO_ACK == MOAT_SCR_C_FIN_NO_ACK &&
                   MOAT_LG_SCR_C_TEAR_DROP == MOAT_SCR_C_TEAR_DROP &&
                   MOAT_LG_SCR_C_PING_DEATH == MOAT_SCR_C_PING_DEATH &&
                   MOAT_LG_SCR_CTRS < MOAT_SCR_PASS,
               "screen counter indexes differ from common/screen_rules.h");

/* One more event of key tag in second sec: 1 when that makes it more than limit, box-wide. */
static __always_inline int scr_over(__u64 tag, __u32 sec, __u32 limit, int sticky)
{
    __u32 slot = (__u32)tag & (MOAT_LG_SCR_RATE_SLOTS - 1);
    struct moat_lg_scr_rate *r = bpf_map_lookup_elem(&moat_lg_scrrate, &slot);
    __u32 count;

    if (!r)
        return 0;
    if (r->tag != tag) {
        r->tag = tag;
        r->sec = sec;
        r->count = 1;
        r->over = 0;
        count = 1;
    } else if (r->sec != sec) {
        /* A new second: the window starts again (races only lower counts). */
        r->sec = sec;
        r->count = 1;
        count = 1;
    } else {
        __sync_fetch_and_add(&r->count, 1);
        count = r->count;
    }
    if (count > limit) {
        if (r->over != sec + 1)
            r->over = sec + 1;
        return 1;
    }
    /* sticky (syn-cookie mode, as the helper's): over in the second before, over in this one,
     * so that cookies go on for the whole second instead of admitting its first SYNs. */
    return sticky && r->over == sec;
}

/* Tear-drop (moat_frag_teardrop) of a fragment, its datagram remembered 2 s after its last
 * fragment: IPv4 (addresses, protocol, id), IPv6 (addresses, id: not the next header). */
static __always_inline int scr_teardrop(const struct pk *p, __u64 now)
{
    struct moat_lg_frag_key k = {};
    struct moat_lg_frag *e, n = {};

    __builtin_memcpy(k.src, p->k.src, 16);
    __builtin_memcpy(k.dst, p->k.dst, 16);
    k.id = p->frag_id;
    k.proto = p->family == 4 ? p->proto : 0;
    k.family = p->family;
    e = bpf_map_lookup_elem(&moat_lg_scrfrag, &k);
    if (!e || e->expires_ns <= now) {
        n.expires_ns = now + MOAT_LG_SCR_FRAG_TTL_NS;
        moat_frag_teardrop(&n.seen, p->family == 6, p->frag_lo, p->frag_hi);
        bpf_map_update_elem(&moat_lg_scrfrag, &k, &n, BPF_ANY);
        return 0;
    }
    e->expires_ns = now + MOAT_LG_SCR_FRAG_TTL_NS;
    return moat_frag_teardrop(&e->seen, p->family == 6, p->frag_lo, p->frag_hi);
}

enum { SCR_PASS = 0, SCR_DROP, SCR_COOKIE };

/*
 * The screen of the zone the packet enters from (moat_lg_screens), as the helper's
 * screen_packet(): SCR_DROP when the packet is dropped (counted by check and zone), SCR_COOKIE
 * for a SYN above a syn-flood threshold in syn-cookie mode, else SCR_PASS.
 */
static __always_inline int screen(const struct pk *p, struct moat_lg_stats *st, __u32 ifindex)
{
    struct moat_lg_if *iif = bpf_map_lookup_elem(&moat_lg_ifs, &ifindex);
    struct moat_lg_screen *sc;
    struct moat_lg_scrctr *ctr;
    __u32 zone, sec, c = MOAT_SCR_PASS;
    __u64 fam = p->family, now;

    if (!iif || !iif->zone)
        return 0;
    zone = iif->zone;
    sc = bpf_map_lookup_elem(&moat_lg_screens, &zone);
    if (!sc || !sc->id)
        return 0;
    now = bpf_ktime_get_ns();
    sec = (__u32)(now / 1000000000ull);
    /* In the helper's order: a TCP header's checks, else land and the floods (later fragments
     * included), then the fragment checks (common/screen_rules.h). */
    if (p->proto == IPPROTO_TCP && !p->nf) {
        __u8 f = p->tcp_flags;

        c = moat_scr_tcp_flags(sc->flags, f,
                               (sc->flags & MOAT_LG_SCR_F_LAND) && addr_eq(p->k.src, p->k.dst));
        if (c == MOAT_SCR_PASS && moat_scr_tcp_opening(f)) {
            /* A SYN: per source (dropped in either mode), per destination and port, per
             * destination (syn-cookie mode: answered with a cookie if it matches no session,
             * xdp_main_syn; not counted here). */
            if (sc->syn_src &&
                scr_over(moat_scr_rate_key(sc->seed, p->k.src, MOAT_SCR_RATE_SYN_SRC, fam, 0), sec,
                         sc->syn_src, 0))
                c = MOAT_LG_SCR_C_SYN_FLOOD;
            else if ((sc->syn_attack &&
                      scr_over(moat_scr_rate_key(sc->seed, p->k.dst, MOAT_SCR_RATE_SYN_DST_PORT,
                                                 fam, p->k.dport),
                               sec, sc->syn_attack, sc->syn_cookie)) ||
                     (sc->syn_dst &&
                      scr_over(moat_scr_rate_key(sc->seed, p->k.dst, MOAT_SCR_RATE_SYN_DST, fam, 0),
                               sec, sc->syn_dst, sc->syn_cookie))) {
                if (sc->syn_cookie)
                    return SCR_COOKIE;
                c = MOAT_LG_SCR_C_SYN_FLOOD;
            }
        }
    } else if ((sc->flags & MOAT_LG_SCR_F_LAND) && addr_eq(p->k.src, p->k.dst)) {
        c = MOAT_LG_SCR_C_LAND; /* land without ports: any protocol */
    } else if (p->proto == IPPROTO_UDP && sc->udp_flood) {
        if (scr_over(moat_scr_rate_key(sc->seed, p->k.dst, MOAT_SCR_RATE_UDP_DST, fam, 0), sec,
                     sc->udp_flood, 0))
            c = MOAT_LG_SCR_C_UDP_FLOOD;
    } else if (is_icmp(p->proto) && sc->icmp_flood) {
        if (scr_over(moat_scr_rate_key(sc->seed, p->k.dst, MOAT_SCR_RATE_ICMP_DST, fam, 0), sec,
                     sc->icmp_flood, 0))
            c = MOAT_LG_SCR_C_ICMP_FLOOD;
    }
    if (c >= MOAT_LG_SCR_CTRS && p->frag) {
        if ((sc->flags & MOAT_LG_SCR_F_PING_DEATH) &&
            (p->family == 4
                 ? p->proto == IPPROTO_ICMP && moat_scr_ping_death4(p->frag_lo, p->l3_len)
                 : moat_scr_ping_death6(p->unfrag, p->frag_hi)))
            c = MOAT_LG_SCR_C_PING_DEATH;
        else if ((sc->flags & MOAT_LG_SCR_F_TEAR_DROP) && !p->atomic && scr_teardrop(p, now))
            c = MOAT_LG_SCR_C_TEAR_DROP;
    }
    if (c >= MOAT_LG_SCR_CTRS)
        return 0;
    ctr = bpf_map_lookup_elem(&moat_lg_scrctr, &zone);
    if (ctr)
        ctr->c[c & 15]++;
    st->screen_drop++;
    return 1;
}

/* A session with forward key k was created (d 1) or removed (d -1): moat_lg_scrcnt. */
static __always_inline void sess_count(const struct moat_lg_key *k, int d)
{
    __u32 zero = 0, slot;
    struct moat_lg_screen *g = bpf_map_lookup_elem(&moat_lg_screens, &zero);
    struct moat_lg_scrcnt *n;

    if (!g)
        return;
    slot = moat_lg_cnt_slot(g->seed, k->src, k->family);
    n = bpf_map_lookup_elem(&moat_lg_scrcnt, &slot);
    if (n && (d > 0 || n->src))
        __sync_fetch_and_add(&n->src, d);
    slot = moat_lg_cnt_slot(g->seed, k->dst, k->family);
    n = bpf_map_lookup_elem(&moat_lg_scrcnt, &slot);
    if (n && (d > 0 || n->dst))
        __sync_fetch_and_add(&n->dst, d);
}

/* The session limits of the screen sc of zone for a new flow p: 1 when it is dropped
 * (counted), as the helper's screen_new_flow(). */
static __always_inline int screen_limit(const struct pk *p, const struct moat_lg_screen *sc,
                                        __u32 zone, struct moat_lg_stats *st)
{
    struct moat_lg_scrcnt *n;
    struct moat_lg_scrctr *ctr;
    __u32 slot, c = MOAT_LG_SCR_CTRS;

    if (sc->limit_src) {
        slot = moat_lg_cnt_slot(sc->seed, p->k.src, p->family);
        n = bpf_map_lookup_elem(&moat_lg_scrcnt, &slot);
        if (n && n->src >= sc->limit_src)
            c = MOAT_LG_SCR_C_LIMIT_SRC;
    }
    if (c == MOAT_LG_SCR_CTRS && sc->limit_dst) {
        slot = moat_lg_cnt_slot(sc->seed, p->k.dst, p->family);
        n = bpf_map_lookup_elem(&moat_lg_scrcnt, &slot);
        if (n && n->dst >= sc->limit_dst)
            c = MOAT_LG_SCR_C_LIMIT_DST;
    }
    if (c == MOAT_LG_SCR_CTRS)
        return 0;
    ctr = bpf_map_lookup_elem(&moat_lg_scrctr, &zone);
    if (ctr)
        ctr->c[c & 15]++;
    st->screen_drop++;
    return 1;
}

/* ---- fragments (legacy_maps.h: moat_lg_frags) ---- */

/* The moat_lg_frags key of fragment p arriving on ifindex. */
static __always_inline void frag_key(const struct pk *p, __u32 ifindex,
                                     struct moat_lg_fragsess_key *fk)
{
    struct moat_lg_if *iif = bpf_map_lookup_elem(&moat_lg_ifs, &ifindex);

    __builtin_memcpy(fk->src, p->k.src, 16);
    __builtin_memcpy(fk->dst, p->k.dst, 16);
    fk->id = p->frag_id;
    fk->zone = iif ? iif->zone : 0;
    fk->proto = p->proto;
    fk->family = p->family;
}

/* A first fragment p matched (or created) the session entry p->k with id: its datagram's later
 * fragments follow it. */
static __always_inline void frag_remember(const struct pk *p, __u32 ifindex, __u64 id, __u64 now)
{
    struct moat_lg_fragsess_key fk = {};
    struct moat_lg_fragsess v = {};

    frag_key(p, ifindex, &fk);
    v.key = p->k;
    v.sess_id = id;
    v.expires_ns = now + MOAT_LG_FRAG_TTL_NS;
    bpf_map_update_elem(&moat_lg_frags, &fk, &v, BPF_ANY);
}

/* A later fragment: forwarded with the session of its datagram's first fragment, translated as
 * it is, else dropped (frag_drops). */
static __always_inline int later_fragment(struct xdp_md *ctx, struct pk *p,
                                          struct moat_lg_stats *st)
{
    struct moat_lg_fragsess_key fk = {};
    struct moat_lg_fragsess *e;
    struct moat_lg_sess *s;
    struct moat_lg_key o;
    __u64 now = bpf_ktime_get_ns();

    frag_key(p, ctx->ingress_ifindex, &fk);
    e = bpf_map_lookup_elem(&moat_lg_frags, &fk);
    if (!e || (__s64)(e->expires_ns - now) <= 0)
        goto drop;
    s = bpf_map_lookup_elem(&moat_lg_sess, &e->key);
    if (!s || s->id != e->sess_id)
        goto drop;
    if (s->dir == 1 && (s->flags & MOAT_LG_F_NAT))
        st->nat_reverse_hit++;
    else
        st->session_hit++;
    __sync_fetch_and_add(&s->packets, 1);
    __sync_fetch_and_add(&s->bytes, p->l3_len);
    policy_count(s->policy_id, p->l3_len, 0);
    s->last_seen_ns = now;
    out_tuple(&s->peer, &o);
    return forward(ctx, p, &o, s->flags & MOAT_LG_F_NAT, st);
drop:
    st->frag_drops++;
    return XDP_DROP;
}

/* ---- SYN proxy (legacy_maps.h: SYN cookies; the helper's dataplane/synproxy.h) ---- */

enum { SP_OP_NONE = 0, SP_OP_COOKIE, SP_OP_ACK, SP_OP_SYNACK };

/* The TCP pseudo-header's sum (addresses, protocol, length) plus the len bytes at th. */
static __always_inline __u16 sp_tcp_csum(const __u8 *src, const __u8 *dst, int v6, __u8 *th,
                                         __u32 len)
{
    struct {
        __u8 src[16], dst[16];
        __be32 len, proto;
    } ph;
    __s64 sum;

    __builtin_memcpy(ph.src, src, 16);
    __builtin_memcpy(ph.dst, dst, 16);
    ph.len = bpf_htonl(len);
    ph.proto = bpf_htonl(IPPROTO_TCP);
    if (v6) {
        sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
    } else {
        __be32 w[3];

        __builtin_memcpy(&w[0], src, 4);
        __builtin_memcpy(&w[1], dst, 4);
        w[2] = bpf_htonl(IPPROTO_TCP << 16 | len);
        sum = bpf_csum_diff(0, 0, w, sizeof(w), 0);
    }
    sum = bpf_csum_diff(0, 0, (__be32 *)th, len, (__u32)sum);
    return (__u16)~csum_fold((__u32)sum);
}

/*
 * Makes the frame a lone TCP segment: Ethernet kept (MACs swapped when swap), a new IP header
 * (src -> dst, ttl), a TCP header (ports as in packets, seq and ack host order, flags, window)
 * with an MSS option when has_mss, no payload; the frame cut or grown to that. v6, swap and
 * has_mss are constants at every call (fixed offsets for the verifier). 0, or -1 when the frame
 * could not be resized.
 */
static __always_inline int sp_emit(struct xdp_md *ctx, int v6, int swap, int has_mss,
                                   const __u8 *src, const __u8 *dst, __be16 sport, __be16 dport,
                                   __u32 seq, __u32 ack, __u8 flags, __u16 win, __u16 mss, __u8 ttl)
{
    const __u32 ipl = v6 ? 40 : 20, tl = has_mss ? 24 : 20, len = ETH_HLEN + ipl + tl;
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth;
    __u8 *ip, *th;
    int delta = (int)len - (int)(data_end - data);

    if (delta && bpf_xdp_adjust_tail(ctx, delta))
        return -1;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    if (data + len > data_end)
        return -1;
    eth = data;
    ip = data + ETH_HLEN;
    th = ip + ipl;
    if (swap) {
        __u8 mac[6];

        __builtin_memcpy(mac, eth->h_source, 6);
        __builtin_memcpy(eth->h_source, eth->h_dest, 6);
        __builtin_memcpy(eth->h_dest, mac, 6);
    }
    if (v6) {
        struct ipv6hdr *ip6 = (void *)ip;
        __be32 vtf = bpf_htonl(6u << 28);

        __builtin_memcpy(ip6, &vtf, 4);
        ip6->payload_len = bpf_htons(tl);
        ip6->nexthdr = IPPROTO_TCP;
        ip6->hop_limit = ttl;
        __builtin_memcpy(&ip6->saddr, src, 16);
        __builtin_memcpy(&ip6->daddr, dst, 16);
    } else {
        struct iphdr *iph = (void *)ip;
        __s64 sum;

        ip[0] = 0x45;
        ip[1] = 0;
        iph->tot_len = bpf_htons(ipl + tl);
        iph->id = 0;
        iph->frag_off = bpf_htons(0x4000);
        iph->ttl = ttl;
        iph->protocol = IPPROTO_TCP;
        iph->check = 0;
        __builtin_memcpy(&iph->saddr, src, 4);
        __builtin_memcpy(&iph->daddr, dst, 4);
        sum = bpf_csum_diff(0, 0, (__be32 *)iph, 20, 0);
        iph->check = (__u16)~csum_fold((__u32)sum);
    }
    {
        struct tcphdr *t = (void *)th;

        t->source = sport;
        t->dest = dport;
        t->seq = bpf_htonl(seq);
        t->ack_seq = bpf_htonl(ack);
        th[12] = (__u8)((tl / 4) << 4);
        th[13] = flags;
        t->window = bpf_htons(win);
        t->check = 0;
        t->urg_ptr = 0;
        if (has_mss) {
            th[20] = 2;
            th[21] = 4;
            th[22] = (__u8)(mss >> 8);
            th[23] = (__u8)mss;
        }
        t->check = sp_tcp_csum(src, dst, v6, th, tl);
    }
    return 0;
}

/* The options of a SYN, walked by sp_opt_cb (bpf_loop: verified once, not per option). */
struct sp_opts {
    __u8 b[64]; /* the options (at most 40 bytes), zero-padded */
    __u32 i;    /* the next option's offset */
    __u32 end;  /* the options' length */
    __u16 mss;  /* found, else 536 */
};

static long sp_opt_cb(__u32 n, void *arg)
{
    struct sp_opts *o = arg;
    __u32 i = o->i;
    __u8 kind, len;

    if (i >= o->end || i >= 40)
        return 1;
    kind = o->b[i & 63];
    if (kind == 0)
        return 1;
    if (kind == 1) {
        o->i = i + 1;
        return 0;
    }
    len = o->b[(i + 1) & 63];
    if (len < 2)
        return 1;
    if (kind == 2 && len == 4) {
        o->mss = (__u16)(o->b[(i + 2) & 63] << 8 | o->b[(i + 3) & 63]);
        return 1;
    }
    o->i = i + len;
    return 0;
}

/* The MSS option of the SYN whose TCP header is at l4 (536 without one). */
static __always_inline __u16 sp_syn_mss(struct xdp_md *ctx, __u32 l4)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u8 *t = data + (l4 & 0xff);
    struct sp_opts o = {.mss = 536};
    __u32 olen;

    if (t + 20 > (__u8 *)data_end)
        return 536;
    olen = (t[12] >> 4) * 4;
    if (olen <= 20)
        return 536;
    olen -= 20;
    if (olen > 40 || bpf_xdp_load_bytes(ctx, (l4 & 0xff) + 20, o.b, olen))
        return 536;
    o.end = olen;
    bpf_loop(40, sp_opt_cb, &o, 0);
    return o.mss;
}

/* The cookie key (derived from the zone-0 seed, cached in moat_lg_spslot): 0, or -1 with no
 * seed yet. */
static __always_inline int sp_key(struct moat_lg_sp *sp, struct sc_key *k)
{
    __u32 zero = 0;
    struct moat_lg_screen *g = bpf_map_lookup_elem(&moat_lg_screens, &zero);

    if (!g || !g->seed)
        return -1;
    if (sp->seed != g->seed) {
        struct sc_key d;

        sc_key_derive(&d, g->seed);
        sp->k0 = d.k0;
        sp->k1 = d.k1;
        sp->seed = g->seed;
    }
    k->k0 = sp->k0;
    k->k1 = sp->k1;
    return 0;
}

/*
 * A packet of proxied session s (after its TCP state and counters): -1 to forward it (its
 * numbers translated), else the verdict. Before the server's SYN-ACK only that SYN-ACK
 * (handed to xdp_main_syn, which answers the server) and a server reset (given the sequence
 * number the client expects) pass; the client's packets are dropped (it retransmits).
 */
static __always_inline int sp_session(struct xdp_md *ctx, struct scratch *w,
                                      const struct moat_lg_sess *s, struct moat_lg_stats *st)
{
    struct pk *p = &w->p;
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u8 *th;

    if (p->nf)
        return -1; /* a later fragment: no TCP header */
    th = data + (p->l4_off & 0xff);
    if (th + 20 > (__u8 *)data_end) {
        st->malformed++;
        return XDP_DROP;
    }
    if (s->sp_phase == MOAT_LG_SP_EST) {
        sc_translate(th, s->dir, s->sp_delta);
        return -1;
    }
    if (s->dir == 1 && (p->tcp_flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK)) {
        __u32 ack;

        __builtin_memcpy(&ack, th + 8, 4);
        if (bpf_ntohl(ack) == s->sp_cli_isn + 1) {
            w->sp_op = SP_OP_SYNACK;
            bpf_tail_call(ctx, &moat_progs, MOAT_LG_SLOT_SYN);
            st->not_ready++;
            return XDP_DROP;
        }
    }
    if (s->dir == 1 && (p->tcp_flags & TCPF_RST)) {
        sc_set_seq(th, s->sp_cookie + 1);
        return -1;
    }
    st->sp_drop++;
    return XDP_DROP;
}

/*
 * xdp_main_syn: what the SYN proxy does with a packet xdp_main_prog hands it (w->sp_op):
 *   SP_OP_COOKIE  a SYN above a threshold that matches no session: answered with a cookie
 *                 SYN-ACK (XDP_TX), nothing created.
 *   SP_OP_ACK     a pure ACK that matches no session: in a zone whose screen sends cookies,
 *                 while cookies were sent in this slot or the one before, checked: invalid ->
 *                 dropped; valid -> rewritten into the client's SYN and handed to xdp_main_new,
 *                 which opens the flow proxied. Otherwise on to xdp_main_new as it is.
 *   SP_OP_SYNACK  the server's SYN-ACK of a proxied session: the delta is recorded in both
 *                 entries and the packet becomes the handshake's last ACK, back to the server.
 * Counted in the ingress zone's screen counters (cookie sent / valid / invalid).
 */
SEC("xdp")
int xdp_main_syn(struct xdp_md *ctx)
{
    struct moat_lg_stats *st = stats();
    struct moat_lg_scrctr *ctr;
    struct moat_lg_screen *sc;
    struct moat_lg_if *iif;
    struct moat_lg_sp *sp;
    struct scratch *w;
    struct sc_key key;
    struct pk *p;
    void *data, *data_end;
    __u8 *th;
    __u32 zero = 0, ifindex = ctx->ingress_ifindex, zone, slot, seq, ack;
    __u8 op;

    w = bpf_map_lookup_elem(&moat_lg_scratch, &zero);
    sp = bpf_map_lookup_elem(&moat_lg_spslot, &zero);
    if (!st || !w || !sp)
        return XDP_DROP;
    p = &w->p;
    op = w->sp_op;
    w->sp_op = SP_OP_NONE;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    th = data + (p->l4_off & 0xff);
    if (p->proto != IPPROTO_TCP || p->nf || th + 20 > (__u8 *)data_end) {
        st->malformed++;
        return XDP_DROP;
    }
    __builtin_memcpy(&seq, th + 4, 4);
    __builtin_memcpy(&ack, th + 8, 4);
    seq = bpf_ntohl(seq);
    ack = bpf_ntohl(ack);

    if (op == SP_OP_SYNACK) {
        struct moat_lg_sess *s = bpf_map_lookup_elem(&moat_lg_sess, &p->k), *o;
        struct moat_lg_key peer, src_dst;
        __u32 delta;
        __u16 win;
        int r;

        if (!s || s->sp_phase != MOAT_LG_SP_WAIT) {
            st->sp_drop++;
            return XDP_DROP;
        }
        delta = seq - s->sp_cookie;
        win = s->sp_win;
        peer = s->peer;
        s->sp_delta = delta;
        s->sp_phase = MOAT_LG_SP_EST;
        o = bpf_map_lookup_elem(&moat_lg_sess, &peer);
        if (o) {
            o->sp_delta = delta;
            o->sp_phase = MOAT_LG_SP_EST;
        }
        src_dst = p->k;
        if (p->family == 6)
            r = sp_emit(ctx, 1, 1, 0, src_dst.dst, src_dst.src, src_dst.dport, src_dst.sport, ack,
                        seq + 1, TCPF_ACK, win, 0, 64);
        else
            r = sp_emit(ctx, 0, 1, 0, src_dst.dst, src_dst.src, src_dst.dport, src_dst.sport, ack,
                        seq + 1, TCPF_ACK, win, 0, 64);
        if (r) {
            st->sp_drop++;
            return XDP_DROP;
        }
        st->sp_tx++;
        return XDP_TX;
    }

    iif = bpf_map_lookup_elem(&moat_lg_ifs, &ifindex);
    zone = iif ? iif->zone : 0;
    sc = zone && zone < MOAT_LG_SCR_ZONES ? bpf_map_lookup_elem(&moat_lg_screens, &zone) : 0;
    ctr = bpf_map_lookup_elem(&moat_lg_scrctr, &zone);
    slot = (__u32)(bpf_ktime_get_ns() / 1000000000ull / SC_SLOT_S);
    if (!ctr || !sc || !sc->id || !sc->syn_cookie || !(sc->syn_attack | sc->syn_dst) ||
        sp_key(sp, &key)) {
        if (op != SP_OP_COOKIE)
            goto new_flow;
        if (ctr)
            ctr->c[MOAT_LG_SCR_C_SYN_FLOOD]++; /* no key yet: dropped as in drop mode */
        st->screen_drop++;
        return XDP_DROP;
    }

    if (op == SP_OP_COOKIE) {
        __u16 mss = sp_syn_mss(ctx, p->l4_off), adv;
        __u32 mtu = 0, hdrs = p->family == 6 ? 60 : 40, cookie;
        struct moat_lg_key k = p->k;
        int r;

        bpf_check_mtu(ctx, 0, &mtu, 0, 0);
        if (!mtu)
            mtu = 1500;
        adv = mtu > hdrs + 1460 ? 1460 : mtu > hdrs + 536 ? (__u16)(mtu - hdrs) : 536;
        cookie =
            sc_cookie(&key, k.src, k.dst, k.sport, k.dport, k.family, seq, slot, sc_mss_index(mss));
        if (p->family == 6)
            r = sp_emit(ctx, 1, 1, 1, k.dst, k.src, k.dport, k.sport, cookie, seq + 1,
                        TCPF_SYN | TCPF_ACK, 65535, adv, 64);
        else
            r = sp_emit(ctx, 0, 1, 1, k.dst, k.src, k.dport, k.sport, cookie, seq + 1,
                        TCPF_SYN | TCPF_ACK, 65535, adv, 64);
        if (r) {
            ctr->c[MOAT_LG_SCR_C_SYN_FLOOD]++;
            st->screen_drop++;
            return XDP_DROP;
        }
        ctr->c[MOAT_LG_SCR_C_COOKIE_SENT]++;
        if (sp->last_slot != slot + 1)
            sp->last_slot = slot + 1;
        st->sp_tx++;
        return XDP_TX;
    }

    if (op == SP_OP_ACK && sp->last_slot >= slot) {
        /* The answer to a cookie: the ACK's seq is the client's ISN + 1, its ack the cookie + 1. */
        __u32 cli_isn = seq - 1, cookie = ack - 1;
        struct moat_lg_key k = p->k;
        __u16 win, mss;
        int r;

        win = (__u16)(th[14] << 8 | th[15]);
        if (!sc_cookie_ok(&key, k.src, k.dst, k.sport, k.dport, k.family, cli_isn, cookie, slot,
                          &mss)) {
            ctr->c[MOAT_LG_SCR_C_COOKIE_INVALID]++;
            st->sp_drop++;
            return XDP_DROP;
        }
        if (p->family == 6)
            r = sp_emit(ctx, 1, 0, 1, k.src, k.dst, k.sport, k.dport, cli_isn, 0, TCPF_SYN, win,
                        mss, p->ttl);
        else
            r = sp_emit(ctx, 0, 0, 1, k.src, k.dst, k.sport, k.dport, cli_isn, 0, TCPF_SYN, win,
                        mss, p->ttl);
        if (r) {
            ctr->c[MOAT_LG_SCR_C_COOKIE_INVALID]++;
            st->sp_drop++;
            return XDP_DROP;
        }
        ctr->c[MOAT_LG_SCR_C_COOKIE_VALID]++;
        /* The client's SYN, as it first sent it: a new flow, opened proxied. */
        p->l4_off = ETH_HLEN + (p->family == 6 ? 40 : 20);
        p->l3_len = p->l4_off - ETH_HLEN + 24;
        p->tcp_flags = TCPF_SYN;
        p->frag = 0;
        p->df = 1;
        w->sp_new = 1;
        w->sp_cookie = cookie;
        w->sp_isn = cli_isn;
        w->sp_win = win;
    }
new_flow:
    bpf_tail_call(ctx, &moat_progs, MOAT_LG_SLOT_NEW);
    st->not_ready++;
    return to_kernel();
}

/* ---- xdp_main_prog ---- */

/*
 * 802.1Q / 802.1ad tags, as the helper treats them (dataplane/parse.c, flow.c transmit()): one
 * or two tags between the MACs and an IPv4 / IPv6 EtherType are taken off before anything else.
 * The zone is the ingress interface's, whatever the tag; the frame leaves untagged, forwarded or
 * answered (reset, ICMP error), as the helper's (no VLAN interfaces in the config yet). Anything
 * else stays as it is (parse() counts it unsupported; the shim hands a third tag to the kernel).
 * Returns the bytes taken off. Not inlined: a call of its own costs the verifier half the
 * states of inlining (xdp_main_prog 63k instructions processed instead of 111k).
 */
static __attribute__((noinline)) int strip_vlan(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u8 *f = data, macs[12];
    __u32 n = 0;
    __be16 t;

    if ((void *)(f + ETH_HLEN) > data_end)
        return 0;
    __builtin_memcpy(&t, f + 12, 2);
    for (int i = 0; i < 2; i++) {
        if (t != bpf_htons(ETH_P_8021Q) && t != bpf_htons(ETH_P_8021AD))
            break;
        if ((void *)(f + ETH_HLEN + 4 * (i + 1)) > data_end)
            return 0;
        __builtin_memcpy(&t, f + 16 + 4 * i, 2);
        n++;
    }
    if (!n || (t != bpf_htons(ETH_P_IP) && t != bpf_htons(ETH_P_IPV6)))
        return 0;
    __builtin_memcpy(macs, f, 12);
    if (bpf_xdp_adjust_head(ctx, (int)(4 * n)))
        return 0;
    f = (void *)(long)ctx->data;
    if ((void *)(f + ETH_HLEN) > (void *)(long)ctx->data_end)
        return 0;
    __builtin_memcpy(f, macs, 12);
    return 4 * n;
}

SEC("xdp")
int xdp_main_prog(struct xdp_md *ctx)
{
    struct moat_lg_stats *st;
    struct moat_lg_sess *s;
    struct moat_lg_key o;
    struct scratch *w;
    struct pk *p;
    __u32 zero = 0;
    int res;

    moat_shim_settle_tail_call();
    st = stats();
    w = bpf_map_lookup_elem(&moat_lg_scratch, &zero);
    if (!st || !w)
        return XDP_DROP;
    st->rx++;
    p = &w->p;
    __builtin_memset(p, 0, sizeof(*p));
    strip_vlan(ctx);
    res = parse(ctx, p);
    if (res == P_MALFORMED) {
        st->malformed++;
        return XDP_DROP;
    }
    if (res == P_FRAG) {
        if (screen(p, st, ctx->ingress_ifindex))
            return XDP_DROP;
        return later_fragment(ctx, p, st);
    }
    if (res != P_OK) {
        st->unsupported++;
        return XDP_DROP;
    }
    res = screen(p, st, ctx->ingress_ifindex);
    if (res == SCR_DROP)
        return XDP_DROP;
    w->sp_op = res == SCR_COOKIE ? SP_OP_COOKIE : SP_OP_NONE;
    w->sp_new = 0;
    if (p->ttl <= 1) {
        /* As a router: time exceeded, before any session, policy or translation. */
        struct moat_lg_cfg *cfg = bpf_map_lookup_elem(&moat_lg_cfg, &zero);

        if (cfg && cfg->ready) {
            st->ttl_exceeded++;
            return send_error(ctx, w, MOAT_LG_ERR_TIME_EXCEEDED);
        }
    }

    if (p->icmp_err)
        return icmp_error(ctx, p, st);
    s = bpf_map_lookup_elem(&moat_lg_sess, &p->k);
    if (!s)
        goto miss;
    if (p->proto == IPPROTO_TCP) {
        __u8 f = p->tcp_flags;

        if (!(s->state == MOAT_LG_ESTABLISHED &&
              (f & (TCPF_SYN | TCPF_FIN | TCPF_RST | TCPF_ACK)) == TCPF_ACK)) {
            __u8 state = s->state, fl = s->flags;
            int v = tcp_track(&state, &fl, s->dir, f);

            if (v == TCP_INVALID) {
                st->tcp_invalid++;
                return XDP_DROP;
            }
            if (v == TCP_REOPEN) {
                /* A new connection on the tuple of a finished one: replace the session. */
                struct moat_lg_key peer = s->peer;
                struct moat_lg_limit *lim = bpf_map_lookup_elem(&moat_lg_limit, &zero);

                if (!bpf_map_delete_elem(&moat_lg_sess, &peer) && lim && lim->active)
                    __sync_fetch_and_add(&lim->active, -1);
                if (!bpf_map_delete_elem(&moat_lg_sess, &p->k))
                    sess_count(&p->k, -1); /* p->k: the forward key (a SYN of the initiator) */
                goto miss;
            }
            if (state != s->state || fl != s->flags) {
                s->state = state;
                s->flags = fl;
                sync_peer(s);
            }
        }
    } else if (s->dir == 1 && s->state == MOAT_LG_NEW) {
        s->state = MOAT_LG_ESTABLISHED;
        sync_peer(s);
    }
    if (s->dir == 1 && (s->flags & MOAT_LG_F_NAT))
        st->nat_reverse_hit++;
    else
        st->session_hit++;
    __sync_fetch_and_add(&s->packets, 1);
    __sync_fetch_and_add(&s->bytes, p->l3_len);
    policy_count(s->policy_id, p->l3_len, 0);
    s->last_seen_ns = bpf_ktime_get_ns();
    if (p->frag)
        frag_remember(p, ctx->ingress_ifindex, s->id, s->last_seen_ns);
    if (s->sp_phase && p->proto == IPPROTO_TCP) {
        res = sp_session(ctx, w, s, st);
        if (res >= 0)
            return res;
    }
    out_tuple(&s->peer, &o);
    return forward(ctx, p, &o, s->flags & MOAT_LG_F_NAT, st);

miss:
    st->session_miss++;
    if (p->proto == IPPROTO_TCP &&
        (w->sp_op == SP_OP_COOKIE ||
         (p->tcp_flags & (TCPF_SYN | TCPF_ACK | TCPF_RST | TCPF_FIN)) == TCPF_ACK)) {
        if (w->sp_op != SP_OP_COOKIE)
            w->sp_op = SP_OP_ACK;
        bpf_tail_call(ctx, &moat_progs, MOAT_LG_SLOT_SYN);
    }
    bpf_tail_call(ctx, &moat_progs, MOAT_LG_SLOT_NEW);
    st->not_ready++;
    return to_kernel();
}

/* ---- policy reject: a TCP first packet is answered with a reset ---- */

struct pseudo6 {
    __u8 src[16];
    __u8 dst[16];
    __be32 len;
    __be32 proto;
};

/*
 * The rejected TCP packet becomes the reset that answers it (RFC 9293 3.10.7.1: ACK set:
 * seq = its ack, RST; else seq 0, RST|ACK acknowledging what it occupied), addresses, ports
 * and MACs swapped, options and payload cut, and goes back out of the interface it came in
 * on (XDP_TX), as the helper's send_reject answers. IPv4 options and IPv6 extension headers
 * are cut too (the TCP header moves up behind a bare IP header), as the helper builds its
 * reset. syn_seq: the reset's seq when the packet has no ACK (0; a SYN rebuilt from a cookie
 * ACK: cookie + 1, what its established client expects). Returns the verdict, or -1 when the
 * packet cannot be turned around.
 */
static __always_inline int reject_tcp(struct xdp_md *ctx, struct pk *p, __u32 syn_seq)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct tcphdr *th;
    __u32 l4 = p->l4_off & 0xff, seq, ack, occupied, thlen;
    __u32 base = sizeof(*eth) + (p->family == 4 ? 20 : 40); /* where the reset's TCP header goes */
    __u8 mac[6], f;
    int delta;

    th = data + l4;
    if ((void *)(eth + 1) > data_end || (void *)(th + 1) > data_end)
        return -1;
    thlen = th->doff * 4;
    f = p->tcp_flags;
    seq = bpf_ntohl(th->seq);
    ack = bpf_ntohl(th->ack_seq);
    occupied = p->l3_len - (l4 - sizeof(*eth)) - thlen + !!(f & TCPF_SYN) + !!(f & TCPF_FIN);
    if (l4 != base) {
        /* Options or extension headers between: the TCP header moves up behind the IP one. */
        struct tcphdr hdr;

        if (l4 < base)
            return -1;
        __builtin_memcpy(&hdr, th, sizeof(hdr));
        th = data + base;
        if ((void *)(th + 1) > data_end)
            return -1;
        __builtin_memcpy(th, &hdr, sizeof(hdr));
    }
    __builtin_memcpy(mac, eth->h_source, 6);
    __builtin_memcpy(eth->h_source, eth->h_dest, 6);
    __builtin_memcpy(eth->h_dest, mac, 6);
    {
        __be16 t = th->source;
        th->source = th->dest;
        th->dest = t;
    }
    if (f & TCPF_ACK) {
        th->seq = bpf_htonl(ack);
        th->ack_seq = 0;
        ((__u8 *)th)[13] = TCPF_RST;
    } else {
        th->seq = bpf_htonl(syn_seq);
        th->ack_seq = bpf_htonl(seq + occupied);
        ((__u8 *)th)[13] = TCPF_RST | TCPF_ACK;
    }
    ((__u8 *)th)[12] = 5 << 4;
    th->window = 0;
    th->check = 0;
    th->urg_ptr = 0;
    /* Cut options and payload: the frame ends after the 20-byte TCP header. */
    delta = (int)(base + sizeof(*th)) - (int)(data_end - data);
    if (delta < 0 && bpf_xdp_adjust_tail(ctx, delta))
        return -1;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    if (p->family == 4) {
        struct iphdr *iph = data + sizeof(struct ethhdr);
        struct {
            __be32 src, dst;
            __u8 zero, proto;
            __be16 len;
        } ph;
        __be32 a;
        __s64 sum;

        th = data + sizeof(struct ethhdr) + 20;
        if ((void *)(th + 1) > data_end)
            return -1;
        a = iph->saddr;
        iph->saddr = iph->daddr;
        iph->daddr = a;
        iph->ihl = 5;
        iph->protocol = IPPROTO_TCP;
        iph->tot_len = bpf_htons(40);
        iph->ttl = 64;
        iph->id = 0;
        iph->frag_off = bpf_htons(0x4000);
        iph->check = 0;
        sum = bpf_csum_diff(0, 0, (__be32 *)iph, 20, 0);
        iph->check = (__u16)~csum_fold((__u32)sum);
        ph.src = iph->saddr;
        ph.dst = iph->daddr;
        ph.zero = 0;
        ph.proto = IPPROTO_TCP;
        ph.len = bpf_htons(20);
        sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
        sum = bpf_csum_diff(0, 0, (__be32 *)th, 20, (__u32)sum);
        th->check = (__u16)~csum_fold((__u32)sum);
    } else {
        struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
        struct pseudo6 ph;
        __u8 t[16];
        __s64 sum;

        th = data + sizeof(struct ethhdr) + 40;
        if ((void *)(th + 1) > data_end)
            return -1;
        __builtin_memcpy(t, &ip6->saddr, 16);
        __builtin_memcpy(&ip6->saddr, &ip6->daddr, 16);
        __builtin_memcpy(&ip6->daddr, t, 16);
        ip6->payload_len = bpf_htons(20);
        ip6->nexthdr = IPPROTO_TCP;
        ip6->hop_limit = 64;
        __builtin_memcpy(ph.src, &ip6->saddr, 16);
        __builtin_memcpy(ph.dst, &ip6->daddr, 16);
        ph.len = bpf_htonl(20);
        ph.proto = bpf_htonl(IPPROTO_TCP);
        sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
        sum = bpf_csum_diff(0, 0, (__be32 *)th, 20, (__u32)sum);
        th->check = (__u16)~csum_fold((__u32)sum);
    }
    return XDP_TX;
}

/* ---- xdp_main_new: the first packet of a flow ---- */

static __always_inline int in_list(__u32 list, const __u8 *addr, __u8 family)
{
    struct moat_lg_pfx_key key = {};

    if (!list)
        return 1;
    key.prefixlen = 32 + (family == 6 ? 128 : 32);
    key.list = bpf_htonl(list * 2 + (family == 6 ? 1 : 0));
    __builtin_memcpy(key.addr, addr, 16);
    return bpf_map_lookup_elem(&moat_lg_pfx, &key) != 0;
}

struct pol_ctx {
    __u32 first;
    __u32 found; /* rule index + 1 */
    __u16 sport, dport;
};

static long pol_cb(__u32 i, void *arg)
{
    struct pol_ctx *c = arg;
    struct moat_lg_rule *r;
    struct scratch *w;
    __u32 zero = 0, idx = c->first + i;

    r = bpf_map_lookup_elem(&moat_lg_rules, &idx);
    w = bpf_map_lookup_elem(&moat_lg_scratch, &zero);
    if (!r || !w)
        return 1;
    if (r->proto && r->proto != w->xk.proto)
        return 0;
    if (c->sport < r->sport_lo || c->sport > r->sport_hi || c->dport < r->dport_lo ||
        c->dport > r->dport_hi)
        return 0;
    if (!in_list(r->src_list, w->xk.src, w->xk.family) ||
        !in_list(r->dst_list, w->xk.dst, w->xk.family))
        return 0;
    c->found = idx + 1;
    return 1;
}

static __always_inline int in_ifs(const __u32 *ifs, __u32 ifindex)
{
    for (int i = 0; i < MOAT_LG_NAT_IFS; i++)
        if (ifs[i] && ifs[i] == ifindex)
            return 1;
    return 0;
}

/* Zone / interface sets: both empty = any. */
static __always_inline int zone_if_match(__u64 zones, const __u32 *ifs, __u16 zone, __u32 ifindex)
{
    if (!zones && !ifs[0])
        return 1;
    if (zone <= MOAT_LG_MAX_ZONE && (zones & (1ull << zone)))
        return 1;
    return in_ifs(ifs, ifindex);
}

enum { NAT_PHASE_IN = 0, NAT_PHASE_STATIC_OUT, NAT_PHASE_SOURCE };

struct nat_ctx {
    __u32 first;
    __u32 phase;
    __u32 found; /* rule index + 1 */
    __u32 in_if, out_if;
    __u16 in_zone, out_zone;
    __u16 dport; /* host order, of xk */
    __u16 pad;
};

static long nat_cb(__u32 i, void *arg)
{
    struct nat_ctx *c = arg;
    struct moat_lg_nat_rule *r;
    struct scratch *w;
    __u32 zero = 0, idx = c->first + i;
    __be32 src;

    r = bpf_map_lookup_elem(&moat_lg_nat, &idx);
    w = bpf_map_lookup_elem(&moat_lg_scratch, &zero);
    if (!r || !w)
        return 1;
    __builtin_memcpy(&src, w->xk.src, 4);
    if (c->phase == NAT_PHASE_STATIC_OUT) {
        if (r->kind != MOAT_LG_NAT_STATIC)
            return 1; /* static rules come first: no more */
        if ((src & r->stat_mask) == r->stat_addr &&
            zone_if_match(r->from_zones, r->from_ifs, c->out_zone, c->out_if)) {
            c->found = idx + 1;
            return 1;
        }
        return 0;
    }
    if (c->phase == NAT_PHASE_IN) {
        if (r->kind == MOAT_LG_NAT_SOURCE)
            return 1; /* source rules come last */
        if (!zone_if_match(r->from_zones, r->from_ifs, c->in_zone, c->in_if))
            return 0;
    } else {
        if (r->kind != MOAT_LG_NAT_SOURCE)
            return 0;
        if (!zone_if_match(r->from_zones, r->from_ifs, c->in_zone, c->in_if) ||
            !zone_if_match(r->to_zones, r->to_ifs, c->out_zone, c->out_if))
            return 0;
    }
    if (r->proto && r->proto != w->xk.proto)
        return 0;
    if ((r->dport_lo || r->dport_hi) && (c->dport < r->dport_lo || c->dport > r->dport_hi))
        return 0;
    if (!in_list(r->src_list, w->xk.src, 4) || !in_list(r->dst_list, w->xk.dst, 4))
        return 0;
    c->found = idx + 1;
    return 1;
}

/* The n-th address of a pool, host order. */
static __always_inline __u32 pool_addr(const struct moat_lg_spool *sp, __u32 n)
{
    for (int i = 0; i < MOAT_LG_POOL_RANGES; i++) {
        __u32 size;

        if ((__u32)i >= sp->nranges)
            break;
        size = sp->hi[i] - sp->lo[i] + 1;
        if (n < size)
            return sp->lo[i] + n;
        n -= size;
    }
    return sp->lo[0];
}

/* A source-NAT allocation (legacy_maps.h: moat_lg_nmap): try i is port try i % probes of pool
 * address (start + i / probes) % naddr. */
struct alloc_ctx {
    struct moat_lg_nmap_key ik;
    __u32 pool; /* pool id, 0: the interface's address */
    __be32 if_addr;
    __u32 start, naddr, addrs, probes, cursor; /* addrs: pool addresses to try */
    __u32 lo, span;                            /* ports [lo, lo + span) */
    __u32 no_xlate;
    __u32 found;
};

static long alloc_cb(__u32 i, void *arg)
{
    struct alloc_ctx *c = arg;
    struct moat_lg_next_key nk = {};
    struct moat_lg_spool *sp;
    struct scratch *w;
    __u32 zero = 0, an, pid = c->pool;
    __be32 ea = c->if_addr;
    __be16 port;

    w = bpf_map_lookup_elem(&moat_lg_scratch, &zero);
    if (!w || !c->probes || !c->naddr || !c->span)
        return 1;
    if (pid) {
        sp = bpf_map_lookup_elem(&moat_lg_spools, &pid);
        if (!sp)
            return 1;
        an = (c->start + i / c->probes) % c->naddr;
        ea = bpf_htonl(pool_addr(sp, an));
    }
    port = c->no_xlate ? c->ik.int_port : bpf_htons(c->lo + (c->cursor + i) % c->span);
    nk.ext_addr = ea;
    nk.ext_port = port;
    nk.proto = c->ik.proto;
    if (bpf_map_update_elem(&moat_lg_next, &nk, &c->ik, BPF_NOEXIST))
        return 0; /* another internal endpoint's */
    __builtin_memcpy(w->xk.src, &ea, 4);
    w->xk.sport = port;
    key_reverse(&w->xk, &w->rk);
    if (bpf_map_update_elem(&moat_lg_sess, &w->rk, &w->v, BPF_NOEXIST)) {
        bpf_map_delete_elem(&moat_lg_next, &nk);
        return 0;
    }
    c->found = 1;
    return 1;
}

/* The outcome of insert_reverse(). */
enum { INS_OK = 0, INS_OK_NEW_MAPPING, INS_CONFLICT, INS_EXHAUSTED };

/* The session leaves from the internal endpoint's mapping m: w->xk's source address and port
 * become m's, and the reverse entry goes in under the reply key (INS_CONFLICT: it was taken). */
static __always_inline int take_mapping(struct scratch *w, struct moat_lg_nmap *m)
{
    m->used_ns = w->v.created_ns;
    __builtin_memcpy(w->xk.src, &m->ext_addr, 4);
    w->xk.sport = m->ext_port;
    key_reverse(&w->xk, &w->rk);
    return bpf_map_update_elem(&moat_lg_sess, &w->rk, &w->v, BPF_NOEXIST) ? INS_CONFLICT : INS_OK;
}

/*
 * Inserts the reverse entry w->v under w->rk (reply key of w->xk) with BPF_NOEXIST. Without
 * c (no port translated): w->xk as it is. With c: the internal endpoint's mapping if it has one
 * (w->xk's source address and port become its external ones), else a new one (alloc_cb), or
 * the one another CPU made for the endpoint meanwhile.
 */
static __always_inline int insert_reverse(struct scratch *w, struct alloc_ctx *c)
{
    struct moat_lg_percpu *pc;
    struct moat_lg_nmap *m, nv = {};
    struct moat_lg_next_key nk = {};
    __u32 zero = 0, tries;

    if (!c) {
        key_reverse(&w->xk, &w->rk);
        return bpf_map_update_elem(&moat_lg_sess, &w->rk, &w->v, BPF_NOEXIST) ? INS_CONFLICT
                                                                              : INS_OK;
    }
    m = bpf_map_lookup_elem(&moat_lg_nmap, &c->ik);
    if (m) /* endpoint-independent mapping */
        return take_mapping(w, m);
    pc = bpf_map_lookup_elem(&moat_lg_percpu, &zero);
    if (!pc)
        return INS_EXHAUSTED;
    if (!pc->cursor)
        pc->cursor = bpf_get_prandom_u32() | 1;
    c->cursor = pc->cursor;
    tries = c->probes * c->addrs;
    bpf_loop(tries, alloc_cb, c, 0);
    pc->cursor += tries;
    if (!c->found)
        return INS_EXHAUSTED;
    __builtin_memcpy(&nv.ext_addr, w->xk.src, 4);
    nv.ext_port = w->xk.sport;
    nv.used_ns = w->v.created_ns;
    if (bpf_map_update_elem(&moat_lg_nmap, &c->ik, &nv, BPF_NOEXIST)) {
        /* Another CPU mapped the same endpoint meanwhile, or the table is full: this
         * allocation goes back, and the session takes the other CPU's mapping, as if it had
         * found it above. */
        bpf_map_delete_elem(&moat_lg_sess, &w->rk);
        nk.ext_addr = nv.ext_addr;
        nk.ext_port = nv.ext_port;
        nk.proto = c->ik.proto;
        bpf_map_delete_elem(&moat_lg_next, &nk);
        m = bpf_map_lookup_elem(&moat_lg_nmap, &c->ik);
        return m ? take_mapping(w, m) : INS_CONFLICT;
    }
    return INS_OK_NEW_MAPPING;
}

/*
 * The first packet of a flow whose session another CPU created meanwhile (xdp_main_new lost
 * the reverse key to it): a packet of that session, as xdp_main_prog's hit handles it (its
 * policy was counted with the decision). When only the reverse entry is in yet (the other CPU
 * is about to insert the forward one), the packet leaves as that entry says (w->xk), counted
 * in session_hit but not in the session. Returns -1 when there is no such session (the key is
 * another flow's), -2 when its TCP state refuses the packet (tcp_invalid), else whether it is
 * translated, w->xk its tuple out.
 */
static __always_inline int late_hit(struct xdp_md *ctx, struct scratch *w, struct moat_lg_stats *st)
{
    struct pk *p = &w->p;
    struct moat_lg_sess *s;
    __u8 state, fl;
    int v, fwd = 1;

    if (w->sp_new) /* a SYN rebuilt from a cookie: the client sends its ACK again */
        return -1;
    s = bpf_map_lookup_elem(&moat_lg_sess, &p->k);
    if (!s) {
        s = bpf_map_lookup_elem(&moat_lg_sess, &w->rk);
        if (!s || !addr_eq(s->peer.src, p->k.src) || !addr_eq(s->peer.dst, p->k.dst) ||
            s->peer.sport != p->k.sport || s->peer.dport != p->k.dport ||
            s->peer.proto != p->k.proto)
            return -1;
        fwd = 0;
    }
    if (s->dir != !fwd)
        return -1;
    if (p->proto == IPPROTO_TCP) {
        state = s->state;
        fl = s->flags;
        v = tcp_track(&state, &fl, 0, p->tcp_flags);
        if (v == TCP_INVALID)
            st->tcp_invalid++;
        if (v != TCP_ACCEPT)
            return v == TCP_INVALID ? -2 : -1;
        if (state != s->state || fl != s->flags) {
            s->state = state;
            s->flags = fl;
            sync_peer(s);
        }
    }
    st->session_hit++;
    if (!fwd)
        return !!(s->flags & MOAT_LG_F_NAT);
    __sync_fetch_and_add(&s->packets, 1);
    __sync_fetch_and_add(&s->bytes, p->l3_len);
    s->last_seen_ns = bpf_ktime_get_ns();
    if (p->frag)
        frag_remember(p, ctx->ingress_ifindex, s->id, s->last_seen_ns);
    out_tuple(&s->peer, &w->xk);
    return !!(s->flags & MOAT_LG_F_NAT);
}

SEC("xdp")
int xdp_main_new(struct xdp_md *ctx)
{
    struct moat_lg_stats *st;
    struct moat_lg_cfg *cfg;
    struct moat_lg_if *iif, *oif;
    struct moat_iface *mif;
    struct moat_lg_route_key rkey = {};
    struct moat_lg_route *r;
    struct moat_lg_nat_rule *dr = 0, *sr = 0;
    struct moat_lg_pair *pair;
    struct moat_lg_percpu *pc;
    struct moat_lg_limit *lim;
    struct moat_lg_event *ev;
    struct scratch *w;
    struct pk *p;
    struct pol_ctx pcx = {};
    struct nat_ctx nc = {};
    __u32 zero = 0, in_ifindex = ctx->ingress_ifindex, out_ifindex, pair_key, policy_id = 0,
          app_timeout = 0, rule_idx;
    __u16 in_zone, out_zone, dnat_rule = 0, snat_rule = 0, snat_pool = 0;
    int action, nat_on, snat_iface = 0, snat_pool_on = 0, alloc = 0, nat, ins;
    struct alloc_ctx ac = {};
    __be32 snat_addr = 0;

    st = stats();
    w = bpf_map_lookup_elem(&moat_lg_scratch, &zero);
    cfg = bpf_map_lookup_elem(&moat_lg_cfg, &zero);
    if (!st || !w || !cfg)
        return XDP_DROP;
    p = &w->p;
    if (!cfg->ready) {
        st->not_ready++;
        return to_kernel();
    }
    if (p->proto == IPPROTO_TCP) {
        __u8 f = p->tcp_flags;
        if (!tcp_sane(f)) {
            st->tcp_invalid++;
            return XDP_DROP;
        }
    }
    /*
     * An interface still armed (the helper's socket just went away, or this queue has none):
     * the helper owns its flows and controld seeds this path from the mirror before it
     * disarms. A flow created here now would shadow an established one (a new NAT port) and
     * the helper would never learn of it: dropped, counted.
     */
    mif = bpf_map_lookup_elem(&moat_ifaces, &in_ifindex);
    if (mif && (mif->flags & MOAT_IF_ARMED)) {
        st->armed_miss++;
        return XDP_DROP;
    }
    iif = bpf_map_lookup_elem(&moat_lg_ifs, &in_ifindex);
    if (!iif) {
        st->not_ready++;
        return to_kernel();
    }
    in_zone = iif->zone;
    /* A new stateful flow starts with a SYN; interfaces in no zone route without state. */
    if (in_zone && p->proto == IPPROTO_TCP && (p->tcp_flags & (TCPF_SYN | TCPF_ACK)) != TCPF_SYN) {
        st->non_syn_drop++;
        return XDP_DROP;
    }
    /* The session limits of the ingress zone's screen (before NAT and policy, as the helper). */
    if (in_zone && in_zone < MOAT_LG_SCR_ZONES) {
        __u32 zk = in_zone;
        struct moat_lg_screen *sc = bpf_map_lookup_elem(&moat_lg_screens, &zk);

        if (sc && sc->id && (sc->limit_src || sc->limit_dst) && screen_limit(p, sc, zk, st))
            return XDP_DROP;
    }
    w->xk = p->k;
    nat_on = p->family == 4 && cfg->nat_count > 0;

    /* Destination NAT: static, then destination rules (first match in order). */
    if (nat_on) {
        nc.first = cfg->nat_first;
        nc.phase = NAT_PHASE_IN;
        nc.in_if = in_ifindex;
        nc.in_zone = in_zone;
        nc.dport = p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP ? bpf_ntohs(p->k.dport) : 0;
        bpf_loop(cfg->nat_count, nat_cb, &nc, 0);
        if (nc.found) {
            rule_idx = nc.found - 1;
            dr = bpf_map_lookup_elem(&moat_lg_nat, &rule_idx);
        }
        if (dr && dr->kind == MOAT_LG_NAT_STATIC) {
            __be32 d;
            __builtin_memcpy(&d, w->xk.dst, 4);
            d = dr->stat_addr | (d & ~dr->stat_mask);
            __builtin_memcpy(w->xk.dst, &d, 4);
        } else if (dr && dr->action == MOAT_LG_NAT_POOL) {
            __u32 pid = dr->pool_id;
            struct moat_lg_dpool *dp = bpf_map_lookup_elem(&moat_lg_dpools, &pid);
            if (dp) {
                __builtin_memcpy(w->xk.dst, &dp->addr, 4);
                if (dp->port && (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP))
                    w->xk.dport = bpf_htons(dp->port);
            }
        } else {
            dr = 0;
        }
        if (dr)
            dnat_rule = dr->id;
    }

    /* Route of the (translated) destination: the egress zone. */
    rkey.prefixlen = 32 + (p->family == 6 ? 128 : 32);
    rkey.family = bpf_htonl(p->family);
    __builtin_memcpy(rkey.addr, w->xk.dst, 16);
    r = bpf_map_lookup_elem(&moat_lg_routes, &rkey);
    if (!r) {
        st->fib_miss++;
        return XDP_DROP;
    }
    out_ifindex = r->ifindex;
    oif = bpf_map_lookup_elem(&moat_lg_ifs, &out_ifindex);
    if (!oif) {
        st->fib_miss++;
        return XDP_DROP;
    }
    out_zone = oif->zone;
    if (!in_zone && !out_zone) {
        struct moat_lg_key o = p->k;
        st->plain_forward++;
        return forward(ctx, p, &o, 0, st);
    }
    if (!in_zone || !out_zone) {
        st->zone_drop++;
        return XDP_DROP;
    }

    /* Policy: the pair's sub-rules in order, else the default policy. */
    pair_key = (__u32)in_zone << 16 | out_zone;
    pair = bpf_map_lookup_elem(&moat_lg_pairs, &pair_key);
    action = cfg->default_permit ? MOAT_LG_PERMIT : MOAT_LG_DENY;
    if (pair) {
        pcx.first = pair->first;
        if (is_icmp(p->proto)) {
            pcx.sport = 0;
            pcx.dport = (__u16)p->icmp_type << 8 | p->icmp_code;
        } else {
            pcx.sport = bpf_ntohs(w->xk.sport);
            pcx.dport = bpf_ntohs(w->xk.dport);
        }
        bpf_loop(pair->count, pol_cb, &pcx, 0);
        if (pcx.found) {
            struct moat_lg_rule *rl;
            rule_idx = pcx.found - 1;
            rl = bpf_map_lookup_elem(&moat_lg_rules, &rule_idx);
            if (rl) {
                action = rl->action;
                policy_id = rl->policy_id;
                app_timeout = rl->app_timeout;
            }
        }
    }
    policy_count(policy_id, p->l3_len, 1);
    if (action == MOAT_LG_DENY) {
        st->policy_deny++;
        return XDP_DROP;
    }
    if (action != MOAT_LG_PERMIT) {
        st->policy_reject++;
        if (p->proto != IPPROTO_TCP)
            return send_error(ctx, w, MOAT_LG_ERR_PROHIBITED);
        if (!(p->tcp_flags & TCPF_RST)) {
            int v;

            if (!err_token()) {
                st->icmp_rate_limited++;
                return XDP_DROP;
            }
            v = reject_tcp(ctx, p, w->sp_new ? w->sp_cookie + 1 : 0);
            if (v >= 0) {
                st->reject_sent++;
                return v;
            }
        }
        return XDP_DROP;
    }
    lim = bpf_map_lookup_elem(&moat_lg_limit, &zero);
    if (lim && lim->max && lim->active >= lim->max) {
        st->session_table_full++;
        return XDP_DROP;
    }
    st->policy_permit++;

    /* Source NAT: static (outbound), source rules, hairpin. */
    if (nat_on) {
        nc.out_if = out_ifindex;
        nc.out_zone = out_zone;
        nc.found = 0;
        if (!(dr && dr->kind == MOAT_LG_NAT_STATIC)) {
            nc.phase = NAT_PHASE_STATIC_OUT;
            bpf_loop(cfg->nat_count, nat_cb, &nc, 0);
        }
        if (nc.found) {
            rule_idx = nc.found - 1;
            sr = bpf_map_lookup_elem(&moat_lg_nat, &rule_idx);
            if (sr) {
                __be32 a;
                __builtin_memcpy(&a, w->xk.src, 4);
                a = sr->ext_addr | (a & ~sr->stat_mask);
                __builtin_memcpy(w->xk.src, &a, 4);
                snat_rule = sr->id;
            }
        } else {
            nc.phase = NAT_PHASE_SOURCE;
            bpf_loop(cfg->nat_count, nat_cb, &nc, 0);
            if (nc.found) {
                rule_idx = nc.found - 1;
                sr = bpf_map_lookup_elem(&moat_lg_nat, &rule_idx);
            }
            if (sr) {
                if (sr->action == MOAT_LG_NAT_INTERFACE)
                    snat_iface = 1;
                else if (sr->action == MOAT_LG_NAT_POOL)
                    snat_pool_on = 1;
                if (snat_iface || snat_pool_on)
                    snat_rule = sr->id;
            } else if (dr && out_zone == in_zone) {
                snat_iface = 1; /* hairpin */
            }
        }
        if (snat_iface) {
            if (!oif->has_v4) {
                st->nat_alloc_fail++;
                return XDP_DROP;
            }
            snat_addr = oif->v4;
            alloc = p->has_id;
            ac.ik.src = MOAT_LG_NMAP_IF | out_ifindex;
            ac.if_addr = snat_addr;
            ac.naddr = ac.addrs = 1;
            ac.lo = MOAT_NAT_IF_PORT_LO;
            ac.span = MOAT_NAT_IF_PORT_HI - MOAT_NAT_IF_PORT_LO + 1;
        } else if (snat_pool_on && sr) {
            __u32 pid = sr->pool_id, src, n = 0;
            struct moat_lg_spool *sp = bpf_map_lookup_elem(&moat_lg_spools, &pid);

            if (!sp || !sp->naddr || sp->port_hi < sp->port_lo) {
                st->nat_alloc_fail++;
                return XDP_DROP;
            }
            snat_pool = sr->pool_id;
            __builtin_memcpy(&src, w->xk.src, 4);
            src = bpf_ntohl(src);
            /* Address only (no port): the pool address of this host, as the helper. */
            if (sp->naddr > 1)
                n = (src * 2654435761u) % sp->naddr;
            snat_addr = bpf_htonl(pool_addr(sp, n));
            alloc = p->has_id;
            ac.ik.src = pid;
            ac.pool = pid;
            ac.naddr = sp->naddr;
            ac.addrs = sp->persistent                   ? 1
                       : sp->naddr < MOAT_LG_POOL_TRIES ? sp->naddr
                                                        : MOAT_LG_POOL_TRIES;
            ac.start = moat_lg_pool_start(src, sp->naddr);
            ac.no_xlate = sp->no_xlate;
            ac.lo = sp->port_lo;
            ac.span = (__u32)sp->port_hi - sp->port_lo + 1;
            if (sp->no_xlate && alloc &&
                (bpf_ntohs(p->k.sport) < sp->port_lo || bpf_ntohs(p->k.sport) > sp->port_hi)) {
                /* port no-translation keeps the port: one outside the pool's range has none */
                st->nat_alloc_fail++;
                nat_count(snat_rule, snat_pool, 0);
                return XDP_DROP;
            }
        }
        if (alloc) {
            __builtin_memcpy(&ac.ik.int_addr, p->k.src, 4);
            ac.ik.int_port = p->k.sport;
            ac.ik.proto = p->proto;
            ac.probes = ac.no_xlate                     ? 1
                        : ac.span < MOAT_LG_ALLOC_TRIES ? ac.span
                                                        : MOAT_LG_ALLOC_TRIES;
        }
        if (snat_iface || snat_pool_on)
            __builtin_memcpy(w->xk.src, &snat_addr, 4);
    }

    /* The session: reverse entry first (it is the NAT allocation), then the forward one. */
    pc = bpf_map_lookup_elem(&moat_lg_percpu, &zero);
    if (!pc)
        return XDP_DROP;
    pc->serial++;
    __builtin_memset(&w->v, 0, sizeof(w->v));
    w->v.peer = p->k;
    w->v.id = MOAT_LG_ID_BIT | ((__u64)(bpf_get_smp_processor_id() & 0xffff) << 40) |
              (pc->serial & ((1ull << 40) - 1));
    w->v.created_ns = bpf_ktime_get_ns();
    w->v.last_seen_ns = w->v.created_ns;
    w->v.in_ifindex = out_ifindex;
    w->v.out_ifindex = in_ifindex;
    w->v.policy_id = policy_id;
    w->v.app_timeout = app_timeout;
    w->v.from_zone = in_zone;
    w->v.to_zone = out_zone;
    w->v.snat_rule = snat_rule;
    w->v.dnat_rule = dnat_rule;
    w->v.snat_pool = snat_pool;
    w->v.dir = 1;
    w->v.state = p->proto == IPPROTO_TCP ? MOAT_LG_SYN_SENT : MOAT_LG_NEW;
    nat = dnat_rule || snat_rule || snat_iface || snat_pool_on;
    w->v.flags = nat ? MOAT_LG_F_NAT : 0;
    if (w->sp_new) { /* the client's SYN rebuilt from its cookie ACK (xdp_main_syn) */
        w->v.sp_phase = MOAT_LG_SP_WAIT;
        w->v.sp_cookie = w->sp_cookie;
        w->v.sp_cli_isn = w->sp_isn;
        w->v.sp_win = w->sp_win;
    }
    ins = insert_reverse(w, alloc ? &ac : 0);
    if (ins == INS_EXHAUSTED) {
        st->nat_alloc_fail++;
        nat_count(snat_rule, snat_pool, 0);
        return XDP_DROP;
    }
    if (ins == INS_CONFLICT) {
        /* The same flow's first packet on another CPU may have created the session meanwhile
         * (its reverse entry took the key): this packet is one of it. Else dropped. */
        nat = late_hit(ctx, w, st);
        if (nat < 0) {
            if (nat == -1)
                st->session_conflict++;
            return XDP_DROP;
        }
        goto out;
    }
    /* NAT may have ended up as the identity (port kept): still marked, rewrite is a no-op. */
    w->v.peer = w->rk;
    w->v.in_ifindex = in_ifindex;
    w->v.out_ifindex = out_ifindex;
    w->v.dir = 0;
    w->v.packets = 1;
    w->v.bytes = p->l3_len;
    if (bpf_map_update_elem(&moat_lg_sess, &p->k, &w->v, BPF_ANY)) {
        bpf_map_delete_elem(&moat_lg_sess, &w->rk);
        st->session_conflict++;
        return XDP_DROP;
    }
    st->sessions_created++;
    if (p->frag)
        frag_remember(p, in_ifindex, w->v.id, w->v.created_ns);
    sess_count(&p->k, 1);
    nat_count(dnat_rule, 0, 1);
    /* A pool counts the mappings it hands out (a session reusing one: the rule only). */
    nat_count(snat_rule, alloc && ins != INS_OK_NEW_MAPPING ? 0 : snat_pool, 1);
    if (lim)
        __sync_fetch_and_add(&lim->active, 1);
    /* The mixed state: its replies enter an armed interface, whose shim gives them back to this
     * path (moat_lg_divert, maps.h) rather than to the helper, which lacks the session yet. */
    mif = bpf_map_lookup_elem(&moat_ifaces, &out_ifindex);
    if (mif && (mif->flags & MOAT_IF_ARMED) &&
        (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP || is_icmp(p->proto)))
        bpf_map_update_elem(&moat_lg_divert, &w->rk, &out_ifindex, BPF_ANY);
    ev = bpf_ringbuf_reserve(&moat_lg_events, sizeof(*ev), 0);
    if (ev) {
        ev->kind = MOAT_LG_EV_CREATE;
        ev->ifindex = in_ifindex;
        ev->key = p->k;
        bpf_ringbuf_submit(ev, 0);
    } else {
        st->events_lost++;
    }
out:
    return forward(ctx, p, &w->xk, nat, st);
}

/* ---- xdp_main_icmp: an ICMP error about the packet, back where it came from ---- */

/* An error may be sent about p: not about an ICMP error or a fragment, not to an address that
 * is not one host (unspecified, multicast, IPv4 broadcast / loopback). RFC 1812 4.3.2.7, RFC
 * 4443 2.4 (e). */
static __always_inline int may_answer(const struct pk *p)
{
    const __u8 *a = p->k.src;

    if (p->icmp_err || p->nf) /* never about an ICMP error or a later fragment (RFC 1812) */
        return 0;
    if (p->family == 6) {
        __u32 x[4];

        __builtin_memcpy(x, a, 16);
        return a[0] != 0xff && (x[0] | x[1] | x[2] | x[3]) != 0;
    }
    return a[0] != 0 && a[0] != 127 && a[0] < 224;
}

/* Adds the checksum of the first len bytes of q (zero-padded to whole words) to sum. */
static __always_inline __s64 quote_csum(__u8 *q, __u64 len, __s64 sum)
{
    __u64 n = (len + 3) & ~3ull;

    if (n > MOAT_LG_V6_QUOTE_MAX)
        n = MOAT_LG_V6_QUOTE_MAX;
    if (n <= 512)
        return bpf_csum_diff(0, 0, (__be32 *)q, n, (__u32)sum);
    sum = bpf_csum_diff(0, 0, (__be32 *)q, 512, (__u32)sum);
    if (n <= 1024)
        return bpf_csum_diff(0, 0, (__be32 *)(q + 512), n - 512, (__u32)sum);
    sum = bpf_csum_diff(0, 0, (__be32 *)(q + 512), 512, (__u32)sum);
    return bpf_csum_diff(0, 0, (__be32 *)(q + 1024), n - 1024, (__u32)sum);
}

/*
 * The packet of the scratch (as it arrived) becomes an ICMP error quoting it (w->err_kind:
 * destination unreachable administratively prohibited, time exceeded, or fragmentation
 * needed / packet too big with the egress MTU w->err_mtu) from the ingress
 * interface's address, sent back out of that interface (XDP_TX), as the helper's
 * icmp_error_build: the IP datagram stays where it is and the new headers go in front of it
 * (bpf_xdp_adjust_head), the tail is cut to the quote. Counted in reject_sent /
 * icmp_errors_sent; rate-limited (icmp_rate_limited); the packet is dropped when it cannot
 * be answered.
 */
SEC("xdp")
int xdp_main_icmp(struct xdp_md *ctx)
{
    void *data, *data_end;
    struct moat_lg_stats *st = stats();
    struct moat_lg_if *iif;
    struct moat_lg_if6 *a6 = 0;
    struct scratch *w;
    struct ethhdr *eth;
    struct pk *p;
    __u32 zero = 0, ifindex = ctx->ingress_ifindex, kind, hdr;
    __u64 quote, frame, want; /* 64-bit: no zero-extension hides the bounds from the verifier */
    __u8 peer[6], mac[6], src[16] = {}, dst[16] = {}, *ic;
    __s64 sum;

    w = bpf_map_lookup_elem(&moat_lg_scratch, &zero);
    if (!st || !w)
        return XDP_DROP;
    p = &w->p;
    kind = w->err_kind;
    if (!may_answer(p))
        return XDP_DROP;
    iif = bpf_map_lookup_elem(&moat_lg_ifs, &ifindex);
    if (!iif)
        return XDP_DROP;
    __builtin_memcpy(mac, iif->mac, 6);
    if (p->family == 6)
        a6 = bpf_map_lookup_elem(&moat_lg_if6, &ifindex);
    if (p->family == 4 && iif->has_v4)
        __builtin_memcpy(src, &iif->v4, 4);
    else if (p->family == 6 && a6)
        __builtin_memcpy(src, a6->v6, 16);
    else if (kind == MOAT_LG_ERR_PROHIBITED)
        __builtin_memcpy(src, p->k.dst, 16); /* as if from the destination */
    else
        return XDP_DROP; /* from the box itself: it needs an address there */
    if (!err_token()) {
        st->icmp_rate_limited++;
        return XDP_DROP;
    }
    __builtin_memcpy(dst, p->k.src, 16);

    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    __builtin_memcpy(peer, eth->h_source, 6);
    frame = (__u64)(data_end - data) - sizeof(*eth);
    quote = p->l3_len;
    if (quote > (p->family == 6 ? MOAT_LG_V6_QUOTE_MAX : MOAT_LG_V4_QUOTE_MAX))
        quote = p->family == 6 ? MOAT_LG_V6_QUOTE_MAX : MOAT_LG_V4_QUOTE_MAX;
    if (quote > frame)
        quote = frame;
    if (quote < 28 || quote > MOAT_LG_V6_QUOTE_MAX)
        return XDP_DROP;
    /* The quote, for its checksum: the word it ends in zeroed first (padding). */
    __builtin_memset(w->quote + (quote & ~3ull), 0, 4);
    if (bpf_xdp_load_bytes(ctx, sizeof(*eth), w->quote, quote))
        return XDP_DROP;

    hdr = p->family == 6 ? sizeof(struct ipv6hdr) + 8 : sizeof(struct iphdr) + 8;
    if (bpf_xdp_adjust_head(ctx, -(int)hdr))
        return XDP_DROP;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    frame = (__u64)(data_end - data);
    want = sizeof(*eth) + hdr + quote;
    if (frame > want && bpf_xdp_adjust_tail(ctx, (int)want - (int)frame))
        return XDP_DROP;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    if (p->family == 4) {
        struct iphdr *iph = data + sizeof(*eth);

        ic = (__u8 *)(iph + 1);
        if ((void *)(ic + 8) > data_end)
            return XDP_DROP;
        __builtin_memcpy(eth->h_dest, peer, 6);
        __builtin_memcpy(eth->h_source, mac, 6);
        eth->h_proto = bpf_htons(ETH_P_IP);
        iph->version = 4;
        iph->ihl = 5;
        iph->tos = 0;
        iph->tot_len = bpf_htons(sizeof(*iph) + 8 + quote);
        iph->id = 0;
        iph->frag_off = bpf_htons(0x4000);
        iph->ttl = 64;
        iph->protocol = IPPROTO_ICMP;
        iph->check = 0;
        __builtin_memcpy(&iph->saddr, src, 4);
        __builtin_memcpy(&iph->daddr, dst, 4);
        sum = bpf_csum_diff(0, 0, (__be32 *)iph, sizeof(*iph), 0);
        iph->check = (__u16)~csum_fold((__u32)sum);
        __builtin_memset(ic, 0, 8);
        if (kind == MOAT_LG_ERR_TOO_BIG) {
            __u16 mtu = bpf_htons((__u16)w->err_mtu);

            ic[0] = 3; /* destination unreachable, fragmentation needed (RFC 1191) */
            ic[1] = 4;
            __builtin_memcpy(ic + 6, &mtu, 2);
        } else {
            ic[0] = kind == MOAT_LG_ERR_PROHIBITED ? 3 : 11;
            ic[1] = kind == MOAT_LG_ERR_PROHIBITED ? 13 : 0;
        }
        sum = bpf_csum_diff(0, 0, (__be32 *)ic, 8, 0);
    } else {
        struct ipv6hdr *ip6 = data + sizeof(*eth);
        struct pseudo6 ph;

        ic = (__u8 *)(ip6 + 1);
        if ((void *)(ic + 8) > data_end)
            return XDP_DROP;
        __builtin_memcpy(eth->h_dest, peer, 6);
        __builtin_memcpy(eth->h_source, mac, 6);
        eth->h_proto = bpf_htons(ETH_P_IPV6);
        __builtin_memset(ip6, 0, sizeof(*ip6));
        ip6->version = 6;
        ip6->payload_len = bpf_htons(8 + quote);
        ip6->nexthdr = IPPROTO_ICMPV6;
        ip6->hop_limit = 64;
        __builtin_memcpy(&ip6->saddr, src, 16);
        __builtin_memcpy(&ip6->daddr, dst, 16);
        __builtin_memset(ic, 0, 8);
        if (kind == MOAT_LG_ERR_TOO_BIG) {
            __be32 mtu = bpf_htonl(w->err_mtu);

            ic[0] = ICMPV6_PKT_TOOBIG;
            __builtin_memcpy(ic + 4, &mtu, 4);
        } else {
            ic[0] = kind == MOAT_LG_ERR_PROHIBITED ? ICMPV6_DEST_UNREACH : ICMPV6_TIME_EXCEED;
            ic[1] = kind == MOAT_LG_ERR_PROHIBITED ? ICMPV6_ADM_PROHIBITED : 0;
        }
        __builtin_memcpy(ph.src, src, 16);
        __builtin_memcpy(ph.dst, dst, 16);
        ph.len = bpf_htonl(8 + quote);
        ph.proto = bpf_htonl(IPPROTO_ICMPV6);
        sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
        sum = bpf_csum_diff(0, 0, (__be32 *)ic, 8, (__u32)sum);
    }
    sum = quote_csum(w->quote, quote, sum);
    {
        __u16 c = (__u16)~csum_fold((__u32)sum);

        __builtin_memcpy(ic + 2, &c, 2);
    }
    if (kind == MOAT_LG_ERR_PROHIBITED)
        st->reject_sent++;
    else
        st->icmp_errors_sent++;
    return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
