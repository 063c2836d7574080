// SPDX-License-Identifier: MIT
/*
 * bootstrap.c — loads shim.bpf.o with libbpf, pins its maps and programs under the bpffs
 * directory, fills the bootstrap maps and attaches the shim with bpf_xdp_attach().
 */
#include "bootstrap.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>

#include "config.h"
#include "log.h"
#include "pins.h"

#define SHIM_OBJECT "shim.bpf.o"
#define PROBE_PROG "xdp_xsk_probe"
#define PROBE_SLOT_MAP "moat_probe_slot"
#define CPUMAP_QSIZE 2048
#define CPU_ONLINE_FILE "/sys/devices/system/cpu/online"
#define PORT_RANGE_FILE "/proc/sys/net/ipv4/ip_local_port_range"
/* Host-inbound settings remembered per ifindex (interfaces not yet attached included). */
#define MAX_HOST_INBOUND (2 * MOAT_MAX_IFACES)

/* The shim reads the config's bits as they are: the two enumerations must agree. */
_Static_assert(MOAT_HI_SVC_PING == CFG_SVC_PING && MOAT_HI_SVC_SSH == CFG_SVC_SSH &&
                   MOAT_HI_SVC_TELNET == CFG_SVC_TELNET && MOAT_HI_SVC_HTTP == CFG_SVC_HTTP &&
                   MOAT_HI_SVC_HTTPS == CFG_SVC_HTTPS && MOAT_HI_SVC_DNS == CFG_SVC_DNS &&
                   MOAT_HI_SVC_DHCP == CFG_SVC_DHCP && MOAT_HI_SVC_DHCPV6 == CFG_SVC_DHCPV6 &&
                   MOAT_HI_SVC_NTP == CFG_SVC_NTP && MOAT_HI_SVC_SNMP == CFG_SVC_SNMP &&
                   MOAT_HI_SVC_TRACEROUTE == CFG_SVC_TRACEROUTE && MOAT_HI_SVC_IKE == CFG_SVC_IKE &&
                   MOAT_HI_SVC_NETCONF == CFG_SVC_NETCONF && MOAT_HI_SVC_FTP == CFG_SVC_FTP &&
                   MOAT_HI_SVC_ALL == CFG_SVC_ALL,
               "MOAT_HI_SVC_* (bpf/maps.h) differ from CFG_SVC_* (config.h)");
_Static_assert(MOAT_HI_PROTO_BGP == CFG_HPROTO_BGP && MOAT_HI_PROTO_OSPF == CFG_HPROTO_OSPF &&
                   MOAT_HI_PROTO_OSPF3 == CFG_HPROTO_OSPF3 && MOAT_HI_PROTO_RIP == CFG_HPROTO_RIP &&
                   MOAT_HI_PROTO_RIPNG == CFG_HPROTO_RIPNG &&
                   MOAT_HI_PROTO_VRRP == CFG_HPROTO_VRRP && MOAT_HI_PROTO_BFD == CFG_HPROTO_BFD &&
                   MOAT_HI_PROTO_PIM == CFG_HPROTO_PIM &&
                   MOAT_HI_PROTO_ROUTER_DISCOVERY == CFG_HPROTO_ROUTER_DISCOVERY &&
                   MOAT_HI_PROTO_ALL == CFG_HPROTO_ALL,
               "MOAT_HI_PROTO_* (bpf/maps.h) differ from CFG_HPROTO_* (config.h)");

struct attached_iface {
    uint32_t ifindex;
    enum xdp_attach_mode mode;
};

/* What bootstrap_set_host_inbound was last told for one ifindex. */
struct host_inbound {
    uint32_t ifindex;
    uint32_t zone_id;
    uint32_t services;
    uint32_t protocols;
    bool zoned;
};

struct bootstrap {
    struct bpf_object *obj;
    int shim_fd;
    int probe_fd;
    int ifaces_fd;
    int xsks_fd;
    int local_fd;
    int nat_local_fd;
    int cpumap_fd;
    int stats_fd;
    int ctrl_fd;
    int probe_slot_fd;
    int divert_fd;
    char bpffs_dir[PATH_MAX];
    struct attached_iface att[MOAT_MAX_IFACES];
    unsigned natt;
    struct host_inbound hi[MAX_HOST_INBOUND];
    unsigned nhi;
};

static int fail(char *errbuf, size_t errlen, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *errbuf, size_t errlen, int err, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return err;
}

const char *xdp_attach_mode_name(enum xdp_attach_mode mode)
{
    switch (mode) {
    case MOAT_XDP_NATIVE:
        return "native";
    case MOAT_XDP_GENERIC:
        return "generic";
    default:
        return "none";
    }
}

static const char *ifname_of(uint32_t ifindex, char *buf)
{
    if (!if_indextoname(ifindex, buf))
        snprintf(buf, IF_NAMESIZE, "?");
    return buf;
}

/* mkdir -p: creates every missing component of dir. */
static int mkdir_p(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -errno;
        path[i] = saved;
    }
    return 0;
}

static int prepare_bpffs(const char *dir, char *errbuf, size_t errlen)
{
    struct statfs fs;
    struct stat st;
    int err = mkdir_p(dir);

    if (err)
        return fail(errbuf, errlen, err, "creating the bpffs directory %s failed: %s", dir,
                    strerror(-err));
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return fail(errbuf, errlen, -ENOTDIR, "%s is not a directory: pass a bpffs directory", dir);
    if (statfs(dir, &fs) < 0)
        return fail(errbuf, errlen, -errno, "statfs(%s) failed: %s", dir, strerror(errno));
    if ((unsigned long)fs.f_type != (unsigned long)BPF_FS_MAGIC)
        return fail(errbuf, errlen, -EINVAL,
                    "%s is not a bpf filesystem: mount -t bpf bpf %s (or pass a directory on "
                    "one)",
                    dir, dir);
    return 0;
}

static int map_fd(struct bootstrap *b, const char *name, char *errbuf, size_t errlen)
{
    int fd = bpf_object__find_map_fd_by_name(b->obj, name);

    if (fd < 0)
        return fail(errbuf, errlen, -ENOENT,
                    "map %s is missing from " SHIM_OBJECT ": the object does not match this "
                    "controld, rebuild both",
                    name);
    return fd;
}

static int pin_program(struct bootstrap *b, const char *name, char *errbuf, size_t errlen)
{
    struct bpf_program *prog = bpf_object__find_program_by_name(b->obj, name);
    char path[PATH_MAX];
    int err;

    if (!prog)
        return fail(errbuf, errlen, -ENOENT, "program %s is missing from " SHIM_OBJECT, name);
    if (snprintf(path, sizeof(path), "%s/%s", b->bpffs_dir, name) >= (int)sizeof(path))
        return fail(errbuf, errlen, -ENAMETOOLONG, "pin path %s/%s is too long", b->bpffs_dir,
                    name);
    /* A previous controld's pin: the program stays alive while it is attached. */
    if (unlink(path) < 0 && errno != ENOENT)
        return fail(errbuf, errlen, -errno, "removing the old pin %s failed: %s", path,
                    strerror(errno));
    err = bpf_program__pin(prog, path);
    if (err)
        return fail(errbuf, errlen, err, "pinning program %s at %s failed: %s", name, path,
                    strerror(-err));
    return 0;
}

/* A fresh controld never inherits an armed interface: clear ARMED/USERSPACE everywhere. */
static int disarm_all(struct bootstrap *b, char *errbuf, size_t errlen)
{
    uint32_t key, next;
    uint32_t *prev = NULL;

    while (bpf_map_get_next_key(b->ifaces_fd, prev, &next) == 0) {
        struct moat_iface val;

        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(b->ifaces_fd, &key, &val) < 0)
            continue; /* deleted meanwhile */
        if (!(val.flags & (MOAT_IF_ARMED | MOAT_IF_USERSPACE)))
            continue;
        val.flags &= ~(uint32_t)(MOAT_IF_ARMED | MOAT_IF_USERSPACE);
        if (bpf_map_update_elem(b->ifaces_fd, &key, &val, BPF_EXIST) < 0)
            return fail(errbuf, errlen, -errno,
                        "disarming ifindex %u in " MOAT_MAP_IFACES " failed: %s", key,
                        strerror(errno));
    }
    return 0;
}

/* Parses a CPU list such as "0-3,8,10-11" into a bitmap of MOAT_MAX_CPUS bits. */
static int parse_cpu_list(const char *s, uint8_t *set, unsigned *max_cpu)
{
    *max_cpu = 0;
    while (*s && *s != '\n') {
        char *end;
        unsigned long lo = strtoul(s, &end, 10), hi;

        if (end == s)
            return -EINVAL;
        hi = lo;
        if (*end == '-') {
            s = end + 1;
            hi = strtoul(s, &end, 10);
            if (end == s || hi < lo)
                return -EINVAL;
        }
        for (unsigned long c = lo; c <= hi && c < MOAT_MAX_CPUS; c++) {
            set[c / 8] |= (uint8_t)(1u << (c % 8));
            if (c + 1 > *max_cpu)
                *max_cpu = (unsigned)c + 1;
        }
        s = end;
        if (*s == ',')
            s++;
        else if (*s && *s != '\n')
            return -EINVAL;
    }
    return *max_cpu ? 0 : -EINVAL;
}

/*
 * Fills moat_cpumap for every online CPU and returns the number of keys covered (highest
 * online CPU + 1), or a negative errno if the kernel refused; *why says what failed.
 */
static int fill_cpumap(struct bootstrap *b, char *why, size_t whylen)
{
    uint8_t set[MOAT_MAX_CPUS / 8] = {0};
    char line[512];
    unsigned ncpus;
    FILE *f = fopen(CPU_ONLINE_FILE, "r");
    int err;

    if (!f) {
        err = -errno;
        snprintf(why, whylen, "can't read " CPU_ONLINE_FILE ": %s", strerror(errno));
        return err;
    }
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        snprintf(why, whylen, CPU_ONLINE_FILE " is empty");
        return -EIO;
    }
    fclose(f);
    err = parse_cpu_list(line, set, &ncpus);
    if (err) {
        snprintf(why, whylen, "can't parse " CPU_ONLINE_FILE " (\"%.64s\")", line);
        return err;
    }
    for (uint32_t cpu = 0; cpu < ncpus; cpu++) {
        struct bpf_cpumap_val val = {.qsize = CPUMAP_QSIZE};

        if (!(set[cpu / 8] & (1u << (cpu % 8))))
            continue;
        val.bpf_prog.fd = 0; /* no program on the remote CPU: build the skb and pass it */
        if (bpf_map_update_elem(b->cpumap_fd, &cpu, &val, BPF_ANY) < 0) {
            err = -errno;
            snprintf(why, whylen, "the kernel refused the " MOAT_MAP_CPUMAP " entry of CPU %u: %s",
                     cpu, strerror(errno));
            return err;
        }
    }
    return (int)ncpus;
}

/*
 * The ephemeral ports of this network namespace (net.ipv4.ip_local_port_range), where the
 * box's own clients receive their replies; the kernel's default if they can't be read.
 */
static void read_ephemeral_range(uint32_t *lo, uint32_t *hi)
{
    unsigned a = 0, b = 0;
    FILE *f = fopen(PORT_RANGE_FILE, "r");
    bool opened = f != NULL;
    int n = opened ? fscanf(f, "%u %u", &a, &b) : -1;

    if (opened)
        fclose(f);
    if (n == 2 && a >= 1 && a <= b && b <= 65535) {
        *lo = a;
        *hi = b;
        return;
    }
    *lo = MOAT_EPHEMERAL_LO;
    *hi = MOAT_EPHEMERAL_HI;
    log_warn("can't read " PORT_RANGE_FILE "%s; the shim takes UDP to %u-%u as replies to "
             "the box's own clients",
             opened ? " (unexpected contents)" : "", *lo, *hi);
}

static int init_ctrl(struct bootstrap *b, char *errbuf, size_t errlen)
{
    struct moat_ctrl ctrl = {0};
    uint32_t zero = 0;
    char why[256] = "";
    int n = fill_cpumap(b, why, sizeof(why));

    read_ephemeral_range(&ctrl.ephemeral_lo, &ctrl.ephemeral_hi);

    if (n > 0) {
        ctrl.flags |= MOAT_CTRL_F_CPUMAP;
        ctrl.ncpus = (uint32_t)n;
    } else {
        log_warn("cpumap disabled: %s; host-bound traffic goes to the kernel with XDP_PASS "
                 "on the receiving CPU",
                 why);
    }
    if (bpf_map_update_elem(b->ctrl_fd, &zero, &ctrl, BPF_ANY) < 0)
        return fail(errbuf, errlen, -errno, "writing " MOAT_MAP_CTRL " failed: %s",
                    strerror(errno));
    return 0;
}

/* Programs this controld loaded, by id: their names are known without CAP_SYS_ADMIN, which
 * bpf_prog_get_fd_by_id() needs and controld gives up after start-up (main.c). */
static struct {
    uint32_t id;
    char name[BPF_OBJ_NAME_LEN];
} known_progs[8];
static unsigned known_next;

static uint32_t prog_id_of(int fd)
{
    struct bpf_prog_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

static void remember_prog(int fd)
{
    struct bpf_prog_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
        return;
    for (unsigned i = 0; i < sizeof(known_progs) / sizeof(known_progs[0]); i++)
        if (known_progs[i].id == info.id)
            return;
    unsigned i = known_next++ % (sizeof(known_progs) / sizeof(known_progs[0]));
    known_progs[i].id = info.id;
    snprintf(known_progs[i].name, sizeof(known_progs[i].name), "%s", info.name);
}

int bootstrap_open(struct bootstrap **out, const char *bpf_dir, const char *bpffs_dir, char *errbuf,
                   size_t errlen)
{
    char path[PATH_MAX];
    struct bootstrap *b;
    int err;

    if (!out || !bpf_dir || !bpffs_dir)
        return fail(errbuf, errlen, -EINVAL, "bootstrap_open: missing argument");
    *out = NULL;
    if (snprintf(path, sizeof(path), "%s/" SHIM_OBJECT, bpf_dir) >= (int)sizeof(path))
        return fail(errbuf, errlen, -ENAMETOOLONG, "BPF directory path %s is too long", bpf_dir);
    if (access(path, R_OK) < 0)
        return fail(errbuf, errlen, -errno,
                    "can't read the shim object %s: %s; build the bpf_objects target or pass "
                    "the directory that holds " SHIM_OBJECT,
                    path, strerror(errno));
    err = prepare_bpffs(bpffs_dir, errbuf, errlen);
    if (err)
        return err;

    b = calloc(1, sizeof(*b));
    if (!b)
        return fail(errbuf, errlen, -ENOMEM, "out of memory");
    snprintf(b->bpffs_dir, sizeof(b->bpffs_dir), "%s", bpffs_dir);

    LIBBPF_OPTS(bpf_object_open_opts, oopts, .pin_root_path = b->bpffs_dir);
    b->obj = bpf_object__open_file(path, &oopts);
    if (!b->obj) {
        err = -errno;
        fail(errbuf, errlen, err, "opening %s failed: %s; is it a BPF object built for Moat?", path,
             strerror(-err));
        free(b);
        return err;
    }
    err = pins_replace_incompatible(b->obj, NULL, errbuf, errlen);
    if (err < 0)
        goto out_close;
    err = bpf_object__load(b->obj);
    if (err) {
        fail(errbuf, errlen, err,
             "loading %s failed: %s; see libbpf's log above (verifier output). If it reports "
             "a pinned map mismatch, %s holds maps of an incompatible Moat: remove them "
             "(rm %s/moat_*) and retry",
             path, strerror(-err), bpffs_dir, bpffs_dir);
        goto out_close;
    }

    b->shim_fd = bpf_program__fd(bpf_object__find_program_by_name(b->obj, MOAT_PROG_SHIM));
    b->probe_fd = bpf_program__fd(bpf_object__find_program_by_name(b->obj, PROBE_PROG));
    if (b->shim_fd < 0 || b->probe_fd < 0) {
        err = fail(errbuf, errlen, -ENOENT,
                   "%s lacks program " MOAT_PROG_SHIM " or " PROBE_PROG ": rebuild it", path);
        goto out_close;
    }
    remember_prog(b->shim_fd);
    struct {
        int *fd;
        const char *name;
    } maps[] = {
        {&b->ifaces_fd, MOAT_MAP_IFACES},    {&b->xsks_fd, MOAT_MAP_XSKS},
        {&b->local_fd, MOAT_MAP_LOCAL},      {&b->cpumap_fd, MOAT_MAP_CPUMAP},
        {&b->stats_fd, MOAT_MAP_SHIM_STATS}, {&b->ctrl_fd, MOAT_MAP_CTRL},
        {&b->probe_slot_fd, PROBE_SLOT_MAP}, {&b->nat_local_fd, MOAT_MAP_NAT_LOCAL},
        {&b->divert_fd, MOAT_MAP_LG_DIVERT},
    };
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
        int fd = map_fd(b, maps[i].name, errbuf, errlen);
        if (fd < 0) {
            err = fd;
            goto out_close;
        }
        *maps[i].fd = fd;
    }

    /* The previous controld's shim may still be running on these maps: disarm first. */
    err = disarm_all(b, errbuf, errlen);
    if (err)
        goto out_close;
    err = init_ctrl(b, errbuf, errlen);
    if (err)
        goto out_close;
    err = pin_program(b, MOAT_PROG_SHIM, errbuf, errlen);
    if (!err)
        err = pin_program(b, PROBE_PROG, errbuf, errlen);
    if (err)
        goto out_close;

    *out = b;
    return 0;

out_close:
    bpf_object__close(b->obj);
    free(b);
    return err;
}

static struct attached_iface *find_attached(struct bootstrap *b, uint32_t ifindex)
{
    for (unsigned i = 0; i < b->natt; i++)
        if (b->att[i].ifindex == ifindex)
            return &b->att[i];
    return NULL;
}

/*
 * Makes slot free for ifindex: an interface this controld attached that holds it is a
 * conflict (-EEXIST, *owner set); an entry a previous controld left (an interface since
 * renumbered, or given another slot by the new config) is removed.
 */
static int claim_slot(struct bootstrap *b, uint32_t slot, uint32_t ifindex, uint32_t *owner)
{
    uint32_t keys[MOAT_MAX_IFACES];
    uint32_t key, next, *prev = NULL;
    unsigned n = 0;

    *owner = 0;
    while (n < MOAT_MAX_IFACES && bpf_map_get_next_key(b->ifaces_fd, prev, &next) == 0) {
        struct moat_iface val;

        key = next;
        prev = &key;
        if (key != ifindex && bpf_map_lookup_elem(b->ifaces_fd, &key, &val) == 0 &&
            val.slot == slot)
            keys[n++] = key;
    }
    for (unsigned i = 0; i < n; i++) {
        if (find_attached(b, keys[i])) {
            *owner = keys[i];
            return -EEXIST;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        char name[IF_NAMESIZE];

        log_info("slot %u: dropping the stale " MOAT_MAP_IFACES " entry of ifindex %u (%s) "
                 "left by a previous controld",
                 slot, keys[i], ifname_of(keys[i], name));
        if (bpf_map_delete_elem(b->ifaces_fd, &keys[i]) < 0 && errno != ENOENT)
            return -errno;
    }
    return 0;
}

/*
 * Attaches in one mode. A program attached in the other mode has to go first: the kernel
 * refuses native and generic programs side by side, and checks that before it asks the
 * driver, so whether this mode works can't be learnt with the other program in place.
 * That program is held by an fd across the attempt and put back if the attempt fails: a
 * failed attach leaves the interface as it was (short of the moment between the two).
 */
static int xdp_attach_mode(struct bootstrap *b, uint32_t ifindex, bool native)
{
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    uint32_t mode = native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
    uint32_t other = native ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
    uint32_t other_id = 0;
    int other_fd = -1, err;
    char name[IF_NAMESIZE];

    if (bpf_xdp_query((int)ifindex, 0, &q) == 0)
        other_id = native ? q.skb_prog_id : q.drv_prog_id;
    if (other_id) {
        /* Without a reference, detaching could free it and it could not come back. */
        other_fd = bpf_prog_get_fd_by_id(other_id);
        /* Without CAP_SYS_ADMIN (after start-up): our own shim we hold already. */
        if (other_fd < 0 && errno == EPERM && other_id == prog_id_of(b->shim_fd))
            other_fd = dup(b->shim_fd);
        if (other_fd < 0)
            return -errno;
        err = bpf_xdp_detach((int)ifindex, other, NULL);
        if (err) {
            close(other_fd);
            return err;
        }
    }
    /* No XDP_FLAGS_UPDATE_IF_NOEXIST: a program already in this mode is replaced. */
    err = bpf_xdp_attach((int)ifindex, b->shim_fd, mode, NULL);
    if (err && other_fd >= 0) {
        int rerr =
            bpf_xdp_attach((int)ifindex, other_fd, other | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
        if (rerr)
            log_err("%s: putting back XDP program %u (%s mode) after the failed %s attach "
                    "failed: %s; the interface has no XDP program now",
                    ifname_of(ifindex, name), other_id, native ? "generic" : "native",
                    native ? "native" : "generic", strerror(-rerr));
        else
            log_info("%s: %s attach failed (%s); XDP program %u is back in %s mode",
                     ifname_of(ifindex, name), native ? "native" : "generic", strerror(-err),
                     other_id, native ? "generic" : "native");
    }
    if (other_fd >= 0)
        close(other_fd);
    return err;
}

static struct host_inbound *find_host_inbound(struct bootstrap *b, uint32_t ifindex)
{
    for (unsigned i = 0; i < b->nhi; i++)
        if (b->hi[i].ifindex == ifindex)
            return &b->hi[i];
    return NULL;
}

/* Writes a remembered host-inbound setting into an moat_ifaces value. */
static void apply_host_inbound(struct moat_iface *val, const struct host_inbound *h)
{
    val->zone_id = h->zone_id;
    val->host_inbound = h->services;
    val->host_protocols = h->protocols;
    if (h->zoned)
        val->flags |= MOAT_IF_ZONED;
    else
        val->flags &= ~(uint32_t)MOAT_IF_ZONED;
}

int bootstrap_attach(struct bootstrap *b, uint32_t ifindex, uint32_t slot, uint32_t zone_id,
                     bool native_only, enum xdp_attach_mode *mode, char *errbuf, size_t errlen)
{
    char name[IF_NAMESIZE];
    struct moat_iface val = {0}, old;
    struct attached_iface *a;
    const struct host_inbound *h;
    bool had_entry;
    uint32_t owner;
    int err, err_native, err_generic = 0;

    if (!b || !mode)
        return fail(errbuf, errlen, -EINVAL, "bootstrap_attach: missing argument");
    *mode = MOAT_XDP_NONE;
    if (slot >= MOAT_MAX_IFACES)
        return fail(errbuf, errlen, -ERANGE, "slot %u for ifindex %u is out of range (max %u)",
                    slot, ifindex, MOAT_MAX_IFACES - 1);
    if (ifindex == 0 || !if_indextoname(ifindex, name))
        return fail(errbuf, errlen, -ENODEV, "ifindex %u does not exist in this network namespace",
                    ifindex);
    a = find_attached(b, ifindex);
    if (!a && b->natt >= MOAT_MAX_IFACES)
        return fail(errbuf, errlen, -ENOSPC, "already attached to %u interfaces, the maximum",
                    MOAT_MAX_IFACES);
    err = claim_slot(b, slot, ifindex, &owner);
    if (err == -EEXIST)
        return fail(errbuf, errlen, err,
                    "slot %u is already used by ifindex %u: give %s (ifindex %u) its own slot",
                    slot, owner, name, ifindex);
    if (err)
        return fail(errbuf, errlen, err, "freeing slot %u in " MOAT_MAP_IFACES " for %s failed: %s",
                    slot, name, strerror(-err));

    /*
     * The entry goes in first, so the shim's first packets on it are not "unmanaged", and
     * with its host-inbound filter, so a zoned interface never runs without it.
     */
    had_entry = bpf_map_lookup_elem(b->ifaces_fd, &ifindex, &old) == 0;
    val.slot = slot;
    val.flags = MOAT_IF_MANAGED;
    val.zone_id = zone_id;
    if ((h = find_host_inbound(b, ifindex))) {
        apply_host_inbound(&val, h);
    } else if (had_entry) {
        /* A previous controld's filter stays until this one says otherwise. */
        val.zone_id = old.zone_id;
        val.host_inbound = old.host_inbound;
        val.host_protocols = old.host_protocols;
        val.flags |= old.flags & MOAT_IF_ZONED;
    }
    /* HA standby stays until the election says otherwise (a restarted controld). */
    if (had_entry)
        val.flags |= old.flags & MOAT_IF_STANDBY;
    if (bpf_map_update_elem(b->ifaces_fd, &ifindex, &val, BPF_ANY) < 0)
        return fail(errbuf, errlen, -errno, "writing " MOAT_MAP_IFACES "[%u] for %s failed: %s",
                    ifindex, name, strerror(errno));

    err_native = xdp_attach_mode(b, ifindex, true);
    if (!err_native) {
        *mode = MOAT_XDP_NATIVE;
    } else if (!native_only) {
        err_generic = xdp_attach_mode(b, ifindex, false);
        if (!err_generic)
            *mode = MOAT_XDP_GENERIC;
    }
    if (*mode == MOAT_XDP_NONE) {
        if (had_entry)
            bpf_map_update_elem(b->ifaces_fd, &ifindex, &old, BPF_ANY);
        else
            bpf_map_delete_elem(b->ifaces_fd, &ifindex);
        if (native_only)
            return fail(errbuf, errlen, err_native,
                        "attaching " MOAT_PROG_SHIM " to %s (ifindex %u) in native mode failed: "
                        "%s; the driver may lack native XDP: allow generic mode or use legacy",
                        name, ifindex, strerror(-err_native));
        err = err_generic;
        return fail(errbuf, errlen, err,
                    "attaching " MOAT_PROG_SHIM " to %s (ifindex %u) failed: native mode: %s, "
                    "generic mode: %s; check that no bpf_link holds the interface "
                    "(bpftool net show dev %s)",
                    name, ifindex, strerror(-err_native), strerror(-err_generic), name);
    }
    if (!a) {
        a = &b->att[b->natt++];
        a->ifindex = ifindex;
    }
    a->mode = *mode;
    if (err_native)
        log_info("%s: native XDP refused (%s), shim attached in generic mode", name,
                 strerror(-err_native));
    return 0;
}

int bootstrap_detach(struct bootstrap *b, uint32_t ifindex)
{
    char name[IF_NAMESIZE];
    struct attached_iface *a;
    int err;

    if (!b)
        return -EINVAL;
    a = find_attached(b, ifindex);
    if (!a) {
        log_err("detach: ifindex %u was not attached by this controld; nothing done", ifindex);
        return -ENOENT;
    }
    LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = b->shim_fd);
    uint32_t flags = a->mode == MOAT_XDP_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
    /* XDP_FLAGS_REPLACE + old_prog_fd: only remove the program if it is still ours. */
    err = bpf_xdp_detach((int)ifindex, flags | XDP_FLAGS_REPLACE, &opts);
    if (err == -EEXIST) {
        log_warn("detach: another XDP program replaced the shim on %s (ifindex %u); left it "
                 "in place",
                 ifname_of(ifindex, name), ifindex);
    } else if (err && err != -ENODEV) {
        log_err("detaching the shim (%s mode) from %s (ifindex %u) failed: %s; remove it "
                "with: ip link set dev %s xdp off",
                xdp_attach_mode_name(a->mode), ifname_of(ifindex, name), ifindex, strerror(-err),
                name);
        return err;
    }
    if (bpf_map_delete_elem(b->ifaces_fd, &ifindex) < 0 && errno != ENOENT)
        log_warn("detach: removing ifindex %u from " MOAT_MAP_IFACES " failed: %s", ifindex,
                 strerror(errno));
    *a = b->att[--b->natt];
    return 0;
}

void bootstrap_close(struct bootstrap *b, bool detach)
{
    if (!b)
        return;
    while (detach && b->natt > 0) {
        if (bootstrap_detach(b, b->att[b->natt - 1].ifindex) < 0)
            b->natt--; /* already logged; go on with the others */
    }
    bpf_object__close(b->obj);
    free(b);
}

int bootstrap_set_armed(struct bootstrap *b, uint32_t ifindex, bool armed)
{
    struct moat_iface val;

    if (!b)
        return -EINVAL;
    if (bpf_map_lookup_elem(b->ifaces_fd, &ifindex, &val) < 0) {
        int err = -errno;
        log_err("%s ifindex %u: it is not in " MOAT_MAP_IFACES " (%s); attach it first",
                armed ? "arming" : "disarming", ifindex, strerror(errno));
        return err;
    }
    if (armed)
        val.flags |= MOAT_IF_ARMED | MOAT_IF_USERSPACE;
    else
        val.flags &= ~(uint32_t)(MOAT_IF_ARMED | MOAT_IF_USERSPACE);
    if (bpf_map_update_elem(b->ifaces_fd, &ifindex, &val, BPF_EXIST) < 0) {
        int err = -errno;
        log_err("%s ifindex %u: updating " MOAT_MAP_IFACES " failed: %s",
                armed ? "arming" : "disarming", ifindex, strerror(errno));
        return err;
    }
    return 0;
}

/* Sets or clears one flag of an interface's moat_ifaces entry (what: for the log). */
static int iface_flag_set(struct bootstrap *b, uint32_t ifindex, uint32_t flag, bool on,
                          const char *what)
{
    struct moat_iface val;
    if (!b)
        return -EINVAL;
    if (bpf_map_lookup_elem(b->ifaces_fd, &ifindex, &val) < 0)
        return -errno;
    const uint32_t was = val.flags;
    if (on)
        val.flags |= flag;
    else
        val.flags &= ~flag;
    if (val.flags == was)
        return 0;
    if (bpf_map_update_elem(b->ifaces_fd, &ifindex, &val, BPF_EXIST) < 0) {
        int err = -errno;
        log_err("%s of ifindex %u: updating " MOAT_MAP_IFACES " failed: %s", what, ifindex,
                strerror(errno));
        return err;
    }
    return 0;
}

int bootstrap_set_standby(struct bootstrap *b, uint32_t ifindex, bool standby)
{
    return iface_flag_set(b, ifindex, MOAT_IF_STANDBY, standby, "HA: the standby flag");
}

int bootstrap_set_divert(struct bootstrap *b, uint32_t ifindex, bool divert)
{
    return iface_flag_set(b, ifindex, MOAT_IF_DIVERT, divert, "mixed state: the divert flag");
}

int bootstrap_divert_clear(struct bootstrap *b)
{
    if (!b)
        return -EINVAL;
    struct moat_lg_key k;
    unsigned n = 0;
    /* Deleting the first key each time: a walk over keys being deleted restarts anyway. */
    while (n < 4 * MOAT_LG_DIVERT_MAX && bpf_map_get_next_key(b->divert_fd, NULL, &k) == 0) {
        if (bpf_map_delete_elem(b->divert_fd, &k) < 0 && errno != ENOENT) {
            int err = -errno;
            log_err("mixed state: emptying " MOAT_MAP_LG_DIVERT " failed: %s", strerror(errno));
            return err;
        }
        n++;
    }
    return 0;
}

int bootstrap_set_host_inbound(struct bootstrap *b, uint32_t ifindex, uint32_t zone_id,
                               uint32_t services, uint32_t protocols, bool zoned)
{
    struct host_inbound *h;
    struct moat_iface val;
    char name[IF_NAMESIZE];

    if (!b)
        return -EINVAL;
    if (services & ~(uint32_t)MOAT_HI_SVC_ALL || protocols & ~(uint32_t)MOAT_HI_PROTO_ALL) {
        log_err("host-inbound for ifindex %u: unknown bits (services 0x%x, protocols 0x%x); "
                "known: services 0x%x, protocols 0x%x",
                ifindex, services, protocols, MOAT_HI_SVC_ALL, MOAT_HI_PROTO_ALL);
        return -EINVAL;
    }
    if (zoned && zone_id == 0) {
        log_err("host-inbound for ifindex %u: zoned with zone id 0, which means no zone", ifindex);
        return -EINVAL;
    }
    h = find_host_inbound(b, ifindex);
    if (!h) {
        /* Full: forget interfaces that no longer exist (renumbered, deleted). */
        for (unsigned i = 0; b->nhi == MAX_HOST_INBOUND && i < b->nhi;) {
            if (!if_indextoname(b->hi[i].ifindex, name) && !find_attached(b, b->hi[i].ifindex))
                b->hi[i] = b->hi[--b->nhi];
            else
                i++;
        }
        if (b->nhi == MAX_HOST_INBOUND) {
            log_err("host-inbound for ifindex %u: already %u interfaces remembered", ifindex,
                    MAX_HOST_INBOUND);
            return -ENOSPC;
        }
        h = &b->hi[b->nhi++];
    }
    *h = (struct host_inbound){.ifindex = ifindex,
                               .zone_id = zone_id,
                               .services = services,
                               .protocols = protocols,
                               .zoned = zoned};

    if (bpf_map_lookup_elem(b->ifaces_fd, &ifindex, &val) < 0) {
        if (errno == ENOENT)
            return 0; /* not attached yet: bootstrap_attach applies it */
        int err = -errno;
        log_err("host-inbound for ifindex %u: reading " MOAT_MAP_IFACES " failed: %s", ifindex,
                strerror(errno));
        return err;
    }
    apply_host_inbound(&val, h);
    /* Slot, MANAGED, ARMED and USERSPACE as read: only the host-inbound part changes. */
    if (bpf_map_update_elem(b->ifaces_fd, &ifindex, &val, BPF_EXIST) < 0) {
        int err = -errno;
        log_err("host-inbound for ifindex %u (%s): updating " MOAT_MAP_IFACES " failed: %s",
                ifindex, ifname_of(ifindex, name), strerror(errno));
        return err;
    }
    return 0;
}

int bootstrap_set_generation(struct bootstrap *b, uint64_t generation)
{
    struct moat_ctrl ctrl;
    uint32_t zero = 0;

    if (!b)
        return -EINVAL;
    if (bpf_map_lookup_elem(b->ctrl_fd, &zero, &ctrl) == 0) {
        ctrl.generation = generation;
        if (bpf_map_update_elem(b->ctrl_fd, &zero, &ctrl, BPF_EXIST) == 0)
            return 0;
    }
    int err = -errno;
    log_err("recording generation %llu in " MOAT_MAP_CTRL " failed: %s",
            (unsigned long long)generation, strerror(errno));
    return err;
}

/*
 * Makes the hash map fd hold exactly the n entries of want: each entry is entry_size bytes,
 * its key (key_size bytes) first and its value at val_off; want is sorted by key. Stale keys
 * are deleted before anything is added, so a key that stays is never missing in between.
 */
static int map_sync(int fd, const char *name, const void *want, unsigned n, size_t entry_size,
                    size_t key_size, size_t val_off, unsigned max)
{
    const uint8_t *w = want;
    uint8_t *have = calloc(max ? max : 1, key_size);
    uint8_t next[64];
    unsigned nhave = 0;
    int err = 0;

    if (!have)
        return -ENOMEM;
    if (key_size > sizeof(next)) {
        free(have);
        return -EINVAL;
    }
    const void *prev = NULL;
    while (nhave < max && bpf_map_get_next_key(fd, prev, next) == 0) {
        memcpy(have + (size_t)nhave * key_size, next, key_size);
        prev = have + (size_t)nhave++ * key_size;
    }
    for (unsigned i = 0; i < nhave; i++) {
        const uint8_t *k = have + (size_t)i * key_size;
        /* Binary search of k among the wanted keys. */
        unsigned lo = 0, hi = n;
        bool wanted = false;
        while (lo < hi) {
            unsigned mid = lo + (hi - lo) / 2;
            int c = memcmp(k, w + (size_t)mid * entry_size, key_size);
            if (c == 0) {
                wanted = true;
                break;
            }
            if (c < 0)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (wanted)
            continue;
        if (bpf_map_delete_elem(fd, k) < 0 && errno != ENOENT) {
            err = -errno;
            log_err("removing a stale entry from %s failed: %s", name, strerror(errno));
            goto out;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = w + (size_t)i * entry_size;
        if (bpf_map_update_elem(fd, e, e + val_off, BPF_ANY) < 0) {
            err = -errno;
            log_err("adding an entry to %s failed: %s%s", name, strerror(errno),
                    errno == E2BIG ? " (map full)" : "");
            goto out;
        }
    }
out:
    free(have);
    return err;
}

struct local_entry {
    struct moat_addr_key key; /* first: compared with memcmp against bare keys */
    uint32_t ifindex;
};

static int addr_key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct moat_addr_key));
}

int bootstrap_set_local_addrs(struct bootstrap *b, const struct bootstrap_local_addr *addrs,
                              unsigned n)
{
    struct local_entry *want = NULL;
    int err = 0;

    if (!b || (n && !addrs))
        return -EINVAL;
    if (n > MOAT_MAX_LOCAL_ADDRS) {
        log_err("%u local addresses given, " MOAT_MAP_LOCAL " holds at most %u", n,
                MOAT_MAX_LOCAL_ADDRS);
        return -E2BIG;
    }
    want = calloc(n ? n : 1, sizeof(*want));
    if (!want) {
        err = -ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        if (addrs[i].family == 4) {
            want[i].key.family = AF_INET;
            memcpy(want[i].key.addr, addrs[i].addr, 4);
        } else if (addrs[i].family == 6) {
            want[i].key.family = AF_INET6;
            memcpy(want[i].key.addr, addrs[i].addr, 16);
        } else {
            log_err("local address #%u has family %u: use 4 or 6", i, addrs[i].family);
            err = -EAFNOSUPPORT;
            goto out;
        }
        want[i].ifindex = addrs[i].ifindex;
    }
    qsort(want, n, sizeof(*want), addr_key_cmp);

    err = map_sync(b->local_fd, MOAT_MAP_LOCAL, want, n, sizeof(*want), sizeof(want->key),
                   offsetof(struct local_entry, ifindex), MOAT_MAX_LOCAL_ADDRS);
out:
    free(want);
    return err;
}

struct nat_local_entry {
    struct moat_nat_key key; /* first: nat_key_cmp compares it */
    struct moat_nat_local_val val;
};

static int nat_key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct moat_nat_key));
}

static int nat_local_valid(const struct moat_nat_key *k, const struct moat_nat_local_val *v,
                           unsigned i)
{
    static const uint8_t zero[12];

    if (k->family == AF_INET) {
        if (memcmp(k->addr + 4, zero, sizeof(zero)) ||
            (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP && k->proto != IPPROTO_ICMP)) {
            log_err(MOAT_MAP_NAT_LOCAL " entry #%u: bad IPv4 address bytes or protocol %u", i,
                    k->proto);
            return 0;
        }
    } else if (k->family == AF_INET6) {
        if (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP && k->proto != IPPROTO_ICMPV6) {
            log_err(MOAT_MAP_NAT_LOCAL " entry #%u: protocol %u", i, k->proto);
            return 0;
        }
    } else {
        log_err(MOAT_MAP_NAT_LOCAL " entry #%u: family %u, want AF_INET or AF_INET6", i, k->family);
        return 0;
    }
    if (k->pad) {
        log_err(MOAT_MAP_NAT_LOCAL " entry #%u: pad is not 0", i);
        return 0;
    }
    if (!k->port && (!v->port_lo || v->port_lo > v->port_hi)) {
        log_err(MOAT_MAP_NAT_LOCAL " entry #%u: range %u-%u, want 1 <= lo <= hi", i, v->port_lo,
                v->port_hi);
        return 0;
    }
    return 1;
}

int bootstrap_set_nat_local(struct bootstrap *b, const struct moat_nat_key *keys,
                            const struct moat_nat_local_val *vals, unsigned n)
{
    struct nat_local_entry *want = NULL;
    int err = 0;

    if (!b || (n && (!keys || !vals)))
        return -EINVAL;
    if (n > MOAT_MAX_NAT_LOCAL) {
        log_err("%u NAT entries given, " MOAT_MAP_NAT_LOCAL " holds at most %u", n,
                MOAT_MAX_NAT_LOCAL);
        return -E2BIG;
    }
    want = calloc(n ? n : 1, sizeof(*want));
    if (!want) {
        err = -ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!nat_local_valid(&keys[i], &vals[i], i)) {
            err = -EINVAL;
            goto out;
        }
        want[i].key = keys[i];
        want[i].val = vals[i];
    }
    qsort(want, n, sizeof(*want), nat_key_cmp);
    for (unsigned i = 1; i < n; i++) {
        if (!nat_key_cmp(&want[i - 1], &want[i])) {
            log_err(MOAT_MAP_NAT_LOCAL ": the same key is given twice");
            err = -EINVAL;
            goto out;
        }
    }

    err = map_sync(b->nat_local_fd, MOAT_MAP_NAT_LOCAL, want, n, sizeof(*want), sizeof(want->key),
                   offsetof(struct nat_local_entry, val), MOAT_MAX_NAT_LOCAL);
out:
    free(want);
    return err;
}

int bootstrap_xsk_present(struct bootstrap *b, uint32_t slot, uint32_t queue, bool *present)
{
    uint8_t frame[64] = {0};
    uint32_t zero = 0, key;
    int err;

    if (!b || !present)
        return -EINVAL;
    if (slot >= MOAT_MAX_IFACES || queue >= MOAT_MAX_QUEUES) {
        log_err("xsk probe: slot %u / queue %u out of range (%u slots, %u queues)", slot, queue,
                MOAT_MAX_IFACES, MOAT_MAX_QUEUES);
        return -ERANGE;
    }
    key = slot * MOAT_MAX_QUEUES + queue;
    if (bpf_map_update_elem(b->probe_slot_fd, &zero, &key, BPF_ANY) < 0) {
        err = -errno;
        log_err("xsk probe: writing " PROBE_SLOT_MAP " failed: %s", strerror(errno));
        return err;
    }
    frame[12] = 0x08; /* an IPv4 ethertype, so the frame looks like one */
    LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = sizeof(frame),
                .repeat = 1);
    err = bpf_prog_test_run_opts(b->probe_fd, &run);
    if (err) {
        log_err("xsk probe: BPF_PROG_TEST_RUN of " PROBE_PROG " failed: %s", strerror(-err));
        return err;
    }
    if (run.retval == XDP_PASS)
        *present = true;
    else if (run.retval == XDP_DROP)
        *present = false;
    else {
        log_err("xsk probe: " PROBE_PROG " returned %u, expected XDP_PASS or XDP_DROP", run.retval);
        return -EIO;
    }
    return 0;
}

int bootstrap_read_shim_stats(struct bootstrap *b, uint32_t slot, struct moat_shim_stats *out)
{
    _Static_assert(sizeof(struct moat_shim_stats) % sizeof(uint64_t) == 0,
                   "moat_shim_stats must hold only 64-bit counters");
    enum { NFIELDS = sizeof(struct moat_shim_stats) / sizeof(uint64_t) };
    struct moat_shim_stats *percpu;
    uint64_t sum[NFIELDS] = {0};
    int ncpus, err = 0;

    if (!b || !out)
        return -EINVAL;
    if (slot >= MOAT_SHIM_STATS_ENTRIES) {
        log_err("shim stats: slot %u out of range (0..%u)", slot, MOAT_SHIM_STATS_ENTRIES - 1);
        return -ERANGE;
    }
    ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0) {
        log_err("shim stats: can't count the possible CPUs: %s", strerror(-ncpus));
        return ncpus ? ncpus : -EINVAL;
    }
    percpu = calloc((size_t)ncpus, sizeof(*percpu));
    if (!percpu)
        return -ENOMEM;
    if (bpf_map_lookup_elem(b->stats_fd, &slot, percpu) < 0) {
        err = -errno;
        log_err("shim stats: reading " MOAT_MAP_SHIM_STATS "[%u] failed: %s", slot,
                strerror(errno));
        goto out;
    }
    for (int c = 0; c < ncpus; c++) {
        uint64_t v[NFIELDS];
        memcpy(v, &percpu[c], sizeof(v));
        for (int i = 0; i < NFIELDS; i++)
            sum[i] += v[i];
    }
    memcpy(out, sum, sizeof(*out));
out:
    free(percpu);
    return err;
}

/* ---- the kernel's view of an interface's XDP program (issue 6: show interfaces) ---- */

int bootstrap_query_attached(uint32_t ifindex, enum xdp_attach_mode *mode, uint32_t *prog_id,
                             char *name, size_t namelen)
{
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    *mode = MOAT_XDP_NONE;
    *prog_id = 0;
    if (namelen)
        name[0] = 0;
    if (bpf_xdp_query((int)ifindex, 0, &q) != 0)
        return -errno;
    if (q.attach_mode == XDP_ATTACHED_DRV) {
        *mode = MOAT_XDP_NATIVE;
        *prog_id = q.drv_prog_id;
    } else if (q.attach_mode == XDP_ATTACHED_SKB) {
        *mode = MOAT_XDP_GENERIC;
        *prog_id = q.skb_prog_id;
    } else if (q.attach_mode == XDP_ATTACHED_MULTI) {
        *mode = q.drv_prog_id ? MOAT_XDP_NATIVE : MOAT_XDP_GENERIC;
        *prog_id = q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id;
    }
    if (!*prog_id)
        return 0;
    int fd = bpf_prog_get_fd_by_id(*prog_id);
    if (fd < 0) { /* without CAP_SYS_ADMIN: a program of ours is still named */
        for (unsigned i = 0; namelen && i < sizeof(known_progs) / sizeof(known_progs[0]); i++)
            if (known_progs[i].id == *prog_id)
                snprintf(name, namelen, "%s", known_progs[i].name);
        return 0; /* the id is known; the name is not essential */
    }
    struct bpf_prog_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && namelen)
        snprintf(name, namelen, "%s", info.name);
    close(fd);
    return 0;
}

const struct bpf_object *bootstrap_object(const struct bootstrap *b)
{
    return b ? b->obj : NULL;
}
