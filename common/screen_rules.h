/* SPDX-License-Identifier: MIT */
/*
 * screen_rules.h — the pure rules of the security screens, one copy for both paths: the
 * helper's dataplane/screen.c (gcc) and the kernel path's bpf/main.bpf.c (clang -target bpf).
 * No state, no maps, no allocation: the per-packet TCP flag checks (syn-fin, tcp-no-flag,
 * fin-no-ack, land), the keys of the per-second rates (flood checks), the ping-of-death bounds,
 * and tear-drop's comparison of a fragment with the byte ranges already seen of its datagram. Where
 * the state lives (a worker's table, an LRU hash map) and how rates are counted stays with each
 * path.
 *
 * Check flags (Screen.flags) and counter indexes (ScreenCounter.counts) are the wire values
 * that dataplane/screen.h (SCR_F_*, SCR_C_*) and bpf/legacy_maps.h (MOAT_LG_SCR_*) use; both
 * assert that they agree with these.
 */
#ifndef MOAT_SCREEN_RULES_H
#define MOAT_SCREEN_RULES_H

#include <linux/types.h>

#define MOAT_SCR_INLINE static inline __attribute__((always_inline))

/* Screen.flags */
#define MOAT_SCR_F_PING_DEATH 0x01
#define MOAT_SCR_F_LAND 0x02
#define MOAT_SCR_F_SYN_FIN 0x04
#define MOAT_SCR_F_NO_FLAG 0x08
#define MOAT_SCR_F_FIN_NO_ACK 0x10
#define MOAT_SCR_F_TEAR_DROP 0x20

/* ScreenCounter.counts indexes of the checks decided here. */
#define MOAT_SCR_C_LAND 3
#define MOAT_SCR_C_SYN_FIN 4
#define MOAT_SCR_C_NO_FLAG 5
#define MOAT_SCR_C_FIN_NO_ACK 6
#define MOAT_SCR_C_TEAR_DROP 7
#define MOAT_SCR_C_PING_DEATH 8
#define MOAT_SCR_PASS 0xff /* no check failed */

#define MOAT_SCR_TCPF_FIN 0x01
#define MOAT_SCR_TCPF_SYN 0x02
#define MOAT_SCR_TCPF_RST 0x04
#define MOAT_SCR_TCPF_ACK 0x10

/*
 * The first of the enabled per-packet TCP checks (checks: Screen.flags) that a TCP header with
 * flags f fails, in the order both paths apply them: SYN with FIN, no flag at all, FIN without
 * ACK, then land (a SYN without ACK whose source address is its destination: same_addr).
 * Returns the counter index, or MOAT_SCR_PASS.
 */
MOAT_SCR_INLINE __u32 moat_scr_tcp_flags(__u32 checks, __u8 f, int same_addr)
{
    if ((checks & MOAT_SCR_F_SYN_FIN) &&
        (f & (MOAT_SCR_TCPF_SYN | MOAT_SCR_TCPF_FIN)) == (MOAT_SCR_TCPF_SYN | MOAT_SCR_TCPF_FIN))
        return MOAT_SCR_C_SYN_FIN;
    if ((checks & MOAT_SCR_F_NO_FLAG) && (f & 0x3f) == 0)
        return MOAT_SCR_C_NO_FLAG;
    if ((checks & MOAT_SCR_F_FIN_NO_ACK) &&
        (f & (MOAT_SCR_TCPF_FIN | MOAT_SCR_TCPF_ACK)) == MOAT_SCR_TCPF_FIN)
        return MOAT_SCR_C_FIN_NO_ACK;
    if ((checks & MOAT_SCR_F_LAND) &&
        (f & (MOAT_SCR_TCPF_SYN | MOAT_SCR_TCPF_ACK)) == MOAT_SCR_TCPF_SYN && same_addr)
        return MOAT_SCR_C_LAND;
    return MOAT_SCR_PASS;
}

/* One step of the screens' 64-bit hash. */
MOAT_SCR_INLINE __u64 moat_scr_mix(__u64 h, __u64 v)
{
    h ^= v;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    return h;
}

/* The hash of an address (16 bytes, IPv4 in the first 4, the rest 0) and a kind word under the
 * screens' random seed: the key of a rate window (moat_scr_rate_kind), and more. */
MOAT_SCR_INLINE __u64 moat_scr_addr_hash(__u64 seed, const __u8 *a, __u64 kind)
{
    __u64 w0, w1, h;

    __builtin_memcpy(&w0, a, 8);
    __builtin_memcpy(&w1, a + 8, 8);
    h = moat_scr_mix(moat_scr_mix(moat_scr_mix(seed ^ 0x9e3779b97f4a7c15ull, w0), w1), kind);
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 29);
}

/* The per-second rates a screen counts, by what they count per. */
enum moat_scr_rate {
    MOAT_SCR_RATE_SYN_DST_PORT = 1, /* SYNs per destination address and port (syn-flood attack) */
    MOAT_SCR_RATE_SYN_DST,          /* SYNs per destination address */
    MOAT_SCR_RATE_SYN_SRC,          /* SYNs per source address */
    MOAT_SCR_RATE_UDP_DST,          /* UDP packets per destination address */
    MOAT_SCR_RATE_ICMP_DST,         /* ICMP / ICMPv6 packets per destination address */
};

/* The kind word of rate r's key (moat_scr_addr_hash) for an address of family (4 or 6) and, for
 * MOAT_SCR_RATE_SYN_DST_PORT, the destination port as on the wire (else 0). */
MOAT_SCR_INLINE __u64 moat_scr_rate_kind(enum moat_scr_rate r, __u64 family, __u16 port)
{
    return (__u64)r << 24 | family << 16 | port;
}

/* The key of rate r for address a (moat_scr_addr_hash of moat_scr_rate_kind). */
MOAT_SCR_INLINE __u64 moat_scr_rate_key(__u64 seed, const __u8 *a, enum moat_scr_rate r,
                                        __u64 family, __u16 port)
{
    return moat_scr_addr_hash(seed, a, moat_scr_rate_kind(r, family, port));
}

/* A SYN that opens a connection (no ACK, no RST): what the syn-flood rates count. */
MOAT_SCR_INLINE int moat_scr_tcp_opening(__u8 f)
{
    return (f & (MOAT_SCR_TCPF_SYN | MOAT_SCR_TCPF_ACK | MOAT_SCR_TCPF_RST)) == MOAT_SCR_TCPF_SYN;
}

/* Ping of death, IPv4: an ICMP fragment at byte offset lo of its datagram, tot bytes long
 * (header included), whose reassembled datagram would pass 65535 bytes. */
MOAT_SCR_INLINE int moat_scr_ping_death4(__u32 lo, __u32 tot)
{
    return lo + tot > 65535;
}

/* Ping of death, IPv6 (RFC 8200 4.5): the reassembled Payload Length — unfrag bytes of
 * extension headers before the fragment header, then the fragmentable part up to hi — would
 * pass 65535, whatever the upper-layer protocol. */
MOAT_SCR_INLINE int moat_scr_ping_death6(__u32 unfrag, __u32 hi)
{
    return unfrag + hi > 65535;
}

/* An IPv6 atomic fragment (RFC 6946: offset 0, no more fragments) is a whole datagram: tear-drop
 * never compares it. */
MOAT_SCR_INLINE int moat_frag6_atomic(__u32 lo, int more)
{
    return lo == 0 && !more;
}

#define MOAT_FRAG_RANGES 4 /* power of two */

/* What a datagram's fragments covered so far: at most MOAT_FRAG_RANGES byte ranges. */
struct moat_frag_seen {
    __u8 n;       /* ranges in use */
    __u8 discard; /* IPv6: an overlap was seen: every fragment of the datagram is dropped */
    __u16 pad;
    struct {
        __u16 lo, hi; /* bytes [lo, hi) of the datagram's payload */
    } r[MOAT_FRAG_RANGES];
};

enum moat_frag_cmp {
    MOAT_FRAG_NEW = 0, /* overlaps nothing seen before */
    MOAT_FRAG_DUP,     /* lies within one range seen before (a copy, or a part of one) */
    MOAT_FRAG_OVERLAP, /* overlaps part of a range seen before */
};

/* Compares bytes [lo, hi) of a datagram's payload with the ranges of e and, when new,
 * remembers them: extending the range they continue, else in a free range (the last one when
 * all are taken). Every range is compared before any is changed. */
MOAT_SCR_INLINE enum moat_frag_cmp moat_frag_record(struct moat_frag_seen *e, __u32 lo, __u32 hi)
{
    const __u16 hi16 = (__u16)(hi > 0xffff ? 0xffff : hi);
    __u32 n = e->n, next = MOAT_FRAG_RANGES, i;

    for (i = 0; i < MOAT_FRAG_RANGES; i++) {
        if (i >= n)
            break;
        if (lo < e->r[i].hi && e->r[i].lo < hi)
            return lo >= e->r[i].lo && hi <= e->r[i].hi ? MOAT_FRAG_DUP : MOAT_FRAG_OVERLAP;
        if (lo == e->r[i].hi)
            next = i;
    }
    if (next < MOAT_FRAG_RANGES) {
        e->r[next & (MOAT_FRAG_RANGES - 1)].hi = hi16;
        return MOAT_FRAG_NEW;
    }
    if (n < MOAT_FRAG_RANGES)
        e->n = (__u8)(n + 1);
    else
        n = MOAT_FRAG_RANGES - 1;
    n &= MOAT_FRAG_RANGES - 1;
    e->r[n].lo = (__u16)lo;
    e->r[n].hi = hi16;
    return MOAT_FRAG_NEW;
}

/*
 * Tear-drop: 1 when the fragment [lo, hi) of the datagram e describes is dropped. IPv4: a
 * fragment overlapping or repeating one seen before is dropped alone. IPv6 (RFC 5722, RFC 8200
 * 4.5): one overlapping part of an earlier fragment marks the datagram, and it and every later
 * fragment of it are dropped until the datagram is forgotten; one lying within a fragment seen
 * before is dropped alone (a copy: the receiver keeps the first, the one inspected). The caller
 * leaves atomic fragments out (moat_frag6_atomic).
 */
MOAT_SCR_INLINE int moat_frag_teardrop(struct moat_frag_seen *e, int v6, __u32 lo, __u32 hi)
{
    enum moat_frag_cmp c;

    if (v6 && e->discard)
        return 1;
    c = moat_frag_record(e, lo, hi);
    if (v6 && c == MOAT_FRAG_OVERLAP)
        e->discard = 1;
    return c != MOAT_FRAG_NEW;
}

#endif
