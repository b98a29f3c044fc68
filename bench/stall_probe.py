"""Stall probe (issue 9's L1): a producer at a fixed rate, a PushConsumer in another process,
a NameServer and a Broker as their own processes; prints the produce-to-consume latency
p50 / p99 / max, the broker's worst event-loop lag (its lag probe, from
GET_BROKER_RUNTIME_INFO) and the broker's peak RssAnon (resident memory that is not mapped
file pages: the store's segments are left out).

    .venv/bin/python bench/stall_probe.py                         # 2,000/s for 20 s, 1 KiB
    .venv/bin/python bench/stall_probe.py --rate 2000 --messages 100000 --size 1024
    .venv/bin/python bench/stall_probe.py --broker-set gcFreezeAfterBoot=false   # any key

Nothing is asserted; the numbers go to bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import Servers, rss_anon_kib, stop  # noqa: E402

from pyrmq.broker.lag import LoopLagProbe  # noqa: E402
from pyrmq.client import ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer  # noqa: E402
from pyrmq.protocol.codes import RequestCode  # noqa: E402
from pyrmq.protocol.command import request  # noqa: E402
from pyrmq.remoting import RemotingClient  # noqa: E402

TOPIC = "StallProbe"
PRODUCER_LAG: list[float] = []  # the producer loop's worst lag (ms), set by produce()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# -- the consumer process ----------------------------------------------------------------------
async def consume(ns: str, n: int, timeout: float) -> None:
    """Consume n timed messages; print "ready" once the warm-up message arrived, then one JSON
    line of latencies (ms)."""
    lat: list[float] = []
    done = asyncio.Event()
    ready = asyncio.Event()

    async def on_message(msg) -> ConsumeStatus:
        now = time.monotonic_ns()
        if msg.body[:4] == b"warm":
            ready.set()
        elif len(msg.body) >= 8:
            lat.append((now - struct.unpack_from(">q", msg.body)[0]) / 1e6)
            if len(lat) >= n:
                done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    c = PushConsumer("StallProbeConsumer", ns, consume_from=ConsumeFrom.FIRST_OFFSET,
                     rebalance_interval=2.0)
    c.subscribe(TOPIC)
    c.listener = on_message
    probe = LoopLagProbe()
    probe.start()
    await c.start()
    try:
        await asyncio.wait_for(ready.wait(), 60)
        print("ready", flush=True)
        # until all arrived, or nothing arrived for 30 s (bounded by timeout in all)
        deadline, seen, idle_since = time.monotonic() + timeout, 0, time.monotonic()
        while not done.is_set() and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(done.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            if len(lat) != seen:
                seen, idle_since = len(lat), time.monotonic()
            elif time.monotonic() - idle_since > 30:
                break
    except asyncio.TimeoutError:
        pass
    finally:
        await c.shutdown()
        await probe.stop()
    print(json.dumps({"lat": lat, "lag_ms": probe.max_lag * 1000,
                      "gc_ms": probe.max_gc_pause * 1000, "gc_gen": probe.max_gc_gen}),
          flush=True)


# -- the driver ------------------------------------------------------------------------------
async def produce(ns: str, rate: float, n: int, size: int) -> list[float]:
    """Send n messages at rate/s (each ack awaited); returns send latencies (ms)."""
    p = Producer("StallProbeProducer", ns)
    await p.start()
    lat = []
    probe = LoopLagProbe()
    probe.start()
    try:
        pad = b"x" * max(0, size - 8)
        t0 = time.monotonic()
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            s = time.monotonic_ns()
            await p.send(Message(TOPIC, struct.pack(">q", s) + pad))
            lat.append((time.monotonic_ns() - s) / 1e6)
    finally:
        await p.shutdown()
        await probe.stop()
    PRODUCER_LAG.append(probe.max_lag * 1000)
    return lat


async def warm_up(ns: str) -> None:
    p = Producer("StallProbeProducer", ns)
    await p.start()
    try:
        await p.send(Message(TOPIC, b"warm"))
    finally:
        await p.shutdown()


async def runtime_info(addr: str) -> dict[str, str]:
    c = RemotingClient()
    try:
        r = await c.invoke(addr, request(RequestCode.GET_BROKER_RUNTIME_INFO), 5.0)
        return json.loads(r.body)["table"]
    finally:
        await c.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=2000.0, help="messages per second")
    ap.add_argument("--messages", type=int, default=40_000)
    ap.add_argument("--size", type=int, default=1024, help="body bytes (>= 8)")
    ap.add_argument("--broker-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a broker config key (repeatable)")
    ap.add_argument("--show-log", type=int, default=10, metavar="N",
                    help="print up to N stall lines of the processes' logs (with "
                         "PYTHONASYNCIODEBUG=1 set, asyncio names each slow callback)")
    ap.add_argument("--consumer", nargs=3, metavar=("NS", "N", "TIMEOUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.consumer:
        asyncio.run(consume(args.consumer[0], int(args.consumer[1]), float(args.consumer[2])))
        return 0

    sets = ["mappedFileSizeCommitLog=268435456", "maxHashSlotNum=500000",
            "maxIndexNum=2000000", *args.broker_set]
    with Servers(redis=False, broker_set=sets, prefix="pyrmq-stall-") as sv:
        return _probe(sv, args)


def _probe(sv: Servers, args: argparse.Namespace) -> int:
    """Run the probe against the started NameServer + Broker; the consumer process it starts
    is stopped by PID."""
    py = sys.executable
    cp: subprocess.Popen | None = None
    try:
        ns, bpid = sv.namesrv_addr, sv.pid("broker")
        time.sleep(1.0)  # registered with the NameServer
        asyncio.run(warm_up(ns))
        timeout = 3 * args.messages / args.rate + 120
        cp = subprocess.Popen([py, os.path.abspath(__file__), "--consumer", ns,
                               str(args.messages), str(timeout)],
                              stdout=subprocess.PIPE, text=True)
        assert cp.stdout is not None
        if cp.stdout.readline().strip() != "ready":
            raise SystemExit("consumer did not start")
        peak = [rss_anon_kib(bpid)]

        async def drive() -> list[float]:
            async def sample() -> None:
                while True:
                    peak.append(rss_anon_kib(bpid))
                    await asyncio.sleep(0.5)
            t = asyncio.get_running_loop().create_task(sample())
            try:
                return await produce(ns, args.rate, args.messages, args.size)
            finally:
                t.cancel()

        send_lat = asyncio.run(drive())
        out, _ = cp.communicate(timeout=timeout + 30)
        res = json.loads(out.strip().splitlines()[-1])
        lat = res["lat"]
        info = asyncio.run(runtime_info(sv.broker_addr))
        peak.append(rss_anon_kib(bpid))
        rss_file = rss_anon_kib(bpid, "RssFile")
        print(f"stall probe: {args.messages:,} x {args.size} B at {args.rate:,.0f}/s, consumer "
              f"in another process; broker set {args.broker_set or '-'}")
        print(f"  consumed {len(lat):,}/{args.messages:,}; produce-to-consume latency ms: "
              f"p50 {_pct(lat, 0.5):.2f}  p99 {_pct(lat, 0.99):.2f}  max {max(lat or [0]):.1f}")
        print(f"  send (ack) latency ms: p50 {_pct(send_lat, 0.5):.2f}  p99 "
              f"{_pct(send_lat, 0.99):.2f}  max {max(send_lat or [0]):.1f}")
        print(f"  broker loop lag max {info.get('loop_lag_max_ms', '?')} ms, stalls > 50 ms: "
              f"{info.get('loop_stalls', '?')}, longest GC pass "
              f"{info.get('gc_pause_max_ms', '?')} ms; "
              f"broker RssAnon peak {max(peak) / 1024:.1f} MiB "
              f"(at start {peak[0] / 1024:.1f} MiB; mapped file pages, RssFile, "
              f"{rss_file / 1024:.0f} MiB at the end)")
        slow = [ln.rstrip() for name in ("namesrv", "broker")
                for ln in (sv.tmp / f"{name}.log").read_text(errors="replace").splitlines()
                if "stalled" in ln or "Executing" in ln or "held the event loop" in ln]
        print(f"  worst loop lag of the clients: producer {PRODUCER_LAG[-1]:.1f} ms, consumer "
              f"{res['lag_ms']:.1f} ms (its longest GC pass {res['gc_ms']:.1f} ms, generation "
              f"{res['gc_gen']})")
        for ln in slow[:args.show_log]:
            print("  log:", ln[:300])
        return 0
    finally:
        if cp is not None:
            stop(cp, 10)


if __name__ == "__main__":
    raise SystemExit(main())
