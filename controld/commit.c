/* SPDX-License-Identifier: MIT */
/*
 * commit.c — commit, commit check, commit confirmed, rollback, SIGHUP (see commit.h).
 */
#include "commit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "history.h"
#include "log.h"

struct commit_state {
    struct controld *c;
    char *running_text; /* the text of the running configuration */
    size_t running_len;

    /* The commit in flight (waiting for the helper's SnapshotApplied). */
    bool busy;
    uint64_t gen;
    struct moat_config *prev_cfg; /* restored if the helper refuses */
    char *new_text;
    size_t new_len;
    char *file_backup; /* the config file before a rollback rewrote it, restored on failure */
    size_t file_backup_len;
    uint64_t hist_seq;
    uint64_t op_id; /* deferred moatctl client, 0 = none */
    unsigned confirm;
    char label[96];
    char via[32];
    uv_timer_t wait_timer;

    /* commit confirmed, not confirmed yet */
    bool confirm_pending;
    char *confirm_text; /* what the automatic rollback restores */
    size_t confirm_len;
    unsigned confirm_n;
    uint64_t confirm_deadline_ms;
    uv_timer_t confirm_timer;

    bool timers_open;
    uint64_t commits_ok, commits_failed, auto_rollbacks;
};

static const char *confirm_unit(const struct controld *c, unsigned n)
{
    if (c->confirm_unit_seconds)
        return n == 1 ? "second" : "seconds";
    return n == 1 ? "minute" : "minutes";
}

static char *dup_text(const char *text, size_t len)
{
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, text, len);
        p[len] = 0;
    }
    return p;
}

/* Loads and checks text as a candidate. 0, or 1 with one line in err. */
static int validate(struct controld *c, const char *text, size_t len, struct moat_config **out,
                    struct strbuf *err, const char *what)
{
    struct config_error cerr;
    int rc = config_load_string(text, c->config_path, out, &cerr);
    (void)len;
    if (rc) {
        char msg[1024];
        config_error_format(&cerr, msg, sizeof(msg));
        strbuf_printf(err, "%s (%s)", msg, what);
        return 1;
    }
    char why[512];
    if (lifecycle_check_enforceable(*out, why, sizeof(why)) < 0 ||
        gate_check_config(c, *out, why, sizeof(why)) < 0) {
        strbuf_printf(err, "%s: %s (%s)", c->config_path, why, what);
        config_free(*out);
        *out = NULL;
        return 1;
    }
    return 0;
}

static int read_candidate(struct controld *c, char **text, size_t *len, struct strbuf *err,
                          const char *what)
{
    int rc = history_read_file(c->config_path, text, len);
    if (rc < 0) {
        strbuf_printf(err, "cannot read the configuration file %s: %s (%s)", c->config_path,
                      strerror(-rc), what);
        return 1;
    }
    return 0;
}

/* ---- the end of a commit ---- */

static void confirm_timeout(uv_timer_t *t);

static void confirm_cancel(struct commit_state *cs)
{
    if (!cs->confirm_pending)
        return;
    cs->confirm_pending = false;
    uv_timer_stop(&cs->confirm_timer);
    free(cs->confirm_text);
    cs->confirm_text = NULL;
    cs->confirm_len = 0;
}

/* The commit holds: text runs now. prev is freed. */
static void finish_ok(struct controld *c, struct moat_config *prev, char *text, size_t len,
                      unsigned confirm, const char *note, struct strbuf *out)
{
    struct commit_state *cs = c->commit;
    config_free(prev);
    if (confirm) {
        if (!cs->confirm_pending) {
            /* The rollback target is what ran before the first unconfirmed commit. */
            cs->confirm_text = cs->running_text;
            cs->confirm_len = cs->running_len;
            cs->running_text = NULL;
            cs->confirm_pending = true;
        }
        cs->confirm_n = confirm;
        uint64_t ms = (uint64_t)confirm * (c->confirm_unit_seconds ? 1000 : 60000);
        cs->confirm_deadline_ms = ctl_now_ms() + ms;
        uv_timer_start(&cs->confirm_timer, confirm_timeout, ms, 0);
        strbuf_printf(out,
                      "commit confirmed will be automatically rolled back in %u %s unless "
                      "confirmed\n",
                      confirm, confirm_unit(c, confirm));
        log_info("commit confirmed %u: rolls back in %u %s unless another commit confirms it",
                 confirm, confirm, confirm_unit(c, confirm));
    } else if (cs->confirm_pending) {
        confirm_cancel(cs);
        strbuf_printf(out, "the pending commit confirmed is confirmed: no automatic rollback\n");
        log_info("commit confirmed: confirmed by this commit; the automatic rollback is off");
    }
    free(cs->running_text);
    cs->running_text = text;
    cs->running_len = len;
    cs->commits_ok++;
    strbuf_printf(out, "commit complete\n");
    if (note && note[0])
        strbuf_printf(out, "%s\n", note);
}

/* The commit in flight failed after it was applied: restore the previous configuration. */
static void finish_failed(struct controld *c, const char *reason)
{
    struct commit_state *cs = c->commit;
    uv_timer_stop(&cs->wait_timer);
    cs->busy = false;
    struct moat_config *failed = c->cfg;
    c->cfg = cs->prev_cfg;
    cs->prev_cfg = NULL;
    lifecycle_apply_config(c, failed);
    config_free(failed);
    free(cs->new_text);
    cs->new_text = NULL;
    bool restored = false;
    if (cs->file_backup) {
        struct stat st;
        mode_t mode = stat(c->config_path, &st) == 0 ? (st.st_mode & 0777) : 0640;
        int err = history_write_atomic(c->config_path, cs->file_backup, cs->file_backup_len, mode);
        if (err < 0)
            log_err("commit: cannot restore %s after the failed commit: %s", c->config_path,
                    strerror(-err));
        restored = err == 0;
        free(cs->file_backup);
        cs->file_backup = NULL;
    }
    int rc = history_remove(c->state_dir, cs->hist_seq);
    if (rc < 0)
        log_warn("commit: cannot remove the failed commit %" PRIu64 " from the history: %s",
                 cs->hist_seq, strerror(-rc));
    c->generation++;
    c->config_generation = c->generation;
    bool pushed =
        helper_get_state(c->helper) != HELPER_DOWN && helper_push_snapshot(c->helper) == 0;
    cs->commits_failed++;
    char msg[768];
    snprintf(msg, sizeof(msg),
             "commit failed: %s; the previous configuration runs again (generation %" PRIu64
             "%s); %s %s",
             reason, c->generation, pushed ? ", pushed to the helper" : "",
             restored ? "restored the previous content of" : "the candidate stays in",
             c->config_path);
    log_err("%s (%s, via %s)", msg, cs->label, cs->via);
    if (cs->op_id) {
        struct op_client *cl = operator_find(c->op, cs->op_id, NULL);
        operator_answer(cl, 1, NULL, msg);
        cs->op_id = 0;
    }
}

static void wait_timeout(uv_timer_t *t)
{
    struct controld *c = t->data;
    struct commit_state *cs = c->commit;
    if (!cs->busy)
        return;
    char why[160];
    snprintf(why, sizeof(why),
             "the dataplane helper did not apply generation %" PRIu64 " within %d s (helper "
             "stuck or down?)",
             cs->gen, COMMIT_HELPER_WAIT_MS / 1000);
    finish_failed(c, why);
}

bool commit_helper_applied(struct controld *c, uint64_t gen, bool ok, const char *error)
{
    struct commit_state *cs = c->commit;
    if (!cs || !cs->busy || gen != cs->gen)
        return false;
    if (!ok) {
        char why[512];
        snprintf(why, sizeof(why), "the dataplane helper refused generation %" PRIu64 ": %s", gen,
                 error && error[0] ? error : "(no reason given)");
        finish_failed(c, why);
        return true;
    }
    uv_timer_stop(&cs->wait_timer);
    cs->busy = false;
    free(cs->file_backup);
    cs->file_backup = NULL;
    struct strbuf out;
    strbuf_init(&out);
    char *text = cs->new_text;
    cs->new_text = NULL;
    struct moat_config *prev = cs->prev_cfg;
    cs->prev_cfg = NULL;
    char note[96];
    snprintf(note, sizeof(note), "generation %" PRIu64 " applied by the dataplane helper", gen);
    finish_ok(c, prev, text, cs->new_len, cs->confirm, note, &out);
    log_info("commit complete: %s via %s, generation %" PRIu64 " applied", cs->label, cs->via, gen);
    if (cs->op_id) {
        struct op_client *cl = operator_find(c->op, cs->op_id, NULL);
        operator_answer(cl, 0, strbuf_str(&out), NULL);
        cs->op_id = 0;
    }
    strbuf_free(&out);
    return true;
}

void commit_helper_lost(struct controld *c, const char *why)
{
    struct commit_state *cs = c->commit;
    if (!cs || !cs->busy)
        return;
    char reason[256];
    snprintf(reason, sizeof(reason),
             "the dataplane helper went away before applying generation %" PRIu64 " (%s)", cs->gen,
             why);
    finish_failed(c, reason);
}

/* ---- commit ---- */

int commit_start(struct controld *c, const struct commit_request *r, struct strbuf *out,
                 struct strbuf *err)
{
    struct commit_state *cs = c->commit;
    static const char nothing[] = "commit refused: nothing changed";
    if (!cs) {
        strbuf_printf(err, "controld is not ready for commits yet; try again");
        return 1;
    }
    if (cs->busy) {
        strbuf_printf(err,
                      "another commit is in progress (generation %" PRIu64
                      " waits for the dataplane helper); try again in a few seconds",
                      cs->gen);
        return 1;
    }
    char *text = NULL;
    size_t len = 0;
    if (r->text) {
        len = r->len;
        if (!(text = dup_text(r->text, len))) {
            strbuf_printf(err, "out of memory (%s)", nothing);
            return 1;
        }
    } else if (read_candidate(c, &text, &len, err, nothing)) {
        return 1;
    }
    struct moat_config *ncfg = NULL;
    if (validate(c, text, len, &ncfg, err, nothing)) {
        free(text);
        return 1;
    }
    char label[96];
    if (r->comment)
        snprintf(label, sizeof(label), "%s", r->comment);
    else if (r->confirm)
        snprintf(label, sizeof(label), "commit confirmed %u", r->confirm);
    else
        snprintf(label, sizeof(label), "commit");
    int rc;
    char *backup = NULL;
    size_t backup_len = 0;
    if (r->write_file) {
        struct stat st;
        mode_t mode = stat(c->config_path, &st) == 0 ? (st.st_mode & 0777) : 0640;
        if (history_read_file(c->config_path, &backup, &backup_len) < 0)
            backup = NULL; /* nothing to restore if the commit fails */
        if ((rc = history_write_atomic(c->config_path, text, len, mode)) < 0) {
            free(backup);
            strbuf_printf(err, "cannot write the configuration file %s: %s (%s)", c->config_path,
                          strerror(-rc), nothing);
            config_free(ncfg);
            free(text);
            return 1;
        }
    }
    struct history_meta meta = {.time = (int64_t)time(NULL), .uid = r->uid};
    snprintf(meta.via, sizeof(meta.via), "%s", r->via ? r->via : "moatctl");
    snprintf(meta.comment, sizeof(meta.comment), "%s", label);
    if ((rc = history_save(c->state_dir, text, len, &meta, HISTORY_KEEP)) < 0) {
        strbuf_printf(err,
                      "cannot record the commit in %s/commits: %s (%s; give controld a "
                      "writable --state-dir)",
                      c->state_dir, strerror(-rc), nothing);
        if (backup) {
            struct stat st;
            mode_t mode = stat(c->config_path, &st) == 0 ? (st.st_mode & 0777) : 0640;
            history_write_atomic(c->config_path, backup, backup_len, mode);
        }
        config_free(ncfg);
        free(text);
        free(backup);
        return 1;
    }

    /* From here on it runs; a helper that refuses it makes finish_failed() undo it. */
    struct moat_config *prev = c->cfg;
    c->cfg = ncfg;
    lifecycle_apply_config(c, prev);
    c->generation++;
    c->config_generation = c->generation;
    log_info("commit: %s by uid %u via %s: generation %" PRIu64 " (history entry %" PRIu64 ")",
             label, r->uid, meta.via, c->generation, meta.seq);
    if (helper_get_state(c->helper) != HELPER_DOWN && helper_push_snapshot(c->helper) == 0) {
        cs->busy = true;
        cs->gen = c->generation;
        cs->prev_cfg = prev;
        cs->new_text = text;
        cs->new_len = len;
        cs->file_backup = backup;
        cs->file_backup_len = backup_len;
        cs->hist_seq = meta.seq;
        cs->confirm = r->confirm;
        cs->op_id = 0;
        snprintf(cs->label, sizeof(cs->label), "%s", label);
        snprintf(cs->via, sizeof(cs->via), "%s", meta.via);
        uv_timer_start(&cs->wait_timer, wait_timeout, COMMIT_HELPER_WAIT_MS, 0);
        if (r->cl && operator_defer(r->cl, 0, NULL, NULL, NULL, &cs->op_id) == 0)
            return OP_DEFERRED;
        strbuf_printf(out,
                      "commit in progress: generation %" PRIu64 " waits for the dataplane helper\n",
                      c->generation);
        return 0;
    }
    free(backup);
    char note[160];
    snprintf(note, sizeof(note),
             "(the dataplane helper is down: it gets generation %" PRIu64 " when it connects)",
             c->generation);
    finish_ok(c, prev, text, len, r->confirm, note, out);
    return 0;
}

int commit_check(struct controld *c, struct strbuf *out, struct strbuf *err)
{
    char *text;
    size_t len;
    static const char what[] = "configuration check fails: nothing changed";
    if (read_candidate(c, &text, &len, err, what))
        return 1;
    struct moat_config *cfg = NULL;
    int rc = validate(c, text, len, &cfg, err, what);
    free(text);
    if (rc)
        return rc;
    config_free(cfg);
    strbuf_printf(out, "configuration check succeeds\n");
    return 0;
}

static unsigned history_count(struct controld *c)
{
    struct history_meta *v;
    unsigned n = 0;
    if (history_list(c->state_dir, &v, &n) == 0)
        free(v);
    return n;
}

static int load_rollback(struct controld *c, unsigned n, char **text, size_t *len,
                         struct strbuf *err)
{
    int rc = history_load(c->state_dir, n, text, len, NULL);
    if (rc == -ENOENT) {
        unsigned have = history_count(c);
        if (have)
            strbuf_printf(err,
                          "rollback %u does not exist: the commit history holds %u entries "
                          "(0..%u); see show system commit",
                          n, have, have - 1);
        else
            strbuf_printf(err,
                          "rollback %u does not exist: the commit history in %s/commits is "
                          "empty",
                          n, c->state_dir);
        return 1;
    }
    if (rc < 0) {
        strbuf_printf(err, "cannot read rollback %u from %s/commits: %s", n, c->state_dir,
                      strerror(-rc));
        return 1;
    }
    return 0;
}

int commit_rollback(struct controld *c, unsigned n, const struct op_ctx *ctx, struct strbuf *out,
                    struct strbuf *err)
{
    char *text;
    size_t len;
    if (load_rollback(c, n, &text, &len, err))
        return 1;
    char comment[64];
    snprintf(comment, sizeof(comment), "rollback %u", n);
    struct commit_request r = {
        .via = "moatctl",
        .uid = ctx ? ctx->uid : 0,
        .comment = comment,
        .text = text,
        .len = len,
        .write_file = true,
        .cl = ctx ? ctx->cl : NULL,
    };
    int rc = commit_start(c, &r, out, err);
    free(text);
    return rc;
}

static void log_outcome(const char *what, int rc, struct strbuf *out, struct strbuf *err)
{
    if (rc == 0) {
        /* One log line per output line. */
        char *copy = strdup(strbuf_str(out));
        char *save = NULL;
        for (char *l = copy ? strtok_r(copy, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save))
            log_info("%s: %s", what, l);
        free(copy);
    } else {
        log_err("%s: %s", what, strbuf_str(err));
    }
}

void commit_on_sighup(struct controld *c)
{
    struct strbuf out, err;
    strbuf_init(&out);
    strbuf_init(&err);
    struct commit_request r = {.via = "SIGHUP", .uid = (uint32_t)geteuid(), .comment = "SIGHUP"};
    int rc = commit_start(c, &r, &out, &err);
    log_outcome("SIGHUP commit", rc, &out, &err);
    strbuf_free(&out);
    strbuf_free(&err);
}

static void confirm_timeout(uv_timer_t *t)
{
    struct controld *c = t->data;
    struct commit_state *cs = c->commit;
    if (!cs->confirm_pending)
        return;
    if (cs->busy) {
        /* A commit is being applied: roll back once it is done. */
        uv_timer_start(&cs->confirm_timer, confirm_timeout, 1000, 0);
        return;
    }
    char comment[128];
    snprintf(comment, sizeof(comment), "automatic rollback: commit confirmed %u was not confirmed",
             cs->confirm_n);
    log_warn("commit confirmed %u was not confirmed within %u %s: rolling back", cs->confirm_n,
             cs->confirm_n, confirm_unit(c, cs->confirm_n));
    char *text = cs->confirm_text;
    size_t len = cs->confirm_len;
    cs->confirm_text = NULL;
    cs->confirm_pending = false;
    struct commit_request r = {
        .via = "confirm-timeout",
        .uid = (uint32_t)geteuid(),
        .comment = comment,
        .text = text,
        .len = len,
        .write_file = true,
    };
    struct strbuf out, err;
    strbuf_init(&out);
    strbuf_init(&err);
    int rc = commit_start(c, &r, &out, &err);
    if (rc == 0)
        cs->auto_rollbacks++;
    log_outcome("automatic rollback", rc, &out, &err);
    if (rc != 0) {
        /* Keep the target: a later commit (or controld's restart) decides. */
        log_err("automatic rollback failed; the unconfirmed configuration keeps running: "
                "fix the cause and commit (or rollback 1) by hand");
    }
    free(text);
    strbuf_free(&out);
    strbuf_free(&err);
}

/* ---- start and stop ---- */

int commit_init(struct controld *c)
{
    struct commit_state *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return -ENOMEM;
    cs->c = c;
    uv_timer_init(c->loop, &cs->wait_timer);
    uv_timer_init(c->loop, &cs->confirm_timer);
    cs->wait_timer.data = cs->confirm_timer.data = c;
    cs->timers_open = true;
    c->commit = cs;
    int rc = history_read_file(c->config_path, &cs->running_text, &cs->running_len);
    if (rc < 0) {
        /* It was read a moment ago; keep what the tree prints. */
        log_warn("cannot re-read %s for the commit history: %s", c->config_path, strerror(-rc));
        FILE *f = open_memstream(&cs->running_text, &cs->running_len);
        if (!f)
            return -ENOMEM;
        config_print_tree(c->cfg, f);
        fclose(f);
    }
    if ((rc = history_init(c->state_dir)) < 0) {
        log_warn("commit history unavailable in %s/commits: %s; commits fail until it is "
                 "writable (--state-dir DIR)",
                 c->state_dir, strerror(-rc));
        return 0;
    }
    char *newest = NULL;
    size_t nlen = 0;
    rc = history_load(c->state_dir, 0, &newest, &nlen, NULL);
    bool same = rc == 0 && nlen == cs->running_len && memcmp(newest, cs->running_text, nlen) == 0;
    free(newest);
    if (!same) {
        struct history_meta meta = {.time = (int64_t)time(NULL), .uid = (uint32_t)geteuid()};
        snprintf(meta.via, sizeof(meta.via), "start-up");
        snprintf(meta.comment, sizeof(meta.comment), "configuration at start-up");
        rc = history_save(c->state_dir, cs->running_text, cs->running_len, &meta, HISTORY_KEEP);
        if (rc < 0)
            log_warn("cannot record the start-up configuration in %s/commits: %s", c->state_dir,
                     strerror(-rc));
        else
            log_info("start-up configuration recorded as commit %" PRIu64 " in %s/commits",
                     meta.seq, c->state_dir);
    }
    return 0;
}

void commit_close(struct controld *c)
{
    struct commit_state *cs = c->commit;
    if (!cs)
        return;
    if (cs->timers_open) {
        uv_timer_stop(&cs->wait_timer);
        uv_timer_stop(&cs->confirm_timer);
        uv_close((uv_handle_t *)&cs->wait_timer, NULL);
        uv_close((uv_handle_t *)&cs->confirm_timer, NULL);
        cs->timers_open = false;
    }
    if (cs->confirm_pending)
        log_warn("controld stops with commit confirmed %u unconfirmed: the configuration file "
                 "keeps the unconfirmed configuration (use moatctl rollback 1 after the restart "
                 "to undo it)",
                 cs->confirm_n);
    if (cs->busy) {
        /* c->cfg stays what was being applied; the previous one is dropped. */
        config_free(cs->prev_cfg);
        cs->prev_cfg = NULL;
        cs->busy = false;
    }
    free(cs->new_text);
    cs->new_text = NULL;
    free(cs->file_backup);
    cs->file_backup = NULL;
    free(cs->confirm_text);
    cs->confirm_text = NULL;
    free(cs->running_text);
    cs->running_text = NULL;
    /* cs stays: the timers' handles live in it until the loop has closed them. */
}

/* ---- show ---- */

static void fmt_time(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static uint64_t confirm_left_s(struct controld *c)
{
    struct commit_state *cs = c->commit;
    uint64_t now = ctl_now_ms();
    return cs->confirm_deadline_ms > now ? (cs->confirm_deadline_ms - now + 999) / 1000 : 0;
}

int commit_show_history(struct controld *c, bool json, struct strbuf *out, struct strbuf *err)
{
    struct history_meta *v;
    unsigned n;
    int rc = history_list(c->state_dir, &v, &n);
    if (rc < 0) {
        strbuf_printf(err, "cannot read the commit history in %s/commits: %s", c->state_dir,
                      strerror(-rc));
        return 1;
    }
    struct commit_state *cs = c->commit;
    bool pending = cs && cs->confirm_pending;
    if (json) {
        strbuf_printf(out, "{\"confirm_pending\":%s", pending ? "true" : "false");
        if (pending)
            strbuf_printf(out, ",\"confirm_remaining_s\":%" PRIu64, confirm_left_s(c));
        strbuf_printf(out, ",\"commits\":[");
    } else if (pending) {
        strbuf_printf(out,
                      "commit confirmed pending: rolls back in %" PRIu64
                      " s unless confirmed (moatctl commit)\n",
                      confirm_left_s(c));
    }
    for (unsigned i = 0; i < n; i++) {
        char ts[64];
        fmt_time(v[i].time, ts, sizeof(ts));
        if (json) {
            strbuf_printf(out,
                          "%s{\"rollback\":%u,\"seq\":%" PRIu64 ",\"time\":%" PRId64
                          ",\"time_text\":\"%s\",\"uid\":%u,\"via\":",
                          i ? "," : "", i, v[i].seq, v[i].time, ts, v[i].uid);
            strbuf_json_str(out, v[i].via);
            strbuf_printf(out, ",\"comment\":");
            strbuf_json_str(out, v[i].comment);
            strbuf_printf(out, "}");
        } else {
            strbuf_printf(out, "%-3u %s by uid %u via %s: %s\n", i, ts, v[i].uid, v[i].via,
                          v[i].comment);
        }
    }
    if (json)
        strbuf_printf(out, "]}\n");
    else if (!n)
        strbuf_printf(out, "no commits in %s/commits\n", c->state_dir);
    free(v);
    return 0;
}

int commit_show_compare(struct controld *c, unsigned n, bool json, struct strbuf *out,
                        struct strbuf *err)
{
    struct commit_state *cs = c->commit;
    char *old;
    size_t olen;
    if (load_rollback(c, n, &old, &olen, err))
        return 1;
    char **a = NULL, **b = NULL;
    size_t na = 0, nb = 0;
    char msg[512] = "";
    int rc = history_set_lines(old, olen, "rollback", &a, &na, msg, sizeof(msg));
    free(old);
    if (rc < 0) {
        strbuf_printf(err, "rollback %u does not parse: %s", n, msg);
        return 1;
    }
    const char *run = cs && cs->running_text ? cs->running_text : "";
    size_t rlen = cs && cs->running_text ? cs->running_len : 0;
    if ((rc = history_set_lines(run, rlen, c->config_path, &b, &nb, msg, sizeof(msg))) < 0) {
        history_free_lines(a, na);
        strbuf_printf(err, "the running configuration does not parse: %s", msg);
        return 1;
    }
    struct strbuf diff;
    strbuf_init(&diff);
    history_diff_lines(a, na, b, nb, &diff);
    history_free_lines(a, na);
    history_free_lines(b, nb);
    if (!json) {
        strbuf_printf(out, "%s", strbuf_str(&diff));
    } else {
        strbuf_printf(out, "{\"rollback\":%u,\"changes\":[", n);
        char *copy = strdup(strbuf_str(&diff));
        char *save = NULL;
        bool first = true;
        for (char *l = copy ? strtok_r(copy, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
            strbuf_printf(out, "%s{\"op\":\"%c\",\"line\":", first ? "" : ",", l[0]);
            strbuf_json_str(out, l + 2);
            strbuf_printf(out, "}");
            first = false;
        }
        free(copy);
        strbuf_printf(out, "]}\n");
    }
    strbuf_free(&diff);
    return 0;
}

void commit_status_line(struct controld *c, struct strbuf *o, bool json)
{
    struct commit_state *cs = c->commit;
    char line[160] = "none pending";
    if (cs && cs->busy)
        snprintf(line, sizeof(line), "generation %" PRIu64 " waits for the dataplane helper",
                 cs->gen);
    else if (cs && cs->confirm_pending)
        snprintf(line, sizeof(line),
                 "commit confirmed %u: rolls back in %" PRIu64 " s unless confirmed", cs->confirm_n,
                 confirm_left_s(c));
    if (json) {
        strbuf_json_str(o, line);
        return;
    }
    strbuf_printf(o,
                  "commit: %s (commits %" PRIu64 ", failed after apply %" PRIu64
                  ", automatic rollbacks %" PRIu64 ")\n",
                  line, cs ? cs->commits_ok : 0, cs ? cs->commits_failed : 0,
                  cs ? cs->auto_rollbacks : 0);
}
