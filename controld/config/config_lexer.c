/* SPDX-License-Identifier: MIT */
#include "config_lexer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cfg_set_error(struct config_error *err, const char *file, unsigned line, unsigned col,
                  const char *fmt, ...)
{
    if (!err)
        return -EINVAL;
    snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
    err->line = line;
    err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void cfg_lexer_init(struct cfg_lexer *lx, const char *src, size_t len, const char *file)
{
    lx->src = src;
    lx->len = len;
    lx->pos = 0;
    lx->line = 1;
    lx->col = 1;
    lx->file = file;
}

static bool is_special(unsigned char c)
{
    return c == '{' || c == '}' || c == ';' || c == '[' || c == ']' || c == '"';
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Moves past one byte, keeping line and column. */
static void advance(struct cfg_lexer *lx)
{
    unsigned char c = (unsigned char)lx->src[lx->pos++];
    if (c == '\n') {
        lx->line++;
        lx->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        lx->col++;
    }
}

static int bad_char(struct cfg_lexer *lx, unsigned char c, struct config_error *err)
{
    return cfg_set_error(err, lx->file, lx->line, lx->col,
                         "unexpected control character 0x%02x (the config is plain text)", c);
}

int cfg_lexer_next(struct cfg_lexer *lx, struct cfg_token *tok, struct config_error *err)
{
    for (;;) {
        if (lx->pos >= lx->len) {
            tok->kind = CFG_TOK_EOF;
            tok->line = lx->line;
            tok->col = lx->col;
            tok->text = lx->src + lx->len;
            tok->len = 0;
            return 0;
        }
        unsigned char c = (unsigned char)lx->src[lx->pos];
        if (is_space(c)) {
            advance(lx);
        } else if (c == '#') {
            while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
                advance(lx);
        } else {
            break;
        }
    }

    unsigned char c = (unsigned char)lx->src[lx->pos];
    tok->line = lx->line;
    tok->col = lx->col;
    tok->text = lx->src + lx->pos;
    tok->len = 1;
    switch (c) {
    case '{':
        tok->kind = CFG_TOK_LBRACE;
        advance(lx);
        return 0;
    case '}':
        tok->kind = CFG_TOK_RBRACE;
        advance(lx);
        return 0;
    case ';':
        tok->kind = CFG_TOK_SEMI;
        advance(lx);
        return 0;
    case '[':
        tok->kind = CFG_TOK_LBRACKET;
        advance(lx);
        return 0;
    case ']':
        tok->kind = CFG_TOK_RBRACKET;
        advance(lx);
        return 0;
    case '"': {
        advance(lx);
        size_t start = lx->pos;
        for (;;) {
            if (lx->pos >= lx->len || lx->src[lx->pos] == '\n')
                return cfg_set_error(err, lx->file, tok->line, tok->col,
                                     "unterminated quoted string (a string ends with \" on the "
                                     "same line)");
            unsigned char s = (unsigned char)lx->src[lx->pos];
            if (s == '"')
                break;
            if (s < 0x20 && s != '\t')
                return bad_char(lx, s, err);
            if (s == '\\' && lx->pos + 1 < lx->len && lx->src[lx->pos + 1] != '\n') {
                advance(lx); /* the escaped character is checked like any other */
                s = (unsigned char)lx->src[lx->pos];
                if (s < 0x20 && s != '\t')
                    return bad_char(lx, s, err);
            }
            advance(lx);
        }
        tok->kind = CFG_TOK_STRING;
        tok->text = lx->src + start;
        tok->len = lx->pos - start;
        advance(lx); /* closing quote */
        return 0;
    }
    default:
        break;
    }
    if (c < 0x20 || c == 0x7f)
        return bad_char(lx, c, err);
    size_t start = lx->pos;
    while (lx->pos < lx->len) {
        unsigned char w = (unsigned char)lx->src[lx->pos];
        if (is_space(w) || is_special(w))
            break;
        if (w < 0x20 || w == 0x7f)
            return bad_char(lx, w, err);
        advance(lx);
    }
    tok->kind = CFG_TOK_WORD;
    tok->len = lx->pos - start;
    return 0;
}

size_t cfg_unescape(const char *raw, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (c == '\\' && i + 1 < len) {
            char n = raw[++i];
            c = n == 'n' ? '\n' : n == 't' ? '\t' : n;
        }
        out[o++] = c;
    }
    return o;
}

const char *cfg_tok_name(enum cfg_tok_kind kind)
{
    switch (kind) {
    case CFG_TOK_EOF:
        return "end of file";
    case CFG_TOK_WORD:
        return "word";
    case CFG_TOK_STRING:
        return "quoted string";
    case CFG_TOK_LBRACE:
        return "\"{\"";
    case CFG_TOK_RBRACE:
        return "\"}\"";
    case CFG_TOK_SEMI:
        return "\";\"";
    case CFG_TOK_LBRACKET:
        return "\"[\"";
    case CFG_TOK_RBRACKET:
        return "\"]\"";
    }
    return "token";
}
