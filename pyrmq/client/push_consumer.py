"""PushConsumer (Java DefaultMQPushConsumer): long-polling pulls per owned queue, rebalance,
offsets, retry, asyncio-native.

    consumer = PushConsumer("CG", "127.0.0.1:9876")
    consumer.subscribe("Topic", "TagA || TagB")
    consumer.listener = handle          # async or sync callable(MessageExt) -> ConsumeStatus
    await consumer.start()

The listener:

- ``consume_batch_max_size=None`` (default): it takes one MessageExt. ``consume_batch_max_size=n``
  (Java's consumeMessageBatchMaxSize): it takes a list of up to ``n`` messages of one queue and
  returns one status for all of them; RECONSUME_LATER (or an exception) sends the whole list
  back for retry, as Java does.
- ``async def`` listeners are awaited on the loop, at most ``concurrency`` at a time.
- A plain function runs in the default executor (it may block), unless
  ``nonblocking_listener=True`` says it never blocks: then it is called right on the loop, one
  call per batch, with no task, thread or semaphore per message -- the fast path.

Each queue keeps a process queue (pyrmq.client.process_queue): the next pull goes out while the
listener consumes, pulling pauses (flow control, logged) while more than
``pull_threshold_for_queue`` messages or ``pull_threshold_size_for_queue`` MiB of bodies wait,
and the offset committed is the smallest one not consumed yet -- never past a message that was
not consumed. Orderly consumers consume a queue's messages one batch at a time, in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pyrmq.client.admin_answers import AdminAnswers
from pyrmq.client.base import PULL_RESULT_CODES, ConsumerBase
from pyrmq.client.message import ConsumeFrom, ConsumeStatus, MessageModel, MessageQueue
from pyrmq.client.offsets import LocalFileOffsetStore, OffsetStore, RemoteBrokerOffsetStore
from pyrmq.client.orderly import consume_orderly, lock_batch
from pyrmq.client.process_queue import (
    PULL_THRESHOLD_FOR_QUEUE,
    PULL_THRESHOLD_SIZE_FOR_QUEUE,
    ProcessQueue,
)
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

Listener = Callable[[Any], "ConsumeStatus | None | Awaitable[ConsumeStatus | None]"]
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
                 orderly: bool = False, allocate: Allocate = allocate_averagely,
                 consume_batch_max_size: int | None = None, nonblocking_listener: bool = False,
                 pull_batch_size: int = 32,
                 pull_threshold_for_queue: int = PULL_THRESHOLD_FOR_QUEUE,
                 pull_threshold_size_for_queue: int = PULL_THRESHOLD_SIZE_FOR_QUEUE,
                 busy_poll_us: float = 0) -> None:
        if consume_batch_max_size is not None and not 1 <= consume_batch_max_size <= 1024:
            raise ValueError("consume_batch_max_size must be between 1 and 1024")
        self.admin = AdminAnswers(self)  # 307 / 309 relayed by a broker from an admin tool
        super().__init__(group, namesrv, instance, {
            RequestCode.NOTIFY_CONSUMER_IDS_CHANGED: self._notified,
            RequestCode.RESET_CONSUMER_CLIENT_OFFSET: self._reset, **self.admin.handlers()},
            busy_poll_us=busy_poll_us)
        self.concurrency = concurrency
        self.orderly = orderly
        self.model = model
        self.consume_from = consume_from
        self.consume_timestamp_ms = consume_timestamp_ms
        self.max_reconsume_times = max_reconsume_times
        self.consume_batch_max_size = consume_batch_max_size
        self.nonblocking_listener = nonblocking_listener
        self.pull_batch_size = pull_batch_size
        self.pull_threshold_for_queue = pull_threshold_for_queue
        self.pull_threshold_size_for_queue = pull_threshold_size_for_queue
        self._threshold_bytes = pull_threshold_size_for_queue << 20
        self.flow_controls = 0  # times pulling paused for a full process queue
        self.process_queues: dict[MessageQueue, ProcessQueue] = {}
        self._inflight: set[asyncio.Task[None]] = set()  # listener batches not finished
        self._inline = False  # the listener is called on the loop (set at start)
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
        self._inline = self.nonblocking_listener and \
            not inspect.iscoroutinefunction(self.listener)
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
        waits = self._tasks + pullers + list(self._inflight)
        if waits:
            await asyncio.wait(waits, timeout=grace)
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
            self.seek_offset(mq, off)
        log.info("offsets reset by broker: %s", {str(k): v for k, v in resets.items()})
        return None

    def seek_offset(self, mq: MessageQueue, offset: int) -> None:
        """Continue ``mq`` from ``offset``: a running puller is restarted there (its process
        queue dropped, so nothing pulled before commits over the new offset)."""
        self.offsets[mq] = offset
        pq = self.process_queues.get(mq)
        if pq is not None:
            pq.dropped = True
        if mq in self.rebalancer.pullers and self._running:
            self.rebalancer.start(mq)  # abandon a held pull: restart at the new offset
        else:
            self._resets[mq] = offset

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
        """Pull ``mq`` for as long as it is ours: the next pull goes out while the listener
        consumes the last batch (until the process queue is over its thresholds)."""
        sub = self.subscriptions[mq.topic]
        old = self.process_queues.get(mq)
        if old is not None:  # a restarted puller (offset reset): the old one commits no more
            old.dropped = True
        pq = self.process_queues[mq] = ProcessQueue()
        self._resets.pop(mq, None)  # this puller starts at offsets[mq], which has the reset
        ahead: asyncio.Task[tuple[int, int, list[MessageExt]]] | None = None
        next_off: int | None = None
        try:
            while self._running:
                try:
                    if next_off is None:
                        if mq not in self.offsets:
                            self.offsets[mq] = await self._initial_offset(mq)
                        next_off = pq.next_offset = self.offsets[mq]
                    if ahead is None:
                        await self._flow_control(mq, pq)
                        ahead = self._pull(mq, sub, next_off)
                    code, nxt, msgs = await ahead
                    ahead = None
                    if mq in self._resets:  # a reset arrived while this pull was out
                        next_off = self.offsets[mq] = self._resets.pop(mq)
                        pq.dropped = True
                        pq = self.process_queues[mq] = ProcessQueue(next_off)
                        continue
                    if code not in PULL_RESULT_CODES:
                        await asyncio.sleep(1.0)
                        continue
                    next_off = nxt
                    if code == ResponseCode.SUCCESS and msgs:
                        pq.put(msgs, nxt)
                        if not pq.over(self.pull_threshold_for_queue, self._threshold_bytes):
                            ahead = self._pull(mq, sub, nxt)  # pull ahead while consuming
                        await self._dispatch(mq, pq, msgs)
                    else:
                        self._commit(mq, pq, pq.advance(nxt))
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.debug("pull %s failed: %s", mq, e)
                    ahead = None
                    await asyncio.sleep(1.0)
        finally:
            if ahead is not None:
                ahead.cancel()
            if self._running:  # rebalanced away or restarted: late consumers commit nothing
                pq.dropped = True
            if self.process_queues.get(mq) is pq:
                del self.process_queues[mq]

    def _pull(self, mq: MessageQueue, sub: SubscriptionData, offset: int
              ) -> asyncio.Task[tuple[int, int, list[MessageExt]]]:
        """Send one long-polling pull from ``offset`` (committing the consumed offset)."""
        commit = self.offsets.get(mq, 0) if self.model is MessageModel.CLUSTERING else 0
        return asyncio.get_running_loop().create_task(self.pull_once(
            mq, sub, offset, self.pull_batch_size, suspend_ms=15000, timeout=30,
            commit_offset=commit))

    async def _flow_control(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        """Pause pulling while ``mq``'s process queue holds more than the thresholds (Java
        logs the first and every 1000th time)."""
        while self._running and not pq.dropped and \
                pq.over(self.pull_threshold_for_queue, self._threshold_bytes):
            if self.flow_controls % 1000 == 0:
                log.warning("the cached messages of %s (%d, %d MiB) exceed the threshold "
                            "(%d, %d MiB): flow control, pulling paused (%d times so far)",
                            mq, len(pq), pq.bytes >> 20, self.pull_threshold_for_queue,
                            self.pull_threshold_size_for_queue, self.flow_controls + 1)
            self.flow_controls += 1
            await pq.wait_room(self.pull_threshold_for_queue, self._threshold_bytes, 1.0)

    def _commit(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        if not pq.dropped and offset >= 0:
            self.offsets[mq] = offset

    def _done(self, mq: MessageQueue, pq: ProcessQueue, batch: list[MessageExt]) -> None:
        """``batch`` consumed (or safely sent back): the smallest pending offset is committed."""
        self._commit(mq, pq, pq.remove(batch))

    def _batches(self, msgs: list[MessageExt]) -> list[list[MessageExt]]:
        n = self.consume_batch_max_size or 1
        return [msgs[i:i + n] for i in range(0, len(msgs), n)]

    def _arg(self, batch: list[MessageExt]) -> MessageExt | list[MessageExt]:
        """What the listener takes: the list for a batch listener, else the one message."""
        batch = [restore_retry_topic(m) for m in batch]
        return batch if self.consume_batch_max_size else batch[0]

    async def _dispatch(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]
                        ) -> None:
        """Hand a pulled batch to the listener: orderly in place (awaited); a non-blocking sync
        listener right here on the loop; otherwise one task per listener batch, at most
        ``concurrency`` running."""
        if self.orderly:
            await consume_orderly(mq, msgs, lambda b: self._done(mq, pq, b),
                                  lambda b: self._call_listener(self._arg(b)),
                                  self._send_back, self.max_reconsume_times,
                                  self.consume_batch_max_size or 1)
            return
        loop = asyncio.get_running_loop()
        for batch in self._batches(msgs):
            if self._inline:
                status = self._call_inline(batch)
                if status is not ConsumeStatus.CONSUME_SUCCESS and \
                        self.model is MessageModel.CLUSTERING:
                    self._spawn(loop, self._send_back_batch(mq, pq, batch))
                else:
                    self._done(mq, pq, batch)
            else:
                self._spawn(loop, self._consume_batch(mq, pq, batch))

    def _spawn(self, loop: asyncio.AbstractEventLoop,
               coro: Coroutine[Any, Any, None]) -> None:
        t = loop.create_task(coro)
        self._inflight.add(t)
        t.add_done_callback(self._inflight.discard)

    def _call_inline(self, batch: list[MessageExt]) -> ConsumeStatus:
        """A non-blocking sync listener, called on the loop; an exception = RECONSUME_LATER."""
        assert self.listener is not None
        try:
            status = self.listener(self._arg(batch))
        except Exception:
            log.exception("listener failed on %s (%d message(s))", batch[0].msg_id,
                          len(batch))
            return ConsumeStatus.RECONSUME_LATER
        if status is None or status is ConsumeStatus.CONSUME_SUCCESS:
            return ConsumeStatus.CONSUME_SUCCESS
        return ConsumeStatus(status)  # type: ignore[arg-type]

    async def _consume_batch(self, mq: MessageQueue, pq: ProcessQueue,
                             batch: list[MessageExt]) -> None:
        async with self._sem:
            status = await self._call_listener(self._arg(batch))
        if status is ConsumeStatus.RECONSUME_LATER and self.model is MessageModel.CLUSTERING:
            await self._send_back_batch(mq, pq, batch)
        else:
            self._done(mq, pq, batch)

    async def _send_back_batch(self, mq: MessageQueue, pq: ProcessQueue,
                               batch: list[MessageExt]) -> None:
        """RECONSUME_LATER: the whole batch goes back for retry (as Java), then counts as
        consumed here."""
        for m in batch:
            await self._send_back(mq, m)
        self._done(mq, pq, batch)

    async def invoke_listener(self, msg: MessageExt) -> ConsumeStatus | None:
        """Run the listener on one message (a one-item list for a batch listener; a blocking
        sync listener in the executor); its exception propagates; None when it returned
        nothing."""
        return await self._invoke(self._arg([msg]))

    async def _invoke(self, arg: MessageExt | list[MessageExt]) -> ConsumeStatus | None:
        assert self.listener is not None
        if inspect.iscoroutinefunction(self.listener):
            status = await self.listener(arg)  # type: ignore[misc]
        elif self.nonblocking_listener:
            status = self.listener(arg)
        else:
            status = await asyncio.get_running_loop().run_in_executor(None, self.listener, arg)
        return None if status is None else ConsumeStatus(status)

    async def _call_listener(self, arg: MessageExt | list[MessageExt]) -> ConsumeStatus:
        try:
            status = await self._invoke(arg)
        except Exception:
            first = arg[0] if isinstance(arg, list) else arg
            log.exception("listener failed on %s", first.msg_id)
            return ConsumeStatus.RECONSUME_LATER
        return ConsumeStatus.CONSUME_SUCCESS if status is None else status

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
        await self._call_listener(self._arg([m]))

    # -- offsets ------------------------------------------------------------------------------
    async def _commit_loop(self) -> None:
        while self._running:
            await asyncio.sleep(5)
            await self.commit_offsets()

    async def commit_offsets(self) -> None:
        """Persist every queue's offset that changed (broker or local file)."""
        await self.offset_store.persist_all()
