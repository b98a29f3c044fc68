"""Write gap and acknowledged loss over repeated automatic failovers (pyrmq.failover on etcd).

A NameServer, one etcd member and a SYNC_MASTER group of three failover-enabled replicas
(real processes on 127.0.0.1, stores under a temp dir). A producer sends unique bodies
continuously and keeps a ledger of the SEND_OK ones. Each run kills the current master with
SIGKILL, measures the write gap (SIGKILL -> first SEND_OK after it), then restarts the killed
replica and waits until it has rejoined as a slave. At the end every replica is stopped and
the ledger is checked against the last master's store: ``lost`` must be 0.

    .venv/bin/python bench/failover_bench.py --runs 10 [--ttl-ms 4000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rmqtest.failover import Ledger, have_etcd, start_group, store_bodies  # noqa: E402

TOPIC = "FailoverBench"


async def _wait(pred, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


def _run(runs: int, ttl_ms: int, tmp: Path) -> dict:
    g = start_group(tmp, ttl_ms=ttl_ms)
    try:
        first = g.add()
        g.start(first)
        leader = g.wait_leader()
        for _ in range(2):
            g.start(g.add())
        g.wait_attached(leader, 2)
        gaps: list[float] = []

        async def main() -> Ledger:
            ledger = Ledger(g.ns_addr, TOPIC)
            task = asyncio.ensure_future(ledger.run(time.monotonic() + 60 * runs + 60))
            await _wait(lambda: len(ledger.acked) > 50, 30, "no send acknowledged")
            for i in range(runs):
                victim = g.member(g.leader() or "")
                victim.proc.kill9()
                t_kill = time.monotonic()
                await _wait(lambda t=t_kill: ledger.acked_since(t), 60,
                            f"run {i}: writes did not resume")
                gaps.append(ledger.gap_after(t_kill))
                victim.proc.stop()
                new = await asyncio.to_thread(g.wait_leader, 30, victim.addr)
                g.start(victim)
                await asyncio.to_thread(g.wait_attached, new, 2, 30)
                print(f"run {i + 1}: killed {victim.addr}, {new.addr} took over, "
                      f"write gap {gaps[-1]:.2f} s", file=sys.stderr)
                await asyncio.sleep(1.0)
            ledger.stop = True
            await asyncio.wait_for(task, 20)
            return ledger

        ledger = asyncio.run(main())
        last = g.member(g.leader() or "")
        for m in g.members:
            g.stop_member(m)
        stored = store_bodies(last.store, TOPIC)
        return {"runs": runs, "ttl_ms": ttl_ms, "acknowledged": len(ledger.acked),
                "lost": len(ledger.acked - stored), "not_acknowledged": ledger.other,
                "gap_s": {"min": round(min(gaps), 2), "median": round(statistics.median(gaps), 2),
                          "max": round(max(gaps), 2)},
                "gaps_s": [round(x, 2) for x in gaps]}
    finally:
        g.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--ttl-ms", type=int, default=4000, help="failoverLeaseTtlMs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not have_etcd():
        print("etcd not installed (/usr/bin/etcd)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pyrmq-failover-") as d:
        out = _run(args.runs, args.ttl_ms, Path(d))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{out['runs']} failovers, lease TTL {out['ttl_ms']} ms: write gap "
              f"min {out['gap_s']['min']} / median {out['gap_s']['median']} / "
              f"max {out['gap_s']['max']} s; acknowledged {out['acknowledged']}, "
              f"lost {out['lost']}")
    return 0 if out["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
