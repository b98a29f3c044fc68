"""pyrmq's client with two brokers and with consumers that die: sends spread and fail over,
a SIGKILLed consumer's queues are taken over."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rmqtest.cluster import wait_registered
from rmqtest.procs import REPO, SMALL_STORE, free_port, start_namesrv, start_pyrmq

from pyrmq.client import Message, Producer

DRIVER = Path(__file__).parent / "drivers" / "py_consumer.py"


@pytest.fixture
def two_brokers(tmp_path):
    ns = start_namesrv(tmp_path)
    brokers = []
    try:
        for name in ("broker-a", "broker-b"):
            port = free_port()
            brokers.append(start_pyrmq(
                ["broker", "-n", f"127.0.0.1:{ns.port}", "--listen-port", str(port),
                 "--listen-host", "127.0.0.1", "--store", str(tmp_path / name),
                 "--set", f"brokerName={name}", "--set", f"haListenPort={free_port()}",
                 *SMALL_STORE], tmp_path / f"{name}.log", port))
            wait_registered(f"127.0.0.1:{ns.port}", f"127.0.0.1:{port}")
        yield ns, brokers
    finally:
        for b in brokers:
            b.stop()
        ns.stop()


def test_sends_spread_over_brokers_and_fail_over(two_brokers):
    ns, (a, b) = two_brokers
    # (auto-creation would put the topic only on the broker that got the first message, as in
    # RocketMQ: create it on the whole cluster)
    subprocess.run([sys.executable, "-m", "pyrmq", "updateTopic", "-n", f"127.0.0.1:{ns.port}",
                    "-t", "Spread", "-c", "DefaultCluster", "-r", "4", "-w", "4"], check=True,
                   cwd=REPO, capture_output=True, timeout=60)

    async def main():
        async with Producer("PG2", f"127.0.0.1:{ns.port}", send_timeout=2.0) as p:
            for _ in range(50):  # both brokers re-registered with the new topic
                if len((await p.route("Spread", refresh=True)).broker_addrs) == 2:
                    break
                await asyncio.sleep(0.2)
            first = [await p.send(Message("Spread", f"x{i}".encode())) for i in range(40)]
            assert {r.queue.broker_name for r in first} == {"broker-a", "broker-b"}
            b.kill9()  # routes still list broker-b: the producer must retry elsewhere
            after = [await p.send(Message("Spread", f"y{i}".encode())) for i in range(20)]
            assert {r.queue.broker_name for r in after} == {"broker-a"}

    asyncio.run(asyncio.wait_for(main(), 60))


def _start_consumer(ns: str, group: str, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(DRIVER), ns, "Shared3", group, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=REPO)


def _bodies(p: subprocess.Popen) -> set[str]:
    out, _ = p.communicate(timeout=60)
    return {json.loads(x)["body"] for x in out.splitlines()
            if x.startswith("{") and '"msg"' in x}


def test_sigkilled_consumer_is_taken_over(tmp_path):
    ns = start_namesrv(tmp_path)
    port = free_port()
    broker = start_pyrmq(["broker", "-n", f"127.0.0.1:{ns.port}", "--listen-port", str(port),
                          "--listen-host", "127.0.0.1", "--store", str(tmp_path / "s"),
                          "--set", f"haListenPort={free_port()}", *SMALL_STORE],
                         tmp_path / "b.log", port)
    addr = f"127.0.0.1:{ns.port}"
    wait_registered(addr, f"127.0.0.1:{port}")
    procs = []
    try:
        async def produce(prefix: str, n: int):
            async with Producer("PG3", addr) as p:
                for i in range(n):
                    await p.send(Message("Shared3", f"{prefix}{i}".encode()))
        asyncio.run(produce("w", 1))  # create the topic
        procs = [_start_consumer(addr, "CG3", 25) for _ in range(3)]
        time.sleep(6)  # all three joined and rebalanced
        asyncio.run(produce("a", 60))
        time.sleep(3)
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(10)
        asyncio.run(produce("b", 60))
        survivors = set().union(*(_bodies(p) for p in procs[1:]))
        assert {f"b{i}" for i in range(60)} <= survivors  # the dead one's queues taken over
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        broker.stop()
        ns.stop()
