/* rmq/errors.h - error codes of the pyrmq storage core.
 *
 * Every function of the core that can fail returns an int:
 *   0            success (RMQ_OK)
 *   > 0          an errno value from the failing system call (ENOSPC, EIO, ...)
 *   < 0          one of the RMQ_E* codes below (reserved range -30999 .. -30900)
 * rmq_strerror() turns either kind into a static message.
 */
#ifndef RMQ_ERRORS_H
#define RMQ_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

#define RMQ_OK 0
#define RMQ_EINVAL      (-30900) /* bad argument (NULL, negative size, bad topic...)       */
#define RMQ_ECORRUPT    (-30901) /* on-disk data failed validation (magic, size, CRC)     */
#define RMQ_ETOOBIG     (-30902) /* message or properties larger than the configured max  */
#define RMQ_ENOTFOUND   (-30903) /* nothing at that offset / key                          */
#define RMQ_ERANGE      (-30904) /* offset outside the stored range                        */
#define RMQ_EREADONLY   (-30905) /* writes refused after an earlier write/flush failure    */
#define RMQ_EDISKFULL   (-30906) /* disk usage above the configured ratio or ENOSPC        */
#define RMQ_ENOMEM      (-30907) /* allocation failed                                      */
#define RMQ_ECLOSED     (-30908) /* handle already closed                                  */
#define RMQ_ETIMEOUT    (-30909) /* a wait (sync flush) timed out                          */
#define RMQ_EBUFSMALL   (-30910) /* caller's output buffer too small; *needed is set       */
#define RMQ_ELOCKED     (-30911) /* store directory locked by another process              */
#define RMQ_EFAULT      (-30912) /* an injected fault point fired (tests only)             */

/* Static, never NULL: message for an RMQ_E* code or an errno value. */
const char *rmq_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
