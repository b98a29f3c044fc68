"""Consume-path profile: fill a broker process with N x 1 KiB messages, then read them all back
with a PushConsumer (offsets committed to the broker) and with a PullConsumer (offsets kept
client-side); print msgs/s and the client's and the broker's CPU microseconds per message
(from /proc, utime + stime over the consume phase only).

    .venv/bin/python bench/consume_profile.py --messages 100000
    .venv/bin/python bench/consume_profile.py --messages 100000 --py-spy /tmp/prof

With ``--py-spy DIR`` each consume phase runs under ``py-spy record`` for the client and the
broker (collapsed stacks ``DIR/{push,pull}-{client,broker}.txt``); py-spy's own sampling costs
CPU, so take the figures from a run without it. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import Servers, cpu_us  # noqa: E402


def cpu_s(pid: int | None = None) -> float:
    """utime + stime of ``pid`` (this process when None) in seconds."""
    return cpu_us(pid) / 1e6


async def fill(ns: str, topic: str, count: int, size: int) -> None:
    """``count`` messages of ``size`` bytes, batches of 64 with 8 in flight."""
    from pyrmq.client import Message, Producer

    body = b"x" * size
    async with Producer("PG_CONSUME_PROFILE", ns) as p:
        await p.send(Message(topic, b"warm-up", tags="T"))  # creates the topic

        async def worker(n: int) -> None:
            while n > 0:
                k = min(64, n)
                await p.send_batch([Message(topic, body, tags="T") for _ in range(k)])
                n -= k
        per = (count - 1) // 8
        await asyncio.gather(*(worker(per + (1 if i < (count - 1) % 8 else 0))
                               for i in range(8)))


async def consume_push(ns: str, topic: str, count: int, batch: int) -> None:
    """A PushConsumer from the first offset until ``count`` messages were delivered."""
    from pyrmq.client import ConsumeFrom, ConsumeStatus, PushConsumer

    n, done = 0, asyncio.Event()

    def on(msgs: list) -> ConsumeStatus:
        nonlocal n
        n += len(msgs)
        if n >= count:
            done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    kw = {"consume_batch_max_size": batch, "nonblocking_listener": True} \
        if _has_batch_api(PushConsumer) else {}

    async def on_one(m: object) -> ConsumeStatus:  # before batch listeners existed
        return on([m])
    c = PushConsumer(f"CG_PROFILE_{os.getpid()}", ns, consume_from=ConsumeFrom.FIRST_OFFSET,
                     rebalance_interval=1.0, concurrency=64, **kw)
    c.subscribe(topic, "*")
    c.listener = on if kw else on_one
    await c.start()
    try:
        await asyncio.wait_for(done.wait(), 600)
    finally:
        await c.shutdown()


def _has_batch_api(cls: type) -> bool:
    import inspect

    return "consume_batch_max_size" in inspect.signature(cls.__init__).parameters


async def consume_pull(ns: str, topic: str, count: int, batch: int) -> None:
    """A PullConsumer: one coroutine per queue pulling ``batch`` at a time from offset 0."""
    from pyrmq.client import PullConsumer
    from pyrmq.protocol.codes import ResponseCode

    n = 0
    async with PullConsumer(f"CG_PULL_{os.getpid()}", ns) as c:
        queues = await c.fetch_queues(topic)

        async def one(mq) -> None:
            nonlocal n
            off = 0
            while n < count:
                code, off, msgs = await c.pull(mq, "*", off, batch)
                n += len(msgs)
                if code != ResponseCode.SUCCESS:
                    return
        await asyncio.gather(*(one(q) for q in queues))


def _py_spy(pid: int, out: Path) -> subprocess.Popen:
    spy = str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
                             "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(label: str, run: Callable[[], Awaitable[None]], count: int, broker: int,
            spy: Path | None) -> None:
    spies = []
    if spy is not None:
        spies = [_py_spy(os.getpid(), spy / f"{label}-client.txt"),
                 _py_spy(broker, spy / f"{label}-broker.txt")]
        time.sleep(1.0)
    c0, b0, t0 = cpu_s(os.getpid()), cpu_s(broker), time.perf_counter()
    asyncio.run(run())
    dt = time.perf_counter() - t0
    c1, b1 = cpu_s(os.getpid()), cpu_s(broker)
    for s in spies:
        s.send_signal(signal.SIGINT)
        try:
            s.wait(30)
        except subprocess.TimeoutExpired:
            s.kill()
    print(f"{label:<6} {count / dt:>12,.0f} {(c1 - c0) / count * 1e6:>14.1f} "
          f"{(b1 - b0) / count * 1e6:>14.1f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32, help="pull batch / push listener batch")
    ap.add_argument("--py-spy", type=Path, default=None, metavar="DIR")
    args = ap.parse_args(argv)
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    with Servers(redis=False, prefix="pyrmq-consume-",
                 broker_set=[f"mappedFileSizeCommitLog={256 * 1024 * 1024}"]) as sv:
        br_pid = sv.pid("broker")
        addr = sv.namesrv_addr
        topic = "ConsumeProfile"
        t0 = time.perf_counter()
        asyncio.run(fill(addr, topic, args.messages, args.size))
        print(f"filled {args.messages} x {args.size} B in {time.perf_counter() - t0:.1f} s "
              f"(broker pid {br_pid})")
        print(f"{'mode':<6} {'msgs/s':>12} {'client µs/msg':>14} {'broker µs/msg':>14}")
        measure("push", lambda: consume_push(addr, topic, args.messages, args.batch),
                args.messages, br_pid, args.py_spy)
        measure("pull", lambda: consume_pull(addr, topic, args.messages, args.batch),
                args.messages, br_pid, args.py_spy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
