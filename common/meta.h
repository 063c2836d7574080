/* SPDX-License-Identifier: MIT */
/*
 * meta.h — the metadata the XDP shim writes in front of every frame it redirects to an XSK.
 *
 * Included by bpf/ (no libc) and by the dataplane. The shim writes it with
 * bpf_xdp_adjust_meta(); in the AF_XDP frame it sits immediately before the packet:
 * the helper reads it at (packet address - sizeof(struct moat_meta)). The magic word is
 * the LAST field, so it is the 4 bytes right before the packet: the helper checks it first.
 *
 * The tuple in here is authoritative: the helper never re-parses addresses or ports from
 * a frame it may already have rewritten.
 */
#ifndef MOAT_META_H
#define MOAT_META_H

#include <linux/types.h>

#define MOAT_META_VERSION 1
/* "MT" + version: changes whenever the layout changes. */
#define MOAT_META_MAGIC (0x4d540000u | MOAT_META_VERSION)

/* moat_meta.flags */
#define MOAT_META_F_IPV6 0x0001     /* addresses are IPv6; else IPv4 in the first 4 bytes */
#define MOAT_META_F_VLAN 0x0002     /* frame carries one 802.1Q tag (vlan_tci valid) */
#define MOAT_META_F_FRAG 0x0004     /* IP fragment (first or later) */
#define MOAT_META_F_FRAG_NF 0x0008  /* non-first fragment: no L4 header, ports are 0 */
#define MOAT_META_F_L4 0x0010       /* l4_off points at a complete TCP/UDP/ICMP header */
#define MOAT_META_F_ICMP_ERR 0x0020 /* ICMP/ICMPv6 error message (quotes another packet) */
/* A second (inner) tag follows the first: vlan_tci is the outer tag's, the inner TCI is in the
 * frame at offset 18. */
#define MOAT_META_F_QINQ 0x0040

/*
 * 56 bytes, a multiple of 4 as bpf_xdp_adjust_meta() requires.
 * Ports are in network byte order as on the wire. For ICMP/ICMPv6 echo the identifier is
 * in sport and dport is 0; for other ICMP both are 0 and the type/code are in icmp_type/code.
 */
struct moat_meta {
    __u8 src[16];
    __u8 dst[16];
    __be16 sport;
    __be16 dport;
    __u32 ifindex;  /* ingress interface */
    __u16 rx_queue; /* ingress queue */
    __u16 flags;    /* MOAT_META_F_* */
    __u8 proto;     /* IPPROTO_* of the L4 header (after IPv6 extension headers) */
    __u8 l3_off;    /* offset of the IP header from the packet start */
    __u8 l4_off;    /* offset of the L4 header (0 if none) */
    __u8 icmp_type;
    __u8 icmp_code;
    __u8 ttl; /* IPv4 TTL or IPv6 hop limit as received */
    __u16 vlan_tci;
    __u32 magic; /* MOAT_META_MAGIC; last, so it is adjacent to the packet */
} __attribute__((packed, aligned(4)));

_Static_assert(sizeof(struct moat_meta) == 56, "moat_meta layout changed: bump the version");
_Static_assert(sizeof(struct moat_meta) % 4 == 0, "metadata must be a multiple of 4 bytes");

#endif
