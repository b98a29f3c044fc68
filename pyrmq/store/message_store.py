"""MessageStore: the Python face of the C storage core.

One CommitLog, a ConsumeQueue per topic/queue, IndexFiles, checkpoint and crash recovery, in
RocketMQ 4.9's on-disk format (see ROCKETMQ_FACTS §4-§5). This module converts Python values
(str topics, ``(ip, port)`` hosts, property dicts) to what the binding takes and wraps results in
typed objects; every byte-level decision is made in C.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from pyrmq import _store
from pyrmq.store.cleanup import Committed, RetentionCounters, clean_step
from pyrmq.store.config import StoreConfig

BORNHOST_V6_FLAG = 0x10


class GetMessageStatus(enum.IntEnum):
    """Outcome of a read, as RocketMQ's GetMessageStatus names it."""

    FOUND = 0
    NO_MATCHED_MESSAGE = 1
    MESSAGE_WAS_REMOVING = 2
    OFFSET_FOUND_NULL = 3
    OFFSET_OVERFLOW_BADLY = 4
    OFFSET_OVERFLOW_ONE = 5
    OFFSET_TOO_SMALL = 6
    NO_MATCHED_LOGIC_QUEUE = 7
    NO_MESSAGE_IN_QUEUE = 8


class PutResult(NamedTuple):
    """Where a message was stored: commitlog offset, record size, queue offset, store time (ms)
    and the 32-hex (IPv4) / 56-hex (IPv6) offset msgId."""

    phys_offset: int
    size: int
    queue_offset: int
    store_timestamp: int
    msg_id: str


class BatchPutResult(NamedTuple):
    """Where a batch was stored, as one object (the records are consecutive): the first
    record's commitlog and queue offsets, the offset just past the last record, how many
    records, their store time (ms) and their offset msgIds joined by commas (SEND_BATCH's
    answer)."""

    phys_offset: int
    end_offset: int
    queue_offset: int
    count: int
    store_timestamp: int
    msg_ids: str


@dataclass(frozen=True, slots=True)
class GetResult:
    """Records read from one queue: ``data`` holds ``count`` raw records back to back (a pull
    response body); ``next_begin_offset`` is where the next read should start."""

    status: GetMessageStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    count: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What open-time recovery did. ``lost_data`` is true when it dropped stored data (a torn
    or corrupt tail and everything after it, which may have been acknowledged); ``severity``
    is the logging level the summary deserves (WARNING then, else INFO)."""

    clean_shutdown: bool
    scan_from: int
    records_scanned: int
    max_phys_offset: int
    truncated_segment: str
    truncated_at: int
    bytes_truncated: int
    records_truncated: int
    cq_entries_truncated: int
    cq_entries_rebuilt: int
    index_entries_rebuilt: int
    index_entries_truncated: int
    elapsed_ms: float

    @property
    def lost_data(self) -> bool:
        return self.bytes_truncated > 0 or self.records_truncated > 0

    @property
    def severity(self) -> int:
        """``logging.WARNING`` when data was dropped, else ``logging.INFO``."""
        return logging.WARNING if self.lost_data else logging.INFO

    def summary(self) -> str:
        """One log line."""
        kind = "clean shutdown" if self.clean_shutdown else "crash recovery"
        text = (f"{kind}: scanned {self.records_scanned} records from {self.scan_from} in "
                f"{self.elapsed_ms:.1f} ms, commitlog end {self.max_phys_offset}")
        if self.lost_data:
            text += (f"; truncated at {self.truncated_at} in {self.truncated_segment}: "
                     f"DROPPED {self.records_truncated} records ({self.bytes_truncated} bytes), "
                     "a torn or corrupt tail and everything after it")
        if self.cq_entries_truncated or self.cq_entries_rebuilt or self.index_entries_rebuilt \
                or self.index_entries_truncated:
            text += (f"; consume queue entries dropped {self.cq_entries_truncated}, rebuilt "
                     f"{self.cq_entries_rebuilt}; index entries dropped "
                     f"{self.index_entries_truncated}, rebuilt {self.index_entries_rebuilt}")
        return text


@lru_cache(maxsize=1024)
def pack_host(ip: str) -> bytes:
    """Packed address bytes of an IPv4 (4 bytes) or IPv6 (16 bytes) address."""
    return ipaddress.ip_address(ip).packed


def _props(properties: bytes | Mapping[str, str]) -> bytes:
    if isinstance(properties, (bytes, bytearray, memoryview)):
        return properties  # type: ignore[return-value]
    from pyrmq.protocol.message import encode_properties

    return encode_properties(properties)


class MessageStore:
    """An open message store rooted at ``root`` (``config.storePathRootDir`` when omitted).

    ``store_host`` is written as STOREHOST into every record and into offset msgIds: use the
    broker's client-reachable ``(ip, listenPort)``. Thread-safe; in SYNC_FLUSH mode ``put``
    blocks until the record is durable (run it off the event loop).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None,
                 config: StoreConfig | None = None, *,
                 store_host: tuple[str, int] = ("127.0.0.1", 10911)) -> None:
        self.config = config or StoreConfig()
        self.root = os.fspath(root if root is not None else self.config.storePathRootDir)
        self.store_host = store_host
        os.makedirs(self.root, exist_ok=True)
        self._s = _store.Store(self.root, self.config.to_c(), pack_host(store_host[0]),
                               store_host[1])
        self.recovery = RecoveryReport(**self._s.recovery)
        self.retention = RetentionCounters()

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Flush everything, write the checkpoint, remove the abort marker, release the files."""
        self._s.close()

    @property
    def closed(self) -> bool:
        return self._s.closed

    def __enter__(self) -> MessageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------
    def put(self, topic: str, queue_id: int, body: bytes, *,
            properties: bytes | Mapping[str, str] = b"", flag: int = 0, sysflag: int = 0,
            born_timestamp: int | None = None,
            born_host: tuple[str, int] = ("127.0.0.1", 0), reconsume_times: int = 0,
            prepared_transaction_offset: int = 0, wait: bool = True) -> PutResult:
        """Append one message; properties are stored exactly as given (0x01/0x02 encoded).
        In SYNC_FLUSH it returns once the message is durable, unless ``wait`` is false: then
        the caller waits with :meth:`wait_durable` (stored and readable either way)."""
        host = pack_host(born_host[0])
        if len(host) == 16:
            sysflag |= BORNHOST_V6_FLAG
        if born_timestamp is None:
            born_timestamp = int(time.time() * 1000)
        return PutResult._make(self._s.put(
            topic.encode(), queue_id, body, _props(properties), flag, sysflag, born_timestamp,
            host, born_host[1], reconsume_times, prepared_transaction_offset, wait))

    def put_batch(self, topic: str, queue_id: int, batch_body: bytes, *,
                  extra_properties: bytes | Mapping[str, str] = b"", sysflag: int = 0,
                  born_timestamp: int | None = None,
                  born_host: tuple[str, int] = ("127.0.0.1", 0),
                  reconsume_times: int = 0, wait: bool = True) -> BatchPutResult:
        """Append a SEND_BATCH wire body (ROCKETMQ_FACTS §4.4) as consecutive records of one
        queue, all or nothing; ``extra_properties`` are appended to every item's properties."""
        host = pack_host(born_host[0])
        if len(host) == 16:
            sysflag |= BORNHOST_V6_FLAG
        if born_timestamp is None:
            born_timestamp = int(time.time() * 1000)
        max_items = 0  # the binding counts the items
        return BatchPutResult._make(self._s.put_batch(
            topic.encode(), queue_id, batch_body, _props(extra_properties), sysflag,
            born_timestamp, host, born_host[1], reconsume_times, max_items, wait))

    def wait_durable(self, end: int) -> None:
        """Block until the commitlog is durable up to offset ``end`` (SYNC_FLUSH group commit;
        ``_store.FlushTimeoutError`` after syncFlushTimeout); returns at once in ASYNC_FLUSH.
        Releases the GIL: call it from a thread, not the event loop."""
        self._s.wait_durable(end)

    # -- reads -----------------------------------------------------------------------------
    def get(self, topic: str, queue_id: int, offset: int, max_msgs: int = 32, *,
            tag_codes: Iterable[int] | None = None, max_bytes: int = 256 * 1024) -> GetResult:
        """Read up to ``max_msgs`` records from logical ``offset``, keeping only those whose
        tagsCode (as int32) is in ``tag_codes`` (None = all)."""
        codes = None if tag_codes is None else tuple(tag_codes)
        st, nxt, mn, mx, count, data = self._s.get(topic.encode(), queue_id, offset, max_msgs,
                                                   codes, max_bytes)
        return GetResult(GetMessageStatus(st), nxt, mn, mx, count, data)

    def read_at(self, phys_offset: int) -> bytes:
        """The raw record at a commitlog offset (``_store.NotFoundError`` if none)."""
        return self._s.read_at(phys_offset)

    def view_by_msg_id(self, offset_msg_id: str) -> bytes:
        """The raw record named by an offset msgId (32 hex for IPv4, 56 for IPv6 hosts)."""
        text = offset_msg_id.strip()
        if len(text) not in (32, 56):
            raise ValueError(f"not an offset msgId: {offset_msg_id!r}")
        try:
            phys = int(text[-16:], 16)
        except ValueError:
            raise ValueError(f"not an offset msgId: {offset_msg_id!r}") from None
        return self.read_at(phys)

    def query_by_key(self, topic: str, key: str, begin_ts: int = 0, end_ts: int | None = None,
                     max_num: int = 32) -> list[bytes]:
        """Records of ``topic`` whose KEYS entry or UNIQ_KEY equals ``key``, stored in
        [begin_ts, end_ts] ms, newest first."""
        if end_ts is None:
            end_ts = 2**63 - 1
        out = []
        for phys in self._s.query_key(topic.encode(), key.encode(), begin_ts, end_ts, max_num):
            try:
                out.append(self._s.read_at(phys))
            except _store.NotFoundError:
                continue  # deleted by retention since it was indexed
        return out

    def query_offsets_by_key(self, topic: str, key: str, begin_ts: int = 0,
                             end_ts: int | None = None, max_num: int = 32) -> list[int]:
        """Commitlog offsets of the records ``query_by_key`` would return."""
        return self._s.query_key(topic.encode(), key.encode(), begin_ts,
                                 2**63 - 1 if end_ts is None else end_ts, max_num)

    def min_offset(self, topic: str, queue_id: int) -> int:
        return self._s.min_offset(topic.encode(), queue_id)

    def max_offset(self, topic: str, queue_id: int) -> int:
        """Next logical offset to be written (= number of entries ever written)."""
        return self._s.max_offset(topic.encode(), queue_id)

    def min_phys_offset(self) -> int:
        return self._s.min_phys_offset()

    def max_phys_offset(self) -> int:
        return self._s.max_phys_offset()

    def phys_of(self, topic: str, queue_id: int, offset: int) -> int:
        """Commitlog offset of the entry at a logical offset, -1 if none."""
        return self._s.phys_of(topic.encode(), queue_id, offset)

    def offset_by_time(self, topic: str, queue_id: int, timestamp_ms: int) -> int:
        """First logical offset stored at or after ``timestamp_ms`` (SEARCH_OFFSET_BY_TIMESTAMP)."""
        return self._s.offset_by_time(topic.encode(), queue_id, timestamp_ms)

    def store_time_at(self, topic: str, queue_id: int, offset: int) -> int:
        """Store time (ms) of the message at a logical offset, -1 if none."""
        return self._s.store_time_at(topic.encode(), queue_id, offset)

    def earliest_store_time(self, topic: str, queue_id: int) -> int:
        """Store time of the oldest message still in the queue, -1 if empty."""
        return self.store_time_at(topic, queue_id, self.min_offset(topic, queue_id))

    def queues(self) -> list[tuple[str, int, int, int]]:
        """Every consume queue as (topic, queue_id, min_offset, max_offset)."""
        return self._s.queues()

    # -- replication -----------------------------------------------------------------------
    def read_raw(self, phys_offset: int, max_bytes: int = 32 * 1024) -> bytes:
        """Master side: raw commitlog bytes from ``phys_offset`` (within one segment)."""
        return self._s.read_raw(phys_offset, max_bytes)

    def append_raw(self, phys_offset: int, data: bytes) -> None:
        """Slave side: append the master's bytes at ``phys_offset`` (= our end) verbatim."""
        self._s.append_raw(phys_offset, data)

    # -- maintenance -----------------------------------------------------------------------
    def delete_topic(self, topic: str) -> None:
        """Remove a topic's consume queues (its commitlog records stay until retention)."""
        self._s.delete_topic(topic.encode())

    def flush(self) -> None:
        """Make everything written so far durable (commitlog, queues, index, checkpoint)."""
        self._s.flush()

    def clean(self, now_ms: int | None = None, *, force: bool = False,
              committed: Committed = None) -> int:
        """One retention step (see ``pyrmq.store.cleanup``); returns segments deleted.
        ``committed``: the consumer groups' committed offsets, ``(group, topic, queue_id) ->
        offset`` (or a callable returning them), so that a forced deletion names the groups
        whose unconsumed messages it deleted."""
        return clean_step(self, now_ms, force=force, committed=committed)

    def delete_expired(self, now_ms: int, reserved_ms: int, *, force: bool,
                       max_files: int = 1) -> int:
        """Delete up to ``max_files`` commitlog segments older than ``reserved_ms`` (all the
        oldest when ``force``), then the queue and index files wholly below the new minimum."""
        return self._s.delete_expired(now_ms, reserved_ms, force, max_files)

    def stats(self) -> dict[str, int]:
        """Counters and offsets of the store (put/get counts, flushed offset, segments,
        dispatch errors and lag, ``retention_*`` counters of deleted segments)."""
        return {**self._s.stats(), **self.retention.as_dict()}
