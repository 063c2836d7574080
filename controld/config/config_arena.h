/* SPDX-License-Identifier: MIT */
/*
 * config_arena.h — a bump allocator that owns every allocation of a parsed tree or a
 * compiled model, so one call releases them all (and error paths need no cleanup).
 */
#ifndef MOAT_CONFIG_ARENA_H
#define MOAT_CONFIG_ARENA_H

#include <stddef.h>

struct cfg_arena;

struct cfg_arena *cfg_arena_new(void);
void cfg_arena_free(struct cfg_arena *a);

/* Zeroed memory, aligned for any type; NULL when out of memory. */
void *cfg_arena_alloc(struct cfg_arena *a, size_t size);
char *cfg_arena_strndup(struct cfg_arena *a, const char *s, size_t len);
char *cfg_arena_strdup(struct cfg_arena *a, const char *s);

/*
 * Appends one zeroed element to the array *arr of *n elements of elem_size bytes, growing
 * it (capacity doubles at powers of two, so no capacity field is needed). Returns the new
 * element, or NULL when out of memory (the array is then unchanged).
 */
void *cfg_arena_push(struct cfg_arena *a, void *arr, unsigned *n, size_t elem_size);

#endif
