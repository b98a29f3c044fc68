"""Batch listeners and the pipelined push consumer against real NameServer + Broker processes:
a non-blocking batch listener gets lists, a RECONSUME_LATER batch comes back whole through the
retry topic, and the committed offsets end at the queues' max offsets."""

from __future__ import annotations

import asyncio

import pytest
from rmqtest.cluster import running_cluster

from pyrmq.client import ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path, "--set", "retryMaxTimes=3") as c:
        yield c


def test_batch_listener_retry_of_a_whole_batch_and_committed_offsets(cluster):
    async def main():
        async with Producer("PG_BATCH", cluster.ns_addr) as p:
            for i in range(0, 60, 10):
                await p.send_batch([Message("Batch", f"b-{j}".encode(), tags="A")
                                    for j in range(i, i + 10)])
        batches: list[list[bytes]] = []
        done = asyncio.Event()
        failed: set[bytes] = set()
        ok: set[bytes] = set()

        def on(msgs):  # plain function, never blocks: called on the loop, one call per batch
            assert isinstance(msgs, list) and 1 <= len(msgs) <= 4
            bodies = [m.body for m in msgs]
            batches.append(bodies)
            if not failed and all(m.reconsume_times == 0 for m in msgs) and len(msgs) > 1:
                failed.update(bodies)  # the first full batch goes back, all of it
                return ConsumeStatus.RECONSUME_LATER
            ok.update(bodies)
            if len(ok) >= 60:
                done.set()
            return ConsumeStatus.CONSUME_SUCCESS

        c = PushConsumer("CG_BATCH", cluster.ns_addr, consume_from=ConsumeFrom.FIRST_OFFSET,
                         rebalance_interval=1.0, consume_batch_max_size=4,
                         nonblocking_listener=True)
        c.subscribe("Batch", "A")
        c.listener = on
        await c.start()
        try:
            await asyncio.wait_for(done.wait(), 60)
            queues = [mq for mq in c.offsets if mq.topic == "Batch"]
            maxes = {mq: await c.max_offset(mq) for mq in queues}
        finally:
            await c.shutdown()
        assert ok == {f"b-{j}".encode() for j in range(60)}
        assert failed and failed <= ok  # every message of the failed batch came back
        assert sum(maxes.values()) == 60 and all(c.offsets[mq] == maxes[mq] for mq in queues)
        probe = PushConsumer("CG_BATCH", cluster.ns_addr)  # what the broker committed
        probe.routes = c.routes
        try:
            for mq in queues:
                assert await probe.query_consumer_offset(mq) == maxes[mq]
        finally:
            await probe.remoting.close()
    asyncio.run(asyncio.wait_for(main(), 120))
