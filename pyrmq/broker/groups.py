"""SubscriptionGroupManager (subscriptionGroup.json) and ConsumerOffsetManager
(consumerOffset.json: ``topic@group`` -> {queueId: offset})."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from pyrmq.broker.persist import load_json, save_json, save_json_soon
from pyrmq.protocol.names import group_problem, group_topics_problem, topic_problem

log = logging.getLogger("pyrmq.broker")

PRESET_GROUPS = ("TOOLS_CONSUMER", "FILTERSRV_CONSUMER", "SELF_TEST_C_GROUP",
                 "CID_ONS-HTTP-PROXY", "CID_ONSAPI_PULL", "CID_ONSAPI_PERMISSION",
                 "CID_ONSAPI_OWNER")


def group_config(name: str, retry_max: int = 16) -> dict[str, Any]:
    return {"brokerId": 0, "consumeBroadcastEnable": True, "consumeEnable": True,
            "consumeFromMinEnable": True, "groupName": name,
            "notifyConsumerIdsChangedEnable": True, "retryMaxTimes": retry_max,
            "retryQueueNums": 1, "whichBrokerWhenConsumeSlowly": 1}


#: the ranges of a group config's numeric fields (retry queues size a topic like queue nums)
_GROUP_INT_RANGES = {"brokerId": (0, 2**63 - 1), "retryMaxTimes": (-1, 2**31 - 1),
                     "retryQueueNums": (0, 1024), "whichBrokerWhenConsumeSlowly": (0, 2**63 - 1)}


def checked_group_config(cfg: Any, retry_max: int = 16) -> dict[str, Any]:
    """A subscription group config from the wire or a file, completed with the defaults; a
    ValueError names the first field of the wrong type or out of range (unknown keys are
    kept, as Java's fastjson ignores them)."""
    if not isinstance(cfg, dict) or not isinstance(cfg.get("groupName"), str):
        raise ValueError("subscription group config needs groupName")
    bad = group_topics_problem(cfg["groupName"])
    if bad is not None:
        raise ValueError(bad)
    out = {**group_config(cfg["groupName"], retry_max), **cfg}
    for key, default in group_config("", retry_max).items():
        v = out[key]
        if isinstance(default, bool):
            if not isinstance(v, bool):
                raise ValueError(f"group {cfg['groupName']}: {key} must be true or false")
        elif isinstance(default, int):
            lo, hi = _GROUP_INT_RANGES[key]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"group {cfg['groupName']}: {key} must be an integer in "
                                 f"[{lo}, {hi}], not {v!r:.40}")
    return out


class SubscriptionGroupManager:
    def __init__(self, config_dir: str, auto_create: bool, retry_max: int = 16) -> None:
        self.path = os.path.join(config_dir, "subscriptionGroup.json")
        self.auto_create = auto_create
        self.retry_max = retry_max
        self.table: dict[str, dict[str, Any]] = {g: group_config(g) for g in PRESET_GROUPS}
        self.version = {"counter": 0, "timestamp": int(time.time() * 1000)}
        data = load_json(self.path)
        if data:
            for name, cfg in (data.get("subscriptionGroupTable") or {}).items():
                bad = group_problem(name)
                if bad is None:
                    try:
                        cfg = checked_group_config(cfg, retry_max)
                    except ValueError as e:
                        bad = str(e)
                if bad is not None:
                    log.warning("%s: group %r skipped: %s", self.path, name, bad)
                    continue
                self.table[name] = cfg
            self.version = data.get("dataVersion") or self.version

    def find(self, group: str) -> dict[str, Any] | None:
        """The group's config, auto-created when allowed (and the name valid, retry and DLQ
        topics included); None otherwise."""
        g = self.table.get(group)
        if g is None and self.auto_create and group and group_topics_problem(group) is None:
            g = self.table[group] = group_config(group, self.retry_max)
            self.version = {"counter": int(self.version["counter"]) + 1,
                            "timestamp": int(time.time() * 1000)}
            self.persist()
        return g

    def put(self, cfg: dict[str, Any]) -> None:
        """Add or replace a group; a bad name or field is a ValueError naming it."""
        cfg = checked_group_config(cfg, self.retry_max)
        self.table[cfg["groupName"]] = cfg
        self.persist()

    def delete(self, group: str) -> None:
        self.table.pop(group, None)
        self.persist()

    def persist(self) -> None:
        table = {}
        for name, cfg in sorted(self.table.items()):
            bad = group_problem(name)
            if bad is None:
                table[name] = cfg
            else:  # one bad entry must not stop the file being written
                log.warning("group %r not persisted: %s", name, bad)
        save_json(self.path, {"dataVersion": self.version, "subscriptionGroupTable": table})


class ConsumerOffsetManager:
    def __init__(self, config_dir: str) -> None:
        self.path = os.path.join(config_dir, "consumerOffset.json")
        self.table: dict[str, dict[int, int]] = {}
        #: on a slave: offsets clients committed here (their master away) that the master's
        #: synced copy has not caught up with yet, ``(topic@group, queueId) -> offset``
        self.local: dict[tuple[str, int], int] = {}
        self.dirty = False
        data = load_json(self.path)
        if data:
            for key, queues in (data.get("offsetTable") or {}).items():
                bad = _key_problem(key)
                if bad is None:
                    try:
                        self.table[key] = {int(q): int(o) for q, o in queues.items()}
                    except (AttributeError, TypeError, ValueError) as e:
                        bad = repr(e)
                if bad is not None:
                    log.warning("%s: offsets of %r skipped: %s", self.path, key, bad)

    def commit(self, group: str, topic: str, queue_id: int, offset: int) -> None:
        self.table.setdefault(f"{topic}@{group}", {})[queue_id] = offset
        self.dirty = True

    def query(self, group: str, topic: str, queue_id: int) -> int:
        return self.table.get(f"{topic}@{group}", {}).get(queue_id, -1)

    def groups_of_topic(self, topic: str) -> list[str]:
        return sorted(k.split("@", 1)[1] for k in self.table if k.split("@", 1)[0] == topic)

    def to_json_obj(self) -> dict[str, Any]:
        """The offset table (entries whose topic or group is not a valid name left out)."""
        out = {}
        for k, v in sorted(self.table.items()):
            bad = _key_problem(k)
            if bad is None:
                out[k] = {str(q): o for q, o in sorted(v.items())}
            else:
                log.warning("offsets of %r not persisted: %s", k, bad)
        return {"offsetTable": out}

    def committed(self) -> dict[tuple[str, str, int], int]:
        """Every committed offset as ``(group, topic, queueId) -> offset`` (a snapshot)."""
        out = {}
        for k, queues in list(self.table.items()):
            topic, _, group = k.partition("@")
            for q, o in list(queues.items()):
                out[(group, topic, q)] = o
        return out

    def persist(self, force: bool = False) -> None:
        if self.dirty or force:
            self.dirty = False
            if not save_json(self.path, self.to_json_obj()):
                self.dirty = True  # not on disk yet: the next period tries again

    def persist_soon(self) -> None:
        """The periodic persist: the snapshot is taken here, written off the event loop."""
        if self.dirty:
            self.dirty = False
            save_json_soon(self.path, self.to_json_obj(), self._written)

    def _written(self, ok: bool) -> None:
        if not ok:
            self.dirty = True  # not on disk yet: the next period tries again


def _key_problem(key: str) -> str | None:
    topic, sep, group = key.partition("@")
    if not sep:
        return "not topic@group"
    return topic_problem(topic) or group_problem(group)
