"""Put/get TPS per broker from two samples of brokerStatus' day counters (pure)."""

from __future__ import annotations

from typing import Any


class TpsSampler:
    """Remembers the previous sample per broker; ``sample`` returns rates since it."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int, int]] = {}

    def sample(self, broker: str, now: float, status: dict[str, str]) -> dict[str, Any]:
        """``now`` in seconds; TPS is 0 on the first sample or when a counter went back
        (a broker restart or a new day)."""
        put = int(status.get("msgPutTotalTodayNow", "0") or 0)
        got = int(status.get("msgGetTotalTodayNow", "0") or 0)
        prev = self._last.get(broker)
        self._last[broker] = (now, put, got)
        put_tps = get_tps = 0.0
        if prev is not None and now > prev[0]:
            dt = now - prev[0]
            put_tps = max(0, put - prev[1]) / dt
            get_tps = max(0, got - prev[2]) / dt
        return {"broker": broker, "time": now, "putTotal": put, "getTotal": got,
                "putTps": round(put_tps, 2), "getTps": round(get_tps, 2)}
