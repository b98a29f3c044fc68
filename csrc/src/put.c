/* put.c - the append path: room in the commitlog (segment roll + BLANK), put, put_batch,
 * waiting for durability in SYNC_FLUSH. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmq/errors.h"
#include "rmq/record.h"
#include "store_int.h"

/* ---- append ------------------------------------------------------------------------- */

int rmq_store_new_segment(rmq_store_t *s, int64_t base, char *errpath, size_t errlen) {
    rmq_seg_t *ready = rmq_prealloc_take(&s->clog_next, base);
    int rc = ready ? rmq_mq_adopt(&s->clog, ready, errpath, errlen) : -1;
    if (rc > 0) rmq_prealloc_discard(ready); /* could not rename it into place: make one */
    if (rc) rc = rmq_mq_create(&s->clog, base, errpath, errlen);
    if (!rc) rmq_prealloc_request(&s->clog_next, base + s->cfg.mapped_file_size_commitlog);
    return rc;
}

/* Make room for len bytes in the last segment (rolling with a BLANK when needed) and return
 * the segment (with a reference) holding s->wrote. Caller holds put_lock. */
static int reserve(rmq_store_t *s, int64_t len, rmq_seg_t **out) {
    char errpath[RMQ_PATH_MAX + 64];
    int64_t seg_size = s->cfg.mapped_file_size_commitlog;
    if (len + RMQ_BLANK_LEN > seg_size) return RMQ_ETOOBIG;
    rmq_seg_t *seg = rmq_mq_last(&s->clog);
    int64_t wrote = s->wrote;
    if (seg && wrote >= seg->base && wrote + len + RMQ_BLANK_LEN <= seg->base + seg_size) {
        /* a segment found at open may not be reserved yet (the disk was full then) */
        int rc = rmq_seg_reserve(&s->clog, seg, errpath, sizeof errpath);
        if (rc) {
            rmq_seg_release(seg);
            rmq_store_set_error(s, errpath, rc);
            return rc;
        }
        rmq_store_want_populated(s, wrote + len);
        *out = seg;
        return 0;
    }
    int64_t base = seg ? seg->base + seg_size : wrote - wrote % seg_size;
    /* Create the next segment first: if that fails (disk full) nothing was written. */
    int rc = rmq_store_new_segment(s, base, errpath, sizeof errpath);
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
    rmq_store_want_populated(s, base + len);
    *out = rmq_mq_last(&s->clog);
    return *out ? 0 : RMQ_EINVAL;
}

/* Refuse writes after a flush failure or above the disk warning ratio; first dispatch any
 * record whose dispatch failed earlier (its queue offset must be taken before a new one is
 * assigned). Caller holds put_lock. */
static int check_writable(rmq_store_t *s) {
    if (s->reput < s->wrote) {
        int rc = rmq_store_reput(s);
        if (rc) return rc; /* last_error names the file */
    }
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

/* Assign the queue offset (NOT/COMMIT records only; others get 0) and say the queue in *cq
 * (NULL for the others). */
static int64_t queue_offset_for(rmq_store_t *s, rmq_rec_t *r, rmq_cq_t **cq, int *err) {
    int tran = r->sysflag & RMQ_SYSFLAG_TRAN_MASK;
    *cq = NULL;
    if (tran != 0 && tran != RMQ_SYSFLAG_TRAN_COMMIT) return 0;
    *cq = rmq_store_cq(s, r->topic, (size_t)r->topic_len, r->queue_id, 1, err);
    return *cq ? (*cq)->max_off : -1;
}

static void result_of(rmq_store_t *s, const rmq_rec_t *r, int64_t phys, rmq_put_result_t *res) {
    res->phys_offset = phys;
    res->size = r->total_size;
    res->queue_offset = r->queue_offset;
    res->store_timestamp = r->store_timestamp;
    rmq_offset_msg_id(res->msg_id, s->cfg.store_host, s->cfg.store_host_v6,
                      s->cfg.store_host_port, phys);
}

int rmq_store_wait_durable(rmq_store_t *s, int64_t end) {
    if (s->cfg.flush_disk_type != RMQ_FLUSH_SYNC) return 0;
    int rc = rmq_store_flush_clog(s, end, s->cfg.sync_flush_timeout_ms);
    if (rc == RMQ_ETIMEOUT)
        snprintf(s->last_error, sizeof s->last_error, "%s/commitlog: flush did not finish in %d ms",
                 s->root, s->cfg.sync_flush_timeout_ms);
    return rc;
}

int rmq_store_put(rmq_store_t *s, const rmq_msg_t *m, rmq_put_result_t *res) {
    int rc = rmq_store_append(s, m, res);
    return rc ? rc : rmq_store_wait_durable(s, res->phys_offset + res->size);
}

int rmq_store_append(rmq_store_t *s, const rmq_msg_t *m, rmq_put_result_t *res) {
    rmq_rec_t r;
    rmq_seg_t *seg = NULL;
    int rc = check_msg(s, m), err = 0;
    if (rc) return rc;
    pthread_mutex_lock(&s->put_lock);
    if ((rc = check_writable(s)) != 0) goto out;
    fill_rec(s, m, &r, rmq_now_ms());
    r.props = m->properties.ptr;
    r.props_len = (int32_t)m->properties.len;
    rmq_cq_t *cq;
    r.queue_offset = queue_offset_for(s, &r, &cq, &err);
    if (r.queue_offset < 0) { rc = err; goto out; }
    int64_t len = rmq_rec_len(m->body.len, m->topic.len, m->properties.len,
                              (r.sysflag & RMQ_SYSFLAG_BORNHOST_V6) != 0, s->cfg.store_host_v6);
    /* Every file the record will touch exists with its blocks reserved before a byte is
     * written: a full disk refuses the put here, never a SIGBUS inside a mapping. */
    if ((rc = rmq_store_prepare_dispatch(s, &r, 1, rmq_store_index_keys(&r))) != 0) goto out;
    if ((rc = reserve(s, len, &seg)) != 0) goto out;
    int64_t phys = s->wrote;
    r.phys_offset = phys;
    rmq_rec_encode(seg->map + (phys - seg->base), &r);
    rmq_seg_release(seg);
    __atomic_store_n(&s->last_store_ts, r.store_timestamp, __ATOMIC_RELEASE);
    __atomic_store_n(&s->wrote, phys + len, __ATOMIC_RELEASE);
    /* The record is stored: a failed dispatch leaves s->reput at it, to be retried before
     * the next put (which is refused until then) and by the flusher; recovery would rebuild
     * it too. The put itself succeeded. */
    if (rmq_store_dispatch_rec(s, &r, phys, 1, cq, NULL, NULL) == 0) s->reput = phys + len;
    else s->dispatch_errors++;
    s->put_count++;
    s->put_bytes += len;
    result_of(s, &r, phys, res);
out:
    pthread_mutex_unlock(&s->put_lock);
    return rc;
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
    int rc = rmq_store_append_batch(s, tmpl, batch, extra, results, max_results, n_out);
    if (rc || !*n_out) return rc;
    return rmq_store_wait_durable(s, results[*n_out - 1].phys_offset +
                                     results[*n_out - 1].size);
}

int rmq_store_append_batch(rmq_store_t *s, const rmq_msg_t *tmpl, rmq_buf_t batch,
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
    int64_t total = 0, index_keys = 0;
    rmq_rec_t kr;  /* only sysflag and props: what rmq_store_index_keys reads */
    memset(&kr, 0, sizeof kr);
    kr.sysflag = tmpl->sysflag;
    kr.props = extra.ptr;
    kr.props_len = (int32_t)extra.len;
    int64_t extra_keys = extra.len ? rmq_store_index_keys(&kr) : 0;
    for (i = 0; i < n; i++) {
        kr.props = items[i].props;
        kr.props_len = items[i].props_len;
        index_keys += rmq_store_index_keys(&kr) + extra_keys; /* an upper bound */
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
    rmq_cq_t *cq;
    int64_t qoff = queue_offset_for(s, &r, &cq, &err);
    if (qoff < 0) { rc = err; goto out; }
    r.queue_offset = qoff;
    if ((rc = rmq_store_prepare_dispatch(s, &r, (int64_t)n, index_keys)) != 0) goto out;
    if ((rc = reserve(s, total, &seg)) != 0) goto out; /* the whole batch in one segment */
    int64_t phys = s->wrote;
    int dispatching = 1;
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
        if (dispatching && rmq_store_dispatch_rec(s, &r, phys, 1, cq, NULL, NULL) == 0) {
            s->reput = phys + len;
        } else if (dispatching) { /* stored; retried later (see rmq_store_put) */
            dispatching = 0;
            s->dispatch_errors++;
        }
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
    return rc;
}

