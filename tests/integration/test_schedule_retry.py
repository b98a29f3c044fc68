"""The schedule service against a real broker: a delayed message keeps its DELAY property and
arrives after its level's delay; the first retry after RECONSUME_LATER comes back after
level 3 (10 s), as with a Java broker."""

from __future__ import annotations

import asyncio
import time

import pytest
from rmqtest.cluster import running_cluster

from pyrmq.client import ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer
from pyrmq.store.config import DEFAULT_DELAY_LEVELS


@pytest.fixture
def cluster(tmp_path):
    # Java's default levels (the test cluster's fast levels would hide the 10 s schedule).
    with running_cluster(tmp_path, "--set", f"messageDelayLevel={DEFAULT_DELAY_LEVELS}") as c:
        yield c


def _push(ns: str, group: str, topic: str, on, interval: float = 1.0) -> PushConsumer:
    c = PushConsumer(group, ns, consume_from=ConsumeFrom.FIRST_OFFSET,
                     rebalance_interval=interval)
    c.subscribe(topic, "*")
    c.listener = on
    return c


def test_delayed_message_keeps_delay_property(cluster):
    async def main():
        got: list = []
        done = asyncio.Event()

        async def on(msg):
            got.append((time.time(), msg))
            done.set()
            return ConsumeStatus.CONSUME_SUCCESS

        async with _push(cluster.ns_addr, "CG_DELAY", "Delayed", on):
            await asyncio.sleep(2)  # let the consumer own its queues
            async with Producer("PG_DELAY", cluster.ns_addr) as p:
                sent = time.time()
                await p.send(Message("Delayed", b"d", delay_level=1))
            await asyncio.wait_for(done.wait(), 20)
        at, msg = got[0]
        assert msg.properties.get("DELAY") == "1"
        assert msg.topic == "Delayed" and at - sent >= 1.0

    asyncio.run(asyncio.wait_for(main(), 40))


def test_first_retry_comes_back_after_ten_seconds(cluster):
    async def main():
        seen: list[float] = []
        done = asyncio.Event()

        async def on(msg):
            seen.append(time.time())
            if len(seen) == 1:
                return ConsumeStatus.RECONSUME_LATER
            done.set()
            return ConsumeStatus.CONSUME_SUCCESS

        async with Producer("PG_RETRY", cluster.ns_addr) as p:
            await p.send(Message("RetryOnce", b"r"))
        # the default 20 s rebalance interval: the retry queue must be picked up without it
        async with _push(cluster.ns_addr, "CG_RETRY_ONCE", "RetryOnce", on, interval=20.0):
            await asyncio.wait_for(done.wait(), 40)
        assert 10.0 <= seen[1] - seen[0] < 11.0, seen[1] - seen[0]

    asyncio.run(asyncio.wait_for(main(), 60))
