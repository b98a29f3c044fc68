"""TopicConfigManager: the broker's topics (topics.json), system topics, auto-creation."""

from __future__ import annotations

import os
import re
import time

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.persist import load_json, save_json
from pyrmq.protocol.bodies import TopicConfig
from pyrmq.protocol.codes import PermName

TBW102 = "TBW102"
SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"
RETRY_PREFIX = "%RETRY%"
DLQ_PREFIX = "%DLQ%"
SYSTEM_TOPICS = frozenset({TBW102, SCHEDULE_TOPIC, "BenchmarkTest", "RMQ_SYS_TRANS_HALF_TOPIC",
                           "RMQ_SYS_TRACE_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
                           "TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC",
                           "OFFSET_MOVED_EVENT"})
_VALID = re.compile(r"^[%|a-zA-Z0-9_-]+$")


def validate_topic(topic: str) -> str | None:
    """None when valid, else the reason (RocketMQ TopicValidator)."""
    if not topic or not topic.strip():
        return "The specified topic is blank."
    if len(topic) > 127:
        return "The specified topic is longer than topic max length 127."
    if not _VALID.match(topic):
        return f"The specified topic[{topic}] contains illegal characters, allowing only " \
               "^[%|a-zA-Z0-9_-]+$"
    return None


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
                self.table[name] = TopicConfig.from_dict(tc)
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
        self.table[tc.topicName] = tc
        self.bump()
        self.persist()

    def delete(self, topic: str) -> bool:
        if self.table.pop(topic, None) is None:
            return False
        self.bump()
        self.persist()
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

    def persist(self) -> None:
        save_json(self.path, {"dataVersion": self.version, "topicConfigTable": {
            n: tc.to_dict() for n, tc in sorted(self.table.items())}})
