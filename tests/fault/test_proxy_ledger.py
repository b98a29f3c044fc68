"""No acknowledged loss through a faulty network: pyrmq's producer sends to a real broker
through :class:`rmqtest.proxy.FaultProxy` while the proxy cycles delay / drop (each way) / cut
mid-frame; a ledger keeps every acknowledged send; afterwards everything is read back directly
from the broker (not through the proxy) and every acknowledged message must be there.
Duplicates are allowed and counted (at-least-once: a send whose answer was lost is retried).

How the client is routed through the proxy: the broker registers ``brokerIP1:listenPort``, its
real address, with *its* NameServer. The producer uses a second NameServer process on which
the test registers the same broker (name, cluster, brokerId 0, the ledger topic) at the
*proxy's* address with an ordinary REGISTER_BROKER. So the route the client gets is a real
NameServer answer, the broker process is unchanged, and only the client's link is faulty; the
read-back goes to the broker's real address. (A broker listening on one port while
registering another is not something brokerIP1/listenPort can express: both come from one
``listenPort``.)
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import socket
import threading
import time
import zlib

import pytest
from rmqtest.cluster import Cluster, running_cluster
from rmqtest.procs import start_namesrv
from rmqtest.proxy import Direction, FaultProxy, Mode

from pyrmq.client.consumer import PullConsumer
from pyrmq.client.message import Message, MessageQueue
from pyrmq.client.producer import Producer, SendError
from pyrmq.protocol.bodies import TopicConfig, data_version, register_broker_body
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.remoting import RemotingClient, RemotingError

pytestmark = [pytest.mark.fault, pytest.mark.timeout(300)]

TOPIC = "LedgerTopic"
QUEUES = 4
SENDERS = 8
ROUNDS = 3


def _long(config: pytest.Config) -> bool:
    return bool(config.getoption("--long")) or os.environ.get("PYRMQ_FUZZ_LONG") == "1"


def _schedule(rng: random.Random) -> list[tuple[str, dict, float]]:
    """One round of faults: (mode, set_mode keywords, seconds)."""
    return [
        ("pass", {"mode": Mode.PASS}, 0.5),
        ("delay", {"mode": Mode.DELAY, "delay_ms": rng.choice([50, 200, 600])}, 1.0),
        ("pass", {"mode": Mode.PASS}, 0.3),
        ("drop up", {"mode": Mode.DROP, "direction": Direction.UP}, 1.2),
        ("pass", {"mode": Mode.PASS}, 0.5),
        ("drop down", {"mode": Mode.DROP, "direction": Direction.DOWN}, 1.2),
        ("pass", {"mode": Mode.PASS}, 0.5),
        ("cut mid-frame", {"mode": Mode.CUT, "cut_after": rng.randrange(1, 400)}, 0.6),
        ("pass", {"mode": Mode.PASS}, 0.5),
        ("cut replies", {"mode": Mode.CUT, "direction": Direction.DOWN,
                         "cut_after": rng.randrange(1, 200)}, 0.6),
    ]


async def _create_topic(cluster: Cluster) -> None:
    c = RemotingClient()
    try:
        r = await c.invoke(cluster.broker_addr, request(RequestCode.UPDATE_AND_CREATE_TOPIC, {
            "topic": TOPIC, "defaultTopic": "TBW102", "readQueueNums": QUEUES,
            "writeQueueNums": QUEUES, "perm": 6, "topicFilterType": "SINGLE_TAG",
            "topicSysFlag": 0, "order": False}), 5)
        assert r.code == ResponseCode.SUCCESS, r.remark
    finally:
        await c.close()


async def _register_at_proxy(c: RemotingClient, ns_addr: str, proxy_addr: str) -> None:
    """REGISTER_BROKER on the client's NameServer: broker-a, master, at the proxy address.
    The NameServer drops a broker when its registering connection closes (as RocketMQ's
    does), so ``c`` stays open for the whole test."""
    topics = {TOPIC: TopicConfig(TOPIC, QUEUES, QUEUES)}
    body = register_broker_body(topics, data_version(int(time.time() * 1000), 1))
    r = await c.invoke(ns_addr, request(RequestCode.REGISTER_BROKER, {
        "brokerName": "broker-a", "brokerAddr": proxy_addr, "clusterName": "DefaultCluster",
        "haServerAddr": proxy_addr, "brokerId": 0, "compressed": False,
        "bodyCrc32": zlib.crc32(body) & 0x7FFFFFFF}, body), 5)
    assert r.code == ResponseCode.SUCCESS, r.remark


async def _read_back(ns_addr: str) -> collections.Counter[bytes]:
    """Every stored body of the ledger topic, pulled from the broker's real address."""
    seen: collections.Counter[bytes] = collections.Counter()
    consumer = PullConsumer("LedgerReader", ns_addr)
    try:
        for q in range(QUEUES):
            mq = MessageQueue(TOPIC, "broker-a", q)
            offset = 0
            for _ in range(100_000):  # bounded: 32 per pull
                code, nxt, msgs = await consumer.pull(mq, "*", offset, 32)
                if code != ResponseCode.SUCCESS or nxt <= offset:
                    break
                seen.update(m.body for m in msgs)
                offset = nxt
    finally:
        await consumer.shutdown()
    return seen


def test_no_acknowledged_loss_through_faulty_link(tmp_path, request):
    rounds = ROUNDS * (10 if _long(request.config) else 1)
    seed = int(os.environ.get("PYRMQ_FUZZ_SEED") or random.randrange(1 << 32))
    print(f"\nproxy ledger: seed {seed} (replay: PYRMQ_FUZZ_SEED={seed}), {rounds} rounds")
    rng = random.Random(seed)
    with running_cluster(tmp_path) as cluster:
        client_ns = start_namesrv(tmp_path)
        try:
            with FaultProxy(cluster.broker_addr) as proxy:
                acked, failed, phases = asyncio.run(_run(cluster, client_ns.port, proxy, rng,
                                                         rounds))
                stats = proxy.stats
            stored = asyncio.run(_read_back(cluster.ns_addr))
        finally:
            client_ns.stop()
    missing = [b for b in acked if b not in stored]
    dups = {b: n for b, n in stored.items() if n > 1}
    unacked_stored = sum(1 for b in stored if b not in acked)
    print(f"proxy ledger: {len(acked)} acknowledged, {failed} sends failed, {len(stored)} "
          f"distinct stored, {sum(dups.values()) - len(dups)} duplicate copies, "
          f"{unacked_stored} stored without an acknowledgement; phases {phases}; "
          f"proxy {stats}")
    assert acked, "nothing was acknowledged: the test exercised nothing"
    assert stats.cut > 0 and stats.dropped["up"] > 0 and stats.dropped["down"] > 0, stats
    assert not missing, (f"seed {seed}: {len(missing)} of {len(acked)} acknowledged messages "
                         f"missing, e.g. {missing[:5]}")


async def _run(cluster: Cluster, client_ns_port: int, proxy: FaultProxy, rng: random.Random,
               rounds: int) -> tuple[set[bytes], int, collections.Counter[str]]:
    client_ns = f"127.0.0.1:{client_ns_port}"
    await _create_topic(cluster)
    registrar = RemotingClient()
    await _register_at_proxy(registrar, client_ns, proxy.addr)
    acked: set[bytes] = set()
    failed = 0
    phases: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()
    producer = Producer("LedgerProducer", client_ns, send_timeout=1.0, retry_times=2)
    await producer.start()
    route = await producer.route(TOPIC)
    assert route.master("broker-a") == proxy.addr, "the client is not routed via the proxy"

    async def sender(worker: int) -> None:
        nonlocal failed
        for seq in range(1_000_000):  # bounded; ends when the schedule sets ``stop``
            if stop.is_set():
                return
            body = f"ledger-{worker}-{seq}".encode()
            try:
                await producer.send(Message(TOPIC, body, keys=[body.decode()]))
                acked.add(body)
            except (SendError, RemotingError, asyncio.TimeoutError):
                failed += 1
                await asyncio.sleep(0.05)

    workers = [asyncio.ensure_future(sender(i)) for i in range(SENDERS)]
    loop = asyncio.get_running_loop()
    try:
        for _ in range(rounds):
            for name, kwargs, seconds in _schedule(rng):
                await loop.run_in_executor(None, lambda kw=kwargs: proxy.set_mode(**kw))
                phases[name] += 1
                await asyncio.sleep(seconds)
        await loop.run_in_executor(None, lambda: proxy.set_mode(Mode.PASS))
        await asyncio.sleep(1.0)  # let retries of the last faulty phase finish
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 30)
        await producer.shutdown()
        await registrar.close()
    return acked, failed, phases


class _Echo:
    """A threaded echo server on 127.0.0.1 (the proxy's target in its own test)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                self.received += data
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


def _silent(s: socket.socket, timeout: float = 0.4) -> bool:
    s.settimeout(timeout)
    try:
        return s.recv(100) is None
    except TimeoutError:
        return True


def test_proxy_modes():
    echo = _Echo()
    try:
        with FaultProxy(echo.addr) as px:
            s = socket.create_connection(("127.0.0.1", px.port), 2)
            s.settimeout(2)
            s.sendall(b"hello")
            assert s.recv(100) == b"hello"
            px.set_mode(Mode.DELAY, delay_ms=200)  # both ways: >= 0.4 s round trip
            t0 = time.monotonic()
            s.sendall(b"slow")
            assert s.recv(100) == b"slow" and time.monotonic() - t0 >= 0.35
            px.set_mode(Mode.DROP, direction=Direction.DOWN)
            s.sendall(b"lost")
            assert _silent(s)
            assert echo.received.endswith(b"lost")  # arrived upstream, answer vanished
            px.set_mode(Mode.PASS)
            s.settimeout(2)
            s.sendall(b"back")
            assert s.recv(100) == b"back"  # the connection survived the drop
            before = len(echo.received)
            px.set_mode(Mode.CUT, direction=Direction.UP, cut_after=3)
            s.sendall(b"abcdef")
            s.settimeout(2)
            try:
                assert s.recv(100) in (b"", b"abc")  # cut after 3 bytes went up
            except ConnectionResetError:
                pass
            time.sleep(0.2)
            assert bytes(echo.received[before:]) == b"abc"
            px.set_mode(Mode.REFUSE)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", px.port), 1)
            px.set_mode(Mode.PARTITION)
            p = socket.create_connection(("127.0.0.1", px.port), 2)  # accepted, then silence
            p.sendall(b"void")
            assert _silent(p)
            px.set_mode(Mode.PASS)
            q = socket.create_connection(("127.0.0.1", px.port), 2)
            q.settimeout(2)
            q.sendall(b"again")
            assert q.recv(100) == b"again"
            assert px.stats.cut >= 1 and px.stats.dropped["up"] >= 4
            for c in (s, p, q):
                c.close()
    finally:
        echo.close()
