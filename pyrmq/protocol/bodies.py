"""JSON bodies (ROCKETMQ_FACTS §3): topic config and route data, register-broker body,
heartbeat data, lock bodies, consumer lists. Readers accept what Java and the C++ wheel write
(enum ordinals or names, numbers as strings, missing sets); writers emit Java's shape."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from pyrmq.protocol import jsonx
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.message import java_hash

CONSUME_TYPES = ("CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP")
MESSAGE_MODELS = ("BROADCASTING", "CLUSTERING")
CONSUME_FROM = ("CONSUME_FROM_LAST_OFFSET", "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
                "CONSUME_FROM_MIN_OFFSET", "CONSUME_FROM_MAX_OFFSET", "CONSUME_FROM_FIRST_OFFSET",
                "CONSUME_FROM_TIMESTAMP")


def _enum(value: Any, names: tuple[str, ...], what: str) -> str:
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str) and value in names:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) < len(names):
        return names[int(value)]
    raise RemoteProtocolError(f"bad {what}: {value!r}")


#: the most queues a topic may have (RocketMQ's BenchmarkTest system topic has this many)
MAX_QUEUE_NUMS = 1024


@dataclass(slots=True)
class TopicConfig:
    """A topic's queues and permissions (Java TopicConfig)."""

    topicName: str
    readQueueNums: int = 16
    writeQueueNums: int = 16
    perm: int = 6
    topicFilterType: str = "SINGLE_TAG"
    topicSysFlag: int = 0
    order: bool = False

    def __post_init__(self) -> None:
        # a plain int whatever the caller passed: a PermName flag here would make every
        # `perm & bit` test on the send and pull paths build a flag object (2-3 % of samples)
        self.perm = int(self.perm)
        # a topic's queue counts size the broker's tables and the client's loops: a request
        # asking for 2**31 queues must be refused, not honoured
        for what, n in (("readQueueNums", self.readQueueNums),
                        ("writeQueueNums", self.writeQueueNums)):
            if not 0 <= n <= MAX_QUEUE_NUMS:
                raise RemoteProtocolError(
                    f"{what} {n} out of range [0, {MAX_QUEUE_NUMS}] for topic {self.topicName}")
        if not 0 <= self.perm <= 7:
            raise RemoteProtocolError(f"perm {self.perm} out of range [0, 7]")

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "perm": self.perm, "readQueueNums": self.readQueueNums,
                "topicFilterType": self.topicFilterType, "topicName": self.topicName,
                "topicSysFlag": self.topicSysFlag, "writeQueueNums": self.writeQueueNums}

    def encode(self) -> str:
        """Java TopicConfig.encode(): "name read write perm FILTERTYPE" (compressed register)."""
        return (f"{self.topicName} {self.readQueueNums} {self.writeQueueNums} {self.perm} "
                f"{self.topicFilterType}")

    @classmethod
    def decode(cls, text: str) -> TopicConfig:
        """Inverse of ``encode``; malformed text raises RemoteProtocolError."""
        f = text.split(" ")
        try:
            return cls(f[0], int(f[1]), int(f[2]), int(f[3]), f[4] if len(f) > 4 else "SINGLE_TAG")
        except (IndexError, ValueError):
            raise RemoteProtocolError(f"bad topic config text: {text!r}") from None

    @classmethod
    @jsonx.reader("topic config")
    def from_dict(cls, d: dict[str, Any]) -> TopicConfig:
        try:
            return cls(str(d["topicName"]), int(d.get("readQueueNums", 16)),
                       int(d.get("writeQueueNums", 16)), int(d.get("perm", 6)),
                       str(d.get("topicFilterType", "SINGLE_TAG")),
                       int(d.get("topicSysFlag", d.get("topicSynFlag", 0))),
                       bool(d.get("order", False)))
        except (KeyError, TypeError, ValueError) as e:
            raise RemoteProtocolError(f"bad topic config: {e}") from None


def data_version(timestamp: int, counter: int) -> dict[str, int]:
    return {"counter": counter, "timestamp": timestamp}


def register_broker_body(topics: dict[str, TopicConfig], version: dict[str, int]) -> bytes:
    """RegisterBrokerBody (uncompressed JSON form)."""
    return jsonx.dumps({"filterServerList": [], "topicConfigSerializeWrapper": {
        "dataVersion": version,
        "topicConfigTable": {name: tc.to_dict() for name, tc in topics.items()}}})


def encode_register_broker_body_compressed(topics: dict[str, TopicConfig],
                                           version: dict[str, int]) -> bytes:
    """RegisterBrokerBody in the compressed form (brokerConfig.compressedRegister): zlib of
    [i32 len][dataVersion JSON][i32 n] n x [i32 len]["name read write perm FILTER"]
    [i32 len][filterServerList JSON]."""
    def chunk(b: bytes) -> bytes:
        return struct.pack(">i", len(b)) + b
    parts = [chunk(jsonx.dumps(version)), struct.pack(">i", len(topics))]
    for tc in topics.values():
        parts.append(chunk(f"{tc.topicName} {tc.readQueueNums} {tc.writeQueueNums} {tc.perm} "
                           f"{tc.topicFilterType}".encode()))
    parts.append(chunk(b"[]"))
    return zlib.compress(b"".join(parts), 9)


def _parse_compressed_register(body: bytes) -> tuple[dict[str, int], dict[str, TopicConfig]]:
    try:
        raw = zlib.decompress(body)
        pos = 0

        def chunk() -> bytes:
            nonlocal pos
            (n,) = struct.unpack_from(">i", raw, pos)
            if n < 0 or pos + 4 + n > len(raw):
                raise ValueError("bad length")
            pos += 4 + n
            return raw[pos - n:pos]
        version = jsonx.loads(chunk())
        (count,) = struct.unpack_from(">i", raw, pos)
        pos += 4
        topics = {}
        for _ in range(count):
            f = chunk().decode().split(" ")
            tc = TopicConfig(f[0], int(f[1]), int(f[2]), int(f[3]),
                             f[4] if len(f) > 4 else "SINGLE_TAG")
            topics[tc.topicName] = tc
        return version, topics
    except (zlib.error, ValueError, IndexError, struct.error, UnicodeDecodeError) as e:
        raise RemoteProtocolError(f"bad compressed register body: {e}") from None


@jsonx.reader("register broker")
def parse_register_broker_body(body: bytes, compressed: bool = False
                               ) -> tuple[dict[str, int], dict[str, TopicConfig]]:
    """(dataVersion, topic table) of a RegisterBrokerBody; empty body = no topics."""
    if compressed and body:
        return _parse_compressed_register(body)
    if not body:
        return {"counter": 0, "timestamp": 0}, {}
    obj = jsonx.loads(body)
    wrapper = obj.get("topicConfigSerializeWrapper") or {}
    version = wrapper.get("dataVersion") or {"counter": 0, "timestamp": 0}
    table = {name: TopicConfig.from_dict(tc)
             for name, tc in (wrapper.get("topicConfigTable") or {}).items()}
    return version, table


@dataclass(slots=True)
class SubscriptionData:
    topic: str
    sub_string: str = "*"
    tags: list[str] = field(default_factory=list)
    sub_version: int = 0
    expression_type: str = "TAG"

    @property
    def code_set(self) -> set[int]:
        return {java_hash(t) for t in self.tags}

    @property
    def match_all(self) -> bool:
        return self.sub_string in ("", "*") or not self.tags

    def to_dict(self) -> dict[str, Any]:
        return {"classFilterMode": False, "codeSet": sorted(self.code_set),
                "expressionType": self.expression_type, "subString": self.sub_string,
                "subVersion": self.sub_version, "tagsSet": self.tags, "topic": self.topic}


def parse_subscription(topic: str, expression: str | None, sub_version: int = 0,
                       expression_type: str | None = "TAG") -> SubscriptionData:
    """Tag expression ``"*"`` / ``"TagA || TagB"`` -> SubscriptionData (FilterAPI); any other
    ``expression_type`` (SQL92) keeps the expression as is, with no tags."""
    if expression_type and expression_type != "TAG":
        return SubscriptionData(topic, (expression or "").strip(), [], sub_version,
                                expression_type)
    expr = (expression or "*").strip()
    tags = [] if expr in ("", "*") else [t.strip() for t in expr.split("||") if t.strip()]
    return SubscriptionData(topic, expr or "*", tags, sub_version)


@dataclass(slots=True)
class ConsumerData:
    group: str
    consume_type: str = "CONSUME_PASSIVELY"
    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"
    subscriptions: list[SubscriptionData] = field(default_factory=list)
    unit_mode: bool = False


@dataclass(slots=True)
class HeartbeatData:
    client_id: str
    producer_groups: list[str] = field(default_factory=list)
    consumers: list[ConsumerData] = field(default_factory=list)

    def to_json(self) -> bytes:
        return jsonx.dumps({
            "clientID": self.client_id,
            "producerDataSet": [{"groupName": g} for g in self.producer_groups],
            "consumerDataSet": [{
                "groupName": c.group, "consumeType": c.consume_type,
                "messageModel": c.message_model, "consumeFromWhere": c.consume_from_where,
                "subscriptionDataSet": [s.to_dict() for s in c.subscriptions],
                "unitMode": c.unit_mode} for c in self.consumers]})


@jsonx.reader("heartbeat")
def parse_heartbeat(body: bytes) -> HeartbeatData:
    """HeartbeatData from Java or the C++ wheel (ordinal enums, string subVersion, no sets)."""
    obj = jsonx.loads(body)
    if not isinstance(obj, dict) or not obj.get("clientID"):
        raise RemoteProtocolError("heartbeat without clientID")
    hb = HeartbeatData(str(obj["clientID"]))
    for p in obj.get("producerDataSet") or []:
        if p.get("groupName"):
            hb.producer_groups.append(str(p["groupName"]))
    for c in obj.get("consumerDataSet") or []:
        subs = []
        for s in c.get("subscriptionDataSet") or []:
            etype = str(s.get("expressionType") or "TAG")
            sub = parse_subscription(str(s.get("topic", "")), s.get("subString"),
                                     int(s.get("subVersion") or 0), etype)
            if s.get("tagsSet") and etype == "TAG":
                sub.tags = [str(t) for t in s["tagsSet"]]
            subs.append(sub)
        hb.consumers.append(ConsumerData(
            str(c.get("groupName", "")),
            _enum(c.get("consumeType", 1), CONSUME_TYPES, "consumeType"),
            _enum(c.get("messageModel", 1), MESSAGE_MODELS, "messageModel"),
            _enum(c.get("consumeFromWhere", 0), CONSUME_FROM, "consumeFromWhere"),
            subs, bool(c.get("unitMode", False))))
    return hb


def mq_dict(topic: str, broker_name: str, queue_id: int) -> dict[str, Any]:
    """MessageQueue JSON."""
    return {"brokerName": broker_name, "queueId": queue_id, "topic": topic}


@jsonx.reader("lock")
def parse_lock_body(body: bytes) -> tuple[str, str, list[tuple[str, str, int]]]:
    """(consumerGroup, clientId, [(topic, brokerName, queueId)]) of a LOCK/UNLOCK_BATCH_MQ body."""
    obj = jsonx.loads(body)
    mqs = [(str(m["topic"]), str(m["brokerName"]), int(m["queueId"]))
           for m in obj.get("mqSet") or []]
    return str(obj.get("consumerGroup", "")), str(obj.get("clientId", "")), mqs


def route_body(queue_datas: list[dict[str, Any]], broker_datas: list[dict[str, Any]],
               order_conf: str | None = None) -> bytes:
    """TopicRouteData with quoted brokerAddrs keys (the wheel accepts both forms)."""
    obj: dict[str, Any] = {"brokerDatas": broker_datas, "filterServerTable": {},
                           "queueDatas": queue_datas}
    if order_conf:
        obj["orderTopicConf"] = order_conf
    return jsonx.dumps(obj)
