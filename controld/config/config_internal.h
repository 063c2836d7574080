/* SPDX-License-Identifier: MIT */
/*
 * config_internal.h — shared by the compile steps of the config module (not for callers).
 * Each step walks a part of the tree, checks it and fills the model; the first problem
 * stops the compile with an error at the offending token.
 */
#ifndef MOAT_CONFIG_INTERNAL_H
#define MOAT_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "config_arena.h"
#include "config_tree.h"

/* Where each interface was written, parallel to cfg->ifaces. */
struct cc_iface_src {
    const struct config_node *node;
    const struct config_word *rg_word;  /* the N of `redundancy-group N`, or NULL */
    const struct config_word *vip_word; /* first virtual-address, or NULL */
};

struct cc {
    struct moat_config *cfg;
    struct cfg_security *sec;
    struct cfg_arena *a;
    struct config_error *err;
    const char *file;
    struct cc_iface_src *iface_src;
    unsigned n_iface_src;
};

int cc_err(struct cc *cc, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cc_oom(struct cc *cc);
#define cc_err_node(cc, n, ...) cc_err((cc), (n)->line, (n)->col, __VA_ARGS__)
#define cc_err_word(cc, w, ...) cc_err((cc), (w)->line, (w)->col, __VA_ARGS__)

/* A statement a block accepts: fn handles one child with that keyword. */
struct cc_stmt {
    const char *kw;
    int (*fn)(struct cc *cc, const struct config_node *n, void *ctx);
    bool multi; /* may appear several times (otherwise a second one is an error) */
};

/*
 * Runs the handler of each child of parent in order; an unknown keyword or a repeated
 * single statement is an error naming parent's path and what it accepts.
 */
int cc_dispatch(struct cc *cc, const struct config_node *parent, const struct cc_stmt *tab,
                size_t n_tab, void *ctx);

/* A leaf (ends in ";") with min..max plain words; usage is shown in the messages. */
int cc_leaf(struct cc *cc, const struct config_node *n, unsigned min, unsigned max,
            const char *usage);
/* A { } block with exactly n_words plain words before it. */
int cc_block(struct cc *cc, const struct config_node *n, unsigned n_words, const char *usage);
/* Reports words of n from index `from` on as unexpected. */
int cc_extra(struct cc *cc, const struct config_node *n, unsigned from);

/*
 * One statement in either form: `port { range 1024 to 2047; }` gives the child
 * "range" with args; the leaf `port range 1024 to 2047;` gives the same item.
 */
struct cc_item {
    const char *kw;
    unsigned line, col;
    const struct config_word *args;
    unsigned n_args;
};
int cc_items(struct cc *cc, const struct config_node *n, const char *usage, struct cc_item **items,
             unsigned *n_items);

/* Decimal number in lo..hi; `what` names it in messages ("workers"). */
int cc_uint(struct cc *cc, const struct config_word *w, const char *what, unsigned long lo,
            unsigned long hi, unsigned *out);
/* A name of at most size-1 characters. */
int cc_name(struct cc *cc, const struct config_word *w, const char *what, char *out, size_t size);

enum cc_prefix_mode {
    CC_PFX_HOST_BITS_OK,    /* interface addresses: 10.77.1.1/24 is address + subnet */
    CC_PFX_NETWORK,         /* routes, address book, NAT: host bits set is an error */
    CC_PFX_NETWORK_OR_HOST, /* as CC_PFX_NETWORK; no /len means a host (/32, /128) */
};
/* Prefix "A/LEN"; what names the statement in messages ("route"). */
int cc_prefix(struct cc *cc, const struct config_word *w, const char *what,
              enum cc_prefix_mode mode, struct cfg_prefix *out);
/* A plain address (no /len): out->len is 32 or 128. */
int cc_addr(struct cc *cc, const struct config_word *w, const char *what, struct cfg_prefix *out);

/*
 * The value words of n from index first: one word, or a [ a b ] list. Nothing may
 * follow. *out points into n->words (an array of pointers is allocated).
 */
int cc_values(struct cc *cc, const struct config_node *n, unsigned first, const char *usage,
              const struct config_word ***out, unsigned *count);

/* `description "TEXT";` accepted and kept only in the tree. */
int cc_description(struct cc *cc, const struct config_node *n, void *ctx);

/* tcp, udp, icmp, icmp6, ... or 1..255. */
int cc_protocol(struct cc *cc, const struct config_word *w, uint8_t *out);

/* Helpers on prefixes. */
const char *cc_family_name(uint8_t family); /* "IPv4" / "IPv6" */
void cc_prefix_str(const struct cfg_prefix *p, char *buf, size_t len);
bool cc_prefix_overlap(const struct cfg_prefix *a, const struct cfg_prefix *b);
void cc_prefix_mask(struct cfg_prefix *p); /* clears host bits */

/* Finds an interface index by name (also NAME.0); -1 if none. */
int cc_find_iface(const struct moat_config *cfg, const char *name);

/* Compile steps, in the order config.c runs them. */
int cc_compile_applications(struct cc *cc, const struct config_node *apps);
int cc_compile_security(struct cc *cc, const struct config_node *sec);
int cc_compile_nat(struct cc *cc, const struct config_node *nat);
int cc_compile_cluster(struct cc *cc, const struct config_node *chassis);
int cc_check_cluster_refs(struct cc *cc);
void cc_security_defaults(struct cfg_security *sec);

#endif
