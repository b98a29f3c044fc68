/* rmq/wire.h - the JSON header of a RocketMQ remoting frame, scanned and written in C.
 *
 * Two jobs, both for the usual header shape only; anything else is handed back to the
 * Python codec (pyrmq/protocol/command.py), which stays the reference and decides it:
 *
 *   rmq_wire_scan()          one JSON object whose keys are among code/opaque/flag/version
 *                            (JSON integers in int32 range), language (string), remark and
 *                            serializeTypeCurrentRPC (string or null) and extFields (null or an
 *                            object whose values are strings). Reports each string as a
 *                            {ptr, len} of UTF-8 with the JSON escapes decoded.
 *   rmq_wire_header_len() /  the header of a command, fields in RocketMQ's order, string
 *   rmq_wire_write_header()  escaping byte-identical to orjson's.
 *
 * and the same two for the ROCKETMQ binary header (rmq_wire_scan_binary, rmq_wire_binary_len,
 * rmq_wire_write_binary), declared at the end.
 *
 * Return codes: 0 on success, RMQ_WIRE_UNUSUAL when the input is outside the usual shape
 * (not an error: use the reference codec), RMQ_WIRE_ETOOMANY when the caller's extFields array
 * is too small, RMQ_EINVAL for a NULL argument. No allocation, no global state.
 */
#ifndef RMQ_WIRE_H
#define RMQ_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "rmq/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RMQ_WIRE_UNUSUAL  (-30950) /* outside the usual header shape: use the reference codec */
#define RMQ_WIRE_ETOOMANY (-30951) /* more extFields than the caller's array holds           */

/* Which keys a scanned header held (bits of rmq_wire_header.present). */
#define RMQ_WIRE_CODE      0x01u
#define RMQ_WIRE_OPAQUE    0x02u
#define RMQ_WIRE_FLAG      0x04u
#define RMQ_WIRE_VERSION   0x08u
#define RMQ_WIRE_LANGUAGE  0x10u
#define RMQ_WIRE_REMARK    0x20u /* a string remark (a null one leaves the bit clear) */
#define RMQ_WIRE_RPC       0x40u
#define RMQ_WIRE_EXT       0x80u

/* A UTF-8 string: into the scanned input, or into the caller's scratch buffer when it held
 * escapes; or the caller's own text for the writer. Not NUL-terminated. */
typedef struct rmq_wire_str {
    const char *ptr;
    size_t len;
} rmq_wire_str;

/* A scanned header. Absent integer fields are 0; absent strings are {NULL, 0}. */
typedef struct rmq_wire_header {
    int32_t code, opaque, flag, version;
    unsigned present;              /* RMQ_WIRE_* bits */
    rmq_wire_str language, remark, rpc;
    size_t n_ext;                  /* extFields pairs written to the caller's array */
} rmq_wire_header;

/* Scan the JSON header json[0..len). scratch must hold at least len bytes (decoded escapes
 * are written there; decoding never grows a string). ext receives n_ext key/value pairs as
 * ext[2*i] (key), ext[2*i+1] (value), at most ext_cap pairs.
 * Returns 0; RMQ_WIRE_UNUSUAL for anything outside the usual shape: an unknown or escaped
 * top-level key, a duplicate top-level key, a float, exponent or out-of-range integer, a
 * nested value, a \u escape of a surrogate, a raw control character, bad UTF-8, trailing
 * bytes, a header over 2^31 bytes; RMQ_WIRE_ETOOMANY when extFields has more than ext_cap
 * pairs; RMQ_EINVAL for a NULL pointer. */
int rmq_wire_scan(const char *json, size_t len, char *scratch, rmq_wire_header *h,
                  rmq_wire_str *ext, size_t ext_cap);

/* A command to write. Strings must be valid UTF-8 (checked). ext holds n_ext pairs as
 * ext[2*i] (key), ext[2*i+1] (value), written in that order; n_ext == 0 leaves extFields out,
 * has_remark == 0 leaves remark out. */
typedef struct rmq_wire_cmd {
    int64_t code, flag, opaque, version;
    rmq_wire_str language;
    int has_remark;
    rmq_wire_str remark;
    const rmq_wire_str *ext;
    size_t n_ext;
} rmq_wire_cmd;

/* The exact byte length of cmd's JSON header (>= 0), RMQ_WIRE_UNUSUAL when a string is not
 * valid UTF-8 (an encoded surrogate included), RMQ_EINVAL for a NULL pointer. */
int64_t rmq_wire_header_len(const rmq_wire_cmd *cmd);

/* Write cmd's JSON header to out, which must hold rmq_wire_header_len(cmd) bytes (call that
 * first: this one does not validate). Returns the number of bytes written. */
size_t rmq_wire_write_header(const rmq_wire_cmd *cmd, char *out);

/* --- the ROCKETMQ binary header (serialize type 1; csrc/src/wire_bin.c) ---------------- */

/* Scan the binary header hdr[0..len): every field as Java writes it (the language byte as its
 * LanguageCode name, OTHER for an unknown byte; a zero-length remark is absent), strings
 * pointing into hdr, at most ext_cap pairs into ext as for rmq_wire_scan. Bytes after the
 * extFields area are ignored (Java ignores them too). Returns 0; RMQ_WIRE_UNUSUAL for any
 * length out of bounds, a truncated header or text that is not strict UTF-8 (the reference
 * codec then reports which); RMQ_WIRE_ETOOMANY; RMQ_EINVAL for a NULL pointer. */
int rmq_wire_scan_binary(const unsigned char *hdr, size_t len, rmq_wire_header *h,
                         rmq_wire_str *ext, size_t ext_cap);

/* The exact byte length of cmd's binary header, RMQ_WIRE_UNUSUAL when code or version do not
 * fit an i16, opaque or flag an i32, a key 32,767 bytes or a length field an i32;
 * RMQ_EINVAL for a NULL pointer. Strings must already be valid UTF-8 (not checked here). */
int64_t rmq_wire_binary_len(const rmq_wire_cmd *cmd);

/* Write cmd's binary header to out, which must hold rmq_wire_binary_len(cmd) bytes (call that
 * first). The language is written as its LanguageCode byte (OTHER for an unknown name).
 * Returns the number of bytes written. */
size_t rmq_wire_write_binary(const rmq_wire_cmd *cmd, char *out);

#ifdef __cplusplus
}
#endif
#endif
