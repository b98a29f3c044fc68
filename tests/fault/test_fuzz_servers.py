"""Fuzz a live NameServer and a live Broker (real processes on 127.0.0.1) with hostile input:
random bytes (whole and split), oversized length prefixes, well-framed JSON / ROCKETMQ-binary
frames with mutated codes, header fields, extFields and bodies, and slowloris connections.

Between rounds, and at the end, the servers must still do their job: a route query at the
NameServer; a send and a pull of that message, a send to a new topic and the admin listings
at the broker; the new topic's route must reach the NameServer (registration still works).
At the end: both processes alive, nothing written outside the store root (the store is
``sandbox/a/b/c/d/store``; every ``../`` name the fuzzer makes lands inside ``sandbox``), and
their logs free of Python tracebacks and asyncio's "Fatal error: protocol.data_received()",
and not flooded (bad input is a rate-limited one-line log, not a line per input).

The seed is printed; replay a run with ``PYRMQ_FUZZ_SEED=<seed>``. ``--long`` (or
``PYRMQ_FUZZ_LONG=1``) runs 10x the inputs. All failures of a run are collected and reported
together, so one run shows every broken invariant.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import re
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rmqtest.cluster import Cluster, running_cluster
from rmqtest.fuzz import FrameFuzzer
from rmqtest.procs import Proc

from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.frame import FrameDecoder, encode
from pyrmq.protocol.message import decode_records
from pyrmq.remoting import RemotingClient

pytestmark = [pytest.mark.fault, pytest.mark.timeout(600)]

HEALTH_TOPIC = "HealthTopic"
HEALTH_GROUP = "HealthGroup"
ROUNDS = 5
FRAMES_PER_SESSION = 50
CONCURRENCY = 6
MAX_LOG_LINES = 1000   # per process and run; --long allows 10x
TIME_BOUND = 40.0      # s of fuzzing per server (--long: 10x); past it, on to the checks
MEMORY_LIMIT = 4 << 30  # RLIMIT_AS of the fuzzed processes

NAMESRV_CODES = [RC.REGISTER_BROKER, RC.UNREGISTER_BROKER, RC.GET_ROUTEINFO_BY_TOPIC,
                 RC.GET_BROKER_CLUSTER_INFO, RC.GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
                 RC.GET_TOPICS_BY_CLUSTER, RC.DELETE_TOPIC_IN_NAMESRV,
                 RC.WIPE_WRITE_PERM_OF_BROKER, RC.QUERY_DATA_VERSION, RC.PUT_KV_CONFIG,
                 RC.GET_KV_CONFIG, RC.DELETE_KV_CONFIG, RC.GET_KVLIST_BY_NAMESPACE]
BROKER_CODES = [RC.SEND_MESSAGE, RC.SEND_MESSAGE_V2, RC.SEND_BATCH_MESSAGE, RC.PULL_MESSAGE,
                RC.HEART_BEAT, RC.UNREGISTER_CLIENT, RC.GET_CONSUMER_LIST_BY_GROUP,
                RC.QUERY_CONSUMER_OFFSET, RC.UPDATE_CONSUMER_OFFSET, RC.GET_MAX_OFFSET,
                RC.GET_MIN_OFFSET, RC.SEARCH_OFFSET_BY_TIMESTAMP, RC.GET_EARLIEST_MSG_STORETIME,
                RC.CONSUMER_SEND_MSG_BACK, RC.LOCK_BATCH_MQ, RC.UNLOCK_BATCH_MQ,
                RC.UPDATE_AND_CREATE_TOPIC, RC.DELETE_TOPIC_IN_BROKER, RC.GET_ALL_TOPIC_CONFIG,
                RC.GET_TOPIC_NAME_LIST, RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
                RC.DELETE_SUBSCRIPTIONGROUP, RC.GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
                RC.GET_ALL_CONSUMER_OFFSET, RC.GET_ALL_DELAY_OFFSET, RC.GET_BROKER_CONFIG,
                RC.GET_BROKER_RUNTIME_INFO, RC.VIEW_MESSAGE_BY_ID, RC.QUERY_MESSAGE,
                RC.GET_TOPIC_STATS_INFO, RC.GET_CONSUME_STATS, RC.GET_CONSUMER_CONNECTION_LIST,
                RC.GET_PRODUCER_CONNECTION_LIST, RC.UPDATE_BROKER_CONFIG,
                RC.INVOKE_BROKER_TO_RESET_OFFSET, RC.END_TRANSACTION,
                RC.QUERY_TOPIC_CONSUME_BY_WHO, RC.GET_CONSUMER_RUNNING_INFO,
                RC.CONSUME_MESSAGE_DIRECTLY, RC.GET_BROKER_CONSUME_STATS]


def _long(config: pytest.Config) -> bool:
    return bool(config.getoption("--long")) or os.environ.get("PYRMQ_FUZZ_LONG") == "1"


@dataclass
class Tally:
    """What was sent and how the sessions ended (printed; only the invariants are asserted)."""

    inputs: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, kind: str, n: int = 1) -> None:
        self.inputs[kind] = self.inputs.get(kind, 0) + n

    def outcome(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.inputs.values())


# -- sessions (one connection each) ----------------------------------------------------------

async def _open(addr: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = addr.rsplit(":", 1)
    return await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)


async def _garbage_session(addr: str, chunks: list[bytes]) -> None:
    """Write ``chunks`` as separate writes, then close at once (the server must cope)."""
    _, w = await _open(addr)
    try:
        for c in chunks:
            w.write(c)
            await w.drain()
            await asyncio.sleep(0)
    except OSError:
        pass
    finally:
        w.transport.abort()


async def _framed_session(addr: str, frames: list[bytes], sentinel: RemotingCommand,
                          tally: Tally) -> None:
    """Pipeline ``frames`` then a sentinel request; wait (bounded) for the sentinel's answer.
    Long-polling pulls may stay unanswered, so only the sentinel is waited for."""
    r, w = await _open(addr)
    dec = FrameDecoder()
    try:
        for f in frames:
            w.write(f)
        w.write(encode(sentinel))
        await w.drain()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(r.read(65536), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
            if not data:
                tally.outcome("closed by server")
                return
            try:
                if any(c.opaque == sentinel.opaque and c.is_response for c in dec.feed(data)):
                    tally.outcome("sentinel answered")
                    return
            except RemoteProtocolError as e:
                tally.failures.append(f"server sent an undecodable frame: {e}")
                return
        tally.outcome("sentinel unanswered after 5 s")
    except (OSError, asyncio.IncompleteReadError):
        tally.outcome("connection reset")
    finally:
        w.transport.abort()


async def _slowloris(addr: str, fz: FrameFuzzer, n: int, seconds: float) -> None:
    """``n`` connections each dribbling the start of a frame, a few bytes at a time, then
    closing without finishing it."""
    async def one(part: bytes, pace: float) -> None:
        try:
            _, w = await _open(addr)
        except (OSError, asyncio.TimeoutError):
            return
        try:
            end = time.monotonic() + seconds
            pos = 0
            while pos < len(part) and time.monotonic() < end:
                w.write(part[pos:pos + 3])
                pos += 3
                await asyncio.sleep(pace)
        except OSError:
            pass
        finally:
            w.transport.abort()
    await asyncio.gather(*(one(fz.partial_frame(), 0.02 + fz.rng.random() * 0.08)
                           for _ in range(n)))


# -- health ----------------------------------------------------------------------------------

def _send_fields(topic: str, queue_id: int = 0) -> dict:
    return {"producerGroup": "HealthProducer", "topic": topic, "defaultTopic": "TBW102",
            "defaultTopicQueueNums": 4, "queueId": queue_id, "sysFlag": 0,
            "bornTimestamp": int(time.time() * 1000), "flag": 0, "properties": "",
            "reconsumeTimes": 0, "unitMode": False, "batch": False}


class Health:
    """Normal requests to both servers; each problem is returned as a line (empty: healthy)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.round = 0

    async def setup(self) -> None:
        c = RemotingClient()
        try:
            r = await c.invoke(self.cluster.broker_addr, request(RC.UPDATE_AND_CREATE_TOPIC, {
                "topic": HEALTH_TOPIC, "defaultTopic": "TBW102", "readQueueNums": 1,
                "writeQueueNums": 1, "perm": 6, "topicFilterType": "SINGLE_TAG",
                "topicSysFlag": 0, "order": False}), 5)
            assert r.code == ResponseCode.SUCCESS, r.remark
            assert await self._route_appears(c, HEALTH_TOPIC, 15), "health topic not routed"
        finally:
            await c.close()

    async def _route_appears(self, c: RemotingClient, topic: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = await c.invoke(self.cluster.ns_addr,
                               request(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": topic}), 5)
            if r.code == ResponseCode.SUCCESS and self.cluster.broker_addr.encode() in r.body:
                return True
            await asyncio.sleep(0.2)
        return False

    async def check(self, when: str, registration_timeout: float = 0.0) -> list[str]:
        self.round += 1
        problems: list[str] = []
        for p, what in ((self.cluster.namesrv, "NameServer"), (self.cluster.broker, "Broker")):
            if p.popen.poll() is not None:
                problems.append(f"{when}: {what} exited with {p.popen.returncode}")
        if problems:
            return problems
        c = RemotingClient()
        broker = self.cluster.broker_addr
        try:
            r = await c.invoke(self.cluster.ns_addr, request(
                RC.GET_ROUTEINFO_BY_TOPIC, {"topic": HEALTH_TOPIC}), 5)
            if r.code != ResponseCode.SUCCESS or broker.encode() not in r.body:
                problems.append(f"{when}: route query answered {r.code} {r.remark!r} without "
                                f"{broker}: {r.body[:300]!r}")
            payload = f"health-{self.round}-{time.monotonic_ns()}".encode()
            s = await c.invoke(broker, request(RC.SEND_MESSAGE, _send_fields(HEALTH_TOPIC),
                                               payload), 5)
            if s.code != ResponseCode.SUCCESS:
                problems.append(f"{when}: send answered {s.code} {s.remark!r}")
            else:
                p = await c.invoke(broker, request(RC.PULL_MESSAGE, {
                    "consumerGroup": HEALTH_GROUP, "topic": HEALTH_TOPIC, "queueId": 0,
                    "queueOffset": s.ext_fields["queueOffset"], "maxMsgNums": 1,
                    "sysFlag": 4,  # PullSysFlag.FLAG_SUBSCRIPTION: the expression is inline
                    "commitOffset": 0, "suspendTimeoutMillis": 0, "subscription": "*",
                    "subVersion": 0}), 5)
                if p.code != ResponseCode.SUCCESS or [m.body for m in decode_records(p.body)] \
                        != [payload]:
                    problems.append(f"{when}: pull of the sent message answered {p.code} "
                                    f"{p.remark!r}")
            topic = f"Health{self.round}"
            n = await c.invoke(broker, request(RC.SEND_MESSAGE, _send_fields(topic), b"x"), 5)
            if n.code != ResponseCode.SUCCESS:
                problems.append(f"{when}: send to new topic {topic} answered {n.code} "
                                f"{n.remark!r}")
            for code in (RC.GET_ALL_TOPIC_CONFIG, RC.GET_ALL_SUBSCRIPTIONGROUP_CONFIG):
                a = await c.invoke(broker, request(code), 5)
                if a.code != ResponseCode.SUCCESS:
                    problems.append(f"{when}: {code.name} answered {a.code} {a.remark!r}")
            if registration_timeout and not await self._route_appears(c, topic,
                                                                      registration_timeout):
                problems.append(f"{when}: new topic {topic} never reached the NameServer in "
                                f"{registration_timeout:.0f} s (broker registration broken)")
        except Exception as e:  # a dead or stuck server: report, do not stop the run
            problems.append(f"{when}: health request failed: {type(e).__name__}: {e}")
        finally:
            await c.close()
        return problems


# -- the run ---------------------------------------------------------------------------------

def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _outside_store(tmp: Path, store: Path) -> list[str]:
    """Paths under ``tmp`` that are neither the store, its parent chain, nor the logs."""
    chain = {p for p in store.relative_to(tmp).parents if str(p) != "."}
    prefix = str(store.relative_to(tmp)) + os.sep
    return sorted(f for f in _files(tmp)
                  if not (f.startswith(prefix) or f == str(store.relative_to(tmp))
                          or Path(f) in chain or (os.sep not in f and f.endswith(".log"))))


STORE_ENTRIES = {"abort", "checkpoint", "commitlog", "config", "consumequeue", "index", "lock",
                 "prealloc"}  # the next commitlog segment, made ahead of the roll
TOPIC_DIR = re.compile(r"^[%|a-zA-Z0-9_-]{1,255}$")  # RocketMQ's topic characters


def _store_layout_problems(store: Path) -> list[str]:
    """Inside the store root: only the store's own entries, and consume-queue directories
    named like topics (a ``../`` name resolved inside the store leaves ``%DLQ%..`` or
    ``%RETRY%..`` directories behind, or lands in another topic's directory)."""
    problems = []
    odd = sorted(p.name for p in store.iterdir() if p.name not in STORE_ENTRIES)
    if odd:
        problems.append(f"unexpected entries in the store root {store}: {odd[:20]}")
    cq = store / "consumequeue"
    bad = sorted(p.name for p in cq.iterdir() if not TOPIC_DIR.match(p.name)) \
        if cq.is_dir() else []
    if bad:
        problems.append(f"consume-queue directories not named like topics: {bad[:20]!r}")
    return problems


def _exceptions(lines: list[str], hits: list[int]) -> str:
    """The distinct exception lines ending the tracebacks at ``hits``, most frequent first,
    each with the last frame of pyrmq it came from."""
    seen: collections.Counter[str] = collections.Counter()
    for i in hits:
        where = "?"
        for j in range(i + 1, min(i + 200, len(lines))):
            line = lines[j]
            if line.lstrip().startswith("File ") and "/pyrmq/" in line:
                where = line.strip().split("/pyrmq/", 1)[1]
            elif line and not line[0].isspace() and not line.startswith("Traceback"):
                seen[f"{line[:160]}  [at pyrmq/{where}]"] += 1
                break
    return "".join(f"\n      {n} x {text}" for text, n in seen.most_common(12))


def _log_problems(name: str, text: str, max_lines: int) -> list[str]:
    problems = []
    lines = text.splitlines()
    for needle in ("Traceback (most recent call last)",
                   "Fatal error: protocol.data_received() call failed"):
        hits = [i for i, line in enumerate(lines) if needle in line]
        if hits:
            problems.append(f"{name} log: {len(hits)} x {needle!r}; raised: "
                            + _exceptions(lines, hits))
    if len(lines) >= max_lines:
        problems.append(f"{name} log flooded: {len(lines)} lines (limit {max_lines}); "
                        f"last: {lines[-1][:200]!r}")
    return problems


async def _round(addr: str, proc: Proc, fz: FrameFuzzer, codes: list[int], sessions: int,
                 hostile: int, garbage: int, deadline: float, tally: Tally) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)
    sentinel_code = RC.GET_ROUTEINFO_BY_TOPIC if codes is NAMESRV_CODES \
        else RC.GET_BROKER_RUNTIME_INFO

    async def limited(coro) -> None:  # noqa: ANN001
        async with sem:
            if time.monotonic() > deadline or proc.popen.poll() is not None:
                coro.close()  # out of time, or the server is gone: stop feeding it
                tally.outcome("skipped (time bound or server gone)")
                return
            try:
                await coro
            except (OSError, asyncio.TimeoutError) as e:
                tally.outcome(f"connect failed: {type(e).__name__}")

    jobs = []
    for _ in range(hostile):
        frames = [fz.frame(codes if fz.rng.random() < 0.7 else None, hostile_header=True)]
        tally.add("frames with hostile headers")
        sentinel = request(sentinel_code, {"topic": HEALTH_TOPIC}, opaque=0x7FFFFFF0)
        jobs.append(limited(_framed_session(addr, frames, sentinel, tally)))
    for _ in range(sessions):
        frames = [fz.frame(codes if fz.rng.random() < 0.7 else None)
                  for _ in range(FRAMES_PER_SESSION)]
        tally.add("well-framed mutated frames", len(frames))
        sentinel = request(sentinel_code, {"topic": HEALTH_TOPIC}, opaque=0x7FFFFFF0)
        jobs.append(limited(_framed_session(addr, frames, sentinel, tally)))
    for i in range(garbage):
        if i % 5 == 0:
            data, kind = fz.oversized_prefix(), "oversized length prefixes"
        else:
            data, kind = fz.random_bytes(), "random bytes"
        tally.add(kind)
        split = fz.rng.random() < 0.5
        jobs.append(limited(_garbage_session(addr, fz.split(data) if split else [data])))
    fz.rng.shuffle(jobs)
    await asyncio.gather(*jobs)


def _fuzz(cluster: Cluster, tmp: Path, sandbox: Path, store: Path, target: str,
          long: bool) -> None:
    seed = int(os.environ.get("PYRMQ_FUZZ_SEED") or random.randrange(1 << 32))
    scale = 10 if long else 1
    print(f"\nfuzz {target}: seed {seed} (replay: PYRMQ_FUZZ_SEED={seed})"
          f"{' --long' if long else ''}")
    addr, codes = ((cluster.ns_addr, NAMESRV_CODES) if target == "namesrv"
                   else (cluster.broker_addr, BROKER_CODES))
    proc = cluster.namesrv if target == "namesrv" else cluster.broker
    health = Health(cluster)
    tally = Tally()
    started = time.monotonic()
    deadline = started + TIME_BOUND * scale
    for p in (cluster.namesrv, cluster.broker):
        # an unbounded allocation must fail inside the process, not OOM the machine
        resource.prlimit(p.pid, resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    async def run() -> None:
        await health.setup()
        for rnd in range(ROUNDS * scale):
            fz = FrameFuzzer(random.Random(f"{seed}:{rnd}"), str(sandbox))
            if time.monotonic() > deadline:
                print(f"fuzz {target}: time bound reached after {rnd} rounds")
                break
            await _round(addr, proc, fz, codes, sessions=100, hostile=300, garbage=400,
                         deadline=deadline, tally=tally)
            if rnd == 2:  # slowloris, with a health check while it runs
                loris = asyncio.ensure_future(_slowloris(addr, fz, 200, 1.5))
                await asyncio.sleep(0.3)
                tally.failures += await health.check(f"during slowloris (round {rnd})")
                await loris
                tally.add("slowloris connections", 200)
            problems = await health.check(f"after round {rnd} ({tally.total} inputs)")
            tally.failures += problems
            if problems and (proc.popen.poll() is not None or "failed:" in problems[-1]):
                break  # dead or stuck: the rest of the run would only wait on timeouts
        tally.failures += await health.check("at the end", registration_timeout=10)
        outside = _outside_store(tmp, store)
        if outside:
            tally.failures.append("written outside the store root " + str(store) + ": "
                                  + ", ".join(sorted(outside)[:20]))
        tally.failures += _store_layout_problems(store)

    quiet = logging.getLogger("asyncio")  # our own writes to connections the server closed
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        asyncio.run(run())
    finally:
        quiet.setLevel(level)
    elapsed = time.monotonic() - started
    tally.failures += _log_problems(target, proc.log(), MAX_LOG_LINES * scale)
    print(f"fuzz {target}: {tally.total} inputs in {elapsed:.1f} s: {tally.inputs}")
    print(f"fuzz {target}: sessions {tally.outcomes}")
    assert not tally.failures, (f"seed {seed} (PYRMQ_FUZZ_SEED={seed}), {tally.total} inputs: "
                                + "\n  - ".join(["", *tally.failures]))


@pytest.fixture
def sandboxed(tmp_path):
    """A cluster whose store root is ``tmp/sandbox/a/b/c/d/store``."""
    sandbox = tmp_path / "sandbox"
    store = sandbox / "a" / "b" / "c" / "d" / "store"
    store.mkdir(parents=True)
    with running_cluster(tmp_path, "--store", str(store),
                         "--set", "mappedFileSizeConsumeQueue=6000",
                         "--set", "maxMessageSize=65536") as c:
        yield c, tmp_path, sandbox, store


def test_fuzz_namesrv(sandboxed, request):
    cluster, tmp, sandbox, store = sandboxed
    _fuzz(cluster, tmp, sandbox, store, "namesrv", _long(request.config))


def test_fuzz_broker(sandboxed, request):
    cluster, tmp, sandbox, store = sandboxed
    _fuzz(cluster, tmp, sandbox, store, "broker", _long(request.config))
