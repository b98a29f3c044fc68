"""pyrmq's own client against real NameServer + Broker processes, and across to the official
C++ client both ways."""

from __future__ import annotations

import asyncio

import pytest
from rmqtest.cluster import driver, msgs, running_cluster

from pyrmq.client import (
    ConsumeFrom,
    ConsumeStatus,
    Message,
    MessageModel,
    Producer,
    PullConsumer,
    PushConsumer,
    SendStatus,
)
from pyrmq.protocol.codes import ResponseCode


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path, "--set", "retryMaxTimes=3") as c:
        yield c


def _push(ns: str, group: str, topic: str, on, expr: str = "*", **kw) -> PushConsumer:
    """A push consumer of ``topic`` from its first offset, rebalancing every second."""
    c = PushConsumer(group, ns, consume_from=ConsumeFrom.FIRST_OFFSET, rebalance_interval=1.0,
                     **kw)
    c.subscribe(topic, expr)
    c.listener = on
    return c


async def _consume(ns: str, group: str, topic: str, expr: str, n: int, *,
                   model=MessageModel.CLUSTERING, fail_first: int = 0, seconds: float = 30,
                   tmp=None) -> list:
    got, fails, done = [], {}, asyncio.Event()

    async def on_message(msg):
        if fails.get(msg.body, 0) < fail_first:
            fails[msg.body] = fails.get(msg.body, 0) + 1
            return ConsumeStatus.RECONSUME_LATER
        got.append(msg)
        if len(got) >= n:
            done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    async with _push(ns, group, topic, on_message, expr, model=model,
                     offset_dir=str(tmp) if tmp else None):
        try:
            await asyncio.wait_for(done.wait(), seconds)
        except asyncio.TimeoutError:
            pass
    return got


def test_producer_modes_and_push_consumer(cluster):
    async def main():
        async with Producer("PG", cluster.ns_addr) as p:
            r = await p.send(Message("Cli", b"sync-0", tags="TagA", keys=["k0", "kk"],
                                     properties={"p": "v"}))
            assert r.status is SendStatus.SEND_OK and len(r.msg_id) == 32
            assert len(r.offset_msg_id) == 32
            await p.send_oneway(Message("Cli", b"oneway-0", tags="TagA"))
            f = p.send_async(Message("Cli", b"async-0", tags="TagA"))
            for i in range(3):
                await p.send_orderly(Message("Cli", f"ord-{i}".encode(), tags="TagA"), "key")
            await p.send(Message("Cli", b"big-" + b"z" * 9000, tags="TagA"))
            b = await p.send_batch([Message("Cli", f"bat-{i}".encode(), tags="TagA")
                                    for i in range(3)])
            assert b.msg_id.count(",") == 2
            await p.send(Message("Cli", b"other", tags="TagB"))
            assert (await f).status is SendStatus.SEND_OK
        got = await _consume(cluster.ns_addr, "CG_CLI", "Cli", "TagA", 10)
        bodies = sorted(m.body for m in got)
        assert bodies == sorted([b"sync-0", b"oneway-0", b"async-0", b"ord-0", b"ord-1",
                                 b"ord-2", b"big-" + b"z" * 9000, b"bat-0", b"bat-1", b"bat-2"])
        first = next(m for m in got if m.body == b"sync-0")
        assert first.keys == ["k0", "kk"] and first.properties["p"] == "v"
        assert all(m.tags == "TagA" for m in got)
        ordered = sorted((m for m in got if m.body.startswith(b"ord-")),
                         key=lambda m: m.queue_offset)
        assert len({m.queue_id for m in ordered}) == 1
        assert [m.body for m in ordered] == [b"ord-0", b"ord-1", b"ord-2"]

    asyncio.run(asyncio.wait_for(main(), 90))


def test_retry_broadcast_and_pull(cluster, tmp_path):
    async def main():
        async with Producer("PG", cluster.ns_addr) as p:
            for i in range(4):
                await p.send(Message("Cli2", f"r-{i}".encode()))
        got = await _consume(cluster.ns_addr, "CG_RETRY2", "Cli2", "*", 4, fail_first=1)
        assert sorted(m.body for m in got) == [f"r-{i}".encode() for i in range(4)]
        assert all(m.reconsume_times >= 1 and m.topic == "Cli2" for m in got)
        a, b = await asyncio.gather(*(
            _consume(cluster.ns_addr, "CG_BC2", "Cli2", "*", 4,
                     model=MessageModel.BROADCASTING, tmp=tmp_path / f"off{i}")
            for i in range(2)))
        assert len({m.body for m in a}) == len({m.body for m in b}) == 4
        pc = PullConsumer("CG_PULL2", cluster.ns_addr)
        total = []
        for mq in await pc.fetch_queues("Cli2"):
            code, _, ms = await pc.pull(mq, "*", 0)
            assert code in (ResponseCode.SUCCESS, ResponseCode.PULL_NOT_FOUND)
            total += ms
        await pc.shutdown()
        assert sorted(m.body for m in total) == [f"r-{i}".encode() for i in range(4)]

    asyncio.run(asyncio.wait_for(main(), 120))


def test_interop_both_ways(cluster):
    async def produce():
        async with Producer("PG", cluster.ns_addr) as p:
            for i in range(5):
                await p.send(Message("Cross", f"py-{i}".encode(), tags="TagA",
                                     keys=[f"key{i}"]))
    asyncio.run(asyncio.wait_for(produce(), 30))
    got = msgs(driver("consume", cluster.ns_addr, "Cross", "CG_CPP", "5", "--expr", "TagA",
                      "--seconds", "30"))
    assert sorted(m["body"] for m in got) == [f"py-{i}" for i in range(5)]
    assert {m["keys"] for m in got} == {f"key{i}" for i in range(5)}
    driver("produce", cluster.ns_addr, "Cross2", "5", "--tags", "TagB", "--prefix", "cpp")
    mine = asyncio.run(_consume(cluster.ns_addr, "CG_PY", "Cross2", "TagB", 5, seconds=40))
    assert sorted(m.body for m in mine) == [f"cpp-{i}".encode() for i in range(5)]
    assert all(m.properties.get("seq") is not None for m in mine)


def test_orderly_push_consumer_in_order_with_local_retry(cluster):
    async def main():
        async with Producer("PG", cluster.ns_addr) as p:
            for i in range(20):
                await p.send_orderly(Message("Ord", f"{i:02d}".encode()), "one-key")
        seen, failed, done = [], set(), asyncio.Event()

        async def on(msg):
            if msg.body == b"05" and b"05" not in failed:
                failed.add(b"05")
                return ConsumeStatus.RECONSUME_LATER  # retried in place, order kept
            seen.append(msg.body)
            if len(seen) >= 20:
                done.set()
            return ConsumeStatus.CONSUME_SUCCESS

        async with _push(cluster.ns_addr, "CG_ORDERLY", "Ord", on, orderly=True):
            await asyncio.wait_for(done.wait(), 30)
        assert seen == [f"{i:02d}".encode() for i in range(20)]

    asyncio.run(asyncio.wait_for(main(), 60))


def test_sync_producer_without_an_event_loop(cluster):
    from pyrmq.client import SyncProducer

    with SyncProducer("PG_SYNC", cluster.ns_addr) as p:
        results = [p.send(Message("SyncT", f"s{i}".encode(), tags="TagA")) for i in range(5)]
        p.send_oneway(Message("SyncT", b"s-oneway", tags="TagA"))
        assert all(r.status is SendStatus.SEND_OK for r in results)
    got = asyncio.run(_consume(cluster.ns_addr, "CG_SYNC", "SyncT", "TagA", 6))
    assert sorted(m.body for m in got) == sorted([f"s{i}".encode() for i in range(5)]
                                                 + [b"s-oneway"])


def test_lite_pull_consumer_subscribe_assign_seek_and_consistent_hash(cluster):
    from pyrmq.client import LitePullConsumer
    from pyrmq.client.rebalance import allocate_consistent_hash

    async def main():
        async with Producer("PG", cluster.ns_addr) as p:
            results = [await p.send(Message("Lite", f"l{i}".encode())) for i in range(12)]
        sub = LitePullConsumer("CG_LITE", cluster.ns_addr, consume_from=ConsumeFrom.FIRST_OFFSET,
                               rebalance_interval=1.0, allocate=allocate_consistent_hash)
        sub.subscribe("Lite")
        await sub.start()
        got = []
        for _ in range(20):
            got += await sub.poll(timeout=1.0)
            if len(got) >= 12:
                break
        await sub.shutdown()
        assert sorted(m.body for m in got) == sorted(f"l{i}".encode() for i in range(12))
        # assign one queue and seek back to its start
        mq = results[0].queue
        lite = LitePullConsumer("CG_LITE2", cluster.ns_addr)
        lite.assign([mq])
        lite.seek(mq, 0)
        await lite.start()
        first = await lite.poll(timeout=10.0)
        await lite.shutdown()
        want = [r for r in results if r.queue == mq]
        assert [m.queue_offset for m in first][:len(want)] == [r.queue_offset for r in want]
        assert all(m.queue_id == mq.queue_id for m in first)

    asyncio.run(asyncio.wait_for(main(), 60))


def test_lz4_compressed_bodies_round_trip(cluster):
    async def main():
        async with Producer("PG_LZ4", cluster.ns_addr, compression="lz4") as p:
            await p.send(Message("Lz4", b"q" * 10_000, tags="TagA"))
        got = await _consume(cluster.ns_addr, "CG_LZ4", "Lz4", "*", 1)
        assert got[0].body == b"q" * 10_000 and got[0].sysflag & 0x700 == 0x100

    asyncio.run(asyncio.wait_for(main(), 60))


def test_reset_offset_reaches_a_live_consumer(cluster):
    import sys

    from rmqtest.procs import REPO

    async def main():
        async with Producer("PG", cluster.ns_addr) as p:
            for i in range(6):
                await p.send(Message("Replay", f"p{i}".encode()))
        got, first, again = [], asyncio.Event(), asyncio.Event()

        async def on(msg):
            got.append(msg.body)
            if len(got) == 6:
                first.set()
            if len(got) == 12:
                again.set()
            return ConsumeStatus.CONSUME_SUCCESS

        async with _push(cluster.ns_addr, "CG_REPLAY", "Replay", on):
            await asyncio.wait_for(first.wait(), 20)
            p = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pyrmq", "resetOffsetByTime", "-n", cluster.ns_addr,
                "-g", "CG_REPLAY", "-t", "Replay", "-s", "0", "--json", cwd=REPO,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(p.communicate(), 30)
            assert p.returncode == 0, err
            await asyncio.wait_for(again.wait(), 20)  # replayed while running
        assert sorted(got[6:]) == sorted(got[:6]) == [f"p{i}".encode() for i in range(6)]

    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_consumer_of_all_1024_benchmark_queues_is_never_refused(cluster, tmp_path):
    """RocketMQ's tconsumer reads BenchmarkTest, a topic of 1,024 queues: its push consumer
    holds a pull for each on one connection. They are all held (none refused SYSTEM_BUSY
    for exceeding the connection's requests in flight) and a message to any queue arrives."""
    ns, n = cluster.ns_addr, 1100  # round robin from a random queue: every queue gets one

    async def main():
        got, done = set(), asyncio.Event()

        async def on(msg):
            got.add(msg.body)
            if len(got) >= n:
                done.set()
            return ConsumeStatus.CONSUME_SUCCESS

        async with _push(ns, "CG_BENCHMARK_ALL", "BenchmarkTest", on) as c:
            async with Producer("PG_BENCHMARK_ALL", ns) as p:
                await asyncio.sleep(2.0)  # rebalanced: a pull held on every queue
                queues = {(await p.send(Message("BenchmarkTest", b"%d" % i))).queue.queue_id
                          for i in range(n)}
            assert len(queues) == 1024
            await asyncio.wait_for(done.wait(), 60)
        assert c is not None
        return got

    assert len(asyncio.run(main())) == n
    log = (tmp_path / "broker.log").read_text(errors="replace")
    assert "refused with 2" not in log and "OVERLOAD" not in log
