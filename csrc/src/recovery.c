/* recovery.c - open-time recovery: find where to scan from, validate records (magic, size,
 * CRC), truncate the torn tail and every queue/index entry beyond it, and re-dispatch what the
 * consume queues and the index lack. Fills the report and logs nothing itself (the caller
 * logs the report). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rmq/errors.h"
#include "rmq/record.h"
#include "store_int.h"

static double now_ms_f(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Index (into the segment list) of the segment to validate from. */
static int scan_start_index(rmq_store_t *s, int clean) {
    int n = s->clog.n;
    if (clean) return n > 3 ? n - 3 : 0;
    int64_t min_ts = s->cp.physic_ts < s->cp.logics_ts ? s->cp.physic_ts : s->cp.logics_ts;
    min_ts -= 3000;
    if (min_ts <= 0) return 0;
    for (int i = n - 1; i >= 0; i--) {
        rmq_rec_t r;
        rmq_seg_t *g = s->clog.segs[i];
        if (rmq_rec_parse(g->map, (size_t)g->size, 0, &r) > 0 && r.store_timestamp <= min_ts)
            return i;
    }
    return 0;
}

/* Records in the bytes about to be dropped from end on: walked by their TOTALSIZE while the
 * header looks like a record (magic, a size that fits), whatever their CRC, across BLANKs. A
 * torn record counts; garbage ends the walk. */
static int64_t count_records_from(rmq_store_t *s, int64_t end) {
    int64_t n = 0;
    for (int i = 0; i < s->clog.n; i++) {
        rmq_seg_t *g = s->clog.segs[i];
        if (g->base + g->size <= end) continue;
        int64_t off = end > g->base ? end - g->base : 0;
        while (off + 8 <= g->size) {
            const uint8_t *p = g->map + off;
            uint32_t magic = rmq_get32(p + 4);
            int64_t total = (int32_t)rmq_get32(p);
            if (magic == RMQ_MAGIC_BLANK) break;
            if (magic != RMQ_MAGIC_MESSAGE || total < 91) break;
            n++;
            if (total > g->size - off) break; /* cut by the end of the segment */
            off += total;
        }
    }
    return n;
}

int rmq_store_recover(rmq_store_t *s, int clean, rmq_recovery_report_t *rep) {
    double t0 = now_ms_f();
    int n = s->clog.n;
    int64_t end = 0, last_ts = 0;
    rep->clean_shutdown = clean;
    rep->truncated_at = -1;
    int64_t clog_min = n ? s->clog.segs[0]->base : 0;

    /* Where re-dispatch must start: consume queues resume after the furthest record any of
     * them covers (none at all: the whole log, RocketMQ's reput rule); the index after its
     * newest file's end (no index files: the whole log). */
    int64_t cq_from = -1;
    for (size_t b = 0; b < s->cq_nbuckets; b++)
        for (rmq_cq_t *c = s->cq_buckets[b]; c; c = c->next)
            if (c->max_phys_end > cq_from) cq_from = c->max_phys_end;
    if (cq_from < 0) cq_from = clog_min;
    int64_t idx_from = s->cfg.message_index_enable ? rmq_index_resume_from(&s->index) : INT64_MAX;

    if (n > 0) {
        int start = scan_start_index(s, clean);
        int64_t validate_from = s->clog.segs[start]->base;
        int64_t from = validate_from;
        if (cq_from < from) from = cq_from;
        if (idx_from < from) from = idx_from;
        if (from < clog_min) from = clog_min;
        rep->scan_from = from;
        int i = 0;
        while (i < n && s->clog.segs[i]->base + s->clog.segs[i]->size <= from) i++;
        end = i < n ? from : s->clog.segs[n - 1]->base + s->clog.segs[n - 1]->size;
        int stop = 0;
        for (; i < n && !stop; i++) {
            rmq_seg_t *g = s->clog.segs[i];
            int64_t off = end - g->base;
            if (off < 0) { end = g->base; off = 0; } /* gap: cannot happen with our naming */
            while (off < g->size) {
                rmq_rec_t r;
                const uint8_t *p = g->map + off;
                int rc = rmq_rec_parse(p, (size_t)(g->size - off),
                                       s->cfg.check_crc_on_recover, &r);
                if (rc > 0 && r.phys_offset != g->base + off) rc = RMQ_ECORRUPT;
                if (rc > 0) {
                    rep->records_scanned++;
                    int64_t phys = g->base + off;
                    int d = rmq_store_dispatch(s, p, phys, 1, idx_from, &rep->cq_entries_rebuilt,
                                               &rep->index_entries_rebuilt);
                    if (d) return d;
                    last_ts = r.store_timestamp;
                    off += rc;
                    end = g->base + off;
                    continue;
                }
                if (rc == 0 && g->size - off >= 8 && rmq_get32(p + 4) == RMQ_MAGIC_BLANK) {
                    /* end of this segment; the next one continues the log */
                    end = g->base + g->size;
                    break;
                }
                stop = 1; /* zeros (end of data) or a torn / corrupt record */
                break;
            }
            if (!stop && i == n - 1 && end == g->base + g->size) break;
        }
        /* Drop the tail: the rest of the last valid segment and any later segment. */
        int64_t old_end = end;
        rmq_seg_t *holder = rmq_mq_find(&s->clog, end);
        char holder_path[RMQ_PATH_MAX];
        holder_path[0] = 0;
        if (holder) {
            snprintf(holder_path, sizeof holder_path, "%s", holder->path);
            rmq_seg_release(holder);
        }
        rep->records_truncated = count_records_from(s, end);
        rmq_mq_truncate(&s->clog, end, &old_end);
        if (old_end > end) {
            rep->truncated_at = end;
            rep->bytes_truncated = old_end - end;
            snprintf(rep->truncated_segment, sizeof rep->truncated_segment, "%s",
                     holder_path[0] ? holder_path : s->clog.dir);
        }
    }
    __atomic_store_n(&s->wrote, end, __ATOMIC_RELEASE);
    s->reput = end;
    s->flushed = end;
    s->last_store_ts = last_ts;
    rep->max_phys_offset = end;

    /* Consume-queue entries pointing past the end go; minimums follow the log's start. */
    for (size_t b = 0; b < s->cq_nbuckets; b++)
        for (rmq_cq_t *c = s->cq_buckets[b]; c; c = c->next) {
            rep->cq_entries_truncated += rmq_cq_truncate_phys(c, end);
            rmq_cq_correct_min(c, clog_min);
        }
    /* a garbled header hides the records behind it from the walk; the queues knew them */
    if (rep->cq_entries_truncated > rep->records_truncated)
        rep->records_truncated = rep->cq_entries_truncated;
    rep->index_entries_truncated = rmq_index_truncate(&s->index, end);
    if (last_ts > 0) {
        s->cp.physic_ts = last_ts;
        s->cp.logics_ts = last_ts;
    }
    rmq_checkpoint_write(&s->cp, 1);
    rep->elapsed_ms = now_ms_f() - t0;
    return 0;
}
