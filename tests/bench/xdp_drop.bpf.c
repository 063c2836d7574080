/* SPDX-License-Identifier: MIT */
/* The benchmark receiver's XDP program: drops IPv4 UDP, passes the rest (ARP, ICMP, TCP).
 * Attached to the server's veth end while a UDP flood is measured, so delivered datagrams
 * are counted (a veth counts every frame its XDP program saw) without the server's stack
 * spending the CPU the forwarder needs. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_drop_udp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = data + sizeof(*eth);

    if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    return ip->protocol == IPPROTO_UDP ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
