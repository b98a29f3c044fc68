"""Reading a store directory offline, straight from the files (no C core, no lock): commitlog
segments (BLANK-aware), consume queues, index files, checkpoint. Files are mapped, never read
whole, so multi-GiB stores stream."""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.message import MAGIC_BLANK, MAGIC_MESSAGE, decode_record

CQ_UNIT = 20
INDEX_HEADER = 40


def _numbered(dirpath: str, digits: int) -> list[str]:
    try:
        names = os.listdir(dirpath)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if len(n) == digits and n.isdigit())


def segments(root: str) -> list[tuple[int, str, int]]:
    """Commitlog segments as (base offset, path, size)."""
    d = os.path.join(root, "commitlog")
    return [(int(n), os.path.join(d, n), os.path.getsize(os.path.join(d, n)))
            for n in _numbered(d, 20)]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something verify found: the file, the byte offset in it, what is wrong."""

    file: str
    offset: int
    what: str

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "offset": self.offset, "problem": self.what}


def scan_commitlog(root: str, start: int = 0, problems: list[Problem] | None = None
                   ) -> Iterator[tuple[int, bytes]]:
    """Yield (commitlog offset, raw record) for every record from ``start``; a record that
    fails magic/size/CRC checks ends the scan (recorded in ``problems``)."""
    for base, path, size in segments(root):
        if base + size <= start:
            continue
        with open(path, "rb") as f:
            if size == 0:
                continue
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                pos = max(0, start - base)
                while pos + 8 <= size:
                    total, magic = struct.unpack_from(">iI", mm, pos)
                    if magic == MAGIC_BLANK:
                        break
                    if total == 0 and magic == 0:
                        return
                    err = None
                    if magic != MAGIC_MESSAGE or total < 91 or pos + total > size:
                        err = f"bad record header (size {total}, magic {magic:#010x})"
                    else:
                        rec = mm[pos:pos + total]
                        try:
                            m = decode_record(rec)
                            if zlib.crc32(m.body) & 0x7FFFFFFF != m.body_crc:
                                err = "body CRC mismatch"
                            elif m.phys_offset != base + pos:
                                err = f"PHYSICALOFFSET {m.phys_offset} != position {base + pos}"
                        except RemoteProtocolError as e:
                            err = str(e)
                    if err:
                        if problems is not None:
                            problems.append(Problem(path, pos, err))
                        return
                    yield base + pos, rec
                    pos += total
            finally:
                mm.close()


def cq_entries(root: str, topic: str, queue_id: int) -> Iterator[tuple[int, int, int, int]]:
    """(logical offset, commitlog offset, size, tagsCode) of every written entry."""
    d = os.path.join(root, "consumequeue", topic, str(queue_id))
    for name in _numbered(d, 20):
        path = os.path.join(d, name)
        first = int(name) // CQ_UNIT
        with open(path, "rb") as f:
            data = f.read() if os.path.getsize(path) < (1 << 20) else None
            buf = data if data is not None else mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            for i in range(len(buf) // CQ_UNIT):
                phys, size, tags = struct.unpack_from(">qiq", buf, i * CQ_UNIT)
                if phys == 0 and size == 0:
                    return
                yield first + i, phys, size, tags


def consume_queues(root: str) -> list[tuple[str, int]]:
    d = os.path.join(root, "consumequeue")
    out = []
    for topic in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        for q in sorted(os.listdir(os.path.join(d, topic))):
            if q.isdigit():
                out.append((topic, int(q)))
    return out


def index_files(root: str) -> list[dict[str, object]]:
    d = os.path.join(root, "index")
    out = []
    for name in _numbered(d, 17):
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            h = f.read(INDEX_HEADER)
        if len(h) < INDEX_HEADER:
            continue
        b_ts, e_ts, b_phys, e_phys, slots, count = struct.unpack(">qqqqii", h)
        out.append({"file": name, "beginTimestamp": b_ts, "endTimestamp": e_ts,
                    "beginPhyOffset": b_phys, "endPhyOffset": e_phys, "hashSlotCount": slots,
                    "indexCount": count, "size": os.path.getsize(path)})
    return out


def checkpoint(root: str) -> dict[str, int]:
    try:
        with open(os.path.join(root, "checkpoint"), "rb") as f:
            p, lg, ix = struct.unpack(">qqq", f.read(24))
    except (OSError, struct.error):
        return {}
    return {"physicMsgTimestamp": p, "logicsMsgTimestamp": lg, "indexMsgTimestamp": ix}


def store_locked(root: str) -> bool:
    """True when a live process holds the store's lock file."""
    import fcntl

    path = os.path.join(root, "lock")
    if not os.path.exists(path):
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def read_record(root: str, phys: int) -> bytes | None:
    """The raw record starting at a commitlog offset, or None."""
    for base, path, size in segments(root):
        if base <= phys < base + size:
            with open(path, "rb") as f:
                f.seek(phys - base)
                head = f.read(8)
                if len(head) < 8:
                    return None
                total, magic = struct.unpack(">iI", head)
                if magic != MAGIC_MESSAGE or total < 91 or phys - base + total > size:
                    return None
                return head + f.read(total - 8)
    return None


def index_lookup(root: str, topic: str, key: str) -> list[int]:
    """Commitlog offsets the index files hold for ``topic#key`` (newest file first; callers
    check the record, as hashes can collide)."""
    from pyrmq.protocol.message import java_hash

    h = java_hash(f"{topic}#{key}")
    h = 0 if h == -(2**31) else abs(h)
    out: list[int] = []
    d = os.path.join(root, "index")
    for name in reversed(_numbered(d, 17)):
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                count = struct.unpack_from(">i", mm, 36)[0]
                slots = index_slots(len(mm))
                idx = struct.unpack_from(">i", mm, INDEX_HEADER + (h % slots) * 4)[0]
                guard = 0
                while 0 < idx < count and guard < count:
                    pos = INDEX_HEADER + slots * 4 + idx * 20
                    eh, phys, _diff, prev = struct.unpack_from(">iqii", mm, pos)
                    if eh == h:
                        out.append(phys)
                    if prev <= 0 or prev >= idx:
                        break
                    idx, guard = prev, guard + 1
            finally:
                mm.close()
    return out


def index_slots(file_size: int) -> int:
    """Hash slots of an IndexFile of this size, assuming RocketMQ's 1:4 slot:entry ratio
    (40 + slots*4 + 4*slots*20 bytes); ValueError for any other geometry."""
    slots = (file_size - INDEX_HEADER) // 84
    if slots <= 0 or INDEX_HEADER + slots * 84 != file_size:
        raise ValueError(f"cannot infer the index layout from a file of {file_size} bytes")
    return slots
