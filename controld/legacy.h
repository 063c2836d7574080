/* SPDX-License-Identifier: MIT */
/*
 * legacy.h — controld's side of xdp_main_prog, the legacy in-kernel path (bpf/main.bpf.c,
 * map layouts in bpf/legacy_maps.h).
 *
 *  - Loads main.bpf.o with its maps pinned by name under --bpffs-dir (a controld restart
 *    reuses them: the kernel path's sessions survive) and puts xdp_main_prog and
 *    xdp_main_new in moat_progs, where the shim tail-calls them when an interface is not armed.
 *  - Compiles the Snapshot of the running configuration (the one the helper gets) into the
 *    maps on start and on every commit: zones, policies, NAT rules and pools, interfaces,
 *    routes, neighbours (legacy_compile(), pure, unit-tested). Policy rules and NAT rules go
 *    to the half ("bank") of their array not in use, then the pair table and moat_lg_cfg
 *    switch to it, so a packet never sees half a commit.
 *  - Consumes the session events of the ring buffer (creates: into the session mirror at
 *    once; resolve requests: netlink) and sweeps the session map every second: sessions idle
 *    beyond their timeout are deleted and closed in the mirror, live ones update it; a session
 *    the LRU map evicted is closed (early-aged) and the session counts (per address, total) are
 *    brought back to what the map holds (legacy_count_fix()); source NAT mappings
 *    (moat_lg_nmap, endpoint-independent) no live session holds are deleted.
 *  - Operator commands and commits cover the kernel path's sessions too: clear security flow
 *    session (legacy_clear), commit-time re-evaluation (flow policy-reevaluate: sessions no
 *    longer permitted are closed with reason policy), policy hit counts (moat_lg_hits, moved with
 *    their policy when a commit renumbers the policies, sessions' policy ids with them), NAT rule /
 * pool counters (moat_lg_natctr, moat_lg_poolctr) and screen drops (moat_lg_scrctr) added to the
 * helper's.
 *  - Screens (moat_lg_screens, by zone) and the interfaces' IPv6 addresses (moat_lg_if6, the
 *    source of the ICMPv6 errors xdp_main_icmp sends) are compiled with the rest.
 *  - max-sessions: moat_lg_limit holds the session count (kept by xdp_main_new and here) and
 *    the limit; the sweep ages the sessions idle longest early above the high watermark.
 *  - Fallback: when forwarding is disarmed after having been armed (the helper died, or one
 *    interface was disarmed while the helper runs), legacy_on_disarm() seeds the session map
 *    from the mirror (both tuples, so NAT continues, and the source NAT mappings, so a new
 *    flow of a mapped endpoint keeps its external port; sessions it holds already are left);
 *    when the helper is armed again, legacy_on_arm() empties the map (the helper got the
 *    mirror, with the kernel path's sessions, in its snapshot, and those created since in a
 *    handover before arming: legacy_session_records(), handover.h), unless the kernel path
 *    still serves a disarmed interface.
 *  - Some interfaces armed, others not (the helper runs): the sessions the kernel path creates
 *    go to the helper at once (lifecycle_kernel_created()), the helper's new sessions and TCP
 *    states come to the kernel path (legacy_follow()): a connection may enter one path one
 *    way and the other path the other way.
 */
#ifndef MOAT_LEGACY_H
#define MOAT_LEGACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "legacy_compile.h"
#include "legacy_maps.h"
#include "moat.pb-c.h"
#include "strbuf.h"
#include "sessrec.h"

struct controld;
struct ctl_neigh;
struct legacy;

/*
 * A count xdp_main_new and controld keep together (sessions by address slot, moat_lg_scrcnt;
 * the session total, moat_lg_limit.active) against a walk of the session map: before = the
 * count when the walk started, own = the decrements controld made during it (clamped at zero,
 * as they are), now = the count after it, walked = the live sessions the walk found. A session
 * the LRU map evicted silently is never taken off: when the kernel path did not touch the count
 * during the walk (now is before less own), the count is corrected to walked. Returns the value
 * to store, or now when it must be left alone (a new walk decides).
 */
uint64_t legacy_count_fix(uint64_t before, uint64_t own, uint64_t now, uint64_t walked);

/* ---- runtime (controld) ---- */

/* Loads, pins and installs the programs; starts the event poll and the sweep. */
int legacy_open(struct controld *c, struct legacy **out, char *err, size_t errlen);
/* Stops polling and sweeping; the programs stay in moat_progs and the maps pinned. */
void legacy_close(struct legacy *lg);
/* Compiles the running configuration (snapshot_build) into the maps. */
int legacy_sync(struct legacy *lg);
/* A neighbour of a managed interface changed. */
void legacy_neigh(struct legacy *lg, const struct ctl_neigh *n, bool removed);
/* Forwarding was disarmed after being armed: seed the session map from the mirror. */
void legacy_on_disarm(struct legacy *lg);
/* Some interfaces armed, others not (the helper runs): a session the helper created or
 * changed (s, from the mirror). A new one is seeded (its replies may enter a disarmed
 * interface); a TCP state the kernel path's copy has not reached yet is taken (each path sees
 * one direction of the connection). */
struct mirror_session;
void legacy_follow(struct legacy *lg, const struct mirror_session *s, bool created);
/* Forwarding was armed: the helper holds the sessions now; empty the session map. */
void legacy_on_arm(struct legacy *lg);
/* Every live kernel-path session as a struct sessrec (malloc'd, caller frees; none without
 * the legacy path). 0 or -ENOMEM. */
int legacy_session_records(struct legacy *lg, struct sessrec **out, size_t *n);
/* `show dataplane statistics`: the legacy path's counters (text section, or a JSON member
 * ,"legacy":{...} to append inside the top-level object). */
void legacy_render_stats(struct legacy *lg, bool json, struct strbuf *o);
int legacy_read_stats(struct legacy *lg, struct moat_lg_stats *out);
/* The seed the kernel path derives its SYN cookie key from (the zone-0 moat_lg_screens seed,
 * kept in the pinned map across controld restarts), for the helper to use the same key
 * (FlowSettings.cookie_seed); 0 without the legacy path. */
uint64_t legacy_cookie_seed(const struct legacy *lg);
/* `clear security flow session`: closes the kernel path's sessions among ids (reason
 * cleared, in the mirror too). Returns how many it closed. */
uint64_t legacy_clear(struct legacy *lg, const uint64_t *ids, size_t n);
/* Hit counters of policy id (0: the default policy) in the kernel path, summed over CPUs;
 * zero when the legacy path is not loaded. */
void legacy_policy_hits(struct legacy *lg, uint32_t id, struct moat_lg_hit *out);
/* Adds the kernel path's NAT counters (rule hits and failures; pool allocations, exhaustion
 * and ports in use, as of the last sweep) into the helper's counters of the same rules and
 * pools in r. */
void legacy_nat_counters(struct legacy *lg, Moat__PolicyCountersReply *r);
/* Adds the kernel path's screen drops (moat_lg_scrctr) into the helper's counters of the same
 * zones in r. */
void legacy_screen_counters(struct legacy *lg, Moat__PolicyCountersReply *r);

#endif
