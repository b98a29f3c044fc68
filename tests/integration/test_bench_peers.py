"""Smoke test of bench/peers.py (pyrmq vs Redis Streams): a tiny run exits 0, prints all five
workloads for both systems, and every workload moved exactly the messages it should. Speed
is never asserted."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

import pytest
from rmqtest.procs import REPO

pytestmark = [
    pytest.mark.skipif(shutil.which("redis-server") is None,
                       reason="redis-server is not installed (Debian package redis-server)"),
    pytest.mark.skipif(importlib.util.find_spec("redis") is None,
                       reason="redis-py is not installed (pip install -e '.[bench]')"),
]

WORKLOADS = ("P1", "P2", "C1", "C1c", "L1")


def test_peers_tiny_run_reports_all_workloads_for_both(tmp_path):
    out_json = tmp_path / "peers.json"
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "peers.py"), "--messages", "300", "--runs", "1",
         "--l1-seconds", "1", "--json", str(out_json)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    lines = p.stdout.splitlines()
    assert "loop " in lines[0] and "Python " in lines[0]
    for wl in WORKLOADS:
        for name in ("redis", "pyrmq"):
            row = [ln for ln in lines if ln.split()[2:4] == [wl, name]]
            assert row and "FAILED" not in row[0], (wl, name, p.stdout)
    assert "| P1 |" in p.stdout and "| L1 Redis |" in p.stdout and "| L1 pyrmq |" in p.stdout
    assert "host steal during the measured parts: max" in p.stdout
    floor = [ln for ln in lines if ln.split()[2:4] == ["P1", "floor"]]
    assert floor and "FAILED" not in floor[0], p.stdout
    assert "the highest P1 ratio reachable on this host" in p.stdout
    results = json.loads(out_json.read_text())["results"]
    for wl in WORKLOADS:
        for name in ("redis", "pyrmq"):
            (fig,) = results[wl][name]
            want = fig["sent"] if wl == "L1" else 300
            assert fig["msgs"] == want, (wl, name, fig)
            assert fig["broker_rss_anon_max_mib"] > 0
            assert 0.0 <= fig["steal_pct"] <= 100.0
    (floor_fig,) = json.loads(out_json.read_text())["p1_floor"]
    assert floor_fig["tps"] > 0 and floor_fig["rtt_us"] > 0
    for name in ("redis", "pyrmq"):
        (l1,) = results["L1"][name]
        assert l1["sent"] == 2000  # --l1-rate 2000 (the default) for 1 s
        assert 0 < l1["p50_ms"] <= l1["p99_ms"] <= l1["max_ms"]


def test_peers_busy_poll_run_reaches_broker_clients_and_floor(tmp_path):
    """--busy-poll sets busyPollMicros on the broker, busy_poll_us on this process's and the
    L1 producer's clients, and the floor's polling; the run says so and still moves every
    message."""
    out_json = tmp_path / "peers.json"
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "peers.py"), "--messages", "200", "--runs", "1",
         "--workloads", "P1,L1", "--l1-seconds", "1", "--busy-poll", "200",
         "--json", str(out_json)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert p.stdout.splitlines()[1].endswith("pyrmq busy poll 200 µs"), p.stdout
    data = json.loads(out_json.read_text())
    (p1,) = data["results"]["P1"]["pyrmq"]
    (l1,) = data["results"]["L1"]["pyrmq"]
    assert p1["msgs"] == 200 and l1["msgs"] == l1["sent"] == 2000
    (floor_fig,) = data["p1_floor"]
    assert floor_fig["tps"] > 0
