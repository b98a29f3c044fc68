"""SubscriptionGroupManager (subscriptionGroup.json) and ConsumerOffsetManager
(consumerOffset.json: ``topic@group`` -> {queueId: offset})."""

from __future__ import annotations

import os
import time
from typing import Any

from pyrmq.broker.persist import load_json, save_json

PRESET_GROUPS = ("TOOLS_CONSUMER", "FILTERSRV_CONSUMER", "SELF_TEST_C_GROUP",
                 "CID_ONS-HTTP-PROXY", "CID_ONSAPI_PULL", "CID_ONSAPI_PERMISSION",
                 "CID_ONSAPI_OWNER")


def group_config(name: str, retry_max: int = 16) -> dict[str, Any]:
    return {"brokerId": 0, "consumeBroadcastEnable": True, "consumeEnable": True,
            "consumeFromMinEnable": True, "groupName": name,
            "notifyConsumerIdsChangedEnable": True, "retryMaxTimes": retry_max,
            "retryQueueNums": 1, "whichBrokerWhenConsumeSlowly": 1}


class SubscriptionGroupManager:
    def __init__(self, config_dir: str, auto_create: bool, retry_max: int = 16) -> None:
        self.path = os.path.join(config_dir, "subscriptionGroup.json")
        self.auto_create = auto_create
        self.retry_max = retry_max
        self.table: dict[str, dict[str, Any]] = {g: group_config(g) for g in PRESET_GROUPS}
        self.version = {"counter": 0, "timestamp": int(time.time() * 1000)}
        data = load_json(self.path)
        if data:
            self.table.update(data.get("subscriptionGroupTable") or {})
            self.version = data.get("dataVersion") or self.version

    def find(self, group: str) -> dict[str, Any] | None:
        """The group's config, auto-created when allowed; None otherwise."""
        g = self.table.get(group)
        if g is None and self.auto_create and group:
            g = self.table[group] = group_config(group, self.retry_max)
            self.version = {"counter": int(self.version["counter"]) + 1,
                            "timestamp": int(time.time() * 1000)}
            self.persist()
        return g

    def put(self, cfg: dict[str, Any]) -> None:
        self.table[cfg["groupName"]] = {**group_config(cfg["groupName"]), **cfg}
        self.persist()

    def delete(self, group: str) -> None:
        self.table.pop(group, None)
        self.persist()

    def persist(self) -> None:
        save_json(self.path, {"dataVersion": self.version, "subscriptionGroupTable":
                              dict(sorted(self.table.items()))})


class ConsumerOffsetManager:
    def __init__(self, config_dir: str) -> None:
        self.path = os.path.join(config_dir, "consumerOffset.json")
        self.table: dict[str, dict[int, int]] = {}
        self.dirty = False
        data = load_json(self.path)
        if data:
            for key, queues in (data.get("offsetTable") or {}).items():
                self.table[key] = {int(q): int(o) for q, o in queues.items()}

    def commit(self, group: str, topic: str, queue_id: int, offset: int) -> None:
        self.table.setdefault(f"{topic}@{group}", {})[queue_id] = offset
        self.dirty = True

    def query(self, group: str, topic: str, queue_id: int) -> int:
        return self.table.get(f"{topic}@{group}", {}).get(queue_id, -1)

    def groups_of_topic(self, topic: str) -> list[str]:
        return sorted(k.split("@", 1)[1] for k in self.table if k.split("@", 1)[0] == topic)

    def to_json_obj(self) -> dict[str, Any]:
        return {"offsetTable": {k: {str(q): o for q, o in sorted(v.items())}
                                for k, v in sorted(self.table.items())}}

    def persist(self, force: bool = False) -> None:
        if self.dirty or force:
            self.dirty = False
            save_json(self.path, self.to_json_obj())
