/* Store: appends across segment rolls, consume queues, gets, index, batches, retention,
 * ENOSPC at a roll (fault point). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rmq/errors.h"
#include "rmq/mapped.h"
#include "rmq/record.h"
#include "testutil.h"

static char root[1024];

static rmq_store_t *open_small(rmq_recovery_report_t *rep) {
    rmq_store_config_t c;
    small_config(&c, 200);
    c.flush_interval_commitlog_ms = 20;
    c.flush_interval_cq_ms = 20;
    return open_root(root, &c, rep);
}

static int count_files(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | wc -l", dir);
    FILE *f = popen(cmd, "r");
    int n = 0;
    if (f) { if (fscanf(f, "%d", &n) != 1) n = -1; pclose(f); }
    return n;
}

static void test_rolls_and_reads(void) {
    rmq_store_t *s = open_small(NULL);
    char body[600];
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = 0;
    rmq_put_result_t r, first;
    int64_t last_end = 0;
    for (int i = 0; i < 500; i++) {
        rmq_msg_t m = test_msg("Roll", i % 2, body, i % 5 ? "TAGS\x01TagA\x02" : "TAGS\x01TagB\x02");
        REQUIRE(rmq_store_put(s, &m, &r) == 0);
        if (i == 0) first = r;
        CHECK_EQ(r.queue_offset, i / 2);
        /* a record never spans segments; a roll skips to the next segment start */
        CHECK_EQ(r.phys_offset / (64 * 1024), (r.phys_offset + r.size - 1) / (64 * 1024));
        CHECK(r.phys_offset == last_end || r.phys_offset % (64 * 1024) == 0);
        last_end = r.phys_offset + r.size;
    }
    CHECK_EQ(first.phys_offset, 0);
    rmq_store_stats_t st;
    rmq_store_stats(s, &st);
    CHECK(st.commitlog_segments >= 4);
    /* the byte after the last record of segment 0 is a BLANK */
    uint8_t rec[1024];
    int32_t size;
    CHECK_EQ(rmq_store_read_at(s, 0, rec, sizeof rec, &size), 0);
    CHECK_EQ(size, first.size);
    CHECK_EQ(rmq_store_read_at(s, 1, rec, sizeof rec, &size), RMQ_ENOTFOUND);
    CHECK_EQ(rmq_store_read_at(s, 0, rec, 10, &size), RMQ_EBUFSMALL);
    rmq_buf_t t = {"Roll", 4};
    CHECK_EQ(rmq_store_max_offset(s, t, 0), 250);
    CHECK_EQ(rmq_store_min_offset(s, t, 1), 0);

    static uint8_t out[256 * 1024];
    rmq_get_req_t q = {0, 32, 0, NULL, 0};
    rmq_get_result_t g;
    CHECK_EQ(rmq_store_get(s, t, 0, &q, out, sizeof out, &g), 0);
    CHECK_EQ(g.status, RMQ_GET_FOUND);
    CHECK_EQ(g.msg_count, 32);
    CHECK_EQ(g.next_begin_offset, 32);
    int64_t tagb = rmq_java_hash("TagB", 4);
    rmq_get_req_t qb = {0, 32, 0, &tagb, 1};
    CHECK_EQ(rmq_store_get(s, t, 0, &qb, out, sizeof out, &g), 0);
    CHECK_EQ(g.status, RMQ_GET_FOUND);
    /* queue 0 holds i = 0,2,4..; TagB when i % 10 == 0; one read stays inside one CQ file
     * (100 entries here), as RocketMQ's does */
    CHECK_EQ(g.msg_count, 20);
    CHECK_EQ(g.next_begin_offset, 100);
    q.offset = 250;
    rmq_store_get(s, t, 0, &q, out, sizeof out, &g);
    CHECK_EQ(g.status, RMQ_GET_OFFSET_OVERFLOW_ONE);
    q.offset = 999;
    rmq_store_get(s, t, 0, &q, out, sizeof out, &g);
    CHECK_EQ(g.status, RMQ_GET_OFFSET_OVERFLOW_BADLY);
    CHECK_EQ(g.next_begin_offset, 0); /* min == 0: corrected to min */
    rmq_buf_t none = {"None", 4};
    q.offset = 0;
    rmq_store_get(s, none, 0, &q, out, sizeof out, &g);
    CHECK_EQ(g.status, RMQ_GET_NO_MESSAGE_IN_QUEUE);
    CHECK_EQ(rmq_store_close(s), 0);
}

static void test_index_and_batch(void) {
    rmq_store_t *s = open_small(NULL);
    rmq_put_result_t r;
    char props[128];
    for (int i = 0; i < 450; i++) { /* > max_index_num entries: index files roll */
        snprintf(props, sizeof props, "KEYS\x01key%d shared\x02UNIQ_KEY\x01U%d\x02", i, i);
        rmq_msg_t m = test_msg("Idx", 0, "x", props);
        REQUIRE(rmq_store_put(s, &m, &r) == 0);
    }
    rmq_store_stats_t st;
    rmq_store_stats(s, &st);
    CHECK(st.index_files >= 4);
    int64_t phys[64];
    size_t n;
    rmq_buf_t t = {"Idx", 3}, k = {"key7", 4}, sh = {"shared", 6}, u = {"U449", 4};
    CHECK_EQ(rmq_store_query_key(s, t, k, 0, INT64_MAX, phys, 64, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(rmq_store_query_key(s, t, sh, 0, INT64_MAX, phys, 64, &n), 0);
    CHECK_EQ(n, 64);
    for (size_t i = 1; i < n; i++) CHECK(phys[i] < phys[i - 1]); /* newest first */
    CHECK_EQ(rmq_store_query_key(s, t, u, 0, INT64_MAX, phys, 64, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(phys[0], r.phys_offset);
    CHECK_EQ(rmq_store_query_key(s, t, u, 0, 1000, phys, 64, &n), 0); /* time window */
    CHECK_EQ(n, 0);

    /* batch: two items, extra properties appended */
    uint8_t batch[256], *p = batch;
    const char *bodies[2] = {"one", "two"}, *bprops[2] = {"UNIQ_KEY\x01" "B1\x02", "UNIQ_KEY\x01" "B2"};
    for (int i = 0; i < 2; i++) {
        int32_t bl = (int32_t)strlen(bodies[i]), pl = (int32_t)strlen(bprops[i]);
        rmq_put32(p, (uint32_t)(22 + bl + pl)); rmq_put32(p + 4, 0); rmq_put32(p + 8, 0);
        rmq_put32(p + 12, 5); rmq_put32(p + 16, (uint32_t)bl);
        memcpy(p + 20, bodies[i], (size_t)bl);
        p[20 + bl] = 0; p[21 + bl] = (uint8_t)pl;
        memcpy(p + 22 + bl, bprops[i], (size_t)pl);
        p += 22 + bl + pl;
    }
    rmq_msg_t tm = test_msg("Bat", 1, "", NULL);
    rmq_buf_t bb = {batch, (size_t)(p - batch)}, extra = {"CLUSTER\x01" "C\x02", 10};
    rmq_put_result_t res[4];
    size_t got;
    CHECK_EQ(rmq_store_put_batch(s, &tm, bb, extra, res, 4, &got), 0);
    CHECK_EQ(got, 2);
    CHECK_EQ(res[0].queue_offset, 0);
    CHECK_EQ(res[1].queue_offset, 1);
    CHECK_EQ(res[1].phys_offset, res[0].phys_offset + res[0].size);
    uint8_t rec[512];
    int32_t size;
    rmq_rec_t pr;
    CHECK_EQ(rmq_store_read_at(s, res[1].phys_offset, rec, sizeof rec, &size), 0);
    CHECK(rmq_rec_parse(rec, (size_t)size, 1, &pr) > 0);
    CHECK_EQ(pr.flag, 5);
    CHECK(pr.props_len == 22 && memcmp(pr.props, "UNIQ_KEY\x01" "B2\x02" "CLUSTER\x01" "C\x02", 22) == 0);
    bb.len -= 3; /* malformed: truncated item */
    CHECK_EQ(rmq_store_put_batch(s, &tm, bb, extra, res, 4, &got), RMQ_ECORRUPT);
    CHECK_EQ(rmq_store_put_batch(s, &tm, (rmq_buf_t){batch, (size_t)(p - batch)}, extra, res, 1,
                                 &got), RMQ_EBUFSMALL);
    rmq_buf_t bt = {"Bat", 3};
    CHECK_EQ(rmq_store_max_offset(s, bt, 1), 2); /* nothing stored by the failed calls */
    CHECK_EQ(rmq_store_close(s), 0);
}

static void test_enospc_and_retention(void) {
    rmq_store_t *s = open_small(NULL);
    char body[1000];
    memset(body, 'r', sizeof body - 1);
    body[sizeof body - 1] = 0;
    rmq_put_result_t r;
    int i = 0, rc = 0;
    rmq_fault_create_errno = ENOSPC;
    for (i = 0; i < 200; i++) {
        rmq_msg_t m = test_msg("Ret", 0, body, NULL);
        if ((rc = rmq_store_put(s, &m, &r)) != 0) break;
    }
    CHECK_EQ(rc, ENOSPC); /* the very first put needs a queue file (created before the log) */
    CHECK(strstr(rmq_store_last_error(s), "consumequeue/Ret/0/00000000000000000000") != NULL);
    CHECK_EQ(rmq_store_max_phys_offset(s), 0);
    rmq_fault_create_errno = 0;
    for (i = 0; i < 300; i++) {
        rmq_msg_t m = test_msg("Ret", 0, body, NULL);
        REQUIRE(rmq_store_put(s, &m, &r) == 0);
        if (i == 100) { /* a full disk at the next roll: refused, nothing damaged */
            rmq_fault_create_errno = ENOSPC;
            int64_t before = rmq_store_max_phys_offset(s);
            for (int j = 0; j < 100; j++) {
                rc = rmq_store_put(s, &m, &r);
                if (rc) break;
                before = rmq_store_max_phys_offset(s);
            }
            CHECK_EQ(rc, ENOSPC);
            CHECK_EQ(rmq_store_max_phys_offset(s), before);
            rmq_fault_create_errno = 0;
        }
    }
    rmq_buf_t t = {"Ret", 3};
    int64_t count = rmq_store_max_offset(s, t, 0);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/commitlog", root);
    int segs = count_files(dir);
    CHECK(segs >= 5);
    int deleted = 0, total = 0;
    for (int k = 0; k < segs; k++) {
        CHECK_EQ(rmq_store_delete_expired(s, rmq_store_max_phys_offset(s) * 0 + 4102444800000LL,
                                          0, 0, 1, &deleted), 0);
        total += deleted;
    }
    CHECK_EQ(total, segs - 1); /* never the segment being written */
    CHECK_EQ(count_files(dir), 1);
    CHECK(rmq_store_min_offset(s, t, 0) > 0);
    CHECK_EQ(rmq_store_max_offset(s, t, 0), count);
    snprintf(dir, sizeof dir, "%s/consumequeue/Ret/0", root);
    CHECK(count_files(dir) <= 2);
    rmq_msg_t m = test_msg("Ret", 0, body, NULL);
    CHECK_EQ(rmq_store_put(s, &m, &r), 0);
    CHECK_EQ(r.queue_offset, count);
    CHECK_EQ(rmq_store_close(s), 0);
}

static void test_replication(void) {
    char master_root[1100], slave_root[1100];
    snprintf(master_root, sizeof master_root, "%s-master", root);
    snprintf(slave_root, sizeof slave_root, "%s-slave", root);
    rm_tree(master_root);
    rm_tree(slave_root);
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", root);
    snprintf(root, sizeof root, "%s", master_root);
    rmq_store_t *m = open_small(NULL);
    snprintf(root, sizeof root, "%s", slave_root);
    rmq_store_t *sl = open_small(NULL);
    snprintf(root, sizeof root, "%s", saved);
    char body[700];
    memset(body, 'p', sizeof body - 1);
    body[sizeof body - 1] = 0;
    rmq_put_result_t r;
    for (int i = 0; i < 300; i++) {
        rmq_msg_t msg1 = test_msg("Rep", i % 3, body, "TAGS\x01TagA\x02KEYS\x01rk\x02");
        REQUIRE(rmq_store_put(m, &msg1, &r) == 0);
    }
    /* ship in odd-sized chunks that cut records, as the HA stream may */
    static uint8_t chunk[1000];
    int64_t pos = 0;
    size_t n = 0;
    CHECK_EQ(rmq_store_append_raw(sl, 5, (rmq_buf_t){chunk, 0}), RMQ_ERANGE);
    for (int guard = 0; guard < 100000; guard++) {
        REQUIRE(rmq_store_read_raw(m, pos, chunk, 997, &n) == 0);
        if (n == 0) break;
        REQUIRE(rmq_store_append_raw(sl, pos, (rmq_buf_t){chunk, n}) == 0);
        pos += (int64_t)n;
    }
    CHECK_EQ(rmq_store_max_phys_offset(sl), rmq_store_max_phys_offset(m));
    rmq_buf_t t = {"Rep", 3};
    for (int q = 0; q < 3; q++) CHECK_EQ(rmq_store_max_offset(sl, t, q), 100);
    static uint8_t a[64 * 1024], b[64 * 1024];
    rmq_get_req_t req = {37, 8, 0, NULL, 0};
    rmq_get_result_t ga, gb;
    rmq_store_get(m, t, 1, &req, a, sizeof a, &ga);
    rmq_store_get(sl, t, 1, &req, b, sizeof b, &gb);
    CHECK_EQ(gb.status, RMQ_GET_FOUND);
    CHECK(ga.bytes == gb.bytes && memcmp(a, b, ga.bytes) == 0);
    int64_t phys[4];
    size_t found;
    rmq_buf_t key = {"rk", 2};
    CHECK_EQ(rmq_store_query_key(sl, t, key, 0, INT64_MAX, phys, 4, &found), 0);
    CHECK_EQ(found, 4);
    CHECK_EQ(rmq_store_append_raw(sl, pos + 10, (rmq_buf_t){chunk, 1}), RMQ_ERANGE);
    CHECK_EQ(rmq_store_close(m), 0);
    CHECK_EQ(rmq_store_close(sl), 0);
    rm_tree(master_root);
    rm_tree(slave_root);
}

int main(int argc, char **argv) {
    snprintf(root, sizeof root, "%s", argc > 1 ? argv[1] : "/tmp/rmq-test-store");
    RUN_IN(root, test_rolls_and_reads);
    RUN_IN(root, test_index_and_batch);
    RUN_IN(root, test_enospc_and_retention);
    RUN_IN(root, test_replication);
    CHECK_DONE();
}
