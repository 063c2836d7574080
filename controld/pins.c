/* SPDX-License-Identifier: MIT */
#include "pins.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"

bool pin_layout_diff(const struct pin_layout *pinned, const struct pin_layout *want, char *what,
                     size_t len)
{
    const struct {
        const char *name;
        uint32_t have, want;
    } f[] = {
        {"type", pinned->type, want->type},
        {"key size", pinned->key_size, want->key_size},
        {"value size", pinned->value_size, want->value_size},
        {"max entries", pinned->max_entries, want->max_entries},
        {"flags", pinned->map_flags, want->map_flags},
    };
    bool differs = false;
    size_t used = 0;
    if (len)
        what[0] = '\0';
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (f[i].have == f[i].want)
            continue;
        if (used < len) {
            int n = snprintf(what + used, len - used, "%s%s %u -> %u", differs ? ", " : "",
                             f[i].name, f[i].have, f[i].want);
            used += n > 0 ? (size_t)n : 0;
        }
        differs = true;
    }
    return differs;
}

static bool keep_has(const struct bpf_object *keep, const char *name)
{
    return keep && bpf_object__find_map_by_name(keep, name);
}

int pins_replace_incompatible(struct bpf_object *obj, const struct bpf_object *keep, char *err,
                              size_t errlen)
{
    struct bpf_map *m;
    int replaced = 0;
    bpf_object__for_each_map(m, obj)
    {
        const char *path = bpf_map__pin_path(m);
        if (!path || keep_has(keep, bpf_map__name(m)))
            continue;
        int fd = bpf_obj_get(path);
        if (fd < 0)
            continue; /* not pinned yet: the load creates and pins it */
        struct bpf_map_info info;
        uint32_t ilen = sizeof(info);
        memset(&info, 0, sizeof(info));
        int rc = bpf_obj_get_info_by_fd(fd, &info, &ilen);
        close(fd);
        if (rc)
            continue; /* not a map: libbpf's load says so */
        const struct pin_layout have = {info.type, info.key_size, info.value_size, info.max_entries,
                                        info.map_flags};
        const struct pin_layout want = {bpf_map__type(m), bpf_map__key_size(m),
                                        bpf_map__value_size(m), bpf_map__max_entries(m),
                                        bpf_map__map_flags(m)};
        char what[160];
        if (!pin_layout_diff(&have, &want, what, sizeof(what)))
            continue;
        if (unlink(path) < 0) {
            rc = -errno;
            snprintf(err, errlen,
                     "the pinned map %s has another layout (%s) and could not be removed: %s; "
                     "remove it by hand and restart",
                     path, what, strerror(-rc));
            return rc;
        }
        log_warn("pinned map %s had the layout of another Moat version (%s): replaced by a new "
                 "one, its contents are lost",
                 path, what);
        replaced++;
    }
    return replaced;
}
