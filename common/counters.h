/* SPDX-License-Identifier: MIT */
/*
 * counters.h — the dataplane's counters, shared with controld through a memory-mapped file.
 *
 * The helper creates RUN_DIR/dataplane.stats (mode 0640), sizes it to struct
 * moat_dp_stats and maps it shared. Each worker writes only its own struct
 * moat_worker_stats (plain stores, one writer, no locks); controld maps the file read-only
 * and reads it whenever an operator asks. The file outlives a crashed helper, so its last
 * counters can still be read; a restarted helper starts a new file (new boot_id).
 */
#ifndef MOAT_COUNTERS_H
#define MOAT_COUNTERS_H

#include <stdint.h>

#define MOAT_STATS_MAGIC 0x4d4f4154u /* "MOAT" */
#define MOAT_STATS_VERSION 1
#define MOAT_MAX_WORKERS 16
#define MOAT_STATS_FILE "dataplane.stats"

/* Counters of one worker. All monotonic except the *_level / *_depth gauges. */
struct moat_worker_stats {
    uint64_t rx_packets;
    uint64_t rx_bytes;
    uint64_t tx_packets; /* descriptors placed on a TX ring */
    uint64_t tx_bytes;
    uint64_t tx_completed; /* completions reaped */
    uint64_t tx_kicks;     /* sendto() wakeups */
    uint64_t tx_kick_errors;
    uint64_t tx_ring_full;            /* TX ring had no room: frame stayed pending */
    uint64_t pending_tx_drops;        /* pending queue full: frame dropped and recycled */
    uint64_t fill_level;              /* gauge: descriptors in the fill rings after last refill */
    uint64_t fill_empty_events;       /* refill found a fill ring completely empty */
    uint64_t rx_alloc_errors;         /* no free frame to refill with */
    uint64_t pending_tx_local;        /* gauge: current depth */
    uint64_t pending_tx_local_hwm;    /* high-water mark */
    uint64_t pending_tx_prepared;     /* gauge: current depth */
    uint64_t pending_tx_prepared_hwm; /* high-water mark */
    uint64_t parse_errors;            /* metadata missing/invalid or headers inconsistent */
    uint64_t forwarded;               /* packets rewritten and queued for TX */
    uint64_t fib_miss;                /* no route */
    uint64_t neigh_miss;              /* route but no neighbour: resolution requested */
    uint64_t resolve_requests;        /* ResolveRequest messages sent to controld */
    uint64_t ttl_expired;             /* TTL/hop limit would reach 0 */
    uint64_t mtu_drops;               /* larger than the egress MTU */
    uint64_t no_egress_xsk;           /* egress interface has no XSK */
    uint64_t session_hit;             /* later issues: session path */
    uint64_t shared_hit;
    uint64_t nat_reverse_hit;
    uint64_t session_miss;
    uint64_t policy_deny;
    uint64_t loops;      /* worker loop iterations */
    uint64_t idle_polls; /* poll() sleeps while idle */
    uint64_t generation; /* gauge: snapshot generation this worker runs */
    /* The kernel's view of the worker's XSKs (XDP_STATISTICS summed over its sockets),
     * sampled by the helper's control thread at each heartbeat; the worker never writes
     * these. Frames the kernel dropped before the worker could see them. */
    uint64_t xsk_rx_dropped;      /* dropped on receive (e.g. larger than a UMEM frame) */
    uint64_t xsk_rx_ring_full;    /* dropped because the RX ring was full */
    uint64_t xsk_fill_ring_empty; /* dropped because the fill ring had no buffer */
    uint64_t xsk_tx_invalid;      /* TX descriptors the kernel refused */
    /* Sessions (stateful firewall). */
    uint64_t sessions_active; /* gauge */
    uint64_t sessions_created;
    uint64_t sessions_closed_aged;  /* inactivity timeout */
    uint64_t sessions_closed_tcp;   /* FIN/RST */
    uint64_t sessions_closed_other; /* cleared, policy re-evaluation, early aging, shutdown */
    uint64_t session_table_full;    /* new flow dropped: no room */
    uint64_t non_syn_drops;         /* TCP first packet without SYN */
    uint64_t tcp_invalid;           /* TCP packet that fails the state checks */
    uint64_t icmp_error_related;    /* ICMP error forwarded as part of a session */
    uint64_t deltas_produced;
    uint64_t deltas_dropped; /* delta ring full */
    uint64_t policy_permit;
    uint64_t policy_reject;
    uint64_t icmp_error_unmatched; /* ICMP error quoting no known session: dropped */
    uint64_t session_conflicts;    /* new flow whose reply key another session holds */
    uint64_t frag_drops;           /* non-first fragment of no known session */
    uint64_t rejects_sent;         /* TCP RST / ICMP unreachable sent for policy reject */
    /* NAT (issue 5). */
    uint64_t nat_sessions;       /* sessions created with a translation */
    uint64_t nat_alloc_failures; /* new flow dropped: no free (address, port) */
    uint64_t nat_icmp_errors;    /* ICMP errors translated (quoted packet and outer header) */
    uint64_t icmp_errors_sent;   /* time exceeded / fragmentation needed / too big sent back */
    uint64_t pad[7];             /* room to grow without changing the version */
};

_Static_assert(sizeof(struct moat_worker_stats) == 512, "fields come out of pad: keep the size");

struct moat_dp_stats {
    uint32_t magic;   /* MOAT_STATS_MAGIC */
    uint32_t version; /* MOAT_STATS_VERSION */
    uint64_t boot_id; /* changes at each helper start */
    uint32_t pid;
    uint32_t nworkers;
    uint64_t generation; /* snapshot generation applied */
    uint64_t reserved[8];
    struct moat_worker_stats worker[MOAT_MAX_WORKERS];
};

#endif
