/* errors.c - rmq_strerror. */
#include <string.h>

#include "rmq/errors.h"

const char *rmq_strerror(int err) {
    switch (err) {
    case RMQ_OK: return "success";
    case RMQ_EINVAL: return "invalid argument";
    case RMQ_ECORRUPT: return "corrupt data (bad magic, size or CRC)";
    case RMQ_ETOOBIG: return "message or properties too large";
    case RMQ_ENOTFOUND: return "not found";
    case RMQ_ERANGE: return "offset out of range";
    case RMQ_EREADONLY: return "store is read-only after a write or flush failure";
    case RMQ_EDISKFULL: return "disk full (usage above the warning ratio or no space left)";
    case RMQ_ENOMEM: return "out of memory";
    case RMQ_ECLOSED: return "store closed";
    case RMQ_ETIMEOUT: return "timed out waiting for the flush";
    case RMQ_EBUFSMALL: return "output buffer too small";
    case RMQ_ELOCKED: return "store directory is locked by another process";
    case RMQ_EFAULT: return "injected fault";
    default: break;
    }
    if (err > 0) return strerror(err);
    return "unknown error";
}
