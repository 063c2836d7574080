/* SPDX-License-Identifier: MIT */
/*
 * operator.h — the moatctl socket (RUN_DIR/control.sock, mode 0660, group moat).
 * One OpRequest per connection, answered by one OpReply. Peers are checked with
 * SO_PEERCRED: root, controld's own user, or a member of group "moat".
 */
#ifndef MOAT_OPERATOR_H
#define MOAT_OPERATOR_H

#include "controld.h"

int operator_listen(struct controld *c, struct operator_server **out);
void operator_close(struct operator_server *op);

#endif
