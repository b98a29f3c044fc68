/* testutil.h - what the store's ctest programs share: a small-file configuration, opening a
 * store under a root, building a message. */
#ifndef RMQ_TESTUTIL_H
#define RMQ_TESTUTIL_H
#include <string.h>

#include "check.h"
#include "rmq/store.h"

/* 64 KiB segments, 100 entries per queue file, a 64-slot index: every file rolls often. */
static inline void small_config(rmq_store_config_t *c, int32_t max_index_num) {
    rmq_store_config_default(c);
    c->mapped_file_size_commitlog = 64 * 1024;
    c->cq_entries_per_file = 100;
    c->max_hash_slot_num = 64;
    c->max_index_num = max_index_num;
    c->preallocate = 0;
}

/* Open root with cfg (REQUIRE success, printing the error otherwise). */
static inline rmq_store_t *open_root(const char *root, const rmq_store_config_t *c,
                                     rmq_recovery_report_t *rep) {
    rmq_store_t *s = NULL;
    int rc = rmq_store_open(root, c, &s, rep);
    if (rc) fprintf(stderr, "open %s: %s\n", root, rmq_strerror(rc));
    REQUIRE(rc == 0);
    return s;
}

/* A message with an IPv4 born host; props NULL for none. Strings must outlive the put. */
static inline rmq_msg_t test_msg(const char *topic, int qid, const char *body,
                                 const char *props) {
    rmq_msg_t m;
    memset(&m, 0, sizeof m);
    m.topic.ptr = topic; m.topic.len = strlen(topic);
    m.queue_id = qid;
    m.body.ptr = body; m.body.len = strlen(body);
    m.properties.ptr = props; m.properties.len = props ? strlen(props) : 0;
    m.born_host[0] = 10; m.born_host[3] = 7; m.born_port = 1234;
    m.born_timestamp = 1;
    return m;
}
#endif
