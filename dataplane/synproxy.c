/* SPDX-License-Identifier: MIT */
/*
 * synproxy.c — SYN cookies and the SYN proxy's frame builders: see synproxy.h.
 */
#include "synproxy.h"

#include <netinet/in.h>
#include <string.h>

#include "csum.h"
#include "wire.h"

const uint16_t sp_mss_table[4] = {536, 1220, 1440, 1460};

/* ---- SipHash-2-4 (Aumasson & Bernstein), over 64-bit words ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t siphash_words(const struct sp_key *k, const uint64_t *m, unsigned n)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ k->k0;
    uint64_t v1 = 0x646f72616e646f6dull ^ k->k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k->k0;
    uint64_t v3 = 0x7465646279746573ull ^ k->k1;
    for (unsigned i = 0; i < n; i++) {
        v3 ^= m[i];
        SIPROUND;
        SIPROUND;
        v0 ^= m[i];
    }
    const uint64_t b = (uint64_t)(n * 8) << 56;
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void sp_key_derive(struct sp_key *k, uint64_t boot_seed)
{
    const struct sp_key k0 = {boot_seed, ~boot_seed ^ 0x5359e2c00c1e5eedull};
    const uint64_t a[2] = {0x636f6f6b69652d30ull, boot_seed}; /* "cookie-0" */
    const uint64_t b[2] = {0x636f6f6b69652d31ull, boot_seed}; /* "cookie-1" */
    k->k0 = siphash_words(&k0, a, 2);
    k->k1 = siphash_words(&k0, b, 2);
}

unsigned sp_mss_index(uint16_t mss)
{
    unsigned i = 3;
    while (i > 0 && sp_mss_table[i] > mss)
        i--;
    return i;
}

#define SP_MAC_BITS 25
#define SP_MAC_MASK ((1u << SP_MAC_BITS) - 1)
#define SP_SLOT_BITS 5

static uint32_t cookie_mac(const struct sp_key *k, const struct flow_tuple *t, uint32_t cli_isn,
                           uint32_t slot, unsigned mss_idx)
{
    uint64_t w[6];
    memcpy(&w[0], t->src, 16);
    memcpy(&w[2], t->dst, 16);
    w[4] = (uint64_t)t->sport | (uint64_t)t->dport << 16 | (uint64_t)t->family << 32 |
           (uint64_t)mss_idx << 40;
    w[5] = (uint64_t)cli_isn | (uint64_t)slot << 32;
    return (uint32_t)siphash_words(k, w, 6) & SP_MAC_MASK;
}

uint32_t sp_cookie_make(const struct sp_key *k, const struct flow_tuple *t, uint32_t cli_isn,
                        uint32_t slot, unsigned mss_idx)
{
    mss_idx &= 3;
    return (slot & ((1u << SP_SLOT_BITS) - 1)) << 27 | (uint32_t)mss_idx << SP_MAC_BITS |
           cookie_mac(k, t, cli_isn, slot, mss_idx);
}

bool sp_cookie_check(const struct sp_key *k, const struct flow_tuple *t, uint32_t cli_isn,
                     uint32_t cookie, uint32_t now_slot, uint16_t *mss)
{
    const uint32_t low = cookie >> 27;
    const unsigned mss_idx = (cookie >> SP_MAC_BITS) & 3;
    /* The full slot: the current one or the one before, as the low bits say. */
    uint32_t slot;
    if (low == (now_slot & 31))
        slot = now_slot;
    else if (now_slot > 0 && low == ((now_slot - 1) & 31))
        slot = now_slot - 1;
    else
        return false;
    if (cookie_mac(k, t, cli_isn, slot, mss_idx) != (cookie & SP_MAC_MASK))
        return false;
    *mss = sp_mss_table[mss_idx];
    return true;
}

uint16_t sp_syn_mss(const uint8_t *tcp, uint32_t tcp_len)
{
    uint32_t doff = (uint32_t)(tcp[12] >> 4) * 4;
    if (doff > tcp_len)
        doff = tcp_len;
    for (uint32_t i = 20; i < doff;) {
        const uint8_t kind = tcp[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= doff)
            break;
        const uint8_t len = tcp[i + 1];
        if (len < 2 || i + len > doff)
            break;
        if (kind == 2 && len == 4)
            return (uint16_t)(tcp[i + 2] << 8 | tcp[i + 3]);
        i += len;
    }
    return 536;
}

static void swap_macs(uint8_t *pkt)
{
    uint8_t t[6];
    memcpy(t, pkt, 6);
    memcpy(pkt, pkt + 6, 6);
    memcpy(pkt + 6, t, 6);
}

/* A TCP header at t: ports (network order), numbers, flags, window, an MSS option when mss. */
static uint32_t put_tcp(uint8_t *t, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                        uint8_t flags, uint16_t win, uint16_t mss)
{
    const uint32_t len = mss ? 24 : 20;
    memset(t, 0, len);
    memcpy(t, &sport, 2);
    memcpy(t + 2, &dport, 2);
    wr32(t + 4, seq);
    wr32(t + 8, ack);
    t[12] = (uint8_t)((len / 4) << 4);
    t[13] = flags;
    wr16(t + 14, win);
    if (mss) {
        t[20] = 2;
        t[21] = 4;
        wr16(t + 22, mss);
    }
    return len;
}

uint32_t sp_build_synack(uint8_t *pkt, uint32_t room, const struct pkt_info *pi,
                         const struct moat_meta *m, uint32_t cookie, uint16_t mss)
{
    const bool v6 = pi->family == 6;
    const uint32_t total = pi->l3_off + (v6 ? 40u : 20u) + 24u;
    if (total > room)
        return 0;
    const uint32_t isn = rd32(pkt + m->l4_off + 4);
    uint8_t src[16], dst[16];
    memcpy(src, m->dst, 16);
    memcpy(dst, m->src, 16);
    swap_macs(pkt);
    uint8_t *ip = pkt + pi->l3_off;
    uint8_t *t = ip + ip_put_header(ip, v6, src, dst, IPPROTO_TCP, 24);
    put_tcp(t, m->dport, m->sport, cookie, isn + 1, 0x12, 65535, mss);
    const uint16_t c = l4_csum(v6, src, dst, IPPROTO_TCP, t, 24);
    memcpy(t + 16, &c, 2);
    return total;
}

uint32_t sp_ack_to_syn(uint8_t *pkt, uint32_t room, struct pkt_info *pi, const struct moat_meta *m,
                       uint32_t cli_isn, uint16_t mss)
{
    const bool v6 = pi->family == 6;
    const uint32_t total = (uint32_t)m->l4_off + 24u;
    if (total > room || m->l4_off < pi->l3_off + (v6 ? 40u : 20u))
        return 0;
    uint8_t *t = pkt + m->l4_off;
    uint16_t sport, dport;
    memcpy(&sport, t, 2);
    memcpy(&dport, t + 2, 2);
    const uint16_t win = (uint16_t)(t[14] << 8 | t[15]);
    put_tcp(t, sport, dport, cli_isn, 0, 0x02, win, mss);
    uint8_t *ip = pkt + pi->l3_off;
    pi->l3_len = total - pi->l3_off;
    if (!v6) {
        const uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4;
        wr16(ip + 2, (uint16_t)pi->l3_len);
        ip[10] = ip[11] = 0;
        const uint16_t c = csum_compute(ip, ihl);
        memcpy(ip + 10, &c, 2);
    } else {
        wr16(ip + 4, (uint16_t)(pi->l3_len - 40));
    }
    const uint16_t c = l4_csum(v6, m->src, m->dst, IPPROTO_TCP, t, 24);
    memcpy(t + 16, &c, 2);
    return total;
}

uint32_t sp_synack_to_ack(uint8_t *pkt, uint32_t room, const struct pkt_info *pi,
                          const struct moat_meta *m, uint16_t win)
{
    const bool v6 = pi->family == 6;
    const uint32_t total = pi->l3_off + (v6 ? 40u : 20u) + 20u;
    if (total > room)
        return 0;
    const uint8_t *in = pkt + m->l4_off;
    const uint32_t seq = rd32(in + 4), ack = rd32(in + 8);
    uint8_t src[16], dst[16];
    memcpy(src, m->dst, 16);
    memcpy(dst, m->src, 16);
    swap_macs(pkt);
    uint8_t *ip = pkt + pi->l3_off;
    uint8_t *t = ip + ip_put_header(ip, v6, src, dst, IPPROTO_TCP, 20);
    put_tcp(t, m->dport, m->sport, ack, seq + 1, 0x10, win, 0);
    const uint16_t c = l4_csum(v6, src, dst, IPPROTO_TCP, t, 20);
    memcpy(t + 16, &c, 2);
    return total;
}
