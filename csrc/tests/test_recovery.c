/* Recovery: torn tails are truncated and reported (records dropped counted), CQ and index
 * entries past the end dropped (new records are indexed at once), a deleted consumequeue/ or
 * index/ is rebuilt from the commitlog, a segment of the wrong size is named. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rmq/errors.h"
#include "testutil.h"

static char root[1024];

static rmq_store_t *open_store(rmq_recovery_report_t *rep) {
    rmq_store_config_t c;
    small_config(&c, 256);
    return open_root(root, &c, rep);
}

static rmq_put_result_t fill(rmq_store_t *s, int n) {
    char body[300];
    memset(body, 'r', sizeof body - 1);
    body[sizeof body - 1] = 0;
    rmq_put_result_t r = {0};
    for (int i = 0; i < n; i++) {
        rmq_msg_t m = test_msg("Rec", 0, body, "KEYS\x01k\x02");
        REQUIRE(rmq_store_put(s, &m, &r) == 0);
    }
    return r;
}

static void touch_abort(void) {
    char p[1100];
    snprintf(p, sizeof p, "%s/abort", root);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

static void garble(int64_t phys, int64_t at, int nbytes) {
    char p[1100];
    int64_t base = phys - phys % (64 * 1024);
    snprintf(p, sizeof p, "%s/commitlog/%020lld", root, (long long)base);
    FILE *f = fopen(p, "r+b");
    REQUIRE(f != NULL);
    fseek(f, (long)(phys - base + at), SEEK_SET);
    for (int i = 0; i < nbytes; i++) fputc(0xEE, f);
    fclose(f);
}

static void test_torn_tail(void) {
    rmq_recovery_report_t rep;
    rmq_store_t *s = open_store(&rep);
    CHECK_EQ(rep.clean_shutdown, 1);
    rmq_put_result_t last = fill(s, 500);
    CHECK_EQ(rmq_store_close(s), 0);
    garble(last.phys_offset, last.size - 10, 10); /* body CRC no longer matches */
    touch_abort();
    s = open_store(&rep);
    CHECK_EQ(rep.clean_shutdown, 0);
    CHECK_EQ(rep.truncated_at, last.phys_offset);
    CHECK_EQ(rep.bytes_truncated, last.size);
    CHECK_EQ(rep.cq_entries_truncated, 1);
    CHECK(strstr(rep.truncated_segment, "commitlog/") != NULL);
    rmq_buf_t t = {"Rec", 3};
    CHECK_EQ(rmq_store_max_offset(s, t, 0), 499);
    CHECK_EQ(rmq_store_max_phys_offset(s), last.phys_offset);
    CHECK_EQ(rmq_store_close(s), 0);
}

static void test_rebuild_dirs(void) {
    rmq_recovery_report_t rep;
    rmq_store_t *s = open_store(&rep);
    fill(s, 300);
    rmq_buf_t t = {"Rec", 3}, k = {"k", 1};
    int64_t max = rmq_store_max_offset(s, t, 0);
    CHECK_EQ(rmq_store_close(s), 0);
    char p[1100];
    snprintf(p, sizeof p, "%s/consumequeue", root);
    rm_tree(p);
    snprintf(p, sizeof p, "%s/index", root);
    rm_tree(p);
    s = open_store(&rep);
    CHECK_EQ(rep.cq_entries_rebuilt, max);
    CHECK_EQ(rep.index_entries_rebuilt, max);
    CHECK_EQ(rmq_store_max_offset(s, t, 0), max);
    int64_t phys[8];
    size_t n = 0;
    CHECK_EQ(rmq_store_query_key(s, t, k, 0, INT64_MAX, phys, 8, &n), 0);
    CHECK_EQ(n, 8);
    CHECK_EQ(rmq_store_close(s), 0);
    s = open_store(&rep); /* a clean restart rebuilds nothing */
    CHECK_EQ(rep.cq_entries_rebuilt, 0);
    CHECK_EQ(rep.index_entries_rebuilt, 0);
    CHECK_EQ(rmq_store_close(s), 0);
}

static int64_t be64_at(const char *path, long pos) {
    uint8_t b[8];
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    fseek(f, pos, SEEK_SET);
    REQUIRE(fread(b, 1, 8, f) == 8);
    fclose(f);
    int64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
    return v;
}

static void test_truncation_cuts_the_index(void) {
    rmq_recovery_report_t rep;
    rmq_store_t *s = open_store(&rep);
    char key[32], props[48];
    rmq_put_result_t r, cut = {0};
    for (int i = 0; i < 60; i++) {
        snprintf(props, sizeof props, "KEYS\x01k%d\x02", i);
        rmq_msg_t m = test_msg("Ix", 0, "old-record-with-some-body-bytes", props);
        REQUIRE(rmq_store_put(s, &m, &r) == 0);
        if (i == 40) cut = r;
    }
    CHECK_EQ(rmq_store_close(s), 0);
    garble(cut.phys_offset, 90, 4); /* record 40's body fails its CRC: 20 records go */
    touch_abort();
    s = open_store(&rep);
    CHECK_EQ(rep.truncated_at, cut.phys_offset);
    CHECK_EQ(rep.records_truncated, 20);
    CHECK_EQ(rep.cq_entries_truncated, 20);
    CHECK_EQ(rep.index_entries_truncated, 20);
    char ixdir[1100], ixfile[1200];
    snprintf(ixdir, sizeof ixdir, "%s/index", root);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "ls '%s' | head -1", ixdir);
    FILE *ls = popen(cmd, "r");
    REQUIRE(ls != NULL);
    char name[64] = {0};
    REQUIRE(fscanf(ls, "%63s", name) == 1);
    pclose(ls);
    snprintf(ixfile, sizeof ixfile, "%s/%s", ixdir, name);
    /* new records land where the dropped ones were: every one is indexed at once */
    int64_t first_new = -1;
    for (int i = 0; i < 30; i++) {
        snprintf(props, sizeof props, "KEYS\x01n%d\x02", i);
        rmq_msg_t m = test_msg("Ix", 0, "new", props);
        REQUIRE(rmq_store_put(s, &m, &r) == 0);
        if (i == 0) first_new = r.phys_offset;
        int64_t hits[4];
        size_t n = 0;
        snprintf(key, sizeof key, "n%d", i);
        CHECK_EQ(rmq_store_query_key(s, (rmq_buf_t){"Ix", 2}, (rmq_buf_t){key, strlen(key)}, 0,
                                     INT64_MAX, hits, 4, &n), 0);
        CHECK_EQ(n, 1);
        if (n == 1) CHECK_EQ(hits[0], r.phys_offset);
    }
    CHECK_EQ(first_new, cut.phys_offset);
    CHECK_EQ(rmq_store_close(s), 0);
    /* header: endPhyOffset is the newest entry; 40 old + 30 new entries (+ the unused 0) */
    CHECK_EQ(be64_at(ixfile, 24), r.phys_offset);
    CHECK_EQ(be64_at(ixfile, 32) & 0xFFFFFFFF, 71);
}

static void test_wrong_segment_size_is_named(void) {
    rmq_recovery_report_t rep;
    rmq_store_t *s = open_store(&rep);
    fill(s, 300); /* two segments */
    CHECK_EQ(rmq_store_close(s), 0);
    char p[1100];
    snprintf(p, sizeof p, "%s/commitlog/%020d", root, 0);
    REQUIRE(truncate(p, 1000) == 0);
    rmq_store_config_t c;
    small_config(&c, 256);
    CHECK_EQ(rmq_store_open(root, &c, &s, &rep), RMQ_ECORRUPT);
    CHECK(strstr(rep.error, "commitlog/00000000000000000000: size 1000 bytes, expected 65536") !=
          NULL);
}

int main(int argc, char **argv) {
    snprintf(root, sizeof root, "%s", argc > 1 ? argv[1] : "/tmp/rmq-test-recovery");
    RUN_IN(root, test_torn_tail);
    RUN_IN(root, test_rebuild_dirs);
    RUN_IN(root, test_truncation_cuts_the_index);
    RUN_IN(root, test_wrong_segment_size_is_named);
    rm_tree(root);
    CHECK_DONE();
}
