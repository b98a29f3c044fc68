"""bench/peers.py's Redis Streams side: the five workloads driven with redis-py's asyncio
client (``redis.asyncio``), one stream per workload, the body in field ``b``. Same functions
and signatures as bench/peers_pyrmq.py; ``addr`` is the Redis port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from peers_split import in_batches, paced

WAIT_S = 300.0  # bound on any one wait
GROUP = b"peers"


def _client(port: str) -> aioredis.Redis:
    return aioredis.Redis(host="127.0.0.1", port=int(port), socket_timeout=WAIT_S)


async def p1(port: str, key: str, n: int, body: bytes, meter) -> None:
    """XADD, one in flight, each reply awaited."""
    r = _client(port)
    try:
        await r.xadd(key, {b"b": body})  # connection + stream creation, as pyrmq's warm-up
        meter.start()
        for _ in range(n):
            await r.xadd(key, {b"b": body})
        meter.stop(n)
    finally:
        await r.aclose()


async def _pipelines(r: aioredis.Redis, key: str, n: int, body: bytes, batch: int,
                     inflight: int) -> None:
    async def send(k: int) -> None:
        pipe = r.pipeline(transaction=False)
        for _ in range(k):
            pipe.xadd(key, {b"b": body})
        await pipe.execute()  # raises on an error reply
    await in_batches(n, batch, inflight, send)


async def p2(port: str, key: str, n: int, body: bytes, batch: int, inflight: int,
             meter) -> None:
    """Pipelines of ``batch`` XADDs, ``inflight`` pipelines outstanding (one connection
    each), every reply awaited."""
    r = _client(port)
    try:
        await r.xadd(key, {b"b": body})
        meter.start()
        await _pipelines(r, key, n, body, batch, inflight)
        meter.stop(n)
    finally:
        await r.aclose()


async def fill(port: str, key: str, n: int, body: bytes, batch: int, inflight: int) -> None:
    """Exactly ``n`` entries into a fresh stream (not measured)."""
    r = _client(port)
    try:
        await _pipelines(r, key, n, body, batch, inflight)
    finally:
        await r.aclose()


async def c1(port: str, key: str, n: int, pull_batch: int, meter) -> None:
    """A consumer group from the start: XREADGROUP COUNT ``pull_batch`` + XACK per batch."""
    r = _client(port)
    try:
        meter.start()
        await r.xgroup_create(key, GROUP, id="0")
        got = 0
        while got < n:
            reply = await r.xreadgroup(GROUP, b"c1", {key: ">"}, count=pull_batch)
            if not reply:
                break
            ids = [entry_id for entry_id, _fields in reply[0][1]]
            await r.xack(key, GROUP, *ids)
            got += len(ids)
        meter.stop(got)
        if got != n:
            raise RuntimeError(f"read {got} of {n} entries")
    finally:
        await r.aclose()


async def c1c(port: str, key: str, n: int, pull_batch: int, meter) -> None:
    """XREAD COUNT ``pull_batch`` from the start, the last id kept client-side, no group."""
    r = _client(port)
    try:
        meter.start()
        got, last = 0, b"0-0"
        while got < n:
            reply = await r.xread({key: last}, count=pull_batch)
            if not reply:
                break
            entries = reply[0][1]
            last = entries[-1][0]
            got += len(entries)
        meter.stop(got)
        if got != n:
            raise RuntimeError(f"read {got} of {n} entries")
    finally:
        await r.aclose()


async def l1_consume(port: str, key: str, pull_batch: int,
                     produce: Callable[[], Awaitable[int]], lat_ns: list[int], meter) -> None:
    """A consumer group on a fresh stream, XREADGROUP BLOCK + XACK (the usual ack, as
    pyrmq's PushConsumer); ``produce()`` starts the meter and runs the producer process once
    the group reads; the meter stops at the last entry."""
    r = _client(port)
    stop = False
    want = 1 << 62

    async def read() -> None:
        while not stop and len(lat_ns) < want:
            reply = await r.xreadgroup(GROUP, b"l1", {key: ">"}, count=pull_batch, block=100)
            if not reply:
                continue
            ids = []
            for entry_id, fields in reply[0][1]:
                ids.append(entry_id)
                sent_ns = int(fields[b"b"][:19])
                if sent_ns:
                    lat_ns.append(time.time_ns() - sent_ns)
            await r.xack(key, GROUP, *ids)
    try:
        await r.xgroup_create(key, GROUP, id="$", mkstream=True)
        reader = asyncio.get_running_loop().create_task(read())
        try:
            want = await produce()
            await asyncio.wait_for(asyncio.shield(reader), 30)
            meter.stop(len(lat_ns))
        finally:
            stop = True
            await asyncio.wait_for(reader, 5)
    finally:
        await r.aclose()


async def l1_produce(port: str, key: str, rate: float, seconds: float, body: bytes) -> int:
    """XADD ``rate`` a second for ``seconds``, one in flight, the send time (time_ns, 19
    digits) in each body's first bytes; returns how many were sent."""
    r = _client(port)
    try:
        await r.xadd(key, {b"b": b"0" * 19})  # warm-up, not timed (the consumer skips it)
        return await paced(rate, seconds, lambda: r.xadd(
            key, {b"b": b"%019d" % time.time_ns() + body[19:]}))
    finally:
        await r.aclose()
