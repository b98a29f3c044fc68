"""Cut a closed store's CommitLog at an offset, keeping what is cut in a side file.

Failover uses it when an old master returns: the tail it wrote after the new master's epoch
began never reached the group, so it goes (Patroni's pg_rewind, Kafka's truncation to the
leader epoch). The bytes from the cut to the end of the data are copied to
``<root>/<side_name>`` (fsynced) before they are zeroed in their segment and later segments are
deleted; the store's own recovery at the next open then drops every ConsumeQueue and index
entry that points past the new end (csrc/src/recovery.c), so no C change is needed.

The store must be closed (nothing maps its files).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from pyrmq.protocol.message import MAGIC_BLANK, MAGIC_MESSAGE
from pyrmq.store.files import segments

_HEAD = struct.Struct(">iI")
_MIN_RECORD = 8


@dataclass(frozen=True, slots=True)
class CutReport:
    """What :func:`cut_commitlog` removed: ``[start, end)`` of the CommitLog, kept in ``side``."""

    start: int
    end: int
    side: str

    @property
    def bytes(self) -> int:
        return self.end - self.start


def _data_end(mm: bytes, start: int) -> int:
    """End of the records (messages and the end-of-segment BLANK) walked from ``start``."""
    pos = start
    while pos + _HEAD.size <= len(mm):
        total, magic = _HEAD.unpack_from(mm, pos)
        if magic not in (MAGIC_MESSAGE, MAGIC_BLANK) or total < _MIN_RECORD:
            break
        pos = min(pos + total, len(mm))
        if magic == MAGIC_BLANK:
            break
    return pos


def cut_commitlog(root: str, at: int, side_name: str) -> CutReport | None:
    """Remove the CommitLog from offset ``at`` on (``at`` must be a record boundary); None when
    nothing lies past ``at``. Raises OSError when a file cannot be read or written."""
    plan: list[tuple[int, str, int, int]] = []  # (base, path, lo, hi) of the bytes to cut
    for base, path, size in segments(root):
        if base + size <= at:
            continue
        lo = max(at - base, 0)
        with open(path, "rb") as f:
            data = f.read()
        hi = _data_end(data, lo)
        plan.append((base, path, lo, hi))
    if not any(hi > lo for _, _, lo, hi in plan):
        return None
    side = os.path.join(root, side_name)
    end = at
    with open(side, "wb") as out:
        for base, path, lo, hi in plan:
            if hi > lo:
                with open(path, "rb") as f:
                    f.seek(lo)
                    out.write(f.read(hi - lo))
                end = base + hi
        out.flush()
        os.fsync(out.fileno())
    for base, path, lo, hi in plan:
        if base >= at:
            os.remove(path)  # wholly past the cut
        elif hi > lo:
            with open(path, "r+b") as f:
                f.seek(lo)
                f.write(b"\0" * (hi - lo))
                f.flush()
                os.fsync(f.fileno())
    return CutReport(at, end, side)
