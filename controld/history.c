/* SPDX-License-Identifier: MIT */
/*
 * history.c — the commit history (see history.h).
 */
#include "history.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "config_tree.h"

#define HEADER_MAGIC "# moat-commit 1\n"
#define HEADER_END "# end of moat-commit header\n"
#define HEADER_READ_MAX 4096
#define DIFF_DP_MAX_CELLS (4u << 20)

static int mkdir_one(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            int err = mkdir_one(tmp, mode);
            if (err)
                return err;
            *p = '/';
        }
    }
    return mkdir_one(tmp, mode);
}

static int commits_dir(const char *state_dir, char *buf, size_t len)
{
    if (snprintf(buf, len, "%s/commits", state_dir) >= (int)len)
        return -ENAMETOOLONG;
    return 0;
}

static int entry_path(const char *state_dir, uint64_t seq, char *buf, size_t len)
{
    if (snprintf(buf, len, "%s/commits/commit-%08" PRIu64 ".conf", state_dir, seq) >= (int)len)
        return -ENAMETOOLONG;
    return 0;
}

int history_init(const char *state_dir)
{
    char dir[PATH_MAX];
    int err = commits_dir(state_dir, dir, sizeof(dir));
    if (err)
        return err;
    err = mkdir_p(dir, 0700);
    if (err)
        return err;
    if (access(dir, W_OK | X_OK) < 0)
        return -errno;
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int history_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    /* A file replaced keeps its owner, group (e.g. group moat, for the operators who edit
     * /etc/moat/moat.conf) and mode. Only root (CAP_CHOWN) may hand a file to another owner:
     * without it the new file stays ours. */
    struct stat old;
    if (stat(path, &old) == 0) {
        if (fchown(fd, old.st_uid, old.st_gid) < 0 && errno != EPERM)
            log_warn("%s: cannot keep owner %u group %u: %s", path, (unsigned)old.st_uid,
                     (unsigned)old.st_gid, strerror(errno));
        fchmod(fd, old.st_mode & 07777);
    }
    int err = write_all(fd, data, len);
    if (!err && fsync(fd) < 0)
        err = -errno;
    if (close(fd) < 0 && !err)
        err = -errno;
    if (!err && rename(tmp, path) < 0)
        err = -errno;
    if (err) {
        unlink(tmp);
        return err;
    }
    /* The rename itself must reach the disk. */
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int history_read_file(const char *path, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int err = 0;
    for (;;) {
        if (n + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            if (ncap > (64u << 20)) {
                err = -EFBIG;
                break;
            }
            char *nb = realloc(buf, ncap);
            if (!nb) {
                err = -ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = -errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (err) {
        free(buf);
        return err;
    }
    if (!buf && !(buf = malloc(1)))
        return -ENOMEM;
    buf[n] = 0;
    *text = buf;
    *len = n;
    return 0;
}

/* Parses the header at the start of buf; returns the offset of the text, or -EBADMSG. */
static long parse_header(const char *buf, size_t len, struct history_meta *m)
{
    memset(m, 0, sizeof(*m));
    size_t ml = strlen(HEADER_MAGIC);
    if (len < ml || memcmp(buf, HEADER_MAGIC, ml) != 0)
        return -EBADMSG;
    size_t pos = ml;
    while (pos < len) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        if (!nl)
            return -EBADMSG;
        size_t ll = (size_t)(nl - line) + 1;
        if (ll == strlen(HEADER_END) && memcmp(line, HEADER_END, ll) == 0)
            return (long)(pos + ll);
        char l[512];
        size_t cl = ll - 1 < sizeof(l) - 1 ? ll - 1 : sizeof(l) - 1;
        memcpy(l, line, cl);
        l[cl] = 0;
        if (strncmp(l, "# seq: ", 7) == 0)
            m->seq = strtoull(l + 7, NULL, 10);
        else if (strncmp(l, "# time: ", 8) == 0)
            m->time = strtoll(l + 8, NULL, 10);
        else if (strncmp(l, "# uid: ", 7) == 0)
            m->uid = (uint32_t)strtoul(l + 7, NULL, 10);
        else if (strncmp(l, "# via: ", 7) == 0)
            snprintf(m->via, sizeof(m->via), "%.*s", (int)sizeof(m->via) - 1, l + 7);
        else if (strncmp(l, "# comment: ", 11) == 0)
            snprintf(m->comment, sizeof(m->comment), "%.*s", (int)sizeof(m->comment) - 1, l + 11);
        pos += ll;
    }
    return -EBADMSG;
}

static int read_header(const char *path, struct history_meta *m)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[HEADER_READ_MAX];
    size_t n = 0;
    while (n < sizeof(buf)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    return parse_header(buf, n, m) < 0 ? -EBADMSG : 0;
}

static int cmp_seq_desc(const void *a, const void *b)
{
    const struct history_meta *x = a, *y = b;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

int history_list(const char *state_dir, struct history_meta **out, unsigned *n_out)
{
    char dir[PATH_MAX];
    *out = NULL;
    *n_out = 0;
    int err = commits_dir(state_dir, dir, sizeof(dir));
    if (err)
        return err;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct history_meta *v = NULL;
    unsigned n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t seq;
        char tail[8];
        if (sscanf(de->d_name, "commit-%" SCNu64 ".%7s", &seq, tail) != 2 ||
            strcmp(tail, "conf") != 0)
            continue;
        char path[PATH_MAX];
        if (entry_path(state_dir, seq, path, sizeof(path)) < 0)
            continue;
        struct history_meta m;
        if (read_header(path, &m) < 0)
            continue; /* not ours, or damaged: skipped rather than trusted */
        m.seq = seq;  /* the name is authoritative */
        if (n == cap) {
            unsigned ncap = cap ? cap * 2 : 64;
            struct history_meta *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
            cap = ncap;
        }
        v[n++] = m;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_seq_desc);
    *out = v;
    *n_out = n;
    return 0;
}

static void one_line(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
    for (char *p = dst; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
}

int history_save(const char *state_dir, const char *text, size_t len, struct history_meta *meta,
                 unsigned keep)
{
    int err = history_init(state_dir);
    if (err)
        return err;
    struct history_meta *v;
    unsigned n;
    if ((err = history_list(state_dir, &v, &n)) < 0)
        return err;
    meta->seq = n ? v[0].seq + 1 : 1;
    free(v);
    char via[sizeof(meta->via)], comment[sizeof(meta->comment)];
    one_line(via, sizeof(via), meta->via);
    one_line(comment, sizeof(comment), meta->comment);
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f)
        return -ENOMEM;
    fprintf(f,
            HEADER_MAGIC "# seq: %" PRIu64 "\n# time: %" PRId64 "\n# uid: %u\n# via: %s\n"
                         "# comment: %s\n" HEADER_END,
            meta->seq, meta->time, meta->uid, via, comment);
    fwrite(text, 1, len, f);
    if (len && text[len - 1] != '\n')
        fputc('\n', f);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    char path[PATH_MAX];
    err = entry_path(state_dir, meta->seq, path, sizeof(path));
    if (!err)
        err = history_write_atomic(path, buf, blen, 0600);
    free(buf);
    if (err)
        return err;
    /* Rotation: the newest `keep` stay. */
    if (keep && history_list(state_dir, &v, &n) == 0) {
        for (unsigned i = keep; i < n; i++)
            history_remove(state_dir, v[i].seq);
        free(v);
    }
    return 0;
}

int history_load(const char *state_dir, unsigned idx, char **text, size_t *len,
                 struct history_meta *meta)
{
    *text = NULL;
    *len = 0;
    struct history_meta *v;
    unsigned n;
    int err = history_list(state_dir, &v, &n);
    if (err)
        return err;
    if (idx >= n) {
        free(v);
        return -ENOENT;
    }
    uint64_t seq = v[idx].seq;
    free(v);
    char path[PATH_MAX];
    if ((err = entry_path(state_dir, seq, path, sizeof(path))) < 0)
        return err;
    char *buf;
    size_t blen;
    if ((err = history_read_file(path, &buf, &blen)) < 0)
        return err;
    struct history_meta m;
    long off = parse_header(buf, blen, &m);
    if (off < 0) {
        free(buf);
        return -EBADMSG;
    }
    m.seq = seq;
    memmove(buf, buf + off, blen - (size_t)off + 1);
    *text = buf;
    *len = blen - (size_t)off;
    if (meta)
        *meta = m;
    return 0;
}

int history_remove(const char *state_dir, uint64_t seq)
{
    char path[PATH_MAX];
    int err = entry_path(state_dir, seq, path, sizeof(path));
    if (err)
        return err;
    if (unlink(path) < 0)
        return -errno;
    return 0;
}

/* ---- set lines and their diff ---- */

void history_free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

int history_set_lines(const char *text, size_t len, const char *name, char ***lines_out,
                      size_t *n_out, char *msg, size_t msglen)
{
    *lines_out = NULL;
    *n_out = 0;
    struct config_tree *t;
    struct config_error cerr;
    int err = config_tree_parse(text, len, name, &t, &cerr);
    if (err) {
        if (msg)
            config_error_format(&cerr, msg, msglen);
        return err;
    }
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f) {
        config_tree_free(t);
        return -ENOMEM;
    }
    config_tree_print_set(t, f);
    config_tree_free(t);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    char **lines = NULL;
    size_t n = 0, cap = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 128;
            char **nl = realloc(lines, ncap * sizeof(*nl));
            if (!nl)
                goto oom;
            lines = nl;
            cap = ncap;
        }
        if (!(lines[n] = strdup(l)))
            goto oom;
        n++;
    }
    free(buf);
    *lines_out = lines;
    *n_out = n;
    return 0;
oom:
    free(buf);
    history_free_lines(lines, n);
    return -ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool in_sorted(char **sorted, size_t n, const char *s)
{
    return n && bsearch(&s, sorted, n, sizeof(*sorted), cmp_str) != NULL;
}

/* Too big for the LCS table: lines missing on the other side, in their own order. */
static size_t diff_unordered(char *const *a, size_t na, char *const *b, size_t nb,
                             struct strbuf *out)
{
    char **sa = malloc((na ? na : 1) * sizeof(*sa));
    char **sb = malloc((nb ? nb : 1) * sizeof(*sb));
    size_t changed = 0;
    if (!sa || !sb) {
        free(sa);
        free(sb);
        strbuf_printf(out, "(out of memory comparing the configurations)\n");
        return 0;
    }
    memcpy(sa, a, na * sizeof(*sa));
    memcpy(sb, b, nb * sizeof(*sb));
    qsort(sa, na, sizeof(*sa), cmp_str);
    qsort(sb, nb, sizeof(*sb), cmp_str);
    for (size_t i = 0; i < na; i++) {
        if (!in_sorted(sb, nb, a[i])) {
            strbuf_printf(out, "- %s\n", a[i]);
            changed++;
        }
    }
    for (size_t i = 0; i < nb; i++) {
        if (!in_sorted(sa, na, b[i])) {
            strbuf_printf(out, "+ %s\n", b[i]);
            changed++;
        }
    }
    free(sa);
    free(sb);
    return changed;
}

size_t history_diff_lines(char *const *a, size_t na, char *const *b, size_t nb, struct strbuf *out)
{
    /* Common head and tail need no table. */
    size_t pre = 0;
    while (pre < na && pre < nb && strcmp(a[pre], b[pre]) == 0)
        pre++;
    size_t suf = 0;
    while (suf < na - pre && suf < nb - pre && strcmp(a[na - 1 - suf], b[nb - 1 - suf]) == 0)
        suf++;
    char *const *ma = a + pre;
    char *const *mb = b + pre;
    size_t n = na - pre - suf, m = nb - pre - suf;
    if (n == 0 && m == 0)
        return 0;
    if ((n + 1) * (m + 1) > DIFF_DP_MAX_CELLS)
        return diff_unordered(ma, n, mb, m, out);
    /* L[i][j] = LCS length of ma[i..] and mb[j..]. */
    uint32_t *L = calloc((n + 1) * (m + 1), sizeof(*L));
    if (!L)
        return diff_unordered(ma, n, mb, m, out);
#define AT(i, j) L[(i) * (m + 1) + (j)]
    for (size_t i = n; i-- > 0;) {
        for (size_t j = m; j-- > 0;) {
            if (strcmp(ma[i], mb[j]) == 0)
                AT(i, j) = AT(i + 1, j + 1) + 1;
            else
                AT(i, j) = AT(i + 1, j) >= AT(i, j + 1) ? AT(i + 1, j) : AT(i, j + 1);
        }
    }
    size_t i = 0, j = 0, changed = 0;
    while (i < n || j < m) {
        if (i < n && j < m && strcmp(ma[i], mb[j]) == 0) {
            i++;
            j++;
        } else if (i < n && (j == m || AT(i + 1, j) >= AT(i, j + 1))) {
            /* On a tie the removal comes first: "- old" then "+ new". */
            strbuf_printf(out, "- %s\n", ma[i++]);
            changed++;
        } else {
            strbuf_printf(out, "+ %s\n", mb[j++]);
            changed++;
        }
    }
#undef AT
    free(L);
    return changed;
}
