"""bench/peers.py's pyrmq side: the five workloads driven with pyrmq's own asyncio client
(Producer, PushConsumer, PullConsumer). bench/peers_redis.py has the same functions for
Redis Streams; ``meter.start()`` / ``meter.stop(count)`` bracket the measured part."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

from peers_split import in_batches, paced

from pyrmq.client import (
    ConsumeFrom,
    ConsumeStatus,
    Message,
    MessageQueue,
    Producer,
    PullConsumer,
    PushConsumer,
    SendStatus,
)
from pyrmq.protocol.codes import ResponseCode

WAIT_S = 300.0  # bound on any one wait for messages
#: busy_poll_us of every client made here (bench/peers.py --busy-poll); 0 = off, the default
BUSY_POLL_US = 0


def _group(kind: str) -> str:
    return f"{kind}_PEERS_{os.getpid()}_{time.monotonic_ns()}"


def _check(status: SendStatus) -> None:
    if status is not SendStatus.SEND_OK:
        raise RuntimeError(f"send answered {status.name}")


async def p1(addr: str, topic: str, n: int, body: bytes, meter) -> None:
    """One send in flight, each answer awaited."""
    async with Producer(_group("PG"), addr, busy_poll_us=BUSY_POLL_US) as p:
        _check((await p.send(Message(topic, body))).status)  # route + topic auto-creation
        meter.start()
        for _ in range(n):
            _check((await p.send(Message(topic, body))).status)
        meter.stop(n)


async def _send_batches(p: Producer, topic: str, n: int, body: bytes, batch: int,
                        inflight: int) -> None:
    async def send(k: int) -> None:
        _check((await p.send_batch([Message(topic, body) for _ in range(k)])).status)
    await in_batches(n, batch, inflight, send)


async def p2(addr: str, topic: str, n: int, body: bytes, batch: int, inflight: int,
             meter) -> None:
    """send_batch of ``batch`` messages, ``inflight`` batches outstanding, every answer
    awaited."""
    async with Producer(_group("PG"), addr, busy_poll_us=BUSY_POLL_US) as p:
        _check((await p.send(Message(topic, body))).status)
        meter.start()
        await _send_batches(p, topic, n, body, batch, inflight)
        meter.stop(n)


async def fill(addr: str, topic: str, n: int, body: bytes, batch: int, inflight: int) -> None:
    """Exactly ``n`` messages into a fresh topic (not measured): the consume workloads'
    source. Its first batch, alone, creates the topic."""
    async with Producer(_group("PG"), addr, busy_poll_us=BUSY_POLL_US) as p:
        first = min(batch, n)
        await _send_batches(p, topic, first, body, first, 1)
        await _send_batches(p, topic, n - first, body, batch, inflight)


async def c1(addr: str, topic: str, n: int, pull_batch: int, meter) -> None:
    """PushConsumer (CLUSTERING, offsets committed to the broker) from the first offset until
    ``n`` messages reached the listener: pulls of ``pull_batch`` (the broker caps a pull at
    32), a non-blocking batch listener getting up to ``pull_batch`` messages per call (Java's
    consumeMessageBatchMaxSize; Redis's side acks each XREADGROUP batch the same way)."""
    got, done = 0, asyncio.Event()

    def on(msgs) -> ConsumeStatus:
        nonlocal got
        got += len(msgs)
        if got >= n:
            done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    c = PushConsumer(_group("CG"), addr, consume_from=ConsumeFrom.FIRST_OFFSET,
                     busy_poll_us=BUSY_POLL_US,
                     consume_batch_max_size=pull_batch, nonblocking_listener=True,
                     pull_batch_size=pull_batch)
    c.subscribe(topic, "*")
    c.listener = on
    meter.start()
    await c.start()
    try:
        await asyncio.wait_for(done.wait(), WAIT_S)
        meter.stop(got)
    finally:
        await c.shutdown()


async def c1c(addr: str, topic: str, n: int, pull_batch: int, meter) -> None:
    """PullConsumer, offsets kept client-side, one pull loop per queue (pulls of
    ``pull_batch``; the broker caps a pull at 32)."""
    async with PullConsumer(_group("CG"), addr, busy_poll_us=BUSY_POLL_US) as c:
        got = 0

        async def drain(mq: MessageQueue) -> None:
            nonlocal got
            offset = 0
            while got < n:
                code, nxt, msgs = await asyncio.wait_for(
                    c.pull(mq, "*", offset, pull_batch), WAIT_S)
                if code != ResponseCode.SUCCESS or not msgs:
                    return  # this queue is drained (everything was written before)
                got += len(msgs)
                offset = nxt
        meter.start()
        queues = await c.fetch_queues(topic)
        await asyncio.gather(*(drain(mq) for mq in queues))
        meter.stop(got)
        if got != n:
            raise RuntimeError(f"pulled {got} of {n} messages")


async def l1_consume(addr: str, topic: str, pull_batch: int,
                     produce: Callable[[], Awaitable[int]], lat_ns: list[int], meter) -> None:
    """A PushConsumer on a fresh topic; once it delivers a warm-up message, ``produce()``
    starts the meter, runs the producer process and returns how many it sent; each timed
    body's latency (receive time - the time_ns in its first 19 bytes) goes to ``lat_ns``;
    the meter stops at the last one."""
    got_warm = asyncio.Event()
    enough = asyncio.Event()
    want = [1 << 62]

    def on(msg) -> ConsumeStatus:  # non-blocking: called on the loop, no task per message
        sent_ns = int(msg.body[:19])
        if sent_ns == 0:
            got_warm.set()
        else:
            lat_ns.append(time.time_ns() - sent_ns)
            if len(lat_ns) >= want[0]:
                enough.set()
        return ConsumeStatus.CONSUME_SUCCESS

    async with Producer(_group("PG"), addr, busy_poll_us=BUSY_POLL_US) as p:  # creates the topic
        _check((await p.send(Message(topic, b"0" * 19))).status)
    c = PushConsumer(_group("CG"), addr, consume_from=ConsumeFrom.FIRST_OFFSET,
                     busy_poll_us=BUSY_POLL_US,
                     nonblocking_listener=True, pull_batch_size=pull_batch)
    c.subscribe(topic, "*")
    c.listener = on
    await c.start()
    try:
        await asyncio.wait_for(got_warm.wait(), 60)
        want[0] = await produce()
        if len(lat_ns) >= want[0]:
            enough.set()
        await asyncio.wait_for(enough.wait(), 30)
        meter.stop(len(lat_ns))
    finally:
        await c.shutdown()


async def l1_produce(addr: str, topic: str, rate: float, seconds: float, body: bytes) -> int:
    """Send ``rate`` messages a second for ``seconds``, one in flight, the send time
    (time_ns, 19 digits) in each body's first bytes; returns how many were sent."""
    async with Producer(_group("PG"), addr, busy_poll_us=BUSY_POLL_US) as p:
        _check((await p.send(Message(topic, b"0" * 19))).status)  # warm-up, not timed

        async def one() -> None:
            _check((await p.send(Message(topic, b"%019d" % time.time_ns() + body[19:])))
                   .status)
        return await paced(rate, seconds, one)
