/* SPDX-License-Identifier: MIT */
/*
 * controld.h — the control daemon's state, shared by its modules.
 *
 * One libuv loop, one thread. Modules: lifecycle.c (start-up order, arm/disarm),
 * netlink.c (links, addresses, neighbours), bootstrap.c (BPF), helper.c (the dataplane
 * link), operator.c (the moatctl socket), show.c (operator commands).
 */
#ifndef MOAT_CONTROLD_H
#define MOAT_CONTROLD_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "bootstrap.h"
#include "capability.h"
#include "config.h"
#include "frame.h"
#include "handover.h"
#include "maps.h"
#include "mirror.h"

struct netlink;
struct helper_link;
struct operator_server;
struct commit_state;
struct legacy;
struct ha;

#define CONTROLD_MAX_NEIGH 4096
#define HELPER_HEARTBEAT_MS 200
#define HELPER_APPLY_TIMEOUT_MS 15000 /* Hello or SnapshotApplied pending, not armed */
#define HELPER_HEARTBEAT_MISS 3       /* missed heartbeats before controld disarms */
/* FlowSettings the config language does not set (yet). */
#define SNAPSHOT_TCP_CLOSING_TIMEOUT 30 /* seconds: FIN/RST seen, and time-wait */
#define SNAPSHOT_OTHER_TIMEOUT 60       /* seconds: IP protocols other than TCP/UDP/ICMP */
#define MIRROR_EXPIRE_INTERVAL_MS 30000 /* how often the mirror drops sessions it lost track of */

/* One managed interface: what the config asks for and what the system gave. */
struct ctl_iface {
    char name[IFNAMSIZ];
    uint32_t ifindex; /* 0 = not present in the kernel */
    uint8_t mac[6];
    uint32_t mtu;
    bool link_up;
    uint32_t slot;   /* moat_iface.slot */
    uint32_t queues; /* RX queues */
    uint32_t zone_id;
    enum xdp_attach_mode xdp_mode;
    char attach_error[256];
    bool armed;
    /* From the helper's last SnapshotApplied. */
    char xsk_mode[16]; /* "copy", "zerocopy", or "" */
    int bind_error;    /* negative errno of the last failed bind, 0 if none */
    char bind_error_text[256];
    unsigned xsk_bound; /* queues bound */
    /* Capability gate (gate.c): the path this interface runs, and why. */
    bool dp_decided;
    enum cap_mode dp_mode;
    char dp_reason[320];
    int zc_err;       /* from the helper: why zero-copy was refused (negative errno) */
    bool need_wakeup; /* from the helper: the bind uses XDP_USE_NEED_WAKEUP */
    bool op_disarmed; /* `request dataplane disarm`: stays disarmed until `arm` */
    char q_xsk[MOAT_MAX_QUEUES][12];      /* per queue: "copy", "zerocopy", "failed" or "" */
    uint64_t q_bind_gen[MOAT_MAX_QUEUES]; /* per queue: the helper's bind number of its XSK */
    uint64_t mode_switches;
    /* Link cycle (lifecycle.c "link cycle"): Interface.link_epoch, bumped each time the link
     * came back up, changed MTU or was re-created; the helper rebinds on a change. */
    uint32_t link_epoch;
    uint64_t rebinds;      /* from the helper: times it rebound this interface */
    uint64_t link_changes; /* link epochs pushed */
    uint64_t reattaches;   /* shim attached again to a re-created interface */
};

struct ctl_neigh {
    uint8_t family;
    uint8_t addr[16];
    uint32_t ifindex;
    uint8_t mac[6];
    uint16_t state; /* NUD_* */
};

enum helper_state {
    HELPER_DOWN = 0,  /* no connection */
    HELPER_CONNECTED, /* Hello accepted, snapshot pushed, waiting for SnapshotApplied */
    HELPER_APPLIED,   /* snapshot applied, forwarding armed (unless mode forbids) */
};

struct controld {
    uv_loop_t *loop;
    /* Paths and flags. */
    const char *config_path;
    const char *run_dir;
    const char *bpffs_dir;
    const char *bpf_dir;
    const char *spawn_path; /* --spawn-dataplane */
    const char *log_level_name;
    const char *state_dir;     /* --state-dir: commit history under STATE_DIR/commits */
    bool confirm_unit_seconds; /* hidden --confirm-unit-seconds: commit confirmed N counts
                                  seconds (lab tests) */

    struct moat_config *cfg; /* the running configuration */
    struct commit_state *commit;
    struct mirror mirror; /* the helper's sessions (mirror.h) */
    uv_timer_t mirror_timer;
    bool mirror_timer_on;
    /* Handover at arming (handover.h): the sessions the helper holds, the run in flight,
     * its counters; the timer of its bounds. */
    struct handover handover;
    uv_timer_t handover_timer;
    bool handover_timer_on;
    struct bootstrap *bpf;
    struct netlink *nl;
    struct helper_link *helper;
    struct operator_server *op;
    struct legacy *legacy; /* xdp_main_prog, the legacy path (legacy.h); NULL if not loaded */
    struct ha *ha;         /* chassis cluster (ha/ha.h), NULL without one */

    /* Lifecycle, as `show system status` prints it. */
    const char *phase; /* "starting", "bootstrapped", "waiting-for-helper", "running", ... */
    char mode[16];     /* "userspace" or "legacy" */
    char mode_reason[512];
    uint64_t generation;         /* last snapshot pushed */
    uint64_t applied_generation; /* last snapshot the helper applied */
    uint64_t config_generation;  /* first generation of the running config: NAT rule ids in
                                    counters of an older one name other rules */
    bool armed;
    uint64_t started_at_ms;

    struct ctl_iface ifaces[MOAT_MAX_IFACES];
    unsigned n_ifaces;

    struct ctl_neigh neigh[CONTROLD_MAX_NEIGH];
    unsigned n_neigh;

    /* Counters shown by `show system status`. */
    uint64_t helper_connects;
    uint64_t helper_disconnects;
    uint64_t helper_spawns;
    uint64_t disarms;
    uint64_t arms;
    uint64_t snapshots_pushed;
    uint64_t heartbeats_rx;
    uint64_t heartbeat_timeouts;
    uint64_t resolve_requests;
    uint64_t neigh_updates_sent;
    uint64_t malformed_frames;
    uint64_t session_log_lines; /* RT_FLOW_SESSION_* lines written */
    /* Capability gate (gate.c). */
    struct cap_kernel cap;
    uint64_t mode_switches; /* interface decisions that changed, all interfaces */

    uv_signal_t sig_term, sig_int, sig_hup;
    bool stopping;
};

uint64_t ctl_now_ms(void);

/* lifecycle.c */
int lifecycle_start(struct controld *c);
void lifecycle_stop(struct controld *c);
/* The helper applied generation gen: check its sockets are in the map, then arm. */
void lifecycle_helper_applied(struct controld *c, uint64_t gen);
/* ifc is about to be disarmed (operator, link cycle) while the helper runs: the kernel path
 * gets the mirror's sessions it lacks first (legacy_on_disarm(), idempotent). */
void lifecycle_iface_disarming(struct controld *c, struct ctl_iface *ifc);
/* Sessions the kernel path created (legacy.c, its event ring): with an interface armed, they
 * go to the helper at once (SessionInstall), since replies may enter an armed interface.
 * 0 when sent, -EAGAIN with nothing armed, or the error of the send. */
int lifecycle_kernel_created(struct controld *c, const struct sessrec *recs, size_t n);
/* A batch of the helper's session deltas, once in the mirror: with some interfaces armed and
 * others not, the kernel path follows the helper's new sessions and TCP states
 * (legacy_follow()). */
void lifecycle_helper_deltas(struct controld *c, const Moat__SessionDeltaBatch *b);
/* The helper went away or stopped answering: disarm every interface at once. */
void lifecycle_disarm(struct controld *c, const char *why);
/* A returning helper got its Hello snapshot (with the mirror's sessions): they are the cut
 * (handover.h) the kernel path's later sessions are handed over from before arming. */
void lifecycle_handover_cut(struct controld *c);
/*
 * The running configuration changed (a commit): re-resolve the interfaces (attach the shim to
 * new ones, detach removed ones, add new addresses, update zones), the box's own addresses,
 * the mode and the mirror's maximum. old is the configuration that ran before.
 */
void lifecycle_apply_config(struct controld *c, const struct moat_config *old);
/* 0 if this build can enforce everything cfg asks for; else -EOPNOTSUPP with a sentence. */
int lifecycle_check_enforceable(const struct moat_config *cfg, char *why, size_t len);

/* gate.c: the capability gate applied to controld's interfaces (capability.h). */
/* Re-decides every interface's mode; logs and counts each change; disarms an interface that
 * leaves userspace; refreshes c->mode and c->mode_reason. */
void gate_update(struct controld *c);
/* commit check: -EOPNOTSUPP with a sentence if cfg forces a mode this machine can't run. */
int gate_check_config(struct controld *c, const struct moat_config *cfg, char *why, size_t len);
/* `request dataplane arm|disarm [IFNAME]` (ifname NULL = every interface). 0, or non-zero
 * with a sentence in why. */
int gate_operator_arm(struct controld *c, const char *ifname, bool arm, char *msg, size_t len);
/* Arms ifc if the gate chose userspace, the operator did not disarm it, the helper applied
 * the current generation and every queue has its socket in moat_xsks. 0 when armed, else a
 * negative errno with the reason in why. */
int gate_try_arm(struct controld *c, struct ctl_iface *ifc, char *why, size_t len);

/* snapshot.c: the Snapshot for the helper, without sessions (caller frees with
 * snapshot_free()). */
Moat__Snapshot *snapshot_build(struct controld *c);
void snapshot_free(Moat__Snapshot *s);
/*
 * The whole frame (length prefix, Envelope{snapshot}) for s, with the sessions of m (if not
 * NULL) appended as Snapshot.sessions while the frame stays within max_frame; *n_left counts
 * the sessions that did not fit. *out is malloc'd.
 */
int snapshot_encode_frame(const Moat__Snapshot *s, const struct mirror *m, size_t max_frame,
                          uint8_t **out, size_t *out_len, size_t *n_sent, size_t *n_left);
struct ctl_iface *ctl_iface_by_ifindex(struct controld *c, uint32_t ifindex);

/* neighbour table kept from netlink */
void ctl_neigh_upsert(struct controld *c, const struct ctl_neigh *n, bool *changed);
void ctl_neigh_remove(struct controld *c, uint8_t family, const uint8_t *addr, uint32_t ifindex,
                      bool *changed);

#endif
