/* SPDX-License-Identifier: MIT */
#include "privs.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

const char *privs_names(uint64_t mask, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (unsigned c = 0; c < 64 && off < len; c++) {
        if (!(mask & PRIVS_CAP(c)))
            continue;
        int n;
        if (c < sizeof(cap_names) / sizeof(cap_names[0]))
            n = snprintf(buf + off, len - off, "%s%s", off ? " " : "", cap_names[c]);
        else
            n = snprintf(buf + off, len - off, "%scap_%u", off ? " " : "", c);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    if (!mask)
        snprintf(buf, len, "none");
    return buf;
}

int privs_read_status(const char *field, uint64_t *out)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -errno;
    char line[256];
    const size_t fl = strlen(field);
    int rc = -ENOENT;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, fl) == 0) {
            *out = strtoull(line + fl, NULL, 16);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static unsigned last_cap(void)
{
    unsigned last = CAP_LAST_CAP;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
    if (f) {
        if (fscanf(f, "%u", &last) != 1)
            last = CAP_LAST_CAP;
        fclose(f);
    }
    return last < 63 ? last : 63;
}

int privs_restrict(uint64_t keep, uint64_t bound, struct privs_result *res)
{
    memset(res, 0, sizeof(*res));
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &hdr, d) < 0)
        return -errno;
    const uint64_t permitted = (uint64_t)d[1].permitted << 32 | d[0].permitted;
    const uint64_t effective = (uint64_t)d[1].effective << 32 | d[0].effective;
    bound |= keep;
    res->missing = keep & ~permitted;
    keep &= permitted;

    /* The bounding set first: dropping from it needs CAP_SETPCAP, given up just after. */
    if (effective & PRIVS_CAP(CAP_SETPCAP)) {
        const unsigned last = last_cap();
        for (unsigned c = 0; c <= last; c++) {
            if (bound & PRIVS_CAP(c))
                continue;
            int in = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
            if (in <= 0)
                continue;
            if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
                return -errno;
            res->bounding_dropped++;
        }
    } else {
        res->bounding_skipped = 1;
    }
    /* Ambient capabilities would survive an exec: none. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    d[0].effective = d[0].permitted = (uint32_t)keep;
    d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
    d[0].inheritable = d[1].inheritable = 0;
    if (syscall(SYS_capset, &hdr, d) < 0)
        return -errno;
    int rc = privs_read_status("CapEff:", &res->effective);
    if (rc == 0)
        rc = privs_read_status("CapBnd:", &res->bounding);
    return rc;
}
