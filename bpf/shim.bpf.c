// SPDX-License-Identifier: MIT
/*
 * shim.bpf.c — xdp_userspace_prog, the XDP shim in front of every managed interface.
 *
 * Per packet: find the interface in moat_ifaces, parse L2/L3/L4, then exactly one decision:
 *   malformed headers                 -> XDP_DROP     (drop_malformed)
 *   headers Moat can't describe       -> XDP_DROP     (drop_other: l4 offset > 255)
 *   to an own address, but owned by the
 *   dataplane's NAT (moat_nat_local,
 *   nat_local_match())                -> as transit below, never host-bound
 *   host-bound, zoned interface, not
 *   allowed by the zone's host-inbound
 *   traffic (host_inbound_allowed())  -> XDP_DROP     (drop_host_inbound)
 *   host-bound                        -> cpumap/PASS  (host_pass)
 *   armed + XSK for (slot, queue)     -> XSK + meta   (redirect / redirect_err)
 *     but a flow of moat_lg_divert on an
 *     interface with MOAT_IF_DIVERT       -> the fallback below (the mixed state, maps.h)
 *   otherwise                         -> tail call xdp_main_prog (tail_call),
 *                                        or XDP_PASS when the slot is empty (fallback_pass),
 *                                        but NAT-owned traffic to us on an armed interface
 *                                        without its socket is dropped (drop_other)
 * plus rx for every packet. no_xsk is not a decision: it marks an armed interface whose
 * (slot, queue) has no socket, and the packet then takes the fallback.
 *
 * xdp_xsk_probe lets user space ask whether moat_xsks holds a socket at a key, which it
 * can't read directly: controld runs it with BPF_PROG_TEST_RUN.
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
#include "meta.h"
#include "moat_maps.bpf.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* ICMPv4 types (linux/icmp.h drags libc headers into a BPF build). */
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT 5
#define ICMP_ECHO 8
#define ICMP_ROUTERADVERT 9
#define ICMP_ROUTERSOLICIT 10
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

#define IPV4_MF 0x2000
#define IPV4_OFFSET 0x1fff
#define IPV6_FRAG_OFFSET 0xfff8

#define ICMPV6_ND_FIRST 133  /* router solicitation */
#define ICMPV6_ND_LAST 137   /* redirect; 135/136 are neighbour solicitation/advertisement */
#define ICMPV6_MLD_FIRST 130 /* multicast listener query, report (131), done (132) */
#define ICMPV6_MLD2_REPORT 143

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

#ifndef IPPROTO_OSPF
#define IPPROTO_OSPF 89
#endif
#ifndef IPPROTO_VRRP
#define IPPROTO_VRRP 112
#endif

#define MOAT_MAX_VLAN_TAGS 2
#define MOAT_MAX_EXT_HDRS 8
#define MOAT_MAX_L4_OFF 255 /* moat_meta.l4_off is one byte */

struct moat_vlan_tag {
    __be16 tci;
    __be16 proto;
};

struct moat_icmp {
    __u8 type;
    __u8 code;
    __sum16 checksum;
    __be16 id; /* echo request/reply */
    __be16 seq;
};

struct moat_ip6_ext {
    __u8 nexthdr;
    __u8 hdrlen; /* in 8-byte units, not counting the first 8 bytes */
};

struct moat_ip6_frag {
    __u8 nexthdr;
    __u8 reserved;
    __be16 frag_off;
    __be32 id;
};

enum parse_result {
    PARSE_OK = 0,
    PARSE_MALFORMED, /* truncated or inconsistent headers */
    PARSE_TOO_DEEP,  /* valid, but the L4 header lies beyond what moat_meta can address */
};

struct pkt {
    struct moat_meta m; /* built on the stack, copied in front of the frame on redirect */
    __u32 l3_end;       /* offset just past the IP datagram (frames may carry padding) */
    __u32 host;         /* host-bound */
    __u8 ip;            /* an IPv4 or IPv6 datagram (else ARP, LLDP, ...) */
    __u8 tcp_flags;     /* TCP: the flags byte (FIN 0x01 SYN 0x02 RST 0x04 ACK 0x10) */
};

/* Private to the probe: the moat_xsks key to test. Not pinned: each loader has its own. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} moat_probe_slot SEC(".maps");

static __always_inline __u32 frame_len(struct xdp_md *ctx)
{
    return ctx->data_end - ctx->data;
}

static __always_inline int is_ipv6_ext(__u8 nh)
{
    return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
           nh == IPPROTO_FRAGMENT;
}

/* Parses the L4 header at offset l4 of a first fragment or an unfragmented datagram. */
static __always_inline int parse_l4(struct xdp_md *ctx, struct pkt *p, __u32 l4)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    int v6 = p->m.flags & MOAT_META_F_IPV6;
    __u32 avail;

    if (l4 > MOAT_MAX_L4_OFF)
        return PARSE_TOO_DEEP;
    if (l4 > p->l3_end)
        return PARSE_MALFORMED;
    avail = p->l3_end - l4;
    p->m.l4_off = l4;

    if (p->m.proto == IPPROTO_TCP) {
        struct tcphdr *th = data + l4;
        __u32 doff;

        if (avail < sizeof(*th) || (void *)(th + 1) > data_end)
            return PARSE_MALFORMED;
        doff = th->doff * 4;
        if (doff < sizeof(*th) || doff > avail)
            return PARSE_MALFORMED;
        p->m.sport = th->source;
        p->m.dport = th->dest;
        p->tcp_flags = ((__u8 *)th)[13];
    } else if (p->m.proto == IPPROTO_UDP) {
        struct udphdr *uh = data + l4;
        __u32 ulen;

        if (avail < sizeof(*uh) || (void *)(uh + 1) > data_end)
            return PARSE_MALFORMED;
        ulen = bpf_ntohs(uh->len);
        if (ulen < sizeof(*uh))
            return PARSE_MALFORMED;
        /* A first fragment carries only part of the datagram the length describes. */
        if (!(p->m.flags & MOAT_META_F_FRAG) && ulen > avail)
            return PARSE_MALFORMED;
        p->m.sport = uh->source;
        p->m.dport = uh->dest;
    } else if (p->m.proto == IPPROTO_ICMP && !v6) {
        struct moat_icmp *ih = data + l4;
        __u8 type;

        if (avail < sizeof(*ih) || (void *)(ih + 1) > data_end)
            return PARSE_MALFORMED;
        type = ih->type;
        p->m.icmp_type = type;
        p->m.icmp_code = ih->code;
        if (type == ICMP_ECHO || type == ICMP_ECHOREPLY)
            p->m.sport = ih->id;
        else if (type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
                 type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB)
            p->m.flags |= MOAT_META_F_ICMP_ERR;
    } else if (p->m.proto == IPPROTO_ICMPV6 && v6) {
        struct icmp6hdr *ih = data + l4;
        __u8 type;

        /* Every ICMPv6 message has at least 4 bytes after type, code and checksum. */
        if (avail < sizeof(*ih) || (void *)(ih + 1) > data_end)
            return PARSE_MALFORMED;
        type = ih->icmp6_type;
        p->m.icmp_type = type;
        p->m.icmp_code = ih->icmp6_code;
        if (type == ICMPV6_ECHO_REQUEST || type == ICMPV6_ECHO_REPLY)
            p->m.sport = ih->icmp6_identifier;
        else if (type < 128)
            p->m.flags |= MOAT_META_F_ICMP_ERR;
        else if (type >= ICMPV6_ND_FIRST && type <= ICMPV6_ND_LAST)
            p->host = 1;
    } else {
        return PARSE_OK; /* other protocols: l4_off set, no L4 flag, ports 0 */
    }
    p->m.flags |= MOAT_META_F_L4;
    return PARSE_OK;
}

static __always_inline int parse_ipv4(struct xdp_md *ctx, struct pkt *p, __u32 off)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct iphdr *iph = data + off;
    __u32 hlen, tot;
    __u16 frag;

    if ((void *)(iph + 1) > data_end)
        return PARSE_MALFORMED;
    if (iph->version != 4)
        return PARSE_MALFORMED;
    hlen = iph->ihl * 4;
    if (hlen < sizeof(*iph))
        return PARSE_MALFORMED;
    tot = bpf_ntohs(iph->tot_len);
    if (tot < hlen || off + tot > frame_len(ctx))
        return PARSE_MALFORMED;
    p->l3_end = off + tot;
    p->ip = 1;
    p->m.proto = iph->protocol;
    p->m.ttl = iph->ttl;
    __builtin_memcpy(p->m.src, &iph->saddr, 4);
    __builtin_memcpy(p->m.dst, &iph->daddr, 4);

    /* Multicast (224/4) and limited broadcast belong to the host. */
    if ((p->m.dst[0] & 0xf0) == 0xe0 || iph->daddr == 0xffffffff)
        p->host = 1;

    frag = bpf_ntohs(iph->frag_off);
    if (frag & (IPV4_MF | IPV4_OFFSET))
        p->m.flags |= MOAT_META_F_FRAG;
    if (frag & IPV4_OFFSET) {
        p->m.flags |= MOAT_META_F_FRAG_NF; /* no L4 header in here */
        return PARSE_OK;
    }
    return parse_l4(ctx, p, off + hlen);
}

static __always_inline int parse_ipv6(struct xdp_md *ctx, struct pkt *p, __u32 off)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ipv6hdr *ip6 = data + off;
    __u32 cur;
    __u8 nh;

    if ((void *)(ip6 + 1) > data_end)
        return PARSE_MALFORMED;
    if (ip6->version != 6)
        return PARSE_MALFORMED;
    cur = off + sizeof(*ip6);
    p->l3_end = cur + bpf_ntohs(ip6->payload_len);
    if (p->l3_end > frame_len(ctx))
        return PARSE_MALFORMED;
    p->m.flags |= MOAT_META_F_IPV6;
    p->ip = 1;
    p->m.ttl = ip6->hop_limit;
    __builtin_memcpy(p->m.src, &ip6->saddr, 16);
    __builtin_memcpy(p->m.dst, &ip6->daddr, 16);
    nh = ip6->nexthdr;

    /* Multicast (ff00::/8) and link-local (fe80::/10) destinations belong to the host. */
    if (p->m.dst[0] == 0xff || (p->m.dst[0] == 0xfe && (p->m.dst[1] & 0xc0) == 0x80))
        p->host = 1;

    for (int i = 0; i < MOAT_MAX_EXT_HDRS; i++) {
        if (!is_ipv6_ext(nh))
            break;
        if (cur > MOAT_MAX_L4_OFF)
            return PARSE_TOO_DEEP;
        if (nh == IPPROTO_FRAGMENT) {
            struct moat_ip6_frag *fh = data + cur;

            if (cur + sizeof(*fh) > p->l3_end || (void *)(fh + 1) > data_end)
                return PARSE_MALFORMED;
            p->m.flags |= MOAT_META_F_FRAG;
            nh = fh->nexthdr;
            cur += sizeof(*fh);
            if (bpf_ntohs(fh->frag_off) & IPV6_FRAG_OFFSET) {
                p->m.flags |= MOAT_META_F_FRAG_NF;
                p->m.proto = nh;
                return PARSE_OK;
            }
        } else {
            struct moat_ip6_ext *eh = data + cur;
            __u32 len;

            /* Hop-by-hop, routing and destination options are at least 8 bytes. */
            if (cur + 8 > p->l3_end || (void *)eh + 8 > data_end)
                return PARSE_MALFORMED;
            len = ((__u32)eh->hdrlen + 1) * 8;
            if (cur + len > p->l3_end)
                return PARSE_MALFORMED;
            nh = eh->nexthdr;
            cur += len;
        }
    }
    if (is_ipv6_ext(nh))
        return PARSE_TOO_DEEP; /* more than MOAT_MAX_EXT_HDRS extension headers */
    p->m.proto = nh;
    return parse_l4(ctx, p, cur);
}

/* Fills p from the frame; sets p->host for traffic that belongs to the kernel. */
static __always_inline int parse_frame(struct xdp_md *ctx, struct pkt *p)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    __u32 off = sizeof(*eth);
    __be16 proto;

    if ((void *)(eth + 1) > data_end)
        return PARSE_MALFORMED;
    proto = eth->h_proto;
    if (eth->h_dest[0] & 1) /* group bit: multicast and broadcast */
        p->host = 1;

    for (int i = 0; i < MOAT_MAX_VLAN_TAGS; i++) {
        struct moat_vlan_tag *tag = data + off;

        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        if ((void *)(tag + 1) > data_end)
            return PARSE_MALFORMED;
        if (i == 0) {
            p->m.flags |= MOAT_META_F_VLAN;
            p->m.vlan_tci = bpf_ntohs(tag->tci);
        } else {
            p->m.flags |= MOAT_META_F_QINQ;
        }
        proto = tag->proto;
        off += sizeof(*tag);
    }
    p->m.l3_off = off;

    if (proto == bpf_htons(ETH_P_IP))
        return parse_ipv4(ctx, p, off);
    if (proto == bpf_htons(ETH_P_IPV6))
        return parse_ipv6(ctx, p, off);
    p->host = 1; /* ARP, LLDP, a third tag...: the kernel's business */
    return PARSE_OK;
}

static __always_inline int is_local_addr(struct pkt *p)
{
    struct moat_addr_key key;

    __builtin_memset(&key, 0, sizeof(key));
    key.family = (p->m.flags & MOAT_META_F_IPV6) ? AF_INET6 : AF_INET;
    /* IPv4 fills the first 4 bytes of dst; the rest stayed zero. */
    __builtin_memcpy(key.addr, p->m.dst, sizeof(key.addr));
    return bpf_map_lookup_elem(&moat_local_addrs, &key) != NULL;
}

/*
 * The port and protocol of the packet an ICMP/ICMPv6 error at l4 quotes: the quoted
 * packet's source port (TCP/UDP) or echo-request identifier. Returns 0 if found; the quote
 * must hold its L4 header's first 8 bytes inside the datagram. IPv6: only an L4 header
 * right after the quoted fixed header.
 */
static __always_inline int quoted_port(struct xdp_md *ctx, const struct pkt *p, __u8 *proto,
                                       __be16 *port)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u32 off = (__u32)p->m.l4_off + 8; /* the ICMP header */
    __u8 *l4;
    __u8 qp;

    if (p->m.flags & MOAT_META_F_IPV6) {
        struct ipv6hdr *ip6 = data + off;

        if (off + sizeof(*ip6) > p->l3_end || (void *)(ip6 + 1) > data_end)
            return -1;
        qp = ip6->nexthdr;
        off += sizeof(*ip6);
    } else {
        struct iphdr *iph = data + off;
        __u32 hlen;

        if (off + sizeof(*iph) > p->l3_end || (void *)(iph + 1) > data_end)
            return -1;
        hlen = (iph->ihl & 0xf) * 4;
        if (iph->version != 4 || hlen < sizeof(*iph) || (bpf_ntohs(iph->frag_off) & IPV4_OFFSET))
            return -1;
        qp = iph->protocol;
        off += hlen;
    }
    l4 = data + off;
    if (off + 8 > p->l3_end || (void *)(l4 + 8) > data_end)
        return -1;
    if (qp == IPPROTO_TCP || qp == IPPROTO_UDP) {
        __builtin_memcpy(port, l4, sizeof(*port)); /* source port */
    } else if ((qp == IPPROTO_ICMP && !(p->m.flags & MOAT_META_F_IPV6) && l4[0] == ICMP_ECHO) ||
               (qp == IPPROTO_ICMPV6 && (p->m.flags & MOAT_META_F_IPV6) &&
                l4[0] == ICMPV6_ECHO_REQUEST)) {
        __builtin_memcpy(port, l4 + 4, sizeof(*port)); /* identifier */
    } else {
        return -1;
    }
    *proto = qp;
    return 0;
}

/*
 * 1 if the packet, to one of the box's own addresses, belongs to the dataplane's NAT: its
 * (destination, protocol, port) is in moat_nat_local, exactly or within a range entry. The
 * rule is documented above struct moat_nat_key in maps.h.
 */
static __always_inline int nat_local_match(struct xdp_md *ctx, const struct pkt *p)
{
    struct moat_nat_key key;
    struct moat_nat_local_val *val;
    int v6 = p->m.flags & MOAT_META_F_IPV6;
    __u8 proto = p->m.proto, type = p->m.icmp_type;
    __be16 port;
    __u16 hport;

    if (!(p->m.flags & MOAT_META_F_L4) || (p->m.flags & MOAT_META_F_FRAG_NF))
        return 0;
    if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
        port = p->m.dport;
    } else if ((proto == IPPROTO_ICMP && !v6) || (proto == IPPROTO_ICMPV6 && v6)) {
        if ((!v6 && type == ICMP_ECHOREPLY) || (v6 && type == ICMPV6_ECHO_REPLY))
            port = p->m.sport; /* the identifier */
        else if (!(p->m.flags & MOAT_META_F_ICMP_ERR) || quoted_port(ctx, p, &proto, &port))
            return 0;
    } else {
        return 0;
    }

    __builtin_memset(&key, 0, sizeof(key));
    key.family = v6 ? AF_INET6 : AF_INET;
    __builtin_memcpy(key.addr, p->m.dst, sizeof(key.addr));
    key.proto = proto;
    key.port = port;
    if (port && bpf_map_lookup_elem(&moat_nat_local, &key))
        return 1;
    key.port = 0;
    val = bpf_map_lookup_elem(&moat_nat_local, &key);
    if (!val)
        return 0;
    hport = bpf_ntohs(port);
    return hport && hport >= val->port_lo && hport <= val->port_hi;
}

/* Host-inbound classes, from hi_classify(). */
enum hi_class {
    HI_REPLY = 0, /* not a request to a service: a reply, an error, link infrastructure */
    HI_SERVICE,   /* a request to a system service: *bit is its MOAT_HI_SVC_* */
    HI_PROTOCOL,  /* a routing protocol: *bit is its MOAT_HI_PROTO_* */
    HI_UNKNOWN,   /* a request to nothing a zone can allow */
};

static __always_inline int hi_tcp(const struct pkt *p, __u32 *bit)
{
    /* Only a connection request (SYN without ACK) asks for a service. */
    if (!(p->tcp_flags & TCP_FLAG_SYN) || (p->tcp_flags & TCP_FLAG_ACK))
        return HI_REPLY;
    switch (bpf_ntohs(p->m.dport)) {
    case 21:
        *bit = MOAT_HI_SVC_FTP;
        return HI_SERVICE;
    case 22:
        *bit = MOAT_HI_SVC_SSH;
        return HI_SERVICE;
    case 23:
        *bit = MOAT_HI_SVC_TELNET;
        return HI_SERVICE;
    case 53:
        *bit = MOAT_HI_SVC_DNS;
        return HI_SERVICE;
    case 80:
        *bit = MOAT_HI_SVC_HTTP;
        return HI_SERVICE;
    case 443:
        *bit = MOAT_HI_SVC_HTTPS;
        return HI_SERVICE;
    case 830:
        *bit = MOAT_HI_SVC_NETCONF;
        return HI_SERVICE;
    case 179:
        *bit = MOAT_HI_PROTO_BGP;
        return HI_PROTOCOL;
    }
    return HI_UNKNOWN;
}

static __always_inline int hi_udp(const struct pkt *p, __u32 *bit)
{
    __u16 sport = bpf_ntohs(p->m.sport), dport = bpf_ntohs(p->m.dport);
    __u32 zero = 0, lo = MOAT_EPHEMERAL_LO, hi = MOAT_EPHEMERAL_HI;
    struct moat_ctrl *ctrl;

    /* Answers to the box's NTP (ntpd), DHCP and DHCPv6 clients, which use fixed ports. */
    if ((sport == 123 && dport == 123) || (sport == 67 && dport == 68) ||
        (sport == 547 && dport == 546))
        return HI_REPLY;
    switch (dport) {
    case 53:
        *bit = MOAT_HI_SVC_DNS;
        return HI_SERVICE;
    case 67:
    case 68:
        *bit = MOAT_HI_SVC_DHCP;
        return HI_SERVICE;
    case 123:
        *bit = MOAT_HI_SVC_NTP;
        return HI_SERVICE;
    case 161:
        *bit = MOAT_HI_SVC_SNMP;
        return HI_SERVICE;
    case 500:
    case 4500:
        *bit = MOAT_HI_SVC_IKE;
        return HI_SERVICE;
    case 546:
    case 547:
        *bit = MOAT_HI_SVC_DHCPV6;
        return HI_SERVICE;
    case 520:
        *bit = MOAT_HI_PROTO_RIP;
        return HI_PROTOCOL;
    case 521:
        *bit = MOAT_HI_PROTO_RIPNG;
        return HI_PROTOCOL;
    case 3784: /* single-hop control */
    case 3785: /* echo */
    case 4784: /* multi-hop control */
        *bit = MOAT_HI_PROTO_BFD;
        return HI_PROTOCOL;
    }
    /* A DNS or NTP server answering the box's resolver or NTP client (unprivileged port). */
    if ((sport == 53 || sport == 123) && dport >= 1024)
        return HI_REPLY;
    if (dport >= 33434 && dport <= 33534) {
        *bit = MOAT_HI_SVC_TRACEROUTE;
        return HI_SERVICE;
    }
    ctrl = bpf_map_lookup_elem(&moat_ctrl, &zero);
    if (ctrl && ctrl->ephemeral_lo && ctrl->ephemeral_lo <= ctrl->ephemeral_hi) {
        lo = ctrl->ephemeral_lo;
        hi = ctrl->ephemeral_hi;
    }
    if (dport >= lo && dport <= hi)
        return HI_REPLY; /* to one of the box's own client sockets */
    return HI_UNKNOWN;
}

static __always_inline int hi_classify(const struct pkt *p, __u32 *bit)
{
    int v6 = p->m.flags & MOAT_META_F_IPV6;
    __u8 type = p->m.icmp_type;

    /* Non-IP (ARP, LLDP, ...); a later fragment: the kernel drops it unless the first
     * fragment, which carries the ports and was classified, got through. */
    if (!p->ip || (p->m.flags & MOAT_META_F_FRAG_NF))
        return HI_REPLY;
    switch (p->m.proto) {
    case IPPROTO_TCP:
        return hi_tcp(p, bit);
    case IPPROTO_UDP:
        return hi_udp(p, bit);
    case IPPROTO_ICMP:
        if (v6)
            break;
        if (type == ICMP_ECHO) {
            *bit = MOAT_HI_SVC_PING;
            return HI_SERVICE;
        }
        if (type == ICMP_ROUTERADVERT || type == ICMP_ROUTERSOLICIT) {
            *bit = MOAT_HI_PROTO_ROUTER_DISCOVERY;
            return HI_PROTOCOL;
        }
        if (type == ICMP_ECHOREPLY || (p->m.flags & MOAT_META_F_ICMP_ERR))
            return HI_REPLY;
        break;
    case IPPROTO_ICMPV6:
        if (!v6)
            break;
        if (type == ICMPV6_ECHO_REQUEST) {
            *bit = MOAT_HI_SVC_PING;
            return HI_SERVICE;
        }
        /* Echo reply, errors (< 128), MLD and neighbour discovery. */
        if (type == ICMPV6_ECHO_REPLY || type < 128 ||
            (type >= ICMPV6_MLD_FIRST && type <= ICMPV6_ND_LAST) || type == ICMPV6_MLD2_REPORT)
            return HI_REPLY;
        break;
    case IPPROTO_IGMP:
        if (!v6)
            return HI_REPLY;
        break;
    case IPPROTO_OSPF:
        *bit = v6 ? MOAT_HI_PROTO_OSPF3 : MOAT_HI_PROTO_OSPF;
        return HI_PROTOCOL;
    case IPPROTO_VRRP:
        *bit = MOAT_HI_PROTO_VRRP;
        return HI_PROTOCOL;
    case IPPROTO_PIM:
        *bit = MOAT_HI_PROTO_PIM;
        return HI_PROTOCOL;
    case IPPROTO_ESP:
    case IPPROTO_AH:
        *bit = MOAT_HI_SVC_IKE; /* the IPsec tunnels IKE sets up end on the box */
        return HI_SERVICE;
    }
    return HI_UNKNOWN;
}

/*
 * Host-inbound traffic of a zoned interface (MOAT_IF_ZONED), as SRX's
 * `security-zone Z host-inbound-traffic`: returns 1 to pass a host-bound packet to the
 * kernel, 0 to drop it (drop_host_inbound). local: the destination is in moat_local_addrs.
 * services / protocols: the zone's MOAT_HI_SVC_* / MOAT_HI_PROTO_* (moat_iface).
 *
 * 1. Routing protocols, whatever the destination (own address, multicast, broadcast,
 *    link-local): pass only if the zone allows the protocol.
 *      IP protocol 89 (OSPF over IPv4 -> ospf, over IPv6 -> ospf3), 112 vrrp, 103 pim;
 *      TCP SYN (without ACK) to 179 bgp; UDP to 520 rip, 521 ripng, 3784/3785/4784 bfd;
 *      ICMP router advertisement (9) / solicitation (10) router-discovery.
 * 2. Anything else host-bound whose destination is not one of the box's own addresses
 *    (multicast, broadcast, link-local, ARP and other non-IP, ND): passes, as without zones.
 * 3. To an own address, by protocol; "service" passes only if the zone allows it:
 *    - non-first IP fragment: passes (the first fragment carries the ports and was judged;
 *      the kernel never delivers a datagram whose first fragment was dropped);
 *    - TCP: a segment without SYN, or with SYN and ACK, is a reply: passes. A SYN without
 *      ACK to 21 ftp, 22 ssh, 23 telnet, 53 dns, 80 http, 443 https, 830 netconf is that
 *      service; to any other port it is dropped;
 *    - UDP, first match wins:
 *        sport 123 -> dport 123, sport 67 -> dport 68, sport 547 -> dport 546: a reply to the
 *          box's own NTP / DHCP / DHCPv6 client: passes;
 *        dport 53 dns, 67/68 dhcp, 123 ntp, 161 snmp, 500/4500 ike, 546/547 dhcpv6: service;
 *        sport 53 or 123 and dport >= 1024: a DNS/NTP server's answer: passes;
 *        dport 33434-33534: traceroute (service);
 *        dport in the box's ephemeral range (moat_ctrl.ephemeral_lo..hi): a reply: passes;
 *        anything else: dropped;
 *    - ICMP: echo request is ping (service); echo reply and errors (unreachable, source
 *      quench, redirect, time exceeded, parameter problem) pass; other types are dropped;
 *    - ICMPv6: echo request is ping (service); echo reply, errors (type < 128), MLD
 *      (130-132, 143) and neighbour discovery (133-137) pass; other types are dropped;
 *    - IGMP passes; ESP (50) and AH (51) are ike (service);
 *    - any other IP protocol is dropped.
 * Stateless by design: a forged "reply" (an ACK, a UDP datagram from port 53) reaches the
 * kernel, which has no socket for it and answers with a RST or an ICMP error.
 */
static __always_inline int host_inbound_allowed(const struct pkt *p, __u32 services,
                                                __u32 protocols, int local)
{
    __u32 bit = 0;
    int cls = hi_classify(p, &bit);

    if (cls == HI_PROTOCOL)
        return (protocols & bit) != 0;
    if (!local)
        return 1;
    if (cls == HI_SERVICE)
        return (services & bit) != 0;
    return cls == HI_REPLY;
}

static __always_inline int to_host(void)
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

static __always_inline int to_xsk(struct xdp_md *ctx, struct pkt *p, struct moat_shim_stats *st,
                                  __u32 key)
{
    void *data, *meta;
    long ret;

    p->m.ifindex = ctx->ingress_ifindex;
    p->m.rx_queue = ctx->rx_queue_index;
    p->m.magic = MOAT_META_MAGIC;
    if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct moat_meta))) {
        st->drop_other++; /* no room or no metadata support: the helper can't use it */
        return XDP_DROP;
    }
    data = (void *)(long)ctx->data;
    meta = (void *)(long)ctx->data_meta;
    if (meta + sizeof(struct moat_meta) > data) {
        st->drop_other++;
        return XDP_DROP;
    }
    __builtin_memcpy(meta, &p->m, sizeof(struct moat_meta));

    ret = bpf_redirect_map(&moat_xsks, key, 0);
    if (ret != XDP_REDIRECT) {
        st->redirect_err++;
        return XDP_DROP;
    }
    st->redirect++;
    return XDP_REDIRECT;
}

/* The mixed state: a TCP, UDP or ICMP echo packet of a flow the kernel path holds
 * (moat_lg_divert, maps.h) entering an interface with MOAT_IF_DIVERT. An echo's key is its
 * identifier as sport and 0 as dport, as the kernel path keys it. */
static __always_inline int divert_match(const struct pkt *p, __u32 flags)
{
    struct moat_lg_key k = {};

    if (!(flags & MOAT_IF_DIVERT) || !p->ip || !(p->m.flags & MOAT_META_F_L4) ||
        (p->m.flags & MOAT_META_F_ICMP_ERR) ||
        (p->m.proto != IPPROTO_TCP && p->m.proto != IPPROTO_UDP && p->m.proto != IPPROTO_ICMP &&
         p->m.proto != IPPROTO_ICMPV6))
        return 0;
    __builtin_memcpy(k.src, p->m.src, sizeof(k.src));
    __builtin_memcpy(k.dst, p->m.dst, sizeof(k.dst));
    k.sport = p->m.sport;
    k.dport = p->m.proto == IPPROTO_TCP || p->m.proto == IPPROTO_UDP ? p->m.dport : 0;
    k.proto = p->m.proto;
    k.family = (p->m.flags & MOAT_META_F_IPV6) ? 6 : 4;
    return bpf_map_lookup_elem(&moat_lg_divert, &k) != 0;
}

SEC("xdp")
int xdp_userspace_prog(struct xdp_md *ctx)
{
    __u32 ifindex = ctx->ingress_ifindex;
    __u32 zero = 0, slot, flags, rxq, services, protocols;
    struct moat_iface *ifc;
    struct moat_shim_stats *st;
    struct moat_tail_attempt *att;
    struct pkt p;
    int res, local, nat;

    /* A tail call from this CPU whose callee didn't count it: count it now. */
    moat_shim_settle_tail_call();

    ifc = bpf_map_lookup_elem(&moat_ifaces, &ifindex);
    if (!ifc || ifc->slot >= MOAT_MAX_IFACES) {
        slot = MOAT_SHIM_STATS_UNMANAGED;
        st = bpf_map_lookup_elem(&moat_shim_stats, &slot);
        if (st) {
            st->rx++;
            st->unmanaged++;
        }
        return XDP_PASS;
    }
    slot = ifc->slot;
    flags = ifc->flags;
    services = ifc->host_inbound;
    protocols = ifc->host_protocols;
    st = bpf_map_lookup_elem(&moat_shim_stats, &slot);
    if (!st)
        return XDP_PASS; /* unreachable: slot < MOAT_MAX_IFACES was checked */
    st->rx++;

    __builtin_memset(&p, 0, sizeof(p));
    res = parse_frame(ctx, &p);
    if (res == PARSE_MALFORMED) {
        st->drop_malformed++;
        return XDP_DROP;
    }
    if (res != PARSE_OK) {
        st->drop_other++;
        return XDP_DROP;
    }

    /*
     * Looked up even for link-layer group frames on a zoned interface: a unicast datagram
     * to our address in a broadcast frame must not slip past host-inbound.
     */
    local = p.ip && (!p.host || (flags & MOAT_IF_ZONED)) && is_local_addr(&p);
    /* To an own address but NAT's (a DNAT service, an interface-SNAT reply): transit. */
    nat = local && nat_local_match(ctx, &p);
    if ((p.host || local) && !nat) {
        if ((flags & MOAT_IF_ZONED) && !host_inbound_allowed(&p, services, protocols, local)) {
            st->drop_host_inbound++;
            return XDP_DROP;
        }
        st->host_pass++;
        return to_host();
    }

    /* HA secondary of this interface's group: the primary forwards, never both. */
    if (flags & MOAT_IF_STANDBY) {
        st->drop_standby++;
        return XDP_DROP;
    }
    /* Armed, but a flow the kernel path holds (divert_match()): the fallback below. */
    if ((flags & MOAT_IF_ARMED) && !divert_match(&p, flags)) {
        rxq = ctx->rx_queue_index;
        if (rxq < MOAT_MAX_QUEUES) {
            __u32 key = slot * MOAT_MAX_QUEUES + rxq;

            if (bpf_map_lookup_elem(&moat_xsks, &key))
                return to_xsk(ctx, &p, st, key);
        }
        st->no_xsk++;
    }

    /* Fallback: the legacy in-kernel path if a program sits in the slot, else the kernel. */
    att = bpf_map_lookup_elem(&moat_shim_tail, &zero);
    if (att) {
        att->slot = slot;
        att->pending = 1;
        bpf_tail_call(ctx, &moat_progs, MOAT_PROG_SLOT_MAIN);
        att->pending = 0; /* still here: the slot is empty */
    }
    /*
     * Armed, but the dataplane's socket is gone (the helper died and nobody disarmed: controld
     * died with it, e.g. an HA node being killed). NAT-owned traffic to our own address (a
     * DNAT service, a reply to interface SNAT) has no socket in the kernel: handed to it, it
     * would answer with a TCP RST or an ICMP error and kill the flow that the HA peer, which
     * holds the session, is taking over. It is dropped. (Unarmed, it takes the fallback.)
     */
    if (nat && (flags & MOAT_IF_ARMED)) {
        st->drop_other++;
        return XDP_DROP;
    }
    st->fallback_pass++;
    return XDP_PASS;
}

SEC("xdp")
int xdp_xsk_probe(struct xdp_md *ctx)
{
    __u32 zero = 0, key;
    __u32 *slot = bpf_map_lookup_elem(&moat_probe_slot, &zero);

    if (!slot)
        return XDP_ABORTED;
    key = *slot;
    return bpf_map_lookup_elem(&moat_xsks, &key) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
