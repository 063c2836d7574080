/* SPDX-License-Identifier: MIT */
/*
 * commit.h — the Junos-style commit model (DESIGN.md "Config language").
 *
 * The configuration file is the candidate; the running configuration is what controld last
 * committed. A commit reads and validates the file; a bad one is refused whole and nothing
 * changes. A good one is saved in the history (history.h), becomes the running
 * configuration (interfaces re-resolved, a new generation) and is pushed to the helper;
 * if the helper refuses it (SnapshotApplied ok=false), disconnects before applying it, or
 * does not answer within COMMIT_HELPER_WAIT_MS, the previous configuration is restored and
 * pushed again, the history entry removed, and the commit reported as failed.
 *
 * `commit confirmed N` rolls back by itself after N minutes (seconds with the hidden flag
 * --confirm-unit-seconds) unless another commit confirms it. `rollback N` writes history
 * entry N to the configuration file and commits it. SIGHUP is a commit.
 */
#ifndef MOAT_COMMIT_H
#define MOAT_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controld.h"
#include "operator.h"
#include "strbuf.h"

#define COMMIT_HELPER_WAIT_MS 10000
#define COMMIT_CONFIRM_MAX 65535 /* commit confirmed N: N up to this */

struct commit_request {
    const char *via; /* "moatctl", "SIGHUP", "confirm-timeout" */
    uint32_t uid;
    unsigned confirm;    /* commit confirmed N (0: a plain commit, which confirms) */
    const char *comment; /* NULL: one is made up ("commit", "rollback 2", ...) */
    const char *text;    /* NULL: the configuration file */
    size_t len;
    bool write_file;      /* write text to the configuration file first (rollback) */
    struct op_client *cl; /* the moatctl client waiting for the outcome, or NULL */
};

/* At start-up, after the config was loaded: the history folder, and the start-up config
 * recorded as a commit if it differs from the newest one. Never fatal: without a history,
 * commits fail with the reason. */
int commit_init(struct controld *c);
void commit_close(struct controld *c);

/* `commit check`: validates the file. 0 with "configuration check succeeds", else 1. */
int commit_check(struct controld *c, struct strbuf *out, struct strbuf *err);
/*
 * A commit. Returns 0 when finished (out says so), OP_DEFERRED when r->cl is answered once
 * the helper applied (or refused) it, or a moatctl exit status > 0 with one line in err.
 */
int commit_start(struct controld *c, const struct commit_request *r, struct strbuf *out,
                 struct strbuf *err);
/* `rollback N`. */
int commit_rollback(struct controld *c, unsigned n, const struct op_ctx *ctx, struct strbuf *out,
                    struct strbuf *err);
/* SIGHUP: commit the file; the outcome is logged. */
void commit_on_sighup(struct controld *c);

/* The helper answered SnapshotApplied for gen. Returns true if that generation was a commit
 * waiting for it (then a refusal is handled here: rollback, no disarm). */
bool commit_helper_applied(struct controld *c, uint64_t gen, bool ok, const char *error);
/* The helper went away. */
void commit_helper_lost(struct controld *c, const char *why);

/* `show system commit`, `show configuration compare rollback N`. */
int commit_show_history(struct controld *c, bool json, struct strbuf *out, struct strbuf *err);
int commit_show_compare(struct controld *c, unsigned n, bool json, struct strbuf *out,
                        struct strbuf *err);
/* One line for `show system status`: "none", "generation N waits for the helper",
 * "commit confirmed: rolls back in N s unless confirmed". */
void commit_status_line(struct controld *c, struct strbuf *o, bool json);

#endif
