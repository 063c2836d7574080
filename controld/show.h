/* SPDX-License-Identifier: MIT */
/*
 * show.h — the operator commands (moatctl): parse the words, render text or JSON.
 */
#ifndef MOAT_SHOW_H
#define MOAT_SHOW_H

#include <stdbool.h>
#include <stddef.h>

#include "controld.h"
#include "operator.h"
#include "strbuf.h"

/*
 * Returns moatctl's exit status: 0, or non-zero with one line in err; or OP_DEFERRED when the
 * client of ctx is answered later (a command waiting for the helper or for a commit).
 */
int show_dispatch(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                  size_t nargs, struct strbuf *out, struct strbuf *err);

/* show_security.c: the security commands (zones, policies, hit counts, flow sessions). */
int show_security(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                  size_t nargs, struct strbuf *out, struct strbuf *err);
int clear_security(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                   size_t nargs, struct strbuf *out, struct strbuf *err);
/* The helper answered a request of show_security / clear_security. */
void show_policy_counters_reply(struct controld *c, const Moat__PolicyCountersReply *r);
void show_session_clear_reply(struct controld *c, const Moat__SessionClearReply *r);

/* Names for the mirror's renderers: interfaces of controld, zones of the running config. */
void show_mirror_names(struct controld *c, struct mirror_names *nm);

#endif
