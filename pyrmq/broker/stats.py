"""Broker message counters and their TPS windows (GET_BROKER_RUNTIME_INFO, the metrics gauges).

:class:`CounterRing` is the one sampler of cumulative counters: per-second samples, a rate is
the difference between two samples (or a fresh reading) over their span. Runtime info takes the
newest sample against the one ``window`` seconds older, as Java's StoreStatsService computes
putTps / getFoundTps / getTransferedTps over 10 s, 1 min and 10 min; the metrics gauges take a
reading made at scrape time against the sample ``window`` seconds before it. Pure: the clock is
passed in, so tests drive it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyrmq.broker.lag import LoopLagProbe

WINDOWS = (10, 60, 600)
_RING = WINDOWS[-1] + 1  # samples kept: enough for the longest window


class CounterRing:
    """At most ``keep`` samples ``(at, {name: count})`` of monotonically growing counters,
    newest last (the caller samples about once a second)."""

    def __init__(self, keep: int) -> None:
        self._ring: deque[tuple[float, dict[str, int]]] = deque(maxlen=keep)

    def __len__(self) -> int:
        return len(self._ring)

    def sample(self, at: float, counts: Mapping[str, int]) -> None:
        """Record the counters as read at ``at``."""
        self._ring.append((at, dict(counts)))

    def rate(self, key: str, back: int) -> float:
        """Per-second increase of ``key`` from the sample ``back`` before the newest (1 <=
        back < len) to the newest."""
        (t0, first), (t1, last) = self._ring[-1 - back], self._ring[-1]
        span = t1 - t0
        return (last.get(key, 0) - first.get(key, 0)) / span if span > 0 else 0.0

    def since(self, window: float, at: float, counts: Mapping[str, int]) -> dict[str, float]:
        """Each key's increase per second from the newest sample at least ``window`` older
        than ``at`` (the oldest sample when none is) to ``counts`` read at ``at``. A key that
        shrank (a counter reset, e.g. a consumer offset moved back) rates 0."""
        if not self._ring:
            return {}
        t0, old = self._ring[0]
        for t, snap in reversed(self._ring):
            if at - t >= window:
                t0, old = t, snap
                break
        span = at - t0
        if span <= 0:
            return {}
        return {k: max(0, v - old.get(k, 0)) / span for k, v in counts.items()}


def _midnight(now: float) -> float:
    lt = time.localtime(now)
    return time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))


@dataclass
class BrokerStats:
    """Cumulative put/get counters since boot, their values at today's and yesterday's
    midnight, and per-second samples for the TPS windows."""

    put_count: int = 0
    put_bytes: int = 0
    get_count: int = 0      # messages handed to consumers (Java's "transfered")
    get_found: int = 0      # pull requests that found messages
    put_today_morning: int = 0
    get_today_morning: int = 0
    put_yesterday_morning: int = 0
    get_yesterday_morning: int = 0
    #: per topic, for the metrics endpoint (topics are bounded by the topic table)
    topic_puts: dict[str, int] = field(default_factory=dict)
    topic_put_bytes: dict[str, int] = field(default_factory=dict)
    topic_gets: dict[str, int] = field(default_factory=dict)
    #: the broker's event-loop lag probe, once started (runtime info shows its numbers)
    lag: LoopLagProbe | None = None
    _day: float = 0.0
    _ring: CounterRing = field(default_factory=lambda: CounterRing(_RING))

    def put(self, topic: str, n: int, nbytes: int) -> None:
        """``n`` messages of ``nbytes`` bytes in all were stored."""
        self.put_count += n
        self.put_bytes += nbytes
        self.topic_puts[topic] = self.topic_puts.get(topic, 0) + n
        self.topic_put_bytes[topic] = self.topic_put_bytes.get(topic, 0) + nbytes

    def get(self, topic: str, n: int) -> None:
        """One pull answered ``n`` messages."""
        self.get_count += n
        self.get_found += 1
        self.topic_gets[topic] = self.topic_gets.get(topic, 0) + n

    def sample(self, now: float | None = None) -> None:
        """Record one sample (call about once a second) and roll the day at local midnight."""
        now = time.time() if now is None else now
        day = _midnight(now)
        if self._day and day != self._day:
            self.put_yesterday_morning, self.get_yesterday_morning = (
                self.put_today_morning, self.get_today_morning)
            self.put_today_morning, self.get_today_morning = self.put_count, self.get_count
        self._day = day
        self._ring.sample(now, {"put": self.put_count, "get": self.get_count,
                                "found": self.get_found})

    def tps(self, what: str, window: int) -> float | None:
        """Rate of ``what`` ("put", "get" or "found") over the last ``window`` seconds; None
        while fewer samples than the window exist (the shortest window uses what there is)."""
        n = len(self._ring)
        if n < 2:
            return 0.0 if window == WINDOWS[0] else None
        if n <= window and window != WINDOWS[0]:
            return None
        return self._ring.rate(what, min(window, n - 1))

    def tps_text(self, what: str, zero_missing: bool = False) -> str:
        """Java's "10s 1min 10min" string: a window without enough history is empty (as
        ``"0.0  "``), or 0.0 with ``zero_missing`` (Java's getTotalTps form)."""
        parts = []
        for w in WINDOWS:
            v = self.tps(what, w)
            parts.append(repr(float(v)) if v is not None else ("0.0" if zero_missing else ""))
        return " ".join(parts)
