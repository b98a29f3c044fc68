"""What every client shares (ClientBase: connections, NameServer, routes, heartbeat and
unregister to every broker) and what every consumer asks a broker (ConsumerBase: one pull,
offset look-ups, the group's consumer ids) -- Java's MQClientInstance / MQClientAPIImpl."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import TypeVar

from pyrmq.acl.sign import SessionCredentials, sign
from pyrmq.client.message import MessageQueue, new_client_id
from pyrmq.client.nameserver import NameServerClient
from pyrmq.client.pulled import pulled_messages
from pyrmq.client.route import Route
from pyrmq.protocol.admin import ConsumerListBody
from pyrmq.protocol.bodies import SubscriptionData
from pyrmq.protocol.codes import PullSysFlag, RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.headers import (
    GetConsumerListByGroupRequestHeader,
    GetMaxOffsetRequestHeader,
    GetMinOffsetRequestHeader,
    Header,
    OffsetResponseHeader,
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    SearchOffsetRequestHeader,
    UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)
from pyrmq.protocol.message import MessageExt
from pyrmq.remoting import RemotingClient, RemotingError
from pyrmq.remoting.connection import Handler

log = logging.getLogger("pyrmq.client")
C = TypeVar("C", bound="ClientBase")

# pull answers that carry a PullMessageResponseHeader (Java processPullResponse): the pull
# result's next offset is where to continue
PULL_RESULT_CODES = frozenset((ResponseCode.SUCCESS, ResponseCode.PULL_NOT_FOUND,
                          ResponseCode.PULL_RETRY_IMMEDIATELY, ResponseCode.PULL_OFFSET_MOVED))


class ClientBase:
    """A client of one group: its connections, NameServer client, id and known routes."""

    def __init__(self, group: str, namesrv: str | list[str], instance: str,
                 handlers: Mapping[int, Handler] | None = None) -> None:
        self.group = group
        self.remoting = RemotingClient(handlers)
        self.namesrv = NameServerClient(namesrv, self.remoting)
        self.client_id = new_client_id(instance)
        self.routes: dict[str, Route] = {}

    def set_credentials(self, creds: SessionCredentials | None) -> None:
        """Sign every request from now on as Java's AclClientRPCHook (None: stop signing)."""
        self.remoting.before_send = None if creds is None else functools.partial(
            sign, creds=creds)

    async def start(self) -> None:
        """Start background work (heartbeats, rebalancing); nothing for a bare client."""

    async def shutdown(self) -> None:
        """Stop, unregister where registered, close every connection."""
        await self.remoting.close()

    async def __aenter__(self: C) -> C:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def route(self, topic: str) -> Route:
        """Ask the NameServer for ``topic``'s route and remember it."""
        r = await self.namesrv.get_route(topic)
        self.routes[topic] = r
        return r

    def broker_addrs(self) -> set[str]:
        """Every broker address (masters and slaves) of every known route."""
        return {a for r in self.routes.values() for addrs in r.broker_addrs.values()
                for a in addrs.values()}

    def broker_addr(self, broker_name: str) -> str:
        """An address of ``broker_name`` (its master if it has one) from the known routes."""
        for r in self.routes.values():
            addr = r.any_addr(broker_name)
            if addr:
                return addr
        raise RemotingError(f"no address known for broker {broker_name}")

    async def send_heartbeat(self, body: bytes) -> None:
        """HEART_BEAT with ``body`` (HeartbeatData JSON) to every known broker."""
        for addr in self.broker_addrs():
            try:
                await self.remoting.invoke(addr, request(RequestCode.HEART_BEAT, None, body), 3)
            except RemotingError as e:
                log.debug("heartbeat to %s failed: %s", addr, e)

    async def unregister(self, header: UnregisterClientRequestHeader, timeout: float) -> None:
        """UNREGISTER_CLIENT at every known broker (best effort: a down broker is skipped)."""
        cmd = request(RequestCode.UNREGISTER_CLIENT, header.to_ext())
        for addr in self.broker_addrs():
            try:
                await self.remoting.invoke(addr, cmd, timeout)
            except RemotingError as e:
                log.debug("unregister at %s failed: %s", addr, e)


class ConsumerBase(ClientBase):
    """The broker requests every consumer makes."""

    async def pull_once(self, mq: MessageQueue, sub: SubscriptionData, offset: int,
                        max_nums: int = 32, *, suspend_ms: int = 0, commit_offset: int = 0,
                        timeout: float = 10.0) -> tuple[int, int, list[MessageExt]]:
        """One PULL_MESSAGE: (response code, next offset, messages after the tag filter)."""
        sysflag = PullSysFlag.SUBSCRIPTION
        if suspend_ms:
            sysflag |= PullSysFlag.SUSPEND
        if commit_offset > 0:
            sysflag |= PullSysFlag.COMMIT_OFFSET
        cmd = request(RequestCode.PULL_MESSAGE, PullMessageRequestHeader(
            self.group, mq.topic, mq.queue_id, offset, max_nums, int(sysflag), commit_offset,
            suspend_ms, sub.sub_version, sub.sub_string, sub.expression_type or "TAG").to_ext())
        r = await self.remoting.invoke(self.broker_addr(mq.broker_name), cmd, timeout)
        if r.code not in PULL_RESULT_CODES:  # refused: no pull result header
            return r.code, offset, []
        nxt = PullMessageResponseHeader.from_ext(r.ext_fields).next_begin_offset
        if r.code != ResponseCode.SUCCESS:
            return r.code, nxt, []
        return r.code, nxt, pulled_messages(r.body, sub)

    async def _offset_request(self, code: int, mq: MessageQueue, header: Header
                              ) -> RemotingCommand:
        return await self.remoting.invoke(self.broker_addr(mq.broker_name),
                                          request(code, header.to_ext()), 5.0)

    async def _offset(self, code: int, mq: MessageQueue, header: Header) -> int:
        r = await self._offset_request(code, mq, header)
        return OffsetResponseHeader.from_ext(r.ext_fields).offset \
            if r.code == ResponseCode.SUCCESS else 0

    async def max_offset(self, mq: MessageQueue) -> int:
        """The queue's max offset (one past its last message); 0 if the broker refuses."""
        return await self._offset(RequestCode.GET_MAX_OFFSET, mq,
                                  GetMaxOffsetRequestHeader(mq.topic, mq.queue_id))

    async def min_offset(self, mq: MessageQueue) -> int:
        """The queue's min offset; 0 if the broker refuses."""
        return await self._offset(RequestCode.GET_MIN_OFFSET, mq,
                                  GetMinOffsetRequestHeader(mq.topic, mq.queue_id))

    async def offset_by_time(self, mq: MessageQueue, timestamp_ms: int) -> int:
        """The offset of the first message stored at or after ``timestamp_ms``."""
        return await self._offset(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, mq,
                                  SearchOffsetRequestHeader(mq.topic, mq.queue_id, timestamp_ms))

    async def query_consumer_offset(self, mq: MessageQueue) -> int:
        """The group's committed offset of ``mq`` on its broker, -1 if it has none."""
        r = await self._offset_request(RequestCode.QUERY_CONSUMER_OFFSET, mq,
                                       QueryConsumerOffsetRequestHeader(
                                           self.group, mq.topic, mq.queue_id))
        if r.code != ResponseCode.SUCCESS:
            return -1
        off = QueryConsumerOffsetResponseHeader.from_ext(r.ext_fields).offset
        return -1 if off is None else off

    async def update_consumer_offset(self, mq: MessageQueue, offset: int) -> None:
        """Commit the group's offset of ``mq`` on its broker."""
        await self._offset_request(RequestCode.UPDATE_CONSUMER_OFFSET, mq,
                                   UpdateConsumerOffsetRequestHeader(
                                       self.group, mq.topic, mq.queue_id, offset))

    async def consumer_ids(self, route: Route) -> list[str]:
        """The group's live consumer ids, from the first broker of ``route`` that answers."""
        for name in sorted(route.broker_addrs):
            addr = route.any_addr(name)
            if not addr:
                continue
            r = await self.remoting.invoke(addr, request(
                RequestCode.GET_CONSUMER_LIST_BY_GROUP,
                GetConsumerListByGroupRequestHeader(self.group).to_ext()), 3)
            if r.code == ResponseCode.SUCCESS:
                return ConsumerListBody.from_json(r.body).consumer_id_list
        return []
