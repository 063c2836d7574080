/* SPDX-License-Identifier: MIT */
/*
 * bootstrap.h — loads bpf/ objects, pins their maps and programs, fills the bootstrap maps
 * and attaches the XDP shim. The only part of controld that talks to libbpf.
 *
 * Pins live directly under bpffs_dir (e.g. /sys/fs/bpf/moat/moat_ifaces). A controld
 * restart reuses maps already pinned there (their contents survive) and re-pins programs.
 */
#ifndef MOAT_BOOTSTRAP_H
#define MOAT_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maps.h"

struct bootstrap;

/* Not XDP_ATTACHED_*: those names belong to <linux/if_link.h>. */
enum xdp_attach_mode { MOAT_XDP_NONE = 0, MOAT_XDP_NATIVE, MOAT_XDP_GENERIC };

/*
 * Opens bpf_dir/shim.bpf.o, reuses or creates the maps pinned in bpffs_dir (created if
 * missing), loads the programs, pins them, resets every interface to disarmed and fills
 * moat_cpumap and moat_ctrl. Returns 0 or a negative errno with a sentence in errbuf.
 * moat_ctrl's ephemeral port range is read here, once, from this network namespace's
 * net.ipv4.ip_local_port_range (32768-60999 if unreadable).
 */
int bootstrap_open(struct bootstrap **out, const char *bpf_dir, const char *bpffs_dir, char *errbuf,
                   size_t errlen);
/* Detaches the shim from every interface it attached to (if detach) and frees everything. */
void bootstrap_close(struct bootstrap *b, bool detach);

/*
 * Attaches xdp_userspace_prog to ifindex: native first, generic if native is refused
 * (unless native_only). Writes moat_ifaces[ifindex] = {slot, MOAT_IF_MANAGED | ...}; its
 * host-inbound part (zone, sets, MOAT_IF_ZONED) comes from the last
 * bootstrap_set_host_inbound of ifindex, else from the entry a previous controld left,
 * else zone_id and not zoned. If a program is attached in the other mode, it is removed
 * first (the kernel refuses both side by side) and put back if the attach fails, so a
 * failed attach (e.g. native_only on a driver without native XDP) leaves the interface as
 * it found it. *mode says what the kernel accepted.
 */
int bootstrap_attach(struct bootstrap *b, uint32_t ifindex, uint32_t slot, uint32_t zone_id,
                     bool native_only, enum xdp_attach_mode *mode, char *errbuf, size_t errlen);
int bootstrap_detach(struct bootstrap *b, uint32_t ifindex);

/*
 * Host-inbound traffic of ifindex's zone (SRX `security-zone Z host-inbound-traffic`):
 * services are CFG_SVC_* bits (= MOAT_HI_SVC_*), protocols CFG_HPROTO_* bits
 * (= MOAT_HI_PROTO_*). zoned = the interface is in a security zone: the shim then passes
 * to the kernel only the host-bound traffic these allow (rule: host_inbound_allowed() in
 * bpf/shim.bpf.c) and drops the rest (drop_host_inbound). zoned = false: everything
 * host-bound passes, as before zones existed. zoned requires zone_id != 0.
 *
 * Updates moat_ifaces[ifindex] in place (zone_id, host_inbound, host_protocols and
 * MOAT_IF_ZONED; slot, MANAGED, ARMED and USERSPACE are kept). The setting is also
 * remembered for ifindex and applied by every later bootstrap_attach of it: call this
 * BEFORE bootstrap_attach, so that a zoned interface never runs unfiltered, and again
 * after each commit. Returns 0, or -EINVAL (unknown bits, zoned with zone 0), -ENOSPC
 * (too many interfaces remembered) or the map update's negative errno.
 */
int bootstrap_set_host_inbound(struct bootstrap *b, uint32_t ifindex, uint32_t zone_id,
                               uint32_t services, uint32_t protocols, bool zoned);

/* Sets or clears MOAT_IF_ARMED (and MOAT_IF_USERSPACE with it) on ifindex. */
int bootstrap_set_armed(struct bootstrap *b, uint32_t ifindex, bool armed);

/* The loaded shim object (the maps it shares with the legacy path's object). */
const struct bpf_object *bootstrap_object(const struct bootstrap *b);
/* HA: MOAT_IF_STANDBY on or off (secondary of the interface's redundancy group). */
int bootstrap_set_standby(struct bootstrap *b, uint32_t ifindex, bool standby);
/* The mixed state: MOAT_IF_DIVERT on or off (an armed interface gives the packets of the kernel
 * path's flows, moat_lg_divert, to it). */
int bootstrap_set_divert(struct bootstrap *b, uint32_t ifindex, bool divert);
/* Empties moat_lg_divert (no interface left in the mixed state). */
int bootstrap_divert_clear(struct bootstrap *b);
/* Records the generation the armed helper applied in moat_ctrl. */
int bootstrap_set_generation(struct bootstrap *b, uint64_t generation);

/* Replaces the whole set of the box's own addresses (family 4 or 6, addr as in packets). */
struct bootstrap_local_addr {
    uint8_t family;
    uint8_t addr[16];
    uint32_t ifindex;
};
int bootstrap_set_local_addrs(struct bootstrap *b, const struct bootstrap_local_addr *addrs,
                              unsigned n);

/*
 * Replaces the whole content of moat_nat_local (layout and matching rule: struct
 * moat_nat_key in bpf/maps.h) with keys[i] -> vals[i], i < n: stale keys are deleted first,
 * then every given key is written. Keys must be distinct, and each must have family AF_INET
 * (addr[4..15] zero) or AF_INET6, pad 0, proto IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP
 * (AF_INET) or IPPROTO_ICMPV6 (AF_INET6); a range entry (port 0) needs
 * 1 <= port_lo <= port_hi. n = 0 empties the map. Returns 0, -EINVAL (a bad or repeated
 * entry: nothing changed), -E2BIG (n > MOAT_MAX_NAT_LOCAL), -ENOMEM or a map operation's
 * negative errno.
 */
int bootstrap_set_nat_local(struct bootstrap *b, const struct moat_nat_key *keys,
                            const struct moat_nat_local_val *vals, unsigned n);

/*
 * True if moat_xsks holds a socket at slot * MOAT_MAX_QUEUES + queue. XSKMAP entries can't
 * be read from user space, so this runs a probe program through BPF_PROG_TEST_RUN that
 * looks the slot up in the real map.
 */
int bootstrap_xsk_present(struct bootstrap *b, uint32_t slot, uint32_t queue, bool *present);

/* Sums the per-CPU shim counters of one interface slot. */
int bootstrap_read_shim_stats(struct bootstrap *b, uint32_t slot, struct moat_shim_stats *out);

/*
 * What the kernel says is attached to ifindex (whoever attached it): mode, program id and
 * program name (the kernel keeps 15 characters: "xdp_userspace_p"). 0 or a negative errno.
 */
int bootstrap_query_attached(uint32_t ifindex, enum xdp_attach_mode *mode, uint32_t *prog_id,
                             char *name, size_t namelen);

/* Name of the attached program's mode, for status output: "native", "generic", "none". */
const char *xdp_attach_mode_name(enum xdp_attach_mode mode);

#endif
