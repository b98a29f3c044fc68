/* replica.c - raw commitlog transfer for master/slave replication: the master reads raw byte
 * ranges, the slave appends them verbatim and dispatches the records they complete. */
#include <stdio.h>
#include <string.h>

#include "rmq/errors.h"
#include "rmq/record.h"
#include "store_int.h"

int rmq_store_read_raw(rmq_store_t *s, int64_t phys, void *out, size_t cap, size_t *n_out) {
    int64_t end = __atomic_load_n(&s->wrote, __ATOMIC_ACQUIRE);
    *n_out = 0;
    if (phys == end) return 0;
    rmq_seg_t *g = rmq_mq_find(&s->clog, phys);
    if (!g || phys > end) {
        rmq_seg_release(g);
        return RMQ_ERANGE;
    }
    int64_t stop = g->base + g->size < end ? g->base + g->size : end;
    size_t n = (size_t)(stop - phys) < cap ? (size_t)(stop - phys) : cap;
    memcpy(out, g->map + (phys - g->base), n);
    rmq_seg_release(g);
    *n_out = n;
    return 0;
}

int rmq_store_append_raw(rmq_store_t *s, int64_t phys, rmq_buf_t data) {
    char errpath[RMQ_PATH_MAX];
    const uint8_t *src = data.ptr;
    size_t left = data.len;
    int64_t seg_size = s->cfg.mapped_file_size_commitlog;
    int rc = 0;
    if (!src && left) return RMQ_EINVAL;
    pthread_mutex_lock(&s->put_lock);
    int empty = rmq_mq_count(&s->clog) == 0;
    if (phys != s->wrote && !(empty && phys % seg_size == 0)) {
        rc = RMQ_ERANGE;
        goto out;
    }
    if (empty) {
        __atomic_store_n(&s->wrote, phys, __ATOMIC_RELEASE);
        s->reput = phys;
        s->flushed = phys;
    }
    while (left > 0) {
        int64_t pos = s->wrote;
        rmq_seg_t *g = rmq_mq_find(&s->clog, pos);
        if (!g) {
            if ((rc = rmq_store_new_segment(s, pos - pos % seg_size, errpath, sizeof errpath))) {
                rmq_store_set_error(s, errpath, rc);
                goto out;
            }
            g = rmq_mq_find(&s->clog, pos);
            if (!g) { rc = RMQ_EINVAL; goto out; }
        }
        size_t room = (size_t)(g->base + g->size - pos);
        size_t n = left < room ? left : room;
        memcpy(g->map + (pos - g->base), src, n);
        rmq_seg_release(g);
        src += n;
        left -= n;
        __atomic_store_n(&s->wrote, pos + (int64_t)n, __ATOMIC_RELEASE);
    }
    rc = rmq_store_reput(s);
out:
    pthread_mutex_unlock(&s->put_lock);
    return rc;
}
