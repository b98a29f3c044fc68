"""A NameServer + Broker pair as real processes, and the official-client driver runner."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pyrmq.protocol.codes import RequestCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.remoting import RemotingClient
from rmqtest.procs import SMALL_STORE, Proc, free_port, start_namesrv, start_pyrmq

DRIVER = Path(__file__).resolve().parents[1] / "interop" / "drivers" / "cpp_client.py"
FAST_DELAYS = "1s 2s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s"


@dataclass
class Cluster:
    tmp: Path
    namesrv: Proc
    broker: Proc
    broker_port: int
    broker_args: list[str]

    @property
    def ns_addr(self) -> str:
        return f"127.0.0.1:{self.namesrv.port}"

    @property
    def broker_addr(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def restart_broker(self, kill9: bool = False) -> None:
        if kill9:
            self.broker.kill9()
        self.broker.stop()
        self.broker = start_pyrmq(self.broker_args, self.tmp / "broker.log", self.broker_port)
        wait_registered(self.ns_addr, self.broker_addr)

    def stop(self) -> None:
        self.broker.stop()
        self.namesrv.stop()

    def invoke(self, cmd: RemotingCommand, timeout: float = 5.0) -> RemotingCommand:
        async def go():
            c = RemotingClient()
            try:
                return await c.invoke(self.broker_addr, cmd, timeout)
            finally:
                await c.close()
        return asyncio.run(go())


def wait_registered(ns_addr: str, broker_addr: str, timeout: float = 15.0) -> None:
    """Block until the NameServer lists the broker (bounded)."""
    async def go() -> None:
        c = RemotingClient()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                r = await c.invoke(ns_addr, request(RequestCode.GET_BROKER_CLUSTER_INFO), 3)
                if broker_addr in r.body.decode(errors="replace"):
                    return
                await asyncio.sleep(0.1)
            raise TimeoutError(f"broker {broker_addr} not registered at {ns_addr}")
        finally:
            await c.close()
    asyncio.run(go())


def start_cluster(tmp: Path, *extra: str) -> Cluster:
    ns = start_namesrv(tmp)
    port = free_port()
    args = ["broker", "-n", f"127.0.0.1:{ns.port}", "--listen-port", str(port),
            "--listen-host", "127.0.0.1", "--store", str(tmp / "store"),
            "--set", f"messageDelayLevel={FAST_DELAYS}", "--set", f"haListenPort={free_port()}",
            *SMALL_STORE, *extra]
    try:
        broker = start_pyrmq(args, tmp / "broker.log", port)
    except Exception:
        ns.stop()
        raise
    cluster = Cluster(tmp, ns, broker, port, args)
    try:
        wait_registered(cluster.ns_addr, cluster.broker_addr)
    except Exception:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def running_cluster(tmp: Path, *extra: str) -> Iterator[Cluster]:
    """A started cluster for the duration of a ``with`` block (stopped by PID after)."""
    c = start_cluster(tmp, *extra)
    try:
        yield c
    finally:
        c.stop()


def _events(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def driver(*args: str, timeout: float = 60.0) -> list[dict]:
    """Run the official client driver to completion; its JSON events."""
    p = subprocess.run([sys.executable, str(DRIVER), *args], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"driver {args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return _events(p.stdout)


def driver_start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(DRIVER), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def driver_wait(p: subprocess.Popen, timeout: float = 60.0) -> list[dict]:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=10)
        raise AssertionError(f"driver timed out:\n{out}\n{err}") from None
    if p.returncode != 0:
        raise AssertionError(f"driver failed ({p.returncode}):\n{out}\n{err}")
    return _events(out)


def msgs(events: list[dict]) -> list[dict]:
    return [e for e in events if e["event"] == "msg"]
