"""PushConsumer (long-polling pulls per owned queue, rebalance, offsets, retry) and
PullConsumer (explicit queues and offsets), asyncio-native (Java DefaultMQPushConsumer /
DefaultMQPullConsumer semantics).

    consumer = PushConsumer("CG", "127.0.0.1:9876")
    consumer.subscribe("Topic", "TagA || TagB")
    consumer.listener = handle          # async or sync callable(MessageExt) -> ConsumeStatus
    await consumer.start()
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyrmq.client.message import (
    ConsumeFrom,
    ConsumeStatus,
    MessageModel,
    MessageQueue,
    new_client_id,
)
from pyrmq.client.nameserver import NameServerClient
from pyrmq.client.rebalance import allocate_averagely
from pyrmq.client.route import Route
from pyrmq.protocol.admin import (
    ConsumerListBody,
    LockBatchRequestBody,
    LockBatchResponseBody,
    ResetOffsetBody,
)
from pyrmq.protocol.bodies import (
    ConsumerData,
    HeartbeatData,
    SubscriptionData,
    parse_subscription,
)
from pyrmq.protocol.codes import PullSysFlag, RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.headers import (
    ConsumerSendMsgBackRequestHeader,
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
from pyrmq.protocol.message import MessageConst, MessageExt, decode_records
from pyrmq.remoting import Connection, RemotingClient, RemotingError

log = logging.getLogger("pyrmq.client")

Listener = Callable[[MessageExt], "ConsumeStatus | Awaitable[ConsumeStatus]"]
RETRY_PREFIX = "%RETRY%"
# pull answers that carry a PullMessageResponseHeader (Java processPullResponse)
_PULL_STATUS = frozenset((ResponseCode.SUCCESS, ResponseCode.PULL_NOT_FOUND,
                          ResponseCode.PULL_RETRY_IMMEDIATELY, ResponseCode.PULL_OFFSET_MOVED))


def _restore_retry_topic(msg: MessageExt) -> MessageExt:
    real = msg.properties.get(MessageConst.RETRY_TOPIC)
    if real and msg.topic.startswith(RETRY_PREFIX):
        return dataclasses.replace(msg, topic=real)
    return msg


class _ClientBase:
    def __init__(self, group: str, namesrv: str | list[str], instance: str) -> None:
        self.group = group
        self.remoting = RemotingClient({RequestCode.NOTIFY_CONSUMER_IDS_CHANGED: self._notified,
                                        RequestCode.RESET_CONSUMER_CLIENT_OFFSET: self._reset})
        self.namesrv = NameServerClient(namesrv, self.remoting)
        self.client_id = new_client_id(instance)
        self.routes: dict[str, Route] = {}

    async def _notified(self, conn: Connection, cmd: RemotingCommand) -> None:
        return None

    async def _reset(self, conn: Connection, cmd: RemotingCommand) -> None:
        return None

    async def route(self, topic: str) -> Route:
        r = await self.namesrv.get_route(topic)
        self.routes[topic] = r
        return r

    def broker_addr(self, broker_name: str) -> str:
        for r in self.routes.values():
            addr = r.any_addr(broker_name)
            if addr:
                return addr
        raise RemotingError(f"no address known for broker {broker_name}")

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
            suspend_ms, sub.sub_version, sub.sub_string, "TAG").to_ext())
        r = await self.remoting.invoke(self.broker_addr(mq.broker_name), cmd, timeout)
        if r.code not in _PULL_STATUS:  # refused: no pull result header
            return r.code, offset, []
        nxt = PullMessageResponseHeader.from_ext(r.ext_fields).next_begin_offset
        if r.code != ResponseCode.SUCCESS:
            return r.code, nxt, []
        msgs = [dataclasses.replace(m, body=m.decompressed_body()) if m.sysflag & 1 else m
                for m in decode_records(r.body)]
        if not sub.match_all:
            tags = set(sub.tags)
            msgs = [m for m in msgs if m.tags in tags]
        return r.code, nxt, msgs

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


class PullConsumer(_ClientBase):
    """Pull from queues and offsets you choose."""

    def __init__(self, group: str, namesrv: str | list[str], instance: str = "DEFAULT") -> None:
        super().__init__(group, namesrv, instance)

    async def fetch_queues(self, topic: str) -> list[MessageQueue]:
        return (await self.route(topic)).subscribe_queues()

    async def pull(self, mq: MessageQueue, expression: str, offset: int, max_nums: int = 32
                   ) -> tuple[int, int, list[MessageExt]]:
        if mq.topic not in self.routes:
            await self.route(mq.topic)
        return await self.pull_once(mq, parse_subscription(mq.topic, expression), offset,
                                    max_nums)

    async def shutdown(self) -> None:
        await self.remoting.close()


class PushConsumer(_ClientBase):
    """Consumes subscribed topics: owned queues are pulled with long polling, messages handed
    to ``listener``; offsets committed to the broker (CLUSTERING) or a local file
    (BROADCASTING)."""

    def __init__(self, group: str, namesrv: str | list[str], *,
                 model: MessageModel = MessageModel.CLUSTERING,
                 consume_from: ConsumeFrom = ConsumeFrom.LAST_OFFSET,
                 consume_timestamp_ms: int = 0, max_reconsume_times: int = 16,
                 concurrency: int = 16, rebalance_interval: float = 20.0,
                 offset_dir: str | None = None, instance: str = "DEFAULT",
                 orderly: bool = False,
                 allocate: Callable[[str, list[MessageQueue], list[str]], list[MessageQueue]]
                 = allocate_averagely) -> None:
        super().__init__(group, namesrv, instance)
        self.orderly = orderly
        self.allocate = allocate
        self.model = model
        self.consume_from = consume_from
        self.consume_timestamp_ms = consume_timestamp_ms
        self.max_reconsume_times = max_reconsume_times
        self.rebalance_interval = rebalance_interval
        self.listener: Listener | None = None
        self.subscriptions: dict[str, SubscriptionData] = {}
        self.offsets: dict[MessageQueue, int] = {}
        self._committed: dict[MessageQueue, int] = {}
        self._pullers: dict[MessageQueue, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._sem = asyncio.Semaphore(concurrency)
        self._rebalance_now = asyncio.Event()
        self._running = False
        self.assigned: list[MessageQueue] | None = None
        self._resets: dict[MessageQueue, int] = {}
        self._offset_file = os.path.join(
            offset_dir or os.path.join(os.path.expanduser("~"), ".pyrmq_offsets"),
            self.client_id.split("#")[0].replace("@", "_"), group, "offsets.json")

    def subscribe(self, topic: str, expression: str = "*") -> None:
        sub = parse_subscription(topic, expression, int(time.time() * 1000))
        self.subscriptions[topic] = sub

    async def start(self) -> None:
        if self.listener is None:
            raise ValueError("set consumer.listener before start()")
        if self.model is MessageModel.CLUSTERING:
            self.subscriptions.setdefault(RETRY_PREFIX + self.group, parse_subscription(
                RETRY_PREFIX + self.group, "*", int(time.time() * 1000)))
        else:
            self._load_local_offsets()
        self._running = True
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._rebalance_loop()),
                       loop.create_task(self._commit_loop())]

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop pulling, wait (bounded) for in-flight messages, commit, unregister."""
        self._running = False
        for t in self._tasks:
            t.cancel()
        pullers = list(self._pullers.values())
        for t in pullers:
            t.cancel()
        await asyncio.wait(self._tasks + pullers, timeout=grace)
        await self.commit_offsets()
        if self.orderly:
            await self._lock_batch(list(self._pullers), RequestCode.UNLOCK_BATCH_MQ)
        for addr in self._broker_addrs():
            try:
                await self.remoting.invoke(addr, request(
                    RequestCode.UNREGISTER_CLIENT, UnregisterClientRequestHeader(
                        self.client_id, consumer_group=self.group).to_ext()), 2.0)
            except RemotingError:
                pass
        await self.remoting.close()

    async def __aenter__(self) -> PushConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    async def _notified(self, conn: Connection, cmd: RemotingCommand) -> None:
        self._rebalance_now.set()
        return None

    async def _reset(self, conn: Connection, cmd: RemotingCommand) -> None:
        """RESET_CONSUMER_CLIENT_OFFSET from a broker: continue the named queues from the given
        offsets (array form, or Java's object-keyed form)."""
        try:
            resets = ResetOffsetBody.from_json(cmd.body).offset_table
        except RemoteProtocolError as e:
            log.warning("ignored a bad offset reset from %s: %s", conn.remote_addr, e)
            return None
        for mq, off in resets.items():
            self.offsets[mq] = off
            task = self._pullers.get(mq)
            if task is not None:  # abandon a held pull: restart the queue at the new offset
                task.cancel()
                self._pullers[mq] = asyncio.get_running_loop().create_task(self._pull_loop(mq))
            else:
                self._resets[mq] = off
        log.info("offsets reset by broker: %s", {str(k): v for k, v in resets.items()})
        return None

    def _broker_addrs(self) -> set[str]:
        return {a for r in self.routes.values() for addrs in r.broker_addrs.values()
                for a in addrs.values()}

    # -- heartbeat + rebalance -------------------------------------------------------------
    async def heartbeat(self) -> None:
        data = ConsumerData(self.group, "CONSUME_PASSIVELY", self.model.value,
                            self.consume_from.value, list(self.subscriptions.values()))
        body = HeartbeatData(self.client_id, [], [data]).to_json()
        for addr in self._broker_addrs():
            try:
                await self.remoting.invoke(addr, request(RequestCode.HEART_BEAT, None, body), 3)
            except RemotingError as e:
                log.debug("heartbeat to %s failed: %s", addr, e)

    async def _rebalance_loop(self) -> None:
        last_hb = 0.0
        while self._running:
            try:
                for topic in self.subscriptions:
                    try:
                        await self.route(topic)
                    except Exception as e:
                        log.debug("no route for %s yet: %s", topic, e)
                if time.monotonic() - last_hb > 30 or not last_hb:
                    await self.heartbeat()
                    last_hb = time.monotonic()
                await self.rebalance()
            except Exception:
                log.exception("rebalance of %s failed", self.group)
            self._rebalance_now.clear()
            try:
                # orderly consumers renew their 60 s broker locks at least every 20 s
                interval = min(self.rebalance_interval, 20.0) if self.orderly \
                    else self.rebalance_interval
                await asyncio.wait_for(self._rebalance_now.wait(), interval)
            except asyncio.TimeoutError:
                pass

    async def _client_ids(self, route: Route) -> list[str]:
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

    async def rebalance(self) -> None:
        wanted: set[MessageQueue] = set()
        if self.assigned is not None:  # lite pull consumer in assign mode: no rebalance
            wanted = set(self.assigned)
            await self._apply(wanted)
            return
        for topic in self.subscriptions:
            route = self.routes.get(topic)
            if route is None:
                continue
            queues = route.subscribe_queues()
            if self.model is MessageModel.BROADCASTING:
                wanted.update(queues)
                continue
            ids = await self._client_ids(route)
            if self.client_id not in ids:
                ids.append(self.client_id)
            wanted.update(self.allocate(self.client_id, queues, ids))
        await self._apply(wanted)

    async def _apply(self, wanted: set[MessageQueue]) -> None:
        """Stop pulling dropped queues (committing their offsets), start the new ones."""
        dropped = [q for q in self._pullers if q not in wanted]
        for mq in dropped:
            task = self._pullers.pop(mq)
            task.cancel()
            await asyncio.wait([task], timeout=5)
            await self._commit(mq)
            self.offsets.pop(mq, None)
        if self.orderly:
            await self._lock_batch(dropped, RequestCode.UNLOCK_BATCH_MQ)
            # hold a broker lock on every queue we consume; relock (renew) the ones we hold
            wanted = await self._lock_batch(sorted(wanted), RequestCode.LOCK_BATCH_MQ)
            for mq in [q for q in self._pullers if q not in wanted]:
                self._pullers.pop(mq).cancel()  # lost its lock: stop until it is ours again
        for mq in wanted:
            if mq not in self._pullers:
                self._pullers[mq] = asyncio.get_running_loop().create_task(self._pull_loop(mq))

    async def _lock_batch(self, mqs: list[MessageQueue], code: int) -> set[MessageQueue]:
        """LOCK_BATCH_MQ / UNLOCK_BATCH_MQ per broker; returns the queues now locked."""
        by_broker: dict[str, list[MessageQueue]] = {}
        for mq in mqs:
            by_broker.setdefault(mq.broker_name, []).append(mq)
        locked: set[MessageQueue] = set()
        for broker, queues in by_broker.items():
            body = LockBatchRequestBody(self.group, self.client_id, queues).to_json()
            try:
                r = await self.remoting.invoke(self.broker_addr(broker),
                                               request(code, None, body), 3)
            except RemotingError as e:
                log.debug("%s on %s failed: %s", code, broker, e)
                continue
            if code == RequestCode.LOCK_BATCH_MQ and r.code == ResponseCode.SUCCESS:
                locked.update(LockBatchResponseBody.from_json(r.body).lock_ok_mq_set)
        return locked

    # -- pulling and consuming --------------------------------------------------------------
    async def _initial_offset(self, mq: MessageQueue) -> int:
        if self.model is MessageModel.BROADCASTING:
            off = self.offsets.get(mq, -1)
        else:
            r = await self._offset_request(RequestCode.QUERY_CONSUMER_OFFSET, mq,
                                           QueryConsumerOffsetRequestHeader(
                                               self.group, mq.topic, mq.queue_id))
            stored = QueryConsumerOffsetResponseHeader.from_ext(r.ext_fields).offset \
                if r.code == ResponseCode.SUCCESS else None
            off = -1 if stored is None else stored
        if off >= 0:
            return off
        if mq.topic.startswith(RETRY_PREFIX):
            return 0
        if self.consume_from is ConsumeFrom.FIRST_OFFSET:
            return await self.min_offset(mq)
        if self.consume_from is ConsumeFrom.TIMESTAMP:
            return await self.offset_by_time(mq, self.consume_timestamp_ms)
        return await self.max_offset(mq)

    async def _pull_loop(self, mq: MessageQueue) -> None:
        sub = self.subscriptions[mq.topic]
        while self._running:
            try:
                if mq not in self.offsets:
                    self.offsets[mq] = await self._initial_offset(mq)
                offset = self.offsets[mq]
                code, nxt, msgs = await self.pull_once(
                    mq, sub, offset, 32, suspend_ms=15000, timeout=30,
                    commit_offset=offset if self.model is MessageModel.CLUSTERING else 0)
                if code == ResponseCode.SUCCESS:
                    await self._consume(mq, msgs)
                if mq in self._resets:  # a reset arrived while this pull was out
                    self.offsets[mq] = self._resets.pop(mq)
                elif code in (ResponseCode.SUCCESS, ResponseCode.PULL_RETRY_IMMEDIATELY,
                              ResponseCode.PULL_OFFSET_MOVED, ResponseCode.PULL_NOT_FOUND):
                    self.offsets[mq] = nxt
                else:
                    await asyncio.sleep(1.0)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.debug("pull %s failed: %s", mq, e)
                await asyncio.sleep(1.0)

    async def _call_listener(self, msg: MessageExt) -> ConsumeStatus:
        assert self.listener is not None
        try:
            if inspect.iscoroutinefunction(self.listener):
                status = await self.listener(msg)  # type: ignore[misc]
            else:
                status = await asyncio.get_running_loop().run_in_executor(
                    None, self.listener, msg)
        except Exception:
            log.exception("listener failed on %s", msg.msg_id)
            return ConsumeStatus.RECONSUME_LATER
        return ConsumeStatus(status) if status is not None else ConsumeStatus.CONSUME_SUCCESS

    async def _consume(self, mq: MessageQueue, msgs: list[MessageExt]) -> None:
        if self.orderly:
            await self._consume_orderly(mq, msgs)
            return

        async def one(m: MessageExt) -> None:
            async with self._sem:
                status = await self._call_listener(_restore_retry_topic(m))
            if status is ConsumeStatus.RECONSUME_LATER and \
                    self.model is MessageModel.CLUSTERING:
                await self._send_back(mq, m)

        await asyncio.gather(*(one(m) for m in msgs))

    async def _consume_orderly(self, mq: MessageQueue, msgs: list[MessageExt]) -> None:
        """One message at a time, in queue order; a failure is retried in place after a pause
        (the queue is suspended), up to max_reconsume_times, then sent back (retry / DLQ)."""
        for m in msgs:
            for attempt in range(self.max_reconsume_times + 1):
                status = await self._call_listener(_restore_retry_topic(m))
                if status is ConsumeStatus.CONSUME_SUCCESS:
                    break
                if attempt == self.max_reconsume_times:
                    await self._send_back(mq, m)
                    break
                await asyncio.sleep(1.0)
            self.offsets[mq] = m.queue_offset + 1

    async def _send_back(self, mq: MessageQueue, m: MessageExt) -> None:
        fields = ConsumerSendMsgBackRequestHeader(
            m.phys_offset, self.group, 0, origin_msg_id=m.msg_id, origin_topic=m.topic,
            max_reconsume_times=self.max_reconsume_times).to_ext()
        for _ in range(3):
            try:
                r = await self.remoting.invoke(f"{m.store_host[0]}:{m.store_host[1]}", request(
                    RequestCode.CONSUMER_SEND_MSG_BACK, fields), 5)
                if r.code == ResponseCode.SUCCESS:
                    return
            except RemotingError:
                pass
            await asyncio.sleep(0.5)
        log.warning("could not send %s back for retry; consuming it again locally", m.msg_id)
        await self._call_listener(_restore_retry_topic(m))

    # -- offsets ------------------------------------------------------------------------------
    async def _commit_loop(self) -> None:
        while self._running:
            await asyncio.sleep(5)
            await self.commit_offsets()

    async def _commit(self, mq: MessageQueue) -> None:
        off = self.offsets.get(mq)
        if off is None or self._committed.get(mq) == off:
            return
        if self.model is MessageModel.BROADCASTING:
            self._committed[mq] = off
            self._save_local_offsets()
            return
        try:
            await self._offset_request(RequestCode.UPDATE_CONSUMER_OFFSET, mq,
                                       UpdateConsumerOffsetRequestHeader(
                                           self.group, mq.topic, mq.queue_id, off))
            self._committed[mq] = off
        except RemotingError as e:
            log.debug("commit %s failed: %s", mq, e)

    async def commit_offsets(self) -> None:
        for mq in list(self.offsets):
            await self._commit(mq)

    def _load_local_offsets(self) -> None:
        try:
            with open(self._offset_file, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return
        for row in data.get("offsetTable", []):
            mq = MessageQueue.from_dict(row)
            self.offsets[mq] = self._committed[mq] = int(row["offset"])

    def _save_local_offsets(self) -> None:
        os.makedirs(os.path.dirname(self._offset_file), exist_ok=True)
        rows = [dict(q.to_dict(), offset=o) for q, o in sorted(self.offsets.items())]
        tmp = self._offset_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"offsetTable": rows}, f)
        os.replace(tmp, self._offset_file)


class LitePullConsumer(PushConsumer):
    """Java DefaultLitePullConsumer: ``subscribe`` (queues by rebalance) or ``assign`` (fixed
    queues), then ``poll()`` batches; offsets of polled messages are committed automatically
    (every 5 s and at shutdown). Pulling runs ahead by at most ``buffer`` messages."""

    def __init__(self, group: str, namesrv: str | list[str], *, buffer: int = 1024,
                 **kw: Any) -> None:
        super().__init__(group, namesrv, **kw)
        self._buffer: asyncio.Queue[MessageExt] = asyncio.Queue(buffer)
        self.listener = self._enqueue

    async def _enqueue(self, msg: MessageExt) -> ConsumeStatus:
        await self._buffer.put(msg)  # back pressure: pulling waits for poll()
        return ConsumeStatus.CONSUME_SUCCESS

    async def _consume(self, mq: MessageQueue, msgs: list[MessageExt]) -> None:
        for m in msgs:  # keep queue order in the buffer
            await self._enqueue(_restore_retry_topic(m))

    def assign(self, queues: list[MessageQueue]) -> None:
        self.assigned = list(queues)
        for q in queues:
            self.subscriptions.setdefault(q.topic, parse_subscription(q.topic, "*"))

    async def start(self) -> None:
        for mq in self.assigned or []:
            if mq.topic not in self.routes:
                await self.route(mq.topic)
        await super().start()

    def seek(self, mq: MessageQueue, offset: int) -> None:
        """Continue ``mq`` from ``offset`` (takes effect at its next pull)."""
        self.offsets[mq] = offset

    async def poll(self, timeout: float = 5.0, max_messages: int = 32) -> list[MessageExt]:
        """Up to ``max_messages`` messages, waiting at most ``timeout`` s for the first."""
        try:
            first = await asyncio.wait_for(self._buffer.get(), timeout)
        except asyncio.TimeoutError:
            return []
        out = [first]
        while len(out) < max_messages and not self._buffer.empty():
            out.append(self._buffer.get_nowait())
        return out
