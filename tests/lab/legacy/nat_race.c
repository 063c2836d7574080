// SPDX-License-Identifier: MIT
/*
 * nat_race — first packets of the same internal endpoints created at the same instant on two
 * CPUs, through the pinned xdp_main_prog (BPF_PROG_TEST_RUN), for test_legacy.sh.
 *
 * Two threads, pinned to CPU 0 and CPU 1, meet at a spin barrier before each run: endpoint i
 * (10.77.1.2, port BASE + i) sends its first UDP packet to 10.77.2.2:9100 from CPU 0 and to
 * 10.77.2.2:9101 from CPU 1 at once, two new flows of one internal endpoint under the interface
 * source NAT of nat-legacy.conf (endpoint-independent: both must leave from one external port).
 * Both CPUs then often find no mapping and allocate one each; one of them loses the insert of
 * the mapping. How often: each allocation advances its CPU's moat_lg_percpu cursor by
 * MOAT_LG_ALLOC_TRIES, so the allocations beyond one per endpoint are the contested creates.
 * Then every flow's reply (from fw1's side to the external port) must come back to its
 * endpoint.
 *
 * With "same", both CPUs send the same flow (to 10.77.2.2:9100): the loser is a packet of the
 * winner's session.
 *
 * usage: nat_race BPFFS_DIR N BASE [two|same]   (in the firewall namespace: fw0's ifindex)
 * Prints one "contested N" line and PASS/FAIL lines; exit status 1 if any failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy_maps.h"

#define FRAME_LEN (14 + 20 + 8 + 8)
#define DPORT 9100

/* A run's verdict and the frame's addresses and ports as it left (ports in host order). */
struct run {
    int verdict;
    uint32_t src, dst;
    uint16_t sport, dport;
};

static int prog_fd, ifindex, n_endpoints, base,
    dport_step = 1; /* 0: both CPUs send the same flow */
static atomic_int arrived;
static struct run *runs[2];

static uint16_t ip_csum(const uint8_t *h)
{
    uint32_t s = 0;
    for (int i = 0; i < 20; i += 2)
        s += (uint32_t)h[i] << 8 | h[i + 1];
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* A UDP datagram src:sport -> dst:dport (no UDP checksum) in an Ethernet frame. */
static void udp_frame(uint8_t *f, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
    memset(f, 0, FRAME_LEN);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *udp = ip + 20;
    ip[0] = 0x45;
    ip[3] = 20 + 8 + 8;
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    inet_pton(AF_INET, src, ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    uint16_t c = ip_csum(ip);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    udp[0] = (uint8_t)(sport >> 8);
    udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8);
    udp[3] = (uint8_t)dport;
    udp[5] = 16;
    memcpy(udp + 8, "nat-race", 8);
}

static struct run test_run(uint8_t *f)
{
    uint8_t out[256];
    struct xdp_md md = {.data_end = FRAME_LEN, .ingress_ifindex = (uint32_t)ifindex};
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = FRAME_LEN, .data_out = out,
                .data_size_out = sizeof(out), .ctx_in = &md, .ctx_size_in = sizeof(md),
                .repeat = 1);
    struct run r = {.verdict = -1};
    if (bpf_prog_test_run_opts(prog_fd, &o) == 0) {
        r.verdict = (int)o.retval;
        if (o.data_size_out >= FRAME_LEN) {
            memcpy(&r.src, out + 14 + 12, 4);
            memcpy(&r.dst, out + 14 + 16, 4);
            r.sport = (uint16_t)(out[34] << 8 | out[35]);
            r.dport = (uint16_t)(out[36] << 8 | out[37]);
        }
    }
    return r;
}

static void *racer(void *arg)
{
    int cpu = (int)(intptr_t)arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* Unpinned, it still meets the other at the barrier (and main() then fails). */
    int pinned = pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
    uint8_t f[FRAME_LEN];
    for (int i = 0; i < n_endpoints; i++) {
        udp_frame(f, "10.77.1.2", (uint16_t)(base + i), "10.77.2.2",
                  (uint16_t)(DPORT + cpu * dport_step));
        atomic_fetch_add(&arrived, 1);
        while (atomic_load(&arrived) < 2 * (i + 1))
            ;
        runs[cpu][i] = test_run(f);
    }
    return pinned ? NULL : (void *)1;
}

/* The sum over CPUs 0 and 1 of moat_lg_percpu's cursor. */
static uint64_t cursors(int fd)
{
    int ncpu = libbpf_num_possible_cpus();
    struct moat_lg_percpu *v = calloc((size_t)ncpu, sizeof(*v));
    uint32_t zero = 0;
    uint64_t s = 0;
    if (v && ncpu >= 2 && bpf_map_lookup_elem(fd, &zero, v) == 0)
        s = (uint64_t)v[0].cursor + v[1].cursor;
    free(v);
    return s;
}

static int failed;

static void check(int ok, const char *what, int n, int of)
{
    printf("%s: %s (%d of %d)\n", ok ? "PASS" : "FAIL", what, n, of);
    failed += !ok;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[4], "same") == 0)
        dport_step = 0;
    else if (argc != 4 && (argc != 5 || strcmp(argv[4], "two") != 0)) {
        fprintf(stderr, "usage: nat_race BPFFS_DIR N BASE [two|same]\n");
        return 2;
    }
    char path[512];
    n_endpoints = atoi(argv[2]);
    base = atoi(argv[3]);
    ifindex = (int)if_nametoindex("fw0");
    snprintf(path, sizeof(path), "%s/xdp_main_prog", argv[1]);
    prog_fd = bpf_obj_get(path);
    snprintf(path, sizeof(path), "%s/moat_lg_percpu", argv[1]);
    int pc_fd = bpf_obj_get(path);
    if (prog_fd < 0 || pc_fd < 0 || !ifindex || n_endpoints <= 0 ||
        libbpf_num_possible_cpus() < 2) {
        fprintf(stderr, "nat_race: %s: %s (fw0 %d, %d CPUs)\n", argv[1], strerror(errno), ifindex,
                libbpf_num_possible_cpus());
        return 2;
    }
    for (int c = 0; c < 2; c++)
        runs[c] = calloc((size_t)n_endpoints, sizeof(struct run));
    /* A first allocation on each CPU (a cursor starts at random: counted from there on). */
    uint8_t f[FRAME_LEN];
    for (int c = 0; c < 2; c++) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c, &set);
        udp_frame(f, "10.77.1.2", (uint16_t)(base + n_endpoints + c), "10.77.2.2", DPORT);
        if (sched_setaffinity(0, sizeof(set), &set) || test_run(f).verdict != XDP_REDIRECT) {
            fprintf(stderr, "nat_race: the first flow on CPU %d was not forwarded\n", c);
            return 2;
        }
    }
    uint64_t c0 = cursors(pc_fd);
    pthread_t t[2];
    for (int c = 0; c < 2; c++)
        pthread_create(&t[c], NULL, racer, (void *)(intptr_t)c);
    for (int c = 0; c < 2; c++) {
        void *rc;
        pthread_join(t[c], &rc);
        if (rc) {
            fprintf(stderr, "nat_race: cannot pin a thread to CPU %d\n", c);
            return 2;
        }
    }
    /* 32-bit cursors: the difference modulo 2^32 each, summed. */
    uint64_t adv = (cursors(pc_fd) - c0) & 0xffffffffu;
    printf("contested %lld\n", (long long)(adv / MOAT_LG_ALLOC_TRIES) - n_endpoints);

    int fwd = 0, same = 0, answered = 0;
    uint32_t client;
    inet_pton(AF_INET, "10.77.1.2", &client);
    for (int i = 0; i < n_endpoints; i++) {
        struct run *a = &runs[0][i], *b = &runs[1][i];
        fwd += (a->verdict == XDP_REDIRECT) + (b->verdict == XDP_REDIRECT);
        same += a->verdict == XDP_REDIRECT && b->verdict == XDP_REDIRECT && a->sport == b->sport &&
                a->src == b->src;
        for (int c = 0; c < 2; c++) {
            struct run *r = &runs[c][i];
            if (r->verdict != XDP_REDIRECT)
                continue;
            char ext[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &r->src, ext, sizeof(ext));
            udp_frame(f, "10.77.2.2", (uint16_t)(DPORT + c * dport_step), ext, r->sport);
            struct run back = test_run(f);
            answered += back.verdict == XDP_REDIRECT && back.dst == client &&
                        back.dport == base + i && back.sport == DPORT + c * dport_step;
        }
    }
    check(fwd == 2 * n_endpoints, "first packets of two CPUs forwarded", fwd, 2 * n_endpoints);
    check(same == n_endpoints, "both flows of an endpoint leave from one external port", same,
          n_endpoints);
    check(answered == 2 * n_endpoints, "replies back to their endpoint", answered, 2 * n_endpoints);
    return failed ? 1 : 0;
}
