"""Side by side: pyrmq (NameServer + Broker) against Redis Streams (redis-server), issue 9's
five workloads, each driven from Python asyncio on the same loop kind with the same bodies.

    .venv/bin/python bench/peers.py                      # 100,000 x 1 KiB, one run
    .venv/bin/python bench/peers.py --runs 3 --json peers.json
    .venv/bin/python bench/peers.py --sync --messages 10000   # SYNC_FLUSH vs appendfsync always
    .venv/bin/python bench/peers.py --workloads P1,C1 --messages 10000
    .venv/bin/python bench/peers.py --busy-poll 200          # pyrmq's busy poll on both sides

Every run starts fresh server processes on 127.0.0.1 (pyrmq ASYNC_FLUSH vs Redis AOF
everysec; --sync: SYNC_FLUSH vs appendfsync always; Redis ``--save ""``), each in a temp dir
removed at the end. Workloads (pyrmq client / redis-py ``redis.asyncio``):

  P1   one send in flight, each ack awaited            Producer.send / XADD
  P2   batched, every ack awaited                       send_batch of --batch, --inflight
                                                        outstanding / pipelines of --batch XADDs
  C1   consume --messages from the start, usual ack     PushConsumer (CLUSTERING, committed
                                                        offsets) / XREADGROUP COUNT + XACK
  C1c  consume, cheapest ack                            PullConsumer, offsets client-side /
                                                        XREAD COUNT, no group
  L1   --l1-rate msgs/s for --l1-seconds from another process; latency = receive - send
       (time_ns in the body's first 19 bytes); p50 / p99 / max

Per workload: msgs/s of both and the ratio pyrmq/Redis; CPU µs per message of each server
process and of the client process (utime+stime from /proc; L1: consumer + producer); the
pyrmq broker's max RssAnon (resident memory not counting mapped file pages) during the run;
the host's steal time (/proc/stat) during it, and a closing line saying whether any part ran
above 5 % steal (time the vCPUs waited for the host: such a part is slowed at random).
With P1, each run also measures P1's floor on this host (bench/p1_floor.py: the same frames
echoed on the same loop, no broker, no client library) and closes with the highest P1 ratio to
Redis it leaves reachable. --busy-poll US runs pyrmq with busyPollMicros=US on the broker and
busy_poll_us=US on every client (pyrmq.remoting.busypoll; off by default, as in pyrmq), and its
floor with the same polling. --runs N prints medians. Nothing is asserted; exit status 1 if a
workload failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import p1_floor
from procs import REPO, RssSampler, Servers, cpu_us, host_ticks, steal_pct

from pyrmq.remoting import loop as rmq_loop

WORKLOADS = ("P1", "P2", "C1", "C1c", "L1")
SYSTEMS = ("redis", "pyrmq")
SERVER = {"redis": "redis", "pyrmq": "broker"}


class Meter:
    """Brackets a measured part: wall time, CPU of the servers and of this process, and the
    max RssAnon of the servers (sampled on a thread) between start() and stop(count)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.fig: dict = {}
        self._sampler: RssSampler | None = None

    def start(self) -> None:
        self._sampler = RssSampler(self.pids)
        self._sampler.start()
        self._cpu0 = {name: cpu_us(pid) for name, pid in self.pids.items()}
        self._self0 = cpu_us()
        self._host0 = host_ticks()
        self._t0 = time.perf_counter()

    def close(self) -> None:
        """Stop the sampler of a measurement that failed half way."""
        if self._sampler is not None:
            self._sampler.stop()

    def stop(self, count: int) -> None:
        secs = time.perf_counter() - self._t0
        client = cpu_us() - self._self0
        servers = {name: cpu_us(pid) - self._cpu0[name] for name, pid in self.pids.items()}
        assert self._sampler is not None
        rss = self._sampler.stop()
        self.fig = {"msgs": count, "seconds": secs, "tps": count / secs if secs else 0.0,
                    "cpu_us": servers, "client_cpu_us": client,
                    "rss_anon_max_kib": dict(rss),
                    "steal_pct": steal_pct(self._host0, host_ticks())}


def _side(name: str):
    """The workload module of ``name`` (peers_redis imports redis-py, only when needed)."""
    return importlib.import_module(f"peers_{name}")


def _pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1e6


async def _l1(side, name: str, addr: str, key: str, args, meter: Meter) -> dict:
    lat: list[int] = []
    extra: dict = {}

    async def produce() -> int:
        meter.start()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--l1-producer", name, "--addr",
            addr, "--key", key, "--l1-rate", str(args.l1_rate), "--l1-seconds",
            str(args.l1_seconds), "--size", str(args.size), "--busy-poll", str(args.busy_poll),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), args.l1_seconds + 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError("L1 producer did not finish in time") from None
        if proc.returncode != 0:
            raise RuntimeError(f"L1 producer exited {proc.returncode}: {err.decode()[-800:]}")
        info = json.loads(out.decode().strip().splitlines()[-1])
        extra["producer_cpu_us"] = info["cpu_us"]
        extra["sent"] = info["sent"]
        return info["sent"]

    await side.l1_consume(addr, key, args.pull_batch, produce, lat, meter)
    lat.sort()
    if not lat:
        raise RuntimeError("L1: nothing received")
    meter.fig["client_cpu_us"] += extra["producer_cpu_us"]
    return {**extra, "p50_ms": _pct(lat, 0.50), "p99_ms": _pct(lat, 0.99),
            "max_ms": lat[-1] / 1e6}


async def _workload(wl: str, name: str, addr: str, key: str, args, body: bytes,
                    meter: Meter) -> dict:
    side = _side(name)
    n = args.messages
    if wl == "P1":
        await side.p1(addr, key, n, body, meter)
    elif wl == "P2":
        await side.p2(addr, key, n, body, args.batch, args.inflight, meter)
    elif wl in ("C1", "C1c"):
        await side.fill(addr, key, n, body, args.batch, args.inflight)
        await (side.c1 if wl == "C1" else side.c1c)(addr, key, n, args.pull_batch, meter)
    else:
        return await _l1(side, name, addr, key, args, meter)
    return {}


def run_one(wl: str, name: str, servers: Servers, args, body: bytes, run: int) -> dict:
    """One workload against one system in a fresh event loop; its figures (or error)."""
    addr = servers.namesrv_addr if name == "pyrmq" else str(servers.redis_port)
    key = f"peers_{wl}_{run}_{time.time_ns()}"
    meter = Meter({"broker": servers.pid("broker"), "namesrv": servers.pid("namesrv"),
                   "redis": servers.pid("redis")})
    bound = 60 + args.messages / 100 + args.l1_seconds
    try:
        extra = rmq_loop.run(asyncio.wait_for(
            _workload(wl, name, addr, key, args, body, meter), bound))
        servers.alive()
    except Exception as e:  # one line per failure, the run goes on
        meter.close()
        return {"error": f"{type(e).__name__}: {e}"}
    fig = {**meter.fig, **extra}
    msgs = max(1, fig["msgs"])
    fig["server_us_per_msg"] = fig["cpu_us"][SERVER[name]] / msgs
    fig["client_us_per_msg"] = fig["client_cpu_us"] / msgs
    fig["broker_rss_anon_max_mib"] = fig["rss_anon_max_kib"]["broker"] / 1024
    return fig


def _line(run: int, wl: str, name: str, f: dict) -> str:
    head = f"run {run + 1} {wl:<4} {name:<6}"
    if "error" in f:
        return f"{head} FAILED {f['error']}"
    speed = (f"p50 {f['p50_ms']:.2f} / p99 {f['p99_ms']:.2f} / max {f['max_ms']:.1f} ms"
             f" ({f['msgs']:,} msgs)" if wl == "L1" else f"{f['tps']:>10,.0f} msgs/s")
    return (f"{head} {speed}  {SERVER[name]} {f['server_us_per_msg']:.1f} µs/msg  client "
            f"{f['client_us_per_msg']:.1f} µs/msg  broker RssAnon "
            f"{f['broker_rss_anon_max_mib']:.0f} MiB  steal {f['steal_pct']:.0f}%")


KEYS = ("tps", "p50_ms", "p99_ms", "max_ms", "server_us_per_msg", "client_us_per_msg",
        "broker_rss_anon_max_mib")


def medians(figs: list[dict]) -> dict | None:
    ok = [f for f in figs if "error" not in f]
    if not ok:
        return None
    return {k: statistics.median(f[k] for f in ok) for k in KEYS if k in ok[0]}


def table(results: dict, runs: int) -> str:
    """The summary as Markdown: throughput rows, then L1's percentile rows."""
    what = f"median of {runs} runs" if runs > 1 else "one run"
    out = [f"| workload ({what}) | Redis msgs/s | pyrmq msgs/s | pyrmq/Redis | server µs/msg "
           "Redis / broker | client µs/msg Redis / pyrmq | broker RssAnon max MiB |",
           "|---|---|---|---|---|---|---|"]
    lrows = []
    for wl, by in results.items():
        r, p = medians(by["redis"]), medians(by["pyrmq"])
        if wl == "L1":
            for name, m in (("Redis", r), ("pyrmq", p)):
                lrows.append(f"| L1 {name} | " + (
                    f"{m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['max_ms']:.1f} | "
                    f"{m['server_us_per_msg']:.1f} | {m['client_us_per_msg']:.1f} | "
                    f"{m['broker_rss_anon_max_mib']:.0f} |" if m else "FAILED | | | | | |"))
            continue
        cell = (lambda m, k, fmt: format(m[k], fmt) if m else "FAILED")  # noqa: E731
        ratio = f"{p['tps'] / r['tps']:.2f}×" if r and p and r["tps"] else "-"
        out.append(f"| {wl} | {cell(r, 'tps', ',.0f')} | {cell(p, 'tps', ',.0f')} | {ratio} | "
                   f"{cell(r, 'server_us_per_msg', '.1f')} / "
                   f"{cell(p, 'server_us_per_msg', '.1f')} | "
                   f"{cell(r, 'client_us_per_msg', '.1f')} / "
                   f"{cell(p, 'client_us_per_msg', '.1f')} | "
                   f"{cell(p, 'broker_rss_anon_max_mib', '.0f')} |")
    if lrows:
        out += ["", "| L1 latency | p50 ms | p99 ms | max ms | server µs/msg | client µs/msg "
                "(consumer + producer) | broker RssAnon max MiB |",
                "|---|---|---|---|---|---|---|", *lrows]
    return "\n".join(out)


def floor_one(args) -> dict:
    """One run of bench/p1_floor.py (P1's round trip with no broker and no client library
    behind it), with the host's steal time over it."""
    h0 = host_ticks()
    try:
        fig = p1_floor.measure(min(args.messages, 50_000), args.size, args.busy_poll)
    except Exception as e:  # one line, the run goes on
        return {"error": f"{type(e).__name__}: {e}"}
    fig["steal_pct"] = steal_pct(h0, host_ticks())
    return fig


def floor_note(floors: list[dict], p1: dict) -> str:
    """The P1 floor's median and the highest P1 ratio to Redis it leaves reachable here."""
    ok = [f["tps"] for f in floors if "error" not in f]
    r = medians(p1["redis"])
    if not ok:
        return "P1 floor: FAILED"
    tps = statistics.median(ok)
    rtt = 1e6 / tps
    reach = f", {tps / r['tps']:.2f}× Redis: the highest P1 ratio reachable on this host" \
        if r and r["tps"] else ""
    return (f"P1 floor (bench/p1_floor.py: an echo of the same frames on the same loop, no "
            f"broker, no client library): {tps:,.0f} msgs/s, {rtt:.0f} µs a round trip{reach}")


STEAL_FAIR_PCT = 5.0


def steal_note(results: dict) -> str:
    """One line on the host's steal time during the measured parts: above STEAL_FAIR_PCT the
    VM's vCPUs waited for the host in that part (other tenants, or the host's own I/O work
    for this VM), so that part's figures are not comparable with a quiet one."""
    steals = [f["steal_pct"] for by in results.values() for figs in by.values() for f in figs
              if "steal_pct" in f]
    if not steals:
        return "host steal: not measured"
    worst = max(steals)
    verdict = (f"above {STEAL_FAIR_PCT:g} % in some part: compare those parts with care, "
               "see each line's steal" if worst > STEAL_FAIR_PCT else "a quiet host")
    return f"host steal during the measured parts: max {worst:.1f} % ({verdict})"


def hiredis_version() -> str | None:
    try:
        import hiredis
    except ImportError:
        return None
    return hiredis.__version__


def header(args) -> str:
    import redis

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    commit = git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain")
                                                     else "")
    if rmq_loop.uvloop_available():
        import uvloop
        loop = f"uvloop {uvloop.__version__}"
    else:
        loop = "asyncio (uvloop not installed)"
    parser = (f"hiredis {hiredis_version()}" if hiredis_version() else
              "pure-Python parser (no hiredis)")
    rv = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                        timeout=10).stdout.split()
    flush = ("SYNC_FLUSH vs appendfsync always" if args.sync
             else "ASYNC_FLUSH vs appendfsync everysec")
    return (f"pyrmq {commit} vs Redis {rv[2][2:] if len(rv) > 2 else '?'} Streams; {flush}; "
            f"loop {loop}; Python {platform.python_version()}; redis-py {redis.__version__} "
            f"({parser})\n"
            f"{args.messages:,} x {args.size} B per workload, P2 batches of {args.batch} x "
            f"{args.inflight} in flight, pulls/reads of {args.pull_batch}, L1 {args.l1_rate:g}/s"
            f" for {args.l1_seconds:g} s, {args.runs} run(s); "
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.2f} at start; pyrmq busy poll "
            + (f"{args.busy_poll} µs" if args.busy_poll else "off"))


def _producer_main(args) -> int:
    """The L1 producer process: prints {"sent", "cpu_us"} as its last line."""
    side = _side(args.l1_producer)
    _busy(args)
    c0 = cpu_us()
    sent = rmq_loop.run(asyncio.wait_for(side.l1_produce(
        args.addr, args.key, args.l1_rate, args.l1_seconds, _body(args.size)),
        args.l1_seconds + 60))
    print(json.dumps({"sent": sent, "cpu_us": cpu_us() - c0}), flush=True)
    return 0


def _busy(args) -> None:
    """pyrmq's clients in this process poll as --busy-poll says."""
    import peers_pyrmq
    peers_pyrmq.BUSY_POLL_US = args.busy_poll


def _body(size: int) -> bytes:
    return random.Random(9).randbytes(size)  # the same bytes on both sides, incompressible


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=1024, help="body bytes (>= 19)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--sync", action="store_true")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--batch", type=int, default=64, help="P2 messages per batch/pipeline")
    ap.add_argument("--inflight", type=int, default=8, help="P2 batches outstanding")
    ap.add_argument("--pull-batch", type=int, default=32, help="C1c pull / Redis COUNT")
    ap.add_argument("--l1-rate", type=float, default=2000.0)
    ap.add_argument("--l1-seconds", type=float, default=10.0)
    ap.add_argument("--busy-poll", type=int, default=0, metavar="US",
                    help="pyrmq: busyPollMicros / busy_poll_us (0 = off, pyrmq's default)")
    ap.add_argument("--l1-producer", choices=SYSTEMS, help=argparse.SUPPRESS)
    ap.add_argument("--addr", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.l1_producer:
        return _producer_main(args)
    wls = [w for w in WORKLOADS if w.lower() in args.workloads.lower().split(",")]
    if not wls or args.size < 19 or args.messages < 1 or args.runs < 1:
        ap.error(f"--workloads from {','.join(WORKLOADS)}; --size >= 19; --messages, --runs >= 1")
    try:
        _side("redis")
    except ImportError:
        print("peers.py needs redis-py: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    if shutil.which("redis-server") is None:
        print("peers.py needs Debian's redis-server (apt-get install redis-server)",
              file=sys.stderr)
        return 2
    _busy(args)
    head = header(args)
    print(head, flush=True)
    body = _body(args.size)
    results: dict = {wl: {name: [] for name in SYSTEMS} for wl in wls}
    floors: list[dict] = []
    for run in range(args.runs):
        with Servers(sync=args.sync, broker_set=[f"busyPollMicros={args.busy_poll}"]) as servers:
            for wl in wls:
                order = SYSTEMS if run % 2 == 0 else SYSTEMS[::-1]  # alternate who goes first
                for name in order:
                    fig = run_one(wl, name, servers, args, body, run)
                    results[wl][name].append(fig)
                    print(_line(run, wl, name, fig), flush=True)
        if "P1" in wls:  # after the servers are gone: the floor runs on a quiet machine
            fig = floor_one(args)
            floors.append(fig)
            print(f"run {run + 1} P1   floor  " + (
                f"FAILED {fig['error']}" if "error" in fig else
                f"{fig['tps']:>10,.0f} msgs/s  echo {fig['server_us_per_msg']:.1f} µs/msg  "
                f"client {fig['client_us_per_msg']:.1f} µs/msg  steal {fig['steal_pct']:.0f}%"),
                flush=True)
    print()
    print(table(results, args.runs))
    if floors:
        print(floor_note(floors, results["P1"]))
    print(steal_note(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"header": head, "args": vars(args),
                                               "results": results, "p1_floor": floors},
                                              indent=1))
    failed = any("error" in f for by in results.values() for figs in by.values() for f in figs)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
