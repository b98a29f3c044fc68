/* The next commitlog segment made ahead (prealloc.c): rolls take the ready segment and read
 * back across segments; close while a segment is being made joins the thread and leaves no
 * file behind; recovery is not confused by a pre-created segment left on disk (in the scratch
 * directory after a crash, or unwritten at the end of commitlog/ after a roll); a ready segment
 * for another base is removed, not used. The pages ahead of the writers are mapped: the
 * commitlog's by the thread (which then calls its hook), a consume queue's by the writer's rate;
 * a consume queue's first entry brings in its own page only, not the device's read-ahead. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rmq/cq.h"
#include "rmq/errors.h"
#include "rmq/mapped.h"
#include "rmq/prealloc.h"
#include "testutil.h"

#define SEG (64 * 1024)

static char root[1024];

static rmq_put_result_t fill(rmq_store_t *s, int n) {
    char body[300];
    memset(body, 'p', sizeof body - 1);
    body[sizeof body - 1] = 0;
    rmq_put_result_t r = {0};
    for (int i = 0; i < n; i++) {
        rmq_msg_t m = test_msg("Pre", 0, body, "KEYS\x01k\x02");
        REQUIRE(rmq_store_put(s, &m, &r) == 0);
    }
    return r;
}

/* Files in root/sub (0 when the directory is missing). */
static int count_files(const char *sub) {
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", root, sub);
    DIR *d = opendir(p);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int exists(const char *sub) {
    char p[1100];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", root, sub);
    return stat(p, &st) == 0;
}

static void touch(const char *sub, int64_t size) {
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", root, sub);
    FILE *f = fopen(p, "w");
    REQUIRE(f != NULL);
    fclose(f);
    REQUIRE(truncate(p, (off_t)size) == 0);
}

/* Wait (bounded, 10 s) until a's thread has a segment ready for base. */
static int wait_ready(rmq_prealloc_t *a, int64_t base) {
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&a->mu);
        int ok = a->ready && a->ready->base == base;
        pthread_mutex_unlock(&a->mu);
        if (ok) return 1;
        usleep(1000);
    }
    return 0;
}

static void test_rolls_take_the_ready_segment(void) {
    rmq_store_config_t c;
    small_config(&c, 4096);
    c.preallocate = 1;
    c.warm_mapped_file = 1;
    rmq_store_t *s = open_root(root, &c, NULL);
    fill(s, 1000); /* ~350 KiB: five or six rolls */
    rmq_store_stats_t st;
    rmq_store_stats(s, &st);
    CHECK(st.commitlog_segments >= 5);
    /* the first segment may be made by the first put (it waits for the thread then) */
    if (st.segments_precreated < st.commitlog_segments - 1)
        fprintf(stderr, "precreated %lld of %lld\n", (long long)st.segments_precreated,
                (long long)st.commitlog_segments);
    CHECK(st.segments_precreated >= st.commitlog_segments - 1);
    CHECK_EQ(st.segments_precreated + st.segments_made_on_roll, st.commitlog_segments);
    CHECK_EQ(count_files("commitlog"), st.commitlog_segments); /* the ready one is not there */
    /* every record reads back, across the segment boundaries */
    rmq_buf_t t = {"Pre", 3};
    uint8_t buf[1024];
    int found = 0;
    for (int64_t off = 0; off < 1000; off++) {
        int64_t phys = rmq_store_phys_of(s, t, 0, off);
        int32_t size = 0;
        found += phys >= 0 && rmq_store_read_at(s, phys, buf, sizeof buf, &size) == 0;
    }
    CHECK_EQ(found, 1000);
    CHECK_EQ(rmq_store_close(s), 0);
    CHECK(!exists("prealloc")); /* the unused ready segment went with the thread */
    CHECK_EQ(count_files("commitlog"), st.commitlog_segments);
}

static void test_close_while_making(void) {
    /* 256 MiB segments: the thread is still pre-faulting when close comes */
    rmq_store_config_t c;
    small_config(&c, 4096);
    c.mapped_file_size_commitlog = 256LL << 20;
    c.warm_mapped_file = 1;
    for (int i = 0; i < 3; i++) {
        rmq_store_t *s = open_root(root, &c, NULL);
        if (i == 1) fill(s, 10); /* the first segment taken, the second in the making */
        CHECK_EQ(rmq_store_close(s), 0);
        CHECK(!exists("prealloc"));
        CHECK_EQ(count_files("commitlog"), i >= 1 ? 1 : 0);
    }
}

static void test_recovery_ignores_precreated_segments(void) {
    rmq_store_config_t c;
    small_config(&c, 4096);
    rmq_recovery_report_t rep;
    rmq_store_t *s = open_root(root, &c, &rep);
    rmq_put_result_t last = fill(s, 100);
    int64_t end = last.phys_offset + last.size;
    CHECK_EQ(rmq_store_close(s), 0);
    int64_t next = end - end % SEG + SEG;
    char name[64];
    /* as after a crash: a half-made segment in the scratch directory, an unwritten segment at
     * the end of the log (rolled to, nothing written yet; Java brokers leave these too) */
    char scratch[1100];
    snprintf(scratch, sizeof scratch, "%s/prealloc", root);
    REQUIRE(rmq_mkdirs(scratch) == 0);
    snprintf(name, sizeof name, "prealloc/%020lld", (long long)(next + SEG));
    touch(name, 4096);
    snprintf(name, sizeof name, "commitlog/%020lld", (long long)next);
    touch(name, SEG);
    touch("abort", 0);
    s = open_root(root, &c, &rep);
    CHECK_EQ(rep.clean_shutdown, 0);
    CHECK_EQ(rep.truncated_at, -1);
    CHECK_EQ(rep.bytes_truncated, 0);
    CHECK_EQ(rep.records_truncated, 0);
    CHECK_EQ(rep.max_phys_offset, end);
    CHECK(!exists(name)); /* the unwritten trailing segment was dropped */
    rmq_buf_t t = {"Pre", 3};
    CHECK_EQ(rmq_store_max_offset(s, t, 0), 100);
    rmq_put_result_t r = fill(s, 1);
    CHECK_EQ(r.phys_offset, end);
    CHECK_EQ(r.queue_offset, 100);
    CHECK_EQ(rmq_store_close(s), 0);
    CHECK(!exists("prealloc"));
}

static void test_stale_ready_segment_is_removed(void) {
    rmq_mq_t mq;
    char dir[1100], scratch[1100], err[1200];
    snprintf(dir, sizeof dir, "%s/q", root);
    snprintf(scratch, sizeof scratch, "%s/scratch", root);
    REQUIRE(rmq_mq_open(&mq, dir, SEG, RMQ_MQ_PREALLOCATE, err, sizeof err) == 0);
    rmq_prealloc_t a;
    REQUIRE(rmq_prealloc_start(&a, &mq, scratch, 1, 0) == 0);
    rmq_prealloc_request(&a, SEG);
    CHECK(wait_ready(&a, SEG));
    CHECK(rmq_prealloc_take(&a, 0) == NULL); /* made for SEG, asked for 0: removed */
    CHECK_EQ(count_files("scratch"), 0);
    rmq_prealloc_request(&a, 0);
    CHECK(wait_ready(&a, 0));
    rmq_seg_t *g = rmq_prealloc_take(&a, 0);
    REQUIRE(g != NULL);
    CHECK_EQ(g->base, 0);
    CHECK_EQ(rmq_mq_adopt(&mq, g, err, sizeof err), 0);
    CHECK(exists("q/00000000000000000000"));
    rmq_prealloc_request(&a, 3 * SEG);
    CHECK(wait_ready(&a, 3 * SEG));
    g = rmq_prealloc_take(&a, 3 * SEG);
    REQUIRE(g != NULL);
    CHECK_EQ(rmq_mq_adopt(&mq, g, err, sizeof err), RMQ_EINVAL); /* not the next segment */
    CHECK(strstr(err, "not the next segment") != NULL);
    rmq_prealloc_discard(g);
    CHECK_EQ(count_files("scratch"), 0);
    rmq_prealloc_stop(&a);
    CHECK_EQ(rmq_mq_count(&mq), 1);
    rmq_mq_close(&mq);
}

/* 1 if page `page` of seg is in the page cache */
static int resident(rmq_seg_t *seg, int64_t page) {
    unsigned char v = 0;
    long ps = sysconf(_SC_PAGESIZE);
    REQUIRE(mincore(seg->map + page * ps, (size_t)ps, &v) == 0);
    return v & 1;
}

/* A queue in root/sub with one segment of `size` bytes: that segment (one reference). */
static rmq_seg_t *one_segment(rmq_mq_t *mq, const char *sub, int64_t size) {
    char dir[1100], err[256];
    snprintf(dir, sizeof dir, "%s/%s", root, sub);
    REQUIRE(rmq_mq_open(mq, dir, size, RMQ_MQ_PREALLOCATE, err, sizeof err) == 0);
    REQUIRE(rmq_mq_create(mq, 0, err, sizeof err) == 0);
    rmq_seg_t *seg = rmq_mq_last(mq);
    REQUIRE(seg != NULL);
    return seg;
}

static void test_populate_write_keeps_contents(void) {
    /* what the background threads do ahead of the writer: pages get mapped, bytes stay as
     * they were. 32 MiB: the mmap read-ahead of the first write (up to read_ahead_kb, 8 MiB
     * here) stays far from the page checked */
    const int64_t size = 32 << 20, far = (24 << 20);
    rmq_mq_t mq;
    rmq_seg_t *seg = one_segment(&mq, "pw", size);
    long ps = sysconf(_SC_PAGESIZE);
    memset(seg->map, 'w', 10000); /* a partly written page at 8192..10000 */
    CHECK(!resident(seg, far / ps));
    int rc = rmq_populate_write(seg->map, seg->size, 10000, size + 4096); /* past the end: clamped */
    if (rc == EINVAL) {
        fprintf(stderr, "MADV_POPULATE_WRITE not supported here; skipped\n");
    } else {
        CHECK_EQ(rc, 0);
        CHECK(resident(seg, far / ps));
        CHECK(resident(seg, size / ps - 1));
        int all = 1; /* every page, across the RMQ_POPULATE_STEP steps and the short last one */
        for (int64_t page = 10000 / ps; page < size / ps; page++) all &= resident(seg, page);
        CHECK(all);
        int same = 1;
        for (int i = 0; i < 10000; i++) same &= seg->map[i] == 'w';
        for (int64_t i = 10000; i < size; i++) same &= seg->map[i] == 0;
        CHECK(same);
    }
    CHECK_EQ(rmq_populate_write(seg->map, seg->size, size, 2 * size), 0); /* nothing to do */
    if (rc != EINVAL) { /* the window over the last segment: clamped to it, never shrinking */
        CHECK_EQ(rmq_mq_populate_ahead(&mq, 10000, 0, 1 << 20), 10000 + (1 << 20));
        CHECK_EQ(rmq_mq_populate_ahead(&mq, 20000, 10000 + (1 << 20), 4096),
                 10000 + (1 << 20));
        CHECK_EQ(rmq_mq_populate_ahead(&mq, size - 100, 0, 1 << 20), size);
    }
    rmq_seg_release(seg);
    rmq_mq_close(&mq);
}

/* Wait (bounded) until the thread's populated range reaches `to` and it has stopped asking. */
static int wait_populated(rmq_prealloc_t *a, int64_t to) {
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&a->mu);
        int ok = a->populated >= to && (a->pop_to <= a->populated || a->pop_to < 0);
        pthread_mutex_unlock(&a->mu);
        if (ok) return 1;
        usleep(1000);
    }
    return 0;
}

static int hook_calls;
static void count_hook(void *arg) { __atomic_add_fetch((int *)arg, 1, __ATOMIC_RELEASE); }

static void test_thread_maps_pages_ahead(void) {
    /* the segment thread maps what it is asked to (clamped to the last segment) and the first
     * pages of each segment it makes; nothing far beyond (a fault's read-ahead may map up to
     * read_ahead_kb more, 8 MiB here: 64 MiB segments) */
    const int64_t size = 64 << 20, mib = 1 << 20;
    char scratch[1100], err[256];
    snprintf(scratch, sizeof scratch, "%s/scratch", root);
    rmq_mq_t mq;
    rmq_seg_t *seg = one_segment(&mq, "pa", size);
    long ps = sysconf(_SC_PAGESIZE);
    if (rmq_populate_write(seg->map, seg->size, 0, ps) == EINVAL) {
        fprintf(stderr, "MADV_POPULATE_WRITE not supported here; skipped\n");
        rmq_seg_release(seg);
        rmq_mq_close(&mq);
        return;
    }
    rmq_prealloc_t a;
    REQUIRE(rmq_prealloc_start(&a, &mq, scratch, 0, 8 * mib) == 0);
    hook_calls = 0;
    rmq_prealloc_set_hook(&a, count_hook, &hook_calls);
    CHECK_EQ(rmq_prealloc_populated(&a), 0);
    rmq_prealloc_populate(&a, 4 * mib, 20 * mib); /* several steps */
    CHECK(wait_populated(&a, 20 * mib));
    for (int i = 0; i < 5000 && __atomic_load_n(&hook_calls, __ATOMIC_ACQUIRE) < 2; i++)
        usleep(1000); /* the hook runs just after each step is published */
    CHECK(__atomic_load_n(&hook_calls, __ATOMIC_ACQUIRE) >= 2); /* 16 MiB in 8 MiB steps */
    CHECK_EQ(rmq_prealloc_populated(&a), 20 * mib);
    CHECK(resident(seg, 4 * mib / ps) && resident(seg, 20 * mib / ps - 1));
    CHECK(!resident(seg, 48 * mib / ps));
    rmq_prealloc_populate(&a, 2 * mib, 100 * mib); /* past the segment: up to its end, then no more */
    CHECK(wait_populated(&a, size));
    CHECK_EQ(rmq_prealloc_populated(&a), size);
    CHECK_EQ(a.pop_to, -1);
    CHECK(resident(seg, size / ps - 1));
    rmq_prealloc_request(&a, size); /* the next segment: its first 8 MiB mapped */
    CHECK(wait_ready(&a, size));
    rmq_seg_t *next = rmq_prealloc_take(&a, size);
    REQUIRE(next != NULL);
    CHECK(resident(next, 0) && resident(next, 8 * mib / ps - 1));
    CHECK(!resident(next, 40 * mib / ps));
    CHECK_EQ(rmq_mq_adopt(&mq, next, err, sizeof err), 0);
    rmq_seg_release(seg);
    rmq_prealloc_stop(&a);
    rmq_mq_close(&mq);
}

static int cq_resident(rmq_cq_t *cq, int64_t pos) {
    rmq_seg_t *seg = rmq_mq_find(&cq->mq, pos);
    REQUIRE(seg != NULL);
    int r = resident(seg, (pos - seg->base) / sysconf(_SC_PAGESIZE));
    rmq_seg_release(seg);
    return r;
}

static void cq_fill(rmq_cq_t *cq, int64_t to_bytes) {
    char err[512];
    for (int64_t off = cq->max_off; off * RMQ_CQ_UNIT < to_bytes; off++)
        REQUIRE(rmq_cq_put(cq, off, off * 100, 100, 7, err, sizeof err) == 0);
}

static void test_cq_window_keeps_the_writers_rate(void) {
    /* the window is twice what the writer wrote since the last call: a steady writer keeps
     * finding its pages mapped, call after call (a window sized by how far the writer had
     * gone past the mapped end shrank back to 64 KiB the call after it was big enough) */
    const int64_t mib = 1 << 20;
    char err[512];
    rmq_cq_t cq;
    memset(&cq, 0, sizeof cq);
    REQUIRE(rmq_cq_open(&cq, root, "T", 1, 0, 300000, err, sizeof err) == 0); /* 6 MB files */
    /* cq.populated is where the mapped window ends (residency alone would not tell: a fault's
     * read-ahead brings read_ahead_kb of pages in too) */
    cq_fill(&cq, 64 << 10);
    rmq_seg_t *seg = rmq_mq_find(&cq.mq, 0);
    REQUIRE(seg != NULL);
    int supported = rmq_populate_write(seg->map, seg->size, 0, 4096) != EINVAL; /* written */
    rmq_seg_release(seg);
    if (!supported) {
        fprintf(stderr, "MADV_POPULATE_WRITE not supported here; skipped\n");
        rmq_cq_close(&cq);
        return;
    }
    rmq_cq_populate_ahead(&cq);
    cq_fill(&cq, 1 * mib);
    rmq_cq_populate_ahead(&cq);   /* wrote ~1 MiB since: ~2 MiB ahead */
    CHECK(cq.populated >= 2 * mib + 3 * mib / 4 && cq.populated <= 3 * mib);
    CHECK(cq_resident(&cq, 2 * mib + 3 * mib / 4 - 8192));
    cq_fill(&cq, 2 * mib);
    rmq_cq_populate_ahead(&cq);   /* 1 MiB more: mapped to 4 MiB, not 64 KiB past 2 */
    CHECK(cq.populated >= 4 * mib && cq.populated <= 4 * mib + (64 << 10));
    CHECK(cq_resident(&cq, 4 * mib - 8192));
    int64_t was = cq.populated;
    rmq_cq_populate_ahead(&cq);   /* the writer stopped: nothing more */
    CHECK_EQ(cq.populated, was);
    rmq_cq_close(&cq);
}

static void test_cq_first_entry_maps_its_page_only(void) {
    /* consume queue files are mapped RMQ_MAP_RANDOM: the fault of the first entry reads in
     * one page, where it read in read_ahead_kb around it (8 MiB on the benchmark VM: the
     * whole 6 MB file zeroed for one entry, for each of BenchmarkTest's 1,024 queues) */
    char err[512];
    rmq_cq_t cq;
    memset(&cq, 0, sizeof cq);
    REQUIRE(rmq_cq_open(&cq, root, "R", 1, 0, 300000, err, sizeof err) == 0); /* 6 MB files */
    REQUIRE(rmq_cq_put(&cq, 0, 0, 100, 7, err, sizeof err) == 0);
    rmq_seg_t *seg = rmq_mq_find(&cq.mq, 0);
    REQUIRE(seg != NULL);
    long ps = sysconf(_SC_PAGESIZE);
    int n = 0;
    for (int64_t p = 0; p < seg->size / ps; p++) n += resident(seg, p);
    CHECK(resident(seg, 0));
    CHECK(n <= 16); /* the page, or a fault-around of pages already cached: no read-ahead */
    rmq_seg_release(seg);
    rmq_cq_close(&cq);
}

int main(int argc, char **argv) {
    snprintf(root, sizeof root, "%s", argc > 1 ? argv[1] : "/tmp/rmq-test-prealloc");
    RUN_IN(root, test_rolls_take_the_ready_segment);
    RUN_IN(root, test_close_while_making);
    RUN_IN(root, test_recovery_ignores_precreated_segments);
    RUN_IN(root, test_stale_ready_segment_is_removed);
    RUN_IN(root, test_populate_write_keeps_contents);
    RUN_IN(root, test_thread_maps_pages_ahead);
    RUN_IN(root, test_cq_window_keeps_the_writers_rate);
    RUN_IN(root, test_cq_first_entry_maps_its_page_only);
    rm_tree(root);
    CHECK_DONE();
}
