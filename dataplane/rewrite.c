/* SPDX-License-Identifier: MIT */
#include "rewrite.h"

#include <string.h>

uint8_t *rewrite_strip_vlan(uint8_t *pkt, unsigned ntags)
{
    memmove(pkt + 4 * ntags, pkt, 12);
    return pkt + 4 * ntags;
}

bool rewrite_icmp_err_v4(uint8_t *ip, uint32_t len, uint8_t *l4, uint32_t qsrc, uint32_t qdst,
                         uint16_t qsport, uint16_t qdport, uint32_t odst)
{
    uint8_t *end = ip + len;
    uint8_t *q = l4 + 8;
    if (q + 20 > end || (q[0] >> 4) != 4)
        return false;
    const uint32_t qhl = (uint32_t)(q[0] & 15) * 4;
    if (qhl < 20 || q + qhl > end)
        return false;
    const uint8_t proto = q[9];
    uint8_t *ql4 = q + qhl;
    uint32_t old_qdst;
    memcpy(&old_qdst, q + 16, 4);
    /* The quoted header and what it quotes of L4. */
    uint32_t osrc, odst2;
    uint16_t check;
    memcpy(&osrc, q + 12, 4);
    memcpy(&odst2, q + 16, 4);
    memcpy(&check, q + 10, 2);
    check = csum_replace4(csum_replace4(check, osrc, qsrc), odst2, qdst);
    memcpy(q + 10, &check, 2);
    memcpy(q + 12, &qsrc, 4);
    memcpy(q + 16, &qdst, 4);
    if ((proto == 6 || proto == 17) && ql4 + 4 <= end) {
        uint16_t osp, odp;
        memcpy(&osp, ql4, 2);
        memcpy(&odp, ql4 + 2, 2);
        uint8_t *c = ql4 + (proto == 6 ? 16 : 6);
        if (c + 2 <= end) {
            memcpy(&check, c, 2);
            if (proto == 6 || check != 0) {
                check = csum_replace4(csum_replace4(check, osrc, qsrc), odst2, qdst);
                check = csum_replace2(csum_replace2(check, osp, qsport), odp, qdport);
                if (proto == 17 && check == 0)
                    check = 0xffff;
                memcpy(c, &check, 2);
            }
        }
        memcpy(ql4, &qsport, 2);
        memcpy(ql4 + 2, &qdport, 2);
    } else if (proto == 1 && ql4 + 8 <= end && (ql4[0] == 8 || ql4[0] == 0)) {
        uint16_t oid;
        memcpy(&oid, ql4 + 4, 2);
        memcpy(&check, ql4 + 2, 2);
        check = csum_replace2(check, oid, qsport);
        memcpy(ql4 + 2, &check, 2);
        memcpy(ql4 + 4, &qsport, 2);
    }
    /* The outer header. */
    uint32_t outer_src, outer_dst;
    memcpy(&outer_src, ip + 12, 4);
    memcpy(&outer_dst, ip + 16, 4);
    const uint32_t nsrc = outer_src == old_qdst ? qdst : outer_src;
    memcpy(&check, ip + 10, 2);
    check = csum_replace4(csum_replace4(check, outer_src, nsrc), outer_dst, odst);
    memcpy(ip + 10, &check, 2);
    memcpy(ip + 12, &nsrc, 4);
    memcpy(ip + 16, &odst, 4);
    /* The ICMP checksum covers everything quoted. */
    l4[2] = l4[3] = 0;
    check = csum_compute(l4, (size_t)(end - l4));
    memcpy(l4 + 2, &check, 2);
    return true;
}
