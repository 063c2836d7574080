/* SPDX-License-Identifier: MIT */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *s)
{
    memset(s, 0, sizeof(*s));
}

void strbuf_free(struct strbuf *s)
{
    free(s->buf);
    memset(s, 0, sizeof(*s));
}

static bool strbuf_reserve(struct strbuf *s, size_t extra)
{
    if (s->oom)
        return false;
    if (s->len + extra + 1 <= s->cap)
        return true;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + extra + 1)
        cap *= 2;
    char *nb = realloc(s->buf, cap);
    if (!nb) {
        s->oom = true;
        return false;
    }
    s->buf = nb;
    s->cap = cap;
    return true;
}

void strbuf_printf(struct strbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0 && strbuf_reserve(s, (size_t)n)) {
        vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap2);
        s->len += (size_t)n;
    }
    va_end(ap2);
}

void strbuf_json_str(struct strbuf *s, const char *str)
{
    strbuf_printf(s, "\"");
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        switch (*p) {
        case '"':
            strbuf_printf(s, "\\\"");
            break;
        case '\\':
            strbuf_printf(s, "\\\\");
            break;
        case '\n':
            strbuf_printf(s, "\\n");
            break;
        case '\t':
            strbuf_printf(s, "\\t");
            break;
        default:
            if (*p < 0x20)
                strbuf_printf(s, "\\u%04x", *p);
            else
                strbuf_printf(s, "%c", *p);
        }
    }
    strbuf_printf(s, "\"");
}

const char *strbuf_str(const struct strbuf *s)
{
    return s->buf ? s->buf : "";
}
