/* checkpoint.c - StoreCheckpoint file. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rmq/checkpoint.h"
#include "rmq/mapped.h"
#include "rmq/record.h"

#define CP_SIZE 4096

int rmq_checkpoint_open(rmq_checkpoint_t *cp, const char *path) {
    memset(cp, 0, sizeof *cp);
    cp->fd = open(path, O_RDWR | O_CREAT, 0644);
    if (cp->fd < 0) return errno;
    struct stat st;
    int e = fstat(cp->fd, &st) != 0 ? errno : 0;
    if (!e) e = rmq_file_reserve(cp->fd, CP_SIZE); /* stores into the map must not fault */
    if (e) {
        close(cp->fd);
        cp->fd = -1;
        return e;
    }
    cp->map = mmap(NULL, CP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, cp->fd, 0);
    if (cp->map == MAP_FAILED) {
        e = errno;
        cp->map = NULL;
        close(cp->fd);
        return e;
    }
    cp->physic_ts = (int64_t)rmq_get64(cp->map);
    cp->logics_ts = (int64_t)rmq_get64(cp->map + 8);
    cp->index_ts = (int64_t)rmq_get64(cp->map + 16);
    return 0;
}

int rmq_checkpoint_write(rmq_checkpoint_t *cp, int sync) {
    if (!cp->map) return 0;
    rmq_put64(cp->map, (uint64_t)cp->physic_ts);
    rmq_put64(cp->map + 8, (uint64_t)cp->logics_ts);
    rmq_put64(cp->map + 16, (uint64_t)cp->index_ts);
    if (sync && msync(cp->map, CP_SIZE, MS_SYNC) != 0) return errno;
    return 0;
}

void rmq_checkpoint_close(rmq_checkpoint_t *cp) {
    if (cp->map) munmap(cp->map, CP_SIZE);
    if (cp->fd > 0) close(cp->fd);
    cp->map = NULL;
    cp->fd = -1;
}
