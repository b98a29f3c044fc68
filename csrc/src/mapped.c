/* mapped.c - memory-mapped segment queue (see rmq/mapped.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rmq/errors.h"
#include "rmq/mapped.h"

#ifdef RMQ_FAULT_INJECTION
int rmq_fault_create_errno = 0;
int rmq_fault_reserve_errno = 0;
int rmq_fault_no_fallocate = 0;
#endif

static long page_size(void) {
    static long ps = 0;
    if (!ps) ps = sysconf(_SC_PAGESIZE);
    return ps;
}

int rmq_mkdirs(const char *path) {
    char tmp[RMQ_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof tmp) return ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return errno;
            tmp[i] = c;
        }
    }
    return 0;
}

/* Fallback reservation: extend to size, then write zeros into every hole. */
static int fill_holes(int fd, int64_t size) {
    static const uint8_t zeros[65536];
    struct stat st;
    if (fstat(fd, &st) != 0) return errno;
    if (st.st_size < size && ftruncate(fd, (off_t)size) != 0) return errno;
    off_t pos = 0;
    while (pos < (off_t)size) {
        off_t hole = lseek(fd, pos, SEEK_HOLE);
        if (hole < 0 || hole >= (off_t)size) break;
        off_t data = lseek(fd, hole, SEEK_DATA);
        if (data < 0 || data > (off_t)size) data = (off_t)size; /* ENXIO: a hole to the end */
        for (off_t p = hole; p < data;) {
            size_t n = (size_t)(data - p) < sizeof zeros ? (size_t)(data - p) : sizeof zeros;
            ssize_t w = pwrite(fd, zeros, n, p);
            if (w < 0) {
                if (errno == EINTR) continue;
                return errno;
            }
            p += w;
        }
        pos = data;
    }
    return 0;
}

int rmq_file_reserve(int fd, int64_t size) {
#ifdef RMQ_FAULT_INJECTION
    if (rmq_fault_reserve_errno) return rmq_fault_reserve_errno;
#endif
    int rc;
#ifdef RMQ_FAULT_INJECTION
    if (rmq_fault_no_fallocate) return fill_holes(fd, size);
#endif
    rc = posix_fallocate(fd, 0, (off_t)size);
    if (rc == EINVAL || rc == EOPNOTSUPP) rc = fill_holes(fd, size);
    return rc;
}

int rmq_seg_reserve(rmq_mq_t *mq, rmq_seg_t *seg, char *errpath, size_t errlen) {
    if (seg->reserved || !mq->preallocate) return 0;
    int rc = rmq_file_reserve(seg->fd, seg->size);
    if (rc) {
        snprintf(errpath, errlen, "reserve %lld bytes for %s", (long long)seg->size, seg->path);
        return rc;
    }
    seg->reserved = 1;
    return 0;
}

static void seg_free(rmq_seg_t *s) {
    if (s->map) munmap(s->map, (size_t)s->size);
    if (s->fd >= 0) close(s->fd);
    if (s->deleted) unlink(s->path);
    free(s);
}

void rmq_seg_release(rmq_seg_t *s) {
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) seg_free(s);
}

int rmq_file_map(const char *path, int64_t size, int mode, int *fd_out, uint8_t **map_out,
                 char *errpath, size_t errlen) {
    int create = mode & (RMQ_MAP_CREATE | RMQ_MAP_CREATE_EXCL), rc = 0;
    int flags = O_RDWR | (mode & RMQ_MAP_CREATE ? O_CREAT | O_TRUNC : 0) |
                (mode & RMQ_MAP_CREATE_EXCL ? O_CREAT | O_EXCL : 0);
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        snprintf(errpath, errlen, "%s %s", create ? "create" : "open", path);
        return errno;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = errno;
        snprintf(errpath, errlen, "stat %s", path);
    } else if (create) {
        /* blocks reserved before a byte is stored through the map: no SIGBUS when full */
        rc = mode & RMQ_MAP_RESERVE ? rmq_file_reserve(fd, size)
                                    : (ftruncate(fd, (off_t)size) ? errno : 0);
        if (rc) snprintf(errpath, errlen, "reserve %lld bytes for %s", (long long)size, path);
    } else if (st.st_size != size) {
        rc = RMQ_ECORRUPT;
        snprintf(errpath, errlen, "%s: size %lld bytes, expected %lld", path,
                 (long long)st.st_size, (long long)size);
    }
    uint8_t *map = NULL;
    if (!rc) {
        map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            rc = errno;
            snprintf(errpath, errlen, "mmap %s", path);
        } else if (mode & RMQ_MAP_RANDOM) {
            (void)madvise(map, (size_t)size, MADV_RANDOM); /* advice: its failure costs time only */
        }
    }
    if (rc) {
        close(fd);
        if (create) unlink(path);
        return rc;
    }
    *fd_out = fd;
    *map_out = map;
    return 0;
}

static rmq_seg_t *seg_new(const char *path, int64_t base, int64_t size, int fd, uint8_t *map) {
    rmq_seg_t *s = calloc(1, sizeof *s);
    if (!s) {
        munmap(map, (size_t)size);
        close(fd);
        return NULL;
    }
    s->base = base;
    s->size = size;
    s->fd = fd;
    s->map = map;
    s->refs = 1;
    snprintf(s->path, sizeof s->path, "%s", path);
    return s;
}

static int push_seg(rmq_mq_t *mq, rmq_seg_t *s) {
    if (mq->n == mq->cap) {
        int cap = mq->cap ? mq->cap * 2 : 16;
        rmq_seg_t **p = realloc(mq->segs, sizeof(*p) * (size_t)cap);
        if (!p) return RMQ_ENOMEM;
        mq->segs = p;
        mq->cap = cap;
    }
    mq->segs[mq->n++] = s;
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int rmq_mq_open(rmq_mq_t *mq, const char *dir, int64_t seg_size, int flags,
                char *errpath, size_t errlen) {
    memset(mq, 0, sizeof *mq);
    snprintf(mq->dir, sizeof mq->dir, "%s", dir);
    mq->seg_size = seg_size;
    mq->preallocate = flags & RMQ_MQ_PREALLOCATE;
    mq->map_mode = flags & RMQ_MQ_RANDOM ? RMQ_MAP_RANDOM : 0;
    pthread_rwlock_init(&mq->lock, NULL);
    int rc = rmq_mkdirs(dir);
    if (rc) { snprintf(errpath, errlen, "mkdir %s", dir); return rc; }
    DIR *d = opendir(dir);
    if (!d) { snprintf(errpath, errlen, "opendir %s", dir); return errno; }
    int64_t *bases = NULL;
    size_t nb = 0, cb = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (strlen(nm) != 20 || strspn(nm, "0123456789") != 20) continue;
        if (nb == cb) {
            cb = cb ? cb * 2 : 16;
            int64_t *p = realloc(bases, cb * sizeof *p);
            if (!p) { free(bases); closedir(d); return RMQ_ENOMEM; }
            bases = p;
        }
        bases[nb++] = strtoll(nm, NULL, 10);
    }
    closedir(d);
    if (nb) qsort(bases, nb, sizeof *bases, cmp_i64);
    for (size_t i = 0; i < nb; i++) {
        char path[RMQ_PATH_MAX];
        snprintf(path, sizeof path, "%s/%020lld", dir, (long long)bases[i]);
        if (bases[i] % seg_size != 0) {
            snprintf(errpath, errlen, "%s: start offset %lld is not a multiple of the segment "
                     "size %lld", path, (long long)bases[i], (long long)seg_size);
            rc = RMQ_ECORRUPT;
            break;
        }
        int fd;
        uint8_t *map;
        if ((rc = rmq_file_map(path, seg_size, mq->map_mode, &fd, &map, errpath, errlen)) != 0)
            break;
        rmq_seg_t *s = seg_new(path, bases[i], seg_size, fd, map);
        if (!s) { rc = RMQ_ENOMEM; break; }
        if ((rc = push_seg(mq, s)) != 0) { seg_free(s); break; }
    }
    free(bases);
    if (!rc && mq->n > 0 && mq->preallocate) { /* the segment that is written next */
        char ignored[RMQ_PATH_MAX + 64];
        rmq_seg_reserve(mq, mq->segs[mq->n - 1], ignored, sizeof ignored);
    }
    if (rc) rmq_mq_close(mq);
    return rc;
}

void rmq_mq_close(rmq_mq_t *mq) {
    for (int i = 0; i < mq->n; i++) rmq_seg_release(mq->segs[i]);
    free(mq->segs);
    mq->segs = NULL;
    mq->n = mq->cap = 0;
    pthread_rwlock_destroy(&mq->lock);
}

static rmq_seg_t *take(rmq_seg_t *s) {
    if (s) __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    return s;
}

rmq_seg_t *rmq_mq_find(rmq_mq_t *mq, int64_t off) {
    rmq_seg_t *r = NULL;
    pthread_rwlock_rdlock(&mq->lock);
    if (mq->n > 0 && off >= mq->segs[0]->base) {
        int64_t idx = (off - mq->segs[0]->base) / mq->seg_size;
        if (idx < mq->n && mq->segs[idx]->base <= off &&
            off < mq->segs[idx]->base + mq->seg_size)
            r = take(mq->segs[idx]);
    }
    pthread_rwlock_unlock(&mq->lock);
    return r;
}

rmq_seg_t *rmq_mq_last(rmq_mq_t *mq) {
    pthread_rwlock_rdlock(&mq->lock);
    rmq_seg_t *r = mq->n ? take(mq->segs[mq->n - 1]) : NULL;
    pthread_rwlock_unlock(&mq->lock);
    return r;
}

rmq_seg_t *rmq_mq_first(rmq_mq_t *mq) {
    pthread_rwlock_rdlock(&mq->lock);
    rmq_seg_t *r = mq->n ? take(mq->segs[0]) : NULL;
    pthread_rwlock_unlock(&mq->lock);
    return r;
}

int rmq_mq_count(rmq_mq_t *mq) {
    pthread_rwlock_rdlock(&mq->lock);
    int n = mq->n;
    pthread_rwlock_unlock(&mq->lock);
    return n;
}

int64_t rmq_mq_min_base(rmq_mq_t *mq) {
    pthread_rwlock_rdlock(&mq->lock);
    int64_t b = mq->n ? mq->segs[0]->base : -1;
    pthread_rwlock_unlock(&mq->lock);
    return b;
}

int rmq_seg_build(rmq_mq_t *mq, const char *path, int64_t base, rmq_seg_t **out,
                  char *errpath, size_t errlen) {
    int fd;
    uint8_t *map;
    int rc = rmq_file_map(path, mq->seg_size,
                          RMQ_MAP_CREATE | (mq->preallocate ? RMQ_MAP_RESERVE : 0) | mq->map_mode,
                          &fd, &map, errpath, errlen);
    if (rc) return rc;
    rmq_seg_t *s = seg_new(path, base, mq->seg_size, fd, map);
    if (!s) { unlink(path); return RMQ_ENOMEM; }
    s->reserved = mq->preallocate;
    *out = s;
    return 0;
}

int rmq_mq_adopt(rmq_mq_t *mq, rmq_seg_t *s, char *errpath, size_t errlen) {
    char path[RMQ_PATH_MAX];
    int rc = 0;
    snprintf(path, sizeof path, "%s/%020lld", mq->dir, (long long)s->base);
    pthread_rwlock_wrlock(&mq->lock);
    if (s->size != mq->seg_size ||
        (mq->n > 0 && s->base != mq->segs[mq->n - 1]->base + mq->seg_size)) {
        rc = RMQ_EINVAL;
        snprintf(errpath, errlen, "%s: not the next segment", path);
    } else if (strcmp(path, s->path) != 0) {
        if (rename(s->path, path) != 0) {
            rc = errno;
            snprintf(errpath, errlen, "rename %s to %s", s->path, path);
        } else {
            snprintf(s->path, sizeof s->path, "%s", path);
        }
    }
    if (!rc) rc = push_seg(mq, s);
    pthread_rwlock_unlock(&mq->lock);
    return rc;
}

int64_t rmq_seg_prefault(rmq_seg_t *seg, const int *stop) {
    /* MADV_POPULATE_READ (Linux 5.14) maps every page read-only in one call per chunk: the
     * zeroing happens here, the writer's first store is a cheap write-enable fault and the
     * pages stay clean (nothing extra to write back). Older kernels: read each page. */
    const int64_t chunk = RMQ_POPULATE_STEP; /* the CPU given up between chunks, as below */
    int64_t pos = 0;
    long ps = page_size();
    while (pos < seg->size && !__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
        int64_t n = seg->size - pos < chunk ? seg->size - pos : chunk;
#ifdef MADV_POPULATE_READ
        if (madvise(seg->map + pos, (size_t)n, MADV_POPULATE_READ) != 0)
#endif
        {
            volatile const uint8_t *p = seg->map + pos;
            uint8_t sink = 0;
            for (int64_t i = 0; i < n; i += ps) sink |= p[i];
            (void)sink;
        }
        pos += n;
    }
    return pos;
}

int rmq_populate_write(uint8_t *map, int64_t size, int64_t from, int64_t to) {
    long ps = page_size();
    if (from < 0) from = 0;
    if (to > size) to = size;
    from -= from % ps;
    if (to <= from) return 0;
#ifdef MADV_POPULATE_WRITE
    /* In steps: the kernel faults a call's whole range in (reading and zeroing each page)
     * and, built PREEMPT_NONE as many distribution and VM kernels are, gives the CPU to
     * nobody meanwhile. One 8 MiB call held a CPU 19 ms while a woken broker thread waited
     * 7.8 ms for it (perf sched, bench/RESULTS.md); a step ends at the return to user space,
     * where a waiting thread takes over. */
    for (int64_t at = from; at < to; at += RMQ_POPULATE_STEP) {
        int64_t n = to - at < RMQ_POPULATE_STEP ? to - at : RMQ_POPULATE_STEP;
        if (madvise(map + at, (size_t)n, MADV_POPULATE_WRITE) != 0) return errno;
    }
    return 0;
#else
    return EINVAL;
#endif
}

int64_t rmq_ahead_window(int64_t moved, int64_t lo, int64_t hi) {
    int64_t ahead = 2 * moved;
    return ahead < lo ? lo : ahead > hi ? hi : ahead;
}

int64_t rmq_mq_populate_ahead(rmq_mq_t *mq, int64_t pos, int64_t populated, int64_t ahead) {
    int64_t to = pos + ahead;
    if (to <= populated) return populated;
    rmq_seg_t *seg = rmq_mq_last(mq);
    if (!seg) return populated;
    int64_t from = populated > pos ? populated : pos;
    int64_t end = seg->base + seg->size;
    if (to > end) to = end;
    if (from < to && rmq_populate_write(seg->map, seg->size, from - seg->base,
                                        to - seg->base) == 0)
        populated = to;
    rmq_seg_release(seg);
    return populated;
}

int rmq_mq_create(rmq_mq_t *mq, int64_t base, char *errpath, size_t errlen) {
    char path[RMQ_PATH_MAX];
    int rc;
    snprintf(path, sizeof path, "%s/%020lld", mq->dir, (long long)base);
#ifdef RMQ_FAULT_INJECTION
    if (rmq_fault_create_errno) {
        snprintf(errpath, errlen, "create %s", path);
        return rmq_fault_create_errno;
    }
#endif
    rmq_seg_t *s;
    if ((rc = rmq_seg_build(mq, path, base, &s, errpath, errlen)) != 0) return rc;
    pthread_rwlock_wrlock(&mq->lock);
    rc = push_seg(mq, s);
    pthread_rwlock_unlock(&mq->lock);
    if (rc) { s->deleted = 1; seg_free(s); }
    return rc;
}

int rmq_mq_sync(rmq_mq_t *mq, int64_t from, int64_t to) {
    int64_t pos = from;
    while (pos < to) {
        rmq_seg_t *s = rmq_mq_find(mq, pos);
        if (!s) return 0; /* deleted by retention: nothing left to flush there */
        int64_t lo = pos - s->base, hi = to - s->base;
        if (hi > s->size) hi = s->size;
        int64_t alo = lo - lo % page_size();
        int rc = msync(s->map + alo, (size_t)(hi - alo), MS_SYNC) ? errno : 0;
        pos = s->base + hi;
        rmq_seg_release(s);
        if (rc) return rc;
    }
    return 0;
}

static int64_t data_end(const rmq_seg_t *s, int64_t from) {
    /* Data is appended front to back into zero-filled files, so the written extent ends at
     * the last non-zero byte before the first all-zero page. */
    long ps = page_size();
    int64_t end = from, pos = from;
    while (pos < s->size) {
        int64_t pend = pos - pos % ps + ps;
        if (pend > s->size) pend = s->size;
        int nz = 0;
        for (int64_t i = pend - 1; i >= pos; i--) {
            if (s->map[i]) { end = i + 1; nz = 1; break; }
        }
        if (!nz) break;
        pos = pend;
    }
    return end;
}

int rmq_mq_truncate(rmq_mq_t *mq, int64_t off, int64_t *dropped_end) {
    int64_t old_end = off;
    pthread_rwlock_wrlock(&mq->lock);
    while (mq->n > 0) {
        rmq_seg_t *s = mq->segs[mq->n - 1];
        if (s->base < off || (s->base == off && mq->n == 1 && off == 0)) break;
        if (s->base == off) { /* whole segment is beyond: it goes */ }
        /* a segment never written (pre-created, or rolled to just before a crash) drops no data */
        int64_t d = data_end(s, 0);
        if (d > 0 && s->base + d > old_end) old_end = s->base + d;
        s->deleted = 1;
        mq->n--;
        rmq_seg_release(s);
    }
    if (mq->n > 0) {
        rmq_seg_t *s = mq->segs[mq->n - 1];
        if (off < s->base + s->size) {
            int64_t lo = off - s->base;
            int64_t hi = data_end(s, lo);
            if (s->base + hi > old_end) old_end = s->base + hi;
            if (hi > lo) {
                memset(s->map + lo, 0, (size_t)(hi - lo));
                msync(s->map + (lo - lo % page_size()), (size_t)(hi - (lo - lo % page_size())),
                      MS_SYNC);
            }
        }
    }
    pthread_rwlock_unlock(&mq->lock);
    if (dropped_end) *dropped_end = old_end;
    return 0;
}

int rmq_mq_delete_first(rmq_mq_t *mq) {
    pthread_rwlock_wrlock(&mq->lock);
    if (mq->n == 0) { pthread_rwlock_unlock(&mq->lock); return RMQ_ENOTFOUND; }
    rmq_seg_t *s = mq->segs[0];
    memmove(mq->segs, mq->segs + 1, sizeof(*mq->segs) * (size_t)(mq->n - 1));
    mq->n--;
    s->deleted = 1;
    pthread_rwlock_unlock(&mq->lock);
    rmq_seg_release(s);
    return 0;
}

int rmq_mq_read(rmq_mq_t *mq, int64_t off, void *out, size_t len) {
    uint8_t *o = out;
    while (len > 0) {
        rmq_seg_t *s = rmq_mq_find(mq, off);
        if (!s) return RMQ_ERANGE;
        int64_t lo = off - s->base;
        size_t n = (size_t)(s->size - lo) < len ? (size_t)(s->size - lo) : len;
        memcpy(o, s->map + lo, n);
        rmq_seg_release(s);
        o += n;
        off += (int64_t)n;
        len -= n;
    }
    return 0;
}
