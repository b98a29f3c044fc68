"""Master/slave takeover as 4.9 does it, with real processes: a slave never moves a consumer's
offset (PULL_RETRY_IMMEDIATELY at the requested offset), pyrmq's consumer switches to the slave
on the first failed pull, its producer re-queries the route and resumes as soon as the master
is back, offsets committed to the slave survive its sync and reach the master, and a master
with an attached slave stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from rmqtest.ha import HaPair
from rmqtest.procs import until

from pyrmq.client import ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer
from pyrmq.client.base import ConsumerBase
from pyrmq.client.message import MessageQueue
from pyrmq.client.producer import SendError
from pyrmq.protocol.bodies import parse_subscription
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.headers import PullMessageRequestHeader, PullMessageResponseHeader
from pyrmq.remoting import RemotingClient


@pytest.fixture
def pair(tmp_path):
    p = HaPair(tmp_path, "ASYNC_MASTER")
    try:
        yield p
    finally:
        p.stop()


async def _invoke(addr: str, code: int, fields: dict, timeout: float = 5.0):
    c = RemotingClient()
    try:
        return await c.invoke(addr, request(code, fields), timeout)
    finally:
        await c.close()


async def _send(ns_addr: str, topic: str, n: int) -> None:
    async with Producer("PG_TAKE", ns_addr) as p:
        for i in range(n):
            await p.send(Message(topic, f"m{i}".encode()))


async def _max_offset(addr: str, topic: str, qid: int) -> int:
    r = await _invoke(addr, RequestCode.GET_MAX_OFFSET, {"topic": topic, "queueId": qid})
    return int(r.ext_fields["offset"])


async def _caught_up(pair: HaPair, topic: str, queues: int = 4, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    for q in range(queues):
        while await _max_offset(pair.saddr, topic, q) != await _max_offset(pair.maddr, topic, q):
            assert time.monotonic() < deadline, "slave did not catch up"
            await asyncio.sleep(0.2)


def test_master_sigterm_with_attached_slave_logs_no_traceback(pair):
    assert pair.master.stop() == 0
    log = pair.master.log()
    assert "Traceback" not in log and "ERROR" not in log, log


def _pull_fields(group: str, topic: str, qid: int, offset: int) -> dict:
    return PullMessageRequestHeader(group, topic, qid, offset, 32, 4, 0, 0, 0, "*",
                                    "TAG").to_ext()


def test_slave_never_moves_an_offset_beyond_its_end(pair, caplog):
    async def main():
        await _send(pair.ns_addr, "Ahead", 20)
        await _caught_up(pair, "Ahead")
        await asyncio.sleep(1.5)  # the slave's first config sync (topics) has run
        end = await _max_offset(pair.saddr, "Ahead", 0)
        ahead = end + 100
        r = await _invoke(pair.saddr, RequestCode.PULL_MESSAGE,
                          _pull_fields("CG_AHEAD", "Ahead", 0, ahead))
        assert r.code == ResponseCode.PULL_RETRY_IMMEDIATELY, (r.code, r.remark)
        h = PullMessageResponseHeader.from_ext(r.ext_fields)
        assert h.next_begin_offset == ahead and h.suggest_which_broker_id == 0
        # the master does correct it (to its end: the queue's min offset is 0, so to 0 as 4.9)
        r = await _invoke(pair.maddr, RequestCode.PULL_MESSAGE,
                          _pull_fields("CG_AHEAD", "Ahead", 0, ahead))
        assert r.code == ResponseCode.PULL_OFFSET_MOVED
        c = ConsumerBase("CG_AHEAD", pair.ns_addr, "T")  # a client accepts it, saying so
        await c.route("Ahead")
        with caplog.at_level(logging.WARNING, "pyrmq.client"):
            code, nxt, _ = await c.pull_once(MessageQueue("Ahead", "broker-a", 0),
                                             parse_subscription("Ahead", "*", 0), ahead)
        await c.shutdown()
        assert (code, nxt) == (ResponseCode.PULL_OFFSET_MOVED, 0)
        assert f"back from {ahead} to 0" in caplog.text
        # an ordinary pull from the slave still finds the messages
        r = await _invoke(pair.saddr, RequestCode.PULL_MESSAGE,
                          _pull_fields("CG_AHEAD", "Ahead", 0, 0))
        assert r.code == ResponseCode.SUCCESS
        assert PullMessageResponseHeader.from_ext(r.ext_fields).next_begin_offset == end

    asyncio.run(asyncio.wait_for(main(), 60))


async def _query(addr: str, group: str, topic: str, qid: int) -> int:
    r = await _invoke(addr, RequestCode.QUERY_CONSUMER_OFFSET,
                      {"consumerGroup": group, "topic": topic, "queueId": qid})
    return int(r.ext_fields["offset"]) if r.code == ResponseCode.SUCCESS else -1


def _check(coro, want: int) -> None:
    got = asyncio.run(asyncio.wait_for(coro, 10))
    assert got == want, got


def test_offsets_committed_to_the_slave_survive_its_sync_and_reach_the_master(pair):
    async def setup():
        await _send(pair.ns_addr, "Offs", 20)
        await _caught_up(pair, "Offs")
        await _invoke(pair.maddr, RequestCode.UPDATE_CONSUMER_OFFSET, {
            "consumerGroup": "CG_OFFS", "topic": "Offs", "queueId": 0, "commitOffset": 1})

    asyncio.run(asyncio.wait_for(setup(), 60))
    until(lambda: _check(_query(pair.saddr, "CG_OFFS", "Offs", 0), 1), 20)  # synced
    pair.master.kill9()

    async def commit_to_slave():
        r = await _invoke(pair.saddr, RequestCode.UPDATE_CONSUMER_OFFSET, {
            "consumerGroup": "CG_OFFS", "topic": "Offs", "queueId": 0, "commitOffset": 4})
        assert r.code == ResponseCode.SUCCESS
        assert await _query(pair.saddr, "CG_OFFS", "Offs", 0) == 4

    asyncio.run(asyncio.wait_for(commit_to_slave(), 20))
    pair.start_master()  # its offset file still says 1 (or less: flushed every 5 s)
    until(lambda: _check(_query(pair.maddr, "CG_OFFS", "Offs", 0), 4), 30)
    assert asyncio.run(_query(pair.saddr, "CG_OFFS", "Offs", 0)) == 4
    assert "carried offset 4" in pair.slave.log()


def test_consumer_takes_over_on_the_slave_at_once_without_duplicates(pair):
    """Queue 0 only: A0 is consumed from the master and its listener held while B0..B19 are
    stored and replicated; the master is SIGKILLed, the listener released, and the next pulls
    must go to the slave (the route still names the master; rebalance every 20 s)."""
    q0 = MessageQueue("Take", "broker-a", 0)
    got: list[bytes] = []
    times: dict[bytes, float] = {}
    gate = asyncio.Event()

    async def main():
        async with Producer("PG_TAKE", pair.ns_addr) as p:
            await p.send(Message("Take", b"warm"), queue=q0)

            async def on(msg):
                got.append(msg.body)
                times.setdefault(msg.body, time.monotonic())
                if msg.body == b"A0":
                    await gate.wait()
                return ConsumeStatus.CONSUME_SUCCESS

            c = PushConsumer("CG_TAKE", pair.ns_addr, consume_from=ConsumeFrom.FIRST_OFFSET)
            c.subscribe("Take", "*")
            c.listener = on
            await c.start()
            try:
                await p.send(Message("Take", b"A0"), queue=q0)
                deadline = time.monotonic() + 30
                while b"A0" not in got:
                    assert time.monotonic() < deadline, got
                    await asyncio.sleep(0.1)
                for i in range(20):
                    await p.send(Message("Take", f"B{i}".encode()), queue=q0)
                await _caught_up(pair, "Take", 1)
                pair.master.kill9()
                killed = time.monotonic()
                gate.set()
                deadline = time.monotonic() + 20
                while len(set(got)) < 22:
                    assert time.monotonic() < deadline, got
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # nothing more arrives
            finally:
                await c.shutdown()
        return killed

    killed = asyncio.run(asyncio.wait_for(main(), 90))
    want = [b"warm", b"A0"] + [f"B{i}".encode() for i in range(20)]
    assert sorted(got) == sorted(want)  # each exactly once
    assert times[b"B0"] - killed < 10  # from the slave, not after a 20 s rebalance / 30 s poll


def test_producer_resumes_when_the_master_returns_without_a_route_poll(pair):
    async def before():
        p = Producer("PG_BACK", pair.ns_addr)
        await p.start()
        await p.send(Message("Back", b"first"))
        return p

    async def outage(p):
        t0, fails = time.monotonic(), 0
        while time.monotonic() - t0 < 3:
            try:
                await p.send(Message("Back", b"lost?"))
            except SendError:
                fails += 1
        return fails

    async def after(p):
        t0 = time.monotonic()
        try:
            while True:
                try:
                    r = await p.send(Message("Back", b"again"))
                    return r, time.monotonic() - t0
                except SendError:
                    assert time.monotonic() - t0 < 25, "no send succeeded after the return"
        finally:
            await p.shutdown()

    loop = asyncio.new_event_loop()
    try:
        p = loop.run_until_complete(before())
        pair.master.kill9()
        fails = loop.run_until_complete(asyncio.wait_for(outage(p), 30))
        assert 0 < fails < 60  # retries are paused, not spun (thousands a second)
        pair.start_master()
        r, took = loop.run_until_complete(asyncio.wait_for(after(p), 40))
    finally:
        loop.close()
    assert r.status.name == "SEND_OK"
    assert took < 10, took  # the 30 s route poll was not waited for
