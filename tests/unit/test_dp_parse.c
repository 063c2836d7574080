/* SPDX-License-Identifier: MIT */
/* Unit tests for dataplane/parse.c: metadata and header validation of redirected frames. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "csum.h"
#include "parse.h"

#define HEADROOM 256

/* A UMEM-like frame: HEADROOM bytes (metadata at the end), then the packet. */
struct frame {
    uint8_t buf[HEADROOM + 2048];
    uint8_t *pkt;
    uint32_t len;
    struct moat_meta *meta;
};

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void build(struct frame *f, int v6, uint8_t proto, int vlan, uint32_t payload)
{
    memset(f, 0, sizeof(*f));
    f->pkt = f->buf + HEADROOM;
    f->meta = (struct moat_meta *)(f->pkt - sizeof(struct moat_meta));
    uint8_t *p = f->pkt;
    memset(p, 0x02, 6);
    memset(p + 6, 0x04, 6);
    uint32_t l3 = 14;
    /* vlan: number of tags; two is 802.1ad outside 802.1Q. */
    for (int i = 0; i < vlan; i++) {
        wr16(p + 12 + 4 * i, vlan == 2 && i == 0 ? 0x88a8 : 0x8100);
        wr16(p + 14 + 4 * i, (uint16_t)(100 + i));
        l3 += 4;
    }
    wr16(p + l3 - 2, v6 ? 0x86dd : 0x0800);
    uint32_t l4len = proto == IPPROTO_TCP ? 20 : 8;
    uint8_t *ip = p + l3;
    uint32_t iphl = v6 ? 40 : 20;
    uint8_t *l4 = ip + iphl;
    struct moat_meta *m = f->meta;
    if (!v6) {
        ip[0] = 0x45;
        wr16(ip + 2, (uint16_t)(iphl + l4len + payload));
        ip[8] = 64;
        ip[9] = proto;
        uint8_t src[4] = {10, 77, 1, 2}, dst[4] = {10, 77, 2, 2};
        memcpy(ip + 12, src, 4);
        memcpy(ip + 16, dst, 4);
        uint16_t c = csum_compute(ip, 20);
        memcpy(ip + 10, &c, 2);
        memcpy(m->src, src, 4);
        memcpy(m->dst, dst, 4);
    } else {
        ip[0] = 0x60;
        wr16(ip + 4, (uint16_t)(l4len + payload));
        ip[6] = proto;
        ip[7] = 64;
        inet_pton(AF_INET6, "fd00:77:1::2", ip + 8);
        inet_pton(AF_INET6, "fd00:77:2::2", ip + 24);
        memcpy(m->src, ip + 8, 16);
        memcpy(m->dst, ip + 24, 16);
        m->flags |= MOAT_META_F_IPV6;
    }
    if (proto == IPPROTO_TCP) {
        wr16(l4, 40000);
        wr16(l4 + 2, 80);
        l4[12] = 5 << 4;
        m->sport = htons(40000);
        m->dport = htons(80);
    } else if (proto == IPPROTO_UDP) {
        wr16(l4, 5353);
        wr16(l4 + 2, 53);
        wr16(l4 + 4, (uint16_t)(8 + payload));
        m->sport = htons(5353);
        m->dport = htons(53);
    } else {
        l4[0] = v6 ? 128 : 8; /* echo request */
        wr16(l4 + 4, 77);
        m->icmp_type = l4[0];
        m->sport = htons(77);
    }
    m->ifindex = 5;
    m->proto = proto;
    m->l3_off = (uint8_t)l3;
    m->l4_off = (uint8_t)(l3 + iphl);
    m->ttl = 64;
    m->flags |= MOAT_META_F_L4 | (vlan ? MOAT_META_F_VLAN : 0) | (vlan == 2 ? MOAT_META_F_QINQ : 0);
    m->magic = MOAT_META_MAGIC;
    f->len = l3 + iphl + l4len + payload;
}

static int parse(struct frame *f, struct pkt_info *pi)
{
    const struct moat_meta *m = parse_meta(f->pkt, HEADROOM);
    if (!m)
        return -EBADMSG;
    return parse_packet(f->pkt, f->len, m, pi);
}

static void test_good_ipv4(void **state)
{
    (void)state;
    const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP};
    for (unsigned i = 0; i < 3; i++) {
        struct frame f;
        build(&f, 0, protos[i], 0, 100);
        struct pkt_info pi;
        assert_int_equal(parse(&f, &pi), 0);
        assert_int_equal(pi.family, 4);
        assert_int_equal(pi.ttl, 64);
        assert_int_equal(pi.l3_off, 14);
        assert_int_equal(pi.l3_len, f.len - 14);
        assert_int_equal(pi.proto, protos[i]);
        assert_int_equal(pi.vlan_tags, 0);
    }
}

static void test_good_ipv6(void **state)
{
    (void)state;
    const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6};
    for (unsigned i = 0; i < 3; i++) {
        struct frame f;
        build(&f, 1, protos[i], 0, 33);
        struct pkt_info pi;
        assert_int_equal(parse(&f, &pi), 0);
        assert_int_equal(pi.family, 6);
        assert_int_equal(pi.ttl, 64);
        assert_int_equal(pi.l3_len, f.len - 14);
        assert_int_equal(pi.proto, protos[i]);
    }
}

static void test_good_vlan_and_padding(void **state)
{
    (void)state;
    struct frame f;
    build(&f, 0, IPPROTO_UDP, 1, 0);
    struct pkt_info pi;
    assert_int_equal(parse(&f, &pi), 0);
    assert_int_equal(pi.l3_off, 18);
    assert_int_equal(pi.vlan_tags, 1);
    build(&f, 1, IPPROTO_TCP, 2, 20); /* QinQ */
    assert_int_equal(parse(&f, &pi), 0);
    assert_int_equal(pi.l3_off, 22);
    assert_int_equal(pi.vlan_tags, 2);
    assert_int_equal(pi.l3_len, f.len - 22);
    /* Ethernet minimum-size padding after the IP packet is fine. */
    build(&f, 0, IPPROTO_ICMP, 0, 0);
    uint32_t iplen = f.len - 14;
    f.len = 60;
    assert_int_equal(parse(&f, &pi), 0);
    assert_int_equal(pi.l3_len, iplen);
}

static void test_metadata_missing_or_bad(void **state)
{
    (void)state;
    struct frame f;
    build(&f, 0, IPPROTO_TCP, 0, 10);
    assert_null(parse_meta(f.pkt, sizeof(struct moat_meta) - 1));
    assert_non_null(parse_meta(f.pkt, sizeof(struct moat_meta)));
    f.meta->magic = MOAT_META_MAGIC + 1; /* another layout version */
    assert_null(parse_meta(f.pkt, HEADROOM));
    f.meta->magic = 0;
    assert_null(parse_meta(f.pkt, HEADROOM));
}

static void test_truncated(void **state)
{
    (void)state;
    struct pkt_info pi;
    struct frame f;
    for (int v6 = 0; v6 < 2; v6++) {
        build(&f, v6, IPPROTO_TCP, 0, 50);
        uint32_t full = f.len;
        assert_int_equal(parse(&f, &pi), 0);
        /* Any cut into the IP packet is refused (the IP length says more). */
        for (uint32_t len = 0; len < full; len++) {
            f.len = len;
            assert_int_equal(parse(&f, &pi), -EINVAL);
        }
    }
}

static void test_inconsistent_ipv4(void **state)
{
    (void)state;
    struct pkt_info pi;
    struct frame f;
    uint8_t *ip;

    build(&f, 0, IPPROTO_TCP, 0, 10);
    ip = f.pkt + 14;
    ip[0] = 0x44; /* IHL 4 */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    ip = f.pkt + 14;
    ip[0] = 0x4f; /* IHL 15: 60 bytes, beyond the total length's L4 room */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    ip = f.pkt + 14;
    wr16(ip + 2, 19); /* total length below the header length */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    ip = f.pkt + 14;
    ip[0] = 0x65; /* version 6 in an IPv4 EtherType */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    wr16(f.pkt + 12, 0x86dd); /* EtherType disagrees with the metadata family */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    f.meta->dst[3] ^= 1; /* metadata tuple disagrees with the header */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    f.meta->proto = IPPROTO_UDP;
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    f.meta->l3_off = 18; /* no VLAN flag */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    f.meta->l4_off = 40; /* not right after the IPv4 header */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    f.pkt[14 + 20 + 12] = 4 << 4; /* TCP data offset 16 bytes */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 10);
    f.pkt[14 + 20 + 12] = 15 << 4; /* TCP data offset 60 bytes: beyond the packet */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_TCP, 0, 0);
    ip = f.pkt + 14;
    wr16(ip + 2, 20 + 12); /* room for only 12 bytes of TCP header */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, IPPROTO_UDP, 1, 0);
    wr16(f.pkt + 12, 0x0800); /* VLAN flag but no tag */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 0, 47 /* GRE */, 0, 10);
    assert_int_equal(parse(&f, &pi), -EINVAL); /* F_L4 on a protocol without a known header */
    f.meta->flags &= (uint16_t)~MOAT_META_F_L4;
    f.meta->l4_off = 0;
    assert_int_equal(parse(&f, &pi), 0); /* no L4 claimed: fine */
}

static void test_inconsistent_ipv6(void **state)
{
    (void)state;
    struct pkt_info pi;
    struct frame f;
    uint8_t *ip;

    build(&f, 1, IPPROTO_UDP, 0, 10);
    ip = f.pkt + 14;
    wr16(ip + 4, 19); /* payload length beyond the frame */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 1, IPPROTO_UDP, 0, 10);
    ip = f.pkt + 14;
    wr16(ip + 4, 4); /* payload too short for the UDP header */
    f.len = 14 + 40 + 4;
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 1, IPPROTO_UDP, 0, 10);
    ip = f.pkt + 14;
    ip[0] = 0x40;
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 1, IPPROTO_UDP, 0, 10);
    f.meta->src[15] ^= 0xff;
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 1, IPPROTO_UDP, 0, 10);
    f.meta->flags &= (uint16_t)~MOAT_META_F_IPV6; /* metadata says IPv4 */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 1, IPPROTO_UDP, 0, 10);
    f.meta->proto = IPPROTO_TCP; /* next header right after the fixed header is UDP */
    assert_int_equal(parse(&f, &pi), -EINVAL);

    build(&f, 1, IPPROTO_UDP, 0, 10);
    f.meta->l4_off = 30; /* inside the IPv6 header */
    assert_int_equal(parse(&f, &pi), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_ipv4),
        cmocka_unit_test(test_good_ipv6),
        cmocka_unit_test(test_good_vlan_and_padding),
        cmocka_unit_test(test_metadata_missing_or_bad),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_inconsistent_ipv4),
        cmocka_unit_test(test_inconsistent_ipv6),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
