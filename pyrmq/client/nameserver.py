"""NameServerClient: asks one NameServer (random, failing over to the next) for routes."""

from __future__ import annotations

import random
from typing import Any

from pyrmq.client.route import Route
from pyrmq.protocol import jsonx
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.headers import GetRouteInfoRequestHeader
from pyrmq.protocol.route import TopicRouteData
from pyrmq.remoting import RemotingClient, RemotingError


class RouteNotFound(Exception):
    """No NameServer knows a route for the topic."""


class NameServerClient:
    """Requests to the NameServers of ``addrs`` ("a:9876;b:9876" or a list)."""

    def __init__(self, addrs: list[str] | str, remoting: RemotingClient | None = None) -> None:
        self.addrs = [a.strip() for a in (addrs.split(";") if isinstance(addrs, str) else addrs)
                      if a.strip()]
        if not self.addrs:
            raise ValueError("no NameServer address")
        self.remoting = remoting or RemotingClient()
        self._current = random.randrange(len(self.addrs))

    async def _invoke(self, code: int, ext: dict[str, str] | None = None,
                      timeout: float = 3.0) -> RemotingCommand:
        errors = []
        for i in range(len(self.addrs)):
            addr = self.addrs[(self._current + i) % len(self.addrs)]
            try:
                r = await self.remoting.invoke(addr, request(code, ext), timeout)
                self._current = (self._current + i) % len(self.addrs)
                return r
            except RemotingError as e:
                errors.append(f"{addr}: {e}")
        raise RemotingError("no NameServer answered: " + "; ".join(errors))

    async def get_route(self, topic: str) -> Route:
        """The topic's route; ``RouteNotFound`` if no NameServer knows it."""
        r = await self._invoke(RequestCode.GET_ROUTEINFO_BY_TOPIC,
                               GetRouteInfoRequestHeader(topic).to_ext())
        if r.code == ResponseCode.TOPIC_NOT_EXIST:
            raise RouteNotFound(f"no route for topic {topic} from NameServer "
                                f"{','.join(self.addrs)}")
        if r.code != ResponseCode.SUCCESS:
            raise RemotingError(f"route query for {topic} failed: {r.code} {r.remark}")
        return Route(topic, TopicRouteData.from_json(r.body))

    async def cluster_info(self) -> dict[str, Any]:
        r = await self._invoke(RequestCode.GET_BROKER_CLUSTER_INFO)
        return jsonx.loads(r.body)

    async def topic_list(self) -> list[str]:
        r = await self._invoke(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        return list(jsonx.loads(r.body).get("topicList", []))
