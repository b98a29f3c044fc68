/* SYNC_FLUSH group commit from several threads: every put returns durable (flushed offset
 * covers it), offsets are consecutive per queue, nothing is lost. Half the threads append
 * without waiting and then wait with rmq_store_wait_durable, as the broker's group commit
 * thread does. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "rmq/errors.h"

#define THREADS 8
#define PER_THREAD 200

static rmq_store_t *store;
static int failures_in_threads;

static void *writer(void *arg) {
    int id = (int)(intptr_t)arg;
    char body[64];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(body, sizeof body, "t%d-%d", id, i);
        rmq_msg_t m = test_msg("Sync", id % 2, body, NULL);
        rmq_put_result_t r;
        int rc;
        if (id % 2) {
            rc = rmq_store_append(store, &m, &r);
            if (rc == 0) rc = rmq_store_wait_durable(store, r.phys_offset + r.size);
        } else {
            rc = rmq_store_put(store, &m, &r);
        }
        rmq_store_stats_t st;
        rmq_store_stats(store, &st);
        if (rc != 0 || st.flushed_phys_offset < r.phys_offset + r.size)
            __atomic_add_fetch(&failures_in_threads, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

int main(int argc, char **argv) {
    char root[1024];
    snprintf(root, sizeof root, "%s", argc > 1 ? argv[1] : "/tmp/rmq-test-flush");
    rm_tree(root);
    rmq_store_config_t c;
    small_config(&c, 256);
    c.mapped_file_size_commitlog = 256 * 1024;
    c.cq_entries_per_file = 1000;
    c.flush_disk_type = RMQ_FLUSH_SYNC;
    store = open_root(root, &c, NULL);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    CHECK_EQ(failures_in_threads, 0);
    rmq_buf_t t = {"Sync", 4};
    CHECK_EQ(rmq_store_max_offset(store, t, 0) + rmq_store_max_offset(store, t, 1),
             THREADS * PER_THREAD);
    rmq_store_stats_t st;
    rmq_store_stats(store, &st);
    CHECK_EQ(st.flushed_phys_offset, st.max_phys_offset);
    CHECK_EQ(st.put_count, THREADS * PER_THREAD);
    /* group commit: at least one msync, at most one per put; timed */
    CHECK(st.flush_count >= 1 && st.flush_count <= THREADS * PER_THREAD);
    CHECK(st.flush_ns_total > 0 && st.flush_ns_max > 0 && st.flush_ns_max <= st.flush_ns_total);
    CHECK_EQ(rmq_store_wait_durable(store, st.max_phys_offset), 0);  /* already: at once */
    CHECK_EQ(rmq_store_close(store), 0);
    rm_tree(root);
    /* ASYNC_FLUSH: an append is stored and readable; waiting for durability returns at once */
    c.flush_disk_type = RMQ_FLUSH_ASYNC;
    store = open_root(root, &c, NULL);
    rmq_msg_t m = test_msg("Async", 0, "a", NULL);
    rmq_put_result_t r;
    CHECK_EQ(rmq_store_append(store, &m, &r), 0);
    CHECK_EQ(rmq_store_max_offset(store, (rmq_buf_t){"Async", 5}, 0), 1);
    CHECK_EQ(rmq_store_wait_durable(store, r.phys_offset + r.size), 0);
    CHECK_EQ(rmq_store_close(store), 0);
    rm_tree(root);
    CHECK_DONE();
}
