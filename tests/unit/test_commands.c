/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for common/commands.c, the command table behind `moatctl help`, `moatctl ... ?`
 * and bash completion: every command is reachable word by word, its options are offered, and
 * help lists it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "commands.h"

struct got {
    char words[64][40];
    bool placeholder[64];
    size_t n;
};

static void collect(const char *word, const char *help, bool placeholder, void *arg)
{
    struct got *g = arg;
    assert_true(g->n < 64);
    snprintf(g->words[g->n], sizeof(g->words[0]), "%s", word);
    g->placeholder[g->n] = placeholder;
    g->n++;
    (void)help;
}

static bool has(const struct got *g, const char *w, bool placeholder)
{
    for (size_t i = 0; i < g->n; i++) {
        if (strcmp(g->words[i], w) == 0 && g->placeholder[i] == placeholder)
            return true;
    }
    return false;
}

static size_t split(const char *s, char w[8][40])
{
    size_t n = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
        snprintf(w[n++], 40, "%s", t);
    return n;
}

static void test_every_command_completes(void **state)
{
    (void)state;
    for (size_t c = 0; c < moat_n_cmds; c++) {
        const struct moat_cmd *cmd = &moat_cmds[c];
        char w[8][40];
        const char *argv[12];
        size_t k = split(cmd->words, w);
        for (size_t i = 0; i < k; i++)
            argv[i] = w[i];
        /* Each word is offered after the ones before it. */
        for (size_t i = 0; i < k; i++) {
            struct got g = {0};
            bool done;
            moat_cmds_complete(argv, i, collect, &g, &done);
            if (!has(&g, w[i], false))
                fail_msg("\"%s\": word %zu (%s) is not offered", cmd->words, i, w[i]);
        }
        struct got g = {0};
        bool done = false;
        moat_cmds_complete(argv, k, collect, &g, &done);
        size_t n = k;
        if (cmd->positional) {
            assert_false(done);
            assert_true(has(&g, cmd->positional, true));
            argv[n++] = "0";
            memset(&g, 0, sizeof(g));
            moat_cmds_complete(argv, n, collect, &g, &done);
        }
        if (!done)
            fail_msg("\"%s\" is not recognised as a whole command", cmd->words);
        for (size_t j = 0; cmd->opts && cmd->opts[j].word; j++) {
            if (!has(&g, cmd->opts[j].word, false))
                fail_msg("\"%s\": option %s is not offered", cmd->words, cmd->opts[j].word);
        }
    }
}

static void test_options_and_values(void **state)
{
    (void)state;
    struct got g = {0};
    bool done;
    const char *a[] = {"show", "security", "flow", "session", "protocol"};
    moat_cmds_complete(a, 5, collect, &g, &done);
    assert_false(done);
    assert_true(has(&g, "tcp", false));
    assert_true(has(&g, "icmp6", false));
    assert_true(has(&g, "N", true));
    assert_false(has(&g, "zone", false)); /* a value must come first */

    memset(&g, 0, sizeof(g));
    const char *b[] = {"show", "security", "flow", "session", "protocol", "tcp", "zone", "trust"};
    moat_cmds_complete(b, 8, collect, &g, &done);
    assert_true(done);
    assert_true(has(&g, "source-prefix", false));
    assert_false(has(&g, "protocol", false)); /* used already */
    assert_false(has(&g, "zone", false));

    memset(&g, 0, sizeof(g));
    const char *c[] = {"show", "bogus"};
    assert_int_equal(moat_cmds_complete(c, 2, collect, &g, &done), 0);
    assert_false(done);

    /* Shared prefixes are offered once. */
    memset(&g, 0, sizeof(g));
    const char *d[] = {"show"};
    moat_cmds_complete(d, 1, collect, &g, &done);
    size_t sec = 0;
    for (size_t i = 0; i < g.n; i++)
        sec += strcmp(g.words[i], "security") == 0;
    assert_int_equal(sec, 1);
    assert_false(done);
}

static void test_help_lists_every_command(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    moat_cmds_help(f);
    fclose(f);
    for (size_t c = 0; c < moat_n_cmds; c++) {
        char line[300];
        snprintf(line, sizeof(line), "  %s", moat_cmds[c].words);
        if (!strstr(text, line))
            fail_msg("help does not list \"%s\"", moat_cmds[c].words);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_command_completes),
        cmocka_unit_test(test_options_and_values),
        cmocka_unit_test(test_help_lists_every_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
