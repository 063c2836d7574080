/* SPDX-License-Identifier: MIT */
/*
 * show.h — the operator commands (moatctl): parse the words, render text or JSON.
 */
#ifndef MOAT_SHOW_H
#define MOAT_SHOW_H

#include <stdbool.h>
#include <stddef.h>

#include "controld.h"
#include "strbuf.h"

/* Returns moatctl's exit status: 0, or non-zero with one line in err. */
int show_dispatch(struct controld *c, const char *const *args, size_t nargs, bool json,
		  struct strbuf *out, struct strbuf *err);

#endif
