"""Event-loop lag probe: a timer due every ``interval`` seconds records how late the loop ran
it. A late timer means something held the loop (blocking I/O, a long computation, a GC pass)
and every request on the broker waited that long; a lag above ``warn_after`` is one WARNING
line naming it, at most one per ``warn_every`` seconds (the worst lag seen since the last line
is the one named). Where /proc/thread-self/schedstat exists the line splits the stall into
time the loop thread ran on a CPU (work on the loop: a blocking computation, GC), waited for a
CPU (the machine is overloaded) and neither beyond the timer's own sleep (blocked in a system
call, on a lock, or waiting for the GIL that another thread holds).

    probe = LoopLagProbe()
    probe.start()          # in a running loop
    ...
    probe.max_lag, probe.stalls
    await probe.stop()
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger("pyrmq.broker.lag")


class LoopLagProbe:
    """Measures how late the running event loop fires a periodic timer."""

    def __init__(self, interval: float = 0.01, warn_after: float = 0.05,
                 warn_every: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log) -> None:
        self.interval = interval
        self.warn_after = warn_after
        self.warn_every = warn_every
        self.clock = clock
        self.log = logger
        #: the worst lag seen since start (seconds)
        self.max_lag = 0.0
        #: timers that fired more than ``warn_after`` late
        self.stalls = 0
        self._unreported = 0.0   # worst stall not logged yet (rate limit)
        self._unreported_n = 0
        self._unreported_where = ""
        self._last_warn = float("-inf")
        self._task: asyncio.Task[None] | None = None
        #: the longest garbage-collection pass seen while running (seconds), and its generation
        self.max_gc_pause = 0.0
        self.max_gc_gen = -1
        self._gc_t0 = 0.0

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        elif self._gc_t0:
            took = time.perf_counter() - self._gc_t0
            if took > self.max_gc_pause:
                self.max_gc_pause, self.max_gc_gen = took, info.get("generation", -1)

    def observe(self, lag: float, now: float, where: str = "") -> None:
        """Record one timer that fired ``lag`` seconds late at time ``now``; ``where`` says
        how the loop thread spent the tick (appended to the warning)."""
        if lag > self.max_lag:
            self.max_lag = lag
        if lag <= self.warn_after:
            return
        self.stalls += 1
        if lag > self._unreported:
            self._unreported, self._unreported_where = lag, where
        self._unreported_n += 1
        if now - self._last_warn >= self.warn_every:
            more = (f" ({self._unreported_n} stalls over {self.warn_after * 1000:.0f} ms since "
                    f"the last report)" if self._unreported_n > 1 else "")
            self.log.warning("event loop stalled: a %.0f ms timer ran %.0f ms late%s%s",
                             self.interval * 1000, self._unreported * 1000,
                             self._unreported_where, more)
            self._last_warn = now
            self._unreported = 0.0
            self._unreported_n = 0

    async def run(self) -> None:
        """Measure until cancelled."""
        clock, interval = self.clock, self.interval
        try:
            fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            fd = -1
        gc.callbacks.append(self._gc)
        try:
            before = _schedstat(fd)
            while True:
                due = clock() + interval
                await asyncio.sleep(interval)
                now = clock()
                lag = max(0.0, now - due)
                after = _schedstat(fd)
                where = ""
                if lag > self.warn_after and before and after:
                    run, wait = after[0] - before[0], after[1] - before[1]
                    # off a CPU and not runnable, beyond the timer's own sleep: a system call
                    # or a lock (the GIL held by another thread counts here)
                    blocked = max(0.0, lag - run - wait)
                    where = (f" (on a CPU {run * 1000:.0f} ms, waiting for a CPU "
                             f"{wait * 1000:.0f} ms, blocked {blocked * 1000:.0f} ms)")
                self.observe(lag, now, where)
                before = after
        finally:
            gc.callbacks.remove(self._gc)
            if fd >= 0:
                os.close(fd)

    def start(self) -> None:
        """Start measuring in the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def snapshot(self) -> dict[str, float | int]:
        """``loop_lag_max_ms``, ``loop_stalls`` and ``gc_pause_max_ms`` (runtime info)."""
        return {"loop_lag_max_ms": round(self.max_lag * 1000, 3), "loop_stalls": self.stalls,
                "gc_pause_max_ms": round(self.max_gc_pause * 1000, 3)}


def _schedstat(fd: int) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds waiting for one) of the calling thread, or None."""
    if fd < 0:
        return None
    try:
        f = os.pread(fd, 128, 0).split()
        return int(f[0]) / 1e9, int(f[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None
