/* store.c - the message store: open/close, put/put_batch, reads, queries, retention, stats.
 * Recovery lives in recovery.c, flushing in flush.c. */
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

#define CQ_BUCKETS 4096
#define SCHEDULE_TOPIC "SCHEDULE_TOPIC_XXXX"

int rmq_mkdirs(const char *path);

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

/* ---- consume queue table ---------------------------------------------------------------- */

static size_t cq_hash(const uint8_t *t, size_t n, int32_t qid) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ t[i]) * 1099511628211ULL;
    h = (h ^ (uint32_t)qid) * 1099511628211ULL;
    return (size_t)(h % CQ_BUCKETS);
}

static rmq_cq_t *cq_lookup(rmq_store_t *s, const uint8_t *t, size_t n, int32_t qid) {
    for (rmq_cq_t *c = s->cq_buckets[cq_hash(t, n, qid)]; c; c = c->next)
        if (c->queue_id == qid && c->topic_len == n && memcmp(c->topic, t, n) == 0) return c;
    return NULL;
}

rmq_cq_t *rmq_store_cq(rmq_store_t *s, const uint8_t *t, size_t n, int32_t qid, int create,
                       int *err) {
    pthread_rwlock_rdlock(&s->cq_lock);
    rmq_cq_t *c = cq_lookup(s, t, n, qid);
    pthread_rwlock_unlock(&s->cq_lock);
    if (c || !create) return c;
    pthread_rwlock_wrlock(&s->cq_lock);
    c = cq_lookup(s, t, n, qid);
    if (!c) {
        char errpath[RMQ_PATH_MAX];
        c = calloc(1, sizeof *c);
        if (!c) { *err = RMQ_ENOMEM; goto out; }
        int rc = rmq_cq_open(c, s->root, (const char *)t, n, qid, s->cfg.cq_entries_per_file,
                             errpath, sizeof errpath);
        if (rc) { rmq_store_set_error(s, errpath, rc); free(c); c = NULL; *err = rc; goto out; }
        size_t b = cq_hash(t, n, qid);
        c->next = s->cq_buckets[b];
        s->cq_buckets[b] = c;
        s->cq_count++;
    }
out:
    pthread_rwlock_unlock(&s->cq_lock);
    return c;
}

static int load_cqs(rmq_store_t *s) {
    char dir[RMQ_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/consumequeue", s->root);
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : errno;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        size_t tl = strlen(e->d_name);
        if (tl > RMQ_MAX_TOPIC_LEN) continue;
        char qdir[RMQ_PATH_MAX];
        snprintf(qdir, sizeof qdir, "%s/%s", dir, e->d_name);
        DIR *qd = opendir(qdir);
        if (!qd) continue;
        struct dirent *q;
        while ((q = readdir(qd)) != NULL) {
            char *endp;
            long qid = strtol(q->d_name, &endp, 10);
            if (q->d_name[0] == '.' || *endp || qid < 0 || qid > INT32_MAX) continue;
            int err = 0;
            if (!rmq_store_cq(s, (const uint8_t *)e->d_name, tl, (int32_t)qid, 1, &err)) {
                rc = err;
                break;
            }
        }
        closedir(qd);
    }
    closedir(d);
    return rc;
}

/* ---- dispatch: record -> consume queue + index ---------------------------------------- */

static int64_t tags_code_of(rmq_store_t *s, const rmq_rec_t *r) {
    const uint8_t *v;
    size_t vl;
    if (r->topic_len == (int32_t)strlen(SCHEDULE_TOPIC) &&
        memcmp(r->topic, SCHEDULE_TOPIC, (size_t)r->topic_len) == 0 &&
        rmq_props_get(r->props, (size_t)r->props_len, "DELAY", &v, &vl)) {
        long level = 0;
        for (size_t i = 0; i < vl && i < 9 && v[i] >= '0' && v[i] <= '9'; i++)
            level = level * 10 + (v[i] - '0');
        if (level > s->cfg.n_delay_levels) level = s->cfg.n_delay_levels;
        if (level > 0) return r->store_timestamp + s->cfg.delay_level_ms[level - 1];
    }
    if (rmq_props_get(r->props, (size_t)r->props_len, "TAGS", &v, &vl) && vl > 0)
        return rmq_java_hash(v, vl);
    return 0;
}

static int index_record(rmq_store_t *s, const rmq_rec_t *r, int64_t phys, int64_t *written) {
    const uint8_t *v;
    size_t vl;
    char errpath[RMQ_PATH_MAX];
    int rc;
    if ((r->sysflag & RMQ_SYSFLAG_TRAN_MASK) == RMQ_SYSFLAG_TRAN_ROLLBACK) return 0;
    if (rmq_props_get(r->props, (size_t)r->props_len, "UNIQ_KEY", &v, &vl) && vl > 0) {
        rc = rmq_index_put(&s->index, r->topic, (size_t)r->topic_len, v, vl, phys,
                           r->store_timestamp, errpath, sizeof errpath);
        if (rc) { rmq_store_set_error(s, errpath, rc); return rc; }
        if (written) (*written)++;
    }
    if (rmq_props_get(r->props, (size_t)r->props_len, "KEYS", &v, &vl)) {
        size_t i = 0;
        while (i < vl) {
            while (i < vl && v[i] == ' ') i++;
            size_t j = i;
            while (j < vl && v[j] != ' ') j++;
            if (j > i) {
                rc = rmq_index_put(&s->index, r->topic, (size_t)r->topic_len, v + i, j - i,
                                   phys, r->store_timestamp, errpath, sizeof errpath);
                if (rc) { rmq_store_set_error(s, errpath, rc); return rc; }
                if (written) (*written)++;
            }
            i = j;
        }
    }
    return 0;
}

static int dispatch(rmq_store_t *s, const rmq_rec_t *r, int64_t phys, int do_index,
                    int64_t *cq_written, int64_t *idx_written) {
    int tran = r->sysflag & RMQ_SYSFLAG_TRAN_MASK;
    int rc;
    if (tran == 0 || tran == RMQ_SYSFLAG_TRAN_COMMIT) {
        int err = 0;
        rmq_cq_t *c = rmq_store_cq(s, r->topic, (size_t)r->topic_len, r->queue_id, 1, &err);
        if (!c) return err;
        int64_t before = c->max_off;
        char errpath[RMQ_PATH_MAX];
        rc = rmq_cq_put(c, r->queue_offset, phys, r->total_size, tags_code_of(s, r), errpath,
                        sizeof errpath);
        if (rc) { rmq_store_set_error(s, errpath, rc); return rc; }
        if (cq_written && c->max_off > before) (*cq_written)++;
    }
    if (do_index && s->cfg.message_index_enable) return index_record(s, r, phys, idx_written);
    return 0;
}

int rmq_store_dispatch(rmq_store_t *s, const uint8_t *bytes, int64_t phys, int rebuild,
                       int64_t index_from, int64_t *cq_written, int64_t *idx_written) {
    rmq_rec_t r;
    int rc = rmq_rec_parse(bytes, (size_t)INT32_MAX, 0, &r);
    if (rc <= 0) return rc ? rc : RMQ_ECORRUPT;
    (void)rebuild;
    return dispatch(s, &r, phys, phys >= index_from, cq_written, idx_written);
}

/* ---- open / close -------------------------------------------------------------------- */

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
    pthread_mutex_init(&s->put_lock, NULL);
    pthread_mutex_init(&s->flush_mu, NULL);
    pthread_cond_init(&s->flush_cv, NULL);
    pthread_rwlock_init(&s->cq_lock, NULL);
    s->cq_buckets = calloc(CQ_BUCKETS, sizeof *s->cq_buckets);
    s->cq_nbuckets = CQ_BUCKETS;
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
    if ((rc = rmq_checkpoint_open(&s->cp, path)) != 0) goto fail;
    snprintf(path, sizeof path, "%s/commitlog", root);
    rc = rmq_mq_open(&s->clog, path, cfg->mapped_file_size_commitlog, cfg->preallocate, errpath,
                     sizeof errpath);
    if (rc) { rmq_store_set_error(s, errpath, rc); goto fail; }
    have_clog = 1;
    if ((rc = load_cqs(s)) != 0) goto fail;
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
    *out = s;
    return 0;
fail:
    if (!s->last_error[0]) rmq_store_set_error(s, root, rc);
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
    pthread_mutex_destroy(&s->flush_mu);
    pthread_cond_destroy(&s->flush_cv);
    pthread_rwlock_destroy(&s->cq_lock);
    free(s);
    return rc;
}

/* ---- append ------------------------------------------------------------------------- */

/* Make room for len bytes in the last segment (rolling with a BLANK when needed) and return
 * the segment (with a reference) holding s->wrote. Caller holds put_lock. */
static int reserve(rmq_store_t *s, int64_t len, rmq_seg_t **out) {
    char errpath[RMQ_PATH_MAX];
    int64_t seg_size = s->cfg.mapped_file_size_commitlog;
    if (len + RMQ_BLANK_LEN > seg_size) return RMQ_ETOOBIG;
    rmq_seg_t *seg = rmq_mq_last(&s->clog);
    int64_t wrote = s->wrote;
    if (seg && wrote >= seg->base && wrote + len + RMQ_BLANK_LEN <= seg->base + seg_size) {
        *out = seg;
        return 0;
    }
    int64_t base = seg ? seg->base + seg_size : wrote - wrote % seg_size;
    /* Create the next segment first: if that fails (disk full) nothing was written. */
    int rc = rmq_mq_create(&s->clog, base, errpath, sizeof errpath);
    if (rc) {
        rmq_seg_release(seg);
        rmq_store_set_error(s, errpath, rc);
        return rc;
    }
    if (seg && wrote >= seg->base && wrote < seg->base + seg_size) {
        int64_t remaining = seg->base + seg_size - wrote;
        uint8_t *p = seg->map + (wrote - seg->base);
        rmq_put32(p, (uint32_t)remaining);
        rmq_put32(p + 4, RMQ_MAGIC_BLANK);
    }
    rmq_seg_release(seg);
    __atomic_store_n(&s->wrote, base, __ATOMIC_RELEASE);
    *out = rmq_mq_last(&s->clog);
    return *out ? 0 : RMQ_EINVAL;
}

static int check_writable(rmq_store_t *s) {
    if (__atomic_load_n(&s->write_error, __ATOMIC_ACQUIRE)) {
        snprintf(s->last_error, sizeof s->last_error,
                 "%s/commitlog: writes refused after a flush failure", s->root);
        return RMQ_EREADONLY;
    }
    if (__atomic_load_n(&s->disk_full, __ATOMIC_ACQUIRE)) {
        snprintf(s->last_error, sizeof s->last_error,
                 "%s: disk usage above diskSpaceWarningLevelRatio %d%%", s->root,
                 s->cfg.disk_space_warning_level_ratio);
        return RMQ_EDISKFULL;
    }
    return 0;
}

static int check_msg(rmq_store_t *s, const rmq_msg_t *m) {
    if (!m->topic.ptr || m->topic.len == 0 || m->topic.len > RMQ_MAX_TOPIC_LEN ||
        m->queue_id < 0 || (!m->body.ptr && m->body.len) || (!m->properties.ptr && m->properties.len))
        return RMQ_EINVAL;
    if (m->body.len > (size_t)s->cfg.max_message_size || m->properties.len > RMQ_MAX_PROPS_LEN)
        return RMQ_ETOOBIG;
    return 0;
}

static void fill_rec(rmq_store_t *s, const rmq_msg_t *m, rmq_rec_t *r, int64_t now) {
    memset(r, 0, sizeof *r);
    r->queue_id = m->queue_id;
    r->flag = m->flag;
    r->sysflag = m->sysflag & ~RMQ_SYSFLAG_STOREHOST_V6;
    if (s->cfg.store_host_v6) r->sysflag |= RMQ_SYSFLAG_STOREHOST_V6;
    r->born_timestamp = m->born_timestamp;
    r->born_host = m->born_host;
    r->born_port = m->born_port;
    r->store_timestamp = now;
    r->store_host = s->cfg.store_host;
    r->store_port = s->cfg.store_host_port;
    r->reconsume_times = m->reconsume_times;
    r->prepared_transaction_offset = m->prepared_transaction_offset;
    r->body = m->body.ptr;
    r->body_len = (int32_t)m->body.len;
    r->topic = m->topic.ptr;
    r->topic_len = (int32_t)m->topic.len;
}

/* Assign the queue offset (NOT/COMMIT records only; others get 0). */
static int64_t queue_offset_for(rmq_store_t *s, rmq_rec_t *r, int *err) {
    int tran = r->sysflag & RMQ_SYSFLAG_TRAN_MASK;
    if (tran != 0 && tran != RMQ_SYSFLAG_TRAN_COMMIT) return 0;
    rmq_cq_t *c = rmq_store_cq(s, r->topic, (size_t)r->topic_len, r->queue_id, 1, err);
    return c ? c->max_off : -1;
}

static void result_of(rmq_store_t *s, const rmq_rec_t *r, int64_t phys, rmq_put_result_t *res) {
    res->phys_offset = phys;
    res->size = r->total_size;
    res->queue_offset = r->queue_offset;
    res->store_timestamp = r->store_timestamp;
    rmq_offset_msg_id(res->msg_id, s->cfg.store_host, s->cfg.store_host_v6,
                      s->cfg.store_host_port, phys);
}

static int wait_durable(rmq_store_t *s, int64_t end) {
    if (s->cfg.flush_disk_type != RMQ_FLUSH_SYNC) return 0;
    int rc = rmq_store_flush_clog(s, end, s->cfg.sync_flush_timeout_ms);
    if (rc == RMQ_ETIMEOUT)
        snprintf(s->last_error, sizeof s->last_error, "%s/commitlog: flush did not finish in %d ms",
                 s->root, s->cfg.sync_flush_timeout_ms);
    return rc;
}

int rmq_store_put(rmq_store_t *s, const rmq_msg_t *m, rmq_put_result_t *res) {
    rmq_rec_t r;
    rmq_seg_t *seg = NULL;
    int rc = check_msg(s, m), err = 0;
    if (rc) return rc;
    pthread_mutex_lock(&s->put_lock);
    if ((rc = check_writable(s)) != 0) goto out;
    fill_rec(s, m, &r, rmq_now_ms());
    r.props = m->properties.ptr;
    r.props_len = (int32_t)m->properties.len;
    r.queue_offset = queue_offset_for(s, &r, &err);
    if (r.queue_offset < 0) { rc = err; goto out; }
    int64_t len = rmq_rec_len(m->body.len, m->topic.len, m->properties.len,
                              (r.sysflag & RMQ_SYSFLAG_BORNHOST_V6) != 0, s->cfg.store_host_v6);
    if ((rc = reserve(s, len, &seg)) != 0) goto out;
    int64_t phys = s->wrote;
    r.phys_offset = phys;
    rmq_rec_encode(seg->map + (phys - seg->base), &r);
    rmq_seg_release(seg);
    __atomic_store_n(&s->last_store_ts, r.store_timestamp, __ATOMIC_RELEASE);
    __atomic_store_n(&s->wrote, phys + len, __ATOMIC_RELEASE);
    rc = dispatch(s, &r, phys, 1, NULL, NULL);
    s->put_count++;
    s->put_bytes += len;
    result_of(s, &r, phys, res);
out:
    pthread_mutex_unlock(&s->put_lock);
    if (rc) return rc;
    return wait_durable(s, res->phys_offset + res->size);
}

/* One parsed item of a batch body. */
typedef struct {
    const uint8_t *body, *props;
    int32_t body_len, props_len, flag;
} batch_item_t;

static int parse_batch(rmq_store_t *s, rmq_buf_t b, batch_item_t **items, size_t *n) {
    const uint8_t *p = b.ptr, *end = p + b.len;
    size_t cap = 16, k = 0;
    batch_item_t *it = malloc(cap * sizeof *it);
    if (!it) return RMQ_ENOMEM;
    while (p < end) {
        if (end - p < 22) goto bad;
        int32_t total = (int32_t)rmq_get32(p);
        int32_t flag = (int32_t)rmq_get32(p + 12);
        int32_t bl = (int32_t)rmq_get32(p + 16);
        if (total < 22 || total > end - p || bl < 0 || bl > total - 22) goto bad;
        int32_t pl = (int16_t)(((uint16_t)p[20 + bl] << 8) | p[21 + bl]);
        if (pl < 0 || 22 + bl + pl != total) goto bad;
        if (bl > s->cfg.max_message_size) { free(it); return RMQ_ETOOBIG; }
        if (k == cap) {
            cap *= 2;
            batch_item_t *q = realloc(it, cap * sizeof *it);
            if (!q) { free(it); return RMQ_ENOMEM; }
            it = q;
        }
        it[k].flag = flag;
        it[k].body = p + 20;
        it[k].body_len = bl;
        it[k].props = p + 22 + bl;
        it[k].props_len = pl;
        k++;
        p += total;
    }
    if (k == 0) goto bad;
    *items = it;
    *n = k;
    return 0;
bad:
    free(it);
    snprintf(s->last_error, sizeof s->last_error, "malformed batch body at byte %ld",
             (long)(p - (const uint8_t *)b.ptr));
    return RMQ_ECORRUPT;
}

int rmq_store_put_batch(rmq_store_t *s, const rmq_msg_t *tmpl, rmq_buf_t batch,
                        rmq_buf_t extra, rmq_put_result_t *results, size_t max_results,
                        size_t *n_out) {
    batch_item_t *items = NULL;
    size_t n = 0, i;
    rmq_msg_t m = *tmpl;
    m.body.ptr = NULL;
    m.body.len = 0;
    m.properties.ptr = NULL;
    m.properties.len = 0;
    int rc = check_msg(s, &m), err = 0;
    if (rc) return rc;
    if (!batch.ptr || (!extra.ptr && extra.len) || !results || !n_out) return RMQ_EINVAL;
    *n_out = 0;
    if ((rc = parse_batch(s, batch, &items, &n)) != 0) return rc;
    if (n > max_results) { free(items); return RMQ_EBUFSMALL; }
    int bv6 = (tmpl->sysflag & RMQ_SYSFLAG_BORNHOST_V6) != 0;
    int64_t total = 0;
    for (i = 0; i < n; i++) {
        size_t pl = (size_t)items[i].props_len;
        if (extra.len) pl += extra.len + (pl && items[i].props[pl - 1] != 2 ? 1 : 0);
        if (pl > RMQ_MAX_PROPS_LEN) { free(items); return RMQ_ETOOBIG; }
        total += rmq_rec_len((size_t)items[i].body_len, m.topic.len, pl, bv6,
                             s->cfg.store_host_v6);
    }
    uint8_t props_buf[4096];  /* the common case without a heap allocation */
    uint8_t *props = props_buf;
    size_t max_pl = 0;
    for (i = 0; i < n; i++)
        if ((size_t)items[i].props_len > max_pl) max_pl = (size_t)items[i].props_len;
    if (max_pl + extra.len + 1 > sizeof props_buf) {
        props = malloc(RMQ_MAX_PROPS_LEN + 1);
        if (!props) { free(items); return RMQ_ENOMEM; }
    }
    rmq_seg_t *seg = NULL;
    pthread_mutex_lock(&s->put_lock);
    if ((rc = check_writable(s)) != 0) goto out;
    int64_t now = rmq_now_ms();
    rmq_rec_t r;
    fill_rec(s, &m, &r, now);
    int64_t qoff = queue_offset_for(s, &r, &err);
    if (qoff < 0) { rc = err; goto out; }
    if ((rc = reserve(s, total, &seg)) != 0) goto out; /* the whole batch in one segment */
    int64_t phys = s->wrote;
    for (i = 0; i < n; i++) {
        size_t pl = (size_t)items[i].props_len;
        memcpy(props, items[i].props, pl);
        if (extra.len) {
            if (pl && props[pl - 1] != 2) props[pl++] = 2;
            memcpy(props + pl, extra.ptr, extra.len);
            pl += extra.len;
        }
        fill_rec(s, &m, &r, now);
        r.flag = items[i].flag;
        r.body = items[i].body;
        r.body_len = items[i].body_len;
        r.props = props;
        r.props_len = (int32_t)pl;
        int tran = r.sysflag & RMQ_SYSFLAG_TRAN_MASK;
        r.queue_offset = (tran == 0 || tran == RMQ_SYSFLAG_TRAN_COMMIT) ? qoff + (int64_t)i : 0;
        r.phys_offset = phys;
        int32_t len = rmq_rec_encode(seg->map + (phys - seg->base), &r);
        __atomic_store_n(&s->last_store_ts, now, __ATOMIC_RELEASE);
        __atomic_store_n(&s->wrote, phys + len, __ATOMIC_RELEASE);
        if ((rc = dispatch(s, &r, phys, 1, NULL, NULL)) != 0) break;
        result_of(s, &r, phys, &results[i]);
        phys += len;
        s->put_count++;
        s->put_bytes += len;
    }
    *n_out = i;
out:
    rmq_seg_release(seg);
    pthread_mutex_unlock(&s->put_lock);
    if (props != props_buf) free(props);
    free(items);
    if (rc) return rc;
    return wait_durable(s, results[n - 1].phys_offset + results[n - 1].size);
}

/* ---- reads ------------------------------------------------------------------------------ */

/* Borrow the record at phys: returns a pointer into the map (segment reference in *seg). */
static const uint8_t *record_at(rmq_store_t *s, int64_t phys, int32_t *size, rmq_seg_t **seg) {
    if (phys < 0 || phys >= __atomic_load_n(&s->wrote, __ATOMIC_ACQUIRE)) return NULL;
    rmq_seg_t *g = rmq_mq_find(&s->clog, phys);
    if (!g) return NULL;
    const uint8_t *p = g->map + (phys - g->base);
    int64_t avail = g->base + g->size - phys;
    int32_t total = avail >= 8 ? (int32_t)rmq_get32(p) : 0;
    if (avail < 8 || rmq_get32(p + 4) != RMQ_MAGIC_MESSAGE || total < 91 || total > avail) {
        rmq_seg_release(g);
        return NULL;
    }
    *size = total;
    *seg = g;
    return p;
}

int rmq_store_read_at(rmq_store_t *s, int64_t phys, void *out, size_t cap, int32_t *size) {
    rmq_seg_t *g;
    const uint8_t *p = record_at(s, phys, size, &g);
    if (!p) return RMQ_ENOTFOUND;
    int rc = 0;
    if ((size_t)*size > cap) rc = RMQ_EBUFSMALL;
    else memcpy(out, p, (size_t)*size);
    rmq_seg_release(g);
    return rc;
}

static int tag_match(const rmq_get_req_t *req, int64_t tags) {
    if (!req->tag_codes) return 1;
    for (size_t i = 0; i < req->n_tag_codes; i++)
        if ((int32_t)req->tag_codes[i] == (int32_t)tags) return 1;
    return 0;
}

int rmq_store_get(rmq_store_t *s, rmq_buf_t topic, int32_t qid, const rmq_get_req_t *req,
                  void *out, size_t out_cap, rmq_get_result_t *res) {
    if (!req || !res || (!out && out_cap)) return RMQ_EINVAL;
    memset(res, 0, sizeof *res);
    pthread_rwlock_rdlock(&s->cq_lock);
    rmq_cq_t *c = cq_lookup(s, topic.ptr, topic.len, qid);
    int64_t off = req->offset;
    __atomic_add_fetch(&s->get_count, 1, __ATOMIC_RELAXED);
    if (!c) {
        res->status = RMQ_GET_NO_MESSAGE_IN_QUEUE;
        res->next_begin_offset = 0;
        goto done;
    }
    int64_t min = __atomic_load_n(&c->min_off, __ATOMIC_ACQUIRE);
    int64_t max = __atomic_load_n(&c->max_off, __ATOMIC_ACQUIRE);
    res->min_offset = min;
    res->max_offset = max;
    if (max == 0) {
        res->status = RMQ_GET_NO_MESSAGE_IN_QUEUE;
        res->next_begin_offset = 0;
    } else if (off < min) {
        res->status = RMQ_GET_OFFSET_TOO_SMALL;
        res->next_begin_offset = min;
    } else if (off == max) {
        res->status = RMQ_GET_OFFSET_OVERFLOW_ONE;
        res->next_begin_offset = off;
    } else if (off > max) {
        res->status = RMQ_GET_OFFSET_OVERFLOW_BADLY;
        res->next_begin_offset = min == 0 ? min : max;
    } else {
        rmq_seg_t *cseg;
        int64_t n;
        const uint8_t *e = rmq_cq_span(c, off, &n, &cseg);
        if (!e) {
            res->status = RMQ_GET_OFFSET_FOUND_NULL;
            res->next_begin_offset = off + 1;
            goto done;
        }
        int64_t scan = 16000 / RMQ_CQ_UNIT;
        if ((int64_t)req->max_msgs * RMQ_CQ_UNIT > 16000) scan = req->max_msgs;
        if (n > scan) n = scan;
        size_t max_bytes = req->max_bytes > 0 ? (size_t)req->max_bytes : 256 * 1024;
        if (max_bytes > out_cap) max_bytes = out_cap;
        int64_t clog_min = rmq_mq_min_base(&s->clog);
        int status = RMQ_GET_NO_MATCHED_MESSAGE;
        int64_t i;
        for (i = 0; i < n; i++) {
            const uint8_t *p = e + i * RMQ_CQ_UNIT;
            int64_t phys = (int64_t)rmq_get64(p);
            int32_t size = (int32_t)rmq_get32(p + 8);
            int64_t tags = (int64_t)rmq_get64(p + 12);
            if (res->msg_count > 0 &&
                (res->msg_count >= req->max_msgs || res->bytes + (size_t)size > max_bytes))
                break;
            if (res->msg_count >= req->max_msgs) break;
            if (size <= 0 || size == 0x7FFFFFFF || phys < clog_min) continue;
            if (!tag_match(req, tags)) continue;
            rmq_seg_t *g;
            int32_t rsize;
            const uint8_t *rec = record_at(s, phys, &rsize, &g);
            if (!rec) {
                if (res->msg_count == 0) status = RMQ_GET_MESSAGE_WAS_REMOVING;
                continue;
            }
            if (res->bytes + (size_t)rsize > max_bytes) { /* first record larger than room */
                rmq_seg_release(g);
                break;
            }
            memcpy((uint8_t *)out + res->bytes, rec, (size_t)rsize);
            rmq_seg_release(g);
            res->bytes += (size_t)rsize;
            res->msg_count++;
            status = RMQ_GET_FOUND;
        }
        rmq_seg_release(cseg);
        res->status = status;
        res->next_begin_offset = off + i;
    }
done:
    pthread_rwlock_unlock(&s->cq_lock);
    return 0;
}

int64_t rmq_store_min_offset(rmq_store_t *s, rmq_buf_t t, int32_t qid) {
    rmq_cq_t *c = rmq_store_cq(s, t.ptr, t.len, qid, 0, NULL);
    return c ? __atomic_load_n(&c->min_off, __ATOMIC_ACQUIRE) : 0;
}

int64_t rmq_store_max_offset(rmq_store_t *s, rmq_buf_t t, int32_t qid) {
    rmq_cq_t *c = rmq_store_cq(s, t.ptr, t.len, qid, 0, NULL);
    return c ? __atomic_load_n(&c->max_off, __ATOMIC_ACQUIRE) : 0;
}

int64_t rmq_store_min_phys_offset(rmq_store_t *s) {
    int64_t b = rmq_mq_min_base(&s->clog);
    return b < 0 ? 0 : b;
}

int64_t rmq_store_max_phys_offset(rmq_store_t *s) {
    return __atomic_load_n(&s->wrote, __ATOMIC_ACQUIRE);
}

int64_t rmq_store_phys_of(rmq_store_t *s, rmq_buf_t t, int32_t qid, int64_t off) {
    int64_t phys, tags;
    int32_t size;
    rmq_cq_t *c = rmq_store_cq(s, t.ptr, t.len, qid, 0, NULL);
    if (!c || rmq_cq_get(c, off, &phys, &size, &tags) != 0 || size == 0x7FFFFFFF) return -1;
    return phys;
}

static int64_t store_time_of(rmq_store_t *s, int64_t phys) {
    rmq_seg_t *g;
    int32_t size;
    const uint8_t *p = record_at(s, phys, &size, &g);
    if (!p) return -1;
    int32_t sysflag = (int32_t)rmq_get32(p + 36);
    int64_t ts = (int64_t)rmq_get64(p + 56 + ((sysflag & RMQ_SYSFLAG_BORNHOST_V6) ? 12 : 0));
    rmq_seg_release(g);
    return ts;
}

int64_t rmq_store_store_time_at(rmq_store_t *s, rmq_buf_t t, int32_t qid, int64_t off) {
    int64_t phys = rmq_store_phys_of(s, t, qid, off);
    return phys < 0 ? -1 : store_time_of(s, phys);
}

int64_t rmq_store_offset_by_time(rmq_store_t *s, rmq_buf_t t, int32_t qid, int64_t ts) {
    rmq_cq_t *c = rmq_store_cq(s, t.ptr, t.len, qid, 0, NULL);
    if (!c) return 0;
    int64_t lo = __atomic_load_n(&c->min_off, __ATOMIC_ACQUIRE);
    int64_t hi = __atomic_load_n(&c->max_off, __ATOMIC_ACQUIRE);
    while (lo < hi) { /* first offset whose store time >= ts */
        int64_t mid = lo + (hi - lo) / 2;
        int64_t mt = rmq_store_store_time_at(s, t, qid, mid);
        if (mt >= 0 && mt < ts) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Does the record at p (topic t) carry key k as UNIQ_KEY or a KEYS entry? */
static int record_has_key(const uint8_t *p, size_t avail, rmq_buf_t t, rmq_buf_t k) {
    rmq_rec_t r;
    const uint8_t *v;
    size_t vl;
    if (rmq_rec_parse(p, avail, 0, &r) <= 0) return 0;
    if ((size_t)r.topic_len != t.len || memcmp(r.topic, t.ptr, t.len) != 0) return 0;
    if (rmq_props_get(r.props, (size_t)r.props_len, "UNIQ_KEY", &v, &vl) && vl == k.len &&
        memcmp(v, k.ptr, vl) == 0)
        return 1;
    if (rmq_props_get(r.props, (size_t)r.props_len, "KEYS", &v, &vl)) {
        size_t i = 0;
        while (i < vl) {
            while (i < vl && v[i] == ' ') i++;
            size_t j = i;
            while (j < vl && v[j] != ' ') j++;
            if (j - i == k.len && memcmp(v + i, k.ptr, k.len) == 0) return 1;
            i = j;
        }
    }
    return 0;
}

int rmq_store_query_key(rmq_store_t *s, rmq_buf_t t, rmq_buf_t k, int64_t begin, int64_t end,
                        int64_t *out, size_t max, size_t *n_out) {
    if (!n_out || (!out && max) || !t.ptr || !k.ptr) return RMQ_EINVAL;
    *n_out = 0;
    if (max == 0) return 0;
    size_t cap = max * 4 + 16, n, kept = 0;
    int64_t *cand = malloc(cap * sizeof *cand);
    if (!cand) return RMQ_ENOMEM;
    n = rmq_index_query(&s->index, t.ptr, t.len, k.ptr, k.len, begin, end, cand, cap);
    for (size_t i = 0; i < n && kept < max; i++) {
        int dup = 0;
        for (size_t j = 0; j < kept; j++) if (out[j] == cand[i]) { dup = 1; break; }
        if (dup) continue;
        rmq_seg_t *g;
        int32_t size;
        const uint8_t *p = record_at(s, cand[i], &size, &g);
        if (!p) continue;
        int ok = record_has_key(p, (size_t)size, t, k);
        rmq_seg_release(g);
        if (ok) out[kept++] = cand[i];
    }
    free(cand);
    *n_out = kept;
    return 0;
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
    o->get_count = __atomic_load_n(&s->get_count, __ATOMIC_RELAXED);
    o->min_phys_offset = rmq_store_min_phys_offset(s);
    o->max_phys_offset = rmq_store_max_phys_offset(s);
    pthread_mutex_lock(&s->flush_mu);
    o->flushed_phys_offset = s->flushed;
    o->flush_errors = s->flush_errors;
    o->write_error = s->write_error ? s->write_error : (s->disk_full ? RMQ_EDISKFULL : 0);
    o->checkpoint_physic_ts = s->cp.physic_ts;
    o->checkpoint_logics_ts = s->cp.logics_ts;
    o->checkpoint_index_ts = s->cp.index_ts;
    pthread_mutex_unlock(&s->flush_mu);
    o->commitlog_segments = rmq_mq_count(&s->clog);
    pthread_rwlock_rdlock(&s->cq_lock);
    o->consume_queues = (int64_t)s->cq_count;
    pthread_rwlock_unlock(&s->cq_lock);
    o->index_files = rmq_index_count(&s->index);
}
