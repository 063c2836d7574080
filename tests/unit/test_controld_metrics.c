/* SPDX-License-Identifier: MIT */
/*
 * test_controld_metrics.c — the Prometheus text controld serves (metrics.c): the lifecycle
 * figures, per-interface series, every worker counter from a dataplane.stats file, counters
 * named *_total and levels as gauges, and the line rules of the text format.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "controld.h"
#include "counters.h"
#include "metrics.h"

static struct controld ctl;
static char run_dir[64];

static void setup(void)
{
    memset(&ctl, 0, sizeof(ctl));
    struct config_error err;
    assert_int_equal(
        config_load_string("system { services { prometheus { } } }", "t.conf", &ctl.cfg, &err), 0);
    static const char *const names[] = {"fw0", "fw1"};
    for (unsigned i = 0; i < 2; i++) {
        struct ctl_iface *f = &ctl.ifaces[ctl.n_ifaces++];
        snprintf(f->name, sizeof(f->name), "%s", names[i]);
        f->ifindex = 2 + i;
        f->link_up = true;
        f->armed = i == 0;
        f->xsk_bound = 1;
    }
    snprintf(ctl.mode, sizeof(ctl.mode), "userspace");
    ctl.phase = "running";
    ctl.armed = true;
    ctl.generation = 8;
    ctl.applied_generation = 7;
    ctl.arms = 3;
    ctl.started_at_ms = ctl_now_ms();
    snprintf(run_dir, sizeof(run_dir), "/tmp/moat-metrics-test.XXXXXX");
    assert_non_null(mkdtemp(run_dir));
    ctl.run_dir = run_dir;
    assert_int_equal(mirror_init(&ctl.mirror, 0), 0);
}

static void teardown(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", run_dir, MOAT_STATS_FILE);
    unlink(path);
    rmdir(run_dir);
    mirror_free(&ctl.mirror);
    config_free(ctl.cfg);
}

static void write_stats(void)
{
    static struct moat_dp_stats s;
    memset(&s, 0, sizeof(s));
    s.magic = MOAT_STATS_MAGIC;
    s.version = MOAT_STATS_VERSION;
    s.pid = 4242;
    s.nworkers = 2;
    s.worker[0].rx_packets = 100;
    s.worker[1].rx_packets = 5;
    s.worker[0].forwarded = 99;
    s.worker[1].fill_level = 2048;
    s.worker[0].sessions_active = 12;
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", run_dir, MOAT_STATS_FILE);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(&s, sizeof(s), 1, f), 1);
    fclose(f);
}

static char *render(void)
{
    struct strbuf o;
    strbuf_init(&o);
    metrics_render(&ctl, &o);
    assert_false(o.oom);
    return o.buf;
}

/* The text format's line rules: HELP/TYPE once per metric and before its samples, sample
 * lines NAME[{LABELS}] VALUE, counters ending in _total. */
static void check_format(const char *text)
{
    char typed[256][96];
    char types[256][16];
    unsigned n_typed = 0;
    const char *p = text;
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    while (*p) {
        const char *e = strchr(p, '\n');
        assert_non_null(e);
        char line[512];
        size_t l = (size_t)(e - p);
        assert_true(l < sizeof(line));
        memcpy(line, p, l);
        line[l] = 0;
        p = e + 1;
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        char name[96], type[16], value[64];
        if (sscanf(line, "# TYPE %95s %15s", name, type) == 2) {
            for (unsigned i = 0; i < n_typed; i++) {
                if (strcmp(typed[i], name) == 0)
                    fail_msg("second TYPE for %s", name);
            }
            assert_true(n_typed < 256);
            snprintf(typed[n_typed], sizeof(typed[0]), "%s", name);
            snprintf(types[n_typed++], sizeof(types[0]), "%s", type);
            if (strcmp(type, "counter") == 0 && !strstr(name, "_total"))
                fail_msg("counter %s does not end in _total", name);
            continue;
        }
        size_t nl = strcspn(line, "{ ");
        assert_true(nl > 0 && nl < sizeof(name));
        memcpy(name, line, nl);
        name[nl] = 0;
        for (size_t i = 0; i < nl; i++) {
            char c = name[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i && c >= '0' && c <= '9')))
                fail_msg("bad metric name in \"%s\"", line);
        }
        if (n_typed == 0 || strcmp(typed[n_typed - 1], name) != 0)
            fail_msg("sample \"%s\" does not follow its TYPE line", line);
        const char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        snprintf(value, sizeof(value), "%s", sp + 1);
        char *end;
        strtod(value, &end);
        if (*end || !value[0])
            fail_msg("bad value in \"%s\"", line);
        if (line[nl] == '{' && sp[-1] != '}')
            fail_msg("labels not closed in \"%s\"", line);
    }
}

static void test_lifecycle_and_workers(void **state)
{
    (void)state;
    setup();
    write_stats();
    char *t = render();
    check_format(t);
    assert_non_null(strstr(t, "\nmoat_forwarding_armed 1\n"));
    assert_non_null(strstr(t, "\nmoat_generation 7\n"));
    assert_non_null(strstr(t, "\nmoat_generation_pushed 8\n"));
    assert_non_null(strstr(t, "\nmoat_mode{mode=\"userspace\"} 1\n"));
    assert_non_null(strstr(t, "\nmoat_phase{phase=\"running\"} 1\n"));
    assert_non_null(strstr(t, "\nmoat_helper_up 0\n"));
    assert_non_null(strstr(t, "\nmoat_helper_state{state=\"down\"} 1\n"));
    assert_non_null(strstr(t, "\nmoat_controld_arms_total 3\n"));
    assert_non_null(strstr(t, "\nmoat_interface_armed{interface=\"fw0\"} 1\n"));
    assert_non_null(strstr(t, "\nmoat_interface_armed{interface=\"fw1\"} 0\n"));
    assert_non_null(strstr(t, "\nmoat_shim_redirect_total{interface=\"fw1\"} 0\n"));
    assert_non_null(strstr(t, "\nmoat_helper_stats_available 1\n"));
    assert_non_null(strstr(t, "\nmoat_helper_stats_pid 4242\n"));
    assert_non_null(strstr(t, "\nmoat_worker_rx_packets_total{worker=\"0\"} 100\n"));
    assert_non_null(strstr(t, "\nmoat_worker_rx_packets_total{worker=\"1\"} 5\n"));
    assert_non_null(strstr(t, "\nmoat_worker_forwarded_total{worker=\"0\"} 99\n"));
    assert_non_null(strstr(t, "# TYPE moat_worker_fill_level gauge\n"));
    assert_non_null(strstr(t, "\nmoat_worker_fill_level{worker=\"1\"} 2048\n"));
    assert_non_null(strstr(t, "\nmoat_worker_sessions_active{worker=\"0\"} 12\n"));
    assert_null(strstr(t, "moat_worker_fill_level_total"));
    assert_null(strstr(t, "worker=\"2\""));
    free(t);
    teardown();
}

static void test_without_helper_counters(void **state)
{
    (void)state;
    setup();
    ctl.armed = false;
    char *t = render();
    check_format(t);
    assert_non_null(strstr(t, "\nmoat_forwarding_armed 0\n"));
    assert_non_null(strstr(t, "\nmoat_helper_stats_available 0\n"));
    assert_null(strstr(t, "moat_worker_"));
    free(t);
    teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_and_workers),
        cmocka_unit_test(test_without_helper_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
