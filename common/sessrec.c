/* SPDX-License-Identifier: MIT */
#include "sessrec.h"

#include <errno.h>

_Static_assert(sizeof(struct sessrec) == 192, "struct sessrec has no padding of its own");

long sessrec_count(size_t len)
{
    if (len % sizeof(struct sessrec))
        return -EBADMSG;
    return (long)(len / sizeof(struct sessrec));
}
