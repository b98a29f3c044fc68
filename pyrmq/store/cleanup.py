"""Retention: RocketMQ's CleanCommitLogService policy, one file per step.

Commitlog segments older than ``fileReservedTime`` hours are deleted when the local hour is one
of ``deleteWhen``, or at once when the disk holding the store is fuller than
``diskMaxUsedSpaceRatio`` percent; above 85 % (RocketMQ's diskSpaceCleanForciblyRatio) the oldest
segments go regardless of age. The C core then drops the consume-queue and index files wholly
below the new minimum commitlog offset. The broker calls ``clean_step`` every
``cleanResourceInterval`` ms.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyrmq.store.message_store import MessageStore

CLEAN_FORCIBLY_RATIO = 0.85


def disk_usage_ratio(path: str) -> float:
    """Fraction of the filesystem holding ``path`` that is in use (0.0-1.0)."""
    usage = shutil.disk_usage(path)  # as df's Use%: used / (used + available)
    return usage.used / (usage.used + usage.free) if usage.used + usage.free else 0.0


def clean_step(store: MessageStore, now_ms: int | None = None, *, force: bool = False,
               usage_ratio: float | None = None) -> int:
    """Run one retention step; returns the number of commitlog segments deleted."""
    cfg = store.config
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    hour = time.localtime(now_ms / 1000).tm_hour
    ratio = disk_usage_ratio(store.root) if usage_ratio is None else usage_ratio
    space_over = ratio * 100 > cfg.diskMaxUsedSpaceRatio
    if not (force or space_over or hour in cfg.delete_hours()):
        return 0
    reserved_ms = cfg.fileReservedTime * 3_600_000
    forcibly = force or ratio >= CLEAN_FORCIBLY_RATIO
    return store.delete_expired(now_ms, reserved_ms, force=forcibly, max_files=1)
