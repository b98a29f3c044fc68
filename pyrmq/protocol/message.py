"""Message codec (ROCKETMQ_FACTS §4): stored records (= pull response bodies), the properties
string, batch bodies, offset msgIds, Java ``String.hashCode`` and body (de)compression.

This is also the pure-Python oracle the store tests compare the C core against; it stays simple
and obviously correct rather than fast.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from pyrmq.protocol.errors import RemoteProtocolError

MAGIC_MESSAGE = 0xDAA320A7
MAGIC_BLANK = 0xCBD43194
NAME_VALUE_SEPARATOR = "\x01"
PROPERTY_SEPARATOR = "\x02"
BORNHOST_V6 = 0x10
STOREHOST_V6 = 0x20
COMPRESSED = 0x1


class MessageConst:
    """Reserved property keys (Java MessageConst)."""

    KEYS = "KEYS"
    TAGS = "TAGS"
    WAIT = "WAIT"
    DELAY = "DELAY"
    RETRY_TOPIC = "RETRY_TOPIC"
    REAL_TOPIC = "REAL_TOPIC"
    REAL_QID = "REAL_QID"
    TRAN_MSG = "TRAN_MSG"
    PGROUP = "PGROUP"
    MIN_OFFSET = "MIN_OFFSET"
    MAX_OFFSET = "MAX_OFFSET"
    ORIGIN_MESSAGE_ID = "ORIGIN_MESSAGE_ID"
    UNIQ_KEY = "UNIQ_KEY"
    MAX_RECONSUME_TIMES = "MAX_RECONSUME_TIMES"
    CONSUME_START_TIME = "CONSUME_START_TIME"
    RECONSUME_TIME = "RECONSUME_TIME"
    MSG_REGION = "MSG_REGION"
    TRACE_ON = "TRACE_ON"
    CLUSTER = "CLUSTER"
    TRANSACTION_ID = "__transactionId__"
    TRAN_PREPARED_QUEUE_OFFSET = "TRAN_PREPARED_QUEUE_OFFSET"


def java_hash(text: str) -> int:
    """Java ``String.hashCode``: over UTF-16 code units, signed 32-bit."""
    h = 0
    data = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def tags_code(tags: str | None) -> int:
    """ConsumeQueue tagsCode of a TAGS value (0 when absent or empty)."""
    return java_hash(tags) if tags else 0


def encode_properties(props: Mapping[str, str]) -> bytes:
    """``key\\x01value\\x02`` for each pair, in the mapping's order."""
    return "".join(f"{k}\x01{v}\x02" for k, v in props.items()).encode("utf-8")


def decode_properties(raw: bytes | str) -> dict[str, str]:
    """Parse a properties string; malformed pairs are ignored, the last duplicate wins."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray, memoryview)) \
        else raw
    out: dict[str, str] = {}
    for pair in text.split(PROPERTY_SEPARATOR):
        k, sep, v = pair.partition(NAME_VALUE_SEPARATOR)
        if sep and k:
            out[k] = v
    return out


def _host_bytes(host: str) -> bytes:
    return ipaddress.ip_address(host).packed


@lru_cache(maxsize=4096)
def _host_text(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


def offset_msg_id(host: str, port: int, phys_offset: int) -> str:
    """Offset msgId: hex of store host + port + commitlog offset (32 or 56 chars)."""
    return (_host_bytes(host) + struct.pack(">iq", port, phys_offset)).hex().upper()


def parse_offset_msg_id(msg_id: str) -> tuple[str, int, int]:
    """(host, port, commitlog offset) of an offset msgId."""
    try:
        raw = bytes.fromhex(msg_id)
    except ValueError:
        raise ValueError(f"not an offset msgId: {msg_id!r}") from None
    if len(raw) not in (16, 28):
        raise ValueError(f"not an offset msgId: {msg_id!r}")
    n = len(raw) - 12
    port, phys = struct.unpack(">iq", raw[n:])
    return _host_text(raw[:n]), port, phys


def decompress_body(body: bytes, sysflag: int) -> bytes:
    """Inflate a body whose COMPRESSED bit is set (zlib = type 0/3, lz4 = type 1)."""
    if not sysflag & COMPRESSED:
        return body
    kind = (sysflag & 0x700) >> 8
    try:
        if kind in (0, 3):
            return zlib.decompress(body)
        if kind == 1:
            import lz4.frame

            return lz4.frame.decompress(body)
    except Exception as e:  # corrupt compressed data
        raise RemoteProtocolError(f"cannot decompress message body: {e}") from e
    raise RemoteProtocolError(f"unsupported compression type {kind}")


def compress_body(body: bytes, kind: str = "zlib", level: int = 5) -> tuple[bytes, int]:
    """(compressed body, sysflag bits) — zlib with header (what every client decodes) or lz4."""
    if kind == "zlib":
        return zlib.compress(body, level), COMPRESSED
    if kind == "lz4":
        import lz4.frame

        return lz4.frame.compress(body), COMPRESSED | 0x100
    raise ValueError(f"unknown compression {kind!r}")


@dataclass(frozen=True, slots=True)
class MessageExt:
    """A stored message as decoded from a record."""

    topic: str
    queue_id: int
    flag: int
    queue_offset: int
    phys_offset: int
    sysflag: int
    born_timestamp: int
    born_host: tuple[str, int]
    store_timestamp: int
    store_host: tuple[str, int]
    reconsume_times: int
    prepared_transaction_offset: int
    body: bytes
    body_crc: int
    properties: dict[str, str] = field(default_factory=dict)
    size: int = 0

    @property
    def tags(self) -> str | None:
        return self.properties.get(MessageConst.TAGS)

    @property
    def keys(self) -> list[str]:
        return [k for k in self.properties.get(MessageConst.KEYS, "").split(" ") if k]

    @property
    def uniq_key(self) -> str | None:
        return self.properties.get(MessageConst.UNIQ_KEY)

    @property
    def offset_msg_id(self) -> str:
        return offset_msg_id(self.store_host[0], self.store_host[1], self.phys_offset)

    @property
    def msg_id(self) -> str:
        """What clients call the message id: UNIQ_KEY when set, else the offset msgId."""
        return self.uniq_key or self.offset_msg_id

    def decompressed_body(self) -> bytes:
        return decompress_body(self.body, self.sysflag)


def _need(buf: bytes, pos: int, n: int) -> None:
    if pos + n > len(buf):
        raise RemoteProtocolError(f"truncated record at byte {pos}")


def decode_record(buf: bytes, pos: int = 0) -> MessageExt:
    """Decode the record starting at ``pos``; garbage raises RemoteProtocolError."""
    _need(buf, pos, 36 + 8)
    size, magic, crc, qid, flag, qoff, phys, sysflag = struct.unpack_from(">iIiiiqqi", buf, pos)
    if magic != MAGIC_MESSAGE or size < 91 or pos + size > len(buf):
        raise RemoteProtocolError(f"bad record at byte {pos} (size {size}, magic {magic:#x})")
    end = pos + size
    p = pos + 40
    born_ts, = struct.unpack_from(">q", buf, p)
    p += 8
    hl = 16 if sysflag & BORNHOST_V6 else 4
    _need(buf, p, hl + 4 + 8)
    born = (_host_text(bytes(buf[p:p + hl])), struct.unpack_from(">i", buf, p + hl)[0])
    p += hl + 4
    store_ts, = struct.unpack_from(">q", buf, p)
    p += 8
    hl = 16 if sysflag & STOREHOST_V6 else 4
    _need(buf, p, hl + 4 + 4 + 8 + 4)
    store = (_host_text(bytes(buf[p:p + hl])), struct.unpack_from(">i", buf, p + hl)[0])
    p += hl + 4
    reconsume, prepared, body_len = struct.unpack_from(">iqi", buf, p)
    p += 16
    if body_len < 0 or p + body_len + 3 > end:
        raise RemoteProtocolError(f"bad body length {body_len} in record at byte {pos}")
    body = bytes(buf[p:p + body_len])
    p += body_len
    tlen = struct.unpack_from(">b", buf, p)[0]
    p += 1
    if tlen < 0 or p + tlen + 2 > end:
        raise RemoteProtocolError(f"bad topic length in record at byte {pos}")
    topic = bytes(buf[p:p + tlen]).decode("utf-8", "replace")
    p += tlen
    plen = struct.unpack_from(">h", buf, p)[0]
    p += 2
    if plen < 0 or p + plen != end:
        raise RemoteProtocolError(f"bad properties length in record at byte {pos}")
    props = decode_properties(bytes(buf[p:p + plen]))
    return MessageExt(topic, qid, flag, qoff, phys, sysflag, born_ts, born, store_ts, store,
                      reconsume, prepared, body, crc, props, size)


def decode_records(buf: bytes) -> list[MessageExt]:
    """Decode records back to back (a pull response body)."""
    out, pos = [], 0
    while pos < len(buf):
        m = decode_record(buf, pos)
        out.append(m)
        pos += m.size
    return out


def decode_records_fast(buf: bytes) -> list[MessageExt]:
    """:func:`decode_records` through the compiled decoder (``pyrmq._store.decode_records``,
    property-tested to accept exactly what the reference accepts); on a buffer it refuses, the
    reference runs to raise its exact RemoteProtocolError (position, reason)."""
    from pyrmq import _store  # the compiled record codec; imported here, where it is used

    try:
        return _store.decode_records(buf, MessageExt, _host_text)  # type: ignore[no-any-return]
    except _store.CorruptError:
        return decode_records(buf)


def encode_stored_record(*, topic: str, queue_id: int, flag: int, queue_offset: int,
                         phys_offset: int, sysflag: int, born_timestamp: int,
                         born_host: tuple[str, int], store_timestamp: int,
                         store_host: tuple[str, int], reconsume_times: int,
                         prepared_transaction_offset: int, body: bytes,
                         properties: bytes | Mapping[str, str]) -> bytes:
    """The exact bytes RocketMQ 4.9 stores for a message (host v6 bits follow the addresses)."""
    props = properties if isinstance(properties, bytes) else encode_properties(properties)
    bh, sh = _host_bytes(born_host[0]), _host_bytes(store_host[0])
    sysflag = (sysflag & ~(BORNHOST_V6 | STOREHOST_V6)) | (BORNHOST_V6 if len(bh) == 16 else 0) \
        | (STOREHOST_V6 if len(sh) == 16 else 0)
    t = topic.encode("utf-8")
    size = 91 + len(body) + len(t) + len(props) + (12 if len(bh) == 16 else 0) \
        + (12 if len(sh) == 16 else 0)
    crc = zlib.crc32(body) & 0x7FFFFFFF
    return b"".join([
        struct.pack(">iIiiiqqiq", size, MAGIC_MESSAGE, crc, queue_id, flag, queue_offset,
                    phys_offset, sysflag, born_timestamp),
        bh, struct.pack(">iq", born_host[1], store_timestamp), sh,
        struct.pack(">iiqi", store_host[1], reconsume_times, prepared_transaction_offset,
                    len(body)),
        body, struct.pack(">b", len(t)), t, struct.pack(">h", len(props)), props])


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One message of a SEND_BATCH body."""

    body: bytes
    properties: dict[str, str]
    flag: int = 0


_BATCH_HEAD = struct.Struct(">iiiii")
_BATCH_PROPLEN = struct.Struct(">h")


def encode_batch(items: Iterable[BatchItem]) -> bytes:
    """Batch body (§4.4): [total][magic][crc][flag][bodylen][body][proplen][props] per item."""
    return encode_batch_raw((it.body, encode_properties(it.properties), it.flag)
                            for it in items)


def encode_batch_raw(items: Iterable[tuple[bytes, bytes, int]]) -> bytes:
    """The batch body of (body, encoded properties, flag) items. MAGICCODE and BODYCRC are 0,
    as the C++ client writes them: the broker recomputes the CRC of each record it stores
    (Java's MessageExtBatchEncoder ignores both)."""
    parts: list[bytes] = []
    add, head, plen = parts.append, _BATCH_HEAD.pack, _BATCH_PROPLEN.pack
    for body, props, flag in items:
        add(head(22 + len(body) + len(props), 0, 0, flag, len(body)))
        add(body)
        add(plen(len(props)))
        add(props)
    return b"".join(parts)


def decode_batch(buf: bytes) -> list[BatchItem]:
    """Split a batch body; malformed input raises RemoteProtocolError."""
    out, pos = [], 0
    while pos < len(buf):
        _need(buf, pos, 22)
        total, _magic, _crc, flag, blen = struct.unpack_from(">iiiii", buf, pos)
        if total < 22 or pos + total > len(buf) or blen < 0 or blen > total - 22:
            raise RemoteProtocolError(f"bad batch item at byte {pos}")
        body = bytes(buf[pos + 20:pos + 20 + blen])
        plen, = struct.unpack_from(">h", buf, pos + 20 + blen)
        if plen < 0 or 22 + blen + plen != total:
            raise RemoteProtocolError(f"bad batch item properties at byte {pos}")
        props = decode_properties(bytes(buf[pos + 22 + blen:pos + total]))
        out.append(BatchItem(body, props, flag))
        pos += total
    return out
