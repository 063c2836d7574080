/* SPDX-License-Identifier: MIT */
/*
 * history.h — the commit history under STATE_DIR/commits/ (default /var/lib/moat/commits/).
 *
 * Each commit is one file, commit-SEQ.conf (SEQ counts up, zero-padded), written atomically
 * (temporary file, fsync, rename, fsync of the folder). The file is the configuration text as
 * committed, preceded by a header of `#` comment lines, so it is itself a valid config:
 *
 *   # moat-commit 1
 *   # seq: 12
 *   # time: 1700000000
 *   # uid: 0
 *   # via: moatctl
 *   # comment: commit confirmed 1
 *   <the configuration text>
 *
 * Rollback numbers count back from the newest entry: 0 is the running configuration, 1 the
 * one before it, ... The newest HISTORY_KEEP entries are kept; older ones are deleted.
 *
 * No libuv here: plain files, so the unit tests exercise it directly.
 */
#ifndef MOAT_HISTORY_H
#define MOAT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "strbuf.h"

#define HISTORY_KEEP 50

struct history_meta {
    uint64_t seq;
    int64_t time; /* unix seconds */
    uint32_t uid;
    char via[32];      /* "moatctl", "SIGHUP", "start-up", "confirm-timeout" */
    char comment[256]; /* one line */
};

/* Creates STATE_DIR/commits (and STATE_DIR) if missing. 0 or a negative errno. */
int history_init(const char *state_dir);

/*
 * Saves text as a new entry (meta->seq is set to the next number), then deletes the oldest
 * entries beyond keep. 0 or a negative errno; nothing is left half-written.
 */
int history_save(const char *state_dir, const char *text, size_t len, struct history_meta *meta,
                 unsigned keep);

/* Entries, newest first (index = rollback number). *out is malloc'd; caller frees. */
int history_list(const char *state_dir, struct history_meta **out, unsigned *n);

/*
 * Loads rollback number n (0 = newest): its text without the header (malloc'd, NUL-terminated)
 * and its metadata. -ENOENT when there is no such entry.
 */
int history_load(const char *state_dir, unsigned n, char **text, size_t *len,
                 struct history_meta *meta);

/* Deletes the entry with this seq (a commit the helper refused). */
int history_remove(const char *state_dir, uint64_t seq);

/* Writes data to path atomically: path.tmp.PID, fsync, rename, fsync the folder. */
int history_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a whole file (malloc'd, NUL-terminated). */
int history_read_file(const char *path, char **text, size_t *len);

/*
 * The configuration text as `set` lines (config_tree_print_set), one per array element.
 * -EINVAL if the text does not parse (msg says where).
 */
int history_set_lines(const char *text, size_t len, const char *name, char ***lines, size_t *n,
                      char *msg, size_t msglen);
void history_free_lines(char **lines, size_t n);

/*
 * Appends a diff of two lists of set lines: "- set ..." for lines only in old, "+ set ..."
 * for lines only in new, in the order of a longest common subsequence (so a reordered
 * policy shows as removed and added). Returns the number of changed lines.
 */
size_t history_diff_lines(char *const *old, size_t n_old, char *const *new_, size_t n_new,
                          struct strbuf *out);

#endif
