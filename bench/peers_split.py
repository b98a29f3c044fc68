"""The batching (P2 and the untimed fills) and the pacing (L1) both sides of bench/peers.py
share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def in_batches(n: int, batch: int, inflight: int,
                     send: Callable[[int], Awaitable[object]]) -> None:
    """Send ``n`` items as batches of at most ``batch``, ``inflight`` batches outstanding;
    ``send(k)`` sends one batch of ``k`` items, awaits its answer and raises on a failure."""
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            k = min(batch, left)
            left -= k
            await send(k)
    await asyncio.gather(*(worker() for _ in range(inflight)))


async def paced(rate: float, seconds: float, send: Callable[[], Awaitable[object]]) -> int:
    """Call ``send()`` ``rate`` times a second for ``seconds``, one in flight (the i-th call
    no earlier than i/rate s after the first); returns how many were sent."""
    total = int(rate * seconds)
    t0 = time.perf_counter()
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send()
    return total
