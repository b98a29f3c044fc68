"""Producer: asyncio-native RocketMQ producer (Java DefaultMQProducer semantics).

    producer = Producer("PG", "127.0.0.1:9876")
    await producer.start()
    result = await producer.send(Message("Topic", b"body", tags="TagA", keys=["k1"]))
    await producer.shutdown()
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from pyrmq.client.base import ClientBase
from pyrmq.client.message import (
    Message,
    MessageQueue,
    SendResult,
    SendStatus,
    new_uniq_key,
    new_uniq_keys,
)
from pyrmq.client.nameserver import RouteNotFound
from pyrmq.client.route import Route
from pyrmq.protocol.bodies import HeartbeatData
from pyrmq.protocol.codes import PermName, RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.headers import (
    SendMessageResponseHeader,
    UnregisterClientRequestHeader,
)
from pyrmq.protocol.message import compress_body, encode_batch_raw, encode_properties
from pyrmq.remoting import RemotingError

COMPRESS_OVER = 4096
ROUTE_POLL_S = 30.0      # a cached route is re-read this often ...
ROUTE_REQUERY_S = 0.2    # ... and at most this often after a failure / no writable queue
BACKOFF_FIRST_S = 0.1    # pause before retrying a broker that just failed, doubled per
BACKOFF_MAX_S = 0.5      # consecutive failure of the topic up to this; reset by a success
_STATUS = {ResponseCode.SUCCESS: SendStatus.SEND_OK,
           ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
           ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
           ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE}


class SendError(Exception):
    """A send failed after its retries; the message says why."""


class Producer(ClientBase):
    """Sends messages to the brokers of a topic's route, round-robin over its queues, avoiding
    a broker that failed in the last 30 s, retrying a failed send on another queue."""

    def __init__(self, group: str, namesrv: str | list[str], *, send_timeout: float = 3.0,
                 retry_times: int = 2, compress_over: int = COMPRESS_OVER,
                 compression: str = "zlib", instance: str = "DEFAULT",
                 busy_poll_us: float = 0) -> None:
        if compression not in ("zlib", "lz4"):
            raise ValueError(f"compression must be zlib or lz4, not {compression!r}")
        super().__init__(group, namesrv, instance, busy_poll_us=busy_poll_us)
        self.compression = compression
        self.send_timeout = send_timeout
        self.retry_times = retry_times
        self.compress_over = compress_over
        self._route_time: dict[str, float] = {}
        self._rr: dict[str, int] = {}
        self._unavailable: dict[str, float] = {}   # broker name -> until (monotonic)
        self._failures: dict[str, int] = {}        # topic -> consecutive failed attempts
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._heartbeat_loop()))

    async def shutdown(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.unregister(UnregisterClientRequestHeader(
            self.client_id, producer_group=self.group), 1.0)
        await super().shutdown()

    # -- routes -----------------------------------------------------------------------------
    async def route(self, topic: str, refresh: bool = False) -> Route:
        """The topic's route, cached for 30 s (``refresh``: re-read now, at most every
        ROUTE_REQUERY_S); an unknown topic gets the default topic's (TBW102) brokers with up
        to 4 queues, and the broker creates it on first send."""
        now = time.monotonic()
        r = self.routes.get(topic)
        age = now - self._route_time.get(topic, 0)
        if r is None or age > ROUTE_POLL_S or (refresh and age >= ROUTE_REQUERY_S):
            try:
                r = await self.namesrv.get_route(topic)
            except RouteNotFound:
                # unknown topic: the default topic's route; the broker auto-creates it
                base = (await self.namesrv.get_route("TBW102")).data
                qds = [dataclasses.replace(qd, read_queue_nums=min(4, qd.read_queue_nums),
                                           write_queue_nums=min(4, qd.write_queue_nums),
                                           perm=PermName.READ | PermName.WRITE)
                       for qd in base.queue_datas]
                r = Route(topic, dataclasses.replace(base, queue_datas=qds))
            self.routes[topic] = r
            self._route_time[topic] = now
        return r

    def _pick(self, queues: list[MessageQueue], avoid: str | None) -> MessageQueue:
        now = time.monotonic()
        n = self._rr.get(queues[0].topic, 0)
        for i in range(len(queues)):
            q = queues[(n + i) % len(queues)]
            if q.broker_name != avoid and self._unavailable.get(q.broker_name, 0) <= now:
                self._rr[q.topic] = n + i + 1
                return q
        self._rr[queues[0].topic] = n + 1
        return queues[n % len(queues)]

    # -- sending ----------------------------------------------------------------------------
    def _header(self, msg: Message, mq: MessageQueue, props: bytes, sysflag: int,
                batch: bool) -> dict[str, str]:
        """SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE extFields (V2 letter names): what
        ``SendMessageRequestHeader(group, topic, "TBW102", 4, queue, sysflag, now, flag,
        props, 0, False, batch).to_ext_v2()`` gives (a test holds them equal), without the
        header object on every send."""
        return {"a": self.group, "b": msg.topic, "c": "TBW102", "d": "4",
                "e": str(mq.queue_id), "f": str(sysflag), "g": str(int(time.time() * 1000)),
                "h": str(msg.flag), "i": props.decode(), "j": "0", "k": "false",
                "m": "true" if batch else "false"}

    def _encode(self, msg: Message) -> tuple[bytes, int, str, bytes]:
        uniq = new_uniq_key()
        props = msg.wire_properties_raw(uniq)
        body, sysflag = msg.body, 0
        if len(body) >= self.compress_over:
            # zlib (what every RocketMQ client decodes) or lz4 (type recorded in sysflag)
            body, sysflag = compress_body(body, self.compression)
        return body, sysflag, uniq, props

    async def _send_to(self, mq: MessageQueue, cmd: RemotingCommand, route: Route,
                       timeout: float) -> RemotingCommand:
        addr = route.master(mq.broker_name)
        if addr is None:
            raise RemotingError(f"no master address for broker {mq.broker_name}")
        return await self.remoting.invoke(addr, cmd, timeout)

    def _result(self, r: RemotingCommand, mq: MessageQueue, uniq: str) -> SendResult:
        status = _STATUS.get(r.code)
        if status is None:
            raise SendError(f"broker {mq.broker_name} refused the send: code {r.code} "
                            f"{r.remark}")
        try:
            h = SendMessageResponseHeader.from_ext(r.ext_fields)
        except RemoteProtocolError as e:
            raise SendError(f"broker {mq.broker_name} sent a bad send response: {e}") from None
        queue = mq if h.queue_id == mq.queue_id else MessageQueue(mq.topic, mq.broker_name,
                                                                   h.queue_id)
        return SendResult(status, uniq, h.msg_id, queue, h.queue_offset)

    async def _backoff(self, topic: str, queues: list[MessageQueue], failed: str | None
                       ) -> None:
        """After a failed attempt: no pause when another broker can take the retry (Java
        retries at once), else BACKOFF_FIRST_S doubling per consecutive failure of the topic
        up to BACKOFF_MAX_S -- a producer whose only master is away does not spin."""
        n = self._failures[topic] = self._failures.get(topic, 0) + 1
        now = time.monotonic()
        if any(q.broker_name != failed and self._unavailable.get(q.broker_name, 0) <= now
               for q in queues):
            return
        await asyncio.sleep(min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** min(n - 1, 10)))

    async def _send(self, msg: Message, code: int, body: bytes, sysflag: int, props: bytes,
                    uniq: str, queue: MessageQueue | None, batch: bool) -> SendResult:
        route = self.routes.get(msg.topic)
        if route is None or time.monotonic() - self._route_time.get(msg.topic, 0) > ROUTE_POLL_S:
            route = await self.route(msg.topic)  # (a fresh cached one: no coroutine)
        queues = route.publish_queues()
        if not queues:  # Java's tryToFindTopicPublishInfo: ask the NameServer at once
            route = await self.route(msg.topic, refresh=True)
            queues = route.publish_queues()
        errors: list[str] = []
        avoid = None
        for attempt in range(1 + (0 if queue else self.retry_times)):
            if not queues:
                errors.append("no writable queue (no master in the route)")
                if attempt < self.retry_times:
                    await self._backoff(msg.topic, queues, None)
                    route = await self.route(msg.topic, refresh=True)
                    queues = route.publish_queues()
                continue
            mq = queue or self._pick(queues, avoid)
            # the V2 header is text already: no second stringify pass through request()
            cmd = RemotingCommand(code, ext_fields=self._header(msg, mq, props, sysflag, batch),
                                  body=body)
            t0 = time.monotonic()
            try:
                r = await self._send_to(mq, cmd, route, self.send_timeout)
                if r.code == ResponseCode.SYSTEM_BUSY:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    raise SendError(f"broker {mq.broker_name} busy: {r.remark}")
                result = self._result(r, mq, uniq)
                if time.monotonic() - t0 > 0.55:  # slow broker: prefer others for a while
                    self._unavailable[mq.broker_name] = time.monotonic() + 30
                self._failures.pop(msg.topic, None)
                return result
            except (RemotingError, SendError) as e:
                errors.append(f"{mq.broker_name}/{mq.queue_id}: {e}")
                self._unavailable[mq.broker_name] = time.monotonic() + 30
                avoid = mq.broker_name
                if attempt < (0 if queue else self.retry_times):
                    await self._backoff(msg.topic, queues, mq.broker_name)
                # a failed send re-reads the route (rate-limited): a master that is gone,
                # or back, shows there long before the next 30 s poll
                route = await self.route(msg.topic, refresh=True)
                queues = route.publish_queues()
        raise SendError(f"send to {msg.topic} failed: " + "; ".join(errors))

    async def send(self, msg: Message, queue: MessageQueue | None = None) -> SendResult:
        """Send and wait for the broker's answer (retried on another broker on failure)."""
        body, sysflag, uniq, props = self._encode(msg)
        return await self._send(msg, RequestCode.SEND_MESSAGE_V2, body, sysflag, props, uniq,
                                queue, False)

    async def send_oneway(self, msg: Message) -> None:
        """Send without waiting for the result (no retry)."""
        body, sysflag, uniq, props = self._encode(msg)
        route = await self.route(msg.topic)
        mq = self._pick(route.publish_queues(), None)
        addr = route.master(mq.broker_name)
        if addr is None:
            raise SendError(f"no master address for broker {mq.broker_name}")
        await self.remoting.invoke_oneway(addr, request(
            RequestCode.SEND_MESSAGE_V2, self._header(msg, mq, props, sysflag, False), body))

    def send_async(self, msg: Message,
                   callback: Callable[[SendResult | None, Exception | None], None] | None = None
                   ) -> asyncio.Future[SendResult]:
        """Start a send; returns a future (and calls callback(result, error) when done)."""
        fut = asyncio.ensure_future(self.send(msg))
        if callback is not None:
            def done(f: asyncio.Future[SendResult]) -> None:
                err = f.exception()
                callback(None if err else f.result(), err)  # type: ignore[arg-type]
            fut.add_done_callback(done)
        return fut

    async def send_orderly(self, msg: Message, key: object,
                           selector: Callable[[list[MessageQueue], object], MessageQueue]
                           | None = None) -> SendResult:
        """Send to the queue chosen by ``selector(queues, key)`` (hash of key by default):
        messages with one key keep their order."""
        route = await self.route(msg.topic)
        queues = route.publish_queues()
        if not queues:
            raise SendError(f"no writable queue for topic {msg.topic}")
        mq = selector(queues, key) if selector else queues[hash(key) % len(queues)]
        return await self.send(msg, queue=mq)

    async def send_batch(self, msgs: list[Message]) -> SendResult:
        """One SEND_BATCH_MESSAGE request; all messages must share a topic."""
        if not msgs:
            raise ValueError("empty batch")
        topic = msgs[0].topic
        if any(m.topic != topic for m in msgs) or any(m.delay_level for m in msgs):
            raise ValueError("a batch needs one topic and no delay levels")
        uniqs = new_uniq_keys(len(msgs))
        body = encode_batch_raw([(m.body, m.wire_properties_raw(u), m.flag)
                                 for m, u in zip(msgs, uniqs, strict=True)])
        container = Message(topic, b"")
        props = encode_properties({"WAIT": "true"})
        res = await self._send(container, RequestCode.SEND_BATCH_MESSAGE, body, 0, props,
                               ",".join(uniqs), None, True)
        return res

    # -- heartbeat ---------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        while True:
            await self.heartbeat()
            await asyncio.sleep(30)

    async def heartbeat(self) -> None:
        await self.send_heartbeat(HeartbeatData(self.client_id, [self.group]).to_json())
