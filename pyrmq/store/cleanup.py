"""Retention: RocketMQ's CleanCommitLogService policy, one file per step.

Commitlog segments older than ``fileReservedTime`` hours are deleted when the local hour is one
of ``deleteWhen``, or at once when the disk holding the store is fuller than
``diskMaxUsedSpaceRatio`` percent. At or above ``diskSpaceCleanForciblyRatio`` (a fraction,
0.85) and with ``cleanFileForciblyEnable`` (default true, as in RocketMQ 4.9) the oldest segment
goes even when it has not expired: a *forced deletion*, which may delete messages no consumer
has read. Each forced deletion logs one WARNING naming the segment, its commitlog offset range
and the consumer groups whose unconsumed messages went, and is counted in
``RetentionCounters`` (``MessageStore.retention``, also in ``MessageStore.stats()``). The C core
then drops the consume-queue and index files wholly below the new minimum commitlog offset.
The broker calls ``clean_step`` every ``cleanResourceInterval`` ms.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Union

from pyrmq.store import files

if TYPE_CHECKING:
    from pyrmq.store.message_store import MessageStore

log = logging.getLogger(__name__)

# (consumer group, topic, queue id) -> committed consume offset
CommittedOffsets = Mapping[tuple[str, str, int], int]
Committed = Union[CommittedOffsets, Callable[[], CommittedOffsets], None]


@dataclass(slots=True)
class RetentionCounters:
    """What retention deleted since the store was opened (for metrics)."""

    segments_deleted: int = 0          # commitlog segments removed (expired or forced)
    bytes_deleted: int = 0             # their sizes
    forced_deletions: int = 0          # segments removed before they expired
    forced_bytes_deleted: int = 0
    unconsumed_messages_lost: int = 0  # messages of committed groups deleted before consumed

    def as_dict(self) -> dict[str, int]:
        return {f"retention_{k}": v for k, v in asdict(self).items()}


def disk_usage_ratio(path: str) -> float:
    """Fraction of the filesystem holding ``path`` that is in use (0.0-1.0)."""
    usage = shutil.disk_usage(path)  # as df's Use%: used / (used + available)
    return usage.used / (usage.used + usage.free) if usage.used + usage.free else 0.0


def clean_step(store: MessageStore, now_ms: int | None = None, *, force: bool = False,
               usage_ratio: float | None = None, committed: Committed = None) -> int:
    """Run one retention step; returns the number of commitlog segments deleted.

    ``force`` deletes the oldest segment whatever its age (an explicit request).
    ``committed`` (a mapping or a callable returning one) gives the consumer groups' committed
    offsets, so a forced deletion can name the groups that lost unconsumed messages.
    """
    cfg = store.config
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    hour = time.localtime(now_ms / 1000).tm_hour
    ratio = disk_usage_ratio(store.root) if usage_ratio is None else usage_ratio
    space_over = ratio * 100 > cfg.diskMaxUsedSpaceRatio
    if not (force or space_over or hour in cfg.delete_hours()):
        return 0
    reserved_ms = cfg.fileReservedTime * 3_600_000
    forcibly = force or (cfg.cleanFileForciblyEnable
                         and ratio >= cfg.diskSpaceCleanForciblyRatio)
    segs = files.segments(store.root)
    if len(segs) < 2:  # the segment being written is never deleted
        return 0
    base, path, size = segs[0]
    try:
        expired = os.stat(path).st_mtime * 1000 + reserved_ms <= now_ms
    except FileNotFoundError:
        return 0
    if expired or not forcibly:
        deleted = store.delete_expired(now_ms, reserved_ms, force=False, max_files=1)
        _count(store.retention, deleted, size)
        return deleted
    offsets = committed() if callable(committed) else committed
    before = _queue_mins(store, offsets)
    deleted = store.delete_expired(now_ms, reserved_ms, force=True, max_files=1)
    if deleted:
        _count(store.retention, deleted, size)
        _report_forced(store, path, base, size, ratio, force, offsets or {}, before)
    return deleted


def _count(c: RetentionCounters, deleted: int, size: int) -> None:
    c.segments_deleted += deleted
    c.bytes_deleted += deleted * size


def _queue_mins(store: MessageStore, offsets: CommittedOffsets | None
                ) -> dict[tuple[str, int], int]:
    if not offsets:
        return {}
    return {(t, q): store.min_offset(t, q) for _g, t, q in offsets}


def _report_forced(store: MessageStore, path: str, base: int, size: int, ratio: float,
                   explicit: bool, offsets: CommittedOffsets,
                   before: dict[tuple[str, int], int]) -> None:
    c = store.retention
    c.forced_deletions += 1
    c.forced_bytes_deleted += size
    lost: dict[str, list[str]] = {}
    for (group, topic, qid), committed in sorted(offsets.items()):
        new_min = store.min_offset(topic, qid)
        n = new_min - max(committed, before.get((topic, qid), 0))
        if n > 0:  # the group had not consumed up to what is now gone
            c.unconsumed_messages_lost += n
            lost.setdefault(group, []).append(f"{topic}/{qid}: {n}")
    why = ("on request" if explicit else
           f"disk {ratio:.1%} >= diskSpaceCleanForciblyRatio "
           f"{store.config.diskSpaceCleanForciblyRatio:.0%}")
    groups = "; ".join(f"{g} ({', '.join(q)})" for g, q in lost.items()) or "none known"
    log.warning("forced deletion (%s) of unexpired commitlog segment %s, offsets [%d, %d); "
                "consumer groups whose unconsumed messages were deleted: %s", why, path, base,
                base + size, groups)
