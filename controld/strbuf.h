/* SPDX-License-Identifier: MIT */
/* strbuf.h — a growable text buffer for operator output, with JSON string escaping. */
#ifndef MOAT_STRBUF_H
#define MOAT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *buf;
    size_t len;
    size_t cap;
    bool oom; /* an allocation failed: the text is truncated */
};

void strbuf_init(struct strbuf *s);
void strbuf_free(struct strbuf *s);
void strbuf_printf(struct strbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends str as a JSON string literal, quotes included. */
void strbuf_json_str(struct strbuf *s, const char *str);
/* The text so far (never NULL). */
const char *strbuf_str(const struct strbuf *s);

#endif
