/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_program = "moat";
static enum log_level log_max = LOG_LVL_INFO;
static int log_journal; /* stderr is connected to journald: no timestamps, <N> prefixes */

void log_init(const char *program, enum log_level max_level)
{
    log_program = program;
    log_max = max_level;
    log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level max_level)
{
    log_max = max_level;
}

enum log_level log_get_level(void)
{
    return log_max;
}

int log_level_parse(const char *name, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {{"err", LOG_LVL_ERR},      {"error", LOG_LVL_ERR}, {"warn", LOG_LVL_WARN},
                 {"warning", LOG_LVL_WARN}, {"info", LOG_LVL_INFO}, {"debug", LOG_LVL_DEBUG}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_LVL_ERR:
        return "error";
    case LOG_LVL_WARN:
        return "warning";
    case LOG_LVL_INFO:
        return "info";
    default:
        return "debug";
    }
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if (level > log_max)
        return;
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    if (log_journal) {
        fprintf(stderr, "<%d>%s\n", (int)level, line);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        fprintf(stderr, "%02d:%02d:%02d.%03ld %s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                ts.tv_nsec / 1000000, log_program, level_name(level), line);
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
