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

# {mq}:{flat value object}
_ENTRY = re.compile(r'(\{[^{}]*\})\s*:\s*(\{[^{}]*\})')


def _mq_map_text(table: dict[MessageQueue, dict[str, Any]]) -> str:
    return "{" + ",".join(jsonx.dumps(mq.to_dict()).decode() + ":" + jsonx.dumps(v).decode()
                          for mq, v in sorted(table.items())) + "}"


def _mq_map_read(text: str) -> dict[MessageQueue, dict[str, Any]]:
    start = text.find('"offsetTable"')
    if start < 0:
        return {}
    out = {}
    for m in _ENTRY.finditer(text, start):
        out[MessageQueue.from_dict(jsonx.loads(m.group(1)))] = jsonx.loads(m.group(2))
    return out


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

    def to_json(self) -> bytes:
        table = {mq: {"brokerOffset": w.broker_offset, "consumerOffset": w.consumer_offset,
                      "lastTimestamp": w.last_timestamp} for mq, w in self.offset_table.items()}
        return ('{"consumeTps":' + repr(float(self.consume_tps)) + ',"offsetTable":'
                + _mq_map_text(table) + "}").encode()

    @classmethod
    @jsonx.reader("consume stats")
    def from_json(cls, raw: bytes | str) -> ConsumeStats:
        text = _text(raw)
        tps = re.search(r'"consumeTps"\s*:\s*(-?[\d.eE+-]+)', text)
        return cls({mq: OffsetWrapper(int(v.get("brokerOffset", 0)),
                                      int(v.get("consumerOffset", 0)),
                                      int(v.get("lastTimestamp", 0)))
                    for mq, v in _mq_map_read(text).items()}, float(tps.group(1)) if tps else 0.0)


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
        return cls({mq: TopicOffset(int(v.get("minOffset", 0)), int(v.get("maxOffset", 0)),
                                    int(v.get("lastUpdateTimestamp", 0)))
                    for mq, v in _mq_map_read(_text(raw)).items()})


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
