"""What every client shares (ClientBase: connections, NameServer, routes, heartbeat and
unregister to every broker) and what every consumer asks a broker (ConsumerBase: one pull,
offset look-ups, the group's consumer ids) -- Java's MQClientInstance / MQClientAPIImpl."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
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
from pyrmq.remoting import RemotingClient, RemotingClosedError, RemotingConnectError, RemotingError
from pyrmq.remoting.connection import Handler

log = logging.getLogger("pyrmq.client")
C = TypeVar("C", bound="ClientBase")

# pull answers that carry a PullMessageResponseHeader (Java processPullResponse): the pull
# result's next offset is where to continue
PULL_RESULT_CODES = frozenset((ResponseCode.SUCCESS, ResponseCode.PULL_NOT_FOUND,
                          ResponseCode.PULL_RETRY_IMMEDIATELY, ResponseCode.PULL_OFFSET_MOVED))
#: a broker address whose connection was refused or lost is passed over this long; the next
#: request after that is the probe that brings it back
DOWN_S = 3.0
#: a pull answered PULL_RETRY_IMMEDIATELY at the same offset (a slave behind the consumer)
#: returns after this pause, so the caller's immediate retry does not spin
RETRY_SAME_OFFSET_PAUSE_S = 0.1


class ClientBase:
    """A client of one group: its connections, NameServer client, id and known routes."""

    def __init__(self, group: str, namesrv: str | list[str], instance: str,
                 handlers: Mapping[int, Handler] | None = None, *,
                 busy_poll_us: float = 0) -> None:
        self.group = group
        # busy_poll_us: keep polling this long after a response or request (adaptive, see
        # pyrmq.remoting.busypoll); 0 = sleep in epoll as usual
        self.remoting = RemotingClient(handlers, busy_poll_us=busy_poll_us)
        self.namesrv = NameServerClient(namesrv, self.remoting)
        self.client_id = new_client_id(instance)
        self.routes: dict[str, Route] = {}
        self._down: dict[str, float] = {}  # broker address -> monotonic time it may be retried

    def mark_down(self, addr: str, err: Exception) -> None:
        """Pass over ``addr`` for DOWN_S seconds after a refused or lost connection."""
        if isinstance(err, (RemotingConnectError, RemotingClosedError)):
            if addr not in self._down:
                log.info("broker %s unreachable (%s): using another address of its group",
                         addr, err)
            self._down[addr] = time.monotonic() + DOWN_S

    def is_down(self, addr: str) -> bool:
        until = self._down.get(addr)
        if until is None:
            return False
        if time.monotonic() >= until:  # due for a probe; mark_down again if it fails
            del self._down[addr]
            return False
        return True

    def choose_addr(self, broker_name: str, prefer: int = 0) -> str:
        """An address of ``broker_name``: broker id ``prefer`` unless it is down, else the
        master, else the lowest-id slave that is not down (Java's
        findBrokerAddressInSubscribe, with connection failures counted)."""
        addrs: dict[int, str] = {}
        for r in self.routes.values():
            for bid, a in r.broker_addrs.get(broker_name, {}).items():
                addrs.setdefault(bid, a)
        if not addrs:
            raise RemotingError(f"no address known for broker {broker_name}")
        order = [prefer, *sorted(b for b in addrs if b != prefer)]
        for bid in order:
            addr = addrs.get(bid)
            if addr is not None and not self.is_down(addr):
                return addr
        return addrs.get(prefer) or addrs[min(addrs)]  # all down: probe the preferred one

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
        """An address of ``broker_name`` (its master if it has one) from the known routes,
        reachable or not: where a request must go to the master (orderly locks)."""
        for r in self.routes.values():
            addr = r.any_addr(broker_name)
            if addr:
                return addr
        raise RemotingError(f"no address known for broker {broker_name}")

    async def invoke_broker(self, addr: str, cmd: RemotingCommand, timeout: float
                            ) -> RemotingCommand:
        """``invoke`` that marks ``addr`` down when its connection is refused or lost."""
        try:
            return await self.remoting.invoke(addr, cmd, timeout)
        except RemotingError as e:
            self.mark_down(addr, e)
            raise

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

    #: broker id each queue's next pull goes to, as the last pull response suggested
    #: (Java's PullAPIWrapper.pullFromWhichNodeTable); absent = the master
    pull_from: dict[MessageQueue, int]

    def __init__(self, group: str, namesrv: str | list[str], instance: str,
                 handlers: Mapping[int, Handler] | None = None, *,
                 busy_poll_us: float = 0) -> None:
        super().__init__(group, namesrv, instance, handlers, busy_poll_us=busy_poll_us)
        self.pull_from = {}

    async def pull_once(self, mq: MessageQueue, sub: SubscriptionData, offset: int,
                        max_nums: int = 32, *, suspend_ms: int = 0, commit_offset: int = 0,
                        timeout: float = 10.0) -> tuple[int, int, list[MessageExt]]:
        """One PULL_MESSAGE: (response code, next offset, messages after the tag filter).

        Goes to the broker the queue's last response suggested (suggestWhichBrokerId), or to
        a slave while the master's connection is refused or lost. PULL_OFFSET_MOVED to below
        ``offset`` is logged as a WARNING; PULL_RETRY_IMMEDIATELY at the same offset returns
        after RETRY_SAME_OFFSET_PAUSE_S."""
        sysflag = PullSysFlag.SUBSCRIPTION
        if suspend_ms:
            sysflag |= PullSysFlag.SUSPEND
        if commit_offset > 0:
            sysflag |= PullSysFlag.COMMIT_OFFSET
        cmd = request(RequestCode.PULL_MESSAGE, PullMessageRequestHeader(
            self.group, mq.topic, mq.queue_id, offset, max_nums, int(sysflag), commit_offset,
            suspend_ms, sub.sub_version, sub.sub_string, sub.expression_type or "TAG").to_ext())
        addr = self.choose_addr(mq.broker_name, self.pull_from.get(mq, 0))
        try:
            r = await self.invoke_broker(addr, cmd, timeout)
        except (RemotingConnectError, RemotingClosedError):
            # a pull only reads: try the group's next address at once (a probe of a master
            # still away costs nothing then)
            other = self.choose_addr(mq.broker_name, self.pull_from.get(mq, 0))
            if other == addr:
                raise
            addr = other
            r = await self.invoke_broker(addr, cmd, timeout)
        if r.code not in PULL_RESULT_CODES:  # refused: no pull result header
            log.debug("pull %s from %s refused: %d %s", mq, addr, r.code, r.remark)
            return r.code, offset, []
        h = PullMessageResponseHeader.from_ext(r.ext_fields)
        nxt = h.next_begin_offset
        self.pull_from[mq] = h.suggest_which_broker_id
        if r.code == ResponseCode.PULL_OFFSET_MOVED and nxt < offset:
            log.warning("broker %s moved the offset of %s back from %d to %d",
                        addr, mq, offset, nxt)
        elif r.code == ResponseCode.PULL_RETRY_IMMEDIATELY and nxt == offset:
            await asyncio.sleep(RETRY_SAME_OFFSET_PAUSE_S)
        if r.code != ResponseCode.SUCCESS:
            return r.code, nxt, []
        return r.code, nxt, pulled_messages(r.body, sub)

    async def _offset_request(self, code: int, mq: MessageQueue, header: Header
                              ) -> RemotingCommand:
        return await self.invoke_broker(self.choose_addr(mq.broker_name),
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
        """The group's live consumer ids, from the first broker of ``route`` that answers
        (a master that is down is passed over for its slave); RemotingError if none did."""
        err: RemotingError | None = None
        answered = False
        for name in sorted(route.broker_addrs):
            try:
                r = await self.invoke_broker(self.choose_addr(name), request(
                    RequestCode.GET_CONSUMER_LIST_BY_GROUP,
                    GetConsumerListByGroupRequestHeader(self.group).to_ext()), 3)
            except RemotingError as e:  # the next broker (or this one's slave next time)
                err = e
                continue
            answered = True
            if r.code == ResponseCode.SUCCESS:
                return ConsumerListBody.from_json(r.body).consumer_id_list
        if err is not None and not answered:
            raise err  # nobody answered: not "no consumers" (that would take every queue)
        return []
