"""Adaptive busy polling of an event loop (opt-in: ``busyPollMicros`` on the Broker,
``busy_poll_us`` on a client).

After a frame arrives or a request leaves, the loop keeps polling its sockets without blocking
for a short window instead of sleeping in ``epoll_wait``, so the next frame of a
request/response exchange is read by a thread that never slept. On a VM whose idle vCPUs halt
at once (the ``haltpoll`` idle driver with ``guest_halt_poll_ns`` 0, as on this project's
benchmark host), putting a thread to sleep and waking it costs tens of µs of CPU on each side
of every round trip: one send in flight between two processes ran at ~7,100 msgs/s with
~64 µs (client) and ~72 µs (broker) of CPU per send, and at ~22,500 msgs/s with ~42 and ~46 µs
when both kept polling (``bench/RESULTS.md``, "Busy polling"). Linux's ``SO_BUSY_POLL`` does
this in the kernel, for NIC queues only, not for loopback.

The window adapts as the kernel's haltpoll governor does: it grows (doubling, from a quarter of
the maximum) while activities come within the maximum of each other, and drops to nothing when
one does not, so a connection with sparse traffic does not spin. Each polling step gives the
CPU to any other runnable thread (``sched_yield``), so a spinning loop does not hold off the
process that has work; the cost is bounded by the window per activity.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

_yield = getattr(os, "sched_yield", None)


class BusyPoll:
    """The polling window of one event loop's connections; ``kick`` on every activity."""

    def __init__(self, max_us: float, clock: Callable[[], float] = time.perf_counter) -> None:
        if max_us < 0:
            raise ValueError(f"busy poll window must be >= 0 us, not {max_us}")
        self.max = max_us / 1e6
        self.start = self.max / 4
        #: the current window (s): 0 while activities come further apart than ``max``
        self.window = 0.0
        self._last = 0.0
        self._deadline = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock = clock
        self.spins = 0  # polling steps taken

    @property
    def polling(self) -> bool:
        """Whether the loop is being kept polling now."""
        return self._loop is not None

    def kick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Something happened on ``loop`` (a frame read, a request sent): adapt the window to
        the gap since the last activity and keep polling for the window from now."""
        now = self._clock()
        gap, self._last = now - self._last, now
        if gap <= self.max:
            self.window = min(self.max, max(self.start, self.window * 2))
        else:
            self.window = 0.0
        if not self.window:
            return
        self._deadline = now + self.window
        if self._loop is None:  # not polling now: start
            self._loop = loop
            loop.call_soon(self._step)

    def _step(self) -> None:
        # a ready callback makes the loop poll its sockets with a zero timeout before it runs
        # again: this is the polling, one non-blocking epoll per step
        loop = self._loop
        assert loop is not None  # set by kick before it schedules the first step
        if self._clock() >= self._deadline or loop.is_closed():
            self._loop = None
            return
        self.spins += 1
        if _yield is not None:
            _yield()
        loop.call_soon(self._step)


def optional(max_us: float) -> BusyPoll | None:
    """A BusyPoll of ``max_us`` µs, or None (no polling, nothing to call) when it is 0."""
    return BusyPoll(max_us) if max_us else None
