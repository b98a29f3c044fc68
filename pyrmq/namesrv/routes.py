"""The NameServer's route table as a pure class (no I/O): clusters, brokers, topic queue data
and broker liveness (RocketMQ RouteInfoManager)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyrmq.protocol.bodies import TopicConfig
from pyrmq.protocol.codes import PermName
from pyrmq.protocol.route import BrokerData  # broker_addrs is mutated in place here

MASTER_ID = 0


@dataclass(slots=True)
class BrokerLive:
    last_update: float
    data_version: dict[str, int]
    conn_id: int | None
    ha_addr: str


class RouteTable:
    """Routes learned from REGISTER_BROKER; queried by clients."""

    def __init__(self) -> None:
        self.clusters: dict[str, set[str]] = {}
        self.brokers: dict[str, BrokerData] = {}
        self.topics: dict[str, dict[str, TopicConfig]] = {}   # topic -> brokerName -> config
        self.live: dict[str, BrokerLive] = {}                  # broker addr -> liveness

    def register(self, *, cluster: str, addr: str, name: str, broker_id: int, ha_addr: str,
                 version: dict[str, int], topics: dict[str, TopicConfig], now: float,
                 conn_id: int | None = None) -> tuple[str, str]:
        """Record a broker; returns (masterAddr, haServerAddr) to send back to a slave."""
        self.clusters.setdefault(cluster, set()).add(name)
        bd = self.brokers.get(name)
        if bd is None:
            bd = self.brokers[name] = BrokerData(cluster, name)
        first = addr not in bd.broker_addrs.values()
        for bid in [b for b, a in bd.broker_addrs.items() if a == addr and b != broker_id]:
            del bd.broker_addrs[bid]  # same address re-registered under another id (role switch)
        bd.broker_addrs[broker_id] = addr
        prev = self.live.get(addr)
        changed = prev is None or prev.data_version != version
        if broker_id == MASTER_ID and (changed or first):
            for topic, tc in topics.items():
                self.topics.setdefault(topic, {})[name] = tc
            for topic in [t for t, q in self.topics.items()
                          if name in q and t not in topics]:
                self._remove_queue(topic, name)
        self.live[addr] = BrokerLive(now, dict(version), conn_id, ha_addr)
        if broker_id != MASTER_ID:
            master = bd.broker_addrs.get(MASTER_ID)
            if master and master in self.live:
                return master, self.live[master].ha_addr
        return "", ""

    def _remove_queue(self, topic: str, name: str) -> None:
        q = self.topics.get(topic)
        if q is not None:
            q.pop(name, None)
            if not q:
                del self.topics[topic]

    def unregister(self, *, cluster: str, addr: str, name: str, broker_id: int) -> None:
        self.live.pop(addr, None)
        bd = self.brokers.get(name)
        if bd is None:
            return
        if bd.broker_addrs.get(broker_id) == addr:
            del bd.broker_addrs[broker_id]
        if not bd.broker_addrs:
            del self.brokers[name]
            names = self.clusters.get(cluster)
            if names is not None:
                names.discard(name)
                if not names:
                    del self.clusters[cluster]
            for topic in [t for t, q in self.topics.items() if name in q]:
                self._remove_queue(topic, name)

    def _remove_addr(self, addr: str) -> None:
        for name, bd in list(self.brokers.items()):
            for bid, a in list(bd.broker_addrs.items()):
                if a == addr:
                    self.unregister(cluster=bd.cluster, addr=addr, name=name, broker_id=bid)
        self.live.pop(addr, None)

    def expire(self, now: float, max_silence: float) -> list[str]:
        """Drop brokers silent for longer than max_silence seconds; returns their addrs."""
        dead = [a for a, lv in self.live.items() if now - lv.last_update > max_silence]
        for addr in dead:
            self._remove_addr(addr)
        return dead

    def connection_closed(self, conn_id: int) -> list[str]:
        dead = [a for a, lv in self.live.items() if lv.conn_id == conn_id]
        for addr in dead:
            self._remove_addr(addr)
        return dead

    def route(self, topic: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        """(queueDatas, brokerDatas) for topic, or None when no live broker serves it."""
        queues = self.topics.get(topic)
        if not queues:
            return None
        qd = [{"brokerName": name, "perm": tc.perm, "readQueueNums": tc.readQueueNums,
               "topicSysFlag": tc.topicSysFlag, "writeQueueNums": tc.writeQueueNums}
              for name, tc in sorted(queues.items())]
        bd = [self.brokers[name].to_dict() for name in sorted(queues) if name in self.brokers]
        if not bd:
            return None
        return qd, bd

    def cluster_info(self) -> dict[str, Any]:
        return {"brokerAddrTable": {n: bd.to_dict() for n, bd in sorted(self.brokers.items())},
                "clusterAddrTable": {c: sorted(n) for c, n in sorted(self.clusters.items())}}

    def topic_list(self) -> list[str]:
        return sorted(self.topics)

    def topics_of_cluster(self, cluster: str) -> list[str]:
        names = self.clusters.get(cluster, set())
        return sorted(t for t, q in self.topics.items() if names & q.keys())

    def delete_topic(self, topic: str) -> None:
        self.topics.pop(topic, None)

    def wipe_write_perm(self, name: str) -> int:
        """Clear PERM_WRITE of every topic on broker ``name``; returns topics changed."""
        n = 0
        for q in self.topics.values():
            tc = q.get(name)
            if tc is not None and tc.perm & PermName.WRITE:
                tc.perm &= ~PermName.WRITE
                n += 1
        return n

    def data_version(self, addr: str) -> dict[str, int] | None:
        lv = self.live.get(addr)
        return lv.data_version if lv else None
