"""TopicConfigManager: the broker's topics (topics.json), system topics, auto-creation."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.persist import load_json, save_json, save_json_soon
from pyrmq.protocol.bodies import TopicConfig
from pyrmq.protocol.codes import PermName
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.names import DLQ_PREFIX, RETRY_PREFIX, topic_problem

log = logging.getLogger("pyrmq.broker")

TBW102 = "TBW102"
SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"
__all__ = ["DLQ_PREFIX", "RETRY_PREFIX", "SCHEDULE_TOPIC", "SYSTEM_TOPICS", "TBW102",
           "TopicConfigManager", "dlq_topic", "retry_topic"]
SYSTEM_TOPICS = frozenset({TBW102, SCHEDULE_TOPIC, "BenchmarkTest", "RMQ_SYS_TRANS_HALF_TOPIC",
                           "RMQ_SYS_TRACE_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
                           "TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC",
                           "OFFSET_MOVED_EVENT"})


def retry_topic(group: str) -> str:
    return RETRY_PREFIX + group


def dlq_topic(group: str) -> str:
    return DLQ_PREFIX + group


class TopicConfigManager:
    def __init__(self, cfg: BrokerConfig, config_dir: str) -> None:
        self.cfg = cfg
        self.path = os.path.join(config_dir, "topics.json")
        self.table: dict[str, TopicConfig] = {}
        self.version = {"counter": 0, "timestamp": int(time.time() * 1000)}
        self._system()
        data = load_json(self.path)
        if data:
            for name, tc in (data.get("topicConfigTable") or {}).items():
                bad = topic_problem(name)
                if bad is not None:
                    log.warning("%s: topic %r skipped: %s", self.path, name, bad)
                    continue
                try:
                    self.table[name] = TopicConfig.from_dict(tc)
                except RemoteProtocolError as e:
                    log.warning("%s: topic %r skipped: %s", self.path, name, e)
            self.version = data.get("dataVersion") or self.version
        self.bump()

    def _system(self) -> None:
        c = self.cfg
        rw = PermName.READ | PermName.WRITE
        add = self.table.setdefault
        add("SELF_TEST_TOPIC", TopicConfig("SELF_TEST_TOPIC", 1, 1))
        if c.autoCreateTopicEnable:
            add(TBW102, TopicConfig(TBW102, c.defaultTopicQueueNums, c.defaultTopicQueueNums,
                                    rw | PermName.INHERIT))
        add("BenchmarkTest", TopicConfig("BenchmarkTest", 1024, 1024))
        if c.clusterTopicEnable:
            add(c.brokerClusterName, TopicConfig(c.brokerClusterName, 16, 16,
                                                 rw | PermName.INHERIT))
        if c.brokerTopicEnable:
            add(c.brokerName, TopicConfig(c.brokerName, 1, 1, rw | PermName.INHERIT))
        add("OFFSET_MOVED_EVENT", TopicConfig("OFFSET_MOVED_EVENT", 1, 1))
        add(SCHEDULE_TOPIC, TopicConfig(SCHEDULE_TOPIC, 18, 18))

    def bump(self) -> None:
        self.version = {"counter": int(self.version.get("counter", 0)) + 1,
                        "timestamp": int(time.time() * 1000)}

    def get(self, topic: str) -> TopicConfig | None:
        return self.table.get(topic)

    def put(self, tc: TopicConfig) -> None:
        """Add or replace a topic; a name that breaks the topic rules is a ValueError (the
        request paths validate before; this guards the file and the store behind it)."""
        bad = topic_problem(tc.topicName)
        if bad is not None:
            raise ValueError(bad)
        self.table[tc.topicName] = tc
        self.bump()
        self.persist_soon()

    def delete(self, topic: str) -> bool:
        if self.table.pop(topic, None) is None:
            return False
        self.bump()
        self.persist_soon()
        return True

    def create_from_default(self, topic: str, default_topic: str, queue_nums: int
                            ) -> TopicConfig | None:
        """Auto-create on send (createTopicInSendMessageMethod); None when not allowed."""
        default = self.table.get(default_topic)
        if default is None or not default.perm & PermName.INHERIT:
            return None
        if default_topic == TBW102 and not self.cfg.autoCreateTopicEnable:
            return None
        n = max(1, min(queue_nums, default.writeQueueNums))
        tc = TopicConfig(topic, n, n, default.perm & ~PermName.INHERIT)
        self.put(tc)
        return tc

    def ensure(self, topic: str, queues: int, perm: int = 6) -> tuple[TopicConfig, bool]:
        """The topic, created with ``queues`` queues when missing; (config, created)."""
        tc = self.table.get(topic)
        if tc is not None:
            return tc, False
        tc = TopicConfig(topic, queues, queues, perm)
        self.put(tc)
        return tc, True

    def valid_table(self) -> dict[str, TopicConfig]:
        """The topics whose names are valid; any other entry is logged and left out, so one
        bad entry never stops persistence or NameServer registration of the rest."""
        out = {}
        for n, tc in self.table.items():
            bad = topic_problem(n)
            if bad is None:
                out[n] = tc
            else:
                log.warning("topic %r not persisted or registered: %s", n, bad)
        return out

    def _snapshot(self) -> dict[str, Any]:
        return {"dataVersion": dict(self.version), "topicConfigTable": {
            n: tc.to_dict() for n, tc in sorted(self.valid_table().items())}}

    def persist(self) -> None:
        save_json(self.path, self._snapshot())

    def persist_soon(self) -> None:
        """After a change made on the event loop (a topic created by a send): written by the
        persistence thread."""
        save_json_soon(self.path, self._snapshot())
