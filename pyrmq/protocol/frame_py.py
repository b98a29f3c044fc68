"""Frame codec, the pure-Python reference: bytes in, :class:`RemotingCommand` out, and back.
No I/O. :mod:`pyrmq.protocol.frame` serves the compiled codec (``pyrmq._wire``) under the same
names; this one decides every case the compiled one hands back, and the property tests
(tests/property/test_frame_fast.py) hold the two to the same commands, errors and bytes.

``FrameDecoder.feed(data)`` accepts any chunking and returns the complete commands it now holds.
Lengths are checked on the 8-byte prefix before anything is buffered for the frame, so a hostile
length costs nothing. The buffer is compacted lazily so a long stream stays O(bytes read).
"""

from __future__ import annotations

import struct

from .command import (
    SERIALIZE_JSON,
    SERIALIZE_ROCKETMQ,
    RemotingCommand,
    decode_binary_header,
    decode_json_header,
    encode_binary_header,
    encode_json_header,
)
from .errors import LocalProtocolError, RemoteProtocolError

#: Java's default ``com.rocketmq.remoting.frameMaxLength``.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024

_PREFIX = struct.Struct(">II")


class PyFrameDecoder:
    """Incremental decoder. After a fatal :class:`RemoteProtocolError` the decoder is poisoned:
    framing is lost and every later ``feed`` raises again (close the connection)."""

    __slots__ = ("_buf", "_pos", "max_frame", "_error")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.max_frame = max_frame
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a returned command."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> list[RemotingCommand]:
        """Add received bytes; return every command now complete (possibly none)."""
        if self._error is not None:
            raise self._error
        out: list[RemotingCommand] = []
        if self._pos == len(self._buf) and data.__class__ is bytes:
            # nothing buffered (the usual case): parse the chunk in place, keep only its tail
            pos = self._parse(data, 0, out)
            if pos < len(data):
                self._buf = bytearray(data[pos:]) if pos else bytearray(data)
                self._pos = 0
            return out
        self._buf += data
        buf = self._buf
        pos = self._parse(buf, self._pos, out)
        if pos == len(buf):
            buf.clear()
            pos = 0
        elif pos > 65536 and pos * 2 > len(buf):
            del buf[:pos]
            pos = 0
        self._pos = pos
        return out

    def _parse(self, buf: bytes | bytearray, pos: int, out: list[RemotingCommand]) -> int:
        """Append every complete command in ``buf[pos:]`` to ``out``; the position after the
        last one. A fatal error poisons the decoder."""
        try:
            while len(buf) - pos >= 8:
                length, word = _PREFIX.unpack_from(buf, pos)
                if length < 4 or length > self.max_frame:
                    raise RemoteProtocolError(
                        f"frame length {length} outside [4, {self.max_frame}]", fatal=True)
                hlen = word & 0xFFFFFF
                stype = (word >> 24) & 0xFF
                if hlen > length - 4:
                    raise RemoteProtocolError(
                        f"header length {hlen} exceeds frame length {length}", fatal=True)
                if stype not in (SERIALIZE_JSON, SERIALIZE_ROCKETMQ):
                    raise RemoteProtocolError(f"unknown serialize type {stype}", fatal=True)
                end = pos + 4 + length
                if len(buf) < end:
                    break
                hstart = pos + 8
                header = bytes(buf[hstart:hstart + hlen])
                fields = (decode_json_header(header) if stype == SERIALIZE_JSON
                          else decode_binary_header(header))
                out.append(RemotingCommand(body=bytes(buf[hstart + hlen:end]), **fields))
                pos = end
        except RemoteProtocolError as e:
            self._error = e
            raise
        except Exception as e:  # a decoder bug must still be a protocol error, never escape
            self._error = RemoteProtocolError(f"undecodable frame: {type(e).__name__}",
                                              fatal=True)
            raise self._error from None
        return pos


def encode_py(cmd: RemotingCommand, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """Serialize ``cmd`` into one frame (length prefix included) in its serialize type."""
    if cmd.serialize_type == SERIALIZE_ROCKETMQ:
        header = encode_binary_header(cmd)
    else:
        header = encode_json_header(cmd)
    length = 4 + len(header) + len(cmd.body)
    if length > max_frame:
        raise LocalProtocolError(f"frame of {length} bytes exceeds the limit {max_frame}")
    return b"".join((_PREFIX.pack(length, (cmd.serialize_type << 24) | len(header)), header,
                     cmd.body))
