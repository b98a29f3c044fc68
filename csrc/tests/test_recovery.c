/* Recovery: torn tails are truncated and reported, CQ entries past the end dropped, a deleted
 * consumequeue/ or index/ is rebuilt from the commitlog. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "rmq/errors.h"
#include "rmq/store.h"

static char root[1024];

static rmq_store_t *open_store(rmq_recovery_report_t *rep) {
    rmq_store_config_t c;
    rmq_store_config_default(&c);
    c.mapped_file_size_commitlog = 64 * 1024;
    c.cq_entries_per_file = 100;
    c.max_hash_slot_num = 64;
    c.max_index_num = 256;
    c.preallocate = 0;
    rmq_store_t *s = NULL;
    REQUIRE(rmq_store_open(root, &c, &s, rep) == 0);
    return s;
}

static rmq_put_result_t fill(rmq_store_t *s, int n) {
    char body[300];
    memset(body, 'r', sizeof body - 1);
    body[sizeof body - 1] = 0;
    rmq_put_result_t r = {0};
    for (int i = 0; i < n; i++) {
        rmq_msg_t m;
        memset(&m, 0, sizeof m);
        m.topic.ptr = "Rec"; m.topic.len = 3;
        m.body.ptr = body; m.body.len = strlen(body);
        m.properties.ptr = "KEYS\x01k\x02"; m.properties.len = 7;
        m.born_host[0] = 127; m.born_host[3] = 1;
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

int main(int argc, char **argv) {
    snprintf(root, sizeof root, "%s", argc > 1 ? argv[1] : "/tmp/rmq-test-recovery");
    rm_tree(root);
    test_torn_tail();
    rm_tree(root);
    test_rebuild_dirs();
    rm_tree(root);
    CHECK_DONE();
}
