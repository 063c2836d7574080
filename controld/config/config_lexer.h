/* SPDX-License-Identifier: MIT */
/*
 * config_lexer.h — splits config text into tokens, each with its line and column:
 * words, "quoted strings", { } ; [ ], with `#` comments to the end of the line.
 */
#ifndef MOAT_CONFIG_LEXER_H
#define MOAT_CONFIG_LEXER_H

#include <stddef.h>

#include "config.h"

enum cfg_tok_kind {
    CFG_TOK_EOF = 0,
    CFG_TOK_WORD,
    CFG_TOK_STRING, /* text is the raw content between the quotes, escapes not yet undone */
    CFG_TOK_LBRACE,
    CFG_TOK_RBRACE,
    CFG_TOK_SEMI,
    CFG_TOK_LBRACKET,
    CFG_TOK_RBRACKET,
};

struct cfg_token {
    enum cfg_tok_kind kind;
    unsigned line, col; /* 1-based; col counts characters (UTF-8 sequences count once) */
    const char *text;   /* points into the source; not NUL-terminated */
    size_t len;
};

struct cfg_lexer {
    const char *src;
    size_t len;
    size_t pos;
    unsigned line, col;
    const char *file;
};

void cfg_lexer_init(struct cfg_lexer *lx, const char *src, size_t len, const char *file);

/* Reads the next token (CFG_TOK_EOF at the end, repeatedly). Returns 0 or -EINVAL with *err. */
int cfg_lexer_next(struct cfg_lexer *lx, struct cfg_token *tok, struct config_error *err);

/* Copies a string token's content with \" \\ \n \t undone; returns the length written. */
size_t cfg_unescape(const char *raw, size_t len, char *out);

/* Human name of a token for messages: "}" or "end of file" or the word itself. */
const char *cfg_tok_name(enum cfg_tok_kind kind);

/* Fills *err (file, line, col, printf message). Returns -EINVAL. */
int cfg_set_error(struct config_error *err, const char *file, unsigned line, unsigned col,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
