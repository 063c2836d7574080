/* SPDX-License-Identifier: MIT */
#include "pins.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
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

#define PIN_BTF_DEPTH 6 /* nesting of structs, unions and arrays compared */

static bool btf_same(const struct btf *a, uint32_t a_id, const struct btf *b, uint32_t b_id,
                     int depth, const char *member, char *what, size_t len)
{
    const int ra = btf__resolve_type(a, a_id), rb = btf__resolve_type(b, b_id);
    const char *m = member ? member : "the type";
    if (ra < 0 || rb < 0) {
        if (what && len)
            snprintf(what, len, "%s: unreadable BTF", m);
        return false;
    }
    const struct btf_type *ta = btf__type_by_id(a, (uint32_t)ra);
    const struct btf_type *tb = btf__type_by_id(b, (uint32_t)rb);
    if (!ta || !tb || btf_kind(ta) != btf_kind(tb)) {
        if (what && len)
            snprintf(what, len, "%s: kind %u -> %u", m, ta ? btf_kind(ta) : 0,
                     tb ? btf_kind(tb) : 0);
        return false;
    }
    const long sa = btf__resolve_size(a, (uint32_t)ra), sb = btf__resolve_size(b, (uint32_t)rb);
    if (sa != sb) {
        if (what && len)
            snprintf(what, len, "%s: size %ld -> %ld", m, sa, sb);
        return false;
    }
    if (depth >= PIN_BTF_DEPTH)
        return true;
    if (btf_is_array(ta)) {
        const struct btf_array *xa = btf_array(ta), *xb = btf_array(tb);
        if (xa->nelems != xb->nelems) {
            if (what && len)
                snprintf(what, len, "%s: %u -> %u elements", m, xa->nelems, xb->nelems);
            return false;
        }
        return btf_same(a, xa->type, b, xb->type, depth + 1, member, what, len);
    }
    if (!btf_is_composite(ta))
        return true;
    if (btf_vlen(ta) != btf_vlen(tb)) {
        if (what && len)
            snprintf(what, len, "%s: %u -> %u members", m, btf_vlen(ta), btf_vlen(tb));
        return false;
    }
    const struct btf_member *ma = btf_members(ta), *mb = btf_members(tb);
    for (uint16_t i = 0; i < btf_vlen(ta); i++) {
        const char *na = btf__name_by_offset(a, ma[i].name_off);
        const char *nb = btf__name_by_offset(b, mb[i].name_off);
        na = na ? na : "";
        nb = nb ? nb : "";
        if (strcmp(na, nb) != 0) {
            if (what && len)
                snprintf(what, len, "member %u: %s -> %s", i, na[0] ? na : "(anonymous)",
                         nb[0] ? nb : "(anonymous)");
            return false;
        }
        const uint32_t oa = btf_member_bit_offset(ta, i), ob = btf_member_bit_offset(tb, i);
        if (oa != ob || btf_member_bitfield_size(ta, i) != btf_member_bitfield_size(tb, i)) {
            if (what && len)
                snprintf(what, len, "member %s: offset %u -> %u bits", na[0] ? na : "(anonymous)",
                         oa, ob);
            return false;
        }
        if (!btf_same(a, ma[i].type, b, mb[i].type, depth + 1, na[0] ? na : member, what, len))
            return false;
    }
    return true;
}

bool pin_btf_diff(const struct btf *a, uint32_t a_id, const struct btf *b, uint32_t b_id,
                  char *what, size_t len)
{
    if (what && len)
        what[0] = '\0';
    return !btf_same(a, a_id, b, b_id, 0, NULL, what, len);
}

/* The key's and the value's BTF types of the pinned map (info) and of its definition (m of obj):
 * false when either side has none (nothing to compare: the sizes decided). */
static bool pin_types_differ(const struct bpf_map_info *info, const struct bpf_object *obj,
                             const struct bpf_map *m, char *what, size_t len)
{
    const struct btf *want = bpf_object__btf(obj);
    const uint32_t wk = bpf_map__btf_key_type_id(m), wv = bpf_map__btf_value_type_id(m);
    if (!want || !info->btf_id || !wv || !info->btf_value_type_id)
        return false;
    struct btf *have = btf__load_from_kernel_by_id(info->btf_id);
    if (!have)
        return false;
    char part[120];
    bool differs = false;
    if (wk && info->btf_key_type_id &&
        pin_btf_diff(have, info->btf_key_type_id, want, wk, part, sizeof(part))) {
        snprintf(what, len, "key %s", part);
        differs = true;
    } else if (pin_btf_diff(have, info->btf_value_type_id, want, wv, part, sizeof(part))) {
        snprintf(what, len, "value %s", part);
        differs = true;
    }
    btf__free(have);
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
        if (!pin_layout_diff(&have, &want, what, sizeof(what)) &&
            !pin_types_differ(&info, obj, m, what, sizeof(what)))
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
