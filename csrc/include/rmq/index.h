/* rmq/index.h - IndexFiles (index/yyyyMMddHHmmssSSS), RocketMQ 4.9 layout:
 * 40-byte header [i64 beginTimestamp][i64 endTimestamp][i64 beginPhyOffset][i64 endPhyOffset]
 * [i32 hashSlotCount][i32 indexCount]; slots (i32 newest entry number, 0 = empty);
 * entries [i32 keyHash][i64 phyOffset][i32 timeDiff seconds][i32 prevIndex].
 * Key = topic + "#" + key; keyHash = |String.hashCode| (MIN_VALUE -> 0).
 * Writers are serialised by the store's put lock; queries take the service's rwlock.
 */
#ifndef RMQ_INDEX_H
#define RMQ_INDEX_H

#include <pthread.h>
#include <stdint.h>

#include "rmq/mapped.h"

typedef struct {
    char path[RMQ_PATH_MAX];
    uint8_t *map;
    int64_t size;
    int fd;
    int64_t begin_ts, end_ts, begin_phys, end_phys;
    int32_t slot_count, index_count;
    int reserved;          /* blocks reserved (rmq_file_reserve)                              */
    int64_t populated;     /* bytes of hash slots mapped writable (the flusher, 4 MiB a pass) */
} rmq_index_file_t;

typedef struct {
    char dir[RMQ_PATH_MAX];
    int32_t slots, max_index;
    rmq_index_file_t **files;
    int n, cap;
    pthread_rwlock_t lock;
    int64_t full_end_ts;   /* endTimestamp of the last file that filled up (checkpoint) */
    /* rmq_index_populate_ahead's window over the newest file's entries (callers serialise) */
    const rmq_index_file_t *ahead_file;
    int64_t ahead_seen, ahead_to;
} rmq_index_t;

/* Map the newest file's next entries writable (rmq_populate_write: at least 256 KiB ahead and
 * twice what was written since the last call, at most 16 MiB) and, 4 MiB a call, its hash
 * slots (written at random). Callers serialise (the store's populate_mu). */
void rmq_index_populate_ahead(rmq_index_t *ix);

int rmq_index_open(rmq_index_t *ix, const char *root, int32_t slots, int32_t max_index,
                   char *errpath, size_t errlen);
void rmq_index_close(rmq_index_t *ix);

/* End phys offset covered by the newest file (0 when none): records below it are indexed. */
int64_t rmq_index_end_phys(rmq_index_t *ix);

/* Where re-indexing must resume after a restart: one past the last indexed record's offset
 * (all keys of a record are indexed together), 0 when no file holds entries. */
int64_t rmq_index_resume_from(rmq_index_t *ix);

/* Index one key of a message. Skipped (returns 0) when phys < the newest file's endPhyOffset.
 * Rolls to a new file when the current one is full. 0 or an error. */
int rmq_index_put(rmq_index_t *ix, const uint8_t *topic, size_t topic_len, const uint8_t *key,
                  size_t key_len, int64_t phys, int64_t store_ts, char *errpath, size_t errlen);

/* Before a record is written: make sure the newest file has its blocks reserved and room for
 * n more entries (else roll to a new, reserved file), so indexing the record cannot fail on
 * a full disk. 0 or errno (errpath names the file). */
int rmq_index_reserve(rmq_index_t *ix, int64_t n, char *errpath, size_t errlen);

/* Commitlog offsets of entries with this key's hash stored in [begin, end] ms, newest first,
 * at most max. Hash collisions are possible: callers check the record. Returns the count. */
size_t rmq_index_query(rmq_index_t *ix, const uint8_t *topic, size_t topic_len,
                       const uint8_t *key, size_t key_len, int64_t begin, int64_t end,
                       int64_t *out, size_t max);

/* Delete files whose endPhyOffset is below clog_min (never the newest). Returns count. */
int rmq_index_delete_below(rmq_index_t *ix, int64_t clog_min);

/* Drop every entry pointing at or after phys_end (recovery truncated the commitlog there):
 * files that begin there are deleted; in the newest remaining file the entries are undone
 * (slots restored to their previous entry) and its endPhyOffset / endTimestamp set to its
 * newest remaining entry, so records written from phys_end on are indexed at once.
 * Returns the entries dropped. */
int64_t rmq_index_truncate(rmq_index_t *ix, int64_t phys_end);

int rmq_index_flush(rmq_index_t *ix);
int rmq_index_count(rmq_index_t *ix);

#endif
