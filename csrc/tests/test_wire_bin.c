/* test_wire_bin.c - the ROCKETMQ binary header scanner and writer (rmq/wire.h): a written
 * header scans back field for field, every truncation and every one-byte change of it is
 * either read inside its bounds or refused, from exact-size heap copies so the sanitizer
 * build catches any read past the end; the writer's range refusals. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rmq/wire.h"

#define CAP 8

static rmq_wire_header H;
static rmq_wire_str EXT[2 * CAP];

static rmq_wire_str S(const char *t) { rmq_wire_str s = {t, strlen(t)}; return s; }

static int str_is(rmq_wire_str s, const char *t)
{
    return s.len == strlen(t) && memcmp(s.ptr, t, s.len) == 0;
}

static unsigned char *copy; /* the last scanned copy: H and EXT point into it */

/* Scan len bytes from an exact-size heap copy (kept until the next scan); every string must
 * lie inside it (or be the static language name). */
static int scan_n(const unsigned char *bytes, size_t len, size_t cap)
{
    free(copy);
    copy = malloc(len ? len : 1);
    REQUIRE(copy);
    memcpy(copy, bytes, len);
    int rc = rmq_wire_scan_binary(copy, len, &H, EXT, cap);
    if (rc == 0) {
        for (size_t i = 0; i < 2 * H.n_ext; i++)
            CHECK((const unsigned char *)EXT[i].ptr >= copy
                  && (const unsigned char *)EXT[i].ptr + EXT[i].len <= copy + len);
        if (H.present & RMQ_WIRE_REMARK)
            CHECK((const unsigned char *)H.remark.ptr >= copy
                  && (const unsigned char *)H.remark.ptr + H.remark.len <= copy + len);
    }
    return rc;
}

static rmq_wire_str PAIRS[6];

/* A command with three extFields, written with the library's writer. */
static size_t write_sample(char *out, size_t cap, int has_remark)
{
    PAIRS[0] = S("topic");  PAIRS[1] = S("T\xc3\xa9st");
    PAIRS[2] = S("queueId"); PAIRS[3] = S("3");
    PAIRS[4] = S("e");       PAIRS[5] = S("");
    rmq_wire_cmd c = {.code = 310, .flag = 0, .opaque = -7, .version = 399,
                      .language = S("JAVA"), .has_remark = has_remark,
                      .remark = S("hi \xf0\x9f\x98\x80"), .ext = PAIRS, .n_ext = 3};
    int64_t n = rmq_wire_binary_len(&c);
    REQUIRE(n > 0 && (size_t)n <= cap);
    CHECK_EQ(rmq_wire_write_binary(&c, out), n);
    return (size_t)n;
}

static void test_roundtrip(void)
{
    char buf[256];
    size_t n = write_sample(buf, sizeof buf, 1);
    /* 13 fixed + 4 + 7 remark + 4 + 3 pairs of (2 + 4 + key + value) */
    CHECK_EQ(n, 13 + 4 + 7 + 4 + (6 + 5 + 5) + (6 + 7 + 1) + (6 + 1 + 0));
    CHECK_EQ(scan_n((unsigned char *)buf, n, CAP), 0);
    CHECK_EQ(H.code, 310);
    CHECK_EQ(H.opaque, -7);
    CHECK_EQ(H.version, 399);
    CHECK_EQ(H.flag, 0);
    CHECK(str_is(H.language, "JAVA"));
    CHECK(H.present & RMQ_WIRE_REMARK);
    CHECK(str_is(H.remark, "hi \xf0\x9f\x98\x80"));
    CHECK_EQ(H.n_ext, 3);
    CHECK(str_is(EXT[0], "topic") && str_is(EXT[1], "T\xc3\xa9st"));
    CHECK(str_is(EXT[2], "queueId") && str_is(EXT[3], "3"));
    CHECK(str_is(EXT[4], "e") && str_is(EXT[5], ""));
    /* a remark of zero bytes is absent; trailing bytes after extFields are ignored */
    n = write_sample(buf, sizeof buf, 0);
    memcpy(buf + n, "junk", 4);
    CHECK_EQ(scan_n((unsigned char *)buf, n + 4, CAP), 0);
    CHECK(!(H.present & RMQ_WIRE_REMARK));
    CHECK_EQ(H.n_ext, 3);
    /* more pairs than the caller holds */
    CHECK_EQ(scan_n((unsigned char *)buf, n, 2), RMQ_WIRE_ETOOMANY);
    CHECK_EQ(rmq_wire_scan_binary(NULL, 0, &H, EXT, CAP), RMQ_EINVAL);
}

static void test_languages(void)
{
    unsigned char b[21] = {0};
    b[2] = 9;
    CHECK_EQ(scan_n(b, sizeof b, CAP), 0);
    CHECK(str_is(H.language, "GO"));
    b[2] = 13;
    CHECK_EQ(scan_n(b, sizeof b, CAP), 0);
    CHECK(str_is(H.language, "OTHER"));
    b[0] = 0xFF; b[1] = 0xFE; /* code -2 */
    CHECK_EQ(scan_n(b, sizeof b, CAP), 0);
    CHECK_EQ(H.code, -2);
    CHECK_EQ(H.n_ext, 0);
    /* unknown language names are written as OTHER */
    rmq_wire_cmd c = {.code = 1, .language = S("COBOL")};
    char out[32];
    CHECK_EQ(rmq_wire_binary_len(&c), 21);
    rmq_wire_write_binary(&c, out);
    CHECK_EQ((unsigned char)out[2], 7);
}

static void test_truncations_and_changes(void)
{
    char buf[256];
    size_t n = write_sample(buf, sizeof buf, 1);
    for (size_t cut = 0; cut < n; cut++) {
        int rc = scan_n((unsigned char *)buf, cut, CAP);
        CHECK(rc == RMQ_WIRE_UNUSUAL || (rc == 0 && cut > 0));
    }
    unsigned char m[256];
    for (size_t at = 0; at < n; at++) {
        for (unsigned v = 0; v < 256; v += 17) {
            memcpy(m, buf, n);
            m[at] = (unsigned char)v;
            int rc = scan_n(m, n, CAP);
            CHECK(rc == 0 || rc == RMQ_WIRE_UNUSUAL || rc == RMQ_WIRE_ETOOMANY);
        }
    }
    /* an encoded surrogate in the remark, a negative remark length */
    unsigned char bad[64] = {0};
    size_t k = 13;
    bad[k + 3] = 3; memcpy(bad + k + 4, "\xed\xa0\x80", 3); /* remark: a surrogate */
    CHECK_EQ(scan_n(bad, k + 4 + 3 + 4, CAP), RMQ_WIRE_UNUSUAL);
    memset(bad, 0, sizeof bad);
    bad[k] = 0x80; /* remark length negative */
    CHECK_EQ(scan_n(bad, 40, CAP), RMQ_WIRE_UNUSUAL);
}

static void test_random(void)
{
    unsigned seed = 12345;
    unsigned char b[64];
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % sizeof b;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            b[i] = (unsigned char)(seed >> 16);
            if ((seed >> 8) % 3 == 0) b[i] = 0; /* small lengths are the interesting ones */
        }
        int rc = scan_n(b, len, CAP);
        CHECK(rc == 0 || rc == RMQ_WIRE_UNUSUAL || rc == RMQ_WIRE_ETOOMANY);
    }
}

static void test_writer_ranges(void)
{
    rmq_wire_cmd c = {.code = 32768, .language = S("JAVA")};
    CHECK_EQ(rmq_wire_binary_len(&c), RMQ_WIRE_UNUSUAL);
    c.code = -32768;
    CHECK_EQ(rmq_wire_binary_len(&c), 21);
    c.version = -32769;
    CHECK_EQ(rmq_wire_binary_len(&c), RMQ_WIRE_UNUSUAL);
    c.version = 0;
    c.opaque = (int64_t)INT32_MAX + 1;
    CHECK_EQ(rmq_wire_binary_len(&c), RMQ_WIRE_UNUSUAL);
    c.opaque = INT32_MIN;
    c.flag = (int64_t)INT32_MIN - 1;
    CHECK_EQ(rmq_wire_binary_len(&c), RMQ_WIRE_UNUSUAL);
    c.flag = 0;
    rmq_wire_str big[2] = {{"k", 0x8000}, {"v", 1}}; /* a key past the i16 length */
    c.ext = big;
    c.n_ext = 1;
    CHECK_EQ(rmq_wire_binary_len(&c), RMQ_WIRE_UNUSUAL);
    CHECK_EQ(rmq_wire_binary_len(NULL), RMQ_EINVAL);
}

int main(void)
{
    test_roundtrip();
    test_languages();
    test_truncations_and_changes();
    test_random();
    test_writer_ranges();
    free(copy);
    CHECK_DONE();
}
