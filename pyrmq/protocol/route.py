"""Route and cluster bodies (ROCKETMQ_FACTS §3.1): TopicRouteData with its QueueData and
BrokerData, ClusterInfo (GET_BROKER_CLUSTER_INFO) and TopicList. Readers take fastjson's
unquoted integer keys; writers emit standard JSON (quoted keys), which Java and the C++
client both parse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyrmq.protocol import jsonx
from pyrmq.protocol.errors import RemoteProtocolError


def _obj(raw: bytes | str | dict[str, Any], what: str) -> dict[str, Any]:
    obj = raw if isinstance(raw, dict) else jsonx.loads(raw)
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"bad {what} body: not an object")
    return obj


def _addrs(table: Any) -> dict[int, str]:
    try:
        return {int(k): str(v) for k, v in (table or {}).items()}
    except (AttributeError, ValueError) as e:
        raise RemoteProtocolError(f"bad brokerAddrs: {e}") from None


@dataclass(frozen=True, slots=True)
class QueueData:
    """One broker's queues of a topic."""

    broker_name: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_sys_flag: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"brokerName": self.broker_name, "perm": self.perm,
                "readQueueNums": self.read_queue_nums, "topicSysFlag": self.topic_sys_flag,
                "writeQueueNums": self.write_queue_nums}

    @classmethod
    @jsonx.reader("route")
    def from_dict(cls, d: dict[str, Any]) -> QueueData:
        try:
            return cls(str(d["brokerName"]), int(d["readQueueNums"]), int(d["writeQueueNums"]),
                       int(d["perm"]), int(d.get("topicSysFlag", d.get("topicSynFlag", 0))))
        except (KeyError, TypeError, ValueError) as e:
            raise RemoteProtocolError(f"bad queueData: {e!r}") from None


@dataclass(frozen=True, slots=True)
class BrokerData:
    """A broker group: id 0 is the master, >= 1 slaves."""

    cluster: str
    broker_name: str
    broker_addrs: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"brokerAddrs": {str(k): v for k, v in sorted(self.broker_addrs.items())},
                "brokerName": self.broker_name, "cluster": self.cluster}

    @classmethod
    @jsonx.reader("route")
    def from_dict(cls, d: dict[str, Any]) -> BrokerData:
        if "brokerName" not in d:
            raise RemoteProtocolError("bad brokerData: no brokerName")
        return cls(str(d.get("cluster", "")), str(d["brokerName"]), _addrs(d.get("brokerAddrs")))


@dataclass(frozen=True, slots=True)
class TopicRouteData:
    """GET_ROUTEINFO_BY_TOPIC response body."""

    queue_datas: list[QueueData] = field(default_factory=list)
    broker_datas: list[BrokerData] = field(default_factory=list)
    order_topic_conf: str | None = None
    filter_server_table: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"brokerDatas": [b.to_dict() for b in self.broker_datas],
                               "filterServerTable": dict(self.filter_server_table),
                               "queueDatas": [q.to_dict() for q in self.queue_datas]}
        if self.order_topic_conf:
            out["orderTopicConf"] = self.order_topic_conf
        return out

    def to_json(self) -> bytes:
        return jsonx.dumps(self.to_dict())

    @classmethod
    @jsonx.reader("route")
    def from_json(cls, raw: bytes | str) -> TopicRouteData:
        d = _obj(raw, "route")
        return cls([QueueData.from_dict(q) for q in d.get("queueDatas") or []],
                   [BrokerData.from_dict(b) for b in d.get("brokerDatas") or []],
                   d.get("orderTopicConf") or None,
                   {str(k): list(v) for k, v in (d.get("filterServerTable") or {}).items()})


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """GET_BROKER_CLUSTER_INFO body: brokerName -> BrokerData, cluster -> brokerNames."""

    broker_addr_table: dict[str, BrokerData] = field(default_factory=dict)
    cluster_addr_table: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return jsonx.dumps({
            "brokerAddrTable": {k: b.to_dict() for k, b in self.broker_addr_table.items()},
            "clusterAddrTable": {k: sorted(v) for k, v in self.cluster_addr_table.items()}})

    @classmethod
    @jsonx.reader("route")
    def from_json(cls, raw: bytes | str) -> ClusterInfo:
        d = _obj(raw, "cluster info")
        return cls({str(k): BrokerData.from_dict(b)
                    for k, b in (d.get("brokerAddrTable") or {}).items()},
                   {str(k): sorted(str(x) for x in v)
                    for k, v in (d.get("clusterAddrTable") or {}).items()})


@dataclass(frozen=True, slots=True)
class TopicList:
    """GET_ALL_TOPIC_LIST_FROM_NAMESERVER / GET_TOPICS_BY_CLUSTER body."""

    topic_list: list[str] = field(default_factory=list)
    broker_addr: str | None = None

    def to_json(self) -> bytes:
        out: dict[str, Any] = {"topicList": sorted(self.topic_list)}
        if self.broker_addr:
            out["brokerAddr"] = self.broker_addr
        return jsonx.dumps(out)

    @classmethod
    @jsonx.reader("route")
    def from_json(cls, raw: bytes | str) -> TopicList:
        d = _obj(raw, "topic list")
        return cls(sorted(str(t) for t in d.get("topicList") or []), d.get("brokerAddr"))
