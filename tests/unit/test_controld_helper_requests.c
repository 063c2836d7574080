/* SPDX-License-Identifier: MIT */
/*
 * test_controld_helper_requests.c — the SessionInstall requests in flight and their owners
 * (helper_requests.h): each reply goes to the owner of its id and to nobody else, once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "helper_requests.h"

struct owner {
    unsigned calls;
    uint64_t last_id;
    bool last_lost;
    struct helper_requests *t; /* to add a request from the callback */
    uint64_t added;
};

static void on_reply(void *arg, const Moat__SessionInstallReply *r)
{
    struct owner *o = arg;
    o->calls++;
    o->last_id = r->request_id;
    o->last_lost = r->lost;
    if (o->t)
        assert_int_equal(helper_requests_add(o->t, on_reply, o, &o->added), 0);
}

static bool answer(struct helper_requests *t, uint64_t id, bool lost)
{
    Moat__SessionInstallReply r = MOAT__SESSION_INSTALL_REPLY__INIT;
    r.request_id = id;
    r.lost = lost;
    return helper_requests_answer(t, &r);
}

/* Two owners' requests interleaved: each reply reaches its owner only, whatever its id's
 * size (the old scheme told them apart by the top bit). */
static void test_reply_to_its_owner(void **state)
{
    (void)state;
    struct helper_requests t = {0};
    struct owner ha = {0}, handover = {0};
    uint64_t a1, b1, a2;
    assert_int_equal(helper_requests_add(&t, on_reply, &ha, &a1), 0);
    assert_int_equal(helper_requests_add(&t, on_reply, &handover, &b1), 0);
    assert_int_equal(helper_requests_add(&t, on_reply, &ha, &a2), 0);
    assert_true(a1 < b1 && b1 < a2);
    assert_int_equal(helper_requests_pending(&t), 3);
    assert_true(answer(&t, b1, true));
    assert_int_equal(handover.calls, 1);
    assert_int_equal(handover.last_id, b1);
    assert_true(handover.last_lost);
    assert_int_equal(ha.calls, 0);
    assert_true(answer(&t, a1, false));
    assert_true(answer(&t, a2, false));
    assert_int_equal(ha.calls, 2);
    assert_int_equal(ha.last_id, a2);
    assert_false(ha.last_lost);
    assert_int_equal(handover.calls, 1);
    /* Answered once: a second reply of the same id goes to nobody. */
    assert_false(answer(&t, a2, false));
    assert_int_equal(ha.calls, 2);
    assert_int_equal(helper_requests_pending(&t), 0);
    helper_requests_free(&t);
}

/* Unknown ids, dropped requests, a forgotten owner, a link gone: nobody is called. */
static void test_unanswered(void **state)
{
    (void)state;
    struct helper_requests t = {0};
    struct owner a = {0}, b = {0};
    uint64_t id[40];
    assert_false(answer(&t, 1, false));
    for (unsigned i = 0; i < 40; i++) /* past the first allocation */
        assert_int_equal(helper_requests_add(&t, on_reply, i % 2 ? &a : &b, &id[i]), 0);
    helper_requests_drop(&t, id[3]); /* never sent */
    assert_false(answer(&t, id[3], false));
    assert_int_equal(helper_requests_pending(&t), 39);
    helper_requests_forget_owner(&t, &b); /* b stops waiting */
    assert_int_equal(helper_requests_pending(&t), 19);
    assert_false(answer(&t, id[0], false));
    assert_int_equal(b.calls, 0);
    assert_true(answer(&t, id[39], false));
    assert_true(answer(&t, id[1], false));
    assert_int_equal(a.calls, 2);
    helper_requests_clear(&t);
    assert_false(answer(&t, id[5], false));
    assert_int_equal(a.calls, 2);
    /* Ids keep counting up across a cleared table (HA acks "this and all before"). */
    uint64_t next;
    assert_int_equal(helper_requests_add(&t, on_reply, &a, &next), 0);
    assert_true(next > id[39]);
    helper_requests_free(&t);
}

/* An owner that sends its next request from the callback (the handover's next round). */
static void test_add_from_callback(void **state)
{
    (void)state;
    struct helper_requests t = {0};
    struct owner o = {.t = &t};
    uint64_t first;
    assert_int_equal(helper_requests_add(&t, on_reply, &o, &first), 0);
    assert_true(answer(&t, first, false));
    assert_int_equal(helper_requests_pending(&t), 1);
    o.t = NULL;
    assert_true(answer(&t, o.added, false));
    assert_int_equal(o.calls, 2);
    assert_int_equal(helper_requests_pending(&t), 0);
    helper_requests_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_to_its_owner),
        cmocka_unit_test(test_unanswered),
        cmocka_unit_test(test_add_from_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
