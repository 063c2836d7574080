/* SPDX-License-Identifier: MIT */
#include "rewrite.h"

#include <string.h>

uint8_t *rewrite_strip_vlan(uint8_t *pkt, unsigned ntags)
{
    memmove(pkt + 4 * ntags, pkt, 12);
    return pkt + 4 * ntags;
}
