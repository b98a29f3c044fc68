/* rmq/mapped.h - a queue of pre-sized, memory-mapped segment files in one directory, named by
 * their 20-digit start offset and addressed by global offset (RocketMQ's MappedFileQueue).
 *
 * Segments are reference counted: rmq_mq_find()/rmq_mq_last() return a segment with a reference
 * the caller drops with rmq_seg_release(); a deleted segment is unmapped when its last
 * reference goes, so nothing is unmapped under a reader. The list is guarded by a rwlock.
 */
#ifndef RMQ_MAPPED_H
#define RMQ_MAPPED_H

#include <pthread.h>
#include <stdint.h>

#define RMQ_PATH_MAX 1024

typedef struct rmq_seg {
    int64_t base;        /* global offset of byte 0                                         */
    int64_t size;
    uint8_t *map;
    int fd;
    int refs;            /* list's own reference + readers                                   */
    int deleted;         /* unlink when the last reference drops                            */
    int reserved;        /* blocks reserved (rmq_file_reserve): writes into the map cannot fault */
    char path[RMQ_PATH_MAX];
} rmq_seg_t;

typedef struct {
    char dir[RMQ_PATH_MAX];
    int64_t seg_size;
    int preallocate;
    int map_mode;        /* extra rmq_file_map mode bits of every segment (RMQ_MAP_RANDOM)  */
    rmq_seg_t **segs;
    int n, cap;
    pthread_rwlock_t lock;
} rmq_mq_t;

/* rmq_mq_open flags */
#define RMQ_MQ_PREALLOCATE 1  /* reserve a segment's blocks before it is written               */
#define RMQ_MQ_RANDOM      2  /* map every segment with RMQ_MAP_RANDOM                          */

/* Open dir (created if missing) and map every segment file in it. A file whose size is not
 * seg_size gives RMQ_ECORRUPT (errpath: "PATH: size N, expected M"). With RMQ_MQ_PREALLOCATE
 * the last segment's blocks are reserved (a failure leaves it unreserved: the writer retries
 * through rmq_seg_reserve before touching it). Returns 0 or an error. */
int rmq_mq_open(rmq_mq_t *mq, const char *dir, int64_t seg_size, int flags,
                char *errpath, size_t errlen);
/* mkdir -p path (mode 0755). 0 or errno. */
int rmq_mkdirs(const char *path);

/* Reserve the blocks of [0, size) of fd so that stores into a shared mapping of it can never
 * fault (SIGBUS) on a full disk: posix_fallocate; where the filesystem cannot (EOPNOTSUPP /
 * EINVAL), the file is extended and its holes (SEEK_HOLE) are filled with written zeros. Data
 * already in the file is kept. 0 or errno (ENOSPC, EDQUOT, EIO...). */
int rmq_file_reserve(int fd, int64_t size);

/* rmq_file_map modes */
#define RMQ_MAP_CREATE       1  /* create or truncate, then size the file                     */
#define RMQ_MAP_CREATE_EXCL  2  /* create; EEXIST when the file exists                        */
#define RMQ_MAP_RESERVE      4  /* with a create mode: reserve the blocks (rmq_file_reserve)   */
/* advise random access (MADV_RANDOM): a page fault reads in its own page only. Without it a
 * fault on a page not yet cached reads in the device's whole read-ahead window around it
 * (read_ahead_kb: 8 MiB on the project's benchmark VM), which for a freshly reserved file is
 * that much memory zeroed in the faulting thread, e.g. all 6 MB of a consume queue file on
 * its first entry. For files written in small entries at scattered places and read a few
 * entries at a time (consume queues, index files); not for the commitlog, whose readers
 * stream it. */
#define RMQ_MAP_RANDOM       8

/* Open (mode 0: an existing file, whose size must be size, else RMQ_ECORRUPT with errpath
 * "PATH: size N bytes, expected M") or create path, and map it shared read-write. 0 with *fd
 * and *map, or an error with errpath naming the file and the failing step; nothing is left
 * open and a file created here is removed. */
int rmq_file_map(const char *path, int64_t size, int mode, int *fd, uint8_t **map,
                 char *errpath, size_t errlen);

/* Make sure seg's blocks are reserved (no-op when done, or when mq does not preallocate).
 * 0 or errno, with errpath naming the file and the size. */
int rmq_seg_reserve(rmq_mq_t *mq, rmq_seg_t *seg, char *errpath, size_t errlen);

/* Unmap everything (waits for nothing: callers must be done). */
void rmq_mq_close(rmq_mq_t *mq);

/* Segment holding global offset off (with a reference), or NULL. */
rmq_seg_t *rmq_mq_find(rmq_mq_t *mq, int64_t off);
/* Last / first segment (with a reference), or NULL. */
rmq_seg_t *rmq_mq_last(rmq_mq_t *mq);
rmq_seg_t *rmq_mq_first(rmq_mq_t *mq);
void rmq_seg_release(rmq_seg_t *seg);
int rmq_mq_count(rmq_mq_t *mq);
/* Base offset of the first segment, or -1 when empty. */
int64_t rmq_mq_min_base(rmq_mq_t *mq);

/* Create and map the segment starting at base (blocks reserved when preallocate is set), append
 * it. Errors: errno (ENOSPC when the disk is full; nothing is left behind), RMQ_EINVAL. */
int rmq_mq_create(rmq_mq_t *mq, int64_t base, char *errpath, size_t errlen);

/* Create and map a segment of mq's size for global offset base in the file path (anywhere on
 * mq's filesystem), NOT appended to mq: the pre-creation half of rmq_mq_create. *out holds one
 * reference; dropping it with deleted set removes the file. Errors as rmq_mq_create. */
int rmq_seg_build(rmq_mq_t *mq, const char *path, int64_t base, rmq_seg_t **out,
                  char *errpath, size_t errlen);
/* Append a built segment as mq's last: renamed to its name in mq's directory (when its path
 * differs) and given to the list (the caller's reference becomes the list's). base must be
 * the next segment's. 0, RMQ_EINVAL (base is not the next one) or the rename errno; on error
 * the caller still owns seg. */
int rmq_mq_adopt(rmq_mq_t *mq, rmq_seg_t *seg, char *errpath, size_t errlen);
/* Fault pages [0, size) of seg in ahead of the writer, so its stores find ready page-cache
 * pages (the kernel zeroes each fresh page on first touch). Stops early when *stop becomes
 * non-zero (read atomically). Returns the bytes faulted in. */
int64_t rmq_seg_prefault(rmq_seg_t *seg, const int *stop);
/* Map the pages of [from, to) of a mapping of `size` bytes (clamped to it) writable, without
 * changing their contents (MADV_POPULATE_WRITE, Linux 5.14): the page faults a writer about to
 * fill them would take (page allocation, zeroing, the filesystem's page_mkwrite, which may
 * wait for a journal commit) are taken by the calling thread instead. Used by the flusher
 * ahead of the commitlog, ConsumeQueue and IndexFile writers; one madvise per
 * RMQ_POPULATE_STEP bytes, so that the CPU is given up between steps. 0 or errno (EINVAL where
 * the kernel lacks it). */
#define RMQ_POPULATE_STEP (256LL << 10)
int rmq_populate_write(uint8_t *map, int64_t size, int64_t from, int64_t to);
/* rmq_populate_write over the last segment of mq: [max(populated, pos), pos + ahead), global
 * offsets, within that segment. Returns how far (global) the populated range now reaches:
 * `populated` unchanged when nothing was to do or the call failed, never less. */
int64_t rmq_mq_populate_ahead(rmq_mq_t *mq, int64_t pos, int64_t populated, int64_t ahead);
/* How far ahead of a writer to map: twice what it wrote since the last call (`moved`), within
 * [lo, hi] — sized by its rate, not by how far it overshot the mapped end (a window sized by
 * the overshoot shrinks back once big enough, and the writer faults every other interval). */
int64_t rmq_ahead_window(int64_t moved, int64_t lo, int64_t hi);

/* msync [from, to) (global offsets) with MS_SYNC. Returns 0 or errno (never partial success:
 * a failure means nothing from the failed segment on may be counted as flushed). */
int rmq_mq_sync(rmq_mq_t *mq, int64_t from, int64_t to);

/* Drop everything at and after off: zero the rest of off's segment up to the end of its
 * written data, delete later segments. *dropped_end receives the old end of written data
 * (last non-zero byte + 1) when non-NULL. */
int rmq_mq_truncate(rmq_mq_t *mq, int64_t off, int64_t *dropped_end);

/* Delete the first segment. Returns 0, RMQ_ENOTFOUND when empty. */
int rmq_mq_delete_first(rmq_mq_t *mq);

/* Copy len bytes at global offset off into out (may span segments). 0 or RMQ_ERANGE. */
int rmq_mq_read(rmq_mq_t *mq, int64_t off, void *out, size_t len);

#ifdef RMQ_FAULT_INJECTION
/* Test hooks: make rmq_mq_create / rmq_file_reserve fail with this errno (0 = off). */
extern int rmq_fault_create_errno;
extern int rmq_fault_reserve_errno;
/* Test hook: rmq_file_reserve takes the fallback (as on a filesystem without fallocate). */
extern int rmq_fault_no_fallocate;
#endif

#endif
