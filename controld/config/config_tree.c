/* SPDX-License-Identifier: MIT */
#include "config_tree.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "config_arena.h"
#include "config_lexer.h"

/* ---- small bounded string builder for messages ---- */

struct sbuf {
    char *buf;
    size_t cap, pos;
};

static void sb_add(struct sbuf *sb, const char *s)
{
    if (sb->cap == 0)
        return;
    size_t n = strlen(s);
    size_t room = sb->cap - 1 - sb->pos;
    if (n > room) {
        /* Shorten with "..." (room for it is kept when the buffer allows). */
        memcpy(sb->buf + sb->pos, s, room);
        sb->pos += room;
        if (sb->cap >= 4)
            memcpy(sb->buf + sb->cap - 4, "...", 3);
    } else {
        memcpy(sb->buf + sb->pos, s, n);
        sb->pos += n;
    }
    sb->buf[sb->pos] = '\0';
}

static bool needs_quotes(const char *s)
{
    if (*s == '\0' || *s == '#')
        return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '{' || *p == '}' || *p == ';' || *p == '[' ||
            *p == ']' || *p == '"')
            return true;
    }
    return false;
}

static void sb_add_word(struct sbuf *sb, const char *text, bool quoted)
{
    if (!quoted && !needs_quotes(text)) {
        sb_add(sb, text);
        return;
    }
    sb_add(sb, "\"");
    char one[3] = {0};
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            one[0] = '\\', one[1] = *p;
        } else if (*p == '\n') {
            one[0] = '\\', one[1] = 'n';
        } else {
            one[0] = *p, one[1] = '\0';
        }
        sb_add(sb, one);
    }
    sb_add(sb, "\"");
}

static void sb_add_node(struct sbuf *sb, const struct config_node *n)
{
    sb_add_word(sb, n->keyword, n->keyword_quoted);
    for (unsigned i = 0; i < n->n_words; i++) {
        sb_add(sb, " ");
        const struct config_word *w = &n->words[i];
        if (w->kind == CFG_WORD_LIST_OPEN)
            sb_add(sb, "[");
        else if (w->kind == CFG_WORD_LIST_CLOSE)
            sb_add(sb, "]");
        else
            sb_add_word(sb, w->text, w->kind == CFG_WORD_QUOTED);
    }
}

void config_node_text(const struct config_node *n, char *buf, size_t len)
{
    struct sbuf sb = {buf, len, 0};
    if (len)
        buf[0] = '\0';
    if (n->keyword)
        sb_add_node(&sb, n);
}

void config_node_path(const struct config_node *n, char *buf, size_t len)
{
    const struct config_node *chain[CFG_MAX_DEPTH + 2];
    unsigned depth = 0;
    for (const struct config_node *p = n; p && p->keyword && depth < CFG_MAX_DEPTH + 2;
         p = p->parent)
        chain[depth++] = p;
    struct sbuf sb = {buf, len, 0};
    if (len)
        buf[0] = '\0';
    if (depth == 0) {
        sb_add(&sb, "top level");
        return;
    }
    while (depth--) {
        sb_add_node(&sb, chain[depth]);
        if (depth)
            sb_add(&sb, " ");
    }
}

/* ---- parser ---- */

struct parser {
    struct cfg_lexer lx;
    struct config_tree *t;
    struct config_error *err;
};

static int perr(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int perr(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[CONFIG_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cfg_set_error(p->err, p->lx.file, line, col, "%s", msg);
}

static int oom(struct parser *p)
{
    cfg_set_error(p->err, p->lx.file, 0, 0, "out of memory");
    return -ENOMEM;
}

static const char *tok_copy(struct parser *p, const struct cfg_token *tok)
{
    if (tok->kind == CFG_TOK_STRING) {
        char *s = cfg_arena_alloc(p->t->arena, tok->len + 1);
        if (!s)
            return NULL;
        s[cfg_unescape(tok->text, tok->len, s)] = '\0';
        return s;
    }
    return cfg_arena_strndup(p->t->arena, tok->text, tok->len);
}

static int add_word(struct parser *p, struct config_node *n, const struct cfg_token *tok,
                    enum cfg_word_kind kind)
{
    struct config_word *w = cfg_arena_push(p->t->arena, &n->words, &n->n_words, sizeof(*w));
    if (!w)
        return oom(p);
    w->line = tok->line;
    w->col = tok->col;
    w->kind = kind;
    w->text = kind == CFG_WORD_LIST_OPEN    ? "["
              : kind == CFG_WORD_LIST_CLOSE ? "]"
                                            : tok_copy(p, tok);
    if (!w->text)
        return oom(p);
    return 0;
}

/* Parses the statements of parent's block (depth 0: the whole file) up to its "}". */
static int parse_block(struct parser *p, struct config_node *parent, unsigned depth)
{
    struct cfg_token tok;
    char text[160];
    int rc;
    for (;;) {
        if ((rc = cfg_lexer_next(&p->lx, &tok, p->err)))
            return rc;
        switch (tok.kind) {
        case CFG_TOK_EOF:
            if (depth == 0)
                return 0;
            config_node_text(parent, text, sizeof(text));
            return perr(p, tok.line, tok.col,
                        "unexpected end of file: the block of \"%s\" opened at %u:%u is not "
                        "closed (missing \"}\")",
                        text, parent->block_line, parent->block_col);
        case CFG_TOK_RBRACE:
            if (depth == 0)
                return perr(p, tok.line, tok.col,
                            "unexpected \"}\" with no block open (one \"}\" too many?)");
            return 0;
        case CFG_TOK_SEMI:
            return perr(p, tok.line, tok.col, "unexpected \";\" with no statement before it");
        case CFG_TOK_LBRACE:
            return perr(p, tok.line, tok.col, "unexpected \"{\" with no statement name before it");
        case CFG_TOK_LBRACKET:
        case CFG_TOK_RBRACKET:
            return perr(p, tok.line, tok.col,
                        "unexpected %s: a [ ] list must follow a statement name",
                        cfg_tok_name(tok.kind));
        case CFG_TOK_WORD:
        case CFG_TOK_STRING:
            break;
        }

        struct config_node *n = cfg_arena_alloc(p->t->arena, sizeof(*n));
        struct config_node **slot =
            n ? cfg_arena_push(p->t->arena, &parent->children, &parent->n_children, sizeof(*slot))
              : NULL;
        if (!slot)
            return oom(p);
        *slot = n;
        n->parent = parent;
        n->line = tok.line;
        n->col = tok.col;
        n->keyword_quoted = tok.kind == CFG_TOK_STRING;
        if (!(n->keyword = tok_copy(p, &tok)))
            return oom(p);

        bool in_list = false, done = false;
        unsigned list_len = 0, list_line = 0, list_col = 0;
        while (!done) {
            if ((rc = cfg_lexer_next(&p->lx, &tok, p->err)))
                return rc;
            switch (tok.kind) {
            case CFG_TOK_WORD:
            case CFG_TOK_STRING:
                if ((rc = add_word(p, n, &tok,
                                   tok.kind == CFG_TOK_STRING ? CFG_WORD_QUOTED : CFG_WORD_PLAIN)))
                    return rc;
                list_len++;
                break;
            case CFG_TOK_LBRACKET:
                if (in_list)
                    return perr(p, tok.line, tok.col,
                                "unexpected \"[\" inside a [ ] list (lists do not nest)");
                in_list = true;
                list_len = 0;
                list_line = tok.line;
                list_col = tok.col;
                if ((rc = add_word(p, n, &tok, CFG_WORD_LIST_OPEN)))
                    return rc;
                break;
            case CFG_TOK_RBRACKET:
                if (!in_list)
                    return perr(p, tok.line, tok.col, "unexpected \"]\" with no \"[\" open");
                if (list_len == 0)
                    return perr(p, tok.line, tok.col, "empty [ ] list");
                in_list = false;
                if ((rc = add_word(p, n, &tok, CFG_WORD_LIST_CLOSE)))
                    return rc;
                break;
            case CFG_TOK_SEMI:
            case CFG_TOK_LBRACE:
                if (in_list)
                    return perr(p, tok.line, tok.col,
                                "unexpected %s: the list opened at %u:%u is missing its \"]\"",
                                cfg_tok_name(tok.kind), list_line, list_col);
                if (tok.kind == CFG_TOK_LBRACE) {
                    if (depth + 1 > CFG_MAX_DEPTH)
                        return perr(p, tok.line, tok.col,
                                    "blocks are nested too deeply (more than %d levels)",
                                    CFG_MAX_DEPTH);
                    n->block = true;
                    n->block_line = tok.line;
                    n->block_col = tok.col;
                    if ((rc = parse_block(p, n, depth + 1)))
                        return rc;
                }
                done = true;
                break;
            case CFG_TOK_RBRACE:
            case CFG_TOK_EOF:
                config_node_text(n, text, sizeof(text));
                if (in_list)
                    return perr(p, tok.line, tok.col,
                                "unexpected %s: the list opened at %u:%u is missing its \"]\"",
                                cfg_tok_name(tok.kind), list_line, list_col);
                return perr(p, tok.line, tok.col, "unexpected %s — missing \";\" after \"%s\"?",
                            cfg_tok_name(tok.kind), text);
            }
        }
    }
}

int config_tree_parse(const char *text, size_t len, const char *file, struct config_tree **out,
                      struct config_error *err)
{
    *out = NULL;
    struct cfg_arena *a = cfg_arena_new();
    struct config_tree *t = a ? cfg_arena_alloc(a, sizeof(*t)) : NULL;
    const char *fname = t ? cfg_arena_strdup(a, file ? file : "") : NULL;
    if (!fname) {
        cfg_arena_free(a);
        cfg_set_error(err, file, 0, 0, "out of memory");
        return -ENOMEM;
    }
    t->arena = a;
    t->file = fname;
    struct parser p = {.t = t, .err = err};
    cfg_lexer_init(&p.lx, text, len, fname);
    int rc = parse_block(&p, &t->root, 0);
    if (rc) {
        cfg_arena_free(a);
        return rc;
    }
    *out = t;
    return 0;
}

void config_tree_free(struct config_tree *t)
{
    if (t)
        cfg_arena_free(t->arena);
}

/* ---- printing ---- */

static void print_word(FILE *out, const char *text, bool quoted)
{
    if (!quoted && !needs_quotes(text)) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void print_words(FILE *out, const struct config_node *n, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i++) {
        const struct config_word *w = &n->words[i];
        fputc(' ', out);
        if (w->kind == CFG_WORD_LIST_OPEN || w->kind == CFG_WORD_LIST_CLOSE)
            fputs(w->text, out);
        else
            print_word(out, w->text, w->kind == CFG_WORD_QUOTED);
    }
}

static void print_node(FILE *out, const struct config_node *n, unsigned indent)
{
    fprintf(out, "%*s", (int)(indent * 4), "");
    print_word(out, n->keyword, n->keyword_quoted);
    print_words(out, n, 0, n->n_words);
    if (!n->block) {
        fputs(";\n", out);
        return;
    }
    fputs(" {\n", out);
    for (unsigned i = 0; i < n->n_children; i++)
        print_node(out, n->children[i], indent + 1);
    fprintf(out, "%*s}\n", (int)(indent * 4), "");
}

int config_tree_print(const struct config_tree *t, FILE *out)
{
    for (unsigned i = 0; i < t->root.n_children; i++)
        print_node(out, t->root.children[i], 0);
    return ferror(out) ? -EIO : 0;
}

static void print_set_prefix(FILE *out, const struct config_node *const *chain, unsigned depth)
{
    fputs("set", out);
    for (unsigned i = 0; i < depth; i++) {
        fputc(' ', out);
        print_word(out, chain[i]->keyword, chain[i]->keyword_quoted);
        print_words(out, chain[i], 0, chain[i]->n_words);
    }
}

static void print_set_node(FILE *out, const struct config_node **chain, unsigned depth)
{
    const struct config_node *n = chain[depth - 1];
    if (n->block && n->n_children) {
        for (unsigned i = 0; i < n->n_children && depth < CFG_MAX_DEPTH + 1; i++) {
            chain[depth] = n->children[i];
            print_set_node(out, chain, depth + 1);
        }
        return;
    }
    /* A leaf (or an empty block): one line, or one per element of its first [ ] list. */
    unsigned open = n->n_words, close = n->n_words;
    for (unsigned i = 0; i < n->n_words; i++) {
        if (n->words[i].kind == CFG_WORD_LIST_OPEN) {
            open = i;
            break;
        }
    }
    for (unsigned i = open; i < n->n_words; i++) {
        if (n->words[i].kind == CFG_WORD_LIST_CLOSE) {
            close = i;
            break;
        }
    }
    if (open == n->n_words || close == n->n_words) {
        print_set_prefix(out, chain, depth);
        fputc('\n', out);
        return;
    }
    for (unsigned e = open + 1; e < close; e++) {
        print_set_prefix(out, chain, depth - 1);
        fputc(' ', out);
        print_word(out, n->keyword, n->keyword_quoted);
        print_words(out, n, 0, open);
        print_words(out, n, e, e + 1);
        print_words(out, n, close + 1, n->n_words);
        fputc('\n', out);
    }
}

int config_tree_print_set(const struct config_tree *t, FILE *out)
{
    const struct config_node *chain[CFG_MAX_DEPTH + 1];
    for (unsigned i = 0; i < t->root.n_children; i++) {
        chain[0] = t->root.children[i];
        print_set_node(out, chain, 1);
    }
    return ferror(out) ? -EIO : 0;
}

/* ---- comparison ---- */

static bool node_equal(const struct config_node *a, const struct config_node *b)
{
    if ((a->keyword == NULL) != (b->keyword == NULL))
        return false;
    if (a->keyword && (strcmp(a->keyword, b->keyword) || a->keyword_quoted != b->keyword_quoted))
        return false;
    if (a->n_words != b->n_words || a->block != b->block || a->n_children != b->n_children)
        return false;
    for (unsigned i = 0; i < a->n_words; i++) {
        if (a->words[i].kind != b->words[i].kind || strcmp(a->words[i].text, b->words[i].text))
            return false;
    }
    for (unsigned i = 0; i < a->n_children; i++) {
        if (!node_equal(a->children[i], b->children[i]))
            return false;
    }
    return true;
}

bool config_tree_equal(const struct config_tree *a, const struct config_tree *b)
{
    return node_equal(&a->root, &b->root);
}
