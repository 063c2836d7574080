/* SPDX-License-Identifier: MIT */
/*
 * sdnotify.h — systemd's notify protocol for controld (packaging/moat-controld.service is
 * Type=notify): READY=1 once start-up is done, STATUS= lines as the lifecycle moves, and
 * WATCHDOG=1 pings from a libuv timer when systemd set WATCHDOG_USEC (so a stuck loop gets
 * controld restarted). Without NOTIFY_SOCKET (not under systemd) every call is a no-op.
 */
#ifndef MOAT_SDNOTIFY_H
#define MOAT_SDNOTIFY_H

#include "controld.h"

/*
 * Start-up finished (lifecycle_start returned 0): sends READY=1 and the first STATUS=, and
 * starts the timer that sends WATCHDOG=1 (every half of WATCHDOG_USEC) and a new STATUS=
 * whenever the status line changes.
 */
void sdnotify_ready(struct controld *c);
/* Stopping: STOPPING=1, stops the timer. */
void sdnotify_stopping(struct controld *c);
/* The status line systemctl status shows ("mode userspace, running, armed, ..."). */
void sdnotify_status_line(const struct controld *c, char *buf, size_t len);

#endif
