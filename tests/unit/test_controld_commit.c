/* SPDX-License-Identifier: MIT */
/*
 * test_controld_commit.c — the commit history (history.c): save, list, load, rollback
 * numbering, rotation to 50, atomic writes, `compare` output on set lines; and the
 * `security flow max-sessions` / `policy-reevaluate` statements the commit model added.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "history.h"
#include "strbuf.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_dir(void **state)
{
    char *dir = strdup("/tmp/moat-test-commit.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    nftw(*state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(*state);
    return 0;
}

/* Files in DIR/commits, and whether any is a leftover temporary. */
static unsigned count_files(const char *dir, bool *tmp_left)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/commits", dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    unsigned n = 0;
    struct dirent *de;
    *tmp_left = false;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (strstr(de->d_name, ".tmp."))
            *tmp_left = true;
        n++;
    }
    closedir(d);
    return n;
}

static const char conf_a[] = "# lab\nsystem { host-name a; }\n"
                             "interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } "
                             "} }\n";
static const char conf_b[] = "system { host-name b; }\n"
                             "interfaces { fw0 { unit 0 { family inet { address 10.77.1.1/24; } } "
                             "} fw1 { unit 0 { family inet { address 10.77.2.1/24; } } } }\n";

static void save(const char *dir, const char *text, const char *comment, uint32_t uid)
{
    struct history_meta m = {.time = 1700000000, .uid = uid};
    snprintf(m.via, sizeof(m.via), "moatctl");
    snprintf(m.comment, sizeof(m.comment), "%s", comment);
    assert_int_equal(history_save(dir, text, strlen(text), &m, HISTORY_KEEP), 0);
    assert_true(m.seq > 0);
}

static void test_save_list_load(void **state)
{
    const char *dir = *state;
    struct history_meta *v;
    unsigned n;
    /* No history yet: an empty list, and rollback 0 does not exist. */
    assert_int_equal(history_list(dir, &v, &n), 0);
    assert_int_equal(n, 0);
    free(v);
    char *text;
    size_t len;
    assert_int_equal(history_load(dir, 0, &text, &len, NULL), -ENOENT);

    save(dir, conf_a, "configuration at start-up", 0);
    save(dir, conf_b, "commit confirmed 1\nwith a newline", 1000);
    assert_int_equal(history_list(dir, &v, &n), 0);
    assert_int_equal(n, 2);
    /* Newest first: index = rollback number. */
    assert_int_equal(v[0].seq, 2);
    assert_int_equal(v[1].seq, 1);
    assert_int_equal(v[0].uid, 1000);
    assert_int_equal(v[0].time, 1700000000);
    assert_string_equal(v[0].via, "moatctl");
    assert_string_equal(v[0].comment, "commit confirmed 1 with a newline");
    free(v);

    struct history_meta m;
    assert_int_equal(history_load(dir, 0, &text, &len, &m), 0);
    assert_string_equal(text, conf_b);
    assert_int_equal(len, strlen(conf_b));
    assert_int_equal(m.seq, 2);
    free(text);
    assert_int_equal(history_load(dir, 1, &text, &len, &m), 0);
    assert_string_equal(text, conf_a); /* the operator's comment line survives */
    free(text);
    assert_int_equal(history_load(dir, 2, &text, &len, &m), -ENOENT);

    /* An entry file is itself a valid config: the header is comments. */
    char path[512];
    snprintf(path, sizeof(path), "%s/commits/commit-00000002.conf", dir);
    struct moat_config *cfg;
    struct config_error err;
    assert_int_equal(config_load_file(path, &cfg, &err), 0);
    assert_string_equal(cfg->system.host_name, "b");
    config_free(cfg);

    /* A refused commit's entry is removed; rollback 0 is the previous one again. */
    assert_int_equal(history_remove(dir, 2), 0);
    assert_int_equal(history_load(dir, 0, &text, &len, &m), 0);
    assert_string_equal(text, conf_a);
    free(text);
    /* Numbering goes on from the newest entry that exists. */
    save(dir, conf_b, "commit", 0);
    assert_int_equal(history_list(dir, &v, &n), 0);
    assert_int_equal(v[0].seq, 2);
    free(v);
}

static void test_foreign_files_ignored(void **state)
{
    const char *dir = *state;
    save(dir, conf_a, "first", 0);
    char path[512];
    /* Not ours (no header), a temporary, some other name: skipped, never trusted. */
    snprintf(path, sizeof(path), "%s/commits/commit-00000009.conf", dir);
    FILE *f = fopen(path, "w");
    fputs("system { host-name evil; }\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/commits/README", dir);
    f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    struct history_meta *v;
    unsigned n;
    assert_int_equal(history_list(dir, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].comment, "first");
    free(v);
}

static void test_rotation(void **state)
{
    const char *dir = *state;
    char text[128], comment[32];
    for (int i = 1; i <= HISTORY_KEEP + 7; i++) {
        snprintf(text, sizeof(text), "system { host-name h%d; }\n", i);
        snprintf(comment, sizeof(comment), "commit %d", i);
        save(dir, text, comment, 0);
    }
    struct history_meta *v;
    unsigned n;
    assert_int_equal(history_list(dir, &v, &n), 0);
    assert_int_equal(n, HISTORY_KEEP);
    assert_int_equal(v[0].seq, HISTORY_KEEP + 7);
    assert_int_equal(v[HISTORY_KEEP - 1].seq, 8);
    assert_string_equal(v[HISTORY_KEEP - 1].comment, "commit 8");
    free(v);
    bool tmp;
    assert_int_equal(count_files(dir, &tmp), HISTORY_KEEP);
    assert_false(tmp);
    char *t;
    size_t len;
    assert_int_equal(history_load(dir, HISTORY_KEEP - 1, &t, &len, NULL), 0);
    assert_string_equal(t, "system { host-name h8; }\n");
    free(t);
    assert_int_equal(history_load(dir, HISTORY_KEEP, &t, &len, NULL), -ENOENT);
}

static void test_atomic_write(void **state)
{
    const char *dir = *state;
    char path[512];
    snprintf(path, sizeof(path), "%s/moat.conf", dir);
    assert_int_equal(history_write_atomic(path, conf_a, strlen(conf_a), 0640), 0);
    char *t;
    size_t len;
    assert_int_equal(history_read_file(path, &t, &len), 0);
    assert_string_equal(t, conf_a);
    free(t);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640 & ~(mode_t)umask(022));
    umask(022);
    /* Replacing keeps the old inode untouched until the rename: a reader holding it sees the
     * old text whole, then the new one whole. */
    FILE *old = fopen(path, "r");
    assert_non_null(old);
    assert_int_equal(history_write_atomic(path, conf_b, strlen(conf_b), 0640), 0);
    char buf[512] = "";
    size_t r = fread(buf, 1, sizeof(buf) - 1, old);
    buf[r] = 0;
    fclose(old);
    assert_string_equal(buf, conf_a);
    assert_int_equal(history_read_file(path, &t, &len), 0);
    assert_string_equal(t, conf_b);
    free(t);
    /* A replaced file keeps its mode, and (as root) its group: operators in group moat edit
     * /etc/moat/moat.conf, and a commit or rollback must not take it from them. */
    assert_int_equal(chmod(path, 0664), 0);
    const bool root = geteuid() == 0;
    if (root)
        assert_int_equal(chown(path, 0, 1), 0);
    assert_int_equal(history_write_atomic(path, conf_a, strlen(conf_a), 0600), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0664);
    if (root)
        assert_int_equal(st.st_gid, 1);
    /* No temporary is left beside it. */
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        assert_null(strstr(de->d_name, ".tmp."));
    closedir(d);
    /* A folder that does not exist: an error, nothing written. */
    snprintf(path, sizeof(path), "%s/missing/moat.conf", dir);
    assert_int_equal(history_write_atomic(path, "x", 1, 0600), -ENOENT);
    /* A history in a folder we can't create fails the save (the commit is then refused). */
    struct history_meta m = {0};
    snprintf(path, sizeof(path), "%s/moat.conf/state", dir);
    assert_true(history_save(path, conf_a, strlen(conf_a), &m, HISTORY_KEEP) < 0);
}

/* ---- compare ---- */

static char *diff_text(const char *a, const char *b)
{
    char **la, **lb;
    size_t na, nb;
    char msg[256];
    assert_int_equal(history_set_lines(a, strlen(a), "a", &la, &na, msg, sizeof(msg)), 0);
    assert_int_equal(history_set_lines(b, strlen(b), "b", &lb, &nb, msg, sizeof(msg)), 0);
    struct strbuf o;
    strbuf_init(&o);
    history_diff_lines(la, na, lb, nb, &o);
    history_free_lines(la, na);
    history_free_lines(lb, nb);
    char *r = strdup(strbuf_str(&o));
    strbuf_free(&o);
    return r;
}

static const char pol_old[] =
    "security { policies { from-zone trust to-zone untrust {\n"
    "  policy allow-web { match { source-address any; destination-address any; application "
    "junos-http; } then { permit; } }\n"
    "  policy allow-dns { match { source-address any; destination-address any; application "
    "junos-dns-udp; } then { permit; } }\n"
    "} } }\n";

static void test_compare(void **state)
{
    (void)state;
    char *d = diff_text(conf_a, conf_a);
    assert_string_equal(d, "");
    free(d);
    d = diff_text(conf_a, conf_b);
    assert_string_equal(d, "- set system host-name a\n"
                           "+ set system host-name b\n"
                           "+ set interfaces fw1 unit 0 family inet address 10.77.2.1/24\n");
    free(d);
    d = diff_text(conf_b, conf_a);
    assert_string_equal(d, "- set system host-name b\n"
                           "+ set system host-name a\n"
                           "- set interfaces fw1 unit 0 family inet address 10.77.2.1/24\n");
    free(d);
    /* Reordering policies changes their meaning: it shows. */
    static const char pol_new[] =
        "security { policies { from-zone trust to-zone untrust {\n"
        "  policy allow-dns { match { source-address any; destination-address any; application "
        "junos-dns-udp; } then { permit; } }\n"
        "  policy allow-web { match { source-address any; destination-address any; application "
        "junos-http; } then { permit; } }\n"
        "} } }\n";
    d = diff_text(pol_old, pol_new);
    assert_non_null(strstr(d, "policy allow-"));
    assert_true(strstr(d, "- set") != NULL && strstr(d, "+ set") != NULL);
    free(d);
    /* A [ ] list is one set line per element. */
    d = diff_text("a { b [ x y ]; }\n", "a { b [ x z ]; }\n");
    assert_string_equal(d, "- set a b y\n+ set a b z\n");
    free(d);
    /* Text that does not parse is an error with line:col. */
    char **l;
    size_t n;
    char msg[256];
    assert_int_equal(history_set_lines("a { b;\n", 7, "x.conf", &l, &n, msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "x.conf:"));
}

static void test_compare_large(void **state)
{
    (void)state;
    /* Beyond the LCS table's size the diff still names every changed line. */
    const size_t n = 4000;
    char **a = calloc(n, sizeof(*a)), **b = calloc(n, sizeof(*b));
    for (size_t i = 0; i < n; i++) {
        assert_true(asprintf(&a[i], "set x %zu", i) > 0);
        assert_true(asprintf(&b[i], "set x %zu", i % 2 ? i : i + 100000) > 0);
    }
    struct strbuf o;
    strbuf_init(&o);
    size_t changed = history_diff_lines(a, n, b, n, &o);
    assert_int_equal(changed, n); /* n/2 removed + n/2 added */
    assert_non_null(strstr(strbuf_str(&o), "- set x 0\n"));
    assert_non_null(strstr(strbuf_str(&o), "+ set x 100000\n"));
    assert_null(strstr(strbuf_str(&o), "set x 1\n"));
    strbuf_free(&o);
    for (size_t i = 0; i < n; i++) {
        free(a[i]);
        free(b[i]);
    }
    free(a);
    free(b);
}

/* ---- config additions ---- */

static void test_flow_statements(void **state)
{
    (void)state;
    struct moat_config *cfg;
    struct config_error err;
    assert_int_equal(config_load_string("system { host-name x; }\n", "t.conf", &cfg, &err), 0);
    assert_int_equal(cfg->security->flow.max_sessions, 1048576);
    assert_true(cfg->security->flow.policy_reevaluate);
    config_free(cfg);
    assert_int_equal(config_load_string("security { flow { max-sessions 5000; policy-reevaluate "
                                        "disable; } }\n",
                                        "t.conf", &cfg, &err),
                     0);
    assert_int_equal(cfg->security->flow.max_sessions, 5000);
    assert_false(cfg->security->flow.policy_reevaluate);
    config_free(cfg);
    char msg[700];
    assert_int_equal(
        config_load_string("security { flow { max-sessions 0; } }\n", "t.conf", &cfg, &err),
        -EINVAL);
    config_error_format(&err, msg, sizeof(msg));
    assert_non_null(strstr(msg, "t.conf:1:32: max-sessions 0 is out of range (1..16777216)"));
    assert_int_equal(config_load_string("security {\n  flow { policy-reevaluate maybe; }\n}\n",
                                        "t.conf", &cfg, &err),
                     -EINVAL);
    config_error_format(&err, msg, sizeof(msg));
    assert_non_null(strstr(msg, "t.conf:2:28: invalid policy-reevaluate \"maybe\""));
    /* syn-flood-protection-mode: drop unless syn-cookie is asked for; anything else refused. */
    assert_int_equal(config_load_string("system { host-name x; }\n", "t.conf", &cfg, &err), 0);
    assert_false(cfg->security->flow.syn_cookie);
    config_free(cfg);
    assert_int_equal(
        config_load_string("security { flow { syn-flood-protection-mode syn-cookie; } }\n",
                           "t.conf", &cfg, &err),
        0);
    assert_true(cfg->security->flow.syn_cookie);
    config_free(cfg);
    assert_int_equal(config_load_string("security { flow { syn-flood-protection-mode drop; } }\n",
                                        "t.conf", &cfg, &err),
                     0);
    assert_false(cfg->security->flow.syn_cookie);
    config_free(cfg);
    assert_int_equal(
        config_load_string("security {\n  flow { syn-flood-protection-mode proxy; }\n}\n", "t.conf",
                           &cfg, &err),
        -EINVAL);
    config_error_format(&err, msg, sizeof(msg));
    assert_non_null(strstr(msg, "t.conf:2:36: invalid syn-flood-protection-mode \"proxy\""));
    assert_int_equal(config_load_string("security { flow { syn-flood-protection-mode; } }\n",
                                        "t.conf", &cfg, &err),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_save_list_load, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_foreign_files_ignored, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_rotation, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_atomic_write, setup_dir, teardown_dir),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_compare_large),
        cmocka_unit_test(test_flow_statements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
