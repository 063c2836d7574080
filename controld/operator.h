/* SPDX-License-Identifier: MIT */
/*
 * operator.h — the moatctl socket (RUN_DIR/control.sock, mode 0660, group moat).
 * One OpRequest per connection, answered by one OpReply. Peers are checked with
 * SO_PEERCRED: root, controld's own user, or a member of group "moat".
 *
 * A command that needs the dataplane helper (hit counts, clearing sessions) or waits for a
 * commit to be applied is answered later: the command defers its client (operator_defer),
 * sends its request with the returned id, and whoever receives the answer looks the client
 * up by that id and answers it (operator_find, operator_answer). A deferred client that gets
 * no answer in time is answered with the timeout message.
 */
#ifndef MOAT_OPERATOR_H
#define MOAT_OPERATOR_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "controld.h"

struct op_client;

/* What show_dispatch() knows about the request it handles. */
struct op_ctx {
    struct op_client *cl; /* NULL when no moatctl client waits (SIGHUP, timers, tests) */
    uint32_t uid;         /* the peer's uid (SO_PEERCRED) */
    int32_t pid;
    bool json;
};

/* show_dispatch() returns this when it deferred the client: no reply is sent now. */
#define OP_DEFERRED (-EINPROGRESS)

int operator_listen(struct controld *c, struct operator_server **out);
/* Stops listening; answers every deferred client with "controld is stopping". */
void operator_close(struct operator_server *op);

/*
 * Keeps cl waiting after show_dispatch() returns. *id (never 0) names it for operator_find().
 * data (freed with free_data, which may be NULL) travels with it. timeout_ms == 0: no timeout
 * (the caller promises an answer); otherwise the client gets status 1 and timeout_msg.
 */
int operator_defer(struct op_client *cl, unsigned timeout_ms, const char *timeout_msg, void *data,
                   void (*free_data)(void *), uint64_t *id);
/* The deferred client with this id (and its data), or NULL if it was answered or timed out. */
struct op_client *operator_find(struct operator_server *op, uint64_t id, void **data);
/* Answers a deferred client (and frees its data). */
void operator_answer(struct op_client *cl, int status, const char *output, const char *error);
/* Deferred clients waiting now (status output). */
/* A part of a streamed answer (OpReply.more) to a deferred client; the last part is
 * operator_answer(). Parts a client does not read fast enough are dropped (counted). */
void operator_stream(struct op_client *cl, const char *output);
uint64_t operator_stream_dropped(const struct op_client *cl);
unsigned operator_pending(const struct operator_server *op);

#endif
