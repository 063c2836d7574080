/* SPDX-License-Identifier: MIT */
/*
 * pins.h — maps pinned by name under --bpffs-dir that an older (or newer) Moat left with
 * another layout.
 *
 * A controld restart reuses its pinned maps (the kernel path's sessions survive it). After an
 * upgrade that changed a map's layout, libbpf refuses to load an object whose pinned map does
 * not match its definition, and controld would not start until the operator removed the pins.
 * Before each load, pins_replace_incompatible() compares every pinned map of the object with
 * its definition and removes the pins that differ, so the load creates those maps anew; each
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

/* For every map of obj (opened, not yet loaded) pinned by name: a pin whose layout differs from
 * the map's definition is removed and logged. Maps whose name keep (a loaded object, or NULL)
 * also has are skipped. Returns how many pins were replaced, or a negative errno (err says
 * which pin could not be removed). */
int pins_replace_incompatible(struct bpf_object *obj, const struct bpf_object *keep, char *err,
                              size_t errlen);

#endif
