"""``pyrmq quickstart``: an embedded NameServer + Broker on loopback, N messages produced with
pyrmq's Producer and consumed with its PushConsumer; prints throughput, send latency
percentiles and where everything lives; exit 0 only if every message arrived."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import tempfile
import time

from pyrmq.broker import Broker, BrokerConfig
from pyrmq.client import ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer
from pyrmq.namesrv import NameServer, NamesrvConfig
from pyrmq.remoting import loop
from pyrmq.store import StoreConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="embedded NameServer + Broker, produce and consume")
    p.add_argument("-n", "--messages", type=int, default=1000, help="messages to send")
    p.add_argument("--size", type=int, default=128, help="body bytes")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent senders")
    p.add_argument("--store", help="store directory (default: a temp dir, removed after)")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after seconds")
    p.set_defaults(func=run)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def quickstart(n: int, size: int, concurrency: int, store_dir: str,
                     timeout: float, *, batch: int = 0, quiet: bool = False) -> dict:
    """Run the produce/consume round trip; returns its numbers (``ok`` = all arrived)."""
    async with NameServer(NamesrvConfig("127.0.0.1", 0)) as ns:
        # The broker advertises its port in every stored record: pick a free one first.
        ports = []
        for _ in range(2):  # the remoting port and the HA port, both free
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        cfg = BrokerConfig(namesrvAddr=ns.addr, listenPort=ports[0], haListenPort=ports[1],
                           storePathRootDir=store_dir)
        # a demo-sized store: 64 MiB segments and a small index instead of 1 GiB / 420 MB
        store_cfg = StoreConfig(storePathRootDir=store_dir,
                                mappedFileSizeCommitLog=64 * 1024 * 1024,
                                maxHashSlotNum=500_000, maxIndexNum=2_000_000)
        async with Broker(cfg, store_cfg,
                          listen_host="127.0.0.1") as broker:
            await broker.register_all()  # routes exist before the first send
            if not quiet:
                print(f"NameServer {ns.addr}, Broker {cfg.broker_addr}, store {store_dir}")
            topic = "QuickstartTopic"
            got: set[str] = set()
            done = asyncio.Event()

            async def on_message(msg) -> ConsumeStatus:
                got.add(msg.properties.get("seq", ""))
                if len(got) >= n:
                    done.set()
                return ConsumeStatus.CONSUME_SUCCESS

            producer = Producer("QuickstartProducer", ns.addr)
            await producer.start()
            await producer.send(Message(topic, b"warm-up"))  # creates the topic
            consumer = PushConsumer("QuickstartConsumer", ns.addr,
                                    consume_from=ConsumeFrom.FIRST_OFFSET,
                                    rebalance_interval=2.0)
            consumer.subscribe(topic, "TagA")
            consumer.listener = on_message
            await consumer.start()
            body = b"x" * size
            latencies: list[float] = []
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(n):
                queue.put_nowait(i)

            def make(i: int) -> Message:
                return Message(topic, body, tags="TagA", keys=[f"k{i}"],
                               properties={"seq": str(i)})

            async def sender() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    t0 = time.perf_counter()
                    if batch:
                        msgs = [make(i)]
                        while len(msgs) < batch and not queue.empty():
                            msgs.append(make(queue.get_nowait()))
                        await producer.send_batch(msgs)
                    else:
                        await producer.send(make(i))
                    latencies.append((time.perf_counter() - t0) * 1000)

            t0 = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(concurrency)))
            send_s = time.perf_counter() - t0
            try:
                await asyncio.wait_for(done.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            total_s = time.perf_counter() - t0
            await consumer.shutdown()
            await producer.shutdown()
            stats = {"messages": n, "size": size, "senders": concurrency, "batch": batch,
                     "send_tps": n / send_s, "p50_ms": _pct(latencies, 0.5),
                     "p99_ms": _pct(latencies, 0.99), "mean_ms": statistics.fmean(latencies),
                     "consumed": len(got), "e2e_tps": len(got) / total_s, "ok": len(got) >= n}
            if not quiet:
                print(f"sent {n} x {size} B with {concurrency} senders in {send_s:.2f} s: "
                      f"{stats['send_tps']:,.0f} msgs/s; send latency p50 "
                      f"{stats['p50_ms']:.2f} ms, p99 {stats['p99_ms']:.2f} ms")
                print(f"consumed {len(got)}/{n} in {total_s:.2f} s "
                      f"({stats['e2e_tps']:,.0f} msgs/s end to end)")
            return stats


def run(args: argparse.Namespace) -> int:
    tmp = None
    store_dir = args.store
    if not store_dir:
        tmp = tempfile.mkdtemp(prefix="pyrmq-quickstart-")
        store_dir = tmp
    try:
        ok = loop.run(quickstart(args.messages, args.size, args.concurrency, store_dir,
                                    args.timeout))["ok"]
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print("OK: every message arrived" if ok else "FAILED: messages missing")
    return 0 if ok else 1
