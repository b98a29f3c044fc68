"""An optional duplicate filter beside the at-least-once path (pyrmq's own; RocketMQ 4.9 has none).

A producer that times out waiting for an ack retries the same message (same UNIQ_KEY). With the
filter on, the broker remembers, for a bounded window, which UNIQ_KEYs of a topic it stored and
where; a send whose key it remembers is answered with the first store's result instead of being
stored twice.

Keys are xxh3-64 hashes of ``topic \\0 UNIQ_KEY`` (8 bytes in a dict instead of two strings: the
window holds up to ``max_entries`` keys in a few tens of MB). A hash hit is only a candidate: the
caller confirms it by reading the stored record's UNIQ_KEY back (``confirm``), so a collision can
never turn a new message into a "duplicate" and lose it. No RocketMQ format fixes this hash, which
is why a fast non-cryptographic one fits.

Pure bookkeeping: no I/O, no broker imports; ``pyrmq.broker.send`` drives it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import xxhash


class Stored(NamedTuple):
    """Where the first copy of a message went (what the send response needs)."""

    phys_offset: int
    msg_id: str
    queue_id: int
    queue_offset: int


class DuplicateFilter:
    """Remembers ``(topic, UNIQ_KEY) -> Stored`` for ``window_s`` seconds, at most
    ``max_entries`` keys (the oldest are forgotten first)."""

    __slots__ = ("window_s", "max_entries", "_clock", "_seen", "hits", "misses",
                 "collisions")

    def __init__(self, window_s: float = 60.0, max_entries: int = 1_000_000, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if window_s <= 0 or max_entries <= 0:
            raise ValueError("window_s and max_entries must be positive")
        self.window_s = window_s
        self.max_entries = max_entries
        self._clock = clock
        self._seen: dict[int, tuple[float, Stored]] = {}  # insertion order = age order
        self.hits = 0        # duplicates answered from the window
        self.misses = 0      # sends stored
        self.collisions = 0  # hash hits whose stored record had another key

    @staticmethod
    def key(topic: str, uniq_key: str) -> int:
        """The window's key of a message: xxh3-64 of ``topic \\0 UNIQ_KEY``."""
        return xxhash.xxh3_64_intdigest(f"{topic}\0{uniq_key}".encode("utf-8", "surrogatepass"))

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        seen = self._seen
        limit = now - self.window_s
        while seen:
            k = next(iter(seen))
            if seen[k][0] >= limit and len(seen) <= self.max_entries:
                break
            del seen[k]

    def lookup(self, key: int, confirm: Callable[[Stored], bool]) -> Stored | None:
        """The first store of the message with this :meth:`key`, or None. ``confirm(stored)``
        must read the record at ``stored.phys_offset`` and say whether its UNIQ_KEY really is
        the message's (a hash hit alone never makes a duplicate)."""
        entry = self._seen.get(key)
        if entry is None:
            return None
        if entry[0] < self._clock() - self.window_s:
            return None  # outside the window (removed at the next remember)
        stored = entry[1]
        if not confirm(stored):
            self.collisions += 1
            return None
        self.hits += 1
        return stored

    def remember(self, key: int, stored: Stored) -> None:
        """Record the message with this :meth:`key`, just stored."""
        now = self._clock()
        self._seen.pop(key, None)  # re-insert at the young end
        self._seen[key] = (now, stored)
        self.misses += 1
        self._expire(now)
