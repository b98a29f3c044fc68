"""Store configuration: RocketMQ 4.9's MessageStoreConfig names and defaults, read in one place.

``StoreConfig.from_properties`` parses the string values of a broker.conf (unknown keys are
ignored, a bad value raises ValueError naming the key); ``to_c`` turns it into the field dict of
the C core's ``rmq_store_config_t``. Nothing here reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

DEFAULT_DELAY_LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
FLUSH_TYPES = ("ASYNC_FLUSH", "SYNC_FLUSH")
BROKER_ROLES = ("ASYNC_MASTER", "SYNC_MASTER", "SLAVE")


def parse_delay_levels(spec: str) -> tuple[int, ...]:
    """``"1s 5s 1m 2h"`` -> delay of each level in ms (level 1 first)."""
    out = []
    for item in spec.split():
        m = re.fullmatch(r"(\d+)([smhd])", item.strip())
        if not m:
            raise ValueError(f"messageDelayLevel: bad level {item!r} (want e.g. 5s, 1m, 2h, 1d)")
        out.append(int(m.group(1)) * _UNIT_MS[m.group(2)])
    if not out:
        raise ValueError("messageDelayLevel: no levels")
    if len(out) > 64:
        raise ValueError("messageDelayLevel: at most 64 levels")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Message store settings; field names are RocketMQ's (``MessageStoreConfig``)."""

    storePathRootDir: str = os.path.join(os.path.expanduser("~"), "store")
    mappedFileSizeCommitLog: int = 1024 * 1024 * 1024
    mappedFileSizeConsumeQueue: int = 300_000 * 20
    maxHashSlotNum: int = 5_000_000
    maxIndexNum: int = 20_000_000
    flushDiskType: str = "ASYNC_FLUSH"
    flushIntervalCommitLog: int = 500
    flushCommitLogLeastPages: int = 4
    flushCommitLogThoroughInterval: int = 10_000
    flushIntervalConsumeQueue: int = 1000
    flushConsumeQueueLeastPages: int = 2
    flushConsumeQueueThoroughInterval: int = 60_000
    syncFlushTimeout: int = 5000
    maxMessageSize: int = 4 * 1024 * 1024
    messageIndexEnable: bool = True
    checkCRCOnRecover: bool = True
    fileReservedTime: int = 72
    deleteWhen: str = "04"
    diskMaxUsedSpaceRatio: int = 75
    diskSpaceWarningLevelRatio: int = 90
    # Retention may delete unexpired segments, oldest first, while disk usage is at or above
    # diskSpaceCleanForciblyRatio (a fraction, RocketMQ's -Drocketmq.broker.
    # diskSpaceCleanForciblyRatio, 0.85); cleanFileForciblyEnable=false never does.
    cleanFileForciblyEnable: bool = True
    diskSpaceCleanForciblyRatio: float = 0.85
    cleanResourceInterval: int = 10_000
    messageDelayLevel: str = DEFAULT_DELAY_LEVELS
    brokerRole: str = "ASYNC_MASTER"
    #: 4.9: a SLAVE corrects no pull offset (answers PULL_RETRY_IMMEDIATELY at the requested
    #: offset) unless this is true
    offsetCheckInSlave: bool = False
    #: percent of physical memory a consumer may lag (by commitlog bytes) and still count as
    #: reading "in memory" (slave suggestion, first offset of a new group)
    accessMessageInMemoryMaxRatio: int = 40
    # Not a RocketMQ key: reserve a segment's blocks when it is created, so a full disk fails
    # the roll with ENOSPC instead of a SIGBUS on a write into a sparse mapping.
    preallocateMappedFile: bool = True
    # RocketMQ's key (its spelling): also pre-fault the commitlog segment that a background
    # thread makes ahead of each roll (the making ahead is always on). Off by default, as in
    # RocketMQ: on 2 cores it cost more CPU than it saved the writer (bench/RESULTS.md); the
    # pages would be clean page cache of the segment file (RssFile, not RssAnon).
    warmMapedFileEnable: bool = False

    def __post_init__(self) -> None:
        if self.flushDiskType not in FLUSH_TYPES:
            raise ValueError(f"flushDiskType: {self.flushDiskType!r} not in {FLUSH_TYPES}")
        if self.brokerRole not in BROKER_ROLES:
            raise ValueError(f"brokerRole: {self.brokerRole!r} not in {BROKER_ROLES}")
        if not 0 <= self.accessMessageInMemoryMaxRatio <= 100:
            raise ValueError("accessMessageInMemoryMaxRatio: must be within [0, 100]")
        if self.mappedFileSizeConsumeQueue % 20 or self.mappedFileSizeConsumeQueue <= 0:
            raise ValueError("mappedFileSizeConsumeQueue: must be a positive multiple of 20")
        if self.mappedFileSizeCommitLog < 4096:
            raise ValueError("mappedFileSizeCommitLog: must be at least 4096")
        if not 0.0 < self.diskSpaceCleanForciblyRatio <= 1.0:
            raise ValueError("diskSpaceCleanForciblyRatio: must be a fraction in (0, 1], "
                             f"not {self.diskSpaceCleanForciblyRatio!r}")
        for name in ("diskMaxUsedSpaceRatio", "diskSpaceWarningLevelRatio"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"{name}: must be a percentage in [0, 100], "
                                 f"not {getattr(self, name)!r}")
        parse_delay_levels(self.messageDelayLevel)
        self.delete_hours()

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> StoreConfig:
        """Build from broker.conf-style values (strings or typed); unknown keys ignored."""
        return cls(**known_fields(cls, props))

    def replace(self, **changes: Any) -> StoreConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def delay_levels_ms(self) -> tuple[int, ...]:
        return parse_delay_levels(self.messageDelayLevel)

    def delete_hours(self) -> frozenset[int]:
        """Hours of the day named by ``deleteWhen`` (``"04"`` or ``"04;16"``)."""
        hours = set()
        for part in self.deleteWhen.split(";"):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or not 0 <= int(part) <= 23:
                raise ValueError(f"deleteWhen: bad hour {part!r}")
            hours.add(int(part))
        return frozenset(hours)

    def to_c(self) -> dict[str, Any]:
        """Field dict for the C core's rmq_store_config_t."""
        return {
            "mapped_file_size_commitlog": self.mappedFileSizeCommitLog,
            "cq_entries_per_file": self.mappedFileSizeConsumeQueue // 20,
            "max_hash_slot_num": self.maxHashSlotNum,
            "max_index_num": self.maxIndexNum,
            "flush_disk_type": FLUSH_TYPES.index(self.flushDiskType),
            "flush_interval_commitlog_ms": self.flushIntervalCommitLog,
            "flush_commitlog_least_pages": self.flushCommitLogLeastPages,
            "flush_commitlog_thorough_ms": self.flushCommitLogThoroughInterval,
            "flush_interval_cq_ms": self.flushIntervalConsumeQueue,
            "flush_cq_least_pages": self.flushConsumeQueueLeastPages,
            "flush_cq_thorough_ms": self.flushConsumeQueueThoroughInterval,
            "sync_flush_timeout_ms": self.syncFlushTimeout,
            "max_message_size": self.maxMessageSize,
            "message_index_enable": int(self.messageIndexEnable),
            "check_crc_on_recover": int(self.checkCRCOnRecover),
            "disk_max_used_space_ratio": self.diskMaxUsedSpaceRatio,
            "disk_space_warning_level_ratio": self.diskSpaceWarningLevelRatio,
            "preallocate": int(self.preallocateMappedFile),
            "warm_mapped_file": int(self.warmMapedFileEnable),
            "delay_level_ms": list(self.delay_levels_ms),
        }


def known_fields(cls: Any, props: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``props`` that name fields of dataclass ``cls``, converted to the
    field's type (bool / int / float / str); a bad value raises ValueError naming the key."""
    return {f.name: _convert(f.name, f.type, props[f.name]) for f in fields(cls)
            if f.name in props}


def _convert(name: str, typ: Any, raw: Any) -> Any:
    typ = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    try:
        if typ == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise ValueError(raw)
        if typ == "int":
            return int(str(raw).strip())
        if typ == "float":
            value = float(str(raw).strip())
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(raw)
            return value
        return str(raw).strip()
    except ValueError:
        raise ValueError(f"{name}: bad value {raw!r} (expected {typ})") from None
