/* SPDX-License-Identifier: MIT */
/*
 * synproxy.c — SYN cookies and the SYN proxy's frame builders: see synproxy.h.
 */
#include "synproxy.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "csum.h"
#include "legacy_maps.h"
#include "syncookie.h"
#include "wire.h"

const uint16_t sp_mss_table[4] = {536, 1220, 1440, 1460};

void sp_key_derive(struct sc_key *k, uint64_t seed)
{
    sc_key_derive(k, seed);
}

int sp_recent_map(const char *bpffs_dir, _Atomic uint32_t **word, void **map)
{
    char path[4096];
    const int n = snprintf(path, sizeof(path), "%s/%s", bpffs_dir, MOAT_MAP_LG_SPSLOT);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    const int fd = bpf_obj_get(path);
    if (fd < 0)
        return -errno;
    struct bpf_map_info info = {0};
    uint32_t len = sizeof(info);
    int rc = 0;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
        rc = -errno;
    else if (!(info.map_flags & BPF_F_MMAPABLE) || info.value_size != sizeof(struct moat_lg_sp))
        rc = -EPROTO; /* another Moat version's layout */
    void *p = MAP_FAILED;
    if (!rc) {
        p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            rc = -errno;
    }
    close(fd);
    if (rc)
        return rc;
    _Static_assert(offsetof(struct moat_lg_sp, last_slot) % 4 == 0, "last_slot is a word");
    *word = (_Atomic uint32_t *)((uint8_t *)p + offsetof(struct moat_lg_sp, last_slot));
    *map = p;
    return 0;
}

void sp_recent_unmap(void *map)
{
    if (map)
        munmap(map, (size_t)sysconf(_SC_PAGESIZE));
}

unsigned sp_mss_index(uint16_t mss)
{
    return sc_mss_index(mss);
}

uint32_t sp_cookie_make(const struct sc_key *k, const struct flow_tuple *t, uint32_t cli_isn,
                        uint32_t slot, unsigned mss_idx)
{
    return sc_cookie(k, t->src, t->dst, t->sport, t->dport, t->family, cli_isn, slot, mss_idx);
}

bool sp_cookie_check(const struct sc_key *k, const struct flow_tuple *t, uint32_t cli_isn,
                     uint32_t cookie, uint32_t now_slot, uint16_t *mss)
{
    return sc_cookie_ok(k, t->src, t->dst, t->sport, t->dport, t->family, cli_isn, cookie, now_slot,
                        mss);
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
