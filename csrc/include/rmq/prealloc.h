/* rmq/prealloc.h - the next segment, made ahead of need (RocketMQ's AllocateMappedFileService
 * and warmMapedFileEnable): a background thread creates, reserves, maps and (warm) pre-faults
 * the segment a queue will roll to, under a scratch directory, so the roll on the put path
 * only renames a ready file into place.
 *
 * The same thread keeps the pages just ahead of the writer mapped writable (MADV_POPULATE_WRITE),
 * asked by the put path and the flusher (rmq_prealloc_populate), and maps the first pages of
 * each segment it makes, so the page zeroing and the filesystem's page_mkwrite of a fresh page
 * happen here instead of on the thread that puts.
 *
 * A segment made here is never in the queue's directory before the roll takes it: a crash
 * leaves at most a file in the scratch directory, which the next start removes; recovery
 * never sees it. The put path still creates the segment itself when nothing ready fits
 * (first segment, a failed or unfinished pre-creation), so errors are reported there.
 */
#ifndef RMQ_PREALLOC_H
#define RMQ_PREALLOC_H

#include <pthread.h>
#include <stdint.h>

#include "rmq/mapped.h"

typedef struct {
    rmq_mq_t *mq;
    char dir[RMQ_PATH_MAX];     /* scratch directory, same filesystem as mq's                */
    int warm;                   /* pre-fault the pages of each segment made                   */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started;
    int stop;
    int hurry;                  /* a roll waits for the segment being made: stop pre-faulting */
    int waiters;                /* rolls waiting in rmq_prealloc_take                          */
    int64_t want;               /* base asked for, -1 = nothing                               */
    int64_t building;           /* base being made, -1 = none                                 */
    rmq_seg_t *ready;           /* made and waiting (one reference), or NULL                  */
    int64_t first_pages;        /* bytes mapped writable at the start of each segment made    */
    int64_t pop_from, pop_to;   /* asked: the last segment mapped in [pop_from, pop_to) (mu)  */
    int64_t populated;          /* the mapped range reaches here (global; atomic, never less) */
    void (*after_populate)(void *); /* called (without mu) after each populate step, or NULL */
    void *hook_arg;
    /* counters, under mu */
    int64_t made, taken, missed, errors;
    int last_error;             /* errno / RMQ code of the last failed pre-creation           */
} rmq_prealloc_t;

/* Start the thread for mq with scratch directory dir (created; files left in it by an earlier
 * run are removed). warm: pre-fault each segment (rmq_seg_prefault); first_pages: bytes to
 * map writable at the start of each segment made (0 = none). 0 or errno. */
int rmq_prealloc_start(rmq_prealloc_t *a, rmq_mq_t *mq, const char *dir, int warm,
                       int64_t first_pages);

/* Ask for the queue's last segment to be mapped writable over [max(populated, from), to)
 * (global offsets, clamped to that segment; returns at once, replaces an earlier ask). */
void rmq_prealloc_populate(rmq_prealloc_t *a, int64_t from, int64_t to);

/* Have the thread call fn(arg) after each populate step (NULL: none), e.g. to map the
 * writers' other files ahead at the same pace. fn must not call back into a. */
void rmq_prealloc_set_hook(rmq_prealloc_t *a, void (*fn)(void *), void *arg);

/* How far (global) the populated range reaches; 0 before any. */
int64_t rmq_prealloc_populated(rmq_prealloc_t *a);

/* Ask for the segment starting at base to be made (returns at once; replaces an earlier
 * request that has not started). */
void rmq_prealloc_request(rmq_prealloc_t *a, int64_t base);

/* The ready segment for base (one reference, not in any list: give it to rmq_mq_adopt), or
 * NULL: nothing ready for base (a ready segment for another base is removed; a failed
 * pre-creation). Waits for a segment being made or asked for, cutting its pre-fault short. */
rmq_seg_t *rmq_prealloc_take(rmq_prealloc_t *a, int64_t base);

/* Drop seg made by this allocator (taken but not adopted): its file is removed. */
void rmq_prealloc_discard(rmq_seg_t *seg);

/* Stop and join the thread; an unused ready segment is removed with its file. No-op when not
 * started. */
void rmq_prealloc_stop(rmq_prealloc_t *a);

#endif
