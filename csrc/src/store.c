/* store.c - the message store: open/close, config, errors, retention, topic deletion, stats.
 * The put path is put.c, reads get.c, dispatch and the queue table dispatch.c, recovery
 * recovery.c, flushing flush.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "rmq/errors.h"
#include "rmq/record.h"
#include "store_int.h"



int64_t rmq_now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void rmq_store_config_default(rmq_store_config_t *c) {
    static const int64_t levels[] = {1000, 5000, 10000, 30000, 60000, 120000, 180000, 240000,
                                     300000, 360000, 420000, 480000, 540000, 600000, 1200000,
                                     1800000, 3600000, 7200000};
    memset(c, 0, sizeof *c);
    c->mapped_file_size_commitlog = 1073741824LL;
    c->cq_entries_per_file = 300000;
    c->max_hash_slot_num = 5000000;
    c->max_index_num = 20000000;
    c->flush_disk_type = RMQ_FLUSH_ASYNC;
    c->flush_interval_commitlog_ms = 500;
    c->flush_commitlog_least_pages = 4;
    c->flush_commitlog_thorough_ms = 10000;
    c->flush_interval_cq_ms = 1000;
    c->flush_cq_least_pages = 2;
    c->flush_cq_thorough_ms = 60000;
    c->sync_flush_timeout_ms = 5000;
    c->max_message_size = 4 * 1024 * 1024;
    c->message_index_enable = 1;
    c->check_crc_on_recover = 1;
    c->disk_max_used_space_ratio = 75;
    c->disk_space_warning_level_ratio = 90;
    c->preallocate = 1;
    c->warm_mapped_file = 0;
    c->store_host[0] = 127;
    c->store_host[3] = 1;
    c->store_host_port = 10911;
    c->n_delay_levels = 18;
    memcpy(c->delay_level_ms, levels, sizeof levels);
}

void rmq_store_set_error(rmq_store_t *s, const char *what, int rc) {
    snprintf(s->last_error, sizeof s->last_error, "%s: %s", what, rmq_strerror(rc));
}

const char *rmq_store_last_error(rmq_store_t *s) { return s->last_error; }

/* ---- open / close -------------------------------------------------------------------- */

/* The segment thread maps the consume queues' and the index's next pages too, each time it
 * maps a step of the commitlog's: at a fast writer's pace, not only once per flusher pass. */
static void populate_hook(void *s) { rmq_store_populate_logics(s); }

int rmq_store_open(const char *root, const rmq_store_config_t *cfg, rmq_store_t **out,
                   rmq_recovery_report_t *report) {
    rmq_recovery_report_t scratch;
    char path[RMQ_PATH_MAX + 32], errpath[RMQ_PATH_MAX];
    int rc;
    if (!root || !cfg || !out || cfg->mapped_file_size_commitlog < 4096 ||
        cfg->cq_entries_per_file <= 0 || cfg->max_hash_slot_num <= 0 ||
        cfg->max_index_num <= 1 || cfg->n_delay_levels < 0 ||
        cfg->n_delay_levels > RMQ_MAX_DELAY_LEVELS || strlen(root) > RMQ_PATH_MAX - 200)
        return RMQ_EINVAL;
    if (!report) report = &scratch;
    memset(report, 0, sizeof *report);
    report->truncated_at = -1;
    rmq_store_t *s = calloc(1, sizeof *s);
    if (!s) return RMQ_ENOMEM;
    snprintf(s->root, sizeof s->root, "%s", root);
    s->cfg = *cfg;
    s->lock_fd = -1;
    s->cp.fd = -1;
    s->populate_asked = INT64_MIN / 2; /* the first put asks */
    pthread_mutex_init(&s->put_lock, NULL);
    pthread_mutex_init(&s->populate_mu, NULL);
    pthread_mutex_init(&s->flush_mu, NULL);
    pthread_cond_init(&s->flush_cv, NULL);
    pthread_rwlock_init(&s->cq_lock, NULL);
    s->cq_buckets = calloc(RMQ_CQ_BUCKETS, sizeof *s->cq_buckets);
    s->cq_nbuckets = RMQ_CQ_BUCKETS;
    if (!s->cq_buckets) { free(s); return RMQ_ENOMEM; }
    int have_clog = 0, have_index = 0;

    if ((rc = rmq_mkdirs(root)) != 0) goto fail;
    snprintf(path, sizeof path, "%s/lock", root);
    s->lock_fd = open(path, O_RDWR | O_CREAT, 0644);
    if (s->lock_fd < 0) { rc = errno; goto fail; }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? RMQ_ELOCKED : errno;
        goto fail;
    }
    snprintf(path, sizeof path, "%s/abort", root);
    int clean = access(path, F_OK) != 0;
    snprintf(path, sizeof path, "%s/checkpoint", root);
    if ((rc = rmq_checkpoint_open(&s->cp, path)) != 0) {
        rmq_store_set_error(s, path, rc);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/commitlog", root);
    rc = rmq_mq_open(&s->clog, path, cfg->mapped_file_size_commitlog,
                     cfg->preallocate ? RMQ_MQ_PREALLOCATE : 0, errpath, sizeof errpath);
    if (rc) { rmq_store_set_error(s, errpath, rc); goto fail; }
    have_clog = 1;
    if ((rc = rmq_store_load_cqs(s)) != 0) goto fail;
    rc = rmq_index_open(&s->index, root, cfg->max_hash_slot_num, cfg->max_index_num, errpath,
                        sizeof errpath);
    if (rc) { rmq_store_set_error(s, errpath, rc); goto fail; }
    have_index = 1;
    if ((rc = rmq_store_recover(s, clean, report)) != 0) goto fail;
    snprintf(path, sizeof path, "%s/abort", root);
    int afd = open(path, O_WRONLY | O_CREAT, 0644);
    if (afd < 0) { rc = errno; goto fail; }
    fsync(afd);
    close(afd);
    if ((rc = rmq_store_start_flusher(s)) != 0) goto fail;
    /* Not fatal when it cannot start: the put path then makes every segment itself. */
    snprintf(path, sizeof path, "%s/prealloc", root);
    if (rmq_prealloc_start(&s->clog_next, &s->clog, path, cfg->warm_mapped_file,
                           RMQ_POPULATE_AHEAD) == 0) {
        rmq_prealloc_set_hook(&s->clog_next, populate_hook, s);
        int64_t seg = cfg->mapped_file_size_commitlog, last = rmq_mq_count(&s->clog)
            ? s->clog.segs[s->clog.n - 1]->base + seg : s->wrote - s->wrote % seg;
        rmq_prealloc_request(&s->clog_next, last);
    }
    *out = s;
    return 0;
fail:
    if (!s->last_error[0]) rmq_store_set_error(s, root, rc);
    snprintf(report->error, sizeof report->error, "%s", s->last_error);
    for (size_t b = 0; b < s->cq_nbuckets; b++) {
        rmq_cq_t *c = s->cq_buckets[b];
        while (c) { rmq_cq_t *n = c->next; rmq_cq_close(c); free(c); c = n; }
    }
    free(s->cq_buckets);
    if (have_index) rmq_index_close(&s->index);
    if (have_clog) rmq_mq_close(&s->clog);
    rmq_checkpoint_close(&s->cp);
    if (s->lock_fd >= 0) close(s->lock_fd);
    free(s);
    return rc;
}

int rmq_store_close(rmq_store_t *s) {
    char path[RMQ_PATH_MAX + 16];
    if (!s) return RMQ_EINVAL;
    rmq_store_stop_flusher(s);
    rmq_prealloc_stop(&s->clog_next);
    int rc = rmq_store_flush(s);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/abort", s->root);
        unlink(path); /* clean shutdown only when everything reached the disk */
    }
    for (size_t b = 0; b < s->cq_nbuckets; b++) {
        rmq_cq_t *c = s->cq_buckets[b];
        while (c) { rmq_cq_t *n = c->next; rmq_cq_close(c); free(c); c = n; }
    }
    free(s->cq_buckets);
    rmq_index_close(&s->index);
    rmq_mq_close(&s->clog);
    rmq_checkpoint_close(&s->cp);
    close(s->lock_fd);
    pthread_mutex_destroy(&s->put_lock);
    pthread_mutex_destroy(&s->populate_mu);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_cond_destroy(&s->flush_cv);
    pthread_rwlock_destroy(&s->cq_lock);
    free(s);
    return rc;
}

/* ---- maintenance --------------------------------------------------------------------------- */

int rmq_store_delete_expired(rmq_store_t *s, int64_t now_ms, int64_t reserved_ms, int force,
                             int max_files, int *deleted) {
    int n = 0;
    if (deleted) *deleted = 0;
    while (n < max_files && rmq_mq_count(&s->clog) > 1) {
        rmq_seg_t *first = rmq_mq_first(&s->clog);
        struct stat st;
        int expired = force;
        if (!expired && fstat(first->fd, &st) == 0)
            expired = (int64_t)st.st_mtime * 1000 + reserved_ms <= now_ms;
        int64_t end = first->base + first->size;
        rmq_seg_release(first);
        if (!expired || end > __atomic_load_n(&s->wrote, __ATOMIC_ACQUIRE)) break;
        rmq_mq_delete_first(&s->clog);
        n++;
    }
    if (n > 0) {
        int64_t min = rmq_store_min_phys_offset(s);
        pthread_rwlock_rdlock(&s->cq_lock);
        for (size_t b = 0; b < s->cq_nbuckets; b++)
            for (rmq_cq_t *c = s->cq_buckets[b]; c; c = c->next) rmq_cq_delete_below(c, min);
        pthread_rwlock_unlock(&s->cq_lock);
        rmq_index_delete_below(&s->index, min);
    }
    if (deleted) *deleted = n;
    return 0;
}

int rmq_store_foreach_queue(rmq_store_t *s, rmq_queue_cb cb, void *arg) {
    int rc = 0;
    pthread_rwlock_rdlock(&s->cq_lock);
    for (size_t b = 0; b < s->cq_nbuckets && !rc; b++)
        for (rmq_cq_t *c = s->cq_buckets[b]; c && !rc; c = c->next)
            rc = cb(c->topic, c->topic_len, c->queue_id, c->min_off, c->max_off, arg);
    pthread_rwlock_unlock(&s->cq_lock);
    return rc;
}

static void rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[RMQ_PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

int rmq_store_delete_topic(rmq_store_t *s, rmq_buf_t t) {
    char dir[RMQ_PATH_MAX + 256];
    if (!t.ptr || t.len == 0 || t.len > RMQ_MAX_TOPIC_LEN || memchr(t.ptr, '/', t.len) ||
        (t.len <= 2 && ((const char *)t.ptr)[0] == '.'))
        return RMQ_EINVAL;
    pthread_mutex_lock(&s->put_lock);
    pthread_rwlock_wrlock(&s->cq_lock);
    for (size_t b = 0; b < s->cq_nbuckets; b++) {
        rmq_cq_t **pp = &s->cq_buckets[b];
        while (*pp) {
            rmq_cq_t *c = *pp;
            if (c->topic_len == t.len && memcmp(c->topic, t.ptr, t.len) == 0) {
                *pp = c->next;
                rmq_cq_close(c);
                free(c);
                s->cq_count--;
            } else {
                pp = &c->next;
            }
        }
    }
    snprintf(dir, sizeof dir, "%s/consumequeue/%.*s", s->root, (int)t.len, (const char *)t.ptr);
    rm_rf(dir);
    pthread_rwlock_unlock(&s->cq_lock);
    pthread_mutex_unlock(&s->put_lock);
    return 0;
}

void rmq_store_stats(rmq_store_t *s, rmq_store_stats_t *o) {
    memset(o, 0, sizeof *o);
    o->put_count = s->put_count;
    o->put_bytes = s->put_bytes;
    pthread_mutex_lock(&s->put_lock);
    o->dispatch_errors = s->dispatch_errors;
    o->dispatch_lag_bytes = s->wrote - s->reput;
    pthread_mutex_unlock(&s->put_lock);
    o->get_count = __atomic_load_n(&s->get_count, __ATOMIC_RELAXED);
    o->min_phys_offset = rmq_store_min_phys_offset(s);
    o->max_phys_offset = rmq_store_max_phys_offset(s);
    pthread_mutex_lock(&s->flush_mu);
    o->flushed_phys_offset = s->flushed;
    o->flush_errors = s->flush_errors;
    o->flush_count = s->flush_count;
    o->flush_ns_total = s->flush_ns_total;
    o->flush_ns_max = s->flush_ns_max;
    o->write_error = s->write_error ? s->write_error : (s->disk_full ? RMQ_EDISKFULL : 0);
    o->checkpoint_physic_ts = s->cp.physic_ts;
    o->checkpoint_logics_ts = s->cp.logics_ts;
    o->checkpoint_index_ts = s->cp.index_ts;
    pthread_mutex_unlock(&s->flush_mu);
    o->commitlog_segments = rmq_mq_count(&s->clog);
    if (s->clog_next.started) {
        pthread_mutex_lock(&s->clog_next.mu);
        o->segments_precreated = s->clog_next.taken;
        o->segments_made_on_roll = s->clog_next.missed;
        pthread_mutex_unlock(&s->clog_next.mu);
    }
    pthread_rwlock_rdlock(&s->cq_lock);
    o->consume_queues = (int64_t)s->cq_count;
    pthread_rwlock_unlock(&s->cq_lock);
    o->index_files = rmq_index_count(&s->index);
}
