/* record.c - CommitLog record codec, CRC32, Java String.hashCode, properties lookup. */
#include <stdio.h>
#include <string.h>
#ifdef RMQ_HAVE_LIBDEFLATE
#include <libdeflate.h>
#else
#include <zlib.h>
#endif

#include "rmq/errors.h"
#include "rmq/record.h"
#include "rmq/store.h"

/* Same CRC-32 (the zlib / java.util.zip polynomial) either way. libdeflate's folds with
 * PCLMULQDQ where the CPU has it: 128 B in ~27 ns against zlib 1.2.13's ~164 ns, 1 KiB ~131
 * against ~556 (bench/crc32_bench.c, bench/RESULTS.md); zlib's was a fifth of the put thread
 * of a 128 B batched put. zlib is the fallback when the build did not find libdeflate
 * (docs/design.md, Dependencies). */
#ifdef RMQ_HAVE_LIBDEFLATE
const char rmq_crc32_provider[] = "libdeflate";

int32_t rmq_crc32(const void *data, size_t len) {
    return (int32_t)(libdeflate_crc32(0, data, len) & 0x7FFFFFFF);
}
#else
const char rmq_crc32_provider[] = "zlib";

int32_t rmq_crc32(const void *data, size_t len) {
    uLong c = crc32(0L, Z_NULL, 0);
    const Bytef *p = (const Bytef *)data;
    while (len > 0) { /* zlib takes uInt lengths */
        uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (int32_t)(c & 0x7FFFFFFF);
}
#endif

int32_t rmq_java_hash(const void *utf8, size_t len) {
    const uint8_t *s = (const uint8_t *)utf8;
    uint32_t h = 0;
    size_t i = 0;
    while (i < len) {
        /* ASCII four at a time: the same sum (mod 2^32, as Java's int), a quarter of the
         * chain of dependent multiplies; index keys are mostly "topic#hex" */
        uint32_t w;
        while (i + 4 <= len && (memcpy(&w, s + i, 4), (w & 0x80808080u) == 0)) {
            h = h * 923521u + s[i] * 29791u + s[i + 1] * 961u + s[i + 2] * 31u + s[i + 3];
            i += 4;
        }
        if (i >= len) break;
        uint32_t cp;
        uint8_t b = s[i];
        if (b < 0x80) { cp = b; i += 1; }
        else if ((b & 0xE0) == 0xC0 && i + 1 < len) {
            cp = ((uint32_t)(b & 0x1F) << 6) | (s[i + 1] & 0x3F); i += 2;
        } else if ((b & 0xF0) == 0xE0 && i + 2 < len) {
            cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) |
                 (s[i + 2] & 0x3F);
            i += 3;
        } else if ((b & 0xF8) == 0xF0 && i + 3 < len) {
            cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) |
                 ((uint32_t)(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
            i += 4;
        } else { cp = 0xFFFD; i += 1; } /* malformed byte: U+FFFD, as Java's decoder */
        if (cp > 0xFFFF) {
            cp -= 0x10000;
            h = 31 * h + (0xD800 + (cp >> 10));
            h = 31 * h + (0xDC00 + (cp & 0x3FF));
        } else {
            h = 31 * h + cp;
        }
    }
    return (int32_t)h;
}

int64_t rmq_rec_len(size_t body_len, size_t topic_len, size_t props_len, int born_v6,
                    int store_v6) {
    return 91 + (int64_t)body_len + (int64_t)topic_len + (int64_t)props_len +
           (born_v6 ? 12 : 0) + (store_v6 ? 12 : 0);
}

int32_t rmq_rec_encode(uint8_t *d, rmq_rec_t *r) {
    int bv6 = (r->sysflag & RMQ_SYSFLAG_BORNHOST_V6) != 0;
    int sv6 = (r->sysflag & RMQ_SYSFLAG_STOREHOST_V6) != 0;
    int32_t len = (int32_t)rmq_rec_len((size_t)r->body_len, (size_t)r->topic_len,
                                       (size_t)r->props_len, bv6, sv6);
    uint8_t *p = d;
    r->total_size = len;
    r->body_crc = rmq_crc32(r->body, (size_t)r->body_len);
    rmq_put32(p, (uint32_t)len); p += 4;
    rmq_put32(p, RMQ_MAGIC_MESSAGE); p += 4;
    rmq_put32(p, (uint32_t)r->body_crc); p += 4;
    rmq_put32(p, (uint32_t)r->queue_id); p += 4;
    rmq_put32(p, (uint32_t)r->flag); p += 4;
    rmq_put64(p, (uint64_t)r->queue_offset); p += 8;
    rmq_put64(p, (uint64_t)r->phys_offset); p += 8;
    rmq_put32(p, (uint32_t)r->sysflag); p += 4;
    rmq_put64(p, (uint64_t)r->born_timestamp); p += 8;
    memcpy(p, r->born_host, bv6 ? 16 : 4); p += bv6 ? 16 : 4;
    rmq_put32(p, (uint32_t)r->born_port); p += 4;
    rmq_put64(p, (uint64_t)r->store_timestamp); p += 8;
    memcpy(p, r->store_host, sv6 ? 16 : 4); p += sv6 ? 16 : 4;
    rmq_put32(p, (uint32_t)r->store_port); p += 4;
    rmq_put32(p, (uint32_t)r->reconsume_times); p += 4;
    rmq_put64(p, (uint64_t)r->prepared_transaction_offset); p += 8;
    rmq_put32(p, (uint32_t)r->body_len); p += 4;
    if (r->body_len) memcpy(p, r->body, (size_t)r->body_len);
    p += r->body_len;
    *p++ = (uint8_t)r->topic_len;
    memcpy(p, r->topic, (size_t)r->topic_len); p += r->topic_len;
    p[0] = (uint8_t)(r->props_len >> 8); p[1] = (uint8_t)r->props_len; p += 2;
    if (r->props_len) memcpy(p, r->props, (size_t)r->props_len);
    return len;
}

int rmq_rec_parse(const uint8_t *s, size_t avail, int check_crc, rmq_rec_t *r) {
    if (avail < 8) return 0;
    int32_t total = (int32_t)rmq_get32(s);
    uint32_t magic = rmq_get32(s + 4);
    if (total == 0 && magic == 0) return 0;
    if (magic == RMQ_MAGIC_BLANK) return 0;
    if (magic != RMQ_MAGIC_MESSAGE || total < 91 || (size_t)total > avail) return RMQ_ECORRUPT;
    const uint8_t *p = s + 8;
    r->total_size = total;
    r->body_crc = (int32_t)rmq_get32(p); p += 4;
    r->queue_id = (int32_t)rmq_get32(p); p += 4;
    r->flag = (int32_t)rmq_get32(p); p += 4;
    r->queue_offset = (int64_t)rmq_get64(p); p += 8;
    r->phys_offset = (int64_t)rmq_get64(p); p += 8;
    r->sysflag = (int32_t)rmq_get32(p); p += 4;
    int bv6 = (r->sysflag & RMQ_SYSFLAG_BORNHOST_V6) != 0;
    int sv6 = (r->sysflag & RMQ_SYSFLAG_STOREHOST_V6) != 0;
    if (91 + (bv6 ? 12 : 0) + (sv6 ? 12 : 0) > total) return RMQ_ECORRUPT;
    r->born_timestamp = (int64_t)rmq_get64(p); p += 8;
    r->born_host = p; p += bv6 ? 16 : 4;
    r->born_port = (int32_t)rmq_get32(p); p += 4;
    r->store_timestamp = (int64_t)rmq_get64(p); p += 8;
    r->store_host = p; p += sv6 ? 16 : 4;
    r->store_port = (int32_t)rmq_get32(p); p += 4;
    r->reconsume_times = (int32_t)rmq_get32(p); p += 4;
    r->prepared_transaction_offset = (int64_t)rmq_get64(p); p += 8;
    r->body_len = (int32_t)rmq_get32(p); p += 4;
    const uint8_t *end = s + total;
    if (r->body_len < 0 || r->body_len > end - p - 3) return RMQ_ECORRUPT;
    r->body = p; p += r->body_len;
    r->topic_len = (int8_t)*p++;
    if (r->topic_len < 0 || r->topic_len > end - p - 2) return RMQ_ECORRUPT;
    r->topic = p; p += r->topic_len;
    r->props_len = (int16_t)(((uint16_t)p[0] << 8) | p[1]); p += 2;
    if (r->props_len < 0 || r->props_len != end - p) return RMQ_ECORRUPT;
    r->props = p;
    if (check_crc && rmq_crc32(r->body, (size_t)r->body_len) != r->body_crc) return RMQ_ECORRUPT;
    return total;
}

/* One name\x01value pair per call: from *pos, sets the pair's name and value (a pair without
 * \x01 has a NULL value) and advances *pos past its \x02. Returns 0 at the end. */
static int next_pair(const uint8_t *props, size_t len, size_t *pos, const uint8_t **name,
                     size_t *nlen, const uint8_t **val, size_t *vlen) {
    size_t i = *pos;
    if (i >= len) return 0;
    const uint8_t *end = memchr(props + i, 2, len - i);
    size_t j = end ? (size_t)(end - props) : len;        /* one pair: [i, j) */
    const uint8_t *sep = memchr(props + i, 1, j - i);    /* name/value separator */
    *name = props + i;
    if (sep) {
        *nlen = (size_t)(sep - *name);
        *val = sep + 1;
        *vlen = j - (size_t)(sep + 1 - props);
    } else {
        *nlen = j - i;
        *val = NULL;
        *vlen = 0;
    }
    *pos = j + 1;
    return 1;
}

int rmq_props_get(const uint8_t *props, size_t len, const char *key, const uint8_t **val,
                  size_t *vlen) {
    size_t klen = strlen(key), pos = 0, nl, vl;
    const uint8_t *n, *v;
    int found = 0;
    while (next_pair(props, len, &pos, &n, &nl, &v, &vl))
        if (v && nl == klen && memcmp(n, key, klen) == 0) {
            *val = v;
            *vlen = vl;
            found = 1;                                  /* keep going: the last one wins */
        }
    return found;
}

void rmq_props_known(const uint8_t *props, size_t len, rmq_props_known_t *out) {
    static const char *const names[RMQ_PROP_KNOWN] = {"TAGS", "KEYS", "UNIQ_KEY", "DELAY"};
    size_t pos = 0, nl, vl;
    const uint8_t *n, *v;
    memset(out, 0, sizeof *out);
    while (next_pair(props, len, &pos, &n, &nl, &v, &vl)) {
        if (!v) continue;
        int k = nl == 4 ? (n[0] == 'T' ? RMQ_PROP_TAGS : RMQ_PROP_KEYS)
              : nl == 8 ? RMQ_PROP_UNIQ_KEY : nl == 5 ? RMQ_PROP_DELAY : -1;
        if (k >= 0 && memcmp(n, names[k], nl) == 0) {  /* the last one wins, as above */
            out->val[k] = v;
            out->len[k] = vl;
        }
    }
}

int rmq_keys_next(const uint8_t *v, size_t len, size_t *pos, const uint8_t **key,
                  size_t *klen) {
    size_t i = *pos;
    while (i < len && v[i] == ' ') i++;
    size_t j = i;
    while (j < len && v[j] != ' ') j++;
    *pos = j;
    *key = v + i;
    *klen = j - i;
    return j > i;
}

void rmq_offset_msg_id(char *out, const uint8_t *host, int v6, int32_t port, int64_t phys) {
    static const char hex[] = "0123456789ABCDEF";
    uint8_t raw[28];
    size_t n = v6 ? 16 : 4, i;
    memcpy(raw, host, n);
    rmq_put32(raw + n, (uint32_t)port);
    rmq_put64(raw + n + 4, (uint64_t)phys);
    n += 12;
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * n] = 0;
}
