"""An etcd member and a failover-enabled broker group as real processes on 127.0.0.1 (for
tests/integration/test_failover.py and bench/failover_bench.py). Every wait is bounded."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pyrmq.client import Message, Producer, SendStatus
from rmqtest.procs import SMALL_STORE, Proc, free_port, start_namesrv, start_pyrmq

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
PREFIX = "/pyrmq/failover"
STORE_ARGS = {"mappedFileSizeCommitLog": 8388608, "maxHashSlotNum": 50000, "maxIndexNum": 200000}


def have_etcd() -> bool:
    return os.path.exists(ETCD)


def start_etcd(tmp: Path, client_port: int | None = None, peer_port: int | None = None) -> Proc:
    """One etcd member with its data in ``tmp/etcd``, answering on ``client_port`` (a
    restart gives the same ports and finds its data again)."""
    port = client_port or free_port()
    peer = peer_port or free_port()
    data = tmp / "etcd"
    p = Proc([ETCD, "--name", "t", "--data-dir", str(data),
              "--listen-client-urls", f"http://127.0.0.1:{port}",
              "--advertise-client-urls", f"http://127.0.0.1:{port}",
              "--listen-peer-urls", f"http://127.0.0.1:{peer}",
              "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
              "--initial-cluster", f"t=http://127.0.0.1:{peer}"],
             tmp / f"etcd-{port}.log", port)
    deadline = time.monotonic() + 15
    while True:  # the port opens before the member has elected itself
        try:
            etcd_range(f"127.0.0.1:{port}", b"/")
            p.peer_port = peer  # type: ignore[attr-defined]
            return p
        except OSError:
            if time.monotonic() > deadline:
                p.stop()
                raise
            time.sleep(0.1)


def etcd_range(addr: str, prefix: bytes) -> dict[bytes, bytes]:
    """Every key under ``prefix`` (1 s timeout)."""
    end = bytearray(prefix)
    end[-1] += 1
    body = json.dumps({"key": base64.b64encode(prefix).decode(),
                       "range_end": base64.b64encode(bytes(end)).decode()}).encode()
    req = urllib.request.Request(f"http://{addr}/v3/kv/range", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=1.0) as r:
        out = json.loads(r.read())
    return {base64.b64decode(kv["key"]): base64.b64decode(kv.get("value", ""))
            for kv in out.get("kvs", [])}


@dataclass
class Member:
    """One replica: its ports and store stay the same across restarts."""

    index: int
    port: int
    ha_port: int
    store: Path
    etcd: str                     # the endpoint it is given (may be a proxy)
    proc: Proc | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class Group:
    """NameServer + etcd + failover members of ``broker-a``."""

    tmp: Path
    namesrv: Proc
    etcd: Proc
    members: list[Member] = field(default_factory=list)
    ttl_ms: int = 4000
    extra: tuple[str, ...] = ()

    @property
    def ns_addr(self) -> str:
        return f"127.0.0.1:{self.namesrv.port}"

    @property
    def etcd_addr(self) -> str:
        return f"127.0.0.1:{self.etcd.port}"

    def add(self, etcd: str | None = None) -> Member:
        i = len(self.members) + 1
        m = Member(i, free_port(), free_port(), self.tmp / f"store{i}", etcd or self.etcd_addr)
        self.members.append(m)
        return m

    def restart_etcd(self) -> None:
        """Start the (stopped) etcd member again on the same ports and data."""
        self.etcd.stop()
        self.etcd = start_etcd(self.tmp, self.etcd.port, self.etcd.peer_port)

    def start(self, m: Member, *extra: str) -> None:
        args = ["broker", "-n", self.ns_addr, "--listen-port", str(m.port),
                "--listen-host", "127.0.0.1", "--store", str(m.store),
                "--set", "brokerName=broker-a", "--set", f"brokerId={m.index}",
                "--set", f"haListenPort={m.ha_port}", "--set", "brokerRole=SYNC_MASTER",
                "--set", "failoverEnable=true", "--set", f"etcdEndpoints=http://{m.etcd}",
                "--set", f"failoverLeaseTtlMs={self.ttl_ms}", *SMALL_STORE, *self.extra,
                *extra]
        m.proc = start_pyrmq(args, self.tmp / f"member{m.index}.log", m.port)

    def keys(self) -> dict[bytes, bytes]:
        return etcd_range(self.etcd_addr, f"{PREFIX}/DefaultCluster/broker-a/".encode())

    def leader(self) -> str | None:
        """The leader's address per etcd (None: no leader, or etcd unreachable)."""
        try:
            v = self.keys().get(f"{PREFIX}/DefaultCluster/broker-a/leader".encode())
        except OSError:
            return None
        return json.loads(v)["addr"] if v else None

    def member(self, addr: str) -> Member:
        return next(m for m in self.members if m.addr == addr)

    def wait_leader(self, timeout: float = 30.0, not_addr: str | None = None) -> Member:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            addr = self.leader()
            if addr and addr != not_addr and "running as MASTER" in self.log(self.member(addr)):
                return self.member(addr)
            time.sleep(0.1)
        raise TimeoutError("no leader elected:\n" + "\n".join(self.log(m)[-3000:]
                                                              for m in self.members))

    def wait_attached(self, leader: Member, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` slaves attached to ``leader`` since its last start as master."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log(leader).rsplit("running as MASTER", 1)[-1]
            if text.count("attached at") >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"slaves not attached to {leader.addr}:\n{text[-3000:]}")
            time.sleep(0.1)

    @staticmethod
    def log(m: Member) -> str:
        return m.proc.log() if m.proc is not None else ""

    def stop_member(self, m: Member) -> None:
        if m.proc is not None:
            m.proc.stop()

    def freeze(self, m: Member, frozen: bool) -> None:
        assert m.proc is not None
        os.kill(m.proc.pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def stop(self) -> None:
        for m in self.members:
            if m.proc is not None:
                if m.proc.popen.poll() is None:
                    os.kill(m.proc.pid, signal.SIGCONT)
                m.proc.stop()
        self.namesrv.stop()
        self.etcd.stop()


def start_group(tmp: Path, ttl_ms: int = 4000, extra: tuple[str, ...] = ()) -> Group:
    ns = start_namesrv(tmp)
    try:
        etcd = start_etcd(tmp)
    except Exception:
        ns.stop()
        raise
    return Group(tmp, ns, etcd, ttl_ms=ttl_ms, extra=extra)


def store_bodies(root: Path, topic: str, queues: int = 8) -> set[bytes]:
    """Every body of ``topic`` in a stopped broker's store."""
    from pyrmq.store import MessageStore, StoreConfig
    from rmqtest.store import record_body, split_records

    out: set[bytes] = set()
    cfg = StoreConfig(storePathRootDir=str(root), **STORE_ARGS)
    with MessageStore(str(root), cfg) as s:
        for q in range(queues):
            off = s.min_offset(topic, q)
            while off < s.max_offset(topic, q):
                r = s.get(topic, q, off, 32)
                if not r.count:
                    break
                out.update(record_body(rec) for rec in split_records(r.data))
                off = r.next_begin_offset
    return out


class Ledger:
    """A producer sending unique bodies, remembering which were acknowledged (SEND_OK) and
    when each acknowledged send returned."""

    def __init__(self, ns: str, topic: str) -> None:
        self.ns = ns
        self.topic = topic
        self.acked: set[bytes] = set()
        self.ack_times: list[float] = []
        self.ack_started: list[float] = []  # when each acknowledged send began
        self.other = 0
        self.last_error = ""
        self.stop = False

    async def run(self, deadline: float) -> None:
        async with Producer("PG_FO", self.ns, send_timeout=1.0) as p:
            i = 0
            while not self.stop and time.monotonic() < deadline:
                body = f"fo-{i}".encode()
                i += 1
                started = time.monotonic()
                try:
                    r = await p.send(Message(self.topic, body))
                except Exception as e:  # no route / broker down: retried with the next body
                    self.other += 1
                    self.last_error = str(e)
                    await asyncio.sleep(0.05)
                    # a cached route without a writable queue is kept 30 s by this client
                    # (issue 11 item 0, fixed on the hafast branch): re-query it here
                    with contextlib.suppress(Exception):
                        await p.route(self.topic, refresh=True)
                    continue
                if r.status == SendStatus.SEND_OK:
                    self.acked.add(body)
                    self.ack_times.append(time.monotonic())
                    self.ack_started.append(started)
                else:
                    self.other += 1
                    self.last_error = str(r.status)
                await asyncio.sleep(0.01)

    def acked_since(self, t: float) -> bool:
        return any(begun > t for begun in self.ack_started)

    def gap_after(self, t: float) -> float:
        """Seconds from ``t`` to the first acknowledged send begun after it (an answer the
        dead master sent before ``t`` but read later does not count)."""
        after = [done for begun, done in zip(self.ack_started, self.ack_times, strict=True)
                 if begun > t]
        assert after, "no send acknowledged after the failover"
        return after[0] - t
