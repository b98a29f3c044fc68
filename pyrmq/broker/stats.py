"""Broker message counters and their TPS windows (GET_BROKER_RUNTIME_INFO).

A ring of per-second samples of the cumulative counters; a rate over a window is the difference
between the newest sample and the one ``window`` seconds older, as Java's StoreStatsService
computes putTps / getFoundTps / getTransferedTps over 10 s, 1 min and 10 min. Pure: the clock is
passed in (``now``), so tests drive it."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from pyrmq.broker.lag import LoopLagProbe

WINDOWS = (10, 60, 600)
_RING = WINDOWS[-1] + 1  # samples kept: enough for the longest window


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    put: int
    get: int
    found: int


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
    _ring: deque[_Sample] = field(default_factory=lambda: deque(maxlen=_RING))

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
        self._ring.append(_Sample(now, self.put_count, self.get_count, self.get_found))

    def tps(self, what: str, window: int) -> float | None:
        """Rate of ``what`` ("put", "get" or "found") over the last ``window`` seconds; None
        while fewer samples than the window exist (the shortest window uses what there is)."""
        ring = self._ring
        if len(ring) < 2:
            return 0.0 if window == WINDOWS[0] else None
        if len(ring) <= window:
            if window != WINDOWS[0]:
                return None
            first = ring[0]
        else:
            first = ring[-1 - window]
        last = ring[-1]
        span = last.at - first.at
        if span <= 0:
            return 0.0
        return (getattr(last, what) - getattr(first, what)) / span

    def tps_text(self, what: str, zero_missing: bool = False) -> str:
        """Java's "10s 1min 10min" string: a window without enough history is empty (as
        ``"0.0  "``), or 0.0 with ``zero_missing`` (Java's getTotalTps form)."""
        parts = []
        for w in WINDOWS:
            v = self.tps(what, w)
            parts.append(repr(float(v)) if v is not None else ("0.0" if zero_missing else ""))
        return " ".join(parts)
