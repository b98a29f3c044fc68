"""PullRequestHoldService: suspended pulls wait here until a message arrives for their queue
(woken from the put path) or their suspend time runs out. Held pulls do not count against a
connection's requests in flight (``Connection.parked``); what bounds them is ``max_held``
for the whole broker (RocketMQ bounds its pull queue at 100,000 too): a pull that finds the
hold full is answered at once, as a short poll would be."""

from __future__ import annotations

import asyncio

#: RocketMQ's pullThreadPoolQueueCapacity
DEFAULT_MAX_HELD = 100_000


class PullHold:
    def __init__(self, max_held: int = DEFAULT_MAX_HELD) -> None:
        self.max_held = max_held
        self._waiters: dict[tuple[str, int], list[asyncio.Future[bool]]] = {}
        self._held = 0

    @property
    def full(self) -> bool:
        """Whether another pull may not be held now."""
        return self._held >= self.max_held

    async def wait(self, topic: str, queue_id: int, timeout: float) -> bool:
        """True when woken by a new message, False on timeout. The timeout is a timer handle
        on the loop that answers the future itself (no ``wait_for``: its extra future and
        callbacks cost every suspended pull several µs)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        key = (topic, queue_id)
        self._waiters.setdefault(key, []).append(fut)
        timer = loop.call_later(timeout, _answer, fut, False)
        self._held += 1
        try:
            return await fut
        finally:
            self._held -= 1
            timer.cancel()
            if fut.cancelled() or not fut.done() or not fut.result():  # still listed
                lst = self._waiters.get(key)
                if lst is not None:
                    if fut in lst:
                        lst.remove(fut)
                    if not lst:
                        del self._waiters[key]

    def notify(self, topic: str, queue_id: int) -> bool:
        """Wake the pulls held on the queue; True when there were any."""
        futs = self._waiters.pop((topic, queue_id), ())
        for fut in futs:
            _answer(fut, True)
        return bool(futs)

    def wake_all(self) -> None:
        for key in list(self._waiters):
            self.notify(*key)

    def __len__(self) -> int:
        return self._held


def _answer(fut: asyncio.Future[bool], woken: bool) -> None:
    if not fut.done():
        fut.set_result(woken)
