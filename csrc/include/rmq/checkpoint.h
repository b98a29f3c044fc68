/* rmq/checkpoint.h - the 4096-byte checkpoint file: [i64 physicMsgTimestamp]
 * [i64 logicsMsgTimestamp][i64 indexMsgTimestamp] (RocketMQ StoreCheckpoint). */
#ifndef RMQ_CHECKPOINT_H
#define RMQ_CHECKPOINT_H

#include <stdint.h>

typedef struct {
    int fd;
    uint8_t *map;
    int64_t physic_ts, logics_ts, index_ts;
} rmq_checkpoint_t;

/* Open or create path; loads the three timestamps. 0 or errno. */
int rmq_checkpoint_open(rmq_checkpoint_t *cp, const char *path);
/* Write the timestamps into the mapping; msync when sync. 0 or errno. */
int rmq_checkpoint_write(rmq_checkpoint_t *cp, int sync);
void rmq_checkpoint_close(rmq_checkpoint_t *cp);

#endif
