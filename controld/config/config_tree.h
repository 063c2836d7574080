/* SPDX-License-Identifier: MIT */
/*
 * config_tree.h — the generic config tree. A node is a keyword, its argument words and,
 * when it ends in a { } block rather than ";", its children; each with its line:col.
 * `route 10.99.0.0/16 next-hop 10.77.2.2;` is one node (keyword "route", three words).
 * A `[ a b ]` list stays in the words, its brackets as words of their own kind.
 */
#ifndef MOAT_CONFIG_TREE_H
#define MOAT_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define CFG_MAX_DEPTH 64 /* nesting of { } blocks */

enum cfg_word_kind {
    CFG_WORD_PLAIN = 0,
    CFG_WORD_QUOTED,     /* was written "quoted"; text has the escapes undone */
    CFG_WORD_LIST_OPEN,  /* "[" */
    CFG_WORD_LIST_CLOSE, /* "]" */
};

struct config_word {
    const char *text;
    unsigned line, col;
    enum cfg_word_kind kind;
};

struct config_node {
    const char *keyword; /* NULL for the root */
    unsigned line, col;
    bool keyword_quoted;
    struct config_word *words;
    unsigned n_words;
    bool block; /* ended in { ... } (possibly empty) rather than ";" */
    unsigned block_line, block_col;
    struct config_node **children;
    unsigned n_children;
    struct config_node *parent;
};

struct config_tree {
    struct cfg_arena *arena;
    const char *file;
    struct config_node root;
};

/* Parses text (len bytes, may hold anything). Returns 0 and *out, or -EINVAL/-ENOMEM with *err. */
int config_tree_parse(const char *text, size_t len, const char *file, struct config_tree **out,
                      struct config_error *err);
void config_tree_free(struct config_tree *t);

/* Normalised text: 4-space indentation, one statement per line, comments dropped. */
int config_tree_print(const struct config_tree *t, FILE *out);
/* One `set PATH WORDS` line per leaf, [ ] lists expanded to one line per element. */
int config_tree_print_set(const struct config_tree *t, FILE *out);

/* Same statements, words and nesting (positions ignored). */
bool config_tree_equal(const struct config_tree *a, const struct config_tree *b);

/* "address 10.77.1.1/24" for messages, shortened with "..." to fit len. */
void config_node_text(const struct config_node *n, char *buf, size_t len);
/* "interfaces fw0 unit 0" ("top level" for the root), shortened to fit len. */
void config_node_path(const struct config_node *n, char *buf, size_t len);

#endif
