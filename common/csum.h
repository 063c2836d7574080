/* SPDX-License-Identifier: MIT */
/*
 * csum.h — Internet checksum helpers (RFC 1071) and incremental updates (RFC 1624).
 *
 * All checksums are handled as they sit in the packet (network byte order); the
 * incremental forms take the old and new field values as raw 16/32-bit words from the
 * packet, so no byte swapping is needed.
 */
#ifndef MOAT_CSUM_H
#define MOAT_CSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One's-complement sum of len bytes, folded to 32 bits (not complemented). */
static inline uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
    const uint8_t *p = data;
    while (len > 1) {
        uint16_t w;
        memcpy(&w, p, 2);
        sum += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint16_t w = 0;
        memcpy(&w, p, 1);
        sum += w;
    }
    return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Full checksum of a buffer, as stored in a header (e.g. the IPv4 header checksum). */
static inline uint16_t csum_compute(const void *data, size_t len)
{
    return csum_fold(csum_partial(data, len, 0));
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word changing from old to new. */
static inline uint16_t csum_replace2(uint16_t check, uint16_t old, uint16_t new_)
{
    uint32_t sum = (uint16_t)~check;
    sum += (uint16_t)~old;
    sum += new_;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The same for a 32-bit field (an IPv4 address), given as stored in the packet. */
static inline uint16_t csum_replace4(uint16_t check, uint32_t old, uint32_t new_)
{
    uint32_t sum = (uint16_t)~check;
    sum += (uint16_t) ~(old & 0xffff);
    sum += (uint16_t) ~(old >> 16);
    sum += new_ & 0xffff;
    sum += new_ >> 16;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The same for a 128-bit field (an IPv6 address). */
static inline uint16_t csum_replace16(uint16_t check, const uint8_t old[16], const uint8_t new_[16])
{
    uint32_t sum = (uint16_t)~check;
    for (int i = 0; i < 16; i += 2) {
        uint16_t o, n;
        memcpy(&o, old + i, 2);
        memcpy(&n, new_ + i, 2);
        sum += (uint16_t)~o;
        sum += n;
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

#endif
