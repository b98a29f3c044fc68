"""Broker handlers driven without sockets or a Broker: a BrokerContext over a real store and
fresh managers, a fake connection, typed headers in and out."""

from __future__ import annotations

import asyncio
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


def test_pull_of_an_unknown_topic_and_a_bad_header(ctx):
    async def go():
        r = await pull.handle_pull(ctx, FakeConn(), _pull_cmd("Nope", 0))
        assert r.code == ResponseCode.TOPIC_NOT_EXIST
        from pyrmq.protocol.errors import RemoteProtocolError
        with pytest.raises(RemoteProtocolError, match="queueOffset"):
            await pull.handle_pull(ctx, FakeConn(), request(RequestCode.PULL_MESSAGE, {
                "consumerGroup": "CG", "topic": "T", "queueId": 0}))
    asyncio.run(go())
