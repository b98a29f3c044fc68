/* store_int.h - the store handle and the internal calls shared by the store's modules:
 * store.c (open/close, stats), put.c, get.c, dispatch.c, recovery.c, flush.c, replica.c.
 * Not public: the binding sees rmq/store.h only. */
#ifndef RMQ_STORE_INT_H
#define RMQ_STORE_INT_H

#include <pthread.h>

#include "rmq/checkpoint.h"
#include "rmq/cq.h"
#include "rmq/index.h"
#include "rmq/mapped.h"
#include "rmq/prealloc.h"
#include "rmq/record.h"
#include "rmq/store.h"

#define RMQ_CQ_BUCKETS 4096

struct rmq_store {
    char root[RMQ_PATH_MAX];
    rmq_store_config_t cfg;
    int lock_fd;
    rmq_mq_t clog;
    rmq_prealloc_t clog_next;    /* makes the commitlog's next segment ahead of the roll       */
    int64_t wrote;               /* end of the last record (published with release)           */
    int64_t last_store_ts;       /* store time of the last record appended                    */
    int64_t reput;               /* records before this offset have been dispatched (a put
                                    whose dispatch failed leaves it behind: the next put or
                                    the flusher retries, puts are refused until it catches up) */
    pthread_mutex_t put_lock;

    /* consume queues: hash table by topic + queue id, guarded by cq_lock for lookup/insert */
    rmq_cq_t **cq_buckets;
    size_t cq_nbuckets, cq_count;
    pthread_rwlock_t cq_lock;

    rmq_index_t index;
    rmq_checkpoint_t cp;

    /* flushing */
    pthread_mutex_t flush_mu;
    pthread_cond_t flush_cv;
    int flushing;                /* a thread is inside msync                                  */
    int64_t flushed;             /* durable prefix of the commitlog                           */
    int write_error;             /* latched msync failure (errno), cleared by a later success */
    int disk_full;               /* usage above the warning ratio                             */
    int stop;
    pthread_t flusher;
    int flusher_started;
    int64_t populate_asked;      /* where the put path last asked for pages ahead (put_lock)   */
    pthread_mutex_t populate_mu; /* one caller at a time of rmq_store_populate_logics          */

    /* stats */
    int64_t put_count, put_bytes, get_count, flush_errors;
    /* commitlog msyncs done and their time (ns), under flush_mu */
    int64_t flush_count, flush_ns_total, flush_ns_max;
    int64_t dispatch_errors;     /* stored records whose dispatch failed (then retried)       */
    char last_error[RMQ_PATH_MAX + 128];
};

/* Bytes of commitlog mapped writable ahead when the put path asks (flush.c), and at the start
 * of each segment made ahead (prealloc.c). */
#define RMQ_POPULATE_AHEAD (32LL << 20)
/* The put path, holding put_lock, about to write up to `end`: asks the segment thread to map
 * the next RMQ_POPULATE_AHEAD bytes when fewer than a few MiB are left mapped (flush.c). */
void rmq_store_want_populated(rmq_store_t *s, int64_t end);
/* Map every consume queue's and the newest index file's next entries writable (their
 * populate_ahead): called by the flusher each pass and by the segment thread after each step
 * of the commitlog's window, so they keep the writer's pace (flush.c). */
void rmq_store_populate_logics(rmq_store_t *s);
/* Set s->last_error from a context string and an error code. */
void rmq_store_set_error(rmq_store_t *s, const char *what, int rc);
/* Find (create when create != 0) the consume queue of topic/queue_id. NULL + *err on failure. */
rmq_cq_t *rmq_store_cq(rmq_store_t *s, const uint8_t *topic, size_t topic_len, int32_t qid,
                       int create, int *err);
/* Lookup only; the caller holds cq_lock (read or write). NULL when absent. (dispatch.c) */
rmq_cq_t *rmq_store_cq_lookup(rmq_store_t *s, const uint8_t *topic, size_t topic_len,
                              int32_t queue_id);
/* Open every consume queue found under root/consumequeue (at open). 0 or an error. */
int rmq_store_load_cqs(rmq_store_t *s);
/* Dispatch a parsed record at phys to its consume queue and (do_index) the index. cq is the
 * record's consume queue when the caller already has it (the batch put, holding put_lock, under
 * which no queue is deleted), else NULL to look it up. */
int rmq_store_dispatch_rec(rmq_store_t *s, const rmq_rec_t *r, int64_t phys, int do_index,
                           rmq_cq_t *cq, int64_t *cq_written, int64_t *idx_written);
/* Number of index entries a record makes (UNIQ_KEY + each KEYS entry; 0 for rollbacks). */
int64_t rmq_store_index_keys(const rmq_rec_t *r);
/* Before r (and n_records - 1 more of its queue) is written to the commitlog: make sure the
 * consume-queue files for offsets [r->queue_offset, +n_records) and index room for
 * index_keys entries exist with their blocks reserved, so dispatch after the write cannot fail
 * on a full disk. 0 or errno / an RMQ error (last_error names the file). (dispatch.c) */
int rmq_store_prepare_dispatch(rmq_store_t *s, const rmq_rec_t *r, int64_t n_records,
                               int64_t index_keys);
/* Dispatch every complete record between s->reput and s->wrote (slave appends, and the retry
 * of a put whose dispatch failed). Caller holds put_lock. 0 or the dispatch error. */
int rmq_store_reput(rmq_store_t *s);
#ifdef RMQ_FAULT_INJECTION
/* Test hook: dispatch fails with this code (0 = off). */
extern int rmq_fault_dispatch_errno;
#endif
/* Dispatch a stored record to its consume queue and the index (rebuild = recovery path). */
int rmq_store_dispatch(rmq_store_t *s, const uint8_t *rec_bytes, int64_t phys, int rebuild,
                       int64_t index_from, int64_t *cq_written, int64_t *idx_written);
/* Recovery: scan, truncate, rebuild (recovery.c). */
int rmq_store_recover(rmq_store_t *s, int clean, rmq_recovery_report_t *rep);
/* Flush the commitlog up to at least target (group commit); wait bounded by timeout_ms
 * (< 0: no bound). 0, RMQ_ETIMEOUT or the msync error. (flush.c) */
int rmq_store_flush_clog(rmq_store_t *s, int64_t target, int timeout_ms);
int rmq_store_start_flusher(rmq_store_t *s);
void rmq_store_stop_flusher(rmq_store_t *s);
/* Flush queues, index, checkpoint (flush.c). */
int rmq_store_flush_logics(rmq_store_t *s, int sync_checkpoint);
int64_t rmq_now_ms(void);
/* Append the commitlog segment starting at base: the pre-created one when it is ready, else
 * made here; then ask for the one after it. Caller holds put_lock. 0 or an error (errpath
 * names the file). (put.c) */
int rmq_store_new_segment(rmq_store_t *s, int64_t base, char *errpath, size_t errlen);

#endif
