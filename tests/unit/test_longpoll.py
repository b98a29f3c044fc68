"""PullHold: a suspended pull is woken by a put to its queue (True), runs out its time
(False) or is cancelled; whichever way it ends, nothing of it stays listed."""

from __future__ import annotations

import asyncio

import pytest

from pyrmq.broker.longpoll import PullHold


def test_woken_timed_out_and_cancelled_waits_leave_nothing_behind():
    async def main():
        h = PullHold()
        a = asyncio.ensure_future(h.wait("T", 0, 5.0))
        b = asyncio.ensure_future(h.wait("T", 0, 5.0))
        other = asyncio.ensure_future(h.wait("T", 1, 0.02))
        await asyncio.sleep(0)
        assert len(h) == 3
        h.notify("T", 0)
        assert await a is True and await b is True
        assert await other is False  # its own queue saw nothing: the timer answered
        assert len(h) == 0 and not h._waiters
        c = asyncio.ensure_future(h.wait("T", 2, 5.0))
        await asyncio.sleep(0)
        c.cancel()
        with pytest.raises(asyncio.CancelledError):
            await c
        assert len(h) == 0 and not h._waiters
        h.notify("T", 2)  # nobody left to wake: a no-op
        d = asyncio.ensure_future(h.wait("T", 3, 5.0))
        await asyncio.sleep(0)
        h.wake_all()
        assert await d is True and not h._waiters
    asyncio.run(main())


def test_a_full_hold_says_so_and_counts_what_it_holds():
    async def main():
        h = PullHold(max_held=2)
        a = asyncio.ensure_future(h.wait("T", 0, 5.0))
        await asyncio.sleep(0)
        assert len(h) == 1 and not h.full
        b = asyncio.ensure_future(h.wait("T", 1, 5.0))
        await asyncio.sleep(0)
        assert len(h) == 2 and h.full
        h.notify("T", 0)
        assert await a is True
        assert len(h) == 1 and not h.full
        b.cancel()
        with pytest.raises(asyncio.CancelledError):
            await b
        assert len(h) == 0
    asyncio.run(main())


def test_a_parked_callback_is_called_once_from_the_loop_and_cancel_takes_it_back():
    async def main():
        h = PullHold()
        calls: list[tuple[str, bool]] = []
        h.park("T", 0, 5.0, lambda ok: calls.append(("a", ok)))
        b = h.park("T", 0, 5.0, lambda ok: calls.append(("b", ok)))
        h.park("T", 1, 0.02, lambda ok: calls.append(("c", ok)))
        h.cancel(b)
        assert len(h) == 2
        assert h.notify("T", 0) and calls == []  # scheduled, not called inside the put
        await asyncio.sleep(0)
        assert calls == [("a", True)] and len(h) == 1
        h.notify("T", 0)
        h.cancel(b)  # twice: a no-op
        await asyncio.sleep(0.1)
        assert calls == [("a", True), ("c", False)] and len(h) == 0 and not h._waiters
    asyncio.run(main())
