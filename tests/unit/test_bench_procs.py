"""bench/procs.py's host steal reading: the figure peers.py prints per measured part."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from procs import host_ticks, steal_pct  # noqa: E402


def test_steal_pct_is_the_stolen_share_of_the_ticks_between_readings():
    assert steal_pct((100, 10_000), (130, 10_200)) == 15.0
    assert steal_pct((5, 50), (5, 50)) == 0.0  # no time passed: no division by zero


def test_host_ticks_reads_this_machine():
    steal, total = host_ticks()
    assert 0 <= steal <= total and total > 0
    later = host_ticks()
    assert later[1] >= total and 0.0 <= steal_pct((steal, total), later) <= 100.0
