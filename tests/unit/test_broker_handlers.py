"""Broker handlers driven without sockets or a Broker: a BrokerContext over a real store and
fresh managers, a fake connection, typed headers in and out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from rmqtest.store import small_config

from pyrmq.broker import consumer, pull, send
from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.context import BrokerContext
from pyrmq.protocol import headers as H
from pyrmq.protocol.codes import PullSysFlag, RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.message import decode_records, encode_properties
from pyrmq.store import MessageStore


@dataclass
class FakeConn:
    """What handlers read from a connection."""

    remote_addr: str = "127.0.0.1:40000"
    id: int = 1
    attrs: dict = field(default_factory=dict)
    parked_now: int = 0

    @contextlib.contextmanager
    def parked(self) -> Iterator[None]:
        self.parked_now += 1
        try:
            yield
        finally:
            self.parked_now -= 1


@pytest.fixture
def ctx(tmp_path):
    root = str(tmp_path / "store")
    store_cfg = small_config(storePathRootDir=root)
    store = MessageStore(root, store_cfg, store_host=("127.0.0.1", 10911))
    registered = []
    c = BrokerContext.create(BrokerConfig(storePathRootDir=root), store_cfg, store,
                             register_soon=lambda: registered.append(1))
    c.registered = registered  # type: ignore[attr-defined]
    yield c
    c.executor.shutdown(wait=True)
    store.close()


def _send_cmd(topic: str, body: bytes, queue_id: int = 0):
    hdr = H.SendMessageRequestHeader(
        "PG", topic, "TBW102", 4, queue_id, 0, 1_700_000_000_000, 0,
        encode_properties({"TAGS": "TagA", "UNIQ_KEY": "U1"}).decode(), 0, False, False)
    return request(RequestCode.SEND_MESSAGE_V2, hdr.to_ext_v2(), body)


def _pull_cmd(topic: str, offset: int, queue_id: int = 0):
    return request(RequestCode.PULL_MESSAGE, H.PullMessageRequestHeader(
        "CG", topic, queue_id, offset, 32, PullSysFlag.SUBSCRIPTION, 0, 0, 0, "TagA"))


def test_send_then_pull_through_the_handlers(ctx):
    async def go():
        conn = FakeConn()
        r = await send.handle_send(ctx, conn, _send_cmd("HandlerTopic", b"hello"))
        assert r.code == ResponseCode.SUCCESS, r.remark
        sh = H.SendMessageResponseHeader.from_ext(r.ext_fields)
        assert (sh.queue_id, sh.queue_offset) == (0, 0) and sh.msg_id
        assert ctx.topics.get("HandlerTopic") is not None and ctx.registered  # auto-created
        p = await pull.handle_pull(ctx, conn, _pull_cmd("HandlerTopic", 0))
        assert p.code == ResponseCode.SUCCESS, p.remark
        ph = H.PullMessageResponseHeader.from_ext(p.ext_fields)
        assert ph.next_begin_offset == 1 and ph.max_offset == 1
        (msg,) = decode_records(p.body)
        assert msg.body == b"hello" and msg.topic == "HandlerTopic"
        assert ctx.stats.put_count == 1 and ctx.stats.get_count == 1
        m = await consumer.max_offset(ctx, conn, request(
            RequestCode.GET_MAX_OFFSET, H.GetMaxOffsetRequestHeader("HandlerTopic", 0)))
        assert H.OffsetResponseHeader.from_ext(m.ext_fields).offset == 1
    asyncio.run(go())


def test_a_held_pull_is_parked_and_a_full_hold_answers_at_once(ctx):
    """A pull that waits for a message parks its request on the connection (it does not count
    against the connection's requests in flight); when the broker holds ``max_held`` pulls
    already, the next one is answered PULL_NOT_FOUND at once instead of held."""
    async def go():
        conn = FakeConn()
        assert (await send.handle_send(ctx, conn, _send_cmd("HoldTopic", b"m0"))).code == 0
        held = asyncio.ensure_future(pull.handle_pull(ctx, conn, _suspended("HoldTopic", 1)))
        await asyncio.sleep(0.05)
        assert not held.done() and conn.parked_now == 1 and len(ctx.holds) == 1
        ctx.holds.max_held = 1
        other = FakeConn(id=2)
        r = await asyncio.wait_for(pull.handle_pull(ctx, other, _suspended("HoldTopic", 1)), 2)
        assert r.code == ResponseCode.PULL_NOT_FOUND and other.parked_now == 0
        assert (await send.handle_send(ctx, conn, _send_cmd("HoldTopic", b"m1"))).code == 0
        r = await asyncio.wait_for(held, 2)
        assert r.code == ResponseCode.SUCCESS and conn.parked_now == 0 and len(ctx.holds) == 0
    asyncio.run(go())


def _suspended(topic: str, offset: int):
    return request(RequestCode.PULL_MESSAGE, H.PullMessageRequestHeader(
        "CG", topic, 0, offset, 32, PullSysFlag.SUBSCRIPTION | PullSysFlag.SUSPEND, 0, 20000,
        0, "TagA"))


def test_pull_of_an_unknown_topic_and_a_bad_header(ctx):
    async def go():
        r = await pull.handle_pull(ctx, FakeConn(), _pull_cmd("Nope", 0))
        assert r.code == ResponseCode.TOPIC_NOT_EXIST
        from pyrmq.protocol.errors import RemoteProtocolError
        with pytest.raises(RemoteProtocolError, match="queueOffset"):
            await pull.handle_pull(ctx, FakeConn(), request(RequestCode.PULL_MESSAGE, {
                "consumerGroup": "CG", "topic": "T", "queueId": 0}))
    asyncio.run(go())


@pytest.mark.parametrize("nums", [2147483647, 1025, -1])
def test_update_topic_refuses_queue_counts_out_of_range(ctx, nums):
    """2**31-1 queues used to be accepted and then hang the broker sizing its tables."""
    from pyrmq.broker import admin
    from pyrmq.protocol.errors import RemoteProtocolError

    cmd = request(RequestCode.UPDATE_AND_CREATE_TOPIC, H.CreateTopicRequestHeader(
        "HugeTopic", "TBW102", nums, 8, 6, "SINGLE_TAG"))
    with pytest.raises(RemoteProtocolError, match="QueueNums .* out of range"):
        asyncio.run(admin.update_topic(ctx, FakeConn(), cmd))
    assert ctx.topics.get("HugeTopic") is None
    ok = request(RequestCode.UPDATE_AND_CREATE_TOPIC, H.CreateTopicRequestHeader(
        "HugeTopic", "TBW102", 1024, 8, 6, "SINGLE_TAG"))
    assert asyncio.run(admin.update_topic(ctx, FakeConn(), ok)).code == ResponseCode.SUCCESS


@pytest.mark.parametrize("field,value", [("retryQueueNums", None), ("retryQueueNums", {}),
                                         ("retryQueueNums", 2147483647),
                                         ("retryMaxTimes", "../x"),
                                         ("consumeEnable", 1)])
def test_update_group_refuses_bad_fields_and_send_back_keeps_working(ctx, field, value):
    """A group config with a null/dict/huge field used to be stored, then fail every
    CONSUMER_SEND_MSG_BACK of that group with a TypeError."""
    from pyrmq.broker import admin
    from pyrmq.protocol import jsonx

    cmd = request(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
                  body=jsonx.dumps({"groupName": "GoodGroup", field: value}))
    r = asyncio.run(admin.update_group(ctx, FakeConn(), cmd))
    assert r.code == ResponseCode.SYSTEM_ERROR and field in r.remark
    assert "GoodGroup" not in ctx.groups.table
    ok = request(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
                 body=jsonx.dumps({"groupName": "GoodGroup", "retryQueueNums": 2}))
    assert asyncio.run(admin.update_group(ctx, FakeConn(), ok)).code == ResponseCode.SUCCESS
    assert ctx.groups.table["GoodGroup"]["retryQueueNums"] == 2


def test_unlock_of_a_queue_nobody_holds_is_a_no_op():
    from pyrmq.broker.clients import LockManager

    locks = LockManager()
    locks.unlock("G", "", [("T", "b", 1), ("T", "b", 1)])  # used to raise KeyError
    assert locks.lock("G", "c1", [("T", "b", 1)]) == [("T", "b", 1)]
    locks.unlock("G", "c2", [("T", "b", 1)])
    assert locks.locks and locks.lock("G", "c2", [("T", "b", 1)]) == []
