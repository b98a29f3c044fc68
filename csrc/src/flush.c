/* flush.c - commitlog flushing: group commit for SYNC_FLUSH puts and the background thread
 * (ASYNC_FLUSH interval flush, consume queue / index / checkpoint flush, disk usage check).
 * A failed msync is never counted as flushed: it latches write_error until a later msync of
 * the same range succeeds. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <time.h>

#include "rmq/errors.h"
#include "store_int.h"

static void deadline_after(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
}

int rmq_store_flush_clog(rmq_store_t *s, int64_t target, int timeout_ms) {
    struct timespec dl;
    int rc = 0;
    if (timeout_ms >= 0) deadline_after(&dl, timeout_ms);
    pthread_mutex_lock(&s->flush_mu);
    while (s->flushed < target) {
        if (!s->flushing) {
            s->flushing = 1;
            /* the timestamp first: it then belongs to a record at or before `end` */
            int64_t ts = __atomic_load_n(&s->last_store_ts, __ATOMIC_ACQUIRE);
            int64_t end = __atomic_load_n(&s->wrote, __ATOMIC_ACQUIRE);
            int64_t from = s->flushed;
            pthread_mutex_unlock(&s->flush_mu);
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            rc = rmq_mq_sync(&s->clog, from, end);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            int64_t ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
                         (t1.tv_nsec - t0.tv_nsec);
            pthread_mutex_lock(&s->flush_mu);
            s->flushing = 0;
            s->flush_count++;
            s->flush_ns_total += ns;
            if (ns > s->flush_ns_max) s->flush_ns_max = ns;
            if (rc) {
                s->flush_errors++;
                __atomic_store_n(&s->write_error, rc, __ATOMIC_RELEASE);
                snprintf(s->last_error, sizeof s->last_error, "msync %s/commitlog: %s",
                         s->root, strerror(rc));
                pthread_cond_broadcast(&s->flush_cv);
                break;
            }
            __atomic_store_n(&s->write_error, 0, __ATOMIC_RELEASE);
            if (end > s->flushed) s->flushed = end;
            if (ts > s->cp.physic_ts) s->cp.physic_ts = ts;
            pthread_cond_broadcast(&s->flush_cv);
            if (end < target) continue; /* target was past what was written: cannot happen */
        } else if (timeout_ms < 0) {
            pthread_cond_wait(&s->flush_cv, &s->flush_mu);
        } else if (pthread_cond_timedwait(&s->flush_cv, &s->flush_mu, &dl) == ETIMEDOUT &&
                   s->flushed < target) {
            rc = RMQ_ETIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&s->flush_mu);
    return rc;
}

int rmq_store_flush_logics(rmq_store_t *s, int thorough) {
    int rc = 0, r;
    int64_t ts = __atomic_load_n(&s->last_store_ts, __ATOMIC_ACQUIRE);
    pthread_rwlock_rdlock(&s->cq_lock);
    for (size_t b = 0; b < s->cq_nbuckets; b++)
        for (rmq_cq_t *c = s->cq_buckets[b]; c; c = c->next)
            if ((r = rmq_cq_flush(c)) != 0 && !rc) rc = r;
    pthread_rwlock_unlock(&s->cq_lock);
    if (thorough && (r = rmq_index_flush(&s->index)) != 0 && !rc) rc = r;
    pthread_mutex_lock(&s->flush_mu);
    if (!rc && ts > s->cp.logics_ts) s->cp.logics_ts = ts;
    s->cp.index_ts = s->index.full_end_ts;
    r = rmq_checkpoint_write(&s->cp, thorough);
    pthread_mutex_unlock(&s->flush_mu);
    return rc ? rc : r;
}

int rmq_store_flush(rmq_store_t *s) {
    int rc = rmq_store_flush_clog(s, __atomic_load_n(&s->wrote, __ATOMIC_ACQUIRE), -1);
    int r = rmq_store_flush_logics(s, 1);
    return rc ? rc : r;
}

static void check_disk(rmq_store_t *s) {
    struct statvfs v;
    if (statvfs(s->root, &v) != 0 || v.f_blocks == 0) return;
    /* as df computes Use%: used / (used + available to unprivileged users) */
    double usedb = (double)(v.f_blocks - v.f_bfree);
    double used = usedb + (double)v.f_bavail > 0 ? usedb / (usedb + (double)v.f_bavail) : 0.0;
    int full = used * 100.0 > s->cfg.disk_space_warning_level_ratio;
    __atomic_store_n(&s->disk_full, full, __ATOMIC_RELEASE);
}

/* Keep the files ahead of their writers mapped writable, so a put (on the broker's event loop)
 * does not take a page fault per 4 KiB it fills: on ext4 such a fault can wait for a journal
 * commit, the 10-50 ms stalls L1 of bench/peers.py showed, and the zeroing of fresh pages was
 * a quarter of a batched put's time (bench/RESULTS.md). The commitlog window is twice what was
 * written since the last pass (4..64 MiB), mapped by the segment thread (prealloc.c), which a
 * faster writer also asks between passes (rmq_store_want_populated); the flusher maps it
 * itself when that thread did not start. Pages in the window are dirtied as zeros before
 * their records overwrite them. *populated: how far (absolute) the flusher itself reached. */
#define AHEAD_MIN (4LL << 20)
#define AHEAD_MAX (64LL << 20)
#define ASK_ROOM (8LL << 20)
static void populate_ahead(rmq_store_t *s, int64_t wrote, int64_t last_wrote,
                           int64_t *populated) {
    int64_t ahead = rmq_ahead_window(wrote - last_wrote, AHEAD_MIN, AHEAD_MAX);
    if (__atomic_load_n(&s->clog_next.started, __ATOMIC_ACQUIRE))
        rmq_prealloc_populate(&s->clog_next, wrote, wrote + ahead);
    else
        *populated = rmq_mq_populate_ahead(&s->clog, wrote, *populated, ahead);
    rmq_store_populate_logics(s);
}

void rmq_store_populate_logics(rmq_store_t *s) {
    pthread_mutex_lock(&s->populate_mu);
    pthread_rwlock_rdlock(&s->cq_lock); /* taken for writing only when a queue is created */
    for (size_t b = 0; b < s->cq_nbuckets; b++)
        for (rmq_cq_t *c = s->cq_buckets[b]; c; c = c->next) rmq_cq_populate_ahead(c);
    pthread_rwlock_unlock(&s->cq_lock);
    rmq_index_populate_ahead(&s->index);
    pthread_mutex_unlock(&s->populate_mu);
}

void rmq_store_want_populated(rmq_store_t *s, int64_t end) {
    /* at most once per ASK_ROOM bytes written: an ask that cannot be met is not repeated */
    if (end < s->populate_asked + ASK_ROOM ||
        end + ASK_ROOM <= rmq_prealloc_populated(&s->clog_next))
        return;
    s->populate_asked = end;
    rmq_prealloc_populate(&s->clog_next, end, end + RMQ_POPULATE_AHEAD);
}

static void *flusher_main(void *arg) {
    rmq_store_t *s = arg;
    (void)prctl(PR_SET_NAME, "rmq-flush", 0, 0, 0); /* top -H, /proc/PID/task/TID/comm */
    int64_t last_thorough = rmq_now_ms(), last_cq = last_thorough, last_cq_thorough = last_thorough;
    int64_t last_disk = 0;
    int64_t last_wrote = __atomic_load_n(&s->wrote, __ATOMIC_ACQUIRE), populated = 0;
    int interval = s->cfg.flush_interval_commitlog_ms > 0 ? s->cfg.flush_interval_commitlog_ms : 500;
    if (s->cfg.flush_interval_cq_ms > 0 && s->cfg.flush_interval_cq_ms < interval)
        interval = s->cfg.flush_interval_cq_ms;
    for (;;) {
        struct timespec dl;
        deadline_after(&dl, interval);
        pthread_mutex_lock(&s->flush_mu);
        while (!s->stop && pthread_cond_timedwait(&s->flush_cv, &s->flush_mu, &dl) != ETIMEDOUT) {}
        int stop = s->stop;
        int64_t flushed = s->flushed;
        pthread_mutex_unlock(&s->flush_mu);
        if (stop) break;
        int64_t now = rmq_now_ms();
        int64_t wrote = __atomic_load_n(&s->wrote, __ATOMIC_ACQUIRE);
        int thorough = now - last_thorough >= s->cfg.flush_commitlog_thorough_ms;
        int64_t least = (int64_t)s->cfg.flush_commitlog_least_pages * 4096;
        if (wrote > flushed && (thorough || wrote - flushed >= least ||
                                __atomic_load_n(&s->write_error, __ATOMIC_ACQUIRE))) {
            rmq_store_flush_clog(s, wrote, -1);
            last_thorough = now;
        }
        populate_ahead(s, wrote, last_wrote, &populated);
        last_wrote = wrote;
        if (now - last_cq >= s->cfg.flush_interval_cq_ms) {
            int deep = now - last_cq_thorough >= s->cfg.flush_cq_thorough_ms;
            rmq_store_flush_logics(s, deep);
            last_cq = now;
            if (deep) last_cq_thorough = now;
        }
        if (now - last_disk >= 1000) {
            check_disk(s);
            last_disk = now;
            /* records stored but not dispatched (a CQ/index file could not be created): retry,
             * so consumers see them without waiting for the next put */
            if (pthread_mutex_trylock(&s->put_lock) == 0) {
                if (s->reput < s->wrote) rmq_store_reput(s);
                pthread_mutex_unlock(&s->put_lock);
            }
        }
    }
    return NULL;
}

int rmq_store_start_flusher(rmq_store_t *s) {
    check_disk(s);
    int rc = pthread_create(&s->flusher, NULL, flusher_main, s);
    if (rc) return rc;
    s->flusher_started = 1;
    return 0;
}

void rmq_store_stop_flusher(rmq_store_t *s) {
    if (!s->flusher_started) return;
    pthread_mutex_lock(&s->flush_mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->flush_cv);
    pthread_mutex_unlock(&s->flush_mu);
    pthread_join(s->flusher, NULL);
    s->flusher_started = 0;
}
