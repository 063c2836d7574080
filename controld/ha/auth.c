/* SPDX-License-Identifier: MIT */
/* auth.c — sealed HA frames (auth.h). */
#include "auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbmsg.h"

static const uint8_t magic[4] = {'M', 'O', 'H', 'A'};

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* HMAC-SHA256. The algorithm is fetched once (OpenSSL 3's one-shot HMAC() fetches it on every
 * call, which costs more than hashing a heartbeat). */
static int mac(const char *key, const uint8_t *data, size_t len, uint8_t out[HA_MAC_LEN])
{
    static EVP_MAC *hmac;
    if (!hmac && !(hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)))
        return -EIO;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    if (!ctx)
        return -ENOMEM;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t n = 0;
    int ok = EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params) &&
             EVP_MAC_update(ctx, data, len) && EVP_MAC_final(ctx, out, &n, HA_MAC_LEN) &&
             n == HA_MAC_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -EIO;
}

int ha_seal(const char *key, uint8_t node, uint8_t cluster, uint64_t seq, const Moat__Envelope *env,
            uint8_t **out, size_t *out_len)
{
    size_t plen = moat__envelope__get_packed_size(env);
    if (plen > HA_MAX_PAYLOAD)
        return -EMSGSIZE;
    size_t total = HA_HDR_LEN + plen + HA_MAC_LEN;
    uint8_t *b = malloc(total);
    if (!b)
        return -ENOMEM;
    memcpy(b, magic, 4);
    b[4] = HA_VERSION;
    b[5] = node;
    b[6] = cluster;
    b[7] = 0;
    put64(b + 8, seq);
    put32(b + 16, (uint32_t)plen);
    moat__envelope__pack(env, b + HA_HDR_LEN);
    if (mac(key, b, HA_HDR_LEN + plen, b + HA_HDR_LEN + plen) < 0) {
        free(b);
        return -EIO;
    }
    *out = b;
    *out_len = total;
    return 0;
}

int ha_frame_len(const uint8_t *buf, size_t have, size_t max_payload, size_t *total)
{
    if (have < HA_HDR_LEN) {
        if (memcmp(buf, magic, have < 4 ? have : 4) != 0)
            return -EBADMSG;
        return 0;
    }
    if (memcmp(buf, magic, 4) != 0 || buf[4] != HA_VERSION)
        return -EBADMSG;
    uint32_t plen = get32(buf + 16);
    if (plen > max_payload)
        return -EMSGSIZE;
    *total = HA_HDR_LEN + (size_t)plen + HA_MAC_LEN;
    return 1;
}

int ha_open(const char *key, const uint8_t *buf, size_t len, struct ha_hdr *hdr,
            Moat__Envelope **env)
{
    size_t total = 0;
    if (len < HA_HDR_LEN + HA_MAC_LEN || ha_frame_len(buf, len, HA_MAX_PAYLOAD, &total) != 1 ||
        total != len)
        return -EBADMSG;
    uint8_t want[HA_MAC_LEN];
    if (mac(key, buf, len - HA_MAC_LEN, want) < 0)
        return -EIO;
    if (CRYPTO_memcmp(want, buf + len - HA_MAC_LEN, HA_MAC_LEN) != 0)
        return -EACCES;
    hdr->version = buf[4];
    hdr->node = buf[5];
    hdr->cluster = buf[6];
    hdr->seq = get64(buf + 8);
    hdr->len = get32(buf + 16);
    *env = moat__envelope__unpack(NULL, hdr->len, buf + HA_HDR_LEN);
    if (!*env)
        return -EPROTO;
    if ((*env)->msg_case == MOAT__ENVELOPE__MSG__NOT_SET) {
        moat__envelope__free_unpacked(*env, NULL);
        *env = NULL;
        return -EPROTO;
    }
    /* Nothing here reads unknown fields, and synced records are passed on (pbmsg.h). */
    pb_strip_unknown(&(*env)->base);
    return 0;
}

bool ha_replay_accept(struct ha_replay *r, uint64_t seq)
{
    if (seq == 0)
        return false;
    if (!r->init) {
        r->init = true;
        r->top = seq;
        r->bitmap = 1;
        return true;
    }
    if (seq > r->top) {
        uint64_t shift = seq - r->top;
        r->bitmap = shift >= 64 ? 1 : (r->bitmap << shift) | 1;
        r->top = seq;
        return true;
    }
    uint64_t back = r->top - seq;
    if (back >= 64 || (r->bitmap >> back) & 1)
        return false;
    r->bitmap |= 1ull << back;
    return true;
}

enum ha_rx ha_rx_heartbeat(const char *key, unsigned cluster_id, unsigned my_node,
                           struct ha_replay *replay, const uint8_t *buf, size_t len,
                           struct ha_hdr *hdr, Moat__Envelope **env)
{
    *env = NULL;
    memset(hdr, 0, sizeof(*hdr));
    int rc = ha_open(key, buf, len, hdr, env);
    if (rc == -EACCES)
        return HA_RX_BAD_MAC;
    if (rc < 0)
        return HA_RX_MALFORMED;
    /* The sender first: a node that is not the peer (a misconfigured node id) must not move
     * the peer's replay window. */
    const Moat__Envelope *e = *env;
    if (e->msg_case != MOAT__ENVELOPE__MSG_CLUSTER_HEARTBEAT ||
        e->cluster_heartbeat->cluster_id != cluster_id ||
        e->cluster_heartbeat->node_id != 1 - my_node || hdr->node != 1 - my_node) {
        moat__envelope__free_unpacked(*env, NULL);
        *env = NULL;
        return HA_RX_FOREIGN;
    }
    if (!ha_replay_accept(replay, hdr->seq)) {
        moat__envelope__free_unpacked(*env, NULL);
        *env = NULL;
        return HA_RX_REPLAYED;
    }
    return HA_RX_OK;
}

enum ha_rx ha_rx_stream(const char *key, unsigned cluster_id, unsigned my_node, uint64_t *last_seq,
                        const uint8_t *buf, size_t len, struct ha_hdr *hdr, Moat__Envelope **env)
{
    *env = NULL;
    memset(hdr, 0, sizeof(*hdr));
    int rc = ha_open(key, buf, len, hdr, env);
    if (rc == -EACCES)
        return HA_RX_BAD_MAC;
    if (rc < 0)
        return HA_RX_MALFORMED;
    if (hdr->seq <= *last_seq || hdr->node != 1 - my_node || hdr->cluster != (uint8_t)cluster_id) {
        moat__envelope__free_unpacked(*env, NULL);
        *env = NULL;
        return HA_RX_REPLAYED;
    }
    *last_seq = hdr->seq;
    return HA_RX_OK;
}

uint64_t ha_seq_base(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
