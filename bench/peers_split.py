"""The batching both sides of bench/peers.py share (P2 and the untimed fills)."""

from __future__ import annotations

import asyncio
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
