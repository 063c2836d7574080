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

/*
 * The counters `show dataplane statistics` prints, by name, in its order (the WORKER_FIELDS
 * and SHIM_FIELDS lists of show.c): for the Prometheus endpoint (metrics.c).
 */
struct moat_worker_stats;
struct moat_dp_stats;
typedef void (*show_counter_fn)(const char *name, uint64_t value, void *arg);
void show_worker_counters(const struct moat_worker_stats *ws, show_counter_fn fn, void *arg);
void show_shim_counters(const struct moat_shim_stats *s, show_counter_fn fn, void *arg);
/* Copies the helper's counters out of RUN_DIR/dataplane.stats: 0 or -errno. */
int show_read_dp_stats(struct controld *c, struct moat_dp_stats *out);
/* A worker counter that is a level, not a count (never cleared, a Prometheus gauge). */
bool show_worker_field_is_gauge(const char *name);

/* show_security.c: the security commands (zones, policies, hit counts, flow sessions). */
int show_security(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                  size_t nargs, struct strbuf *out, struct strbuf *err);
int clear_security(struct controld *c, const struct op_ctx *ctx, const char *const *args,
                   size_t nargs, struct strbuf *out, struct strbuf *err);
/* The helper answered a request of show_security / clear_security. */
void show_policy_counters_reply(struct controld *c, const Moat__PolicyCountersReply *r);
void show_session_clear_reply(struct controld *c, const Moat__SessionClearReply *r);

/* Names for the mirror's renderers: interfaces of controld, zones and NAT rules of the
 * running config. */
void show_mirror_names(struct controld *c, struct mirror_names *nm);

/* show_nat.c: `show security nat ...` (the words after "nat"). */
enum nat_view { NAT_VIEW_SUMMARY = 0, NAT_VIEW_POOL, NAT_VIEW_RULE };
struct nat_query {
    enum cfg_nat_kind kind;
    enum nat_view view;
    char name[CFG_NAME_MAX]; /* "" = all */
};
/* 0, or moatctl's exit status 2 with one line in err (unknown words, names not configured). */
int show_nat_parse(const struct moat_config *cfg, const char *const *args, size_t nargs,
                   struct nat_query *q, struct strbuf *err);
/* Renders q for the running config with the helper's counters r (NULL: every counter "-" /
 * null, and note says why). */
void show_nat_render(struct controld *c, const struct nat_query *q,
                     const Moat__PolicyCountersReply *r, const char *note, bool json,
                     struct strbuf *o);
/* NatRule.id of the running config: "RULESET/RULE", and its action ("interface",
 * "pool web", "off", "static-nat PREFIX"); NULL if there is no such rule. */
const char *show_nat_rule_name(struct controld *c, uint32_t id, char *buf, size_t len);
const char *show_nat_rule_action(struct controld *c, uint32_t id, char *buf, size_t len);

#endif
