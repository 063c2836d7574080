/* SPDX-License-Identifier: MIT */
/*
 * metrics.h — the Prometheus endpoint: `GET /metrics` over HTTP on the address and port of
 * `system { services { prometheus { listen-address A; port N; } } }` (off without that
 * block). Text exposition format 0.0.4: controld's lifecycle (mode, armed, generation, helper
 * state, counters), the mirrored session count, per-interface state and shim counters, and
 * every worker counter of the helper (RUN_DIR/dataplane.stats), as `moatctl show dataplane
 * statistics` shows them. Read-only; one request per connection; at most METRICS_MAX_CLIENTS
 * at once.
 */
#ifndef MOAT_METRICS_H
#define MOAT_METRICS_H

#include "controld.h"
#include "strbuf.h"

#define METRICS_MAX_CLIENTS 16
#define METRICS_REQUEST_TIMEOUT_MS 5000

/*
 * Listens as the running configuration asks: starts, moves to a new address or port, or
 * stops the endpoint. A failed bind is logged (the firewall runs on without metrics).
 * Returns 0 or the negative errno of the failed bind.
 */
int metrics_apply(struct controld *c);
void metrics_close(void);
/* The whole exposition text (also what `GET /metrics` answers). */
void metrics_render(struct controld *c, struct strbuf *o);
/* Pieces of the text format, for other modules' metrics (HA). */
void metrics_head(struct strbuf *o, const char *name, const char *type, const char *help);
void metrics_gauge(struct strbuf *o, const char *name, const char *help, uint64_t v);
void metrics_counter(struct strbuf *o, const char *name, const char *help, uint64_t v);
void metrics_label(struct strbuf *o, const char *v);

#endif
