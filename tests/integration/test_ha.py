"""Master/slave: the slave replicates the commitlog over the HA port, syncs topics and offsets,
rejects writes, and serves reads when the master is gone; SYNC_MASTER waits for the slave."""

from __future__ import annotations

import asyncio
import time

import pytest
from rmqtest.ha import HaPair

from pyrmq.client import ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer, SendStatus
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.remoting import RemotingClient


async def _max_offsets(addr: str, topic: str, queues: int) -> list[int]:
    c = RemotingClient()
    try:
        out = []
        for q in range(queues):
            r = await c.invoke(addr, request(RequestCode.GET_MAX_OFFSET,
                                             {"topic": topic, "queueId": q}), 3)
            out.append(int(r.ext_fields["offset"]))
        return out
    finally:
        await c.close()


@pytest.fixture
def ha_pair(tmp_path):
    """A SYNC_MASTER and its slave, which learns the master's HA address from the NameServer
    (SYNC_MASTER answers SLAVE_NOT_AVAILABLE until the slave has attached)."""
    pair = HaPair(tmp_path, "SYNC_MASTER", ha_from_namesrv=True)
    try:
        yield pair
    finally:
        pair.stop()


def test_slave_replicates_and_serves_reads_after_master_dies(ha_pair):
    addr, master = ha_pair.ns_addr, ha_pair.master

    async def main():
        async with Producer("PG_HA", addr) as p:
            results = [await p.send(Message("Rep", f"r{i}".encode(), tags="T"))
                       for i in range(40)]
        assert {r.status for r in results} == {SendStatus.SEND_OK}  # SYNC_MASTER + slave
        want = await _max_offsets(ha_pair.maddr, "Rep", 4)
        deadline = time.monotonic() + 20
        while await _max_offsets(ha_pair.saddr, "Rep", 4) != want:
            assert time.monotonic() < deadline, "slave did not catch up"
            await asyncio.sleep(0.2)
        c = RemotingClient()  # the slave refuses writes
        r = await c.invoke(ha_pair.saddr, request(RequestCode.SEND_MESSAGE, {
            "producerGroup": "PG", "topic": "Rep", "defaultTopic": "TBW102",
            "defaultTopicQueueNums": 4, "queueId": 0, "sysFlag": 0, "bornTimestamp": 1,
            "flag": 0}, b"x"), 3)
        await c.close()
        assert r.code == ResponseCode.SERVICE_NOT_AVAILABLE
        await asyncio.sleep(1.5)  # the slave's first config sync (topics) has run

    asyncio.run(asyncio.wait_for(main(), 60))
    master.kill9()

    async def consume():
        got, done = [], asyncio.Event()

        async def on(msg):
            got.append(msg.body)
            if len(set(got)) >= 40:
                done.set()
            return ConsumeStatus.CONSUME_SUCCESS

        c = PushConsumer("CG_HA", addr, consume_from=ConsumeFrom.FIRST_OFFSET,
                         rebalance_interval=1.0)
        c.subscribe("Rep", "T")
        c.listener = on
        await c.start()
        try:
            await asyncio.wait_for(done.wait(), 30)
        finally:
            await c.shutdown()
        return got

    got = asyncio.run(asyncio.wait_for(consume(), 60))
    assert set(got) == {f"r{i}".encode() for i in range(40)}


def test_sync_master_without_slave_reports_slave_not_available(ha_pair):
    ha_pair.slave.stop()
    time.sleep(1.0)

    async def main():
        async with Producer("PG_HA2", ha_pair.ns_addr) as p:
            r = await p.send(Message("Rep2", b"x"))
        return r.status

    assert asyncio.run(asyncio.wait_for(main(), 30)) is SendStatus.SLAVE_NOT_AVAILABLE
