/* test_wire.c - the JSON header scanner and writer (rmq/wire.h): usual headers, every escape,
 * hostile input (truncations, bad UTF-8, random bytes) read from exact-size heap copies so the
 * sanitizer build catches any read past the end. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rmq/wire.h"

#define CAP 16

static rmq_wire_header H;
static rmq_wire_str EXT[2 * CAP];

/* Scan len bytes of text from an exact-size heap copy. */
static int scan_n(const char *text, size_t len)
{
    char *copy = malloc(len ? len : 1), *scratch = malloc(len ? len : 1);
    REQUIRE(copy && scratch);
    memcpy(copy, text, len);
    int rc = rmq_wire_scan(copy, len, scratch, &H, EXT, CAP);
    /* strings must lie inside the input or the scratch buffer */
    if (rc == 0) {
        for (size_t i = 0; i < 2 * H.n_ext; i++) {
            const char *p = EXT[i].ptr;
            CHECK((p >= copy && p + EXT[i].len <= copy + len)
                  || (p >= scratch && p + EXT[i].len <= scratch + len));
        }
    }
    /* keep the strings readable for the caller: tests compare them right after, so leak the
     * two buffers into a small ring freed later */
    static char *ring[64];
    static int at;
    free(ring[at]);
    free(ring[at + 1]);
    ring[at] = copy;
    ring[at + 1] = scratch;
    at = (at + 2) % 64;
    return rc;
}

static int scan(const char *text) { return scan_n(text, strlen(text)); }

static int str_is(rmq_wire_str s, const char *want, size_t n)
{
    return s.len == n && (n == 0 || memcmp(s.ptr, want, n) == 0);
}
#define STR_IS(s, lit) str_is((s), (lit), sizeof(lit) - 1)

static void test_usual(void)
{
    const char *h = "{\"code\":10,\"extFields\":{\"topic\":\"T\",\"queueId\":\"1\"},\"flag\":0,"
                    "\"language\":\"JAVA\",\"opaque\":-7,\"remark\":null,"
                    "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":409}";
    CHECK_EQ(scan(h), 0);
    CHECK_EQ(H.code, 10);
    CHECK_EQ(H.opaque, -7);
    CHECK_EQ(H.flag, 0);
    CHECK_EQ(H.version, 409);
    CHECK(STR_IS(H.language, "JAVA"));
    CHECK(!(H.present & RMQ_WIRE_REMARK));
    CHECK(H.present & RMQ_WIRE_RPC);
    CHECK_EQ(H.n_ext, 2);
    CHECK(STR_IS(EXT[0], "topic") && STR_IS(EXT[1], "T"));
    CHECK(STR_IS(EXT[2], "queueId") && STR_IS(EXT[3], "1"));

    CHECK_EQ(scan(" \t\r\n{ \"code\" : -2147483648 , \"remark\" : \"r\" } \n"), 0);
    CHECK_EQ(H.code, INT32_MIN);
    CHECK(H.present & RMQ_WIRE_REMARK);
    CHECK(STR_IS(H.remark, "r"));
    CHECK_EQ(scan("{}"), 0);
    CHECK_EQ(H.present, 0);
    CHECK_EQ(scan("{\"extFields\":{}}"), 0);
    CHECK_EQ(H.n_ext, 0);
    CHECK_EQ(scan("{\"extFields\":null,\"opaque\":2147483647,\"flag\":-0}"), 0);
    CHECK_EQ(H.opaque, INT32_MAX);
    CHECK_EQ(scan("{\"extFields\":{\"\":\"\"}}"), 0);
    CHECK_EQ(H.n_ext, 1);
    CHECK(EXT[0].len == 0 && EXT[1].len == 0);
}

static void test_escapes(void)
{
    CHECK_EQ(scan("{\"extFields\":{\"p\":\"a\\u0001b\\u0002\\\"\\\\\\/\\b\\f\\n\\r\\t"
                  "\\u00e9\\u20AC\\u0000\"}}"), 0);
    CHECK(str_is(EXT[1], "a\001b\002\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\0", 18));
    CHECK_EQ(scan("{\"language\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"), 0);
    CHECK(STR_IS(H.language, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    /* surrogate escapes, paired or not, are for the reference */
    CHECK_EQ(scan("{\"remark\":\"\\ud83d\\ude00\"}"), RMQ_WIRE_UNUSUAL);
    CHECK_EQ(scan("{\"remark\":\"\\uDFFF\"}"), RMQ_WIRE_UNUSUAL);
    CHECK_EQ(scan("{\"remark\":\"\\x41\"}"), RMQ_WIRE_UNUSUAL);
    CHECK_EQ(scan("{\"remark\":\"\\u12g4\"}"), RMQ_WIRE_UNUSUAL);
    CHECK_EQ(scan("{\"remark\":\"\\u12\"}"), RMQ_WIRE_UNUSUAL);
    CHECK_EQ(scan("{\"remark\":\"a\tb\"}"), RMQ_WIRE_UNUSUAL); /* raw control character */
}

static void test_unusual(void)
{
    static const char *bad[] = {
        "", " ", "[]", "null", "{", "{\"code\":1", "{\"code\":1,}", "{,}", "{\"code\"}",
        "{\"code\":1}x", "{\"code\":1}{}", "{\"code\":1.0}", "{\"code\":1e3}", "{\"code\":1E3}",
        "{\"code\":01}", "{\"code\":2147483648}", "{\"code\":-2147483649}",
        "{\"code\":99999999999999999999}", "{\"code\":-}", "{\"code\":\"1\"}", "{\"code\":true}",
        "{\"code\":null}", "{\"code\":1,\"code\":2}", "{\"remark\":null,\"remark\":\"x\"}",
        "{\"other\":1}", "{\"co\\u0064e\":1}", "{\"language\":null}", "{\"language\":1}",
        "{\"remark\":1}", "{\"remark\":nul}", "{\"extFields\":[]}", "{\"extFields\":\"\"}",
        "{\"extFields\":{\"a\":1}}", "{\"extFields\":{\"a\":null}}",
        "{\"extFields\":{\"a\":{\"b\":\"c\"}}}", "{\"extFields\":{\"a\":\"b\",}}",
        "{\"extFields\":{\"a\"\"b\"}}", "{\"serializeTypeCurrentRPC\":0}", "\xef\xbb\xbf{}",
        "{\"remark\":\"\xc0\x80\"}", "{\"remark\":\"\xed\xa0\x80\"}", "{\"remark\":\"\xf4\x90\x80\x80\"}",
        "{\"remark\":\"\xe2\x82\"}", "{\"remark\":\"\x80\"}", "{\"remark\":\"\xff\"}",
        "{\"remark\":\"\xf0\x9f\x98\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = scan(bad[i]);
        if (rc != RMQ_WIRE_UNUSUAL) fprintf(stderr, "case %zu: %s -> %d\n", i, bad[i], rc);
        CHECK_EQ(rc, RMQ_WIRE_UNUSUAL);
    }
    char many[4096] = "{\"extFields\":{";
    for (int i = 0; i <= CAP; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"k%d\":\"v\"",
                 i ? "," : "", i);
    strcat(many, "}}");
    CHECK_EQ(scan(many), RMQ_WIRE_ETOOMANY);
    char scratch[4];
    CHECK_EQ(rmq_wire_scan(NULL, 0, scratch, &H, EXT, CAP), RMQ_EINVAL);
    CHECK_EQ(rmq_wire_scan("{}", 2, scratch, NULL, EXT, CAP), RMQ_EINVAL);
}

/* Every prefix of a usual header is unusual (never a crash or a read past the end). */
static void test_truncations(void)
{
    const char *h = "{\"code\":310,\"extFields\":{\"a\":\"x\\u0001y\\n\",\"b\":\"\xc3\xa9\"},"
                    "\"flag\":2,\"language\":\"CPP\",\"opaque\":5,\"remark\":\"hi\","
                    "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":317}";
    size_t n = strlen(h);
    for (size_t i = 0; i < n; i++) CHECK_EQ(scan_n(h, i), RMQ_WIRE_UNUSUAL);
    CHECK_EQ(scan_n(h, n), 0);
}

static uint64_t rng = 88172645463325252ull;
static unsigned next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)rng;
}

/* Random bytes and random mutations of a usual header: any return code, no fault. */
static void test_random(void)
{
    const char *h = "{\"code\":10,\"extFields\":{\"k\":\"v\\u0002\",\"t\":\"\xe2\x82\xac\"},"
                    "\"opaque\":1,\"remark\":null}";
    size_t n = strlen(h);
    char buf[256];
    for (int round = 0; round < 20000; round++) {
        size_t len;
        if (round & 1) {
            len = next_rand() % sizeof buf;
            for (size_t i = 0; i < len; i++) buf[i] = (char)next_rand();
        } else {
            memcpy(buf, h, n);
            len = n;
            for (int k = 0; k < 1 + (int)(next_rand() % 3); k++)
                buf[next_rand() % n] = (char)(next_rand() % 3 ? "{}[]\":,\\u0ae-."[next_rand() % 15]
                                                          : next_rand());
        }
        int rc = scan_n(buf, len);
        CHECK(rc == 0 || rc == RMQ_WIRE_UNUSUAL || rc == RMQ_WIRE_ETOOMANY);
    }
}

static rmq_wire_str S(const char *s) { rmq_wire_str r = {s, strlen(s)}; return r; }

static void write_check(const rmq_wire_cmd *c, const char *want, size_t want_len)
{
    int64_t n = rmq_wire_header_len(c);
    CHECK_EQ(n, (int64_t)want_len);
    if (n < 0) return;
    char *out = malloc((size_t)n + 1);
    REQUIRE(out);
    size_t w = rmq_wire_write_header(c, out);
    CHECK_EQ(w, (size_t)n);
    CHECK(w == want_len && memcmp(out, want, w) == 0);
    if (w != want_len || memcmp(out, want, w) != 0) fprintf(stderr, "got %.*s\n", (int)w, out);
    free(out);
}

static void test_writer(void)
{
    rmq_wire_str ext[4] = {S("topic"), S("T"), S("p"), {"a\001\"\\\b\t\n\f\r\x1f\x7f\xc3\xa9/", 14}};
    rmq_wire_cmd c = {10, 0, 1, 409, S("JAVA"), 0, {NULL, 0}, ext, 2};
    const char want[] = "{\"code\":10,\"extFields\":{\"topic\":\"T\",\"p\":\"a\\u0001\\\"\\\\\\b"
                        "\\t\\n\\f\\r\\u001f\x7f\xc3\xa9/\"},\"flag\":0,\"language\":\"JAVA\","
                        "\"opaque\":1,\"serializeTypeCurrentRPC\":\"JSON\",\"version\":409}";
    write_check(&c, want, sizeof want - 1);

    rmq_wire_cmd m = {INT64_MIN, -1, INT64_MAX, 0, S(""), 1, S(""), NULL, 0};
    const char want_m[] = "{\"code\":-9223372036854775808,\"flag\":-1,\"language\":\"\","
                          "\"opaque\":9223372036854775807,\"remark\":\"\","
                          "\"serializeTypeCurrentRPC\":\"JSON\",\"version\":0}";
    write_check(&m, want_m, sizeof want_m - 1);

    /* not UTF-8: an encoded surrogate, a truncated sequence, an overlong form */
    const char *bad[] = {"\xed\xa0\x80", "\xe2\x82", "\xc0\x80", "\xff"};
    for (size_t i = 0; i < 4; i++) {
        rmq_wire_cmd b = c;
        b.language = S(bad[i]);
        CHECK_EQ(rmq_wire_header_len(&b), RMQ_WIRE_UNUSUAL);
        b = c;
        b.has_remark = 1;
        b.remark = S(bad[i]);
        CHECK_EQ(rmq_wire_header_len(&b), RMQ_WIRE_UNUSUAL);
        rmq_wire_str e2[2] = {S("k"), S(bad[i])};
        b = c;
        b.ext = e2;
        b.n_ext = 1;
        CHECK_EQ(rmq_wire_header_len(&b), RMQ_WIRE_UNUSUAL);
    }
    CHECK_EQ(rmq_wire_header_len(NULL), RMQ_EINVAL);
    rmq_wire_cmd z = c;
    z.ext = NULL;
    CHECK_EQ(rmq_wire_header_len(&z), RMQ_EINVAL);
}

/* What the writer writes, the scanner reads back (int32 fields, every control character). */
static void test_roundtrip(void)
{
    char all[128];
    for (int i = 0; i < 128; i++) all[i] = (char)i;
    rmq_wire_str ext[4] = {{all, 128}, S("v"), S("k2"), {all + 1, 127}};
    rmq_wire_cmd c = {-5, 3, 2147483647, 317, S("PYTHON"), 1, {all, 128}, ext, 2};
    int64_t n = rmq_wire_header_len(&c);
    REQUIRE(n > 0);
    char *out = malloc((size_t)n);
    REQUIRE(out);
    rmq_wire_write_header(&c, out);
    CHECK_EQ(scan_n(out, (size_t)n), 0);
    CHECK_EQ(H.code, -5);
    CHECK_EQ(H.flag, 3);
    CHECK_EQ(H.opaque, 2147483647);
    CHECK_EQ(H.version, 317);
    CHECK(STR_IS(H.language, "PYTHON"));
    CHECK(str_is(H.remark, all, 128));
    CHECK_EQ(H.n_ext, 2);
    CHECK(str_is(EXT[0], all, 128) && STR_IS(EXT[1], "v"));
    CHECK(STR_IS(EXT[2], "k2") && str_is(EXT[3], all + 1, 127));
    free(out);
}

int main(void)
{
    test_usual();
    test_escapes();
    test_unusual();
    test_truncations();
    test_random();
    test_writer();
    test_roundtrip();
    CHECK_DONE();
}
