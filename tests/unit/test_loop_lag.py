"""The event-loop lag probe: lags recorded, stalls over the threshold counted and logged once
per rate-limit window (naming the worst), and a real blocking call on the loop is seen."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from pyrmq.broker.lag import LoopLagProbe


def test_observe_counts_stalls_and_rate_limits_the_warning(caplog):
    p = LoopLagProbe(interval=0.01, warn_after=0.05, warn_every=10.0)
    with caplog.at_level(logging.WARNING, logger="pyrmq.broker.lag"):
        p.observe(0.002, now=100.0)
        assert (p.max_lag, p.stalls) == (0.002, 0)
        assert not caplog.records
        p.observe(0.120, now=101.0)          # first stall: logged at once
        p.observe(0.300, now=102.0)          # within 10 s: counted, not logged
        p.observe(0.060, now=105.0)
        assert p.stalls == 3
        assert len(caplog.records) == 1
        assert "120 ms late" in caplog.records[0].getMessage()
        p.observe(0.070, now=111.5)          # window over: the worst since the last line
        assert len(caplog.records) == 2
        msg = caplog.records[1].getMessage()
        assert "300 ms late" in msg and "3 stalls" in msg
    assert p.max_lag == 0.300
    assert p.snapshot() == {"loop_lag_max_ms": 300.0, "loop_stalls": 4, "gc_pause_max_ms": 0.0}


def test_probe_sees_a_blocking_call_on_the_loop(caplog):
    async def go() -> LoopLagProbe:
        p = LoopLagProbe(interval=0.01, warn_after=0.05)
        p.start()
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # the loop is held: the probe's timer fires late
        gc.collect()     # a collection while the probe runs is timed
        await asyncio.sleep(0.05)
        await p.stop()
        return p

    with caplog.at_level(logging.WARNING, logger="pyrmq.broker.lag"):
        p = asyncio.run(go())
    assert p.max_lag >= 0.15
    assert p.stalls >= 1
    assert any("event loop stalled" in r.getMessage() for r in caplog.records)
    assert p.max_gc_pause > 0 and p.max_gc_gen == 2
