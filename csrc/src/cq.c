/* cq.c - ConsumeQueue files (see rmq/cq.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmq/cq.h"
#include "rmq/errors.h"
#include "rmq/record.h"

#define PRE_BLANK_SIZE 0x7FFFFFFF

static int entry_valid(const uint8_t *p) {
    return (int64_t)rmq_get64(p) >= 0 && (int32_t)rmq_get32(p + 8) > 0;
}

static int entry_real(const uint8_t *p) {
    return entry_valid(p) && (int32_t)rmq_get32(p + 8) != PRE_BLANK_SIZE;
}

int rmq_cq_open(rmq_cq_t *cq, const char *root, const char *topic, size_t topic_len,
                int32_t queue_id, int32_t entries_per_file, char *errpath, size_t errlen) {
    char dir[RMQ_PATH_MAX];
    memset(cq, 0, sizeof *cq);
    cq->topic = malloc(topic_len + 1);
    if (!cq->topic) return RMQ_ENOMEM;
    memcpy(cq->topic, topic, topic_len);
    cq->topic[topic_len] = 0;
    cq->topic_len = topic_len;
    cq->queue_id = queue_id;
    snprintf(dir, sizeof dir, "%s/consumequeue/%s/%d", root, cq->topic, queue_id);
    /* a queue file's blocks are reserved before an entry is stored into it; its pages are
     * faulted one at a time (a broker may have thousands of queues: BenchmarkTest has 1,024) */
    int rc = rmq_mq_open(&cq->mq, dir, (int64_t)entries_per_file * RMQ_CQ_UNIT,
                         RMQ_MQ_PREALLOCATE | RMQ_MQ_RANDOM, errpath, errlen);
    if (rc) { free(cq->topic); return rc; }
    /* Find the end: the last valid entry of the last non-empty file. */
    for (int i = cq->mq.n - 1; i >= 0; i--) {
        rmq_seg_t *s = cq->mq.segs[i];
        int64_t n = s->size / RMQ_CQ_UNIT, k;
        for (k = 0; k < n && entry_valid(s->map + k * RMQ_CQ_UNIT); k++) {}
        if (k > 0 || i == 0) {
            cq->max_off = (s->base / RMQ_CQ_UNIT) + k;
            if (k > 0) {
                const uint8_t *e = s->map + (k - 1) * RMQ_CQ_UNIT;
                cq->max_phys_end = (int64_t)rmq_get64(e) + (int32_t)rmq_get32(e + 8);
            }
            break;
        }
    }
    if (cq->mq.n > 0) {
        /* min: first real entry of the first file */
        rmq_seg_t *s = cq->mq.segs[0];
        int64_t n = s->size / RMQ_CQ_UNIT, k;
        for (k = 0; k < n && entry_valid(s->map + k * RMQ_CQ_UNIT) &&
                    !entry_real(s->map + k * RMQ_CQ_UNIT); k++) {}
        cq->min_off = s->base / RMQ_CQ_UNIT + k;
        if (cq->min_off > cq->max_off) cq->min_off = cq->max_off;
    }
    cq->flushed = cq->max_off * RMQ_CQ_UNIT;
    cq->populate_seen = cq->flushed;
    return 0;
}

void rmq_cq_close(rmq_cq_t *cq) {
    rmq_mq_close(&cq->mq);
    free(cq->topic);
    cq->topic = NULL;
}

static int write_entry(rmq_cq_t *cq, int64_t off, int64_t phys, int32_t size, int64_t tags,
                       char *errpath, size_t errlen) {
    int64_t pos = off * RMQ_CQ_UNIT;
    rmq_seg_t *s = rmq_mq_find(&cq->mq, pos);
    if (!s) {
        int rc = rmq_mq_create(&cq->mq, pos - pos % cq->mq.seg_size, errpath, errlen);
        if (rc) return rc;
        s = rmq_mq_find(&cq->mq, pos);
        if (!s) return RMQ_EINVAL; /* a gap of missing files before pos */
    }
    int rc = rmq_seg_reserve(&cq->mq, s, errpath, errlen);
    if (rc) { rmq_seg_release(s); return rc; }
    uint8_t *p = s->map + (pos - s->base);
    rmq_put64(p, (uint64_t)phys);
    rmq_put32(p + 8, (uint32_t)size);
    rmq_put64(p + 12, (uint64_t)tags);
    rmq_seg_release(s);
    return 0;
}

int rmq_cq_put(rmq_cq_t *cq, int64_t off, int64_t phys, int32_t size, int64_t tags,
               char *errpath, size_t errlen) {
    int rc;
    if (off < cq->max_off) return 0;
    if (off > cq->max_off) {
        if (cq->max_off == 0 && cq->mq.n == 0) {
            /* first file starts at a non-zero logical offset: fill its head (fillPreBlank) */
            int64_t epf = cq->mq.seg_size / RMQ_CQ_UNIT;
            int64_t start = off - off % epf;
            for (int64_t i = start; i < off; i++) {
                if ((rc = write_entry(cq, i, 0, PRE_BLANK_SIZE, 0, errpath, errlen)) != 0)
                    return rc;
            }
            cq->min_off = off;
        } else {
            for (int64_t i = cq->max_off; i < off; i++) { /* hole: keep entries contiguous */
                if ((rc = write_entry(cq, i, 0, PRE_BLANK_SIZE, 0, errpath, errlen)) != 0)
                    return rc;
            }
        }
    }
    if ((rc = write_entry(cq, off, phys, size, tags, errpath, errlen)) != 0) return rc;
    cq->max_phys_end = phys + size;
    __atomic_store_n(&cq->max_off, off + 1, __ATOMIC_RELEASE);
    return 0;
}

int rmq_cq_reserve(rmq_cq_t *cq, int64_t off_end, char *errpath, size_t errlen) {
    int64_t need = off_end * RMQ_CQ_UNIT, seg = cq->mq.seg_size;
    int rc = 0;
    rmq_seg_t *last = rmq_mq_last(&cq->mq);
    int64_t next;
    if (last) {
        rc = rmq_seg_reserve(&cq->mq, last, errpath, errlen);
        next = last->base + last->size;
        rmq_seg_release(last);
    } else { /* the first file holds the next entry (after a pre-blank head if not at 0) */
        int64_t pos = cq->max_off * RMQ_CQ_UNIT;
        next = pos - pos % seg;
    }
    for (; !rc && next < need; next += seg) rc = rmq_mq_create(&cq->mq, next, errpath, errlen);
    return rc;
}

int rmq_cq_get(rmq_cq_t *cq, int64_t off, int64_t *phys, int32_t *size, int64_t *tags) {
    if (off < __atomic_load_n(&cq->min_off, __ATOMIC_ACQUIRE) ||
        off >= __atomic_load_n(&cq->max_off, __ATOMIC_ACQUIRE))
        return RMQ_ENOTFOUND;
    rmq_seg_t *s = rmq_mq_find(&cq->mq, off * RMQ_CQ_UNIT);
    if (!s) return RMQ_ENOTFOUND;
    const uint8_t *p = s->map + (off * RMQ_CQ_UNIT - s->base);
    *phys = (int64_t)rmq_get64(p);
    *size = (int32_t)rmq_get32(p + 8);
    *tags = (int64_t)rmq_get64(p + 12);
    rmq_seg_release(s);
    return 0;
}

const uint8_t *rmq_cq_span(rmq_cq_t *cq, int64_t off, int64_t *n, rmq_seg_t **seg) {
    int64_t max = __atomic_load_n(&cq->max_off, __ATOMIC_ACQUIRE);
    if (off >= max) return NULL;
    rmq_seg_t *s = rmq_mq_find(&cq->mq, off * RMQ_CQ_UNIT);
    if (!s) return NULL;
    int64_t file_end = (s->base + s->size) / RMQ_CQ_UNIT;
    *n = (max < file_end ? max : file_end) - off;
    *seg = s;
    return s->map + (off * RMQ_CQ_UNIT - s->base);
}

int64_t rmq_cq_truncate_phys(rmq_cq_t *cq, int64_t phys_end) {
    int64_t dropped = 0;
    while (cq->max_off > 0) {
        int64_t off = cq->max_off - 1, phys, tags;
        int32_t size;
        rmq_seg_t *s = rmq_mq_find(&cq->mq, off * RMQ_CQ_UNIT);
        if (!s) break;
        uint8_t *p = s->map + (off * RMQ_CQ_UNIT - s->base);
        phys = (int64_t)rmq_get64(p);
        size = (int32_t)rmq_get32(p + 8);
        tags = (int64_t)rmq_get64(p + 12);
        (void)tags;
        if (size != PRE_BLANK_SIZE && phys + size <= phys_end) {
            cq->max_phys_end = phys + size;
            rmq_seg_release(s);
            break;
        }
        memset(p, 0, RMQ_CQ_UNIT);
        rmq_seg_release(s);
        cq->max_off = off;
        dropped++;
    }
    if (cq->max_off == 0) cq->max_phys_end = 0;
    if (cq->min_off > cq->max_off) cq->min_off = cq->max_off;
    if (cq->flushed > cq->max_off * RMQ_CQ_UNIT) cq->flushed = cq->max_off * RMQ_CQ_UNIT;
    /* Drop now-empty trailing files so later writes recreate them cleanly. */
    rmq_mq_truncate(&cq->mq, cq->max_off * RMQ_CQ_UNIT, NULL);
    return dropped;
}

void rmq_cq_correct_min(rmq_cq_t *cq, int64_t clog_min) {
    int64_t off = cq->min_off, max = cq->max_off, phys, tags;
    int32_t size;
    if (off < 0) off = 0;
    int64_t first = rmq_mq_min_base(&cq->mq);
    if (first >= 0 && off < first / RMQ_CQ_UNIT) off = first / RMQ_CQ_UNIT;
    while (off < max) {
        rmq_seg_t *s = rmq_mq_find(&cq->mq, off * RMQ_CQ_UNIT);
        if (!s) break;
        const uint8_t *p = s->map + (off * RMQ_CQ_UNIT - s->base);
        phys = (int64_t)rmq_get64(p);
        size = (int32_t)rmq_get32(p + 8);
        tags = (int64_t)rmq_get64(p + 12);
        (void)tags;
        rmq_seg_release(s);
        if (size != PRE_BLANK_SIZE && size > 0 && phys >= clog_min) break;
        off++;
    }
    __atomic_store_n(&cq->min_off, off, __ATOMIC_RELEASE);
}

int rmq_cq_delete_below(rmq_cq_t *cq, int64_t clog_min) {
    int deleted = 0;
    while (rmq_mq_count(&cq->mq) > 1) {
        rmq_seg_t *s = rmq_mq_first(&cq->mq);
        const uint8_t *last = s->map + s->size - RMQ_CQ_UNIT;
        int64_t phys = (int64_t)rmq_get64(last);
        int32_t size = (int32_t)rmq_get32(last + 8);
        rmq_seg_release(s);
        if (size > 0 && size != PRE_BLANK_SIZE && phys + size > clog_min) break;
        if (size == PRE_BLANK_SIZE || size <= 0) {
            /* a file that is all pre-blank can go only if a later file exists (checked) */
        }
        rmq_mq_delete_first(&cq->mq);
        deleted++;
    }
    rmq_cq_correct_min(cq, clog_min);
    return deleted;
}

int rmq_cq_flush(rmq_cq_t *cq) {
    int64_t end = __atomic_load_n(&cq->max_off, __ATOMIC_ACQUIRE) * RMQ_CQ_UNIT;
    if (end <= cq->flushed) return 0;
    int rc = rmq_mq_sync(&cq->mq, cq->flushed, end);
    if (!rc) cq->flushed = end;
    return rc;
}

void rmq_cq_populate_ahead(rmq_cq_t *cq) {
    int64_t pos = __atomic_load_n(&cq->max_off, __ATOMIC_ACQUIRE) * RMQ_CQ_UNIT;
    int64_t ahead = rmq_ahead_window(pos - cq->populate_seen, 64 << 10, 4 << 20);
    cq->populate_seen = pos;
    cq->populated = rmq_mq_populate_ahead(&cq->mq, pos, cq->populated, ahead);
}
