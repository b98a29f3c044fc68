/* index.c - IndexFile hash index (see rmq/index.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "rmq/errors.h"
#include "rmq/index.h"
#include "rmq/record.h"
#include "rmq/store.h"

#define HDR 40
#define ENTRY 20

static int64_t file_size(int32_t slots, int32_t max_index) {
    return HDR + (int64_t)slots * 4 + (int64_t)max_index * ENTRY;
}

static void load_header(rmq_index_file_t *f) {
    const uint8_t *h = f->map;
    f->begin_ts = (int64_t)rmq_get64(h);
    f->end_ts = (int64_t)rmq_get64(h + 8);
    f->begin_phys = (int64_t)rmq_get64(h + 16);
    f->end_phys = (int64_t)rmq_get64(h + 24);
    f->slot_count = (int32_t)rmq_get32(h + 32);
    f->index_count = (int32_t)rmq_get32(h + 36);
    if (f->index_count < 1) f->index_count = 1;
}

static void store_header(rmq_index_file_t *f) {
    uint8_t *h = f->map;
    rmq_put64(h, (uint64_t)f->begin_ts);
    rmq_put64(h + 8, (uint64_t)f->end_ts);
    rmq_put64(h + 16, (uint64_t)f->begin_phys);
    rmq_put64(h + 24, (uint64_t)f->end_phys);
    rmq_put32(h + 32, (uint32_t)f->slot_count);
    rmq_put32(h + 36, (uint32_t)f->index_count);
}

static void file_free(rmq_index_file_t *f, int unlink_it) {
    if (f->map) munmap(f->map, (size_t)f->size);
    if (f->fd >= 0) close(f->fd);
    if (unlink_it) unlink(f->path);
    free(f);
}

static rmq_index_file_t *file_map(const char *path, int64_t size, int create, int *err,
                                  char *errpath, size_t errlen) {
    rmq_index_file_t *f = calloc(1, sizeof *f);
    if (!f) { *err = RMQ_ENOMEM; return NULL; }
    snprintf(f->path, sizeof f->path, "%s", path);
    f->size = size;
    /* random: a key's slot is anywhere in the slot table, a lookup follows a chain back */
    *err = rmq_file_map(path, size,
                        RMQ_MAP_RANDOM | (create ? RMQ_MAP_CREATE_EXCL | RMQ_MAP_RESERVE : 0),
                        &f->fd, &f->map, errpath, errlen);
    if (*err) { free(f); return NULL; }
    f->reserved = create;
    load_header(f);
    return f;
}

static int push(rmq_index_t *ix, rmq_index_file_t *f) {
    if (ix->n == ix->cap) {
        int cap = ix->cap ? ix->cap * 2 : 8;
        rmq_index_file_t **p = realloc(ix->files, sizeof(*p) * (size_t)cap);
        if (!p) return RMQ_ENOMEM;
        ix->files = p;
        ix->cap = cap;
    }
    ix->files[ix->n++] = f;
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int rmq_index_open(rmq_index_t *ix, const char *root, int32_t slots, int32_t max_index,
                   char *errpath, size_t errlen) {
    memset(ix, 0, sizeof *ix);
    snprintf(ix->dir, sizeof ix->dir, "%s/index", root);
    ix->slots = slots;
    ix->max_index = max_index;
    pthread_rwlock_init(&ix->lock, NULL);
    int rc = rmq_mkdirs(ix->dir);
    if (rc) { snprintf(errpath, errlen, "mkdir %s", ix->dir); return rc; }
    DIR *d = opendir(ix->dir);
    if (!d) { snprintf(errpath, errlen, "opendir %s", ix->dir); return errno; }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 17 || strspn(e->d_name, "0123456789") != 17) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) break;
            names = p;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        char path[RMQ_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", ix->dir, names[i]);
        int err = 0;
        rmq_index_file_t *f = rc ? NULL : file_map(path, file_size(slots, max_index), 0, &err,
                                                   errpath, errlen);
        if (!rc && !f) rc = err;
        if (f && push(ix, f) != 0) { file_free(f, 0); rc = RMQ_ENOMEM; }
        free(names[i]);
    }
    free(names);
    if (!rc && ix->n > 0) { /* the newest file takes more entries: reserve it (retried later) */
        rmq_index_file_t *f = ix->files[ix->n - 1];
        f->reserved = rmq_file_reserve(f->fd, f->size) == 0;
    }
    if (rc) rmq_index_close(ix);
    return rc;
}

void rmq_index_close(rmq_index_t *ix) {
    for (int i = 0; i < ix->n; i++) {
        store_header(ix->files[i]);
        file_free(ix->files[i], 0);
    }
    free(ix->files);
    ix->files = NULL;
    ix->n = 0;
    pthread_rwlock_destroy(&ix->lock);
}

int64_t rmq_index_end_phys(rmq_index_t *ix) {
    pthread_rwlock_rdlock(&ix->lock);
    int64_t r = ix->n ? ix->files[ix->n - 1]->end_phys : 0;
    pthread_rwlock_unlock(&ix->lock);
    return r;
}

int64_t rmq_index_resume_from(rmq_index_t *ix) {
    pthread_rwlock_rdlock(&ix->lock);
    int64_t r = 0;
    for (int i = ix->n - 1; i >= 0; i--) {
        if (ix->files[i]->index_count > 1) { /* the newest file holding entries */
            r = ix->files[i]->end_phys + 1;
            break;
        }
    }
    pthread_rwlock_unlock(&ix->lock);
    return r;
}

int rmq_index_count(rmq_index_t *ix) {
    pthread_rwlock_rdlock(&ix->lock);
    int n = ix->n;
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

static int new_file(rmq_index_t *ix, char *errpath, size_t errlen) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    for (int attempt = 0; attempt < 1000; attempt++) {
        int64_t ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 + attempt;
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        localtime_r(&secs, &tm);
        char path[RMQ_PATH_MAX];
        snprintf(path, sizeof path, "%s/%04d%02d%02d%02d%02d%02d%03d", ix->dir,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)(ms % 1000));
        if (ix->n && strcmp(path, ix->files[ix->n - 1]->path) <= 0) continue; /* keep order */
        int err = 0;
        rmq_index_file_t *f = file_map(path, file_size(ix->slots, ix->max_index), 1, &err,
                                       errpath, errlen);
        if (!f && err == EEXIST) continue;
        if (!f) return err; /* errpath: "create PATH" or "reserve N bytes for PATH" */
        if (ix->n) { /* continue from where the previous file ended */
            rmq_index_file_t *prev = ix->files[ix->n - 1];
            f->begin_ts = prev->end_ts;
            f->end_ts = prev->end_ts;
            f->begin_phys = prev->end_phys;
            f->end_phys = prev->end_phys;
            ix->full_end_ts = prev->end_ts;
        }
        f->index_count = 1;
        store_header(f);
        pthread_rwlock_wrlock(&ix->lock);
        int rc = push(ix, f);
        pthread_rwlock_unlock(&ix->lock);
        if (rc) file_free(f, 1);
        return rc;
    }
    snprintf(errpath, errlen, "create index file in %s", ix->dir);
    return EEXIST;
}

static int32_t key_hash(const uint8_t *topic, size_t tl, const uint8_t *key, size_t kl) {
    uint8_t buf[512];
    size_t n = tl + 1 + kl;
    uint8_t *p = n <= sizeof buf ? buf : malloc(n);
    if (!p) return 0;
    memcpy(p, topic, tl);
    p[tl] = '#';
    memcpy(p + tl + 1, key, kl);
    int32_t h = rmq_java_hash(p, n);
    if (p != buf) free(p);
    if (h == INT32_MIN) return 0;
    return h < 0 ? -h : h;
}

int rmq_index_reserve(rmq_index_t *ix, int64_t n, char *errpath, size_t errlen) {
    if (n <= 0) return 0;
    if (ix->n == 0 || ix->files[ix->n - 1]->index_count + n > ix->max_index)
        return new_file(ix, errpath, errlen);
    rmq_index_file_t *f = ix->files[ix->n - 1];
    if (f->reserved) return 0;
    int rc = rmq_file_reserve(f->fd, f->size);
    if (rc) {
        snprintf(errpath, errlen, "reserve %lld bytes for index file %s", (long long)f->size,
                 f->path);
        return rc;
    }
    f->reserved = 1;
    return 0;
}

int rmq_index_put(rmq_index_t *ix, const uint8_t *topic, size_t topic_len, const uint8_t *key,
                  size_t key_len, int64_t phys, int64_t store_ts, char *errpath,
                  size_t errlen) {
    int rc;
    if (ix->n == 0 && (rc = new_file(ix, errpath, errlen)) != 0) return rc;
    rmq_index_file_t *f = ix->files[ix->n - 1];
    if (phys < f->end_phys) return 0;
    if (f->index_count >= ix->max_index) {
        if ((rc = new_file(ix, errpath, errlen)) != 0) return rc;
        f = ix->files[ix->n - 1];
    }
    int32_t h = key_hash(topic, topic_len, key, key_len);
    int32_t slot = h % ix->slots;
    uint8_t *sp = f->map + HDR + (int64_t)slot * 4;
    int32_t prev = (int32_t)rmq_get32(sp);
    if (prev <= 0 || prev > f->index_count) prev = 0;
    int64_t diff = 0;
    if (f->begin_ts > 0 && f->index_count > 1) {
        diff = (store_ts - f->begin_ts) / 1000;
        if (diff < 0) diff = 0;
        if (diff > INT32_MAX) diff = INT32_MAX;
    }
    int32_t n = f->index_count;
    uint8_t *e = f->map + HDR + (int64_t)ix->slots * 4 + (int64_t)n * ENTRY;
    rmq_put32(e, (uint32_t)h);
    rmq_put64(e + 4, (uint64_t)phys);
    rmq_put32(e + 12, (uint32_t)diff);
    rmq_put32(e + 16, (uint32_t)prev);
    rmq_put32(sp, (uint32_t)n);
    if (f->index_count <= 1) {
        f->begin_phys = phys;
        f->begin_ts = store_ts;
    }
    if (prev == 0) f->slot_count++;
    f->end_phys = phys;
    f->end_ts = store_ts;
    __atomic_store_n(&f->index_count, n + 1, __ATOMIC_RELEASE);
    store_header(f);
    return 0;
}

size_t rmq_index_query(rmq_index_t *ix, const uint8_t *topic, size_t topic_len,
                       const uint8_t *key, size_t key_len, int64_t begin, int64_t end,
                       int64_t *out, size_t max) {
    size_t found = 0;
    int32_t h = key_hash(topic, topic_len, key, key_len);
    pthread_rwlock_rdlock(&ix->lock);
    for (int i = ix->n - 1; i >= 0 && found < max; i--) {
        rmq_index_file_t *f = ix->files[i];
        int32_t count = __atomic_load_n(&f->index_count, __ATOMIC_ACQUIRE);
        if (count <= 1) continue;
        if (f->end_ts < begin || f->begin_ts > end) continue;
        const uint8_t *sp = f->map + HDR + (int64_t)(h % ix->slots) * 4;
        int32_t idx = (int32_t)rmq_get32(sp);
        for (int guard = 0; idx > 0 && idx < count && found < max && guard < count; guard++) {
            const uint8_t *e = f->map + HDR + (int64_t)ix->slots * 4 + (int64_t)idx * ENTRY;
            int32_t eh = (int32_t)rmq_get32(e);
            int64_t phys = (int64_t)rmq_get64(e + 4);
            int64_t t = f->begin_ts + (int64_t)(int32_t)rmq_get32(e + 12) * 1000;
            int32_t prev = (int32_t)rmq_get32(e + 16);
            /* timeDiff is in whole seconds: widen the window by the rounding */
            if (eh == h && t >= begin - 1000 && t <= end) out[found++] = phys;
            if (prev <= 0 || prev >= idx) break;
            idx = prev;
        }
    }
    pthread_rwlock_unlock(&ix->lock);
    return found;
}

int rmq_index_delete_below(rmq_index_t *ix, int64_t clog_min) {
    int deleted = 0;
    pthread_rwlock_wrlock(&ix->lock);
    while (ix->n > 1 && ix->files[0]->end_phys < clog_min) {
        rmq_index_file_t *f = ix->files[0];
        memmove(ix->files, ix->files + 1, sizeof(*ix->files) * (size_t)(ix->n - 1));
        ix->n--;
        file_free(f, 1);
        deleted++;
    }
    pthread_rwlock_unlock(&ix->lock);
    return deleted;
}

/* Undo the entries of f from the newest back while they point at or after phys_end: each
 * entry's slot is restored to the entry's prev (what the slot held before it was added). */
static int64_t drop_entries_from(rmq_index_t *ix, rmq_index_file_t *f, int64_t phys_end) {
    int64_t dropped = 0;
    uint8_t *slots = f->map + HDR, *entries = slots + (int64_t)ix->slots * 4;
    while (f->index_count > 1) {
        int32_t n = f->index_count - 1;
        uint8_t *e = entries + (int64_t)n * ENTRY;
        if ((int64_t)rmq_get64(e + 4) < phys_end) break;
        int32_t h = (int32_t)rmq_get32(e), prev = (int32_t)rmq_get32(e + 16);
        uint8_t *sp = slots + (int64_t)(h % ix->slots) * 4;
        if ((int32_t)rmq_get32(sp) == n) {
            rmq_put32(sp, (uint32_t)(prev > 0 && prev < n ? prev : 0));
            if (prev <= 0 && f->slot_count > 0) f->slot_count--;
        }
        memset(e, 0, ENTRY);
        f->index_count = n;
        dropped++;
    }
    if (f->index_count > 1) { /* the newest remaining entry is where indexing resumes */
        const uint8_t *e = entries + (int64_t)(f->index_count - 1) * ENTRY;
        f->end_phys = (int64_t)rmq_get64(e + 4);
        f->end_ts = f->begin_ts + (int64_t)(int32_t)rmq_get32(e + 12) * 1000;
    } else if (f->end_phys >= phys_end) { /* empty: it covers nothing past the end */
        f->end_phys = f->begin_phys < phys_end ? f->begin_phys : 0;
        f->begin_phys = f->end_phys;
    }
    store_header(f);
    return dropped;
}

int64_t rmq_index_truncate(rmq_index_t *ix, int64_t phys_end) {
    int64_t dropped = 0;
    pthread_rwlock_wrlock(&ix->lock);
    while (ix->n > 0 && ix->files[ix->n - 1]->begin_phys >= phys_end &&
           ix->files[ix->n - 1]->index_count > 1) {
        rmq_index_file_t *f = ix->files[--ix->n];
        dropped += f->index_count - 1;
        file_free(f, 1);
    }
    /* The newest remaining file may still hold entries at or past the end (and an
     * endPhyOffset there, below which rmq_index_put skips records): cut them. */
    if (ix->n > 0) dropped += drop_entries_from(ix, ix->files[ix->n - 1], phys_end);
    pthread_rwlock_unlock(&ix->lock);
    return dropped;
}

int rmq_index_flush(rmq_index_t *ix) {
    int rc = 0;
    pthread_rwlock_rdlock(&ix->lock);
    for (int i = 0; i < ix->n; i++) {
        store_header(ix->files[i]);
        if (msync(ix->files[i]->map, (size_t)ix->files[i]->size, MS_SYNC) != 0) rc = errno;
    }
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

void rmq_index_populate_ahead(rmq_index_t *ix) {
    /* under the read lock: the put thread takes it for writing only to add a file */
    pthread_rwlock_rdlock(&ix->lock);
    if (ix->n > 0) {
        rmq_index_file_t *f = ix->files[ix->n - 1];
        int64_t slots_end = HDR + (int64_t)ix->slots * 4;
        int32_t count = __atomic_load_n(&f->index_count, __ATOMIC_ACQUIRE);
        int64_t pos = slots_end + (int64_t)count * ENTRY;
        if (ix->ahead_file != f || pos < ix->ahead_seen) { /* a new file: start at its writer */
            ix->ahead_file = f;
            ix->ahead_seen = ix->ahead_to = pos;
        }
        int64_t ahead = rmq_ahead_window(pos - ix->ahead_seen, 256 << 10, 16 << 20);
        ix->ahead_seen = pos;
        int64_t from = ix->ahead_to > pos ? ix->ahead_to : pos;
        if (pos + ahead > from && rmq_populate_write(f->map, f->size, from, pos + ahead) == 0)
            ix->ahead_to = pos + ahead;
        if (f->populated < slots_end) {
            int64_t to = f->populated + (4 << 20);
            if (rmq_populate_write(f->map, slots_end, f->populated, to) == 0)
                f->populated = to < slots_end ? to : slots_end;
            else
                f->populated = slots_end; /* not supported: do not retry every pass */
        }
    }
    pthread_rwlock_unlock(&ix->lock);
}
