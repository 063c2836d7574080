/* SPDX-License-Identifier: MIT */
/*
 * maps.h — layouts of the BPF maps shared between bpf/, controld and the dataplane.
 *
 * Every map is pinned by name under the bpffs directory (default /sys/fs/bpf/moat/,
 * `--bpffs-dir` overrides it). controld creates, fills and owns them; the shim reads them;
 * the dataplane only inserts its XSKs into moat_xsks.
 */
#ifndef MOAT_BPF_MAPS_H
#define MOAT_BPF_MAPS_H

#include <linux/types.h>

#define MOAT_MAX_IFACES 64 /* interfaces Moat manages on one box */
#define MOAT_MAX_QUEUES 16 /* RX queues per interface served by XSKs */
#define MOAT_XSK_SLOTS (MOAT_MAX_IFACES * MOAT_MAX_QUEUES)
#define MOAT_MAX_LOCAL_ADDRS 1024 /* addresses of the box itself */
#define MOAT_MAX_CPUS 128         /* cpumap entries */
#define MOAT_MAX_NAT_LOCAL 4096   /* moat_nat_local entries */

/* Pinned map names (file names under the bpffs directory). */
#define MOAT_MAP_IFACES "moat_ifaces"
#define MOAT_MAP_XSKS "moat_xsks"
#define MOAT_MAP_LOCAL "moat_local_addrs"
#define MOAT_MAP_CPUMAP "moat_cpumap"
#define MOAT_MAP_PROGS "moat_progs"
#define MOAT_MAP_SHIM_STATS "moat_shim_stats"
#define MOAT_MAP_CTRL "moat_ctrl"
#define MOAT_MAP_NAT_LOCAL "moat_nat_local"
#define MOAT_MAP_LG_DIVERT "moat_lg_divert"

/* Pinned program names. */
#define MOAT_PROG_SHIM "xdp_userspace_prog"

/* moat_progs slots (BPF_MAP_TYPE_PROG_ARRAY). */
#define MOAT_PROG_SLOT_MAIN 0 /* xdp_main_prog, the legacy in-kernel path */

/* moat_iface.flags */
#define MOAT_IF_MANAGED 0x1   /* controld manages this interface */
#define MOAT_IF_ARMED 0x2     /* the helper's XSKs for it are live: redirect transit traffic */
#define MOAT_IF_USERSPACE 0x4 /* mode userspace chosen by the capability gate */
#define MOAT_IF_ZONED 0x8     /* in a security zone: enforce host_inbound/host_protocols */
/* HA: this node is secondary of the interface's redundancy group; the primary forwards its
 * transit traffic, this node drops it (drop_standby) on every path, legacy included. */
#define MOAT_IF_STANDBY 0x10
/* The mixed state (the helper runs, another interface is disarmed): an armed interface gives
 * the packets of moat_lg_divert's flows to the kernel path instead of the helper. */
#define MOAT_IF_DIVERT 0x20

/*
 * moat_lg_divert: BPF_MAP_TYPE_LRU_HASH of MOAT_LG_DIVERT_MAX, key struct moat_lg_key (below),
 * value __u32 (the session's egress ifindex). The reply keys of the sessions the kernel path
 * created with an armed egress interface (a flow entering a disarmed interface in the mixed state):
 * the shim hands their replies entering an interface with MOAT_IF_DIVERT to the kernel path, which
 * holds the flow (both directions, its TCP state following both sides) until arming hands it to the
 * helper. Without it a reply races the session's install in the helper (a SYN-ACK arrives in well
 * under a millisecond, the install takes a round trip through controld): lost, 1 s of
 * retransmission. controld empties it when no interface is left in the mixed state.
 */
#define MOAT_LG_DIVERT_MAX 16384

/*
 * A direction of a flow as its packets arrive (the kernel path's session key, also
 * moat_lg_divert's). Addresses as in packets (IPv4 in the first 4 bytes, the rest zero), ports
 * network order; ICMP echo: sport = identifier, dport = 0.
 */
struct moat_lg_key {
    __u8 src[16];
    __u8 dst[16];
    __be16 sport;
    __be16 dport;
    __u8 proto;
    __u8 family; /* 4 or 6 */
    __u16 pad;
};

/*
 * moat_ifaces: BPF_MAP_TYPE_HASH, key __u32 ifindex, value struct moat_iface.
 * slot is the interface's index (0..MOAT_MAX_IFACES-1) into per-interface arrays;
 * its XSKs live in moat_xsks at [slot * MOAT_MAX_QUEUES + rx_queue].
 */
struct moat_iface {
    __u32 slot;
    __u32 flags;
    __u32 zone_id;        /* 0 = no zone */
    __u32 host_inbound;   /* MOAT_HI_SVC_* the zone allows (enforced if MOAT_IF_ZONED) */
    __u32 host_protocols; /* MOAT_HI_PROTO_* the zone allows (enforced if MOAT_IF_ZONED) */
};

/*
 * Host-inbound traffic (SRX `security-zone Z host-inbound-traffic`): the bits of
 * moat_iface.host_inbound and .host_protocols. Same values as controld's enum
 * cfg_host_service (CFG_SVC_*) and enum cfg_host_protocol (CFG_HPROTO_*); bootstrap.c
 * checks that at compile time. The shim's rule is documented above host_inbound_allowed()
 * in shim.bpf.c.
 */
#define MOAT_HI_SVC_PING 0x0001       /* ICMP/ICMPv6 echo request */
#define MOAT_HI_SVC_SSH 0x0002        /* TCP 22 */
#define MOAT_HI_SVC_TELNET 0x0004     /* TCP 23 */
#define MOAT_HI_SVC_HTTP 0x0008       /* TCP 80 */
#define MOAT_HI_SVC_HTTPS 0x0010      /* TCP 443 */
#define MOAT_HI_SVC_DNS 0x0020        /* UDP and TCP 53 */
#define MOAT_HI_SVC_DHCP 0x0040       /* UDP 67, 68 */
#define MOAT_HI_SVC_DHCPV6 0x0080     /* UDP 546, 547 */
#define MOAT_HI_SVC_NTP 0x0100        /* UDP 123 */
#define MOAT_HI_SVC_SNMP 0x0200       /* UDP 161 */
#define MOAT_HI_SVC_TRACEROUTE 0x0400 /* UDP 33434-33534 */
#define MOAT_HI_SVC_IKE 0x0800        /* UDP 500, 4500; ESP and AH */
#define MOAT_HI_SVC_NETCONF 0x1000    /* TCP 830 */
#define MOAT_HI_SVC_FTP 0x2000        /* TCP 21 */
#define MOAT_HI_SVC_ALL 0x3fff

#define MOAT_HI_PROTO_BGP 0x0001              /* TCP 179 */
#define MOAT_HI_PROTO_OSPF 0x0002             /* IP protocol 89 over IPv4 */
#define MOAT_HI_PROTO_OSPF3 0x0004            /* IP protocol 89 over IPv6 */
#define MOAT_HI_PROTO_RIP 0x0008              /* UDP 520 */
#define MOAT_HI_PROTO_RIPNG 0x0010            /* UDP 521 */
#define MOAT_HI_PROTO_VRRP 0x0020             /* IP protocol 112 */
#define MOAT_HI_PROTO_BFD 0x0040              /* UDP 3784, 3785, 4784 */
#define MOAT_HI_PROTO_PIM 0x0080              /* IP protocol 103 */
#define MOAT_HI_PROTO_ROUTER_DISCOVERY 0x0100 /* ICMP router advertisement/solicitation */
#define MOAT_HI_PROTO_ALL 0x01ff

/*
 * moat_local_addrs: BPF_MAP_TYPE_HASH, key struct moat_addr_key, value __u32 ifindex
 * (the interface that owns the address). A packet whose destination is in here is
 * host-bound: it goes to the kernel, never to the userspace dataplane.
 */
struct moat_addr_key {
    __u32 family; /* AF_INET or AF_INET6 */
    __u8 addr[16];
};

/*
 * moat_nat_local: BPF_MAP_TYPE_HASH, key struct moat_nat_key, value struct
 * moat_nat_local_val, at most MOAT_MAX_NAT_LOCAL entries. Traffic to one of the box's own
 * addresses that the userspace dataplane's NAT owns: the shim treats a match as transit
 * (redirect to the XSK when armed, else the fallback), never host-bound, and before the
 * host-inbound check. Entries are of two kinds:
 *
 *   exact  (addr, proto, port != 0): a destination-NAT service, e.g. (10.77.2.1, TCP, 80).
 *          The value's range is not used (write port_lo = port_hi = port).
 *   range  (addr, proto, port 0) with port_lo..port_hi (host order, 1 <= lo <= hi): replies
 *          to interface source NAT, whose ports the dataplane allocates in that range
 *          (1024-32767; the kernel's ephemeral range stays the box's own).
 *
 * The port of a packet: TCP/UDP the destination port; ICMP (IPv4) / ICMPv6 echo reply the
 * identifier; an ICMP/ICMPv6 error the source port (TCP/UDP) or echo-request identifier of
 * the packet it quotes, and then proto is the quoted packet's protocol (a quoted IPv6 packet
 * must carry its L4 header right after the fixed header). Other ICMP types, non-first
 * fragments and other protocols never match. The exact entry is looked up first, then the
 * range entry. proto is IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP (IPv4) or IPPROTO_ICMPV6
 * (IPv6). Filled by controld, bootstrap_set_nat_local().
 */
struct moat_nat_key {
    __u32 family;  /* AF_INET or AF_INET6 */
    __u8 addr[16]; /* as in packets; IPv4 in the first 4 bytes, the rest zero */
    __u8 proto;    /* IPPROTO_TCP, _UDP, _ICMP (IPv4 only), _ICMPV6 (IPv6 only) */
    __u8 pad;      /* 0 */
    __be16 port;   /* network order; 0 = every port in [port_lo, port_hi] of the value */
};

#define MOAT_NAT_LOCAL_F_DNAT 0x1 /* a destination-NAT service (informational) */
#define MOAT_NAT_LOCAL_F_SNAT 0x2 /* interface source-NAT replies (informational) */
struct moat_nat_local_val {
    __u16 port_lo; /* host order; range entries only */
    __u16 port_hi;
    __u32 flags; /* MOAT_NAT_LOCAL_F_*; the shim ignores them */
};

/*
 * moat_ctrl: BPF_MAP_TYPE_ARRAY, one entry, struct moat_ctrl. Written by controld.
 */
#define MOAT_CTRL_F_CPUMAP 0x1 /* pass host-bound traffic via moat_cpumap, else XDP_PASS */
struct moat_ctrl {
    __u64 generation; /* snapshot generation the armed helper applied */
    __u32 flags;      /* MOAT_CTRL_F_* */
    __u32 ncpus;      /* entries filled in moat_cpumap */
    /*
     * The box's ephemeral ports (net.ipv4.ip_local_port_range, read by controld at
     * bootstrap): UDP to one of them is a reply to the box's own client. 0/0 = unknown:
     * the shim then uses MOAT_EPHEMERAL_LO..MOAT_EPHEMERAL_HI.
     */
    __u32 ephemeral_lo;
    __u32 ephemeral_hi;
};
#define MOAT_EPHEMERAL_LO 32768 /* the kernel's default ip_local_port_range */
#define MOAT_EPHEMERAL_HI 60999

/*
 * Shim decision counters: moat_shim_stats is BPF_MAP_TYPE_PERCPU_ARRAY with
 * MOAT_SHIM_STATS_ENTRIES entries (indexed by moat_iface.slot, plus the unmanaged entry
 * below), value struct moat_shim_stats.
 * Readers sum over CPUs. Every packet the shim sees increments rx and exactly one
 * decision counter.
 */
struct moat_shim_stats {
    __u64 rx;                /* packets seen */
    __u64 redirect;          /* redirected to an XSK (userspace dataplane) */
    __u64 redirect_err;      /* XSK redirect refused by the kernel */
    __u64 host_pass;         /* host-bound, handed to the kernel (cpumap or XDP_PASS) */
    __u64 tail_call;         /* tail-called into xdp_main_prog (legacy path) */
    __u64 fallback_pass;     /* not armed / no XSK and no legacy program: XDP_PASS */
    __u64 drop_malformed;    /* bad L2/L3/L4 headers */
    __u64 drop_other;        /* anything else that was dropped */
    __u64 no_xsk;            /* armed but no XSK for (interface, queue): fell back */
    __u64 unmanaged;         /* arrived on an interface missing from moat_ifaces: passed */
    __u64 drop_host_inbound; /* to the box, not allowed by the zone's host-inbound-traffic */
    __u64 drop_standby;      /* transit on an interface this HA node is secondary of */
};

/*
 * Decision counters are redirect, redirect_err, host_pass, tail_call, fallback_pass,
 * drop_malformed, drop_other, unmanaged, drop_host_inbound and drop_standby: rx is their sum.
 * no_xsk is not a decision, it says why a packet of an armed interface took the fallback
 * (tail_call/fallback_pass). Packets whose ingress interface has no valid moat_ifaces entry have no
 * slot: they count rx and unmanaged in one extra entry, index MOAT_SHIM_STATS_UNMANAGED.
 */
#define MOAT_SHIM_STATS_UNMANAGED MOAT_MAX_IFACES
#define MOAT_SHIM_STATS_ENTRIES (MOAT_MAX_IFACES + 1)

/*
 * Interface source NAT: the dataplane allocates translated ports (and ICMP echo ids) on an
 * interface's own address only in this range, so the box's own connections (the kernel's
 * ip_local_port_range, 32768-60999 by default) never collide with them; controld marks the
 * range in moat_nat_local so the shim hands those replies to the dataplane.
 */
#define MOAT_NAT_IF_PORT_LO 1024
#define MOAT_NAT_IF_PORT_HI 32767

#endif
