"""PullRequestHoldService: suspended pulls wait here until a message arrives for their queue
(woken from the put path) or their suspend time runs out. A held pull is a callback, not a
Task: ``park`` lists it with one timer, a put to its queue schedules it on the loop (after the
callbacks already due, so the answers of one read's sends leave first and a pull woken by
several of them takes them all). What bounds held pulls is ``max_held`` for the whole broker
(RocketMQ bounds its pull queue at 100,000 too): a pull that finds the hold full is answered at
once, as a short poll would be."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: RocketMQ's pullThreadPoolQueueCapacity
DEFAULT_MAX_HELD = 100_000

#: told True when a put to the queue woke it, False when its time ran out
Wake = Callable[[bool], None]


class Held:
    """One parked waiter (what ``park`` returns; ``cancel`` takes it back)."""

    __slots__ = ("key", "wake", "timer")

    def __init__(self, key: tuple[str, int], wake: Wake) -> None:
        self.key = key
        self.wake = wake
        self.timer: asyncio.TimerHandle | None = None


class PullHold:
    def __init__(self, max_held: int = DEFAULT_MAX_HELD) -> None:
        self.max_held = max_held
        self._waiters: dict[tuple[str, int], list[Held]] = {}
        self._held = 0

    @property
    def full(self) -> bool:
        """Whether another pull may not be held now."""
        return self._held >= self.max_held

    def park(self, topic: str, queue_id: int, timeout: float, wake: Wake) -> Held:
        """List ``wake`` for the queue: it is called once, with True from the loop soon after
        a put to the queue, or with False after ``timeout`` seconds. Runs on the loop."""
        key = (topic, queue_id)
        held = Held(key, wake)
        self._waiters.setdefault(key, []).append(held)
        held.timer = asyncio.get_running_loop().call_later(timeout, self._expire, held)
        self._held += 1
        return held

    def cancel(self, held: Held) -> None:
        """Unlist ``held`` without calling it (a no-op once it was woken or timed out)."""
        if self._unlist(held):
            held.timer.cancel()  # type: ignore[union-attr]

    def _unlist(self, held: Held) -> bool:
        lst = self._waiters.get(held.key)
        if lst is None or held not in lst:
            return False
        lst.remove(held)
        if not lst:
            del self._waiters[held.key]
        self._held -= 1
        return True

    def _expire(self, held: Held) -> None:
        if self._unlist(held):
            held.wake(False)

    async def wait(self, topic: str, queue_id: int, timeout: float) -> bool:
        """``park`` as a coroutine: True when woken by a new message, False on timeout;
        cancelled, it leaves nothing listed."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        held = self.park(topic, queue_id, timeout,
                         lambda woken: None if fut.done() else fut.set_result(woken))
        try:
            return await fut
        finally:
            self.cancel(held)

    def notify(self, topic: str, queue_id: int) -> bool:
        """Wake the pulls held on the queue; True when there were any."""
        helds = self._waiters.pop((topic, queue_id), None)
        if not helds:
            return False
        self._held -= len(helds)
        call_soon = asyncio.get_running_loop().call_soon
        for held in helds:
            held.timer.cancel()  # type: ignore[union-attr]
            call_soon(held.wake, True)
        return True

    def wake_all(self) -> None:
        for key in list(self._waiters):
            self.notify(*key)

    def __len__(self) -> int:
        return self._held
