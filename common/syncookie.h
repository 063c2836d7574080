/* SPDX-License-Identifier: MIT */
/*
 * syncookie.h — the pure parts of SYN cookies and the SYN proxy, shared by the userspace path
 * (dataplane/synproxy.c) and the legacy in-kernel path (bpf/main.bpf.c): SipHash-2-4 over
 * 64-bit words, the cookie's MAC, layout and slot window, and the sequence-number translation
 * of a proxied session's packets with its incremental checksum update.
 *
 * Cookie (32 bits): slot (5 low bits of the slot number) | MSS index (2 bits) | MAC (25 bits).
 * The MAC is SipHash-2-4 under a 128-bit key of the source and destination addresses (16
 * bytes each, IPv4 in the first 4), the ports (network order, as in the packet), the family,
 * the MSS index, the client's ISN and the full slot number. A cookie is valid in its slot and
 * the next, never after (the MAC covers the full slot number).
 *
 * No libc: only <linux/types.h> and compiler builtins, so that clang -target bpf builds it.
 */
#ifndef MOAT_SYNCOOKIE_H
#define MOAT_SYNCOOKIE_H

#include <linux/types.h>

#define SC_INLINE static inline __attribute__((always_inline))

#define SC_SLOT_S 64 /* seconds per cookie slot */
#define SC_SLOT_BITS 5
#define SC_MAC_BITS 25
#define SC_MAC_MASK ((1u << SC_MAC_BITS) - 1)

/* The MSS a cookie's index encodes. */
#define SC_MSS0 536
#define SC_MSS1 1220
#define SC_MSS2 1440
#define SC_MSS3 1460

struct sc_key {
    __u64 k0, k1;
};

SC_INLINE __u16 sc_mss_of(unsigned idx)
{
    return idx == 3 ? SC_MSS3 : idx == 2 ? SC_MSS2 : idx == 1 ? SC_MSS1 : SC_MSS0;
}

/* The index of the largest MSS a cookie can encode that is not above mss. */
SC_INLINE unsigned sc_mss_index(__u16 mss)
{
    return mss >= SC_MSS3 ? 3 : mss >= SC_MSS2 ? 2 : mss >= SC_MSS1 ? 1 : 0;
}

#define SC_ROTL(x, b) (__u64)(((x) << (b)) | ((x) >> (64 - (b))))
#define SC_ROUND(v0, v1, v2, v3)                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = SC_ROTL(v1, 13);                                                                      \
        v1 ^= v0;                                                                                  \
        v0 = SC_ROTL(v0, 32);                                                                      \
        v2 += v3;                                                                                  \
        v3 = SC_ROTL(v3, 16);                                                                      \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = SC_ROTL(v3, 21);                                                                      \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = SC_ROTL(v1, 17);                                                                      \
        v1 ^= v2;                                                                                  \
        v2 = SC_ROTL(v2, 32);                                                                      \
    } while (0)

/* SipHash-2-4 (Aumasson & Bernstein) of n 64-bit words (a message of 8 * n bytes). */
SC_INLINE __u64 sc_siphash(const struct sc_key *k, const __u64 *m, unsigned n)
{
    __u64 v0 = 0x736f6d6570736575ull ^ k->k0;
    __u64 v1 = 0x646f72616e646f6dull ^ k->k1;
    __u64 v2 = 0x6c7967656e657261ull ^ k->k0;
    __u64 v3 = 0x7465646279746573ull ^ k->k1;
    for (unsigned i = 0; i < n; i++) {
        v3 ^= m[i];
        SC_ROUND(v0, v1, v2, v3);
        SC_ROUND(v0, v1, v2, v3);
        v0 ^= m[i];
    }
    const __u64 b = (__u64)(n * 8) << 56;
    v3 ^= b;
    SC_ROUND(v0, v1, v2, v3);
    SC_ROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    SC_ROUND(v0, v1, v2, v3);
    SC_ROUND(v0, v1, v2, v3);
    SC_ROUND(v0, v1, v2, v3);
    SC_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/* The cookie key of a boot, from a random 64-bit seed. */
SC_INLINE void sc_key_derive(struct sc_key *k, __u64 seed)
{
    const struct sc_key k0 = {seed, ~seed ^ 0x5359e2c00c1e5eedull};
    const __u64 a[2] = {0x636f6f6b69652d30ull, seed}; /* "cookie-0" */
    const __u64 b[2] = {0x636f6f6b69652d31ull, seed}; /* "cookie-1" */

    k->k0 = sc_siphash(&k0, a, 2);
    k->k1 = sc_siphash(&k0, b, 2);
}

/* The 25-bit MAC of a cookie. src, dst: 16 bytes; sport, dport: as in the packet. */
SC_INLINE __u32 sc_mac(const struct sc_key *k, const __u8 *src, const __u8 *dst, __u16 sport,
                       __u16 dport, __u8 family, __u32 cli_isn, __u32 slot, unsigned mss_idx)
{
    __u64 w[6];

    __builtin_memcpy(&w[0], src, 16);
    __builtin_memcpy(&w[2], dst, 16);
    w[4] = (__u64)sport | (__u64)dport << 16 | (__u64)family << 32 | (__u64)(mss_idx & 3) << 40;
    w[5] = (__u64)cli_isn | (__u64)slot << 32;
    return (__u32)sc_siphash(k, w, 6) & SC_MAC_MASK;
}

/* The cookie of a SYN (its addresses, ports, family and ISN) in slot slot for MSS index. */
SC_INLINE __u32 sc_cookie(const struct sc_key *k, const __u8 *src, const __u8 *dst, __u16 sport,
                          __u16 dport, __u8 family, __u32 cli_isn, __u32 slot, unsigned mss_idx)
{
    mss_idx &= 3;
    return (slot & ((1u << SC_SLOT_BITS) - 1)) << 27 | (__u32)mss_idx << SC_MAC_BITS |
           sc_mac(k, src, dst, sport, dport, family, cli_isn, slot, mss_idx);
}

/* The full slot a cookie was made in, if it is now_slot or the one before: 0 and *slot, else
 * -1 (expired, or from the future). */
SC_INLINE int sc_cookie_slot(__u32 cookie, __u32 now_slot, __u32 *slot)
{
    const __u32 low = cookie >> 27;

    if (low == (now_slot & 31)) {
        *slot = now_slot;
        return 0;
    }
    if (now_slot > 0 && low == ((now_slot - 1) & 31)) {
        *slot = now_slot - 1;
        return 0;
    }
    return -1;
}

/* True when cookie answers the SYN (addresses, ports, family, ISN) at now_slot; *mss gets the
 * MSS it encodes. */
SC_INLINE int sc_cookie_ok(const struct sc_key *k, const __u8 *src, const __u8 *dst, __u16 sport,
                           __u16 dport, __u8 family, __u32 cli_isn, __u32 cookie, __u32 now_slot,
                           __u16 *mss)
{
    const unsigned idx = (cookie >> SC_MAC_BITS) & 3;
    __u32 slot;

    if (sc_cookie_slot(cookie, now_slot, &slot))
        return 0;
    if (sc_mac(k, src, dst, sport, dport, family, cli_isn, slot, idx) != (cookie & SC_MAC_MASK))
        return 0;
    *mss = sc_mss_of(idx);
    return 1;
}

/* RFC 1624: a checksum (as stored) after a 32-bit word (as stored) changed from `from` to `to`. */
SC_INLINE __u16 sc_csum_repl32(__u16 sum, __u32 from, __u32 to)
{
    __u32 s = (__u16)~sum;

    s += (__u16) ~(__u16)from;
    s += (__u16) ~(__u16)(from >> 16);
    s += (__u16)to;
    s += (__u16)(to >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (__u16)~s;
}

/*
 * Translates the TCP header at tcp (at least 20 bytes) of a proxied session's packet by the
 * session's delta (server ISN - cookie): dir 0 (client to server) ack += delta when ACK is set,
 * dir 1 (server to client) seq -= delta; the checksum is updated incrementally.
 */
SC_INLINE void sc_translate(__u8 *tcp, unsigned dir, __u32 delta)
{
    __u8 *f = tcp + (dir ? 4 : 8);
    __u32 old, v;
    __u16 c;

    if (!dir && !(tcp[13] & 0x10))
        return;
    __builtin_memcpy(&old, f, 4);
    v = __builtin_bswap32(old);
    v = dir ? v - delta : v + delta;
    v = __builtin_bswap32(v);
    __builtin_memcpy(f, &v, 4);
    __builtin_memcpy(&c, tcp + 16, 2);
    c = sc_csum_repl32(c, old, v);
    __builtin_memcpy(tcp + 16, &c, 2);
}

/* Sets the sequence number of the TCP header at tcp to seq (host order), checksum updated:
 * a server's reset before the handshake completed, given the number the client expects. */
SC_INLINE void sc_set_seq(__u8 *tcp, __u32 seq)
{
    __u32 old, v = __builtin_bswap32(seq);
    __u16 c;

    __builtin_memcpy(&old, tcp + 4, 4);
    __builtin_memcpy(tcp + 4, &v, 4);
    __builtin_memcpy(&c, tcp + 16, 2);
    c = sc_csum_repl32(c, old, v);
    __builtin_memcpy(tcp + 16, &c, 2);
}

#endif
