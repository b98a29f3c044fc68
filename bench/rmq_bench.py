"""Producer/consumer benchmark against real pyrmq NameServer + Broker processes, driven with the
official C++ client (``--client cpp``, rocketmq==0.4.4) or pyrmq's own (``--client pyrmq``);
shaped like RocketMQ's producer.sh / consumer.sh.

    .venv/bin/python bench/rmq_bench.py --client cpp --count 20000
    .venv/bin/python bench/rmq_bench.py --client pyrmq --threads 1,16
    .venv/bin/python bench/rmq_bench.py --topic BenchmarkTest --sizes 1024 --threads 8

``--topic`` sends every case to one topic instead of a new 8-queue ``Bench_SIZE_SENDERS``:
``BenchmarkTest`` is the topic RocketMQ's ``tproducer`` / ``tconsumer`` use, a system topic of
1,024 queues.

For each body size and sender count: send TPS, average / p50 / p99 / p999 / max latency and
failures, the broker's CPU per message sent (user + system, from /proc); then the consume TPS of
a push consumer reading everything back. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import REPO, Servers, cpu_us  # noqa: E402

DRIVER = REPO / "tests" / "interop" / "drivers" / "cpp_client.py"


def _pct(lat: list[float], q: float) -> float:
    lat = sorted(lat)
    return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0


async def _pyrmq_produce(ns: str, topic: str, count: int, senders: int, size: int) -> dict:
    from pyrmq.client import Message, Producer

    lat: list[float] = []
    failures = 0
    async with Producer("PG_BENCH", ns) as p:
        await p.send(Message(topic, b"warm-up"))
        per = count // senders
        body = b"b" * size

        async def one() -> None:
            nonlocal failures
            for _ in range(per):
                t0 = time.perf_counter()
                try:
                    await p.send(Message(topic, body, tags="TagA"))
                    lat.append((time.perf_counter() - t0) * 1000)
                except Exception:
                    failures += 1
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(senders)))
        dt = time.perf_counter() - t0
    return {"count": len(lat), "tps": len(lat) / dt, "avg_ms": sum(lat) / max(1, len(lat)),
            "p50_ms": _pct(lat, 0.5), "p99_ms": _pct(lat, 0.99), "p999_ms": _pct(lat, 0.999),
            "max_ms": _pct(lat, 1.0), "failures": failures}


async def _pyrmq_consume(ns: str, topic: str, count: int) -> float:
    from pyrmq.client import ConsumeFrom, ConsumeStatus, PushConsumer

    n, first, last, done = 0, 0.0, 0.0, asyncio.Event()

    async def on(msg) -> ConsumeStatus:
        nonlocal n, first, last
        n += 1
        now = time.perf_counter()
        first = first or now
        last = now
        if n >= count:
            done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    c = PushConsumer(f"CG_BENCH_{os.getpid()}", ns, consume_from=ConsumeFrom.FIRST_OFFSET,
                     rebalance_interval=1.0, concurrency=64)
    c.subscribe(topic, "TagA")
    c.listener = on
    await c.start()
    try:
        await asyncio.wait_for(done.wait(), 300)
    finally:
        await c.shutdown()
    return n / (last - first) if last > first else 0.0


def _cpp(*args: str) -> dict:
    p = subprocess.run([sys.executable, str(DRIVER), *args], capture_output=True, text=True,
                       timeout=900)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    for line in p.stderr.splitlines():
        if line.startswith("send failed"):
            print("   ", line, flush=True)
    return lines[-1] if lines else {}


def _cpp_consume_tps(ns: str, topic: str, count: int) -> float:
    """Messages per second between the first and the last delivery."""
    ev = _cpp("consume", ns, topic, f"CG_BENCH_{os.getpid()}", str(count), "--expr", "TagA",
              "--seconds", "600", "--linger", "0", "--count-all", "--quiet")
    secs = ev.get("consume_seconds", 0.0)
    return ev.get("count", 0) / secs if secs else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client", choices=("cpp", "pyrmq"), default="cpp")
    ap.add_argument("--count", type=int, default=20000, help="messages per case")
    ap.add_argument("--sizes", default="128,1024")
    ap.add_argument("--threads", default="1,8", help="concurrent senders per case")
    ap.add_argument("--topic", help="one topic for every case (e.g. BenchmarkTest)")
    args = ap.parse_args(argv)
    with Servers(redis=False, prefix="pyrmq-rmqbench-",
                 broker_set=[f"mappedFileSizeCommitLog={256 * 1024 * 1024}"]) as sv:
        addr, bp = sv.namesrv_addr, sv.broker_port
        bpid = sv.procs["broker"].pid
        print(f"client {args.client}; NameServer {addr}; broker 127.0.0.1:{bp} (separate "
              "processes)")
        print(f"{'size':>5} {'senders':>7} {'send TPS':>10} {'avg ms':>7} {'p50':>7} {'p99':>7} "
              f"{'p999':>7} {'max':>7} {'fail':>5} {'broker us':>9} {'consume TPS':>12}")
        for size in map(int, args.sizes.split(",")):
            for senders in map(int, args.threads.split(",")):
                topic = args.topic or f"Bench_{size}_{senders}"
                cpu0 = cpu_us(bpid)
                if args.client == "cpp":
                    s = _cpp("bench-produce", addr, topic, str(args.count), "--threads",
                             str(senders), "--body-size", str(size))
                    broker_us = (cpu_us(bpid) - cpu0) / max(1, s["count"])
                    ctps = _cpp_consume_tps(addr, topic, s["count"])
                else:
                    s = asyncio.run(_pyrmq_produce(addr, topic, args.count, senders, size))
                    broker_us = (cpu_us(bpid) - cpu0) / max(1, s["count"])
                    ctps = asyncio.run(_pyrmq_consume(addr, topic, s["count"]))
                print(f"{size:>5} {senders:>7} {s['tps']:>10,.0f} {s['avg_ms']:>7.2f} "
                      f"{s['p50_ms']:>7.2f} {s['p99_ms']:>7.2f} {s['p999_ms']:>7.2f} "
                      f"{s['max_ms']:>7.2f} {s['failures']:>5} {broker_us:>9.1f} {ctps:>12,.0f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
