/* rmq/record.h - the CommitLog record codec (RocketMQ 4.9 MessageDecoder v1 layout), CRC32,
 * Java String.hashCode and the 0x01/0x02 properties string.
 *
 * All integers big-endian. A record: TOTALSIZE, MAGICCODE, BODYCRC, QUEUEID, FLAG, QUEUEOFFSET,
 * PHYSICALOFFSET, SYSFLAG, BORNTIMESTAMP, BORNHOST (4+4 or 16+4), STORETIMESTAMP, STOREHOST,
 * RECONSUMETIMES, PREPAREDTRANSACTIONOFFSET, BODYLEN+BODY, TOPICLEN(1)+TOPIC, PROPLEN(2)+PROPS.
 */
#ifndef RMQ_RECORD_H
#define RMQ_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define RMQ_MAGIC_MESSAGE 0xDAA320A7u
#define RMQ_MAGIC_BLANK 0xCBD43194u
#define RMQ_BLANK_LEN 8
#define RMQ_SYSFLAG_COMPRESSED 0x1
#define RMQ_SYSFLAG_MULTI_TAGS 0x2
#define RMQ_SYSFLAG_TRAN_MASK 0xC
#define RMQ_SYSFLAG_TRAN_PREPARED 0x4
#define RMQ_SYSFLAG_TRAN_COMMIT 0x8
#define RMQ_SYSFLAG_TRAN_ROLLBACK 0xC
#define RMQ_SYSFLAG_BORNHOST_V6 0x10
#define RMQ_SYSFLAG_STOREHOST_V6 0x20
#define RMQ_MAX_TOPIC_LEN 127
#define RMQ_MAX_PROPS_LEN 32767

static inline void rmq_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void rmq_put64(uint8_t *p, uint64_t v) {
    rmq_put32(p, (uint32_t)(v >> 32)); rmq_put32(p + 4, (uint32_t)v);
}
static inline uint32_t rmq_get32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t rmq_get64(const uint8_t *p) {
    return ((uint64_t)rmq_get32(p) << 32) | rmq_get32(p + 4);
}

/* Length of a record with these parts (91 + body + topic + props, +12 per IPv6 host). */
int64_t rmq_rec_len(size_t body_len, size_t topic_len, size_t props_len, int born_v6,
                    int store_v6);

/* Everything a record holds; pointers point into the record (or the caller's buffers). */
typedef struct {
    int32_t total_size;
    int32_t body_crc;
    int32_t queue_id;
    int32_t flag;
    int64_t queue_offset;
    int64_t phys_offset;
    int32_t sysflag;
    int64_t born_timestamp;
    const uint8_t *born_host;   /* 4 or 16 bytes by sysflag */
    int32_t born_port;
    int64_t store_timestamp;
    const uint8_t *store_host;
    int32_t store_port;
    int32_t reconsume_times;
    int64_t prepared_transaction_offset;
    const uint8_t *body;
    int32_t body_len;
    const uint8_t *topic;
    int32_t topic_len;
    const uint8_t *props;
    int32_t props_len;
} rmq_rec_t;

/* Write rec (total_size and body_crc are computed here) at dst, which must hold
 * rmq_rec_len(...) bytes. Returns the record length. */
int32_t rmq_rec_encode(uint8_t *dst, rmq_rec_t *rec);

/* Parse and validate the record at src (avail readable bytes). Returns the record length
 * (> 0) and fills *out; 0 when src starts with a BLANK end-of-segment marker or zero bytes
 * (end of data); RMQ_ECORRUPT when magic, lengths or (check_crc) the body CRC are wrong. */
int rmq_rec_parse(const uint8_t *src, size_t avail, int check_crc, rmq_rec_t *out);

/* Find key in a properties string; the last occurrence wins. Returns 1 and sets *val and *vlen
 * when found, 0 otherwise. */
int rmq_props_get(const uint8_t *props, size_t len, const char *key, const uint8_t **val,
                  size_t *vlen);

/* The properties the store reads itself, found in one pass over the string. */
enum { RMQ_PROP_TAGS, RMQ_PROP_KEYS, RMQ_PROP_UNIQ_KEY, RMQ_PROP_DELAY, RMQ_PROP_KNOWN };
typedef struct {
    const uint8_t *val[RMQ_PROP_KNOWN]; /* NULL when absent; else as rmq_props_get finds it */
    size_t len[RMQ_PROP_KNOWN];
} rmq_props_known_t;
void rmq_props_known(const uint8_t *props, size_t len, rmq_props_known_t *out);

/* Next key of a KEYS value (keys separated by spaces): from *pos, skips blanks, sets *key and
 * *klen and advances *pos. Returns 1 when a key was found, 0 at the end. */
int rmq_keys_next(const uint8_t *keys, size_t len, size_t *pos, const uint8_t **key,
                  size_t *klen);

/* Uppercase hex offset msgId of (store host, port, phys) into out (57 bytes). */
void rmq_offset_msg_id(char *out, const uint8_t *host, int v6, int32_t port, int64_t phys);

#endif
