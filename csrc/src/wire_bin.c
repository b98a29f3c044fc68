/* wire_bin.c - ROCKETMQ binary (serialize type 1) header scanner and writer (see rmq/wire.h).
 *
 * Layout, big-endian: code i16, language u8, version i16, opaque i32, flag i32, remark length
 * i32 + UTF-8, extFields length i32 + pairs of (key length i16 + UTF-8, value length i32 +
 * UTF-8). Bytes after the extFields area are ignored, as Java's decoder ignores them. */
#include "rmq/wire.h"

#include <string.h>

#define UNUSUAL RMQ_WIRE_UNUSUAL

/* Java's LanguageCode by byte value; every other byte reads as OTHER. */
static const char *const LANGS[] = {"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG",
                                    "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST"};
#define N_LANGS (sizeof LANGS / sizeof LANGS[0])
#define LANG_OTHER 7

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint16_t be16(const unsigned char *p) { return (uint16_t)((p[0] << 8) | p[1]); }

/* Whether p[0..n) is valid UTF-8 in the strict sense (no overlong forms, no encoded
 * surrogates, nothing past U+10FFFF). */
static int valid_utf8(const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t left = (size_t)(end - p), k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            k = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return 0;
        }
        if (left < k || p[1] < lo || p[1] > hi) return 0;
        for (size_t i = 2; i < k; i++)
            if ((p[i] & 0xC0) != 0x80) return 0;
        p += k;
    }
    return 1;
}

/* A length-prefixed UTF-8 string at *pos whose bytes must end by `end`. */
static int take_str(const unsigned char *b, size_t *pos, size_t end, size_t n,
                    rmq_wire_str *out)
{
    if (n > end - *pos || !valid_utf8(b + *pos, n)) return UNUSUAL;
    out->ptr = (const char *)(b + *pos);
    out->len = n;
    *pos += n;
    return 0;
}

int rmq_wire_scan_binary(const unsigned char *hdr, size_t len, rmq_wire_header *h,
                         rmq_wire_str *ext, size_t ext_cap)
{
    if (!hdr || !h || (ext_cap && !ext)) return RMQ_EINVAL;
    memset(h, 0, sizeof *h);
    if (len < 17 || len > 0x7FFFFFFF) return UNUSUAL; /* fixed part + remark length */
    h->code = (int16_t)be16(hdr);
    unsigned lang = hdr[2];
    const char *name = LANGS[lang < N_LANGS ? lang : LANG_OTHER];
    h->language.ptr = name;
    h->language.len = strlen(name);
    h->version = (int16_t)be16(hdr + 3);
    h->opaque = (int32_t)be32(hdr + 5);
    h->flag = (int32_t)be32(hdr + 9);
    h->present = RMQ_WIRE_CODE | RMQ_WIRE_LANGUAGE | RMQ_WIRE_VERSION | RMQ_WIRE_OPAQUE
                 | RMQ_WIRE_FLAG;
    size_t pos = 17;
    uint32_t rlen = be32(hdr + 13);
    if (rlen > 0x7FFFFFFF) return UNUSUAL;
    if (rlen) {
        if (take_str(hdr, &pos, len, rlen, &h->remark)) return UNUSUAL;
        h->present |= RMQ_WIRE_REMARK;
    }
    if (len - pos < 4) return UNUSUAL;
    uint32_t elen = be32(hdr + pos);
    pos += 4;
    if (elen > 0x7FFFFFFF || elen > len - pos) return UNUSUAL;
    size_t end = pos + elen, n = 0;
    while (pos < end) {
        if (end - pos < 6) return UNUSUAL; /* key length, value length */
        uint16_t klen = be16(hdr + pos);
        pos += 2;
        if (klen > 0x7FFF || klen > end - pos - 4) return UNUSUAL;
        if (n == ext_cap) return RMQ_WIRE_ETOOMANY;
        if (take_str(hdr, &pos, end, klen, &ext[2 * n])) return UNUSUAL;
        uint32_t vlen = be32(hdr + pos);
        pos += 4;
        if (vlen > 0x7FFFFFFF || take_str(hdr, &pos, end, vlen, &ext[2 * n + 1]))
            return UNUSUAL;
        n++;
    }
    h->n_ext = n;
    if (n) h->present |= RMQ_WIRE_EXT;
    return 0;
}

static int lang_code(rmq_wire_str s)
{
    for (size_t i = 0; i < N_LANGS; i++)
        if (strlen(LANGS[i]) == s.len && memcmp(LANGS[i], s.ptr, s.len) == 0) return (int)i;
    return LANG_OTHER;
}

int64_t rmq_wire_binary_len(const rmq_wire_cmd *c)
{
    if (!c || (c->n_ext && !c->ext) || !c->language.ptr) return RMQ_EINVAL;
    if (c->code < -32768 || c->code > 32767 || c->version < -32768 || c->version > 32767
        || c->opaque < INT32_MIN || c->opaque > INT32_MAX || c->flag < INT32_MIN
        || c->flag > INT32_MAX)
        return UNUSUAL;
    int64_t n = 21, e = 0; /* fixed part, remark length, extFields length */
    if (c->has_remark) {
        if (c->remark.len > 0x7FFFFFFF) return UNUSUAL;
        n += (int64_t)c->remark.len;
    }
    for (size_t i = 0; i < c->n_ext; i++) {
        size_t k = c->ext[2 * i].len, v = c->ext[2 * i + 1].len;
        if (k > 0x7FFF || v > 0x7FFFFFFF) return UNUSUAL;
        e += 6 + (int64_t)k + (int64_t)v;
        if (e > 0x7FFFFFFF) return UNUSUAL;
    }
    return n + e;
}

static unsigned char *put32(unsigned char *o, uint32_t v)
{
    o[0] = (unsigned char)(v >> 24);
    o[1] = (unsigned char)(v >> 16);
    o[2] = (unsigned char)(v >> 8);
    o[3] = (unsigned char)v;
    return o + 4;
}

static unsigned char *put16(unsigned char *o, uint16_t v)
{
    o[0] = (unsigned char)(v >> 8);
    o[1] = (unsigned char)v;
    return o + 2;
}

static unsigned char *put_bytes(unsigned char *o, rmq_wire_str s)
{
    if (s.len) memcpy(o, s.ptr, s.len);
    return o + s.len;
}

size_t rmq_wire_write_binary(const rmq_wire_cmd *c, char *out)
{
    unsigned char *o = (unsigned char *)out;
    o = put16(o, (uint16_t)(int16_t)c->code);
    *o++ = (unsigned char)lang_code(c->language);
    o = put16(o, (uint16_t)(int16_t)c->version);
    o = put32(o, (uint32_t)(int32_t)c->opaque);
    o = put32(o, (uint32_t)(int32_t)c->flag);
    if (c->has_remark) {
        o = put32(o, (uint32_t)c->remark.len);
        o = put_bytes(o, c->remark);
    } else {
        o = put32(o, 0);
    }
    unsigned char *elen = o;
    o += 4;
    for (size_t i = 0; i < c->n_ext; i++) {
        o = put16(o, (uint16_t)c->ext[2 * i].len);
        o = put_bytes(o, c->ext[2 * i]);
        o = put32(o, (uint32_t)c->ext[2 * i + 1].len);
        o = put_bytes(o, c->ext[2 * i + 1]);
    }
    put32(elen, (uint32_t)(o - elen - 4));
    return (size_t)(o - (unsigned char *)out);
}
