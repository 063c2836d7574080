/* SPDX-License-Identifier: MIT */
/*
 * pins.h — maps pinned by name under --bpffs-dir that an older (or newer) Moat left with
 * another layout.
 *
 * A controld restart reuses its pinned maps (the kernel path's sessions survive it). After an
 * upgrade that changed a map's layout, libbpf refuses to load an object whose pinned map does
 * not match its definition, and controld would not start until the operator removed the pins.
 * Before each load, pins_replace_incompatible() compares every pinned map of the object with
 * its definition (type, key and value sizes, entries, flags, and the key's and value's BTF
 * types: a value of the same size whose fields changed is another layout too) and removes the
 * pins that differ, so the load creates those maps anew; each
 * one is logged with what changed (its contents are lost: counters start again, kernel-path
 * sessions in a replaced session map are gone). Maps that also belong to an object loaded
 * before (shared between the shim and the legacy path) are left to libbpf's own check.
 */
#ifndef MOAT_CONTROLD_PINS_H
#define MOAT_CONTROLD_PINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_object;

/* A map's layout: what libbpf compares before it reuses a pinned map. */
struct pin_layout {
    uint32_t type, key_size, value_size, max_entries, map_flags;
};

/* What differs between a pinned map's layout and the definition, as text ("value size 48 ->
 * 64, max entries 1024 -> 2048") in what; false (what empty) when they match. Pure. */
bool pin_layout_diff(const struct pin_layout *pinned, const struct pin_layout *want, char *what,
                     size_t len);

struct btf;

/* Whether BTF type a_id of a and b_id of b describe the same memory layout: the same kind and
 * size, and for structs and unions the same members (names, bit offsets, and recursively their
 * types), for arrays the same element count and type. Typedefs and qualifiers are looked
 * through. A value whose size stayed but whose fields moved or were renamed differs. On a
 * difference, what says where ("member seen: offset 0 -> 64 bits") when what is not NULL.
 * Pure (reads the two BTFs). */
bool pin_btf_diff(const struct btf *a, uint32_t a_id, const struct btf *b, uint32_t b_id,
                  char *what, size_t len);

/* For every map of obj (opened, not yet loaded) pinned by name: a pin whose layout differs from
 * the map's definition is removed and logged. Maps whose name keep (a loaded object, or NULL)
 * also has are skipped. Returns how many pins were replaced, or a negative errno (err says
 * which pin could not be removed). */
int pins_replace_incompatible(struct bpf_object *obj, const struct bpf_object *keep, char *err,
                              size_t errlen);

#endif
