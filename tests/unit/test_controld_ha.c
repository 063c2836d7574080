/* SPDX-License-Identifier: MIT */
/* Unit tests for controld/ha: sealed frames (auth.c: fields of a newer peer dropped on
 * decode) and the election rule (election.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/hmac.h>

#include "ha/auth.h"
#include "ha/election.h"
#include "ha/ha_internal.h"
#include "sessrec.h"
#include "strbuf.h"

static void seal_hb(const char *key, uint64_t seq, uint8_t **buf, size_t *len)
{
    Moat__ClusterGroupState g = MOAT__CLUSTER_GROUP_STATE__INIT;
    g.id = 1;
    g.priority = 200;
    g.primary = true;
    Moat__ClusterGroupState *gp[1] = {&g};
    Moat__ClusterHeartbeat hb = MOAT__CLUSTER_HEARTBEAT__INIT;
    hb.cluster_id = 1;
    hb.node_id = 0;
    hb.groups = gp;
    hb.n_groups = 1;
    Moat__Envelope env = MOAT__ENVELOPE__INIT;
    env.msg_case = MOAT__ENVELOPE__MSG_CLUSTER_HEARTBEAT;
    env.cluster_heartbeat = &hb;
    assert_int_equal(ha_seal(key, 0, 1, seq, &env, buf, len), 0);
}

static void test_seal_open(void **state)
{
    (void)state;
    uint8_t *b;
    size_t len;
    seal_hb("secret", 42, &b, &len);
    size_t total = 0;
    assert_int_equal(ha_frame_len(b, len, HA_MAX_PAYLOAD, &total), 1);
    assert_int_equal(total, len);
    assert_int_equal(ha_frame_len(b, 10, HA_MAX_PAYLOAD, &total), 0);
    struct ha_hdr h;
    Moat__Envelope *env = NULL;
    assert_int_equal(ha_open("secret", b, len, &h, &env), 0);
    assert_int_equal(h.seq, 42);
    assert_int_equal(h.node, 0);
    assert_int_equal(h.cluster, 1);
    assert_int_equal(env->msg_case, MOAT__ENVELOPE__MSG_CLUSTER_HEARTBEAT);
    assert_int_equal(env->cluster_heartbeat->groups[0]->priority, 200);
    moat__envelope__free_unpacked(env, NULL);
    free(b);
}

static void test_bad_mac(void **state)
{
    (void)state;
    uint8_t *b;
    size_t len;
    struct ha_hdr h;
    Moat__Envelope *env = NULL;
    seal_hb("wrong-key", 7, &b, &len);
    assert_int_equal(ha_open("secret", b, len, &h, &env), -EACCES);
    assert_null(env);
    free(b);
    /* One flipped bit anywhere (header, payload or MAC) is refused. */
    seal_hb("secret", 7, &b, &len);
    for (size_t i = 0; i < len; i++) {
        b[i] ^= 0x10;
        int rc = ha_open("secret", b, len, &h, &env);
        assert_true(rc == -EACCES || rc == -EBADMSG);
        assert_null(env);
        b[i] ^= 0x10;
    }
    assert_int_equal(ha_open("secret", b, len - 1, &h, &env), -EBADMSG);
    free(b);
}

static void test_replay_window(void **state)
{
    (void)state;
    struct ha_replay r = {0};
    assert_false(ha_replay_accept(&r, 0));
    assert_true(ha_replay_accept(&r, 1000));
    assert_false(ha_replay_accept(&r, 1000)); /* duplicate */
    assert_true(ha_replay_accept(&r, 1002));
    assert_true(ha_replay_accept(&r, 1001)); /* reordered, inside the window */
    assert_false(ha_replay_accept(&r, 1001));
    assert_true(ha_replay_accept(&r, 1100));
    assert_false(ha_replay_accept(&r, 1002)); /* older than the window */
    assert_true(ha_replay_accept(&r, 1100 - 63));
    assert_false(ha_replay_accept(&r, 1100 - 64));
}

static struct el_input base(unsigned me)
{
    struct el_input in = {.me = me, .peer_alive = true, .manual_node = -1};
    in.prio[0] = 200;
    in.prio[1] = 100;
    in.ready[0] = in.ready[1] = true;
    return in;
}

/* The receive-side verdicts the daemon acts on (heartbeat.c, sync.c). seal_hb: node 0, cluster 1.
 */
static void test_rx_verdicts(void **state)
{
    (void)state;
    uint8_t *b;
    size_t len;
    struct ha_hdr h;
    Moat__Envelope *env = NULL;
    struct ha_replay rp = {0};
    seal_hb("secret", 100, &b, &len);
    assert_int_equal(ha_rx_heartbeat("wrong", 1, 1, &rp, b, len, &h, &env), HA_RX_BAD_MAC);
    assert_null(env);
    assert_int_equal(ha_rx_heartbeat("secret", 1, 1, &rp, b, len - 1, &h, &env), HA_RX_MALFORMED);
    assert_int_equal(ha_rx_heartbeat("secret", 1, 1, &rp, b, len, &h, &env), HA_RX_OK);
    assert_non_null(env);
    moat__envelope__free_unpacked(env, NULL);
    assert_int_equal(ha_rx_heartbeat("secret", 1, 1, &rp, b, len, &h, &env), HA_RX_REPLAYED);
    assert_null(env);
    free(b);
    /* the same node id on both nodes, or another cluster: foreign */
    seal_hb("secret", 101, &b, &len);
    assert_int_equal(ha_rx_heartbeat("secret", 1, 0, &rp, b, len, &h, &env), HA_RX_FOREIGN);
    assert_null(env);
    assert_int_equal(h.node, 0);
    free(b);
    seal_hb("secret", 102, &b, &len);
    assert_int_equal(ha_rx_heartbeat("secret", 2, 1, &rp, b, len, &h, &env), HA_RX_FOREIGN);
    free(b);
    /* stream: strictly increasing sequence numbers from the peer */
    uint64_t last = 0;
    seal_hb("secret", 200, &b, &len);
    assert_int_equal(ha_rx_stream("secret", 1, 1, &last, b, len, &h, &env), HA_RX_OK);
    assert_int_equal(last, 200);
    moat__envelope__free_unpacked(env, NULL);
    assert_int_equal(ha_rx_stream("secret", 1, 1, &last, b, len, &h, &env), HA_RX_REPLAYED);
    assert_int_equal(ha_rx_stream("secret", 1, 0, &last, b, len, &h, &env), HA_RX_REPLAYED);
    assert_int_equal(ha_rx_stream("nope", 1, 1, &last, b, len, &h, &env), HA_RX_BAD_MAC);
    assert_int_equal(last, 200);
    free(b);
}

static void test_election(void **state)
{
    (void)state;
    /* Nobody primary: the higher priority wins, on both nodes. */
    struct el_input a = base(0), b = base(1);
    assert_true(el_step(&a));
    assert_false(el_step(&b));
    /* Peer lost: take every group, whatever the priority. */
    b.peer_alive = false;
    assert_true(el_step(&b));
    /* Node 1 is primary, node 0 comes back: no preempt = node 1 stays. */
    a = base(0);
    a.primary[1] = true;
    assert_false(el_step(&a));
    /* Preempt, but node 0 does not hold the sessions yet: wait. */
    a.preempt = true;
    a.ready[0] = false;
    assert_false(el_step(&a));
    /* Preempt and ready: node 1 steps down first... */
    a.ready[0] = true;
    b = base(1);
    b.preempt = true;
    b.primary[1] = true;
    assert_false(el_step(&b));
    /* ...node 0 takes over only once node 1 says it is not primary any more. */
    assert_false(el_step(&a));
    a.primary[1] = false;
    assert_true(el_step(&a));
    /* Manual failover to node 1 beats priority and preempt. */
    a = base(0);
    a.preempt = true;
    a.primary[0] = true;
    a.manual_node = 1;
    assert_false(el_step(&a));
    b = base(1);
    b.preempt = true;
    b.manual_node = 1;
    b.primary[0] = true;
    assert_false(el_step(&b)); /* node 0 has not stepped down yet */
    b.primary[0] = false;
    assert_true(el_step(&b));
    /* Monitored interface down: priority 0 hands the group over. */
    assert_int_equal(el_effective_priority(200, 255), 0);
    assert_int_equal(el_effective_priority(200, 50), 150);
    a = base(0);
    a.primary[0] = true;
    a.prio[0] = 0;
    assert_false(el_step(&a));
    /* Both primary (control link back after a split): the lower priority steps down. */
    a = base(0);
    a.primary[0] = a.primary[1] = true;
    b = base(1);
    b.primary[0] = b.primary[1] = true;
    assert_true(el_step(&a));
    assert_false(el_step(&b));
    /* Equal priorities: node 0. */
    a = base(0);
    a.prio[1] = 200;
    assert_int_equal(el_desired(&a), 0);
}

/* Protobuf wire bytes for the test below. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

static size_t put_bytes(uint8_t *p, unsigned field, const uint8_t *b, size_t len)
{
    size_t n = put_varint(p, (uint64_t)field << 3 | 2);
    n += put_varint(p + n, len);
    memcpy(p + n, b, len);
    return n + len;
}

/* A SyncSessions from a newer peer: its SessionRecord and FlowKey carry fields this build does
 * not know (varint 30, length-delimited 31 and a malformed tag 0 in the record, varint 9 in the
 * key). ha_open drops
 * them: the record converts to the same compact form as the clean one, and the message packs
 * to exactly the clean message's bytes (protobuf-c would carry them otherwise). */
static void test_unknown_fields_dropped(void **state)
{
    (void)state;
    uint8_t c[4] = {10, 77, 1, 2}, s[4] = {10, 77, 2, 2};
    Moat__FlowKey fk = MOAT__FLOW_KEY__INIT;
    fk.src.data = c;
    fk.dst.data = s;
    fk.src.len = fk.dst.len = 4;
    fk.sport = 4444;
    fk.dport = 53;
    fk.protocol = 17;
    Moat__SessionRecord rec = MOAT__SESSION_RECORD__INIT;
    rec.id = 77;
    rec.from_zone = 1;
    rec.to_zone = 2;
    rec.state = MOAT__SESSION_STATE__SESSION_ESTABLISHED;
    rec.packets_fwd = 5;
    rec.owner_rg = 1;
    Moat__SessionDelta d = MOAT__SESSION_DELTA__INIT, *dp[1] = {&d};
    d.session = &rec;
    char *names[1] = {"fw0"};
    Moat__SyncSessions m = MOAT__SYNC_SESSIONS__INIT;
    m.seq = 1;
    m.bulk = true;
    m.deltas = dp;
    m.n_deltas = 1;
    m.in_ifnames = m.out_ifnames = names;
    m.n_in_ifnames = m.n_out_ifnames = 1;
    Moat__Envelope clean = MOAT__ENVELOPE__INIT;
    clean.msg_case = MOAT__ENVELOPE__MSG_SYNC_SESSIONS;
    clean.sync_sessions = &m;

    /* The same message with unknown fields, in wire bytes. */
    uint8_t key[64], r[256], dl[300], ss[400], env[500];
    size_t kn = moat__flow_key__pack(&fk, key);
    kn += put_varint(key + kn, 9u << 3 | 0);
    kn += put_varint(key + kn, 123456);
    rec.forward = NULL;
    size_t rn = moat__session_record__pack(&rec, r);
    rn += put_bytes(r + rn, 2, key, kn); /* forward */
    rn += put_varint(r + rn, 30u << 3 | 0);
    rn += put_varint(r + rn, 0xfffffffffffull);
    rn += put_bytes(r + rn, 31, (const uint8_t *)"newer", 5);
    /* Field number 0 in a two-byte tag: protobuf-c keeps it and packs it again as the one-byte
     * tag 0, which it then refuses to unpack. */
    memcpy(r + rn, "\x80\x00\x05", 3);
    rn += 3;
    rec.forward = &fk;
    size_t dn = put_bytes(dl, 2, r, rn);
    m.deltas = NULL;
    m.n_deltas = 0;
    size_t sn = moat__sync_sessions__pack(&m, ss);
    sn += put_bytes(ss + sn, 4, dl, dn);
    m.deltas = dp;
    m.n_deltas = 1;
    size_t en = put_bytes(env, 20, ss, sn);
    Moat__Envelope *newer = moat__envelope__unpack(NULL, en, env);
    assert_non_null(newer);
    const Moat__SessionRecord *nr = newer->sync_sessions->deltas[0]->session;
    assert_int_equal(nr->base.n_unknown_fields, 3); /* the input has them */
    assert_int_equal(nr->forward->base.n_unknown_fields, 1);

    moat__envelope__free_unpacked(newer, NULL);

    /* Sealed as the peer sends it: these bytes, the header, the MAC (auth.h). */
    uint8_t b[HA_HDR_LEN + sizeof(env) + HA_MAC_LEN] = {'M', 'O', 'H', 'A', HA_VERSION, 0, 1, 0};
    b[15] = 10; /* sequence number */
    b[18] = (uint8_t)(en >> 8);
    b[19] = (uint8_t)en;
    memcpy(b + HA_HDR_LEN, env, en);
    unsigned ml = 0;
    assert_non_null(HMAC(EVP_sha256(), "k", 1, b, HA_HDR_LEN + en, b + HA_HDR_LEN + en, &ml));
    size_t len = HA_HDR_LEN + en + HA_MAC_LEN;
    struct ha_hdr h;
    Moat__Envelope *got = NULL;
    assert_int_equal(ha_open("k", b, len, &h, &got), 0);
    assert_int_equal(h.seq, 10);
    const Moat__SessionRecord *gr = got->sync_sessions->deltas[0]->session;
    assert_int_equal(gr->base.n_unknown_fields, 0);
    assert_int_equal(gr->forward->base.n_unknown_fields, 0);
    assert_int_equal(got->sync_sessions->base.n_unknown_fields, 0);
    struct sessrec want, have;
    assert_true(sessrec_from_record(&rec, &want));
    assert_true(sessrec_from_record(gr, &have));
    assert_memory_equal(&want, &have, sizeof(want));
    size_t cn = moat__envelope__get_packed_size(&clean);
    assert_int_equal(moat__envelope__get_packed_size(got), cn);
    uint8_t *p1 = malloc(cn), *p2 = malloc(cn);
    moat__envelope__pack(&clean, p1);
    moat__envelope__pack(got, p2);
    assert_memory_equal(p1, p2, cn);
    free(p1);
    free(p2);
    moat__envelope__free_unpacked(got, NULL);
}

/* show chassis cluster statistics, session sync part (sync.c ha_sync_render): every counter
 * in its place in both renderings, byte for byte (each counter a distinct value). */
static void test_sync_render(void **state)
{
    (void)state;
    static struct ha ha;
    memset(&ha, 0, sizeof(ha));
    struct ha_stats *s = &ha.st;
    s->sync_msgs_sent = 101;
    s->sync_msgs_received = 102;
    s->sync_sessions_sent = 103;
    s->sync_sessions_received = 104;
    s->sync_acked = 105;
    s->sync_installed = 106;
    s->sync_install_failed = 107;
    s->sync_bulk_sent = 108;
    s->sync_bulk_received = 109;
    s->sync_resyncs = 110;
    s->sync_connects = 111;
    s->sync_disconnects = 112;
    s->sync_bad_mac = 113;
    s->sync_replayed = 114;
    s->sync_owner_rg = 115;
    s->sync_zone_fallback = 116;
    s->sync_not_owner = 117;
    s->sync_unusable = 118;
    struct strbuf o;
    strbuf_init(&o);
    ha_sync_render(&ha, false, &o);
    assert_string_equal(strbuf_str(&o), "Session sync: down\n"
                                        "  messages sent / received      101 / 102\n"
                                        "  sessions sent / received      103 / 104\n"
                                        "  sessions acked by the peer    105 (unacked messages 0)\n"
                                        "  sessions installed / failed   106 / 107 (unusable "
                                        "records: 118)\n"
                                        "  bulk syncs sent / received    108 / 109\n"
                                        "  resyncs                       110\n"
                                        "  connects / disconnects        111 / 112\n"
                                        "  bad MAC / replayed frames     113 / 114\n"
                                        "  owner RG / zone fallback      115 / 116 (not owner: "
                                        "117)\n");
    strbuf_free(&o);
    strbuf_init(&o);
    ha_sync_render(&ha, true, &o);
    /* One list, one order: the text's (unacked_messages after sessions_acked, unusable after
     * install_failed; JSON readers go by key). */
    const char *json = strbuf_str(&o);
    assert_string_equal(
        json, "\"sync\":{\"state\":\"down\",\"messages_sent\":101,\"messages_received\":102,"
              "\"sessions_sent\":103,\"sessions_received\":104,\"sessions_acked\":105,"
              "\"unacked_messages\":0,\"sessions_installed\":106,\"install_failed\":107,"
              "\"unusable\":118,\"bulk_sent\":108,\"bulk_received\":109,\"resyncs\":110,"
              "\"connects\":111,\"disconnects\":112,\"bad_mac\":113,\"replayed\":114,"
              "\"owner_rg\":115,\"zone_fallback\":116,\"not_owner\":117}");
    /* The members of the rendering before the list: each one, same value, nothing else. */
    static const char *const members[] = {
        "{\"state\":\"down\"",
        ",\"messages_sent\":101,",
        ",\"messages_received\":102,",
        ",\"sessions_sent\":103,",
        ",\"sessions_received\":104,",
        ",\"sessions_acked\":105,",
        ",\"sessions_installed\":106,",
        ",\"install_failed\":107,",
        ",\"unacked_messages\":0,",
        ",\"bulk_sent\":108,",
        ",\"bulk_received\":109,",
        ",\"resyncs\":110,",
        ",\"connects\":111,",
        ",\"disconnects\":112,",
        ",\"bad_mac\":113,",
        ",\"replayed\":114,",
        ",\"owner_rg\":115,",
        ",\"zone_fallback\":116,",
        ",\"not_owner\":117",
        ",\"unusable\":118",
    };
    size_t len = 0;
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        assert_non_null(strstr(json, members[i]));
        len += strlen(members[i]) - (members[i][strlen(members[i]) - 1] == ',');
    }
    assert_int_equal(strlen(json), strlen("\"sync\":") + len + 1 /* } */);
    strbuf_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open),     cmocka_unit_test(test_bad_mac),
        cmocka_unit_test(test_replay_window), cmocka_unit_test(test_election),
        cmocka_unit_test(test_rx_verdicts),   cmocka_unit_test(test_unknown_fields_dropped),
        cmocka_unit_test(test_sync_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
