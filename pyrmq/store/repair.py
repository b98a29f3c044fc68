"""Offline repair of commitlog segments whose file size is not ``mappedFileSizeCommitLog``
(a copy cut short, a file system that lost its tail): the C core refuses to open such a store,
naming the file; ``pyrmq store verify`` reports it and ``pyrmq store rebuild --fix-segment-size``
repairs it with ``fix_segment_sizes`` below, keeping every record the file still holds:

- a segment shorter than expected is extended with zeros; when it is not the last one, a BLANK
  end-of-segment marker is written after its last whole record so the log continues in the
  next segment (a record cut by the short file is dropped, and said so);
- a segment longer than expected is shrunk when nothing but zeros lies past the expected size;
- anything else (data past the expected size, a start offset that is not a multiple of it)
  cannot be repaired without losing records: ``RepairError`` says which file and why.
"""

from __future__ import annotations

import collections
import mmap
import os
import struct

from pyrmq.protocol.message import MAGIC_BLANK, MAGIC_MESSAGE
from pyrmq.store.files import Problem, segments

MIN_RECORD = 91


class RepairError(Exception):
    """A segment that cannot be repaired without losing records."""


def expected_segment_size(root: str, configured: int | None = None) -> int | None:
    """``configured`` when given, else the size most segments have (the larger on a tie);
    None for an empty commitlog."""
    if configured:
        return configured
    sizes = collections.Counter(size for _, _, size in segments(root))
    if not sizes:
        return None
    return max(sizes, key=lambda n: (sizes[n], n))


def segment_size_problems(root: str, expected: int) -> list[Problem]:
    """One Problem per commitlog segment whose size or start offset does not fit ``expected``."""
    out = []
    for base, path, size in segments(root):
        if size != expected:
            out.append(Problem(path, 0, f"segment size {size} bytes, expected {expected} "
                                        "(mappedFileSizeCommitLog)"))
        elif base % expected:
            out.append(Problem(path, 0, f"segment start {base} is not a multiple of {expected}"))
    return out


def data_end(path: str) -> tuple[int, bool]:
    """(end of the last whole record in the segment file, whether a record was cut there)."""
    size = os.path.getsize(path)
    if size < 8:
        return 0, False
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = 0
        while pos + 8 <= size:
            total, magic = struct.unpack_from(">iI", mm, pos)
            if magic != MAGIC_MESSAGE or total < MIN_RECORD:
                return pos, False
            if pos + total > size:
                return pos, True
            pos += total
        return pos, False


def fix_segment_sizes(root: str, expected: int) -> list[str]:
    """Repair every segment of the wrong size (see the module docstring); returns one line per
    change. Raises RepairError, before changing anything, when a segment cannot be repaired."""
    segs = segments(root)
    plan = []
    for i, (base, path, size) in enumerate(segs):
        if size == expected and base % expected == 0:
            continue
        if base % expected:
            raise RepairError(f"{path}: start offset {base} is not a multiple of the segment "
                              f"size {expected}; give the right --segment-size or move the "
                              "file aside")
        if size > expected and not _zeros_from(path, expected):
            raise RepairError(f"{path}: {size} bytes, more than the segment size {expected}, "
                              f"with data past {expected}: shrinking it would lose records; "
                              "give the right --segment-size or move the file aside")
        plan.append((path, size, i == len(segs) - 1))
    done = []
    for path, size, last in plan:
        if size > expected:
            os.truncate(path, expected)
            done.append(f"{path}: shrunk from {size} to {expected} bytes (only zeros past "
                        f"{expected})")
            continue
        end, cut = data_end(path)
        os.truncate(path, expected)
        text = f"{path}: extended from {size} to {expected} bytes"
        if not last:  # the log continues in the next segment
            with open(path, "r+b") as f:
                f.seek(end)
                f.write(struct.pack(">iI", expected - end, MAGIC_BLANK))
            text += f", BLANK end marker at {end}"
        if cut:
            text += f"; the record at {end} was cut by the short file and is dropped"
        done.append(text)
    return done


def _zeros_from(path: str, start: int) -> bool:
    with open(path, "rb") as f:
        f.seek(start)
        while chunk := f.read(1 << 20):
            if chunk.count(0) != len(chunk):
                return False
    return True
