/* prealloc.c - next-segment pre-creation thread (see rmq/prealloc.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rmq/errors.h"
#include "rmq/prealloc.h"

void rmq_prealloc_discard(rmq_seg_t *seg) {
    if (!seg) return;
    seg->deleted = 1;
    rmq_seg_release(seg);
}

static void clear_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 20 || strspn(e->d_name, "0123456789") != 20) continue;
        char path[RMQ_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* One step of an asked populate, under mu on entry and exit: at most POP_STEP bytes, so a
 * segment asked for or a stop waits no longer than one step. */
#define POP_STEP (8LL << 20)
static void populate_step(rmq_prealloc_t *a) {
    int64_t pop = a->populated;
    int64_t from = a->pop_from > pop ? a->pop_from : pop;
    int64_t to = a->pop_to < from + POP_STEP ? a->pop_to : from + POP_STEP;
    pthread_mutex_unlock(&a->mu);
    int64_t got = rmq_mq_populate_ahead(a->mq, from, pop, to - from);
    pthread_mutex_lock(&a->mu);
    if (got > pop) __atomic_store_n(&a->populated, got, __ATOMIC_RELEASE);
    if (got < to) a->pop_to = -1; /* the segment's end, or the call failed: done asking */
    void (*hook)(void *) = a->after_populate;
    void *arg = a->hook_arg;
    if (hook) {
        pthread_mutex_unlock(&a->mu);
        hook(arg);
        pthread_mutex_lock(&a->mu);
    }
}

static void *alloc_main(void *arg) {
    rmq_prealloc_t *a = arg;
    (void)prctl(PR_SET_NAME, "rmq-alloc", 0, 0, 0); /* top -H, /proc/PID/task/TID/comm */
    /* background work: under CPU contention the writers go first (Linux niceness is per
     * thread; failure only means no change) */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0) { /* keep the default */ }
    pthread_mutex_lock(&a->mu);
    for (;;) {
        if (a->ready && a->want == a->ready->base) a->want = -1; /* made already */
        if (a->stop) break;
        if (a->want < 0) {
            if (a->pop_to > a->populated && a->pop_to > a->pop_from) populate_step(a);
            else pthread_cond_wait(&a->cv, &a->mu);
            continue;
        }
        int64_t base = a->want;
        a->want = -1;
        rmq_seg_t *stale = a->ready;
        a->ready = NULL;
        a->building = base;
        __atomic_store_n(&a->hurry, a->waiters > 0, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&a->mu);

        rmq_prealloc_discard(stale);
        char path[RMQ_PATH_MAX + 32], errpath[RMQ_PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%020lld", a->dir, (long long)base);
        rmq_seg_t *seg = NULL;
        int rc = rmq_seg_build(a->mq, path, base, &seg, errpath, sizeof errpath);
        if (!rc && a->warm) rmq_seg_prefault(seg, &a->hurry);
        else if (!rc && a->first_pages > 0 && !__atomic_load_n(&a->hurry, __ATOMIC_ACQUIRE))
            (void)rmq_populate_write(seg->map, seg->size, 0,
                                     a->first_pages < seg->size ? a->first_pages : seg->size);

        pthread_mutex_lock(&a->mu);
        a->building = -1;
        if (rc) {
            a->errors++;
            a->last_error = rc;
        } else {
            a->ready = seg;
            a->made++;
        }
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

void rmq_prealloc_populate(rmq_prealloc_t *a, int64_t from, int64_t to) {
    if (!__atomic_load_n(&a->started, __ATOMIC_ACQUIRE)) return;
    pthread_mutex_lock(&a->mu);
    a->pop_from = from;
    a->pop_to = to;
    if (to > a->populated) pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

void rmq_prealloc_set_hook(rmq_prealloc_t *a, void (*fn)(void *), void *arg) {
    if (!__atomic_load_n(&a->started, __ATOMIC_ACQUIRE)) return;
    pthread_mutex_lock(&a->mu);
    a->after_populate = fn;
    a->hook_arg = arg;
    pthread_mutex_unlock(&a->mu);
}

int64_t rmq_prealloc_populated(rmq_prealloc_t *a) {
    return __atomic_load_n(&a->populated, __ATOMIC_ACQUIRE);
}

int rmq_prealloc_start(rmq_prealloc_t *a, rmq_mq_t *mq, const char *dir, int warm,
                       int64_t first_pages) {
    memset(a, 0, sizeof *a);
    a->mq = mq;
    a->warm = warm;
    a->first_pages = first_pages;
    a->want = a->building = a->pop_to = -1;
    snprintf(a->dir, sizeof a->dir, "%s", dir);
    int rc = rmq_mkdirs(dir);
    if (rc) return rc;
    clear_dir(dir);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if ((rc = pthread_create(&a->thread, NULL, alloc_main, a)) != 0) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        return rc;
    }
    __atomic_store_n(&a->started, 1, __ATOMIC_RELEASE);
    return 0;
}

void rmq_prealloc_request(rmq_prealloc_t *a, int64_t base) {
    if (!a->started) return;
    pthread_mutex_lock(&a->mu);
    if (!(a->ready && a->ready->base == base) && a->building != base) {
        a->want = base;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
}

rmq_seg_t *rmq_prealloc_take(rmq_prealloc_t *a, int64_t base) {
    if (!a->started) return NULL;
    rmq_seg_t *seg = NULL, *stale = NULL;
    pthread_mutex_lock(&a->mu);
    /* wait for the segment being made, or asked for and about to be (the thread is awake) */
    a->waiters++;
    while (a->building >= 0 || (a->want == base && a->want >= 0)) {
        __atomic_store_n(&a->hurry, 1, __ATOMIC_RELEASE);
        pthread_cond_wait(&a->cv, &a->mu);
    }
    a->waiters--;
    if (a->ready && a->ready->base == base) seg = a->ready;
    else stale = a->ready;
    a->ready = NULL;
#ifdef RMQ_FAULT_INJECTION
    /* a fault standing in for a full disk must fail the roll as a real one would have failed
     * the pre-creation: nothing ready */
    if (seg && (rmq_fault_create_errno || rmq_fault_reserve_errno)) { stale = seg; seg = NULL; }
#endif
    if (seg) a->taken++;
    else a->missed++;
    pthread_mutex_unlock(&a->mu);
    rmq_prealloc_discard(stale);
    return seg;
}

void rmq_prealloc_stop(rmq_prealloc_t *a) {
    if (!a->started) return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    __atomic_store_n(&a->hurry, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    rmq_prealloc_discard(a->ready);
    a->ready = NULL;
    a->started = 0;
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    rmdir(a->dir); /* fails harmlessly if something else is in it */
}
