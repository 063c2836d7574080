/* SPDX-License-Identifier: MIT */
/* config_common.c — helpers shared by the compile steps: shapes, numbers, names, prefixes. */
#include "config_internal.h"
#include "config_lexer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cc_err(struct cc *cc, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[CONFIG_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cfg_set_error(cc->err, cc->file, line, col, "%s", msg);
}

int cc_oom(struct cc *cc)
{
    cfg_set_error(cc->err, cc->file, 0, 0, "out of memory");
    return -ENOMEM;
}

/* Appends s to buf (of size len) if it fits, else ends buf with "...". */
static void append(char *buf, size_t len, const char *s)
{
    size_t used = strlen(buf);
    if (used + strlen(s) + 1 <= len) {
        memcpy(buf + used, s, strlen(s) + 1);
    } else if (len >= 4 && used + 4 <= len) {
        memcpy(buf + used, "...", 4);
    }
}

int cc_dispatch(struct cc *cc, const struct config_node *parent, const struct cc_stmt *tab,
                size_t n_tab, void *ctx)
{
    for (unsigned i = 0; i < parent->n_children; i++) {
        const struct config_node *n = parent->children[i];
        const struct cc_stmt *st = NULL;
        for (size_t k = 0; k < n_tab; k++) {
            if (strcmp(tab[k].kw, n->keyword) == 0) {
                st = &tab[k];
                break;
            }
        }
        char path[160];
        if (!st) {
            char expected[320] = "";
            for (size_t k = 0; k < n_tab; k++) {
                if (k)
                    append(expected, sizeof(expected), ", ");
                append(expected, sizeof(expected), tab[k].kw);
            }
            config_node_path(parent, path, sizeof(path));
            return cc_err_node(cc, n, "unknown statement \"%s\" under %s (expected one of: %s)",
                               n->keyword, path, expected);
        }
        if (!st->multi) {
            for (unsigned j = 0; j < i; j++) {
                const struct config_node *prev = parent->children[j];
                if (strcmp(prev->keyword, n->keyword) == 0) {
                    config_node_path(parent, path, sizeof(path));
                    return cc_err_node(cc, n,
                                       "\"%s\" is given twice under %s (first at %u:%u); "
                                       "keep one",
                                       n->keyword, path, prev->line, prev->col);
                }
            }
        }
        int rc = st->fn(cc, n, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

static int no_lists(struct cc *cc, const struct config_node *n, const char *usage)
{
    for (unsigned i = 0; i < n->n_words; i++) {
        if (n->words[i].kind == CFG_WORD_LIST_OPEN)
            return cc_err_word(cc, &n->words[i], "a [ ] list is not allowed here (%s)", usage);
    }
    return 0;
}

int cc_extra(struct cc *cc, const struct config_node *n, unsigned from)
{
    char text[160];
    snprintf(text, sizeof(text), "%s", n->keyword);
    for (unsigned i = 0; i < from && i < n->n_words; i++) {
        append(text, sizeof(text), " ");
        append(text, sizeof(text), n->words[i].text);
    }
    const struct config_word *w = &n->words[from];
    if (n->block)
        return cc_err_word(cc, w, "unexpected \"%s\" after \"%s\"", w->text, text);
    return cc_err_word(cc, w, "unexpected \"%s\" after \"%s\" — missing \";\"?", w->text, text);
}

int cc_leaf(struct cc *cc, const struct config_node *n, unsigned min, unsigned max,
            const char *usage)
{
    if (n->block)
        return cc_err(cc, n->block_line, n->block_col,
                      "\"%s\" takes no { } block; write it as: %s;", n->keyword, usage);
    int rc = no_lists(cc, n, usage);
    if (rc)
        return rc;
    if (n->n_words < min) {
        if (n->n_words == 0)
            return cc_err_node(cc, n, "\"%s\" needs a value: %s;", n->keyword, usage);
        char text[160];
        config_node_text(n, text, sizeof(text));
        return cc_err_node(cc, n, "\"%s\" is incomplete: %s;", text, usage);
    }
    if (n->n_words > max)
        return cc_extra(cc, n, max);
    return 0;
}

int cc_block(struct cc *cc, const struct config_node *n, unsigned n_words, const char *usage)
{
    if (!n->block)
        return cc_err_node(cc, n, "\"%s\" needs a { } block: %s { ... }", n->keyword, usage);
    int rc = no_lists(cc, n, usage);
    if (rc)
        return rc;
    if (n->n_words < n_words)
        return cc_err(cc, n->block_line, n->block_col,
                      "\"%s\" needs a name before \"{\": %s { ... }", n->keyword, usage);
    if (n->n_words > n_words)
        return cc_extra(cc, n, n_words);
    return 0;
}

int cc_items(struct cc *cc, const struct config_node *n, const char *usage, struct cc_item **items,
             unsigned *n_items)
{
    *items = NULL;
    *n_items = 0;
    if (n->block) {
        if (n->n_words)
            return cc_extra(cc, n, 0);
        for (unsigned i = 0; i < n->n_children; i++) {
            const struct config_node *c = n->children[i];
            if (c->block)
                return cc_err(cc, c->block_line, c->block_col,
                              "\"%s\" takes no { } block here (%s)", c->keyword, usage);
            struct cc_item *it = cfg_arena_push(cc->a, items, n_items, sizeof(*it));
            if (!it)
                return cc_oom(cc);
            it->kw = c->keyword;
            it->line = c->line;
            it->col = c->col;
            it->args = c->words;
            it->n_args = c->n_words;
        }
        return 0;
    }
    if (n->n_words == 0)
        return cc_err_node(cc, n, "\"%s\" needs a value: %s", n->keyword, usage);
    if (n->words[0].kind == CFG_WORD_LIST_OPEN)
        return cc_err_word(cc, &n->words[0], "a [ ] list is not allowed here (%s)", usage);
    struct cc_item *it = cfg_arena_push(cc->a, items, n_items, sizeof(*it));
    if (!it)
        return cc_oom(cc);
    it->kw = n->words[0].text;
    it->line = n->words[0].line;
    it->col = n->words[0].col;
    it->args = n->words + 1;
    it->n_args = n->n_words - 1;
    return 0;
}

int cc_uint(struct cc *cc, const struct config_word *w, const char *what, unsigned long lo,
            unsigned long hi, unsigned *out)
{
    const char *s = w->text;
    unsigned long long v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (v < 100000000000ULL) /* saturates far above any range asked for */
            v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (i == 0 || s[i] != '\0')
        return cc_err_word(cc, w, "invalid number \"%s\" for %s", s, what);
    if (v < lo || v > hi)
        return cc_err_word(cc, w, "%s %s is out of range (%lu..%lu)", what, s, lo, hi);
    *out = (unsigned)v;
    return 0;
}

int cc_name(struct cc *cc, const struct config_word *w, const char *what, char *out, size_t size)
{
    size_t n = strlen(w->text);
    if (w->kind == CFG_WORD_LIST_OPEN || w->kind == CFG_WORD_LIST_CLOSE)
        return cc_err_word(cc, w, "expected a %s name, not a [ ] list", what);
    if (n == 0)
        return cc_err_word(cc, w, "empty %s name", what);
    if (n >= size)
        return cc_err_word(cc, w, "%s name \"%.40s...\" is too long (at most %zu characters)", what,
                           w->text, size - 1);
    memcpy(out, w->text, n + 1);
    return 0;
}

const char *cc_family_name(uint8_t family)
{
    return family == 6 ? "IPv6" : "IPv4";
}

void cc_prefix_str(const struct cfg_prefix *p, char *buf, size_t len)
{
    if (config_prefix_format(p, buf, len) != 0 && len)
        buf[0] = '\0';
}

int config_prefix_format(const struct cfg_prefix *p, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(p->family == 6 ? AF_INET6 : AF_INET, p->addr, a, sizeof(a)))
        return -EINVAL;
    int n = snprintf(buf, len, "%s/%u", a, p->len);
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, bytes))
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        return (a[bytes] & mask) == (b[bytes] & mask);
    }
    return true;
}

bool config_prefix_contains(const struct cfg_prefix *p, uint8_t family, const uint8_t *addr)
{
    return p->family == family && bits_equal(p->addr, addr, p->len);
}

bool cc_prefix_overlap(const struct cfg_prefix *a, const struct cfg_prefix *b)
{
    return a->family == b->family &&
           bits_equal(a->addr, b->addr, a->len < b->len ? a->len : b->len);
}

void cc_prefix_mask(struct cfg_prefix *p)
{
    unsigned bits = p->family == 6 ? 128 : 32;
    for (unsigned i = p->len; i < bits; i++)
        p->addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

/* Parses the address part; family from the presence of ':'. Returns false if invalid. */
static bool parse_ip(const char *s, size_t n, struct cfg_prefix *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (memchr(buf, ':', n)) {
        out->family = 6;
        out->len = 128;
        return inet_pton(AF_INET6, buf, out->addr) == 1;
    }
    out->family = 4;
    out->len = 32;
    return inet_pton(AF_INET, buf, out->addr) == 1;
}

static const char *guess_family(const char *s)
{
    return strchr(s, ':') ? "IPv6" : "IPv4";
}

int cc_prefix(struct cc *cc, const struct config_word *w, const char *what,
              enum cc_prefix_mode mode, struct cfg_prefix *out)
{
    const char *s = w->text;
    if (w->kind == CFG_WORD_LIST_OPEN || w->kind == CFG_WORD_LIST_CLOSE)
        return cc_err_word(cc, w, "expected a prefix for %s, not a [ ] list", what);
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (!parse_ip(s, alen, out))
        return cc_err_word(cc, w, "invalid %s prefix \"%s\"", guess_family(s), s);
    unsigned max = out->family == 6 ? 128 : 32;
    if (!slash) {
        if (mode == CC_PFX_NETWORK_OR_HOST)
            return 0;
        return cc_err_word(cc, w, "%s %s needs a prefix length (e.g. %s/%u)", what, s, s,
                           out->family == 6 ? 64 : 24);
    }
    const char *l = slash + 1;
    unsigned len = 0;
    size_t i = 0;
    for (; l[i] >= '0' && l[i] <= '9' && i < 4; i++)
        len = len * 10 + (unsigned)(l[i] - '0');
    if (i == 0 || l[i] != '\0')
        return cc_err_word(cc, w, "invalid %s prefix \"%s\"", cc_family_name(out->family), s);
    if (len > max)
        return cc_err_word(cc, w, "invalid %s prefix \"%s\" (the length must be 0..%u)",
                           cc_family_name(out->family), s, max);
    out->len = (uint8_t)len;
    if (mode != CC_PFX_HOST_BITS_OK) {
        struct cfg_prefix net = *out;
        cc_prefix_mask(&net);
        if (memcmp(net.addr, out->addr, sizeof(net.addr))) {
            char fixed[INET6_ADDRSTRLEN + 8];
            cc_prefix_str(&net, fixed, sizeof(fixed));
            return cc_err_word(cc, w, "%s %s has host bits set; did you mean %s?", what, s, fixed);
        }
    }
    return 0;
}

int cc_addr(struct cc *cc, const struct config_word *w, const char *what, struct cfg_prefix *out)
{
    const char *s = w->text;
    if (w->kind == CFG_WORD_LIST_OPEN || w->kind == CFG_WORD_LIST_CLOSE)
        return cc_err_word(cc, w, "expected an address for %s, not a [ ] list", what);
    if (strchr(s, '/'))
        return cc_err_word(cc, w, "%s takes an address without a /length, not \"%s\"", what, s);
    if (!parse_ip(s, strlen(s), out))
        return cc_err_word(cc, w, "invalid %s address \"%s\"", guess_family(s), s);
    return 0;
}

int cc_values(struct cc *cc, const struct config_node *n, unsigned first, const char *usage,
              const struct config_word ***out, unsigned *count)
{
    *out = NULL;
    *count = 0;
    if (n->block)
        return cc_err(cc, n->block_line, n->block_col,
                      "\"%s\" takes no { } block; write it as: %s;", n->keyword, usage);
    if (first >= n->n_words)
        return cc_err_node(cc, n, "\"%s\" needs a value: %s;", n->keyword, usage);
    unsigned end = 0;
    if (n->words[first].kind == CFG_WORD_LIST_OPEN) {
        end = first + 1;
        while (end < n->n_words && n->words[end].kind != CFG_WORD_LIST_CLOSE) {
            const struct config_word **slot = cfg_arena_push(cc->a, out, count, sizeof(*slot));
            if (!slot)
                return cc_oom(cc);
            *slot = &n->words[end++];
        }
        end++; /* past "]" (the parser guarantees it is there) */
    } else {
        const struct config_word **slot = cfg_arena_push(cc->a, out, count, sizeof(*slot));
        if (!slot)
            return cc_oom(cc);
        *slot = &n->words[first];
        end = first + 1;
    }
    if (end < n->n_words)
        return cc_extra(cc, n, end);
    return 0;
}

int cc_find_iface(const struct moat_config *cfg, const char *name)
{
    for (unsigned i = 0; i < cfg->n_ifaces; i++) {
        if (strcmp(cfg->ifaces[i].name, name) == 0)
            return (int)i;
    }
    size_t n = strlen(name);
    if (n > 2 && strcmp(name + n - 2, ".0") == 0) {
        for (unsigned i = 0; i < cfg->n_ifaces; i++) {
            if (strlen(cfg->ifaces[i].name) == n - 2 &&
                strncmp(cfg->ifaces[i].name, name, n - 2) == 0)
                return (int)i;
        }
    }
    return -1;
}

int cc_description(struct cc *cc, const struct config_node *n, void *ctx)
{
    return cc_leaf(cc, n, 1, 1, "description \"TEXT\"");
}
