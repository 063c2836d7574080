/* SPDX-License-Identifier: MIT */
/*
 * test_dp_screen.c — screens (dataplane/screen.c): compiling Snapshot.screens and the zone
 * bindings (refusals), the per-packet checks (land, SYN+FIN, no flags, FIN without ACK,
 * tear-drop for IPv4 and IPv6, ping of death for IPv4, with options too, and IPv6) each
 * counted once per zone, the SYN / UDP / ICMP rates per second with their window restarting,
 * and the session limits summed over workers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "moat.pb-c.h"
#include "screen.h"

/* A frame: 14 bytes of Ethernet, a 20-byte IPv4 header, then 20 bytes of TCP / 8 of UDP. */
struct frame {
    uint8_t b[256];
    uint32_t len;
    struct moat_meta m;
};

static void frame4(struct frame *f, const char *src, const char *dst, uint8_t proto, uint16_t dport,
                   uint8_t tcp_flags)
{
    memset(f, 0, sizeof(*f));
    f->len = 14 + 20 + 20;
    uint8_t *ip = f->b + 14;
    ip[0] = 0x45;
    ip[2] = 0;
    ip[3] = 40;
    ip[8] = 64;
    ip[9] = proto;
    inet_pton(AF_INET, src, ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    f->b[14 + 20 + 13] = tcp_flags;
    inet_pton(AF_INET, src, f->m.src);
    inet_pton(AF_INET, dst, f->m.dst);
    f->m.sport = htons(40000);
    f->m.dport = htons(dport);
    f->m.proto = proto;
    f->m.l3_off = 14;
    f->m.l4_off = 34;
    f->m.flags = MOAT_META_F_L4;
}

static void frag4(struct frame *f, uint16_t id, uint16_t off8, bool more, uint16_t payload)
{
    uint8_t *ip = f->b + 14;
    const uint16_t tot = (uint16_t)(20 + payload);
    ip[2] = (uint8_t)(tot >> 8);
    ip[3] = (uint8_t)tot;
    ip[4] = (uint8_t)(id >> 8);
    ip[5] = (uint8_t)id;
    const uint16_t fo = (uint16_t)(off8 | (more ? 0x2000 : 0));
    ip[6] = (uint8_t)(fo >> 8);
    ip[7] = (uint8_t)fo;
    f->m.flags = MOAT_META_F_FRAG | (off8 ? MOAT_META_F_FRAG_NF : MOAT_META_F_L4);
}

/* An IPv6 fragment from fd00::1 to fd00::2 in f: ext (0, 8 or 16 bytes: destination options
 * headers) before the fragment header of datagram id, payload bytes [off8 * 8, off8 * 8 +
 * payload) of a datagram of next header nh (the payload itself all zero). */
static void frag6(struct frame *f, uint32_t ext, uint32_t id, uint16_t off8, bool more,
                  uint16_t payload, uint8_t nh)
{
    memset(f, 0, sizeof(*f));
    uint8_t *ip = f->b + 14;
    const uint16_t plen = (uint16_t)(ext + 8 + payload);
    f->len = 14 + 40 + plen;
    assert_true(f->len <= sizeof(f->b));
    ip[0] = 0x60;
    ip[4] = (uint8_t)(plen >> 8);
    ip[5] = (uint8_t)plen;
    ip[6] = ext ? IPPROTO_DSTOPTS : IPPROTO_FRAGMENT;
    ip[7] = 64;
    inet_pton(AF_INET6, "fd00::1", ip + 8);
    inet_pton(AF_INET6, "fd00::2", ip + 24);
    for (uint32_t o = 0; o < ext; o += 8) {
        ip[40 + o] = o + 8 < ext ? IPPROTO_DSTOPTS : IPPROTO_FRAGMENT;
        ip[40 + o + 2] = 1; /* PadN of 4 */
        ip[40 + o + 3] = 4;
    }
    uint8_t *fh = ip + 40 + ext;
    fh[0] = nh;
    const uint16_t fo = (uint16_t)(off8 << 3 | (more ? 1 : 0));
    fh[2] = (uint8_t)(fo >> 8);
    fh[3] = (uint8_t)fo;
    fh[4] = (uint8_t)(id >> 24);
    fh[5] = (uint8_t)(id >> 16);
    fh[6] = (uint8_t)(id >> 8);
    fh[7] = (uint8_t)id;
    memcpy(f->m.src, ip + 8, 16);
    memcpy(f->m.dst, ip + 24, 16);
    f->m.proto = nh;
    f->m.l3_off = 14;
    f->m.flags = MOAT_META_F_IPV6 | MOAT_META_F_FRAG;
    if (off8) {
        f->m.flags |= MOAT_META_F_FRAG_NF;
    } else {
        f->m.flags |= MOAT_META_F_L4;
        f->m.l4_off = (uint8_t)(14 + 40 + ext + 8);
    }
}

static bool pkt(struct scr_worker *w, const struct scr_profile *p, struct frame *f, uint32_t now)
{
    return screen_packet(w, p, 3, f->b, f->len, &f->m, 14, now);
}

static void test_compile(void **state)
{
    (void)state;
    Moat__Snapshot s = MOAT__SNAPSHOT__INIT;
    Moat__Screen sc = MOAT__SCREEN__INIT;
    sc.id = 1;
    sc.name = "untrust-screen";
    sc.flags = SCR_F_LAND;
    sc.syn_attack = 200;
    Moat__Screen *scs[] = {&sc};
    Moat__Zone z1 = MOAT__ZONE__INIT, z2 = MOAT__ZONE__INIT;
    z1.id = 1;
    z1.name = "trust";
    z2.id = 2;
    z2.name = "untrust";
    z2.screen_id = 1;
    Moat__Zone *zs[] = {&z1, &z2};
    s.screens = scs;
    s.n_screens = 1;
    s.zones = zs;
    s.n_zones = 2;
    struct scr_tables *t = malloc(sizeof(*t));
    char err[160];
    assert_int_equal(scr_compile(&s, t, err, sizeof(err)), 0);
    assert_null(scr_of_zone(t, 1));
    assert_non_null(scr_of_zone(t, 2));
    assert_int_equal(scr_of_zone(t, 2)->syn_attack, 200);
    assert_null(scr_of_zone(t, 0));
    /* A zone naming a screen that is not there is refused, with the zone's name. */
    z1.screen_id = 7;
    assert_int_equal(scr_compile(&s, t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "zone trust refers to screen id 7"));
    z1.screen_id = 0;
    Moat__Screen dup = sc;
    Moat__Screen *two[] = {&sc, &dup};
    s.screens = two;
    s.n_screens = 2;
    assert_int_equal(scr_compile(&s, t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "appears twice"));
    free(t);
}

static void test_tcp_flags_and_land(void **state)
{
    (void)state;
    struct scr_worker *w;
    assert_int_equal(scr_worker_create(&w, 42), 0);
    struct scr_profile p = {.id = 1,
                            .flags = SCR_F_LAND | SCR_F_SYN_FIN | SCR_F_NO_FLAG | SCR_F_FIN_NO_ACK};
    struct frame f;
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 80, 0x03); /* SYN+FIN */
    assert_false(pkt(w, &p, &f, 1000));
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 80, 0x00);
    assert_false(pkt(w, &p, &f, 1000));
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 80, 0x01); /* FIN alone */
    assert_false(pkt(w, &p, &f, 1000));
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 80, 0x11); /* FIN+ACK: fine */
    assert_true(pkt(w, &p, &f, 1000));
    frame4(&f, "10.0.0.2", "10.0.0.2", IPPROTO_TCP, 80, 0x02); /* land SYN */
    assert_false(pkt(w, &p, &f, 1000));
    frame4(&f, "10.0.0.2", "10.0.0.2", IPPROTO_UDP, 53, 0);
    assert_false(pkt(w, &p, &f, 1000));
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 80, 0x02); /* a plain SYN */
    assert_true(pkt(w, &p, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_SYN_FIN], 1);
    assert_int_equal(w->ctr[3][SCR_C_NO_FLAG], 1);
    assert_int_equal(w->ctr[3][SCR_C_FIN_NO_ACK], 1);
    assert_int_equal(w->ctr[3][SCR_C_LAND], 2);
    /* The same packets pass a screen without those checks. */
    struct scr_profile none = {.id = 2};
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 80, 0x03);
    assert_true(pkt(w, &none, &f, 1000));
    scr_worker_destroy(w);
}

static void test_syn_flood(void **state)
{
    (void)state;
    struct scr_worker *w;
    assert_int_equal(scr_worker_create(&w, 42), 0);
    struct scr_profile p = {.id = 1, .syn_attack = 10, .syn_dst = 15};
    struct frame f;
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 80, 0x02);
    unsigned passed = 0;
    for (int i = 0; i < 50; i++)
        passed += pkt(w, &p, &f, 5000 + (uint32_t)i);
    assert_int_equal(passed, 10); /* per destination and port */
    /* Another port of the same destination: its own 10, until the destination's 15. */
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 81, 0x02);
    passed = 0;
    for (int i = 0; i < 50; i++)
        passed += pkt(w, &p, &f, 5100);
    assert_int_equal(passed, 5);
    /* SYN-ACKs and ACKs are not SYNs. */
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 80, 0x12);
    assert_true(pkt(w, &p, &f, 5200));
    /* The next second starts afresh. */
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 80, 0x02);
    assert_true(pkt(w, &p, &f, 6000));
    assert_int_equal(w->ctr[3][SCR_C_SYN_FLOOD], 40 + 45);
    scr_worker_destroy(w);
}

static void test_udp_icmp_flood(void **state)
{
    (void)state;
    struct scr_worker *w;
    assert_int_equal(scr_worker_create(&w, 42), 0);
    struct scr_profile p = {.id = 1, .udp_flood = 3, .icmp_flood = 2};
    struct frame f;
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 53, 0);
    unsigned passed = 0;
    for (int i = 0; i < 10; i++)
        passed += pkt(w, &p, &f, 7000);
    assert_int_equal(passed, 3);
    frame4(&f, "10.0.0.1", "10.0.0.9", IPPROTO_UDP, 53, 0); /* another destination */
    assert_true(pkt(w, &p, &f, 7000));
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_ICMP, 0, 0);
    passed = 0;
    for (int i = 0; i < 10; i++)
        passed += pkt(w, &p, &f, 7000);
    assert_int_equal(passed, 2);
    assert_int_equal(w->ctr[3][SCR_C_UDP_FLOOD], 7);
    assert_int_equal(w->ctr[3][SCR_C_ICMP_FLOOD], 8);
    scr_worker_destroy(w);
}

static void test_fragments(void **state)
{
    (void)state;
    struct scr_worker *w;
    assert_int_equal(scr_worker_create(&w, 42), 0);
    struct scr_profile p = {.id = 1, .flags = SCR_F_TEAR_DROP | SCR_F_PING_DEATH};
    struct frame f;
    /* In order, no overlap: 0..64, 64..128, 128..160 (last). */
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 53, 0);
    frag4(&f, 100, 0, true, 64);
    assert_true(pkt(w, &p, &f, 1000));
    frag4(&f, 100, 8, true, 64);
    assert_true(pkt(w, &p, &f, 1000));
    frag4(&f, 100, 16, false, 32);
    assert_true(pkt(w, &p, &f, 1000));
    /* Teardrop: a fragment starting inside the first one of another datagram. */
    frag4(&f, 200, 0, true, 64);
    assert_true(pkt(w, &p, &f, 1000));
    frag4(&f, 200, 3, false, 64);
    assert_false(pkt(w, &p, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 1);
    /* Out of order without overlap passes. */
    frag4(&f, 300, 8, false, 32);
    assert_true(pkt(w, &p, &f, 1000));
    frag4(&f, 300, 0, true, 64);
    assert_true(pkt(w, &p, &f, 1000));
    /* A fragment that continues one range and overlaps another: 0..32, 64..96, then 32..72. */
    frag4(&f, 301, 0, true, 32);
    assert_true(pkt(w, &p, &f, 1000));
    frag4(&f, 301, 8, false, 32);
    assert_true(pkt(w, &p, &f, 1000));
    frag4(&f, 301, 4, true, 40);
    assert_false(pkt(w, &p, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 2);
    /* Long after, the same id is a new datagram. */
    frag4(&f, 200, 3, false, 64);
    assert_true(pkt(w, &p, &f, 1000 + SCR_FRAG_TTL_MS + 1));
    /* Ping of death: an ICMP fragment ending beyond 65535. */
    frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_ICMP, 0, 0);
    frag4(&f, 400, 8189, false, 200);
    assert_false(pkt(w, &p, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_PING_DEATH], 1);
    frag4(&f, 401, 8000, false, 200); /* ends at 64200: fine */
    assert_true(pkt(w, &p, &f, 1000));
    scr_worker_destroy(w);
}

/* IPv6 fragments: the datagram is dropped whole from its first overlap on (RFC 5722), a
 * fragment repeating one seen before alone; adjacent fragments in or out of order and atomic
 * fragments pass. Each drop counts one tear-drop. */
static void test_fragments6(void **state)
{
    (void)state;
    struct scr_worker *w;
    assert_int_equal(scr_worker_create(&w, 42), 0);
    struct scr_profile p = {.id = 1, .flags = SCR_F_TEAR_DROP};
    struct frame f;
    /* Exactly adjacent, in order: 0..64, 64..128, 128..160 (last). */
    frag6(&f, 0, 100, 0, true, 64, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    frag6(&f, 0, 100, 8, true, 64, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    frag6(&f, 0, 100, 16, false, 32, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    /* Exactly adjacent, out of order, behind two destination options headers. */
    frag6(&f, 16, 101, 8, false, 32, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    frag6(&f, 16, 101, 0, true, 64, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 0);

    /* Overlap: 0..64, then 32..96: dropped, and so is the later 96..128 that overlaps nothing,
     * and a copy of the first fragment. */
    frag6(&f, 0, 200, 0, true, 64, IPPROTO_TCP);
    assert_true(pkt(w, &p, &f, 1000));
    frag6(&f, 0, 200, 4, true, 64, IPPROTO_TCP);
    assert_false(pkt(w, &p, &f, 1000));
    frag6(&f, 0, 200, 12, false, 32, IPPROTO_TCP);
    assert_false(pkt(w, &p, &f, 1500));
    frag6(&f, 0, 200, 0, true, 64, IPPROTO_TCP);
    assert_false(pkt(w, &p, &f, 2000));
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 3);
    /* Still discarded while fragments keep coming; forgotten SCR_FRAG_TTL_MS after the last. */
    frag6(&f, 0, 200, 12, false, 32, IPPROTO_TCP);
    assert_false(pkt(w, &p, &f, 2000 + SCR_FRAG_TTL_MS - 1));
    frag6(&f, 0, 200, 0, true, 64, IPPROTO_TCP);
    assert_true(pkt(w, &p, &f, 2000 + 2 * SCR_FRAG_TTL_MS));
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 4);

    /* The next header is not part of the datagram: a later fragment claiming another one
     * still overlaps. Another identification is another datagram. */
    frag6(&f, 0, 300, 0, true, 64, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    frag6(&f, 0, 301, 2, false, 32, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    frag6(&f, 8, 300, 2, false, 32, IPPROTO_TCP);
    assert_false(pkt(w, &p, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 5);

    /* Duplicate: a copy of 0..64 and a part of it are dropped alone; the datagram goes on. */
    frag6(&f, 0, 400, 0, true, 64, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    assert_false(pkt(w, &p, &f, 1000));
    frag6(&f, 0, 400, 2, true, 16, IPPROTO_UDP);
    assert_false(pkt(w, &p, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 7);
    frag6(&f, 0, 400, 8, false, 32, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));

    /* A fragment that continues one range and overlaps another: 0..32, 64..96, then 32..72. */
    frag6(&f, 0, 500, 0, true, 32, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    frag6(&f, 0, 500, 8, false, 32, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    frag6(&f, 0, 500, 4, true, 40, IPPROTO_UDP);
    assert_false(pkt(w, &p, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 8);

    /* Atomic fragments (offset 0, no more) are whole datagrams: the same id twice passes. */
    frag6(&f, 0, 600, 0, false, 16, IPPROTO_UDP);
    assert_true(pkt(w, &p, &f, 1000));
    assert_true(pkt(w, &p, &f, 1000));

    /* A payload length that cuts the fragment header: nothing to compare, no read past it. */
    frag6(&f, 0, 700, 1, true, 0, IPPROTO_UDP);
    f.b[14 + 5] = 4;
    assert_true(pkt(w, &p, &f, 1000));
    /* Without tear-drop in the screen overlaps pass. */
    struct scr_profile none = {.id = 2, .flags = SCR_F_LAND};
    frag6(&f, 0, 800, 0, true, 64, IPPROTO_UDP);
    assert_true(pkt(w, &none, &f, 1000));
    frag6(&f, 0, 800, 4, false, 64, IPPROTO_UDP);
    assert_true(pkt(w, &none, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 8);
    scr_worker_destroy(w);
}

/* IPv4 ping of death with options: the datagram's length is the header (IHL words, up to 60
 * bytes) plus the fragment's end, so the limit comes that much earlier. */
static void test_ping_death4_options(void **state)
{
    (void)state;
    struct scr_worker *w;
    assert_int_equal(scr_worker_create(&w, 42), 0);
    struct scr_profile p = {.id = 1, .flags = SCR_F_PING_DEATH};
    struct frame f;
    /* {IHL, offset / 8, the fragment's data bytes that end the datagram at exactly 65535} */
    static const struct {
        uint8_t ihl;
        uint16_t off8;
        uint16_t fit;
    } c[] = {{5, 8189, 3}, {6, 8186, 23}, {15, 8184, 3}};
    uint64_t dropped = 0;
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        for (uint16_t extra = 0; extra < 2; extra++) {
            frame4(&f, "10.0.0.1", "10.0.0.2", IPPROTO_ICMP, 0, 0);
            frag4(&f, (uint16_t)(500 + i), c[i].off8, false, 0);
            uint8_t *ip = f.b + 14;
            const uint16_t tot = (uint16_t)(c[i].ihl * 4 + c[i].fit + extra);
            ip[0] = (uint8_t)(0x40 | c[i].ihl);
            ip[2] = (uint8_t)(tot >> 8);
            ip[3] = (uint8_t)tot;
            f.len = 14 + tot;
            assert_int_equal(pkt(w, &p, &f, 1000), !extra); /* 65535 passes, 65536 not */
            dropped += extra;
            assert_int_equal(w->ctr[3][SCR_C_PING_DEATH], dropped);
        }
    }
    scr_worker_destroy(w);
}

/* IPv6 ping of death (RFC 8200 4.5): a fragment that would make the reassembled Payload
 * Length (extension headers before the fragment header, then the fragmentable part) exceed
 * 65535 is dropped alone and counted as ping-death, whatever its next header. */
static void test_ping_death6(void **state)
{
    (void)state;
    struct scr_worker *w;
    assert_int_equal(scr_worker_create(&w, 42), 0);
    struct scr_profile p = {.id = 1, .flags = SCR_F_PING_DEATH};
    struct frame f;
    /* No, one and two destination options headers (0, 8, 16 bytes) before the fragment
     * header: the fragment's offset moves down by that much for the same limit. */
    uint64_t dropped = 0;
    for (uint32_t ext = 0; ext <= 16; ext += 8) {
        const uint16_t off8 = (uint16_t)(8191 - ext / 8); /* 65528 - ext */
        const uint32_t id = 1000 + ext;
        /* Ends at exactly 65535 (ext + 65528 - ext + 7): passes, as the last or not. */
        frag6(&f, ext, id, off8, false, 7, IPPROTO_ICMPV6);
        assert_true(pkt(w, &p, &f, 1000));
        /* 65536: dropped, with M set or not, whatever the next header. */
        frag6(&f, ext, id + 1, off8, false, 8, IPPROTO_ICMPV6);
        assert_false(pkt(w, &p, &f, 1000));
        frag6(&f, ext, id + 2, off8, true, 8, IPPROTO_ICMPV6);
        assert_false(pkt(w, &p, &f, 1000));
        frag6(&f, ext, id + 3, off8, false, 8, IPPROTO_UDP);
        assert_false(pkt(w, &p, &f, 1000));
        frag6(&f, ext, id + 4, off8, false, 8, IPPROTO_DSTOPTS);
        assert_false(pkt(w, &p, &f, 1000));
        dropped += 4;
        assert_int_equal(w->ctr[3][SCR_C_PING_DEATH], dropped);
        /* Dropped alone: the first fragment of that datagram still passes. */
        frag6(&f, ext, id + 1, 0, true, 64, IPPROTO_ICMPV6);
        assert_true(pkt(w, &p, &f, 1000));
    }
    /* Far beyond: the largest offset and a 160-byte fragment. */
    frag6(&f, 0, 1100, 8191, false, 160, IPPROTO_ICMPV6);
    assert_false(pkt(w, &p, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_PING_DEATH], ++dropped);
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 0);

    /* With tear-drop too it counts as ping-death; without ping-death in the screen it passes. */
    struct scr_profile both = {.id = 2, .flags = SCR_F_PING_DEATH | SCR_F_TEAR_DROP};
    frag6(&f, 8, 1200, 8190, true, 8, IPPROTO_ICMPV6);
    assert_false(pkt(w, &both, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_PING_DEATH], ++dropped);
    assert_int_equal(w->ctr[3][SCR_C_TEAR_DROP], 0);
    struct scr_profile tear = {.id = 3, .flags = SCR_F_TEAR_DROP};
    frag6(&f, 8, 1300, 8190, true, 8, IPPROTO_ICMPV6);
    assert_true(pkt(w, &tear, &f, 1000));
    assert_int_equal(w->ctr[3][SCR_C_PING_DEATH], dropped);
    scr_worker_destroy(w);
}

static struct flow_tuple key4(const char *src, const char *dst, uint16_t zone)
{
    struct flow_tuple k;
    memset(&k, 0, sizeof(k));
    inet_pton(AF_INET, src, k.src);
    inet_pton(AF_INET, dst, k.dst);
    k.family = 4;
    k.proto = IPPROTO_TCP;
    k.zone = zone;
    return k;
}

static void test_session_limits(void **state)
{
    (void)state;
    struct scr_worker *w[2];
    assert_int_equal(scr_worker_create(&w[0], 42), 0);
    assert_int_equal(scr_worker_create(&w[1], 42), 0);
    struct scr_profile p = {.id = 1, .limit_src = 3, .limit_dst = 4};
    struct flow_tuple a = key4("10.0.0.1", "10.0.0.2", 5);
    struct flow_tuple b = key4("10.0.0.7", "10.0.0.2", 5);
    /* Two sessions on worker 0, one on worker 1: the source is at its limit of 3. */
    screen_session_add(w[0], &a);
    screen_session_add(w[0], &a);
    screen_session_add(w[1], &a);
    assert_false(screen_new_flow(w[0], &p, &a, w, 2));
    assert_int_equal(w[0]->ctr[5][SCR_C_LIMIT_SRC], 1);
    /* Another source may, until the destination's 4. */
    assert_true(screen_new_flow(w[1], &p, &b, w, 2));
    screen_session_add(w[1], &b);
    assert_false(screen_new_flow(w[1], &p, &b, w, 2));
    assert_int_equal(w[1]->ctr[5][SCR_C_LIMIT_DST], 1);
    /* A session closes: room again. */
    screen_session_del(w[0], &a);
    assert_true(screen_new_flow(w[0], &p, &a, w, 2));
    /* Removing more than was added never wraps. */
    for (int i = 0; i < 5; i++)
        screen_session_del(w[1], &b);
    assert_true(screen_new_flow(w[1], &p, &b, w, 2));
    scr_worker_destroy(w[0]);
    scr_worker_destroy(w[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile),
        cmocka_unit_test(test_tcp_flags_and_land),
        cmocka_unit_test(test_syn_flood),
        cmocka_unit_test(test_udp_icmp_flood),
        cmocka_unit_test(test_fragments),
        cmocka_unit_test(test_fragments6),
        cmocka_unit_test(test_ping_death4_options),
        cmocka_unit_test(test_ping_death6),
        cmocka_unit_test(test_session_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
