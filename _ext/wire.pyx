# cython: language_level=3
"""pyrmq._wire: the compiled frame codec (C scanners/writers in csrc/src/wire.c for JSON
headers and csrc/src/wire_bin.c for ROCKETMQ binary ones, which Java's benchmark tools send).

Same interface and behaviour as the reference in :mod:`pyrmq.protocol.frame_py`: a JSON header
of the usual shape, or a well-formed binary header, is scanned in C and its
:class:`RemotingCommand` built here; every other header goes to the reference's own header
functions, which decide it (and word the error) exactly as before. ``encode`` writes the usual
command in C and hands anything else (a non-text field, a lone surrogate, an integer that does
not fit) to ``encode_py``.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Next, PyDict_SetItem, PyDict_Size
from cpython.long cimport PyLong_FromLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.string cimport memcmp, memcpy

from pyrmq.protocol.command import (
    SERIALIZE_JSON,
    SERIALIZE_ROCKETMQ,
    RemotingCommand,
    decode_binary_header,
    decode_json_header,
)
from pyrmq.protocol.errors import LocalProtocolError, RemoteProtocolError
from pyrmq.protocol.frame_py import DEFAULT_MAX_FRAME, encode_py


cdef extern from "rmq/wire.h":
    int RMQ_WIRE_UNUSUAL
    int RMQ_WIRE_ETOOMANY
    unsigned RMQ_WIRE_LANGUAGE
    unsigned RMQ_WIRE_REMARK
    ctypedef struct rmq_wire_str:
        const char *ptr
        size_t len
    ctypedef struct rmq_wire_header:
        int32_t code, opaque, flag, version
        unsigned present
        rmq_wire_str language, remark, rpc
        size_t n_ext
    ctypedef struct rmq_wire_cmd:
        int64_t code, flag, opaque, version
        rmq_wire_str language
        int has_remark
        rmq_wire_str remark
        const rmq_wire_str *ext
        size_t n_ext
    int rmq_wire_scan(const char *json, size_t len, char *scratch, rmq_wire_header *h,
                      rmq_wire_str *ext, size_t ext_cap) nogil
    int64_t rmq_wire_header_len(const rmq_wire_cmd *cmd) nogil
    size_t rmq_wire_write_header(const rmq_wire_cmd *cmd, char *out) nogil
    int rmq_wire_scan_binary(const unsigned char *hdr, size_t len, rmq_wire_header *h,
                             rmq_wire_str *ext, size_t ext_cap) nogil
    int64_t rmq_wire_binary_len(const rmq_wire_cmd *cmd) nogil
    size_t rmq_wire_write_binary(const rmq_wire_cmd *cmd, char *out) nogil


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    ctypedef struct _AllocType "PyTypeObject":
        PyObject *(*tp_alloc)(_AllocType *, Py_ssize_t)
    bint PyLong_CheckExact(object)
    bint PyLong_Check(object)
    bint PyBool_Check(object)
    bint PyUnicode_CheckExact(object)
    bint PyBytes_CheckExact(object)
    bint PyDict_CheckExact(object)
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *)
    object PyUnicode_DecodeUTF8(const char *, Py_ssize_t, const char *)
    void PyErr_Clear()


# --- RemotingCommand built without its __init__ ------------------------------------------------
# It is a frozen slotted dataclass: each field is a slot at a fixed offset (its member
# descriptor's). A fresh instance from tp_alloc has every slot NULL; each is set exactly once.

cdef Py_ssize_t _O_CODE, _O_OPAQUE, _O_FLAG, _O_REMARK, _O_EXT, _O_BODY, _O_LANGUAGE
cdef Py_ssize_t _O_VERSION, _O_STYPE, _O_ERROR
cdef _AllocType *_CMD_TYPE = <_AllocType *>RemotingCommand


cdef Py_ssize_t _offset(str name) except -1:
    descr = RemotingCommand.__dict__[name]
    if type(descr).__name__ != "member_descriptor":
        raise ImportError(f"RemotingCommand.{name} is not a slot")
    return (<PyMemberDescrObject *><PyObject *>descr).d_member.offset


_O_CODE = _offset("code")
_O_OPAQUE = _offset("opaque")
_O_FLAG = _offset("flag")
_O_REMARK = _offset("remark")
_O_EXT = _offset("ext_fields")
_O_BODY = _offset("body")
_O_LANGUAGE = _offset("language")
_O_VERSION = _offset("version")
_O_STYPE = _offset("serialize_type")
_O_ERROR = _offset("error")
if len(RemotingCommand.__slots__) != 10:
    raise ImportError("RemotingCommand's fields changed: update pyrmq/_wire (_ext/wire.pyx)")


cdef inline void _put(PyObject *obj, Py_ssize_t off, object value):
    Py_INCREF(value)
    (<PyObject **>((<char *>obj) + off))[0] = <PyObject *>value


cdef inline PyObject *_get(object obj, Py_ssize_t off):
    return (<PyObject **>((<char *><PyObject *>obj) + off))[0]


cdef object _command(int32_t code, int32_t opaque, int32_t flag, object remark, dict ext,
                     object body, object language, int32_t version, object stype):
    cdef PyObject *p = _CMD_TYPE.tp_alloc(_CMD_TYPE, 0)
    if p == NULL:
        raise MemoryError()
    cmd = <object>p  # takes a second reference
    Py_DECREF(cmd)
    _put(p, _O_CODE, PyLong_FromLong(code))
    _put(p, _O_OPAQUE, PyLong_FromLong(opaque))
    _put(p, _O_FLAG, PyLong_FromLong(flag))
    _put(p, _O_REMARK, remark)
    _put(p, _O_EXT, ext)
    _put(p, _O_BODY, body)
    _put(p, _O_LANGUAGE, language)
    _put(p, _O_VERSION, PyLong_FromLong(version))
    _put(p, _O_STYPE, stype)
    _put(p, _O_ERROR, None)
    return cmd


# --- text from scanned spans: the few languages and the recurring keys reuse one str ----------

cdef str _JAVA = "JAVA"
cdef str _CPP = "CPP"
cdef str _PYTHON = "PYTHON"
cdef str _GO = "GO"
cdef str _OTHER = "OTHER"

cdef enum:
    _KEY_SLOTS = 512  # a power of two
    _KEY_MAX = 40
    _EXT_STACK = 64  # extFields pairs held on the stack (more: the heap, or the reference)
    _SCRATCH_STACK = 4096

cdef list _keys = [None] * _KEY_SLOTS  # each an ASCII str or None


cdef inline object _text(rmq_wire_str s):
    return PyUnicode_DecodeUTF8(s.ptr, <Py_ssize_t>s.len, NULL)


cdef inline object _language(rmq_wire_str s):
    if s.len == 4 and memcmp(s.ptr, b"JAVA", 4) == 0:
        return _JAVA
    if s.len == 3 and memcmp(s.ptr, b"CPP", 3) == 0:
        return _CPP
    if s.len == 6 and memcmp(s.ptr, b"PYTHON", 6) == 0:
        return _PYTHON
    if s.len == 2 and memcmp(s.ptr, b"GO", 2) == 0:
        return _GO
    return _text(s)


cdef object _key(rmq_wire_str s):
    """An extFields key: the same str object as last time when it recurs (a small cache
    indexed by a hash of the bytes; a miss just replaces the slot, so memory stays bounded)."""
    if s.len > _KEY_MAX:
        return _text(s)
    cdef uint32_t h = 2166136261u
    cdef size_t i
    cdef const unsigned char *b = <const unsigned char *>s.ptr
    for i in range(s.len):
        h = (h ^ b[i]) * 16777619u
    cdef Py_ssize_t slot = h & (_KEY_SLOTS - 1)
    cached = _keys[slot]
    cdef Py_ssize_t n
    cdef const char *u
    if cached is not None:
        u = PyUnicode_AsUTF8AndSize(cached, &n)
        if <size_t>n == s.len and memcmp(u, s.ptr, s.len) == 0:
            return cached
    key = _text(s)
    if (<str>key).isascii():
        _keys[slot] = key
    return key


cdef object _fast_json(const char *hdr, Py_ssize_t hlen, const char *body, Py_ssize_t blen):
    """The command of a usual JSON header, or None: the reference decides it."""
    cdef rmq_wire_header h
    cdef rmq_wire_str ext[2 * _EXT_STACK]
    cdef char stack_scratch[_SCRATCH_STACK]
    cdef char *scratch = stack_scratch
    cdef size_t i
    cdef int rc
    if hlen > _SCRATCH_STACK:
        scratch = <char *>PyMem_Malloc(hlen)
        if scratch == NULL:
            raise MemoryError()
    try:
        rc = rmq_wire_scan(hdr, <size_t>hlen, scratch, &h, ext, _EXT_STACK)
        if rc != 0:
            return None
        fields = {}
        for i in range(h.n_ext):
            PyDict_SetItem(fields, _key(ext[2 * i]), _text(ext[2 * i + 1]))
        if <size_t>PyDict_Size(fields) != h.n_ext:
            return None  # a repeated key: the reference decides which value stays
        language = _language(h.language) if h.present & RMQ_WIRE_LANGUAGE else _OTHER
        remark = _text(h.remark) if h.present & RMQ_WIRE_REMARK else None
    finally:
        if scratch != stack_scratch:
            PyMem_Free(scratch)
    return _command(h.code, h.opaque, h.flag, remark, fields,
                    PyBytes_FromStringAndSize(body, blen), language, h.version, SERIALIZE_JSON)


cdef object _fast_binary(const char *hdr, Py_ssize_t hlen, const char *body, Py_ssize_t blen):
    """The command of a well-formed ROCKETMQ binary header, or None: the reference decides it
    (and words the error)."""
    cdef rmq_wire_header h
    cdef rmq_wire_str ext[2 * _EXT_STACK]
    cdef size_t i
    if rmq_wire_scan_binary(<const unsigned char *>hdr, <size_t>hlen, &h, ext,
                            _EXT_STACK) != 0:
        return None
    fields = {}
    for i in range(h.n_ext):
        PyDict_SetItem(fields, _key(ext[2 * i]), _text(ext[2 * i + 1]))
    if <size_t>PyDict_Size(fields) != h.n_ext:
        return None  # a repeated key: the reference decides which value stays
    remark = _text(h.remark) if h.present & RMQ_WIRE_REMARK else None
    return _command(h.code, h.opaque, h.flag, remark, fields,
                    PyBytes_FromStringAndSize(body, blen), _language(h.language), h.version,
                    SERIALIZE_ROCKETMQ)


cdef inline uint32_t _be32(const unsigned char *p):
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef class FrameDecoder:
    """Incremental decoder. After a fatal :class:`RemoteProtocolError` the decoder is poisoned:
    framing is lost and every later ``feed`` raises again (close the connection)."""

    cdef bytearray _buf
    cdef Py_ssize_t _pos
    cdef object _max_frame
    cdef int64_t _limit     # max_frame as a C integer, when _limit_ok
    cdef bint _limit_ok
    cdef object _error

    def __init__(self, max_frame=DEFAULT_MAX_FRAME):
        self._buf = bytearray()
        self._pos = 0
        self.max_frame = max_frame
        self._error = None

    @property
    def max_frame(self):
        """The largest frame length accepted (the prefix's length field)."""
        return self._max_frame

    @max_frame.setter
    def max_frame(self, value):
        cdef int overflow = 0
        self._max_frame = value
        self._limit_ok = False
        if PyLong_CheckExact(value):
            self._limit = PyLong_AsLongLongAndOverflow(value, &overflow)
            if overflow == 0:
                self._limit_ok = True

    @property
    def buffered(self):
        """Bytes received but not yet part of a returned command."""
        return PyByteArray_GET_SIZE(self._buf) - self._pos

    def feed(self, data):
        """Add received bytes; return every command now complete (possibly none)."""
        if self._error is not None:
            raise self._error
        cdef list out = []
        cdef Py_ssize_t pos, n
        if self._pos == PyByteArray_GET_SIZE(self._buf) and type(data) is bytes:
            # nothing buffered (the usual case): parse the chunk in place, keep only its tail
            n = PyBytes_GET_SIZE(data)
            pos = self._parse(PyBytes_AS_STRING(data), n, 0, out)
            if pos < n:
                self._buf = bytearray(data[pos:]) if pos else bytearray(data)
                self._pos = 0
            return out
        self._buf += data
        buf = self._buf
        n = PyByteArray_GET_SIZE(buf)
        pos = self._parse(PyByteArray_AS_STRING(buf), n, self._pos, out)
        if pos == n:
            buf.clear()
            pos = 0
        elif pos > 65536 and pos * 2 > n:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return out

    cdef Py_ssize_t _parse(self, const char *buf, Py_ssize_t n, Py_ssize_t pos,
                           list out) except -1:
        """Append every complete command in ``buf[pos:n]`` to ``out``; the position after the
        last one. A fatal error poisons the decoder."""
        cdef uint32_t length, word, hlen, stype
        cdef Py_ssize_t end, hstart
        try:
            while n - pos >= 8:
                length = _be32(<const unsigned char *>buf + pos)
                word = _be32(<const unsigned char *>buf + pos + 4)
                if length < 4 or (length > self._limit if self._limit_ok
                                  else length > self._max_frame):
                    raise RemoteProtocolError(
                        f"frame length {length} outside [4, {self._max_frame}]", fatal=True)
                hlen = word & 0xFFFFFF
                stype = (word >> 24) & 0xFF
                if hlen > length - 4:
                    raise RemoteProtocolError(
                        f"header length {hlen} exceeds frame length {length}", fatal=True)
                if stype > 1:
                    raise RemoteProtocolError(f"unknown serialize type {stype}", fatal=True)
                end = pos + 4 + <Py_ssize_t>length
                if n < end:
                    break
                hstart = pos + 8
                if stype == 0:
                    cmd = _fast_json(buf + hstart, hlen, buf + hstart + hlen,
                                     end - hstart - hlen)
                else:
                    cmd = _fast_binary(buf + hstart, hlen, buf + hstart + hlen,
                                       end - hstart - hlen)
                if cmd is None:
                    header = PyBytes_FromStringAndSize(buf + hstart, hlen)
                    fields = (decode_json_header(header) if stype == 0
                              else decode_binary_header(header))
                    cmd = RemotingCommand(
                        body=PyBytes_FromStringAndSize(buf + hstart + hlen,
                                                       end - hstart - hlen), **fields)
                out.append(cmd)
                pos = end
        except RemoteProtocolError as e:
            self._error = e
            raise
        except Exception as e:  # a decoder bug must still be a protocol error, never escape
            self._error = RemoteProtocolError(f"undecodable frame: {type(e).__name__}",
                                              fatal=True)
            raise self._error from None
        return pos


# --- encoder -----------------------------------------------------------------------------------

cdef inline bint _int64(PyObject *v, int64_t *out):
    """An int, or an int subclass such as ResponseCode (an IntEnum: every response's code), as
    a C integer; False for anything else, bool included (JSON writes it as true/false)."""
    cdef int overflow = 0
    if v == NULL or not PyLong_Check(<object>v) or PyBool_Check(<object>v):
        return False
    out[0] = PyLong_AsLongLongAndOverflow(<object>v, &overflow)
    return overflow == 0


cdef inline bint _utf8(PyObject *v, rmq_wire_str *out):
    """The UTF-8 of an exact str; False (no error set) for anything else or a lone surrogate."""
    cdef Py_ssize_t n
    if v == NULL or not PyUnicode_CheckExact(<object>v):
        return False
    out.ptr = PyUnicode_AsUTF8AndSize(<object>v, &n)
    if out.ptr == NULL:
        PyErr_Clear()
        return False
    out.len = <size_t>n
    return True


cdef object _fast_encode(object cmd, object max_frame):
    """The frame of a usual command, or None: ``encode_py`` writes (or refuses) it."""
    cdef rmq_wire_cmd c
    cdef rmq_wire_str stack_ext[2 * _EXT_STACK]
    cdef rmq_wire_str *ext = stack_ext
    cdef int64_t st, limit, hlen, length
    cdef int overflow = 0
    cdef PyObject *ext_obj
    cdef PyObject *body
    cdef PyObject *remark
    cdef PyObject *k
    cdef PyObject *v
    cdef Py_ssize_t it = 0, n_ext, i = 0, blen
    cdef char *o
    if type(cmd) is not RemotingCommand or not PyLong_CheckExact(max_frame):
        return None
    limit = PyLong_AsLongLongAndOverflow(max_frame, &overflow)
    if overflow:
        return None
    if not _int64(_get(cmd, _O_STYPE), &st) or (st != 0 and st != 1):
        return None
    if not (_int64(_get(cmd, _O_CODE), &c.code) and _int64(_get(cmd, _O_FLAG), &c.flag)
            and _int64(_get(cmd, _O_OPAQUE), &c.opaque)
            and _int64(_get(cmd, _O_VERSION), &c.version)
            and _utf8(_get(cmd, _O_LANGUAGE), &c.language)):
        return None
    remark = _get(cmd, _O_REMARK)
    if remark == NULL:
        return None
    c.has_remark = remark != <PyObject *>None
    if c.has_remark and not _utf8(remark, &c.remark):
        return None
    body = _get(cmd, _O_BODY)
    if body == NULL or not PyBytes_CheckExact(<object>body):
        return None
    ext_obj = _get(cmd, _O_EXT)
    if ext_obj == NULL or not PyDict_CheckExact(<object>ext_obj):
        return None  # a Mapping that is not a dict: encode_py copies it
    n_ext = PyDict_Size(<object>ext_obj)
    if n_ext > _EXT_STACK:
        ext = <rmq_wire_str *>PyMem_Malloc(2 * n_ext * sizeof(rmq_wire_str))
        if ext == NULL:
            raise MemoryError()
    try:
        while PyDict_Next(<object>ext_obj, &it, &k, &v):
            if not (_utf8(k, &ext[2 * i]) and _utf8(v, &ext[2 * i + 1])):
                return None
            i += 1
        c.ext = ext
        c.n_ext = <size_t>n_ext
        hlen = rmq_wire_header_len(&c) if st == 0 else rmq_wire_binary_len(&c)
        if hlen < 0:
            return None
        blen = PyBytes_GET_SIZE(<object>body)
        length = 4 + hlen + blen
        if length > limit:
            raise LocalProtocolError(f"frame of {length} bytes exceeds the limit {max_frame}")
        if length > 0xFFFFFFFF:
            return None
        out = PyBytes_FromStringAndSize(NULL, 4 + length)
        o = PyBytes_AS_STRING(out)
        o[0] = <char>(length >> 24); o[1] = <char>(length >> 16)
        o[2] = <char>(length >> 8); o[3] = <char>length
        o[4] = <char>((hlen >> 24) | st); o[5] = <char>(hlen >> 16)
        o[6] = <char>(hlen >> 8); o[7] = <char>hlen
        if st == 0:
            rmq_wire_write_header(&c, o + 8)
        else:
            rmq_wire_write_binary(&c, o + 8)
        if blen:
            memcpy(o + 8 + hlen, PyBytes_AS_STRING(<object>body), blen)
        return out
    finally:
        if ext != stack_ext:
            PyMem_Free(ext)


def encode(cmd, max_frame=DEFAULT_MAX_FRAME):
    """Serialize ``cmd`` into one frame (length prefix included) in its serialize type."""
    out = _fast_encode(cmd, max_frame)
    return encode_py(cmd, max_frame) if out is None else out
