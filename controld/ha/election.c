/* SPDX-License-Identifier: MIT */
/* election.c — the per-group election rule (election.h). */
#include "election.h"

unsigned el_effective_priority(unsigned configured, unsigned failed_weight)
{
    return failed_weight >= configured ? 0 : configured - failed_weight;
}

unsigned el_desired(const struct el_input *in)
{
    const unsigned me = in->me, peer = 1 - in->me;
    if (!in->peer_alive)
        return me;
    if (in->manual_node == 0 || in->manual_node == 1) {
        unsigned m = (unsigned)in->manual_node;
        if (in->prio[m] > 0)
            return m;
    }
    int cur = -1;
    if (in->primary[me] && !in->primary[peer])
        cur = (int)me;
    else if (in->primary[peer] && !in->primary[me])
        cur = (int)peer;
    if (cur >= 0) {
        unsigned c = (unsigned)cur, o = 1 - c;
        if (in->prio[c] == 0 && in->prio[o] > 0)
            return o;
        if (in->preempt && in->prio[o] > in->prio[c] && in->ready[o])
            return o;
        return c;
    }
    if (in->prio[0] != in->prio[1])
        return in->prio[0] > in->prio[1] ? 0 : 1;
    return 0;
}

bool el_step(const struct el_input *in)
{
    const unsigned me = in->me, peer = 1 - in->me;
    if (el_desired(in) != me)
        return false;
    if (in->primary[me])
        return true;
    /* Take over only once the peer has stepped down (or is gone). */
    return !in->peer_alive || !in->primary[peer];
}
