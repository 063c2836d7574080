/* SPDX-License-Identifier: MIT */
/*
 * helper_requests.h — the SessionInstall requests controld has in flight on the helper link,
 * each with its owner: the one whose callback gets the helper's SessionInstallReply.
 *
 * Any part of controld that installs sessions in the helper (the handover at arming,
 * lifecycle.c; HA sync, ha/sync.c) registers its callback with the request; the link hands each
 * reply to the owner of its request id. Ids count up from 1 across helper connections (HA
 * acknowledges "this request and all before" in id order). Pure data structure: no libuv, no
 * protocol I/O, unit-tested on its own.
 */
#ifndef MOAT_HELPER_REQUESTS_H
#define MOAT_HELPER_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat.pb-c.h"

typedef void (*helper_request_cb)(void *owner, const Moat__SessionInstallReply *r);

struct helper_request {
    uint64_t id;
    helper_request_cb cb;
    void *owner;
};

struct helper_requests {
    struct helper_request *v; /* in id order (ids are handed out increasing) */
    size_t n, cap;
    uint64_t last_id;
};

/* A new request of owner, answered through cb: its id in *id. 0 or -ENOMEM. */
int helper_requests_add(struct helper_requests *t, helper_request_cb cb, void *owner, uint64_t *id);
/* Forgets request id without calling its owner (it was never sent). */
void helper_requests_drop(struct helper_requests *t, uint64_t id);
/* Hands r to the owner of r->request_id and forgets the request; false (nobody called) when
 * no request has that id. */
bool helper_requests_answer(struct helper_requests *t, const Moat__SessionInstallReply *r);
/* Forgets every request of owner (it stops waiting; their replies then go to nobody). */
void helper_requests_forget_owner(struct helper_requests *t, const void *owner);
/* The link went down: no request will be answered. Ids keep counting up. */
void helper_requests_clear(struct helper_requests *t);
size_t helper_requests_pending(const struct helper_requests *t);
void helper_requests_free(struct helper_requests *t);

#endif
