/* get.c - the read path: pulls from a consume queue, records by commitlog offset, offset and
 * time lookups, key queries through the index. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmq/errors.h"
#include "rmq/record.h"
#include "store_int.h"

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
    rmq_cq_t *c = rmq_store_cq_lookup(s, topic.ptr, topic.len, qid);
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
        const uint8_t *key;
        size_t pos = 0, kl;
        while (rmq_keys_next(v, vl, &pos, &key, &kl))
            if (kl == k.len && memcmp(key, k.ptr, kl) == 0) return 1;
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

