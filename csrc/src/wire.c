/* wire.c - JSON header scanner and writer for the remoting frame codec (see rmq/wire.h). */
#include "rmq/wire.h"

#include <string.h>

#define UNUSUAL RMQ_WIRE_UNUSUAL

/* Length of the valid UTF-8 sequence (2..4 bytes) starting at p (p[0] >= 0x80), or 0 when it
 * is not one: overlong forms, encoded surrogates (U+D800..DFFF) and code points past
 * U+10FFFF are refused, as a strict decoder refuses them. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t left = (size_t)(end - p);
    if (c >= 0xC2 && c <= 0xDF) {
        return (left >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        return (left >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = 0x80, hi = 0xBF;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        return (left >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80
                && (p[3] & 0xC0) == 0x80) ? 4 : 0;
    }
    return 0;
}

/* --- scanner ---------------------------------------------------------------------------- */

typedef struct scan {
    const unsigned char *p, *end;
    char *scratch; /* next free byte */
} scan;

static void skip_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* A string whose opening quote was consumed; escapes decoded into the scratch buffer. */
static int scan_string(scan *s, rmq_wire_str *out)
{
    const unsigned char *p = s->p, *end = s->end, *start = p;
    for (;;) {
        if (p >= end) return UNUSUAL;
        unsigned c = *p;
        if (c == '"') {
            out->ptr = (const char *)start;
            out->len = (size_t)(p - start);
            s->p = p + 1;
            return 0;
        }
        if (c == '\\') break;
        if (c < 0x20) return UNUSUAL;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n = utf8_seq(p, end);
        if (!n) return UNUSUAL;
        p += n;
    }
    unsigned char *d = (unsigned char *)s->scratch, *dstart = d;
    memcpy(d, start, (size_t)(p - start));
    d += p - start;
    for (;;) {
        if (p >= end) return UNUSUAL;
        unsigned c = *p;
        if (c == '"') break;
        if (c == '\\') {
            if (end - p < 2) return UNUSUAL;
            switch (p[1]) {
            case '"': *d++ = '"'; break;
            case '\\': *d++ = '\\'; break;
            case '/': *d++ = '/'; break;
            case 'b': *d++ = '\b'; break;
            case 'f': *d++ = '\f'; break;
            case 'n': *d++ = '\n'; break;
            case 'r': *d++ = '\r'; break;
            case 't': *d++ = '\t'; break;
            case 'u': {
                if (end - p < 6) return UNUSUAL;
                unsigned cp = 0;
                for (int i = 2; i < 6; i++) {
                    int h = hexval(p[i]);
                    if (h < 0) return UNUSUAL;
                    cp = (cp << 4) | (unsigned)h;
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) return UNUSUAL; /* pairs and lone halves */
                if (cp < 0x80) {
                    *d++ = (unsigned char)cp;
                } else if (cp < 0x800) {
                    *d++ = (unsigned char)(0xC0 | (cp >> 6));
                    *d++ = (unsigned char)(0x80 | (cp & 0x3F));
                } else {
                    *d++ = (unsigned char)(0xE0 | (cp >> 12));
                    *d++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                    *d++ = (unsigned char)(0x80 | (cp & 0x3F));
                }
                p += 6;
                continue;
            }
            default:
                return UNUSUAL;
            }
            p += 2;
            continue;
        }
        if (c < 0x20) return UNUSUAL;
        if (c < 0x80) {
            *d++ = (unsigned char)c;
            p++;
            continue;
        }
        size_t n = utf8_seq(p, end);
        if (!n) return UNUSUAL;
        memcpy(d, p, n);
        d += n;
        p += n;
    }
    out->ptr = (const char *)dstart;
    out->len = (size_t)(d - dstart);
    s->scratch = (char *)d;
    s->p = p + 1;
    return 0;
}

/* A JSON integer in int32 range; a fraction or exponent is unusual. */
static int scan_int(scan *s, int32_t *out)
{
    const unsigned char *p = s->p, *end = s->end;
    int neg = 0;
    int64_t v = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') return UNUSUAL;
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') return UNUSUAL; /* leading zero: not JSON */
    } else {
        int digits = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (++digits > 10) return UNUSUAL;
            v = v * 10 + (*p - '0');
            p++;
        }
    }
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) return UNUSUAL;
    if (neg) v = -v;
    if (v < INT32_MIN || v > INT32_MAX) return UNUSUAL;
    *out = (int32_t)v;
    s->p = p;
    return 0;
}

static int scan_null(scan *s)
{
    if (s->end - s->p >= 4 && memcmp(s->p, "null", 4) == 0) {
        s->p += 4;
        return 1;
    }
    return 0;
}

/* A string or null; null leaves *out {NULL, 0} and returns 1, a string returns 0. */
static int scan_opt_string(scan *s, rmq_wire_str *out)
{
    if (s->p < s->end && *s->p == '"') {
        s->p++;
        return scan_string(s, out);
    }
    if (scan_null(s)) {
        out->ptr = NULL;
        out->len = 0;
        return 1;
    }
    return UNUSUAL;
}

static int scan_ext(scan *s, rmq_wire_header *h, rmq_wire_str *ext, size_t cap)
{
    if (scan_null(s)) return 0;
    if (s->p >= s->end || *s->p != '{') return UNUSUAL;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        rmq_wire_str k, v;
        int rc;
        if (s->p >= s->end || *s->p != '"') return UNUSUAL;
        s->p++;
        if ((rc = scan_string(s, &k)) != 0) return rc;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':') return UNUSUAL;
        s->p++;
        skip_ws(s);
        if (s->p >= s->end || *s->p != '"') return UNUSUAL;
        s->p++;
        if ((rc = scan_string(s, &v)) != 0) return rc;
        if (h->n_ext >= cap) return RMQ_WIRE_ETOOMANY;
        ext[2 * h->n_ext] = k;
        ext[2 * h->n_ext + 1] = v;
        h->n_ext++;
        skip_ws(s);
        if (s->p >= s->end) return UNUSUAL;
        if (*s->p == '}') {
            s->p++;
            return 0;
        }
        if (*s->p != ',') return UNUSUAL;
        s->p++;
        skip_ws(s);
    }
}

static unsigned key_bit(const unsigned char *k, size_t n)
{
#define KEY(lit, bit) if (n == sizeof(lit) - 1 && memcmp(k, lit, n) == 0) return bit
    switch (n) {
    case 4: KEY("code", RMQ_WIRE_CODE); KEY("flag", RMQ_WIRE_FLAG); break;
    case 6: KEY("opaque", RMQ_WIRE_OPAQUE); KEY("remark", RMQ_WIRE_REMARK); break;
    case 7: KEY("version", RMQ_WIRE_VERSION); break;
    case 8: KEY("language", RMQ_WIRE_LANGUAGE); break;
    case 9: KEY("extFields", RMQ_WIRE_EXT); break;
    case 23: KEY("serializeTypeCurrentRPC", RMQ_WIRE_RPC); break;
    default: break;
    }
#undef KEY
    return 0;
}

int rmq_wire_scan(const char *json, size_t len, char *scratch, rmq_wire_header *h,
                  rmq_wire_str *ext, size_t ext_cap)
{
    if (!json || !scratch || !h || (!ext && ext_cap)) return RMQ_EINVAL;
    memset(h, 0, sizeof *h);
    if (len > (size_t)INT32_MAX) return UNUSUAL;
    scan s = {(const unsigned char *)json, (const unsigned char *)json + len, scratch};
    unsigned seen = 0; /* keys met, a null remark/rpc/extFields included */
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') return UNUSUAL;
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        s.p++;
        goto tail;
    }
    for (;;) {
        if (s.p >= s.end || *s.p != '"') return UNUSUAL;
        const unsigned char *k = ++s.p;
        while (s.p < s.end && *s.p != '"' && *s.p != '\\') s.p++;
        if (s.p >= s.end || *s.p != '"') return UNUSUAL; /* an escaped key: the reference */
        unsigned bit = key_bit(k, (size_t)(s.p - k));
        s.p++;
        if (!bit || (seen & bit)) return UNUSUAL;
        seen |= bit;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':') return UNUSUAL;
        s.p++;
        skip_ws(&s);
        int rc;
        switch (bit) {
        case RMQ_WIRE_CODE: rc = scan_int(&s, &h->code); break;
        case RMQ_WIRE_OPAQUE: rc = scan_int(&s, &h->opaque); break;
        case RMQ_WIRE_FLAG: rc = scan_int(&s, &h->flag); break;
        case RMQ_WIRE_VERSION: rc = scan_int(&s, &h->version); break;
        case RMQ_WIRE_LANGUAGE:
            if (s.p >= s.end || *s.p != '"') return UNUSUAL;
            s.p++;
            rc = scan_string(&s, &h->language);
            break;
        case RMQ_WIRE_REMARK: rc = scan_opt_string(&s, &h->remark); break;
        case RMQ_WIRE_RPC: rc = scan_opt_string(&s, &h->rpc); break;
        default: rc = scan_ext(&s, h, ext, ext_cap); break;
        }
        if (rc < 0) return rc;
        if (rc == 0) h->present |= bit; /* rc == 1: a null string */
        skip_ws(&s);
        if (s.p >= s.end) return UNUSUAL;
        if (*s.p == '}') {
            s.p++;
            break;
        }
        if (*s.p != ',') return UNUSUAL;
        s.p++;
        skip_ws(&s);
    }
tail:
    skip_ws(&s);
    return s.p == s.end ? 0 : UNUSUAL;
}

/* --- writer ----------------------------------------------------------------------------- */

/* Bytes an escaped string takes between its quotes, or -1 when it is not valid UTF-8. */
static int64_t escaped_len(rmq_wire_str t)
{
    const unsigned char *p = (const unsigned char *)t.ptr, *end = p + t.len;
    int64_t n = (int64_t)t.len;
    if (!p && t.len) return -1;
    while (p < end) {
        unsigned c = *p;
        if (c >= 0x80) {
            size_t k = utf8_seq(p, end);
            if (!k) return -1;
            p += k;
            continue;
        }
        if (c == '"' || c == '\\' || c == '\b' || c == '\t' || c == '\n' || c == '\f'
            || c == '\r')
            n += 1;
        else if (c < 0x20)
            n += 5;
        p++;
    }
    return n;
}

static char *write_str(char *o, rmq_wire_str t)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)t.ptr, *end = p + t.len;
    *o++ = '"';
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\') p++;
        if (p > run) {
            memcpy(o, run, (size_t)(p - run));
            o += p - run;
        }
        if (p >= end) break;
        unsigned c = *p++;
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\t': *o++ = 't'; break;
        case '\n': *o++ = 'n'; break;
        case '\f': *o++ = 'f'; break;
        case '\r': *o++ = 'r'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    return o;
}

static int int_len(int64_t v)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = v < 0 ? 2 : 1;
    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

static char *write_int(char *o, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *o++ = '-';
    while (n) *o++ = tmp[--n];
    return o;
}

#define LIT(o, s) (memcpy((o), (s), sizeof(s) - 1), (o) + sizeof(s) - 1)

int64_t rmq_wire_header_len(const rmq_wire_cmd *c)
{
    if (!c || (c->n_ext && !c->ext)) return RMQ_EINVAL;
    /* {"code":,"flag":,"language":"","opaque":,"serializeTypeCurrentRPC":"JSON","version":} */
    int64_t n = 85, e;
    n += int_len(c->code) + int_len(c->flag) + int_len(c->opaque) + int_len(c->version);
    if ((e = escaped_len(c->language)) < 0) return UNUSUAL;
    n += e;
    if (c->has_remark) {
        if ((e = escaped_len(c->remark)) < 0) return UNUSUAL;
        n += e + 12; /* ,"remark":"" */
    }
    if (c->n_ext) {
        n += 15; /* ,"extFields":{} */
        for (size_t i = 0; i < 2 * c->n_ext; i++) {
            if ((e = escaped_len(c->ext[i])) < 0) return UNUSUAL;
            n += e + 3; /* quotes, and ':' or ',' (the last ',' is the '}' counted above) */
        }
        n -= 1;
    }
    return n;
}

size_t rmq_wire_write_header(const rmq_wire_cmd *c, char *out)
{
    char *o = out;
    o = LIT(o, "{\"code\":");
    o = write_int(o, c->code);
    if (c->n_ext) {
        o = LIT(o, ",\"extFields\":{");
        for (size_t i = 0; i < c->n_ext; i++) {
            if (i) *o++ = ',';
            o = write_str(o, c->ext[2 * i]);
            *o++ = ':';
            o = write_str(o, c->ext[2 * i + 1]);
        }
        *o++ = '}';
    }
    o = LIT(o, ",\"flag\":");
    o = write_int(o, c->flag);
    o = LIT(o, ",\"language\":");
    o = write_str(o, c->language);
    o = LIT(o, ",\"opaque\":");
    o = write_int(o, c->opaque);
    if (c->has_remark) {
        o = LIT(o, ",\"remark\":");
        o = write_str(o, c->remark);
    }
    o = LIT(o, ",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    o = write_int(o, c->version);
    *o++ = '}';
    return (size_t)(o - out);
}
