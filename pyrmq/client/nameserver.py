"""NameServerClient: asks one NameServer (random, failing over to the next) for routes."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pyrmq.client.message import MessageQueue
from pyrmq.protocol import jsonx
from pyrmq.protocol.codes import PermName, RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.remoting import RemotingClient, RemotingError


class RouteNotFound(Exception):
    """No NameServer knows a route for the topic."""


@dataclass(frozen=True, slots=True)
class TopicRoute:
    topic: str
    queue_datas: list[dict[str, Any]]
    broker_addrs: dict[str, dict[int, str]]   # brokerName -> {brokerId: addr}

    def publish_queues(self) -> list[MessageQueue]:
        out = []
        for qd in sorted(self.queue_datas, key=lambda q: q["brokerName"]):
            if int(qd["perm"]) & PermName.WRITE and 0 in self.broker_addrs.get(
                    qd["brokerName"], {}):
                out += [MessageQueue(self.topic, qd["brokerName"], i)
                        for i in range(int(qd["writeQueueNums"]))]
        return out

    def subscribe_queues(self) -> list[MessageQueue]:
        out = []
        for qd in self.queue_datas:
            if int(qd["perm"]) & PermName.READ:
                out += [MessageQueue(self.topic, qd["brokerName"], i)
                        for i in range(int(qd["readQueueNums"]))]
        return sorted(out)

    def master(self, broker_name: str) -> str | None:
        return self.broker_addrs.get(broker_name, {}).get(0)

    def any_addr(self, broker_name: str) -> str | None:
        addrs = self.broker_addrs.get(broker_name, {})
        return addrs.get(0) or (addrs[min(addrs)] if addrs else None)


class NameServerClient:
    def __init__(self, addrs: list[str] | str, remoting: RemotingClient | None = None) -> None:
        self.addrs = [a.strip() for a in (addrs.split(";") if isinstance(addrs, str) else addrs)
                      if a.strip()]
        if not self.addrs:
            raise ValueError("no NameServer address")
        self.remoting = remoting or RemotingClient()
        self._current = random.randrange(len(self.addrs))

    async def _invoke(self, code: int, fields: dict[str, Any] | None = None,
                      timeout: float = 3.0):
        errors = []
        for i in range(len(self.addrs)):
            addr = self.addrs[(self._current + i) % len(self.addrs)]
            try:
                r = await self.remoting.invoke(addr, request(code, fields), timeout)
                self._current = (self._current + i) % len(self.addrs)
                return r
            except RemotingError as e:
                errors.append(f"{addr}: {e}")
        raise RemotingError("no NameServer answered: " + "; ".join(errors))

    async def get_route(self, topic: str) -> TopicRoute:
        r = await self._invoke(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
        if r.code == ResponseCode.TOPIC_NOT_EXIST:
            raise RouteNotFound(f"no route for topic {topic} from NameServer "
                                f"{','.join(self.addrs)}")
        if r.code != ResponseCode.SUCCESS:
            raise RemotingError(f"route query for {topic} failed: {r.code} {r.remark}")
        obj = jsonx.loads(r.body)
        brokers = {bd["brokerName"]: {int(k): v for k, v in bd["brokerAddrs"].items()}
                   for bd in obj.get("brokerDatas", [])}
        return TopicRoute(topic, obj.get("queueDatas", []), brokers)

    async def cluster_info(self) -> dict[str, Any]:
        r = await self._invoke(RequestCode.GET_BROKER_CLUSTER_INFO)
        return jsonx.loads(r.body)

    async def topic_list(self) -> list[str]:
        r = await self._invoke(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        return list(jsonx.loads(r.body).get("topicList", []))
