/* rmq/store.h - the message store: one CommitLog, a ConsumeQueue per topic/queue, IndexFiles,
 * checkpoint, abort marker, flush and crash recovery, byte-compatible with Apache RocketMQ 4.9.
 *
 * This is the only header the Python binding uses. The modules below it (mapped segments,
 * record codec, commitlog, consume queue, index, checkpoint, flush) have headers of their own.
 *
 * Threading: every function may be called from any thread. Puts are serialised by the store's
 * put lock; reads run concurrently with puts; a background thread flushes in ASYNC mode.
 * Buffers: data passed in as {ptr,len} is only read during the call; nothing is retained.
 * Errors: 0, a positive errno, or an RMQ_E* code (rmq/errors.h).
 */
#ifndef RMQ_STORE_H
#define RMQ_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "rmq/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const void *ptr;
    size_t len;
} rmq_buf_t;

typedef struct rmq_store rmq_store_t;

#define RMQ_FLUSH_ASYNC 0
#define RMQ_FLUSH_SYNC 1
#define RMQ_MAX_DELAY_LEVELS 64

/* Configuration; rmq_store_config_default() fills RocketMQ 4.9's defaults. */
typedef struct {
    int64_t mapped_file_size_commitlog;   /* mappedFileSizeCommitLog, 1 GiB                       */
    int32_t cq_entries_per_file;          /* mappedFileSizeConsumeQueue / 20, 300000               */
    int32_t max_hash_slot_num;            /* maxHashSlotNum, 5000000                               */
    int32_t max_index_num;                /* maxIndexNum, 20000000                                 */
    int32_t flush_disk_type;              /* flushDiskType: RMQ_FLUSH_ASYNC (default) / _SYNC      */
    int32_t flush_interval_commitlog_ms;  /* flushIntervalCommitLog, 500                           */
    int32_t flush_commitlog_least_pages;  /* flushCommitLogLeastPages, 4                           */
    int32_t flush_commitlog_thorough_ms;  /* flushCommitLogThoroughInterval, 10000                 */
    int32_t flush_interval_cq_ms;         /* flushIntervalConsumeQueue, 1000                       */
    int32_t flush_cq_least_pages;         /* flushConsumeQueueLeastPages, 2                        */
    int32_t flush_cq_thorough_ms;         /* flushConsumeQueueThoroughInterval, 60000              */
    int32_t sync_flush_timeout_ms;        /* syncFlushTimeout, 5000                                */
    int32_t max_message_size;             /* maxMessageSize, 4 MiB (body bytes)                     */
    int32_t message_index_enable;         /* messageIndexEnable, 1                                 */
    int32_t check_crc_on_recover;         /* checkCRCOnRecover, 1                                  */
    int32_t disk_max_used_space_ratio;    /* diskMaxUsedSpaceRatio, 75 (percent): retention     */
    int32_t disk_space_warning_level_ratio; /* diskSpaceWarningLevelRatio, 90 (percent): above it
                                             puts fail with RMQ_EDISKFULL (checked each second)  */
    int32_t preallocate;                  /* 1: reserve segment blocks on creation (fallocate) so a
                                             full disk fails the roll, never a write into the map  */
    int32_t warm_mapped_file;             /* warmMapedFileEnable, 0: also pre-fault the commitlog
                                             segment made ahead of the roll (the next segment is
                                             always made ahead, as in RocketMQ)                    */
    uint8_t store_host[16];               /* broker address written as STOREHOST                   */
    int32_t store_host_v6;                /* 0: first 4 bytes of store_host are IPv4              */
    int32_t store_host_port;
    int32_t n_delay_levels;               /* messageDelayLevel, 18 levels "1s 5s ... 2h"          */
    int64_t delay_level_ms[RMQ_MAX_DELAY_LEVELS];
} rmq_store_config_t;

void rmq_store_config_default(rmq_store_config_t *cfg);

/* What open-time recovery did. Strings are NUL-terminated, empty when not applicable. */
typedef struct {
    int32_t clean_shutdown;        /* 1: no abort file was found                               */
    int64_t scan_from;             /* commitlog offset the scan started at                     */
    int64_t records_scanned;
    int64_t max_phys_offset;       /* commitlog end after recovery                             */
    char truncated_segment[512];   /* file holding the torn tail, "" when nothing truncated     */
    int64_t truncated_at;          /* commitlog offset of the first invalid byte, -1 if none   */
    int64_t bytes_truncated;       /* bytes dropped from that point to the old write position  */
    int64_t records_truncated;     /* records (whole or torn) found in the dropped bytes: data
                                      that may have been acknowledged is gone when > 0         */
    int64_t cq_entries_truncated;  /* CQ entries dropped because they pointed past the end      */
    int64_t cq_entries_rebuilt;    /* CQ entries written from the commitlog scan               */
    int64_t index_entries_rebuilt;
    int64_t index_entries_truncated; /* index entries dropped because they pointed past the end */
    double elapsed_ms;
    char error[1280];              /* when rmq_store_open fails: what failed, naming the file
                                      (e.g. "PATH: size N bytes, expected M"); else ""        */
} rmq_recovery_report_t;

/* Open (creating if needed) the store under root: commitlog/, consumequeue/, index/,
 * checkpoint, abort, lock. Takes an exclusive lock on root/lock (RMQ_ELOCKED if held), runs
 * recovery (report filled when non-NULL), creates the abort marker and starts the flush thread.
 * Returns 0 and *out, or an error (nothing left open). */
int rmq_store_open(const char *root, const rmq_store_config_t *cfg, rmq_store_t **out,
                   rmq_recovery_report_t *report);

/* Text of the last error (names the file and the failing call), "" when none. Valid until
 * the next call on the store. */
const char *rmq_store_last_error(rmq_store_t *s);

/* Flush everything, write the checkpoint, remove the abort marker, unmap, unlock, free.
 * Returns the first flush error (the store is freed regardless). */
int rmq_store_close(rmq_store_t *s);

/* One message to put. Hosts are raw address bytes (4 for IPv4, 16 for IPv6, chosen by the
 * BORNHOST_V6 bit 0x10 of sysflag); properties use RocketMQ's 0x01/0x02 encoding and are stored
 * exactly as given (the caller adds CLUSTER / strips WAIT). The store derives TAGS (tagsCode),
 * KEYS and UNIQ_KEY (index), DELAY (for SCHEDULE_TOPIC_XXXX tagsCode) from properties. */
typedef struct {
    rmq_buf_t topic;
    int32_t queue_id;
    int32_t flag;
    int32_t sysflag;
    int64_t born_timestamp;
    uint8_t born_host[16];
    int32_t born_port;
    int32_t reconsume_times;
    int64_t prepared_transaction_offset;
    rmq_buf_t body;
    rmq_buf_t properties;
} rmq_msg_t;

typedef struct {
    int64_t phys_offset;       /* where the record starts in the commitlog                      */
    int32_t size;              /* TOTALSIZE                                                    */
    int64_t queue_offset;      /* logical offset in its consume queue                           */
    int64_t store_timestamp;   /* ms                                                           */
    char msg_id[57];           /* offset msgId: 32 (IPv4) or 56 (IPv6) uppercase hex + NUL       */
} rmq_put_result_t;

/* Append one message (encode, CRC, commitlog, consume queue, index). In SYNC flush mode
 * returns only once the record is durable (group commit), or RMQ_ETIMEOUT after
 * sync_flush_timeout_ms (the record is stored, just not known durable).
 * Errors: RMQ_EINVAL (topic empty/>127 bytes), RMQ_ETOOBIG (body > max_message_size or
 * properties > 32767), RMQ_EDISKFULL / ENOSPC (nothing written), RMQ_EREADONLY, errno. */
int rmq_store_put(rmq_store_t *s, const rmq_msg_t *msg, rmq_put_result_t *res);

/* Append a batch in one call. batch is the SEND_BATCH_MESSAGE wire body: items
 * [i32 total][i32 magic][i32 crc][i32 flag][i32 bodylen][body][i16 proplen][props]; magic and
 * crc of items are ignored. Every item gets tmpl's topic, queue id, sysflag, born time and host,
 * reconsume times; its own flag, body and properties, with extra_props appended (a 0x02 is
 * inserted first if the item's properties do not end with one). Items get consecutive queue
 * offsets; all or nothing. results must hold max_results entries; *n_out = items stored.
 * Errors as rmq_store_put, plus RMQ_ECORRUPT for a malformed batch body, RMQ_EBUFSMALL. */
int rmq_store_put_batch(rmq_store_t *s, const rmq_msg_t *tmpl, rmq_buf_t batch,
                        rmq_buf_t extra_props, rmq_put_result_t *results, size_t max_results,
                        size_t *n_out);

/* rmq_store_put / rmq_store_put_batch without the wait for durability in SYNC flush mode:
 * the record is stored (visible to readers, in the commitlog's page cache) when they return;
 * the caller waits with rmq_store_wait_durable (one waiter thread can then group-commit the
 * puts of many requests while the putting thread goes on). */
int rmq_store_append(rmq_store_t *s, const rmq_msg_t *msg, rmq_put_result_t *res);
int rmq_store_append_batch(rmq_store_t *s, const rmq_msg_t *tmpl, rmq_buf_t batch,
                           rmq_buf_t extra_props, rmq_put_result_t *results,
                           size_t max_results, size_t *n_out);

/* In SYNC flush mode: return once the commitlog is durable up to `end` (group commit with
 * other waiters), RMQ_ETIMEOUT after sync_flush_timeout_ms, or the msync error. 0 at once in
 * ASYNC flush mode. */
int rmq_store_wait_durable(rmq_store_t *s, int64_t end);

/* GetMessageStatus, as RocketMQ names them. */
typedef enum {
    RMQ_GET_FOUND = 0,
    RMQ_GET_NO_MATCHED_MESSAGE = 1,
    RMQ_GET_MESSAGE_WAS_REMOVING = 2,
    RMQ_GET_OFFSET_FOUND_NULL = 3,
    RMQ_GET_OFFSET_OVERFLOW_BADLY = 4,
    RMQ_GET_OFFSET_OVERFLOW_ONE = 5,
    RMQ_GET_OFFSET_TOO_SMALL = 6,
    RMQ_GET_NO_MATCHED_LOGIC_QUEUE = 7,
    RMQ_GET_NO_MESSAGE_IN_QUEUE = 8
} rmq_get_status_t;

typedef struct {
    int64_t offset;            /* logical offset to start at                                  */
    int32_t max_msgs;          /* stop after this many matching messages                      */
    int32_t max_bytes;         /* stop before the copied records exceed this (0 = 256 KiB)     */
    const int64_t *tag_codes;  /* accepted tagsCodes, compared as (int32)tagsCode; NULL = all  */
    size_t n_tag_codes;
} rmq_get_req_t;

typedef struct {
    int32_t status;            /* rmq_get_status_t                                            */
    int64_t next_begin_offset;
    int64_t min_offset;
    int64_t max_offset;
    int32_t msg_count;         /* records copied into out                                     */
    size_t bytes;              /* bytes copied into out                                       */
} rmq_get_result_t;

/* Read up to max_msgs matching records of topic/queue_id from req->offset, copying the raw
 * records back to back into out (capacity out_cap). Scans at most max(16000, max_msgs*20)
 * bytes of consume queue, as RocketMQ does. Status/next offset follow DefaultMessageStore.
 * getMessage. Returns 0 (see res->status) or an error. */
int rmq_store_get(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id, const rmq_get_req_t *req,
                  void *out, size_t out_cap, rmq_get_result_t *res);

/* Copy the record at commitlog offset phys into out. *size = its TOTALSIZE (also when out is
 * too small: RMQ_EBUFSMALL). RMQ_ENOTFOUND if phys is not the start of a valid record. */
int rmq_store_read_at(rmq_store_t *s, int64_t phys, void *out, size_t out_cap, int32_t *size);

/* Replication, master side: copy raw commitlog bytes from phys into out: at most out_cap, never
 * past the end of phys's segment or of the data written. *n_out = bytes copied (0 when phys is
 * the end). RMQ_ERANGE if phys is outside the stored log. */
int rmq_store_read_raw(rmq_store_t *s, int64_t phys, void *out, size_t out_cap, size_t *n_out);

/* Replication, slave side: append raw commitlog bytes received from the master at phys, which
 * must equal the current end (or, for an empty store, any segment boundary). Every record
 * completed by these bytes is dispatched to its consume queue and the index; a record cut at
 * the end of data waits for the next call. Segment boundaries and BLANK records come with the
 * data. Errors: RMQ_ERANGE (phys is not the end), RMQ_ECORRUPT (a record fails validation),
 * errno / RMQ_EDISKFULL as for puts. */
int rmq_store_append_raw(rmq_store_t *s, int64_t phys, rmq_buf_t data);

/* Logical offsets of a queue: min = first valid entry, max = next entry to be written.
 * Both 0 for an unknown queue. */
int64_t rmq_store_min_offset(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id);
int64_t rmq_store_max_offset(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id);
/* Commitlog offsets: first byte still stored, end of the last record. */
int64_t rmq_store_min_phys_offset(rmq_store_t *s);
int64_t rmq_store_max_phys_offset(rmq_store_t *s);
/* Commitlog offset of the entry at logical offset; -1 if none. */
int64_t rmq_store_phys_of(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id, int64_t offset);

/* Logical offset of the first message stored at or after ts (ms) (binary search over store
 * times, SEARCH_OFFSET_BY_TIMESTAMP semantics); max offset if all are older. */
int64_t rmq_store_offset_by_time(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id, int64_t ts);
/* Store time of the message at logical offset (-1 if none). */
int64_t rmq_store_store_time_at(rmq_store_t *s, rmq_buf_t topic, int32_t queue_id,
                                int64_t offset);

/* Index query: commitlog offsets of messages whose key (a KEYS entry or UNIQ_KEY) of topic
 * matches, stored within [begin_ts, end_ts] ms, newest first, at most max. *n_out = count. */
int rmq_store_query_key(rmq_store_t *s, rmq_buf_t topic, rmq_buf_t key, int64_t begin_ts,
                        int64_t end_ts, int64_t *phys_out, size_t max, size_t *n_out);

/* Flush commitlog, consume queues, index and checkpoint now (msync + fsync). A failed flush
 * is never counted as flushed. */
int rmq_store_flush(rmq_store_t *s);

/* Retention: delete commitlog segments whose last modification is older than reserved_ms
 * (when force is 0, only at the caller's "deleteWhen" moment, decided in Python), or the oldest
 * ones while disk usage is above disk_max_used_space_ratio when force is 1; never the segment
 * being written. At most max_files segments per call; then the CQ and index files wholly below
 * the new minimum commitlog offset. *deleted = commitlog segments removed. */
int rmq_store_delete_expired(rmq_store_t *s, int64_t now_ms, int64_t reserved_ms, int force,
                             int max_files, int *deleted);

/* Iterate queues: calls cb(topic, topic_len, queue_id, min, max, arg) for every consume queue;
 * a non-zero return from cb stops the iteration and is returned. */
typedef int (*rmq_queue_cb)(const char *topic, size_t topic_len, int32_t queue_id,
                            int64_t min_offset, int64_t max_offset, void *arg);
int rmq_store_foreach_queue(rmq_store_t *s, rmq_queue_cb cb, void *arg);

/* Remove a topic's consume queues (DELETE_TOPIC); the commitlog keeps its records. */
int rmq_store_delete_topic(rmq_store_t *s, rmq_buf_t topic);

typedef struct {
    int64_t put_count;
    int64_t put_bytes;
    int64_t get_count;
    int64_t min_phys_offset;
    int64_t max_phys_offset;
    int64_t flushed_phys_offset;     /* durable prefix of the commitlog                         */
    int64_t commitlog_segments;
    int64_t consume_queues;
    int64_t index_files;
    int64_t flush_errors;
    int64_t flush_count;             /* commitlog msyncs done (flusher, SYNC waits, close)      */
    int64_t flush_ns_total;          /* time spent in them, ns                                  */
    int64_t flush_ns_max;            /* the slowest one, ns                                     */
    int64_t dispatch_errors;         /* stored records whose CQ/index dispatch failed (retried) */
    int64_t dispatch_lag_bytes;      /* commitlog bytes stored but not dispatched yet           */
    int32_t write_error;             /* last write/flush error latched (0 = writable)           */
    int64_t checkpoint_physic_ts;
    int64_t checkpoint_logics_ts;
    int64_t checkpoint_index_ts;
    int64_t segments_precreated;     /* commitlog rolls that took a segment made ahead         */
    int64_t segments_made_on_roll;   /* rolls that had to make the segment themselves          */
} rmq_store_stats_t;

void rmq_store_stats(rmq_store_t *s, rmq_store_stats_t *out);

/* Java String.hashCode of UTF-8 text (as UTF-16 code units); the tagsCode of a tag. */
int32_t rmq_java_hash(const void *utf8, size_t len);
/* CRC32 & 0x7FFFFFFF, as RocketMQ's UtilAll.crc32. */
int32_t rmq_crc32(const void *data, size_t len);
/* Which library computes it: "libdeflate" or "zlib" (chosen by the build). */
extern const char rmq_crc32_provider[];

#ifdef __cplusplus
}
#endif
#endif
