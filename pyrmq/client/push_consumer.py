"""PushConsumer (Java DefaultMQPushConsumer): long-polling pulls per owned queue, rebalance,
offsets, retry, asyncio-native.

    consumer = PushConsumer("CG", "127.0.0.1:9876")
    consumer.subscribe("Topic", "TagA || TagB")
    consumer.listener = handle          # async or sync callable(MessageExt) -> ConsumeStatus
    await consumer.start()
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections.abc import Awaitable, Callable

from pyrmq.client.admin_answers import AdminAnswers
from pyrmq.client.base import PULL_RESULT_CODES, ConsumerBase
from pyrmq.client.message import ConsumeFrom, ConsumeStatus, MessageModel, MessageQueue
from pyrmq.client.offsets import LocalFileOffsetStore, OffsetStore, RemoteBrokerOffsetStore
from pyrmq.client.orderly import consume_orderly, lock_batch
from pyrmq.client.rebalance import allocate_averagely
from pyrmq.client.rebalance_service import Allocate, RebalanceService
from pyrmq.protocol import jsonx
from pyrmq.protocol.admin import ResetOffsetBody
from pyrmq.protocol.bodies import ConsumerData, HeartbeatData, SubscriptionData, parse_subscription
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.headers import ConsumerSendMsgBackRequestHeader, UnregisterClientRequestHeader
from pyrmq.protocol.message import MessageConst, MessageExt
from pyrmq.remoting import Connection, RemotingError

log = logging.getLogger("pyrmq.client")

Listener = Callable[[MessageExt], "ConsumeStatus | Awaitable[ConsumeStatus]"]
RETRY_PREFIX = "%RETRY%"


def restore_retry_topic(msg: MessageExt) -> MessageExt:
    """A message redelivered from the group's retry topic, with its original topic back."""
    real = msg.properties.get(MessageConst.RETRY_TOPIC)
    if real and msg.topic.startswith(RETRY_PREFIX):
        return dataclasses.replace(msg, topic=real)
    return msg


class SubscriptionRefused(Exception):
    """A broker refused a subscription at start (CHECK_CLIENT_CONFIG): property filtering
    disabled, or a SQL92 expression that does not compile."""


class PushConsumer(ConsumerBase):
    """Consumes subscribed topics: owned queues are pulled with long polling, messages handed
    to ``listener``; offsets committed to the broker (CLUSTERING) or a local file
    (BROADCASTING)."""

    def __init__(self, group: str, namesrv: str | list[str], *,
                 model: MessageModel = MessageModel.CLUSTERING,
                 consume_from: ConsumeFrom = ConsumeFrom.LAST_OFFSET,
                 consume_timestamp_ms: int = 0, max_reconsume_times: int = 16,
                 concurrency: int = 16, rebalance_interval: float = 20.0,
                 offset_dir: str | None = None, instance: str = "DEFAULT",
                 orderly: bool = False, allocate: Allocate = allocate_averagely) -> None:
        self.admin = AdminAnswers(self)  # 307 / 309 relayed by a broker from an admin tool
        super().__init__(group, namesrv, instance, {
            RequestCode.NOTIFY_CONSUMER_IDS_CHANGED: self._notified,
            RequestCode.RESET_CONSUMER_CLIENT_OFFSET: self._reset, **self.admin.handlers()})
        self.concurrency = concurrency
        self.orderly = orderly
        self.model = model
        self.consume_from = consume_from
        self.consume_timestamp_ms = consume_timestamp_ms
        self.max_reconsume_times = max_reconsume_times
        self.listener: Listener | None = None
        self.subscriptions: dict[str, SubscriptionData] = {}
        self.offset_store: OffsetStore = (
            RemoteBrokerOffsetStore(self) if model is MessageModel.CLUSTERING
            else LocalFileOffsetStore.for_client(offset_dir, self.client_id, group))
        self.offsets = self.offset_store.offsets  # next offset to consume per queue
        self.rebalancer = RebalanceService(
            self, self.subscriptions, self.offset_store, model=model, allocate=allocate,
            orderly=orderly, interval=rebalance_interval, pull=self._pull_loop,
            heartbeat=self.heartbeat)
        self._tasks: list[asyncio.Task[None]] = []
        self._sem = asyncio.Semaphore(concurrency)
        self._running = False
        self._resets: dict[MessageQueue, int] = {}  # arrived while the queue's pull was out

    def subscribe(self, topic: str, expression: str = "*", *, sql: str | None = None) -> None:
        """Consume ``topic``'s messages matching ``expression`` ("*" or "TagA || TagB"), or
        with ``sql`` those whose properties match a SQL92 expression (``"a >= 5 AND TAGS IN
        ('A')"``; the broker needs ``enablePropertyFilter=true``, checked at start)."""
        now = int(time.time() * 1000)
        self.subscriptions[topic] = (parse_subscription(topic, sql, now, "SQL92") if sql
                                     else parse_subscription(topic, expression, now))

    async def start(self) -> None:
        if self.listener is None:
            raise ValueError("set consumer.listener before start()")
        if self.model is MessageModel.CLUSTERING:
            self.subscriptions.setdefault(RETRY_PREFIX + self.group, parse_subscription(
                RETRY_PREFIX + self.group, "*", int(time.time() * 1000)))
        await self._check_client_config()
        self.offset_store.load()
        self.admin.started_ms = int(time.time() * 1000)
        self._running = self.rebalancer.running = True
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.rebalancer.run()),
                       loop.create_task(self._commit_loop())]

    async def _check_client_config(self) -> None:
        """CHECK_CLIENT_CONFIG to every master of each SQL92-subscribed topic, as Java's
        checkClientInBroker: a broker without property filtering, or a bad expression, stops
        the start with the broker's remark."""
        for sub in self.subscriptions.values():
            if sub.expression_type in ("", "TAG"):
                continue
            route = await self.route(sub.topic)
            body = jsonx.dumps({"clientId": self.client_id, "group": self.group,
                                "subscriptionData": sub.to_dict()})
            for name in sorted(route.broker_addrs):
                addr = route.master(name)
                if addr is None:
                    continue
                r = await self.remoting.invoke(addr, request(RequestCode.CHECK_CLIENT_CONFIG,
                                                             None, body), 5.0)
                if r.code != ResponseCode.SUCCESS:
                    raise SubscriptionRefused(
                        f"broker {name} ({addr}) refused the {sub.expression_type} "
                        f"subscription of {sub.topic}: {r.remark}")

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop pulling, wait (bounded) for in-flight messages, commit, unregister."""
        self._running = self.rebalancer.running = False
        for t in self._tasks:
            t.cancel()
        pullers = list(self.rebalancer.pullers.values())
        for t in pullers:
            t.cancel()
        await asyncio.wait(self._tasks + pullers, timeout=grace)
        await self.commit_offsets()
        if self.orderly:
            await lock_batch(self, list(self.rebalancer.pullers), lock=False)
        await self.unregister(UnregisterClientRequestHeader(
            self.client_id, consumer_group=self.group), 2.0)
        await super().shutdown()

    async def _notified(self, conn: Connection, cmd: RemotingCommand) -> None:
        self.rebalancer.wake()
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
            if mq in self.rebalancer.pullers:  # abandon a held pull: restart at the new offset
                self.rebalancer.start(mq)
            else:
                self._resets[mq] = off
        log.info("offsets reset by broker: %s", {str(k): v for k, v in resets.items()})
        return None

    async def heartbeat(self) -> None:
        """HEART_BEAT with this group's subscriptions to every known broker."""
        data = ConsumerData(self.group, "CONSUME_PASSIVELY", self.model.value,
                            self.consume_from.value, list(self.subscriptions.values()))
        await self.send_heartbeat(HeartbeatData(self.client_id, [], [data]).to_json())

    async def rebalance(self) -> None:
        """Work out the queues this client owns now and pull exactly those."""
        await self.rebalancer.rebalance()

    # -- pulling and consuming --------------------------------------------------------------
    async def _initial_offset(self, mq: MessageQueue) -> int:
        off = await self.offset_store.read_stored(mq)
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
                elif code in PULL_RESULT_CODES:
                    self.offsets[mq] = nxt
                else:
                    await asyncio.sleep(1.0)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.debug("pull %s failed: %s", mq, e)
                await asyncio.sleep(1.0)

    async def invoke_listener(self, msg: MessageExt) -> ConsumeStatus | None:
        """Run the listener on one message (a sync one in the executor); its exception
        propagates; None when it returned nothing."""
        assert self.listener is not None
        if inspect.iscoroutinefunction(self.listener):
            status = await self.listener(msg)  # type: ignore[misc]
        else:
            status = await asyncio.get_running_loop().run_in_executor(None, self.listener, msg)
        return None if status is None else ConsumeStatus(status)

    async def _call_listener(self, msg: MessageExt) -> ConsumeStatus:
        try:
            status = await self.invoke_listener(msg)
        except Exception:
            log.exception("listener failed on %s", msg.msg_id)
            return ConsumeStatus.RECONSUME_LATER
        return ConsumeStatus.CONSUME_SUCCESS if status is None else status

    async def _consume(self, mq: MessageQueue, msgs: list[MessageExt]) -> None:
        if self.orderly:
            await consume_orderly(mq, msgs, self.offsets,
                                  lambda m: self._call_listener(restore_retry_topic(m)),
                                  self._send_back, self.max_reconsume_times)
            return

        async def one(m: MessageExt) -> None:
            async with self._sem:
                status = await self._call_listener(restore_retry_topic(m))
            if status is ConsumeStatus.RECONSUME_LATER and \
                    self.model is MessageModel.CLUSTERING:
                await self._send_back(mq, m)

        await asyncio.gather(*(one(m) for m in msgs))

    async def _send_back(self, mq: MessageQueue, m: MessageExt) -> None:
        """CONSUMER_SEND_MSG_BACK to the storing broker (retry topic / DLQ); after three
        failed tries the message is consumed again here."""
        cmd = request(RequestCode.CONSUMER_SEND_MSG_BACK, ConsumerSendMsgBackRequestHeader(
            m.phys_offset, self.group, 0, origin_msg_id=m.msg_id, origin_topic=m.topic,
            max_reconsume_times=self.max_reconsume_times).to_ext())
        for _ in range(3):
            try:
                r = await self.remoting.invoke(f"{m.store_host[0]}:{m.store_host[1]}", cmd, 5)
                if r.code == ResponseCode.SUCCESS:
                    return
            except RemotingError:
                pass
            await asyncio.sleep(0.5)
        log.warning("could not send %s back for retry; consuming it again locally", m.msg_id)
        await self._call_listener(restore_retry_topic(m))

    # -- offsets ------------------------------------------------------------------------------
    async def _commit_loop(self) -> None:
        while self._running:
            await asyncio.sleep(5)
            await self.commit_offsets()

    async def commit_offsets(self) -> None:
        """Persist every queue's offset that changed (broker or local file)."""
        await self.offset_store.persist_all()
