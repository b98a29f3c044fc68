"""End-to-end benchmark: pyrmq Producer -> Broker -> PushConsumer on loopback, one process.

    .venv/bin/python bench/e2e_bench.py [--messages 20000]

Prints send TPS and latency percentiles for 1 and 16 concurrent senders at 128 B and 1 KiB,
batch send TPS, and end-to-end (consumed) TPS. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile

from pyrmq.cli.quickstart import quickstart
from pyrmq.remoting import loop


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20000)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"{'case':<34} {'send msgs/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'e2e msgs/s':>11}")
    ok = True
    for size in (128, 1024):
        for senders, batch in ((1, 0), (16, 0), (4, 32)):
            d = tempfile.mkdtemp(prefix="pyrmq-e2e-")
            try:
                n = args.messages if senders > 1 or batch else args.messages // 4
                s = loop.run(quickstart(  # uvloop where installed, as `pyrmq quickstart`
                    n, size, senders, d, 120, batch=batch, quiet=True))
            finally:
                shutil.rmtree(d, ignore_errors=True)
            label = f"{size} B, {senders} sender(s)" + (f", batches of {batch}" if batch else "")
            print(f"{label:<34} {s['send_tps']:>12,.0f} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f} "
                  f"{s['e2e_tps']:>11,.0f}" + ("" if s["ok"] else "  (MISSING MESSAGES)"))
            ok &= s["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
