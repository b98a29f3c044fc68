/* Full disk: every file a put will write (consume-queue file, index file, commitlog segment)
 * is created with its blocks reserved BEFORE the record is written, so a failed reservation
 * refuses the put with nothing stored; a dispatch that fails after the record was stored is
 * retried before the next put, never skipped. Fault points stand in for ENOSPC. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rmq/errors.h"
#include "rmq/mapped.h"
#include "testutil.h"

extern int rmq_fault_dispatch_errno;

static char root[1024];

static int put(rmq_store_t *s, const char *topic, int qid, const char *body, const char *props,
               rmq_put_result_t *r) {
    rmq_msg_t m = test_msg(topic, qid, body, props);
    return rmq_store_put(s, &m, r);
}

static void test_cq_and_commitlog_rolls(void) {
    rmq_store_config_t c;
    small_config(&c, 10000);
    c.preallocate = 1;
    rmq_store_t *s = open_root(root, &c, NULL);
    rmq_put_result_t r;
    rmq_buf_t t = {"Res", 3};
    for (int i = 0; i < 100; i++) REQUIRE(put(s, "Res", 0, "small", NULL, &r) == 0);
    /* the 101st entry needs the queue's second file */
    int64_t end = rmq_store_max_phys_offset(s);
    rmq_fault_reserve_errno = ENOSPC;
    CHECK_EQ(put(s, "Res", 0, "small", NULL, &r), ENOSPC);
    CHECK(strstr(rmq_store_last_error(s), "reserve 2000 bytes for ") != NULL);
    CHECK(strstr(rmq_store_last_error(s), "consumequeue/Res/0/00000000000000002000") != NULL);
    CHECK_EQ(rmq_store_max_phys_offset(s), end); /* nothing reached the commitlog */
    CHECK_EQ(rmq_store_max_offset(s, t, 0), 100);
    rmq_fault_reserve_errno = 0;
    CHECK_EQ(put(s, "Res", 0, "small", NULL, &r), 0);
    CHECK_EQ(r.queue_offset, 100);
    CHECK_EQ(r.phys_offset, end);

    /* commitlog roll: fill segment 0 through queue 1 (its file exists after the first put) */
    char body[1001];
    memset(body, 'x', 1000);
    body[1000] = 0;
    REQUIRE(put(s, "Res", 1, body, NULL, &r) == 0);
    int refused = 0;
    for (int i = 0; i < 80 && !refused; i++) {
        end = rmq_store_max_phys_offset(s);
        if (end + r.size + 8 > 64 * 1024) { /* the next put rolls */
            rmq_fault_reserve_errno = ENOSPC;
            CHECK_EQ(put(s, "Res", 1, body, NULL, &r), ENOSPC);
            CHECK(strstr(rmq_store_last_error(s), "commitlog/00000000000000065536") != NULL);
            CHECK_EQ(rmq_store_max_phys_offset(s), end);
            rmq_fault_reserve_errno = 0;
            refused = 1;
        }
        REQUIRE(put(s, "Res", 1, body, NULL, &r) == 0);
    }
    CHECK(refused);
    CHECK_EQ(r.phys_offset, 64 * 1024); /* the retry rolled cleanly */
    CHECK_EQ(rmq_store_close(s), 0);
}

static void test_index_roll(void) {
    rmq_store_config_t c;
    small_config(&c, 20); /* 19 entries per index file */
    rmq_store_t *s = open_root(root, &c, NULL);
    rmq_put_result_t r;
    for (int i = 0; i < 9; i++) REQUIRE(put(s, "Ix", 0, "b", "KEYS\x01" "a b\x02", &r) == 0);
    int64_t end = rmq_store_max_phys_offset(s);
    rmq_fault_reserve_errno = ENOSPC;
    CHECK_EQ(put(s, "Ix", 0, "b", "KEYS\x01" "a last\x02", &r), ENOSPC);
    CHECK(strstr(rmq_store_last_error(s), "reserve 696 bytes for ") != NULL);
    CHECK(strstr(rmq_store_last_error(s), "/index/") != NULL);
    CHECK_EQ(rmq_store_max_phys_offset(s), end);
    rmq_fault_reserve_errno = 0;
    REQUIRE(put(s, "Ix", 0, "b", "KEYS\x01" "a last\x02", &r) == 0);
    int64_t hits[4];
    size_t n = 0;
    CHECK_EQ(rmq_store_query_key(s, (rmq_buf_t){"Ix", 2}, (rmq_buf_t){"last", 4}, 0, INT64_MAX,
                                 hits, 4, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(hits[0], r.phys_offset);
    CHECK_EQ(rmq_store_close(s), 0);
}

static void test_dispatch_failure_is_retried(void) {
    rmq_store_config_t c;
    small_config(&c, 256);
    rmq_store_t *s = open_root(root, &c, NULL);
    rmq_put_result_t r, stored;
    rmq_buf_t t = {"Dis", 3};
    REQUIRE(put(s, "Dis", 0, "one", NULL, &r) == 0);
    rmq_fault_dispatch_errno = ENOSPC;
    /* stored in the commitlog: the put succeeds, the queue does not show it yet */
    CHECK_EQ(put(s, "Dis", 0, "two", "KEYS\x01k2\x02", &stored), 0);
    CHECK_EQ(stored.queue_offset, 1);
    CHECK_EQ(rmq_store_max_offset(s, t, 0), 1);
    rmq_store_stats_t st;
    rmq_store_stats(s, &st);
    CHECK_EQ(st.dispatch_errors, 1);
    CHECK_EQ(st.dispatch_lag_bytes, stored.size);
    /* while it cannot be dispatched, new puts are refused (a queue offset is pending) */
    int64_t end = rmq_store_max_phys_offset(s);
    CHECK_EQ(put(s, "Dis", 0, "three", NULL, &r), ENOSPC);
    CHECK_EQ(rmq_store_max_phys_offset(s), end);
    rmq_fault_dispatch_errno = 0;
    CHECK_EQ(put(s, "Dis", 0, "three", NULL, &r), 0);
    CHECK_EQ(r.queue_offset, 2);
    CHECK_EQ(rmq_store_max_offset(s, t, 0), 3);
    CHECK_EQ(rmq_store_phys_of(s, t, 0, 1), stored.phys_offset);
    int64_t hits[2];
    size_t n = 0;
    CHECK_EQ(rmq_store_query_key(s, t, (rmq_buf_t){"k2", 2}, 0, INT64_MAX, hits, 2, &n), 0);
    CHECK_EQ(n, 1);
    rmq_store_stats(s, &st);
    CHECK_EQ(st.dispatch_lag_bytes, 0);

    /* a backlog with no later put: the flusher dispatches it within about a second */
    rmq_fault_dispatch_errno = ENOSPC;
    CHECK_EQ(put(s, "Dis", 0, "four", NULL, &r), 0);
    rmq_fault_dispatch_errno = 0;
    for (int i = 0; i < 40 && rmq_store_max_offset(s, t, 0) < 4; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(rmq_store_max_offset(s, t, 0), 4);
    CHECK_EQ(rmq_store_close(s), 0);
}

static void test_fallback_fills_holes_and_keeps_data(void) {
    char path[1100];
    REQUIRE(rmq_mkdirs(root) == 0);
    snprintf(path, sizeof path, "%s/sparse", root);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, 256 * 1024) == 0); /* a hole, with data in the middle */
    REQUIRE(pwrite(fd, "data", 4, 100 * 1024) == 4);
    struct stat st;
    REQUIRE(fstat(fd, &st) == 0);
    int sparse = (int64_t)st.st_blocks * 512 < 256 * 1024; /* the filesystem keeps holes */
    rmq_fault_no_fallocate = 1;
    CHECK_EQ(rmq_file_reserve(fd, 300 * 1024), 0); /* extends too */
    rmq_fault_no_fallocate = 0;
    REQUIRE(fstat(fd, &st) == 0);
    CHECK_EQ(st.st_size, 300 * 1024);
    if (sparse) CHECK((int64_t)st.st_blocks * 512 >= 300 * 1024); /* every block allocated */
    char got[4];
    CHECK_EQ(pread(fd, got, 4, 100 * 1024), 4);
    CHECK(memcmp(got, "data", 4) == 0);
    close(fd);
}

int main(int argc, char **argv) {
    snprintf(root, sizeof root, "%s", argc > 1 ? argv[1] : "/tmp/rmq-test-reserve");
    RUN_IN(root, test_cq_and_commitlog_rolls);
    RUN_IN(root, test_index_roll);
    RUN_IN(root, test_dispatch_failure_is_retried);
    RUN_IN(root, test_fallback_fills_holes_and_keeps_data);
    CHECK_DONE();
}
