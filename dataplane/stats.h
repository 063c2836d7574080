/* SPDX-License-Identifier: MIT */
/*
 * stats.h — RUN_DIR/dataplane.stats, the counters file shared with controld
 * (common/counters.h). Created fresh at each start: a new file (new inode, new boot_id),
 * so a reader still holding the previous helper's file keeps its last counters.
 */
#ifndef MOAT_DP_STATS_H
#define MOAT_DP_STATS_H

#include <stddef.h>

#include "counters.h"

struct dp_stats_file {
    struct moat_dp_stats *map;
    char path[4096];
};

/* Replaces RUN_DIR/dataplane.stats with a zeroed file (mode 0640) and maps it shared. */
int stats_open(struct dp_stats_file *f, const char *run_dir);
/* Unmaps it; the file stays for readers. */
void stats_close(struct dp_stats_file *f);

#endif
