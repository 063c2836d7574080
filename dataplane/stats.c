/* SPDX-License-Identifier: MIT */
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static uint64_t random_boot_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id) || id == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        id = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    }
    return id;
}

int stats_open(struct dp_stats_file *f, const char *run_dir)
{
    memset(f, 0, sizeof(*f));
    int n = snprintf(f->path, sizeof(f->path), "%s/%s", run_dir, MOAT_STATS_FILE);
    if (n < 0 || (size_t)n >= sizeof(f->path))
        return -ENAMETOOLONG;
    char tmp[sizeof(f->path) + 16];
    snprintf(tmp, sizeof(tmp), "%s.%d", f->path, (int)getpid());
    unlink(tmp);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    int err = 0;
    if (ftruncate(fd, sizeof(struct moat_dp_stats)) != 0) {
        err = -errno;
        goto fail;
    }
    void *map = mmap(NULL, sizeof(struct moat_dp_stats), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        err = -errno;
        goto fail;
    }
    struct moat_dp_stats *s = map;
    s->version = MOAT_STATS_VERSION;
    s->boot_id = random_boot_id();
    s->pid = (uint32_t)getpid();
    s->nworkers = 0;
    s->generation = 0;
    /* The magic last: a reader that sees it sees a filled header. */
    __atomic_store_n(&s->magic, MOAT_STATS_MAGIC, __ATOMIC_RELEASE);
    /* Atomically replace the previous helper's file. */
    if (rename(tmp, f->path) != 0) {
        err = -errno;
        munmap(map, sizeof(struct moat_dp_stats));
        goto fail;
    }
    close(fd);
    f->map = s;
    return 0;
fail:
    close(fd);
    unlink(tmp);
    return err;
}

void stats_close(struct dp_stats_file *f)
{
    if (f->map)
        munmap(f->map, sizeof(struct moat_dp_stats));
    f->map = NULL;
}
