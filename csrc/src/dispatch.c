/* dispatch.c - the consume-queue table (lookup / create / load at open) and dispatch of a
 * stored record to its consume queue and the index (put path, recovery and replication). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmq/errors.h"
#include "rmq/record.h"
#include "store_int.h"

#define SCHEDULE_TOPIC "SCHEDULE_TOPIC_XXXX"

/* ---- consume queue table ---------------------------------------------------------------- */

static size_t cq_hash(const uint8_t *t, size_t n, int32_t qid) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ t[i]) * 1099511628211ULL;
    h = (h ^ (uint32_t)qid) * 1099511628211ULL;
    return (size_t)(h % RMQ_CQ_BUCKETS);
}

rmq_cq_t *rmq_store_cq_lookup(rmq_store_t *s, const uint8_t *t, size_t n, int32_t qid) {
    for (rmq_cq_t *c = s->cq_buckets[cq_hash(t, n, qid)]; c; c = c->next)
        if (c->queue_id == qid && c->topic_len == n && memcmp(c->topic, t, n) == 0) return c;
    return NULL;
}

/* A topic becomes a directory name: only RocketMQ's topic characters [%|a-zA-Z0-9_-], 1..127
 * bytes, so no name can reach outside consumequeue/ (the broker validates first; this is the
 * store's own last line). */
static int topic_is_safe(const uint8_t *t, size_t n) {
    if (n == 0 || n > 127) return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '%' || c == '|' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

rmq_cq_t *rmq_store_cq(rmq_store_t *s, const uint8_t *t, size_t n, int32_t qid, int create,
                       int *err) {
    pthread_rwlock_rdlock(&s->cq_lock);
    rmq_cq_t *c = rmq_store_cq_lookup(s, t, n, qid);
    pthread_rwlock_unlock(&s->cq_lock);
    if (c || !create) return c;
    if (!topic_is_safe(t, n) || qid < 0) {
        rmq_store_set_error(s, "topic name not allowed as a queue directory", RMQ_EINVAL);
        *err = RMQ_EINVAL;
        return NULL;
    }
    pthread_rwlock_wrlock(&s->cq_lock);
    c = rmq_store_cq_lookup(s, t, n, qid);
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

int rmq_store_load_cqs(rmq_store_t *s) {
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

static int64_t tags_code_of(rmq_store_t *s, const rmq_rec_t *r, const rmq_props_known_t *pk) {
    const uint8_t *v = pk->val[RMQ_PROP_DELAY];
    size_t vl = pk->len[RMQ_PROP_DELAY];
    if (v && r->topic_len == (int32_t)strlen(SCHEDULE_TOPIC) &&
        memcmp(r->topic, SCHEDULE_TOPIC, (size_t)r->topic_len) == 0) {
        long level = 0;
        for (size_t i = 0; i < vl && i < 9 && v[i] >= '0' && v[i] <= '9'; i++)
            level = level * 10 + (v[i] - '0');
        if (level > s->cfg.n_delay_levels) level = s->cfg.n_delay_levels;
        if (level > 0) return r->store_timestamp + s->cfg.delay_level_ms[level - 1];
    }
    if (pk->val[RMQ_PROP_TAGS] && pk->len[RMQ_PROP_TAGS] > 0)
        return rmq_java_hash(pk->val[RMQ_PROP_TAGS], pk->len[RMQ_PROP_TAGS]);
    return 0;
}

#ifdef RMQ_FAULT_INJECTION
int rmq_fault_dispatch_errno = 0;
#endif

int64_t rmq_store_index_keys(const rmq_rec_t *r) {
    const uint8_t *k;
    size_t pos = 0, kl;
    int64_t n = 0;
    rmq_props_known_t pk;
    if ((r->sysflag & RMQ_SYSFLAG_TRAN_MASK) == RMQ_SYSFLAG_TRAN_ROLLBACK) return 0;
    rmq_props_known(r->props, (size_t)r->props_len, &pk);
    if (pk.val[RMQ_PROP_UNIQ_KEY] && pk.len[RMQ_PROP_UNIQ_KEY] > 0) n++;
    if (pk.val[RMQ_PROP_KEYS])
        while (rmq_keys_next(pk.val[RMQ_PROP_KEYS], pk.len[RMQ_PROP_KEYS], &pos, &k, &kl)) n++;
    return n;
}

int rmq_store_prepare_dispatch(rmq_store_t *s, const rmq_rec_t *r, int64_t n_records,
                               int64_t index_keys) {
    char errpath[RMQ_PATH_MAX + 64];
    int tran = r->sysflag & RMQ_SYSFLAG_TRAN_MASK, rc = 0;
    if (tran == 0 || tran == RMQ_SYSFLAG_TRAN_COMMIT) {
        int err = 0;
        rmq_cq_t *c = rmq_store_cq(s, r->topic, (size_t)r->topic_len, r->queue_id, 1, &err);
        if (!c) return err;
        rc = rmq_cq_reserve(c, r->queue_offset + n_records, errpath, sizeof errpath);
    }
    if (!rc && s->cfg.message_index_enable)
        rc = rmq_index_reserve(&s->index, index_keys, errpath, sizeof errpath);
    if (rc) rmq_store_set_error(s, errpath, rc);
    return rc;
}

int rmq_store_reput(rmq_store_t *s) {
    int64_t end = s->wrote;
    while (s->reput < end) {
        rmq_seg_t *g = rmq_mq_find(&s->clog, s->reput);
        if (!g) return RMQ_ERANGE;
        int64_t seg_end = g->base + g->size;
        int64_t avail = (end < seg_end ? end : seg_end) - s->reput;
        const uint8_t *p = g->map + (s->reput - g->base);
        if (avail >= 8 && rmq_get32(p + 4) == RMQ_MAGIC_BLANK) {
            rmq_seg_release(g);
            s->reput = seg_end; /* the rest of this segment is padding */
            continue;
        }
        if (avail < 8 || (int64_t)rmq_get32(p) > avail) {
            rmq_seg_release(g);
            return 0; /* the record's end has not arrived yet (replication) */
        }
        rmq_rec_t r;
        int rc = rmq_rec_parse(p, (size_t)avail, s->cfg.check_crc_on_recover, &r);
        if (rc <= 0 || r.phys_offset != s->reput) {
            rmq_seg_release(g);
            snprintf(s->last_error, sizeof s->last_error,
                     "%s/commitlog: record at %lld failed validation", s->root,
                     (long long)s->reput);
            return RMQ_ECORRUPT;
        }
        rc = rmq_store_dispatch_rec(s, &r, s->reput, 1, NULL, NULL, NULL);
        rmq_seg_release(g);
        if (rc) return rc;
        __atomic_store_n(&s->last_store_ts, r.store_timestamp, __ATOMIC_RELEASE);
        s->reput += r.total_size;
    }
    return 0;
}

static int index_record(rmq_store_t *s, const rmq_rec_t *r, const rmq_props_known_t *pk,
                        int64_t phys, int64_t *written) {
    const uint8_t *v = pk->val[RMQ_PROP_UNIQ_KEY];
    size_t vl = pk->len[RMQ_PROP_UNIQ_KEY];
    char errpath[RMQ_PATH_MAX];
    int rc;
    if ((r->sysflag & RMQ_SYSFLAG_TRAN_MASK) == RMQ_SYSFLAG_TRAN_ROLLBACK) return 0;
    if (v && vl > 0) {
        rc = rmq_index_put(&s->index, r->topic, (size_t)r->topic_len, v, vl, phys,
                           r->store_timestamp, errpath, sizeof errpath);
        if (rc) { rmq_store_set_error(s, errpath, rc); return rc; }
        if (written) (*written)++;
    }
    if ((v = pk->val[RMQ_PROP_KEYS]) != NULL) {
        const uint8_t *k;
        size_t pos = 0, kl;
        vl = pk->len[RMQ_PROP_KEYS];
        while (rmq_keys_next(v, vl, &pos, &k, &kl)) {
            rc = rmq_index_put(&s->index, r->topic, (size_t)r->topic_len, k, kl, phys,
                               r->store_timestamp, errpath, sizeof errpath);
            if (rc) { rmq_store_set_error(s, errpath, rc); return rc; }
            if (written) (*written)++;
        }
    }
    return 0;
}

int rmq_store_dispatch_rec(rmq_store_t *s, const rmq_rec_t *r, int64_t phys, int do_index,
                           rmq_cq_t *cq, int64_t *cq_written, int64_t *idx_written) {
    int tran = r->sysflag & RMQ_SYSFLAG_TRAN_MASK;
    int rc;
#ifdef RMQ_FAULT_INJECTION
    if (rmq_fault_dispatch_errno) {
        snprintf(s->last_error, sizeof s->last_error, "dispatch %lld: injected",
                 (long long)phys);
        return rmq_fault_dispatch_errno;
    }
#endif
    rmq_props_known_t pk;  /* one pass for the tags code and the index keys */
    rmq_props_known(r->props, (size_t)r->props_len, &pk);
    if (tran == 0 || tran == RMQ_SYSFLAG_TRAN_COMMIT) {
        int err = 0;
        rmq_cq_t *c = cq;
        if (!c && !(c = rmq_store_cq(s, r->topic, (size_t)r->topic_len, r->queue_id, 1, &err)))
            return err;
        int64_t before = c->max_off;
        char errpath[RMQ_PATH_MAX];
        rc = rmq_cq_put(c, r->queue_offset, phys, r->total_size, tags_code_of(s, r, &pk),
                        errpath, sizeof errpath);
        if (rc) { rmq_store_set_error(s, errpath, rc); return rc; }
        if (cq_written && c->max_off > before) (*cq_written)++;
    }
    if (do_index && s->cfg.message_index_enable)
        return index_record(s, r, &pk, phys, idx_written);
    return 0;
}

int rmq_store_dispatch(rmq_store_t *s, const uint8_t *bytes, int64_t phys, int rebuild,
                       int64_t index_from, int64_t *cq_written, int64_t *idx_written) {
    rmq_rec_t r;
    int rc = rmq_rec_parse(bytes, (size_t)INT32_MAX, 0, &r);
    if (rc <= 0) return rc ? rc : RMQ_ECORRUPT;
    (void)rebuild;
    return rmq_store_dispatch_rec(s, &r, phys, phys >= index_from, NULL, cq_written,
                                  idx_written);
}
