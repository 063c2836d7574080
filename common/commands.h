/* SPDX-License-Identifier: MIT */
/*
 * commands.h — the table of moatctl's commands: one place for `moatctl help` (printed by
 * moatctl itself and by controld), `moatctl ... ?` (what may come next, with a line of help)
 * and `moatctl --complete` (the words bash completion offers, packaging/moatctl.bash-completion).
 *
 * controld's dispatcher (controld/show.c) parses the words; a command added there is added
 * here too, and the lab test tests/lab/test_moatctl.sh runs every entry of this table against
 * a live controld to check that none is unknown to it.
 *
 * A command is its fixed words ("show security flow session"), optionally one required value
 * (`rollback N`), then options in any order: flags ("summary") and keywords taking a value
 * ("protocol tcp|udp|icmp|icmp6|N"). In a value's syntax, lowercase alternatives are offered
 * by completion and an uppercase one (N, PREFIX, NAME) is a placeholder shown by `?` only.
 */
#ifndef MOAT_COMMANDS_H
#define MOAT_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct moat_cmd_opt {
    const char *word;
    const char *value;   /* NULL: a flag; else the value's syntax ("PREFIX", "tcp|udp|N") */
    bool value_optional; /* `pool [NAME|all]`: the value may be left out */
};

struct moat_cmd {
    const char *words;               /* the fixed words, separated by one space */
    const char *positional;          /* a required value after the words ("N"), or NULL */
    const struct moat_cmd_opt *opts; /* terminated by {NULL}; NULL = none */
    const char *syntax;              /* what follows the words, for help ("[hit-count]"), or NULL */
    const char *help;                /* one line */
};

extern const struct moat_cmd moat_cmds[];
extern const size_t moat_n_cmds;

/* `moatctl help`: every command, its syntax and help, one or two lines each. */
void moat_cmds_help(FILE *out);

/*
 * What may follow the complete words words[0..n): for each distinct candidate, emit(word,
 * help, placeholder, arg) once, in table order. placeholder is true for a value to type (N,
 * PREFIX), false for a word that can be completed. done is true when words[0..n) already
 * forms a whole command (so Enter runs it). Returns the number of candidates.
 */
typedef void (*moat_cmd_emit)(const char *word, const char *help, bool placeholder, void *arg);
size_t moat_cmds_complete(const char *const *words, size_t n, moat_cmd_emit emit, void *arg,
                          bool *done);

#endif
