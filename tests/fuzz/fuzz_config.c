/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c — libFuzzer harness for the config parser and validator (controld/config/)
 * and the compiler behind it (controld/snapshot.c).
 *
 * Input: config text (a NUL ends it, as it ends the string controld hands the parser).
 * Checked, besides what ASan/UBSan catch:
 *  - a refused config is refused with -EINVAL, no model, and a message with a line:col
 *    inside the text (the line at most one past the last one);
 *  - an accepted config prints (`show configuration`) to text that is accepted again, to the
 *    same tree, the same printed text, and the same `display set` text;
 *  - an accepted config compiles into a Snapshot (its interfaces present, as controld sees
 *    them after start-up) that packs into a frame and that the helper's apply path
 *    (settings, ports, tables) accepts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_tree.h"
#include "controld.h"
#include "ctl_box.h"
#include "frame.h"
#include "log.h"
#include "snapshot.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_config: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,    \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char *print(const struct moat_config *cfg, bool set)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        abort();
    FUZZ_CHECK((set ? config_print_set(cfg, mem) : config_print_tree(cfg, mem)) == 0);
    fclose(mem);
    return text;
}

static struct controld ctl;

/* The helper's apply path for the snapshot of cfg, with every configured interface present. */
static void compile(struct moat_config *cfg)
{
    memset(&ctl, 0, sizeof(ctl));
    ctl.cfg = cfg;
    snprintf(ctl.mode, sizeof(ctl.mode), "userspace");
    ctl.bpffs_dir = "/nonexistent";
    ctl.generation = 1;
    for (unsigned i = 0; i < cfg->n_ifaces && ctl.n_ifaces < MOAT_MAX_IFACES; i++)
        ctl_box_add_iface(&ctl, cfg->ifaces[i].name, (uint8_t)(1 + ctl.n_ifaces));
    Moat__Snapshot *s = snapshot_build(&ctl);
    FUZZ_CHECK(s != NULL);
    uint8_t *frame = NULL;
    size_t flen = 0;
    size_t sent = 0, left = 0;
    FUZZ_CHECK(snapshot_encode_frame(s, NULL, FRAME_MAX_DEFAULT, &frame, &flen, &sent, &left) == 0);
    Moat__Envelope *env = moat__envelope__unpack(NULL, flen - FRAME_HDR_LEN, frame + FRAME_HDR_LEN);
    FUZZ_CHECK(env != NULL && env->msg_case == MOAT__ENVELOPE__MSG_SNAPSHOT);
    char err[512] = "";
    struct dp_settings set;
    struct dp_port ports[MOAT_MAX_IFACES];
    uint32_t nports = 0;
    struct dp_tables *t = NULL;
    const Moat__Snapshot *d = env->snapshot;
    int rc = dp_settings_from_proto(d->settings, 1, &set, err, sizeof(err));
    if (!rc)
        rc = dp_ports_from_snapshot(d, &set, ports, &nports, err, sizeof(err));
    if (!rc)
        rc = dp_tables_from_snapshot(d, ports, nports, &t, err, sizeof(err));
    if (rc) {
        /* controld accepted it: the helper must too, or a commit would take forwarding down. */
        fprintf(stderr, "fuzz_config: the helper refuses the snapshot of an accepted config: %s\n",
                err);
        abort();
    }
    dp_tables_free(t, true, true);
    moat__envelope__free_unpacked(env, NULL);
    free(frame);
    snapshot_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_init("fuzz_config", LOG_LVL_ERR);
        quiet = true;
    }
    char *text = malloc(size + 1); /* exact size: ASan sees a read past the end */
    memcpy(text, data, size);
    text[size] = '\0';
    unsigned lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';

    struct moat_config *cfg = NULL;
    struct config_error err;
    memset(&err, 0, sizeof(err));
    int rc = config_load_string(text, "fuzz.conf", &cfg, &err);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EINVAL);
        FUZZ_CHECK(cfg == NULL);
        FUZZ_CHECK(err.line >= 1 && err.line <= lines + 1 && err.col >= 1);
        FUZZ_CHECK(err.message[0] != '\0');
        char msg[1024];
        config_error_format(&err, msg, sizeof(msg));
        char want[64];
        snprintf(want, sizeof(want), "fuzz.conf:%u:%u: ", err.line, err.col);
        FUZZ_CHECK(strncmp(msg, want, strlen(want)) == 0);
        free(text);
        return 0;
    }
    FUZZ_CHECK(cfg != NULL);
    char *tree1 = print(cfg, false), *set1 = print(cfg, true);
    struct moat_config *again = NULL;
    rc = config_load_string(tree1, "printed.conf", &again, &err);
    if (rc != 0) {
        char msg[1024];
        config_error_format(&err, msg, sizeof(msg));
        fprintf(stderr, "fuzz_config: the printed config is refused: %s\n---\n%s---\n", msg, tree1);
        abort();
    }
    FUZZ_CHECK(config_tree_equal(cfg->tree, again->tree));
    char *tree2 = print(again, false), *set2 = print(again, true);
    FUZZ_CHECK(strcmp(tree1, tree2) == 0);
    FUZZ_CHECK(strcmp(set1, set2) == 0);
    compile(cfg);
    free(tree1);
    free(tree2);
    free(set1);
    free(set2);
    config_free(again);
    config_free(cfg);
    free(text);
    return 0;
}
