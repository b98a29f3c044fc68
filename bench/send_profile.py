"""Send-path profile: CPU per sync send of the client and of the broker, from /proc.

    .venv/bin/python bench/send_profile.py [--sends 20000] [--size 1024] [--inflight 1]
        [--batch 0] [--transaction] [--consume] [--busy-poll US] [--loop auto|asyncio]
        [--broker-env KEY=VALUE] [--set KEY=VALUE] [--py-spy broker.json]
        [--py-spy-client client.json]

Starts a NameServer and a Broker as separate processes (ASYNC_FLUSH), then sends from this
process with pyrmq's Producer: ``--inflight`` concurrent senders, each awaiting every ack
(``--batch N`` sends ``send_batch`` of N messages instead; ``--transaction`` makes each send
a transaction committed at once, as ttxproducer does; ``--busy-poll US`` sets the broker's
``busyPollMicros`` and the producer's ``busy_poll_us``; ``--consume`` runs a PushConsumer of
the topic in another process meanwhile, long-polling each queue as tconsumer does beside
tproducer, so the broker's figures are per message sent and pulled). Prints msgs/s and the CPU time
(user + system, from ``/proc/<pid>/stat``) the client and the broker spent per message during
the timed sends, and the broker's per thread (ns-exact, from ``/proc/PID/task/*/schedstat``,
summed by thread name: the main thread and Python's threads are ``python``, the store's own
``rmq-flush`` and ``rmq-alloc``). ``--py-spy FILE`` records the broker with
``py-spy record --nonblocking`` in speedscope format for the timed part (collapsed stacks when
FILE ends in ``.txt``; py-spy must be on PATH or in the venv; its sampling pauses the target,
so CPU figures of a profiled run are inflated). Nothing is
asserted; timings are noisy on a shared machine: compare runs made side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import Servers, cpu_split_us, free_port, thread_cpu_ns  # noqa: E402
from rmqtest.metrics import scrape  # noqa: E402

from pyrmq.protocol.codes import RequestCode  # noqa: E402


def cpu_seconds(pid: int | None = None) -> tuple[float, float]:
    """(utime, stime) of a process in seconds."""
    u, s = cpu_split_us(pid)
    return u / 1e6, s / 1e6


def _py_spy(pid: int, out: str) -> subprocess.Popen | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(exe):
        print(f"py-spy not found ({exe}); not profiling", file=sys.stderr)
        return None
    fmt = "raw" if out.endswith(".txt") else "speedscope"  # raw = collapsed stacks
    return subprocess.Popen([exe, "record", "--nonblocking", "-r", "500",
                             "--format", fmt, "-o", out, "--pid", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_spy(spy: subprocess.Popen | None) -> None:
    if spy is None:
        return
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait(5)


TOPIC = "SendProfile"


async def _consumer(ns: str) -> None:
    """The ``--consume`` process: a PushConsumer of TOPIC from its last offset (batches of up
    to 32 to a non-blocking listener); prints "ready" once it holds every queue, consumes
    until stdin closes, then prints how many messages it received."""
    from pyrmq.client import ConsumeStatus, PushConsumer

    got = [0]

    def on_batch(msgs) -> ConsumeStatus:
        got[0] += len(msgs)
        return ConsumeStatus.CONSUME_SUCCESS
    c = PushConsumer("CG_SEND_PROFILE", ns, rebalance_interval=2.0, consume_batch_max_size=32,
                     nonblocking_listener=True)
    c.subscribe(TOPIC)
    c.listener = on_batch
    await c.start()
    loop = asyncio.get_running_loop()
    for _ in range(100):  # bounded: 10 s for the first rebalance
        if c.process_queues:
            break
        await asyncio.sleep(0.1)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    await c.shutdown()
    print(got[0], flush=True)


async def _run(ns: str, broker_pid: int, args: argparse.Namespace) -> dict[str, float]:
    from pyrmq.client import LocalTransactionState, Message, Producer, TransactionProducer

    topic = TOPIC
    body = b"x" * args.size
    commit = LocalTransactionState.COMMIT_MESSAGE
    busy = args.busy_poll
    producer = (TransactionProducer("PG_SEND_PROFILE", ns, check=lambda m: commit,
                                    busy_poll_us=busy)
                if args.transaction else Producer("PG_SEND_PROFILE", ns, busy_poll_us=busy))
    async with producer as p:
        for _ in range(200):  # warm-up: route, connection, topic creation, code paths
            await p.send(Message(topic, body))
        per = args.sends // args.inflight
        batch = args.batch

        async def one() -> None:
            if batch:
                msgs = [Message(topic, body) for _ in range(batch)]
                for _ in range(max(1, per // batch)):
                    await p.send_batch(msgs)
            elif args.transaction:  # what ttxproducer does: every local transaction commits
                for _ in range(per):
                    await p.send_in_transaction(Message(topic, body), lambda m: commit)
            else:
                for _ in range(per):
                    await p.send(Message(topic, body))

        spies = [_py_spy(broker_pid, args.py_spy) if args.py_spy else None,
                 _py_spy(os.getpid(), args.py_spy_client) if args.py_spy_client else None]
        th0 = thread_cpu_ns(broker_pid)
        c0, b0, t0 = cpu_seconds(), cpu_seconds(broker_pid), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(args.inflight)))
        dt = time.perf_counter() - t0
        c1, b1 = cpu_seconds(), cpu_seconds(broker_pid)
        th1 = thread_cpu_ns(broker_pid)
        for spy in spies:
            _stop_spy(spy)
    n = (max(1, per // batch) * batch if batch else per) * args.inflight
    us = 1e6 / n
    threads = {k: (v - th0.get(k, 0)) / 1e3 / n for k, v in th1.items() if v > th0.get(k, 0)}
    return {"msgs": n, "seconds": dt, "threads": threads,
            "client_user": (c1[0] - c0[0]) * us, "client_sys": (c1[1] - c0[1]) * us,
            "broker_user": (b1[0] - b0[0]) * us, "broker_sys": (b1[1] - b0[1]) * us}


def _pulls(port: int) -> int:
    """PULL_MESSAGE requests the broker answered so far, from its /metrics (0 while every
    pull is still held: a request is counted when it is answered)."""
    code = str(int(RequestCode.PULL_MESSAGE))
    rows = scrape(port).get("rocketmq_requests_total", [])
    return int(sum(v for labels, v in rows if labels.get("code") == code))


def _start_consumer(ns: str, args: argparse.Namespace) -> subprocess.Popen:
    """The ``--consume`` process, started and ready (the topic is created by a first send)."""
    from pyrmq.client import Message, Producer

    async def create() -> None:
        async with Producer("PG_SEND_PROFILE", ns) as p:
            await p.send(Message(TOPIC, b"create"))
    asyncio.run(create())
    cp = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--consumer", ns,
                           "--loop", args.loop], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
    assert cp.stdout is not None
    if cp.stdout.readline().strip() != "ready":
        cp.kill()
        raise SystemExit("the consumer did not start")
    return cp


def _loop_factory(name: str):
    if name == "asyncio":
        return asyncio.new_event_loop
    from pyrmq.remoting.loop import new_event_loop
    return new_event_loop


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sends", type=int, default=20000, help="messages in the timed part")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=1, help="timed runs against the same broker")
    ap.add_argument("--inflight", type=int, default=1, help="concurrent senders")
    ap.add_argument("--batch", type=int, default=0, help="send_batch of N instead of send")
    ap.add_argument("--transaction", action="store_true",
                    help="each send a transaction committed at once (half message + "
                         "END_TRANSACTION), as RocketMQ's ttxproducer")
    ap.add_argument("--consume", action="store_true",
                    help="a PushConsumer of the topic in another process meanwhile")
    ap.add_argument("--consumer", metavar="NS", help=argparse.SUPPRESS)
    ap.add_argument("--loop", choices=("auto", "asyncio"), default="auto",
                    help="client loop: auto = uvloop when installed")
    ap.add_argument("--busy-poll", type=int, default=0, metavar="US",
                    help="busyPollMicros on the broker and busy_poll_us on the producer")
    ap.add_argument("--broker-env", action="append", default=[],
                    help="KEY=VALUE for the broker's environment (repeatable)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a broker setting (repeatable)")
    ap.add_argument("--py-spy", metavar="FILE", help="record the broker with py-spy")
    ap.add_argument("--py-spy-client", metavar="FILE", help="record this client with py-spy")
    args = ap.parse_args(argv)
    if args.consumer:
        with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
            runner.run(_consumer(args.consumer))
        return 0
    env = dict(kv.split("=", 1) for kv in args.broker_env)
    # the metrics observer costs each request ~1 µs: on only where the pull count is wanted
    metrics_port = free_port() if args.consume else 0
    with Servers(redis=False, broker_env=env, prefix="pyrmq-sendprof-",
                 broker_set=[f"mappedFileSizeCommitLog={256 * 1024 * 1024}",
                             f"busyPollMicros={args.busy_poll}", f"metricsPort={metrics_port}",
                             *args.set]) as sv:
        br_pid = sv.pid("broker")
        time.sleep(1.0)  # first registration with the NameServer
        consumer = _start_consumer(sv.namesrv_addr, args) if args.consume else None
        what = (f"send_batch({args.batch})" if args.batch
                else "send_in_transaction" if args.transaction else "send")
        runs = []
        for _ in range(args.runs):
            pulls0 = _pulls(metrics_port) if consumer is not None else 0
            with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
                r = runner.run(_run(sv.namesrv_addr, br_pid, args))
            runs.append(r)
            if consumer is not None:
                time.sleep(0.5)  # the last held pulls are answered
                print(f"PULL_MESSAGE answered per message sent: "
                      f"{(_pulls(metrics_port) - pulls0) / r['msgs']:.2f}")
            print(f"{what} x{r['msgs']} of {args.size} B, {args.inflight} in flight: "
                  f"{r['msgs'] / r['seconds']:,.0f} msgs/s; CPU us per message (user+sys): "
                  f"client {r['client_user'] + r['client_sys']:.1f} ({r['client_user']:.1f}+"
                  f"{r['client_sys']:.1f}), broker {r['broker_user'] + r['broker_sys']:.1f} "
                  f"({r['broker_user']:.1f}+{r['broker_sys']:.1f}); broker threads: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["threads"].items(),
                                                                key=lambda kv: -kv[1])),
                  flush=True)
        if consumer is not None:
            out, _ = consumer.communicate("", timeout=60)
            print(f"consumed {out.split()[-1]} of {sum(r['msgs'] for r in runs):,} sent "
                  f"(and {200 * args.runs} warm-up)")
        if len(runs) > 1:  # on a shared machine the least disturbed run says most
            tps = sorted(r["msgs"] / r["seconds"] for r in runs)
            cli = sorted(r["client_user"] + r["client_sys"] for r in runs)
            bro = sorted(r["broker_user"] + r["broker_sys"] for r in runs)
            mid = len(runs) // 2
            print(f"best of {len(runs)}: {tps[-1]:,.0f} msgs/s, client {cli[0]:.1f} us, broker "
                  f"{bro[0]:.1f} us; median: {tps[mid]:,.0f} msgs/s, client {cli[mid]:.1f} us, "
                  f"broker {bro[mid]:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
