"""Per-second rates over a sliding window of counter samples (the TPS gauges).

Prometheus' own ``rate()`` over the ``*_total`` counters is the better tool; these gauges exist
because rocketmq-exporter users graph ``rocketmq_broker_tps`` and friends directly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping

Snapshot = Mapping[str, int]


class RateWindow:
    """Keeps ``(time, snapshot)`` samples of monotonically growing counters; :meth:`rates`
    gives each key's increase per second from the oldest sample in the window to a fresh
    reading taken at call time. A key that shrank (a counter reset, e.g. a consumer offset
    moved back) rates 0."""

    def __init__(self, read: Callable[[], Snapshot], window: float = 10.0) -> None:
        self._read = read
        self.window = window
        self._samples: deque[tuple[float, dict[str, int]]] = deque()

    def sample(self, now: float | None = None) -> None:
        """Take one sample (the broker does this every second)."""
        now = time.monotonic() if now is None else now
        self._samples.append((now, dict(self._read())))
        while len(self._samples) > 1 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rates(self, now: float | None = None) -> dict[str, float]:
        if not self._samples:
            return {}
        now = time.monotonic() if now is None else now
        t0, old = self._samples[0]
        span = now - t0
        if span <= 0:
            return {}
        return {k: max(0, v - old.get(k, 0)) / span for k, v in self._read().items()}
