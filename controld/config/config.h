/* SPDX-License-Identifier: MIT */
/*
 * config.h — Moat's declarative configuration: parse, validate, compile to a model.
 *
 * The text (SRX-style braces and semicolons, `#` comments) is parsed into a generic tree
 * (config_tree.h), then compiled into the typed model below. Every error carries the file
 * name, line and column of the token it is about and a sentence an operator can act on.
 *
 * The model is plain data owned by one struct moat_config; config_free() releases it all.
 */
#ifndef MOAT_CONFIG_H
#define MOAT_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_ERR_MAX 512

/* An error as shown to the operator: "FILE:LINE:COL: message". */
struct config_error {
    char file[256];
    unsigned line;
    unsigned col;
    char message[CONFIG_ERR_MAX];
};

/* An address prefix. family is 4 or 6; IPv4 uses addr[0..3]. */
struct cfg_prefix {
    uint8_t family;
    uint8_t len;
    uint8_t addr[16];
};

enum cfg_dataplane_mode { CFG_MODE_AUTO = 0, CFG_MODE_USERSPACE, CFG_MODE_LEGACY };

/* system services prometheus { listen-address A; port N; }: off unless the block is there. */
struct cfg_prometheus {
    bool enabled;
    struct cfg_prefix address; /* len 32 or 128; default 127.0.0.1 */
    unsigned port;             /* default 9469 */
};

struct cfg_system {
    char host_name[64];
    struct cfg_prometheus prometheus;
    enum cfg_dataplane_mode mode; /* system dataplane mode */
    unsigned workers;             /* system dataplane workers (default 1) */
    unsigned ring_size;           /* system dataplane ring-size (default 2048, power of two) */
    unsigned frame_size;          /* system dataplane frame-size (2048 or 4096, default 4096) */
    unsigned worker_cpus[16];     /* system dataplane worker-cpus: worker i on worker_cpus[i % n] */
    unsigned n_worker_cpus;       /* 0: the workers run on any CPU */
};

struct cfg_interface {
    char name[IFNAMSIZ];
    unsigned line;            /* where it was declared, for later errors */
    unsigned mtu;             /* 0 = leave as is */
    int redundancy_group;     /* -1 = none */
    struct cfg_prefix *addrs; /* family inet/inet6 addresses, unit 0 */
    unsigned n_addrs;
    struct cfg_prefix *vips; /* virtual-address (cluster), /len taken from the subnet */
    unsigned n_vips;
    unsigned zone_id; /* security zone holding it (1..n_zones), 0 = in no zone */
};

struct cfg_route {
    struct cfg_prefix dst;
    uint8_t nexthop[16]; /* same family as dst */
    bool discard;        /* `discard` instead of next-hop */
    unsigned line;
};

/* Names of zones, policies, addresses, applications, pools, rule-sets, rules, screens. */
#define CFG_NAME_MAX 64 /* including the NUL: at most 63 characters */

/* ---- applications (and predefined junos-* ones) ---- */
struct cfg_application {
    char name[CFG_NAME_MAX];
    unsigned line;               /* 0 for predefined applications */
    bool predefined;             /* junos-* or any */
    bool any;                    /* the `any` application: every protocol, every port */
    uint8_t protocol;            /* IP protocol number: 6 tcp, 17 udp, 1 icmp, 58 icmp6 */
    uint16_t dport_lo, dport_hi; /* destination-port range; 0..65535 when not given */
    uint16_t sport_lo, sport_hi; /* source-port range; 0..65535 when not given */
    int16_t icmp_type;           /* -1 = any */
    int16_t icmp_code;           /* -1 = any */
    unsigned inactivity_timeout; /* seconds; 0 = the flow timeout of the protocol */
};

struct cfg_application_set {
    char name[CFG_NAME_MAX];
    unsigned line;
    unsigned *apps; /* indices into security->apps, nested sets expanded, no duplicates */
    unsigned n_apps;
};

/* ---- address book (global) ---- */
struct cfg_address {
    char name[CFG_NAME_MAX];
    unsigned line;
    struct cfg_prefix prefix;
};

struct cfg_address_set {
    char name[CFG_NAME_MAX];
    unsigned line;
    struct cfg_prefix *prefixes; /* flattened: nested sets expanded */
    unsigned n_prefixes;
};

/* ---- zones ---- */
/* host-inbound-traffic system-services */
enum cfg_host_service {
    CFG_SVC_PING = 1u << 0,
    CFG_SVC_SSH = 1u << 1,
    CFG_SVC_TELNET = 1u << 2,
    CFG_SVC_HTTP = 1u << 3,
    CFG_SVC_HTTPS = 1u << 4,
    CFG_SVC_DNS = 1u << 5,
    CFG_SVC_DHCP = 1u << 6,
    CFG_SVC_DHCPV6 = 1u << 7,
    CFG_SVC_NTP = 1u << 8,
    CFG_SVC_SNMP = 1u << 9,
    CFG_SVC_TRACEROUTE = 1u << 10,
    CFG_SVC_IKE = 1u << 11,
    CFG_SVC_NETCONF = 1u << 12,
    CFG_SVC_FTP = 1u << 13,
    CFG_SVC_ALL = (1u << 14) - 1,
};
/* host-inbound-traffic protocols */
enum cfg_host_protocol {
    CFG_HPROTO_BGP = 1u << 0,
    CFG_HPROTO_OSPF = 1u << 1,
    CFG_HPROTO_OSPF3 = 1u << 2,
    CFG_HPROTO_RIP = 1u << 3,
    CFG_HPROTO_RIPNG = 1u << 4,
    CFG_HPROTO_VRRP = 1u << 5,
    CFG_HPROTO_BFD = 1u << 6,
    CFG_HPROTO_PIM = 1u << 7,
    CFG_HPROTO_ROUTER_DISCOVERY = 1u << 8,
    CFG_HPROTO_ALL = (1u << 9) - 1,
};

struct cfg_zone {
    char name[CFG_NAME_MAX];
    unsigned zone_id; /* 1..n_zones in declaration order: zones[i].zone_id == i + 1 */
    unsigned line;
    unsigned *ifaces; /* indices into cfg->ifaces */
    unsigned n_ifaces;
    uint32_t host_services;  /* CFG_SVC_* bits */
    uint32_t host_protocols; /* CFG_HPROTO_* bits */
    int screen;              /* index into security->screens, -1 = none */
};

/* ---- policies ---- */
enum cfg_policy_action { CFG_POLICY_PERMIT = 0, CFG_POLICY_DENY, CFG_POLICY_REJECT };
enum cfg_default_policy { CFG_DEFAULT_DENY_ALL = 0, CFG_DEFAULT_PERMIT_ALL };

/* source-address or destination-address of a policy, names resolved */
struct cfg_addr_match {
    bool any;                    /* `any` was named: matches every address of both families */
    struct cfg_prefix *prefixes; /* addresses and sets flattened (any-ipv4 = 0.0.0.0/0) */
    unsigned n_prefixes;
};

struct cfg_policy {
    char name[CFG_NAME_MAX];
    unsigned line;
    unsigned from_zone, to_zone; /* zone ids */
    struct cfg_addr_match src, dst;
    bool app_any;   /* `any` was named */
    unsigned *apps; /* indices into security->apps, sets expanded, no duplicates */
    unsigned n_apps;
    enum cfg_policy_action action;
    bool log_init, log_close, count;
};

/* ---- NAT ---- */
/* An inclusive address range; family 4 or 6, IPv4 uses [0..3]. */
struct cfg_addr_range {
    uint8_t family;
    uint8_t lo[16];
    uint8_t hi[16];
};

struct cfg_snat_pool {
    char name[CFG_NAME_MAX];
    unsigned line, col; /* of its name */
    uint8_t family;     /* of every range */
    struct cfg_addr_range *ranges;
    unsigned n_ranges;
    bool no_port_translation;  /* port no-translation */
    uint16_t port_lo, port_hi; /* port range; default 1024..65535 */
    bool address_persistent;
};

struct cfg_dnat_pool {
    char name[CFG_NAME_MAX];
    unsigned line;
    struct cfg_prefix addr; /* translated destination; len as written (usually a host) */
    uint16_t port;          /* translated destination port; 0 = keep */
};

enum cfg_nat_kind { CFG_NAT_KIND_SOURCE = 0, CFG_NAT_KIND_DESTINATION, CFG_NAT_KIND_STATIC };

enum cfg_nat_action {
    CFG_NAT_OFF = 0,   /* `off`: matched traffic is not translated */
    CFG_NAT_INTERFACE, /* source-nat interface: the egress interface's address (or VIP) */
    CFG_NAT_POOL,      /* pool: index in `pool` */
    CFG_NAT_PREFIX,    /* static-nat prefix */
};

/* `from` / `to` of a rule-set */
struct cfg_nat_context {
    bool interface; /* false: zones (ids), true: interfaces (indices into cfg->ifaces) */
    unsigned *ids;
    unsigned n;
};

struct cfg_nat_rule {
    char name[CFG_NAME_MAX];
    unsigned line, col;     /* of its name */
    struct cfg_prefix *src; /* match source-address; none = any */
    unsigned n_src;
    struct cfg_prefix *dst; /* match destination-address; none = any */
    unsigned n_dst;
    uint16_t dport_lo, dport_hi; /* match destination-port; 0..0 = any */
    uint8_t protocol;            /* match protocol; 0 = any */
    enum cfg_nat_action action;
    int pool;                        /* CFG_NAT_POOL: index into snat_pools/dnat_pools; else -1 */
    struct cfg_prefix static_prefix; /* CFG_NAT_PREFIX */
};

struct cfg_nat_rule_set {
    char name[CFG_NAME_MAX];
    unsigned line;
    struct cfg_nat_context from;
    struct cfg_nat_context to;  /* source NAT only (n == 0 elsewhere) */
    struct cfg_nat_rule *rules; /* in config order */
    unsigned n_rules;
};

/* ---- screens (security screen ids-option NAME) ---- */
/* Per-packet checks (flags). */
enum cfg_screen_flag {
    CFG_SCR_PING_DEATH = 1u << 0,  /* icmp ping-death: reassembled ICMP (IPv6: any) > 65535 bytes */
    CFG_SCR_LAND = 1u << 1,        /* tcp land: source == destination (address and port) */
    CFG_SCR_SYN_FIN = 1u << 2,     /* tcp syn-fin */
    CFG_SCR_TCP_NO_FLAG = 1u << 3, /* tcp tcp-no-flag */
    CFG_SCR_FIN_NO_ACK = 1u << 4,  /* tcp fin-no-ack */
    CFG_SCR_TEAR_DROP = 1u << 5,   /* ip tear-drop: overlapping / bogus fragment offsets */
};

struct cfg_screen {
    char name[CFG_NAME_MAX];
    unsigned line;
    uint32_t flags; /* CFG_SCR_* */
    /* Rates, per second (0 = off). */
    unsigned icmp_flood;      /* new ICMP flows per destination address */
    unsigned udp_flood;       /* new UDP flows per destination address */
    unsigned syn_attack;      /* SYNs per destination address and port */
    unsigned syn_destination; /* SYNs per destination address */
    unsigned syn_source;      /* SYNs per source address */
    /* Concurrent sessions (0 = off). */
    unsigned limit_src; /* limit-session source-ip-based */
    unsigned limit_dst; /* limit-session destination-ip-based */
};

/* ---- flow ---- */
#define CFG_FLOW_MAX_SESSIONS_DEFAULT 1048576u
#define CFG_FLOW_MAX_SESSIONS_LIMIT (16u << 20)
struct cfg_flow {
    unsigned tcp_established_timeout; /* seconds, default 1800 */
    unsigned tcp_initial_timeout;     /* seconds, default 20 */
    unsigned udp_timeout;             /* seconds, default 60 */
    unsigned icmp_timeout;            /* seconds, default 60 */
    unsigned aging_high_watermark;    /* percent of the session table, default 100 */
    unsigned aging_low_watermark;     /* percent, default 100 */
    unsigned max_sessions;            /* security flow max-sessions, default 1048576 */
    bool policy_reevaluate; /* security flow policy-reevaluate enable|disable, default enable */
    bool syn_cookie; /* security flow syn-flood-protection-mode syn-cookie|drop, default drop */
};

/* Everything under `security`, plus `applications`. Never NULL in a loaded config. */
struct cfg_security {
    struct cfg_application *apps; /* predefined first (line 0), then the configured ones */
    unsigned n_apps;
    struct cfg_application_set *app_sets;
    unsigned n_app_sets;
    struct cfg_address *addrs;
    unsigned n_addrs;
    struct cfg_address_set *addr_sets;
    unsigned n_addr_sets;
    struct cfg_zone *zones;
    unsigned n_zones;
    struct cfg_policy *policies; /* all zone pairs, in config order */
    unsigned n_policies;
    enum cfg_default_policy default_policy;
    struct cfg_snat_pool *snat_pools;
    unsigned n_snat_pools;
    struct cfg_dnat_pool *dnat_pools;
    unsigned n_dnat_pools;
    struct cfg_nat_rule_set *snat_rule_sets; /* nat source, in config order */
    unsigned n_snat_rule_sets;
    struct cfg_nat_rule_set *dnat_rule_sets; /* nat destination */
    unsigned n_dnat_rule_sets;
    struct cfg_nat_rule_set *static_rule_sets; /* nat static */
    unsigned n_static_rule_sets;
    struct cfg_screen *screens;
    unsigned n_screens;
    struct cfg_flow flow;
};

/* ---- chassis cluster ---- */
struct cfg_rg_monitor {
    char ifname[IFNAMSIZ];
    unsigned iface;  /* index into cfg->ifaces */
    unsigned weight; /* 0..255 */
};

struct cfg_redundancy_group {
    unsigned id; /* 0 = the control plane (controld); 1..N own interfaces and VIPs */
    unsigned line;
    unsigned priority[2]; /* by node id, 1..254 */
    bool preempt;
    unsigned gratuitous_arp_count; /* default 4 */
    struct cfg_rg_monitor *monitors;
    unsigned n_monitors;
};

struct cfg_cluster {
    unsigned cluster_id; /* 1..255 */
    unsigned node_id;    /* 0 or 1 */
    char control_interface[IFNAMSIZ];
    struct cfg_prefix local_address; /* host prefixes (/32 or /128), same family */
    struct cfg_prefix peer_address;
    char *authentication_key;         /* NUL-terminated, never empty */
    unsigned heartbeat_interval_ms;   /* default 1000 */
    unsigned heartbeat_threshold;     /* default 3 */
    struct cfg_redundancy_group *rgs; /* in config order */
    unsigned n_rgs;
};

struct moat_config {
    char source_name[256]; /* file the config came from */
    struct cfg_system system;
    struct cfg_interface *ifaces;
    unsigned n_ifaces;
    struct cfg_route *routes;
    unsigned n_routes;
    /* security, applications and chassis cluster: declared by the config module below. */
    struct cfg_security *security;
    struct cfg_cluster *cluster; /* NULL when no chassis cluster stanza */
    struct config_tree *tree;    /* the parsed tree, for `show configuration` */
    struct cfg_arena *arena;     /* private: owns every allocation of the model */
};

/*
 * Parses and validates. On success returns 0 and *out; on failure a negative errno
 * (-EINVAL for a bad config, -ENOENT/-EACCES for the file) with *err filled.
 */
int config_load_file(const char *path, struct moat_config **out, struct config_error *err);
int config_load_string(const char *text, const char *name, struct moat_config **out,
                       struct config_error *err);
void config_free(struct moat_config *cfg);

/* "FILE:LINE:COL: message" (or "FILE: message" when line is 0). */
void config_error_format(const struct config_error *err, char *buf, size_t len);

/* Prints the configuration as the operator wrote it (normalised braces) or as `set` lines. */
int config_print_tree(const struct moat_config *cfg, FILE *out);
int config_print_set(const struct moat_config *cfg, FILE *out);

/* Looks an interface up by name; NULL if the config does not name it. */
const struct cfg_interface *config_find_interface(const struct moat_config *cfg, const char *name);

/* ---- look-ups and helpers (added by the config module) ---- */
const struct cfg_zone *config_find_zone(const struct moat_config *cfg, const char *name);
/* zone_id 1..n_zones; NULL otherwise. */
const struct cfg_zone *config_zone_by_id(const struct moat_config *cfg, unsigned zone_id);
/* Configured or predefined (junos-*, any) application; NULL if unknown. */
const struct cfg_application *config_find_application(const struct moat_config *cfg,
                                                      const char *name);
const struct cfg_redundancy_group *config_find_rg(const struct moat_config *cfg, unsigned id);

/*
 * NAT rules in the order the dataplane evaluates them and numbered as NatRule.id
 * (proto/moat.proto): static rule-sets first, then destination, then source; config order
 * inside. Ids run 1..config_nat_rule_count().
 */
struct cfg_nat_rule_ref {
    unsigned id;
    enum cfg_nat_kind kind;
    const struct cfg_nat_rule_set *rs;
    const struct cfg_nat_rule *rule;
    unsigned position; /* 1.. inside its rule-set */
};
unsigned config_nat_rule_count(const struct moat_config *cfg);
/* Fills *out for rule id (1..count); false if there is no such rule. */
bool config_nat_rule_by_id(const struct moat_config *cfg, unsigned id,
                           struct cfg_nat_rule_ref *out);
/* The rule-sets of one kind (and how many). */
const struct cfg_nat_rule_set *config_nat_rule_sets(const struct moat_config *cfg,
                                                    enum cfg_nat_kind kind, unsigned *n);
const char *config_nat_kind_name(enum cfg_nat_kind kind); /* "source", "destination", "static" */

/* "10.77.1.1/24", "fd00:77:1::1/64"; returns 0 or -ENOSPC. */
int config_prefix_format(const struct cfg_prefix *p, char *buf, size_t len);
/* True if addr (family 4 or 6, 4 or 16 bytes) lies inside prefix p of the same family. */
bool config_prefix_contains(const struct cfg_prefix *p, uint8_t family, const uint8_t *addr);

#endif
