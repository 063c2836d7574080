/* SPDX-License-Identifier: MIT */
#include "commands.h"

#include <string.h>

static const struct moat_cmd_opt session_filters[] = {
    {"summary", NULL, false},
    {"nat", NULL, false},
    {"source-prefix", "PREFIX", false},
    {"destination-prefix", "PREFIX", false},
    {"source-port", "N", false},
    {"destination-port", "N", false},
    {"protocol", "tcp|udp|icmp|icmp6|N", false},
    {"zone", "NAME", false},
    {"session-identifier", "ID", false},
    {NULL, NULL, false},
};

static const struct moat_cmd_opt dp_stats_opts[] = {
    {"interface", "NAME", false},
    {"worker", "N", false},
    {NULL, NULL, false},
};

static const struct moat_cmd_opt cluster_failover_opts[] = {
    {"node", "M", false},
    {NULL, NULL, false},
};

static const struct moat_cmd_opt trace_filters[] = {
    {"source-prefix", "PREFIX", false},
    {"destination-prefix", "PREFIX", false},
    {"source-port", "N", false},
    {"destination-port", "N", false},
    {"protocol", "tcp|udp|icmp|icmp6|N", false},
    {"interface", "NAME", false},
    {"both-directions", NULL, false},
    {"count", "N", false},
    {"duration", "SECONDS", false},
    {NULL, NULL, false},
};

static const struct moat_cmd_opt nat_views[] = {
    {"summary", NULL, false},
    {"pool", "all|NAME", true},
    {"rule", "all|NAME", true},
    {NULL, NULL, false},
};

static const struct moat_cmd_opt nat_static_views[] = {
    {"rule", "all|NAME", true},
    {NULL, NULL, false},
};

static const struct moat_cmd_opt screen_zone[] = {
    {"zone", "NAME", false},
    {NULL, NULL, false},
};

static const struct moat_cmd_opt hit_count[] = {
    {"hit-count", NULL, false},
    {NULL, NULL, false},
};

static const struct moat_cmd_opt commit_opts[] = {
    {"check", NULL, false},
    {"confirmed", "MINUTES", false},
    {"comment", "TEXT", false},
    {NULL, NULL, false},
};

const struct moat_cmd moat_cmds[] = {
    {"show system status", NULL, NULL, NULL, "mode, reason, forwarding, generation, helper"},
    {"show system commit", NULL, NULL, NULL, "the commit history (rollback numbers)"},
    {"show interfaces", NULL, NULL, NULL,
     "per interface: link, XDP mode, armed, XSK mode, shim counters"},
    {"show route", NULL, NULL, NULL, "connected and static routes, next hops, neighbours"},
    {"show dataplane statistics", NULL, dp_stats_opts, "[interface NAME | worker N]",
     "shim decisions per interface and worker counters (since the last clear)"},
    {"clear dataplane statistics", NULL, NULL, NULL,
     "counts shown from now on start at zero (gauges and Prometheus unaffected)"},
    {"show security zones", NULL, NULL, NULL, "zones, interfaces, host-inbound traffic"},
    {"show security policies", NULL, hit_count, "[hit-count]",
     "policies per zone pair in order; hits from the helper"},
    {"show security flow session", NULL, session_filters,
     "[summary] [nat] [source-prefix P] [destination-prefix P] [source-port N] "
     "[destination-port N] [protocol tcp|udp|icmp|icmp6|N] [zone Z] [session-identifier ID]",
     "the mirrored sessions (nat: translated ones only)"},
    {"show security nat source", NULL, nat_views, "[summary | pool [NAME|all] | rule [NAME|all]]",
     "source NAT pools and rules, translation counters"},
    {"show security nat destination", NULL, nat_views,
     "[summary | pool [NAME|all] | rule [NAME|all]]",
     "destination NAT pools and rules, translation counters"},
    {"show security nat static", NULL, nat_static_views, "[rule [NAME|all]]",
     "static NAT rules, translation counters"},
    {"show security screen statistics", NULL, screen_zone, "[zone NAME]",
     "drops by the zones' screens (security screen ids-option), per check"},
    {"clear security flow session", NULL, &session_filters[1] /* no summary */,
     "[the filters of show ... session]", "closes the matching sessions"},
    {"trace flow", NULL, trace_filters,
     "[source-prefix P] [destination-prefix P] [source-port N] [destination-port N] "
     "[protocol P] [interface NAME] [both-directions] [count N] [duration SECONDS]",
     "each matching packet's path through the dataplane, step by step"},
    {"request dataplane arm", NULL, NULL, "[INTERFACE]",
     "arm forwarding (only once the helper's sockets are in moat_xsks)"},
    {"request dataplane disarm", NULL, NULL, "[INTERFACE]",
     "disarm forwarding (traffic takes the legacy path)"},
    {"show chassis cluster status", NULL, NULL, NULL,
     "HA: per redundancy group node, priority, role, preempt, monitored interfaces"},
    {"show chassis cluster statistics", NULL, NULL, NULL,
     "HA: heartbeats sent/received/bad, session sync sent/received/acked, resyncs"},
    {"request chassis cluster failover redundancy-group", "N", cluster_failover_opts, "N node M",
     "make node M primary of redundancy group N (held until reset)"},
    {"request chassis cluster failover reset redundancy-group", "N", NULL, "N",
     "end a manual failover of redundancy group N"},
    {"show configuration", NULL, NULL, NULL, "the running configuration"},
    {"show configuration display set", NULL, NULL, NULL,
     "the running configuration as set lines (also: show configuration \"|\" display set)"},
    {"show configuration compare rollback", "N", NULL, "N", "set lines changed since rollback N"},
    {"commit", NULL, commit_opts, "[check | confirmed MINUTES] [comment TEXT]",
     "check: validate the configuration file; else apply it"},
    {"rollback", "N", NULL, "N", "restore commit N (0 = running) and commit it"},
    {"help", NULL, NULL, NULL, "this list"},
};

const size_t moat_n_cmds = sizeof(moat_cmds) / sizeof(moat_cmds[0]);

void moat_cmds_help(FILE *out)
{
    fprintf(out, "Commands (moatctl COMMAND ? lists what may follow):\n");
    for (size_t i = 0; i < moat_n_cmds; i++) {
        const struct moat_cmd *c = &moat_cmds[i];
        char head[512];
        snprintf(head, sizeof(head), "%s%s%s", c->words, c->syntax ? " " : "",
                 c->syntax ? c->syntax : "");
        if (strlen(head) <= 36)
            fprintf(out, "  %-36s %s\n", head, c->help);
        else
            fprintf(out, "  %s\n  %-36s %s\n", head, "", c->help);
    }
}

#define MAX_WORDS 8

/* Splits s (words separated by one space) into w; returns the count. */
static size_t split(const char *s, char buf[MAX_WORDS][40], size_t max)
{
    size_t n = 0;
    while (*s && n < max) {
        const char *e = strchr(s, ' ');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l >= 40)
            l = 39;
        memcpy(buf[n], s, l);
        buf[n][l] = 0;
        n++;
        s += l;
        while (*s == ' ')
            s++;
    }
    return n;
}

struct emitter {
    moat_cmd_emit emit;
    void *arg;
    const char *seen[64];
    char seen_buf[64][40];
    size_t n;
};

static void emit_once(struct emitter *e, const char *word, size_t len, const char *help,
                      bool placeholder)
{
    char w[40];
    if (len >= sizeof(w))
        len = sizeof(w) - 1;
    memcpy(w, word, len);
    w[len] = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->seen_buf[i], w) == 0)
            return;
    }
    if (e->n < 64) {
        memcpy(e->seen_buf[e->n], w, len + 1);
        e->n++;
    }
    e->emit(w, help, placeholder, e->arg);
}

/* The alternatives of a value syntax: lowercase ones are words, the others placeholders. */
static void emit_value(struct emitter *e, const char *syntax, const char *help)
{
    const char *s = syntax;
    while (*s) {
        const char *bar = strchr(s, '|');
        size_t l = bar ? (size_t)(bar - s) : strlen(s);
        bool word = *s >= 'a' && *s <= 'z';
        emit_once(e, s, l, help, !word);
        s += l;
        if (*s == '|')
            s++;
    }
}

static void emit_opts(struct emitter *e, const struct moat_cmd *c, unsigned used)
{
    for (unsigned j = 0; c->opts && c->opts[j].word; j++) {
        if (!(used & (1u << j)))
            emit_once(e, c->opts[j].word, strlen(c->opts[j].word),
                      c->opts[j].value ? c->opts[j].value : c->help, false);
    }
}

static void complete_one(struct emitter *e, const struct moat_cmd *c, const char *const *words,
                         size_t n, bool *done)
{
    char w[MAX_WORDS][40];
    size_t k = split(c->words, w, MAX_WORDS);
    size_t common = n < k ? n : k;
    for (size_t i = 0; i < common; i++) {
        if (strcmp(words[i], w[i]) != 0)
            return;
    }
    if (n < k) {
        emit_once(e, w[n], strlen(w[n]), n + 1 == k ? c->help : NULL, false);
        return;
    }
    size_t i = k;
    if (c->positional) {
        if (i == n) {
            emit_value(e, c->positional, c->help);
            return;
        }
        i++;
    }
    unsigned used = 0;
    while (i < n) {
        unsigned j = 0;
        while (c->opts && c->opts[j].word && strcmp(c->opts[j].word, words[i]) != 0)
            j++;
        if (!c->opts || !c->opts[j].word)
            return; /* not this command */
        used |= 1u << j;
        if (!c->opts[j].value) {
            i++;
            continue;
        }
        if (i + 1 == n) { /* the value comes next */
            emit_value(e, c->opts[j].value, c->opts[j].value);
            if (c->opts[j].value_optional) {
                *done = true;
                emit_opts(e, c, used);
            }
            return;
        }
        i += 2;
    }
    *done = true;
    emit_opts(e, c, used);
}

size_t moat_cmds_complete(const char *const *words, size_t n, moat_cmd_emit emit, void *arg,
                          bool *done)
{
    struct emitter e = {.emit = emit, .arg = arg};
    bool d = false;
    for (size_t i = 0; i < moat_n_cmds; i++)
        complete_one(&e, &moat_cmds[i], words, n, &d);
    if (done)
        *done = d;
    return e.n;
}
