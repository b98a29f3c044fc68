/* Record codec, CRC, Java hash, properties, msgId. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "rmq/errors.h"
#include "rmq/record.h"
#include "rmq/store.h"

static void test_java_hash(void) {
    CHECK_EQ(rmq_java_hash("TagA", 4), 2598919);
    CHECK_EQ(rmq_java_hash("TagB", 4), 2598920);
    CHECK_EQ(rmq_java_hash("*", 1), 42);
    CHECK_EQ(rmq_java_hash("", 0), 0);
    /* "héllo": h = 104, é = 233 ... computed with Java semantics by hand */
    int32_t h = 0;
    const int units[] = {104, 233, 108, 108, 111};
    for (int i = 0; i < 5; i++) h = (int32_t)(31u * (uint32_t)h + (uint32_t)units[i]);
    CHECK_EQ(rmq_java_hash("h\xc3\xa9llo", 6), h);
    /* U+1F600 is the surrogate pair D83D DE00 in UTF-16 */
    int32_t e = (int32_t)(31u * 0xD83Du + 0xDE00u);
    CHECK_EQ(rmq_java_hash("\xf0\x9f\x98\x80", 4), e);
}

/* Bit-at-a-time CRC-32 (reflected 0xEDB88320), the oracle for whichever library the build
 * linked; the folding paths of a fast one only start past 16-64 bytes, so lengths go past those. */
static uint32_t crc_oracle(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void test_crc(void) {
    CHECK_EQ(rmq_crc32("123456789", 9), 0x4BF43926); /* the CRC-32 check value, top bit off */
    CHECK_EQ(rmq_crc32("", 0), 0);
    static uint8_t buf[5004]; /* the longest length plus the offsets */
    srand(7);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)rand();
    const size_t lens[] = {1, 15, 16, 63, 64, 65, 127, 128, 255, 256, 1023, 1024, 4999};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t off = 0; off < 3; off++) /* unaligned starts too */
            CHECK_EQ(rmq_crc32(buf + off, lens[i]),
                     (int32_t)(crc_oracle(buf + off, lens[i]) & 0x7FFFFFFF));
}

static void test_encode_parse(int born_v6, int store_v6) {
    uint8_t buf[512], bh[16] = {10, 0, 0, 1}, sh[16] = {127, 0, 0, 1};
    if (born_v6) memset(bh, 0xAB, 16);
    if (store_v6) memset(sh, 0xCD, 16);
    const char *props = "TAGS\x01TagA\x02KEYS\x01k1 k2\x02";
    rmq_rec_t r = {0};
    r.queue_id = 3; r.flag = 9; r.queue_offset = 77; r.phys_offset = 4096;
    r.sysflag = (born_v6 ? RMQ_SYSFLAG_BORNHOST_V6 : 0) | (store_v6 ? RMQ_SYSFLAG_STOREHOST_V6 : 0);
    r.born_timestamp = 111; r.born_host = bh; r.born_port = 5555;
    r.store_timestamp = 222; r.store_host = sh; r.store_port = 10911;
    r.reconsume_times = 2; r.prepared_transaction_offset = 0;
    r.body = (const uint8_t *)"payload"; r.body_len = 7;
    r.topic = (const uint8_t *)"TopicA"; r.topic_len = 6;
    r.props = (const uint8_t *)props; r.props_len = (int32_t)strlen(props);
    int32_t len = rmq_rec_encode(buf, &r);
    CHECK_EQ(len, 91 + 7 + 6 + r.props_len + (born_v6 ? 12 : 0) + (store_v6 ? 12 : 0));
    CHECK_EQ(rmq_get32(buf), len);
    CHECK_EQ(rmq_get32(buf + 4), RMQ_MAGIC_MESSAGE);
    CHECK_EQ((int32_t)rmq_get32(buf + 8), rmq_crc32("payload", 7));
    CHECK_EQ(rmq_get64(buf + 28), 4096);
    rmq_rec_t p;
    CHECK_EQ(rmq_rec_parse(buf, sizeof buf, 1, &p), len);
    CHECK_EQ(p.queue_offset, 77);
    CHECK_EQ(p.store_timestamp, 222);
    CHECK_EQ(p.born_port, 5555);
    CHECK(memcmp(p.store_host, sh, store_v6 ? 16 : 4) == 0);
    CHECK(p.body_len == 7 && memcmp(p.body, "payload", 7) == 0);
    CHECK(p.topic_len == 6 && memcmp(p.topic, "TopicA", 6) == 0);
    buf[90 + (born_v6 ? 12 : 0) + (store_v6 ? 12 : 0)] ^= 0xFF; /* flip a body byte */
    CHECK_EQ(rmq_rec_parse(buf, sizeof buf, 1, &p), RMQ_ECORRUPT);
    CHECK(rmq_rec_parse(buf, sizeof buf, 0, &p) > 0);
    CHECK_EQ(rmq_rec_parse(buf, 20, 0, &p), RMQ_ECORRUPT); /* truncated */
}

static void test_props_and_ids(void) {
    const char *p = "A\x01" "1\x02" "TAGS\x01" "x\x02" "TAGS\x01" "y\x02" "bad\x02";
    const uint8_t *v;
    size_t vl;
    CHECK(rmq_props_get((const uint8_t *)p, strlen(p), "TAGS", &v, &vl) && vl == 1 && *v == 'y');
    CHECK(!rmq_props_get((const uint8_t *)p, strlen(p), "bad", &v, &vl));
    CHECK(!rmq_props_get((const uint8_t *)p, strlen(p), "KEYS", &v, &vl));
    /* one pass finds what rmq_props_get finds, key by key: last wins, no separator = absent */
    const char *q = "KEYS\x01" "a b\x02" "TAGX\x01" "z\x02" "TAGS\x01" "x\x02" "UNIQ_KEY\x01"
                    "\x02" "TAGS\x01" "y\x02" "DELAY\x02" "DELAY\x01" "3";
    const char *names[RMQ_PROP_KNOWN] = {"TAGS", "KEYS", "UNIQ_KEY", "DELAY"};
    const char *texts[] = {p, q, "", "TAGS", "TAGS\x01", "\x02\x02TAGS\x01\x01\x02"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        rmq_props_known_t pk;
        rmq_props_known((const uint8_t *)texts[t], strlen(texts[t]), &pk);
        for (int k = 0; k < RMQ_PROP_KNOWN; k++) {
            int found = rmq_props_get((const uint8_t *)texts[t], strlen(texts[t]), names[k], &v,
                                      &vl);
            CHECK_EQ(pk.val[k] != NULL, found);
            if (found) CHECK(pk.val[k] == v && pk.len[k] == vl);
        }
    }
    rmq_props_known_t pk;
    rmq_props_known((const uint8_t *)q, strlen(q), &pk);
    CHECK(pk.len[RMQ_PROP_TAGS] == 1 && *pk.val[RMQ_PROP_TAGS] == 'y');
    CHECK(pk.len[RMQ_PROP_UNIQ_KEY] == 0 && pk.val[RMQ_PROP_UNIQ_KEY] != NULL);
    CHECK(pk.len[RMQ_PROP_DELAY] == 1 && *pk.val[RMQ_PROP_DELAY] == '3');
    CHECK(pk.len[RMQ_PROP_KEYS] == 3);
    char id[57];
    uint8_t host[4] = {127, 0, 0, 1};
    rmq_offset_msg_id(id, host, 0, 10911, 0);
    CHECK(strcmp(id, "7F00000100002A9F0000000000000000") == 0);
    uint8_t h6[16] = {0};
    rmq_offset_msg_id(id, h6, 1, 1, 255);
    CHECK_EQ(strlen(id), 56);
    uint8_t blank[8];
    rmq_put32(blank, 100);
    rmq_put32(blank + 4, RMQ_MAGIC_BLANK);
    rmq_rec_t r;
    CHECK_EQ(rmq_rec_parse(blank, 8, 1, &r), 0);
}

/* Every length the pull-body decoder (_ext decode_records) relies on being checked here. */
static void test_parse_refuses_bad_lengths(void) {
    uint8_t buf[256], h[4] = {127, 0, 0, 1}, t[256];
    rmq_rec_t r = {0}, p;
    r.born_host = h; r.store_host = h;
    r.body = (const uint8_t *)"payload"; r.body_len = 7;
    r.topic = (const uint8_t *)"TopicA"; r.topic_len = 6;
    r.props = (const uint8_t *)"A\x01" "1\x02"; r.props_len = 4;
    int32_t len = rmq_rec_encode(buf, &r);
    CHECK_EQ(rmq_rec_parse(buf, (size_t)len, 0, &p), len);
    CHECK_EQ(rmq_rec_parse(buf, (size_t)len - 1, 0, &p), RMQ_ECORRUPT); /* size > available */
    memcpy(t, buf, (size_t)len);
    rmq_put32(t + 84, 0xFFFFFFFFu);                                      /* body length -1 */
    CHECK_EQ(rmq_rec_parse(t, (size_t)len, 0, &p), RMQ_ECORRUPT);
    memcpy(t, buf, (size_t)len);
    rmq_put32(t + 84, (uint32_t)len);                                    /* past the record */
    CHECK_EQ(rmq_rec_parse(t, (size_t)len, 0, &p), RMQ_ECORRUPT);
    memcpy(t, buf, (size_t)len);
    t[88 + 7] = 0x80;                                                    /* topic length < 0 */
    CHECK_EQ(rmq_rec_parse(t, (size_t)len, 0, &p), RMQ_ECORRUPT);
    memcpy(t, buf, (size_t)len);
    t[88 + 7 + 1 + 6 + 1] = 5;                              /* properties end past the record */
    CHECK_EQ(rmq_rec_parse(t, (size_t)len, 0, &p), RMQ_ECORRUPT);
    memcpy(t, buf, (size_t)len);
    t[88 + 7 + 1 + 6 + 1] = 3;                               /* ... or before the record end */
    CHECK_EQ(rmq_rec_parse(t, (size_t)len, 0, &p), RMQ_ECORRUPT);
    memcpy(t, buf, (size_t)len);
    rmq_put32(t, 90);                                                     /* size below 91 */
    CHECK_EQ(rmq_rec_parse(t, (size_t)len, 0, &p), RMQ_ECORRUPT);
    /* an empty record (91 bytes) claiming IPv6 hosts cannot hold them */
    r.body_len = 0; r.topic_len = 0; r.props_len = 0;
    len = rmq_rec_encode(buf, &r);
    CHECK_EQ(len, 91);
    rmq_put32(buf + 36, RMQ_SYSFLAG_BORNHOST_V6 | RMQ_SYSFLAG_STOREHOST_V6);
    CHECK_EQ(rmq_rec_parse(buf, sizeof buf, 0, &p), RMQ_ECORRUPT);
}

int main(void) {
    test_java_hash();
    test_crc();
    test_encode_parse(0, 0);
    test_encode_parse(1, 0);
    test_encode_parse(1, 1);
    test_props_and_ids();
    test_parse_refuses_bad_lengths();
    CHECK_DONE();
}
