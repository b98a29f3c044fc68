"""Helpers for store tests: small-segment configurations and record decoding shortcuts."""

from __future__ import annotations

import struct

from pyrmq.store import StoreConfig

MAGIC = 0xDAA320A7


def small_config(**changes) -> StoreConfig:
    """Segments small enough to roll often in tests; fast flush; small index."""
    base = dict(mappedFileSizeCommitLog=256 * 1024, mappedFileSizeConsumeQueue=1000 * 20,
                maxHashSlotNum=1024, maxIndexNum=4096, flushIntervalCommitLog=50,
                flushIntervalConsumeQueue=50, preallocateMappedFile=False)
    base.update(changes)
    return StoreConfig(**base)


def split_records(data: bytes) -> list[bytes]:
    """Raw records back to back -> list of records (by TOTALSIZE)."""
    out, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from(">i", data, pos)
        assert size > 0 and pos + size <= len(data), "bad record size"
        out.append(data[pos:pos + size])
        pos += size
    return out


def record_body(record: bytes) -> bytes:
    """Body of an IPv4-host record (enough for tests that only check payloads)."""
    sysflag = struct.unpack_from(">i", record, 36)[0]
    pos = 48 + (20 if sysflag & 0x10 else 8) + 8 + (20 if sysflag & 0x20 else 8) + 4 + 8
    (n,) = struct.unpack_from(">i", record, pos)
    return record[pos + 4:pos + 4 + n]
