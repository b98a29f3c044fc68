"""Smaller JSON bodies (ROCKETMQ_FACTS §3.3-3.9): MessageQueue, consumer lists, lock bodies,
consumer offsets, KVTable, subscription groups, DataVersion and ResetOffsetBody (Java's
object-keyed form and the C++ wheel's array form)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pyrmq.protocol import jsonx
from pyrmq.protocol.errors import RemoteProtocolError


def _obj(raw: bytes | str, what: str) -> dict[str, Any]:
    obj = jsonx.loads(raw) if raw else {}
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"bad {what} body: not an object")
    return obj


@dataclass(frozen=True, slots=True, order=True)
class MessageQueue:
    """{topic, brokerName, queueId}."""

    topic: str
    broker_name: str
    queue_id: int

    def to_dict(self) -> dict[str, Any]:
        return {"brokerName": self.broker_name, "queueId": self.queue_id, "topic": self.topic}

    @classmethod
    @jsonx.reader("admin")
    def from_dict(cls, d: Any) -> MessageQueue:
        try:
            return cls(str(d["topic"]), str(d["brokerName"]), int(d["queueId"]))
        except (KeyError, TypeError, ValueError) as e:
            raise RemoteProtocolError(f"bad MessageQueue: {e!r}") from None


@dataclass(frozen=True, slots=True)
class DataVersion:
    timestamp: int = 0
    counter: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"counter": self.counter, "timestamp": self.timestamp}

    def to_json(self) -> bytes:
        return jsonx.dumps(self.to_dict())

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> DataVersion:
        d = _obj(raw, "DataVersion")
        try:
            return cls(int(d.get("timestamp", 0)), int(d.get("counter", 0)))
        except (TypeError, ValueError) as e:
            raise RemoteProtocolError(f"bad DataVersion: {e}") from None


@dataclass(frozen=True, slots=True)
class ConsumerListBody:
    """GET_CONSUMER_LIST_BY_GROUP response body."""

    consumer_id_list: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return jsonx.dumps({"consumerIdList": list(self.consumer_id_list)})

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> ConsumerListBody:
        return cls([str(x) for x in _obj(raw, "consumer list").get("consumerIdList") or []])


@dataclass(frozen=True, slots=True)
class LockBatchRequestBody:
    """LOCK_BATCH_MQ (41) request body; UNLOCK_BATCH_MQ (42) has the same shape."""

    consumer_group: str
    client_id: str
    mq_set: list[MessageQueue] = field(default_factory=list)
    only_this_broker: bool = False

    def to_json(self) -> bytes:
        return jsonx.dumps({"clientId": self.client_id, "consumerGroup": self.consumer_group,
                            "mqSet": [m.to_dict() for m in sorted(self.mq_set)],
                            "onlyThisBroker": self.only_this_broker})

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> LockBatchRequestBody:
        d = _obj(raw, "lock")
        return cls(str(d.get("consumerGroup", "")), str(d.get("clientId", "")),
                   [MessageQueue.from_dict(m) for m in d.get("mqSet") or []],
                   bool(d.get("onlyThisBroker", False)))


UnlockBatchRequestBody = LockBatchRequestBody


@dataclass(frozen=True, slots=True)
class LockBatchResponseBody:
    lock_ok_mq_set: list[MessageQueue] = field(default_factory=list)

    def to_json(self) -> bytes:
        return jsonx.dumps({"lockOKMQSet": [m.to_dict() for m in sorted(self.lock_ok_mq_set)]})

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> LockBatchResponseBody:
        return cls([MessageQueue.from_dict(m)
                    for m in _obj(raw, "lock response").get("lockOKMQSet") or []])


@dataclass(frozen=True, slots=True)
class ConsumerOffsetSerializeWrapper:
    """``{"offsetTable":{"topic@group":{qid:offset}}}`` (consumerOffset.json, code 43)."""

    offset_table: dict[str, dict[int, int]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return jsonx.dumps({"offsetTable": {k: {str(q): o for q, o in sorted(v.items())}
                                            for k, v in self.offset_table.items()}})

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> ConsumerOffsetSerializeWrapper:
        d = _obj(raw, "consumer offsets")
        try:
            return cls({str(k): {int(q): int(o) for q, o in v.items()}
                        for k, v in (d.get("offsetTable") or {}).items()})
        except (AttributeError, TypeError, ValueError) as e:
            raise RemoteProtocolError(f"bad offsetTable: {e}") from None


@dataclass(frozen=True, slots=True)
class KVTable:
    """``{"table":{...}}``: register response, GET_KVLIST_BY_NAMESPACE, broker runtime info."""

    table: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return jsonx.dumps({"table": dict(self.table)})

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> KVTable:
        return cls({str(k): str(v) for k, v in (_obj(raw, "KVTable").get("table") or {}).items()})


_SG_FIELDS = (("groupName", str, ""), ("consumeEnable", bool, True),
              ("consumeFromMinEnable", bool, True), ("consumeBroadcastEnable", bool, True),
              ("retryQueueNums", int, 1), ("retryMaxTimes", int, 16), ("brokerId", int, 0),
              ("whichBrokerWhenConsumeSlowly", int, 1),
              ("notifyConsumerIdsChangedEnable", bool, True))


@dataclass(frozen=True, slots=True)
class SubscriptionGroupConfig:
    """Java SubscriptionGroupConfig (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP body)."""

    group_name: str
    consume_enable: bool = True
    consume_from_min_enable: bool = True
    consume_broadcast_enable: bool = True
    retry_queue_nums: int = 1
    retry_max_times: int = 16
    broker_id: int = 0
    which_broker_when_consume_slowly: int = 1
    notify_consumer_ids_changed_enable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {wire: getattr(self, attr) for (wire, _t, _d), attr
                in zip(_SG_FIELDS, self.__slots__, strict=True)}

    def to_json(self) -> bytes:
        return jsonx.dumps(self.to_dict())

    @classmethod
    @jsonx.reader("admin")
    def from_dict(cls, d: dict[str, Any]) -> SubscriptionGroupConfig:
        if not d.get("groupName"):
            raise RemoteProtocolError("subscription group without groupName")
        vals = []
        for wire, kind, default in _SG_FIELDS:
            v = d.get(wire, default)
            if kind is bool and isinstance(v, str):
                v = v.strip().lower() in ("true", "1")
            try:
                vals.append(kind(v))
            except (TypeError, ValueError):
                raise RemoteProtocolError(f"bad {wire}: {v!r}") from None
        return cls(*vals)

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> SubscriptionGroupConfig:
        return cls.from_dict(_obj(raw, "subscription group"))


@dataclass(frozen=True, slots=True)
class SubscriptionGroupWrapper:
    """subscriptionGroup.json / GET_ALL_SUBSCRIPTIONGROUP_CONFIG body."""

    table: dict[str, SubscriptionGroupConfig] = field(default_factory=dict)
    data_version: DataVersion = DataVersion()

    def to_json(self) -> bytes:
        return jsonx.dumps({"dataVersion": self.data_version.to_dict(),
                            "subscriptionGroupTable": {k: v.to_dict()
                                                       for k, v in self.table.items()}})

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> SubscriptionGroupWrapper:
        d = _obj(raw, "subscription groups")
        dv = d.get("dataVersion") or {}
        return cls({str(k): SubscriptionGroupConfig.from_dict(v)
                    for k, v in (d.get("subscriptionGroupTable") or {}).items()},
                   DataVersion(int(dv.get("timestamp", 0)), int(dv.get("counter", 0))))


# {"brokerName":"b","queueId":0,"topic":"t"}:123 -- fastjson's MessageQueue-keyed map entry
_MQ_KEY = re.compile(r'(\{[^{}]*\})\s*:\s*(-?\d+)')


@dataclass(frozen=True, slots=True)
class ResetOffsetBody:
    """RESET_CONSUMER_CLIENT_OFFSET (220) body: MessageQueue -> offset (§3.9)."""

    offset_table: dict[MessageQueue, int] = field(default_factory=dict)

    def to_java_json(self) -> bytes:
        """Java's form: MessageQueue objects as map keys (not standard JSON)."""
        items = ",".join(jsonx.dumps(mq.to_dict()).decode() + ":" + str(off)
                         for mq, off in sorted(self.offset_table.items()))
        return ('{"offsetTable":{' + items + "}}").encode()

    def to_wheel_json(self) -> bytes:
        """The C++ wheel's form: an array of {brokerName, queueId, topic, offset}."""
        return jsonx.dumps({"offsetTable": [dict(mq.to_dict(), offset=off)
                                            for mq, off in sorted(self.offset_table.items())]})

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> ResetOffsetBody:
        """Either form."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
        try:
            d = json.loads(text)
        except ValueError:
            d = None
        if isinstance(d, dict) and isinstance(d.get("offsetTable"), list):
            try:
                return cls({MessageQueue.from_dict(e): int(e["offset"]) for e in d["offsetTable"]})
            except (KeyError, TypeError, ValueError) as e:
                raise RemoteProtocolError(f"bad reset offset entry: {e!r}") from None
        if not text.lstrip().startswith('{"offsetTable"') and "offsetTable" not in text:
            raise RemoteProtocolError("bad reset offset body")
        table = {}
        for m in _MQ_KEY.finditer(text):
            table[MessageQueue.from_dict(jsonx.loads(m.group(1)))] = int(m.group(2))
        return cls(table)


CONSUME_RESULTS = ("CR_SUCCESS", "CR_LATER", "CR_ROLLBACK", "CR_COMMIT", "CR_THROW_EXCEPTION",
                   "CR_RETURN_NULL")


@dataclass(frozen=True, slots=True)
class ConsumeMessageDirectlyResult:
    """CONSUME_MESSAGE_DIRECTLY (309) answer of a consumer client."""

    consume_result: str = "CR_SUCCESS"
    order: bool = False
    auto_commit: bool = True
    remark: str | None = None
    spent_time_mills: int = 0

    def to_json(self) -> bytes:
        d: dict[str, Any] = {"autoCommit": self.auto_commit, "consumeResult": self.consume_result,
                             "order": self.order, "spentTimeMills": self.spent_time_mills}
        if self.remark is not None:
            d["remark"] = self.remark
        return jsonx.dumps(d)

    @classmethod
    @jsonx.reader("admin")
    def from_json(cls, raw: bytes | str) -> ConsumeMessageDirectlyResult:
        d = _obj(raw, "consume directly result")
        result = str(d.get("consumeResult", ""))
        if result not in CONSUME_RESULTS:
            raise RemoteProtocolError(f"bad consumeResult: {result!r}")
        remark = d.get("remark")
        try:
            return cls(result, bool(d.get("order", False)), bool(d.get("autoCommit", True)),
                       None if remark is None else str(remark), int(d.get("spentTimeMills", 0)))
        except (TypeError, ValueError) as e:
            raise RemoteProtocolError(f"bad spentTimeMills: {e}") from None
