"""Admin statistics bodies keyed by MessageQueue (fastjson writes such maps with object keys,
which is not standard JSON): ConsumeStats (GET_CONSUME_STATS) and TopicStatsTable
(GET_TOPIC_STATS_INFO); plus the Java properties text of GET/UPDATE_BROKER_CONFIG."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pyrmq.protocol import jsonx
from pyrmq.protocol.admin import MessageQueue
from pyrmq.protocol.errors import RemoteProtocolError

# A MessageQueue object used as a map key: ``{"brokerName":..}`` right after ``{`` or ``,`` and
# followed by ``:`` (topic and broker names hold no braces, so the key has none inside)
_MQ_KEY = re.compile(r'(?<=[{,])\s*(\{[^{}]*\})\s*:')
_MARK = "\x00mq"


def _mq_map_text(table: dict[MessageQueue, Any]) -> str:
    """fastjson's form of a MessageQueue-keyed map: ``{{mq}:value,...}``."""
    return "{" + ",".join(jsonx.dumps(mq.to_dict()).decode() + ":" + jsonx.dumps(v).decode()
                          for mq, v in sorted(table.items())) + "}"


def _restore(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {(MessageQueue.from_dict(jsonx.loads(k[len(_MARK):]))
                 if isinstance(k, str) and k.startswith(_MARK) else k): _restore(v)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_restore(v) for v in obj]
    return obj


def loads_mq_keyed(raw: bytes | str) -> Any:
    """Parse fastjson output whose maps may be keyed by MessageQueue objects: such maps come
    back as ``dict[MessageQueue, ...]``; everything else as :func:`jsonx.loads` does."""
    text = _text(raw)
    keyed = _MQ_KEY.sub(lambda m: jsonx.dumps(_MARK + m.group(1)).decode() + ":", text)
    return _restore(jsonx.loads(keyed))


def _mq_table(d: Any, what: str) -> dict[MessageQueue, dict[str, Any]]:
    table = d.get("offsetTable") if isinstance(d, dict) else None
    if table is None:
        return {}
    if not isinstance(table, dict) or not all(isinstance(k, MessageQueue) and isinstance(v, dict)
                                              for k, v in table.items()):
        raise RemoteProtocolError(f"bad {what} body: offsetTable is not MessageQueue-keyed")
    return table


def _text(raw: bytes | str) -> str:
    try:
        return raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    except UnicodeDecodeError as e:
        raise RemoteProtocolError(f"bad stats body: {e}") from None


@dataclass(frozen=True, slots=True)
class OffsetWrapper:
    broker_offset: int = 0
    consumer_offset: int = 0
    last_timestamp: int = 0


@dataclass(frozen=True, slots=True)
class ConsumeStats:
    """GET_CONSUME_STATS body."""

    offset_table: dict[MessageQueue, OffsetWrapper] = field(default_factory=dict)
    consume_tps: float = 0.0

    @property
    def diff_total(self) -> int:
        """Messages stored but not yet consumed, over every queue."""
        return sum(max(0, w.broker_offset - w.consumer_offset) for w in self.offset_table.values())

    def to_text(self) -> str:
        table = {mq: {"brokerOffset": w.broker_offset, "consumerOffset": w.consumer_offset,
                      "lastTimestamp": w.last_timestamp} for mq, w in self.offset_table.items()}
        return ('{"consumeTps":' + repr(float(self.consume_tps)) + ',"offsetTable":'
                + _mq_map_text(table) + "}")

    def to_json(self) -> bytes:
        return self.to_text().encode()

    @classmethod
    def from_obj(cls, d: Any) -> ConsumeStats:
        """From :func:`loads_mq_keyed` output."""
        try:
            return cls({mq: OffsetWrapper(int(v.get("brokerOffset", 0)),
                                          int(v.get("consumerOffset", 0)),
                                          int(v.get("lastTimestamp", 0)))
                        for mq, v in _mq_table(d, "consume stats").items()},
                       float(d.get("consumeTps", 0.0)))
        except (TypeError, ValueError) as e:
            raise RemoteProtocolError(f"bad consume stats: {e}") from None

    @classmethod
    @jsonx.reader("consume stats")
    def from_json(cls, raw: bytes | str) -> ConsumeStats:
        return cls.from_obj(loads_mq_keyed(raw))


@dataclass(frozen=True, slots=True)
class TopicOffset:
    min_offset: int = 0
    max_offset: int = 0
    last_update_timestamp: int = 0


@dataclass(frozen=True, slots=True)
class TopicStatsTable:
    """GET_TOPIC_STATS_INFO body."""

    offset_table: dict[MessageQueue, TopicOffset] = field(default_factory=dict)

    def to_json(self) -> bytes:
        table = {mq: {"lastUpdateTimestamp": o.last_update_timestamp, "maxOffset": o.max_offset,
                      "minOffset": o.min_offset} for mq, o in self.offset_table.items()}
        return ('{"offsetTable":' + _mq_map_text(table) + "}").encode()

    @classmethod
    @jsonx.reader("topic stats")
    def from_json(cls, raw: bytes | str) -> TopicStatsTable:
        d = loads_mq_keyed(raw)
        try:
            return cls({mq: TopicOffset(int(v.get("minOffset", 0)), int(v.get("maxOffset", 0)),
                                        int(v.get("lastUpdateTimestamp", 0)))
                        for mq, v in _mq_table(d, "topic stats").items()})
        except (TypeError, ValueError) as e:
            raise RemoteProtocolError(f"bad topic stats: {e}") from None


@dataclass(frozen=True, slots=True)
class ConsumeStatsList:
    """GET_BROKER_CONSUME_STATS (317) body: per group, the ConsumeStats of each topic."""

    broker_addr: str = ""
    groups: list[tuple[str, list[ConsumeStats]]] = field(default_factory=list)
    total_diff: int = 0

    def to_json(self) -> bytes:
        items = ",".join("{" + jsonx.dumps(g).decode() + ":["
                         + ",".join(cs.to_text() for cs in stats) + "]}"
                         for g, stats in self.groups)
        return ('{"brokerAddr":' + jsonx.dumps(self.broker_addr).decode()
                + ',"consumeStatsList":[' + items + '],"totalDiff":' + str(int(self.total_diff))
                + "}").encode()

    @classmethod
    @jsonx.reader("broker consume stats")
    def from_json(cls, raw: bytes | str) -> ConsumeStatsList:
        d = loads_mq_keyed(raw)
        if not isinstance(d, dict) or not isinstance(d.get("consumeStatsList", []), list):
            raise RemoteProtocolError("bad broker consume stats body")
        groups = []
        for entry in d.get("consumeStatsList") or []:
            if not isinstance(entry, dict):
                raise RemoteProtocolError("bad broker consume stats entry")
            for g, stats in entry.items():
                if not isinstance(stats, list):
                    raise RemoteProtocolError(f"bad consume stats of group {g!r}")
                groups.append((str(g), [ConsumeStats.from_obj(cs) for cs in stats]))
        try:
            return cls(str(d.get("brokerAddr", "")), groups, int(d.get("totalDiff", 0)))
        except (TypeError, ValueError) as e:
            raise RemoteProtocolError(f"bad totalDiff: {e}") from None


def properties_to_text(props: dict[str, str]) -> bytes:
    """GET_BROKER_CONFIG body: ``key=value`` lines (MixAll.properties2String)."""
    return "".join(f"{k}={v}\n" for k, v in sorted(props.items())).encode()


def properties_from_text(raw: bytes | str) -> dict[str, str]:
    """UPDATE_BROKER_CONFIG body: ``key=value`` (or ``key:value``) lines; ``#``/``!`` comments."""
    out: dict[str, str] = {}
    for line in _text(raw).splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        m = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)", line)
        if m:
            out[m.group(1)] = m.group(2)
        else:
            out[line] = ""
    return out


@dataclass(frozen=True, slots=True)
class ConsumerRunningInfo:
    """GET_CONSUMER_RUNNING_INFO (307) answer of a consumer client: ``properties`` (Java's
    PROP_* keys and the consumer's settings, all strings), ``subscriptions`` (SubscriptionData
    dicts), ``mq_table`` (MessageQueue -> ProcessQueueInfo dict), ``status_table`` (topic ->
    ConsumeStatus dict); written with fastjson's MessageQueue-keyed mqTable."""

    properties: dict[str, str] = field(default_factory=dict)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    mq_table: dict[MessageQueue, dict[str, Any]] = field(default_factory=dict)
    status_table: dict[str, dict[str, Any]] = field(default_factory=dict)
    jstack: str = ""

    def to_json(self) -> bytes:
        return ('{"jstack":' + jsonx.dumps(self.jstack).decode()
                + ',"mqTable":' + _mq_map_text(self.mq_table)
                + ',"properties":' + jsonx.dumps(dict(sorted(self.properties.items()))).decode()
                + ',"statusTable":' + jsonx.dumps(dict(sorted(self.status_table.items()))).decode()
                + ',"subscriptionSet":' + jsonx.dumps(self.subscriptions).decode() + "}").encode()

    @classmethod
    @jsonx.reader("consumer running info")
    def from_json(cls, raw: bytes | str) -> ConsumerRunningInfo:
        d = loads_mq_keyed(raw)
        if not isinstance(d, dict):
            raise RemoteProtocolError("bad consumer running info body")
        mq = d.get("mqTable") or {}
        props, subs, status = (d.get("properties") or {}, d.get("subscriptionSet") or [],
                               d.get("statusTable") or {})
        if not (isinstance(mq, dict) and all(isinstance(k, MessageQueue) for k in mq)
                and isinstance(props, dict) and isinstance(subs, list)
                and isinstance(status, dict)):
            raise RemoteProtocolError("bad consumer running info body")
        return cls({str(k): str(v) for k, v in props.items()}, subs, mq, status,
                   str(d.get("jstack") or ""))
