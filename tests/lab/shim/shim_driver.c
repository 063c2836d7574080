// SPDX-License-Identifier: MIT
/*
 * shim_driver — drives controld/bootstrap.c and an AF_XDP socket for tests/lab/test_shim.sh.
 *
 * Reads one command per line on stdin and answers with zero or more result lines followed
 * by "OK" or "ERR <reason>". Runs inside the firewall namespace (ip netns exec), so
 * interface names resolve there. Commands:
 *
 *   open BPF_DIR BPFFS_DIR         bootstrap_open
 *   close [detach]                 bootstrap_close
 *   attach IFNAME SLOT [native]    bootstrap_attach          -> mode=native|generic
 *   detach IFNAME                  bootstrap_detach
 *   arm IFNAME 0|1                 bootstrap_set_armed
 *   hostin IFNAME ZONE SVCS PROTOS zoned|unzoned
 *                                  bootstrap_set_host_inbound; SVCS and PROTOS are
 *                                  comma-separated names (ping,ssh / bgp,ospf), "none",
 *                                  "all" or a number
 *   generation N                   bootstrap_set_generation
 *   locals [ADDR[@IFNAME]...]      bootstrap_set_local_addrs
 *   natlocal [ADDR,PROTO,PORT[,LO-HI]...]
 *                                  bootstrap_set_nat_local; PROTO tcp, udp, icmp (ICMPv6
 *                                  for an IPv6 ADDR) or a number; PORT 0 with LO-HI is a
 *                                  range entry, else LO-HI defaults to PORT-PORT
 *   stats SLOT                     bootstrap_read_shim_stats -> stats rx=... (all fields)
 *   present SLOT QUEUE             bootstrap_xsk_present     -> present=0|1
 *   ctrl                           the pinned moat_ctrl      -> ctrl flags=.. ncpus=..
 *                                                               generation=.. ephemeral=LO-HI
 *   iface IFNAME                   the pinned moat_ifaces    -> iface slot=.. flags=.. zone=..
 *                                                               svc=.. proto=.. | absent
 *   forget IFNAME                  deletes IFNAME from the pinned moat_ifaces
 *   xsk IFNAME QUEUE SLOT          copy-mode XSK on (IFNAME, QUEUE), put in moat_xsks
 *   xsk-close                      closes it (the kernel removes it from moat_xsks)
 *   recv N TIMEOUT_MS              waits for N frames on the XSK -> one "frame ..." line each
 *   legacy OBJ                     loads OBJ (pinned maps reused) into moat_progs[main]
 *   legacy-clear                   empties moat_progs[main]
 *   legacy-hits                    the legacy stub's own counter -> hits=N
 *   quit
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "bootstrap.h"
#include "log.h"
#include "maps.h"
#include "meta.h"

#define NUM_FRAMES 4096
#define FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define MAX_ARGS 64

static struct bootstrap *boot;
static char bpffs[PATH_MAX];

static struct {
    void *buf;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
    struct xsk_ring_cons rx;
    struct xsk_ring_prod tx;
} x;

static struct bpf_object *legacy_obj;

static void reply_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply_err(const char *fmt, ...)
{
    va_list ap;
    printf("ERR ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static int pinned_map(const char *name)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/%s", bpffs, name) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return bpf_obj_get(path);
}

static int ifindex_arg(const char *name, uint32_t *ifindex)
{
    *ifindex = if_nametoindex(name);
    if (!*ifindex) {
        reply_err("no interface %s in this namespace", name);
        return -ENODEV;
    }
    return 0;
}

static int cmd_stats(uint32_t slot)
{
    struct moat_shim_stats s;
    int err = bootstrap_read_shim_stats(boot, slot, &s);

    if (err) {
        reply_err("bootstrap_read_shim_stats(%u): %s", slot, strerror(-err));
        return err;
    }
    printf("stats rx=%llu redirect=%llu redirect_err=%llu host_pass=%llu tail_call=%llu "
           "fallback_pass=%llu drop_malformed=%llu drop_other=%llu no_xsk=%llu unmanaged=%llu "
           "drop_host_inbound=%llu\n",
           (unsigned long long)s.rx, (unsigned long long)s.redirect,
           (unsigned long long)s.redirect_err, (unsigned long long)s.host_pass,
           (unsigned long long)s.tail_call, (unsigned long long)s.fallback_pass,
           (unsigned long long)s.drop_malformed, (unsigned long long)s.drop_other,
           (unsigned long long)s.no_xsk, (unsigned long long)s.unmanaged,
           (unsigned long long)s.drop_host_inbound);
    return 0;
}

struct bit_name {
    const char *name;
    uint32_t bit;
};

static const struct bit_name svc_names[] = {
    {"ping", MOAT_HI_SVC_PING},
    {"ssh", MOAT_HI_SVC_SSH},
    {"telnet", MOAT_HI_SVC_TELNET},
    {"http", MOAT_HI_SVC_HTTP},
    {"https", MOAT_HI_SVC_HTTPS},
    {"dns", MOAT_HI_SVC_DNS},
    {"dhcp", MOAT_HI_SVC_DHCP},
    {"dhcpv6", MOAT_HI_SVC_DHCPV6},
    {"ntp", MOAT_HI_SVC_NTP},
    {"snmp", MOAT_HI_SVC_SNMP},
    {"traceroute", MOAT_HI_SVC_TRACEROUTE},
    {"ike", MOAT_HI_SVC_IKE},
    {"netconf", MOAT_HI_SVC_NETCONF},
    {"ftp", MOAT_HI_SVC_FTP},
    {"all", MOAT_HI_SVC_ALL},
    {"none", 0},
};

static const struct bit_name proto_names[] = {
    {"bgp", MOAT_HI_PROTO_BGP},
    {"ospf", MOAT_HI_PROTO_OSPF},
    {"ospf3", MOAT_HI_PROTO_OSPF3},
    {"rip", MOAT_HI_PROTO_RIP},
    {"ripng", MOAT_HI_PROTO_RIPNG},
    {"vrrp", MOAT_HI_PROTO_VRRP},
    {"bfd", MOAT_HI_PROTO_BFD},
    {"pim", MOAT_HI_PROTO_PIM},
    {"router-discovery", MOAT_HI_PROTO_ROUTER_DISCOVERY},
    {"all", MOAT_HI_PROTO_ALL},
    {"none", 0},
};

/* "ping,ssh", "none", "all" or a number -> bits. */
static int parse_bits(const char *arg, const struct bit_name *names, size_t n, uint32_t *out)
{
    char buf[256], *save = NULL;

    *out = 0;
    if (arg[0] >= '0' && arg[0] <= '9') {
        *out = (uint32_t)strtoul(arg, NULL, 0);
        return 0;
    }
    snprintf(buf, sizeof(buf), "%s", arg);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < n && strcmp(names[i].name, tok); i++)
            ;
        if (i == n) {
            reply_err("unknown name %s", tok);
            return -EINVAL;
        }
        *out |= names[i].bit;
    }
    return 0;
}

static int cmd_hostin(char **argv)
{
    uint32_t ifindex, svcs, protos;
    int err;

    if (ifindex_arg(argv[1], &ifindex) ||
        parse_bits(argv[3], svc_names, sizeof(svc_names) / sizeof(svc_names[0]), &svcs) ||
        parse_bits(argv[4], proto_names, sizeof(proto_names) / sizeof(proto_names[0]), &protos))
        return -EINVAL;
    if (strcmp(argv[5], "zoned") && strcmp(argv[5], "unzoned")) {
        reply_err("say zoned or unzoned, not %s", argv[5]);
        return -EINVAL;
    }
    err = bootstrap_set_host_inbound(boot, ifindex, (uint32_t)strtoul(argv[2], NULL, 0), svcs,
                                     protos, !strcmp(argv[5], "zoned"));
    if (err)
        reply_err("bootstrap_set_host_inbound: %s", strerror(-err));
    return err;
}

static int cmd_locals(char **argv, int argc)
{
    struct bootstrap_local_addr addrs[MAX_ARGS];
    int n = 0;

    for (int i = 0; i < argc; i++, n++) {
        char buf[128];
        char *at;

        snprintf(buf, sizeof(buf), "%s", argv[i]);
        memset(&addrs[n], 0, sizeof(addrs[n]));
        at = strchr(buf, '@');
        if (at) {
            *at = '\0';
            if (ifindex_arg(at + 1, &addrs[n].ifindex))
                return -ENODEV;
        }
        addrs[n].family = strchr(buf, ':') ? 6 : 4;
        if (inet_pton(addrs[n].family == 6 ? AF_INET6 : AF_INET, buf, addrs[n].addr) != 1) {
            reply_err("bad address %s", buf);
            return -EINVAL;
        }
    }
    int err = bootstrap_set_local_addrs(boot, addrs, (unsigned)n);
    if (err)
        reply_err("bootstrap_set_local_addrs: %s", strerror(-err));
    return err;
}

static int cmd_natlocal(char **argv, int argc)
{
    struct moat_nat_key keys[MAX_ARGS];
    struct moat_nat_local_val vals[MAX_ARGS];
    int n = 0;

    for (int i = 0; i < argc; i++, n++) {
        char buf[128], *save = NULL;
        char *addr, *proto, *port, *range;
        unsigned lo, hi;
        int v6;

        snprintf(buf, sizeof(buf), "%s", argv[i]);
        addr = strtok_r(buf, ",", &save);
        proto = strtok_r(NULL, ",", &save);
        port = strtok_r(NULL, ",", &save);
        range = strtok_r(NULL, ",", &save);
        if (!addr || !proto || !port) {
            reply_err("want ADDR,PROTO,PORT[,LO-HI], not %s", argv[i]);
            return -EINVAL;
        }
        memset(&keys[n], 0, sizeof(keys[n]));
        memset(&vals[n], 0, sizeof(vals[n]));
        v6 = strchr(addr, ':') != NULL;
        keys[n].family = v6 ? AF_INET6 : AF_INET;
        if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, keys[n].addr) != 1) {
            reply_err("bad address %s", addr);
            return -EINVAL;
        }
        if (!strcmp(proto, "tcp"))
            keys[n].proto = IPPROTO_TCP;
        else if (!strcmp(proto, "udp"))
            keys[n].proto = IPPROTO_UDP;
        else if (!strcmp(proto, "icmp"))
            keys[n].proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
        else
            keys[n].proto = (uint8_t)strtoul(proto, NULL, 0);
        keys[n].port = htons((uint16_t)strtoul(port, NULL, 0));
        lo = hi = (unsigned)strtoul(port, NULL, 0);
        if (range && sscanf(range, "%u-%u", &lo, &hi) != 2) {
            reply_err("bad range %s", range);
            return -EINVAL;
        }
        vals[n].port_lo = (uint16_t)lo;
        vals[n].port_hi = (uint16_t)hi;
        vals[n].flags = keys[n].port ? MOAT_NAT_LOCAL_F_DNAT : MOAT_NAT_LOCAL_F_SNAT;
    }
    int err = bootstrap_set_nat_local(boot, keys, vals, (unsigned)n);
    if (err)
        reply_err("bootstrap_set_nat_local: %s", strerror(-err));
    return err;
}

static int cmd_xsk(const char *ifname, uint32_t queue, uint32_t slot)
{
    struct xsk_socket_config cfg = {
        .rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
        .tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
        .bind_flags = XDP_COPY,
    };
    uint32_t idx, key = slot * MOAT_MAX_QUEUES + queue;
    int err, fd, xsks;

    if (x.xsk) {
        reply_err("an XSK is already open: xsk-close first");
        return -EBUSY;
    }
    x.buf = mmap(NULL, (size_t)NUM_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (x.buf == MAP_FAILED) {
        x.buf = NULL;
        reply_err("mmap of the UMEM failed: %s", strerror(errno));
        return -ENOMEM;
    }
    err =
        xsk_umem__create(&x.umem, x.buf, (uint64_t)NUM_FRAMES * FRAME_SIZE, &x.fill, &x.comp, NULL);
    if (err) {
        reply_err("xsk_umem__create: %s", strerror(-err));
        goto out_unmap;
    }
    err = xsk_socket__create(&x.xsk, ifname, queue, x.umem, &x.rx, &x.tx, &cfg);
    if (err) {
        x.xsk = NULL;
        reply_err("xsk_socket__create(%s, queue %u, copy mode): %s", ifname, queue, strerror(-err));
        goto out_umem;
    }
    /* Give the kernel half the frames to receive into. */
    uint32_t nfill = XSK_RING_PROD__DEFAULT_NUM_DESCS;
    if (xsk_ring_prod__reserve(&x.fill, nfill, &idx) != nfill) {
        reply_err("can't reserve %u fill descriptors", nfill);
        err = -ENOSPC;
        goto out_sock;
    }
    for (uint32_t i = 0; i < nfill; i++)
        *xsk_ring_prod__fill_addr(&x.fill, idx + i) = (uint64_t)i * FRAME_SIZE;
    xsk_ring_prod__submit(&x.fill, nfill);

    xsks = pinned_map(MOAT_MAP_XSKS);
    if (xsks < 0) {
        err = -errno;
        reply_err("opening the pinned %s: %s", MOAT_MAP_XSKS, strerror(errno));
        goto out_sock;
    }
    fd = xsk_socket__fd(x.xsk);
    if (bpf_map_update_elem(xsks, &key, &fd, BPF_ANY) < 0) {
        err = -errno;
        reply_err("inserting the XSK into %s[%u]: %s", MOAT_MAP_XSKS, key, strerror(errno));
        close(xsks);
        goto out_sock;
    }
    close(xsks);
    printf("xsk key=%u\n", key);
    return 0;

out_sock:
    xsk_socket__delete(x.xsk);
    x.xsk = NULL;
out_umem:
    xsk_umem__delete(x.umem);
    x.umem = NULL;
out_unmap:
    munmap(x.buf, (size_t)NUM_FRAMES * FRAME_SIZE);
    x.buf = NULL;
    return err;
}

static void xsk_close(void)
{
    if (x.xsk)
        xsk_socket__delete(x.xsk);
    if (x.umem)
        xsk_umem__delete(x.umem);
    if (x.buf)
        munmap(x.buf, (size_t)NUM_FRAMES * FRAME_SIZE);
    memset(&x, 0, sizeof(x));
}

static void print_frame(const uint8_t *pkt, uint32_t len)
{
    struct moat_meta m;
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
    int af;
    const char *l4check = "none";

    memcpy(&m, pkt - sizeof(m), sizeof(m));
    af = (m.flags & MOAT_META_F_IPV6) ? AF_INET6 : AF_INET;
    inet_ntop(af, m.src, src, sizeof(src));
    inet_ntop(af, m.dst, dst, sizeof(dst));
    /* Cross-check: the ports in the metadata are the ones at l4_off in the frame. */
    if ((m.flags & MOAT_META_F_L4) && (m.proto == 6 || m.proto == 17)) {
        uint16_t sp, dp;
        if ((uint32_t)m.l4_off + 4 > len) {
            l4check = "outside";
        } else {
            memcpy(&sp, pkt + m.l4_off, 2);
            memcpy(&dp, pkt + m.l4_off + 2, 2);
            l4check = (sp == m.sport && dp == m.dport) ? "ok" : "mismatch";
        }
    }
    printf("frame len=%u magic=0x%08x flags=0x%04x src=%s dst=%s sport=%u dport=%u proto=%u "
           "ifindex=%u rxq=%u l3=%u l4=%u ttl=%u vlan=%u icmp=%u/%u l4check=%s\n",
           len, m.magic, m.flags, src, dst, ntohs(m.sport), ntohs(m.dport), m.proto, m.ifindex,
           m.rx_queue, m.l3_off, m.l4_off, m.ttl, m.vlan_tci, m.icmp_type, m.icmp_code, l4check);
}

static int cmd_recv(unsigned want, int timeout_ms)
{
    unsigned got = 0;

    if (!x.xsk) {
        reply_err("no XSK open");
        return -ENOTCONN;
    }
    while (got < want) {
        struct pollfd pfd = {.fd = xsk_socket__fd(x.xsk), .events = POLLIN};
        uint32_t idx, fidx, n;

        if (poll(&pfd, 1, timeout_ms) <= 0)
            break;
        n = xsk_ring_cons__peek(&x.rx, 64, &idx);
        if (!n)
            continue;
        if (xsk_ring_prod__reserve(&x.fill, n, &fidx) != n) {
            reply_err("fill ring full");
            return -ENOSPC;
        }
        for (uint32_t i = 0; i < n; i++) {
            const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x.rx, idx + i);
            print_frame(xsk_umem__get_data(x.buf, d->addr), d->len);
            *xsk_ring_prod__fill_addr(&x.fill, fidx + i) = d->addr & ~(uint64_t)(FRAME_SIZE - 1);
        }
        xsk_ring_cons__release(&x.rx, n);
        xsk_ring_prod__submit(&x.fill, n);
        got += n;
    }
    if (got < want) {
        reply_err("received %u of %u frames within %d ms", got, want, timeout_ms);
        return -ETIMEDOUT;
    }
    return 0;
}

static int cmd_legacy(const char *path)
{
    LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = bpffs);
    struct bpf_program *prog;
    uint32_t key = MOAT_PROG_SLOT_MAIN;
    int err, progs, fd;

    if (legacy_obj) {
        reply_err("a legacy object is already loaded");
        return -EBUSY;
    }
    legacy_obj = bpf_object__open_file(path, &opts);
    if (!legacy_obj) {
        reply_err("opening %s: %s", path, strerror(errno));
        return -errno;
    }
    err = bpf_object__load(legacy_obj);
    if (err) {
        reply_err("loading %s: %s", path, strerror(-err));
        goto fail;
    }
    prog = bpf_object__next_program(legacy_obj, NULL);
    fd = prog ? bpf_program__fd(prog) : -1;
    progs = pinned_map(MOAT_MAP_PROGS);
    if (fd < 0 || progs < 0) {
        reply_err("no program in %s or no pinned %s", path, MOAT_MAP_PROGS);
        err = -ENOENT;
        goto fail;
    }
    if (bpf_map_update_elem(progs, &key, &fd, BPF_ANY) < 0) {
        err = -errno;
        reply_err("inserting into %s[%u]: %s", MOAT_MAP_PROGS, key, strerror(errno));
        close(progs);
        goto fail;
    }
    close(progs);
    return 0;
fail:
    bpf_object__close(legacy_obj);
    legacy_obj = NULL;
    return err;
}

static int cmd_legacy_clear(void)
{
    uint32_t key = MOAT_PROG_SLOT_MAIN;
    int progs = pinned_map(MOAT_MAP_PROGS), err = 0;

    if (progs < 0 || (bpf_map_delete_elem(progs, &key) < 0 && errno != ENOENT)) {
        err = -errno;
        reply_err("clearing %s[%u]: %s", MOAT_MAP_PROGS, key, strerror(errno));
    }
    if (progs >= 0)
        close(progs);
    bpf_object__close(legacy_obj);
    legacy_obj = NULL;
    return err;
}

static int cmd_legacy_hits(void)
{
    uint32_t zero = 0;
    uint64_t hits;
    int fd = legacy_obj ? bpf_object__find_map_fd_by_name(legacy_obj, "legacy_hits") : -1;

    if (fd < 0 || bpf_map_lookup_elem(fd, &zero, &hits) < 0) {
        reply_err("no legacy object loaded or no legacy_hits map");
        return -ENOENT;
    }
    printf("hits=%llu\n", (unsigned long long)hits);
    return 0;
}

static int cmd_iface(const char *name, bool forget)
{
    struct moat_iface v;
    uint32_t ifindex;
    int fd, err = 0;

    if (ifindex_arg(name, &ifindex))
        return -ENODEV;
    fd = pinned_map(MOAT_MAP_IFACES);
    if (fd < 0) {
        reply_err("opening the pinned %s: %s", MOAT_MAP_IFACES, strerror(errno));
        return -errno;
    }
    if (forget) {
        if (bpf_map_delete_elem(fd, &ifindex) < 0) {
            err = -errno;
            reply_err("deleting %s[%u]: %s", MOAT_MAP_IFACES, ifindex, strerror(errno));
        }
    } else if (bpf_map_lookup_elem(fd, &ifindex, &v) == 0) {
        printf("iface ifindex=%u slot=%u flags=0x%x zone=%u svc=0x%x proto=0x%x\n", ifindex, v.slot,
               v.flags, v.zone_id, v.host_inbound, v.host_protocols);
    } else {
        printf("iface ifindex=%u absent\n", ifindex);
    }
    close(fd);
    return err;
}

static int cmd_ctrl(void)
{
    struct moat_ctrl c;
    uint32_t zero = 0;
    int fd = pinned_map(MOAT_MAP_CTRL);

    if (fd < 0 || bpf_map_lookup_elem(fd, &zero, &c) < 0) {
        reply_err("reading the pinned %s: %s", MOAT_MAP_CTRL, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -EIO;
    }
    close(fd);
    printf("ctrl flags=0x%x ncpus=%u generation=%llu ephemeral=%u-%u\n", c.flags, c.ncpus,
           (unsigned long long)c.generation, c.ephemeral_lo, c.ephemeral_hi);
    return 0;
}

/* Runs one command; prints its result lines and, on failure, an ERR line. */
static int run(char **argv, int argc)
{
    char errbuf[512] = "";
    uint32_t ifindex;
    int err;

#define NEED(n)                                                                                    \
    do {                                                                                           \
        if (argc < (n)) {                                                                          \
            reply_err("%s needs %d argument(s)", argv[0], (n)-1);                                  \
            return -EINVAL;                                                                        \
        }                                                                                          \
    } while (0)
#define NEED_BOOT()                                                                                \
    do {                                                                                           \
        if (!boot) {                                                                               \
            reply_err("not open");                                                                 \
            return -EINVAL;                                                                        \
        }                                                                                          \
    } while (0)

    if (!strcmp(argv[0], "open")) {
        NEED(3);
        snprintf(bpffs, sizeof(bpffs), "%s", argv[2]);
        err = bootstrap_open(&boot, argv[1], argv[2], errbuf, sizeof(errbuf));
        if (err)
            reply_err("bootstrap_open: %s", errbuf);
        return err;
    }
    if (!strcmp(argv[0], "close")) {
        NEED_BOOT();
        bootstrap_close(boot, argc > 1 && !strcmp(argv[1], "detach"));
        boot = NULL;
        return 0;
    }
    if (!strcmp(argv[0], "attach")) {
        enum xdp_attach_mode mode;
        NEED(3);
        NEED_BOOT();
        if (ifindex_arg(argv[1], &ifindex))
            return -ENODEV;
        err =
            bootstrap_attach(boot, ifindex, (uint32_t)strtoul(argv[2], NULL, 0), 0,
                             argc > 3 && !strcmp(argv[3], "native"), &mode, errbuf, sizeof(errbuf));
        if (err) {
            reply_err("bootstrap_attach: %s", errbuf);
            return err;
        }
        printf("mode=%s ifindex=%u\n", xdp_attach_mode_name(mode), ifindex);
        return 0;
    }
    if (!strcmp(argv[0], "detach")) {
        NEED(2);
        NEED_BOOT();
        if (ifindex_arg(argv[1], &ifindex))
            return -ENODEV;
        err = bootstrap_detach(boot, ifindex);
        if (err)
            reply_err("bootstrap_detach: %s", strerror(-err));
        return err;
    }
    if (!strcmp(argv[0], "arm")) {
        NEED(3);
        NEED_BOOT();
        if (ifindex_arg(argv[1], &ifindex))
            return -ENODEV;
        err = bootstrap_set_armed(boot, ifindex, atoi(argv[2]) != 0);
        if (err)
            reply_err("bootstrap_set_armed: %s", strerror(-err));
        return err;
    }
    if (!strcmp(argv[0], "hostin")) {
        NEED(6);
        NEED_BOOT();
        return cmd_hostin(argv);
    }
    if (!strcmp(argv[0], "generation")) {
        NEED(2);
        NEED_BOOT();
        err = bootstrap_set_generation(boot, strtoull(argv[1], NULL, 0));
        if (err)
            reply_err("bootstrap_set_generation: %s", strerror(-err));
        return err;
    }
    if (!strcmp(argv[0], "locals")) {
        NEED_BOOT();
        return cmd_locals(argv + 1, argc - 1);
    }
    if (!strcmp(argv[0], "natlocal")) {
        NEED_BOOT();
        return cmd_natlocal(argv + 1, argc - 1);
    }
    if (!strcmp(argv[0], "stats")) {
        NEED(2);
        NEED_BOOT();
        return cmd_stats((uint32_t)strtoul(argv[1], NULL, 0));
    }
    if (!strcmp(argv[0], "present")) {
        bool present;
        NEED(3);
        NEED_BOOT();
        err = bootstrap_xsk_present(boot, (uint32_t)strtoul(argv[1], NULL, 0),
                                    (uint32_t)strtoul(argv[2], NULL, 0), &present);
        if (err) {
            reply_err("bootstrap_xsk_present: %s", strerror(-err));
            return err;
        }
        printf("present=%d\n", present);
        return 0;
    }
    if (!strcmp(argv[0], "ctrl"))
        return cmd_ctrl();
    if (!strcmp(argv[0], "iface") || !strcmp(argv[0], "forget")) {
        NEED(2);
        return cmd_iface(argv[1], argv[0][0] == 'f');
    }
    if (!strcmp(argv[0], "xsk")) {
        NEED(4);
        return cmd_xsk(argv[1], (uint32_t)strtoul(argv[2], NULL, 0),
                       (uint32_t)strtoul(argv[3], NULL, 0));
    }
    if (!strcmp(argv[0], "xsk-close")) {
        xsk_close();
        return 0;
    }
    if (!strcmp(argv[0], "recv")) {
        NEED(3);
        return cmd_recv((unsigned)strtoul(argv[1], NULL, 0), atoi(argv[2]));
    }
    if (!strcmp(argv[0], "legacy")) {
        NEED(2);
        return cmd_legacy(argv[1]);
    }
    if (!strcmp(argv[0], "legacy-clear"))
        return cmd_legacy_clear();
    if (!strcmp(argv[0], "legacy-hits"))
        return cmd_legacy_hits();
    reply_err("unknown command %s", argv[0]);
    return -EINVAL;
#undef NEED
#undef NEED_BOOT
}

int main(void)
{
    char line[4096];

    log_init("shim_driver", LOG_LVL_INFO);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof(line), stdin)) {
        char *argv[MAX_ARGS];
        int argc = 0;

        for (char *tok = strtok(line, " \t\r\n"); tok && argc < MAX_ARGS;
             tok = strtok(NULL, " \t\r\n"))
            argv[argc++] = tok;
        if (argc == 0)
            continue;
        if (!strcmp(argv[0], "quit"))
            break;
        if (run(argv, argc) == 0)
            printf("OK\n");
    }
    xsk_close();
    if (legacy_obj)
        bpf_object__close(legacy_obj);
    if (boot)
        bootstrap_close(boot, false);
    return 0;
}
