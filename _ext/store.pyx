# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""pyrmq._store: the binding of the C storage core (csrc/).

Thin by design: it owns the ``rmq_store_t`` handle, marshals buffers, releases the GIL around
calls that touch the disk or loop, counts in-flight calls so ``close()`` never frees the handle
under one, and maps C error codes to the exception classes below (one table). Every policy
(defaults, naming, retention timing) lives in ``pyrmq.store``.
"""
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset, strlen

import os
import time

cimport crmq as c  # the C declarations (crmq.pxd beside this file)


cdef extern from "Python.h":
    # Raw-pointer forms, for building a bytes object in place and shrinking it without a copy.
    PyObject *_bytes_new "PyBytes_FromStringAndSize"(const char *s, Py_ssize_t n)
    char *_bytes_ptr "PyBytes_AS_STRING"(PyObject *o)
    int _PyBytes_Resize(PyObject **bytes, Py_ssize_t newsize) except -1
    void _decref "Py_DECREF"(PyObject *o)


class StoreError(Exception):
    """Base of every error the storage core reports; ``code`` is the C error code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class CorruptError(StoreError):
    """On-disk data failed validation (magic, size or CRC)."""


class MessageTooLargeError(StoreError):
    """Body or properties larger than the configured maximum."""


class NotFoundError(StoreError):
    """Nothing at that offset or key."""


class ReadOnlyError(StoreError):
    """Writes refused after an earlier write or flush failure."""


class DiskFullError(StoreError):
    """Disk usage above the configured ratio, or no space left on the device."""


class StoreClosedError(StoreError):
    """The store handle is closed."""


class FlushTimeoutError(StoreError):
    """A SYNC_FLUSH put was stored but not known durable within syncFlushTimeout."""


class StoreLockedError(StoreError):
    """The store directory is locked by another process."""


class FaultInjectedError(StoreError):
    """An injected fault point fired (test builds only)."""


# The one error table: C code -> exception class.
_ERRORS = {
    c.RMQ_EINVAL: StoreError,
    c.RMQ_ECORRUPT: CorruptError,
    c.RMQ_ETOOBIG: MessageTooLargeError,
    c.RMQ_ENOTFOUND: NotFoundError,
    c.RMQ_ERANGE: NotFoundError,
    c.RMQ_EREADONLY: ReadOnlyError,
    c.RMQ_EDISKFULL: DiskFullError,
    c.RMQ_ENOMEM: StoreError,
    c.RMQ_ECLOSED: StoreClosedError,
    c.RMQ_ETIMEOUT: FlushTimeoutError,
    c.RMQ_EBUFSMALL: StoreError,
    c.RMQ_ELOCKED: StoreLockedError,
    c.RMQ_EFAULT: FaultInjectedError,
}

GET_STATUS_NAMES = (
    "FOUND", "NO_MATCHED_MESSAGE", "MESSAGE_WAS_REMOVING", "OFFSET_FOUND_NULL",
    "OFFSET_OVERFLOW_BADLY", "OFFSET_OVERFLOW_ONE", "OFFSET_TOO_SMALL",
    "NO_MATCHED_LOGIC_QUEUE", "NO_MESSAGE_IN_QUEUE",
)

#: the library the build linked for the record CRC32: "libdeflate" or "zlib" (the fallback)
CRC32_PROVIDER = c.rmq_crc32_provider.decode()
FLUSH_ASYNC = c.RMQ_FLUSH_ASYNC
FLUSH_SYNC = c.RMQ_FLUSH_SYNC


def strerror(int code):
    """Message for an RMQ_E* code or an errno value."""
    return c.rmq_strerror(code).decode("utf-8", "replace")


cdef object _error(int rc, str context, str detail=""):
    """Build the exception for a C return code; ``context`` names the operation and path,
    ``detail`` is the core's last-error text (it names the failing file)."""
    if detail:
        context = f"{context}: {detail}"
        if detail.endswith(strerror(rc)):  # the core's text already ends with the reason
            cls = DiskFullError if rc in (28, 122) else (OSError if rc > 0 else
                                                          _ERRORS.get(rc, StoreError))
            return cls(rc, context)
    if rc > 0:
        err = OSError(rc, f"{context}: {os.strerror(rc)}")
        if rc in (28, 122):  # ENOSPC, EDQUOT
            return DiskFullError(rc, f"{context}: {os.strerror(rc)}")
        return err
    cls = _ERRORS.get(rc, StoreError)
    return cls(rc, f"{context}: {strerror(rc)}")


def java_hash(text):
    """Java ``String.hashCode`` of ``text`` (str or UTF-8 bytes): RocketMQ's tagsCode."""
    cdef Py_buffer v
    data = text.encode("utf-8") if isinstance(text, str) else text
    PyObject_GetBuffer(data, &v, PyBUF_SIMPLE)
    try:
        return c.rmq_java_hash(v.buf, <size_t>v.len)
    finally:
        PyBuffer_Release(&v)


def crc32(data):
    """CRC32 & 0x7FFFFFFF of ``data``, as RocketMQ's UtilAll.crc32 (the record BODYCRC)."""
    cdef Py_buffer v
    PyObject_GetBuffer(data, &v, PyBUF_SIMPLE)
    try:
        with nogil:
            r = c.rmq_crc32(v.buf, <size_t>v.len)
        return r
    finally:
        PyBuffer_Release(&v)


cdef void _set_host(unsigned char *dst, object host) except *:
    """Copy packed address bytes (4 = IPv4, 16 = IPv6) into a 16-byte field."""
    cdef Py_ssize_t n = len(host)
    if n != 4 and n != 16:
        raise ValueError("host must be 4 (IPv4) or 16 (IPv6) packed bytes")
    memset(dst, 0, 16)
    memcpy(dst, PyBytes_AS_STRING(host), n)


cdef void _fill_msg(c.rmq_msg_t *m, bytes topic, int32_t queue_id, int32_t flag,
                    int32_t sysflag, int64_t born_timestamp, bytes born_host, int32_t born_port,
                    int32_t reconsume_times, int64_t prepared_transaction_offset) except *:
    """The header fields of a message to put (body and properties are set by the caller)."""
    memset(m, 0, sizeof(m[0]))
    m.topic.ptr = PyBytes_AS_STRING(topic)
    m.topic.len = len(topic)
    m.queue_id = queue_id
    m.flag = flag
    m.sysflag = sysflag
    m.born_timestamp = born_timestamp
    _set_host(m.born_host, born_host)
    m.born_port = born_port
    m.reconsume_times = reconsume_times
    m.prepared_transaction_offset = prepared_transaction_offset


cdef Py_ssize_t _count_items(object batch) except -1:
    """Number of [i32 total]-prefixed items in a batch body (at least 1; the core validates)."""
    cdef Py_buffer v
    cdef const unsigned char *p
    cdef Py_ssize_t pos = 0, n = 0
    cdef int32_t total
    PyObject_GetBuffer(batch, &v, PyBUF_SIMPLE)
    try:
        p = <const unsigned char *>v.buf
        while pos + 4 <= v.len:
            total = <int32_t>((p[pos] << 24) | (p[pos + 1] << 16) | (p[pos + 2] << 8) | p[pos + 3])
            n += 1
            if total <= 0:
                break
            pos += total
    finally:
        PyBuffer_Release(&v)
    return n if n > 0 else 1


cdef inline c.rmq_buf_t _tbuf(bytes t):
    """A {ptr,len} view of a bytes object (valid while the caller holds it)."""
    cdef c.rmq_buf_t b
    b.ptr = PyBytes_AS_STRING(t)
    b.len = len(t)
    return b


cdef int _queue_cb(const char *topic, size_t n, int32_t qid, int64_t mn, int64_t mx,
                   void *arg) noexcept with gil:
    try:
        (<list>arg).append((topic[:n].decode("utf-8", "replace"), qid, mn, mx))
    except BaseException:
        return 1
    return 0


cdef void _set_config_field(c.rmq_store_config_t *cfg, str key, int64_t v) except *:
    if key == "mapped_file_size_commitlog":
        cfg.mapped_file_size_commitlog = v
    elif key == "cq_entries_per_file":
        cfg.cq_entries_per_file = <int32_t>v
    elif key == "max_hash_slot_num":
        cfg.max_hash_slot_num = <int32_t>v
    elif key == "max_index_num":
        cfg.max_index_num = <int32_t>v
    elif key == "flush_disk_type":
        cfg.flush_disk_type = <int32_t>v
    elif key == "flush_interval_commitlog_ms":
        cfg.flush_interval_commitlog_ms = <int32_t>v
    elif key == "flush_commitlog_least_pages":
        cfg.flush_commitlog_least_pages = <int32_t>v
    elif key == "flush_commitlog_thorough_ms":
        cfg.flush_commitlog_thorough_ms = <int32_t>v
    elif key == "flush_interval_cq_ms":
        cfg.flush_interval_cq_ms = <int32_t>v
    elif key == "flush_cq_least_pages":
        cfg.flush_cq_least_pages = <int32_t>v
    elif key == "flush_cq_thorough_ms":
        cfg.flush_cq_thorough_ms = <int32_t>v
    elif key == "sync_flush_timeout_ms":
        cfg.sync_flush_timeout_ms = <int32_t>v
    elif key == "max_message_size":
        cfg.max_message_size = <int32_t>v
    elif key == "message_index_enable":
        cfg.message_index_enable = <int32_t>v
    elif key == "check_crc_on_recover":
        cfg.check_crc_on_recover = <int32_t>v
    elif key == "disk_max_used_space_ratio":
        cfg.disk_max_used_space_ratio = <int32_t>v
    elif key == "disk_space_warning_level_ratio":
        cfg.disk_space_warning_level_ratio = <int32_t>v
    elif key == "preallocate":
        cfg.preallocate = <int32_t>v
    elif key == "warm_mapped_file":
        cfg.warm_mapped_file = <int32_t>v
    else:
        raise ValueError(f"unknown store config field {key!r}")


cdef enum:  # Store._queue_lookup's lookups
    _Q_MIN, _Q_MAX, _Q_PHYS, _Q_BY_TIME, _Q_STORE_TIME


cdef tuple _batch_result(c.rmq_put_result_t *rs, size_t n):
    """put_batch's answer: first and end offsets, count and the msgIds joined by commas."""
    cdef size_t i, k = 0, m
    if n == 0:  # the store refuses an empty batch; never an answer without a first record
        raise ValueError("empty batch")
    cdef char *ids = <char *>malloc(n * 57 + 1)
    if ids == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            if i:
                ids[k] = 44  # ','
                k += 1
            m = strlen(rs[i].msg_id)
            memcpy(ids + k, rs[i].msg_id, m)
            k += m
        joined = ids[:k].decode("ascii")
    finally:
        free(ids)
    return (rs[0].phys_offset, rs[n - 1].phys_offset + rs[n - 1].size, rs[0].queue_offset,
            n, rs[0].store_timestamp, joined)


cdef class Store:
    """One open message store (``rmq_store_t``). Not a public API: use
    ``pyrmq.store.MessageStore``, which supplies the configuration and the policies."""

    cdef c.rmq_store_t *_s
    cdef int _inflight
    cdef bint _closing
    cdef bint _sync
    cdef readonly str root
    cdef readonly dict recovery

    def __cinit__(self):
        self._s = NULL
        self._inflight = 0
        self._closing = False

    def __init__(self, str root, dict config, bytes store_host, int store_port):
        """Open (creating if needed) the store under ``root``. ``config`` maps
        rmq_store_config_t field names to values; unknown names raise ValueError."""
        cdef c.rmq_store_config_t cfg
        cdef c.rmq_recovery_report_t rep
        cdef c.rmq_store_t *s = NULL
        cdef int rc
        c.rmq_store_config_default(&cfg)
        for key, value in config.items():
            if key == "delay_level_ms":
                if len(value) > c.RMQ_MAX_DELAY_LEVELS:
                    raise ValueError("too many delay levels")
                cfg.n_delay_levels = len(value)
                for i, ms in enumerate(value):
                    cfg.delay_level_ms[i] = ms
            else:
                _set_config_field(&cfg, key, int(value))
        _set_host(cfg.store_host, store_host)
        cfg.store_host_v6 = len(store_host) == 16
        cfg.store_host_port = store_port
        self._sync = cfg.flush_disk_type == c.RMQ_FLUSH_SYNC
        memset(&rep, 0, sizeof(rep))
        path = os.fsencode(root)
        cdef const char *cpath = path
        with nogil:
            rc = c.rmq_store_open(cpath, &cfg, &s, &rep)
        if rc != 0:
            raise _error(rc, f"open store {root}", rep.error.decode("utf-8", "replace"))
        self._s = s
        self.root = root
        self.recovery = {
            "clean_shutdown": bool(rep.clean_shutdown),
            "scan_from": rep.scan_from,
            "records_scanned": rep.records_scanned,
            "max_phys_offset": rep.max_phys_offset,
            "truncated_segment": rep.truncated_segment.decode("utf-8", "replace"),
            "truncated_at": rep.truncated_at,
            "bytes_truncated": rep.bytes_truncated,
            "records_truncated": rep.records_truncated,
            "cq_entries_truncated": rep.cq_entries_truncated,
            "cq_entries_rebuilt": rep.cq_entries_rebuilt,
            "index_entries_rebuilt": rep.index_entries_rebuilt,
            "index_entries_truncated": rep.index_entries_truncated,
            "elapsed_ms": rep.elapsed_ms,
        }

    def __dealloc__(self):
        if self._s != NULL:
            c.rmq_store_close(self._s)
            self._s = NULL

    cdef inline int _enter(self) except -1:
        if self._s == NULL or self._closing:
            raise StoreClosedError(c.RMQ_ECLOSED, "store is closed")
        self._inflight += 1
        return 0

    cdef inline void _leave(self) noexcept:
        self._inflight -= 1

    cdef str _detail(self):
        if self._s == NULL:
            return ""
        return c.rmq_store_last_error(self._s).decode("utf-8", "replace")

    @property
    def closed(self):
        return self._s == NULL

    def close(self, double wait_s=30.0):
        """Wait for in-flight calls (bounded by ``wait_s``), then flush, checkpoint, unmap."""
        cdef int rc
        cdef c.rmq_store_t *s
        if self._s == NULL:
            return
        self._closing = True
        deadline = time.monotonic() + wait_s
        while self._inflight > 0:
            if time.monotonic() > deadline:
                self._closing = False
                raise StoreError(c.RMQ_EINVAL, f"close: {self._inflight} calls still running")
            time.sleep(0.001)
        s = self._s
        self._s = NULL
        with nogil:
            rc = c.rmq_store_close(s)
        if rc != 0:
            raise _error(rc, f"close store {self.root}")

    def put(self, bytes topic not None, int32_t queue_id, body, properties, int32_t flag, int32_t sysflag,
            int64_t born_timestamp, bytes born_host not None, int32_t born_port, int32_t reconsume_times,
            int64_t prepared_transaction_offset, bint wait=True):
        """Append one message. Returns (phys_offset, size, queue_offset, store_timestamp, msg_id).
        ``wait=False``: without the SYNC_FLUSH wait for durability (see wait_durable)."""
        cdef c.rmq_msg_t m
        cdef c.rmq_put_result_t r
        cdef Py_buffer vb, vp
        cdef int rc
        self._enter()
        PyObject_GetBuffer(body, &vb, PyBUF_SIMPLE)
        try:
            PyObject_GetBuffer(properties, &vp, PyBUF_SIMPLE)
            try:
                _fill_msg(&m, topic, queue_id, flag, sysflag, born_timestamp, born_host,
                          born_port, reconsume_times, prepared_transaction_offset)
                m.body.ptr = vb.buf
                m.body.len = <size_t>vb.len
                m.properties.ptr = vp.buf
                m.properties.len = <size_t>vp.len
                if not wait:
                    rc = c.rmq_store_append(self._s, &m, &r)
                elif self._sync or vb.len > 65536:
                    with nogil:
                        rc = c.rmq_store_put(self._s, &m, &r)
                else:
                    rc = c.rmq_store_put(self._s, &m, &r)
            finally:
                PyBuffer_Release(&vp)
        finally:
            PyBuffer_Release(&vb)
            self._leave()
        if rc != 0:
            raise _error(rc, f"put {topic.decode('utf-8', 'replace')}/{queue_id}", self._detail())
        return (r.phys_offset, r.size, r.queue_offset, r.store_timestamp,
                r.msg_id.decode("ascii"))

    def put_batch(self, bytes topic not None, int32_t queue_id, batch, extra_properties, int32_t sysflag,
                  int64_t born_timestamp, bytes born_host not None, int32_t born_port,
                  int32_t reconsume_times, Py_ssize_t max_items, bint wait=True):
        """Append a SEND_BATCH wire body as consecutive records, all or nothing. Returns
        (first phys_offset, end offset, first queue_offset, count, store_timestamp, the msgIds
        comma-joined): one object per batch, not one per message. ``wait=False`` as in put."""
        cdef c.rmq_msg_t m
        cdef c.rmq_put_result_t *rs
        cdef Py_buffer vb, vp
        cdef c.rmq_buf_t bb, bp
        cdef size_t n = 0, i
        cdef int rc
        if max_items <= 0:  # size the result array by the items' length prefixes
            max_items = _count_items(batch)
        rs = <c.rmq_put_result_t *>malloc(sizeof(c.rmq_put_result_t) * max_items)
        if rs == NULL:
            raise MemoryError()
        self._enter()
        try:
            PyObject_GetBuffer(batch, &vb, PyBUF_SIMPLE)
            try:
                PyObject_GetBuffer(extra_properties, &vp, PyBUF_SIMPLE)
                try:
                    _fill_msg(&m, topic, queue_id, 0, sysflag, born_timestamp, born_host,
                              born_port, reconsume_times, 0)
                    bb.ptr = vb.buf
                    bb.len = <size_t>vb.len
                    bp.ptr = vp.buf
                    bp.len = <size_t>vp.len
                    if wait:
                        with nogil:
                            rc = c.rmq_store_put_batch(self._s, &m, bb, bp, rs,
                                                       <size_t>max_items, &n)
                    else:
                        with nogil:
                            rc = c.rmq_store_append_batch(self._s, &m, bb, bp, rs,
                                                          <size_t>max_items, &n)
                finally:
                    PyBuffer_Release(&vp)
            finally:
                PyBuffer_Release(&vb)
            if rc != 0:
                raise _error(rc, f"put batch {topic.decode('utf-8', 'replace')}/{queue_id}",
                             self._detail())
            return _batch_result(rs, n)
        finally:
            free(rs)
            self._leave()

    def get(self, bytes topic not None, int32_t queue_id, int64_t offset, int32_t max_msgs,
            tag_codes, int32_t max_bytes):
        """Read matching raw records. Returns (status, next_begin_offset, min_offset,
        max_offset, msg_count, data)."""
        cdef c.rmq_get_req_t req
        cdef c.rmq_get_result_t res
        cdef c.rmq_buf_t t
        cdef int64_t *codes = NULL
        cdef Py_ssize_t ncodes = 0, i
        cdef PyObject *out = NULL
        cdef int rc
        if max_bytes <= 0:
            max_bytes = 256 * 1024
        if tag_codes is not None:
            ncodes = len(tag_codes)
            codes = <int64_t *>malloc(sizeof(int64_t) * (ncodes if ncodes else 1))
            if codes == NULL:
                raise MemoryError()
            for i in range(ncodes):
                codes[i] = tag_codes[i]
        out = _bytes_new(NULL, max_bytes)
        if out == NULL:
            free(codes)
            raise MemoryError()
        cdef char *buf = _bytes_ptr(out)
        rc = 0
        try:
            self._enter()
        except BaseException:
            free(codes)
            _decref(out)
            raise
        try:
            req.offset = offset
            req.max_msgs = max_msgs
            req.max_bytes = max_bytes
            req.tag_codes = codes
            req.n_tag_codes = <size_t>ncodes
            t = _tbuf(topic)
            with nogil:
                rc = c.rmq_store_get(self._s, t, queue_id, &req, buf, <size_t>max_bytes, &res)
        finally:
            free(codes)
            self._leave()
        if rc != 0 or res.bytes == 0:
            _decref(out)
            if rc != 0:
                raise _error(rc, f"get {topic.decode('utf-8', 'replace')}/{queue_id}@{offset}")
            data = b""
        else:
            if res.bytes != <size_t>max_bytes:
                _PyBytes_Resize(&out, <Py_ssize_t>res.bytes)  # frees out itself on failure
            data = <object>out  # takes a new reference
            _decref(out)
        return (res.status, res.next_begin_offset, res.min_offset, res.max_offset,
                res.msg_count, data)

    def read_at(self, int64_t phys):
        """The raw record starting at commitlog offset ``phys`` (NotFoundError if none)."""
        cdef int32_t size = 0
        cdef int rc
        cdef size_t cap = 4096
        cdef char *buf
        self._enter()
        try:
            while True:
                data = PyBytes_FromStringAndSize(NULL, cap)
                buf = PyBytes_AS_STRING(data)
                with nogil:
                    rc = c.rmq_store_read_at(self._s, phys, buf, cap, &size)
                if rc == c.RMQ_EBUFSMALL and <size_t>size > cap:
                    cap = <size_t>size
                    continue
                break
        finally:
            self._leave()
        if rc != 0:
            raise _error(rc, f"read record at commitlog offset {phys}")
        return data[:size] if <size_t>size != cap else data

    def read_raw(self, int64_t phys, Py_ssize_t max_bytes):
        """Raw commitlog bytes from ``phys`` (never past its segment or the end)."""
        cdef size_t n = 0
        cdef int rc
        cdef char *buf
        if max_bytes <= 0:
            return b""
        data = PyBytes_FromStringAndSize(NULL, max_bytes)
        buf = PyBytes_AS_STRING(data)
        self._enter()
        try:
            with nogil:
                rc = c.rmq_store_read_raw(self._s, phys, buf, <size_t>max_bytes, &n)
        finally:
            self._leave()
        if rc != 0:
            raise _error(rc, f"read commitlog at {phys}")
        return data[:n] if n != <size_t>max_bytes else data

    def append_raw(self, int64_t phys, data):
        """Append replicated commitlog bytes at ``phys`` and dispatch completed records."""
        cdef Py_buffer v
        cdef c.rmq_buf_t b
        cdef int rc
        self._enter()
        PyObject_GetBuffer(data, &v, PyBUF_SIMPLE)
        try:
            b.ptr = v.buf
            b.len = <size_t>v.len
            with nogil:
                rc = c.rmq_store_append_raw(self._s, phys, b)
        finally:
            PyBuffer_Release(&v)
            self._leave()
        if rc != 0:
            raise _error(rc, f"append replicated bytes at {phys}", self._detail())

    cdef int64_t _queue_lookup(self, int what, bytes topic, int32_t queue_id,
                               int64_t arg) except? -2:
        """One per-queue lookup (one of the _Q_* codes); the GIL is released for the two
        that read records (a binary search over store times, a record header)."""
        cdef c.rmq_buf_t t = _tbuf(topic)
        cdef int64_t r = -1
        self._enter()
        try:
            if what == _Q_MIN:
                r = c.rmq_store_min_offset(self._s, t, queue_id)
            elif what == _Q_MAX:
                r = c.rmq_store_max_offset(self._s, t, queue_id)
            elif what == _Q_PHYS:
                r = c.rmq_store_phys_of(self._s, t, queue_id, arg)
            elif what == _Q_BY_TIME:
                with nogil:
                    r = c.rmq_store_offset_by_time(self._s, t, queue_id, arg)
            else:
                with nogil:
                    r = c.rmq_store_store_time_at(self._s, t, queue_id, arg)
            return r
        finally:
            self._leave()

    def min_offset(self, bytes topic not None, int32_t queue_id):
        return self._queue_lookup(_Q_MIN, topic, queue_id, 0)

    def max_offset(self, bytes topic not None, int32_t queue_id):
        return self._queue_lookup(_Q_MAX, topic, queue_id, 0)

    def phys_of(self, bytes topic not None, int32_t queue_id, int64_t offset):
        return self._queue_lookup(_Q_PHYS, topic, queue_id, offset)

    def offset_by_time(self, bytes topic not None, int32_t queue_id, int64_t ts):
        return self._queue_lookup(_Q_BY_TIME, topic, queue_id, ts)

    def store_time_at(self, bytes topic not None, int32_t queue_id, int64_t offset):
        return self._queue_lookup(_Q_STORE_TIME, topic, queue_id, offset)

    def min_phys_offset(self):
        self._enter()
        try:
            return c.rmq_store_min_phys_offset(self._s)
        finally:
            self._leave()

    def max_phys_offset(self):
        self._enter()
        try:
            return c.rmq_store_max_phys_offset(self._s)
        finally:
            self._leave()

    def query_key(self, bytes topic not None, bytes key not None, int64_t begin_ts, int64_t end_ts, int max_num):
        """Commitlog offsets of messages of ``topic`` with index key ``key``, newest first."""
        cdef c.rmq_buf_t t, k
        cdef int64_t *out
        cdef size_t n = 0, i
        cdef int rc
        if max_num <= 0:
            return []
        out = <int64_t *>malloc(sizeof(int64_t) * max_num)
        if out == NULL:
            raise MemoryError()
        self._enter()
        try:
            t = _tbuf(topic)
            k = _tbuf(key)
            with nogil:
                rc = c.rmq_store_query_key(self._s, t, k, begin_ts, end_ts, out,
                                           <size_t>max_num, &n)
            if rc != 0:
                raise _error(rc, f"query key {key!r} of {topic!r}")
            return [out[i] for i in range(n)]
        finally:
            free(out)
            self._leave()

    def wait_durable(self, int64_t end):
        """Block (GIL released) until the commitlog is durable up to ``end`` in SYNC_FLUSH
        (group commit with other waiters); FlushTimeoutError after syncFlushTimeout."""
        cdef int rc
        self._enter()
        try:
            with nogil:
                rc = c.rmq_store_wait_durable(self._s, end)
        finally:
            self._leave()
        if rc != 0:
            raise _error(rc, f"wait for durability to {end}", self._detail())

    def flush(self):
        """Flush commitlog, consume queues, index and checkpoint now."""
        cdef int rc
        self._enter()
        try:
            with nogil:
                rc = c.rmq_store_flush(self._s)
        finally:
            self._leave()
        if rc != 0:
            raise _error(rc, f"flush {self.root}", self._detail())

    def delete_expired(self, int64_t now_ms, int64_t reserved_ms, bint force, int max_files):
        """Retention step; returns the number of commitlog segments deleted."""
        cdef int rc, deleted = 0
        self._enter()
        try:
            with nogil:
                rc = c.rmq_store_delete_expired(self._s, now_ms, reserved_ms, force, max_files,
                                                &deleted)
        finally:
            self._leave()
        if rc != 0:
            raise _error(rc, f"delete expired files in {self.root}")
        return deleted

    def queues(self):
        """[(topic, queue_id, min_offset, max_offset)] for every consume queue."""
        cdef list acc = []
        cdef int rc
        self._enter()
        try:
            rc = c.rmq_store_foreach_queue(self._s, _queue_cb, <void *>acc)
        finally:
            self._leave()
        if rc != 0:
            raise _error(rc, "list queues")
        return acc

    def delete_topic(self, bytes topic not None):
        cdef c.rmq_buf_t t
        cdef int rc
        self._enter()
        try:
            t = _tbuf(topic)
            with nogil:
                rc = c.rmq_store_delete_topic(self._s, t)
        finally:
            self._leave()
        if rc != 0:
            raise _error(rc, f"delete topic {topic!r}")

    def stats(self):
        cdef c.rmq_store_stats_t st
        self._enter()
        try:
            memset(&st, 0, sizeof(st))
            c.rmq_store_stats(self._s, &st)
        finally:
            self._leave()
        return {
            "put_count": st.put_count, "put_bytes": st.put_bytes, "get_count": st.get_count,
            "min_phys_offset": st.min_phys_offset, "max_phys_offset": st.max_phys_offset,
            "flushed_phys_offset": st.flushed_phys_offset,
            "commitlog_segments": st.commitlog_segments, "consume_queues": st.consume_queues,
            "index_files": st.index_files, "flush_errors": st.flush_errors,
            "flush_count": st.flush_count, "flush_ns_total": st.flush_ns_total,
            "flush_ns_max": st.flush_ns_max,
            "dispatch_errors": st.dispatch_errors, "dispatch_lag_bytes": st.dispatch_lag_bytes,
            "write_error": st.write_error, "checkpoint_physic_ts": st.checkpoint_physic_ts,
            "checkpoint_logics_ts": st.checkpoint_logics_ts,
            "checkpoint_index_ts": st.checkpoint_index_ts,
            "segments_precreated": st.segments_precreated,
            "segments_made_on_roll": st.segments_made_on_roll,
        }


# -- pull bodies into messages (the client's hot path) -------------------------------------------
from libc.stdint cimport uint8_t
from libc.string cimport memcmp

cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    ctypedef int (*_descrset)(PyObject *, PyObject *, PyObject *)
    ctypedef struct _TypeObject "PyTypeObject":
        _descrset tp_descr_set
    _TypeObject *_type "Py_TYPE"(PyObject *o)

# MessageExt's fields in constructor order, interned once
_MSG_FIELDS = ("topic", "queue_id", "flag", "queue_offset", "phys_offset", "sysflag",
               "born_timestamp", "born_host", "store_timestamp", "store_host",
               "reconsume_times", "prepared_transaction_offset", "body", "body_crc",
               "properties", "size")
_hosts = {}  # raw address + port bytes -> (text, port); bounded below
_slots = {}  # class -> its fields' slot descriptors, in _MSG_FIELDS order


cdef inline int _put(object descr, object obj, object value) except -1:
    # what ``obj.<field> = value`` does for a slot, without the frozen class's __setattr__ or
    # the attribute-name lookup: the member descriptor's own setter
    cdef PyObject *d = <PyObject *>descr
    if _type(d).tp_descr_set(d, <PyObject *>obj, <PyObject *>value) < 0:
        raise AttributeError(f"cannot set a field of {type(obj).__name__}")
    return 0


cdef tuple _slot_descrs(type cls):
    cdef tuple d = _slots.get(cls)
    if d is None:
        d = tuple(cls.__dict__[f] for f in _MSG_FIELDS)
        for x in d:
            if type(x).__name__ != "member_descriptor":
                raise TypeError(f"{cls.__name__}.{x} is not a slot")
        _slots[cls] = d
    return d


cdef object _host(const uint8_t *raw, int v6, int32_t port, object host_text):
    cdef int n = 16 if v6 else 4
    cdef bytes key = PyBytes_FromStringAndSize(<const char *>raw, n + 4)  # host + port bytes
    cdef object hit = _hosts.get(key)
    if hit is None:
        if len(_hosts) >= 4096:
            _hosts.clear()
        hit = (host_text(key[:n]), port)
        _hosts[key] = hit
    return hit


cdef dict _props(const uint8_t *p, int32_t n):
    # pyrmq.protocol.message.decode_properties in C: pairs split at 0x02, name and value at
    # the first 0x01, empty names and pairs without 0x01 skipped, the last duplicate wins.
    # Decoding each part on its own equals decoding the whole first ("replace" errors): the
    # separators are ASCII, so no UTF-8 sequence spans them.
    cdef dict out = {}
    cdef int32_t i = 0, j, k
    while i < n:
        j = i
        while j < n and p[j] != 2:
            j += 1
        k = i
        while k < j and p[k] != 1:
            k += 1
        if k < j and k > i:
            out[PyUnicode_DecodeUTF8(<const char *>p + i, k - i, "replace")] = \
                PyUnicode_DecodeUTF8(<const char *>p + k + 1, j - k - 1, "replace")
        i = j + 1
    return out


cdef struct _HostMemo:
    const uint8_t *raw  # the previous record's address bytes (host + port), NULL at first
    int v6


cdef inline object _same_host(_HostMemo *memo, object last, const uint8_t *raw, int v6,
                              int32_t port, object host_text):
    # ``last`` again when the address bytes equal the previous record's, else a new object
    if memo.raw != NULL and v6 == memo.v6 and memcmp(raw, memo.raw, 20 if v6 else 8) == 0:
        return last
    memo.raw, memo.v6 = raw, v6
    return _host(raw, v6, port, host_text)


def decode_records(object buf, type cls, object host_text):
    """Decode back-to-back records (a pull response body) into ``cls`` objects (MessageExt:
    fields set in place, no ``__init__``); ``host_text(raw)`` formats an address not seen
    before. Raises CorruptError(at byte N) on anything the reference decoder
    (pyrmq.protocol.message.decode_records) would refuse; the caller re-runs the reference
    there for its exact error."""
    cdef Py_buffer view
    cdef c.rmq_rec_t r
    cdef const uint8_t *base
    cdef Py_ssize_t pos = 0, n
    cdef int rc
    cdef list out = []
    cdef object m, topic = None
    cdef const uint8_t *last_topic = NULL
    cdef int32_t last_tlen = -1
    # consecutive records mostly share topic and hosts: compare raw bytes, reuse the objects
    cdef _HostMemo born_memo, store_memo
    cdef object born = None, store = None
    cdef tuple names = _slot_descrs(cls)
    new = cls.__new__
    born_memo.raw = store_memo.raw = NULL
    born_memo.v6 = store_memo.v6 = 0
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        base = <const uint8_t *>view.buf
        n = view.len
        while pos < n:
            # the reference reads 44 bytes before looking at the size
            rc = c.rmq_rec_parse(base + pos, <size_t>(n - pos), 0, &r) if n - pos >= 44 else 0
            if rc <= 0:
                raise CorruptError(c.RMQ_ECORRUPT, f"bad record at byte {pos}")
            if last_topic == NULL or r.topic_len != last_tlen or \
                    memcmp(r.topic, last_topic, r.topic_len) != 0:
                topic = PyUnicode_DecodeUTF8(<const char *>r.topic, r.topic_len, "replace")
                last_topic, last_tlen = r.topic, r.topic_len
            m = new(cls)
            _put(names[0], m, topic)
            _put(names[1], m, r.queue_id)
            _put(names[2], m, r.flag)
            _put(names[3], m, r.queue_offset)
            _put(names[4], m, r.phys_offset)
            _put(names[5], m, r.sysflag)
            _put(names[6], m, r.born_timestamp)
            born = _same_host(&born_memo, born, r.born_host,
                              r.sysflag & c.RMQ_SYSFLAG_BORNHOST_V6, r.born_port, host_text)
            _put(names[7], m, born)
            _put(names[8], m, r.store_timestamp)
            store = _same_host(&store_memo, store, r.store_host,
                               r.sysflag & c.RMQ_SYSFLAG_STOREHOST_V6, r.store_port, host_text)
            _put(names[9], m, store)
            _put(names[10], m, r.reconsume_times)
            _put(names[11], m, r.prepared_transaction_offset)
            _put(names[12], m, PyBytes_FromStringAndSize(
                <const char *>r.body, r.body_len))
            _put(names[13], m, r.body_crc)
            _put(names[14], m, _props(r.props, r.props_len))
            _put(names[15], m, r.total_size)
            out.append(m)
            pos += rc
    finally:
        PyBuffer_Release(&view)
    return out
