/* rmq/cq.h - one ConsumeQueue (consumequeue/TOPIC/QID/): 20-byte big-endian entries
 * [i64 commitlog offset][i32 size][i64 tagsCode], cq_entries_per_file per file, files named by
 * their starting byte offset; logical offset N lives at byte N*20.
 *
 * Writers are serialised by the store's put lock; readers run concurrently: max_off is
 * published (release) after the entry bytes are written.
 */
#ifndef RMQ_CQ_H
#define RMQ_CQ_H

#include <stdint.h>

#include "rmq/mapped.h"

#define RMQ_CQ_UNIT 20

typedef struct rmq_cq {
    char *topic;
    size_t topic_len;
    int32_t queue_id;
    rmq_mq_t mq;
    int64_t min_off;       /* first valid logical offset                                  */
    int64_t max_off;       /* next logical offset to write (published with release)        */
    int64_t max_phys_end;  /* end (offset + size) of the last entry's record               */
    int64_t max_store_ts;  /* unused by the core; for stats                                */
    int64_t flushed;       /* bytes durable                                                */
    int64_t populated;     /* bytes mapped writable ahead of the writer (populate_mu)     */
    int64_t populate_seen; /* the writer's position at the last populate call (populate_mu) */
    struct rmq_cq *next;   /* hash chain                                                  */
} rmq_cq_t;

/* Map the next entries of the last file writable (rmq_populate_write): at least 64 KiB ahead
 * of the writer and twice what it wrote since the last call (at most 4 MiB). Callers
 * serialise (the store's populate_mu). */
void rmq_cq_populate_ahead(rmq_cq_t *cq);

/* Open (dir created lazily on first write) and find the end of the written entries.
 * Returns 0 or an error. */
int rmq_cq_open(rmq_cq_t *cq, const char *root, const char *topic, size_t topic_len,
                int32_t queue_id, int32_t entries_per_file, char *errpath, size_t errlen);
void rmq_cq_close(rmq_cq_t *cq);

/* Write the entry for logical offset off. off < max_off: kept as is (already present, returns
 * 0). off > max_off on an empty queue: the gap is filled with [0][0x7FFFFFFF][0] entries.
 * Returns 0 or an error (errno, with errpath set). */
int rmq_cq_put(rmq_cq_t *cq, int64_t off, int64_t phys, int32_t size, int64_t tags,
               char *errpath, size_t errlen);

/* Make sure the files that will hold entries up to logical offset off_end (exclusive) exist
 * with their blocks reserved, so rmq_cq_put up to there cannot fail on a full disk. Called
 * before the commitlog record is written. 0 or errno (errpath names the file). */
int rmq_cq_reserve(rmq_cq_t *cq, int64_t off_end, char *errpath, size_t errlen);

/* Read entry at logical offset off. 0, or RMQ_ENOTFOUND (outside [min, max) or file gone). */
int rmq_cq_get(rmq_cq_t *cq, int64_t off, int64_t *phys, int32_t *size, int64_t *tags);

/* Pointer to the entries from off to the end of off's file (*n entries, at most max_off);
 * the segment reference is returned in *seg (release it). NULL if none. */
const uint8_t *rmq_cq_span(rmq_cq_t *cq, int64_t off, int64_t *n, rmq_seg_t **seg);

/* Drop entries whose record does not end at or before phys_end. Returns entries dropped. */
int64_t rmq_cq_truncate_phys(rmq_cq_t *cq, int64_t phys_end);

/* Delete files whose every entry points below clog_min (never the last file); recompute
 * min_off as the first entry at or above clog_min. Returns files deleted. */
int rmq_cq_delete_below(rmq_cq_t *cq, int64_t clog_min);

/* Recompute min_off against the commitlog's first offset. */
void rmq_cq_correct_min(rmq_cq_t *cq, int64_t clog_min);

/* msync written entries. 0 or errno. */
int rmq_cq_flush(rmq_cq_t *cq);

#endif
