/* SPDX-License-Identifier: MIT */
/*
 * udpgen.c — benchmark tool (not a test): a UDP packet generator that costs the sender
 * almost nothing per packet, so a forwarder on the same 2-vCPU machine can be offered more
 * than it forwards. iperf3 -u spends a system call per datagram and saturates its own CPU
 * first (about 100-140k packets/s here), which measures the generator, not the forwarder.
 *
 * It uses the kernel's XDP "live frames" test run (BPF_PROG_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES): a two-instruction XDP program returns XDP_TX for a frame built
 * here (see load_xdp_tx()), and the kernel transmits each repetition out of DEV (on a veth: into
 * its peer's RX ring, which needs the peer to have NAPI: an XDP program attached or GRO on).
 *
 *   moat-bench-udpgen DEV DST_MAC SRC_IP DST_IP DPORT SECONDS [PPS] [SIZE]
 *
 *   DEV      the interface to send out of (run it in that interface's namespace)
 *   DST_MAC  the next hop's MAC (the firewall's interface)
 *   PPS      0 (default): as fast as the kernel takes them; else about that many per second
 *   SIZE     the Ethernet frame without FCS, 60 (default: a 64-byte frame on the wire) to 1514
 *
 * One flow (source port 40000, IPv4, UDP checksum 0). Prints, on stdout, one line per second
 * "sent N" and a last line "total N in S s". Needs CAP_BPF/CAP_NET_ADMIN (root).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned int b[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        if (b[i] > 0xff)
            return -EINVAL;
        mac[i] = (uint8_t)b[i];
    }
    return 0;
}

static int dev_mac(const char *dev, uint8_t mac[6])
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return -errno;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
    int rc = ioctl(fd, SIOCGIFHWADDR, &ifr) ? -errno : 0;
    close(fd);
    if (!rc)
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return rc;
}

static uint16_t ip_checksum(const uint8_t *h, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Ethernet + IPv4 + UDP, zero payload bytes up to size. */
static void build_frame(uint8_t *f, size_t size, const uint8_t dst[6], const uint8_t src[6],
                        struct in_addr sip, struct in_addr dip, uint16_t dport)
{
    memset(f, 0, size);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x08; /* IPv4 */
    f[13] = 0x00;
    uint8_t *ip = f + ETH_HLEN;
    const uint16_t ip_len = (uint16_t)(size - ETH_HLEN);
    ip[0] = 0x45;
    ip[2] = (uint8_t)(ip_len >> 8);
    ip[3] = (uint8_t)ip_len;
    ip[8] = 64; /* TTL */
    ip[9] = 17; /* UDP */
    memcpy(ip + 12, &sip, 4);
    memcpy(ip + 16, &dip, 4);
    const uint16_t c = ip_checksum(ip, 20);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    uint8_t *udp = ip + 20;
    const uint16_t sport = 40000, udp_len = (uint16_t)(ip_len - 20);
    udp[0] = (uint8_t)(sport >> 8);
    udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8);
    udp[3] = (uint8_t)dport;
    udp[4] = (uint8_t)(udp_len >> 8);
    udp[5] = (uint8_t)udp_len;
}

/*
 * The XDP program: writes the frame's first HDR bytes (Ethernet, IPv4 and UDP headers) back
 * and returns XDP_TX. Live frames are recycled: a forwarder that rewrites a frame in place (the
 * kernel's forwarding, an in-kernel XDP path) hands the page back with its MACs and TTL
 * changed, and without the rewrite the next run would send that (the firewall drops it as
 * addressed to another host).
 */

#define HDR 44 /* 14 + 20 + 8, rounded up to a 4-byte word */
static int load_xdp_tx(const uint8_t *frame)
{
    struct bpf_insn p[8 + HDR / 4];
    unsigned n = 0;
    memset(p, 0, sizeof(p));
    /* r2 = ctx->data; r3 = ctx->data_end; r4 = r2 + HDR; if r4 > r3 goto out */
    p[n++] = (struct bpf_insn){
        .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1, .off = 0};
    p[n++] = (struct bpf_insn){
        .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_3, .src_reg = BPF_REG_1, .off = 4};
    p[n++] = (struct bpf_insn){
        .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_4, .src_reg = BPF_REG_2};
    p[n++] =
        (struct bpf_insn){.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_4, .imm = HDR};
    p[n++] = (struct bpf_insn){.code = BPF_JMP | BPF_JGT | BPF_X,
                               .dst_reg = BPF_REG_4,
                               .src_reg = BPF_REG_3,
                               .off = HDR / 4};
    for (unsigned off = 0; off < HDR; off += 4) {
        uint32_t w;
        memcpy(&w, frame + off, 4);
        p[n++] = (struct bpf_insn){.code = BPF_ST | BPF_MEM | BPF_W,
                                   .dst_reg = BPF_REG_2,
                                   .off = (int16_t)off,
                                   .imm = (int32_t)w};
    }
    /* out: */
    p[n++] =
        (struct bpf_insn){.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX};
    p[n++] = (struct bpf_insn){.code = BPF_JMP | BPF_EXIT};
    return bpf_prog_load(BPF_PROG_TYPE_XDP, "udpgen_tx", "GPL", p, n, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s DEV DST_MAC SRC_IP DST_IP DPORT SECONDS [PPS] [SIZE]\n",
                argv[0]);
        return 2;
    }
    const char *dev = argv[1];
    uint8_t dst[6], src[6];
    struct in_addr sip, dip;
    const unsigned ifindex = if_nametoindex(dev);
    const long dport = strtol(argv[5], NULL, 10), seconds = strtol(argv[6], NULL, 10);
    const long pps = argc > 7 ? strtol(argv[7], NULL, 10) : 0;
    const long size = argc > 8 ? strtol(argv[8], NULL, 10) : 60;
    if (!ifindex) {
        fprintf(stderr, "udpgen: interface %s: not found in this namespace\n", dev);
        return 1;
    }
    if (parse_mac(argv[2], dst) || inet_pton(AF_INET, argv[3], &sip) != 1 ||
        inet_pton(AF_INET, argv[4], &dip) != 1 || dport < 1 || dport > 65535 || seconds < 1 ||
        pps < 0 || size < 60 || size > 1514) {
        fprintf(stderr, "udpgen: bad argument (MAC aa:bb:cc:dd:ee:ff, IPv4 addresses, port "
                        "1-65535, seconds >= 1, pps >= 0, size 60-1514)\n");
        return 2;
    }
    int rc = dev_mac(dev, src);
    if (rc) {
        fprintf(stderr, "udpgen: MAC of %s: %s\n", dev, strerror(-rc));
        return 1;
    }
    static uint8_t frame[1514];
    build_frame(frame, (size_t)size, dst, src, sip, dip, (uint16_t)dport);
    const int prog = load_xdp_tx(frame);
    if (prog < 0) {
        fprintf(stderr, "udpgen: loading the XDP_TX program: %s\n", strerror(errno));
        return 1;
    }

    /* A chunk per call: 5 ms of the target rate, or 64k frames at full speed. Smaller chunks
     * are smoother for the forwarder's rings but each call sets up a page pool: at 0.5 ms
     * chunks this machine no longer reached 1 M/s. */
    const int chunk = pps ? (int)(pps / 200 > 0 ? pps / 200 : 1) : 65536;
    /* The kernel wants data_end to be the frame's length. */
    struct xdp_md ctx = {.data_end = (uint32_t)size, .ingress_ifindex = ifindex};
    const double t0 = now_s();
    double next_report = t0 + 1;
    unsigned long long total = 0, this_second = 0;
    for (;;) {
        const double t = now_s();
        if (t >= next_report) {
            printf("sent %llu\n", this_second);
            fflush(stdout);
            this_second = 0;
            next_report += 1;
        }
        if (t - t0 >= (double)seconds)
            break;
        if (pps) {
            const double due = t0 + (double)total / (double)pps;
            if (due > t) {
                const double wait = due - t < next_report - t ? due - t : next_report - t;
                struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(wait * 1e9)};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (uint32_t)size,
                    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = chunk,
                    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);
        if (bpf_prog_test_run_opts(prog, &opts)) {
            fprintf(stderr, "udpgen: live-frames run on %s: %s\n", dev, strerror(errno));
            return 1;
        }
        total += (unsigned long long)chunk;
        this_second += (unsigned long long)chunk;
    }
    printf("total %llu in %ld s\n", total, seconds);
    close(prog);
    return 0;
}
