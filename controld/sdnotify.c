/* SPDX-License-Identifier: MIT */
#include "sdnotify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "helper.h"
#include "log.h"

#define SDNOTIFY_STATUS_MS 1000 /* status refresh when there is no watchdog (or a slower one) */

static uv_timer_t timer;
static bool timer_on;
static bool watchdog;
static char last_status[256];

void sdnotify_status_line(const struct controld *c, char *buf, size_t len)
{
    enum helper_state hs = helper_get_state(c->helper);
    char helper[48];
    if (hs == HELPER_DOWN)
        snprintf(helper, sizeof(helper), "helper down");
    else
        snprintf(helper, sizeof(helper), "helper pid %u %s", helper_pid(c->helper),
                 helper_state_name(hs));
    snprintf(buf, len, "mode %s, %s, forwarding %s, generation %llu, %s, %u sessions", c->mode,
             c->phase, c->armed ? "armed" : "disarmed", (unsigned long long)c->applied_generation,
             helper, c->mirror.count);
}

static void send_status(const struct controld *c, bool force)
{
    char line[256];
    sdnotify_status_line(c, line, sizeof(line));
    if (!force && strcmp(line, last_status) == 0)
        return;
    snprintf(last_status, sizeof(last_status), "%s", line);
    sd_notifyf(0, "STATUS=%s", line);
}

static void on_tick(uv_timer_t *t)
{
    struct controld *c = t->data;
    if (watchdog)
        sd_notify(0, "WATCHDOG=1");
    send_status(c, false);
}

void sdnotify_ready(struct controld *c)
{
    if (!getenv("NOTIFY_SOCKET"))
        return;
    char line[256];
    sdnotify_status_line(c, line, sizeof(line));
    snprintf(last_status, sizeof(last_status), "%s", line);
    int err = sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%lu", line, (unsigned long)getpid());
    if (err < 0)
        log_warn("sd_notify READY=1 failed: %s (systemd will time the start-up out)",
                 strerror(-err));
    uint64_t usec = 0;
    uint64_t period_ms = SDNOTIFY_STATUS_MS;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec) {
        watchdog = true;
        uint64_t half = usec / 2000;
        if (half < 1)
            half = 1;
        if (half < period_ms)
            period_ms = half;
        log_info("systemd watchdog every %llu ms (WATCHDOG_USEC %llu)",
                 (unsigned long long)period_ms, (unsigned long long)usec);
    }
    uv_timer_init(c->loop, &timer);
    timer.data = c;
    uv_timer_start(&timer, on_tick, period_ms, period_ms);
    timer_on = true;
}

void sdnotify_stopping(struct controld *c)
{
    (void)c;
    if (!getenv("NOTIFY_SOCKET"))
        return;
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: detaching the shim, stopping the helper");
    if (timer_on) {
        uv_timer_stop(&timer);
        uv_close((uv_handle_t *)&timer, NULL);
        timer_on = false;
    }
}
